//! The authorization server's face: mint one encrypted access token per resource server.
//!
//! Each token is an RFC 9068 `at+jwt` JWS signed with the AS key, encrypted (compact JWE) to the
//! current key of the one resource server it is for, with `cty: JWT`, the RS key's `kid`, and
//! `iss`/`aud` replicated in the protected header so gateways can route without decrypting.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{json, Map, Value};

use crate::b64;
use crate::error::{Error, Misuse, OAuthErrorCode, Result};
use crate::jwa::SigningAlg;
use crate::jwe::Encryptor;
use crate::jwk::{Jwk, JwkSet};
use crate::jws::{Header, Signer};
use crate::registry::{EncryptionKey, Registry, ResourceEntry};
use crate::token::{
    AccessTokenClaims, Audience, Confirmation, ResourceIndicator, Scope, ACCESS_TOKEN_TYP, RESERVED_CLAIMS,
};

/// Default access-token lifetime in seconds (5 minutes).
pub const DEFAULT_TOKEN_LIFETIME: u64 = 300;

fn oauth(code: OAuthErrorCode, description: impl Into<String>) -> Error {
    Error::OAuth { code, description: description.into() }
}

/// What the resource owner authorized (RFC 8707 §2.1: the resources named at authorization apply
/// to the whole grant). Token requests mint for one of its resources, or all of them.
///
/// ```
/// use jwe_mint::issuer::Grant;
/// let grant = Grant::new("alice", "photo-app", "photos.read friends.read",
///     &["https://photos.example.com", "https://friends.example.com"]).unwrap();
/// assert_eq!(grant.resources().len(), 2);
/// assert!(Grant::new("alice", "app", "s", &["not a uri"]).is_err());
/// ```
#[derive(Debug, Clone)]
pub struct Grant {
    subject: String,
    client_id: String,
    scopes: Scope,
    resources: Vec<ResourceIndicator>,
    auth_time: Option<i64>,
    acr: Option<String>,
    amr: Option<Vec<String>>,
    /// The DPoP key the tokens are bound to (`cnf.jkt`).
    dpop_jkt: Option<String>,
    extra: Map<String, Value>,
}

impl Grant {
    /// A grant of the space-separated `scope` for `resources` to `client_id` on behalf of
    /// `subject`. Malformed resources are `invalid_target`; an empty scope is `invalid_scope`.
    pub fn new(subject: &str, client_id: &str, scope: &str, resources: &[&str]) -> Result<Grant> {
        if subject.is_empty() || client_id.is_empty() {
            return Err(oauth(OAuthErrorCode::InvalidRequest, "subject and client_id are required"));
        }
        // As typed: runs of spaces tolerated, each token checked (RFC 6749 §3.3).
        let scopes = Scope::parse_lenient(scope).map_err(|e| {
            oauth(OAuthErrorCode::InvalidScope, e.to_string().replace("malformed input: ", ""))
        })?;
        if scopes.is_empty() {
            return Err(oauth(OAuthErrorCode::InvalidScope, "no scope requested"));
        }
        if resources.is_empty() {
            return Err(oauth(OAuthErrorCode::InvalidTarget, "no resource requested"));
        }
        let resources = resources.iter().map(|r| ResourceIndicator::parse(r)).collect::<Result<Vec<_>>>()?;
        Ok(Grant {
            subject: subject.to_owned(),
            client_id: client_id.to_owned(),
            scopes,
            resources,
            auth_time: None,
            acr: None,
            amr: None,
            dpop_jkt: None,
            extra: Map::new(),
        })
    }

    /// Records when and how the user authenticated (`auth_time`, `acr`, `amr`).
    pub fn with_authentication(mut self, auth_time: i64, acr: Option<&str>, amr: &[&str]) -> Grant {
        self.auth_time = Some(auth_time);
        self.acr = acr.map(str::to_owned);
        self.amr = if amr.is_empty() { None } else { Some(amr.iter().map(|s| (*s).to_owned()).collect()) };
        self
    }

