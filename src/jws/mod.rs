//! Compact JWS (RFC 7515 §7.1) signing and verification, as needed for nested tokens.
//!
//! ```
//! use jwe_mint::jwa::SigningAlg;
//! use jwe_mint::jwk::{Curve, Jwk, JwkSet};
//! use jwe_mint::jws::{self, Signer};
//!
//! let key = Jwk::generate(Curve::P256).unwrap();
//! let signer = Signer::new(&key, SigningAlg::Es256, Default::default()).unwrap();
//! let token = signer.sign(b"{\"sub\":\"alice\"}").unwrap();
//! let public = JwkSet::new(vec![key.to_public().unwrap()]);
//! let verified = jws::verify_compact(&token, &public, &[SigningAlg::Es256]).unwrap();
//! assert_eq!(verified.payload, b"{\"sub\":\"alice\"}");
//! ```

use serde_json::{Map, Value};

use crate::b64;
use crate::crypto::{keys, CryptoProvider, Provider as P, RsaSignature};
use crate::error::{Error, LimitExceeded, Misuse, Result};
use crate::jwa::SigningAlg;
use crate::jwk::{Curve, Jwk, JwkSet, KeyMaterial, PublicKeyUse};

/// A JOSE header object.
pub type Header = Map<String, Value>;

/// Maximum size of a compact JWS accepted by [`verify_compact`] (1 MiB).
pub const MAX_JWS_SIZE: usize = 1024 * 1024;

/// Signs payloads with one key and a fixed header, encoded once.
#[derive(Clone)]
pub struct Signer {
    key: Jwk,
    alg: SigningAlg,
    header_b64: String,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer").field("alg", &self.alg).field("kid", &self.key.kid()).finish_non_exhaustive()
    }
}

impl Signer {
    /// A signer for `key` (private) with `alg`. `extra` header parameters (e.g. `typ`) follow `alg`
    /// and the key's `kid`.
    pub fn new(key: &Jwk, alg: SigningAlg, extra: Header) -> Result<Signer> {
        check_key(alg, key, true)?;
        let mut h = Header::new();
        h.insert("alg".into(), alg.name().into());
        if let Some(kid) = key.kid() {
            h.insert("kid".into(), kid.into());
        }
        for (k, v) in extra {
            if k == "alg" {
                return Err(Error::Misuse(Misuse::ReservedHeader("alg".into())));
            }
            h.insert(k, v);
        }
        Ok(Signer { key: key.clone(), alg, header_b64: b64::encode(Value::Object(h).to_string().as_bytes()) })
    }

    /// The signing algorithm.
    pub fn alg(&self) -> SigningAlg {
        self.alg
    }

    /// The signing key's `kid`.
    pub fn kid(&self) -> Option<&str> {
        self.key.kid()
    }

    /// Signs `payload`, returning `header.payload.signature`.
    pub fn sign(&self, payload: &[u8]) -> Result<String> {
        let mut out = String::with_capacity(self.header_b64.len() + payload.len() * 4 / 3 + 200);
        out.push_str(&self.header_b64);
        out.push('.');
        b64::encode_into(payload, &mut out);
        let sig = sign_raw(self.alg, &self.key, out.as_bytes())?;
        out.push('.');
        b64::encode_into(&sig, &mut out);
        Ok(out)
    }
}

fn sign_raw(alg: SigningAlg, key: &Jwk, input: &[u8]) -> Result<Vec<u8>> {
    let fail = |e: keys::KeyError| e.into_error(Error::Crypto("signing"));
    match (&*key.material, alg) {
        (KeyMaterial::Ec { private: Some(k), .. }, _) => keys::ecdsa_sign(k, input).map_err(fail),
        (KeyMaterial::Ed25519 { private: Some(k), .. }, SigningAlg::EdDsa) => {
            keys::ed25519_sign(k, input).map_err(fail)
        }
        (KeyMaterial::Rsa { private: Some(k), .. }, SigningAlg::Rs256) => {
            keys::rsa_sign(k, RsaSignature::Pkcs1Sha256, input).map_err(fail)
        }
        (KeyMaterial::Rsa { private: Some(k), .. }, SigningAlg::Ps256) => {
            keys::rsa_sign(k, RsaSignature::PssSha256, input).map_err(fail)
        }
        _ => Err(Error::NoMatchingKey(format!("a {} key does not fit `{alg}`", key.kty()))),
    }
}

/// Whether `sig` is a valid `alg` signature of `input` under `key` (its type and curve checked by
/// [`check_key`] first).
pub(crate) fn verify_raw(alg: SigningAlg, key: &Jwk, input: &[u8], sig: &[u8]) -> bool {
    match (&*key.material, alg) {
        (KeyMaterial::Ec { public, .. }, _) => P::ecdsa_verify(public, input, sig),
        (KeyMaterial::Ed25519 { public, .. }, SigningAlg::EdDsa) => P::ed25519_verify(public, input, sig),
        (KeyMaterial::Rsa { public, .. }, SigningAlg::Rs256) => {
            P::rsa_verify(public, RsaSignature::Pkcs1Sha256, input, sig)
        }
        (KeyMaterial::Rsa { public, .. }, SigningAlg::Ps256) => {
            P::rsa_verify(public, RsaSignature::PssSha256, input, sig)
        }
        _ => false,
    }
}

