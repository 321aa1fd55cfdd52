//! `jwe-mint gateway` over real sockets on 127.0.0.1: a real upstream (a small hyper server that
//! records what it receives), the gateway (the library's `Gateway::serve`, or the real binary for
//! the process-level behaviour: signals, memory), and a raw HTTP/1.1 client so that every header
//! byte is the test's choice (underscores, `Connection`, `Content-Length` with
//! `Transfer-Encoding`).
#![cfg(feature = "gateway")]

mod wire_common;

use std::io::BufRead as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use jwe_mint::issuer::{Grant, Issuer};
use jwe_mint::jwk::{Curve, Jwk, JwkSet, JwkSource};
use jwe_mint::registry::{Registry, ResourceEntry};
use jwe_mint::resource_server::ResourceServer;
use jwe_mint::wire::{Gateway, KeyFile};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;
use wire_common::{public_set, Pki, Reply, TestServer};

const ISSUER: &str = "https://as.example.com";
const RESOURCE: &str = "https://api.example.com";
const OTHER: &str = "https://other.example.com";
const CLIENT: &str = "app";
const LIMIT: Duration = Duration::from_secs(60);

async fn bounded<T>(fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(LIMIT, fut).await.expect("test exceeded its time bound")
}

// ---------------------------------------------------------------------------------------------
// The upstream: records every request (headers, body length) and answers 200 `ok`, or echoes the
// body streaming (`/echo`), or answers after a delay (`/slow`).

#[derive(Debug, Clone)]
struct Seen {
    path: String,
    headers: Vec<(String, String)>,
    body_len: usize,
}

impl Seen {
    fn all(&self, name: &str) -> Vec<&str> {
        self.headers.iter().filter(|(n, _)| n == name).map(|(_, v)| v.as_str()).collect()
    }
    fn one(&self, name: &str) -> Option<&str> {
        let all = self.all(name);
        assert!(all.len() <= 1, "{name} more than once: {all:?}");
        all.first().copied()
    }
}

#[derive(Clone, Default)]
struct Upstream {
    seen: Arc<Mutex<Vec<Seen>>>,
    started: Arc<AtomicUsize>,
}

impl Upstream {
    async fn start() -> (Upstream, SocketAddr) {
        Upstream::start_with(None).await
    }

    /// The same upstream behind TLS, with the certificate of `tls`.
    async fn start_tls(tls: Arc<ServerConfig>) -> (Upstream, SocketAddr) {
        Upstream::start_with(Some(TlsAcceptor::from(tls))).await
    }

