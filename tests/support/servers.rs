//! Loopback HTTP(S) servers for the `wire` tests: a test CA and server certificate made with
//! rcgen, hyper serving a handler on 127.0.0.1, a request counter, and a server that completes the
//! TLS handshake and then never answers. Everything stops when dropped.
#![allow(dead_code)]

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use jwe_mint::jwk::{Curve, Jwk, JwkSet};
use jwe_mint::wire::HttpFetcher;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::rustls::{self, pki_types::PrivateKeyDer, ServerConfig};
use tokio_rustls::TlsAcceptor;

/// Every network test runs under this bound.
pub const TEST_LIMIT: Duration = Duration::from_secs(30);

/// Runs `fut` under [`TEST_LIMIT`], failing the test when it is exceeded.
pub async fn bounded<T>(fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(TEST_LIMIT, fut).await.expect("test exceeded its time bound")
}

/// A CA and a server certificate for `localhost`, `127.0.0.1` and `::1`, signed by it.
pub struct Pki {
    /// The CA certificate (PEM), the only root the test clients trust.
    pub ca_pem: String,
    /// The server certificate (PEM), for servers the tests start in another process.
    pub server_cert_pem: String,
    /// The server certificate's private key (PKCS#8 PEM), for the same.
    pub server_key_pem: String,
    server: Arc<ServerConfig>,
    ca: rcgen::Issuer<'static, rcgen::KeyPair>,
}

impl Pki {
    /// A fresh CA and server certificate.
    pub fn new() -> Pki {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        // A distinct name per CA, so that a foreign CA is an unknown issuer, not a bad signature.
        static SERIAL: AtomicUsize = AtomicUsize::new(0);
        let name =
            format!("jwe-mint test CA {} {}", std::process::id(), SERIAL.fetch_add(1, Ordering::SeqCst));
        ca.distinguished_name.push(DnType::CommonName, name);
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca, ca_key);
        let (server, server_cert, server_key) = signed_server(&issuer, &["localhost", "127.0.0.1", "::1"]);
        Pki {
            ca_pem: ca_cert.pem(),
            server_cert_pem: server_cert.pem(),
            server_key_pem: server_key.serialize_pem(),
            server,
            ca: issuer,
        }
    }

    /// A server TLS configuration with a certificate from this CA for `names` only (e.g. a name
    /// the client does not connect to).
    pub fn server_config_for(&self, names: &[&str]) -> Arc<ServerConfig> {
        signed_server(&self.ca, names).0
    }

    /// The server's TLS configuration (its certificate for `localhost`, `127.0.0.1`, `::1`), for
    /// tests that serve their own app.
    pub fn server_config(&self) -> Arc<ServerConfig> {
        Arc::clone(&self.server)
    }

    /// A fetcher that trusts this CA only (no platform roots).
    pub fn fetcher(&self) -> HttpFetcher {
        self.fetcher_builder().build().unwrap()
    }

    /// The builder behind [`Pki::fetcher`], to adjust.
    pub fn fetcher_builder(&self) -> jwe_mint::wire::HttpFetcherBuilder {
        HttpFetcher::builder().platform_roots(false).add_ca_pem(self.ca_pem.as_bytes()).unwrap()
    }
}

/// A server configuration with a fresh certificate for `names`, signed by `ca`.
fn signed_server(
    ca: &rcgen::Issuer<'static, rcgen::KeyPair>,
    names: &[&str],
) -> (Arc<ServerConfig>, rcgen::Certificate, rcgen::KeyPair) {
    let key = rcgen::KeyPair::generate().unwrap();
    let params =
        rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
    let cert = params.signed_by(&key, ca).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let server = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.der().clone()], PrivateKeyDer::Pkcs8(key.serialize_der().into()))
        .unwrap();
    (Arc::new(server), cert, key)
}

/// What the handler answers.
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Extra headers.
    pub headers: Vec<(&'static str, String)>,
    /// The body.
    pub body: ReplyBody,
    /// Wait this long before answering.
    pub delay: Duration,
}

/// A reply body.
pub enum ReplyBody {
    /// These bytes, with `Content-Length`.
    Bytes(Vec<u8>),
    /// This many bytes in 64 KiB chunks, without `Content-Length` (chunked encoding).
    Stream(usize),
    /// This many bytes, with `Content-Length`.
    Sized(usize),
}

impl Reply {
    /// 200 with a JSON body.
    pub fn json(body: impl Into<String>) -> Reply {
        Reply {
            status: 200,
            headers: vec![("content-type", "application/json".into())],
            body: ReplyBody::Bytes(body.into().into_bytes()),
            delay: Duration::ZERO,
        }
    }

