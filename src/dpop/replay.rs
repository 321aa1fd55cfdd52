//! Remembering used proofs (RFC 9449 §11.1): the store trait a shared store (Redis, a database)
//! implements, and a bounded in-memory one.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use super::check::{CheckedProof, DpopRequest, DpopValidation};
use crate::error::DpopRejection;

/// The default capacity of a [`MemoryReplayStore`]: 100,000 proofs.
pub const DEFAULT_REPLAY_CAPACITY: usize = 100_000;

/// The default share of a [`MemoryReplayStore`]'s capacity that proofs by one key may hold: an
/// eighth (12,500 proofs of the default capacity: about 40 requests a second for the default
/// 300-second window, more with server nonces or a larger capacity).
pub const DEFAULT_PER_KEY_SHARE: usize = 8;

/// What a [`ReplayStore`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Remembered {
    /// The key was not there, unexpired: it is now, until its time.
    Fresh,
    /// The key was there and unexpired: the proof is a replay.
    Replayed,
}

/// Why a [`ReplayStore`] could not answer. Either way the proof is refused (fail closed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReplayStoreError {
    /// Full of unexpired keys; none is forgotten early, so a proof is refused instead.
    #[error("replay store full")]
    Full,
    /// The proof's key already holds its share of the store: that key's proof is refused, and
    /// the others' still fit.
    #[error("too many unexpired proofs by one key")]
    KeyQuotaExceeded,
    /// The store could not be reached or failed; the text says why (no key, no secret).
    #[error("replay store unavailable: {0}")]
    Unavailable(String),
}

/// The future [`ReplayStore::remember`] returns.
pub type ReplayFuture<'a> = Pin<Box<dyn Future<Output = Result<Remembered, ReplayStoreError>> + Send + 'a>>;

/// Where used proofs are remembered. Implementations must test and set in one atomic step
/// (a shared store: `SET key 1 NX PX ms` in Redis), so two replicas never both accept one
/// proof; the future needs no particular async runtime.
pub trait ReplayStore: Send + Sync + fmt::Debug {
    /// Remembers `key` until `until` (inclusive, seconds since the Unix epoch) unless it is
    /// already remembered and unexpired at `now`: [`Remembered::Fresh`] or
    /// [`Remembered::Replayed`].
    fn remember<'a>(&'a self, key: &'a str, until: i64, now: i64) -> ReplayFuture<'a>;

    /// [`remember`](ReplayStore::remember) for a proof signed by the key whose RFC 7638
    /// thumbprint is `holder`, so that a store can bound what one key holds
    /// ([`ReplayStoreError::KeyQuotaExceeded`]) and one client cannot fill it for all. By default
    /// the holder is not used.
    fn remember_for<'a>(&'a self, holder: &'a str, key: &'a str, until: i64, now: i64) -> ReplayFuture<'a> {
        let _ = holder;
        self.remember(key, until, now)
    }
}

/// Checks the request's proof ([`DpopValidation::check`]) and remembers it in `store`: a proof
/// seen before is [`DpopRejection::Replayed`]; a store that is full or fails refuses the proof
/// ([`DpopRejection::ReplayStoreFull`], [`DpopRejection::ReplayStoreUnavailable`]).
pub async fn check_and_remember(
    validation: &DpopValidation,
    request: &DpopRequest<'_>,
    store: &dyn ReplayStore,
) -> Result<CheckedProof, DpopRejection> {
    let checked = validation.check(request)?;
    match store.remember_for(&checked.jkt, checked.replay_key(), checked.replay_until, request.now()).await {
        Ok(Remembered::Fresh) => Ok(checked),
        Ok(Remembered::Replayed) => Err(DpopRejection::Replayed),
        Err(ReplayStoreError::Full) => Err(DpopRejection::ReplayStoreFull),
        Err(ReplayStoreError::KeyQuotaExceeded) => Err(DpopRejection::TooManyProofs),
        Err(ReplayStoreError::Unavailable(_)) => Err(DpopRejection::ReplayStoreUnavailable),
    }
}

/// A [`ReplayStore`] in this process's memory, for one server (replicas need a shared store):
/// bounded, expired keys dropped as time passes, and when full of unexpired keys it refuses
/// ([`ReplayStoreError::Full`]) rather than forget one that could then be replayed. Proofs by one
/// key ([`ReplayStore::remember_for`]) hold at most a share of it
/// ([`per_key_limit`](MemoryReplayStore::per_key_limit), by default an eighth): a holder of one
/// token sending fresh proofs as fast as it can is refused
/// ([`ReplayStoreError::KeyQuotaExceeded`]) before it fills the store for every other client.
///
/// ```
/// use jwe_mint::dpop::{MemoryReplayStore, Remembered, ReplayStore};
/// # tokio_test_free_block_on::run(async {
/// let store = MemoryReplayStore::with_capacity(1);
/// assert_eq!(store.remember("a", 100, 0).await, Ok(Remembered::Fresh));
/// assert_eq!(store.remember("a", 100, 50).await, Ok(Remembered::Replayed));
/// assert!(store.remember("b", 100, 50).await.is_err()); // full
/// assert_eq!(store.remember("b", 200, 101).await, Ok(Remembered::Fresh)); // "a" expired
/// # });
/// # mod tokio_test_free_block_on {
/// #     pub fn run<F: std::future::Future>(f: F) -> F::Output {
/// #         let mut f = std::pin::pin!(f);
/// #         let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
/// #         loop {
/// #             if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v; }
/// #         }
/// #     }
/// # }
/// ```
pub struct MemoryReplayStore {
    capacity: usize,
    per_key: usize,
    entries: Mutex<Entries>,
}

