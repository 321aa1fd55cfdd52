//! The shape of the public API: typed errors (caller mistakes vs limits hit by input) and opt-ins
//! that each take effect on their own.
#![allow(clippy::unwrap_used, unreachable_pub)] // test code: a failed unwrap is a failed test

use jwe_mint::issuer::{Grant, Issuer};
use jwe_mint::jwa::{ContentEncryptionAlg as Enc, KeyManagementAlg as Alg, SigningAlg};
use jwe_mint::jwe::{self, DecryptPolicy, Encryptor};
use jwe_mint::jwk::{Curve, Jwk, JwkSet, KeyOperation, PublicKeyUse};
use jwe_mint::jws::{Header, Signer};
use jwe_mint::registry::{Registry, ResourceEntry};
use jwe_mint::resource_server::Validation;
use jwe_mint::{Error, Misuse};

fn misuse(r: Result<impl Sized, Error>, kind: Misuse) {
    match r {
        Err(Error::Misuse(m)) => assert_eq!(m, kind),
        Err(e) => panic!("expected Error::Misuse({kind:?}), got {e:?}"),
        Ok(_) => panic!("expected Error::Misuse({kind:?}), got Ok"),
    }
}

#[test]
fn caller_mistakes_are_misuse() {
    let a = Jwk::generate_symmetric(16).unwrap();
    let b = Jwk::generate_symmetric(16).unwrap();
    let two = Encryptor::new(Enc::A128Gcm).recipient(&a, Alg::A128Kw).recipient(&b, Alg::A128Kw);
    misuse(two.encrypt_compact(b"x"), Misuse::OneRecipientOnly("compact"));
    misuse(two.encrypt_flattened(b"x"), Misuse::OneRecipientOnly("flattened"));
    misuse(Encryptor::new(Enc::A128Gcm).encrypt_general(b"x"), Misuse::NoRecipient);
    let aad = Encryptor::new(Enc::A128Gcm).aad(b"a").recipient(&a, Alg::A128Kw);
    misuse(aad.encrypt_compact(b"x"), Misuse::UnprotectedInCompact);
    let reserved = Encryptor::new(Enc::A128Gcm).protected_param("epk", 1).recipient(&a, Alg::A128Kw);
    misuse(reserved.encrypt_compact(b"x"), Misuse::ReservedHeader("epk".into()));

    let mut extra = Header::new();
    extra.insert("alg".into(), "none".into());
    let as_key = Jwk::generate(Curve::P256).unwrap();
    misuse(Signer::new(&as_key, SigningAlg::Es256, extra), Misuse::ReservedHeader("alg".into()));

    let grant = Grant::new("alice", "app", "s", &["https://rs.example"]).unwrap();
    misuse(grant.with_claim("aud", "https://evil.example"), Misuse::ReservedClaim("aud".into()));
    misuse(Issuer::builder("not a uri", &as_key).build(), Misuse::NotAbsoluteUri("issuer"));
    misuse(Issuer::builder("https://as.example", &as_key).default_ttl(0).build(), Misuse::ZeroLifetime);

    // ECDH-ES (direct key agreement) cannot serve several recipients: a registry mistake.
    let entry = |r: &str, key: Jwk| {
        ResourceEntry::new(r, ["s"], JwkSet::new(vec![key.to_public().unwrap()])).unwrap()
    };
    let mut reg = Registry::default();
    reg.insert(entry("https://a.example", Jwk::generate(Curve::P256).unwrap())).unwrap();
    reg.insert(entry("https://b.example", Jwk::generate(Curve::P256).unwrap().with_alg("ECDH-ES"))).unwrap();
    let issuer = Issuer::builder("https://as.example", &as_key)
        .registry(reg)
        .allow_client("app", &["https://a.example", "https://b.example"])
        .unwrap()
        .build()
        .unwrap();
    let both = Grant::new("alice", "app", "s", &["https://a.example", "https://b.example"]).unwrap();
    misuse(issuer.mint_multi_recipient(&both), Misuse::SingleRecipientAlgorithm { alg: "ECDH-ES".into() });
}

