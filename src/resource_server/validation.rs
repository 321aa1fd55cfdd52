//! Claim validation settings of a resource server (RFC 9068 §4, RFC 8725).

use crate::jwa::SigningAlg;

/// Default clock skew tolerated for `exp`, `nbf` and `iat`, in seconds.
pub const DEFAULT_LEEWAY: u64 = 60;

/// Claim validation settings. `Default` is the safe configuration: 60 s leeway, every signature
/// algorithm jwe-mint implements (never `none`), encryption required, exactly one audience.
///
/// Configured only through its methods: `with_*` sets a value, `only_*` narrows a list,
/// `allow_*` accepts something unusual but safe, `dangerous_*` weakens security.
///
/// ```
/// use jwe_mint::resource_server::Validation;
/// let v = Validation::default().with_leeway(30).allow_subresources();
/// assert_eq!(v.leeway(), 30);
/// assert!(v.allows_subresources());
/// assert!(!v.accepts_unencrypted());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Validation {
    /// Clock skew tolerated, seconds.
    pub(super) leeway: u64,
    /// Accepted inner signature algorithms.
    pub(super) signing_algs: Vec<SigningAlg>,
    /// Accept audiences under this RS's URI (path-segment prefix), e.g. per-tenant URIs.
    pub(super) accept_subresources: bool,
    /// Accept plain (unencrypted) JWS tokens.
    pub(super) dangerous_accept_unencrypted: bool,
    /// Accept tokens whose `aud` names several resource servers (multi-recipient tokens).
    pub(super) dangerous_accept_multi_audience: bool,
}

impl Default for Validation {
    fn default() -> Self {
        Validation {
            leeway: DEFAULT_LEEWAY,
            signing_algs: SigningAlg::ALL.to_vec(),
            accept_subresources: false,
            dangerous_accept_unencrypted: false,
            dangerous_accept_multi_audience: false,
        }
    }
}

impl Validation {
    /// Tolerates `seconds` of clock skew for `exp`, `nbf` and `iat` (default [`DEFAULT_LEEWAY`]).
    pub fn with_leeway(mut self, seconds: u64) -> Self {
        self.leeway = seconds;
        self
    }

    /// Accepts only these inner signature algorithms (RFC 8725 §3.1).
    pub fn only_signing_algs(mut self, algs: &[SigningAlg]) -> Self {
        self.signing_algs = algs.to_vec();
        self
    }

    /// Opt-in: accept audiences under this RS's URI by path segment (e.g. per-tenant URIs
    /// `https://api.example.com/tenants/42` at the RS `https://api.example.com`).
    pub fn allow_subresources(mut self) -> Self {
        self.accept_subresources = true;
        self
    }

    /// Dangerous opt-in: accept plain (unencrypted) JWS tokens. Anyone who sees such a token can
    /// read it, and an RS that registered an encryption key should never receive one.
    pub fn dangerous_accept_unencrypted(mut self) -> Self {
        self.dangerous_accept_unencrypted = true;
        self
    }

    /// Dangerous opt-in: accept tokens whose `aud` names several resource servers
    /// (multi-recipient tokens). Any other audience can read and replay such a token here.
    pub fn dangerous_accept_multi_audience(mut self) -> Self {
        self.dangerous_accept_multi_audience = true;
        self
    }

    /// The tolerated clock skew, seconds.
    pub fn leeway(&self) -> u64 {
        self.leeway
    }

    /// The accepted inner signature algorithms.
    pub fn signing_algs(&self) -> &[SigningAlg] {
        &self.signing_algs
    }

    /// Whether audiences under this RS's URI are accepted.
    pub fn allows_subresources(&self) -> bool {
        self.accept_subresources
    }

    /// Whether unencrypted tokens are accepted.
    pub fn accepts_unencrypted(&self) -> bool {
        self.dangerous_accept_unencrypted
    }

    /// Whether tokens with several audiences are accepted.
    pub fn accepts_multi_audience(&self) -> bool {
        self.dangerous_accept_multi_audience
    }
}
