//! [`ClientError`]: why the client side could not get a token or a response.

use crate::wire::transport::WireError;

/// Why the client side could not get a token or a response. Never carries a token, a refresh
/// token or the client secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// Fetching failed (transport, TLS, limits, URL rules, metadata), see [`WireError`].
    #[error(transparent)]
    Wire(#[from] WireError),
    /// The token endpoint refused the request with an RFC 6749 §5.2 error.
    #[error("{}: token request refused: {code}{}", crate::untrusted::redacted(url), description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    TokenEndpoint {
        /// The token endpoint.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The `error` code (`invalid_client`, `invalid_grant`, `invalid_target`, …).
        code: String,
        /// The `error_description`, if any (shortened, printable characters only).
        description: Option<String>,
    },
    /// The token endpoint's 200 answer is not a usable token response.
    #[error("{}: invalid token response: {reason}", crate::untrusted::redacted(url))]
    InvalidTokenResponse {
        /// The token endpoint.
        url: String,
        /// What is wrong (never the body).
        reason: String,
    },
    /// A resource identifier that is not an absolute `http(s)` URI without fragment or dot
    /// segments.
    #[error("invalid resource identifier {resource:?}")]
    InvalidResource {
        /// The resource (shortened).
        resource: String,
    },
    /// The token endpoint answered, but with no token for this resource.
    #[error("the authorization server issued no token for {}", crate::untrusted::redacted(resource))]
    NotGranted {
        /// The resource asked for.
        resource: String,
    },
    /// The `resource_metadata` URL of a 401 is not on the request's origin (RFC 9728 §7.7:
    /// the client would otherwise fetch any URL a server names).
    #[error(
        "{}: resource_metadata {} is not on the request's origin",
        crate::untrusted::redacted(url),
        crate::untrusted::redacted(metadata_url)
    )]
    MetadataUrlRefused {
        /// The request URL.
        url: String,
        /// The refused metadata URL (shortened).
        metadata_url: String,
    },
    /// The 401's `WWW-Authenticate` is malformed or names several metadata URLs.
    #[error("{}: unusable WWW-Authenticate challenge: {reason}", crate::untrusted::redacted(url))]
    InvalidChallenge {
        /// The request URL.
        url: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// The metadata's `resource` neither equals the request URL nor is a same-origin
    /// path-segment prefix of it.
    #[error(
        "{}: metadata resource {resource:?} does not cover the request URL",
        crate::untrusted::redacted(url)
    )]
    ResourceMismatch {
        /// The request URL.
        url: String,
        /// The document's `resource` (shortened).
        resource: String,
    },
    /// The resource server's metadata does not list this client's authorization server: the
    /// client never asks (or sends credentials to) an AS it was not configured with.
    #[error(
        "{}: the resource server does not name the configured authorization server {:?}",
        crate::untrusted::redacted(url),
        crate::untrusted::redacted(issuer)
    )]
    UntrustedAuthorizationServer {
        /// The metadata URL.
        url: String,
        /// The configured issuer.
        issuer: String,
    },
    /// A DPoP proof (RFC 9449 §4.2) could not be made for a request (the key cannot sign, or
    /// the URL cannot be a proof's `htu`).
    #[error("{}: cannot make a DPoP proof: {reason}", crate::untrusted::redacted(url))]
    DpopProof {
        /// The request URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The request was refused with 401 again with a new token; it is not retried twice.
    #[error("{}: still unauthorized (HTTP 401) with a new token", crate::untrusted::redacted(url))]
    StillUnauthorized {
        /// The request URL.
        url: String,
    },
}

impl ClientError {
    /// The OAuth error code of a token endpoint refusal.
    pub fn oauth_code(&self) -> Option<&str> {
        match self {
            ClientError::TokenEndpoint { code, .. } => Some(code),
            _ => None,
        }
    }
}
