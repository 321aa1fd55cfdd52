//! An opt-in, bounded cache of opened tokens for resource servers that see the same token many
//! times. Keyed by the SHA-256 of the token text (the token itself is never stored); an entry is
//! never served after its `exp`.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

type Key = Vec<u8>;

/// Bounded map from token hash to a cached value with its expiry (FIFO eviction, expired
/// entries first).
pub(crate) struct TokenCache<V> {
    capacity: usize,
    inner: Mutex<Inner<V>>,
}

struct Inner<V> {
    map: HashMap<Key, (i64, Arc<V>)>,
    order: VecDeque<Key>,
    hits: u64,
    misses: u64,
}

/// Counters of a token cache, as reported by `ResourceServer::cache_stats`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Counters {
    pub entries: usize,
    pub hits: u64,
    pub misses: u64,
}

impl<V> std::fmt::Debug for TokenCache<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCache").field("capacity", &self.capacity).finish_non_exhaustive()
    }
}

impl<V> TokenCache<V> {
    pub(crate) fn new(capacity: usize) -> Self {
        TokenCache {
            capacity: capacity.max(1),
            inner: Mutex::new(Inner {
                map: HashMap::with_capacity(capacity.min(1 << 16)),
                order: VecDeque::new(),
                hits: 0,
                misses: 0,
            }),
        }
    }

    pub(crate) fn key(token: &str) -> Key {
        crate::crypto::sha256(token.as_bytes())
    }

    /// The cached value for `key` if present and `now <= exp` (a hit), else `None` (a miss).
    pub(crate) fn get(&self, key: &Key, now: i64) -> Option<Arc<V>> {
        let mut inner = self.inner.lock().ok()?;
        let found = match inner.map.get(key) {
            Some((exp, v)) if now <= *exp => Some(v.clone()),
            _ => None,
        };
        if found.is_some() {
            inner.hits += 1;
        } else {
            inner.misses += 1;
        }
        found
    }

    /// Inserts `value`, evicting the oldest entries (FIFO) when full. Expired entries are never
    /// served and leave in FIFO order; no insert scans the whole map.
    pub(crate) fn insert(&self, key: Key, exp: i64, value: Arc<V>, now: i64) {
        let Ok(mut inner) = self.inner.lock() else { return };
        if now > exp || inner.map.contains_key(&key) {
            return;
        }
        while inner.map.len() >= self.capacity {
            let Some(oldest) = inner.order.pop_front() else { break };
            inner.map.remove(&oldest);
        }
        inner.order.push_back(key.clone());
        inner.map.insert(key, (exp, value));
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.inner.lock().map(|i| i.map.len()).unwrap_or(0)
    }

    /// Entries held and lookups served / not served so far.
    pub(crate) fn counters(&self) -> Counters {
        self.inner.lock().map_or(Counters { entries: 0, hits: 0, misses: 0 }, |i| Counters {
            entries: i.map.len(),
            hits: i.hits,
            misses: i.misses,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_fifo_and_never_past_exp() {
        let c = TokenCache::new(2);
        let (a, b, d) = (TokenCache::<u8>::key("a"), TokenCache::<u8>::key("b"), TokenCache::<u8>::key("d"));
        c.insert(a.clone(), 100, Arc::new(1u8), 0);
        c.insert(b.clone(), 200, Arc::new(2u8), 0);
        assert_eq!(c.get(&a, 100).as_deref(), Some(&1));
        assert!(c.get(&a, 101).is_none(), "served past exp");
        c.insert(d.clone(), 300, Arc::new(3u8), 150);
        assert_eq!(c.len(), 2);
        assert!(c.get(&a, 0).is_none(), "oldest evicted");
        assert_eq!(c.get(&b, 150).as_deref(), Some(&2));
        assert_eq!(c.get(&d, 150).as_deref(), Some(&3));
        // Already expired: not stored.
        let e = TokenCache::<u8>::key("e");
        c.insert(e.clone(), 100, Arc::new(4u8), 150);
        assert!(c.get(&e, 0).is_none());
        assert_eq!(c.len(), 2);
    }
}
