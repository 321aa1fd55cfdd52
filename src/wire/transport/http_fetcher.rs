//! [`HttpFetcher`], the [`Fetcher`] on `reqwest` + rustls, and its [`HttpFetcherBuilder`]. The only
//! file that names `reqwest`: its types never reach the API, whose seam is the `http` crate.

use std::error::Error as StdError;
use std::fmt;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::OnceCell;
use url::{Host, Url};

use super::address::{check_destination, is_non_public, public_addresses, Refused};
use super::error::{ConfigError, WireError};
use super::fetcher::{request_url, FetchFuture, Fetcher, PublicAddressesOnly};

/// Default limit for establishing the TCP connection.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Default limit for the whole request: connect, TLS, headers and body.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default limit for a response body (1 MiB); reading stops past it.
pub const DEFAULT_MAX_BODY: usize = 1 << 20;

/// Configures an [`HttpFetcher`]. The defaults are the safe ones: connect 2 s, whole request 5 s,
/// body 1 MiB, `https` only, the platform's trust store, no proxy, no redirects.
#[derive(Clone)]
pub struct HttpFetcherBuilder {
    connect_timeout: Duration,
    timeout: Duration,
    max_body: usize,
    extra_roots: Vec<reqwest::Certificate>,
    platform_roots: bool,
    allow_http_loopback: bool,
    refuse_private_addresses: bool,
}

impl Default for HttpFetcherBuilder {
    fn default() -> Self {
        HttpFetcherBuilder {
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            timeout: DEFAULT_TIMEOUT,
            max_body: DEFAULT_MAX_BODY,
            extra_roots: Vec::new(),
            platform_roots: true,
            allow_http_loopback: false,
            refuse_private_addresses: false,
        }
    }
}

impl fmt::Debug for HttpFetcherBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpFetcherBuilder")
            .field("connect_timeout", &self.connect_timeout)
            .field("timeout", &self.timeout)
            .field("max_body", &self.max_body)
            .field("extra_roots", &self.extra_roots.len())
            .field("platform_roots", &self.platform_roots)
            .field("allow_http_loopback", &self.allow_http_loopback)
            .field("refuse_private_addresses", &self.refuse_private_addresses)
            .finish()
    }
}

impl HttpFetcherBuilder {
    /// The default configuration.
    pub fn new() -> HttpFetcherBuilder {
        HttpFetcherBuilder::default()
    }

    /// Limit for establishing the TCP connection (default 2 s).
    pub fn connect_timeout(mut self, limit: Duration) -> Self {
        self.connect_timeout = limit;
        self
    }

    /// Limit for the whole request, body included (default 5 s).
    pub fn timeout(mut self, limit: Duration) -> Self {
        self.timeout = limit;
        self
    }

    /// Largest accepted body in bytes (default 1 MiB). Reading stops as soon as it is exceeded,
    /// whatever `Content-Length` said.
    pub fn max_body_bytes(mut self, limit: usize) -> Self {
        self.max_body = limit;
        self
    }

    /// Also trusts the CA certificates in this PEM data (one or more `CERTIFICATE` blocks).
    pub fn add_ca_pem(mut self, pem: &[u8]) -> Result<Self, ConfigError> {
        let certs = parse_pem(pem).map_err(ConfigError::CaPem)?;
        self.extra_roots.extend(certs);
        Ok(self)
    }

    /// Also trusts the CA certificates in this PEM file.
    pub fn add_ca_file(mut self, path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        let err = |reason: String| ConfigError::CaFile { path: path.display().to_string(), reason };
        let pem = std::fs::read(path).map_err(|e| err(e.to_string()))?;
        self.extra_roots.extend(parse_pem(&pem).map_err(err)?);
        Ok(self)
    }

    /// Whether the platform's trust store is used besides the added CA certificates (default
    /// `true`). With `false` only the added certificates are trusted (none added: nothing is).
    pub fn platform_roots(mut self, on: bool) -> Self {
        self.platform_roots = on;
        self
    }

