//! An entry's remote keys: the keys the RS publishes (at its `jwks_uri`, or at the one its RFC
//! 9728 metadata names), the [`JwkSource`] they are bound to once, and the choice of the key
//! tokens are encrypted to from each snapshot of that source. Candidates are the keys with `use:
//! enc`, or without `use` in a set without `use: sig` keys (RFC 9728 §2); the first one usable
//! for tokens wins; the choice (or the reason there is none) is made once per snapshot.

use std::sync::{Arc, OnceLock, PoisonError, RwLock};

use super::{usable_alg, EncryptionKey};
use crate::error::{Error, Result};
use crate::jwa::KeyManagementAlg;
use crate::jwk::{JwkSet, JwkSource, KeySourceError, PublicKeyUse};
use crate::token::ResourceIndicator;

/// Keys that come from a [`JwkSource`], and the key chosen from its latest snapshot.
pub(super) struct RemoteKeys {
    pub(super) jwks_uri: Option<String>,
    pub(super) source: OnceLock<Arc<dyn JwkSource>>,
    choice: RwLock<Option<Choice>>,
}

/// The outcome of choosing a key from one snapshot. Holding the snapshot keeps its address from
/// being reused, so pointer equality identifies it.
struct Choice {
    snapshot: Arc<JwkSet>,
    outcome: std::result::Result<Arc<EncryptionKey>, KeySourceError>,
}

impl Clone for RemoteKeys {
    fn clone(&self) -> Self {
        RemoteKeys { jwks_uri: self.jwks_uri.clone(), source: self.source.clone(), choice: RwLock::new(None) }
    }
}

impl std::fmt::Debug for RemoteKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteKeys")
            .field("jwks_uri", &self.jwks_uri)
            .field("source", &self.source.get().map(|s| s.location()))
            .finish_non_exhaustive()
    }
}

impl RemoteKeys {
    /// Keys the RS publishes at `jwks_uri`, or (`None`) at the `jwks_uri` of its RFC 9728
    /// metadata; none until a source is bound.
    pub(super) fn new(jwks_uri: Option<String>) -> RemoteKeys {
        RemoteKeys { jwks_uri, source: OnceLock::new(), choice: RwLock::new(None) }
    }

    /// The key new tokens for `resource` are encrypted to: the choice made from the bound
    /// source's current snapshot, made now if that snapshot is new (see
    /// [`ResourceEntry::encryption_key`](super::ResourceEntry::encryption_key)). `entry_alg` is
    /// the entry's `encryption_alg`.
    pub(super) fn encryption_key(
        &self,
        resource: &ResourceIndicator,
        entry_alg: Option<KeyManagementAlg>,
    ) -> Result<Arc<EncryptionKey>> {
        let Some(source) = self.source.get() else {
            let location = match &self.jwks_uri {
                Some(uri) => uri.clone(),
                None => format!("the RFC 9728 metadata of {resource}"),
            };
            return Err(Error::KeySource(KeySourceError::Unavailable {
                location,
                reason: "not fetched yet".into(),
                source: None,
            }));
        };
        let snapshot = source.keys().map_err(Error::KeySource)?;
        {
            let choice = self.choice.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(c) = choice.as_ref().filter(|c| Arc::ptr_eq(&c.snapshot, &snapshot)) {
                return c.outcome.clone().map_err(Error::KeySource);
            }
        }
        let outcome = choose_key(&snapshot, entry_alg, source.location());
        match &outcome {
            Ok(k) => tracing::info!(target: crate::tracing_targets::KEYS, resource = resource.as_str(),
                location = source.location(), kid = %crate::untrusted::name(k.key.kid().unwrap_or("")), alg = %k.alg,
                "encryption key chosen"),
            Err(e) => tracing::error!(target: crate::tracing_targets::KEYS, resource = resource.as_str(),
                error = %e, "no usable encryption key"),
        }
        *self.choice.write().unwrap_or_else(PoisonError::into_inner) =
            Some(Choice { snapshot, outcome: outcome.clone() });
        outcome.map_err(Error::KeySource)
    }
}

/// A `jwks_uri` in the registry: `https`, a host, no credentials (they would end up in logs),
/// no fragment.
pub(super) fn check_jwks_uri(resource: &ResourceIndicator, uri: &str) -> Result<()> {
    let bad = |why: &str| Error::malformed(format!("{resource}: `jwks_uri` {why}"));
    let url = url::Url::parse(uri).map_err(|_| bad("is not a URL"))?;
    if url.scheme() != "https" {
        return Err(bad("must be an https URL"));
    }
    if url.host().is_none() {
        return Err(bad("needs a host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("must not carry credentials"));
    }
    if url.fragment().is_some() {
        return Err(bad("must not have a fragment"));
    }
    Ok(())
}

/// The first usable encryption key of a fetched set (see
/// [`ResourceEntry::encryption_key`](super::ResourceEntry::encryption_key)).
fn choose_key(
    set: &JwkSet,
    entry_alg: Option<KeyManagementAlg>,
    location: &str,
) -> std::result::Result<Arc<EncryptionKey>, KeySourceError> {
    let has_sig = set.iter().any(|k| k.key_use() == Some(&PublicKeyUse::Signature));
    let mut candidates = 0usize;
    let mut first_refusal: Option<String> = None;
    for key in set {
        let candidate = match key.key_use() {
            Some(PublicKeyUse::Encryption) => true,
            None => !has_sig,
            Some(_) => false,
        };
        if !candidate {
            continue;
        }
        candidates += 1;
        match usable_alg(key, entry_alg) {
            Ok(alg) => return Ok(Arc::new(EncryptionKey { key: key.clone(), alg })),
            Err(why) => {
                if first_refusal.is_none() {
                    let kid = key.kid().map(crate::untrusted::name).unwrap_or_else(|| "(no kid)".into());
                    first_refusal = Some(format!("key {kid}: {why}"));
                }
            }
        }
    }
    let reason = match first_refusal {
        None => format!(
            "none of its {} keys is an encryption key (`use: enc`, or no `use` in a set without `use: sig` keys)",
            set.keys().len()
        ),
        Some(first) => format!("none of its {candidates} encryption keys is usable for tokens ({first})"),
    };
    Err(KeySourceError::NoUsableKey { location: location.to_owned(), reason })
}
