//! `jwe-mint gateway` over real sockets on 127.0.0.1 through the library's `Gateway::serve`: a real
//! upstream (a small hyper server that records what it receives) and a raw HTTP/1.1 client so that
//! every header byte is the test's choice (underscores, `Connection`, `Content-Length` with
//! `Transfer-Encoding`). The process-level behaviour (signals, memory) is tested on the binary in
//! the CLI package.
#![cfg(feature = "gateway")]

use crate::servers;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use jwe_mint::jwk::{Curve, Jwk, JwkSet, JwkSource};
use jwe_mint::wire::{ConfigError, Gateway, KeyFile};
use serde_json::Value;
use servers::Pki;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::gateway_world::*;

#[tokio::test]
async fn spoofed_identity_headers_are_stripped_and_the_gateways_own_are_set() {
    bounded(async {
        let world = World::new();
        let (up, up_addr) = Upstream::start().await;
        let (gw, _stop) = run(Gateway::new(world.rs(), &format!("http://{up_addr}")).unwrap()).await;
        let token = world.mint();
        let spoofs = "X-Auth-Subject: mallory\r\nx-auth-scope: admin\r\nX_Auth_Subject: mallory\r\n\
                      X-AUTH_CLIENT-ID: evil\r\nx_auth_claims: e30\r\nConnection: X-Auth-Subject, x-hop\r\n\
                      X-Hop: 1\r\nKeep-Alive: timeout=1\r\nX-Forwarded-For: 6.6.6.6\r\n\
                      X-Forwarded-Host: evil.example\r\nX-Forwarded-Proto: https\r\nForwarded: for=6.6.6.6\r\n\
                      Via: 1.1 client-proxy\r\n";
        let answer = send(gw, &get("/photos?x=1", Some(&token), spoofs)).await;
        assert_eq!(answer.status, 200, "{answer:?}");
        assert_eq!(answer.body, b"ok");
        // Response hop-by-hop fields (and the one the upstream's Connection names) are removed.
        assert!(answer.header("x-upstream-secret").is_none(), "{answer:?}");
        assert!(answer.header("keep-alive").is_none(), "{answer:?}");
        assert!(answer.header("via").is_some_and(|v| v.contains("1.1 jwe-mint")), "{answer:?}");

        let seen = up.seen();
        assert_eq!(seen.len(), 1);
        let s = &seen[0];
        assert_eq!(s.path, "/photos");
        for (name, _) in &s.headers {
            let folded = name.to_ascii_lowercase().replace('_', "-");
            assert!(!(name.contains('_') && folded.starts_with("x-auth-")), "spoof {name} reached the upstream");
        }
        assert_eq!(s.one("x-auth-subject"), Some("alice"));
        assert_eq!(s.one("x-auth-client-id"), Some(CLIENT));
        assert_eq!(s.one("x-auth-scope"), Some("photos.read"));
        let claims = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s.one("x-auth-claims").unwrap()).unwrap();
        let claims: Value = serde_json::from_slice(&claims).unwrap();
        assert_eq!(claims["sub"], "alice");
        assert_eq!(claims["aud"], RESOURCE);
        assert_eq!(claims["iss"], ISSUER);
        // Hop-by-hop and what Connection named.
        for gone in ["connection", "keep-alive", "x-hop", "authorization"] {
            assert!(s.one(gone).is_none(), "{gone} reached the upstream: {s:?}");
        }
        assert_eq!(s.one("host"), Some("api.example.com"), "Host passes through");
        assert_eq!(s.one("x-forwarded-for"), Some("127.0.0.1"));
        assert_eq!(s.one("x-forwarded-host"), Some("api.example.com"));
        assert_eq!(s.one("x-forwarded-proto"), Some("http"));
        assert_eq!(s.one("forwarded"), Some("for=127.0.0.1;proto=http;host=\"api.example.com\""));
        let via = s.all("via").join(", ");
        assert_eq!(via, "1.1 client-proxy, 1.1 jwe-mint");
    })
    .await;
}

/// A request head with `token`, the given framing fields, and `rest` (body and whatever follows).
fn post(token: &str, framing: &str, rest: &str) -> String {
    format!("POST /upload HTTP/1.1\r\nHost: api.example.com\r\nAuthorization: Bearer {token}\r\n{framing}\r\n{rest}")
}

/// Bytes a smuggler puts behind the body the gateway would read.
const SMUGGLED: &str = "0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n";

