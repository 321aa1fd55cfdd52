//! The gateway's bounds over real sockets on 127.0.0.1: a client that stops sending (head, body,
//! the form body the bearer layer reads, between requests) or stops reading is dropped after its
//! timeout, the connection cap holds new connections in the backlog, and a head over the limit is
//! 431. Timeouts are set short (1 s) so that each test takes a few seconds.
#![cfg(feature = "gateway")]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::body::Frame;
use jwe_mint::wire::{ConfigError, Gateway, DEFAULT_MAX_HEAD_SIZE};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::gateway_world::*;

const SHORT: Duration = Duration::from_secs(1);

/// Reads until the gateway closes the connection; how long that took (a reset counts as closed).
/// Fails if it stays open for `within`.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> (Duration, Vec<u8>) {
    let start = Instant::now();
    let mut got = Vec::new();
    let read = tokio::time::timeout(within, async {
        let mut buf = [0u8; 64 * 1024];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(
        read.is_ok(),
        "the connection stayed open for {within:?}; got {:?}",
        String::from_utf8_lossy(&got)
    );
    (start.elapsed(), got)
}

fn gateway(world: &World, up: std::net::SocketAddr) -> Gateway {
    Gateway::new(world.rs(), &format!("http://{up}")).unwrap()
}

/// A request body that stops arriving (the token valid, 10 of 1000 bytes sent) is cut after the
/// body timeout: the connection closes and the upstream's request fails instead of completing.
#[tokio::test]
async fn a_body_that_stops_arriving_is_cut_after_the_body_timeout() {
    bounded(async {
        let world = World::new();
        let (up, up_addr) = Upstream::start().await;
        let (gw, _stop) = run(gateway(&world, up_addr).body_timeout(SHORT).unwrap()).await;
        let mut stream = TcpStream::connect(gw).await.unwrap();
        let head = format!(
            "POST /upload HTTP/1.1\r\nHost: api.example.com\r\nAuthorization: Bearer {}\r\nContent-Length: 1000\r\n\r\n",
            world.mint()
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(&[b'a'; 10]).await.unwrap();
        eventually("the request reached the upstream", async || up.started.load(Ordering::SeqCst) == 1).await;
        let (elapsed, _) = closed_within(&mut stream, Duration::from_secs(8)).await;
        assert!(elapsed >= Duration::from_millis(700), "closed before the body timeout: {elapsed:?}");
        // The upstream's read of the body failed (recorded as 0 bytes): the request was aborted.
        eventually("the upstream saw the request end", async || up.seen().len() == 1).await;
        assert_eq!(up.seen()[0].body_len, 0, "{:?}", up.seen());
    })
    .await;
}

/// The same for the form body the bearer layer reads itself (RFC 6750 §2.2): the read ends with
/// the body timeout and nothing reaches the upstream.
#[tokio::test]
async fn a_form_body_that_stops_arriving_is_cut_after_the_body_timeout() {
    bounded(async {
        let world = World::new();
        let (up, up_addr) = Upstream::start().await;
        let (gw, _stop) = run(gateway(&world, up_addr).body_timeout(SHORT).unwrap()).await;
        let mut stream = TcpStream::connect(gw).await.unwrap();
        let head = format!(
            "POST /form HTTP/1.1\r\nHost: api.example.com\r\nAuthorization: Bearer {}\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\nname=x&",
            world.mint()
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        let (elapsed, _) = closed_within(&mut stream, Duration::from_secs(8)).await;
        assert!(elapsed >= Duration::from_millis(700), "closed before the body timeout: {elapsed:?}");
        assert_eq!(up.started.load(Ordering::SeqCst), 0, "{:?}", up.seen());
    })
    .await;
}

/// A head not finished within the header timeout ends the connection, also one sent a byte at a
/// time (the timeout counts the whole head, not the wait between bytes).
#[tokio::test]
async fn a_head_not_finished_within_the_header_timeout_closes_the_connection() {
    bounded(async {
        let world = World::new();
        let (up, up_addr) = Upstream::start().await;
        let (gw, _stop) = run(gateway(&world, up_addr).header_timeout(SHORT).unwrap()).await;
        // Half a head, then nothing.
        let mut stream = TcpStream::connect(gw).await.unwrap();
        stream.write_all(b"GET / HTTP/1.1\r\nHost: api.example.com\r\n").await.unwrap();
        let (elapsed, _) = closed_within(&mut stream, Duration::from_secs(5)).await;
        assert!(elapsed >= Duration::from_millis(700), "{elapsed:?}");
        // Nothing at all.
        let mut silent = TcpStream::connect(gw).await.unwrap();
        closed_within(&mut silent, Duration::from_secs(5)).await;
        // A byte every 200 ms.
        let trickle = TcpStream::connect(gw).await.unwrap();
        let (mut reader, mut writer) = trickle.into_split();
        let sending = tokio::spawn(async move {
            for b in b"GET / HTTP/1.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" {
                if writer.write_all(&[*b]).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        });
        let start = Instant::now();
        let mut rest = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(5), reader.read_to_end(&mut rest)).await;
        assert!(read.is_ok(), "a head sent a byte at a time outlived the header timeout");
        assert!(start.elapsed() < Duration::from_secs(4), "{:?}", start.elapsed());
        sending.abort();
        // A whole head within the timeout is served.
        assert_eq!(send(gw, &get("/", Some(&world.mint()), "")).await.status, 200);
        assert_eq!(up.started.load(Ordering::SeqCst), 1);
    })
    .await;
}

/// A kept-alive connection waiting for its next request closes after the idle timeout; a request
/// in flight longer than that (the upstream takes 1.5 s) is not cut by it.
#[tokio::test]
async fn a_kept_alive_connection_closes_after_the_idle_timeout_but_not_while_a_request_is_in_flight() {
    bounded(async {
        let world = World::new();
        let (_up, up_addr) = Upstream::start().await;
        let gateway = gateway(&world, up_addr).idle_timeout(SHORT).unwrap().header_timeout(SHORT).unwrap();
        let (gw, _stop) = run(gateway).await;
        let token = world.mint();
        let mut stream = TcpStream::connect(gw).await.unwrap();
        assert_eq!(exchange(&mut stream, &get("/slow", Some(&token), "")).await.status, 200);
        // Used again before the idle timeout: still served.
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(exchange(&mut stream, &get("/two", Some(&token), "")).await.status, 200);
        let (elapsed, rest) = closed_within(&mut stream, Duration::from_secs(5)).await;
        assert!(rest.is_empty(), "{:?}", String::from_utf8_lossy(&rest));
        assert!(elapsed >= Duration::from_millis(700), "closed before the idle timeout: {elapsed:?}");
    })
    .await;
}

/// An upstream whose response is 64 MiB; records whether its body was sent to the end or dropped
/// before (the gateway gave up on it).
#[derive(Clone, Default)]
struct BigUpstream {
    finished: Arc<AtomicBool>,
    dropped_early: Arc<AtomicBool>,
}

const BIG: usize = 64 * 1024 * 1024;

struct BigBody {
    left: usize,
    state: BigUpstream,
}

impl hyper::body::Body for BigBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        static CHUNK: [u8; 64 * 1024] = [b'x'; 64 * 1024];
        if self.left == 0 {
            self.state.finished.store(true, Ordering::SeqCst);
            return Poll::Ready(None);
        }
        let n = self.left.min(CHUNK.len());
        self.left -= n;
        Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(&CHUNK[..n])))))
    }
}

