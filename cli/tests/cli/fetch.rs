//! `jwe-mint fetch URL` against the library's authorization server (`wire::AuthorizationServer`) and a resource server behind
//! the `BearerLayer`, over HTTPS on 127.0.0.1 with `--ca-file`: the 401 → metadata → token →
//! retry flow prints the body; every refusal is exit 1 with one stderr line.
#![cfg(feature = "network")]

use crate::harness;
use crate::servers;

use std::sync::Arc;

use axum::routing::get;
use axum::{Json, Router};
use harness::{run, Out, TempDir};
use jwe_mint::jwk::{Curve, Jwk, JwkSet};
use jwe_mint::registry::{Registry, ResourceEntry};
use jwe_mint::resource_server::{AccessToken, ResourceServer};
use jwe_mint::wire::{
    AuthorizationServer, BearerLayer, Discovery, MetadataRouter, ProtectedResourceDiscovery, RegisteredClient,
};
use serde_json::{json, Value};
use servers::{bounded, free_origin, Pki, RouterServer};

const SECRET: &str = "correct horse battery staple";

async fn whoami(token: AccessToken) -> Json<Value> {
    Json(json!({ "sub": token.subject(), "aud": token.raw_claims().get("aud") }))
}

struct World {
    _dir: TempDir,
    ca: String,
    secret: String,
    issuer: String,
    photos: String,
    _servers: Vec<RouterServer>,
}

async fn world(name: &str) -> World {
    let pki = Pki::new();
    let (as_addr, issuer) = free_origin();
    let (photos_addr, photos) = free_origin();
    let discovery = || Discovery::new(Arc::new(pki.fetcher()));
    let mut registry = Registry::default();
    registry.insert(ResourceEntry::discovered(&photos, ["photos.read"]).unwrap()).unwrap();
    let client = RegisteredClient::new("photo-app", SECRET, "alice")
        .unwrap()
        .scope("photos.read")
        .resources([photos.as_str()]);
    let resources = ProtectedResourceDiscovery::new(discovery(), &issuer);
    let as_key = Jwk::generate(Curve::P256).unwrap();
    let server =
        AuthorizationServer::new(&issuer, &as_key, registry, vec![client], &resources).await.unwrap();
    let mut servers = vec![RouterServer::start(&pki, as_addr, Arc::clone(&server).router()).await];
    let keys = JwkSet::new(vec![Jwk::generate(Curve::P256).unwrap()]);
    let rs = discovery()
        .resource_server(ResourceServer::builder(&photos, &issuer).decryption_keys(keys))
        .await
        .unwrap();
    let metadata = MetadataRouter::for_resource_server(&rs, &format!("{photos}/jwks.json")).unwrap();
    let auth = BearerLayer::new(Arc::new(rs)).unwrap();
    let app = Router::new()
        .route("/albums", get(whoami).layer(auth.clone()))
        .route("/missing", get(|| async { http::StatusCode::NOT_FOUND }).layer(auth))
        .merge(metadata.router());
    servers.push(RouterServer::start(&pki, photos_addr, app).await);
    assert!(server.bind_resources(&resources).await.is_empty());
    let dir = TempDir::new(name);
    let ca = dir.write("ca.pem", pki.ca_pem.as_bytes());
    let secret = dir.write("secret", format!("{SECRET}\n").as_bytes());
    World { _dir: dir, ca, secret, issuer, photos, _servers: servers }
}

/// Runs the binary off the runtime's threads (the servers run on them), bounded in time.
async fn jwe_mint(args: Vec<String>) -> Out {
    bounded(tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run(&args, b"")
    }))
    .await
    .unwrap()
}

