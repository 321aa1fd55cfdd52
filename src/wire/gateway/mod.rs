//! `jwe-mint gateway`: a streaming HTTP/1.1 reverse proxy that lets a request reach the upstream
//! resource server only with a valid access token, for resource servers in any language.
//!
//! Header rules, in this order (see `ARCHITECTURE.md`, the gateway):
//!
//! 1. Framing (RFC 9112 §6.3), checked on every request head of a connection as it comes off the
//!    socket (`framing.rs`): both `Content-Length` and `Transfer-Encoding`, a repeated or
//!    non-numeric `Content-Length`, or a `Transfer-Encoding` other than one final `chunked` is 400
//!    (501 for an unknown coding) and the connection closes, no byte after that head read as a
//!    request (such messages are how requests are smuggled). A head over 64 KiB is 431. A
//!    response sent before the request body was read drains or closes the connection (hyper
//!    does it).
//! 2. Hop-by-hop: every field named in `Connection`, and `Connection`, `Keep-Alive`,
//!    `Proxy-Connection`, `TE`, `Transfer-Encoding`, `Upgrade` (RFC 9110 §7.6.1) are removed from
//!    requests and responses.
//! 3. Identity: every incoming header whose name starts with `x-auth-` once `_` is read as `-`
//!    is removed (backends that fold `_` into `-` were fooled that way: oauth2-proxy
//!    CVE-2025-64484); `Forwarded` and `X-Forwarded-For` / `-Proto` / `-Host` are replaced by the
//!    gateway's own (RFC 7239); `Via` is appended (RFC 9110 §7.6.3).
//! 4. Authentication by [`BearerLayer`] (RFC 6750; unauthenticated requests never reach the
//!    upstream), then `X-Auth-Subject`, `X-Auth-Client-Id`, `X-Auth-Scope` and `X-Auth-Claims`
//!    (base64url of the claims JSON) are added, and `Authorization` is removed unless
//!    [`Gateway::forward_token`].
//!
//! `Host` passes through. Bodies stream both ways; nothing is buffered (except a form body of at
//! most 64 KiB that the layer reads to refuse a second token, RFC 6750 §2.2). An upstream that
//! cannot be reached is 502.
//!
//! The upstream is `http` (next to the gateway) or `https` (the resource server on another host
//! behind TLS). TLS is rustls with the aws-lc-rs provider and its safe default protocol versions,
//! without a client certificate; the server name checked and sent (SNI, RFC 6066 §3) is the
//! upstream URL's host, whatever `Host` the client sent. The certificate is verified against the
//! platform's trust store, or only against the CA certificates of
//! [`Gateway::upstream_ca_file`]; verification cannot be turned off. A TLS failure (untrusted
//! certificate, wrong name, failed handshake) is 502 like any unreachable upstream.
//!
//! The RFC 9728 metadata and the JWK Set at `jwks_uri` are served by the gateway itself, from the
//! resource server's current keys.

mod framing;

use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use base64::Engine as _;
use http::header::{
    HeaderName, AUTHORIZATION, CACHE_CONTROL, CONNECTION, CONTENT_TYPE, FORWARDED, HOST, TE,
    TRANSFER_ENCODING, UPGRADE, VIA, WWW_AUTHENTICATE,
};
use http::{HeaderMap, HeaderValue, Method, Request, StatusCode, Uri, Version};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};
use rustls_platform_verifier::BuilderVerifierExt as _;
use tokio::net::TcpListener;

use crate::error::{Error, Result};
use crate::resource_server::{AccessToken, ResourceServer};
use crate::wire::resource_server::{BearerLayer, BearerService, MetadataRouter, DEFAULT_MAX_AGE};
use crate::wire::tracing_targets::GATEWAY_TRACING_TARGET;

/// How long [`Gateway::serve`] waits, after the shutdown signal, for requests in flight.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// How long a client may take to send a request's header section.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// How long connecting to the upstream may take.
const UPSTREAM_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The `Via` entry the gateway appends (RFC 9110 §7.6.3: protocol version and a pseudonym).
const VIA_ENTRY: &str = "1.1 jwe-mint";

/// The identity headers the gateway sets on authenticated requests.
const X_AUTH_SUBJECT: &str = "x-auth-subject";
const X_AUTH_CLIENT_ID: &str = "x-auth-client-id";
const X_AUTH_SCOPE: &str = "x-auth-scope";
const X_AUTH_CLAIMS: &str = "x-auth-claims";

