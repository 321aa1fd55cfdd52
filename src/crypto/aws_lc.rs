//! [`CryptoProvider`] backed by [aws-lc-rs](https://crates.io/crates/aws-lc-rs).
//!
//! aws-lc-rs has no AES-192 key wrap, so A192KW uses the RustCrypto `aes-kw` crate; everything else
//! is aws-lc. RSA private keys exported as JWK components are read back from aws-lc's PKCS#8
//! encoding with the `pkcs1` crate (only for generated keys and once, at construction time).
//!
//! Every key type parses and validates its material once, when it is built, and keeps the parsed
//! aws-lc objects so that signing, verification and key agreement do no further parsing.

use std::fmt;
use std::num::NonZeroU32;

use aws_lc_rs::encoding::{AsBigEndian, AsDer, EcPrivateKeyBin, Pkcs8V1Der};
use aws_lc_rs::signature::KeyPair as _;
use aws_lc_rs::{
    aead, agreement, cipher, constant_time, digest, hmac, iv, kdf, key_wrap, pbkdf2, rand, rsa, signature,
};
use zeroize::Zeroizing;

use super::{CryptoError, CryptoProvider, CryptoResult, EcCurve, RsaPrivateComponents, RsaSignature, Sha};

/// The aws-lc-rs provider.
pub(crate) struct AwsLc;

/// Maps any library error to the opaque [`CryptoError`].
fn opaque<E>(_: E) -> CryptoError {
    CryptoError
}

// ---- EC key types -------------------------------------------------------------------------------

/// A P-256/384/521 private key: the scalar plus the aws-lc objects for ECDH and ECDSA.
pub(crate) struct EcPrivateKey {
    curve: EcCurve,
    d: Zeroizing<Vec<u8>>,
    agreement: agreement::PrivateKey,
    signing: signature::EcdsaKeyPair,
    public: EcPublicKey,
}

/// A validated P-256/384/521 public key (uncompressed point plus pre-parsed aws-lc keys).
#[derive(Clone)]
pub(crate) struct EcPublicKey {
    curve: EcCurve,
    /// `0x04 || x || y`, each coordinate `curve.field_len()` bytes.
    point: Vec<u8>,
    agreement: agreement::ParsedPublicKey,
    verifying: signature::ParsedPublicKey,
}

impl fmt::Debug for EcPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EcPublicKey").field("curve", &self.curve).finish_non_exhaustive()
    }
}

fn ecdh_alg(curve: EcCurve) -> &'static agreement::Algorithm {
    match curve {
        EcCurve::P256 => &agreement::ECDH_P256,
        EcCurve::P384 => &agreement::ECDH_P384,
        EcCurve::P521 => &agreement::ECDH_P521,
    }
}

fn ecdsa_signing_alg(curve: EcCurve) -> &'static signature::EcdsaSigningAlgorithm {
    match curve {
        EcCurve::P256 => &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        EcCurve::P384 => &signature::ECDSA_P384_SHA384_FIXED_SIGNING,
        EcCurve::P521 => &signature::ECDSA_P521_SHA512_FIXED_SIGNING,
    }
}

fn ecdsa_verification_alg(curve: EcCurve) -> &'static signature::EcdsaVerificationAlgorithm {
    match curve {
        EcCurve::P256 => &signature::ECDSA_P256_SHA256_FIXED,
        EcCurve::P384 => &signature::ECDSA_P384_SHA384_FIXED,
        EcCurve::P521 => &signature::ECDSA_P521_SHA512_FIXED,
    }
}

/// Builds a public key from an uncompressed point, validating it (on the curve, coordinates in
/// range) through aws-lc's point decoding.
fn ec_public_from_point(curve: EcCurve, point: Vec<u8>) -> CryptoResult<EcPublicKey> {
    if point.len() != 1 + 2 * curve.field_len() || point.first() != Some(&0x04) {
        return Err(CryptoError);
    }
    let agreement =
        agreement::ParsedPublicKey::try_from(agreement::UnparsedPublicKey::new(ecdh_alg(curve), &point))
            .map_err(opaque)?;
    let verifying = signature::ParsedPublicKey::new(ecdsa_verification_alg(curve), &point).map_err(opaque)?;
    Ok(EcPublicKey { curve, point, agreement, verifying })
}

// ---- X25519 / Ed25519 key types -----------------------------------------------------------------

/// An X25519 private key.
pub(crate) struct X25519PrivateKey {
    d: Zeroizing<[u8; 32]>,
    key: agreement::PrivateKey,
    public: [u8; 32],
}

/// An Ed25519 signing key.
pub(crate) struct Ed25519PrivateKey {
    seed: Zeroizing<[u8; 32]>,
    pair: signature::Ed25519KeyPair,
    public: Ed25519PublicKey,
}

/// An Ed25519 verifying key.
#[derive(Clone)]
pub(crate) struct Ed25519PublicKey {
    bytes: [u8; 32],
    parsed: signature::ParsedPublicKey,
}

impl fmt::Debug for Ed25519PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ed25519PublicKey").finish_non_exhaustive()
    }
}

fn array32(bytes: &[u8]) -> CryptoResult<[u8; 32]> {
    <[u8; 32]>::try_from(bytes).map_err(opaque)
}

// ---- RSA key types ------------------------------------------------------------------------------

/// An RSA private key: signing key pair, decrypting keys, its (normalised) CRT components and its
/// public half.
pub(crate) struct RsaPrivateKey {
    pair: signature::RsaKeyPair,
    oaep: rsa::OaepPrivateDecryptingKey,
    pkcs1: rsa::Pkcs1PrivateDecryptingKey,
    d: Zeroizing<Vec<u8>>,
    p: Zeroizing<Vec<u8>>,
    q: Zeroizing<Vec<u8>>,
    dp: Zeroizing<Vec<u8>>,
    dq: Zeroizing<Vec<u8>>,
    qi: Zeroizing<Vec<u8>>,
    public: RsaPublicKey,
}

/// An RSA public key (≥ 2048 bits) with pre-parsed encryption and verification keys.
#[derive(Clone)]
pub(crate) struct RsaPublicKey {
    n: Vec<u8>,
    e: Vec<u8>,
    bits: usize,
    encrypting: rsa::PublicEncryptingKey,
    verify_pkcs1: signature::ParsedPublicKey,
    verify_pss: signature::ParsedPublicKey,
}

impl fmt::Debug for RsaPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RsaPublicKey").field("bits", &self.bits).finish_non_exhaustive()
    }
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    bytes.get(start..).unwrap_or_default()
}

