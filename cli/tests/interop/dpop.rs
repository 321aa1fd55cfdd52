//! DPoP (RFC 9449) with peers no one here wrote: node-oidc-provider as the authorization server
//! (its token endpoint checks our proofs and binds its tokens to our key) and oauth4webapi as the
//! client (`tests/oidc_provider/client.mjs`: its own proofs, following each server's nonce once).
//! The resource server is our gateway, in this process, requiring DPoP-bound tokens and its own
//! nonces (RFC 9449 §9), in front of a recording upstream: a request reaches the upstream only
//! when the gateway accepted the token and its proof, and the upstream learns the proof key.
//!
//! Like the other interop tests these need Node.js and `npm ci --prefix tests/oidc_provider`, so
//! they are `#[ignore]`d in a plain `cargo test`; `.ci/run` runs them with `--ignored`.
#![cfg(feature = "network")]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use jwe_mint::dpop::NonceSource;
use jwe_mint::issuer::Issuer;
use jwe_mint::jwk::{Curve, Jwk, JwkSet};
use jwe_mint::registry::{Registry, ResourceEntry};
use jwe_mint::resource_server::{AccessToken, ResourceServer};
use jwe_mint::wire::{AuthorizationServer, Gateway, RegisteredClient};
use serde_json::{json, Value};

use crate::gateway_world::Upstream;
use crate::harness;
use crate::oidc_provider::{rs, secret, NodeAs, CLIENT, NEEDS_NODE};
use crate::servers::{self, bounded, Pki};

const SCOPE: &str = "albums.read";

/// Our gateway for `rs` on `listener` in front of `upstream`: DPoP-bound tokens only, proofs with
/// its own nonce. Stops when the returned sender drops.
fn start_gateway(
    listener: tokio::net::TcpListener,
    rs: ResourceServer,
    upstream: SocketAddr,
) -> tokio::sync::oneshot::Sender<()> {
    let gateway = Gateway::new(rs, &format!("http://{upstream}"))
        .unwrap()
        .require_dpop()
        .dpop_nonce(NonceSource::generate().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(gateway.serve(listener, async move {
        let _ = stopped.await;
    }));
    stop
}

/// A listener for the gateway, bound first so that the resource identifier can name its port.
async fn gateway_listener() -> (tokio::net::TcpListener, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let resource = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    (listener, resource)
}

/// node-oidc-provider for one resource (its tokens encrypted to `key`), requiring its nonce.
fn node_for(pki: &Pki, secret: &str, resource: &str, key: &Jwk) -> NodeAs {
    let public = serde_json::to_value(key.to_public().unwrap()).unwrap();
    NodeAs::start_with(
        pki,
        secret,
        Value::Object(serde_json::Map::from_iter([(
            resource.to_owned(),
            json!({ "scope": SCOPE, "alg": "ECDH-ES+A256KW", "enc": "A256GCM", "jwk": public }),
        )])),
        json!({ "dpop_nonce": true }),
    )
}

/// The one request the upstream saw: its `X-Auth-Dpop-Jkt` and `X-Auth-Subject`.
fn upstream_saw(up: &Upstream) -> (String, String) {
    let seen = up.seen();
    assert_eq!(seen.len(), 1, "exactly one request got through: {seen:?}");
    let header = |name| seen[0].one(name).unwrap_or_else(|| panic!("no {name}: {:?}", seen[0])).to_owned();
    (header("x-auth-dpop-jkt"), header("x-auth-subject"))
}

/// Runs oauth4webapi (`client.mjs`) with `config`, trusting `pki`'s CA; its one JSON line.
async fn oauth4webapi(pki: &Pki, dir: &Path, config: Value) -> Value {
    let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/oidc_provider");
    assert!(here.join("node_modules/oauth4webapi").is_dir(), "{NEEDS_NODE}");
    let config_path = dir.join("client.json");
    std::fs::write(&config_path, config.to_string()).unwrap();
    let ca_path = dir.join("client-ca.pem");
    std::fs::write(&ca_path, &pki.ca_pem).unwrap();
    let mut child = Command::new("node")
        .arg(here.join("client.mjs"))
        .arg(&config_path)
        .current_dir(&here)
        .env("NODE_EXTRA_CA_CERTS", &ca_path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start node ({e}): {NEEDS_NODE}"));
    let pid = child.id();
    let run = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        let _ = BufReader::new(child.stdout.take().unwrap()).read_line(&mut line);
        (line, child.wait().unwrap())
    });
    // Each of its requests has a 10 s signal; the whole run is bounded too.
    let Ok(finished) = tokio::time::timeout(Duration::from_secs(40), run).await else {
        let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
        panic!("oauth4webapi did not finish within 40 s");
    };
    let (line, status) = finished.unwrap();
    let out: Value = serde_json::from_str(&line).unwrap_or_else(|_| panic!("unexpected line {line:?}"));
    assert!(out.get("error").is_none() && status.success(), "oauth4webapi failed ({status}): {out}");
    out
}

