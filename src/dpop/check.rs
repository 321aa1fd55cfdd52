//! Checking a DPoP proof (RFC 9449 §4.3): pure, no I/O and no clock; the replay check is the
//! caller's, through [`super::ReplayStore`].

use std::fmt;
use std::sync::Arc;

use serde_json::Value;

use super::nonce::NonceCheck;
use super::proof::{access_token_hash, PROOF_TYPE};
use crate::b64;
use crate::error::{DpopRejection, Error};
use crate::jwa::SigningAlg;
use crate::jwk::Jwk;

/// The longest `jti` accepted, in bytes: what a replay store keeps per proof is bounded.
pub const MAX_JTI_LEN: usize = 256;

/// The default bound on a proof's size (8 KiB: an RSA-4096 proof with a nonce is under 3 KiB).
pub const DEFAULT_MAX_PROOF_SIZE: usize = 8 * 1024;

/// The default oldest `iat` accepted: 300 seconds in the past.
pub const DEFAULT_MAX_AGE: u32 = 300;

/// The default furthest `iat` accepted ahead of the server's clock: 60 seconds.
pub const DEFAULT_MAX_AHEAD: u32 = 60;

/// Members that make a JWK private or symmetric (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037 §2):
/// any of them in a proof's `jwk` refuses it (RFC 9449 §4.3 step 7), before the key is parsed.
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// How DPoP proofs are checked, with safe defaults: every asymmetric algorithm the library
/// verifies (`ES256`, `ES384`, `ES512`, `EdDSA`, `PS256`, `RS256`; `none` and the MAC algorithms
/// cannot be named), `iat` from [`DEFAULT_MAX_AGE`] seconds ago to [`DEFAULT_MAX_AHEAD`] seconds
/// ahead, proofs up to [`DEFAULT_MAX_PROOF_SIZE`] bytes, no nonce required.
///
/// ```
/// use jwe_mint::dpop::{DpopKey, DpopRequest, DpopValidation};
/// let key = DpopKey::generate().unwrap();
/// let proof = key.proof("GET", "https://rs.example/data").issued_at(1_700_000_000).sign().unwrap();
/// let request = DpopRequest::new([proof.as_str()], "GET", "https://rs.example/data?page=2", 1_700_000_010);
/// let checked = DpopValidation::default().check(&request).unwrap();
/// assert_eq!(checked.jkt, key.thumbprint());
/// // An hour later, the same proof is refused.
/// let late = DpopRequest::new([proof.as_str()], "GET", "https://rs.example/data", 1_700_003_600);
/// assert!(DpopValidation::default().check(&late).is_err());
/// ```
#[derive(Clone)]
pub struct DpopValidation {
    algs: Vec<SigningAlg>,
    max_age: u32,
    max_ahead: u32,
    max_proof_size: usize,
    nonces: Option<Arc<dyn NonceCheck>>,
}

impl fmt::Debug for DpopValidation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DpopValidation")
            .field("algs", &self.algs)
            .field("max_age", &self.max_age)
            .field("max_ahead", &self.max_ahead)
            .field("max_proof_size", &self.max_proof_size)
            .field("nonces", &self.nonces)
            .finish()
    }
}

impl Default for DpopValidation {
    fn default() -> Self {
        DpopValidation {
            algs: SigningAlg::ALL.to_vec(),
            max_age: DEFAULT_MAX_AGE,
            max_ahead: DEFAULT_MAX_AHEAD,
            max_proof_size: DEFAULT_MAX_PROOF_SIZE,
            nonces: None,
        }
    }
}

impl DpopValidation {
    /// Accepts only `algs` (every [`SigningAlg`] is asymmetric: `none` and the MAC algorithms
    /// cannot be configured).
    pub fn only_algs(mut self, algs: &[SigningAlg]) -> Self {
        self.algs = algs.to_vec();
        self
    }

