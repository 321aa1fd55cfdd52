#![no_main]
//! Compact JWE decryption on arbitrary input: must never panic.
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = jwe_mint::jwe::inspect(text, common::policy());
        let _ = jwe_mint::jwe::decrypt(text, common::keys(), common::policy());
    }
});
