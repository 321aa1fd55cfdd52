//! The authorization server's side of the wire (feature `axum`): an axum [`Router`] serving RFC
//! 8414 metadata, the AS's `jwks_uri` and a token endpoint (RFC 6749 §3.2) that mints jwe-mint
//! access tokens for `client_credentials` and `refresh_token`, with one or several RFC 8707
//! `resource` parameters.
//!
//! - Clients authenticate with `client_secret_basic` only (RFC 6749 §2.3.1: id and secret
//!   form-urlencoded, then base64 inside `Authorization: Basic`). Only a SHA-256 digest of each
//!   secret is kept, in zeroizing memory, and compared in constant time (`subtle`).
//! - Refusals are RFC 6749 §5.2 JSON: `invalid_request`, `invalid_client` (401 with
//!   `WWW-Authenticate: Basic`), `invalid_grant`, `unauthorized_client`, `unsupported_grant_type`,
//!   `invalid_scope`, and RFC 8707's `invalid_target`. When an RS's keys cannot be fetched the
//!   answer is 503 with `Retry-After`, when none of its keys is usable 500, both with
//!   `{"error": "server_error"}`: RFC 6749 §5.2 has no code for them, so `server_error` is
//!   borrowed from §4.1.2.1 (an extension). The AS never falls back to an unencrypted token.
//! - Every token endpoint answer carries `Cache-Control: no-store` (RFC 6749 §5.1).
//! - Refresh tokens are opaque (32 random bytes from the crypto provider), kept in memory as their
//!   SHA-256 digest with the grant they stand for (client, subject, scope, resources), bounded in
//!   number (the oldest is dropped) and in age, and rotated on every use (RFC 9700 §4.14.2): the
//!   used token stops working, and presenting it again revokes the token that replaced it.
//!
//! Resource servers registered without keys are found through their RFC 9728 metadata
//! ([`ProtectedResourceDiscovery`]): see [`AuthorizationServer::bind_resources`].

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use base64::Engine;
use http::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, PRAGMA, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderValue, StatusCode};
use serde_json::{json, Value};
use zeroize::Zeroizing;

use super::tracing_targets::TRACING_TARGET;
use crate::error::{printable, Error, KeySourceError, Result};
use crate::issuer::{Grant, Issuer, IssuerBuilder, TokenResponse};
use crate::jwk::Jwk;
use crate::registry::Registry;
use crate::wire::keys::ProtectedResourceDiscovery;
use crate::wire::transport::{authorization_server_metadata_urls, WireError};

/// Largest token request body (bytes); a larger one is `invalid_request`.
pub const MAX_TOKEN_REQUEST: usize = 16 * 1024;
/// Default number of live refresh tokens per client; when a client's are full, its oldest is
/// dropped (each client has its own store, so one client cannot evict another's tokens or its
/// reuse history).
pub const DEFAULT_MAX_REFRESH_TOKENS: usize = 10_000;
/// Default lifetime of a refresh token family (the first token's issue time plus this; rotation
/// does not extend it).
pub const DEFAULT_REFRESH_TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);
/// `Cache-Control: max-age` of the metadata and the JWK Set.
pub const AS_DOCUMENT_MAX_AGE: Duration = Duration::from_secs(300);
/// `Retry-After` (seconds) of a 503 when an RS's keys are unavailable.
const RETRY_AFTER_SECONDS: &str = "30";

/// A client of the token endpoint: its `client_id`, its secret (only a SHA-256 digest is kept, in
/// zeroizing memory), the user it acts for, and what it may ask for.
///
/// The `subject` stands in for an end-user grant: a real AS gets it from an authorization-code
/// flow; here a client acts for one configured user (the `sub` of its tokens).
///
/// ```
/// use jwe_mint::wire::RegisteredClient;
/// let client = RegisteredClient::new("photo-app", "s3cret", "alice")
///     .unwrap()
///     .scope("photos.read friends.read")
///     .resources(["https://photos.example.com", "https://friends.example.com"])
///     .home_resource("https://photos.example.com");
/// assert!(!format!("{client:?}").contains("s3cret"));
/// ```
#[derive(Clone)]
pub struct RegisteredClient {
    client_id: String,
    secret_digest: Zeroizing<Vec<u8>>,
    subject: String,
    scope: Vec<String>,
    resources: Vec<String>,
    home_resource: Option<String>,
}

