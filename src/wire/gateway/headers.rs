//! The gateway's header rules (2) to (5): the request target and `Host` checked (RFC 9112 §3.2),
//! hop-by-hop fields removed (RFC 9110 §7.6.1) from requests and from responses, their trailer
//! sections included, the identity headers a client sent removed however spelled and the
//! forwarding headers replaced by the gateway's own (RFC 7239), `Via` appended (RFC 9110 §7.6.3),
//! and the identity headers set from the opened token.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::response::Response;
use base64::Engine as _;
use http::header::{
    HeaderName, ALLOW as ALLOW_HEADER, AUTHORIZATION, CACHE_CONTROL, CONNECTION, CONTENT_ENCODING,
    CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, COOKIE, EXPIRES, FORWARDED, HOST, LOCATION, MAX_FORWARDS,
    PROXY_AUTHENTICATE, PROXY_AUTHORIZATION, SET_COOKIE, TE, TRAILER, TRANSFER_ENCODING, UPGRADE, VARY,
    WWW_AUTHENTICATE,
};
use http::{HeaderMap, HeaderValue, Method, StatusCode, Version};

use super::forward::plain;

use crate::resource_server::AccessToken;

/// The `Via` entry the gateway appends (RFC 9110 §7.6.3: protocol version and a pseudonym).
pub(super) const VIA_ENTRY: &str = "1.1 jwe-mint";

/// The identity headers the gateway sets on authenticated requests.
const X_AUTH_SUBJECT: HeaderName = HeaderName::from_static("x-auth-subject");
const X_AUTH_CLIENT_ID: HeaderName = HeaderName::from_static("x-auth-client-id");
const X_AUTH_SCOPE: HeaderName = HeaderName::from_static("x-auth-scope");
const X_AUTH_CLAIMS: HeaderName = HeaderName::from_static("x-auth-claims");
const X_AUTH_DPOP_JKT: HeaderName = HeaderName::from_static("x-auth-dpop-jkt");

/// The field names a `Connection` header section lists (RFC 9110 §7.6.1), those that are valid
/// names.
fn connection_options(headers: &HeaderMap) -> Vec<HeaderName> {
    headers
        .get_all(CONNECTION)
        .iter()
        .flat_map(|v| v.as_bytes().split(|&b| b == b','))
        .filter_map(|name| HeaderName::from_bytes(name.trim_ascii()).ok())
        .collect()
}

/// The hop-by-hop fields of RFC 9110 §7.6.1 (`Keep-Alive` and `Proxy-Connection` as deployed
/// before it), besides those a `Connection` field names.
fn is_hop_by_hop(name: &HeaderName) -> bool {
    [CONNECTION, TE, TRANSFER_ENCODING, UPGRADE].contains(name)
        || matches!(name.as_str(), "keep-alive" | "proxy-connection")
}

/// RFC 9110 §7.6.1: the fields `Connection` names, and the hop-by-hop fields themselves. One scan
/// of the names present: a removal hashes its name, and most messages carry none of these.
pub(super) fn remove_hop_by_hop(headers: &mut HeaderMap) {
    let named = connection_options(headers);
    let hop: Vec<HeaderName> =
        headers.keys().filter(|n| is_hop_by_hop(n) || named.contains(n)).cloned().collect();
    for name in hop {
        headers.remove(name);
    }
}

/// The fields the gateway's own checks read before the hop-by-hop fields go: `Host` (routing and
/// the forwarding fields), `Authorization` and `Content-Type` (the one-token rule of RFC 6750
/// §2), `Content-Length` (framing). RFC 9110 §7.6.1: a field meant for every recipient is never a
/// connection option, so a request whose `Connection` names one is refused instead of letting
/// the removal hide the field from those checks.
const NEVER_CONNECTION_OPTIONS: [HeaderName; 4] = [HOST, AUTHORIZATION, CONTENT_TYPE, CONTENT_LENGTH];

/// The methods the gateway forwards, for `Allow` (RFC 9110 §10.2.1).
const ALLOW: &str = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS";

/// A request the gateway answers itself (rule 2), before the header rules (3) to (5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Early {
    /// 400 with this text; the connection closes.
    BadRequest(&'static str),
    /// `CONNECT`: the gateway opens no tunnels (405 with `Allow`; the connection closes, since
    /// a client may already be sending the tunnel's bytes).
    Connect,
    /// `OPTIONS *` asks about the server, not a resource (RFC 9110 §9.3.7): 200 with `Allow`.
    OptionsAsterisk,
}