impl Drop for BigBody {
    fn drop(&mut self) {
        if self.left > 0 {
            self.state.dropped_early.store(true, Ordering::SeqCst);
        }
    }
}

impl BigUpstream {
    async fn start() -> (BigUpstream, std::net::SocketAddr) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let up = BigUpstream::default();
        let state = up.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = state.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |_req| {
                        let body = BigBody { left: BIG, state: state.clone() };
                        let mut r = hyper::Response::new(body);
                        r.headers_mut().insert("content-length", BIG.into());
                        async move { Ok::<_, std::convert::Infallible>(r) }
                    });
                    let io = hyper_util::rt::TokioIo::new(stream);
                    let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, service).await;
                });
            }
        });
        (up, addr)
    }
}

/// A client that stops reading a large response is dropped after the write timeout: the
/// connection closes and the upstream's response is abandoned, not held open.
#[tokio::test]
async fn a_client_that_stops_reading_is_dropped_after_the_write_timeout() {
    bounded(async {
        let world = World::new();
        let (up, up_addr) = BigUpstream::start().await;
        let (gw, _stop) = run(gateway(&world, up_addr).write_timeout(SHORT).unwrap()).await;
        let mut stream = TcpStream::connect(gw).await.unwrap();
        stream.write_all(get("/big", Some(&world.mint()), "").as_bytes()).await.unwrap();
        // Nothing read: the socket buffers fill up, then the gateway's writes stop progressing.
        eventually("the upstream's response was abandoned", async || up.dropped_early.load(Ordering::SeqCst))
            .await;
        let (_, got) = closed_within(&mut stream, Duration::from_secs(5)).await;
        assert!(got.len() < BIG, "the whole response arrived: {}", got.len());
        assert!(!up.finished.load(Ordering::SeqCst));
    })
    .await;
}

