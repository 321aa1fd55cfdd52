//! JSON Web Algorithms (RFC 7518): the algorithm identifiers jwe-mint implements and the
//! algorithm-level building blocks (content encryption, key management) on top of the provider.

pub(crate) mod content;
pub mod hazmat;
pub(crate) mod key_management;

pub use key_management::PBES2_DEFAULT_ITERATIONS;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::crypto::{EcCurve, Sha};
use crate::error::Error;
use crate::jwk::{Curve, Jwk};

macro_rules! alg_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// Every value, in RFC order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The registered JOSE name, e.g. `"A256GCM"`.
            pub const fn name(self) -> &'static str {
                match self { $($name::$variant => $text,)+ }
            }
        }

        impl FromStr for $name {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self, Error> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err(Error::UnsupportedAlgorithm(crate::untrusted::name(other))),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.name())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

alg_enum! {
    /// Key management algorithms (`alg` of a JWE, RFC 7518 §4).
    ///
    /// ```
    /// use jwe_mint::jwa::KeyManagementAlg;
    /// let alg: KeyManagementAlg = "ECDH-ES+A256KW".parse().unwrap();
    /// assert_eq!(alg, KeyManagementAlg::EcdhEsA256Kw);
    /// ```
    KeyManagementAlg {
        /// RSAES-PKCS1-v1_5. Legacy: decrypt only, behind an explicit opt-in.
        Rsa1_5 => "RSA1_5",
        /// RSAES-OAEP with SHA-1.
        RsaOaep => "RSA-OAEP",
        /// RSAES-OAEP with SHA-256.
        RsaOaep256 => "RSA-OAEP-256",
        /// AES-128 key wrap.
        A128Kw => "A128KW",
        /// AES-192 key wrap.
        A192Kw => "A192KW",
        /// AES-256 key wrap.
        A256Kw => "A256KW",
        /// Direct use of a shared symmetric key as the CEK.
        Dir => "dir",
        /// ECDH-ES direct key agreement.
        EcdhEs => "ECDH-ES",
        /// ECDH-ES with AES-128 key wrap.
        EcdhEsA128Kw => "ECDH-ES+A128KW",
        /// ECDH-ES with AES-192 key wrap.
        EcdhEsA192Kw => "ECDH-ES+A192KW",
        /// ECDH-ES with AES-256 key wrap (the jwe-mint default).
        EcdhEsA256Kw => "ECDH-ES+A256KW",
        /// AES-128-GCM key wrap.
        A128GcmKw => "A128GCMKW",
        /// AES-192-GCM key wrap.
        A192GcmKw => "A192GCMKW",
        /// AES-256-GCM key wrap.
        A256GcmKw => "A256GCMKW",
        /// PBES2 with HMAC-SHA-256 and AES-128 key wrap. Opt-in.
        Pbes2Hs256A128Kw => "PBES2-HS256+A128KW",
        /// PBES2 with HMAC-SHA-384 and AES-192 key wrap. Opt-in.
        Pbes2Hs384A192Kw => "PBES2-HS384+A192KW",
        /// PBES2 with HMAC-SHA-512 and AES-256 key wrap. Opt-in.
        Pbes2Hs512A256Kw => "PBES2-HS512+A256KW",
    }
}

alg_enum! {
    /// Content encryption algorithms (`enc` of a JWE, RFC 7518 §5).
    ///
    /// ```
    /// use jwe_mint::jwa::ContentEncryptionAlg;
    /// assert_eq!(ContentEncryptionAlg::A256Gcm.key_len(), 32);
    /// assert_eq!(ContentEncryptionAlg::A128CbcHs256.key_len(), 32);
    /// ```
    ContentEncryptionAlg {
        /// AES_128_CBC_HMAC_SHA_256.
        A128CbcHs256 => "A128CBC-HS256",
        /// AES_192_CBC_HMAC_SHA_384.
        A192CbcHs384 => "A192CBC-HS384",
        /// AES_256_CBC_HMAC_SHA_512.
        A256CbcHs512 => "A256CBC-HS512",
        /// AES-128-GCM.
        A128Gcm => "A128GCM",
        /// AES-192-GCM.
        A192Gcm => "A192GCM",
        /// AES-256-GCM (the jwe-mint default).
        A256Gcm => "A256GCM",
    }
}

