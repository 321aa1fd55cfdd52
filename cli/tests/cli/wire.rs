//! The AS side of the `jwe-mint` binary on the wire: `mint` with registry entries whose keys the
//! RSs publish (`jwks_uri`, or RFC 9728 discovery), trusting a test CA through `--ca-file`;
//! `server_error` refusals; `metadata` printing the document the AS then reads. The servers run
//! in the test process on 127.0.0.1; the binary is spawned.
#![cfg(feature = "network")]

use crate::harness;
use crate::servers;

use std::sync::{Arc, Mutex};

use harness::{run, Out, TempDir};
use jwe_mint::jwk::{Curve, Jwk, JwkSet};
use jwe_mint::resource_server::ResourceServer;
use serde_json::{json, Value};
use servers::{bounded, public_set, Pki, Reply, TestServer};

const AS: &str = "https://as.example.com";

/// Runs the binary off the runtime's worker threads, so the in-process servers keep answering.
async fn cli(args: Vec<String>) -> Out {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run(&args, b"")
    })
    .await
    .unwrap()
}

/// A server on a port bound first (its documents name its own origin); path → body.
async fn server(pki: &Pki) -> (TestServer, String, Arc<Mutex<Vec<(String, String)>>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let routes: Arc<Mutex<Vec<(String, String)>>> = Arc::new(Mutex::new(Vec::new()));
    let table = Arc::clone(&routes);
    let server = TestServer::start(
        addr,
        Some(pki),
        Arc::new(move |path: &str| match table.lock().unwrap().iter().find(|(p, _)| p == path) {
            Some((_, body)) => Reply::json(body.clone()),
            None => Reply::status(404),
        }),
    )
    .await;
    (server, format!("https://127.0.0.1:{}", addr.port()), routes)
}

struct World {
    dir: TempDir,
    as_key: Jwk,
    as_key_file: String,
    ca_file: String,
}

fn world(name: &str, pki: &Pki) -> World {
    let dir = TempDir::new(name);
    let as_key = Jwk::generate(Curve::P256).unwrap();
    let as_key_file = dir.write("as.jwk", as_key.to_private_json().as_bytes());
    let ca_file = dir.write("ca.pem", pki.ca_pem.as_bytes());
    World { dir, as_key, as_key_file, ca_file }
}

impl World {
    fn registry(&self, resources: Value) -> String {
        self.dir.write("registry.json", json!({ "resources": resources }).to_string().as_bytes())
    }

    fn mint_args(&self, registry: &str, resources: &[&str], extra: &[&str]) -> Vec<String> {
        let mut args = vec![
            "mint",
            "--issuer",
            AS,
            "--signing-key",
            &self.as_key_file,
            "--registry",
            registry,
            "--sub",
            "alice",
            "--client-id",
            "app",
            "--scope",
            "read",
        ];
        for r in resources {
            args.extend_from_slice(&["--resource", r]);
        }
        args.extend_from_slice(extra);
        args.into_iter().map(String::from).collect()
    }

    fn opens(&self, token: &str, resource: &str, rs_key: &Jwk) {
        let rs = ResourceServer::builder(resource, AS)
            .decryption_keys(JwkSet::new(vec![rs_key.clone()]))
            .issuer_keys(JwkSet::new(vec![self.as_key.to_public().unwrap()]))
            .build()
            .unwrap();
        assert_eq!(rs.open(token).unwrap().subject(), "alice");
    }
}

