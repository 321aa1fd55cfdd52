//! JWK Sets (RFC 7517 §5).

use std::fmt;

use serde_json::{Map, Value};

use super::{Jwk, MIN_RSA_BITS};
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
/// assert!(parsed.skipped().is_empty());
/// ```
#[derive(Clone, Debug, Default)]
pub struct JwkSet {
    keys: Vec<Jwk>,
    skipped: Vec<SkippedKey>,
}

/// A member of a parsed JWK Set that was left out because jwe-mint cannot use it (see
/// [`JwkSet::from_json`] for exactly which keys are skipped and which fail the whole set).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SkippedKey {
    /// Position of the member in the set's `keys` array (0-based).
    pub index: usize,
    /// The member's `kid`, if it has a string one (as transmitted; `Display` sanitises it).
    pub kid: Option<String>,
    /// Why it was skipped.
    pub reason: SkipReason,
}

impl fmt::Display for SkippedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "key #{}", self.index)?;
        if let Some(kid) = &self.kid {
            write!(f, " (kid `{}`)", crate::untrusted::name(kid))?;
        }
        write!(f, " skipped: {}", self.reason)
    }
}

/// Why a JWK Set member was skipped (RFC 7517 §5: keys whose `kty` is not understood, that lack
/// required members, or whose values are out of the supported ranges SHOULD be ignored).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SkipReason {
    /// The member has no `kty` (RFC 7517 §4.1), so nothing tells what it is.
    MissingKeyType,
    /// A `kty` jwe-mint does not implement (it implements `EC`, `OKP`, `RSA` and `oct`).
    UnsupportedKeyType(String),
    /// An `EC` or `OKP` curve jwe-mint does not implement (e.g. `secp256k1`, `X448`, `Ed448`).
    UnsupportedCurve(String),
    /// An RSA key whose modulus is shorter than [`MIN_RSA_BITS`] (RFC 7518 §3.3, §4.2).
    RsaTooShort {
        /// The modulus length in bits.
        bits: usize,
    },
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipReason::MissingKeyType => f.write_str("no `kty`"),
            SkipReason::UnsupportedKeyType(k) => {
                write!(f, "unsupported kty `{}`", crate::untrusted::name(k))
            }
            SkipReason::UnsupportedCurve(c) => {
                write!(f, "unsupported curve `{}`", crate::untrusted::name(c))
            }
            SkipReason::RsaTooShort { bits } => {
                write!(f, "RSA modulus of {bits} bits, at least {MIN_RSA_BITS} required")
            }
        }
    }
}

impl JwkSet {
    /// A set holding `keys`.
    pub fn new(keys: Vec<Jwk>) -> JwkSet {
        JwkSet { keys, skipped: Vec::new() }
    }

    /// Parses `{"keys":[…]}` (strict JSON).
    ///
    /// A member jwe-mint cannot use is **skipped** — left out of [`keys`](JwkSet::keys), listed in
    /// [`skipped`](JwkSet::skipped) and logged as a `tracing` warning (target `jwe_mint::keys`) —
    /// when, and only when, it has no `kty`, a `kty` other than `EC`/`OKP`/`RSA`/`oct`, an `EC` or
    /// `OKP` curve other than P-256/P-384/P-521/X25519/Ed25519 (e.g. `secp256k1`), or an RSA
    /// modulus shorter than [`MIN_RSA_BITS`]. RFC 7517 §5 asks for these to be ignored, and one
    /// such key must not take down the keys next to it.
    ///
    /// Everything else fails the whole set: text that is not strict JSON (including duplicate
    /// member names), a missing or non-array `keys`, a member that is not an object, and a key of a
    /// supported type whose parameters are invalid (a point off its curve, a wrong length, bad
    /// base64url, a private part that does not match, a ROCA modulus, a non-string `kid`, …). A
    /// key we would otherwise use that is broken or hostile is the publisher's error to fix, not
    /// something to drop quietly (dropping it would change which key is picked).
    ///
    /// ```
    /// use jwe_mint::jwk::{JwkSet, SkipReason};
    /// let text = r#"{"keys":[
    ///   {"kty":"EC","crv":"secp256k1","kid":"k1",
    ///    "x":"wFkWhh0hsXuvYAqYKAfAF8tRFnKA1IKkalPmjIGgcnE","y":"rzHBQyeROjqVwxBH8nHdX4I6_Z2nMNrdqLnY6RTyyJw"},
    ///   {"kty":"oct","k":"GawgguFyGrWKav7AX4VKUg","kid":"aes"}]}"#;
    /// let set = JwkSet::from_json(text).unwrap();
    /// assert_eq!(set.keys().len(), 1);
    /// assert_eq!(set.skipped()[0].kid.as_deref(), Some("k1"));
    /// assert_eq!(set.skipped()[0].reason, SkipReason::UnsupportedCurve("secp256k1".into()));
    /// ```
    pub fn from_json(text: &str) -> Result<JwkSet> {
        JwkSet::from_object(&json::parse_object(text.as_bytes(), "JWK Set")?)
    }

