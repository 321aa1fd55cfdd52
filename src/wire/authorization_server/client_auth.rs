//! Client authentication at the token endpoint: the registered clients and `client_secret_basic`
//! (RFC 6749 §2.3.1: id and secret form-urlencoded, then base64 inside `Authorization: Basic`),
//! with only a SHA-256 digest of each secret kept and compared in constant time.

use std::collections::HashMap;

use base64::Engine;
use http::header::AUTHORIZATION;
use http::HeaderMap;
use zeroize::Zeroizing;

use crate::token::Scope;
use crate::wire::transport::ConfigError;

/// A client of the token endpoint: its `client_id`, its secret (only a SHA-256 digest is kept, in
/// zeroizing memory), the user it acts for, and what it may ask for.
///
/// The `subject` stands in for an end-user grant: a real AS gets it from an authorization-code
/// flow; here a client acts for one configured user (the `sub` of its tokens).
///
/// ```
/// use jwe_mint::wire::RegisteredClient;
/// let client = RegisteredClient::new("photo-app", "s3cret", "alice")
///     .unwrap()
///     .scope("photos.read friends.read")
///     .resources(["https://photos.example.com", "https://friends.example.com"])
///     .home_resource("https://photos.example.com");
/// assert!(!format!("{client:?}").contains("s3cret"));
/// ```
#[derive(Clone)]
pub struct RegisteredClient {
    pub(super) client_id: String,
    secret_digest: Zeroizing<Vec<u8>>,
    pub(super) subject: String,
    pub(super) scope: Scope,
    /// Why the scope given to [`RegisteredClient::scope`] was refused, reported on registration.
    pub(super) scope_error: Option<String>,
    pub(super) resources: Vec<String>,
    pub(super) home_resource: Option<String>,
    /// RFC 9449 §5.2: every token request of this client must carry a DPoP proof.
    pub(super) dpop_bound_access_tokens: bool,
}

impl std::fmt::Debug for RegisteredClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegisteredClient")
            .field("client_id", &self.client_id)
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

impl RegisteredClient {
    /// A client `client_id` with the shared `secret`, acting for `subject`; no scope and no
    /// resource yet. Refused: an empty `client_id`, `secret` or `subject` ([`ConfigError::Invalid`]
    /// naming `"client"`).
    pub fn new(client_id: &str, secret: &str, subject: &str) -> Result<RegisteredClient, ConfigError> {
        if client_id.is_empty() || secret.is_empty() || subject.is_empty() {
            return Err(ConfigError::invalid("client", "client_id, secret and subject must not be empty"));
        }
        Ok(RegisteredClient {
            client_id: client_id.to_owned(),
            secret_digest: Zeroizing::new(crate::crypto::sha256(secret.as_bytes())),
            subject: subject.to_owned(),
            scope: Scope::default(),
            scope_error: None,
            resources: Vec::new(),
            home_resource: None,
            dpop_bound_access_tokens: false,
        })
    }

    /// Everything the client may ask for (space-separated scope tokens, RFC 6749 §3.3); it is also
    /// what a request without `scope` gets. A token §3.3 forbids makes
    /// [`AuthorizationServerBuilder::client`](super::AuthorizationServerBuilder::client) refuse
    /// the client ([`ConfigError::Invalid`] naming `"scope"`).
    pub fn scope(mut self, scope: &str) -> RegisteredClient {
        match Scope::parse_lenient(scope) {
            Ok(scope) => {
                self.scope = scope;
                self.scope_error = None;
            }
            Err(e) => self.scope_error = Some(e.to_string()),
        }
        self
    }

    /// The resources the client may ask for (RFC 8707; each also covers its sub-resources by path
    /// segment, as [`IssuerBuilder::allow_client`](crate::issuer::IssuerBuilder::allow_client)
    /// says).
    pub fn resources<'a>(mut self, resources: impl IntoIterator<Item = &'a str>) -> RegisteredClient {
        self.resources = resources.into_iter().map(str::to_owned).collect();
        self
    }

    /// The resource the AS picks when a `client_credentials` request names none (the user's
    /// "home shard"); the response's `resource` member tells the client which it is. Without one,
    /// such a request is `invalid_target`.
    pub fn home_resource(mut self, resource: &str) -> RegisteredClient {
        self.home_resource = Some(resource.to_owned());
        self
    }

    /// RFC 9449 §5.2 client metadata `dpop_bound_access_tokens`: when `true`, the token endpoint
    /// refuses every token request of this client without a DPoP proof (`invalid_dpop_proof`),
    /// refresh requests included, so all its access tokens are DPoP-bound. Default `false`: a
    /// request without a proof gets a Bearer token.
    pub fn dpop_bound_access_tokens(mut self, required: bool) -> RegisteredClient {
        self.dpop_bound_access_tokens = required;
        self
    }

    /// The `client_id`.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// Whether `presented` is this client's secret, in constant time (digests of equal length).
    fn secret_matches(&self, presented: &str) -> bool {
        let digest = Zeroizing::new(crate::crypto::sha256(presented.as_bytes()));
        crate::crypto::constant_time_eq(self.secret_digest.as_slice(), digest.as_slice())
    }
}

