//! `RemoteJwkSet` against real HTTPS servers on 127.0.0.1: lifetimes from `Cache-Control`, the
//! background refresh, the unknown-`kid` refetch with its cooldown, single flight, rotation, and
//! the staleness cap. The servers count requests; every test is bounded in time.
#![cfg(feature = "http")]

use crate::servers;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use jwe_mint::jwk::{Jwk, JwkSource};
use jwe_mint::wire::{KeySetConfig, RemoteJwkSet, WireError};
use servers::{bounded, key, public_set, Pki, Reply, TestServer};

/// What the JWKS server publishes; tests change it while the server runs.
struct Published {
    body: String,
    cache_control: Option<String>,
    /// Delay for every request after the first (the startup fetch).
    delay: Duration,
    served: usize,
}

fn publish(keys: &[&Jwk], cache_control: Option<&str>) -> Arc<Mutex<Published>> {
    Arc::new(Mutex::new(Published {
        body: public_set(keys),
        cache_control: cache_control.map(str::to_string),
        delay: Duration::ZERO,
        served: 0,
    }))
}

async fn jwks_server(pki: &Pki, published: &Arc<Mutex<Published>>) -> TestServer {
    let published = Arc::clone(published);
    TestServer::https(pki, move |_| {
        let mut p = published.lock().unwrap();
        p.served += 1;
        let mut reply = Reply::json(p.body.clone());
        if let Some(cc) = &p.cache_control {
            reply = reply.header("cache-control", cc.clone());
        }
        if p.served > 1 {
            reply = reply.delayed(p.delay);
        }
        reply
    })
    .await
}

fn config() -> KeySetConfig {
    KeySetConfig::default()
}

async fn cache(pki: &Pki, server: &TestServer, config: KeySetConfig) -> RemoteJwkSet {
    RemoteJwkSet::new(&server.url("/jwks.json"), Arc::new(pki.fetcher()), config).await.unwrap()
}