/// A reverse proxy in front of one upstream resource server; see `ARCHITECTURE.md` (the gateway) for the
/// rules. Configure it, then run it with [`Gateway::serve`].
///
/// ```no_run
/// # async fn demo(rs: jwe_mint::resource_server::ResourceServer) -> Result<(), Box<dyn std::error::Error>> {
/// use jwe_mint::wire::Gateway;
///
/// let gateway = Gateway::new(rs, "http://127.0.0.1:8080")?.require_scope("photos.read")?;
/// // Or a resource server on another host, behind TLS, with a private CA:
/// // Gateway::new(rs, "https://rs.internal:8443")?.upstream_ca_file("rs-ca.pem")?
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8443").await?;
/// gateway.serve(listener, async { let _ = tokio::signal::ctrl_c().await; }).await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Gateway {
    layer: BearerLayer,
    rs: Arc<ResourceServer>,
    upstream: Upstream,
    forward_token: bool,
    jwks_uri: String,
    scopes: Vec<String>,
    grace: Duration,
    /// The only trust anchors for an https upstream, once [`Gateway::upstream_ca_pem`] added
    /// some; `None`: the platform's trust store.
    upstream_roots: Option<Arc<RootCertStore>>,
}

#[derive(Debug, Clone)]
struct Upstream {
    /// `scheme://authority`, as the client connects.
    origin: String,
    /// The upstream URL's path without its trailing `/`, prefixed to every request's path.
    base_path: String,
    loopback: bool,
    https: bool,
}

impl Gateway {
    /// A gateway that opens tokens with `rs` and forwards authenticated requests to `upstream`
    /// (an absolute `http` or `https` URL without credentials, query or fragment; its path, if
    /// any, is prefixed to every request's path). An `https` upstream's certificate is verified
    /// against the platform's trust store unless [`Gateway::upstream_ca_file`] names the CAs.
    /// The JWK Set is published at `<origin of rs.resource()>/.well-known/jwks.json` (see
    /// [`Gateway::with_jwks_uri`]).
    pub fn new(rs: impl Into<Arc<ResourceServer>>, upstream: &str) -> Result<Gateway> {
        let rs = rs.into();
        let upstream = parse_upstream(upstream)?;
        let resource = url::Url::parse(rs.resource()).map_err(|_| Error::misuse("resource must be a URL"))?;
        let jwks_uri = format!("{}/.well-known/jwks.json", resource.origin().ascii_serialization());
        let layer = BearerLayer::new(Arc::clone(&rs))?;
        let gateway = Gateway {
            layer,
            rs,
            upstream,
            forward_token: false,
            jwks_uri,
            scopes: Vec::new(),
            grace: DEFAULT_SHUTDOWN_GRACE,
            upstream_roots: None,
        };
        gateway.metadata()?;
        Ok(gateway)
    }

    /// Requires `scope` on every proxied request (403 `insufficient_scope` without it); may be
    /// called several times (all are required).
    pub fn require_scope(mut self, scope: &str) -> Result<Gateway> {
        self.layer = self.layer.require_scope(scope)?;
        if !self.scopes.iter().any(|s| s == scope) {
            self.scopes.push(scope.to_owned());
        }
        Ok(self)
    }

    /// Forwards the `Authorization` header to the upstream (removed by default: the upstream gets
    /// the identity headers instead). Allowed for an `https` upstream; refused for a plain `http`
    /// upstream that is not on a loopback address: the token would cross the network in clear.
    pub fn forward_token(mut self) -> Result<Gateway> {
        if !self.upstream.https && !self.upstream.loopback {
            return Err(Error::misuse(
                "forwarding the token to a plain http upstream is allowed only on a loopback address",
            ));
        }
        self.forward_token = true;
        Ok(self)
    }

    /// Trusts only the CA certificates in this PEM data (one or more `CERTIFICATE` blocks) for
    /// the `https` upstream's certificate, instead of the platform's trust store; may be called
    /// several times (all are trusted). Refused for an `http` upstream (it would be unused), and
    /// for data without a certificate usable as a trust anchor.
    pub fn upstream_ca_pem(self, pem: &[u8]) -> Result<Gateway> {
        self.add_upstream_roots(pem).map_err(|reason| Error::misuse(format!("CA certificates: {reason}")))
    }

