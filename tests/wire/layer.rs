//! The `axum` feature over real sockets: an axum app on 127.0.0.1 behind `BearerLayer`, asked by a
//! real HTTP client (reqwest). Every RFC 6750 §3 answer header by header, tokens in the query or a
//! form, scopes, `resource_metadata` on every 401/403 whatever `Host` says, and the RFC 9728
//! metadata and JWK Set documents the `MetadataRouter` serves.
#![cfg(feature = "axum")]

use crate::servers;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::routing::{get, post};
use axum::Router;
use jwe_mint::issuer::{Grant, Issuer};
use jwe_mint::jwk::{Curve, Jwk, JwkSet};
use jwe_mint::registry::{Registry, ResourceEntry};
use jwe_mint::resource_server::{AccessToken, ResourceServer};
use jwe_mint::wire::{protected_resource_metadata_url, BearerLayer, ConfigError, MetadataRouter};
use reqwest::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, WWW_AUTHENTICATE};
use reqwest::StatusCode;
use serde_json::Value;
use servers::bounded;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

const ISSUER: &str = "https://as.example.com";
const CLIENT: &str = "app";
const INVALID_TOKEN: &str = "the access token is invalid";

/// An RS on a loopback port: its resource is `http://127.0.0.1:PORT/api`, with `/api/me` (any
/// valid token), `/api/photos` (scope `photos.read`), `/api/admin` (scopes `photos.read` and
/// `admin`), `/api/echo` (POST, echoes the body), `/api/unguarded` (the extractor without the
/// layer), `/api/feed` (GET and POST, optional token), `/api/feed-admin` (optional, scope `admin`
/// when a token is sent), `/api/feed-unguarded` (`Option<AccessToken>` without the layer), and
/// the metadata routes.
struct Rs {
    base: String,
    resource: String,
    metadata_url: String,
    issuer: Issuer,
    as_key: Jwk,
    rs_key: Jwk,
    hits: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl Drop for Rs {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Rs {
    async fn start() -> Rs {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let resource = format!("{base}/api");
        let as_key = Jwk::generate(Curve::P256).unwrap();
        let rs_key = Jwk::generate(Curve::P256).unwrap();
        let mut registry = Registry::default();
        let entry = ResourceEntry::new(
            resource.as_str(),
            ["photos.read", "photos.write", "admin"],
            JwkSet::new(vec![rs_key.to_public().unwrap()]),
        )
        .unwrap();
        registry.insert(entry).unwrap();
        // A second RS with its own key, to mint tokens that are not for this one.
        let other_key = Jwk::generate(Curve::P256).unwrap();
        registry
            .insert(
                ResourceEntry::new(
                    "https://other.example.com",
                    ["photos.read"],
                    JwkSet::new(vec![other_key.to_public().unwrap()]),
                )
                .unwrap(),
            )
            .unwrap();
        let issuer = Issuer::builder(ISSUER, &as_key)
            .registry(registry)
            .allow_client(CLIENT, &[resource.as_str(), "https://other.example.com"])
            .unwrap()
            .build()
            .unwrap();
        let rs = ResourceServer::builder(&resource, ISSUER)
            .decryption_keys(JwkSet::new(vec![rs_key.clone()]))
            .issuer_keys(issuer.verification_keys().clone())
            .build()
            .unwrap();
        let auth = BearerLayer::new(rs).unwrap();
        let metadata_url = auth.resource_metadata().to_owned();
        let metadata =
            MetadataRouter::new(&resource, &format!("{base}/jwks.json"), &JwkSet::new(vec![rs_key.clone()]))
                .unwrap()
                .authorization_server(ISSUER)
                .unwrap()
                .scopes_supported(["photos.read", "photos.write", "admin"])
                .unwrap()
                .max_age(Duration::from_secs(300));
        let hits = Arc::new(AtomicUsize::new(0));
        let (h1, h2, h3, h4) = (hits.clone(), hits.clone(), hits.clone(), hits.clone());
        let app = Router::new()
            .route("/api/me", get(move |t: AccessToken| whoami(h1, t)).layer(auth.clone()))
            .route(
                "/api/photos",
                get(move |t: AccessToken| whoami(h2, t)).layer(auth.require_scope("photos.read").unwrap()),
            )
            .route(
                "/api/admin",
                get(move |t: AccessToken| whoami(h3, t))
                    .layer(auth.require_scope("photos.read").unwrap().require_scope("admin").unwrap()),
            )
            .route(
                "/api/echo",
                post(move |_t: AccessToken, body: String| async move {
                    h4.fetch_add(1, Ordering::SeqCst);
                    body
                })
                .layer(auth.clone()),
            )
            .route("/api/unguarded", get(|t: AccessToken| async move { t.subject().to_owned() }))
            .route("/api/feed", get(feed).post(feed).layer(auth.optional()))
            .route("/api/feed-admin", get(feed).layer(auth.optional().require_scope("admin").unwrap()))
            .route("/api/feed-unguarded", get(feed))
            .merge(metadata.router());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Rs { base, resource, metadata_url, issuer, as_key, rs_key, hits, task }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn mint(&self, scope: &str) -> String {
        let grant = Grant::new("alice", CLIENT, scope, &[self.resource.as_str()]).unwrap();
        self.issuer.mint(&grant, &self.resource).unwrap().access_token
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

async fn whoami(hits: Arc<AtomicUsize>, token: AccessToken) -> String {
    hits.fetch_add(1, Ordering::SeqCst);
    let scopes: Vec<&str> = token.scopes().collect();
    format!("{} {} {}", token.subject(), token.client_id(), scopes.join(","))
}

/// Behind an optional layer: who, or `anonymous`.
async fn feed(token: Option<AccessToken>) -> String {
    match token {
        Some(t) => format!("user {}", t.subject()),
        None => "anonymous".to_owned(),
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap()
}

/// The body as JSON.
async fn json(r: reqwest::Response) -> Value {
    serde_json::from_str(&r.text().await.unwrap()).unwrap()
}

/// The Bearer challenge of a response: the first of its two `WWW-Authenticate` fields (the
/// request used no DPoP), the second the DPoP challenge (RFC 9449 §7.1) naming the same metadata.
fn challenge(r: &reqwest::Response) -> String {
    let all: Vec<_> = r.headers().get_all(WWW_AUTHENTICATE).iter().map(|v| v.to_str().unwrap()).collect();
    assert_eq!(all.len(), 2, "a Bearer and a DPoP challenge: {all:?}");
    assert!(all[0].starts_with("Bearer"), "{all:?}");
    assert!(
        all[1].starts_with("DPoP ") && all[1].contains("algs=\"") && !all[1].contains("error="),
        "{all:?}"
    );
    let metadata = |c: &str| c.split("resource_metadata=").nth(1).map(str::to_owned);
    assert_eq!(metadata(all[0]), metadata(all[1]), "{all:?}");
    all[0].to_owned()
}

#[tokio::test]
async fn no_token_is_401_naming_resource_metadata_without_an_error_code() {
    bounded(async {
        let rs = Rs::start().await;
        assert_eq!(rs.metadata_url, format!("{}/.well-known/oauth-protected-resource/api", rs.base));
        let r = client().get(rs.url("/api/me")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(challenge(&r), format!("Bearer resource_metadata=\"{}\"", rs.metadata_url));
        assert!(r.headers().get(CONTENT_TYPE).is_none());
        assert_eq!(r.text().await.unwrap(), "");
        // A route that requires scopes says which (RFC 6750 §3, MCP authorization).
        let r = client().get(rs.url("/api/admin")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            challenge(&r),
            format!("Bearer scope=\"photos.read admin\", resource_metadata=\"{}\"", rs.metadata_url)
        );
        assert_eq!(rs.hits(), 0);
    })
    .await
}

#[tokio::test]
async fn another_scheme_counts_as_no_token_and_bearer_is_case_insensitive() {
    bounded(async {
        let rs = Rs::start().await;
        let token = rs.mint("photos.read");
        for value in ["Basic YWxpY2U6c2VjcmV0", "Bearerx abc", "Token abc"] {
            let r = client().get(rs.url("/api/me")).header(AUTHORIZATION, value).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{value}");
            assert_eq!(challenge(&r), format!("Bearer resource_metadata=\"{}\"", rs.metadata_url), "{value}");
        }
        assert_eq!(rs.hits(), 0);
        for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
            let r = client()
                .get(rs.url("/api/me"))
                .header(AUTHORIZATION, format!("{scheme} {token}"))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::OK, "{scheme}");
            assert!(r.headers().get(WWW_AUTHENTICATE).is_none());
            assert_eq!(r.text().await.unwrap(), "alice app photos.read");
        }
        assert_eq!(rs.hits(), 4);
    })
    .await
}

#[tokio::test]
async fn every_bad_token_gets_the_same_invalid_token_answer() {
    bounded(async {
        let rs = Rs::start().await;
        let good = rs.mint("photos.read");
        let grant = Grant::new("alice", CLIENT, "photos.read", &[rs.resource.as_str()]).unwrap();
        let expired = rs.issuer.mint_at(&grant, &rs.resource, 1_000_000_000).unwrap().access_token;
        let other_grant = Grant::new("alice", CLIENT, "photos.read", &["https://other.example.com"]).unwrap();
        let for_other_rs = rs.issuer.mint(&other_grant, "https://other.example.com").unwrap().access_token;
        // A tampered ciphertext: decryption fails.
        let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
        let ct = &mut parts[3];
        let flipped = if ct.ends_with('A') { 'B' } else { 'A' };
        ct.pop();
        ct.push(flipped);
        let tampered = parts.join(".");
        let cases = [
            ("tampered", tampered),
            ("other RS", for_other_rs),
            ("expired", expired),
            ("garbage", "abc.def.ghi".to_owned()),
            ("five garbage segments", "a.b.c.d.e".to_owned()),
        ];
        let expected_challenge = format!(
            "Bearer error=\"invalid_token\", error_description=\"{INVALID_TOKEN}\", resource_metadata=\"{}\"",
            rs.metadata_url
        );
        let mut bodies = Vec::new();
        for (what, token) in &cases {
            let r = client()
                .get(rs.url("/api/me"))
                .header(AUTHORIZATION, format!("Bearer {token}"))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{what}");
            let c = challenge(&r);
            assert_eq!(c, expected_challenge, "{what}");
            assert_eq!(r.headers()[CONTENT_TYPE], "application/json", "{what}");
            let body = r.text().await.unwrap();
            assert!(!body.contains(token.as_str()) && !c.contains(token.as_str()), "{what}: token echoed");
            let json: Value = serde_json::from_str(&body).unwrap();
            assert_eq!(json["error"], "invalid_token");
            assert_eq!(json["error_description"], INVALID_TOKEN);
            bodies.push(body);
        }
        assert!(bodies.windows(2).all(|w| w[0] == w[1]), "one answer for every reason: {bodies:?}");
        assert_eq!(rs.hits(), 0);
    })
    .await
}

#[tokio::test]
async fn a_query_token_is_no_credentials_and_is_never_forwarded() {
    bounded(async {
        let rs = Rs::start().await;
        let token = rs.mint("photos.read");
        for query in [format!("access_token={token}"), format!("x=1&access%5Ftoken={token}")] {
            let r = client().get(rs.url(&format!("/api/me?{query}"))).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{query}");
            assert_eq!(challenge(&r), format!("Bearer resource_metadata=\"{}\"", rs.metadata_url));
        }
        assert_eq!(rs.hits(), 0, "a query token reached the handler");
    })
    .await
}

#[tokio::test]
async fn header_plus_query_or_form_token_is_400_invalid_request() {
    bounded(async {
        let rs = Rs::start().await;
        let token = rs.mint("photos.read");
        let bearer = format!("Bearer {token}");
        let expected = format!(
            "Bearer error=\"invalid_request\", error_description=\"the access token is sent more than once\", \
             resource_metadata=\"{}\"",
            rs.metadata_url
        );
        let r = client()
            .get(rs.url(&format!("/api/me?access_token={token}")))
            .header(AUTHORIZATION, &bearer)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert_eq!(challenge(&r), expected);
        let json = json(r).await;
        assert_eq!(json["error"], "invalid_request");
        // The same in a form body (RFC 6750 §2.2), content type parameters and case aside.
        for content_type in ["application/x-www-form-urlencoded", "Application/X-WWW-Form-Urlencoded; charset=utf-8"] {
            let r = client()
                .post(rs.url("/api/echo"))
                .header(AUTHORIZATION, &bearer)
                .header(CONTENT_TYPE, content_type)
                .body(format!("a=1&access_token={token}"))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{content_type}");
            assert_eq!(challenge(&r), expected);
        }
        assert_eq!(rs.hits(), 0);
        // A form token alone is no credentials.
        let r = client()
            .post(rs.url("/api/echo"))
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(format!("access_token={token}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(challenge(&r), format!("Bearer resource_metadata=\"{}\"", rs.metadata_url));
        assert_eq!(rs.hits(), 0);
        // A form without a token passes, its body intact; other bodies are not read.
        for (content_type, body) in
            [("application/x-www-form-urlencoded", "a=1&b=two"), ("text/plain", "access_token=not-a-form")]
        {
            let r = client()
                .post(rs.url("/api/echo"))
                .header(AUTHORIZATION, &bearer)
                .header(CONTENT_TYPE, content_type)
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::OK, "{content_type}");
            assert_eq!(r.text().await.unwrap(), body);
        }
        assert_eq!(rs.hits(), 2);
    })
    .await
}

#[tokio::test]
async fn malformed_or_repeated_authorization_is_400_invalid_request() {
    bounded(async {
        let rs = Rs::start().await;
        let token = rs.mint("photos.read");
        for value in ["Bearer", "Bearer ", "Bearer a b", "Bearer a,b", "Bearer ===", "Bearer a\"b"] {
            let r = client().get(rs.url("/api/me")).header(AUTHORIZATION, value).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{value:?}");
            assert_eq!(
                challenge(&r),
                format!(
                    "Bearer error=\"invalid_request\", error_description=\"malformed Authorization header\", \
                     resource_metadata=\"{}\"",
                    rs.metadata_url
                ),
                "{value:?}"
            );
        }
        let r = client()
            .get(rs.url("/api/me"))
            .header(AUTHORIZATION, format!("Bearer {token}"))
            .header(AUTHORIZATION, format!("Bearer {token}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert!(challenge(&r).contains("error=\"invalid_request\""));
        assert_eq!(rs.hits(), 0);
    })
    .await
}

#[tokio::test]
async fn a_missing_scope_is_403_insufficient_scope_naming_the_scopes() {
    bounded(async {
        let rs = Rs::start().await;
        let expected = |scope: &str| {
            format!(
                "Bearer error=\"insufficient_scope\", error_description=\"the access token lacks a scope this \
                 resource requires\", scope=\"{scope}\", resource_metadata=\"{}\"",
                rs.metadata_url
            )
        };
        let write_only = rs.mint("photos.write");
        let r = client().get(rs.url("/api/photos")).bearer_auth(&write_only).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert_eq!(challenge(&r), expected("photos.read"));
        let json = json(r).await;
        assert_eq!(json["error"], "insufficient_scope");
        // Every required scope is needed: one of two is not enough.
        let read_only = rs.mint("photos.read");
        let r = client().get(rs.url("/api/admin")).bearer_auth(&read_only).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert_eq!(challenge(&r), expected("photos.read admin"));
        assert_eq!(rs.hits(), 0);
        let r = client().get(rs.url("/api/photos")).bearer_auth(&read_only).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let both = rs.mint("photos.read admin");
        let r = client().get(rs.url("/api/admin")).bearer_auth(&both).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.text().await.unwrap(), "alice app photos.read,admin");
        assert_eq!(rs.hits(), 2);
    })
    .await
}

#[tokio::test]
async fn resource_metadata_is_on_every_401_and_403_whatever_host_says() {
    bounded(async {
        let rs = Rs::start().await;
        let good = rs.mint("photos.write");
        let needle = format!("resource_metadata=\"{}\"", rs.metadata_url);
        let requests: Vec<(&str, Option<String>)> = vec![
            ("/api/me", None),
            ("/api/photos", None),
            ("/api/me", Some("Bearer not.a.token".into())),
            ("/api/me", Some("Basic YTpi".into())),
            ("/api/photos", Some(format!("Bearer {good}"))),
        ];
        for spoof in [false, true] {
            for (path, authorization) in &requests {
                let mut req = client().get(rs.url(path));
                if let Some(a) = authorization {
                    req = req.header(AUTHORIZATION, a);
                }
                if spoof {
                    req = req
                        .header("host", "evil.example")
                        .header("x-forwarded-host", "evil.example")
                        .header("x-forwarded-proto", "https")
                        .header("forwarded", "host=evil.example;proto=https");
                }
                let r = req.send().await.unwrap();
                assert!(matches!(r.status(), StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN), "{path}");
                let c = challenge(&r);
                assert!(c.contains(&needle), "{path} {authorization:?} spoof={spoof}: {c}");
                assert!(!c.contains("evil"), "{c}");
            }
        }
    })
    .await
}

#[tokio::test]
async fn the_extractor_without_the_layer_is_500_not_a_pass() {
    bounded(async {
        let rs = Rs::start().await;
        let token = rs.mint("photos.read");
        let r = client().get(rs.url("/api/unguarded")).bearer_auth(&token).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    })
    .await
}

#[tokio::test]
async fn an_optional_route_serves_anonymous_requests_and_still_refuses_bad_tokens() {
    bounded(async {
        let rs = Rs::start().await;
        let c = client();
        let token = rs.mint("photos.read");
        // No credentials (or another scheme): anonymous.
        let r = c.get(rs.url("/api/feed")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert!(r.headers().get(WWW_AUTHENTICATE).is_none());
        assert_eq!(r.text().await.unwrap(), "anonymous");
        let r = c.get(rs.url("/api/feed")).basic_auth("alice", Some("pw")).send().await.unwrap();
        assert_eq!(r.text().await.unwrap(), "anonymous");
        // A valid token: the handler gets it.
        let r = c.get(rs.url("/api/feed")).bearer_auth(&token).send().await.unwrap();
        assert_eq!((r.status(), r.text().await.unwrap()), (StatusCode::OK, "user alice".to_owned()));
        // A token that does not open is not anonymous: 401 invalid_token.
        let other = {
            let grant = Grant::new("alice", CLIENT, "photos.read", &["https://other.example.com"]).unwrap();
            rs.issuer.mint(&grant, "https://other.example.com").unwrap().access_token
        };
        for bad in [other.as_str(), "not.a.token.at.all"] {
            let r = c.get(rs.url("/api/feed")).bearer_auth(bad).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{bad}");
            let ch = challenge(&r);
            assert!(ch.contains("error=\"invalid_token\"") && ch.contains("resource_metadata="), "{ch}");
        }
        // A token in the query or a form body is refused, never handed to the handler.
        let r = c.get(rs.url(&format!("/api/feed?access_token={token}"))).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert!(challenge(&r).contains("error=\"invalid_request\""));
        let r = c
            .post(rs.url("/api/feed"))
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(format!("access_token={token}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let r = c
            .post(rs.url("/api/feed"))
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body("q=1")
            .send()
            .await
            .unwrap();
        assert_eq!(r.text().await.unwrap(), "anonymous");
        // Scopes bind a token when one is sent; anonymous still passes.
        let r = c.get(rs.url("/api/feed-admin")).send().await.unwrap();
        assert_eq!(r.text().await.unwrap(), "anonymous");
        let r = c.get(rs.url("/api/feed-admin")).bearer_auth(&token).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let ch = challenge(&r);
        assert!(ch.contains("error=\"insufficient_scope\"") && ch.contains("scope=\"admin\""), "{ch}");
        let admin = rs.mint("photos.read admin");
        let r = c.get(rs.url("/api/feed-admin")).bearer_auth(&admin).send().await.unwrap();
        assert_eq!(r.text().await.unwrap(), "user alice");
        // Without the layer, `Option<AccessToken>` is a 500, never "anonymous".
        for req in
            [c.get(rs.url("/api/feed-unguarded")), c.get(rs.url("/api/feed-unguarded")).bearer_auth(&token)]
        {
            assert_eq!(req.send().await.unwrap().status(), StatusCode::INTERNAL_SERVER_ERROR);
        }
    })
    .await
}

#[tokio::test]
async fn metadata_document_has_the_rfc_9728_members_and_cache_control() {
    bounded(async {
        let rs = Rs::start().await;
        let r = client().get(&rs.metadata_url).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()[CONTENT_TYPE], "application/json");
        assert_eq!(r.headers()[CACHE_CONTROL], "max-age=300");
        let doc = json(r).await;
        assert_eq!(
            doc,
            serde_json::json!({
                "resource": rs.resource,
                "authorization_servers": [ISSUER],
                "jwks_uri": rs.url("/jwks.json"),
                "scopes_supported": ["photos.read", "photos.write", "admin"],
                "bearer_methods_supported": ["header"],
            })
        );
        // Metadata is public and served at the §3.1 URL only, whatever the Host header.
        let r = client().get(&rs.metadata_url).header("host", "evil.example").send().await.unwrap();
        assert_eq!(json(r).await["resource"], rs.resource);
        let r = client().get(rs.url("/.well-known/oauth-protected-resource")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
    })
    .await
}

#[tokio::test]
async fn jwks_document_has_public_enc_keys_only_and_an_as_can_mint_to_it() {
    bounded(async {
        let rs = Rs::start().await;
        let r = client().get(rs.url("/jwks.json")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()[CACHE_CONTROL], "max-age=300");
        let text = r.text().await.unwrap();
        let doc: Value = serde_json::from_str(&text).unwrap();
        let keys = doc["keys"].as_array().unwrap();
        assert_eq!(keys.len(), 1);
        let key = keys[0].as_object().unwrap();
        for private in ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] {
            assert!(!key.contains_key(private), "private member {private} published");
        }
        assert_eq!(key["use"], "enc");
        assert_eq!(key["alg"], "ECDH-ES+A256KW");
        assert_eq!(key["kid"], rs.rs_key.to_public().unwrap().thumbprint());
        assert_eq!(key["x"], rs.rs_key.to_public().unwrap().to_value().unwrap()["x"]);
        // A set the strict parser accepts as public, and an AS (same signing key) that knows the RS
        // only through it mints tokens the RS opens.
        let published = JwkSet::from_json(&text).unwrap();
        assert!(published.keys().iter().all(|k| !k.is_private()));
        let mut registry = Registry::default();
        registry
            .insert(ResourceEntry::new(rs.resource.as_str(), ["photos.read"], published).unwrap())
            .unwrap();
        let issuer = Issuer::builder(ISSUER, &rs.as_key)
            .registry(registry)
            .allow_client(CLIENT, &[&rs.resource])
            .unwrap()
            .build()
            .unwrap();
        let grant = Grant::new("bob", CLIENT, "photos.read", &[rs.resource.as_str()]).unwrap();
        let token = issuer.mint(&grant, &rs.resource).unwrap().access_token;
        let r = client().get(rs.url("/api/me")).bearer_auth(&token).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.text().await.unwrap(), "bob app photos.read");
    })
    .await
}

/// The layer and the router use the URL an AS computes (RFC 9728 §3.1), so the AS finds them.
#[test]
fn metadata_urls_follow_rfc_9728_section_3_1() {
    let keys = JwkSet::new(vec![Jwk::generate(Curve::P256).unwrap()]);
    let as_keys = JwkSet::new(vec![Jwk::generate(Curve::P256).unwrap().to_public().unwrap()]);
    for (resource, expected) in [
        ("https://rs.example.com", "https://rs.example.com/.well-known/oauth-protected-resource"),
        ("https://rs.example.com/", "https://rs.example.com/.well-known/oauth-protected-resource"),
        (
            "https://rs.example.com:8443/a/b/",
            "https://rs.example.com:8443/.well-known/oauth-protected-resource/a/b",
        ),
        ("https://rs.example.com/api", "https://rs.example.com/.well-known/oauth-protected-resource/api"),
    ] {
        assert_eq!(protected_resource_metadata_url(resource).unwrap().as_str(), expected);
        let rs = ResourceServer::builder(resource, ISSUER)
            .decryption_keys(keys.clone())
            .issuer_keys(as_keys.clone())
            .build()
            .unwrap();
        assert_eq!(BearerLayer::new(rs).unwrap().resource_metadata(), expected, "{resource}");
        let m = MetadataRouter::new(resource, "https://rs.example.com/jwks", &keys).unwrap();
        assert_eq!(m.metadata_path(), url::Url::parse(expected).unwrap().path(), "{resource}");
        // The document names the resource exactly as configured (RFC 9728 §3.3 compares it
        // unmodified).
        assert_eq!(m.document()["resource"], resource);
    }
}

#[test]
fn metadata_router_refuses_what_it_cannot_publish() {
    let ec = Jwk::generate(Curve::P256).unwrap();
    let ok = JwkSet::new(vec![ec.clone()]);
    let jwks = "https://rs.example.com/jwks";
    let refused = [
        ("query resource", MetadataRouter::new("https://rs.example.com/?a=1", jwks, &ok)),
        ("relative jwks_uri", MetadataRouter::new("https://rs.example.com", "/jwks", &ok)),
        (
            "jwks_uri at the metadata path",
            MetadataRouter::new(
                "https://rs.example.com",
                "https://rs.example.com/.well-known/oauth-protected-resource",
                &ok,
            ),
        ),
        ("empty set", MetadataRouter::new("https://rs.example.com", jwks, &JwkSet::new(vec![]))),
        (
            "symmetric key",
            MetadataRouter::new(
                "https://rs.example.com",
                jwks,
                &JwkSet::new(vec![Jwk::generate_symmetric(32).unwrap()]),
            ),
        ),
        (
            "use: sig",
            MetadataRouter::new(
                "https://rs.example.com",
                jwks,
                &JwkSet::new(vec![ec.clone().with_use("sig")]),
            ),
        ),
        (
            "signing-only key type",
            MetadataRouter::new(
                "https://rs.example.com",
                jwks,
                &JwkSet::new(vec![Jwk::generate(Curve::Ed25519).unwrap()]),
            ),
        ),
    ];
    for (what, r) in refused {
        // The option refused, or the core's refusal of a key (one that cannot encrypt: no match).
        let option = ["resource", "jwks_uri"].into_iter().find(|o| what.contains(o));
        match (option, r) {
            (Some(o), Err(ConfigError::Invalid { option, .. })) if option == o => {}
            (
                None,
                Err(ConfigError::Core(jwe_mint::Error::InvalidKey(_) | jwe_mint::Error::NoMatchingKey(_))),
            ) => {}
            (_, other) => panic!("{what}: {other:?}"),
        }
    }
    // A published scope is an RFC 6749 §3.3 scope token.
    let base =
        || MetadataRouter::new("https://rs.example.com", jwks, &JwkSet::new(vec![ec.clone()])).unwrap();
    for bad in ["two words", "quo\"te", "", "tab\t"] {
        let e = base().scopes_supported(["photos.read", bad]).unwrap_err();
        assert!(matches!(e, ConfigError::Invalid { option: "scope", .. }), "{bad:?}: {e:?}");
    }
    let listed = base().scopes_supported(["b", "a", "b"]).unwrap().document();
    assert_eq!(listed["scopes_supported"], serde_json::json!(["b", "a"]));
    // X25519 and a key with its own kid and alg keep them.
    let x = Jwk::generate(Curve::X25519).unwrap().with_kid("rs-2026").with_alg("ECDH-ES+A128KW");
    let m = MetadataRouter::new("https://rs.example.com", jwks, &JwkSet::new(vec![ec, x])).unwrap();
    let keys = m.jwks()["keys"].as_array().unwrap();
    assert_eq!(keys[1]["kid"], "rs-2026");
    assert_eq!(keys[1]["alg"], "ECDH-ES+A128KW");
    assert_eq!(keys[1]["use"], "enc");
    assert!(keys.iter().all(|k| k.get("d").is_none()));
}

#[test]
fn layer_configuration_is_checked() {
    let key = Jwk::generate(Curve::P256).unwrap();
    let as_key = Jwk::generate(Curve::P256).unwrap();
    let rs = ResourceServer::builder("https://rs.example.com", ISSUER)
        .decryption_keys(JwkSet::new(vec![key]))
        .issuer_keys(JwkSet::new(vec![as_key.to_public().unwrap()]))
        .build()
        .unwrap();
    let layer = BearerLayer::new(rs).unwrap();
    assert_eq!(layer.resource_metadata(), "https://rs.example.com/.well-known/oauth-protected-resource");
    for bad in ["relative/path", "ftp://x.example/m", "https://x.example/\"quoted\"", "https://x.example/a b"]
    {
        let e = layer.clone().with_resource_metadata(bad).unwrap_err();
        assert!(matches!(e, ConfigError::Invalid { option: "resource_metadata", .. }), "{bad}: {e:?}");
    }
    let moved = layer.clone().with_resource_metadata("https://meta.example.com/rs").unwrap();
    assert_eq!(moved.resource_metadata(), "https://meta.example.com/rs");
    for bad in ["", "two words", "quote\"", "back\\slash"] {
        let e = layer.clone().require_scope(bad).unwrap_err();
        assert!(matches!(e, ConfigError::Invalid { option: "scope", .. }), "{bad:?}: {e:?}");
    }
    let scoped = layer.require_scope("a").unwrap().require_scope("b").unwrap().require_scope("a").unwrap();
    assert_eq!(scoped.required_scopes().collect::<Vec<_>>(), ["a", "b"]);
}

/// AS keys that change: `keys()` gives the current set; `keys_with_kid` plays the refetch, after
/// which the next set is current; `fail` makes the source fail closed.
#[derive(Debug)]
struct TestSource {
    current: std::sync::Mutex<Arc<JwkSet>>,
    next: Arc<JwkSet>,
    refetches: AtomicUsize,
    fail: std::sync::atomic::AtomicBool,
}

impl TestSource {
    fn unavailable() -> jwe_mint::jwk::KeySourceError {
        jwe_mint::jwk::KeySourceError::Unavailable {
            location: "test".into(),
            reason: "down".into(),
            source: None,
        }
    }
}

impl jwe_mint::jwk::JwkSource for TestSource {
    fn keys(&self) -> Result<Arc<JwkSet>, jwe_mint::jwk::KeySourceError> {
        if self.fail.load(Ordering::SeqCst) {
            return Err(TestSource::unavailable());
        }
        Ok(Arc::clone(&self.current.lock().unwrap()))
    }

    fn keys_with_kid<'a>(&'a self, _kid: &'a str) -> jwe_mint::jwk::KeysFuture<'a> {
        self.refetches.fetch_add(1, Ordering::SeqCst);
        *self.current.lock().unwrap() = Arc::clone(&self.next);
        Box::pin(std::future::ready(self.keys()))
    }

    fn location(&self) -> &str {
        "test"
    }
}

/// An app with `/me` behind `layer`, on a loopback port.
async fn serve(layer: BearerLayer) -> (String, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app =
        Router::new().route("/me", get(|t: AccessToken| async move { t.subject().to_owned() }).layer(layer));
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (base, task)
}

/// An issuer signing with `as_key` for `https://photos.example.com`, encrypting to `rs_key`.
fn photos_issuer(as_key: &Jwk, rs_key: &Jwk) -> Issuer {
    let mut registry = Registry::default();
    registry
        .insert(
            ResourceEntry::new(
                "https://photos.example.com",
                ["photos.read"],
                JwkSet::new(vec![rs_key.to_public().unwrap()]),
            )
            .unwrap(),
        )
        .unwrap();
    Issuer::builder(ISSUER, as_key)
        .registry(registry)
        .allow_client(CLIENT, &["https://photos.example.com"])
        .unwrap()
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_new_as_kid_opens_on_its_first_token_and_unavailable_keys_are_503() {
    bounded(async {
        let old_as = Jwk::generate(Curve::P256).unwrap();
        let new_as = Jwk::generate(Curve::P256).unwrap();
        let rs_key = Jwk::generate(Curve::P256).unwrap();
        let source = Arc::new(TestSource {
            current: std::sync::Mutex::new(Arc::new(JwkSet::new(vec![old_as.to_public().unwrap()]))),
            next: Arc::new(JwkSet::new(vec![old_as.to_public().unwrap(), new_as.to_public().unwrap()])),
            refetches: AtomicUsize::new(0),
            fail: Default::default(),
        });
        let rs = ResourceServer::builder("https://photos.example.com", ISSUER)
            .decryption_keys(JwkSet::new(vec![rs_key.clone()]))
            .issuer_key_source(source.clone())
            .build()
            .unwrap();
        let (base, task) = serve(BearerLayer::new(rs).unwrap()).await;
        // The AS rotated to a key the RS has not fetched yet: the first token opens.
        let grant = Grant::new("carol", CLIENT, "photos.read", &["https://photos.example.com"]).unwrap();
        let token =
            photos_issuer(&new_as, &rs_key).mint(&grant, "https://photos.example.com").unwrap().access_token;
        let r = client().get(format!("{base}/me")).bearer_auth(&token).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.text().await.unwrap(), "carol");
        assert_eq!(source.refetches.load(Ordering::SeqCst), 1);
        // The source fails closed: the server's fault, not the token's.
        source.fail.store(true, Ordering::SeqCst);
        let r = client().get(format!("{base}/me")).bearer_auth(&token).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(r.headers().get(WWW_AUTHENTICATE).is_none());
        assert!(!r.text().await.unwrap().contains("invalid_token"));
        task.abort();
    })
    .await
}

#[test]
fn metadata_for_a_resource_server_names_its_issuer_and_keys() {
    let rs_key = Jwk::generate(Curve::X25519).unwrap();
    let as_key = Jwk::generate(Curve::P256).unwrap();
    let rs = ResourceServer::builder("https://photos.example.com", ISSUER)
        .decryption_keys(JwkSet::new(vec![rs_key.clone()]))
        .issuer_keys(JwkSet::new(vec![as_key.to_public().unwrap()]))
        .build()
        .unwrap();
    let m = MetadataRouter::for_resource_server(&rs, "https://photos.example.com/jwks.json").unwrap();
    let doc = m.document();
    assert_eq!(doc["resource"], "https://photos.example.com");
    assert_eq!(doc["authorization_servers"], serde_json::json!([ISSUER]));
    let key = &m.jwks()["keys"][0];
    assert_eq!(key["use"], "enc");
    assert_eq!(key["alg"], "ECDH-ES+A256KW");
    assert_eq!(key["kid"], rs_key.to_public().unwrap().thumbprint());
    assert!(key.get("d").is_none());
}

/// Serves `app` over HTTPS with `pki`'s certificate on `listener`.
fn serve_tls(listener: TcpListener, pki: &servers::Pki, app: Router) -> JoinHandle<()> {
    use hyper_util::rt::TokioIo;
    use tower::Service;
    let acceptor = tokio_rustls::TlsAcceptor::from(pki.server_config());
    tokio::spawn(async move {
        let mut connections = tokio::task::JoinSet::new();
        loop {
            let Ok((tcp, _)) = listener.accept().await else { continue };
            let (acceptor, app) = (acceptor.clone(), app.clone());
            connections.spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else { return };
                let service =
                    hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                        let mut app = app.clone();
                        async move { app.call(req).await }
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    })
}

/// RFC 9728 end to end over HTTPS: an AS that knows nothing of this RS but its resource
/// identifier discovers the metadata the `MetadataRouter` serves, fetches the keys at its
/// `jwks_uri`, and mints a token the `BearerLayer` lets through.
#[tokio::test]
async fn an_as_discovering_the_rs_by_its_resource_alone_mints_tokens_the_layer_accepts() {
    use jwe_mint::wire::{Discovery, ProtectedResourceDiscovery};
    bounded(async {
        let pki = servers::Pki::new();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin = format!("https://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let resource = format!("{origin}/api");
        let as_key = Jwk::generate(Curve::P256).unwrap();
        let rs_key = Jwk::generate(Curve::P256).unwrap();
        let rs = ResourceServer::builder(&resource, ISSUER)
            .decryption_keys(JwkSet::new(vec![rs_key]))
            .issuer_keys(JwkSet::new(vec![as_key.to_public().unwrap()]))
            .build()
            .unwrap();
        let metadata = MetadataRouter::for_resource_server(&rs, &format!("{origin}/jwks.json"))
            .unwrap()
            .scopes_supported(["photos.read"])
            .unwrap();
        let auth = BearerLayer::new(rs).unwrap();
        let app = Router::new()
            .route("/api/me", get(|t: AccessToken| async move { t.subject().to_owned() }).layer(auth))
            .merge(metadata.router());
        let task = serve_tls(listener, &pki, app);

        // The AS: the resource identifier and its scopes, nothing else.
        let mut registry = Registry::default();
        registry.insert(ResourceEntry::discovered(&resource, ["photos.read"]).unwrap()).unwrap();
        let discovery = ProtectedResourceDiscovery::new(Discovery::new(Arc::new(pki.fetcher())), ISSUER);
        for (r, outcome) in discovery.bind_registry(&registry).await {
            outcome.unwrap_or_else(|e| panic!("{r}: {e}"));
        }
        let issuer = Issuer::builder(ISSUER, &as_key)
            .registry(registry)
            .allow_client(CLIENT, &[&resource])
            .unwrap()
            .build()
            .unwrap();
        let grant = Grant::new("dave", CLIENT, "photos.read", &[&resource]).unwrap();
        let token = issuer.mint(&grant, &resource).unwrap().access_token;

        let client = reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(pki.ca_pem.as_bytes()).unwrap()])
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        let r = client.get(format!("{origin}/api/me")).bearer_auth(&token).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.text().await.unwrap(), "dave");
        // Without the token, the 401 names the metadata URL the AS used.
        let r = client.get(format!("{origin}/api/me")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            challenge(&r),
            format!("Bearer resource_metadata=\"{}\"", protected_resource_metadata_url(&resource).unwrap())
        );
        task.abort();
    })
    .await
}
