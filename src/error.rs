//! The crate's single error type.

use std::fmt;
use std::sync::Arc;

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
    /// The token or document is not well-formed, or breaks a structural rule of the JOSE RFCs or
    /// of the [`DecryptPolicy`](crate::jwe::DecryptPolicy): bad segment count, bad base64url, bad
    /// or duplicate-member JSON, a `crit` extension not understood (RFC 7516 §4.1.13), a header
    /// parameter in the wrong header, an unprotected `enc` where protection is required, …
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
    /// The input is larger, deeper or costlier than a configured limit allows (see
    /// [`LimitExceeded`]). Hostile input hits these; the limit, never the input, is reported.
    #[error("limit exceeded: {0}")]
    Limit(LimitExceeded),
    /// The caller used the API in a way it does not support (a mistake in the calling code or its
    /// configuration, never caused by a token): e.g. two recipients for the compact serialization,
    /// a header parameter the encryptor sets itself, a claim name the issuer sets itself.
    #[error("API misuse: {0}")]
    Misuse(Misuse),
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
    /// A private key held in a PKCS#11 token (feature `pkcs11`) cannot be used: the module or token
    /// is missing, the PIN is refused, the object is missing or of the wrong type, or the token
    /// does not support the mechanism, or jwe-mint refuses the algorithm with a token key
    /// (`RSA1_5`). Never caused by a token's bytes; the message names the key's URI, never the PIN.
    #[error("PKCS#11: {0}")]
    Pkcs11(String),
    /// Keys that come from a [`JwkSource`](crate::jwk::JwkSource) (a `jwks_uri`) are unavailable
    /// or unusable. A server-side failure: token endpoints answer `server_error` (an extension to
    /// RFC 6749 §5.2, which has no code for it), never an unencrypted token.
    ///
    /// Its [`source`](std::error::Error::source) is the [`KeySourceError`], whose own source (if
    /// any) is the failure underneath.
    #[error("server_error: {0}")]
    KeySource(#[source] KeySourceError),
    /// A DPoP proof (RFC 9449) was refused: see [`DpopRejection`] for each reason, and
    /// [`DpopRejection::error_code`] for the OAuth error a server answers with.
    #[error("DPoP proof refused: {0}")]
    Dpop(DpopRejection),
}

/// Which limit an input exceeded ([`Error::Limit`]). Each variant carries the configured bound,
/// never the offending value, so an error message stays small whatever the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LimitExceeded {
    /// The serialized token is longer than
    /// [`DecryptPolicy::max_token_size`](crate::jwe::DecryptPolicy::max_token_size) bytes.
    TokenTooLarge {
        /// The limit, in bytes.
        max: usize,
    },
    /// A nested compact JWS is longer than [`MAX_JWS_SIZE`](crate::jws::MAX_JWS_SIZE) bytes.
    JwsTooLarge {
        /// The limit, in bytes.
        max: usize,
    },
    /// A decoded JOSE header is longer than
    /// [`DecryptPolicy::max_header_size`](crate::jwe::DecryptPolicy::max_header_size) bytes.
    HeaderTooLarge {
        /// The limit, in bytes.
        max: usize,
    },
    /// A general JSON JWE lists more recipients than
    /// [`DecryptPolicy::max_recipients`](crate::jwe::DecryptPolicy::max_recipients) (a resource
    /// server allows one unless it opted in to multi-audience tokens).
    TooManyRecipients {
        /// How many recipients the token lists.
        found: usize,
        /// The limit.
        max: usize,
    },
    /// A PBES2 `p2c` above the cap set with
    /// [`DecryptPolicy::allow_pbes2`](crate::jwe::DecryptPolicy::allow_pbes2) (CVE-2023-50967).
    Pbes2IterationsTooHigh {
        /// The cap.
        max: u32,
    },
    /// `zip: "DEF"` content inflates beyond the cap set with
    /// [`DecryptPolicy::allow_zip`](crate::jwe::DecryptPolicy::allow_zip) (a zip bomb).
    DecompressedTooLarge {
        /// The cap, in bytes.
        max: usize,
    },
    /// JSON (a header, claims, a key) nests arrays and objects deeper than this.
    JsonTooDeep {
        /// The maximum nesting depth.
        max: usize,
    },
}

