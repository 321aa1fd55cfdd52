//! Where metadata lives: the well-known URLs of RFC 8414 §3.1 (authorization server metadata, and
//! the OpenID Connect Discovery 1.0 §4 URLs tried after it) and RFC 9728 §3.1 (protected resource
//! metadata), one rule for both.

use url::Url;

use super::error::WireError;

/// RFC 8414 §3.1: the well-known suffix of authorization server metadata.
const OAUTH_AS: &str = "/.well-known/oauth-authorization-server";
/// OpenID Connect Discovery 1.0 §4: the well-known suffix of an OpenID provider's configuration.
const OPENID: &str = "/.well-known/openid-configuration";
/// RFC 9728 §3.1: the well-known suffix of protected resource metadata.
pub(crate) const PROTECTED_RESOURCE: &str = "/.well-known/oauth-protected-resource";

/// The URLs where an issuer's metadata may be, in the order tried: the RFC 8414 §3.1 URL (the
/// well-known segment inserted between host and path, after stripping one trailing `/`), the
/// OpenID Connect Discovery URL inserted the same way, and the OpenID URL appended to the issuer
/// (OpenID Connect Discovery 1.0 §4). Duplicates (an issuer without a path) appear once.
///
/// ```
/// use jwe_mint::wire::authorization_server_metadata_urls;
/// let urls = authorization_server_metadata_urls("https://as.example.com/tenant1/").unwrap();
/// let urls: Vec<&str> = urls.iter().map(|u| u.as_str()).collect();
/// assert_eq!(urls, [
///     "https://as.example.com/.well-known/oauth-authorization-server/tenant1",
///     "https://as.example.com/.well-known/openid-configuration/tenant1",
///     "https://as.example.com/tenant1/.well-known/openid-configuration",
/// ]);
/// ```
pub fn authorization_server_metadata_urls(issuer: &str) -> Result<Vec<Url>, WireError> {
    let invalid =
        |reason: &str| WireError::InvalidUrl { url: crate::untrusted::url(&issuer), reason: reason.into() };
    let parsed = Url::parse(issuer).map_err(|e| invalid(&e.to_string()))?;
    // RFC 8414 §2: an https URL with no query or fragment.
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(invalid("an issuer has no query or fragment"));
    }
    if parsed.cannot_be_a_base() || parsed.host().is_none() {
        return Err(invalid("an issuer needs a host"));
    }
    let mut urls = vec![well_known_url(&parsed, OAUTH_AS), well_known_url(&parsed, OPENID)];
    let path = parsed.path();
    let mut appended = parsed.clone();
    appended.set_path(&format!("{}{OPENID}", path.strip_suffix('/').unwrap_or(path)));
    if !urls.contains(&appended) {
        urls.push(appended);
    }
    Ok(urls)
}

/// `well_known` inserted between the host and the path of `id`, after stripping one trailing
/// `/` from the path (RFC 8414 §3.1, RFC 9728 §3.1); the query, if any, stays after the path.
pub(crate) fn well_known_url(id: &Url, well_known: &str) -> Url {
    let path = id.path();
    let path = path.strip_suffix('/').unwrap_or(path);
    let mut url = id.clone();
    url.set_path(&format!("{well_known}{path}"));
    url.set_fragment(None);
    url
}

/// The URL of a resource's metadata (RFC 9728 §3.1): `/.well-known/oauth-protected-resource`
/// inserted between the host and the path (after stripping one trailing `/`), the query kept.
///
/// ```
/// use jwe_mint::wire::protected_resource_metadata_url;
/// let url = |r| protected_resource_metadata_url(r).unwrap().to_string();
/// assert_eq!(url("https://rs.example.com/photos/"), "https://rs.example.com/.well-known/oauth-protected-resource/photos");
/// assert_eq!(url("https://rs.example.com"), "https://rs.example.com/.well-known/oauth-protected-resource");
/// assert_eq!(url("https://rs.example.com/a?t=1"), "https://rs.example.com/.well-known/oauth-protected-resource/a?t=1");
/// ```
pub fn protected_resource_metadata_url(resource: &str) -> Result<Url, WireError> {
    let invalid = |reason: &str| WireError::InvalidUrl {
        url: crate::untrusted::value(resource),
        reason: reason.into(),
    };
    let parsed = Url::parse(resource).map_err(|e| invalid(&e.to_string()))?;
    if parsed.fragment().is_some() {
        return Err(invalid("a resource identifier has no fragment"));
    }
    if parsed.cannot_be_a_base() || parsed.host().is_none() {
        return Err(invalid("a resource identifier needs a host"));
    }
    Ok(well_known_url(&parsed, PROTECTED_RESOURCE))
}
