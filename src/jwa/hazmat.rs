//! Hazardous low-level building blocks, exposed for known-answer tests and interoperability
//! checks: the caller chooses IVs and handles raw shared secrets and keys, so misuse (an IV used
//! twice with AES-GCM, a CEK written to a log) breaks security. Applications should use
//! [`crate::jwe`] instead.

use zeroize::Zeroizing;

use super::ContentEncryptionAlg;
use crate::crypto::{keys, CryptoProvider, Provider as P};
use crate::error::{Error, Result};
use crate::jwk::{Jwk, KeyMaterial};

/// Encrypts content as JWE does (RFC 7518 §5): returns (ciphertext, tag).
///
/// ```
/// use jwe_mint::jwa::{hazmat, ContentEncryptionAlg};
/// let (ct, tag) = hazmat::content_encrypt(ContentEncryptionAlg::A128Gcm, &[7; 16], &[1; 12], b"aad", b"hi").unwrap();
/// let pt = hazmat::content_decrypt(ContentEncryptionAlg::A128Gcm, &[7; 16], &[1; 12], b"aad", &ct, &tag).unwrap();
/// assert_eq!(&pt[..], b"hi");
/// ```
pub fn content_encrypt(
    enc: ContentEncryptionAlg,
    cek: &[u8],
    iv: &[u8],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<(Vec<u8>, Vec<u8>)> {
    let s = super::content::encrypt(enc, cek, iv, aad, plaintext)?;
    Ok((s.ciphertext, s.tag))
}

/// Decrypts content as JWE does; every failure is [`Error::DecryptionFailed`].
pub fn content_decrypt(
    enc: ContentEncryptionAlg,
    cek: &[u8],
    iv: &[u8],
    aad: &[u8],
    ciphertext: &[u8],
    tag: &[u8],
) -> Result<Zeroizing<Vec<u8>>> {
    super::content::decrypt(enc, cek, iv, aad, ciphertext, tag)
}

/// The RFC 7518 §4.6.2 Concat KDF: derives `key_len` bytes from the shared secret `z`.
pub fn concat_kdf(
    z: &[u8],
    algorithm_id: &str,
    apu: &[u8],
    apv: &[u8],
    key_len: usize,
) -> Result<Zeroizing<Vec<u8>>> {
    super::key_management::concat_kdf(z, algorithm_id, apu, apv, key_len)
}

/// RFC 3394 AES key wrap (KEK of 16, 24 or 32 bytes).
pub fn aes_key_wrap(kek: &[u8], key: &[u8]) -> Result<Vec<u8>> {
    P::aes_kw_wrap(kek, key).map_err(|_| Error::Crypto("AES key wrap"))
}

/// RFC 3394 AES key unwrap; an integrity failure is [`Error::DecryptionFailed`].
pub fn aes_key_unwrap(kek: &[u8], wrapped: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    P::aes_kw_unwrap(kek, wrapped).map_err(|_| Error::DecryptionFailed)
}

/// The raw ECDH shared secret Z between a private key and a public key (EC or X25519).
pub fn ecdh_shared_secret(private: &Jwk, public: &Jwk) -> Result<Zeroizing<Vec<u8>>> {
    let fail = |e: keys::KeyError| e.into_error(Error::Crypto("key agreement"));
    match (&*private.material, &*public.material) {
        (KeyMaterial::Ec { private: Some(d), .. }, KeyMaterial::Ec { public: q, .. }) => {
            keys::ecdh(d, q).map_err(fail)
        }
        (KeyMaterial::X25519 { private: Some(d), .. }, KeyMaterial::X25519 { public: q, .. }) => {
            keys::x25519(d, q).map_err(fail)
        }
        _ => Err(Error::invalid_key("ECDH needs a private and a public key on the same curve")),
    }
}
