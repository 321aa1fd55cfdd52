//! Attacker-side simulation for the `epk` tests: what an implementation that skipped a check
//! would compute, so the test can hand it a token whose tag is valid under that secret.
//!
//! This is textbook affine short-Weierstrass arithmetic over big integers, used by the tests only
//! to model an unchecking peer (an off-curve point has no representation in a validating EC
//! library). It is slow, variable-time and never used by the library.

use num_bigint::BigUint;
use serde_json::{json, Value};

use jwe_mint::jwa::{hazmat, ContentEncryptionAlg as Enc};

/// A short-Weierstrass curve y² = x³ + a·x + b over GF(p) with a = -3 (P-256, P-384). The group law
/// never uses `b`, so it computes on whichever curve `y² - x³ + 3x` defines for the input point:
/// exactly what an implementation that does not check the curve equation ends up doing.
pub struct Curve {
    p: BigUint,
    len: usize,
}

/// An affine point; `None` is the point at infinity.
pub type Point = Option<(BigUint, BigUint)>;

impl Curve {
    /// NIST P-256 (FIPS 186-4 §D.1.2.3).
    pub fn p256() -> Curve {
        Curve { p: hex("ffffffff00000001000000000000000000000000ffffffffffffffffffffffff"), len: 32 }
    }

    /// NIST P-384 (FIPS 186-4 §D.1.2.4).
    pub fn p384() -> Curve {
        Curve {
            p: hex(concat!(
                "ffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
                "fffffffeffffffff0000000000000000ffffffff"
            )),
            len: 48,
        }
    }

    fn sub(&self, a: &BigUint, b: &BigUint) -> BigUint {
        ((a % &self.p) + &self.p - (b % &self.p)) % &self.p
    }

    fn mul(&self, a: &BigUint, b: &BigUint) -> BigUint {
        (a * b) % &self.p
    }

    fn inv(&self, a: &BigUint) -> BigUint {
        a.modpow(&(&self.p - 2u32), &self.p)
    }

    fn add(&self, p1: &Point, p2: &Point) -> Point {
        let (Some((x1, y1)), Some((x2, y2))) = (p1, p2) else {
            return p1.clone().or_else(|| p2.clone());
        };
        let lambda = if x1 == x2 {
            if (y1 + y2) % &self.p == BigUint::ZERO {
                return None; // P + (-P), or doubling a point with y = 0
            }
            // (3x² + a) / 2y with a = -3
            let num = self.sub(&(self.mul(x1, x1) * 3u32), &BigUint::from(3u32));
            self.mul(&num, &self.inv(&(y1 * 2u32)))
        } else {
            self.mul(&self.sub(y2, y1), &self.inv(&self.sub(x2, x1)))
        };
        let x3 = self.sub(&self.sub(&self.mul(&lambda, &lambda), x1), x2);
        let y3 = self.sub(&self.mul(&lambda, &self.sub(x1, &x3)), y1);
        Some((x3, y3))
    }

    /// `k · point` by double-and-add.
    pub fn mul_point(&self, k: &[u8], point: &Point) -> Point {
        let k = BigUint::from_bytes_be(k);
        let mut acc: Point = None;
        for i in (0..k.bits()).rev() {
            acc = self.add(&acc, &acc);
            if k.bit(i) {
                acc = self.add(&acc, point);
            }
        }
        acc
    }

    /// The ECDH shared secret an unchecking implementation derives: the x-coordinate of
    /// `d · (x, y)`, `len` bytes big-endian; `None` when the product is the point at infinity.
    pub fn raw_ecdh(&self, d: &[u8], x: &[u8], y: &[u8]) -> Option<Vec<u8>> {
        let point = Some((BigUint::from_bytes_be(x), BigUint::from_bytes_be(y)));
        let (x, _) = self.mul_point(d, &point)?;
        Some(self.bytes(&x))
    }

    /// Whether (x, y) satisfies the curve equation with the given `b`.
    pub fn on_curve(&self, b: &BigUint, x: &[u8], y: &[u8]) -> bool {
        let (x, y) = (BigUint::from_bytes_be(x), BigUint::from_bytes_be(y));
        let rhs = (self.sub(&self.mul(&self.mul(&x, &x), &x), &(&x * 3u32)) + b) % &self.p;
        self.mul(&y, &y) == rhs
    }

    /// A field element as `len` bytes big-endian.
    pub fn bytes(&self, v: &BigUint) -> Vec<u8> {
        let raw = v.to_bytes_be();
        let mut out = vec![0u8; self.len - raw.len()];
        out.extend_from_slice(&raw);
        out
    }
}

/// P-256's `b` (FIPS 186-4 §D.1.2.3).
pub fn p256_b() -> BigUint {
    hex("5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604b")
}

/// Big-endian hex to an integer.
pub fn hex(s: &str) -> BigUint {
    BigUint::parse_bytes(s.as_bytes(), 16).expect("hex")
}

/// The plaintext every attacker token carries.
pub const PLAINTEXT: &[u8] = b"attacker-chosen claims";

/// A compact `ECDH-ES+A256KW` / `A256GCM` token with the given `epk`, encrypted under the key
/// that shared secret `z` yields through the RFC 7518 §4.6.2 Concat KDF. An implementation that
/// derives the same `z` from this `epk` opens it; its tag is valid under no other key.
pub fn token(epk: &Value, z: &[u8]) -> String {
    let header = json!({"alg": "ECDH-ES+A256KW", "enc": "A256GCM", "epk": epk});
    let protected = super::enc(header.to_string().as_bytes());
    let kek = hazmat::concat_kdf(z, "ECDH-ES+A256KW", b"", b"", 32).unwrap();
    let cek = [0x42u8; 32];
    let encrypted_key = hazmat::aes_key_wrap(&kek, &cek).unwrap();
    let iv = [7u8; 12];
    let (ciphertext, tag) =
        hazmat::content_encrypt(Enc::A256Gcm, &cek, &iv, protected.as_bytes(), PLAINTEXT).unwrap();
    [protected, super::enc(&encrypted_key), super::enc(&iv), super::enc(&ciphertext), super::enc(&tag)]
        .join(".")
}
