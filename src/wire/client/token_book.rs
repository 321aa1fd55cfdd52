//! [`TokenBook`]: the client's access tokens, one per resource, each given only to URLs its
//! resource covers.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::{watch, OnceCell};
use url::Url;
use zeroize::Zeroizing;

use super::dpop::DpopState;
use super::error::ClientError;
use super::token_request::{self, Credentials, IssuedToken, TokenEndpointResponse};
use super::url_match::{covers_url, normalise, RequestUrl};
use crate::dpop::DpopKey;
use crate::token::Scope;
use crate::wire::tracing_targets::CLIENT_TRACING_TARGET;
use crate::wire::transport::{ConfigError, Fetcher, HttpFetcher};

/// Default refresh skew: a token is renewed this long before it expires.
pub const DEFAULT_REFRESH_SKEW: Duration = Duration::from_secs(30);

/// An access token as the book hands it out: its value (zeroized when the last copy is dropped,
/// never shown by `Debug`), the resource it is for, and its type (`Bearer`, or `DPoP`: bound to
/// the book's DPoP key, RFC 9449).
#[derive(Clone)]
pub struct BearerToken {
    value: Arc<Zeroizing<String>>,
    resource: Arc<str>,
    dpop: bool,
}

impl BearerToken {
    /// The token, for an `Authorization: Bearer` (or, when [`is_dpop`](Self::is_dpop),
    /// `Authorization: DPoP`) header.
    pub fn secret(&self) -> &str {
        &self.value
    }

    /// Whether the AS issued it as a `DPoP` token (RFC 9449 §5): it is sent as
    /// `Authorization: DPoP` with a proof of the book's key, never as a bearer token.
    pub fn is_dpop(&self) -> bool {
        self.dpop
    }

    /// The authorization scheme it is sent with: `"DPoP"` or `"Bearer"`.
    pub fn scheme(&self) -> &'static str {
        if self.dpop {
            "DPoP"
        } else {
            "Bearer"
        }
    }

    /// The resource it was issued for (as the authorization server named it).
    pub fn resource(&self) -> &str {
        &self.resource
    }

    fn same_token(&self, other: &BearerToken) -> bool {
        self.value.as_str() == other.value.as_str()
    }
}

impl fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BearerToken")
            .field("resource", &self.resource)
            .field("scheme", &self.scheme())
            .finish_non_exhaustive()
    }
}

/// Configures a [`TokenBook`].
pub struct TokenBookBuilder {
    issuer: String,
    client_id: String,
    client_secret: Zeroizing<String>,
    scope: Option<String>,
    fetcher: Option<Arc<dyn Fetcher>>,
    refresh_skew: Duration,
    dpop: Option<DpopKey>,
}

impl fmt::Debug for TokenBookBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenBookBuilder")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("scope", &self.scope)
            .field("fetcher", &if self.fetcher.is_some() { "given" } else { "HttpFetcher::new()" })
            .field("refresh_skew", &self.refresh_skew)
            .field("dpop", &self.dpop)
            .finish_non_exhaustive()
    }
}

impl TokenBookBuilder {
    /// The `scope` sent with every token request (default: none, the AS's default):
    /// space-separated RFC 6749 §3.3 scope tokens, checked by `build()`.
    pub fn scope(mut self, scope: &str) -> Self {
        self.scope = Some(scope.to_owned());
        self
    }

    /// The [`Fetcher`] every request goes through: the AS metadata, the token endpoint and,
    /// through [`AuthorizedClient`](super::AuthorizedClient), the resource servers and their
    /// metadata. Its limits (trust anchors, `https` only unless loopback `http` is allowed,
    /// timeouts, body limit, no redirects) hold for all of them. Default: [`HttpFetcher::new`]
    /// (the platform's trust store, the default limits).
    pub fn fetcher(mut self, fetcher: Arc<dyn Fetcher>) -> Self {
        self.fetcher = Some(fetcher);
        self
    }

