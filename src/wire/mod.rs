//! Keys on the wire (feature `http`): fetch JWK Sets over HTTPS and keep them fresh.
//!
//! - [`Fetcher`]: a small trait (URL → status, headers, body) so you can bring your own client,
//!   proxy or CA; [`HttpFetcher`] is the default on `reqwest` + rustls, with the limits of
//!   [`HttpFetcherBuilder`] (connect 2 s, whole request 5 s, body 1 MiB, no redirects, `https` only,
//!   optional refusal of non-public addresses judged on the address actually connected to).
//! - [`RemoteJwkSet`]: one cache per JWK Set URL. Lifetime from `Cache-Control` (RFC 9111 §5.2.2.1)
//!   clamped to [1 min, 24 h], background refresh ahead of expiry, an immediate refetch on an unknown
//!   `kid` at most once per 30 s (OpenID Connect Core §10.1.1), one shared fetch for concurrent
//!   callers, the last good set served through failures up to a staleness cap, then fail closed.
//!   Readers get an `Arc<JwkSet>` snapshot without locks.
//!
//! - [`Discovery`]: RFC 8414 authorization server metadata from the issuer (three well-known URLs in
//!   order, `issuer` identical, `jwks_uri` on the metadata's origin unless allowed) and the issuer's
//!   verification keys as a [`RemoteJwkSet`].
//! - [`ProtectedResourceDiscovery`]: the AS side, RFC 9728 protected resource metadata
//!   (`resource` identical, this AS listed in `authorization_servers`, `jwks_uri` on the
//!   metadata's origin unless allowed) and an RS's encryption keys; binds the registry entries
//!   whose keys live on the wire. It fetches only for resources in the registry.
//!
//! The client's side:
//!
//! - [`TokenBook`]: one access token per resource (RFC 8707), each given only to URLs its
//!   resource covers, renewed ahead of expiry with the refresh token (RFC 8707 §2.2).
//! - [`AuthorizedClient`]: sends requests with the right token; on a 401 follows the resource
//!   server's RFC 9728 metadata to its authorization server (when the client trusts it), obtains
//!   a token for that resource and retries once.
//!
//! With the feature `axum`, the resource server's side of the wire:
//!
//! - [`BearerLayer`]: a tower layer that lets requests through only with a valid access token
//!   from `Authorization: Bearer` (RFC 6750), answers 400/401/403 as RFC 6750 §3 and RFC 9728 §5.1
//!   say, and hands the [`AccessToken`](crate::resource_server::AccessToken) to handlers as an
//!   axum extractor.
//! - [`MetadataRouter`]: the RS's RFC 9728 metadata and the JWK Set at its `jwks_uri`.
//!
//! Also with `axum`, the authorization server's side: [`AuthorizationServer`], a router serving
//! RFC 8414 metadata, the AS's `jwks_uri` and a token endpoint (`client_credentials`,
//! `refresh_token`, RFC 8707 `resource`, `client_secret_basic`, RFC 6749 §5.2 errors) that mints
//! for the resource servers of its registry, discovered as above.
//!
//! With the feature `gateway` (part of the CLI build): [`Gateway`], the streaming reverse proxy of
//! `jwe-mint gateway` for resource servers in any language, and [`KeyFile`], the RS's key file
//! reloaded while it runs.
//!
//! Every failure is a [`WireError`] that names the URL. Events (refreshes, failures, kid misses) go
//! to `tracing` with the target `jwe_mint::keys`.

mod client;
mod discovery;
mod fetch;
#[cfg(feature = "gateway")]
mod gateway;
mod key_set;
#[cfg(feature = "axum")]
mod layer;
#[cfg(feature = "axum")]
mod metadata;
mod protected_resource;
#[cfg(feature = "axum")]
mod token_endpoint;
mod tracing_targets;

use std::net::IpAddr;
use std::time::Duration;

