//! The serve loop: connections accepted until the shutdown signal, each request's framing verdict
//! (rule 1, `framing.rs`) applied, the RFC 9728 documents answered by the gateway itself, the
//! header rules applied before the bearer layer, the cap on open connections (`limits.rs`), and a
//! grace period for requests in flight.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use http::header::{CACHE_CONTROL, CONNECTION, CONTENT_TYPE, VIA};
use http::{HeaderValue, Method, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use super::access::{AccessLine, Outcome};
use super::config::Gateway;
use super::forward::{plain, Forward};
use super::forward_auth::{for_proxy, names_original, refusal, to_original, Authorize, ForwardAuthConfig};
use super::framing;
use super::headers::{
    check_request, remove_hop_by_hop, remove_spoofed_identity, set_forwarded, ClientAddress, Early,
    IdentityCache, VIA_ENTRY,
};
use crate::wire::resource_server::{BearerService, DEFAULT_MAX_AGE};
use crate::wire::tracing_targets::GATEWAY_TRACING_TARGET;

/// The next connection on `listener` with a slot of `slots` held for it, or `None` once
/// `shutdown` completes. At the cap it stops accepting: new connections wait in the listen
/// backlog (the kernel's memory, not ours) while the accepted ones are served.
pub(super) async fn next_connection(
    listener: &TcpListener,
    slots: &Arc<Semaphore>,
    mut shutdown: Pin<&mut impl Future<Output = ()>>,
) -> Option<(tokio::sync::OwnedSemaphorePermit, tokio::net::TcpStream, SocketAddr)> {
    loop {
        let slot = tokio::select! {
            slot = Arc::clone(slots).acquire_owned() => slot.ok()?, // never closed
            () = shutdown.as_mut() => return None,
        };
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => return Some((slot, stream, peer)),
                Err(e) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!(target: GATEWAY_TRACING_TARGET, local = ?listener.local_addr().ok(), error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            () = shutdown.as_mut() => return None,
        }
    }
}

/// Counts and logs a bound `peer`'s connection ran into: such a connection never reaches the
/// service, so it has no access-log line.
fn report_cut(metrics: &super::metrics::Metrics, peer: SocketAddr, cut: framing::Cut) {
    metrics.cut(cut);
    tracing::info!(target: GATEWAY_TRACING_TARGET, %peer, reason = cut.as_str(), "connection cut: {cut}");
}

impl Gateway {
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
        let grace = self.grace;
        let limits = self.limits;
        // One permit per open connection (`Semaphore::new` refuses more than its maximum).
        let slots = Arc::new(Semaphore::new(limits.max_connections.min(Semaphore::MAX_PERMITS)));
        let resource_metadata: Arc<str> = self.layer.resource_metadata().into();
        let inner = match &self.upstream {
            Some(upstream) => {
                let connector = self.upstream_connector().map_err(std::io::Error::other)?;
                Inner::Forward(Forward {
                    client: Client::builder(TokioExecutor::new()).build(connector),
                    upstream: Arc::new(upstream.clone()),
                    forward_token: self.forward_token,
                    identity: Arc::new(IdentityCache::new(self.claims_header, false)),
                    resource_metadata: Arc::clone(&resource_metadata),
                })
            }
            None => Inner::Authorize(Authorize {
                identity: Arc::new(IdentityCache::new(self.claims_header, true)),
                resource_metadata: Arc::clone(&resource_metadata),
            }),
        };
        let forward_auth = self.upstream.is_none().then(|| ForwardAuthConfig {
            source: self.original_request,
            path_prefix: self.path_prefix.clone(),
        });
        let metadata_paths = match self.metadata() {
            Ok(m) => vec![m.metadata_path().to_owned(), m.jwks_path().to_owned()],
            Err(_) => Vec::new(),
        };
        let shared = Arc::new(Shared {
            service: tower::Layer::layer(&self.layer, inner),
            gateway: self,
            metadata_paths,
            forward_auth,
            resource_metadata,
        });
        let graceful = hyper_util::server::graceful::GracefulShutdown::new();
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(TokioTimer::new())
            // `framing::Framed` times heads instead: hyper's timer would also run between
            // requests, where the idle timeout applies.
            .header_read_timeout(None)
            .keep_alive(true)
            .max_buf_size(limits.max_head);
        tokio::pin!(shutdown);
        while let Some((slot, stream, peer)) = next_connection(&listener, &slots, shutdown.as_mut()).await {
            let _ = stream.set_nodelay(true);
            let open = shared.gateway.metrics.connection();
            let metrics = Arc::clone(&shared.gateway.metrics);
            let shared = Arc::clone(&shared);
            let verdicts = framing::Verdicts::default();
            let cut_metrics = Arc::clone(&metrics);
            let report = framing::CutReport(Box::new(move |cut| report_cut(&cut_metrics, peer, cut)));
            let io = framing::Framed::new(stream, verdicts.clone(), limits).reporting_cuts(report);
            // The forwarding fields' client part, once per connection.
            let client = Arc::new(ClientAddress::new(peer));
            let service = hyper::service::service_fn(move |req| {
                // Taken in call order: hyper calls the service once per request, in the order of
                // the heads.
                let verdict = verdicts.next();
                let answered = verdicts.answered();
                let shared = Arc::clone(&shared);
                let client = Arc::clone(&client);
                async move {
                    let response = shared.handle(req, peer, &client, verdict).await;
                    Ok::<_, Infallible>(response.map(|body| Body::new(framing::Tracked::new(body, answered))))
                }
            });
            let conn = graceful.watch(http.serve_connection(TokioIo::new(io), service));
            tokio::spawn(async move {
                match conn.await {
                    // hyper refuses a head over its buffer (the head limit) with 431 itself.
                    Err(e) if e.is_parse_too_large() => {
                        report_cut(&metrics, peer, framing::Cut::HeadTooLarge)
                    }
                    Err(e) => {
                        tracing::debug!(target: GATEWAY_TRACING_TARGET, %peer, error = %e, "connection ended")
                    }
                    Ok(()) => {}
                }
                drop(open);
                drop(slot);
            });
        }
        drop(listener);
        shared.gateway.metrics.draining.store(true, std::sync::atomic::Ordering::Relaxed);
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
    service: BearerService<Inner>,
    /// The paths of the two documents (they depend on configuration only, not on the keys), so
    /// that other requests skip building them.
    metadata_paths: Vec<String>,
    /// Set in forward-auth: the subrequest names the original request.
    forward_auth: Option<ForwardAuthConfig>,
    resource_metadata: Arc<str>,
}

/// What the bearer layer lets authenticated requests through to: the upstream, or (forward-auth)
/// the answer with the identity.
#[derive(Clone)]
enum Inner {
    Forward(Forward),
    Authorize(Authorize),
}

impl tower::Service<Request<Body>> for Inner {
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        match self {
            Inner::Forward(f) => {
                let f = f.clone();
                Box::pin(async move { Ok(f.forward(req).await) })
            }
            Inner::Authorize(a) => Box::pin(std::future::ready(Ok(a.answer(req)))),
        }
    }
}

