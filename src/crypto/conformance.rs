//! Provider conformance tests: known-answer vectors and error paths that every
//! [`CryptoProvider`] must satisfy, run against whichever [`Provider`] is compiled in (CI runs the
//! suite under both `aws-lc` and `rust-crypto`).
//!
//! Tests of one provider's own internals stay in that provider's file.
//!
//! Under `rust-crypto`, [`CryptoProvider::RSA_DECRYPTION_REFUSED`] is set: the library refuses RSA
//! decryption above this layer, but the primitives themselves still work and are tested here.

use super::{CryptoProvider, EcCurve, Provider, RsaPrivateComponents, RsaSignature, Sha};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use zeroize::Zeroizing;

type P = Provider;

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

fn b64u(s: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(s).unwrap()
}

#[test]
fn provider_name_is_exported() {
    assert_eq!(<P as CryptoProvider>::NAME, super::PROVIDER_NAME);
}

#[test]
fn constant_time_eq_is_byte_equality() {
    assert!(Provider::constant_time_eq(b"", b""));
    assert!(Provider::constant_time_eq(b"secret digest", b"secret digest"));
    assert!(!Provider::constant_time_eq(b"secret digest", b"secret digesT"));
    assert!(!Provider::constant_time_eq(b"secret", b"secret digest"));
    assert!(!Provider::constant_time_eq(b"a", b""));
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

// ---- RFC 7518 Appendix C: ECDH-ES on P-256 and the Concat KDF ----------------------------------

const C_ALICE_D: &str = "0_NxaRPUMQoAJt50Gz8YiTr8gRTwyEaCumd-MToTmIo";
const C_ALICE_X: &str = "gI0GAILBdu7T53akrFmMyGcsF3n5dO7MmwNBHKW5SV0";
const C_ALICE_Y: &str = "SLW_xSffzlPWrHEVI30DHM_4egVwt3NQqeUD7nMFpps";
const C_BOB_D: &str = "VEmDZpDXXK8p8N0Cndsxs924q6nS1RXFASRl6BfUqdw";
const C_BOB_X: &str = "weNJy2HscCSM6AEDTDg04biOvhFhyyWvOHQfeF_PxMQ";
const C_BOB_Y: &str = "e8lnCO-AlStT-NJVX-crhB7QRYhiix03illJOVAOyck";
const C_Z: &str = "9e56d91d817135d372834283bf84269cfb316ea3da806a48f6daa7798cfe90c4";

/// Alice's ephemeral d × Bob's public = Z, both ways; keys export and import.
#[test]
fn rfc7518_c_ecdh_p256() {
    let (alice_d, alice_x, alice_y) = (b64u(C_ALICE_D), b64u(C_ALICE_X), b64u(C_ALICE_Y));
    let z_expected = hex(C_Z);

    let alice = P::ec_private_from_bytes(EcCurve::P256, &alice_d).unwrap();
    assert_eq!(P::ec_private_curve(&alice), EcCurve::P256);
    let alice_pub_derived = P::ec_public_from_private(&alice);
    assert_eq!(P::ec_public_coordinates(&alice_pub_derived), (alice_x.clone(), alice_y.clone()));
    assert_eq!(P::ec_private_to_bytes(&alice).as_slice(), alice_d.as_slice());
    let bob_pub = P::ec_public_from_coordinates(EcCurve::P256, &b64u(C_BOB_X), &b64u(C_BOB_Y)).unwrap();
    assert_eq!(P::ec_public_curve(&bob_pub), EcCurve::P256);
    assert_eq!(P::ecdh(&alice, &bob_pub).unwrap().as_slice(), z_expected.as_slice());

    // And the other way round, with Alice's public key both imported and derived.
    let bob = P::ec_private_from_bytes(EcCurve::P256, &b64u(C_BOB_D)).unwrap();
    let alice_pub = P::ec_public_from_coordinates(EcCurve::P256, &alice_x, &alice_y).unwrap();
    assert_eq!(P::ecdh(&bob, &alice_pub).unwrap().as_slice(), z_expected.as_slice());
    assert_eq!(P::ecdh(&bob, &alice_pub_derived).unwrap().as_slice(), z_expected.as_slice());
}

#[test]
fn rfc7518_c_concat_kdf() {
    let other_info = b64u("AAAAB0ExMjhHQ00AAAAFQWxpY2UAAAADQm9iAAAAgA");
    let mut cek = [0u8; 16];
    P::concat_kdf_sha256(&hex(C_Z), &other_info, &mut cek).unwrap();
    assert_eq!(cek.to_vec(), b64u("VqqN6vgjbSBcIijNcacQGg"));
    assert!(P::concat_kdf_sha256(&hex(C_Z), &other_info, &mut []).is_err());
}

// ---- EC -----------------------------------------------------------------------------------------

/// Private scalars: 0, n, n-1, 1, all-ones, wrong length, wrong curve (P-256 group order n).
#[test]
fn ec_private_scalar_validation() {
    let n = hex("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551");
    assert!(P::ec_private_from_bytes(EcCurve::P256, &n).is_err());
    let mut n_minus_1 = n.clone();
    n_minus_1[31] -= 1;
    assert!(P::ec_private_from_bytes(EcCurve::P256, &n_minus_1).is_ok());
    let mut one = vec![0u8; 32];
    one[31] = 1;
    assert!(P::ec_private_from_bytes(EcCurve::P256, &one).is_ok());

    let len = EcCurve::P256.field_len();
    assert!(P::ec_private_from_bytes(EcCurve::P256, &vec![0u8; len]).is_err());
    assert!(P::ec_private_from_bytes(EcCurve::P256, &[0xffu8; 32]).is_err());
    assert!(P::ec_private_from_bytes(EcCurve::P256, &b64u(C_ALICE_D)[1..]).is_err());
    assert!(P::ec_private_from_bytes(EcCurve::P384, &b64u(C_ALICE_D)).is_err());
}

#[test]
fn ec_generate_sign_verify_export_import() {
    let mut previous: Option<(EcCurve, <P as CryptoProvider>::EcPublicKey)> = None;
    for curve in [EcCurve::P256, EcCurve::P384, EcCurve::P521] {
        let n = curve.field_len();
        let key = P::ec_generate(curve).unwrap();
        assert_eq!(P::ec_private_curve(&key), curve);
        let public = P::ec_public_from_private(&key);
        assert_eq!(P::ec_public_curve(&public), curve);

        let sig = P::ecdsa_sign(&key, b"message").unwrap();
        assert_eq!(sig.len(), 2 * n);
        assert!(P::ecdsa_verify(&public, b"message", &sig));
        assert!(!P::ecdsa_verify(&public, b"messagf", &sig));
        assert!(!P::ecdsa_verify(&public, b"message", &sig[1..]));
        assert!(!P::ecdsa_verify(&public, b"message", &[]));
        assert!(!P::ecdsa_verify(&public, b"message", &vec![0u8; 2 * n]));
        // A flipped bit in r, then in s.
        for i in [3, n + 3] {
            let mut bad = sig.clone();
            bad[i] ^= 1;
            assert!(!P::ecdsa_verify(&public, b"message", &bad));
        }

        // Export / import round trip.
        let d = P::ec_private_to_bytes(&key);
        assert_eq!(d.len(), n);
        let (x, y) = P::ec_public_coordinates(&public);
        assert_eq!((x.len(), y.len()), (n, n));
        let key2 = P::ec_private_from_bytes(curve, &d).unwrap();
        assert_eq!(P::ec_public_coordinates(&P::ec_public_from_private(&key2)), (x.clone(), y.clone()));
        let public2 = P::ec_public_from_coordinates(curve, &x, &y).unwrap();
        assert!(P::ecdsa_verify(&public2, b"message", &sig));
        assert!(P::ecdsa_verify(&public2, b"other", &P::ecdsa_sign(&key2, b"other").unwrap()));

        // Off-curve point, wrong lengths, out-of-range coordinate, bad scalars.
        let mut y_bad = y.clone();
        y_bad[n - 1] ^= 1;
        assert!(P::ec_public_from_coordinates(curve, &x, &y_bad).is_err());
        assert!(P::ec_public_from_coordinates(curve, &x[1..], &y).is_err());
        assert!(P::ec_public_from_coordinates(curve, &x, &[y.clone(), vec![0]].concat()).is_err());
        let ff = vec![0xffu8; n];
        assert!(P::ec_public_from_coordinates(curve, &ff, &y).is_err());
        let zero = vec![0u8; n];
        assert!(P::ec_public_from_coordinates(curve, &zero, &zero).is_err());
        // The key-less check (before a token's ECDH) gives the same verdicts.
        assert!(P::ec_point_check(curve, &x, &y).is_ok());
        for (bx, by) in [(&x, &y_bad), (&ff, &y), (&zero, &zero)] {
            assert!(P::ec_point_check(curve, bx, by).is_err());
        }
        assert!(P::ec_point_check(curve, &x[1..], &y).is_err());
        assert!(P::ec_private_from_bytes(curve, &zero).is_err());
        assert!(P::ec_private_from_bytes(curve, &ff).is_err());
        assert!(P::ec_private_from_bytes(curve, &d[1..]).is_err());

        // ECDH both ways (with the derived and the imported public key).
        let other = P::ec_generate(curve).unwrap();
        let other_pub = P::ec_public_from_private(&other);
        let z1 = P::ecdh(&key, &other_pub).unwrap();
        let z2 = P::ecdh(&other, &public).unwrap();
        let z3 = P::ecdh(&other, &public2).unwrap();
        assert_eq!(z1.len(), n);
        assert_eq!(z1.as_slice(), z2.as_slice());
        assert_eq!(z1.as_slice(), z3.as_slice());

        // Curve mismatch with the previous curve's key.
        if let Some((prev_curve, prev_pub)) = &previous {
            assert_ne!(*prev_curve, curve);
            assert!(P::ecdh(&key, prev_pub).is_err());
            assert!(!P::ecdsa_verify(prev_pub, b"message", &sig));
        }
        previous = Some((curve, public));
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

// ---- X25519 -------------------------------------------------------------------------------------

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
    assert_eq!(P::x25519(&bob, &P::x25519_public(&eph)).unwrap().as_slice(), z_expected.as_slice());

    // Wrong lengths and small-order peers.
    assert!(P::x25519_private_from_bytes(&eph_d[..31]).is_err());
    assert!(P::x25519(&eph, &bob_pub[..31]).is_err());
    assert!(P::x25519(&eph, &[0u8; 32]).is_err());
    let mut one = [0u8; 32];
    one[0] = 1;
    assert!(P::x25519(&eph, &one).is_err());
}

#[test]
fn x25519_generate_and_reject_bad_peers() {
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
    let ab = P::x25519(&k, &P::x25519_public(&other)).unwrap();
    let ba = P::x25519(&other, &P::x25519_public(&k)).unwrap();
    assert_eq!(ab.as_slice(), ba.as_slice());
}

// ---- Ed25519 ------------------------------------------------------------------------------------

/// RFC 8032 §7.1 TEST 1.
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
    for short in [&public[..31], &public[1..]] {
        assert!(P::ed25519_public_from_bytes(short).is_err());
    }
    for short in [&seed[..31], &seed[1..]] {
        assert!(P::ed25519_private_from_seed(short).is_err());
    }

    let gen = P::ed25519_generate().unwrap();
    let gen_pk = P::ed25519_public_from_private(&gen);
    let s = P::ed25519_sign(&gen, b"hi").unwrap();
    assert!(P::ed25519_verify(&gen_pk, b"hi", &s));
    assert!(!P::ed25519_verify(&pk2, b"hi", &s));
    let again = P::ed25519_private_from_seed(&P::ed25519_private_to_seed(&gen)).unwrap();
    assert_eq!(P::ed25519_sign(&again, b"hi").unwrap(), s);
}

/// Every encoding of a small-order point (the eight points, with either sign bit) and every
/// non-canonical y ≥ p is refused as a public key; a signature with R = identity and S = 0 (valid
/// for every message under a small-order key and a cofactorless verifier) never verifies.
#[test]
fn ed25519_small_order_and_non_canonical_keys_are_refused() {
    let small_order_y = [
        "0000000000000000000000000000000000000000000000000000000000000000",
        "0100000000000000000000000000000000000000000000000000000000000000",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
    ];
    let mut refused = Vec::new();
    for y in small_order_y {
        let y = hex(y);
        refused.push(y.clone());
        let mut negative = y;
        negative[31] |= 0x80;
        refused.push(negative);
    }
    // y = p + k for k in 0..=18 (p = 2^255 - 19), both sign bits; some reduce to valid points.
    for k in 0u8..=18 {
        let mut y = vec![0xffu8; 32];
        y[0] = 0xed + k;
        y[31] = 0x7f;
        refused.push(y.clone());
        y[31] = 0xff;
        refused.push(y);
    }
    for encoded in &refused {
        assert!(P::ed25519_public_from_bytes(encoded).is_err(), "accepted {encoded:02x?}");
    }

    // A real key: R = identity, S = 0 does not verify, nor does any small-order R with S = 0.
    let public = hex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
    let key = P::ed25519_public_from_bytes(&public).unwrap();
    for r in &refused[..10] {
        let sig = [r.as_slice(), &[0u8; 32]].concat();
        assert!(!P::ed25519_verify(&key, b"any claims", &sig));
    }
}

/// The twelve edge cases of "Taming the many EdDSAs" (Chalkias, Garillot, Nikolaenko, SSR 2020),
/// `test-vectors/ed25519-speccheck/cases.json`: strict verification accepts only case 3 (mixed-order
/// A and R, 0 < S < L). Cases 0–2 have a small-order A or R, 4–5 pass only cofactored, 6–7 have
/// S ≥ L, 8–9 a non-canonical small-order R, 10–11 a non-canonical small-order A. Without the
/// provider's own checks, aws-lc (cofactorless) accepts cases 0, 1 and 2.
#[test]
fn ed25519_speccheck_cases_strict_verdicts() {
    let cases: serde_json::Value =
        serde_json::from_str(include_str!("../../test-vectors/ed25519-speccheck/cases.json")).unwrap();
    let cases = cases.as_array().unwrap();
    assert_eq!(cases.len(), 12);
    let accepted: Vec<usize> = cases
        .iter()
        .enumerate()
        .filter(|(_, c)| {
            let field = |name: &str| hex(c[name].as_str().unwrap());
            P::ed25519_public_from_bytes(&field("pub_key"))
                .is_ok_and(|key| P::ed25519_verify(&key, &field("message"), &field("signature")))
        })
        .map(|(i, _)| i)
        .collect();
    assert_eq!(accepted, [3], "cases accepted by {}", P::NAME);
}

// ---- AES key wrap -------------------------------------------------------------------------------

/// RFC 3394 §4.1 (A128KW), §4.4 (A192KW), §4.6 (A256KW). (Under `aws-lc`, which has no AES-192
/// key wrap, the §4.4 case exercises the provider's `aes-kw` fallback.)
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
        for flip in [1, 0x80] {
            let mut tampered = wrapped.clone();
            tampered[5] ^= flip;
            assert!(P::aes_kw_unwrap(&kek, &tampered).is_err());
        }
        assert!(P::aes_kw_unwrap(&kek, &wrapped[..wrapped.len() - 8]).is_err() || key.len() == 16);
        assert!(P::aes_kw_unwrap(&kek, &wrapped[..wrapped.len() - 1]).is_err());
        assert!(P::aes_kw_unwrap(&kek[1..], &wrapped).is_err());
        assert!(P::aes_kw_wrap(&kek, &key[..key.len() - 1]).is_err());
    }
    assert!(P::aes_kw_wrap(&[0u8; 20], &[0u8; 16]).is_err());
    assert!(P::aes_kw_unwrap(&[0u8; 16], &[0u8; 16]).is_err());
    assert!(P::aes_kw_wrap(&[0u8; 16], &[0u8; 8]).is_err());
    assert!(P::aes_kw_wrap(&[0u8; 16], &[0u8; 17]).is_err());
}