impl std::fmt::Debug for RegisteredClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegisteredClient")
            .field("client_id", &self.client_id)
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

impl RegisteredClient {
    /// A client `client_id` with the shared `secret`, acting for `subject`; no scope and no
    /// resource yet. Refused: an empty `client_id`, `secret` or `subject`.
    pub fn new(client_id: &str, secret: &str, subject: &str) -> Result<RegisteredClient> {
        if client_id.is_empty() || secret.is_empty() || subject.is_empty() {
            return Err(Error::misuse("client_id, secret and subject must not be empty"));
        }
        Ok(RegisteredClient {
            client_id: client_id.to_owned(),
            secret_digest: Zeroizing::new(crate::crypto::sha256(secret.as_bytes())),
            subject: subject.to_owned(),
            scope: Vec::new(),
            resources: Vec::new(),
            home_resource: None,
        })
    }

    /// Everything the client may ask for (space-separated scope tokens, RFC 6749 §3.3); it is also
    /// what a request without `scope` gets.
    pub fn scope(mut self, scope: &str) -> RegisteredClient {
        self.scope = scope.split(' ').filter(|s| !s.is_empty()).map(str::to_owned).collect();
        self
    }

    /// The resources the client may ask for (RFC 8707; each also covers its sub-resources by path
    /// segment, as [`IssuerBuilder::allow_client`] says).
    pub fn resources<'a>(mut self, resources: impl IntoIterator<Item = &'a str>) -> RegisteredClient {
        self.resources = resources.into_iter().map(str::to_owned).collect();
        self
    }

    /// The resource the AS picks when a `client_credentials` request names none (the user's
    /// "home shard"); the response's `resource` member tells the client which it is. Without one,
    /// such a request is `invalid_target`.
    pub fn home_resource(mut self, resource: &str) -> RegisteredClient {
        self.home_resource = Some(resource.to_owned());
        self
    }

    /// The `client_id`.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// Whether `presented` is this client's secret, in constant time (digests of equal length).
    fn secret_matches(&self, presented: &str) -> bool {
        let digest = Zeroizing::new(crate::crypto::sha256(presented.as_bytes()));
        bool::from(subtle::ConstantTimeEq::ct_eq(self.secret_digest.as_slice(), digest.as_slice()))
    }
}

/// Builder of an [`AuthorizationServer`]; from [`AuthorizationServer::builder`].
#[derive(Debug)]
pub struct AuthorizationServerBuilder {
    issuer: IssuerBuilder,
    clients: Vec<RegisteredClient>,
    max_refresh_tokens: usize,
    refresh_lifetime: Duration,
    refresh_for_client_credentials: bool,
}

impl AuthorizationServerBuilder {
    /// Registers `client`, and allows it its resources in the issuer (clients not registered get
    /// `invalid_client`). Refused: a `client_id` registered twice, an invalid resource.
    pub fn client(mut self, client: RegisteredClient) -> Result<AuthorizationServerBuilder> {
        if self.clients.iter().any(|c| c.client_id == client.client_id) {
            return Err(Error::misuse(format!("client {} registered twice", printable(&client.client_id))));
        }
        if let Some(home) = &client.home_resource {
            if !client.resources.contains(home) {
                return Err(Error::misuse("a client's home_resource must be one of its resources"));
            }
        }
        let resources: Vec<&str> = client.resources.iter().map(String::as_str).collect();
        self.issuer = self.issuer.allow_client(&client.client_id, &resources)?;
        self.clients.push(client);
        Ok(self)
    }

    /// How many refresh tokens one client may have live at once (default
    /// [`DEFAULT_MAX_REFRESH_TOKENS`]); when its are full, issuing one drops its oldest. Each
    /// client has its own store (and reuse history), so no client can evict another's. Must be
    /// positive.
    pub fn max_refresh_tokens(mut self, max: usize) -> AuthorizationServerBuilder {
        self.max_refresh_tokens = max;
        self
    }

    /// How long a refresh token family lives from its first token (default
    /// [`DEFAULT_REFRESH_TOKEN_LIFETIME`]; rotation does not extend it). Must be positive.
    pub fn refresh_token_lifetime(mut self, lifetime: Duration) -> AuthorizationServerBuilder {
        self.refresh_lifetime = lifetime;
        self
    }

