//! RFC 7516 (JWE) Appendix A.1–A.5 and Appendix B known-answer tests.

use crate::vectors;

use jwe_mint::jwa::{hazmat, ContentEncryptionAlg as Enc, KeyManagementAlg as Alg};
use jwe_mint::jwe::{self, DecryptPolicy, Encryptor};
use jwe_mint::jwk::JwkSet;
use jwe_mint::Error;
use vectors::{assert_members, b64, get, json, jwk, rsa_outcome, s, segments, set, vector};

fn legacy() -> DecryptPolicy {
    DecryptPolicy::default().dangerous_allow_rsa1_5()
}

fn decrypt_ok(case: &str, token: &str, keys: &JwkSet, policy: &DecryptPolicy, plaintext: &str) {
    let out = jwe::decrypt(token, keys, policy).unwrap_or_else(|e| panic!("{case}: decrypt failed: {e}"));
    assert_eq!(&out.plaintext[..], plaintext.as_bytes(), "{case}: plaintext differs");
}

/// `decrypt_ok` for RSA key transport: under a provider that refuses RSA decryption the exact
/// refusal is asserted instead (see `vectors::rsa_outcome`).
fn decrypt_rsa_ok(case: &str, token: &str, keys: &JwkSet, policy: &DecryptPolicy, plaintext: &str) {
    if let Some(result) = rsa_outcome(case, jwe::decrypt(token, keys, policy)) {
        let out = result.unwrap_or_else(|e| panic!("{case}: decrypt failed: {e}"));
        assert_eq!(&out.plaintext[..], plaintext.as_bytes(), "{case}: plaintext differs");
    }
}

// ---------------------------------------------------------------- A.1 RSA-OAEP + A256GCM

#[test]
fn rfc7516_a1_compact_decrypts() {
    let v = vector("rfc7516/A.1.json");
    let key = jwk(&v["recipient_jwk"], "A.1");
    decrypt_rsa_ok(
        "A.1 compact",
        s(&v, &["compact"]),
        &set(key),
        &DecryptPolicy::default(),
        s(&v, &["plaintext"]),
    );
}

#[test]
fn rfc7516_a1_reencrypt_reproduces_ciphertext_and_tag() {
    let v = vector("rfc7516/A.1.json");
    let key = jwk(&v["recipient_jwk"], "A.1");
    let token = Encryptor::new(Enc::A256Gcm)
        .recipient(&key.to_public().unwrap(), Alg::RsaOaep)
        .dangerous_fixed_cek_and_iv(&b64(s(&v, &["cek_b64u"])), &b64(s(&v, &["iv_b64u"])))
        .encrypt_compact(s(&v, &["plaintext"]).as_bytes())
        .expect("A.1 encrypt");
    let seg = segments(&token);
    // RSA-OAEP is randomized: the encrypted key (segment 1) cannot be compared.
    assert_eq!(seg[0], s(&v, &["protected_b64u"]), "A.1 re-encrypt: protected header");
    assert_eq!(seg[2], s(&v, &["iv_b64u"]), "A.1 re-encrypt: iv");
    assert_eq!(seg[3], s(&v, &["ciphertext_b64u"]), "A.1 re-encrypt: ciphertext");
    assert_eq!(seg[4], s(&v, &["tag_b64u"]), "A.1 re-encrypt: tag");
    decrypt_rsa_ok(
        "A.1 re-encrypted token",
        &token,
        &set(key),
        &DecryptPolicy::default(),
        s(&v, &["plaintext"]),
    );
}

// ---------------------------------------------------------------- A.2 RSA1_5 + A128CBC-HS256

#[test]
fn rfc7516_a2_compact_decrypts_with_legacy_opt_in() {
    let v = vector("rfc7516/A.2.json");
    let key = jwk(&v["recipient_jwk"], "A.2");
    decrypt_rsa_ok("A.2 compact", s(&v, &["compact"]), &set(key), &legacy(), s(&v, &["plaintext"]));
}