alg_enum! {
    /// JWS signature algorithms used for nested tokens (RFC 7518 §3, RFC 8037).
    ///
    /// ```
    /// use jwe_mint::jwa::SigningAlg;
    /// assert_eq!("ES256".parse::<SigningAlg>().unwrap(), SigningAlg::Es256);
    /// assert!("none".parse::<SigningAlg>().is_err());
    /// ```
    SigningAlg {
        /// RSASSA-PKCS1-v1_5 with SHA-256.
        Rs256 => "RS256",
        /// RSASSA-PSS with SHA-256.
        Ps256 => "PS256",
        /// ECDSA P-256 with SHA-256 (the jwe-mint default).
        Es256 => "ES256",
        /// ECDSA P-384 with SHA-384.
        Es384 => "ES384",
        /// ECDSA P-521 with SHA-512.
        Es512 => "ES512",
        /// Ed25519 (RFC 8037).
        EdDsa => "EdDSA",
    }
}

/// How a key management algorithm obtains the CEK.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CekMode {
    /// The CEK is derived or is the key itself; `encrypted_key` is empty; one recipient only.
    Direct,
    /// A random CEK is wrapped for the recipient.
    Wrapped,
}

impl KeyManagementAlg {
    /// Whether this algorithm wraps a random CEK (and so can serve several recipients).
    pub const fn wraps_cek(self) -> bool {
        !matches!(self, KeyManagementAlg::Dir | KeyManagementAlg::EcdhEs)
    }

    pub(crate) const fn cek_mode(self) -> CekMode {
        if self.wraps_cek() {
            CekMode::Wrapped
        } else {
            CekMode::Direct
        }
    }

    /// Whether this is one of the ECDH-ES family.
    pub const fn is_ecdh_es(self) -> bool {
        matches!(
            self,
            KeyManagementAlg::EcdhEs
                | KeyManagementAlg::EcdhEsA128Kw
                | KeyManagementAlg::EcdhEsA192Kw
                | KeyManagementAlg::EcdhEsA256Kw
        )
    }

    /// Whether this is one of the PBES2 family (password based; opt-in).
    pub const fn is_pbes2(self) -> bool {
        matches!(
            self,
            KeyManagementAlg::Pbes2Hs256A128Kw
                | KeyManagementAlg::Pbes2Hs384A192Kw
                | KeyManagementAlg::Pbes2Hs512A256Kw
        )
    }

    /// Length in bytes of the AES key (the JWK `k`) that `A128KW`…`A256KW` and
    /// `A128GCMKW`…`A256GCMKW` use directly; `None` for every other algorithm (`dir` takes the
    /// content encryption key length, PBES2 a password of any length).
    ///
    /// ```
    /// use jwe_mint::jwa::KeyManagementAlg;
    /// assert_eq!(KeyManagementAlg::A192GcmKw.aes_key_len(), Some(24));
    /// assert_eq!(KeyManagementAlg::EcdhEsA256Kw.aes_key_len(), None);
    /// ```
    pub const fn aes_key_len(self) -> Option<usize> {
        use KeyManagementAlg::*;
        match self {
            A128Kw | A128GcmKw => Some(16),
            A192Kw | A192GcmKw => Some(24),
            A256Kw | A256GcmKw => Some(32),
            _ => None,
        }
    }