/// The RS's document comes from `jwe-mint metadata`, its keys from the RS's key file; the AS
/// mints for an entry found through that document and for one with a `jwks_uri`, trusting the
/// test CA through `--ca-file` only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mint_fetches_rs_keys_for_entries_with_jwks_uri_or_none() {
    bounded(async {
        let pki = Pki::new();
        let w = world("mint-remote", &pki);
        let (server, origin, routes) = server(&pki).await;
        let photos_key = Jwk::generate(Curve::P256).unwrap().with_use("enc");
        let friends_key = Jwk::generate(Curve::X25519).unwrap();
        let photos_key_file = w.dir.write("photos.jwk", photos_key.to_private_json().as_bytes());
        let photos = format!("{origin}/photos");
        let friends = format!("{origin}/friends");

        let doc = cli(
            [
                "metadata", "--resource", &photos, "--key", &photos_key_file, "--issuer", AS, "--jwks-uri",
                &format!("{origin}/photos/jwks"), "--scope", "read",
            ]
            .map(String::from)
            .to_vec(),
        )
        .await
        .ok()
        .text();
        {
            let mut table = routes.lock().unwrap();
            table.push(("/.well-known/oauth-protected-resource/photos".into(), doc));
            table.push(("/photos/jwks".into(), public_set(&[&photos_key])));
            table.push(("/friends/jwks".into(), public_set(&[&friends_key])));
        }
        let registry = w.registry(json!([
            { "resource": photos, "scopes_supported": ["read"] },
            { "resource": friends, "scopes_supported": ["read"], "jwks_uri": format!("{origin}/friends/jwks") },
        ]));

        let out = cli(w.mint_args(&registry, &[&photos, &friends], &["--ca-file", &w.ca_file])).await.ok().json();
        let tokens = out["access_tokens"].as_array().unwrap();
        assert_eq!(tokens.len(), 2);
        assert_eq!(tokens[0]["resource"], photos.as_str());
        w.opens(tokens[0]["access_token"].as_str().unwrap(), &photos, &photos_key);
        w.opens(tokens[1]["access_token"].as_str().unwrap(), &friends, &friends_key);
        // Metadata once, each set once.
        assert_eq!(server.requests(), 3);

        // Only the requested resources are fetched.
        let out = cli(w.mint_args(&registry, &[&friends], &["--ca-file", &w.ca_file])).await.ok().json();
        w.opens(out["access_token"].as_str().unwrap(), &friends, &friends_key);
        assert_eq!(server.requests(), 4);

        // Without --ca-file the test CA is not trusted: refused like any unavailable key set.
        let line = cli(w.mint_args(&registry, &[&friends], &[])).await.failed();
        assert!(line.starts_with("server_error: ") && line.contains("TLS"), "{line}");
        assert!(line.contains(&format!("{origin}/friends/jwks")), "{line}");
    })
    .await
}

/// An RS that publishes only signing keys: no token, one `server_error` line, exit 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sig_only_rs_set_is_server_error() {
    bounded(async {
        let pki = Pki::new();
        let w = world("mint-sig-only", &pki);
        let (server, origin, routes) = server(&pki).await;
        let sig = Jwk::generate(Curve::P256).unwrap().with_use("sig");
        routes.lock().unwrap().push(("/jwks".into(), public_set(&[&sig])));
        let resource = format!("{origin}/api");
        let registry =
            w.registry(json!([{ "resource": resource, "scopes_supported": ["read"], "jwks_uri": format!("{origin}/jwks") }]));
        let line = cli(w.mint_args(&registry, &[&resource], &["--ca-file", &w.ca_file])).await.failed();
        assert!(line.starts_with("server_error: no usable key from "), "{line}");
        assert_eq!(server.requests(), 1);

        // A keys server that is not there: server_error too.
        drop(server);
        let line = cli(w.mint_args(&registry, &[&resource], &["--ca-file", &w.ca_file])).await.failed();
        assert!(line.starts_with("server_error: keys from "), "{line}");
        // A scope the resource does not accept is refused before anything is fetched.
        let mut args = w.mint_args(&registry, &[&resource], &["--ca-file", &w.ca_file]);
        let at = args.iter().position(|a| a == "read").unwrap();
        args[at] = "other".into();
        assert!(cli(args).await.failed().starts_with("invalid_scope: "));
    })
    .await
}