impl Early {
    /// The answer.
    pub(super) fn response(self) -> Response {
        let mut r = match self {
            Early::BadRequest(text) => plain(StatusCode::BAD_REQUEST, text),
            Early::Connect => plain(StatusCode::METHOD_NOT_ALLOWED, "CONNECT is not supported\n"),
            Early::OptionsAsterisk => Response::new(Body::empty()),
        };
        if matches!(self, Early::Connect | Early::OptionsAsterisk) {
            r.headers_mut().insert(ALLOW_HEADER, HeaderValue::from_static(ALLOW));
        }
        if matches!(self, Early::BadRequest(_) | Early::Connect) {
            r.headers_mut().insert(CONNECTION, HeaderValue::from_static("close"));
        }
        r
    }
}

/// Rule (2), on the request as the client sent it: the request target and `Host` (RFC 9112
/// §3.2), `CONNECT` and `OPTIONS *`, and a `Connection` field naming a field the gateway reads.
/// An absolute-form target's authority replaces `Host` (RFC 9112 §3.2.2).
pub(super) fn check_request(parts: &mut http::request::Parts) -> Result<(), Early> {
    // RFC 9112 §3.2: more than one Host, an invalid one, or none in HTTP/1.1 is 400.
    let mut hosts = parts.headers.get_all(HOST).iter();
    match (hosts.next(), hosts.next()) {
        (_, Some(_)) => return Err(Early::BadRequest("more than one Host\n")),
        (Some(host), None) if !is_authority(host.as_bytes()) => {
            return Err(Early::BadRequest("invalid Host\n"));
        }
        (None, None) if parts.version >= Version::HTTP_11 => {
            return Err(Early::BadRequest("no Host\n"));
        }
        _ => {}
    }
    if parts.method == Method::CONNECT {
        return Err(Early::Connect);
    }
    let uri = &parts.uri;
    if uri.scheme().is_some() {
        // Absolute form (RFC 9112 §3.2.2): the target's authority is the host, whatever `Host`
        // said; only http(s) targets, without user information (RFC 9110 §4.2.4).
        let http = uri
            .scheme_str()
            .is_some_and(|s| s.eq_ignore_ascii_case("http") || s.eq_ignore_ascii_case("https"));
        let authority = uri.authority().map(|a| a.as_str()).filter(|a| is_authority(a.as_bytes()));
        let Some(authority) = authority.filter(|_| http) else {
            return Err(Early::BadRequest("invalid request target\n"));
        };
        let Ok(host) = HeaderValue::from_str(authority) else {
            return Err(Early::BadRequest("invalid request target\n"));
        };
        parts.headers.insert(HOST, host);
    } else if uri.authority().is_some() {
        // Authority form is for CONNECT only (RFC 9112 §3.2.3).
        return Err(Early::BadRequest("invalid request target\n"));
    } else if uri.path() == "*" {
        // Asterisk form is for OPTIONS only (RFC 9112 §3.2.4).
        if parts.method == Method::OPTIONS {
            return Err(Early::OptionsAsterisk);
        }
        return Err(Early::BadRequest("invalid request target\n"));
    } else if !uri.path().starts_with('/') {
        return Err(Early::BadRequest("invalid request target\n"));
    }
    let named = connection_options(&parts.headers);
    if named.iter().any(|n| NEVER_CONNECTION_OPTIONS.contains(n)) {
        return Err(Early::BadRequest("Connection names a field meant for every recipient\n"));
    }
    Ok(())
}

