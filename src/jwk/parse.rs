//! The key-type parsers behind [`Jwk::from_json`](super::Jwk::from_json): `EC`, `OKP`, `RSA`
//! and `oct` members into the provider's key objects, with every check a key of that type gets
//! (lengths, point on the curve, private half matching the public one, RSA size and ROCA moduli,
//! small-order and non-canonical Ed25519 keys).

use serde_json::{Map, Value};
use zeroize::Zeroizing;

use super::{Curve, KeyMaterial};
use crate::b64;
use crate::crypto::keys::{PrivateKey, MIN_RSA_BITS};
use crate::crypto::{CryptoProvider, Provider as P, RsaPrivateComponents};
use crate::error::{Error, Result};
use crate::json;

/// A malformed member of a key is an invalid key.
pub(super) fn key_err(e: Error) -> Error {
    match e {
        Error::Malformed(m) => Error::InvalidKey(m),
        other => other,
    }
}

/// The base64url member `name`, required.
fn b64_member(o: &Map<String, Value>, name: &str) -> Result<Vec<u8>> {
    let s = json::opt_str(o, name)
        .map_err(key_err)?
        .ok_or_else(|| Error::invalid_key(format!("missing `{name}`")))?;
    b64::decode(s, name).map_err(key_err)
}

/// The base64url member `name`, if present.
fn opt_b64_member(o: &Map<String, Value>, name: &str) -> Result<Option<Zeroizing<Vec<u8>>>> {
    if o.contains_key(name) {
        Ok(Some(Zeroizing::new(b64_member(o, name)?)))
    } else {
        Ok(None)
    }
}

/// An `EC` key (RFC 7518 §6.2): a point on the curve, and `d` matching it when present.
pub(super) fn ec(o: &Map<String, Value>) -> Result<KeyMaterial> {
    let crv: Curve = json::opt_str(o, "crv")
        .map_err(key_err)?
        .ok_or_else(|| Error::invalid_key("missing `crv`"))?
        .parse()?;
    let c = crv.ec().ok_or_else(|| Error::invalid_key(format!("curve {crv} is not an EC curve")))?;
    let (x, y) = (b64_member(o, "x")?, b64_member(o, "y")?);
    if x.len() != c.field_len() || y.len() != c.field_len() {
        return Err(Error::invalid_key("EC coordinates of the wrong length"));
    }
    let public = P::ec_public_from_coordinates(c, &x, &y)
        .map_err(|_| Error::invalid_key("EC point is not on the curve"))?;
    let private = match opt_b64_member(o, "d")? {
        None => None,
        Some(d) => {
            if d.len() != c.field_len() {
                return Err(Error::invalid_key("EC private key of the wrong length"));
            }
            let k =
                P::ec_private_from_bytes(c, &d).map_err(|_| Error::invalid_key("invalid EC private key"))?;
            if P::ec_public_coordinates(&P::ec_public_from_private(&k)) != (x, y) {
                return Err(Error::invalid_key("EC private key does not match its public key"));
            }
            Some(PrivateKey::Memory(k))
        }
    };
    Ok(KeyMaterial::Ec { public, private })
}

/// An `OKP` key (RFC 8037 §2): X25519, or Ed25519 with a canonical public key of large order
/// (RFC 8032 §5.1.3), and `d` matching it when present.
pub(super) fn okp(o: &Map<String, Value>) -> Result<KeyMaterial> {
    let crv: Curve = json::opt_str(o, "crv")
        .map_err(key_err)?
        .ok_or_else(|| Error::invalid_key("missing `crv`"))?
        .parse()?;
    let x = b64_member(o, "x")?;
    let d = opt_b64_member(o, "d")?;
    let bad_len = || Error::invalid_key("OKP key of the wrong length");
    match crv {
        Curve::X25519 => {
            let public: [u8; 32] = x.as_slice().try_into().map_err(|_| bad_len())?;
            let private = match d {
                None => None,
                Some(d) => {
                    if d.len() != 32 {
                        return Err(bad_len());
                    }
                    let k = P::x25519_private_from_bytes(&d)
                        .map_err(|_| Error::invalid_key("invalid X25519 key"))?;
                    if P::x25519_public(&k) != public {
                        return Err(Error::invalid_key("X25519 private key does not match its public key"));
                    }
                    Some(PrivateKey::Memory(k))
                }
            };
            Ok(KeyMaterial::X25519 { public, private })
        }
        Curve::Ed25519 => {
            let Ok(encoded) = <&[u8; 32]>::try_from(x.as_slice()) else { return Err(bad_len()) };
            if crate::crypto::ed25519_encoding_is_weak(encoded) {
                return Err(Error::invalid_key(
                    "Ed25519 public key of small order or not canonically encoded (RFC 8032 §5.1.3)",
                ));
            }
            let public =
                P::ed25519_public_from_bytes(&x).map_err(|_| Error::invalid_key("invalid Ed25519 key"))?;
            let private = match d {
                None => None,
                Some(d) => {
                    if d.len() != 32 {
                        return Err(bad_len());
                    }
                    let k = P::ed25519_private_from_seed(&d)
                        .map_err(|_| Error::invalid_key("invalid Ed25519 key"))?;
                    if P::ed25519_public_to_bytes(&P::ed25519_public_from_private(&k)).as_slice()
                        != x.as_slice()
                    {
                        return Err(Error::invalid_key("Ed25519 private key does not match its public key"));
                    }
                    Some(PrivateKey::Memory(k))
                }
            };
            Ok(KeyMaterial::Ed25519 { public, private })
        }
        other => Err(Error::invalid_key(format!("curve {other} is not an OKP curve"))),
    }
}

