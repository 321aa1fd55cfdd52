//! The resource server's face: open an access token locally — decrypt with its own key, verify
//! the AS signature, validate the claims — and get typed claims or one clear error.

use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::{Error, KeySourceError, LimitExceeded, Result, TokenRejection};
use crate::json;
use crate::jwa::KeyManagementAlg;
use crate::jwe::{self, DecryptPolicy};
use crate::jwk::{Freshness, Jwk, JwkSet, JwkSource, PublicKeyUse};
use crate::jws;
use crate::token::{self, AccessTokenClaims, ResourceIndicator};
use crate::token_cache::TokenCache;

mod builder;
mod validation;

pub use builder::{OpenRequest, ResourceServerBuilder};
pub use validation::{Validation, DEFAULT_LEEWAY};

/// A validated access token.
///
/// Cloning is cheap (the claims are shared).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AccessToken {
    claims: Arc<AccessTokenClaims>,
    raw: Arc<Map<String, Value>>,
    key_management: Option<KeyManagementAlg>,
}

impl AccessToken {
    /// The subject (`sub`).
    pub fn subject(&self) -> &str {
        &self.claims.sub
    }

    /// The DPoP key thumbprint the token is bound to (`cnf.jkt`, RFC 9449 §6.1): such a token is
    /// accepted only with a proof of that key (`Authorization: DPoP`), never as a Bearer token.
    pub fn dpop_jkt(&self) -> Option<&str> {
        self.claims.cnf.as_ref().and_then(|c| c.jkt.as_deref())
    }

    /// Whether the token is bound to a key (`cnf` present, whatever the method): the presenter
    /// must prove it holds that key.
    pub fn is_sender_constrained(&self) -> bool {
        self.claims.cnf.is_some()
    }

    /// The client (`client_id`).
    pub fn client_id(&self) -> &str {
        &self.claims.client_id
    }

    /// The scopes.
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.claims.scopes()
    }

    /// Whether the token carries `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes().any(|s| s == scope)
    }

    /// The typed RFC 9068 claims.
    pub fn standard_claims(&self) -> &AccessTokenClaims {
        &self.claims
    }

    /// All claims as JSON.
    pub fn raw_claims(&self) -> &Map<String, Value> {
        &self.raw
    }

    /// The claims deserialized into the caller's own type.
    pub fn claims<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_value(Value::Object((*self.raw).clone()))
            .map_err(|_| Error::malformed("claims do not fit the requested type"))
    }

    /// The JWE key-management algorithm the token used (`None` for an unencrypted token accepted
    /// under `dangerous_accept_unencrypted`).
    pub fn key_management(&self) -> Option<KeyManagementAlg> {
        self.key_management
    }
}

/// What a resource server's token cache holds and has served ([`ResourceServer::cache_stats`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct CacheStats {
    /// Tokens held now (only tokens that opened; never past their `exp` when served).
    pub entries: usize,
    /// Opens answered from the cache (the claims are still re-validated on each).
    pub hits: u64,
    /// Opens within the size limit that took the full path: not cached, or cached but past `exp`.
    pub misses: u64,
}

/// A resource server: its resource identifier, its private keys (several during rotation), and
/// the authorization server it trusts.
///
/// ```
/// use jwe_mint::issuer::{Grant, Issuer};
/// use jwe_mint::jwk::{Curve, Jwk, JwkSet};
/// use jwe_mint::registry::{Registry, ResourceEntry};
/// use jwe_mint::resource_server::ResourceServer;
///
/// let as_key = Jwk::generate(Curve::P256).unwrap();
/// let rs_key = Jwk::generate(Curve::P256).unwrap();
/// let mut registry = Registry::default();
/// registry.insert(ResourceEntry::new("https://photos.example.com", ["photos.read"],
///     JwkSet::new(vec![rs_key.to_public().unwrap()])).unwrap()).unwrap();
/// let issuer = Issuer::builder("https://as.example.com", &as_key).registry(registry)
///     .allow_client("app", &["https://photos.example.com"]).unwrap().build().unwrap();
/// let grant = Grant::new("alice", "app", "photos.read", &["https://photos.example.com"]).unwrap();
/// let token = issuer.mint(&grant, "https://photos.example.com").unwrap().access_token;
///
/// let rs = ResourceServer::builder("https://photos.example.com", "https://as.example.com")
///     .decryption_keys(JwkSet::new(vec![rs_key]))
///     .issuer_keys(issuer.verification_keys().clone())
///     .build()
///     .unwrap();
/// let at = rs.open(&token).unwrap();
/// assert_eq!(at.subject(), "alice");
/// assert!(at.has_scope("photos.read"));
/// ```
#[derive(Debug, Clone)]
pub struct ResourceServer {
    resource: ResourceIndicator,
    keys: Keys,
    issuer: String,
    issuer_keys: Keys,
    validation: Validation,
    /// The policy in force: the configured one with `enc` protection required and, unless
    /// multi-audience tokens are accepted, a single recipient ([`policy_in_force`]).
    policy: DecryptPolicy,
    cache: Option<Arc<TokenCache<Cached>>>,
}

