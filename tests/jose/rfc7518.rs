//! RFC 7518 (JWA) known-answer tests: Appendix B (AES_CBC_HMAC_SHA2) and Appendix C (ECDH-ES with
//! the Concat KDF).

use crate::vectors;

use jwe_mint::jwa::{hazmat, ContentEncryptionAlg as Enc};
use jwe_mint::Error;
use vectors::{b64, b64e, hex, jwk, s, vector};

/// Appendix B test case `index` (0 = B.1, 1 = B.2, 2 = B.3): E and T must be exact, decryption must
/// give P back, and a tampered T must be refused.
fn appendix_b(index: usize, section: &str, enc: Enc) {
    let v = vector("rfc7518/B.aes_cbc_hmac_sha2.json");
    let c = &v["testCases"][index];
    assert_eq!(s(c, &["section"]), format!("RFC 7518 Appendix {section}"), "vector file order");
    assert_eq!(s(c, &["enc"]), enc.name(), "{section}: enc");
    let (k, p, iv, a) =
        (hex(s(c, &["K_hex"])), hex(s(c, &["P_hex"])), hex(s(c, &["IV_hex"])), hex(s(c, &["A_hex"])));
    let (e, t) = (hex(s(c, &["E_hex"])), hex(s(c, &["T_hex"])));
    assert_eq!(b64(s(c, &["T_b64u"])), t, "{section}: vector's T hex and base64url agree");

    let (ct, tag) =
        hazmat::content_encrypt(enc, &k, &iv, &a, &p).unwrap_or_else(|err| panic!("{section}: {err}"));
    assert_eq!(ct, e, "{section}: ciphertext E");
    assert_eq!(tag, t, "{section}: tag T");

    let back =
        hazmat::content_decrypt(enc, &k, &iv, &a, &e, &t).unwrap_or_else(|err| panic!("{section}: {err}"));
    assert_eq!(&back[..], &p[..], "{section}: decrypts to P");

    let mut bad_t = t.clone();
    bad_t[0] ^= 1;
    assert_eq!(
        hazmat::content_decrypt(enc, &k, &iv, &a, &e, &bad_t).map(|_| ()),
        Err(Error::DecryptionFailed),
        "{section}: tampered T must be refused"
    );
    let mut bad_a = a.clone();
    bad_a[0] ^= 1;
    assert_eq!(
        hazmat::content_decrypt(enc, &k, &iv, &bad_a, &e, &t).map(|_| ()),
        Err(Error::DecryptionFailed),
        "{section}: tampered A must be refused"
    );
}

#[test]
fn rfc7518_b1_a128cbc_hs256() {
    appendix_b(0, "B.1", Enc::A128CbcHs256);
}

#[test]
fn rfc7518_b2_a192cbc_hs384() {
    appendix_b(1, "B.2", Enc::A192CbcHs384);
}

#[test]
fn rfc7518_b3_a256cbc_hs512() {
    appendix_b(2, "B.3", Enc::A256CbcHs512);
}

#[test]
fn rfc7518_c_ecdh_z_alice_ephemeral_with_bob() {
    let v = vector("rfc7518/C.ecdh_es_p256_concat_kdf.json");
    let alice = jwk(&v["alice_ephemeral_jwk"], "C Alice");
    let bob = jwk(&v["bob_jwk"], "C Bob");
    let z = hazmat::ecdh_shared_secret(&alice, &bob.to_public().unwrap()).expect("C: Z (Alice side)");
    assert_eq!(&z[..], &b64(s(&v, &["Z_b64u"]))[..], "C: Z from Alice's ephemeral private and Bob's public");
}

#[test]
fn rfc7518_c_ecdh_z_bob_with_alice_ephemeral() {
    let v = vector("rfc7518/C.ecdh_es_p256_concat_kdf.json");
    let alice = jwk(&v["alice_ephemeral_jwk"], "C Alice");
    let bob = jwk(&v["bob_jwk"], "C Bob");
    let z = hazmat::ecdh_shared_secret(&bob, &alice.to_public().unwrap()).expect("C: Z (Bob side)");
    assert_eq!(&z[..], &b64(s(&v, &["Z_b64u"]))[..], "C: Z from Bob's private and Alice's ephemeral public");
}

#[test]
fn rfc7518_c_concat_kdf_derives_cek() {
    let v = vector("rfc7518/C.ecdh_es_p256_concat_kdf.json");
    let z = b64(s(&v, &["Z_b64u"]));
    let key = hazmat::concat_kdf(&z, "A128GCM", b"Alice", b"Bob", 16).expect("C: Concat KDF");
    assert_eq!(b64e(&key), "VqqN6vgjbSBcIijNcacQGg", "C: derived key (literal)");
    assert_eq!(&key[..], &b64(s(&v, &["derived_key_b64u"]))[..], "C: derived key (vector file)");
    assert_eq!(b64(s(&v, &["apu_b64u"])), b"Alice", "C: apu");
    assert_eq!(b64(s(&v, &["apv_b64u"])), b"Bob", "C: apv");
}
