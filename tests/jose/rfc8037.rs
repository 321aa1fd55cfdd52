//! RFC 8037 Appendix A.6 known-answer test: ECDH-ES with X25519 (the RFC prints only Z).

use crate::vectors;

use jwe_mint::jwa::hazmat;
use vectors::{b64, hex, jwk, s, vector};

#[test]
fn rfc8037_a6_x25519_z_ephemeral_with_recipient() {
    let v = vector("rfc8037/A.6.ecdh_es_x25519.json");
    let eph = jwk(&v["ephemeral_private_jwk"], "A.6 ephemeral private");
    let bob = jwk(&v["recipient_public_jwk"], "A.6 recipient public");
    assert_eq!(
        b64(s(&v, &["ephemeral_secret_b64u"])),
        hex(s(&v, &["ephemeral_secret_hex"])),
        "A.6 ephemeral d"
    );
    let z = hazmat::ecdh_shared_secret(&eph, &bob).expect("A.6 Z (sender side)");
    assert_eq!(&z[..], &hex(s(&v, &["Z_hex"]))[..], "A.6: Z from ephemeral private and Bob's public");
}

#[test]
fn rfc8037_a6_x25519_z_recipient_with_ephemeral() {
    let v = vector("rfc8037/A.6.ecdh_es_x25519.json");
    let bob = jwk(&v["recipient_private_jwk"], "A.6 recipient private");
    let eph = jwk(&v["ephemeral_public_jwk"], "A.6 ephemeral public");
    let z = hazmat::ecdh_shared_secret(&bob, &eph).expect("A.6 Z (recipient side)");
    assert_eq!(&z[..], &b64(s(&v, &["Z_b64u"]))[..], "A.6: Z from Bob's private and the ephemeral public");
}

#[test]
fn rfc8037_a6_public_keys_match_private_keys() {
    let v = vector("rfc8037/A.6.ecdh_es_x25519.json");
    let eph = jwk(&v["ephemeral_private_jwk"], "A.6 ephemeral private");
    let bob = jwk(&v["recipient_private_jwk"], "A.6 recipient private");
    let x =
        |k: &jwe_mint::jwk::Jwk| k.to_public().unwrap().to_value().unwrap()["x"].as_str().unwrap().to_owned();
    assert_eq!(x(&eph), s(&v, &["ephemeral_public_jwk", "x"]), "A.6: ephemeral public key");
    assert_eq!(b64(&x(&eph)), hex(s(&v, &["ephemeral_public_hex"])), "A.6: ephemeral public key (hex)");
    assert_eq!(x(&bob), s(&v, &["recipient_public_jwk", "x"]), "A.6: Bob's public key");
}
