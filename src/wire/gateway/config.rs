//! The gateway's configuration: the upstream (`http`, or `https` with its TLS trust anchors), the
//! scopes it requires, whether the token is forwarded, the RFC 9728 documents it serves, the bounds
//! on what a client may hold (`limits.rs`), and the shutdown grace period.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};
use rustls_platform_verifier::BuilderVerifierExt as _;

use super::forward_auth::OriginalRequest;
use super::limits::{positive, Limits, MAX_MAX_HEAD_SIZE, MIN_MAX_HEAD_SIZE};
use super::metrics::{ExternalCounter, Metrics};
use crate::resource_server::ResourceServer;
use crate::wire::resource_server::{BearerLayer, MetadataRouter};
use crate::wire::transport::ConfigError;

/// How long [`Gateway::serve`] waits, after the shutdown signal, for requests in flight.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// How long connecting to the upstream may take.
const UPSTREAM_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A reverse proxy in front of one upstream resource server; see the `gateway` module for the
/// rules. Configure it, then run it with [`Gateway::serve`].
///
/// ```no_run
/// # async fn demo(rs: jwe_mint::resource_server::ResourceServer) -> Result<(), Box<dyn std::error::Error>> {
/// use jwe_mint::wire::Gateway;
///
/// let gateway = Gateway::new(rs, "http://127.0.0.1:8080")?.require_scope("photos.read")?;
/// // Or a resource server on another host, behind TLS, with a private CA:
/// // Gateway::new(rs, "https://rs.internal:8443")?.upstream_ca_file("rs-ca.pem")?
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8443").await?;
/// gateway.serve(listener, async { let _ = tokio::signal::ctrl_c().await; }).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Gateway {
    pub(super) layer: BearerLayer,
    pub(super) rs: Arc<ResourceServer>,
    /// Shared by every clone, so the metrics listener sees what the serve loop records.
    pub(super) metrics: Arc<Metrics>,
    /// The caller's count of dropped log lines, exported with the metrics.
    pub(super) log_drops: Option<ExternalCounter>,
    /// Where authenticated requests go; `None`: forward-auth, answering the proxy instead.
    pub(super) upstream: Option<Upstream>,
    pub(super) forward_token: bool,
    /// `X-Auth-Claims` with the identity (on by default when proxying, off in forward-auth).
    pub(super) claims_header: bool,
    /// Forward-auth: the prefix before the original path in the subrequest's own path.
    pub(super) path_prefix: String,
    /// Forward-auth: where the original request is read.
    pub(super) original_request: OriginalRequest,
    jwks_uri: String,
    pub(super) grace: Duration,
    pub(super) limits: Limits,
    /// The only trust anchors for an https upstream, once [`Gateway::upstream_ca_pem`] added
    /// some; `None`: the platform's trust store.
    upstream_roots: Option<Arc<RootCertStore>>,
}

#[derive(Debug, Clone)]
pub(super) struct Upstream {
    /// `scheme://authority`, as the client connects.
    pub(super) origin: String,
    /// The upstream URL's path without its trailing `/`, prefixed to every request's path.
    pub(super) base_path: String,
    loopback: bool,
    https: bool,
}

impl Gateway {
    /// A gateway that opens tokens with `rs` and forwards authenticated requests to `upstream`
    /// (an absolute `http` or `https` URL without credentials, query or fragment; its path, if
    /// any, is prefixed to every request's path). An `https` upstream's certificate is verified
    /// against the platform's trust store unless [`Gateway::upstream_ca_file`] names the CAs.
    /// The JWK Set is published at `<origin of rs.resource()>/.well-known/jwks.json` (see
    /// [`Gateway::with_jwks_uri`]). Refused: an `upstream` outside these rules
    /// ([`ConfigError::Invalid`] naming `"upstream"`), a resource server whose documents cannot
    /// be served (as [`BearerLayer::new`] and [`MetadataRouter::new`]).
    pub fn new(rs: impl Into<Arc<ResourceServer>>, upstream: &str) -> Result<Gateway, ConfigError> {
        let upstream = parse_upstream(upstream)?;
        Gateway::with_upstream(rs.into(), Some(upstream))
    }

