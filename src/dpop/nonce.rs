//! Server nonces (RFC 9449 §8, §9): a MAC over a time step under a secret the server's replicas
//! share, so any replica accepts a nonce another issued and none keeps state.

use std::fmt;

use zeroize::Zeroizing;

use crate::b64;
use crate::error::{Error, Result};

/// The default length of a nonce's time step: 300 seconds; a nonce is accepted for one to two
/// steps.
pub const DEFAULT_NONCE_PERIOD: u32 = 300;

/// The shortest secret accepted, in bytes (HMAC-SHA-256's output length, RFC 2104 §3).
pub const MIN_NONCE_SECRET: usize = 32;

/// Domain separation: this secret's MACs mean "a DPoP nonce of this step" and nothing else.
const LABEL: &[u8] = b"jwe-mint DPoP nonce v1\0";

/// Bytes of the MAC kept in a nonce (128 bits).
const TAG_LEN: usize = 16;

/// Whether a nonce is one the server accepts at a time ([`DpopValidation::require_nonce`]).
///
/// [`DpopValidation::require_nonce`]: super::DpopValidation::require_nonce
pub trait NonceCheck: Send + Sync + fmt::Debug {
    /// Whether `nonce` is accepted at `now` (seconds since the Unix epoch).
    fn accept(&self, nonce: &str, now: i64) -> bool;
}

/// Nonces for a server's `DPoP-Nonce` field: `issue` gives the nonce of the current time step,
/// `accept` takes the nonce of the current or the previous step. Replicas built with the same
/// secret accept each other's nonces. The secret zeroizes on drop and is never shown.
///
/// ```
/// use jwe_mint::dpop::NonceSource;
/// let nonces = NonceSource::new(&[7u8; 32]).unwrap();
/// let replica = NonceSource::new(&[7u8; 32]).unwrap();
/// let n = nonces.issue(1_700_000_000).unwrap();
/// assert!(replica.accept(&n, 1_700_000_100));
/// assert!(!replica.accept(&n, 1_700_001_000));
/// ```
#[derive(Clone)]
pub struct NonceSource {
    secret: Zeroizing<Vec<u8>>,
    period: u32,
}

impl fmt::Debug for NonceSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NonceSource").field("period", &self.period).finish_non_exhaustive()
    }
}

impl NonceSource {
    /// Nonces under `secret` (at least [`MIN_NONCE_SECRET`] bytes), with the default period.
    pub fn new(secret: &[u8]) -> Result<NonceSource> {
        if secret.len() < MIN_NONCE_SECRET {
            return Err(Error::invalid_key(format!(
                "a DPoP nonce secret has at least {MIN_NONCE_SECRET} bytes"
            )));
        }
        Ok(NonceSource { secret: Zeroizing::new(secret.to_vec()), period: DEFAULT_NONCE_PERIOD })
    }

    /// Nonces under a fresh random secret (one server; replicas need [`NonceSource::new`]).
    pub fn generate() -> Result<NonceSource> {
        let mut secret = Zeroizing::new(vec![0u8; MIN_NONCE_SECRET]);
        crate::crypto::random(&mut secret)?;
        NonceSource::new(&secret)
    }

    /// Steps of `seconds` (at least 1): a nonce lives from one to two steps.
    pub fn with_period(mut self, seconds: u32) -> NonceSource {
        self.period = seconds.max(1);
        self
    }

    /// The step length, in seconds.
    pub fn period(&self) -> u32 {
        self.period
    }

    /// The nonce of the step holding `now` (seconds since the Unix epoch).
    pub fn issue(&self, now: i64) -> Result<String> {
        let step = now.div_euclid(i64::from(self.period));
        let mut nonce = step.to_be_bytes().to_vec();
        nonce.extend_from_slice(&self.tag(step)?);
        Ok(b64::encode(&nonce))
    }

    /// Whether `nonce` was issued for the step holding `now` or the one before.
    pub fn accept(&self, nonce: &str, now: i64) -> bool {
        let Ok(bytes) = b64::decode(nonce, "nonce") else { return false };
        let Some((step, tag)) = bytes.split_first_chunk::<8>() else { return false };
        let step = i64::from_be_bytes(*step);
        let current = now.div_euclid(i64::from(self.period));
        if step != current && Some(step) != current.checked_sub(1) {
            return false;
        }
        self.tag(step).is_ok_and(|want| crate::crypto::constant_time_eq(&want, tag))
    }

    fn tag(&self, step: i64) -> Result<Vec<u8>> {
        let mut data = LABEL.to_vec();
        data.extend_from_slice(&step.to_be_bytes());
        let mut mac = crate::crypto::hmac_sha256(&self.secret, &data)?;
        mac.truncate(TAG_LEN);
        Ok(mac)
    }
}

impl NonceCheck for NonceSource {
    fn accept(&self, nonce: &str, now: i64) -> bool {
        NonceSource::accept(self, nonce, now)
    }
}