    /// Allows plain `http` URLs whose host is a loopback address (`127.0.0.0/8`, `::1`,
    /// `localhost`), e.g. for a key server on the same machine or tests. Other `http` URLs stay
    /// refused. Default off.
    pub fn allow_http_loopback(mut self, on: bool) -> Self {
        self.allow_http_loopback = on;
        self
    }

    /// Refuses to connect to loopback, private, link-local, unique-local, unspecified, broadcast and
    /// other non-public addresses (see [`is_non_public`]), judged on the addresses a name resolves
    /// to: only the permitted ones are connected to, so DNS rebinding cannot slip past. IP-literal
    /// hosts are checked before any connection. Turn it on for URLs learned from responses
    /// (server-side request forgery, RFC 9728 §7.7). Default off.
    pub fn refuse_private_addresses(mut self, on: bool) -> Self {
        self.refuse_private_addresses = on;
        self
    }

    /// Builds the fetcher. TLS is rustls (its aws-lc-rs provider), without OpenSSL.
    pub fn build(self) -> Result<HttpFetcher, ConfigError> {
        let client = self.client(self.refuse_private_addresses).map_err(ConfigError::Client)?;
        // With the option on, every request already refuses non-public addresses: the one client
        // serves the requests that ask for it too.
        let public_only = if self.refuse_private_addresses { Some(client.clone()) } else { None };
        Ok(HttpFetcher {
            client,
            public_only: Arc::new(OnceCell::new_with(public_only)),
            settings: Arc::new(self),
        })
    }

    /// A `reqwest` client with these settings; with `public_only`, its resolver keeps only public
    /// addresses.
    fn client(&self, public_only: bool) -> Result<reqwest::Client, String> {
        let mut b = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            // A proxy would be the address connected to, defeating the address check; bring your
            // own Fetcher to use one.
            .no_proxy()
            .referer(false)
            .connect_timeout(self.connect_timeout)
            .timeout(self.timeout)
            .user_agent(concat!("jwe-mint/", env!("CARGO_PKG_VERSION")));
        let roots = self.extra_roots.clone();
        b = if self.platform_roots {
            if roots.is_empty() {
                b
            } else {
                b.tls_certs_merge(roots)
            }
        } else {
            b.tls_certs_only(roots)
        };
        if public_only {
            b = b.dns_resolver(Arc::new(PublicOnlyResolver));
        }
        b.build().map_err(|e| deepest_reason(&e))
    }
}

fn parse_pem(pem: &[u8]) -> Result<Vec<reqwest::Certificate>, String> {
    let certs = reqwest::Certificate::from_pem_bundle(pem).map_err(|e| deepest_reason(&e))?;
    if certs.is_empty() {
        return Err("no CERTIFICATE block found".into());
    }
    Ok(certs)
}

/// The default [`Fetcher`]: `reqwest` 0.13 with rustls, configured by [`HttpFetcherBuilder`].
/// Every request it sends, whatever its method, keeps the same limits: the URL checks of
/// [`check_url`](Self::check_url), the connect and whole-request timeouts, the body limit, no
/// redirects (a 3xx is [`WireError::Redirect`]), no proxy, and non-public addresses refused on
/// the address connected to when the builder or the request
/// ([`PublicAddressesOnly`]) asks for it. Cloning is cheap (the connection pool is shared).
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use jwe_mint::wire::{Fetcher, HttpFetcher};
/// let fetcher = HttpFetcher::builder().add_ca_file("ca.pem")?.build()?;
/// let url = url::Url::parse("https://as.example.com/jwks.json")?;
/// let response = fetcher.get(&url).await?;
/// assert_eq!(response.status(), 200);
///
/// let post = http::Request::post("https://as.example.com/token")
///     .header("content-type", "application/x-www-form-urlencoded")
///     .body(bytes::Bytes::from_static(b"grant_type=client_credentials"))?;
/// let response = fetcher.send(post).await?;
/// # let _ = response; Ok(()) }
/// ```
#[derive(Clone)]
pub struct HttpFetcher {
    client: reqwest::Client,
    /// The client whose resolver keeps only public addresses, for requests that carry
    /// [`PublicAddressesOnly`]: built on the first such request (its own connection pool, so a
    /// connection to a non-public address is never reused for one).
    public_only: Arc<OnceCell<reqwest::Client>>,
    settings: Arc<HttpFetcherBuilder>,
}

