//! A profile driver for the gateway's request path, not a timing: `N` sequential requests with
//! one cached token over one keep-alive connection, through a [`Gateway`] on a thread of its own
//! (a current-thread runtime), so that an instruction counter per thread sees the gateway's work
//! alone. The client and the upstream are plain blocking sockets on 127.0.0.1 with fixed bytes
//! (no HTTP library), so they add next to nothing to the other threads either.
//!
//! An access-log subscriber at `info` writes to a sink, so the access line is formatted as when
//! the command logs. Every response must be `200`, or the run stops (exit 1).
//!
//! Instructions per request, as the difference of two runs (start-up and the first token's
//! decryption cancel out):
//!
//! ```sh
//! CARGO_PROFILE_BENCH_DEBUG=true cargo bench --bench gateway_profile --features gateway --no-run
//! for n in 1000 3000; do JWE_MINT_PROFILE_REQUESTS=$n valgrind --tool=callgrind \
//!   --separate-threads=yes --callgrind-out-file=cg.$n.%p target/release/deps/gateway_profile-*; done
//! ```
//!
//! The thread named `gateway` is the one to read (`callgrind_annotate cg.N.PID-02`, the thread
//! numbers in callgrind's file names follow creation order).
#![allow(clippy::unwrap_used, unreachable_pub)] // a profile driver: a failed unwrap stops the run

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use jwe_mint::wire::Gateway;
use one_resource::{OneResource, SCOPE};

#[path = "support/one_resource.rs"]
mod one_resource;

/// Reads one HTTP/1.1 message head and its `content-length` body; `None` at the end of input.
fn read_message(reader: &mut BufReader<TcpStream>) -> Option<String> {
    let mut head = String::new();
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().ok()?;
        }
        let end = line == "\r\n";
        head.push_str(&line);
        if end {
            break;
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(head)
}

fn main() {
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    if filter.as_deref().is_some_and(|f| !"gateway_profile".contains(f)) {
        return;
    }
    let requests: usize =
        std::env::var("JWE_MINT_PROFILE_REQUESTS").ok().and_then(|v| v.parse().ok()).unwrap_or(2_000);
    tracing_subscriber::fmt().with_max_level(tracing::Level::INFO).with_writer(std::io::sink).init();

    let world = OneResource::new();
    let token = world.token();
    let rs = world.resource_server(10_000);

    // The upstream: one connection, `200 ok` to every request.
    let upstream = TcpListener::bind("127.0.0.1:0").unwrap();
    let upstream_addr = upstream.local_addr().unwrap();
    std::thread::Builder::new()
        .name("upstream".into())
        .spawn(move || {
            let (stream, _) = upstream.accept().unwrap();
            stream.set_nodelay(true).unwrap();
            let mut writer = stream.try_clone().unwrap();
            let mut reader = BufReader::new(stream);
            while read_message(&mut reader).is_some() {
                writer.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok").unwrap();
            }
        })
        .unwrap();

    let gateway = Gateway::new(rs, &format!("http://{upstream_addr}")).unwrap().require_scope(SCOPE).unwrap();
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let gateway_thread = std::thread::Builder::new()
        .name("gateway".into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                addr_tx.send(listener.local_addr().unwrap()).unwrap();
                gateway
                    .serve(listener, async {
                        let _ = stop_rx.await;
                    })
                    .await
                    .unwrap();
            });
        })
        .unwrap();
    let gateway_addr = addr_rx.recv_timeout(Duration::from_secs(30)).unwrap();

    let stream = TcpStream::connect(gateway_addr).unwrap();
    stream.set_nodelay(true).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    let request =
        format!("GET /photos HTTP/1.1\r\nhost: photos.example.com\r\nauthorization: Bearer {token}\r\n\r\n");
    for i in 0..requests {
        writer.write_all(request.as_bytes()).unwrap();
        let head = read_message(&mut reader).unwrap();
        if !head.starts_with("HTTP/1.1 200") {
            eprintln!("gateway_profile: request {i} answered {head}");
            std::process::exit(1);
        }
    }
    drop(writer);
    drop(reader);
    let _ = stop_tx.send(());
    gateway_thread.join().unwrap();
    println!("gateway_profile: {requests} requests, all 200");
}
