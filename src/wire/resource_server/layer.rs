//! A tower layer that authenticates requests with jwe-mint access tokens (RFC 6750), for axum and
//! any other tower stack whose body is [`axum::body::Body`], and the [`AccessToken`] extractor.
//!
//! The rules (RFC 6750 §2–§3, RFC 9728 §5.1; the MCP authorization spec asks for the same):
//!
//! - The token comes only from `Authorization: Bearer` (§2.1; the scheme is case-insensitive).
//!   A token only in the query (`access_token=`, §2.3) or in a form body (§2.2) counts as no
//!   credentials; a header token *and* a query or form token is 400 `invalid_request` ("more than
//!   one method", §3.1). So a query token never reaches the inner service: such requests are
//!   refused, never rewritten. `;` separates query and form fields too (`?a=1;access_token=x`),
//!   and two `Content-Type` fields are 400 (which one a server behind reads is anyone's guess).
//! - Every 401 and 403 carries `WWW-Authenticate: Bearer resource_metadata="…"` (RFC 9728 §5.1).
//!   No credentials: 401 without an error code (§3.1), with `scope="…"` when the route requires
//!   some. A token that does not open: 401 `error="invalid_token"` with one fixed description,
//!   whatever the reason (a decryption failure looks like any other; the token is never echoed).
//!   A token without the route's scopes: 403 `error="insufficient_scope", scope="…"`.
//! - Keys unavailable ([`Error::KeySource`]): 503, the server's fault, not the token's.
//! - `resource_metadata` is configuration, never derived from `Host` or `X-Forwarded-Host`.
//! - An optional route ([`BearerLayer::optional`]) lets a request without credentials through;
//!   its handler takes `Option<AccessToken>`. Everything else is answered as above.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::response::{IntoResponse, Response};
use http::header::{AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use http::{HeaderValue, Request, StatusCode};

use crate::error::{Error, Result};
use crate::resource_server::{AccessToken, ResourceServer};
use crate::token::Scope;
use crate::wire::transport::ConfigError;

/// Default limit for a `application/x-www-form-urlencoded` body the layer reads to look for a
/// second token (RFC 6750 §2.2), in bytes.
pub const DEFAULT_MAX_FORM_BODY: usize = 64 * 1024;

/// The one `error_description` of every `invalid_token` answer: it says nothing about why.
const INVALID_TOKEN_DESCRIPTION: &str = "the access token is invalid";

/// A tower [`Layer`](tower::Layer) that lets a request through only with a valid access token for
/// this resource server, and puts the [`AccessToken`] in its extensions.
///
/// Cheap to clone; [`BearerLayer::require_scope`] gives a copy for a route that needs scopes. Give
/// each route one layer: each layer opens the token, and a route behind two opens it twice.
///
/// ```
/// # fn demo(rs: jwe_mint::resource_server::ResourceServer) -> jwe_mint::Result<()> {
/// use axum::{routing::get, Router};
/// use jwe_mint::resource_server::AccessToken;
/// use jwe_mint::wire::BearerLayer;
///
/// async fn photos(token: AccessToken) -> String {
///     format!("photos of {}", token.subject())
/// }
///
/// // `resource_metadata` defaults to the RFC 9728 §3.1 URL of `rs.resource()`.
/// let auth = BearerLayer::new(rs)?;
/// let app: Router = Router::new()
///     .route("/photos", get(photos).layer(auth.require_scope("photos.read")?))
///     // One layer per route (each layer opens the token). `route_layer` guards the routes added
///     // before it; unmatched paths stay 404 instead of becoming 401.
///     .merge(Router::new().route("/me", get(|t: AccessToken| async move { t.subject().to_owned() })).route_layer(auth));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct BearerLayer {
    shared: Arc<Shared>,
    /// Scopes the route requires (all of them), space-separated for the `scope` parameter.
    scope: Option<Arc<Scope>>,
    /// A request without credentials passes, without a token ([`BearerLayer::optional`]).
    optional: bool,
}

/// Put in the extensions of a request an optional layer let through without credentials, so that
/// `Option<AccessToken>` can tell "anonymous" from "no layer on this route".
#[derive(Debug, Clone, Copy)]
struct Anonymous;

struct Shared {
    rs: Arc<ResourceServer>,
    resource_metadata: String,
    max_form_body: usize,
}

