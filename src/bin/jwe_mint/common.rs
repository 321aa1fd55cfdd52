//! Shared pieces of the subcommands: the error type, stdin/stdout/file helpers, key loading and
//! clap value parsers.

use std::io::{Read, Write};
use std::path::Path;

use jwe_mint::jwa::{ContentEncryptionAlg, KeyManagementAlg};
use jwe_mint::jwk::JwkSet;
use jwe_mint::Error;

/// Largest key file or JWK read from stdin.
const MAX_KEY_FILE: u64 = 1024 * 1024;

/// Why a subcommand stopped.
#[derive(Debug)]
pub enum CliError {
    /// Inconsistent or invalid options: exit 2 with a usage message.
    Usage(String),
    /// Rejected input or failed crypto: exit 1 with one line `jwe-mint: …` on stderr.
    Failed(String),
    /// A token request the AS refuses: exit 1 with one stderr line that starts with the OAuth
    /// error code (`invalid_target: …`, no `jwe-mint:` prefix) so scripts can map it.
    Refused(String),
}

impl From<Error> for CliError {
    fn from(e: Error) -> Self {
        CliError::Failed(e.to_string())
    }
}

/// Shorthand for a usage error.
pub fn usage(msg: impl Into<String>) -> CliError {
    CliError::Usage(msg.into())
}

/// Reads at most `limit` bytes of stdin (more is cut off; callers' size checks then refuse it).
pub fn read_stdin(limit: Option<u64>) -> Result<Vec<u8>, CliError> {
    let mut buf = Vec::new();
    std::io::stdin()
        .lock()
        .take(limit.unwrap_or(u64::MAX))
        .read_to_end(&mut buf)
        .map_err(|e| CliError::Failed(format!("cannot read stdin: {e}")))?;
    Ok(buf)
}

/// Reads a token (JWE or JWS) from stdin: UTF-8, with exactly one trailing `\n` or `\r\n` removed.
/// Reads at most `max_len + 3` bytes, so oversized input still fails the library's size check.
pub fn read_stdin_token(max_len: usize) -> Result<String, CliError> {
    let limit = u64::try_from(max_len).unwrap_or(u64::MAX).saturating_add(3);
    let bytes = read_stdin(Some(limit))?;
    let mut text =
        String::from_utf8(bytes).map_err(|_| Error::Malformed("token is not UTF-8 text".into()))?;
    if text.ends_with("\r\n") {
        text.truncate(text.len() - 2);
    } else if text.ends_with('\n') {
        text.truncate(text.len() - 1);
    }
    Ok(text)
}

/// Reads a JWK or JWK Set from stdin.
pub fn read_stdin_keys() -> Result<(JwkSet, bool), CliError> {
    let bytes = read_stdin(Some(MAX_KEY_FILE + 1))?;
    parse_keys(&bytes, "stdin")
}

/// Reads a JWK or JWK Set file.
pub fn read_key_file(path: &Path) -> Result<JwkSet, CliError> {
    let bytes = read_file(path, MAX_KEY_FILE, "key file")?;
    Ok(parse_keys(&bytes, &path.display().to_string())?.0)
}

/// Reads at most `limit + 1` bytes of a file (`what` names it in errors); callers refuse more
/// than `limit`.
pub fn read_file(path: &Path, limit: u64, what: &str) -> Result<Vec<u8>, CliError> {
    let shown = path.display();
    let fail = |e: std::io::Error| CliError::Failed(format!("cannot read {what} {shown}: {e}"));
    let file = std::fs::File::open(path).map_err(fail)?;
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes).map_err(fail)?;
    Ok(bytes)
}

/// Parses a JWK or JWK Set; the flag says whether the input was a set.
fn parse_keys(bytes: &[u8], source: &str) -> Result<(JwkSet, bool), CliError> {
    if bytes.len() as u64 > MAX_KEY_FILE {
        return Err(CliError::Failed(format!("key input {source} is larger than {MAX_KEY_FILE} bytes")));
    }
    let text = std::str::from_utf8(bytes)
        .map_err(|_| Error::InvalidKey(format!("key input {source} is not UTF-8 text")))?;
    let set = JwkSet::from_json_key_or_set(text)?;
    // `from_json_key_or_set` accepted it, so it is a JSON object; a set is one with `keys`.
    let is_set = serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(text)
        .map(|o| o.contains_key("keys"))
        .unwrap_or(false);
    Ok((set, is_set))
}

/// Writes `bytes` to stdout (errors such as a closed pipe become exit 1, never a panic).
pub fn write_stdout(bytes: &[u8]) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)
        .and_then(|()| out.flush())
        .map_err(|e| CliError::Failed(format!("cannot write stdout: {e}")))
}

/// Writes a line of text (a trailing newline is added) to stdout.
pub fn write_line(text: &str) -> Result<(), CliError> {
    let mut buf = Vec::with_capacity(text.len() + 1);
    buf.extend_from_slice(text.as_bytes());
    buf.push(b'\n');
    write_stdout(&buf)
}

/// Pretty-printed JSON with a trailing newline.
pub fn pretty(value: &serde_json::Value) -> Result<String, CliError> {
    serde_json::to_string_pretty(value).map_err(|e| CliError::Failed(format!("cannot serialize JSON: {e}")))
}

/// Clap value parser for key management algorithm names.
pub fn parse_km_alg(s: &str) -> Result<KeyManagementAlg, String> {
    s.parse().map_err(|_| {
        let names: Vec<&str> = KeyManagementAlg::ALL.iter().map(|a| a.name()).collect();
        format!("expected one of {}", names.join(", "))
    })
}

/// Clap value parser for content encryption algorithm names.
pub fn parse_enc(s: &str) -> Result<ContentEncryptionAlg, String> {
    s.parse().map_err(|_| {
        let names: Vec<&str> = ContentEncryptionAlg::ALL.iter().map(|a| a.name()).collect();
        format!("expected one of {}", names.join(", "))
    })
}
