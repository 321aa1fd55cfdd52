//! `jwe-mint gateway`: a reverse proxy that lets only requests with a valid access token reach
//! an upstream resource server written in any language (`jwe_mint::wire::Gateway`).

use std::path::PathBuf;

use crate::common::{CliError, WireArgs};
#[cfg(feature = "network")]
use {
    crate::common::{is_url, issuer_key_file, remote_issuer_keys, usage},
    jwe_mint::jwk::JwkSource,
    jwe_mint::resource_server::ResourceServer,
    jwe_mint::wire::{Gateway, KeyFile, RedisReplayStore},
    std::net::SocketAddr,
    std::path::Path,
    std::sync::Arc,
    std::time::Duration,
};

/// Default size of the token cache (`--cache`).
const DEFAULT_CACHE: usize = 10_000;

/// How often the key file's metadata is polled for changes (ms).
const KEY_FILE_POLL_MS: u64 = 1000;

/// Options of `gateway`.
#[cfg_attr(not(feature = "network"), allow(dead_code))]
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The resource server requests are forwarded to: an http URL (next to the gateway) or an
    /// https URL (its certificate verified for the URL's host); its path prefixes every path
    #[arg(long, value_name = "URL")]
    upstream: String,
    /// Trust only the CA certificates of this PEM file for an https --upstream (default: the
    /// platform's trust store)
    #[arg(long, value_name = "PEM")]
    upstream_ca_file: Option<PathBuf>,
    /// Forward the Authorization header to the upstream (refused for a non-loopback http upstream;
    /// allowed for https)
    #[arg(long)]
    forward_token: bool,
    #[command(flatten)]
    serve: ServeArgs,
}

/// The options `gateway` and `forward-auth` share: where to listen, the keys and policy,
/// logging, metrics and bounds.
#[cfg_attr(not(feature = "network"), allow(dead_code))]
#[derive(Debug, clap::Args)]
pub(crate) struct ServeArgs {
    /// Address and port to listen on (plain HTTP/1.1; put TLS in front if clients are remote)
    #[arg(long, value_name = "ADDR:PORT")]
    listen: String,
    /// This resource server's identifier; the token's `aud` must name it
    #[arg(long, value_name = "URL")]
    resource: String,
    /// This resource server's private decryption key(s): JWK or JWK Set. Reloaded on SIGHUP and
    /// when the file changes; an unusable file keeps the keys in use
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// The trusted authorization server; the token's `iss` must equal it
    #[arg(long, value_name = "URL")]
    issuer: String,
    /// The authorization server's public signing key(s): a JWK Set or JWK file, or the https URL
    /// of its JWK Set (refreshed while running). Without it the keys are discovered from --issuer
    #[arg(long, value_name = "FILE|URL")]
    issuer_jwks: Option<String>,
    #[command(flatten)]
    wire: WireArgs,
    #[command(flatten)]
    log: crate::logging::LogArgs,
    /// Serve metrics (/metrics, Prometheus text format) and health (/healthz, /readyz) on this
    /// address, apart from --listen; bind it where only the monitoring system reaches it
    #[arg(long, value_name = "ADDR:PORT")]
    metrics_listen: Option<String>,
    /// A scope every request needs (repeatable: all are needed)
    #[arg(long, value_name = "S")]
    require_scope: Vec<String>,
    /// Size of the opened-token cache; 0 turns it off
    #[arg(long, value_name = "N", default_value_t = DEFAULT_CACHE)]
    cache: usize,
    /// How often the --key file is checked for changes, in milliseconds; 0: only on SIGHUP
    #[arg(long, value_name = "MS", default_value_t = KEY_FILE_POLL_MS, hide = true)]
    key_poll_ms: u64,
    #[command(flatten)]
    bounds: BoundsArgs,
    #[command(flatten)]
    dpop: DpopArgs,
}

