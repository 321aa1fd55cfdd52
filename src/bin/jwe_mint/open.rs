//! `jwe-mint open`: act as a resource server and open one access token read on stdin.

use std::path::PathBuf;

use serde_json::Value;

use jwe_mint::jwe::DEFAULT_MAX_TOKEN_SIZE;
use jwe_mint::resource_server::ResourceServer;

use crate::common::{pretty, read_key_file, read_stdin_token, write_line, CliError};

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
}

/// Runs `open`: decrypts, verifies the AS signature, validates the claims (DESIGN.md §4) and
/// prints them as JSON. A rejected token exits 1 with one stderr line.
pub fn run(args: Args) -> Result<(), CliError> {
    let keys = read_key_file(&args.key)?;
    let issuer_keys = read_key_file(&args.issuer_jwks)?;
    let rs = ResourceServer::new(&args.resource, keys, &args.issuer, issuer_keys)?;
    let token = read_stdin_token(DEFAULT_MAX_TOKEN_SIZE)?;
    let at = rs.open(&token)?;
    write_line(&pretty(&Value::Object(at.raw_claims().clone()))?)
}
