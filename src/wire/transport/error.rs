//! The transport's errors: [`WireError`], every failure to fetch or use a remote document, naming
//! its URL; and [`ConfigError`], a piece of the wire that cannot be configured.

use std::net::IpAddr;
use std::time::Duration;

/// A failure to fetch or use a remote document. Every variant names the URL, never a response
/// body or a secret. URLs with a user or password are refused; the message shows every URL with
/// its user information replaced by `redacted`, whatever a field holds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// The URL does not parse or has no host.
    #[error("{}: invalid URL: {reason}", crate::untrusted::redacted(url))]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// Why it was refused.
        reason: String,
    },
    /// The URL carries a user name or password; they would end up in logs and errors.
    #[error("{}: credentials in the URL are refused", crate::untrusted::redacted(url))]
    CredentialsInUrl {
        /// The URL with the credentials removed.
        url: String,
    },
    /// Neither `https` nor `http`.
    #[error("{}: only https URLs are fetched", crate::untrusted::redacted(url))]
    UnsupportedScheme {
        /// The URL.
        url: String,
    },
    /// An `http` URL while plain HTTP is not allowed (`allow_http_loopback` is off).
    #[error("{}: plain http is refused (https only)", crate::untrusted::redacted(url))]
    HttpNotAllowed {
        /// The URL.
        url: String,
    },
    /// An `http` URL whose host is not a loopback address: plain HTTP is allowed only for loopback.
    #[error("{}: plain http is allowed only for loopback hosts", crate::untrusted::redacted(url))]
    HttpNotLoopback {
        /// The URL.
        url: String,
    },
    /// The host is (or resolved only to) a loopback, private, link-local, unique-local or other
    /// non-public address, and the fetcher refuses those.
    #[error("{}: address {addr} is not public and is refused", crate::untrusted::redacted(url))]
    AddressRefused {
        /// The URL.
        url: String,
        /// The refused address (the first one, when a name resolved to several).
        addr: IpAddr,
    },
    /// The connection or the whole request took too long.
    #[error("{}: timed out after {after:?}", crate::untrusted::redacted(url))]
    Timeout {
        /// The URL.
        url: String,
        /// The limit that was hit.
        after: Duration,
    },
    /// TLS failed (untrusted certificate, wrong name, handshake failure).
    #[error("{}: TLS failure: {reason}", crate::untrusted::redacted(url))]
    Tls {
        /// The URL.
        url: String,
        /// The TLS library's reason.
        reason: String,
    },
    /// The TCP connection (or name resolution) failed.
    #[error("{}: connection failed: {reason}", crate::untrusted::redacted(url))]
    Connect {
        /// The URL.
        url: String,
        /// The underlying reason.
        reason: String,
    },
    /// The server answered with a redirect; redirects are never followed.
    #[error("{}: redirect (HTTP {status}) refused", crate::untrusted::redacted(url))]
    Redirect {
        /// The URL.
        url: String,
        /// The 3xx status.
        status: u16,
    },
    /// The server answered with a status other than 200.
    #[error("{}: HTTP status {status}", crate::untrusted::redacted(url))]
    Status {
        /// The URL.
        url: String,
        /// The status code.
        status: u16,
    },
    /// The body is larger than the limit; reading stopped there.
    #[error("{}: response body larger than {limit} bytes", crate::untrusted::redacted(url))]
    BodyTooLarge {
        /// The URL.
        url: String,
        /// The limit in bytes.
        limit: usize,
    },
    /// Any other transport failure (protocol error, connection reset mid-body, …).
    #[error("{}: transport failure: {reason}", crate::untrusted::redacted(url))]
    Transport {
        /// The URL.
        url: String,
        /// The underlying reason.
        reason: String,
    },
    /// The body is not an acceptable JWK Set (not JSON, malformed key, private or symmetric key
    /// material in a published set, …).
    #[error("{}: invalid JWK Set: {reason}", crate::untrusted::redacted(url))]
    InvalidJwkSet {
        /// The URL.
        url: String,
        /// What is wrong (from the strict parser; never the body itself).
        reason: String,
    },
    /// The last good key set is older than its lifetime plus the staleness cap and no fetch has
    /// succeeded since: the source fails closed.
    #[error(
        "{}: keys are stale (expired {expired_for:?} ago, no successful refresh since)",
        crate::untrusted::redacted(url)
    )]
    Stale {
        /// The URL.
        url: String,
        /// How long ago the last good set expired.
        expired_for: Duration,
    },
    /// A metadata document is not a JSON object or lacks a required member.
    #[error("{}: invalid metadata: {reason}", crate::untrusted::redacted(url))]
    InvalidMetadata {
        /// The metadata URL.
        url: String,
        /// What is wrong (never the body itself).
        reason: String,
    },
    /// The metadata's `issuer` is not identical to the issuer looked up (RFC 8414 §3.3).
    #[error(
        "{}: metadata issuer {:?} is not the expected {:?}",
        crate::untrusted::redacted(url),
        crate::untrusted::redacted(found),
        crate::untrusted::redacted(expected)
    )]
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
    #[error(
        "{}: jwks_uri {} refused: {reason}",
        crate::untrusted::redacted(url),
        crate::untrusted::redacted(jwks_uri)
    )]
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
    #[error(
        "{}: metadata resource {:?} is not the expected {:?}",
        crate::untrusted::redacted(url),
        crate::untrusted::redacted(found),
        crate::untrusted::redacted(expected)
    )]
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
    #[error(
        "{}: authorization_servers does not list the issuer {:?}",
        crate::untrusted::redacted(url),
        crate::untrusted::redacted(issuer)
    )]
    AuthorizationServerNotListed {
        /// The metadata URL.
        url: String,
        /// This AS's issuer identifier.
        issuer: String,
    },
    /// A shared refresh ended without a result (its task was cancelled, e.g. the runtime is
    /// shutting down).
    #[error("{}: the refresh was abandoned", crate::untrusted::redacted(url))]
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

