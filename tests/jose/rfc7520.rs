//! RFC 7520 (JOSE Cookbook) known-answer tests: JWE examples §5.1–§5.13, nesting §6, the RFC's
//! Figure 150 variant of §5.7, and the cookbook's extra X25519 ECDH-ES example.
//!
//! For every example, each serialization the cookbook gives (`compact`, `json`, `json_flat`)
//! must decrypt to `input.plaintext`, and the content layer must reproduce the cookbook's
//! ciphertext and tag from its generated CEK and IV. Where the key management step is
//! deterministic, the encryptor reproduces the cookbook's bytes as far as its header layout allows:
//! jwe-mint writes `alg`, `enc`, (`zip`), `kid` in that order, while the cookbook writes `alg`,
//! `kid`, `enc`; a different protected header is a different AAD and hence a different tag, so for
//! those examples only the parts that do not depend on the AAD are compared.

use crate::vectors;

use jwe_mint::jwa::SigningAlg;
use jwe_mint::jwa::{hazmat, ContentEncryptionAlg as Enc, KeyManagementAlg as Alg};
use jwe_mint::jwe::{self, DecryptPolicy, Encryptor};
use jwe_mint::jwk::{Jwk, JwkSet};
use jwe_mint::jws;
use jwe_mint::{Error, LimitExceeded};
use serde_json::Value;
use vectors::{
    assert_members, b64, b64e, get, json, jwk, provider_decrypts_rsa, rsa_outcome, s, segments, set, vector,
};

const S5_1: &str = "rfc7520-cookbook/jwe/5_1.key_encryption_using_rsa_v15_and_aes-hmac-sha2.json";
const S5_2: &str = "rfc7520-cookbook/jwe/5_2.key_encryption_using_rsa-oaep_with_aes-gcm.json";
const S5_3: &str = "rfc7520-cookbook/jwe/5_3.key_wrap_using_pbes2-aes-keywrap_with-aes-cbc-hmac-sha2.json";
const S5_4: &str =
    "rfc7520-cookbook/jwe/5_4.key_agreement_with_key_wrapping_using_ecdh-es_and_aes-keywrap_with_aes-gcm.json";
const S5_5: &str = "rfc7520-cookbook/jwe/5_5.key_agreement_using_ecdh-es_with_aes-cbc-hmac-sha2.json";
const S5_6: &str = "rfc7520-cookbook/jwe/5_6.direct_encryption_using_aes-gcm.json";
const S5_7: &str = "rfc7520-cookbook/jwe/5_7.key_wrap_using_aes-gcm_keywrap_with_aes-cbc-hmac-sha2.json";
const S5_8: &str = "rfc7520-cookbook/jwe/5_8.key_wrap_using_aes-keywrap_with_aes-gcm.json";
const S5_9: &str = "rfc7520-cookbook/jwe/5_9.compressed_content.json";
const S5_10: &str = "rfc7520-cookbook/jwe/5_10.including_additional_authentication_data.json";
const S5_11: &str = "rfc7520-cookbook/jwe/5_11.protecting_specific_header_fields.json";
const S5_12: &str = "rfc7520-cookbook/jwe/5_12.protecting_content_only.json";
const S5_13: &str = "rfc7520-cookbook/jwe/5_13.encrypting_to_multiple_recipients.json";
const S6: &str = "rfc7520-cookbook/6.nesting_signatures_and_encryption.json";
const X25519: &str = "rfc7520-cookbook/curve25519/ecdh-es.json";
const FIG150: &str = "rfc7520-extra/5.7.figure150_flattened_rfc_variant.json";

const ALL_THREE: &[&str] = &["compact", "json", "json_flat"];
const JSON_ONLY: &[&str] = &["json", "json_flat"];

fn legacy() -> DecryptPolicy {
    DecryptPolicy::default().dangerous_allow_rsa1_5()
}

/// The key(s) of `input.key` (an object, or a list for §5.13).
fn input_keys(v: &Value, case: &str) -> Vec<Jwk> {
    match get(v, &["input", "key"]) {
        Value::Array(list) => list.iter().map(|k| jwk(k, case)).collect(),
        k => vec![jwk(k, case)],
    }
}

/// A serialization from `output` as token text.
fn token(output: &Value, name: &str) -> String {
    match output {
        Value::String(t) => t.clone(),
        Value::Object(_) => output.to_string(),
        _ => panic!("{name}: unexpected output type"),
    }
}

