//! Hostile input never gets in, never crashes, never leaks.
//!
//! Every case asserts the error kind. Everything that goes wrong after header checks must be the
//! one opaque `Error::DecryptionFailed`, whatever was tampered with.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use jwe_mint::jwa::{self, ContentEncryptionAlg as Enc, KeyManagementAlg as Alg};
use jwe_mint::jwe::{
    self, DecryptPolicy, Encryptor, DEFAULT_MAX_HEADER_SIZE, DEFAULT_MAX_RECIPIENTS, DEFAULT_MAX_TOKEN_SIZE,
};
use jwe_mint::jwk::{Curve, Jwk, JwkSet};
use jwe_mint::{Error, LimitExceeded, Misuse};
use serde_json::{json, Value};

fn enc(b: &[u8]) -> String {
    B64.encode(b)
}

fn dec(s: &str) -> Vec<u8> {
    B64.decode(s).unwrap()
}

struct Fixture {
    key: Jwk,
    keys: JwkSet,
}

fn p256() -> Fixture {
    let key = Jwk::generate(Curve::P256).unwrap();
    Fixture { keys: JwkSet::new(vec![key.clone()]), key }
}

fn compact(f: &Fixture, alg: Alg, enc_alg: Enc, pt: &[u8]) -> String {
    Encryptor::new(enc_alg).recipient(&f.key.to_public().unwrap(), alg).encrypt_compact(pt).unwrap()
}

fn parts(t: &str) -> Vec<String> {
    t.split('.').map(str::to_owned).collect()
}

fn join(p: &[String]) -> String {
    p.join(".")
}

/// Rebuilds a compact token with a new protected header (the tag no longer matches).
fn with_header(t: &str, f: impl FnOnce(&mut serde_json::Map<String, Value>)) -> String {
    let mut p = parts(t);
    let mut h: Value = serde_json::from_slice(&dec(&p[0])).unwrap();
    f(h.as_object_mut().unwrap());
    p[0] = enc(h.to_string().as_bytes());
    join(&p)
}

fn decrypt(t: &str, f: &Fixture) -> Result<jwe::Decrypted, Error> {
    jwe::decrypt(t, &f.keys, &DecryptPolicy::default())
}

fn is_malformed(r: Result<jwe::Decrypted, Error>) -> bool {
    matches!(r, Err(Error::Malformed(_)))
}

// ---- structure -----------------------------------------------------------------------------

#[test]
fn wrong_segment_counts_are_malformed() {
    let f = p256();
    let t = compact(&f, Alg::EcdhEsA256Kw, Enc::A256Gcm, b"x");
    let p = parts(&t);
    for bad in [
        join(&p[..4]),
        format!("{t}."),
        format!("{t}.AAAA"),
        p[0].clone(),
        String::new(),
        "....".into(),
        ".....".into(),
    ] {
        assert!(is_malformed(decrypt(&bad, &f)), "{bad:?}");
    }
}

#[test]
fn non_base64url_characters_and_padding_are_malformed() {
    let f = p256();
    let t = compact(&f, Alg::EcdhEsA256Kw, Enc::A256Gcm, b"hello");
    for seg in 0..5 {
        for mutation in ["+", "/", "=", " ", "%", "é"] {
            let mut p = parts(&t);
            if p[seg].is_empty() {
                continue;
            }
            p[seg].insert_str(1, mutation);
            assert!(is_malformed(decrypt(&join(&p), &f)), "segment {seg} with {mutation:?}");
        }
        // Padding on a segment.
        let mut p = parts(&t);
        if !p[seg].len().is_multiple_of(4) {
            p[seg].push('=');
            assert!(is_malformed(decrypt(&join(&p), &f)), "padded segment {seg}");
        }
    }
}

#[test]
fn non_canonical_trailing_bits_are_malformed() {
    let f = p256();
    let t = compact(&f, Alg::EcdhEsA256Kw, Enc::A256Gcm, b"hello");
    let mut p = parts(&t);
    // The 12-byte IV encodes to 16 chars (no slack); the 16-byte tag has 2 slack bits in its last char.
    let last = p[4].pop().unwrap();
    let idx = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".find(last).unwrap();
    let sibling =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".as_bytes()[idx ^ 1] as char;
    p[4].push(sibling);
    assert!(is_malformed(decrypt(&join(&p), &f)));
}

#[test]
fn header_not_json_or_not_utf8_is_malformed() {
    let f = p256();
    let t = compact(&f, Alg::EcdhEsA256Kw, Enc::A256Gcm, b"hello");
    for header in [&b"\xff\xfe{}"[..], b"not json", b"[1,2]", b"{\"alg\":\"ECDH-ES+A256KW\"", b"{}garbage"] {
        let mut p = parts(&t);
        p[0] = enc(header);
        assert!(is_malformed(decrypt(&join(&p), &f)), "{header:?}");
    }
}

#[test]
fn truncated_and_extended_segments_fail_opaquely() {
    let f = p256();
    let t = compact(&f, Alg::EcdhEsA256Kw, Enc::A256Gcm, b"some plaintext bytes");
    let mut failures = Vec::new();
    for seg in 1..5 {
        let raw = dec(&parts(&t)[seg]);
        for variant in [raw[..raw.len() - 1].to_vec(), [raw.clone(), vec![0]].concat(), Vec::new()] {
            let mut p = parts(&t);
            p[seg] = enc(&variant);
            let e = decrypt(&join(&p), &f).unwrap_err();
            if seg == 1 && variant.is_empty() {
                // A missing encrypted key is a structural error, visible without any key.
                assert!(matches!(e, Error::Malformed(_)), "{e}");
                continue;
            }
            failures.push((seg, e));
        }
    }
    assert_eq!(failures.len(), 11);
    for (seg, e) in &failures {
        assert_eq!(*e, Error::DecryptionFailed, "segment {seg}");
        assert_eq!(e.to_string(), "decryption failed");
    }
}

