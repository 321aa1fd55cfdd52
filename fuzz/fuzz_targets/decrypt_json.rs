#![no_main]
//! Flattened / general JSON JWE decryption on arbitrary input: must never panic.
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        // Force the JSON path even when the fuzzer drops the leading brace.
        let owned;
        let json = if text.starts_with('{') {
            text
        } else {
            owned = format!("{{{text}");
            &owned
        };
        let _ = jwe_mint::jwe::decrypt(json, common::keys(), common::policy());
    }
});