/// Every serialization in `outputs` (and no other) is present in `out` and decrypts to `plaintext`
/// with `keys` under `policy`. Returns the recipient index used for each. With `rsa` (RSA key
/// transport), a provider that refuses RSA decryption must refuse each serialization instead
/// (`vectors::rsa_outcome`), and nothing is returned for it.
fn decrypts_all(
    case: &str,
    out: &Value,
    outputs: &[&str],
    keys: &JwkSet,
    policy: &DecryptPolicy,
    plaintext: &[u8],
    rsa: bool,
) -> Vec<usize> {
    let present: Vec<&String> = out.as_object().expect("output object").keys().collect();
    assert_eq!(present.len(), outputs.len(), "{case}: serializations present: {present:?}");
    let mut failures = Vec::new();
    let mut used = Vec::new();
    for name in outputs {
        let t = token(get(out, &[name]), name);
        let result = jwe::decrypt(&t, keys, policy);
        let result = if rsa {
            match rsa_outcome(&format!("{case} {name}"), result) {
                Some(r) => r,
                None => continue,
            }
        } else {
            result
        };
        match result {
            Ok(d) if &d.plaintext[..] == plaintext => used.push(d.recipient_index),
            Ok(_) => failures.push(format!("{case} {name}: wrong plaintext")),
            Err(e) => failures.push(format!("{case} {name}: {e}")),
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    used
}

fn plaintext(v: &Value) -> &[u8] {
    s(v, &["input", "plaintext"]).as_bytes()
}

/// The content layer alone: `hazmat::content_encrypt` with the cookbook's CEK, IV and AAD must give the
/// cookbook's ciphertext and tag, and `hazmat::content_decrypt` must invert it.
fn content_matches(case: &str, enc: Enc, cek: &[u8], iv: &str, aad: &[u8], pt: &[u8], ec: &Value) {
    let (ct, tag) = hazmat::content_encrypt(enc, cek, &b64(iv), aad, pt)
        .unwrap_or_else(|e| panic!("{case}: content encryption failed: {e}"));
    assert_eq!(b64e(&ct), s(ec, &["ciphertext"]), "{case}: content ciphertext");
    assert_eq!(b64e(&tag), s(ec, &["tag"]), "{case}: content tag");
    let back = hazmat::content_decrypt(enc, cek, &b64(iv), aad, &ct, &tag)
        .unwrap_or_else(|e| panic!("{case}: content decryption failed: {e}"));
    assert_eq!(&back[..], pt, "{case}: content round trip");
}

/// `content_matches` for an ordinary cookbook file (CEK and IV in `generated`, AAD = protected).
fn cookbook_content_matches(case: &str, v: &Value, enc: Enc, cek: &[u8]) {
    let ec = get(v, &["encrypting_content"]);
    let aad = ec.get("protected_b64u").and_then(Value::as_str).unwrap_or("");
    content_matches(case, enc, cek, s(v, &["generated", "iv"]), aad.as_bytes(), plaintext(v), ec);
}

fn decode_header(b64_text: &str) -> Value {
    serde_json::from_slice(&b64(b64_text)).expect("protected header JSON")
}

// ---------------------------------------------------------------- table-driven checks

/// How a vector's decryption key set is built from the vector file.
type KeySelection = fn(&Value, &str) -> JwkSet;
/// The decryption policy (opt-ins) a vector needs.
type PolicySelection = fn(&Value) -> DecryptPolicy;

/// `input.key` (one key, or every key of §5.13's list).
fn input_key_set(v: &Value, case: &str) -> JwkSet {
    JwkSet::new(input_keys(v, case))
}

/// §5.3: the password `input.pwd` as a symmetric key.
fn password_key_set(v: &Value, case: &str) -> JwkSet {
    set(Jwk::symmetric(s(v, &["input", "pwd"]).as_bytes())
        .unwrap_or_else(|e| panic!("{case} password: {e:?}")))
}

fn default_policy(_: &Value) -> DecryptPolicy {
    DecryptPolicy::default()
}

fn legacy_policy(_: &Value) -> DecryptPolicy {
    legacy()
}

/// PBES2 allowed up to exactly the vector's iteration count.
fn pbes2_policy(v: &Value) -> DecryptPolicy {
    DecryptPolicy::default().allow_pbes2(s5_3_p2c(v))
}

fn zip_policy(_: &Value) -> DecryptPolicy {
    DecryptPolicy::default().allow_zip(64 * 1024)
}

/// One row of the "every serialization decrypts" table.
struct DecryptVector {
    case: &'static str,
    file: &'static str,
    outputs: &'static [&'static str],
    keys: KeySelection,
    policy: PolicySelection,
    /// RSA key transport: a provider that refuses RSA decryption must refuse instead.
    rsa: bool,
}

/// Every serialization of `row.file` decrypts to `input.plaintext` (`decrypts_all`).
fn check_all_serializations_decrypt(row: &DecryptVector) {
    let v = vector(row.file);
    let keys = (row.keys)(&v, row.case);
    let policy = (row.policy)(&v);
    decrypts_all(row.case, get(&v, &["output"]), row.outputs, &keys, &policy, plaintext(&v), row.rsa);
}

/// One `#[test]` per row: `name: case, file, serializations, key selection, policy, rsa;`.
macro_rules! all_serializations_decrypt {
    ($($name:ident: $case:literal, $file:expr, $outputs:expr, $keys:expr, $policy:expr, $rsa:literal;)+) => {
        $(
            #[test]
            fn $name() {
                check_all_serializations_decrypt(&DecryptVector {
                    case: $case,
                    file: $file,
                    outputs: $outputs,
                    keys: $keys,
                    policy: $policy,
                    rsa: $rsa,
                });
            }
        )+
    };
}

all_serializations_decrypt! {
    rfc7520_5_1_rsa1_5_all_serializations_decrypt:
        "5.1", S5_1, ALL_THREE, input_key_set, legacy_policy, true;
    rfc7520_5_2_rsa_oaep_all_serializations_decrypt:
        "5.2", S5_2, ALL_THREE, input_key_set, default_policy, true;
    rfc7520_5_3_pbes2_all_serializations_decrypt:
        "5.3", S5_3, ALL_THREE, password_key_set, pbes2_policy, false;
    rfc7520_5_4_ecdh_es_a128kw_all_serializations_decrypt:
        "5.4", S5_4, ALL_THREE, input_key_set, default_policy, false;
    rfc7520_5_5_ecdh_es_all_serializations_decrypt:
        "5.5", S5_5, ALL_THREE, input_key_set, default_policy, false;
    rfc7520_5_6_dir_all_serializations_decrypt:
        "5.6", S5_6, ALL_THREE, input_key_set, default_policy, false;
    rfc7520_5_7_a256gcmkw_all_serializations_decrypt:
        "5.7", S5_7, ALL_THREE, input_key_set, default_policy, false;
    rfc7520_5_8_a128kw_all_serializations_decrypt:
        "5.8", S5_8, ALL_THREE, input_key_set, default_policy, false;
    rfc7520_5_9_zip_all_serializations_decrypt:
        "5.9", S5_9, ALL_THREE, input_key_set, zip_policy, false;
    rfc7520_5_10_aad_all_serializations_decrypt:
        "5.10", S5_10, JSON_ONLY, input_key_set, default_policy, false;
    rfc7520_5_11_partly_protected_all_serializations_decrypt:
        "5.11", S5_11, JSON_ONLY, input_key_set, default_policy, false;
    cookbook_x25519_ecdh_es_all_serializations_decrypt:
        "X25519 ECDH-ES", X25519, ALL_THREE, input_key_set, default_policy, false;
}

/// One `#[test]` per row: `name: case, file, enc, path of the CEK in the file;` checks
/// `cookbook_content_matches` (CEK and IV from the file, AAD = the protected header).
macro_rules! cookbook_content_layer_matches {
    ($($name:ident: $case:literal, $file:expr, $enc:expr, $cek:expr;)+) => {
        $(
            #[test]
            fn $name() {
                let v = vector($file);
                cookbook_content_matches($case, &v, $enc, &b64(s(&v, $cek)));
            }
        )+
    };
}

const GENERATED_CEK: &[&str] = &["generated", "cek"];

cookbook_content_layer_matches! {
    rfc7520_5_1_content_layer_matches: "5.1", S5_1, Enc::A128CbcHs256, GENERATED_CEK;
    rfc7520_5_2_content_layer_matches: "5.2", S5_2, Enc::A256Gcm, GENERATED_CEK;
    rfc7520_5_3_content_layer_matches: "5.3", S5_3, Enc::A128CbcHs256, GENERATED_CEK;
    rfc7520_5_4_content_layer_matches: "5.4", S5_4, Enc::A128Gcm, GENERATED_CEK;
    rfc7520_5_5_content_layer_matches: "5.5", S5_5, Enc::A128CbcHs256, &["encrypting_key", "cek"];
    rfc7520_5_6_content_layer_matches: "5.6", S5_6, Enc::A128Gcm, &["input", "key", "k"];
    rfc7520_5_7_content_layer_matches: "5.7", S5_7, Enc::A128CbcHs256, GENERATED_CEK;
    rfc7520_5_8_content_layer_matches: "5.8", S5_8, Enc::A128Gcm, GENERATED_CEK;
    rfc7520_5_11_content_layer_matches: "5.11", S5_11, Enc::A128Gcm, GENERATED_CEK;
    rfc7520_5_12_content_layer_matches: "5.12", S5_12, Enc::A128Gcm, GENERATED_CEK;
}

/// Each of `names` (serializations of `v`) is refused with `AlgorithmNotAllowed` under the default
/// policy, i.e. without the opt-in the vector needs.
fn refused_without_opt_in(case: &str, v: &Value, keys: &JwkSet, names: &[&str], feature: &str, opt_in: &str) {
    for name in names {
        let t = token(get(v, &["output", name]), name);
        let err = match jwe::decrypt(&t, keys, &DecryptPolicy::default()) {
            Ok(d) => panic!("{feature} without opt-in: {d:?}"),
            Err(e) => e,
        };
        assert!(matches!(err, Error::AlgorithmNotAllowed(_)), "{case} {name} without {opt_in}: {err:?}");
    }
}

/// A compact re-encryption of a cookbook vector with its own CEK and IV.
struct CompactReencrypt {
    case: &'static str,
    file: &'static str,
    enc: Enc,
    alg: Alg,
    /// Path of the CEK in the vector file.
    cek: &'static [&'static str],
    deflate: bool,
    policy: PolicySelection,
    /// Whether the protected headers carry the same members (the order differs).
    same_header: bool,
    /// The compact segments that must be byte exact, and how the assertion names them.
    same_segments: std::ops::Range<usize>,
    same_what: &'static str,
}

