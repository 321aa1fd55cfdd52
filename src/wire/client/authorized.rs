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
        let public_only = !went_to_non_public(url).await;
        let mut last = None;
        for metadata_url in candidates {
            let mut request = get_request(&metadata_url)?;
            if public_only {
                request.extensions_mut().insert(PublicAddressesOnly);
            }
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

/// Whether the request went to a non-public address (its host is one, `localhost`, or a name
/// resolving to one): then the metadata fetch may go there too; otherwise non-public addresses
/// are refused for it.
async fn went_to_non_public(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(a)) => is_non_public(a.into()),
        Some(url::Host::Ipv6(a)) => is_non_public(a.into()),
        Some(url::Host::Domain(d)) if d.eq_ignore_ascii_case("localhost") => true,
        Some(url::Host::Domain(d)) => {
            let port = url.port_or_known_default().unwrap_or(443);
            match tokio::net::lookup_host((d, port)).await {
                Ok(mut addrs) => addrs.any(|a| is_non_public(a.ip())),
                Err(_) => false,
            }
        }
        None => false,
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
}