/// With a cap of 2 and 2 idle connections open, a third is not served until one of them closes,
/// then it is.
#[tokio::test]
async fn at_the_connection_cap_a_new_connection_waits_until_one_closes() {
    bounded(async {
        let world = World::new();
        let (up, up_addr) = Upstream::start().await;
        let (gw, _stop) = run(gateway(&world, up_addr).max_connections(2).unwrap()).await;
        let token = world.mint();
        // Two connections, each known accepted (served once), then idle.
        let mut first = TcpStream::connect(gw).await.unwrap();
        let mut second = TcpStream::connect(gw).await.unwrap();
        assert_eq!(exchange(&mut first, &get("/1", Some(&token), "")).await.status, 200);
        assert_eq!(exchange(&mut second, &get("/2", Some(&token), "")).await.status, 200);
        // The third connects (the kernel's backlog) and sends, but is not served.
        let mut third = TcpStream::connect(gw).await.unwrap();
        third.write_all(get("/3", Some(&token), "").as_bytes()).await.unwrap();
        let mut byte = [0u8; 1];
        let early = tokio::time::timeout(Duration::from_millis(800), third.read(&mut byte)).await;
        assert!(early.is_err(), "served over the cap: {early:?}");
        assert_eq!(up.started.load(Ordering::SeqCst), 2);
        // The first two still work.
        assert_eq!(exchange(&mut first, &get("/1b", Some(&token), "")).await.status, 200);
        drop(first);
        let answer = tokio::time::timeout(Duration::from_secs(5), read_answer(&mut third))
            .await
            .expect("the waiting connection was not served once a slot was free");
        assert_eq!(answer.status, 200, "{answer:?}");
        assert_eq!(up.seen().last().unwrap().path, "/3");
        drop(second);
    })
    .await;
}

/// A head over the configured limit is 431 and never reaches the upstream; one under it is
/// served. By default a head with a 2 KB token and 12 KiB of other fields fits.
#[tokio::test]
async fn a_head_over_the_configured_limit_is_431() {
    bounded(async {
        let world = World::new();
        let (up, up_addr) = Upstream::start().await;
        let token = world.mint();
        let (small, _stop) = run(gateway(&world, up_addr).max_head_size(8 * 1024).unwrap()).await;
        let (default, _stop2) = run(gateway(&world, up_addr)).await;
        let over = |size: usize| get("/", Some(&token), &format!("X-Big: {}\r\n", "a".repeat(size)));
        for (gw, size) in [(small, 9 * 1024), (default, DEFAULT_MAX_HEAD_SIZE + 1024)] {
            let stream = TcpStream::connect(gw).await.unwrap();
            let (mut reader, mut writer) = stream.into_split();
            let request = over(size);
            // Written concurrently: the gateway may stop reading (and close) first.
            let writing = tokio::spawn(async move {
                let _ = writer.write_all(request.as_bytes()).await;
                writer
            });
            let mut head = Vec::new();
            let _ =
                tokio::time::timeout(Duration::from_secs(5), reader.read_to_end(&mut head)).await.unwrap();
            let text = String::from_utf8_lossy(&head);
            assert!(text.starts_with("HTTP/1.1 431"), "{size}: {text:?}");
            drop(writing.await);
        }
        assert_eq!(up.started.load(Ordering::SeqCst), 0);
        assert!(token.len() > 400, "{}", token.len());
        let token_2k = format!("X-Token-Like: {}\r\n", "t".repeat(2048));
        assert_eq!(
            send(small, &get("/", Some(&token), &format!("X-Big: {}\r\n", "a".repeat(6 * 1024))))
                .await
                .status,
            200
        );
        let fits = format!("{token_2k}X-Big: {}\r\n", "a".repeat(12 * 1024));
        assert_eq!(send(default, &get("/", Some(&token), &fits)).await.status, 200);
    })
    .await;
}

