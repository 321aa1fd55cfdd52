//! Project Wycheproof (C2SP/wycheproof, `testvectors_v1/`) run through jwe-mint's public API,
//! under whichever crypto provider the build selected.
//!
//! Every test group and case of every file is visited. The rules:
//!
//! * `valid` must be accepted (and give the expected plaintext / shared secret / ciphertext);
//! * `invalid` must be rejected (any `Err`);
//! * `acceptable` is recorded (accepted or rejected) and printed;
//! * a `valid` case that jwe-mint deliberately does not support (an AES-GCM IV that is not 96 bits,
//!   a JWS algorithm jwe-mint does not implement, such as HS256 or PS384) is counted separately as "rejected
//!   by design": it is asserted to be rejected and never counted as passed;
//! * under the `rust-crypto` provider, RSA decryption is refused with `Error::RefusedByProvider`:
//!   valid RSA decryption cases must get exactly that refusal there;
//! * RSA-OAEP cases are run as the `encrypted_key` of a JWE whenever JWE can express them
//!   ([`rsa_oaep_file`]); an invalid one must fail with exactly `Error::DecryptionFailed`;
//! * cases whose Wycheproof verdict we believe to be wrong, or whose policy we deliberately do not
//!   follow, are listed in [`DISAGREEMENTS`] with the reason and the outcome we assert instead (for
//!   a rejection, the error it must be); every entry must name an existing file and tcId.
//!
//! Each file's test prints a tally line (`cargo test --test wycheproof -- --nocapture`) and fails
//! on any unexpected outcome. The vectors and their provenance are in
//! `test-vectors/wycheproof/` (see `test-vectors/README.md`).

use crate::vectors;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jwe_mint::jwa::{hazmat, ContentEncryptionAlg as Enc, SigningAlg};
use jwe_mint::jwe::{self, DecryptPolicy};
use jwe_mint::jwk::{Jwk, JwkSet};
use jwe_mint::{jws, Error};
use serde_json::Value;
use vectors::{b64e, hex};

const PROVIDER: &str = jwe_mint::crypto::PROVIDER_NAME;

fn rsa_decryption_refused() -> bool {
    PROVIDER == "rust-crypto"
}