    /// How long before its expiry a token is renewed (default [`DEFAULT_REFRESH_SKEW`]; at most
    /// half the token's lifetime is used, so a short-lived token is not renewed on every use).
    pub fn refresh_skew(mut self, skew: Duration) -> Self {
        self.refresh_skew = skew;
        self
    }

    /// Sends a DPoP proof of `key` (RFC 9449) with every token request, so the AS can bind the
    /// tokens to it (`token_type: DPoP`); such tokens go to resource servers as
    /// `Authorization: DPoP` with a fresh proof per request. A server's `DPoP-Nonce` is kept per
    /// origin for the next proof, and a `use_dpop_nonce` refusal is retried once with the new
    /// nonce (§8, §9). An AS that answers with a `Bearer` token anyway (§5 allows it) gets that
    /// token used as a bearer token. Default: no DPoP.
    pub fn dpop_key(mut self, key: DpopKey) -> Self {
        self.dpop = Some(key);
        self
    }

    /// Builds the book. Nothing is fetched yet: the token endpoint is discovered from the
    /// issuer's RFC 8414 metadata on the first token request. Fails when the scope has a token
    /// RFC 6749 §3.3 forbids ([`ConfigError::Invalid`] naming `"scope"`), or when no fetcher was
    /// given and the default one cannot be built.
    pub fn build(self) -> Result<TokenBook, ConfigError> {
        let scope = match self.scope.as_deref().map(Scope::parse_lenient).transpose() {
            Ok(scope) => scope.filter(|s| !s.is_empty()),
            Err(e) => return Err(ConfigError::invalid("scope", e.to_string())),
        };
        let fetcher: Arc<dyn Fetcher> = match self.fetcher {
            Some(fetcher) => fetcher,
            None => Arc::new(HttpFetcher::new()?),
        };
        Ok(TokenBook {
            inner: Arc::new(Inner {
                issuer: self.issuer,
                credentials: Credentials {
                    client_id: self.client_id,
                    client_secret: self.client_secret,
                    scope,
                },
                fetcher,
                refresh_skew: self.refresh_skew,
                dpop: self.dpop.map(DpopState::new),
                token_endpoint: OnceCell::new(),
                refresh_gate: tokio::sync::Mutex::new(()),
                state: Mutex::new(State::default()),
            }),
        })
    }
}

/// The client's access tokens, one per resource (RFC 8707), for one authorization server.
///
/// - Filled from token responses: `access_token` with `resource`, or `access_tokens` (one entry
///   per resource, each with its `resource`), and `refresh_token`. Without `resource`, a token
///   is filed under the requested resource only when the request named exactly one. A token that
///   is a JWE whose protected header carries `aud` must name the resource it is filed under.
/// - With a DPoP key ([`TokenBookBuilder::dpop_key`]), token requests prove it (RFC 9449) and
///   `DPoP` tokens are kept as such ([`BearerToken::is_dpop`]).
/// - [`token_for`](Self::token_for) gives a URL the token whose resource covers it: the same
///   URL, or a path-segment prefix of it (`https://rs/photos` covers `https://rs/photos/1`, not
///   `https://rs/photos-evil`), the longest match winning, scheme, host and port compared
///   exactly. A URL with a `.` or `..` segment (also percent-encoded) or an encoded `/` or `\`
///   gets none; a URL no resource covers never gets a token.
/// - Tokens are renewed ahead of their expiry (`expires_in`; the tokens themselves are opaque
///   to the client) with the `refresh_token` grant naming the resource (RFC 8707 §2.2), else
///   with `client_credentials`; a token for a new resource is obtained the same way. Concurrent
///   askers for one resource share one token request; no lock is held while it runs.
/// - The client authenticates with `client_secret_basic` (RFC 6749 §2.3.1) at the token
///   endpoint of the issuer's RFC 8414 metadata, and nowhere else.
///
/// Cloning is cheap (the book is shared); it is `Send + Sync`.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use jwe_mint::wire::{HttpFetcher, TokenBook};
/// let book = TokenBook::builder("https://as.example.com", "photo-app", "s3cret".to_string())
///     .fetcher(Arc::new(HttpFetcher::builder().add_ca_file("ca.pem")?.build()?))
///     .build()?;
/// book.obtain("https://photos.example.com").await?;
/// let token = book.token_for("https://photos.example.com/albums/1").expect("covered");
/// assert!(book.token_for("https://friends.example.com/").is_none());
/// # let _ = token; Ok(()) }
/// ```
#[derive(Clone)]
pub struct TokenBook {
    inner: Arc<Inner>,
}

