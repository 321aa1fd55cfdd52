//! The resource server's own RFC 9728 protected resource metadata and the JWK Set at its
//! `jwks_uri`, served as an axum [`Router`].

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use http::HeaderValue;
use serde_json::{json, Value};

use crate::error::{Error, Result};
use crate::jwa::SigningAlg;
use crate::jwk::{JwkSet, PublicKeyUse};
use crate::resource_server::{published_key, ResourceServer};
use crate::token::{ResourceIndicator, Scope};
use crate::wire::transport::{protected_resource_metadata_url, ConfigError};

/// Default `Cache-Control: max-age` of both documents: 10 minutes, the lifetime a key-set cache
/// assumes when none is given (so a key rotation reaches the ASs in the same time).
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(600);

/// The RFC 9728 §3.1 metadata URL of `resource`, exactly as an AS computes it
/// ([`protected_resource_metadata_url`](protected_resource_metadata_url)), after the
/// checks of a resource indicator (RFC 8707: absolute, no fragment, no dot segments).
pub(super) fn metadata_url(resource: &str) -> Result<url::Url, ConfigError> {
    ResourceIndicator::parse(resource).map_err(|e| match e {
        // The refusal's text names the resource; its OAuth code is for token requests.
        Error::OAuth { description, .. } => ConfigError::invalid("resource", description),
        e => ConfigError::Core(e),
    })?;
    protected_resource_metadata_url(resource).map_err(|e| ConfigError::invalid("resource", e.to_string()))
}

/// An RS's RFC 9728 metadata document and its `jwks_uri` JWK Set, served by [`MetadataRouter::router`]
/// at `/.well-known/oauth-protected-resource<resource path>` (RFC 9728 §3.1, the URL
/// [`protected_resource_metadata_url`](protected_resource_metadata_url) gives an AS) and at
/// the path of `jwks_uri`, both with `Cache-Control: max-age` (RFC 9111 §5.2.2.1).
///
/// The JWK Set holds the public halves of the RS's decryption keys, each with `use: enc`, its
/// `alg` (the key's own, else the default for its type) and a `kid` (the key's own, else its
/// RFC 7638 thumbprint). The keys are published only there: RFC 9728 §2 defines no inline `jwks`.
///
/// ```
/// use jwe_mint::jwk::{Curve, Jwk, JwkSet};
/// use jwe_mint::wire::MetadataRouter;
///
/// let rs_keys = JwkSet::new(vec![Jwk::generate(Curve::P256).unwrap()]);
/// let metadata = MetadataRouter::new("https://photos.example.com", "https://photos.example.com/jwks.json", &rs_keys)
///     .unwrap()
///     .authorization_server("https://as.example.com")
///     .unwrap()
///     .scopes_supported(["photos.read"])
///     .unwrap();
/// let doc = metadata.document();
/// assert_eq!(doc["bearer_methods_supported"], serde_json::json!(["header"]));
/// assert!(metadata.jwks()["keys"][0].get("d").is_none());
/// let app: axum::Router = metadata.router();
/// ```
#[derive(Debug, Clone)]
pub struct MetadataRouter {
    resource: String,
    metadata_path: String,
    jwks_uri: String,
    jwks_path: String,
    authorization_servers: Vec<String>,
    scopes_supported: Scope,
    jwks: Value,
    max_age: Duration,
    /// `dpop_signing_alg_values_supported` (RFC 9728 §2), when DPoP is accepted.
    dpop_algs: Vec<SigningAlg>,
    /// `dpop_bound_access_tokens_required` (RFC 9728 §2).
    dpop_required: bool,
}