#[test]
fn tampering_anywhere_gives_the_same_opaque_error() {
    for (alg, enc_alg, key) in [
        (Alg::EcdhEsA256Kw, Enc::A256Gcm, Jwk::generate(Curve::P256).unwrap()),
        (Alg::EcdhEs, Enc::A128CbcHs256, Jwk::generate(Curve::X25519).unwrap()),
        (Alg::A256Kw, Enc::A256CbcHs512, Jwk::generate_symmetric(32).unwrap()),
        (Alg::A128GcmKw, Enc::A192Gcm, Jwk::generate_symmetric(16).unwrap()),
        (Alg::RsaOaep256, Enc::A256Gcm, Jwk::generate_rsa(2048).unwrap()),
    ] {
        let f = Fixture { keys: JwkSet::new(vec![key.clone()]), key };
        let public = if f.key.is_symmetric() { f.key.clone() } else { f.key.to_public().unwrap() };
        let t = Encryptor::new(enc_alg).recipient(&public, alg).encrypt_compact(b"attack at dawn").unwrap();
        let rsa_refused = |e: &Error| {
            matches!(e, Error::RefusedByProvider { .. }) && jwe_mint::crypto::PROVIDER_NAME == "rust-crypto"
        };
        if let Err(e) = decrypt(&t, &f) {
            assert!(rsa_refused(&e), "{alg}: {e}");
            continue;
        }
        for seg in 1..5 {
            let raw = dec(&parts(&t)[seg]);
            for i in [0, raw.len() / 2, raw.len().saturating_sub(1)] {
                if raw.is_empty() {
                    continue;
                }
                let mut flipped = raw.clone();
                flipped[i] ^= 0x01;
                let mut p = parts(&t);
                p[seg] = enc(&flipped);
                assert_eq!(
                    decrypt(&join(&p), &f).unwrap_err(),
                    Error::DecryptionFailed,
                    "{alg}/{enc_alg} segment {seg} byte {i}"
                );
            }
        }
        // A changed protected header (still valid JSON and policy) breaks the AAD.
        let t2 = with_header(&t, |h| {
            h.insert("x-extra".into(), json!(1));
        });
        assert_eq!(decrypt(&t2, &f).unwrap_err(), Error::DecryptionFailed, "{alg} header change");
        // Wrong key of the right type.
        let other = match f.key.kty() {
            "oct" => Jwk::generate_symmetric(match alg {
                Alg::A128GcmKw => 16,
                _ => 32,
            })
            .unwrap(),
            "RSA" => Jwk::generate_rsa(2048).unwrap(),
            _ => Jwk::generate(f.key.curve().unwrap()).unwrap(),
        };
        // Same kid, so the key is tried and the unwrap or tag check must fail.
        let wrong = JwkSet::new(vec![other.with_kid(f.key.kid().unwrap())]);
        assert_eq!(
            jwe::decrypt(&t, &wrong, &DecryptPolicy::default()).unwrap_err(),
            Error::DecryptionFailed,
            "{alg} wrong key"
        );
    }
}

#[test]
fn iv_of_wrong_length_and_truncated_tag_fail_opaquely() {
    let f = p256();
    let t = compact(&f, Alg::EcdhEsA256Kw, Enc::A256Gcm, b"x");
    for iv in [vec![0u8; 11], vec![0u8; 13], vec![0u8; 16], vec![]] {
        let mut p = parts(&t);
        p[2] = enc(&iv);
        assert_eq!(decrypt(&join(&p), &f).unwrap_err(), Error::DecryptionFailed);
    }
    let mut p = parts(&t);
    p[4] = enc(&dec(&p[4])[..8]);
    assert_eq!(decrypt(&join(&p), &f).unwrap_err(), Error::DecryptionFailed);
}

#[test]
fn encrypted_key_of_wrong_length_and_rsa_ciphertext_of_wrong_size() {
    let f = p256();
    let t = compact(&f, Alg::EcdhEsA256Kw, Enc::A256Gcm, b"x");
    for len in [8usize, 39, 41, 256] {
        let mut p = parts(&t);
        p[1] = enc(&vec![7u8; len]);
        assert_eq!(
            decrypt(&join(&p), &f).unwrap_err(),
            Error::DecryptionFailed,
            "encrypted_key of {len} bytes"
        );
    }
    // Structure (RFC 7516 §5.2): a wrapping alg needs an encrypted key, a direct one must have none.
    let mut p = parts(&t);
    p[1] = String::new();
    assert!(is_malformed(decrypt(&join(&p), &f)), "empty encrypted_key for a wrapping alg");
    let d = compact(&f, Alg::EcdhEs, Enc::A256Gcm, b"x");
    let mut p = parts(&d);
    p[1] = enc(&[1u8; 40]);
    assert!(is_malformed(decrypt(&join(&p), &f)), "encrypted_key for direct ECDH-ES");

    let rsa = Jwk::generate_rsa(2048).unwrap();
    let rf = Fixture { keys: JwkSet::new(vec![rsa.clone()]), key: rsa };
    let t = compact(&rf, Alg::RsaOaep256, Enc::A256Gcm, b"x");
    for len in [255usize, 257, 128] {
        let mut p = parts(&t);
        p[1] = enc(&vec![3u8; len]);
        let e = decrypt(&join(&p), &rf).unwrap_err();
        if jwe_mint::crypto::PROVIDER_NAME == "rust-crypto" {
            assert!(matches!(e, Error::RefusedByProvider { .. }), "{e}");
        } else {
            assert_eq!(e, Error::DecryptionFailed, "RSA ciphertext of {len} bytes");
        }
    }
}

