//! A scripted authorization server and resource server over HTTPS on 127.0.0.1 that check every
//! DPoP proof they receive with the library's `DpopValidation` (RFC 9449 §4.3), for the client's
//! DPoP tests (library and binary). Each server can demand a nonce (400 / 401
//! `use_dpop_nonce` with `DPoP-Nonce`), and logs what it saw.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Router;
use base64::Engine as _;
use jwe_mint::dpop::{DpopRejection, DpopRequest, DpopValidation, NonceCheck};
use serde_json::{json, Value};

use crate::servers::{free_origin, Pki, RouterServer};

/// The token the scripted AS issues unless told otherwise.
pub const TOKEN: &str = "dpop-bound-token-1";

/// A nonce only this exact value passes.
#[derive(Debug)]
struct Fixed(String);

impl NonceCheck for Fixed {
    fn accept(&self, nonce: &str, _now: i64) -> bool {
        nonce == self.0
    }
}

/// What the servers do, and what they saw.
pub struct Script {
    /// The AS's issuer (its origin).
    pub issuer: String,
    /// The RS's origin; its protected resource is `{rs}/data`.
    pub rs: String,
    /// The AS demands a proof on every token request.
    pub as_requires_proof: bool,
    /// The nonce the AS demands (`None`: none).
    pub as_nonce: Option<String>,
    /// The nonce the AS gives in `DPoP-Nonce` when it refuses for a nonce (default: `as_nonce`;
    /// another value makes an AS that never accepts the nonce it gives).
    pub as_nonce_given: Option<String>,
    /// The nonce the RS demands.
    pub rs_nonce: Option<String>,
    /// The token response's JSON (the AS answers it to every good token request).
    pub answer: Value,
    /// The proofs' claims the AS accepted, in order.
    pub as_proofs: Mutex<Vec<Value>>,
    /// The thumbprint of the key the AS's last accepted proof was signed with: the RS wants it.
    pub jkt: Mutex<Option<String>>,
    /// Every answer, in order: `"as 200"`, `"as 400 use_dpop_nonce"`, `"rs 401 invalid_dpop_proof
    /// (reason)"`, `"rs 200 DPoP"`, ...
    pub log: Mutex<Vec<String>>,
    /// The proofs' claims the RS accepted.
    pub rs_proofs: Mutex<Vec<Value>>,
}

impl Script {
    /// The default script: the AS wants a proof and answers a `DPoP` token for the RS, no nonces.
    pub fn new(issuer: &str, rs: &str) -> Script {
        Script {
            issuer: issuer.to_owned(),
            rs: rs.to_owned(),
            as_requires_proof: true,
            as_nonce: None,
            as_nonce_given: None,
            rs_nonce: None,
            answer: json!({"access_token": TOKEN, "token_type": "DPoP", "expires_in": 300, "resource": rs}),
            as_proofs: Mutex::new(Vec::new()),
            jkt: Mutex::new(None),
            log: Mutex::new(Vec::new()),
            rs_proofs: Mutex::new(Vec::new()),
        }
    }

    /// The answers so far.
    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    fn note(&self, entry: String) {
        self.log.lock().unwrap().push(entry);
    }
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

/// The claims of a proof (already verified), to look at `htm`, `htu`, `ath`, `nonce`.
fn claims(proof: &str) -> Value {
    let payload = proof.split('.').nth(1).unwrap();
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap())
        .unwrap()
}

/// Checks the request's proof for `method` `uri` with the library's validation: with `nonce`
/// required when given, with `ath` and the key binding when a token is presented.
fn check(
    headers: &HeaderMap,
    method: &str,
    uri: &str,
    nonce: Option<&str>,
    token: Option<(&str, &str)>,
) -> Result<Value, DpopRejection> {
    let proofs: Vec<&str> = headers.get_all("dpop").iter().map(|v| v.to_str().unwrap_or("")).collect();
    let mut validation = DpopValidation::default();
    if let Some(nonce) = nonce {
        validation = validation.require_nonce(Fixed(nonce.to_owned()));
    }
    let mut request = DpopRequest::new(proofs.iter().copied(), method, uri, now());
    if let Some((token, jkt)) = token {
        request = request.access_token(token).bound_to(jkt);
    }
    let checked = validation.check(&request)?;
    let claims = claims(proofs[0]);
    assert_eq!(claims["jti"].as_str().map(str::len), Some(22));
    Ok(json!({"claims": claims, "jkt": checked.jkt}))
}

fn reply(status: StatusCode, headers: &[(&str, String)], body: Value) -> Response {
    let mut response = Response::builder().status(status).header("content-type", "application/json");
    for (name, value) in headers {
        response = response.header(*name, value);
    }
    response.body(Body::from(body.to_string())).unwrap()
}

