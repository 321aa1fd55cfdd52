//! `jwe-mint demo --http`: the scenario of `demo` over real HTTP. One authorization server
//! (`wire::AuthorizationServer`) and two resource servers (`BearerLayer` + `MetadataRouter`) on
//! ephemeral 127.0.0.1 ports, discovering each other's keys (RFC 8414, RFC 9728), and a client
//! that does the flows by hand through the library's `HttpFetcher` (the same one the servers
//! discover with), a DPoP-bound token last (RFC 9449); then everything is stopped. Plain `http`, allowed by the wire code for loopback
//! addresses only (`allow_http_loopback`). The whole run is bounded in time.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use base64::Engine as _;
use bytes::Bytes;
use serde_json::{json, Value};

use jwe_mint::dpop::DpopKey;
use jwe_mint::issuer::Issuer;
use jwe_mint::jwk::{Curve, Jwk, JwkSet};
use jwe_mint::registry::{Registry, ResourceEntry};
use jwe_mint::resource_server::{AccessToken, ResourceServer};
use jwe_mint::wire::{
    protected_resource_metadata_url, AuthorizationServer, BearerLayer, Discovery, Fetcher, HttpFetcher,
    MetadataRouter, ProtectedResourceDiscovery, RegisteredClient,
};

use crate::common::{pretty, CliError};
use crate::demo::{kid, rs_key, shorten, step, Output};

/// The whole demo, servers included, must finish within this.
const DEMO_LIMIT: Duration = Duration::from_secs(30);
/// Each HTTP request, the client's and the servers' discovery.
const REQUEST_LIMIT: Duration = Duration::from_secs(5);
/// How long the servers get to finish in-flight requests when stopped.
const STOP_GRACE: Duration = Duration::from_secs(2);

const PHOTO_APP: &str = "photo-app";
const BOB_APP: &str = "bob-app";
/// A client registered with `dpop_bound_access_tokens`: its tokens are bound to its key.
const DPOP_APP: &str = "dpop-app";
/// The `DPoP` header field (RFC 9449 §4.1).
const DPOP: HeaderName = HeaderName::from_static("dpop");
/// A fixed secret: the servers listen on loopback only and live for the run.
const SECRET: &str = "demo secret (loopback only)";
const SCOPE: &str = "photos.read photos.write friends.read";

/// Runs `demo --http`: output written at the end in one piece, like `demo`; any step that does
/// not go as shown is exit 1 with one line.
pub(crate) fn run() -> Result<(), CliError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| CliError::Failed(format!("demo --http: cannot start the runtime: {e}")))?;
    let outcome = runtime.block_on(async {
        match tokio::time::timeout(DEMO_LIMIT, scenario()).await {
            Ok(r) => r,
            Err(_) => Err(fail(format!("did not finish within {} s", DEMO_LIMIT.as_secs()))),
        }
    });
    // Servers still running after a failure are dropped with the runtime.
    runtime.shutdown_timeout(STOP_GRACE);
    outcome?.flush()
}

fn fail(what: impl std::fmt::Display) -> CliError {
    CliError::Failed(format!("demo --http: {what}"))
}

/// One server: a router on a listener, stopped gracefully on request.
struct Server {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    fn start(listener: tokio::net::TcpListener, router: Router) -> Server {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, router, async {
            let _ = stopped.await;
        }));
        Server { stop, task }
    }

    /// Stops accepting, lets requests in flight finish (at most [`STOP_GRACE`]), and waits.
    async fn stop(self) -> Result<(), CliError> {
        let _ = self.stop.send(());
        tokio::time::timeout(STOP_GRACE * 2, self.task)
            .await
            .map_err(|_| fail("a server did not stop"))?
            .map_err(|e| fail(format!("a server failed: {e}")))
    }
}

