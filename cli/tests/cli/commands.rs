//! The `jwe-mint` binary, driven as a user or script would (the contract in `cli/src/main.rs`):
//! exit codes, stdin/stdout handling, key files, and round trips between the subcommands.

use crate::harness;

use harness::{run, run_stdout_closed, run_stdout_to, Out, TempDir};

use jwe_mint::jwa::SigningAlg;
use jwe_mint::jwk::{Curve, Jwk};
use serde_json::Value;

/// Whether RSA private-key operations work in this build (the rust-crypto provider refuses them).
const RSA_DECRYPTS: bool = cfg!(feature = "aws-lc");

/// `keygen` with `args` into `dir/name`; returns (private path, public path or the private path
/// again for symmetric keys).
fn keypair(dir: &TempDir, name: &str, args: &[&str]) -> (String, String) {
    let private = dir.file(&format!("{name}.jwk")).to_str().unwrap().to_owned();
    let mut full = vec!["keygen"];
    full.extend_from_slice(args);
    full.extend_from_slice(&["--out", &private]);
    run(&full, b"").ok();
    let jwk: Value = serde_json::from_slice(&std::fs::read(&private).unwrap()).unwrap();
    if jwk["kty"] == "oct" {
        return (private.clone(), private);
    }
    let public = run(&["public"], &std::fs::read(&private).unwrap()).ok();
    (private, dir.write(&format!("{name}.pub.jwk"), &public.stdout))
}

/// Bytes that catch any newline handling or text decoding of the plaintext.
const PLAINTEXT: &[u8] = b"line one\r\nline two\n\x00\xff\xfe binary\n\n";

fn encrypt(keys: &[&str], extra: &[&str], plaintext: &[u8]) -> String {
    let mut args = vec!["encrypt"];
    for k in keys {
        args.extend_from_slice(&["--key", k]);
    }
    args.extend_from_slice(extra);
    let out = run(&args, plaintext).ok();
    let text = out.text();
    assert!(text.ends_with('\n'));
    text
}

fn decrypt(keys: &[&str], extra: &[&str], token: &str) -> Out {
    let mut args = vec!["decrypt"];
    for k in keys {
        args.extend_from_slice(&["--key", k]);
    }
    args.extend_from_slice(extra);
    run(&args, token.as_bytes())
}

fn inspect(token: &str) -> Value {
    run(&["inspect"], token.as_bytes()).ok().json()
}

#[test]
fn keygen_each_alg_family() {
    /// (args, kty, crv, use, oct key bytes)
    type Case<'a> = (&'a [&'a str], &'a str, Option<&'a str>, &'a str, usize);
    let cases: &[Case] = &[
        (&["--alg", "ECDH-ES+A256KW"], "EC", Some("P-256"), "enc", 0),
        (&["--alg", "ECDH-ES", "--crv", "X25519"], "OKP", Some("X25519"), "enc", 0),
        (&["--alg", "ECDH-ES+A128KW", "--crv", "P-384"], "EC", Some("P-384"), "enc", 0),
        (&["--alg", "ECDH-ES+A192KW", "--crv", "P-521"], "EC", Some("P-521"), "enc", 0),
        (&["--alg", "RSA-OAEP-256"], "RSA", None, "enc", 0),
        (&["--alg", "RSA-OAEP"], "RSA", None, "enc", 0),
        (&["--alg", "A128KW"], "oct", None, "enc", 16),
        (&["--alg", "A192KW", "--bits", "192"], "oct", None, "enc", 24),
        (&["--alg", "A256GCMKW"], "oct", None, "enc", 32),
        (&["--alg", "dir"], "oct", None, "enc", 32),
        (&["--alg", "dir", "--bits", "512"], "oct", None, "enc", 64),
        (&["--alg", "ES256"], "EC", Some("P-256"), "sig", 0),
        (&["--alg", "ES384", "--crv", "P-384"], "EC", Some("P-384"), "sig", 0),
        (&["--alg", "ES512"], "EC", Some("P-521"), "sig", 0),
        (&["--alg", "EdDSA"], "OKP", Some("Ed25519"), "sig", 0),
        (&["--alg", "PS256"], "RSA", None, "sig", 0),
        (&["--alg", "RS256", "--bits", "3072"], "RSA", None, "sig", 0),
    ];
    for (args, kty, crv, key_use, oct_len) in cases {
        let mut full = vec!["keygen"];
        full.extend_from_slice(args);
        let out = run(&full, b"").ok();
        let v = out.json();
        assert_eq!(v["kty"], *kty, "{args:?}");
        assert_eq!(v["alg"], args[1], "{args:?}");
        assert_eq!(v["use"], *key_use, "{args:?}");
        if let Some(crv) = crv {
            assert_eq!(v["crv"], *crv, "{args:?}");
        }
        let present = |m: &str| v.get(m).is_some();
        match *kty {
            "oct" => {
                let k = v["k"].as_str().unwrap();
                assert_eq!(k.len() * 3 / 4, *oct_len, "{args:?}");
            }
            "RSA" => assert!(["n", "e", "d", "p", "q", "dp", "dq", "qi"].iter().all(|m| present(m))),
            _ => assert!(present("x") && present("d"), "{args:?}"),
        }
        if args.contains(&"3072") {
            assert_eq!(v["n"].as_str().unwrap().len(), 512, "3072-bit modulus");
        } else if *kty == "RSA" {
            assert_eq!(v["n"].as_str().unwrap().len(), 342, "2048-bit modulus");
        }
        // kid is the RFC 7638 thumbprint of the key.
        let parsed = Jwk::from_json(&out.text()).unwrap();
        assert_eq!(v["kid"], parsed.thumbprint(), "{args:?}");
        assert!(parsed.is_private());
    }
}

#[test]
fn keygen_kid_use_and_out_file() {
    let dir = TempDir::new("keygen-out");
    let path = dir.file("k.jwk");
    let p = path.to_str().unwrap();
    let out = run(&["keygen", "--alg", "ECDH-ES+A256KW", "--kid", "rs-2026-11", "--out", p], b"").ok();
    assert!(out.stdout.is_empty(), "nothing on stdout with --out");
    let v: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(v["kid"], "rs-2026-11");
    assert_eq!(v["use"], "enc");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        // --force replaces an existing, world-readable file with a new 0600 one.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        run(&["keygen", "--alg", "A256KW", "--out", p, "--force"], b"").ok();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let v: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(v["kty"], "oct");
    }

    let v = run(&["keygen", "--alg", "ES256", "--use", "enc"], b"").ok().json();
    assert_eq!(v["use"], "enc");
    let v = run(&["keygen", "--alg", "RSA-OAEP-256", "--use", "sig"], b"").ok().json();
    assert_eq!(v["use"], "sig");

    // Unwritable destination: exit 1, one line.
    let bad = dir.file("no-such-dir/k.jwk");
    run(&["keygen", "--alg", "A128KW", "--out", bad.to_str().unwrap()], b"").rejected();
}

/// The names in `dir`, sorted (to see that nothing else, such as a temporary file, was left).
#[cfg(unix)]
fn names_in(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    names
}

