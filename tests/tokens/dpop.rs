//! DPoP proofs (RFC 9449) without the network: making, checking (one test per refusal), `htu`
//! normalisation, the replay store, nonces, the RFC's own examples, and mutated proofs.

use std::future::Future;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jwe_mint::dpop::{
    check_and_remember, CheckedProof, DpopKey, DpopRequest, DpopValidation, MemoryReplayStore, NonceSource,
    Remembered, ReplayFuture, ReplayStore, ReplayStoreError,
};
use jwe_mint::error::DpopRejection as R;
use jwe_mint::jwa::SigningAlg;
use jwe_mint::jwk::{Curve, Jwk};
use jwe_mint::jws::Signer;
use jwe_mint::{Error, Misuse};
use serde_json::{json, Value};

const NOW: i64 = 1_700_000_000;
const URI: &str = "https://rs.example.com/orders";

/// Runs a future that never waits (the memory store's and the test stores' are ready at once).
fn ready<F: Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match f.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(v) => v,
        std::task::Poll::Pending => panic!("the future waited"),
    }
}

fn check_at(v: &DpopValidation, proof: &str, method: &str, uri: &str, now: i64) -> Result<CheckedProof, R> {
    v.check(&DpopRequest::new([proof], method, uri, now))
}

fn check(proof: &str) -> Result<CheckedProof, R> {
    check_at(&DpopValidation::default(), proof, "GET", URI, NOW)
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A compact JWS put together by hand, with whatever signature bytes.
fn hand_built(header: &Value, claims: &Value, signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes()),
        b64(signature)
    )
}

/// Claims of a good proof for `GET URI` at `NOW`.
fn claims() -> Value {
    json!({ "jti": "proof-1", "htm": "GET", "htu": URI, "iat": NOW })
}

/// A proof header for `key`: `typ` and the public `jwk`.
fn header(key: &Jwk) -> Value {
    json!({ "typ": "dpop+jwt", "jwk": key.to_public().unwrap().to_value().unwrap() })
}

/// `claims` signed by `key` with `alg` under `header` (the signer adds `alg` and `kid`): a real
/// signature, so a refusal is for the header or the claims, not the signature.
fn signed(key: &Jwk, alg: SigningAlg, header: Value, claims: &Value) -> String {
    let Value::Object(h) = header else { panic!("header is an object") };
    Signer::new(key, alg, h).unwrap().sign(claims.to_string().as_bytes()).unwrap()
}

fn p256() -> Jwk {
    Jwk::generate(Curve::P256).unwrap()
}

#[test]
fn a_proof_round_trips_for_each_algorithm_family() {
    let keys = [
        (Jwk::generate(Curve::P256).unwrap(), SigningAlg::Es256),
        (Jwk::generate(Curve::P384).unwrap(), SigningAlg::Es384),
        (Jwk::generate(Curve::P521).unwrap(), SigningAlg::Es512),
        (Jwk::generate(Curve::Ed25519).unwrap(), SigningAlg::EdDsa),
        (Jwk::generate_rsa(2048).unwrap(), SigningAlg::Ps256),
    ];
    let rsa = keys[4].0.clone();
    let all = keys.into_iter().chain([(rsa, SigningAlg::Rs256)]);
    for (jwk, alg) in all {
        let key = DpopKey::from_jwk_with_alg(&jwk, alg).unwrap();
        assert_eq!(key.alg(), alg);
        assert_eq!(key.thumbprint(), jwk.thumbprint());
        let proof = key.proof("POST", "https://as.example.com/token").issued_at(NOW).sign().unwrap();
        let h: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(proof.split('.').next().unwrap()).unwrap())
                .unwrap();
        assert_eq!(h["typ"], "dpop+jwt", "{alg}");
        assert_eq!(h["alg"], alg.name());
        // The public key only, and nothing but its required members (RFC 7638 §3.2).
        let members: Vec<&str> = h["jwk"].as_object().unwrap().keys().map(String::as_str).collect();
        for m in &members {
            assert!(["kty", "crv", "x", "y", "n", "e"].contains(m), "{alg}: {m}");
        }
        let ok =
            check_at(&DpopValidation::default(), &proof, "POST", "https://as.example.com/token", NOW + 5)
                .unwrap_or_else(|e| panic!("{alg}: {e}"));
        assert_eq!(ok.jkt, jwk.thumbprint());
        assert_eq!(ok.iat, NOW);
        assert_eq!(ok.replay_until, NOW + 300);
        assert!(ok.jti.len() >= 22, "128 random bits: {}", ok.jti);
        assert_eq!(ok.replay_key().len(), 43);
    }
    // The default algorithm follows the key; a fresh key is P-256.
    assert_eq!(DpopKey::generate().unwrap().alg(), SigningAlg::Es256);
    assert_eq!(DpopKey::from_jwk(&Jwk::generate(Curve::Ed25519).unwrap()).unwrap().alg(), SigningAlg::EdDsa);
}

