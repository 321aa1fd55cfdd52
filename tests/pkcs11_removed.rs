//! A token removed while its key is in use (issue H): a clear error naming the token, no panic, no
//! PIN. In its own test binary, so deleting the token cannot disturb the other PKCS#11 tests.
#![cfg(feature = "pkcs11")]

mod pkcs11_common;

use jwe_mint::issuer::{Grant, Issuer};
use jwe_mint::jwk::{Curve, Jwk, JwkSet, PublicKeyUse};
use jwe_mint::registry::{Registry, ResourceEntry};
use jwe_mint::Error;
use pkcs11_common::{assert_no_pin, hsm};

const AS: &str = "https://as.example.com";
const RS: &str = "https://api.example.com";

fn issuer(as_key: &Jwk, rs_public: &Jwk) -> jwe_mint::Result<Issuer> {
    let mut reg = Registry::default();
    reg.insert(ResourceEntry::new(RS, ["read"], JwkSet::new(vec![rs_public.clone()]))?)?;
    Issuer::builder(AS, as_key).registry(reg).allow_client("app", &[RS])?.build()
}

fn grant() -> Grant {
    Grant::new("alice", "app", "read", &[RS]).unwrap()
}

fn check_error(e: &Error) -> String {
    let text = e.to_string();
    assert_no_pin(&text);
    assert_no_pin(&format!("{e:?}"));
    text
}

#[test]
fn a_removed_token_is_a_clear_error() {
    let Some(h) = hsm() else { return };
    let as_key =
        Jwk::generate_in_pkcs11(&h.uri("removable", "as"), Curve::P256, PublicKeyUse::Signature).unwrap();
    let rs_public = Jwk::generate(Curve::P256).unwrap().to_public().unwrap();
    let issuer = issuer(&as_key, &rs_public).unwrap();
    issuer.mint(&grant(), RS).unwrap();
    h.delete_token("removable");
    let e = issuer.mint(&grant(), RS).unwrap_err();
    let text = check_error(&e);
    assert!(matches!(e, Error::Pkcs11(_)) && text.contains("token=removable"), "{e:?}");
    let e = Jwk::from_pkcs11_uri(&h.uri("removable", "as")).unwrap_err();
    check_error(&e);
    assert!(matches!(e, Error::Pkcs11(_)), "{e:?}");
}