async fn serve(listener: tokio::net::TcpListener, router: Router, shutdown: impl Future<Output = ()>) {
    use hyper_util::rt::TokioIo;
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let http = hyper::server::conn::http1::Builder::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                };
                let router = router.clone();
                let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let mut router = router.clone();
                    async move {
                        let r = tower::Service::call(&mut router, req.map(Body::new)).await;
                        Ok::<_, Infallible>(match r {
                            Ok(r) => r,
                            Err(never) => match never {},
                        })
                    }
                });
                let conn = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
                tokio::spawn(async move {
                    let _ = conn.await;
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    let _ = tokio::time::timeout(STOP_GRACE, graceful.shutdown()).await;
}

/// A listener on an ephemeral loopback port, and its `http` origin.
async fn loopback() -> Result<(tokio::net::TcpListener, String), CliError> {
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .map_err(|e| fail(format!("cannot listen on 127.0.0.1: {e}")))?;
    let port = listener.local_addr().map_err(|e| fail(format!("listener address: {e}")))?.port();
    Ok((listener, format!("http://127.0.0.1:{port}")))
}

/// A resource server's routes: `/` (any valid token: who is asking), `/<name>` (needs `scope`),
/// and its RFC 9728 metadata and JWK Set.
fn rs_router(rs: ResourceServer, origin: &str, name: &'static str, scope: &str) -> Result<Router, CliError> {
    let metadata = step(
        "RS metadata",
        MetadataRouter::for_resource_server(&rs, &format!("{origin}/jwks.json"))
            .and_then(|m| m.scopes_supported([scope])),
    )?;
    let auth = step("RS layer", BearerLayer::new(Arc::new(rs)))?;
    let scoped = step("RS layer", auth.require_scope(scope))?;
    Ok(Router::new()
        .route("/", get(whoami).layer(auth))
        .route(&format!("/{name}"), get(move |t: AccessToken| listing(t, name)).layer(scoped))
        .merge(metadata.router()))
}

fn json_body(v: Value) -> axum::response::Response {
    ([(CONTENT_TYPE, "application/json")], v.to_string()).into_response()
}

async fn whoami(token: AccessToken) -> axum::response::Response {
    json_body(json!({
        "sub": token.subject(),
        "client_id": token.client_id(),
        "scope": token.scopes().collect::<Vec<_>>().join(" "),
    }))
}

async fn listing(token: AccessToken, name: &'static str) -> axum::response::Response {
    let items =
        if name == "photos" { json!(["beach.jpg", "mountain.jpg"]) } else { json!(["carol", "dave"]) };
    let mut body = json!({ "owner": token.subject(), name: items });
    // A sender-constrained token names its key (RFC 9449 §6.1): the RS saw the proof by that key.
    if let Some(jkt) = token.dpop_jkt() {
        body["dpop_jkt"] = jkt.into();
    }
    json_body(body)
}

/// The client's view of one answer.
struct Answer {
    status: u16,
    headers: HeaderMap,
    body: Value,
}

impl Answer {
    fn header(&self, name: HeaderName) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    /// The answer's status must be `status`, else the step fails (naming the OAuth error if any).
    fn expect(self, what: &str, status: u16) -> Result<Answer, CliError> {
        if self.status == status {
            return Ok(self);
        }
        let detail = match (self.body.get("error"), self.headers.get(WWW_AUTHENTICATE)) {
            (Some(e), _) => format!(" ({e})"),
            (None, Some(h)) => format!(" ({})", h.to_str().unwrap_or("")),
            _ => String::new(),
        };
        Err(fail(format!("{what}: expected HTTP {status}, got {}{detail}", self.status)))
    }

    /// The answer's challenge must carry `error="<error>"`, else the step fails.
    fn challenged(&self, what: &str, error: &str) -> Result<(), CliError> {
        let challenges: Vec<&str> =
            self.headers.get_all(WWW_AUTHENTICATE).iter().filter_map(|v| v.to_str().ok()).collect();
        if challenges.iter().any(|c| c.contains(&format!("error=\"{error}\""))) {
            return Ok(());
        }
        Err(fail(format!("{what}: no {error} challenge in {challenges:?}")))
    }

    fn str(&self, member: &str) -> Result<String, CliError> {
        self.body
            .get(member)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| fail(format!("the answer has no {member}")))
    }
}

/// The client: requests made by hand, sent through the library's `HttpFetcher` (a bound per
/// request, no proxy, no redirects, loopback `http` only).
struct Client {
    fetcher: Arc<HttpFetcher>,
    token_endpoint: String,
}

impl Client {
    async fn send(
        &self,
        what: &str,
        request: http::request::Builder,
        body: Bytes,
    ) -> Result<Answer, CliError> {
        let request = request.body(body).map_err(|e| fail(format!("{what}: {e}")))?;
        let r = self.fetcher.send(request).await.map_err(|e| fail(format!("{what}: {e}")))?;
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let body = serde_json::from_slice(r.body()).unwrap_or(Value::Null);
        Ok(Answer { status, headers, body })
    }

