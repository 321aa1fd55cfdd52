//! Interop with an authorization server that is not ours: node-oidc-provider
//! (`tests/oidc_provider/server.mjs`), over HTTPS on 127.0.0.1 with a test CA. It issues RFC 9068
//! access tokens for the `client_credentials` grant with resource indicators (RFC 8707), signed
//! ES256 with a key it makes itself and encrypted to each resource server's public key (a nested
//! JWT whose outer `cty` is `at+jwt`). Our resource server learns the AS keys only by discovery
//! (the AS serves OpenID discovery, not RFC 8414, so the fallback is exercised) and must open
//! its tokens, and only its own.
//!
//! These tests need Node.js and the AS's packages (`npm ci --prefix tests/oidc_provider`), so they
//! are `#[ignore]`d in a plain `cargo test`; `.ci/run` installs the packages and runs them with
//! `--ignored` under both providers.
#![cfg(feature = "network")]

#[cfg(feature = "network")]
use crate::harness;
use crate::servers;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use jwe_mint::error::TokenRejection;
use jwe_mint::jwk::{Curve, Jwk, JwkSet};
use jwe_mint::resource_server::ResourceServer;
use jwe_mint::wire::Discovery;
use jwe_mint::Error;
use serde_json::{json, Value};
use servers::{bounded, Pki};

const PHOTOS: &str = "https://photos.example.com";
const FRIENDS: &str = "https://friends.example.com/api";
pub const CLIENT: &str = "app";
pub const NEEDS_NODE: &str = "needs Node.js and `npm ci --prefix tests/oidc_provider` (.ci/run runs it)";

/// node-oidc-provider in a child process, stopped (and its files removed) on drop.
pub struct NodeAs {
    child: Child,
    pub issuer: String,
    /// A directory of the test's own, removed with the AS.
    pub dir: PathBuf,
}

impl NodeAs {
    /// Starts the AS for two resources: `photos` (ECDH-ES+A256KW, A256GCM) and `friends`
    /// (ECDH-ES direct, A128CBC-HS256), each encrypting to the given key's public half.
    fn start(pki: &Pki, secret: &str, photos: &Jwk, friends: &Jwk) -> NodeAs {
        let public = |k: &Jwk| serde_json::to_value(k.to_public().unwrap()).unwrap();
        NodeAs::start_for(
            pki,
            secret,
            json!({
                PHOTOS: { "scope": "photos.read photos.write", "alg": "ECDH-ES+A256KW", "enc": "A256GCM", "jwk": public(photos) },
                FRIENDS: { "scope": "friends.read", "alg": "ECDH-ES", "enc": "A128CBC-HS256", "jwk": public(friends) },
            }),
        )
    }

    /// Starts the AS for `resources` (resource URI → `scope`, `alg`, `enc`, public `jwk`).
    pub fn start_for(pki: &Pki, secret: &str, resources: Value) -> NodeAs {
        NodeAs::start_with(pki, secret, resources, json!({}))
    }

    /// The same, with more `server.mjs` options (e.g. `{"dpop_nonce": true}`).
    pub fn start_with(pki: &Pki, secret: &str, resources: Value, options: Value) -> NodeAs {
        let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/oidc_provider");
        assert!(here.join("node_modules/oidc-provider").is_dir(), "{NEEDS_NODE}");
        let dir = std::env::temp_dir().join(format!(
            "jwe-mint-oidc-provider-{}-{}",
            std::process::id(),
            rand_suffix()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let mut config = json!({
            "tls_key": pki.server_key_pem,
            "tls_cert": pki.server_cert_pem,
            "client_id": CLIENT,
            "client_secret": secret,
            "resources": resources,
        });
        for (name, value) in options.as_object().unwrap() {
            config[name] = value.clone();
        }
        let config_path = dir.join("config.json");
        std::fs::write(&config_path, config.to_string()).unwrap();
        // Node answers in about a second; once in CI a process printed its import warning and
        // then nothing for 30 s. So each start is bounded, and a silent one is killed and started
        // again, once (both starts fit in the test's bound).
        let mut attempt = 1;
        let (child, line) = loop {
            let mut child = Command::new("node")
                .arg(here.join("server.mjs"))
                .arg(&config_path)
                .current_dir(&here)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start node ({e}): {NEEDS_NODE}"));
            let stdout = child.stdout.take().unwrap();
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                let mut line = String::new();
                let _ = BufReader::new(stdout).read_line(&mut line);
                let _ = tx.send(line);
            });
            match rx.recv_timeout(Duration::from_secs(12)) {
                Ok(line) => break (child, line),
                Err(e) => {
                    let _ = child.kill();
                    let status = child.wait();
                    assert!(attempt < 2, "node-oidc-provider did not start in 12 s, twice: {e} ({status:?})");
                    eprintln!("node-oidc-provider gave no line in 12 s ({status:?}); starting it again");
                    attempt += 1;
                }
            }
        };
        let started: Value =
            serde_json::from_str(&line).unwrap_or_else(|_| panic!("unexpected first line {line:?}"));
        let issuer = started["issuer"].as_str().unwrap().to_owned();
        NodeAs { child, issuer, dir }
    }

