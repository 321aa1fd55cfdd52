//! Refresh tokens (RFC 6749 §6): the store trait ([`RefreshTokenStore`]) a shared store (Redis)
//! implements, and the default, one in-memory store per client: opaque random tokens kept as their
//! SHA-256 digest with the grant they stand for, bounded in number and in age, rotated on every
//! use, a reuse revoking the family (RFC 9700 §4.14.2).

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use base64::Engine;
use zeroize::Zeroizing;

use crate::error::Result;
use crate::token::Scope;
use crate::wire::tracing_targets::TRACING_TARGET;

/// What a refresh token stands for: the original grant (RFC 8707 §2.2: later requests may name
/// any of its resources, never another; RFC 6749 §6: at most its scope).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshGrant {
    pub(crate) client_id: String,
    pub(crate) subject: String,
    pub(crate) scope: Scope,
    pub(crate) resources: Vec<String>,
}

impl RefreshGrant {
    /// A grant to `client_id` acting for `subject`, of `scope`, for `resources`.
    pub fn new(client_id: &str, subject: &str, scope: Scope, resources: Vec<String>) -> RefreshGrant {
        RefreshGrant { client_id: client_id.to_owned(), subject: subject.to_owned(), scope, resources }
    }

    /// The client the token was issued to.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The subject (resource owner) the client acts for.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The scope granted.
    pub fn scope(&self) -> &Scope {
        &self.scope
    }

    /// The resources (RFC 8707) granted.
    pub fn resources(&self) -> &[String] {
        &self.resources
    }
}

/// A refresh token as stored: the SHA-256 of its text (the text itself is never stored).
pub type RefreshTokenId = [u8; 32];

/// The digest a refresh token is stored and found by.
pub(crate) fn token_id(token: &str) -> RefreshTokenId {
    let digest = crate::crypto::sha256(token.as_bytes());
    let mut id = [0u8; 32];
    let n = digest.len().min(32);
    id[..n].copy_from_slice(&digest[..n]);
    id
}

/// A new refresh token (32 random bytes, base64url) and its digest.
pub(super) fn new_token() -> Result<(Zeroizing<String>, RefreshTokenId)> {
    let mut bytes = Zeroizing::new([0u8; 32]);
    crate::crypto::random(bytes.as_mut_slice())?;
    let token = Zeroizing::new(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes.as_slice()));
    let id = token_id(&token);
    Ok((token, id))
}

/// Why a [`RefreshTokenStore`] could not answer; the token request is refused (503), never
/// answered unchecked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RefreshStoreError {
    /// The store could not be reached or failed; the text says why (no token, no secret).
    #[error("refresh token store unavailable: {0}")]
    Unavailable(String),
}

/// The future the methods of a [`RefreshTokenStore`] return.
pub type RefreshStoreFuture<'a, T> =
    Pin<Box<dyn Future<Output = std::result::Result<T, RefreshStoreError>> + Send + 'a>>;

/// Where an [`AuthorizationServer`](crate::wire::AuthorizationServer) keeps its refresh tokens:
/// in memory by default (one bounded store per client), or shared by several servers (Redis,
/// `RedisRefreshTokens` with the feature `redis`). Tokens are named by their digest
/// ([`RefreshTokenId`]); the store never sees their text. [`rotate`](Self::rotate) must be one
/// atomic step, so that of two servers presented one token at once only one rotates it.
pub trait RefreshTokenStore: Send + Sync + fmt::Debug {
    /// Records `id` as the live token of a new family for `grant` (its client is
    /// `grant.client_id()`), valid until `expires`.
    fn issue<'a>(
        &'a self,
        id: &'a RefreshTokenId,
        grant: RefreshGrant,
        expires: SystemTime,
    ) -> RefreshStoreFuture<'a, ()>;

    /// The grant of `client_id`'s live, unexpired token `id` and its generation (to hand back to
    /// [`rotate`](Self::rotate)). `None` when unknown, expired or spent; a spent (rotated) token
    /// presented again also revokes its family's live token (RFC 9700 §4.14.2).
    fn find<'a>(
        &'a self,
        client_id: &'a str,
        id: &'a RefreshTokenId,
        now: SystemTime,
    ) -> RefreshStoreFuture<'a, Option<(Arc<RefreshGrant>, u64)>>;

    /// In one atomic step: when `id` is still live as generation `seq`, spends it and records
    /// `next` as its family's live token (same grant, same expiry), `true`; otherwise `false`,
    /// and if `id` was spent its family is revoked (a concurrent reuse, RFC 9700 §4.14.2).
    fn rotate<'a>(
        &'a self,
        client_id: &'a str,
        id: &'a RefreshTokenId,
        seq: u64,
        next: &'a RefreshTokenId,
    ) -> RefreshStoreFuture<'a, bool>;
}

