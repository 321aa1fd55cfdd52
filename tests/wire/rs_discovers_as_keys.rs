//! The RS → AS direction end to end: a `ResourceServer` built on keys discovered from the issuer
//! (RFC 8414) over real HTTPS on 127.0.0.1, AS key rotation picked up on the first token with the
//! new `kid`, kid-miss storms bounded by the cooldown, the JWKS server going down (cached keys keep
//! serving, then fail closed), and the same rules through the core `JwkSource` trait.
#![cfg(feature = "http")]

use crate::servers;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jwe_mint::issuer::Issuer;
use jwe_mint::jwk::{Jwk, JwkSet, JwkSource, KeySourceError, KeysFuture};
use jwe_mint::resource_server::ResourceServer;
use jwe_mint::wire::{Discovery, KeySetConfig, WireError};
use jwe_mint::Error;
use serde_json::json;
use servers::{bounded, key, photos_issuer, photos_token, public_set, Pki, Reply, TestServer, PHOTOS};

const RS: &str = PHOTOS;

/// The AS's published state: its metadata names `jwks_uri` on the same origin; the JWKS body can
/// be swapped (rotation) and the server counts JWKS requests.
struct AsServer {
    server: TestServer,
    issuer: String,
    jwks: Arc<Mutex<String>>,
    jwks_requests: Arc<AtomicUsize>,
}

impl AsServer {
    async fn start(pki: &Pki, keys: &[&Jwk], max_age: u64) -> AsServer {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let issuer = format!("https://127.0.0.1:{}", addr.port());
        let metadata = json!({ "issuer": issuer, "jwks_uri": format!("{issuer}/jwks.json") }).to_string();
        let jwks = Arc::new(Mutex::new(public_set(keys)));
        let jwks_requests = Arc::new(AtomicUsize::new(0));
        let (body, count) = (Arc::clone(&jwks), Arc::clone(&jwks_requests));
        let server = TestServer::start(
            addr,
            Some(pki),
            Arc::new(move |path: &str| match path {
                "/.well-known/oauth-authorization-server" => Reply::json(metadata.clone()),
                "/jwks.json" => {
                    count.fetch_add(1, Ordering::SeqCst);
                    Reply::json(body.lock().unwrap().clone())
                        .header("cache-control", format!("max-age={max_age}"))
                }
                _ => Reply::status(404),
            }),
        )
        .await;
        AsServer { server, issuer, jwks, jwks_requests }
    }

    fn publish(&self, keys: &[&Jwk]) {
        *self.jwks.lock().unwrap() = public_set(keys);
    }

    fn jwks_requests(&self) -> usize {
        self.jwks_requests.load(Ordering::SeqCst)
    }
}

fn issuer(issuer: &str, signing_key: &Jwk, rs_key: &Jwk) -> Issuer {
    photos_issuer(issuer, signing_key, rs_key)
}

fn token(issuer: &Issuer) -> String {
    photos_token(issuer)
}

/// Short timings so rotation and staleness show within a test.
fn quick() -> KeySetConfig {
    let mut c = KeySetConfig::default();
    c.min_lifetime = Duration::from_millis(200);
    c.kid_miss_cooldown = Duration::from_secs(30);
    c.max_staleness = Duration::from_millis(600);
    c.retry_interval = Duration::from_millis(100);
    c
}

#[tokio::test]
async fn rs_built_on_discovered_keys_opens_tokens() {
    bounded(async {
        let pki = Pki::new();
        let (as_key, rs_key) = (key(), key());
        let server = AsServer::start(&pki, &[&as_key], 600).await;
        let discovery = Discovery::new(Arc::new(pki.fetcher()));
        let rs = discovery
            .resource_server(
                ResourceServer::builder(RS, &server.issuer)
                    .decryption_keys(JwkSet::new(vec![rs_key.clone()]))
                    // AS keys named on the builder give way to the discovered ones.
                    .issuer_keys(JwkSet::new(vec![key().to_public().unwrap()]))
                    .cache(8),
            )
            .await
            .unwrap();
        let t = token(&issuer(&server.issuer, &as_key, &rs_key));
        assert_eq!(rs.open(&t).unwrap().subject(), "alice");
        assert_eq!(rs.open_async(&t).await.unwrap().subject(), "alice");
        assert_eq!(server.jwks_requests(), 1, "a warm cache fetches nothing more");
        assert_eq!(rs.cache_stats().map(|s| s.hits), Some(1), "the builder's other settings are kept");
    })
    .await
}