// ---- AES-CBC and HMAC ---------------------------------------------------------------------------

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
    for flip in [1, 0x80] {
        let mut flipped = t.clone();
        flipped[15] ^= flip;
        assert!(!P::hmac_verify_truncated(Sha::Sha256, &mac_key, &mac_input, &flipped));
    }
    assert!(!P::hmac_verify_truncated(Sha::Sha256, &mac_key, &mac_input, &[]));
    assert!(!P::hmac_verify_truncated(Sha::Sha256, &mac_key, &mac_input, &[m.clone(), vec![0]].concat()));
    assert!(!P::hmac_verify_truncated(Sha::Sha384, &mac_key, &mac_input, &t));
    assert!(!P::hmac_verify_truncated(Sha::Sha1, &mac_key, &mac_input, &t));
    assert!(P::hmac_sign(Sha::Sha1, &mac_key, &mac_input).is_err());
    assert_eq!(P::hmac_sign(Sha::Sha384, &mac_key, b"").unwrap().len(), 48);
    assert_eq!(P::hmac_sign(Sha::Sha512, &mac_key, b"").unwrap().len(), 64);

    // CBC error paths.
    assert!(P::aes_cbc_encrypt(&enc_key, &iv[..15], p).is_err());
    assert!(P::aes_cbc_encrypt(&enc_key[..15], &iv, p).is_err());
    assert!(P::aes_cbc_decrypt(&enc_key, &iv, &e[..e.len() - 1]).is_err());
    assert!(P::aes_cbc_decrypt(&enc_key, &iv, &[]).is_err());
}

