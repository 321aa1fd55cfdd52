//! The client side over real HTTPS on 127.0.0.1: the library's authorization server, two resource
//! servers behind the `BearerLayer`, and a `TokenBook` / `AuthorizedClient` that sends each RS
//! only its own token, follows a 401 to the RS's metadata and its AS, and renews tokens ahead of
//! expiry with one token request per resource however many ask.
#![cfg(feature = "axum")]

use crate::servers;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine as _;
use bytes::Bytes;
use jwe_mint::jwk::{Curve, Jwk, JwkSet};
use jwe_mint::registry::{Registry, ResourceEntry};
use jwe_mint::resource_server::{AccessToken, ResourceServer};
use jwe_mint::wire::{
    AuthorizationServer, AuthorizedClient, BearerLayer, ClientError, Discovery, FetchFuture, Fetcher,
    HttpFetcher, MetadataRouter, ProtectedResourceDiscovery, PublicAddressesOnly, RegisteredClient,
    TokenBook, WireError,
};
use serde_json::{json, Value};
use servers::{bounded, free_origin, Pki, Reply, RouterServer, TestServer};

const SECRET: &str = "correct horse battery staple";

/// Token requests seen by the AS, by grant type.
#[derive(Default)]
struct Counts {
    client_credentials: AtomicUsize,
    refresh_token: AtomicUsize,
}

impl Counts {
    fn cc(&self) -> usize {
        self.client_credentials.load(Ordering::SeqCst)
    }
    fn refresh(&self) -> usize {
        self.refresh_token.load(Ordering::SeqCst)
    }
}

async fn count(State(counts): State<Arc<Counts>>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 16).await.unwrap();
    if parts.uri.path() == "/token" {
        for (name, value) in url::form_urlencoded::parse(&bytes) {
            if name == "grant_type" {
                match &*value {
                    "client_credentials" => counts.client_credentials.fetch_add(1, Ordering::SeqCst),
                    "refresh_token" => counts.refresh_token.fetch_add(1, Ordering::SeqCst),
                    _ => 0,
                };
            }
        }
    }
    next.run(Request::from_parts(parts, Body::from(bytes))).await
}

struct World {
    pki: Pki,
    issuer: String,
    /// `https://127.0.0.1:A/photos`: a resource with a path; its origin also serves unguarded
    /// routes that report whether a token came.
    photos: String,
    photos_origin: String,
    /// `https://127.0.0.1:B`: a whole origin.
    friends: String,
    /// `https://127.0.0.1:D`: answers 401 to everything (see [`deaf_handler`]).
    deaf: String,
    deaf_server: TestServer,
    counts: Arc<Counts>,
    _servers: Vec<RouterServer>,
}

/// The RS's view of a request: who the token was for, or (unguarded routes) whether one came.
async fn whoami(token: AccessToken) -> Json<Value> {
    Json(json!({ "sub": token.subject(), "aud": token.raw_claims().get("aud") }))
}

/// A write's view: who the token was for, and what came (method, content type, body).
async fn echo(token: AccessToken, method: Method, headers: HeaderMap, body: Bytes) -> Json<Value> {
    Json(json!({
        "aud": token.raw_claims().get("aud"),
        "method": method.as_str(),
        "content_type": headers.get("content-type").and_then(|v| v.to_str().ok()),
        "body": String::from_utf8_lossy(&body),
    }))
}

async fn unguarded(headers: HeaderMap) -> Json<Value> {
    Json(json!({ "authorization": headers.contains_key("authorization") }))
}

async fn rs_app(resource: &str, issuer: &str, discovery: &Discovery, curve: Curve, paths: &[&str]) -> Router {
    let keys = JwkSet::new(vec![Jwk::generate(curve).unwrap()]);
    let rs = discovery
        .resource_server(ResourceServer::builder(resource, issuer).decryption_keys(keys))
        .await
        .unwrap();
    let origin = url::Url::parse(resource).unwrap().origin().ascii_serialization();
    let metadata = MetadataRouter::for_resource_server(&rs, &format!("{origin}/jwks.json")).unwrap();
    let auth = BearerLayer::new(Arc::new(rs)).unwrap();
    let mut router = Router::new();
    for path in paths {
        router = router.route(path, get(whoami).post(echo).put(echo).layer(auth.clone()));
    }
    router.fallback(unguarded).merge(metadata.router())
}

