//! PKCS#11 decryption: an RS whose private key stays inside a SoftHSM2 token opens
//! ECDH-ES(+AxxxKW) tokens on P-256/384/521 and RSA-OAEP tokens; RSA-OAEP-256, which SoftHSM 2.6
//! cannot do, is a clear error; the keys are sensitive and not extractable, and no derived secret
//! is left in the token; `RSA1_5` with a token key is refused, opt-in or not.
#![cfg(feature = "pkcs11")]

use crate::softhsm;

use jwe_mint::issuer::Issuer;
use jwe_mint::jwa::{ContentEncryptionAlg, KeyManagementAlg};
use jwe_mint::jwe::{self, DecryptPolicy, Encryptor};
use jwe_mint::jwk::{Curve, Jwk, JwkSet, PublicKeyUse};
use jwe_mint::Error;
use softhsm::{assert_no_pin, grant, hsm, issuer_with, rs_with, RS};

fn issuer_for(rs_public: &Jwk, alg: KeyManagementAlg) -> (Issuer, Jwk) {
    let as_key = Jwk::generate(Curve::P256).unwrap();
    (issuer_with(&as_key, rs_public, Some(alg)).unwrap(), as_key)
}

#[test]
fn ecdh_es_on_p256_p384_p521_keys_in_the_token() {
    let Some(h) = hsm() else { return };
    // Kept open until the token is inspected: closing a key's sessions would drop any leftover
    // session object and hide it.
    let mut open_keys = Vec::new();
    for (curve, name) in [(Curve::P256, "ecdh-p256"), (Curve::P384, "ecdh-p384"), (Curve::P521, "ecdh-p521")]
    {
        let key = Jwk::generate_in_pkcs11(&h.uri("decrypt", name), curve, PublicKeyUse::Encryption).unwrap();
        open_keys.push(key.clone());
        assert!(key.is_external());
        let public = key.to_public().unwrap();
        for alg in [
            KeyManagementAlg::EcdhEs,
            KeyManagementAlg::EcdhEsA128Kw,
            KeyManagementAlg::EcdhEsA192Kw,
            KeyManagementAlg::EcdhEsA256Kw,
        ] {
            let (issuer, as_key) = issuer_for(&public, alg);
            let token = issuer.mint(&grant(), RS).unwrap().access_token;
            let opened = rs_with(&key, &as_key).open(&token).unwrap();
            assert_eq!(opened.subject(), "alice", "{curve} {alg}");
            assert_eq!(opened.key_management(), Some(alg));

            // jwe::decrypt directly, and a tampered token stays the one opaque error.
            let jwe = Encryptor::new(ContentEncryptionAlg::A256Gcm).recipient(&public, alg);
            let compact = jwe.encrypt_compact(b"hello").unwrap();
            let keys = JwkSet::new(vec![key.clone()]);
            let d = jwe::decrypt(&compact, &keys, &DecryptPolicy::default()).unwrap();
            assert_eq!(&d.plaintext[..], b"hello");
            let mut bad = compact.clone().into_bytes();
            let last = bad.len() - 3;
            bad[last] = if bad[last] == b'A' { b'B' } else { b'A' };
            let bad = String::from_utf8(bad).unwrap();
            assert_eq!(
                jwe::decrypt(&bad, &keys, &DecryptPolicy::default()).unwrap_err(),
                Error::DecryptionFailed
            );
        }
    }
    // No derived secret is left behind, and the private keys never leave the token.
    let view = h.view("decrypt");
    assert_eq!(view.secret_keys, 0, "a derived ECDH secret was left in the token");
    assert!(view.private_keys.len() >= 3);
    for (label, sensitive, extractable, never_extractable) in &view.private_keys {
        assert!(*sensitive && !*extractable && *never_extractable, "{label}: {sensitive} {extractable}");
    }
    drop(open_keys);
}

#[test]
fn an_epk_off_the_curve_is_refused_before_the_token_sees_it() {
    let Some(h) = hsm() else { return };
    let key =
        Jwk::generate_in_pkcs11(&h.uri("decrypt", "invalid-curve"), Curve::P256, PublicKeyUse::Encryption)
            .unwrap();
    let public = key.to_public().unwrap();
    let compact = Encryptor::new(ContentEncryptionAlg::A256Gcm)
        .recipient(&public, KeyManagementAlg::EcdhEsA256Kw)
        .encrypt_compact(b"x")
        .unwrap();
    // Replace the epk with a point not on P-256 (x = y = 1), in a re-encoded protected header.
    let parts: Vec<&str> = compact.split('.').collect();
    let header: serde_json::Value = serde_json::from_slice(&b64d(parts[0])).unwrap();
    let mut header = header;
    header["epk"]["x"] = b64e(&[[0u8; 31].as_slice(), &[1]].concat()).into();
    header["epk"]["y"] = b64e(&[[0u8; 31].as_slice(), &[1]].concat()).into();
    let forged = format!("{}.{}", b64e(header.to_string().as_bytes()), parts[1..].join("."));
    let keys = JwkSet::new(vec![key]);
    assert_eq!(jwe::decrypt(&forged, &keys, &DecryptPolicy::default()).unwrap_err(), Error::DecryptionFailed);
}

fn b64e(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

fn b64d(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s).unwrap()
}