fn rsa_public(n: &[u8], e: &[u8]) -> CryptoResult<RsaPublicKey> {
    let n = strip_leading_zeros(n);
    let e = strip_leading_zeros(e);
    // e must be odd and > 1, and (as aws-lc requires) at most 33 bits.
    let e_odd = e.last().is_some_and(|b| b & 1 == 1);
    if n.is_empty() || !e_odd || e == [1] || e.len() > 5 {
        return Err(CryptoError);
    }
    let components = signature::RsaPublicKeyComponents { n, e };
    let encrypting: rsa::PublicEncryptingKey = components.try_into().map_err(opaque)?;
    let bits = encrypting.key_size_bits();
    if bits < 2048 {
        return Err(CryptoError);
    }
    let verify_pkcs1 =
        components.to_parsed_public_key(&signature::RSA_PKCS1_2048_8192_SHA256).map_err(opaque)?;
    let verify_pss = components.to_parsed_public_key(&signature::RSA_PSS_2048_8192_SHA256).map_err(opaque)?;
    Ok(RsaPublicKey { n: n.to_vec(), e: e.to_vec(), bits, encrypting, verify_pkcs1, verify_pss })
}

/// Reads the `privateKey` OCTET STRING out of a PKCS#8 v1 `PrivateKeyInfo`.
fn pkcs8_inner_key(pkcs8: &[u8]) -> CryptoResult<&[u8]> {
    use pkcs1::der::asn1::AnyRef;
    use pkcs1::der::{Reader, SliceReader, Tag, Tagged};

    let mut reader = SliceReader::new(pkcs8).map_err(opaque)?;
    let inner = reader
        .sequence(|r| {
            let _version: u8 = r.decode()?;
            let _algorithm: AnyRef<'_> = r.decode()?;
            let key: AnyRef<'_> = r.decode()?;
            // Optional attributes are ignored.
            while !r.is_finished() {
                let _: AnyRef<'_> = r.decode()?;
            }
            Ok::<_, pkcs1::der::Error>(key)
        })
        .map_err(opaque)?;
    reader.finish().map_err(opaque)?;
    if inner.tag() != Tag::OctetString {
        return Err(CryptoError);
    }
    Ok(inner.value())
}

/// Completes an RSA private key from an aws-lc key pair (already validated by aws-lc).
fn rsa_private_from_pair(pair: signature::RsaKeyPair) -> CryptoResult<RsaPrivateKey> {
    use pkcs1::der::Decode;

    let pkcs8: Pkcs8V1Der<'static> = pair.as_der().map_err(opaque)?;
    let inner = pkcs8_inner_key(pkcs8.as_ref())?;
    let key = pkcs1::RsaPrivateKeyRef::from_der(inner).map_err(opaque)?;
    if key.other_prime_infos.is_some() {
        return Err(CryptoError);
    }
    let public = rsa_public(key.modulus.as_bytes(), key.public_exponent.as_bytes())?;
    let secret = |u: &pkcs1::UintRef<'_>| Zeroizing::new(u.as_bytes().to_vec());
    let d = secret(&key.private_exponent);
    let p = secret(&key.prime1);
    let q = secret(&key.prime2);
    let dp = secret(&key.exponent1);
    let dq = secret(&key.exponent2);
    let qi = secret(&key.coefficient);

    let decrypting = rsa::PrivateDecryptingKey::from_pkcs8(pkcs8.as_ref()).map_err(opaque)?;
    let oaep = rsa::OaepPrivateDecryptingKey::new(decrypting.clone()).map_err(opaque)?;
    let pkcs1 = rsa::Pkcs1PrivateDecryptingKey::new(decrypting).map_err(opaque)?;
    Ok(RsaPrivateKey { pair, oaep, pkcs1, d, p, q, dp, dq, qi, public })
}

fn oaep_alg(hash: Sha) -> CryptoResult<&'static rsa::OaepAlgorithm> {
    match hash {
        Sha::Sha1 => Ok(&rsa::OAEP_SHA1_MGF1SHA1),
        Sha::Sha256 => Ok(&rsa::OAEP_SHA256_MGF1SHA256),
        Sha::Sha384 | Sha::Sha512 => Err(CryptoError),
    }
}

// ---- symmetric helpers --------------------------------------------------------------------------

fn digest_alg(alg: Sha) -> &'static digest::Algorithm {
    match alg {
        Sha::Sha1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
        Sha::Sha256 => &digest::SHA256,
        Sha::Sha384 => &digest::SHA384,
        Sha::Sha512 => &digest::SHA512,
    }
}

fn hmac_alg(alg: Sha) -> CryptoResult<hmac::Algorithm> {
    match alg {
        Sha::Sha256 => Ok(hmac::HMAC_SHA256),
        Sha::Sha384 => Ok(hmac::HMAC_SHA384),
        Sha::Sha512 => Ok(hmac::HMAC_SHA512),
        Sha::Sha1 => Err(CryptoError),
    }
}

fn gcm_key(key: &[u8]) -> CryptoResult<aead::LessSafeKey> {
    let alg = match key.len() {
        16 => &aead::AES_128_GCM,
        24 => &aead::AES_192_GCM,
        32 => &aead::AES_256_GCM,
        _ => return Err(CryptoError),
    };
    Ok(aead::LessSafeKey::new(aead::UnboundKey::new(alg, key).map_err(opaque)?))
}

fn cbc_key(key: &[u8]) -> CryptoResult<cipher::UnboundCipherKey> {
    let alg = match key.len() {
        16 => &cipher::AES_128,
        24 => &cipher::AES_192,
        32 => &cipher::AES_256,
        _ => return Err(CryptoError),
    };
    cipher::UnboundCipherKey::new(alg, key).map_err(opaque)
}

fn cbc_iv(iv: &[u8]) -> CryptoResult<iv::FixedLength<16>> {
    iv::FixedLength::<16>::try_from(iv).map_err(opaque)
}

/// RFC 3394 wrap/unwrap for 128/256-bit KEKs through aws-lc.
fn aws_kek(kek: &[u8]) -> CryptoResult<Option<key_wrap::AesKek>> {
    let cipher = match kek.len() {
        16 => &key_wrap::AES_128,
        32 => &key_wrap::AES_256,
        24 => return Ok(None),
        _ => return Err(CryptoError),
    };
    key_wrap::AesKek::new(cipher, kek).map(Some).map_err(opaque)
}

impl CryptoProvider for AwsLc {
    const NAME: &'static str = "aws-lc";
    const RSA_DECRYPTION: bool = true;

    type EcPrivateKey = EcPrivateKey;
    type EcPublicKey = EcPublicKey;
    type X25519PrivateKey = X25519PrivateKey;
    type Ed25519PrivateKey = Ed25519PrivateKey;
    type Ed25519PublicKey = Ed25519PublicKey;
    type RsaPrivateKey = RsaPrivateKey;
    type RsaPublicKey = RsaPublicKey;

    // ---- randomness and hashing -------------------------------------------------------------

    fn fill_random(out: &mut [u8]) -> CryptoResult<()> {
        rand::fill(out).map_err(opaque)
    }

    fn digest(alg: Sha, data: &[u8]) -> Vec<u8> {
        digest::digest(digest_alg(alg), data).as_ref().to_vec()
    }

    fn hmac_sign(alg: Sha, key: &[u8], data: &[u8]) -> CryptoResult<Vec<u8>> {
        let key = hmac::Key::new(hmac_alg(alg)?, key);
        Ok(hmac::sign(&key, data).as_ref().to_vec())
    }

