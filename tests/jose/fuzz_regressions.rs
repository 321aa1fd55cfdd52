//! Replays the fuzz seed corpus and every saved fuzz finding (`fuzz/seeds/<target>/`,
//! `fuzz/regressions/<target>/`) through exactly what each fuzz target runs (the targets' bodies
//! live in `fuzz/fuzz_targets/common.rs`, included here), so a crash or hang found once stays
//! fixed. The long fuzz runs themselves happen outside CI (`fuzz/README.md`).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[path = "../../fuzz/fuzz_targets/common.rs"]
mod common;

/// A fuzz target's body: runs one input, returns whether it opened / parsed.
type Body = fn(&[u8]) -> bool;

/// Every fuzz target and the function that is its body.
const TARGETS: &[(&str, Body)] = &[
    ("decrypt_compact", common::run_decrypt_compact),
    ("decrypt_json", common::run_decrypt_json),
    ("jwk_parse", common::run_jwk_parse),
];

/// The most one input may take (a fuzz target's own timeout is far longer; anything near this
/// is a performance bug an attacker can use).
const MAX_PER_INPUT: Duration = Duration::from_secs(2);

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// The seeds and saved findings of `target`; a missing directory fails the test (a renamed or
/// deleted corpus must not turn the replay into a no-op).
fn inputs(target: &str) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for dir in ["seeds", "regressions"] {
        let path = fuzz_dir().join(dir).join(target);
        let entries = std::fs::read_dir(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for e in entries {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue; // `.keep` holds an empty regressions directory in git
            }
            out.push((format!("{dir}/{target}/{name}"), std::fs::read(e.path()).unwrap()));
        }
    }
    out.sort();
    out
}

/// Runs every input of `target` through its body, each within [`MAX_PER_INPUT`]; returns how
/// many inputs the body reported as opened / parsed.
fn replay(target: &str) -> (usize, usize) {
    let run = TARGETS.iter().find(|(t, _)| *t == target).expect("known target").1;
    let all = inputs(target);
    let mut succeeded = 0;
    for (name, data) in &all {
        let start = Instant::now();
        succeeded += usize::from(run(data));
        let took = start.elapsed();
        assert!(took < MAX_PER_INPUT, "{name} took {took:?} (limit {MAX_PER_INPUT:?})");
    }
    (all.len(), succeeded)
}

#[test]
fn fuzz_corpus_decrypt_compact_never_panics() {
    let (n, opened) = replay("decrypt_compact");
    assert!(n >= 10, "seed corpus missing: {n} inputs");
    // The RFC seeds themselves decrypt (RSA ones only where the provider allows RSA decryption).
    assert!(opened >= 5, "only {opened} seeds decrypted");
}

#[test]
fn fuzz_corpus_decrypt_json_never_panics() {
    let (n, opened) = replay("decrypt_json");
    assert!(n >= 10, "seed corpus missing: {n} inputs");
    assert!(opened >= 10, "only {opened} seeds decrypted");
}

#[test]
fn fuzz_corpus_jwk_parse_never_panics() {
    let (n, parsed) = replay("jwk_parse");
    assert!(n >= 1, "seed corpus missing");
    assert!(parsed >= 1, "no seed parsed as a JWK");
}

/// Each fuzz target is replayed, and each target's body is its shared function: a new target or
/// a target that grows its own code would otherwise escape the replay.
#[test]
fn every_fuzz_target_is_replayed_as_it_runs() {
    let dir = fuzz_dir().join("fuzz_targets");
    let mut found: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter_map(|n| n.strip_suffix(".rs").map(str::to_owned))
        .filter(|n| n != "common")
        .collect();
    found.sort();
    let mut replayed: Vec<String> = TARGETS.iter().map(|(t, _)| (*t).to_owned()).collect();
    replayed.sort();
    assert_eq!(found, replayed, "fuzz targets and replayed targets differ");
    for target in &found {
        let source = std::fs::read_to_string(dir.join(format!("{target}.rs"))).unwrap();
        let body = source.split("fuzz_target!").nth(1).unwrap_or_else(|| panic!("{target}: no fuzz_target!"));
        let code: Vec<&str> =
            body.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with("//")).collect();
        assert_eq!(
            code,
            ["(|data: &[u8]| {", &format!("let _ = common::run_{target}(data);"), "});"],
            "{target}: the target's body must be exactly its shared function"
        );
    }
}
