//! Key management (RFC 7518 §4): how the content encryption key (CEK) reaches each recipient.
//!
//! On the decryption side every failure after header parsing is [`Error::DecryptionFailed`].

use serde_json::{Map, Value};
use zeroize::Zeroizing;

use super::{sha_for_bits, ContentEncryptionAlg, KeyManagementAlg};
use crate::b64;
use crate::crypto::{keys, CryptoProvider, Provider as P, Sha};
use crate::error::{Error, LimitExceeded, Result};
use crate::jwk::{Jwk, KeyMaterial, PublicKeyUse};

/// Iteration count used when jwe-mint itself encrypts with PBES2 and the caller set none.
pub const PBES2_DEFAULT_ITERATIONS: u32 = 10_000;
/// Smallest PBES2 salt input accepted (RFC 7518 §4.8.1.1).
const PBES2_MIN_SALT: usize = 8;

/// Checks that `key` has the type (and size) `alg` needs and is not pinned to another alg.
/// `need_private` is true on the decryption side.
pub(crate) fn check_key(
    alg: KeyManagementAlg,
    enc: ContentEncryptionAlg,
    key: &Jwk,
    need_private: bool,
) -> Result<()> {
    use KeyManagementAlg::*;
    if let Some(pinned) = key.alg() {
        // A `dir` key is the CEK itself, so its `alg` may name the content encryption algorithm
        // it is for (RFC 7520 §5.6.1 pins such a key to "A128GCM").
        let dir_for_enc = alg == Dir && pinned == enc.name();
        if pinned != alg.name() && !dir_for_enc {
            return Err(Error::NoMatchingKey(format!(
                "key is for `{}`, not `{}`",
                crate::untrusted::name(pinned),
                alg
            )));
        }
    }
    key.check_usable_for(&PublicKeyUse::Encryption)?;
    // The provider's refusal is about its own RSA code: a key in a token decrypts there.
    let in_token = matches!(&*key.material, KeyMaterial::Rsa { private: Some(d), .. } if d.is_external());
    if let (true, Some(reason)) =
        (need_private && !in_token && matches!(alg, Rsa1_5 | RsaOaep | RsaOaep256), P::RSA_DECRYPTION_REFUSED)
    {
        return Err(Error::RefusedByProvider { provider: P::NAME, reason });
    }
    // RSA1_5 with a key in a token: refused before the token is asked (see `keys::rsa1_5_refusal`).
    if let (true, Rsa1_5, KeyMaterial::Rsa { private: Some(d), .. }) = (need_private, alg, &*key.material) {
        if let Some(reason) = keys::rsa1_5_refusal(d) {
            return Err(Error::Pkcs11(reason));
        }
    }
    let ok = match (&*key.material, alg) {
        (KeyMaterial::Rsa { private, .. }, Rsa1_5 | RsaOaep | RsaOaep256) => {
            !need_private || private.is_some()
        }
        (KeyMaterial::Ec { private, .. }, _) if alg.is_ecdh_es() => !need_private || private.is_some(),
        (KeyMaterial::X25519 { private, .. }, _) if alg.is_ecdh_es() => !need_private || private.is_some(),
        (KeyMaterial::Oct(k), Dir) => k.len() == enc.key_len(),
        (KeyMaterial::Oct(k), _) if alg.is_pbes2() => !k.is_empty(),
        (KeyMaterial::Oct(k), A128Kw | A192Kw | A256Kw | A128GcmKw | A192GcmKw | A256GcmKw) => {
            Some(k.len()) == alg.wrap_key_len()
        }
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(Error::NoMatchingKey(format!(
            "a {} key{} does not fit `{alg}`",
            key.kty(),
            if need_private { " (private)" } else { "" }
        )))
    }
}