#[test]
fn limit_decrypt_attempts() {
    // Keys without `kid` and a token without `kid`: every fitting key is tried, up to the bound.
    let keys: Vec<Jwk> = (0..=jwe::DEFAULT_MAX_DECRYPT_ATTEMPTS)
        .map(|i| Jwk::symmetric(&[i as u8 + 1; 16]).unwrap())
        .collect();
    let to = |i: usize| {
        Encryptor::new(Enc::A128Gcm).recipient(&keys[i], Alg::A128Kw).encrypt_compact(b"x").unwrap()
    };
    let set = |n: usize| JwkSet::new(keys[..n].to_vec());
    let p = DecryptPolicy::default();
    let n = jwe::DEFAULT_MAX_DECRYPT_ATTEMPTS;
    assert!(jwe::decrypt(&to(n - 1), &set(n), &p).is_ok(), "the last key within the bound");
    assert!(jwe::decrypt(&to(n - 2), &set(n), &p).is_ok());
    // Beyond the bound: the error says that no `kid` picked the key and how many were tried.
    let beyond = jwe::decrypt(&to(n), &set(n + 1), &p).unwrap_err();
    let Error::NoMatchingKey(msg) = &beyond else { panic!("beyond the bound: {beyond:?}") };
    assert!(msg.contains("kid") && msg.contains(&format!("{n} of {}", n + 1)), "{msg}");
    let more = DecryptPolicy::default().with_max_decrypt_attempts(n + 1);
    assert!(jwe::decrypt(&to(n), &set(n + 1), &more).is_ok());
    // With a `kid`, only the named key is tried, wherever it sits.
    let named: Vec<Jwk> = keys.iter().enumerate().map(|(i, k)| k.clone().with_kid(format!("k{i}"))).collect();
    let t = Encryptor::new(Enc::A128Gcm).recipient(&named[n], Alg::A128Kw).encrypt_compact(b"x").unwrap();
    assert!(jwe::decrypt(&t, &JwkSet::new(named), &p).is_ok());
}

// ---- header rules --------------------------------------------------------------------------

#[test]
fn alg_none_unknown_algs_and_disallowed_algs() {
    let f = p256();
    let t = compact(&f, Alg::EcdhEsA256Kw, Enc::A256Gcm, b"x");
    let none = with_header(&t, |h| {
        h.insert("alg".into(), "none".into());
    });
    assert!(matches!(decrypt(&none, &f), Err(Error::UnsupportedAlgorithm(_))));
    let weird = with_header(&t, |h| {
        h.insert("enc".into(), "A256GCM\u{0}".into());
    });
    assert!(matches!(decrypt(&weird, &f), Err(Error::UnsupportedAlgorithm(_))));
    let numeric = with_header(&t, |h| {
        h.insert("alg".into(), json!(1));
    });
    assert!(is_malformed(decrypt(&numeric, &f)));
    let missing = with_header(&t, |h| {
        h.remove("enc");
    });
    assert!(is_malformed(decrypt(&missing, &f)));

    let only_kw = DecryptPolicy::default().only_algs(&[Alg::A256Kw]);
    assert!(matches!(jwe::decrypt(&t, &f.keys, &only_kw), Err(Error::AlgorithmNotAllowed(_))));
    let only_cbc = DecryptPolicy::default().only_encs(&[Enc::A128CbcHs256]);
    assert!(matches!(jwe::decrypt(&t, &f.keys, &only_cbc), Err(Error::AlgorithmNotAllowed(_))));
}

#[test]
fn alg_that_does_not_fit_the_key_is_no_matching_key() {
    let f = p256();
    let sym = Jwk::generate_symmetric(32).unwrap();
    let t = Encryptor::new(Enc::A256Gcm).recipient(&sym, Alg::A256Kw).encrypt_compact(b"x").unwrap();
    assert!(matches!(decrypt(&t, &f), Err(Error::NoMatchingKey(_))));
    // A key pinned to another alg is not used.
    let pinned = f.key.clone().with_alg("ECDH-ES+A128KW");
    let t = compact(&f, Alg::EcdhEsA256Kw, Enc::A256Gcm, b"x");
    let r = jwe::decrypt(&t, &JwkSet::new(vec![pinned]), &DecryptPolicy::default());
    assert!(matches!(r, Err(Error::NoMatchingKey(_))));
    // A signing key is not used for decryption.
    let sig = f.key.clone().with_use("sig");
    assert!(matches!(
        jwe::decrypt(&t, &JwkSet::new(vec![sig]), &DecryptPolicy::default()),
        Err(Error::NoMatchingKey(_))
    ));
}

#[test]
fn crit_rules() {
    let f = p256();
    let t = compact(&f, Alg::EcdhEsA256Kw, Enc::A256Gcm, b"x");
    let cases: Vec<(Value, bool)> = vec![
        (json!(["exp-ext"]), false), // unknown name → policy
        (json!([]), true),           // empty → malformed
        (json!("exp-ext"), true),    // not an array
        (json!(["alg"]), true),      // registered name
        (json!([1]), true),
    ];
    for (crit, malformed) in cases {
        let c2 = crit.clone();
        let bad = with_header(&t, move |h| {
            h.insert("crit".into(), c2);
            h.insert("exp-ext".into(), json!(1));
        });
        let e = decrypt(&bad, &f).unwrap_err();
        if malformed {
            assert!(matches!(e, Error::Malformed(_)), "{crit}: {e}");
        } else {
            // Well-formed but naming an extension nobody declared understood (RFC 7516 §4.1.13).
            assert!(matches!(&e, Error::Malformed(m) if m.contains("not understood")), "{crit}: {e}");
        }
    }
    // Understood by the application: passes header checks (then fails on the changed AAD).
    let policy = DecryptPolicy::default().understand_crit("exp-ext");
    let ok = with_header(&t, |h| {
        h.insert("crit".into(), json!(["exp-ext"]));
        h.insert("exp-ext".into(), json!(1));
    });
    assert_eq!(jwe::decrypt(&ok, &f.keys, &policy).unwrap_err(), Error::DecryptionFailed);
    let dup = with_header(&t, |h| {
        h.insert("crit".into(), json!(["exp-ext", "exp-ext"]));
        h.insert("exp-ext".into(), json!(1));
    });
    assert!(matches!(jwe::decrypt(&dup, &f.keys, &policy), Err(Error::Malformed(_))));
}