#[test]
fn aes_cbc_round_trip_and_errors() {
    let b1_iv = hex("1af38c2dc2b96ffdd86694092341bc04");
    // (key byte, plaintext byte, IV)
    for (key_byte, pt_byte, iv) in [(7u8, 0x42u8, b1_iv.as_slice()), (0x42, 0xa5, &[7u8; 16])] {
        for klen in [16, 24, 32] {
            let key = vec![key_byte; klen];
            for len in [0usize, 1, 15, 16, 17, 100] {
                let pt = vec![pt_byte; len];
                let ct = P::aes_cbc_encrypt(&key, iv, &pt).unwrap();
                assert_eq!(ct.len(), (len / 16 + 1) * 16);
                assert_eq!(P::aes_cbc_decrypt(&key, iv, &ct).unwrap().as_slice(), pt.as_slice());
            }
        }
    }
    let iv = [7u8; 16];
    let key = [1u8; 16];
    assert!(P::aes_cbc_encrypt(&[0u8; 17], &iv, b"x").is_err());
    assert!(P::aes_cbc_encrypt(&key, &iv[..15], b"x").is_err());
    assert!(P::aes_cbc_decrypt(&key, &iv, &[]).is_err());
    assert!(P::aes_cbc_decrypt(&key, &iv, &[0u8; 15]).is_err());
    // Bad padding: the first block of a padded all-zero block decrypts to a last byte of 0x00.
    let ct = P::aes_cbc_encrypt(&key, &iv, &[0u8; 16]).unwrap();
    assert!(P::aes_cbc_decrypt(&key, &iv, &ct[..16]).is_err());
}

