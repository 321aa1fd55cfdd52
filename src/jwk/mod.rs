//! JSON Web Keys (RFC 7517), key generation and RFC 7638 thumbprints.
//!
//! A [`Jwk`] is parsed once into the provider's key objects, so encrypting or decrypting with it
//! never re-parses JSON or re-validates a point. Private parts zeroize on drop and never appear in
//! `Debug` output.

mod params;
mod parse;
mod set;
mod source;
mod thumbprint;

pub use crate::crypto::keys::MIN_RSA_BITS;
pub use params::{KeyOperation, PublicKeyUse};
pub use set::{JwkSet, SkipReason, SkippedKey};
pub use source::{Freshness, JwkSource, KeySourceError, KeysFuture, StaticJwkSource};

use std::fmt;
use std::sync::Arc;

use serde_json::{Map, Value};
use zeroize::Zeroizing;

use crate::b64;
use crate::crypto::keys::PrivateKey;
use crate::crypto::{CryptoProvider, EcCurve, Provider as P};
use crate::error::{Error, Result};
use crate::json;

/// The curve of an EC or OKP key.
///
/// ```
/// use jwe_mint::jwk::Curve;
/// assert_eq!(Curve::P256.name(), "P-256");
/// assert_eq!("X25519".parse::<Curve>().unwrap(), Curve::X25519);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Curve {
    /// NIST P-256 (kty `EC`).
    P256,
    /// NIST P-384 (kty `EC`).
    P384,
    /// NIST P-521 (kty `EC`).
    P521,
    /// X25519 key agreement (kty `OKP`, RFC 8037).
    X25519,
    /// Ed25519 signatures (kty `OKP`, RFC 8037).
    Ed25519,
}

impl Curve {
    /// The JWK `crv` value.
    pub const fn name(self) -> &'static str {
        match self {
            Curve::P256 => "P-256",
            Curve::P384 => "P-384",
            Curve::P521 => "P-521",
            Curve::X25519 => "X25519",
            Curve::Ed25519 => "Ed25519",
        }
    }

    pub(crate) const fn ec(self) -> Option<EcCurve> {
        match self {
            Curve::P256 => Some(EcCurve::P256),
            Curve::P384 => Some(EcCurve::P384),
            Curve::P521 => Some(EcCurve::P521),
            _ => None,
        }
    }

    pub(crate) const fn from_ec(c: EcCurve) -> Curve {
        match c {
            EcCurve::P256 => Curve::P256,
            EcCurve::P384 => Curve::P384,
            EcCurve::P521 => Curve::P521,
        }
    }
}

impl std::str::FromStr for Curve {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "P-256" => Curve::P256,
            "P-384" => Curve::P384,
            "P-521" => Curve::P521,
            "X25519" => Curve::X25519,
            "Ed25519" => Curve::Ed25519,
            other => {
                return Err(Error::invalid_key(format!(
                    "unsupported curve `{}`",
                    crate::untrusted::name(other)
                )))
            }
        })
    }
}

