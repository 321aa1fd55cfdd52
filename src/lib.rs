//! # jwe-mint
//!
//! Encrypted, per-audience OAuth access tokens: the authorization server signs an RFC 9068
//! `at+jwt` and encrypts it to exactly one resource server's key; that resource server decrypts,
//! verifies and validates it locally.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod crypto;
pub mod error;

pub use error::{Error, Result};