impl fmt::Display for LimitExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LimitExceeded::TokenTooLarge { max } => write!(f, "token larger than {max} bytes"),
            LimitExceeded::JwsTooLarge { max } => write!(f, "JWS larger than {max} bytes"),
            LimitExceeded::HeaderTooLarge { max } => write!(f, "JOSE header larger than {max} bytes"),
            LimitExceeded::TooManyRecipients { found, max } => {
                // No opt-in is named: for `jwe::decrypt` the bound is the policy's, and a resource
                // server's depends on its own opt-in (the variant's docs say which).
                write!(f, "{found} recipients, at most {max} allowed")
            }
            LimitExceeded::Pbes2IterationsTooHigh { max } => {
                write!(f, "PBES2 `p2c` above the cap of {max} iterations")
            }
            LimitExceeded::DecompressedTooLarge { max } => {
                write!(f, "decompressed content larger than {max} bytes")
            }
            LimitExceeded::JsonTooDeep { max } => write!(f, "JSON nested deeper than {max} levels"),
        }
    }
}

impl From<LimitExceeded> for Error {
    fn from(l: LimitExceeded) -> Self {
        Error::Limit(l)
    }
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
    /// The token uses a JSON serialization; access tokens are compact unless the resource server
    /// opted in to multi-audience tokens.
    NotCompact,
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
            TokenRejection::NotCompact => f.write_str(
                "access token is not in the compact serialization (JSON needs the multi-audience opt-in)",
            ),
        }
    }
}

