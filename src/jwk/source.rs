//! Key sets that change while they are in use: an AS's signing keys or an RS's encryption keys
//! published at a `jwks_uri` and rotated. The trait knows nothing of HTTP; the `wire` module
//! (feature `http`) implements it with a fetching cache, and anything else (a file watcher, a
//! KMS) can too.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use super::JwkSet;

pub use crate::error::KeySourceError;

/// The future [`JwkSource::keys_with_kid`] returns.
pub type KeysFuture<'a> = Pin<Box<dyn Future<Output = Result<Arc<JwkSet>, KeySourceError>> + Send + 'a>>;

/// A JWK Set that may change: read it with [`JwkSource::keys`] (cheap, synchronous, no I/O: an
/// `Arc` snapshot), and tell it about a `kid` it did not have so it can refetch.
///
/// Implementations rate-limit refetches themselves (OpenID Connect Core §10.1.1): callers may
/// report every unknown `kid` they see, attacker-chosen ones included.
pub trait JwkSource: Send + Sync + fmt::Debug {
    /// The keys now. No I/O and no lock held across I/O: a snapshot of the last good set, or an
    /// error when the source has none (never fetched, or stale past its cap).
    fn keys(&self) -> Result<Arc<JwkSet>, KeySourceError>;

    /// A token named `kid` and the current keys lack it: start a refetch in the background if
    /// the source's rate limit allows one. Never blocks. The default does nothing.
    fn unknown_kid(&self, kid: &str) {
        let _ = kid;
    }

    /// The keys once a refetch for `kid` (if the rate limit allows one, or one already running)
    /// has finished. The default returns [`JwkSource::keys`] at once.
    fn keys_with_kid<'a>(&'a self, kid: &'a str) -> KeysFuture<'a> {
        let _ = kid;
        Box::pin(std::future::ready(self.keys()))
    }

    /// Where the keys come from, for errors and logs (a URL or a file name, without credentials).
    fn location(&self) -> &str;

    /// How the source keeps its keys fresh, for metrics and health checks (no I/O); `None` for a
    /// source that does not refresh. The default is `None`.
    fn freshness(&self) -> Option<Freshness> {
        None
    }
}

/// How a refreshing [`JwkSource`] is doing ([`JwkSource::freshness`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Freshness {
    /// How long ago the keys in use were fetched or read.
    pub age: Duration,
    /// Refreshes that succeeded, the first load included.
    pub refreshes: u64,
    /// Refreshes that failed (the keys in use stayed).
    pub failures: u64,
}

impl Freshness {
    /// The keys in use are `age` old; `refreshes` succeeded and `failures` failed so far.
    pub fn new(age: Duration, refreshes: u64, failures: u64) -> Freshness {
        Freshness { age, refreshes, failures }
    }
}

/// A key set that never changes, as a [`JwkSource`] (keys from a file or from code).
#[derive(Debug, Clone)]
pub struct StaticJwkSource {
    keys: Arc<JwkSet>,
    location: String,
}

impl StaticJwkSource {
    /// `keys`, described as `location` in errors.
    pub fn new(keys: JwkSet, location: impl Into<String>) -> StaticJwkSource {
        StaticJwkSource { keys: Arc::new(keys), location: location.into() }
    }
}

impl JwkSource for StaticJwkSource {
    fn keys(&self) -> Result<Arc<JwkSet>, KeySourceError> {
        Ok(Arc::clone(&self.keys))
    }

    fn location(&self) -> &str {
        &self.location
    }
}
