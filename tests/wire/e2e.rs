//! Both discovery directions end to end over real HTTPS on 127.0.0.1: the AS publishes RFC 8414
//! metadata and its signing keys, the RS publishes RFC 9728 metadata and its encryption keys. The
//! AS mints with the RS key it discovered from nothing but the resource identifier; the RS opens
//! with the AS key it discovered from nothing but the issuer. Then both sides rotate.
#![cfg(feature = "http")]

use crate::servers;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use jwe_mint::issuer::{Grant, Issuer};
use jwe_mint::jwk::{Jwk, JwkSet};
use jwe_mint::registry::{Registry, ResourceEntry};
use jwe_mint::resource_server::ResourceServer;
use jwe_mint::wire::{Discovery, KeySetConfig, ProtectedResourceDiscovery};
use serde_json::json;
use servers::{bounded, key, Pki, Reply, TestServer};

/// A free loopback port's https origin, and the address to serve it on.
fn origin() -> (std::net::SocketAddr, String) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    (addr, format!("https://127.0.0.1:{}", addr.port()))
}

/// Serves `metadata_path` → `metadata` and `/jwks.json` → the current `jwks` (with `max_age`).
async fn publisher(
    pki: &Pki,
    addr: std::net::SocketAddr,
    metadata_path: &'static str,
    metadata: String,
    jwks: Arc<Mutex<String>>,
    max_age: u64,
) -> TestServer {
    TestServer::start(
        addr,
        Some(pki),
        Arc::new(move |path: &str| match path {
            p if p == metadata_path => Reply::json(metadata.clone()),
            "/jwks.json" => Reply::json(jwks.lock().unwrap().clone())
                .header("cache-control", format!("max-age={max_age}")),
            _ => Reply::status(404),
        }),
    )
    .await
}

fn public_json(keys: &[&Jwk]) -> String {
    JwkSet::new(keys.iter().map(|k| k.to_public().unwrap()).collect()).to_json().unwrap()
}

/// What the RS serves at its jwks_uri: what `ResourceServer::public_keys` gives (use enc, alg).
fn rs_jwks(rs_keys: &[&Jwk]) -> String {
    let rs = ResourceServer::builder("https://rs.invalid", "https://as.invalid")
        .decryption_keys(JwkSet::new(rs_keys.iter().map(|k| (*k).clone()).collect()))
        .issuer_keys(JwkSet::new(vec![key().to_public().unwrap()]))
        .build()
        .unwrap();
    rs.public_keys().unwrap().to_json().unwrap()
}

#[tokio::test]
async fn as_and_rs_discover_each_other_and_follow_rotation() {
    bounded(async {
        let pki = Pki::new();
        let (as_addr, issuer) = origin();
        let (rs_addr, rs_origin) = origin();
        let resource = format!("{rs_origin}/photos");
        let (as_key, rs_key) = (key(), key());

        let as_jwks = Arc::new(Mutex::new(public_json(&[&as_key])));
        let as_metadata = json!({ "issuer": issuer, "jwks_uri": format!("{issuer}/jwks.json") }).to_string();
        let _as_server = publisher(
            &pki,
            as_addr,
            "/.well-known/oauth-authorization-server",
            as_metadata,
            Arc::clone(&as_jwks),
            3600,
        )
        .await;
        let rs_published = Arc::new(Mutex::new(rs_jwks(&[&rs_key])));
        let rs_metadata = json!({
            "resource": resource,
            "authorization_servers": [issuer],
            "jwks_uri": format!("{rs_origin}/jwks.json"),
            "bearer_methods_supported": ["header"],
        })
        .to_string();
        let rs_server = publisher(
            &pki,
            rs_addr,
            "/.well-known/oauth-protected-resource/photos",
            rs_metadata,
            Arc::clone(&rs_published),
            1,
        )
        .await;

        // The AS: nothing configured for the RS but its resource identifier and scopes.
        let mut config = KeySetConfig::default();
        config.min_lifetime = Duration::from_millis(500);
        let as_side = ProtectedResourceDiscovery::new(
            Discovery::new(Arc::new(pki.fetcher())).key_set_config(config),
            &issuer,
        );
        let mut registry = Registry::default();
        registry.insert(ResourceEntry::discovered(&resource, ["photos.read"]).unwrap()).unwrap();
        for (r, outcome) in as_side.bind_registry(&registry).await {
            outcome.unwrap_or_else(|e| panic!("{r}: {e}"));
        }
        let issuer_side = Issuer::builder(&issuer, &as_key)
            .registry(registry)
            .allow_client("app", &[&resource])
            .unwrap()
            .build()
            .unwrap();
        let grant = Grant::new("alice", "app", "photos.read", &[&resource]).unwrap();

        // The RS: nothing configured for the AS but its issuer identifier.
        let rs = Discovery::new(Arc::new(pki.fetcher()))
            .resource_server(
                ResourceServer::builder(&resource, &issuer)
                    .decryption_keys(JwkSet::new(vec![rs_key.clone()])),
            )
            .await
            .unwrap();

        let minted = issuer_side.mint(&grant, &resource).unwrap();
        let at = rs.open_async(&minted.access_token).await.unwrap();
        assert_eq!(at.subject(), "alice");
        assert!(at.has_scope("photos.read"));

        // RS rotation: it publishes a new key first (the old private key kept); after the set's
        // max-age the AS encrypts to the new key.
        let rs_new = key();
        rs_published.lock().unwrap().clone_from(&rs_jwks(&[&rs_new, &rs_key]));
        let rs = Discovery::new(Arc::new(pki.fetcher()))
            .resource_server(
                ResourceServer::builder(&resource, &issuer)
                    .decryption_keys(JwkSet::new(vec![rs_new.clone(), rs_key.clone()])),
            )
            .await
            .unwrap();
        let before = rs_server.requests();
        let mut rotated = false;
        for _ in 0..60 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let t = issuer_side.mint(&grant, &resource).unwrap().access_token;
            let header = jwe_mint::jwe::inspect(&t, &Default::default()).unwrap().protected;
            if header.get("kid").and_then(|k| k.as_str()) == rs_new.kid() {
                assert!(rs.open_async(&t).await.is_ok());
                rotated = true;
                break;
            }
        }
        assert!(rotated, "the AS encrypts to the new RS key after max-age");
        assert!(rs_server.requests() > before, "the RS set was refetched");

        // AS rotation: the first token signed with the new AS key opens (kid-miss refetch).
        let as_new = key();
        as_jwks.lock().unwrap().clone_from(&public_json(&[&as_new, &as_key]));
        let mut registry = Registry::default();
        registry.insert(ResourceEntry::discovered(&resource, ["photos.read"]).unwrap()).unwrap();
        for (_, outcome) in as_side.bind_registry(&registry).await {
            outcome.unwrap();
        }
        let issuer_new = Issuer::builder(&issuer, &as_new)
            .registry(registry)
            .allow_client("app", &[&resource])
            .unwrap()
            .build()
            .unwrap();
        let t = issuer_new.mint(&grant, &resource).unwrap().access_token;
        assert_eq!(rs.open_async(&t).await.unwrap().subject(), "alice");
    })
    .await
}