impl fmt::Display for Curve {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The parsed key material, in the provider's own types.
// Variants differ in size by provider; every value lives behind one `Arc` per key, so boxing
// would only add an indirection.
#[allow(clippy::large_enum_variant)]
pub(crate) enum KeyMaterial {
    Ec {
        public: <P as CryptoProvider>::EcPublicKey,
        private: Option<PrivateKey<<P as CryptoProvider>::EcPrivateKey>>,
    },
    X25519 {
        public: [u8; 32],
        private: Option<PrivateKey<<P as CryptoProvider>::X25519PrivateKey>>,
    },
    Ed25519 {
        public: <P as CryptoProvider>::Ed25519PublicKey,
        private: Option<PrivateKey<<P as CryptoProvider>::Ed25519PrivateKey>>,
    },
    Rsa {
        public: <P as CryptoProvider>::RsaPublicKey,
        private: Option<PrivateKey<<P as CryptoProvider>::RsaPrivateKey>>,
    },
    Oct(Zeroizing<Vec<u8>>),
}

/// A JSON Web Key: key material plus its `kid`, `use`, `alg` and `key_ops` parameters.
///
/// Cloning is cheap (the parsed key is shared).
///
/// ```
/// use jwe_mint::jwk::{Curve, Jwk};
/// let private = Jwk::generate(Curve::P256).unwrap();
/// assert!(private.is_private());
/// // Debug never shows key bytes.
/// assert!(!format!("{private:?}").contains("\"d\""));
/// let public = private.to_public().unwrap();
/// let json = public.to_json().unwrap();
/// let again = Jwk::from_json(&json).unwrap();
/// assert_eq!(again.thumbprint(), private.thumbprint());
/// ```
#[derive(Clone)]
pub struct Jwk {
    kid: Option<String>,
    key_use: Option<PublicKeyUse>,
    alg: Option<String>,
    key_ops: Option<Vec<KeyOperation>>,
    pub(crate) material: Arc<KeyMaterial>,
}

impl fmt::Debug for Jwk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Jwk");
        d.field("kty", &self.kty());
        if let Some(c) = self.curve() {
            d.field("crv", &c.name());
        }
        d.field("kid", &self.kid)
            .field("use", &self.key_use)
            .field("alg", &self.alg)
            .field("private", &self.is_private())
            .finish_non_exhaustive()
    }
}

impl Jwk {
    fn from_material(material: KeyMaterial) -> Jwk {
        Jwk { kid: None, key_use: None, alg: None, key_ops: None, material: Arc::new(material) }
    }

    /// Parses a JWK from JSON text (strict: duplicate members are an error).
    pub fn from_json(text: &str) -> Result<Jwk> {
        Jwk::from_object(&json::parse_object(text.as_bytes(), "JWK")?)
    }

    /// Parses a JWK from a JSON value.
    pub fn from_value(value: &Value) -> Result<Jwk> {
        match value {
            Value::Object(o) => Jwk::from_object(o),
            _ => Err(Error::invalid_key("a JWK must be a JSON object")),
        }
    }

    pub(crate) fn from_object(o: &Map<String, Value>) -> Result<Jwk> {
        let kty = json::opt_str(o, "kty")?.ok_or_else(|| Error::invalid_key("missing `kty`"))?;
        let material = match kty {
            "EC" => parse::ec(o)?,
            "OKP" => parse::okp(o)?,
            "RSA" => parse::rsa(o)?,
            "oct" => parse::oct(o)?,
            other => {
                return Err(Error::invalid_key(format!(
                    "unsupported kty `{}`",
                    crate::untrusted::name(other)
                )))
            }
        };
        let key_ops = match o.get("key_ops") {
            None => None,
            Some(Value::Array(a)) => {
                let mut ops: Vec<KeyOperation> = Vec::with_capacity(a.len());
                for v in a {
                    let op = KeyOperation::from(
                        v.as_str().ok_or_else(|| Error::invalid_key("`key_ops` must be strings"))?,
                    );
                    // RFC 7517 §4.3: duplicate values MUST NOT be present.
                    if ops.contains(&op) {
                        return Err(Error::invalid_key("`key_ops` lists an operation twice"));
                    }
                    ops.push(op);
                }
                Some(ops)
            }
            Some(_) => return Err(Error::invalid_key("`key_ops` must be an array")),
        };
        Ok(Jwk {
            kid: json::opt_str(o, "kid").map_err(parse::key_err)?.map(str::to_owned),
            key_use: json::opt_str(o, "use").map_err(parse::key_err)?.map(PublicKeyUse::from),
            alg: json::opt_str(o, "alg").map_err(parse::key_err)?.map(str::to_owned),
            key_ops,
            material: Arc::new(material),
        })
    }

