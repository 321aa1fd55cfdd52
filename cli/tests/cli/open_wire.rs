//! `jwe-mint open` with the AS keys over the wire: discovered from `--issuer` (RFC 8414), or from
//! an `--issuer-jwks` URL, over HTTPS with `--ca-file`, plain `http` only with `--allow-http` and
//! only for loopback; each refusal one stderr line naming the URL.
#![cfg(feature = "network")]

use crate::harness;
use crate::servers;

use std::sync::Arc;

use harness::{run, Out, TempDir};
use jwe_mint::jwk::Jwk;
use serde_json::json;
use servers::{bounded, key, photos_issuer, photos_token, public_set, Pki, Reply, TestServer, PHOTOS};

const RS: &str = PHOTOS;

fn token(issuer: &str, as_key: &Jwk, rs_key: &Jwk) -> String {
    photos_token(&photos_issuer(issuer, as_key, rs_key))
}

/// An AS publishing RFC 8414 metadata (issuer = its own origin, or `claimed` when given) and its
/// JWK Set. Returns the server and the issuer identifier.
async fn as_server(pki: Option<&Pki>, as_key: &Jwk, claimed: Option<&str>) -> (TestServer, String) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let scheme = if pki.is_some() { "https" } else { "http" };
    let issuer = format!("{scheme}://127.0.0.1:{}", addr.port());
    let metadata = json!({ "issuer": claimed.unwrap_or(&issuer), "jwks_uri": format!("{issuer}/jwks.json") })
        .to_string();
    let jwks = public_set(&[as_key]);
    let server = TestServer::start(
        addr,
        pki,
        Arc::new(move |path: &str| match path {
            "/.well-known/oauth-authorization-server" => Reply::json(metadata.clone()),
            "/jwks.json" => Reply::json(jwks.clone()),
            _ => Reply::status(404),
        }),
    )
    .await;
    (server, issuer)
}

/// Runs the binary off the runtime's threads (the servers run on them), bounded in time.
async fn jwe_mint(args: Vec<String>, stdin: String) -> Out {
    bounded(tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run(&args, stdin.as_bytes())
    }))
    .await
    .unwrap()
}

struct Files {
    _dir: TempDir,
    rs_key: String,
    ca: String,
}

fn files(name: &str, rs_key: &Jwk, pki: &Pki) -> Files {
    let dir = TempDir::new(name);
    let rs_key_path = dir.write("rs.jwk", rs_key.to_private_json().as_bytes());
    let ca = dir.write("ca.pem", pki.ca_pem.as_bytes());
    Files { _dir: dir, rs_key: rs_key_path, ca }
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_discovers_the_as_keys_from_the_issuer() {
    let pki = Pki::new();
    let (as_key, rs_key) = (key(), key());
    let (server, issuer) = as_server(Some(&pki), &as_key, None).await;
    let f = files("open-discover", &rs_key, &pki);
    let t = token(&issuer, &as_key, &rs_key);
    let out = jwe_mint(
        args(&["open", "--resource", RS, "--key", &f.rs_key, "--issuer", &issuer, "--ca-file", &f.ca]),
        t,
    )
    .await
    .ok();
    assert_eq!(out.json()["sub"], "alice");
    assert_eq!(server.requests(), 2, "metadata, then the JWK Set");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_takes_an_issuer_jwks_url() {
    let pki = Pki::new();
    let (as_key, rs_key) = (key(), key());
    let (server, issuer) = as_server(Some(&pki), &as_key, None).await;
    let f = files("open-jwks-url", &rs_key, &pki);
    let jwks = format!("{issuer}/jwks.json");
    let t = token(&issuer, &as_key, &rs_key);
    let base = ["open", "--resource", RS, "--key", &f.rs_key, "--issuer", &issuer, "--issuer-jwks", &jwks];
    let mut with_ca = args(&base);
    with_ca.extend(args(&["--ca-file", &f.ca]));
    assert_eq!(jwe_mint(with_ca, t.clone()).await.ok().json()["sub"], "alice");
    assert_eq!(server.requests(), 1, "the JWK Set only, no metadata");
    // Without --ca-file the test CA is unknown: a TLS failure naming the URL.
    let line = jwe_mint(args(&base), t.clone()).await.rejected();
    assert!(line.contains(&jwks) && line.contains("TLS"), "{line}");
    // A token signed by another AS key: the fetched set has no such kid.
    let other = token(&issuer, &key(), &rs_key);
    let mut with_ca = args(&base);
    with_ca.extend(args(&["--ca-file", &f.ca]));
    let line = jwe_mint(with_ca, other).await.rejected();
    assert!(line.contains("no matching key"), "{line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_refuses_metadata_for_another_issuer() {
    let pki = Pki::new();
    let (as_key, rs_key) = (key(), key());
    let (_server, issuer) = as_server(Some(&pki), &as_key, Some("https://evil.example")).await;
    let f = files("open-issuer-mismatch", &rs_key, &pki);
    let t = token(&issuer, &as_key, &rs_key);
    let line = jwe_mint(
        args(&["open", "--resource", RS, "--key", &f.rs_key, "--issuer", &issuer, "--ca-file", &f.ca]),
        t,
    )
    .await
    .rejected();
    assert!(line.contains("evil.example") && line.contains("not the expected"), "{line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_only_with_allow_http_and_only_for_loopback() {
    let pki = Pki::new();
    let (as_key, rs_key) = (key(), key());
    let (server, issuer) = as_server(None, &as_key, None).await;
    let f = files("open-http", &rs_key, &pki);
    let t = token(&issuer, &as_key, &rs_key);
    let base = ["open", "--resource", RS, "--key", &f.rs_key, "--issuer", &issuer];
    let line = jwe_mint(args(&base), t.clone()).await.rejected();
    assert!(line.contains("plain http is refused"), "{line}");
    assert_eq!(server.requests(), 0);
    let mut allowed = args(&base);
    allowed.push("--allow-http".into());
    assert_eq!(jwe_mint(allowed, t.clone()).await.ok().json()["sub"], "alice");
    // A non-loopback host is refused before any connection, even with --allow-http.
    let line = jwe_mint(
        args(&[
            "open",
            "--resource",
            RS,
            "--key",
            &f.rs_key,
            "--issuer",
            &issuer,
            "--issuer-jwks",
            "http://192.0.2.1/jwks.json",
            "--allow-http",
        ]),
        t,
    )
    .await
    .rejected();
    assert!(line.contains("http://192.0.2.1/jwks.json") && line.contains("only for loopback"), "{line}");
}
