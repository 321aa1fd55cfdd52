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
            description: format!("resource `{}` {why}", crate::jwa::printable(value)),
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

/// Path-segment prefix match on raw strings.
pub(crate) fn covers(base: &str, candidate: &str) -> bool {
    if base == candidate {
        return true;
    }
    if base.contains('?') {
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
