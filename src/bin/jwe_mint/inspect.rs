//! `jwe-mint inspect`: show a token's headers without any key.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Map, Value};

use jwe_mint::jwe::{self, DecryptPolicy, Serialization};
use jwe_mint::Error;

use crate::common::{pretty, read_stdin_token, write_line, CliError};

/// Options of `inspect` (none: the token is read on stdin).
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `inspect`: prints the headers of a JWE (compact or JSON) or of a compact JWS as JSON.
/// Nothing is decrypted or verified.
pub fn run(_args: Args) -> Result<(), CliError> {
    let token = read_stdin_token(jwe_mint::jws::MAX_JWS_SIZE)?;
    let value = if !token.starts_with('{') && token.matches('.').count() == 2 {
        inspect_jws(&token)?
    } else {
        let policy = DecryptPolicy::default();
        let inspected = jwe::inspect(&token, &policy)?;
        let serialization = match inspected.serialization {
            Serialization::Compact => "compact",
            Serialization::Flattened => "flattened",
            Serialization::General => "general",
            _ => "unknown",
        };
        json!({
            "serialization": serialization,
            "protected": inspected.protected,
            "unprotected": inspected.unprotected,
            "recipients": inspected.recipients,
        })
    };
    write_line(&pretty(&value)?)
}

/// The protected header of a compact JWS (nothing verified).
fn inspect_jws(token: &str) -> Result<Value, CliError> {
    if token.len() > jwe_mint::jws::MAX_JWS_SIZE {
        return Err(
            Error::Limit(jwe_mint::LimitExceeded::JwsTooLarge { max: jwe_mint::jws::MAX_JWS_SIZE }).into()
        );
    }
    let header_b64 = token.split('.').next().unwrap_or_default();
    let raw = URL_SAFE_NO_PAD
        .decode(header_b64)
        .map_err(|_| Error::Malformed("JWS header is not base64url".into()))?;
    let header: Map<String, Value> = serde_json::from_slice(&raw)
        .map_err(|_| Error::Malformed("JWS header is not a JSON object".into()))?;
    Ok(json!({ "serialization": "jws-compact", "protected": header }))
}