/// Where a key set comes from: fixed at construction, or a live source (the AS's `jwks_uri` kept
/// fresh by the `wire` module, an RS key file reloaded on change) read as an `Arc` snapshot on
/// each open.
#[derive(Debug, Clone)]
enum Keys {
    Fixed(Arc<JwkSet>),
    Live(Arc<dyn JwkSource>),
}

impl Keys {
    fn snapshot(&self) -> Result<Arc<JwkSet>> {
        match self {
            Keys::Fixed(set) => Ok(Arc::clone(set)),
            Keys::Live(source) => Ok(source.keys()?),
        }
    }

    fn freshness(&self) -> Option<Freshness> {
        match self {
            Keys::Fixed(_) => None,
            Keys::Live(source) => source.freshness(),
        }
    }
}

/// The key sets one open used: a cached token is served only while both are still the ones in
/// force, so a key removed from either set stops opening the tokens it opened (the `Arc`s held
/// here keep the comparison exact: an address cannot be reused while it is held).
struct Snapshots {
    keys: Arc<JwkSet>,
    issuer_keys: Arc<JwkSet>,
}

impl Snapshots {
    fn same_as(&self, other: &Snapshots) -> bool {
        Arc::ptr_eq(&self.keys, &other.keys) && Arc::ptr_eq(&self.issuer_keys, &other.issuer_keys)
    }
}

/// A cache entry: the opened token and the key sets that opened it.
struct Cached {
    token: AccessToken,
    opened_with: Snapshots,
}

/// One attempt at opening a token: the outcome, and the `kid` the token's signature named when
/// no issuer key had it (a candidate for a refetch of a live source).
struct Attempt {
    outcome: Result<AccessToken>,
    unknown_kid: Option<String>,
}

impl ResourceServer {
    /// Starts a resource server for `resource` (its RFC 8707 resource indicator) that trusts the
    /// authorization server `issuer`; name its keys and the AS's keys on the builder.
    pub fn builder(resource: &str, issuer: &str) -> ResourceServerBuilder {
        ResourceServerBuilder::new(resource, issuer)
    }

    /// The counters of the token cache, or `None` without one ([`ResourceServerBuilder::cache`]).
    /// Clones share the cache and report the same counters.
    pub fn cache_stats(&self) -> Option<CacheStats> {
        self.cache.as_ref().map(|c| {
            let c = c.counters();
            CacheStats { entries: c.entries, hits: c.hits, misses: c.misses }
        })
    }

    /// The resource identifier.
    pub fn resource(&self) -> &str {
        self.resource.as_str()
    }

    /// The trusted authorization server's issuer identifier.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The public halves of this RS's decryption keys, as an RS publishes them at its `jwks_uri`
    /// (RFC 9728 §2): `use: enc`, `alg` kept or set to the default for the key type, `kid` kept or
    /// set to the RFC 7638 thumbprint, never a private member. Keys marked `use: sig` are not
    /// published.
    pub fn public_keys(&self) -> Result<JwkSet> {
        let keys = self.keys.snapshot()?;
        let published = keys.iter().filter(|k| k.key_use() != Some(&PublicKeyUse::Signature));
        Ok(JwkSet::new(published.map(published_key).collect::<Result<Vec<_>>>()?))
    }

    /// Whether tokens can be opened now, for a readiness check (no I/O): this RS's decryption
    /// keys are loaded and not empty, and the authorization server's keys are loaded and, from a
    /// refreshing source, within their staleness cap. The error says which is missing.
    pub fn ready(&self) -> Result<()> {
        if self.keys.snapshot()?.keys().is_empty() {
            return Err(Error::KeySource(KeySourceError::NoUsableKey {
                location: "the resource server's decryption keys".into(),
                reason: "the set is empty".into(),
            }));
        }
        self.issuer_keys.snapshot()?;
        Ok(())
    }

    /// How the live key sources keep their keys fresh (decryption keys, then the authorization
    /// server's), each `None` when fixed or not refreshing ([`JwkSource::freshness`]).
    pub fn key_freshness(&self) -> (Option<Freshness>, Option<Freshness>) {
        (self.keys.freshness(), self.issuer_keys.freshness())
    }