    /// Trusts only the CA certificates in this PEM file for the `https` upstream's certificate,
    /// as [`Gateway::upstream_ca_pem`] (the file is read once, here).
    pub fn upstream_ca_file(self, path: impl AsRef<Path>) -> Result<Gateway> {
        let path = path.as_ref();
        let err = |reason: String| Error::misuse(format!("CA file {}: {reason}", path.display()));
        let pem = std::fs::read(path).map_err(|e| err(e.to_string()))?;
        self.add_upstream_roots(&pem).map_err(err)
    }

    fn add_upstream_roots(mut self, pem: &[u8]) -> std::result::Result<Gateway, String> {
        if !self.upstream.https {
            return Err("only an https upstream has a certificate to verify".into());
        }
        let mut roots = self.upstream_roots.as_deref().cloned().unwrap_or_else(RootCertStore::empty);
        let mut found = false;
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| format!("not PEM: {e}"))?;
            roots.add(cert).map_err(|e| match e {
                // rustls words this one for peers ("invalid peer certificate").
                rustls::Error::InvalidCertificate(e) => format!("not a usable CA certificate ({e:?})"),
                e => format!("not a usable CA certificate ({e})"),
            })?;
            found = true;
        }
        if !found {
            return Err("no CERTIFICATE block found".into());
        }
        self.upstream_roots = Some(Arc::new(roots));
        Ok(self)
    }

    /// The connector to the upstream: plain TCP for an `http` upstream; for an `https` one,
    /// rustls with the aws-lc-rs provider, its safe default protocol versions, no client
    /// certificate, and the configured CAs or the platform verifier. The server name is the
    /// URI's host, i.e. the upstream URL's (`Host` is not consulted).
    fn upstream_connector(&self) -> Result<HttpsConnector<HttpConnector>> {
        let tls_err = |e: rustls::Error| Error::misuse(format!("TLS to the upstream: {e}"));
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(tls_err)?;
        let tls = match (&self.upstream_roots, self.upstream.https) {
            (Some(roots), _) => builder.with_root_certificates(Arc::clone(roots)),
            (None, true) => builder.with_platform_verifier().map_err(|e| {
                Error::misuse(format!("the platform's trust store for the https upstream: {e}"))
            })?,
            // Never used: every request goes to the upstream's `http` origin.
            (None, false) => builder.with_root_certificates(RootCertStore::empty()),
        };
        let mut http = HttpConnector::new();
        http.set_connect_timeout(Some(UPSTREAM_CONNECT_TIMEOUT));
        http.set_nodelay(true);
        http.enforce_http(false);
        let builder = hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(tls.with_no_client_auth());
        let builder = if self.upstream.https { builder.https_only() } else { builder.https_or_http() };
        Ok(builder.enable_http1().wrap_connector(http))
    }

    /// Publishes the JWK Set at `jwks_uri` instead (its path must reach this gateway).
    pub fn with_jwks_uri(mut self, jwks_uri: &str) -> Result<Gateway> {
        let previous = std::mem::replace(&mut self.jwks_uri, jwks_uri.to_owned());
        if let Err(e) = self.metadata() {
            self.jwks_uri = previous;
            return Err(e);
        }
        Ok(self)
    }

    /// How long [`Gateway::serve`] lets requests in flight finish after the shutdown signal
    /// (default [`DEFAULT_SHUTDOWN_GRACE`]).
    pub fn with_shutdown_grace(mut self, grace: Duration) -> Gateway {
        self.grace = grace;
        self
    }

    /// The URL the JWK Set is published at.
    pub fn jwks_uri(&self) -> &str {
        &self.jwks_uri
    }

    /// The RFC 9728 documents from the resource server's current keys (so they follow a key file
    /// reload).
    fn metadata(&self) -> Result<MetadataRouter> {
        let keys = self.rs.public_keys()?;
        Ok(MetadataRouter::new(self.rs.resource(), &self.jwks_uri, &keys)?
            .authorization_server(self.rs.issuer())?
            .scopes_supported(self.scopes.iter().map(String::as_str)))
    }

    /// Accepts connections on `listener` until `shutdown` completes; then stops accepting (new
    /// connections are refused once the listener is dropped), lets requests in flight finish
    /// (at most the grace period), and returns. Fails before accepting anything if the TLS
    /// configuration for an `https` upstream cannot be built (e.g. the platform's trust store
    /// holds no certificate and no CA was configured).
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> std::io::Result<()> {
        let connector = self.upstream_connector().map_err(std::io::Error::other)?;
        let client = Client::builder(TokioExecutor::new()).build(connector);
        let grace = self.grace;
        let forward = Forward {
            client,
            upstream: Arc::new(self.upstream.clone()),
            forward_token: self.forward_token,
            resource_metadata: self.layer.resource_metadata().into(),
        };
        let metadata_paths = match self.metadata() {
            Ok(m) => vec![m.metadata_path().to_owned(), m.jwks_path().to_owned()],
            Err(_) => Vec::new(),
        };
        let shared = Arc::new(Shared {
            service: tower::Layer::layer(&self.layer, forward),
            gateway: self,
            metadata_paths,
        });
        let graceful = hyper_util::server::graceful::GracefulShutdown::new();
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(TokioTimer::new())
            .header_read_timeout(HEADER_READ_TIMEOUT)
            .keep_alive(true)
            .max_buf_size(framing::MAX_HEAD);
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, peer)) => {
                        let _ = stream.set_nodelay(true);
                        let shared = Arc::clone(&shared);
                        let verdicts = framing::Verdicts::default();
                        let io = framing::Framed::new(stream, verdicts.clone());
                        let service = hyper::service::service_fn(move |req| {
                            // Taken in call order: hyper calls the service once per request, in
                            // the order of the heads.
                            let verdict = verdicts.next();
                            let shared = Arc::clone(&shared);
                            async move { Ok::<_, Infallible>(shared.handle(req, peer, verdict).await) }
                        });
                        let conn = graceful.watch(http.serve_connection(TokioIo::new(io), service));
                        tokio::spawn(async move {
                            if let Err(e) = conn.await {
                                tracing::debug!(target: GATEWAY_TRACING_TARGET, %peer, error = %e, "connection ended");
                            }
                        });
                    }
                    Err(e) => {
                        // Out of file descriptors and the like: wait instead of spinning.
                        tracing::warn!(target: GATEWAY_TRACING_TARGET, error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
                () = &mut shutdown => break,
            }
        }
        drop(listener);
        tracing::info!(target: GATEWAY_TRACING_TARGET, "shutting down: requests in flight finish");
        tokio::select! {
            () = graceful.shutdown() => {}
            () = tokio::time::sleep(grace) => {
                tracing::warn!(target: GATEWAY_TRACING_TARGET, ?grace, "grace period over; connections dropped");
            }
        }
        Ok(())
    }
}