#[test]
fn rfc7516_a2_compact_refused_without_legacy_opt_in() {
    let v = vector("rfc7516/A.2.json");
    let key = jwk(&v["recipient_jwk"], "A.2");
    let err = jwe::decrypt(s(&v, &["compact"]), &set(key), &DecryptPolicy::default())
        .expect_err("A.2 (RSA1_5) must be refused by the default policy");
    assert!(matches!(err, Error::AlgorithmNotAllowed(_)), "A.2 without opt-in: got {err:?}");
}

#[test]
fn rfc7516_a2_content_encryption_matches() {
    let v = vector("rfc7516/A.2.json");
    let (ct, tag) = hazmat::content_encrypt(
        Enc::A128CbcHs256,
        &b64(s(&v, &["cek_b64u"])),
        &b64(s(&v, &["iv_b64u"])),
        s(&v, &["protected_b64u"]).as_bytes(),
        s(&v, &["plaintext"]).as_bytes(),
    )
    .expect("A.2 content encryption");
    assert_eq!(ct, b64(s(&v, &["ciphertext_b64u"])), "A.2 ciphertext");
    assert_eq!(tag, b64(s(&v, &["tag_b64u"])), "A.2 tag");
}

// ---------------------------------------------------------------- A.3 A128KW + A128CBC-HS256

#[test]
fn rfc7516_a3_compact_decrypts() {
    let v = vector("rfc7516/A.3.json");
    let key = jwk(&v["recipient_jwk"], "A.3");
    decrypt_ok(
        "A.3 compact",
        s(&v, &["compact"]),
        &set(key),
        &DecryptPolicy::default(),
        s(&v, &["plaintext"]),
    );
}

#[test]
fn rfc7516_a3_reencrypt_is_byte_exact() {
    let v = vector("rfc7516/A.3.json");
    let key = jwk(&v["recipient_jwk"], "A.3");
    let token = Encryptor::new(Enc::A128CbcHs256)
        .recipient(&key, Alg::A128Kw)
        .dangerous_fixed_cek_and_iv(&b64(s(&v, &["cek_b64u"])), &b64(s(&v, &["iv_b64u"])))
        .encrypt_compact(s(&v, &["plaintext"]).as_bytes())
        .expect("A.3 encrypt");
    assert_eq!(token, s(&v, &["compact"]), "A.3 re-encrypt: compact serialization");
}

// ---------------------------------------------------------------- Appendix B (A.3 step by step)

#[test]
fn rfc7516_b_aes_cbc_hmac_sha256_matches() {
    let v = vector("rfc7516/B.json");
    let k = b64(s(&v, &["K_b64u"]));
    let iv = b64(s(&v, &["iv_b64u"]));
    let aad = b64(s(&v, &["aad_b64u"]));
    let pt = b64(s(&v, &["plaintext_b64u"]));
    let (ct, tag) = hazmat::content_encrypt(Enc::A128CbcHs256, &k, &iv, &aad, &pt).expect("App. B encrypt");
    assert_eq!(ct, b64(s(&v, &["ciphertext_b64u"])), "App. B ciphertext");
    assert_eq!(tag, b64(s(&v, &["tag_T_b64u"])), "App. B tag T");
    let back = hazmat::content_decrypt(Enc::A128CbcHs256, &k, &iv, &aad, &ct, &tag).expect("App. B decrypt");
    assert_eq!(&back[..], &pt[..], "App. B round trip");
}

// ---------------------------------------------------------------- A.4 general JSON, two recipients

fn a4_keys(v: &serde_json::Value) -> (jwe_mint::jwk::Jwk, jwe_mint::jwk::Jwk) {
    let r = get(v, &["recipients"]).as_array().expect("A.4 recipients");
    // The RFC prints the keys without `kid`; the JWE's per-recipient headers name them.
    let rsa = jwk(&r[0]["jwk"], "A.4 RSA1_5").with_kid(s(&r[0], &["kid"]));
    let kw = jwk(&r[1]["jwk"], "A.4 A128KW").with_kid(s(&r[1], &["kid"]));
    (rsa, kw)
}