#[test]
fn each_proof_has_its_own_jti_and_the_optional_claims() {
    let key = DpopKey::generate().unwrap();
    let payload = |p: &str| -> Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p.split('.').nth(1).unwrap()).unwrap()).unwrap()
    };
    let a = payload(&key.proof("GET", URI).issued_at(NOW).sign().unwrap());
    let b = payload(&key.proof("GET", URI).issued_at(NOW).sign().unwrap());
    assert_ne!(a["jti"], b["jti"]);
    assert!(a.get("ath").is_none() && a.get("nonce").is_none());
    let full = payload(
        &key.proof("GET", "HTTPS://RS.example.com:443/orders?page=2#top")
            .access_token(RFC_ACCESS_TOKEN)
            .nonce("n-1")
            .issued_at(NOW)
            .sign()
            .unwrap(),
    );
    // `htu` without query and fragment, normalised (RFC 9449 §4.2).
    assert_eq!(full["htu"], URI);
    assert_eq!(full["nonce"], "n-1");
    // RFC 9449 §7.1: the `ath` of the example access token.
    assert_eq!(full["ath"], "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo");
    // Without `issued_at`, the clock's time.
    let clock = payload(&key.proof("GET", URI).sign().unwrap())["iat"].as_i64().unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    assert!((clock - now).abs() < 60);
    // Caller mistakes.
    let misuse = |r: Result<String, Error>| match r {
        Err(Error::Misuse(m)) => m,
        other => panic!("{other:?}"),
    };
    assert_eq!(misuse(key.proof("", URI).sign()), Misuse::NotHttpMethod);
    assert_eq!(misuse(key.proof("GE T", URI).sign()), Misuse::NotHttpMethod);
    assert_eq!(misuse(key.proof("GET", "/orders").sign()), Misuse::NotAbsoluteUri("htu"));
    assert_eq!(misuse(key.proof("GET", "ftp://rs.example.com/").sign()), Misuse::NotAbsoluteUri("htu"));
}

#[test]
fn dpop_key_refuses_keys_that_cannot_sign_and_hides_its_secret() {
    let invalid = |r: Result<DpopKey, Error>| assert!(matches!(r, Err(Error::InvalidKey(_))), "{r:?}");
    invalid(DpopKey::from_jwk(&p256().to_public().unwrap()));
    invalid(DpopKey::from_jwk(&Jwk::generate_symmetric(32).unwrap()));
    invalid(DpopKey::from_jwk(&Jwk::generate(Curve::X25519).unwrap()));
    assert!(DpopKey::from_jwk_with_alg(&p256(), SigningAlg::Es384).is_err());
    let jwk = p256();
    let d = jwk.to_private_value()["d"].as_str().unwrap().to_owned();
    let key = DpopKey::from_jwk(&jwk).unwrap();
    let shown = format!("{key:?}");
    assert!(!shown.contains(&d) && shown.contains(key.thumbprint()), "{shown}");
    assert!(!key.public_key().is_private());
}

// RFC 9449 §4.1, Figure 3 (the token request's proof) and §7.1 (a protected-resource request's
// proof with `ath`, and its access token); the thumbprint of their key is RFC 9449 §6.1's `jkt`.
const RFC_TOKEN_PROOF: &str = concat!(
    "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19.",
    "eyJqdGkiOiItQndDM0VTYzZhY2MybFRjIiwiaHRtIjoiUE9TVCIsImh0dSI6Imh0dHBzOi8vc2VydmVyLmV4YW1wbGUuY29tL3Rva2VuIiwiaWF0IjoxNTYyMjYyNjE2fQ.",
    "2-GxA6T8lP4vfrg8v-FdWP0A0zdrj8igiMLvqRMUvwnQg4PtFLbdLXiOSsX0x7NVY-FNyJK70nfbV37xRZT3Lg"
);
const RFC_RESOURCE_PROOF: &str = concat!(
    "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19.",
    "eyJqdGkiOiJlMWozVl9iS2ljOC1MQUVCIiwiaHRtIjoiR0VUIiwiaHR1IjoiaHR0cHM6Ly9yZXNvdXJjZS5leGFtcGxlLm9yZy9wcm90ZWN0ZWRyZXNvdXJjZSIsImlhdCI6MTU2MjI2MjYxOCwiYXRoIjoiZlVIeU8ycjJaM0RaNTNFc05yV0JiMHhXWG9hTnk1OUlpS0NBcWtzbVFFbyJ9.",
    "2oW9RP35yRqzhrtNP86L-Ey71EOptxRimPPToA1plemAgR6pxHF8y6-yqyVnmcw6Fy1dqd-jfxSYoMxhAJpLjA"
);
const RFC_ACCESS_TOKEN: &str = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU";
const RFC_JKT: &str = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I";

#[test]
fn the_rfc_9449_examples_check() {
    // RFC 9449 §4.1: the example key's RFC 7638 thumbprint is the `jkt` of §6.1.
    let jwk = Jwk::from_json(
        r#"{"kty":"EC","x":"l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs","y":"9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA","crv":"P-256"}"#,
    )
    .unwrap();
    assert_eq!(jwk.thumbprint(), RFC_JKT);
    let v = DpopValidation::default();
    // RFC 9449 §4.1: the token request, checked at its own `iat`, the target written otherwise.
    let token = v
        .check(&DpopRequest::new(
            [RFC_TOKEN_PROOF],
            "POST",
            "HTTPS://Server.Example.COM:443/token?x=1",
            1_562_262_616,
        ))
        .unwrap();
    assert_eq!((token.jkt.as_str(), token.jti.as_str()), (RFC_JKT, "-BwC3ESc6acc2lTc"));
    // RFC 9449 §7.1: the resource request, bound to the key, with its access token.
    let resource = DpopRequest::new(
        [RFC_RESOURCE_PROOF],
        "GET",
        "https://resource.example.org/protectedresource",
        1_562_262_618,
    );
    let ok = v.check(&resource.access_token(RFC_ACCESS_TOKEN).bound_to(RFC_JKT)).unwrap();
    assert_eq!(ok.jti, "e1j3V_bKic8-LAEB");
    assert_eq!(v.check(&resource.access_token("another token")), Err(R::AccessTokenHashMismatch));
    assert_eq!(
        v.check(&resource.access_token(RFC_ACCESS_TOKEN).bound_to(&p256().thumbprint())),
        Err(R::KeyMismatch)
    );
    // Years later, the same proofs are refused.
    assert_eq!(
        check_at(&v, RFC_TOKEN_PROOF, "POST", "https://server.example.com/token", NOW),
        Err(R::IssuedAtOutOfWindow)
    );
}

