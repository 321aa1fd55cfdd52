//! `jwe-mint open`: act as a resource server and open one access token read on stdin.

use std::path::PathBuf;

use serde_json::Value;

use jwe_mint::error::TokenRejection;
use jwe_mint::jwe::{DecryptPolicy, DEFAULT_MAX_TOKEN_SIZE};
use jwe_mint::resource_server::{ResourceServer, Validation};
use jwe_mint::{Error, LimitExceeded};

use crate::common::{parse_max_token_size, pretty, read_key_file, read_stdin_token, write_line, CliError};

/// Options of `open`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// This resource server's identifier; the token's `aud` must name it
    #[arg(long, value_name = "URL")]
    resource: String,
    /// This resource server's private decryption key(s): JWK or JWK Set (old keys during rotation)
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// The trusted authorization server; the token's `iss` must equal it
    #[arg(long, value_name = "URL")]
    issuer: String,
    /// The authorization server's public signing key(s): JWK Set or single JWK
    #[arg(long, value_name = "FILE")]
    issuer_jwks: PathBuf,
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
pub fn run(args: Args) -> Result<(), CliError> {
    let keys = read_key_file(&args.key, "--key")?;
    let issuer_keys = read_key_file(&args.issuer_jwks, "--issuer-jwks")?;
    // The library checks these too; checked here first so the message names the file.
    let file_error = |flag: &str, path: &std::path::Path, msg: &str| {
        CliError::Failed(format!("{flag} {}: {msg}", path.display()))
    };
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
    if issuer_keys.keys().is_empty() {
        return Err(file_error("--issuer-jwks", &args.issuer_jwks, "holds no key"));
    }
    if issuer_keys.keys().iter().any(|k| k.is_private()) {
        return Err(file_error(
            "--issuer-jwks",
            &args.issuer_jwks,
            "holds a private key; give the authorization server's public keys (jwe-mint public --jwks)",
        ));
    }
    let mut rs = ResourceServer::new(&args.resource, keys, &args.issuer, issuer_keys)?;
    if args.accept_multi_audience {
        rs = rs.with_validation(Validation::default().dangerous_accept_multi_audience());
    }
    let max_token_size = args.max_token_size.unwrap_or(DEFAULT_MAX_TOKEN_SIZE);
    if args.max_token_size.is_some() {
        rs = rs.with_decrypt_policy(DecryptPolicy::default().with_max_token_size(max_token_size));
    }
    let token = read_stdin_token(max_token_size)?;
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
    write_line(&pretty(&Value::Object(at.raw_claims().clone()))?)
}
