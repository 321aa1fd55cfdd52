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
pub(crate) enum CliError {
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
pub(crate) fn usage(msg: impl Into<String>) -> CliError {
    CliError::Usage(msg.into())
}

/// Reads at most `limit` bytes of stdin (more is cut off; callers' size checks then refuse it).
pub(crate) fn read_stdin(limit: Option<u64>) -> Result<Vec<u8>, CliError> {
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
pub(crate) fn read_stdin_token(max_len: usize) -> Result<String, CliError> {
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
pub(crate) fn read_stdin_keys() -> Result<(JwkSet, bool), CliError> {
    let bytes = read_stdin(Some(MAX_KEY_FILE + 1))?;
    parse_keys(&bytes, "stdin")
}

/// Reads a JWK or JWK Set file given with `flag` (e.g. `--key`); every error names the flag and
/// the file.
///
/// A `pkcs11:` URI (RFC 7512) instead of a file names a private key inside a PKCS#11 token
/// (feature `pkcs11`); the PIN comes from the URI's `pin-source`, never from the command line.
pub(crate) fn read_key_file(path: &Path, flag: &str) -> Result<JwkSet, CliError> {
    Ok(read_keys(path, flag)?.0)
}

/// [`read_key_file`], also saying whether the file held a JWK Set (a URI names one key).
pub(crate) fn read_keys(path: &Path, flag: &str) -> Result<(JwkSet, bool), CliError> {
    if let Some(uri) = pkcs11_uri(path) {
        return read_token_key(uri, flag).map(|k| (JwkSet::new(vec![k]), false));
    }
    let bytes = read_file(path, MAX_KEY_FILE, flag)?;
    parse_keys(&bytes, &format!("{flag} {}", path.display()))
}

/// The text of `path` when it is a `pkcs11:` URI rather than a file name.
pub(crate) fn pkcs11_uri(path: &Path) -> Option<&str> {
    path.to_str().filter(|s| s.get(..7).is_some_and(|p| p.eq_ignore_ascii_case("pkcs11:")))
}

/// Opens the key a `pkcs11:` URI names; errors start with the flag (and name the URI, never the
/// PIN).
#[cfg(feature = "pkcs11")]
pub(crate) fn read_token_key(uri: &str, flag: &str) -> Result<jwe_mint::jwk::Jwk, CliError> {
    jwe_mint::jwk::Jwk::from_pkcs11_uri(uri).map_err(|e| CliError::Failed(format!("{flag}: {e}")))
}

/// Without the `pkcs11` feature a URI is a usage error that says how to get it.
#[cfg(not(feature = "pkcs11"))]
pub(crate) fn read_token_key(_uri: &str, flag: &str) -> Result<jwe_mint::jwk::Jwk, CliError> {
    Err(usage(format!("{flag}: a pkcs11: URI needs jwe-mint built with `--features pkcs11`")))
}

/// Reads at most `limit + 1` bytes of a file (`what` names it in errors); callers refuse more
/// than `limit`.
pub(crate) fn read_file(path: &Path, limit: u64, what: &str) -> Result<Vec<u8>, CliError> {
    let shown = path.display();
    let fail = |e: std::io::Error| CliError::Failed(format!("cannot read {what} {shown}: {e}"));
    let file = std::fs::File::open(path).map_err(fail)?;
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes).map_err(fail)?;
    Ok(bytes)
}

/// Parses a JWK or JWK Set; the flag says whether the input was a set. `source` (`stdin`,
/// `--key FILE`, …) starts every error message.
fn parse_keys(bytes: &[u8], source: &str) -> Result<(JwkSet, bool), CliError> {
    let fail = |msg: String| CliError::Failed(format!("{source}: {msg}"));
    if bytes.len() as u64 > MAX_KEY_FILE {
        return Err(fail(format!("larger than {MAX_KEY_FILE} bytes")));
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(fail("empty; expected a JWK or JWK Set (JSON)".into()));
    }
    let text = std::str::from_utf8(bytes).map_err(|_| fail("not UTF-8 text".into()))?;
    let set = JwkSet::from_json_key_or_set(text).map_err(|e| fail(e.to_string()))?;
    // Keys jwe-mint cannot use (RFC 7517 §5: ignore them) are left out of the set; say which,
    // one line each, and go on with the rest, unless nothing is left.
    for skipped in set.skipped() {
        warn(&format!("{source}: {skipped}"));
    }
    if set.keys().is_empty() && !set.skipped().is_empty() {
        return Err(fail("every key was skipped; none is usable".into()));
    }
    // `from_json_key_or_set` accepted it, so it is a JSON object; a set is one with `keys`.
    let is_set = serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(text)
        .map(|o| o.contains_key("keys"))
        .unwrap_or(false);
    Ok((set, is_set))
}

/// Prefixes an error about the contents of a file with the flag and file it came from.
pub(crate) fn about_file<'a>(flag: &'a str, path: &'a Path) -> impl Fn(Error) -> CliError + 'a {
    move |e| CliError::Failed(format!("{flag} {}: {e}", path.display()))
}

/// Writes `bytes` to stdout (errors such as a closed pipe, a full disk or a closed stdout become
/// exit 1, never a panic: a key or token that was not written is lost).
pub(crate) fn write_stdout(bytes: &[u8]) -> Result<(), CliError> {
    if stdout_was_closed() {
        return Err(CliError::Failed("cannot write stdout: it is closed".into()));
    }
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)
        .and_then(|()| out.flush())
        .map_err(|e| CliError::Failed(format!("cannot write stdout: {e}")))
}

/// Whether the process started with stdout closed (`>&-`).
///
/// The Rust runtime reopens a closed standard descriptor on `/dev/null`, read-write, before
/// `main`, so every write would "succeed". A shell's `>/dev/null` opens it write-only, so stdout
/// being `/dev/null` and readable tells the two apart (only an explicit `1<>/dev/null` looks the
/// same; its output would be discarded anyway).
#[cfg(unix)]
fn stdout_was_closed() -> bool {
    use std::os::fd::AsFd;
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let Ok(fd) = std::io::stdout().as_fd().try_clone_to_owned() else {
        return false;
    };
    let mut file = std::fs::File::from(fd);
    let is_null = match (file.metadata(), std::fs::metadata("/dev/null")) {
        (Ok(out), Ok(null)) => out.file_type().is_char_device() && out.rdev() == null.rdev(),
        _ => false,
    };
    // Reading /dev/null returns end of file at once; a write-only descriptor refuses (EBADF).
    is_null && file.read(&mut [0u8; 1]).is_ok()
}

#[cfg(not(unix))]
fn stdout_was_closed() -> bool {
    false
}

/// Writes what is for a person or a log, not a result (a server's banner, the demo's story):
/// written when stdout takes it, never an error. A server must keep running with its stdout
/// discarded, however `/dev/null` was opened (a supervisor's read-write `/dev/null` looks like a
/// closed stdout), and only a command whose result goes to stdout (a key, a token, a plaintext)
/// fails when it cannot be delivered.
pub(crate) fn write_report(bytes: &[u8]) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(bytes).and_then(|()| out.flush());
}

