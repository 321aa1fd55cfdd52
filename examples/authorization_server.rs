//! An OAuth authorization server on axum that mints jwe-mint access tokens: RFC 8414 metadata, its
//! `jwks_uri`, and a token endpoint (RFC 6749 §3.2) for `client_credentials` and `refresh_token`
//! with one or several RFC 8707 `resource` parameters, clients authenticated with
//! `client_secret_basic` (RFC 6749 §2.3.1). Resource servers registered without keys are found
//! through their RFC 9728 metadata (`jwe_mint::wire::ProtectedResourceDiscovery`).
//!
//! ```sh
//! cargo run --example authorization_server --features axum -- as.json
//! ```
//! with `as.json`:
//! ```json
//! { "listen": "127.0.0.1:9000", "issuer": "http://127.0.0.1:9000",
//!   "signing_key": "as.jwk", "registry": "registry.json", "allow_http": true,
//!   "clients": [ { "client_id": "photo-app", "client_secret_file": "photo-app.secret",
//!                  "subject": "alice", "scope": "photos.read friends.read",
//!                  "resources": ["https://photos.example.com", "https://friends.example.com"],
//!                  "home_resource": "https://photos.example.com" } ] }
//! ```
//!
//! It serves plain HTTP and is meant for loopback: put TLS in front of it in any real deployment.
//! Deliberate shortcuts of an example: clients and refresh tokens live in memory; a client acts
//! for one configured `subject` (standing in for an authorization-code grant), and its
//! `client_credentials` response carries a refresh token so the RFC 8707 §2.2 path (a token for
//! another resource from the refresh token) can be shown.
//!
//! Errors are RFC 6749 §5.2 JSON (`invalid_client` with `WWW-Authenticate: Basic`,
//! `invalid_request`, `invalid_grant`, `unsupported_grant_type`, `invalid_scope`,
//! `invalid_target`, `unauthorized_client`). When an RS's keys cannot be fetched the answer is
//! HTTP 503 with `Retry-After` and `{"error": "server_error"}`; when none of its keys is usable,
//! HTTP 500 with the same body. RFC 6749 §5.2 has no code for these: `server_error` is borrowed
//! from §4.1.2.1, an extension, never an unencrypted token.
#![allow(dead_code)] // also compiled into the tests, which use the router but not `main`

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use serde_json::{json, Value};

use jwe_mint::issuer::{Grant, Issuer, TokenResponse};
use jwe_mint::jwk::{Jwk, KeySourceError};
use jwe_mint::registry::Registry;
use jwe_mint::wire::ProtectedResourceDiscovery;
use jwe_mint::Error;

/// Largest token request body.
const MAX_FORM: usize = 16 * 1024;
/// How long clients may cache the JWK Set.
const JWKS_MAX_AGE: u64 = 300;

/// A registered client.
#[derive(Clone)]
pub struct Client {
    /// `client_id`.
    pub client_id: String,
    /// The shared secret (compared as SHA-256 digests).
    pub secret: String,
    /// The user this client acts for (the `sub` of its tokens).
    pub subject: String,
    /// Everything it may ask for.
    pub scope: String,
    /// The resources it may ask for.
    pub resources: Vec<String>,
    /// The resource the AS picks when the request names none (the user's "home shard").
    pub home_resource: Option<String>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("client_id", &self.client_id).finish_non_exhaustive()
    }
}

/// What a refresh token stands for: the original grant (RFC 8707 §2.2: later requests may name
/// any of its resources, never another).
struct RefreshGrant {
    client_id: String,
    subject: String,
    scope: String,
    resources: Vec<String>,
}

/// The authorization server's state.
pub struct AuthorizationServer {
    issuer: Issuer,
    clients: HashMap<String, Client>,
    refresh: Mutex<HashMap<String, RefreshGrant>>,
}