#[test]
fn metadata_prints_the_rs_document_and_checks_the_key() {
    let dir = TempDir::new("metadata");
    let rs_key = Jwk::generate(Curve::P256).unwrap();
    let key_file = dir.write("rs.jwk", rs_key.to_private_json().as_bytes());
    let args = |key: &str, extra: &[&str]| {
        let mut a = vec![
            "metadata",
            "--resource",
            "https://photos.example.com",
            "--key",
            key,
            "--issuer",
            AS,
            "--jwks-uri",
            "https://photos.example.com/jwks.json",
        ];
        a.extend_from_slice(extra);
        a.into_iter().map(String::from).collect::<Vec<_>>()
    };
    let run_args = |a: Vec<String>| run(&a.iter().map(String::as_str).collect::<Vec<_>>(), b"");
    let out = run_args(args(&key_file, &["--scope", "photos.read", "--scope", "photos.write"])).ok();
    let text = out.text();
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        doc,
        json!({
            "resource": "https://photos.example.com",
            "authorization_servers": [AS],
            "jwks_uri": "https://photos.example.com/jwks.json",
            "scopes_supported": ["photos.read", "photos.write"],
            "bearer_methods_supported": ["header"],
        })
    );
    // No inline keys (RFC 9728 has none), and nothing of the private key.
    assert!(doc.get("jwks").is_none());
    let d = rs_key.to_private_value()["d"].as_str().unwrap().to_string();
    assert!(!text.contains(&d) && !out.stderr.contains(&d));
    // Without --scope: no scopes_supported.
    let doc = run_args(args(&key_file, &[])).ok().json();
    assert!(doc.get("scopes_supported").is_none());

    // The public key file, a signing key or a symmetric key is not the RS's private key.
    let public = dir.write("rs.pub.jwk", rs_key.to_public().unwrap().to_json().unwrap().as_bytes());
    let signing = dir.write("sig.jwk", Jwk::generate(Curve::Ed25519).unwrap().to_private_json().as_bytes());
    let oct = dir.write("oct.jwk", Jwk::generate_symmetric(32).unwrap().to_private_json().as_bytes());
    for bad in [&public, &signing, &oct] {
        let line = run_args(args(bad, &[])).rejected();
        assert!(
            line.contains(&format!("--key {bad}")) && line.contains("no private decryption key"),
            "{line}"
        );
    }
    // Not an https jwks_uri, not an absolute resource: usage errors.
    let mut a = args(&key_file, &[]);
    a[8] = "http://photos.example.com/jwks.json".into();
    run_args(a).usage_error();
    let mut a = args(&key_file, &[]);
    a[2] = "photos".into();
    run_args(a).usage_error();
}

/// A loopback RS served over plain http: refused unless `--allow-http` (loopback only).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_rs_metadata_needs_allow_http() {
    bounded(async {
        let pki = Pki::new();
        let w = world("mint-http", &pki);
        let key = Jwk::generate(Curve::P256).unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let origin = format!("http://127.0.0.1:{}", addr.port());
        let resource = format!("{origin}/api");
        let doc = json!({ "resource": resource, "jwks_uri": format!("{origin}/jwks"), "authorization_servers": [AS] })
            .to_string();
        let jwks = public_set(&[&key]);
        let server = TestServer::start(
            addr,
            None,
            Arc::new(move |path: &str| match path {
                "/.well-known/oauth-protected-resource/api" => Reply::json(doc.clone()),
                "/jwks" => Reply::json(jwks.clone()),
                _ => Reply::status(404),
            }),
        )
        .await;
        let registry = w.registry(json!([{ "resource": resource, "scopes_supported": ["read"] }]));
        let line = cli(w.mint_args(&registry, &[&resource], &[])).await.failed();
        assert!(line.starts_with("server_error: ") && line.contains("plain http is refused"), "{line}");
        assert_eq!(server.requests(), 0);
        let out = cli(w.mint_args(&registry, &[&resource], &["--allow-http"])).await.ok().json();
        w.opens(out["access_token"].as_str().unwrap(), &resource, &key);
        assert_eq!(server.requests(), 2);
    })
    .await
}