impl fmt::Debug for BearerLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BearerLayer")
            .field("resource", &self.shared.rs.resource())
            .field("resource_metadata", &self.shared.resource_metadata)
            .field("scope", &self.scope)
            .field("optional", &self.optional)
            .field("max_form_body", &self.shared.max_form_body)
            .finish()
    }
}

impl BearerLayer {
    /// A layer for `rs`, pointing clients at the RFC 9728 §3.1 metadata URL of `rs.resource()`
    /// (see [`protected_resource_metadata_url`](crate::wire::protected_resource_metadata_url)); no
    /// scope required. Refused: a resource that has no such URL.
    pub fn new(rs: impl Into<Arc<ResourceServer>>) -> Result<BearerLayer, ConfigError> {
        let rs = rs.into();
        let resource_metadata = super::metadata::metadata_url(rs.resource())?.to_string();
        check_url(&resource_metadata)?;
        Ok(BearerLayer {
            shared: Arc::new(Shared { rs, resource_metadata, max_form_body: DEFAULT_MAX_FORM_BODY }),
            scope: None,
            optional: false,
        })
    }

    /// Points clients at this metadata URL instead (e.g. when the metadata is served elsewhere).
    /// It must be an absolute `http(s)` URL that can stand in a quoted string
    /// ([`ConfigError::Invalid`] with the option `"resource_metadata"`).
    pub fn with_resource_metadata(self, url: &str) -> Result<BearerLayer, ConfigError> {
        check_url(url)?;
        Ok(self.with_shared(|s| s.resource_metadata = url.to_owned()))
    }

    /// The limit for a `application/x-www-form-urlencoded` body that the layer reads, once the
    /// token has opened, to refuse a second token in it (default [`DEFAULT_MAX_FORM_BODY`]); a
    /// larger form body is 413. Other bodies are never read.
    pub fn with_max_form_body(self, bytes: usize) -> BearerLayer {
        self.with_shared(|s| s.max_form_body = bytes)
    }

    /// A copy of this layer that also requires `scope` (every scope required must be in the
    /// token); `scope` must be an RFC 6749 §3.3 scope token ([`ConfigError::Invalid`] with the
    /// option `"scope"`).
    pub fn require_scope(&self, scope: &str) -> Result<BearerLayer, ConfigError> {
        let added = Scope::from_tokens([scope]).map_err(|_| {
            ConfigError::invalid(
                "scope",
                "a scope is one or more characters of %x21 / %x23-5B / %x5D-7E (RFC 6749 §3.3)",
            )
        })?;
        let mut required = self.scope.as_deref().cloned().unwrap_or_default();
        required.extend(&added);
        Ok(BearerLayer {
            shared: Arc::clone(&self.shared),
            scope: Some(Arc::new(required)),
            optional: self.optional,
        })
    }

    /// A copy of this layer for a route that also serves anonymous requests: a request without
    /// credentials passes without a token, and its handler takes `Option<AccessToken>` (`None`
    /// then). Everything else is as on a required route: a token that does not open is 401
    /// `invalid_token`, a token without the required scopes 403, and a token in the query or a
    /// form body is refused (400 `invalid_request`), so the handler never sees one.
    ///
    /// ```
    /// # fn demo(rs: jwe_mint::resource_server::ResourceServer) -> jwe_mint::Result<()> {
    /// use axum::{routing::get, Router};
    /// use jwe_mint::resource_server::AccessToken;
    /// use jwe_mint::wire::BearerLayer;
    ///
    /// async fn feed(token: Option<AccessToken>) -> String {
    ///     match token {
    ///         Some(t) => format!("the feed of {}", t.subject()),
    ///         None => "the public feed".to_owned(),
    ///     }
    /// }
    ///
    /// let auth = BearerLayer::new(rs)?;
    /// let app: Router = Router::new().route("/feed", get(feed).layer(auth.optional()));
    /// # Ok(()) }
    /// ```
    pub fn optional(&self) -> BearerLayer {
        BearerLayer { shared: Arc::clone(&self.shared), scope: self.scope.clone(), optional: true }
    }

    /// The metadata URL every 401 and 403 names.
    pub fn resource_metadata(&self) -> &str {
        &self.shared.resource_metadata
    }

    /// The scopes this layer requires.
    pub fn required_scopes(&self) -> impl Iterator<Item = &str> {
        self.scope.iter().flat_map(|s| s.iter())
    }

