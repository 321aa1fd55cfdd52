//! Content encryption (RFC 7518 §5): AES-GCM and the AES_CBC_HMAC_SHA2 composite (§5.2).

use zeroize::Zeroizing;

use super::{sha_for_bits, ContentEncryptionAlg};
use crate::crypto::{CryptoProvider, Provider as P};
use crate::error::{Error, Result};

/// Ciphertext and tag of one content encryption.
pub(crate) struct Sealed {
    pub ciphertext: Vec<u8>,
    pub tag: Vec<u8>,
}

/// Encrypts `plaintext` under `cek` with `iv`, authenticating `aad`.
pub(crate) fn encrypt(
    enc: ContentEncryptionAlg,
    cek: &[u8],
    iv: &[u8],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Sealed> {
    if cek.len() != enc.key_len() || iv.len() != enc.iv_len() {
        return Err(Error::Crypto("content key or IV of the wrong length"));
    }
    if enc.is_gcm() {
        let (ciphertext, tag) =
            P::aes_gcm_encrypt(cek, iv, aad, plaintext).map_err(|_| Error::Crypto("AES-GCM encryption"))?;
        return Ok(Sealed { ciphertext, tag: tag.to_vec() });
    }
    let (mac_key, enc_key) = cek.split_at(cek.len() / 2);
    let ciphertext =
        P::aes_cbc_encrypt(enc_key, iv, plaintext).map_err(|_| Error::Crypto("AES-CBC encryption"))?;
    let full = P::hmac_sign(sha_for_bits(cek.len() * 8), mac_key, &mac_input(aad, iv, &ciphertext))
        .map_err(|_| Error::Crypto("HMAC"))?;
    let tag = full.get(..enc.tag_len()).ok_or(Error::Crypto("HMAC"))?.to_vec();
    Ok(Sealed { ciphertext, tag })
}

/// Decrypts and authenticates. Every failure is the opaque [`Error::DecryptionFailed`]; for the
/// CBC composite the MAC is checked (constant time) before any padding is looked at.
pub(crate) fn decrypt(
    enc: ContentEncryptionAlg,
    cek: &[u8],
    iv: &[u8],
    aad: &[u8],
    ciphertext: &[u8],
    tag: &[u8],
) -> Result<Zeroizing<Vec<u8>>> {
    if cek.len() != enc.key_len() || iv.len() != enc.iv_len() || tag.len() != enc.tag_len() {
        return Err(Error::DecryptionFailed);
    }
    if enc.is_gcm() {
        return P::aes_gcm_decrypt(cek, iv, aad, ciphertext, tag).map_err(|_| Error::DecryptionFailed);
    }
    let (mac_key, enc_key) = cek.split_at(cek.len() / 2);
    if !P::hmac_verify_truncated(sha_for_bits(cek.len() * 8), mac_key, &mac_input(aad, iv, ciphertext), tag) {
        return Err(Error::DecryptionFailed);
    }
    P::aes_cbc_decrypt(enc_key, iv, ciphertext).map_err(|_| Error::DecryptionFailed)
}

/// `AAD || IV || ciphertext || AL` where AL is the AAD length in bits as a 64-bit big-endian integer.
fn mac_input(aad: &[u8], iv: &[u8], ciphertext: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(aad.len() + iv.len() + ciphertext.len() + 8);
    m.extend_from_slice(aad);
    m.extend_from_slice(iv);
    m.extend_from_slice(ciphertext);
    m.extend_from_slice(&((aad.len() as u64) * 8).to_be_bytes());
    m
}