/// Re-encrypts `input.plaintext` to `input.key` with the cookbook's CEK and IV, compares the
/// segments that do not depend on what differs, and checks that the result decrypts. Returns the
/// re-encrypted token.
fn reencrypt_compact(r: &CompactReencrypt) -> String {
    let v = vector(r.file);
    let case = r.case;
    let key = input_keys(&v, case).remove(0);
    let mut encryptor = Encryptor::new(r.enc)
        .recipient(&key, r.alg)
        .dangerous_fixed_cek_and_iv(&b64(s(&v, r.cek)), &b64(s(&v, &["generated", "iv"])));
    if r.deflate {
        encryptor = encryptor.compress_deflate();
    }
    let t = encryptor.encrypt_compact(plaintext(&v)).unwrap_or_else(|e| panic!("{case} encrypt: {e:?}"));
    let ours = segments(&t);
    let out = token(get(&v, &["output", "compact"]), "compact");
    let theirs = segments(&out);
    if r.same_header {
        assert_eq!(decode_header(ours[0]), decode_header(theirs[0]), "{case}: same protected members");
    }
    let same = r.same_segments.clone();
    assert_eq!(ours[same.clone()], theirs[same], "{case}: {}", r.same_what);
    let d = jwe::decrypt(&t, &set(key), &(r.policy)(&v))
        .unwrap_or_else(|e| panic!("{case} re-encrypted decrypts: {e:?}"));
    assert_eq!(&d.plaintext[..], plaintext(&v), "{case} re-encrypted plaintext");
    t
}