    /// The resource server tokens are opened with.
    pub fn resource_server(&self) -> &ResourceServer {
        &self.shared.rs
    }

    fn with_shared(mut self, change: impl FnOnce(&mut Shared)) -> BearerLayer {
        let mut shared = Shared {
            rs: Arc::clone(&self.shared.rs),
            resource_metadata: self.shared.resource_metadata.clone(),
            max_form_body: self.shared.max_form_body,
        };
        change(&mut shared);
        self.shared = Arc::new(shared);
        self
    }

    fn rejection(&self, kind: RejectionKind) -> BearerRejection {
        BearerRejection {
            kind,
            resource_metadata: Some(self.shared.resource_metadata.clone()),
            scope: self.scope.as_deref().map(Scope::to_string),
            detail: None,
            token: None,
        }
    }

    /// Authenticates `req`: the [`AccessToken`] (none for an anonymous request an optional layer
    /// lets through) and the request (its body re-assembled when the form was read), or the
    /// answer to send instead.
    async fn authenticate(
        &self,
        req: Request<Body>,
    ) -> Result<(Option<AccessToken>, Request<Body>), BearerRejection> {
        let token = match bearer_token(&req).map_err(|k| self.rejection(k))? {
            Some(t) => t,
            None if self.optional => {
                // Anonymous, but a query or form token is refused, never handed on (RFC 6750
                // §2.3 tokens leak through logs and `Referer`).
                const ONLY_HEADER: &str = "the access token is accepted only in the Authorization header";
                if req.uri().query().is_some_and(|q| has_access_token(q.as_bytes())) {
                    return Err(self.rejection(RejectionKind::InvalidRequest(ONLY_HEADER)));
                }
                return Ok((None, self.check_form(req, ONLY_HEADER).await?));
            }
            None => return Err(self.rejection(RejectionKind::MissingToken)),
        };
        if req.uri().query().is_some_and(|q| has_access_token(q.as_bytes())) {
            return Err(
                self.rejection(RejectionKind::InvalidRequest("the access token is sent more than once"))
            );
        }
        // `open_async`: a token signed with an AS key this RS has not seen yet waits for the
        // source's (rate-limited, shared) refetch, so a rotated-in AS key works on its first token.
        let token = self.shared.rs.open_async(token).await.map_err(|e| {
            let mut rejection = self.rejection(classify(&e));
            rejection.detail = Some(e.to_string().into());
            rejection
        })?;
        let req = self.check_form(req, "the access token is sent more than once").await?;
        if let Some(scope) = &self.scope {
            if !scope.iter().all(|s| token.has_scope(s)) {
                let mut rejection = self.rejection(RejectionKind::InsufficientScope);
                rejection.token = Some(token);
                return Err(rejection);
            }
        }
        Ok((Some(token), req))
    }

    /// A form body (RFC 6750 §2.2) with an `access_token` field is 400 (`refusal` says why).
    async fn check_form(
        &self,
        req: Request<Body>,
        refusal: &'static str,
    ) -> Result<Request<Body>, BearerRejection> {
        let mut types = req.headers().get_all(CONTENT_TYPE).iter();
        let (Some(content_type), None) = (types.next(), types.next()) else {
            if req.headers().contains_key(CONTENT_TYPE) {
                // RFC 9110 §8.3: one media type. Servers behind differ on which of two they take,
                // so the layer cannot know whether the body is a form.
                return Err(
                    self.rejection(RejectionKind::InvalidRequest("more than one Content-Type header"))
                );
            }
            return Ok(req);
        };
        // A list (`text/plain, application/x-www-form-urlencoded`) is invalid, and some servers
        // take its last element: the body is read as a form if any element is one. Judged on the
        // bytes: a non-ASCII byte in a parameter (`charset=\xe9`) does not make a form no form.
        let is_form = content_type.as_bytes().split(|&b| b == b',').any(|t| {
            t.split(|&b| b == b';')
                .next()
                .is_some_and(|m| m.trim_ascii().eq_ignore_ascii_case(b"application/x-www-form-urlencoded"))
        });
        if !is_form {
            return Ok(req);
        }
        let (parts, body) = req.into_parts();
        let bytes = axum::body::to_bytes(body, self.shared.max_form_body).await.map_err(|e| {
            let too_large =
                std::error::Error::source(&e).is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
            if too_large {
                self.rejection(RejectionKind::FormTooLarge)
            } else {
                self.rejection(RejectionKind::InvalidRequest("the request body could not be read"))
            }
        })?;
        // The bytes, not their UTF-8 reading: a body with one invalid byte is still a form to the
        // servers behind, which decode leniently.
        if has_access_token(&bytes) {
            return Err(self.rejection(RejectionKind::InvalidRequest(refusal)));
        }
        Ok(Request::from_parts(parts, Body::from(bytes)))
    }
}