    async fn token(
        &self,
        what: &str,
        client_id: &str,
        secret: &str,
        form: &[(&str, &str)],
    ) -> Result<Answer, CliError> {
        self.token_with_proof(what, client_id, secret, form, None).await
    }

    /// A token request, with a DPoP proof when `proof` is given (RFC 9449 §5).
    async fn token_with_proof(
        &self,
        what: &str,
        client_id: &str,
        secret: &str,
        form: &[(&str, &str)],
        proof: Option<&str>,
    ) -> Result<Answer, CliError> {
        let body: String = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
        // client_secret_basic (RFC 6749 §2.3.1): id and secret form-encoded, then Basic (RFC 7617).
        let encode = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let credentials = format!("{}:{}", encode(client_id), encode(secret));
        let basic = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(credentials));
        let mut request = http::Request::post(&self.token_endpoint)
            .header(AUTHORIZATION, sensitive(&basic, what)?)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some(proof) = proof {
            request = request.header(DPOP, sensitive(proof, what)?);
        }
        self.send(what, request, Bytes::from(body)).await
    }

    async fn get(&self, what: &str, url: &str, token: Option<&str>) -> Result<Answer, CliError> {
        self.get_as(what, url, token.map(|t| ("Bearer", t)), None).await
    }

    /// A GET with `Authorization: <scheme> <token>` and a `DPoP` proof when given (RFC 9449 §7.1).
    async fn get_as(
        &self,
        what: &str,
        url: &str,
        authorization: Option<(&str, &str)>,
        proof: Option<&str>,
    ) -> Result<Answer, CliError> {
        let mut request = http::Request::get(url);
        if let Some((scheme, token)) = authorization {
            request = request.header(AUTHORIZATION, sensitive(&format!("{scheme} {token}"), what)?);
        }
        if let Some(proof) = proof {
            request = request.header(DPOP, sensitive(proof, what)?);
        }
        self.send(what, request, Bytes::new()).await
    }
}

/// A header value for credentials, marked sensitive.
fn sensitive(value: &str, what: &str) -> Result<HeaderValue, CliError> {
    let mut value = HeaderValue::from_str(value).map_err(|e| fail(format!("{what}: {e}")))?;
    value.set_sensitive(true);
    Ok(value)
}

/// The token response with the tokens cut for display (the refresh token too).
fn shown(body: &Value) -> Result<String, CliError> {
    let mut v = shorten(body.clone());
    if let Some(Value::String(s)) = v.get_mut("refresh_token") {
        *s = format!("{}…", s.chars().take(8).collect::<String>());
    }
    pretty(&v)
}

/// The access token for `resource` in a token response (`access_tokens` or the single one).
fn token_for(body: &Value, resource: &str) -> Result<String, CliError> {
    let single = std::slice::from_ref(body);
    let list = body.get("access_tokens").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(single);
    list.iter()
        .find(|t| t["resource"] == resource)
        .and_then(|t| t["access_token"].as_str())
        .map(str::to_owned)
        .ok_or_else(|| fail(format!("no token for {resource} in the token response")))
}

fn brief(v: &Value) -> String {
    v.to_string()
}