    fn hmac_verify_truncated(alg: Sha, key: &[u8], data: &[u8], tag: &[u8]) -> bool {
        let Ok(alg) = hmac_alg(alg) else { return false };
        let key = hmac::Key::new(alg, key);
        let full = hmac::sign(&key, data);
        match full.as_ref().get(..tag.len()) {
            Some(prefix) if !tag.is_empty() => constant_time::verify_slices_are_equal(prefix, tag).is_ok(),
            _ => false,
        }
    }

    fn concat_kdf_sha256(z: &[u8], other_info: &[u8], out: &mut [u8]) -> CryptoResult<()> {
        let alg = kdf::get_sskdf_digest_algorithm(kdf::SskdfDigestAlgorithmId::Sha256).ok_or(CryptoError)?;
        kdf::sskdf_digest(alg, z, other_info, out).map_err(opaque)
    }

    fn pbkdf2(alg: Sha, password: &[u8], salt: &[u8], iterations: u32, out: &mut [u8]) -> CryptoResult<()> {
        let (algorithm, hash_len) = match alg {
            Sha::Sha256 => (pbkdf2::PBKDF2_HMAC_SHA256, 32u64),
            Sha::Sha384 => (pbkdf2::PBKDF2_HMAC_SHA384, 48),
            Sha::Sha512 => (pbkdf2::PBKDF2_HMAC_SHA512, 64),
            Sha::Sha1 => return Err(CryptoError),
        };
        let iterations = NonZeroU32::new(iterations).ok_or(CryptoError)?;
        // aws-lc-rs panics (rather than failing) on an over-long output: check it first.
        let out_len = u64::try_from(out.len()).map_err(opaque)?;
        if out.is_empty() || out_len > u64::from(u32::MAX) * hash_len {
            return Err(CryptoError);
        }
        pbkdf2::derive(algorithm, iterations, salt, password, out);
        Ok(())
    }

    // ---- symmetric ----------------------------------------------------------------------------

    fn aes_gcm_encrypt(
        key: &[u8],
        iv: &[u8],
        aad: &[u8],
        plaintext: &[u8],
    ) -> CryptoResult<(Vec<u8>, [u8; 16])> {
        let key = gcm_key(key)?;
        let nonce = aead::Nonce::try_assume_unique_for_key(iv).map_err(opaque)?;
        let mut buf = plaintext.to_vec();
        let tag = key.seal_in_place_separate_tag(nonce, aead::Aad::from(aad), &mut buf).map_err(opaque)?;
        let tag = <[u8; 16]>::try_from(tag.as_ref()).map_err(opaque)?;
        Ok((buf, tag))
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
        let key = gcm_key(key)?;
        let nonce = aead::Nonce::try_assume_unique_for_key(iv).map_err(opaque)?;
        let mut buf = Zeroizing::new(ciphertext.to_vec());
        key.open_in_place_separate_tag(nonce, aead::Aad::from(aad), tag, buf.as_mut_slice())
            .map_err(opaque)?;
        Ok(buf)
    }

    fn aes_kw_wrap(kek: &[u8], key: &[u8]) -> CryptoResult<Vec<u8>> {
        use key_wrap::KeyWrap as _;

        if key.len() < 16 || key.len() % 8 != 0 {
            return Err(CryptoError);
        }
        let mut out = vec![0u8; key.len() + 8];
        match aws_kek(kek)? {
            Some(kek) => {
                let len = kek.wrap(key, &mut out).map_err(opaque)?.len();
                out.truncate(len);
            }
            None => {
                use aes_kw::KeyInit as _;
                let kek = aes_kw::KwAes192::new_from_slice(kek).map_err(opaque)?;
                let len = kek.wrap_key(key, &mut out).map_err(opaque)?.len();
                out.truncate(len);
            }
        }
        Ok(out)
    }

    fn aes_kw_unwrap(kek: &[u8], wrapped: &[u8]) -> CryptoResult<Zeroizing<Vec<u8>>> {
        use key_wrap::KeyWrap as _;

        if wrapped.len() < 24 || wrapped.len() % 8 != 0 {
            return Err(CryptoError);
        }
        let mut out = Zeroizing::new(vec![0u8; wrapped.len() - 8]);
        match aws_kek(kek)? {
            Some(kek) => {
                let len = kek.unwrap(wrapped, out.as_mut_slice()).map_err(opaque)?.len();
                out.truncate(len);
            }
            None => {
                use aes_kw::KeyInit as _;
                let kek = aes_kw::KwAes192::new_from_slice(kek).map_err(opaque)?;
                let len = kek.unwrap_key(wrapped, out.as_mut_slice()).map_err(opaque)?.len();
                out.truncate(len);
            }
        }
        Ok(out)
    }

    fn aes_cbc_encrypt(key: &[u8], iv: &[u8], plaintext: &[u8]) -> CryptoResult<Vec<u8>> {
        let iv = cbc_iv(iv)?;
        let key = cipher::PaddedBlockEncryptingKey::cbc_pkcs7(cbc_key(key)?).map_err(opaque)?;
        // Room for the padding up front, so the buffer is never reallocated (no stray plaintext copy).
        let mut buf = Vec::with_capacity(plaintext.len() + 16);
        buf.extend_from_slice(plaintext);
        key.less_safe_encrypt(&mut buf, cipher::EncryptionContext::Iv128(iv)).map_err(opaque)?;
        Ok(buf)
    }

    fn aes_cbc_decrypt(key: &[u8], iv: &[u8], ciphertext: &[u8]) -> CryptoResult<Zeroizing<Vec<u8>>> {
        if ciphertext.is_empty() || ciphertext.len() % 16 != 0 {
            return Err(CryptoError);
        }
        let iv = cbc_iv(iv)?;
        let key = cipher::PaddedBlockDecryptingKey::cbc_pkcs7(cbc_key(key)?).map_err(opaque)?;
        let mut buf = Zeroizing::new(ciphertext.to_vec());
        let len =
            key.decrypt(buf.as_mut_slice(), cipher::DecryptionContext::Iv128(iv)).map_err(opaque)?.len();
        buf.truncate(len);
        Ok(buf)
    }

    // ---- EC (P-256 / P-384 / P-521) ------------------------------------------------------------

    fn ec_generate(curve: EcCurve) -> CryptoResult<EcPrivateKey> {
        let key = agreement::PrivateKey::generate(ecdh_alg(curve)).map_err(opaque)?;
        let d: EcPrivateKeyBin<'static> = key.as_be_bytes().map_err(opaque)?;
        Self::ec_private_from_bytes(curve, d.as_ref())
    }

    fn ec_private_from_bytes(curve: EcCurve, d: &[u8]) -> CryptoResult<EcPrivateKey> {
        if d.len() != curve.field_len() {
            return Err(CryptoError);
        }
        // aws-lc rejects 0 and d >= n here.
        let agreement = agreement::PrivateKey::from_private_key(ecdh_alg(curve), d).map_err(opaque)?;
        let point = agreement.compute_public_key().map_err(opaque)?.as_ref().to_vec();
        let signing =
            signature::EcdsaKeyPair::from_private_key_and_public_key(ecdsa_signing_alg(curve), d, &point)
                .map_err(opaque)?;
        let public = ec_public_from_point(curve, point)?;
        Ok(EcPrivateKey { curve, d: Zeroizing::new(d.to_vec()), agreement, signing, public })
    }