// ---- AES-GCM ------------------------------------------------------------------------------------

/// NIST GCM test cases 2 and 3 (AES-128), pinning the detached-tag layout.
#[test]
fn aes_gcm_known_answers() {
    // Test case 2: zero key and IV, one zero block.
    let (ct, tag) = P::aes_gcm_encrypt(&[0u8; 16], &[0u8; 12], b"", &[0u8; 16]).unwrap();
    assert_eq!(ct, hex("0388dace60b6a392f328c2b971b2fe78"));
    assert_eq!(tag.to_vec(), hex("ab6e47d42cec13bdf53a67b21257bddf"));

    // Test case 3.
    let key = hex("feffe9928665731c6d6a8f9467308308");
    let iv = hex("cafebabefacedbaddecaf888");
    let pt = hex("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72\
         1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255");
    let ct = hex("42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e\
         21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985");
    let tag = hex("4d5c2af327cd64a62cf35abd2ba6fab4");
    let (c, t) = P::aes_gcm_encrypt(&key, &iv, b"", &pt).unwrap();
    assert_eq!(c, ct);
    assert_eq!(t.to_vec(), tag);
}

#[test]
fn aes_gcm_round_trip_and_tamper() {
    for len in [16, 24, 32] {
        let mut random_key = vec![0u8; len];
        P::fill_random(&mut random_key).unwrap();
        for (key, iv) in [(random_key, [9u8; 12]), (vec![0x11u8; len], [3u8; 12])] {
            let (ct, tag) = P::aes_gcm_encrypt(&key, &iv, b"aad", b"hello world").unwrap();
            assert_eq!(ct.len(), 11);
            assert_eq!(P::aes_gcm_decrypt(&key, &iv, b"aad", &ct, &tag).unwrap().as_slice(), b"hello world");
            let mut bad_ct = ct.clone();
            bad_ct[0] ^= 1;
            assert!(P::aes_gcm_decrypt(&key, &iv, b"aad", &bad_ct, &tag).is_err());
            let mut bad_tag = tag;
            bad_tag[15] ^= 1;
            assert!(P::aes_gcm_decrypt(&key, &iv, b"aad", &ct, &bad_tag).is_err());
            assert!(P::aes_gcm_decrypt(&key, &iv, b"aaD", &ct, &tag).is_err());
            assert!(P::aes_gcm_decrypt(&key, &iv, b"aad", &ct, &tag[..12]).is_err());
            assert!(P::aes_gcm_decrypt(&key, &iv, b"aad", &ct, &tag[..15]).is_err());
            assert!(P::aes_gcm_encrypt(&key, &[0u8; 11], b"", b"x").is_err());
            assert!(P::aes_gcm_encrypt(&key, &iv[..11], b"aad", b"x").is_err());
            assert!(P::aes_gcm_decrypt(&key, &iv[..11], b"aad", &ct, &tag).is_err());
            assert!(P::aes_gcm_decrypt(&key, &[9u8; 13], b"aad", &ct, &tag).is_err());
            let (ct0, tag0) = P::aes_gcm_encrypt(&key, &iv, b"", b"").unwrap();
            assert!(ct0.is_empty());
            assert!(P::aes_gcm_decrypt(&key, &iv, b"", &ct0, &tag0).unwrap().is_empty());
        }
    }
    assert!(P::aes_gcm_encrypt(&[0u8; 17], &[0u8; 12], b"", b"x").is_err());
    assert!(P::aes_gcm_encrypt(&[0u8; 20], &[3u8; 12], b"", b"x").is_err());
}

