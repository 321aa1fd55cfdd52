//! The [`Fetcher`] trait: the one network operation the key sources need (GET a URL), so that a
//! caller can bring its own client, proxy or trust store; and the [`HttpResponse`] it returns.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use url::Url;

use super::error::WireError;

/// The future a [`Fetcher`] returns.
pub type FetchFuture<'a> = Pin<Box<dyn Future<Output = Result<HttpResponse, WireError>> + Send + 'a>>;

/// Gets a URL: the one network operation the key sources need, so that you can bring your own
/// client, proxy or trust store.
///
/// An implementation must not follow redirects (a 3xx is either returned as is or refused with
/// [`WireError::Redirect`]), must bound the time and the body size it accepts, and must name the URL in
/// every error. [`HttpFetcher`](super::HttpFetcher) does all of that.
pub trait Fetcher: Send + Sync {
    /// GET `url`; the response's status, headers and (bounded) body.
    fn get<'a>(&'a self, url: &'a Url) -> FetchFuture<'a>;
}

/// A response as a [`Fetcher`] returns it.
#[derive(Clone)]
#[non_exhaustive]
pub struct HttpResponse {
    /// The HTTP status.
    pub status: http::StatusCode,
    /// The response headers.
    pub headers: http::HeaderMap,
    /// The whole body.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// A response with these parts.
    pub fn new(status: http::StatusCode, headers: http::HeaderMap, body: Vec<u8>) -> HttpResponse {
        HttpResponse { status, headers, body }
    }

    /// `Ok` for 200; [`WireError::Redirect`] for a 3xx; [`WireError::Status`] otherwise.
    pub fn require_ok(&self, url: &Url) -> Result<(), WireError> {
        let status = self.status.as_u16();
        if self.status.is_redirection() {
            Err(WireError::Redirect { url: url.to_string(), status })
        } else if self.status != http::StatusCode::OK {
            Err(WireError::Status { url: url.to_string(), status })
        } else {
            Ok(())
        }
    }
}

impl fmt::Debug for HttpResponse {
    // The body is a (public) document, but it can be large: print its length only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpResponse")
            .field("status", &self.status)
            .field("headers", &self.headers)
            .field("body_len", &self.body.len())
            .finish()
    }
}