/// DPoP at the resource server (RFC 9449): `Authorization: DPoP` with a proof is always accepted
/// for DPoP-bound tokens; these options tighten it.
#[cfg_attr(not(feature = "network"), allow(dead_code))]
#[derive(Debug, clap::Args)]
#[command(next_help_heading = "DPoP")]
pub(crate) struct DpopArgs {
    /// Accept only DPoP-bound tokens with their proof: a Bearer token is 401, and the metadata
    /// says dpop_bound_access_tokens_required
    #[arg(long)]
    require_dpop: bool,
    /// Require the server's nonce in DPoP proofs (RFC 9449 §9), made with the secret in this file
    /// (at least 32 bytes, read once at start); replicas with the same file accept each other's
    /// nonces
    #[arg(long, value_name = "FILE")]
    dpop_nonce_key: Option<PathBuf>,
    /// Seconds a DPoP proof's iat may lie in the past [default: 300]
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u32).range(1..))]
    dpop_max_age: Option<u32>,
    /// Remember DPoP proofs in this Redis (redis://HOST[:PORT][/DB], or rediss:// for TLS),
    /// shared by every replica, so a proof used at one is refused at all; without it, in this
    /// process. A URL with a password only through --dpop-replay-file or --dpop-replay-env. Redis
    /// unreachable: DPoP requests are 503, never accepted unchecked
    #[arg(long, value_name = "URL", group = "dpop_replay_from")]
    dpop_replay: Option<String>,
    /// The --dpop-replay URL read from this file (for a URL with credentials)
    #[arg(long, value_name = "FILE", group = "dpop_replay_from")]
    dpop_replay_file: Option<PathBuf>,
    /// The --dpop-replay URL read from this environment variable (for a URL with credentials)
    #[arg(long, value_name = "NAME", group = "dpop_replay_from")]
    dpop_replay_env: Option<String>,
    /// For a rediss:// replay store: trust only the CA certificates of this PEM file for Redis's
    /// TLS certificate (default: the platform's trust store)
    #[arg(long, value_name = "PEM", requires = "dpop_replay_from")]
    dpop_replay_ca_file: Option<PathBuf>,
}

#[cfg(feature = "network")]
impl DpopArgs {
    /// `gateway` with these DPoP settings. The nonce key's bytes are never printed: an error
    /// names the file and the rule only.
    fn apply(&self, mut gateway: Gateway) -> Result<Gateway, CliError> {
        if self.require_dpop {
            gateway = gateway.require_dpop();
        }
        if let Some(path) = &self.dpop_nonce_key {
            let failed =
                |why: String| CliError::Failed(format!("--dpop-nonce-key {}: {why}", path.display()));
            let secret = zeroize::Zeroizing::new(std::fs::read(path).map_err(|e| failed(e.to_string()))?);
            let nonces = jwe_mint::dpop::NonceSource::new(&secret).map_err(|_| {
                failed(format!("a nonce key has at least {} bytes", jwe_mint::dpop::MIN_NONCE_SECRET))
            })?;
            gateway = gateway.dpop_nonce(nonces);
        }
        if let Some(secs) = self.dpop_max_age {
            gateway = gateway.dpop_max_age(secs).map_err(|e| usage(format!("--dpop-max-age: {e}")))?;
        }
        // The URL's credentials, if any, never reach an error: the store shows it redacted.
        let store = match (&self.dpop_replay, &self.dpop_replay_file, &self.dpop_replay_env) {
            (Some(url), _, _) => {
                Some(RedisReplayStore::new(url).map_err(|e| usage(format!("--dpop-replay: {e}")))?)
            }
            (_, Some(path), _) => Some(
                RedisReplayStore::from_url_file(path)
                    .map_err(|e| CliError::Failed(format!("--dpop-replay-file {}: {e}", path.display())))?,
            ),
            (_, _, Some(name)) => Some(
                RedisReplayStore::from_url_env(name)
                    .map_err(|e| CliError::Failed(format!("--dpop-replay-env {name}: {e}")))?,
            ),
            _ => None,
        };
        if let Some(mut store) = store {
            if let Some(path) = &self.dpop_replay_ca_file {
                store = store
                    .ca_file(path)
                    .map_err(|e| CliError::Failed(format!("--dpop-replay-ca-file: {e}")))?;
            }
            gateway = gateway.dpop_replay_store(Arc::new(store));
        }
        Ok(gateway)
    }
}

