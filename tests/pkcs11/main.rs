//! Keys inside a PKCS#11 token (SoftHSM2): signing, decryption and the errors a token can give.
//! The tests that finalize the module or delete a token have binaries of their own.
#![cfg(feature = "pkcs11")]
#![allow(clippy::unwrap_used, unreachable_pub)] // test code: a failed unwrap is a failed test

#[path = "../support/softhsm.rs"]
mod softhsm;

mod decrypt;
mod errors;
mod sign;