impl MetadataRouter {
    /// The documents for `resource`, whose JWK Set is served at `jwks_uri` (served by this router
    /// at its path: it must reach this server), from the RS's decryption `keys` (private or
    /// public; only public members are published).
    ///
    /// Refused ([`ConfigError::Invalid`] naming `"resource"` or `"jwks_uri"`): a resource that
    /// is not a resource indicator or has a query (no route can match it), a `jwks_uri` that is
    /// not an absolute `http(s)` URL or whose path is the metadata path. Refused by the core
    /// ([`ConfigError::Core`], [`Error::InvalidKey`]): symmetric keys, keys marked for another
    /// `use`, keys that cannot encrypt, an empty set.
    pub fn new(resource: &str, jwks_uri: &str, keys: &JwkSet) -> Result<MetadataRouter, ConfigError> {
        let metadata = metadata_url(resource)?;
        if metadata.query().is_some() {
            return Err(ConfigError::invalid("resource", "a resource with a query has no metadata route"));
        }
        let metadata_path = metadata.path().to_owned();
        let bad_jwks_uri = |reason: &str| ConfigError::invalid("jwks_uri", reason);
        let jwks = url::Url::parse(jwks_uri).map_err(|_| bad_jwks_uri("jwks_uri must be an absolute URL"))?;
        if !matches!(jwks.scheme(), "https" | "http") || jwks.query().is_some() || jwks.fragment().is_some() {
            return Err(bad_jwks_uri("jwks_uri must be an http(s) URL without query or fragment"));
        }
        let jwks_path = jwks.path().to_owned();
        for (option, p) in [("resource", &metadata_path), ("jwks_uri", &jwks_path)] {
            // Route syntax of axum: braces would be parameters.
            if p.contains(['{', '}']) {
                return Err(ConfigError::invalid(
                    option,
                    "resource and jwks_uri paths must not contain `{` or `}`",
                ));
            }
        }
        if jwks_path == metadata_path {
            return Err(bad_jwks_uri("jwks_uri must not be the metadata URL"));
        }
        Ok(MetadataRouter {
            resource: resource.to_owned(),
            metadata_path,
            jwks_uri: jwks_uri.to_owned(),
            jwks_path,
            authorization_servers: Vec::new(),
            scopes_supported: Scope::default(),
            jwks: published_keys(keys)?.to_value()?,
            max_age: DEFAULT_MAX_AGE,
            dpop_algs: Vec::new(),
            dpop_required: false,
        })
    }

    /// The documents of `rs`: its resource, its trusted issuer in `authorization_servers`, and
    /// the public halves of its decryption keys ([`ResourceServer::public_keys`], which leaves
    /// out keys marked `use: sig`), served at `jwks_uri`. Refused as [`MetadataRouter::new`], and
    /// with [`ConfigError::Core`] when the RS's keys cannot be read.
    pub fn for_resource_server(rs: &ResourceServer, jwks_uri: &str) -> Result<MetadataRouter, ConfigError> {
        MetadataRouter::new(rs.resource(), jwks_uri, &rs.public_keys()?)?.authorization_server(rs.issuer())
    }

    /// Adds an authorization server (its issuer identifier) to `authorization_servers`. An AS
    /// that discovers this RS's keys may insist that it is listed. Refused: an `issuer` that is
    /// not an absolute URI ([`ConfigError::Invalid`] naming `"issuer"`).
    pub fn authorization_server(mut self, issuer: &str) -> Result<MetadataRouter, ConfigError> {
        ResourceIndicator::parse(issuer)
            .map_err(|_| ConfigError::invalid("issuer", "issuer must be an absolute URI"))?;
        if !self.authorization_servers.iter().any(|a| a == issuer) {
            self.authorization_servers.push(issuer.to_owned());
        }
        Ok(self)
    }