/// The `Authorization: Bearer` token, `None` when the request has no Bearer credentials (another
/// scheme counts as none), 400 when they are malformed or repeated.
fn bearer_token(req: &Request<Body>) -> Result<Option<&str>, RejectionKind> {
    let malformed = || RejectionKind::InvalidRequest("malformed Authorization header");
    let mut values = req.headers().get_all(AUTHORIZATION).iter();
    let Some(value) = values.next() else { return Ok(None) };
    if values.next().is_some() {
        return Err(RejectionKind::InvalidRequest("more than one Authorization header"));
    }
    let value = value.to_str().map_err(|_| malformed())?;
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Ok(None);
    }
    // credentials = "Bearer" 1*SP b64token (RFC 6750 §2.1).
    let token = rest.trim_start_matches(' ').trim_end_matches([' ', '\t']);
    let body = token.trim_end_matches('=');
    let b64token = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/');
    if body.is_empty() || !body.bytes().all(b64token) {
        return Err(malformed());
    }
    Ok(Some(token))
}

/// How a failure to open a token is answered: keys unavailable is the server's fault (503); every
/// other reason is one `invalid_token` (RFC 6750 §3.1), so a decryption failure looks like an
/// expired token. [`BearerRejection::detail`] and the audit log (`jwe_mint::audit`) have the reason.
fn classify(e: &Error) -> RejectionKind {
    match e {
        Error::KeySource(_) => RejectionKind::KeysUnavailable,
        _ => RejectionKind::InvalidToken,
    }
}

/// Whether a form-encoded string (a query, a form body) has an `access_token` field. `;`
/// separates fields too: HTML 4 recommended it for queries, and servers that still split on it
/// (older Python, Perl's CGI) would find `a=1;access_token=x` where `&` alone finds none.
fn has_access_token(form: &[u8]) -> bool {
    form.split(|&b| b == b';').any(|part| url::form_urlencoded::parse(part).any(|(k, _)| k == "access_token"))
}

/// A value that may stand in a quoted string of `WWW-Authenticate` (RFC 9110 §5.6.4) without
/// escaping, and an absolute `http(s)` URL.
pub(crate) fn check_url(url: &str) -> Result<(), ConfigError> {
    let refused = |reason: &str| ConfigError::invalid("resource_metadata", reason);
    let parsed = url::Url::parse(url).map_err(|_| refused("resource_metadata must be an absolute URL"))?;
    if !matches!(parsed.scheme(), "https" | "http") {
        return Err(refused("resource_metadata must be an http(s) URL"));
    }
    if !url.bytes().all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\') {
        return Err(refused("resource_metadata must be printable ASCII without quotes or backslashes"));
    }
    Ok(())
}

/// Why a request was refused. Each kind has one status and one answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RejectionKind {
    /// No Bearer credentials in the `Authorization` header (a query or form token counts as
    /// none): 401 without an error code (RFC 6750 §3.1).
    MissingToken,
    /// The request is malformed or sends the token more than once: 400 `invalid_request`.
    InvalidRequest(&'static str),
    /// The token did not open, whatever the reason: 401 `invalid_token`.
    InvalidToken,
    /// The token lacks a scope the route requires: 403 `insufficient_scope`.
    InsufficientScope,
    /// The keys needed to open tokens are unavailable ([`Error::KeySource`]): 503.
    KeysUnavailable,
    /// A form body larger than the layer reads: 413.
    FormTooLarge,
    /// A handler asked for an [`AccessToken`] (or `Option<AccessToken>`) on a route without a
    /// [`BearerLayer`]: 500.
    NotBehindLayer,
}