pub use client::{
    AuthorizedClient, BearerToken, ClientError, TokenBook, TokenBookBuilder, DEFAULT_REFRESH_SKEW,
};
pub use discovery::{authorization_server_metadata_urls, AuthorizationServerMetadata, Discovery};
pub use fetch::{
    is_non_public, ConfigError, FetchFuture, Fetcher, HttpFetcher, HttpFetcherBuilder, HttpResponse,
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_BODY, DEFAULT_TIMEOUT,
};
#[cfg(feature = "gateway")]
pub use gateway::{Gateway, KeyFile, DEFAULT_SHUTDOWN_GRACE};
pub use key_set::{KeySetConfig, KeySetStatus, KeyUseFilter, RemoteJwkSet};
#[cfg(feature = "axum")]
pub use layer::{BearerLayer, BearerRejection, BearerService, RejectionKind, DEFAULT_MAX_FORM_BODY};
#[cfg(feature = "axum")]
pub use metadata::{MetadataRouter, DEFAULT_MAX_AGE};
pub use protected_resource::{
    protected_resource_metadata_url, ProtectedResourceDiscovery, ProtectedResourceMetadata,
};
#[cfg(feature = "axum")]
pub use token_endpoint::{
    AuthorizationServer, AuthorizationServerBuilder, RegisteredClient, AS_DOCUMENT_MAX_AGE,
    DEFAULT_MAX_REFRESH_TOKENS, DEFAULT_REFRESH_TOKEN_LIFETIME, MAX_TOKEN_REQUEST,
};
pub use tracing_targets::TRACING_TARGET;
#[cfg(feature = "gateway")]
pub use tracing_targets::{GATEWAY_TRACING_TARGET, KEY_FILE_TRACING_TARGET};

