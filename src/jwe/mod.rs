//! JSON Web Encryption (RFC 7516): compact, flattened JSON and general JSON serializations.
//!
//! ```
//! use jwe_mint::jwa::{ContentEncryptionAlg, KeyManagementAlg};
//! use jwe_mint::jwe::{self, DecryptPolicy, Encryptor};
//! use jwe_mint::jwk::{Curve, Jwk, JwkSet};
//!
//! let rs_key = Jwk::generate(Curve::P256).unwrap();
//! let token = Encryptor::new(ContentEncryptionAlg::A256Gcm)
//!     .recipient(&rs_key.to_public().unwrap(), KeyManagementAlg::EcdhEsA256Kw)
//!     .encrypt_compact(b"hello")
//!     .unwrap();
//! let keys = JwkSet::new(vec![rs_key]);
//! let out = jwe::decrypt(&token, &keys, &DecryptPolicy::default()).unwrap();
//! assert_eq!(&out.plaintext[..], b"hello");
//! ```

mod compact;
mod decrypt;
mod encrypt;
mod json;
mod policy;

pub use decrypt::{decrypt, inspect, Decrypted, Inspected};
pub use encrypt::Encryptor;
pub use policy::*;

use serde_json::{Map, Value};

use crate::error::{Error, LimitExceeded, Result};

/// A JOSE header object (member order preserved).
pub type Header = Map<String, Value>;

/// The serialization of a JWE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Serialization {
    /// Five base64url segments separated by dots (RFC 7516 §7.1).
    Compact,
    /// JSON with one recipient and no `recipients` array (§7.2.2).
    Flattened,
    /// JSON with a `recipients` array (§7.2.1).
    General,
}

/// Whether `token` is a JSON serialization (RFC 7516 §7.2) rather than compact (§7.1): its first
/// character after JSON whitespace (RFC 8259 §2: space, tab, LF, CR) is `{`. The JSON parser
/// accepts that whitespace; a compact token stays strict (surrounding whitespace is not base64url,
/// so one token has one compact spelling). [`decrypt`] and [`inspect`] decide by this rule.
///
/// ```
/// assert!(jwe_mint::jwe::is_json_serialization("\n {\"ciphertext\":\"…\"}"));
/// assert!(!jwe_mint::jwe::is_json_serialization("eyJhbGciOiJkaXIifQ..AA.AA.AA"));
/// ```
pub fn is_json_serialization(token: &str) -> bool {
    token.trim_start_matches([' ', '\t', '\n', '\r']).starts_with('{')
}

/// One recipient of a parsed JWE.
pub(crate) struct ParsedRecipient {
    pub header: Option<Header>,
    pub encrypted_key: Vec<u8>,
}

/// A JWE split into its parts; nothing decrypted.
pub(crate) struct ParsedJwe {
    pub serialization: Serialization,
    /// The protected header exactly as transmitted (base64url), needed for the AAD.
    pub protected_b64: String,
    pub protected: Header,
    pub unprotected: Option<Header>,
    pub recipients: Vec<ParsedRecipient>,
    pub aad_b64: Option<String>,
    pub iv: Vec<u8>,
    pub ciphertext: Vec<u8>,
    pub tag: Vec<u8>,
}

impl ParsedJwe {
    /// Additional authenticated data (RFC 7516 §5.1 step 14).
    pub(crate) fn aad(&self) -> Vec<u8> {
        let mut aad =
            Vec::with_capacity(self.protected_b64.len() + 1 + self.aad_b64.as_ref().map_or(0, String::len));
        aad.extend_from_slice(self.protected_b64.as_bytes());
        if let Some(a) = &self.aad_b64 {
            aad.push(b'.');
            aad.extend_from_slice(a.as_bytes());
        }
        aad
    }

    /// The header that applies to recipient `i`: the union of the three headers, which must be
    /// disjoint (RFC 7516 §7.2.1).
    pub(crate) fn merged_header(&self, i: usize) -> Result<Header> {
        let mut merged = self.protected.clone();
        let parts = [self.unprotected.as_ref(), self.recipients.get(i).and_then(|r| r.header.as_ref())];
        for part in parts.into_iter().flatten() {
            for (k, v) in part {
                if merged.contains_key(k) {
                    return Err(Error::malformed(format!(
                        "header parameter `{}` appears in more than one header",
                        crate::untrusted::name(k)
                    )));
                }
                merged.insert(k.clone(), v.clone());
            }
        }
        Ok(merged)
    }
}

/// Decodes a base64url header segment and parses it as a strict JSON object. A decoded header
/// longer than `max` bytes is [`LimitExceeded::HeaderTooLarge`] (checked before JSON parsing).
pub(crate) fn parse_header_b64(b64_text: &str, max: usize) -> Result<Header> {
    // Cheap pre-check on the encoded length so a huge segment is never decoded.
    if b64_text.len() / 4 * 3 > max.saturating_add(3) {
        return Err(LimitExceeded::HeaderTooLarge { max }.into());
    }
    let raw = crate::b64::decode(b64_text, "protected")?;
    if raw.len() > max {
        return Err(LimitExceeded::HeaderTooLarge { max }.into());
    }
    crate::json::parse_object(&raw, "JOSE header")
}