/// Why a DPoP proof (RFC 9449) was refused ([`crate::dpop`]): one variant per check of RFC 9449
/// §4.3, so a server can log the reason and answer the right error. No variant carries bytes of
/// the proof.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DpopRejection {
    /// The request has no `DPoP` header field.
    Missing,
    /// More than one proof: several `DPoP` field values, or one holding a comma or whitespace
    /// (RFC 9449 §4.3 step 1: exactly one).
    Multiple,
    /// Not a well-formed compact JWS with JSON objects for header and claims (or larger than the
    /// configured bound); the text says which rule, never what the proof held.
    Malformed(&'static str),
    /// The header's `typ` is not exactly `dpop+jwt`.
    WrongType,
    /// The header's `alg` is not one the validation allows (`none` and MAC algorithms never are).
    AlgorithmNotAllowed,
    /// The header has no `jwk`.
    MissingJwk,
    /// The header's `jwk` holds a private or symmetric key member (RFC 9449 §4.3 step 7).
    PrivateKeyInJwk,
    /// The header's `jwk` is not a usable public key (unknown type, point off the curve, RSA key
    /// shorter than 2048 bits, …).
    InvalidJwk,
    /// The header's `jwk` cannot make `alg` signatures (another key type or curve, or its own
    /// `alg`, `use` or `key_ops` forbid it).
    KeyAlgorithmMismatch,
    /// The signature does not verify under the header's `jwk`.
    BadSignature,
    /// A required claim (`htm`, `htu`, `iat`) is missing or of the wrong JSON type.
    MissingClaim(&'static str),
    /// `jti` is missing, empty or not a string.
    MissingJti,
    /// `jti` is longer than the bound ([`crate::dpop::MAX_JTI_LEN`] characters).
    JtiTooLong,
    /// `htm` is not the request's method (case-sensitive, RFC 9110 §9.1).
    MethodMismatch,
    /// `htu` is not the request's target URI once both are normalised (RFC 3986 §6.2.2–6.2.3),
    /// query and fragment ignored, or it is not an `http(s)` URI.
    UriMismatch,
    /// The target URI the server gave for the request is not an absolute `http(s)` URI: a mistake
    /// of the calling server, never of the client.
    BadRequestTarget,
    /// `iat` is further in the past or in the future than the validation's window.
    IssuedAtOutOfWindow,
    /// An access token came with the proof but the proof has no `ath`.
    AccessTokenHashMissing,
    /// `ath` is not the hash of the access token that came with the proof.
    AccessTokenHashMismatch,
    /// The server requires a nonce and the proof has none (answer `use_dpop_nonce`).
    NonceRequired,
    /// The proof's `nonce` is not one the server accepts now (answer `use_dpop_nonce`).
    NonceMismatch,
    /// The proof's key is not the key the access token is bound to (`cnf.jkt`, RFC 9449 §6.1).
    KeyMismatch,
    /// This proof was already used (RFC 9449 §11.1).
    Replayed,
    /// The proof's key already holds its share of the replay store: too many unexpired proofs by
    /// one key (a client sending proofs faster than the store is sized for, or one trying to
    /// fill it for every other client).
    TooManyProofs,
    /// The replay store is full of unexpired proofs: refused rather than forgetting one (a server
    /// problem: answer 503).
    ReplayStoreFull,
    /// The replay store could not be asked (a server problem: answer 503).
    ReplayStoreUnavailable,
}

impl DpopRejection {
    /// The OAuth error a server answers with (RFC 9449 §7.1, §8, §9): `use_dpop_nonce` for a
    /// missing or wrong nonce, `invalid_dpop_proof` for every other refused proof, and `None`
    /// for the server's own failures ([`ReplayStoreFull`](Self::ReplayStoreFull),
    /// [`ReplayStoreUnavailable`](Self::ReplayStoreUnavailable),
    /// [`BadRequestTarget`](Self::BadRequestTarget)), which are not the client's fault.
    pub fn error_code(self) -> Option<&'static str> {
        match self {
            DpopRejection::NonceRequired | DpopRejection::NonceMismatch => Some("use_dpop_nonce"),
            DpopRejection::ReplayStoreFull
            | DpopRejection::ReplayStoreUnavailable
            | DpopRejection::BadRequestTarget => None,
            _ => Some("invalid_dpop_proof"),
        }
    }
}

impl fmt::Display for DpopRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DpopRejection::Missing => f.write_str("no DPoP proof"),
            DpopRejection::Multiple => f.write_str("exactly one DPoP proof is allowed"),
            DpopRejection::Malformed(why) => write!(f, "malformed proof: {why}"),
            DpopRejection::WrongType => f.write_str("`typ` is not `dpop+jwt`"),
            DpopRejection::AlgorithmNotAllowed => f.write_str("`alg` not allowed"),
            DpopRejection::MissingJwk => f.write_str("no `jwk` in the header"),
            DpopRejection::PrivateKeyInJwk => f.write_str("the header's `jwk` holds a private key"),
            DpopRejection::InvalidJwk => f.write_str("the header's `jwk` is not a usable public key"),
            DpopRejection::KeyAlgorithmMismatch => f.write_str("the header's `jwk` does not fit `alg`"),
            DpopRejection::BadSignature => f.write_str("invalid signature"),
            DpopRejection::MissingClaim(c) => write!(f, "missing or invalid claim `{c}`"),
            DpopRejection::MissingJti => f.write_str("missing or invalid claim `jti`"),
            DpopRejection::JtiTooLong => f.write_str("`jti` too long"),
            DpopRejection::MethodMismatch => f.write_str("`htm` is not the request's method"),
            DpopRejection::UriMismatch => f.write_str("`htu` is not the request's URI"),
            DpopRejection::BadRequestTarget => f.write_str("the request's target URI is not an http(s) URI"),
            DpopRejection::IssuedAtOutOfWindow => f.write_str("`iat` outside the accepted window"),
            DpopRejection::AccessTokenHashMissing => f.write_str("no `ath` with an access token"),
            DpopRejection::AccessTokenHashMismatch => f.write_str("`ath` is not the access token's hash"),
            DpopRejection::NonceRequired => f.write_str("a nonce is required"),
            DpopRejection::NonceMismatch => f.write_str("wrong or stale nonce"),
            DpopRejection::KeyMismatch => f.write_str("the proof's key is not the token's key"),
            DpopRejection::Replayed => f.write_str("proof already used"),
            DpopRejection::TooManyProofs => f.write_str("too many unexpired proofs by this key"),
            DpopRejection::ReplayStoreFull => f.write_str("replay store full"),
            DpopRejection::ReplayStoreUnavailable => f.write_str("replay store unavailable"),
        }
    }
}

