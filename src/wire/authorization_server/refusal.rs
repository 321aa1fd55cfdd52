//! Refused token requests as RFC 6749 §5.2 answers: the error code and description in JSON, 401
//! with `WWW-Authenticate: Basic` for `invalid_client`, `server_error` (borrowed from RFC 6749
//! §4.1.2.1) for the server's own failures, and `Cache-Control: no-store` (RFC 6749 §5.1).

use axum::body::Body;
use axum::response::Response;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, PRAGMA, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderValue, StatusCode};
use serde_json::{json, Value};

use crate::error::{Error, KeySourceError};
use crate::wire::tracing_targets::TRACING_TARGET;

/// `Retry-After` (seconds) of a 503 when an RS's keys are unavailable.
const RETRY_AFTER_SECONDS: &str = "30";

/// A refused token request: status, §5.2 code and description, and extra headers.
pub(super) struct Refusal {
    status: StatusCode,
    pub(super) code: &'static str,
    description: String,
    www_authenticate: bool,
    retry_after: bool,
    /// RFC 9449 §8: the nonce a `use_dpop_nonce` refusal hands the client.
    dpop_nonce: Option<HeaderValue>,
}

impl Refusal {
    /// RFC 6749 §5.2: 400 for every code but `invalid_client`.
    pub(super) fn bad(code: &'static str, description: &str) -> Refusal {
        Refusal {
            status: StatusCode::BAD_REQUEST,
            code,
            description: description.to_owned(),
            www_authenticate: false,
            retry_after: false,
            dpop_nonce: None,
        }
    }

    /// Adds `DPoP-Nonce: nonce` to the answer (RFC 9449 §8).
    pub(super) fn with_dpop_nonce(mut self, nonce: Option<HeaderValue>) -> Refusal {
        self.dpop_nonce = nonce;
        self
    }

    /// 503 with `Retry-After`: a store the server depends on (DPoP replay) cannot answer now.
    /// `temporarily_unavailable` is borrowed from RFC 6749 §4.1.2.1, as `server_error` is.
    pub(super) fn temporarily_unavailable(description: &str) -> Refusal {
        tracing::warn!(target: TRACING_TARGET, reason = description, "token endpoint temporarily unavailable");
        Refusal {
            status: StatusCode::SERVICE_UNAVAILABLE,
            retry_after: true,
            ..Refusal::bad("temporarily_unavailable", description)
        }
    }

    pub(super) fn invalid_client() -> Refusal {
        Refusal {
            status: StatusCode::UNAUTHORIZED,
            www_authenticate: true,
            ..Refusal::bad("invalid_client", "client authentication failed")
        }
    }

    pub(super) fn invalid_grant() -> Refusal {
        Refusal::bad("invalid_grant", "unknown, expired or already used refresh token")
    }

    /// The server's fault, with no detail for the client.
    pub(super) fn server(e: Error) -> Refusal {
        tracing::warn!(target: TRACING_TARGET, error = %e, "token endpoint failure");
        Refusal {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            ..Refusal::bad("server_error", "the token could not be issued")
        }
    }

    /// The refresh token store could not answer: 503 with `Retry-After`, never an unchecked token.
    pub(super) fn store_unavailable(e: &super::refresh_store::RefreshStoreError) -> Refusal {
        tracing::warn!(target: TRACING_TARGET, error = %e, "refresh token store unavailable");
        Refusal {
            status: StatusCode::SERVICE_UNAVAILABLE,
            retry_after: true,
            ..Refusal::bad("server_error", "the refresh token store is unavailable")
        }
    }

    /// What minting can fail with, as the token endpoint answers it.
    pub(super) fn mint(e: Error) -> Refusal {
        match e {
            Error::OAuth { code, description } => Refusal::bad(code.as_str(), &description),
            Error::KeySource(KeySourceError::Unavailable { ref location, .. }) => {
                tracing::warn!(target: TRACING_TARGET, location = %crate::untrusted::redacted(location), error = %e, "resource server keys unavailable");
                Refusal {
                    status: StatusCode::SERVICE_UNAVAILABLE,
                    retry_after: true,
                    ..Refusal::bad("server_error", "the resource server's keys are unavailable")
                }
            }
            // No usable key, or anything else.
            other => Refusal::server(other),
        }
    }

    pub(super) fn into_response(self) -> Response {
        let mut r =
            json_response(self.status, &json!({ "error": self.code, "error_description": self.description }));
        no_store(r.headers_mut());
        if self.www_authenticate {
            r.headers_mut().insert(WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"token\""));
        }
        if self.retry_after {
            r.headers_mut().insert(RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_SECONDS));
        }
        if let Some(nonce) = self.dpop_nonce {
            r.headers_mut().insert(super::dpop::DPOP_NONCE, nonce);
        }
        r
    }
}

/// RFC 6749 §5.1: token endpoint answers are not cached.
pub(super) fn no_store(headers: &mut HeaderMap) {
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(PRAGMA, HeaderValue::from_static("no-cache"));
}

pub(super) fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut r = Response::new(Body::from(body.to_string()));
    *r.status_mut() = status;
    r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}