    /// Generates a fresh private key on `curve`. Its `kid` is the RFC 7638 thumbprint.
    ///
    /// ```
    /// use jwe_mint::jwk::{Curve, Jwk};
    /// let k = Jwk::generate(Curve::X25519).unwrap();
    /// assert_eq!(k.kid(), Some(k.thumbprint().as_str()));
    /// ```
    pub fn generate(curve: Curve) -> Result<Jwk> {
        let gen_err = |_| Error::Crypto("key generation");
        let material = match curve {
            Curve::X25519 => {
                let k = P::x25519_generate().map_err(gen_err)?;
                KeyMaterial::X25519 { public: P::x25519_public(&k), private: Some(PrivateKey::Memory(k)) }
            }
            Curve::Ed25519 => {
                let k = P::ed25519_generate().map_err(gen_err)?;
                KeyMaterial::Ed25519 {
                    public: P::ed25519_public_from_private(&k),
                    private: Some(PrivateKey::Memory(k)),
                }
            }
            ec => {
                let c = ec.ec().ok_or(Error::Crypto("key generation"))?;
                let k = P::ec_generate(c).map_err(gen_err)?;
                KeyMaterial::Ec {
                    public: P::ec_public_from_private(&k),
                    private: Some(PrivateKey::Memory(k)),
                }
            }
        };
        Ok(Jwk::from_material(material).with_thumbprint_kid())
    }

    /// Generates an RSA private key (`bits` ≥ 2048) with public exponent 65537.
    pub fn generate_rsa(bits: usize) -> Result<Jwk> {
        if bits < MIN_RSA_BITS {
            return Err(Error::invalid_key(format!("RSA keys must have at least {MIN_RSA_BITS} bits")));
        }
        let k = P::rsa_generate(bits)
            .map_err(|_| Error::Crypto("RSA key generation (supported: 2048, 3072, 4096)"))?;
        let material =
            KeyMaterial::Rsa { public: P::rsa_public_from_private(&k), private: Some(PrivateKey::Memory(k)) };
        Ok(Jwk::from_material(material).with_thumbprint_kid())
    }

    /// Generates a random symmetric (`oct`) key of `len` bytes.
    pub fn generate_symmetric(len: usize) -> Result<Jwk> {
        if len == 0 {
            return Err(Error::invalid_key("symmetric key length must be positive"));
        }
        let mut k = Zeroizing::new(vec![0u8; len]);
        P::fill_random(&mut k).map_err(|_| Error::Crypto("random source"))?;
        Ok(Jwk::from_material(KeyMaterial::Oct(k)).with_thumbprint_kid())
    }

    /// Builds an `oct` key from raw bytes (e.g. a `dir` or A*KW key).
    pub fn symmetric(key: &[u8]) -> Result<Jwk> {
        if key.is_empty() {
            return Err(Error::invalid_key("empty symmetric key"));
        }
        Ok(Jwk::from_material(KeyMaterial::Oct(Zeroizing::new(key.to_vec()))))
    }

    /// Opens a private key that stays inside a PKCS#11 token, addressed by an RFC 7512 URI
    /// (feature `pkcs11`): `pkcs11:token=…;object=…` (or `id=…`), with the query attributes
    /// `module-path=…` (else `$PKCS11_MODULE`, else the Debian SoftHSM2 path) and
    /// `pin-source=file:PATH` or `pin-source=env:NAME`. A URI with `pin-value` is refused.
    ///
    /// The public half is read from the token (`CKA_EC_POINT` or the RSA attributes) and the `kid`
    /// is its RFC 7638 thumbprint. The result signs and decrypts like an in-memory key
    /// ([`Issuer`](crate::issuer::Issuer), [`ResourceServer`](crate::resource_server::ResourceServer),
    /// [`jwe::decrypt`](crate::jwe::decrypt), [`jws`](crate::jws)), but
    /// [`to_private_json`](Jwk::to_private_json) has no private members to show. Errors
    /// ([`Error::Pkcs11`], [`Error::InvalidKey`]) name the URI, never the PIN.
    #[cfg(feature = "pkcs11")]
    pub fn from_pkcs11_uri(uri: &str) -> Result<Jwk> {
        let (key, public) = crate::crypto::pkcs11::TokenKey::open(uri)?;
        Jwk::from_token(key, public)
    }