#[test]
fn duplicate_json_members_are_rejected() {
    let f = p256();
    let t = compact(&f, Alg::EcdhEsA256Kw, Enc::A256Gcm, b"x");
    let mut p = parts(&t);
    let h = String::from_utf8(dec(&p[0])).unwrap();
    let dup = h.replacen('{', "{\"enc\":\"A128GCM\",", 1);
    p[0] = enc(dup.as_bytes());
    assert!(is_malformed(decrypt(&join(&p), &f)));
    // Duplicate member in the JSON serialization itself.
    let json = Encryptor::new(Enc::A256Gcm)
        .recipient(&f.key.to_public().unwrap(), Alg::EcdhEsA256Kw)
        .encrypt_flattened(b"x")
        .unwrap();
    let dup = json.replacen("\"iv\":", "\"iv\":\"AAAA\",\"iv\":", 1);
    assert!(is_malformed(decrypt(&dup, &f)));
}

#[test]
fn header_parameters_in_two_places_are_rejected() {
    let f = p256();
    let pubk = f.key.to_public().unwrap();
    let json = Encryptor::new(Enc::A256Gcm)
        .unprotected_param("jku", "https://x.example/jwks")
        .recipient(&pubk, Alg::EcdhEsA256Kw)
        .encrypt_flattened(b"x")
        .unwrap();
    let mut v: Value = serde_json::from_str(&json).unwrap();
    // `alg` is in the per-recipient header; repeating it in the shared header is a conflict.
    v["unprotected"]["alg"] = json!("ECDH-ES+A256KW");
    assert!(is_malformed(decrypt(&v.to_string(), &f)));
    let mut v: Value = serde_json::from_str(&json).unwrap();
    v["header"]["enc"] = json!("A256GCM");
    assert!(is_malformed(decrypt(&v.to_string(), &f)));
    // zip and crit only in the protected header.
    let mut v: Value = serde_json::from_str(&json).unwrap();
    v["unprotected"]["zip"] = json!("DEF");
    assert!(is_malformed(decrypt(&v.to_string(), &f)));
    // Flattened must not also carry `recipients`.
    let mut v: Value = serde_json::from_str(&json).unwrap();
    v["recipients"] = json!([]);
    assert!(is_malformed(decrypt(&v.to_string(), &f)));
}

// ---- epk -----------------------------------------------------------------------------------
//
// Every token below is built as an attacker would: the test knows the RS private key, derives the
// shared secret an implementation that skipped the check would compute, and encrypts under it, so
// the tag is valid and only the check itself can refuse the token (RFC 7518 §4.6; invalid-curve
// attacks: Jager, Schwenk, Somorovsky, ESORICS 2015). Each test first opens a control token built
// the same way from a well-formed `epk`, to show the construction is right.

#[path = "adversarial/attacker.rs"]
mod attacker;

/// A recipient key of `curve` with its one-key set and its raw private scalar.
fn recipient(curve: Curve) -> (Fixture, Vec<u8>) {
    let key = Jwk::generate(curve).unwrap();
    let d = dec(key.to_private_value()["d"].as_str().unwrap());
    (Fixture { keys: JwkSet::new(vec![key.clone()]), key }, d)
}

/// A fresh ephemeral key on `curve`: its public members as an `epk`, its private `d`, and the
/// honest shared secret Z with the recipient.
fn ephemeral(curve: Curve, f: &Fixture) -> (Value, String, Vec<u8>) {
    let eph = Jwk::generate(curve).unwrap();
    let d = eph.to_private_value()["d"].as_str().unwrap().to_owned();
    let z = jwa::hazmat::ecdh_shared_secret(&eph, &f.key.to_public().unwrap()).unwrap();
    (eph.to_public().unwrap().to_value().unwrap(), d, z.to_vec())
}

/// The control: a token built by `attacker::token` from an honest `epk` opens.
fn assert_control_opens(f: &Fixture, epk: &Value, z: &[u8]) {
    let opened = decrypt(&attacker::token(epk, z), f).expect("control token built like the attack opens");
    assert_eq!(&opened.plaintext[..], attacker::PLAINTEXT);
}

fn assert_refused(f: &Fixture, epk: &Value, z: &[u8], case: &str) {
    let r = decrypt(&attacker::token(epk, z), f);
    assert_eq!(
        r.err(),
        Some(Error::DecryptionFailed),
        "{case}: a token valid under its own epk must be refused"
    );
}

#[test]
fn epk_with_private_d_is_rejected_even_with_a_valid_tag() {
    for curve in [Curve::P256, Curve::X25519] {
        let (f, _) = recipient(curve);
        let (epk, d, z) = ephemeral(curve, &f);
        assert_control_opens(&f, &epk, &z);
        let mut with_d = epk.clone();
        with_d["d"] = d.into();
        assert_refused(&f, &with_d, &z, &format!("{curve:?} epk with d"));
    }
}

#[test]
fn epk_kty_or_crv_other_than_the_recipients_is_rejected_even_with_a_valid_tag() {
    // The coordinates are an honest point on the recipient's curve, so only the kty/crv check
    // stands between the mislabelled epk and the plaintext.
    let (f, _) = recipient(Curve::P256);
    let (epk, _, z) = ephemeral(Curve::P256, &f);
    assert_control_opens(&f, &epk, &z);
    for (member, value) in
        [("crv", "P-384"), ("crv", "P-521"), ("crv", "X25519"), ("kty", "OKP"), ("kty", "oct")]
    {
        let mut bad = epk.clone();
        bad[member] = value.into();
        assert_refused(&f, &bad, &z, &format!("P-256 recipient, epk {member} {value}"));
    }

    let (f, _) = recipient(Curve::X25519);
    let (epk, _, z) = ephemeral(Curve::X25519, &f);
    assert_control_opens(&f, &epk, &z);
    for (member, value) in
        [("crv", "X448"), ("crv", "Ed25519"), ("crv", "P-256"), ("kty", "EC"), ("kty", "oct")]
    {
        let mut bad = epk.clone();
        bad[member] = value.into();
        assert_refused(&f, &bad, &z, &format!("X25519 recipient, epk {member} {value}"));
    }
}