/// Encryption side, direct modes (`dir`, `ECDH-ES`): returns the CEK and adds header parameters
/// (`epk`) to `params_out`.
pub(crate) fn derive_direct_cek(
    alg: KeyManagementAlg,
    enc: ContentEncryptionAlg,
    key: &Jwk,
    header: &Map<String, Value>,
    params_out: &mut Map<String, Value>,
) -> Result<Zeroizing<Vec<u8>>> {
    match (alg, &*key.material) {
        (KeyManagementAlg::Dir, KeyMaterial::Oct(k)) if k.len() == enc.key_len() => {
            Ok(Zeroizing::new(k.to_vec()))
        }
        (KeyManagementAlg::EcdhEs, _) => ecdh_es_sender(key, enc.name(), enc.key_len(), header, params_out),
        _ => Err(Error::NoMatchingKey(format!("a {} key does not fit `{alg}`", key.kty()))),
    }
}

/// Encryption side, wrapping modes: wraps `cek` for `key`, adding header parameters
/// (`epk`, `iv`/`tag`, `p2s`/`p2c`) to `params_out`. Returns the JWE Encrypted Key.
pub(crate) fn wrap_cek(
    alg: KeyManagementAlg,
    key: &Jwk,
    cek: &[u8],
    header: &Map<String, Value>,
    params_out: &mut Map<String, Value>,
) -> Result<Vec<u8>> {
    use KeyManagementAlg::*;
    let fail = |what: &'static str| move |_| Error::Crypto(what);
    match (alg, &*key.material) {
        (RsaOaep | RsaOaep256, KeyMaterial::Rsa { public, .. }) => {
            let sha = if alg == RsaOaep { Sha::Sha1 } else { Sha::Sha256 };
            P::rsa_oaep_encrypt(public, sha, cek).map_err(fail("RSA-OAEP encryption"))
        }
        (Rsa1_5, _) => Err(Error::AlgorithmNotAllowed("RSA1_5 is decrypt-only (legacy)".into())),
        (A128Kw | A192Kw | A256Kw, KeyMaterial::Oct(kek)) => {
            P::aes_kw_wrap(kek, cek).map_err(fail("AES key wrap"))
        }
        (A128GcmKw | A192GcmKw | A256GcmKw, KeyMaterial::Oct(kek)) => {
            let mut iv = [0u8; 12];
            P::fill_random(&mut iv).map_err(fail("random source"))?;
            let (wrapped, tag) = P::aes_gcm_encrypt(kek, &iv, &[], cek).map_err(fail("AES-GCM key wrap"))?;
            params_out.insert("iv".into(), b64::encode(&iv).into());
            params_out.insert("tag".into(), b64::encode(&tag).into());
            Ok(wrapped)
        }
        (EcdhEsA128Kw | EcdhEsA192Kw | EcdhEsA256Kw, _) => {
            let kek_len = alg.wrap_key_len().ok_or(Error::Crypto("key wrap length"))?;
            let kek = ecdh_es_sender(key, alg.name(), kek_len, header, params_out)?;
            P::aes_kw_wrap(&kek, cek).map_err(fail("AES key wrap"))
        }
        (_, KeyMaterial::Oct(password)) if alg.is_pbes2() => {
            let p2c = match header.get("p2c") {
                None => PBES2_DEFAULT_ITERATIONS,
                Some(v) => v
                    .as_u64()
                    .and_then(|c| u32::try_from(c).ok())
                    .filter(|c| *c > 0)
                    .ok_or_else(|| Error::malformed("`p2c` must be a positive integer"))?,
            };
            let mut salt = [0u8; 16];
            P::fill_random(&mut salt).map_err(fail("random source"))?;
            let kek = pbes2_kek(alg, password, &salt, p2c)?;
            params_out.insert("p2s".into(), b64::encode(&salt).into());
            params_out.insert("p2c".into(), p2c.into());
            P::aes_kw_wrap(&kek, cek).map_err(fail("AES key wrap"))
        }
        _ => Err(Error::NoMatchingKey(format!("a {} key does not fit `{alg}`", key.kty()))),
    }
}