    fn ec_private_to_bytes(key: &EcPrivateKey) -> Zeroizing<Vec<u8>> {
        key.d.clone()
    }

    fn ec_private_curve(key: &EcPrivateKey) -> EcCurve {
        key.curve
    }

    fn ec_public_from_private(key: &EcPrivateKey) -> EcPublicKey {
        key.public.clone()
    }

    fn ec_public_from_coordinates(curve: EcCurve, x: &[u8], y: &[u8]) -> CryptoResult<EcPublicKey> {
        let n = curve.field_len();
        if x.len() != n || y.len() != n {
            return Err(CryptoError);
        }
        let mut point = Vec::with_capacity(1 + 2 * n);
        point.push(0x04);
        point.extend_from_slice(x);
        point.extend_from_slice(y);
        ec_public_from_point(curve, point)
    }

    fn ec_public_coordinates(key: &EcPublicKey) -> (Vec<u8>, Vec<u8>) {
        let n = key.curve.field_len();
        let x = key.point.get(1..1 + n).unwrap_or_default().to_vec();
        let y = key.point.get(1 + n..).unwrap_or_default().to_vec();
        (x, y)
    }

    fn ec_public_curve(key: &EcPublicKey) -> EcCurve {
        key.curve
    }

    fn ecdh(private: &EcPrivateKey, public: &EcPublicKey) -> CryptoResult<Zeroizing<Vec<u8>>> {
        if private.curve != public.curve {
            return Err(CryptoError);
        }
        let z = agreement::agree(&private.agreement, public.agreement.clone(), CryptoError, |z| {
            Ok(Zeroizing::new(z.to_vec()))
        })?;
        if z.len() != private.curve.field_len() {
            return Err(CryptoError);
        }
        Ok(z)
    }

    fn ecdsa_sign(key: &EcPrivateKey, message: &[u8]) -> CryptoResult<Vec<u8>> {
        let rng = rand::SystemRandom::new();
        let sig = key.signing.sign(&rng, message).map_err(opaque)?;
        Ok(sig.as_ref().to_vec())
    }

    fn ecdsa_verify(key: &EcPublicKey, message: &[u8], signature: &[u8]) -> bool {
        signature.len() == 2 * key.curve.field_len() && key.verifying.verify_sig(message, signature).is_ok()
    }

    // ---- X25519 ---------------------------------------------------------------------------------

    fn x25519_generate() -> CryptoResult<X25519PrivateKey> {
        let mut d = Zeroizing::new([0u8; 32]);
        rand::fill(d.as_mut_slice()).map_err(opaque)?;
        Self::x25519_private_from_bytes(d.as_slice())
    }

    fn x25519_private_from_bytes(d: &[u8]) -> CryptoResult<X25519PrivateKey> {
        let d = Zeroizing::new(array32(d)?);
        let key =
            agreement::PrivateKey::from_private_key(&agreement::X25519, d.as_slice()).map_err(opaque)?;
        let public = array32(key.compute_public_key().map_err(opaque)?.as_ref())?;
        Ok(X25519PrivateKey { d, key, public })
    }

