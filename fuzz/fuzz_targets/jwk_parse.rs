#![no_main]
//! JWK and JWK Set parsing (and re-serialisation of whatever parses): must never panic.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(k) = jwe_mint::jwk::Jwk::from_json(text) {
            let _ = k.thumbprint();
            let _ = k.to_json();
            let _ = k.to_public();
        }
        if let Ok(set) = jwe_mint::jwk::JwkSet::from_json_key_or_set(text) {
            let _ = set.to_public();
        }
    }
});
