//! The HTTP transport of the wire layer and its errors.
//!
//! - [`Fetcher`]: send a request, get the response with its bounded body, in `http` types;
//!   [`HttpFetcher`] is the one on `reqwest` + rustls, with the limits of [`HttpFetcherBuilder`]
//!   for every request whatever its method.
//! - Address rules: `https` only (loopback `http` by opt-in) and, by opt-in, no connection to a
//!   non-public address ([`is_non_public`]), judged on the address actually connected to, for
//!   every request or for those marked [`PublicAddressesOnly`].
//! - The well-known URLs of RFC 8414 §3.1 and RFC 9728 §3.1.
//! - [`WireError`], every failure naming its URL, and [`ConfigError`].

mod address;
mod error;
mod fetcher;
mod http_fetcher;
mod urls;

pub(crate) use address::check_destination;
pub use address::is_non_public;
pub use error::{ConfigError, WireError};
pub(crate) use fetcher::{get_request, request_url, require_ok};
pub use fetcher::{FetchFuture, Fetcher, PublicAddressesOnly};
pub use http_fetcher::{
    HttpFetcher, HttpFetcherBuilder, DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_BODY, DEFAULT_TIMEOUT,
};
pub use urls::{authorization_server_metadata_urls, protected_resource_metadata_url};
pub(crate) use urls::{well_known_url, PROTECTED_RESOURCE};
