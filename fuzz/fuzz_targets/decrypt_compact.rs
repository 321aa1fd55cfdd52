#![no_main]
//! Compact JWE decryption on arbitrary input: must never panic.
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let _ = common::run_decrypt_compact(data);
});