    /// Also issues a refresh token with every `client_credentials` response. RFC 6749 §4.4.3
    /// says it SHOULD NOT; this opt-in stands in for the authorization-code grant a real AS
    /// would use (the client acts for its configured user), so the RFC 8707 §2.2 path (a token
    /// for another resource from the refresh token) can be shown. Off by default: without it,
    /// no refresh token is ever issued.
    pub fn allow_refresh_tokens_for_client_credentials(mut self) -> AuthorizationServerBuilder {
        self.refresh_for_client_credentials = true;
        self
    }

    /// Builds the server. Refused: an invalid issuer configuration, a zero refresh-token bound or
    /// lifetime.
    pub fn build(self) -> Result<Arc<AuthorizationServer>> {
        if self.max_refresh_tokens == 0 || self.refresh_lifetime.is_zero() {
            return Err(Error::misuse("refresh token bound and lifetime must be positive"));
        }
        let issuer = self.issuer.build()?;
        let paths = Paths::new(issuer.issuer())?;
        let jwks = Bytes::from(issuer.verification_keys().to_json()?);
        let server = AuthorizationServer {
            refresh: self
                .clients
                .iter()
                .map(|c| (c.client_id.clone(), Mutex::new(RefreshStore::new(self.max_refresh_tokens))))
                .collect(),
            clients: self.clients.into_iter().map(|c| (c.client_id.clone(), c)).collect(),
            refresh_lifetime: self.refresh_lifetime,
            refresh_for_client_credentials: self.refresh_for_client_credentials,
            paths,
            jwks,
            issuer,
        };
        Ok(Arc::new(server))
    }
}

/// The URLs and route paths derived from the issuer identifier.
#[derive(Debug)]
struct Paths {
    /// RFC 8414 §3.1: `/.well-known/oauth-authorization-server` inserted before the issuer's path.
    metadata: String,
    jwks_uri: String,
    jwks: String,
    token_endpoint: String,
    token: String,
}

impl Paths {
    fn new(issuer: &str) -> Result<Paths> {
        let metadata = authorization_server_metadata_urls(issuer)
            .map_err(|e| Error::misuse(e.to_string()))?
            .into_iter()
            .next()
            .ok_or_else(|| Error::misuse("issuer has no metadata URL"))?;
        let base = issuer.trim_end_matches('/');
        let jwks_uri = format!("{base}/jwks.json");
        let token_endpoint = format!("{base}/token");
        let path = |u: &str| -> Result<String> {
            let path = url::Url::parse(u)
                .map_err(|_| Error::misuse("issuer must be an absolute URL"))?
                .path()
                .to_owned();
            // Route syntax of axum: braces would be parameters.
            if path.contains(['{', '}']) {
                return Err(Error::misuse("the issuer's path must not contain `{` or `}`"));
            }
            Ok(path)
        };
        Ok(Paths {
            metadata: path(metadata.as_str())?,
            jwks: path(&jwks_uri)?,
            token: path(&token_endpoint)?,
            jwks_uri,
            token_endpoint,
        })
    }
}

/// An OAuth authorization server minting jwe-mint access tokens over HTTP: its state and its
/// axum [`Router`] ([`AuthorizationServer::router`]).
///
/// Routes, from the issuer identifier `https://as.example/p` (any path, or none):
/// `GET /.well-known/oauth-authorization-server/p` (RFC 8414 §3.1), `GET /p/jwks.json` (the
/// public signing keys, `jwks_uri`) and `POST /p/token`. It serves whatever transport it is
/// mounted on: put TLS in front of it in any real deployment.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use jwe_mint::issuer::Issuer;
/// use jwe_mint::jwk::{Curve, Jwk, JwkSet};
/// use jwe_mint::registry::{Registry, ResourceEntry};
/// use jwe_mint::wire::{AuthorizationServer, RegisteredClient};
///
/// let rs_key = Jwk::generate(Curve::P256).unwrap();
/// let mut registry = Registry::default();
/// registry.insert(ResourceEntry::new("https://photos.example.com", ["photos.read"],
///     JwkSet::new(vec![rs_key.to_public().unwrap()])).unwrap()).unwrap();
/// let server = AuthorizationServer::builder(
///     Issuer::builder("https://as.example.com", &Jwk::generate(Curve::P256).unwrap()).registry(registry))
///     .client(RegisteredClient::new("photo-app", "s3cret", "alice").unwrap()
///         .scope("photos.read").resources(["https://photos.example.com"]))
///     .unwrap()
///     .build()
///     .unwrap();
/// assert_eq!(server.metadata()["token_endpoint"], "https://as.example.com/token");
/// let app: axum::Router = server.router();
/// # });
/// ```
pub struct AuthorizationServer {
    issuer: Issuer,
    clients: HashMap<String, RegisteredClient>,
    /// One refresh token store per client id.
    refresh: HashMap<String, Mutex<RefreshStore>>,
    refresh_lifetime: Duration,
    refresh_for_client_credentials: bool,
    paths: Paths,
    jwks: Bytes,
}