impl Shared {
    /// Answers one request and writes its access-log line.
    async fn handle(
        &self,
        req: Request<hyper::body::Incoming>,
        peer: SocketAddr,
        client: &ClientAddress,
        verdict: framing::Verdict,
    ) -> Response {
        let mut line = AccessLine::start(req.method(), req.uri().path(), peer);
        let (mut response, answered) = self.answer(req, peer, client, verdict, &mut line).await;
        let (outcome, total, upstream) =
            line.finish(&response, answered.as_ref().map(|(o, r)| (*o, r.as_str())));
        self.gateway.metrics.request(outcome, total, upstream);
        if self.forward_auth.is_some() && outcome != Outcome::Served {
            response = for_proxy(response, &self.resource_metadata);
        }
        response
    }

    /// The response, and its outcome and reason when the gateway answered it itself (otherwise
    /// the bearer layer's or the forwarding service's note in the response says).
    async fn answer(
        &self,
        req: Request<hyper::body::Incoming>,
        peer: SocketAddr,
        client: &ClientAddress,
        verdict: framing::Verdict,
        line: &mut AccessLine,
    ) -> (Response, Option<(Outcome, String)>) {
        // (1) Framing (RFC 9112 §6.3), judged on the raw head by `framing::Framed` (hyper has
        // already dropped a `Content-Length` next to a `Transfer-Encoding`): answer and close;
        // the wrapper passes no byte after this head.
        if let framing::Verdict::Refuse(status, text) = verdict {
            tracing::debug!(target: GATEWAY_TRACING_TARGET, %peer, %status, reason = text.trim_end(),
                "request framing refused");
            let mut r = plain(status, text);
            r.headers_mut().insert(CONNECTION, HeaderValue::from_static("close"));
            return (r, Some((Outcome::BadRequest, text.trim_end().to_owned())));
        }
        let (mut parts, body) = req.into_parts();
        // (2) The request target, `Host` and `Connection` as the client sent them (RFC 9112
        // §3.2), before anything is removed or answered.
        if let Err(early) = check_request(&mut parts) {
            tracing::debug!(target: GATEWAY_TRACING_TARGET, %peer, answer = ?early, "request answered by the gateway");
            let outcome = match early {
                Early::OptionsAsterisk => (Outcome::Served, String::new()),
                Early::BadRequest(text) => (Outcome::BadRequest, text.trim_end().to_owned()),
                Early::Connect => (Outcome::BadRequest, "CONNECT is not supported".to_owned()),
            };
            return (early.response(), Some(outcome));
        }
        let subrequest = self.forward_auth.as_ref().is_some_and(|c| names_original(&parts, c));
        if matches!(parts.method, Method::GET | Method::HEAD) && !subrequest {
            if let Some(r) = self.metadata(parts.uri.path()) {
                return (r, Some((Outcome::Served, String::new())));
            }
        }
        if let Some(config) = &self.forward_auth {
            // Forward-auth: the rules apply to the original request the proxy names; nothing is
            // forwarded, so the header rules (3) and (4) have nothing to protect.
            if let Err(why) = to_original(&mut parts, config) {
                let r = refusal(StatusCode::UNAUTHORIZED, "invalid_request", why, &self.resource_metadata);
                return (r, Some((Outcome::BadRequest, why.to_owned())));
            }
            line.retarget(&parts.method, parts.uri.path());
            return self.authenticate(Request::from_parts(parts, Body::new(body))).await;
        }
        // (3) hop-by-hop, then (4) identity: before authentication, so a `Connection` header
        // cannot name the identity headers added after it.
        remove_hop_by_hop(&mut parts.headers);
        remove_spoofed_identity(&mut parts.headers);
        set_forwarded(&mut parts.headers, client);
        parts.headers.append(VIA, HeaderValue::from_static(VIA_ENTRY));
        self.authenticate(Request::from_parts(parts, Body::new(body))).await
    }

    /// The bearer layer (5), then the inner service.
    async fn authenticate(&self, req: Request<Body>) -> (Response, Option<(Outcome, String)>) {
        let mut service = self.service.clone();
        // `Forward` is always ready; the layer delegates to it.
        let _ = std::future::poll_fn(|cx| tower::Service::poll_ready(&mut service, cx)).await;
        match tower::Service::call(&mut service, req).await {
            Ok(r) => (r, None),
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