    async fn start_with(tls: Option<TlsAcceptor>) -> (Upstream, SocketAddr) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let up = Upstream::default();
        let state = up.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { return };
                let state = state.clone();
                let tls = tls.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req: hyper::Request<Incoming>| {
                        let state = state.clone();
                        async move { Ok::<_, std::convert::Infallible>(state.answer(req).await) }
                    });
                    let http = hyper::server::conn::http1::Builder::new();
                    match tls {
                        None => {
                            let _ = http.serve_connection(TokioIo::new(stream), service).await;
                        }
                        Some(tls) => {
                            // A refused handshake (the gateway does not trust us) just ends here.
                            let Ok(Ok(stream)) = tokio::time::timeout(LIMIT, tls.accept(stream)).await else {
                                return;
                            };
                            let _ = http.serve_connection(TokioIo::new(stream), service).await;
                        }
                    }
                });
            }
        });
        (up, addr)
    }

    async fn answer(
        &self,
        req: hyper::Request<Incoming>,
    ) -> hyper::Response<http_body_util::combinators::BoxBody<Bytes, hyper::Error>> {
        self.started.fetch_add(1, Ordering::SeqCst);
        let path = req.uri().path().to_owned();
        let headers = req
            .headers()
            .iter()
            .map(|(n, v)| (n.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect();
        if path == "/echo" {
            // Streams the body straight back, with the same length.
            let len = req.headers().get("content-length").cloned();
            self.seen.lock().unwrap().push(Seen { path, headers, body_len: 0 });
            let mut r = hyper::Response::new(req.into_body().boxed());
            if let Some(len) = len {
                r.headers_mut().insert("content-length", len);
            }
            return r;
        }
        let body = req.into_body().collect().await.map(|b| b.to_bytes().len()).unwrap_or(0);
        self.seen.lock().unwrap().push(Seen { path: path.clone(), headers, body_len: body });
        if path == "/slow" {
            tokio::time::sleep(Duration::from_millis(1500)).await;
        }
        let mut r =
            hyper::Response::new(Full::new(Bytes::from_static(b"ok")).map_err(|e| match e {}).boxed());
        r.headers_mut().insert("connection", "x-upstream-secret".parse().unwrap());
        r.headers_mut().insert("x-upstream-secret", "1".parse().unwrap());
        r.headers_mut().insert("keep-alive", "timeout=5".parse().unwrap());
        r
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

// ---------------------------------------------------------------------------------------------
// Keys, tokens, the gateway.

struct World {
    issuer: Issuer,
    as_key: Jwk,
    rs_key: Jwk,
}

impl World {
    fn new() -> World {
        World::with_rs_keys(&[&Jwk::generate(Curve::P256).unwrap()])
    }

    /// The AS mints for RESOURCE to the first of `rs_keys` (registered public keys), and for OTHER.
    fn with_rs_keys(rs_keys: &[&Jwk]) -> World {
        let as_key = Jwk::generate(Curve::P256).unwrap();
        let mut registry = Registry::default();
        let public = JwkSet::new(vec![rs_keys[0].to_public().unwrap()]);
        registry.insert(ResourceEntry::new(RESOURCE, ["photos.read", "admin"], public).unwrap()).unwrap();
        let other = JwkSet::new(vec![Jwk::generate(Curve::P256).unwrap().to_public().unwrap()]);
        registry.insert(ResourceEntry::new(OTHER, ["photos.read"], other).unwrap()).unwrap();
        let issuer = Issuer::builder(ISSUER, &as_key)
            .registry(registry)
            .allow_client(CLIENT, &[RESOURCE, OTHER])
            .unwrap()
            .build()
            .unwrap();
        World { issuer, as_key, rs_key: rs_keys[0].clone() }
    }

    fn mint_for(&self, resource: &str, scope: &str) -> String {
        let grant = Grant::new("alice", CLIENT, scope, &[resource]).unwrap();
        self.issuer.mint(&grant, resource).unwrap().access_token
    }

    fn mint(&self) -> String {
        self.mint_for(RESOURCE, "photos.read")
    }

    fn rs(&self) -> ResourceServer {
        ResourceServer::new(
            RESOURCE,
            JwkSet::new(vec![self.rs_key.clone()]),
            ISSUER,
            self.issuer.verification_keys().clone(),
        )
        .unwrap()
        .with_cache(100)
    }
}

/// Runs `gateway` on a loopback port; dropping the sender shuts it down.
async fn run(gateway: Gateway) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(gateway.serve(listener, async move {
        let _ = rx.await;
    }));
    (addr, tx)
}

// ---------------------------------------------------------------------------------------------
// A raw HTTP/1.1 client.

#[derive(Debug)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Reads one response (head, then a `Content-Length` body) from `stream`.
async fn read_answer(stream: &mut TcpStream) -> Answer {
    let mut answer = read_head(stream).await;
    let len: usize = answer.header("content-length").map_or(0, |v| v.parse().unwrap());
    answer.body = vec![0u8; len];
    stream.read_exact(&mut answer.body).await.unwrap();
    answer
}

/// Reads a response head; the body is left in the stream.
async fn read_head(stream: &mut TcpStream) -> Answer {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = stream.read(&mut byte).await.unwrap();
        assert!(n == 1, "connection closed in the response head: {:?}", String::from_utf8_lossy(&head));
        head.push(byte[0]);
    }
    let text = String::from_utf8(head).unwrap();
    let mut lines = text.split("\r\n");
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (n, v) = l.split_once(':').unwrap();
            (n.trim().to_ascii_lowercase(), v.trim().to_owned())
        })
        .collect();
    Answer { status, headers, body: Vec::new() }
}

async fn exchange(stream: &mut TcpStream, request: &str) -> Answer {
    stream.write_all(request.as_bytes()).await.unwrap();
    read_answer(stream).await
}

async fn send(addr: SocketAddr, request: &str) -> Answer {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    exchange(&mut stream, request).await
}

