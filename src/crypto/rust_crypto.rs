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
//! 0.10 release candidates; the 0.10.0 release notes claim the fix. See the provider report.

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
    match Option::<rsa::BoxedUint>::from(p_minus_1.to_nz().map(|m| d.rem(&m))) {
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
    const RSA_DECRYPTION: bool = false;

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
        if key.len() < 16 || key.len() % 8 != 0 {
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
        if wrapped.len() < 24 || wrapped.len() % 8 != 0 {
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
        if iv.len() != 16 || ciphertext.is_empty() || ciphertext.len() % 16 != 0 {
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

#[cfg(test)]
mod tests {
    use super::*;

    type P = RustCrypto;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    #[test]
    fn provider_name() {
        assert_eq!(P::NAME, "rust-crypto");
    }

    #[test]
    fn random_and_digest() {
        let mut a = [0u8; 32];
        let mut b = [0u8; 32];
        P::fill_random(&mut a).unwrap();
        P::fill_random(&mut b).unwrap();
        assert_ne!(a, b);
        assert_eq!(
            P::digest(Sha::Sha256, b"abc"),
            hex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        );
        assert_eq!(P::digest(Sha::Sha1, b"abc"), hex("a9993e364706816aba3e25717850c26c9cd0d89d"));
        assert_eq!(P::digest(Sha::Sha384, b"abc").len(), 48);
        assert_eq!(P::digest(Sha::Sha512, b"abc").len(), 64);
    }

    // RFC 7518 Appendix C: ECDH-ES on P-256 and the Concat KDF.
    const C_ALICE_D: &str = "d3f3716913d4310a0026de741b3f18893afc8114f0c84682ba677e313a13988a";
    const C_ALICE_X: &str = "808d060082c176eed3e776a4ac598cc8672c1779f974eecc9b03411ca5b9495d";
    const C_ALICE_Y: &str = "48b5bfc527dfce53d6ac7115237d031ccff87a0570b77350a9e503ee7305a69b";
    const C_BOB_D: &str = "5449836690d75caf29f0dd029ddb31b3ddb8aba9d2d515c5012465e817d4a9dc";
    const C_BOB_X: &str = "c1e349cb61ec70248ce801034c3834e1b88ebe1161cb25af38741f785fcfc4c4";
    const C_BOB_Y: &str = "7bc96708ef80952b53f8d2555fe72b841ed04588628b1d378a594939500ec9c9";
    const C_Z: &str = "9e56d91d817135d372834283bf84269cfb316ea3da806a48f6daa7798cfe90c4";

    #[test]
    fn rfc7518_c_concat_kdf() {
        let other_info = hex("000000074131323847434d00000005416c69636500000003426f6200000080");
        let mut out = [0u8; 16];
        P::concat_kdf_sha256(&hex(C_Z), &other_info, &mut out).unwrap();
        assert_eq!(out.to_vec(), hex("56aa8deaf8236d205c2228cd71a7101a"));
        assert!(P::concat_kdf_sha256(&hex(C_Z), &other_info, &mut []).is_err());
    }

    #[test]
    fn rfc7518_c_ecdh_p256() {
        let alice = P::ec_private_from_bytes(EcCurve::P256, &hex(C_ALICE_D)).unwrap();
        let bob_pub = P::ec_public_from_coordinates(EcCurve::P256, &hex(C_BOB_X), &hex(C_BOB_Y)).unwrap();
        assert_eq!(*P::ecdh(&alice, &bob_pub).unwrap(), hex(C_Z));

        // The other direction, and the public key derived from the private scalar.
        let bob = P::ec_private_from_bytes(EcCurve::P256, &hex(C_BOB_D)).unwrap();
        let alice_pub = P::ec_public_from_private(&alice);
        assert_eq!(P::ec_public_coordinates(&alice_pub), (hex(C_ALICE_X), hex(C_ALICE_Y)));
        assert_eq!(*P::ecdh(&bob, &alice_pub).unwrap(), hex(C_Z));
        assert_eq!(*P::ec_private_to_bytes(&alice), hex(C_ALICE_D));
    }

    #[test]
    fn ec_private_scalar_validation() {
        let n = EcCurve::P256.field_len();
        assert!(P::ec_private_from_bytes(EcCurve::P256, &vec![0u8; n]).is_err());
        assert!(P::ec_private_from_bytes(EcCurve::P256, &[0xffu8; 32]).is_err());
        assert!(P::ec_private_from_bytes(EcCurve::P256, &hex(C_ALICE_D)[1..]).is_err());
        assert!(P::ec_private_from_bytes(EcCurve::P384, &hex(C_ALICE_D)).is_err());
    }

    #[test]
    fn ec_generate_sign_verify_all_curves() {
        for curve in [EcCurve::P256, EcCurve::P384, EcCurve::P521] {
            let n = curve.field_len();
            let key = P::ec_generate(curve).unwrap();
            assert_eq!(P::ec_private_curve(&key), curve);
            let public = P::ec_public_from_private(&key);
            assert_eq!(P::ec_public_curve(&public), curve);

            let sig = P::ecdsa_sign(&key, b"payload").unwrap();
            assert_eq!(sig.len(), 2 * n);
            assert!(P::ecdsa_verify(&public, b"payload", &sig));
            assert!(!P::ecdsa_verify(&public, b"payloaD", &sig));
            let mut bad = sig.clone();
            bad[n + 3] ^= 1;
            assert!(!P::ecdsa_verify(&public, b"payload", &bad));
            assert!(!P::ecdsa_verify(&public, b"payload", &sig[1..]));
            assert!(!P::ecdsa_verify(&public, b"payload", &[]));
            assert!(!P::ecdsa_verify(&public, b"payload", &vec![0u8; 2 * n]));

            // Export / import round trip.
            let d = P::ec_private_to_bytes(&key);
            assert_eq!(d.len(), n);
            let key2 = P::ec_private_from_bytes(curve, &d).unwrap();
            let (x, y) = P::ec_public_coordinates(&public);
            assert_eq!((x.len(), y.len()), (n, n));
            let public2 = P::ec_public_from_coordinates(curve, &x, &y).unwrap();
            assert_eq!(P::ec_public_coordinates(&P::ec_public_from_private(&key2)), (x.clone(), y.clone()));
            assert!(P::ecdsa_verify(&public2, b"payload", &P::ecdsa_sign(&key2, b"payload").unwrap()));

            // Off-curve point, wrong lengths.
            let mut y_bad = y.clone();
            y_bad[n - 1] ^= 1;
            assert!(P::ec_public_from_coordinates(curve, &x, &y_bad).is_err());
            assert!(P::ec_public_from_coordinates(curve, &x[1..], &y).is_err());
            assert!(P::ec_public_from_coordinates(curve, &vec![0u8; n], &vec![0u8; n]).is_err());

            // ECDH agrees both ways.
            let other = P::ec_generate(curve).unwrap();
            let other_pub = P::ec_public_from_private(&other);
            let z1 = P::ecdh(&key, &other_pub).unwrap();
            let z2 = P::ecdh(&other, &public2).unwrap();
            assert_eq!(z1.len(), n);
            assert_eq!(*z1, *z2);
        }
    }

    #[test]
    fn ec_curve_mismatch() {
        let k256 = P::ec_generate(EcCurve::P256).unwrap();
        let k384 = P::ec_generate(EcCurve::P384).unwrap();
        let p384 = P::ec_public_from_private(&k384);
        assert!(P::ecdh(&k256, &p384).is_err());
        let sig = P::ecdsa_sign(&k256, b"m").unwrap();
        assert!(!P::ecdsa_verify(&p384, b"m", &sig));
        let (x, y) = P::ec_public_coordinates(&P::ec_public_from_private(&k256));
        assert!(P::ec_public_from_coordinates(EcCurve::P384, &x, &y).is_err());
    }

    // RFC 8037 A.6 (keys from RFC 7748 §6.1).
    #[test]
    fn rfc8037_a6_x25519() {
        let eph = P::x25519_private_from_bytes(&hex(
            "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
        ))
        .unwrap();
        assert_eq!(
            P::x25519_public(&eph).to_vec(),
            hex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
        );
        let bob_pub = hex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
        let z = hex("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
        assert_eq!(*P::x25519(&eph, &bob_pub).unwrap(), z);

        let bob = P::x25519_private_from_bytes(&hex(
            "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb",
        ))
        .unwrap();
        assert_eq!(P::x25519_public(&bob).to_vec(), bob_pub);
        assert_eq!(*P::x25519(&bob, &P::x25519_public(&eph)).unwrap(), z);
    }

    #[test]
    fn x25519_rejects_bad_peers() {
        let k = P::x25519_generate().unwrap();
        assert!(P::x25519(&k, &[0u8; 32]).is_err()); // small order: all-zero output
        let mut one = [0u8; 32];
        one[0] = 1;
        assert!(P::x25519(&k, &one).is_err());
        assert!(P::x25519(&k, &[9u8; 31]).is_err());
        assert!(P::x25519_private_from_bytes(&[1u8; 31]).is_err());
        let d = P::x25519_private_to_bytes(&k);
        let k2 = P::x25519_private_from_bytes(&d).unwrap();
        assert_eq!(P::x25519_public(&k), P::x25519_public(&k2));
        let other = P::x25519_generate().unwrap();
        assert_eq!(
            *P::x25519(&k, &P::x25519_public(&other)).unwrap(),
            *P::x25519(&other, &P::x25519_public(&k)).unwrap()
        );
    }

    // RFC 8032 §7.1 TEST 1.
    #[test]
    fn rfc8032_ed25519_test1() {
        let seed = hex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
        let public = hex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
        let sig = hex(
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
        );
        let key = P::ed25519_private_from_seed(&seed).unwrap();
        assert_eq!(*P::ed25519_private_to_seed(&key), seed);
        let pk = P::ed25519_public_from_private(&key);
        assert_eq!(P::ed25519_public_to_bytes(&pk).to_vec(), public);
        assert_eq!(P::ed25519_sign(&key, b"").unwrap(), sig);
        let pk2 = P::ed25519_public_from_bytes(&public).unwrap();
        assert!(P::ed25519_verify(&pk2, b"", &sig));
        assert!(!P::ed25519_verify(&pk2, b"x", &sig));
        let mut bad = sig.clone();
        bad[0] ^= 1;
        assert!(!P::ed25519_verify(&pk2, b"", &bad));
        assert!(!P::ed25519_verify(&pk2, b"", &sig[..63]));
        assert!(P::ed25519_private_from_seed(&seed[1..]).is_err());
        assert!(P::ed25519_public_from_bytes(&public[1..]).is_err());

        let g = P::ed25519_generate().unwrap();
        let gp = P::ed25519_public_from_private(&g);
        assert!(P::ed25519_verify(&gp, b"m", &P::ed25519_sign(&g, b"m").unwrap()));
    }

    // RFC 3394 §4.1, §4.4, §4.6.
    #[test]
    fn rfc3394_aes_kw() {
        let cases = [
            (
                "000102030405060708090A0B0C0D0E0F",
                "00112233445566778899AABBCCDDEEFF",
                "1FA68B0A8112B447AEF34BD8FB5A7B829D3E862371D2CFE5",
            ),
            (
                "000102030405060708090A0B0C0D0E0F1011121314151617",
                "00112233445566778899AABBCCDDEEFF0001020304050607",
                "031D33264E15D33268F24EC260743EDCE1C6C7DDEE725A936BA814915C6762D2",
            ),
            (
                "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F",
                "00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F",
                "28C9F404C4B810F4CBCCB35CFB87F8263F5786E2D80ED326CBC7F0E71A99F43BFB988B9B7A02DD21",
            ),
        ];
        for (kek, key, wrapped) in cases {
            let (kek, key, wrapped) = (hex(kek), hex(key), hex(wrapped));
            assert_eq!(P::aes_kw_wrap(&kek, &key).unwrap(), wrapped);
            assert_eq!(*P::aes_kw_unwrap(&kek, &wrapped).unwrap(), key);
            let mut tampered = wrapped.clone();
            tampered[5] ^= 0x80;
            assert!(P::aes_kw_unwrap(&kek, &tampered).is_err());
            assert!(P::aes_kw_unwrap(&kek, &wrapped[..wrapped.len() - 1]).is_err());
            assert!(P::aes_kw_unwrap(&kek[1..], &wrapped).is_err());
        }
        assert!(P::aes_kw_wrap(&[0u8; 16], &[0u8; 8]).is_err());
        assert!(P::aes_kw_wrap(&[0u8; 16], &[0u8; 17]).is_err());
        assert!(P::aes_kw_unwrap(&[0u8; 16], &[0u8; 16]).is_err());
    }

    // RFC 7518 B.1 (A128CBC-HS256 pieces).
    #[test]
    fn rfc7518_b1_cbc_and_hmac() {
        let mac_key = hex("000102030405060708090a0b0c0d0e0f");
        let enc_key = hex("101112131415161718191a1b1c1d1e1f");
        let p = b"A cipher system must not be required to be secret, and it must be able to fall into the hands of the enemy without inconvenience";
        let iv = hex("1af38c2dc2b96ffdd86694092341bc04");
        let a = b"The second principle of Auguste Kerckhoffs";
        let al = hex("0000000000000150");
        let e = hex(
            "c80edfa32ddf39d5ef00c0b468834279a2e46a1b8049f792f76bfe54b903a9c9a94ac9b47ad2655c5f10f9aef71427e2fc6f9b3f399a221489f16362c703233609d45ac69864e3321cf82935ac4096c86e133314c54019e8ca7980dfa4b9cf1b384c486f3a54c51078158ee5d79de59fbd34d848b3d69550a67646344427ade54b8851ffb598f7f80074b9473c82e2db",
        );
        let m = hex("652c3fa36b0a7c5b3219fab3a30bc1c4e6e54582476515f0ad9f75a2b71c73ef");
        let t = hex("652c3fa36b0a7c5b3219fab3a30bc1c4");

        assert_eq!(P::aes_cbc_encrypt(&enc_key, &iv, p).unwrap(), e);
        assert_eq!(P::aes_cbc_decrypt(&enc_key, &iv, &e).unwrap().as_slice(), p.as_slice());

        let mut mac_input = a.to_vec();
        mac_input.extend_from_slice(&iv);
        mac_input.extend_from_slice(&e);
        mac_input.extend_from_slice(&al);
        assert_eq!(P::hmac_sign(Sha::Sha256, &mac_key, &mac_input).unwrap(), m);
        assert!(P::hmac_verify_truncated(Sha::Sha256, &mac_key, &mac_input, &t));
        assert!(P::hmac_verify_truncated(Sha::Sha256, &mac_key, &mac_input, &m));
        let mut flipped = t.clone();
        flipped[15] ^= 1;
        assert!(!P::hmac_verify_truncated(Sha::Sha256, &mac_key, &mac_input, &flipped));
        assert!(!P::hmac_verify_truncated(Sha::Sha256, &mac_key, &mac_input, &[]));
        let mut too_long = m.clone();
        too_long.push(0);
        assert!(!P::hmac_verify_truncated(Sha::Sha256, &mac_key, &mac_input, &too_long));
        assert!(!P::hmac_verify_truncated(Sha::Sha384, &mac_key, &mac_input, &t));
        assert!(P::hmac_sign(Sha::Sha1, &mac_key, &mac_input).is_err());
        assert!(!P::hmac_verify_truncated(Sha::Sha1, &mac_key, &mac_input, &t));
    }

    #[test]
    fn aes_cbc_round_trip_and_errors() {
        let iv = [7u8; 16];
        for klen in [16, 24, 32] {
            let key = vec![0x42u8; klen];
            for len in [0, 1, 15, 16, 17, 100] {
                let pt = vec![0xa5u8; len];
                let ct = P::aes_cbc_encrypt(&key, &iv, &pt).unwrap();
                assert_eq!(ct.len(), (len / 16 + 1) * 16);
                assert_eq!(*P::aes_cbc_decrypt(&key, &iv, &ct).unwrap(), pt);
            }
        }
        let key = [1u8; 16];
        assert!(P::aes_cbc_encrypt(&[0u8; 17], &iv, b"x").is_err());
        assert!(P::aes_cbc_encrypt(&key, &iv[..15], b"x").is_err());
        assert!(P::aes_cbc_decrypt(&key, &iv, &[]).is_err());
        assert!(P::aes_cbc_decrypt(&key, &iv, &[0u8; 15]).is_err());
        // Bad padding: encrypt a full block of 0x00 without padding info -> last byte invalid.
        let ct = P::aes_cbc_encrypt(&key, &iv, &[0u8; 16]).unwrap();
        assert!(P::aes_cbc_decrypt(&key, &iv, &ct[..16]).is_err());
    }

    #[test]
    fn aes_gcm_round_trip() {
        let iv = [3u8; 12];
        for klen in [16, 24, 32] {
            let key = vec![0x11u8; klen];
            let (ct, tag) = P::aes_gcm_encrypt(&key, &iv, b"aad", b"hello world").unwrap();
            assert_eq!(ct.len(), 11);
            assert_eq!(*P::aes_gcm_decrypt(&key, &iv, b"aad", &ct, &tag).unwrap(), b"hello world");
            let mut bad_ct = ct.clone();
            bad_ct[0] ^= 1;
            assert!(P::aes_gcm_decrypt(&key, &iv, b"aad", &bad_ct, &tag).is_err());
            let mut bad_tag = tag;
            bad_tag[15] ^= 1;
            assert!(P::aes_gcm_decrypt(&key, &iv, b"aad", &ct, &bad_tag).is_err());
            assert!(P::aes_gcm_decrypt(&key, &iv, b"aaD", &ct, &tag).is_err());
            assert!(P::aes_gcm_decrypt(&key, &iv, b"aad", &ct, &tag[..15]).is_err());
            assert!(P::aes_gcm_decrypt(&key, &iv[..11], b"aad", &ct, &tag).is_err());
            assert!(P::aes_gcm_encrypt(&key, &iv[..11], b"aad", b"x").is_err());
            let (ct0, tag0) = P::aes_gcm_encrypt(&key, &iv, b"", b"").unwrap();
            assert!(ct0.is_empty());
            assert!(P::aes_gcm_decrypt(&key, &iv, b"", &ct0, &tag0).unwrap().is_empty());
        }
        assert!(P::aes_gcm_encrypt(&[0u8; 20], &iv, b"", b"x").is_err());
    }

    // NIST GCM test case 3 (AES-128), to pin the detached-tag layout.
    #[test]
    fn aes_gcm_known_answer() {
        let key = hex("feffe9928665731c6d6a8f9467308308");
        let iv = hex("cafebabefacedbaddecaf888");
        let pt = hex(
            "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255",
        );
        let ct = hex(
            "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985",
        );
        let tag = hex("4d5c2af327cd64a62cf35abd2ba6fab4");
        let (c, t) = P::aes_gcm_encrypt(&key, &iv, b"", &pt).unwrap();
        assert_eq!(c, ct);
        assert_eq!(t.to_vec(), tag);
    }

    // RFC 7914 §11.
    #[test]
    fn rfc7914_pbkdf2_sha256() {
        let mut out = [0u8; 64];
        P::pbkdf2(Sha::Sha256, b"passwd", b"salt", 1, &mut out).unwrap();
        assert_eq!(
            out.to_vec(),
            hex(
                "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783"
            )
        );
        assert!(P::pbkdf2(Sha::Sha256, b"passwd", b"salt", 0, &mut out).is_err());
        assert!(P::pbkdf2(Sha::Sha1, b"passwd", b"salt", 1, &mut out).is_err());
        P::pbkdf2(Sha::Sha384, b"p", b"s", 2, &mut out).unwrap();
        P::pbkdf2(Sha::Sha512, b"p", b"s", 2, &mut out).unwrap();
    }

    #[test]
    fn rsa_all_operations() {
        assert!(P::rsa_generate(1024).is_err());
        let key = P::rsa_generate(2048).unwrap();
        let public = P::rsa_public_from_private(&key);
        assert_eq!(P::rsa_public_bits(&public), 2048);

        let cek = [0x5au8; 32];
        for hash in [Sha::Sha1, Sha::Sha256] {
            let ct = P::rsa_oaep_encrypt(&public, hash, &cek).unwrap();
            assert_eq!(ct.len(), 256);
            assert_eq!(*P::rsa_oaep_decrypt(&key, hash, &ct).unwrap(), cek);
            let mut bad = ct.clone();
            bad[100] ^= 1;
            assert!(P::rsa_oaep_decrypt(&key, hash, &bad).is_err());
            assert!(P::rsa_oaep_decrypt(&key, hash, &ct[1..]).is_err());
        }
        let ct = P::rsa_oaep_encrypt(&public, Sha::Sha1, &cek).unwrap();
        assert!(P::rsa_oaep_decrypt(&key, Sha::Sha256, &ct).is_err());
        assert!(P::rsa_oaep_encrypt(&public, Sha::Sha512, &cek).is_err());

        let ct = P::rsa_pkcs1v15_encrypt(&public, &cek).unwrap();
        assert_eq!(*P::rsa_pkcs1v15_decrypt(&key, &ct).unwrap(), cek);

        for scheme in [RsaSignature::Pkcs1Sha256, RsaSignature::PssSha256] {
            let sig = P::rsa_sign(&key, scheme, b"payload").unwrap();
            assert_eq!(sig.len(), 256);
            assert!(P::rsa_verify(&public, scheme, b"payload", &sig));
            assert!(!P::rsa_verify(&public, scheme, b"payloaD", &sig));
            let mut bad = sig.clone();
            bad[10] ^= 1;
            assert!(!P::rsa_verify(&public, scheme, b"payload", &bad));
            assert!(!P::rsa_verify(&public, scheme, b"payload", &sig[1..]));
        }
        let sig = P::rsa_sign(&key, RsaSignature::Pkcs1Sha256, b"payload").unwrap();
        assert!(!P::rsa_verify(&public, RsaSignature::PssSha256, b"payload", &sig));
        // RS256 is deterministic.
        assert_eq!(sig, P::rsa_sign(&key, RsaSignature::Pkcs1Sha256, b"payload").unwrap());

        // Components export -> import -> decrypt.
        let c = P::rsa_private_components(&key);
        let (n, e) = P::rsa_public_components(&public);
        assert_eq!((&c.n, &c.e), (&n, &e));
        assert_eq!(e, vec![1, 0, 1]);
        assert_eq!(n.len(), 256);
        for part in [&c.d, &c.p, &c.q, &c.dp, &c.dq, &c.qi] {
            assert!(!part.is_empty() && part[0] != 0);
        }
        let key2 = P::rsa_private_from_components(&c).unwrap();
        let ct = P::rsa_oaep_encrypt(&public, Sha::Sha256, &cek).unwrap();
        assert_eq!(*P::rsa_oaep_decrypt(&key2, Sha::Sha256, &ct).unwrap(), cek);
        let public2 = P::rsa_public_from_components(&n, &e).unwrap();
        let sig = P::rsa_sign(&key2, RsaSignature::PssSha256, b"m").unwrap();
        assert!(P::rsa_verify(&public2, RsaSignature::PssSha256, b"m", &sig));

        // Inconsistent components are rejected.
        let tweak = |f: &dyn Fn(&mut RsaPrivateComponents)| {
            let mut c2 = P::rsa_private_components(&key);
            f(&mut c2);
            P::rsa_private_from_components(&c2).is_err()
        };
        assert!(tweak(&|c| *c.dp.last_mut().unwrap() ^= 2));
        assert!(tweak(&|c| *c.dq.last_mut().unwrap() ^= 2));
        assert!(tweak(&|c| *c.qi.last_mut().unwrap() ^= 2));
        assert!(tweak(&|c| *c.d.last_mut().unwrap() ^= 2));
        assert!(tweak(&|c| *c.p.last_mut().unwrap() ^= 2));
        assert!(tweak(&|c| c.d = Zeroizing::new(Vec::new())));
        assert!(tweak(&|c| std::mem::swap(&mut c.p, &mut c.q)));

        // Small or malformed public keys.
        assert!(P::rsa_public_from_components(&n[..128], &e).is_err());
        assert!(P::rsa_public_from_components(&[], &e).is_err());
        assert!(P::rsa_public_from_components(&n, &[]).is_err());
        assert!(P::rsa_public_from_components(&vec![0xffu8; 2000], &e).is_err());
    }
}