#[tokio::test]
async fn as_key_rotation_is_picked_up_on_the_first_token_with_the_new_kid() {
    bounded(async {
        let pki = Pki::new();
        let (old, new, rs_key) = (key(), key(), key());
        let server = AsServer::start(&pki, &[&old], 3600).await;
        let discovery = Discovery::new(Arc::new(pki.fetcher()));
        let rs = discovery
            .resource_server(
                ResourceServer::builder(RS, &server.issuer)
                    .decryption_keys(JwkSet::new(vec![rs_key.clone()])),
            )
            .await
            .unwrap();
        // The AS rotates: publishes the new key, signs with it. The cached set (max-age 1 h) lacks it.
        server.publish(&[&old, &new]);
        let t = token(&issuer(&server.issuer, &new, &rs_key));
        let at = rs.open_async(&t).await.expect("the first token with the new kid opens");
        assert_eq!(at.subject(), "alice");
        assert_eq!(server.jwks_requests(), 2, "one kid-miss refetch");
        // Tokens signed with the old key still open; nothing more is fetched.
        assert!(rs.open(&token(&issuer(&server.issuer, &old, &rs_key))).is_ok());
        assert!(rs.open(&t).is_ok());
        assert_eq!(server.jwks_requests(), 2);
    })
    .await
}

#[tokio::test]
async fn synchronous_open_refuses_an_unknown_kid_at_once_and_refetches_in_the_background() {
    bounded(async {
        let pki = Pki::new();
        let (old, new, rs_key) = (key(), key(), key());
        let server = AsServer::start(&pki, &[&old], 3600).await;
        let discovery = Discovery::new(Arc::new(pki.fetcher()));
        let rs = discovery
            .resource_server(
                ResourceServer::builder(RS, &server.issuer)
                    .decryption_keys(JwkSet::new(vec![rs_key.clone()])),
            )
            .await
            .unwrap();
        server.publish(&[&old, &new]);
        let t = token(&issuer(&server.issuer, &new, &rs_key));
        assert!(matches!(rs.open(&t), Err(Error::NoMatchingKey(_))));
        // The background refetch lands; the same token then opens synchronously.
        let mut opened = false;
        for _ in 0..100 {
            tokio::time::sleep(Duration::from_millis(20)).await;
            if rs.open(&t).is_ok() {
                opened = true;
                break;
            }
        }
        assert!(opened, "the background refetch brought the new key");
        assert_eq!(server.jwks_requests(), 2);
    })
    .await
}

#[tokio::test]
async fn a_kid_miss_storm_through_the_rs_costs_one_fetch_per_cooldown() {
    bounded(async {
        let pki = Pki::new();
        let (as_key, rs_key) = (key(), key());
        let server = AsServer::start(&pki, &[&as_key], 3600).await;
        let discovery = Discovery::new(Arc::new(pki.fetcher()));
        let rs = discovery
            .resource_server(
                ResourceServer::builder(RS, &server.issuer)
                    .decryption_keys(JwkSet::new(vec![rs_key.clone()])),
            )
            .await
            .unwrap();
        // 1,000 well-formed tokens, encrypted to this RS, signed with unknown kids.
        let attacker = key();
        let mut refused = 0;
        for i in 0..1000 {
            let forged = issuer(&server.issuer, &attacker.clone().with_kid(format!("storm-{i}")), &rs_key);
            let t = token(&forged);
            let outcome = if i % 2 == 0 { rs.open_async(&t).await } else { rs.open(&t) };
            if matches!(outcome, Err(Error::NoMatchingKey(_))) {
                refused += 1;
            }
        }
        assert_eq!(refused, 1000);
        // Startup + at most one kid-miss refetch in the 30 s cooldown.
        assert!(server.jwks_requests() <= 2, "{} JWKS requests", server.jwks_requests());
        assert!(rs.open(&token(&issuer(&server.issuer, &as_key, &rs_key))).is_ok());
    })
    .await
}

