//! Private keys wherever they live: in memory (the provider's own key types) or, with the
//! `pkcs11` feature, as a handle to an object inside a PKCS#11 token. Everything above `crypto/`
//! holds a [`PrivateKey`] and calls the functions here; none of it knows where the key is
//! (`docs/decisions.md`, "Keys in an HSM"). The smallest RSA modulus accepted, [`MIN_RSA_BITS`],
//! lives here too: the JWK parser and the generators (in memory and in a token) all enforce it.

use zeroize::Zeroizing;

use super::{CryptoProvider, EcCurve, Provider as P, RsaSignature, Sha};

/// Smallest RSA modulus jwe-mint accepts, in bits (RFC 7518 §3.3, §4.2).
pub const MIN_RSA_BITS: usize = 2048;

/// A private key: the provider's in-memory key, or a key that never leaves a token.
pub(crate) enum PrivateKey<T> {
    /// Parsed into the provider's type; zeroized on drop by the provider.
    Memory(T),
    /// An object inside a PKCS#11 token, used through its handle.
    #[cfg(feature = "pkcs11")]
    Token(super::pkcs11::TokenKey),
}

impl<T> PrivateKey<T> {
    /// The key in memory, if it is there (only in-memory keys can be exported).
    pub(crate) fn in_memory(&self) -> Option<&T> {
        match self {
            PrivateKey::Memory(k) => Some(k),
            #[cfg(feature = "pkcs11")]
            PrivateKey::Token(_) => None,
        }
    }

    /// Whether the key lives outside this process's memory (in a token).
    pub(crate) fn is_external(&self) -> bool {
        self.in_memory().is_none()
    }
}

/// Why an operation with a [`PrivateKey`] failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KeyError {
    /// The primitive failed (bad input, bad padding, …): callers map this to their usual opaque
    /// error, exactly as for an in-memory key.
    Opaque,
    /// The key could not be used at all (token absent, login refused, mechanism not supported by
    /// the token, …). Independent of the input; the message names the key's URI, never the PIN.
    #[cfg_attr(not(feature = "pkcs11"), allow(dead_code))]
    Unavailable(String),
}

impl KeyError {
    /// The crate error: `opaque` for a primitive failure, [`crate::Error::Pkcs11`] otherwise.
    pub(crate) fn into_error(self, opaque: crate::Error) -> crate::Error {
        match self {
            KeyError::Opaque => opaque,
            KeyError::Unavailable(m) => crate::Error::Pkcs11(m),
        }
    }
}

impl From<super::CryptoError> for KeyError {
    fn from(_: super::CryptoError) -> Self {
        KeyError::Opaque
    }
}

/// Result of an operation with a [`PrivateKey`].
pub(crate) type KeyResult<T> = Result<T, KeyError>;

/// EC private key (P-256/384/521).
pub(crate) type EcPrivate = PrivateKey<<P as CryptoProvider>::EcPrivateKey>;
/// X25519 private key (in memory only: tokens here are P-256/384/521, Ed25519 and RSA).
pub(crate) type X25519Private = PrivateKey<<P as CryptoProvider>::X25519PrivateKey>;
/// Ed25519 private key.
pub(crate) type Ed25519Private = PrivateKey<<P as CryptoProvider>::Ed25519PrivateKey>;
/// RSA private key.
pub(crate) type RsaPrivate = PrivateKey<<P as CryptoProvider>::RsaPrivateKey>;

/// ECDSA with the curve's JOSE hash; fixed-length `r || s` (RFC 7518 §3.4).
pub(crate) fn ecdsa_sign(key: &EcPrivate, message: &[u8]) -> KeyResult<Vec<u8>> {
    match key {
        PrivateKey::Memory(k) => Ok(P::ecdsa_sign(k, message)?),
        #[cfg(feature = "pkcs11")]
        PrivateKey::Token(t) => t.ecdsa_sign(message),
    }
}

/// Recipient side of ECDH-ES: Z with the peer point (x, y) on `curve` (the key's curve).
#[cfg_attr(not(feature = "pkcs11"), allow(unused_variables))]
pub(crate) fn ecdh_with_coordinates(
    key: &EcPrivate,
    curve: EcCurve,
    x: &[u8],
    y: &[u8],
) -> KeyResult<Zeroizing<Vec<u8>>> {
    match key {
        PrivateKey::Memory(k) => Ok(P::ecdh_with_coordinates(k, x, y)?),
        #[cfg(feature = "pkcs11")]
        PrivateKey::Token(t) => {
            // The peer point is validated on the host first (on the curve, not the identity), so
            // no token's own point checks are relied on (invalid-curve attacks).
            P::ec_point_check(curve, x, y)?;
            t.ecdh(curve, x, y)
        }
    }
}