impl From<DpopRejection> for Error {
    fn from(r: DpopRejection) -> Self {
        Error::Dpop(r)
    }
}

/// Why a [`JwkSource`](crate::jwk::JwkSource) cannot give keys. Both kinds are the server's problem, never the
/// caller's: a token endpoint answers them with `server_error` (HTTP 503 for
/// [`KeySourceError::Unavailable`], 500 for [`KeySourceError::NoUsableKey`]), a resource server
/// with 503.
///
/// An [`Unavailable`](KeySourceError::Unavailable) error may carry the failure underneath as its
/// [`source`](std::error::Error::source), with its own type (the `wire` module's `WireError`,
/// for example), so a caller can walk the chain from [`Error::KeySource`] and downcast it.
/// Equality compares the kind, the location and the reason, never the source: the reason already
/// carries the source's message, and `dyn Error` has no equality (comparing the `Arc`s would make
/// two reports of one failure unequal).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum KeySourceError {
    /// The keys could not be obtained, or the last good set is older than its staleness cap: the
    /// source fails closed. Usually transient (retry later).
    Unavailable {
        /// Where the keys come from (a URL, a file), without credentials.
        location: String,
        /// What went wrong (never a response body or a secret).
        reason: String,
        /// The failure underneath, when the source has it as an error value; returned by
        /// [`std::error::Error::source`]. `None` when there is none to give.
        source: Option<Arc<dyn std::error::Error + Send + Sync>>,
    },
    /// The keys were obtained, but none is usable for the job (e.g. an RS that publishes only
    /// `use: sig` keys, or only keys of an algorithm tokens may not use).
    NoUsableKey {
        /// Where the keys come from.
        location: String,
        /// Why no key fits.
        reason: String,
    },
}

impl fmt::Display for KeySourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeySourceError::Unavailable { location, reason, .. } => {
                write!(f, "keys from {location} are unavailable: {reason}")
            }
            KeySourceError::NoUsableKey { location, reason } => {
                write!(f, "no usable key from {location}: {reason}")
            }
        }
    }
}

impl std::error::Error for KeySourceError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            // The error itself, not the `Arc` around it, so that `downcast_ref` sees its type.
            KeySourceError::Unavailable { source: Some(source), .. } => {
                Some(&**source as &(dyn std::error::Error + 'static))
            }
            _ => None,
        }
    }
}

/// Compares what the error reports (kind, location, reason), not its source: see the type's docs.
impl PartialEq for KeySourceError {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (
                KeySourceError::Unavailable { location: l1, reason: r1, .. },
                KeySourceError::Unavailable { location: l2, reason: r2, .. },
            )
            | (
                KeySourceError::NoUsableKey { location: l1, reason: r1 },
                KeySourceError::NoUsableKey { location: l2, reason: r2 },
            ) => l1 == l2 && r1 == r2,
            _ => false,
        }
    }
}

impl Eq for KeySourceError {}

impl KeySourceError {
    /// Where the keys come from.
    pub fn location(&self) -> &str {
        match self {
            KeySourceError::Unavailable { location, .. } | KeySourceError::NoUsableKey { location, .. } => {
                location
            }
        }
    }

