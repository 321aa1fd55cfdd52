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
    /// The store could not be reached or failed; the text says why (no key, no secret).
    #[error("replay store unavailable: {0}")]
    Unavailable(String),
}

/// The future [`ReplayStore::remember`] returns.
pub type ReplayFuture<'a> = Pin<Box<dyn Future<Output = Result<Remembered, ReplayStoreError>> + Send + 'a>>;

/// Where used proofs are remembered. Implementations must test and set in one atomic step
/// (a shared store: `SET key 1 NX EXAT until` in Redis), so two replicas never both accept one
/// proof; the future needs no particular async runtime.
pub trait ReplayStore: Send + Sync + fmt::Debug {
    /// Remembers `key` until `until` (inclusive, seconds since the Unix epoch) unless it is
    /// already remembered and unexpired at `now`: [`Remembered::Fresh`] or
    /// [`Remembered::Replayed`].
    fn remember<'a>(&'a self, key: &'a str, until: i64, now: i64) -> ReplayFuture<'a>;
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
    match store.remember(checked.replay_key(), checked.replay_until, request.now()).await {
        Ok(Remembered::Fresh) => Ok(checked),
        Ok(Remembered::Replayed) => Err(DpopRejection::Replayed),
        Err(ReplayStoreError::Full) => Err(DpopRejection::ReplayStoreFull),
        Err(ReplayStoreError::Unavailable(_)) => Err(DpopRejection::ReplayStoreUnavailable),
    }
}

/// A [`ReplayStore`] in this process's memory, for one server (replicas need a shared store):
/// bounded, expired keys dropped as time passes, and when full of unexpired keys it refuses
/// ([`ReplayStoreError::Full`]) rather than forget one that could then be replayed.
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
    entries: Mutex<Entries>,
}

/// Each key is allocated once and shared by both indexes (one allocation per proof).
#[derive(Default)]
struct Entries {
    until: HashMap<Arc<str>, i64>,
    /// The same keys by expiry, so expired ones leave in order without a scan.
    by_expiry: BTreeSet<(i64, Arc<str>)>,
}

impl Entries {
    fn purge(&mut self, now: i64) {
        while let Some((until, _)) = self.by_expiry.first() {
            if *until >= now {
                break;
            }
            if let Some((_, key)) = self.by_expiry.pop_first() {
                self.until.remove(&*key);
            }
        }
    }
}

impl fmt::Debug for MemoryReplayStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryReplayStore")
            .field("capacity", &self.capacity)
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
    /// A store of at most `capacity` unexpired proofs.
    pub fn with_capacity(capacity: usize) -> MemoryReplayStore {
        MemoryReplayStore { capacity, entries: Mutex::new(Entries::default()) }
    }

    /// The keys held now, expired ones not yet dropped included.
    pub fn len(&self) -> usize {
        self.entries.lock().map_or(0, |e| e.until.len())
    }

    /// Whether the store holds no key.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn remember_now(&self, key: &str, until: i64, now: i64) -> Result<Remembered, ReplayStoreError> {
        // A poisoned lock means a panic mid-update: the two indexes may disagree, so refuse.
        let mut entries =
            self.entries.lock().map_err(|_| ReplayStoreError::Unavailable("lock poisoned".into()))?;
        entries.purge(now);
        if entries.until.contains_key(key) {
            return Ok(Remembered::Replayed);
        }
        if entries.until.len() >= self.capacity {
            return Err(ReplayStoreError::Full);
        }
        let key: Arc<str> = Arc::from(key);
        entries.until.insert(Arc::clone(&key), until);
        entries.by_expiry.insert((until, key));
        Ok(Remembered::Fresh)
    }
}

impl ReplayStore for MemoryReplayStore {
    fn remember<'a>(&'a self, key: &'a str, until: i64, now: i64) -> ReplayFuture<'a> {
        Box::pin(std::future::ready(self.remember_now(key, until, now)))
    }
}
