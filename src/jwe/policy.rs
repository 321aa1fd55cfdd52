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

/// What a decryptor accepts. `Default` is the safe configuration of DESIGN §4: every key
/// management algorithm except `RSA1_5` and PBES2, every content encryption algorithm, no `zip`,
/// 64 KiB tokens, 16 recipients.
///
/// Dangerous options are opt-in methods whose names say so.
///
/// ```
/// use jwe_mint::jwe::DecryptPolicy;
/// use jwe_mint::jwa::KeyManagementAlg;
/// let strict = DecryptPolicy::default().only_algs(&[KeyManagementAlg::EcdhEsA256Kw]);
/// assert!(strict.allows_alg(KeyManagementAlg::EcdhEsA256Kw));
/// assert!(!strict.allows_alg(KeyManagementAlg::RsaOaep));
/// assert!(!DecryptPolicy::default().allows_alg(KeyManagementAlg::Rsa1_5));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecryptPolicy {
    /// Key management algorithms accepted (RSA1_5 and PBES2 additionally need their opt-ins).
    pub allowed_algs: Vec<KeyManagementAlg>,
    /// Content encryption algorithms accepted.
    pub allowed_encs: Vec<ContentEncryptionAlg>,
    /// Tokens longer than this are rejected before any parsing.
    pub max_token_size: usize,
    /// Decoded JOSE headers longer than this are rejected.
    pub max_header_size: usize,
    /// General JSON JWEs with more recipients are rejected.
    pub max_recipients: usize,
    /// At most this many (recipient, key) pairs are tried when no `kid` picks the key.
    pub max_decrypt_attempts: usize,
    /// Require `enc` to be in the integrity-protected header (always true for access tokens).
    pub require_protected_enc: bool,
    /// Extension header names this application understands when listed in `crit`.
    pub understood_crit: Vec<String>,
    /// Legacy `RSA1_5` key transport accepted (Bleichenbacher-prone; decrypt only).
    pub allow_legacy_rsa1_5: bool,
    /// Password-based PBES2 accepted, up to this many PBKDF2 iterations (`None`: refused).
    pub pbes2_max_iterations: Option<u32>,
    /// `zip: "DEF"` accepted, inflating to at most this many bytes (`None`: refused).
    pub max_decompressed_size: Option<usize>,
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
            allow_legacy_rsa1_5: false,
            pbes2_max_iterations: None,
            max_decompressed_size: None,
        }
    }
}

impl DecryptPolicy {
    /// Accepts only these key management algorithms (opt-ins still apply).
    pub fn only_algs(mut self, algs: &[KeyManagementAlg]) -> Self {
        self.allowed_algs = algs.to_vec();
        self
    }

    /// Accepts only these content encryption algorithms.
    pub fn only_encs(mut self, encs: &[ContentEncryptionAlg]) -> Self {
        self.allowed_encs = encs.to_vec();
        self
    }

    /// Opt-in: accept legacy `RSA1_5`. Implements the RFC 7516 §11.5 countermeasure (random CEK on
    /// padding failure), but PKCS#1 v1.5 remains fragile: use only for old senders.
    pub fn allow_legacy_rsa1_5(mut self) -> Self {
        self.allow_legacy_rsa1_5 = true;
        if !self.allowed_algs.contains(&crate::jwa::KeyManagementAlg::Rsa1_5) {
            self.allowed_algs.push(KeyManagementAlg::Rsa1_5);
        }
        self
    }

    /// Opt-in: accept PBES2 with at most `max_iterations` PBKDF2 iterations (an attacker chooses
    /// `p2c`, so this bound is a CPU-exhaustion guard).
    pub fn allow_pbes2(mut self, max_iterations: u32) -> Self {
        self.pbes2_max_iterations = Some(max_iterations);
        for a in KeyManagementAlg::ALL.iter().filter(|a| a.is_pbes2()) {
            if !self.allowed_algs.contains(a) {
                self.allowed_algs.push(*a);
            }
        }
        self
    }

    /// Opt-in: accept `zip: "DEF"`, inflating to at most `max_size` bytes (zip-bomb guard).
    pub fn allow_zip(mut self, max_size: usize) -> Self {
        self.max_decompressed_size = Some(max_size);
        self
    }

    /// Whether `alg` passes the allow-list and its opt-in.
    pub fn allows_alg(&self, alg: KeyManagementAlg) -> bool {
        self.allowed_algs.contains(&alg)
            && (alg != KeyManagementAlg::Rsa1_5 || self.allow_legacy_rsa1_5)
            && (!alg.is_pbes2() || self.pbes2_max_iterations.is_some())
    }

    /// Whether `enc` passes the allow-list.
    pub fn allows_enc(&self, enc: ContentEncryptionAlg) -> bool {
        self.allowed_encs.contains(&enc)
    }
}