#[test]
fn decrypt_policy_opt_ins_each_take_effect() {
    let d = DecryptPolicy::default();
    assert!(!d.allows_alg(Alg::Rsa1_5));
    assert!(!d.allows_alg(Alg::Pbes2Hs256A128Kw));
    assert_eq!(d.pbes2_max_iterations(), None);
    assert_eq!(d.max_decompressed_size(), None);
    // The one way to accept RSA1_5 accepts it (the old public field alone did nothing).
    assert!(d.clone().dangerous_allow_rsa1_5().allows_alg(Alg::Rsa1_5));
    let p = d.clone().allow_pbes2(1_000);
    assert!(p.allows_alg(Alg::Pbes2Hs512A256Kw));
    assert_eq!(p.pbes2_max_iterations(), Some(1_000));
    assert_eq!(d.clone().allow_zip(10).max_decompressed_size(), Some(10));
    // `only_algs` narrows; an opt-in still governs the algorithms it guards.
    let only = d.clone().only_algs(&[Alg::Rsa1_5, Alg::A128Kw]);
    assert!(only.allows_alg(Alg::A128Kw) && !only.allows_alg(Alg::Rsa1_5));
    assert!(only.dangerous_allow_rsa1_5().allows_alg(Alg::Rsa1_5));
    let limits = d
        .with_max_token_size(1)
        .with_max_header_size(2)
        .with_max_recipients(3)
        .with_max_decrypt_attempts(4)
        .require_protected_enc()
        .understand_crit("x")
        .understand_crit("x");
    assert_eq!(
        (
            limits.max_token_size(),
            limits.max_header_size(),
            limits.max_recipients(),
            limits.max_decrypt_attempts()
        ),
        (1, 2, 3, 4)
    );
    assert!(limits.requires_protected_enc());
    assert_eq!(limits.understood_crit(), ["x"]);
}

#[test]
fn protected_enc_requirement_is_a_rule_of_the_input() {
    let key = Jwk::generate_symmetric(16).unwrap();
    let json = Encryptor::new(Enc::A128Gcm).recipient(&key, Alg::A128Kw).encrypt_flattened(b"x").unwrap();
    // Move `enc` out of the protected header into the unprotected one.
    let mut doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    doc["protected"] = "".into();
    doc.as_object_mut().unwrap().remove("protected");
    doc["unprotected"] = serde_json::json!({ "enc": "A128GCM" });
    let moved = doc.to_string();
    let keys = JwkSet::new(vec![key]);
    let strict = DecryptPolicy::default().require_protected_enc();
    match jwe::decrypt(&moved, &keys, &strict) {
        Err(Error::Malformed(m)) => assert!(m.contains("`enc` must be integrity protected"), "{m}"),
        other => panic!("{:?}", other.map(|_| ())),
    }
    // Without the requirement the header checks pass (then the changed AAD fails the tag).
    assert_eq!(jwe::decrypt(&moved, &keys, &DecryptPolicy::default()).unwrap_err(), Error::DecryptionFailed);
}

#[test]
fn validation_is_configured_by_methods() {
    let v = Validation::default();
    assert_eq!(v.leeway(), jwe_mint::resource_server::DEFAULT_LEEWAY);
    assert!(!v.allows_subresources() && !v.accepts_unencrypted() && !v.accepts_multi_audience());
    let v = v
        .with_leeway(5)
        .only_signing_algs(&[SigningAlg::EdDsa])
        .allow_subresources()
        .dangerous_accept_unencrypted()
        .dangerous_accept_multi_audience();
    assert_eq!(v.leeway(), 5);
    assert_eq!(v.signing_algs(), [SigningAlg::EdDsa]);
    assert!(v.allows_subresources() && v.accepts_unencrypted() && v.accepts_multi_audience());
}