    /// A bare status.
    pub fn status(status: u16) -> Reply {
        Reply { status, headers: vec![], body: ReplyBody::Bytes(vec![]), delay: Duration::ZERO }
    }

    /// Adds a header.
    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Reply {
        self.headers.push((name, value.into()));
        self
    }

    /// Delays the answer.
    pub fn delayed(mut self, delay: Duration) -> Reply {
        self.delay = delay;
        self
    }
}

/// The request path → the reply.
pub type Handler = Arc<dyn Fn(&str) -> Reply + Send + Sync>;

/// A loopback server; counts requests; stops when dropped.
pub struct TestServer {
    /// Where it listens.
    pub addr: SocketAddr,
    scheme: &'static str,
    requests: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl TestServer {
    /// HTTPS with `pki`'s server certificate, on a free port.
    pub async fn https(pki: &Pki, handler: impl Fn(&str) -> Reply + Send + Sync + 'static) -> TestServer {
        TestServer::start("127.0.0.1:0".parse().unwrap(), Some(pki), Arc::new(handler)).await
    }

    /// Plain HTTP on a free port.
    pub async fn http(handler: impl Fn(&str) -> Reply + Send + Sync + 'static) -> TestServer {
        TestServer::start("127.0.0.1:0".parse().unwrap(), None, Arc::new(handler)).await
    }

    /// Starts serving on `addr` (e.g. the address of a server stopped earlier).
    pub async fn start(addr: SocketAddr, pki: Option<&Pki>, handler: Handler) -> TestServer {
        let listener = listen_on(addr).await;
        let addr = listener.local_addr().unwrap();
        let acceptor = pki.map(|p| TlsAcceptor::from(Arc::clone(&p.server)));
        let requests = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&requests);
        let task = tokio::spawn(async move {
            // Dropping the set (when this task is aborted) aborts every connection.
            let mut connections = JoinSet::new();
            loop {
                let Ok((tcp, _)) = listener.accept().await else { continue };
                while connections.try_join_next().is_some() {}
                let (acceptor, handler, counter) =
                    (acceptor.clone(), Arc::clone(&handler), Arc::clone(&counter));
                connections.spawn(async move {
                    match acceptor {
                        Some(acceptor) => {
                            if let Ok(tls) = acceptor.accept(tcp).await {
                                serve(tls, handler, counter).await;
                            }
                        }
                        None => serve(tcp, handler, counter).await,
                    }
                });
            }
        });
        TestServer { addr, scheme: if pki.is_some() { "https" } else { "http" }, requests, task }
    }

    /// `scheme://127.0.0.1:port` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}://127.0.0.1:{}{}", self.scheme, self.addr.port(), path)
    }

    /// Requests served so far.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    /// Stops listening and drops every connection.
    pub async fn stop(mut self) {
        self.task.abort();
        let _ = (&mut self.task).await;
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve<IO>(io: IO, handler: Handler, counter: Arc<AtomicUsize>)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        counter.fetch_add(1, Ordering::SeqCst);
        let reply = handler(req.uri().path());
        async move {
            tokio::time::sleep(reply.delay).await;
            let body = match reply.body {
                ReplyBody::Bytes(b) => TestBody { data: Bytes::from(b), stream: 0, exact: true },
                ReplyBody::Stream(n) => TestBody { data: Bytes::new(), stream: n, exact: false },
                ReplyBody::Sized(n) => TestBody { data: Bytes::new(), stream: n, exact: true },
            };
            let mut response = hyper::Response::new(body);
            *response.status_mut() = hyper::StatusCode::from_u16(reply.status).unwrap();
            for (name, value) in reply.headers {
                response.headers_mut().append(name, value.parse().unwrap());
            }
            Ok::<_, Infallible>(response)
        }
    });
    let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(io), service).await;
}

/// `data` first, then `stream` filler bytes in 64 KiB chunks; `exact` declares the length.
struct TestBody {
    data: Bytes,
    stream: usize,
    exact: bool,
}

impl Body for TestBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        if !this.data.is_empty() {
            return Poll::Ready(Some(Ok(Frame::data(std::mem::take(&mut this.data)))));
        }
        if this.stream > 0 {
            let n = this.stream.min(64 * 1024);
            this.stream -= n;
            return Poll::Ready(Some(Ok(Frame::data(Bytes::from(vec![b' '; n])))));
        }
        Poll::Ready(None)
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_empty() && self.stream == 0
    }

    fn size_hint(&self) -> SizeHint {
        if self.exact {
            SizeHint::with_exact((self.data.len() + self.stream) as u64)
        } else {
            SizeHint::default()
        }
    }
}

