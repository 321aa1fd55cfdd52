//! `jwe-mint fetch URL`: the client side. GETs a protected URL with the token its resource
//! needs: on a 401 it follows the resource server's RFC 9728 metadata to its authorization
//! server (only the one given with `--issuer`), gets a token for that resource with
//! `client_credentials` and retries once, then prints the response body. With `--dpop` the tokens
//! are bound to a DPoP key (RFC 9449) and every request proves it.

use std::path::PathBuf;

use crate::common::{CliError, WireArgs};
#[cfg(feature = "network")]
use {
    crate::common::{file_error, read_file, read_key_file, runtime, write_stdout},
    jwe_mint::dpop::DpopKey,
    jwe_mint::wire::{AuthorizedClient, ClientError, TokenBook},
    zeroize::Zeroizing,
};

/// Largest client secret file.
#[cfg(feature = "network")]
const MAX_SECRET_FILE: u64 = 4096;

/// Options of `fetch`.
#[cfg_attr(not(feature = "network"), allow(dead_code))]
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The protected URL to GET
    #[arg(value_name = "URL")]
    url: String,
    /// The authorization server this client trusts (its issuer identifier; the token endpoint
    /// comes from its RFC 8414 metadata). A resource server naming another AS is refused
    #[arg(long, value_name = "URL")]
    issuer: String,
    /// This client's identifier at the authorization server
    #[arg(long, value_name = "ID")]
    client_id: String,
    /// File holding the client secret (one trailing newline is ignored); secrets are never taken
    /// on the command line
    #[arg(long, value_name = "FILE")]
    client_secret_file: PathBuf,
    /// The scope to ask for (default: the authorization server's)
    #[arg(long, value_name = "S")]
    scope: Option<String>,
    /// Ask for DPoP-bound tokens (RFC 9449): every token request and every request with a DPoP
    /// token carries a proof of the DPoP key. A server's nonce is followed once
    #[arg(long)]
    dpop: bool,
    /// The DPoP key: a private JWK file (or a `pkcs11:` URI); default: a fresh P-256 key for
    /// this run. The key is never printed
    #[arg(long, value_name = "FILE", requires = "dpop")]
    dpop_key: Option<PathBuf>,
    #[command(flatten)]
    wire: WireArgs,
}

/// Without the network feature the command says how to get it.
#[cfg(not(feature = "network"))]
pub(crate) fn run(_args: Args) -> Result<(), CliError> {
    Err(crate::common::needs_network("fetch"))
}

/// Runs `fetch`: prints the body of a 2xx response; anything else (a refusal on the way, an
/// error status) is exit 1 with one stderr line.
#[cfg(feature = "network")]
pub(crate) fn run(args: Args) -> Result<(), CliError> {
    let secret = read_secret(&args.client_secret_file)?;
    let mut builder = TokenBook::builder(&args.issuer, &args.client_id, secret).fetcher(args.wire.fetcher()?);
    if let Some(scope) = &args.scope {
        builder = builder.scope(scope);
    }
    if args.dpop {
        builder = builder.dpop_key(dpop_key(args.dpop_key.as_deref())?);
    }
    let book = builder.build().map_err(|e| CliError::Failed(e.to_string()))?;
    let client = AuthorizedClient::new(book);
    runtime()?.block_on(async {
        let response = client.get(&args.url).await.map_err(refused)?;
        if !response.status().is_success() {
            return Err(CliError::Failed(format!(
                "{}: HTTP status {}",
                args.url,
                response.status().as_u16()
            )));
        }
        write_stdout(response.body())
    })
}

/// A token endpoint refusal starts with its OAuth error code, as `mint`'s refusals do.
#[cfg(feature = "network")]
fn refused(e: ClientError) -> CliError {
    match e.oauth_code() {
        Some(code) => CliError::Refused(format!("{code}: {e}")),
        None => CliError::Failed(e.to_string()),
    }
}

/// The DPoP key of `--dpop-key` (one private asymmetric signing key), or a fresh P-256 one.
/// Errors name the flag and the file, never the key.
#[cfg(feature = "network")]
fn dpop_key(path: Option<&std::path::Path>) -> Result<DpopKey, CliError> {
    let flag = "--dpop-key";
    let Some(path) = path else {
        return DpopKey::generate().map_err(|e| CliError::Failed(format!("cannot make a DPoP key: {e}")));
    };
    let set = read_key_file(path, flag)?;
    let [key] = set.keys() else {
        return Err(file_error(flag, path, "expected exactly one key"));
    };
    DpopKey::from_jwk(key).map_err(|e| file_error(flag, path, &e.to_string()))
}

#[cfg(feature = "network")]
fn read_secret(path: &std::path::Path) -> Result<Zeroizing<String>, CliError> {
    let flag = "--client-secret-file";
    let bytes = Zeroizing::new(read_file(path, MAX_SECRET_FILE, flag)?);
    if bytes.len() as u64 > MAX_SECRET_FILE {
        return Err(file_error(flag, path, &format!("larger than {MAX_SECRET_FILE} bytes")));
    }
    let text = std::str::from_utf8(&bytes).map_err(|_| file_error(flag, path, "not UTF-8 text"))?;
    let text = text.strip_suffix('\n').map(|t| t.strip_suffix('\r').unwrap_or(t)).unwrap_or(text);
    if text.is_empty() {
        return Err(file_error(flag, path, "empty"));
    }
    Ok(Zeroizing::new(text.to_owned()))
}
