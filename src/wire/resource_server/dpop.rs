//! DPoP at the resource server (RFC 9449 §7): how the [`BearerLayer`](super::BearerLayer) checks
//! `Authorization: DPoP` requests — the proof's validation, the replay store, the `htu` base,
//! whether unbound tokens are refused, and the server's nonces.

use std::fmt;
use std::sync::Arc;

use crate::dpop::{DpopValidation, MemoryReplayStore, NonceSource, ReplayStore};
use crate::jwa::SigningAlg;
use crate::wire::transport::ConfigError;

/// The request header that carries the proof (RFC 9449 §4.1).
pub(super) const DPOP: &str = "dpop";

/// The response header that carries the server's nonce (RFC 9449 §8.1, §9).
pub(super) const DPOP_NONCE: &str = "dpop-nonce";

/// How a layer checks DPoP requests; shared by the layer's copies.
#[derive(Clone)]
pub(super) struct DpopSettings {
    pub(super) validation: DpopValidation,
    pub(super) store: Arc<dyn ReplayStore>,
    /// `scheme://authority[/prefix]` without a trailing `/`: the request's path is appended to
    /// make the `htu` the proof must name (RFC 9449 §4.3 step 9). Configuration, never `Host`.
    pub(super) public_base: String,
    /// Refuse unbound tokens and the Bearer scheme.
    pub(super) required: bool,
    /// The server's nonces, when it requires them (RFC 9449 §9).
    pub(super) nonces: Option<NonceSource>,
    /// The `algs` parameter of the DPoP challenge (RFC 9449 §7.1), space-separated.
    pub(super) algs: String,
}

impl fmt::Debug for DpopSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DpopSettings")
            .field("validation", &self.validation)
            .field("store", &self.store)
            .field("public_base", &self.public_base)
            .field("required", &self.required)
            .field("nonces", &self.nonces)
            .finish()
    }
}

impl DpopSettings {
    /// The defaults for a resource: the library's [`DpopValidation`], a
    /// [`MemoryReplayStore`], `htu` from the resource's origin, Bearer still allowed, no nonce.
    pub(super) fn for_resource(resource: &str) -> Result<DpopSettings, ConfigError> {
        let url = url::Url::parse(resource)
            .map_err(|_| ConfigError::invalid("resource", "resource must be an absolute URL"))?;
        let validation = DpopValidation::default();
        Ok(DpopSettings {
            algs: alg_names(validation.algs()),
            validation,
            store: Arc::new(MemoryReplayStore::default()),
            public_base: url.origin().ascii_serialization(),
            required: false,
            nonces: None,
        })
    }

    /// The `htu` a proof for a request with this `path` must name.
    pub(super) fn htu(&self, path: &str) -> String {
        format!("{}{}", self.public_base, path)
    }

    /// Rebuilds the validation from its parts (the nonce requirement follows `nonces`).
    pub(super) fn set_validation(&mut self, validation: DpopValidation) {
        self.algs = alg_names(validation.algs());
        self.validation = match &self.nonces {
            Some(n) => validation.require_nonce(n.clone()),
            None => validation,
        };
    }
}

fn alg_names(algs: &[SigningAlg]) -> String {
    algs.iter().map(|a| a.name()).collect::<Vec<_>>().join(" ")
}

/// A public base for `htu`: an absolute `http(s)` URL without credentials, query or fragment,
/// printable; its trailing `/` dropped (the request's path brings its own).
pub(super) fn public_base(url: &str) -> Result<String, ConfigError> {
    let refused = |reason: &str| ConfigError::invalid("dpop_public_base", reason);
    let parsed = url::Url::parse(url).map_err(|_| refused("the DPoP public base must be an absolute URL"))?;
    if !matches!(parsed.scheme(), "https" | "http") {
        return Err(refused("the DPoP public base must be an http(s) URL"));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(refused("the DPoP public base must have no query or fragment"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(refused("the DPoP public base must not carry credentials"));
    }
    let serialised = parsed.as_str();
    Ok(serialised.strip_suffix('/').unwrap_or(serialised).to_owned())
}

/// The `DPoP` field values of a request, as text (a value that is not text counts as `""`, which
/// the check refuses).
pub(super) fn proofs(headers: &http::HeaderMap) -> Vec<&str> {
    headers.get_all(DPOP).iter().map(|v| v.to_str().unwrap_or("")).collect()
}

/// Now, in seconds since the Unix epoch (a clock before 1970 reads as 0: every proof is then
/// out of its window, refused rather than accepted).
pub(super) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_bases_are_checked_and_lose_their_trailing_slash() {
        assert_eq!(public_base("https://api.example.com/").unwrap(), "https://api.example.com");
        assert_eq!(public_base("https://api.example.com/v1/").unwrap(), "https://api.example.com/v1");
        for bad in ["ftp://x", "https://x/?q", "https://x/#f", "https://u:p@x", "x"] {
            assert!(public_base(bad).is_err(), "{bad}");
        }
        let s = DpopSettings::for_resource("https://api.example.com/photos").unwrap();
        assert_eq!(s.htu("/photos/1"), "https://api.example.com/photos/1");
        assert_eq!(s.algs, "RS256 PS256 ES256 ES384 ES512 EdDSA");
    }
}
