//! Resource indicators (RFC 8707 §2): absolute URIs without a fragment, compared exactly.

use std::fmt;

use crate::error::{Error, OAuthErrorCode, Result};

/// A validated resource indicator, kept exactly as given (no normalisation: RFC 8707 compares
/// resource values as strings).
///
/// ```
/// use jwe_mint::token::ResourceIndicator;
/// let r = ResourceIndicator::parse("https://api.example.com/user").unwrap();
/// assert!(r.covers(&ResourceIndicator::parse("https://api.example.com/user/1234").unwrap()));
/// assert!(!r.covers(&ResourceIndicator::parse("https://api.example.com/username").unwrap()));
/// assert!(ResourceIndicator::parse("https://api.example.com/#frag").is_err());
/// assert!(ResourceIndicator::parse("/relative").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResourceIndicator(String);

/// Longest resource indicator accepted.
const MAX_LEN: usize = 2048;

impl ResourceIndicator {
    /// Validates `value`: an absolute URI (RFC 3986 §4.3) with no fragment. Failure is the OAuth
    /// error `invalid_target`.
    pub fn parse(value: &str) -> Result<ResourceIndicator> {
        let bad = |why: &str| Error::OAuth {
            code: OAuthErrorCode::InvalidTarget,
            description: format!("resource `{}` {why}", crate::untrusted::name(value)),
        };
        if value.is_empty() || value.len() > MAX_LEN {
            return Err(bad("has an invalid length"));
        }
        if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("contains whitespace or control characters"));
        }
        if value.contains('#') {
            return Err(bad("must not contain a fragment"));
        }
        // WHATWG URL parsers read `\` as `/` in http(s) URLs: `…/42\..\7` would be tenant 7.
        if value.contains('\\') {
            return Err(bad("must not contain a backslash"));
        }
        if has_dot_segment(value) {
            return Err(bad("must not contain `.` or `..` path segments (RFC 3986 §3.3)"));
        }
        // RFC 3986 §3.2.1 deprecates a password in the userinfo; any userinfo in a resource would
        // travel in every token's `aud` (and the JWE header's copy, readable by anyone).
        if matches!(crate::untrusted::redacted(value), std::borrow::Cow::Owned(_)) {
            return Err(bad("must not contain user information (RFC 3986 §3.2.1)"));
        }
        let url = url::Url::parse(value).map_err(|_| bad("is not an absolute URI"))?;
        if url.cannot_be_a_base() && !value.contains(':') {
            return Err(bad("is not an absolute URI"));
        }
        Ok(ResourceIndicator(value.to_owned()))
    }

    /// The indicator as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `self` equals `other` or is a path-segment prefix of it (`…/user` covers
    /// `…/user/1234` but not `…/username`). Queries never match as sub-resources.
    pub fn covers(&self, other: &ResourceIndicator) -> bool {
        covers(&self.0, &other.0)
    }
}

/// Whether the path of `value` (everything before `?`) has a segment that is `.` or `..`, plain or
/// with either dot percent-encoded (`%2e`, `%2E`). RFC 8707 compares resources as strings, but
/// anything that resolves the URI (RFC 3986 §5.2.4, or a WHATWG parser) removes them, so
/// `…/tenants/42/../7` would be string-covered by `…/tenants/42` yet name tenant 7. A segment's
/// `;` parameters do not count (`..;x` is `..`): servlet containers strip them before resolving
/// dot segments (RFC 3986 §3.3 allows parameters in any segment).
pub(crate) fn has_dot_segment(value: &str) -> bool {
    let path = value.split('?').next().unwrap_or(value);
    path.split(['/', '\\']).any(|segment| {
        let mut rest = segment.split(';').next().unwrap_or(segment);
        let mut dots = 0;
        while !rest.is_empty() {
            if let Some(r) = rest.strip_prefix('.') {
                rest = r;
            } else if rest.get(..3).is_some_and(|p| p.eq_ignore_ascii_case("%2e")) {
                rest = &rest[3..];
            } else {
                return false;
            }
            dots += 1;
        }
        dots == 1 || dots == 2
    })
}

