//! Interoperability with node-oidc-provider, a real authorization server that is not ours
//! (ignored in a plain `cargo test`: it needs the npm packages of `tests/oidc_provider`).
#![allow(clippy::unwrap_used, unreachable_pub)] // test code: a failed unwrap is a failed test

#[path = "../cli/harness.rs"]
mod harness;
#[cfg(feature = "network")]
#[path = "../../../tests/support/servers.rs"]
mod servers;

mod oidc_provider;