#[test]
fn jwk_use_and_key_ops_are_typed_and_round_trip() {
    let json =
        r#"{"kty":"oct","k":"GawgguFyGrWKav7AX4VKUg","use":"ENC","key_ops":["unwrapKey","frobnicate"]}"#;
    let k = Jwk::from_json(json).unwrap();
    assert_eq!(k.key_use(), Some(&PublicKeyUse::Other("ENC".into())));
    assert_eq!(k.key_ops().unwrap(), [KeyOperation::UnwrapKey, KeyOperation::Other("frobnicate".into())]);
    let again = k.to_private_value();
    assert_eq!(again["use"], "ENC");
    assert_eq!(again["key_ops"], serde_json::json!(["unwrapKey", "frobnicate"]));
    // RFC 7517 §4.3: duplicate operations are an invalid key.
    let dup = r#"{"kty":"oct","k":"GawgguFyGrWKav7AX4VKUg","key_ops":["decrypt","decrypt"]}"#;
    assert!(matches!(Jwk::from_json(dup), Err(Error::InvalidKey(m)) if m.contains("twice")));
    let built = Jwk::symmetric(&[1; 16]).unwrap().with_use(PublicKeyUse::Encryption).with_key_ops([
        KeyOperation::WrapKey,
        KeyOperation::UnwrapKey,
        KeyOperation::WrapKey,
    ]);
    assert_eq!(built.key_ops().unwrap(), [KeyOperation::WrapKey, KeyOperation::UnwrapKey]);
    assert_eq!(built.to_private_value()["use"], "enc");
}

/// A key refused for a JWE names the parameter that forbids it.
fn refusal(key: &Jwk) -> String {
    let token = Encryptor::new(Enc::A128Gcm)
        .recipient(&Jwk::symmetric(&[7; 16]).unwrap(), Alg::A128Kw)
        .encrypt_compact(b"x")
        .unwrap();
    match jwe::decrypt(&token, &JwkSet::new(vec![key.clone()]), &DecryptPolicy::default()) {
        Err(Error::NoMatchingKey(m)) => {
            // The encryptor refuses the same key for the same reason.
            let enc = Encryptor::new(Enc::A128Gcm).recipient(key, Alg::A128Kw).encrypt_compact(b"x");
            assert_eq!(enc.unwrap_err(), Error::NoMatchingKey(m.clone()));
            m
        }
        other => panic!("expected NoMatchingKey, got {:?}", other.map(|_| ())),
    }
}

#[test]
fn a_key_refused_for_encryption_names_the_real_reason() {
    let raw = Jwk::symmetric(&[7; 16]).unwrap();
    // `key_ops: ["sign"]` and no `use`: the reason is key_ops, not `use`.
    let m = refusal(&raw.clone().with_key_ops([KeyOperation::Sign]));
    assert!(m.contains("`key_ops` [sign] allow no encryption operation"), "{m}");
    assert!(!m.contains("`use`"), "{m}");
    // `use: sig`.
    let m = refusal(&raw.clone().with_use(PublicKeyUse::Signature));
    assert_eq!(m, "key `use` is `sig`, not `enc`");
    // Any other `use` value is never read as `enc` (nor as `sig`).
    for other in ["ENC", "enc ", "encryption", ""] {
        let m = refusal(&raw.clone().with_use(other));
        assert!(m.starts_with("key `use` is `") && m.ends_with("`, not `enc`"), "{other:?}: {m}");
    }
    // An unregistered operation permits nothing.
    let m = refusal(&raw.clone().with_key_ops([KeyOperation::Other("wrap".into())]));
    assert!(m.contains("[wrap]"), "{m}");
    // The same key with a fitting operation opens the token.
    let ok = raw.with_use(PublicKeyUse::Encryption).with_key_ops([KeyOperation::UnwrapKey]);
    let token = Encryptor::new(Enc::A128Gcm).recipient(&ok, Alg::A128Kw).encrypt_compact(b"x").unwrap();
    assert!(jwe::decrypt(&token, &JwkSet::new(vec![ok]), &DecryptPolicy::default()).is_ok());
}