// ---------------------------------------------------------------- §5.1 RSA1_5 + A128CBC-HS256

#[test]
fn rfc7520_5_1_rsa1_5_refused_without_legacy_opt_in() {
    let v = vector(S5_1);
    let keys = input_key_set(&v, "5.1");
    refused_without_opt_in("5.1", &v, &keys, ALL_THREE, "RSA1_5", "opt-in");
}

// ---------------------------------------------------------------- §5.3 PBES2-HS512+A256KW

fn s5_3_p2c(v: &Value) -> u32 {
    let p2c = get(v, &["encrypting_key", "iteration_count"]).as_u64().expect("5.3 p2c");
    u32::try_from(p2c).expect("5.3 p2c fits u32")
}

#[test]
fn rfc7520_5_3_pbes2_refused_below_p2c_cap_and_without_opt_in() {
    let v = vector(S5_3);
    let keys = password_key_set(&v, "5.3");
    let t = token(get(&v, &["output", "compact"]), "compact");
    let low = DecryptPolicy::default().allow_pbes2(s5_3_p2c(&v) - 1);
    let err = jwe::decrypt(&t, &keys, &low).expect_err("p2c above the cap");
    let cap = s5_3_p2c(&v) - 1;
    assert_eq!(
        err,
        Error::Limit(LimitExceeded::Pbes2IterationsTooHigh { max: cap }),
        "5.3 compact with cap p2c-1"
    );
    refused_without_opt_in("5.3", &v, &keys, &["compact"], "PBES2", "opt-in");
}

