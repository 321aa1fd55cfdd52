//! Opening JWEs under a [`DecryptPolicy`].

use std::io::Read;

use serde_json::Value;
use zeroize::Zeroizing;

use super::{compact, json, DecryptPolicy, Header, ParsedJwe, Serialization};
use crate::error::{Error, LimitExceeded, Result};
use crate::jwa::{content, key_management as km, ContentEncryptionAlg, KeyManagementAlg};
use crate::jwk::{Jwk, JwkSet};

/// Header parameters defined by RFC 7516 §4.1 (never allowed in `crit`).
const REGISTERED: &[&str] = &[
    "alg", "enc", "zip", "jku", "jwk", "kid", "x5u", "x5c", "x5t", "x5t#S256", "typ", "cty", "crit", "epk",
    "apu", "apv", "iv", "tag", "p2s", "p2c",
];

/// A successfully decrypted JWE.
#[derive(Clone)]
#[non_exhaustive]
pub struct Decrypted {
    /// The plaintext (zeroized on drop).
    pub plaintext: Zeroizing<Vec<u8>>,
    /// The integrity-protected header.
    pub protected: Header,
    /// The complete JOSE header that applied to the recipient that was opened.
    pub header: Header,
    /// Key management algorithm of the recipient that was opened.
    pub alg: KeyManagementAlg,
    /// Content encryption algorithm.
    pub enc: ContentEncryptionAlg,
    /// Index of the recipient that was opened (0 for compact and flattened).
    pub recipient_index: usize,
    /// The serialization of the input.
    pub serialization: Serialization,
    /// `kid` of the key that opened it.
    pub key_id: Option<String>,
}

impl std::fmt::Debug for Decrypted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decrypted")
            .field("plaintext", &format_args!("<{} bytes redacted>", self.plaintext.len()))
            .field("header", &self.header)
            .field("alg", &self.alg)
            .field("enc", &self.enc)
            .field("recipient_index", &self.recipient_index)
            .finish_non_exhaustive()
    }
}

/// Headers of a JWE, read without any key (nothing is decrypted or verified).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Inspected {
    /// The serialization of the input.
    pub serialization: Serialization,
    /// The protected header.
    pub protected: Header,
    /// The shared unprotected header (JSON only).
    pub unprotected: Option<Header>,
    /// Per-recipient headers (JSON only; `None` entries for recipients without one).
    pub recipients: Vec<Option<Header>>,
}

/// Parses a JWE (compact or JSON) and returns its headers without decrypting anything.
///
/// ```
/// let t = "eyJhbGciOiJkaXIiLCJlbmMiOiJBMTI4R0NNIn0..AAAAAAAAAAAAAAAA.AAAA.AAAAAAAAAAAAAAAAAAAAAA";
/// let i = jwe_mint::jwe::inspect(t, &Default::default()).unwrap();
/// assert_eq!(i.protected["alg"], "dir");
/// ```
pub fn inspect(token: &str, policy: &DecryptPolicy) -> Result<Inspected> {
    let p = parse(token, policy)?;
    Ok(Inspected {
        serialization: p.serialization,
        protected: p.protected,
        unprotected: p.unprotected,
        recipients: p.recipients.into_iter().map(|r| r.header).collect(),
    })
}

fn parse(token: &str, policy: &DecryptPolicy) -> Result<ParsedJwe> {
    if token.len() > policy.max_token_size {
        return Err(LimitExceeded::TokenTooLarge { max: policy.max_token_size }.into());
    }
    if super::is_json_serialization(token) {
        json::parse(token, policy.max_header_size, policy.max_recipients)
    } else {
        compact::parse(token, policy.max_header_size)
    }
}