#[test]
fn x25519_epk_with_extra_members_is_rejected_even_with_a_valid_tag() {
    // An OKP key has no `y` (RFC 8037 §2); an X25519 epk carrying one is malformed.
    let (f, _) = recipient(Curve::X25519);
    let (epk, _, z) = ephemeral(Curve::X25519, &f);
    assert_control_opens(&f, &epk, &z);
    let mut with_y = epk.clone();
    with_y["y"] = epk["x"].clone();
    assert_refused(&f, &with_y, &z, "X25519 epk with y");
}

#[test]
fn epk_off_curve_point_is_rejected_even_with_a_valid_tag() {
    let p256 = attacker::Curve::p256();
    let b = attacker::p256_b();
    let (f, d) = recipient(Curve::P256);
    let (epk, _, z) = ephemeral(Curve::P256, &f);
    // The simulation agrees with the library on an honest point.
    let (x, y) = (dec(epk["x"].as_str().unwrap()), dec(epk["y"].as_str().unwrap()));
    assert_eq!(
        p256.raw_ecdh(&d, &x, &y).unwrap(),
        z,
        "test-side arithmetic matches the library on the curve"
    );
    assert_control_opens(&f, &epk, &z);

    let mut y_flipped = y.clone();
    y_flipped[31] ^= 1;
    let gx = dec("axfR8uEsQkf4vOblY6RA8ncDfYEt6zOg9KE5RdiYwpY");
    let mut gy_plus_1 = dec("T-NC4v4af5uO5-tKfA-eFivOM1drMV7Oy7ZAaDe_UfU");
    gy_plus_1[31] += 1; // last byte of G.y is 0xf5
    let mut cases =
        vec![("honest x, y with one bit flipped", x.clone(), y_flipped), ("G.x, G.y + 1", gx, gy_plus_1)];
    // (0, 0), a common encoding of the point at infinity, has order 2 on y² = x³ - 3x: an
    // unchecking peer gets Z = 0 when d is odd (and the point at infinity, no token, when even).
    if d[31] & 1 == 1 {
        cases.push(("(0, 0)", vec![0; 32], vec![0; 32]));
    }
    for (case, x, y) in cases {
        assert!(!p256.on_curve(&b, &x, &y), "{case}: the point must be off P-256");
        let z = p256.raw_ecdh(&d, &x, &y).expect("d · P is a finite point");
        let bad = json!({"kty": "EC", "crv": "P-256", "x": enc(&x), "y": enc(&y)});
        assert_refused(&f, &bad, &z, case);
    }
}

#[test]
fn epk_point_of_another_curve_is_rejected_even_with_a_valid_tag() {
    let p256 = attacker::Curve::p256();
    let (f, d) = recipient(Curve::P256);
    let (epk, _, z) = ephemeral(Curve::P256, &f);
    assert_control_opens(&f, &epk, &z);

    // secp256k1's generator (SEC 2 §2.4.1), same size as a P-256 point, labelled P-256: an
    // unchecking peer computes on y² = x³ - 3x + b' over P-256's field.
    let x = attacker::hex("79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798");
    let y = attacker::hex("483ada7726a3c4655da4fbfc0e1108a8fd17b448a68554199c47d08ffb10d4b8");
    let (x, y) = (p256.bytes(&x), p256.bytes(&y));
    assert!(!p256.on_curve(&attacker::p256_b(), &x, &y));
    let z_k1 = p256.raw_ecdh(&d, &x, &y).expect("finite");
    let bad = json!({"kty": "EC", "crv": "P-256", "x": enc(&x), "y": enc(&y)});
    assert_refused(&f, &bad, &z_k1, "secp256k1 generator as a P-256 epk");

    // An honest P-384 point under its own name: a peer that trusted the epk's `crv` would
    // multiply it by the recipient's P-256 scalar on P-384.
    let p384 = attacker::Curve::p384();
    let (f384, d384) = recipient(Curve::P384);
    let (epk384, _, z384) = ephemeral(Curve::P384, &f384);
    let (x, y) = (dec(epk384["x"].as_str().unwrap()), dec(epk384["y"].as_str().unwrap()));
    assert_eq!(p384.raw_ecdh(&d384, &x, &y).unwrap(), z384, "test-side P-384 arithmetic matches the library");
    let other = Jwk::generate(Curve::P384).unwrap().to_public().unwrap().to_value().unwrap();
    let (x, y) = (dec(other["x"].as_str().unwrap()), dec(other["y"].as_str().unwrap()));
    let z_384 = p384.raw_ecdh(&d, &x, &y).expect("finite");
    assert_refused(&f, &other, &z_384, "P-384 epk for a P-256 recipient");
}

#[test]
fn epk_malformed_or_missing_is_rejected() {
    let f = p256();
    let t = compact(&f, Alg::EcdhEsA256Kw, Enc::A256Gcm, b"x");
    for (name, bad) in [
        ("short x", json!({"kty":"EC","crv":"P-256","x":enc(&[1;31]),"y":enc(&[1;32])})),
        ("x not base64url", json!({"kty":"EC","crv":"P-256","x":"!!","y":enc(&[1;32])})),
        ("no y", json!({"kty":"EC","crv":"P-256","x":enc(&[1;32])})),
        ("string", json!("epk")),
    ] {
        let tok = with_header(&t, move |h| {
            h.insert("epk".into(), bad);
        });
        assert_eq!(decrypt(&tok, &f).unwrap_err(), Error::DecryptionFailed, "{name}");
    }
    let tok = with_header(&t, |h| {
        h.remove("epk");
    });
    assert_eq!(decrypt(&tok, &f).unwrap_err(), Error::DecryptionFailed, "missing epk");
}

#[test]
fn x25519_small_order_epk_is_rejected_even_with_a_valid_tag() {
    // Every X25519 public value of small order (the order-1/2/4/8 points and their non-canonical
    // encodings, RFC 7748 §6.1; list as in libsodium): a clamped scalar times any of them is the
    // identity, so an implementation that skips the all-zero check derives Z = 0.
    let (f, _) = recipient(Curve::X25519);
    let (epk, _, z) = ephemeral(Curve::X25519, &f);
    assert_control_opens(&f, &epk, &z);
    for point in [
        "0000000000000000000000000000000000000000000000000000000000000000",
        "0100000000000000000000000000000000000000000000000000000000000000",
        "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
        "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "cdeb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b880",
        "4c9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f11d7",
        "d9ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
        "daffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
        "dbffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
    ] {
        let x: Vec<u8> = (0..32).map(|i| u8::from_str_radix(&point[2 * i..2 * i + 2], 16).unwrap()).collect();
        let bad = json!({"kty": "OKP", "crv": "X25519", "x": enc(&x)});
        assert_refused(&f, &bad, &[0u8; 32], point);
    }
}