    /// Opens `token`: size check, decrypt with this RS's key, verify the AS signature, validate
    /// `typ`, `iss`, `aud`, `exp`, `nbf`, `iat`.
    ///
    /// This checks the token, not the request that carried it: a token bound to a key (its
    /// `cnf`, [`AccessToken::is_sender_constrained`]; a DPoP `cnf.jkt`, RFC 9449 §6) opens here
    /// like any other. Before accepting one, a resource server must check the request's proof of
    /// that key (RFC 9449 §7: [`DpopValidation`](crate::dpop::DpopValidation) with
    /// [`DpopRequest::bound_to`](crate::dpop::DpopRequest::bound_to), as `BearerLayer` and the
    /// gateway do), or a stolen token works as a bearer token.
    pub fn open(&self, token: &str) -> Result<AccessToken> {
        self.open_sync(token, None, token::now())
    }

    /// [`open`](Self::open) with a demanded audience and a time, as [`open_with`](Self::open_with).
    fn open_sync(&self, token: &str, audience: Option<&str>, now: i64) -> Result<AccessToken> {
        let attempt = self.attempt(token, audience, now);
        if let (Some(kid), Keys::Live(source)) = (&attempt.unknown_kid, &self.issuer_keys) {
            // Never waits: the refetch (if the source's rate limit allows one) runs in the
            // background and helps the next token with this kid.
            source.unknown_kid(kid);
        }
        self.audit(attempt.outcome)
    }

    /// Opens with the options of `request`: `aud` must contain exactly its demanded audience (e.g.
    /// the tenant URI this request serves), which must itself belong to this RS; the times are
    /// validated against its fixed time (tests, replays).
    pub fn open_with(&self, request: &OpenRequest<'_>) -> Result<AccessToken> {
        self.open_sync(request.token, request.audience, request.now.unwrap_or_else(token::now))
    }

    /// [`open_with`](Self::open_with) that waits for a live AS key source's refetch as
    /// [`open_async`](Self::open_async) does.
    pub async fn open_with_async(&self, request: &OpenRequest<'_>) -> Result<AccessToken> {
        self.open_async_for(request.token, request.audience, request.now).await
    }

    /// Like [`ResourceServer::open`], but when the AS keys come from a live source
    /// ([`ResourceServerBuilder::issuer_key_source`]) and the token names a `kid` the current keys
    /// lack, waits for the source's refetch (one shared fetch, rate-limited: OpenID Connect Core
    /// §10.1.1) and tries once more. With fixed keys it is [`open`](Self::open).
    pub async fn open_async(&self, token: &str) -> Result<AccessToken> {
        self.open_async_for(token, None, None).await
    }

    async fn open_async_for(
        &self,
        token: &str,
        audience: Option<&str>,
        now: Option<i64>,
    ) -> Result<AccessToken> {
        let first = self.attempt(token, audience, now.unwrap_or_else(token::now));
        let (Some(kid), Keys::Live(source)) = (&first.unknown_kid, &self.issuer_keys) else {
            return self.audit(first.outcome);
        };
        if let Err(e) = source.keys_with_kid(kid).await {
            return self.audit(Err(e.into()));
        }
        self.audit(self.attempt(token, audience, now.unwrap_or_else(token::now)).outcome)
    }

    /// Opens without logging: size check, then the cache or the full path.
    fn attempt(&self, token: &str, audience: Option<&str>, now: i64) -> Attempt {
        let token = token.strip_suffix('\n').unwrap_or(token);
        if token.len() > self.policy.max_token_size {
            // Before any parsing or hashing.
            let outcome = Err(LimitExceeded::TokenTooLarge { max: self.policy.max_token_size }.into());
            return Attempt { outcome, unknown_kid: None };
        }
        let mut unknown_kid = None;
        let outcome = self.open_sized(token, audience, now, &mut unknown_kid);
        Attempt { outcome, unknown_kid }
    }

    /// One audit event per open (target `jwe_mint::audit`), whatever the number of attempts.
    fn audit(&self, outcome: Result<AccessToken>) -> Result<AccessToken> {
        match &outcome {
            Ok(t) => tracing::info!(
                target: crate::tracing_targets::AUDIT,
                event = "open",
                outcome = "accepted",
                resource = self.resource.as_str(),
                client_id = t.client_id(),
                subject = t.subject(),
                jti = t.claims.jti.as_str(),
            ),
            Err(e) => tracing::warn!(
                target: crate::tracing_targets::AUDIT,
                event = "open",
                outcome = "rejected",
                resource = self.resource.as_str(),
                error = %e,
            ),
        }
        outcome
    }

