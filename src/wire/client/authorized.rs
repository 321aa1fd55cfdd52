//! [`AuthorizedClient`]: requests to resource servers with the token the [`TokenBook`] gives
//! their URL; on a 401, the resource server's authorization server is found by itself (RFC 9728
//! §5: `resource_metadata` in `WWW-Authenticate`, as the MCP authorization spec uses it).

use bytes::Bytes;
use url::Url;

use super::challenge;
use super::dpop::{DpopState, DPOP};
use super::error::ClientError;
use super::token_book::{BearerToken, TokenBook};
use super::url_match::{covers_url, normalise, RequestUrl};
use crate::wire::tracing_targets::CLIENT_TRACING_TARGET;
use crate::wire::transport::{
    check_destination, get_request, is_non_public, request_url, require_ok, well_known_url,
    PublicAddressesOnly, WireError, PROTECTED_RESOURCE,
};

/// An HTTP client for resource servers on top of a [`TokenBook`]:
///
/// 1. a request gets `Authorization: Bearer` with the token the book gives its URL, and none when
///    no resource covers it (an `Authorization` or `DPoP` header on the request is removed); a
///    DPoP-bound token goes as `Authorization: DPoP` with a fresh proof of the book's key (RFC
///    9449 §7.1: `htm` the method, `htu` the URL without query and fragment, `ath` the token's
///    hash, and the origin's last `DPoP-Nonce`). A 401 `DPoP error="use_dpop_nonce"` with a new
///    `DPoP-Nonce` is sent again once with that nonce (§9) before anything else;
/// 2. on a 401 it takes the `resource_metadata` URL of the `Bearer` challenge (RFC 9728 §5.1),
///    which must be on the request's origin; without one it tries
///    `/.well-known/oauth-protected-resource/<path>`, then the root one;
/// 3. it fetches that document through the book's [`Fetcher`](crate::wire::Fetcher), marked
///    [`PublicAddressesOnly`] unless the request's host is a non-public address (RFC 9728 §7.7);
/// 4. the document's `resource` must equal the request URL or be a same-origin path-segment
///    prefix of it (RFC 9728 §3.3 asks identity; the prefix is a deliberate relaxation, as the
///    MCP SDKs make it), and its `authorization_servers` must list the book's issuer;
/// 5. it obtains a token for that resource and retries once, with the same method, headers and
///    body; a second 401 is [`ClientError::StillUnauthorized`].
///
/// Every request, the metadata GETs included, goes through the book's
/// [`Fetcher`](crate::wire::Fetcher), so its limits hold for all of them (for an
/// [`HttpFetcher`](crate::wire::HttpFetcher): `https` only, timeouts, body limit, no redirects).
/// Responses of every status but 401 (and the retry's) are returned; a redirect is never
/// followed ([`WireError::Redirect`]).
///
/// ```no_run
/// # async fn demo(book: jwe_mint::wire::TokenBook) -> Result<(), Box<dyn std::error::Error>> {
/// use jwe_mint::wire::AuthorizedClient;
/// let client = AuthorizedClient::new(book);
/// let response = client.get("https://photos.example.com/albums").await?;
/// println!("{}", String::from_utf8_lossy(response.body()));
///
/// let upload = client
///     .request(http::Method::PUT, "https://photos.example.com/albums/1/title")
///     .header("content-type", "text/plain")
///     .body(bytes::Bytes::from_static(b"Holidays"))?;
/// let response = client.send(upload).await?;
/// # let _ = response; Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct AuthorizedClient {
    book: TokenBook,
}

impl AuthorizedClient {
    /// A client sending the tokens of `book`, through its [`Fetcher`](crate::wire::Fetcher).
    pub fn new(book: TokenBook) -> AuthorizedClient {
        AuthorizedClient { book }
    }

    /// The token book.
    pub fn book(&self) -> &TokenBook {
        &self.book
    }

    /// An `http` request builder for `method` and `url`, to finish (headers, a `Bytes` body)
    /// and give to [`send`](Self::send).
    pub fn request(&self, method: http::Method, url: &str) -> http::request::Builder {
        http::Request::builder().method(method).uri(url)
    }