/// What oauth4webapi saw is what a DPoP client must see: a DPoP token, one nonce round at each
/// end, the upstream's answer, and the same token refused as a Bearer token; the token (opened
/// by `rs`) and the upstream both name oauth4webapi's proof key. The opened token.
fn assert_oauth4webapi_went_through(out: &Value, rs: &ResourceServer, up: &Upstream) -> AccessToken {
    assert_eq!(out["as_nonce_retries"], 1, "the AS asked for its nonce once: {out}");
    assert!(out["token_type"].as_str().unwrap().eq_ignore_ascii_case("dpop"), "{out}");
    assert_eq!(out["rs_nonce_retries"], 1, "the gateway asked for its nonce once: {out}");
    assert_eq!(out["status"], 200, "{out}");
    assert_eq!(out["body"], "ok", "the upstream's answer: {out}");
    assert_eq!(out["bearer"]["status"], 401, "a bound token without its proof: {out}");
    let challenges = out["bearer"]["challenges"].as_array().unwrap();
    assert!(challenges.iter().any(|c| c["scheme"] == "dpop"), "a DPoP challenge: {out}");
    let proof_key = Jwk::from_json(&out["jwk"].to_string()).unwrap();
    let opened = rs.open(out["access_token"].as_str().unwrap()).unwrap();
    assert_eq!(opened.dpop_jkt(), Some(proof_key.thumbprint().as_str()), "bound to oauth4webapi's key");
    let (jkt, _) = upstream_saw(up);
    assert_eq!(jkt, proof_key.thumbprint(), "the upstream learns the key");
    opened
}

/// node-oidc-provider, requiring its nonce, issues a bound token to `jwe-mint fetch --dpop`: its
/// token endpoint checks our proof (nonce followed once), the token's `cnf.jkt` is our key's, and
/// our gateway accepts it with a fresh proof after its own nonce round.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Node.js and `npm ci --prefix tests/oidc_provider` (.ci/run runs it)"]
async fn node_oidc_provider_binds_a_token_to_jwe_mint_fetch_and_our_gateway_accepts_it() {
    bounded(async {
        let pki = Pki::new();
        let secret = secret();
        let rs_key = Jwk::generate(Curve::P256).unwrap().with_kid("albums-1");
        let (listener, resource) = gateway_listener().await;
        let node = node_for(&pki, &secret, &resource, &rs_key);
        let (up, up_addr) = Upstream::start().await;
        let _gateway = start_gateway(listener, rs(&pki, &resource, &rs_key, &node.issuer).await, up_addr);

        let dpop_key = Jwk::generate(Curve::P256).unwrap();
        let dir = node.dir.clone();
        let write = |name: &str, text: &[u8]| {
            let path = dir.join(name);
            std::fs::write(&path, text).unwrap();
            path.display().to_string()
        };
        let dpop_file = write("dpop.jwk", dpop_key.to_private_json().as_bytes());
        let secret_file = write("client.secret", format!("{secret}\n").as_bytes());
        let ca_file = write("ca.pem", pki.ca_pem.as_bytes());
        let url = format!("{resource}/albums/1");
        let args = [
            "fetch",
            &url,
            "--issuer",
            &node.issuer,
            "--client-id",
            CLIENT,
            "--scope",
            SCOPE,
            "--client-secret-file",
            &secret_file,
            "--ca-file",
            &ca_file,
            "--allow-http",
            "--dpop",
            "--dpop-key",
            &dpop_file,
        ]
        .map(str::to_owned);
        let out =
            tokio::task::spawn_blocking(move || harness::run(&args.each_ref().map(String::as_str), b""))
                .await
                .unwrap();
        assert_eq!(out.ok().text(), "ok", "the upstream's answer");
        let (jkt, subject) = upstream_saw(&up);
        assert_eq!(jkt, dpop_key.thumbprint(), "the upstream learns the key node bound the token to");
        // RFC 9068 §2.2: with no resource owner, `sub` is the client.
        assert_eq!(subject, CLIENT);
    })
    .await;
}

