//! Keys on the wire (feature `http`): fetch JWK Sets over HTTPS and keep them fresh.
//!
//! - [`Fetcher`]: a small trait (an `http::Request` → an `http::Response`, bodies as `Bytes`) so
//!   you can bring your own client, proxy or CA; [`HttpFetcher`] is the default on `reqwest` +
//!   rustls, with the limits of [`HttpFetcherBuilder`] for every request whatever its method
//!   (connect 2 s, whole request 5 s, body 1 MiB, no redirects, `https` only, optional refusal of
//!   non-public addresses judged on the address actually connected to).
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
//! With the feature `gateway` (part of the CLI build): `Gateway`, the streaming reverse proxy of
//! `jwe-mint gateway` (and `forward-auth`) for resource servers in any language, and `KeyFile`,
//! the RS's key file reloaded while it runs.
//!
//! With the feature `redis`: shared state for fleets, [`RedisReplayStore`] (the DPoP replay store
//! of replicas) and [`RedisRefreshTokens`] (the refresh tokens of several authorization servers).
//!
//! Every failure is a [`WireError`] that names the URL. Events (refreshes, failures, kid misses) go
//! to `tracing` with the target `jwe_mint::keys`.

#[cfg(feature = "axum")]
mod authorization_server;
mod client;
#[cfg(feature = "gateway")]
mod gateway;
mod keys;
#[cfg(feature = "axum")]
mod resource_server;
#[cfg(feature = "redis")]
mod shared_state;
mod tracing_targets;
mod transport;

#[cfg(feature = "axum")]
pub use authorization_server::{
    AuthorizationServer, AuthorizationServerBuilder, RefreshGrant, RefreshStoreError, RefreshStoreFuture,
    RefreshTokenId, RefreshTokenStore, RegisteredClient, AS_DOCUMENT_MAX_AGE, DEFAULT_MAX_REFRESH_TOKENS,
    DEFAULT_REFRESH_TOKEN_LIFETIME, MAX_TOKEN_REQUEST,
};
pub use client::{
    AuthorizedClient, BearerToken, ClientError, TokenBook, TokenBookBuilder, DEFAULT_REFRESH_SKEW,
};
#[cfg(feature = "gateway")]
pub use gateway::{
    Gateway, OriginalRequest, DEFAULT_BODY_TIMEOUT, DEFAULT_HEADER_TIMEOUT, DEFAULT_IDLE_TIMEOUT,
    DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_HEAD_SIZE, DEFAULT_SHUTDOWN_GRACE, DEFAULT_WRITE_TIMEOUT,
    MAX_MAX_HEAD_SIZE, MIN_MAX_HEAD_SIZE,
};
#[cfg(feature = "gateway")]
pub use keys::KeyFile;
pub use keys::{
    AuthorizationServerMetadata, Discovery, KeySetConfig, KeySetStatus, KeyUseFilter,
    ProtectedResourceDiscovery, ProtectedResourceMetadata, RemoteJwkSet,
};
#[cfg(feature = "axum")]
pub use resource_server::{
    BearerLayer, BearerRejection, BearerService, MetadataRouter, RejectionKind, DEFAULT_MAX_AGE,
    DEFAULT_MAX_FORM_BODY,
};
#[cfg(feature = "redis")]
pub use shared_state::{RedisRefreshTokens, RedisReplayStore, DEFAULT_REDIS_TIMEOUT};
pub use tracing_targets::TRACING_TARGET;
#[cfg(feature = "gateway")]
pub use tracing_targets::{ACCESS_TRACING_TARGET, GATEWAY_TRACING_TARGET, KEY_FILE_TRACING_TARGET};
pub use transport::{
    authorization_server_metadata_urls, is_non_public, protected_resource_metadata_url, ConfigError,
    FetchFuture, Fetcher, HttpFetcher, HttpFetcherBuilder, PublicAddressesOnly, WireError,
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_BODY, DEFAULT_TIMEOUT,
};
