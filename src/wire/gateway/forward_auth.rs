//! Forward-auth: the gateway answering a proxy's authorization subrequests instead of forwarding
//! (nginx `auth_request`, Caddy `forward_auth`, Traefik ForwardAuth, Envoy HTTP `ext_authz`).
//!
//! The original request's method and target come from the proxy's headers: `X-Original-Method` /
//! `X-Original-URI` (nginx), else `X-Forwarded-Method` / `X-Forwarded-Uri` (Traefik, Caddy), else
//! the subrequest's own method and path with the configured prefix removed (Envoy sends the
//! original method and path after its `path_prefix`). The credentials are the subrequest's
//! `Authorization`. These headers are trusted: the listener must be reachable only by the proxy.
//! The resource's origin is configuration, never taken from a forwarded header.
//!
//! Answers, shaped for what proxies pass on: 200 with `X-Auth-Subject`, `X-Auth-Client-Id` and
//! `X-Auth-Scope` always present (empty when the token lacks one: Caddy 2.6 copies an absent
//! header as a literal placeholder) and `X-Auth-Claims` when asked for (a large header turns into
//! a 500 behind nginx's default buffers); 401 or 403 with one `WWW-Authenticate` line (nginx
//! passes only the first, and only on 401); a request the gateway would answer 400 is 401
//! `invalid_request` here, since nginx turns any status but 2xx, 401 and 403 into a 500.

use axum::body::Body;
use axum::response::Response;
use http::header::WWW_AUTHENTICATE;
use http::{HeaderValue, Method, Request, StatusCode, Uri};

use super::access::{Outcome, Proxied};
use super::forward::plain;
use super::headers::IdentityCache;
use crate::resource_server::AccessToken;

const X_ORIGINAL_METHOD: &str = "x-original-method";
const X_ORIGINAL_URI: &str = "x-original-uri";
const X_FORWARDED_METHOD: &str = "x-forwarded-method";
const X_FORWARDED_URI: &str = "x-forwarded-uri";

/// Where forward-auth reads the request it judges: whichever source it reads is trusted, so the
/// proxy must set it and never pass a client's copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum OriginalRequest {
    /// `X-Original-Method` / `X-Original-URI` when present, else `X-Forwarded-Method` /
    /// `X-Forwarded-Uri`, else the subrequest's own method and path. A subrequest that carries
    /// both header families is refused: a proxy sets one, so the other came from the client (a
    /// client's `X-Original-URI` passed through Caddy would otherwise choose what is judged).
    #[default]
    Auto,
    /// Only `X-Original-Method` / `X-Original-URI` (nginx `auth_request`); required.
    XOriginal,
    /// Only `X-Forwarded-Method` / `X-Forwarded-Uri` (Traefik ForwardAuth, Caddy
    /// `forward_auth`); required.
    XForwarded,
    /// Only the subrequest's own method and path, after the path prefix (Envoy HTTP `ext_authz`).
    Path,
}

/// How a subrequest names its original request.
#[derive(Debug, Clone, Default)]
pub(super) struct ForwardAuthConfig {
    /// Which source is read.
    pub(super) source: OriginalRequest,
    /// Removed from the front of the subrequest's own path when that is the source (Envoy's
    /// `path_prefix`); empty: none.
    pub(super) path_prefix: String,
}

/// Whether the request is a subrequest naming an original request (then it is never answered
/// with one of the documents the gateway serves itself), rather than the proxy routing a
/// document request here.
pub(super) fn names_original(parts: &http::request::Parts, config: &ForwardAuthConfig) -> bool {
    let has = |name| parts.headers.contains_key(name);
    match config.source {
        OriginalRequest::Auto => has(X_ORIGINAL_URI) || has(X_FORWARDED_URI),
        OriginalRequest::XOriginal => has(X_ORIGINAL_URI),
        OriginalRequest::XForwarded => has(X_FORWARDED_URI),
        // Envoy asks under the prefix; without a prefix every request is a subrequest, so no
        // document is ever served as an authorization answer.
        OriginalRequest::Path => {
            config.path_prefix.is_empty() || under_prefix(parts.uri.path(), &config.path_prefix)
        }
    }
}