/// Limits applied while recovering a CEK.
pub(crate) struct UnwrapLimits {
    pub allow_rsa1_5: bool,
    pub pbes2_max_iterations: Option<u32>,
}

/// Decryption side: recovers the CEK from `encrypted_key` using the recipient's private `key`
/// and the merged JOSE header. `check_key` must have passed.
pub(crate) fn decrypt_cek(
    alg: KeyManagementAlg,
    enc: ContentEncryptionAlg,
    key: &Jwk,
    header: &Map<String, Value>,
    encrypted_key: &[u8],
    limits: &UnwrapLimits,
) -> Result<Zeroizing<Vec<u8>>> {
    use KeyManagementAlg::*;
    // RFC 7516 §5.2 step 10/11: `encrypted_key` must be empty for the direct modes.
    if alg.wraps_cek() == encrypted_key.is_empty() {
        return Err(Error::DecryptionFailed);
    }
    let df = |_| Error::DecryptionFailed;
    let cek = match (alg, &*key.material) {
        (Dir, KeyMaterial::Oct(k)) => Zeroizing::new(k.to_vec()),
        (EcdhEs, _) => ecdh_es_recipient(key, enc.name(), enc.key_len(), header)?,
        (RsaOaep | RsaOaep256, KeyMaterial::Rsa { private: Some(d), .. }) => {
            let sha = if alg == RsaOaep { Sha::Sha1 } else { Sha::Sha256 };
            keys::rsa_oaep_decrypt(d, sha, encrypted_key)
                .map_err(|e| e.into_error(Error::DecryptionFailed))?
        }
        (Rsa1_5, KeyMaterial::Rsa { private: Some(d), .. }) => {
            if !limits.allow_rsa1_5 {
                return Err(Error::AlgorithmNotAllowed("RSA1_5 needs the legacy opt-in".into()));
            }
            // RFC 7516 §11.5 / RFC 3218: on any unwrap failure continue with a random CEK, so
            // padding errors are indistinguishable from tag errors.
            let mut random = Zeroizing::new(vec![0u8; enc.key_len()]);
            P::fill_random(&mut random).map_err(|_| Error::DecryptionFailed)?;
            match keys::rsa_pkcs1v15_decrypt(d, encrypted_key) {
                Ok(k) if k.len() == enc.key_len() => k,
                _ => random,
            }
        }
        (A128Kw | A192Kw | A256Kw, KeyMaterial::Oct(kek)) => {
            P::aes_kw_unwrap(kek, encrypted_key).map_err(df)?
        }
        (A128GcmKw | A192GcmKw | A256GcmKw, KeyMaterial::Oct(kek)) => {
            let iv = b64_header(header, "iv")?;
            let tag = b64_header(header, "tag")?;
            if iv.len() != 12 || tag.len() != 16 {
                return Err(Error::DecryptionFailed);
            }
            P::aes_gcm_decrypt(kek, &iv, &[], encrypted_key, &tag).map_err(df)?
        }
        (EcdhEsA128Kw | EcdhEsA192Kw | EcdhEsA256Kw, _) => {
            let kek_len = alg.wrap_key_len().ok_or(Error::DecryptionFailed)?;
            let kek = ecdh_es_recipient(key, alg.name(), kek_len, header)?;
            P::aes_kw_unwrap(&kek, encrypted_key).map_err(df)?
        }
        (_, KeyMaterial::Oct(password)) if alg.is_pbes2() => {
            let Some(max) = limits.pbes2_max_iterations else {
                return Err(Error::AlgorithmNotAllowed("PBES2 needs an explicit opt-in".into()));
            };
            let p2c = match header.get("p2c") {
                Some(Value::Number(n)) => {
                    n.as_u64().ok_or_else(|| Error::malformed("`p2c` must be a positive integer"))?
                }
                Some(_) => return Err(Error::malformed("`p2c` must be a positive integer")),
                None => return Err(Error::malformed("missing `p2c`")),
            };
            if p2c == 0 {
                return Err(Error::malformed("`p2c` must be a positive integer"));
            }
            if p2c > u64::from(max) {
                return Err(LimitExceeded::Pbes2IterationsTooHigh { max }.into());
            }
            let salt = b64_header(header, "p2s").map_err(|_| Error::malformed("`p2s` is not base64url"))?;
            if salt.len() < PBES2_MIN_SALT {
                // RFC 7518 §4.8.1.1: the salt input is at least 8 octets.
                return Err(Error::malformed("PBES2 `p2s` shorter than 8 bytes"));
            }
            let kek = pbes2_kek(alg, password, &salt, p2c as u32).map_err(|_| Error::DecryptionFailed)?;
            P::aes_kw_unwrap(&kek, encrypted_key).map_err(df)?
        }
        _ => return Err(Error::DecryptionFailed),
    };
    if cek.len() != enc.key_len() {
        return Err(Error::DecryptionFailed);
    }
    Ok(cek)
}