    /// `GET url` through [`send`](Self::send). The URL is parsed as the URL Standard says (as
    /// [`url::Url`] does).
    pub async fn get(&self, url: &str) -> Result<http::Response<Bytes>, ClientError> {
        let invalid = |reason: String| {
            ClientError::Wire(WireError::InvalidUrl { url: crate::untrusted::value(url), reason })
        };
        let parsed = Url::parse(url).map_err(|e| invalid(e.to_string()))?;
        let request =
            http::Request::get(parsed.as_str()).body(Bytes::new()).map_err(|e| invalid(e.to_string()))?;
        self.send(request).await
    }

    /// Sends `request` (any method; its URI absolute) with the token for its URL; on a 401,
    /// discovers the resource, obtains its token and sends the request again once (see the
    /// type's documentation). The URI is parsed as the URL Standard says (dot segments removed,
    /// host lowercased): that URL is the one sent, and the one the token is chosen for. An
    /// `Authorization` header on the request is replaced (or removed when no token covers it),
    /// and so is a `DPoP` header.
    pub async fn send(&self, request: http::Request<Bytes>) -> Result<http::Response<Bytes>, ClientError> {
        let url = request_url(request.uri())?;
        // Checked here, before a token is chosen, whatever the fetcher allows.
        check_destination(&url, true)?;
        let (mut parts, body) = request.into_parts();
        parts.uri = http::Uri::try_from(url.as_str())
            .map_err(|e| WireError::InvalidUrl { url: crate::untrusted::url(&url), reason: e.to_string() })?;
        let request = http::Request::from_parts(parts, body);
        let first = self.book.fresh_token_for(url.as_str()).await?;
        let response = self.send_with(&request, &url, first.as_ref()).await?;
        if response.status() != http::StatusCode::UNAUTHORIZED {
            return Ok(response);
        }
        let resource = self.discover_resource(&url, response.headers()).await?;
        let token = match &first {
            Some(rejected) => self.book.replace(&resource, rejected).await?,
            None => self.book.obtain(&resource).await?,
        };
        let response = self.send_with(&request, &url, Some(&token)).await?;
        if response.status() == http::StatusCode::UNAUTHORIZED {
            return Err(ClientError::StillUnauthorized { url: crate::untrusted::url(&url) });
        }
        Ok(response)
    }

    /// Sends `request` with `token` (see [`authorize`]); a 401 asking for a DPoP nonce it now
    /// has is sent again once with it (RFC 9449 §9). The body is `Bytes`: a copy of the request
    /// costs a reference count.
    async fn send_with(
        &self,
        request: &http::Request<Bytes>,
        url: &Url,
        token: Option<&BearerToken>,
    ) -> Result<http::Response<Bytes>, ClientError> {
        let dpop = self.book.dpop();
        let mut nonce_retried = false;
        loop {
            let mut attempt = request.clone();
            authorize(&mut attempt, url, token, dpop)?;
            let response = self.book.fetcher().send(attempt).await?;
            // Kept whatever the status: a server may give the next nonce with a success.
            let new_nonce = dpop.and_then(|d| d.remember(url, response.headers()));
            if !nonce_retried
                && new_nonce.is_some()
                && token.is_some_and(BearerToken::is_dpop)
                && response.status() == http::StatusCode::UNAUTHORIZED
                && asks_for_nonce(response.headers())
            {
                nonce_retried = true;
                continue;
            }
            return Ok(response);
        }
    }

