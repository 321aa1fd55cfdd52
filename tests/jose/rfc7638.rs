//! RFC 7638 §3.1 known-answer test: the SHA-256 JWK thumbprint of the example RSA key.

use crate::vectors;

use vectors::{jwk, s, vector};

#[test]
fn rfc7638_3_1_rsa_thumbprint() {
    let v = vector("rfc7638/3.1.thumbprint_rsa.json");
    let key = jwk(&v["jwk"], "§3.1");
    assert_eq!(key.thumbprint(), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs", "§3.1 thumbprint (literal)");
    assert_eq!(key.thumbprint(), s(&v, &["thumbprint_b64u"]), "§3.1 thumbprint (vector file)");
}

#[test]
fn rfc7638_3_1_thumbprint_ignores_kid_alg_and_private_state() {
    let v = vector("rfc7638/3.1.thumbprint_rsa.json");
    let key = jwk(&v["jwk"], "§3.1");
    let relabelled = key.clone().with_kid("other").with_alg("PS256");
    assert_eq!(relabelled.thumbprint(), s(&v, &["thumbprint_b64u"]), "§3.1 thumbprint with another kid/alg");
    assert_eq!(key.to_public().unwrap().thumbprint(), s(&v, &["thumbprint_b64u"]), "§3.1 public-only");
}
