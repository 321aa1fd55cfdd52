//! Building a [`ResourceServer`]: named setters for its own decryption keys and for the
//! authorization server's signing keys (each fixed or from a live [`JwkSource`]), then one
//! fallible `build()`; and [`OpenRequest`], an open with options.

use std::sync::Arc;

use crate::error::{Error, Misuse, Result};
use crate::jwe::DecryptPolicy;
use crate::jwk::{JwkSet, JwkSource};
use crate::token::ResourceIndicator;
use crate::token_cache::TokenCache;

use super::{check_decryption_keys, policy_in_force, Keys, ResourceServer, Validation};

/// Builds a [`ResourceServer`]; made by [`ResourceServer::builder`].
///
/// The resource and the trusted issuer are given first, the two key sets by name, so the RS's
/// private keys and the AS's public keys cannot be swapped by position:
///
/// ```
/// # use jwe_mint::issuer::{Grant, Issuer};
/// # use jwe_mint::jwk::{Curve, Jwk, JwkSet};
/// # use jwe_mint::registry::{Registry, ResourceEntry};
/// use jwe_mint::resource_server::{OpenRequest, ResourceServer};
/// # let as_key = Jwk::generate(Curve::P256).unwrap();
/// # let rs_key = Jwk::generate(Curve::P256).unwrap();
/// # let mut registry = Registry::default();
/// # registry.insert(ResourceEntry::new("https://photos.example.com", ["photos.read"],
/// #     JwkSet::new(vec![rs_key.to_public().unwrap()])).unwrap()).unwrap();
/// # let issuer = Issuer::builder("https://as.example.com", &as_key).registry(registry)
/// #     .allow_client("app", &["https://photos.example.com"]).unwrap().build().unwrap();
/// # let grant = Grant::new("alice", "app", "photos.read", &["https://photos.example.com"]).unwrap();
/// # let token = issuer.mint(&grant, "https://photos.example.com").unwrap().access_token;
/// let rs = ResourceServer::builder("https://photos.example.com", "https://as.example.com")
///     .decryption_keys(JwkSet::new(vec![rs_key]))
///     .issuer_keys(issuer.verification_keys().clone())
///     .build()
///     .unwrap();
/// assert_eq!(rs.open(&token).unwrap().subject(), "alice");
/// let at = rs.open_with(&OpenRequest::new(&token).audience("https://photos.example.com")).unwrap();
/// assert!(at.has_scope("photos.read"));
/// ```
#[derive(Debug)]
#[must_use = "a builder does nothing until build() is called"]
pub struct ResourceServerBuilder {
    resource: String,
    issuer: String,
    decryption_keys: Option<DecryptionKeys>,
    issuer_keys: Option<IssuerKeys>,
    validation: Validation,
    decrypt_policy: DecryptPolicy,
    cache: Option<usize>,
}

/// The RS's own keys as given, checked in `build()`.
#[derive(Debug)]
enum DecryptionKeys {
    Fixed(JwkSet),
    Live(Arc<dyn JwkSource>),
}

/// The AS's keys as given, checked in `build()`.
#[derive(Debug)]
enum IssuerKeys {
    Fixed(JwkSet),
    Live(Arc<dyn JwkSource>),
}

impl ResourceServerBuilder {
    pub(super) fn new(resource: &str, issuer: &str) -> ResourceServerBuilder {
        ResourceServerBuilder {
            resource: resource.to_owned(),
            issuer: issuer.to_owned(),
            decryption_keys: None,
            issuer_keys: None,
            validation: Validation::default(),
            decrypt_policy: DecryptPolicy::default(),
            cache: None,
        }
    }

    /// The trusted authorization server's issuer identifier, as given (e.g. for discovering its
    /// keys before `build()`).
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// This RS's private decryption keys (several during a rotation).
    pub fn decryption_keys(mut self, keys: JwkSet) -> Self {
        self.decryption_keys = Some(DecryptionKeys::Fixed(keys));
        self
    }

    /// This RS's private decryption keys from a live `source` (e.g. a key file reloaded when it
    /// changes, as `jwe-mint gateway` does): every open reads the source's current snapshot, so a
    /// key added there opens tokens at once and a key removed stops opening them, cached tokens
    /// included. The source must hold private asymmetric keys when `build()` runs; it is
    /// responsible for the sets it swaps in later (a key that cannot decrypt only makes opens
    /// fail).
    pub fn decryption_key_source(mut self, source: Arc<dyn JwkSource>) -> Self {
        self.decryption_keys = Some(DecryptionKeys::Live(source));
        self
    }

    /// The authorization server's public signing keys, fixed.
    pub fn issuer_keys(mut self, keys: JwkSet) -> Self {
        self.issuer_keys = Some(IssuerKeys::Fixed(keys));
        self
    }

