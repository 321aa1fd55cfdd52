//! What `BearerLayer` costs per request, in-process (no sockets): one criterion group `layer`.
//!
//! - `layer/handler_alone`: an axum `Router` with one handler answering `ok`, called as a tower
//!   service.
//! - `layer/layer_and_handler`: the same handler behind `BearerLayer`, with a valid token (no
//!   token cache: every request opens the token).
//! - `layer/open`: `ResourceServer::open` of the same token.
//!
//! The layer's own cost is `layer_and_handler - handler_alone - open`; the budget is 10 µs
//! (`docs/decisions.md`). Every request carries the same `Authorization` header in both rows.
//!
//! Run: `cargo bench --bench layer --features axum` (aws-lc) or
//! `cargo bench --bench layer --no-default-features --features rust-crypto,axum`.
#![allow(clippy::unwrap_used, unreachable_pub)] // bench and example set-up: a failed unwrap stops the run

use std::hint::black_box;
use std::sync::Arc;

use axum::body::Body;
use axum::routing::get;
use axum::Router;
use criterion::{criterion_group, criterion_main, Criterion};
use http::{Request, StatusCode};
use tower::Service;

use jwe_mint::issuer::{Grant, Issuer};
use jwe_mint::jwk::{Curve, Jwk, JwkSet};
use jwe_mint::registry::{Registry, ResourceEntry};
use jwe_mint::resource_server::ResourceServer;
use jwe_mint::wire::BearerLayer;

const AS: &str = "https://as.example.com";
const RS: &str = "https://photos.example.com";

fn setup() -> (Arc<ResourceServer>, String) {
    let as_key = Jwk::generate(Curve::P256).unwrap();
    let rs_key = Jwk::generate(Curve::P256).unwrap();
    let mut registry = Registry::default();
    registry
        .insert(
            ResourceEntry::new(RS, ["photos.read"], JwkSet::new(vec![rs_key.to_public().unwrap()])).unwrap(),
        )
        .unwrap();
    let issuer =
        Issuer::builder(AS, &as_key).registry(registry).allow_client("app", &[RS]).unwrap().build().unwrap();
    let grant = Grant::new("alice", "app", "photos.read", &[RS]).unwrap();
    let token = issuer.mint(&grant, RS).unwrap().access_token;
    let rs = ResourceServer::builder(RS, AS)
        .decryption_keys(JwkSet::new(vec![rs_key]))
        .issuer_keys(issuer.verification_keys().clone())
        .build()
        .unwrap();
    (Arc::new(rs), token)
}

fn request(bearer: &str) -> Request<Body> {
    Request::builder().uri("/photos").header("authorization", bearer).body(Body::empty()).unwrap()
}

fn bench_layer(c: &mut Criterion) {
    let (rs, token) = setup();
    let bearer = format!("Bearer {token}");
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let mut alone: Router = Router::new().route("/photos", get(|| async { "ok" }));
    let layer = BearerLayer::new(Arc::clone(&rs)).unwrap().require_scope("photos.read").unwrap();
    let mut layered: Router = Router::new().route("/photos", get(|| async { "ok" })).route_layer(layer);
    // Both answer 200 before anything is measured.
    for svc in [&mut alone, &mut layered] {
        let status = runtime.block_on(svc.call(request(&bearer))).unwrap().status();
        assert_eq!(status, StatusCode::OK);
    }

    let mut group = c.benchmark_group("layer");
    group.bench_function("handler_alone", |b| {
        b.iter(|| runtime.block_on(alone.call(black_box(request(&bearer)))).unwrap())
    });
    group.bench_function("layer_and_handler", |b| {
        b.iter(|| runtime.block_on(layered.call(black_box(request(&bearer)))).unwrap())
    });
    group.bench_function("open", |b| b.iter(|| rs.open(black_box(&token)).unwrap()));
    group.finish();
}

criterion_group!(benches, bench_layer);
criterion_main!(benches);