#[test]
fn rsa_oaep_key_in_the_token_and_oaep_256_is_a_clear_unsupported_error() {
    let Some(h) = hsm() else { return };
    let key =
        Jwk::generate_rsa_in_pkcs11(&h.uri("decrypt", "rsa-oaep"), 2048, PublicKeyUse::Encryption).unwrap();
    let public = key.to_public().unwrap();
    // RSA-OAEP (SHA-1): decrypted inside the token, under either provider.
    let (issuer, as_key) = issuer_for(&public, KeyManagementAlg::RsaOaep);
    let token = issuer.mint(&grant(), RS).unwrap().access_token;
    assert_eq!(rs_with(&key, &as_key).open(&token).unwrap().subject(), "alice");
    // A damaged encrypted key fails inside the token: the one opaque error, not a token error.
    let compact = Encryptor::new(ContentEncryptionAlg::A256Gcm)
        .recipient(&public, KeyManagementAlg::RsaOaep)
        .encrypt_compact(b"x")
        .unwrap();
    let parts: Vec<&str> = compact.split('.').collect();
    let mut ek = b64d(parts[1]);
    ek[10] ^= 1;
    let damaged = format!("{}.{}.{}", parts[0], b64e(&ek), parts[2..].join("."));
    let keys = JwkSet::new(vec![key.clone()]);
    assert_eq!(jwe::decrypt(&compact, &keys, &DecryptPolicy::default()).unwrap().plaintext.as_slice(), b"x");
    assert_eq!(
        jwe::decrypt(&damaged, &keys, &DecryptPolicy::default()).unwrap_err(),
        Error::DecryptionFailed
    );

    // RSA-OAEP-256: SoftHSM 2.6 has only SHA-1 for OAEP.
    let (issuer, as_key) = issuer_for(&public, KeyManagementAlg::RsaOaep256);
    let token = issuer.mint(&grant(), RS).unwrap().access_token;
    let err = rs_with(&key, &as_key).open(&token).unwrap_err();
    match &err {
        Error::Pkcs11(m) => {
            assert!(m.contains("RSA-OAEP-256") && m.contains("not supported by this token"), "{m}");
            assert!(m.contains("object=rsa-oaep"), "{m}");
        }
        other => panic!("expected Error::Pkcs11, got {other:?}"),
    }
    assert_no_pin(&err.to_string());
    assert_no_pin(&format!("{err:?}"));

    let view = h.view("decrypt");
    let rsa = view.private_keys.iter().find(|k| k.0 == "rsa-oaep").unwrap();
    assert!(rsa.1 && !rsa.2, "RSA key sensitive {} extractable {}", rsa.1, rsa.2);
}

/// An `RSA1_5` JWE made by josekit for `public` (jwe-mint never makes one).
#[allow(deprecated)]
fn rsa1_5_jwe(public: &Jwk) -> String {
    use josekit::jwe::{JweHeader, RSA1_5};
    let mut json: serde_json::Value = serde_json::from_str(&public.to_json().unwrap()).unwrap();
    json.as_object_mut().unwrap().remove("alg");
    let jwk = josekit::jwk::Jwk::from_bytes(json.to_string().as_bytes()).unwrap();
    let mut header = JweHeader::new();
    header.set_content_encryption("A128GCM");
    let encrypter = RSA1_5.encrypter_from_jwk(&jwk).unwrap();
    josekit::jwe::serialize_compact(b"legacy", &header, &encrypter).unwrap()
}

#[test]
fn rsa1_5_with_a_token_key_is_refused_with_or_without_the_opt_in() {
    let Some(h) = hsm() else { return };
    let key =
        Jwk::generate_rsa_in_pkcs11(&h.uri("decrypt", "rsa15"), 2048, PublicKeyUse::Encryption).unwrap();
    let keys = JwkSet::new(vec![key.clone()]);
    let jwe = rsa1_5_jwe(&key.to_public().unwrap());
    // A damaged encrypted key: the answer must not change (no padding oracle).
    let parts: Vec<&str> = jwe.split('.').collect();
    let mut ek = b64d(parts[1]);
    ek[0] ^= 0x80;
    let damaged = format!("{}.{}.{}", parts[0], b64e(&ek), parts[2..].join("."));

    // Without the opt-in: the refusal every RSA1_5 token gets, as with an in-memory key.
    let e = jwe::decrypt(&jwe, &keys, &DecryptPolicy::default()).unwrap_err();
    assert!(matches!(&e, Error::AlgorithmNotAllowed(a) if a == "RSA1_5"), "{e:?}");
    let memory = JwkSet::new(vec![Jwk::generate_rsa(2048).unwrap()]);
    assert_eq!(jwe::decrypt(&jwe, &memory, &DecryptPolicy::default()).unwrap_err(), e);

    // With the opt-in: refused for the token key before the token is asked (CKM_RSA_PKCS would
    // report bad padding), whatever the encrypted key holds.
    let legacy = DecryptPolicy::default().dangerous_allow_rsa1_5();
    for token in [&jwe, &damaged] {
        let e = jwe::decrypt(token, &keys, &legacy).unwrap_err();
        match &e {
            Error::Pkcs11(m) => {
                assert!(m.contains("RSA1_5 is not supported with a PKCS#11 key"), "{m}");
                assert!(m.contains("object=rsa15"), "{m}");
            }
            other => panic!("expected Error::Pkcs11, got {other:?}"),
        }
        assert_no_pin(&e.to_string());
        assert_no_pin(&format!("{e:?}"));
    }
    // RSA-OAEP with the same key still works.
    let oaep = Encryptor::new(ContentEncryptionAlg::A128Gcm)
        .recipient(&key.to_public().unwrap(), KeyManagementAlg::RsaOaep)
        .encrypt_compact(b"modern")
        .unwrap();
    assert_eq!(jwe::decrypt(&oaep, &keys, &legacy).unwrap().plaintext.as_slice(), b"modern");
}