struct Inner {
    issuer: String,
    credentials: Credentials,
    fetcher: Arc<dyn Fetcher>,
    refresh_skew: Duration,
    dpop: Option<DpopState>,
    token_endpoint: OnceCell<Url>,
    /// Held (asynchronously) while the refresh token is in use: an AS that rotates refresh
    /// tokens (RFC 9700 §4.14.2) revokes the family when one is presented twice, so requests
    /// for different resources take turns with it. Token readers never wait on it.
    refresh_gate: tokio::sync::Mutex<()>,
    state: Mutex<State>,
}

type Outcome = Option<Result<(), ClientError>>;

#[derive(Default)]
struct State {
    entries: Vec<Entry>,
    refresh_token: Option<Arc<Zeroizing<String>>>,
    /// Token requests under way, by normalised resource: their outcome is published here.
    flights: HashMap<String, watch::Receiver<Outcome>>,
}

struct Entry {
    /// The resource in its normalised form (see [`normalise`]), for matching.
    matcher: String,
    token: BearerToken,
    expires_at: Option<Instant>,
    refresh_at: Option<Instant>,
}

impl Entry {
    fn expired(&self, now: Instant) -> bool {
        self.expires_at.is_some_and(|t| now >= t)
    }

    fn due(&self, now: Instant) -> bool {
        self.refresh_at.is_some_and(|t| now >= t)
    }
}

impl fmt::Debug for TokenBook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let resources: Vec<String> =
            self.inner.lock().entries.iter().map(|e| e.token.resource().to_owned()).collect();
        f.debug_struct("TokenBook")
            .field("issuer", &self.inner.issuer)
            .field("client_id", &self.inner.credentials.client_id)
            .field("resources", &resources)
            .field("dpop", &self.inner.dpop.as_ref().map(|d| &d.key))
            .finish_non_exhaustive()
    }
}

/// What a token request must achieve.
enum Need<'a> {
    /// A token that is not due for renewal.
    Fresh,
    /// A token other than this one (the resource server refused it).
    Replace(&'a BearerToken),
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Removes a token request from the flights when it ends, also when its future is dropped
/// mid-way (the waiters then see the sender gone and try again).
struct FlightGuard<'a> {
    inner: &'a Inner,
    key: String,
}

impl Drop for FlightGuard<'_> {
    fn drop(&mut self) {
        self.inner.lock().flights.remove(&self.key);
    }
}

impl TokenBook {
    /// A book for the client `client_id` of the authorization server `issuer` (its RFC 8414
    /// issuer identifier; the token endpoint comes from its metadata).
    pub fn builder(
        issuer: &str,
        client_id: &str,
        client_secret: impl Into<Zeroizing<String>>,
    ) -> TokenBookBuilder {
        TokenBookBuilder {
            issuer: issuer.to_owned(),
            client_id: client_id.to_owned(),
            client_secret: client_secret.into(),
            scope: None,
            fetcher: None,
            refresh_skew: DEFAULT_REFRESH_SKEW,
            dpop: None,
        }
    }

    /// The authorization server's issuer identifier.
    pub fn issuer(&self) -> &str {
        &self.inner.issuer
    }

