//! The gateway under load: a fixed run (not a criterion sampler) that reports throughput and
//! latency percentiles, on real sockets on 127.0.0.1.
//!
//! - An upstream: a minimal hyper HTTP/1.1 server answering `200 ok` (its own runtime, one thread).
//! - A [`Gateway`] in front of it (its own runtime, two worker threads, as `jwe-mint gateway`
//!   runs), with the token cache at the command's default size (10,000).
//! - A load generator: `CONNECTIONS` keep-alive connections (hyper's HTTP/1.1 client, one task
//!   per connection, one request at a time on each), `REQUESTS` requests in all.
//!
//! Three runs, in one process so their ratios are comparable on a noisy machine:
//! `direct` (the client talks to the upstream: the baseline), `gateway_repeated_token` (every
//! request carries the same token: the cache answers after the first) and `gateway_unique_tokens`
//! (every request carries a token never seen before: every request decrypts and verifies). The
//! latency the gateway adds is the gateway run's percentile minus the direct run's. Every
//! request must be answered `200`; any error or other status fails the run (exit 1).
//!
//! Everything shares the machine's cores, so the figures are a floor for a dedicated host.
//!
//! Run: `cargo bench --bench gateway_load --features gateway`
//! (`JWE_MINT_LOAD_REQUESTS` and `JWE_MINT_LOAD_CONNECTIONS` change the defaults, 20,000 and 32).
#![allow(clippy::unwrap_used, unreachable_pub)] // bench and example set-up: a failed unwrap stops the run

#[path = "support/load.rs"]
mod load;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use jwe_mint::wire::Gateway;
use load::{load, micros};
use one_resource::{OneResource, SCOPE};

#[path = "support/one_resource.rs"]
mod one_resource;
/// `jwe-mint gateway`'s default `--cache`.
const CACHE: usize = 10_000;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).filter(|&n| n > 0).unwrap_or(default)
}

/// A thread running `runtime` until `stop` fires; what `start` returns is sent back.
fn spawn_server<F, Fut>(
    threads: usize,
    start: F,
) -> (SocketAddr, oneshot::Sender<()>, std::thread::JoinHandle<()>)
where
    F: FnOnce(TcpListener, oneshot::Receiver<()>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()>,
{
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = oneshot::channel();
    let handle = std::thread::spawn(move || {
        let runtime = if threads == 1 {
            tokio::runtime::Builder::new_current_thread().enable_all().build()
        } else {
            tokio::runtime::Builder::new_multi_thread().worker_threads(threads).enable_all().build()
        }
        .expect("runtime");
        runtime.block_on(async move {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1");
            addr_tx.send(listener.local_addr().expect("local addr")).expect("address");
            start(listener, stop_rx).await;
        });
    });
    let addr = addr_rx.recv_timeout(Duration::from_secs(10)).expect("server started");
    (addr, stop_tx, handle)
}

async fn upstream(listener: TcpListener, mut stop: oneshot::Receiver<()>) {
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let _ = stream.set_nodelay(true);
                tokio::spawn(async move {
                    let service = service_fn(|_req: hyper::Request<Incoming>| async {
                        Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from_static(b"ok"))))
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
            _ = &mut stop => return,
        }
    }
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument that names none of the runs skips them all.
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    if filter.as_deref().is_some_and(|f| !"gateway_load".contains(f)) {
        return;
    }
    let requests = env_or("JWE_MINT_LOAD_REQUESTS", 20_000);
    let connections = env_or("JWE_MINT_LOAD_CONNECTIONS", 32);

    // Keys, one issuer, one resource server; every token is minted before any run.
    let world = OneResource::new();
    let mint = || format!("Bearer {}", world.token());
    let repeated = Arc::new(vec![mint()]);
    let unique = Arc::new((0..requests).map(|_| mint()).collect::<Vec<_>>());
    let rs = world.resource_server(CACHE);

    let (upstream_addr, upstream_stop, upstream_thread) = spawn_server(1, upstream);
    let gateway = Gateway::new(rs, &format!("http://{upstream_addr}"))
        .expect("gateway")
        .require_scope(SCOPE)
        .expect("scope");
    let (gateway_addr, gateway_stop, gateway_thread) = spawn_server(2, move |listener, stop| async move {
        let _ = gateway
            .serve(listener, async {
                let _ = stop.await;
            })
            .await;
    });

    let client =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let runs = client.block_on(async {
        // Warm both paths (connections, caches of the allocator) with a short run each.
        let warm = requests.min(1_000);
        load(upstream_addr, warm, connections, Arc::new(Vec::new())).await;
        load(gateway_addr, warm, connections, Arc::clone(&repeated)).await;
        vec![
            ("direct", load(upstream_addr, requests, connections, Arc::new(Vec::new())).await),
            ("gateway_repeated_token", load(gateway_addr, requests, connections, repeated).await),
            ("gateway_unique_tokens", load(gateway_addr, requests, connections, unique).await),
        ]
    });
    let _ = gateway_stop.send(());
    let _ = upstream_stop.send(());
    let _ = gateway_thread.join();
    let _ = upstream_thread.join();

    println!("gateway_load: {requests} requests over {connections} keep-alive connections, 127.0.0.1");
    println!(
        "{:<24} {:>10} {:>10} {:>10} {:>12} {:>12} {:>7}",
        "run", "req/s", "p50 µs", "p99 µs", "+p50 µs", "+p99 µs", "errors"
    );
    let direct = (runs[0].1.percentile(50.0), runs[0].1.percentile(99.0));
    let mut failed = false;
    for (name, run) in &runs {
        let (p50, p99) = (run.percentile(50.0), run.percentile(99.0));
        println!(
            "{:<24} {:>10.0} {:>10.0} {:>10.0} {:>12.0} {:>12.0} {:>7}",
            name,
            run.per_second(),
            micros(p50),
            micros(p99),
            micros(p50) - micros(direct.0),
            micros(p99) - micros(direct.1),
            run.errors
        );
        failed |= !run.all_ok();
    }
    if failed {
        eprintln!("gateway_load: some requests failed");
        std::process::exit(1);
    }
}