    /// Accepts only the algorithms named (e.g. from a configuration file). A name that is not an
    /// asymmetric signature algorithm the library verifies — `none`, `HS256`, an unknown one — is
    /// refused here, at configuration ([`Error::AlgorithmNotAllowed`]).
    pub fn only_alg_names(self, names: &[&str]) -> Result<Self, Error> {
        let mut algs = Vec::with_capacity(names.len());
        for name in names {
            let alg = name
                .parse::<SigningAlg>()
                .map_err(|_| Error::AlgorithmNotAllowed(crate::untrusted::name(name)))?;
            algs.push(alg);
        }
        Ok(self.only_algs(&algs))
    }

    /// Accepts an `iat` at most `seconds` in the past (RFC 9449 §11.1: keep it short).
    pub fn with_max_age(mut self, seconds: u32) -> Self {
        self.max_age = seconds;
        self
    }

    /// Accepts an `iat` at most `seconds` ahead of the server's clock (the client's clock skew).
    pub fn with_max_ahead(mut self, seconds: u32) -> Self {
        self.max_ahead = seconds;
        self
    }

    /// Refuses proofs longer than `bytes`, before any parsing.
    pub fn with_max_proof_size(mut self, bytes: usize) -> Self {
        self.max_proof_size = bytes;
        self
    }

    /// Requires a nonce that `nonces` accepts (RFC 9449 §8, §9), for example a
    /// [`NonceSource`](super::NonceSource) shared by the server's replicas.
    pub fn require_nonce(mut self, nonces: impl NonceCheck + 'static) -> Self {
        self.nonces = Some(Arc::new(nonces));
        self
    }

    /// The algorithms accepted.
    pub fn algs(&self) -> &[SigningAlg] {
        &self.algs
    }

    /// The oldest `iat` accepted, in seconds before now.
    pub fn max_age(&self) -> u32 {
        self.max_age
    }

    /// The furthest `iat` accepted, in seconds after now.
    pub fn max_ahead(&self) -> u32 {
        self.max_ahead
    }

    /// Whether a nonce is required.
    pub fn requires_nonce(&self) -> bool {
        self.nonces.is_some()
    }

