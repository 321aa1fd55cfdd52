//! # jwe-mint
//!
//! Encrypted, per-audience OAuth access tokens: the authorization server signs an RFC 9068
//! `at+jwt` and encrypts it to exactly one resource server's key; that resource server decrypts,
//! verifies and validates it locally.
//!
//! Layers (each only uses the ones before it, see `ARCHITECTURE.md`): `crypto` (provider) →
//! [`jwk`] → [`jwa`] → [`jwe`] / [`jws`] → [`token`] / [`registry`] → [`issuer`] /
//! [`resource_server`]; [`dpop`] (RFC 9449 proofs) sits beside [`token`].
// docs.rs marks each item with the feature it needs.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod b64;
pub mod crypto;
pub mod dpop;
pub mod error;
pub mod issuer;
mod json;
pub mod jwa;
pub mod jwe;
pub mod jwk;
pub mod jws;
pub mod registry;
pub mod resource_server;
pub mod token;
mod token_cache;
pub mod tracing_targets;
mod untrusted;
#[cfg(feature = "http")]
pub mod wire;

pub use error::{Error, LimitExceeded, Misuse, Result};

/// The README's Rust examples, compiled and run as doc-tests in the builds that have every piece
/// they show (the network, Redis and the PKCS#11 keys: the workspace's `cargo test`).
#[cfg(all(doctest, feature = "gateway", feature = "redis", feature = "pkcs11"))]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
