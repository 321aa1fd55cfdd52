//! [`RedisReplayStore`]: the DPoP replay store of a fleet, one `SET NX PX` per proof.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use super::connection::{Connection, Origin};
use crate::dpop::{Remembered, ReplayFuture, ReplayStore, ReplayStoreError};
use crate::wire::transport::ConfigError;

/// The default prefix of the replay keys.
const DEFAULT_PREFIX: &str = "jwe-mint:dpop:";

/// A [`ReplayStore`] in Redis, shared by every replica that uses the same Redis and prefix: a
/// proof remembered at one is a replay at all (RFC 9449 §11.1).
///
/// One round trip per proof, atomic in Redis: `SET <prefix><key> 1 NX PX <ms>`, the key living
/// through `until` (inclusive) as this replica's clock counts, then dropped by Redis. The time
/// left is counted here and sent relative: with an absolute time (`EXAT`) a Redis clock ahead of
/// the replicas' would drop keys early, or at once, and let proofs be replayed. A proof dated
/// ahead is remembered that much longer. A connection failure or no answer
/// within the timeout ([`DEFAULT_REDIS_TIMEOUT`](super::DEFAULT_REDIS_TIMEOUT)) is
/// [`ReplayStoreError::Unavailable`]: the proof is refused
/// ([`DpopRejection::ReplayStoreUnavailable`](crate::error::DpopRejection::ReplayStoreUnavailable)),
/// never accepted unchecked, and the store reconnects by itself. No persistence is needed: a
/// proof's window is short. Run Redis with `maxmemory-policy noeviction`: every replay key has
/// an expiry, so the `volatile-*` policies (some managed services' default) would evict them
/// under memory pressure, and an evicted proof can be replayed. Use it inside a tokio runtime.
///
/// A URL with a user or password is accepted only by [`from_url_file`](Self::from_url_file) and
/// [`from_url_env`](Self::from_url_env); it shows redacted in `Debug` and errors.
pub struct RedisReplayStore {
    connection: Connection,
    prefix: String,
}

impl fmt::Debug for RedisReplayStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisReplayStore")
            .field("url", &self.connection.shown())
            .field("prefix", &self.prefix)
            .field("timeout", &self.connection.timeout)
            .finish()
    }
}

impl RedisReplayStore {
    /// The store at `url`, `redis://HOST[:PORT][/DB]` or `rediss://…` for TLS (no user or password: see
    /// [`from_url_file`](Self::from_url_file)). Nothing is connected yet: the first proof
    /// connects. Refused ([`ConfigError::Invalid`] naming `"redis"`): another scheme, no host, a
    /// path other than a database number, a query, credentials.
    pub fn new(url: &str) -> Result<RedisReplayStore, ConfigError> {
        RedisReplayStore::open(url, Origin::Given)
    }

    /// The store at the URL in the file at `path` (trimmed), which may carry a user and password
    /// (`redis://user:password@HOST:PORT`). Refused as [`new`](Self::new) except for
    /// credentials, and when the file cannot be read.
    pub fn from_url_file(path: impl AsRef<Path>) -> Result<RedisReplayStore, ConfigError> {
        let url = Connection::url_from_file(path.as_ref())?;
        RedisReplayStore::open(&url, Origin::Secret)
    }

    /// The store at the URL in the environment variable `name`, which may carry a user and
    /// password. Refused as [`from_url_file`](Self::from_url_file), and when it is not set.
    pub fn from_url_env(name: &str) -> Result<RedisReplayStore, ConfigError> {
        let url = Connection::url_from_env(name)?;
        RedisReplayStore::open(&url, Origin::Secret)
    }

    fn open(url: &str, origin: Origin) -> Result<RedisReplayStore, ConfigError> {
        Ok(RedisReplayStore { connection: Connection::open(url, origin)?, prefix: DEFAULT_PREFIX.into() })
    }

    /// The prefix of every key (default `jwe-mint:dpop:`), to share one Redis among deployments
    /// that must not see each other's proofs.
    pub fn key_prefix(mut self, prefix: &str) -> RedisReplayStore {
        self.prefix = prefix.to_owned();
        self
    }

    /// For a `rediss://` URL: trust only the CA certificates of `pem` for the server's TLS
    /// certificate (by default the platform's roots). Refused ([`ConfigError::Invalid`] naming
    /// `"redis"`) for a `redis://` URL or a text without a PEM certificate.
    pub fn ca_pem(mut self, pem: &[u8]) -> Result<RedisReplayStore, ConfigError> {
        self.connection = self.connection.trust_only(pem)?;
        Ok(self)
    }

    /// [`ca_pem`](Self::ca_pem) with the PEM file at `path`.
    pub fn ca_file(mut self, path: impl AsRef<Path>) -> Result<RedisReplayStore, ConfigError> {
        self.connection = self.connection.trust_only_file(path.as_ref())?;
        Ok(self)
    }

    /// How long one check may take, connecting included (default
    /// [`DEFAULT_REDIS_TIMEOUT`](super::DEFAULT_REDIS_TIMEOUT), at least 1 ms).
    pub fn timeout(mut self, timeout: Duration) -> RedisReplayStore {
        self.connection.timeout = timeout.max(Duration::from_millis(1));
        self
    }
}

impl ReplayStore for RedisReplayStore {
    fn remember<'a>(&'a self, key: &'a str, until: i64, now: i64) -> ReplayFuture<'a> {
        Box::pin(async move {
            let mut cmd = redis::cmd("SET");
            // Kept through the whole second `until`: one second more than the difference.
            let seconds = until.saturating_sub(now).saturating_add(1).max(1);
            cmd.arg(format!("{}{key}", self.prefix))
                .arg(1)
                .arg("NX")
                .arg("PX")
                .arg(seconds.saturating_mul(1000));
            let set: Option<String> =
                self.connection.run(|mut m| async move { cmd.query_async(&mut m).await }).await.map_err(
                    |why| ReplayStoreError::Unavailable(format!("redis {}: {why}", self.connection.shown())),
                )?;
            match set.as_deref() {
                Some("OK") => Ok(Remembered::Fresh),
                None => Ok(Remembered::Replayed),
                Some(_) => Err(ReplayStoreError::Unavailable(format!(
                    "redis {}: unexpected reply",
                    self.connection.shown()
                ))),
            }
        })
    }
}