impl AuthorizationServer {
    /// Builds the AS (the issuer with every client's resources allowed), then binds the registry
    /// entries whose keys live on the wire (RFC 9728, through `resources`; an RS that is down is
    /// logged and its tokens refused with `server_error` until [`Self::bind_resources`] succeeds).
    pub async fn new(
        issuer: &str,
        signing_key: &Jwk,
        registry: Registry,
        clients: Vec<Client>,
        resources: &ProtectedResourceDiscovery,
    ) -> Result<Arc<AuthorizationServer>, Error> {
        let mut builder = Issuer::builder(issuer, signing_key).registry(registry);
        for c in &clients {
            let resources: Vec<&str> = c.resources.iter().map(String::as_str).collect();
            builder = builder.allow_client(&c.client_id, &resources)?;
        }
        let server = Arc::new(AuthorizationServer {
            issuer: builder.build()?,
            clients: clients.into_iter().map(|c| (c.client_id.clone(), c)).collect(),
            refresh: Mutex::new(HashMap::new()),
        });
        server.bind_resources(resources).await;
        Ok(server)
    }

    /// Binds the registry entries that are still unbound (an RS that was down at startup, or
    /// started after the AS): call it again later, e.g. on a timer, until every RS is bound.
    /// Only registry entries are fetched, never a URL from a request (RFC 9728 §7.7).
    pub async fn bind_resources(&self, resources: &ProtectedResourceDiscovery) -> usize {
        let mut failed = 0;
        for (resource, outcome) in resources.bind_registry(self.issuer.registry()).await {
            if let Err(e) = outcome {
                eprintln!("authorization_server: keys of {resource} not fetched yet: {e}");
                failed += 1;
            }
        }
        failed
    }

    /// The routes: RFC 8414 metadata, the JWK Set, the token endpoint.
    pub fn router(self: Arc<Self>) -> Router {
        Router::new()
            .route("/.well-known/oauth-authorization-server", get(metadata))
            .route("/jwks.json", get(jwks))
            .route("/token", post(token))
            .with_state(self)
    }
}

async fn metadata(State(server): State<Arc<AuthorizationServer>>) -> Json<Value> {
    let issuer = server.issuer.issuer();
    Json(json!({
        "issuer": issuer,
        "jwks_uri": format!("{}/jwks.json", issuer.trim_end_matches('/')),
        "token_endpoint": format!("{}/token", issuer.trim_end_matches('/')),
        "grant_types_supported": ["client_credentials", "refresh_token"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic"],
        "scopes_supported": scopes(&server),
    }))
}

fn scopes(server: &AuthorizationServer) -> Vec<String> {
    let mut all: Vec<String> =
        server.issuer.registry().entries().iter().flat_map(|e| e.scopes_supported().to_vec()).collect();
    all.sort();
    all.dedup();
    all
}

async fn jwks(State(server): State<Arc<AuthorizationServer>>) -> Response {
    let body = match server.issuer.verification_keys().to_json() {
        Ok(b) => b,
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("application/jwk-set+json")),
            (header::CACHE_CONTROL, HeaderValue::from_str(&format!("max-age={JWKS_MAX_AGE}")).unwrap()),
        ],
        body,
    )
        .into_response()
}

/// A refused token request, boxed (a `Response` is large and the refusal path is the rare one).
type Refusal = Box<Response>;

/// An RFC 6749 §5.2 error response.
fn oauth_error(status: StatusCode, code: &str, description: &str) -> Refusal {
    let mut response =
        (status, Json(json!({ "error": code, "error_description": description }))).into_response();
    no_store(response.headers_mut());
    Box::new(response)
}

/// RFC 6749 §5.1: token responses are not cached.
fn no_store(headers: &mut HeaderMap) {
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

fn invalid_client() -> Refusal {
    let mut r = oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", "client authentication failed");
    r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"token\""));
    r
}

/// What minting can fail with, as the token endpoint answers it.
fn mint_error(e: Error) -> Refusal {
    match e {
        // RFC 6749 §5.2: 400 for every code but invalid_client.
        Error::OAuth { code, description } => {
            oauth_error(StatusCode::BAD_REQUEST, code.as_str(), &description)
        }
        Error::KeySource(KeySourceError::Unavailable { .. }) => {
            let mut r = oauth_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "server_error",
                "the resource server's keys are unavailable",
            );
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("30"));
            r
        }
        // No usable key, or anything else: the server's fault, with no detail for the client.
        _ => oauth_error(StatusCode::INTERNAL_SERVER_ERROR, "server_error", "the token could not be issued"),
    }
}