    /// Generates a key pair inside a PKCS#11 token (feature `pkcs11`; the URI as for
    /// [`Jwk::from_pkcs11_uri`], its `object`/`id` label the new objects): the private key is
    /// `CKA_SENSITIVE` and not `CKA_EXTRACTABLE`, for signing (`key_use` =
    /// [`PublicKeyUse::Signature`]) or for ECDH-ES (otherwise). Curves: P-256, P-384, P-521 and
    /// Ed25519 (signing only). Returns the key as [`Jwk::from_pkcs11_uri`] would, with `use` set.
    #[cfg(feature = "pkcs11")]
    pub fn generate_in_pkcs11(uri: &str, curve: Curve, key_use: PublicKeyUse) -> Result<Jwk> {
        use crate::crypto::pkcs11::TokenKeySpec;
        let spec = match (curve, curve.ec()) {
            (_, Some(c)) => TokenKeySpec::Ec(c),
            (Curve::Ed25519, None) => TokenKeySpec::Ed25519,
            _ => {
                return Err(Error::invalid_key(format!(
                    "{curve} keys cannot be generated in a PKCS#11 token here"
                )))
            }
        };
        let signing = key_use == PublicKeyUse::Signature;
        let (key, public) = crate::crypto::pkcs11::generate(uri, spec, signing)?;
        Ok(Jwk::from_token(key, public)?.with_use(key_use))
    }

    /// Generates an RSA key pair (`bits` ≥ 2048, exponent 65537) inside a PKCS#11 token (feature
    /// `pkcs11`), for signing (PS256/RS256) or RSA-OAEP decryption; see
    /// [`Jwk::generate_in_pkcs11`].
    #[cfg(feature = "pkcs11")]
    pub fn generate_rsa_in_pkcs11(uri: &str, bits: usize, key_use: PublicKeyUse) -> Result<Jwk> {
        let signing = key_use == PublicKeyUse::Signature;
        let (key, public) =
            crate::crypto::pkcs11::generate(uri, crate::crypto::pkcs11::TokenKeySpec::Rsa(bits), signing)?;
        Ok(Jwk::from_token(key, public)?.with_use(key_use))
    }

    #[cfg(feature = "pkcs11")]
    fn from_token(
        key: crate::crypto::pkcs11::TokenKey,
        public: crate::crypto::pkcs11::TokenPublic,
    ) -> Result<Jwk> {
        use crate::crypto::pkcs11::TokenPublic;
        let bad = |what: &str| Error::Pkcs11(format!("{key:?}: the token's {what} public key is invalid"));
        let material = match public {
            TokenPublic::Ec(curve, x, y) => KeyMaterial::Ec {
                public: P::ec_public_from_coordinates(curve, &x, &y).map_err(|_| bad("EC"))?,
                private: Some(PrivateKey::Token(key)),
            },
            TokenPublic::Ed25519(x) => {
                let weak =
                    <&[u8; 32]>::try_from(x.as_slice()).map_or(true, crate::crypto::ed25519_encoding_is_weak);
                if weak {
                    return Err(bad("Ed25519"));
                }
                KeyMaterial::Ed25519 {
                    public: P::ed25519_public_from_bytes(&x).map_err(|_| bad("Ed25519"))?,
                    private: Some(PrivateKey::Token(key)),
                }
            }
            TokenPublic::Rsa(n, e) => {
                let public = P::rsa_public_from_components(&parse::strip_zeros(n), &parse::strip_zeros(e))
                    .map_err(|_| bad("RSA"))?;
                if P::rsa_public_bits(&public) < MIN_RSA_BITS {
                    return Err(Error::Pkcs11(format!(
                        "{key:?}: RSA modulus shorter than {MIN_RSA_BITS} bits"
                    )));
                }
                KeyMaterial::Rsa { public, private: Some(PrivateKey::Token(key)) }
            }
        };
        Ok(Jwk::from_material(material).with_thumbprint_kid())
    }

