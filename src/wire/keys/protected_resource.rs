//! RFC 9728 protected resource metadata, the AS side: from a registered resource to its verified
//! `jwks_uri` and a live set of its encryption keys, bound to the registry entry.
//!
//! The AS fetches only for resources configured in its [`Registry`], never for a URL taken from a
//! request (RFC 9728 §7.7: otherwise anyone could make the AS fetch any URL). A registered RS still
//! controls its metadata, hence the rule that `jwks_uri` stays on the metadata's origin.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;

use serde_json::{Map, Value};
use url::Url;

use super::discovery::Discovery;
use super::key_set::{KeyUseFilter, RemoteJwkSet};
use crate::jwk::JwkSource;
use crate::registry::{KeyLocation, Registry, ResourceEntry};
use crate::token::ResourceIndicator;
use crate::wire::tracing_targets::TRACING_TARGET;
use crate::wire::transport::{protected_resource_metadata_url, require_ok, WireError};

/// A protected resource's metadata document, checked: `resource` identical to the one looked up
/// (RFC 9728 §3.3), this AS listed in `authorization_servers` when the member is present (unless
/// that check was turned off), `jwks_uri` on the metadata's origin or an allowed one.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ProtectedResourceMetadata {
    /// Where the document was found.
    pub metadata_url: Url,
    /// The resource identifier (identical to the one looked up).
    pub resource: String,
    /// The document's `authorization_servers`, when present.
    pub authorization_servers: Option<Vec<String>>,
    /// The RS's JWK Set URL.
    pub jwks_uri: Url,
    /// The whole document.
    pub document: Map<String, Value>,
}

/// Finds what resource servers publish (RFC 9728), with the checks the AS side needs, and binds
/// the registry entries whose keys live on the wire (`jwks_uri`, or neither `jwks` nor
/// `jwks_uri`).
///
/// It is built on a [`Discovery`], whose fetcher, [`KeySetConfig`](super::KeySetConfig) and
/// allowed `jwks_uri` origins ([`Discovery::allow_jwks_origin`]) it uses; key sets keep only
/// encryption keys ([`KeyUseFilter::Encrypt`]).
///
/// Only call it with resources from the AS's own registry, never with a URL from a request
/// (RFC 9728 §7.7); [`bind_registry`](Self::bind_registry) and [`bind_entry`](Self::bind_entry)
/// take registry entries for that reason.
///
/// ```no_run
/// # async fn demo(mut registry: jwe_mint::registry::Registry) -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use jwe_mint::wire::{Discovery, HttpFetcher, ProtectedResourceDiscovery};
/// let discovery = Discovery::new(Arc::new(HttpFetcher::new()?));
/// let resources = ProtectedResourceDiscovery::new(discovery, "https://as.example.com");
/// for (resource, outcome) in resources.bind_registry(&registry).await {
///     if let Err(e) = outcome {
///         eprintln!("{resource}: keys not fetched ({e}); tokens for it are refused for now");
///     }
/// }
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct ProtectedResourceDiscovery {
    discovery: Discovery,
    issuer: String,
    check_authorization_servers: bool,
}

impl ProtectedResourceDiscovery {
    /// Discovery for the AS identified by `issuer` (checked against `authorization_servers`).
    pub fn new(discovery: Discovery, issuer: &str) -> ProtectedResourceDiscovery {
        ProtectedResourceDiscovery { discovery, issuer: issuer.to_owned(), check_authorization_servers: true }
    }

    /// Uses metadata whose `authorization_servers` does not list this AS. Dangerous: an RS that
    /// names its authorization servers does not expect tokens from others (it may not trust this
    /// AS's keys, or may accept tokens meant for another deployment).
    pub fn dangerous_accept_unlisted_issuer(mut self) -> ProtectedResourceDiscovery {
        self.check_authorization_servers = false;
        self
    }

    /// Fetches and checks the metadata of `resource` (see [`protected_resource_metadata_url`]).
    /// `resource` must come from the AS's configuration, never from a request.
    pub async fn protected_resource(&self, resource: &str) -> Result<ProtectedResourceMetadata, WireError> {
        let url = protected_resource_metadata_url(resource)?;
        let outcome = self.fetch_metadata(&url, resource).await;
        if let Err(e) = &outcome {
            tracing::warn!(target: TRACING_TARGET, url = %crate::untrusted::redacted(url.as_str()), error = %e,
                "protected resource metadata not used");
        }
        outcome
    }

    /// The encryption keys of `resource`: [`protected_resource`](Self::protected_resource), then
    /// a [`RemoteJwkSet`] on its `jwks_uri` keeping encryption keys only.
    pub async fn resource_keys(&self, resource: &str) -> Result<RemoteJwkSet, WireError> {
        let metadata = self.protected_resource(resource).await?;
        self.jwks_uri_keys(metadata.jwks_uri.as_str()).await
    }