impl std::fmt::Debug for AuthorizationServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthorizationServer")
            .field("issuer", &self.issuer.issuer())
            .field("clients", &self.clients.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl AuthorizationServer {
    /// A builder around `issuer` (its identifier, signing key, registry and lifetimes); the
    /// clients are added with [`AuthorizationServerBuilder::client`].
    pub fn builder(issuer: IssuerBuilder) -> AuthorizationServerBuilder {
        AuthorizationServerBuilder {
            issuer,
            clients: Vec::new(),
            max_refresh_tokens: DEFAULT_MAX_REFRESH_TOKENS,
            refresh_lifetime: DEFAULT_REFRESH_TOKEN_LIFETIME,
            refresh_for_client_credentials: false,
        }
    }

    /// The whole setup in one call: the server for `issuer` signing with `signing_key`, minting
    /// for `registry`, with `clients` (refresh tokens also issued for `client_credentials`, see
    /// [`AuthorizationServerBuilder::allow_refresh_tokens_for_client_credentials`]), then
    /// [`bind_resources`](Self::bind_resources) once. An RS that is down is logged; its tokens
    /// are refused with `server_error` until a later `bind_resources` binds it.
    pub async fn new(
        issuer: &str,
        signing_key: &Jwk,
        registry: Registry,
        clients: Vec<RegisteredClient>,
        resources: &ProtectedResourceDiscovery,
    ) -> Result<Arc<AuthorizationServer>> {
        let mut builder =
            AuthorizationServer::builder(Issuer::builder(issuer, signing_key).registry(registry))
                .allow_refresh_tokens_for_client_credentials();
        for c in clients {
            builder = builder.client(c)?;
        }
        let server = builder.build()?;
        server.bind_resources(resources).await;
        Ok(server)
    }

    /// Binds the registry entries whose keys live on the wire and are still unbound (an RS that
    /// was down at startup, or started after the AS) and returns the ones that failed, each with
    /// its reason (also logged with the target [`TRACING_TARGET`]). Call it again later, e.g. on
    /// a timer, until it returns none. Only registry entries are fetched, never a URL from a
    /// request (RFC 9728 §7.7).
    pub async fn bind_resources(&self, resources: &ProtectedResourceDiscovery) -> Vec<(String, WireError)> {
        let mut failed = Vec::new();
        for (resource, outcome) in resources.bind_registry(self.issuer.registry()).await {
            if let Err(e) = outcome {
                tracing::warn!(target: TRACING_TARGET, %resource, error = %e, "resource server keys not bound yet");
                failed.push((resource.as_str().to_owned(), e));
            }
        }
        failed
    }

    /// The issuer that mints the tokens.
    pub fn issuer(&self) -> &Issuer {
        &self.issuer
    }

    /// The token endpoint URL.
    pub fn token_endpoint(&self) -> &str {
        &self.paths.token_endpoint
    }

    /// The `jwks_uri` (the AS's public signing keys).
    pub fn jwks_uri(&self) -> &str {
        &self.paths.jwks_uri
    }

    /// The RFC 8414 metadata document: `issuer`, `jwks_uri`, `token_endpoint`,
    /// `grant_types_supported`, `token_endpoint_auth_methods_supported: ["client_secret_basic"]`,
    /// `scopes_supported` (every registry entry's scopes), and `response_types_supported: []`
    /// (RFC 8414 §2 requires the member; this AS has no authorization endpoint).
    pub fn metadata(&self) -> Value {
        let mut scopes: Vec<String> =
            self.issuer.registry().entries().iter().flat_map(|e| e.scopes_supported().to_vec()).collect();
        scopes.sort();
        scopes.dedup();
        let mut grants = vec!["client_credentials"];
        if self.refresh_for_client_credentials {
            grants.push("refresh_token");
        }
        json!({
            "issuer": self.issuer.issuer(),
            "jwks_uri": self.paths.jwks_uri,
            "token_endpoint": self.paths.token_endpoint,
            "grant_types_supported": grants,
            "token_endpoint_auth_methods_supported": ["client_secret_basic"],
            "response_types_supported": [],
            "scopes_supported": scopes,
        })
    }

    /// The routes: RFC 8414 metadata and the JWK Set (`GET`, with `Cache-Control: max-age`) and
    /// the token endpoint (`POST`).
    pub fn router<S: Clone + Send + Sync + 'static>(self: Arc<Self>) -> Router<S> {
        let cache = HeaderValue::from_str(&format!("max-age={}", AS_DOCUMENT_MAX_AGE.as_secs()))
            .unwrap_or_else(|_| HeaderValue::from_static("no-cache"));
        let metadata = Bytes::from(self.metadata().to_string());
        let jwks = self.jwks.clone();
        let (cache2, metadata_path, jwks_path, token_path) =
            (cache.clone(), self.paths.metadata.clone(), self.paths.jwks.clone(), self.paths.token.clone());
        Router::new()
            .route(
                &metadata_path,
                get(move || {
                    std::future::ready(document(metadata.clone(), "application/json", cache.clone()))
                }),
            )
            .route(
                &jwks_path,
                get(move || {
                    std::future::ready(document(jwks.clone(), "application/jwk-set+json", cache2.clone()))
                }),
            )
            .route(&token_path, post(token).with_state(self))
    }

    /// Answers one token request (the `POST` handler).
    async fn token_request(&self, request: Request) -> Response {
        match self.token_outcome(request).await {
            Ok(body) => {
                let mut r = json_response(StatusCode::OK, &body);
                no_store(r.headers_mut());
                r
            }
            Err(refusal) => refusal.into_response(),
        }
    }

    async fn token_outcome(&self, request: Request) -> Result<Value, Refusal> {
        let (parts, body) = request.into_parts();
        let form = parts.headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| {
            v.split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"))
        });
        if !form {
            return Err(Refusal::bad(
                "invalid_request",
                "expected an application/x-www-form-urlencoded body",
            ));
        }
        let Some(client) = self.authenticate(&parts.headers) else {
            return Err(Refusal::invalid_client());
        };
        let body = axum::body::to_bytes(body, MAX_TOKEN_REQUEST)
            .await
            .map_err(|_| Refusal::bad("invalid_request", "request body too large or unreadable"))?;
        let form = Form::parse(&body)?;
        if form.get("client_secret").is_some() {
            // RFC 6749 §2.3: one authentication method per request.
            return Err(Refusal::bad("invalid_request", "more than one client authentication method"));
        }
        if form.get("client_id").is_some_and(|id| id != client.client_id) {
            return Err(Refusal::bad("invalid_request", "client_id does not match the authenticated client"));
        }
        match form.get("grant_type") {
            Some("client_credentials") => self.client_credentials(client, &form),
            Some("refresh_token") => self.refresh(client, &form),
            Some(_) => Err(Refusal::bad("unsupported_grant_type", "unsupported grant_type")),
            None => Err(Refusal::bad("invalid_request", "missing grant_type")),
        }
    }

    /// The client from `Authorization: Basic` (RFC 6749 §2.3.1: id and secret form-urlencoded,
    /// then base64), if it is registered and the secret matches.
    fn authenticate(&self, headers: &HeaderMap) -> Option<&RegisteredClient> {
        let mut values = headers.get_all(AUTHORIZATION).iter();
        let value = values.next()?;
        if values.next().is_some() {
            return None;
        }
        let (scheme, encoded) = value.to_str().ok()?.split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return None;
        }
        let decoded = Zeroizing::new(base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?);
        let decoded = std::str::from_utf8(&decoded).ok()?;
        let (id, secret) = decoded.split_once(':')?;
        let id = form_decode(id);
        let secret = Zeroizing::new(form_decode(secret));
        let Some(client) = self.clients.get(&id) else {
            // The same digest and comparison as for a known client, so the answer's timing does
            // not tell which client ids exist.
            let digest = Zeroizing::new(crate::crypto::sha256(secret.as_bytes()));
            let _ = subtle::ConstantTimeEq::ct_eq(UNKNOWN_CLIENT_DIGEST.as_slice(), digest.as_slice());
            return None;
        };
        client.secret_matches(&secret).then_some(client)
    }

    fn client_credentials(&self, client: &RegisteredClient, form: &Form) -> Result<Value, Refusal> {
        let mut resources = form.resources.clone();
        if resources.is_empty() {
            // The AS picks the resource server and the response says which (`resource`).
            match &client.home_resource {
                Some(home) => resources.push(home.clone()),
                None => return Err(Refusal::bad("invalid_target", "no resource requested")),
            }
        }
        let scope = requested_scope(form.get("scope"), &client.scope, "scope not allowed for this client")?;
        let mut body = self.mint(&client.subject, &client.client_id, &scope, &resources)?;
        if self.refresh_for_client_credentials {
            let grant = RefreshGrant {
                client_id: client.client_id.clone(),
                subject: client.subject.clone(),
                scope: scope.split(' ').map(str::to_owned).collect(),
                resources,
            };
            let expires = Instant::now() + self.refresh_lifetime;
            let token = self
                .lock_refresh(&client.client_id)?
                .issue(Arc::new(grant), None, expires)
                .map_err(Refusal::server)?;
            body["refresh_token"] = Value::String(token.to_string());
        }
        Ok(body)
    }

    fn refresh(&self, client: &RegisteredClient, form: &Form) -> Result<Value, Refusal> {
        if !self.refresh_for_client_credentials {
            return Err(Refusal::bad("unsupported_grant_type", "this server issues no refresh tokens"));
        }
        let Some(presented) = form.get("refresh_token") else {
            return Err(Refusal::bad("invalid_request", "missing refresh_token"));
        };
        let id = token_id(presented);
        // Only this client's store: another client's token is unknown here (RFC 6749 §6).
        let Some((grant, seq)) = self.lock_refresh(&client.client_id)?.find(&id, Instant::now()) else {
            return Err(Refusal::invalid_grant());
        };
        if grant.client_id != client.client_id {
            // RFC 6749 §6: the token must have been issued to the authenticated client.
            return Err(Refusal::invalid_grant());
        }
        // RFC 8707 §2.2: any resources of the original grant, one token each; none named: all.
        let resources =
            if form.resources.is_empty() { grant.resources.clone() } else { form.resources.clone() };
        if let Some(r) = resources.iter().find(|r| !grant.resources.contains(r)) {
            return Err(Refusal::bad(
                "invalid_target",
                &format!("{} was not part of the original grant", printable(r)),
            ));
        }
        let scope = requested_scope(form.get("scope"), &grant.scope, "scope beyond the original grant")?;
        let mut body = self.mint(&grant.subject, &client.client_id, &scope, &resources)?;
        // Rotation (RFC 9700 §4.14.2): the presented token is spent only now, atomically; a
        // concurrent use of the same token that got here first wins, and this one is a reuse.
        let rotated = self.lock_refresh(&client.client_id)?.rotate(&id, seq).map_err(Refusal::server)?;
        match rotated {
            Some(new) => {
                body["refresh_token"] = Value::String(new.to_string());
                Ok(body)
            }
            None => Err(Refusal::invalid_grant()),
        }
    }

    fn mint(
        &self,
        subject: &str,
        client_id: &str,
        scope: &str,
        resources: &[String],
    ) -> Result<Value, Refusal> {
        let resources: Vec<&str> = resources.iter().map(String::as_str).collect();
        let grant = Grant::new(subject, client_id, scope, &resources).map_err(Refusal::mint)?;
        let response: TokenResponse = self.issuer.mint_all(&grant).map_err(Refusal::mint)?;
        Ok(response.to_json())
    }

    /// The refresh token store of `client_id` (every registered client has one).
    fn lock_refresh(&self, client_id: &str) -> Result<std::sync::MutexGuard<'_, RefreshStore>, Refusal> {
        let store = self.refresh.get(client_id).ok_or_else(Refusal::invalid_grant)?;
        Ok(store.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

async fn token(State(server): State<Arc<AuthorizationServer>>, request: Request) -> Response {
    server.token_request(request).await
}

/// The scope a request gets: `requested` (RFC 6749 §3.3 syntax) when every token of it is in
/// `allowed`, `allowed` when absent; `invalid_scope` otherwise.
fn requested_scope(requested: Option<&str>, allowed: &[String], refusal: &str) -> Result<String, Refusal> {
    let Some(requested) = requested else {
        if allowed.is_empty() {
            return Err(Refusal::bad("invalid_scope", "no scope allowed for this client"));
        }
        return Ok(allowed.join(" "));
    };
    let tokens: Vec<&str> = requested.split(' ').collect();
    if tokens.iter().any(|t| t.is_empty() || !allowed.iter().any(|a| a == t)) {
        return Err(Refusal::bad("invalid_scope", refusal));
    }
    Ok(tokens.join(" "))
}

/// Compared against when the client id is unknown (no secret has this SHA-256 digest that
/// anyone knows).
const UNKNOWN_CLIENT_DIGEST: [u8; 32] = [0; 32];

/// At most this many distinct `resource` parameters in one token request: each is one token to
/// sign and encrypt.
pub const MAX_RESOURCES_PER_REQUEST: usize = 16;

/// The form parameters of a token request: every name at most once, except `resource` (RFC 8707
/// §2: repeatable). Parameters without a value are treated as omitted (RFC 6749 §3.2).
struct Form {
    params: HashMap<String, String>,
    resources: Vec<String>,
}

impl Form {
    fn parse(body: &[u8]) -> Result<Form, Refusal> {
        let mut params = HashMap::new();
        let mut resources = Vec::new();
        for (name, value) in url::form_urlencoded::parse(body) {
            if value.is_empty() {
                continue;
            }
            if name == "resource" {
                // Repeats name one resource (one token); the count is bounded.
                if !resources.iter().any(|r| *r == value) {
                    if resources.len() == MAX_RESOURCES_PER_REQUEST {
                        return Err(Refusal::bad("invalid_target", "too many resources in one request"));
                    }
                    resources.push(value.into_owned());
                }
            } else if params.insert(name.clone().into_owned(), value.into_owned()).is_some() {
                return Err(Refusal::bad(
                    "invalid_request",
                    &format!("parameter {} given more than once", printable(&name)),
                ));
            }
        }
        Ok(Form { params, resources })
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }
}

/// `application/x-www-form-urlencoded` decoding of one component (RFC 6749 §2.3.1, Appendix B).
fn form_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// A refused token request: status, §5.2 code and description, and extra headers.
struct Refusal {
    status: StatusCode,
    code: &'static str,
    description: String,
    www_authenticate: bool,
    retry_after: bool,
}

impl Refusal {
    /// RFC 6749 §5.2: 400 for every code but `invalid_client`.
    fn bad(code: &'static str, description: &str) -> Refusal {
        Refusal {
            status: StatusCode::BAD_REQUEST,
            code,
            description: description.to_owned(),
            www_authenticate: false,
            retry_after: false,
        }
    }

    fn invalid_client() -> Refusal {
        Refusal {
            status: StatusCode::UNAUTHORIZED,
            www_authenticate: true,
            ..Refusal::bad("invalid_client", "client authentication failed")
        }
    }

    fn invalid_grant() -> Refusal {
        Refusal::bad("invalid_grant", "unknown, expired or already used refresh token")
    }

    /// The server's fault, with no detail for the client.
    fn server(e: Error) -> Refusal {
        tracing::warn!(target: TRACING_TARGET, error = %e, "token endpoint failure");
        Refusal {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            ..Refusal::bad("server_error", "the token could not be issued")
        }
    }

    /// What minting can fail with, as the token endpoint answers it.
    fn mint(e: Error) -> Refusal {
        match e {
            Error::OAuth { code, description } => Refusal::bad(code.as_str(), &description),
            Error::KeySource(KeySourceError::Unavailable { ref location, .. }) => {
                tracing::warn!(target: TRACING_TARGET, %location, error = %e, "resource server keys unavailable");
                Refusal {
                    status: StatusCode::SERVICE_UNAVAILABLE,
                    retry_after: true,
                    ..Refusal::bad("server_error", "the resource server's keys are unavailable")
                }
            }
            // No usable key, or anything else.
            other => Refusal::server(other),
        }
    }

    fn into_response(self) -> Response {
        let mut r =
            json_response(self.status, &json!({ "error": self.code, "error_description": self.description }));
        no_store(r.headers_mut());
        if self.www_authenticate {
            r.headers_mut().insert(WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"token\""));
        }
        if self.retry_after {
            r.headers_mut().insert(RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_SECONDS));
        }
        r
    }
}