#[test]
fn exactly_one_well_formed_proof() {
    let key = DpopKey::generate().unwrap();
    let proof = key.proof("GET", URI).issued_at(NOW).sign().unwrap();
    let v = DpopValidation::default();
    let at = |proofs: &[&str]| v.check(&DpopRequest::new(proofs.iter().copied(), "GET", URI, NOW));
    assert!(at(&[&proof]).is_ok());
    assert_eq!(at(&[]), Err(R::Missing));
    assert_eq!(at(&[""]), Err(R::Missing));
    assert_eq!(at(&[&proof, &proof]), Err(R::Multiple));
    assert_eq!(at(&[&format!("{proof},{proof}")]), Err(R::Multiple));
    assert_eq!(at(&[&format!("{proof}, {proof}")]), Err(R::Multiple));
    assert_eq!(at(&[&format!("{proof} ")]), Err(R::Multiple));
    for bad in ["x", "a.b", "a.b.c.d", "..", "!!.!!.!!", &format!("{proof}.x")] {
        assert!(matches!(at(&[bad]), Err(R::Malformed(_))), "{bad}: {:?}", at(&[bad]));
    }
    // Duplicate header members (RFC 7515 §5.2) are malformed, as in every JWS the library reads.
    let (h, rest) = proof.split_once('.').unwrap();
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(h).unwrap()).unwrap();
    let dup = text.replacen("{", r#"{"typ":"dpop+jwt","#, 1);
    assert!(matches!(at(&[&format!("{}.{rest}", b64(dup.as_bytes()))]), Err(R::Malformed(_))));
    // Larger than the bound, before any parsing.
    let small = DpopValidation::default().with_max_proof_size(100);
    assert!(matches!(
        small.check(&DpopRequest::new([proof.as_str()], "GET", URI, NOW)),
        Err(R::Malformed(_))
    ));
}

#[test]
fn typ_must_be_dpop_jwt() {
    let key = p256();
    for typ in [json!("JWT"), json!("at+jwt"), json!("DPOP+JWT"), json!("application/dpop+jwt"), json!(1)] {
        let mut h = header(&key);
        h["typ"] = typ.clone();
        assert_eq!(check(&signed(&key, SigningAlg::Es256, h, &claims())), Err(R::WrongType), "{typ}");
    }
    let mut h = header(&key);
    h.as_object_mut().unwrap().remove("typ");
    assert_eq!(check(&signed(&key, SigningAlg::Es256, h, &claims())), Err(R::WrongType));
    assert!(check(&signed(&key, SigningAlg::Es256, header(&key), &claims())).is_ok());
}

#[test]
fn alg_none_and_hs256_are_refused_before_any_signature_check() {
    let key = p256();
    let jwk = key.to_public().unwrap().to_value().unwrap();
    // `none`, with an empty signature (RFC 7519 §6.1's unsecured JWT).
    let none = hand_built(&json!({ "typ": "dpop+jwt", "alg": "none", "jwk": jwk }), &claims(), b"");
    assert_eq!(check(&none), Err(R::AlgorithmNotAllowed));
    // HS256 with a symmetric "key" the attacker chose, and a bogus MAC: refused for its `alg`.
    let hs = hand_built(
        &json!({ "typ": "dpop+jwt", "alg": "HS256", "jwk": { "kty": "oct", "k": "c2VjcmV0" } }),
        &claims(),
        &[0u8; 32],
    );
    assert_eq!(check(&hs), Err(R::AlgorithmNotAllowed));
    let hs_ec = hand_built(&json!({ "typ": "dpop+jwt", "alg": "HS256", "jwk": jwk }), &claims(), &[0u8; 32]);
    assert_eq!(check(&hs_ec), Err(R::AlgorithmNotAllowed));
    for alg in [json!("None"), json!("NONE"), json!(""), json!(null), json!("ES256K")] {
        let p = hand_built(&json!({ "typ": "dpop+jwt", "alg": alg, "jwk": jwk }), &claims(), &[0u8; 64]);
        assert_eq!(check(&p), Err(R::AlgorithmNotAllowed), "{alg}");
    }
    // A real ES256 proof, with ES256 left out of the validation's list.
    let es = signed(&key, SigningAlg::Es256, header(&key), &claims());
    let eddsa_only = DpopValidation::default().only_algs(&[SigningAlg::EdDsa]);
    assert_eq!(check_at(&eddsa_only, &es, "GET", URI, NOW), Err(R::AlgorithmNotAllowed));
    // `none` and HS256 cannot even be configured.
    for name in ["none", "HS256", "RSA-OAEP", "es256"] {
        let r = DpopValidation::default().only_alg_names(&["ES256", name]);
        assert!(matches!(r, Err(Error::AlgorithmNotAllowed(_))), "{name}: {r:?}");
    }
    let named = DpopValidation::default().only_alg_names(&["ES256", "EdDSA"]).unwrap();
    assert_eq!(named.algs(), [SigningAlg::Es256, SigningAlg::EdDsa]);
}