    /// Sets `scopes_supported` (RFC 9728 §2; recommended). Refused: a value that is not an RFC
    /// 6749 §3.3 scope token ([`ConfigError::Invalid`] naming `"scope"`).
    pub fn scopes_supported<'a>(
        mut self,
        scopes: impl IntoIterator<Item = &'a str>,
    ) -> Result<MetadataRouter, ConfigError> {
        self.scopes_supported =
            Scope::from_tokens(scopes).map_err(|e| ConfigError::invalid("scope", e.to_string()))?;
        Ok(self)
    }

    /// Sets the `Cache-Control: max-age` of both documents (default [`DEFAULT_MAX_AGE`]). Keep a
    /// removed key's private half for at least this long plus the ASs' staleness cap plus the
    /// longest token lifetime: an AS may serve its cached copy that long, and tokens encrypted to
    /// the key live on.
    pub fn max_age(mut self, max_age: Duration) -> MetadataRouter {
        self.max_age = max_age;
        self
    }

    /// Says that DPoP proofs (RFC 9449) signed with `algs` are accepted
    /// (`dpop_signing_alg_values_supported`, RFC 9728 §2), and with `required` that only
    /// DPoP-bound tokens are (`dpop_bound_access_tokens_required: true`).
    /// [`BearerLayer::dpop_signing_algs`](crate::wire::BearerLayer::dpop_signing_algs) and
    /// [`BearerLayer::requires_dpop`](crate::wire::BearerLayer::requires_dpop) give the layer's.
    pub fn dpop(mut self, algs: &[SigningAlg], required: bool) -> MetadataRouter {
        self.dpop_algs = algs.to_vec();
        self.dpop_required = required;
        self
    }

    /// The path of the metadata document (RFC 9728 §3.1).
    pub fn metadata_path(&self) -> &str {
        &self.metadata_path
    }

    /// The path the JWK Set is served at (that of `jwks_uri`).
    pub fn jwks_path(&self) -> &str {
        &self.jwks_path
    }

    /// The metadata document (RFC 9728 §2): `resource`, `authorization_servers` (when any),
    /// `jwks_uri`, `scopes_supported` (when set), `bearer_methods_supported: ["header"]`, and
    /// when DPoP is accepted `dpop_signing_alg_values_supported` and, when DPoP is required,
    /// `dpop_bound_access_tokens_required: true`.
    pub fn document(&self) -> Value {
        let mut doc = serde_json::Map::new();
        doc.insert("resource".into(), self.resource.clone().into());
        if !self.authorization_servers.is_empty() {
            doc.insert("authorization_servers".into(), json!(self.authorization_servers));
        }
        doc.insert("jwks_uri".into(), self.jwks_uri.clone().into());
        if !self.scopes_supported.is_empty() {
            doc.insert("scopes_supported".into(), json!(self.scopes_supported.iter().collect::<Vec<_>>()));
        }
        // Only the header method (RFC 6750 §2.1): the layer refuses query and form tokens.
        doc.insert("bearer_methods_supported".into(), json!(["header"]));
        if !self.dpop_algs.is_empty() {
            let algs: Vec<&str> = self.dpop_algs.iter().map(|a| a.name()).collect();
            doc.insert("dpop_signing_alg_values_supported".into(), json!(algs));
        }
        if self.dpop_required {
            doc.insert("dpop_bound_access_tokens_required".into(), Value::Bool(true));
        }
        Value::Object(doc)
    }

    /// The JWK Set served at `jwks_uri` (public members only).
    pub fn jwks(&self) -> &Value {
        &self.jwks
    }

    /// A router serving both documents with `GET` (and `HEAD`). Merge it into the app outside any
    /// [`BearerLayer`](crate::wire::BearerLayer): metadata is public (RFC 9728 §3).
    pub fn router<S: Clone + Send + Sync + 'static>(&self) -> Router<S> {
        let cache = HeaderValue::from_str(&format!("max-age={}", self.max_age.as_secs()))
            .unwrap_or_else(|_| HeaderValue::from_static("no-cache"));
        let document = json_response(&self.document(), &cache);
        let jwks = json_response(&self.jwks, &cache);
        Router::new()
            .route(&self.metadata_path, get(move || std::future::ready(document.clone().into_response())))
            .route(&self.jwks_path, get(move || std::future::ready(jwks.clone().into_response())))
    }
}

/// A cloneable, prebuilt JSON answer.
#[derive(Clone)]
struct JsonDocument {
    body: Bytes,
    cache: HeaderValue,
}

impl JsonDocument {
    fn into_response(self) -> Response {
        let mut r = Response::new(Body::from(self.body));
        r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        r.headers_mut().insert(CACHE_CONTROL, self.cache);
        r
    }
}

fn json_response(value: &Value, cache: &HeaderValue) -> JsonDocument {
    JsonDocument { body: Bytes::from(value.to_string()), cache: cache.clone() }
}

/// The public JWK Set an RS publishes for its decryption `keys` (see [`MetadataRouter`]).
fn published_keys(keys: &JwkSet) -> Result<JwkSet> {
    if keys.keys().is_empty() {
        return Err(Error::invalid_key("no resource server key to publish"));
    }
    let mut out = Vec::with_capacity(keys.keys().len());
    for key in keys.keys() {
        if key.is_symmetric() {
            return Err(Error::invalid_key("a symmetric key cannot be published"));
        }
        match key.key_use() {
            None | Some(PublicKeyUse::Encryption) => {}
            Some(_) => return Err(Error::invalid_key("a key published for encryption must have `use: enc`")),
        }
        if key.key_ops().is_some_and(|ops| !ops.iter().any(|o| o.is_encryption())) {
            return Err(Error::invalid_key(
                "a key published for encryption must allow an encryption operation",
            ));
        }
        out.push(published_key(key)?);
    }
    Ok(JwkSet::new(out))
}