/// The connection ends: nothing more arrives before end of stream (a reset counts as closed).
async fn assert_closes(stream: &mut TcpStream) {
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut rest))
        .await
        .expect("the connection stayed open");
    if read.is_ok() {
        assert!(rest.is_empty(), "more after the answer: {:?}", String::from_utf8_lossy(&rest));
    }
}

/// RFC 9112 §6.3: a request with both `Content-Length` and `Transfer-Encoding` (either order)
/// is 400 and the connection closes; it never reaches the upstream, nor does what follows it.
#[tokio::test]
async fn content_length_with_transfer_encoding_is_400_and_closes() {
    bounded(async {
        let world = World::new();
        let (up, up_addr) = Upstream::start().await;
        let (gw, _stop) = run(Gateway::new(world.rs(), &format!("http://{up_addr}")).unwrap()).await;
        let token = world.mint();
        for framing in [
            "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n",
            "Transfer-Encoding: chunked\r\nContent-Length: 4\r\n",
            "transfer-encoding: chunked\r\ncontent-length: 0\r\n",
        ] {
            let mut stream = TcpStream::connect(gw).await.unwrap();
            let answer = exchange(&mut stream, &post(&token, framing, SMUGGLED)).await;
            assert_eq!(answer.status, 400, "{framing:?}: {answer:?}");
            assert_eq!(answer.header("connection"), Some("close"), "{answer:?}");
            assert_closes(&mut stream).await;
        }
        assert_eq!(up.started.load(Ordering::SeqCst), 0, "{:?}", up.seen());
    })
    .await;
}

/// The same as the second request of a kept-alive connection, sent after the first answer or
/// pipelined behind it: the first is served, the second refused, the connection closed.
#[tokio::test]
async fn content_length_with_transfer_encoding_later_on_a_kept_alive_connection_is_400_and_closes() {
    bounded(async {
        let world = World::new();
        let (up, up_addr) = Upstream::start().await;
        let (gw, _stop) = run(Gateway::new(world.rs(), &format!("http://{up_addr}")).unwrap()).await;
        let token = world.mint();
        let bad = post(&token, "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n", SMUGGLED);

        let mut stream = TcpStream::connect(gw).await.unwrap();
        assert_eq!(exchange(&mut stream, &get("/first", Some(&token), "")).await.status, 200);
        let answer = exchange(&mut stream, &bad).await;
        assert_eq!((answer.status, answer.header("connection")), (400, Some("close")), "{answer:?}");
        assert_closes(&mut stream).await;

        let mut stream = TcpStream::connect(gw).await.unwrap();
        let pipelined = format!("{}{bad}", get("/second", Some(&token), ""));
        assert_eq!(exchange(&mut stream, &pipelined).await.status, 200);
        let answer = read_answer(&mut stream).await;
        assert_eq!((answer.status, answer.header("connection")), (400, Some("close")), "{answer:?}");
        assert_closes(&mut stream).await;

        let paths: Vec<String> = up.seen().iter().map(|s| s.path.clone()).collect();
        assert_eq!(paths, ["/first", "/second"]);
    })
    .await;
}

/// Every other ambiguous framing: refused (by hyper or by the gateway), the connection closed,
/// the upstream untouched. hyper alone accepts the repeated identical `Content-Length` and the
/// repeated or non-`chunked` codings before a final `chunked`.
#[tokio::test]
async fn ambiguous_framing_is_refused_and_smuggles_nothing() {
    bounded(async {
        let world = World::new();
        let (up, up_addr) = Upstream::start().await;
        let (gw, _stop) = run(Gateway::new(world.rs(), &format!("http://{up_addr}")).unwrap()).await;
        let token = world.mint();
        for (framing, status) in [
            ("Content-Length: 0\r\nContent-Length: 0\r\n", 400),
            ("Content-Length: 5\r\nContent-Length: 5\r\n", 400),
            ("Content-Length: 5\r\nContent-Length: 40\r\n", 400),
            ("Content-Length: 5, 5\r\n", 400),
            ("Transfer-Encoding: chunked, chunked\r\n", 400),
            ("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", 400),
            ("Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n", 400),
            ("Transfer-Encoding: xchunked\r\n", 400),
            ("Transfer-Encoding: gzip, chunked\r\n", 501),
        ] {
            let mut stream = TcpStream::connect(gw).await.unwrap();
            let answer = exchange(&mut stream, &post(&token, framing, &format!("hello{SMUGGLED}"))).await;
            assert_eq!(answer.status, status, "{framing:?}: {answer:?}");
            assert_closes(&mut stream).await;
        }
        assert_eq!(up.started.load(Ordering::SeqCst), 0, "{:?}", up.seen());
    })
    .await;
}

