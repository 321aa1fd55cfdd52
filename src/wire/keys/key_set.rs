//! [`RemoteJwkSet`]: one cache per JWK Set URL, refreshed in the background, refetched on unknown
//! `kid`s with a cooldown, one shared fetch for concurrent callers, and a staleness cap.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant, SystemTime};

use arc_swap::ArcSwap;
use bytes::Bytes;
use http_cache_semantics::{CacheOptions, CachePolicy};
use tokio::sync::watch;
use url::Url;

use crate::jwk::{Freshness, Jwk, JwkSet, JwkSource, KeySourceError, KeysFuture, PublicKeyUse};
use crate::wire::tracing_targets::TRACING_TARGET;
use crate::wire::transport::{require_ok, Fetcher, WireError, DEFAULT_MAX_BODY};

/// The timing rules of a [`RemoteJwkSet`]. The defaults are the production values; tests shrink
/// them.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeySetConfig {
    /// Shortest lifetime, whatever `Cache-Control` says (default 1 min).
    pub min_lifetime: Duration,
    /// Longest lifetime (default 24 h).
    pub max_lifetime: Duration,
    /// Lifetime when the response has neither `Cache-Control: max-age` / `no-cache` / `no-store`
    /// nor `Expires` (default 10 min).
    pub default_lifetime: Duration,
    /// At most one refetch for unknown `kid`s per this interval (default 30 s, OpenID Connect Core
    /// §10.1.1 asks for rate limiting). Startup and scheduled fetches do not count.
    pub kid_miss_cooldown: Duration,
    /// How long past its lifetime the last good set keeps serving while refreshes fail (default
    /// 24 h); after that the source fails closed with [`WireError::Stale`].
    pub max_staleness: Duration,
    /// Delay before the background refresh tries again after a failure (default 30 s).
    pub retry_interval: Duration,
    /// Which keys of the fetched set are kept (default all).
    pub key_use: KeyUseFilter,
}

/// Which keys of a fetched set a [`RemoteJwkSet`] keeps; applied once per fetch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyUseFilter {
    /// Every key.
    #[default]
    Any,
    /// Signature verification keys: keys with `use: enc` are skipped (RFC 7517 §4.2), e.g. an
    /// AS's set that also publishes encryption keys.
    Verify,
    /// Encryption keys: keys with `use: enc`, and keys without `use` when no key of the set is
    /// `use: sig` (RFC 9728 §2 requires `use` on every key only in a mixed set), e.g. an RS's set
    /// that also publishes signing keys.
    Encrypt,
}

impl KeyUseFilter {
    fn apply(self, set: JwkSet) -> JwkSet {
        match self {
            KeyUseFilter::Any => set,
            KeyUseFilter::Verify => JwkSet::new(
                set.keys()
                    .iter()
                    .filter(|k| k.key_use() != Some(&PublicKeyUse::Encryption))
                    .cloned()
                    .collect(),
            ),
            KeyUseFilter::Encrypt => {
                let has_sig = set.keys().iter().any(|k| k.key_use() == Some(&PublicKeyUse::Signature));
                JwkSet::new(
                    set.keys()
                        .iter()
                        .filter(|k| match k.key_use() {
                            Some(PublicKeyUse::Encryption) => true,
                            None => !has_sig,
                            Some(_) => false,
                        })
                        .cloned()
                        .collect(),
                )
            }
        }
    }
}

impl Default for KeySetConfig {
    fn default() -> Self {
        KeySetConfig {
            min_lifetime: Duration::from_secs(60),
            max_lifetime: Duration::from_secs(24 * 3600),
            default_lifetime: Duration::from_secs(600),
            kid_miss_cooldown: Duration::from_secs(30),
            max_staleness: Duration::from_secs(24 * 3600),
            retry_interval: Duration::from_secs(30),
            key_use: KeyUseFilter::Any,
        }
    }
}

/// What a [`RemoteJwkSet`] currently holds, for health checks and tests.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct KeySetStatus {
    /// When the set being served was fetched.
    pub fetched_at: Instant,
    /// Its lifetime (clamped); it is refreshed before `fetched_at + lifetime`.
    pub lifetime: Duration,
    /// The error of the last refresh, if it failed (cleared by a success).
    pub last_error: Option<WireError>,
    /// Fetch attempts so far, the startup fetch included.
    pub fetch_attempts: u64,
}