/// The answer to a refused request (see [`RejectionKind`]); an axum [`IntoResponse`].
///
/// The response it turns into carries a copy of it in its extensions, so that a server's own
/// access log or metrics can tell why a request was refused
/// (`response.extensions().get::<BearerRejection>()`); nothing of it beyond the RFC 6750 answer
/// is sent to the client.
#[derive(Debug, Clone)]
pub struct BearerRejection {
    kind: RejectionKind,
    resource_metadata: Option<String>,
    scope: Option<String>,
    /// Why the token did not open: for the server's log only (the client gets one
    /// `invalid_token`, so a decryption failure looks like an expired token).
    detail: Option<Arc<str>>,
    /// The token that opened but lacked a required scope.
    token: Option<AccessToken>,
}

impl BearerRejection {
    fn bare(kind: RejectionKind) -> BearerRejection {
        BearerRejection { kind, resource_metadata: None, scope: None, detail: None, token: None }
    }

    /// Why.
    pub fn kind(&self) -> RejectionKind {
        self.kind
    }

    /// Why the token did not open (expired, wrong audience, did not decrypt, keys unavailable…),
    /// for the server's own log; `None` when no token was opened. Never sent to the client, and
    /// never the token itself.
    pub fn detail(&self) -> Option<&str> {
        self.detail.as_deref()
    }

    /// The token, when it opened but lacked a scope the route requires
    /// ([`RejectionKind::InsufficientScope`]): who was refused.
    pub fn access_token(&self) -> Option<&AccessToken> {
        self.token.as_ref()
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self.kind {
            RejectionKind::MissingToken | RejectionKind::InvalidToken => StatusCode::UNAUTHORIZED,
            RejectionKind::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            RejectionKind::InsufficientScope => StatusCode::FORBIDDEN,
            RejectionKind::KeysUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            RejectionKind::FormTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            RejectionKind::NotBehindLayer => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The RFC 6750 §3.1 error code and description, if the answer has one.
    fn error(&self) -> Option<(&'static str, &'static str)> {
        match self.kind {
            RejectionKind::InvalidRequest(d) => Some(("invalid_request", d)),
            RejectionKind::InvalidToken => Some(("invalid_token", INVALID_TOKEN_DESCRIPTION)),
            RejectionKind::InsufficientScope => {
                Some(("insufficient_scope", "the access token lacks a scope this resource requires"))
            }
            _ => None,
        }
    }

    /// The `WWW-Authenticate` value (RFC 6750 §3), for 400, 401 and 403.
    fn challenge(&self) -> Option<String> {
        if !matches!(
            self.status(),
            StatusCode::BAD_REQUEST | StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
        ) {
            return None;
        }
        let mut params = Vec::new();
        if let Some((code, description)) = self.error() {
            params.push(format!("error=\"{code}\""));
            params.push(format!("error_description=\"{description}\""));
        }
        // `scope` on a missing token (RFC 6750 §3, MCP) and on insufficient_scope (§3.1).
        if matches!(self.kind, RejectionKind::MissingToken | RejectionKind::InsufficientScope) {
            if let Some(scope) = &self.scope {
                params.push(format!("scope=\"{scope}\""));
            }
        }
        if let Some(url) = &self.resource_metadata {
            params.push(format!("resource_metadata=\"{url}\""));
        }
        Some(if params.is_empty() { "Bearer".to_owned() } else { format!("Bearer {}", params.join(", ")) })
    }
}

impl fmt::Display for BearerRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.kind, self.error()) {
            (_, Some((code, description))) => write!(f, "{code}: {description}"),
            (RejectionKind::MissingToken, _) => f.write_str("no access token"),
            (RejectionKind::KeysUnavailable, _) => f.write_str("authorization keys unavailable"),
            (RejectionKind::FormTooLarge, _) => f.write_str("form body too large"),
            _ => f.write_str("the route is not behind a BearerLayer"),
        }
    }
}

impl std::error::Error for BearerRejection {}

impl IntoResponse for BearerRejection {
    /// The RFC 6750 answer, with a copy of `self` in the response's extensions.
    fn into_response(self) -> Response {
        let mut response = match self.error() {
            Some((code, description)) => {
                let body = serde_json::json!({ "error": code, "error_description": description });
                let mut r = Response::new(Body::from(body.to_string()));
                r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                r
            }
            None => Response::new(Body::empty()),
        };
        *response.status_mut() = self.status();
        // Every part was checked to be visible ASCII without quotes when configured.
        if let Some(value) = self.challenge().and_then(|c| HeaderValue::from_str(&c).ok()) {
            response.headers_mut().insert(WWW_AUTHENTICATE, value);
        }
        response.extensions_mut().insert(self);
        response
    }
}