/// Each key (and each signing key's thumbprint) is allocated once and shared by the indexes.
#[derive(Default)]
struct Entries {
    /// Each remembered proof: until when, and the thumbprint of the key that signed it.
    until: HashMap<Arc<str>, (i64, Option<Arc<str>>)>,
    /// The same keys by expiry, so expired ones leave in order without a scan.
    by_expiry: BTreeSet<(i64, Arc<str>)>,
    /// How many unexpired proofs each signing key holds.
    per_holder: HashMap<Arc<str>, usize>,
}

impl Entries {
    fn purge(&mut self, now: i64) {
        while let Some((until, _)) = self.by_expiry.first() {
            if *until >= now {
                break;
            }
            if let Some((_, key)) = self.by_expiry.pop_first() {
                if let Some((_, Some(holder))) = self.until.remove(&*key) {
                    if let Some(n) = self.per_holder.get_mut(&*holder) {
                        *n -= 1;
                        if *n == 0 {
                            self.per_holder.remove(&*holder);
                        }
                    }
                }
            }
        }
    }
}

impl fmt::Debug for MemoryReplayStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryReplayStore")
            .field("capacity", &self.capacity)
            .field("per_key", &self.per_key)
            .field("len", &self.len())
            .finish()
    }
}

impl Default for MemoryReplayStore {
    fn default() -> Self {
        MemoryReplayStore::with_capacity(DEFAULT_REPLAY_CAPACITY)
    }
}

impl MemoryReplayStore {
    /// A store of at most `capacity` unexpired proofs, at most an eighth of them by one key.
    pub fn with_capacity(capacity: usize) -> MemoryReplayStore {
        let per_key = (capacity / DEFAULT_PER_KEY_SHARE).max(1);
        MemoryReplayStore { capacity, per_key, entries: Mutex::new(Entries::default()) }
    }

    /// At most `limit` unexpired proofs by one key (at least 1, at most the capacity).
    pub fn per_key_limit(mut self, limit: usize) -> MemoryReplayStore {
        self.per_key = limit.clamp(1, self.capacity.max(1));
        self
    }

    /// The keys held now, expired ones not yet dropped included.
    pub fn len(&self) -> usize {
        self.entries.lock().map_or(0, |e| e.until.len())
    }

    /// Whether the store holds no key.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn remember_now(
        &self,
        holder: Option<&str>,
        key: &str,
        until: i64,
        now: i64,
    ) -> Result<Remembered, ReplayStoreError> {
        // A poisoned lock means a panic mid-update: the indexes may disagree, so refuse.
        let mut entries =
            self.entries.lock().map_err(|_| ReplayStoreError::Unavailable("lock poisoned".into()))?;
        entries.purge(now);
        if entries.until.contains_key(key) {
            return Ok(Remembered::Replayed);
        }
        let held = holder.and_then(|h| entries.per_holder.get(h)).copied().unwrap_or(0);
        if held >= self.per_key {
            return Err(ReplayStoreError::KeyQuotaExceeded);
        }
        if entries.until.len() >= self.capacity {
            return Err(ReplayStoreError::Full);
        }
        let holder: Option<Arc<str>> = holder.map(|h| match entries.per_holder.get_key_value(h) {
            Some((shared, _)) => Arc::clone(shared),
            None => Arc::from(h),
        });
        if let Some(holder) = &holder {
            *entries.per_holder.entry(Arc::clone(holder)).or_default() += 1;
        }
        let key: Arc<str> = Arc::from(key);
        entries.until.insert(Arc::clone(&key), (until, holder));
        entries.by_expiry.insert((until, key));
        Ok(Remembered::Fresh)
    }
}

impl ReplayStore for MemoryReplayStore {
    fn remember<'a>(&'a self, key: &'a str, until: i64, now: i64) -> ReplayFuture<'a> {
        Box::pin(std::future::ready(self.remember_now(None, key, until, now)))
    }

    fn remember_for<'a>(&'a self, holder: &'a str, key: &'a str, until: i64, now: i64) -> ReplayFuture<'a> {
        Box::pin(std::future::ready(self.remember_now(Some(holder), key, until, now)))
    }
}