// ---------------------------------------------------------------- §5.5 ECDH-ES (P-256)

#[test]
fn rfc7520_5_5_ecdh_es_derives_the_cookbook_cek() {
    let v = vector(S5_5);
    let eph = jwk(get(&v, &["encrypting_key", "epk"]), "5.5 epk");
    let recipient = input_keys(&v, "5.5").remove(0);
    let z_sender = hazmat::ecdh_shared_secret(&eph, &recipient.to_public().unwrap()).expect("5.5 Z sender");
    let z_recipient =
        hazmat::ecdh_shared_secret(&recipient, &eph.to_public().unwrap()).expect("5.5 Z recipient");
    assert_eq!(&z_sender[..], &z_recipient[..], "5.5: Z agrees on both sides");
    let cek = hazmat::concat_kdf(&z_sender, "A128CBC-HS256", b"", b"", 32).expect("5.5 KDF");
    assert_eq!(b64e(&cek), s(&v, &["encrypting_key", "cek"]), "5.5: Concat KDF output is the CEK");
}

// ---------------------------------------------------------------- §5.6 dir + A128GCM

#[test]
fn rfc7520_5_6_reencrypt_reproduces_iv_and_ciphertext() {
    // Not byte exact: the cookbook's protected header is {"alg","kid","enc"}, ours is
    // {"alg","enc","kid"}, so the AAD and therefore the tag differ. IV and GCM ciphertext do not
    // depend on the AAD.
    let t = reencrypt_compact(&CompactReencrypt {
        case: "5.6",
        file: S5_6,
        enc: Enc::A128Gcm,
        alg: Alg::Dir,
        cek: &["input", "key", "k"],
        deflate: false,
        policy: default_policy,
        same_header: true,
        same_segments: 1..4,
        same_what: "encrypted key, iv, ciphertext",
    });
    assert_eq!(segments(&t)[1], "", "5.6: dir has an empty encrypted key");
}

// ---------------------------------------------------------------- §5.7 A256GCMKW + A128CBC-HS256

#[test]
fn rfc7520_5_7_figure150_flattened_decrypts() {
    let v = vector(FIG150);
    let key = jwk(get(&v, &["recipient_jwk"]), "Figure 150");
    let t = get(&v, &["json_flattened"]).to_string();
    let d = jwe::decrypt(&t, &set(key), &DecryptPolicy::default()).expect("Figure 150 decrypts");
    assert_eq!(&d.plaintext[..], s(&v, &["plaintext"]).as_bytes(), "Figure 150 plaintext");
}

#[test]
fn rfc7520_5_7_figure150_content_layer_matches() {
    // Same CEK and IV as the cookbook's §5.7, but the RFC's protected header member order: the
    // ciphertext is the same and the tag is Figure 150's own.
    let cookbook = vector(S5_7);
    let v = vector(FIG150);
    let ec = get(&v, &["json_flattened"]);
    content_matches(
        "Figure 150",
        Enc::A128CbcHs256,
        &b64(s(&cookbook, &["generated", "cek"])),
        s(&cookbook, &["generated", "iv"]),
        s(ec, &["protected"]).as_bytes(),
        s(&v, &["plaintext"]).as_bytes(),
        ec,
    );
}

#[test]
fn rfc7520_5_7_reencrypt_reproduces_content_ciphertext() {
    // Not byte exact: the A256GCMKW key-wrap IV is drawn at random by the encryptor (no API fixes
    // it), so `encrypted_key`, the header `iv`/`tag` and hence the AAD and content tag differ.
    // The CBC ciphertext does not depend on the AAD.
    reencrypt_compact(&CompactReencrypt {
        case: "5.7",
        file: S5_7,
        enc: Enc::A128CbcHs256,
        alg: Alg::A256GcmKw,
        cek: GENERATED_CEK,
        deflate: false,
        policy: default_policy,
        same_header: false,
        same_segments: 2..4,
        same_what: "iv and ciphertext",
    });
}

// ---------------------------------------------------------------- §5.8 A128KW + A128GCM

#[test]
fn rfc7520_5_8_reencrypt_reproduces_encrypted_key_iv_and_ciphertext() {
    // Not byte exact: protected header member order {"alg","enc","kid"} vs the cookbook's
    // {"alg","kid","enc"} changes the AAD, so only the tag (and segment 0) differ.
    reencrypt_compact(&CompactReencrypt {
        case: "5.8",
        file: S5_8,
        enc: Enc::A128Gcm,
        alg: Alg::A128Kw,
        cek: GENERATED_CEK,
        deflate: false,
        policy: default_policy,
        same_header: true,
        same_segments: 1..4,
        same_what: "encrypted key, iv, ciphertext",
    });
}