/// What every connection shares.
struct Shared {
    gateway: Gateway,
    service: BearerService<Forward>,
    /// The paths of the two documents (they depend on configuration only, not on the keys), so
    /// that other requests skip building them.
    metadata_paths: Vec<String>,
}

impl Shared {
    async fn handle(
        &self,
        req: Request<hyper::body::Incoming>,
        peer: SocketAddr,
        verdict: framing::Verdict,
    ) -> Response {
        // (1) Framing (RFC 9112 §6.3), judged on the raw head by `framing::Framed` (hyper has
        // already dropped a `Content-Length` next to a `Transfer-Encoding`): answer and close;
        // the wrapper passes no byte after this head.
        if let framing::Verdict::Refuse(status, text) = verdict {
            tracing::debug!(target: GATEWAY_TRACING_TARGET, %peer, %status, reason = text.trim_end(),
                "request framing refused");
            let mut r = plain(status, text);
            r.headers_mut().insert(CONNECTION, HeaderValue::from_static("close"));
            return r;
        }
        let (mut parts, body) = req.into_parts();
        if matches!(parts.method, Method::GET | Method::HEAD) {
            if let Some(r) = self.metadata(parts.uri.path()) {
                return r;
            }
        }
        // (2) hop-by-hop, then (3) identity: before authentication, so a `Connection` header
        // cannot name the identity headers added after it.
        remove_hop_by_hop(&mut parts.headers);
        remove_spoofed_identity(&mut parts.headers);
        set_forwarded(&mut parts.headers, peer);
        parts.headers.append(VIA, HeaderValue::from_static(VIA_ENTRY));
        let req = Request::from_parts(parts, Body::new(body));
        let mut service = self.service.clone();
        // `Forward` is always ready; the layer delegates to it.
        let _ = std::future::poll_fn(|cx| tower::Service::poll_ready(&mut service, cx)).await;
        match tower::Service::call(&mut service, req).await {
            Ok(r) => r,
            Err(never) => match never {},
        }
    }

