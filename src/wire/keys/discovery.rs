//! RFC 8414 authorization server metadata: from an issuer identifier to its verified `jwks_uri`
//! and a live, filtered key set.

use std::sync::Arc;

use serde_json::{Map, Value};
use url::Url;

use super::key_set::{unavailable, KeySetConfig, KeyUseFilter, RemoteJwkSet};
use crate::resource_server::{ResourceServer, ResourceServerBuilder};
use crate::wire::tracing_targets::TRACING_TARGET;
use crate::wire::transport::{
    authorization_server_metadata_urls, require_ok, ConfigError, Fetcher, WireError,
};

/// An authorization server's metadata document, checked: its `issuer` is identical to the one
/// looked up (RFC 8414 §3.3) and its `jwks_uri` passed the origin rule of [`Discovery`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct AuthorizationServerMetadata {
    /// Where the document was found.
    pub metadata_url: Url,
    /// The issuer identifier (identical to the configured one).
    pub issuer: String,
    /// The AS's JWK Set URL.
    pub jwks_uri: Url,
    /// The whole document.
    pub document: Map<String, Value>,
}

/// Discovers what an authorization server publishes (RFC 8414), with the checks the RS side needs.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use jwe_mint::wire::{Discovery, HttpFetcher};
/// let discovery = Discovery::new(Arc::new(HttpFetcher::new()?));
/// let as_keys = discovery.issuer_keys("https://as.example.com").await?; // RemoteJwkSet
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Discovery {
    pub(super) fetcher: Arc<dyn Fetcher>,
    allowed_jwks_origins: Vec<url::Origin>,
    pub(super) key_set_config: KeySetConfig,
}

impl std::fmt::Debug for Discovery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Discovery")
            .field("allowed_jwks_origins", &self.allowed_jwks_origins)
            .field("key_set_config", &self.key_set_config)
            .finish_non_exhaustive()
    }
}

impl Discovery {
    /// Discovery through `fetcher`, with the default [`KeySetConfig`] and no extra `jwks_uri`
    /// origins.
    pub fn new(fetcher: Arc<dyn Fetcher>) -> Discovery {
        Discovery { fetcher, allowed_jwks_origins: Vec::new(), key_set_config: KeySetConfig::default() }
    }

    /// Also accepts a `jwks_uri` on this `https` origin (e.g. a CDN), besides the metadata's own.
    /// Refused: an `origin` that is not an absolute `https` URL ([`ConfigError::Invalid`] naming
    /// `"jwks_origin"`).
    pub fn allow_jwks_origin(mut self, origin: &str) -> Result<Discovery, ConfigError> {
        let refused = |reason: &str| {
            ConfigError::invalid(
                "jwks_origin",
                format!("{}: invalid URL: {reason}", crate::untrusted::redacted(origin)),
            )
        };
        let url = Url::parse(origin).map_err(|e| refused(&e.to_string()))?;
        if url.scheme() != "https" {
            return Err(refused("not https"));
        }
        self.allowed_jwks_origins.push(url.origin());
        Ok(self)
    }

    /// The timing rules for the key sets it creates.
    pub fn key_set_config(mut self, config: KeySetConfig) -> Discovery {
        self.key_set_config = config;
        self
    }

    /// Fetches the issuer's metadata: the RFC 8414 URL, then the OpenID Connect Discovery URL
    /// inserted the same way, then the OpenID URL appended (see [`authorization_server_metadata_urls`]).
    /// The first document that passes the checks is used. When none does, the error is the first
    /// that is not a 404 (a document with another `issuer`, a refused `jwks_uri`, a TLS failure, …),
    /// else the first 404.
    pub async fn authorization_server(&self, issuer: &str) -> Result<AuthorizationServerMetadata, WireError> {
        let mut first_error: Option<WireError> = None;
        for url in authorization_server_metadata_urls(issuer)? {
            match self.try_metadata(&url, issuer).await {
                Ok(metadata) => return Ok(metadata),
                Err(e) => {
                    tracing::info!(target: TRACING_TARGET, url = %crate::untrusted::redacted(url.as_str()), error = %e,
                        "authorization server metadata not used");
                    let not_found = matches!(e, WireError::Status { status: 404 | 410, .. });
                    match &first_error {
                        None => first_error = Some(e),
                        Some(WireError::Status { status: 404 | 410, .. }) if !not_found => {
                            first_error = Some(e)
                        }
                        Some(_) => {}
                    }
                }
            }
        }
        Err(first_error.unwrap_or_else(|| WireError::InvalidUrl {
            url: crate::untrusted::url(issuer),
            reason: "no URL".into(),
        }))
    }