/// Why a piece of the wire could not be configured: the one error of every wire builder,
/// constructor and setter that checks what it is given ([`HttpFetcherBuilder`](super::HttpFetcherBuilder),
/// `TokenBookBuilder`, [`Discovery::allow_jwks_origin`](crate::wire::Discovery::allow_jwks_origin),
/// and with the feature `axum` `BearerLayer`, `MetadataRouter`, `RegisteredClient`,
/// `AuthorizationServerBuilder`, with `gateway` the `Gateway`). Match the kind, never the text;
/// the text is what a command line prints.
///
/// It converts into the crate's [`Error`](crate::Error) (see the `From` impl), so `?` in a
/// function returning [`jwe_mint::Result`](crate::Result) keeps working.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A value given to a setter or constructor is refused.
    #[error("{reason}")]
    Invalid {
        /// The option refused, named as its setter or argument: `"upstream"`, `"resource"`,
        /// `"resource_metadata"`, `"jwks_uri"`, `"jwks_origin"`, `"issuer"`, `"scope"`,
        /// `"forward_token"`, `"client"`, `"refresh_tokens"`, the gateway's bounds
        /// (`"max_connections"`, `"max_head_size"`, `"header_timeout"`, `"body_timeout"`,
        /// `"write_timeout"`, `"idle_timeout"`).
        option: &'static str,
        /// Why, as a whole sentence that names the option.
        reason: String,
    },
    /// A CA file could not be read or holds no parsable certificate.
    #[error("CA file {path}: {reason}")]
    CaFile {
        /// The file.
        path: String,
        /// Why it was refused.
        reason: String,
    },
    /// PEM data given directly holds no parsable certificate.
    #[error("CA certificates: {0}")]
    CaPem(String),
    /// The HTTP client could not be built (e.g. the platform trust store could not be loaded).
    #[error("HTTP client: {0}")]
    Client(String),
    /// The core refused a part of the configuration (the resource server's keys to publish, the
    /// issuer's settings, a resource indicator): its error, with its own kind.
    #[error("{0}")]
    Core(#[source] crate::Error),
}

impl ConfigError {
    /// A refused value of `option`, `reason` being the whole message.
    pub(crate) fn invalid(option: &'static str, reason: impl Into<String>) -> ConfigError {
        ConfigError::Invalid { option, reason: reason.into() }
    }
}

impl From<crate::Error> for ConfigError {
    fn from(e: crate::Error) -> Self {
        ConfigError::Core(e)
    }
}

/// A configuration error as the crate's error, for `?` in code that returns
/// [`jwe_mint::Result`](crate::Result): [`ConfigError::Core`] gives back the core's own error
/// (its kind unchanged, e.g. [`Error::InvalidKey`](crate::Error::InvalidKey) for a key that
/// cannot be published); every other kind becomes
/// [`Error::Misuse`](crate::Error::Misuse)([`Misuse::Configuration`](crate::Misuse::Configuration))
/// with the same message. A value the calling code configured wrongly is what `Misuse` means, and
/// the core's error type, below the wire, cannot name this type; match the `ConfigError` before
/// converting it to tell the kinds apart.
impl From<ConfigError> for crate::Error {
    fn from(e: ConfigError) -> Self {
        match e {
            ConfigError::Core(e) => e,
            e => crate::Error::Misuse(crate::Misuse::Configuration(e.to_string())),
        }
    }
}
