//! Shared helpers for the known-answer vector tests: every vector is read from `test-vectors/`
//! in this crate (see `test-vectors/README.md` for provenance).
#![allow(dead_code)]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jwe_mint::jwk::{Jwk, JwkSet};
use serde_json::Value;

/// Reads and parses `test-vectors/<rel>`.
pub fn vector(rel: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("test-vectors").join(rel);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
}

/// Base64url (no padding) decode, panicking with `what` on failure.
pub fn b64(s: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(s).unwrap_or_else(|e| panic!("base64url {s:?}: {e}"))
}

/// Base64url (no padding) encode.
pub fn b64e(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Hex decode.
pub fn hex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd-length hex");
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex digit")).collect()
}

/// `v[path...]` as a string; panics naming the path when absent.
pub fn s<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    get(v, path).as_str().unwrap_or_else(|| panic!("{path:?} is not a string"))
}

/// `v[path...]`; panics naming the path when absent.
pub fn get<'a>(v: &'a Value, path: &[&str]) -> &'a Value {
    let mut cur = v;
    for p in path {
        cur = cur.get(p).unwrap_or_else(|| panic!("vector has no {path:?}"));
    }
    cur
}

/// Parses a JWK from a JSON value, panicking with `what` on failure.
pub fn jwk(v: &Value, what: &str) -> Jwk {
    Jwk::from_value(v).unwrap_or_else(|e| panic!("{what}: JWK does not parse: {e}"))
}

/// A one-key set.
pub fn set(key: Jwk) -> JwkSet {
    JwkSet::new(vec![key])
}

/// Parses JSON text produced by the encryptor.
pub fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("encryptor output is not JSON: {e}"))
}

/// Asserts that `actual[member] == expected[member]` for each member, naming the case.
pub fn assert_members(case: &str, actual: &Value, expected: &Value, members: &[&str]) {
    for m in members {
        assert_eq!(actual.get(m), expected.get(m), "{case}: member `{m}` differs");
    }
}

/// The compact segments `[protected, encrypted_key, iv, ciphertext, tag]`.
pub fn segments(compact: &str) -> Vec<&str> {
    let parts: Vec<&str> = compact.split('.').collect();
    assert_eq!(parts.len(), 5, "compact JWE must have five segments");
    parts
}

/// Whether the selected crypto provider performs RSA private-key decryption (RSA-OAEP, RSA1_5).
/// The `rust-crypto` provider refuses it with `Error::RefusedByProvider` (RUSTSEC-2023-0071, the
/// Marvin timing attack, is not marked fixed for the `rsa` crate); vectors that need it then
/// assert exactly that refusal instead of a plaintext.
pub fn provider_decrypts_rsa() -> bool {
    jwe_mint::crypto::PROVIDER_NAME != "rust-crypto"
}

/// For a vector whose recipient uses RSA key transport: returns `result` for the caller's checks,
/// or — under a provider that refuses RSA decryption — asserts that `result` is exactly that
/// refusal and returns `None`.
pub fn rsa_outcome(
    case: &str,
    result: jwe_mint::Result<jwe_mint::jwe::Decrypted>,
) -> Option<jwe_mint::Result<jwe_mint::jwe::Decrypted>> {
    if provider_decrypts_rsa() {
        return Some(result);
    }
    match result {
        Err(jwe_mint::Error::RefusedByProvider { .. }) => None,
        other => panic!(
            "{case}: the {} provider must refuse RSA decryption, got {:?}",
            jwe_mint::crypto::PROVIDER_NAME,
            other.map(|d| d.alg)
        ),
    }
}
