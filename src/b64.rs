//! Strict base64url (RFC 7515 §2): no padding, no non-canonical trailing bits, URL-safe alphabet.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use crate::error::{Error, Result};

/// Encodes bytes as unpadded base64url.
pub(crate) fn encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Appends the unpadded base64url form of `bytes` to `out` (no intermediate allocation).
pub(crate) fn encode_into(bytes: &[u8], out: &mut String) {
    URL_SAFE_NO_PAD.encode_string(bytes, out)
}

/// Decodes unpadded, canonical base64url; `what` names the field for the error message.
pub(crate) fn decode(text: &str, what: &str) -> Result<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text).map_err(|_| Error::malformed(format!("`{what}` is not canonical base64url")))
}