#[test]
fn a_signing_key_refused_for_signatures_names_the_real_reason() {
    let key = Jwk::generate(Curve::P256).unwrap().with_key_ops([KeyOperation::Decrypt]);
    match Signer::new(&key, SigningAlg::Es256, Header::new()) {
        Err(Error::NoMatchingKey(m)) => assert_eq!(m, "key `key_ops` [decrypt] allow no signature operation"),
        other => panic!("{other:?}"),
    }
    let key = Jwk::generate(Curve::P256).unwrap().with_use("sig ");
    match Signer::new(&key, SigningAlg::Es256, Header::new()) {
        Err(Error::NoMatchingKey(m)) => assert_eq!(m, "key `use` is `sig `, not `sig`"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn registry_refuses_a_key_whose_use_is_neither_sig_nor_enc() {
    let public = Jwk::generate(Curve::P256).unwrap().to_public().unwrap();
    for (key, needle) in [
        (public.clone().with_use("Enc"), "key `use` is `Enc`, not `enc`"),
        (
            public.clone().with_key_ops([KeyOperation::Verify]),
            "key `key_ops` [verify] allow no encryption operation",
        ),
    ] {
        match ResourceEntry::new("https://rs.example", ["s"], JwkSet::new(vec![key])) {
            Err(Error::InvalidKey(m)) => assert!(m.ends_with(needle), "{m}"),
            other => panic!("{:?}", other.map(|_| ())),
        }
    }
}

/// The layering of ARCHITECTURE.md, checked on the sources: the provider (`src/crypto/`, its
/// PKCS#11 keys included) names no module above it, `jwk` does not import `jwa` (the algorithm
/// layer works on keys, never the reverse), the encodings import neither, and the OAuth layer
/// reaches the provider only through `crypto::random` / `crypto::sha256` / `crypto::hmac_sha256` /
/// `crypto::constant_time_eq`.
#[test]
fn layers_point_down_only() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let read = |rel: &str| std::fs::read_to_string(root.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
    let rs_files = |dir: &str| -> Vec<String> {
        let mut out: Vec<String> = std::fs::read_dir(root.join(dir))
            .unwrap_or_else(|e| panic!("{dir}: {e}"))
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".rs"))
            .map(|n| format!("{dir}/{n}"))
            .collect();
        out.sort();
        assert!(!out.is_empty(), "{dir} has no sources");
        out
    };
    let forbid = |files: &[String], needles: &[&str]| {
        for f in files {
            let text = code_only(&read(f));
            for n in needles {
                assert!(!text.contains(n), "{f} names `{n}`");
            }
        }
    };
    // The provider is the bottom layer: no file under `src/crypto/` (however deep) names a module
    // above it, by any path (`crate::jwk`, `crate::{jwk, …}`, `super::super::jwk`, `jwk::Jwk`).
    // Its one import from above is the crate's error type (`crate::error`, `crate::Error`), which
    // names no layer (the encodings' check below).
    let mut crypto: Vec<String> = Vec::new();
    let mut dirs = vec![String::from("crypto")];
    while let Some(dir) = dirs.pop() {
        for e in std::fs::read_dir(root.join(&dir)).unwrap_or_else(|e| panic!("{dir}: {e}")) {
            let e = e.unwrap();
            let rel = format!("{dir}/{}", e.file_name().into_string().unwrap());
            if e.file_type().unwrap().is_dir() {
                dirs.push(rel);
            } else if rel.ends_with(".rs") {
                crypto.push(rel);
            }
        }
    }
    assert!(crypto.iter().any(|f| f.starts_with("crypto/pkcs11/")), "{crypto:?}");
    let above = [
        "b64",
        "json",
        "jwk",
        "jwa",
        "jwe",
        "jws",
        "token",
        "registry",
        "dpop",
        "token_cache",
        "issuer",
        "resource_server",
        "wire",
    ];
    for f in &crypto {
        let code = code_only(&read(f));
        for n in above {
            assert!(!names_module(&code, n), "{f} names `{n}`, a layer above the provider");
        }
    }
    forbid(&rs_files("jwk"), &["crate::jwa", "super::jwa"]);
    let encodings: Vec<String> =
        ["error.rs", "json.rs", "b64.rs", "untrusted.rs", "tracing_targets.rs"].map(String::from).to_vec();
    forbid(&encodings, &["crate::jwa", "crate::jwk", "crate::jwe", "crate::crypto"]);
    let mut oauth: Vec<String> = ["issuer.rs", "token_cache.rs"].map(String::from).to_vec();
    oauth.extend(rs_files("registry"));
    oauth.extend(rs_files("token"));
    oauth.extend(rs_files("resource_server"));
    oauth.extend(rs_files("dpop"));
    forbid(&oauth, &["CryptoProvider", "Provider as", "P::"]);
    // The provider, not the algorithm layer, says why it refuses RSA decryption.
    forbid(&rs_files("jwa"), &["RUSTSEC"]);

    // Only the provider names a primitive crate (constant-time comparison included: the token
    // endpoint compares client secrets through `crypto::constant_time_eq`), and only the wire
    // names the async runtime or an HTTP stack. Checked on every file of the library.
    let primitive = [
        "aws_lc_rs",
        "p256",
        "p384",
        "p521",
        "x25519_dalek",
        "ed25519_dalek",
        "rsa",
        "aes_gcm",
        "aes_kw",
        "aes",
        "cbc",
        "hmac",
        "sha1",
        "sha2",
        "sha2_010",
        "pbkdf2",
        "concat_kdf",
        "rand",
        "rand_core",
        "subtle",
        "pkcs1",
        "cryptoki",
        "cryptoki_sys",
    ];
    let network = [
        "tokio",
        "hyper",
        "hyper_util",
        "hyper_rustls",
        "axum",
        "tower",
        "reqwest",
        "rustls",
        "http",
        "http_body_util",
        "httparse",
        "rustls_platform_verifier",
        "redis",
    ];
    let all = all_sources(&root, "");
    assert!(all.iter().any(|f| f.starts_with("wire/")) && all.iter().any(|f| f.starts_with("crypto/")));
    for f in &all {
        let code = code_only(&read(f));
        if !f.starts_with("crypto/") {
            for c in primitive {
                assert!(!names_crate(&code, c), "{f} names the primitive crate `{c}`");
            }
        }
        if !f.starts_with("wire/") {
            for c in network {
                assert!(!names_crate(&code, c), "{f} names `{c}`, which only the wire may");
            }
        }
    }
    // The wire is the top library layer: no source outside `src/wire/` names it (the crate root
    // only declares it), so the error type, the RS and the registry never see an HTTP type.
    let below_wire: Vec<&String> = all.iter().filter(|f| !f.starts_with("wire/") && *f != "lib.rs").collect();
    assert!(
        below_wire.iter().any(|f| *f == "error.rs")
            && below_wire.iter().any(|f| *f == "resource_server/mod.rs")
    );
    for f in below_wire {
        assert!(!names_module(&code_only(&read(f)), "wire"), "{f} names `wire`, the layer above it");
    }
}

/// Every `.rs` file under `root/dir`, as a path relative to `root`.
fn all_sources(root: &std::path::Path, dir: &str) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(root.join(dir)).unwrap_or_else(|e| panic!("{dir}: {e}")) {
        let e = e.unwrap();
        let name = e.file_name().into_string().unwrap();
        let rel = if dir.is_empty() { name } else { format!("{dir}/{name}") };
        if e.file_type().unwrap().is_dir() {
            out.extend(all_sources(root, &rel));
        } else if rel.ends_with(".rs") {
            out.push(rel);
        }
    }
    out.sort();
    out
}