    /// A forward-auth service instead of a proxy: it answers the authorization subrequests of a
    /// proxy that forwards by itself (nginx `auth_request`, Caddy `forward_auth`, Traefik
    /// ForwardAuth, Envoy HTTP `ext_authz`) with 200 and the identity headers, or 401 / 403 with
    /// the challenge; the same rules decide (see the `gateway` module). The original method and
    /// target come from `X-Original-Method` / `X-Original-URI` (nginx), else from
    /// `X-Forwarded-Method` / `X-Forwarded-Uri` (Traefik, Caddy), else from the subrequest's own
    /// method and path after [`Gateway::path_prefix`] (Envoy). Those headers are trusted: serve
    /// it where only the proxy reaches it. Refused as for [`Gateway::new`].
    pub fn forward_auth(rs: impl Into<Arc<ResourceServer>>) -> Result<Gateway, ConfigError> {
        Gateway::with_upstream(rs.into(), None)
    }

    fn with_upstream(rs: Arc<ResourceServer>, upstream: Option<Upstream>) -> Result<Gateway, ConfigError> {
        let resource = url::Url::parse(rs.resource())
            .map_err(|_| ConfigError::invalid("resource", "resource must be a URL"))?;
        let jwks_uri = format!("{}/.well-known/jwks.json", resource.origin().ascii_serialization());
        let layer = BearerLayer::new(Arc::clone(&rs))?;
        let gateway = Gateway {
            layer,
            rs,
            claims_header: upstream.is_some(),
            upstream,
            forward_token: false,
            path_prefix: String::new(),
            original_request: OriginalRequest::Auto,
            jwks_uri,
            grace: DEFAULT_SHUTDOWN_GRACE,
            limits: Limits::default(),
            upstream_roots: None,
            metrics: Arc::default(),
            log_drops: None,
        };
        gateway.metadata()?;
        Ok(gateway)
    }

    /// Requires `scope` on every proxied request (403 `insufficient_scope` without it); may be
    /// called several times (all are required). Refused: a `scope` that is not an RFC 6749 §3.3
    /// scope token ([`ConfigError::Invalid`] naming `"scope"`).
    pub fn require_scope(mut self, scope: &str) -> Result<Gateway, ConfigError> {
        self.layer = self.layer.require_scope(scope)?;
        Ok(self)
    }

    /// Forwards the `Authorization` header to the upstream (removed by default: the upstream gets
    /// the identity headers instead). Allowed for an `https` upstream; refused for a plain `http`
    /// upstream that is not on a loopback address: the token would cross the network in clear
    /// ([`ConfigError::Invalid`] naming `"forward_token"`).
    pub fn forward_token(mut self) -> Result<Gateway, ConfigError> {
        let Some(upstream) = &self.upstream else {
            return Err(ConfigError::invalid("forward_token", "forward-auth forwards nothing"));
        };
        if !upstream.https && !upstream.loopback {
            return Err(ConfigError::invalid(
                "forward_token",
                "forwarding the token to a plain http upstream is allowed only on a loopback address",
            ));
        }
        self.forward_token = true;
        Ok(self)
    }

    /// Accepts only DPoP-bound tokens with their proof (`Authorization: DPoP`, RFC 9449 §7.1):
    /// a Bearer token is 401 with the DPoP challenge, and the metadata says
    /// `dpop_bound_access_tokens_required` (see [`BearerLayer::require_dpop`]). Without it both
    /// are accepted, but a DPoP-bound token only with its proof.
    pub fn require_dpop(mut self) -> Gateway {
        self.layer = self.layer.require_dpop();
        self
    }