// ---- limits: at, below and above each bound ------------------------------------------------

#[test]
fn limit_token_size() {
    let f = Fixture {
        keys: JwkSet::new(vec![Jwk::symmetric(&[5u8; 32]).unwrap()]),
        key: Jwk::symmetric(&[5u8; 32]).unwrap(),
    };
    let make = |n: usize| {
        Encryptor::new(Enc::A256Gcm).recipient(&f.key, Alg::Dir).encrypt_compact(&vec![b'a'; n]).unwrap()
    };
    // Find the plaintext length whose token is exactly the limit.
    let overhead = make(0).len();
    let mut n = (DEFAULT_MAX_TOKEN_SIZE - overhead) * 3 / 4;
    while make(n + 1).len() <= DEFAULT_MAX_TOKEN_SIZE {
        n += 1;
    }
    while make(n).len() > DEFAULT_MAX_TOKEN_SIZE {
        n -= 1;
    }
    let at = make(n);
    assert!(at.len() <= DEFAULT_MAX_TOKEN_SIZE && make(n + 1).len() > DEFAULT_MAX_TOKEN_SIZE);
    assert!(decrypt(&at, &f).is_ok());
    assert!(decrypt(&make(n / 2), &f).is_ok());
    let too_large = Err(Error::Limit(LimitExceeded::TokenTooLarge { max: DEFAULT_MAX_TOKEN_SIZE }));
    assert_eq!(decrypt(&make(n + 1), &f).map(|_| ()), too_large);
    let small = DecryptPolicy::default().with_max_token_size(100);
    assert_eq!(
        jwe::decrypt(&at, &f.keys, &small).map(|_| ()),
        Err(Error::Limit(LimitExceeded::TokenTooLarge { max: 100 }))
    );
    // Oversized garbage is refused before parsing.
    assert_eq!(decrypt(&"A".repeat(DEFAULT_MAX_TOKEN_SIZE + 1), &f).map(|_| ()), too_large);
}

#[test]
fn limit_header_size() {
    let key = Jwk::symmetric(&[5u8; 32]).unwrap();
    let f = Fixture { keys: JwkSet::new(vec![key.clone()]), key };
    let base = Encryptor::new(Enc::A256Gcm).recipient(&f.key, Alg::Dir).encrypt_compact(b"x").unwrap();
    let base_len = dec(&parts(&base)[0]).len();
    // `"pad":""` adds 9 bytes (with the comma) plus the padding length.
    let header_of = |total: usize| {
        let pad = total - base_len - 9;
        Encryptor::new(Enc::A256Gcm)
            .protected_param("pad", "p".repeat(pad))
            .recipient(&f.key, Alg::Dir)
            .encrypt_compact(b"x")
            .unwrap()
    };
    let at = header_of(DEFAULT_MAX_HEADER_SIZE);
    assert_eq!(dec(&parts(&at)[0]).len(), DEFAULT_MAX_HEADER_SIZE);
    assert!(decrypt(&at, &f).is_ok());
    assert!(decrypt(&header_of(DEFAULT_MAX_HEADER_SIZE - 1), &f).is_ok());
    assert_eq!(
        decrypt(&header_of(DEFAULT_MAX_HEADER_SIZE + 1), &f).map(|_| ()),
        Err(Error::Limit(LimitExceeded::HeaderTooLarge { max: DEFAULT_MAX_HEADER_SIZE }))
    );
}

#[test]
fn limit_recipients() {
    let keys: Vec<Jwk> = (0..=DEFAULT_MAX_RECIPIENTS)
        .map(|i| Jwk::symmetric(&[i as u8 + 1; 16]).unwrap().with_kid(format!("k{i}")))
        .collect();
    let make = |n: usize| {
        let mut e = Encryptor::new(Enc::A128Gcm);
        for k in &keys[..n] {
            e = e.recipient(k, Alg::A128Kw);
        }
        e.encrypt_general(b"many").unwrap()
    };
    let last = JwkSet::new(vec![keys[DEFAULT_MAX_RECIPIENTS - 1].clone()]);
    let p = DecryptPolicy::default();
    assert!(jwe::decrypt(&make(DEFAULT_MAX_RECIPIENTS), &last, &p).is_ok());
    assert!(jwe::decrypt(&make(DEFAULT_MAX_RECIPIENTS - 1), &JwkSet::new(vec![keys[0].clone()]), &p).is_ok());
    assert_eq!(
        jwe::decrypt(&make(DEFAULT_MAX_RECIPIENTS + 1), &last, &p).map(|_| ()),
        Err(Error::Limit(LimitExceeded::TooManyRecipients {
            found: DEFAULT_MAX_RECIPIENTS + 1,
            max: DEFAULT_MAX_RECIPIENTS
        }))
    );
    let two = DecryptPolicy::default().with_max_recipients(2);
    assert_eq!(
        jwe::decrypt(&make(3), &last, &two).map(|_| ()),
        Err(Error::Limit(LimitExceeded::TooManyRecipients { found: 3, max: 2 }))
    );
}

