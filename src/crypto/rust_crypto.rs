//! The pure-Rust crypto provider, built on the RustCrypto crates (and the dalek crates for
//! Curve25519).
//!
//! Every primitive crate is named only in this file. All failures collapse into the opaque
//! [`CryptoError`]; secrets live in [`Zeroizing`] buffers or in library types that zeroize on drop.
//! None of the private-key types implement `Debug`.
//!
//! RSA private-key operations use `rsa` 0.10 (crypto-bigint constant-time modular exponentiation,
//! base blinding from the OS RNG on every decryption and signature, implicit rejection for
//! PKCS#1 v1.5). RUSTSEC-2023-0071 (Marvin) was still recorded with no patched version for the
//! 0.10 release candidates; the 0.10.0 release notes claim the fix. RSA decryption is
//! therefore refused in this provider (`docs/decisions.md`, "RSA decryption is refused under `rust-crypto`").

use aes_gcm::aead::{AeadInOut, KeyInit, Nonce, Tag};
use aes_gcm::aes::{Aes128, Aes192, Aes256};
use aes_gcm::AesGcm;
use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};
use hmac::{Hmac, Mac};
use p256::ecdsa::signature::{Signer, Verifier};
use p256::elliptic_curve::Generate;
use rand::rngs::SysRng;
use rand::TryRng;
use rsa::traits::{PrivateKeyParts, PublicKeyParts};
use rsa::BoxedUint;
use sha2::Digest;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

use super::{CryptoError, CryptoProvider, CryptoResult, EcCurve, RsaPrivateComponents, RsaSignature, Sha};

/// Smallest RSA modulus accepted or generated, in bits.
const RSA_MIN_BITS: usize = 2048;
/// Largest RSA modulus accepted or generated, in bits (the `rsa` crate's default limit).
const RSA_MAX_BITS: usize = 8192;

/// The RustCrypto provider.
pub(crate) struct RustCrypto;

// ---- key types ------------------------------------------------------------------------------

/// A P-256/384/521 private key: the ECDSA signing key, which also holds the non-zero secret
/// scalar (used for ECDH) and the precomputed verifying key. Zeroizes on drop (library type).
pub(crate) enum RcEcPrivateKey {
    P256(p256::ecdsa::SigningKey),
    P384(p384::ecdsa::SigningKey),
    P521(p521::ecdsa::SigningKey),
}

/// A validated P-256/384/521 public key (a non-identity point on the curve).
#[derive(Clone, Debug)]
pub(crate) enum RcEcPublicKey {
    P256(p256::ecdsa::VerifyingKey),
    P384(p384::ecdsa::VerifyingKey),
    P521(p521::ecdsa::VerifyingKey),
}

/// An X25519 private key (zeroizes on drop).
pub(crate) struct RcX25519PrivateKey(x25519_dalek::StaticSecret);

/// An Ed25519 signing key (zeroizes on drop).
pub(crate) struct RcEd25519PrivateKey(ed25519_dalek::SigningKey);

/// An Ed25519 verifying key.
#[derive(Clone, Debug)]
pub(crate) struct RcEd25519PublicKey(ed25519_dalek::VerifyingKey);

/// An RSA private key with its CRT values precomputed (zeroizes on drop; redacted `Debug`
/// upstream, but we do not expose `Debug` at all).
pub(crate) struct RcRsaPrivateKey(rsa::PrivateKey);

/// An RSA public key (2048..=8192 bits).
#[derive(Clone, Debug)]
pub(crate) struct RcRsaPublicKey(rsa::PublicKey);

// ---- helpers --------------------------------------------------------------------------------

fn err<E>(_: E) -> CryptoError {
    CryptoError
}

/// Fills `out` from the operating system CSPRNG.
fn os_random(out: &mut [u8]) -> CryptoResult<()> {
    SysRng.try_fill_bytes(out).map_err(err)
}

/// 32 random bytes in a zeroizing buffer.
fn random_32() -> CryptoResult<Zeroizing<[u8; 32]>> {
    let mut bytes = Zeroizing::new([0u8; 32]);
    os_random(bytes.as_mut_slice())?;
    Ok(bytes)
}

/// Copies a 32-byte slice into a zeroizing array.
fn secret_32(bytes: &[u8]) -> CryptoResult<Zeroizing<[u8; 32]>> {
    let mut out = Zeroizing::new([0u8; 32]);
    if bytes.len() != 32 {
        return Err(CryptoError);
    }
    out.copy_from_slice(bytes);
    Ok(out)
}

/// Strips leading zero bytes of a big-endian unsigned integer.
fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    bytes.get(start..).unwrap_or_default()
}

/// Minimal big-endian encoding of a (possibly secret) integer, in a zeroizing buffer.
fn secret_uint_bytes(value: &BoxedUint) -> Zeroizing<Vec<u8>> {
    Zeroizing::new(value.to_be_bytes_trimmed_vartime().into_vec())
}