/// oauth4webapi gets a bound token from node-oidc-provider (following node's nonce) and calls our
/// gateway with its own proofs (following the gateway's nonce); the same token as Bearer is 401.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Node.js and `npm ci --prefix tests/oidc_provider` (.ci/run runs it)"]
async fn oauth4webapi_gets_a_bound_token_from_node_oidc_provider_and_our_gateway_accepts_its_proofs() {
    bounded(async {
        let pki = Pki::new();
        let secret = secret();
        let rs_key = Jwk::generate(Curve::P256).unwrap().with_kid("albums-1");
        let (listener, resource) = gateway_listener().await;
        let node = node_for(&pki, &secret, &resource, &rs_key);
        let (up, up_addr) = Upstream::start().await;
        let gateway_rs = rs(&pki, &resource, &rs_key, &node.issuer).await;
        let checker = rs(&pki, &resource, &rs_key, &node.issuer).await;
        let _gateway = start_gateway(listener, gateway_rs, up_addr);

        let out = oauth4webapi(
            &pki,
            &node.dir,
            json!({
                "issuer": node.issuer, "discovery": "oidc", "client_id": CLIENT, "client_secret": secret,
                "resource": resource, "scope": SCOPE, "url": format!("{resource}/albums/1"),
            }),
        )
        .await;
        let opened = assert_oauth4webapi_went_through(&out, &checker, &up);
        assert_eq!(opened.subject(), CLIENT);
    })
    .await;
}

/// Our `AuthorizationServer` (requiring its nonce, the client registered with
/// `dpop_bound_access_tokens`) issues a bound token to oauth4webapi, found by RFC 8414 discovery;
/// oauth4webapi then uses it at our gateway.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Node.js and `npm ci --prefix tests/oidc_provider` (.ci/run runs it)"]
async fn our_authorization_server_binds_a_token_to_oauth4webapi() {
    bounded(async {
        let pki = Pki::new();
        let secret = secret();
        let (listener, resource) = gateway_listener().await;
        let (as_addr, issuer) = servers::free_origin();
        let rs_key = Jwk::generate(Curve::P256).unwrap();
        let mut registry = Registry::default();
        let rs_public = JwkSet::new(vec![rs_key.to_public().unwrap()]);
        registry.insert(ResourceEntry::new(&resource, [SCOPE], rs_public).unwrap()).unwrap();
        let as_key = Jwk::generate(Curve::P256).unwrap();
        let server = AuthorizationServer::builder(Issuer::builder(&issuer, &as_key).registry(registry))
            .client(
                RegisteredClient::new(CLIENT, &secret, "alice")
                    .unwrap()
                    .scope(SCOPE)
                    .resources([resource.as_str()])
                    .dpop_bound_access_tokens(true),
            )
            .unwrap()
            .dpop_nonce(NonceSource::generate().unwrap())
            .build()
            .unwrap();
        let as_public = server.issuer().verification_keys().clone();
        let _as = servers::RouterServer::start(&pki, as_addr, Arc::clone(&server).router()).await;
        let rs = || {
            ResourceServer::builder(&resource, &issuer)
                .decryption_keys(JwkSet::new(vec![rs_key.clone()]))
                .issuer_keys(as_public.clone())
                .build()
                .unwrap()
        };
        let (up, up_addr) = Upstream::start().await;
        let _gateway = start_gateway(listener, rs(), up_addr);

        let dir = harness::TempDir::new("interop-oauth4webapi");
        let out = oauth4webapi(
            &pki,
            &dir.file(""),
            json!({
                "issuer": issuer, "discovery": "oauth2", "client_id": CLIENT, "client_secret": secret,
                "resource": resource, "scope": SCOPE, "url": format!("{resource}/albums/1"),
            }),
        )
        .await;
        let opened = assert_oauth4webapi_went_through(&out, &rs(), &up);
        assert_eq!(opened.subject(), "alice");
        assert_eq!(upstream_saw(&up).1, "alice");
    })
    .await;
}