/// What a listed disagreement asserts instead of Wycheproof's verdict.
#[derive(Clone, Copy)]
enum Expect {
    /// Accepted, with the expected output.
    Accepted,
    /// Rejected for the named reason: the error must match the predicate (its text names it).
    Rejected(fn(&Error) -> bool, &'static str),
}

/// Cases where we assert an outcome other than Wycheproof's verdict, with the reason.
/// `(file, tcId, expected outcome, reason)`. Each file must exist and contain the tcId
/// ([`disagreements_name_existing_files_and_cases`]).
const DISAGREEMENTS: &[(&str, u64, Expect, &str)] = &[
    (
        "json_web_encryption_test.json",
        22,
        Expect::Accepted,
        "Wycheproof's policy is to reject every JSON serialization; jwe-mint implements the flattened \
         and general JSON serializations of RFC 7516 §7.2 by design. The token is a \
         correct flattened JWE whose unprotected headers carry unknown, unused parameters; `alg` and \
         `enc` are integrity protected, so it decrypts.",
    ),
    (
        "json_web_crypto_test.json",
        66,
        Expect::Accepted,
        "same token and reason as json_web_encryption_test.json tcId 22 (JSON serialization is supported)",
    ),
    (
        "json_web_signature_test.json",
        346,
        PS384_PINNED_PS256,
        "wrong in Wycheproof: the token is RFC 7520 Figure 20, signed with PS384, but the group's key \
         pins `alg: PS256`; a verifier that honours the JWK `alg` (RFC 7517 §4.4) must reject it. \
         jwe-mint rejects it before the key is consulted: PS384 is not implemented.",
    ),
    (
        "json_web_signature_test.json",
        350,
        PS384_PINNED_PS256,
        "wrong in Wycheproof: as tcId 346 (key pins PS256, token is PS384)",
    ),
    (
        "json_web_signature_test.json",
        347,
        ES521,
        "wrong in Wycheproof: the token is RFC 7520 Figure 27 (ES512), but the group's key pins \
         `alg: ES521`, which is not a registered algorithm (RFC 7520 §3.2's key has no `alg`); a \
         verifier that honours the JWK `alg` must reject it. json_web_key_test.json tcId 19 itself \
         expects a key pinned to `ES521` to be rejected.",
    ),
    (
        "json_web_signature_test.json",
        351,
        ES521,
        "wrong in Wycheproof: as tcId 347 (key pins the non-existent `ES521`; the token is ES512)",
    ),
    (
        "json_web_signature_test.json",
        372,
        B64,
        "wrong in Wycheproof: the header segment contains `?`, which is not in the base64url alphabet; \
         RFC 7515 §7.1 requires base64url, and only a lenient decoder that skips bad characters accepts \
         it (the comment itself says \"InvalidCharacterInsertedInHeader\"). Also HS256, not implemented.",
    ),
    (
        "json_web_signature_test.json",
        373,
        HS256,
        "wrong in Wycheproof: as tcId 372, with `?` in the payload segment. jwe-mint rejects it \
         before the payload is decoded: HS256 is not implemented.",
    ),
];

/// `346`/`350`: the JWK pins `alg: PS256` and the token is PS384.
const PS384_PINNED_PS256: Expect = Expect::Rejected(
    |e| matches!(e, Error::UnsupportedAlgorithm(a) if a == "PS384"),
    "UnsupportedAlgorithm(PS384)",
);
/// `347`/`351`: the JWK pins the unregistered `alg: ES521`.
const ES521: Expect = Expect::Rejected(|e| matches!(e, Error::NoMatchingKey(_)), "NoMatchingKey");
/// `372`: `?` in the header segment is not base64url.
const B64: Expect = Expect::Rejected(|e| matches!(e, Error::Malformed(_)), "Malformed");
/// `373`: HS256 is not implemented, which is checked before the payload's `?` is reached.
const HS256: Expect = Expect::Rejected(
    |e| matches!(e, Error::UnsupportedAlgorithm(a) if a == "HS256"),
    "UnsupportedAlgorithm(HS256)",
);

/// What happened to one case. The strings are read through `Debug` in failure messages.
#[derive(Debug)]
#[allow(dead_code)]
enum Outcome {
    /// Accepted, output as expected.
    Accepted,
    /// Accepted, but the output differs from the expected one.
    WrongOutput(String),
    /// Rejected with this error.
    Rejected(Error),
    /// Rejected with `Error::RefusedByProvider`.
    Refused,
}

fn from_result<T>(r: Result<T, Error>, check: impl FnOnce(T) -> Result<(), String>) -> Outcome {
    match r {
        Ok(v) => match check(v) {
            Ok(()) => Outcome::Accepted,
            Err(e) => Outcome::WrongOutput(e),
        },
        Err(Error::RefusedByProvider { .. }) => Outcome::Refused,
        Err(e) => Outcome::Rejected(e),
    }
}

/// How a case is judged.
enum Class {
    /// By its Wycheproof verdict.
    Normal,
    /// A `valid` case outside what jwe-mint supports by design: must be rejected.
    Unsupported(String),
    /// A case needing RSA private-key decryption (refused by the rust-crypto provider).
    RsaDecrypt,
    /// A case that the public API cannot express.
    NotReachable(String),
    /// An RSA-OAEP case run as a JWE `encrypted_key` ([`rsa_oaep_file`]); `cek`: whether its
    /// message has the length of a CEK, so that a valid case can open; `empty`: whether the
    /// ciphertext is empty (a JWE without the encrypted key it needs is malformed).
    RsaOaepKeyTransport { cek: bool, empty: bool },
}

struct Tally {
    file: &'static str,
    valid: usize,
    valid_accepted: usize,
    invalid: usize,
    invalid_rejected: usize,
    /// Invalid cases rejected only because the algorithm is not implemented (not a real test).
    invalid_unsupported_alg: usize,
    acceptable_accepted: Vec<u64>,
    acceptable_rejected: Vec<u64>,
    by_design: Vec<(u64, String)>,
    refused_valid: Vec<u64>,
    refused_invalid: Vec<u64>,
    /// `(tcId, Wycheproof result, we accept, reason)`; a rejection's reason was asserted.
    disagreements: Vec<(u64, String, bool, &'static str)>,
    not_reachable: Vec<(u64, String, String)>,
    /// Valid RSA-OAEP cases run through JWE whose message is no CEK: `DecryptionFailed` asserted.
    valid_not_a_cek: Vec<u64>,
    unexpected: Vec<String>,
}

impl Tally {
    fn new(file: &'static str) -> Tally {
        Tally {
            file,
            valid: 0,
            valid_accepted: 0,
            invalid: 0,
            invalid_rejected: 0,
            invalid_unsupported_alg: 0,
            acceptable_accepted: Vec::new(),
            acceptable_rejected: Vec::new(),
            by_design: Vec::new(),
            refused_valid: Vec::new(),
            refused_invalid: Vec::new(),
            disagreements: Vec::new(),
            not_reachable: Vec::new(),
            valid_not_a_cek: Vec::new(),
            unexpected: Vec::new(),
        }
    }