#[test]
fn rfc7516_a4_general_decrypts_with_rsa1_5_recipient_key() {
    let v = vector("rfc7516/A.4.json");
    let (rsa, _) = a4_keys(&v);
    let token = get(&v, &["json_general"]).to_string();
    decrypt_rsa_ok("A.4 general, RSA1_5 recipient", &token, &set(rsa), &legacy(), s(&v, &["plaintext"]));
}

#[test]
fn rfc7516_a4_general_decrypts_with_a128kw_recipient_key() {
    let v = vector("rfc7516/A.4.json");
    let (_, kw) = a4_keys(&v);
    let token = get(&v, &["json_general"]).to_string();
    decrypt_ok("A.4 general, A128KW recipient", &token, &set(kw), &legacy(), s(&v, &["plaintext"]));
}

#[test]
fn rfc7516_a4_general_a128kw_recipient_under_default_policy() {
    // The A128KW recipient is ours; the other recipient's RSA1_5 is not something we would use.
    let v = vector("rfc7516/A.4.json");
    let (_, kw) = a4_keys(&v);
    let token = get(&v, &["json_general"]).to_string();
    decrypt_ok(
        "A.4 general, A128KW recipient, default policy",
        &token,
        &set(kw),
        &DecryptPolicy::default(),
        s(&v, &["plaintext"]),
    );
}

/// The A.4 keys exactly as the RFC prints them: without `kid` (the JWE's headers name "2011-04-29"
/// and "7"). A key without `kid` is a candidate for every recipient.
fn a4_keys_as_printed(v: &serde_json::Value) -> (jwe_mint::jwk::Jwk, jwe_mint::jwk::Jwk) {
    let r = get(v, &["recipients"]).as_array().expect("A.4 recipients");
    let rsa = jwk(&r[0]["jwk"], "A.4 RSA1_5");
    let kw = jwk(&r[1]["jwk"], "A.4 A128KW");
    assert_eq!((rsa.kid(), kw.kid()), (None, None), "A.4: the RFC's keys have no kid");
    (rsa, kw)
}

#[test]
fn rfc7516_a4_general_decrypts_with_kid_less_rsa1_5_key() {
    let v = vector("rfc7516/A.4.json");
    let (rsa, _) = a4_keys_as_printed(&v);
    let token = get(&v, &["json_general"]).to_string();
    decrypt_rsa_ok("A.4 general, kid-less RSA1_5 key", &token, &set(rsa), &legacy(), s(&v, &["plaintext"]));
}

#[test]
fn rfc7516_a4_general_decrypts_with_kid_less_a128kw_key() {
    let v = vector("rfc7516/A.4.json");
    let (_, kw) = a4_keys_as_printed(&v);
    let token = get(&v, &["json_general"]).to_string();
    for (what, policy) in [("legacy policy", legacy()), ("default policy", DecryptPolicy::default())] {
        let case = format!("A.4 general, kid-less A128KW key, {what}");
        let out = jwe::decrypt(&token, &set(kw.clone()), &policy).unwrap_or_else(|e| panic!("{case}: {e}"));
        assert_eq!(&out.plaintext[..], s(&v, &["plaintext"]).as_bytes(), "{case}: plaintext");
        assert_eq!(out.recipient_index, 1, "{case}: opened by the A128KW recipient");
    }
}

#[test]
fn rfc7516_a4_a128kw_recipient_reencrypt_is_byte_exact() {
    let v = vector("rfc7516/A.4.json");
    let (_, kw) = a4_keys(&v);
    let out = Encryptor::new(Enc::A128CbcHs256)
        .unprotected_param("jku", s(&v, &["shared_unprotected_header", "jku"]))
        .recipient(&kw, Alg::A128Kw)
        .dangerous_fixed_cek_and_iv(&b64(s(&v, &["cek_b64u"])), &b64(s(&v, &["iv_b64u"])))
        .encrypt_general(s(&v, &["plaintext"]).as_bytes())
        .expect("A.4 encrypt");
    let out = json(&out);
    let expected = get(&v, &["json_general"]);
    assert_members(
        "A.4 re-encrypt",
        &out,
        expected,
        &["protected", "unprotected", "iv", "ciphertext", "tag"],
    );
    assert_eq!(out["recipients"].as_array().map(Vec::len), Some(1), "A.4 re-encrypt: one recipient");
    assert_members(
        "A.4 re-encrypt, A128KW recipient",
        &out["recipients"][0],
        &expected["recipients"][1],
        &["header", "encrypted_key"],
    );
}

