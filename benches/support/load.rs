//! The load generator the load benches share: keep-alive HTTP/1.1 connections on hyper's client,
//! one task per connection and one request at a time on each, every latency recorded.
//!
//! Included with `#[path = "support/load.rs"] mod load;`; each bench uses part of it.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// No single request may take longer; a run is bounded by it times the requests per connection.
pub(crate) const REQUEST_LIMIT: Duration = Duration::from_secs(10);

/// What one run measured.
pub(crate) struct Run {
    /// From the first connection opened to the last answer.
    pub(crate) wall: Duration,
    /// One per request answered `200`, sorted.
    pub(crate) latencies: Vec<Duration>,
    /// Requests answered with another status, failed, timed out or never sent.
    pub(crate) errors: usize,
    /// Requests the run was asked for.
    pub(crate) requests: usize,
}

impl Run {
    /// The `p`th percentile latency (nearest rank).
    pub(crate) fn percentile(&self, p: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((p / 100.0) * self.latencies.len() as f64).ceil() as usize;
        self.latencies[rank.clamp(1, self.latencies.len()) - 1]
    }

    /// Requests answered `200` per second of wall time.
    pub(crate) fn per_second(&self) -> f64 {
        self.latencies.len() as f64 / self.wall.as_secs_f64()
    }

    /// Every request was answered `200`.
    pub(crate) fn all_ok(&self) -> bool {
        self.errors == 0 && self.latencies.len() == self.requests
    }
}

/// `requests` requests (`GET /photos`, `Host: photos.example.com`) spread over `connections`
/// keep-alive connections to `addr`; request `i` carries `Authorization: bearers[i % len]`, or
/// none when `bearers` is empty.
pub(crate) async fn load(
    addr: SocketAddr,
    requests: usize,
    connections: usize,
    bearers: Arc<Vec<String>>,
) -> Run {
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(connections);
    for c in 0..connections {
        let bearers = Arc::clone(&bearers);
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0usize;
            let mine: Vec<usize> = (c..requests).step_by(connections).collect();
            let Ok(stream) = TcpStream::connect(addr).await else { return (latencies, mine.len()) };
            let _ = stream.set_nodelay(true);
            let Ok((mut sender, conn)) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await
            else {
                return (latencies, mine.len());
            };
            tokio::spawn(conn);
            for (done, i) in mine.iter().enumerate() {
                let mut request =
                    hyper::Request::builder().uri("/photos").header("host", "photos.example.com");
                if !bearers.is_empty() {
                    request = request.header("authorization", &bearers[i % bearers.len()]);
                }
                let request = request.body(Empty::<Bytes>::new()).expect("request");
                let t = Instant::now();
                let answered = tokio::time::timeout(REQUEST_LIMIT, async {
                    let response = sender.send_request(request).await.ok()?;
                    let ok = response.status() == hyper::StatusCode::OK;
                    response.into_body().collect().await.ok()?;
                    Some(ok)
                })
                .await;
                match answered {
                    Ok(Some(true)) => latencies.push(t.elapsed()),
                    Ok(Some(false)) => errors += 1,
                    // The connection is unusable: count the rest of this connection's requests.
                    Ok(None) | Err(_) => return (latencies, errors + mine.len() - done),
                }
            }
            (latencies, errors)
        }));
    }
    let mut latencies = Vec::with_capacity(requests);
    let mut errors = 0;
    for task in tasks {
        match task.await {
            Ok((l, e)) => {
                latencies.extend(l);
                errors += e;
            }
            Err(_) => errors += requests / connections,
        }
    }
    let wall = started.elapsed();
    latencies.sort_unstable();
    Run { wall, latencies, errors, requests }
}

/// `d` in microseconds.
pub(crate) fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}