/// Whether `code` names the external crate `name`: `name::…` as a path's first segment
/// (`use name::…`, `name::f()`), `::name::…`, or `extern crate name`.
fn names_crate(code: &str, name: &str) -> bool {
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let needle = format!("{name}::");
    let first_segment = code.match_indices(&needle).any(|(i, _)| {
        let before = &code[..i];
        !before.ends_with(|c: char| ident(c) || c == ':')
            || before.ends_with(" ::")
            || before.ends_with("(::")
    });
    first_segment || code.contains(&format!("extern crate {name}"))
}

/// The source without its comment lines (doc links may point anywhere).
fn code_only(text: &str) -> String {
    text.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n")
}

/// Whether `code` names the crate's module `name` by any path: `crate::name`, `super::name`
/// (from any depth), `jwe_mint::name`, `name::…` as a path's first segment (after a `use` of
/// it), or `name` inside a `crate::{…}` / `super::{…}` group, nested or over several lines.
fn names_module(code: &str, name: &str) -> bool {
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let ends_word = |rest: &str| !rest.starts_with(ident);
    let path = ["crate::", "super::", "jwe_mint::"].iter().any(|p| {
        let needle = format!("{p}{name}");
        code.match_indices(&needle).any(|(i, _)| ends_word(&code[i + needle.len()..]))
    });
    let first_segment = code
        .match_indices(&format!("{name}::"))
        .any(|(i, _)| !code[..i].ends_with(|c: char| ident(c) || c == ':'));
    let grouped = ["crate::{", "super::{"].iter().any(|p| {
        code.match_indices(p).any(|(i, _)| {
            let group = &code[i + p.len()..];
            let mut depth = 1;
            let end = group
                .char_indices()
                .find(|&(_, c)| {
                    depth += match c {
                        '{' => 1,
                        '}' => -1,
                        _ => 0,
                    };
                    depth == 0
                })
                .map_or(group.len(), |(j, _)| j);
            group[..end].split(|c: char| !ident(c)).any(|w| w == name)
        })
    });
    path || first_segment || grouped
}