    /// The fetcher every request of the book, and of an
    /// [`AuthorizedClient`](super::AuthorizedClient) on it, goes through.
    pub fn fetcher(&self) -> &Arc<dyn Fetcher> {
        &self.inner.fetcher
    }

    /// The DPoP key the book proves possession of, if it was given one
    /// ([`TokenBookBuilder::dpop_key`]).
    pub fn dpop_key(&self) -> Option<&DpopKey> {
        self.inner.dpop.as_ref().map(|d| &d.key)
    }

    pub(super) fn dpop(&self) -> Option<&DpopState> {
        self.inner.dpop.as_ref()
    }

    /// The resources the book holds a token for (expired ones included), as the AS named them.
    pub fn resources(&self) -> Vec<String> {
        self.inner.lock().entries.iter().map(|e| e.token.resource().to_owned()).collect()
    }

    /// The token for `url`: the one whose resource equals the URL or is a path-segment prefix of
    /// it, the longest such resource winning; `None` when no resource covers the URL, when the
    /// URL has dot segments or an encoded `/` or `\` in its path, or when that token has expired.
    /// It does not renew: see [`fresh_token_for`](Self::fresh_token_for).
    pub fn token_for(&self, url: &str) -> Option<BearerToken> {
        let now = Instant::now();
        let state = self.inner.lock();
        best_match(&state.entries, url).filter(|e| !e.expired(now)).map(|e| e.token.clone())
    }

    /// The token for `url` as [`token_for`](Self::token_for) picks it, renewed first when it is
    /// due (within the refresh skew of its expiry). `Ok(None)` when no resource covers the URL.
    /// When the renewal fails but the old token has not expired yet, the old token is returned
    /// (and the failure logged); once it has expired, the failure is the error.
    pub async fn fresh_token_for(&self, url: &str) -> Result<Option<BearerToken>, ClientError> {
        let now = Instant::now();
        let (token, due, expired) = {
            let state = self.inner.lock();
            match best_match(&state.entries, url) {
                None => return Ok(None),
                Some(e) => (e.token.clone(), e.due(now), e.expired(now)),
            }
        };
        if !due {
            return Ok(Some(token));
        }
        match self.obtain_inner(token.resource(), Need::Fresh).await {
            Ok(_) => Ok(self.token_for(url)),
            Err(e) if !expired => {
                tracing::warn!(target: CLIENT_TRACING_TARGET, resource = %crate::untrusted::value(token.resource()), error = %e,
                    "token renewal failed; the current token is used until it expires");
                Ok(Some(token))
            }
            Err(e) => Err(e),
        }
    }

    /// A token for `resource` (an RFC 8707 resource identifier, sent as given): the one held,
    /// unless it is due for renewal or missing; then one from the token endpoint, with the
    /// refresh token when the book holds one (RFC 8707 §2.2), else `client_credentials`.
    /// Concurrent calls for one resource share one token request.
    pub async fn obtain(&self, resource: &str) -> Result<BearerToken, ClientError> {
        self.obtain_inner(resource, Need::Fresh).await
    }

    /// A token for `resource` other than `rejected` (a resource server refused it): a new one
    /// from the token endpoint, unless another caller already replaced it.
    pub async fn replace(&self, resource: &str, rejected: &BearerToken) -> Result<BearerToken, ClientError> {
        self.obtain_inner(resource, Need::Replace(rejected)).await
    }

    /// Asks the token endpoint for tokens with `client_credentials` for `resources` (none: the
    /// AS picks, and its response's `resource` says which), stores them (and the refresh token)
    /// and returns the resources stored.
    pub async fn client_credentials(&self, resources: &[&str]) -> Result<Vec<String>, ClientError> {
        let response = self.token_request(&[("grant_type", "client_credentials")], resources).await?;
        let requested = if resources.len() == 1 { Some(resources[0]) } else { None };
        self.store(&response, requested)
    }

