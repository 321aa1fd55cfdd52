//! Round-trip property tests: random plaintexts (0–2047 bytes), every key management alg except
//! RSA1_5, every content encryption alg, compact / flattened / general JSON (1–4 recipients with
//! CEK-wrapping algs) — encrypt then decrypt gives the plaintext back, and flipping any single byte
//! of the decoded IV, ciphertext, tag or encrypted key fails with the opaque
//! [`Error::DecryptionFailed`].
//!
//! Keys come from a pool generated once (RSA generation is slow). Under the `rust-crypto` provider
//! jwe-mint refuses RSA private-key decryption (RUSTSEC-2023-0071), so the RSA algs are left out of
//! the generated cases there (`interop_josekit.rs` checks the refusal itself).

use std::sync::OnceLock;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::Value;

use jwe_mint::crypto::PROVIDER_NAME;
use jwe_mint::jwa::{ContentEncryptionAlg as Enc, KeyManagementAlg as Alg};
use jwe_mint::jwe::{self, DecryptPolicy, Encryptor, Serialization};
use jwe_mint::jwk::{Curve, Jwk, JwkSet};
use jwe_mint::Error;

const CURVES: [Curve; 4] = [Curve::P256, Curve::P384, Curve::P521, Curve::X25519];

struct Pool {
    rsa: Jwk,
    ec: Vec<Jwk>,
    oct: Vec<(usize, Jwk)>,
    password: Jwk,
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| Pool {
        rsa: Jwk::generate_rsa(2048).unwrap(),
        ec: CURVES.iter().map(|c| Jwk::generate(*c).unwrap()).collect(),
        oct: [16, 24, 32, 48, 64].iter().map(|n| (*n, Jwk::generate_symmetric(*n).unwrap())).collect(),
        password: Jwk::symmetric(b"correct horse battery staple").unwrap(),
    })
}

fn oct(len: usize) -> Jwk {
    pool().oct.iter().find(|(n, _)| *n == len).expect("pooled oct length").1.clone()
}

/// Every alg the property covers: all but RSA1_5 (decrypt-only), and without the RSA algs when
/// the provider refuses RSA decryption.
fn algs() -> Vec<Alg> {
    let rsa_decrypts = PROVIDER_NAME != "rust-crypto";
    Alg::ALL
        .iter()
        .copied()
        .filter(|a| *a != Alg::Rsa1_5)
        .filter(|a| rsa_decrypts || !matches!(a, Alg::RsaOaep | Alg::RsaOaep256))
        .collect()
}

fn wrapping_algs() -> Vec<Alg> {
    algs().into_iter().filter(|a| a.wraps_cek()).collect()
}

/// The private key for `alg` / `enc`; `curve` picks the curve for ECDH-ES.
fn key_for(alg: Alg, enc: Enc, curve: usize) -> Jwk {
    let p = pool();
    match alg {
        Alg::RsaOaep | Alg::RsaOaep256 => p.rsa.clone(),
        Alg::Dir => oct(enc.key_len()),
        a if a.is_ecdh_es() => p.ec[curve % CURVES.len()].clone(),
        a if a.is_pbes2() => p.password.clone(),
        Alg::A128Kw | Alg::A128GcmKw => oct(16),
        Alg::A192Kw | Alg::A192GcmKw => oct(24),
        Alg::A256Kw | Alg::A256GcmKw => oct(32),
        other => panic!("no key for {other}"),
    }
}

/// A new key for a CEK-wrapping `alg` (RSA from the pool: generation is slow).
fn fresh_key(alg: Alg, curve: usize) -> Jwk {
    match alg {
        Alg::RsaOaep | Alg::RsaOaep256 => pool().rsa.clone(),
        a if a.is_ecdh_es() => Jwk::generate(CURVES[curve % CURVES.len()]).unwrap(),
        a if a.is_pbes2() => Jwk::generate_symmetric(12).unwrap(),
        Alg::A128Kw | Alg::A128GcmKw => Jwk::generate_symmetric(16).unwrap(),
        Alg::A192Kw | Alg::A192GcmKw => Jwk::generate_symmetric(24).unwrap(),
        Alg::A256Kw | Alg::A256GcmKw => Jwk::generate_symmetric(32).unwrap(),
        other => panic!("{other} does not wrap a CEK"),
    }
}

fn sender_key(k: &Jwk) -> Jwk {
    if k.is_symmetric() {
        k.clone()
    } else {
        k.to_public().unwrap()
    }
}