    /// Binds the tokens minted from this grant to a DPoP key (RFC 9449 §6.1): `cnf.jkt` = `jkt`,
    /// the key's RFC 7638 SHA-256 thumbprint (43 base64url characters), as a checked proof gives
    /// it. Anything else is refused ([`Misuse::NotThumbprint`]).
    pub fn with_dpop_jkt(mut self, jkt: &str) -> Result<Grant> {
        let base64url = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
        if jkt.len() != 43 || !jkt.bytes().all(base64url) {
            return Err(Error::Misuse(Misuse::NotThumbprint));
        }
        self.dpop_jkt = Some(jkt.to_owned());
        Ok(self)
    }

    /// The DPoP key thumbprint the tokens are bound to, if any.
    pub fn dpop_jkt(&self) -> Option<&str> {
        self.dpop_jkt.as_deref()
    }

    /// Adds a caller-defined claim. Registered claim names (`cnf` included) are refused.
    pub fn with_claim(mut self, name: &str, value: impl Into<Value>) -> Result<Grant> {
        if RESERVED_CLAIMS.contains(&name) {
            return Err(Error::Misuse(Misuse::ReservedClaim(name.to_owned())));
        }
        self.extra.insert(name.to_owned(), value.into());
        Ok(self)
    }

    /// The subject.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The client.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The granted resources.
    pub fn resources(&self) -> &[ResourceIndicator] {
        &self.resources
    }

    /// The granted scopes.
    pub fn scopes(&self) -> &Scope {
        &self.scopes
    }
}

/// One minted access token and what the client needs to know about it.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MintedToken {
    /// The resource the token is for (for multi-recipient tokens: every resource).
    pub resources: Vec<String>,
    /// The compact JWE (or general JSON JWE for multi-recipient tokens).
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until expiry.
    pub expires_in: u64,
    /// The scopes the token carries, space-separated.
    pub scope: String,
    /// The token's unique id (for audit logs).
    pub jti: String,
}

impl std::fmt::Debug for MintedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MintedToken")
            .field("resources", &self.resources)
            .field("access_token", &"<redacted>")
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .field("jti", &self.jti)
            .finish()
    }
}

impl MintedToken {
    fn entry_json(&self) -> Value {
        let resource: Value = match self.resources.as_slice() {
            [one] => one.clone().into(),
            many => many.to_vec().into(),
        };
        json!({
            "resource": resource,
            "access_token": self.access_token,
            "token_type": self.token_type,
            "expires_in": self.expires_in,
            "scope": self.scope,
        })
    }
}

/// The tokens minted for one token request.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TokenResponse {
    /// One token per resource, in request order.
    pub tokens: Vec<MintedToken>,
}

impl TokenResponse {
    /// A response carrying `tokens` (e.g. minted one by one with [`Issuer::mint`]).
    pub fn new(tokens: Vec<MintedToken>) -> TokenResponse {
        TokenResponse { tokens }
    }

    /// The token endpoint's JSON (RFC 6749 §5.1, RFC 8707 §2.2): the §5.1 fields for the first
    /// token plus `resource`; with several tokens, `access_tokens` lists all of them.
    ///
    /// ```
    /// # use jwe_mint::issuer::{Grant, Issuer, TokenResponse};
    /// # use jwe_mint::jwk::{Curve, Jwk, JwkSet};
    /// # use jwe_mint::registry::{Registry, ResourceEntry};
    /// # let rs = Jwk::generate(Curve::P256).unwrap();
    /// # let mut reg = Registry::default();
    /// # reg.insert(ResourceEntry::new("https://rs.example", ["a"], JwkSet::new(vec![rs.to_public().unwrap()])).unwrap()).unwrap();
    /// # let issuer = Issuer::builder("https://as.example", &Jwk::generate(Curve::P256).unwrap())
    /// #     .registry(reg).allow_client("c", &["https://rs.example"]).unwrap().build().unwrap();
    /// let grant = Grant::new("alice", "c", "a", &["https://rs.example"]).unwrap();
    /// let json = TokenResponse::new(vec![issuer.mint(&grant, "https://rs.example").unwrap()]).to_json();
    /// assert_eq!(json["resource"], "https://rs.example");
    /// assert_eq!(json["token_type"], "Bearer");
    /// assert!(json.get("access_tokens").is_none());
    /// ```
    pub fn to_json(&self) -> Value {
        let Some(first) = self.tokens.first() else {
            return json!({});
        };
        let mut v = first.entry_json();
        if self.tokens.len() > 1 {
            v["access_tokens"] = self.tokens.iter().map(MintedToken::entry_json).collect::<Vec<_>>().into();
        }
        v
    }
}