async fn scenario() -> Result<Output, CliError> {
    let mut out = Output::default();

    out.section("1. Keys and servers");
    let as_key = step("generate the AS key", Jwk::generate(Curve::P256))?.with_alg("ES256").with_use("sig");
    let photos_key = rs_key(Curve::P256)?;
    let friends_key = rs_key(Curve::X25519)?;
    let (as_listener, issuer) = loopback().await?;
    let (photos_listener, photos) = loopback().await?;
    let (friends_listener, friends) = loopback().await?;
    out.line(format!("AS     {issuer}  signs with ES256 (P-256), kid {}", kid(&as_key)));
    out.line(format!(
        "RS     {photos}  photos.read photos.write  ECDH-ES+A256KW on P-256, kid {}",
        kid(&photos_key)
    ));
    out.line(format!("RS     {friends}  friends.read  ECDH-ES+A256KW on X25519, kid {}", kid(&friends_key)));
    out.line("plain http, which the wire code allows for loopback addresses only (allow_http_loopback);");
    out.line("anywhere else every URL must be https");
    let fetcher = HttpFetcher::builder()
        .allow_http_loopback(true)
        .timeout(REQUEST_LIMIT)
        .build()
        .map_err(|e| fail(format!("HTTP client: {e}")))?;
    let fetcher = Arc::new(fetcher);
    let discovery = || Discovery::new(Arc::clone(&fetcher) as Arc<dyn Fetcher>);

    // The AS knows its RSs by resource identifier only: their keys are discovered.
    let mut registry = Registry::default();
    let entry = step("photos entry", ResourceEntry::discovered(&photos, ["photos.read", "photos.write"]))?;
    step("register photos", registry.insert(entry))?;
    let entry = step("friends entry", ResourceEntry::discovered(&friends, ["friends.read"]))?;
    step("register friends", registry.insert(entry))?;
    let client = |id: &str, subject: &str, home: &str| {
        step("client", RegisteredClient::new(id, SECRET, subject))
            .map(|c| c.scope(SCOPE).resources([photos.as_str(), friends.as_str()]).home_resource(home))
    };
    let (alice_app, bob_app) = (client(PHOTO_APP, "alice", &photos)?, client(BOB_APP, "bob", &friends)?);
    let dpop_app = client(DPOP_APP, "carol", &photos)?.dpop_bound_access_tokens(true);
    let server = AuthorizationServer::builder(Issuer::builder(&issuer, &as_key).registry(registry))
        .allow_refresh_tokens_for_client_credentials()
        .client(alice_app)
        .and_then(|b| b.client(bob_app))
        .and_then(|b| b.client(dpop_app))
        .and_then(|b| b.build());
    let server = step("build the AS", server)?;
    let mut servers = vec![Server::start(as_listener, Arc::clone(&server).router())];
    out.line(format!(
        "AS serves its RFC 8414 metadata, its jwks_uri {} and {}",
        server.jwks_uri(),
        server.token_endpoint()
    ));

    out.section("2. Discovery");
    for (name, listener, origin, key, scope) in [
        ("photos", photos_listener, &photos, &photos_key, "photos.read"),
        ("friends", friends_listener, &friends, &friends_key, "friends.read"),
    ] {
        let keys = JwkSet::new(vec![key.clone()]);
        let rs = step(
            &format!("{name} RS discovers the AS"),
            discovery()
                .resource_server(ResourceServer::builder(origin, &issuer).decryption_keys(keys).cache(1_000))
                .await,
        )?;
        servers.push(Server::start(listener, rs_router(rs, origin, name, scope)?));
        out.line(format!(
            "{name} RS fetched {issuer}/.well-known/oauth-authorization-server (RFC 8414) and the AS keys at its jwks_uri"
        ));
    }
    let resources = ProtectedResourceDiscovery::new(discovery(), &issuer);
    if let Some((resource, e)) = server.bind_resources(&resources).await.into_iter().next() {
        return Err(fail(format!("the AS could not fetch the keys of {resource}: {e}")));
    }
    for origin in [&photos, &friends] {
        let url = protected_resource_metadata_url(origin).map_err(fail)?;
        out.line(format!("AS fetched {url} (RFC 9728) and the RS's encryption key at its jwks_uri"));
    }
    let c = Client { fetcher, token_endpoint: server.token_endpoint().to_owned() };
    let url = protected_resource_metadata_url(&photos).map_err(fail)?;
    let doc =
        c.get("GET the photos RS metadata", url.as_str(), None).await?.expect("photos RS metadata", 200)?;
    out.line(format!("the photos RS's document ({url}):"));
    out.block(pretty(&doc.body)?);

    out.section("3. Token request (POST /token, client_secret_basic)");
    out.line(format!("{PHOTO_APP} asks for \"{SCOPE}\" for alice, resource={photos} resource={friends}"));
    let form = [
        ("grant_type", "client_credentials"),
        ("scope", SCOPE),
        ("resource", &photos),
        ("resource", &friends),
    ];
    let answer = c.token("token request", PHOTO_APP, SECRET, &form).await?.expect("token request", 200)?;
    out.line(format!(
        "HTTP 200, Cache-Control: {} (tokens shortened for display):",
        answer.header(CACHE_CONTROL)
    ));
    out.block(shown(&answer.body)?);
    let photos_token = token_for(&answer.body, &photos)?;
    let friends_token = token_for(&answer.body, &friends)?;
    let refresh_token = answer.str("refresh_token")?;

    out.section("4. Each RS opens its own token");
    for (url, token, who) in [
        (format!("{photos}/photos"), &photos_token, "photos token"),
        (format!("{friends}/friends"), &friends_token, "friends token"),
    ] {
        let a = c
            .get(&format!("GET {url}"), &url, Some(token))
            .await?
            .expect(&format!("GET {url} with the {who}"), 200)?;
        out.line(format!("GET {url} with the {who} → {} {}", a.status, brief(&a.body)));
    }

    out.section("5. Each RS refuses the other's token");
    for (url, token, who) in [
        (format!("{photos}/photos"), &friends_token, "friends token"),
        (format!("{friends}/friends"), &photos_token, "photos token"),
    ] {
        let a = c
            .get(&format!("GET {url}"), &url, Some(token))
            .await?
            .expect(&format!("GET {url} with the {who}"), 401)?;
        if !a.header(WWW_AUTHENTICATE).contains("error=\"invalid_token\"") {
            return Err(fail(format!("GET {url} with the {who}: no invalid_token challenge")));
        }
        out.line(format!("GET {url} with the {who} → {}", a.status));
        out.line(format!("  WWW-Authenticate: {}", a.header(WWW_AUTHENTICATE)));
    }
    let url = format!("{photos}/photos");
    let a =
        c.get(&format!("GET {url}"), &url, None).await?.expect(&format!("GET {url} without a token"), 401)?;
    out.line(format!("GET {url} without a token → {}", a.status));
    out.line(format!("  WWW-Authenticate: {}", a.header(WWW_AUTHENTICATE)));

    out.section("6. AS-assigned shard");
    out.line(format!("{BOB_APP}, acting for bob, asks for \"{SCOPE}\" without naming a resource;"));
    let form = [("grant_type", "client_credentials"), ("scope", SCOPE)];
    let answer =
        c.token("bob's token request", BOB_APP, SECRET, &form).await?.expect("bob's token request", 200)?;
    let shard = answer.str("resource")?;
    out.line(format!("the AS keeps bob's data on {shard} and says so in \"resource\":"));
    out.block(shown(&answer.body)?);
    if shard != friends {
        return Err(fail(format!("bob's shard is {shard}, expected {friends}")));
    }
    let url = format!("{shard}/");
    let a = c
        .get(&format!("GET {url}"), &url, Some(&answer.str("access_token")?))
        .await?
        .expect("bob at his shard", 200)?;
    out.line(format!(
        "the client reads \"resource\" and sends the token there: GET {url} → {} {}",
        a.status,
        brief(&a.body)
    ));

    out.section("7. Refresh for the second resource (RFC 8707 §2.2)");
    out.line(format!("{PHOTO_APP} sends grant_type=refresh_token, its refresh token and resource={friends}"));
    let form = [("grant_type", "refresh_token"), ("refresh_token", &refresh_token), ("resource", &friends)];
    let answer = c.token("refresh", PHOTO_APP, SECRET, &form).await?.expect("refresh", 200)?;
    out.block(shown(&answer.body)?);
    if answer.str("resource")? != friends || answer.str("refresh_token")? == refresh_token {
        return Err(fail("refresh: expected a friends token and a new refresh token"));
    }
    let url = format!("{friends}/friends");
    let a = c
        .get(&format!("GET {url}"), &url, Some(&answer.str("access_token")?))
        .await?
        .expect("refreshed token", 200)?;
    out.line(format!("GET {url} with the refreshed token → {} {}", a.status, brief(&a.body)));
    let a =
        c.token("refresh again", PHOTO_APP, SECRET, &form).await?.expect("the spent refresh token", 400)?;
    out.line(format!(
        "the spent refresh token again → {} {} (rotated on use; its successor is revoked too, RFC 9700 §4.14.2)",
        a.status,
        brief(&a.body["error"])
    ));

    out.section("8. Refusals at the token endpoint (RFC 6749 §5.2)");
    let a = c
        .token("wrong secret", PHOTO_APP, "wrong", &[("grant_type", "client_credentials")])
        .await?
        .expect("a wrong secret", 401)?;
    out.line(format!(
        "wrong client secret → {} {}, WWW-Authenticate: {}",
        a.status,
        brief(&a.body["error"]),
        a.header(WWW_AUTHENTICATE)
    ));
    let form = [("grant_type", "client_credentials"), ("resource", "https://evil.example")];
    let a = c.token("foreign resource", PHOTO_APP, SECRET, &form).await?.expect("a foreign resource", 400)?;
    out.line(format!("resource=https://evil.example → {} {}", a.status, brief(&a.body["error"])));
    let form = [("grant_type", "client_credentials"), ("scope", "admin")];
    let a = c.token("scope admin", PHOTO_APP, SECRET, &form).await?.expect("scope admin", 400)?;
    out.line(format!("scope=admin → {} {}", a.status, brief(&a.body["error"])));

    dpop(&mut out, &c, &photos).await?;

    out.section("Done");
    drop(c);
    for s in servers {
        s.stop().await?;
    }
    for origin in [&issuer, &photos, &friends] {
        let addr = origin.trim_start_matches("http://");
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return Err(fail(format!("{origin} still accepts connections after the stop")));
        }
    }
    out.line("stopped the AS and both RSs (their ports now refuse connections)");
    out.line("each token was accepted by the resource server it is for and refused by the other");
    Ok(out)
}

