//! `jwe-mint gateway`: a streaming HTTP/1.1 reverse proxy that lets a request reach the upstream
//! resource server only with a valid access token, for resource servers in any language.
//!
//! Header rules, in this order (why: `docs/decisions.md`, "The resource server on the wire and the gateway"):
//!
//! 1. Framing (RFC 9112 §6.3), checked on every request head of a connection as it comes off the
//!    socket (`framing.rs`): both `Content-Length` and `Transfer-Encoding`, a repeated or
//!    non-numeric `Content-Length`, a `Transfer-Encoding` other than one final `chunked`, or any
//!    `Transfer-Encoding` in HTTP/1.0 (§6.1) is 400 (501 for an unknown coding) and the
//!    connection closes, no byte after that head read as a
//!    request (such messages are how requests are smuggled). A head over
//!    [`Gateway::max_head_size`] (16 KiB by default) is 431 (RFC 6585 §5). A response sent before
//!    the request body was read drains or closes the connection (hyper does it).
//! 2. Request target and `Host` (RFC 9112 §3.2), on the request as sent: two `Host` fields, a
//!    `Host` that is not an authority (`host[:port]`, the host a name of letters, digits and
//!    `-._~` or an IP literal; no user information, path, quote, space, `,` or `;`), or none in
//!    HTTP/1.1 is 400 and the connection closes. An absolute-form target's authority replaces
//!    `Host` (§3.2.2); another scheme than http(s), an invalid authority, or an authority or
//!    asterisk form outside `CONNECT` and `OPTIONS` is 400 and closes. `CONNECT` is 405 with
//!    `Allow` and closes; `OPTIONS *` is answered 200 with `Allow` by the gateway. A `Connection`
//!    field naming `Host`, `Authorization`, `Content-Type` or `Content-Length` is 400 and closes
//!    (RFC 9110 §7.6.1: such fields are meant for every recipient; removing them would hide them
//!    from the checks below). None of these reach the upstream or need a token.
//! 3. Hop-by-hop: every field named in `Connection`, and `Connection`, `Keep-Alive`,
//!    `Proxy-Connection`, `TE`, `Transfer-Encoding`, `Upgrade` (RFC 9110 §7.6.1) are removed from
//!    requests and responses. Request trailers are dropped whole; a response's trailer section
//!    loses the hop-by-hop fields (those its `Connection` fields name too), the fields no trailer
//!    may carry (RFC 9110 §6.5.1: `Content-Length`, `Content-Type`, `Host`, `Authorization`,
//!    `Set-Cookie`, `Cache-Control`, ...) and the identity and forwarding fields, and its
//!    `Trailer` field announces only what is left.
//! 4. Identity: every incoming header whose name starts with `x-auth-` once `_` and `.` are read
//!    as `-` is removed (backends that fold `_` into `-` were fooled that way: oauth2-proxy
//!    CVE-2025-64484). `Forwarded`, `X-Forwarded-For` / `-Proto` / `-Host` and `X-Real-IP` are
//!    replaced by the gateway's own (RFC 7239); every other `X-Forwarded-*` field and the
//!    client-address and original-URL fields (`True-Client-IP`, `X-Client-IP`,
//!    `X-Original-URL`, `X-Rewrite-URL`, ...) are removed, however spelled. `Via` is appended
//!    (RFC 9110 §7.6.3).
//! 5. Authentication by [`BearerLayer`] (RFC 6750; unauthenticated requests never reach the
//!    upstream; two `Content-Type` fields are 400, and `;` separates query fields when looking
//!    for a second token), then `X-Auth-Subject`, `X-Auth-Client-Id`, `X-Auth-Scope` and
//!    `X-Auth-Claims` (base64url of the claims JSON) are added, and `Authorization` is removed
//!    unless [`Gateway::forward_token`].
//!
//! `Host` (once checked) passes through. Bodies stream both ways; nothing is buffered (except a form body of at
//! most 64 KiB that the layer reads to refuse a second token, RFC 6750 §2.2). An upstream that
//! cannot be reached is 502.
//!
//! The upstream is `http` (next to the gateway) or `https` (the resource server on another host
//! behind TLS). TLS is rustls with the aws-lc-rs provider and its safe default protocol versions,
//! without a client certificate; the server name checked and sent (SNI, RFC 6066 §3) is the
//! upstream URL's host, whatever `Host` the client sent. The certificate is verified against the
//! platform's trust store, or only against the CA certificates of
//! [`Gateway::upstream_ca_file`]; verification cannot be turned off. A TLS failure (untrusted
//! certificate, wrong name, failed handshake) is 502 like any unreachable upstream.
//!
//! The RFC 9728 metadata and the JWK Set at `jwks_uri` are served by the gateway itself, from the
//! resource server's current keys.
//!
//! Bounds on what a client can hold (`limits.rs`): at most [`Gateway::max_connections`] open
//! connections (then new ones wait in the listen backlog); a head must arrive within
//! [`Gateway::header_timeout`]; a body may stop for at most [`Gateway::body_timeout`] (the form body
//! the layer reads too); a response write may make no progress for at most
//! [`Gateway::write_timeout`]; a kept-alive connection waits at most [`Gateway::idle_timeout`] for
//! its next request. No read timer runs while a request is being answered. After the shutdown
//! signal, requests in flight have [`Gateway::with_shutdown_grace`].

mod access;
mod config;
mod forward;
mod forward_auth;
mod framing;
mod headers;
mod limits;
mod metrics;
mod serve;

pub use config::{Gateway, DEFAULT_SHUTDOWN_GRACE};
pub use forward_auth::OriginalRequest;
pub use limits::{
    DEFAULT_BODY_TIMEOUT, DEFAULT_HEADER_TIMEOUT, DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_HEAD_SIZE, DEFAULT_WRITE_TIMEOUT, MAX_MAX_HEAD_SIZE, MIN_MAX_HEAD_SIZE,
};
