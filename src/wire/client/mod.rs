//! The client side: [`TokenBook`] (one access token per resource, each sent only where its
//! resource covers the URL) and [`AuthorizedClient`], an HTTP helper that attaches the right
//! token and, on a 401, finds the resource server's authorization server by itself (RFC 9728
//! §5: `resource_metadata` in `WWW-Authenticate`, as the MCP authorization spec uses it).

mod authorized;
mod challenge;
mod dpop;
mod error;
mod token_book;
mod token_request;
mod url_match;

pub use authorized::AuthorizedClient;
pub use error::ClientError;
pub use token_book::{BearerToken, TokenBook, TokenBookBuilder, DEFAULT_REFRESH_SKEW};