#[test]
fn the_header_jwk_must_be_a_public_key_that_fits_alg() {
    let key = p256();
    // No `jwk`.
    let mut h = header(&key);
    h.as_object_mut().unwrap().remove("jwk");
    assert_eq!(check(&signed(&key, SigningAlg::Es256, h, &claims())), Err(R::MissingJwk));
    // The private key itself in the header, correctly signed.
    let mut h = header(&key);
    h["jwk"] = key.to_private_value();
    assert_eq!(check(&signed(&key, SigningAlg::Es256, h, &claims())), Err(R::PrivateKeyInJwk));
    // Any private member name refuses, whatever its value (the key is never parsed).
    for member in ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] {
        let mut h = header(&key);
        h["jwk"][member] = json!(null);
        assert_eq!(
            check(&signed(&key, SigningAlg::Es256, h, &claims())),
            Err(R::PrivateKeyInJwk),
            "{member}"
        );
    }
    // Not a key.
    for jwk in [
        json!("a string"),
        json!({}),
        json!({ "kty": "EC", "crv": "P-256", "x": "AAAA", "y": "AAAA" }),
        json!({ "kty": "RSA", "n": "AQAB", "e": "AQAB" }),
    ] {
        let mut h = header(&key);
        h["jwk"] = jwk.clone();
        assert_eq!(check(&signed(&key, SigningAlg::Es256, h, &claims())), Err(R::InvalidJwk), "{jwk}");
    }
    // A P-256 key under `ES384`, an Ed25519 key under `ES256`: refused before the signature.
    let p = hand_built(
        &json!({ "typ": "dpop+jwt", "alg": "ES384", "jwk": key.to_public().unwrap().to_value().unwrap() }),
        &claims(),
        &[1u8; 96],
    );
    assert_eq!(check(&p), Err(R::KeyAlgorithmMismatch));
    let ed = Jwk::generate(Curve::Ed25519).unwrap();
    let p = hand_built(
        &json!({ "typ": "dpop+jwt", "alg": "ES256", "jwk": ed.to_public().unwrap().to_value().unwrap() }),
        &claims(),
        &[1u8; 64],
    );
    assert_eq!(check(&p), Err(R::KeyAlgorithmMismatch));
    // A `jwk` whose own `use` forbids signatures.
    let mut h = header(&key);
    h["jwk"]["use"] = json!("enc");
    let enc_key = key.clone().with_use("sig");
    assert_eq!(check(&signed(&enc_key, SigningAlg::Es256, h, &claims())), Err(R::KeyAlgorithmMismatch));
}

#[test]
fn the_signature_must_verify_under_the_header_jwk() {
    let key = p256();
    let other = p256();
    // Signed by another key than the one in the header.
    assert_eq!(check(&signed(&other, SigningAlg::Es256, header(&key), &claims())), Err(R::BadSignature));
    // A valid signature moved onto other claims.
    let a = signed(&key, SigningAlg::Es256, header(&key), &claims());
    let mut changed = claims();
    changed["jti"] = json!("proof-2");
    let b = signed(&key, SigningAlg::Es256, header(&key), &changed);
    let (a_head, a_rest) = a.split_once('.').unwrap();
    let a_sig = a_rest.split_once('.').unwrap().1;
    let b_payload = b.split('.').nth(1).unwrap();
    assert_eq!(check(&format!("{a_head}.{b_payload}.{a_sig}")), Err(R::BadSignature));
    assert_eq!(check(&format!("{a_head}.{b_payload}.")), Err(R::BadSignature));
}

#[test]
fn each_claim_is_checked() {
    let key = p256();
    let with = |f: &dyn Fn(&mut Value)| {
        let mut c = claims();
        f(&mut c);
        check(&signed(&key, SigningAlg::Es256, header(&key), &c))
    };
    assert!(with(&|_| {}).is_ok());
    assert_eq!(with(&|c| drop(c.as_object_mut().unwrap().remove("jti"))), Err(R::MissingJti));
    assert_eq!(with(&|c| c["jti"] = json!("")), Err(R::MissingJti));
    assert_eq!(with(&|c| c["jti"] = json!(7)), Err(R::MissingJti));
    assert_eq!(with(&|c| c["jti"] = json!("j".repeat(257))), Err(R::JtiTooLong));
    assert!(with(&|c| c["jti"] = json!("j".repeat(256))).is_ok());
    for claim in ["htm", "htu", "iat"] {
        assert_eq!(with(&|c| drop(c.as_object_mut().unwrap().remove(claim))), Err(R::MissingClaim(claim)));
    }
    assert_eq!(with(&|c| c["iat"] = json!("1700000000")), Err(R::MissingClaim("iat")));
    assert_eq!(with(&|c| c["htm"] = json!(["GET"])), Err(R::MissingClaim("htm")));
    // A fractional NumericDate (RFC 7519 §2) counts in whole seconds.
    assert!(with(&|c| c["iat"] = json!(NOW as f64 + 0.5)).is_ok());
    // The claims must be a JSON object.
    let p = signed(&key, SigningAlg::Es256, header(&key), &json!(["not", "an", "object"]));
    assert!(matches!(check(&p), Err(R::Malformed(_))));
}

#[test]
fn htm_is_the_method_case_sensitively() {
    let key = DpopKey::generate().unwrap();
    let proof = key.proof("GET", URI).issued_at(NOW).sign().unwrap();
    let v = DpopValidation::default();
    assert!(check_at(&v, &proof, "GET", URI, NOW).is_ok());
    assert_eq!(check_at(&v, &proof, "POST", URI, NOW), Err(R::MethodMismatch));
    assert_eq!(check_at(&v, &proof, "get", URI, NOW), Err(R::MethodMismatch));
}

