//! What the Redis replay check costs per DPoP proof (RFC 9449 §11.1), against a `redis-server`
//! this bench starts on a loopback port, persistence off. One criterion group, `redis_replay`:
//!
//! - `memory`: `MemoryReplayStore::remember` of a fresh key (the one-server store);
//! - `redis`: `RedisReplayStore::remember` of a fresh key (one `SET key 1 NX PX ms` through
//!   the store's connection manager, with its timeout);
//! - `raw_set_nx_px`: the same command through the `redis` crate's `ConnectionManager`
//!   directly: the floor of a round trip to Redis on loopback.
//!
//! Every row runs on one current-thread tokio runtime (`block_on` per call), with a fresh key per
//! iteration made outside the timed part; a key lives `DEFAULT_MAX_AGE` seconds, as a proof's.
//! `redis − raw_set_nx_px` is the store's own cost; `redis − memory` what sharing costs.
//!
//! Run: `cargo bench --bench redis_replay --features redis` (needs `redis-server` on `PATH`).
#![allow(clippy::unwrap_used, unreachable_pub)] // bench set-up: a failed unwrap stops the run

use std::cell::RefCell;
use std::hint::black_box;
use std::rc::Rc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use jwe_mint::dpop::{MemoryReplayStore, Remembered, ReplayStore, DEFAULT_MAX_AGE};
use jwe_mint::wire::RedisReplayStore;

// The tests' harness: a `redis-server` on a free loopback port, no persistence, its own
// directory, killed on drop.
#[path = "../tests/support/redis.rs"]
mod redis_server;

/// A memory store is swapped for an empty one (outside the timed part) after this many keys.
const MEMORY_ROTATE: usize = 50_000;

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

/// A fresh key per call, shaped like a `CheckedProof::replay_key` (43 characters).
fn keys() -> impl FnMut() -> String {
    let run = std::process::id();
    let mut n = 0u64;
    move || {
        n += 1;
        format!("bench-{run:010}-{n:026}")
    }
}

fn bench(c: &mut Criterion) {
    let server = redis_server::Redis::start();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let ttl = i64::from(DEFAULT_MAX_AGE);

    let redis_store = RedisReplayStore::new(&server.url()).unwrap();
    let client = redis::Client::open(server.url()).unwrap();
    let raw = runtime.block_on(redis::aio::ConnectionManager::new(client)).unwrap();
    // Swapped for an empty one in the untimed set-up every `MEMORY_ROTATE` keys handed out (a
    // batch's inputs are all made before it runs), so a long run never fills it; each input
    // holds its store and gives it back as output, so a full store is never dropped timed.
    let memory = RefCell::new((Rc::new(MemoryReplayStore::default()), 0usize));
    // Each answers: fresh, then replayed.
    let t = now();
    for store in [&redis_store as &dyn ReplayStore, &*memory.borrow().0] {
        assert_eq!(runtime.block_on(store.remember("bench-probe", t + ttl, t)), Ok(Remembered::Fresh));
        assert_eq!(runtime.block_on(store.remember("bench-probe", t + ttl, t)), Ok(Remembered::Replayed));
    }
    // What the store sends, without the store: the key's prefix, the time left with `until`
    // inclusive.
    let raw_set = |key: String, until: i64| {
        let mut cmd = redis::cmd("SET");
        cmd.arg(key).arg(1).arg("NX").arg("PX").arg((until - now() + 1) * 1000);
        let mut m = raw.clone();
        async move { cmd.query_async::<Option<String>>(&mut m).await }
    };
    assert_eq!(runtime.block_on(raw_set("raw-probe".into(), t + ttl)).unwrap().as_deref(), Some("OK"));
    assert_eq!(runtime.block_on(raw_set("raw-probe".into(), t + ttl)).unwrap(), None);

    let mut g = c.benchmark_group("redis_replay");
    let mut key = keys();
    g.bench_function("memory", |b| {
        b.iter_batched(
            || {
                let mut memory = memory.borrow_mut();
                memory.1 += 1;
                if memory.1 >= MEMORY_ROTATE {
                    *memory = (Rc::new(MemoryReplayStore::default()), 0);
                }
                (key(), Rc::clone(&memory.0))
            },
            |(k, store)| {
                let t = now();
                let r = runtime.block_on(store.remember(black_box(&k), t + ttl, t)).unwrap();
                assert_eq!(r, Remembered::Fresh);
                (k, store)
            },
            BatchSize::SmallInput,
        )
    });
    g.bench_function("redis", |b| {
        b.iter_batched(
            &mut key,
            |k| {
                let t = now();
                let r = runtime.block_on(redis_store.remember(black_box(&k), t + ttl, t)).unwrap();
                assert_eq!(r, Remembered::Fresh);
                k
            },
            BatchSize::SmallInput,
        )
    });
    g.bench_function("raw_set_nx_px", |b| {
        b.iter_batched(
            || format!("jwe-mint:dpop:{}", key()),
            |k| {
                let t = now();
                let r = runtime.block_on(raw_set(black_box(k), t + ttl)).unwrap();
                assert_eq!(r.as_deref(), Some("OK"));
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
    drop(server);
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(30)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    targets = bench
}
criterion_main!(benches);
