//! The gateway's metrics (Prometheus text format 0.0.4, which `promtool check metrics` reads) and
//! its health, served on a listener of their own ([`Gateway::serve_metrics`]), never on the
//! proxied port: `/metrics`, `/healthz` (the process answers) and `/readyz` (tokens can be opened:
//! the RS keys are loaded and the AS keys within their staleness cap).

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{ALLOW, CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper_util::rt::{TokioIo, TokioTimer};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;

use super::access::Outcome;
use super::config::Gateway;
use super::framing::Cut;
use super::serve::next_connection;
use crate::jwk::Freshness;
use crate::resource_server::ResourceServer;

/// Histogram buckets for request durations, in seconds: 50 µs to 10 s.
const DURATION_BUCKETS: [f64; 16] = [
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// How long a scraper may take to send its request head.
const METRICS_HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// How long one connection to the metrics listener may last, whatever it does (a scrape takes
/// milliseconds; a client that stops reading its answer must not hold a descriptor).
const METRICS_CONNECTION_LIMIT: Duration = Duration::from_secs(10);

/// Connections to the metrics listener open at once; more wait in the listen backlog. Monitoring
/// needs a few; each held one costs a descriptor the proxied port may need.
const METRICS_MAX_CONNECTIONS: usize = 16;

/// The largest request head the metrics listener reads (hyper's minimum).
const METRICS_MAX_HEAD: usize = 8192;

type Labels = [(&'static str, &'static str); 1];

/// A counter the caller keeps (e.g. the log lines its writer dropped), read at each scrape.
pub(super) type ExternalCounter = Arc<dyn Fn() -> u64 + Send + Sync>;

/// Every outcome, so each has a series from the start (at 0) and its counter is looked up once.
const OUTCOMES: [Outcome; 12] = [
    Outcome::Forwarded,
    Outcome::Served,
    Outcome::NoToken,
    Outcome::InvalidToken,
    Outcome::InsufficientScope,
    Outcome::BadRequest,
    Outcome::KeysUnavailable,
    Outcome::UpstreamError,
    Outcome::InvalidDpopProof,
    Outcome::UseDpopNonce,
    Outcome::ReplayStoreUnavailable,
    Outcome::DpopRequired,
];

/// What the serve loop records; shared by every clone of a [`Gateway`].
pub(super) struct Metrics {
    requests: Family<Labels, Counter>,
    /// Connections cut short by a bound, by reason (`framing::Cut`).
    cuts: Family<Labels, Counter>,
    by_cut: [Counter; Cut::ALL.len()],
    durations: Family<Labels, Histogram>,
    connections: Gauge,
    /// Set when the serve loop stops accepting: `/readyz` then says so, so that a load balancer
    /// stops sending while requests in flight finish.
    pub(super) draining: std::sync::atomic::AtomicBool,
    /// The family's counters and histograms, held here so that a request touches no lock or map.
    by_outcome: [Counter; OUTCOMES.len()],
    gateway_time: Histogram,
    upstream_time: Histogram,
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics").field("connections", &self.connections.get()).finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Metrics {
        let requests = Family::<Labels, Counter>::default();
        let durations =
            Family::<Labels, Histogram>::new_with_constructor(|| Histogram::new(DURATION_BUCKETS));
        let by_outcome = OUTCOMES.map(|o| requests.get_or_create(&[("outcome", o.as_str())]).clone());
        let cuts = Family::<Labels, Counter>::default();
        let by_cut = Cut::ALL.map(|c| cuts.get_or_create(&[("reason", c.as_str())]).clone());
        let gateway_time = durations.get_or_create(&[("part", "gateway")]).clone();
        let upstream_time = durations.get_or_create(&[("part", "upstream")]).clone();
        Metrics {
            requests,
            cuts,
            by_cut,
            durations,
            connections: Gauge::default(),
            draining: std::sync::atomic::AtomicBool::new(false),
            by_outcome,
            gateway_time,
            upstream_time,
        }
    }
}

impl Metrics {
    /// One request done: its outcome, the whole time until its response head, and the
    /// upstream's part of it when it was asked.
    pub(super) fn request(&self, outcome: Outcome, total: Duration, upstream: Option<Duration>) {
        if let Some(counter) =
            OUTCOMES.iter().position(|o| *o == outcome).and_then(|i| self.by_outcome.get(i))
        {
            counter.inc();
        }
        let upstream_time = upstream.unwrap_or_default();
        self.gateway_time.observe(total.saturating_sub(upstream_time).as_secs_f64());
        if upstream.is_some() {
            self.upstream_time.observe(upstream_time.as_secs_f64());
        }
    }

    /// A connection cut short by a bound (no request of it answered, or its answer not read).
    pub(super) fn cut(&self, cut: Cut) {
        if let Some(counter) = Cut::ALL.iter().position(|c| *c == cut).and_then(|i| self.by_cut.get(i)) {
            counter.inc();
        }
    }

    /// A connection accepted; the guard counts it until dropped.
    pub(super) fn connection(self: &Arc<Self>) -> ConnectionGuard {
        self.connections.inc();
        ConnectionGuard(Arc::clone(self))
    }
}

/// Counts one open connection while it lives.
pub(super) struct ConnectionGuard(Arc<Metrics>);

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.0.connections.dec();
    }
}

