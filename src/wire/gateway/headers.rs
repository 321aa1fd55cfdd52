//! The gateway's header rules (2) to (4): hop-by-hop fields removed (RFC 9110 §7.6.1), the
//! identity headers a client sent removed however spelled and the forwarding headers replaced by
//! the gateway's own (RFC 7239), `Via` appended (RFC 9110 §7.6.3), and the identity headers set
//! from the opened token.

use std::net::{IpAddr, SocketAddr};

use base64::Engine as _;
use http::header::{HeaderName, CONNECTION, FORWARDED, HOST, TE, TRANSFER_ENCODING, UPGRADE};
use http::{HeaderMap, HeaderValue};

use crate::resource_server::AccessToken;

/// The `Via` entry the gateway appends (RFC 9110 §7.6.3: protocol version and a pseudonym).
pub(super) const VIA_ENTRY: &str = "1.1 jwe-mint";

/// The identity headers the gateway sets on authenticated requests.
const X_AUTH_SUBJECT: &str = "x-auth-subject";
const X_AUTH_CLIENT_ID: &str = "x-auth-client-id";
const X_AUTH_SCOPE: &str = "x-auth-scope";
const X_AUTH_CLAIMS: &str = "x-auth-claims";

/// RFC 9110 §7.6.1: the fields `Connection` names, and the hop-by-hop fields themselves.
pub(super) fn remove_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(CONNECTION)
        .iter()
        .flat_map(|v| v.as_bytes().split(|&b| b == b','))
        .filter_map(|name| HeaderName::from_bytes(name.trim_ascii()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in [CONNECTION, TE, TRANSFER_ENCODING, UPGRADE] {
        headers.remove(name);
    }
    headers.remove("keep-alive");
    headers.remove("proxy-connection");
}

/// Whether `name` starts with `prefix` (lowercase, `-` separated), however spelled:
/// case-insensitive (the `http` crate lowercases names anyway) and with `_` read as `-`, as
/// CGI-style backends fold them (CVE-2025-64484).
fn starts_with_folded(name: &HeaderName, prefix: &[u8]) -> bool {
    let name = name.as_str().as_bytes();
    name.len() >= prefix.len()
        && name.iter().zip(prefix).all(|(&a, &b)| a.to_ascii_lowercase() == b || (a == b'_' && b == b'-'))
}

/// Whether a header name is one of the identity headers, however spelled.
fn is_identity_header(name: &HeaderName) -> bool {
    starts_with_folded(name, b"x-auth-")
}

/// `Forwarded` or `X-Forwarded-For` / `-Proto` / `-Host`, however spelled.
fn is_forwarding_header(name: &HeaderName) -> bool {
    [&b"forwarded"[..], b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host"]
        .iter()
        .any(|full| name.as_str().len() == full.len() && starts_with_folded(name, full))
}

pub(super) fn remove_spoofed_identity(headers: &mut HeaderMap) {
    let spoofed: Vec<HeaderName> = headers.keys().filter(|n| is_identity_header(n)).cloned().collect();
    for name in spoofed {
        headers.remove(name);
    }
}

/// Replaces whatever the client said about the connection with what the gateway saw (RFC 7239).
pub(super) fn set_forwarded(headers: &mut HeaderMap, peer: SocketAddr) {
    // Every spelling with `_` for `-` too: CGI-style backends read `X_Forwarded_For` as
    // `HTTP_X_FORWARDED_FOR`, next to the gateway's own (as for the `x-auth-` headers).
    let spoofed: Vec<HeaderName> = headers.keys().filter(|n| is_forwarding_header(n)).cloned().collect();
    for name in spoofed {
        headers.remove(name);
    }
    let ip = peer.ip().to_canonical();
    let node = match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("\"[{v6}]\""),
    };
    let mut forwarded = format!("for={node};proto=http");
    let host = headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\'));
    if let Some(host) = host {
        forwarded.push_str(&format!(";host=\"{host}\""));
        if let Ok(v) = HeaderValue::from_str(host) {
            headers.insert("x-forwarded-host", v);
        }
    }
    if let Ok(v) = HeaderValue::from_str(&forwarded) {
        headers.insert(FORWARDED, v);
    }
    if let Ok(v) = HeaderValue::from_str(&ip.to_string()) {
        headers.insert("x-forwarded-for", v);
    }
    headers.insert("x-forwarded-proto", HeaderValue::from_static("http"));
}

/// Step (4): the identity headers from the opened token.
pub(super) fn set_identity(headers: &mut HeaderMap, token: &AccessToken) -> Result<(), ()> {
    let scope = token.scopes().collect::<Vec<_>>().join(" ");
    let claims = serde_json::to_vec(token.raw_claims()).map_err(|_| ())?;
    let claims = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(claims);
    for (name, value) in [
        (X_AUTH_SUBJECT, token.subject()),
        (X_AUTH_CLIENT_ID, token.client_id()),
        (X_AUTH_SCOPE, scope.as_str()),
        (X_AUTH_CLAIMS, claims.as_str()),
    ] {
        // Visible ASCII and spaces only: a header value must not smuggle control characters.
        if !value.bytes().all(|b| b == b' ' || b.is_ascii_graphic()) {
            return Err(());
        }
        let value = HeaderValue::from_str(value).map_err(|_| ())?;
        headers.insert(HeaderName::from_static(name), value);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarding_headers_are_replaced_however_spelled() {
        let mut headers = HeaderMap::new();
        for name in
            ["x_forwarded_for", "X_Forwarded-Proto", "x-forwarded_host", "forwarded", "x-forwarded-for"]
        {
            headers.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_static("10.0.0.1"),
            );
        }
        headers.insert(HOST, HeaderValue::from_static("api.example.com"));
        headers.insert("x-forwarded-port", HeaderValue::from_static("443"));
        set_forwarded(&mut headers, "127.0.0.9:4000".parse().unwrap());
        let names: Vec<&str> = headers.keys().map(HeaderName::as_str).collect();
        assert!(!names.iter().any(|n| n.contains('_')), "{names:?}");
        assert_eq!(headers.get_all("x-forwarded-for").iter().collect::<Vec<_>>(), ["127.0.0.9"]);
        assert_eq!(headers.get_all(FORWARDED).iter().count(), 1);
        assert_eq!(headers.get_all("x-forwarded-proto").iter().collect::<Vec<_>>(), ["http"]);
        // Not one of the four: left alone.
        assert_eq!(headers.get("x-forwarded-port").unwrap(), "443");
    }

    #[test]
    fn identity_headers_are_recognised_however_spelled() {
        for name in ["x-auth-subject", "x_auth_subject", "x-auth_subject", "x_auth-claims", "x-auth-anything"]
        {
            assert!(is_identity_header(&HeaderName::from_bytes(name.as_bytes()).unwrap()), "{name}");
        }
        for name in ["x-authorization", "x-auth", "authorization", "x-forwarded-for"] {
            assert!(!is_identity_header(&HeaderName::from_bytes(name.as_bytes()).unwrap()), "{name}");
        }
    }

    #[test]
    fn hop_by_hop_fields_and_those_connection_names_are_removed() {
        let mut h = HeaderMap::new();
        h.insert(CONNECTION, HeaderValue::from_static("keep-alive, X-Secret ,x-other"));
        h.insert("x-secret", HeaderValue::from_static("1"));
        h.insert("x-other", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert(TE, HeaderValue::from_static("trailers"));
        h.insert(UPGRADE, HeaderValue::from_static("websocket"));
        h.insert("proxy-connection", HeaderValue::from_static("keep-alive"));
        h.insert("x-kept", HeaderValue::from_static("1"));
        remove_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1, "{h:?}");
        assert!(h.contains_key("x-kept"));
    }
}