/// The default [`RefreshTokenStore`]: one [`RefreshStore`] per registered client, in memory.
pub(super) struct MemoryRefreshTokens {
    clients: HashMap<String, Mutex<RefreshStore>>,
}

impl fmt::Debug for MemoryRefreshTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryRefreshTokens").field("clients", &self.clients.len()).finish()
    }
}

impl MemoryRefreshTokens {
    /// One store of at most `max` live tokens for each of `clients`.
    pub(super) fn new<'c>(clients: impl IntoIterator<Item = &'c str>, max: usize) -> MemoryRefreshTokens {
        MemoryRefreshTokens {
            clients: clients
                .into_iter()
                .map(|c| (c.to_owned(), Mutex::new(RefreshStore::new(max))))
                .collect(),
        }
    }

    fn with<T>(&self, client_id: &str, f: impl FnOnce(&mut RefreshStore) -> T) -> Option<T> {
        let store = self.clients.get(client_id)?;
        Some(f(&mut store.lock().unwrap_or_else(|e| e.into_inner())))
    }
}

impl RefreshTokenStore for MemoryRefreshTokens {
    fn issue<'a>(
        &'a self,
        id: &'a RefreshTokenId,
        grant: RefreshGrant,
        expires: SystemTime,
    ) -> RefreshStoreFuture<'a, ()> {
        let client_id = grant.client_id.clone();
        let done = self.with(&client_id, |s| s.issue(*id, Arc::new(grant), None, expires));
        Box::pin(std::future::ready(
            done.ok_or_else(|| RefreshStoreError::Unavailable("client not registered".into())),
        ))
    }

    fn find<'a>(
        &'a self,
        client_id: &'a str,
        id: &'a RefreshTokenId,
        now: SystemTime,
    ) -> RefreshStoreFuture<'a, Option<(Arc<RefreshGrant>, u64)>> {
        // Only this client's store: another client's token is unknown here (RFC 6749 §6).
        Box::pin(std::future::ready(Ok(self.with(client_id, |s| s.find(id, now)).flatten())))
    }

    fn rotate<'a>(
        &'a self,
        client_id: &'a str,
        id: &'a RefreshTokenId,
        seq: u64,
        next: &'a RefreshTokenId,
    ) -> RefreshStoreFuture<'a, bool> {
        Box::pin(std::future::ready(Ok(self.with(client_id, |s| s.rotate(id, seq, *next)).unwrap_or(false))))
    }
}

struct Live {
    seq: u64,
    family: u64,
    expires: SystemTime,
    grant: Arc<RefreshGrant>,
}

/// The live refresh tokens (by digest, bounded, oldest dropped first) and the recently rotated
/// ones (equally bounded), so that a rotated token presented again revokes its family's live
/// token (RFC 9700 §4.14.2: one of the two parties holds a stolen token).
pub(super) struct RefreshStore {
    max: usize,
    next: u64,
    live: HashMap<RefreshTokenId, Live>,
    live_order: BTreeMap<u64, RefreshTokenId>,
    family_live: HashMap<u64, RefreshTokenId>,
    rotated: HashMap<RefreshTokenId, (u64, u64)>,
    rotated_order: BTreeMap<u64, RefreshTokenId>,
}

impl RefreshStore {
    pub(super) fn new(max: usize) -> RefreshStore {
        RefreshStore {
            max,
            next: 0,
            live: HashMap::new(),
            live_order: BTreeMap::new(),
            family_live: HashMap::new(),
            rotated: HashMap::new(),
            rotated_order: BTreeMap::new(),
        }
    }

    /// Records `id` for `grant` in `family` (a new family when `None`), dropping the oldest live
    /// token when full.
    fn issue(
        &mut self,
        id: RefreshTokenId,
        grant: Arc<RefreshGrant>,
        family: Option<u64>,
        expires: SystemTime,
    ) {
        while self.live.len() >= self.max {
            let Some((_, oldest)) = self.live_order.pop_first() else { break };
            self.remove_live(&oldest);
        }
        let seq = self.next;
        self.next += 1;
        let family = family.unwrap_or(seq);
        self.live.insert(id, Live { seq, family, expires, grant });
        self.live_order.insert(seq, id);
        self.family_live.insert(family, id);
    }

    fn remove_live(&mut self, id: &RefreshTokenId) -> Option<Live> {
        let live = self.live.remove(id)?;
        self.live_order.remove(&live.seq);
        if self.family_live.get(&live.family) == Some(id) {
            self.family_live.remove(&live.family);
        }
        Some(live)
    }

