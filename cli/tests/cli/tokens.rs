//! The token subcommands of the `jwe-mint` binary (`mint`, `open`, `demo`), driven as a script
//! would (the contract in `cli/src/main.rs`): keys from `keygen`/`public`, a registry file,
//! RFC 6749 §5.1 token responses, claims, rejections and exit codes.

use crate::harness;

use harness::{run, run_stdout_closed, run_stdout_to, Out, TempDir};

use serde_json::{json, Value};

const AS: &str = "https://as.example.com";
const PHOTOS: &str = "https://photos.example.com";
const FRIENDS: &str = "https://friends.example.com";

/// An AS key, two RS keys and a registry, all made with the CLI.
struct World {
    dir: TempDir,
    as_key: String,
    as_jwks: String,
    photos_key: String,
    friends_key: String,
    registry: String,
}

fn keygen(dir: &TempDir, name: &str, args: &[&str]) -> (String, Value) {
    let path = dir.path(name);
    let mut all = vec!["keygen"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--out", &path]);
    run(&all, b"").ok();
    let private = std::fs::read(&path).unwrap();
    let public = run(&["public"], &private).ok().json();
    (path, public)
}

fn world(name: &str) -> World {
    let dir = TempDir::new(name);
    let (as_key, as_public) = keygen(&dir, "as.jwk", &["--alg", "ES256"]);
    let (photos_key, photos_public) = keygen(&dir, "photos.jwk", &["--alg", "ECDH-ES+A256KW"]);
    let (friends_key, friends_public) =
        keygen(&dir, "friends.jwk", &["--alg", "ECDH-ES+A256KW", "--crv", "X25519"]);
    assert!(as_public.get("d").is_none() && photos_public.get("d").is_none());
    let as_jwks = dir.write("as.jwks", json!({ "keys": [as_public] }).to_string().as_bytes());
    let registry = json!({ "resources": [
        { "resource": PHOTOS, "scopes_supported": ["photos.read", "photos.write"],
          "jwks": { "keys": [photos_public] } },
        { "resource": FRIENDS, "scopes_supported": ["friends.read"],
          "jwks": { "keys": [friends_public] } },
    ] });
    let registry = dir.write("registry.json", registry.to_string().as_bytes());
    World { dir, as_key, as_jwks, photos_key, friends_key, registry }
}

impl World {
    /// `mint` for alice / photo-app with `scope`, the given resources and extra options.
    fn mint(&self, scope: &str, resources: &[&str], extra: &[&str]) -> Out {
        run(&self.mint_args(scope, resources, extra), b"")
    }

    fn mint_args<'a>(&'a self, scope: &'a str, resources: &[&'a str], extra: &[&'a str]) -> Vec<&'a str> {
        let mut args = vec![
            "mint",
            "--issuer",
            AS,
            "--signing-key",
            &self.as_key,
            "--registry",
            &self.registry,
            "--sub",
            "alice",
            "--client-id",
            "photo-app",
            "--scope",
            scope,
        ];
        for r in resources {
            args.extend_from_slice(&["--resource", r]);
        }
        args.extend_from_slice(extra);
        args
    }

    fn open_with(&self, resource: &str, key: &str, issuer: &str, token: &str) -> Out {
        let stdin = format!("{token}\n");
        run(
            &[
                "open",
                "--resource",
                resource,
                "--key",
                key,
                "--issuer",
                issuer,
                "--issuer-jwks",
                &self.as_jwks,
            ],
            stdin.as_bytes(),
        )
    }

    fn open(&self, resource: &str, key: &str, token: &str) -> Out {
        self.open_with(resource, key, AS, token)
    }
}

const ALL_SCOPES: &str = "photos.read photos.write friends.read";

/// The `access_token` of the entry for `resource`.
fn token_for(response: &Value, resource: &str) -> String {
    response["access_tokens"].as_array().unwrap().iter().find(|e| e["resource"] == resource).unwrap()
        ["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn mint_two_resources_gives_one_token_each_with_its_scopes() {
    let w = world("mint-two");
    let response = w.mint(ALL_SCOPES, &[PHOTOS, FRIENDS], &[]).ok().json();
    let list = response["access_tokens"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["resource"], PHOTOS);
    assert_eq!(list[0]["scope"], "photos.read photos.write");
    assert_eq!(list[1]["resource"], FRIENDS);
    assert_eq!(list[1]["scope"], "friends.read");
    for entry in list {
        assert_eq!(entry["token_type"], "Bearer");
        assert_eq!(entry["expires_in"], 300);
        assert_eq!(entry["access_token"].as_str().unwrap().split('.').count(), 5, "compact JWE");
    }
    // RFC 6749 §5.1 fields at the top level: the first resource's token.
    assert_eq!(response["resource"], PHOTOS);
    assert_eq!(response["access_token"], list[0]["access_token"]);
    assert_ne!(list[0]["access_token"], list[1]["access_token"]);

    // Headers are readable without a key: kid, iss, aud replicated for routing.
    let header = run(&["inspect"], token_for(&response, FRIENDS).as_bytes()).ok().json();
    assert_eq!(header["protected"]["aud"], FRIENDS);
    assert_eq!(header["protected"]["iss"], AS);
    assert_eq!(header["protected"]["cty"], "JWT");
}

#[test]
fn mint_one_resource_is_a_plain_response_with_resource() {
    let w = world("mint-one");
    let response = w.mint(ALL_SCOPES, &[FRIENDS], &[]).ok().json();
    assert_eq!(response["resource"], FRIENDS);
    assert_eq!(response["scope"], "friends.read");
    assert!(response.get("access_tokens").is_none());
}

/// A token bound to a DPoP key opens (the command checks the token, not a request), and stderr
/// says that a resource server must also check the request's proof; a plain token gets no note.
#[test]
fn open_notes_that_a_bound_token_needs_a_proof_at_the_resource_server() {
    use jwe_mint::issuer::{Grant, Issuer};
    use jwe_mint::jwk::Jwk;
    use jwe_mint::registry::Registry;
    let w = world("open-bound");
    let as_key = Jwk::from_json(&std::fs::read_to_string(&w.as_key).unwrap()).unwrap();
    let registry = Registry::from_json(&std::fs::read_to_string(&w.registry).unwrap()).unwrap();
    let issuer = Issuer::builder(AS, &as_key)
        .registry(registry)
        .allow_client("photo-app", &[PHOTOS])
        .unwrap()
        .build()
        .unwrap();
    let jkt = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I";
    let grant =
        Grant::new("alice", "photo-app", "photos.read", &[PHOTOS]).unwrap().with_dpop_jkt(jkt).unwrap();
    let out = w.open(PHOTOS, &w.photos_key, &issuer.mint(&grant, PHOTOS).unwrap().access_token).ok();
    assert_eq!(out.json()["cnf"]["jkt"], jkt);
    assert!(out.stderr.contains(&format!("bound to a key (cnf.jkt {jkt})")), "{}", out.stderr);
    assert!(out.stderr.contains("RFC 9449 §7"), "{}", out.stderr);
    let plain = Grant::new("alice", "photo-app", "photos.read", &[PHOTOS]).unwrap();
    let out = w.open(PHOTOS, &w.photos_key, &issuer.mint(&plain, PHOTOS).unwrap().access_token).ok();
    assert_eq!(out.stderr, "", "no note for a bearer token");
}

#[test]
fn open_with_each_rs_key_prints_the_claims() {
    let w = world("open");
    let response = w.mint(ALL_SCOPES, &[PHOTOS, FRIENDS], &[]).ok().json();
    for (resource, key, scope) in
        [(PHOTOS, &w.photos_key, "photos.read photos.write"), (FRIENDS, &w.friends_key, "friends.read")]
    {
        let claims = w.open(resource, key, &token_for(&response, resource)).ok().json();
        assert_eq!(claims["sub"], "alice");
        assert_eq!(claims["client_id"], "photo-app");
        assert_eq!(claims["scope"], scope);
        assert_eq!(claims["aud"], resource);
        assert_eq!(claims["iss"], AS);
        assert!(claims["exp"].as_i64().unwrap() > claims["iat"].as_i64().unwrap());
    }
    // Without the trailing newline too.
    let token = token_for(&response, PHOTOS);
    let out = run(
        &["open", "--resource", PHOTOS, "--key", &w.photos_key, "--issuer", AS, "--issuer-jwks", &w.as_jwks],
        token.as_bytes(),
    );
    assert_eq!(out.ok().json()["sub"], "alice");
}

#[test]
fn each_rs_rejects_the_other_rs_token() {
    let w = world("cross");
    let response = w.mint(ALL_SCOPES, &[PHOTOS, FRIENDS], &[]).ok().json();
    let line = w.open(PHOTOS, &w.photos_key, &token_for(&response, FRIENDS)).failed();
    assert!(line.starts_with("jwe-mint: "), "{line}");
    let line = w.open(FRIENDS, &w.friends_key, &token_for(&response, PHOTOS)).failed();
    assert!(line.starts_with("jwe-mint: "), "{line}");
    // The right key but the wrong resource identifier: the audience check refuses it.
    let line = w.open(FRIENDS, &w.photos_key, &token_for(&response, PHOTOS)).failed();
    assert_eq!(line, "jwe-mint: invalid token: wrong audience");
}

#[test]
fn open_rejects_a_wrong_issuer() {
    let w = world("wrong-iss");
    let token =
        w.mint("photos.read", &[PHOTOS], &[]).ok().json()["access_token"].as_str().unwrap().to_owned();
    let line = w.open_with(PHOTOS, &w.photos_key, "https://evil.example.com", &token).failed();
    assert!(line.contains("wrong issuer"), "{line}");
}

#[test]
fn open_rejects_garbage_and_a_token_signed_by_another_as() {
    let w = world("garbage");
    for input in [&b""[..], b"not a token", b"a.b.c.d.e", b"{\"protected\":1}", &[0xff, 0xfe, b'.']] {
        let line = run(
            &[
                "open",
                "--resource",
                PHOTOS,
                "--key",
                &w.photos_key,
                "--issuer",
                AS,
                "--issuer-jwks",
                &w.as_jwks,
            ],
            input,
        )
        .failed();
        assert!(line.starts_with("jwe-mint: "), "{line}");
    }
    // A second AS that knows the photos RS's public key (and the real AS's kid) mints a token:
    // its signature does not verify.
    let as_jwks: Value = serde_json::from_slice(&std::fs::read(&w.as_jwks).unwrap()).unwrap();
    let real_kid = as_jwks["keys"][0]["kid"].as_str().unwrap().to_owned();
    // `--kid=…`: a thumbprint may start with `-`, which clap would read as an option.
    let (other_as, _) = keygen(&w.dir, "other-as.jwk", &["--alg", "ES256", &format!("--kid={real_kid}")]);
    let args = [
        "mint",
        "--issuer",
        AS,
        "--signing-key",
        &other_as,
        "--registry",
        &w.registry,
        "--sub",
        "mallory",
        "--client-id",
        "x",
        "--scope",
        "photos.write",
        "--resource",
        PHOTOS,
    ];
    let forged = run(&args, b"").ok().json()["access_token"].as_str().unwrap().to_owned();
    let line = w.open(PHOTOS, &w.photos_key, &forged).failed();
    assert_eq!(line, "jwe-mint: invalid signature");
}

#[test]
fn mint_unknown_resource_is_invalid_target() {
    let w = world("unknown");
    let line = w.mint(ALL_SCOPES, &[PHOTOS, "https://unknown.example.com"], &[]).failed();
    assert!(line.starts_with("invalid_target: "), "{line}");
    let line = w.mint(ALL_SCOPES, &["not a uri"], &[]).failed();
    assert!(line.starts_with("invalid_target: "), "{line}");
}

#[test]
fn mint_scope_that_does_not_apply_is_invalid_scope() {
    let w = world("scope");
    let line = w.mint("friends.read", &[PHOTOS], &[]).failed();
    assert!(line.starts_with("invalid_scope: "), "{line}");
    let line = w.mint("", &[PHOTOS], &[]).failed();
    assert!(line.starts_with("invalid_scope: "), "{line}");
}

#[test]
fn mint_ttl_shows_in_expires_in_and_exp() {
    let w = world("ttl");
    let response = w.mint(ALL_SCOPES, &[PHOTOS, FRIENDS], &["--ttl", "42"]).ok().json();
    assert_eq!(response["expires_in"], 42);
    for entry in response["access_tokens"].as_array().unwrap() {
        assert_eq!(entry["expires_in"], 42);
    }
    let claims = w.open(PHOTOS, &w.photos_key, &token_for(&response, PHOTOS)).ok().json();
    assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 42);
    // 0 and non-numbers are usage errors.
    assert_eq!(w.mint(ALL_SCOPES, &[PHOTOS], &["--ttl", "0"]).code, 2);
    assert_eq!(w.mint(ALL_SCOPES, &[PHOTOS], &["--ttl", "soon"]).code, 2);
}

#[test]
fn mint_multi_recipient_gives_one_general_json_jwe() {
    let w = world("multi");
    let response = w.mint(ALL_SCOPES, &[PHOTOS, FRIENDS], &["--multi-recipient"]).ok().json();
    assert_eq!(response["resource"], json!([PHOTOS, FRIENDS]));
    assert_eq!(response["scope"], ALL_SCOPES);
    assert!(response.get("access_tokens").is_none());
    let token = response["access_token"].as_str().unwrap();
    let jwe: Value = serde_json::from_str(token).expect("a JSON JWE");
    assert_eq!(jwe["recipients"].as_array().unwrap().len(), 2);
    // A default resource server refuses multi-recipient (JSON) tokens.
    let line = w.open(PHOTOS, &w.photos_key, token).failed();
    assert!(line.contains("compact") && line.contains("multi-audience"), "{line}");
}

#[test]
fn mint_refuses_bad_files_with_one_line() {
    let w = world("bad-files");
    let missing = w.dir.path("missing.json");
    let out = run(
        &[
            "mint",
            "--issuer",
            AS,
            "--signing-key",
            &w.as_key,
            "--registry",
            &missing,
            "--sub",
            "a",
            "--client-id",
            "c",
            "--scope",
            "s",
            "--resource",
            PHOTOS,
        ],
        b"",
    );
    assert!(out.failed().starts_with("jwe-mint: "));
    // A registry holding a private key, and an RS key used as the AS signing key.
    let bad_registry = w.dir.write("bad-registry.json", b"{\"resources\": 5}");
    for (key, registry) in [(&w.as_key, &bad_registry), (&w.photos_key, &w.registry)] {
        let out = run(
            &[
                "mint",
                "--issuer",
                AS,
                "--signing-key",
                key,
                "--registry",
                registry,
                "--sub",
                "a",
                "--client-id",
                "c",
                "--scope",
                "s",
                "--resource",
                PHOTOS,
            ],
            b"",
        );
        assert!(out.failed().starts_with("jwe-mint: "));
    }
}

#[test]
fn demo_runs_and_shows_both_resources_and_a_rejection() {
    let out = run(&["demo"], b"").ok();
    let text = out.text();
    assert!(text.contains(PHOTOS) && text.contains(FRIENDS), "{text}");
    assert!(text.contains("rejects"), "{text}");
    assert!(text.contains("== 1. Keys =="), "{text}");
    assert!(out.stderr.is_empty(), "{}", out.stderr);
}

#[test]
fn usage_errors_exit_2() {
    let w = world("usage");
    // No --resource.
    let out = w.mint(ALL_SCOPES, &[], &[]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("--resource"), "{}", out.stderr);
    // open without --key (without --issuer-jwks it discovers the AS keys: tests/cli_open_wire.rs);
    // demo with an argument.
    assert_eq!(
        run(&["open", "--resource", PHOTOS, "--issuer", AS, "--issuer-jwks", &w.as_jwks], b"").code,
        2
    );
    assert_eq!(run(&["demo", "--fast"], b"").code, 2);
    // The help lists the new subcommands.
    let help = run(&["--help"], b"").ok().text();
    for sub in ["mint", "open", "demo"] {
        assert!(help.contains(sub), "{help}");
    }
}

/// `mint`, `open` and `demo` with stdout closed (`>&-`) or full: exit 1, one line (the token or
/// claims are lost); `>/dev/null` is a choice and succeeds.
#[cfg(unix)]
#[test]
fn closed_or_full_stdout_is_exit_1() {
    let w = world("closed-stdout");
    let token =
        w.mint("photos.read", &[PHOTOS], &[]).ok().json()["access_token"].as_str().unwrap().to_owned();
    let mint = w.mint_args("photos.read", &[PHOTOS], &[]);
    let mint_multi = w.mint_args(ALL_SCOPES, &[PHOTOS, FRIENDS], &["--multi-recipient"]);
    let open =
        ["open", "--resource", PHOTOS, "--key", &w.photos_key, "--issuer", AS, "--issuer-jwks", &w.as_jwks];
    let cases: &[(&[&str], &[u8])] = &[(&mint, b""), (&mint_multi, b""), (&open, token.as_bytes())];
    for (args, stdin) in cases {
        let line = run_stdout_closed(args, stdin).failed();
        assert_eq!(line, "jwe-mint: cannot write stdout: it is closed", "{args:?}");
        let line = run_stdout_to(args, stdin, "/dev/full").failed();
        assert!(line.starts_with("jwe-mint: cannot write stdout: "), "{args:?}: {line}");
        run_stdout_to(args, stdin, "/dev/null").ok();
    }
}

/// Errors about `--signing-key`, `--registry`, `--key` and `--issuer-jwks` files name the option
/// and the file.
#[test]
fn errors_about_a_file_name_the_file() {
    let w = world("file-errors");
    let empty = w.dir.write("empty.json", b"");
    let not_json = w.dir.write("not-json.json", b"resources:\n  - photos\n");
    let missing = w.dir.path("missing.json");
    let token =
        w.mint("photos.read", &[PHOTOS], &[]).ok().json()["access_token"].as_str().unwrap().to_owned();
    let mint_with = |signing_key: &str, registry: &str| {
        let args = [
            "mint",
            "--issuer",
            AS,
            "--signing-key",
            signing_key,
            "--registry",
            registry,
            "--sub",
            "a",
            "--client-id",
            "c",
            "--scope",
            "photos.read",
            "--resource",
            PHOTOS,
        ];
        run(&args, b"")
    };
    let open_with = |key: &str, issuer_jwks: &str| {
        let args = ["open", "--resource", PHOTOS, "--key", key, "--issuer", AS, "--issuer-jwks", issuer_jwks];
        run(&args, token.as_bytes())
    };
    for file in [&empty, &not_json, &missing] {
        let line = mint_with(file, &w.registry).failed();
        assert!(line.contains(&format!("--signing-key {file}")), "{line}");
        let line = mint_with(&w.as_key, file).failed();
        assert!(line.contains(&format!("--registry {file}")), "{line}");
        let line = open_with(file, &w.as_jwks).failed();
        assert!(line.contains(&format!("--key {file}")), "{line}");
        let line = open_with(&w.photos_key, file).failed();
        assert!(line.contains(&format!("--issuer-jwks {file}")), "{line}");
    }
    let line = mint_with(&empty, &w.registry).failed();
    assert_eq!(line, format!("jwe-mint: --signing-key {empty}: empty; expected a JWK or JWK Set (JSON)"));
    // Files that parse but hold the wrong keys: an encryption key as the AS signing key, a public
    // key as the RS key, the AS private key as its public JWKS, a registry that is not one.
    let line = mint_with(&w.photos_key, &w.registry).failed();
    assert!(line.contains(&format!("--signing-key {}", w.photos_key)), "{line}");
    let bad_registry = w.dir.write("bad-registry.json", b"{\"resources\": 5}");
    let line = mint_with(&w.as_key, &bad_registry).failed();
    assert!(line.contains(&format!("--registry {bad_registry}")), "{line}");
    let line = open_with(&w.as_jwks, &w.as_jwks).failed();
    assert!(line.contains(&format!("--key {}", w.as_jwks)), "{line}");
    let line = open_with(&w.photos_key, &w.as_key).failed();
    assert!(line.contains(&format!("--issuer-jwks {}", w.as_key)), "{line}");
}

/// `mint --multi-recipient` tokens open only with `open --accept-multi-audience`, and the refusal
/// names that option.
#[test]
fn open_accepts_a_multi_audience_token_only_when_asked() {
    let w = world("multi-audience");
    let response = w.mint(ALL_SCOPES, &[PHOTOS, FRIENDS], &["--multi-recipient"]).ok().json();
    let token = response["access_token"].as_str().unwrap();
    for (resource, key) in [(PHOTOS, &w.photos_key), (FRIENDS, &w.friends_key)] {
        let line = w.open(resource, key, token).failed();
        assert!(line.contains("--accept-multi-audience"), "{line}");
        let args = [
            "open",
            "--resource",
            resource,
            "--key",
            key,
            "--issuer",
            AS,
            "--issuer-jwks",
            &w.as_jwks,
            "--accept-multi-audience",
        ];
        let claims = run(&args, token.as_bytes()).ok().json();
        assert_eq!(claims["aud"], json!([PHOTOS, FRIENDS]));
        assert_eq!(claims["sub"], "alice");
        // The opt-in does not widen the audience check: a third resource is still refused.
        let mut other = args;
        other[2] = "https://other.example.com";
        let line = run(&other, token.as_bytes()).failed();
        assert!(!line.contains("--accept-multi-audience"), "{line}");
    }
    // A single-audience token opens with the option too.
    let single =
        w.mint("photos.read", &[PHOTOS], &[]).ok().json()["access_token"].as_str().unwrap().to_owned();
    let args = [
        "open",
        "--resource",
        PHOTOS,
        "--key",
        &w.photos_key,
        "--issuer",
        AS,
        "--issuer-jwks",
        &w.as_jwks,
        "--accept-multi-audience",
    ];
    assert_eq!(run(&args, single.as_bytes()).ok().json()["aud"], PHOTOS);
}

/// `open --max-token-size`: the default 64 KiB refuses a larger token, the option admits it, and
/// a lower limit refuses an ordinary one.
#[test]
fn open_max_token_size() {
    let w = world("open-size");
    let long_subject = "s".repeat(40 * 1024);
    let args = [
        "mint",
        "--issuer",
        AS,
        "--signing-key",
        &w.as_key,
        "--registry",
        &w.registry,
        "--sub",
        &long_subject,
        "--client-id",
        "photo-app",
        "--scope",
        "photos.read",
        "--resource",
        PHOTOS,
    ];
    let big = run(&args, b"").ok().json()["access_token"].as_str().unwrap().to_owned();
    assert!(big.len() > 65536, "{}", big.len());
    let line = w.open(PHOTOS, &w.photos_key, &big).failed();
    assert!(line.contains("token larger than 65536 bytes"), "{line}");
    let open = |max: &str, token: &str| {
        let args = [
            "open",
            "--resource",
            PHOTOS,
            "--key",
            &w.photos_key,
            "--issuer",
            AS,
            "--issuer-jwks",
            &w.as_jwks,
            "--max-token-size",
            max,
        ];
        run(&args, format!("{token}\n").as_bytes())
    };
    assert_eq!(open("200000", &big).ok().json()["sub"], long_subject.as_str());
    let small =
        w.mint("photos.read", &[PHOTOS], &[]).ok().json()["access_token"].as_str().unwrap().to_owned();
    let line = open("100", &small).failed();
    assert!(line.contains("token larger than 100 bytes"), "{line}");
    assert_eq!(open("0", &small).code, 2);
}

/// `--issuer-jwks` and `--signing-key` sets holding a key jwe-mint cannot use: one stderr line
/// names the file and the key, and the rest is used.
#[test]
fn open_and_mint_skip_unsupported_keys_with_one_line() {
    let w = world("skipped");
    let secp256k1 = json!({"kty": "EC", "crv": "secp256k1", "kid": "k1",
        "x": "wFkWhh0hsXuvYAqYKAfAF8tRFnKA1IKkalPmjIGgcnE",
        "y": "rzHBQyeROjqVwxBH8nHdX4I6_Z2nMNrdqLnY6RTyyJw"});
    let as_private: Value = serde_json::from_slice(&std::fs::read(&w.as_key).unwrap()).unwrap();
    let signing_set =
        w.dir.write("as-set.jwks", json!({ "keys": [secp256k1.clone(), as_private] }).to_string().as_bytes());
    let mut as_jwks: Value = serde_json::from_slice(&std::fs::read(&w.as_jwks).unwrap()).unwrap();
    as_jwks["keys"].as_array_mut().unwrap().insert(0, secp256k1);
    let as_jwks = w.dir.write("as-with-k1.jwks", as_jwks.to_string().as_bytes());

    let args = [
        "mint",
        "--issuer",
        AS,
        "--signing-key",
        &signing_set,
        "--registry",
        &w.registry,
        "--sub",
        "alice",
        "--client-id",
        "photo-app",
        "--scope",
        "photos.read",
        "--resource",
        PHOTOS,
    ];
    let out = run(&args, b"").ok();
    assert_eq!(
        out.stderr,
        format!(
            "jwe-mint: warning: --signing-key {signing_set}: key #0 (kid `k1`) skipped: unsupported \
             curve `secp256k1`\n"
        )
    );
    let token = out.json()["access_token"].as_str().unwrap().to_owned();
    let args =
        ["open", "--resource", PHOTOS, "--key", &w.photos_key, "--issuer", AS, "--issuer-jwks", &as_jwks];
    let out = run(&args, token.as_bytes()).ok();
    assert_eq!(out.json()["sub"], "alice");
    assert_eq!(
        out.stderr,
        format!(
            "jwe-mint: warning: --issuer-jwks {as_jwks}: key #0 (kid `k1`) skipped: unsupported curve \
             `secp256k1`\n"
        )
    );
}

/// The demo's output is a story for a person, not a result: it runs to the end with stdout
/// closed, full or discarded (exit 0), as a supervisor or a script that discards it would run it.
#[cfg(unix)]
#[test]
fn the_demo_runs_with_stdout_closed_full_or_discarded() {
    run_stdout_closed(&["demo"], b"").ok();
    run_stdout_to(&["demo"], b"", "/dev/full").ok();
    run_stdout_to(&["demo"], b"", "/dev/null").ok();
}