/// `uri-host [ ":" port ]` (RFC 3986 §3.2.2, §3.2.3) of an http(s) URI, and stricter: the host
/// is an IP literal (IPv6 in brackets) or a non-empty name of letters, digits, `-`, `.`, `_` and
/// `~` (an empty host is invalid for http, RFC 9110 §4.2.1); a port is 1 to 5 digits up to 65535.
/// Percent-encoding and the sub-delims RFC 3986 also allows name no DNS host and are read as list
/// or parameter separators by some servers behind a proxy (`,`, `;`), so they are refused; so are
/// user information (`@`), paths, quotes and spaces.
fn is_authority(value: &[u8]) -> bool {
    let (host_ok, port) = if let Some(rest) = value.strip_prefix(b"[") {
        let Some(end) = rest.iter().position(|&b| b == b']') else { return false };
        let ip = std::str::from_utf8(&rest[..end]).ok().and_then(|s| s.parse::<std::net::Ipv6Addr>().ok());
        match &rest[end + 1..] {
            [] => (ip.is_some(), None),
            [b':', port @ ..] => (ip.is_some(), Some(port)),
            _ => return false,
        }
    } else {
        let (host, port) = match value.iter().position(|&b| b == b':') {
            Some(i) => (&value[..i], Some(&value[i + 1..])),
            None => (value, None),
        };
        let name = |b: &u8| b.is_ascii_alphanumeric() || b"-._~".contains(b);
        (!host.is_empty() && host.iter().all(name), port)
    };
    let port_ok = port.is_none_or(|p| {
        (1..=5).contains(&p.len())
            && p.iter().all(u8::is_ascii_digit)
            && std::str::from_utf8(p).ok().and_then(|p| p.parse::<u16>().ok()).is_some()
    });
    host_ok && port_ok
}

/// A header-name byte folded: lowercased (the `http` crate does it already) with `_` and `.` read
/// as `-`. CGI-style backends fold `_` into `-` (`HTTP_X_AUTH_SUBJECT`, oauth2-proxy
/// CVE-2025-64484), and some frameworks normalise every non-alphanumeric character, `.` included.
fn fold(b: u8) -> u8 {
    match b {
        b'_' | b'.' => b'-',
        b => b.to_ascii_lowercase(),
    }
}

/// Whether `name`, folded byte by byte (see [`fold`]), starts with `prefix` (lowercase, `-`
/// separated). Compared in place: these checks run on every field of every request.
fn folded_starts_with(name: &HeaderName, prefix: &str) -> bool {
    let name = name.as_str().as_bytes();
    name.len() >= prefix.len() && name.iter().zip(prefix.as_bytes()).all(|(&n, &p)| fold(n) == p)
}

/// Whether `name`, folded (see [`fold`]), is `field` (lowercase, `-` separated).
fn folded_eq(name: &HeaderName, field: &str) -> bool {
    name.as_str().len() == field.len() && folded_starts_with(name, field)
}

/// Whether a header name is one of the identity headers, however spelled.
fn is_identity_header(name: &HeaderName) -> bool {
    folded_starts_with(name, "x-auth-")
}

/// The fields servers take the client's address, scheme, host, port or original URL from,
/// besides `X-Forwarded-*`: replaced by the gateway's own (`Forwarded`, `X-Real-IP`) or removed.
const CLIENT_FIELDS: [&str; 11] = [
    "forwarded",
    "x-real-ip",
    "true-client-ip",
    "x-client-ip",
    "x-cluster-client-ip",
    "x-originating-ip",
    "x-remote-ip",
    "x-remote-addr",
    "cf-connecting-ip",
    "fastly-client-ip",
    "x-rewrite-url",
];

/// `Forwarded`, any `X-Forwarded-*` and `X-Original-*` (the fields a forward-auth service and
/// many upstreams take as the original request: `X-Original-URI`, `-Method`, `-Forwarded-For`),
/// and the client-address and original-URL fields, however spelled.
fn is_forwarding_header(name: &HeaderName) -> bool {
    folded_starts_with(name, "x-forwarded")
        || folded_starts_with(name, "x-original-")
        || CLIENT_FIELDS.iter().any(|field| folded_eq(name, field))
}

pub(super) fn remove_spoofed_identity(headers: &mut HeaderMap) {
    let spoofed: Vec<HeaderName> = headers.keys().filter(|n| is_identity_header(n)).cloned().collect();
    for name in spoofed {
        headers.remove(name);
    }
}

/// What the forwarding fields say about a connection's client, built once per connection (the
/// peer does not change between its requests).
pub(super) struct ClientAddress {
    /// The address, canonical (an IPv4-mapped IPv6 address as IPv4): `X-Forwarded-For`,
    /// `X-Real-IP`.
    ip: Option<HeaderValue>,
    /// `Forwarded` without `host` (RFC 7239 §4: `for`, a quoted IPv6 node, and `proto`).
    forwarded: String,
    /// `forwarded` as a field value, for a request without a usable `Host`.
    forwarded_value: Option<HeaderValue>,
}

