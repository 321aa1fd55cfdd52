//! JWK Sets (RFC 7517 §5).

use serde_json::{Map, Value};

use super::Jwk;
use crate::error::{Error, Result};
use crate::json;

/// A set of keys, e.g. a resource server's private keys (several during rotation) or an
/// authorization server's published verification keys.
///
/// ```
/// use jwe_mint::jwk::{Curve, Jwk, JwkSet};
/// let a = Jwk::generate(Curve::P256).unwrap();
/// let set = JwkSet::new(vec![a.clone()]);
/// assert!(set.find(a.kid().unwrap()).is_some());
/// let public = set.to_public().unwrap();
/// let parsed = JwkSet::from_json(&public.to_json().unwrap()).unwrap();
/// assert_eq!(parsed.keys().len(), 1);
/// ```
#[derive(Clone, Debug, Default)]
pub struct JwkSet {
    keys: Vec<Jwk>,
}

impl JwkSet {
    /// A set holding `keys`.
    pub fn new(keys: Vec<Jwk>) -> JwkSet {
        JwkSet { keys }
    }

    /// Parses `{"keys":[…]}`. Keys whose `kty` or `crv` jwe-mint does not support are skipped
    /// (RFC 7517 §5: "SHOULD ignore"); a supported key that is malformed fails the whole set.
    pub fn from_json(text: &str) -> Result<JwkSet> {
        JwkSet::from_object(&json::parse_object(text.as_bytes(), "JWK Set")?)
    }

    /// Parses a JWK Set from a JSON value.
    pub fn from_value(v: &Value) -> Result<JwkSet> {
        match v {
            Value::Object(o) => JwkSet::from_object(o),
            _ => Err(Error::invalid_key("a JWK Set must be a JSON object")),
        }
    }

    pub(crate) fn from_object(o: &Map<String, Value>) -> Result<JwkSet> {
        let Some(Value::Array(items)) = o.get("keys") else {
            return Err(Error::invalid_key("a JWK Set needs a `keys` array"));
        };
        let mut keys = Vec::with_capacity(items.len());
        for item in items {
            let Value::Object(k) = item else {
                return Err(Error::invalid_key("JWK Set members must be objects"));
            };
            if !is_supported(k) {
                continue;
            }
            keys.push(Jwk::from_object(k)?);
        }
        Ok(JwkSet { keys })
    }

    /// Parses either a JWK Set or a single JWK (as key files often hold one key).
    pub fn from_json_key_or_set(text: &str) -> Result<JwkSet> {
        let o = json::parse_object(text.as_bytes(), "JWK")?;
        if o.contains_key("keys") {
            JwkSet::from_object(&o)
        } else {
            Ok(JwkSet::new(vec![Jwk::from_object(&o)?]))
        }
    }

    /// The keys, in document order.
    pub fn keys(&self) -> &[Jwk] {
        &self.keys
    }

    /// Adds a key.
    pub fn push(&mut self, key: Jwk) {
        self.keys.push(key);
    }

    /// The first key with this `kid`.
    pub fn find(&self, kid: &str) -> Option<&Jwk> {
        self.keys.iter().find(|k| k.kid() == Some(kid))
    }

    /// The same set with only public halves (fails on symmetric keys).
    pub fn to_public(&self) -> Result<JwkSet> {
        Ok(JwkSet { keys: self.keys.iter().map(Jwk::to_public).collect::<Result<_>>()? })
    }

    /// `{"keys":[…]}` with public members only (fails on symmetric keys).
    pub fn to_value(&self) -> Result<Value> {
        let keys = self.keys.iter().map(Jwk::to_value).collect::<Result<Vec<_>>>()?;
        Ok(serde_json::json!({ "keys": keys }))
    }

    /// Public JSON text of the set.
    pub fn to_json(&self) -> Result<String> {
        Ok(self.to_value()?.to_string())
    }

    /// Full JSON text including private members. Handle with care.
    pub fn to_private_json(&self) -> String {
        let keys: Vec<Value> = self.keys.iter().map(Jwk::to_private_value).collect();
        serde_json::json!({ "keys": keys }).to_string()
    }

    /// Iterates over the keys.
    pub fn iter(&self) -> std::slice::Iter<'_, Jwk> {
        self.keys.iter()
    }
}

impl From<Vec<Jwk>> for JwkSet {
    fn from(keys: Vec<Jwk>) -> Self {
        JwkSet::new(keys)
    }
}

impl<'a> IntoIterator for &'a JwkSet {
    type Item = &'a Jwk;
    type IntoIter = std::slice::Iter<'a, Jwk>;
    fn into_iter(self) -> Self::IntoIter {
        self.keys.iter()
    }
}

fn is_supported(k: &Map<String, Value>) -> bool {
    match k.get("kty").and_then(Value::as_str) {
        Some("RSA" | "oct") => true,
        Some("EC") => matches!(k.get("crv").and_then(Value::as_str), Some("P-256" | "P-384" | "P-521")),
        Some("OKP") => matches!(k.get("crv").and_then(Value::as_str), Some("X25519" | "Ed25519")),
        _ => false,
    }
}
