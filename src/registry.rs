//! The registry of resource servers an issuer mints tokens for: resource URI → scopes, encryption
//! keys (with rotation), token lifetime. Loaded from / saved to an RFC 9728-shaped JSON document:
//!
//! ```json
//! { "resources": [ {
//!     "resource": "https://photos.example.com",
//!     "scopes_supported": ["photos.read", "photos.write"],
//!     "jwks": { "keys": [ { "kty": "EC", "crv": "P-256", "x": "…", "y": "…",
//!                           "use": "enc", "alg": "ECDH-ES+A256KW", "kid": "…" } ] },
//!     "covers_subresources": false,
//!     "access_token_lifetime": 300,
//!     "encryption_enc": "A256GCM" } ] }
//! ```
//! The last three members are jwe-mint extensions and optional.

use std::collections::HashSet;

use serde_json::{json, Map, Value};

use crate::error::{Error, Result};
use crate::json;
use crate::jwa::{ContentEncryptionAlg, KeyManagementAlg};
use crate::jwk::{Jwk, JwkSet, PublicKeyUse};
use crate::token::ResourceIndicator;

/// One resource server as the issuer knows it.
#[derive(Debug, Clone)]
pub struct ResourceEntry {
    resource: ResourceIndicator,
    scopes_supported: Vec<String>,
    keys: Vec<(Jwk, KeyManagementAlg)>,
    covers_subresources: bool,
    token_lifetime: Option<u64>,
    enc: ContentEncryptionAlg,
}

impl ResourceEntry {
    /// An entry for `resource` accepting `scopes`, encrypting to the first key of `jwks` (public
    /// keys with `use` `enc` or no `use`; the rest are kept for rotation).
    ///
    /// ```
    /// use jwe_mint::jwk::{Curve, Jwk, JwkSet};
    /// use jwe_mint::registry::ResourceEntry;
    /// let rs_key = Jwk::generate(Curve::P256).unwrap();
    /// let entry = ResourceEntry::new(
    ///     "https://photos.example.com",
    ///     ["photos.read", "photos.write"],
    ///     JwkSet::new(vec![rs_key.to_public().unwrap()]),
    /// ).unwrap();
    /// assert_eq!(entry.current_key().kid(), rs_key.kid());
    /// ```
    pub fn new<S: Into<String>>(
        resource: &str,
        scopes: impl IntoIterator<Item = S>,
        jwks: JwkSet,
    ) -> Result<ResourceEntry> {
        let resource = ResourceIndicator::parse(resource)?;
        let keys = validate_keys(&resource, &jwks)?;
        let scopes_supported: Vec<String> = scopes.into_iter().map(Into::into).collect();
        if scopes_supported.iter().any(|s| s.is_empty() || s.contains(' ')) {
            return Err(Error::malformed("scope values must be non-empty and contain no spaces"));
        }
        Ok(ResourceEntry {
            resource,
            scopes_supported,
            keys,
            covers_subresources: false,
            token_lifetime: None,
            enc: ContentEncryptionAlg::A256Gcm,
        })
    }

    /// This entry also serves every resource under its URI (path-segment prefix), e.g.
    /// `https://api.saas.com/data` covers `https://api.saas.com/data/tenant/42`.
    pub fn covering_subresources(mut self) -> ResourceEntry {
        self.covers_subresources = true;
        self
    }

    /// Tokens for this resource live `seconds` (overrides the issuer's default).
    pub fn with_token_lifetime(mut self, seconds: u64) -> ResourceEntry {
        self.token_lifetime = Some(seconds);
        self
    }

    /// Content encryption for this resource's tokens (default A256GCM).
    pub fn with_enc(mut self, enc: ContentEncryptionAlg) -> ResourceEntry {
        self.enc = enc;
        self
    }

    /// The resource indicator.
    pub fn resource(&self) -> &ResourceIndicator {
        &self.resource
    }

    /// The scopes this resource accepts.
    pub fn scopes_supported(&self) -> &[String] {
        &self.scopes_supported
    }

    /// Whether sub-resources are covered.
    pub fn covers_subresources(&self) -> bool {
        self.covers_subresources
    }

    /// Per-resource token lifetime in seconds, if set.
    pub fn token_lifetime(&self) -> Option<u64> {
        self.token_lifetime
    }

    /// Content encryption algorithm.
    pub fn enc(&self) -> ContentEncryptionAlg {
        self.enc
    }

    /// The key new tokens are encrypted to.
    pub fn current_key(&self) -> &Jwk {
        &self.keys[0].0
    }

    /// The key-management algorithm used with the current key.
    pub fn current_alg(&self) -> KeyManagementAlg {
        self.keys[0].1
    }

    /// All encryption keys (current first).
    pub fn keys(&self) -> impl Iterator<Item = &Jwk> {
        self.keys.iter().map(|(k, _)| k)
    }