    /// The issuer's signing keys: [`authorization_server`](Self::authorization_server), then a
    /// [`RemoteJwkSet`] on its `jwks_uri` that skips keys with `use: enc`.
    pub async fn issuer_keys(&self, issuer: &str) -> Result<RemoteJwkSet, WireError> {
        let metadata = self.authorization_server(issuer).await?;
        let mut config = self.key_set_config.clone();
        config.key_use = KeyUseFilter::Verify;
        RemoteJwkSet::new(metadata.jwks_uri.as_str(), Arc::clone(&self.fetcher), config).await
    }

    /// Builds the resource server `builder` describes, on the keys of its issuer
    /// ([`ResourceServerBuilder::issuer`]) discovered here and kept fresh
    /// ([`issuer_keys`](Self::issuer_keys), RFC 8414), set with
    /// [`ResourceServerBuilder::issuer_key_source`] (in place of any issuer keys named on the
    /// builder), then [`ResourceServerBuilder::build`].
    ///
    /// A discovery failure is [`Error::KeySource`](crate::Error::KeySource)
    /// ([`KeySourceError::Unavailable`](crate::jwk::KeySourceError::Unavailable), naming the URL)
    /// whose [`source`](std::error::Error::source) is the [`WireError`]: the one error type of
    /// `build()` is kept, and the wire's kind is still there to downcast. `build()`'s own
    /// refusals are as it documents.
    ///
    /// ```no_run
    /// # async fn demo(rs_keys: jwe_mint::jwk::JwkSet, token: &str) -> Result<(), Box<dyn std::error::Error>> {
    /// use std::sync::Arc;
    /// use jwe_mint::resource_server::ResourceServer;
    /// use jwe_mint::wire::{Discovery, HttpFetcher};
    /// let discovery = Discovery::new(Arc::new(HttpFetcher::new()?));
    /// let rs = discovery
    ///     .resource_server(
    ///         ResourceServer::builder("https://photos.example.com", "https://as.example.com")
    ///             .decryption_keys(rs_keys)
    ///             .cache(10_000),
    ///     )
    ///     .await?;
    /// let at = rs.open_async(token).await?; // a new AS kid is fetched once, then opens
    /// # Ok(()) }
    /// ```
    pub async fn resource_server(&self, builder: ResourceServerBuilder) -> crate::Result<ResourceServer> {
        let source = self.issuer_keys(builder.issuer()).await.map_err(unavailable)?;
        builder.issuer_key_source(Arc::new(source)).build()
    }

    async fn try_metadata(&self, url: &Url, issuer: &str) -> Result<AuthorizationServerMetadata, WireError> {
        let response = self.fetcher.get(url).await?;
        require_ok(&response, url)?;
        let invalid = |reason: &str| WireError::InvalidMetadata {
            url: crate::untrusted::url(&url),
            reason: reason.into(),
        };
        let document = crate::json::parse_object(response.body(), "metadata").map_err(|e| {
            WireError::InvalidMetadata { url: crate::untrusted::url(&url), reason: e.to_string() }
        })?;
        let found =
            document.get("issuer").and_then(Value::as_str).ok_or_else(|| invalid("no `issuer` string"))?;
        // RFC 8414 §3.3: identical, compared as configured (no normalisation).
        if found != issuer {
            return Err(WireError::IssuerMismatch {
                url: crate::untrusted::url(&url),
                expected: issuer.to_string(),
                found: crate::untrusted::value(found),
            });
        }
        let jwks = document
            .get("jwks_uri")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid("no `jwks_uri` string"))?;
        let jwks_uri = Url::parse(jwks).map_err(|_| invalid("`jwks_uri` is not a URL"))?;
        self.check_jwks_uri(url, &jwks_uri)?;
        Ok(AuthorizationServerMetadata {
            metadata_url: url.clone(),
            issuer: found.to_string(),
            jwks_uri,
            document,
        })
    }

    /// `jwks_uri` must be `https` and on the metadata's origin, or on an allowed origin: whoever
    /// controls the metadata otherwise points the fetcher anywhere (RFC 9728 §7.7 makes the same
    /// point for resource metadata). Shared by [`ProtectedResourceDiscovery`](super::ProtectedResourceDiscovery).
    pub(super) fn check_jwks_uri(&self, metadata_url: &Url, jwks_uri: &Url) -> Result<(), WireError> {
        let refused = |reason: &'static str| WireError::JwksUriRefused {
            url: crate::untrusted::url(&metadata_url),
            jwks_uri: crate::untrusted::value(jwks_uri.as_str()),
            reason,
        };
        if jwks_uri.scheme() != "https" && jwks_uri.origin() != metadata_url.origin() {
            return Err(refused("not https"));
        }
        if jwks_uri.origin() == metadata_url.origin()
            || self.allowed_jwks_origins.contains(&jwks_uri.origin())
        {
            Ok(())
        } else {
            Err(refused("not on the metadata's origin nor an allowed one"))
        }
    }
}