    /// Requires the server's nonce in DPoP proofs (RFC 9449 §9; see [`BearerLayer::dpop_nonce`]):
    /// gateways built from one secret accept each other's nonces.
    pub fn dpop_nonce(mut self, nonces: crate::dpop::NonceSource) -> Gateway {
        self.layer = self.layer.dpop_nonce(nonces);
        self
    }

    /// Accepts a DPoP proof's `iat` at most `seconds` in the past (default
    /// [`DEFAULT_MAX_AGE`](crate::dpop::DEFAULT_MAX_AGE)); a proof is remembered that long.
    /// Refused: zero ([`ConfigError::Invalid`] naming `"dpop_max_age"`).
    pub fn dpop_max_age(mut self, seconds: u32) -> Result<Gateway, ConfigError> {
        if seconds == 0 {
            return Err(ConfigError::invalid("dpop_max_age", "dpop_max_age must be at least 1 second"));
        }
        let validation = self.layer.dpop_validation_settings().with_max_age(seconds);
        self.layer = self.layer.dpop_validation(validation);
        Ok(self)
    }

    /// Remembers used DPoP proofs in `store` (default: this process's memory; replicas need a
    /// shared store). See [`BearerLayer::dpop_replay_store`].
    pub fn dpop_replay_store(mut self, store: Arc<dyn crate::dpop::ReplayStore>) -> Gateway {
        self.layer = self.layer.dpop_replay_store(store);
        self
    }

    /// Trusts only the CA certificates in this PEM data (one or more `CERTIFICATE` blocks) for
    /// the `https` upstream's certificate, instead of the platform's trust store; may be called
    /// several times (all are trusted). Refused ([`ConfigError::CaPem`]) for an `http` upstream
    /// (it would be unused), and for data without a certificate usable as a trust anchor.
    pub fn upstream_ca_pem(self, pem: &[u8]) -> Result<Gateway, ConfigError> {
        self.add_upstream_roots(pem).map_err(ConfigError::CaPem)
    }

    /// Trusts only the CA certificates in this PEM file for the `https` upstream's certificate,
    /// as [`Gateway::upstream_ca_pem`] (the file is read once, here); refused as
    /// [`ConfigError::CaFile`].
    pub fn upstream_ca_file(self, path: impl AsRef<Path>) -> Result<Gateway, ConfigError> {
        let path = path.as_ref();
        let err = |reason: String| ConfigError::CaFile { path: path.display().to_string(), reason };
        let pem = std::fs::read(path).map_err(|e| err(e.to_string()))?;
        self.add_upstream_roots(&pem).map_err(err)
    }