/// Builder for [`Issuer`].
#[derive(Debug)]
pub struct IssuerBuilder {
    issuer: String,
    signing_key: Jwk,
    signing_alg: Option<SigningAlg>,
    extra_verification_keys: Vec<Jwk>,
    registry: Registry,
    default_ttl: u64,
    lifetime_override: Option<u64>,
    clients: HashMap<String, Vec<ResourceIndicator>>,
}

impl IssuerBuilder {
    /// The signature algorithm (default: [`SigningAlg::default_for`] the key: its `alg`, else
    /// ES256/ES384/ES512/EdDSA by curve, PS256 for RSA).
    pub fn signing_alg(mut self, alg: SigningAlg) -> Self {
        self.signing_alg = Some(alg);
        self
    }

    /// The resource servers.
    pub fn registry(mut self, registry: Registry) -> Self {
        self.registry = registry;
        self
    }

    /// Default token lifetime in seconds (a registry entry's lifetime overrides it).
    pub fn default_ttl(mut self, seconds: u64) -> Self {
        self.default_ttl = seconds;
        self
    }

    /// Every token lives exactly `seconds`, whatever the registry entries' lifetimes and
    /// [`default_ttl`](Self::default_ttl) say (e.g. an operator's one-off `--ttl`). The registry
    /// itself is left as it is.
    ///
    /// ```
    /// # use jwe_mint::issuer::{Grant, Issuer};
    /// # use jwe_mint::jwk::{Curve, Jwk, JwkSet};
    /// # use jwe_mint::registry::{Registry, ResourceEntry};
    /// # let rs = Jwk::generate(Curve::P256).unwrap();
    /// let mut reg = Registry::default();
    /// reg.insert(ResourceEntry::new("https://rs.example", ["s"], JwkSet::new(vec![rs.to_public().unwrap()]))
    ///     .unwrap().with_token_lifetime(3600)).unwrap();
    /// let issuer = Issuer::builder("https://as.example", &Jwk::generate(Curve::P256).unwrap())
    ///     .registry(reg).token_lifetime_override(60)
    ///     .allow_client("c", &["https://rs.example"]).unwrap().build().unwrap();
    /// let grant = Grant::new("alice", "c", "s", &["https://rs.example"]).unwrap();
    /// assert_eq!(issuer.mint(&grant, "https://rs.example").unwrap().expires_in, 60);
    /// ```
    pub fn token_lifetime_override(mut self, seconds: u64) -> Self {
        self.lifetime_override = Some(seconds);
        self
    }

    /// Lets `client_id` obtain tokens for these resources (each also covers its sub-resources
    /// by path segment). Clients not registered here get `unauthorized_client`.
    pub fn allow_client(mut self, client_id: &str, resources: &[&str]) -> Result<Self> {
        let list = resources.iter().map(|r| ResourceIndicator::parse(r)).collect::<Result<Vec<_>>>()?;
        self.clients.entry(client_id.to_owned()).or_default().extend(list);
        Ok(self)
    }

    /// Publishes another verification key (rotation: the next or previous AS key).
    pub fn publish_verification_key(mut self, key: &Jwk) -> Result<Self> {
        self.extra_verification_keys.push(key.to_public()?);
        Ok(self)
    }

    /// Builds the issuer.
    pub fn build(self) -> Result<Issuer> {
        ResourceIndicator::parse(&self.issuer)
            .map_err(|_| Error::Misuse(Misuse::NotAbsoluteUri("issuer")))?;
        if self.default_ttl == 0 || self.lifetime_override == Some(0) {
            return Err(Error::Misuse(Misuse::ZeroLifetime));
        }
        let alg = match self.signing_alg {
            Some(a) => a,
            None => SigningAlg::default_for(&self.signing_key)?,
        };
        let mut header = Header::new();
        header.insert("typ".into(), ACCESS_TOKEN_TYP.into());
        let signer = Signer::new(&self.signing_key, alg, header)?;
        let mut published = vec![self.signing_key.to_public()?];
        published.extend(self.extra_verification_keys);
        Ok(Issuer {
            issuer: self.issuer,
            signer,
            verification_keys: JwkSet::new(published),
            registry: self.registry,
            default_ttl: self.default_ttl,
            lifetime_override: self.lifetime_override,
            clients: self.clients,
        })
    }
}

