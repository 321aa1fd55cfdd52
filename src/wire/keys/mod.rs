//! Keys on the wire: JWK Sets fetched and kept fresh, and the discovery that finds them.
//!
//! - [`RemoteJwkSet`]: one cached JWK Set per URL (lifetime from `Cache-Control`, RFC 9111),
//!   refreshed in the background and on unknown `kid`s, failing closed past a staleness cap.
//! - [`Discovery`]: RFC 8414 authorization server metadata and the issuer's verification keys.
//! - [`ProtectedResourceDiscovery`]: RFC 9728 protected resource metadata and an RS's encryption
//!   keys, bound to the AS's registry entries.
//! - [`KeyFile`] (feature `gateway`): the resource server's own key file, reloaded while it runs.

mod discovery;
#[cfg(feature = "gateway")]
mod key_file;
mod key_set;
mod protected_resource;

pub use discovery::{AuthorizationServerMetadata, Discovery};
#[cfg(feature = "gateway")]
pub use key_file::KeyFile;
pub use key_set::{KeySetConfig, KeySetStatus, KeyUseFilter, RemoteJwkSet};
pub use protected_resource::{ProtectedResourceDiscovery, ProtectedResourceMetadata};