/// The values read at each scrape rather than recorded: the token cache, the key sources, the
/// caller's dropped log lines.
struct Sampled {
    rs: Arc<ResourceServer>,
    log_drops: Option<ExternalCounter>,
}

impl fmt::Debug for Sampled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sampled").field("resource", &self.rs.resource()).finish_non_exhaustive()
    }
}

fn encode_const(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    metric: &impl EncodeMetric,
) -> Result<(), fmt::Error> {
    let metric_encoder = encoder.encode_descriptor(name, help, None, metric.metric_type())?;
    metric.encode(metric_encoder)
}

impl Collector for Sampled {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), fmt::Error> {
        let stats = self.rs.cache_stats().unwrap_or_default();
        let hits = ConstCounter::new(stats.hits);
        encode_const(
            &mut encoder,
            "jwe_mint_token_cache_hits",
            "Tokens opened from the token cache.",
            &hits,
        )?;
        let misses = ConstCounter::new(stats.misses);
        encode_const(
            &mut encoder,
            "jwe_mint_token_cache_misses",
            "Tokens opened in full (not cached).",
            &misses,
        )?;
        let log_drops = ConstCounter::new(self.log_drops.as_ref().map_or(0, |count| count()));
        encode_const(
            &mut encoder,
            "jwe_mint_log_lines_dropped",
            "Log lines dropped because the log writer did not keep up.",
            &log_drops,
        )?;
        let (decryption, issuer) = self.rs.key_freshness();
        let sources = [("decryption", decryption), ("issuer", issuer)];
        let live: Vec<(&str, Freshness)> = sources.iter().filter_map(|(k, f)| f.map(|f| (*k, f))).collect();
        if live.is_empty() {
            return Ok(());
        }
        let mut refreshes = encoder.encode_descriptor(
            "jwe_mint_key_set_refreshes",
            "Key set refreshes by key set and outcome.",
            None,
            prometheus_client::metrics::MetricType::Counter,
        )?;
        for (keys, f) in &live {
            for (outcome, n) in [("ok", f.refreshes), ("failed", f.failures)] {
                let labels = [("keys", *keys), ("outcome", outcome)];
                ConstCounter::new(n).encode(refreshes.encode_family(&labels)?)?;
            }
        }
        let mut age = encoder.encode_descriptor(
            "jwe_mint_key_set_age_seconds",
            "Age of the keys in use, by key set.",
            None,
            prometheus_client::metrics::MetricType::Gauge,
        )?;
        for (keys, f) in &live {
            ConstGauge::new(f.age.as_secs_f64()).encode(age.encode_family(&[("keys", *keys)])?)?;
        }
        Ok(())
    }
}