/// Parses a public big-endian integer (no leading zeros assumed; at most `max_len` bytes).
fn public_uint(bytes: &[u8], max_len: usize) -> CryptoResult<BoxedUint> {
    let bytes = strip_leading_zeros(bytes);
    if bytes.is_empty() || bytes.len() > max_len {
        return Err(CryptoError);
    }
    Ok(BoxedUint::from_be_slice_vartime(bytes))
}

/// Parses a secret big-endian integer with a fixed (public) precision.
fn secret_uint(bytes: &[u8], bits_precision: u32) -> CryptoResult<BoxedUint> {
    let bytes = strip_leading_zeros(bytes);
    if bytes.is_empty() {
        return Err(CryptoError);
    }
    BoxedUint::from_be_slice(bytes, bits_precision).map_err(err)
}

fn hmac_full<D>(key: &[u8], data: &[u8]) -> CryptoResult<Vec<u8>>
where
    D: hmac::EagerHash,
    Hmac<D>: KeyInit + Mac,
{
    let mut mac = <Hmac<D> as KeyInit>::new_from_slice(key).map_err(err)?;
    mac.update(data);
    Ok(mac.finalize().into_bytes().to_vec())
}

fn hmac_check<D>(key: &[u8], data: &[u8], tag: &[u8]) -> bool
where
    D: hmac::EagerHash,
    Hmac<D>: KeyInit + Mac,
{
    let Ok(mut mac) = <Hmac<D> as KeyInit>::new_from_slice(key) else {
        return false;
    };
    mac.update(data);
    mac.verify_truncated_left(tag).is_ok()
}

fn gcm_encrypt<A>(key: &[u8], iv: &[u8], aad: &[u8], plaintext: &[u8]) -> CryptoResult<(Vec<u8>, [u8; 16])>
where
    A: AeadInOut + KeyInit,
{
    let cipher = A::new_from_slice(key).map_err(err)?;
    let nonce = Nonce::<A>::try_from(iv).map_err(err)?;
    let mut buf = plaintext.to_vec();
    let tag = cipher.encrypt_inout_detached(&nonce, aad, buf.as_mut_slice().into()).map_err(|_| CryptoError);
    match tag {
        Ok(tag) => {
            let tag: [u8; 16] = tag.as_slice().try_into().map_err(err)?;
            Ok((buf, tag))
        }
        Err(e) => {
            buf.zeroize();
            Err(e)
        }
    }
}

fn gcm_decrypt<A>(
    key: &[u8],
    iv: &[u8],
    aad: &[u8],
    ciphertext: &[u8],
    tag: &[u8],
) -> CryptoResult<Zeroizing<Vec<u8>>>
where
    A: AeadInOut + KeyInit,
{
    let cipher = A::new_from_slice(key).map_err(err)?;
    let nonce = Nonce::<A>::try_from(iv).map_err(err)?;
    let tag = Tag::<A>::try_from(tag).map_err(err)?;
    let mut buf = Zeroizing::new(ciphertext.to_vec());
    cipher.decrypt_inout_detached(&nonce, aad, buf.as_mut_slice().into(), &tag).map_err(err)?;
    Ok(buf)
}

fn kw_wrap<K>(kek: &[u8], key: &[u8]) -> CryptoResult<Vec<u8>>
where
    K: KeyInit,
    KwWrap<K>: Wrap,
{
    let kw = K::new_from_slice(kek).map_err(err)?;
    let mut out = vec![0u8; key.len() + 8];
    let len = KwWrap(kw).wrap(key, &mut out)?;
    out.truncate(len);
    Ok(out)
}

fn kw_unwrap<K>(kek: &[u8], wrapped: &[u8]) -> CryptoResult<Zeroizing<Vec<u8>>>
where
    K: KeyInit,
    KwWrap<K>: Wrap,
{
    let kw = K::new_from_slice(kek).map_err(err)?;
    let mut out = Zeroizing::new(vec![0u8; wrapped.len()]);
    let len = KwWrap(kw).unwrap(wrapped, &mut out)?;
    out.truncate(len);
    Ok(out)
}

/// Adapter so the three AES key sizes share one generic wrap/unwrap path.
struct KwWrap<K>(K);

trait Wrap {
    fn wrap(&self, key: &[u8], out: &mut [u8]) -> CryptoResult<usize>;
    fn unwrap(&self, wrapped: &[u8], out: &mut [u8]) -> CryptoResult<usize>;
}

macro_rules! impl_wrap {
    ($ty:ty) => {
        impl Wrap for KwWrap<$ty> {
            fn wrap(&self, key: &[u8], out: &mut [u8]) -> CryptoResult<usize> {
                self.0.wrap_key(key, out).map(<[u8]>::len).map_err(err)
            }
            fn unwrap(&self, wrapped: &[u8], out: &mut [u8]) -> CryptoResult<usize> {
                self.0.unwrap_key(wrapped, out).map(<[u8]>::len).map_err(err)
            }
        }
    };
}
impl_wrap!(aes_kw::KwAes128);
impl_wrap!(aes_kw::KwAes192);
impl_wrap!(aes_kw::KwAes256);

