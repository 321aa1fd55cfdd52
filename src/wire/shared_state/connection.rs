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
    /// `redis://HOST[:PORT][/DB]`; user and password only from `Origin::Secret`.
    pub(super) fn open(url: &str, origin: Origin) -> Result<Connection, ConfigError> {
        let shown = crate::untrusted::url(url);
        let refused = |why: &str| ConfigError::invalid("redis", format!("{shown}: {why}"));
        let parsed = url::Url::parse(url).map_err(|_| refused("not a URL"))?;
        if parsed.scheme() != "redis" {
            return Err(refused("the scheme must be redis://"));
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
