//! The crate's single error type.

use std::fmt;

/// Everything that can go wrong in jwe-mint.
///
/// Messages never contain key material, plaintext or whole tokens. Every failure after header
/// parsing on the decryption path collapses into [`Error::DecryptionFailed`], so an attacker cannot
/// tell a bad key-unwrap from a bad padding from a bad tag.
///
/// ```
/// use jwe_mint::Error;
/// let e = Error::DecryptionFailed;
/// assert_eq!(e.to_string(), "decryption failed");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The token or document is not well-formed (bad segment count, bad base64url, bad JSON, …).
    #[error("malformed input: {0}")]
    Malformed(String),
    /// A key is not usable: wrong type, bad parameters, not on the curve, private when public was
    /// expected, …
    #[error("invalid key: {0}")]
    InvalidKey(String),
    /// An algorithm name jwe-mint does not implement.
    #[error("unsupported algorithm: {0}")]
    UnsupportedAlgorithm(String),
    /// An algorithm that is implemented but not allowed by the active policy (or needs an opt-in).
    #[error("algorithm not allowed: {0}")]
    AlgorithmNotAllowed(String),
    /// The input breaks a policy limit or rule (size, recipients, `crit`, header placement, …).
    #[error("policy violation: {0}")]
    Policy(String),
    /// None of the available keys fits the token (`kid`, key type or algorithm).
    #[error("no matching key: {0}")]
    NoMatchingKey(String),
    /// The selected crypto provider refuses this operation (e.g. RSA decryption in the
    /// `rust-crypto` provider, whose RSA crate has an open timing advisory). Use the `aws-lc`
    /// provider for it.
    #[error("refused by the {provider} crypto provider: {reason}")]
    RefusedByProvider {
        /// The provider name.
        provider: &'static str,
        /// Why.
        reason: &'static str,
    },
    /// Decryption failed. Deliberately opaque: see the type-level docs.
    #[error("decryption failed")]
    DecryptionFailed,
    /// A JWS signature did not verify.
    #[error("invalid signature")]
    InvalidSignature,
    /// The crypto provider failed while producing output (e.g. random source, key generation).
    #[error("cryptographic operation failed: {0}")]
    Crypto(&'static str),
    /// A token's claims failed validation (expired, wrong audience, wrong issuer, …).
    #[error("invalid token: {0}")]
    InvalidToken(TokenRejection),
    /// An OAuth token request that a token endpoint must refuse with the given error code.
    #[error("{code}: {description}")]
    OAuth {
        /// The RFC 6749 / RFC 8707 error code (`invalid_target`, `invalid_scope`, …).
        code: OAuthErrorCode,
        /// Human-readable detail (no secrets).
        description: String,
    },
}

/// Why a decrypted and verified token was still rejected by a resource server.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenRejection {
    /// `exp` is in the past (beyond leeway).
    Expired,
    /// `nbf` (or `iat`) is in the future (beyond leeway).
    NotYetValid,
    /// `iss` is not the expected issuer.
    WrongIssuer,
    /// `aud` does not contain this resource server.
    WrongAudience,
    /// `typ` of the inner JWS (or `cty` of the outer JWE) is not an access token type.
    WrongType,
    /// A required claim is missing or has the wrong JSON type.
    MissingClaim(&'static str),
    /// A claim replicated in the JWE header differs from the signed claim.
    HeaderClaimMismatch(&'static str),
    /// The token is not encrypted but this resource server requires encryption.
    NotEncrypted,
    /// The token names several audiences and this resource server did not opt in to that.
    MultipleAudiences,
}

impl fmt::Display for TokenRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenRejection::Expired => f.write_str("expired"),
            TokenRejection::NotYetValid => f.write_str("not yet valid"),
            TokenRejection::WrongIssuer => f.write_str("wrong issuer"),
            TokenRejection::WrongAudience => f.write_str("wrong audience"),
            TokenRejection::WrongType => f.write_str("wrong token type"),
            TokenRejection::MissingClaim(c) => write!(f, "missing or invalid claim `{c}`"),
            TokenRejection::HeaderClaimMismatch(c) => write!(f, "header `{c}` differs from the signed claim"),
            TokenRejection::NotEncrypted => f.write_str("token is not encrypted"),
            TokenRejection::MultipleAudiences => f.write_str("token has several audiences"),
        }
    }
}

/// OAuth error codes a token endpoint returns for a refused request (RFC 6749 §5.2, RFC 8707 §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum OAuthErrorCode {
    /// The requested resource is unknown, not allowed, or malformed (RFC 8707).
    InvalidTarget,
    /// The requested scope is invalid or empty for the resource.
    InvalidScope,
    /// The client may not obtain a token for this resource.
    UnauthorizedClient,
    /// The request is malformed.
    InvalidRequest,
}

impl OAuthErrorCode {
    /// The wire form, e.g. `"invalid_target"`.
    pub fn as_str(self) -> &'static str {
        match self {
            OAuthErrorCode::InvalidTarget => "invalid_target",
            OAuthErrorCode::InvalidScope => "invalid_scope",
            OAuthErrorCode::UnauthorizedClient => "unauthorized_client",
            OAuthErrorCode::InvalidRequest => "invalid_request",
        }
    }
}

impl fmt::Display for OAuthErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Crate-wide result alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn malformed(msg: impl Into<String>) -> Self {
        Error::Malformed(msg.into())
    }
    pub(crate) fn invalid_key(msg: impl Into<String>) -> Self {
        Error::InvalidKey(msg.into())
    }
    pub(crate) fn policy(msg: impl Into<String>) -> Self {
        Error::Policy(msg.into())
    }
}
