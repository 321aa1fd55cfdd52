//! JWK Sets with members jwe-mint cannot use: which are skipped (with a warning and a record of
//! what was skipped) and which fail the whole set (RFC 7517 §5).

use std::sync::{Arc, Mutex};

use jwe_mint::jwk::{Curve, Jwk, JwkSet, SkipReason, MIN_RSA_BITS};
use jwe_mint::Error;
use serde_json::{json, Value};

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A well-formed secp256k1 public key (the curve is not implemented, so it is never validated).
fn secp256k1() -> Value {
    json!({"kty": "EC", "crv": "secp256k1", "kid": "k1",
           "x": b64(&[0x11; 32]), "y": b64(&[0x22; 32])})
}

/// A 1024-bit RSA public key (only its size matters for the skip).
fn rsa_1024() -> Value {
    let mut n = vec![0xc5u8; 128];
    n[127] |= 1;
    json!({"kty": "RSA", "kid": "rsa-1024", "n": b64(&n), "e": "AQAB"})
}

fn good_p256() -> (Jwk, Value) {
    let key = Jwk::generate(Curve::P256).unwrap();
    let v = key.to_public().unwrap().to_value().unwrap();
    (key, v)
}

fn set_text(keys: Vec<Value>) -> String {
    json!({ "keys": keys }).to_string()
}

#[test]
fn unsupported_members_are_skipped_and_the_rest_is_used() {
    let (good, good_v) = good_p256();
    let unknown_kty = json!({"kty": "PQC", "kid": "future", "pub": "AAAA"});
    let no_kty = json!({"kid": "typo", "kyt": "EC"});
    let ed448 = json!({"kty": "OKP", "crv": "Ed448", "x": b64(&[1; 57])});
    let text = set_text(vec![secp256k1(), rsa_1024(), good_v, unknown_kty, no_kty, ed448]);
    for parsed in [
        JwkSet::from_json(&text).unwrap(),
        JwkSet::from_json_key_or_set(&text).unwrap(),
        JwkSet::from_value(&serde_json::from_str(&text).unwrap()).unwrap(),
    ] {
        assert_eq!(parsed.keys().len(), 1, "the one usable key is kept");
        assert_eq!(parsed.keys()[0].thumbprint(), good.thumbprint());
        let skipped: Vec<(usize, Option<&str>, &SkipReason)> =
            parsed.skipped().iter().map(|s| (s.index, s.kid.as_deref(), &s.reason)).collect();
        assert_eq!(
            skipped,
            vec![
                (0, Some("k1"), &SkipReason::UnsupportedCurve("secp256k1".into())),
                (1, Some("rsa-1024"), &SkipReason::RsaTooShort { bits: 1024 }),
                (3, Some("future"), &SkipReason::UnsupportedKeyType("PQC".into())),
                (4, Some("typo"), &SkipReason::MissingKeyType),
                (5, None, &SkipReason::UnsupportedCurve("Ed448".into())),
            ]
        );
        // The public form keeps the record, for `jwe-mint public`.
        assert_eq!(parsed.to_public().unwrap().skipped().len(), 5);
    }
    let shown = JwkSet::from_json(&text).unwrap().skipped()[1].to_string();
    assert_eq!(
        shown,
        format!(
            "key #1 (kid `rsa-1024`) skipped: RSA modulus of 1024 bits, at least {MIN_RSA_BITS} required"
        )
    );
}