fn cbc_encrypt<C>(key: &[u8], iv: &[u8], plaintext: &[u8]) -> CryptoResult<Vec<u8>>
where
    cbc::Encryptor<C>: KeyIvInit + BlockModeEncrypt,
    C: cbc::cipher::BlockCipherEncrypt,
{
    let enc = cbc::Encryptor::<C>::new_from_slices(key, iv).map_err(err)?;
    Ok(enc.encrypt_padded_vec::<Pkcs7>(plaintext))
}

fn cbc_decrypt<C>(key: &[u8], iv: &[u8], ciphertext: &[u8]) -> CryptoResult<Zeroizing<Vec<u8>>>
where
    cbc::Decryptor<C>: KeyIvInit + BlockModeDecrypt,
    C: cbc::cipher::BlockCipherDecrypt,
{
    let dec = cbc::Decryptor::<C>::new_from_slices(key, iv).map_err(err)?;
    let mut buf = Zeroizing::new(ciphertext.to_vec());
    let len = dec.decrypt_padded::<Pkcs7>(&mut buf).map_err(err)?.len();
    buf.truncate(len);
    Ok(buf)
}

/// Uncompressed SEC1 encoding `04 || x || y` of the given coordinates.
fn sec1_uncompressed(curve: EcCurve, x: &[u8], y: &[u8]) -> CryptoResult<Vec<u8>> {
    let n = curve.field_len();
    if x.len() != n || y.len() != n {
        return Err(CryptoError);
    }
    let mut sec1 = Vec::with_capacity(1 + 2 * n);
    sec1.push(0x04);
    sec1.extend_from_slice(x);
    sec1.extend_from_slice(y);
    Ok(sec1)
}

/// Splits an uncompressed SEC1 encoding into (x, y).
fn split_sec1(bytes: &[u8], n: usize) -> (Vec<u8>, Vec<u8>) {
    let x = bytes.get(1..1 + n).unwrap_or_default().to_vec();
    let y = bytes.get(1 + n..1 + 2 * n).unwrap_or_default().to_vec();
    (x, y)
}

/// Minimal big-endian bytes of `d mod (p - 1)`; used only if the key lacks precomputed values.
fn crt_exponent(d: &BoxedUint, p: &BoxedUint) -> Zeroizing<Vec<u8>> {
    let p_minus_1 = p.wrapping_sub(BoxedUint::one());
    match Option::<BoxedUint>::from(p_minus_1.to_nz().map(|m| d.rem(&m))) {
        Some(v) => {
            let v = Zeroizing::new(v);
            secret_uint_bytes(&v)
        }
        None => Zeroizing::new(Vec::new()),
    }
}