#[test]
fn default_algorithms_and_key_lengths_live_in_the_library() {
    let km = |k: &Jwk| Alg::default_for(k);
    for (curve, want) in [
        (Curve::P256, Ok(Alg::EcdhEsA256Kw)),
        (Curve::P384, Ok(Alg::EcdhEsA256Kw)),
        (Curve::P521, Ok(Alg::EcdhEsA256Kw)),
        (Curve::X25519, Ok(Alg::EcdhEsA256Kw)),
        (Curve::Ed25519, Err(Error::NoMatchingKey("a OKP Ed25519 key cannot encrypt".into()))),
    ] {
        assert_eq!(km(&Jwk::generate(curve).unwrap()), want, "{curve}");
        assert_eq!(km(&Jwk::generate(curve).unwrap().to_public().unwrap()), want, "{curve} public");
    }
    assert_eq!(km(&Jwk::generate_rsa(2048).unwrap()), Ok(Alg::RsaOaep256));
    for (len, want) in [(16, Alg::A128Kw), (24, Alg::A192Kw), (32, Alg::A256Kw)] {
        assert_eq!(km(&Jwk::generate_symmetric(len).unwrap()), Ok(want));
    }
    assert_eq!(
        km(&Jwk::generate_symmetric(20).unwrap()),
        Err(Error::NoMatchingKey("no default algorithm for a 160-bit oct key".into()))
    );
    // The key's own `alg` wins; an oct key pinned to an `enc` is a `dir` key (RFC 7520 §5.6.1).
    let p256 = Jwk::generate(Curve::P256).unwrap();
    assert_eq!(km(&p256.clone().with_alg("ECDH-ES")), Ok(Alg::EcdhEs));
    assert_eq!(km(&Jwk::generate_symmetric(16).unwrap().with_alg("A128GCM")), Ok(Alg::Dir));
    assert!(
        matches!(km(&p256.clone().with_alg("ES256")), Err(Error::NoMatchingKey(m)) if m.contains("`ES256`"))
    );

    // AES key length per algorithm: exactly the algorithms whose JWK `k` is an AES key.
    for alg in Alg::ALL {
        let want = match alg.name() {
            "A128KW" | "A128GCMKW" => Some(16),
            "A192KW" | "A192GCMKW" => Some(24),
            "A256KW" | "A256GCMKW" => Some(32),
            _ => None,
        };
        assert_eq!(alg.aes_key_len(), want, "{alg}");
        // Each such key is accepted by the encryptor; one byte less is not.
        if let Some(len) = want {
            let ok = Jwk::generate_symmetric(len).unwrap();
            assert!(Encryptor::new(Enc::A128Gcm).recipient(&ok, *alg).encrypt_compact(b"x").is_ok(), "{alg}");
            let short = Jwk::generate_symmetric(len - 1).unwrap();
            assert!(
                Encryptor::new(Enc::A128Gcm).recipient(&short, *alg).encrypt_compact(b"x").is_err(),
                "{alg}"
            );
        }
    }

    // `dir`: the pinned `enc`, else the length's algorithm, AES-GCM first.
    for (len, want) in [
        (16, Some(Enc::A128Gcm)),
        (24, Some(Enc::A192Gcm)),
        (32, Some(Enc::A256Gcm)),
        (48, Some(Enc::A192CbcHs384)),
        (64, Some(Enc::A256CbcHs512)),
        (20, None),
    ] {
        assert_eq!(Enc::for_dir_key(&Jwk::generate_symmetric(len).unwrap()), want, "{len}");
    }
    let pinned = Jwk::generate_symmetric(32).unwrap().with_alg("A128CBC-HS256");
    assert_eq!(Enc::for_dir_key(&pinned), Some(Enc::A128CbcHs256));
    assert_eq!(Enc::for_dir_key(&p256), None);

    // Signing: the curve's algorithm, PS256 for RSA, the pinned `alg` first.
    for (curve, want) in [
        (Curve::P256, SigningAlg::Es256),
        (Curve::P384, SigningAlg::Es384),
        (Curve::P521, SigningAlg::Es512),
        (Curve::Ed25519, SigningAlg::EdDsa),
    ] {
        assert_eq!(SigningAlg::default_for(&Jwk::generate(curve).unwrap()), Ok(want));
        assert_eq!(want.curve(), Some(curve));
    }
    assert_eq!(SigningAlg::default_for(&Jwk::generate_rsa(2048).unwrap()), Ok(SigningAlg::Ps256));
    let rs256 = Jwk::generate_rsa(2048).unwrap().with_alg("RS256");
    assert_eq!(SigningAlg::default_for(&rs256), Ok(SigningAlg::Rs256));
    assert!(matches!(
        SigningAlg::default_for(&Jwk::generate(Curve::X25519).unwrap()),
        Err(Error::InvalidKey(_))
    ));
    assert!(SigningAlg::default_for(&Jwk::generate_symmetric(32).unwrap()).is_err());
}

