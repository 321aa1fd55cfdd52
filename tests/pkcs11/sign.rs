//! PKCS#11 signing: an AS whose signing key stays inside a SoftHSM2 token mints tokens
//! that open with the exported public key, in jwe-mint and in josekit.
#![cfg(feature = "pkcs11")]

use crate::softhsm;

use josekit::jwe as jk_jwe;
use josekit::jwk::Jwk as JkJwk;
use josekit::jws as jk_jws;
use josekit::jwt as jk_jwt;
use jwe_mint::issuer::{Grant, Issuer};
use jwe_mint::jwa::SigningAlg;
use jwe_mint::jwk::{Curve, Jwk, JwkSet, PublicKeyUse};
use jwe_mint::registry::{Registry, ResourceEntry};
use jwe_mint::resource_server::ResourceServer;
use softhsm::{assert_no_pin, hsm};

const AS: &str = "https://as.example.com";
const RS: &str = "https://api.example.com";

/// Mints with `as_key` (in the token), opens with its exported public key (jwe-mint RS), then
/// has josekit decrypt the JWE and verify the inner JWS with the same public key.
fn mint_and_open(
    as_key: &Jwk,
    alg: SigningAlg,
    josekit_verifier: &dyn Fn(&JkJwk) -> Box<dyn jk_jws::JwsVerifier>,
) {
    assert!(as_key.is_private() && as_key.is_external());
    let rs_key = Jwk::generate(Curve::P256).unwrap();
    let mut reg = Registry::default();
    reg.insert(ResourceEntry::new(RS, ["read"], JwkSet::new(vec![rs_key.to_public().unwrap()])).unwrap())
        .unwrap();
    let issuer = Issuer::builder(AS, as_key)
        .signing_alg(alg)
        .registry(reg)
        .allow_client("app", &[RS])
        .unwrap()
        .build()
        .unwrap();
    let grant = Grant::new("alice", "app", "read", &[RS]).unwrap();
    let token = issuer.mint(&grant, RS).unwrap().access_token;

    // The exported public key: JSON only, nothing of the token.
    let exported = as_key.to_public().unwrap().to_json().unwrap();
    assert!(!exported.contains("\"d\""));
    let as_public = Jwk::from_json(&exported).unwrap();
    assert_eq!(as_public.kid(), as_key.kid());
    let rs = ResourceServer::builder(RS, AS)
        .decryption_keys(JwkSet::new(vec![rs_key.clone()]))
        .issuer_keys(JwkSet::new(vec![as_public]))
        .build()
        .unwrap();
    let opened = rs.open(&token).unwrap();
    assert_eq!(opened.subject(), "alice");

    // josekit: decrypt with the RS key, verify the inner JWS with the HSM key's public JWK.
    let rs_private = JkJwk::from_bytes(rs_key.to_private_json().as_bytes()).unwrap();
    let decrypter = jk_jwe::ECDH_ES_A256KW.decrypter_from_jwk(&rs_private).unwrap();
    let (inner, _) = jk_jwe::deserialize_compact(&token, &decrypter).unwrap();
    let verifier = josekit_verifier(&JkJwk::from_bytes(exported.as_bytes()).unwrap());
    let (payload, header) =
        jk_jwt::decode_with_verifier(std::str::from_utf8(&inner).unwrap(), verifier.as_ref()).unwrap();
    assert_eq!(header.algorithm(), Some(alg.name()));
    assert_eq!(payload.subject(), Some("alice"));
}