    /// Stores the tokens of a token response body (JSON): `access_token` for `resource` (or,
    /// without `resource`, for `requested`, the one resource the request named), or every entry
    /// of `access_tokens`; and its `refresh_token`. Returns the resources stored. A response
    /// with a token whose resource cannot be told, or whose JWE `aud` header names another
    /// resource, is refused whole; so is a `DPoP` token when the book has no DPoP key.
    pub fn insert_token_response(
        &self,
        body: &[u8],
        requested: Option<&str>,
    ) -> Result<Vec<String>, ClientError> {
        let response = http::Response::new(Bytes::copy_from_slice(body));
        // Without a DPoP key the book cannot use a `DPoP` token, so one is refused.
        let dpop_sent = self.inner.dpop.is_some();
        self.store(&TokenEndpointResponse { url: "token response".into(), response, dpop_sent }, requested)
    }

    async fn obtain_inner(&self, resource: &str, need: Need<'_>) -> Result<BearerToken, ClientError> {
        let key = normalise(resource)
            .ok_or_else(|| ClientError::InvalidResource { resource: crate::untrusted::value(resource) })?;
        loop {
            let now = Instant::now();
            let waiting = {
                let mut state = self.inner.lock();
                if let Some(e) = state.entries.iter().find(|e| e.matcher == key) {
                    let satisfied = match need {
                        Need::Fresh => !e.due(now) && !e.expired(now),
                        Need::Replace(rejected) => !e.token.same_token(rejected) && !e.expired(now),
                    };
                    if satisfied {
                        return Ok(e.token.clone());
                    }
                }
                match state.flights.get(&key) {
                    Some(rx) => Ok(rx.clone()),
                    None => {
                        let (tx, rx) = watch::channel(None);
                        state.flights.insert(key.clone(), rx);
                        Err(tx)
                    }
                }
            };
            match waiting {
                Err(tx) => {
                    // This caller makes the request (no lock held); the others wait for it.
                    let guard = FlightGuard { inner: &self.inner, key: key.clone() };
                    let outcome = self.request_for(resource).await;
                    drop(guard);
                    tx.send_replace(Some(outcome.clone()));
                    outcome?;
                    return self.held(&key, resource);
                }
                Ok(mut rx) => {
                    // Someone else's request: wait for its outcome. A dropped request (sender
                    // gone) is retried from the top.
                    let outcome = match rx.wait_for(Option::is_some).await {
                        Ok(v) => v.clone(),
                        Err(_) => continue,
                    };
                    if let Some(outcome) = outcome {
                        outcome?;
                        return self.held(&key, resource);
                    }
                }
            }
        }
    }

    fn held(&self, key: &str, resource: &str) -> Result<BearerToken, ClientError> {
        let state = self.inner.lock();
        state
            .entries
            .iter()
            .find(|e| e.matcher == key)
            .map(|e| e.token.clone())
            .ok_or_else(|| ClientError::NotGranted { resource: crate::untrusted::value(resource) })
    }

    /// One token request for `resource`: the refresh token if held (falling back to
    /// `client_credentials` when the AS refuses it for this resource), else `client_credentials`.
    async fn request_for(&self, resource: &str) -> Result<(), ClientError> {
        let gate = self.inner.refresh_gate.lock().await;
        let refresh = self.inner.lock().refresh_token.clone();
        if let Some(refresh) = refresh {
            let form = [("grant_type", "refresh_token"), ("refresh_token", refresh.as_str())];
            match self.token_request(&form, &[resource]).await {
                Ok(response) => return self.store(&response, Some(resource)).map(drop),
                Err(ClientError::TokenEndpoint { code, .. })
                    if code == "invalid_grant" || code == "invalid_target" =>
                {
                    if code == "invalid_grant" {
                        // The refresh token is dead (expired, revoked): forget it.
                        let mut state = self.inner.lock();
                        if state.refresh_token.as_ref().is_some_and(|r| Arc::ptr_eq(r, &refresh)) {
                            state.refresh_token = None;
                        }
                    }
                }
                Err(e) => return Err(e),
            }
        }
        drop(gate);
        let response = self.token_request(&[("grant_type", "client_credentials")], &[resource]).await?;
        self.store(&response, Some(resource)).map(drop)
    }