    /// The RFC 9728 metadata or the JWK Set, if `path` is one of theirs.
    fn metadata(&self, path: &str) -> Option<Response> {
        if !self.metadata_paths.is_empty() && !self.metadata_paths.iter().any(|p| p == path) {
            return None;
        }
        let metadata = match self.gateway.metadata() {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(target: GATEWAY_TRACING_TARGET, error = %e, "cannot build the metadata documents");
                return None;
            }
        };
        let body = if path == metadata.metadata_path() {
            metadata.document().to_string()
        } else if path == metadata.jwks_path() {
            metadata.jwks().to_string()
        } else {
            return None;
        };
        let mut r = Response::new(Body::from(body));
        r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Ok(v) = HeaderValue::from_str(&format!("max-age={}", DEFAULT_MAX_AGE.as_secs())) {
            r.headers_mut().insert(CACHE_CONTROL, v);
        }
        Some(r)
    }
}

/// The inner service behind the [`BearerLayer`]: adds the identity headers and forwards.
#[derive(Clone)]
struct Forward {
    client: Client<HttpsConnector<HttpConnector>, Body>,
    upstream: Arc<Upstream>,
    forward_token: bool,
    resource_metadata: Arc<str>,
}

impl tower::Service<Request<Body>> for Forward {
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = std::result::Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<std::result::Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move { Ok(this.forward(req).await) })
    }
}

impl Forward {
    async fn forward(self, req: Request<Body>) -> Response {
        let (mut parts, body) = req.into_parts();
        let Some(token) = parts.extensions.remove::<AccessToken>() else {
            // The layer always puts it there; never forward without it.
            return plain(StatusCode::INTERNAL_SERVER_ERROR, "not authenticated\n");
        };
        if !self.forward_token {
            parts.headers.remove(AUTHORIZATION);
        }
        // (4) The identity, from the opened token only.
        if set_identity(&mut parts.headers, &token).is_err() {
            return self.unrepresentable();
        }
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let uri = format!("{}{}{}", self.upstream.origin, self.upstream.base_path, path);
        parts.uri = match uri.parse::<Uri>() {
            Ok(u) => u,
            Err(_) => return plain(StatusCode::BAD_REQUEST, "bad request target\n"),
        };
        parts.version = Version::HTTP_11;
        // `Host` passes through; without one (HTTP/1.0), the client sets the upstream's.
        match self.client.request(Request::from_parts(parts, body)).await {
            Ok(response) => {
                let (mut parts, body) = response.into_parts();
                remove_hop_by_hop(&mut parts.headers);
                parts.headers.append(VIA, HeaderValue::from_static(VIA_ENTRY));
                Response::from_parts(parts, Body::new(body))
            }
            Err(e) => {
                // The causes (refused connection, TLS alert, untrusted certificate) name no
                // header, so no token.
                tracing::warn!(target: GATEWAY_TRACING_TARGET, upstream = %self.upstream.origin,
                    error = %error_chain(&e), "upstream request failed");
                plain(StatusCode::BAD_GATEWAY, "the upstream server is unavailable\n")
            }
        }
    }

    /// A token whose subject, client or scope cannot be a header value: refused like any token
    /// that does not open (RFC 6750 §3.1), never forwarded without its identity.
    fn unrepresentable(&self) -> Response {
        let mut r = plain(StatusCode::UNAUTHORIZED, "");
        let challenge = format!(
            "Bearer error=\"invalid_token\", error_description=\"the access token is invalid\", resource_metadata=\"{}\"",
            self.resource_metadata
        );
        if let Ok(v) = HeaderValue::from_str(&challenge) {
            r.headers_mut().insert(WWW_AUTHENTICATE, v);
        }
        r
    }
}

/// `e` and its sources, `: `-separated (the client's own message is only "client error (Connect)").
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn plain(status: StatusCode, text: &'static str) -> Response {
    let mut r = Response::new(Body::from(text));
    *r.status_mut() = status;
    r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    r
}