impl ClientAddress {
    /// The fields for a client connected from `peer`.
    pub(super) fn new(peer: SocketAddr) -> ClientAddress {
        let ip = peer.ip().to_canonical();
        let node = match ip {
            IpAddr::V4(v4) => v4.to_string(),
            IpAddr::V6(v6) => format!("\"[{v6}]\""),
        };
        let forwarded = format!("for={node};proto=http");
        ClientAddress {
            ip: HeaderValue::from_str(&ip.to_string()).ok(),
            forwarded_value: HeaderValue::from_str(&forwarded).ok(),
            forwarded,
        }
    }
}

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_REAL_IP: HeaderName = HeaderName::from_static("x-real-ip");

/// Replaces whatever the client said about the connection with what the gateway saw: `Forwarded`
/// (RFC 7239), `X-Forwarded-For` / `-Proto` / `-Host` and `X-Real-IP`; every other field of the
/// family (`X-Forwarded-Port`, `-Prefix`, `True-Client-IP`, `X-Original-URL`, ...) is removed, so
/// the upstream falls back to what it sees itself.
pub(super) fn set_forwarded(headers: &mut HeaderMap, client: &ClientAddress) {
    // Every spelling with `_` or `.` for `-` too: CGI-style backends read `X_Forwarded_For` as
    // `HTTP_X_FORWARDED_FOR`, next to the gateway's own (as for the `x-auth-` headers).
    let spoofed: Vec<HeaderName> = headers.keys().filter(|n| is_forwarding_header(n)).cloned().collect();
    for name in spoofed {
        headers.remove(name);
    }
    let host = headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\'));
    let mut forwarded = client.forwarded_value.clone();
    if let Some(host) = host {
        let mut with_host = String::with_capacity(client.forwarded.len() + host.len() + 8);
        with_host.push_str(&client.forwarded);
        with_host.push_str(";host=\"");
        with_host.push_str(host);
        with_host.push('"');
        forwarded = HeaderValue::from_str(&with_host).ok();
        if let Ok(v) = HeaderValue::from_str(host) {
            headers.insert(X_FORWARDED_HOST, v);
        }
    }
    if let Some(v) = forwarded {
        headers.insert(FORWARDED, v);
    }
    if let Some(ip) = &client.ip {
        headers.insert(X_FORWARDED_FOR, ip.clone());
        headers.insert(X_REAL_IP, ip.clone());
    }
    headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static("http"));
}

/// Fields no trailer section may carry (RFC 9110 §6.5.1: framing, routing, authentication,
/// response controls and content format are read before the content), whatever the upstream's
/// `Trailer` field announced; hyper refuses some of them itself, not all.
const NEVER_TRAILERS: [HeaderName; 17] = [
    CONTENT_LENGTH,
    CONTENT_TYPE,
    CONTENT_ENCODING,
    CONTENT_RANGE,
    HOST,
    AUTHORIZATION,
    PROXY_AUTHORIZATION,
    WWW_AUTHENTICATE,
    PROXY_AUTHENTICATE,
    SET_COOKIE,
    COOKIE,
    CACHE_CONTROL,
    EXPIRES,
    LOCATION,
    VARY,
    MAX_FORWARDS,
    TRAILER,
];

/// Whether a response trailer field reaches the client: not hop-by-hop (RFC 9110 §7.6.1, with
/// `named`, the fields the response's `Connection` header section listed), not one of
/// [`NEVER_TRAILERS`], and not an identity or forwarding field (the gateway's own, never an
/// upstream's).
fn is_forwardable_trailer(name: &HeaderName, named: &[HeaderName]) -> bool {
    !is_hop_by_hop(name)
        && !named.contains(name)
        && !NEVER_TRAILERS.contains(name)
        && !is_identity_header(name)
        && !is_forwarding_header(name)
}

/// The hop-by-hop rule for a response, header section and trailers: removes the hop-by-hop
/// fields from `headers`, keeps in its `Trailer` field only the names that may be forwarded, and
/// returns what the trailer section needs ([`ResponseTrailers::clean`]).
pub(super) fn response_headers(headers: &mut HeaderMap) -> ResponseTrailers {
    let named = connection_options(headers);
    remove_hop_by_hop(headers);
    let announced: Vec<HeaderName> = headers
        .get_all(TRAILER)
        .iter()
        .flat_map(|v| v.as_bytes().split(|&b| b == b','))
        .filter_map(|name| HeaderName::from_bytes(name.trim_ascii()).ok())
        .filter(|name| is_forwardable_trailer(name, &named))
        .collect();
    headers.remove(TRAILER);
    if !announced.is_empty() {
        let list = announced.iter().map(HeaderName::as_str).collect::<Vec<_>>().join(", ");
        if let Ok(v) = HeaderValue::from_str(&list) {
            headers.insert(TRAILER, v);
        }
    }
    ResponseTrailers { named }
}