    /// Whether the private half of this key lives in a PKCS#11 token rather than in memory.
    pub fn is_external(&self) -> bool {
        match &*self.material {
            KeyMaterial::Ec { private, .. } => private.as_ref().is_some_and(PrivateKey::is_external),
            KeyMaterial::Ed25519 { private, .. } => private.as_ref().is_some_and(PrivateKey::is_external),
            KeyMaterial::Rsa { private, .. } => private.as_ref().is_some_and(PrivateKey::is_external),
            KeyMaterial::X25519 { private, .. } => private.as_ref().is_some_and(PrivateKey::is_external),
            KeyMaterial::Oct(_) => false,
        }
    }

    fn with_thumbprint_kid(mut self) -> Jwk {
        self.kid = Some(self.thumbprint());
        self
    }

    /// The same key without a `kid` (a DPoP proof's header names its key by value, RFC 9449 §4.2).
    pub(crate) fn without_kid(mut self) -> Jwk {
        self.kid = None;
        self
    }

    /// Sets the `kid`.
    pub fn with_kid(mut self, kid: impl Into<String>) -> Jwk {
        self.kid = Some(kid.into());
        self
    }

    /// Sets the `use`: [`PublicKeyUse::Encryption`] or [`PublicKeyUse::Signature`] (a string
    /// converts: `"enc"`, `"sig"`, anything else is [`PublicKeyUse::Other`]).
    pub fn with_use(mut self, key_use: impl Into<PublicKeyUse>) -> Jwk {
        self.key_use = Some(key_use.into());
        self
    }

    /// Sets the `key_ops` (RFC 7517 §4.3); a repeated operation is kept once.
    pub fn with_key_ops(mut self, ops: impl IntoIterator<Item = KeyOperation>) -> Jwk {
        let mut list: Vec<KeyOperation> = Vec::new();
        for op in ops {
            if !list.contains(&op) {
                list.push(op);
            }
        }
        self.key_ops = Some(list);
        self
    }

    /// Sets the `alg` this key is pinned to.
    pub fn with_alg(mut self, alg: impl Into<String>) -> Jwk {
        self.alg = Some(alg.into());
        self
    }

    /// The `kid`, if any.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The `use`, if any.
    pub fn key_use(&self) -> Option<&PublicKeyUse> {
        self.key_use.as_ref()
    }

    /// The `alg` this key is pinned to, if any.
    pub fn alg(&self) -> Option<&str> {
        self.alg.as_deref()
    }

    /// The `key_ops`, if any.
    pub fn key_ops(&self) -> Option<&[KeyOperation]> {
        self.key_ops.as_deref()
    }