/// Writes a line of text (a trailing newline is added) to stdout.
pub(crate) fn write_line(text: &str) -> Result<(), CliError> {
    let mut buf = Vec::with_capacity(text.len() + 1);
    buf.extend_from_slice(text.as_bytes());
    buf.push(b'\n');
    write_stdout(&buf)
}

/// Pretty-printed JSON with a trailing newline.
pub(crate) fn pretty(value: &serde_json::Value) -> Result<String, CliError> {
    serde_json::to_string_pretty(value).map_err(|e| CliError::Failed(format!("cannot serialize JSON: {e}")))
}

/// Clap value parser for `--max-token-size` (bytes, at least 1).
pub(crate) fn parse_max_token_size(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err("expected a number of bytes, at least 1".into()),
    }
}

/// Prints one warning line on stderr (`jwe-mint: warning: …`); the exit code is unaffected.
pub(crate) fn warn(msg: &str) {
    let line = msg.replace(['\n', '\r'], " ");
    let _ = writeln!(std::io::stderr().lock(), "jwe-mint: warning: {line}");
}

/// Clap value parser for key management algorithm names.
pub(crate) fn parse_km_alg(s: &str) -> Result<KeyManagementAlg, String> {
    s.parse().map_err(|_| {
        let names: Vec<&str> = KeyManagementAlg::ALL.iter().map(|a| a.name()).collect();
        format!("expected one of {}", names.join(", "))
    })
}

/// Clap value parser for content encryption algorithm names.
pub(crate) fn parse_enc(s: &str) -> Result<ContentEncryptionAlg, String> {
    s.parse().map_err(|_| {
        let names: Vec<&str> = ContentEncryptionAlg::ALL.iter().map(|a| a.name()).collect();
        format!("expected one of {}", names.join(", "))
    })
}