    async fn token_endpoint(&self) -> Result<&Url, ClientError> {
        self.inner
            .token_endpoint
            .get_or_try_init(|| token_request::discover(&self.inner.fetcher, &self.inner.issuer))
            .await
    }

    /// POSTs a token request to the issuer's token endpoint (see [`Credentials::request`]).
    async fn token_request(
        &self,
        form: &[(&str, &str)],
        resources: &[&str],
    ) -> Result<TokenEndpointResponse, ClientError> {
        let endpoint = self.token_endpoint().await?;
        let dpop = self.inner.dpop.as_ref();
        self.inner.credentials.request(self.inner.fetcher.as_ref(), endpoint, form, resources, dpop).await
    }

    /// Parses a token response and stores its tokens and refresh token.
    fn store(
        &self,
        response: &TokenEndpointResponse,
        requested: Option<&str>,
    ) -> Result<Vec<String>, ClientError> {
        let now = Instant::now();
        let issued = token_request::parse(response, requested)?;
        let parsed: Vec<Entry> = issued.tokens.into_iter().map(|t| self.entry(t, now)).collect();
        let stored: Vec<String> = parsed.iter().map(|e| e.token.resource().to_owned()).collect();
        let mut state = self.inner.lock();
        for entry in parsed {
            state.entries.retain(|e| e.matcher != entry.matcher);
            state.entries.push(entry);
        }
        if issued.refresh_token.is_some() {
            state.refresh_token = issued.refresh_token;
        }
        Ok(stored)
    }

    /// The book's entry for a token issued at `now`: due for renewal within the refresh skew of
    /// its expiry, at most half its lifetime early.
    fn entry(&self, issued: IssuedToken, now: Instant) -> Entry {
        let expires_at = issued.lifetime.and_then(|l| now.checked_add(l));
        let refresh_at = issued
            .lifetime
            .and_then(|l| now.checked_add(l.saturating_sub(self.inner.refresh_skew.min(l / 2))));
        Entry {
            matcher: issued.matcher,
            token: BearerToken {
                value: Arc::new(issued.value),
                resource: Arc::from(issued.resource),
                dpop: issued.dpop,
            },
            expires_at,
            refresh_at,
        }
    }
}