#[test]
fn htu_is_compared_after_normalisation_on_both_sides() {
    let key = p256();
    let with_htu = |htu: &str| {
        let mut c = claims();
        c["htu"] = json!(htu);
        signed(&key, SigningAlg::Es256, header(&key), &c)
    };
    let v = DpopValidation::default();
    let same = [
        ("HTTPS://API.Example.com:443/a/./b/../c?x#f", "https://api.example.com/a/c"),
        ("https://api.example.com/a/c", "HTTPS://API.Example.com:443/a/./b/../c?x#f"),
        ("https://h.example/%7euser", "https://h.example/~user"),
        ("https://h.example/~user", "https://h.example/%7Euser"),
        ("https://h.example/a%2fb", "https://h.example/a%2Fb"),
        ("https://h.example", "https://h.example/"),
        ("http://h.example:80/x", "http://h.example/x"),
        ("https://h.example:/x", "https://h.example/x"),
        ("https://h.example/x?a=1", "https://h.example/x?b=2"),
        ("https://h.example/x#frag", "https://h.example/x"),
    ];
    for (htu, target) in same {
        assert!(check_at(&v, &with_htu(htu), "GET", target, NOW).is_ok(), "{htu} vs {target}");
    }
    let different = [
        ("https://api.example.com/a/c", "https://api.example.com/a/d"),
        ("https://api.example.com/a/c", "https://api.example.com/a/c/"),
        ("https://api.example.com/A", "https://api.example.com/a"),
        ("https://api.example.com/a", "http://api.example.com/a"),
        ("https://api.example.com/a", "https://api.example.com:8443/a"),
        ("https://api.example.com/a", "https://evil.example.com/a"),
        ("https://h.example/a%2fb", "https://h.example/a/b"),
        ("/a/c", "https://api.example.com/a/c"),
        ("https://u:p@api.example.com/a", "https://api.example.com/a"),
        ("ftp://api.example.com/a", "https://api.example.com/a"),
    ];
    for (htu, target) in different {
        assert_eq!(
            check_at(&v, &with_htu(htu), "GET", target, NOW),
            Err(R::UriMismatch),
            "{htu} vs {target}"
        );
    }
    // The server's own target must be an absolute http(s) URI.
    assert_eq!(check_at(&v, &with_htu(URI), "GET", "/orders", NOW), Err(R::BadRequestTarget));
}

#[test]
fn iat_must_be_within_the_window() {
    let key = DpopKey::generate().unwrap();
    let v = DpopValidation::default();
    let at = |iat: i64| check_at(&v, &key.proof("GET", URI).issued_at(iat).sign().unwrap(), "GET", URI, NOW);
    assert_eq!(at(NOW - 3600), Err(R::IssuedAtOutOfWindow));
    assert_eq!(at(NOW + 3600), Err(R::IssuedAtOutOfWindow));
    assert!(at(NOW - 300).is_ok());
    assert_eq!(at(NOW - 301), Err(R::IssuedAtOutOfWindow));
    assert!(at(NOW + 60).is_ok());
    assert_eq!(at(NOW + 61), Err(R::IssuedAtOutOfWindow));
    // A proof dated ahead is remembered until its own `iat` plus the maximum age.
    assert_eq!(at(NOW + 60).unwrap().replay_until, NOW + 360);
    assert_eq!(at(i64::MIN), Err(R::IssuedAtOutOfWindow));
    assert_eq!(at(i64::MAX), Err(R::IssuedAtOutOfWindow));
    // Configurable.
    let strict = DpopValidation::default().with_max_age(10).with_max_ahead(0);
    let proof = key.proof("GET", URI).issued_at(NOW - 11).sign().unwrap();
    assert_eq!(check_at(&strict, &proof, "GET", URI, NOW), Err(R::IssuedAtOutOfWindow));
    let proof = key.proof("GET", URI).issued_at(NOW + 1).sign().unwrap();
    assert_eq!(check_at(&strict, &proof, "GET", URI, NOW), Err(R::IssuedAtOutOfWindow));
    let proof = key.proof("GET", URI).issued_at(NOW - 10).sign().unwrap();
    assert_eq!(check_at(&strict, &proof, "GET", URI, NOW).unwrap().replay_until, NOW);
}

#[test]
fn ath_must_be_the_presented_tokens_hash() {
    let key = DpopKey::generate().unwrap();
    let v = DpopValidation::default();
    let with_token = key.proof("GET", URI).access_token("token-a").issued_at(NOW).sign().unwrap();
    let without = key.proof("GET", URI).issued_at(NOW).sign().unwrap();
    let req = |proof: &str, token: &str| {
        let proofs = [proof];
        v.check(&DpopRequest::new(proofs, "GET", URI, NOW).access_token(token))
    };
    assert!(req(&with_token, "token-a").is_ok());
    assert_eq!(req(&without, "token-a"), Err(R::AccessTokenHashMissing));
    assert_eq!(req(&with_token, "token-b"), Err(R::AccessTokenHashMismatch));
    // At a token endpoint no access token comes with the proof: `ath` is not needed.
    assert!(check(&without).is_ok());
}

#[test]
fn the_proof_key_must_be_the_tokens_key() {
    let key = DpopKey::generate().unwrap();
    let other = DpopKey::generate().unwrap();
    let proof = key.proof("GET", URI).issued_at(NOW).sign().unwrap();
    let v = DpopValidation::default();
    let proofs = [proof.as_str()];
    let req = DpopRequest::new(proofs, "GET", URI, NOW);
    assert!(v.check(&req.bound_to(key.thumbprint())).is_ok());
    assert_eq!(v.check(&req.bound_to(other.thumbprint())), Err(R::KeyMismatch));
    assert_eq!(v.check(&req.bound_to("")), Err(R::KeyMismatch));
}