    /// The `kty`: `"EC"`, `"OKP"`, `"RSA"` or `"oct"`.
    pub fn kty(&self) -> &'static str {
        match &*self.material {
            KeyMaterial::Ec { .. } => "EC",
            KeyMaterial::X25519 { .. } | KeyMaterial::Ed25519 { .. } => "OKP",
            KeyMaterial::Rsa { .. } => "RSA",
            KeyMaterial::Oct(_) => "oct",
        }
    }

    /// The curve of an EC or OKP key.
    pub fn curve(&self) -> Option<Curve> {
        match &*self.material {
            KeyMaterial::Ec { public, .. } => Some(Curve::from_ec(P::ec_public_curve(public))),
            KeyMaterial::X25519 { .. } => Some(Curve::X25519),
            KeyMaterial::Ed25519 { .. } => Some(Curve::Ed25519),
            _ => None,
        }
    }

    /// Whether the key holds private (or symmetric) material.
    pub fn is_private(&self) -> bool {
        match &*self.material {
            KeyMaterial::Ec { private, .. } => private.is_some(),
            KeyMaterial::X25519 { private, .. } => private.is_some(),
            KeyMaterial::Ed25519 { private, .. } => private.is_some(),
            KeyMaterial::Rsa { private, .. } => private.is_some(),
            KeyMaterial::Oct(_) => true,
        }
    }

    /// Length in bytes of a symmetric (`oct`) key; `None` for asymmetric keys.
    ///
    /// ```
    /// use jwe_mint::jwk::Jwk;
    /// assert_eq!(Jwk::generate_symmetric(24).unwrap().symmetric_len(), Some(24));
    /// ```
    pub fn symmetric_len(&self) -> Option<usize> {
        match &*self.material {
            KeyMaterial::Oct(k) => Some(k.len()),
            _ => None,
        }
    }

    /// Whether this is a symmetric (`oct`) key.
    pub fn is_symmetric(&self) -> bool {
        matches!(&*self.material, KeyMaterial::Oct(_))
    }

    /// The public half of an asymmetric key (metadata kept). Symmetric keys have none: `Err`.
    pub fn to_public(&self) -> Result<Jwk> {
        let material = match &*self.material {
            KeyMaterial::Ec { public, .. } => KeyMaterial::Ec { public: public.clone(), private: None },
            KeyMaterial::X25519 { public, .. } => KeyMaterial::X25519 { public: *public, private: None },
            KeyMaterial::Ed25519 { public, .. } => {
                KeyMaterial::Ed25519 { public: public.clone(), private: None }
            }
            KeyMaterial::Rsa { public, .. } => KeyMaterial::Rsa { public: public.clone(), private: None },
            KeyMaterial::Oct(_) => return Err(Error::invalid_key("a symmetric key has no public part")),
        };
        Ok(Jwk { material: Arc::new(material), ..self.clone() })
    }

    /// The RFC 7638 SHA-256 thumbprint, base64url.
    ///
    /// ```
    /// use jwe_mint::jwk::Jwk;
    /// let k = Jwk::from_json(r#"{"kty":"oct","k":"GawgguFyGrWKav7AX4VKUg"}"#).unwrap();
    /// assert_eq!(k.thumbprint().len(), 43);
    /// ```
    pub fn thumbprint(&self) -> String {
        thumbprint::sha256(self)
    }

    /// The public JWK as a JSON object (no private members). Symmetric keys: `Err`.
    pub fn to_value(&self) -> Result<Value> {
        if self.is_symmetric() {
            return Err(Error::invalid_key("a symmetric key has no public form; use to_private_value"));
        }
        Ok(Value::Object(self.members(false)))
    }

    /// The public JWK as JSON text. Symmetric keys: `Err`.
    pub fn to_json(&self) -> Result<String> {
        Ok(self.to_value()?.to_string())
    }

    /// The full JWK including private members, as a JSON object. Handle with care: the result is
    /// secret and is not zeroized.
    pub fn to_private_value(&self) -> Value {
        Value::Object(self.members(true))
    }

    /// The full JWK including private members, as JSON text. Handle with care.
    pub fn to_private_json(&self) -> String {
        self.to_private_value().to_string()
    }

    fn members(&self, private: bool) -> Map<String, Value> {
        let mut m = Map::new();
        let s = |b: &[u8]| Value::String(b64::encode(b));
        m.insert("kty".into(), self.kty().into());
        match &*self.material {
            KeyMaterial::Ec { public, private: d } => {
                let (x, y) = P::ec_public_coordinates(public);
                m.insert("crv".into(), Curve::from_ec(P::ec_public_curve(public)).name().into());
                m.insert("x".into(), s(&x));
                m.insert("y".into(), s(&y));
                if let (true, Some(d)) = (private, d.as_ref().and_then(PrivateKey::in_memory)) {
                    m.insert("d".into(), s(&P::ec_private_to_bytes(d)));
                }
            }
            KeyMaterial::X25519 { public, private: d } => {
                m.insert("crv".into(), "X25519".into());
                m.insert("x".into(), s(public));
                if let (true, Some(d)) = (private, d.as_ref().and_then(PrivateKey::in_memory)) {
                    m.insert("d".into(), s(&P::x25519_private_to_bytes(d)));
                }
            }
            KeyMaterial::Ed25519 { public, private: d } => {
                m.insert("crv".into(), "Ed25519".into());
                m.insert("x".into(), s(&P::ed25519_public_to_bytes(public)));
                if let (true, Some(d)) = (private, d.as_ref().and_then(PrivateKey::in_memory)) {
                    m.insert("d".into(), s(&P::ed25519_private_to_seed(d)));
                }
            }
            KeyMaterial::Rsa { public, private: d } => {
                let (n, e) = P::rsa_public_components(public);
                m.insert("n".into(), s(&n));
                m.insert("e".into(), s(&e));
                if let (true, Some(d)) = (private, d.as_ref().and_then(PrivateKey::in_memory)) {
                    let c = P::rsa_private_components(d);
                    for (name, v) in
                        [("d", &c.d), ("p", &c.p), ("q", &c.q), ("dp", &c.dp), ("dq", &c.dq), ("qi", &c.qi)]
                    {
                        m.insert(name.into(), s(v));
                    }
                }
            }
            KeyMaterial::Oct(k) => {
                if private {
                    m.insert("k".into(), s(k));
                }
            }
        }
        if let Some(kid) = &self.kid {
            m.insert("kid".into(), kid.clone().into());
        }
        if let Some(u) = &self.key_use {
            m.insert("use".into(), u.as_str().into());
        }
        if let Some(a) = &self.alg {
            m.insert("alg".into(), a.clone().into());
        }
        if let Some(ops) = &self.key_ops {
            m.insert("key_ops".into(), ops.iter().map(|op| Value::from(op.as_str())).collect());
        }
        m
    }

    /// Whether this key may be used for `purpose` ([`PublicKeyUse::Signature`] or
    /// [`PublicKeyUse::Encryption`]): its `use` (RFC 7517 §4.2), when present, must be that
    /// purpose, and its `key_ops` (§4.3), when present, must name an operation of that kind. The
    /// error ([`Error::NoMatchingKey`]) names the parameter that forbids it.
    pub(crate) fn check_usable_for(&self, purpose: &PublicKeyUse) -> Result<()> {
        if let Some(u) = &self.key_use {
            if u != purpose {
                return Err(Error::NoMatchingKey(format!(
                    "key `use` is `{}`, not `{purpose}`",
                    crate::untrusted::name(u.as_str())
                )));
            }
        }
        if let Some(ops) = &self.key_ops {
            let fits = |op: &KeyOperation| match purpose {
                PublicKeyUse::Signature => op.is_signature(),
                PublicKeyUse::Encryption => op.is_encryption(),
                PublicKeyUse::Other(_) => false,
            };
            if !ops.iter().any(fits) {
                let kind = if *purpose == PublicKeyUse::Signature { "signature" } else { "encryption" };
                let listed: Vec<String> = ops.iter().map(|op| crate::untrusted::name(op.as_str())).collect();
                return Err(Error::NoMatchingKey(format!(
                    "key `key_ops` [{}] allow no {kind} operation",
                    listed.join(", ")
                )));
            }
        }
        Ok(())
    }

    /// Whether this is an X25519 key whose public point has low order (RFC 7748 §6.1; the
    /// libsodium blocklist, canonical or not, top bit set or not). X25519 clamps every scalar to a
    /// multiple of the cofactor 8, so such a point gives the all-zero shared secret, which the
    /// provider refuses: a probe agreement with a fixed scalar tells. The scalar is public (only
    /// whether the result is all-zero matters), and no primitive is written here.
    pub(crate) fn is_low_order_x25519(&self) -> bool {
        const PROBE_SCALAR: [u8; 32] = [0x5a; 32];
        let KeyMaterial::X25519 { public, .. } = &*self.material else { return false };
        // A probe that cannot be made cannot clear the key.
        P::x25519_private_from_bytes(&PROBE_SCALAR).map_or(true, |probe| P::x25519(&probe, public).is_err())
    }
}

impl serde::Serialize for Jwk {
    /// Serializes the **public** form only (symmetric keys fail).
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.to_value().map_err(serde::ser::Error::custom)?.serialize(s)
    }
}

impl<'de> serde::Deserialize<'de> for Jwk {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        // Strict: duplicate members are an error here too.
        let v = json::deserialize_strict(d)?;
        Jwk::from_value(&v).map_err(serde::de::Error::custom)
    }
}