/// RFC 9110 §7.6.1: the fields `Connection` names, and the hop-by-hop fields themselves.
fn remove_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(CONNECTION)
        .iter()
        .flat_map(|v| v.as_bytes().split(|&b| b == b','))
        .filter_map(|name| HeaderName::from_bytes(name.trim_ascii()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in [CONNECTION, TE, TRANSFER_ENCODING, UPGRADE] {
        headers.remove(name);
    }
    headers.remove("keep-alive");
    headers.remove("proxy-connection");
}

/// Whether `name` starts with `prefix` (lowercase, `-` separated), however spelled:
/// case-insensitive (the `http` crate lowercases names anyway) and with `_` read as `-`, as
/// CGI-style backends fold them (CVE-2025-64484).
fn starts_with_folded(name: &HeaderName, prefix: &[u8]) -> bool {
    let name = name.as_str().as_bytes();
    name.len() >= prefix.len()
        && name.iter().zip(prefix).all(|(&a, &b)| a.to_ascii_lowercase() == b || (a == b'_' && b == b'-'))
}

/// Whether a header name is one of the identity headers, however spelled.
fn is_identity_header(name: &HeaderName) -> bool {
    starts_with_folded(name, b"x-auth-")
}

/// `Forwarded` or `X-Forwarded-For` / `-Proto` / `-Host`, however spelled.
fn is_forwarding_header(name: &HeaderName) -> bool {
    [&b"forwarded"[..], b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host"]
        .iter()
        .any(|full| name.as_str().len() == full.len() && starts_with_folded(name, full))
}

fn remove_spoofed_identity(headers: &mut HeaderMap) {
    let spoofed: Vec<HeaderName> = headers.keys().filter(|n| is_identity_header(n)).cloned().collect();
    for name in spoofed {
        headers.remove(name);
    }
}

/// Replaces whatever the client said about the connection with what the gateway saw (RFC 7239).
fn set_forwarded(headers: &mut HeaderMap, peer: SocketAddr) {
    // Every spelling with `_` for `-` too: CGI-style backends read `X_Forwarded_For` as
    // `HTTP_X_FORWARDED_FOR`, next to the gateway's own (as for the `x-auth-` headers).
    let spoofed: Vec<HeaderName> = headers.keys().filter(|n| is_forwarding_header(n)).cloned().collect();
    for name in spoofed {
        headers.remove(name);
    }
    let ip = peer.ip().to_canonical();
    let node = match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("\"[{v6}]\""),
    };
    let mut forwarded = format!("for={node};proto=http");
    let host = headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\'));
    if let Some(host) = host {
        forwarded.push_str(&format!(";host=\"{host}\""));
        if let Ok(v) = HeaderValue::from_str(host) {
            headers.insert("x-forwarded-host", v);
        }
    }
    if let Ok(v) = HeaderValue::from_str(&forwarded) {
        headers.insert(FORWARDED, v);
    }
    if let Ok(v) = HeaderValue::from_str(&ip.to_string()) {
        headers.insert("x-forwarded-for", v);
    }
    headers.insert("x-forwarded-proto", HeaderValue::from_static("http"));
}

/// Step (4): the identity headers from the opened token.
fn set_identity(headers: &mut HeaderMap, token: &AccessToken) -> std::result::Result<(), ()> {
    let scope = token.scopes().collect::<Vec<_>>().join(" ");
    let claims = serde_json::to_vec(token.raw_claims()).map_err(|_| ())?;
    let claims = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(claims);
    for (name, value) in [
        (X_AUTH_SUBJECT, token.subject()),
        (X_AUTH_CLIENT_ID, token.client_id()),
        (X_AUTH_SCOPE, scope.as_str()),
        (X_AUTH_CLAIMS, claims.as_str()),
    ] {
        // Visible ASCII and spaces only: a header value must not smuggle control characters.
        if !value.bytes().all(|b| b == b' ' || b.is_ascii_graphic()) {
            return Err(());
        }
        let value = HeaderValue::from_str(value).map_err(|_| ())?;
        headers.insert(HeaderName::from_static(name), value);
    }
    Ok(())
}

fn parse_upstream(upstream: &str) -> Result<Upstream> {
    let url = url::Url::parse(upstream).map_err(|_| Error::misuse("upstream must be an absolute URL"))?;
    let https = match url.scheme() {
        "http" => false,
        "https" => true,
        _ => return Err(Error::misuse("upstream must be an http or https URL")),
    };
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::misuse("upstream must not carry credentials"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(Error::misuse("upstream must not have a query or fragment"));
    }
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => return Err(Error::misuse("upstream has no host")),
    };
    let origin = url.origin().ascii_serialization();
    let base_path = url.path().trim_end_matches('/').to_owned();
    Ok(Upstream { origin, base_path, loopback, https })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarding_headers_are_replaced_however_spelled() {
        let mut headers = HeaderMap::new();
        for name in
            ["x_forwarded_for", "X_Forwarded-Proto", "x-forwarded_host", "forwarded", "x-forwarded-for"]
        {
            headers.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_static("10.0.0.1"),
            );
        }
        headers.insert(HOST, HeaderValue::from_static("api.example.com"));
        headers.insert("x-forwarded-port", HeaderValue::from_static("443"));
        set_forwarded(&mut headers, "127.0.0.9:4000".parse().unwrap());
        let names: Vec<&str> = headers.keys().map(HeaderName::as_str).collect();
        assert!(!names.iter().any(|n| n.contains('_')), "{names:?}");
        assert_eq!(headers.get_all("x-forwarded-for").iter().collect::<Vec<_>>(), ["127.0.0.9"]);
        assert_eq!(headers.get_all(FORWARDED).iter().count(), 1);
        assert_eq!(headers.get_all("x-forwarded-proto").iter().collect::<Vec<_>>(), ["http"]);
        // Not one of the four: left alone.
        assert_eq!(headers.get("x-forwarded-port").unwrap(), "443");
    }

    #[test]
    fn identity_headers_are_recognised_however_spelled() {
        for name in ["x-auth-subject", "x_auth_subject", "x-auth_subject", "x_auth-claims", "x-auth-anything"]
        {
            assert!(is_identity_header(&HeaderName::from_bytes(name.as_bytes()).unwrap()), "{name}");
        }
        for name in ["x-authorization", "x-auth", "authorization", "x-forwarded-for"] {
            assert!(!is_identity_header(&HeaderName::from_bytes(name.as_bytes()).unwrap()), "{name}");
        }
    }

    #[test]
    fn hop_by_hop_fields_and_those_connection_names_are_removed() {
        let mut h = HeaderMap::new();
        h.insert(CONNECTION, HeaderValue::from_static("keep-alive, X-Secret ,x-other"));
        h.insert("x-secret", HeaderValue::from_static("1"));
        h.insert("x-other", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert(TE, HeaderValue::from_static("trailers"));
        h.insert(UPGRADE, HeaderValue::from_static("websocket"));
        h.insert("proxy-connection", HeaderValue::from_static("keep-alive"));
        h.insert("x-kept", HeaderValue::from_static("1"));
        remove_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1, "{h:?}");
        assert!(h.contains_key("x-kept"));
    }

    #[test]
    fn upstreams_are_checked() {
        assert!(parse_upstream("http://127.0.0.1:8080").unwrap().loopback);
        assert!(!parse_upstream("http://10.0.0.1:8080").unwrap().loopback);
        assert_eq!(parse_upstream("http://localhost:1/api/").unwrap().base_path, "/api");
        for bad in ["ftp://x", "http://u:p@x", "http://x/?q", "x", "http://x#f"] {
            assert!(parse_upstream(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn https_upstreams_are_accepted_with_the_same_rules() {
        let up = parse_upstream("https://rs.internal:8443/api/").unwrap();
        assert!(up.https && !up.loopback);
        assert_eq!(up.origin, "https://rs.internal:8443");
        assert_eq!(up.base_path, "/api");
        // The default port is left out of the origin, so the URI's authority is the host.
        assert_eq!(parse_upstream("https://rs.internal:443").unwrap().origin, "https://rs.internal");
        assert!(parse_upstream("https://[::1]:8443").unwrap().loopback);
        assert!(!parse_upstream("http://rs.internal").unwrap().https);
        for bad in ["https://u:p@x", "https://u@x", "https://x/?q", "https://x/#f", "https://"] {
            assert!(parse_upstream(bad).is_err(), "{bad}");
        }
    }
}