    /// The algorithm jwe-mint encrypts to `key` with when none is given: the key's own `alg`
    /// (for an `oct` key pinned to a content encryption algorithm, `dir`: RFC 7520 §5.6.1), else
    /// by key type: `ECDH-ES+A256KW` for EC and X25519 keys, `RSA-OAEP-256` for RSA keys,
    /// `A128KW`/`A192KW`/`A256KW` for 16/24/32-byte `oct` keys. A key that cannot encrypt, or
    /// whose `alg` is not a key management algorithm, is [`Error::NoMatchingKey`].
    ///
    /// ```
    /// use jwe_mint::jwa::KeyManagementAlg;
    /// use jwe_mint::jwk::{Curve, Jwk};
    /// let x = Jwk::generate(Curve::X25519).unwrap();
    /// assert_eq!(KeyManagementAlg::default_for(&x).unwrap(), KeyManagementAlg::EcdhEsA256Kw);
    /// let k = Jwk::generate_symmetric(24).unwrap();
    /// assert_eq!(KeyManagementAlg::default_for(&k).unwrap(), KeyManagementAlg::A192Kw);
    /// assert!(KeyManagementAlg::default_for(&Jwk::generate(Curve::Ed25519).unwrap()).is_err());
    /// ```
    pub fn default_for(key: &Jwk) -> Result<KeyManagementAlg, Error> {
        if let Some(pinned) = key.alg() {
            if key.is_symmetric() && pinned.parse::<ContentEncryptionAlg>().is_ok() {
                return Ok(KeyManagementAlg::Dir);
            }
            return pinned.parse().map_err(|_| {
                Error::NoMatchingKey(format!(
                    "the key's alg `{}` is not a key management algorithm",
                    crate::untrusted::name(pinned)
                ))
            });
        }
        match (key.kty(), key.curve(), key.symmetric_len()) {
            ("EC", _, _) | ("OKP", Some(Curve::X25519), _) => Ok(KeyManagementAlg::EcdhEsA256Kw),
            ("RSA", _, _) => Ok(KeyManagementAlg::RsaOaep256),
            (_, _, Some(len)) => {
                [KeyManagementAlg::A128Kw, KeyManagementAlg::A192Kw, KeyManagementAlg::A256Kw]
                    .into_iter()
                    .find(|a| a.aes_key_len() == Some(len))
                    .ok_or_else(|| {
                        Error::NoMatchingKey(format!("no default algorithm for a {}-bit oct key", len * 8))
                    })
            }
            (kty, curve, _) => {
                let crv = curve.map(|c| format!(" {c}")).unwrap_or_default();
                Err(Error::NoMatchingKey(format!("a {kty}{crv} key cannot encrypt")))
            }
        }
    }

    /// Key length in bytes of the AES key-wrap / GCM-wrap key this algorithm uses, if any.
    pub(crate) const fn wrap_key_len(self) -> Option<usize> {
        use KeyManagementAlg::*;
        match self {
            A128Kw | EcdhEsA128Kw | A128GcmKw | Pbes2Hs256A128Kw => Some(16),
            A192Kw | EcdhEsA192Kw | A192GcmKw | Pbes2Hs384A192Kw => Some(24),
            A256Kw | EcdhEsA256Kw | A256GcmKw | Pbes2Hs512A256Kw => Some(32),
            _ => None,
        }
    }
}

impl ContentEncryptionAlg {
    /// The content encryption algorithm for a `dir` key: the one it is pinned to by `alg` (RFC
    /// 7520 §5.6.1), else the one whose key length is the key's, AES-GCM preferred (`A256GCM` for
    /// 32 bytes, `A192CBC-HS384` for 48, `A256CBC-HS512` for 64). `None` for any other key.
    ///
    /// ```
    /// use jwe_mint::jwa::ContentEncryptionAlg;
    /// use jwe_mint::jwk::Jwk;
    /// let k = Jwk::generate_symmetric(32).unwrap();
    /// assert_eq!(ContentEncryptionAlg::for_dir_key(&k), Some(ContentEncryptionAlg::A256Gcm));
    /// let pinned = k.with_alg("A128CBC-HS256");
    /// assert_eq!(ContentEncryptionAlg::for_dir_key(&pinned), Some(ContentEncryptionAlg::A128CbcHs256));
    /// ```
    pub fn for_dir_key(key: &Jwk) -> Option<ContentEncryptionAlg> {
        if let Some(enc) = key.alg().and_then(|a| a.parse::<ContentEncryptionAlg>().ok()) {
            return Some(enc);
        }
        let len = key.symmetric_len()?;
        let fits = |e: &&ContentEncryptionAlg| e.key_len() == len;
        let gcm = ContentEncryptionAlg::ALL.iter().filter(|e| e.is_gcm()).find(fits);
        gcm.or_else(|| ContentEncryptionAlg::ALL.iter().find(fits)).copied()
    }