/// Well-framed bodies that contain a request are bodies: the upstream gets them as such, and
/// chunked (with extensions and trailers) and `Content-Length` requests keep one connection alive.
#[tokio::test]
async fn chunked_and_sized_bodies_share_a_kept_alive_connection_and_hide_nothing() {
    bounded(async {
        let world = World::new();
        let (up, up_addr) = Upstream::start().await;
        let (gw, _stop) = run(Gateway::new(world.rs(), &format!("http://{up_addr}")).unwrap()).await;
        let token = world.mint();
        let inner = "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n";
        let chunked = post(
            &token,
            "Transfer-Encoding: chunked\r\n",
            &format!("{:x};ext=1\r\n{inner}\r\n0\r\nX-Trailer: 1\r\n\r\n", inner.len()),
        );
        let sized = post(&token, &format!("Content-Length: {}\r\n", inner.len()), inner);
        let mut stream = TcpStream::connect(gw).await.unwrap();
        assert_eq!(exchange(&mut stream, &chunked).await.status, 200);
        assert_eq!(exchange(&mut stream, &sized).await.status, 200);
        // Pipelined, split at odd places.
        let all = format!("{chunked}{sized}{}", get("/last", Some(&token), ""));
        for piece in all.as_bytes().chunks(97) {
            stream.write_all(piece).await.unwrap();
            stream.flush().await.unwrap();
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        for _ in 0..3 {
            assert_eq!(read_answer(&mut stream).await.status, 200);
        }
        let seen: Vec<(String, usize)> = up.seen().iter().map(|s| (s.path.clone(), s.body_len)).collect();
        let n = inner.len();
        assert_eq!(
            seen,
            [
                ("/upload".into(), n),
                ("/upload".into(), n),
                ("/upload".into(), n),
                ("/upload".into(), n),
                ("/last".into(), 0)
            ]
        );
    })
    .await;
}

/// A request head over the gateway's limit (16 KiB by default) is 431 and never buffered further.
#[tokio::test]
async fn a_huge_request_head_is_refused() {
    bounded(async {
        let world = World::new();
        let (up, up_addr) = Upstream::start().await;
        let (gw, _stop) = run(Gateway::new(world.rs(), &format!("http://{up_addr}")).unwrap()).await;
        let token = world.mint();
        let big = format!("X-Big: {}\r\n", "a".repeat(100 * 1024));
        let stream = TcpStream::connect(gw).await.unwrap();
        // Written concurrently: the gateway may stop reading (and close) before it is all sent.
        let request = get("/", Some(&token), &big);
        let (mut reader, mut writer) = stream.into_split();
        let writing = tokio::spawn(async move {
            let _ = writer.write_all(request.as_bytes()).await;
            writer
        });
        let mut head = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), reader.read_to_end(&mut head)).await.unwrap();
        let text = String::from_utf8_lossy(&head);
        assert!(text.starts_with("HTTP/1.1 431"), "{text:?}");
        drop(writing.await);
        assert_eq!(up.started.load(Ordering::SeqCst), 0);
        // A head just under the limit is served.
        let fits = format!("X-Big: {}\r\n", "a".repeat(12 * 1024));
        assert_eq!(send(gw, &get("/", Some(&token), &fits)).await.status, 200);
    })
    .await;
}

