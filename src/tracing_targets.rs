//! The `tracing` targets jwe-mint logs under, in one place, so a subscriber can route or filter
//! them (e.g. `RUST_LOG=jwe_mint::audit=info`) without reading the sources.

/// One event per token minted or opened (accepted or rejected, with the reason): the audit trail.
pub const AUDIT: &str = "jwe_mint::audit";

/// Key sources: JWK Set members skipped, remote sets fetched, refreshed or failing, a registry
/// entry's key chosen.
pub const KEYS: &str = "jwe_mint::keys";

/// The gateway (feature `gateway`): upstream failures, connections refused for their framing,
/// and the resource server's key file reloaded while it runs.
pub const GATEWAY: &str = "jwe_mint::gateway";

/// The gateway's access log (feature `gateway`): one event per request, with its outcome.
pub const ACCESS: &str = "jwe_mint::access";

/// The client side (feature `http`): failed renewals, challenges that do not parse.
pub const CLIENT: &str = "jwe_mint::client";