    /// Checks the request's proof (RFC 9449 §4.3, every step but the replay check of §11.1,
    /// which [`check_and_remember`](super::check_and_remember) adds). No I/O, no clock: the time
    /// is the request's.
    pub fn check(&self, request: &DpopRequest<'_>) -> Result<CheckedProof, DpopRejection> {
        use DpopRejection as R;
        // Step 1: exactly one proof. A comma would join two field values (RFC 9110 §5.3); a
        // compact JWS holds no whitespace.
        let proof = match request.proofs {
            Proofs::None => return Err(R::Missing),
            Proofs::One(one) => one,
            Proofs::Several => return Err(R::Multiple),
        };
        if proof.bytes().any(|b| b == b',' || b.is_ascii_whitespace()) {
            return Err(R::Multiple);
        }
        if proof.is_empty() {
            return Err(R::Missing);
        }
        if proof.len() > self.max_proof_size {
            return Err(R::Malformed("proof larger than the bound"));
        }
        // Step 2: a compact JWS, parsed as strictly as the library's own (RFC 7515 §7.1).
        let mut parts = proof.split('.');
        let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(R::Malformed("a compact JWS has exactly three segments"));
        };
        let header = b64::decode(h, "JWS header")
            .and_then(|bytes| crate::json::parse_object(&bytes, "JWS header"))
            .map_err(|_| R::Malformed("the header is not a base64url JSON object"))?;
        // Step 4.
        if header.get("typ").and_then(Value::as_str) != Some(PROOF_TYPE) {
            return Err(R::WrongType);
        }
        // Step 5, before the key or the signature is looked at: `none` and `HS256` are no
        // `SigningAlg`, so they can never be allowed.
        let alg = header
            .get("alg")
            .and_then(Value::as_str)
            .and_then(|a| a.parse::<SigningAlg>().ok())
            .filter(|a| self.algs.contains(a))
            .ok_or(R::AlgorithmNotAllowed)?;
        if header.contains_key("crit") {
            // RFC 7515 §4.1.11: no extension is understood.
            return Err(R::Malformed("`crit` is not supported"));
        }
        // Step 7 (before parsing the key, so a private key is never even loaded).
        let jwk = match header.get("jwk") {
            None => return Err(R::MissingJwk),
            Some(Value::Object(members)) => {
                if PRIVATE_MEMBERS.iter().any(|m| members.contains_key(*m)) {
                    return Err(R::PrivateKeyInJwk);
                }
                Jwk::from_object(members).map_err(|_| R::InvalidJwk)?
            }
            Some(_) => return Err(R::InvalidJwk),
        };
        if jwk.is_private() {
            return Err(R::PrivateKeyInJwk);
        }
        crate::jws::check_key(alg, &jwk, false).map_err(|_| R::KeyAlgorithmMismatch)?;
        // Step 6.
        let signature =
            b64::decode(s, "JWS signature").map_err(|_| R::Malformed("bad signature encoding"))?;
        let signing_input = &proof.as_bytes()[..h.len() + 1 + p.len()];
        if !crate::jws::verify_raw(alg, &jwk, signing_input, &signature) {
            return Err(R::BadSignature);
        }
        let claims = b64::decode(p, "JWS payload")
            .and_then(|bytes| crate::json::parse_object(&bytes, "DPoP claims"))
            .map_err(|_| R::Malformed("the claims are not a base64url JSON object"))?;
        // Step 3: the claims of §4.2.
        let jti = match claims.get("jti").and_then(Value::as_str) {
            Some(j) if j.len() > MAX_JTI_LEN => return Err(R::JtiTooLong),
            Some(j) if !j.is_empty() => j,
            _ => return Err(R::MissingJti),
        };
        let htm = claims.get("htm").and_then(Value::as_str).ok_or(R::MissingClaim("htm"))?;
        let htu = claims.get("htu").and_then(Value::as_str).ok_or(R::MissingClaim("htu"))?;
        let iat = claims.get("iat").and_then(numeric_date).ok_or(R::MissingClaim("iat"))?;
        // Step 8: methods are case-sensitive (RFC 9110 §9.1).
        if htm != request.method {
            return Err(R::MethodMismatch);
        }
        // Step 9, both sides normalised (RFC 9449 §4.3 after the list). Normalising is
        // idempotent, so an `htu` already equal to the normalised target (as proofs are sent)
        // needs no second pass: the outcome is the same, without the work.
        let target = super::htu::normalise(request.uri).ok_or(R::BadRequestTarget)?;
        if htu != target && super::htu::normalise(htu).as_deref() != Some(target.as_str()) {
            return Err(R::UriMismatch);
        }
        // Step 11 (RFC 9449 §11.1).
        let now = request.now;
        if iat < now.saturating_sub(i64::from(self.max_age))
            || iat > now.saturating_add(i64::from(self.max_ahead))
        {
            return Err(R::IssuedAtOutOfWindow);
        }
        // Step 10.
        if let Some(nonces) = &self.nonces {
            let nonce = claims.get("nonce").and_then(Value::as_str).ok_or(R::NonceRequired)?;
            if !nonces.accept(nonce, now) {
                return Err(R::NonceMismatch);
            }
        }
        // Step 12.
        if let Some(token) = request.access_token {
            let ath = claims.get("ath").and_then(Value::as_str).ok_or(R::AccessTokenHashMissing)?;
            if !crate::crypto::constant_time_eq(ath.as_bytes(), access_token_hash(token).as_bytes()) {
                return Err(R::AccessTokenHashMismatch);
            }
        }
        let jkt = jwk.thumbprint();
        if let Some(expected) = request.jkt {
            if !crate::crypto::constant_time_eq(expected.as_bytes(), jkt.as_bytes()) {
                return Err(R::KeyMismatch);
            }
        }
        // RFC 9449 §11.1: a proof is remembered for as long as it would be accepted, in the
        // context of its key and target URI; the digest bounds what a store keeps per proof.
        let mut context = Vec::with_capacity(jkt.len() + target.len() + jti.len() + 2);
        for part in [jkt.as_str(), target.as_str(), jti] {
            context.extend_from_slice(part.as_bytes());
            context.push(0);
        }
        Ok(CheckedProof {
            replay_key: b64::encode(&crate::crypto::sha256(&context)),
            jkt,
            jti: jti.to_owned(),
            iat,
            replay_until: iat.saturating_add(i64::from(self.max_age)),
        })
    }
}

