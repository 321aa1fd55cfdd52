//! The client's side of the token endpoint (RFC 6749 §3.2, §5): where it is (the issuer's RFC
//! 8414 metadata), the request (form body, `client_secret_basic`, RFC 8707 `resource`), and the
//! answer: the tokens and refresh token of a 200, the RFC 6749 §5.2 error of a refusal.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use serde_json::{Map, Value};
use url::Url;
use zeroize::Zeroizing;

use super::dpop::{DpopState, DPOP};
use super::error::ClientError;
use super::url_match::normalise;
use crate::token::Scope;
use crate::wire::keys::Discovery;
use crate::wire::transport::{check_destination, Fetcher, WireError};

/// The `token_endpoint` of the issuer's RFC 8414 metadata, fetched with `fetcher` (credentials go
/// there and nowhere else). It must be a URL a credential may go to (`https`, or loopback `http`,
/// no user or password) whatever the fetcher allows; a refused endpoint is an error, never
/// cached, so a corrected document is read again on the next request.
pub(super) async fn discover(fetcher: &Arc<dyn Fetcher>, issuer: &str) -> Result<Url, ClientError> {
    let discovery = Discovery::new(Arc::clone(fetcher));
    let metadata = discovery.authorization_server(issuer).await?;
    let url = crate::untrusted::url(&metadata.metadata_url);
    let endpoint = metadata.document.get("token_endpoint").and_then(Value::as_str).ok_or_else(|| {
        ClientError::Wire(WireError::InvalidMetadata {
            url: url.clone(),
            reason: "no `token_endpoint` string".into(),
        })
    })?;
    let endpoint = Url::parse(endpoint).map_err(|_| {
        ClientError::Wire(WireError::InvalidMetadata { url, reason: "`token_endpoint` is not a URL".into() })
    })?;
    check_destination(&endpoint, true)?;
    Ok(endpoint)
}

/// What the client sends with every token request besides the grant: its credentials (RFC 6749
/// §2.3.1, `client_secret_basic`) and the configured scope.
pub(super) struct Credentials {
    pub(super) client_id: String,
    pub(super) client_secret: Zeroizing<String>,
    pub(super) scope: Option<Scope>,
}