/// The CLI asks the library for defaults and key lengths instead of keeping its own tables.
#[test]
fn the_cli_has_no_algorithm_tables_of_its_own() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("cli/src");
    for file in ["encrypt.rs", "keygen.rs", "mint.rs"] {
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        let tables = [
            "=> Km::A",
            "=> Km::Ecdh",
            "=> Km::Rsa",
            "=> Curve::",
            "=> SigningAlg::E",
            "Some(16)",
            "Some(32)",
            "16 =>",
            "32 =>",
        ];
        for table in tables {
            assert!(!text.contains(table), "{file} keeps a table (`{table}`)");
        }
    }
}

/// ARCHITECTURE.md stays a true map: every file or folder it names exists, and every folder of the
/// library's sources is on it.
#[test]
fn the_architecture_map_names_what_exists() {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let map = std::fs::read_to_string(repo.join("ARCHITECTURE.md")).unwrap();
    let mut names: Vec<&str> = map.split('`').skip(1).step_by(2).collect();
    names.retain(|n| {
        !n.contains(' ') && (n.ends_with(".rs") || n.ends_with('/')) && !n.contains("::") && !n.contains('*')
    });
    assert!(names.len() > 50, "{names:?}");
    let mut files = Vec::new();
    for dir in ["src", "cli/src", "tests", "cli/tests", "benches", "examples"] {
        files.extend(all_sources(&repo.join(dir), "").into_iter().map(|f| format!("/{dir}/{f}")));
    }
    for name in names {
        let found = if repo.join(name).exists() {
            true
        } else if name.starts_with("src/") || name.starts_with("cli/") {
            false
        } else {
            let needle = format!("/{name}");
            files.iter().any(|f| f.ends_with(&needle) || f.contains(&needle))
        };
        assert!(found, "ARCHITECTURE.md names `{name}`, which does not exist");
    }
    // Every folder of the library is on the map.
    let mut dirs = vec![repo.join("src")];
    while let Some(dir) = dirs.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                let rel = e.path().strip_prefix(repo.join("src")).unwrap().to_str().unwrap().to_owned();
                let last = rel.rsplit('/').next().unwrap();
                assert!(
                    map.contains(&format!("`src/{rel}/`")) || map.contains(&format!("`{last}/`")),
                    "ARCHITECTURE.md does not map src/{rel}/"
                );
                dirs.push(e.path());
            }
        }
    }
}