#[tokio::test]
async fn unauthenticated_requests_never_reach_the_upstream() {
    bounded(async {
        let world = World::new();
        let (up, up_addr) = Upstream::start().await;
        let gateway =
            Gateway::new(world.rs(), &format!("http://{up_addr}")).unwrap().require_scope("admin").unwrap();
        let (gw, _stop) = run(gateway).await;
        // No token.
        let a = send(gw, &get("/photos", None, "")).await;
        assert_eq!(a.status, 401);
        assert!(a.header("www-authenticate").unwrap().contains("resource_metadata="));
        // A token for another resource server.
        let a = send(gw, &get("/photos", Some(&world.mint_for(OTHER, "photos.read")), "")).await;
        assert_eq!(a.status, 401, "{a:?}");
        assert!(a.header("www-authenticate").unwrap().contains("error=\"invalid_token\""));
        // A token without the required scope.
        let a = send(gw, &get("/photos", Some(&world.mint()), "")).await;
        assert_eq!(a.status, 403, "{a:?}");
        assert!(a.header("www-authenticate").unwrap().contains("scope=\"admin\""));
        // A token only in the query.
        let a = send(gw, &get(&format!("/photos?access_token={}", world.mint()), None, "")).await;
        assert_eq!(a.status, 401);
        assert_eq!(up.started.load(Ordering::SeqCst), 0, "the upstream was called");
        // With the scope it passes.
        let a = send(gw, &get("/photos", Some(&world.mint_for(RESOURCE, "photos.read admin")), "")).await;
        assert_eq!(a.status, 200, "{a:?}");
        assert_eq!(up.seen()[0].one("x-auth-scope"), Some("photos.read admin"));
    })
    .await;
}

#[tokio::test]
async fn authorization_is_forwarded_only_with_forward_token() {
    bounded(async {
        let world = World::new();
        let (up, up_addr) = Upstream::start().await;
        let (gw, _stop) =
            run(Gateway::new(world.rs(), &format!("http://{up_addr}")).unwrap().forward_token().unwrap())
                .await;
        let token = world.mint();
        assert_eq!(send(gw, &get("/", Some(&token), "")).await.status, 200);
        assert_eq!(up.seen()[0].one("authorization"), Some(format!("Bearer {token}").as_str()));
        // A plain http upstream off loopback never gets the token.
        let far = Gateway::new(world.rs(), "http://192.0.2.1:8080").unwrap();
        let e = far.forward_token().unwrap_err();
        assert!(matches!(e, ConfigError::Invalid { option: "forward_token", .. }), "{e:?}");
        assert!(Gateway::new(world.rs(), "http://localhost:8080").unwrap().forward_token().is_ok());
    })
    .await;
}

#[tokio::test]
async fn upstream_down_is_502() {
    bounded(async {
        let world = World::new();
        let closed = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
        let (gw, _stop) = run(Gateway::new(world.rs(), &format!("http://{closed}")).unwrap()).await;
        let a = send(gw, &get("/", Some(&world.mint()), "")).await;
        assert_eq!(a.status, 502, "{a:?}");
        // Unauthenticated is still 401, not 502: nothing is tried.
        assert_eq!(send(gw, &get("/", None, "")).await.status, 401);
    })
    .await;
}

#[tokio::test]
async fn keep_alive_serves_several_requests_on_one_connection() {
    bounded(async {
        let world = World::new();
        let (up, up_addr) = Upstream::start().await;
        let (gw, _stop) = run(Gateway::new(world.rs(), &format!("http://{up_addr}")).unwrap()).await;
        let token = world.mint();
        let mut stream = TcpStream::connect(gw).await.unwrap();
        let first = exchange(&mut stream, &get("/one", Some(&token), "")).await;
        // An early 401 on the same connection does not end it either.
        let refused = exchange(&mut stream, &get("/none", None, "")).await;
        let second = exchange(&mut stream, &get("/two", Some(&token), "")).await;
        // A POST whose body is sent in full also keeps it.
        let post = format!(
            "POST /three HTTP/1.1\r\nHost: api.example.com\r\nAuthorization: Bearer {token}\r\nContent-Length: 5\r\n\r\nhello"
        );
        let third = exchange(&mut stream, &post).await;
        assert_eq!((first.status, refused.status, second.status, third.status), (200, 401, 200, 200));
        let paths: Vec<(String, usize)> = up.seen().iter().map(|s| (s.path.clone(), s.body_len)).collect();
        assert_eq!(paths, [("/one".into(), 0), ("/two".into(), 0), ("/three".into(), 5)]);
    })
    .await;
}