fn b64_header(header: &Map<String, Value>, name: &str) -> Result<Vec<u8>> {
    match header.get(name) {
        Some(Value::String(s)) => b64::decode(s, name).map_err(|_| Error::DecryptionFailed),
        _ => Err(Error::DecryptionFailed),
    }
}

/// PBES2 (RFC 7518 §4.8): KEK = PBKDF2(password, UTF8(alg) || 0x00 || p2s, p2c).
fn pbes2_kek(alg: KeyManagementAlg, password: &[u8], salt: &[u8], p2c: u32) -> Result<Zeroizing<Vec<u8>>> {
    let kek_len = alg.wrap_key_len().ok_or(Error::Crypto("PBES2"))?;
    let mut salt_input = Vec::with_capacity(alg.name().len() + 1 + salt.len());
    salt_input.extend_from_slice(alg.name().as_bytes());
    salt_input.push(0);
    salt_input.extend_from_slice(salt);
    let mut kek = Zeroizing::new(vec![0u8; kek_len]);
    P::pbkdf2(sha_for_bits(kek_len * 16), password, &salt_input, p2c, &mut kek)
        .map_err(|_| Error::Crypto("PBKDF2"))?;
    Ok(kek)
}

/// Sender side of ECDH-ES: fresh ephemeral key on the recipient's curve, `epk` into the header.
fn ecdh_es_sender(
    recipient: &Jwk,
    algorithm_id: &str,
    key_len: usize,
    header: &Map<String, Value>,
    params_out: &mut Map<String, Value>,
) -> Result<Zeroizing<Vec<u8>>> {
    let fail = |_| Error::Crypto("ECDH-ES key agreement");
    let (z, epk) = match &*recipient.material {
        KeyMaterial::Ec { public, .. } => {
            let crate::crypto::EphemeralAgreement { z, x, y } = P::ecdh_ephemeral(public).map_err(fail)?;
            let crv = crate::jwk::Curve::from_ec(P::ec_public_curve(public)).name();
            (z, serde_json::json!({"kty": "EC", "crv": crv, "x": b64::encode(&x), "y": b64::encode(&y)}))
        }
        KeyMaterial::X25519 { public, .. } => {
            let eph = P::x25519_generate().map_err(fail)?;
            let z = P::x25519(&eph, public).map_err(fail)?;
            let epk =
                serde_json::json!({"kty": "OKP", "crv": "X25519", "x": b64::encode(&P::x25519_public(&eph))});
            (z, epk)
        }
        _ => return Err(Error::NoMatchingKey(format!("a {} key does not fit ECDH-ES", recipient.kty()))),
    };
    let (apu, apv) =
        party_info(header).map_err(|_| Error::malformed("`apu`/`apv` must be base64url strings"))?;
    params_out.insert("epk".into(), epk);
    concat_kdf(&z, algorithm_id, &apu, &apv, key_len).map_err(|_| Error::Crypto("Concat KDF"))
}