// ---------------------------------------------------------------- A.5 flattened JSON

#[test]
fn rfc7516_a5_flattened_decrypts() {
    let v = vector("rfc7516/A.5.json");
    let key = jwk(&v["recipient_jwk"], "A.5").with_kid(s(&v, &["per_recipient_header", "kid"]));
    let token = get(&v, &["json_flattened"]).to_string();
    decrypt_ok("A.5 flattened", &token, &set(key), &DecryptPolicy::default(), s(&v, &["plaintext"]));
}

#[test]
fn rfc7516_a5_flattened_decrypts_with_the_key_as_printed_without_kid() {
    // The RFC prints the key without `kid` while the JWE names "7": a key without `kid` is a
    // candidate for every recipient (the header's `kid` is a hint, RFC 7516 §4.1.6).
    let v = vector("rfc7516/A.5.json");
    let key = jwk(&v["recipient_jwk"], "A.5");
    assert_eq!(key.kid(), None, "A.5: the RFC's key has no kid");
    let token = get(&v, &["json_flattened"]).to_string();
    decrypt_ok(
        "A.5 flattened, kid-less key",
        &token,
        &set(key),
        &DecryptPolicy::default(),
        s(&v, &["plaintext"]),
    );
}

#[test]
fn rfc7516_a5_key_with_a_different_kid_is_not_tried() {
    // The right key under another `kid` is never tried for a recipient that names "7": if it
    // were, the token would open.
    let v = vector("rfc7516/A.5.json");
    let token = get(&v, &["json_flattened"]).to_string();
    let right_key_wrong_kid = jwk(&v["recipient_jwk"], "A.5").with_kid("not-7");
    let err = jwe::decrypt(&token, &set(right_key_wrong_kid.clone()), &DecryptPolicy::default())
        .expect_err("a key whose kid differs from the header's must not be tried");
    assert!(matches!(err, Error::NoMatchingKey(_)), "A.5, key with another kid: got {err:?}");

    // Next to a kid-less key, only the kid-less key is tried (and it is the wrong one).
    let wrong_kidless =
        jwk(&serde_json::json!({"kty": "oct", "k": "AAAAAAAAAAAAAAAAAAAAAA"}), "A.5 wrong key");
    let keys = JwkSet::new(vec![right_key_wrong_kid, wrong_kidless]);
    let err = jwe::decrypt(&token, &keys, &DecryptPolicy::default())
        .expect_err("only the kid-less (wrong) key may be tried");
    assert!(matches!(err, Error::DecryptionFailed), "A.5, other kid + wrong kid-less key: got {err:?}");
}

#[test]
fn rfc7516_a5_key_with_the_named_kid_is_preferred_over_kid_less_keys() {
    // A key carrying the header's `kid` is tried alone: a kid-less key next to it is not used.
    let v = vector("rfc7516/A.5.json");
    let token = get(&v, &["json_flattened"]).to_string();
    let right_kidless = jwk(&v["recipient_jwk"], "A.5");
    let wrong_named =
        jwk(&serde_json::json!({"kty": "oct", "k": "AAAAAAAAAAAAAAAAAAAAAA", "kid": "7"}), "A.5 wrong key");
    let keys = JwkSet::new(vec![right_kidless.clone(), wrong_named.clone()]);
    let err =
        jwe::decrypt(&token, &keys, &DecryptPolicy::default()).expect_err("only the kid \"7\" key is tried");
    assert!(
        matches!(err, Error::DecryptionFailed),
        "A.5, wrong key named 7 + right kid-less key: got {err:?}"
    );
}

