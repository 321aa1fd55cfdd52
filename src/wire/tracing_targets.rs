//! The wire layer's names for the crate's `tracing` targets ([`crate::tracing_targets`]), kept
//! for callers that filter on them.

/// The `tracing` target of every key-source event (fetches, refreshes, failures, `kid` misses),
/// of discovery and of the authorization server's token endpoint.
pub const TRACING_TARGET: &str = crate::tracing_targets::KEYS;

/// The `tracing` target of the gateway's events (upstream failures, refused requests, shutdown).
#[cfg(feature = "gateway")]
pub const GATEWAY_TRACING_TARGET: &str = crate::tracing_targets::GATEWAY;

/// The `tracing` target of the gateway's access log: one event per request.
#[cfg(feature = "gateway")]
pub const ACCESS_TRACING_TARGET: &str = crate::tracing_targets::ACCESS;

/// The `tracing` target of key-file events (reloads and refused files): the gateway's.
#[cfg(feature = "gateway")]
pub const KEY_FILE_TRACING_TARGET: &str = crate::tracing_targets::GATEWAY;

/// The `tracing` target of the client side's events.
pub(crate) const CLIENT_TRACING_TARGET: &str = crate::tracing_targets::CLIENT;
