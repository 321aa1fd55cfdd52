//! Replays the fuzz seed corpus and every saved fuzz finding (`fuzz/seeds/<target>/`,
//! `fuzz/regressions/<target>/`) through the same entry points as the fuzz targets, so a crash
//! found once stays fixed. The long fuzz runs themselves happen outside CI (`fuzz/README.md`).

use std::path::Path;

use jwe_mint::jwe::{self, DecryptPolicy};
use jwe_mint::jwk::{Jwk, JwkSet};

fn inputs(target: &str) -> Vec<(String, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut out = Vec::new();
    for dir in ["seeds", "regressions"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir).join(target)) else { continue };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            out.push((format!("{dir}/{target}/{name}"), std::fs::read(e.path()).unwrap()));
        }
    }
    out
}

fn keys() -> JwkSet {
    JwkSet::from_json(include_str!("../fuzz/keys.json")).unwrap()
}

fn policy() -> DecryptPolicy {
    DecryptPolicy::default().dangerous_allow_rsa1_5().allow_pbes2(1_000).allow_zip(64 * 1024)
}

#[test]
fn fuzz_corpus_decrypt_compact_never_panics() {
    let (keys, policy) = (keys(), policy());
    let all = inputs("decrypt_compact");
    assert!(all.len() >= 10, "seed corpus missing");
    let mut opened = 0;
    for (name, data) in &all {
        if let Ok(text) = std::str::from_utf8(data) {
            let _ = jwe::inspect(text, &policy);
            opened += usize::from(jwe::decrypt(text, &keys, &policy).is_ok());
        }
        let _ = name;
    }
    // The RFC seeds themselves decrypt (RSA ones only where the provider allows RSA decryption).
    assert!(opened >= 5, "only {opened} seeds decrypted");
}

#[test]
fn fuzz_corpus_decrypt_json_never_panics() {
    let (keys, policy) = (keys(), policy());
    let all = inputs("decrypt_json");
    assert!(all.len() >= 10, "seed corpus missing");
    let mut opened = 0;
    for (_, data) in &all {
        if let Ok(text) = std::str::from_utf8(data) {
            let json = if text.starts_with('{') { text.to_owned() } else { format!("{{{text}") };
            opened += usize::from(jwe::decrypt(&json, &keys, &policy).is_ok());
        }
    }
    assert!(opened >= 10, "only {opened} seeds decrypted");
}

#[test]
fn fuzz_corpus_jwk_parse_never_panics() {
    let all = inputs("jwk_parse");
    assert!(!all.is_empty(), "seed corpus missing");
    for (_, data) in &all {
        if let Ok(text) = std::str::from_utf8(data) {
            if let Ok(k) = Jwk::from_json(text) {
                let _ = k.thumbprint();
                let _ = k.to_json();
                let _ = k.to_public();
            }
            let _ = JwkSet::from_json_key_or_set(text);
        }
    }
}