#[cfg(unix)]
#[test]
fn keygen_out_never_overwrites_a_file_or_follows_a_symlink() {
    use std::os::unix::fs::symlink;
    let dir = TempDir::new("keygen-no-clobber");
    let old_key = b"{\"kty\":\"oct\",\"k\":\"the-only-copy-of-the-old-key\"}\n";
    let existing = dir.write("existing.jwk", old_key);
    let victim = dir.write("victim", b"not a key\n");
    let link = dir.path("link.jwk");
    symlink(&victim, &link).unwrap();
    let dangling = dir.path("dangling.jwk");
    let dangling_target = dir.path("created-through-the-link");
    symlink(&dangling_target, &dangling).unwrap();
    let before = names_in(&dir.file(""));

    for path in [&existing, &link, &dangling] {
        let line = run(&["keygen", "--alg", "A256KW", "--out", path], b"").rejected();
        assert!(line.contains(path.as_str()) && line.contains("already exists"), "{line}");
        assert!(line.contains("--force"), "{line}");
    }
    assert_eq!(std::fs::read(&existing).unwrap(), old_key, "the existing key is untouched");
    assert_eq!(std::fs::read(&victim).unwrap(), b"not a key\n", "the symlink's target is untouched");
    assert_eq!(std::fs::read_link(&link).unwrap().to_str().unwrap(), victim, "still the same symlink");
    assert!(!std::path::Path::new(&dangling_target).exists(), "nothing created through a symlink");
    assert_eq!(names_in(&dir.file("")), before, "no file added or removed");
    // --force only goes with --out.
    run(&["keygen", "--alg", "A256KW", "--force"], b"").usage_error();
}

#[cfg(unix)]
#[test]
fn keygen_out_force_replaces_the_path_itself_with_a_0600_file() {
    use std::os::unix::fs::{symlink, PermissionsExt};
    let dir = TempDir::new("keygen-force");
    let existing = dir.write("existing.jwk", b"old key\n");
    std::fs::set_permissions(&existing, std::fs::Permissions::from_mode(0o644)).unwrap();
    let victim = dir.write("victim", b"not a key\n");
    std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o644)).unwrap();
    let link = dir.path("link.jwk");
    symlink(&victim, &link).unwrap();
    let dangling = dir.path("dangling.jwk");
    let dangling_target = dir.path("created-through-the-link");
    symlink(&dangling_target, &dangling).unwrap();
    let before = names_in(&dir.file(""));

    for path in [&existing, &link, &dangling] {
        let out = run(&["keygen", "--alg", "ECDH-ES+A256KW", "--out", path, "--force"], b"").ok();
        assert!(out.stdout.is_empty());
        let meta = std::fs::symlink_metadata(path).unwrap();
        assert!(meta.file_type().is_file(), "{path} is now a regular file, not a symlink");
        assert_eq!(meta.permissions().mode() & 0o777, 0o600, "{path}");
        let key = Jwk::from_json(&std::fs::read_to_string(path).unwrap()).unwrap();
        assert!(key.is_private(), "{path}");
    }
    assert_eq!(std::fs::read(&victim).unwrap(), b"not a key\n", "the symlink's target is untouched");
    assert_eq!(std::fs::metadata(&victim).unwrap().permissions().mode() & 0o777, 0o644);
    assert!(!std::path::Path::new(&dangling_target).exists(), "nothing created through a symlink");
    assert_eq!(names_in(&dir.file("")), before, "no temporary file left behind");
    // A relative path in the current directory works too (its parent is "").
    let out = std::process::Command::new(harness::BIN)
        .args(["keygen", "--alg", "A128KW", "--out", "existing.jwk", "--force"])
        .current_dir(dir.file(""))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(Jwk::from_json(&std::fs::read_to_string(&existing).unwrap()).unwrap().kty(), "oct");
    // A directory is not replaced.
    let sub = dir.file("sub");
    std::fs::create_dir(&sub).unwrap();
    let line = run(&["keygen", "--alg", "A128KW", "--out", sub.to_str().unwrap(), "--force"], b"").rejected();
    assert!(line.contains(sub.to_str().unwrap()), "{line}");
    assert!(sub.is_dir());
}

#[test]
fn keygen_inconsistent_options_are_usage_errors() {
    let cases: &[&[&str]] = &[
        &["--alg", "ES256", "--crv", "X25519"],
        &["--alg", "ES384", "--crv", "P-256"],
        &["--alg", "EdDSA", "--crv", "X25519"],
        &["--alg", "ECDH-ES+A256KW", "--crv", "Ed25519"],
        &["--alg", "ECDH-ES+A256KW", "--bits", "256"],
        &["--alg", "ES256", "--bits", "256"],
        &["--alg", "RSA-OAEP-256", "--crv", "P-256"],
        &["--alg", "RSA-OAEP-256", "--bits", "1024"],
        &["--alg", "A128KW", "--bits", "256"],
        &["--alg", "A256KW", "--crv", "P-256"],
        &["--alg", "dir", "--bits", "100"],
        &["--alg", "PBES2-HS256+A128KW"],
        &["--alg", "none"],
        &["--alg", "HS256"],
        &["--alg", "ECDH-ES", "--crv", "P-999"],
        &["--alg", "ECDH-ES", "--use", "both"],
        &["--crv", "P-256"],
    ];
    for args in cases {
        let mut full = vec!["keygen"];
        full.extend_from_slice(args);
        run(&full, b"").usage_error();
    }
}