/// A TLS server that completes the handshake and then never answers (nor closes). Counts
/// connections; stops when dropped.
pub struct SilentServer {
    /// Where it listens.
    pub addr: SocketAddr,
    connections: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl SilentServer {
    /// Starts on a free port.
    pub async fn tls(pki: &Pki) -> SilentServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let acceptor = TlsAcceptor::from(Arc::clone(&pki.server));
        let connections = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&connections);
        let task = tokio::spawn(async move {
            let mut held = JoinSet::new();
            loop {
                let Ok((tcp, _)) = listener.accept().await else { continue };
                counter.fetch_add(1, Ordering::SeqCst);
                let acceptor = acceptor.clone();
                held.spawn(async move {
                    let stream = acceptor.accept(tcp).await;
                    tokio::time::sleep(TEST_LIMIT).await;
                    drop(stream);
                });
            }
        });
        SilentServer { addr, connections, task }
    }

    /// `https://127.0.0.1:port/`.
    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}/jwks.json", self.addr.port())
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

impl Drop for SilentServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A fresh P-256 key pair with `kid` = its RFC 7638 thumbprint.
pub fn key() -> Jwk {
    Jwk::generate(Curve::P256).unwrap()
}

/// The public JWK Set JSON of `keys`.
pub fn public_set(keys: &[&Jwk]) -> String {
    JwkSet::new(keys.iter().map(|k| k.to_public().unwrap()).collect()).to_json().unwrap()
}

/// An axum router served over HTTPS (`pki`'s certificate) on `addr`; stops when dropped.
pub struct RouterServer {
    task: JoinHandle<()>,
}

impl RouterServer {
    /// Serves `router` on `addr` (bound now: a test picks the port first so documents can name it).
    pub async fn start(pki: &Pki, addr: SocketAddr, router: axum::Router) -> RouterServer {
        use tower::ServiceExt;
        let listener = listen_on(addr).await;
        let acceptor = TlsAcceptor::from(Arc::clone(&pki.server));
        let task = tokio::spawn(async move {
            let mut connections = JoinSet::new();
            loop {
                let Ok((tcp, _)) = listener.accept().await else { continue };
                while connections.try_join_next().is_some() {}
                let (acceptor, router) = (acceptor.clone(), router.clone());
                connections.spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else { return };
                    let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                        router.clone().oneshot(req.map(axum::body::Body::new))
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        RouterServer { task }
    }
}

impl Drop for RouterServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A free loopback port, and its `https` origin.
pub fn free_origin() -> (SocketAddr, String) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    // Held until `TestServer::start` takes it: a port let go between choosing and serving can be
    // handed to another test running at the same time.
    reserved().lock().unwrap().insert(addr, listener);
    (addr, format!("https://127.0.0.1:{}", addr.port()))
}

/// A listener on `addr`: the one [`free_origin`] kept for it, or a new one (a server started
/// again on the address of one stopped earlier).
async fn listen_on(addr: SocketAddr) -> TcpListener {
    let held = reserved().lock().unwrap().remove(&addr);
    match held {
        Some(listener) => {
            listener.set_nonblocking(true).unwrap();
            TcpListener::from_std(listener).unwrap()
        }
        None => TcpListener::bind(addr).await.unwrap(),
    }
}

/// Ports chosen by [`free_origin`] and not yet served, each still bound.
fn reserved() -> &'static std::sync::Mutex<std::collections::HashMap<SocketAddr, std::net::TcpListener>> {
    static RESERVED: std::sync::OnceLock<
        std::sync::Mutex<std::collections::HashMap<SocketAddr, std::net::TcpListener>>,
    > = std::sync::OnceLock::new();
    RESERVED.get_or_init(Default::default)
}

/// The resource the wire tests mint for.
pub const PHOTOS: &str = "https://photos.example.com";

/// An AS `issuer` signing with `as_key` that mints for [`PHOTOS`] (scope `photos.read`) to
/// `rs_key`'s public half, for the client `app`.
pub fn photos_issuer(issuer: &str, as_key: &Jwk, rs_key: &Jwk) -> jwe_mint::issuer::Issuer {
    use jwe_mint::registry::{Registry, ResourceEntry};
    let mut registry = Registry::default();
    let entry = ResourceEntry::new(PHOTOS, ["photos.read"], JwkSet::new(vec![rs_key.to_public().unwrap()]));
    registry.insert(entry.unwrap()).unwrap();
    let builder = jwe_mint::issuer::Issuer::builder(issuer, as_key).registry(registry);
    builder.allow_client("app", &[PHOTOS]).unwrap().build().unwrap()
}

/// A token for alice from `issuer` (see [`photos_issuer`]).
pub fn photos_token(issuer: &jwe_mint::issuer::Issuer) -> String {
    let grant = jwe_mint::issuer::Grant::new("alice", "app", "photos.read", &[PHOTOS]).unwrap();
    issuer.mint(&grant, PHOTOS).unwrap().access_token
}