fn get(path: &str, token: Option<&str>, extra: &str) -> String {
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    format!("GET {path} HTTP/1.1\r\nHost: api.example.com\r\n{auth}{extra}\r\n")
}

// ---------------------------------------------------------------------------------------------
// Library-level tests.

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

/// A request head over the gateway's limit (64 KiB) is 431 and never buffered further.
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
        let fits = format!("X-Big: {}\r\n", "a".repeat(60 * 1024));
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
        assert!(far.forward_token().is_err());
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
fn write_keys(path: &Path, keys: &[&Jwk]) {
    let set = JwkSet::new(keys.iter().map(|k| (*k).clone()).collect());
    write_text(path, &set.to_private_json());
}

fn write_text(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn temp_dir(name: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "jwe-mint-gateway-{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check().await {
        assert!(Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

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
        let rs = old_world.rs().with_decryption_key_source(Arc::clone(&keys) as Arc<dyn JwkSource>).unwrap();
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
fn reissue(world: &World, rs_key: &Jwk) -> Issuer {
    let mut registry = Registry::default();
    let public = JwkSet::new(vec![rs_key.to_public().unwrap()]);
    registry.insert(ResourceEntry::new(RESOURCE, ["photos.read", "admin"], public).unwrap()).unwrap();
    Issuer::builder(ISSUER, &world.as_key)
        .registry(registry)
        .allow_client(CLIENT, &[RESOURCE])
        .unwrap()
        .build()
        .unwrap()
}

// ---------------------------------------------------------------------------------------------
// The real binary: signals and memory.

struct Binary {
    child: Child,
    addr: SocketAddr,
    stderr: Arc<Mutex<String>>,
    dir: PathBuf,
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Binary {
    /// `jwe-mint gateway` for RESOURCE with `rs_keys` in its key file, trusting `world`'s AS from
    /// a key file, forwarding to `upstream`.
    fn start(world: &World, rs_keys: &[&Jwk], upstream: SocketAddr, extra: &[&str]) -> Binary {
        Binary::start_to(world, rs_keys, &format!("http://{upstream}"), extra)
    }

    /// The same, forwarding to the `upstream` URL.
    fn start_to(world: &World, rs_keys: &[&Jwk], upstream: &str, extra: &[&str]) -> Binary {
        let dir = temp_dir("bin");
        let as_file = as_key_file(world, &dir);
        Binary::start_in(dir, rs_keys, upstream, &["--issuer-jwks", &as_file], extra)
    }

    /// The same, with the AS keys fetched from `jwks_url` over HTTPS, trusting `pki`'s CA only
    /// through `--ca-file`.
    fn start_remote(rs_keys: &[&Jwk], upstream: SocketAddr, jwks_url: &str, pki: &Pki) -> Binary {
        let dir = temp_dir("bin");
        let ca = dir.join("ca.pem");
        std::fs::write(&ca, &pki.ca_pem).unwrap();
        let ca = ca.display().to_string();
        let upstream = format!("http://{upstream}");
        Binary::start_in(dir, rs_keys, &upstream, &["--issuer-jwks", jwks_url, "--ca-file", &ca], &[])
    }

    fn start_in(
        dir: PathBuf,
        rs_keys: &[&Jwk],
        upstream: &str,
        issuer_keys: &[&str],
        extra: &[&str],
    ) -> Binary {
        write_keys(&dir.join("rs.json"), rs_keys);
        let mut child = Command::new(env!("CARGO_BIN_EXE_jwe-mint"))
            .arg("gateway")
            .args(["--listen", "127.0.0.1:0", "--upstream", upstream, "--resource", RESOURCE])
            .arg("--key")
            .arg(dir.join("rs.json"))
            .args(["--issuer", ISSUER])
            .args(issuer_keys)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = Arc::new(Mutex::new(String::new()));
        let (mut err, log) = (child.stderr.take().unwrap(), Arc::clone(&stderr));
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = std::io::Read::read(&mut err, &mut buf) {
                if n == 0 {
                    break;
                }
                log.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let addr = line
            .trim()
            .strip_prefix("jwe-mint gateway: listening on http://")
            .unwrap_or_else(|| panic!("no listening line: {line:?}, stderr: {}", stderr.lock().unwrap()))
            .parse()
            .unwrap();
        Binary { child, addr, stderr, dir }
    }

    fn signal(&self, name: &str) {
        let ok =
            Command::new("kill").args([&format!("-{name}"), &self.child.id().to_string()]).status().unwrap();
        assert!(ok.success());
    }

    fn key_file(&self) -> PathBuf {
        self.dir.join("rs.json")
    }

    /// Peak resident memory (VmHWM) in KiB.
    fn peak_rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }
}

/// `world`'s AS public keys in `dir/as.json`; its path.
fn as_key_file(world: &World, dir: &Path) -> String {
    let as_file = dir.join("as.json");
    std::fs::write(&as_file, world.issuer.verification_keys().to_json().unwrap()).unwrap();
    as_file.display().to_string()
}

/// The largest peak RSS the gateway process may reach while 64 MiB stream through it each way.
const RSS_LIMIT_KIB: u64 = 32 * 1024;

#[tokio::test]
async fn a_large_body_streams_both_ways_in_bounded_memory() {
    bounded(async {
        let world = World::new();
        let (up, up_addr) = Upstream::start().await;
        let gw = Binary::start(&world, &[&world.rs_key], up_addr, &[]);
        let token = world.mint();
        const TOTAL: usize = 64 * 1024 * 1024;
        let stream = TcpStream::connect(gw.addr).await.unwrap();
        let (mut reader, mut writer) = stream.into_split();
        let head = format!(
            "POST /echo HTTP/1.1\r\nHost: api.example.com\r\nAuthorization: Bearer {token}\r\nContent-Length: {TOTAL}\r\n\r\n"
        );
        let upload = tokio::spawn(async move {
            writer.write_all(head.as_bytes()).await.unwrap();
            let chunk = vec![0x5au8; 64 * 1024];
            for _ in 0..TOTAL / chunk.len() {
                writer.write_all(&chunk).await.unwrap();
            }
            writer
        });
        // The echo comes back while the upload is still going: read it concurrently.
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            assert_eq!(reader.read(&mut byte).await.unwrap(), 1);
            head.push(byte[0]);
        }
        let head = String::from_utf8(head).unwrap();
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        let mut received = 0usize;
        let mut buf = vec![0u8; 256 * 1024];
        while received < TOTAL {
            let n = reader.read(&mut buf).await.unwrap();
            assert!(n > 0, "closed after {received} bytes");
            assert!(buf[..n].iter().all(|&b| b == 0x5a));
            received += n;
        }
        upload.await.unwrap();
        assert_eq!(received, TOTAL);
        assert_eq!(up.seen()[0].one("content-length"), Some(TOTAL.to_string().as_str()));
        let peak = gw.peak_rss_kib();
        eprintln!("gateway peak RSS with 64 MiB each way: {peak} KiB (limit {RSS_LIMIT_KIB} KiB)");
        assert!(peak < RSS_LIMIT_KIB, "peak RSS {peak} KiB: the body was buffered");
    })
    .await;
}

#[tokio::test]
async fn sigterm_lets_the_request_in_flight_finish_and_refuses_new_connections() {
    bounded(async {
        let world = World::new();
        let (up, up_addr) = Upstream::start().await;
        let mut gw = Binary::start(&world, &[&world.rs_key], up_addr, &[]);
        let token = world.mint();
        let addr = gw.addr;
        let in_flight = tokio::spawn(async move { send(addr, &get("/slow", Some(&token), "")).await });
        eventually("the slow request reached the upstream", async || up.started.load(Ordering::SeqCst) == 1)
            .await;
        gw.signal("TERM");
        eventually("new connections are refused", async || TcpStream::connect(addr).await.is_err()).await;
        assert!(!in_flight.is_finished(), "the slow request should still be in flight");
        let answer = in_flight.await.unwrap();
        assert_eq!((answer.status, answer.body.as_slice()), (200, &b"ok"[..]));
        let deadline = Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(status) = gw.child.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "the gateway did not exit");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert!(status.success(), "{status:?}: {}", gw.stderr());
    })
    .await;
}

#[tokio::test]
async fn sighup_and_file_changes_reload_the_rs_keys_and_a_broken_file_keeps_them() {
    bounded(async {
        let old = Jwk::generate(Curve::P256).unwrap();
        let new = Jwk::generate(Curve::P256).unwrap();
        let old_world = World::with_rs_keys(&[&old]);
        let new_world = World {
            issuer: reissue(&old_world, &new),
            as_key: old_world.as_key.clone(),
            rs_key: new.clone(),
        };
        let (_up, up_addr) = Upstream::start().await;
        let (old_token, new_token) = (old_world.mint(), new_world.mint());

        // SIGHUP alone (polling off).
        let gw = Binary::start(&old_world, &[&old], up_addr, &["--key-poll-ms", "0"]);
        let mut conn = TcpStream::connect(gw.addr).await.unwrap();
        assert_eq!(exchange(&mut conn, &get("/", Some(&old_token), "")).await.status, 200);
        write_keys(&gw.key_file(), &[&new]);
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(
            exchange(&mut conn, &get("/", Some(&new_token), "")).await.status,
            401,
            "reloaded without SIGHUP"
        );
        gw.signal("HUP");
        eventually("SIGHUP loads the new key", async || {
            send(gw.addr, &get("/", Some(&new_token), "")).await.status == 200
        })
        .await;
        assert_eq!(
            exchange(&mut conn, &get("/", Some(&old_token), "")).await.status,
            401,
            "the removed key still opens"
        );
        // A broken file and SIGHUP: the keys stay, the reason is logged.
        write_text(&gw.key_file(), "{ not a key");
        gw.signal("HUP");
        eventually("the refusal is logged", async || gw.stderr().contains("key file refused")).await;
        assert_eq!(
            exchange(&mut conn, &get("/", Some(&new_token), "")).await.status,
            200,
            "kept-alive connection"
        );
        drop(gw);

        // On change (default polling, no signal).
        let gw = Binary::start(&old_world, &[&old], up_addr, &[]);
        let mut conn = TcpStream::connect(gw.addr).await.unwrap();
        assert_eq!(exchange(&mut conn, &get("/", Some(&old_token), "")).await.status, 200);
        write_keys(&gw.key_file(), &[&new]);
        eventually("the changed file is loaded", async || {
            send(gw.addr, &get("/", Some(&new_token), "")).await.status == 200
        })
        .await;
        assert_eq!(exchange(&mut conn, &get("/", Some(&old_token), "")).await.status, 401);
        write_text(&gw.key_file(), "");
        eventually("the refusal is logged", async || gw.stderr().contains("key file refused")).await;
        assert_eq!(exchange(&mut conn, &get("/", Some(&new_token), "")).await.status, 200);
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// The AS keys from a URL while the gateway runs (the real binary, `--issuer-jwks https://…` and
// `--ca-file`): rotation, and the JWK Set server going down.

/// An issuer with RESOURCE registered to `rs_key`, signing with `as_key` (its `kid` = thumbprint).
fn issuer_signing_with(as_key: &Jwk, rs_key: &Jwk) -> Issuer {
    let mut registry = Registry::default();
    let public = JwkSet::new(vec![rs_key.to_public().unwrap()]);
    registry.insert(ResourceEntry::new(RESOURCE, ["photos.read"], public).unwrap()).unwrap();
    Issuer::builder(ISSUER, as_key)
        .registry(registry)
        .allow_client(CLIENT, &[RESOURCE])
        .unwrap()
        .build()
        .unwrap()
}

fn mint_with(issuer: &Issuer) -> String {
    let grant = Grant::new("alice", CLIENT, "photos.read", &[RESOURCE]).unwrap();
    issuer.mint(&grant, RESOURCE).unwrap().access_token
}

/// The AS's JWK Set over HTTPS at `/jwks.json`: whatever `set` holds when asked.
async fn jwks_server(pki: &Pki, set: &Arc<Mutex<String>>) -> TestServer {
    let set = Arc::clone(set);
    TestServer::https(pki, move |path| match path {
        "/jwks.json" => Reply::json(set.lock().unwrap().clone()),
        _ => Reply::status(404),
    })
    .await
}

// Multi-threaded: the JWK Set server answers while `Binary::start_remote` blocks on the
// binary's first line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_as_keys_rotate_while_the_gateway_runs() {
    bounded(async {
        let rs_key = Jwk::generate(Curve::P256).unwrap();
        let (key1, key2) = (Jwk::generate(Curve::P256).unwrap(), Jwk::generate(Curve::P256).unwrap());
        let (as1, as2) = (issuer_signing_with(&key1, &rs_key), issuer_signing_with(&key2, &rs_key));
        let pki = Pki::new();
        let set = Arc::new(Mutex::new(public_set(&[&key1])));
        let jwks = jwks_server(&pki, &set).await;
        let (up, up_addr) = Upstream::start().await;
        let gw = Binary::start_remote(&[&rs_key], up_addr, &jwks.url("/jwks.json"), &pki);
        assert_eq!(jwks.requests(), 1, "fetched once at start");

        let old_token = mint_with(&as1);
        assert_eq!(send(gw.addr, &get("/", Some(&old_token), "")).await.status, 200);
        assert_eq!(jwks.requests(), 1);

        // The AS rotates: it publishes key 2 only (a new kid) and signs with it.
        *set.lock().unwrap() = public_set(&[&key2]);
        let a = send(gw.addr, &get("/", Some(&mint_with(&as2)), "")).await;
        assert_eq!(a.status, 200, "the new kid is fetched on its first token: {a:?} {}", gw.stderr());
        assert_eq!(jwks.requests(), 2, "one refetch for the new kid");
        for _ in 0..5 {
            assert_eq!(send(gw.addr, &get("/", Some(&mint_with(&as2)), "")).await.status, 200);
        }
        // Key 1 is gone from the set: its token (cached before) no longer opens.
        let a = send(gw.addr, &get("/", Some(&old_token), "")).await;
        assert_eq!(a.status, 401, "{a:?}");
        assert!(a.header("www-authenticate").unwrap().contains("error=\"invalid_token\""));
        // Unknown kids (attacker-chosen) within the cooldown fetch nothing more.
        for _ in 0..5 {
            let stranger = issuer_signing_with(&Jwk::generate(Curve::P256).unwrap(), &rs_key);
            assert_eq!(send(gw.addr, &get("/", Some(&mint_with(&stranger)), "")).await.status, 401);
        }
        assert_eq!(jwks.requests(), 2, "kid refetches are rate limited");
        assert_eq!(up.started.load(Ordering::SeqCst), 7);
    })
    .await;
}

// Multi-threaded: the JWK Set server answers while `Binary::start_remote` blocks on the
// binary's first line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_as_keys_keep_serving_while_the_jwks_server_is_down() {
    bounded(async {
        let rs_key = Jwk::generate(Curve::P256).unwrap();
        let key1 = Jwk::generate(Curve::P256).unwrap();
        let as1 = issuer_signing_with(&key1, &rs_key);
        let pki = Pki::new();
        let set = Arc::new(Mutex::new(public_set(&[&key1])));
        let jwks = jwks_server(&pki, &set).await;
        let (up, up_addr) = Upstream::start().await;
        let gw = Binary::start_remote(&[&rs_key], up_addr, &jwks.url("/jwks.json"), &pki);
        assert_eq!(send(gw.addr, &get("/", Some(&mint_with(&as1)), "")).await.status, 200);
        assert_eq!(jwks.requests(), 1);
        jwks.stop().await;

        // New tokens (not in the token cache) signed with the cached key keep passing.
        for _ in 0..3 {
            assert_eq!(send(gw.addr, &get("/", Some(&mint_with(&as1)), "")).await.status, 200);
        }
        // A token with an unknown kid: the refetch fails at once, the token is refused as
        // invalid (the keys in hand are current), neither 5xx nor a hang.
        for _ in 0..2 {
            let stranger = issuer_signing_with(&Jwk::generate(Curve::P256).unwrap(), &rs_key);
            let started = Instant::now();
            let a = send(gw.addr, &get("/", Some(&mint_with(&stranger)), "")).await;
            assert_eq!(a.status, 401, "{a:?} {}", gw.stderr());
            assert!(a.header("www-authenticate").unwrap().contains("error=\"invalid_token\""), "{a:?}");
            assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
        }
        // And the cached key still serves after the failed refetch.
        assert_eq!(send(gw.addr, &get("/", Some(&mint_with(&as1)), "")).await.status, 200);
        assert_eq!(up.started.load(Ordering::SeqCst), 5);
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// An https upstream.

/// A POST with a `Content-Length` body.
fn post_body(path: &str, token: &str, body: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: api.example.com\r\nAuthorization: Bearer {token}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

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
    assert!(Gateway::new(world.rs(), "http://192.0.2.1:8080").unwrap().forward_token().is_err());
    let pki = Pki::new();
    // A CA for a plain http upstream would never be used.
    assert!(Gateway::new(world.rs(), "http://127.0.0.1:8080")
        .unwrap()
        .upstream_ca_pem(pki.ca_pem.as_bytes())
        .is_err());
    let https = || Gateway::new(world.rs(), "https://rs.internal").unwrap();
    for bad in [&b""[..], b"not pem", b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"] {
        assert!(https().upstream_ca_pem(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
    }
    // A PEM with only a key is no CA.
    assert!(https().upstream_ca_pem(pki.server_key_pem.as_bytes()).is_err());
    let e = https().upstream_ca_file("/nonexistent/ca.pem").unwrap_err().to_string();
    assert!(e.contains("/nonexistent/ca.pem"), "{e}");
    assert!(https().upstream_ca_pem(pki.ca_pem.as_bytes()).is_ok());
}

#[tokio::test]
async fn the_binary_forwards_to_an_https_upstream_with_upstream_ca_file() {
    bounded(async {
        let world = World::new();
        let pki = Pki::new();
        let (up, up_addr) = Upstream::start_tls(pki.server_config()).await;
        let ca = temp_dir("ca").join("ca.pem");
        std::fs::write(&ca, &pki.ca_pem).unwrap();
        let ca = ca.display().to_string();
        let url = format!("https://{up_addr}");
        let gw =
            Binary::start_to(&world, &[&world.rs_key], &url, &["--upstream-ca-file", &ca, "--forward-token"]);
        let token = world.mint();
        let a = send(gw.addr, &post_body("/upload", &token, "from the binary")).await;
        assert_eq!((a.status, a.body.as_slice()), (200, &b"ok"[..]), "{a:?}: {}", gw.stderr());
        let seen = &up.seen()[0];
        assert_eq!(seen.one("x-auth-subject"), Some("alice"));
        assert_eq!(seen.body_len, "from the binary".len());
        assert_eq!(seen.one("authorization"), Some(format!("Bearer {token}").as_str()));
        drop(gw);
        // Without the CA the same upstream is 502, logged under the gateway's target without the token.
        let gw = Binary::start_to(&world, &[&world.rs_key], &url, &[]);
        assert_eq!(send(gw.addr, &get("/", Some(&token), "")).await.status, 502);
        assert_eq!(send(gw.addr, &get("/", Some(&token), "")).await.status, 502);
        eventually("the upstream failure is logged", async || {
            gw.stderr().contains("upstream request failed")
        })
        .await;
        let log = gw.stderr();
        assert!(log.contains("jwe_mint::gateway") && log.contains("certificate"), "{log}");
        assert!(!log.contains(&token), "{log}");
        assert_eq!(up.seen().len(), 1);
    })
    .await;
}

#[test]
fn a_broken_upstream_ca_file_is_one_clear_error_line() {
    let world = World::new();
    let dir = temp_dir("badca");
    let as_file = as_key_file(&world, &dir);
    write_keys(&dir.join("rs.json"), &[&world.rs_key]);
    let bad = dir.join("bad.pem");
    std::fs::write(&bad, "-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n")
        .unwrap();
    let run = |upstream: &str, ca: &Path| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_jwe-mint"))
            .args(["gateway", "--listen", "127.0.0.1:0", "--upstream", upstream, "--resource", RESOURCE])
            .arg("--key")
            .arg(dir.join("rs.json"))
            .args(["--issuer", ISSUER, "--issuer-jwks", &as_file])
            .arg("--upstream-ca-file")
            .arg(ca)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // It must exit by itself, before listening.
        let deadline = Instant::now() + LIMIT;
        while child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("the gateway did not exit");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        child.wait_with_output().unwrap()
    };
    let out = run("https://127.0.0.1:9", &bad);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(out.stdout.is_empty(), "{}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("jwe-mint: --upstream-ca-file: CA file ") && stderr.contains("bad.pem"),
        "{stderr}"
    );
    let out = run("https://127.0.0.1:9", &dir.join("missing.pem"));
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    // A CA file for a plain http upstream is an inconsistent option: usage error.
    let out = run("http://127.0.0.1:9", &bad);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    let _ = std::fs::remove_dir_all(&dir);
}