    fn add_upstream_roots(mut self, pem: &[u8]) -> Result<Gateway, String> {
        if !self.upstream.as_ref().is_some_and(|u| u.https) {
            return Err("only an https upstream has a certificate to verify".into());
        }
        let mut roots = self.upstream_roots.as_deref().cloned().unwrap_or_else(RootCertStore::empty);
        let mut found = false;
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| format!("not PEM: {e}"))?;
            roots.add(cert).map_err(|e| match e {
                // rustls words this one for peers ("invalid peer certificate").
                rustls::Error::InvalidCertificate(e) => format!("not a usable CA certificate ({e:?})"),
                e => format!("not a usable CA certificate ({e})"),
            })?;
            found = true;
        }
        if !found {
            return Err("no CERTIFICATE block found".into());
        }
        self.upstream_roots = Some(Arc::new(roots));
        Ok(self)
    }

    /// The connector to the upstream: plain TCP for an `http` upstream; for an `https` one,
    /// rustls with the aws-lc-rs provider, its safe default protocol versions, no client
    /// certificate, and the configured CAs or the platform verifier. The server name is the
    /// URI's host, i.e. the upstream URL's (`Host` is not consulted).
    pub(super) fn upstream_connector(&self) -> Result<HttpsConnector<HttpConnector>, ConfigError> {
        let tls_err = |e: rustls::Error| ConfigError::Client(format!("TLS to the upstream: {e}"));
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(tls_err)?;
        let https = self.upstream.as_ref().is_some_and(|u| u.https);
        let tls = match (&self.upstream_roots, https) {
            (Some(roots), _) => builder.with_root_certificates(Arc::clone(roots)),
            (None, true) => builder.with_platform_verifier().map_err(|e| {
                ConfigError::Client(format!("the platform's trust store for the https upstream: {e}"))
            })?,
            // Never used: every request goes to the upstream's `http` origin.
            (None, false) => builder.with_root_certificates(RootCertStore::empty()),
        };
        let mut http = HttpConnector::new();
        http.set_connect_timeout(Some(UPSTREAM_CONNECT_TIMEOUT));
        http.set_nodelay(true);
        http.enforce_http(false);
        let builder = hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(tls.with_no_client_auth());
        let builder = if https { builder.https_only() } else { builder.https_or_http() };
        Ok(builder.enable_http1().wrap_connector(http))
    }

    /// Publishes the JWK Set at `jwks_uri` instead (its path must reach this gateway); refused as
    /// for [`MetadataRouter::new`].
    pub fn with_jwks_uri(mut self, jwks_uri: &str) -> Result<Gateway, ConfigError> {
        let previous = std::mem::replace(&mut self.jwks_uri, jwks_uri.to_owned());
        if let Err(e) = self.metadata() {
            self.jwks_uri = previous;
            return Err(e);
        }
        Ok(self)
    }

    /// How long [`Gateway::serve`] lets requests in flight finish after the shutdown signal
    /// (default [`DEFAULT_SHUTDOWN_GRACE`]); then the connections left are closed and `serve`
    /// returns. Zero closes them at once.
    pub fn with_shutdown_grace(mut self, grace: Duration) -> Gateway {
        self.grace = grace;
        self
    }

    /// Exports `dropped()` (the log lines the caller's log writer dropped because it did not keep
    /// up) as `jwe_mint_log_lines_dropped_total` with the metrics ([`Gateway::serve_metrics`]).
    pub fn log_lines_dropped(mut self, dropped: impl Fn() -> u64 + Send + Sync + 'static) -> Gateway {
        self.log_drops = Some(Arc::new(dropped));
        self
    }

    /// At most `n` connections open at once (default
    /// [`DEFAULT_MAX_CONNECTIONS`](super::DEFAULT_MAX_CONNECTIONS)): at the cap the gateway stops
    /// accepting, and new connections wait in the listen backlog until one closes; accepted
    /// connections are served as usual. Refused: 0 ([`ConfigError::Invalid`] naming
    /// `"max_connections"`).
    pub fn max_connections(mut self, n: usize) -> Result<Gateway, ConfigError> {
        if n == 0 {
            return Err(ConfigError::invalid("max_connections", "max_connections must be at least 1"));
        }
        self.limits.max_connections = n;
        Ok(self)
    }

    /// The largest request head (request line and header fields) in bytes (default
    /// [`DEFAULT_MAX_HEAD_SIZE`](super::DEFAULT_MAX_HEAD_SIZE)); a longer head is 431 (RFC 6585
    /// §5) and the connection closes. Refused: a size outside
    /// [`MIN_MAX_HEAD_SIZE`]..=[`MAX_MAX_HEAD_SIZE`]
    /// ([`ConfigError::Invalid`] naming `"max_head_size"`).
    pub fn max_head_size(mut self, bytes: usize) -> Result<Gateway, ConfigError> {
        if !(MIN_MAX_HEAD_SIZE..=MAX_MAX_HEAD_SIZE).contains(&bytes) {
            return Err(ConfigError::invalid(
                "max_head_size",
                format!("max_head_size must be between {MIN_MAX_HEAD_SIZE} and {MAX_MAX_HEAD_SIZE} bytes"),
            ));
        }
        self.limits.max_head = bytes;
        Ok(self)
    }

    /// How long a client may take to send a whole request head (default
    /// [`DEFAULT_HEADER_TIMEOUT`](super::DEFAULT_HEADER_TIMEOUT)), from the connection's start for
    /// its first request and from the head's first byte for later ones; then the connection
    /// closes. Refused: zero ([`ConfigError::Invalid`] naming `"header_timeout"`).
    pub fn header_timeout(mut self, timeout: Duration) -> Result<Gateway, ConfigError> {
        self.limits.header_timeout = positive("header_timeout", timeout)?;
        Ok(self)
    }

    /// How long a request body may stop arriving (default
    /// [`DEFAULT_BODY_TIMEOUT`](super::DEFAULT_BODY_TIMEOUT)), whether it streams to the upstream
    /// or is a form body the bearer layer reads; then the connection closes and the upstream
    /// request is aborted. Refused: zero ([`ConfigError::Invalid`] naming `"body_timeout"`).
    pub fn body_timeout(mut self, timeout: Duration) -> Result<Gateway, ConfigError> {
        self.limits.body_timeout = positive("body_timeout", timeout)?;
        Ok(self)
    }

    /// How long writing a response may make no progress, a client that stops reading (default
    /// [`DEFAULT_WRITE_TIMEOUT`](super::DEFAULT_WRITE_TIMEOUT)); then the connection closes and
    /// the upstream response is dropped. Refused: zero ([`ConfigError::Invalid`] naming
    /// `"write_timeout"`).
    pub fn write_timeout(mut self, timeout: Duration) -> Result<Gateway, ConfigError> {
        self.limits.write_timeout = positive("write_timeout", timeout)?;
        Ok(self)
    }

    /// How long a kept-alive connection may wait for its next request (default
    /// [`DEFAULT_IDLE_TIMEOUT`](super::DEFAULT_IDLE_TIMEOUT)); then it closes. Refused: zero
    /// ([`ConfigError::Invalid`] naming `"idle_timeout"`).
    pub fn idle_timeout(mut self, timeout: Duration) -> Result<Gateway, ConfigError> {
        self.limits.idle_timeout = positive("idle_timeout", timeout)?;
        Ok(self)
    }

    /// Whether the identity answer carries `X-Auth-Claims` (base64url of the claims JSON): on by
    /// default when proxying; off by default in forward-auth, where a large header becomes a 500
    /// behind nginx's default buffers.
    pub fn claims_header(mut self, on: bool) -> Gateway {
        self.claims_header = on;
        self
    }

    /// Forward-auth: the prefix the proxy puts before the original path when it names the
    /// original request by the subrequest's own method and path (Envoy's `ext_authz`
    /// `path_prefix`); a subrequest outside it is 401 `invalid_request`. Refused: a proxy gateway
    /// (it has no use for one), or a prefix that is not `/` followed by path characters without a
    /// trailing `/` ([`ConfigError::Invalid`] naming `"path_prefix"`).
    pub fn path_prefix(mut self, prefix: &str) -> Result<Gateway, ConfigError> {
        let refused = |reason: &str| ConfigError::invalid("path_prefix", reason);
        if self.upstream.is_some() {
            return Err(refused("a path prefix applies to forward-auth only"));
        }
        let path_char = |c: char| c.is_ascii_alphanumeric() || "/-._~!$&'()*+,;=:@%".contains(c);
        if !prefix.starts_with('/') || prefix.ends_with('/') || !prefix.chars().all(path_char) {
            return Err(refused("path_prefix must be /segment[/segment…] without a trailing /"));
        }
        self.path_prefix = prefix.to_owned();
        Ok(self)
    }

    /// Forward-auth: where the original request is read (default [`OriginalRequest::Auto`]).
    /// Name the one source your proxy sets, so that no header a client adds can choose what is
    /// judged. Refused for a proxy gateway ([`ConfigError::Invalid`] naming
    /// `"original_request"`).
    pub fn original_request(mut self, source: OriginalRequest) -> Result<Gateway, ConfigError> {
        if self.upstream.is_some() {
            return Err(ConfigError::invalid(
                "original_request",
                "the original request is read by forward-auth only",
            ));
        }
        self.original_request = source;
        Ok(self)
    }

    /// The URL the JWK Set is published at.
    pub fn jwks_uri(&self) -> &str {
        &self.jwks_uri
    }

    /// The RFC 9728 documents from the resource server's current keys (so they follow a key file
    /// reload).
    pub(super) fn metadata(&self) -> Result<MetadataRouter, ConfigError> {
        let keys = self.rs.public_keys()?;
        MetadataRouter::new(self.rs.resource(), &self.jwks_uri, &keys)?
            .authorization_server(self.rs.issuer())?
            // The scopes it requires are the ones it publishes.
            .scopes_supported(self.layer.required_scopes())
            .map(|m| m.dpop(self.layer.dpop_signing_algs(), self.layer.requires_dpop()))
    }
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("layer", &self.layer)
            .field("upstream", &self.upstream)
            .field("forward_token", &self.forward_token)
            .field("claims_header", &self.claims_header)
            .field("path_prefix", &self.path_prefix)
            .field("original_request", &self.original_request)
            .field("jwks_uri", &self.jwks_uri)
            .field("grace", &self.grace)
            .field("upstream_ca", &self.upstream_roots.as_ref().map(|r| r.len()))
            .field("metrics", &self.metrics)
            .finish_non_exhaustive()
    }
}

