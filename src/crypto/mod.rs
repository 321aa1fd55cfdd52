//! The crypto provider boundary.
//!
//! This module is the only place in the crate that names a primitive crate. Everything above it
//! (`jwk`, `jwa`, `jwe`, `jws`, …) talks to `Provider`, the one implementation of
//! `CryptoProvider` selected at build time:
//!
//! * feature `aws-lc` (default): [aws-lc-rs](https://crates.io/crates/aws-lc-rs);
//! * feature `rust-crypto`: the pure-Rust RustCrypto crates.
//!
//! When both features are enabled, `aws-lc` is used. Enabling neither is a compile error.
//!
//! Every function returns the opaque `CryptoError`: callers map it to the crate's own error
//! (for decryption always the single opaque `Error::DecryptionFailed`), so no primitive can leak
//! which check failed.

use zeroize::Zeroizing;

#[cfg(not(any(feature = "aws-lc", feature = "rust-crypto")))]
compile_error!(
    "jwe-mint needs a crypto provider: enable feature `aws-lc` (default) or `rust-crypto` \
     (e.g. `--no-default-features --features rust-crypto,cli`)"
);

#[cfg(feature = "aws-lc")]
mod aws_lc;
#[cfg(test)]
mod conformance;
pub(crate) mod keys;
#[cfg(feature = "pkcs11")]
pub(crate) mod pkcs11;
#[cfg(all(feature = "rust-crypto", not(feature = "aws-lc")))]
mod rust_crypto;

/// The provider selected at build time.
#[cfg(feature = "aws-lc")]
pub(crate) type Provider = aws_lc::AwsLc;
/// The provider selected at build time.
#[cfg(all(feature = "rust-crypto", not(feature = "aws-lc")))]
pub(crate) type Provider = rust_crypto::RustCrypto;

/// Human-readable name of the provider selected at build time (`"aws-lc"` or `"rust-crypto"`).
pub const PROVIDER_NAME: &str = Provider::NAME;

/// Fills `out` with cryptographically secure random bytes from the provider (for the OAuth
/// layer, which does not name the [`CryptoProvider`] trait).
pub(crate) fn random(out: &mut [u8]) -> crate::Result<()> {
    Provider::fill_random(out).map_err(|_| crate::Error::Crypto("random source"))
}

/// SHA-256 of `data` from the provider (for the OAuth layer, which does not name the
/// [`CryptoProvider`] trait).
pub(crate) fn sha256(data: &[u8]) -> Vec<u8> {
    Provider::digest(Sha::Sha256, data)
}

/// HMAC-SHA-256 of `data` under `key` from the provider (for the OAuth layer, which does not
/// name the [`CryptoProvider`] trait: the DPoP nonces).
pub(crate) fn hmac_sha256(key: &[u8], data: &[u8]) -> crate::Result<Vec<u8>> {
    Provider::hmac_sign(Sha::Sha256, key, data).map_err(|_| crate::Error::Crypto("HMAC"))
}

/// Whether `a` and `b` are equal, in time that depends only on their lengths (for the OAuth
/// layer's secret comparisons, which do not name the [`CryptoProvider`] trait).
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    Provider::constant_time_eq(a, b)
}

/// Opaque failure of a primitive. Deliberately carries no detail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CryptoError;

/// Result of a primitive.
pub(crate) type CryptoResult<T> = Result<T, CryptoError>;

/// A NIST prime curve usable for ECDH-ES and ECDSA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum EcCurve {
    /// P-256 (secp256r1); ECDSA pairs it with SHA-256 (ES256).
    P256,
    /// P-384 (secp384r1); ECDSA pairs it with SHA-384 (ES384).
    P384,
    /// P-521 (secp521r1); ECDSA pairs it with SHA-512 (ES512).
    P521,
}

impl EcCurve {
    /// Length in bytes of a field element / scalar (32, 48, 66).
    pub(crate) const fn field_len(self) -> usize {
        match self {
            EcCurve::P256 => 32,
            EcCurve::P384 => 48,
            EcCurve::P521 => 66,
        }
    }
}

/// Hash functions used by the JOSE algorithms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Sha {
    /// SHA-1: only as the OAEP hash of `RSA-OAEP` (RFC 7518 §4.3).
    Sha1,
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

/// RSA signature schemes (RFC 7518 §3.3, §3.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum RsaSignature {
    /// RSASSA-PKCS1-v1_5 with SHA-256 (`RS256`).
    Pkcs1Sha256,
    /// RSASSA-PSS with SHA-256, MGF1-SHA-256, salt length 32 (`PS256`).
    PssSha256,
}

