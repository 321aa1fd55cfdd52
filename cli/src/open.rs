//! `jwe-mint open`: act as a resource server and open one access token read on stdin.

use std::path::{Path, PathBuf};

use serde_json::Value;

use jwe_mint::error::TokenRejection;
use jwe_mint::jwe::{DecryptPolicy, DEFAULT_MAX_TOKEN_SIZE};
use jwe_mint::resource_server::{ResourceServer, ResourceServerBuilder, Validation};
use jwe_mint::{Error, LimitExceeded};

use crate::common::{
    file_error, is_url, issuer_key_file, parse_max_token_size, pretty, read_key_file, read_stdin_token,
    write_line, CliError, WireArgs,
};

/// Options of `open`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// This resource server's identifier; the token's `aud` must name it
    #[arg(long, value_name = "URL")]
    resource: String,
    /// This resource server's private decryption key(s): JWK or JWK Set (old keys during rotation)
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// The trusted authorization server; the token's `iss` must equal it
    #[arg(long, value_name = "URL")]
    issuer: String,
    /// The authorization server's public signing key(s): a JWK Set or JWK file, or the https URL
    /// of its JWK Set. Without it the keys are discovered from --issuer (RFC 8414 metadata, then
    /// OpenID Connect discovery)
    #[arg(long, value_name = "FILE|URL")]
    issuer_jwks: Option<String>,
    #[command(flatten)]
    #[cfg_attr(not(feature = "network"), allow(dead_code))]
    wire: WireArgs,
    /// Also accept tokens whose `aud` names several resource servers (`mint --multi-recipient`).
    /// Dangerous: every other audience can read such a token and replay it here
    #[arg(long)]
    accept_multi_audience: bool,
    /// Refuse tokens longer than N bytes [default: 65536]
    #[arg(long, value_name = "N", value_parser = parse_max_token_size)]
    max_token_size: Option<usize>,
}

/// Runs `open`: decrypts, verifies the AS signature, validates the claims (RFC 9068 §4) and
/// prints them as JSON. A rejected token exits 1 with one stderr line.
pub(crate) fn run(args: Args) -> Result<(), CliError> {
    let keys = read_key_file(&args.key, "--key")?;
    if keys.keys().is_empty() {
        return Err(file_error("--key", &args.key, "holds no key"));
    }
    if keys.keys().iter().any(|k| !k.is_private() || k.is_symmetric()) {
        return Err(file_error(
            "--key",
            &args.key,
            "holds a public or symmetric key; a resource server decrypts with its private keys",
        ));
    }
    let builder =
        with_options(ResourceServer::builder(&args.resource, &args.issuer).decryption_keys(keys), &args);
    match args.issuer_jwks.as_deref() {
        Some(location) if !is_url(location) => {
            let issuer_keys = issuer_key_file(Path::new(location))?;
            open_with(builder.issuer_keys(issuer_keys).build()?, &args)
        }
        // Keys over the wire: fetched once for this token; a token whose kid the fetched set
        // lacks is an error like any other (the set was fetched just now).
        remote => open_remote(remote, builder, &args),
    }
}

/// The options of `open` on the resource server's builder.
fn with_options(mut builder: ResourceServerBuilder, args: &Args) -> ResourceServerBuilder {
    if args.accept_multi_audience {
        builder = builder.validation(Validation::default().dangerous_accept_multi_audience());
    }
    if let Some(max_token_size) = args.max_token_size {
        builder = builder.decrypt_policy(DecryptPolicy::default().with_max_token_size(max_token_size));
    }
    builder
}

/// Opens with the AS keys fetched from `location` or discovered from `--issuer`.
#[cfg(feature = "network")]
fn open_remote(location: Option<&str>, builder: ResourceServerBuilder, args: &Args) -> Result<(), CliError> {
    crate::common::runtime()?.block_on(async {
        let source = crate::common::remote_issuer_keys(location, &args.issuer, &args.wire).await?;
        open_with(builder.issuer_key_source(source).build()?, args)
    })
}

/// Without the network feature the AS keys come from a file only.
#[cfg(not(feature = "network"))]
fn open_remote(
    location: Option<&str>,
    _builder: ResourceServerBuilder,
    _args: &Args,
) -> Result<(), CliError> {
    Err(crate::common::needs_network(match location {
        Some(_) => "--issuer-jwks URL",
        None => "open without --issuer-jwks (the AS keys discovered from --issuer)",
    }))
}

/// Reads the token and prints its claims.
fn open_with(rs: ResourceServer, args: &Args) -> Result<(), CliError> {
    let token = read_stdin_token(args.max_token_size.unwrap_or(DEFAULT_MAX_TOKEN_SIZE))?;
    let at = rs.open(&token).map_err(|e| {
        if args.accept_multi_audience {
            return e.into();
        }
        // Name the option that accepts such tokens (the library cannot know the CLI's flags).
        match e {
            Error::Limit(LimitExceeded::TooManyRecipients { found, max }) => CliError::Failed(format!(
                "limit exceeded: {found} recipients, at most {max} allowed (a multi-audience token: \
                 --accept-multi-audience accepts it)"
            )),
            Error::InvalidToken(TokenRejection::NotCompact) => CliError::Failed(
                "invalid token: not in the compact serialization (a multi-audience token: \
                 --accept-multi-audience accepts it)"
                    .into(),
            ),
            Error::InvalidToken(TokenRejection::MultipleAudiences) => {
                CliError::Failed(format!("{e} (--accept-multi-audience accepts it)"))
            }
            other => other.into(),
        }
    })?;
    write_line(&pretty(&Value::Object(at.raw_claims().clone()))?)?;
    if at.is_sender_constrained() {
        // RFC 9449 §7: such a token is good only with a proof of its key, which `open` never sees.
        eprintln!(
            "jwe-mint open: note: this token is bound to a key (cnf{}); a resource server must also \
             check the request's proof of that key (DPoP, RFC 9449 §7)",
            at.dpop_jkt().map(|jkt| format!(".jkt {jkt}")).unwrap_or_default()
        );
    }
    Ok(())
}
