//! RFC 8414 discovery against real HTTPS servers on 127.0.0.1: the three metadata URLs in order,
//! the `issuer` identity check, the `jwks_uri` origin rule, `use: enc` keys skipped, and a token
//! minted by an AS opened with the keys discovered from it.
#![cfg(feature = "http")]

use crate::servers;

use std::sync::{Arc, Mutex};

use jwe_mint::issuer::{Grant, Issuer};
use jwe_mint::jwk::{Curve, Jwk, JwkSet};
use jwe_mint::registry::{Registry, ResourceEntry};
use jwe_mint::resource_server::ResourceServer;
use jwe_mint::wire::{authorization_server_metadata_urls, ConfigError, Discovery, WireError};
use serde_json::json;
use servers::{bounded, key, public_set, Pki, Reply, TestServer};

/// A server answering `routes` (path → body) and 404 elsewhere; records the paths asked for.
async fn server_with(pki: &Pki, routes: Vec<(String, String)>) -> (TestServer, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    let server = TestServer::https(pki, move |path| {
        log.lock().unwrap().push(path.to_string());
        match routes.iter().find(|(p, _)| p == path) {
            Some((_, body)) => Reply::json(body.clone()),
            None => Reply::status(404),
        }
    })
    .await;
    (server, seen)
}

/// Binds a port first so the documents can name the server's own origin.
async fn as_server(
    pki: &Pki,
    build: impl Fn(&str) -> Vec<(String, String)>,
) -> (TestServer, Arc<Mutex<Vec<String>>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let origin = format!("https://127.0.0.1:{}", addr.port());
    let routes = build(&origin);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    let server = TestServer::start(
        addr,
        Some(pki),
        Arc::new(move |path: &str| {
            log.lock().unwrap().push(path.to_string());
            match routes.iter().find(|(p, _)| p == path) {
                Some((_, body)) => Reply::json(body.clone()),
                None => Reply::status(404),
            }
        }),
    )
    .await;
    (server, seen)
}

fn discovery(pki: &Pki) -> Discovery {
    Discovery::new(Arc::new(pki.fetcher()))
}

fn metadata(issuer: &str, jwks_uri: &str) -> String {
    json!({ "issuer": issuer, "jwks_uri": jwks_uri, "token_endpoint": format!("{issuer}/token") }).to_string()
}

