//! The gateway tests' world: a recording upstream, an issuer and resource server around one
//! `Gateway`, and a raw HTTP/1.1 client so that every header byte is the test's choice. Shared by
//! the library's gateway tests and the ones that run the `jwe-mint` binary.
#![allow(dead_code, unused_imports)]

use std::io::BufRead as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::servers::{public_set, Pki, Reply, TestServer};
use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use jwe_mint::issuer::{Grant, Issuer};
use jwe_mint::jwk::{Curve, Jwk, JwkSet, JwkSource};
use jwe_mint::registry::{Registry, ResourceEntry};
use jwe_mint::resource_server::{ResourceServer, ResourceServerBuilder};
use jwe_mint::wire::{Gateway, KeyFile};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;

pub const ISSUER: &str = "https://as.example.com";
pub const RESOURCE: &str = "https://api.example.com";
pub const OTHER: &str = "https://other.example.com";
pub const CLIENT: &str = "app";
pub const LIMIT: Duration = Duration::from_secs(60);

pub async fn bounded<T>(fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(LIMIT, fut).await.expect("test exceeded its time bound")
}

// ---------------------------------------------------------------------------------------------
// The upstream: records every request (headers, body length) and answers 200 `ok`, or echoes the
// body streaming (`/echo`), or answers after a delay (`/slow`).

#[derive(Debug, Clone)]
pub struct Seen {
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body_len: usize,
    /// The trailer section's fields, as the upstream received them.
    pub trailers: Vec<(String, String)>,
}

impl Seen {
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.headers.iter().filter(|(n, _)| n == name).map(|(_, v)| v.as_str()).collect()
    }
    pub fn one(&self, name: &str) -> Option<&str> {
        let all = self.all(name);
        assert!(all.len() <= 1, "{name} more than once: {all:?}");
        all.first().copied()
    }
}

#[derive(Clone, Default)]
pub struct Upstream {
    pub seen: Arc<Mutex<Vec<Seen>>>,
    pub started: Arc<AtomicUsize>,
}

impl Upstream {
    pub async fn start() -> (Upstream, SocketAddr) {
        Upstream::start_with(None).await
    }

    /// The same upstream behind TLS, with the certificate of `tls`.
    pub async fn start_tls(tls: Arc<ServerConfig>) -> (Upstream, SocketAddr) {
        Upstream::start_with(Some(TlsAcceptor::from(tls))).await
    }