/// Path-segment prefix match on raw strings. A candidate with dot segments is never covered (nor
/// one with a backslash): see [`has_dot_segment`].
pub(crate) fn covers(base: &str, candidate: &str) -> bool {
    if base == candidate {
        return true;
    }
    if base.contains('?') || candidate.contains('\\') || has_dot_segment(candidate) {
        return false;
    }
    match candidate.strip_prefix(base) {
        Some(rest) => {
            if base.ends_with('/') {
                !rest.is_empty() && !rest.starts_with('?')
            } else {
                rest.starts_with('/') && rest.len() > 1
            }
        }
        None => false,
    }
}

impl fmt::Display for ResourceIndicator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for ResourceIndicator {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_uris_without_fragment() {
        for ok in [
            "https://photos.example.com",
            "https://api.example.com/user/1",
            "urn:example:rs",
            "https://a.example/?q=1",
        ] {
            assert!(ResourceIndicator::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "photos", "/p", "https://a.example/#f", "https://a b.example", "https://a.example/\n"]
        {
            let e = ResourceIndicator::parse(bad).unwrap_err();
            assert!(matches!(e, Error::OAuth { code: OAuthErrorCode::InvalidTarget, .. }), "{bad}");
        }
    }

    #[test]
    fn user_information_is_refused_and_never_shown() {
        for bad in [
            "https://alice:hunter2@api.example.com",
            "https://alice@api.example.com/x",
            "https://@api.example.com",
            "https:alice:hunter2@api.example.com",
            "https://api.example.com@evil.example/x",
        ] {
            let e = ResourceIndicator::parse(bad).unwrap_err();
            assert!(matches!(e, Error::OAuth { code: OAuthErrorCode::InvalidTarget, .. }), "{bad}");
            let text = e.to_string();
            assert!(text.contains("user information"), "{text}");
            assert!(!text.contains("hunter2") && !text.contains("alice"), "{text}");
        }
        // An `@` after the authority is a path or query character, not user information.
        for ok in ["https://api.example.com/users/@me", "https://api.example.com/?by=a@b.example"] {
            assert!(ResourceIndicator::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn dot_segments_are_refused_and_never_covered() {
        let base = "https://api.example.com/tenants/42";
        for bad in [
            "https://api.example.com/tenants/42/../7",
            "https://api.example.com/tenants/42/%2e%2e/7",
            "https://api.example.com/tenants/42/%2E%2e/7",
            "https://api.example.com/tenants/42/.%2E/7",
            "https://api.example.com/tenants/42/%2e./7",
            "https://api.example.com/tenants/42/./x",
            "https://api.example.com/tenants/42/%2E/x",
            "https://api.example.com/tenants/42/..",
            "https://api.example.com/tenants/42/%2e%2e",
            "https://api.example.com/tenants/42/..?q=1",
            "https://api.example.com/tenants/42\\..\\7",
            "https://api.example.com/tenants/42/x\\..\\..\\7",
            "https://api.example.com/tenants/42/..;/7",
            "https://api.example.com/tenants/42/..;x=1/7",
            "https://api.example.com/tenants/42/.;/x",
            "https://api.example.com/tenants/42/%2e%2e;/7",
        ] {
            let e = ResourceIndicator::parse(bad).unwrap_err();
            assert!(matches!(e, Error::OAuth { code: OAuthErrorCode::InvalidTarget, .. }), "{bad}");
            assert!(!covers(base, bad), "{bad}");
            assert!(!covers("https://api.example.com", bad), "{bad}");
        }
        // Dots inside a segment, three dots, a double-encoded dot, dots in the query: not dot segments.
        for ok in [
            "https://api.example.com/tenants/42/v1.2",
            "https://api.example.com/tenants/42/.well-known",
            "https://api.example.com/tenants/42/...",
            "https://api.example.com/tenants/42/%252e%252e",
            "https://api.example.com/tenants/42/x..",
            "https://api.example.com/tenants/42/x?path=../7",
            "https://api.example.com/tenants/42/v1;..",
        ] {
            assert!(ResourceIndicator::parse(ok).is_ok(), "{ok}");
            assert!(covers(base, ok), "{ok}");
        }
    }

    #[test]
    fn segment_prefix_matching() {
        assert!(covers("https://x/user", "https://x/user"));
        assert!(covers("https://x/user", "https://x/user/1234"));
        assert!(!covers("https://x/user", "https://x/username"));
        assert!(!covers("https://x/user", "https://x/user/"));
        assert!(covers("https://x/user/", "https://x/user/7"));
        assert!(!covers("https://x/user", "https://x/user?x=1"));
        assert!(!covers("https://x/user/1", "https://x/user"));
    }
}
