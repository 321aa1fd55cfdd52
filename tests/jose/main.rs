//! The JOSE engine: RFC 7516/7518/7520/7638/8037 vectors, Wycheproof, JWK Sets, hostile input,
//! round trips under proptest, and the fuzzers' saved findings.
#![allow(clippy::unwrap_used, unreachable_pub)] // test code: a failed unwrap is a failed test

#[path = "../support/tracing_capture.rs"]
mod tracing_capture;
#[path = "../support/vectors.rs"]
mod vectors;

mod adversarial;
mod fuzz_regressions;
mod jwk_set;
mod proptest_roundtrip;
mod rfc7516;
mod rfc7518;
mod rfc7520;
mod rfc7638;
mod rfc8037;
mod smoke;
mod wycheproof;
