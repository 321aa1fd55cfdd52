//! Interoperability with peers that are not ours: node-oidc-provider (an authorization server) and
//! oauth4webapi (a client), with DPoP too (ignored in a plain `cargo test`: they need the npm
//! packages of `tests/oidc_provider`).
#![allow(clippy::unwrap_used, unreachable_pub)] // test code: a failed unwrap is a failed test

#[cfg(feature = "network")]
#[path = "../../../tests/support/gateway.rs"]
mod gateway_world;
#[path = "../cli/harness.rs"]
mod harness;
#[cfg(feature = "network")]
#[path = "../../../tests/support/servers.rs"]
mod servers;

mod dpop;
mod oidc_provider;