    /// From a 401 to the resource identifier to ask a token for, with every check of the
    /// type's documentation.
    async fn discover_resource(&self, url: &Url, headers: &http::HeaderMap) -> Result<String, ClientError> {
        let candidates = match resource_metadata(url, headers)? {
            Some(named) => {
                let metadata_url = Url::parse(&named).map_err(|_| ClientError::MetadataUrlRefused {
                    url: crate::untrusted::url(&url),
                    metadata_url: crate::untrusted::value(&named),
                })?;
                if metadata_url.origin() != url.origin() {
                    return Err(ClientError::MetadataUrlRefused {
                        url: crate::untrusted::url(&url),
                        metadata_url: crate::untrusted::value(metadata_url.as_str()),
                    });
                }
                vec![metadata_url]
            }
            None => {
                let mut base = url.clone();
                base.set_query(None);
                base.set_fragment(None);
                let with_path = well_known_url(&base, PROTECTED_RESOURCE);
                base.set_path("/");
                let root = well_known_url(&base, PROTECTED_RESOURCE);
                if with_path == root {
                    vec![root]
                } else {
                    vec![with_path, root]
                }
            }
        };
        let non_public = went_to_non_public(url).await;
        let mut last = None;
        for metadata_url in candidates {
            let request = metadata_request(&metadata_url, non_public)?;
            let response = self.book.fetcher().send(request).await?;
            if matches!(response.status().as_u16(), 404 | 410) {
                last = Some(WireError::Status {
                    url: crate::untrusted::url(&metadata_url),
                    status: response.status().as_u16(),
                });
                continue;
            }
            require_ok(&response, &metadata_url)?;
            return self.check_metadata(url, &metadata_url, response.body());
        }
        Err(last
            .unwrap_or_else(|| WireError::InvalidUrl {
                url: crate::untrusted::url(&url),
                reason: "no metadata URL".into(),
            })
            .into())
    }

    fn check_metadata(&self, url: &Url, metadata_url: &Url, body: &[u8]) -> Result<String, ClientError> {
        let invalid = |reason: &str| {
            ClientError::Wire(WireError::InvalidMetadata {
                url: crate::untrusted::url(&metadata_url),
                reason: reason.into(),
            })
        };
        let document =
            crate::json::parse_object(body, "metadata").map_err(|_| invalid("not a JSON object"))?;
        let resource = document
            .get("resource")
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| invalid("no `resource` string"))?;
        let mismatch = || ClientError::ResourceMismatch {
            url: crate::untrusted::url(&url),
            resource: crate::untrusted::value(resource),
        };
        let matcher = normalise(resource).ok_or_else(mismatch)?;
        let same_origin = Url::parse(&matcher).is_ok_and(|r| r.origin() == url.origin());
        let request = RequestUrl::parse(url.as_str()).ok_or_else(mismatch)?;
        if !same_origin || covers_url(&matcher, &request).is_none() {
            return Err(mismatch());
        }
        let issuer = self.book.issuer();
        let listed = match document.get("authorization_servers") {
            Some(serde_json::Value::Array(items)) => items.iter().any(|i| i.as_str() == Some(issuer)),
            _ => false,
        };
        if !listed {
            return Err(ClientError::UntrustedAuthorizationServer {
                url: crate::untrusted::url(&metadata_url),
                issuer: issuer.to_owned(),
            });
        }
        Ok(resource.to_owned())
    }
}

/// The GET of a resource's metadata document. Its URL was learned from a response (or built on
/// the request's host), so it is marked [`PublicAddressesOnly`] unless the request itself went to
/// a non-public address: a public resource server must not point the client at internal
/// addresses (RFC 9728 §7.7), while one on the local network may serve its metadata there.
fn metadata_request(metadata_url: &Url, went_to_non_public: bool) -> Result<http::Request<Bytes>, WireError> {
    let mut request = get_request(metadata_url)?;
    if !went_to_non_public {
        request.extensions_mut().insert(PublicAddressesOnly);
    }
    Ok(request)
}

/// Whether the request went to a non-public address (its host is one, `localhost`, or a name
/// resolving to one): then the metadata fetch may go there too; otherwise non-public addresses
/// are refused for it.
async fn went_to_non_public(url: &Url) -> bool {
    if let Some(known) = literal_non_public(url) {
        return known;
    }
    match url.host() {
        Some(url::Host::Domain(d)) => {
            let port = url.port_or_known_default().unwrap_or(443);
            match tokio::net::lookup_host((d, port)).await {
                Ok(mut addrs) => addrs.any(|a| is_non_public(a.ip())),
                Err(_) => false,
            }
        }
        _ => false,
    }
}