/// Each connection cut short by a bound is counted by reason on the metrics listener (such a
/// connection never reaches the service, so it has no access-log line): a head over the limit,
/// a head not finished in time, a body that stops arriving, a response nobody reads. A kept-alive
/// connection closed for being idle is not a cut.
#[tokio::test]
async fn connections_cut_by_a_bound_are_counted_by_reason() {
    bounded(async {
        let world = World::new();
        let (_big, big_addr) = BigUpstream::start().await;
        let gateway = gateway(&world, big_addr)
            .header_timeout(SHORT)
            .and_then(|g| g.body_timeout(SHORT))
            .and_then(|g| g.write_timeout(SHORT))
            .and_then(|g| g.idle_timeout(SHORT))
            .and_then(|g| g.max_head_size(8 * 1024))
            .unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let metrics = listener.local_addr().unwrap();
        let (stop_metrics, stopped) = tokio::sync::oneshot::channel::<()>();
        let scraper = gateway.clone();
        tokio::spawn(async move {
            scraper
                .serve_metrics(listener, async {
                    let _ = stopped.await;
                })
                .await
        });
        let (gw, _stop) = run(gateway).await;
        let token = world.mint();
        let count = async |reason: &str| -> String {
            let page =
                String::from_utf8(send(metrics, "GET /metrics HTTP/1.1\r\nHost: m\r\n\r\n").await.body)
                    .unwrap();
            let prefix = format!("jwe_mint_gateway_connections_cut_total{{reason=\"{reason}\"}} ");
            page.lines()
                .find_map(|l| l.strip_prefix(&prefix).map(str::to_owned))
                .unwrap_or_else(|| panic!("{prefix} in\n{page}"))
        };
        for reason in ["head_too_large", "header_timeout", "body_timeout", "write_timeout"] {
            assert_eq!(count(reason).await, "0", "{reason} from the start");
        }

        // A head over the limit: hyper answers 431.
        let mut stream = TcpStream::connect(gw).await.unwrap();
        let big = get("/", Some(&token), &format!("X-Big: {}\r\n", "a".repeat(9 * 1024)));
        let _ = stream.write_all(big.as_bytes()).await;
        closed_within(&mut stream, Duration::from_secs(5)).await;
        // Half a head, then nothing.
        let mut stream = TcpStream::connect(gw).await.unwrap();
        stream.write_all(b"GET / HTTP/1.1\r\nHost: api.example.com\r\n").await.unwrap();
        closed_within(&mut stream, Duration::from_secs(5)).await;
        // 7 of 1000 bytes of a form body (the bearer layer reads it itself, RFC 6750 §2.2).
        let mut stream = TcpStream::connect(gw).await.unwrap();
        let head = format!(
            "POST /form HTTP/1.1\r\nHost: api.example.com\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\nname=x&"
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        closed_within(&mut stream, Duration::from_secs(8)).await;
        // A large answer nobody reads.
        let mut stream = TcpStream::connect(gw).await.unwrap();
        stream.write_all(get("/big", Some(&token), "").as_bytes()).await.unwrap();
        eventually("the write timeout cut the connection", async || count("write_timeout").await == "1")
            .await;
        drop(stream);
        // Served, then idle until the idle timeout: not a cut.
        let mut idle = TcpStream::connect(gw).await.unwrap();
        idle.write_all(b"GET /idle HTTP/1.1\r\nHost: api.example.com\r\n\r\n").await.unwrap();
        closed_within(&mut idle, Duration::from_secs(8)).await;

        for reason in ["head_too_large", "header_timeout", "body_timeout", "write_timeout"] {
            eventually(&format!("one {reason}"), async || count(reason).await == "1").await;
        }
        let _ = stop_metrics.send(());
    })
    .await;
}

#[test]
fn bounds_that_make_no_sense_are_refused() {
    let world = World::new();
    let g = || Gateway::new(world.rs(), "http://127.0.0.1:1").unwrap();
    let option = |e: ConfigError| match e {
        ConfigError::Invalid { option, .. } => option,
        e => panic!("{e:?}"),
    };
    assert_eq!(option(g().max_connections(0).unwrap_err()), "max_connections");
    assert_eq!(option(g().max_head_size(1024).unwrap_err()), "max_head_size");
    assert_eq!(option(g().max_head_size(2 * 1024 * 1024).unwrap_err()), "max_head_size");
    assert_eq!(option(g().header_timeout(Duration::ZERO).unwrap_err()), "header_timeout");
    assert_eq!(option(g().body_timeout(Duration::ZERO).unwrap_err()), "body_timeout");
    assert_eq!(option(g().write_timeout(Duration::ZERO).unwrap_err()), "write_timeout");
    assert_eq!(option(g().idle_timeout(Duration::ZERO).unwrap_err()), "idle_timeout");
    // Any positive value is taken, even one too long for the clock (no timer then).
    assert!(g().header_timeout(Duration::MAX).is_ok());
    assert!(g().max_connections(usize::MAX).is_ok());
}

/// Timeouts too long for the clock and the largest cap run without a timer, and serve.
#[tokio::test]
async fn the_longest_bounds_serve() {
    bounded(async {
        let world = World::new();
        let (_up, up_addr) = Upstream::start().await;
        let mut gateway = gateway(&world, up_addr).max_connections(usize::MAX).unwrap();
        gateway = gateway.header_timeout(Duration::MAX).unwrap().body_timeout(Duration::MAX).unwrap();
        gateway = gateway.write_timeout(Duration::MAX).unwrap().idle_timeout(Duration::MAX).unwrap();
        let (gw, _stop) = run(gateway).await;
        let token = world.mint();
        let mut stream = TcpStream::connect(gw).await.unwrap();
        assert_eq!(exchange(&mut stream, &post_body("/a", &token, "hello")).await.status, 200);
        assert_eq!(exchange(&mut stream, &get("/b", Some(&token), "")).await.status, 200);
    })
    .await;
}
