//! `jwe-mint inspect`: show a token's headers without any key.

use serde_json::{json, Value};

use jwe_mint::jwe::{self, DecryptPolicy, Serialization};

use crate::common::{pretty, read_stdin_token, write_line, CliError};

/// Options of `inspect` (none: the token is read on stdin).
#[derive(Debug, clap::Args)]
pub(crate) struct Args {}

/// Runs `inspect`: prints the headers of a JWE (compact or JSON) or of a compact JWS as JSON.
/// Nothing is decrypted or verified.
pub(crate) fn run(_args: Args) -> Result<(), CliError> {
    let token = read_stdin_token(jwe_mint::jws::MAX_JWS_SIZE)?;
    // The JOSE layer's own rule tells JSON from compact, so `inspect` and `decrypt` agree.
    let value = if !jwe::is_json_serialization(&token) && token.matches('.').count() == 2 {
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

/// The protected header of a compact JWS (nothing verified), parsed by the library's strict
/// parser, the one verification uses: duplicate members are an error (RFC 7515 §5.2).
fn inspect_jws(token: &str) -> Result<Value, CliError> {
    let header = jwe_mint::jws::inspect(token)?;
    Ok(json!({ "serialization": "jws-compact", "protected": header }))
}