/// Constant-time equality of two big-endian integers given with arbitrary leading zeros.
fn uint_bytes_eq(a: &[u8], b: &[u8]) -> bool {
    let a = strip_leading_zeros(a);
    let b = strip_leading_zeros(b);
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

macro_rules! ec_priv {
    ($key:expr, $k:ident => $body:expr) => {
        match $key {
            RcEcPrivateKey::P256($k) => $body,
            RcEcPrivateKey::P384($k) => $body,
            RcEcPrivateKey::P521($k) => $body,
        }
    };
}

macro_rules! ec_pub {
    ($key:expr, $k:ident => $body:expr) => {
        match $key {
            RcEcPublicKey::P256($k) => $body,
            RcEcPublicKey::P384($k) => $body,
            RcEcPublicKey::P521($k) => $body,
        }
    };
}

// ---- the provider ---------------------------------------------------------------------------

impl CryptoProvider for RustCrypto {
    const NAME: &'static str = "rust-crypto";
    // RUSTSEC-2023-0071 (Marvin) is not marked patched for the `rsa` crate and RustCrypto/RSA#626
    // (non-constant-time padding checks) is open: refuse private-key decryption.
    const RSA_DECRYPTION_REFUSED: Option<&'static str> = Some(
        "RSA decryption (RUSTSEC-2023-0071, Marvin timing attack, is not marked fixed for the `rsa` crate)",
    );

    type EcPrivateKey = RcEcPrivateKey;
    type EcPublicKey = RcEcPublicKey;
    type X25519PrivateKey = RcX25519PrivateKey;
    type Ed25519PrivateKey = RcEd25519PrivateKey;
    type Ed25519PublicKey = RcEd25519PublicKey;
    type RsaPrivateKey = RcRsaPrivateKey;
    type RsaPublicKey = RcRsaPublicKey;

    // ---- randomness and hashing ----------------------------------------------------------------

    fn fill_random(out: &mut [u8]) -> CryptoResult<()> {
        os_random(out)
    }

    fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
        a.len() == b.len() && bool::from(a.ct_eq(b))
    }

    fn digest(alg: Sha, data: &[u8]) -> Vec<u8> {
        match alg {
            Sha::Sha1 => sha1::Sha1::digest(data).to_vec(),
            Sha::Sha256 => sha2::Sha256::digest(data).to_vec(),
            Sha::Sha384 => sha2::Sha384::digest(data).to_vec(),
            Sha::Sha512 => sha2::Sha512::digest(data).to_vec(),
        }
    }

    fn hmac_sign(alg: Sha, key: &[u8], data: &[u8]) -> CryptoResult<Vec<u8>> {
        match alg {
            Sha::Sha1 => Err(CryptoError),
            Sha::Sha256 => hmac_full::<sha2::Sha256>(key, data),
            Sha::Sha384 => hmac_full::<sha2::Sha384>(key, data),
            Sha::Sha512 => hmac_full::<sha2::Sha512>(key, data),
        }
    }

    fn hmac_verify_truncated(alg: Sha, key: &[u8], data: &[u8], tag: &[u8]) -> bool {
        match alg {
            Sha::Sha1 => false,
            Sha::Sha256 => hmac_check::<sha2::Sha256>(key, data, tag),
            Sha::Sha384 => hmac_check::<sha2::Sha384>(key, data, tag),
            Sha::Sha512 => hmac_check::<sha2::Sha512>(key, data, tag),
        }
    }

    fn concat_kdf_sha256(z: &[u8], other_info: &[u8], out: &mut [u8]) -> CryptoResult<()> {
        if out.is_empty() {
            return Err(CryptoError);
        }
        concat_kdf::derive_key_into::<sha2_010::Sha256>(z, other_info, out).map_err(err)
    }

    fn pbkdf2(alg: Sha, password: &[u8], salt: &[u8], iterations: u32, out: &mut [u8]) -> CryptoResult<()> {
        if iterations == 0 || out.is_empty() {
            return Err(CryptoError);
        }
        match alg {
            Sha::Sha1 => return Err(CryptoError),
            Sha::Sha256 => pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password, salt, iterations, out),
            Sha::Sha384 => pbkdf2::pbkdf2_hmac::<sha2::Sha384>(password, salt, iterations, out),
            Sha::Sha512 => pbkdf2::pbkdf2_hmac::<sha2::Sha512>(password, salt, iterations, out),
        }
        Ok(())
    }

    // ---- symmetric ----------------------------------------------------------------------------

    fn aes_gcm_encrypt(
        key: &[u8],
        iv: &[u8],
        aad: &[u8],
        plaintext: &[u8],
    ) -> CryptoResult<(Vec<u8>, [u8; 16])> {
        if iv.len() != 12 {
            return Err(CryptoError);
        }
        match key.len() {
            16 => gcm_encrypt::<AesGcm<Aes128, aes_gcm::aead::consts::U12>>(key, iv, aad, plaintext),
            24 => gcm_encrypt::<AesGcm<Aes192, aes_gcm::aead::consts::U12>>(key, iv, aad, plaintext),
            32 => gcm_encrypt::<AesGcm<Aes256, aes_gcm::aead::consts::U12>>(key, iv, aad, plaintext),
            _ => Err(CryptoError),
        }
    }

    fn aes_gcm_decrypt(
        key: &[u8],
        iv: &[u8],
        aad: &[u8],
        ciphertext: &[u8],
        tag: &[u8],
    ) -> CryptoResult<Zeroizing<Vec<u8>>> {
        if iv.len() != 12 || tag.len() != 16 {
            return Err(CryptoError);
        }
        match key.len() {
            16 => gcm_decrypt::<AesGcm<Aes128, aes_gcm::aead::consts::U12>>(key, iv, aad, ciphertext, tag),
            24 => gcm_decrypt::<AesGcm<Aes192, aes_gcm::aead::consts::U12>>(key, iv, aad, ciphertext, tag),
            32 => gcm_decrypt::<AesGcm<Aes256, aes_gcm::aead::consts::U12>>(key, iv, aad, ciphertext, tag),
            _ => Err(CryptoError),
        }
    }

    fn aes_kw_wrap(kek: &[u8], key: &[u8]) -> CryptoResult<Vec<u8>> {
        // RFC 3394: at least two 64-bit blocks.
        if key.len() < 16 || !key.len().is_multiple_of(8) {
            return Err(CryptoError);
        }
        match kek.len() {
            16 => kw_wrap::<aes_kw::KwAes128>(kek, key),
            24 => kw_wrap::<aes_kw::KwAes192>(kek, key),
            32 => kw_wrap::<aes_kw::KwAes256>(kek, key),
            _ => Err(CryptoError),
        }
    }

    fn aes_kw_unwrap(kek: &[u8], wrapped: &[u8]) -> CryptoResult<Zeroizing<Vec<u8>>> {
        if wrapped.len() < 24 || !wrapped.len().is_multiple_of(8) {
            return Err(CryptoError);
        }
        match kek.len() {
            16 => kw_unwrap::<aes_kw::KwAes128>(kek, wrapped),
            24 => kw_unwrap::<aes_kw::KwAes192>(kek, wrapped),
            32 => kw_unwrap::<aes_kw::KwAes256>(kek, wrapped),
            _ => Err(CryptoError),
        }
    }

    fn aes_cbc_encrypt(key: &[u8], iv: &[u8], plaintext: &[u8]) -> CryptoResult<Vec<u8>> {
        if iv.len() != 16 {
            return Err(CryptoError);
        }
        match key.len() {
            16 => cbc_encrypt::<Aes128>(key, iv, plaintext),
            24 => cbc_encrypt::<Aes192>(key, iv, plaintext),
            32 => cbc_encrypt::<Aes256>(key, iv, plaintext),
            _ => Err(CryptoError),
        }
    }

    fn aes_cbc_decrypt(key: &[u8], iv: &[u8], ciphertext: &[u8]) -> CryptoResult<Zeroizing<Vec<u8>>> {
        if iv.len() != 16 || ciphertext.is_empty() || !ciphertext.len().is_multiple_of(16) {
            return Err(CryptoError);
        }
        match key.len() {
            16 => cbc_decrypt::<Aes128>(key, iv, ciphertext),
            24 => cbc_decrypt::<Aes192>(key, iv, ciphertext),
            32 => cbc_decrypt::<Aes256>(key, iv, ciphertext),
            _ => Err(CryptoError),
        }
    }

    // ---- EC (P-256 / P-384 / P-521) ------------------------------------------------------------

    fn ec_generate(curve: EcCurve) -> CryptoResult<Self::EcPrivateKey> {
        Ok(match curve {
            EcCurve::P256 => RcEcPrivateKey::P256(
                p256::ecdsa::SigningKey::try_generate_from_rng(&mut SysRng).map_err(err)?,
            ),
            EcCurve::P384 => RcEcPrivateKey::P384(
                p384::ecdsa::SigningKey::try_generate_from_rng(&mut SysRng).map_err(err)?,
            ),
            EcCurve::P521 => RcEcPrivateKey::P521(
                p521::ecdsa::SigningKey::try_generate_from_rng(&mut SysRng).map_err(err)?,
            ),
        })
    }

    fn ec_private_from_bytes(curve: EcCurve, d: &[u8]) -> CryptoResult<Self::EcPrivateKey> {
        if d.len() != curve.field_len() {
            return Err(CryptoError);
        }
        // `from_slice` with the exact field length rejects 0 and values >= n.
        Ok(match curve {
            EcCurve::P256 => RcEcPrivateKey::P256(p256::ecdsa::SigningKey::from_slice(d).map_err(err)?),
            EcCurve::P384 => RcEcPrivateKey::P384(p384::ecdsa::SigningKey::from_slice(d).map_err(err)?),
            EcCurve::P521 => RcEcPrivateKey::P521(p521::ecdsa::SigningKey::from_slice(d).map_err(err)?),
        })
    }

    fn ec_private_to_bytes(key: &Self::EcPrivateKey) -> Zeroizing<Vec<u8>> {
        ec_priv!(key, k => {
            let mut bytes = k.to_bytes();
            let out = Zeroizing::new(bytes.to_vec());
            bytes.zeroize();
            out
        })
    }

    fn ec_private_curve(key: &Self::EcPrivateKey) -> EcCurve {
        match key {
            RcEcPrivateKey::P256(_) => EcCurve::P256,
            RcEcPrivateKey::P384(_) => EcCurve::P384,
            RcEcPrivateKey::P521(_) => EcCurve::P521,
        }
    }

    fn ec_public_from_private(key: &Self::EcPrivateKey) -> Self::EcPublicKey {
        match key {
            RcEcPrivateKey::P256(k) => RcEcPublicKey::P256(*k.verifying_key()),
            RcEcPrivateKey::P384(k) => RcEcPublicKey::P384(*k.verifying_key()),
            RcEcPrivateKey::P521(k) => RcEcPublicKey::P521(*k.verifying_key()),
        }
    }

    fn ec_public_from_coordinates(curve: EcCurve, x: &[u8], y: &[u8]) -> CryptoResult<Self::EcPublicKey> {
        let sec1 = sec1_uncompressed(curve, x, y)?;
        // SEC1 decoding checks that both coordinates are canonical field elements and that the
        // point satisfies the curve equation; the identity has no uncompressed encoding.
        Ok(match curve {
            EcCurve::P256 => {
                RcEcPublicKey::P256(p256::ecdsa::VerifyingKey::from_sec1_bytes(&sec1).map_err(err)?)
            }
            EcCurve::P384 => {
                RcEcPublicKey::P384(p384::ecdsa::VerifyingKey::from_sec1_bytes(&sec1).map_err(err)?)
            }
            EcCurve::P521 => {
                RcEcPublicKey::P521(p521::ecdsa::VerifyingKey::from_sec1_bytes(&sec1).map_err(err)?)
            }
        })
    }

    fn ec_public_coordinates(key: &Self::EcPublicKey) -> (Vec<u8>, Vec<u8>) {
        let n = Self::ec_public_curve(key).field_len();
        ec_pub!(key, k => split_sec1(k.to_sec1_point(false).as_bytes(), n))
    }

    fn ec_public_curve(key: &Self::EcPublicKey) -> EcCurve {
        match key {
            RcEcPublicKey::P256(_) => EcCurve::P256,
            RcEcPublicKey::P384(_) => EcCurve::P384,
            RcEcPublicKey::P521(_) => EcCurve::P521,
        }
    }

    fn ecdh(private: &Self::EcPrivateKey, public: &Self::EcPublicKey) -> CryptoResult<Zeroizing<Vec<u8>>> {
        use p256::elliptic_curve::ecdh::diffie_hellman;
        let z = match (private, public) {
            (RcEcPrivateKey::P256(s), RcEcPublicKey::P256(p)) => Zeroizing::new(
                diffie_hellman(s.as_nonzero_scalar(), p.as_affine()).raw_secret_bytes().to_vec(),
            ),
            (RcEcPrivateKey::P384(s), RcEcPublicKey::P384(p)) => Zeroizing::new(
                diffie_hellman(s.as_nonzero_scalar(), p.as_affine()).raw_secret_bytes().to_vec(),
            ),
            (RcEcPrivateKey::P521(s), RcEcPublicKey::P521(p)) => Zeroizing::new(
                diffie_hellman(s.as_nonzero_scalar(), p.as_affine()).raw_secret_bytes().to_vec(),
            ),
            _ => return Err(CryptoError),
        };
        Ok(z)
    }

    fn ecdsa_sign(key: &Self::EcPrivateKey, message: &[u8]) -> CryptoResult<Vec<u8>> {
        // Deterministic RFC 6979 nonces; the curve's JOSE hash is the crate's default digest.
        Ok(match key {
            RcEcPrivateKey::P256(k) => {
                let sig: p256::ecdsa::Signature = k.try_sign(message).map_err(err)?;
                sig.to_bytes().to_vec()
            }
            RcEcPrivateKey::P384(k) => {
                let sig: p384::ecdsa::Signature = k.try_sign(message).map_err(err)?;
                sig.to_bytes().to_vec()
            }
            RcEcPrivateKey::P521(k) => {
                let sig: p521::ecdsa::Signature = k.try_sign(message).map_err(err)?;
                sig.to_bytes().to_vec()
            }
        })
    }

    fn ecdsa_verify(key: &Self::EcPublicKey, message: &[u8], signature: &[u8]) -> bool {
        if signature.len() != 2 * Self::ec_public_curve(key).field_len() {
            return false;
        }
        match key {
            RcEcPublicKey::P256(k) => {
                p256::ecdsa::Signature::from_slice(signature).is_ok_and(|sig| k.verify(message, &sig).is_ok())
            }
            RcEcPublicKey::P384(k) => {
                p384::ecdsa::Signature::from_slice(signature).is_ok_and(|sig| k.verify(message, &sig).is_ok())
            }
            RcEcPublicKey::P521(k) => {
                p521::ecdsa::Signature::from_slice(signature).is_ok_and(|sig| k.verify(message, &sig).is_ok())
            }
        }
    }

    // ---- X25519 ---------------------------------------------------------------------------------

    fn x25519_generate() -> CryptoResult<Self::X25519PrivateKey> {
        let bytes = random_32()?;
        Ok(RcX25519PrivateKey(x25519_dalek::StaticSecret::from(*bytes)))
    }

    fn x25519_private_from_bytes(d: &[u8]) -> CryptoResult<Self::X25519PrivateKey> {
        let bytes = secret_32(d)?;
        Ok(RcX25519PrivateKey(x25519_dalek::StaticSecret::from(*bytes)))
    }

    fn x25519_private_to_bytes(key: &Self::X25519PrivateKey) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(key.0.as_bytes().to_vec())
    }

    fn x25519_public(key: &Self::X25519PrivateKey) -> [u8; 32] {
        x25519_dalek::PublicKey::from(&key.0).to_bytes()
    }

    fn x25519(private: &Self::X25519PrivateKey, peer_public: &[u8]) -> CryptoResult<Zeroizing<Vec<u8>>> {
        let peer: [u8; 32] = peer_public.try_into().map_err(err)?;
        let shared = private.0.diffie_hellman(&x25519_dalek::PublicKey::from(peer));
        if !shared.was_contributory() {
            return Err(CryptoError);
        }
        Ok(Zeroizing::new(shared.as_bytes().to_vec()))
    }

    // ---- Ed25519 --------------------------------------------------------------------------------

    fn ed25519_generate() -> CryptoResult<Self::Ed25519PrivateKey> {
        let seed = random_32()?;
        Ok(RcEd25519PrivateKey(ed25519_dalek::SigningKey::from_bytes(&seed)))
    }

    fn ed25519_private_from_seed(seed: &[u8]) -> CryptoResult<Self::Ed25519PrivateKey> {
        let seed = secret_32(seed)?;
        Ok(RcEd25519PrivateKey(ed25519_dalek::SigningKey::from_bytes(&seed)))
    }

    fn ed25519_private_to_seed(key: &Self::Ed25519PrivateKey) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(key.0.as_bytes().to_vec())
    }

    fn ed25519_public_from_private(key: &Self::Ed25519PrivateKey) -> Self::Ed25519PublicKey {
        RcEd25519PublicKey(key.0.verifying_key())
    }

    fn ed25519_public_from_bytes(x: &[u8]) -> CryptoResult<Self::Ed25519PublicKey> {
        let bytes: [u8; 32] = x.try_into().map_err(err)?;
        // `verify_strict` would refuse every signature of such a key; refuse the key itself.
        if super::ed25519_encoding_is_weak(&bytes) {
            return Err(CryptoError);
        }
        Ok(RcEd25519PublicKey(ed25519_dalek::VerifyingKey::from_bytes(&bytes).map_err(err)?))
    }

    fn ed25519_public_to_bytes(key: &Self::Ed25519PublicKey) -> [u8; 32] {
        key.0.to_bytes()
    }

    fn ed25519_sign(key: &Self::Ed25519PrivateKey, message: &[u8]) -> CryptoResult<Vec<u8>> {
        let sig = key.0.try_sign(message).map_err(err)?;
        Ok(sig.to_bytes().to_vec())
    }

    fn ed25519_verify(key: &Self::Ed25519PublicKey, message: &[u8], signature: &[u8]) -> bool {
        if signature.len() != 64 {
            return false;
        }
        ed25519_dalek::Signature::from_slice(signature)
            .is_ok_and(|sig| key.0.verify_strict(message, &sig).is_ok())
    }

    // ---- RSA ------------------------------------------------------------------------------------

    fn rsa_generate(bits: usize) -> CryptoResult<Self::RsaPrivateKey> {
        if !(RSA_MIN_BITS..=RSA_MAX_BITS).contains(&bits) {
            return Err(CryptoError);
        }
        let key = rsa::PrivateKey::new(&mut SysRng, bits).map_err(err)?;
        Ok(RcRsaPrivateKey(key))
    }

    fn rsa_private_from_components(c: &RsaPrivateComponents) -> CryptoResult<Self::RsaPrivateKey> {
        let n = public_uint(&c.n, RSA_MAX_BITS / 8)?;
        if (n.bit_width_vartime() as usize) < RSA_MIN_BITS {
            return Err(CryptoError);
        }
        let e = public_uint(&c.e, 8)?;
        let precision = n.bits_precision();
        let d = secret_uint(&c.d, precision)?;
        let p = secret_uint(&c.p, precision)?;
        let q = secret_uint(&c.q, precision)?;
        // Checks p·q = n, d < n, d·e ≡ 1 mod (p-1) and (q-1), e bounds, balanced primes.
        let key = RcRsaPrivateKey(rsa::PrivateKey::from_components(n, e, d, vec![p, q]).map_err(err)?);
        // The JWK's CRT values must agree with the ones derived from (d, p, q).
        let derived = Self::rsa_private_components(&key);
        let consistent = uint_bytes_eq(&derived.dp, &c.dp)
            & uint_bytes_eq(&derived.dq, &c.dq)
            & uint_bytes_eq(&derived.qi, &c.qi)
            & uint_bytes_eq(&derived.p, &c.p)
            & uint_bytes_eq(&derived.q, &c.q);
        if !consistent {
            return Err(CryptoError);
        }
        Ok(key)
    }

    fn rsa_private_components(key: &Self::RsaPrivateKey) -> RsaPrivateComponents {
        let k = &key.0;
        let d = k.d();
        let (p, q) = match k.primes() {
            [p, q, ..] => (Some(p.as_ref()), Some(q.as_ref())),
            _ => (None, None),
        };
        let p_bytes = p.map(secret_uint_bytes).unwrap_or_default();
        let q_bytes = q.map(secret_uint_bytes).unwrap_or_default();
        let dp = match (k.dp(), p) {
            (Some(dp), _) => secret_uint_bytes(dp),
            (None, Some(p)) => crt_exponent(d, p),
            (None, None) => Zeroizing::default(),
        };
        let dq = match (k.dq(), q) {
            (Some(dq), _) => secret_uint_bytes(dq),
            (None, Some(q)) => crt_exponent(d, q),
            (None, None) => Zeroizing::default(),
        };
        let qi = match k.crt_coefficient() {
            Some(qi) => {
                let qi = Zeroizing::new(qi);
                secret_uint_bytes(&qi)
            }
            None => Zeroizing::default(),
        };
        RsaPrivateComponents {
            n: k.n_bytes().into_vec(),
            e: k.e_bytes().into_vec(),
            d: secret_uint_bytes(d),
            p: p_bytes,
            q: q_bytes,
            dp,
            dq,
            qi,
        }
    }

    fn rsa_public_from_private(key: &Self::RsaPrivateKey) -> Self::RsaPublicKey {
        RcRsaPublicKey(key.0.to_public_key())
    }

    fn rsa_public_from_components(n: &[u8], e: &[u8]) -> CryptoResult<Self::RsaPublicKey> {
        let n = public_uint(n, RSA_MAX_BITS / 8)?;
        if (n.bit_width_vartime() as usize) < RSA_MIN_BITS {
            return Err(CryptoError);
        }
        let e = public_uint(e, 8)?;
        Ok(RcRsaPublicKey(rsa::PublicKey::new(n, e).map_err(err)?))
    }

    fn rsa_public_components(key: &Self::RsaPublicKey) -> (Vec<u8>, Vec<u8>) {
        (key.0.n_bytes().into_vec(), key.0.e_bytes().into_vec())
    }

    fn rsa_public_bits(key: &Self::RsaPublicKey) -> usize {
        key.0.n().bit_width_vartime() as usize
    }

    fn rsa_oaep_encrypt(key: &Self::RsaPublicKey, hash: Sha, message: &[u8]) -> CryptoResult<Vec<u8>> {
        match hash {
            Sha::Sha1 => key.0.oaep_encrypt::<sha1::Sha1>(message).map_err(err),
            Sha::Sha256 => key.0.oaep_encrypt::<sha2::Sha256>(message).map_err(err),
            Sha::Sha384 | Sha::Sha512 => Err(CryptoError),
        }
    }

    fn rsa_oaep_decrypt(
        key: &Self::RsaPrivateKey,
        hash: Sha,
        ciphertext: &[u8],
    ) -> CryptoResult<Zeroizing<Vec<u8>>> {
        // Blinded (OS RNG) constant-time private operation; see the module docs on Marvin.
        let plaintext = match hash {
            Sha::Sha1 => key.0.oaep_decrypt::<sha1::Sha1>(ciphertext),
            Sha::Sha256 => key.0.oaep_decrypt::<sha2::Sha256>(ciphertext),
            Sha::Sha384 | Sha::Sha512 => return Err(CryptoError),
        };
        plaintext.map(Zeroizing::new).map_err(err)
    }

    fn rsa_pkcs1v15_decrypt(
        key: &Self::RsaPrivateKey,
        ciphertext: &[u8],
    ) -> CryptoResult<Zeroizing<Vec<u8>>> {
        // NOTE: rsa 0.10 uses implicit rejection: a ciphertext with invalid padding yields a
        // deterministic synthetic plaintext instead of an error (callers must authenticate it,
        // which JWE does through the content-encryption tag).
        key.0.pkcs1v15_decrypt(ciphertext).map(Zeroizing::new).map_err(err)
    }

    fn rsa_pkcs1v15_encrypt(key: &Self::RsaPublicKey, message: &[u8]) -> CryptoResult<Vec<u8>> {
        key.0.pkcs1v15_encrypt(message).map_err(err)
    }

    fn rsa_sign(key: &Self::RsaPrivateKey, scheme: RsaSignature, message: &[u8]) -> CryptoResult<Vec<u8>> {
        match scheme {
            RsaSignature::Pkcs1Sha256 => key.0.pkcs1v15_sign::<sha2::Sha256>(message).map_err(err),
            // Salt length = digest length = 32 (RFC 7518 §3.5).
            RsaSignature::PssSha256 => key.0.pss_sign::<sha2::Sha256>(message).map_err(err),
        }
    }

    fn rsa_verify(key: &Self::RsaPublicKey, scheme: RsaSignature, message: &[u8], signature: &[u8]) -> bool {
        if signature.len() != key.0.size() {
            return false;
        }
        match scheme {
            RsaSignature::Pkcs1Sha256 => key.0.pkcs1v15_verify::<sha2::Sha256>(message, signature).is_ok(),
            RsaSignature::PssSha256 => key.0.pss_verify::<sha2::Sha256>(message, signature).is_ok(),
        }
    }
}

/// rust-crypto-specific tests. The provider-independent known-answer and error-path tests live in
/// `crypto::conformance` and run against this provider when it is compiled in.
#[cfg(test)]
mod tests {
    use super::*;

    type P = RustCrypto;

    #[test]
    fn provider_name() {
        assert_eq!(P::NAME, "rust-crypto");
    }
}