#[test]
fn the_three_metadata_urls_in_order() {
    let urls = |i: &str| -> Vec<String> {
        authorization_server_metadata_urls(i).unwrap().iter().map(|u| u.to_string()).collect()
    };
    assert_eq!(
        urls("https://as.example.com/tenant/a/"),
        [
            "https://as.example.com/.well-known/oauth-authorization-server/tenant/a",
            "https://as.example.com/.well-known/openid-configuration/tenant/a",
            "https://as.example.com/tenant/a/.well-known/openid-configuration",
        ]
    );
    // No path: the OpenID URL inserted and appended coincide, and is tried once.
    for issuer in ["https://as.example.com", "https://as.example.com/"] {
        assert_eq!(
            urls(issuer),
            [
                "https://as.example.com/.well-known/oauth-authorization-server",
                "https://as.example.com/.well-known/openid-configuration",
            ]
        );
    }
    for bad in ["https://as.example.com/?tenant=1", "https://as.example.com/#x", "not a url"] {
        assert!(
            matches!(authorization_server_metadata_urls(bad), Err(WireError::InvalidUrl { .. })),
            "{bad}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_tries_the_urls_in_order_and_checks_the_issuer() {
    bounded(async {
        let pki = Pki::new();
        let signing = key();
        // Only the appended OpenID URL answers; the first two are 404.
        let (server, seen) = as_server(&pki, |origin| {
            let issuer = format!("{origin}/tenant");
            vec![
                (
                    "/tenant/.well-known/openid-configuration".into(),
                    metadata(&issuer, &format!("{origin}/jwks")),
                ),
                ("/jwks".into(), public_set(&[&signing])),
            ]
        })
        .await;
        let issuer = server.url("/tenant");
        let found = discovery(&pki).authorization_server(&issuer).await.unwrap();
        assert_eq!(found.issuer, issuer);
        assert_eq!(found.jwks_uri.as_str(), server.url("/jwks"));
        assert_eq!(
            *seen.lock().unwrap(),
            [
                "/.well-known/oauth-authorization-server/tenant",
                "/.well-known/openid-configuration/tenant",
                "/tenant/.well-known/openid-configuration",
            ]
        );
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_metadata_issuer_that_is_not_identical_is_refused() {
    bounded(async {
        let pki = Pki::new();
        // The document says the issuer with a trailing slash: not identical (RFC 8414 §3.3).
        let (server, seen) = as_server(&pki, |origin| {
            vec![(
                "/.well-known/oauth-authorization-server".into(),
                metadata(&format!("{origin}/"), &format!("{origin}/jwks")),
            )]
        })
        .await;
        let issuer = server.url("");
        let e = discovery(&pki).authorization_server(&issuer).await.unwrap_err();
        assert!(
            matches!(&e, WireError::IssuerMismatch { expected, found, .. } if *expected == issuer && *found == format!("{issuer}/")),
            "{e:?}"
        );
        assert_eq!(e.url(), format!("{issuer}/.well-known/oauth-authorization-server"));
        // The next URL was still tried (a document with another issuer is not used).
        assert_eq!(seen.lock().unwrap().len(), 2);

        // A mismatching first document does not hide a correct later one.
        let (server, _) = as_server(&pki, |origin| {
            vec![
                ("/.well-known/oauth-authorization-server".into(), metadata("https://evil.example", "https://evil.example/jwks")),
                ("/.well-known/openid-configuration".into(), metadata(origin, &format!("{origin}/jwks"))),
            ]
        })
        .await;
        let found = discovery(&pki).authorization_server(&server.url("")).await.unwrap();
        assert!(found.metadata_url.path().ends_with("openid-configuration"));
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jwks_uri_on_another_origin_is_refused_unless_allowed() {
    bounded(async {
        let pki = Pki::new();
        let signing = key();
        let body = public_set(&[&signing]);
        let (elsewhere, _) = server_with(&pki, vec![("/jwks".into(), body)]).await;
        let other = elsewhere.url("/jwks");
        let (server, _) = as_server(&pki, |origin| {
            vec![("/.well-known/oauth-authorization-server".into(), metadata(origin, &other))]
        })
        .await;
        let issuer = server.url("");
        let e = discovery(&pki).issuer_keys(&issuer).await.unwrap_err();
        assert!(matches!(&e, WireError::JwksUriRefused { jwks_uri, .. } if *jwks_uri == other), "{e:?}");
        assert_eq!(elsewhere.requests(), 0, "the refused jwks_uri is never fetched");

        let allowed = discovery(&pki).allow_jwks_origin(&elsewhere.url("/")).unwrap();
        let keys = allowed.issuer_keys(&issuer).await.unwrap();
        assert!(keys.snapshot().unwrap().find(signing.kid().unwrap()).is_some());
        assert_eq!(elsewhere.requests(), 1);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_http_jwks_uri_is_refused() {
    bounded(async {
        let pki = Pki::new();
        let (server, _) = as_server(&pki, |origin| {
            let http = origin.replace("https://", "http://");
            vec![(
                "/.well-known/oauth-authorization-server".into(),
                metadata(origin, &format!("{http}/jwks")),
            )]
        })
        .await;
        // Even with its origin allow-listed... (allow_jwks_origin takes https origins only)
        let e = discovery(&pki).allow_jwks_origin(&server.url("/").replace("https", "http")).unwrap_err();
        assert!(matches!(e, ConfigError::Invalid { option: "jwks_origin", .. }), "{e:?}");
        let e = discovery(&pki).issuer_keys(&server.url("")).await.unwrap_err();
        assert!(matches!(e, WireError::JwksUriRefused { reason: "not https", .. }), "{e:?}");
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_that_is_not_a_json_object_is_refused() {
    bounded(async {
        let pki = Pki::new();
        let (server, _) = as_server(&pki, |_| {
            vec![
                ("/.well-known/oauth-authorization-server".into(), "[1,2]".into()),
                ("/.well-known/openid-configuration".into(), r#"{"issuer": 7}"#.into()),
            ]
        })
        .await;
        let e = discovery(&pki).authorization_server(&server.url("")).await.unwrap_err();
        assert!(matches!(e, WireError::InvalidMetadata { .. }), "{e:?}");
        assert!(e.url().ends_with("/.well-known/oauth-authorization-server"));
    })
    .await
}

/// The RS side end to end: the AS's metadata and JWK Set (signing key `use: sig`, an encryption
/// key `use: enc`) are discovered; the encryption key is skipped; a token the AS minted opens
/// with the discovered keys.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rs_opens_a_token_with_the_discovered_issuer_keys() {
    bounded(async {
        let pki = Pki::new();
        let as_signing = Jwk::generate(Curve::P256).unwrap().with_use("sig");
        let as_enc = Jwk::generate(Curve::P256).unwrap().with_use("enc");
        let rs_key = Jwk::generate(Curve::P256).unwrap();
        let published = public_set(&[&as_signing, &as_enc]);
        let (server, _) = as_server(&pki, move |origin| {
            vec![
                (
                    "/.well-known/oauth-authorization-server".into(),
                    metadata(origin, &format!("{origin}/jwks.json")),
                ),
                ("/jwks.json".into(), published.clone()),
            ]
        })
        .await;
        let issuer_id = server.url("");

        let keys = discovery(&pki).issuer_keys(&issuer_id).await.unwrap();
        let set = keys.snapshot().unwrap();
        assert!(set.find(as_signing.kid().unwrap()).is_some());
        assert!(set.find(as_enc.kid().unwrap()).is_none(), "use: enc keys are skipped");

        let resource = "https://photos.example.com";
        let mut registry = Registry::default();
        registry
            .insert(
                ResourceEntry::new(resource, ["photos.read"], JwkSet::new(vec![rs_key.to_public().unwrap()]))
                    .unwrap(),
            )
            .unwrap();
        let issuer = Issuer::builder(&issuer_id, &as_signing)
            .registry(registry)
            .allow_client("app", &[resource])
            .unwrap()
            .build()
            .unwrap();
        let token =
            issuer.mint(&Grant::new("alice", "app", "photos.read", &[resource]).unwrap(), resource).unwrap();

        let rs = ResourceServer::builder(resource, &issuer_id)
            .decryption_keys(JwkSet::new(vec![rs_key]))
            .issuer_keys((*set).clone())
            .build()
            .unwrap();
        let access = rs.open(&token.access_token).unwrap();
        assert_eq!(access.subject(), "alice");
    })
    .await
}