async fn authorization_server(State(s): State<Arc<Script>>, request: Request) -> Response {
    let (parts, _) = request.into_parts();
    let token_endpoint = format!("{}/token", s.issuer);
    match (parts.method.as_str(), parts.uri.path()) {
        ("GET", "/.well-known/oauth-authorization-server") => reply(
            StatusCode::OK,
            &[],
            json!({
                "issuer": s.issuer,
                "token_endpoint": token_endpoint,
                "jwks_uri": format!("{}/jwks.json", s.issuer),
                "dpop_signing_alg_values_supported": ["ES256"],
            }),
        ),
        ("POST", "/token") => {
            if !s.as_requires_proof {
                s.note("as 200".into());
                return reply(StatusCode::OK, &[], s.answer.clone());
            }
            // RFC 9449 §5: htm POST, htu the token endpoint, no access token presented.
            match check(&parts.headers, "POST", &token_endpoint, s.as_nonce.as_deref(), None) {
                Ok(seen) => {
                    assert!(seen["claims"].get("ath").is_none(), "no ath at the token endpoint");
                    *s.jkt.lock().unwrap() = Some(seen["jkt"].as_str().unwrap().to_owned());
                    s.as_proofs.lock().unwrap().push(seen["claims"].clone());
                    s.note("as 200".into());
                    reply(StatusCode::OK, &[], s.answer.clone())
                }
                Err(e @ (DpopRejection::NonceRequired | DpopRejection::NonceMismatch)) => {
                    s.note(format!("as 400 {}", e.error_code().unwrap_or("?")));
                    let nonce = s.as_nonce_given.clone().or_else(|| s.as_nonce.clone()).unwrap();
                    reply(
                        StatusCode::BAD_REQUEST,
                        &[("dpop-nonce", nonce)],
                        json!({"error": "use_dpop_nonce", "error_description": "use the nonce"}),
                    )
                }
                Err(e) => {
                    s.note(format!("as 400 invalid_dpop_proof ({e:?})"));
                    reply(StatusCode::BAD_REQUEST, &[], json!({"error": "invalid_dpop_proof"}))
                }
            }
        }
        _ => reply(StatusCode::NOT_FOUND, &[], json!({})),
    }
}

async fn resource_server(State(s): State<Arc<Script>>, request: Request) -> Response {
    let (parts, _) = request.into_parts();
    let metadata = format!("{}/.well-known/oauth-protected-resource", s.rs);
    let path = parts.uri.path();
    if path == "/.well-known/oauth-protected-resource" {
        return reply(StatusCode::OK, &[], json!({"resource": s.rs, "authorization_servers": [s.issuer]}));
    }
    if path != "/data" {
        return reply(StatusCode::NOT_FOUND, &[], json!({}));
    }
    let challenge = |error: &str| {
        ("www-authenticate", format!(r#"DPoP algs="ES256", error="{error}", resource_metadata="{metadata}""#))
    };
    let authorization = parts.headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("");
    let Some((scheme, token)) = authorization.split_once(' ') else {
        s.note("rs 401 no token".into());
        let bare = ("www-authenticate", format!(r#"DPoP algs="ES256", resource_metadata="{metadata}""#));
        return reply(StatusCode::UNAUTHORIZED, &[bare], json!({}));
    };
    if scheme == "Bearer" {
        // A bearer token comes without a proof.
        let proofs = parts.headers.get_all("dpop").iter().count();
        s.note(format!("rs 200 Bearer {token} proofs={proofs}"));
        return reply(StatusCode::OK, &[], json!({"scheme": "Bearer", "token": token}));
    }
    assert_eq!(scheme, "DPoP");
    let jkt = s.jkt.lock().unwrap().clone().unwrap_or_default();
    // RFC 9449 §7.1: htm, htu (the target without query), ath of the token, bound to the key.
    let uri = format!("{}{}", s.rs, path);
    match check(&parts.headers, parts.method.as_str(), &uri, s.rs_nonce.as_deref(), Some((token, &jkt))) {
        Ok(seen) => {
            s.rs_proofs.lock().unwrap().push(seen["claims"].clone());
            s.note(format!("rs 200 DPoP {token}"));
            reply(StatusCode::OK, &[], json!({"scheme": "DPoP", "token": token, "jkt": jkt}))
        }
        Err(e @ (DpopRejection::NonceRequired | DpopRejection::NonceMismatch)) => {
            s.note(format!("rs 401 {}", e.error_code().unwrap_or("?")));
            let nonce = s.rs_nonce.clone().unwrap();
            reply(StatusCode::UNAUTHORIZED, &[challenge("use_dpop_nonce"), ("dpop-nonce", nonce)], json!({}))
        }
        Err(e) => {
            s.note(format!("rs 401 invalid_dpop_proof ({e:?})"));
            reply(StatusCode::UNAUTHORIZED, &[challenge("invalid_dpop_proof")], json!({}))
        }
    }
}

/// The scripted AS and RS, running.
pub struct DpopWorld {
    /// The script both servers follow (adjust it before the first request).
    pub script: Arc<Script>,
    _servers: Vec<RouterServer>,
}

impl DpopWorld {
    /// Starts both servers on free ports with the script `adjust` makes of the default one.
    pub async fn start(pki: &Pki, adjust: impl FnOnce(&mut Script)) -> DpopWorld {
        let (as_addr, issuer) = free_origin();
        let (rs_addr, rs) = free_origin();
        let mut script = Script::new(&issuer, &rs);
        adjust(&mut script);
        let script = Arc::new(script);
        let as_app = Router::new().fallback(authorization_server).with_state(Arc::clone(&script));
        let rs_app = Router::new().fallback(resource_server).with_state(Arc::clone(&script));
        let servers = vec![
            RouterServer::start(pki, as_addr, as_app).await,
            RouterServer::start(pki, rs_addr, rs_app).await,
        ];
        DpopWorld { script, _servers: servers }
    }

    /// The RS's protected URL.
    pub fn data(&self) -> String {
        format!("{}/data", self.script.rs)
    }
}