fn parse_upstream(upstream: &str) -> Result<Upstream, ConfigError> {
    let refused = |reason: &str| ConfigError::invalid("upstream", reason);
    let url = url::Url::parse(upstream).map_err(|_| refused("upstream must be an absolute URL"))?;
    let https = match url.scheme() {
        "http" => false,
        "https" => true,
        _ => return Err(refused("upstream must be an http or https URL")),
    };
    if !url.username().is_empty() || url.password().is_some() {
        return Err(refused("upstream must not carry credentials"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(refused("upstream must not have a query or fragment"));
    }
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => return Err(refused("upstream has no host")),
    };
    let origin = url.origin().ascii_serialization();
    let base_path = url.path().trim_end_matches('/').to_owned();
    Ok(Upstream { origin, base_path, loopback, https })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstreams_are_checked() {
        assert!(parse_upstream("http://127.0.0.1:8080").unwrap().loopback);
        assert!(!parse_upstream("http://10.0.0.1:8080").unwrap().loopback);
        assert_eq!(parse_upstream("http://localhost:1/api/").unwrap().base_path, "/api");
        for bad in ["ftp://x", "http://u:p@x", "http://x/?q", "x", "http://x#f"] {
            let e = parse_upstream(bad).unwrap_err();
            assert!(matches!(e, ConfigError::Invalid { option: "upstream", .. }), "{bad}: {e:?}");
        }
    }

    #[test]
    fn https_upstreams_are_accepted_with_the_same_rules() {
        let up = parse_upstream("https://rs.internal:8443/api/").unwrap();
        assert!(up.https && !up.loopback);
        assert_eq!(up.origin, "https://rs.internal:8443");
        assert_eq!(up.base_path, "/api");
        // The default port is left out of the origin, so the URI's authority is the host.
        assert_eq!(parse_upstream("https://rs.internal:443").unwrap().origin, "https://rs.internal");
        assert!(parse_upstream("https://[::1]:8443").unwrap().loopback);
        assert!(!parse_upstream("http://rs.internal").unwrap().https);
        for bad in ["https://u:p@x", "https://u@x", "https://x/?q", "https://x/#f", "https://"] {
            let e = parse_upstream(bad).unwrap_err();
            assert!(matches!(e, ConfigError::Invalid { option: "upstream", .. }), "{bad}: {e:?}");
        }
    }
}