/// Decrypts a compact, flattened or general JWE with one of `keys`.
///
/// Keys are chosen by `kid`: when a recipient header names one, a key with the same `kid` is the
/// only one tried; a key with a *different* `kid` is never tried for that recipient, and a key
/// *without* `kid` is a candidate for every recipient (the header's `kid` is a hint, RFC 7516
/// §4.1.6). When no key has the named `kid`, every kid-less key that fits the algorithm is tried;
/// a token naming a `kid` that no key has, with no kid-less key that fits, is
/// [`Error::NoMatchingKey`]. At most the policy's attempt bound (by default
/// [`DEFAULT_MAX_DECRYPT_ATTEMPTS`](super::DEFAULT_MAX_DECRYPT_ATTEMPTS)) of (recipient, key)
/// pairs are tried. Every failure after header checks is the same [`Error::DecryptionFailed`],
/// whichever recipient or key failed.
pub fn decrypt(token: &str, keys: &JwkSet, policy: &DecryptPolicy) -> Result<Decrypted> {
    let mut parsed = parse(token, policy)?;
    check_shared_headers(&parsed, policy)?;

    // Header checks for every recipient first: a bad header is reported as such.
    let mut plans = Vec::with_capacity(parsed.recipients.len());
    let mut enc_seen: Option<ContentEncryptionAlg> = None;
    let mut disallowed = None;
    for i in 0..parsed.recipients.len() {
        let header = parsed.merged_header(i)?;
        let alg = header_alg::<KeyManagementAlg>(&header, "alg")?;
        let enc = header_alg::<ContentEncryptionAlg>(&header, "enc")?;
        if enc_seen.is_some_and(|e| e != enc) {
            return Err(Error::malformed("recipients disagree on `enc`"));
        }
        enc_seen = Some(enc);
        if !policy.allows_enc(enc) {
            return Err(Error::AlgorithmNotAllowed(enc.name().into()));
        }
        if !alg.wraps_cek() && parsed.recipients.len() > 1 {
            return Err(Error::malformed(format!("`{alg}` allows only one recipient")));
        }
        // RFC 7516 §5.2 steps 10–11: empty for the direct modes, present for every wrapping alg.
        let encrypted_key_empty = parsed.recipients.get(i).is_none_or(|r| r.encrypted_key.is_empty());
        if alg.wraps_cek() == encrypted_key_empty {
            return Err(Error::malformed(format!(
                "`encrypted_key` must be {} for `{alg}`",
                if alg.wraps_cek() { "present" } else { "empty" }
            )));
        }
        if !policy.allows_alg(alg) {
            // Another recipient's algorithm is not ours to use: skip that recipient (no work is
            // done for it) and fail only if no recipient is left.
            disallowed = Some(Error::AlgorithmNotAllowed(alg.name().into()));
            continue;
        }
        let kid = match header.get("kid") {
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(Error::malformed("`kid` must be a string")),
        };
        plans.push((i, header, alg, enc, kid));
    }
    if let (true, Some(e)) = (plans.is_empty(), disallowed) {
        return Err(e);
    }

    // Candidate keys per recipient. The header's `kid` is a hint (RFC 7516 §4.1.6, RFC 7517
    // §4.5): a key that has a `kid` must match it, but a key without one is a candidate for every
    // recipient, as jwcrypto, panva jose and josekit do with an explicitly given key (the RFC 7516
    // A.4/A.5 keys are printed without the `kid` their JWEs name). See `docs/decisions.md`.
    let mut attempts: Vec<(usize, &Header, KeyManagementAlg, ContentEncryptionAlg, &Jwk, bool)> = Vec::new();
    let mut last_key_error = None;
    for (i, header, alg, enc, kid) in &plans {
        for key in keys {
            let exact = match (kid, key.kid()) {
                (Some(wanted), Some(has)) if wanted != has => continue,
                (Some(_), Some(_)) => true,
                _ => false,
            };
            match km::check_key(*alg, *enc, key, true) {
                Ok(()) => attempts.push((*i, header, *alg, *enc, key, exact)),
                // A provider refusal explains the failure better than any other key error.
                Err(e) => {
                    if !matches!(last_key_error, Some(Error::RefusedByProvider { .. })) {
                        last_key_error = Some(e);
                    }
                }
            }
        }
    }
    if attempts.is_empty() {
        return Err(match (last_key_error, parsed.recipients.len()) {
            (Some(e @ Error::RefusedByProvider { .. }), _) | (Some(e), 1) => e,
            _ => Error::NoMatchingKey("no key fits any recipient".into()),
        });
    }
    // A recipient addressed to one of our keys by its `kid` is the only one worth trying; otherwise
    // every (recipient, key) pair that fits (kid-less keys included), in order, up to the policy's
    // bound (each attempt is a private-key operation, so an attacker must not multiply them).
    if attempts.iter().any(|a| a.5) {
        attempts.retain(|a| a.5);
    }
    let max_attempts = policy.max_decrypt_attempts.max(1);
    // Decided from the counts alone, before any attempt: if every attempt fails, say why some
    // candidates were never tried instead of reporting what looks like tampering.
    let untried = if attempts.iter().any(|a| a.5) { 0 } else { attempts.len().saturating_sub(max_attempts) };
    let limits = km::UnwrapLimits {
        allow_rsa1_5: policy.dangerous_rsa1_5,
        pbes2_max_iterations: policy.pbes2_max_iterations,
    };
    let aad = parsed.aad();
    let mut failure = Error::DecryptionFailed;
    for (i, header, alg, enc, key, _) in attempts.into_iter().take(max_attempts) {
        let Some(recipient) = parsed.recipients.get(i) else { continue };
        let encrypted_key = &recipient.encrypted_key;
        let opened = km::decrypt_cek(alg, enc, key, header, encrypted_key, &limits)
            .and_then(|cek| content::decrypt(enc, &cek, &parsed.iv, &aad, &parsed.ciphertext, &parsed.tag));
        match opened {
            Ok(plaintext) => {
                let plaintext = if parsed.protected.contains_key("zip") {
                    inflate(&plaintext, policy)?
                } else {
                    plaintext
                };
                return Ok(Decrypted {
                    plaintext,
                    protected: std::mem::take(&mut parsed.protected),
                    header: header.clone(),
                    alg,
                    enc,
                    recipient_index: i,
                    serialization: parsed.serialization,
                    key_id: key.kid().map(str::to_owned),
                });
            }
            // Limits (e.g. p2c too large) and header errors are about the header, not the
            // secret: report them.
            // A key in a token that cannot be used (token absent, mechanism unsupported) is
            // independent of the token's bytes: report it too.
            Err(
                e
                @ (Error::Limit(_) | Error::AlgorithmNotAllowed(_) | Error::Malformed(_) | Error::Pkcs11(_)),
            ) => failure = e,
            Err(_) => {}
        }
    }
    if untried > 0 && failure == Error::DecryptionFailed {
        return Err(Error::NoMatchingKey(format!(
            "no recipient `kid` names one of the keys: {max_attempts} of {} candidate keys tried \
             (max_decrypt_attempts), none opened the token",
            max_attempts + untried
        )));
    }
    Err(failure)
}