/// The client from `Authorization: Basic` (RFC 6749 §2.3.1: id and secret form-urlencoded, then
/// base64), if the secret matches.
fn authenticate<'a>(server: &'a AuthorizationServer, headers: &HeaderMap) -> Option<&'a Client> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let decode = |s: &str| -> Option<String> {
        url::form_urlencoded::parse(format!("x={s}").as_bytes()).next().map(|(_, v)| v.into_owned())
    };
    let (id, secret) = (decode(id)?, decode(secret)?);
    let client = server.clients.get(&id)?;
    // Constant time: how long the comparison takes says nothing about where the secrets differ.
    bool::from(subtle::ConstantTimeEq::ct_eq(client.secret.as_bytes(), secret.as_bytes())).then_some(client)
}

/// The form parameters: every name once, except `resource` (RFC 8707 §2: repeatable).
fn parse_form(body: &[u8]) -> Result<(HashMap<String, String>, Vec<String>), Refusal> {
    let mut params = HashMap::new();
    let mut resources = Vec::new();
    for (name, value) in url::form_urlencoded::parse(body) {
        if name == "resource" {
            resources.push(value.into_owned());
        } else if params.insert(name.clone().into_owned(), value.into_owned()).is_some() {
            return Err(oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                &format!("parameter {name} given more than once"),
            ));
        }
    }
    Ok((params, resources))
}

async fn token(State(server): State<Arc<AuthorizationServer>>, headers: HeaderMap, body: Bytes) -> Response {
    if body.len() > MAX_FORM {
        return *oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "request too large");
    }
    let form = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| {
        v.split(';')
            .next()
            .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"))
    });
    if !form {
        return *oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "expected a form body");
    }
    let Some(client) = authenticate(&server, &headers) else {
        return *invalid_client();
    };
    let (params, resources) = match parse_form(&body) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let outcome = match params.get("grant_type").map(String::as_str) {
        Some("client_credentials") => client_credentials(&server, client, &params, resources),
        Some("refresh_token") => refresh(&server, client, &params, resources),
        Some(_) => {
            Err(oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type", "unsupported grant_type"))
        }
        None => Err(oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "missing grant_type")),
    };
    match outcome {
        Ok(body) => {
            let mut r = Json(body).into_response();
            no_store(r.headers_mut());
            r
        }
        Err(r) => *r,
    }
}

fn client_credentials(
    server: &AuthorizationServer,
    client: &Client,
    params: &HashMap<String, String>,
    mut resources: Vec<String>,
) -> Result<Value, Refusal> {
    if resources.is_empty() {
        // The AS picks the resource server and the response says which (`resource`).
        match &client.home_resource {
            Some(home) => resources.push(home.clone()),
            None => {
                return Err(oauth_error(StatusCode::BAD_REQUEST, "invalid_target", "no resource requested"))
            }
        }
    }
    let scope = params.get("scope").cloned().unwrap_or_else(|| client.scope.clone());
    if scope.split(' ').any(|s| !client.scope.split(' ').any(|c| c == s)) {
        return Err(oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            "scope not allowed for this client",
        ));
    }
    let response = mint(server, &client.subject, &client.client_id, &scope, &resources)?;
    let mut body = response.to_json();
    let refresh_token = new_refresh_token().map_err(|_| mint_error(Error::Crypto("random")))?;
    server.refresh.lock().unwrap_or_else(|e| e.into_inner()).insert(
        refresh_token.clone(),
        RefreshGrant {
            client_id: client.client_id.clone(),
            subject: client.subject.clone(),
            scope,
            resources,
        },
    );
    body["refresh_token"] = refresh_token.into();
    Ok(body)
}