/// ECDH with a parsed public key.
pub(crate) fn ecdh(
    key: &EcPrivate,
    public: &<P as CryptoProvider>::EcPublicKey,
) -> KeyResult<Zeroizing<Vec<u8>>> {
    match key {
        PrivateKey::Memory(k) => Ok(P::ecdh(k, public)?),
        #[cfg(feature = "pkcs11")]
        PrivateKey::Token(_) => {
            let (x, y) = P::ec_public_coordinates(public);
            ecdh_with_coordinates(key, P::ec_public_curve(public), &x, &y)
        }
    }
}

/// X25519 agreement.
pub(crate) fn x25519(key: &X25519Private, peer: &[u8]) -> KeyResult<Zeroizing<Vec<u8>>> {
    match key {
        PrivateKey::Memory(k) => Ok(P::x25519(k, peer)?),
        #[cfg(feature = "pkcs11")]
        PrivateKey::Token(_) => Err(KeyError::Opaque),
    }
}

/// Pure Ed25519 signature (RFC 8032).
pub(crate) fn ed25519_sign(key: &Ed25519Private, message: &[u8]) -> KeyResult<Vec<u8>> {
    match key {
        PrivateKey::Memory(k) => Ok(P::ed25519_sign(k, message)?),
        #[cfg(feature = "pkcs11")]
        PrivateKey::Token(t) => t.ed25519_sign(message),
    }
}

/// RSA signature (`RS256` or `PS256`).
pub(crate) fn rsa_sign(key: &RsaPrivate, scheme: RsaSignature, message: &[u8]) -> KeyResult<Vec<u8>> {
    match key {
        PrivateKey::Memory(k) => Ok(P::rsa_sign(k, scheme, message)?),
        #[cfg(feature = "pkcs11")]
        PrivateKey::Token(t) => t.rsa_sign(scheme, message),
    }
}

/// RSAES-OAEP decryption (`Sha1`: RSA-OAEP, `Sha256`: RSA-OAEP-256).
pub(crate) fn rsa_oaep_decrypt(
    key: &RsaPrivate,
    hash: Sha,
    ciphertext: &[u8],
) -> KeyResult<Zeroizing<Vec<u8>>> {
    match key {
        PrivateKey::Memory(k) => Ok(P::rsa_oaep_decrypt(k, hash, ciphertext)?),
        #[cfg(feature = "pkcs11")]
        PrivateKey::Token(t) => t.rsa_oaep_decrypt(hash, ciphertext),
    }
}

/// Why legacy `RSA1_5` is refused with this key, if it is: the message of an
/// [`Error::Pkcs11`](crate::Error::Pkcs11), naming the key's URI. A key in a token would decrypt
/// with CKM_RSA_PKCS, whose C_Decrypt answers bad padding with its own return value (and in its
/// own time) before the host sees anything: a Bleichenbacher oracle that the implicit rejection
/// of RFC 7516 §11.5 (a random CEK on any failure, done on the host) cannot hide. Decided from
/// the key alone, before any private-key operation.
#[cfg_attr(not(feature = "pkcs11"), allow(unused_variables))]
pub(crate) fn rsa1_5_refusal(key: &RsaPrivate) -> Option<String> {
    match key {
        PrivateKey::Memory(_) => None,
        #[cfg(feature = "pkcs11")]
        PrivateKey::Token(t) => Some(format!(
            "{}: RSA1_5 is not supported with a PKCS#11 key: the token's RSAES-PKCS1-v1_5 \
             decryption (CKM_RSA_PKCS) reports bad padding, a Bleichenbacher oracle; use RSA-OAEP",
            t.uri()
        )),
    }
}

/// RSAES-PKCS1-v1_5 decryption (legacy `RSA1_5`; in-memory keys only, see [`rsa1_5_refusal`]).
pub(crate) fn rsa_pkcs1v15_decrypt(key: &RsaPrivate, ciphertext: &[u8]) -> KeyResult<Zeroizing<Vec<u8>>> {
    match key {
        PrivateKey::Memory(k) => Ok(P::rsa_pkcs1v15_decrypt(k, ciphertext)?),
        #[cfg(feature = "pkcs11")]
        PrivateKey::Token(_) => Err(KeyError::Opaque),
    }
}