/// A JWK Set published at a URL (an AS's `jwks_uri`, an RS's `jwks_uri`), kept fresh.
///
/// - Lifetime from `Cache-Control` / `Expires` (RFC 9111 §4.2.1, through `http-cache-semantics`),
///   clamped to [[`min_lifetime`](KeySetConfig::min_lifetime),
///   [`max_lifetime`](KeySetConfig::max_lifetime)]; a background task refreshes it when 90 % of
///   the lifetime has passed, and stops when the last clone of this handle is dropped.
/// - [`snapshot`](Self::snapshot) is synchronous and lock-free: an `Arc<JwkSet>`.
/// - An unknown `kid` ([`snapshot_with_kid`](Self::snapshot_with_kid),
///   [`on_unknown_kid`](Self::on_unknown_kid)) refetches at once, unless such a refetch started
///   less than [`kid_miss_cooldown`](KeySetConfig::kid_miss_cooldown) ago.
/// - Concurrent callers share one fetch; no lock is held while it runs.
/// - A failed refresh (network, status, a body that is not a strict JWK Set) keeps the last good
///   set serving up to [`max_staleness`](KeySetConfig::max_staleness) past its lifetime; then
///   [`WireError::Stale`].
/// - Every refresh, failure and unknown `kid` is a `tracing` event with target `jwe_mint::keys`.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use jwe_mint::wire::{HttpFetcher, KeySetConfig, RemoteJwkSet};
/// let fetcher = Arc::new(HttpFetcher::new()?);
/// let keys = RemoteJwkSet::new("https://as.example.com/jwks.json", fetcher, KeySetConfig::default()).await?;
/// let set = keys.snapshot()?; // Arc<JwkSet>, no I/O
/// let key = keys.find("2026-11-key").await?; // refetches once if the kid is new
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RemoteJwkSet {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for RemoteJwkSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteJwkSet").field("url", &self.inner.shown).finish_non_exhaustive()
    }
}

type Outcome = Result<Arc<JwkSet>, WireError>;

struct Inner {
    url: Url,
    /// `url` as errors and log lines show it (user information redacted).
    shown: String,
    fetcher: Arc<dyn Fetcher>,
    config: KeySetConfig,
    current: ArcSwap<Current>,
    control: Mutex<Control>,
    runtime: tokio::runtime::Handle,
    background: Mutex<Option<tokio::task::AbortHandle>>,
    stale_reported: AtomicBool,
}

struct Current {
    set: Arc<JwkSet>,
    fetched_at: Instant,
    lifetime: Duration,
}

