//! RFC 9068 JWT access-token claims.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The `aud` claim: one audience (the jwe-mint default) or several (multi-recipient tokens).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    /// Exactly one audience.
    One(String),
    /// Several audiences.
    Many(Vec<String>),
}

impl Audience {
    /// The audiences as a slice-like iterator.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        let (one, many) = match self {
            Audience::One(a) => (Some(a.as_str()), &[][..]),
            Audience::Many(v) => (None, v.as_slice()),
        };
        one.into_iter().chain(many.iter().map(String::as_str))
    }

    /// Whether `aud` is one of the audiences.
    pub fn contains(&self, aud: &str) -> bool {
        self.iter().any(|a| a == aud)
    }

    /// Number of audiences.
    pub fn len(&self) -> usize {
        match self {
            Audience::One(_) => 1,
            Audience::Many(v) => v.len(),
        }
    }

    /// Whether there is no audience at all (an empty array).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The claims of an RFC 9068 access token (`typ: at+jwt`).
///
/// ```
/// use jwe_mint::token::{AccessTokenClaims, Audience};
/// let json = r#"{"iss":"https://as.example","exp":2000000000,"aud":"https://rs.example",
///   "sub":"alice","client_id":"app","iat":1700000000,"jti":"x","scope":"a b","tenant":"t1"}"#;
/// let c: AccessTokenClaims = serde_json::from_str(json).unwrap();
/// assert_eq!(c.aud, Audience::One("https://rs.example".into()));
/// assert_eq!(c.scopes().collect::<Vec<_>>(), ["a", "b"]);
/// assert_eq!(c.extra["tenant"], "t1");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccessTokenClaims {
    /// Issuer: the authorization server.
    pub iss: String,
    /// Expiry, seconds since the Unix epoch.
    pub exp: i64,
    /// Audience: the resource server(s).
    pub aud: Audience,
    /// Subject: the resource owner (or the client for client-credentials grants).
    pub sub: String,
    /// The OAuth client the token was issued to.
    pub client_id: String,
    /// Issued at, seconds since the Unix epoch.
    pub iat: i64,
    /// Unique token identifier (≥ 128 random bits).
    pub jti: String,
    /// Space-separated scopes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Not before, seconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    /// Time of the end-user authentication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    /// Authentication context class reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
    /// Authentication methods references.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amr: Option<Vec<String>>,
    /// Confirmation (RFC 7800): the key the token is bound to; `jkt` for DPoP (RFC 9449 §6.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Confirmation>,
    /// Every other claim (caller-defined).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The `cnf` claim (RFC 7800 §3.1): what the presenter must prove to hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmation {
    /// The RFC 7638 SHA-256 thumbprint of the DPoP key (RFC 9449 §6.1), base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jkt: Option<String>,
    /// Other confirmation methods (`x5t#S256` for mTLS, RFC 8705 §3.1, …): a token bound by a
    /// method the server cannot check must be refused.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

impl AccessTokenClaims {
    /// The scopes, split on spaces.
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.scope.as_deref().unwrap_or("").split(' ').filter(|s| !s.is_empty())
    }
}

/// Registered claim names that callers may not set through `extra`.
pub(crate) const RESERVED_CLAIMS: &[&str] = &[
    "iss",
    "exp",
    "aud",
    "sub",
    "client_id",
    "iat",
    "jti",
    "scope",
    "nbf",
    "auth_time",
    "acr",
    "amr",
    "cnf",
];