impl<S> tower::Layer<S> for BearerLayer {
    type Service = BearerService<S>;

    fn layer(&self, inner: S) -> BearerService<S> {
        BearerService { layer: self.clone(), inner }
    }
}

/// The service [`BearerLayer`] wraps around an inner service.
#[derive(Clone, Debug)]
pub struct BearerService<S> {
    layer: BearerLayer,
    inner: S,
}

impl<S> tower::Service<Request<Body>> for BearerService<S>
where
    S: tower::Service<Request<Body>, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        // The clone that was polled ready serves this request (tower's usual pattern).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let layer = self.layer.clone();
        Box::pin(async move {
            match layer.authenticate(req).await {
                Ok((token, mut req)) => {
                    if let Some(token) = token {
                        req.extensions_mut().insert(token);
                    } else {
                        req.extensions_mut().insert(Anonymous);
                    }
                    inner.call(req).await
                }
                Err(rejection) => Ok(rejection.into_response()),
            }
        })
    }
}

impl<S: Send + Sync> FromRequestParts<S> for AccessToken {
    type Rejection = BearerRejection;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<AccessToken>()
            .cloned()
            .ok_or_else(|| BearerRejection::bare(RejectionKind::NotBehindLayer))
    }
}

/// `Option<AccessToken>`: `None` for a request an optional layer ([`BearerLayer::optional`]) let
/// through without credentials. On a route without a [`BearerLayer`] it is a 500, as for
/// [`AccessToken`]: a missing layer never reads as "anonymous".
impl<S: Send + Sync> OptionalFromRequestParts<S> for AccessToken {
    type Rejection = BearerRejection;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        if let Some(token) = parts.extensions.get::<AccessToken>() {
            return Ok(Some(token.clone()));
        }
        if parts.extensions.get::<Anonymous>().is_some() {
            return Ok(None);
        }
        Err(BearerRejection::bare(RejectionKind::NotBehindLayer))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwk::{Curve, Jwk, JwkSet, KeySourceError};

    #[test]
    fn key_source_failures_are_503_and_every_other_failure_one_invalid_token() {
        let unavailable = Error::KeySource(KeySourceError::Unavailable {
            location: "x".into(),
            reason: "down".into(),
            source: None,
        });
        let none_usable =
            Error::KeySource(KeySourceError::NoUsableKey { location: "x".into(), reason: "sig".into() });
        assert_eq!(classify(&unavailable), RejectionKind::KeysUnavailable);
        assert_eq!(classify(&none_usable), RejectionKind::KeysUnavailable);
        assert_eq!(BearerRejection::bare(classify(&unavailable)).status(), StatusCode::SERVICE_UNAVAILABLE);
        for e in [
            Error::DecryptionFailed,
            Error::InvalidSignature,
            Error::malformed("x"),
            Error::NoMatchingKey("k".into()),
            Error::InvalidToken(crate::error::TokenRejection::Expired),
        ] {
            assert_eq!(classify(&e), RejectionKind::InvalidToken, "{e}");
        }
    }

    #[test]
    fn scope_tokens_are_checked() {
        let key = Jwk::generate(Curve::P256).unwrap();
        let rs = ResourceServer::builder("https://api.example.com", "https://as.example.com")
            .decryption_keys(JwkSet::new(vec![key.clone()]))
            .issuer_keys(JwkSet::new(vec![key.to_public().unwrap()]))
            .build()
            .unwrap();
        let layer = BearerLayer::new(Arc::new(rs)).unwrap();
        let both = layer.require_scope("photos.read").unwrap().require_scope("photos.write").unwrap();
        let again = both.require_scope("photos.read").unwrap();
        assert_eq!(again.required_scopes().collect::<Vec<_>>(), ["photos.read", "photos.write"]);
        for bad in ["", "a b", "a\"b", "a\\b", "é"] {
            let e = layer.require_scope(bad).unwrap_err();
            assert!(matches!(e, ConfigError::Invalid { option: "scope", .. }), "{bad:?}: {e:?}");
        }
    }
}