    /// The authorization server's public signing keys from a live `source` (e.g. its `jwks_uri`
    /// through `jwe_mint::wire`, feature `http`): every open reads the source's current snapshot
    /// (no I/O, no lock), and a token whose `kid` the snapshot lacks asks the source to refetch
    /// ([`JwkSource::unknown_kid`], rate-limited by the source).
    /// [`ResourceServer::open`] refuses that token at once; [`ResourceServer::open_async`] waits
    /// for the refetch and tries again, so the first token signed with a rotated-in AS key opens.
    ///
    /// The source must have keys when `build()` runs. A source that later fails closed (stale
    /// past its cap) makes every open fail with [`Error::KeySource`].
    pub fn issuer_key_source(mut self, source: Arc<dyn JwkSource>) -> Self {
        self.issuer_keys = Some(IssuerKeys::Live(source));
        self
    }

    /// The claim validation settings (default: [`Validation::default`]).
    pub fn validation(mut self, validation: Validation) -> Self {
        self.validation = validation;
        self
    }

    /// The JWE decryption policy (`enc` stays required in the protected header; without
    /// `dangerous_accept_multi_audience`, one recipient).
    pub fn decrypt_policy(mut self, policy: DecryptPolicy) -> Self {
        self.decrypt_policy = policy;
        self
    }

    /// Opt-in: keep up to `capacity` opened tokens, keyed by the SHA-256 of the token, for
    /// resource servers that see the same token many times. A cached token is never served after
    /// its `exp`, and its claims are re-validated (times, demanded audience) on every hit. Clones
    /// of the built `ResourceServer` share the cache (its settings cannot change after `build()`).
    pub fn cache(mut self, capacity: usize) -> Self {
        self.cache = Some(capacity);
        self
    }

    /// Checks everything and builds the resource server: the resource is an RFC 8707 resource
    /// indicator, the issuer an absolute URI, the RS's keys private and asymmetric, the AS's
    /// keys public and (when fixed) not empty.
    pub fn build(self) -> Result<ResourceServer> {
        // The AS keys first, then the resource and the RS keys, then the issuer URI.
        let issuer_keys = match self.issuer_keys {
            None => return Err(Error::Misuse(Misuse::MissingKeys("issuer keys"))),
            Some(IssuerKeys::Fixed(keys)) => {
                check_issuer_keys(&keys)?;
                if keys.keys().is_empty() {
                    return Err(Error::invalid_key("no authorization server key"));
                }
                Keys::Fixed(Arc::new(keys))
            }
            Some(IssuerKeys::Live(source)) => {
                check_issuer_keys(&*source.keys()?)?;
                Keys::Live(source)
            }
        };
        let resource = ResourceIndicator::parse(&self.resource)?;
        let keys = match self.decryption_keys {
            None => return Err(Error::Misuse(Misuse::MissingKeys("decryption keys"))),
            Some(DecryptionKeys::Fixed(keys)) => {
                check_decryption_keys(&keys)?;
                Keys::Fixed(Arc::new(keys))
            }
            Some(DecryptionKeys::Live(source)) => {
                check_decryption_keys(&*source.keys()?)?;
                Keys::Live(source)
            }
        };
        ResourceIndicator::parse(&self.issuer)
            .map_err(|_| Error::Misuse(Misuse::NotAbsoluteUri("issuer")))?;
        Ok(ResourceServer {
            resource,
            keys,
            issuer: self.issuer,
            issuer_keys,
            policy: policy_in_force(&self.decrypt_policy, &self.validation),
            validation: self.validation,
            cache: self.cache.map(|capacity| Arc::new(TokenCache::new(capacity))),
        })
    }
}

/// The AS's keys verify signatures: a private key there is a configuration mistake.
fn check_issuer_keys(keys: &JwkSet) -> Result<()> {
    if keys.keys().iter().any(|k| k.is_private()) {
        return Err(Error::invalid_key("the authorization server's keys must be public"));
    }
    Ok(())
}

/// One open with what [`ResourceServer::open`] leaves out: a demanded audience, a fixed time.
///
/// ```
/// use jwe_mint::resource_server::OpenRequest;
/// let request = OpenRequest::new("eyJ…").audience("https://api.example.com/tenants/42").at(1_700_000_000);
/// assert_eq!(request.demanded_audience(), Some("https://api.example.com/tenants/42"));
/// ```
#[derive(Debug, Clone, Copy)]
#[must_use]
pub struct OpenRequest<'a> {
    pub(super) token: &'a str,
    pub(super) audience: Option<&'a str>,
    pub(super) now: Option<i64>,
}

impl<'a> OpenRequest<'a> {
    /// An open of `token`, at the current time, for this RS's own resource.
    pub fn new(token: &'a str) -> OpenRequest<'a> {
        OpenRequest { token, audience: None, now: None }
    }

    /// `aud` must contain exactly `audience` (e.g. the tenant URI this request serves), which
    /// must itself belong to this RS.
    pub fn audience(mut self, audience: &'a str) -> Self {
        self.audience = Some(audience);
        self
    }

    /// Validates the times against `now` (seconds since the epoch) instead of the clock, for
    /// tests and replays.
    pub fn at(mut self, now: i64) -> Self {
        self.now = Some(now);
        self
    }

    /// The demanded audience, if any.
    pub fn demanded_audience(&self) -> Option<&'a str> {
        self.audience
    }
}