/// The metrics of `gateway` as Prometheus text.
fn render(gateway: &Gateway) -> Result<String, fmt::Error> {
    let metrics = &gateway.metrics;
    let mut registry = Registry::default();
    registry.register("jwe_mint_gateway_requests", "Requests answered, by outcome", metrics.requests.clone());
    registry.register(
        "jwe_mint_gateway_request_duration_seconds",
        "Time until the response head: the gateway's own part and the upstream's",
        metrics.durations.clone(),
    );
    registry.register("jwe_mint_gateway_connections", "Client connections open", metrics.connections.clone());
    registry.register(
        "jwe_mint_gateway_connections_cut",
        "Client connections cut short by a bound, by reason",
        metrics.cuts.clone(),
    );
    registry.register_collector(Box::new(Sampled {
        rs: Arc::clone(&gateway.rs),
        log_drops: gateway.log_drops.clone(),
    }));
    let mut text = String::new();
    prometheus_client::encoding::prometheus_text::encode(&mut text, &registry)?;
    Ok(text)
}

impl Gateway {
    /// Serves the gateway's metrics and health on `listener` until `shutdown` completes:
    /// `GET /metrics` (Prometheus text format 0.0.4), `GET /healthz` (200 while the process
    /// answers) and `GET /readyz` (200 when tokens can be opened, 503 with the reason
    /// otherwise). Bind it where only the monitoring system reaches it, never on the proxied
    /// port. Clones of this gateway share its counters, so call it on a clone of the one that
    /// [`serve`](Gateway::serve)s.
    pub async fn serve_metrics(
        &self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> std::io::Result<()> {
        let gateway = Arc::new(self.clone());
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(TokioTimer::new())
            .header_read_timeout(METRICS_HEADER_TIMEOUT)
            .keep_alive(false)
            .max_buf_size(METRICS_MAX_HEAD);
        let graceful = hyper_util::server::graceful::GracefulShutdown::new();
        let slots = Arc::new(tokio::sync::Semaphore::new(METRICS_MAX_CONNECTIONS));
        tokio::pin!(shutdown);
        while let Some((slot, stream, _)) = next_connection(&listener, &slots, shutdown.as_mut()).await {
            let gateway = Arc::clone(&gateway);
            let service = hyper::service::service_fn(move |req| {
                let answer = answer(&gateway, &req);
                async move { Ok::<_, Infallible>(answer) }
            });
            let conn = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
            tokio::spawn(async move {
                // Whatever the client does, the connection ends within the limit.
                let _ = tokio::time::timeout(METRICS_CONNECTION_LIMIT, conn).await;
                drop(slot);
            });
        }
        drop(listener);
        // Scrapes are short; do not hold the process for a slow one.
        let _ = tokio::time::timeout(Duration::from_secs(1), graceful.shutdown()).await;
        Ok(())
    }
}

/// The answer to one request on the metrics listener.
fn answer<B>(gateway: &Gateway, req: &Request<B>) -> Response<Full<Bytes>> {
    if !matches!(*req.method(), Method::GET | Method::HEAD) {
        let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD\n".into());
        r.headers_mut().insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    match req.uri().path() {
        "/metrics" => match render(gateway) {
            Ok(body) => {
                let mut r = text(StatusCode::OK, body);
                r.headers_mut().insert(
                    CONTENT_TYPE,
                    HeaderValue::from_static(prometheus_client::encoding::prometheus_text::CONTENT_TYPE),
                );
                r
            }
            Err(_) => text(StatusCode::INTERNAL_SERVER_ERROR, "the metrics could not be encoded\n".into()),
        },
        "/healthz" => text(StatusCode::OK, "ok\n".into()),
        "/readyz" if gateway.metrics.draining.load(std::sync::atomic::Ordering::Relaxed) => {
            text(StatusCode::SERVICE_UNAVAILABLE, "not ready: shutting down\n".into())
        }
        "/readyz" => match gateway.rs.ready() {
            Ok(()) => text(StatusCode::OK, "ready\n".into()),
            // Key locations are shown without credentials; no key material is in these errors.
            Err(e) => text(StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {e}\n")),
        },
        _ => text(StatusCode::NOT_FOUND, "not found: /metrics, /healthz, /readyz\n".into()),
    }
}

fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    r.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}