    /// Rotation: `key` becomes the current key; older keys stay listed until removed.
    pub fn rotate_to(&mut self, key: Jwk) -> Result<()> {
        let mut keys = validate_keys(&self.resource, &JwkSet::new(vec![key]))?;
        let new = keys.remove(0);
        if self.keys.iter().any(|(k, _)| {
            k.thumbprint() == new.0.thumbprint() || (k.kid().is_some() && k.kid() == new.0.kid())
        }) {
            return Err(Error::invalid_key("key already registered for this resource"));
        }
        self.keys.insert(0, new);
        Ok(())
    }

    /// Removes the key with `kid` (the last key cannot be removed).
    pub fn remove_key(&mut self, kid: &str) -> Result<()> {
        let before = self.keys.len();
        if before == 1 && self.keys[0].0.kid() == Some(kid) {
            return Err(Error::invalid_key("cannot remove the only key"));
        }
        self.keys.retain(|(k, _)| k.kid() != Some(kid));
        if self.keys.len() == before {
            return Err(Error::NoMatchingKey("no key with that kid".into()));
        }
        Ok(())
    }

    /// Whether this entry serves `resource` (exactly, or as a covered sub-resource).
    pub fn serves(&self, resource: &ResourceIndicator) -> bool {
        if self.covers_subresources {
            self.resource.covers(resource)
        } else {
            &self.resource == resource
        }
    }

    fn to_value(&self) -> Result<Value> {
        let keys = self.keys.iter().map(|(k, _)| k.to_value()).collect::<Result<Vec<_>>>()?;
        let mut m = Map::new();
        m.insert("resource".into(), self.resource.as_str().into());
        m.insert("scopes_supported".into(), json!(self.scopes_supported));
        m.insert("jwks".into(), json!({ "keys": keys }));
        if self.covers_subresources {
            m.insert("covers_subresources".into(), true.into());
        }
        if let Some(t) = self.token_lifetime {
            m.insert("access_token_lifetime".into(), t.into());
        }
        m.insert("encryption_enc".into(), self.enc.name().into());
        Ok(Value::Object(m))
    }

    fn from_object(o: &Map<String, Value>) -> Result<ResourceEntry> {
        let resource = json::req_str(o, "resource")?;
        let scopes = match o.get("scopes_supported") {
            None => Vec::new(),
            Some(Value::Array(a)) => a
                .iter()
                .map(|s| {
                    s.as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| Error::malformed("`scopes_supported` must hold strings"))
                })
                .collect::<Result<Vec<_>>>()?,
            Some(_) => return Err(Error::malformed("`scopes_supported` must be an array")),
        };
        // Key errors name the resource: a registry holds many key sets.
        let named = ResourceIndicator::parse(resource)?;
        let jwks = JwkSet::from_value(o.get("jwks").ok_or_else(|| Error::malformed("missing `jwks`"))?)
            .map_err(|e| match e {
                Error::InvalidKey(m) => Error::InvalidKey(format!("{named}: {m}")),
                Error::Malformed(m) => Error::Malformed(format!("{named}: {m}")),
                other => other,
            })?;
        let mut entry = ResourceEntry::new(resource, scopes, jwks)?;
        match o.get("covers_subresources") {
            None => {}
            Some(Value::Bool(b)) => entry.covers_subresources = *b,
            Some(_) => return Err(Error::malformed("`covers_subresources` must be a boolean")),
        }
        match o.get("access_token_lifetime") {
            None => {}
            Some(v) => {
                entry.token_lifetime =
                    Some(v.as_u64().filter(|t| *t > 0).ok_or_else(|| {
                        Error::malformed("`access_token_lifetime` must be a positive integer")
                    })?)
            }
        }
        if let Some(enc) = json::opt_str(o, "encryption_enc")? {
            entry.enc = enc.parse()?;
        }
        Ok(entry)
    }
}

