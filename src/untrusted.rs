//! Text that came from outside (a token header, a key, a remote document, a request) on its way
//! into an error message or a log line: one helper, so every such value is shown the same way.
//! An attacker chooses these bytes; shown raw they could forge log lines (newlines, terminal
//! escapes), flood a log, or copy a credential from a URL into it.

/// The length a name is cut to (an algorithm, a `kid`, a parameter name, a scope token).
pub(crate) const NAME: usize = 40;

/// The length a longer value is cut to (a URL, an error description from a remote server).
pub(crate) const VALUE: usize = 200;

/// A name from outside, shown: [`shown`] at [`NAME`] characters.
pub(crate) fn name(text: &str) -> String {
    shown(text, NAME)
}

/// A longer value from outside, shown: [`shown`] at [`VALUE`] characters.
#[cfg_attr(not(feature = "http"), allow(dead_code))]
pub(crate) fn value(text: &str) -> String {
    shown(text, VALUE)
}

/// `text` made safe to show: each character that is not printable ASCII (controls, DEL,
/// anything non-ASCII) becomes `?`; the user name and password of a URL are replaced by
/// `redacted`; at most `max` characters are kept, then `…`.
pub(crate) fn shown(text: &str, max: usize) -> String {
    let text = redacted(text);
    let mut out = String::with_capacity(text.len().min(max) + 3);
    for (i, c) in text.chars().enumerate() {
        if i == max {
            out.push('…');
            break;
        }
        out.push(if c.is_ascii_graphic() || c == ' ' { c } else { '?' });
    }
    out
}

/// A configured URL as an error field or a log value: [`redacted`], owned. `Url` and `&str` alike.
#[cfg_attr(not(feature = "http"), allow(dead_code))]
pub(crate) fn url<U: AsRef<str> + ?Sized>(url: &U) -> String {
    redacted(url.as_ref()).into_owned()
}

/// `scheme://user:password@host/…` → `scheme://redacted@host/…` (RFC 3986 §3.2.1: the userinfo
/// ends at the last `@` of the authority). The URL Standard also reads credentials after a
/// scheme with no `//` (`https:user:pw@host`, `https:\\user:pw@host`), so a text that starts
/// with a scheme is read that way too. Works on any text, a URL or not (one that does not parse
/// is the likeliest to carry a mistyped password). Nothing else is changed: this is the form for
/// a URL this program was configured with (an error naming it, a log line) where cutting or
/// replacing characters would hide which URL it is; text from outside goes through [`value`].
pub(crate) fn redacted(text: &str) -> std::borrow::Cow<'_, str> {
    let scheme_end = text.find(':').filter(|&i| {
        let scheme = &text[..i];
        scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    });
    let start = match (text.find("://"), scheme_end) {
        (Some(i), _) => i + 3,
        (None, Some(i)) => i + 1 + text[i + 1..].chars().take_while(|c| matches!(c, '/' | '\\')).count(),
        (None, None) => return text.into(),
    };
    let rest = &text[start..];
    let authority_end = rest.find(['/', '\\', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{}redacted{}", &text[..start], &rest[at..]).into(),
        None => text.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_and_non_ascii_become_question_marks() {
        assert_eq!(shown("a\nb\r\u{1b}[31mc\u{7f}é", NAME), "a?b??[31mc??");
        assert_eq!(shown("plain text", NAME), "plain text");
    }

    #[test]
    fn long_text_is_cut_with_an_ellipsis() {
        let long = "x".repeat(300);
        assert_eq!(shown(&long, NAME), format!("{}…", "x".repeat(NAME)));
        assert_eq!(shown(&long, VALUE).chars().count(), VALUE + 1);
        assert_eq!(shown(&"y".repeat(NAME), NAME), "y".repeat(NAME));
    }

    #[test]
    fn credentials_in_urls_are_redacted() {
        assert_eq!(
            shown("https://alice:s3cret@as.example.com/jwks", VALUE),
            "https://redacted@as.example.com/jwks"
        );
        assert_eq!(shown("https://tok@en@host/p@th", VALUE), "https://redacted@host/p@th");
        assert_eq!(shown("https://host/path?u=a@b", VALUE), "https://host/path?u=a@b");
        assert_eq!(shown("not a url: a@b", VALUE), "not a url: a@b");
        assert!(!shown("xhttps://u:p@h", VALUE).contains("u:p"));
        assert_eq!(shown("https:u:pw@rs.example:99999/", VALUE), "https:redacted@rs.example:99999/");
        assert_eq!(shown("https:\\\\u:pw@rs.example/", VALUE), "https:\\\\redacted@rs.example/");
        assert_eq!(shown("mailto:alice@example.com", VALUE), "mailto:redacted@example.com");
    }

    #[test]
    fn urls_keep_everything_but_their_credentials() {
        assert_eq!(url("https://u:pw@as.example.com/a b?x=é"), "https://redacted@as.example.com/a b?x=é");
        // Not a URL the parser takes (a space in the host): the credentials go all the same.
        assert_eq!(url("https://u:pw@exa mple.com/"), "https://redacted@exa mple.com/");
        assert_eq!(url("/just/a/path@x"), "/just/a/path@x");
        assert_eq!(redacted("https://as.example.com/"), "https://as.example.com/");
    }
}