/// A token bound to the client's key (RFC 9449): refused without a proof for a client registered
/// for DPoP, bound with one; at the RS it needs a fresh proof each time, and is refused as a
/// bearer token, with a replayed proof, or with another key's proof.
async fn dpop(out: &mut Output, c: &Client, photos: &str) -> Result<(), CliError> {
    out.section("9. DPoP: a token bound to the client's key (RFC 9449)");
    let key = step("generate the DPoP key", DpopKey::generate())?;
    out.line(format!(
        "{DPOP_APP}, acting for carol, is registered with dpop_bound_access_tokens; its P-256 key's thumbprint is {}",
        key.thumbprint()
    ));
    let form = [("grant_type", "client_credentials"), ("scope", "photos.read"), ("resource", photos)];
    let a = c
        .token("DPoP client without a proof", DPOP_APP, SECRET, &form)
        .await?
        .expect("a DPoP client's token request without a proof", 400)?;
    out.line(format!("token request without a DPoP proof → {} {}", a.status, brief(&a.body["error"])));
    let proof = step("DPoP proof", key.proof("POST", &c.token_endpoint).sign())?;
    let answer = c
        .token_with_proof("DPoP token request", DPOP_APP, SECRET, &form, Some(&proof))
        .await?
        .expect("a DPoP token request", 200)?;
    let token = answer.str("access_token")?;
    if answer.str("token_type")? != "DPoP" {
        return Err(fail("the DPoP token request did not get token_type DPoP"));
    }
    out.line(format!(
        "with a proof (htm POST, htu the token endpoint, signed by the key) → {} token_type DPoP",
        answer.status
    ));

    let url = format!("{photos}/photos");
    let proof = step("DPoP proof", key.proof("GET", &url).access_token(&token).sign())?;
    let a = c
        .get_as("DPoP request", &url, Some(("DPoP", &token)), Some(&proof))
        .await?
        .expect(&format!("GET {url} with the DPoP token and a fresh proof"), 200)?;
    if a.body["dpop_jkt"] != key.thumbprint() {
        return Err(fail("the RS did not see the token bound to the client's key"));
    }
    out.line(format!(
        "GET {url}, Authorization: DPoP and a proof (htm, htu, ath = the token's hash) → {} {}",
        a.status,
        brief(&a.body)
    ));
    let a = c
        .get_as("replayed proof", &url, Some(("DPoP", &token)), Some(&proof))
        .await?
        .expect("the same proof again", 401)?;
    a.challenged("the same proof again", "invalid_dpop_proof")?;
    out.line(format!(
        "the same proof again → {}  WWW-Authenticate: {}",
        a.status,
        a.header(WWW_AUTHENTICATE)
    ));
    let a =
        c.get("bound token as Bearer", &url, Some(&token)).await?.expect("the DPoP token as Bearer", 401)?;
    a.challenged("the DPoP token as Bearer", "invalid_token")?;
    out.line(format!("the token as a Bearer token (a thief without the key) → {}", a.status));
    let other = step("generate another key", DpopKey::generate())?;
    let proof = step("DPoP proof", other.proof("GET", &url).access_token(&token).sign())?;
    let a = c
        .get_as("another key's proof", &url, Some(("DPoP", &token)), Some(&proof))
        .await?
        .expect("a proof by another key", 401)?;
    a.challenged("a proof by another key", "invalid_dpop_proof")?;
    out.line(format!("a fresh proof signed by another key → {}", a.status));
    Ok(())
}