#[tokio::test]
async fn the_gateway_serves_the_metadata_and_the_jwks_itself() {
    bounded(async {
        let world = World::new();
        let (up, up_addr) = Upstream::start().await;
        let (gw, _stop) = run(Gateway::new(world.rs(), &format!("http://{up_addr}"))
            .unwrap()
            .require_scope("photos.read")
            .unwrap())
        .await;
        let a = send(gw, &get("/.well-known/oauth-protected-resource", None, "")).await;
        assert_eq!(a.status, 200);
        assert!(a.header("cache-control").unwrap().starts_with("max-age="));
        let doc: Value = serde_json::from_slice(&a.body).unwrap();
        assert_eq!(doc["resource"], RESOURCE);
        assert_eq!(doc["authorization_servers"][0], ISSUER);
        assert_eq!(doc["jwks_uri"], "https://api.example.com/.well-known/jwks.json");
        assert_eq!(doc["scopes_supported"][0], "photos.read");
        let a = send(gw, &get("/.well-known/jwks.json", None, "")).await;
        let jwks: Value = serde_json::from_slice(&a.body).unwrap();
        assert_eq!(jwks["keys"].as_array().unwrap().len(), 1);
        assert_eq!(jwks["keys"][0]["x"], world.rs_key.to_public().unwrap().to_value().unwrap()["x"]);
        assert!(jwks["keys"][0].get("d").is_none());
        assert_eq!(up.started.load(Ordering::SeqCst), 0);
    })
    .await;
}

/// Writes `keys` (private JWK Set) to `path` atomically (a rename, as deploy tools do).

#[tokio::test]
async fn the_rs_key_file_is_reloaded_when_it_changes_and_a_broken_one_keeps_the_old_keys() {
    bounded(async {
        let old = Jwk::generate(Curve::P256).unwrap();
        let new = Jwk::generate(Curve::P256).unwrap();
        let old_world = World::with_rs_keys(&[&old]);
        // Same AS key for both worlds: the AS registered `new` for the second.
        let new_world = World {
            issuer: reissue(&old_world, &new),
            as_key: old_world.as_key.clone(),
            rs_key: new.clone(),
        };
        let dir = temp_dir("reload");
        let file = dir.join("rs.jwk.json");
        write_keys(&file, &[&old]);
        let keys = Arc::new(KeyFile::open(&file).unwrap());
        let _watch = keys.watch(Duration::from_millis(50));
        let rs = old_world.rs_builder().decryption_key_source(Arc::clone(&keys) as Arc<dyn JwkSource>);
        let rs = rs.build().unwrap();
        let (up, up_addr) = Upstream::start().await;
        let (gw, _stop) = run(Gateway::new(rs, &format!("http://{up_addr}")).unwrap()).await;
        let old_token = old_world.mint();
        let new_token = new_world.mint();
        // A kept-alive connection lives through every reload.
        let mut conn = TcpStream::connect(gw).await.unwrap();
        assert_eq!(
            exchange(&mut conn, &get("/", Some(&old_token), "")).await.status,
            200,
            "old key, cached now"
        );
        assert_eq!(exchange(&mut conn, &get("/", Some(&new_token), "")).await.status, 401);

        // Rotation in: both keys.
        write_keys(&file, &[&new, &old]);
        eventually("the new key opens", async || {
            send(gw, &get("/", Some(&new_token), "")).await.status == 200
        })
        .await;
        assert_eq!(exchange(&mut conn, &get("/", Some(&old_token), "")).await.status, 200);
        let jwks: Value =
            serde_json::from_slice(&send(gw, &get("/.well-known/jwks.json", None, "")).await.body).unwrap();
        assert_eq!(jwks["keys"].as_array().unwrap().len(), 2, "the published set follows the file");

        // A broken file: the keys in use stay.
        for broken in [
            "{ not json",
            "",
            "{\"keys\":[]}",
            &JwkSet::new(vec![new.to_public().unwrap()]).to_json().unwrap(),
        ] {
            write_text(&file, broken);
            tokio::time::sleep(Duration::from_millis(300)).await;
            assert_eq!(keys.keys().unwrap().keys().len(), 2, "{broken:?} replaced the keys");
            assert_eq!(exchange(&mut conn, &get("/", Some(&new_token), "")).await.status, 200, "{broken:?}");
            assert_eq!(exchange(&mut conn, &get("/", Some(&old_token), "")).await.status, 200, "{broken:?}");
        }
        assert!(keys.reload().is_err(), "a broken file is reported");

        // Rotation out: the old key is removed; its token (cached) stops opening at once.
        write_keys(&file, &[&new]);
        eventually("the old key is gone", async || {
            send(gw, &get("/", Some(&old_token), "")).await.status == 401
        })
        .await;
        assert_eq!(exchange(&mut conn, &get("/", Some(&old_token), "")).await.status, 401);
        assert_eq!(exchange(&mut conn, &get("/", Some(&new_token), "")).await.status, 200);
        let jwks: Value =
            serde_json::from_slice(&send(gw, &get("/.well-known/jwks.json", None, "")).await.body).unwrap();
        assert_eq!(jwks["keys"].as_array().unwrap().len(), 1);
        assert!(up.started.load(Ordering::SeqCst) >= 6);
        let _ = std::fs::remove_dir_all(&dir);
    })
    .await;
}

