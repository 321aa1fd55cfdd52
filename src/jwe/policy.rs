//! Decryption policy: the limits and allow-lists applied before and while decrypting.

use crate::jwa::{ContentEncryptionAlg, KeyManagementAlg};

/// Default maximum size of a serialized token, in bytes (64 KiB).
pub const DEFAULT_MAX_TOKEN_SIZE: usize = 64 * 1024;
/// Default maximum size of a decoded JOSE header (protected, shared or per-recipient), in bytes.
pub const DEFAULT_MAX_HEADER_SIZE: usize = 8 * 1024;
/// Default maximum number of recipients in a general JSON JWE.
pub const DEFAULT_MAX_RECIPIENTS: usize = 16;
/// Default maximum number of (recipient, key) decryption attempts per token: each is a
/// private-key operation (ECDH, RSA or PBKDF2), so this bounds the work one token can cause.
pub const DEFAULT_MAX_DECRYPT_ATTEMPTS: usize = 4;
/// Default maximum PBES2 iteration count accepted once PBES2 is opted into (CVE-2023-50967).
pub const DEFAULT_PBES2_MAX_ITERATIONS: u32 = 10_000;
/// Default maximum size of `zip`-decompressed plaintext once `zip` is opted into (256 KiB).
pub const DEFAULT_MAX_DECOMPRESSED_SIZE: usize = 256 * 1024;

/// What a decryptor accepts. `Default` is the safe configuration (RFC 8725 §3.1–3.2, §3.8):
/// every key management algorithm except `RSA1_5` and PBES2, every content encryption algorithm,
/// no `zip`, 64 KiB tokens, 16 recipients, 4 decryption attempts.
///
/// Configured only through its methods, so every opt-in takes effect on its own:
///
/// - `only_*` narrows an allow-list;
/// - `with_*` sets a limit;
/// - `allow_*` accepts something unusual but safe under the bound it takes: PBES2 with a `p2c`
///   cap ([`allow_pbes2`](Self::allow_pbes2): the cap is the CVE-2023-50967 guard, and the
///   password is the decryptor's own key) and `zip` with a size cap
///   ([`allow_zip`](Self::allow_zip): the cap is the zip-bomb guard; the length leak of
///   compression concerns the sender, not the decryptor);
/// - `dangerous_*` weakens security: [`dangerous_allow_rsa1_5`](Self::dangerous_allow_rsa1_5)
///   (PKCS#1 v1.5 key transport stays Bleichenbacher-prone, RFC 8725 §3.2).
///
/// An opt-in adds its algorithms to the allow-list; [`only_algs`](Self::only_algs) replaces the
/// list, so call it first (or name the opted-in algorithms in it).
///
/// ```
/// use jwe_mint::jwe::DecryptPolicy;
/// use jwe_mint::jwa::KeyManagementAlg;
/// let strict = DecryptPolicy::default().only_algs(&[KeyManagementAlg::EcdhEsA256Kw]);
/// assert!(strict.allows_alg(KeyManagementAlg::EcdhEsA256Kw));
/// assert!(!strict.allows_alg(KeyManagementAlg::RsaOaep));
/// assert!(!DecryptPolicy::default().allows_alg(KeyManagementAlg::Rsa1_5));
/// let legacy = DecryptPolicy::default().dangerous_allow_rsa1_5().with_max_token_size(16 * 1024);
/// assert!(legacy.allows_alg(KeyManagementAlg::Rsa1_5));
/// assert_eq!(legacy.max_token_size(), 16 * 1024);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DecryptPolicy {
    /// Key management algorithms accepted (RSA1_5 and PBES2 additionally need their opt-ins).
    pub(crate) allowed_algs: Vec<KeyManagementAlg>,
    /// Content encryption algorithms accepted.
    pub(crate) allowed_encs: Vec<ContentEncryptionAlg>,
    /// Tokens longer than this are rejected before any parsing.
    pub(crate) max_token_size: usize,
    /// Decoded JOSE headers longer than this are rejected.
    pub(crate) max_header_size: usize,
    /// General JSON JWEs with more recipients are rejected.
    pub(crate) max_recipients: usize,
    /// At most this many (recipient, key) pairs are tried when no `kid` picks the key.
    pub(crate) max_decrypt_attempts: usize,
    /// Require `enc` to be in the integrity-protected header (always true for access tokens).
    pub(crate) require_protected_enc: bool,
    /// Extension header names this application understands when listed in `crit`.
    pub(crate) understood_crit: Vec<String>,
    /// Legacy `RSA1_5` key transport accepted (Bleichenbacher-prone; decrypt only).
    pub(crate) dangerous_rsa1_5: bool,
    /// Password-based PBES2 accepted, up to this many PBKDF2 iterations (`None`: refused).
    pub(crate) pbes2_max_iterations: Option<u32>,
    /// `zip: "DEF"` accepted, inflating to at most this many bytes (`None`: refused).
    pub(crate) max_decompressed_size: Option<usize>,
}

