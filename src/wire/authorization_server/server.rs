//! [`AuthorizationServer`]: its configuration ([`AuthorizationServerBuilder`]), its RFC 8414
//! metadata, and its axum [`Router`]: the metadata and the JWK Set (`GET`, with
//! `Cache-Control: max-age`) and the token endpoint (`POST`, answered in `grants.rs`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use http::HeaderValue;
use serde_json::{json, Value};

use super::client_auth::RegisteredClient;
use super::dpop::TokenEndpointDpop;
use super::refresh_store::{MemoryRefreshTokens, RefreshTokenStore};
#[cfg(doc)]
use crate::dpop::MemoryReplayStore;
use crate::dpop::{DpopValidation, NonceSource, ReplayStore};
use crate::issuer::{Issuer, IssuerBuilder};
use crate::jwk::Jwk;
use crate::registry::Registry;
use crate::wire::keys::ProtectedResourceDiscovery;
use crate::wire::tracing_targets::TRACING_TARGET;
use crate::wire::transport::{authorization_server_metadata_urls, ConfigError, WireError};

/// Default number of live refresh tokens per client; when a client's are full, its oldest is
/// dropped (each client has its own store, so one client cannot evict another's tokens or its
/// reuse history).
pub const DEFAULT_MAX_REFRESH_TOKENS: usize = 10_000;
/// Default lifetime of a refresh token family (the first token's issue time plus this; rotation
/// does not extend it).
pub const DEFAULT_REFRESH_TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);
/// `Cache-Control: max-age` of the metadata and the JWK Set.
pub const AS_DOCUMENT_MAX_AGE: Duration = Duration::from_secs(300);
/// Builder of an [`AuthorizationServer`]; from [`AuthorizationServer::builder`].
#[derive(Debug)]
pub struct AuthorizationServerBuilder {
    issuer: IssuerBuilder,
    clients: Vec<RegisteredClient>,
    max_refresh_tokens: usize,
    refresh_lifetime: Duration,
    refresh_for_client_credentials: bool,
    dpop: TokenEndpointDpop,
    refresh_store: Option<Arc<dyn RefreshTokenStore>>,
}