    fn record(&mut self, t: &Value, class: Class, outcome: impl FnOnce() -> Outcome) {
        let tc = t["tcId"].as_u64().expect("tcId");
        let result = t["result"].as_str().expect("result");
        let comment = t["comment"].as_str().unwrap_or("");
        match result {
            "valid" => self.valid += 1,
            "invalid" => self.invalid += 1,
            "acceptable" => {}
            other => panic!("{}: tcId {tc}: unknown result {other:?}", self.file),
        }
        if let Class::NotReachable(why) = class {
            self.not_reachable.push((tc, result.to_owned(), why));
            return;
        }
        let outcome = outcome();
        let rejected = matches!(outcome, Outcome::Rejected(_) | Outcome::Refused);
        let mut unexpected = |why: String| {
            self.unexpected.push(format!("tcId {tc} ({result}, {comment:?}): {why}: {outcome:?}"));
        };
        if let Some(&(_, _, expect, reason)) =
            DISAGREEMENTS.iter().find(|(f, id, _, _)| *f == self.file && *id == tc)
        {
            let (met, we_accept, wanted) = match expect {
                Expect::Accepted => (matches!(outcome, Outcome::Accepted), true, "accepted"),
                Expect::Rejected(is, why) => (matches!(&outcome, Outcome::Rejected(e) if is(e)), false, why),
            };
            if met {
                self.disagreements.push((tc, result.to_owned(), we_accept, reason));
            } else {
                unexpected(format!("listed disagreement expects: {wanted}"));
            }
            return;
        }
        match class {
            Class::NotReachable(_) => unreachable!(),
            Class::Unsupported(why) => {
                assert_eq!(
                    result, "valid",
                    "{}: tcId {tc}: only valid cases are classed unsupported",
                    self.file
                );
                if rejected {
                    self.by_design.push((tc, why));
                } else {
                    unexpected(format!("unsupported by design ({why}) but not rejected"));
                }
            }
            Class::RsaDecrypt if rsa_decryption_refused() => match (result, &outcome) {
                ("valid", Outcome::Refused) => self.refused_valid.push(tc),
                ("invalid", Outcome::Refused) => {
                    self.refused_invalid.push(tc);
                    self.invalid_rejected += 1;
                }
                ("invalid", Outcome::Rejected(_)) => self.invalid_rejected += 1,
                ("acceptable", _) if rejected => self.acceptable_rejected.push(tc),
                _ => unexpected(format!("the {PROVIDER} provider must refuse RSA decryption")),
            },
            // The structural check (an encrypted key is present) comes before the provider's refusal.
            Class::RsaOaepKeyTransport { empty, .. } if rsa_decryption_refused() => {
                match (result, &outcome) {
                    ("invalid", Outcome::Rejected(Error::Malformed(_))) if empty => {
                        self.invalid_rejected += 1
                    }
                    ("valid", Outcome::Refused) => self.refused_valid.push(tc),
                    ("invalid", Outcome::Refused) => {
                        self.refused_invalid.push(tc);
                        self.invalid_rejected += 1;
                    }
                    ("acceptable", Outcome::Refused) => self.acceptable_rejected.push(tc),
                    _ => unexpected(format!("the {PROVIDER} provider must refuse RSA decryption")),
                }
            }
            Class::RsaOaepKeyTransport { cek, empty } => match (result, &outcome, cek) {
                ("valid", Outcome::Accepted, true) => self.valid_accepted += 1,
                ("valid", Outcome::Rejected(Error::DecryptionFailed), false) => self.valid_not_a_cek.push(tc),
                ("valid", _, true) => unexpected("valid case did not open".into()),
                ("valid", _, false) => unexpected("a message that is no CEK must be DecryptionFailed".into()),
                ("invalid", Outcome::Rejected(Error::Malformed(_)), _) if empty => self.invalid_rejected += 1,
                ("invalid", _, _) if empty => unexpected("an empty encrypted key must be Malformed".into()),
                ("invalid", Outcome::Rejected(Error::DecryptionFailed), _) => self.invalid_rejected += 1,
                ("invalid", _, _) => unexpected("invalid ciphertext must be exactly DecryptionFailed".into()),
                (_, Outcome::Accepted, _) => self.acceptable_accepted.push(tc),
                (_, Outcome::Rejected(Error::DecryptionFailed), _) => self.acceptable_rejected.push(tc),
                _ => unexpected("acceptable case: neither opened nor DecryptionFailed".into()),
            },
            Class::Normal | Class::RsaDecrypt => match (result, &outcome) {
                ("valid", Outcome::Accepted) => self.valid_accepted += 1,
                ("valid", _) => unexpected("valid case not accepted".into()),
                ("invalid", _) if rejected => self.invalid_rejected += 1,
                ("invalid", _) => unexpected("invalid case accepted".into()),
                (_, Outcome::Accepted) => self.acceptable_accepted.push(tc),
                (_, _) if rejected => self.acceptable_rejected.push(tc),
                _ => unexpected("acceptable case accepted with a wrong output".into()),
            },
        }
    }

