//! The wire over real sockets on 127.0.0.1: the fetcher, remote key sets, RFC 8414 and RFC 9728
//! discovery both ways, the client, the RS's axum layer and metadata router, the AS's token
//! endpoint, the examples and the gateway.
#![cfg(feature = "http")]
#![allow(clippy::unwrap_used, unreachable_pub)] // test code: a failed unwrap is a failed test

#[cfg(feature = "axum")]
#[path = "../support/dpop_world.rs"]
mod dpop_world;
#[cfg(feature = "gateway")]
#[path = "../support/gateway.rs"]
mod gateway_world;
#[cfg(feature = "redis")]
#[path = "../support/redis.rs"]
mod redis_server;
#[path = "../support/servers.rs"]
mod servers;
#[path = "../support/tracing_capture.rs"]
mod tracing_capture;

mod as_discovers_rs_keys;
mod client;
mod client_dpop;
mod discovery;
mod dpop_e2e;
mod e2e;
mod examples;
mod fetch;
mod forward_auth;
mod gateway;
mod gateway_bounds;
mod gateway_dpop;
mod gateway_hardening;
mod gateway_headers;
mod gateway_metrics;
mod key_file;
mod key_set;
mod layer;
#[cfg(feature = "redis")]
mod redis;
mod rs_discovers_as_keys;
mod token_endpoint;
mod token_endpoint_dpop;
mod url_credentials;