#[test]
fn limit_pbes2_iterations_and_opt_in() {
    let pw = Jwk::symmetric(b"correct horse battery staple").unwrap();
    let f = Fixture { keys: JwkSet::new(vec![pw.clone()]), key: pw };
    let with_p2c = |p2c: u32| {
        Encryptor::new(Enc::A128Gcm)
            .pbes2_iterations(p2c)
            .recipient(&f.key, Alg::Pbes2Hs256A128Kw)
            .encrypt_compact(b"pw")
            .unwrap()
    };
    let reserved = Encryptor::new(Enc::A128Gcm)
        .protected_param("p2c", 5)
        .recipient(&f.key, Alg::Pbes2Hs256A128Kw)
        .encrypt_compact(b"pw");
    assert!(
        matches!(&reserved, Err(Error::Misuse(Misuse::ReservedHeader(m))) if m == "p2c"),
        "p2c is set by the encryptor"
    );
    let cap = 10_000;
    let p = DecryptPolicy::default().allow_pbes2(cap);
    assert!(jwe::decrypt(&with_p2c(cap), &f.keys, &p).is_ok());
    assert!(jwe::decrypt(&with_p2c(cap - 1), &f.keys, &p).is_ok());
    let over_cap = Err(Error::Limit(LimitExceeded::Pbes2IterationsTooHigh { max: cap }));
    assert_eq!(jwe::decrypt(&with_p2c(cap + 1), &f.keys, &p).map(|_| ()), over_cap);
    // A huge p2c is refused before any PBKDF2 work.
    let huge = with_header(&with_p2c(1000), |h| {
        h.insert("p2c".into(), json!(u32::MAX));
    });
    let started = std::time::Instant::now();
    assert_eq!(jwe::decrypt(&huge, &f.keys, &p).map(|_| ()), over_cap);
    assert!(started.elapsed().as_secs() < 5);
    // Without the opt-in PBES2 is refused outright.
    assert!(matches!(
        jwe::decrypt(&with_p2c(1000), &f.keys, &DecryptPolicy::default()),
        Err(Error::AlgorithmNotAllowed(_))
    ));
}

#[test]
fn limit_zip_size_opt_in_and_bomb() {
    let key = Jwk::symmetric(&[9u8; 32]).unwrap();
    let f = Fixture { keys: JwkSet::new(vec![key.clone()]), key };
    let cap = jwe::DEFAULT_MAX_DECOMPRESSED_SIZE;
    let make = |n: usize| {
        Encryptor::new(Enc::A256Gcm)
            .compress_deflate()
            .recipient(&f.key, Alg::Dir)
            .encrypt_compact(&vec![b'z'; n])
            .unwrap()
    };
    let p = DecryptPolicy::default().allow_zip(cap);
    assert_eq!(jwe::decrypt(&make(cap), &f.keys, &p).unwrap().plaintext.len(), cap);
    assert!(jwe::decrypt(&make(cap - 1), &f.keys, &p).is_ok());
    let over_cap = Err(Error::Limit(LimitExceeded::DecompressedTooLarge { max: cap }));
    assert_eq!(jwe::decrypt(&make(cap + 1), &f.keys, &p).map(|_| ()), over_cap);
    // A bomb: 64 MiB of zeros compresses to ~64 KiB; refused at the cap without inflating it all.
    let bomb = Encryptor::new(Enc::A256Gcm)
        .compress_deflate()
        .recipient(&f.key, Alg::Dir)
        .encrypt_compact(&vec![0u8; 64 << 20])
        .unwrap();
    let big = p.clone().with_max_token_size(1 << 20);
    assert_eq!(jwe::decrypt(&bomb, &f.keys, &big).map(|_| ()), over_cap);
    // Without the opt-in: refused.
    assert!(matches!(decrypt(&make(10), &f), Err(Error::AlgorithmNotAllowed(_))));
    // Unknown zip value.
    let t = with_header(&make(10), |h| {
        h.insert("zip".into(), "GZIP".into());
    });
    assert!(matches!(jwe::decrypt(&t, &f.keys, &p), Err(Error::UnsupportedAlgorithm(_))));
}

#[test]
fn huge_json_numbers_are_malformed_and_deep_nesting_hits_the_limit() {
    let f = p256();
    let t = compact(&f, Alg::EcdhEsA256Kw, Enc::A256Gcm, b"x");
    let with_header_text = |header: &str| {
        let mut p = parts(&t);
        p[0] = enc(header.as_bytes());
        decrypt(&join(&p), &f)
    };
    for header in [
        format!("{{\"alg\":\"ECDH-ES+A256KW\",\"enc\":\"A256GCM\",\"n\":1{}}}", "0".repeat(400)),
        "{\"alg\":\"ECDH-ES+A256KW\",\"enc\":\"A256GCM\",\"n\":1e999}".to_owned(),
    ] {
        assert!(is_malformed(with_header_text(&header)), "{}", &header[..60]);
    }
    let deep = format!(
        "{{\"alg\":\"ECDH-ES+A256KW\",\"enc\":\"A256GCM\",\"n\":{}{}}}",
        "[".repeat(200),
        "]".repeat(200)
    );
    assert_eq!(
        with_header_text(&deep).map(|_| ()),
        Err(Error::Limit(LimitExceeded::JsonTooDeep { max: 32 }))
    );
    let deep_json = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let big = DecryptPolicy::default().with_max_token_size(1 << 20);
    assert_eq!(
        jwe::decrypt(&format!("{{\"x\":{deep_json}}}"), &f.keys, &big).map(|_| ()),
        Err(Error::Limit(LimitExceeded::JsonTooDeep { max: 32 }))
    );
}

#[test]
fn nesting_depth_is_one_level() {
    // A JWE inside the JWE (instead of a JWS) is not an access token.
    use jwe_mint::issuer::{Grant, Issuer};
    use jwe_mint::registry::{Registry, ResourceEntry};
    use jwe_mint::resource_server::ResourceServer;
    let as_key = Jwk::generate(Curve::P256).unwrap();
    let rs_key = Jwk::generate(Curve::P256).unwrap();
    let mut reg = Registry::default();
    reg.insert(
        ResourceEntry::new("https://rs.example", ["s"], JwkSet::new(vec![rs_key.to_public().unwrap()]))
            .unwrap(),
    )
    .unwrap();
    let issuer = Issuer::builder("https://as.example", &as_key)
        .registry(reg)
        .allow_client("c", &["https://rs.example"])
        .unwrap()
        .build()
        .unwrap();
    let token = issuer
        .mint(&Grant::new("u", "c", "s", &["https://rs.example"]).unwrap(), "https://rs.example")
        .unwrap()
        .access_token;
    let double = Encryptor::new(Enc::A256Gcm)
        .protected_param("cty", "JWT")
        .recipient(&rs_key.to_public().unwrap(), Alg::EcdhEsA256Kw)
        .encrypt_compact(token.as_bytes())
        .unwrap();
    let rs = ResourceServer::builder("https://rs.example", "https://as.example")
        .decryption_keys(JwkSet::new(vec![rs_key]))
        .issuer_keys(issuer.verification_keys().clone())
        .build()
        .unwrap();
    assert!(rs.open(&token).is_ok());
    assert!(matches!(rs.open(&double), Err(Error::Malformed(_))));
}