impl World {
    fn args(&self, url: &str, issuer: &str, secret_file: &str) -> Vec<String> {
        [
            "fetch",
            url,
            "--issuer",
            issuer,
            "--client-id",
            "photo-app",
            "--client-secret-file",
            secret_file,
            "--ca-file",
            &self.ca,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_follows_the_401_to_a_token_and_prints_the_body() {
    let w = world("cli-fetch-ok").await;
    let out = jwe_mint(w.args(&format!("{}/albums", w.photos), &w.issuer, &w.secret)).await.ok();
    let body = out.json();
    assert_eq!(body["sub"], "alice");
    assert_eq!(body["aud"], w.photos.as_str());
    let mut args = w.args(&format!("{}/albums", w.photos), &w.issuer, &w.secret);
    args.extend(["--scope".to_string(), "photos.read".to_string()]);
    assert_eq!(jwe_mint(args).await.ok().json()["sub"], "alice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_refusals_are_one_line() {
    let w = world("cli-fetch-refusals").await;
    let albums = format!("{}/albums", w.photos);
    // A wrong secret: the AS's code first, the secret nowhere.
    let dir = TempDir::new("cli-fetch-wrong");
    let wrong = dir.write("secret", b"wrong horse");
    let line = jwe_mint(w.args(&albums, &w.issuer, &wrong)).await.failed();
    assert!(line.starts_with("invalid_client: "), "{line}");
    assert!(!line.contains("wrong horse") && !line.contains(SECRET), "{line}");
    // The RS names an AS other than the one given: refused before any token request.
    let line = jwe_mint(w.args(&albums, "https://127.0.0.1:9", &w.secret)).await.rejected();
    assert!(line.contains("does not name the configured authorization server"), "{line}");
    // An error status after the token.
    let line = jwe_mint(w.args(&format!("{}/missing", w.photos), &w.issuer, &w.secret)).await.rejected();
    assert!(line.contains("HTTP status 404"), "{line}");
    // Plain http without --allow-http.
    let line =
        jwe_mint(w.args(&albums.replace("https://", "http://"), &w.issuer, &w.secret)).await.rejected();
    assert!(line.contains("plain http is refused"), "{line}");
    // An empty secret file, a missing one.
    let empty = dir.write("empty", b"\n");
    let line = jwe_mint(w.args(&albums, &w.issuer, &empty)).await.rejected();
    assert!(line.contains("--client-secret-file") && line.contains("empty"), "{line}");
    let line = jwe_mint(w.args(&albums, &w.issuer, &dir.path("none"))).await.rejected();
    assert!(line.contains("--client-secret-file"), "{line}");
    // The secret is never an option.
    let mut args = w.args(&albums, &w.issuer, &w.secret);
    args.extend(["--client-secret".to_string(), SECRET.to_string()]);
    jwe_mint(args).await.usage_error();
}

/// `fetch --dpop` against a scripted AS and RS that check every proof with the library's
/// `DpopValidation`: the token request proves a key, the RS gets `Authorization: DPoP` with a
/// proof bound to that key, and the RS's nonce is followed once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_with_dpop_proves_a_key_at_the_as_and_the_rs() {
    use crate::dpop_world::{DpopWorld, TOKEN};
    let pki = Pki::new();
    let w = DpopWorld::start(&pki, |s| s.rs_nonce = Some("rs-nonce".into())).await;
    let dir = TempDir::new("cli-fetch-dpop");
    let ca = dir.write("ca.pem", pki.ca_pem.as_bytes());
    let secret = dir.write("secret", format!("{SECRET}\n").as_bytes());
    let args = |extra: &[&str]| {
        let mut args: Vec<String> =
            ["fetch", &w.data(), "--issuer", &w.script.issuer, "--client-id", "app", "--client-secret-file"]
                .iter()
                .map(|s| s.to_string())
                .collect();
        args.extend([secret.clone(), "--ca-file".into(), ca.clone()]);
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    };
    // A fresh key: the body is the RS's view of a DPoP request bound to the key the AS saw.
    let body = jwe_mint(args(&["--dpop"])).await.ok().json();
    assert_eq!(body["scheme"], "DPoP");
    assert_eq!(body["token"], TOKEN);
    let fresh = w.script.jkt.lock().unwrap().clone().unwrap();
    assert_eq!(body["jkt"], fresh.as_str());
    assert_eq!(
        w.script.log(),
        ["rs 401 no token", "as 200", "rs 401 use_dpop_nonce", &format!("rs 200 DPoP {TOKEN}")]
    );
    // A key file: its key is the one proven, and it is printed nowhere.
    let key = Jwk::generate(Curve::P256).unwrap();
    let file = dir.write("dpop.jwk", key.to_private_json().as_bytes());
    let d = key.to_private_value()["d"].as_str().unwrap().to_owned();
    let out = jwe_mint(args(&["--dpop", "--dpop-key", &file])).await.ok();
    assert_eq!(out.json()["jkt"], key.thumbprint());
    assert_ne!(key.thumbprint(), fresh);
    assert!(!out.text().contains(&d) && !out.stderr.contains(&d));
    // Without --dpop this AS refuses the token request (no proof): its code first.
    let line = jwe_mint(args(&[])).await.failed();
    assert!(line.starts_with("invalid_dpop_proof: "), "{line}");
    // A public key is no DPoP key; --dpop-key needs --dpop.
    let public = dir.write("public.jwk", key.to_json().unwrap().as_bytes());
    let line = jwe_mint(args(&["--dpop", "--dpop-key", &public])).await.rejected();
    assert!(line.contains("--dpop-key") && line.contains("public.jwk"), "{line}");
    jwe_mint(args(&["--dpop-key", &file])).await.usage_error();
}