/// What a response's trailer section is cleaned with: the fields its header section's
/// `Connection` listed (they are hop-by-hop in the trailers too).
#[derive(Debug, Default)]
pub(super) struct ResponseTrailers {
    named: Vec<HeaderName>,
}

impl ResponseTrailers {
    /// Removes every field that must not reach the client (see [`is_forwardable_trailer`]),
    /// with those a `Connection` field in the trailers names.
    pub(super) fn clean(&self, trailers: &mut HeaderMap) {
        let mut named = connection_options(trailers);
        named.extend(self.named.iter().cloned());
        let dropped: Vec<HeaderName> =
            trailers.keys().filter(|n| !is_forwardable_trailer(n, &named)).cloned().collect();
        for name in dropped {
            trailers.remove(name);
        }
    }
}

/// Step (5): the identity headers from the opened token.
fn set_identity(headers: &mut HeaderMap, token: &AccessToken, claims: bool) -> Result<(), ()> {
    let scope = token.scopes().collect::<Vec<_>>().join(" ");
    let claims = match claims {
        true => Some(
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(serde_json::to_vec(token.raw_claims()).map_err(|_| ())?),
        ),
        false => None,
    };
    let fields = [
        (X_AUTH_SUBJECT, Some(token.subject())),
        (X_AUTH_CLIENT_ID, Some(token.client_id())),
        (X_AUTH_SCOPE, Some(scope.as_str())),
        (X_AUTH_CLAIMS, claims.as_deref()),
    ];
    for (name, value) in fields {
        let Some(value) = value else { continue };
        // Visible ASCII and spaces only: a header value must not smuggle control characters.
        if !value.bytes().all(|b| b == b' ' || b.is_ascii_graphic()) {
            return Err(());
        }
        let value = HeaderValue::from_str(value).map_err(|_| ())?;
        headers.insert(name, value);
    }
    Ok(())
}

/// Step (5), for a DPoP-bound token: `X-Auth-Dpop-Jkt`, the thumbprint of the key whose proof
/// the layer checked (the token's `cnf.jkt`, RFC 9449 §6.1), so the upstream learns the request
/// was sender-constrained. `always`: present and empty for an unbound token (forward-auth: Caddy
/// copies an absent header as a literal placeholder).
fn set_dpop_jkt(headers: &mut HeaderMap, token: &AccessToken, always: bool) -> Result<(), ()> {
    let jkt = match (token.dpop_jkt(), always) {
        (Some(jkt), _) => jkt,
        (None, true) => "",
        (None, false) => return Ok(()),
    };
    // It matched the proof's RFC 7638 thumbprint, base64url; checked again all the same.
    if !jkt.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        return Err(());
    }
    headers.insert(X_AUTH_DPOP_JKT, HeaderValue::from_str(jkt).map_err(|_| ())?);
    Ok(())
}

/// How many tokens' identity headers [`IdentityCache`] keeps.
const IDENTITY_SLOTS: usize = 256;

/// The identity headers (step 5) of the tokens seen last, built once per opened token instead of
/// once per request. The resource server answers a cached token (after checking its `exp`,
/// audience and scopes again) as a clone sharing the first opening's claims, behind the same
/// `Arc`s; a slot keeps such a clone, so while it is there no other token's claims can be at
/// those addresses, and the same addresses mean the same claims. A token opened afresh has new
/// claims and gets its headers built again.
pub(super) struct IdentityCache {
    /// Direct-mapped by the claims' address; a miss replaces the slot's entry.
    slots: Box<[Mutex<Option<IdentityEntry>>]>,
    /// `X-Auth-Claims` set (see [`set_identity`]).
    claims: bool,
    /// `X-Auth-Dpop-Jkt` set, empty, for an unbound token too (see [`set_dpop_jkt`]).
    always_jkt: bool,
}

/// One token's identity headers, with the token that keeps its claims' addresses its own.
struct IdentityEntry {
    token: AccessToken,
    fields: Arc<[(HeaderName, HeaderValue)]>,
}