/// The components of an RSA private key as they appear in a JWK (big-endian, unsigned).
///
/// All fields zeroize on drop.
pub(crate) struct RsaPrivateComponents {
    pub n: Vec<u8>,
    pub e: Vec<u8>,
    pub d: Zeroizing<Vec<u8>>,
    pub p: Zeroizing<Vec<u8>>,
    pub q: Zeroizing<Vec<u8>>,
    pub dp: Zeroizing<Vec<u8>>,
    pub dq: Zeroizing<Vec<u8>>,
    pub qi: Zeroizing<Vec<u8>>,
}

/// Result of the sender side of ECDH-ES: the shared secret and the ephemeral public key.
pub(crate) struct EphemeralAgreement {
    /// The shared secret Z.
    pub z: Zeroizing<Vec<u8>>,
    /// Affine x of the ephemeral public key (`field_len` bytes).
    pub x: Vec<u8>,
    /// Affine y of the ephemeral public key (`field_len` bytes).
    pub y: Vec<u8>,
}

/// The y-coordinates (little-endian, sign bit clear; RFC 8032 §5.1.2) of the eight points of small
/// order on edwards25519: 1 (the identity), −1 (order 2), 0 (order 4, x = ±√−1) and the two y of
/// the four points of order 8. Both sign bits of each y name a small-order point.
const ED25519_SMALL_ORDER_Y: [[u8; 32]; 5] = [
    [0; 32],
    [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    [
        0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f,
    ],
    [
        0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98, 0xf0, 0xd5,
        0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53, 0xfc, 0x05,
    ],
    [
        0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67, 0x0f, 0x2a,
        0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac, 0x03, 0x7a,
    ],
];

/// Whether an Ed25519 point encoding must be refused as a public key `A` or as a signature's `R`
/// under strict verification (RFC 8032 §5.1.7 without the cofactor, as ed25519-dalek's
/// `verify_strict`): a point of small order, with either sign bit (which also covers the
/// non-canonical "x = −0" encodings), or a y that is not reduced, y ≥ p = 2²⁵⁵ − 19 (RFC 8032
/// §5.1.3 step 1). With a small-order `A`, `R` = identity and `S` = 0 verify for every message.
/// Comparisons with constants only; encodings are public, so nothing here needs constant time.
pub(crate) fn ed25519_encoding_is_weak(encoded: &[u8; 32]) -> bool {
    let mut y = *encoded;
    y[31] &= 0x7f;
    // p in little-endian is ed ff … ff 7f.
    let not_reduced = y[31] == 0x7f && y[1..31].iter().all(|b| *b == 0xff) && y[0] >= 0xed;
    not_reduced || ED25519_SMALL_ORDER_Y.contains(&y)
}

/// Everything jwe-mint needs from a cryptographic library.
///
/// Contract for implementations:
/// * never panic on any input; return `Err(CryptoError)` instead;
/// * private-key types zeroize their secret on drop (or rely on the library doing so) and must not
///   print secret bytes from `Debug` (they need not implement `Debug` at all);
/// * public keys are validated when built (on the curve, not the identity, right length);
/// * tag / MAC comparison is constant time (done by the library).
pub(crate) trait CryptoProvider {
    /// Provider name for diagnostics.
    const NAME: &'static str;
    /// `None` when this provider performs RSA private-key decryption (RSA-OAEP, RSA1_5); else why
    /// it refuses (e.g. an open timing advisory of its RSA implementation). Callers report
    /// [`crate::Error::RefusedByProvider`] with this reason before touching the key.
    const RSA_DECRYPTION_REFUSED: Option<&'static str>;

    /// A parsed EC private key (P-256/384/521), usable for static-key ECDH and ECDSA signing.
    type EcPrivateKey: Send + Sync + 'static;
    /// A parsed and validated EC public key.
    type EcPublicKey: Clone + Send + Sync + 'static;
    /// A parsed X25519 private key.
    type X25519PrivateKey: Send + Sync + 'static;
    /// A parsed Ed25519 signing key.
    type Ed25519PrivateKey: Send + Sync + 'static;
    /// A parsed Ed25519 verifying key.
    type Ed25519PublicKey: Clone + Send + Sync + 'static;
    /// A parsed RSA private key.
    type RsaPrivateKey: Send + Sync + 'static;
    /// A parsed RSA public key.
    type RsaPublicKey: Clone + Send + Sync + 'static;

    // ---- randomness and hashing -------------------------------------------------------------

    /// Fills `out` with cryptographically secure random bytes.
    fn fill_random(out: &mut [u8]) -> CryptoResult<()>;
    /// One-shot digest. `Sha::Sha1` included.
    fn digest(alg: Sha, data: &[u8]) -> Vec<u8>;
    /// Whether `a` and `b` are equal, in time that depends only on their lengths.
    fn constant_time_eq(a: &[u8], b: &[u8]) -> bool;
    /// HMAC (SHA-256/384/512 only; SHA-1 is an error). Returns the full-length MAC.
    fn hmac_sign(alg: Sha, key: &[u8], data: &[u8]) -> CryptoResult<Vec<u8>>;
    /// Constant-time check that `tag` equals the first `tag.len()` bytes of HMAC(key, data).
    /// `tag` must be non-empty and at most the full MAC length, else `false`.
    fn hmac_verify_truncated(alg: Sha, key: &[u8], data: &[u8], tag: &[u8]) -> bool;
    /// NIST SP 800-56A Concat KDF with SHA-256 (RFC 7518 §4.6.2): fills `out` from the shared
    /// secret `z` and the already-assembled `other_info`.
    fn concat_kdf_sha256(z: &[u8], other_info: &[u8], out: &mut [u8]) -> CryptoResult<()>;
    /// PBKDF2 with HMAC-SHA-256/384/512 (RFC 8018); fills `out`.
    fn pbkdf2(alg: Sha, password: &[u8], salt: &[u8], iterations: u32, out: &mut [u8]) -> CryptoResult<()>;

    // ---- symmetric ----------------------------------------------------------------------------

    /// AES-GCM (key of 16, 24 or 32 bytes; 12-byte IV; 16-byte tag). Returns (ciphertext, tag).
    fn aes_gcm_encrypt(
        key: &[u8],
        iv: &[u8],
        aad: &[u8],
        plaintext: &[u8],
    ) -> CryptoResult<(Vec<u8>, [u8; 16])>;
    /// AES-GCM decryption with a detached tag. Any IV or tag length other than 12 / 16 is an error.
    fn aes_gcm_decrypt(
        key: &[u8],
        iv: &[u8],
        aad: &[u8],
        ciphertext: &[u8],
        tag: &[u8],
    ) -> CryptoResult<Zeroizing<Vec<u8>>>;
    /// RFC 3394 AES key wrap with the default IV (KEK of 16, 24 or 32 bytes).
    fn aes_kw_wrap(kek: &[u8], key: &[u8]) -> CryptoResult<Vec<u8>>;
    /// RFC 3394 AES key unwrap; integrity-check failure is an error.
    fn aes_kw_unwrap(kek: &[u8], wrapped: &[u8]) -> CryptoResult<Zeroizing<Vec<u8>>>;
    /// AES-CBC with PKCS#7 padding (key of 16, 24 or 32 bytes; 16-byte IV).
    fn aes_cbc_encrypt(key: &[u8], iv: &[u8], plaintext: &[u8]) -> CryptoResult<Vec<u8>>;
    /// AES-CBC decryption with PKCS#7 unpadding. Only ever called after the MAC was verified.
    fn aes_cbc_decrypt(key: &[u8], iv: &[u8], ciphertext: &[u8]) -> CryptoResult<Zeroizing<Vec<u8>>>;

    // ---- EC (P-256 / P-384 / P-521) ------------------------------------------------------------

    /// Generates a fresh EC private key.
    fn ec_generate(curve: EcCurve) -> CryptoResult<Self::EcPrivateKey>;
    /// Parses a private scalar (big-endian, exactly `curve.field_len()` bytes; 0 < d < n).
    fn ec_private_from_bytes(curve: EcCurve, d: &[u8]) -> CryptoResult<Self::EcPrivateKey>;
    /// The private scalar, big-endian, `curve.field_len()` bytes.
    fn ec_private_to_bytes(key: &Self::EcPrivateKey) -> Zeroizing<Vec<u8>>;
    /// The curve of a private key.
    fn ec_private_curve(key: &Self::EcPrivateKey) -> EcCurve;
    /// The public key of a private key.
    fn ec_public_from_private(key: &Self::EcPrivateKey) -> Self::EcPublicKey;
    /// Builds a public key from affine coordinates (each exactly `curve.field_len()` bytes),
    /// rejecting points not on the curve.
    fn ec_public_from_coordinates(curve: EcCurve, x: &[u8], y: &[u8]) -> CryptoResult<Self::EcPublicKey>;
    /// Checks that (x, y) is a point on `curve` as [`ec_public_from_coordinates`] does, without
    /// keeping a key: the host-side check of a peer point before a token's ECDH
    /// (`crypto::keys`), once per decryption.
    ///
    /// [`ec_public_from_coordinates`]: CryptoProvider::ec_public_from_coordinates
    #[cfg_attr(not(feature = "pkcs11"), allow(dead_code))]
    fn ec_point_check(curve: EcCurve, x: &[u8], y: &[u8]) -> CryptoResult<()> {
        Self::ec_public_from_coordinates(curve, x, y).map(drop)
    }
    /// The affine coordinates (x, y), each `curve.field_len()` bytes.
    fn ec_public_coordinates(key: &Self::EcPublicKey) -> (Vec<u8>, Vec<u8>);
    /// The curve of a public key.
    fn ec_public_curve(key: &Self::EcPublicKey) -> EcCurve;
    /// ECDH: the x-coordinate of `private · public` (`curve.field_len()` bytes).
    /// Keys on different curves are an error.
    fn ecdh(private: &Self::EcPrivateKey, public: &Self::EcPublicKey) -> CryptoResult<Zeroizing<Vec<u8>>>;
    /// Sender side of ECDH-ES: a fresh ephemeral key on `recipient`'s curve, used once. Returns
    /// Z and the ephemeral public key's affine coordinates (x, y). Providers may override this
    /// with a cheaper agreement-only ephemeral key.
    fn ecdh_ephemeral(recipient: &Self::EcPublicKey) -> CryptoResult<EphemeralAgreement> {
        let ephemeral = Self::ec_generate(Self::ec_public_curve(recipient))?;
        let z = Self::ecdh(&ephemeral, recipient)?;
        let (x, y) = Self::ec_public_coordinates(&Self::ec_public_from_private(&ephemeral));
        Ok(EphemeralAgreement { z, x, y })
    }
    /// Recipient side of ECDH-ES: Z with a peer given by affine coordinates (each exactly
    /// `curve.field_len()` bytes), which must be a valid point on the private key's curve.
    /// Providers may override this to skip building a full public-key object.
    fn ecdh_with_coordinates(
        private: &Self::EcPrivateKey,
        x: &[u8],
        y: &[u8],
    ) -> CryptoResult<Zeroizing<Vec<u8>>> {
        let peer = Self::ec_public_from_coordinates(Self::ec_private_curve(private), x, y)?;
        Self::ecdh(private, &peer)
    }
    /// ECDSA with the curve's JOSE hash (P-256/SHA-256, P-384/SHA-384, P-521/SHA-512);
    /// returns the fixed-length `r || s` form of RFC 7518 §3.4.
    fn ecdsa_sign(key: &Self::EcPrivateKey, message: &[u8]) -> CryptoResult<Vec<u8>>;
    /// Verifies a fixed-length `r || s` ECDSA signature; any other length is `false`.
    fn ecdsa_verify(key: &Self::EcPublicKey, message: &[u8], signature: &[u8]) -> bool;

    // ---- X25519 ---------------------------------------------------------------------------------

    /// Generates a fresh X25519 private key.
    fn x25519_generate() -> CryptoResult<Self::X25519PrivateKey>;
    /// Parses a 32-byte X25519 private key.
    fn x25519_private_from_bytes(d: &[u8]) -> CryptoResult<Self::X25519PrivateKey>;
    /// The 32 private-key bytes.
    fn x25519_private_to_bytes(key: &Self::X25519PrivateKey) -> Zeroizing<Vec<u8>>;
    /// The 32-byte public key.
    fn x25519_public(key: &Self::X25519PrivateKey) -> [u8; 32];
    /// X25519(private, peer). A peer that is not 32 bytes, or an all-zero shared secret
    /// (small-order peer), is an error.
    fn x25519(private: &Self::X25519PrivateKey, peer_public: &[u8]) -> CryptoResult<Zeroizing<Vec<u8>>>;

    // ---- Ed25519 --------------------------------------------------------------------------------

    /// Generates a fresh Ed25519 signing key.
    fn ed25519_generate() -> CryptoResult<Self::Ed25519PrivateKey>;
    /// Parses a 32-byte Ed25519 seed (the JWK `d`).
    fn ed25519_private_from_seed(seed: &[u8]) -> CryptoResult<Self::Ed25519PrivateKey>;
    /// The 32-byte seed.
    fn ed25519_private_to_seed(key: &Self::Ed25519PrivateKey) -> Zeroizing<Vec<u8>>;
    /// The verifying key of a signing key.
    fn ed25519_public_from_private(key: &Self::Ed25519PrivateKey) -> Self::Ed25519PublicKey;
    /// Parses a 32-byte Ed25519 public key, refusing small-order and non-canonical encodings
    /// ([`ed25519_encoding_is_weak`]).
    fn ed25519_public_from_bytes(x: &[u8]) -> CryptoResult<Self::Ed25519PublicKey>;
    /// The 32-byte public key.
    fn ed25519_public_to_bytes(key: &Self::Ed25519PublicKey) -> [u8; 32];
    /// Signs (pure Ed25519, RFC 8032); 64-byte signature.
    fn ed25519_sign(key: &Self::Ed25519PrivateKey, message: &[u8]) -> CryptoResult<Vec<u8>>;
    /// Verifies a 64-byte Ed25519 signature strictly (RFC 8032 §5.1.7, cofactorless, as
    /// ed25519-dalek's `verify_strict`): `S` < L, `R` neither of small order nor non-canonical, and
    /// `[S]B = R + [k]A` compared on encodings.
    fn ed25519_verify(key: &Self::Ed25519PublicKey, message: &[u8], signature: &[u8]) -> bool;

    // ---- RSA ------------------------------------------------------------------------------------

    /// Generates an RSA key with public exponent 65537 (`bits` ≥ 2048).
    fn rsa_generate(bits: usize) -> CryptoResult<Self::RsaPrivateKey>;
    /// Builds a private key from its CRT components, checking their consistency.
    fn rsa_private_from_components(c: &RsaPrivateComponents) -> CryptoResult<Self::RsaPrivateKey>;
    /// The CRT components of a private key.
    fn rsa_private_components(key: &Self::RsaPrivateKey) -> RsaPrivateComponents;
    /// The public half of a private key.
    fn rsa_public_from_private(key: &Self::RsaPrivateKey) -> Self::RsaPublicKey;
    /// Builds a public key from modulus and exponent (big-endian, unsigned).
    fn rsa_public_from_components(n: &[u8], e: &[u8]) -> CryptoResult<Self::RsaPublicKey>;
    /// (n, e) big-endian without leading zeros.
    fn rsa_public_components(key: &Self::RsaPublicKey) -> (Vec<u8>, Vec<u8>);
    /// Modulus length in bits.
    fn rsa_public_bits(key: &Self::RsaPublicKey) -> usize;
    /// RSAES-OAEP encryption; `hash` is `Sha1` (RSA-OAEP) or `Sha256` (RSA-OAEP-256), MGF1 with the
    /// same hash, empty label.
    fn rsa_oaep_encrypt(key: &Self::RsaPublicKey, hash: Sha, message: &[u8]) -> CryptoResult<Vec<u8>>;
    /// RSAES-OAEP decryption (see [`CryptoProvider::rsa_oaep_encrypt`]).
    fn rsa_oaep_decrypt(
        key: &Self::RsaPrivateKey,
        hash: Sha,
        ciphertext: &[u8],
    ) -> CryptoResult<Zeroizing<Vec<u8>>>;
    /// RSAES-PKCS1-v1_5 decryption (legacy `RSA1_5`, opt-in only).
    fn rsa_pkcs1v15_decrypt(key: &Self::RsaPrivateKey, ciphertext: &[u8])
        -> CryptoResult<Zeroizing<Vec<u8>>>;
    /// RSAES-PKCS1-v1_5 encryption. Only for producing test inputs; jwe-mint never emits RSA1_5.
    #[cfg_attr(not(test), allow(dead_code))]
    fn rsa_pkcs1v15_encrypt(key: &Self::RsaPublicKey, message: &[u8]) -> CryptoResult<Vec<u8>>;
    /// RSA signature (`RS256` or `PS256`).
    fn rsa_sign(key: &Self::RsaPrivateKey, scheme: RsaSignature, message: &[u8]) -> CryptoResult<Vec<u8>>;
    /// RSA signature verification.
    fn rsa_verify(key: &Self::RsaPublicKey, scheme: RsaSignature, message: &[u8], signature: &[u8]) -> bool;
}
