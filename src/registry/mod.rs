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
//!     "encryption_enc": "A256GCM",
//!     "encryption_alg": "ECDH-ES+A256KW" } ] }
//! ```
//! The last four members are jwe-mint extensions and optional.
//!
//! Keys may also live on the wire: an entry with `"jwks_uri": "https://…"` instead of `jwks`
//! encrypts to the RS's published JWK Set, and an entry with neither finds that set through the
//! RS's RFC 9728 metadata. Such an entry has no keys until it is bound to a [`JwkSource`]
//! ([`ResourceEntry::set_key_source`]); the `wire` module (feature `http`) makes the sources, this
//! module never does I/O.

mod remote_keys;

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::{json, Map, Value};

use crate::error::{Error, Misuse, Result};
use crate::json;
use crate::jwa::{ContentEncryptionAlg, KeyManagementAlg};
use crate::jwk::{Jwk, JwkSet, JwkSource, PublicKeyUse};
use crate::token::{ResourceIndicator, Scope};
use remote_keys::{check_jwks_uri, RemoteKeys};

/// A key tokens are encrypted to, with the key-management algorithm used with it.
#[derive(Debug, Clone)]
pub struct EncryptionKey {
    key: Jwk,
    alg: KeyManagementAlg,
}

impl EncryptionKey {
    /// The resource server's public key.
    pub fn key(&self) -> &Jwk {
        &self.key
    }

    /// The key-management algorithm: the key's `alg`, else the entry's `encryption_alg`, else
    /// the default for the key type.
    pub fn alg(&self) -> KeyManagementAlg {
        self.alg
    }
}

/// Where a [`ResourceEntry`]'s encryption keys come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyLocation<'a> {
    /// The registry holds them (`jwks`).
    Static,
    /// The RS publishes them at this `https` URL (`jwks_uri`).
    JwksUri(&'a str),
    /// Neither: the RS's RFC 9728 metadata names its `jwks_uri`.
    Discover,
}

/// The keys of an entry: in the registry, or from a bound source.
#[derive(Debug, Clone)]
enum Keys {
    Static(Vec<Arc<EncryptionKey>>),
    Remote(Box<RemoteKeys>),
}

/// One resource server as the issuer knows it.
#[derive(Debug, Clone)]
pub struct ResourceEntry {
    resource: ResourceIndicator,
    scopes_supported: Scope,
    keys: Keys,
    covers_subresources: bool,
    token_lifetime: Option<u64>,
    enc: ContentEncryptionAlg,
    encryption_alg: Option<KeyManagementAlg>,
}

impl ResourceEntry {
    /// A key-source mistake about this entry.
    fn key_source_misuse(&self, reason: &'static str) -> Error {
        Error::Misuse(Misuse::KeySource { resource: self.resource.as_str().to_owned(), reason })
    }

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
    /// assert_eq!(entry.current_key().unwrap().kid(), rs_key.kid());
    /// ```
    pub fn new<S: Into<String>>(
        resource: &str,
        scopes: impl IntoIterator<Item = S>,
        jwks: JwkSet,
    ) -> Result<ResourceEntry> {
        let resource = ResourceIndicator::parse(resource)?;
        let keys = validate_keys(&resource, &jwks, None)?;
        ResourceEntry::with_keys(resource, scopes, Keys::Static(keys))
    }

    /// An entry whose keys the RS publishes at `jwks_uri` (an `https` URL without credentials or
    /// fragment). It has no keys until bound with [`set_key_source`](Self::set_key_source), e.g.
    /// to a `wire::RemoteJwkSet` on that URL.
    ///
    /// ```
    /// use jwe_mint::registry::{KeyLocation, ResourceEntry};
    /// let entry = ResourceEntry::from_jwks_uri("https://photos.example.com", ["photos.read"],
    ///     "https://photos.example.com/jwks.json").unwrap();
    /// assert_eq!(entry.key_location(), KeyLocation::JwksUri("https://photos.example.com/jwks.json"));
    /// assert!(ResourceEntry::from_jwks_uri("https://rs.example", ["s"], "http://rs.example/jwks").is_err());
    /// ```
    pub fn from_jwks_uri<S: Into<String>>(
        resource: &str,
        scopes: impl IntoIterator<Item = S>,
        jwks_uri: &str,
    ) -> Result<ResourceEntry> {
        let resource = ResourceIndicator::parse(resource)?;
        check_jwks_uri(&resource, jwks_uri)?;
        ResourceEntry::with_keys(resource, scopes, remote(Some(jwks_uri.to_owned())))
    }