    /// Length in bytes of the content encryption key.
    pub const fn key_len(self) -> usize {
        match self {
            ContentEncryptionAlg::A128Gcm => 16,
            ContentEncryptionAlg::A192Gcm => 24,
            ContentEncryptionAlg::A256Gcm | ContentEncryptionAlg::A128CbcHs256 => 32,
            ContentEncryptionAlg::A192CbcHs384 => 48,
            ContentEncryptionAlg::A256CbcHs512 => 64,
        }
    }

    /// Length in bytes of the initialization vector.
    pub const fn iv_len(self) -> usize {
        if self.is_gcm() {
            12
        } else {
            16
        }
    }

    /// Length in bytes of the authentication tag.
    pub const fn tag_len(self) -> usize {
        match self {
            ContentEncryptionAlg::A128Gcm | ContentEncryptionAlg::A192Gcm | ContentEncryptionAlg::A256Gcm => {
                16
            }
            ContentEncryptionAlg::A128CbcHs256 => 16,
            ContentEncryptionAlg::A192CbcHs384 => 24,
            ContentEncryptionAlg::A256CbcHs512 => 32,
        }
    }

    pub(crate) const fn is_gcm(self) -> bool {
        matches!(
            self,
            ContentEncryptionAlg::A128Gcm | ContentEncryptionAlg::A192Gcm | ContentEncryptionAlg::A256Gcm
        )
    }
}

impl SigningAlg {
    /// The curve this algorithm signs with (`ES256` P-256, `ES384` P-384, `ES512` P-521, `EdDSA`
    /// Ed25519); `None` for the RSA algorithms.
    ///
    /// ```
    /// use jwe_mint::jwa::SigningAlg;
    /// use jwe_mint::jwk::Curve;
    /// assert_eq!(SigningAlg::Es512.curve(), Some(Curve::P521));
    /// assert_eq!(SigningAlg::Ps256.curve(), None);
    /// ```
    pub const fn curve(self) -> Option<Curve> {
        match self {
            SigningAlg::Es256 => Some(Curve::P256),
            SigningAlg::Es384 => Some(Curve::P384),
            SigningAlg::Es512 => Some(Curve::P521),
            SigningAlg::EdDsa => Some(Curve::Ed25519),
            SigningAlg::Rs256 | SigningAlg::Ps256 => None,
        }
    }

    /// The algorithm jwe-mint signs with `key` when none is given: the key's own `alg`, else
    /// `ES256`/`ES384`/`ES512`/`EdDSA` by curve and `PS256` for RSA (RFC 8725 §3.2 prefers PSS).
    /// A key that cannot sign (X25519, `oct`) is [`Error::InvalidKey`].
    ///
    /// ```
    /// use jwe_mint::jwa::SigningAlg;
    /// use jwe_mint::jwk::{Curve, Jwk};
    /// assert_eq!(SigningAlg::default_for(&Jwk::generate(Curve::P384).unwrap()).unwrap(), SigningAlg::Es384);
    /// assert!(SigningAlg::default_for(&Jwk::generate(Curve::X25519).unwrap()).is_err());
    /// ```
    pub fn default_for(key: &Jwk) -> Result<SigningAlg, Error> {
        if let Some(a) = key.alg() {
            return a.parse();
        }
        if key.kty() == "RSA" {
            return Ok(SigningAlg::Ps256);
        }
        let by_curve =
            key.curve().and_then(|c| SigningAlg::ALL.iter().copied().find(|a| a.curve() == Some(c)));
        by_curve.ok_or_else(|| Error::invalid_key("this key cannot sign"))
    }

    pub(crate) const fn ec_curve(self) -> Option<EcCurve> {
        match self {
            SigningAlg::Es256 => Some(EcCurve::P256),
            SigningAlg::Es384 => Some(EcCurve::P384),
            SigningAlg::Es512 => Some(EcCurve::P521),
            _ => None,
        }
    }
}

/// The hash of an HMAC / PBES2 / CBC-HS variant.
pub(crate) const fn sha_for_bits(bits: usize) -> Sha {
    match bits {
        384 => Sha::Sha384,
        512 => Sha::Sha512,
        _ => Sha::Sha256,
    }
}