    /// Parses a JWK Set from a JSON value (same rules as [`JwkSet::from_json`]).
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
        let mut skipped = Vec::new();
        for (index, item) in items.iter().enumerate() {
            let Value::Object(k) = item else {
                return Err(Error::invalid_key("JWK Set members must be objects"));
            };
            match skip_reason(k)? {
                None => keys.push(Jwk::from_object(k)?),
                Some(reason) => {
                    let kid = k.get("kid").and_then(Value::as_str).map(str::to_owned);
                    let s = SkippedKey { index, kid, reason };
                    tracing::warn!(target: crate::tracing_targets::KEYS, index, "JWK Set member {s}");
                    skipped.push(s);
                }
            }
        }
        Ok(JwkSet { keys, skipped })
    }

    /// Parses either a JWK Set (same rules as [`JwkSet::from_json`]) or a single JWK (as key files
    /// often hold one key). A single key that jwe-mint cannot use is an error, not a skip.
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

    /// Members that were skipped when this set was parsed (see [`JwkSet::from_json`]), in
    /// document order; empty for a set built with [`JwkSet::new`]. A set whose every member was
    /// skipped has no [`keys`](JwkSet::keys) but a non-empty `skipped()`.
    pub fn skipped(&self) -> &[SkippedKey] {
        &self.skipped
    }

    /// Adds a key.
    pub fn push(&mut self, key: Jwk) {
        self.keys.push(key);
    }

    /// The first key with this `kid`.
    pub fn find(&self, kid: &str) -> Option<&Jwk> {
        self.keys.iter().find(|k| k.kid() == Some(kid))
    }

    /// The same set with only public halves (fails on symmetric keys). What was skipped when the
    /// set was parsed stays listed.
    pub fn to_public(&self) -> Result<JwkSet> {
        Ok(JwkSet {
            keys: self.keys.iter().map(Jwk::to_public).collect::<Result<_>>()?,
            skipped: self.skipped.clone(),
        })
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

/// Whether a JWK Set member is one to skip (see [`JwkSet::from_json`]): `Ok(None)` means "parse
/// it, and let any error fail the set". Only the members that decide the key's type (and, for RSA,
/// its size) are read here; a malformed one of those is an error, not a skip.
fn skip_reason(k: &Map<String, Value>) -> Result<Option<SkipReason>> {
    let kty = match k.get("kty") {
        None => return Ok(Some(SkipReason::MissingKeyType)),
        Some(Value::String(kty)) => kty.as_str(),
        Some(_) => return Err(Error::invalid_key("`kty` must be a string")),
    };
    let crv = || match k.get("crv") {
        // A missing `crv` on a supported kty is a malformed key: let parsing report it.
        None => Ok(None),
        Some(Value::String(c)) => Ok(Some(c.as_str())),
        Some(_) => Err(Error::invalid_key("`crv` must be a string")),
    };
    Ok(match kty {
        "oct" => None,
        "EC" => crv()?
            .filter(|c| !matches!(*c, "P-256" | "P-384" | "P-521"))
            .map(|c| SkipReason::UnsupportedCurve(c.to_owned())),
        "OKP" => crv()?
            .filter(|c| !matches!(*c, "X25519" | "Ed25519"))
            .map(|c| SkipReason::UnsupportedCurve(c.to_owned())),
        "RSA" => {
            // A modulus that does not decode is a malformed key: let parsing report it.
            let Some(Ok(n)) = k.get("n").and_then(Value::as_str).map(|n| crate::b64::decode(n, "n")) else {
                return Ok(None);
            };
            let bits = modulus_bits(&n);
            (bits < MIN_RSA_BITS).then_some(SkipReason::RsaTooShort { bits })
        }
        other => Some(SkipReason::UnsupportedKeyType(other.to_owned())),
    })
}

/// Bit length of a big-endian unsigned integer (leading zero bytes ignored).
fn modulus_bits(n: &[u8]) -> usize {
    let n = &n[n.iter().take_while(|b| **b == 0).count()..];
    n.first().map_or(0, |first| (n.len() - 1) * 8 + (8 - first.leading_zeros() as usize))
}