/// Mints encrypted access tokens. Immutable once built: share it across threads (`Send + Sync`,
/// no locks on the hot path with static keys).
///
/// A registry entry whose keys the RS publishes (`jwks_uri`, or RFC 9728 discovery) encrypts to
/// the first usable key of its bound source's current snapshot
/// ([`ResourceEntry::encryption_key`]): the choice is made once per snapshot and reused under a
/// read lock. When the keys are not fetched yet, unavailable, or none is usable, every mint path
/// refuses that resource with [`Error::KeySource`] (displayed `server_error: …`), never an
/// unencrypted token.
///
/// ```
/// use jwe_mint::issuer::{Grant, Issuer};
/// use jwe_mint::jwk::{Curve, Jwk, JwkSet};
/// use jwe_mint::registry::{Registry, ResourceEntry};
///
/// let as_key = Jwk::generate(Curve::P256).unwrap();
/// let photos_key = Jwk::generate(Curve::P256).unwrap();
/// let mut registry = Registry::default();
/// registry.insert(ResourceEntry::new("https://photos.example.com", ["photos.read"],
///     JwkSet::new(vec![photos_key.to_public().unwrap()])).unwrap()).unwrap();
/// let issuer = Issuer::builder("https://as.example.com", &as_key)
///     .registry(registry)
///     .allow_client("photo-app", &["https://photos.example.com"]).unwrap()
///     .build().unwrap();
/// let grant = Grant::new("alice", "photo-app", "photos.read openid", &["https://photos.example.com"]).unwrap();
/// let token = issuer.mint(&grant, "https://photos.example.com").unwrap();
/// assert_eq!(token.scope, "photos.read");
/// assert_eq!(token.access_token.split('.').count(), 5);
/// ```
#[derive(Debug)]
pub struct Issuer {
    issuer: String,
    signer: Signer,
    verification_keys: JwkSet,
    registry: Registry,
    default_ttl: u64,
    lifetime_override: Option<u64>,
    clients: HashMap<String, Vec<ResourceIndicator>>,
}

impl Issuer {
    /// Starts building an issuer identified by `issuer` (its URL) that signs with `signing_key`.
    pub fn builder(issuer: &str, signing_key: &Jwk) -> IssuerBuilder {
        IssuerBuilder {
            issuer: issuer.to_owned(),
            signing_key: signing_key.clone(),
            signing_alg: None,
            extra_verification_keys: Vec::new(),
            registry: Registry::default(),
            default_ttl: DEFAULT_TOKEN_LIFETIME,
            lifetime_override: None,
            clients: HashMap::new(),
        }
    }

    /// The issuer identifier.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The AS public keys resource servers should trust (the `jwks_uri` document).
    pub fn verification_keys(&self) -> &JwkSet {
        &self.verification_keys
    }

    /// The registry.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Mints one token for `resource`, which must be one of the grant's resources (RFC 8707: one
    /// resource per token request; a refresh can later mint for another).
    pub fn mint(&self, grant: &Grant, resource: &str) -> Result<MintedToken> {
        self.mint_at(grant, resource, crate::token::now())
    }

    /// [`Issuer::mint`] at a given time (seconds since the epoch), for tests and replays.
    pub fn mint_at(&self, grant: &Grant, resource: &str, now: i64) -> Result<MintedToken> {
        let outcome = self.mint_inner(grant, resource, now);
        audit_mint(grant, resource, &outcome);
        outcome
    }

    /// Mints one compact token per granted resource (RFC 8707 §2: one audience per token). With the
    /// `parallel` feature the tokens are minted as [`Issuer::mint_batch`] mints them.
    pub fn mint_all(&self, grant: &Grant) -> Result<TokenResponse> {
        let now = crate::token::now();
        let requests: Vec<(&Grant, &str)> = grant.resources.iter().map(|r| (grant, r.as_str())).collect();
        let tokens = self.mint_batch_at(&requests, now).into_iter().collect::<Result<Vec<_>>>()?;
        Ok(TokenResponse { tokens })
    }

