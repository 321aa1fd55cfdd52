//! Fan-out with the `parallel` feature: where `mint_all` / `mint_batch` mint, and that the results
//! keep request order. Own test binary because it sizes rayon's global pool (once per process).
#![cfg(feature = "parallel")]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use jwe_mint::error::OAuthErrorCode;
use jwe_mint::issuer::{Grant, Issuer};
use jwe_mint::jwk::{Curve, Jwk, JwkSet};
use jwe_mint::registry::{Registry, ResourceEntry};
use jwe_mint::resource_server::ResourceServer;
use jwe_mint::Error;

const AS: &str = "https://as.example.com";
const N: usize = 16;

fn resource(i: usize) -> String {
    format!("https://rs{i:02}.example.com")
}

struct World {
    rs_keys: Vec<Jwk>,
    issuer: Issuer,
    grant: Grant,
}

fn world() -> World {
    let rs_keys: Vec<Jwk> = (0..N).map(|_| Jwk::generate(Curve::P256).unwrap()).collect();
    let mut registry = Registry::default();
    for (i, k) in rs_keys.iter().enumerate() {
        let jwks = JwkSet::new(vec![k.to_public().unwrap()]);
        registry.insert(ResourceEntry::new(&resource(i), ["read"], jwks).unwrap()).unwrap();
    }
    let all: Vec<String> = (0..N).map(resource).collect();
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    let issuer = Issuer::builder(AS, &Jwk::generate(Curve::P256).unwrap())
        .registry(registry)
        .allow_client("app", &all)
        .unwrap()
        .build()
        .unwrap();
    let grant = Grant::new("alice", "app", "read", &all).unwrap();
    World { rs_keys, issuer, grant }
}

/// Counts the audit events (one per minted token) emitted on the thread it is installed on.
struct CountEvents(Arc<AtomicUsize>);

impl tracing::Subscriber for CountEvents {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        if event.metadata().target() == "jwe_mint::audit" {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

/// Each token opens at its own RS only, in request order.
fn assert_in_order(w: &World, tokens: &[String]) {
    assert_eq!(tokens.len(), N);
    for (i, t) in tokens.iter().enumerate() {
        let rs = ResourceServer::builder(&resource(i), AS)
            .decryption_keys(JwkSet::new(vec![w.rs_keys[i].clone()]))
            .issuer_keys(w.issuer.verification_keys().clone())
            .build()
            .unwrap();
        assert_eq!(rs.open(t).unwrap().subject(), "alice", "token {i} is for resource {i}");
    }
}

#[test]
fn fan_out_on_one_thread_pool_stays_on_the_caller_and_more_threads_keep_order() {
    // A one-thread global pool, used from outside (the caller is not a pool thread): handing the
    // work over would only add two thread wake-ups, so every token is minted on the caller.
    rayon::ThreadPoolBuilder::new().num_threads(1).build_global().unwrap();
    let w = world();
    let here = Arc::new(AtomicUsize::new(0));
    let response = {
        let _capture = crate::tracing_capture::capture_on_this_thread(CountEvents(here.clone()));
        w.issuer.mint_all(&w.grant).unwrap()
    };
    assert_eq!(here.load(Ordering::Relaxed), N, "all {N} tokens minted on the calling thread");
    let tokens: Vec<String> = response.tokens.into_iter().map(|t| t.access_token).collect();
    assert_in_order(&w, &tokens);

    // Pools of 2 and 3 threads, used from inside: the caller and the pool share the work, and the
    // results (including refusals) stay in request order. Several rounds, so that the pool threads
    // do take some of the requests (how many is up to the scheduler).
    for threads in [2, 2, 2, 3, 3, 3] {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        let tokens = pool.install(|| w.issuer.mint_all(&w.grant)).unwrap().tokens;
        let tokens: Vec<String> = tokens.into_iter().map(|t| t.access_token).collect();
        assert_in_order(&w, &tokens);

        let outsider = Grant::new("mallory", "app", "read", &[resource(0).as_str()]).unwrap();
        let names: Vec<String> = (0..N).map(resource).collect();
        let requests: Vec<(&Grant, &str)> = names
            .iter()
            .enumerate()
            .map(|(i, r)| (if i == 5 { &outsider } else { &w.grant }, r.as_str()))
            .collect();
        let results = pool.install(|| w.issuer.mint_batch(&requests));
        assert_eq!(results.len(), N);
        match &results[5] {
            Err(Error::OAuth { code: OAuthErrorCode::InvalidTarget, .. }) => {}
            other => panic!("request 5 is outside mallory's grant: {other:?}"),
        }
        let mut jtis: Vec<&str> =
            results.iter().filter_map(|r| r.as_ref().ok()).map(|t| t.jti.as_str()).collect();
        assert_eq!(jtis.len(), N - 1);
        for (i, r) in results.iter().enumerate().filter(|(i, _)| *i != 5) {
            assert_eq!(r.as_ref().unwrap().resources, [resource(i)], "result {i} answers request {i}");
        }
        jtis.sort_unstable();
        jtis.dedup();
        assert_eq!(jtis.len(), N - 1, "each request minted exactly once");
    }
}
