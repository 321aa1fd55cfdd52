//! The `htu` comparison of RFC 9449 §4.3 step 9: both the claim and the request's target URI are
//! normalised (RFC 3986 §6.2.2 syntax-based, §6.2.3 scheme-based) and compared without their
//! query and fragment.

/// The longest URI normalised (bytes): a bound on the work a proof's `htu` can cause.
const MAX_URI: usize = 8 * 1024;

/// `uri` without query and fragment, normalised: scheme and host in lower case, `%XX` of an
/// unreserved character decoded and every other `%XX` in upper case (§6.2.2.1–2), dot segments
/// removed (§6.2.2.3, with RFC 3986 §5.2.4), the default port and an empty port dropped and an
/// empty path made `/` (§6.2.3). `None` when `uri` is not an absolute `http` / `https` URI with
/// an authority, has a user name (RFC 9110 §4.2.4 forbids it in these schemes), or holds a
/// character no URI may hold.
pub(crate) fn normalise(uri: &str) -> Option<String> {
    if uri.len() > MAX_URI {
        return None;
    }
    // RFC 9449 §4.2: `htu` is compared without its query and fragment, on both sides.
    let uri = &uri[..uri.find(['?', '#']).unwrap_or(uri.len())];
    let (scheme, rest) = uri.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "https" => "443",
        "http" => "80",
        _ => return None,
    };
    let (authority, path) = rest.find('/').map_or((rest, ""), |i| rest.split_at(i));
    if authority.contains('@') {
        return None;
    }
    let (host, port) = split_port(authority)?;
    let host = if host.starts_with('[') { ip_literal(host)? } else { reg_name(host)? };
    if host.is_empty() {
        return None;
    }
    let port = match port {
        // §6.2.3: an empty port is the default port. Leading zeros name the same port.
        None | Some("") => None,
        Some(p) => {
            let n: u16 = p.parse().ok().filter(|_| p.bytes().all(|b| b.is_ascii_digit()))?;
            let n = n.to_string();
            (n != default_port).then_some(n)
        }
    };
    let path = remove_dot_segments(&percent_normalised(path, is_path_char)?);
    let mut out = format!("{scheme}://{host}");
    if let Some(p) = port {
        out.push(':');
        out.push_str(&p);
    }
    out.push_str(if path.is_empty() { "/" } else { &path });
    Some(out)
}

/// `host[:port]`, the host possibly an IP literal in brackets.
fn split_port(authority: &str) -> Option<(&str, Option<&str>)> {
    if authority.starts_with('[') {
        let end = authority.find(']')?;
        let (host, after) = authority.split_at(end + 1);
        return match after.strip_prefix(':') {
            Some(port) => Some((host, Some(port))),
            None if after.is_empty() => Some((host, None)),
            None => None,
        };
    }
    Some(match authority.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (authority, None),
    })
}

/// An IP literal (RFC 3986 §3.2.2), in lower case; only hex digits, `:` and `.` inside.
fn ip_literal(host: &str) -> Option<String> {
    let inner = host.strip_prefix('[')?.strip_suffix(']')?;
    let fits = !inner.is_empty() && inner.bytes().all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.');
    fits.then(|| host.to_ascii_lowercase())
}

/// A registered name or IPv4 address, percent-normalised and in lower case (§6.2.2.1: the host
/// is case-insensitive).
fn reg_name(host: &str) -> Option<String> {
    let normalised = percent_normalised(host, |b| is_unreserved(b) || is_sub_delim(b))?;
    // Lower case everywhere but in the hex digits of a remaining `%XX`, which stay upper case.
    let mut out = String::with_capacity(normalised.len());
    let mut hex_left = 0;
    for c in normalised.chars() {
        if hex_left > 0 {
            hex_left -= 1;
            out.push(c);
        } else {
            if c == '%' {
                hex_left = 2;
            }
            out.push(c.to_ascii_lowercase());
        }
    }
    Some(out)
}

/// `text` with each `%XX` of an unreserved character decoded and every other `%XX` in upper case
/// (§6.2.2.1–2). `None` for a broken `%` escape or a byte `allowed` refuses.
fn percent_normalised(text: &str, allowed: fn(u8) -> bool) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let hex = bytes.get(i + 1..i + 3).filter(|h| h.iter().all(u8::is_ascii_hexdigit))?;
            let value = u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?;
            if is_unreserved(value) {
                out.push(char::from(value));
            } else {
                out.push('%');
                out.push(char::from(hex[0].to_ascii_uppercase()));
                out.push(char::from(hex[1].to_ascii_uppercase()));
            }
            i += 3;
        } else if allowed(b) {
            out.push(char::from(b));
            i += 1;
        } else {
            return None;
        }
    }
    Some(out)
}

