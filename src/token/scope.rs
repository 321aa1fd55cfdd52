//! OAuth scopes (RFC 6749 §3.3): one type, one parse, one check, for every place a scope is
//! read or written — the registry's `scopes_supported`, a grant, a token's `scope` claim, a
//! required scope at the resource server, a token request and a client's configuration.

use std::fmt;

use crate::error::{Error, Result};

/// Whether `token` is one RFC 6749 §3.3 scope token: `1*( %x21 / %x23-5B / %x5D-7E )`, printable
/// ASCII without space, `"` or `\`, so it can also stand unescaped in a quoted string of a
/// `WWW-Authenticate` challenge (RFC 6750 §3).
pub fn is_scope_token(token: &str) -> bool {
    let nqchar = |b: u8| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b);
    !token.is_empty() && token.bytes().all(nqchar)
}

/// A scope: a list of scope tokens, space-delimited on the wire (RFC 6749 §3.3). Order is kept
/// as given and a repeated token counts once ("the order does not matter", RFC 6749 §3.3).
///
/// ```
/// use jwe_mint::token::Scope;
/// let scope = Scope::parse("photos.read photos.write photos.read").unwrap();
/// assert_eq!(scope.to_string(), "photos.read photos.write");
/// assert!(scope.contains("photos.write"));
/// assert!(Scope::parse("photos.read  photos.write").is_err()); // one space between tokens
/// assert!(Scope::parse("say\"hi\"").is_err());                   // no quote, backslash or control
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Scope {
    tokens: Vec<String>,
}

impl Scope {
    /// Parses a `scope` parameter or claim exactly as RFC 6749 §3.3 writes it: tokens separated
    /// by single spaces, none empty. An empty string is the empty scope.
    pub fn parse(scope: &str) -> Result<Scope> {
        if scope.is_empty() {
            return Ok(Scope::default());
        }
        Scope::from_tokens(scope.split(' '))
    }

    /// Parses a space-separated list where runs of spaces (and leading or trailing spaces) are
    /// tolerated, as a person types it; every token is still checked.
    pub fn parse_lenient(scope: &str) -> Result<Scope> {
        Scope::from_tokens(scope.split(' ').filter(|t| !t.is_empty()))
    }

    /// A scope of these tokens, each checked (a repeated token counts once).
    pub fn from_tokens<S: AsRef<str>>(tokens: impl IntoIterator<Item = S>) -> Result<Scope> {
        let mut scope = Scope::default();
        for token in tokens {
            let token = token.as_ref();
            if !is_scope_token(token) {
                return Err(Error::Malformed(format!(
                    "scope token `{}` is not one or more characters of %x21 / %x23-5B / %x5D-7E (RFC 6749 §3.3)",
                    crate::untrusted::name(token)
                )));
            }
            if !scope.contains(token) {
                scope.tokens.push(token.to_owned());
            }
        }
        Ok(scope)
    }

    /// The scope tokens, in order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.tokens.iter().map(String::as_str)
    }

    /// Whether `token` is one of this scope's tokens (exact, case-sensitive: RFC 6749 §3.3).
    pub fn contains(&self, token: &str) -> bool {
        self.tokens.iter().any(|t| t == token)
    }

    /// Whether every token of `other` is in this scope.
    pub fn contains_all(&self, other: &Scope) -> bool {
        other.iter().all(|t| self.contains(t))
    }

    /// The tokens of this scope that `other` has too, in this scope's order.
    pub fn intersection(&self, other: &Scope) -> Scope {
        Scope { tokens: self.tokens.iter().filter(|t| other.contains(t)).cloned().collect() }
    }

    /// Adds the tokens of `other` that this scope lacks, at the end.
    pub fn extend(&mut self, other: &Scope) {
        for t in other.iter() {
            if !self.contains(t) {
                self.tokens.push(t.to_owned());
            }
        }
    }

    /// The number of tokens.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// Whether there is no token.
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }
}

/// The RFC 6749 §3.3 form: tokens joined by single spaces.
impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, t) in self.tokens.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(t)?;
        }
        Ok(())
    }
}

impl<'a> IntoIterator for &'a Scope {
    type Item = &'a str;
    type IntoIter = std::iter::Map<std::slice::Iter<'a, String>, fn(&'a String) -> &'a str>;

    fn into_iter(self) -> Self::IntoIter {
        self.tokens.iter().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_tokens_follow_rfc_6749_section_3_3() {
        for ok in ["a", "photos.read", "!", "#$%&'()*+,-./:;<=>?@[]^_`{|}~", "Z9"] {
            assert!(is_scope_token(ok), "{ok}");
        }
        for bad in ["", " ", "a b", "\"", "\\", "a\u{7f}", "a\tb", "é", "\u{0}"] {
            assert!(!is_scope_token(bad), "{bad:?}");
        }
    }

    #[test]
    fn parse_is_strict_and_lenient_parse_is_not() {
        assert_eq!(Scope::parse("").unwrap(), Scope::default());
        assert_eq!(Scope::parse("a b").unwrap().len(), 2);
        for bad in [" a", "a ", "a  b", "a\"b", "a\\b", "a\tb"] {
            assert!(Scope::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(Scope::parse_lenient("  a   b ").unwrap().to_string(), "a b");
        assert!(Scope::parse_lenient("a \"b\"").is_err());
        let e = Scope::parse("ok bad\u{1b}[31m").unwrap_err().to_string();
        assert!(!e.contains('\u{1b}'), "{e}");
    }

    #[test]
    fn repeated_tokens_count_once_and_order_is_kept() {
        let s = Scope::parse("b a b c a").unwrap();
        assert_eq!(s.iter().collect::<Vec<_>>(), ["b", "a", "c"]);
        assert_eq!(s.to_string(), "b a c");
        let other = Scope::parse("c b x").unwrap();
        assert_eq!(s.intersection(&other).to_string(), "b c");
        assert!(s.contains_all(&Scope::parse("a c").unwrap()));
        assert!(!s.contains_all(&other));
        let mut u = s.clone();
        u.extend(&other);
        assert_eq!(u.to_string(), "b a c x");
        assert_eq!((&u).into_iter().count(), 4);
    }
}