/// An `RSA` key (RFC 7518 §6.3): at least [`MIN_RSA_BITS`], no ROCA modulus, and a private key
/// only with its CRT parameters and no `oth`.
pub(super) fn rsa(o: &Map<String, Value>) -> Result<KeyMaterial> {
    let n = strip_zeros(b64_member(o, "n")?);
    let e = strip_zeros(b64_member(o, "e")?);
    if n.len() * 8 < MIN_RSA_BITS - 7 {
        return Err(Error::invalid_key(format!("RSA modulus shorter than {MIN_RSA_BITS} bits")));
    }
    let public =
        P::rsa_public_from_components(&n, &e).map_err(|_| Error::invalid_key("invalid RSA public key"))?;
    if P::rsa_public_bits(&public) < MIN_RSA_BITS {
        return Err(Error::invalid_key(format!("RSA modulus shorter than {MIN_RSA_BITS} bits")));
    }
    if has_roca_fingerprint(&n) {
        return Err(Error::invalid_key("RSA modulus has the ROCA fingerprint (CVE-2017-15361): factorable"));
    }
    if !o.contains_key("d") {
        return Ok(KeyMaterial::Rsa { public, private: None });
    }
    if o.contains_key("oth") {
        return Err(Error::invalid_key("multi-prime RSA keys (`oth`) are not supported"));
    }
    let c = RsaPrivateComponents {
        n: n.clone(),
        e: e.clone(),
        d: Zeroizing::new(b64_member(o, "d")?),
        p: Zeroizing::new(
            b64_member(o, "p").map_err(|_| Error::invalid_key("RSA private key without CRT parameters"))?,
        ),
        q: Zeroizing::new(b64_member(o, "q")?),
        dp: Zeroizing::new(b64_member(o, "dp")?),
        dq: Zeroizing::new(b64_member(o, "dq")?),
        qi: Zeroizing::new(b64_member(o, "qi")?),
    };
    let private =
        P::rsa_private_from_components(&c).map_err(|_| Error::invalid_key("inconsistent RSA private key"))?;
    Ok(KeyMaterial::Rsa { public, private: Some(PrivateKey::Memory(private)) })
}

/// An `oct` key (RFC 7518 §6.4): a non-empty `k`.
pub(super) fn oct(o: &Map<String, Value>) -> Result<KeyMaterial> {
    let k = Zeroizing::new(b64_member(o, "k")?);
    if k.is_empty() {
        return Err(Error::invalid_key("empty `k`"));
    }
    Ok(KeyMaterial::Oct(k))
}

/// The ROCA test (Nemec et al., CCS 2017; CVE-2017-15361): moduli made by the vulnerable Infineon
/// RSALib are, modulo each of these small primes, in the subgroup generated by 65537; a random
/// modulus passes all 38 tests with negligible probability.
fn has_roca_fingerprint(n: &[u8]) -> bool {
    const PRIMES: [u32; 38] = [
        3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97, 101,
        103, 107, 109, 113, 127, 131, 137, 139, 149, 151, 157, 163, 167,
    ];
    PRIMES.iter().all(|&p| {
        let r = n.iter().fold(0u32, |acc, &b| (acc * 256 + u32::from(b)) % p);
        let g = 65537 % p;
        let mut x = 1;
        loop {
            if x == r {
                return true;
            }
            x = x * g % p;
            if x == 1 {
                return false;
            }
        }
    })
}

/// The big-endian integer without its leading zero bytes.
pub(super) fn strip_zeros(mut v: Vec<u8>) -> Vec<u8> {
    let lead = v.iter().take_while(|b| **b == 0).count();
    v.drain(..lead);
    v
}