    /// Prints the tally and fails on any unexpected outcome.
    fn finish(self) {
        let count = |v: &[(u64, String, String)], r: &str| v.iter().filter(|(_, res, _)| res == r).count();
        let nr_valid = count(&self.not_reachable, "valid");
        let nr_invalid = count(&self.not_reachable, "invalid");
        let dis_valid = self.disagreements.iter().filter(|d| d.1 == "valid").count();
        let dis_invalid = self.disagreements.iter().filter(|d| d.1 == "invalid").count();
        let valid_judged = self.valid
            - self.by_design.len()
            - self.refused_valid.len()
            - nr_valid
            - dis_valid
            - self.valid_not_a_cek.len();
        let invalid_judged = self.invalid - nr_invalid - dis_invalid;
        let mut line =
            format!("{} [{PROVIDER}]: valid {}/{valid_judged} accepted", self.file, self.valid_accepted);
        let mut side = Vec::new();
        if !self.by_design.is_empty() {
            side.push(format!("{} rejected by design", self.by_design.len()));
        }
        if !self.refused_valid.is_empty() {
            side.push(format!("{} refused by the provider", self.refused_valid.len()));
        }
        if !self.valid_not_a_cek.is_empty() {
            side.push(format!("{} run, message is no CEK: DecryptionFailed", self.valid_not_a_cek.len()));
        }
        if nr_valid > 0 {
            side.push(format!("{nr_valid} not reachable"));
        }
        if dis_valid > 0 {
            side.push(format!("{dis_valid} disagreement(s)"));
        }
        if !side.is_empty() {
            line.push_str(&format!(" (+{})", side.join(", +")));
        }
        line.push_str(&format!(", invalid {}/{invalid_judged} rejected", self.invalid_rejected));
        let mut side = Vec::new();
        if self.invalid_unsupported_alg > 0 {
            side.push(format!(
                "{} only because the algorithm is not implemented",
                self.invalid_unsupported_alg
            ));
        }
        if !self.refused_invalid.is_empty() {
            side.push(format!("{} by the provider's RSA refusal", self.refused_invalid.len()));
        }
        if nr_invalid > 0 {
            side.push(format!("+{nr_invalid} not reachable"));
        }
        if dis_invalid > 0 {
            side.push(format!("+{dis_invalid} disagreement(s)"));
        }
        if !side.is_empty() {
            line.push_str(&format!(" ({})", side.join(", ")));
        }
        line.push_str(&format!(
            ", acceptable {} ({} accepted, {} rejected)",
            self.acceptable_accepted.len() + self.acceptable_rejected.len(),
            self.acceptable_accepted.len(),
            self.acceptable_rejected.len()
        ));
        println!("{line}");
        if !self.by_design.is_empty() {
            let ids: Vec<u64> = self.by_design.iter().map(|(id, _)| *id).collect();
            let mut reasons: Vec<&str> = self.by_design.iter().map(|(_, r)| r.as_str()).collect();
            reasons.sort_unstable();
            reasons.dedup();
            println!("  valid, rejected by design: tcIds {ids:?}: {}", reasons.join("; "));
        }
        if !self.refused_valid.is_empty() || !self.refused_invalid.is_empty() {
            println!(
                "  refused by the {PROVIDER} provider (RSA decryption): valid tcIds {:?}, invalid tcIds {:?}",
                self.refused_valid, self.refused_invalid
            );
        }
        if !self.valid_not_a_cek.is_empty() {
            println!(
                "  valid, run through JWE, message is no CEK length: DecryptionFailed (RFC 7516 §5.2 step 10; \
                 the RSA verdict is not observable): tcIds {:?}",
                self.valid_not_a_cek
            );
        }
        if !self.acceptable_accepted.is_empty() {
            println!("  acceptable, accepted: tcIds {:?}", self.acceptable_accepted);
        }
        if !self.acceptable_rejected.is_empty() {
            println!("  acceptable, rejected: tcIds {:?}", self.acceptable_rejected);
        }
        for (tc, result, we_accept, reason) in &self.disagreements {
            let ours = if *we_accept { "accepted" } else { "rejected" };
            println!("  disagreement tcId {tc} (Wycheproof: {result}, jwe-mint: {ours}): {reason}");
        }
        if !self.not_reachable.is_empty() {
            let ids: Vec<u64> = self.not_reachable.iter().map(|(id, _, _)| *id).collect();
            let mut reasons: Vec<&str> = self.not_reachable.iter().map(|(_, _, r)| r.as_str()).collect();
            reasons.sort_unstable();
            reasons.dedup();
            println!("  not reachable through the public API: tcIds {ids:?}: {}", reasons.join("; "));
        }
        for (f, id, _, _) in DISAGREEMENTS.iter().filter(|d| d.0 == self.file) {
            assert!(
                self.disagreements.iter().any(|d| d.0 == *id)
                    || self.unexpected.iter().any(|u| u.starts_with(&format!("tcId {id} "))),
                "{f}: listed disagreement tcId {id} does not exist"
            );
        }
        assert!(
            self.unexpected.is_empty(),
            "{} [{PROVIDER}]: {} unexpected outcome(s):\n{}",
            self.file,
            self.unexpected.len(),
            self.unexpected.join("\n")
        );
    }
}

// ---- helpers ------------------------------------------------------------------------------------

fn load(file: &str) -> Value {
    vectors::vector(&format!("wycheproof/testvectors_v1/{file}"))
}

/// Every `(group, test)` pair of a Wycheproof file.
fn cases(doc: &Value) -> Vec<(&Value, &Value)> {
    let groups = doc["testGroups"].as_array().expect("testGroups");
    let mut out = Vec::new();
    for g in groups {
        for t in g["tests"].as_array().expect("tests") {
            out.push((g, t));
        }
    }
    let n = doc["numberOfTests"].as_u64().expect("numberOfTests") as usize;
    assert_eq!(out.len(), n, "numberOfTests does not match the cases found");
    out
}

/// A JWK or a JWK Set from a test group, through the public parsers.
fn key_set(v: &Value) -> Result<JwkSet, Error> {
    if v.get("keys").is_some() {
        JwkSet::from_value(v)
    } else {
        Jwk::from_value(v).map(|k| JwkSet::new(vec![k]))
    }
}

/// The protected header of a compact token (JWS or JWE), if it decodes.
fn compact_header(token: &str) -> Option<Value> {
    let first = token.split('.').next()?;
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(first).ok()?).ok()
}

/// The `alg` a JWE names, compact or JSON.
fn jwe_alg(token: &str) -> Option<String> {
    let header = if token.starts_with('{') {
        let v: Value = serde_json::from_str(token).ok()?;
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(v["protected"].as_str()?).ok()?).ok()?
    } else {
        compact_header(token)?
    };
    header["alg"].as_str().map(str::to_owned)
}