fn best_match<'a>(entries: &'a [Entry], url: &str) -> Option<&'a Entry> {
    let url = RequestUrl::parse(url)?;
    entries
        .iter()
        .filter_map(|e| covers_url(&e.matcher, &url).map(|len| (len, e)))
        .max_by_key(|(len, _)| *len)
        .map(|(_, e)| e)
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    fn book() -> TokenBook {
        TokenBook::builder("https://as.example", "app", "secret".to_string()).build().unwrap()
    }

    fn response(pairs: &[(&str, &str, u64)]) -> Vec<u8> {
        let items: Vec<Value> = pairs
            .iter()
            .map(|(r, t, e)| serde_json::json!({"resource": r, "access_token": t, "token_type": "Bearer", "expires_in": e}))
            .collect();
        let mut v = items[0].clone();
        if items.len() > 1 {
            v["access_tokens"] = items.into();
        }
        v.to_string().into_bytes()
    }

    #[test]
    fn longest_covering_resource_wins_and_nothing_else() {
        let b = book();
        let stored = b
            .insert_token_response(
                &response(&[
                    ("https://rs.example", "root", 3600),
                    ("https://rs.example/photos", "photos", 3600),
                    ("https://RS.example:443/photos/private/", "private", 3600),
                    ("https://friends.example:8443/api", "friends", 3600),
                ]),
                None,
            )
            .unwrap();
        assert_eq!(stored.len(), 4);
        let t = |u: &str| b.token_for(u).map(|t| t.secret().to_owned());
        assert_eq!(t("https://rs.example/photos").as_deref(), Some("photos"));
        assert_eq!(t("https://rs.example/photos?page=2#x").as_deref(), Some("photos"));
        assert_eq!(t("https://rs.example/photos/1").as_deref(), Some("photos"));
        assert_eq!(t("https://rs.example/photos/private/1").as_deref(), Some("private"));
        assert_eq!(t("https://rs.example/photos/private").as_deref(), Some("photos"));
        assert_eq!(t("https://rs.example/photos-evil").as_deref(), Some("root"));
        assert_eq!(t("https://rs.example/photos/a/b").as_deref(), Some("photos"));
        assert_eq!(t("https://rs.example:443/").as_deref(), Some("root"));
        assert_eq!(t("https://friends.example:8443/api/x").as_deref(), Some("friends"));
        for none in [
            "https://friends.example:8443/apix",
            "https://friends.example/api",
            "http://friends.example:8443/api",
            "https://friends.example:8443/",
            "https://friends.example:8443/api/../admin",
            "https://friends.example:8443/api/%2e%2e/admin",
            "https://friends.example:8443/api/%2E/x",
            "https://friends.example:8443/api%2f..%2fadmin",
            "https://friends.example:8443/api/x%5C..",
            "https://user:pw@friends.example:8443/api/x",
            "https://rs.example.evil/photos",
            "https://rs.example/photos/../../etc",
            "https://rs.example/photos/a/b/..",
            "https://rs.example/photos/a/./b",
            "not a url",
            "ftp://rs.example/photos",
        ] {
            assert_eq!(t(none), None, "{none}");
        }
    }

    #[test]
    fn token_responses_are_checked() {
        let b = book();
        let bad: [&[u8]; 8] = [
            br#"{"access_token":"a","token_type":"Bearer"}"#,
            br#"{"access_token":"a","token_type":"DPoP","resource":"https://r"}"#,
            br#"{"access_token":"a b","token_type":"Bearer","resource":"https://r"}"#,
            br#"{"access_token":"a","token_type":"Bearer","resource":"https://r/x/../y"}"#,
            br#"{"access_token":"a","token_type":"Bearer","resource":"https://r","expires_in":-1}"#,
            br#"{"access_token":"a","token_type":"Bearer","resource":"https://r","access_tokens":[]}"#,
            br#"{"access_token":"a","token_type":"Bearer","resource":"/relative"}"#,
            b"[]",
        ];
        for body in bad {
            assert!(
                matches!(b.insert_token_response(body, None), Err(ClientError::InvalidTokenResponse { .. })),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        assert!(b.resources().is_empty());
        // Without `resource`: the one requested.
        let ok = br#"{"access_token":"tok","token_type":"bearer","refresh_token":"rt"}"#;
        assert_eq!(b.insert_token_response(ok, Some("https://r")).unwrap(), ["https://r"]);
        assert_eq!(b.token_for("https://r/x").unwrap().secret(), "tok");
        assert!(!format!("{b:?} {:?}", b.token_for("https://r").unwrap()).contains("tok"));
        // A huge lifetime does not overflow.
        let long = format!(
            r#"{{"access_token":"t","token_type":"Bearer","resource":"https://l","expires_in":{}}}"#,
            u64::MAX
        );
        b.insert_token_response(long.as_bytes(), None).unwrap();
        assert!(b.token_for("https://l").is_some());
    }

    #[test]
    fn expired_tokens_are_not_handed_out() {
        let b = book();
        b.insert_token_response(&response(&[("https://r", "t", 0)]), None).unwrap();
        assert!(b.token_for("https://r").is_none());
    }
}