    /// The cache in front of [`ResourceServer::open_inner`], for a token within the size limit.
    fn open_sized(
        &self,
        token: &str,
        audience: Option<&str>,
        now: i64,
        unknown_kid: &mut Option<String>,
    ) -> Result<AccessToken> {
        let snapshots = Snapshots { keys: self.keys.snapshot()?, issuer_keys: self.issuer_keys.snapshot()? };
        let Some(cache) = &self.cache else {
            return self.open_inner(token, audience, now, unknown_kid, &snapshots);
        };
        let key = TokenCache::<Cached>::key(token);
        if let Some(hit) = cache.get(&key, now) {
            // Keys rotated out since (either side): open it afresh, as if not cached.
            if hit.opened_with.same_as(&snapshots) {
                let hit = &hit.token;
                if hit.key_management.is_none() && !self.validation.dangerous_accept_unencrypted {
                    return Err(Error::InvalidToken(TokenRejection::NotEncrypted));
                }
                return self.validate(&hit.claims, audience, now).map(|()| hit.clone());
            }
        }
        let opened = self.open_inner(token, audience, now, unknown_kid, &snapshots);
        if let Ok(t) = &opened {
            let entry = Cached { token: t.clone(), opened_with: snapshots };
            cache.insert(key, t.claims.exp, Arc::new(entry), now);
        }
        opened
    }

    fn open_inner(
        &self,
        token: &str,
        audience: Option<&str>,
        now: i64,
        unknown_kid: &mut Option<String>,
        snapshots: &Snapshots,
    ) -> Result<AccessToken> {
        // Serialization detected exactly as the JOSE layer does (JSON may start with whitespace).
        let json_serialized = jwe::is_json_serialization(token);
        let unencrypted = !json_serialized && token.bytes().filter(|b| *b == b'.').count() == 2;
        let decrypted = if unencrypted {
            if !self.validation.dangerous_accept_unencrypted {
                return Err(Error::InvalidToken(TokenRejection::NotEncrypted));
            }
            None
        } else {
            // RFC 9068 access tokens travel as compact JWTs (RFC 7519 §7.2). A JSON serialization
            // gives one token many spellings (unprotected headers, member order), which defeats
            // deny-lists and caches keyed on the text; only multi-audience tokens need it.
            if json_serialized && !self.validation.dangerous_accept_multi_audience {
                return Err(Error::InvalidToken(TokenRejection::NotCompact));
            }
            let d = jwe::decrypt(token, &snapshots.keys, &self.policy)?;
            // Type and routing claims count only when integrity protected.
            let cty = d.protected.get("cty").and_then(Value::as_str).unwrap_or("");
            if !token::is_nested_cty(cty) {
                return Err(Error::InvalidToken(TokenRejection::WrongType));
            }
            for name in ["iss", "aud", "sub"] {
                if d.header.contains_key(name) && !d.protected.contains_key(name) {
                    return Err(Error::InvalidToken(TokenRejection::HeaderClaimMismatch(name)));
                }
            }
            Some(d)
        };
        // Borrow the decrypted bytes (they stay in their zeroizing buffer).
        let jws_text = match &decrypted {
            Some(d) => std::str::from_utf8(&d.plaintext)
                .map_err(|_| Error::malformed("nested token is not UTF-8"))?,
            None => token,
        };
        let outer = decrypted.as_ref().map(|d| &d.protected);
        let key_management = decrypted.as_ref().map(|d| d.alg);
        let issuer_keys = &snapshots.issuer_keys;
        let verified = if let Keys::Live(_) = &self.issuer_keys {
            jws::verify_compact_noting_kid(jws_text, issuer_keys, &self.validation.signing_algs, unknown_kid)?
        } else {
            jws::verify_compact(jws_text, issuer_keys, &self.validation.signing_algs)?
        };
        match verified.header.get("typ") {
            Some(Value::String(t)) if token::is_at_jwt(t) => {}
            _ => return Err(Error::InvalidToken(TokenRejection::WrongType)),
        }
        let raw = json::parse_object(&verified.payload, "claims")?;
        // One typed parse, from a borrowed value (no copy of the claims map); when it fails, name
        // the claim that is missing or of the wrong type.
        let raw = Value::Object(raw);
        let typed = AccessTokenClaims::deserialize(&raw);
        let Value::Object(raw) = raw else { return Err(Error::malformed("claims")) };
        let claims =
            typed.map_err(|_| Error::InvalidToken(TokenRejection::MissingClaim(first_bad_claim(&raw))))?;
        self.validate(&claims, audience, now)?;
        if let Some(outer) = outer {
            for name in ["iss", "aud", "sub"] {
                if let Some(v) = outer.get(name) {
                    if raw.get(name) != Some(v) {
                        return Err(Error::InvalidToken(TokenRejection::HeaderClaimMismatch(name)));
                    }
                }
            }
        }
        Ok(AccessToken { claims: Arc::new(claims), raw: Arc::new(raw), key_management })
    }