/// Whether `path` is `prefix` or below it (`/ext_authz`, `/ext_authz/x`; not `/ext_authzx`).
fn under_prefix(path: &str, prefix: &str) -> bool {
    path.strip_prefix(prefix).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// Turns the subrequest into the original request as the proxy describes it: its method and
/// target replaced; the headers (credentials included) kept. The error is the reason to answer
/// 401 `invalid_request`.
pub(super) fn to_original(
    parts: &mut http::request::Parts,
    config: &ForwardAuthConfig,
) -> Result<(), &'static str> {
    let header = |name: &str| -> Result<Option<String>, &'static str> {
        let mut values = parts.headers.get_all(name).iter();
        match (values.next(), values.next()) {
            (None, _) => Ok(None),
            (Some(v), None) => {
                v.to_str().map(|s| Some(s.to_owned())).map_err(|_| "an original-request header is not text")
            }
            (Some(_), Some(_)) => Err("an original-request header is repeated"),
        }
    };
    let own_path = || -> Result<(Option<String>, String), &'static str> {
        let own = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let rest = own.strip_prefix(config.path_prefix.as_str()).ok_or("the path is outside the prefix")?;
        // `/ext_authz/x` and `/ext_authz?q` are under the prefix `/ext_authz`; `/ext_authzx` is not.
        match rest.chars().next() {
            None => Ok((None, "/".to_owned())),
            Some('/') => Ok((None, rest.to_owned())),
            Some('?') => Ok((None, format!("/{rest}"))),
            Some(_) => Err("the path is outside the prefix"),
        }
    };
    let original = || Ok::<_, &'static str>((header(X_ORIGINAL_METHOD)?, header(X_ORIGINAL_URI)?));
    let forwarded = || Ok::<_, &'static str>((header(X_FORWARDED_METHOD)?, header(X_FORWARDED_URI)?));
    const MISSING: &str = "the proxy did not name the original request";
    let (method, target) = match config.source {
        OriginalRequest::Auto => match (original()?, forwarded()?) {
            ((_, Some(_)), (_, Some(_))) => return Err("the original request is named twice"),
            ((method, Some(uri)), _) | (_, (method, Some(uri))) => (method, uri),
            _ => own_path()?,
        },
        OriginalRequest::XOriginal => match original()? {
            (method, Some(uri)) => (method, uri),
            _ => return Err(MISSING),
        },
        OriginalRequest::XForwarded => match forwarded()? {
            (method, Some(uri)) => (method, uri),
            _ => return Err(MISSING),
        },
        OriginalRequest::Path => own_path()?,
    };
    if let Some(method) = method {
        parts.method =
            Method::from_bytes(method.as_bytes()).map_err(|_| "the original method is not a method")?;
    }
    let uri: Uri = target.parse().map_err(|_| "the original URI does not parse")?;
    // Only the path and query matter to the rules; an absolute form keeps them.
    let path_and_query = uri.path_and_query().ok_or("the original URI has no path")?;
    if !path_and_query.as_str().starts_with('/') {
        return Err("the original URI has no path");
    }
    parts.uri = Uri::from_maybe_shared(bytes::Bytes::copy_from_slice(path_and_query.as_str().as_bytes()))
        .map_err(|_| "the original URI does not parse")?;
    for name in [X_ORIGINAL_METHOD, X_ORIGINAL_URI, X_FORWARDED_METHOD, X_FORWARDED_URI] {
        parts.headers.remove(name);
    }
    Ok(())
}