#[tokio::test]
async fn jwks_server_down_keeps_cached_keys_serving_then_fails_closed() {
    bounded(async {
        let pki = Pki::new();
        let (as_key, rs_key) = (key(), key());
        let server = AsServer::start(&pki, &[&as_key], 0).await;
        let discovery = Discovery::new(Arc::new(pki.fetcher())).key_set_config(quick());
        let rs = discovery
            .resource_server(
                ResourceServer::builder(RS, &server.issuer)
                    .decryption_keys(JwkSet::new(vec![rs_key.clone()])),
            )
            .await
            .unwrap();
        let t = token(&issuer(&server.issuer, &as_key, &rs_key));
        let issuer_url = server.issuer.clone();
        server.server.stop().await;
        // Within lifetime + staleness cap the cached set serves.
        assert!(rs.open_async(&t).await.is_ok());
        tokio::time::sleep(Duration::from_millis(1200)).await;
        match rs.open_async(&t).await {
            Err(Error::KeySource(KeySourceError::Unavailable { location, .. })) => {
                assert_eq!(location, format!("{issuer_url}/jwks.json"));
            }
            other => panic!("expected fail-closed, got {other:?}"),
        }
        // The fetch failures left the cache stale: that WireError reaches the caller typed.
        let e = rs.open_async(&t).await.unwrap_err();
        let wire = wire_error_in(&e).unwrap_or_else(|| panic!("no WireError under {e:?}"));
        assert!(
            matches!(wire, WireError::Stale { url, .. } if *url == format!("{issuer_url}/jwks.json")),
            "{wire:?}"
        );
        let e = rs.open(&t).unwrap_err();
        assert!(e.to_string().starts_with("server_error: "), "{e}");
    })
    .await
}

#[tokio::test]
async fn discovery_failure_is_a_key_source_error_naming_the_url() {
    bounded(async {
        let pki = Pki::new();
        let server = TestServer::https(&pki, |_| Reply::status(404)).await;
        let issuer = server.url("");
        let discovery = Discovery::new(Arc::new(pki.fetcher()));
        let e = discovery
            .resource_server(ResourceServer::builder(RS, &issuer).decryption_keys(JwkSet::new(vec![key()])))
            .await
            .unwrap_err();
        let Error::KeySource(KeySourceError::Unavailable { location, reason, .. }) = e else {
            panic!("{e:?}")
        };
        assert!(location.starts_with(&issuer), "{location}");
        assert!(reason.contains("404"), "{reason}");
    })
    .await
}

/// The first error of `e`'s `source()` chain (`e` included) that is a [`WireError`].
fn wire_error_in<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a WireError> {
    let mut next = Some(e);
    while let Some(e) = next {
        if let Some(wire) = e.downcast_ref::<WireError>() {
            return Some(wire);
        }
        next = e.source();
    }
    None
}

#[tokio::test]
async fn a_failed_fetch_keeps_its_wire_error_along_the_source_chain() {
    bounded(async {
        let pki = Pki::new();
        let server = TestServer::https(&pki, |_| Reply::status(404)).await;
        let issuer = server.url("");
        let discovery = Discovery::new(Arc::new(pki.fetcher()));
        let e = discovery
            .resource_server(ResourceServer::builder(RS, &issuer).decryption_keys(JwkSet::new(vec![key()])))
            .await
            .unwrap_err();
        // Error::KeySource → KeySourceError::Unavailable → the WireError itself.
        let key_source = std::error::Error::source(&e).unwrap().downcast_ref::<KeySourceError>().unwrap();
        assert!(matches!(key_source, KeySourceError::Unavailable { .. }), "{key_source:?}");
        let wire = std::error::Error::source(key_source).unwrap().downcast_ref::<WireError>().unwrap();
        // The first metadata URL's 404 (every candidate answered 404).
        let first = format!("{issuer}/.well-known/oauth-authorization-server");
        assert!(matches!(wire, WireError::Status { status: 404, url } if *url == first), "{wire:?}");
        assert_eq!(wire_error_in(&e), Some(wire));
    })
    .await
}

/// A key source driven by the test: counts kid reports, and "refetches" by swapping in `next`.
#[derive(Debug)]
struct Scripted {
    now: Mutex<Arc<JwkSet>>,
    next: Mutex<Option<JwkSet>>,
    reports: AtomicUsize,
    waits: AtomicUsize,
}

impl JwkSource for Scripted {
    fn keys(&self) -> Result<Arc<JwkSet>, KeySourceError> {
        Ok(Arc::clone(&self.now.lock().unwrap()))
    }
    fn unknown_kid(&self, _kid: &str) {
        self.reports.fetch_add(1, Ordering::SeqCst);
    }
    fn keys_with_kid<'a>(&'a self, _kid: &'a str) -> KeysFuture<'a> {
        self.waits.fetch_add(1, Ordering::SeqCst);
        if let Some(next) = self.next.lock().unwrap().take() {
            *self.now.lock().unwrap() = Arc::new(next);
        }
        Box::pin(std::future::ready(self.keys()))
    }
    fn location(&self) -> &str {
        "scripted"
    }
}