fn token_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

// ---- JWE / JWS / JWK ----------------------------------------------------------------------------

/// Decrypts a Wycheproof JWE with the group's private key. Opt-ins: `RSA1_5` when the token names
/// it (so that a rejection comes from the key's `alg` pin or the padding, not from the policy), and
/// `zip` for the `CompressedPlaintext` case.
fn jwe_case(tally: &mut Tally, g: &Value, t: &Value) {
    let token = token_text(&t["jwe"]);
    let alg = jwe_alg(&token);
    let mut policy = DecryptPolicy::default();
    if alg.as_deref() == Some("RSA1_5") {
        policy = policy.dangerous_allow_rsa1_5();
    }
    if t["flags"].as_array().is_some_and(|f| f.iter().any(|x| x == "CompressedPlaintext")) {
        policy = policy.allow_zip(1 << 20);
    }
    let rsa = alg.as_deref().is_some_and(|a| a.starts_with("RSA"));
    let class = if rsa { Class::RsaDecrypt } else { Class::Normal };
    let expected = t.get("pt").and_then(Value::as_str).map(hex);
    tally.record(t, class, || {
        let keys = match key_set(&g["private"]) {
            Ok(k) => k,
            Err(e) => return Outcome::Rejected(e),
        };
        from_result(jwe::decrypt(&token, &keys, &policy), |d| match &expected {
            Some(pt) if d.plaintext.as_slice() != pt.as_slice() => Err("plaintext differs".into()),
            _ => Ok(()),
        })
    });
}

/// Verifies a Wycheproof JWS with the group's public key (or, for HMAC groups, its key), allowing
/// every signing algorithm jwe-mint implements.
fn jws_case(tally: &mut Tally, g: &Value, t: &Value) {
    let token = token_text(&t["jws"]);
    let named = compact_header(&token).and_then(|h| h["alg"].as_str().map(str::to_owned));
    let implemented = named.as_deref().map(|a| a.parse::<SigningAlg>().is_ok());
    let result = t["result"].as_str().unwrap_or("");
    let class = match (&named, implemented) {
        (Some(a), Some(false)) if result == "valid" => Class::Unsupported(format!(
            "JWS alg {a} is not implemented (jwe-mint signs with RS256, PS256, ES256/384/512, EdDSA)"
        )),
        _ => Class::Normal,
    };
    if result == "invalid" && implemented == Some(false) && named.as_deref() != Some("none") {
        tally.invalid_unsupported_alg += 1;
    }
    let key = if g["public"].is_object() { &g["public"] } else { &g["private"] };
    tally.record(t, class, || {
        let keys = match key_set(key) {
            Ok(k) => k,
            Err(e) => return Outcome::Rejected(e),
        };
        from_result(jws::verify_compact(&token, &keys, SigningAlg::ALL), |_| Ok(()))
    });
}

fn jose_file(file: &'static str) {
    let doc = load(file);
    let mut tally = Tally::new(file);
    for (g, t) in cases(&doc) {
        if t.get("jwe").is_some() {
            jwe_case(&mut tally, g, t);
        } else if t.get("jws").is_some() {
            jws_case(&mut tally, g, t);
        } else {
            panic!("{file}: tcId {} has neither `jwe` nor `jws`", t["tcId"]);
        }
    }
    tally.finish();
}

#[test]
fn json_web_encryption() {
    jose_file("json_web_encryption_test.json");
}

#[test]
fn json_web_crypto() {
    jose_file("json_web_crypto_test.json");
}

#[test]
fn json_web_signature() {
    jose_file("json_web_signature_test.json");
}

/// JWK (Set) validation: each case is a JWS to verify with the group's key set; a set that does not
/// parse is a rejection.
#[test]
fn json_web_key() {
    jose_file("json_web_key_test.json");
}

/// Every listed disagreement names a vector file that exists and a tcId in it, so that a typo
/// cannot silently switch an entry off.
#[test]
fn disagreements_name_existing_files_and_cases() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("test-vectors/wycheproof/testvectors_v1");
    for (file, id, _, _) in DISAGREEMENTS {
        assert!(dir.join(file).is_file(), "listed disagreement names {file}, which does not exist");
        let doc = load(file);
        assert!(
            cases(&doc).iter().any(|(_, t)| t["tcId"].as_u64() == Some(*id)),
            "{file}: listed disagreement tcId {id} does not exist"
        );
    }
}

// ---- primitives ---------------------------------------------------------------------------------

fn gcm_enc(key_bits: u64) -> Enc {
    match key_bits {
        128 => Enc::A128Gcm,
        192 => Enc::A192Gcm,
        256 => Enc::A256Gcm,
        other => panic!("AES-GCM key size {other}"),
    }
}