/// The inner service behind the bearer layer in forward-auth: the identity in the answer's
/// headers instead of a forwarded request.
#[derive(Clone)]
pub(super) struct Authorize {
    /// The identity headers, `X-Auth-Dpop-Jkt` always present (empty for an unbound token).
    pub(super) identity: std::sync::Arc<IdentityCache>,
    pub(super) resource_metadata: std::sync::Arc<str>,
}

impl Authorize {
    /// The answer to an authenticated subrequest (the bearer layer put its token in the
    /// extensions).
    pub(super) fn answer(&self, mut req: Request<Body>) -> Response {
        let Some(token) = req.extensions_mut().remove::<AccessToken>() else {
            // The layer always puts it there; never authorize without it.
            return plain(StatusCode::INTERNAL_SERVER_ERROR, "not authenticated\n");
        };
        let mut response = Response::new(Body::empty());
        let identity = self.identity.set(response.headers_mut(), &token);
        let outcome = if identity.is_ok() {
            (Outcome::Forwarded, None)
        } else {
            response = refusal(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "the access token is invalid",
                &self.resource_metadata,
            );
            (Outcome::InvalidToken, Some("the token's identity cannot be a header value".to_owned()))
        };
        response.extensions_mut().insert(Proxied {
            token,
            outcome: outcome.0,
            reason: outcome.1,
            upstream_time: None,
        });
        response
    }
}

/// A refusal with one RFC 6750 challenge line.
pub(super) fn refusal(
    status: StatusCode,
    code: &str,
    description: &str,
    resource_metadata: &str,
) -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = status;
    let challenge = format!(
        "Bearer error=\"{code}\", error_description=\"{description}\", resource_metadata=\"{resource_metadata}\""
    );
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        r.headers_mut().insert(WWW_AUTHENTICATE, v);
    }
    r
}