impl Default for DecryptPolicy {
    fn default() -> Self {
        DecryptPolicy {
            allowed_algs: KeyManagementAlg::ALL
                .iter()
                .copied()
                .filter(|a| *a != KeyManagementAlg::Rsa1_5 && !a.is_pbes2())
                .collect(),
            allowed_encs: ContentEncryptionAlg::ALL.to_vec(),
            max_token_size: DEFAULT_MAX_TOKEN_SIZE,
            max_header_size: DEFAULT_MAX_HEADER_SIZE,
            max_recipients: DEFAULT_MAX_RECIPIENTS,
            max_decrypt_attempts: DEFAULT_MAX_DECRYPT_ATTEMPTS,
            require_protected_enc: false,
            understood_crit: Vec::new(),
            dangerous_rsa1_5: false,
            pbes2_max_iterations: None,
            max_decompressed_size: None,
        }
    }
}

impl DecryptPolicy {
    /// Accepts only these key management algorithms (opt-ins still apply: `RSA1_5` and PBES2
    /// listed here stay refused without theirs).
    pub fn only_algs(mut self, algs: &[KeyManagementAlg]) -> Self {
        self.allowed_algs = algs.to_vec();
        self
    }

    /// Accepts only these content encryption algorithms.
    pub fn only_encs(mut self, encs: &[ContentEncryptionAlg]) -> Self {
        self.allowed_encs = encs.to_vec();
        self
    }

    /// Tokens longer than `bytes` are [`LimitExceeded::TokenTooLarge`], checked before any
    /// parsing (default [`DEFAULT_MAX_TOKEN_SIZE`]).
    ///
    /// [`LimitExceeded::TokenTooLarge`]: crate::LimitExceeded::TokenTooLarge
    pub fn with_max_token_size(mut self, bytes: usize) -> Self {
        self.max_token_size = bytes;
        self
    }

    /// Decoded JOSE headers longer than `bytes` are [`LimitExceeded::HeaderTooLarge`] (default
    /// [`DEFAULT_MAX_HEADER_SIZE`]).
    ///
    /// [`LimitExceeded::HeaderTooLarge`]: crate::LimitExceeded::HeaderTooLarge
    pub fn with_max_header_size(mut self, bytes: usize) -> Self {
        self.max_header_size = bytes;
        self
    }

    /// General JSON JWEs listing more than `n` recipients are
    /// [`LimitExceeded::TooManyRecipients`] (default [`DEFAULT_MAX_RECIPIENTS`]).
    ///
    /// [`LimitExceeded::TooManyRecipients`]: crate::LimitExceeded::TooManyRecipients
    pub fn with_max_recipients(mut self, n: usize) -> Self {
        self.max_recipients = n;
        self
    }

    /// At most `n` (recipient, key) pairs are tried per token, each a private-key operation
    /// (default [`DEFAULT_MAX_DECRYPT_ATTEMPTS`]; at least one is always tried).
    pub fn with_max_decrypt_attempts(mut self, n: usize) -> Self {
        self.max_decrypt_attempts = n;
        self
    }