/// The client from `Authorization: Basic` (RFC 6749 §2.3.1: id and secret form-urlencoded,
/// then base64), if it is among `clients` and the secret matches.
pub(super) fn authenticate<'a>(
    clients: &'a HashMap<String, RegisteredClient>,
    headers: &HeaderMap,
) -> Option<&'a RegisteredClient> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let value = values.next()?;
    if values.next().is_some() {
        return None;
    }
    let (scheme, encoded) = value.to_str().ok()?.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = Zeroizing::new(base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?);
    let decoded = std::str::from_utf8(&decoded).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let id = form_decode(id)?;
    let secret = Zeroizing::new(form_decode(secret)?);
    let Some(client) = clients.get(&id) else {
        // The same digest and comparison as for a known client, so the answer's timing does
        // not tell which client ids exist.
        let digest = Zeroizing::new(crate::crypto::sha256(secret.as_bytes()));
        let _ = crate::crypto::constant_time_eq(UNKNOWN_CLIENT_DIGEST.as_slice(), digest.as_slice());
        return None;
    };
    client.secret_matches(&secret).then_some(client)
}

/// Compared against when the client id is unknown (no secret has this SHA-256 digest that
/// anyone knows).
const UNKNOWN_CLIENT_DIGEST: [u8; 32] = [0; 32];

/// `application/x-www-form-urlencoded` decoding of one whole component (RFC 6749 §2.3.1,
/// Appendix B): `+` is a space and `%XX` a byte; every other character stands for itself, `&` and
/// `=` included (they are not separators inside one component, so `id:secret&junk` is the secret
/// `secret&junk`, never `secret`). `None` when the bytes are not UTF-8.
fn form_decode(s: &str) -> Option<String> {
    let spaced = s.replace('+', " ");
    let decoded = percent_encoding::percent_decode_str(&spaced).decode_utf8().ok()?;
    Some(decoded.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_compare_by_digest_and_stay_out_of_debug() {
        let client = RegisteredClient::new("c", "correct horse", "alice").unwrap();
        assert!(client.secret_matches("correct horse"));
        assert!(!client.secret_matches("correct hors"));
        assert!(!client.secret_matches(""));
        assert!(!format!("{client:?}").contains("horse"));
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        assert_eq!(form_decode("a%3Ab+c").as_deref(), Some("a:b c"));
        // Inside one component `&` and `=` are characters, not separators.
        assert_eq!(form_decode("secret&junk").as_deref(), Some("secret&junk"));
        assert_eq!(form_decode("bob-app&zzz=1").as_deref(), Some("bob-app&zzz=1"));
        assert_eq!(form_decode("%FF"), None);
    }

    #[test]
    fn trailing_form_syntax_does_not_authenticate() {
        use base64::Engine as _;
        let client = RegisteredClient::new("photo-app", "s3cret", "alice").unwrap();
        let bob = RegisteredClient::new("bob-app", "s3cret", "bob").unwrap();
        let clients: HashMap<String, RegisteredClient> =
            [client, bob].into_iter().map(|c| (c.client_id.clone(), c)).collect();
        let basic = |user_pass: &str| {
            let mut h = HeaderMap::new();
            let value = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(user_pass));
            h.insert(AUTHORIZATION, value.parse().unwrap());
            h
        };
        assert!(authenticate(&clients, &basic("photo-app:s3cret")).is_some());
        for refused in
            ["photo-app:s3cret&junk", "photo-app:s3cret&x=1", "bob-app&zzz=1:s3cret", "photo-app:s3cre%74x"]
        {
            assert!(authenticate(&clients, &basic(refused)).is_none(), "{refused}");
        }
        assert!(authenticate(&clients, &basic("photo-app:s3cre%74")).is_some(), "percent-decoded");
    }
}