#[test]
fn rfc7516_a5_flattened_reencrypt_is_byte_exact() {
    let v = vector("rfc7516/A.5.json");
    let key = jwk(&v["recipient_jwk"], "A.5").with_kid(s(&v, &["per_recipient_header", "kid"]));
    let out = Encryptor::new(Enc::A128CbcHs256)
        .unprotected_param("jku", s(&v, &["shared_unprotected_header", "jku"]))
        .recipient(&key, Alg::A128Kw)
        .dangerous_fixed_cek_and_iv(&b64(s(&v, &["cek_b64u"])), &b64(s(&v, &["iv_b64u"])))
        .encrypt_flattened(s(&v, &["plaintext"]).as_bytes())
        .expect("A.5 encrypt");
    let out = json(&out);
    let expected = get(&v, &["json_flattened"]);
    assert_members(
        "A.5 re-encrypt",
        &out,
        expected,
        &["protected", "unprotected", "header", "encrypted_key", "iv", "ciphertext", "tag"],
    );
    let members: Vec<&String> = out.as_object().unwrap().keys().collect();
    let expected_members: Vec<&String> = expected.as_object().unwrap().keys().collect();
    assert_eq!(members.len(), expected_members.len(), "A.5 re-encrypt: member count");
}

#[test]
fn rfc7516_a4_rsa1_5_recipient_not_used_without_legacy_opt_in() {
    // Without the opt-in the RSA1_5 recipient is skipped; the remaining A128KW recipient (kid "7")
    // has no key here.
    let v = vector("rfc7516/A.4.json");
    let (rsa, _) = a4_keys(&v);
    let token = get(&v, &["json_general"]).to_string();
    let err = jwe::decrypt(&token, &set(rsa), &DecryptPolicy::default())
        .expect_err("A.4 with only the RSA1_5 key and no opt-in must fail");
    assert!(matches!(err, Error::NoMatchingKey(_)), "A.4 RSA1_5 key, no opt-in: got {err:?}");
}

// ---------------------------------------------------------------- serialization detection

#[test]
fn json_serializations_with_surrounding_whitespace_are_parsed_as_json() {
    // JSON allows whitespace around the object (RFC 8259 §2); a pretty-printed or piped JWE often
    // starts with a newline or spaces. It must not be taken for compact ("five segments").
    let a5 = vector("rfc7516/A.5.json");
    let a5_key = jwk(&a5["recipient_jwk"], "A.5");
    let a4 = vector("rfc7516/A.4.json");
    let (_, a4_key) = a4_keys_as_printed(&a4);
    let cases = [
        ("A.5 flattened", get(&a5, &["json_flattened"]), &a5_key, s(&a5, &["plaintext"])),
        ("A.4 general", get(&a4, &["json_general"]), &a4_key, s(&a4, &["plaintext"])),
    ];
    for (what, value, key, plaintext) in cases {
        let pretty = serde_json::to_string_pretty(value).unwrap();
        for token in [format!("\n  {pretty}"), format!(" \t\r\n{pretty}\n\n"), format!("{pretty}\n")] {
            let out = jwe::decrypt(&token, &set(key.clone()), &DecryptPolicy::default())
                .unwrap_or_else(|e| panic!("{what} with whitespace {:?}: {e}", &token[..3]));
            assert_eq!(&out.plaintext[..], plaintext.as_bytes(), "{what}: plaintext");
            let inspected = jwe::inspect(&token, &DecryptPolicy::default()).expect("inspect");
            assert_ne!(inspected.serialization, jwe::Serialization::Compact, "{what}: detected as compact");
        }
    }
}

#[test]
fn compact_with_surrounding_whitespace_stays_refused() {
    // A compact token has one spelling: whitespace is not base64url (RFC 7515 §2), so a padded
    // variant is refused rather than silently normalised.
    let v = vector("rfc7516/A.3.json");
    let key = jwk(&v["recipient_jwk"], "A.3");
    let compact = s(&v, &["compact"]);
    for token in [format!(" {compact}"), format!("{compact}\n")] {
        let err = jwe::decrypt(&token, &set(key.clone()), &DecryptPolicy::default())
            .expect_err("compact with whitespace must be refused");
        assert!(matches!(err, Error::Malformed(_)), "compact with whitespace: got {err:?}");
    }
}
