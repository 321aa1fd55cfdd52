// Shared by the fuzz targets and replayed as is by `tests/fuzz_regressions.rs` (which includes
// this file), so the regression test runs exactly what each target runs: each target's body is
// one of the `run_*` functions below.
//
// The decryption targets use the keys of the RFC 7516 / RFC 7520 vectors (so the seed corpus
// decrypts and the fuzzer starts deep inside the decryptor) and a permissive policy that still
// bounds the work per input.
#![allow(dead_code)]

use std::sync::OnceLock;

use jwe_mint::jwe::DecryptPolicy;
use jwe_mint::jwk::{Jwk, JwkSet};

pub fn keys() -> &'static JwkSet {
    static KEYS: OnceLock<JwkSet> = OnceLock::new();
    KEYS.get_or_init(|| {
        // RFC 7516 / RFC 7520 recipient keys (built by the seed script from test-vectors/).
        let mut set = JwkSet::from_json(include_str!("../keys.json")).unwrap_or_default();
        for curve in [jwe_mint::jwk::Curve::X25519, jwe_mint::jwk::Curve::P256] {
            if let Ok(k) = Jwk::generate(curve) {
                set.push(k);
            }
        }
        set
    })
}

pub fn policy() -> &'static DecryptPolicy {
    static POLICY: OnceLock<DecryptPolicy> = OnceLock::new();
    POLICY.get_or_init(|| {
        DecryptPolicy::default().dangerous_allow_rsa1_5().allow_pbes2(1_000).allow_zip(64 * 1024)
    })
}

/// Target `decrypt_compact`: inspect and decrypt the input as text. Returns whether it decrypted.
pub fn run_decrypt_compact(data: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(data) else { return false };
    let _ = jwe_mint::jwe::inspect(text, policy());
    jwe_mint::jwe::decrypt(text, keys(), policy()).is_ok()
}

/// Target `decrypt_json`: decrypt the input as a JSON serialization (a leading brace is added
/// when the fuzzer dropped it). Returns whether it decrypted.
pub fn run_decrypt_json(data: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(data) else { return false };
    let owned;
    let json = if text.starts_with('{') {
        text
    } else {
        owned = format!("{{{text}");
        &owned
    };
    jwe_mint::jwe::decrypt(json, keys(), policy()).is_ok()
}

/// Target `jwk_parse`: parse the input as a JWK and as a JWK or JWK Set, and re-serialise whatever
/// parses. Returns whether it parsed as a JWK.
pub fn run_jwk_parse(data: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(data) else { return false };
    let parsed = match Jwk::from_json(text) {
        Ok(k) => {
            let _ = k.thumbprint();
            let _ = k.to_json();
            let _ = k.to_public();
            true
        }
        Err(_) => false,
    };
    if let Ok(set) = JwkSet::from_json_key_or_set(text) {
        let _ = set.to_public();
    }
    parsed
}