    /// A token for `resource` from the token endpoint the AS's OpenID discovery names
    /// (`client_secret_basic`, RFC 6749 §2.3.1).
    async fn token(&self, pki: &Pki, secret: &str, resource: &str, scope: &str) -> Value {
        let client = reqwest::Client::builder()
            .tls_certs_only(reqwest::Certificate::from_pem_bundle(pki.ca_pem.as_bytes()).unwrap())
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        let metadata: Value = client
            .get(format!("{}/.well-known/openid-configuration", self.issuer))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .map(|b| serde_json::from_slice(&b).unwrap())
            .unwrap();
        let endpoint = metadata["token_endpoint"].as_str().expect("token_endpoint");
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "client_credentials")
            .append_pair("resource", resource)
            .append_pair("scope", scope)
            .finish();
        let response = client
            .post(endpoint)
            .basic_auth(CLIENT, Some(secret))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let json: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
        assert_eq!(status, 200, "token endpoint answered {json}");
        json
    }
}

impl Drop for NodeAs {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn rand_suffix() -> String {
    Jwk::generate(Curve::P256).unwrap().thumbprint()[..12].to_owned()
}

pub fn secret() -> String {
    format!("s-{}", rand_suffix())
}

/// Our RS for `resource`, with the AS keys discovered from `issuer` only.
pub async fn rs(pki: &Pki, resource: &str, key: &Jwk, issuer: &str) -> ResourceServer {
    let discovery = Discovery::new(Arc::new(pki.fetcher()));
    discovery
        .resource_server(
            ResourceServer::builder(resource, issuer).decryption_keys(JwkSet::new(vec![key.clone()])),
        )
        .await
        .unwrap()
}

#[tokio::test]
#[ignore = "needs Node.js and `npm ci --prefix tests/oidc_provider` (.ci/run runs it)"]
async fn node_oidc_provider_tokens_open_at_their_rs_only() {
    bounded(async {
        let pki = Pki::new();
        let secret = secret();
        let photos_key = Jwk::generate(Curve::P256).unwrap().with_kid("photos-1");
        let friends_key = Jwk::generate(Curve::P384).unwrap().with_kid("friends-1");
        let node = NodeAs::start(&pki, &secret, &photos_key, &friends_key);
        let photos = rs(&pki, PHOTOS, &photos_key, &node.issuer).await;
        let friends = rs(&pki, FRIENDS, &friends_key, &node.issuer).await;

        let response = node.token(&pki, &secret, PHOTOS, "photos.read").await;
        assert_eq!(response["token_type"], "Bearer", "{response}");
        let token = response["access_token"].as_str().unwrap();
        assert_eq!(token.split('.').count(), 5, "a compact JWE: {token}");

        let opened = photos.open(token).unwrap();
        assert_eq!(opened.client_id(), CLIENT);
        // RFC 9068 §2.2: with no resource owner, `sub` is the client.
        assert_eq!(opened.subject(), CLIENT);
        assert_eq!(opened.scopes().collect::<Vec<_>>(), ["photos.read"]);
        assert_eq!(opened.raw_claims()["aud"], PHOTOS);
        assert_eq!(opened.raw_claims()["iss"], node.issuer.as_str());

        // The photos token is not the friends RS's: no key of it fits the token's recipient.
        assert!(matches!(friends.open(token), Err(Error::NoMatchingKey(_))), "{:?}", friends.open(token));

        // A token for friends (direct ECDH-ES, A128CBC-HS256, P-384) opens there, not at photos.
        let response = node.token(&pki, &secret, FRIENDS, "friends.read").await;
        let token = response["access_token"].as_str().unwrap();
        let opened = friends.open(token).unwrap();
        assert_eq!(opened.scopes().collect::<Vec<_>>(), ["friends.read"]);
        assert_eq!(opened.raw_claims()["aud"], FRIENDS);
        assert!(photos.open(token).is_err());
    })
    .await;
}

/// The friends RS's key also decrypts a token for photos when both are one key pair: the
/// audience check is what refuses it then (RFC 8707 §2: one audience per token).
#[tokio::test]
#[ignore = "needs Node.js and `npm ci --prefix tests/oidc_provider` (.ci/run runs it)"]
async fn a_node_token_for_another_resource_is_refused_by_audience() {
    bounded(async {
        let pki = Pki::new();
        let secret = secret();
        let shared = Jwk::generate(Curve::P256).unwrap().with_kid("shared");
        let node = NodeAs::start(&pki, &secret, &shared, &shared);
        let friends = rs(&pki, FRIENDS, &shared, &node.issuer).await;
        let response = node.token(&pki, &secret, PHOTOS, "photos.read").await;
        let token = response["access_token"].as_str().unwrap();
        let refused = friends.open(token).unwrap_err();
        assert!(matches!(refused, Error::InvalidToken(TokenRejection::WrongAudience)), "{refused:?}");
    })
    .await;
}

/// `jwe-mint open`, with the AS keys discovered over HTTPS from node-oidc-provider's issuer.
#[cfg(feature = "network")]
#[tokio::test]
#[ignore = "needs Node.js and `npm ci --prefix tests/oidc_provider` (.ci/run runs it)"]
async fn the_cli_opens_a_node_oidc_provider_token() {
    bounded(async {
        let pki = Pki::new();
        let secret = secret();
        let photos_key = Jwk::generate(Curve::P256).unwrap().with_kid("photos-1");
        let friends_key = Jwk::generate(Curve::P384).unwrap();
        let node = NodeAs::start(&pki, &secret, &photos_key, &friends_key);
        let response = node.token(&pki, &secret, PHOTOS, "photos.read photos.write").await;
        let token = response["access_token"].as_str().unwrap().to_owned();

        let dir = node.dir.clone();
        let key_path = dir.join("photos.jwk.json");
        std::fs::write(&key_path, photos_key.to_private_json()).unwrap();
        let ca_path = dir.join("ca.pem");
        std::fs::write(&ca_path, &pki.ca_pem).unwrap();
        let issuer = node.issuer.clone();
        let args = [
            "open",
            "--resource",
            PHOTOS,
            "--issuer",
            &issuer,
            "--key",
            key_path.to_str().unwrap(),
            "--ca-file",
            ca_path.to_str().unwrap(),
        ]
        .map(str::to_owned);
        let out = tokio::task::spawn_blocking(move || {
            harness::run(&args.each_ref().map(String::as_str), token.as_bytes())
        })
        .await
        .unwrap();
        let claims = out.ok().json();
        assert_eq!(claims["client_id"], CLIENT);
        assert_eq!(claims["scope"], "photos.read photos.write");
        assert_eq!(claims["aud"], PHOTOS);
    })
    .await;
}

/// `jwe-mint fetch` against our RS (the `BearerLayer` on loopback) trusting node-oidc-provider: the
/// 401 names the RS's metadata, which names node's issuer; the CLI finds node's token endpoint by
/// OpenID discovery, gets a token for the RS with `client_credentials` (node's response has no
/// `resource`: the one requested) and retries.
#[cfg(feature = "network")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Node.js and `npm ci --prefix tests/oidc_provider` (.ci/run runs it)"]
async fn the_cli_fetches_from_our_rs_with_a_node_oidc_provider_token() {
    use axum::routing::get;
    use jwe_mint::resource_server::AccessToken;
    use jwe_mint::wire::{BearerLayer, MetadataRouter};
    bounded(async {
        let pki = Pki::new();
        let secret = secret();
        let key = Jwk::generate(Curve::P256).unwrap().with_kid("albums-1");
        let (addr, resource) = servers::free_origin();
        let public = serde_json::to_value(key.to_public().unwrap()).unwrap();
        let node = NodeAs::start_for(
            &pki,
            &secret,
            Value::Object(serde_json::Map::from_iter([(
                resource.clone(),
                json!({ "scope": "albums.read", "alg": "ECDH-ES+A256KW", "enc": "A256GCM", "jwk": public }),
            )])),
        );
        let rs = rs(&pki, &resource, &key, &node.issuer).await;
        let metadata = MetadataRouter::for_resource_server(&rs, &format!("{resource}/jwks.json")).unwrap();
        let auth = BearerLayer::new(Arc::new(rs)).unwrap();
        let whoami = |token: AccessToken| async move {
            axum::Json(json!({ "sub": token.subject(), "aud": token.raw_claims().get("aud") }))
        };
        let app = axum::Router::new().route("/albums", get(whoami).layer(auth)).merge(metadata.router());
        let _server = servers::RouterServer::start(&pki, addr, app).await;

        let dir = node.dir.clone();
        let secret_path = dir.join("client.secret");
        std::fs::write(&secret_path, format!("{secret}\n")).unwrap();
        let ca_path = dir.join("ca.pem");
        std::fs::write(&ca_path, &pki.ca_pem).unwrap();
        let (issuer, url) = (node.issuer.clone(), format!("{resource}/albums"));
        let args = [
            "fetch",
            &url,
            "--issuer",
            &issuer,
            "--client-id",
            CLIENT,
            "--scope",
            "albums.read",
            "--client-secret-file",
            secret_path.to_str().unwrap(),
            "--ca-file",
            ca_path.to_str().unwrap(),
        ]
        .map(str::to_owned);
        let out =
            tokio::task::spawn_blocking(move || harness::run(&args.each_ref().map(String::as_str), b""))
                .await
                .unwrap();
        let body = out.ok().json();
        assert_eq!(body["sub"], CLIENT);
        assert_eq!(body["aud"], resource.as_str());
    })
    .await;
}
