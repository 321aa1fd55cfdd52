//! Forwarding to the upstream: the inner service behind the bearer layer, which sets the identity
//! headers of the opened token (rule 5) and streams the request to the upstream and its response
//! back; an upstream that cannot be reached is 502.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, TRAILER, VIA, WWW_AUTHENTICATE};
use http::{HeaderValue, Request, StatusCode, Uri, Version};
use hyper::body::{Frame, SizeHint};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;

use super::access::{Outcome, Proxied};
use super::config::Upstream;
use super::headers::{response_headers, IdentityCache, ResponseTrailers, VIA_ENTRY};
use crate::resource_server::AccessToken;
use crate::wire::tracing_targets::GATEWAY_TRACING_TARGET;

/// The request header carrying a DPoP proof (RFC 9449 §4.1).
const DPOP: &str = "dpop";

/// The inner service behind the [`BearerLayer`](crate::wire::BearerLayer): adds the identity headers and forwards.
#[derive(Clone)]
pub(super) struct Forward {
    pub(super) client: Client<HttpsConnector<HttpConnector>, Body>,
    pub(super) upstream: Arc<Upstream>,
    pub(super) forward_token: bool,
    /// The identity headers, `X-Auth-Claims` included when configured.
    pub(super) identity: Arc<IdentityCache>,
    pub(super) resource_metadata: Arc<str>,
}