fn policy() -> DecryptPolicy {
    DecryptPolicy::default().allow_pbes2(jwe::DEFAULT_PBES2_MAX_ITERATIONS)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ser {
    Compact,
    Flattened,
    General,
}

/// Which decoded part of the token to flip one byte of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Iv,
    Ciphertext,
    Tag,
    EncryptedKey,
}

fn b64d(s: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(s).expect("jwe-mint writes valid base64url")
}

fn flip(bytes: &mut [u8], at: Index, mask: u8) {
    let i = at.index(bytes.len());
    bytes[i] ^= mask;
}

/// Flips one byte of `part` (recipient `recipient`'s encrypted key for [`Part::EncryptedKey`]).
/// Returns `None` when that part is empty (e.g. no encrypted key for `dir`).
fn tamper(token: &str, part: Part, recipient: usize, at: Index, mask: u8) -> Option<String> {
    if !token.starts_with('{') {
        let mut segs: Vec<String> = token.split('.').map(str::to_owned).collect();
        assert_eq!(segs.len(), 5);
        let i = match part {
            Part::EncryptedKey => 1,
            Part::Iv => 2,
            Part::Ciphertext => 3,
            Part::Tag => 4,
        };
        let mut raw = b64d(&segs[i]);
        if raw.is_empty() {
            return None;
        }
        flip(&mut raw, at, mask);
        segs[i] = URL_SAFE_NO_PAD.encode(&raw);
        return Some(segs.join("."));
    }
    let mut v: Value = serde_json::from_str(token).unwrap();
    let slot = match part {
        Part::Iv => &mut v["iv"],
        Part::Ciphertext => &mut v["ciphertext"],
        Part::Tag => &mut v["tag"],
        Part::EncryptedKey => {
            if v.get("recipients").is_some() {
                &mut v["recipients"][recipient]["encrypted_key"]
            } else {
                &mut v["encrypted_key"]
            }
        }
    };
    let mut raw = b64d(slot.as_str()?);
    if raw.is_empty() {
        return None;
    }
    flip(&mut raw, at, mask);
    *slot = Value::String(URL_SAFE_NO_PAD.encode(&raw));
    Some(v.to_string())
}

/// One generated scenario.
#[derive(Debug, Clone)]
struct Scenario {
    plaintext: Vec<u8>,
    enc: Enc,
    ser: Ser,
    /// (alg, curve choice) per recipient; more than one only for general JSON with wrapping algs.
    recipients: Vec<(Alg, usize)>,
    /// Which recipient's key the decryptor holds.
    holder: Index,
    part: Part,
    at: Index,
    mask: u8,
}

fn scenario() -> impl Strategy<Value = Scenario> {
    (
        prop::collection::vec(any::<u8>(), 0..2048),
        prop::sample::select(Enc::ALL.to_vec()),
        prop::sample::select(vec![Ser::Compact, Ser::Flattened, Ser::General]),
        (prop::sample::select(algs()), 0usize..4),
        prop::collection::vec((prop::sample::select(wrapping_algs()), 0usize..4), 0..=3),
        any::<Index>(),
        prop::sample::select(vec![Part::Iv, Part::Ciphertext, Part::Tag, Part::EncryptedKey]),
        any::<Index>(),
        1u8..=255,
    )
        .prop_map(|(plaintext, enc, ser, first, extra, holder, part, at, mask)| {
            let mut recipients = vec![first];
            if ser == Ser::General && first.0.wraps_cek() {
                recipients.extend(extra);
            }
            Scenario { plaintext, enc, ser, recipients, holder, part, at, mask }
        })
}

