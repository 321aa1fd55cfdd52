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

use super::dpop::{DpopSettings, DPOP_NONCE};
use crate::dpop::{check_and_remember, DpopRejection, DpopRequest, DpopValidation, NonceSource, ReplayStore};
use crate::error::{Error, Result};
use crate::jwa::SigningAlg;
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
    dpop: DpopSettings,
}

/// The scheme of the request's credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    Bearer,
    /// RFC 9449 §7.1: the token with a proof of possession in the `DPoP` header.
    Dpop,
}

impl fmt::Debug for BearerLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BearerLayer")
            .field("resource", &self.shared.rs.resource())
            .field("resource_metadata", &self.shared.resource_metadata)
            .field("scope", &self.scope)
            .field("optional", &self.optional)
            .field("max_form_body", &self.shared.max_form_body)
            .field("dpop", &self.shared.dpop)
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
        let dpop = DpopSettings::for_resource(rs.resource())?;
        Ok(BearerLayer {
            shared: Arc::new(Shared { rs, resource_metadata, max_form_body: DEFAULT_MAX_FORM_BODY, dpop }),
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

    /// The `htu` base of DPoP proofs (RFC 9449 §4.3 step 9): the request's path is appended to
    /// `url` (default: the origin of the resource). Set it for a resource server mounted under a
    /// prefix its routes do not see, e.g. `https://api.example.com/v1` when `/v1` is stripped
    /// before this layer. `url` is an absolute `http(s)` URL without credentials, query or
    /// fragment ([`ConfigError::Invalid`] naming `"dpop_public_base"`); configuration, never taken
    /// from `Host`.
    pub fn dpop_public_base(self, url: &str) -> Result<BearerLayer, ConfigError> {
        let base = super::dpop::public_base(url)?;
        Ok(self.with_shared(|s| s.dpop.public_base = base))
    }

    /// Where used DPoP proofs are remembered (RFC 9449 §11.1; default: a
    /// [`MemoryReplayStore`](crate::dpop::MemoryReplayStore) of this process, enough for one
    /// server; replicas need one shared store). A store that is full or unavailable refuses the
    /// request with 503: a proof is never accepted unchecked.
    pub fn dpop_replay_store(self, store: Arc<dyn ReplayStore>) -> BearerLayer {
        self.with_shared(|s| s.dpop.store = store)
    }

    /// Checks DPoP proofs with `validation` (its algorithms, `iat` window and size bound; its
    /// nonce requirement is replaced by [`BearerLayer::dpop_nonce`]'s).
    pub fn dpop_validation(self, validation: DpopValidation) -> BearerLayer {
        self.with_shared(|s| s.dpop.set_validation(validation))
    }

    /// Accepts only DPoP-bound tokens presented with a proof (RFC 9449 §7.1): the Bearer scheme
    /// is refused (401 with the DPoP challenge only), and the metadata says
    /// `dpop_bound_access_tokens_required` (RFC 9728 §2).
    pub fn require_dpop(self) -> BearerLayer {
        self.with_shared(|s| s.dpop.required = true)
    }

    /// Requires a server nonce in every DPoP proof (RFC 9449 §9): a proof without the current one
    /// is 401 `use_dpop_nonce` with a `DPoP-Nonce` header, and every answer to a DPoP request
    /// carries the current nonce. Replicas built from one secret accept each other's nonces.
    pub fn dpop_nonce(self, nonces: NonceSource) -> BearerLayer {
        self.with_shared(|s| {
            s.dpop.nonces = Some(nonces);
            let validation = s.dpop.validation.clone();
            s.dpop.set_validation(validation);
        })
    }

    /// How DPoP proofs are checked now (to change one setting with
    /// [`BearerLayer::dpop_validation`]).
    pub fn dpop_validation_settings(&self) -> DpopValidation {
        self.shared.dpop.validation.clone()
    }

    /// Whether only DPoP-bound tokens are accepted ([`BearerLayer::require_dpop`]).
    pub fn requires_dpop(&self) -> bool {
        self.shared.dpop.required
    }

    /// The algorithms DPoP proofs may be signed with (`dpop_signing_alg_values_supported`).
    pub fn dpop_signing_algs(&self) -> &[SigningAlg] {
        self.shared.dpop.validation.algs()
    }

    fn with_shared(mut self, change: impl FnOnce(&mut Shared)) -> BearerLayer {
        let mut shared = Shared {
            rs: Arc::clone(&self.shared.rs),
            resource_metadata: self.shared.resource_metadata.clone(),
            max_form_body: self.shared.max_form_body,
            dpop: self.shared.dpop.clone(),
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
            dpop: Some(Arc::new(DpopChallenge {
                algs: self.shared.dpop.algs.clone(),
                bearer: !self.shared.dpop.required,
                used: false,
                nonce: None,
            })),
        }
    }

    /// A rejection of a request whose credentials used `scheme`: its challenge comes first, and
    /// a DPoP request learns the current nonce.
    fn rejection_for(&self, kind: RejectionKind, scheme: Scheme) -> BearerRejection {
        let mut rejection = self.rejection(kind);
        let nonce = match (&self.shared.dpop.nonces, scheme, kind) {
            (Some(n), Scheme::Dpop, _) | (Some(n), _, RejectionKind::UseDpopNonce) => {
                n.issue(super::dpop::now()).ok()
            }
            _ => None,
        };
        rejection.dpop = Some(Arc::new(DpopChallenge {
            algs: self.shared.dpop.algs.clone(),
            bearer: !self.shared.dpop.required,
            used: scheme == Scheme::Dpop,
            nonce,
        }));
        rejection
    }

    /// Checks the DPoP proof of a request that presents `token` (opened, bound) as `raw`
    /// (RFC 9449 §7.1): the proof names this request's method and URI and the token's hash, is
    /// signed by the token's key, and was never seen before.
    async fn check_proof(
        &self,
        req: &http::request::Parts,
        raw: &str,
        token: &AccessToken,
    ) -> Result<(), BearerRejection> {
        let dpop = &self.shared.dpop;
        let Some(jkt) = token.dpop_jkt() else {
            // RFC 9449 §7.1: the DPoP scheme presents a DPoP-bound token.
            let mut rejection = self.rejection_for(RejectionKind::InvalidToken, Scheme::Dpop);
            rejection.detail = Some("an unbound token presented with the DPoP scheme".into());
            return Err(rejection);
        };
        let htu = dpop.htu(req.uri.path());
        let proofs = super::dpop::proofs(&req.headers);
        let request = DpopRequest::new(proofs.iter().copied(), req.method.as_str(), &htu, super::dpop::now())
            .access_token(raw)
            .bound_to(jkt);
        check_and_remember(&dpop.validation, &request, dpop.store.as_ref()).await.map(|_| ()).map_err(|why| {
            let kind = match why {
                DpopRejection::NonceRequired | DpopRejection::NonceMismatch => RejectionKind::UseDpopNonce,
                DpopRejection::ReplayStoreFull | DpopRejection::ReplayStoreUnavailable => {
                    RejectionKind::DpopReplayStoreUnavailable
                }
                DpopRejection::BadRequestTarget => {
                    RejectionKind::InvalidRequest("the request target is not a valid URI")
                }
                _ => RejectionKind::InvalidDpopProof,
            };
            let mut rejection = self.rejection_for(kind, Scheme::Dpop);
            rejection.detail = Some(format!("DPoP: {why}").into());
            rejection
        })
    }

    /// The `DPoP-Nonce` to send with an answer to a DPoP request, when nonces are required.
    fn fresh_nonce(&self) -> Option<HeaderValue> {
        let nonce = self.shared.dpop.nonces.as_ref()?.issue(super::dpop::now()).ok()?;
        HeaderValue::from_str(&nonce).ok()
    }

    /// Authenticates `req`: the [`AccessToken`] (none for an anonymous request an optional layer
    /// lets through) and the request (its body re-assembled when the form was read), or the
    /// answer to send instead.
    async fn authenticate(
        &self,
        mut req: Request<Body>,
    ) -> Result<(Option<AccessToken>, Request<Body>, Scheme), BearerRejection> {
        // Owned: the request's head moves while the token is in use.
        let (scheme, token) = match credentials(&req).map_err(|k| self.rejection(k))? {
            Some((scheme, token)) => (scheme, token.to_owned()),
            None if self.optional => {
                // Anonymous, but a query or form token is refused, never handed on (RFC 6750
                // §2.3 tokens leak through logs and `Referer`).
                const ONLY_HEADER: &str = "the access token is accepted only in the Authorization header";
                if req.uri().query().is_some_and(|q| has_access_token(q.as_bytes())) {
                    return Err(self.rejection(RejectionKind::InvalidRequest(ONLY_HEADER)));
                }
                return Ok((None, self.check_form(req, ONLY_HEADER).await?, Scheme::Bearer));
            }
            None => return Err(self.rejection(RejectionKind::MissingToken)),
        };
        if scheme == Scheme::Bearer && self.shared.dpop.required {
            // Refused before the token is opened: only the DPoP scheme is accepted.
            return Err(self.rejection_for(RejectionKind::DpopRequired, scheme));
        }
        if req.uri().query().is_some_and(|q| has_access_token(q.as_bytes())) {
            return Err(self.rejection_for(
                RejectionKind::InvalidRequest("the access token is sent more than once"),
                scheme,
            ));
        }
        // `open_async`: a token signed with an AS key this RS has not seen yet waits for the
        // source's (rate-limited, shared) refetch, so a rotated-in AS key works on its first token.
        let opened = self.shared.rs.open_async(&token).await.map_err(|e| {
            let mut rejection = self.rejection_for(classify(&e), scheme);
            rejection.detail = Some(e.to_string().into());
            rejection
        })?;
        match scheme {
            Scheme::Dpop => {
                // The head alone crosses the await (a body is not `Sync`).
                let (parts, body) = req.into_parts();
                self.check_proof(&parts, &token, &opened).await?;
                req = Request::from_parts(parts, body);
            }
            Scheme::Bearer if opened.is_sender_constrained() => {
                // RFC 9449 §7.2: a bound token is never accepted as a bearer token (whoever
                // copied it would hold it).
                let mut rejection = self.rejection_for(RejectionKind::InvalidToken, scheme);
                rejection.detail = Some("a sender-constrained token presented as a Bearer token".into());
                return Err(rejection);
            }
            Scheme::Bearer => {}
        }
        let req =
            self.check_form(req, "the access token is sent more than once").await.map_err(|mut r| {
                if scheme == Scheme::Dpop {
                    r = self.rejection_for(r.kind, scheme);
                }
                r
            })?;
        if let Some(scope) = &self.scope {
            if !scope.iter().all(|s| opened.has_scope(s)) {
                let mut rejection = self.rejection_for(RejectionKind::InsufficientScope, scheme);
                rejection.token = Some(opened);
                return Err(rejection);
            }
        }
        Ok((Some(opened), req, scheme))
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

/// The credentials of the `Authorization` header: the scheme (`Bearer`, RFC 6750 §2.1, or `DPoP`,
/// RFC 9449 §7.1; both case-insensitive) and the token; `None` when the request has neither
/// (another scheme counts as none); 400 when they are malformed or repeated.
fn credentials(req: &Request<Body>) -> Result<Option<(Scheme, &str)>, RejectionKind> {
    let malformed = || RejectionKind::InvalidRequest("malformed Authorization header");
    let mut values = req.headers().get_all(AUTHORIZATION).iter();
    let Some(value) = values.next() else { return Ok(None) };
    if values.next().is_some() {
        return Err(RejectionKind::InvalidRequest("more than one Authorization header"));
    }
    let bytes = value.as_bytes();
    let (scheme, rest) = match bytes.iter().position(|&b| b == b' ') {
        Some(i) => (&bytes[..i], &bytes[i + 1..]),
        None => (bytes, &[][..]),
    };
    let scheme = if scheme.eq_ignore_ascii_case(b"bearer") {
        Scheme::Bearer
    } else if scheme.eq_ignore_ascii_case(b"dpop") {
        Scheme::Dpop
    } else {
        // Another scheme counts as none, but only in a value that is visible ASCII.
        value.to_str().map_err(|_| malformed())?;
        return Ok(None);
    };
    // credentials = scheme 1*SP b64token (RFC 6750 §2.1; RFC 9449 §7.1 uses the same token68).
    // b64token characters are visible ASCII, and what is trimmed around them is spaces, tabs
    // and `=`: a value that passes is a `str` (RFC 9110 §5.5) without a second pass over it.
    let token = trim_end(trim_start(rest, b' '), |b| b == b' ' || b == b'\t');
    let body = trim_end(token, |b| b == b'=');
    if body.is_empty() || !is_b64token(body) {
        return Err(malformed());
    }
    let token = std::str::from_utf8(token).map_err(|_| malformed())?;
    Ok(Some((scheme, token)))
}

/// `bytes` without the leading `b`s.
fn trim_start(bytes: &[u8], b: u8) -> &[u8] {
    let start = bytes.iter().position(|&x| x != b).unwrap_or(bytes.len());
    &bytes[start..]
}

/// `bytes` without the trailing bytes `trim` matches.
fn trim_end(bytes: &[u8], trim: impl Fn(u8) -> bool) -> &[u8] {
    let end = bytes.iter().rposition(|&x| !trim(x)).map_or(0, |i| i + 1);
    &bytes[..end]
}

/// Whether every byte is a b64token character before the `=` padding (RFC 6750 §2.1): letters,
/// digits, `-._~+/`. A token is thousands of bytes and every request carries one, so the bytes are
/// judged without branching per byte (the compiler can use vector compares).
fn is_b64token(bytes: &[u8]) -> bool {
    let one = |b: u8| {
        (b.wrapping_sub(b'a') < 26)
            | (b.wrapping_sub(b'A') < 26)
            | (b.wrapping_sub(b'0') < 10)
            | (b == b'-')
            | (b == b'.')
            | (b == b'_')
            | (b == b'~')
            | (b == b'+')
            | (b == b'/')
    };
    bytes.chunks(64).all(|chunk| chunk.iter().fold(true, |ok, &b| ok & one(b)))
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
    /// The DPoP proof was refused (RFC 9449 §7.1; [`BearerRejection::detail`] says why): 401
    /// `invalid_dpop_proof`.
    InvalidDpopProof,
    /// The DPoP proof lacks the server's current nonce (RFC 9449 §9): 401 `use_dpop_nonce` with
    /// a `DPoP-Nonce` header.
    UseDpopNonce,
    /// The DPoP replay store is full or unavailable: 503, the server's fault; the proof is never
    /// accepted unchecked.
    DpopReplayStoreUnavailable,
    /// The Bearer scheme on a layer that accepts only DPoP-bound tokens
    /// ([`BearerLayer::require_dpop`]): 401 `invalid_token` with the DPoP challenge only.
    DpopRequired,
}

/// The DPoP side of a refusal's challenges (RFC 9449 §7.1).
#[derive(Debug, Clone)]
struct DpopChallenge {
    /// `algs`, space-separated.
    algs: String,
    /// The Bearer scheme is still accepted: its challenge is offered too.
    bearer: bool,
    /// The request used the DPoP scheme: the error is on the DPoP challenge, which comes first.
    used: bool,
    /// The `DPoP-Nonce` to send.
    nonce: Option<String>,
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
    /// The DPoP challenge and nonce, when the layer accepts DPoP.
    dpop: Option<Arc<DpopChallenge>>,
}

impl BearerRejection {
    fn bare(kind: RejectionKind) -> BearerRejection {
        BearerRejection { kind, resource_metadata: None, scope: None, detail: None, token: None, dpop: None }
    }

    /// Why.
    pub fn kind(&self) -> RejectionKind {
        self.kind
    }

    /// Why the token did not open (expired, wrong audience, did not decrypt, keys unavailable…)
    /// or why its DPoP proof was refused (`DPoP: ` and the [`DpopRejection`]), for the server's
    /// own log; `None` when no token was opened. Never sent to the client, and never the token
    /// or the proof itself.
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
            RejectionKind::MissingToken
            | RejectionKind::InvalidToken
            | RejectionKind::InvalidDpopProof
            | RejectionKind::UseDpopNonce
            | RejectionKind::DpopRequired => StatusCode::UNAUTHORIZED,
            RejectionKind::DpopReplayStoreUnavailable => StatusCode::SERVICE_UNAVAILABLE,
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
            RejectionKind::InvalidDpopProof => Some(("invalid_dpop_proof", "the DPoP proof is invalid")),
            RejectionKind::UseDpopNonce => {
                Some(("use_dpop_nonce", "the resource server requires a nonce in the DPoP proof"))
            }
            RejectionKind::DpopRequired => {
                Some(("invalid_token", "this resource accepts only DPoP-bound access tokens"))
            }
            _ => None,
        }
    }

    /// Whether the error belongs on the DPoP challenge (the request used DPoP, or the error is
    /// DPoP's own).
    fn on_dpop(&self) -> bool {
        let Some(dpop) = &self.dpop else { return false };
        dpop.used
            || !dpop.bearer
            || matches!(
                self.kind,
                RejectionKind::InvalidDpopProof | RejectionKind::UseDpopNonce | RejectionKind::DpopRequired
            )
    }

    /// The `WWW-Authenticate` challenges (RFC 6750 §3, RFC 9449 §7.1), for 400, 401 and 403:
    /// `Bearer` (unless only DPoP is accepted) and `DPoP` (when it is accepted), the one carrying
    /// the error first: the DPoP one when the request used DPoP, else the Bearer one.
    fn challenges(&self) -> Vec<String> {
        if !matches!(
            self.status(),
            StatusCode::BAD_REQUEST | StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
        ) {
            return Vec::new();
        }
        let params = |with_error: bool, algs: Option<&str>| {
            let mut params = Vec::new();
            if with_error {
                if let Some((code, description)) = self.error() {
                    params.push(format!("error=\"{code}\""));
                    params.push(format!("error_description=\"{description}\""));
                }
            }
            // `scope` on a missing token (RFC 6750 §3, MCP) and on insufficient_scope (§3.1).
            if matches!(self.kind, RejectionKind::MissingToken | RejectionKind::InsufficientScope) {
                if let Some(scope) = &self.scope {
                    params.push(format!("scope=\"{scope}\""));
                }
            }
            if let Some(algs) = algs {
                params.push(format!("algs=\"{algs}\""));
            }
            if let Some(url) = &self.resource_metadata {
                params.push(format!("resource_metadata=\"{url}\""));
            }
            params
        };
        let challenge = |scheme: &str, params: Vec<String>| {
            if params.is_empty() {
                scheme.to_owned()
            } else {
                format!("{scheme} {}", params.join(", "))
            }
        };
        let on_dpop = self.on_dpop();
        let bearer =
            self.dpop.as_ref().is_none_or(|d| d.bearer).then(|| challenge("Bearer", params(!on_dpop, None)));
        let dpop = self.dpop.as_ref().map(|d| challenge("DPoP", params(on_dpop, Some(&d.algs))));
        let mut out: Vec<String> =
            if on_dpop { [dpop, bearer] } else { [bearer, dpop] }.into_iter().flatten().collect();
        out.dedup();
        out
    }
}

impl fmt::Display for BearerRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.kind, self.error()) {
            (_, Some((code, description))) => write!(f, "{code}: {description}"),
            (RejectionKind::MissingToken, _) => f.write_str("no access token"),
            (RejectionKind::KeysUnavailable, _) => f.write_str("authorization keys unavailable"),
            (RejectionKind::FormTooLarge, _) => f.write_str("form body too large"),
            (RejectionKind::DpopReplayStoreUnavailable, _) => f.write_str("DPoP replay store unavailable"),
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
        // Every part was checked to be visible ASCII without quotes when configured. Two
        // challenges are two fields (RFC 9110 §11.6.1 allows either form; a field each is the one
        // that parsers splitting on commas cannot get wrong).
        for value in self.challenges().iter().filter_map(|c| HeaderValue::from_str(c).ok()) {
            response.headers_mut().append(WWW_AUTHENTICATE, value);
        }
        if let Some(nonce) = self.dpop.as_ref().and_then(|d| d.nonce.as_deref()) {
            if let Ok(value) = HeaderValue::from_str(nonce) {
                response.headers_mut().insert(DPOP_NONCE, value);
            }
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
                Ok((token, mut req, scheme)) => {
                    if let Some(token) = token {
                        req.extensions_mut().insert(token);
                    } else {
                        req.extensions_mut().insert(Anonymous);
                    }
                    let mut response = inner.call(req).await?;
                    if scheme == Scheme::Dpop {
                        // RFC 9449 §8.2: the next nonce rides on any answer.
                        if let Some(nonce) = layer.fresh_nonce() {
                            response.headers_mut().insert(DPOP_NONCE, nonce);
                        }
                    }
                    Ok(response)
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

    /// `credentials` as it was written first, over `to_str` and `char` predicates: the one-pass
    /// version must answer every value the same.
    fn credentials_reference(value: &HeaderValue) -> Result<Option<(Scheme, String)>, RejectionKind> {
        let malformed = || RejectionKind::InvalidRequest("malformed Authorization header");
        let value = value.to_str().map_err(|_| malformed())?;
        let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
        let scheme = if scheme.eq_ignore_ascii_case("bearer") {
            Scheme::Bearer
        } else if scheme.eq_ignore_ascii_case("dpop") {
            Scheme::Dpop
        } else {
            return Ok(None);
        };
        let token = rest.trim_start_matches(' ').trim_end_matches([' ', '\t']);
        let body = token.trim_end_matches('=');
        let b64token =
            |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/');
        if body.is_empty() || !body.bytes().all(b64token) {
            return Err(malformed());
        }
        Ok(Some((scheme, token.to_owned())))
    }

    #[test]
    fn credentials_are_read_as_the_reference_reads_them_for_every_byte() {
        let mut values: Vec<Vec<u8>> = Vec::new();
        let long = "eyJhbGciOiJFQ0RILUVTIn0.a-b_c~d+e/f".repeat(80);
        for scheme in
            ["Bearer", "bearer", "BEARER", "DPoP", "dpop", "Basic", "Bearer\t", "Bear", "", "B\u{e9}arer"]
        {
            for gap in ["", " ", "   ", "\t", " \t"] {
                for token in [
                    "abc",
                    "a.b.c",
                    "abc==",
                    "==",
                    "=",
                    "",
                    "a b",
                    "abc \t",
                    "abc=\t ",
                    "a=b",
                    "a,b",
                    long.as_str(),
                ] {
                    values.push(format!("{scheme}{gap}{token}").into_bytes());
                }
            }
        }
        // Every byte a field value may hold (RFC 9110 §5.5), inside a token, at its end, in the
        // scheme and in the gap: 64 bytes and more, so the vectorised path sees it too.
        for b in (0x20..=0xffu8).chain([b'\t']) {
            for (head, tail) in
                [("Bearer ", &long[..70]), ("Bearer ", ""), ("DPoP ", "xyz"), ("Bearer", " x")]
            {
                let mut v = head.as_bytes().to_vec();
                v.extend_from_slice(&long.as_bytes()[..65]);
                v.push(b);
                v.extend_from_slice(tail.as_bytes());
                values.push(v);
                let mut before = head.as_bytes().to_vec();
                before.push(b);
                before.extend_from_slice(b"tok");
                values.push(before);
            }
        }
        let mut checked = 0;
        for bytes in values {
            let Ok(value) = HeaderValue::from_bytes(&bytes) else { continue };
            let request =
                Request::builder().header(AUTHORIZATION, value.clone()).body(Body::empty()).unwrap();
            let got = credentials(&request).map(|c| c.map(|(s, t)| (s, t.to_owned())));
            assert_eq!(got, credentials_reference(&value), "{:?}", String::from_utf8_lossy(&bytes));
            checked += 1;
        }
        assert!(checked > 2_000, "{checked}");
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