    /// Mints many tokens (e.g. a queue of token requests), one result per `(grant, resource)`
    /// in order. With the `parallel` feature the calling thread and the current rayon pool (the
    /// pool this is called from, else the global one) share the work: with a pool of `n` threads
    /// the caller and `n - 1` pool tasks take requests one at a time; on a one-thread pool the
    /// caller mints everything itself.
    ///
    /// ```
    /// # use jwe_mint::issuer::{Grant, Issuer};
    /// # use jwe_mint::jwk::{Curve, Jwk, JwkSet};
    /// # use jwe_mint::registry::{Registry, ResourceEntry};
    /// # let rs = Jwk::generate(Curve::P256).unwrap();
    /// # let mut reg = Registry::default();
    /// # reg.insert(ResourceEntry::new("https://rs.example", ["s"], JwkSet::new(vec![rs.to_public().unwrap()])).unwrap()).unwrap();
    /// # let issuer = Issuer::builder("https://as.example", &Jwk::generate(Curve::P256).unwrap())
    /// #     .registry(reg).allow_client("c", &["https://rs.example"]).unwrap().build().unwrap();
    /// let grants: Vec<Grant> = (0..4).map(|i| Grant::new(&format!("user{i}"), "c", "s", &["https://rs.example"]).unwrap()).collect();
    /// let requests: Vec<(&Grant, &str)> = grants.iter().map(|g| (g, "https://rs.example")).collect();
    /// let tokens = issuer.mint_batch(&requests);
    /// assert!(tokens.iter().all(|t| t.is_ok()));
    /// ```
    pub fn mint_batch(&self, requests: &[(&Grant, &str)]) -> Vec<Result<MintedToken>> {
        self.mint_batch_at(requests, crate::token::now())
    }

    fn mint_batch_at(&self, requests: &[(&Grant, &str)], now: i64) -> Vec<Result<MintedToken>> {
        #[cfg(feature = "parallel")]
        {
            let lanes = rayon::current_num_threads().min(requests.len());
            if lanes > 1 {
                return self.mint_in_lanes(requests, now, lanes);
            }
        }
        requests.iter().map(|(g, r)| self.mint_at(g, r, now)).collect()
    }

    /// `lanes` workers (the caller plus `lanes - 1` pool tasks) each take the next request from a
    /// shared counter until none is left. Not `par_iter`: called from outside the pool, it hands
    /// the whole batch over and blocks the caller until a pool thread has woken, minted and woken
    /// it again, and the tokens are built on one core and freed on another. That costs latency
    /// and cache traffic, not instructions (callgrind: within 0.2% per token), and made a
    /// 16-token fan-out on a one-thread pool ~10% slower than 16 `mint` calls. Here the caller
    /// starts at once and pool tasks join as they wake; a one-thread pool is not used at all.
    #[cfg(feature = "parallel")]
    fn mint_in_lanes(&self, requests: &[(&Grant, &str)], now: i64, lanes: usize) -> Vec<Result<MintedToken>> {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::{Mutex, PoisonError};

        let next = AtomicUsize::new(0);
        let minted = Mutex::new(Vec::with_capacity(requests.len()));
        let lane = || {
            let mut mine = Vec::new();
            loop {
                // Each index is claimed exactly once, so each request is minted exactly once.
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((g, r)) = requests.get(i) else { break };
                mine.push((i, self.mint_at(g, r, now)));
            }
            minted.lock().unwrap_or_else(PoisonError::into_inner).extend(mine);
        };
        rayon::in_place_scope(|scope| {
            for _ in 1..lanes {
                scope.spawn(|_| lane());
            }
            lane();
        });
        let mut minted = minted.into_inner().unwrap_or_else(PoisonError::into_inner);
        minted.sort_unstable_by_key(|(i, _)| *i);
        minted.into_iter().map(|(_, token)| token).collect()
    }