/// What one client may hold (the defaults are the library's, `jwe_mint::wire::DEFAULT_*`).
#[cfg_attr(not(feature = "network"), allow(dead_code))]
#[derive(Debug, clap::Args)]
#[command(next_help_heading = "Bounds")]
pub(crate) struct BoundsArgs {
    /// Connections open at once; at the cap new ones wait in the listen backlog [default: 1024]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    max_connections: Option<u64>,
    /// The largest request head (request line and headers), 8192 to 1048576; a longer one is 431
    /// [default: 16384]
    #[arg(long, value_name = "BYTES", value_parser = clap::value_parser!(u64).range(8192..=1_048_576))]
    max_head_size: Option<u64>,
    /// Seconds a client may take to send a request head [default: 10]
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    header_timeout: Option<u64>,
    /// Seconds a request body may stop arriving before the connection closes and the upstream
    /// request is aborted [default: 30]
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    body_timeout: Option<u64>,
    /// Seconds writing a response may make no progress (a client that stops reading) before the
    /// connection closes [default: 30]
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    write_timeout: Option<u64>,
    /// Seconds a kept-alive connection may wait for its next request [default: 60]
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    idle_timeout: Option<u64>,
    /// Seconds requests in flight may take to finish after SIGTERM or SIGINT; then the
    /// connections left are closed and the gateway exits; 0: at once [default: 30]
    #[arg(long, value_name = "SECS")]
    shutdown_timeout: Option<u64>,
}

#[cfg(feature = "network")]
impl BoundsArgs {
    /// `gateway` with these bounds set (the value parsers already refused what it would refuse).
    fn apply(&self, mut gateway: Gateway) -> Result<Gateway, CliError> {
        let secs = Duration::from_secs;
        let size = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
        if let Some(n) = self.max_connections {
            gateway =
                gateway.max_connections(size(n)).map_err(|e| usage(format!("--max-connections: {e}")))?;
        }
        if let Some(n) = self.max_head_size {
            gateway = gateway.max_head_size(size(n)).map_err(|e| usage(format!("--max-head-size: {e}")))?;
        }
        if let Some(s) = self.header_timeout {
            gateway = gateway.header_timeout(secs(s)).map_err(|e| usage(format!("--header-timeout: {e}")))?;
        }
        if let Some(s) = self.body_timeout {
            gateway = gateway.body_timeout(secs(s)).map_err(|e| usage(format!("--body-timeout: {e}")))?;
        }
        if let Some(s) = self.write_timeout {
            gateway = gateway.write_timeout(secs(s)).map_err(|e| usage(format!("--write-timeout: {e}")))?;
        }
        if let Some(s) = self.idle_timeout {
            gateway = gateway.idle_timeout(secs(s)).map_err(|e| usage(format!("--idle-timeout: {e}")))?;
        }
        if let Some(s) = self.shutdown_timeout {
            gateway = gateway.with_shutdown_grace(secs(s));
        }
        Ok(gateway)
    }
}

/// Without the network feature the command says how to get it.
#[cfg(not(feature = "network"))]
pub(crate) fn run(_args: Args) -> Result<(), CliError> {
    Err(crate::common::needs_network("gateway"))
}

/// Runs the gateway until SIGTERM or SIGINT, then lets requests in flight finish.
#[cfg(feature = "network")]
pub(crate) fn run(args: Args) -> Result<(), CliError> {
    serve(&args.serve, "gateway", |rs| {
        let mut gateway = Gateway::new(rs, &args.upstream).map_err(|e| usage(format!("--upstream: {e}")))?;
        if let Some(path) = &args.upstream_ca_file {
            if !url::Url::parse(&args.upstream).is_ok_and(|u| u.scheme() == "https") {
                return Err(usage("--upstream-ca-file needs an https --upstream"));
            }
            // An unreadable file or one without a usable CA certificate: exit 1, as for --ca-file.
            gateway = gateway
                .upstream_ca_file(path)
                .map_err(|e| CliError::Failed(format!("--upstream-ca-file: {e}")))?;
        }
        if args.forward_token {
            gateway = gateway.forward_token().map_err(|e| usage(format!("--forward-token: {e}")))?;
        }
        Ok(gateway)
    })
}