/// An RS on `origin` that refuses every token: its metadata names `issuer`; `/mismatch` points at
/// a document for another resource, `/offsite` at metadata on `offsite`, `/nometa/…` gives no
/// `resource_metadata` (the well-known URLs are tried: the path one is 404, the root one serves).
fn deaf_handler(origin: String, issuer: String, offsite: String) -> impl Fn(&str) -> Reply + Send + Sync {
    move |path: &str| {
        let challenge = |metadata: &str| format!("Bearer resource_metadata=\"{metadata}\"");
        let doc = |resource: String| {
            Reply::json(json!({ "resource": resource, "authorization_servers": [issuer] }).to_string())
        };
        match path {
            "/.well-known/oauth-protected-resource" => doc(origin.clone()),
            "/.well-known/oauth-protected-resource/mismatch" => doc(format!("{origin}/elsewhere")),
            "/mismatch" => Reply::status(401).header(
                "www-authenticate",
                challenge(&format!("{origin}/.well-known/oauth-protected-resource/mismatch")),
            ),
            "/offsite" => Reply::status(401).header(
                "www-authenticate",
                format!(
                    "Basic realm=\"x\", {}",
                    challenge(&format!("{offsite}/.well-known/oauth-protected-resource"))
                ),
            ),
            p if p.starts_with("/nometa/") => {
                Reply::status(401).header("www-authenticate", "Bearer realm=\"deaf\"")
            }
            p if p.starts_with("/.well-known/") => Reply::status(404),
            _ => Reply::status(401).header(
                "www-authenticate",
                challenge(&format!("{origin}/.well-known/oauth-protected-resource")),
            ),
        }
    }
}

/// The AS (counting token requests) with photos, friends and the deaf RS registered; friends'
/// tokens live `friends_lifetime` seconds.
async fn world(friends_lifetime: u64) -> World {
    let pki = Pki::new();
    let (as_addr, issuer) = free_origin();
    let (photos_addr, photos_origin) = free_origin();
    let (friends_addr, friends) = free_origin();
    let (deaf_addr, deaf) = free_origin();
    let photos = format!("{photos_origin}/photos");
    let discovery = || Discovery::new(Arc::new(pki.fetcher()));

    let mut registry = Registry::default();
    registry.insert(ResourceEntry::discovered(&photos, ["photos.read"]).unwrap()).unwrap();
    registry
        .insert(
            ResourceEntry::discovered(&friends, ["friends.read"])
                .unwrap()
                .with_token_lifetime(friends_lifetime),
        )
        .unwrap();
    let deaf_key = Jwk::generate(Curve::P256).unwrap();
    registry
        .insert(
            ResourceEntry::new(&deaf, ["photos.read"], JwkSet::new(vec![deaf_key.to_public().unwrap()]))
                .unwrap(),
        )
        .unwrap();
    let client = RegisteredClient::new("photo-app", SECRET, "alice")
        .unwrap()
        .scope("photos.read friends.read")
        .resources([photos.as_str(), friends.as_str(), deaf.as_str()])
        .home_resource(&photos);
    let resources = ProtectedResourceDiscovery::new(discovery(), &issuer);
    let as_key = Jwk::generate(Curve::P256).unwrap();
    let server =
        AuthorizationServer::new(&issuer, &as_key, registry, vec![client], &resources).await.unwrap();
    let counts = Arc::new(Counts::default());
    let as_router =
        Arc::clone(&server).router().layer(axum::middleware::from_fn_with_state(Arc::clone(&counts), count));
    let mut servers = vec![RouterServer::start(&pki, as_addr, as_router).await];
    let photos_app =
        rs_app(&photos, &issuer, &discovery(), Curve::P256, &["/photos", "/photos/{*rest}"]).await;
    servers.push(RouterServer::start(&pki, photos_addr, photos_app).await);
    let friends_app = rs_app(&friends, &issuer, &discovery(), Curve::X25519, &["/", "/{*rest}"]).await;
    servers.push(RouterServer::start(&pki, friends_addr, friends_app).await);
    assert!(server.bind_resources(&resources).await.is_empty(), "both RSs bound once up");
    let deaf_server = TestServer::start(
        deaf_addr,
        Some(&pki),
        Arc::new(deaf_handler(deaf.clone(), issuer.clone(), friends.clone())),
    )
    .await;
    World { pki, issuer, photos, photos_origin, friends, deaf, deaf_server, counts, _servers: servers }
}