// ---- PBKDF2 -------------------------------------------------------------------------------------

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
    for alg in [Sha::Sha384, Sha::Sha512] {
        P::pbkdf2(alg, b"p", b"s", 10, &mut short).unwrap();
        P::pbkdf2(alg, b"p", b"s", 2, &mut out).unwrap();
    }
}

// ---- RSA ----------------------------------------------------------------------------------------

/// Every RSA operation on one generated 2048-bit key. Under `rust-crypto` the library refuses RSA
/// decryption (`RSA_DECRYPTION_REFUSED` is set) above this layer; the primitives are still tested here.
#[test]
fn rsa_2048_all_operations() {
    let key = P::rsa_generate(2048).unwrap();
    let public = P::rsa_public_from_private(&key);
    assert_eq!(P::rsa_public_bits(&public), 2048);
    let (n, e) = P::rsa_public_components(&public);
    assert_eq!(e, vec![1, 0, 1]);
    assert_eq!(n.len(), 256);

    let cek = [0x5au8; 32];
    for (message, flip_at) in [(b"content encryption key".as_slice(), 10), (cek.as_slice(), 100)] {
        for hash in [Sha::Sha1, Sha::Sha256] {
            let ct = P::rsa_oaep_encrypt(&public, hash, message).unwrap();
            assert_eq!(ct.len(), 256);
            assert_eq!(P::rsa_oaep_decrypt(&key, hash, &ct).unwrap().as_slice(), message);
            let mut bad = ct.clone();
            bad[flip_at] ^= 1;
            assert!(P::rsa_oaep_decrypt(&key, hash, &bad).is_err());
            assert!(P::rsa_oaep_decrypt(&key, hash, &ct[1..]).is_err());
        }
    }
    for message in [b"k".as_slice(), cek.as_slice()] {
        let ct = P::rsa_oaep_encrypt(&public, Sha::Sha1, message).unwrap();
        assert!(P::rsa_oaep_decrypt(&key, Sha::Sha256, &ct).is_err());
        assert!(P::rsa_oaep_encrypt(&public, Sha::Sha512, message).is_err());
    }

    for message in [b"legacy key".as_slice(), cek.as_slice()] {
        let ct = P::rsa_pkcs1v15_encrypt(&public, message).unwrap();
        assert_eq!(P::rsa_pkcs1v15_decrypt(&key, &ct).unwrap().as_slice(), message);
    }

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
    let rs = P::rsa_sign(&key, RsaSignature::Pkcs1Sha256, b"payload").unwrap();
    assert!(!P::rsa_verify(&public, RsaSignature::PssSha256, b"payload", &rs));
    // RS256 is deterministic.
    assert_eq!(P::rsa_sign(&key, RsaSignature::Pkcs1Sha256, b"payload").unwrap(), rs);

    // Components export -> import.
    let c = P::rsa_private_components(&key);
    assert_eq!((&c.n, &c.e), (&n, &e));
    assert_eq!(c.p.len() + c.q.len(), 256);
    for part in [&c.d, &c.p, &c.q, &c.dp, &c.dq, &c.qi] {
        assert!(!part.is_empty() && part[0] != 0);
    }
    let key2 = P::rsa_private_from_components(&c).unwrap();
    let ct = P::rsa_oaep_encrypt(&public, Sha::Sha256, b"again").unwrap();
    assert_eq!(P::rsa_oaep_decrypt(&key2, Sha::Sha256, &ct).unwrap().as_slice(), b"again");
    assert_eq!(P::rsa_sign(&key2, RsaSignature::Pkcs1Sha256, b"payload").unwrap(), rs);
    let public2 = P::rsa_public_from_components(&n, &e).unwrap();
    assert!(P::rsa_verify(&public2, RsaSignature::Pkcs1Sha256, b"payload", &rs));
    let pss = P::rsa_sign(&key2, RsaSignature::PssSha256, b"m").unwrap();
    assert!(P::rsa_verify(&public2, RsaSignature::PssSha256, b"m", &pss));
    let ct = P::rsa_oaep_encrypt(&public2, Sha::Sha1, b"third").unwrap();
    assert_eq!(P::rsa_oaep_decrypt(&key, Sha::Sha1, &ct).unwrap().as_slice(), b"third");
    // Leading zero on n is tolerated.
    assert!(P::rsa_public_from_components(&[vec![0], n.clone()].concat(), &e).is_ok());

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
    assert!(tweak(&|c| c.n[100] ^= 1));
    assert!(tweak(&|c| c.d = Zeroizing::new(Vec::new())));
    assert!(tweak(&|c| std::mem::swap(&mut c.p, &mut c.q)));

    // Bad public keys: too short, even / unit / empty exponent, empty or oversized modulus.
    assert!(P::rsa_public_from_components(&n[..128], &e).is_err());
    assert!(P::rsa_public_from_components(&n, &[1]).is_err());
    assert!(P::rsa_public_from_components(&n, &[1, 0, 0]).is_err());
    assert!(P::rsa_public_from_components(&n, &[]).is_err());
    assert!(P::rsa_public_from_components(&[], &e).is_err());
    assert!(P::rsa_public_from_components(&vec![0xffu8; 2000], &e).is_err());

    // Unsupported sizes.
    assert!(P::rsa_generate(1024).is_err());
    assert!(P::rsa_generate(2047).is_err());
}