    fn x25519_private_to_bytes(key: &X25519PrivateKey) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(key.d.to_vec())
    }

    fn x25519_public(key: &X25519PrivateKey) -> [u8; 32] {
        key.public
    }

    fn x25519(private: &X25519PrivateKey, peer_public: &[u8]) -> CryptoResult<Zeroizing<Vec<u8>>> {
        if peer_public.len() != 32 {
            return Err(CryptoError);
        }
        let peer = agreement::UnparsedPublicKey::new(&agreement::X25519, peer_public);
        let z = agreement::agree(&private.key, peer, CryptoError, |z| Ok(Zeroizing::new(z.to_vec())))?;
        // aws-lc already fails on an all-zero result; check again, in constant time.
        let zero = [0u8; 32];
        if z.len() != 32 || constant_time::verify_slices_are_equal(&z, &zero).is_ok() {
            return Err(CryptoError);
        }
        Ok(z)
    }

    // ---- Ed25519 --------------------------------------------------------------------------------

    fn ed25519_generate() -> CryptoResult<Ed25519PrivateKey> {
        let mut seed = Zeroizing::new([0u8; 32]);
        rand::fill(seed.as_mut_slice()).map_err(opaque)?;
        Self::ed25519_private_from_seed(seed.as_slice())
    }

    fn ed25519_private_from_seed(seed: &[u8]) -> CryptoResult<Ed25519PrivateKey> {
        let seed = Zeroizing::new(array32(seed)?);
        let pair = signature::Ed25519KeyPair::from_seed_unchecked(seed.as_slice()).map_err(opaque)?;
        let public = Self::ed25519_public_from_bytes(pair.public_key().as_ref())?;
        Ok(Ed25519PrivateKey { seed, pair, public })
    }

    fn ed25519_private_to_seed(key: &Ed25519PrivateKey) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(key.seed.to_vec())
    }

    fn ed25519_public_from_private(key: &Ed25519PrivateKey) -> Ed25519PublicKey {
        key.public.clone()
    }

    fn ed25519_public_from_bytes(x: &[u8]) -> CryptoResult<Ed25519PublicKey> {
        let bytes = array32(x)?;
        let parsed = signature::ParsedPublicKey::new(&signature::ED25519, bytes).map_err(opaque)?;
        Ok(Ed25519PublicKey { bytes, parsed })
    }

    fn ed25519_public_to_bytes(key: &Ed25519PublicKey) -> [u8; 32] {
        key.bytes
    }

    fn ed25519_sign(key: &Ed25519PrivateKey, message: &[u8]) -> CryptoResult<Vec<u8>> {
        Ok(key.pair.try_sign(message).map_err(opaque)?.as_ref().to_vec())
    }

    fn ed25519_verify(key: &Ed25519PublicKey, message: &[u8], signature: &[u8]) -> bool {
        signature.len() == 64 && key.parsed.verify_sig(message, signature).is_ok()
    }

    // ---- RSA ------------------------------------------------------------------------------------

    fn rsa_generate(bits: usize) -> CryptoResult<RsaPrivateKey> {
        let size = match bits {
            2048 => rsa::KeySize::Rsa2048,
            3072 => rsa::KeySize::Rsa3072,
            4096 => rsa::KeySize::Rsa4096,
            _ => return Err(CryptoError),
        };
        rsa_private_from_pair(signature::RsaKeyPair::generate(size).map_err(opaque)?)
    }

    fn rsa_private_from_components(c: &RsaPrivateComponents) -> CryptoResult<RsaPrivateKey> {
        let components = rsa::KeyPairComponents {
            public_key: signature::RsaPublicKeyComponents {
                n: strip_leading_zeros(&c.n),
                e: strip_leading_zeros(&c.e),
            },
            d: c.d.as_slice(),
            p: c.p.as_slice(),
            q: c.q.as_slice(),
            dP: c.dp.as_slice(),
            dQ: c.dq.as_slice(),
            qInv: c.qi.as_slice(),
        };
        // aws-lc checks n = p·q, d·e ≡ 1 mod (p-1) and (q-1), and the CRT values.
        let pair = signature::RsaKeyPair::from_components(&components).map_err(opaque)?;
        rsa_private_from_pair(pair)
    }

    fn rsa_private_components(key: &RsaPrivateKey) -> RsaPrivateComponents {
        RsaPrivateComponents {
            n: key.public.n.clone(),
            e: key.public.e.clone(),
            d: key.d.clone(),
            p: key.p.clone(),
            q: key.q.clone(),
            dp: key.dp.clone(),
            dq: key.dq.clone(),
            qi: key.qi.clone(),
        }
    }

    fn rsa_public_from_private(key: &RsaPrivateKey) -> RsaPublicKey {
        key.public.clone()
    }

    fn rsa_public_from_components(n: &[u8], e: &[u8]) -> CryptoResult<RsaPublicKey> {
        rsa_public(n, e)
    }

    fn rsa_public_components(key: &RsaPublicKey) -> (Vec<u8>, Vec<u8>) {
        (key.n.clone(), key.e.clone())
    }

    fn rsa_public_bits(key: &RsaPublicKey) -> usize {
        key.bits
    }

    fn rsa_oaep_encrypt(key: &RsaPublicKey, hash: Sha, message: &[u8]) -> CryptoResult<Vec<u8>> {
        let alg = oaep_alg(hash)?;
        let key = rsa::OaepPublicEncryptingKey::new(key.encrypting.clone()).map_err(opaque)?;
        let mut out = vec![0u8; key.ciphertext_size()];
        let len = key.encrypt(alg, message, &mut out, None).map_err(opaque)?.len();
        out.truncate(len);
        Ok(out)
    }

    fn rsa_oaep_decrypt(
        key: &RsaPrivateKey,
        hash: Sha,
        ciphertext: &[u8],
    ) -> CryptoResult<Zeroizing<Vec<u8>>> {
        let alg = oaep_alg(hash)?;
        let mut out = Zeroizing::new(vec![0u8; key.oaep.min_output_size()]);
        let len = key.oaep.decrypt(alg, ciphertext, out.as_mut_slice(), None).map_err(opaque)?.len();
        out.truncate(len);
        Ok(out)
    }

    fn rsa_pkcs1v15_decrypt(key: &RsaPrivateKey, ciphertext: &[u8]) -> CryptoResult<Zeroizing<Vec<u8>>> {
        let mut out = Zeroizing::new(vec![0u8; key.pkcs1.min_output_size()]);
        let len = key.pkcs1.decrypt(ciphertext, out.as_mut_slice()).map_err(opaque)?.len();
        out.truncate(len);
        Ok(out)
    }

    fn rsa_pkcs1v15_encrypt(key: &RsaPublicKey, message: &[u8]) -> CryptoResult<Vec<u8>> {
        let key = rsa::Pkcs1PublicEncryptingKey::new(key.encrypting.clone()).map_err(opaque)?;
        let mut out = vec![0u8; key.ciphertext_size()];
        let len = key.encrypt(message, &mut out).map_err(opaque)?.len();
        out.truncate(len);
        Ok(out)
    }

    fn rsa_sign(key: &RsaPrivateKey, scheme: RsaSignature, message: &[u8]) -> CryptoResult<Vec<u8>> {
        let encoding: &'static dyn signature::RsaEncoding = match scheme {
            RsaSignature::Pkcs1Sha256 => &signature::RSA_PKCS1_SHA256,
            RsaSignature::PssSha256 => &signature::RSA_PSS_SHA256,
        };
        let rng = rand::SystemRandom::new();
        let mut sig = vec![0u8; key.pair.public_modulus_len()];
        key.pair.sign(encoding, &rng, message, &mut sig).map_err(opaque)?;
        Ok(sig)
    }

    fn rsa_verify(key: &RsaPublicKey, scheme: RsaSignature, message: &[u8], signature: &[u8]) -> bool {
        let parsed = match scheme {
            RsaSignature::Pkcs1Sha256 => &key.verify_pkcs1,
            RsaSignature::PssSha256 => &key.verify_pss,
        };
        parsed.verify_sig(message, signature).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;

    type P = AwsLc;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    fn b64u(s: &str) -> Vec<u8> {
        URL_SAFE_NO_PAD.decode(s).unwrap()
    }

    #[test]
    fn name() {
        assert_eq!(<P as CryptoProvider>::NAME, "aws-lc");
    }

    #[test]
    fn random_and_digest() {
        let mut a = [0u8; 32];
        let mut b = [0u8; 32];
        P::fill_random(&mut a).unwrap();
        P::fill_random(&mut b).unwrap();
        assert_ne!(a, b);
        // FIPS 180 "abc" vectors.
        assert_eq!(P::digest(Sha::Sha1, b"abc"), hex("a9993e364706816aba3e25717850c26c9cd0d89d"));
        assert_eq!(
            P::digest(Sha::Sha256, b"abc"),
            hex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        );
        assert_eq!(P::digest(Sha::Sha384, b"abc").len(), 48);
        assert_eq!(P::digest(Sha::Sha512, b"abc").len(), 64);
    }

    /// RFC 7518 Appendix C: ECDH-ES on P-256 (Alice's ephemeral d × Bob's public = Z) + Concat KDF.
    #[test]
    fn rfc7518_c_ecdh_es_p256_concat_kdf() {
        let alice_d = b64u("0_NxaRPUMQoAJt50Gz8YiTr8gRTwyEaCumd-MToTmIo");
        let alice_x = b64u("gI0GAILBdu7T53akrFmMyGcsF3n5dO7MmwNBHKW5SV0");
        let alice_y = b64u("SLW_xSffzlPWrHEVI30DHM_4egVwt3NQqeUD7nMFpps");
        let bob_d = b64u("VEmDZpDXXK8p8N0Cndsxs924q6nS1RXFASRl6BfUqdw");
        let bob_x = b64u("weNJy2HscCSM6AEDTDg04biOvhFhyyWvOHQfeF_PxMQ");
        let bob_y = b64u("e8lnCO-AlStT-NJVX-crhB7QRYhiix03illJOVAOyck");
        let z_expected = hex("9e56d91d817135d372834283bf84269cfb316ea3da806a48f6daa7798cfe90c4");

        let alice = P::ec_private_from_bytes(EcCurve::P256, &alice_d).unwrap();
        assert_eq!(P::ec_private_curve(&alice), EcCurve::P256);
        assert_eq!(
            P::ec_public_coordinates(&P::ec_public_from_private(&alice)),
            (alice_x.clone(), alice_y.clone())
        );
        assert_eq!(P::ec_private_to_bytes(&alice).as_slice(), alice_d.as_slice());
        let bob_pub = P::ec_public_from_coordinates(EcCurve::P256, &bob_x, &bob_y).unwrap();
        assert_eq!(P::ec_public_curve(&bob_pub), EcCurve::P256);
        let z = P::ecdh(&alice, &bob_pub).unwrap();
        assert_eq!(z.as_slice(), z_expected.as_slice());

        // And the other way round.
        let bob = P::ec_private_from_bytes(EcCurve::P256, &bob_d).unwrap();
        let alice_pub = P::ec_public_from_coordinates(EcCurve::P256, &alice_x, &alice_y).unwrap();
        assert_eq!(P::ecdh(&bob, &alice_pub).unwrap().as_slice(), z_expected.as_slice());

        let other_info = b64u("AAAAB0ExMjhHQ00AAAAFQWxpY2UAAAADQm9iAAAAgA");
        let mut cek = [0u8; 16];
        P::concat_kdf_sha256(&z, &other_info, &mut cek).unwrap();
        assert_eq!(cek.to_vec(), b64u("VqqN6vgjbSBcIijNcacQGg"));
    }

    /// RFC 8037 A.6 (keys from RFC 7748 §6.1).
    #[test]
    fn rfc8037_a6_x25519() {
        let eph_d = hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
        let eph_pub = hex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
        let bob_d = b64u("XasIfmJKikt54X-Lg4AO5m87sSkmGLb9HC-LJ_-I4Os");
        let bob_pub = hex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
        let z_expected = hex("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");

        let eph = P::x25519_private_from_bytes(&eph_d).unwrap();
        assert_eq!(P::x25519_public(&eph).to_vec(), eph_pub);
        assert_eq!(P::x25519_private_to_bytes(&eph).as_slice(), eph_d.as_slice());
        assert_eq!(P::x25519(&eph, &bob_pub).unwrap().as_slice(), z_expected.as_slice());

        let bob = P::x25519_private_from_bytes(&bob_d).unwrap();
        assert_eq!(P::x25519_public(&bob).to_vec(), bob_pub);
        assert_eq!(P::x25519(&bob, &eph_pub).unwrap().as_slice(), z_expected.as_slice());

        // Wrong lengths and small-order peers.
        assert!(P::x25519_private_from_bytes(&eph_d[..31]).is_err());
        assert!(P::x25519(&eph, &bob_pub[..31]).is_err());
        assert!(P::x25519(&eph, &[0u8; 32]).is_err());
        let mut one = [0u8; 32];
        one[0] = 1;
        assert!(P::x25519(&eph, &one).is_err());

        let a = P::x25519_generate().unwrap();
        let b = P::x25519_generate().unwrap();
        let ab = P::x25519(&a, &P::x25519_public(&b)).unwrap();
        let ba = P::x25519(&b, &P::x25519_public(&a)).unwrap();
        assert_eq!(ab.as_slice(), ba.as_slice());
    }

    /// RFC 3394 §4.1, §4.4, §4.6.
    #[test]
    fn rfc3394_aes_key_wrap() {
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
            assert_eq!(P::aes_kw_unwrap(&kek, &wrapped).unwrap().as_slice(), key.as_slice());
            let mut tampered = wrapped.clone();
            tampered[5] ^= 1;
            assert!(P::aes_kw_unwrap(&kek, &tampered).is_err());
            assert!(P::aes_kw_unwrap(&kek, &wrapped[..wrapped.len() - 8]).is_err() || key.len() == 16);
            assert!(P::aes_kw_unwrap(&kek, &wrapped[..wrapped.len() - 1]).is_err());
            assert!(P::aes_kw_wrap(&kek, &key[..key.len() - 1]).is_err());
        }
        assert!(P::aes_kw_wrap(&[0u8; 20], &[0u8; 16]).is_err());
        assert!(P::aes_kw_unwrap(&[0u8; 16], &[0u8; 16]).is_err());
        assert!(P::aes_kw_wrap(&[0u8; 16], &[0u8; 8]).is_err());
    }

    /// RFC 7518 B.1 (A128CBC-HS256) pieces: the CBC ciphertext E and the truncated MAC T.
    #[test]
    fn rfc7518_b1_cbc_and_hmac() {
        let mac_key = hex("000102030405060708090a0b0c0d0e0f");
        let enc_key = hex("101112131415161718191a1b1c1d1e1f");
        let p = b"A cipher system must not be required to be secret, and it must be able to fall into the hands of the enemy without inconvenience";
        let iv = hex("1af38c2dc2b96ffdd86694092341bc04");
        let a = b"The second principle of Auguste Kerckhoffs";
        let al = hex("0000000000000150");
        let e = hex(
            "c80edfa32ddf39d5ef00c0b468834279a2e46a1b8049f792f76bfe54b903a9c9a94ac9b47ad2655c5f10f9aef71427e2\
             fc6f9b3f399a221489f16362c703233609d45ac69864e3321cf82935ac4096c86e133314c54019e8ca7980dfa4b9cf1b\
             384c486f3a54c51078158ee5d79de59fbd34d848b3d69550a67646344427ade54b8851ffb598f7f80074b9473c82e2db",
        );
        let m = hex("652c3fa36b0a7c5b3219fab3a30bc1c4e6e54582476515f0ad9f75a2b71c73ef");
        let t = hex("652c3fa36b0a7c5b3219fab3a30bc1c4");

        assert_eq!(P::aes_cbc_encrypt(&enc_key, &iv, p).unwrap(), e);
        assert_eq!(P::aes_cbc_decrypt(&enc_key, &iv, &e).unwrap().as_slice(), p.as_slice());

        let mac_input = [a.as_slice(), &iv, &e, &al].concat();
        assert_eq!(P::hmac_sign(Sha::Sha256, &mac_key, &mac_input).unwrap(), m);
        assert!(P::hmac_verify_truncated(Sha::Sha256, &mac_key, &mac_input, &t));
        assert!(P::hmac_verify_truncated(Sha::Sha256, &mac_key, &mac_input, &m));
        let mut flipped = t.clone();
        flipped[15] ^= 0x80;
        assert!(!P::hmac_verify_truncated(Sha::Sha256, &mac_key, &mac_input, &flipped));
        assert!(!P::hmac_verify_truncated(Sha::Sha256, &mac_key, &mac_input, &[]));
        assert!(!P::hmac_verify_truncated(Sha::Sha256, &mac_key, &mac_input, &[m.clone(), vec![0]].concat()));
        assert!(!P::hmac_verify_truncated(Sha::Sha1, &mac_key, &mac_input, &t));
        assert!(P::hmac_sign(Sha::Sha1, &mac_key, &mac_input).is_err());
        assert_eq!(P::hmac_sign(Sha::Sha384, &mac_key, b"").unwrap().len(), 48);
        assert_eq!(P::hmac_sign(Sha::Sha512, &mac_key, b"").unwrap().len(), 64);

        // CBC error paths.
        assert!(P::aes_cbc_encrypt(&enc_key, &iv[..15], p).is_err());
        assert!(P::aes_cbc_encrypt(&enc_key[..15], &iv, p).is_err());
        assert!(P::aes_cbc_decrypt(&enc_key, &iv, &e[..e.len() - 1]).is_err());
        assert!(P::aes_cbc_decrypt(&enc_key, &iv, &[]).is_err());
        for len in [16, 24, 32] {
            let key = vec![7u8; len];
            for n in [0usize, 1, 15, 16, 17, 100] {
                let msg = vec![0x42u8; n];
                let ct = P::aes_cbc_encrypt(&key, &iv, &msg).unwrap();
                assert_eq!(ct.len(), (n / 16 + 1) * 16);
                assert_eq!(P::aes_cbc_decrypt(&key, &iv, &ct).unwrap().as_slice(), msg.as_slice());
            }
        }
    }

    #[test]
    fn aes_gcm_round_trip_and_tamper() {
        // NIST GCM test case 2 (AES-128, zero key/IV, one zero block).
        let (ct, tag) = P::aes_gcm_encrypt(&[0u8; 16], &[0u8; 12], b"", &[0u8; 16]).unwrap();
        assert_eq!(ct, hex("0388dace60b6a392f328c2b971b2fe78"));
        assert_eq!(tag.to_vec(), hex("ab6e47d42cec13bdf53a67b21257bddf"));

        for len in [16, 24, 32] {
            let mut key = vec![0u8; len];
            P::fill_random(&mut key).unwrap();
            let iv = [9u8; 12];
            let (ct, tag) = P::aes_gcm_encrypt(&key, &iv, b"aad", b"hello world").unwrap();
            assert_eq!(P::aes_gcm_decrypt(&key, &iv, b"aad", &ct, &tag).unwrap().as_slice(), b"hello world");
            let mut bad_ct = ct.clone();
            bad_ct[0] ^= 1;
            assert!(P::aes_gcm_decrypt(&key, &iv, b"aad", &bad_ct, &tag).is_err());
            let mut bad_tag = tag;
            bad_tag[15] ^= 1;
            assert!(P::aes_gcm_decrypt(&key, &iv, b"aad", &ct, &bad_tag).is_err());
            assert!(P::aes_gcm_decrypt(&key, &iv, b"aaD", &ct, &tag).is_err());
            assert!(P::aes_gcm_decrypt(&key, &iv, b"aad", &ct, &tag[..12]).is_err());
            assert!(P::aes_gcm_encrypt(&key, &[0u8; 11], b"", b"x").is_err());
            assert!(P::aes_gcm_decrypt(&key, &[9u8; 11], b"aad", &ct, &tag).is_err());
            assert!(P::aes_gcm_decrypt(&key, &[9u8; 13], b"aad", &ct, &tag).is_err());
        }
        assert!(P::aes_gcm_encrypt(&[0u8; 17], &[0u8; 12], b"", b"x").is_err());
    }

    #[test]
    fn ec_generate_sign_verify_export_import() {
        let mut previous: Option<(EcCurve, EcPublicKey)> = None;
        for curve in [EcCurve::P256, EcCurve::P384, EcCurve::P521] {
            let key = P::ec_generate(curve).unwrap();
            assert_eq!(P::ec_private_curve(&key), curve);
            let public = P::ec_public_from_private(&key);
            assert_eq!(P::ec_public_curve(&public), curve);

            let sig = P::ecdsa_sign(&key, b"message").unwrap();
            assert_eq!(sig.len(), 2 * curve.field_len());
            assert!(P::ecdsa_verify(&public, b"message", &sig));
            assert!(!P::ecdsa_verify(&public, b"messagf", &sig));
            assert!(!P::ecdsa_verify(&public, b"message", &sig[1..]));
            let mut bad = sig.clone();
            bad[3] ^= 1;
            assert!(!P::ecdsa_verify(&public, b"message", &bad));

            // Export / import round trip.
            let d = P::ec_private_to_bytes(&key);
            assert_eq!(d.len(), curve.field_len());
            let (x, y) = P::ec_public_coordinates(&public);
            assert_eq!((x.len(), y.len()), (curve.field_len(), curve.field_len()));
            let key2 = P::ec_private_from_bytes(curve, &d).unwrap();
            assert_eq!(P::ec_public_coordinates(&P::ec_public_from_private(&key2)), (x.clone(), y.clone()));
            let public2 = P::ec_public_from_coordinates(curve, &x, &y).unwrap();
            assert!(P::ecdsa_verify(&public2, b"message", &sig));
            assert!(P::ecdsa_verify(&public2, b"other", &P::ecdsa_sign(&key2, b"other").unwrap()));

            // Off-curve point, wrong lengths, out-of-range coordinate, bad scalars.
            let mut y_bad = y.clone();
            y_bad[curve.field_len() - 1] ^= 1;
            assert!(P::ec_public_from_coordinates(curve, &x, &y_bad).is_err());
            assert!(P::ec_public_from_coordinates(curve, &x[1..], &y).is_err());
            assert!(P::ec_public_from_coordinates(curve, &x, &[y.clone(), vec![0]].concat()).is_err());
            let ff = vec![0xffu8; curve.field_len()];
            assert!(P::ec_public_from_coordinates(curve, &ff, &y).is_err());
            let zero = vec![0u8; curve.field_len()];
            assert!(P::ec_public_from_coordinates(curve, &zero, &zero).is_err());
            assert!(P::ec_private_from_bytes(curve, &zero).is_err());
            assert!(P::ec_private_from_bytes(curve, &ff).is_err());
            assert!(P::ec_private_from_bytes(curve, &d[1..]).is_err());

            // ECDH both ways.
            let other = P::ec_generate(curve).unwrap();
            let other_pub = P::ec_public_from_private(&other);
            let z1 = P::ecdh(&key, &other_pub).unwrap();
            let z2 = P::ecdh(&other, &public).unwrap();
            assert_eq!(z1.len(), curve.field_len());
            assert_eq!(z1.as_slice(), z2.as_slice());

            // Curve mismatch.
            if let Some((prev_curve, prev_pub)) = &previous {
                assert_ne!(*prev_curve, curve);
                assert!(P::ecdh(&key, prev_pub).is_err());
                assert!(!P::ecdsa_verify(prev_pub, b"message", &sig));
            }
            previous = Some((curve, public));
        }
    }

    /// The P-256 group order n: n itself and n-1 as private scalars.
    #[test]
    fn ec_scalar_range() {
        let n = hex("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551");
        assert!(P::ec_private_from_bytes(EcCurve::P256, &n).is_err());
        let mut n_minus_1 = n.clone();
        n_minus_1[31] -= 1;
        assert!(P::ec_private_from_bytes(EcCurve::P256, &n_minus_1).is_ok());
        let mut one = vec![0u8; 32];
        one[31] = 1;
        assert!(P::ec_private_from_bytes(EcCurve::P256, &one).is_ok());
    }

    /// RFC 8032 §7.1 test 1.
    #[test]
    fn rfc8032_ed25519_test1() {
        let seed = hex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
        let public = hex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
        let sig = hex(
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46b\
             d25bf5f0595bbe24655141438e7a100b",
        );
        let key = P::ed25519_private_from_seed(&seed).unwrap();
        assert_eq!(P::ed25519_private_to_seed(&key).as_slice(), seed.as_slice());
        let pk = P::ed25519_public_from_private(&key);
        assert_eq!(P::ed25519_public_to_bytes(&pk).to_vec(), public);
        assert_eq!(P::ed25519_sign(&key, b"").unwrap(), sig);

        let pk2 = P::ed25519_public_from_bytes(&public).unwrap();
        assert!(P::ed25519_verify(&pk2, b"", &sig));
        assert!(!P::ed25519_verify(&pk2, b"x", &sig));
        assert!(!P::ed25519_verify(&pk2, b"", &sig[..63]));
        let mut bad = sig.clone();
        bad[0] ^= 1;
        assert!(!P::ed25519_verify(&pk2, b"", &bad));
        assert!(P::ed25519_public_from_bytes(&public[..31]).is_err());
        assert!(P::ed25519_private_from_seed(&seed[..31]).is_err());

        let gen = P::ed25519_generate().unwrap();
        let gen_pk = P::ed25519_public_from_private(&gen);
        let s = P::ed25519_sign(&gen, b"hi").unwrap();
        assert!(P::ed25519_verify(&gen_pk, b"hi", &s));
        assert!(!P::ed25519_verify(&pk2, b"hi", &s));
        let again = P::ed25519_private_from_seed(&P::ed25519_private_to_seed(&gen)).unwrap();
        assert_eq!(P::ed25519_sign(&again, b"hi").unwrap(), s);
    }

    #[test]
    fn rsa_2048() {
        let key = P::rsa_generate(2048).unwrap();
        let public = P::rsa_public_from_private(&key);
        assert_eq!(P::rsa_public_bits(&public), 2048);
        let (n, e) = P::rsa_public_components(&public);
        assert_eq!(e, vec![1, 0, 1]);
        assert_eq!(n.len(), 256);

        for hash in [Sha::Sha1, Sha::Sha256] {
            let ct = P::rsa_oaep_encrypt(&public, hash, b"content encryption key").unwrap();
            assert_eq!(ct.len(), 256);
            assert_eq!(P::rsa_oaep_decrypt(&key, hash, &ct).unwrap().as_slice(), b"content encryption key");
            let mut bad = ct.clone();
            bad[10] ^= 1;
            assert!(P::rsa_oaep_decrypt(&key, hash, &bad).is_err());
            assert!(P::rsa_oaep_decrypt(&key, hash, &ct[1..]).is_err());
        }
        let ct = P::rsa_oaep_encrypt(&public, Sha::Sha1, b"k").unwrap();
        assert!(P::rsa_oaep_decrypt(&key, Sha::Sha256, &ct).is_err());
        assert!(P::rsa_oaep_encrypt(&public, Sha::Sha512, b"k").is_err());

        let ct = P::rsa_pkcs1v15_encrypt(&public, b"legacy key").unwrap();
        assert_eq!(P::rsa_pkcs1v15_decrypt(&key, &ct).unwrap().as_slice(), b"legacy key");

        for scheme in [RsaSignature::Pkcs1Sha256, RsaSignature::PssSha256] {
            let sig = P::rsa_sign(&key, scheme, b"payload").unwrap();
            assert_eq!(sig.len(), 256);
            assert!(P::rsa_verify(&public, scheme, b"payload", &sig));
            assert!(!P::rsa_verify(&public, scheme, b"payloaD", &sig));
            assert!(!P::rsa_verify(&public, scheme, b"payload", &sig[1..]));
        }
        let rs = P::rsa_sign(&key, RsaSignature::Pkcs1Sha256, b"payload").unwrap();
        assert!(!P::rsa_verify(&public, RsaSignature::PssSha256, b"payload", &rs));
        // RS256 is deterministic.
        assert_eq!(P::rsa_sign(&key, RsaSignature::Pkcs1Sha256, b"payload").unwrap(), rs);

        // Components export -> import.
        let c = P::rsa_private_components(&key);
        assert_eq!(c.n, n);
        assert_eq!(c.p.len() + c.q.len(), 256);
        let key2 = P::rsa_private_from_components(&c).unwrap();
        let ct = P::rsa_oaep_encrypt(&public, Sha::Sha256, b"again").unwrap();
        assert_eq!(P::rsa_oaep_decrypt(&key2, Sha::Sha256, &ct).unwrap().as_slice(), b"again");
        assert_eq!(P::rsa_sign(&key2, RsaSignature::Pkcs1Sha256, b"payload").unwrap(), rs);
        let public2 = P::rsa_public_from_components(&n, &e).unwrap();
        assert!(P::rsa_verify(&public2, RsaSignature::Pkcs1Sha256, b"payload", &rs));
        let ct = P::rsa_oaep_encrypt(&public2, Sha::Sha1, b"third").unwrap();
        assert_eq!(P::rsa_oaep_decrypt(&key, Sha::Sha1, &ct).unwrap().as_slice(), b"third");
        // Leading zero on n is tolerated.
        assert!(P::rsa_public_from_components(&[vec![0], n.clone()].concat(), &e).is_ok());

        // Inconsistent components are rejected.
        let mut broken = P::rsa_private_components(&key);
        let last = broken.dp.len() - 1;
        broken.dp[last] ^= 2;
        assert!(P::rsa_private_from_components(&broken).is_err());
        let mut broken = P::rsa_private_components(&key);
        broken.n[100] ^= 1;
        assert!(P::rsa_private_from_components(&broken).is_err());

        // Bad public keys: too short, even / unit exponent.
        assert!(P::rsa_public_from_components(&n[..128], &e).is_err());
        assert!(P::rsa_public_from_components(&n, &[1]).is_err());
        assert!(P::rsa_public_from_components(&n, &[1, 0, 0]).is_err());
        assert!(P::rsa_public_from_components(&[], &e).is_err());

        // Unsupported sizes.
        assert!(P::rsa_generate(1024).is_err());
        assert!(P::rsa_generate(2047).is_err());
    }

    /// RFC 7914 §11: PBKDF2-HMAC-SHA256, P="passwd", S="salt", c=1, dkLen=64.
    #[test]
    fn rfc7914_pbkdf2_sha256() {
        let mut out = [0u8; 64];
        P::pbkdf2(Sha::Sha256, b"passwd", b"salt", 1, &mut out).unwrap();
        assert_eq!(
            out.to_vec(),
            hex("55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc\
                 49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783")
        );
        assert!(P::pbkdf2(Sha::Sha256, b"passwd", b"salt", 0, &mut out).is_err());
        assert!(P::pbkdf2(Sha::Sha1, b"passwd", b"salt", 1, &mut out).is_err());
        let mut short = [0u8; 16];
        P::pbkdf2(Sha::Sha384, b"p", b"s", 10, &mut short).unwrap();
        P::pbkdf2(Sha::Sha512, b"p", b"s", 10, &mut short).unwrap();
    }
}