#[test]
fn a_required_nonce_must_be_present_and_current() {
    let nonces = NonceSource::new(&[9u8; 32]).unwrap();
    let v = DpopValidation::default().require_nonce(nonces.clone());
    assert!(v.requires_nonce() && !DpopValidation::default().requires_nonce());
    let key = DpopKey::generate().unwrap();
    let nonce = nonces.issue(NOW).unwrap();
    let good = key.proof("GET", URI).nonce(&nonce).issued_at(NOW).sign().unwrap();
    assert!(check_at(&v, &good, "GET", URI, NOW).is_ok());
    let none = key.proof("GET", URI).issued_at(NOW).sign().unwrap();
    assert_eq!(check_at(&v, &none, "GET", URI, NOW), Err(R::NonceRequired));
    let wrong = key.proof("GET", URI).nonce("made-up").issued_at(NOW).sign().unwrap();
    assert_eq!(check_at(&v, &wrong, "GET", URI, NOW), Err(R::NonceMismatch));
    let foreign = NonceSource::new(&[8u8; 32]).unwrap().issue(NOW).unwrap();
    let foreign = key.proof("GET", URI).nonce(&foreign).issued_at(NOW).sign().unwrap();
    assert_eq!(check_at(&v, &foreign, "GET", URI, NOW), Err(R::NonceMismatch));
    // Each nonce refusal tells the server to answer `use_dpop_nonce`; other refusals do not.
    assert_eq!(R::NonceRequired.error_code(), Some("use_dpop_nonce"));
    assert_eq!(R::NonceMismatch.error_code(), Some("use_dpop_nonce"));
    assert_eq!(R::BadSignature.error_code(), Some("invalid_dpop_proof"));
    assert_eq!(R::ReplayStoreFull.error_code(), None);
}

#[test]
fn nonces_live_one_to_two_steps_and_replicas_share_them() {
    let a = NonceSource::new(&[7u8; 32]).unwrap().with_period(100);
    let b = NonceSource::new(&[7u8; 32]).unwrap().with_period(100);
    let c = NonceSource::new(&[6u8; 32]).unwrap().with_period(100);
    let t = 1_000_000; // the start of a step
    let n = a.issue(t).unwrap();
    assert_eq!(a.issue(t + 99).unwrap(), n);
    assert_ne!(a.issue(t + 100).unwrap(), n);
    assert!(b.accept(&n, t) && b.accept(&n, t + 199));
    assert!(!b.accept(&n, t + 200), "two steps later");
    assert!(!b.accept(&n, t - 1), "from the future");
    assert!(!c.accept(&n, t), "another secret");
    for garbage in ["", "x", "AAAA", "!!!!", &format!("{n}A"), &n[1..]] {
        assert!(!a.accept(garbage, t), "{garbage}");
    }
    assert!(NonceSource::new(&[1u8; 31]).is_err());
    let generated = NonceSource::generate().unwrap();
    assert!(generated.accept(&generated.issue(t).unwrap(), t));
    assert!(!a.accept(&generated.issue(t).unwrap(), t));
    // Negative times step down, not toward zero.
    assert!(a.accept(&a.issue(-1).unwrap(), -1));
    let shown = format!("{a:?}");
    assert!(!shown.contains("7, 7") && shown.contains("100"), "{shown}");
}

#[test]
fn a_replayed_proof_is_refused() {
    let key = DpopKey::generate().unwrap();
    let v = DpopValidation::default();
    let store = MemoryReplayStore::default();
    let proof = key.proof("GET", URI).issued_at(NOW).sign().unwrap();
    let proofs = [proof.as_str()];
    let req = DpopRequest::new(proofs, "GET", URI, NOW);
    assert!(ready(check_and_remember(&v, &req, &store)).is_ok());
    assert_eq!(ready(check_and_remember(&v, &req, &store)), Err(R::Replayed));
    // Still a replay at the window's end; the proof itself is refused after it.
    let later = DpopRequest::new(proofs, "GET", URI, NOW + 300);
    assert_eq!(ready(check_and_remember(&v, &later, &store)), Err(R::Replayed));
    let after = DpopRequest::new(proofs, "GET", URI, NOW + 301);
    assert_eq!(ready(check_and_remember(&v, &after, &store)), Err(R::IssuedAtOutOfWindow));
    // A refused proof is not remembered.
    let store = MemoryReplayStore::default();
    let wrong = DpopRequest::new(proofs, "POST", URI, NOW);
    assert_eq!(ready(check_and_remember(&v, &wrong, &store)), Err(R::MethodMismatch));
    assert!(store.is_empty());
    // Two keys choosing one `jti` do not collide (the key is part of what is remembered).
    let k2 = p256();
    let k3 = p256();
    let same_jti = |k: &Jwk| signed(k, SigningAlg::Es256, header(k), &claims());
    let (p2, p3) = (same_jti(&k2), same_jti(&k3));
    for p in [&p2, &p3] {
        let proofs = [p.as_str()];
        assert!(ready(check_and_remember(&v, &DpopRequest::new(proofs, "GET", URI, NOW), &store)).is_ok());
    }
    assert_eq!(store.len(), 2);
}