#[test]
fn ecdh_ephemeral_and_with_coordinates_agree_and_validate() {
    type P = Provider;
    for curve in [EcCurve::P256, EcCurve::P384, EcCurve::P521] {
        let recipient = P::ec_generate(curve).unwrap();
        let recipient_public = P::ec_public_from_private(&recipient);
        let super::EphemeralAgreement { z: z_sender, x, y } = P::ecdh_ephemeral(&recipient_public).unwrap();
        assert_eq!(z_sender.len(), curve.field_len());
        assert_eq!((x.len(), y.len()), (curve.field_len(), curve.field_len()));
        let z_recipient = P::ecdh_with_coordinates(&recipient, &x, &y).unwrap();
        assert_eq!(z_sender, z_recipient, "{curve:?}");
        // Fresh ephemeral key every time.
        let second = P::ecdh_ephemeral(&recipient_public).unwrap();
        let (z2, x2) = (second.z, second.x);
        assert_ne!((z2, x2), (z_sender.clone(), x.clone()));
        // Off-curve, identity-like, short and oversized peers are rejected.
        let mut off = y.clone();
        let last = off.len() - 1;
        off[last] ^= 1;
        assert!(P::ecdh_with_coordinates(&recipient, &x, &off).is_err(), "{curve:?} off-curve");
        let zeros = vec![0u8; curve.field_len()];
        assert!(P::ecdh_with_coordinates(&recipient, &zeros, &zeros).is_err(), "{curve:?} (0,0)");
        assert!(P::ecdh_with_coordinates(&recipient, &x[1..], &y).is_err());
        let long = [x.as_slice(), &[0]].concat();
        assert!(P::ecdh_with_coordinates(&recipient, &long, &y).is_err());
        // A coordinate ≥ p (all 0xff) is not a field element.
        let big = vec![0xffu8; curve.field_len()];
        assert!(P::ecdh_with_coordinates(&recipient, &big, &y).is_err());
    }
}