// ---------------------------------------------------------------- §5.9 A128KW + A128GCM, zip DEF

#[test]
fn rfc7520_5_9_zip_refused_without_opt_in() {
    let v = vector(S5_9);
    let keys = input_key_set(&v, "5.9");
    refused_without_opt_in("5.9", &v, &keys, &["compact"], "zip", "zip opt-in");
}

#[test]
fn rfc7520_5_9_content_layer_matches() {
    // The content encrypted is the cookbook's DEFLATE output (`generated.plaintext_c`).
    let v = vector(S5_9);
    let ec = get(&v, &["encrypting_content"]);
    content_matches(
        "5.9",
        Enc::A128Gcm,
        &b64(s(&v, &["generated", "cek"])),
        s(&v, &["generated", "iv"]),
        s(ec, &["protected_b64u"]).as_bytes(),
        &b64(s(&v, &["generated", "plaintext_c"])),
        ec,
    );
}

#[test]
fn rfc7520_5_9_reencrypt_reproduces_encrypted_key_and_iv() {
    // Not byte exact: the cookbook's protected header is {"alg","kid","enc","zip"}, ours
    // {"alg","enc","zip","kid"} (different AAD, so different tag), and DEFLATE output is
    // implementation-defined, so the ciphertext is not compared either.
    reencrypt_compact(&CompactReencrypt {
        case: "5.9",
        file: S5_9,
        enc: Enc::A128Gcm,
        alg: Alg::A128Kw,
        cek: GENERATED_CEK,
        deflate: true,
        policy: zip_policy,
        same_header: true,
        same_segments: 1..3,
        same_what: "encrypted key, iv",
    });
}

// ---------------------------------------------------------------- §5.10 external AAD

#[test]
fn rfc7520_5_10_aad_is_authenticated() {
    let v = vector(S5_10);
    let keys = JwkSet::new(input_keys(&v, "5.10"));
    let mut tampered = get(&v, &["output", "json_flat"]).clone();
    tampered["aad"] = Value::String(b64e(b"[\"vcard\",[]]"));
    let err = jwe::decrypt(&tampered.to_string(), &keys, &DecryptPolicy::default()).expect_err("bad aad");
    assert_eq!(err, Error::DecryptionFailed, "5.10 json_flat with another aad");
}

#[test]
fn rfc7520_5_10_content_layer_matches() {
    let v = vector(S5_10);
    let ec = get(&v, &["encrypting_content"]);
    assert_eq!(
        b64(s(&v, &["generated", "aad_b64u"])),
        s(&v, &["input", "aad"]).as_bytes(),
        "5.10: aad_b64u encodes input.aad"
    );
    let aad = format!("{}.{}", s(ec, &["protected_b64u"]), s(&v, &["generated", "aad_b64u"]));
    content_matches(
        "5.10",
        Enc::A128Gcm,
        &b64(s(&v, &["generated", "cek"])),
        s(&v, &["generated", "iv"]),
        aad.as_bytes(),
        plaintext(&v),
        ec,
    );
}

#[test]
fn rfc7520_5_10_reencrypt_reproduces_encrypted_key_iv_and_ciphertext() {
    // Not byte exact: the cookbook protects {"alg","kid","enc"}; our JSON output protects only
    // `enc` and puts `alg`/`kid` in the recipient header, so the AAD and the tag differ.
    let v = vector(S5_10);
    let key = input_keys(&v, "5.10").remove(0);
    let out = Encryptor::new(Enc::A128Gcm)
        .aad(s(&v, &["input", "aad"]).as_bytes())
        .recipient(&key, Alg::A128Kw)
        .dangerous_fixed_cek_and_iv(&b64(s(&v, &["generated", "cek"])), &b64(s(&v, &["generated", "iv"])))
        .encrypt_flattened(plaintext(&v))
        .expect("5.10 encrypt");
    let ours = json(&out);
    assert_members(
        "5.10 re-encrypt",
        &ours,
        get(&v, &["output", "json_flat"]),
        &["encrypted_key", "aad", "iv", "ciphertext"],
    );
    let d = jwe::decrypt(&out, &set(key), &DecryptPolicy::default()).expect("5.10 re-encrypted decrypts");
    assert_eq!(&d.plaintext[..], plaintext(&v), "5.10 re-encrypted plaintext");
}

// ---------------------------------------------------------------- §5.11 only `enc` protected