#[test]
fn es256_es384_es512_as_keys_in_the_token() {
    let Some(h) = hsm() else { return };
    for (curve, alg, name) in [
        (Curve::P256, SigningAlg::Es256, "es256"),
        (Curve::P384, SigningAlg::Es384, "es384"),
        (Curve::P521, SigningAlg::Es512, "es512"),
    ] {
        let uri = h.uri("sign", name);
        let generated = Jwk::generate_in_pkcs11(&uri, curve, PublicKeyUse::Signature).unwrap();
        // Opening the same object again gives the same public key and thumbprint kid.
        let key = Jwk::from_pkcs11_uri(&uri).unwrap();
        assert_eq!(key.kid(), generated.kid());
        assert_eq!(key.kid(), Some(key.thumbprint().as_str()));
        assert_eq!(key.curve(), Some(curve));
        mint_and_open(&key, alg, &|jwk| match alg {
            SigningAlg::Es256 => Box::new(jk_jws::ES256.verifier_from_jwk(jwk).unwrap()),
            SigningAlg::Es384 => Box::new(jk_jws::ES384.verifier_from_jwk(jwk).unwrap()),
            _ => Box::new(jk_jws::ES512.verifier_from_jwk(jwk).unwrap()),
        });
    }
}

#[test]
fn eddsa_as_key_in_the_token() {
    let Some(h) = hsm() else { return };
    let uri = h.uri("sign", "ed25519");
    let key = Jwk::generate_in_pkcs11(&uri, Curve::Ed25519, PublicKeyUse::Signature).unwrap();
    assert_eq!(key.curve(), Some(Curve::Ed25519));
    mint_and_open(&key, SigningAlg::EdDsa, &|jwk| Box::new(jk_jws::EdDSA.verifier_from_jwk(jwk).unwrap()));
}

#[test]
fn ps256_as_key_in_the_token() {
    let Some(h) = hsm() else { return };
    let uri = h.uri("sign", "rsa-ps256");
    let key = Jwk::generate_rsa_in_pkcs11(&uri, 2048, PublicKeyUse::Signature).unwrap();
    assert_eq!(key.kty(), "RSA");
    mint_and_open(&key, SigningAlg::Ps256, &|jwk| Box::new(jk_jws::PS256.verifier_from_jwk(jwk).unwrap()));
    // RS256 through the token too (CKM_SHA256_RSA_PKCS).
    mint_and_open(&key, SigningAlg::Rs256, &|jwk| Box::new(jk_jws::RS256.verifier_from_jwk(jwk).unwrap()));
}

#[test]
fn token_keys_have_no_private_members_and_no_pin_in_debug() {
    let Some(h) = hsm() else { return };
    let uri = h.uri("sign", "debug-check");
    let key = Jwk::generate_in_pkcs11(&uri, Curve::P256, PublicKeyUse::Signature).unwrap();
    let private_json = key.to_private_json();
    assert!(!private_json.contains("\"d\""), "{private_json}");
    assert_no_pin(&format!("{key:?}"));
    assert_no_pin(&private_json);
    // Every signing key this binary made is sensitive and was never extractable.
    let view = h.view("sign");
    assert!(view.private_keys.iter().any(|k| k.0 == "debug-check"));
    for (label, sensitive, extractable, never_extractable) in &view.private_keys {
        assert!(*sensitive && !*extractable && *never_extractable, "{label}: {sensitive} {extractable}");
    }
}

#[test]
fn a_dpop_key_in_the_token_signs_proofs() {
    use jwe_mint::dpop::{DpopKey, DpopRequest, DpopValidation};
    let Some(h) = hsm() else { return };
    let uri = h.uri("sign", "dpop-es256");
    let jwk = Jwk::generate_in_pkcs11(&uri, Curve::P256, PublicKeyUse::Signature).unwrap();
    // The same `Signer` path as any in-memory key: nothing DPoP-specific about the token.
    let key = DpopKey::from_jwk(&jwk).unwrap();
    assert_eq!(key.thumbprint(), jwk.thumbprint());
    let proof = key.proof("POST", "https://as.example.com/token").issued_at(1_700_000_000).sign().unwrap();
    let request = DpopRequest::new([proof.as_str()], "POST", "https://as.example.com/token", 1_700_000_001);
    let checked = DpopValidation::default().check(&request.bound_to(&jwk.thumbprint())).unwrap();
    assert_eq!(checked.jkt, jwk.thumbprint());
    assert_no_pin(&format!("{key:?}"));
}