impl Credentials {
    /// POSTs a token request (RFC 6749 §3.2: form body, `client_secret_basic`) to `endpoint` with
    /// the `resource` parameters (RFC 8707 §2) and the configured scope, and with `dpop`, a DPoP
    /// proof (RFC 9449 §5: `htm` POST, `htu` the endpoint, no `ath`). A 200 is returned as is;
    /// a 400 `use_dpop_nonce` with a new `DPoP-Nonce` is sent again once with that nonce (RFC
    /// 9449 §8); any other answer is the RFC 6749 §5.2 error it carries, else its status.
    pub(super) async fn request(
        &self,
        fetcher: &dyn Fetcher,
        endpoint: &Url,
        form: &[(&str, &str)],
        resources: &[&str],
        dpop: Option<&DpopState>,
    ) -> Result<TokenEndpointResponse, ClientError> {
        let mut body = {
            let mut body = url::form_urlencoded::Serializer::new(String::new());
            body.extend_pairs(form);
            for r in resources {
                body.append_pair("resource", r);
            }
            if let Some(scope) = &self.scope {
                body.append_pair("scope", &scope.to_string());
            }
            Zeroizing::new(body.finish())
        };
        // RFC 6749 §2.3.1: id and secret are form-urlencoded before the Basic encoding.
        let encode =
            |s: &str| Zeroizing::new(url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>());
        let (id, secret) = (encode(&self.client_id), encode(&self.client_secret));
        // RFC 7617 §2: `Basic` and the base64 of `id:secret`.
        let pair = Zeroizing::new(format!("{}:{}", id.as_str(), secret.as_str()));
        let mut basic = Zeroizing::new(String::with_capacity(6 + pair.len().div_ceil(3) * 4));
        basic.push_str("Basic ");
        base64::engine::general_purpose::STANDARD.encode_string(pair.as_bytes(), &mut basic);
        let invalid = |reason: String| {
            ClientError::Wire(WireError::InvalidUrl { url: crate::untrusted::url(&endpoint), reason })
        };
        let mut authorization = http::HeaderValue::from_str(&basic).map_err(|e| invalid(e.to_string()))?;
        authorization.set_sensitive(true);
        let body = Bytes::from(std::mem::take(&mut *body));
        let url = crate::untrusted::url(&endpoint);
        let mut nonce_retried = false;
        let response = loop {
            let mut request = http::Request::post(endpoint.as_str())
                .header(http::header::AUTHORIZATION, authorization.clone())
                .header(http::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .header(http::header::ACCEPT, "application/json")
                .body(body.clone())
                .map_err(|e| invalid(e.to_string()))?;
            if let Some(dpop) = dpop {
                // A fresh proof per attempt: each has its own `jti` (RFC 9449 §4.2).
                request.headers_mut().insert(DPOP, dpop.proof("POST", endpoint, None)?);
            }
            let response = fetcher.send(request).await?;
            let new_nonce = dpop.and_then(|d| d.remember(endpoint, response.headers()));
            if response.status() == http::StatusCode::OK {
                return Ok(TokenEndpointResponse { url, response, dpop_sent: dpop.is_some() });
            }
            // RFC 9449 §8: a 400 `use_dpop_nonce` names the nonce to use; one retry, and only
            // with a nonce the client did not already send.
            if !nonce_retried
                && new_nonce.is_some()
                && response.status() == http::StatusCode::BAD_REQUEST
                && error_code(response.body()).as_deref() == Some("use_dpop_nonce")
            {
                nonce_retried = true;
                continue;
            }
            break response;
        };
        // RFC 6749 §5.2: 400 (401 for invalid_client) with a JSON `error`.
        let document = crate::json::parse_object(response.body(), "error response").ok();
        match document.as_ref().and_then(|d| d.get("error")).and_then(Value::as_str) {
            Some(code) => Err(ClientError::TokenEndpoint {
                url,
                status: response.status().as_u16(),
                code: crate::untrusted::shown(code, 64),
                description: document
                    .as_ref()
                    .and_then(|d| d.get("error_description"))
                    .and_then(Value::as_str)
                    .map(crate::untrusted::value),
            }),
            None => Err(ClientError::Wire(WireError::Status { url, status: response.status().as_u16() })),
        }
    }
}

/// The `error` of an RFC 6749 §5.2 error response, if the body is one.
fn error_code(body: &[u8]) -> Option<String> {
    let document = crate::json::parse_object(body, "error response").ok()?;
    document.get("error").and_then(Value::as_str).map(str::to_owned)
}

/// A 200 answer of the token endpoint (or a response given to
/// [`TokenBook::insert_token_response`](super::TokenBook::insert_token_response)).
pub(super) struct TokenEndpointResponse {
    /// The token endpoint, for errors.
    pub(super) url: String,
    pub(super) response: http::Response<Bytes>,
    /// Whether the request carried a DPoP proof: only then may a token be of type `DPoP`.
    pub(super) dpop_sent: bool,
}

/// One access token of a token response, checked.
pub(super) struct IssuedToken {
    /// The token (RFC 6750 §2.1 `b64token`).
    pub(super) value: Zeroizing<String>,
    /// Its resource as the AS named it (or as requested, when the AS named none).
    pub(super) resource: String,
    /// The resource in its normalised form (see [`normalise`]).
    pub(super) matcher: String,
    /// `expires_in`, if given.
    pub(super) lifetime: Option<Duration>,
    /// `token_type` is `DPoP` (RFC 9449 §5): sent with a proof, as `Authorization: DPoP`.
    pub(super) dpop: bool,
}

/// The tokens and the refresh token of a token response, checked.
pub(super) struct Issued {
    pub(super) tokens: Vec<IssuedToken>,
    pub(super) refresh_token: Option<Arc<Zeroizing<String>>>,
}

/// Parses a token response body: `access_token` for `resource` (or, without `resource`, for
/// `requested`, the one resource the request named), or every entry of `access_tokens`; and its
/// `refresh_token`. A response with a token whose resource cannot be told is refused whole.
pub(super) fn parse(
    response: &TokenEndpointResponse,
    requested: Option<&str>,
) -> Result<Issued, ClientError> {
    let url = &response.url;
    let invalid =
        |reason: &str| ClientError::InvalidTokenResponse { url: url.clone(), reason: reason.into() };
    let document = crate::json::parse_object(response.response.body(), "token response")
        .map_err(|_| invalid("not a JSON object"))?;
    let mut tokens = Vec::new();
    match document.get("access_tokens") {
        Some(Value::Array(items)) if !items.is_empty() => {
            for item in items {
                let item =
                    item.as_object().ok_or_else(|| invalid("`access_tokens` entries must be objects"))?;
                tokens.push(token(item, None, response.dpop_sent).map_err(|r| invalid(&r))?);
            }
        }
        Some(_) => return Err(invalid("`access_tokens` must be a non-empty array")),
        None => tokens.push(token(&document, requested, response.dpop_sent).map_err(|r| invalid(&r))?),
    }
    let refresh_token = match document.get("refresh_token") {
        None => None,
        Some(Value::String(s)) if !s.is_empty() => Some(Arc::new(Zeroizing::new(s.clone()))),
        Some(_) => return Err(invalid("`refresh_token` must be a non-empty string")),
    };
    Ok(Issued { tokens, refresh_token })
}

/// One token of a response (RFC 6749 §5.1 members, RFC 8707 `resource`, RFC 9449 §5
/// `token_type`). A token whose JWE protected header carries `aud` (jwe-mint's tokens do) must
/// name the resource it is filed under.
fn token(item: &Map<String, Value>, requested: Option<&str>, dpop_sent: bool) -> Result<IssuedToken, String> {
    let token = match item.get("access_token") {
        Some(Value::String(t)) if is_b64token(t) => t,
        Some(Value::String(_)) => return Err("`access_token` is not a valid bearer token".into()),
        _ => return Err("no `access_token` string".into()),
    };
    // RFC 6749 §7.1: token types compare case-insensitively. RFC 9449 §5: an AS may answer a
    // DPoP request with a Bearer token, which is then used as one; a DPoP token to a request
    // without a proof is bound to no key the client has.
    let dpop = match item.get("token_type").and_then(Value::as_str) {
        Some(t) if t.eq_ignore_ascii_case("bearer") => false,
        Some(t) if t.eq_ignore_ascii_case("dpop") && dpop_sent => true,
        Some(t) if t.eq_ignore_ascii_case("dpop") => {
            return Err("`token_type` is DPoP, but the request carried no DPoP proof".into())
        }
        _ => {
            return Err(if dpop_sent {
                "`token_type` is neither DPoP nor Bearer"
            } else {
                "`token_type` is not Bearer"
            }
            .into())
        }
    };
    let resource = match (item.get("resource"), requested) {
        (Some(Value::String(r)), _) => r.as_str(),
        (Some(_), _) => return Err("`resource` must be a string".into()),
        // RFC 8707: a token for the one resource requested.
        (None, Some(r)) => r,
        (None, None) => return Err("no `resource`: the token's resource server is unknown".into()),
    };
    let matcher =
        normalise(resource).ok_or("`resource` is not an absolute http(s) URI without dot segments")?;
    check_audience(token, &matcher)?;
    let lifetime = match item.get("expires_in") {
        None => None,
        Some(v) => {
            Some(Duration::from_secs(v.as_u64().ok_or("`expires_in` must be a non-negative integer")?))
        }
    };
    Ok(IssuedToken {
        value: Zeroizing::new(token.clone()),
        resource: resource.to_owned(),
        matcher,
        lifetime,
        dpop,
    })
}

/// When `token` is a compact JWE whose protected header carries `aud` (jwe-mint replicates it
/// there so it can be read without a key), that `aud` must name the resource the token is filed
/// under (`matcher`, normalised): a string equal to it, or an array holding it. Otherwise the
/// token would go to a resource server it is not for (RFC 8707 §2: the AS may ignore
/// `resource`, or answer for another). Opaque tokens, and JWEs without `aud`, are not checked.
fn check_audience(token: &str, matcher: &str) -> Result<(), String> {
    // Five segments: a compact JWE (RFC 7516 §7.1); anything else is opaque to the client.
    if token.split('.').count() != 5 {
        return Ok(());
    }
    let Ok(inspected) = crate::jwe::inspect(token, &crate::jwe::DecryptPolicy::default()) else {
        return Ok(());
    };
    let names = |aud: &str| normalise(aud).is_some_and(|a| a == matcher);
    let named = match inspected.protected.get("aud") {
        None => return Ok(()),
        Some(Value::String(aud)) => names(aud),
        Some(Value::Array(auds)) => auds.iter().filter_map(Value::as_str).any(names),
        Some(_) => false,
    };
    if named {
        Ok(())
    } else {
        Err("the token's `aud` header does not name the resource it would be used for".into())
    }
}

/// RFC 6750 §2.1 `b64token`: what fits in an `Authorization: Bearer` header.
fn is_b64token(t: &str) -> bool {
    let body = t.trim_end_matches('=');
    !body.is_empty() && body.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
}
