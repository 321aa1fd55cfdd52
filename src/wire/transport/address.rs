//! Which addresses the transport connects to: loopback hosts (for plain `http` by opt-in) and the
//! non-public addresses refused on the address actually connected to (RFC 9728 §7.7), with the
//! resolution that enforces it.

use std::error::Error as StdError;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use url::Host;

/// Whether a URL's host is a loopback address or `localhost` (plain `http` is allowed only there).
pub(super) fn is_loopback_host(host: &Host<&str>) -> bool {
    match host {
        Host::Ipv4(a) => a.is_loopback(),
        Host::Ipv6(a) => a.is_loopback() || a.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()),
        Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
    }
}

/// Whether an address is one that
/// [`HttpFetcherBuilder::refuse_private_addresses`](super::HttpFetcherBuilder::refuse_private_addresses)
/// refuses:
/// unspecified, loopback, private (RFC 1918), shared (RFC 6598), link-local, broadcast, multicast,
/// documentation, benchmarking and reserved IPv4; unspecified, loopback, unique-local (RFC 4193),
/// link-local, site-local, multicast and documentation IPv6; and IPv6 forms that embed an IPv4
/// address (IPv4-mapped, IPv4-compatible, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`) judged by that
/// IPv4 address.
pub fn is_non_public(addr: IpAddr) -> bool {
    match addr {
        IpAddr::V4(a) => v4_non_public(a),
        IpAddr::V6(a) => v6_non_public(a),
    }
}

fn v4_non_public(a: Ipv4Addr) -> bool {
    let [o0, o1, o2, _] = a.octets();
    o0 == 0 // "this network", incl. 0.0.0.0 (RFC 1122 §3.2.1.3)
        || a.is_loopback()
        || a.is_private()
        || a.is_link_local()
        || a.is_broadcast()
        || a.is_multicast()
        || a.is_documentation()
        || (o0 == 100 && (o1 & 0xc0) == 64) // shared address space (RFC 6598)
        || (o0 == 192 && o1 == 0 && o2 == 0) // IETF protocol assignments (RFC 6890)
        || (o0 == 198 && (o1 & 0xfe) == 18) // benchmarking (RFC 2544)
        || o0 >= 240 // reserved (RFC 1112 §4)
}

fn v6_non_public(a: Ipv6Addr) -> bool {
    let s = a.segments();
    let embedded = |hi: u16, lo: u16| Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8);
    if a.is_unspecified() || a.is_loopback() {
        return true;
    }
    if let Some(v4) = a.to_ipv4_mapped() {
        return v4_non_public(v4);
    }
    if s[..6] == [0; 6] {
        // IPv4-compatible (RFC 4291 §2.5.5.1, deprecated)
        return v4_non_public(embedded(s[6], s[7]));
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return v4_non_public(embedded(s[6], s[7])); // NAT64 (RFC 6052 §2.1)
    }
    if s[0] == 0x2002 {
        return v4_non_public(embedded(s[1], s[2])); // 6to4 (RFC 3056 §2)
    }
    (s[0] & 0xfe00) == 0xfc00 // unique local (RFC 4193)
        || (s[0] & 0xffc0) == 0xfe80 // link-local
        || (s[0] & 0xffc0) == 0xfec0 // site-local (RFC 3879, deprecated)
        || (s[0] & 0xff00) == 0xff00 // multicast
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation (RFC 3849)
}

/// The resolver's refusal, found again in the HTTP client's error chain.
#[derive(Debug)]
pub(super) struct Refused(pub(super) IpAddr);

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "address {} is not public", self.0)
    }
}

impl StdError for Refused {}

/// Resolves `host` with the system resolver and keeps only its public addresses: the connector
/// never sees the others, so the address judged is the address connected to. None public: the
/// first one refused ([`Refused`]).
pub(super) async fn public_addresses(host: &str) -> Result<Vec<SocketAddr>, Box<dyn StdError + Send + Sync>> {
    let all: Vec<SocketAddr> = tokio::net::lookup_host((host, 0)).await?.collect();
    let first = all.first().map(SocketAddr::ip);
    let public: Vec<SocketAddr> = all.into_iter().filter(|a| !is_non_public(a.ip())).collect();
    match (public.is_empty(), first) {
        (false, _) => Ok(public),
        (true, Some(addr)) => Err(Box::new(Refused(addr))),
        (true, None) => Err(format!("{host}: no address").into()),
    }
}

/// The URL rules of every request, whoever sends it: no user name or password in the URL (they
/// would end up in logs), and `https`, or plain `http` to a loopback host only when
/// `allow_http_loopback`. Returns the URL's host. [`HttpFetcher`](super::HttpFetcher) applies it
/// with its setting; the client applies it with `true` to every URL a credential goes to (a
/// client secret, a refresh or access token), whatever [`Fetcher`](super::Fetcher) it was given.
pub(crate) fn check_destination(
    url: &url::Url,
    allow_http_loopback: bool,
) -> Result<Host<&str>, super::WireError> {
    use super::WireError;
    if !url.username().is_empty() || url.password().is_some() {
        let mut shown = url.clone();
        let _ = shown.set_username("");
        let _ = shown.set_password(None);
        return Err(WireError::CredentialsInUrl { url: crate::untrusted::url(&shown) });
    }
    let host = url.host().ok_or_else(|| WireError::InvalidUrl {
        url: crate::untrusted::url(&url),
        reason: "no host".into(),
    })?;
    match url.scheme() {
        "https" => Ok(host),
        "http" if !allow_http_loopback => Err(WireError::HttpNotAllowed { url: crate::untrusted::url(&url) }),
        "http" if !is_loopback_host(&host) => {
            Err(WireError::HttpNotLoopback { url: crate::untrusted::url(&url) })
        }
        "http" => Ok(host),
        _ => Err(WireError::UnsupportedScheme { url: crate::untrusted::url(&url) }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_public_addresses() {
        let refused = [
            "0.0.0.0",
            "127.0.0.1",
            "127.1.2.3",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "255.255.255.255",
            "100.64.0.1",
            "224.0.0.1",
            "240.0.0.1",
            "::",
            "::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
            "2001:db8::1",
        ];
        for a in refused {
            assert!(is_non_public(a.parse().unwrap()), "{a} must be refused");
        }
        let allowed =
            ["1.1.1.1", "8.8.8.8", "172.32.0.1", "100.128.0.1", "2606:4700::1111", "::ffff:1.1.1.1"];
        for a in allowed {
            assert!(!is_non_public(a.parse().unwrap()), "{a} must be allowed");
        }
    }
}
