//! The resource server's side of the wire (feature `axum`).
//!
//! - [`BearerLayer`]: a tower layer that lets a request through only with a valid access token
//!   from `Authorization: Bearer` (RFC 6750), answers 400/401/403 as RFC 6750 §3 and RFC 9728
//!   §5.1 say, and hands the [`AccessToken`](crate::resource_server::AccessToken) to handlers as an
//!   axum extractor. It accepts DPoP-bound tokens with their proof too (`Authorization: DPoP`,
//!   RFC 9449 §7.1), and refuses such tokens as Bearer tokens.
//! - [`MetadataRouter`]: the RS's RFC 9728 metadata and the JWK Set at its `jwks_uri`.

mod dpop;
mod layer;
mod metadata;

pub use layer::{BearerLayer, BearerRejection, BearerService, RejectionKind, DEFAULT_MAX_FORM_BODY};
pub use metadata::{MetadataRouter, DEFAULT_MAX_AGE};