/// Every key must be public, unique (kid and thumbprint) and, for X25519, not of low order. Keys
/// published with `use: "sig"` (RFC 9728 §2 lets one JWK Set hold both kinds, each key then
/// carrying `use`) are skipped; every other key must be usable for token encryption, and at least
/// one must remain.
fn validate_keys(resource: &ResourceIndicator, jwks: &JwkSet) -> Result<Vec<(Jwk, KeyManagementAlg)>> {
    let ctx = |msg: &str| Error::invalid_key(format!("{resource}: {msg}"));
    let is_sig = |k: &Jwk| k.key_use() == Some(&PublicKeyUse::Signature);
    let mixed = jwks.iter().any(is_sig);
    if mixed && jwks.iter().any(|k| k.key_use().is_none()) {
        return Err(ctx("a JWK Set with signing and encryption keys needs `use` on every key (RFC 9728 §2)"));
    }
    let mut kids = HashSet::new();
    let mut thumbs = HashSet::new();
    let mut out = Vec::with_capacity(jwks.keys().len());
    for key in jwks {
        if key.is_private() {
            return Err(ctx("registry keys must be public (private or symmetric key found)"));
        }
        if is_sig(key) {
            continue;
        }
        if let Err(e) = key.check_usable_for(&PublicKeyUse::Encryption) {
            let Error::NoMatchingKey(why) = e else { return Err(e) };
            return Err(ctx(&why));
        }
        let alg = KeyManagementAlg::default_for(key).map_err(|e| match e {
            Error::NoMatchingKey(why) => ctx(&why),
            other => other,
        })?;
        if matches!(alg, KeyManagementAlg::Rsa1_5 | KeyManagementAlg::Dir)
            || alg.is_pbes2()
            || !alg.wraps_cek() && !alg.is_ecdh_es()
        {
            return Err(ctx("key-management algorithm not allowed for tokens"));
        }
        crate::jwa::key_management::check_key(alg, ContentEncryptionAlg::A256Gcm, key, false)
            .map_err(|_| ctx("key does not fit its algorithm"))?;
        if key.is_low_order_x25519() {
            return Err(ctx(
                "X25519 key of low order (RFC 7748 §6.1): every shared secret with it is all-zero",
            ));
        }
        if let Some(kid) = key.kid() {
            if !kids.insert(kid.to_owned()) {
                return Err(ctx("duplicate `kid`"));
            }
        }
        if !thumbs.insert(key.thumbprint()) {
            return Err(ctx("duplicate key"));
        }
        out.push((key.clone(), alg));
    }
    if out.is_empty() {
        return Err(ctx("no encryption key"));
    }
    Ok(out)
}

/// Resource servers known to an issuer.
///
/// ```
/// use jwe_mint::jwk::{Curve, Jwk, JwkSet};
/// use jwe_mint::registry::{Registry, ResourceEntry};
/// use jwe_mint::token::ResourceIndicator;
/// let key = Jwk::generate(Curve::P256).unwrap().to_public().unwrap();
/// let mut reg = Registry::default();
/// reg.insert(ResourceEntry::new("https://api.example.com/user", ["u.read"], JwkSet::new(vec![key])).unwrap()
///     .covering_subresources()).unwrap();
/// let tenant = ResourceIndicator::parse("https://api.example.com/user/42").unwrap();
/// assert!(reg.lookup(&tenant).is_some());
/// let again = Registry::from_json(&reg.to_json().unwrap()).unwrap();
/// assert!(again.lookup(&tenant).is_some());
/// ```
#[derive(Debug, Clone, Default)]
pub struct Registry {
    entries: Vec<ResourceEntry>,
}

impl Registry {
    /// Adds an entry; a second entry for the same resource is an error.
    pub fn insert(&mut self, entry: ResourceEntry) -> Result<()> {
        if self.entries.iter().any(|e| e.resource == entry.resource) {
            return Err(Error::malformed(format!("resource {} registered twice", entry.resource)));
        }
        self.entries.push(entry);
        Ok(())
    }

    /// The entry registered for exactly `resource`.
    pub fn get(&self, resource: &str) -> Option<&ResourceEntry> {
        self.entries.iter().find(|e| e.resource.as_str() == resource)
    }

    /// Mutable access, e.g. for rotation.
    pub fn get_mut(&mut self, resource: &str) -> Option<&mut ResourceEntry> {
        self.entries.iter_mut().find(|e| e.resource.as_str() == resource)
    }

    /// The entry serving `resource`: an exact entry, else the covering entry with the longest URI.
    pub fn lookup(&self, resource: &ResourceIndicator) -> Option<&ResourceEntry> {
        self.entries.iter().find(|e| &e.resource == resource).or_else(|| {
            self.entries.iter().filter(|e| e.serves(resource)).max_by_key(|e| e.resource.as_str().len())
        })
    }

    /// All entries.
    pub fn entries(&self) -> &[ResourceEntry] {
        &self.entries
    }

    /// Parses a registry document (see the module docs). Strict JSON.
    pub fn from_json(text: &str) -> Result<Registry> {
        let doc = json::parse_object(text.as_bytes(), "registry")?;
        let Some(Value::Array(items)) = doc.get("resources") else {
            return Err(Error::malformed("registry needs a `resources` array"));
        };
        let mut reg = Registry::default();
        for item in items {
            let Value::Object(o) = item else {
                return Err(Error::malformed("each resource must be an object"));
            };
            reg.insert(ResourceEntry::from_object(o)?)?;
        }
        Ok(reg)
    }

    /// Serializes the registry document.
    pub fn to_json(&self) -> Result<String> {
        let resources = self.entries.iter().map(ResourceEntry::to_value).collect::<Result<Vec<_>>>()?;
        serde_json::to_string_pretty(&json!({ "resources": resources }))
            .map_err(|_| Error::malformed("registry"))
    }
}