/// [`went_to_non_public`] for the hosts known without a lookup: an IP literal or `localhost`
/// (`Some`); `None` for a name to resolve.
fn literal_non_public(url: &Url) -> Option<bool> {
    match url.host()? {
        url::Host::Ipv4(a) => Some(is_non_public(a.into())),
        url::Host::Ipv6(a) => Some(is_non_public(a.into())),
        url::Host::Domain(d) if d.eq_ignore_ascii_case("localhost") => Some(true),
        url::Host::Domain(_) => None,
    }
}

/// Sets (or removes) `Authorization` for `token`, and for a DPoP token the `DPoP` proof for this
/// request (RFC 9449 §7.1); the `Authorization` value is marked sensitive.
fn authorize(
    request: &mut http::Request<Bytes>,
    url: &Url,
    token: Option<&BearerToken>,
    dpop: Option<&DpopState>,
) -> Result<(), ClientError> {
    let proof = match (token, dpop) {
        (Some(token), Some(dpop)) if token.is_dpop() => {
            Some(dpop.proof(request.method().as_str(), url, Some(token.secret()))?)
        }
        (Some(token), None) if token.is_dpop() => {
            // The book refuses DPoP tokens without a key; never send one as a bearer token.
            return Err(ClientError::DpopProof {
                url: crate::untrusted::url(url),
                reason: "a DPoP token, but no DPoP key".into(),
            });
        }
        _ => None,
    };
    let headers = request.headers_mut();
    headers.remove(http::header::AUTHORIZATION);
    headers.remove(DPOP);
    if let Some(proof) = proof {
        headers.insert(DPOP, proof);
    }
    if let Some(token) = token {
        let mut value = http::HeaderValue::from_str(&format!("{} {}", token.scheme(), token.secret()))
            .map_err(|_| ClientError::InvalidTokenResponse {
                url: token.resource().to_owned(),
                reason: "token not a header value".into(),
            })?;
        value.set_sensitive(true);
        headers.insert(http::header::AUTHORIZATION, value);
    }
    Ok(())
}

/// Whether a 401's `DPoP` challenge says `error="use_dpop_nonce"` (RFC 9449 §9).
fn asks_for_nonce(headers: &http::HeaderMap) -> bool {
    headers.get_all(http::header::WWW_AUTHENTICATE).iter().filter_map(|v| challenge::parse(v.as_bytes())).any(
        |challenges| {
            challenges.iter().any(|c| {
                c.scheme.eq_ignore_ascii_case("dpop") && c.param("error") == Ok(Some("use_dpop_nonce"))
            })
        },
    )
}