impl IdentityEntry {
    fn is_for(&self, token: &AccessToken) -> bool {
        std::ptr::eq(self.token.standard_claims(), token.standard_claims())
            && std::ptr::eq(self.token.raw_claims(), token.raw_claims())
    }
}

impl IdentityCache {
    /// A cache for headers with `X-Auth-Claims` when `claims`, and `X-Auth-Dpop-Jkt` present
    /// (empty) for unbound tokens when `always_jkt`.
    pub(super) fn new(claims: bool, always_jkt: bool) -> IdentityCache {
        IdentityCache { slots: (0..IDENTITY_SLOTS).map(|_| Mutex::new(None)).collect(), claims, always_jkt }
    }

    /// Step (5): sets `token`'s identity headers in `headers`, replacing any of the same name;
    /// `Err` when the token's identity cannot be a header value (nothing is cached then).
    pub(super) fn set(&self, headers: &mut HeaderMap, token: &AccessToken) -> Result<(), ()> {
        let address = std::ptr::from_ref(token.standard_claims()).addr();
        // Allocations are at least 8-byte aligned: the low bits say nothing.
        let slot = &self.slots[(address >> 4) % IDENTITY_SLOTS];
        let cached = {
            let entry = slot.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            entry.as_ref().filter(|e| e.is_for(token)).map(|e| Arc::clone(&e.fields))
        };
        let fields = match cached {
            Some(fields) => fields,
            None => {
                let mut built = HeaderMap::new();
                set_identity(&mut built, token, self.claims)?;
                set_dpop_jkt(&mut built, token, self.always_jkt)?;
                let fields: Arc<[(HeaderName, HeaderValue)]> =
                    built.iter().map(|(n, v)| (n.clone(), v.clone())).collect();
                let entry = IdentityEntry { token: token.clone(), fields: Arc::clone(&fields) };
                *slot.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(entry);
                fields
            }
        };
        for (name, value) in fields.iter() {
            headers.insert(name.clone(), value.clone());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every spelling of `name` a backend could fold into it: each `-` as `-`, `_` or `.`, and
    /// each letter in either case.
    fn spellings(name: &str) -> Vec<String> {
        let mut out = vec![String::new()];
        for c in name.chars() {
            let options: Vec<char> = match c {
                '-' => vec!['-', '_', '.'],
                c if c.is_ascii_alphabetic() => vec![c.to_ascii_lowercase(), c.to_ascii_uppercase()],
                c => vec![c],
            };
            out = out.iter().flat_map(|s| options.iter().map(move |o| format!("{s}{o}"))).collect();
        }
        out
    }

    /// The fold as first written, one `String` per name: the in-place comparisons must agree.
    fn folded_reference(name: &HeaderName) -> String {
        name.as_str()
            .bytes()
            .map(|b| match b {
                b'_' | b'.' => '-',
                b => char::from(b.to_ascii_lowercase()),
            })
            .collect()
    }

    #[test]
    fn every_spelling_of_identity_and_forwarding_fields_is_caught_in_place() {
        let mut forwarding: Vec<&str> = CLIENT_FIELDS.to_vec();
        forwarding.extend([
            "x-forwarded-for",
            "x-forwarded-host",
            "x-forwarded",
            "x-original-uri",
            "x-original-",
        ]);
        for field in forwarding {
            for spelling in spellings(field) {
                let name = HeaderName::from_bytes(spelling.as_bytes()).unwrap();
                assert!(is_forwarding_header(&name), "{spelling}");
                assert!(!is_forwardable_trailer(&name, &[]), "{spelling}");
            }
        }
        for field in ["x-auth-subject", "x-auth-client-id", "x-auth-dpop-jkt", "x-auth-"] {
            for spelling in spellings(field) {
                let name = HeaderName::from_bytes(spelling.as_bytes()).unwrap();
                assert!(is_identity_header(&name), "{spelling}");
                let mut headers = HeaderMap::new();
                headers.insert(name, HeaderValue::from_static("mallory"));
                headers.insert("x-kept", HeaderValue::from_static("1"));
                remove_spoofed_identity(&mut headers);
                assert_eq!(headers.len(), 1, "{spelling}");
            }
        }
        // Agreement with the allocating fold on names around the prefixes and fields: shorter,
        // longer, one character off, other separators.
        let near = [
            "x",
            "x-",
            "x-auth",
            "x_auth",
            "x-auth-",
            "x-autha",
            "x-authx-y",
            "xauth-a",
            "y-auth-a",
            "x-auth--",
            "x-forward",
            "x-forwarde",
            "x-forwarded",
            "x_forwardedfor",
            "x-forwarder",
            "forwarded",
            "forwarde",
            "forwarded-",
            "forwardedx",
            "x-real-ip",
            "x-real-ipx",
            "x-real",
            "x-original",
            "x-original-",
            "x-originalx",
            "true-client-i",
            "true-client-ipp",
            "cf-connecting-ip",
            "x-rewrite-url",
            "x+auth-a",
            "x~forwarded",
            "x-auth-\u{0}",
        ];
        for text in near {
            let Ok(name) = HeaderName::from_bytes(text.as_bytes()) else { continue };
            let folded = folded_reference(&name);
            let identity = folded.starts_with("x-auth-");
            let forwarding = folded.starts_with("x-forwarded")
                || folded.starts_with("x-original-")
                || CLIENT_FIELDS.contains(&folded.as_str());
            assert_eq!(is_identity_header(&name), identity, "{text}");
            assert_eq!(is_forwarding_header(&name), forwarding, "{text}");
        }
    }

    /// Tokens of one issuer for one resource server, opened as the gateway's layer opens them.
    fn opener(cache: Option<usize>) -> (crate::issuer::Issuer, crate::resource_server::ResourceServer) {
        use crate::jwk::{Curve, Jwk, JwkSet};
        use crate::registry::{Registry, ResourceEntry};
        let (rs_url, as_url) = ("https://api.example.com", "https://as.example.com");
        let as_key = Jwk::generate(Curve::P256).unwrap();
        let rs_key = Jwk::generate(Curve::P256).unwrap();
        let mut registry = Registry::default();
        let entry =
            ResourceEntry::new(rs_url, ["read", "write"], JwkSet::new(vec![rs_key.to_public().unwrap()]));
        registry.insert(entry.unwrap()).unwrap();
        let issuer = crate::issuer::Issuer::builder(as_url, &as_key)
            .registry(registry)
            .allow_client("app", &[rs_url])
            .unwrap()
            .build()
            .unwrap();
        let mut rs = crate::resource_server::ResourceServer::builder(rs_url, as_url)
            .decryption_keys(JwkSet::new(vec![rs_key]))
            .issuer_keys(issuer.verification_keys().clone());
        if let Some(capacity) = cache {
            rs = rs.cache(capacity);
        }
        let rs = rs.build().unwrap();
        (issuer, rs)
    }

    fn mint(issuer: &crate::issuer::Issuer, subject: &str, scope: &str) -> String {
        let grant = crate::issuer::Grant::new(subject, "app", scope, &["https://api.example.com"]).unwrap();
        issuer.mint(&grant, "https://api.example.com").unwrap().access_token
    }

    /// The fields `set_identity` and `set_dpop_jkt` give `token`, without the cache.
    fn built(token: &AccessToken, claims: bool, always_jkt: bool) -> HeaderMap {
        let mut h = HeaderMap::new();
        set_identity(&mut h, token, claims).unwrap();
        set_dpop_jkt(&mut h, token, always_jkt).unwrap();
        h
    }

    #[test]
    fn cached_identity_headers_are_those_of_the_token_presented() {
        let (issuer, rs) = opener(Some(100));
        for (claims, always_jkt) in [(true, false), (false, true)] {
            let cache = IdentityCache::new(claims, always_jkt);
            let alice = mint(&issuer, "alice", "read");
            let bob = mint(&issuer, "bob", "read write");
            for round in 0..3 {
                for (jwe, subject) in [(&alice, "alice"), (&bob, "bob")] {
                    // The resource server's cache answers the same token with the same claims.
                    let token = rs.open(jwe).unwrap();
                    let mut headers = HeaderMap::new();
                    headers.insert(X_AUTH_SUBJECT, HeaderValue::from_static("mallory"));
                    cache.set(&mut headers, &token).unwrap();
                    assert_eq!(headers, built(&token, claims, always_jkt), "round {round}");
                    assert_eq!(headers.get(X_AUTH_SUBJECT).unwrap(), subject);
                    assert_eq!(headers.contains_key(X_AUTH_CLAIMS), claims);
                    assert_eq!(headers.contains_key(X_AUTH_DPOP_JKT), always_jkt);
                }
            }
        }
    }

    #[test]
    fn identity_headers_never_come_from_another_token_while_tokens_come_and_go() {
        // No resource-server cache: every opening is new claims, the last ones dropped, so their
        // memory is reused by the next; the cache must never take one token for another.
        let (issuer, rs) = opener(None);
        let cache = IdentityCache::new(true, false);
        let jwes: Vec<(String, String)> =
            (0..40).map(|i| (format!("user{i}"), mint(&issuer, &format!("user{i}"), "read"))).collect();
        for round in 0..5 {
            for (subject, jwe) in &jwes {
                let token = rs.open(jwe).unwrap();
                let mut headers = HeaderMap::new();
                cache.set(&mut headers, &token).unwrap();
                assert_eq!(headers.get(X_AUTH_SUBJECT).unwrap(), subject.as_str(), "round {round}");
                assert_eq!(headers, built(&token, true, false));
            }
        }
    }

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
        set_forwarded(&mut headers, &ClientAddress::new("127.0.0.9:4000".parse().unwrap()));
        let names: Vec<&str> = headers.keys().map(HeaderName::as_str).collect();
        assert!(!names.iter().any(|n| n.contains('_')), "{names:?}");
        assert_eq!(headers.get_all("x-forwarded-for").iter().collect::<Vec<_>>(), ["127.0.0.9"]);
        assert_eq!(headers.get_all(FORWARDED).iter().count(), 1);
        assert_eq!(headers.get_all("x-forwarded-proto").iter().collect::<Vec<_>>(), ["http"]);
        assert_eq!(headers.get_all("x-real-ip").iter().collect::<Vec<_>>(), ["127.0.0.9"]);
        // The rest of the family is removed, not replaced.
        assert!(headers.get("x-forwarded-port").is_none(), "{headers:?}");
    }

    #[test]
    fn forwarding_and_identity_names_are_folded_over_case_underscore_and_dot() {
        for name in [
            "x.forwarded.port",
            "X_Forwarded_Prefix",
            "x-forwarded",
            "true_client_ip",
            "x.real.ip",
            "x-original-url",
        ] {
            assert!(is_forwarding_header(&HeaderName::from_bytes(name.as_bytes()).unwrap()), "{name}");
        }
        for name in ["x-forward", "forwarded-x", "x-client", "x-kept"] {
            assert!(!is_forwarding_header(&HeaderName::from_bytes(name.as_bytes()).unwrap()), "{name}");
        }
        assert!(is_identity_header(&HeaderName::from_static("x.auth.subject")));
    }

    #[test]
    fn authorities_follow_rfc_3986_without_userinfo_sub_delims_or_percent() {
        for ok in [
            "a",
            "api.example.com",
            "api.example.com:8443",
            "127.0.0.1:1",
            "[::1]",
            "[::1]:80",
            "rs_1.internal~x",
        ] {
            assert!(is_authority(ok.as_bytes()), "{ok}");
        }
        for bad in [
            "",
            ":80",
            "a:",
            "a:0x1",
            "a:65536",
            "a:123456",
            "a b",
            "a\"b",
            "u@a",
            "a/b",
            "a,b",
            "a;b",
            "a%41",
            "[::1",
            "[x]",
            "[::1]x",
            "[::1]:",
            "a:80:80",
            "\u{e9}.example",
        ] {
            assert!(!is_authority(bad.as_bytes()), "{bad:?}");
        }
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
    fn response_trailers_keep_only_end_to_end_fields_and_trailer_announces_only_those() {
        let mut h = HeaderMap::new();
        h.insert(CONNECTION, HeaderValue::from_static("x-secret"));
        h.insert(
            TRAILER,
            HeaderValue::from_static("X-Secret, Connection, Set-Cookie, x-checksum, x_auth_subject"),
        );
        let trailers = response_headers(&mut h);
        assert_eq!(h.get(TRAILER).unwrap(), "x-checksum");
        let mut t = HeaderMap::new();
        for name in
            ["x-secret", "connection", "set-cookie", "x-checksum", "x_auth_subject", "keep-alive", "x-other"]
        {
            t.insert(HeaderName::from_bytes(name.as_bytes()).unwrap(), HeaderValue::from_static("x-other"));
        }
        trailers.clean(&mut t);
        let names: Vec<&str> = t.keys().map(HeaderName::as_str).collect();
        // `x-other` is named by the trailers' own `Connection`.
        assert_eq!(names, ["x-checksum"]);
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