fn random_kid(i: usize) -> String {
    use std::hash::{BuildHasher, RandomState};
    format!("unknown-{i}-{:016x}", RandomState::new().hash_one(i))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_age_is_honoured_and_clamped() {
    bounded(async {
        let pki = Pki::new();
        let k = key();
        let body = public_set(&[&k]);
        let server = TestServer::https(&pki, move |path| {
            let reply = Reply::json(body.clone());
            match path {
                "/max-age-300" => reply.header("cache-control", "public, max-age=300"),
                "/max-age-5" => reply.header("cache-control", "max-age=5"),
                "/max-age-huge" => reply.header("cache-control", "max-age=9999999"),
                "/no-store" => reply.header("cache-control", "no-store"),
                "/no-cache" => reply.header("cache-control", "no-cache"),
                "/public-only" => reply.header("cache-control", "public"),
                _ => reply,
            }
        })
        .await;
        let lifetime = |path: &'static str| {
            let (pki, url) = (&pki, server.url(path));
            async move {
                RemoteJwkSet::new(&url, Arc::new(pki.fetcher()), config()).await.unwrap().status().lifetime
            }
        };
        let honoured = lifetime("/max-age-300").await;
        assert!(honoured > Duration::from_secs(298) && honoured <= Duration::from_secs(300), "{honoured:?}");
        assert_eq!(lifetime("/max-age-5").await, Duration::from_secs(60), "clamped up to 1 min");
        assert_eq!(lifetime("/max-age-huge").await, Duration::from_secs(24 * 3600), "clamped down to 24 h");
        assert_eq!(lifetime("/no-store").await, Duration::from_secs(60));
        assert_eq!(lifetime("/no-cache").await, Duration::from_secs(60));
        assert_eq!(lifetime("/absent").await, Duration::from_secs(600), "10 min when absent");
        assert_eq!(lifetime("/public-only").await, Duration::from_secs(600), "no lifetime directive");
        assert_eq!(server.requests(), 7);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_background_refresh_runs_ahead_of_expiry_and_stops_on_drop() {
    bounded(async {
        let pki = Pki::new();
        let (a, b) = (key(), key());
        let published = publish(&[&a], Some("max-age=1"));
        let server = jwks_server(&pki, &published).await;
        let mut cfg = config();
        cfg.min_lifetime = Duration::from_millis(500);
        let keys = cache(&pki, &server, cfg).await;
        assert_eq!(keys.status().lifetime, Duration::from_secs(1));
        published.lock().unwrap().body = public_set(&[&a, &b]);
        // Refresh at 90 % of 1 s; no lookup triggers it.
        tokio::time::sleep(Duration::from_millis(1300)).await;
        let set = keys.snapshot().unwrap();
        assert!(set.find(b.kid().unwrap()).is_some(), "the scheduled refresh must have brought the new key");
        let before_drop = server.requests();
        assert!((2..=3).contains(&before_drop), "one refresh per lifetime, got {before_drop} requests");

        drop(keys);
        tokio::time::sleep(Duration::from_millis(2500)).await;
        assert_eq!(server.requests(), before_drop, "the refresh task must stop with the cache");
    })
    .await
}

/// 1,000 lookups of random unknown `kid`s: one refetch (the cooldown is 30 s), so two requests
/// in all with the startup fetch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_of_unknown_kids_costs_one_fetch_per_cooldown() {
    bounded(async {
        let pki = Pki::new();
        let a = key();
        let published = publish(&[&a], None);
        let server = jwks_server(&pki, &published).await;
        let keys = cache(&pki, &server, config()).await;
        assert_eq!(server.requests(), 1);
        for i in 0..1000 {
            assert!(keys.find(&random_kid(i)).await.unwrap().is_none());
        }
        let requests = server.requests();
        println!("storm: 1000 unknown kids (sequential, async find) -> {requests} requests (1 startup)");
        assert_eq!(requests, 2, "one kid-miss refetch per 30 s");
        // The synchronous path obeys the same cooldown.
        for i in 0..1000 {
            assert!(!keys.on_unknown_kid(&random_kid(i)));
        }
        let mut tasks = Vec::new();
        for i in 0..1000 {
            let keys = keys.clone();
            tasks.push(tokio::spawn(async move { keys.find(&random_kid(i)).await.unwrap() }));
        }
        for t in tasks {
            assert!(t.await.unwrap().is_none());
        }
        assert_eq!(server.requests(), 2, "still within the cooldown");
    })
    .await
}

/// With a 1 s cooldown, a continuous storm for 3.5 s costs at most one refetch per second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cooldown_allows_one_refetch_per_interval() {
    bounded(async {
        let pki = Pki::new();
        let a = key();
        let published = publish(&[&a], None);
        let server = jwks_server(&pki, &published).await;
        let mut cfg = config();
        cfg.kid_miss_cooldown = Duration::from_secs(1);
        let keys = cache(&pki, &server, cfg).await;
        let started = tokio::time::Instant::now();
        let mut lookups = 0;
        while started.elapsed() < Duration::from_millis(3500) {
            assert!(keys.find(&random_kid(lookups)).await.unwrap().is_none());
            lookups += 1;
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let refetches = server.requests() - 1;
        println!("cooldown 1 s: {lookups} unknown kids over 3.5 s -> {refetches} refetches");
        assert!(lookups > 100);
        assert_eq!(refetches, 4, "at 0, 1, 2 and 3 s");
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_kid_misses_share_one_fetch() {
    bounded(async {
        let pki = Pki::new();
        let (a, b) = (key(), key());
        let published = publish(&[&a], None);
        let server = jwks_server(&pki, &published).await;
        let keys = cache(&pki, &server, config()).await;
        {
            let mut p = published.lock().unwrap();
            p.body = public_set(&[&a, &b]);
            p.delay = Duration::from_millis(300);
        }
        let barrier = Arc::new(tokio::sync::Barrier::new(32));
        let kid = b.kid().unwrap().to_string();
        let mut tasks = Vec::new();
        for _ in 0..32 {
            let (keys, barrier, kid) = (keys.clone(), Arc::clone(&barrier), kid.clone());
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                keys.find(&kid).await
            }));
        }
        for t in tasks {
            let found = t.await.unwrap().unwrap();
            assert_eq!(found.unwrap().kid(), Some(kid.as_str()), "every caller gets the new key");
        }
        let requests = server.requests();
        println!("single flight: 32 concurrent misses -> {} fetch(es) after startup", requests - 1);
        assert_eq!(requests, 2);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_key_is_picked_up_on_its_first_lookup() {
    bounded(async {
        let pki = Pki::new();
        let (old, new) = (key(), key());
        let published = publish(&[&old], Some("max-age=3600"));
        let server = jwks_server(&pki, &published).await;
        let keys = cache(&pki, &server, config()).await;
        published.lock().unwrap().body = public_set(&[&new, &old]);
        // Known kid: no fetch.
        assert!(keys.find(old.kid().unwrap()).await.unwrap().is_some());
        assert_eq!(server.requests(), 1);
        // First lookup of the new kid: found, after exactly one refetch.
        let found = keys.find(new.kid().unwrap()).await.unwrap();
        assert_eq!(found.unwrap().kid(), new.kid());
        assert_eq!(server.requests(), 2);
        assert!(keys.snapshot().unwrap().find(new.kid().unwrap()).is_some());
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sync_path_schedules_the_refetch_in_the_background() {
    bounded(async {
        let pki = Pki::new();
        let (old, new) = (key(), key());
        let published = publish(&[&old], None);
        let server = jwks_server(&pki, &published).await;
        let keys = cache(&pki, &server, config()).await;
        published.lock().unwrap().body = public_set(&[&new]);
        assert!(keys.snapshot().unwrap().find(new.kid().unwrap()).is_none());
        assert!(keys.on_unknown_kid(new.kid().unwrap()), "a refetch starts");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while keys.snapshot().unwrap().find(new.kid().unwrap()).is_none() {
            assert!(tokio::time::Instant::now() < deadline, "the background refetch never landed");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(server.requests(), 2);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_down_server_leaves_the_cached_set_serving_up_to_the_cap_then_fails_closed() {
    bounded(async {
        let pki = Pki::new();
        let a = key();
        let published = publish(&[&a], Some("max-age=1"));
        let server = jwks_server(&pki, &published).await;
        let addr = server.addr;
        let mut cfg = config();
        cfg.min_lifetime = Duration::from_millis(500);
        cfg.max_staleness = Duration::from_millis(1500);
        cfg.retry_interval = Duration::from_millis(200);
        let keys = cache(&pki, &server, cfg).await;
        let url = keys.url().to_string();
        server.stop().await;

        // Past the lifetime (1 s), inside the cap (1 + 1.5 s): the last good set serves.
        tokio::time::sleep(Duration::from_millis(1600)).await;
        assert!(keys.snapshot().unwrap().find(a.kid().unwrap()).is_some());
        let status = keys.status();
        assert!(matches!(status.last_error, Some(WireError::Connect { .. })), "{:?}", status.last_error);
        assert!(status.fetch_attempts >= 3, "the refresh retries ({} attempts)", status.fetch_attempts);
        // As metrics see it: one good fetch (startup), failures since, keys as old as the wait.
        let fresh = JwkSource::freshness(&keys).unwrap();
        assert_eq!(fresh.refreshes, 1);
        assert!(
            fresh.failures >= 2 && fresh.failures + fresh.refreshes <= status.fetch_attempts,
            "{fresh:?}"
        );
        assert!(fresh.age >= Duration::from_millis(1600), "{fresh:?}");
        assert!(keys.refresh().await.is_err());
        assert!(keys.find(a.kid().unwrap()).await.unwrap().is_some());

        // Past the cap: fails closed, for the sync and the async path.
        tokio::time::sleep(Duration::from_millis(1200)).await;
        let e = keys.snapshot().unwrap_err();
        assert!(matches!(e, WireError::Stale { .. }), "{e:?}");
        assert_eq!(e.url(), url);
        assert!(matches!(keys.find(a.kid().unwrap()).await, Err(WireError::Stale { .. })));

        // The server comes back on the same address: the retrying refresh recovers.
        let back = {
            let published = Arc::clone(&published);
            TestServer::start(
                addr,
                Some(&pki),
                Arc::new(move |_| Reply::json(published.lock().unwrap().body.clone())),
            )
            .await
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while keys.snapshot().is_err() {
            assert!(tokio::time::Instant::now() < deadline, "never recovered");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(back.requests() >= 1);
        assert!(keys.status().last_error.is_none());
        let fresh = JwkSource::freshness(&keys).unwrap();
        assert!(fresh.refreshes >= 2, "{fresh:?}");
        assert!(fresh.age < Duration::from_secs(1), "{fresh:?}");
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_refresh_keeps_the_last_good_set() {
    bounded(async {
        let pki = Pki::new();
        let (a, b) = (key(), key());
        let published = publish(&[&a], None);
        let server = jwks_server(&pki, &published).await;
        let keys = cache(&pki, &server, config()).await;
        for bad in ["{not json", r#"{"keys":"no"}"#] {
            published.lock().unwrap().body = bad.to_string();
            let e = keys.refresh().await.unwrap_err();
            assert!(matches!(e, WireError::InvalidJwkSet { .. }), "{e:?}");
            assert!(keys.snapshot().unwrap().find(a.kid().unwrap()).is_some());
        }
        // Private key material in a published set is refused too.
        published.lock().unwrap().body = format!(r#"{{"keys":[{}]}}"#, b.to_private_json());
        assert!(matches!(keys.refresh().await, Err(WireError::InvalidJwkSet { .. })));
        assert!(keys.snapshot().unwrap().find(b.kid().unwrap()).is_none());
        assert!(keys.status().last_error.is_some());
        published.lock().unwrap().body = public_set(&[&b]);
        assert!(keys.refresh().await.unwrap().find(b.kid().unwrap()).is_some());
        assert!(keys.status().last_error.is_none());
        assert_eq!(server.requests(), 5);
    })
    .await
}

/// Refreshes, failures and kid misses are `tracing` events with target `jwe_mint::keys`.
#[tokio::test]
async fn events_go_to_the_keys_target() {
    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    // A current-thread runtime: the spawned fetch tasks run on this thread, under this subscriber.
    let _guard = crate::tracing_capture::capture_on_this_thread(subscriber);
    bounded(async {
        let pki = Pki::new();
        let a = key();
        let published = publish(&[&a], None);
        let server = jwks_server(&pki, &published).await;
        let keys = cache(&pki, &server, config()).await;
        assert!(keys.find("no-such-kid").await.unwrap().is_none());
        assert!(keys.find("another-kid").await.unwrap().is_none());
        published.lock().unwrap().body = "[]".into();
        assert!(keys.refresh().await.is_err());
    })
    .await;
    // The failure's event is written by the fetch task; give it a bounded moment to land.
    let log = || String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    while !log().contains("JWK Set refresh failed") && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let log = log();
    for needle in [
        "jwe_mint::keys",
        "JWK Set fetched",
        "unknown kid: refetching",
        "JWK Set refreshed",
        "refetch suppressed (cooldown)",
        "JWK Set refresh failed",
    ] {
        assert!(log.contains(needle), "missing {needle:?} in:\n{log}");
    }
    assert!(log.lines().all(|l| !l.contains("\"d\"")), "no key material in the log");
}