/// An issuer with the same AS key as `world`'s that registers `rs_key` for RESOURCE.

// ---------------------------------------------------------------------------------------------
// An https upstream.

#[tokio::test]
async fn an_https_upstream_trusted_through_its_ca_gets_the_identity_and_the_body() {
    bounded(async {
        let world = World::new();
        let pki = Pki::new();
        let (up, up_addr) = Upstream::start_tls(pki.server_config()).await;
        let gateway = Gateway::new(world.rs(), &format!("https://{up_addr}"))
            .unwrap()
            .upstream_ca_pem(pki.ca_pem.as_bytes());
        let (gw, _stop) = run(gateway.unwrap()).await;
        let token = world.mint();
        let mut stream = TcpStream::connect(gw).await.unwrap();
        let a = exchange(&mut stream, &post_body("/upload", &token, "hello upstream")).await;
        assert_eq!((a.status, a.body.as_slice()), (200, &b"ok"[..]), "{a:?}");
        let seen = &up.seen()[0];
        assert_eq!(seen.path, "/upload");
        assert_eq!(seen.body_len, "hello upstream".len());
        assert_eq!(seen.one("x-auth-subject"), Some("alice"));
        assert_eq!(seen.one("x-auth-client-id"), Some(CLIENT));
        assert_eq!(seen.one("x-auth-scope"), Some("photos.read"));
        assert_eq!(seen.one("authorization"), None);
        // The client's Host passes through; TLS used the upstream URL's host.
        assert_eq!(seen.one("host"), Some("api.example.com"));
        // The body streams back from the upstream, on the same kept-alive connection.
        let a = exchange(&mut stream, &post_body("/echo", &token, "echo me")).await;
        assert_eq!((a.status, a.body.as_slice()), (200, &b"echo me"[..]), "{a:?}");
        assert_eq!(up.seen().len(), 2);
    })
    .await;
}

#[tokio::test]
async fn an_https_upstream_whose_ca_is_not_trusted_is_502_and_the_gateway_keeps_serving() {
    bounded(async {
        let world = World::new();
        let pki = Pki::new();
        let (up, up_addr) = Upstream::start_tls(pki.server_config()).await;
        let url = format!("https://{up_addr}");
        let token = world.mint();
        // The platform's trust store (the default) and another CA both refuse the test CA.
        let platform = Gateway::new(world.rs(), &url).unwrap();
        let other_ca =
            Gateway::new(world.rs(), &url).unwrap().upstream_ca_pem(Pki::new().ca_pem.as_bytes()).unwrap();
        for gateway in [platform, other_ca] {
            let (gw, _stop) = run(gateway).await;
            for _ in 0..2 {
                let a = send(gw, &get("/", Some(&token), "")).await;
                assert_eq!(a.status, 502, "{a:?}");
            }
            // Still serving what does not need the upstream.
            assert_eq!(send(gw, &get("/.well-known/oauth-protected-resource", None, "")).await.status, 200);
        }
        assert_eq!(up.started.load(Ordering::SeqCst), 0, "a request crossed an untrusted connection");
        // The same upstream through a gateway that trusts its CA: reached.
        let trusting =
            Gateway::new(world.rs(), &url).unwrap().upstream_ca_pem(pki.ca_pem.as_bytes()).unwrap();
        let (gw, _stop) = run(trusting).await;
        assert_eq!(send(gw, &get("/", Some(&token), "")).await.status, 200);
        assert_eq!(up.started.load(Ordering::SeqCst), 1);
    })
    .await;
}

