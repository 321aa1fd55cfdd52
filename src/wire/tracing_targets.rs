//! The `tracing` targets of the wire layer's events, in one place.

/// The `tracing` target of every key-source event (fetches, refreshes, failures, `kid` misses),
/// of discovery and of the authorization server's token endpoint.
pub const TRACING_TARGET: &str = "jwe_mint::keys";

/// The `tracing` target of the gateway's events (upstream failures, refused requests, shutdown).
#[cfg(feature = "gateway")]
pub const GATEWAY_TRACING_TARGET: &str = "jwe_mint::gateway";

/// The `tracing` target of key-file events (reloads and refused files).
#[cfg(feature = "gateway")]
pub const KEY_FILE_TRACING_TARGET: &str = "jwe_mint::gateway";

/// The `tracing` target of the client side's events (failed renewals, unparsable challenges).
pub(crate) const CLIENT_TRACING_TARGET: &str = "jwe_mint::client";