#[test]
fn rfc7520_5_11_reencrypt_reproduces_protected_key_and_content() {
    // Byte exact in every cryptographic member. Only the header placement differs: the cookbook
    // puts `alg`/`kid` in the shared `unprotected` header, the encryptor in the per-recipient
    // `header` (both unprotected, so neither affects the AAD).
    let v = vector(S5_11);
    let key = input_keys(&v, "5.11").remove(0);
    let out = Encryptor::new(Enc::A128Gcm)
        .recipient(&key, Alg::A128Kw)
        .dangerous_fixed_cek_and_iv(&b64(s(&v, &["generated", "cek"])), &b64(s(&v, &["generated", "iv"])))
        .encrypt_flattened(plaintext(&v))
        .expect("5.11 encrypt");
    let ours = json(&out);
    let expected = get(&v, &["output", "json_flat"]);
    assert_members(
        "5.11 re-encrypt",
        &ours,
        expected,
        &["protected", "encrypted_key", "iv", "ciphertext", "tag"],
    );
    assert_eq!(ours["header"], expected["unprotected"], "5.11 re-encrypt: same unprotected members");
}

// ---------------------------------------------------------------- §5.12 nothing protected

#[test]
fn rfc7520_5_12_unprotected_all_serializations_decrypt() {
    let v = vector(S5_12);
    for name in JSON_ONLY {
        assert!(get(&v, &["output", name]).get("protected").is_none(), "5.12 {name}: no protected member");
    }
    check_all_serializations_decrypt(&DecryptVector {
        case: "5.12",
        file: S5_12,
        outputs: JSON_ONLY,
        keys: input_key_set,
        policy: default_policy,
        rsa: false,
    });
}

// ---------------------------------------------------------------- §5.13 three recipients

fn s5_13_recipient(index: usize, policy: &DecryptPolicy) {
    let v = vector(S5_13);
    let key = input_keys(&v, "5.13").remove(index);
    let case = format!("5.13 recipient {index} ({})", key.kid().unwrap_or("?"));
    let rsa = index == 0;
    let used = decrypts_all(&case, get(&v, &["output"]), &["json"], &set(key), policy, plaintext(&v), rsa);
    let expected: &[usize] = if rsa && !provider_decrypts_rsa() { &[] } else { &[index] };
    assert_eq!(used, expected, "{case}: opened by its own recipient entry");
}

#[test]
fn rfc7520_5_13_rsa1_5_recipient_decrypts() {
    s5_13_recipient(0, &legacy());
}

#[test]
fn rfc7520_5_13_ecdh_es_a256kw_recipient_decrypts() {
    s5_13_recipient(1, &legacy());
    s5_13_recipient(1, &DecryptPolicy::default());
}

#[test]
fn rfc7520_5_13_a256gcmkw_recipient_decrypts() {
    s5_13_recipient(2, &legacy());
    s5_13_recipient(2, &DecryptPolicy::default());
}

#[test]
fn rfc7520_5_13_content_layer_matches() {
    let v = vector(S5_13);
    let protected = decode_header(s(&v, &["encrypting_content", "protected_b64u"]));
    assert_eq!(protected["enc"], "A128CBC-HS256", "5.13: real enc (input.enc reads A128CBC-H256)");
    cookbook_content_matches("5.13", &v, Enc::A128CbcHs256, &b64(s(&v, &["generated", "cek"])));
}

#[test]
fn rfc7520_5_13_reencrypt_reproduces_shared_members() {
    // The shared parts (protected, unprotected, iv, ciphertext, tag) are byte exact. The
    // recipients' encrypted keys are not reproducible: RSA1_5 is decrypt-only (and randomized),
    // ECDH-ES uses a fresh ephemeral key and A256GCMKW a fresh key-wrap IV.
    let v = vector(S5_13);
    let keys = input_keys(&v, "5.13");
    let (ec_key, gcmkw_key) = (keys[1].to_public().unwrap(), keys[2].clone());
    let out = Encryptor::new(Enc::A128CbcHs256)
        .unprotected_param("cty", "text/plain")
        .recipient(&ec_key, Alg::EcdhEsA256Kw)
        .recipient(&gcmkw_key, Alg::A256GcmKw)
        .dangerous_fixed_cek_and_iv(&b64(s(&v, &["generated", "cek"])), &b64(s(&v, &["generated", "iv"])))
        .encrypt_general(plaintext(&v))
        .expect("5.13 encrypt");
    let ours = json(&out);
    let expected = get(&v, &["output", "json"]);
    assert_members(
        "5.13 re-encrypt",
        &ours,
        expected,
        &["protected", "unprotected", "iv", "ciphertext", "tag"],
    );
    for (i, key) in [(0, keys[1].clone()), (1, keys[2].clone())] {
        let d = jwe::decrypt(&out, &set(key), &DecryptPolicy::default()).expect("5.13 re-encrypted decrypts");
        assert_eq!(
            (&d.plaintext[..], d.recipient_index),
            (plaintext(&v), i),
            "5.13 re-encrypted, recipient {i}"
        );
    }
}