    /// Opt-in: one general-JSON JWE that every granted resource server can decrypt.
    ///
    /// **Trade-off** (prefer [`Issuer::mint_all`], one token per audience, RFC 8707 §2):
    /// - Every recipient learns the CEK, so any one of them can read the whole token and replay it
    ///   to the others, or forge new ciphertext for them. Only the inner signature and the audience
    ///   check protect the others; resource servers must opt in to multi-audience tokens.
    /// - There is one set of claims for all recipients, so **every recipient reads every scope and
    ///   the whole `aud` list**: the token's `scope` is the union of the granted scopes that apply
    ///   to each resource, and its `aud` names every resource. Each RS thus learns which other RSs
    ///   the client uses and what it may do there. It gains no extra right at home: the scopes
    ///   that RS supports are exactly those a single-audience token for it would carry (the same
    ///   grant applies), provided scope names are not shared between resources.
    /// - The lifetime is the shortest of the resources' lifetimes.
    /// - There is one content encryption for the token, so every resource's `encryption_enc` must
    ///   be the same; otherwise minting fails with [`Error::Misuse`] naming the resources and their
    ///   algorithms.
    ///
    /// Every resource's current key must use a key-wrapping algorithm (direct `ECDH-ES` and `dir`
    /// serve a single recipient, RFC 7516 §7.2.1 / RFC 7518 §4.6).
    pub fn mint_multi_recipient(&self, grant: &Grant) -> Result<MintedToken> {
        let now = crate::token::now();
        let outcome = self.mint_multi_inner(grant, now);
        let label = grant.resources.iter().map(ResourceIndicator::as_str).collect::<Vec<_>>().join(" ");
        audit_mint(grant, &label, &outcome);
        outcome
    }

