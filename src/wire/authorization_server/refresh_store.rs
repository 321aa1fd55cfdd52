//! The refresh-token store of one client: opaque random tokens kept as their SHA-256 digest with
//! the grant they stand for, bounded in number and in age, rotated on every use, a reuse revoking
//! the family (RFC 9700 §4.14.2).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;

use base64::Engine;
use zeroize::Zeroizing;

use crate::error::Result;
use crate::token::Scope;
use crate::wire::tracing_targets::TRACING_TARGET;

/// What a refresh token stands for: the original grant (RFC 8707 §2.2: later requests may name
/// any of its resources, never another; RFC 6749 §6: at most its scope).
#[derive(Debug)]
pub(super) struct RefreshGrant {
    pub(super) client_id: String,
    pub(super) subject: String,
    pub(super) scope: Scope,
    pub(super) resources: Vec<String>,
}

/// A refresh token as stored: the SHA-256 of its text.
pub(super) type TokenId = [u8; 32];

pub(super) fn token_id(token: &str) -> TokenId {
    let digest = crate::crypto::sha256(token.as_bytes());
    let mut id = [0u8; 32];
    let n = digest.len().min(32);
    id[..n].copy_from_slice(&digest[..n]);
    id
}

struct Live {
    seq: u64,
    family: u64,
    expires: Instant,
    grant: Arc<RefreshGrant>,
}

/// The live refresh tokens (by digest, bounded, oldest dropped first) and the recently rotated
/// ones (equally bounded), so that a rotated token presented again revokes its family's live
/// token (RFC 9700 §4.14.2: one of the two parties holds a stolen token).
pub(super) struct RefreshStore {
    max: usize,
    next: u64,
    live: HashMap<TokenId, Live>,
    live_order: BTreeMap<u64, TokenId>,
    family_live: HashMap<u64, TokenId>,
    rotated: HashMap<TokenId, (u64, u64)>,
    rotated_order: BTreeMap<u64, TokenId>,
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

    /// A new token for `grant` in `family` (a new family when `None`), dropping the oldest live
    /// token when full.
    pub(super) fn issue(
        &mut self,
        grant: Arc<RefreshGrant>,
        family: Option<u64>,
        expires: Instant,
    ) -> Result<Zeroizing<String>> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        crate::crypto::random(bytes.as_mut_slice())?;
        let token = Zeroizing::new(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes.as_slice()));
        while self.live.len() >= self.max {
            let Some((_, oldest)) = self.live_order.pop_first() else { break };
            self.remove_live(&oldest);
        }
        let seq = self.next;
        self.next += 1;
        let family = family.unwrap_or(seq);
        let id = token_id(&token);
        self.live.insert(id, Live { seq, family, expires, grant });
        self.live_order.insert(seq, id);
        self.family_live.insert(family, id);
        Ok(token)
    }

    fn remove_live(&mut self, id: &TokenId) -> Option<Live> {
        let live = self.live.remove(id)?;
        self.live_order.remove(&live.seq);
        if self.family_live.get(&live.family) == Some(id) {
            self.family_live.remove(&live.family);
        }
        Some(live)
    }

    /// The grant of a live, unexpired token and its sequence number. A rotated token revokes its
    /// family's live token; an expired one is removed.
    pub(super) fn find(&mut self, id: &TokenId, now: Instant) -> Option<(Arc<RefreshGrant>, u64)> {
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
    fn revoke_if_rotated(&mut self, id: &TokenId) {
        if let Some(&(family, _)) = self.rotated.get(id) {
            if let Some(current) = self.family_live.get(&family).copied() {
                tracing::warn!(target: TRACING_TARGET, "a rotated refresh token was presented again; its family is revoked");
                self.remove_live(&current);
            }
        }
    }

    /// Spends the live token `id` (if it is still the one found as `seq`) and issues its
    /// successor in the same family, with the same expiry. `None`: it was spent or dropped in the
    /// meantime.
    pub(super) fn rotate(&mut self, id: &TokenId, seq: u64) -> Result<Option<Zeroizing<String>>> {
        if self.live.get(id).map(|l| l.seq) != Some(seq) {
            // Spent by a concurrent request that got here first: a reuse too, so the successor
            // it was given is revoked, as `find` does for a later reuse (RFC 9700 §4.14.2).
            self.revoke_if_rotated(id);
            return Ok(None);
        }
        let Some(old) = self.remove_live(id) else { return Ok(None) };
        while self.rotated.len() >= self.max {
            let Some((_, oldest)) = self.rotated_order.pop_first() else { break };
            self.rotated.remove(&oldest);
        }
        self.rotated.insert(*id, (old.family, old.seq));
        self.rotated_order.insert(old.seq, *id);
        self.issue(old.grant, Some(old.family), old.expires).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn grant() -> Arc<RefreshGrant> {
        Arc::new(RefreshGrant {
            client_id: "c".into(),
            subject: "alice".into(),
            scope: Scope::parse("a").unwrap(),
            resources: vec!["https://rs.example".into()],
        })
    }

    #[test]
    fn refresh_tokens_rotate_and_a_reuse_revokes_the_family() {
        let mut store = RefreshStore::new(10);
        let later = Instant::now() + Duration::from_secs(60);
        let first = store.issue(grant(), None, later).unwrap();
        let (_, seq) = store.find(&token_id(&first), Instant::now()).unwrap();
        let second = store.rotate(&token_id(&first), seq).unwrap().unwrap();
        assert_ne!(*first, *second);
        assert!(store.find(&token_id(&second), Instant::now()).is_some());
        // The spent token again: refused, and its successor is revoked with it.
        assert!(store.find(&token_id(&first), Instant::now()).is_none());
        assert!(store.find(&token_id(&second), Instant::now()).is_none());
    }

    #[test]
    fn refresh_tokens_are_bounded_and_expire() {
        let mut store = RefreshStore::new(2);
        let later = Instant::now() + Duration::from_secs(60);
        let tokens: Vec<_> = (0..3).map(|_| store.issue(grant(), None, later).unwrap()).collect();
        assert_eq!(store.live.len(), 2);
        assert!(store.find(&token_id(&tokens[0]), Instant::now()).is_none(), "oldest dropped");
        assert!(store.find(&token_id(&tokens[2]), Instant::now()).is_some());
        assert!(store.find(&token_id(&tokens[2]), later + Duration::from_secs(1)).is_none(), "expired");
        assert!(store.find(&token_id(&tokens[2]), Instant::now()).is_none(), "removed when expired");
    }

    #[test]
    fn a_stale_rotation_loses() {
        let mut store = RefreshStore::new(10);
        let later = Instant::now() + Duration::from_secs(60);
        let first = store.issue(grant(), None, later).unwrap();
        let (_, seq) = store.find(&token_id(&first), Instant::now()).unwrap();
        let second = store.rotate(&token_id(&first), seq).unwrap().unwrap();
        assert!(store.rotate(&token_id(&first), seq).unwrap().is_none(), "a second rotation of one token");
        // Two requests presented `first` at once: the loser's reuse revokes the winner's successor.
        assert!(store.find(&token_id(&second), Instant::now()).is_none(), "the successor survived a reuse");
    }
}