#[test]
fn public_strips_private_members_and_keeps_metadata() {
    const PRIVATE: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "k", "oth"];
    for alg in [
        &["--alg", "ECDH-ES+A256KW"][..],
        &["--alg", "ECDH-ES", "--crv", "X25519"],
        &["--alg", "EdDSA"],
        &["--alg", "RSA-OAEP-256"],
    ] {
        let mut args = vec!["keygen", "--kid", "my-key"];
        args.extend_from_slice(alg);
        let private = run(&args, b"").ok();
        let public = run(&["public"], &private.stdout).ok().json();
        let obj = public.as_object().unwrap();
        for m in PRIVATE {
            assert!(!obj.contains_key(*m), "{alg:?} leaked `{m}`");
        }
        assert_eq!(public["kid"], "my-key");
        assert_eq!(public["alg"], alg[1]);
        let parsed = Jwk::from_json(&public.to_string()).unwrap();
        assert!(!parsed.is_private());
        assert_eq!(parsed.thumbprint(), Jwk::from_json(&private.text()).unwrap().thumbprint());

        // --jwks wraps the key in a set.
        let set = run(&["public", "--jwks"], &private.stdout).ok().json();
        assert_eq!(set["keys"].as_array().unwrap().len(), 1);
        assert_eq!(set["keys"][0], public);
    }

    // A set in gives a set out, even without --jwks; every key stripped, kids kept.
    let a = Jwk::generate(Curve::P256).unwrap();
    let b = Jwk::generate(Curve::X25519).unwrap().with_kid("second");
    let set = format!(r#"{{"keys":[{},{}]}}"#, a.to_private_json(), b.to_private_json());
    let out = run(&["public"], set.as_bytes()).ok().json();
    let keys = out["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0]["kid"], a.kid().unwrap());
    assert_eq!(keys[1]["kid"], "second");
    assert!(keys.iter().all(|k| k.get("d").is_none()));

    // A public key stays public.
    let public = a.to_public().unwrap().to_json().unwrap();
    assert_eq!(run(&["public"], public.as_bytes()).ok().json()["x"], out["keys"][0]["x"]);

    // Symmetric keys have no public form; garbage is rejected.
    let oct = run(&["keygen", "--alg", "A256KW"], b"").ok();
    run(&["public"], &oct.stdout).rejected();
    run(&["public", "--jwks"], &oct.stdout).rejected();
    run(&["public"], b"not json").rejected();
    run(&["public"], b"").rejected();
    run(&["public"], br#"{"kty":"EC","crv":"P-256","x":"AAAA","y":"AAAA"}"#).rejected();
}

/// Encrypts PLAINTEXT to a fresh key made with `keygen_args` in each serialization and decrypts it.
fn round_trip(name: &str, keygen_args: &[&str], rsa: bool) {
    let dir = TempDir::new(name);
    let (private, public) = keypair(&dir, "rs", keygen_args);
    let kid = serde_json::from_slice::<Value>(&std::fs::read(&private).unwrap()).unwrap()["kid"].clone();
    for (form, extra) in
        [("compact", &[][..]), ("flattened", &["--flattened"][..]), ("general", &["--json"][..])]
    {
        let token = encrypt(&[&public], extra, PLAINTEXT);
        match form {
            "compact" => assert_eq!(token.trim_end().matches('.').count(), 4),
            "flattened" => {
                let v: Value = serde_json::from_str(&token).unwrap();
                assert!(v.get("recipients").is_none() && v.get("header").is_some(), "{token}");
            }
            _ => {
                let v: Value = serde_json::from_str(&token).unwrap();
                assert_eq!(v["recipients"].as_array().unwrap().len(), 1, "{token}");
            }
        }
        let headers = inspect(&token);
        assert_eq!(headers["serialization"], form);
        let out = decrypt(&[&private], &[], &token);
        if rsa && !RSA_DECRYPTS {
            out.rejected();
            continue;
        }
        assert_eq!(out.ok().stdout, PLAINTEXT, "{name} {form}");
        // The key's kid travels in the header that applies to the recipient.
        let kid_seen = match form {
            "compact" => headers["protected"]["kid"].clone(),
            _ => headers["recipients"][0]["kid"].clone(),
        };
        assert_eq!(kid_seen, kid, "{name} {form}");
    }
}

#[test]
fn round_trip_ecdh_es_a256kw_p256() {
    round_trip("p256", &["--alg", "ECDH-ES+A256KW"], false);
}

#[test]
fn round_trip_ecdh_es_a256kw_x25519() {
    round_trip("x25519", &["--alg", "ECDH-ES+A256KW", "--crv", "X25519"], false);
}

#[test]
fn round_trip_ecdh_es_direct_p384() {
    round_trip("p384", &["--alg", "ECDH-ES", "--crv", "P-384"], false);
}

#[test]
fn round_trip_rsa_oaep_256() {
    round_trip("rsa", &["--alg", "RSA-OAEP-256"], true);
}

#[test]
fn round_trip_a256kw() {
    round_trip("a256kw", &["--alg", "A256KW"], false);
}

#[test]
fn round_trip_a128gcmkw() {
    round_trip("a128gcmkw", &["--alg", "A128GCMKW"], false);
}

#[test]
fn round_trip_dir() {
    round_trip("dir", &["--alg", "dir"], false);
}

#[test]
fn dir_key_size_picks_enc_and_explicit_enc_is_used() {
    let dir = TempDir::new("dir-enc");
    let (k512, _) = keypair(&dir, "k512", &["--alg", "dir", "--bits", "512"]);
    let token = encrypt(&[&k512], &[], PLAINTEXT);
    assert_eq!(inspect(&token)["protected"]["enc"], "A256CBC-HS512");
    assert_eq!(decrypt(&[&k512], &[], &token).ok().stdout, PLAINTEXT);

    let (k256, _) = keypair(&dir, "k256", &["--alg", "dir"]);
    let token = encrypt(&[&k256], &["--enc", "A128CBC-HS256"], PLAINTEXT);
    assert_eq!(inspect(&token)["protected"]["enc"], "A128CBC-HS256");
    assert_eq!(decrypt(&[&k256], &[], &token).ok().stdout, PLAINTEXT);
    // A dir key pinned to its enc (RFC 7520 §5.6.1 style): dir with that enc.
    let pinned = Jwk::generate_symmetric(16).unwrap().with_alg("A128GCM");
    let pinned = dir.write("pinned.jwk", pinned.to_private_json().as_bytes());
    let token = encrypt(&[&pinned], &[], PLAINTEXT);
    let h = inspect(&token);
    assert_eq!(
        (h["protected"]["alg"].as_str(), h["protected"]["enc"].as_str()),
        (Some("dir"), Some("A128GCM"))
    );
    assert_eq!(decrypt(&[&pinned], &[], &token).ok().stdout, PLAINTEXT);
    // Wrong size for the chosen enc: rejected by the library, exit 1.
    run(&["encrypt", "--key", &k256, "--enc", "A128GCM"], b"x").rejected();
}

#[test]
fn encrypt_defaults_alg_and_enc_from_key() {
    let dir = TempDir::new("defaults");
    // Keys without `alg`: the default by key type.
    let cases = [
        (Jwk::generate(Curve::P256).unwrap(), "ECDH-ES+A256KW"),
        (Jwk::generate(Curve::X25519).unwrap(), "ECDH-ES+A256KW"),
        (Jwk::generate_symmetric(16).unwrap(), "A128KW"),
        (Jwk::generate_symmetric(24).unwrap(), "A192KW"),
        (Jwk::generate_symmetric(32).unwrap(), "A256KW"),
    ];
    for (i, (key, alg)) in cases.iter().enumerate() {
        let path = dir.write(&format!("k{i}.jwk"), key.to_private_json().as_bytes());
        let token = encrypt(&[&path], &[], b"hi");
        let h = inspect(&token);
        assert_eq!(h["protected"]["alg"], *alg);
        assert_eq!(h["protected"]["enc"], "A256GCM");
        assert_eq!(decrypt(&[&path], &[], &token).ok().stdout, b"hi");
    }
    let rsa = Jwk::generate_rsa(2048).unwrap();
    let path = dir.write("rsa.jwk", rsa.to_public().unwrap().to_json().unwrap().as_bytes());
    assert_eq!(inspect(&encrypt(&[&path], &[], b"hi"))["protected"]["alg"], "RSA-OAEP-256");

    // --alg and --enc override the defaults; a key pinned to another alg refuses it (exit 1).
    let plain = dir.write("plain.jwk", Jwk::generate(Curve::P256).unwrap().to_json().unwrap().as_bytes());
    let h = inspect(&encrypt(&[&plain], &["--alg", "ECDH-ES", "--enc", "A128GCM"], b"x"));
    assert_eq!(h["protected"]["alg"], "ECDH-ES");
    assert_eq!(h["protected"]["enc"], "A128GCM");
    let (_, pinned) = keypair(&dir, "pinned", &["--alg", "ECDH-ES+A256KW"]);
    let line = run(&["encrypt", "--key", &pinned, "--alg", "ECDH-ES+A128KW"], b"x").rejected();
    assert!(line.contains("no matching key"), "{line}");

    // Signing keys cannot encrypt; odd-size oct keys need --alg.
    let (_, sig) = keypair(&dir, "sig", &["--alg", "ES256"]);
    run(&["encrypt", "--key", &sig], b"x").rejected();
    let ed = dir.write("ed.jwk", Jwk::generate(Curve::Ed25519).unwrap().to_json().unwrap().as_bytes());
    run(&["encrypt", "--key", &ed], b"x").rejected();
    let odd = dir.write("odd.jwk", Jwk::generate_symmetric(20).unwrap().to_private_json().as_bytes());
    run(&["encrypt", "--key", &odd], b"x").rejected();
}

#[test]
fn encrypt_accepts_private_keys_and_key_sets() {
    let dir = TempDir::new("sets");
    let (private, _) = keypair(&dir, "rs", &["--alg", "ECDH-ES+A256KW", "--kid", "enc-key"]);
    // A private JWK works for encryption (its public half is used).
    let token = encrypt(&[&private], &[], PLAINTEXT);
    assert_eq!(decrypt(&[&private], &[], &token).ok().stdout, PLAINTEXT);

    // A JWK Set: the first key with use=enc (or no use) is the recipient.
    let sig = Jwk::generate(Curve::P256).unwrap().with_use("sig").with_kid("sig-key");
    let enc: Value = serde_json::from_slice(&std::fs::read(&private).unwrap()).unwrap();
    let set = format!(r#"{{"keys":[{},{}]}}"#, sig.to_private_json(), enc);
    let set_path = dir.write("set.jwks", set.as_bytes());
    let token = encrypt(&[&set_path], &[], PLAINTEXT);
    assert_eq!(inspect(&token)["protected"]["kid"], "enc-key");
    // Decryption keys can be a set too.
    assert_eq!(decrypt(&[&set_path], &[], &token).ok().stdout, PLAINTEXT);

    // A set without any encryption key, a missing file, a broken file: exit 1.
    let only_sig = dir.write("sig.jwks", format!(r#"{{"keys":[{}]}}"#, sig.to_private_json()).as_bytes());
    run(&["encrypt", "--key", &only_sig], b"x").rejected();
    run(&["encrypt", "--key", dir.file("missing.jwk").to_str().unwrap()], b"x").rejected();
    let broken = dir.write("broken.jwk", b"{\"kty\":");
    run(&["encrypt", "--key", &broken], b"x").rejected();
    run(&["decrypt", "--key", &broken], token.as_bytes()).rejected();
}

#[test]
fn multi_recipient_general_json_each_key_decrypts_alone() {
    let dir = TempDir::new("multi");
    let (p256, p256_pub) = keypair(&dir, "a", &["--alg", "ECDH-ES+A256KW"]);
    let (x25519, x25519_pub) = keypair(&dir, "b", &["--alg", "ECDH-ES+A256KW", "--crv", "X25519"]);
    let (kw, _) = keypair(&dir, "c", &["--alg", "A256KW"]);
    let token = encrypt(&[&p256_pub, &x25519_pub, &kw], &["--json"], PLAINTEXT);
    let h = inspect(&token);
    assert_eq!(h["serialization"], "general");
    let recipients = h["recipients"].as_array().unwrap();
    assert_eq!(recipients.len(), 3);
    assert_eq!(recipients[0]["alg"], "ECDH-ES+A256KW");
    assert_eq!(recipients[2]["alg"], "A256KW");
    for key in [&p256, &x25519, &kw] {
        assert_eq!(decrypt(&[key], &[], &token).ok().stdout, PLAINTEXT, "{key}");
    }
    // All keys at once (merged into one set) also works.
    assert_eq!(decrypt(&[&kw, &x25519, &p256], &[], &token).ok().stdout, PLAINTEXT);
    // A key that is none of the recipients' is refused.
    let (other, _) = keypair(&dir, "d", &["--alg", "ECDH-ES+A256KW"]);
    decrypt(&[&other], &[], &token).rejected();
    // Direct modes cannot share a CEK: refused by the library (exit 1).
    let (d, _) = keypair(&dir, "e", &["--alg", "dir"]);
    run(&["encrypt", "--key", &d, "--key", &kw, "--json"], b"x").rejected();
}

#[test]
fn zip_round_trip_needs_opt_in() {
    let dir = TempDir::new("zip");
    let (private, public) = keypair(&dir, "rs", &["--alg", "ECDH-ES+A256KW"]);
    let plaintext = b"compressible ".repeat(200);
    for extra in [&["--zip"][..], &["--zip", "--json"], &["--zip", "--flattened"]] {
        let token = encrypt(&[&public], extra, &plaintext);
        assert_eq!(inspect(&token)["protected"]["zip"], "DEF");
        assert!(token.len() < plaintext.len(), "compressed");
        assert_eq!(decrypt(&[&private], &["--allow-zip"], &token).ok().stdout, plaintext);
        let line = decrypt(&[&private], &[], &token).rejected();
        assert!(line.contains("zip"), "{line}");
    }
}

#[test]
fn pbes2_password_key_needs_opt_in() {
    let dir = TempDir::new("pbes2");
    let password = Jwk::symmetric(b"correct horse battery staple").unwrap();
    let path = dir.write("password.jwk", password.to_private_json().as_bytes());
    let token = encrypt(&[&path], &["--alg", "PBES2-HS256+A128KW"], PLAINTEXT);
    assert_eq!(inspect(&token)["protected"]["alg"], "PBES2-HS256+A128KW");
    assert_eq!(decrypt(&[&path], &["--allow-pbes2"], &token).ok().stdout, PLAINTEXT);
    decrypt(&[&path], &[], &token).rejected();
    // --allow-alg restricts the opt-in too.
    decrypt(&[&path], &["--allow-pbes2", "--allow-alg", "A128KW"], &token).rejected();
    let wrong = dir.write("wrong.jwk", Jwk::symmetric(b"Tr0ub4dor&3").unwrap().to_private_json().as_bytes());
    decrypt(&[&wrong], &["--allow-pbes2"], &token).rejected();
}

#[test]
fn inspect_shows_headers_without_key() {
    let dir = TempDir::new("inspect");
    let (_, public) = keypair(&dir, "rs", &["--alg", "ECDH-ES+A256KW", "--kid", "rs-1"]);
    let token = encrypt(&[&public], &["--enc", "A128CBC-HS256"], b"secret plaintext");
    let h = inspect(&token);
    assert_eq!(h["serialization"], "compact");
    assert_eq!(h["protected"]["alg"], "ECDH-ES+A256KW");
    assert_eq!(h["protected"]["enc"], "A128CBC-HS256");
    assert_eq!(h["protected"]["kid"], "rs-1");
    assert_eq!(h["protected"]["epk"]["crv"], "P-256");
    assert!(h["unprotected"].is_null());
    let text = run(&["inspect"], token.as_bytes()).ok().text();
    assert!(!text.contains("secret plaintext"));

    let flat = inspect(&encrypt(&[&public], &["--flattened"], b"x"));
    assert_eq!(flat["serialization"], "flattened");
    assert_eq!(flat["protected"]["enc"], "A256GCM");
    assert_eq!(flat["recipients"][0]["alg"], "ECDH-ES+A256KW");
    assert_eq!(flat["recipients"][0]["kid"], "rs-1");

    // JSON with leading whitespace is JSON for `inspect` as for `decrypt`, even when its text holds
    // exactly two dots (here from a `kid`), which must not make it look like a compact JWS.
    let (_, dotted) = keypair(&dir, "dotted", &["--alg", "ECDH-ES+A256KW", "--kid=rs.1.x"]);
    let spaced = format!("\n {}", encrypt(&[&dotted], &["--flattened"], b"x"));
    assert_eq!(spaced.matches('.').count(), 2, "the test needs exactly two dots: {spaced}");
    let flat = inspect(&spaced);
    assert_eq!(flat["serialization"], "flattened");
    assert_eq!(flat["recipients"][0]["kid"], "rs.1.x");

    // A compact JWS: its header is shown, nothing verified.
    let signing = Jwk::generate(Curve::P256).unwrap().with_kid("as-1");
    let jws = jwe_mint::jws::Signer::new(&signing, SigningAlg::Es256, Default::default())
        .unwrap()
        .sign(b"{\"sub\":\"alice\"}")
        .unwrap();
    let h = inspect(&format!("{jws}\n"));
    assert_eq!(h["serialization"], "jws-compact");
    assert_eq!(h["protected"]["alg"], "ES256");
    assert_eq!(h["protected"]["kid"], "as-1");

    for garbage in [&b""[..], b"garbage", b"a.b.c", b"a.b.c.d.e", b"{", b"{}", b"\xff\xfe", b"...."] {
        run(&["inspect"], garbage).rejected();
    }
}

#[test]
fn rejected_inputs_exit_1_with_one_line() {
    let dir = TempDir::new("rejected");
    let (private, public) = keypair(&dir, "rs", &["--alg", "ECDH-ES+A256KW", "--kid", "rs-1"]);
    let token = encrypt(&[&public], &[], PLAINTEXT);
    let token = token.trim_end();

    // Tampered ciphertext, tag, header.
    let parts: Vec<&str> = token.split('.').collect();
    for i in [0, 1, 2, 3, 4] {
        let mut p: Vec<String> = parts.iter().map(|s| s.to_string()).collect();
        let seg = &mut p[i];
        let c = if seg.starts_with('A') { "B" } else { "A" };
        seg.replace_range(0..1, c);
        let line = decrypt(&[&private], &[], &p.join(".")).rejected();
        assert!(!line.contains(&parts[3][..8]), "no token content in the message");
    }
    let line = decrypt(
        &[&private],
        &[],
        &format!("{}.{}.{}.{}.{}", parts[0], parts[1], parts[2], parts[3], "A".repeat(22)),
    )
    .rejected();
    assert_eq!(line, "jwe-mint: decryption failed");

    // Wrong key: another kid, and the same kid on another key.
    let (other, _) = keypair(&dir, "other", &["--alg", "ECDH-ES+A256KW"]);
    decrypt(&[&other], &[], token).rejected();
    let (imposter, _) = keypair(&dir, "imposter", &["--alg", "ECDH-ES+A256KW", "--kid", "rs-1"]);
    assert_eq!(decrypt(&[&imposter], &[], token).rejected(), "jwe-mint: decryption failed");
    // A public key cannot decrypt.
    decrypt(&[&public], &[], token).rejected();

    // Garbage.
    for garbage in [&b""[..], b"garbage", b"\xff\xfe\x00", b"{\"protected\":1}", b"a.b.c.d.e", b"....", b"{}"]
    {
        run(&["decrypt", "--key", &private], garbage).rejected();
    }
    // Oversized input.
    run(&["decrypt", "--key", &private], &vec![b'A'; 200 * 1024]).rejected();

    // Allow-lists: an ECDH token under --allow-alg A128KW, an A256GCM token under --allow-enc A128GCM.
    let line = decrypt(&[&private], &["--allow-alg", "A128KW"], token).rejected();
    assert!(line.contains("not allowed"), "{line}");
    let line = decrypt(&[&private], &["--allow-enc", "A128GCM", "--allow-enc", "A192GCM"], token).rejected();
    assert!(line.contains("not allowed"), "{line}");
    // ... and the allowed ones pass.
    let opened = decrypt(
        &[&private],
        &["--allow-alg", "A128KW", "--allow-alg", "ECDH-ES+A256KW", "--allow-enc", "A256GCM"],
        token,
    );
    assert_eq!(opened.ok().stdout, PLAINTEXT);
    // RSA1_5 stays refused unless opted in (header check, before any key work).
    let rsa1_5 = r#"{"alg":"RSA1_5","enc":"A128GCM"}"#;
    let fake = format!("{}.AAAA.AAAAAAAAAAAAAAAA.AAAA.AAAAAAAAAAAAAAAAAAAAAA", b64url(rsa1_5.as_bytes()));
    let line = decrypt(&[&private], &[], &fake).rejected();
    assert!(line.contains("RSA1_5"), "{line}");
}

#[test]
fn usage_errors_exit_2() {
    let dir = TempDir::new("usage");
    let (private, public) = keypair(&dir, "rs", &["--alg", "ECDH-ES+A256KW"]);
    let cases: &[&[&str]] = &[
        &[],
        &["frobnicate"],
        &["mint"],
        &["encrypt"],
        &["decrypt"],
        &["encrypt", "--key", &public, "--key", &public],
        &["encrypt", "--key", &public, "--key", &public, "--flattened"],
        &["encrypt", "--key", &public, "--json", "--flattened"],
        &["encrypt", "--key", &public, "--alg", "ROT13"],
        &["encrypt", "--key", &public, "--enc", "A512GCM"],
        &["decrypt", "--key", &private, "--allow-alg", "RSA1_5"],
        &["decrypt", "--key", &private, "--allow-alg", "PBES2-HS256+A128KW"],
        &["decrypt", "--key", &private, "--allow-enc", "nope"],
        &["decrypt", "--key", &private, "--bogus"],
        &["inspect", "extra"],
        &["public", "--key"],
        &["public", "--key", &private, "--key", &private],
    ];
    for args in cases {
        run(args, b"").usage_error();
    }
    // Help and version succeed.
    for args in [&["--help"][..], &["--version"], &["keygen", "--help"], &["decrypt", "--help"]] {
        let out = run(args, b"").ok();
        assert!(!out.stdout.is_empty());
    }
    let help = run(&["--help"], b"").ok().text();
    for sub in ["keygen", "public", "encrypt", "decrypt", "inspect", "mint", "open", "demo"] {
        assert!(
            help.lines().any(|l| l.trim_start().starts_with(&format!("{sub} "))),
            "{sub} listed in --help"
        );
    }
}

#[test]
fn token_input_may_end_with_one_newline() {
    let dir = TempDir::new("newline");
    let (private, public) = keypair(&dir, "rs", &["--alg", "ECDH-ES+A256KW"]);
    for extra in [&[][..], &["--json"][..]] {
        let token = encrypt(&[&public], extra, PLAINTEXT);
        let bare = token.trim_end();
        for input in [bare.to_owned(), format!("{bare}\n"), format!("{bare}\r\n")] {
            assert_eq!(decrypt(&[&private], &[], &input).ok().stdout, PLAINTEXT);
            run(&["inspect"], input.as_bytes()).ok();
        }
        // Exactly one newline is ignored, not more (compact: the sixth byte class breaks base64).
        if extra.is_empty() {
            decrypt(&[&private], &[], &format!("{bare}\n\n")).rejected();
            decrypt(&[&private], &[], &format!(" {bare}")).rejected();
        }
    }
    // Plaintext is byte-exact: a trailing newline is kept, empty input is fine.
    let token = encrypt(&[&public], &[], b"\n");
    assert_eq!(decrypt(&[&private], &[], &token).ok().stdout, b"\n");
    let token = encrypt(&[&public], &[], b"");
    assert_eq!(decrypt(&[&private], &[], &token).ok().stdout, b"");
}

#[test]
fn rsa_oaep_sha1_round_trip() {
    let dir = TempDir::new("rsa-oaep");
    let (private, public) = keypair(&dir, "rs", &["--alg", "RSA-OAEP"]);
    let token = encrypt(&[&public], &[], PLAINTEXT);
    assert_eq!(inspect(&token)["protected"]["alg"], "RSA-OAEP");
    let out = decrypt(&[&private], &[], &token);
    if RSA_DECRYPTS {
        assert_eq!(out.ok().stdout, PLAINTEXT);
    } else {
        out.rejected();
    }
}

fn b64url(data: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data)
}

/// Every command that prints, with stdout closed (`>&-`) or full (`/dev/full`): exit 1, one line,
/// since the key, token or plaintext is lost. `>/dev/null` is a choice and succeeds.
#[cfg(unix)]
#[test]
fn closed_or_full_stdout_is_exit_1() {
    let dir = TempDir::new("closed-stdout");
    let (private, public) = keypair(&dir, "rs", &["--alg", "ECDH-ES+A256KW"]);
    let token = encrypt(&[&public], &[], PLAINTEXT);
    let private_json = std::fs::read(&private).unwrap();
    let cases: &[(&[&str], &[u8])] = &[
        (&["keygen", "--alg", "ECDH-ES+A256KW"], b""),
        (&["keygen", "--alg", "A128KW"], b""),
        (&["public"], &private_json),
        (&["encrypt", "--key", &public], PLAINTEXT),
        (&["encrypt", "--key", &public, "--json"], PLAINTEXT),
        (&["decrypt", "--key", &private], token.as_bytes()),
        (&["inspect"], token.as_bytes()),
    ];
    for (args, stdin) in cases {
        let line = run_stdout_closed(args, stdin).rejected();
        assert_eq!(line, "jwe-mint: cannot write stdout: it is closed", "{args:?}");
        let line = run_stdout_to(args, stdin, "/dev/full").rejected();
        assert!(line.starts_with("jwe-mint: cannot write stdout: "), "{args:?}: {line}");
        run_stdout_to(args, stdin, "/dev/null").ok();
    }
    // Even an empty plaintext is output that cannot be delivered to a closed stdout.
    let empty = encrypt(&[&public], &[], b"");
    run_stdout_closed(&["decrypt", "--key", &private], empty.as_bytes()).rejected();
    // keygen --out prints nothing, so a closed stdout does not matter.
    let out_path = dir.path("out.jwk");
    let out = run_stdout_closed(&["keygen", "--alg", "A128KW", "--out", &out_path], b"").ok();
    assert!(out.stderr.is_empty());
    assert!(Jwk::from_json(&std::fs::read_to_string(&out_path).unwrap()).unwrap().is_private());
}

#[test]
fn inspect_parses_as_strictly_as_decrypt() {
    let dir = TempDir::new("inspect-strict");
    let (private, public) = keypair(&dir, "rs", &["--alg", "ECDH-ES+A256KW"]);
    let token = encrypt(&[&public], &[], PLAINTEXT);
    let parts: Vec<&str> = token.trim_end().split('.').collect();

    // A JWE protected header with a duplicate member: `decrypt` refuses it, and so does `inspect`.
    let dup = r#"{"alg":"dir","enc":"A256GCM","alg":"ECDH-ES+A256KW"}"#;
    let jwe = format!("{}.{}.{}.{}.{}", b64url(dup.as_bytes()), parts[1], parts[2], parts[3], parts[4]);
    let line = decrypt(&[&private], &[], &jwe).rejected();
    assert!(line.contains("duplicate member"), "{line}");
    let line = run(&["inspect"], jwe.as_bytes()).rejected();
    assert!(line.contains("duplicate member"), "{line}");

    // The JSON serialization: a duplicate member at the top level and in a recipient header.
    let flat: Value = serde_json::from_str(&encrypt(&[&public], &["--flattened"], PLAINTEXT)).unwrap();
    let text = flat.to_string();
    let top = format!(r#"{{"aad":"AAAA",{},"aad":"AAAA"}}"#, &text[1..text.len() - 1]);
    let in_header = text.replacen(r#""header":{"#, r#""header":{"kid":"a","kid":"b","#, 1);
    assert_ne!(in_header, text);
    for json in [top, in_header] {
        let line = decrypt(&[&private], &[], &json).rejected();
        assert!(line.contains("duplicate member"), "{line}");
        let line = run(&["inspect"], json.as_bytes()).rejected();
        assert!(line.contains("duplicate member"), "{line}");
    }

    // A compact JWS (the nested token inside an access token): `alg` twice. A loose parser shows
    // the last one (ES256) while verification refuses the header.
    let header = r#"{"alg":"none","typ":"at+jwt","alg":"ES256"}"#;
    let jws =
        format!("{}.{}.{}", b64url(header.as_bytes()), b64url(b"{\"sub\":\"alice\"}"), b64url(&[7; 64]));
    let line = run(&["inspect"], jws.as_bytes()).rejected();
    assert!(line.contains("duplicate member"), "{line}");
    assert!(!line.contains("ES256"), "{line}");
    let nested_dup = r#"{"alg":"ES256","kid":"as-1","kid":"as-1"}"#;
    let jws = format!("{}.{}.{}", b64url(nested_dup.as_bytes()), b64url(b"{}"), b64url(&[7; 64]));
    run(&["inspect"], jws.as_bytes()).rejected();
    // Without the duplicate, the same header is shown.
    let ok = r#"{"alg":"ES256","typ":"at+jwt"}"#;
    let jws = format!("{}.{}.{}", b64url(ok.as_bytes()), b64url(b"{}"), b64url(&[7; 64]));
    assert_eq!(inspect(&jws)["protected"]["typ"], "at+jwt");
}

/// Every error about a file names the option and the file.
#[test]
fn errors_about_a_key_file_name_the_file() {
    let dir = TempDir::new("file-errors");
    let (private, public) = keypair(&dir, "rs", &["--alg", "ECDH-ES+A256KW"]);
    let token = encrypt(&[&public], &[], PLAINTEXT);
    let empty = dir.write("empty.jwk", b"");
    let blank = dir.write("blank.jwk", b"\n");
    let not_json = dir.write("not-json.jwk", b"-----BEGIN PRIVATE KEY-----\n");
    let bad_key = dir.write("bad-key.jwk", br#"{"kty":"EC","crv":"P-256","x":"AAAA","y":"AAAA"}"#);
    let not_utf8 = dir.write("latin1.jwk", b"\xff\xfe{}");
    let missing = dir.path("missing.jwk");
    for file in [&empty, &blank, &not_json, &bad_key, &not_utf8, &missing] {
        for (args, stdin) in [
            (vec!["encrypt", "--key", file], PLAINTEXT),
            (vec!["decrypt", "--key", file], token.as_bytes()),
            (vec!["decrypt", "--key", &private, "--key", file], token.as_bytes()),
        ] {
            let line = run(&args, stdin).rejected();
            assert!(line.contains(&format!("--key {file}")), "{line}");
        }
    }
    let line = run(&["encrypt", "--key", &empty], PLAINTEXT).rejected();
    assert_eq!(line, format!("jwe-mint: --key {empty}: empty; expected a JWK or JWK Set (JSON)"));
    // A key file whose only key is for signing, and a key no algorithm fits.
    let (signing, _) = keypair(&dir, "as", &["--alg", "ES256"]);
    let line = run(&["encrypt", "--key", &signing], PLAINTEXT).rejected();
    assert!(line.contains(&format!("--key {signing}")), "{line}");
    let odd = dir.write("odd.jwk", Jwk::symmetric(&[1; 20]).unwrap().to_private_json().as_bytes());
    let line = run(&["encrypt", "--key", &odd], PLAINTEXT).rejected();
    assert!(line.contains(&format!("--key {odd}")) && line.contains("--alg"), "{line}");
    // --out: an unwritable path is named.
    let bad_out = dir.path("no-such-dir/k.jwk");
    let line = run(&["keygen", "--alg", "A128KW", "--out", &bad_out], b"").rejected();
    assert!(line.contains(&bad_out), "{line}");
}

/// Over 16 recipients `decrypt` refuses the token with a message that is true for it: a fixed
/// bound on the work one token causes, with no option to lift it.
#[test]
fn decrypt_names_its_recipient_limit_truthfully() {
    let dir = TempDir::new("recipients");
    let keys: Vec<String> =
        (0..17).map(|i| keypair(&dir, &format!("k{i}"), &["--alg", "A128KW"]).0).collect();
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let sixteen = encrypt(&refs[..16], &["--json"], PLAINTEXT);
    assert_eq!(decrypt(&[&keys[15]], &[], &sixteen).ok().stdout, PLAINTEXT);
    let seventeen = encrypt(&refs, &["--json"], PLAINTEXT);
    let line = decrypt(&[&keys[0]], &[], &seventeen).rejected();
    assert_eq!(line, "jwe-mint: limit exceeded: 17 recipients, decrypt tries at most 16");
}

/// A token over the default 64 KiB: `encrypt` warns (exit 0), `decrypt` refuses it unless
/// `--max-token-size` allows it.
#[test]
fn large_tokens_warn_and_need_max_token_size() {
    let dir = TempDir::new("large");
    let (private, public) = keypair(&dir, "rs", &["--alg", "ECDH-ES+A256KW"]);
    let plaintext: Vec<u8> = (0..70 * 1024u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    let out = run(&["encrypt", "--key", &public], &plaintext).ok();
    let token = out.text();
    assert!(token.len() > 65536, "{}", token.len());
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(out.stderr.starts_with("jwe-mint: warning: "), "{}", out.stderr);
    assert!(out.stderr.contains(&format!("{} bytes", token.trim_end().len())), "{}", out.stderr);
    assert!(out.stderr.contains("65536") && out.stderr.contains("--max-token-size"), "{}", out.stderr);

    let line = decrypt(&[&private], &[], &token).rejected();
    assert!(line.contains("token larger than 65536 bytes"), "{line}");
    let opened = decrypt(&[&private], &["--max-token-size", "200000"], &token).ok();
    assert_eq!(opened.stdout, plaintext);
    assert!(opened.stderr.is_empty());
    // Exactly at the limit passes, one byte under it does not.
    let len = token.trim_end().len().to_string();
    decrypt(&[&private], &["--max-token-size", &len], &token).ok();
    let under = (token.trim_end().len() - 1).to_string();
    let line = decrypt(&[&private], &["--max-token-size", &under], &token).rejected();
    assert!(line.contains(&format!("token larger than {under} bytes")), "{line}");

    // A small token: no warning, and a lower limit applies to it too.
    let small = run(&["encrypt", "--key", &public], PLAINTEXT).ok();
    assert!(small.stderr.is_empty(), "{}", small.stderr);
    decrypt(&[&private], &["--max-token-size", "100"], &small.text()).rejected();
    for bad in ["0", "-1", "lots", ""] {
        run(&["decrypt", "--key", &private, "--max-token-size", bad], small.text().as_bytes()).usage_error();
    }
}

/// A key set with members jwe-mint cannot use (secp256k1, RSA < 2048 bits, an unknown `kty`):
/// one stderr line per skipped key, naming the file and the key, and the rest is used. A set with
/// nothing left is exit 1.
#[test]
fn unsupported_keys_in_a_set_are_skipped_with_one_line_each() {
    let dir = TempDir::new("skipped-keys");
    let (private, public) = keypair(&dir, "rs", &["--alg", "ECDH-ES+A256KW", "--kid", "good"]);
    let good_private: Value = serde_json::from_slice(&std::fs::read(&private).unwrap()).unwrap();
    let good_public: Value = serde_json::from_slice(&std::fs::read(&public).unwrap()).unwrap();
    let unusable = [
        serde_json::json!({"kty": "EC", "crv": "secp256k1", "kid": "k1",
            "x": "wFkWhh0hsXuvYAqYKAfAF8tRFnKA1IKkalPmjIGgcnE",
            "y": "rzHBQyeROjqVwxBH8nHdX4I6_Z2nMNrdqLnY6RTyyJw"}),
        serde_json::json!({"kty": "RSA", "kid": "rsa-1024", "e": "AQAB",
            "n": b64url(&[[0xc3].as_slice(), &[0x5a; 126], &[0x01]].concat())}),
        serde_json::json!({"kty": "PQC", "kid": "future"}),
    ];
    let with = |good: &Value| {
        let mut keys = unusable.to_vec();
        keys.insert(1, good.clone());
        serde_json::json!({ "keys": keys }).to_string()
    };
    let private_set = dir.write("private.jwks", with(&good_private).as_bytes());
    let public_set = dir.write("public.jwks", with(&good_public).as_bytes());
    // The good key sits at index 1, so the skipped ones are #0, #2, #3 (#0, #1, #2 without it).
    let expect_skips = |stderr: &str, source: &str, indices: [usize; 3]| {
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 3, "{stderr}");
        for (line, (index, kid)) in lines.iter().zip(indices.into_iter().zip(["k1", "rsa-1024", "future"])) {
            let start = format!("jwe-mint: warning: {source}: key #{index} (kid `{kid}`) skipped: ");
            assert!(line.starts_with(&start), "{line}");
        }
        assert!(lines[0].contains("secp256k1") && lines[1].contains("1024 bits") && lines[2].contains("PQC"));
    };

    let out = run(&["encrypt", "--key", &public_set], PLAINTEXT).ok();
    expect_skips(&out.stderr, &format!("--key {public_set}"), [0, 2, 3]);
    let token = out.text();
    assert_eq!(inspect(&token)["protected"]["kid"], "good");
    let out = decrypt(&[&private_set], &[], &token).ok();
    assert_eq!(out.stdout, PLAINTEXT);
    expect_skips(&out.stderr, &format!("--key {private_set}"), [0, 2, 3]);
    let out = run(&["public"], with(&good_private).as_bytes()).ok();
    expect_skips(&out.stderr, "stdin", [0, 2, 3]);
    let keys = out.json()["keys"].as_array().unwrap().clone();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["kid"], "good");
    assert!(keys[0].get("d").is_none());

    // Nothing usable left: the skipped keys are listed, then one error line, exit 1.
    let only_unusable = serde_json::json!({ "keys": unusable }).to_string();
    let none_left = dir.write("none-left.jwks", only_unusable.as_bytes());
    for (args, stdin, source) in [
        (vec!["public"], only_unusable.as_bytes(), "stdin".to_owned()),
        (vec!["public", "--jwks"], only_unusable.as_bytes(), "stdin".to_owned()),
        (vec!["encrypt", "--key", &none_left], PLAINTEXT, format!("--key {none_left}")),
        (vec!["decrypt", "--key", &none_left], token.as_bytes(), format!("--key {none_left}")),
    ] {
        let out = run(&args, stdin);
        assert_eq!(out.code, 1, "{args:?}: {}", out.stderr);
        assert!(out.stdout.is_empty());
        let (skips, last) = out.stderr.trim_end().rsplit_once('\n').unwrap();
        expect_skips(skips, &source, [0, 1, 2]);
        assert_eq!(last, format!("jwe-mint: {source}: every key was skipped; none is usable"));
    }
    // An empty set is not "everything skipped".
    assert_eq!(run(&["public"], b"{\"keys\":[]}").ok().json(), serde_json::json!({"keys": []}));
}

/// The acceptance check of RFC 7516 A.4 (general JSON, two recipients) and A.5 (flattened) with
/// the keys exactly as the RFC prints them: no `kid`, while the JWEs name one.
#[test]
fn rfc7516_a4_and_a5_decrypt_with_the_keys_as_printed() {
    let dir = TempDir::new("rfc7516");
    let vector = |name: &str| -> Value {
        let path = format!("{}/../test-vectors/rfc7516/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    };
    let key_file = |name: &str, jwk: &Value| {
        assert!(jwk.get("kid").is_none(), "{name}: the RFC prints the key without kid");
        dir.write(name, jwk.to_string().as_bytes())
    };
    let a4 = vector("A.4.json");
    let a4_token = a4["json_general"].to_string();
    let a4_plaintext = a4["plaintext"].as_str().unwrap().as_bytes();
    let recipients = a4["recipients"].as_array().unwrap();
    assert_eq!(
        (recipients[0]["alg"].as_str(), recipients[1]["alg"].as_str()),
        (Some("RSA1_5"), Some("A128KW"))
    );
    let rsa = key_file("a4-rsa1_5.jwk", &recipients[0]["jwk"]);
    let kw = key_file("a4-a128kw.jwk", &recipients[1]["jwk"]);

    // The A128KW recipient's key: default options, and with the RSA1_5 opt-in.
    assert_eq!(decrypt(&[&kw], &[], &a4_token).ok().stdout, a4_plaintext);
    assert_eq!(decrypt(&[&kw], &["--allow-legacy-rsa1_5"], &a4_token).ok().stdout, a4_plaintext);
    // The RSA1_5 recipient's key: needs the opt-in; then the plaintext, or under rust-crypto (no
    // RSA private-key operations) the provider's refusal.
    decrypt(&[&rsa], &[], &a4_token).rejected();
    let out = decrypt(&[&rsa], &["--allow-legacy-rsa1_5"], &a4_token);
    if RSA_DECRYPTS {
        assert_eq!(out.ok().stdout, a4_plaintext);
    } else {
        let line = out.rejected();
        assert!(line.starts_with("jwe-mint: refused by the rust-crypto crypto provider: "), "{line}");
    }

    let a5 = vector("A.5.json");
    let a5_key = key_file("a5.jwk", &a5["recipient_jwk"]);
    let a5_token = a5["json_flattened"].to_string();
    assert_eq!(decrypt(&[&a5_key], &[], &a5_token).ok().stdout, a5["plaintext"].as_str().unwrap().as_bytes());
}

/// A build without the network still lists the network commands and options, and refuses each
/// with a usage error (exit 2) that names the feature to turn on; nothing is fetched.
#[cfg(not(feature = "network"))]
#[test]
fn without_the_network_feature_network_commands_name_the_feature() {
    let dir = TempDir::new("no-network");
    let (rs_private, _) = keypair(&dir, "rs", &["--alg", "ECDH-ES+A128KW"]);
    let (as_private, as_public) = keypair(&dir, "as", &["--alg", "ES256"]);
    let registry = dir.write(
        "registry.json",
        br#"{"resources":[{"resource":"https://api.example.com","jwks_uri":"https://api.example.com/jwks","scopes_supported":["read"]}]}"#,
    );
    let secret = dir.write("secret", b"s3cret\n");
    let cases: Vec<Vec<&str>> = vec![
        vec![
            "gateway",
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            "http://127.0.0.1:1",
            "--resource",
            "https://api.example.com",
            "--key",
            &rs_private,
            "--issuer",
            "https://as.example.com",
            "--issuer-jwks",
            &as_public,
        ],
        vec![
            "forward-auth",
            "--listen",
            "127.0.0.1:0",
            "--resource",
            "https://api.example.com",
            "--key",
            &rs_private,
            "--issuer",
            "https://as.example.com",
            "--issuer-jwks",
            &as_public,
        ],
        vec![
            "fetch",
            "https://api.example.com/",
            "--issuer",
            "https://as.example.com",
            "--client-id",
            "app",
            "--client-secret-file",
            &secret,
        ],
        vec!["demo", "--http"],
        vec![
            "open",
            "--resource",
            "https://api.example.com",
            "--key",
            &rs_private,
            "--issuer",
            "https://as.example.com",
            "--issuer-jwks",
            "https://as.example.com/jwks",
        ],
        vec![
            "open",
            "--resource",
            "https://api.example.com",
            "--key",
            &rs_private,
            "--issuer",
            "https://as.example.com",
        ],
        vec![
            "mint",
            "--issuer",
            "https://as.example.com",
            "--signing-key",
            &as_private,
            "--registry",
            &registry,
            "--sub",
            "alice",
            "--client-id",
            "app",
            "--scope",
            "read",
            "--resource",
            "https://api.example.com",
        ],
    ];
    for args in cases {
        let out = run(&args, b"");
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains("the `network` feature"), "{args:?}: {}", out.stderr);
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}
