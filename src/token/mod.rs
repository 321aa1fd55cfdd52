//! The access-token layer: RFC 9068 claims, RFC 8707 resource indicators and RFC 6749 §3.3
//! scopes.

mod claims;
mod resource;
mod scope;

pub(crate) use claims::RESERVED_CLAIMS;
pub use claims::{AccessTokenClaims, Audience, Confirmation};
pub(crate) use resource::covers;
pub use resource::ResourceIndicator;
pub use scope::{is_scope_token, Scope};
// The client's token book refuses the same dot segments as resource indicators.
#[cfg(feature = "http")]
pub(crate) use resource::has_dot_segment;

/// The `typ` of an RFC 9068 access token's JWS header.
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

/// Whether a `typ`/`cty` value names an access token JWT (`at+jwt`, case-insensitive, with or
/// without `application/`).
pub(crate) fn is_at_jwt(value: &str) -> bool {
    let v = strip_application(value);
    v.eq_ignore_ascii_case("at+jwt")
}

/// Whether an outer `cty` says the payload is a nested JWT (`JWT` or `at+jwt`, RFC 7519 §5.2).
pub(crate) fn is_nested_cty(value: &str) -> bool {
    let v = strip_application(value);
    v.eq_ignore_ascii_case("jwt") || v.eq_ignore_ascii_case("at+jwt")
}

fn strip_application(value: &str) -> &str {
    match value.get(..12) {
        Some(p) if p.eq_ignore_ascii_case("application/") => &value[12..],
        _ => value,
    }
}

/// Seconds since the Unix epoch.
pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