#[test]
fn a_set_whose_every_key_is_skipped_is_empty_but_says_why() {
    let parsed = JwkSet::from_json(&set_text(vec![secp256k1(), rsa_1024()])).unwrap();
    assert!(parsed.keys().is_empty());
    assert_eq!(parsed.skipped().len(), 2);
    // A set that was empty to begin with has nothing skipped: the two cases are distinguishable.
    let empty = JwkSet::from_json(r#"{"keys":[]}"#).unwrap();
    assert!(empty.keys().is_empty() && empty.skipped().is_empty());
}

#[test]
fn a_single_unsupported_key_is_an_error_not_a_skip() {
    // A key file holding one key: there is nothing else to use, so say what is wrong.
    for v in [secp256k1(), rsa_1024(), json!({"kty": "PQC"})] {
        let err = JwkSet::from_json_key_or_set(&v.to_string()).expect_err("single unusable key");
        assert!(matches!(err, Error::InvalidKey(_)), "{v}: got {err:?}");
    }
}

#[test]
fn broken_members_of_supported_types_fail_the_whole_set() {
    let (_, good_v) = good_p256();
    let mut off_curve = good_v.clone();
    let mut y = off_curve["y"].as_str().unwrap().to_owned();
    // Change one character in the middle (the last one carries padding bits).
    let other = if &y[10..11] == "A" { "B" } else { "A" };
    y.replace_range(10..11, other);
    off_curve["y"] = y.into();
    let short_x25519 = json!({"kty": "OKP", "crv": "X25519", "x": b64(&[9; 31])});
    let mut n = vec![0xc5u8; 256];
    n[255] |= 1;
    let rsa_bad_e = json!({"kty": "RSA", "n": b64(&n), "e": "A+B"});
    let rsa_bad_n = json!({"kty": "RSA", "n": "not base64!", "e": "AQAB"});
    let ec_no_crv = json!({"kty": "EC", "x": b64(&[1; 32]), "y": b64(&[2; 32])});
    let kty_number = json!({"kty": 3});
    let crv_number = json!({"kty": "EC", "crv": 256});
    let kid_number = {
        let mut v = good_v.clone();
        v["kid"] = 7.into();
        v
    };
    let cases = [
        ("point off the curve", off_curve, "not on the curve"),
        ("X25519 of the wrong length", short_x25519, "wrong length"),
        ("RSA with a bad exponent", rsa_bad_e, "`e`"),
        ("RSA with a modulus that is not base64url", rsa_bad_n, "`n`"),
        ("EC without crv", ec_no_crv, "missing `crv`"),
        ("kty not a string", kty_number, "`kty`"),
        ("crv not a string", crv_number, "`crv`"),
        ("kid not a string", kid_number, "`kid`"),
        ("member not an object", json!("key"), "objects"),
    ];
    for (what, bad, reason) in cases {
        let text = set_text(vec![good_v.clone(), bad]);
        let err = JwkSet::from_json(&text).expect_err(what);
        assert!(matches!(err, Error::InvalidKey(_) | Error::Malformed(_)), "{what}: got {err:?}");
        assert!(err.to_string().contains(reason), "{what}: {err} does not say {reason}");
    }
    // Duplicate member names (strict JSON), even inside an otherwise unsupported key.
    let dup = r#"{"keys":[{"kty":"EC","crv":"secp256k1","crv":"P-256","x":"AA","y":"AA"}]}"#;
    assert!(JwkSet::from_json(dup).is_err(), "duplicate member names");
    let dup_keys = format!(r#"{{"keys":[],"keys":[{}]}}"#, good_v);
    assert!(JwkSet::from_json(&dup_keys).is_err(), "duplicate `keys`");
    assert!(JwkSet::from_json("{\"keys\":[").is_err(), "not JSON");
}

// ---- the tracing warning --------------------------------------------------------------------

/// A minimal `tracing` subscriber that records (target, level, message) of each event.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<(String, tracing::Level, String)>>>);

struct MessageVisitor(String);

impl tracing::field::Visit for MessageVisitor {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}

impl tracing::Subscriber for Capture {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut v = MessageVisitor(String::new());
        event.record(&mut v);
        let m = event.metadata();
        self.0.lock().unwrap().push((m.target().to_owned(), *m.level(), v.0));
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[test]
fn each_skipped_member_is_a_tracing_warning() {
    let (_, good_v) = good_p256();
    let capture = Capture::default();
    let text = set_text(vec![secp256k1(), good_v, rsa_1024()]);
    let parsed = {
        let _capture = crate::tracing_capture::capture_on_this_thread(capture.clone());
        JwkSet::from_json(&text).unwrap()
    };
    assert_eq!(parsed.keys().len(), 1);
    let events = capture.0.lock().unwrap().clone();
    let warnings: Vec<&String> = events
        .iter()
        .filter(|(target, level, _)| target == "jwe_mint::keys" && *level == tracing::Level::WARN)
        .map(|(_, _, m)| m)
        .collect();
    assert_eq!(warnings.len(), 2, "one warning per skipped key: {events:?}");
    assert!(warnings[0].contains("k1") && warnings[0].contains("secp256k1"), "{}", warnings[0]);
    assert!(warnings[1].contains("rsa-1024") && warnings[1].contains("1024 bits"), "{}", warnings[1]);
}

/// A thread without a subscriber that reaches the warning first must not hide it from a capture
/// on another thread (tracing caches callsite interest process-wide; see `tracing_capture`).
#[test]
fn a_sibling_thread_reaching_the_warning_first_does_not_hide_it_from_the_capture() {
    let (_, good_v) = good_p256();
    let capture = Capture::default();
    let text = set_text(vec![secp256k1(), good_v, rsa_1024()]);
    let _capture = crate::tracing_capture::capture_on_this_thread(capture.clone());
    let elsewhere = text.clone();
    std::thread::spawn(move || JwkSet::from_json(&elsewhere).unwrap()).join().unwrap();
    JwkSet::from_json(&text).unwrap();
    let warnings =
        capture.0.lock().unwrap().iter().filter(|(_, level, _)| *level == tracing::Level::WARN).count();
    assert_eq!(warnings, 2, "the capture saw this thread's two warnings");
}