fn encrypt(s: &Scenario) -> (String, Vec<Jwk>) {
    // The first recipient's key comes from the pool; the others get fresh keys, so only the
    // pooled RSA key can be shared between recipients.
    let keys: Vec<Jwk> = s
        .recipients
        .iter()
        .enumerate()
        .map(|(i, (alg, c))| if i == 0 { key_for(*alg, s.enc, *c) } else { fresh_key(*alg, *c) })
        .collect();
    let mut e = Encryptor::new(s.enc).protected_param("cty", "application/octet-stream");
    for ((alg, _), k) in s.recipients.iter().zip(&keys) {
        e = e.recipient(&sender_key(k), *alg);
    }
    let token = match s.ser {
        Ser::Compact => e.encrypt_compact(&s.plaintext),
        Ser::Flattened => e.encrypt_flattened(&s.plaintext),
        Ser::General => e.encrypt_general(&s.plaintext),
    }
    .unwrap_or_else(|err| panic!("encrypt {s:?}: {err}"));
    (token, keys)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn encrypt_then_decrypt_round_trips_and_any_flipped_byte_fails(s in scenario()) {
        let (token, keys) = encrypt(&s);
        let holder = s.holder.index(keys.len());
        let (alg, _) = s.recipients[holder];
        let keyset = JwkSet::new(vec![keys[holder].clone()]);
        let policy = policy();

        let out = jwe::decrypt(&token, &keyset, &policy)
            .unwrap_or_else(|e| panic!("decrypt {alg} + {} ({:?}): {e}", s.enc, s.ser));
        prop_assert_eq!(out.plaintext.as_slice(), s.plaintext.as_slice(), "{} + {}", alg, s.enc);
        prop_assert_eq!(out.enc, s.enc);
        prop_assert_eq!(out.key_id.as_deref(), keys[holder].kid());
        let expected_ser = match s.ser {
            Ser::Compact => Serialization::Compact,
            Ser::Flattened => Serialization::Flattened,
            Ser::General => Serialization::General,
        };
        prop_assert_eq!(out.serialization, expected_ser);
        // The recipient that opened it used the holder's key and an alg that fits it.
        prop_assert_eq!(out.alg, s.recipients[out.recipient_index].0);

        // Decrypting again works (no state), and a flipped byte anywhere fails opaquely.
        // When the holder's key also serves another recipient (two RSA recipients), a flipped
        // encrypted key of one recipient leaves the other one intact: the token still opens.
        let shared_key = keys.iter().filter(|k| k.thumbprint() == keys[holder].thumbprint()).count() > 1;
        if let Some(bad) = tamper(&token, s.part, holder, s.at, s.mask) {
            let r = jwe::decrypt(&bad, &keyset, &policy);
            if shared_key && s.part == Part::EncryptedKey {
                let out = r.unwrap_or_else(|e| panic!("shared key, one encrypted key flipped: {e}"));
                prop_assert_eq!(out.plaintext.as_slice(), s.plaintext.as_slice());
                prop_assert_ne!(out.recipient_index, holder);
                return Ok(());
            }
            prop_assert!(
                matches!(r, Err(Error::DecryptionFailed)),
                "{} + {} ({:?}), flipped {:?}: got {:?}", alg, s.enc, s.ser, s.part, r.map(|d| d.alg)
            );
        } else {
            // Only the encrypted key can be empty (dir / ECDH-ES) — or the ciphertext of an
            // empty plaintext under AES-GCM.
            prop_assert!(
                (s.part == Part::EncryptedKey && !alg.wraps_cek())
                    || (s.part == Part::Ciphertext && s.plaintext.is_empty())
            );
        }
    }

    #[test]
    fn every_recipient_of_a_general_json_jwe_can_open_it(
        plaintext in prop::collection::vec(any::<u8>(), 0..2048),
        enc in prop::sample::select(Enc::ALL.to_vec()),
        recipients in prop::collection::vec((prop::sample::select(wrapping_algs()), 0usize..4), 1..=4),
        part in prop::sample::select(vec![Part::Iv, Part::Ciphertext, Part::Tag]),
        at in any::<Index>(),
        mask in 1u8..=255,
    ) {
        // Fresh symmetric / EC keys per recipient so that each recipient has its own key.
        let keys: Vec<Jwk> = recipients.iter().map(|(alg, c)| fresh_key(*alg, *c)).collect();
        let mut e = Encryptor::new(enc);
        for ((alg, _), k) in recipients.iter().zip(&keys) {
            e = e.recipient(&sender_key(k), *alg);
        }
        let token = e.encrypt_general(&plaintext).unwrap();
        let policy = policy();
        for (i, k) in keys.iter().enumerate() {
            let alg = recipients[i].0;
            let keyset = JwkSet::new(vec![k.clone()]);
            let out = jwe::decrypt(&token, &keyset, &policy)
                .unwrap_or_else(|err| panic!("recipient {i} ({alg} + {enc}): {err}"));
            prop_assert_eq!(out.plaintext.as_slice(), plaintext.as_slice());
            // Two RSA recipients share the pooled key: either may open it.
            prop_assert_eq!(out.alg, recipients[out.recipient_index].0);
            if !matches!(alg, Alg::RsaOaep | Alg::RsaOaep256) {
                prop_assert_eq!(out.recipient_index, i);
                prop_assert_eq!(out.alg, alg);
            }
            if let Some(bad) = tamper(&token, part, i, at, mask) {
                let r = jwe::decrypt(&bad, &keyset, &policy);
                prop_assert!(matches!(r, Err(Error::DecryptionFailed)), "recipient {} ({} + {}), flipped {:?}: {:?}", i, alg, enc, part, r.map(|d| d.alg));
            }
        }
    }
}
