//! The one connection to Redis both stores use: the URL checked and kept redacted, the redis
//! crate's connection manager (reconnecting by itself) made on first use, and every command
//! bounded in time.

use std::fmt;
use std::future::Future;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::RedisResult;

use crate::wire::transport::ConfigError;

/// How long one command may take, connecting included, before the request it serves is refused
/// (1 s): a Redis that hangs never stalls requests.
pub const DEFAULT_REDIS_TIMEOUT: Duration = Duration::from_secs(1);

/// A Redis server, addressed by a checked URL.
pub(super) struct Connection {
    client: redis::Client,
    /// Made on first use, inside the caller's tokio runtime (the manager spawns a task).
    manager: Mutex<Option<ConnectionManager>>,
    /// The URL as errors and Debug show it: credentials redacted.
    shown: String,
    pub(super) timeout: Duration,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection").field("url", &self.shown).field("timeout", &self.timeout).finish()
    }
}

/// Where a URL came from: credentials are accepted only from a file or the environment, never
/// from a command line (where other users can read it) or a literal in code.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Origin {
    Given,
    Secret,
}

impl Connection {
    /// `redis://HOST[:PORT][/DB]`, or `rediss://` for TLS (the server's certificate checked
    /// against the platform's roots for HOST); user and password only from `Origin::Secret`.
    pub(super) fn open(url: &str, origin: Origin) -> Result<Connection, ConfigError> {
        let parsed = url::Url::parse(url).ok();
        let shown = shown(url, parsed.as_ref());
        let refused = |why: &str| ConfigError::invalid("redis", format!("{shown}: {why}"));
        let parsed = parsed.ok_or_else(|| refused("not a URL"))?;
        if parsed.scheme() != "redis" && parsed.scheme() != "rediss" {
            return Err(refused("the scheme must be redis:// or rediss:// (TLS)"));
        }
        if parsed.host_str().is_none_or(str::is_empty) {
            return Err(refused("no host"));
        }
        let has_credentials = !parsed.username().is_empty() || parsed.password().is_some();
        if has_credentials && origin == Origin::Given {
            return Err(refused("a URL with credentials must come from a file or an environment variable"));
        }
        let path = parsed.path().trim_start_matches('/');
        if !path.is_empty() && !path.bytes().all(|b| b.is_ascii_digit()) {
            return Err(refused("the path must be a database number"));
        }
        if parsed.query().is_some() || parsed.fragment().is_some() {
            return Err(refused("no query or fragment"));
        }
        // The redis crate's own reading (its error text could name the URL, so it is not shown).
        let client = redis::Client::open(url).map_err(|_| refused("not a Redis URL"))?;
        Ok(Connection { client, manager: Mutex::new(None), shown, timeout: DEFAULT_REDIS_TIMEOUT })
    }

    /// The same server, its TLS certificate checked against the CA certificates of `pem` only
    /// (not the platform's roots). Refused for a `redis://` URL (no TLS) and a PEM text without a
    /// certificate.
    pub(super) fn trust_only(mut self, pem: &[u8]) -> Result<Connection, ConfigError> {
        let refused = |why: &str| ConfigError::invalid("redis", format!("{}: {why}", self.shown));
        if !matches!(self.client.get_connection_info().addr(), redis::ConnectionAddr::TcpTls { .. }) {
            return Err(refused("a CA applies to a rediss:// (TLS) URL only"));
        }
        if !pem.windows(27).any(|w| w == b"-----BEGIN CERTIFICATE-----") {
            return Err(refused("the CA file holds no PEM certificate"));
        }
        let certificates = redis::TlsCertificates { client_tls: None, root_cert: Some(pem.to_vec()) };
        self.client = redis::Client::build_with_tls(self.client.get_connection_info().clone(), certificates)
            .map_err(|_| refused("the CA file's certificates cannot be read"))?;
        Ok(self)
    }

    /// [`trust_only`](Self::trust_only) with the PEM file at `path`.
    pub(super) fn trust_only_file(self, path: &Path) -> Result<Connection, ConfigError> {
        let pem = std::fs::read(path).map_err(|e| {
            ConfigError::invalid("redis", format!("cannot read the CA file {}: {}", path.display(), e.kind()))
        })?;
        self.trust_only(&pem)
    }