/// Bookkeeping, behind a mutex held only for a few assignments (never across I/O).
struct Control {
    /// The fetch in flight; callers clone the receiver and wait without any lock.
    inflight: Option<watch::Receiver<Option<Outcome>>>,
    last_kid_miss_fetch: Option<Instant>,
    next_refresh: Instant,
    last_error: Option<WireError>,
    fetch_attempts: u64,
    /// Fetches that stored a set (the startup fetch included) and fetches that failed.
    fetch_successes: u64,
    fetch_failures: u64,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Reason {
    Startup,
    Scheduled,
    KidMiss,
    Manual,
}

impl Reason {
    fn as_str(self) -> &'static str {
        match self {
            Reason::Startup => "startup",
            Reason::Scheduled => "scheduled",
            Reason::KidMiss => "unknown kid",
            Reason::Manual => "manual",
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(task) = lock(&self.background).take() {
            task.abort();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// `at + d`, or `None` when it does not fit (a huge configured duration means "never").
fn later(at: Instant, d: Duration) -> Option<Instant> {
    at.checked_add(d)
}

impl RemoteJwkSet {
    /// Fetches the set at `url` once (it must succeed) and starts the background refresh on the
    /// current tokio runtime.
    pub async fn new(
        url: &str,
        fetcher: Arc<dyn Fetcher>,
        config: KeySetConfig,
    ) -> Result<RemoteJwkSet, WireError> {
        let url = Url::parse(url)
            .map_err(|e| WireError::InvalidUrl { url: crate::untrusted::url(&url), reason: e.to_string() })?;
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| WireError::Transport {
            url: crate::untrusted::url(&url),
            reason: "no tokio runtime".into(),
        })?;
        let (set, lifetime) = match fetch_set(&url, fetcher.as_ref(), &config).await {
            Ok(fetched) => fetched,
            Err(e) => {
                tracing::warn!(target: TRACING_TARGET, url = %crate::untrusted::redacted(url.as_str()), reason = Reason::Startup.as_str(),
                    error = %e, "JWK Set fetch failed");
                return Err(e);
            }
        };
        let now = Instant::now();
        tracing::info!(target: TRACING_TARGET, url = %crate::untrusted::redacted(url.as_str()), reason = Reason::Startup.as_str(),
            keys = set.keys().len(), lifetime_s = lifetime.as_secs(), "JWK Set fetched");
        let inner = Arc::new(Inner {
            control: Mutex::new(Control {
                inflight: None,
                last_kid_miss_fetch: None,
                next_refresh: refresh_time(now, lifetime),
                last_error: None,
                fetch_attempts: 1,
                fetch_successes: 1,
                fetch_failures: 0,
            }),
            current: ArcSwap::from_pointee(Current { set: Arc::new(set), fetched_at: now, lifetime }),
            shown: crate::untrusted::url(&url),
            url,
            fetcher,
            config,
            runtime,
            background: Mutex::new(None),
            stale_reported: AtomicBool::new(false),
        });
        let task = inner.runtime.spawn(background(Arc::downgrade(&inner)));
        *lock(&inner.background) = Some(task.abort_handle());
        Ok(RemoteJwkSet { inner })
    }

    /// The URL of the set.
    pub fn url(&self) -> &Url {
        &self.inner.url
    }

    /// The current set, without I/O or locks; [`WireError::Stale`] once the last good set is older
    /// than its lifetime plus [`max_staleness`](KeySetConfig::max_staleness).
    pub fn snapshot(&self) -> Result<Arc<JwkSet>, WireError> {
        self.inner.snapshot()
    }

    /// The current set if it has `kid`; otherwise the set after a refetch (or after joining the
    /// fetch in flight), unless the `kid` refetch cooldown is running, in which case the current set.
    /// A failed refetch leaves the current set in place, so the caller then finds no key.
    pub async fn snapshot_with_kid(&self, kid: &str) -> Result<Arc<JwkSet>, WireError> {
        let set = self.inner.snapshot()?;
        if set.find(kid).is_some() {
            return Ok(set);
        }
        match self.inner.kid_miss(kid) {
            Some(rx) => match wait(&self.inner.url, rx).await {
                Ok(fresh) => Ok(fresh),
                Err(_) => self.inner.snapshot(),
            },
            // A fetch that ended between the first load and now may have brought the kid.
            None => self.inner.snapshot(),
        }
    }

    /// The key with this `kid`, refetching as [`snapshot_with_kid`](Self::snapshot_with_kid) does.
    pub async fn find(&self, kid: &str) -> Result<Option<Jwk>, WireError> {
        Ok(self.snapshot_with_kid(kid).await?.find(kid).cloned())
    }

    /// For synchronous callers that met an unknown `kid`: starts the refetch (or joins the one in
    /// flight) in the background without waiting. `false` when the cooldown suppressed it.
    pub fn on_unknown_kid(&self, kid: &str) -> bool {
        self.inner.kid_miss(kid).is_some()
    }

    /// Refetches now (sharing a fetch already in flight). Does not count against the `kid`
    /// cooldown. On failure the previous set keeps serving and the error is returned.
    pub async fn refresh(&self) -> Result<Arc<JwkSet>, WireError> {
        let rx = self
            .inner
            .start_or_join(Reason::Manual)
            .ok_or_else(|| WireError::RefreshAbandoned { url: crate::untrusted::url(&self.inner.url) })?;
        wait(&self.inner.url, rx).await
    }

    /// What is cached and how the last refresh went.
    pub fn status(&self) -> KeySetStatus {
        let current = self.inner.current.load();
        let control = lock(&self.inner.control);
        KeySetStatus {
            fetched_at: current.fetched_at,
            lifetime: current.lifetime,
            last_error: control.last_error.clone(),
            fetch_attempts: control.fetch_attempts,
        }
    }
}

/// The cache as a key source for [`ResourceServer`](crate::resource_server::ResourceServer) and the
/// registry: every [`WireError`] becomes [`KeySourceError::Unavailable`] naming the URL, with the
/// `WireError` as its source.
impl JwkSource for RemoteJwkSet {
    fn keys(&self) -> Result<Arc<JwkSet>, KeySourceError> {
        self.snapshot().map_err(unavailable)
    }

    fn unknown_kid(&self, kid: &str) {
        self.on_unknown_kid(kid);
    }

    fn keys_with_kid<'a>(&'a self, kid: &'a str) -> KeysFuture<'a> {
        Box::pin(async move { self.snapshot_with_kid(kid).await.map_err(unavailable) })
    }

    fn location(&self) -> &str {
        &self.inner.shown
    }

    fn freshness(&self) -> Option<Freshness> {
        let age = self.inner.current.load().fetched_at.elapsed();
        let control = lock(&self.inner.control);
        Some(Freshness::new(age, control.fetch_successes, control.fetch_failures))
    }
}

/// A wire failure as the key-source error the layers below the wire understand, the
/// [`WireError`] kept as its source (a caller downcasts it from the `source()` chain).
pub(crate) fn unavailable(e: WireError) -> KeySourceError {
    let text = e.to_string();
    // Every WireError message starts with its URL, which `location` already carries.
    let reason = text.strip_prefix(e.url()).and_then(|r| r.strip_prefix(": ")).unwrap_or(&text);
    KeySourceError::Unavailable {
        location: e.url().to_owned(),
        reason: reason.to_owned(),
        source: Some(Arc::new(e)),
    }
}

impl Inner {
    fn snapshot(&self) -> Result<Arc<JwkSet>, WireError> {
        let current = self.current.load();
        let now = Instant::now();
        let expired_for =
            later(current.fetched_at, current.lifetime).and_then(|exp| now.checked_duration_since(exp));
        if let Some(expired_for) = expired_for.filter(|d| *d > self.config.max_staleness) {
            if !self.stale_reported.swap(true, Ordering::Relaxed) {
                tracing::error!(target: TRACING_TARGET, url = %crate::untrusted::redacted(self.url.as_str()), expired_s = expired_for.as_secs(),
                    "JWK Set too stale: failing closed until a refresh succeeds");
            }
            return Err(WireError::Stale { url: crate::untrusted::url(&self.url), expired_for });
        }
        Ok(Arc::clone(&current.set))
    }

    fn kid_miss(self: &Arc<Self>, kid: &str) -> Option<watch::Receiver<Option<Outcome>>> {
        let rx = self.start_or_join(Reason::KidMiss);
        if rx.is_none() {
            tracing::debug!(target: TRACING_TARGET, url = %crate::untrusted::redacted(self.url.as_str()), kid = %crate::untrusted::name(kid),
                "unknown kid: refetch suppressed (cooldown)");
        } else {
            tracing::info!(target: TRACING_TARGET, url = %crate::untrusted::redacted(self.url.as_str()), kid = %crate::untrusted::name(kid),
                "unknown kid: refetching (or joining the fetch in flight)");
        }
        rx
    }

    /// Joins the fetch in flight, or starts one (a `kid` refetch only outside the cooldown). The
    /// fetch runs in its own task, so a caller that stops waiting cancels nothing.
    fn start_or_join(self: &Arc<Self>, reason: Reason) -> Option<watch::Receiver<Option<Outcome>>> {
        let now = Instant::now();
        let mut control = lock(&self.control);
        if let Some(rx) = &control.inflight {
            return Some(rx.clone());
        }
        if reason == Reason::KidMiss {
            let cooling = control
                .last_kid_miss_fetch
                .is_some_and(|at| now.saturating_duration_since(at) < self.config.kid_miss_cooldown);
            if cooling {
                return None;
            }
            control.last_kid_miss_fetch = Some(now);
        }
        let (tx, rx) = watch::channel(None);
        control.inflight = Some(rx.clone());
        control.fetch_attempts += 1;
        drop(control);
        let inner = Arc::clone(self);
        self.runtime.spawn(async move {
            let outcome = inner.fetch_and_store(reason).await;
            let _ = tx.send(Some(outcome));
        });
        Some(rx)
    }

    async fn fetch_and_store(&self, reason: Reason) -> Outcome {
        let result = fetch_set(&self.url, self.fetcher.as_ref(), &self.config).await;
        let now = Instant::now();
        let mut control = lock(&self.control);
        control.inflight = None;
        match result {
            Ok((set, lifetime)) => {
                let set = Arc::new(set);
                self.current.store(Arc::new(Current { set: Arc::clone(&set), fetched_at: now, lifetime }));
                control.next_refresh = refresh_time(now, lifetime);
                control.last_error = None;
                control.fetch_successes += 1;
                drop(control);
                self.stale_reported.store(false, Ordering::Relaxed);
                tracing::info!(target: TRACING_TARGET, url = %crate::untrusted::redacted(self.url.as_str()), reason = reason.as_str(),
                    keys = set.keys().len(), lifetime_s = lifetime.as_secs(), "JWK Set refreshed");
                Ok(set)
            }
            Err(e) => {
                control.next_refresh = later(now, self.retry_interval()).unwrap_or(now);
                control.last_error = Some(e.clone());
                control.fetch_failures += 1;
                drop(control);
                tracing::warn!(target: TRACING_TARGET, url = %crate::untrusted::redacted(self.url.as_str()), reason = reason.as_str(), error = %e,
                    "JWK Set refresh failed; the last good set keeps serving");
                Err(e)
            }
        }
    }

    fn retry_interval(&self) -> Duration {
        self.config.retry_interval.max(Duration::from_millis(10))
    }
}

/// Refresh when 90 % of the lifetime has passed.
fn refresh_time(fetched_at: Instant, lifetime: Duration) -> Instant {
    later(fetched_at, lifetime.mul_f64(0.9)).unwrap_or(fetched_at + Duration::from_secs(365 * 24 * 3600))
}

async fn wait(url: &Url, mut rx: watch::Receiver<Option<Outcome>>) -> Outcome {
    match rx.wait_for(Option::is_some).await {
        Ok(outcome) => outcome
            .clone()
            .unwrap_or_else(|| Err(WireError::RefreshAbandoned { url: crate::untrusted::url(&url) })),
        Err(_) => Err(WireError::RefreshAbandoned { url: crate::untrusted::url(&url) }),
    }
}

/// The background refresher. It holds the cache only weakly (between steps), so dropping the last
/// handle ends it; `Inner::drop` also aborts it at once.
async fn background(weak: Weak<Inner>) {
    let mut just_fetched = false;
    loop {
        let (delay, retry) = {
            let Some(inner) = weak.upgrade() else { return };
            let next = lock(&inner.control).next_refresh;
            (next.saturating_duration_since(Instant::now()), inner.retry_interval())
        };
        if !delay.is_zero() || just_fetched {
            // After a fetch whose task never reported (cancelled), wait instead of spinning.
            tokio::time::sleep(if delay.is_zero() { retry } else { delay }).await;
            just_fetched = false;
            continue;
        }
        let rx = {
            let Some(inner) = weak.upgrade() else { return };
            inner.start_or_join(Reason::Scheduled)
        };
        if let Some(mut rx) = rx {
            let _ = rx.wait_for(Option::is_some).await;
        }
        just_fetched = true;
    }
}

/// One fetch: 200, a body within the limit, a strict JWK Set without private or symmetric keys.
async fn fetch_set(
    url: &Url,
    fetcher: &dyn Fetcher,
    config: &KeySetConfig,
) -> Result<(JwkSet, Duration), WireError> {
    let response = fetcher.get(url).await?;
    require_ok(&response, url)?;
    // Also bounds fetchers other than HttpFetcher.
    if response.body().len() > DEFAULT_MAX_BODY {
        return Err(WireError::BodyTooLarge { url: crate::untrusted::url(&url), limit: DEFAULT_MAX_BODY });
    }
    let invalid = |reason: String| WireError::InvalidJwkSet { url: crate::untrusted::url(&url), reason };
    let text = std::str::from_utf8(response.body()).map_err(|_| invalid("not UTF-8".into()))?;
    let set = JwkSet::from_json(text).map_err(|e| invalid(e.to_string()))?;
    // A published set holding a private or symmetric key is a leak at the publisher, and trusting
    // a symmetric key from the network would let anyone who read it forge tokens.
    if set.keys().iter().any(Jwk::is_private) {
        return Err(invalid("a published JWK Set must not hold private or symmetric keys".into()));
    }
    Ok((config.key_use.apply(set), lifetime(url, &response, config)))
}

/// The set's lifetime from the response's caching headers, clamped.
fn lifetime(url: &Url, response: &http::Response<Bytes>, config: &KeySetConfig) -> Duration {
    let explicit = response.headers().contains_key(http::header::EXPIRES)
        || response.headers().get_all(http::header::CACHE_CONTROL).iter().any(|v| {
            v.to_str().unwrap_or("").split(',').any(|d| {
                let name = d.split('=').next().unwrap_or("").trim();
                ["max-age", "no-cache", "no-store"].iter().any(|n| name.eq_ignore_ascii_case(n))
            })
        });
    let ttl = match (explicit, http::Request::get(url.as_str()).body(())) {
        (true, Ok(request)) => {
            let mut res = http::Response::new(());
            *res.status_mut() = response.status();
            *res.headers_mut() = response.headers().clone();
            // A private cache: the set is fetched without credentials and serves only this process.
            let options = CacheOptions { shared: false, ..CacheOptions::default() };
            let now = SystemTime::now();
            CachePolicy::new_options(&request, &res, now, options).time_to_live(now)
        }
        _ => config.default_lifetime,
    };
    // max/min rather than clamp: no panic on a configuration with min > max.
    ttl.max(config.min_lifetime).min(config.max_lifetime)
}