impl World {
    fn book(&self) -> TokenBook {
        self.book_for(&self.issuer, SECRET)
    }

    fn book_for(&self, issuer: &str, secret: &str) -> TokenBook {
        TokenBook::builder(issuer, "photo-app", secret.to_string())
            .fetcher(Arc::new(self.pki.fetcher()))
            .refresh_skew(Duration::from_secs(60))
            .build()
            .unwrap()
    }

    /// A `client_credentials` response for photos and friends, reduced to photos' token and the
    /// refresh token (whose grant covers both).
    async fn photos_only_with_broad_refresh_token(&self) -> Vec<u8> {
        let client = reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(self.pki.ca_pem.as_bytes()).unwrap())
            .build()
            .unwrap();
        let form: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs([
                ("grant_type", "client_credentials"),
                ("resource", &self.photos),
                ("resource", &self.friends),
            ])
            .finish();
        let r = client
            .post(format!("{}/token", self.issuer))
            .basic_auth("photo-app", Some(SECRET))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form)
            .send()
            .await
            .unwrap();
        let body: Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
        let photos =
            body["access_tokens"].as_array().unwrap().iter().find(|t| t["resource"] == self.photos.as_str());
        let mut only = photos.unwrap().clone();
        only["refresh_token"] = body["refresh_token"].clone();
        only.to_string().into_bytes()
    }
}