/// AES-GCM through `hazmat::content_decrypt` / `content_encrypt` with A128GCM/A192GCM/A256GCM, which
/// (like JWE, RFC 7518 §5.3) take only a 96-bit IV and a 128-bit tag.
#[test]
fn aes_gcm() {
    let file = "aes_gcm_test.json";
    let doc = load(file);
    let mut tally = Tally::new(file);
    for (g, t) in cases(&doc) {
        let enc = gcm_enc(g["keySize"].as_u64().unwrap());
        let (iv_bits, tag_bits) = (g["ivSize"].as_u64().unwrap(), g["tagSize"].as_u64().unwrap());
        let f = |k: &str| hex(t[k].as_str().unwrap());
        let (key, iv, aad, msg, ct, tag) = (f("key"), f("iv"), f("aad"), f("msg"), f("ct"), f("tag"));
        let class = if (iv_bits, tag_bits) != (96, 128) && t["result"] == "valid" {
            Class::Unsupported(format!(
                "AES-GCM with a {iv_bits}-bit IV / {tag_bits}-bit tag (JOSE: 96-bit IV, 128-bit tag)"
            ))
        } else {
            Class::Normal
        };
        tally.record(t, class, || {
            let opened = hazmat::content_decrypt(enc, &key, &iv, &aad, &ct, &tag);
            let valid = t["result"] == "valid";
            from_result(opened, |pt| {
                if pt.as_slice() != msg.as_slice() {
                    return Err("plaintext differs".into());
                }
                if valid {
                    let (c2, t2) =
                        hazmat::content_encrypt(enc, &key, &iv, &aad, &msg).map_err(|e| e.to_string())?;
                    if (c2, t2) != (ct.clone(), tag.clone()) {
                        return Err("re-encryption differs".into());
                    }
                }
                Ok(())
            })
        });
    }
    tally.finish();
}

/// RFC 3394 AES key wrap (JOSE A128KW/A192KW/A256KW) through `hazmat::aes_key_unwrap` (and, for valid
/// cases, `hazmat::aes_key_wrap` must reproduce the ciphertext).
#[test]
fn aes_wrap() {
    let file = "aes_wrap_test.json";
    let doc = load(file);
    let mut tally = Tally::new(file);
    for (_, t) in cases(&doc) {
        let f = |k: &str| hex(t[k].as_str().unwrap());
        let (key, msg, ct) = (f("key"), f("msg"), f("ct"));
        let valid = t["result"] == "valid";
        tally.record(t, Class::Normal, || {
            from_result(hazmat::aes_key_unwrap(&key, &ct), |pt| {
                if pt.as_slice() != msg.as_slice() {
                    return Err("unwrapped key differs".into());
                }
                if valid && hazmat::aes_key_wrap(&key, &msg).map_err(|e| e.to_string())? != ct {
                    return Err("wrap differs".into());
                }
                Ok(())
            })
        });
    }
    tally.finish();
}

/// The HMAC of AES_CBC_HMAC_SHA2 (RFC 7518 §5.2.2.1), computed with the provider's own primitive
/// crate: used only to give Wycheproof's (badly padded) CBC ciphertexts a valid tag, so that the
/// padding check behind the MAC is what gets tested.
fn cbc_hs_tag(enc: Enc, mac_key: &[u8], aad: &[u8], iv: &[u8], ct: &[u8]) -> Vec<u8> {
    let mut input = Vec::new();
    input.extend_from_slice(aad);
    input.extend_from_slice(iv);
    input.extend_from_slice(ct);
    input.extend_from_slice(&((aad.len() as u64) * 8).to_be_bytes());
    let full = hmac(enc, mac_key, &input);
    full[..enc.tag_len()].to_vec()
}

#[cfg(feature = "aws-lc")]
fn hmac(enc: Enc, key: &[u8], data: &[u8]) -> Vec<u8> {
    use aws_lc_rs::hmac;
    let alg = match enc {
        Enc::A128CbcHs256 => hmac::HMAC_SHA256,
        Enc::A192CbcHs384 => hmac::HMAC_SHA384,
        _ => hmac::HMAC_SHA512,
    };
    hmac::sign(&hmac::Key::new(alg, key), data).as_ref().to_vec()
}

#[cfg(all(feature = "rust-crypto", not(feature = "aws-lc")))]
fn hmac(enc: Enc, key: &[u8], data: &[u8]) -> Vec<u8> {
    use hmac::{Hmac, KeyInit, Mac};
    fn run<M: Mac + KeyInit>(key: &[u8], data: &[u8]) -> Vec<u8> {
        let mut m = <M as KeyInit>::new_from_slice(key).expect("HMAC key");
        m.update(data);
        m.finalize().into_bytes().to_vec()
    }
    match enc {
        Enc::A128CbcHs256 => run::<Hmac<sha2::Sha256>>(key, data),
        Enc::A192CbcHs384 => run::<Hmac<sha2::Sha384>>(key, data),
        _ => run::<Hmac<sha2::Sha512>>(key, data),
    }
}

