//! The operations with a token key: ECDSA, EdDSA and RSA signatures, ECDH into a short-lived
//! session object, and RSA-OAEP decryption, each through [`TokenKey::run`] with the errors that
//! get a message of their own.

use cryptoki::error::RvError;
use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
use cryptoki::mechanism::elliptic_curve::{EcKdf, Ecdh1DeriveParams};
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsOaepParams, PkcsOaepSource, PkcsPssParams};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass};
use zeroize::Zeroizing;

use super::key::TokenKey;
use super::{rv, rv_name, TokenKeyKind};
use crate::crypto::keys::{KeyError, KeyResult};
use crate::crypto::{CryptoProvider, EcCurve, Provider as P, RsaSignature, Sha};

impl TokenKey {
    /// ECDSA over the host-computed digest with the curve's JOSE hash (RFC 7518 §3.4): CKM_ECDSA
    /// returns the raw `r || s` JOSE wants.
    pub(crate) fn ecdsa_sign(&self, message: &[u8]) -> KeyResult<Vec<u8>> {
        let TokenKeyKind::Ec(curve) = self.0.kind else { return Err(KeyError::Opaque) };
        let sha = match curve {
            EcCurve::P256 => Sha::Sha256,
            EcCurve::P384 => Sha::Sha384,
            EcCurve::P521 => Sha::Sha512,
        };
        let digest = P::digest(sha, message);
        let sig = self.run("ECDSA signing", true, |s, h| s.sign(&Mechanism::Ecdsa, h, &digest), |_| None)?;
        if sig.len() != 2 * curve.field_len() {
            return Err(KeyError::Opaque);
        }
        Ok(sig)
    }

    /// Pure Ed25519 (CKM_EDDSA without parameters).
    pub(crate) fn ed25519_sign(&self, message: &[u8]) -> KeyResult<Vec<u8>> {
        if self.0.kind != TokenKeyKind::Ed25519 {
            return Err(KeyError::Opaque);
        }
        let mech = Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Pure));
        let sig = self.run("EdDSA signing", true, |s, h| s.sign(&mech, h, message), |_| None)?;
        if sig.len() != 64 {
            return Err(KeyError::Opaque);
        }
        Ok(sig)
    }

    /// PS256: CKM_RSA_PKCS_PSS over the SHA-256 digest with MGF1-SHA-256 and a 32-byte salt
    /// (RFC 7518 §3.5); RS256: CKM_SHA256_RSA_PKCS (the token hashes).
    pub(crate) fn rsa_sign(&self, scheme: RsaSignature, message: &[u8]) -> KeyResult<Vec<u8>> {
        if self.0.kind != TokenKeyKind::Rsa {
            return Err(KeyError::Opaque);
        }
        match scheme {
            RsaSignature::PssSha256 => {
                let digest = P::digest(Sha::Sha256, message);
                let mech = Mechanism::RsaPkcsPss(PkcsPssParams {
                    hash_alg: MechanismType::SHA256,
                    mgf: PkcsMgfType::MGF1_SHA256,
                    s_len: 32u64.into(),
                });
                self.run("RSA-PSS signing", true, |s, h| s.sign(&mech, h, &digest), |_| None)
            }
            RsaSignature::Pkcs1Sha256 => {
                self.run("RSA signing", true, |s, h| s.sign(&Mechanism::Sha256RsaPkcs, h, message), |_| None)
            }
        }
    }

    /// ECDH inside the token (CKM_ECDH1_DERIVE, CKD_NULL, the peer point raw `04 || x || y`): Z
    /// comes out as a session object (not on the token, extractable, not sensitive) that is read
    /// and destroyed at once. The peer point was validated on the host by the caller.
    pub(crate) fn ecdh(&self, curve: EcCurve, x: &[u8], y: &[u8]) -> KeyResult<Zeroizing<Vec<u8>>> {
        if self.0.kind != TokenKeyKind::Ec(curve) {
            return Err(KeyError::Opaque);
        }
        let mut point = Vec::with_capacity(1 + x.len() + y.len());
        point.push(0x04);
        point.extend_from_slice(x);
        point.extend_from_slice(y);
        let n = curve.field_len();
        let template = [
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::GENERIC_SECRET),
            Attribute::Token(false),
            Attribute::Sensitive(false),
            Attribute::Extractable(true),
            Attribute::ValueLen((n as u64).into()),
        ];
        let z = self.run(
            "ECDH key derivation",
            true,
            |s, h| {
                let mech = Mechanism::Ecdh1Derive(Ecdh1DeriveParams::new(EcKdf::null(), &point));
                let secret = s.derive_key(&mech, h, &template)?;
                let read = s.get_attributes(secret, &[AttributeType::Value]);
                // Destroyed whatever the read gave; a destroy failure still leaves only a
                // session object, which the token drops with the session.
                let destroyed = s.destroy_object(secret);
                let value = read?.into_iter().find_map(|a| match a {
                    Attribute::Value(v) => Some(Zeroizing::new(v)),
                    _ => None,
                });
                destroyed?;
                Ok(value)
            },
            |e| {
                // An HSM that refuses extractable derived keys (FIPS mode) says so here.
                matches!(rv(e), Some(RvError::TemplateInconsistent | RvError::AttributeValueInvalid)).then(
                    || {
                        KeyError::Unavailable(format!(
                            "{}: the token refuses to derive an extractable ECDH secret (needed for the \
                         host-side Concat KDF): {}",
                            self.0.uri,
                            rv_name(e)
                        ))
                    },
                )
            },
        )?;
        match z {
            Some(z) if z.len() == n => Ok(z),
            _ => Err(KeyError::Opaque),
        }
    }

    /// RSAES-OAEP inside the token with MGF1 over the same hash and an empty label.
    pub(crate) fn rsa_oaep_decrypt(&self, hash: Sha, ciphertext: &[u8]) -> KeyResult<Zeroizing<Vec<u8>>> {
        if self.0.kind != TokenKeyKind::Rsa {
            return Err(KeyError::Opaque);
        }
        let (h, mgf, name) = match hash {
            Sha::Sha1 => (MechanismType::SHA1, PkcsMgfType::MGF1_SHA1, "RSA-OAEP"),
            Sha::Sha256 => (MechanismType::SHA256, PkcsMgfType::MGF1_SHA256, "RSA-OAEP-256"),
            _ => return Err(KeyError::Opaque),
        };
        let mech = Mechanism::RsaPkcsOaep(PkcsOaepParams::new(h, mgf, PkcsOaepSource::empty()));
        self.run(
            "RSA-OAEP decryption",
            false,
            |s, k| s.decrypt(&mech, k, ciphertext).map(Zeroizing::new),
            |e| {
                // Refusing the OAEP parameters does not depend on the ciphertext (SoftHSM 2.6
                // does SHA-1 only).
                let refused = matches!(
                    rv(e),
                    Some(RvError::MechanismParamInvalid | RvError::MechanismInvalid | RvError::ArgumentsBad)
                );
                (refused && hash != Sha::Sha1).then(|| {
                    KeyError::Unavailable(format!(
                        "{}: {name} (OAEP with {h}) is not supported by this token",
                        self.0.uri
                    ))
                })
            },
        )
    }
}