#[test]
fn the_memory_store_fails_closed_when_full_and_purges_expired_entries() {
    let store = MemoryReplayStore::with_capacity(3);
    for (i, key) in ["a", "b", "c"].iter().enumerate() {
        assert_eq!(ready(store.remember(key, 100 + i as i64, 0)), Ok(Remembered::Fresh));
    }
    // Full of unexpired entries: refused, nothing forgotten.
    assert_eq!(ready(store.remember("d", 200, 50)), Err(ReplayStoreError::Full));
    assert_eq!(ready(store.remember("a", 200, 100)), Ok(Remembered::Replayed), "a still remembered at 100");
    // At 101, "a" (until 100) has expired and is dropped: room for one.
    assert_eq!(ready(store.remember("d", 200, 101)), Ok(Remembered::Fresh));
    assert_eq!(store.len(), 3);
    assert_eq!(ready(store.remember("e", 200, 101)), Err(ReplayStoreError::Full));
    // Much later every entry has expired.
    assert_eq!(ready(store.remember("a", 300, 1_000)), Ok(Remembered::Fresh));
    assert_eq!(store.len(), 1);
    // Through the check: a full store refuses the proof (of another key: the first key's next
    // proof would be over that key's share first).
    let v = DpopValidation::default();
    let key = DpopKey::generate().unwrap();
    let full = MemoryReplayStore::with_capacity(1);
    let p1 = key.proof("GET", URI).issued_at(NOW).sign().unwrap();
    let p2 = DpopKey::generate().unwrap().proof("GET", URI).issued_at(NOW).sign().unwrap();
    let (r1, r2) = ([p1.as_str()], [p2.as_str()]);
    assert!(ready(check_and_remember(&v, &DpopRequest::new(r1, "GET", URI, NOW), &full)).is_ok());
    assert_eq!(
        ready(check_and_remember(&v, &DpopRequest::new(r2, "GET", URI, NOW), &full)),
        Err(R::ReplayStoreFull)
    );
    assert!(format!("{full:?}").contains("capacity: 1"));
}

/// One key sending fresh proofs as fast as it can fills only its share of the store: its next
/// proof is refused, every other key's still fits, and its share frees up as its proofs expire.
#[test]
fn one_key_cannot_fill_the_memory_store_for_the_others() {
    let v = DpopValidation::default();
    let store = MemoryReplayStore::with_capacity(80);
    let (greedy, other) = (DpopKey::generate().unwrap(), DpopKey::generate().unwrap());
    let send = |key: &DpopKey, now: i64| {
        let proof = key.proof("GET", URI).issued_at(now).sign().unwrap();
        ready(check_and_remember(&v, &DpopRequest::new([proof.as_str()], "GET", URI, now), &store))
    };
    // The default share is an eighth: 10 of 80.
    for i in 0..10 {
        assert!(send(&greedy, NOW).is_ok(), "proof {i}");
    }
    assert_eq!(send(&greedy, NOW).unwrap_err(), R::TooManyProofs);
    assert_eq!(R::TooManyProofs.error_code(), Some("invalid_dpop_proof"), "the client's own refusal");
    assert_eq!(store.len(), 10, "a refused proof is not remembered");
    for _ in 0..10 {
        assert!(send(&other, NOW).is_ok(), "another key's proofs still fit");
    }
    // Once the greedy key's proofs expire (iat + 300 s), it has room again.
    assert!(send(&greedy, NOW + 301).is_ok());
    // A chosen limit; the plain `remember` (no key named) is bounded by the capacity only.
    let store = MemoryReplayStore::with_capacity(4).per_key_limit(2);
    for key in ["a", "b"] {
        assert_eq!(ready(store.remember_for("k", key, 100, 0)), Ok(Remembered::Fresh));
    }
    assert_eq!(ready(store.remember_for("k", "c", 100, 0)), Err(ReplayStoreError::KeyQuotaExceeded));
    assert_eq!(
        ready(store.remember_for("k", "a", 100, 0)),
        Ok(Remembered::Replayed),
        "a replay stays a replay"
    );
    assert_eq!(ready(store.remember("c", 100, 0)), Ok(Remembered::Fresh));
    assert!(format!("{store:?}").contains("per_key: 2"));
}

/// `Debug` of a request being checked or a proof being made never shows the access token or
/// the proof: a caller's `debug!(?request)` must not put a credential in a log.
#[test]
fn debug_shows_no_token_and_no_proof() {
    let key = DpopKey::generate().unwrap();
    let token = "the-secret-access-token";
    let proof = key.proof("GET", URI).access_token(token).issued_at(NOW).sign().unwrap();
    let request = DpopRequest::new([proof.as_str()], "GET", URI, NOW).access_token(token);
    let builder = key.proof("GET", URI).access_token(token);
    for shown in [format!("{request:?}"), format!("{builder:?}")] {
        assert!(!shown.contains(token) && !shown.contains(&proof), "{shown}");
        assert!(shown.contains("[redacted]") && shown.contains("GET"), "{shown}");
    }
}

/// A store that cannot be reached.
#[derive(Debug)]
struct Down;

impl ReplayStore for Down {
    fn remember<'a>(&'a self, _: &'a str, _: i64, _: i64) -> ReplayFuture<'a> {
        Box::pin(std::future::ready(Err(ReplayStoreError::Unavailable("connection refused".into()))))
    }
}

#[test]
fn an_unavailable_store_refuses_the_proof() {
    let key = DpopKey::generate().unwrap();
    let proof = key.proof("GET", URI).issued_at(NOW).sign().unwrap();
    let proofs = [proof.as_str()];
    let req = DpopRequest::new(proofs, "GET", URI, NOW);
    assert_eq!(
        ready(check_and_remember(&DpopValidation::default(), &req, &Down)),
        Err(R::ReplayStoreUnavailable)
    );
}