fn body(r: &http::Response<Bytes>) -> Value {
    serde_json::from_slice(r.body()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_resource_server_gets_only_its_own_token() {
    bounded(async {
        let w = world(600).await;
        let book = w.book();
        let stored = book.client_credentials(&[&w.photos, &w.friends]).await.unwrap();
        assert_eq!(stored.len(), 2);
        assert_eq!(w.counts.cc(), 1);
        let client = AuthorizedClient::new(book.clone());

        for url in [w.photos.clone(), format!("{}/albums/1?page=2", w.photos)] {
            let r = client.get(&url).await.unwrap();
            assert_eq!(r.status(), 200, "{url}");
            assert_eq!(body(&r)["aud"], w.photos.as_str(), "{url}: photos' token");
        }
        let r = client.get(&format!("{}/anything", w.friends)).await.unwrap();
        assert_eq!(body(&r)["aud"], w.friends.as_str(), "friends' token");

        // Same origin as photos, but no resource covers these: no token at all.
        for url in [
            format!("{}/photos-evil", w.photos_origin),
            format!("{}/photosx/1", w.photos_origin),
            format!("{}/other", w.photos_origin),
            format!("{}/photos/../friends", w.photos_origin),
            format!("{}/photos/%2e%2e/friends", w.photos_origin),
            format!("{}/photos/%2E%2E/friends", w.photos_origin),
        ] {
            assert!(book.token_for(&url).is_none(), "{url}");
            let r = client.get(&url).await.unwrap();
            assert_eq!(r.status(), 200, "{url}");
            assert_eq!(body(&r)["authorization"], false, "{url} must get no token");
        }
        assert!(book.token_for(&format!("{}/photos/./x", w.photos_origin)).is_none());
        assert!(
            book.token_for(&w.photos.replace("127.0.0.1", "localhost")).is_none(),
            "host compared exactly"
        );
        assert!(book.token_for(&w.photos.replace("https", "http")).is_none(), "scheme compared exactly");
        assert_eq!(w.counts.cc(), 1, "no token request for uncovered URLs");
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_401_leads_to_the_metadata_a_token_and_one_retry() {
    bounded(async {
        let w = world(600).await;
        let book = w.book();
        let client = AuthorizedClient::new(book.clone());
        assert!(book.resources().is_empty());
        // Nothing held: no token sent, 401 → metadata → client_credentials for friends → retry.
        let r = client.get(&format!("{}/", w.friends)).await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(body(&r)["aud"], w.friends.as_str());
        assert_eq!(book.resources(), [w.friends.as_str()]);
        // A resource with a path: the metadata at its path names it, and it covers the URL.
        let r = client.get(&format!("{}/1", w.photos)).await.unwrap();
        assert_eq!(body(&r)["aud"], w.photos.as_str());
        // The refresh token's grant is friends only: refused for photos (invalid_target), then
        // client_credentials.
        assert_eq!((w.counts.cc(), w.counts.refresh()), (2, 1));
        // Held now: no more token requests.
        client.get(&format!("{}/", w.friends)).await.unwrap();
        client.get(&w.photos).await.unwrap();
        assert_eq!((w.counts.cc(), w.counts.refresh()), (2, 1));
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_of_the_401_flow() {
    bounded(async {
        let w = world(600).await;
        let offsite = TestServer::https(&w.pki, |_| Reply::json("{}")).await;

        // The RS names an AS this client was not configured with: nothing is asked of anyone.
        let other_as = "https://127.0.0.1:9";
        let untrusted = AuthorizedClient::new(w.book_for(other_as, SECRET));
        let e = untrusted.get(&format!("{}/", w.friends)).await.unwrap_err();
        assert!(
            matches!(&e, ClientError::UntrustedAuthorizationServer { issuer, .. } if issuer == other_as),
            "{e}"
        );
        assert_eq!(w.counts.cc() + w.counts.refresh(), 0);

        let client = AuthorizedClient::new(w.book());
        // The document is for another resource.
        let e = client.get(&format!("{}/mismatch", w.deaf)).await.unwrap_err();
        assert!(
            matches!(&e, ClientError::ResourceMismatch { resource, .. } if resource.ends_with("/elsewhere")),
            "{e}"
        );
        // resource_metadata on another origin: never fetched.
        let offsite_client = AuthorizedClient::new(w.book());
        let deaf = TestServer::https(
            &w.pki,
            deaf_handler(w.deaf.clone(), w.issuer.clone(), offsite.url("").trim_end_matches('/').to_owned()),
        )
        .await;
        let e = offsite_client.get(&deaf.url("/offsite")).await.unwrap_err();
        assert!(matches!(e, ClientError::MetadataUrlRefused { .. }), "{e}");
        assert_eq!(offsite.requests(), 0);
        assert_eq!(w.counts.cc() + w.counts.refresh(), 0, "no token asked for on a refusal");

        // A second 401 with a new token: an error, no loop (request, metadata, retry).
        let before = w.deaf_server.requests();
        let e = client.get(&format!("{}/x", w.deaf)).await.unwrap_err();
        assert!(matches!(e, ClientError::StillUnauthorized { .. }), "{e}");
        assert_eq!(w.deaf_server.requests() - before, 3);
        assert_eq!(w.counts.cc(), 1);
        // Without resource_metadata: the path's well-known URL (404), then the root one.
        let before = w.deaf_server.requests();
        let e = client.get(&format!("{}/nometa/x", w.deaf)).await.unwrap_err();
        assert!(matches!(e, ClientError::StillUnauthorized { .. }), "{e}");
        assert_eq!(w.deaf_server.requests() - before, 4);
        // The held token was refused, so a new one was asked for (not the refused one resent).
        assert_eq!(w.counts.cc() + w.counts.refresh(), 2);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_put_refused_with_401_is_sent_again_with_its_method_headers_and_body() {
    bounded(async {
        let w = world(600).await;
        let book = w.book();
        let client = AuthorizedClient::new(book.clone());
        let url = format!("{}/albums/1/title", w.friends);
        let put = client
            .request(Method::PUT, &url)
            .header("content-type", "text/plain")
            .header("authorization", "Bearer not-for-this-rs")
            .body(Bytes::from_static(b"Holidays"))
            .unwrap();
        // Nothing held: 401 (the layer answers before the handler) → metadata → token → the same
        // PUT again, which the handler echoes.
        let r = client.send(put).await.unwrap();
        assert_eq!(r.status(), 200);
        let echoed = body(&r);
        assert_eq!(echoed["aud"], w.friends.as_str());
        assert_eq!((echoed["method"].as_str(), echoed["body"].as_str()), (Some("PUT"), Some("Holidays")));
        assert_eq!(echoed["content_type"], "text/plain");
        assert_eq!(book.resources(), [w.friends.as_str()]);
        assert_eq!(w.counts.cc() + w.counts.refresh(), 1);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_for_a_second_resource_from_the_refresh_token() {
    bounded(async {
        let w = world(600).await;
        let book = w.book();
        let response = w.photos_only_with_broad_refresh_token().await;
        assert_eq!(book.insert_token_response(&response, None).unwrap(), [w.photos.as_str()]);
        let cc = w.counts.cc();
        let client = AuthorizedClient::new(book.clone());
        let r = client.get(&format!("{}/", w.friends)).await.unwrap();
        assert_eq!(body(&r)["aud"], w.friends.as_str());
        assert_eq!(
            (w.counts.cc() - cc, w.counts.refresh()),
            (0, 1),
            "one refresh_token request, no client_credentials"
        );
        let mut resources = book.resources();
        resources.sort();
        let mut expected = vec![w.photos.clone(), w.friends.clone()];
        expected.sort();
        assert_eq!(resources, expected);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_lived_tokens_are_renewed_ahead_of_expiry_once_for_16_askers() {
    bounded(async {
        // Friends' tokens live 4 s; the skew (60 s) is capped at half of that: renewed after 2 s.
        let w = world(4).await;
        let book = w.book();
        let first = book.obtain(&w.friends).await.unwrap();
        assert_eq!((w.counts.cc(), w.counts.refresh()), (1, 0));
        let url = format!("{}/", w.friends);
        let same = book.fresh_token_for(&url).await.unwrap().unwrap();
        assert_eq!(same.secret(), first.secret(), "not due yet");
        tokio::time::sleep(Duration::from_millis(2200)).await;

        let barrier = Arc::new(tokio::sync::Barrier::new(16));
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..16 {
            let (book, url, barrier) = (book.clone(), url.clone(), Arc::clone(&barrier));
            tasks.spawn(async move {
                barrier.wait().await;
                book.fresh_token_for(&url).await.unwrap().unwrap().secret().to_owned()
            });
        }
        let tokens: Vec<String> = tasks.join_all().await;
        assert_eq!(w.counts.refresh(), 1, "16 askers, one refresh");
        assert_eq!(w.counts.cc(), 1);
        assert!(tokens.iter().all(|t| t == &tokens[0]), "all got the renewed token");
        assert_ne!(tokens[0], first.secret(), "a new token");
        let r = AuthorizedClient::new(book.clone()).get(&url).await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(w.counts.refresh(), 1);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_endpoint_errors_are_typed_and_never_carry_secrets() {
    bounded(async {
        let w = world(600).await;
        let book = w.book_for(&w.issuer, "wrong secret");
        let e = book.obtain(&w.friends).await.unwrap_err();
        assert_eq!(e.oauth_code(), Some("invalid_client"), "{e}");
        assert!(!e.to_string().contains("wrong secret"));
        let book = w.book();
        let e = book.obtain("https://evil.example").await.unwrap_err();
        assert_eq!(e.oauth_code(), Some("unauthorized_client"), "{e}");
        let debug = format!("{book:?} {:?}", book.obtain(&w.friends).await.unwrap());
        assert!(!debug.contains(SECRET) && !debug.contains("eyJ"), "{debug}");
    })
    .await
}

/// One request as a [`Fetcher`] saw it: method, URI, and whether it was marked
/// [`PublicAddressesOnly`].
type Seen = (Method, String, bool);

fn seen(request: &http::Request<Bytes>) -> Seen {
    let marked = request.extensions().get::<PublicAddressesOnly>().is_some();
    (request.method().clone(), request.uri().to_string(), marked)
}

/// A fetcher that records every request and forwards it (extensions included) to an
/// `HttpFetcher`.
struct Recording {
    inner: HttpFetcher,
    seen: Mutex<Vec<Seen>>,
}

impl Recording {
    fn new(inner: HttpFetcher) -> Arc<Recording> {
        Arc::new(Recording { inner, seen: Mutex::new(Vec::new()) })
    }

    fn take(&self) -> Vec<Seen> {
        std::mem::take(&mut *self.seen.lock().unwrap())
    }
}

impl Fetcher for Recording {
    fn send(&self, request: http::Request<Bytes>) -> FetchFuture<'_> {
        self.seen.lock().unwrap().push(seen(&request));
        self.inner.send(request)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_given_fetcher_carries_the_rs_requests_the_metadata_and_the_token_requests() {
    bounded(async {
        let w = world(600).await;
        let recording = Recording::new(w.pki.fetcher());
        let book = TokenBook::builder(&w.issuer, "photo-app", SECRET.to_string())
            .fetcher(Arc::clone(&recording) as Arc<dyn Fetcher>)
            .build()
            .unwrap();
        let client = AuthorizedClient::new(book.clone());
        let (get, post, put) = (Method::GET, Method::POST, Method::PUT);

        // Nothing held: the RS's 401, its metadata, the AS's metadata, the token request, the retry.
        let url = format!("{}/", w.friends);
        assert_eq!(client.get(&url).await.unwrap().status(), 200);
        let token_endpoint = format!("{}/token", w.issuer);
        assert_eq!(
            recording.take(),
            [
                (get.clone(), url.clone(), false),
                (get.clone(), format!("{}/.well-known/oauth-protected-resource", w.friends), false),
                (get.clone(), format!("{}/.well-known/oauth-authorization-server", w.issuer), false),
                (post.clone(), token_endpoint.clone(), false),
                (get.clone(), url.clone(), false),
            ]
        );
        assert_eq!(w.counts.cc(), 1);

        // A PUT to the other RS: the refresh token first (refused for photos), then
        // client_credentials; the endpoint is known by now.
        let url = format!("{}/1", w.photos);
        let request = client.request(put.clone(), &url).body(Bytes::from_static(b"x")).unwrap();
        let r = client.send(request).await.unwrap();
        assert_eq!(body(&r)["method"], "PUT");
        assert_eq!(
            recording.take(),
            [
                (put.clone(), url.clone(), false),
                (
                    get.clone(),
                    format!("{}/.well-known/oauth-protected-resource/photos", w.photos_origin),
                    false
                ),
                (post.clone(), token_endpoint.clone(), false),
                (post.clone(), token_endpoint.clone(), false),
                (put.clone(), url.clone(), false),
            ]
        );
        assert_eq!(
            (w.counts.cc(), w.counts.refresh()),
            (2, 1),
            "every token request the AS saw was recorded"
        );

        // The book alone: its token requests too.
        book.client_credentials(&[&w.friends]).await.unwrap();
        assert_eq!(recording.take(), [(post, token_endpoint, false)]);
    })
    .await
}

/// A fetcher that sends nothing: every request is refused.
#[derive(Default)]
struct Refusing {
    calls: AtomicUsize,
}

impl Fetcher for Refusing {
    fn send(&self, request: http::Request<Bytes>) -> FetchFuture<'_> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let url = request.uri().to_string();
        Box::pin(async move { Err(WireError::Connect { url, reason: "refused by the test".into() }) })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fetcher_that_refuses_everything_stops_every_request_of_the_book_and_the_client() {
    bounded(async {
        let w = world(600).await;
        let refusing = Arc::new(Refusing::default());
        let book = TokenBook::builder(&w.issuer, "photo-app", SECRET.to_string())
            .fetcher(Arc::clone(&refusing) as Arc<dyn Fetcher>)
            .build()
            .unwrap();
        let metadata = format!("{}/.well-known/oauth-authorization-server", w.issuer);
        for e in [
            book.obtain(&w.friends).await.unwrap_err(),
            book.client_credentials(&[&w.photos]).await.unwrap_err(),
        ] {
            assert!(
                matches!(&e, ClientError::Wire(WireError::Connect { url, .. }) if *url == metadata),
                "{e}"
            );
        }
        let before = w.deaf_server.requests();
        let url = format!("{}/x", w.deaf);
        let e = AuthorizedClient::new(book).get(&url).await.unwrap_err();
        assert!(matches!(&e, ClientError::Wire(WireError::Connect { url: u, .. }) if *u == url), "{e}");
        // Per token request the two metadata URLs of an issuer without a path (RFC 8414, then
        // OpenID Connect Discovery), then the RS request.
        assert_eq!(refusing.calls.load(Ordering::SeqCst), 5);
        assert_eq!(w.deaf_server.requests(), before, "nothing reached the RS");
        assert_eq!(w.counts.cc() + w.counts.refresh(), 0, "nothing reached the token endpoint");
    })
    .await
}

/// A whole deployment in a fetcher, no network: an RS at a public address literal (nothing
/// connects to it) that wants a token, its RFC 9728 metadata, an AS and its token endpoint.
#[derive(Default)]
struct Scripted {
    seen: Mutex<Vec<Seen>>,
    token_request: Mutex<Option<(String, String)>>,
    /// The `token_endpoint` the AS metadata names, when not `https://as.example/token`.
    token_endpoint: Option<&'static str>,
}

const SCRIPTED_RS: &str = "https://1.2.3.4";
const SCRIPTED_AS: &str = "https://as.example";

impl Fetcher for Scripted {
    fn send(&self, request: http::Request<Bytes>) -> FetchFuture<'_> {
        self.seen.lock().unwrap().push(seen(&request));
        let header =
            |name| request.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        let json = |v: Value| (200, v.to_string());
        let (status, body) = match (request.method().as_str(), request.uri().to_string().as_str()) {
            ("GET", "https://1.2.3.4/albums") if header("authorization") == "Bearer tok" => {
                (200, "albums".into())
            }
            ("GET", "https://1.2.3.4/albums") => (401, String::new()),
            ("GET", "https://1.2.3.4/.well-known/oauth-protected-resource") => {
                json(json!({ "resource": SCRIPTED_RS, "authorization_servers": [SCRIPTED_AS] }))
            }
            ("GET", "https://as.example/.well-known/oauth-authorization-server") => json(json!({
                "issuer": SCRIPTED_AS,
                "jwks_uri": "https://as.example/jwks",
                "token_endpoint": self.token_endpoint.unwrap_or("https://as.example/token"),
            })),
            ("POST", "https://as.example/token") => {
                let form = String::from_utf8_lossy(request.body()).into_owned();
                *self.token_request.lock().unwrap() = Some((header("authorization"), form));
                json(json!({
                    "access_token": "tok", "token_type": "Bearer", "resource": SCRIPTED_RS, "expires_in": 600,
                }))
            }
            _ => (404, String::new()),
        };
        let mut response = http::Response::new(Bytes::from(body));
        *response.status_mut() = http::StatusCode::from_u16(status).unwrap();
        if status == 401 {
            let challenge =
                "Bearer resource_metadata=\"https://1.2.3.4/.well-known/oauth-protected-resource\"";
            response.headers_mut().insert("www-authenticate", challenge.parse().unwrap());
        }
        Box::pin(async move { Ok(response) })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_fetcher_serves_the_401_flow_and_the_metadata_get_of_a_public_rs_is_marked_public_only() {
    bounded(async {
        let scripted = Arc::new(Scripted::default());
        let book = TokenBook::builder(SCRIPTED_AS, "photo-app", SECRET.to_string())
            .fetcher(Arc::clone(&scripted) as Arc<dyn Fetcher>)
            .build()
            .unwrap();
        let url = format!("{SCRIPTED_RS}/albums");
        let r = AuthorizedClient::new(book).get(&url).await.unwrap();
        assert_eq!((r.status(), r.body().as_ref()), (http::StatusCode::OK, &b"albums"[..]));
        let (get, post) = (Method::GET, Method::POST);
        assert_eq!(
            *scripted.seen.lock().unwrap(),
            [
                (get.clone(), url.clone(), false),
                // A URL learned from a 401 of a public RS: non-public addresses are refused for it.
                (get.clone(), format!("{SCRIPTED_RS}/.well-known/oauth-protected-resource"), true),
                (get.clone(), format!("{SCRIPTED_AS}/.well-known/oauth-authorization-server"), false),
                (post, format!("{SCRIPTED_AS}/token"), false),
                (get, url, false),
            ]
        );
        // RFC 6749 §2.3.1: client_secret_basic, id and secret form-encoded first; RFC 8707 resource.
        let (authorization, form) = scripted.token_request.lock().unwrap().clone().unwrap();
        let credentials =
            base64::engine::general_purpose::STANDARD.encode("photo-app:correct+horse+battery+staple");
        assert_eq!(authorization, format!("Basic {credentials}"));
        assert_eq!(form, "grant_type=client_credentials&resource=https%3A%2F%2F1.2.3.4");
    })
    .await
}

/// Credentials go only to `https` (or loopback `http`) URLs without a user or password, whatever
/// the fetcher allows: a fetcher that would send anything is not asked to POST the client secret
/// to a plain-http or credential-carrying token endpoint, nor to send a token to a plain-http RS.
/// A refused endpoint is not cached: the metadata is read again on the next request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_never_go_to_a_plain_http_or_credential_carrying_url_whatever_the_fetcher() {
    bounded(async {
        for (endpoint, refused) in [
            ("http://as.example/token", "HttpNotLoopback"),
            ("https://user:pw@as.example/token", "CredentialsInUrl"),
            ("ftp://as.example/token", "UnsupportedScheme"),
        ] {
            let scripted = Arc::new(Scripted { token_endpoint: Some(endpoint), ..Scripted::default() });
            let book = TokenBook::builder(SCRIPTED_AS, "photo-app", SECRET.to_string())
                .fetcher(Arc::clone(&scripted) as Arc<dyn Fetcher>)
                .build()
                .unwrap();
            let client = AuthorizedClient::new(book);
            for _ in 0..2 {
                let e = client.get(&format!("{SCRIPTED_RS}/albums")).await.unwrap_err();
                assert!(format!("{e:?}").contains(refused), "{endpoint}: {e:?}");
                assert!(!e.to_string().contains("pw"), "{e}");
            }
            let seen = scripted.seen.lock().unwrap().clone();
            assert!(seen.iter().all(|(method, _, _)| method != Method::POST), "{endpoint}: {seen:?}");
            let metadata_reads =
                seen.iter().filter(|(_, url, _)| url.ends_with("oauth-authorization-server")).count();
            assert_eq!(metadata_reads, 2, "a refused endpoint is read again, not cached");
            assert!(scripted.token_request.lock().unwrap().is_none());
        }
        // A plain-http RS: refused before any token is chosen or anything is sent.
        let scripted = Arc::new(Scripted::default());
        let book = TokenBook::builder(SCRIPTED_AS, "photo-app", SECRET.to_string())
            .fetcher(Arc::clone(&scripted) as Arc<dyn Fetcher>)
            .build()
            .unwrap();
        let e = AuthorizedClient::new(book).get("http://1.2.3.4/albums").await.unwrap_err();
        assert!(format!("{e:?}").contains("HttpNotLoopback"), "{e:?}");
        assert!(scripted.seen.lock().unwrap().is_empty());
    })
    .await
}
