//! The access log: one event per request (target [`ACCESS_TRACING_TARGET`]), written when the
//! response head is ready: method, path without the query, status, outcome, reason, the token's
//! subject and client when known, the latency until the response head, and the upstream's part
//! of it. Never the token, a query (it may carry one, RFC 6750 §2.3) or another credential.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::response::Response;
use http::Method;

use crate::resource_server::AccessToken;
use crate::wire::resource_server::{BearerRejection, RejectionKind};
use crate::wire::tracing_targets::ACCESS_TRACING_TARGET;

/// What became of one request: the access log's `outcome` and the metrics' label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Outcome {
    /// Authenticated and passed to the upstream, which answered.
    Forwarded,
    /// Answered by the gateway itself: the RFC 9728 metadata or the JWK Set.
    Served,
    /// No Bearer credentials: 401.
    NoToken,
    /// A token that did not open: 401 `invalid_token`.
    InvalidToken,
    /// A token without a required scope: 403.
    InsufficientScope,
    /// Malformed or ambiguous: refused framing, a token sent twice, a form body too large.
    BadRequest,
    /// The keys needed to open tokens are unavailable: 503.
    KeysUnavailable,
    /// Authenticated, but the upstream could not be reached: 502.
    UpstreamError,
    /// A DPoP proof refused (RFC 9449 §7.1): 401 `invalid_dpop_proof`.
    InvalidDpopProof,
    /// A DPoP proof without the server's current nonce (RFC 9449 §9): 401 `use_dpop_nonce`.
    UseDpopNonce,
    /// The DPoP replay store full or unavailable: 503.
    ReplayStoreUnavailable,
    /// A Bearer token where only DPoP-bound tokens are accepted: 401.
    DpopRequired,
}

impl Outcome {
    /// The label, as logged and exported.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Outcome::Forwarded => "forwarded",
            Outcome::Served => "served",
            Outcome::NoToken => "no_token",
            Outcome::InvalidToken => "invalid_token",
            Outcome::InsufficientScope => "insufficient_scope",
            Outcome::BadRequest => "bad_request",
            Outcome::KeysUnavailable => "keys_unavailable",
            Outcome::UpstreamError => "upstream_error",
            Outcome::InvalidDpopProof => "invalid_dpop_proof",
            Outcome::UseDpopNonce => "use_dpop_nonce",
            Outcome::ReplayStoreUnavailable => "replay_store_unavailable",
            Outcome::DpopRequired => "dpop_required",
        }
    }
}

/// Put by the forwarding service in the extensions of every response it gives, once the bearer
/// layer let the request through: who it was, what became of it, and how long the upstream took.
#[derive(Debug, Clone)]
pub(super) struct Proxied {
    pub(super) token: AccessToken,
    pub(super) outcome: Outcome,
    /// Why, when it was not forwarded (the upstream unreachable, an identity that cannot be a
    /// header).
    pub(super) reason: Option<String>,
    /// Until the upstream's response head, when it was asked.
    pub(super) upstream_time: Option<Duration>,
}

/// One request's line, filled in as the request goes.
pub(super) struct AccessLine {
    start: Instant,
    method: Method,
    path: String,
    peer: SocketAddr,
}

impl AccessLine {
    /// Starts the clock for a request. The path only: the query may carry a token.
    pub(super) fn start(method: &Method, path: &str, peer: SocketAddr) -> AccessLine {
        AccessLine { start: Instant::now(), method: method.clone(), path: path.to_owned(), peer }
    }

    /// The request is logged as this one (forward-auth: the original request the proxy names).
    pub(super) fn retarget(&mut self, method: &Method, path: &str) {
        self.method = method.clone();
        self.path = path.to_owned();
    }

    /// Writes the line for `response` with `outcome` and `reason` when the gateway itself
    /// answered (served documents, refused framing); otherwise they are read from what the
    /// bearer layer or the forwarding service put in the response's extensions.
    /// Returns the outcome, the whole time and the upstream's part, for the metrics.
    pub(super) fn finish(
        self,
        response: &Response,
        answered: Option<(Outcome, &str)>,
    ) -> (Outcome, Duration, Option<Duration>) {
        let (outcome, reason, token) = classify(response, answered);
        let latency = self.start.elapsed();
        let upstream = response.extensions().get::<Proxied>().and_then(|p| p.upstream_time);
        let micros = |d: Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        tracing::info!(
            target: ACCESS_TRACING_TARGET,
            method = self.method.as_str(),
            path = self.path.as_str(),
            status = response.status().as_u16(),
            outcome = outcome.as_str(),
            reason = (!reason.is_empty()).then_some(reason),
            subject = token.map(AccessToken::subject),
            client_id = token.map(AccessToken::client_id),
            peer = %self.peer.ip().to_canonical(),
            latency_us = micros(latency),
            upstream_us = upstream.map(micros),
            "request",
        );
        (outcome, latency, upstream)
    }
}

/// The outcome, the reason (possibly empty) and the token of a finished request.
fn classify<'a>(
    response: &'a Response,
    answered: Option<(Outcome, &'a str)>,
) -> (Outcome, &'a str, Option<&'a AccessToken>) {
    if let Some((outcome, reason)) = answered {
        return (outcome, reason, None);
    }
    if let Some(p) = response.extensions().get::<Proxied>() {
        return (p.outcome, p.reason.as_deref().unwrap_or(""), Some(&p.token));
    }
    let Some(rejection) = response.extensions().get::<BearerRejection>() else {
        // Neither the layer nor the forwarding service answered: cannot happen, but never
        // logged as forwarded.
        return (Outcome::BadRequest, "unclassified answer", None);
    };
    let outcome = match rejection.kind() {
        RejectionKind::MissingToken => Outcome::NoToken,
        RejectionKind::InvalidToken => Outcome::InvalidToken,
        RejectionKind::InsufficientScope => Outcome::InsufficientScope,
        RejectionKind::KeysUnavailable => Outcome::KeysUnavailable,
        RejectionKind::InvalidDpopProof => Outcome::InvalidDpopProof,
        RejectionKind::UseDpopNonce => Outcome::UseDpopNonce,
        RejectionKind::DpopReplayStoreUnavailable => Outcome::ReplayStoreUnavailable,
        RejectionKind::DpopRequired => Outcome::DpopRequired,
        _ => Outcome::BadRequest,
    };
    let reason = match (rejection.detail(), rejection.kind()) {
        (Some(detail), _) => detail,
        (None, RejectionKind::InvalidRequest(why)) => why,
        (None, RejectionKind::FormTooLarge) => "form body too large",
        (None, RejectionKind::InsufficientScope) => "a required scope is missing",
        (None, RejectionKind::DpopRequired) => "a Bearer token where only DPoP is accepted",
        _ => "",
    };
    (outcome, reason, rejection.access_token())
}