/// AES-CBC with PKCS#5 padding, the encryption half of A128CBC-HS256 / A192CBC-HS384 /
/// A256CBC-HS512 (AES-128/192/256 respectively). Only the composite is public
/// (`hazmat::content_encrypt` / `content_decrypt`), so the CEK is `MAC_KEY || ENC_KEY` with a fixed
/// MAC key and Wycheproof's key as ENC_KEY. Valid: encryption must reproduce Wycheproof's
/// ciphertext and decryption must return the message. Invalid (bad padding): with a correct tag
/// over the bad ciphertext, decryption must still fail.
#[test]
fn aes_cbc_pkcs5() {
    let file = "aes_cbc_pkcs5_test.json";
    let doc = load(file);
    let mut tally = Tally::new(file);
    let aad = b"eyJ3eWNoZXByb29mIjp0cnVlfQ";
    for (g, t) in cases(&doc) {
        let enc = match g["keySize"].as_u64().unwrap() {
            128 => Enc::A128CbcHs256,
            192 => Enc::A192CbcHs384,
            256 => Enc::A256CbcHs512,
            other => panic!("AES-CBC key size {other}"),
        };
        assert_eq!(g["ivSize"], 128);
        let f = |k: &str| hex(t[k].as_str().unwrap());
        let (key, iv, msg, ct) = (f("key"), f("iv"), f("msg"), f("ct"));
        let mac_key = vec![0x5a; key.len()];
        let cek = [mac_key.as_slice(), key.as_slice()].concat();
        let valid = t["result"] == "valid";
        tally.record(t, Class::Normal, || {
            if valid {
                let (c2, tag) = match hazmat::content_encrypt(enc, &cek, &iv, aad, &msg) {
                    Ok(x) => x,
                    Err(e) => return Outcome::Rejected(e),
                };
                if c2 != ct {
                    return Outcome::WrongOutput("ciphertext differs".into());
                }
                from_result(hazmat::content_decrypt(enc, &cek, &iv, aad, &ct, &tag), |pt| {
                    if pt.as_slice() == msg.as_slice() {
                        Ok(())
                    } else {
                        Err("plaintext differs".into())
                    }
                })
            } else {
                let tag = cbc_hs_tag(enc, &mac_key, aad, &iv, &ct);
                from_result(hazmat::content_decrypt(enc, &cek, &iv, aad, &ct, &tag), |_| Ok(()))
            }
        });
    }
    tally.finish();
}

/// ECDH (X25519 or P-256) with both keys as JWKs: `Jwk::from_value` for each (a key that does not
/// parse is a rejection), then `hazmat::ecdh_shared_secret`.
fn ecdh_file(file: &'static str) {
    let doc = load(file);
    let mut tally = Tally::new(file);
    for (_, t) in cases(&doc) {
        let shared = hex(t["shared"].as_str().unwrap());
        tally.record(t, Class::Normal, || {
            let private = match Jwk::from_value(&t["private"]) {
                Ok(k) => k,
                Err(e) => return Outcome::Rejected(e),
            };
            let public = match Jwk::from_value(&t["public"]) {
                Ok(k) => k,
                Err(e) => return Outcome::Rejected(e),
            };
            from_result(hazmat::ecdh_shared_secret(&private, &public), |z| {
                if z.as_slice() == shared.as_slice() {
                    Ok(())
                } else {
                    Err("shared secret differs".into())
                }
            })
        });
    }
    tally.finish();
}

#[test]
fn x25519_jwk() {
    ecdh_file("x25519_jwk_test.json");
}

#[test]
fn ecdh_secp256r1_webcrypto() {
    ecdh_file("ecdh_secp256r1_webcrypto_test.json");
}

/// The content encryption whose CEK has `len` bytes, if any.
fn enc_for_cek_len(len: usize) -> Option<Enc> {
    match len {
        16 => Some(Enc::A128Gcm),
        24 => Some(Enc::A192Gcm),
        32 => Some(Enc::A256Gcm),
        48 => Some(Enc::A192CbcHs384),
        64 => Some(Enc::A256CbcHs512),
        _ => None,
    }
}

