//! Access tokens without the network: the issuer, the registry, the resource server, key sources
//! that change while in use, the parallel fan-out, and DPoP proofs.
#![allow(clippy::unwrap_used, unreachable_pub)] // test code: a failed unwrap is a failed test

// Used by the fan-out tests only (feature `parallel`).
#[cfg(feature = "parallel")]
#[path = "../support/tracing_capture.rs"]
mod tracing_capture;

mod dpop;
mod fanout;
mod key_sources;
mod registry_sources;
mod resource_server_builder;
mod tokens;
