//! The CLI with keys in a PKCS#11 token: `keygen --out pkcs11:…` generates inside the
//! token and prints the public JWK, `public --key URI` prints it again, `mint --signing-key URI`
//! and `open --key URI` use the token's keys. The PIN is only ever in a file.
//! Without the `pkcs11` feature a URI is a usage error saying which feature to enable.
#![cfg(feature = "pkcs11")]

#[cfg(feature = "pkcs11")]
use crate::softhsm;

use std::process::{Command, Stdio};

#[cfg(feature = "pkcs11")]
use serde_json::json;
use serde_json::Value;
#[cfg(feature = "pkcs11")]
use softhsm::{assert_no_pin, hsm};

#[cfg(not(feature = "pkcs11"))]
fn assert_no_pin(_: &str) {}

const AS: &str = "https://as.example.com";
const RS: &str = "https://api.example.com";

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(args: &[&str], stdin: &[u8]) -> Out {
    for a in args {
        assert_no_pin(a);
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_jwe-mint"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    let o = Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert_no_pin(&o.stdout);
    assert_no_pin(&o.stderr);
    o
}

fn ok(o: Out) -> Value {
    assert_eq!(o.code, 0, "{}", o.stderr);
    serde_json::from_str(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", o.stdout))
}

#[test]
fn public_key_flag_reads_a_file_like_stdin() {
    let dir = std::env::temp_dir().join(format!("jwe-mint-public-key-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let private = run(&["keygen", "--alg", "ES256"], b"");
    assert_eq!(private.code, 0, "{}", private.stderr);
    let file = dir.join("k.jwk");
    std::fs::write(&file, &private.stdout).unwrap();
    let from_file = ok(run(&["public", "--key", file.to_str().unwrap()], b""));
    let from_stdin = ok(run(&["public"], private.stdout.as_bytes()));
    assert_eq!(from_file, from_stdin);
    assert!(from_file.get("d").is_none());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
#[cfg(not(feature = "pkcs11"))]
fn without_the_feature_a_uri_is_a_usage_error() {
    let uri = "pkcs11:token=t;object=k?pin-source=file:/nonexistent";
    for args in [
        vec!["public", "--key", uri],
        vec!["keygen", "--alg", "ES256", "--out", uri],
        vec!["open", "--resource", RS, "--key", uri, "--issuer", AS, "--issuer-jwks", uri],
    ] {
        let o = run(&args, b"");
        assert_eq!(o.code, 2, "{args:?}: {}", o.stderr);
        assert!(o.stderr.contains("--features pkcs11"), "{args:?}: {}", o.stderr);
    }
}

#[test]
#[cfg(feature = "pkcs11")]
fn keygen_public_mint_and_open_with_token_keys() {
    let Some(h) = hsm() else { return };
    let as_uri = h.uri("cli", "as");
    let rs_uri = h.uri("cli", "rs");

    let as_public = ok(run(&["keygen", "--alg", "ES256", "--out", &as_uri], b""));
    assert_eq!(as_public["kty"], "EC");
    assert_eq!(as_public["alg"], "ES256");
    assert_eq!(as_public["use"], "sig");
    assert!(as_public.get("d").is_none(), "{as_public}");
    let again = ok(run(&["public", "--key", &as_uri], b""));
    assert_eq!(again["kid"], as_public["kid"]);
    assert_eq!((&again["x"], &again["y"]), (&as_public["x"], &as_public["y"]));

    let rs_public = ok(run(&["keygen", "--alg", "ECDH-ES+A256KW", "--crv", "P-384", "--out", &rs_uri], b""));
    assert_eq!(rs_public["crv"], "P-384");
    assert_eq!(rs_public["use"], "enc");
    // Both private halves stay in the token: sensitive, never extractable.
    let view = h.view("cli");
    assert_eq!(view.private_keys.len(), 2, "{:?}", view.private_keys);
    for (label, sensitive, extractable, never_extractable) in &view.private_keys {
        assert!(*sensitive && !*extractable && *never_extractable, "{label}: {sensitive} {extractable}");
    }

    // A second keygen to the same object is refused, the existing key is kept.
    let dup = run(&["keygen", "--alg", "ES256", "--out", &as_uri], b"");
    assert_eq!(dup.code, 1, "{}", dup.stderr);
    assert!(dup.stderr.contains("already exists"), "{}", dup.stderr);
    // Keys a token does not make here are a usage error.
    assert_eq!(run(&["keygen", "--alg", "A256KW", "--out", &h.uri("cli", "aes")], b"").code, 2);
    assert_eq!(
        run(&["keygen", "--alg", "ECDH-ES", "--crv", "X25519", "--out", &h.uri("cli", "x")], b"").code,
        2
    );

    let dir = h.dir.join("cli");
    std::fs::create_dir_all(&dir).unwrap();
    let registry = dir.join("registry.json");
    std::fs::write(
        &registry,
        json!({ "resources": [ { "resource": RS, "scopes_supported": ["read"], "jwks": { "keys": [rs_public] } } ] })
            .to_string(),
    )
    .unwrap();
    let as_jwks = dir.join("as.jwks");
    std::fs::write(&as_jwks, json!({ "keys": [as_public] }).to_string()).unwrap();

    let response = ok(run(
        &[
            "mint",
            "--issuer",
            AS,
            "--signing-key",
            &as_uri,
            "--registry",
            registry.to_str().unwrap(),
            "--sub",
            "alice",
            "--client-id",
            "app",
            "--scope",
            "read",
            "--resource",
            RS,
        ],
        b"",
    ));
    let token = response["access_token"].as_str().unwrap().to_owned();
    let claims = ok(run(
        &[
            "open",
            "--resource",
            RS,
            "--key",
            &rs_uri,
            "--issuer",
            AS,
            "--issuer-jwks",
            as_jwks.to_str().unwrap(),
        ],
        token.as_bytes(),
    ));
    assert_eq!(claims["sub"], "alice", "{claims}");

    // A wrong PIN file: exit 1, the URI named, no PIN anywhere.
    let wrong = dir.join("wrong.pin");
    std::fs::write(&wrong, "wrong-pin-999\n").unwrap();
    let bad = run(&["public", "--key", &h.uri_with_pin_file("wrongpin", "as", &wrong)], b"");
    assert_eq!(bad.code, 1, "{}", bad.stderr);
    assert!(bad.stderr.contains("--key") && bad.stderr.contains("PIN incorrect"), "{}", bad.stderr);
    assert!(!bad.stderr.contains("wrong-pin-999"), "{}", bad.stderr);
}

/// `decrypt --key URI` of an `RSA1_5` JWE: refused without `--allow-legacy-rsa1_5` as for a key
/// file, and with it refused for the token key (CKM_RSA_PKCS would report bad padding).
#[test]
#[cfg(feature = "pkcs11")]
#[allow(deprecated)] // josekit marks RSA1_5 deprecated
fn decrypt_rsa1_5_with_a_token_key_is_refused() {
    let Some(h) = hsm() else { return };
    // Its own token: SoftHSM processes writing one token at once can miss it.
    let uri = h.uri("cli-legacy", "rsa15");
    let mut public = ok(run(&["keygen", "--alg", "RSA-OAEP", "--out", &uri], b""));
    public.as_object_mut().unwrap().remove("alg");
    let jwk = josekit::jwk::Jwk::from_bytes(public.to_string().as_bytes()).unwrap();
    let mut header = josekit::jwe::JweHeader::new();
    header.set_content_encryption("A128GCM");
    let encrypter = josekit::jwe::RSA1_5.encrypter_from_jwk(&jwk).unwrap();
    let jwe = josekit::jwe::serialize_compact(b"legacy", &header, &encrypter).unwrap();

    let refused = run(&["decrypt", "--key", &uri], jwe.as_bytes());
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(refused.stderr.contains("RSA1_5"), "{}", refused.stderr);
    let legacy = run(&["decrypt", "--key", &uri, "--allow-legacy-rsa1_5"], jwe.as_bytes());
    assert_eq!(legacy.code, 1, "{}", legacy.stderr);
    assert!(legacy.stderr.contains("RSA1_5 is not supported with a PKCS#11 key"), "{}", legacy.stderr);
    assert!(legacy.stdout.is_empty());
}
