//! The [`Fetcher`] trait: the one network operation of the wire layer (send a request, get the
//! response with its whole body), in `http` types so that a caller can bring any HTTP client,
//! proxy or trust store; and [`PublicAddressesOnly`], the request extension that asks for the
//! non-public-address rule on one request.

use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;
use url::Url;

use super::error::WireError;

/// The future a [`Fetcher`] returns.
pub type FetchFuture<'a> =
    Pin<Box<dyn Future<Output = Result<http::Response<Bytes>, WireError>> + Send + 'a>>;

/// Sends an HTTP request and returns the response with its whole (bounded) body: the one network
/// operation of the wire layer. Key sets and discovery GET documents through it; the client side
/// ([`TokenBook`](crate::wire::TokenBook), [`AuthorizedClient`](crate::wire::AuthorizedClient))
/// sends its token requests, its requests to resource servers and its metadata GETs through it.
/// Implement it to bring your own HTTP client, proxy or trust store.
///
/// An implementation must, for every request whatever its method:
///
/// - never follow a redirect: a 3xx is refused with [`WireError::Redirect`] (or returned as is);
/// - bound the time the whole request takes and the size of the body it reads;
/// - refuse to connect to a non-public address ([`is_non_public`](super::is_non_public)) when the
///   request carries the [`PublicAddressesOnly`] extension (URLs learned from responses, RFC 9728
///   §7.7), judged on the address it connects to;
/// - name the request's URL in every error, without credentials.
///
/// A request whose URI is not absolute is an error. Every status other than 3xx is returned as
/// a response: deciding what a 404 or a 401 means is the caller's job.
///
/// [`HttpFetcher`](super::HttpFetcher) does all of that, and more (`https` only unless loopback
/// `http` is allowed, no credentials in URLs); a wrapper that forwards to one keeps its limits,
/// as long as it forwards the request's extensions.
pub trait Fetcher: Send + Sync {
    /// Sends `request` and reads the whole response body (within the fetcher's limits).
    fn send(&self, request: http::Request<Bytes>) -> FetchFuture<'_>;

    /// `GET url` with `Accept: application/jwk-set+json, application/json`, through
    /// [`send`](Self::send).
    fn get(&self, url: &Url) -> FetchFuture<'_> {
        match get_request(url) {
            Ok(request) => self.send(request),
            Err(e) => Box::pin(std::future::ready(Err(e))),
        }
    }
}

/// A request extension: the [`Fetcher`] must not connect to a non-public address
/// ([`is_non_public`](super::is_non_public)) for this request, judged on the address connected
/// to, as [`HttpFetcherBuilder::refuse_private_addresses`](super::HttpFetcherBuilder::refuse_private_addresses)
/// does for every request. [`AuthorizedClient`](crate::wire::AuthorizedClient) puts it on the
/// metadata GET that follows a 401 (a URL learned from a response, RFC 9728 §7.7) unless the
/// request itself went to such an address.
///
/// ```
/// use jwe_mint::wire::PublicAddressesOnly;
/// let mut request = http::Request::get("https://rs.example.com/.well-known/oauth-protected-resource")
///     .body(bytes::Bytes::new())
///     .unwrap();
/// request.extensions_mut().insert(PublicAddressesOnly);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PublicAddressesOnly;

/// The `GET` request of [`Fetcher::get`].
pub(crate) fn get_request(url: &Url) -> Result<http::Request<Bytes>, WireError> {
    http::Request::get(url.as_str())
        .header(http::header::ACCEPT, "application/jwk-set+json, application/json")
        .body(Bytes::new())
        .map_err(|e| WireError::InvalidUrl { url: crate::untrusted::url(&url), reason: e.to_string() })
}

/// The absolute URL of a request's URI; [`WireError::InvalidUrl`] when it is not one. The URL is
/// parsed as the URL Standard says (dot segments removed, host lowercased): what is sent is this
/// URL, so every check is made on it.
pub(crate) fn request_url(uri: &http::Uri) -> Result<Url, WireError> {
    let text = uri.to_string();
    let invalid = |reason: String| WireError::InvalidUrl { url: shown_uri(uri), reason };
    if uri.scheme().is_none() || uri.authority().is_none() {
        return Err(invalid("not an absolute URL".into()));
    }
    Url::parse(&text).map_err(|e| invalid(e.to_string()))
}

/// A URI for an error message: without user information (which [`request_url`] would otherwise
/// echo), shortened and printable.
fn shown_uri(uri: &http::Uri) -> String {
    let text = uri.to_string();
    let text = match uri.authority().map(http::uri::Authority::as_str) {
        Some(authority) if authority.contains('@') => {
            let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
            text.replacen(authority, host, 1)
        }
        _ => text,
    };
    crate::untrusted::value(&text)
}

/// `Ok` for 200; [`WireError::Redirect`] for a 3xx; [`WireError::Status`] otherwise.
pub(crate) fn require_ok(response: &http::Response<Bytes>, url: &Url) -> Result<(), WireError> {
    let status = response.status();
    if status.is_redirection() {
        Err(WireError::Redirect { url: crate::untrusted::url(&url), status: status.as_u16() })
    } else if status != http::StatusCode::OK {
        Err(WireError::Status { url: crate::untrusted::url(&url), status: status.as_u16() })
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_urls_are_absolute_and_errors_hide_credentials() {
        let uri = |s: &str| s.parse::<http::Uri>().unwrap();
        assert_eq!(
            request_url(&uri("https://RS.example/a/../b?q=1")).unwrap().as_str(),
            "https://rs.example/b?q=1"
        );
        assert!(matches!(request_url(&uri("/relative")), Err(WireError::InvalidUrl { .. })));
        assert!(matches!(request_url(&uri("rs.example:443")), Err(WireError::InvalidUrl { .. })));
        // A URI the URL parser refuses: the error names it without its password.
        let e = request_url(&uri("https://user:hunter2@rs.example:99999/")).unwrap_err();
        assert!(!e.to_string().contains("hunter2") && e.url().contains("rs.example"), "{e}");
    }
}