    pub async fn start_with(tls: Option<TlsAcceptor>) -> (Upstream, SocketAddr) {
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

    pub async fn answer(
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
            self.seen.lock().unwrap().push(Seen { path, headers, body_len: 0, trailers: Vec::new() });
            let mut r = hyper::Response::new(req.into_body().boxed());
            if let Some(len) = len {
                r.headers_mut().insert("content-length", len);
            }
            return r;
        }
        let (body, trailers) = match req.into_body().collect().await {
            Ok(collected) => {
                let trailers = collected
                    .trailers()
                    .map(|t| {
                        t.iter()
                            .map(|(n, v)| {
                                (n.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned())
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                (collected.to_bytes().len(), trailers)
            }
            Err(_) => (0, Vec::new()),
        };
        self.seen.lock().unwrap().push(Seen { path: path.clone(), headers, body_len: body, trailers });
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

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

// ---------------------------------------------------------------------------------------------
// Keys, tokens, the gateway.

pub struct World {
    pub issuer: Issuer,
    pub as_key: Jwk,
    pub rs_key: Jwk,
}

impl World {
    pub fn new() -> World {
        World::with_rs_keys(&[&Jwk::generate(Curve::P256).unwrap()])
    }

    /// The AS mints for RESOURCE to the first of `rs_keys` (registered public keys), and for OTHER.
    pub fn with_rs_keys(rs_keys: &[&Jwk]) -> World {
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

    pub fn mint_for(&self, resource: &str, scope: &str) -> String {
        let grant = Grant::new("alice", CLIENT, scope, &[resource]).unwrap();
        self.issuer.mint(&grant, resource).unwrap().access_token
    }

    pub fn mint(&self) -> String {
        self.mint_for(RESOURCE, "photos.read")
    }

    /// A token for RESOURCE (`photos.read`) bound to the DPoP key whose thumbprint is `jkt`.
    pub fn mint_bound(&self, jkt: &str) -> String {
        let grant =
            Grant::new("alice", CLIENT, "photos.read", &[RESOURCE]).unwrap().with_dpop_jkt(jkt).unwrap();
        self.issuer.mint(&grant, RESOURCE).unwrap().access_token
    }

    pub fn rs(&self) -> ResourceServer {
        self.rs_builder().build().unwrap()
    }

    /// The settings of [`World::rs`], before `build()`.
    pub fn rs_builder(&self) -> ResourceServerBuilder {
        ResourceServer::builder(RESOURCE, ISSUER)
            .decryption_keys(JwkSet::new(vec![self.rs_key.clone()]))
            .issuer_keys(self.issuer.verification_keys().clone())
            .cache(100)
    }
}

/// Runs `gateway` on a loopback port; dropping the sender shuts it down.
pub async fn run(gateway: Gateway) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
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
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Reads one response (head, then a `Content-Length` body) from `stream`.
pub async fn read_answer(stream: &mut TcpStream) -> Answer {
    let mut answer = read_head(stream).await;
    let len: usize = answer.header("content-length").map_or(0, |v| v.parse().unwrap());
    answer.body = vec![0u8; len];
    stream.read_exact(&mut answer.body).await.unwrap();
    answer
}

/// Reads a response head; the body is left in the stream.
pub async fn read_head(stream: &mut TcpStream) -> Answer {
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

pub async fn exchange(stream: &mut TcpStream, request: &str) -> Answer {
    stream.write_all(request.as_bytes()).await.unwrap();
    read_answer(stream).await
}

pub async fn send(addr: SocketAddr, request: &str) -> Answer {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    exchange(&mut stream, request).await
}

/// A GET with `Authorization: DPoP <token>` and one `DPoP` field per proof.
pub fn dpop_get(path: &str, token: &str, proofs: &[&str], extra: &str) -> String {
    let proofs: String = proofs.iter().map(|p| format!("DPoP: {p}\r\n")).collect();
    format!(
        "GET {path} HTTP/1.1\r\nHost: api.example.com\r\nAuthorization: DPoP {token}\r\n{proofs}{extra}\r\n"
    )
}

/// Now, in seconds since the Unix epoch.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

pub fn get(path: &str, token: Option<&str>, extra: &str) -> String {
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    format!("GET {path} HTTP/1.1\r\nHost: api.example.com\r\n{auth}{extra}\r\n")
}

// ---------------------------------------------------------------------------------------------
// Library-level tests.

pub fn write_keys(path: &Path, keys: &[&Jwk]) {
    let set = JwkSet::new(keys.iter().map(|k| (*k).clone()).collect());
    write_text(path, &set.to_private_json());
}

pub fn write_text(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

pub fn temp_dir(name: &str) -> PathBuf {
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

pub async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check().await {
        assert!(Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub fn reissue(world: &World, rs_key: &Jwk) -> Issuer {
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

/// A POST with a `Content-Length` body.
pub fn post_body(path: &str, token: &str, body: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: api.example.com\r\nAuthorization: Bearer {token}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// One GET on a new connection with blocking sockets (no runtime needed, so a gateway whose
/// runtime is stuck fails the test instead of hanging it): its status and body. Panics when
/// the answer does not come within `limit`.
pub fn ask_within(addr: SocketAddr, path: &str, token: Option<&str>, limit: Duration) -> (u16, Vec<u8>) {
    use std::io::{Read as _, Write as _};
    let started = Instant::now();
    let mut stream = std::net::TcpStream::connect_timeout(&addr, limit).unwrap();
    stream.set_read_timeout(Some(limit)).unwrap();
    stream.write_all(get(path, token, "Connection: close\r\n").as_bytes()).unwrap();
    let mut answer = Vec::new();
    if let Err(e) = stream.read_to_end(&mut answer) {
        panic!("GET {path}: no answer within {limit:?} ({e}): the gateway is blocked");
    }
    assert!(started.elapsed() < limit, "GET {path} took {:?}", started.elapsed());
    let split = answer.windows(4).position(|w| w == b"\r\n\r\n");
    let split = split.unwrap_or_else(|| panic!("GET {path}: {:?}", String::from_utf8_lossy(&answer)));
    let head = String::from_utf8_lossy(&answer[..split]).into_owned();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, answer[split + 4..].to_vec())
}

/// A FIFO nobody writes at `path`, put in place with a rename as a deploy tool puts a file.
pub fn fifo_in_place_of(path: &Path) {
    let tmp = path.with_extension("fifo");
    let status = Command::new("mkfifo").arg(&tmp).status().unwrap();
    assert!(status.success(), "mkfifo failed");
    std::fs::rename(&tmp, path).unwrap();
}

/// The `x` of every key the gateway at `addr` publishes (its JWK Set), asked with [`ask_within`].
pub fn published_x(addr: SocketAddr, limit: Duration) -> Vec<String> {
    let (status, body) = ask_within(addr, "/.well-known/jwks.json", None, limit);
    assert_eq!(status, 200);
    let jwks: Value = serde_json::from_slice(&body).unwrap();
    jwks["keys"].as_array().unwrap().iter().map(|k| k["x"].as_str().unwrap().to_owned()).collect()
}

/// The `x` of `key`'s public half (EC keys).
pub fn public_x(key: &Jwk) -> String {
    key.to_public().unwrap().to_value().unwrap()["x"].as_str().unwrap().to_owned()
}
