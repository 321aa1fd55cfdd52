//! RFC 7638 JWK thumbprints.

use super::{Curve, Jwk, KeyMaterial};
use crate::b64;
use crate::crypto::{CryptoProvider, Provider as P, Sha};

/// SHA-256 over the required members in lexicographic order, no whitespace (RFC 7638 §3.2).
pub(super) fn sha256(jwk: &Jwk) -> String {
    let enc = b64::encode;
    let canonical = match &*jwk.material {
        KeyMaterial::Ec { public, .. } => {
            let (x, y) = P::ec_public_coordinates(public);
            let crv = Curve::from_ec(P::ec_public_curve(public)).name();
            format!(r#"{{"crv":"{crv}","kty":"EC","x":"{}","y":"{}"}}"#, enc(&x), enc(&y))
        }
        KeyMaterial::X25519 { public, .. } => {
            format!(r#"{{"crv":"X25519","kty":"OKP","x":"{}"}}"#, enc(public))
        }
        KeyMaterial::Ed25519 { public, .. } => {
            format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#, enc(&P::ed25519_public_to_bytes(public)))
        }
        KeyMaterial::Rsa { public, .. } => {
            let (n, e) = P::rsa_public_components(public);
            format!(r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#, enc(&e), enc(&n))
        }
        KeyMaterial::Oct(k) => {
            let k = zeroize::Zeroizing::new(enc(k));
            let canonical = zeroize::Zeroizing::new(format!(r#"{{"k":"{}","kty":"oct"}}"#, k.as_str()));
            return enc(&P::digest(Sha::Sha256, canonical.as_bytes()));
        }
    };
    enc(&P::digest(Sha::Sha256, canonical.as_bytes()))
}