    /// Requires `enc` in the integrity-protected header (RFC 7516 §5.2 allows it anywhere).
    /// A resource server always requires it.
    pub fn require_protected_enc(mut self) -> Self {
        self.require_protected_enc = true;
        self
    }

    /// Declares the extension header parameter `name` understood when a token lists it in `crit`
    /// (RFC 7516 §4.1.13); the application must then process it. Registered names never are.
    pub fn understand_crit(mut self, name: &str) -> Self {
        if !self.understood_crit.iter().any(|u| u == name) {
            self.understood_crit.push(name.to_owned());
        }
        self
    }

    /// Dangerous opt-in: accept legacy `RSA1_5` key transport (and add it to the allow-list).
    /// Implements the RFC 7516 §11.5 countermeasure (random CEK on padding failure), but PKCS#1
    /// v1.5 remains fragile (RFC 8725 §3.2): use only for old senders.
    pub fn dangerous_allow_rsa1_5(mut self) -> Self {
        self.dangerous_rsa1_5 = true;
        if !self.allowed_algs.contains(&KeyManagementAlg::Rsa1_5) {
            self.allowed_algs.push(KeyManagementAlg::Rsa1_5);
        }
        self
    }

    /// Opt-in: accept PBES2 (and add the three PBES2 algorithms to the allow-list) with at most
    /// `max_iterations` PBKDF2 iterations. An attacker chooses `p2c`, so this bound is the
    /// CPU-exhaustion guard (CVE-2023-50967); [`DEFAULT_PBES2_MAX_ITERATIONS`] is a sound value.
    pub fn allow_pbes2(mut self, max_iterations: u32) -> Self {
        self.pbes2_max_iterations = Some(max_iterations);
        for a in KeyManagementAlg::ALL.iter().filter(|a| a.is_pbes2()) {
            if !self.allowed_algs.contains(a) {
                self.allowed_algs.push(*a);
            }
        }
        self
    }

    /// Opt-in: accept `zip: "DEF"` (RFC 7516 §4.1.3), inflating to at most `max_size` bytes (the
    /// zip-bomb guard; [`DEFAULT_MAX_DECOMPRESSED_SIZE`] is a sound value).
    pub fn allow_zip(mut self, max_size: usize) -> Self {
        self.max_decompressed_size = Some(max_size);
        self
    }

    /// Whether `alg` passes the allow-list and its opt-in.
    pub fn allows_alg(&self, alg: KeyManagementAlg) -> bool {
        self.allowed_algs.contains(&alg)
            && (alg != KeyManagementAlg::Rsa1_5 || self.dangerous_rsa1_5)
            && (!alg.is_pbes2() || self.pbes2_max_iterations.is_some())
    }

    /// Whether `enc` passes the allow-list.
    pub fn allows_enc(&self, enc: ContentEncryptionAlg) -> bool {
        self.allowed_encs.contains(&enc)
    }

    /// The largest token accepted, in bytes.
    pub fn max_token_size(&self) -> usize {
        self.max_token_size
    }

    /// The largest decoded JOSE header accepted, in bytes.
    pub fn max_header_size(&self) -> usize {
        self.max_header_size
    }

    /// The most recipients a general JSON JWE may list.
    pub fn max_recipients(&self) -> usize {
        self.max_recipients
    }

    /// The most (recipient, key) pairs tried per token.
    pub fn max_decrypt_attempts(&self) -> usize {
        self.max_decrypt_attempts
    }

    /// Whether `enc` must be integrity protected.
    pub fn requires_protected_enc(&self) -> bool {
        self.require_protected_enc
    }

    /// The extension header names understood in `crit`.
    pub fn understood_crit(&self) -> &[String] {
        &self.understood_crit
    }

    /// The PBES2 iteration cap, or `None` when PBES2 is refused.
    pub fn pbes2_max_iterations(&self) -> Option<u32> {
        self.pbes2_max_iterations
    }

    /// The `zip` inflation cap, or `None` when `zip` is refused.
    pub fn max_decompressed_size(&self) -> Option<usize> {
        self.max_decompressed_size
    }
}
