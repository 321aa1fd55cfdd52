//! Typed JWK parameters: `use` (RFC 7517 §4.2) and `key_ops` (RFC 7517 §4.3).

use std::fmt;

/// The JWK `use` parameter (RFC 7517 §4.2). Values other than `sig` and `enc` are kept as
/// [`PublicKeyUse::Other`] and are never read as either: such a key is usable for nothing.
///
/// ```
/// use jwe_mint::jwk::PublicKeyUse;
/// assert_eq!(PublicKeyUse::from("enc"), PublicKeyUse::Encryption);
/// assert_eq!(PublicKeyUse::from("ENC"), PublicKeyUse::Other("ENC".into()));
/// assert_eq!(PublicKeyUse::Signature.as_str(), "sig");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PublicKeyUse {
    /// `sig`: signing and verifying.
    Signature,
    /// `enc`: encryption (key management) and decryption.
    Encryption,
    /// Any other value (case-sensitive, so `"ENC"` is one of these).
    Other(String),
}

impl PublicKeyUse {
    /// The wire value.
    pub fn as_str(&self) -> &str {
        match self {
            PublicKeyUse::Signature => "sig",
            PublicKeyUse::Encryption => "enc",
            PublicKeyUse::Other(s) => s,
        }
    }
}

impl From<&str> for PublicKeyUse {
    fn from(s: &str) -> Self {
        match s {
            "sig" => PublicKeyUse::Signature,
            "enc" => PublicKeyUse::Encryption,
            other => PublicKeyUse::Other(other.to_owned()),
        }
    }
}

impl From<String> for PublicKeyUse {
    fn from(s: String) -> Self {
        match s.as_str() {
            "sig" | "enc" => PublicKeyUse::from(s.as_str()),
            _ => PublicKeyUse::Other(s),
        }
    }
}

impl fmt::Display for PublicKeyUse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One JWK `key_ops` value (RFC 7517 §4.3). Unregistered values are kept as
/// [`KeyOperation::Other`] and permit nothing.
///
/// ```
/// use jwe_mint::jwk::KeyOperation;
/// assert_eq!(KeyOperation::from("unwrapKey"), KeyOperation::UnwrapKey);
/// assert!(KeyOperation::UnwrapKey.is_encryption());
/// assert!(!KeyOperation::Sign.is_encryption());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyOperation {
    /// `sign`: compute a digital signature or MAC.
    Sign,
    /// `verify`: verify a digital signature or MAC.
    Verify,
    /// `encrypt`: encrypt content.
    Encrypt,
    /// `decrypt`: decrypt content and validate decryption.
    Decrypt,
    /// `wrapKey`: encrypt a key.
    WrapKey,
    /// `unwrapKey`: decrypt a key and validate decryption.
    UnwrapKey,
    /// `deriveKey`: derive a key (ECDH-ES).
    DeriveKey,
    /// `deriveBits`: derive bits not to be used as a key.
    DeriveBits,
    /// Any other value.
    Other(String),
}

impl KeyOperation {
    /// The registered operations, in RFC 7517 §4.3 order.
    pub const REGISTERED: [KeyOperation; 8] = [
        KeyOperation::Sign,
        KeyOperation::Verify,
        KeyOperation::Encrypt,
        KeyOperation::Decrypt,
        KeyOperation::WrapKey,
        KeyOperation::UnwrapKey,
        KeyOperation::DeriveKey,
        KeyOperation::DeriveBits,
    ];

    /// The wire value.
    pub fn as_str(&self) -> &str {
        match self {
            KeyOperation::Sign => "sign",
            KeyOperation::Verify => "verify",
            KeyOperation::Encrypt => "encrypt",
            KeyOperation::Decrypt => "decrypt",
            KeyOperation::WrapKey => "wrapKey",
            KeyOperation::UnwrapKey => "unwrapKey",
            KeyOperation::DeriveKey => "deriveKey",
            KeyOperation::DeriveBits => "deriveBits",
            KeyOperation::Other(s) => s,
        }
    }

    /// Whether this is a signature operation (`sign`, `verify`): what `use: sig` covers.
    pub fn is_signature(&self) -> bool {
        matches!(self, KeyOperation::Sign | KeyOperation::Verify)
    }

    /// Whether this is an encryption operation (`encrypt`, `decrypt`, `wrapKey`, `unwrapKey`,
    /// `deriveKey`, `deriveBits`): what `use: enc` covers.
    pub fn is_encryption(&self) -> bool {
        matches!(
            self,
            KeyOperation::Encrypt
                | KeyOperation::Decrypt
                | KeyOperation::WrapKey
                | KeyOperation::UnwrapKey
                | KeyOperation::DeriveKey
                | KeyOperation::DeriveBits
        )
    }
}

impl From<&str> for KeyOperation {
    fn from(s: &str) -> Self {
        KeyOperation::REGISTERED
            .iter()
            .find(|op| op.as_str() == s)
            .cloned()
            .unwrap_or_else(|| KeyOperation::Other(s.to_owned()))
    }
}

impl fmt::Display for KeyOperation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