    fn authorize<'a>(
        &'a self,
        grant: &Grant,
        resource: &str,
    ) -> Result<(ResourceIndicator, &'a ResourceEntry, Scope)> {
        let resource = ResourceIndicator::parse(resource)?;
        if !grant.resources.contains(&resource) {
            return Err(oauth(
                OAuthErrorCode::InvalidTarget,
                format!("{resource} is not part of this grant"),
            ));
        }
        let allowed = self.clients.get(&grant.client_id).ok_or_else(|| {
            oauth(OAuthErrorCode::UnauthorizedClient, "client may not obtain access tokens")
        })?;
        if !allowed.iter().any(|a| a.covers(&resource)) {
            return Err(oauth(
                OAuthErrorCode::UnauthorizedClient,
                format!("client may not obtain tokens for {resource}"),
            ));
        }
        let entry = self
            .registry
            .lookup(&resource)
            .ok_or_else(|| oauth(OAuthErrorCode::InvalidTarget, format!("unknown resource {resource}")))?;
        let scopes = grant.scopes.intersection(entry.scopes_supported());
        if scopes.is_empty() {
            return Err(oauth(
                OAuthErrorCode::InvalidScope,
                format!("no granted scope applies to {resource}"),
            ));
        }
        Ok((resource, entry, scopes))
    }

    fn claims(
        &self,
        grant: &Grant,
        aud: Audience,
        scope: String,
        now: i64,
        ttl: u64,
    ) -> Result<AccessTokenClaims> {
        let mut jti = [0u8; 16];
        crate::crypto::random(&mut jti)?;
        Ok(AccessTokenClaims {
            iss: self.issuer.clone(),
            exp: now.saturating_add(i64::try_from(ttl).unwrap_or(i64::MAX)),
            aud,
            sub: grant.subject.clone(),
            client_id: grant.client_id.clone(),
            iat: now,
            jti: b64::encode(&jti),
            scope: Some(scope),
            nbf: None,
            auth_time: grant.auth_time,
            acr: grant.acr.clone(),
            amr: grant.amr.clone(),
            cnf: grant
                .dpop_jkt
                .as_ref()
                .map(|jkt| Confirmation { jkt: Some(jkt.clone()), other: Map::new() }),
            extra: grant.extra.clone(),
        })
    }

    /// The lifetime of a token for `entry`: the override, else the entry's, else the default.
    fn lifetime(&self, entry: &ResourceEntry) -> u64 {
        self.lifetime_override.or(entry.token_lifetime()).unwrap_or(self.default_ttl)
    }

    fn sign(&self, claims: &AccessTokenClaims) -> Result<String> {
        let payload = serde_json::to_vec(claims).map_err(|_| Error::malformed("claims"))?;
        self.signer.sign(&payload)
    }

    fn mint_inner(&self, grant: &Grant, resource: &str, now: i64) -> Result<MintedToken> {
        let (resource, entry, scopes) = self.authorize(grant, resource)?;
        // Before signing: a resource without a usable key gets no token at all.
        let key = entry.encryption_key()?;
        let ttl = self.lifetime(entry);
        let scope = scopes.to_string();
        let claims =
            self.claims(grant, Audience::One(resource.as_str().to_owned()), scope.clone(), now, ttl)?;
        let jws = self.sign(&claims)?;
        let access_token = Encryptor::new(entry.enc())
            .protected_param("cty", "JWT")
            .protected_param("iss", self.issuer.as_str())
            .protected_param("aud", resource.as_str())
            .recipient(key.key(), key.alg())
            .encrypt_compact(jws.as_bytes())?;
        Ok(MintedToken {
            resources: vec![resource.as_str().to_owned()],
            access_token,
            token_type: "Bearer",
            expires_in: ttl,
            scope,
            jti: claims.jti,
        })
    }

    fn mint_multi_inner(&self, grant: &Grant, now: i64) -> Result<MintedToken> {
        let mut recipients: Vec<(ResourceIndicator, &ResourceEntry, Arc<EncryptionKey>)> =
            Vec::with_capacity(grant.resources.len());
        let mut auds = Vec::with_capacity(grant.resources.len());
        let mut scopes = Scope::default();
        let mut ttl = self.lifetime_override.unwrap_or(self.default_ttl);
        for r in &grant.resources {
            let (resource, entry, s) = self.authorize(grant, r.as_str())?;
            let key = entry.encryption_key()?;
            if !key.alg().wraps_cek() {
                return Err(Error::Misuse(Misuse::SingleRecipientAlgorithm { alg: key.alg().to_string() }));
            }
            // One token, one content encryption: the resources must agree on it.
            if let Some((first, first_entry, _)) = recipients.first() {
                if first_entry.enc() != entry.enc() {
                    return Err(Error::Misuse(Misuse::MixedContentEncryption {
                        first: first.as_str().to_owned(),
                        first_enc: first_entry.enc().to_string(),
                        other: resource.as_str().to_owned(),
                        other_enc: entry.enc().to_string(),
                    }));
                }
            }
            ttl = ttl.min(self.lifetime(entry));
            auds.push(resource.as_str().to_owned());
            // The documented trade-off: one `scope` (the union) for every recipient.
            scopes.extend(&s);
            recipients.push((resource, entry, key));
        }
        let Some((_, first_entry, _)) = recipients.first() else {
            return Err(Error::Misuse(Misuse::NoResource));
        };
        let mut encryptor = Encryptor::new(first_entry.enc());
        for (_, _, key) in &recipients {
            encryptor = encryptor.recipient(key.key(), key.alg());
        }
        let scope = scopes.to_string();
        let claims = self.claims(grant, Audience::Many(auds.clone()), scope.clone(), now, ttl)?;
        let jws = self.sign(&claims)?;
        let access_token = encryptor
            .protected_param("cty", "JWT")
            .protected_param("iss", self.issuer.as_str())
            .protected_param("aud", auds.clone())
            .encrypt_general(jws.as_bytes())?;
        Ok(MintedToken {
            resources: auds,
            access_token,
            token_type: "Bearer",
            expires_in: ttl,
            scope,
            jti: claims.jti,
        })
    }
}

fn audit_mint(grant: &Grant, resource: &str, outcome: &Result<MintedToken>) {
    match outcome {
        Ok(t) => tracing::info!(
            target: crate::tracing_targets::AUDIT,
            event = "mint",
            outcome = "issued",
            resource,
            client_id = grant.client_id.as_str(),
            subject = grant.subject.as_str(),
            jti = t.jti.as_str(),
            scope = t.scope.as_str(),
        ),
        Err(e) => tracing::warn!(
            target: crate::tracing_targets::AUDIT,
            event = "mint",
            outcome = "refused",
            resource,
            client_id = grant.client_id.as_str(),
            subject = grant.subject.as_str(),
            error = %e,
        ),
    }
}