/// Recipient side of ECDH-ES: validates `epk` (right type, on the recipient's curve, public only).
fn ecdh_es_recipient(
    key: &Jwk,
    algorithm_id: &str,
    key_len: usize,
    header: &Map<String, Value>,
) -> Result<Zeroizing<Vec<u8>>> {
    let Some(Value::Object(epk)) = header.get("epk") else {
        return Err(Error::DecryptionFailed);
    };
    if epk.contains_key("d") {
        return Err(Error::DecryptionFailed);
    }
    // The epk is used straight from its members: the provider validates the point during the
    // agreement (on the curve, not the identity), and kty/crv must match the recipient's key.
    let member = |name: &str| match epk.get(name) {
        Some(Value::String(s)) => Ok(s.as_str()),
        _ => Err(Error::DecryptionFailed),
    };
    let coordinate = |name: &str, len: usize| {
        let bytes = b64::decode(member(name)?, name).map_err(|_| Error::DecryptionFailed)?;
        if bytes.len() == len {
            Ok(bytes)
        } else {
            Err(Error::DecryptionFailed)
        }
    };
    let z = match &*key.material {
        KeyMaterial::Ec { public, private: Some(d) } => {
            let curve = P::ec_public_curve(public);
            if member("kty")? != "EC" || member("crv")? != crate::jwk::Curve::from_ec(curve).name() {
                return Err(Error::DecryptionFailed);
            }
            let n = curve.field_len();
            keys::ecdh_with_coordinates(d, curve, &coordinate("x", n)?, &coordinate("y", n)?)
                .map_err(|e| e.into_error(Error::DecryptionFailed))?
        }
        KeyMaterial::X25519 { private: Some(d), .. } => {
            if member("kty")? != "OKP" || member("crv")? != "X25519" || epk.contains_key("y") {
                return Err(Error::DecryptionFailed);
            }
            keys::x25519(d, &coordinate("x", 32)?).map_err(|_| Error::DecryptionFailed)?
        }
        _ => return Err(Error::DecryptionFailed),
    };
    let (apu, apv) = party_info(header).map_err(|_| Error::DecryptionFailed)?;
    concat_kdf(&z, algorithm_id, &apu, &apv, key_len).map_err(|_| Error::DecryptionFailed)
}

fn party_info(header: &Map<String, Value>) -> Result<(Vec<u8>, Vec<u8>)> {
    let get = |name: &str| -> Result<Vec<u8>> {
        match header.get(name) {
            None => Ok(Vec::new()),
            Some(Value::String(s)) => b64::decode(s, name),
            Some(_) => Err(Error::malformed(format!("`{name}` must be a string"))),
        }
    };
    Ok((get("apu")?, get("apv")?))
}

/// Concat KDF (RFC 7518 §4.6.2): OtherInfo = AlgorithmID || PartyUInfo || PartyVInfo || SuppPubInfo,
/// each of the first three a 32-bit big-endian length followed by the data; SuppPubInfo is the
/// key length in bits.
pub(crate) fn concat_kdf(
    z: &[u8],
    algorithm_id: &str,
    apu: &[u8],
    apv: &[u8],
    key_len: usize,
) -> Result<Zeroizing<Vec<u8>>> {
    let mut other = Vec::with_capacity(16 + algorithm_id.len() + apu.len() + apv.len());
    for part in [algorithm_id.as_bytes(), apu, apv] {
        let len = u32::try_from(part.len()).map_err(|_| Error::Crypto("Concat KDF"))?;
        other.extend_from_slice(&len.to_be_bytes());
        other.extend_from_slice(part);
    }
    let bits = u32::try_from(key_len * 8).map_err(|_| Error::Crypto("Concat KDF"))?;
    other.extend_from_slice(&bits.to_be_bytes());
    let mut out = Zeroizing::new(vec![0u8; key_len]);
    P::concat_kdf_sha256(z, &other, &mut out).map_err(|_| Error::Crypto("Concat KDF"))?;
    Ok(out)
}