    /// The encryption keys published at `jwks_uri` (a registry entry's own `jwks_uri`: configured
    /// by the operator, so no origin rule applies), keeping encryption keys only.
    pub async fn jwks_uri_keys(&self, jwks_uri: &str) -> Result<RemoteJwkSet, WireError> {
        let mut config = self.discovery.key_set_config.clone();
        config.key_use = KeyUseFilter::Encrypt;
        RemoteJwkSet::new(jwks_uri, Arc::clone(&self.discovery.fetcher), config).await
    }

    /// Binds `entry` to its keys when they live on the wire and it is not bound yet: a
    /// [`RemoteJwkSet`] on its `jwks_uri`, or on the `jwks_uri` of its RFC 9728 metadata. An entry
    /// with static keys, or one already bound, is left alone (`Ok`). On failure the entry stays
    /// unbound (tokens for it are refused with `server_error`) and can be bound later.
    pub async fn bind_entry(&self, entry: &ResourceEntry) -> Result<(), WireError> {
        if entry.key_source().is_some() {
            return Ok(());
        }
        let keys = match entry.key_location() {
            KeyLocation::JwksUri(uri) => self.jwks_uri_keys(uri).await?,
            KeyLocation::Discover => self.resource_keys(entry.resource().as_str()).await?,
            _ => return Ok(()),
        };
        // Bound meanwhile by another caller: theirs stays, this one is dropped.
        let _ = entry.set_key_source(Arc::new(keys) as Arc<dyn JwkSource>);
        // Choose the key now, so a set without a usable key is logged at startup.
        let _ = entry.encryption_key();
        Ok(())
    }

    /// Binds every entry of `registry` whose keys live on the wire, concurrently, and reports
    /// each such entry's outcome: one RS being down does not keep the others (or the AS) from
    /// working; its tokens are refused until it is bound (call again to retry).
    pub async fn bind_registry(
        &self,
        registry: &Registry,
    ) -> Vec<(ResourceIndicator, Result<(), WireError>)> {
        let remote: Vec<&ResourceEntry> =
            registry.entries().iter().filter(|e| e.key_location() != KeyLocation::Static).collect();
        let outcomes = join_all(remote.iter().map(|e| self.bind_entry(e)).collect()).await;
        remote.iter().map(|e| e.resource().clone()).zip(outcomes).collect()
    }

    async fn fetch_metadata(
        &self,
        url: &Url,
        resource: &str,
    ) -> Result<ProtectedResourceMetadata, WireError> {
        let response = self.discovery.fetcher.get(url).await?;
        require_ok(&response, url)?;
        let invalid = |reason: &str| WireError::InvalidMetadata {
            url: crate::untrusted::url(&url),
            reason: reason.into(),
        };
        let document = crate::json::parse_object(response.body(), "metadata").map_err(|e| {
            WireError::InvalidMetadata { url: crate::untrusted::url(&url), reason: e.to_string() }
        })?;
        let found = document
            .get("resource")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid("no `resource` string"))?;
        // RFC 9728 §3.3: identical to the resource looked up, compared as configured.
        if found != resource {
            return Err(WireError::ResourceMismatch {
                url: crate::untrusted::url(&url),
                expected: resource.to_string(),
                found: crate::untrusted::value(found),
            });
        }
        let authorization_servers = match document.get("authorization_servers") {
            None => None,
            Some(Value::Array(items)) => Some(
                items
                    .iter()
                    .map(|v| v.as_str().map(str::to_owned))
                    .collect::<Option<Vec<String>>>()
                    .ok_or_else(|| invalid("`authorization_servers` must hold strings"))?,
            ),
            Some(_) => return Err(invalid("`authorization_servers` must be an array")),
        };
        if let Some(listed) = &authorization_servers {
            if self.check_authorization_servers && !listed.contains(&self.issuer) {
                return Err(WireError::AuthorizationServerNotListed {
                    url: crate::untrusted::url(&url),
                    issuer: self.issuer.clone(),
                });
            }
        }
        let jwks = document
            .get("jwks_uri")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid("no `jwks_uri` string (the resource publishes no keys)"))?;
        let jwks_uri = Url::parse(jwks).map_err(|_| invalid("`jwks_uri` is not a URL"))?;
        self.discovery.check_jwks_uri(url, &jwks_uri)?;
        Ok(ProtectedResourceMetadata {
            metadata_url: url.clone(),
            resource: found.to_string(),
            authorization_servers,
            jwks_uri,
            document,
        })
    }
}

/// Drives `futures` concurrently on the current task and returns their outputs in order.
async fn join_all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    Poll::Ready(v) => *output = Some(v),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}