/// The layer's answer as a proxy can pass it on: a 400 or 413 becomes 401 (its `invalid_request`
/// challenge kept, or made), every body dropped (the proxy answers with its own), one
/// `WWW-Authenticate` line: the layer's challenges (Bearer and DPoP) joined in one field value in
/// their order, the one carrying the error first (RFC 9110 §11.6.1 allows a list; nginx passes
/// only the first field).
pub(super) fn for_proxy(mut response: Response, resource_metadata: &str) -> Response {
    let status = response.status();
    let challenges: Vec<&str> =
        response.headers().get_all(WWW_AUTHENTICATE).iter().filter_map(|v| v.to_str().ok()).collect();
    if challenges.len() > 1 {
        if let Ok(joined) = HeaderValue::from_str(&challenges.join(", ")) {
            response.headers_mut().insert(WWW_AUTHENTICATE, joined);
        }
    }
    if matches!(status, StatusCode::BAD_REQUEST | StatusCode::PAYLOAD_TOO_LARGE) {
        *response.status_mut() = StatusCode::UNAUTHORIZED;
        if !response.headers().contains_key(WWW_AUTHENTICATE) {
            let made = refusal(
                StatusCode::UNAUTHORIZED,
                "invalid_request",
                "the request is malformed",
                resource_metadata,
            );
            if let Some(v) = made.headers().get(WWW_AUTHENTICATE) {
                response.headers_mut().insert(WWW_AUTHENTICATE, v.clone());
            }
        }
    }
    let (mut parts, _) = response.into_parts();
    parts.headers.remove(http::header::CONTENT_TYPE);
    parts.headers.remove(http::header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(method: &str, uri: &str, headers: &[(&str, &str)]) -> http::request::Parts {
        let mut b = Request::builder().method(method).uri(uri);
        for (n, v) in headers {
            b = b.header(*n, *v);
        }
        b.body(()).unwrap().into_parts().0
    }

    #[test]
    fn the_original_request_comes_from_the_proxys_headers_in_order() {
        let config = ForwardAuthConfig::default();
        let mut p =
            parts("GET", "/_auth", &[("x-original-method", "POST"), ("x-original-uri", "/photos?a=1")]);
        to_original(&mut p, &config).unwrap();
        assert_eq!((p.method.as_str(), p.uri.to_string().as_str()), ("POST", "/photos?a=1"));
        assert!(!p.headers.contains_key("x-original-uri"));

        let mut p = parts("GET", "/auth", &[("x-forwarded-method", "DELETE"), ("x-forwarded-uri", "/p/1")]);
        to_original(&mut p, &config).unwrap();
        assert_eq!((p.method.as_str(), p.uri.path()), ("DELETE", "/p/1"));

        // An absolute form keeps its path and query.
        let mut p = parts("GET", "/a", &[("x-original-uri", "https://x.example/q?b")]);
        to_original(&mut p, &config).unwrap();
        assert_eq!(p.uri.to_string(), "/q?b");
        // Both families: one came from the client.
        let both = [("x-original-uri", "/yes"), ("x-forwarded-uri", "/no")];
        assert_eq!(
            to_original(&mut parts("GET", "/a", &both), &config),
            Err("the original request is named twice")
        );
        // One source chosen: only it is read, and it is required.
        let only = |source| ForwardAuthConfig { source, path_prefix: String::new() };
        let mut p = parts("GET", "/a", &both);
        to_original(&mut p, &only(OriginalRequest::XForwarded)).unwrap();
        assert_eq!(p.uri.path(), "/no");
        let mut p = parts("GET", "/a", &both);
        to_original(&mut p, &only(OriginalRequest::XOriginal)).unwrap();
        assert_eq!(p.uri.path(), "/yes");
        let forwarded_only = [("x-forwarded-uri", "/f")];
        assert!(
            to_original(&mut parts("GET", "/a", &forwarded_only), &only(OriginalRequest::XOriginal)).is_err()
        );
        let mut p = parts("PATCH", "/own", &both);
        to_original(&mut p, &only(OriginalRequest::Path)).unwrap();
        assert_eq!((p.method.as_str(), p.uri.path()), ("PATCH", "/own"));

        // Envoy: the subrequest's own method and path, after the prefix.
        let envoy = ForwardAuthConfig { path_prefix: "/ext_authz".into(), ..Default::default() };
        let mut p = parts("PUT", "/ext_authz/photos/2?x=1", &[]);
        to_original(&mut p, &envoy).unwrap();
        assert_eq!((p.method.as_str(), p.uri.to_string().as_str()), ("PUT", "/photos/2?x=1"));
        assert!(to_original(&mut parts("GET", "/elsewhere", &[]), &envoy).is_err());
        assert!(to_original(&mut parts("GET", "/ext_authzx/p", &[]), &envoy).is_err());
        let mut p = parts("GET", "/ext_authz?x=1", &[]);
        to_original(&mut p, &envoy).unwrap();
        assert_eq!(p.uri.to_string(), "/?x=1");

        for bad in [
            vec![("x-original-uri", "*")],
            vec![("x-original-uri", "/a"), ("x-original-uri", "/b")],
            vec![("x-original-uri", "/a"), ("x-original-method", "GE T")],
            vec![("x-forwarded-uri", "no path")],
        ] {
            assert!(to_original(&mut parts("GET", "/", &bad), &config).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn refusals_a_proxy_would_turn_into_500_become_401_with_one_challenge() {
        let mut bad = plain(StatusCode::BAD_REQUEST, "x\n");
        bad.headers_mut()
            .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer error=\"invalid_request\""));
        let r = for_proxy(bad, "https://api.example.com/.well-known/oauth-protected-resource");
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(r.headers().get_all(WWW_AUTHENTICATE).iter().count(), 1);
        let r = for_proxy(plain(StatusCode::PAYLOAD_TOO_LARGE, "x\n"), "https://m");
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert!(r.headers()[WWW_AUTHENTICATE].to_str().unwrap().contains("invalid_request"));
        assert_eq!(
            for_proxy(plain(StatusCode::FORBIDDEN, "x\n"), "https://m").status(),
            StatusCode::FORBIDDEN
        );
    }
}