#[test]
fn refusals_are_errors_without_proof_bytes() {
    let e: Error = R::UriMismatch.into();
    assert_eq!(e, Error::Dpop(R::UriMismatch));
    assert_eq!(e.to_string(), "DPoP proof refused: `htu` is not the request's URI");
    // The message of a malformed proof names the rule, never what the proof held.
    let evil = format!("{}.e30.e30", b64(b"{\"typ\":\"dpop+jwt\n\x1b[31m\""));
    let r = check(&evil).unwrap_err();
    assert!(matches!(r, R::Malformed(_)));
    assert!(!Error::from(r).to_string().contains('\x1b'));
}

/// A tiny deterministic generator (xorshift), so a failure replays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn mutated_and_random_proofs_never_panic_and_never_pass() {
    let key = DpopKey::generate().unwrap();
    let token = "tok";
    let proof = key.proof("GET", URI).access_token(token).issued_at(NOW).sign().unwrap();
    let v = DpopValidation::default().require_nonce(NonceSource::new(&[1u8; 32]).unwrap());
    let lenient = DpopValidation::default();
    let alphabet: &[u8] = b"ABCxyz019-_.,= \"{}:\\%\x00\xff";
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for round in 0..3000 {
        let mut bytes = proof.clone().into_bytes();
        for _ in 0..=rng.below(4) {
            match rng.below(4) {
                0 if !bytes.is_empty() => {
                    let i = rng.below(bytes.len());
                    bytes[i] = alphabet[rng.below(alphabet.len())];
                }
                1 if !bytes.is_empty() => {
                    let i = rng.below(bytes.len());
                    bytes.remove(i);
                }
                2 => {
                    let i = rng.below(bytes.len() + 1);
                    bytes.insert(i, alphabet[rng.below(alphabet.len())]);
                }
                _ => bytes.truncate(rng.below(bytes.len() + 1)),
            }
        }
        let mutated = String::from_utf8_lossy(&bytes).into_owned();
        let proofs = [mutated.as_str()];
        let req = DpopRequest::new(proofs, "GET", URI, NOW).access_token(token);
        let _ = v.check(&req);
        if mutated != proof {
            assert!(lenient.check(&req).is_err(), "round {round}: {mutated}");
        }
    }
    // Random text, random JSON in each segment.
    for _ in 0..500 {
        let len = rng.below(300);
        let text: String = (0..len).map(|_| char::from(alphabet[rng.below(alphabet.len() - 2)])).collect();
        let _ = check(&text);
        let seg = |rng: &mut Rng| {
            let values =
                [json!(null), json!(1), json!("x"), json!([]), json!({}), json!({"typ": "dpop+jwt"})];
            b64(values[rng.below(values.len())].to_string().as_bytes())
        };
        let p = format!("{}.{}.{}", seg(&mut rng), seg(&mut rng), seg(&mut rng));
        assert!(check(&p).is_err());
    }
}

/// A grant bound to a DPoP key mints `cnf.jkt` (RFC 9449 §6.1), which the resource server reads
/// back; `cnf` cannot be smuggled in as a caller-defined claim, nor a malformed thumbprint bound.
#[test]
fn a_bound_grant_mints_cnf_jkt_and_the_resource_server_reads_it() {
    use jwe_mint::issuer::{Grant, Issuer};
    use jwe_mint::jwk::JwkSet;
    use jwe_mint::registry::{Registry, ResourceEntry};
    use jwe_mint::resource_server::ResourceServer;

    let (as_key, rs_key) = (Jwk::generate(Curve::P256).unwrap(), Jwk::generate(Curve::P256).unwrap());
    let mut registry = Registry::default();
    let public = JwkSet::new(vec![rs_key.to_public().unwrap()]);
    registry.insert(ResourceEntry::new(URI, ["read"], public).unwrap()).unwrap();
    let issuer = Issuer::builder("https://as.example.com", &as_key)
        .registry(registry)
        .allow_client("app", &[URI])
        .unwrap()
        .build()
        .unwrap();
    let rs = ResourceServer::builder(URI, "https://as.example.com")
        .decryption_keys(JwkSet::new(vec![rs_key]))
        .issuer_keys(issuer.verification_keys().clone())
        .build()
        .unwrap();
    let proof_key = DpopKey::generate().unwrap();
    let jkt = proof_key.thumbprint();
    let grant = Grant::new("alice", "app", "read", &[URI]).unwrap().with_dpop_jkt(jkt).unwrap();
    let token = rs.open(&issuer.mint(&grant, URI).unwrap().access_token).unwrap();
    assert_eq!(token.dpop_jkt(), Some(jkt));
    assert!(token.is_sender_constrained());
    let unbound = rs
        .open(&issuer.mint(&Grant::new("alice", "app", "read", &[URI]).unwrap(), URI).unwrap().access_token);
    assert_eq!(unbound.unwrap().dpop_jkt(), None);

    let plain = Grant::new("alice", "app", "read", &[URI]).unwrap();
    assert!(matches!(
        plain.clone().with_claim("cnf", json!({"jkt": jkt})),
        Err(Error::Misuse(Misuse::ReservedClaim(_)))
    ));
    for bad in ["", "short", &format!("{jkt}="), &"+".repeat(43)] {
        assert!(
            matches!(plain.clone().with_dpop_jkt(bad), Err(Error::Misuse(Misuse::NotThumbprint))),
            "{bad:?}"
        );
    }
}
