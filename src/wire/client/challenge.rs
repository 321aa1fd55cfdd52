//! `WWW-Authenticate` challenges (RFC 9110 §11.6.1, §11.2): several challenges per field and
//! several fields, auth-params as tokens or quoted strings with `\` escapes, token68.

/// One challenge: its scheme and auth-params (names lowercased; RFC 9110 §11.2 compares them
/// case-insensitively).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Challenge {
    pub(crate) scheme: String,
    pub(crate) params: Vec<(String, String)>,
    pub(crate) token68: Option<String>,
}

impl Challenge {
    /// The value of the parameter `name` (lowercase), if present exactly once.
    pub(crate) fn param(&self, name: &str) -> Result<Option<&str>, ()> {
        let mut found = self.params.iter().filter(|(n, _)| n == name);
        match (found.next(), found.next()) {
            (None, _) => Ok(None),
            (Some((_, v)), None) => Ok(Some(v)),
            // RFC 9110 §11.2: each parameter name occurs at most once per challenge.
            (Some(_), Some(_)) => Err(()),
        }
    }
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_token68_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~+/".contains(&b)
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn skip_ws(&mut self) -> bool {
        let start = self.i;
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.i += 1;
        }
        self.i > start
    }

    fn token(&mut self) -> Option<String> {
        let start = self.i;
        while self.peek().is_some_and(is_tchar) {
            self.i += 1;
        }
        (self.i > start).then(|| String::from_utf8_lossy(&self.s[start..self.i]).into_owned())
    }

    fn quoted(&mut self) -> Option<String> {
        if self.peek() != Some(b'"') {
            return None;
        }
        self.i += 1;
        let mut out = Vec::new();
        loop {
            match self.peek()? {
                b'"' => {
                    self.i += 1;
                    return String::from_utf8(out).ok();
                }
                b'\\' => {
                    // quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text )
                    let c = *self.s.get(self.i + 1)?;
                    if c != b'\t' && (c < 0x20 || c == 0x7f) {
                        return None;
                    }
                    out.push(c);
                    self.i += 2;
                }
                c if c == b'\t' || (c >= 0x20 && c != 0x7f) => {
                    out.push(c);
                    self.i += 1;
                }
                _ => return None,
            }
        }
    }

    /// `token BWS "=" BWS ( token / quoted-string )`, or nothing (position restored).
    fn param(&mut self) -> Option<(String, String)> {
        let start = self.i;
        let parsed = (|| {
            let name = self.token()?;
            self.skip_ws();
            if self.peek() != Some(b'=') {
                return None;
            }
            self.i += 1;
            self.skip_ws();
            let value = if self.peek() == Some(b'"') { self.quoted()? } else { self.token()? };
            Some((name.to_ascii_lowercase(), value))
        })();
        if parsed.is_none() {
            self.i = start;
        }
        parsed
    }

    /// `token68` followed by the end of the challenge, or nothing (position restored).
    fn token68(&mut self) -> Option<String> {
        let start = self.i;
        while self.peek().is_some_and(is_token68_char) {
            self.i += 1;
        }
        if self.i == start {
            return None;
        }
        while self.peek() == Some(b'=') {
            self.i += 1;
        }
        let end = self.i;
        self.skip_ws();
        if matches!(self.peek(), None | Some(b',')) {
            Some(String::from_utf8_lossy(&self.s[start..end]).into_owned())
        } else {
            self.i = start;
            None
        }
    }

    /// Skips whitespace and empty list elements (RFC 9110 §5.6.1).
    fn skip_separators(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b',')) {
            self.i += 1;
        }
    }
}

/// Parses one `WWW-Authenticate` field value into its challenges; `None` when it does not
/// follow the grammar.
pub(crate) fn parse(value: &[u8]) -> Option<Vec<Challenge>> {
    let mut p = Parser { s: value, i: 0 };
    let mut out = Vec::new();
    loop {
        p.skip_separators();
        if p.peek().is_none() {
            return Some(out);
        }
        let scheme = p.token()?;
        let mut challenge = Challenge { scheme, params: Vec::new(), token68: None };
        if p.skip_ws() {
            // The first item after the scheme: an auth-param, or a token68.
            if let Some(param) = p.param() {
                challenge.params.push(param);
                // More params, separated by commas; a token not followed by `=` starts the next
                // challenge.
                loop {
                    let before = p.i;
                    p.skip_ws();
                    if p.peek() != Some(b',') {
                        p.i = before;
                        break;
                    }
                    p.skip_separators();
                    match p.param() {
                        Some(param) => challenge.params.push(param),
                        None => {
                            p.i = before;
                            break;
                        }
                    }
                }
            } else if let Some(t) = p.token68() {
                challenge.token68 = Some(t);
            }
        }
        p.skip_ws();
        if !matches!(p.peek(), None | Some(b',')) {
            return None;
        }
        out.push(challenge);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(c: &Challenge) -> Vec<(&str, &str)> {
        c.params.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect()
    }

    #[test]
    fn several_challenges_quoted_strings_and_escapes() {
        let v = br#"Basic realm="a, b", Bearer error="invalid_token", RESOURCE_METADATA = "https://rs/.well-known/x?a=\"b\"\\", DPoP algs="ES256", Negotiate abc/+==, Empty"#;
        let c = parse(v).unwrap();
        assert_eq!(c.len(), 5, "{c:?}");
        assert_eq!(c[0].scheme, "Basic");
        assert_eq!(params(&c[0]), [("realm", "a, b")]);
        assert_eq!(c[1].scheme, "Bearer");
        assert_eq!(
            params(&c[1]),
            [("error", "invalid_token"), ("resource_metadata", r#"https://rs/.well-known/x?a="b"\"#)]
        );
        assert_eq!(c[2].scheme, "DPoP");
        assert_eq!(c[3].token68.as_deref(), Some("abc/+=="));
        assert_eq!(c[4].scheme, "Empty");
        assert!(c[4].params.is_empty());
    }

    #[test]
    fn token_values_and_empty_elements() {
        let c = parse(b" , Bearer realm=x , , scope=\"a b\",Basic").unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(params(&c[0]), [("realm", "x"), ("scope", "a b")]);
        assert_eq!(c[0].param("realm"), Ok(Some("x")));
        assert_eq!(c[0].param("nope"), Ok(None));
        let dup = parse(b"Bearer a=1, A=2").unwrap();
        assert!(dup[0].param("a").is_err());
    }

    #[test]
    fn malformed_values_are_refused() {
        for bad in [
            &b"Bearer realm=\"unterminated"[..],
            b"Bearer realm=\"a\" junk",
            b"Bearer realm=\"ctl\x01\"",
            b"=x",
            b"Bearer realm=\"a\"\"b\"",
        ] {
            assert!(parse(bad).is_none(), "{:?}", String::from_utf8_lossy(bad));
        }
        assert_eq!(parse(b"").unwrap(), vec![]);
    }
}