#[tokio::test]
async fn the_core_trait_gets_one_report_per_unknown_kid_and_none_otherwise() {
    let (old, new, rs_key) = (key(), key(), key());
    let public = |k: &Jwk| JwkSet::new(vec![k.to_public().unwrap()]);
    let source = Arc::new(Scripted {
        now: Mutex::new(Arc::new(public(&old))),
        next: Mutex::new(Some(JwkSet::new(vec![old.to_public().unwrap(), new.to_public().unwrap()]))),
        reports: AtomicUsize::new(0),
        waits: AtomicUsize::new(0),
    });
    let iss = "https://as.example.com";
    let rs = ResourceServer::builder(RS, iss)
        .decryption_keys(JwkSet::new(vec![rs_key.clone()]))
        .issuer_key_source(source.clone())
        .cache(16)
        .build()
        .unwrap();
    let known = token(&issuer(iss, &old, &rs_key));
    assert!(rs.open(&known).is_ok());
    assert_eq!(source.reports.load(Ordering::SeqCst), 0, "a known kid reports nothing");
    // A kid-less token signed by a key that is not in the set: a bad signature, not an unknown kid.
    let kidless = token(&issuer(
        iss,
        &Jwk::from_value(&{
            let mut v = key().to_private_value();
            v.as_object_mut().unwrap().remove("kid");
            v
        })
        .unwrap(),
        &rs_key,
    ));
    assert!(rs.open(&kidless).is_err());
    assert_eq!(source.reports.load(Ordering::SeqCst), 0, "no kid, nothing to refetch for");
    let rotated = token(&issuer(iss, &new, &rs_key));
    assert!(matches!(rs.open(&rotated), Err(Error::NoMatchingKey(_))));
    assert_eq!(source.reports.load(Ordering::SeqCst), 1);
    assert!(rs.open_async(&rotated).await.is_ok());
    assert_eq!(source.waits.load(Ordering::SeqCst), 1);
    // Fixed keys never consult a source: open_async is open.
    let fixed = ResourceServer::builder(RS, iss)
        .decryption_keys(JwkSet::new(vec![rs_key.clone()]))
        .issuer_keys(public(&old))
        .build()
        .unwrap();
    assert!(matches!(fixed.open_async(&rotated).await, Err(Error::NoMatchingKey(_))));
}

#[test]
fn a_source_with_private_keys_or_none_is_refused() {
    #[derive(Debug)]
    struct Failing;
    impl JwkSource for Failing {
        fn keys(&self) -> Result<Arc<JwkSet>, KeySourceError> {
            Err(KeySourceError::Unavailable {
                location: "nowhere".into(),
                reason: "down".into(),
                source: None,
            })
        }
        fn location(&self) -> &str {
            "nowhere"
        }
    }
    let rs_key = key();
    let e = ResourceServer::builder(RS, "https://as")
        .decryption_keys(JwkSet::new(vec![rs_key.clone()]))
        .issuer_key_source(Arc::new(Failing))
        .build()
        .unwrap_err();
    assert!(matches!(e, Error::KeySource(KeySourceError::Unavailable { .. })), "{e:?}");
    let private = jwe_mint::jwk::StaticJwkSource::new(JwkSet::new(vec![key()]), "file");
    let e = ResourceServer::builder(RS, "https://as")
        .decryption_keys(JwkSet::new(vec![rs_key]))
        .issuer_key_source(Arc::new(private))
        .build()
        .unwrap_err();
    assert!(matches!(e, Error::InvalidKey(_)), "{e:?}");
}

#[test]
fn public_keys_publish_use_enc_alg_and_kid_and_nothing_private() {
    let (a, b) = (key(), Jwk::generate_rsa(2048).unwrap());
    let rs = ResourceServer::builder(RS, "https://as")
        .decryption_keys(JwkSet::new(vec![a.clone(), b.clone()]))
        .issuer_keys(JwkSet::new(vec![key().to_public().unwrap()]))
        .build()
        .unwrap();
    let published = rs.public_keys().unwrap();
    let v: serde_json::Value = serde_json::from_str(&published.to_json().unwrap()).unwrap();
    let keys = v["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2);
    for (k, src) in keys.iter().zip([&a, &b]) {
        assert_eq!(k["use"], "enc");
        assert_eq!(k["kid"], src.kid().unwrap());
        for private in ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] {
            assert!(k.get(private).is_none(), "{private} published");
        }
    }
    assert_eq!(keys[0]["alg"], "ECDH-ES+A256KW");
    assert_eq!(keys[1]["alg"], "RSA-OAEP-256");
}