impl fmt::Debug for HttpFetcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.settings;
        f.debug_struct("HttpFetcher")
            .field("connect_timeout", &s.connect_timeout)
            .field("timeout", &s.timeout)
            .field("max_body", &s.max_body)
            .field("allow_http_loopback", &s.allow_http_loopback)
            .field("refuse_private_addresses", &s.refuse_private_addresses)
            .finish_non_exhaustive()
    }
}

impl HttpFetcher {
    /// A builder with the safe defaults.
    pub fn builder() -> HttpFetcherBuilder {
        HttpFetcherBuilder::new()
    }

    /// A fetcher with the defaults (platform trust store, https only).
    pub fn new() -> Result<HttpFetcher, ConfigError> {
        HttpFetcherBuilder::new().build()
    }

    /// The checks made before any connection: no credentials in the URL, `https` (or `http` to a
    /// loopback host when allowed), and, when non-public addresses are refused, an IP-literal host
    /// that is public.
    pub fn check_url(&self, url: &Url) -> Result<(), WireError> {
        self.check(url, self.settings.refuse_private_addresses)
    }

    /// [`check_url`](Self::check_url), the literal host judged when `public_only`.
    fn check(&self, url: &Url, public_only: bool) -> Result<(), WireError> {
        let host = check_destination(url, self.settings.allow_http_loopback)?;
        if public_only {
            // The resolver is not consulted for IP literals, so they are judged here.
            let literal = match host {
                Host::Ipv4(a) => Some(IpAddr::V4(a)),
                Host::Ipv6(a) => Some(IpAddr::V6(a)),
                Host::Domain(_) => None,
            };
            if let Some(addr) = literal.filter(|a| is_non_public(*a)) {
                return Err(WireError::AddressRefused { url: crate::untrusted::url(&url), addr });
            }
        }
        Ok(())
    }

    /// The client for a request: the public-only one when asked for (built once, here).
    async fn client_for(&self, url: &Url, public_only: bool) -> Result<&reqwest::Client, WireError> {
        if !public_only {
            return Ok(&self.client);
        }
        self.public_only
            .get_or_try_init(|| std::future::ready(self.settings.client(true)))
            .await
            .map_err(|reason| WireError::Transport { url: crate::untrusted::url(&url), reason })
    }