/// A NumericDate (RFC 7519 §2): an integer, or a finite number cut to whole seconds.
fn numeric_date(value: &Value) -> Option<i64> {
    if let Some(i) = value.as_i64() {
        return Some(i);
    }
    let f = value.as_f64().filter(|f| f.is_finite() && f.abs() < 1e15)?;
    // In range and finite: the conversion is exact up to the fraction dropped.
    #[allow(clippy::cast_possible_truncation)]
    Some(f.trunc() as i64)
}

/// How many `DPoP` field values a request has: only exactly one is ever checked.
#[derive(Debug, Clone, Copy)]
enum Proofs<'a> {
    None,
    One(&'a str),
    Several,
}

/// A request as the server received it, for [`DpopValidation::check`]. Its `Debug` shows neither
/// the proof nor the access token.
#[derive(Clone, Copy)]
pub struct DpopRequest<'a> {
    proofs: Proofs<'a>,
    method: &'a str,
    uri: &'a str,
    access_token: Option<&'a str>,
    jkt: Option<&'a str>,
    now: i64,
}

impl fmt::Debug for DpopRequest<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let proofs = match self.proofs {
            Proofs::None => "none",
            Proofs::One(_) => "one",
            Proofs::Several => "several",
        };
        f.debug_struct("DpopRequest")
            .field("proofs", &proofs)
            .field("method", &crate::untrusted::name(self.method))
            .field("uri", &crate::untrusted::value(self.uri))
            .field("access_token", &self.access_token.map(|_| "[redacted]"))
            .field("jkt", &self.jkt)
            .field("now", &self.now)
            .finish()
    }
}

impl<'a> DpopRequest<'a> {
    /// `proofs`: every value of the request's `DPoP` header fields, as received (none, one, or
    /// several — only exactly one is accepted; a value that is not text counts, as `""`);
    /// `method` as sent; `uri`: the absolute target URI as the server reconstructs it (RFC 9110
    /// §7.1); `now` in seconds since the Unix epoch.
    pub fn new(proofs: impl IntoIterator<Item = &'a str>, method: &'a str, uri: &'a str, now: i64) -> Self {
        let mut values = proofs.into_iter();
        let proofs = match (values.next(), values.next()) {
            (None, _) => Proofs::None,
            (Some(one), None) => Proofs::One(one),
            (Some(_), Some(_)) => Proofs::Several,
        };
        DpopRequest { proofs, method, uri, access_token: None, jkt: None, now }
    }

    /// The access token the request presents (`Authorization: DPoP <token>`): the proof must
    /// carry its hash, `ath`.
    pub fn access_token(mut self, token: &'a str) -> Self {
        self.access_token = Some(token);
        self
    }

    /// The thumbprint the access token is bound to (its `cnf.jkt`, RFC 9449 §6.1): the proof's
    /// key must have it.
    pub fn bound_to(mut self, jkt: &'a str) -> Self {
        self.jkt = Some(jkt);
        self
    }

    /// The time of the request, in seconds since the Unix epoch.
    pub fn now(&self) -> i64 {
        self.now
    }
}

/// A proof that passed every check but the replay check.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CheckedProof {
    /// The RFC 7638 thumbprint of the proof's key: what an authorization server binds the token
    /// to (`cnf.jkt`).
    pub jkt: String,
    /// The proof's `jti`.
    pub jti: String,
    /// The proof's `iat`.
    pub iat: i64,
    /// Until when (seconds since the Unix epoch) the proof would be accepted again: how long a
    /// replay store must remember it (`iat` plus the validation's maximum age, so a proof dated
    /// ahead is remembered for longer).
    pub replay_until: i64,
    replay_key: String,
}

impl CheckedProof {
    /// What a replay store remembers for this proof: a digest of its key's thumbprint, its
    /// normalised `htu` and its `jti` (43 characters of base64url). Two proofs with one `jti`
    /// from different keys never collide, so one client cannot block another's proofs.
    pub fn replay_key(&self) -> &str {
        &self.replay_key
    }
}