// ---------------------------------------------------------------- §6 nesting

/// Verifies the §6 inner JWS (PS256, RSA public key) and checks its payload.
fn s6_verify_inner(case: &str, v: &Value, jws_text: &str) -> Result<(), String> {
    let sig_key = jwk(get(v, &["sign", "input", "key"]), "§6 signing key").to_public().unwrap();
    let verified = jws::verify_compact(jws_text, &set(sig_key), &[SigningAlg::Ps256])
        .map_err(|e| format!("{case}: inner JWS: {e}"))?;
    if verified.alg != SigningAlg::Ps256 {
        return Err(format!("{case}: inner alg {:?}", verified.alg));
    }
    if verified.payload != s(v, &["sign", "input", "payload"]).as_bytes() {
        return Err(format!("{case}: inner payload differs"));
    }
    Ok(())
}

#[test]
fn rfc7520_6_inner_jws_verifies() {
    let v = vector(S6);
    let inner = s(&v, &["sign", "output", "compact"]);
    assert_eq!(s(&v, &["encrypt", "input", "plaintext"]), inner, "§6: the JWE plaintext is the JWS");
    s6_verify_inner("§6 sign.output.compact", &v, inner).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn rfc7520_6_nested_all_serializations_decrypt_and_inner_jws_verifies() {
    let v = vector(S6);
    let keys = set(jwk(get(&v, &["encrypt", "input", "key"]), "§6 encryption key"));
    let inner = s(&v, &["sign", "output", "compact"]);
    let out = get(&v, &["encrypt", "output"]);
    decrypts_all("§6", out, ALL_THREE, &keys, &DecryptPolicy::default(), inner.as_bytes(), true);
    let mut failures = Vec::new();
    for name in ALL_THREE {
        let case = format!("§6 {name}");
        let result = jwe::decrypt(&token(get(out, &[name]), name), &keys, &DecryptPolicy::default());
        let Some(result) = rsa_outcome(&case, result) else { continue };
        let d = result.unwrap_or_else(|e| panic!("{case}: {e}"));
        if d.protected.get("cty").and_then(Value::as_str) != Some("JWT") {
            failures.push(format!("{case}: cty is not JWT"));
        }
        match std::str::from_utf8(&d.plaintext) {
            Ok(jws_text) => failures.extend(s6_verify_inner(&case, &v, jws_text).err()),
            Err(_) => failures.push(format!("{case}: inner JWS is not UTF-8")),
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn rfc7520_6_inner_jws_refused_for_other_algs_and_keys() {
    let v = vector(S6);
    let sig_key = jwk(get(&v, &["sign", "input", "key"]), "§6 signing key").to_public().unwrap();
    let inner = s(&v, &["sign", "output", "compact"]);
    let err = jws::verify_compact(inner, &set(sig_key), &[SigningAlg::Rs256]).expect_err("PS256 not allowed");
    assert!(matches!(err, Error::AlgorithmNotAllowed(_)), "§6 inner JWS with only RS256 allowed: {err:?}");
    // Another RSA key (the §6 encryption key, relabelled for signing) must not verify it.
    let mut wrong = get(&v, &["encrypt", "input", "key"]).clone();
    wrong.as_object_mut().unwrap().remove("alg");
    wrong["use"] = "sig".into();
    let wrong = jwk(&wrong, "§6 wrong key").to_public().unwrap();
    let err = jws::verify_compact(inner, &set(wrong), &[SigningAlg::Ps256]).expect_err("wrong key");
    assert_eq!(err, Error::InvalidSignature, "§6 inner JWS with the wrong key");
}

#[test]
fn rfc7520_6_content_layer_matches() {
    let v = vector(S6);
    let e = get(&v, &["encrypt"]);
    let ec = get(e, &["encrypting_content"]);
    content_matches(
        "§6",
        Enc::A128Gcm,
        &b64(s(e, &["generated", "cek"])),
        s(e, &["generated", "iv"]),
        s(ec, &["protected_b64u"]).as_bytes(),
        s(e, &["input", "plaintext"]).as_bytes(),
        ec,
    );
}