impl Forward {
    /// Forwards an authenticated request (the bearer layer put its token in the extensions).
    pub(super) async fn forward(self, req: Request<Body>) -> Response {
        let (mut parts, body) = req.into_parts();
        let Some(token) = parts.extensions.remove::<AccessToken>() else {
            // The layer always puts it there; never forward without it.
            return plain(StatusCode::INTERNAL_SERVER_ERROR, "not authenticated\n");
        };
        if !self.forward_token {
            // The proof goes with the token (RFC 9449 §7.1): it names the gateway's URI, not the
            // upstream's, and is of no use there without the token.
            parts.headers.remove(AUTHORIZATION);
            parts.headers.remove(DPOP);
        }
        // Request trailers never reach the upstream (see `WithoutTrailers`), so neither does the
        // field announcing them.
        parts.headers.remove(TRAILER);
        let note = |outcome, reason: Option<&str>, upstream_time| Proxied {
            token: token.clone(),
            outcome,
            reason: reason.map(str::to_owned),
            upstream_time,
        };
        // (5) The identity, from the opened token only.
        let identity = self.identity.set(&mut parts.headers, &token);
        if identity.is_err() {
            let reason = "the token's identity cannot be a header value";
            return noted(self.unrepresentable(), note(Outcome::InvalidToken, Some(reason), None));
        }
        if !self.upstream.base_path.is_empty() && leaves_base(parts.uri.path()) {
            // The upstream would resolve `/api/../admin` to `/admin`: out of the part of it this
            // gateway exposes (RFC 3986 §5.2.4; `%2e` is a dot to it, `%2f` may be a slash).
            let why = "the path leaves the upstream's base path";
            let r =
                plain(StatusCode::BAD_REQUEST, "the path may not contain dot segments or encoded slashes\n");
            return noted(r, note(Outcome::BadRequest, Some(why), None));
        }
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let uri = format!("{}{}{}", self.upstream.origin, self.upstream.base_path, path);
        parts.uri = match uri.parse::<Uri>() {
            Ok(u) => u,
            Err(_) => {
                let r = plain(StatusCode::BAD_REQUEST, "bad request target\n");
                return noted(r, note(Outcome::BadRequest, Some("bad request target"), None));
            }
        };
        parts.version = Version::HTTP_11;
        // `Host` passes through; without one (HTTP/1.0), the client sets the upstream's.
        let body_failed = Arc::new(AtomicBool::new(false));
        let body = Body::new(WithoutTrailers(body, Arc::clone(&body_failed)));
        let asked = Instant::now();
        match self.client.request(Request::from_parts(parts, body)).await {
            Ok(response) => {
                let (mut parts, body) = response.into_parts();
                let trailers = response_headers(&mut parts.headers);
                parts.headers.append(VIA, HeaderValue::from_static(VIA_ENTRY));
                let r = Response::from_parts(parts, Body::new(CleanTrailers { body, trailers }));
                noted(r, note(Outcome::Forwarded, None, Some(asked.elapsed())))
            }
            Err(e) if body_failed.load(Ordering::Relaxed) => {
                // The client's body broke off (a bad chunk, the body timeout): the client's
                // doing, not an upstream outage.
                let why = format!("the request body failed: {}", error_chain(&e));
                tracing::debug!(target: GATEWAY_TRACING_TARGET, error = %why, "request body failed");
                let r = plain(StatusCode::BAD_REQUEST, "the request body could not be read\n");
                noted(r, note(Outcome::BadRequest, Some(&why), Some(asked.elapsed())))
            }
            Err(e) => {
                // The causes (refused connection, TLS alert, untrusted certificate) name no
                // header, so no token.
                let why = format!("upstream unavailable: {}", error_chain(&e));
                tracing::warn!(target: GATEWAY_TRACING_TARGET, upstream = %self.upstream.origin,
                    error = %error_chain(&e), "upstream request failed");
                let r = plain(StatusCode::BAD_GATEWAY, "the upstream server is unavailable\n");
                noted(r, note(Outcome::UpstreamError, Some(&why), Some(asked.elapsed())))
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

/// A request body without its trailer section. A client can put any field there (RFC 9112
/// §7.1.2), `X-Auth-Subject` or `X-Forwarded-For` included, after the gateway has set its own;
/// upstreams that merge trailers into headers (some CGI bridges, Apache's `MergeTrailers On`)
/// would take the client's word for who it is. The data frames pass unchanged.
///
/// It also notes whether the client's body failed (a broken chunk, a body timeout), so that such
/// a request is not counted as the upstream's failure.
struct WithoutTrailers<B>(B, Arc<AtomicBool>);

impl<B> hyper::body::Body for WithoutTrailers<B>
where
    B: hyper::body::Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        loop {
            match Pin::new(&mut self.0).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) if frame.is_trailers() => continue,
                Poll::Ready(Some(Err(e))) => {
                    self.1.store(true, Ordering::Relaxed);
                    return Poll::Ready(Some(Err(e)));
                }
                other => return other,
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.0.size_hint()
    }
}

/// A response body whose trailer section loses what must not reach the client (hop-by-hop
/// fields, RFC 9110 §7.6.1, and fields no trailer may carry, §6.5.1): a client or a proxy in front
/// that merges trailers into the header section would otherwise take an upstream's
/// `Connection: close` or `Set-Cookie` from there. The data frames pass unchanged.
struct CleanTrailers<B> {
    body: B,
    trailers: ResponseTrailers,
}

impl<B> hyper::body::Body for CleanTrailers<B>
where
    B: hyper::body::Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.get_mut();
        match std::task::ready!(Pin::new(&mut this.body).poll_frame(cx)) {
            Some(Ok(frame)) => match frame.into_trailers() {
                Ok(mut fields) => {
                    this.trailers.clean(&mut fields);
                    Poll::Ready(Some(Ok(Frame::trailers(fields))))
                }
                Err(data) => Poll::Ready(Some(Ok(data))),
            },
            other => Poll::Ready(other),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// Whether `path` has a dot segment (`.`, `..`, raw or percent-encoded) or an encoded slash or
/// backslash, or a raw backslash: what could take a request out of the upstream's base path.
fn leaves_base(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    if lower.contains("%2f") || lower.contains("%5c") || lower.contains('\\') {
        return true;
    }
    lower.split('/').any(|segment| matches!(segment.replace("%2e", ".").as_str(), "." | ".."))
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

/// `response` with `note` in its extensions, for the access log and the metrics.
fn noted(mut response: Response, note: Proxied) -> Response {
    response.extensions_mut().insert(note);
    response
}

/// A plain-text answer.
pub(super) fn plain(status: StatusCode, text: &'static str) -> Response {
    let mut r = Response::new(Body::from(text));
    *r.status_mut() = status;
    r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    r
}

#[cfg(test)]
mod tests {
    use super::leaves_base;

    #[test]
    fn paths_that_could_leave_the_base_path_are_seen_however_encoded() {
        for bad in [
            "/..",
            "/../admin",
            "/a/../../b",
            "/%2e%2e/admin",
            "/.%2E/x",
            "/%2E./x",
            "/./a",
            "/..%2fadmin",
            "/a%5C..",
            "/a\\b",
        ] {
            assert!(leaves_base(bad), "{bad}");
        }
        for good in ["/", "/a/b", "/a..b/c", "/.well-known/x", "/a/...", "/%2e%2e%2e", "/a%20b"] {
            assert!(!leaves_base(good), "{good}");
        }
    }
}
