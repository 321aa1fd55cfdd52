//! The `jwe-mint` binary, driven as a user or a script would: its exit codes, files and output,
//! the token commands, keys over the wire, the client, the gateway process and PKCS#11 keys.
#![allow(clippy::unwrap_used, unreachable_pub)] // test code: a failed unwrap is a failed test

mod harness;

#[cfg(feature = "network")]
#[path = "../../../tests/support/dpop_world.rs"]
mod dpop_world;
#[cfg(feature = "network")]
#[path = "../../../tests/support/gateway.rs"]
mod gateway_world;
#[cfg(feature = "network")]
#[cfg(feature = "network")]
#[path = "../../../tests/support/redis.rs"]
mod redis_server;
#[path = "../../../tests/support/servers.rs"]
mod servers;
#[cfg(feature = "pkcs11")]
#[path = "../../../tests/support/softhsm.rs"]
mod softhsm;

mod commands;
mod demo_http;
mod fetch;
mod forward_auth;
mod gateway;
mod open_wire;
mod pkcs11;
mod tokens;
mod wire;
