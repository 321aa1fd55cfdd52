//! JWE Compact Serialization (RFC 7516 §7.1).

use super::{parse_header_b64, ParsedJwe, ParsedRecipient, Serialization};
use crate::b64;
use crate::error::{Error, Result};

/// Splits `token` into exactly five segments and decodes them.
pub(crate) fn parse(token: &str, max_header: usize) -> Result<ParsedJwe> {
    let mut parts = token.split('.');
    let (Some(h), Some(k), Some(iv), Some(ct), Some(tag), None) =
        (parts.next(), parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Error::malformed("a compact JWE has exactly five segments"));
    };
    if h.is_empty() {
        return Err(Error::malformed("empty protected header"));
    }
    let protected = parse_header_b64(h, max_header)?;
    Ok(ParsedJwe {
        serialization: Serialization::Compact,
        protected_b64: h.to_owned(),
        protected,
        unprotected: None,
        recipients: vec![ParsedRecipient { header: None, encrypted_key: b64::decode(k, "encrypted_key")? }],
        aad_b64: None,
        iv: b64::decode(iv, "iv")?,
        ciphertext: b64::decode(ct, "ciphertext")?,
        tag: b64::decode(tag, "tag")?,
    })
}

/// Joins the five parts.
pub(crate) fn serialize(
    protected_b64: &str,
    encrypted_key: &[u8],
    iv: &[u8],
    ciphertext: &[u8],
    tag: &[u8],
) -> String {
    let mut out = String::with_capacity(
        protected_b64.len() + (encrypted_key.len() + iv.len() + ciphertext.len() + tag.len()) * 4 / 3 + 8,
    );
    out.push_str(protected_b64);
    for part in [encrypted_key, iv, ciphertext, tag] {
        out.push('.');
        b64::encode_into(part, &mut out);
    }
    out
}