    /// The grant of a live, unexpired token and its sequence number. A rotated token revokes its
    /// family's live token; an expired one is removed.
    fn find(&mut self, id: &RefreshTokenId, now: SystemTime) -> Option<(Arc<RefreshGrant>, u64)> {
        if let Some(live) = self.live.get(id) {
            if live.expires > now {
                return Some((Arc::clone(&live.grant), live.seq));
            }
            self.remove_live(id);
            return None;
        }
        self.revoke_if_rotated(id);
        None
    }

    /// When `id` was rotated, revokes its family's live token.
    fn revoke_if_rotated(&mut self, id: &RefreshTokenId) {
        if let Some(&(family, _)) = self.rotated.get(id) {
            if let Some(current) = self.family_live.get(&family).copied() {
                tracing::warn!(target: TRACING_TARGET, "a rotated refresh token was presented again; its family is revoked");
                self.remove_live(&current);
            }
        }
    }

    /// Spends the live token `id` (if it is still the one found as `seq`) and records `next` as
    /// its successor in the same family, with the same expiry. `false`: it was spent or dropped
    /// in the meantime.
    fn rotate(&mut self, id: &RefreshTokenId, seq: u64, next: RefreshTokenId) -> bool {
        if self.live.get(id).map(|l| l.seq) != Some(seq) {
            // Spent by a concurrent request that got here first: a reuse too, so the successor
            // it was given is revoked, as `find` does for a later reuse (RFC 9700 §4.14.2).
            self.revoke_if_rotated(id);
            return false;
        }
        let Some(old) = self.remove_live(id) else { return false };
        while self.rotated.len() >= self.max {
            let Some((_, oldest)) = self.rotated_order.pop_first() else { break };
            self.rotated.remove(&oldest);
        }
        self.rotated.insert(*id, (old.family, old.seq));
        self.rotated_order.insert(old.seq, *id);
        self.issue(next, old.grant, Some(old.family), old.expires);
        true
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn grant() -> Arc<RefreshGrant> {
        Arc::new(RefreshGrant::new(
            "c",
            "alice",
            Scope::parse("a").unwrap(),
            vec!["https://rs.example".into()],
        ))
    }

    fn issue(store: &mut RefreshStore, expires: SystemTime) -> RefreshTokenId {
        let (_, id) = new_token().unwrap();
        store.issue(id, grant(), None, expires);
        id
    }

    fn next() -> RefreshTokenId {
        new_token().unwrap().1
    }

    #[test]
    fn refresh_tokens_rotate_and_a_reuse_revokes_the_family() {
        let mut store = RefreshStore::new(10);
        let later = SystemTime::now() + Duration::from_secs(60);
        let first = issue(&mut store, later);
        let (_, seq) = store.find(&first, SystemTime::now()).unwrap();
        let second = next();
        assert!(store.rotate(&first, seq, second));
        assert_ne!(first, second);
        assert!(store.find(&second, SystemTime::now()).is_some());
        // The spent token again: refused, and its successor is revoked with it.
        assert!(store.find(&first, SystemTime::now()).is_none());
        assert!(store.find(&second, SystemTime::now()).is_none());
    }

    #[test]
    fn refresh_tokens_are_bounded_and_expire() {
        let mut store = RefreshStore::new(2);
        let later = SystemTime::now() + Duration::from_secs(60);
        let tokens: Vec<_> = (0..3).map(|_| issue(&mut store, later)).collect();
        assert_eq!(store.live.len(), 2);
        assert!(store.find(&tokens[0], SystemTime::now()).is_none(), "oldest dropped");
        assert!(store.find(&tokens[2], SystemTime::now()).is_some());
        assert!(store.find(&tokens[2], later + Duration::from_secs(1)).is_none(), "expired");
        assert!(store.find(&tokens[2], SystemTime::now()).is_none(), "removed when expired");
    }

    #[test]
    fn a_stale_rotation_loses() {
        let mut store = RefreshStore::new(10);
        let later = SystemTime::now() + Duration::from_secs(60);
        let first = issue(&mut store, later);
        let (_, seq) = store.find(&first, SystemTime::now()).unwrap();
        let second = next();
        assert!(store.rotate(&first, seq, second));
        assert!(!store.rotate(&first, seq, next()), "a second rotation of one token");
        // Two requests presented `first` at once: the loser's reuse revokes the winner's successor.
        assert!(store.find(&second, SystemTime::now()).is_none(), "the successor survived a reuse");
    }
}
