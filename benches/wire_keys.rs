//! Keys on the wire, measured: `ResourceServer::open` with the AS keys from a warm
//! [`RemoteJwkSet`] (fetched once from a loopback server) against the same keys held locally, and
//! a kid-miss storm (tokens naming unknown `kid`s, the refetch held back by the cooldown) against
//! the same rejected token with local keys.
//!
//! Groups:
//! - `open_keys/{local,warm_remote}`: one valid token; the two rows should be equal within noise
//!   (the remote row adds one `Arc` snapshot load).
//! - `kid_miss/{local_rejected,remote_storm}`: a token encrypted to this RS, signed with a key
//!   whose `kid` the AS never published; `remote_storm` adds the `kid` lookup and the cooldown
//!   check on top of the rejection.
//!
//! Run: `cargo bench --bench wire_keys` (the loopback JWKS server runs inside the bench).
#![allow(clippy::unwrap_used, unreachable_pub)] // bench and example set-up: a failed unwrap stops the run

#[path = "../tests/support/servers.rs"]
mod wire_common;

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use jwe_mint::jwk::{Jwk, JwkSet};
use jwe_mint::resource_server::ResourceServer;
use jwe_mint::wire::{HttpFetcher, KeySetConfig, RemoteJwkSet};
use jwe_mint::Error;
use wire_common::{key, photos_issuer, photos_token, public_set, Reply, TestServer, PHOTOS};

const RS: &str = PHOTOS;
const AS: &str = "https://as.example.com";

fn token(as_key: &Jwk, rs_key: &Jwk) -> String {
    photos_token(&photos_issuer(AS, as_key, rs_key))
}

fn wire_keys(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let (as_key, rs_key) = (key(), key());
    let jwks = public_set(&[&as_key]);
    let server = runtime.block_on(TestServer::http(move |_| {
        Reply::json(jwks.clone()).header("cache-control", "max-age=86400")
    }));
    let fetcher = Arc::new(HttpFetcher::builder().allow_http_loopback(true).build().unwrap());
    let remote = runtime
        .block_on(RemoteJwkSet::new(&server.url("/jwks.json"), fetcher, KeySetConfig::default()))
        .unwrap();
    let rs_keys = JwkSet::new(vec![rs_key.clone()]);
    let local = ResourceServer::builder(RS, AS)
        .decryption_keys(rs_keys.clone())
        .issuer_keys(JwkSet::new(vec![as_key.to_public().unwrap()]))
        .build()
        .unwrap();
    let live = ResourceServer::builder(RS, AS)
        .decryption_keys(rs_keys)
        .issuer_key_source(Arc::new(remote))
        .build()
        .unwrap();

    let valid = token(&as_key, &rs_key);
    let mut g = c.benchmark_group("open_keys");
    g.bench_function("local", |b| b.iter(|| local.open(black_box(&valid)).unwrap()));
    g.bench_function("warm_remote", |b| b.iter(|| live.open(black_box(&valid)).unwrap()));
    g.finish();

    // One forged token reused: the rejection path is the same for every unknown kid, and the
    // cooldown (30 s, longer than the run) holds back every refetch after the first.
    let forged = token(&key().with_kid("never-published"), &rs_key);
    let mut g = c.benchmark_group("kid_miss");
    g.bench_function("local_rejected", |b| {
        b.iter(|| assert!(matches!(local.open(black_box(&forged)), Err(Error::NoMatchingKey(_)))))
    });
    g.bench_function("remote_storm", |b| {
        b.iter(|| assert!(matches!(live.open(black_box(&forged)), Err(Error::NoMatchingKey(_)))))
    });
    g.finish();
    assert!(server.requests() <= 2, "{} JWKS requests", server.requests());
    drop(live);
    runtime.block_on(server.stop());
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(30)
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500))
}

criterion_group! {
    name = benches;
    config = config();
    targets = wire_keys
}
criterion_main!(benches);