/// A failure to fetch or use a remote document. Every variant names the URL (without any
/// credentials: URLs with a user or password are refused), never a response body or a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// The URL does not parse or has no host.
    #[error("{url}: invalid URL: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// Why it was refused.
        reason: String,
    },
    /// The URL carries a user name or password; they would end up in logs and errors.
    #[error("{url}: credentials in the URL are refused")]
    CredentialsInUrl {
        /// The URL with the credentials removed.
        url: String,
    },
    /// Neither `https` nor `http`.
    #[error("{url}: only https URLs are fetched")]
    UnsupportedScheme {
        /// The URL.
        url: String,
    },
    /// An `http` URL while plain HTTP is not allowed (`allow_http_loopback` is off).
    #[error("{url}: plain http is refused (https only)")]
    HttpNotAllowed {
        /// The URL.
        url: String,
    },
    /// An `http` URL whose host is not a loopback address: plain HTTP is allowed only for loopback.
    #[error("{url}: plain http is allowed only for loopback hosts")]
    HttpNotLoopback {
        /// The URL.
        url: String,
    },
    /// The host is (or resolved only to) a loopback, private, link-local, unique-local or other
    /// non-public address, and the fetcher refuses those.
    #[error("{url}: address {addr} is not public and is refused")]
    AddressRefused {
        /// The URL.
        url: String,
        /// The refused address (the first one, when a name resolved to several).
        addr: IpAddr,
    },
    /// The connection or the whole request took too long.
    #[error("{url}: timed out after {after:?}")]
    Timeout {
        /// The URL.
        url: String,
        /// The limit that was hit.
        after: Duration,
    },
    /// TLS failed (untrusted certificate, wrong name, handshake failure).
    #[error("{url}: TLS failure: {reason}")]
    Tls {
        /// The URL.
        url: String,
        /// The TLS library's reason.
        reason: String,
    },
    /// The TCP connection (or name resolution) failed.
    #[error("{url}: connection failed: {reason}")]
    Connect {
        /// The URL.
        url: String,
        /// The underlying reason.
        reason: String,
    },
    /// The server answered with a redirect; redirects are never followed.
    #[error("{url}: redirect (HTTP {status}) refused")]
    Redirect {
        /// The URL.
        url: String,
        /// The 3xx status.
        status: u16,
    },
    /// The server answered with a status other than 200.
    #[error("{url}: HTTP status {status}")]
    Status {
        /// The URL.
        url: String,
        /// The status code.
        status: u16,
    },
    /// The body is larger than the limit; reading stopped there.
    #[error("{url}: response body larger than {limit} bytes")]
    BodyTooLarge {
        /// The URL.
        url: String,
        /// The limit in bytes.
        limit: usize,
    },
    /// Any other transport failure (protocol error, connection reset mid-body, …).
    #[error("{url}: transport failure: {reason}")]
    Transport {
        /// The URL.
        url: String,
        /// The underlying reason.
        reason: String,
    },
    /// The body is not an acceptable JWK Set (not JSON, malformed key, private or symmetric key
    /// material in a published set, …).
    #[error("{url}: invalid JWK Set: {reason}")]
    InvalidJwkSet {
        /// The URL.
        url: String,
        /// What is wrong (from the strict parser; never the body itself).
        reason: String,
    },
    /// The last good key set is older than its lifetime plus the staleness cap and no fetch has
    /// succeeded since: the source fails closed.
    #[error("{url}: keys are stale (expired {expired_for:?} ago, no successful refresh since)")]
    Stale {
        /// The URL.
        url: String,
        /// How long ago the last good set expired.
        expired_for: Duration,
    },
    /// A metadata document is not a JSON object or lacks a required member.
    #[error("{url}: invalid metadata: {reason}")]
    InvalidMetadata {
        /// The metadata URL.
        url: String,
        /// What is wrong (never the body itself).
        reason: String,
    },
    /// The metadata's `issuer` is not identical to the issuer looked up (RFC 8414 §3.3).
    #[error("{url}: metadata issuer {found:?} is not the expected {expected:?}")]
    IssuerMismatch {
        /// The metadata URL.
        url: String,
        /// The configured issuer.
        expected: String,
        /// The document's `issuer` (shortened).
        found: String,
    },
    /// The metadata's `jwks_uri` is refused: not `https`, or not on the metadata's origin nor an
    /// allowed one.
    #[error("{url}: jwks_uri {jwks_uri} refused: {reason}")]
    JwksUriRefused {
        /// The metadata URL.
        url: String,
        /// The refused `jwks_uri` (shortened).
        jwks_uri: String,
        /// Why.
        reason: &'static str,
    },
    /// The protected resource metadata's `resource` is not identical to the resource looked up
    /// (RFC 9728 §3.3): the document must not be used.
    #[error("{url}: metadata resource {found:?} is not the expected {expected:?}")]
    ResourceMismatch {
        /// The metadata URL.
        url: String,
        /// The resource looked up (as registered).
        expected: String,
        /// The document's `resource` (shortened).
        found: String,
    },
    /// The protected resource metadata lists `authorization_servers` and this AS's issuer is not
    /// among them: the RS does not expect tokens from this AS.
    #[error("{url}: authorization_servers does not list the issuer {issuer:?}")]
    AuthorizationServerNotListed {
        /// The metadata URL.
        url: String,
        /// This AS's issuer identifier.
        issuer: String,
    },
    /// A shared refresh ended without a result (its task was cancelled, e.g. the runtime is
    /// shutting down).
    #[error("{url}: the refresh was abandoned")]
    RefreshAbandoned {
        /// The URL.
        url: String,
    },
}

impl WireError {
    /// The URL this error is about.
    pub fn url(&self) -> &str {
        match self {
            WireError::InvalidUrl { url, .. }
            | WireError::CredentialsInUrl { url }
            | WireError::UnsupportedScheme { url }
            | WireError::HttpNotAllowed { url }
            | WireError::HttpNotLoopback { url }
            | WireError::AddressRefused { url, .. }
            | WireError::Timeout { url, .. }
            | WireError::Tls { url, .. }
            | WireError::Connect { url, .. }
            | WireError::Redirect { url, .. }
            | WireError::Status { url, .. }
            | WireError::BodyTooLarge { url, .. }
            | WireError::Transport { url, .. }
            | WireError::InvalidJwkSet { url, .. }
            | WireError::Stale { url, .. }
            | WireError::InvalidMetadata { url, .. }
            | WireError::IssuerMismatch { url, .. }
            | WireError::JwksUriRefused { url, .. }
            | WireError::ResourceMismatch { url, .. }
            | WireError::AuthorizationServerNotListed { url, .. }
            | WireError::RefreshAbandoned { url } => url,
        }
    }
}
