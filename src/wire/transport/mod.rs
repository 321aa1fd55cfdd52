//! The HTTP transport of the wire layer and its errors.
//!
//! - [`Fetcher`]: GET a URL (status, headers, bounded body); [`HttpFetcher`] is the one on
//!   `reqwest` + rustls, with the limits of [`HttpFetcherBuilder`].
//! - Address rules: `https` only (loopback `http` by opt-in) and, by opt-in, no connection to a
//!   non-public address ([`is_non_public`]), judged on the address actually connected to.
//! - The well-known URLs of RFC 8414 §3.1 and RFC 9728 §3.1.
//! - [`WireError`], every failure naming its URL, and [`ConfigError`].

mod address;
mod error;
mod fetcher;
mod http_fetcher;
mod urls;

pub use address::is_non_public;
pub use error::{ConfigError, WireError};
pub use fetcher::{FetchFuture, Fetcher, HttpResponse};
pub use http_fetcher::{
    HttpFetcher, HttpFetcherBuilder, DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_BODY, DEFAULT_TIMEOUT,
};
pub use urls::{authorization_server_metadata_urls, protected_resource_metadata_url};
pub(crate) use urls::{well_known_url, PROTECTED_RESOURCE};