/// A compact JWE with the given `encrypted_key`, its content encrypted under `cek` with `enc`:
/// it opens (plaintext `wycheproof`) exactly when key transport yields `cek`.
fn key_transport_token(alg: &str, enc: Enc, cek: &[u8], encrypted_key: &[u8]) -> String {
    let protected = b64e(format!(r#"{{"alg":"{alg}","enc":"{}"}}"#, enc.name()).as_bytes());
    let iv = vec![7u8; enc.iv_len()];
    let (ct, tag) = hazmat::content_encrypt(enc, cek, &iv, protected.as_bytes(), b"wycheproof")
        .expect("content encryption");
    format!("{protected}.{}.{}.{}.{}", b64e(encrypted_key), b64e(&iv), b64e(&ct), b64e(&tag))
}

/// RSA-OAEP through JWE key transport (RFC 7518 §4.3), the only public way to RSA-decrypt. Every
/// case whose parameters JWE can express (`RSA-OAEP`: SHA-1, `RSA-OAEP-256`: SHA-256, MGF1 with
/// the same hash, empty label) becomes a compact JWE whose `encrypted_key` is Wycheproof's
/// ciphertext, its content encrypted under the case's message as CEK:
///
/// * a valid case whose message has a CEK length must open with the right plaintext;
/// * a valid case whose message has no CEK length must fail with `DecryptionFailed` (JWE refuses
///   a CEK of the wrong length, RFC 7516 §5.2 step 10); the RSA verdict is then not observable;
/// * an invalid case must fail with exactly `DecryptionFailed`, the one opaque error (an empty
///   ciphertext with `Malformed`: a wrapping `alg` needs an encrypted key, RFC 7516 §5.2 step 10,
///   and its absence is visible in the token itself);
/// * under rust-crypto, every one of them must be refused with `RefusedByProvider`.
///
/// Only the cases with a non-empty label are out of reach.
fn rsa_oaep_file(file: &'static str, alg: &str, sha: &str) {
    let doc = load(file);
    let mut tally = Tally::new(file);
    let policy = DecryptPolicy::default();
    for (g, t) in cases(&doc) {
        let params = (g["sha"].as_str(), g["mgf"].as_str(), g["mgfSha"].as_str());
        assert_eq!(params, (Some(sha), Some("MGF1"), Some(sha)), "{file}: {alg} is {sha} with MGF1-{sha}");
        let msg = hex(t["msg"].as_str().unwrap());
        let label = t.get("label").and_then(Value::as_str).unwrap_or("");
        let msg_enc = enc_for_cek_len(msg.len());
        let class = if label.is_empty() {
            Class::RsaOaepKeyTransport { cek: msg_enc.is_some(), empty: t["ct"] == "" }
        } else {
            Class::NotReachable("OAEP label (JOSE uses an empty label, RFC 7518 §4.3)".into())
        };
        tally.record(t, class, || {
            // A message that is no CEK still goes through: the content key is then one the RSA
            // layer cannot produce, so nothing but a failure is acceptable.
            let (enc, cek) = match msg_enc {
                Some(enc) => (enc, msg.clone()),
                None => (Enc::A128Gcm, vec![0xa5; 16]),
            };
            let key = match Jwk::from_value(&g["privateKeyJwk"]) {
                Ok(k) => k,
                Err(e) => return Outcome::Rejected(e),
            };
            let token = key_transport_token(alg, enc, &cek, &hex(t["ct"].as_str().unwrap()));
            from_result(jwe::decrypt(&token, &JwkSet::new(vec![key]), &policy), |d| {
                if d.plaintext.as_slice() == b"wycheproof" {
                    Ok(())
                } else {
                    Err("plaintext differs".into())
                }
            })
        });
    }
    tally.finish();
}

/// RSA1_5 decryption has no raw public API; it is reachable only as JWE key transport, where the
/// decrypted message is the CEK. So a case is run only when its message could be a CEK (16, 24,
/// 32, 48 or 64 bytes): the test wraps a content encryption under that CEK into a compact JWE
/// whose encrypted key is Wycheproof's ciphertext. Invalid ciphertexts are not reachable in a
/// meaningful way: for RSA1_5, JWE deliberately continues with a random CEK on any unwrap failure
/// (RFC 7516 §11.5), so they prove nothing here.
fn rsa_file(file: &'static str, alg: &str) {
    let doc = load(file);
    let mut tally = Tally::new(file);
    let mut policy = DecryptPolicy::default();
    if alg == "RSA1_5" {
        policy = policy.dangerous_allow_rsa1_5();
    }
    for (g, t) in cases(&doc) {
        let msg = hex(t["msg"].as_str().unwrap());
        let label = t.get("label").and_then(Value::as_str).unwrap_or("");
        let enc = match msg.len() {
            16 => Some(Enc::A128Gcm),
            24 => Some(Enc::A192Gcm),
            32 => Some(Enc::A256Gcm),
            48 => Some(Enc::A192CbcHs384),
            64 => Some(Enc::A256CbcHs512),
            _ => None,
        };
        let class = match (t["result"].as_str(), enc, label.is_empty()) {
            (Some("invalid"), _, _) => Class::NotReachable(
                "invalid RSA ciphertexts are indistinguishable from a bad CEK in JWE".into(),
            ),
            (_, None, _) => Class::NotReachable("message length is not a CEK length".into()),
            (_, _, false) => Class::NotReachable("OAEP label (JOSE uses an empty label)".into()),
            _ => Class::RsaDecrypt,
        };
        tally.record(t, class, || {
            let enc = enc.expect("reachable");
            let key = match Jwk::from_value(&g["privateKeyJwk"]) {
                Ok(k) => k,
                Err(e) => return Outcome::Rejected(e),
            };
            let protected = b64e(format!(r#"{{"alg":"{alg}","enc":"{}"}}"#, enc.name()).as_bytes());
            let iv = vec![7u8; enc.iv_len()];
            let (ct, tag) = hazmat::content_encrypt(enc, &msg, &iv, protected.as_bytes(), b"wycheproof")
                .expect("content encryption");
            let token = format!(
                "{protected}.{}.{}.{}.{}",
                b64e(&hex(t["ct"].as_str().unwrap())),
                b64e(&iv),
                b64e(&ct),
                b64e(&tag)
            );
            from_result(jwe::decrypt(&token, &JwkSet::new(vec![key]), &policy), |d| {
                if d.plaintext.as_slice() == b"wycheproof" {
                    Ok(())
                } else {
                    Err("plaintext differs".into())
                }
            })
        });
    }
    tally.finish();
}

#[test]
fn rsa_oaep_2048_sha1() {
    rsa_oaep_file("rsa_oaep_2048_sha1_mgf1sha1_test.json", "RSA-OAEP", "SHA-1");
}

#[test]
fn rsa_oaep_2048_sha256() {
    rsa_oaep_file("rsa_oaep_2048_sha256_mgf1sha256_test.json", "RSA-OAEP-256", "SHA-256");
}

#[test]
fn rsa_pkcs1_2048() {
    rsa_file("rsa_pkcs1_2048_test.json", "RSA1_5");
}
