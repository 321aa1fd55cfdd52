#![no_main]
//! JWK and JWK Set parsing (and re-serialisation of whatever parses): must never panic.
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let _ = common::run_jwk_parse(data);
});
