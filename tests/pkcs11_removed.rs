//! A token removed while its key is in use: a clear error naming the token, no panic, no
//! PIN. In its own test binary, so deleting the token cannot disturb the other PKCS#11 tests.
#![cfg(feature = "pkcs11")]
#![allow(clippy::unwrap_used, unreachable_pub)] // test code: a failed unwrap is a failed test

#[path = "support/softhsm.rs"]
mod softhsm;

use jwe_mint::jwk::{Curve, Jwk, PublicKeyUse};
use jwe_mint::Error;
use softhsm::{check_error, grant, hsm, issuer_with, RS};

#[test]
fn a_removed_token_is_a_clear_error() {
    let Some(h) = hsm() else { return };
    let as_key =
        Jwk::generate_in_pkcs11(&h.uri("removable", "as"), Curve::P256, PublicKeyUse::Signature).unwrap();
    let rs_public = Jwk::generate(Curve::P256).unwrap().to_public().unwrap();
    let issuer = issuer_with(&as_key, &rs_public, None).unwrap();
    issuer.mint(&grant(), RS).unwrap();
    h.delete_token("removable");
    let e = issuer.mint(&grant(), RS).unwrap_err();
    let text = check_error(&e);
    assert!(matches!(e, Error::Pkcs11(_)) && text.contains("token=removable"), "{e:?}");
    let e = Jwk::from_pkcs11_uri(&h.uri("removable", "as")).unwrap_err();
    check_error(&e);
    assert!(matches!(e, Error::Pkcs11(_)), "{e:?}");
}
