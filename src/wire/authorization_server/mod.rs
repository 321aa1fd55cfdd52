//! The authorization server's side of the wire (feature `axum`): an axum [`Router`](axum::Router) serving RFC
//! 8414 metadata, the AS's `jwks_uri` and a token endpoint (RFC 6749 §3.2) that mints jwe-mint
//! access tokens for `client_credentials` and `refresh_token`, with one or several RFC 8707
//! `resource` parameters.
//!
//! - Clients authenticate with `client_secret_basic` only (RFC 6749 §2.3.1: id and secret
//!   form-urlencoded, then base64 inside `Authorization: Basic`). Only a SHA-256 digest of each
//!   secret is kept, in zeroizing memory, and compared in constant time (the crypto provider).
//! - Refusals are RFC 6749 §5.2 JSON: `invalid_request`, `invalid_client` (401 with
//!   `WWW-Authenticate: Basic`), `invalid_grant`, `unauthorized_client`, `unsupported_grant_type`,
//!   `invalid_scope`, and RFC 8707's `invalid_target`. When an RS's keys cannot be fetched the
//!   answer is 503 with `Retry-After`, when none of its keys is usable 500, both with
//!   `{"error": "server_error"}`: RFC 6749 §5.2 has no code for them, so `server_error` is
//!   borrowed from §4.1.2.1 (an extension). The AS never falls back to an unencrypted token.
//! - Every token endpoint answer carries `Cache-Control: no-store` (RFC 6749 §5.1).
//! - Refresh tokens are opaque (32 random bytes from the crypto provider), kept in memory as their
//!   SHA-256 digest with the grant they stand for (client, subject, scope, resources), bounded in
//!   number (the oldest is dropped) and in age, and rotated on every use (RFC 9700 §4.14.2): the
//!   used token stops working, and presenting it again revokes the token that replaced it.
//!
//! Resource servers registered without keys are found through their RFC 9728 metadata
//! ([`ProtectedResourceDiscovery`](crate::wire::ProtectedResourceDiscovery)): see
//! [`AuthorizationServer::bind_resources`].

mod client_auth;
mod dpop;
mod form;
mod grants;
pub(crate) mod refresh_store;
mod refusal;
mod server;

pub use client_auth::RegisteredClient;
pub use form::MAX_TOKEN_REQUEST;
pub use refresh_store::{
    RefreshGrant, RefreshStoreError, RefreshStoreFuture, RefreshTokenId, RefreshTokenStore,
};
pub use server::{
    AuthorizationServer, AuthorizationServerBuilder, AS_DOCUMENT_MAX_AGE, DEFAULT_MAX_REFRESH_TOKENS,
    DEFAULT_REFRESH_TOKEN_LIFETIME,
};