// ---- secrets never leak --------------------------------------------------------------------

#[test]
fn debug_and_errors_never_show_key_material_or_plaintext() {
    let keys = [
        Jwk::generate(Curve::P256).unwrap(),
        Jwk::generate(Curve::P521).unwrap(),
        Jwk::generate(Curve::X25519).unwrap(),
        Jwk::generate(Curve::Ed25519).unwrap(),
        Jwk::generate_rsa(2048).unwrap(),
        Jwk::generate_symmetric(32).unwrap(),
    ];
    for k in &keys {
        let private: Value = serde_json::from_str(&k.to_private_json()).unwrap();
        let shown = format!("{k:?} {:?} {:#?}", JwkSet::new(vec![k.clone()]), k);
        for member in ["d", "p", "q", "dp", "dq", "qi", "k"] {
            if let Some(secret) = private.get(member).and_then(Value::as_str) {
                assert!(!shown.contains(secret), "{member} of a {} key in Debug", k.kty());
                assert!(!shown.contains(&secret[..12]), "prefix of {member} in Debug");
            }
        }
        if !k.is_symmetric() {
            assert!(!k.to_json().unwrap().contains("\"d\""));
        }
    }
    // Decrypted plaintext is redacted in Debug; errors carry no plaintext or key bytes.
    let f = p256();
    let t = compact(&f, Alg::EcdhEsA256Kw, Enc::A256Gcm, b"TOP-SECRET-PLAINTEXT");
    let d = decrypt(&t, &f).unwrap();
    assert!(!format!("{d:?}").contains("TOP-SECRET"));
    let enc_dbg =
        format!("{:?}", Encryptor::new(Enc::A256Gcm).dangerous_fixed_cek_and_iv(&[0x41; 32], &[0x42; 12]));
    assert!(!enc_dbg.contains("65, 65") && !enc_dbg.contains("AAAA"));
    let d_member =
        serde_json::from_str::<Value>(&f.key.to_private_json()).unwrap()["d"].as_str().unwrap().to_owned();
    let bad_key =
        format!(r#"{{"kty":"EC","crv":"P-256","x":"{0}","y":"{0}","d":"{1}"}}"#, enc(&[1; 32]), d_member);
    let e = Jwk::from_json(&bad_key).unwrap_err();
    assert!(!e.to_string().contains(&d_member), "{e}");
    let mut p = parts(&t);
    p[3] = enc(b"TOP-SECRET-PLAINTEXT");
    let e = decrypt(&join(&p), &f).unwrap_err();
    assert!(!format!("{e} {e:?}").contains("TOP-SECRET"));
}

#[test]
fn garbage_never_panics() {
    let f = p256();
    let t = compact(&f, Alg::EcdhEsA256Kw, Enc::A256Gcm, b"x");
    let json = Encryptor::new(Enc::A256Gcm)
        .recipient(&f.key.to_public().unwrap(), Alg::EcdhEsA256Kw)
        .encrypt_general(b"x")
        .unwrap();
    let mut state = 0x1234_5678_9abc_def0u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for base in [t.as_bytes(), json.as_bytes()] {
        for _ in 0..2000 {
            let mut b = base.to_vec();
            for _ in 0..(next() % 4 + 1) {
                let i = (next() as usize) % b.len();
                match next() % 3 {
                    0 => b[i] = (next() % 128) as u8,
                    1 => {
                        b.remove(i);
                    }
                    _ => b.insert(i, b"{}[],:.\"A0-_"[(next() % 12) as usize]),
                }
            }
            if let Ok(s) = std::str::from_utf8(&b) {
                let _ = jwe::decrypt(s, &f.keys, &DecryptPolicy::default());
                let _ = jwe::inspect(s, &DecryptPolicy::default());
                let _ = Jwk::from_json(s);
            }
        }
    }
}

// ---- keys ------------------------------------------------------------------------------------

/// ROCA (CVE-2017-15361): a 2048-bit modulus made by the Infineon RSALib
/// (`test-vectors/roca/mod03.txt`, a positive sample of the ROCA authors' detector) is refused
/// when the JWK is parsed, public or as a key set member; freshly generated moduli are not.
#[test]
fn roca_fingerprinted_rsa_modulus_is_refused() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("test-vectors/roca/mod03.txt");
    let text = std::fs::read_to_string(&path).unwrap();
    let hex = text.trim().trim_start_matches("0x");
    let n: Vec<u8> =
        (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect();
    assert_eq!(n.len(), 256);
    let jwk = json!({"kty": "RSA", "n": enc(&n), "e": "AQAB"});
    for err in [Jwk::from_value(&jwk).unwrap_err(), JwkSet::from_value(&json!({"keys": [jwk]})).unwrap_err()]
    {
        let Error::InvalidKey(msg) = &err else { panic!("{err:?}") };
        assert!(msg.contains("ROCA"), "{msg}");
    }
    // The same modulus with its lowest byte changed (an odd modulus still) loses the fingerprint.
    let mut other = n.clone();
    other[255] ^= 0x02;
    assert!(Jwk::from_value(&json!({"kty": "RSA", "n": enc(&other), "e": "AQAB"})).is_ok());
    let generated = Jwk::generate_rsa(2048).unwrap();
    assert!(Jwk::from_value(&generated.to_public().unwrap().to_value().unwrap()).is_ok());
    assert!(Jwk::from_value(&generated.to_private_value()).is_ok());
}