/// The options every subcommand that fetches over HTTP shares (`--ca-file`, `--allow-http`).
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct WireArgs {
    /// Extra trust anchors (PEM certificates) for https fetches, added to the platform's roots
    #[arg(long, value_name = "PEM")]
    pub ca_file: Option<std::path::PathBuf>,
    /// Allow plain http URLs, for loopback hosts only (127.0.0.0/8, ::1, localhost)
    #[arg(long)]
    pub allow_http: bool,
}

#[cfg(feature = "network")]
impl WireArgs {
    /// The fetcher these options describe: platform roots plus `--ca-file`, https only unless
    /// `--allow-http` (loopback only), the library's time and size limits.
    pub(crate) fn fetcher(&self) -> Result<std::sync::Arc<jwe_mint::wire::HttpFetcher>, CliError> {
        let mut builder = jwe_mint::wire::HttpFetcher::builder().allow_http_loopback(self.allow_http);
        if let Some(path) = &self.ca_file {
            builder = builder.add_ca_file(path).map_err(|e| CliError::Failed(format!("--ca-file: {e}")))?;
        }
        let fetcher = builder.build().map_err(|e| CliError::Failed(e.to_string()))?;
        Ok(std::sync::Arc::new(fetcher))
    }
}

/// Why a command (or one of its options) is refused in a build without the network: the
/// feature to turn on, as a usage error.
#[cfg(not(feature = "network"))]
pub(crate) fn needs_network(what: &str) -> CliError {
    usage(format!(
        "{what} needs jwe-mint built with the `network` feature (cargo install jwe-mint-cli --features network)"
    ))
}

/// A single-threaded tokio runtime for the subcommands that fetch (the background key refresh
/// runs on it while the command's future is being driven).
#[cfg(feature = "network")]
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Failed(format!("cannot start the async runtime: {e}")))
}

/// `--issuer-jwks` names a URL rather than a file.
pub(crate) fn is_url(location: &str) -> bool {
    ["https://", "http://"].iter().any(|p| location.get(..p.len()).is_some_and(|s| s.eq_ignore_ascii_case(p)))
}

/// A `Failed` error that names the option and its file.
pub(crate) fn file_error(flag: &str, path: &Path, msg: &str) -> CliError {
    CliError::Failed(format!("{flag} {}: {msg}", path.display()))
}

/// The AS public keys from an `--issuer-jwks` file. The library checks these too; checked here
/// first so the message names the file.
pub(crate) fn issuer_key_file(path: &Path) -> Result<JwkSet, CliError> {
    let issuer_keys = read_key_file(path, "--issuer-jwks")?;
    if issuer_keys.keys().is_empty() {
        return Err(file_error("--issuer-jwks", path, "holds no key"));
    }
    if issuer_keys.keys().iter().any(|k| k.is_private()) {
        return Err(file_error(
            "--issuer-jwks",
            path,
            "holds a private key; give the authorization server's public keys (jwe-mint public --jwks)",
        ));
    }
    Ok(issuer_keys)
}

/// The AS keys over the wire, kept fresh while the runtime runs: the JWK Set at the
/// `--issuer-jwks` URL, or, without one, the keys discovered from `issuer` (RFC 8414, then OpenID
/// discovery). Keys marked `use: enc` are skipped.
#[cfg(feature = "network")]
pub(crate) async fn remote_issuer_keys(
    url: Option<&str>,
    issuer: &str,
    wire: &WireArgs,
) -> Result<std::sync::Arc<dyn jwe_mint::jwk::JwkSource>, CliError> {
    let fetcher = wire.fetcher()?;
    let set = match url {
        Some(url) => {
            let mut config = jwe_mint::wire::KeySetConfig::default();
            config.key_use = jwe_mint::wire::KeyUseFilter::Verify;
            jwe_mint::wire::RemoteJwkSet::new(url, fetcher, config)
                .await
                .map_err(|e| CliError::Failed(format!("--issuer-jwks: {e}")))?
        }
        None => jwe_mint::wire::Discovery::new(fetcher)
            .issuer_keys(issuer)
            .await
            .map_err(|e| CliError::Failed(format!("discovery of the --issuer keys failed: {e}")))?,
    };
    Ok(std::sync::Arc::new(set))
}