#[tokio::test]
async fn an_https_upstream_with_a_certificate_for_another_name_is_502() {
    bounded(async {
        let world = World::new();
        let pki = Pki::new();
        let (up, up_addr) = Upstream::start_tls(pki.server_config_for(&["other.example"])).await;
        let gateway = Gateway::new(world.rs(), &format!("https://{up_addr}"))
            .unwrap()
            .upstream_ca_pem(pki.ca_pem.as_bytes());
        let (gw, _stop) = run(gateway.unwrap()).await;
        let token = world.mint();
        // Naming the certificate's host in `Host` changes nothing: TLS checks the upstream URL's.
        let a = send(
            gw,
            &format!("GET / HTTP/1.1\r\nHost: other.example\r\nAuthorization: Bearer {token}\r\n\r\n"),
        )
        .await;
        assert_eq!(a.status, 502, "{a:?}");
        assert_eq!(send(gw, &get("/", Some(&token), "")).await.status, 502);
        assert_eq!(up.started.load(Ordering::SeqCst), 0);
    })
    .await;
}

#[test]
fn https_upstream_options_are_checked() {
    let world = World::new();
    // The token may go to any https upstream: it is encrypted on the way.
    assert!(Gateway::new(world.rs(), "https://192.0.2.1:8443").unwrap().forward_token().is_ok());
    let e = Gateway::new(world.rs(), "http://192.0.2.1:8080").unwrap().forward_token().unwrap_err();
    assert!(matches!(e, ConfigError::Invalid { option: "forward_token", .. }), "{e:?}");
    let pki = Pki::new();
    // A CA for a plain http upstream would never be used.
    let e = Gateway::new(world.rs(), "http://127.0.0.1:8080")
        .unwrap()
        .upstream_ca_pem(pki.ca_pem.as_bytes())
        .unwrap_err();
    assert!(matches!(e, ConfigError::CaPem(_)), "{e:?}");
    let https = || Gateway::new(world.rs(), "https://rs.internal").unwrap();
    for bad in [&b""[..], b"not pem", b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"] {
        let e = https().upstream_ca_pem(bad).unwrap_err();
        assert!(matches!(e, ConfigError::CaPem(_)), "{:?}: {e:?}", String::from_utf8_lossy(bad));
    }
    // A PEM with only a key is no CA.
    assert!(matches!(https().upstream_ca_pem(pki.server_key_pem.as_bytes()), Err(ConfigError::CaPem(_))));
    let e = https().upstream_ca_file("/nonexistent/ca.pem").unwrap_err();
    assert!(matches!(&e, ConfigError::CaFile { path, .. } if path == "/nonexistent/ca.pem"), "{e:?}");
    // Upstreams outside the rules are refused as the upstream option.
    for bad in ["ftp://rs.internal", "https://user:pw@rs.internal", "https://rs.internal/?q", "relative"] {
        let e = Gateway::new(world.rs(), bad).unwrap_err();
        assert!(matches!(e, ConfigError::Invalid { option: "upstream", .. }), "{bad}: {e:?}");
    }
    assert!(https().upstream_ca_pem(pki.ca_pem.as_bytes()).is_ok());
}

/// A client's trailer section never reaches the upstream: `X-Auth-Subject` or `X-Forwarded-For`
/// after the body would otherwise reach upstreams that merge trailers into headers. The body
/// passes whole, and the gateway's own identity is the only one.
#[tokio::test]
async fn request_trailers_and_the_trailer_field_never_reach_the_upstream() {
    bounded(async {
        let world = World::new();
        let (up, up_addr) = Upstream::start().await;
        let (gw, _stop) = run(Gateway::new(world.rs(), &format!("http://{up_addr}")).unwrap()).await;
        let token = world.mint();
        let request = post(
            &token,
            "Transfer-Encoding: chunked\r\nTrailer: X-Auth-Subject, X-Forwarded-For, X-Note\r\n",
            "5\r\nhello\r\n0\r\nX-Auth-Subject: admin\r\nX-Forwarded-For: 6.6.6.6\r\nX-Note: 1\r\n\r\n",
        );
        assert_eq!(send(gw, &request).await.status, 200);
        let seen = up.seen();
        let seen = seen.iter().find(|s| s.path == "/upload").expect("the request reached the upstream");
        assert_eq!(seen.body_len, 5);
        assert!(seen.trailers.is_empty(), "trailers reached the upstream: {:?}", seen.trailers);
        assert_eq!(seen.one("trailer"), None);
        assert_ne!(seen.one("x-auth-subject"), Some("admin"));
        assert!(seen.one("x-auth-subject").is_some(), "the gateway's own identity is set");
        assert!(seen.all("x-forwarded-for").iter().all(|v| !v.contains("6.6.6.6")), "{:?}", seen.headers);
    })
    .await;
}
