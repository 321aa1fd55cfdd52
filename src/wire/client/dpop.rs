//! The client's DPoP state (RFC 9449): its key, and the last nonce each server gave it
//! (`DPoP-Nonce`, §8 at the authorization server, §9 at a resource server), by origin.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use url::Url;

use super::error::ClientError;
use crate::dpop::DpopKey;

/// The `DPoP-Nonce` response field (RFC 9449 §8.1).
pub(super) const DPOP_NONCE: &str = "dpop-nonce";

/// The `DPoP` request field carrying the proof (RFC 9449 §4.1).
pub(super) const DPOP: &str = "dpop";

/// Longest nonce kept: a server cannot make the client store or echo more than this.
const MAX_NONCE_LEN: usize = 512;

/// Most origins whose nonce is kept; when full, the memory starts over (a forgotten nonce costs
/// one more `use_dpop_nonce` round trip, nothing else).
const MAX_ORIGINS: usize = 64;

/// A client's DPoP key and the nonces its servers gave it.
pub(super) struct DpopState {
    pub(super) key: DpopKey,
    nonces: Mutex<HashMap<String, String>>,
}

impl DpopState {
    pub(super) fn new(key: DpopKey) -> DpopState {
        DpopState { key, nonces: Mutex::new(HashMap::new()) }
    }

    /// The nonce last given by `url`'s origin, if any.
    pub(super) fn nonce_for(&self, url: &Url) -> Option<String> {
        let nonces = self.nonces.lock().unwrap_or_else(PoisonError::into_inner);
        nonces.get(&url.origin().ascii_serialization()).cloned()
    }

    /// Remembers the `DPoP-Nonce` of a response from `url` (any status: RFC 9449 §8.2 lets a
    /// server hand the next nonce with a success). Returns the nonce when the response carried a
    /// valid one that differs from the one held before, i.e. when a retry can change anything.
    pub(super) fn remember(&self, url: &Url, headers: &http::HeaderMap) -> Option<String> {
        let mut values = headers.get_all(DPOP_NONCE).iter();
        // One field only: two would leave the client guessing which one the server wants.
        let (Some(value), None) = (values.next(), values.next()) else { return None };
        let nonce = value.to_str().ok().filter(|n| is_nonce(n))?;
        let origin = url.origin().ascii_serialization();
        let mut nonces = self.nonces.lock().unwrap_or_else(PoisonError::into_inner);
        if nonces.get(&origin).is_some_and(|held| held == nonce) {
            return None;
        }
        if nonces.len() >= MAX_ORIGINS && !nonces.contains_key(&origin) {
            nonces.clear();
        }
        nonces.insert(origin, nonce.to_owned());
        Some(nonce.to_owned())
    }

    /// A fresh proof for `method` `url` (htu: the URL without query and fragment, RFC 9449 §4.2),
    /// with `ath` for `access_token` when one is presented, and the origin's nonce when one is
    /// held.
    pub(super) fn proof(
        &self,
        method: &str,
        url: &Url,
        access_token: Option<&str>,
    ) -> Result<http::HeaderValue, ClientError> {
        let nonce = self.nonce_for(url);
        let mut builder = self.key.proof(method, url.as_str());
        if let Some(token) = access_token {
            builder = builder.access_token(token);
        }
        if let Some(nonce) = &nonce {
            builder = builder.nonce(nonce);
        }
        let failed = |reason: String| ClientError::DpopProof { url: crate::untrusted::url(url), reason };
        let proof = builder.sign().map_err(|e| failed(e.to_string()))?;
        http::HeaderValue::from_str(&proof).map_err(|e| failed(e.to_string()))
    }
}

/// RFC 9449 §8.1: `nonce = 1*NQCHAR`, `NQCHAR = %x21 / %x23-5B / %x5D-7E`.
fn is_nonce(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= MAX_NONCE_LEN
        && n.bytes().all(|b| matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonces_are_checked_and_kept_per_origin() {
        let state = DpopState::new(DpopKey::generate().unwrap());
        let a = Url::parse("https://a.example/x?q").unwrap();
        let a2 = Url::parse("https://a.example:443/other").unwrap();
        let b = Url::parse("https://b.example/").unwrap();
        let headers = |values: &[&str]| {
            let mut h = http::HeaderMap::new();
            for v in values {
                h.append(DPOP_NONCE, http::HeaderValue::from_str(v).unwrap());
            }
            h
        };
        for bad in [&["a b"][..], &["a\"b"], &["a\\b"], &["x", "y"], &[]] {
            assert_eq!(state.remember(&a, &headers(bad)), None, "{bad:?}");
        }
        assert_eq!(state.remember(&a, &headers(&[&"n".repeat(MAX_NONCE_LEN + 1)])), None);
        assert_eq!(state.remember(&a, &headers(&["n-1"])).as_deref(), Some("n-1"));
        assert_eq!(state.remember(&a2, &headers(&["n-1"])), None, "same origin, same nonce");
        assert_eq!(state.nonce_for(&a2).as_deref(), Some("n-1"));
        assert_eq!(state.nonce_for(&b), None);
    }
}