fn refresh(
    server: &AuthorizationServer,
    client: &Client,
    params: &HashMap<String, String>,
    resources: Vec<String>,
) -> Result<Value, Refusal> {
    let invalid_grant = || oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "unknown refresh token");
    let Some(presented) = params.get("refresh_token") else {
        return Err(oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "missing refresh_token"));
    };
    let (subject, granted_scope, granted) = {
        let refresh = server.refresh.lock().unwrap_or_else(|e| e.into_inner());
        let Some(grant) = refresh.get(presented).filter(|g| g.client_id == client.client_id) else {
            return Err(invalid_grant());
        };
        (grant.subject.clone(), grant.scope.clone(), grant.resources.clone())
    };
    // RFC 8707 §2.2: any resource of the original grant, one token each; none named: all of them.
    let resources = if resources.is_empty() { granted.clone() } else { resources };
    if let Some(r) = resources.iter().find(|r| !granted.contains(r)) {
        return Err(oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_target",
            &format!("{r} was not part of the original grant"),
        ));
    }
    let scope = params.get("scope").cloned().unwrap_or(granted_scope.clone());
    if scope.split(' ').any(|s| !granted_scope.split(' ').any(|g| g == s)) {
        return Err(oauth_error(StatusCode::BAD_REQUEST, "invalid_scope", "scope beyond the original grant"));
    }
    Ok(mint(server, &subject, &client.client_id, &scope, &resources)?.to_json())
}

fn mint(
    server: &AuthorizationServer,
    subject: &str,
    client_id: &str,
    scope: &str,
    resources: &[String],
) -> Result<TokenResponse, Refusal> {
    let resources: Vec<&str> = resources.iter().map(String::as_str).collect();
    let grant = Grant::new(subject, client_id, scope, &resources).map_err(mint_error)?;
    server.issuer.mint_all(&grant).map_err(mint_error)
}

fn new_refresh_token() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// The configuration file of `main`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    listen: String,
    issuer: String,
    signing_key: String,
    registry: String,
    #[serde(default)]
    allow_http: bool,
    #[serde(default)]
    ca_file: Option<String>,
    clients: Vec<ClientConfig>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientConfig {
    client_id: String,
    client_secret_file: String,
    subject: String,
    scope: String,
    resources: Vec<String>,
    #[serde(default)]
    home_resource: Option<String>,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).ok_or("usage: authorization_server CONFIG.json")?;
    let config: Config = serde_json::from_str(&std::fs::read_to_string(&path)?)?;
    let signing_key = Jwk::from_json(&std::fs::read_to_string(&config.signing_key)?)?;
    let registry = Registry::from_json(&std::fs::read_to_string(&config.registry)?)?;
    let mut clients = Vec::new();
    for c in config.clients {
        let secret = std::fs::read_to_string(&c.client_secret_file)?.trim_end().to_owned();
        clients.push(Client {
            client_id: c.client_id,
            secret,
            subject: c.subject,
            scope: c.scope,
            resources: c.resources,
            home_resource: c.home_resource,
        });
    }
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let mut fetcher = jwe_mint::wire::HttpFetcher::builder().allow_http_loopback(config.allow_http);
        if let Some(ca) = &config.ca_file {
            fetcher = fetcher.add_ca_file(ca)?;
        }
        let discovery = jwe_mint::wire::Discovery::new(Arc::new(fetcher.build()?));
        let resources = ProtectedResourceDiscovery::new(discovery, &config.issuer);
        let server =
            AuthorizationServer::new(&config.issuer, &signing_key, registry, clients, &resources).await?;
        // Resource servers that were down at startup are bound when they come up.
        let binder = Arc::clone(&server);
        tokio::spawn(async move {
            while binder.bind_resources(&resources).await > 0 {
                tokio::time::sleep(std::time::Duration::from_secs(30)).await;
            }
        });
        let listener = tokio::net::TcpListener::bind(&config.listen).await?;
        eprintln!("authorization_server: {} on {}", config.issuer, listener.local_addr()?);
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        axum::serve(listener, server.router()).with_graceful_shutdown(shutdown).await?;
        Ok::<(), Box<dyn std::error::Error>>(())
    })
}