    fn validate(&self, c: &AccessTokenClaims, audience: Option<&str>, now: i64) -> Result<()> {
        let reject = |r| Err(Error::InvalidToken(r));
        let leeway = i64::try_from(self.validation.leeway).unwrap_or(i64::MAX);
        if c.iss != self.issuer {
            return reject(TokenRejection::WrongIssuer);
        }
        if now > c.exp.saturating_add(leeway) {
            return reject(TokenRejection::Expired);
        }
        if c.nbf.into_iter().chain([c.iat]).any(|t| t > now.saturating_add(leeway)) {
            return reject(TokenRejection::NotYetValid);
        }
        if c.aud.is_empty() {
            return reject(TokenRejection::MissingClaim("aud"));
        }
        if c.aud.len() > 1 && !self.validation.dangerous_accept_multi_audience {
            return reject(TokenRejection::MultipleAudiences);
        }
        let mine = |a: &str| {
            a == self.resource.as_str()
                || (self.validation.accept_subresources && token::covers(self.resource.as_str(), a))
        };
        let ok = match audience {
            Some(demanded) => mine(demanded) && c.aud.contains(demanded),
            None => c.aud.iter().any(mine),
        };
        if !ok {
            return reject(TokenRejection::WrongAudience);
        }
        Ok(())
    }
}

/// The public JWK an RS publishes for one of its decryption keys (RFC 9728 §2): `use: enc`, `alg`
/// kept or set to the default for the key type (so the AS encrypts with what this RS expects),
/// `kid` kept or set to the RFC 7638 thumbprint, never a private member. Symmetric keys have no
/// public half: `Err`.
pub(crate) fn published_key(key: &Jwk) -> Result<Jwk> {
    let public = key.to_public()?;
    let alg = KeyManagementAlg::default_for(&public)?;
    let kid = public.kid().map_or_else(|| public.thumbprint(), str::to_owned);
    Ok(public.with_use(PublicKeyUse::Encryption).with_alg(alg.name()).with_kid(kid))
}

/// The decrypt policy a resource server applies: `configured` with `enc` required in the protected
/// header and, unless `validation` accepts multi-audience tokens, one recipient.
fn policy_in_force(configured: &DecryptPolicy, validation: &Validation) -> DecryptPolicy {
    let mut policy = configured.clone();
    policy.require_protected_enc = true;
    if !validation.dangerous_accept_multi_audience {
        policy.max_recipients = 1;
    }
    policy
}

/// A resource server decrypts with private asymmetric keys, and needs at least one.
fn check_decryption_keys(keys: &JwkSet) -> Result<()> {
    if keys.keys().iter().any(|k| !k.is_private() || k.is_symmetric()) {
        return Err(Error::invalid_key("resource server keys must be private asymmetric keys"));
    }
    if keys.keys().is_empty() {
        return Err(Error::invalid_key("no resource server decryption key"));
    }
    Ok(())
}

/// The first registered claim (RFC 9068 §2.2, RFC 7519 §4.1) that is missing or of the wrong JSON
/// type, for a claims object that did not deserialize into [`AccessTokenClaims`].
fn first_bad_claim(c: &Map<String, Value>) -> &'static str {
    fn string(v: &Value) -> bool {
        v.is_string()
    }
    fn time(v: &Value) -> bool {
        v.as_i64().is_some()
    }
    fn strings(v: &Value) -> bool {
        v.as_array().is_some_and(|a| a.iter().all(Value::is_string))
    }
    fn audience(v: &Value) -> bool {
        string(v) || strings(v)
    }
    /// (claim, required, well typed).
    type Check = (&'static str, bool, fn(&Value) -> bool);
    const CLAIMS: [Check; 12] = [
        ("iss", true, string),
        ("exp", true, time),
        ("aud", true, audience),
        ("sub", true, string),
        ("client_id", true, string),
        ("iat", true, time),
        ("jti", true, string),
        ("scope", false, string),
        ("nbf", false, time),
        ("auth_time", false, time),
        ("acr", false, string),
        ("amr", false, strings),
    ];
    CLAIMS
        .iter()
        .find(|(name, required, well_typed)| c.get(*name).map_or(*required, |v| !well_typed(v)))
        .map_or("claims", |(name, _, _)| name)
}