/// The `resource_metadata` of the response's `Bearer` (or `DPoP`) challenges (RFC 9728 §5.1), if any.
/// Unparsable fields are ignored (the well-known URLs are tried instead); two different URLs
/// are refused.
fn resource_metadata(url: &Url, headers: &http::HeaderMap) -> Result<Option<String>, ClientError> {
    let refused = |reason| ClientError::InvalidChallenge { url: crate::untrusted::url(&url), reason };
    let mut found: Option<String> = None;
    for value in headers.get_all(http::header::WWW_AUTHENTICATE) {
        let Some(challenges) = challenge::parse(value.as_bytes()) else {
            tracing::info!(target: CLIENT_TRACING_TARGET, url = %crate::untrusted::redacted(url.as_str()), "unparsable WWW-Authenticate ignored");
            continue;
        };
        let schemes = |c: &&challenge::Challenge| {
            c.scheme.eq_ignore_ascii_case("bearer") || c.scheme.eq_ignore_ascii_case("dpop")
        };
        for c in challenges.iter().filter(schemes) {
            let named = c.param("resource_metadata").map_err(|_| refused("resource_metadata given twice"))?;
            if let Some(named) = named {
                match &found {
                    Some(f) if f != named => return Err(refused("several resource_metadata URLs")),
                    _ => found = Some(named.to_owned()),
                }
            }
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>(_: &T) {}
    fn assert_send<T: Send>(_: &T) {}

    #[test]
    fn book_client_and_futures_are_thread_safe() {
        let book = TokenBook::builder("https://as.example", "app", "s".to_string()).build().unwrap();
        assert_send_sync(&book);
        assert_send_sync(&std::sync::Arc::new(book.clone()));
        assert_send(&book.obtain("https://rs.example"));
        assert_send(&book.fresh_token_for("https://rs.example"));
        let client = AuthorizedClient::new(book);
        assert_send_sync(&client);
        assert_send(&client.get("https://rs.example"));
    }

    /// The metadata request `discover_resource` makes after a 401 from `request_url`, as far as
    /// it is decided without a lookup (IP literals and `localhost`).
    fn metadata_request_after(request_url: &str) -> http::Request<Bytes> {
        let url = Url::parse(request_url).unwrap();
        let non_public = literal_non_public(&url).expect("an IP literal or localhost");
        metadata_request(&well_known_url(&url, PROTECTED_RESOURCE), non_public).unwrap()
    }

    fn public_only(request: &http::Request<Bytes>) -> bool {
        request.extensions().get::<PublicAddressesOnly>().is_some()
    }

    const PUBLIC: [&str; 3] = [
        "https://93.184.215.14/photos",
        "https://93.184.215.14:8443/",
        "https://[2606:2800:21f:cb07:6820:80da:af6b:8b2c]/a",
    ];
    const NON_PUBLIC: [&str; 7] = [
        "https://127.0.0.1/photos",
        "http://127.0.0.1:8080/",
        "https://[::1]/a",
        "https://10.1.2.3/",
        "https://192.168.0.7/",
        "https://localhost/photos",
        "https://LOCALHOST:8443/",
    ];

    #[test]
    fn metadata_of_a_public_resource_server_may_not_lead_to_internal_addresses() {
        for url in PUBLIC {
            assert!(public_only(&metadata_request_after(url)), "{url}");
        }
    }

    #[test]
    fn metadata_of_a_local_resource_server_may_stay_local() {
        for url in NON_PUBLIC {
            assert!(!public_only(&metadata_request_after(url)), "{url}");
        }
    }

    #[test]
    fn a_name_other_than_localhost_is_left_to_a_lookup() {
        assert_eq!(literal_non_public(&Url::parse("https://rs.example/").unwrap()), None);
        assert_eq!(literal_non_public(&Url::parse("https://localhost.rs.example/").unwrap()), None);
    }

    /// A fetcher that answers 401 to the request to the resource server and 404 to the
    /// metadata GETs, and records whether each of these carried `PublicAddressesOnly`.
    #[derive(Default)]
    struct Recording(std::sync::Mutex<Vec<(String, bool)>>);

    impl crate::wire::Fetcher for Recording {
        fn send(&self, request: http::Request<Bytes>) -> crate::wire::FetchFuture<'_> {
            let metadata = request.uri().path().starts_with(PROTECTED_RESOURCE);
            if metadata {
                self.0.lock().unwrap().push((request.uri().to_string(), public_only(&request)));
            }
            let status = if metadata { 404 } else { 401 };
            let response = http::Response::builder().status(status).body(Bytes::new()).unwrap();
            Box::pin(std::future::ready(Ok(response)))
        }
    }

    /// The whole path of a 401, through a fetcher that records instead of connecting: no
    /// lookup (every host an IP literal or `localhost`), no socket.
    async fn metadata_marks_after_401(request_url: &str) -> Vec<(String, bool)> {
        let recording = std::sync::Arc::new(Recording::default());
        let book = TokenBook::builder("https://as.example", "app", "s".to_string())
            .fetcher(recording.clone())
            .build()
            .unwrap();
        let outcome = AuthorizedClient::new(book).get(request_url).await;
        assert!(
            matches!(outcome, Err(ClientError::Wire(WireError::Status { status: 404, .. }))),
            "{outcome:?}"
        );
        let seen = recording.0.lock().unwrap().clone();
        assert!(!seen.is_empty(), "{request_url}: no metadata request");
        seen
    }

    #[tokio::test]
    async fn discovery_after_a_401_marks_the_metadata_request_by_where_the_request_went() {
        for url in PUBLIC {
            for (metadata, marked) in metadata_marks_after_401(url).await {
                assert!(marked, "{url} -> {metadata}: not PublicAddressesOnly");
            }
        }
        for url in NON_PUBLIC {
            for (metadata, marked) in metadata_marks_after_401(url).await {
                assert!(!marked, "{url} -> {metadata}: PublicAddressesOnly");
            }
        }
    }
}