    /// The URL in the file at `path` (surrounding whitespace trimmed).
    pub(super) fn url_from_file(path: &Path) -> Result<zeroize::Zeroizing<String>, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigError::invalid(
                "redis",
                format!("cannot read the Redis URL file {}: {}", path.display(), e.kind()),
            )
        })?;
        Ok(zeroize::Zeroizing::new(text.trim().to_owned()))
    }

    /// The URL in the environment variable `name`.
    pub(super) fn url_from_env(name: &str) -> Result<zeroize::Zeroizing<String>, ConfigError> {
        let text = std::env::var(name).map_err(|_| {
            ConfigError::invalid(
                "redis",
                format!("environment variable {} is not set or not UTF-8", crate::untrusted::name(name)),
            )
        })?;
        Ok(zeroize::Zeroizing::new(text.trim().to_owned()))
    }

    /// The URL as shown (credentials redacted).
    pub(super) fn shown(&self) -> &str {
        &self.shown
    }

    fn manager(&self) -> Result<ConnectionManager, String> {
        let mut slot = self.manager.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(m) = slot.as_ref() {
            return Ok(m.clone());
        }
        // Few, quick retries: the caller's timeout bounds the wait anyway, and a failed
        // connection is retried on the next command.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout))
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(20))
            .set_max_delay(Duration::from_millis(200));
        let m =
            ConnectionManager::new_lazy_with_config(self.client.clone(), config).map_err(|e| describe(&e))?;
        *slot = Some(m.clone());
        Ok(m)
    }

    /// Runs `command` on the connection, within the timeout. The error says why in a few words
    /// (no key, no URL).
    pub(super) async fn run<T, F, Fut>(&self, command: F) -> Result<T, String>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        let manager = self.manager()?;
        match tokio::time::timeout(self.timeout, command(manager)).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(describe(&e)),
            Err(_) => Err("timed out".into()),
        }
    }
}

/// `url` as errors and Debug show it. A password may hold `/`, `?` or `#` unencoded, and then no
/// parser finds the end of the user information (RFC 3986 §3.2): so text with an `@` is shown
/// only as its parsed host, port and database when it parsed with credentials, and not at all
/// otherwise.
fn shown(url: &str, parsed: Option<&url::Url>) -> String {
    if !url.contains('@') {
        return crate::untrusted::value(url);
    }
    match parsed {
        Some(p) if !p.username().is_empty() || p.password().is_some() => {
            let port = p.port().map(|n| format!(":{n}")).unwrap_or_default();
            let db = p.path().trim_start_matches('/');
            let db = if db.bytes().all(|b| b.is_ascii_digit()) { db } else { "…" };
            let db = if db.is_empty() { String::new() } else { format!("/{db}") };
            let scheme = if p.scheme() == "rediss" { "rediss" } else { "redis" };
            format!("{scheme}://redacted@{}{port}{db}", crate::untrusted::name(p.host_str().unwrap_or("")))
        }
        _ => "the Redis URL (not shown: an `@` outside its user information; percent-encode `/`, `?`, `#` and `@` in a password)".into(),
    }
}

/// A redis error in a few words of our own: its own text may quote a server reply.
fn describe(e: &redis::RedisError) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_io_error() || e.is_connection_refusal() || e.is_connection_dropped() {
        "connection failed".into()
    } else {
        "command failed".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_never_shows_whatever_characters_it_holds() {
        for (url, password) in [
            ("redis://:s3cr/p4ss+ef=@10.0.0.5:6379", ["s3cr", "p4ss"]),
            ("redis://:s3cr?p4ss@10.0.0.5", ["s3cr", "p4ss"]),
            ("redis://:s3cr#p4ss@10.0.0.5", ["s3cr", "p4ss"]),
            ("redis://qz:12/p4ss@10.0.0.5", ["qz", "p4ss"]),
            ("redis://qz:hunter2@10.0.0.5:6379/x", ["qz", "hunter2"]),
        ] {
            for origin in [Origin::Given, Origin::Secret] {
                let text = Connection::open(url, origin)
                    .map(|c| c.shown().to_owned())
                    .unwrap_or_else(|e| e.to_string());
                for secret in password {
                    assert!(!text.contains(secret), "{url}: {text}");
                }
            }
        }
        // A good URL with credentials shows its host, port and database.
        let c = Connection::open("redis://user:hunter2@10.0.0.5:6380/3", Origin::Secret).unwrap();
        assert_eq!(c.shown(), "redis://redacted@10.0.0.5:6380/3");
        // Without an `@`, the URL is shown as given (its mistakes are the user's to see).
        let e = Connection::open("redis://10.0.0.5/x", Origin::Given).unwrap_err().to_string();
        assert!(e.contains("redis://10.0.0.5/x"), "{e}");
    }
}
