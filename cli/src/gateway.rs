//! `jwe-mint gateway`: a reverse proxy that lets only requests with a valid access token reach
//! an upstream resource server written in any language (`jwe_mint::wire::Gateway`).

use std::path::PathBuf;

use crate::common::{CliError, WireArgs};
#[cfg(feature = "network")]
use {
    crate::common::{is_url, issuer_key_file, remote_issuer_keys, usage},
    jwe_mint::jwk::JwkSource,
    jwe_mint::resource_server::ResourceServer,
    jwe_mint::wire::{Gateway, KeyFile},
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
    /// Address and port to listen on (plain HTTP/1.1; put TLS in front if clients are remote)
    #[arg(long, value_name = "ADDR:PORT")]
    listen: String,
    /// The resource server requests are forwarded to: an http URL (next to the gateway) or an
    /// https URL (its certificate verified for the URL's host); its path prefixes every path
    #[arg(long, value_name = "URL")]
    upstream: String,
    /// Trust only the CA certificates of this PEM file for an https --upstream (default: the
    /// platform's trust store)
    #[arg(long, value_name = "PEM")]
    upstream_ca_file: Option<PathBuf>,
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
    /// A scope every request needs (repeatable: all are needed)
    #[arg(long, value_name = "S")]
    require_scope: Vec<String>,
    /// Forward the Authorization header to the upstream (refused for a non-loopback http upstream;
    /// allowed for https)
    #[arg(long)]
    forward_token: bool,
    /// Size of the opened-token cache; 0 turns it off
    #[arg(long, value_name = "N", default_value_t = DEFAULT_CACHE)]
    cache: usize,
    /// How often the --key file is checked for changes, in milliseconds; 0: only on SIGHUP
    #[arg(long, value_name = "MS", default_value_t = KEY_FILE_POLL_MS, hide = true)]
    key_poll_ms: u64,
}

/// Without the network feature the command says how to get it.
#[cfg(not(feature = "network"))]
pub(crate) fn run(_args: Args) -> Result<(), CliError> {
    Err(crate::common::needs_network("gateway"))
}

/// Runs the gateway until SIGTERM or SIGINT, then lets requests in flight finish.
#[cfg(feature = "network")]
pub(crate) fn run(args: Args) -> Result<(), CliError> {
    let listen = resolve_listen(&args.listen)?;
    let key_file = Arc::new(
        KeyFile::open(&args.key)
            .map_err(|e| CliError::Failed(format!("--key {}: {e}", args.key.display())))?,
    );
    init_logging();
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
        for scope in &args.require_scope {
            gateway = gateway.require_scope(scope).map_err(|e| usage(format!("--require-scope {scope}: {e}")))?;
        }
        if args.forward_token {
            gateway = gateway.forward_token().map_err(|e| usage(format!("--forward-token: {e}")))?;
        }
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| CliError::Failed(format!("--listen {listen}: {e}")))?;
        let local = listener.local_addr().map_err(|e| CliError::Failed(format!("--listen {listen}: {e}")))?;
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
        crate::common::write_report(format!("jwe-mint gateway: listening on http://{local}\n").as_bytes());
        let shutdown = async move {
            tokio::select! {
                _ = terminate.recv() => {}
                _ = interrupt.recv() => {}
            }
        };
        gateway.serve(listener, shutdown).await.map_err(|e| CliError::Failed(format!("gateway: {e}")))
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

/// Log lines (key file reloads, upstream failures) on stderr; `RUST_LOG`-style filtering is not
/// needed: info and above.
#[cfg(feature = "network")]
fn init_logging() {
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(tracing::Level::INFO)
        .with_target(true)
        .try_init();
}