/// RFC 3986 §2.3.
fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// RFC 3986 §2.2.
fn is_sub_delim(b: u8) -> bool {
    matches!(b, b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'=')
}

/// RFC 3986 §3.3: `pchar` and `/`.
fn is_path_char(b: u8) -> bool {
    is_unreserved(b) || is_sub_delim(b) || matches!(b, b':' | b'@' | b'/')
}

/// RFC 3986 §5.2.4, on an absolute path (or the empty one).
fn remove_dot_segments(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    let last = segments.len().saturating_sub(1);
    for (i, segment) in segments.iter().enumerate() {
        match *segment {
            "." | ".." => {
                if *segment == ".." {
                    out.pop();
                }
                // A trailing dot segment leaves the directory: `/a/b/..` is `/a/`.
                if i == last {
                    out.push("");
                }
            }
            s => out.push(s),
        }
    }
    out.iter().fold(String::with_capacity(path.len()), |mut acc, s| {
        acc.push('/');
        acc.push_str(s);
        acc
    })
}

#[cfg(test)]
mod tests {
    use super::normalise;

    #[test]
    fn equivalent_uris_normalise_alike() {
        let n = |u: &str| normalise(u).unwrap_or_else(|| panic!("{u}"));
        assert_eq!(n("HTTPS://API.Example.com:443/a/./b/../c?x#f"), "https://api.example.com/a/c");
        assert_eq!(n("https://api.example.com/a/c"), "https://api.example.com/a/c");
        assert_eq!(n("https://h/%7e%7Euser"), "https://h/~~user");
        assert_eq!(n("https://h/a%2fb"), "https://h/a%2Fb");
        assert_eq!(n("https://h"), "https://h/");
        assert_eq!(n("https://h:"), "https://h/");
        assert_eq!(n("http://h:80/x"), "http://h/x");
        assert_eq!(n("http://h:0080/x"), "http://h/x");
        assert_eq!(n("https://h:8443/x"), "https://h:8443/x");
        assert_eq!(n("https://%41pi.example/"), "https://api.example/");
        assert_eq!(n("https://[::1]:443/"), "https://[::1]/");
        assert_eq!(n("https://[FE80::1]:8443/a"), "https://[fe80::1]:8443/a");
        assert_eq!(n("https://h/a/b/.."), "https://h/a/");
        assert_eq!(n("https://h/../../x"), "https://h/x");
        assert_eq!(n("https://h/a/%2E%2E/b"), "https://h/b");
        assert_eq!(n("https://h/a/"), "https://h/a/");
    }

    proptest::proptest! {
        // The proof check skips normalising an `htu` equal to the normalised target: sound only
        // if a normalised URI normalises to itself.
        #[test]
        fn normalising_is_idempotent(
            scheme in "(?i)https?",
            host in "([a-zA-Z0-9.~_!$&'()*+,;=-]|%[0-9a-fA-F]{2}){1,12}|\\[[0-9a-fA-F:.]{1,8}\\]",
            port in "(:[0-9]{0,5})?",
            path in "(/([a-zA-Z0-9._~!$&'()*+,;=:@-]|%[0-9a-fA-F]{2}|\\.|\\.\\.|%2[eE]){0,6}){0,5}",
            rest in "(\\?[a-z=&]{0,6})?(#[a-z]{0,4})?",
        ) {
            let uri = format!("{scheme}://{host}{port}{path}{rest}");
            if let Some(once) = normalise(&uri) {
                proptest::prop_assert_eq!(normalise(&once), Some(once.clone()), "{}", uri);
            }
        }
    }

    #[test]
    fn what_is_not_an_http_uri_is_refused() {
        for bad in [
            "",
            "/relative",
            "ftp://h/",
            "https:/h",
            "https://",
            "https://u:p@h/",
            "https://h:99999/",
            "https://h:x/",
            "https://h/a b",
            "https://h/é",
            "https://h/%zz",
            "https://h/%4",
            "https://h/%+5",
            "https://[::1/",
            "https://[::1]x/",
            "https://[zz]/",
        ] {
            assert_eq!(normalise(bad), None, "{bad:?}");
        }
        assert_eq!(normalise(&format!("https://h/{}", "a".repeat(9000))), None);
    }
}