    /// An entry whose keys are found through the RS's RFC 9728 protected resource metadata
    /// (`jwks_uri` in the document at `/.well-known/oauth-protected-resource`). It has no keys
    /// until bound with [`set_key_source`](Self::set_key_source).
    pub fn discovered<S: Into<String>>(
        resource: &str,
        scopes: impl IntoIterator<Item = S>,
    ) -> Result<ResourceEntry> {
        let resource = ResourceIndicator::parse(resource)?;
        ResourceEntry::with_keys(resource, scopes, remote(None))
    }

    fn with_keys<S: Into<String>>(
        resource: ResourceIndicator,
        scopes: impl IntoIterator<Item = S>,
        keys: Keys,
    ) -> Result<ResourceEntry> {
        // RFC 6749 §3.3: each value one scope token, which a token's `scope` claim and a
        // `WWW-Authenticate` challenge can carry as it is.
        let scopes: Vec<String> = scopes.into_iter().map(Into::into).collect();
        let scopes_supported = Scope::from_tokens(&scopes).map_err(|e| match e {
            Error::Malformed(why) => Error::Malformed(format!("{resource}: {why}")),
            other => other,
        })?;
        Ok(ResourceEntry {
            resource,
            scopes_supported,
            keys,
            covers_subresources: false,
            token_lifetime: None,
            enc: ContentEncryptionAlg::A256Gcm,
            encryption_alg: None,
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

    /// The key-management algorithm for keys that carry no `alg` of their own (default: the
    /// default for the key type). RFC 9728 registers no such metadata member, so the registry
    /// says it. `RSA1_5`, `dir` and `PBES2` are refused; static keys are checked against it.
    ///
    /// ```
    /// use jwe_mint::jwa::KeyManagementAlg;
    /// use jwe_mint::jwk::{Curve, Jwk, JwkSet};
    /// use jwe_mint::registry::ResourceEntry;
    /// let rs = Jwk::generate(Curve::P256).unwrap().to_public().unwrap();
    /// let entry = ResourceEntry::new("https://rs.example", ["s"], JwkSet::new(vec![rs])).unwrap()
    ///     .with_encryption_alg(KeyManagementAlg::EcdhEsA128Kw).unwrap();
    /// assert_eq!(entry.current_alg(), Some(KeyManagementAlg::EcdhEsA128Kw));
    /// ```
    pub fn with_encryption_alg(mut self, alg: KeyManagementAlg) -> Result<ResourceEntry> {
        if !token_alg(alg) {
            return Err(Error::invalid_key(format!(
                "{}: key-management algorithm `{alg}` not allowed for tokens",
                self.resource
            )));
        }
        if let Keys::Static(keys) = &self.keys {
            let set = JwkSet::new(keys.iter().map(|k| k.key.clone()).collect());
            self.keys = Keys::Static(validate_keys(&self.resource, &set, Some(alg))?);
        }
        self.encryption_alg = Some(alg);
        Ok(self)
    }

    /// The resource indicator.
    pub fn resource(&self) -> &ResourceIndicator {
        &self.resource
    }

    /// The scopes this resource accepts.
    pub fn scopes_supported(&self) -> &Scope {
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

    /// The entry's `encryption_alg`, if set.
    pub fn encryption_alg(&self) -> Option<KeyManagementAlg> {
        self.encryption_alg
    }

    /// Where the keys come from: the registry, a `jwks_uri`, or RFC 9728 discovery.
    pub fn key_location(&self) -> KeyLocation<'_> {
        match &self.keys {
            Keys::Static(_) => KeyLocation::Static,
            Keys::Remote(r) => match &r.jwks_uri {
                Some(uri) => KeyLocation::JwksUri(uri),
                None => KeyLocation::Discover,
            },
        }
    }

    /// Binds an entry with remote keys ([`KeyLocation::JwksUri`] or [`KeyLocation::Discover`])
    /// to the source of its keys, once: the source keeps itself fresh (rotation needs no new
    /// binding). Takes `&self`, so an issuer already serving can bind an entry whose RS was
    /// down at startup. An entry with static keys, or one already bound, is
    /// [`Error::Misuse`].
    pub fn set_key_source(&self, source: Arc<dyn JwkSource>) -> Result<()> {
        let Keys::Remote(remote) = &self.keys else {
            return Err(self.key_source_misuse("the registry holds this entry's keys"));
        };
        remote.source.set(source).map_err(|_| self.key_source_misuse("a key source is already bound"))
    }

    /// The bound key source, if any.
    pub fn key_source(&self) -> Option<&Arc<dyn JwkSource>> {
        match &self.keys {
            Keys::Static(_) => None,
            Keys::Remote(r) => r.source.get(),
        }
    }

    /// The key new tokens are encrypted to, with its algorithm. For remote keys: the first
    /// usable key of the source's current snapshot (see [`ResourceEntry::set_key_source`]); the
    /// choice is remembered per snapshot, so this costs a lookup, not a key check, per token.
    ///
    /// Remote keys are candidates when `use` is `enc`, or absent in a set without `use: sig`
    /// keys (RFC 9728 §2 requires `use` only in mixed sets); keys unusable for tokens (the rules
    /// of [`ResourceEntry::new`]) are skipped. Errors are [`Error::KeySource`]:
    /// [`KeySourceError::Unavailable`](crate::jwk::KeySourceError::Unavailable) when unbound or
    /// the source has no keys, [`KeySourceError::NoUsableKey`](crate::jwk::KeySourceError::NoUsableKey)
    /// when no key fits. Never a reason to mint unencrypted.
    pub fn encryption_key(&self) -> Result<Arc<EncryptionKey>> {
        match &self.keys {
            Keys::Static(keys) => Ok(Arc::clone(&keys[0])),
            Keys::Remote(remote) => remote.encryption_key(&self.resource, self.encryption_alg),
        }
    }

    /// The key new tokens are encrypted to, for an entry with static keys (`None` for remote
    /// keys: see [`ResourceEntry::encryption_key`]).
    pub fn current_key(&self) -> Option<&Jwk> {
        match &self.keys {
            Keys::Static(keys) => keys.first().map(|k| &k.key),
            Keys::Remote(_) => None,
        }
    }

    /// The key-management algorithm used with [`current_key`](Self::current_key).
    pub fn current_alg(&self) -> Option<KeyManagementAlg> {
        match &self.keys {
            Keys::Static(keys) => keys.first().map(|k| k.alg),
            Keys::Remote(_) => None,
        }
    }

    /// All static encryption keys (current first); none for remote keys.
    pub fn keys(&self) -> impl Iterator<Item = &Jwk> {
        let keys: &[Arc<EncryptionKey>] = match &self.keys {
            Keys::Static(keys) => keys,
            Keys::Remote(_) => &[],
        };
        keys.iter().map(|k| &k.key)
    }

    fn static_keys_mut(&mut self) -> Result<&mut Vec<Arc<EncryptionKey>>> {
        match &mut self.keys {
            Keys::Static(keys) => Ok(keys),
            Keys::Remote(_) => Err(Error::Misuse(Misuse::KeySource {
                resource: self.resource.as_str().to_owned(),
                reason: "the RS publishes this entry's keys; it rotates them there",
            })),
        }
    }

    /// Rotation: `key` becomes the current key; older keys stay listed until removed. Entries
    /// with remote keys rotate at the RS ([`Error::Misuse`] here).
    pub fn rotate_to(&mut self, key: Jwk) -> Result<()> {
        let mut new = validate_keys(&self.resource, &JwkSet::new(vec![key]), self.encryption_alg)?;
        let new = new.remove(0);
        let keys = self.static_keys_mut()?;
        if keys.iter().any(|k| {
            k.key.thumbprint() == new.key.thumbprint()
                || (k.key.kid().is_some() && k.key.kid() == new.key.kid())
        }) {
            return Err(Error::invalid_key("key already registered for this resource"));
        }
        keys.insert(0, new);
        Ok(())
    }

    /// Removes the key with `kid` (the last key cannot be removed).
    pub fn remove_key(&mut self, kid: &str) -> Result<()> {
        let keys = self.static_keys_mut()?;
        let before = keys.len();
        if before == 1 && keys[0].key.kid() == Some(kid) {
            return Err(Error::invalid_key("cannot remove the only key"));
        }
        keys.retain(|k| k.key.kid() != Some(kid));
        if keys.len() == before {
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
        let mut m = Map::new();
        m.insert("resource".into(), self.resource.as_str().into());
        m.insert("scopes_supported".into(), json!(self.scopes_supported.iter().collect::<Vec<_>>()));
        match &self.keys {
            Keys::Static(keys) => {
                let keys = keys.iter().map(|k| k.key.to_value()).collect::<Result<Vec<_>>>()?;
                m.insert("jwks".into(), json!({ "keys": keys }));
            }
            // Fetched keys are never written back: the RS publishes them.
            Keys::Remote(r) => {
                if let Some(uri) = &r.jwks_uri {
                    m.insert("jwks_uri".into(), uri.as_str().into());
                }
            }
        }
        if self.covers_subresources {
            m.insert("covers_subresources".into(), true.into());
        }
        if let Some(t) = self.token_lifetime {
            m.insert("access_token_lifetime".into(), t.into());
        }
        m.insert("encryption_enc".into(), self.enc.name().into());
        if let Some(alg) = self.encryption_alg {
            m.insert("encryption_alg".into(), alg.name().into());
        }
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
        let mut entry = match (o.get("jwks"), json::opt_str(o, "jwks_uri")?) {
            (Some(_), Some(_)) => {
                return Err(Error::malformed(format!("{named}: `jwks` and `jwks_uri` are exclusive")))
            }
            (Some(jwks), None) => {
                let jwks = JwkSet::from_value(jwks).map_err(|e| match e {
                    Error::InvalidKey(m) => Error::InvalidKey(format!("{named}: {m}")),
                    Error::Malformed(m) => Error::Malformed(format!("{named}: {m}")),
                    other => other,
                })?;
                ResourceEntry::new(resource, scopes, jwks)?
            }
            (None, Some(uri)) => ResourceEntry::from_jwks_uri(resource, scopes, uri)?,
            (None, None) => ResourceEntry::discovered(resource, scopes)?,
        };
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
        if let Some(alg) = json::opt_str(o, "encryption_alg")? {
            let alg = alg.parse().map_err(|e: Error| Error::Malformed(format!("{named}: {e}")))?;
            entry = entry.with_encryption_alg(alg)?;
        }
        Ok(entry)
    }
}

fn remote(jwks_uri: Option<String>) -> Keys {
    Keys::Remote(Box::new(RemoteKeys::new(jwks_uri)))
}

/// Algorithms tokens may be encrypted with: key wrapping or ECDH-ES, never `RSA1_5` (RFC 8725
/// §3.2), `dir` (a shared secret) or `PBES2` (passwords).
fn token_alg(alg: KeyManagementAlg) -> bool {
    (alg.wraps_cek() || alg.is_ecdh_es())
        && !alg.is_pbes2()
        && !matches!(alg, KeyManagementAlg::Rsa1_5 | KeyManagementAlg::Dir)
}

/// The algorithm to encrypt tokens to `key` with, or why the key cannot serve: public
/// asymmetric, usable for encryption (`use` / `key_ops`), an allowed algorithm (the key's `alg`,
/// else `entry_alg`, else the default for its type) that fits it, not a low-order X25519 point.
fn usable_alg(
    key: &Jwk,
    entry_alg: Option<KeyManagementAlg>,
) -> std::result::Result<KeyManagementAlg, String> {
    if key.is_private() {
        return Err("registry keys must be public (private or symmetric key found)".into());
    }
    if let Err(e) = key.check_usable_for(&PublicKeyUse::Encryption) {
        return Err(match e {
            Error::NoMatchingKey(why) => why,
            other => other.to_string(),
        });
    }
    let alg = match (key.alg(), entry_alg) {
        (None, Some(alg)) => alg,
        _ => KeyManagementAlg::default_for(key).map_err(|e| match e {
            Error::NoMatchingKey(why) => why,
            other => other.to_string(),
        })?,
    };
    if !token_alg(alg) {
        return Err("key-management algorithm not allowed for tokens".into());
    }
    crate::jwa::key_management::check_key(alg, ContentEncryptionAlg::A256Gcm, key, false)
        .map_err(|_| "key does not fit its algorithm".to_string())?;
    if key.is_low_order_x25519() {
        return Err("X25519 key of low order (RFC 7748 §6.1): every shared secret with it is all-zero".into());
    }
    Ok(alg)
}

/// Every key must be public, unique (kid and thumbprint) and, for X25519, not of low order. Keys
/// published with `use: "sig"` (RFC 9728 §2 lets one JWK Set hold both kinds, each key then
/// carrying `use`) are skipped; every other key must be usable for token encryption, and at least
/// one must remain.
fn validate_keys(
    resource: &ResourceIndicator,
    jwks: &JwkSet,
    entry_alg: Option<KeyManagementAlg>,
) -> Result<Vec<Arc<EncryptionKey>>> {
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
        if is_sig(key) && !key.is_private() {
            continue;
        }
        let alg = usable_alg(key, entry_alg).map_err(|why| ctx(&why))?;
        if let Some(kid) = key.kid() {
            if !kids.insert(kid.to_owned()) {
                return Err(ctx("duplicate `kid`"));
            }
        }
        if !thumbs.insert(key.thumbprint()) {
            return Err(ctx("duplicate key"));
        }
        out.push(Arc::new(EncryptionKey { key: key.clone(), alg }));
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