impl AuthorizationServerBuilder {
    /// Registers `client`, and allows it its resources in the issuer (clients not registered get
    /// `invalid_client`). Refused: a `client_id` registered twice, a `home_resource` that is
    /// not one of the client's resources ([`ConfigError::Invalid`] naming `"client"`), an invalid
    /// resource ([`ConfigError::Core`], from the issuer).
    pub fn client(mut self, client: RegisteredClient) -> Result<AuthorizationServerBuilder, ConfigError> {
        if self.clients.iter().any(|c| c.client_id == client.client_id) {
            return Err(ConfigError::invalid(
                "client",
                format!("client {} registered twice", crate::untrusted::name(&client.client_id)),
            ));
        }
        if let Some(why) = &client.scope_error {
            return Err(ConfigError::invalid("scope", why.clone()));
        }
        if let Some(home) = &client.home_resource {
            if !client.resources.contains(home) {
                return Err(ConfigError::invalid(
                    "client",
                    "a client's home_resource must be one of its resources",
                ));
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

    /// Where the token endpoint remembers the DPoP proofs it accepted (RFC 9449 §11.1), e.g. a
    /// store shared by the server's replicas. Default: a [`MemoryReplayStore`] (one process). A
    /// store that cannot answer refuses the request (503 `temporarily_unavailable`): a proof is
    /// never accepted unchecked.
    pub fn dpop_replay_store(mut self, store: Arc<dyn ReplayStore>) -> AuthorizationServerBuilder {
        self.dpop.set_replay_store(store);
        self
    }

    /// Requires a server nonce in every DPoP proof at the token endpoint (RFC 9449 §8): a proof
    /// without the current one is refused with `use_dpop_nonce` and a `DPoP-Nonce` header, and
    /// every answer carries the current nonce. Replicas given sources with one secret accept
    /// each other's nonces. Default: no nonce.
    pub fn dpop_nonce(mut self, nonces: NonceSource) -> AuthorizationServerBuilder {
        self.dpop.set_nonces(nonces);
        self
    }

    /// How the token endpoint checks DPoP proofs (algorithms, `iat` window, size); default
    /// [`DpopValidation::default`]. Its algorithms are published as
    /// `dpop_signing_alg_values_supported` (RFC 9449 §5.1). A nonce is set with
    /// [`dpop_nonce`](Self::dpop_nonce).
    pub fn dpop_validation(mut self, validation: DpopValidation) -> AuthorizationServerBuilder {
        self.dpop.set_validation(validation);
        self
    }

    /// Keeps the refresh tokens in `store` instead of this process's memory: several servers
    /// sharing one store (`RedisRefreshTokens` with the feature `redis`) behave as one, a token
    /// issued by one rotating once at any, a reuse at any revoking its family. The bound of
    /// [`max_refresh_tokens`](Self::max_refresh_tokens) is then the store's to keep.
    pub fn refresh_token_store(mut self, store: Arc<dyn RefreshTokenStore>) -> AuthorizationServerBuilder {
        self.refresh_store = Some(store);
        self
    }

    /// Builds the server. Refused: a zero refresh-token bound or lifetime
    /// ([`ConfigError::Invalid`] naming `"refresh_tokens"`), an issuer identifier without
    /// routes (naming `"issuer"`), an issuer configuration the core refuses
    /// ([`ConfigError::Core`]).
    pub fn build(self) -> Result<Arc<AuthorizationServer>, ConfigError> {
        if self.max_refresh_tokens == 0 || self.refresh_lifetime.is_zero() {
            return Err(ConfigError::invalid(
                "refresh_tokens",
                "refresh token bound and lifetime must be positive",
            ));
        }
        let issuer = self.issuer.build()?;
        let paths = Paths::new(issuer.issuer())?;
        let jwks = Bytes::from(issuer.verification_keys().to_json()?);
        let server = AuthorizationServer {
            refresh: self.refresh_store.unwrap_or_else(|| {
                Arc::new(MemoryRefreshTokens::new(
                    self.clients.iter().map(|c| c.client_id.as_str()),
                    self.max_refresh_tokens,
                ))
            }),
            clients: self.clients.into_iter().map(|c| (c.client_id.clone(), c)).collect(),
            refresh_lifetime: self.refresh_lifetime,
            refresh_for_client_credentials: self.refresh_for_client_credentials,
            dpop: self.dpop,
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
    fn new(issuer: &str) -> Result<Paths, ConfigError> {
        let refused = |reason: String| ConfigError::invalid("issuer", reason);
        let metadata = authorization_server_metadata_urls(issuer)
            .map_err(|e| refused(e.to_string()))?
            .into_iter()
            .next()
            .ok_or_else(|| refused("issuer has no metadata URL".into()))?;
        let base = issuer.trim_end_matches('/');
        let jwks_uri = format!("{base}/jwks.json");
        let token_endpoint = format!("{base}/token");
        let path = |u: &str| -> Result<String, ConfigError> {
            let path = url::Url::parse(u)
                .map_err(|_| refused("issuer must be an absolute URL".into()))?
                .path()
                .to_owned();
            // Route syntax of axum: braces would be parameters.
            if path.contains(['{', '}']) {
                return Err(refused("the issuer's path must not contain `{` or `}`".into()));
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
    pub(super) issuer: Issuer,
    pub(super) clients: HashMap<String, RegisteredClient>,
    /// The refresh tokens (in memory, one store per client id, unless configured).
    pub(super) refresh: Arc<dyn RefreshTokenStore>,
    pub(super) refresh_lifetime: Duration,
    pub(super) refresh_for_client_credentials: bool,
    pub(super) dpop: TokenEndpointDpop,
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
            dpop: TokenEndpointDpop::default(),
            refresh_store: None,
        }
    }

    /// The whole setup in one call: the server for `issuer` signing with `signing_key`, minting
    /// for `registry`, with `clients` (refresh tokens also issued for `client_credentials`, see
    /// [`AuthorizationServerBuilder::allow_refresh_tokens_for_client_credentials`]), then
    /// [`bind_resources`](Self::bind_resources) once. An RS that is down is logged; its tokens
    /// are refused with `server_error` until a later `bind_resources` binds it. Refused as
    /// [`AuthorizationServerBuilder::client`] and [`AuthorizationServerBuilder::build`].
    pub async fn new(
        issuer: &str,
        signing_key: &Jwk,
        registry: Registry,
        clients: Vec<RegisteredClient>,
        resources: &ProtectedResourceDiscovery,
    ) -> Result<Arc<AuthorizationServer>, ConfigError> {
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
                tracing::warn!(target: TRACING_TARGET, resource = %crate::untrusted::redacted(resource.as_str()), error = %e, "resource server keys not bound yet");
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
    /// (RFC 8414 §2 requires the member; this AS has no authorization endpoint), and
    /// `dpop_signing_alg_values_supported` (RFC 9449 §5.1: the proof algorithms the token
    /// endpoint accepts).
    pub fn metadata(&self) -> Value {
        let mut scopes: Vec<String> = self
            .issuer
            .registry()
            .entries()
            .iter()
            .flat_map(|e| e.scopes_supported().iter().map(str::to_owned))
            .collect();
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
            "dpop_signing_alg_values_supported": self.dpop.alg_names(),
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
}

async fn token(State(server): State<Arc<AuthorizationServer>>, request: Request) -> Response {
    server.token_request(request).await
}

fn document(body: Bytes, content_type: &'static str, cache: HeaderValue) -> Response {
    let mut r = Response::new(Body::from(body));
    r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    r.headers_mut().insert(CACHE_CONTROL, cache);
    r
}