    /// Sends a checked request and reads the answer within the limits; 3xx is refused.
    async fn execute(
        &self,
        url: &Url,
        public_only: bool,
        request: reqwest::Request,
    ) -> Result<http::Response<Bytes>, WireError> {
        let client = self.client_for(url, public_only).await?;
        let mut response = client.execute(request).await.map_err(|e| self.map_error(url, &e))?;
        let status = response.status();
        if status.is_redirection() {
            return Err(WireError::Redirect { url: crate::untrusted::url(&url), status: status.as_u16() });
        }
        let max_body = self.settings.max_body;
        let too_large = || WireError::BodyTooLarge { url: crate::untrusted::url(&url), limit: max_body };
        // A declared length over the limit is refused without reading; a smaller one is not trusted.
        if response.content_length().is_some_and(|n| n > max_body as u64) {
            return Err(too_large());
        }
        let headers = std::mem::take(response.headers_mut());
        let version = response.version();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| self.map_error(url, &e))? {
            if chunk.len() > max_body - body.len() {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        let mut answer = http::Response::new(Bytes::from(body));
        *answer.status_mut() = status;
        *answer.version_mut() = version;
        *answer.headers_mut() = headers;
        Ok(answer)
    }

    fn map_error(&self, url: &Url, e: &reqwest::Error) -> WireError {
        let url = crate::untrusted::url(url);
        let mut node: Option<&(dyn StdError + 'static)> = Some(e);
        while let Some(err) = node {
            if let Some(refused) = find_in(err, |x| x.downcast_ref::<Refused>().map(|r| r.0)) {
                return WireError::AddressRefused { url, addr: refused };
            }
            if let Some(reason) = find_in(err, |x| x.downcast_ref::<rustls::Error>().map(|t| t.to_string())) {
                return WireError::Tls { url, reason };
            }
            node = err.source();
        }
        if e.is_timeout() {
            let s = &self.settings;
            let after = if e.is_connect() { s.connect_timeout } else { s.timeout };
            return WireError::Timeout { url, after };
        }
        let reason = deepest_reason(e);
        if e.is_connect() {
            WireError::Connect { url, reason }
        } else {
            WireError::Transport { url, reason }
        }
    }
}

impl Fetcher for HttpFetcher {
    fn send(&self, request: http::Request<Bytes>) -> FetchFuture<'_> {
        Box::pin(async move {
            // Every check is made on the URL that is sent, before any connection.
            let url = request_url(request.uri())?;
            let public_only = self.settings.refuse_private_addresses
                || request.extensions().get::<PublicAddressesOnly>().is_some();
            self.check(&url, public_only)?;
            // Method, headers and body are the caller's; the version, the URL and every limit are
            // this fetcher's.
            let (parts, body) = request.into_parts();
            let mut outgoing = reqwest::Request::new(parts.method, url.clone());
            *outgoing.headers_mut() = parts.headers;
            *outgoing.body_mut() = Some(body.into());
            // reqwest's own timeout covers the same span; this one makes the bound independent of it.
            let timeout = self.settings.timeout;
            match tokio::time::timeout(timeout, self.execute(&url, public_only, outgoing)).await {
                Ok(result) => result,
                Err(_) => Err(WireError::Timeout { url: crate::untrusted::url(&url), after: timeout }),
            }
        })
    }
}

/// The resolver of the public-only client: only public addresses reach the connector.
struct PublicOnlyResolver;

impl reqwest::dns::Resolve for PublicOnlyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let public = public_addresses(&host).await?;
            Ok(Box::new(public.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Looks at `err` and, through `io::Error`s wrapping other errors, at those (an `io::Error`'s
/// `source()` skips the error it wraps).
fn find_in<T>(
    err: &(dyn StdError + 'static),
    f: impl Fn(&(dyn StdError + 'static)) -> Option<T>,
) -> Option<T> {
    let mut err = err;
    loop {
        if let Some(found) = f(err) {
            return Some(found);
        }
        err = err.downcast_ref::<std::io::Error>()?.get_ref()?;
    }
}

/// The innermost error's message (reqwest's outer messages only repeat the URL).
fn deepest_reason(e: &(dyn StdError + 'static)) -> String {
    let mut last = e;
    while let Some(next) = last.source() {
        last = next;
    }
    last.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_checks_before_any_connection() {
        let strict = HttpFetcher::builder().refuse_private_addresses(true).build().unwrap();
        let u = |s: &str| Url::parse(s).unwrap();
        assert!(matches!(
            strict.check_url(&u("https://user:pw@as.example/jwks")),
            Err(WireError::CredentialsInUrl { url }) if !url.contains("pw")
        ));
        assert!(matches!(
            strict.check_url(&u("ftp://as.example/")),
            Err(WireError::UnsupportedScheme { .. })
        ));
        assert!(matches!(strict.check_url(&u("http://127.0.0.1/")), Err(WireError::HttpNotAllowed { .. })));
        assert!(matches!(
            strict.check_url(&u("https://[::ffff:10.0.0.1]/")),
            Err(WireError::AddressRefused { addr, .. }) if addr == "::ffff:a00:1".parse::<IpAddr>().unwrap()
        ));
        assert!(strict.check_url(&u("https://as.example/")).is_ok());
        let loopback = HttpFetcher::builder().allow_http_loopback(true).build().unwrap();
        assert!(loopback.check_url(&u("http://127.0.0.1:8080/")).is_ok());
        assert!(loopback.check_url(&u("http://[::1]/")).is_ok());
        assert!(loopback.check_url(&u("http://localhost/")).is_ok());
        assert!(matches!(
            loopback.check_url(&u("http://as.example/")),
            Err(WireError::HttpNotLoopback { .. })
        ));
        assert!(matches!(loopback.check_url(&u("http://10.0.0.1/")), Err(WireError::HttpNotLoopback { .. })));
    }
}