/// Whether `key` can make/check `alg` signatures (type, curve, `use`, pinned `alg`).
pub(crate) fn check_key(alg: SigningAlg, key: &Jwk, need_private: bool) -> Result<()> {
    if let Some(pinned) = key.alg() {
        if pinned != alg.name() {
            return Err(Error::NoMatchingKey(format!(
                "key is for `{}`, not `{alg}`",
                crate::untrusted::name(pinned)
            )));
        }
    }
    key.check_usable_for(&PublicKeyUse::Signature)?;
    let fits = match (&*key.material, alg) {
        (KeyMaterial::Ec { private, .. }, _) => {
            alg.ec_curve().map(Curve::from_ec) == key.curve() && (!need_private || private.is_some())
        }
        (KeyMaterial::Ed25519 { private, .. }, SigningAlg::EdDsa) => !need_private || private.is_some(),
        (KeyMaterial::Rsa { private, .. }, SigningAlg::Rs256 | SigningAlg::Ps256) => {
            !need_private || private.is_some()
        }
        _ => false,
    };
    if fits {
        Ok(())
    } else {
        Err(Error::NoMatchingKey(format!("a {} key does not fit `{alg}`", key.kty())))
    }
}

/// A verified compact JWS.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Verified {
    /// The protected header.
    pub header: Header,
    /// The payload bytes.
    pub payload: Vec<u8>,
    /// The algorithm that was verified.
    pub alg: SigningAlg,
    /// `kid` of the key that verified it.
    pub key_id: Option<String>,
}

/// The protected header of a compact JWS, parsed as strictly as [`verify_compact`] parses it
/// (duplicate member names are an error, RFC 7515 §5.2); nothing is verified, so nothing in it
/// can be trusted. For tools that display a token.
pub fn inspect(token: &str) -> Result<Header> {
    if token.len() > MAX_JWS_SIZE {
        return Err(LimitExceeded::JwsTooLarge { max: MAX_JWS_SIZE }.into());
    }
    let mut parts = token.split('.');
    let (Some(h), Some(_), Some(_), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(Error::malformed("a compact JWS has exactly three segments"));
    };
    crate::json::parse_object(&b64::decode(h, "JWS header")?, "JWS header")
}

/// Verifies a compact JWS against `keys`, accepting only `allowed` algorithms.
///
/// `alg: none` and unknown algorithms are always rejected; `crit` is rejected (no extension is
/// understood). With a `kid`, only keys with that `kid` are tried.
pub fn verify_compact(token: &str, keys: &JwkSet, allowed: &[SigningAlg]) -> Result<Verified> {
    verify_compact_noting_kid(token, keys, allowed, &mut None)
}

/// [`verify_compact`], and when the header names a `kid` that no key in `keys` has, that `kid` in
/// `unknown_kid` (a rotated-in key a live key source may not have yet), without parsing the header
/// a second time.
pub(crate) fn verify_compact_noting_kid(
    token: &str,
    keys: &JwkSet,
    allowed: &[SigningAlg],
    unknown_kid: &mut Option<String>,
) -> Result<Verified> {
    if token.len() > MAX_JWS_SIZE {
        return Err(LimitExceeded::JwsTooLarge { max: MAX_JWS_SIZE }.into());
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(Error::malformed("a compact JWS has exactly three segments"));
    };
    let header = crate::json::parse_object(&b64::decode(h, "JWS header")?, "JWS header")?;
    let alg_name = crate::json::req_str(&header, "alg")?;
    if alg_name.eq_ignore_ascii_case("none") {
        return Err(Error::AlgorithmNotAllowed("none".into()));
    }
    let alg: SigningAlg = alg_name.parse()?;
    if !allowed.contains(&alg) {
        return Err(Error::AlgorithmNotAllowed(alg.name().into()));
    }
    if header.contains_key("crit") {
        // RFC 7515 §4.1.11: no extension is understood, so any `crit` makes the JWS invalid.
        return Err(Error::malformed("JWS `crit` is not supported"));
    }
    let kid = crate::json::opt_str(&header, "kid")?;
    let payload = b64::decode(p, "JWS payload")?;
    let sig = b64::decode(s, "JWS signature")?;
    let signing_input = &token.as_bytes()[..h.len() + 1 + p.len()];
    let mut candidates = keys.iter().filter(|k| kid.is_none_or(|kid| k.kid() == Some(kid))).peekable();
    if candidates.peek().is_none() {
        *unknown_kid = kid.map(str::to_owned);
        return Err(Error::NoMatchingKey("no verification key with that `kid`".into()));
    }
    let mut any_fit = false;
    for key in candidates {
        if check_key(alg, key, false).is_err() {
            continue;
        }
        any_fit = true;
        if verify_raw(alg, key, signing_input, &sig) {
            return Ok(Verified { header, payload, alg, key_id: key.kid().map(str::to_owned) });
        }
    }
    if any_fit {
        Err(Error::InvalidSignature)
    } else {
        Err(Error::NoMatchingKey(format!("no verification key fits `{alg}`")))
    }
}