/// Runs `make`'s gateway (a proxy or forward-auth) with `args` until SIGTERM or SIGINT, then
/// lets requests in flight finish; `command` names it in messages.
#[cfg(feature = "network")]
pub(crate) fn serve(
    args: &ServeArgs,
    command: &str,
    make: impl FnOnce(ResourceServer) -> Result<Gateway, CliError>,
) -> Result<(), CliError> {
    let listen = resolve_listen(&args.listen)?;
    let metrics_listen = args.metrics_listen.as_deref().map(resolve_listen).transpose()?;
    if metrics_listen.is_some_and(|m| m == listen && m.port() != 0) {
        return Err(usage(
            "--metrics-listen must differ from --listen: metrics never share the proxied port",
        ));
    }
    let key_file = Arc::new(
        KeyFile::open(&args.key)
            .map_err(|e| CliError::Failed(format!("--key {}: {e}", args.key.display())))?,
    );
    let logging = crate::logging::init(&args.log)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Failed(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(async {
        // The RS's keys are the file's, reloaded while it runs.
        let mut builder = ResourceServer::builder(&args.resource, &args.issuer)
            .decryption_key_source(Arc::clone(&key_file) as Arc<dyn JwkSource>);
        if args.cache > 0 {
            builder = builder.cache(args.cache);
        }
        let rs = match args.issuer_jwks.as_deref() {
            Some(location) if !is_url(location) => builder.issuer_keys(issuer_key_file(Path::new(location))?).build()?,
            remote => builder.issuer_key_source(remote_issuer_keys(remote, &args.issuer, &args.wire).await?).build()?,
        };
        let mut gateway = make(rs)?;
        for scope in &args.require_scope {
            gateway = gateway.require_scope(scope).map_err(|e| usage(format!("--require-scope {scope}: {e}")))?;
        }
        gateway = gateway.log_lines_dropped(logging.dropped_counter());
        gateway = args.bounds.apply(gateway)?;
        gateway = args.dpop.apply(gateway)?;
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| CliError::Failed(format!("--listen {listen}: {e}")))?;
        let local = listener.local_addr().map_err(|e| CliError::Failed(format!("--listen {listen}: {e}")))?;
        let mut banner = format!("jwe-mint {command}: listening on http://{local}\n");
        if let Some(addr) = metrics_listen {
            let metrics = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| CliError::Failed(format!("--metrics-listen {addr}: {e}")))?;
            let local = metrics.local_addr().map_err(|e| CliError::Failed(format!("--metrics-listen {addr}: {e}")))?;
            banner.push_str(&format!("jwe-mint {command}: metrics on http://{local}/metrics\n"));
            let gateway = gateway.clone();
            // Ends with the runtime, when the gateway has shut down.
            tokio::spawn(async move { gateway.serve_metrics(metrics, std::future::pending()).await });
        }
        let _watch = (args.key_poll_ms > 0).then(|| key_file.watch(Duration::from_millis(args.key_poll_ms)));
        let mut hangup = signal(tokio::signal::unix::SignalKind::hangup())?;
        let reload = Arc::clone(&key_file);
        tokio::spawn(async move {
            while hangup.recv().await.is_some() {
                tracing::info!(target: jwe_mint::wire::GATEWAY_TRACING_TARGET, "SIGHUP: reloading the key file");
                // Only asks the key file's reader thread (a file that blocks its read must not
                // block this runtime); the outcome is logged there.
                reload.request_reload();
            }
        });
        let mut terminate = signal(tokio::signal::unix::SignalKind::terminate())?;
        let mut interrupt = signal(tokio::signal::unix::SignalKind::interrupt())?;
        crate::common::write_report(banner.as_bytes());
        let shutdown = async move {
            tokio::select! {
                _ = terminate.recv() => {}
                _ = interrupt.recv() => {}
            }
        };
        gateway.serve(listener, shutdown).await.map_err(|e| CliError::Failed(format!("{command}: {e}")))
    })
}

#[cfg(feature = "network")]
fn signal(kind: tokio::signal::unix::SignalKind) -> Result<tokio::signal::unix::Signal, CliError> {
    tokio::signal::unix::signal(kind).map_err(|e| CliError::Failed(format!("cannot handle signals: {e}")))
}

/// `ADDR:PORT` (an IP address, or a name that resolves).
#[cfg(feature = "network")]
fn resolve_listen(listen: &str) -> Result<SocketAddr, CliError> {
    if let Ok(addr) = listen.parse() {
        return Ok(addr);
    }
    std::net::ToSocketAddrs::to_socket_addrs(listen)
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| usage(format!("--listen {listen}: expected ADDR:PORT")))
}