fn header_alg<T: std::str::FromStr<Err = Error>>(header: &Header, name: &str) -> Result<T> {
    match header.get(name) {
        Some(Value::String(s)) => s.parse(),
        Some(_) => Err(Error::malformed(format!("`{name}` must be a string"))),
        None => Err(Error::malformed(format!("missing `{name}`"))),
    }
}

/// Rules on header placement that do not depend on the recipient: `zip` and `crit` only in the
/// protected header, `crit` well-formed and understood, `enc` protected when required.
fn check_shared_headers(parsed: &ParsedJwe, policy: &DecryptPolicy) -> Result<()> {
    let unprotected =
        parsed.unprotected.iter().chain(parsed.recipients.iter().filter_map(|r| r.header.as_ref()));
    for h in unprotected {
        for name in ["zip", "crit"] {
            if h.contains_key(name) {
                return Err(Error::malformed(format!("`{name}` must be in the protected header")));
            }
        }
    }
    if policy.require_protected_enc && !parsed.protected.contains_key("enc") {
        return Err(Error::malformed("`enc` must be integrity protected"));
    }
    match parsed.protected.get("zip") {
        None => {}
        Some(Value::String(z)) if z == "DEF" && policy.max_decompressed_size.is_none() => {
            return Err(Error::AlgorithmNotAllowed("zip needs an explicit opt-in".into()));
        }
        Some(Value::String(z)) if z == "DEF" => {}
        Some(_) => return Err(Error::UnsupportedAlgorithm("zip".into())),
    }
    if let Some(crit) = parsed.protected.get("crit") {
        let Value::Array(names) = crit else {
            return Err(Error::malformed("`crit` must be an array"));
        };
        if names.is_empty() {
            return Err(Error::malformed("`crit` must not be empty"));
        }
        let mut seen = Vec::with_capacity(names.len());
        for n in names {
            let Value::String(n) = n else {
                return Err(Error::malformed("`crit` must list strings"));
            };
            if seen.contains(&n) {
                return Err(Error::malformed("`crit` lists a name twice"));
            }
            if REGISTERED.contains(&n.as_str()) {
                return Err(Error::malformed("`crit` lists a registered header parameter"));
            }
            if !policy.understood_crit.iter().any(|u| u == n) {
                return Err(Error::malformed(format!(
                    "critical header `{}` not understood",
                    crate::untrusted::name(n)
                )));
            }
            if !parsed.protected.contains_key(n.as_str()) {
                return Err(Error::malformed("`crit` names a parameter that is absent"));
            }
            seen.push(n);
        }
    }
    Ok(())
}

/// Inflates `zip: "DEF"` content, refusing output beyond the policy cap.
fn inflate(data: &[u8], policy: &DecryptPolicy) -> Result<Zeroizing<Vec<u8>>> {
    let cap = policy.max_decompressed_size.ok_or_else(|| Error::AlgorithmNotAllowed("zip".into()))?;
    let mut out = Zeroizing::new(Vec::new());
    let mut reader = flate2::read::DeflateDecoder::new(data).take((cap as u64).saturating_add(1));
    reader.read_to_end(&mut out).map_err(|_| Error::DecryptionFailed)?;
    if out.len() > cap {
        return Err(LimitExceeded::DecompressedTooLarge { max: cap }.into());
    }
    Ok(out)
}