/// RFC 6749 §5.1: token endpoint answers are not cached.
fn no_store(headers: &mut HeaderMap) {
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(PRAGMA, HeaderValue::from_static("no-cache"));
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut r = Response::new(Body::from(body.to_string()));
    *r.status_mut() = status;
    r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

fn document(body: Bytes, content_type: &'static str, cache: HeaderValue) -> Response {
    let mut r = Response::new(Body::from(body));
    r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    r.headers_mut().insert(CACHE_CONTROL, cache);
    r
}

/// What a refresh token stands for: the original grant (RFC 8707 §2.2: later requests may name
/// any of its resources, never another; RFC 6749 §6: at most its scope).
#[derive(Debug)]
struct RefreshGrant {
    client_id: String,
    subject: String,
    scope: Vec<String>,
    resources: Vec<String>,
}

/// A refresh token as stored: the SHA-256 of its text.
type TokenId = [u8; 32];

fn token_id(token: &str) -> TokenId {
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
struct RefreshStore {
    max: usize,
    next: u64,
    live: HashMap<TokenId, Live>,
    live_order: BTreeMap<u64, TokenId>,
    family_live: HashMap<u64, TokenId>,
    rotated: HashMap<TokenId, (u64, u64)>,
    rotated_order: BTreeMap<u64, TokenId>,
}

impl RefreshStore {
    fn new(max: usize) -> RefreshStore {
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
    fn issue(
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
    fn find(&mut self, id: &TokenId, now: Instant) -> Option<(Arc<RefreshGrant>, u64)> {
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
    fn rotate(&mut self, id: &TokenId, seq: u64) -> Result<Option<Zeroizing<String>>> {
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
    use super::*;

    fn grant() -> Arc<RefreshGrant> {
        Arc::new(RefreshGrant {
            client_id: "c".into(),
            subject: "alice".into(),
            scope: vec!["a".into()],
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

    #[test]
    fn secrets_compare_by_digest_and_stay_out_of_debug() {
        let client = RegisteredClient::new("c", "correct horse", "alice").unwrap();
        assert!(client.secret_matches("correct horse"));
        assert!(!client.secret_matches("correct hors"));
        assert!(!client.secret_matches(""));
        assert!(!format!("{client:?}").contains("horse"));
    }

    #[test]
    fn repeated_resources_count_once_and_their_number_is_bounded() {
        let form =
            Form::parse(b"resource=https%3A%2F%2Fa&resource=https%3A%2F%2Fa&resource=https%3A%2F%2Fb").ok();
        assert_eq!(form.map(|f| f.resources), Some(vec!["https://a".to_owned(), "https://b".to_owned()]));
        let many =
            |n: usize| (0..n).map(|i| format!("resource=https%3A%2F%2Frs{i}")).collect::<Vec<_>>().join("&");
        assert_eq!(
            Form::parse(many(MAX_RESOURCES_PER_REQUEST).as_bytes()).ok().map(|f| f.resources.len()),
            Some(16)
        );
        let refused = Form::parse(many(MAX_RESOURCES_PER_REQUEST + 1).as_bytes()).err().map(|r| r.code);
        assert_eq!(refused, Some("invalid_target"));
        // 450 copies of one resource are one resource.
        let same = vec!["resource=https%3A%2F%2Fa"; 450].join("&");
        assert_eq!(Form::parse(same.as_bytes()).ok().map(|f| f.resources.len()), Some(1));
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        assert_eq!(form_decode("a%3Ab+c"), "a:b c");
    }
}