    /// `true` when retrying later may help ([`KeySourceError::Unavailable`]).
    pub fn is_transient(&self) -> bool {
        matches!(self, KeySourceError::Unavailable { .. })
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

/// The kind of an [`Error::Misuse`]: a mistake in the calling code or its configuration, told
/// apart by kind so callers and tests never match on message text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Misuse {
    /// A JOSE header parameter the library sets itself (`alg` for a signer; `enc`, `epk`, `iv`,
    /// … for an encryptor).
    #[error("header parameter `{0}` is set by the library")]
    ReservedHeader(String),
    /// A header parameter given twice across the headers of one JWE (RFC 7516 §7.2.1: the
    /// headers must be disjoint).
    #[error("header parameter `{0}` set twice")]
    DuplicateHeader(String),
    /// Not an RFC 7638 SHA-256 key thumbprint (43 base64url characters), where one is needed
    /// (`cnf.jkt`, RFC 9449 §6.1).
    #[error("not a SHA-256 JWK thumbprint (43 base64url characters)")]
    NotThumbprint,
    /// A claim the issuer sets itself (RFC 9068 §2.2: `iss`, `aud`, `exp`, `client_id`, …).
    #[error("claim `{0}` is set by the issuer")]
    ReservedClaim(String),
    /// An encryption with no recipient.
    #[error("no recipient")]
    NoRecipient,
    /// Several recipients for a serialization that holds exactly one (`compact`, `flattened`).
    #[error("the {0} serialization takes exactly one recipient")]
    OneRecipientOnly(&'static str),
    /// An unprotected header or AAD for the compact serialization, which has neither.
    #[error("the compact serialization has no unprotected header or aad")]
    UnprotectedInCompact,
    /// A key management algorithm that cannot wrap a shared key (`dir`, `ECDH-ES`) used for
    /// several recipients.
    #[error("`{alg}` cannot serve several recipients")]
    SingleRecipientAlgorithm {
        /// The algorithm.
        alg: String,
    },
    /// The resources of one multi-recipient token use different content encryption (one token
    /// has one `enc`).
    #[error(
        "a multi-recipient token has one `enc`, but {first} uses {first_enc} and {other} uses {other_enc}"
    )]
    MixedContentEncryption {
        /// The first resource.
        first: String,
        /// Its `enc`.
        first_enc: String,
        /// The resource that differs.
        other: String,
        /// Its `enc`.
        other_enc: String,
    },
    /// A grant that names no resource.
    #[error("a grant without resources")]
    NoResource,
    /// An identifier that must be an absolute URI (`issuer`).
    #[error("{0} must be an absolute URI")]
    NotAbsoluteUri(&'static str),
    /// A DPoP proof for a method that is not an HTTP method token (RFC 9110 §9.1, §5.6.2).
    #[error("not an HTTP method")]
    NotHttpMethod,
    /// A token lifetime of zero seconds.
    #[error("token lifetime must be positive")]
    ZeroLifetime,
    /// A resource server built without one of its key sets (`decryption keys`, `issuer keys`).
    #[error("no {0}: name them on the builder")]
    MissingKeys(&'static str),
    /// A registry entry's key source bound twice, or bound or rotated where the entry's keys are
    /// of the other kind.
    #[error("{resource}: {reason}")]
    KeySource {
        /// The entry's resource.
        resource: String,
        /// What was wrong.
        reason: &'static str,
    },
    /// A configuration value a builder refuses, with the reason: what a configuration error of
    /// the `wire` module (its `ConfigError`, whose kinds can be matched) becomes when converted
    /// into this type.
    #[error("{0}")]
    Configuration(String),
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
}

impl From<KeySourceError> for Error {
    fn from(e: KeySourceError) -> Self {
        Error::KeySource(e)
    }
}
