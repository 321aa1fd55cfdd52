//! PKCS#11 under load and when things go wrong: 8 threads minting and opening through
//! one module; a wrong PIN, a missing object and a key of the wrong type are each a clear error
//! (a removed token: `tests/pkcs11_removed.rs`), never a panic, and no PIN shows up in any message or `Debug`.
#![cfg(feature = "pkcs11")]

use crate::softhsm;

use std::sync::Arc;

use jwe_mint::issuer::{Grant, Issuer};
use jwe_mint::jwa::SigningAlg;
use jwe_mint::jwk::{Curve, Jwk, JwkSet, PublicKeyUse};
use jwe_mint::resource_server::ResourceServer;
use jwe_mint::Error;
use softhsm::{assert_no_pin, check_error, grant, hsm, issuer_with, AS, PIN, RS};

#[test]
fn eight_threads_mint_and_open_through_one_module() {
    let Some(h) = hsm() else { return };
    let as_key =
        Jwk::generate_in_pkcs11(&h.uri("threads", "as"), Curve::P256, PublicKeyUse::Signature).unwrap();
    let rs_key =
        Jwk::generate_in_pkcs11(&h.uri("threads", "rs"), Curve::P384, PublicKeyUse::Encryption).unwrap();
    let issuer = Arc::new(issuer_with(&as_key, &rs_key.to_public().unwrap(), None).unwrap());
    let rs = Arc::new(
        ResourceServer::builder(RS, AS)
            .decryption_keys(JwkSet::new(vec![rs_key.clone()]))
            .issuer_keys(JwkSet::new(vec![as_key.to_public().unwrap()]))
            .build()
            .unwrap(),
    );
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let (issuer, rs) = (issuer.clone(), rs.clone());
            std::thread::spawn(move || {
                for i in 0..25 {
                    let g = Grant::new(&format!("user-{t}-{i}"), "app", "read", &[RS]).unwrap();
                    let token = issuer.mint(&g, RS).unwrap().access_token;
                    assert_eq!(rs.open(&token).unwrap().subject(), format!("user-{t}-{i}"));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("no thread panicked");
    }
    // The keys are still open (their sessions pooled): nothing derived may remain.
    assert_eq!(h.view("threads").secret_keys, 0);
}

#[test]
fn wrong_pin_is_a_clear_error_without_the_pin() {
    let Some(h) = hsm() else { return };
    let wrong = h.dir.join("wrong.pin");
    std::fs::write(&wrong, "not-the-pin-1234\n").unwrap();
    // No key of this token was ever opened with the right PIN in this process (PKCS#11 login
    // state is per process and token), so the token really checks this one.
    let e = Jwk::from_pkcs11_uri(&h.uri_with_pin_file("wrongpin", "anything", &wrong)).unwrap_err();
    let text = check_error(&e);
    assert!(matches!(e, Error::Pkcs11(_)), "{e:?}");
    assert!(text.contains("PIN incorrect") && text.contains("token=wrongpin"), "{text}");
    assert!(!text.contains("not-the-pin"), "{text}");

    // A PIN variable that is not set, a PIN file that does not exist, a pin-value URI.
    let unset = format!(
        "pkcs11:token=wrongpin;object=k?module-path={}&pin-source=env:JWE_MINT_TEST_NO_SUCH_VAR",
        h.module.display()
    );
    let text = check_error(&Jwk::from_pkcs11_uri(&unset).unwrap_err());
    assert!(text.contains("JWE_MINT_TEST_NO_SUCH_VAR") && text.contains("not set"), "{text}");
    let missing = h.uri_with_pin_file("wrongpin", "k", &h.dir.join("no-such.pin"));
    let text = check_error(&Jwk::from_pkcs11_uri(&missing).unwrap_err());
    assert!(text.contains("cannot read the PIN file"), "{text}");
    let inline = format!("pkcs11:token=wrongpin;object=k?module-path={}&pin-value={PIN}", h.module.display());
    let e = Jwk::from_pkcs11_uri(&inline).unwrap_err();
    assert!(check_error(&e).contains("pin-value"), "{e}");
}

/// SoftHSM tokens require a login and have no PIN pad: a URI without `pin-source` is refused
/// at once with what to add, for opening and for generating a key alike.
#[test]
fn a_token_that_requires_a_login_without_a_pin_source_is_a_clear_error() {
    let Some(h) = hsm() else { return };
    let no_pin = format!("pkcs11:token=errors;object=no-pin?module-path={}", h.module.display());
    for e in [
        Jwk::from_pkcs11_uri(&no_pin).unwrap_err(),
        Jwk::generate_in_pkcs11(&no_pin, Curve::P256, PublicKeyUse::Signature).unwrap_err(),
    ] {
        let text = check_error(&e);
        assert!(
            text.contains("requires a login and no PIN is configured") && text.contains("pin-source="),
            "{text}"
        );
    }
}

#[test]
fn missing_object_token_and_module_are_clear_errors() {
    let Some(h) = hsm() else { return };
    let text = check_error(&Jwk::from_pkcs11_uri(&h.uri("errors", "no-such-key")).unwrap_err());
    assert!(text.contains("no private key object matches") && text.contains("object=no-such-key"), "{text}");
    let text = check_error(&Jwk::from_pkcs11_uri(&h.uri("no-such-token", "k")).unwrap_err());
    assert!(text.contains("no such token"), "{text}");
    let bad_module = format!(
        "pkcs11:token=errors;object=k?module-path=/nonexistent/libpkcs11.so&pin-source=file:{}",
        h.pin_file.display()
    );
    let text = check_error(&Jwk::from_pkcs11_uri(&bad_module).unwrap_err());
    assert!(
        text.contains("cannot load the PKCS#11 module") && text.contains("/nonexistent/libpkcs11.so"),
        "{text}"
    );
}

#[test]
fn keys_of_the_wrong_type_are_clear_errors() {
    let Some(h) = hsm() else { return };
    let ec_sig =
        Jwk::generate_in_pkcs11(&h.uri("errors", "ec-sig"), Curve::P256, PublicKeyUse::Signature).unwrap();
    let ec_enc =
        Jwk::generate_in_pkcs11(&h.uri("errors", "ec-enc"), Curve::P256, PublicKeyUse::Encryption).unwrap();
    let rs_public = Jwk::generate(Curve::P256).unwrap().to_public().unwrap();

    // An EC key cannot be a PS256 key: refused before the token is asked.
    let e = Issuer::builder(AS, &ec_sig).signing_alg(SigningAlg::Ps256).build().unwrap_err();
    assert!(matches!(e, Error::NoMatchingKey(_)), "{e:?}");

    // A key the token only lets derive (CKA_SIGN false), used to sign: the token refuses.
    let enc_as_signer =
        Jwk::from_pkcs11_uri(&h.uri("errors", "ec-enc")).unwrap().with_use(PublicKeyUse::Signature);
    let e = issuer_with(&enc_as_signer, &rs_public, None).unwrap().mint(&grant(), RS).unwrap_err();
    let text = check_error(&e);
    assert!(
        matches!(e, Error::Pkcs11(_))
            && text.contains("object=ec-enc")
            && text.contains("KeyFunctionNotPermitted"),
        "{text}"
    );

    // A signing-only key (CKA_DERIVE false) as an RS key: a clear error, not "decryption failed".
    let as_key = Jwk::generate(Curve::P256).unwrap();
    let sig_as_decrypter = Jwk::from_pkcs11_uri(&h.uri("errors", "ec-sig")).unwrap();
    let token = issuer_with(&as_key, &sig_as_decrypter.to_public().unwrap(), None)
        .unwrap()
        .mint(&grant(), RS)
        .unwrap()
        .access_token;
    let rs = ResourceServer::builder(RS, AS)
        .decryption_keys(JwkSet::new(vec![sig_as_decrypter]))
        .issuer_keys(JwkSet::new(vec![as_key.to_public().unwrap()]))
        .build()
        .unwrap();
    let e = rs.open(&token).unwrap_err();
    let text = check_error(&e);
    assert!(matches!(e, Error::Pkcs11(_)) && text.contains("object=ec-sig"), "{text}");
    drop(ec_enc);
}

#[test]
fn the_pin_from_an_environment_variable_logs_in() {
    let Some(h) = hsm() else { return };
    // Its own token, not logged in by any other test of this process: the token checks this PIN.
    std::env::set_var("JWE_MINT_TEST_ENV_PIN", PIN);
    let uri = format!(
        "pkcs11:token=envpin;object=as?module-path={}&pin-source=env:JWE_MINT_TEST_ENV_PIN",
        h.module.display()
    );
    let generated = Jwk::generate_in_pkcs11(&uri, Curve::P256, PublicKeyUse::Signature).unwrap();
    let key = Jwk::from_pkcs11_uri(&uri).unwrap();
    assert_eq!(key.kid(), generated.kid());
    assert_no_pin(&format!("{key:?}"));
    let rs_public = Jwk::generate(Curve::P256).unwrap().to_public().unwrap();
    issuer_with(&key, &rs_public, None).unwrap().mint(&grant(), RS).unwrap();
}
