//! `jwe-mint demo --http`, the real binary: one AS and two RSs on loopback ports and a client doing
//! the seed flows over HTTP. The run is bounded here too (a hung demo fails the test instead of
//! hanging CI).
#![cfg(feature = "network")]

use crate::harness;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use harness::{run_stdout_closed, Out, BIN};

/// Well above the demo's own 30 s bound.
const LIMIT: Duration = Duration::from_secs(90);

fn run_bounded(args: &[&str]) -> Out {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Drain both pipes on threads so a chatty child cannot block on a full pipe.
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = stdout.read_to_end(&mut v);
        v
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("jwe-mint {args:?} did not finish within {LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Out {
        code: status.code().expect("exited normally, not by a signal"),
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

#[test]
fn demo_http_runs_every_step_over_loopback_and_exits_0() {
    let out = run_bounded(&["demo", "--http"]).ok();
    assert_eq!(out.stderr, "", "nothing on stderr");
    let text = out.text();
    for section in [
        "== 1. Keys and servers ==",
        "== 2. Discovery ==",
        "== 3. Token request (POST /token, client_secret_basic) ==",
        "== 4. Each RS opens its own token ==",
        "== 5. Each RS refuses the other's token ==",
        "== 6. AS-assigned shard ==",
        "== 7. Refresh for the second resource (RFC 8707 §2.2) ==",
        "== 8. Refusals at the token endpoint (RFC 6749 §5.2) ==",
        "== 9. DPoP: a token bound to the client's key (RFC 9449) ==",
        "== Done ==",
    ] {
        assert!(text.contains(section), "missing {section:?} in:\n{text}");
    }

    // Three servers on distinct ephemeral loopback ports, plain http stated as loopback-only.
    let origins: Vec<&str> = text
        .lines()
        .take(4)
        .filter_map(|l| l.split_whitespace().nth(1))
        .filter(|o| o.starts_with("http://127.0.0.1:"))
        .collect();
    assert_eq!(origins.len(), 3, "{text}");
    let (issuer, photos, friends) = (origins[0], origins[1], origins[2]);
    assert!(issuer != photos && photos != friends && issuer != friends);
    assert!(text.contains("plain http, which the wire code allows for loopback addresses only"));

    // Discovery both ways.
    assert!(text.contains(&format!("{issuer}/.well-known/oauth-authorization-server (RFC 8414)")));
    for rs in [photos, friends] {
        assert!(
            text.contains(&format!("AS fetched {rs}/.well-known/oauth-protected-resource (RFC 9728)")),
            "{rs}"
        );
    }
    assert!(text.contains("\"bearer_methods_supported\""));

    // One token each, each opened by its own RS only.
    assert!(text.contains("HTTP 200, Cache-Control: no-store"));
    assert!(text.contains(&format!("GET {photos}/photos with the photos token → 200 {{\"owner\":\"alice\"")));
    assert!(
        text.contains(&format!("GET {friends}/friends with the friends token → 200 {{\"owner\":\"alice\""))
    );
    assert!(text.contains(&format!("GET {photos}/photos with the friends token → 401")));
    assert!(text.contains(&format!("GET {friends}/friends with the photos token → 401")));
    assert_eq!(text.matches("error=\"invalid_token\"").count(), 2);
    assert!(text.contains(&format!(
        "GET {photos}/photos without a token → 401\n  WWW-Authenticate: Bearer scope=\"photos.read\", resource_metadata="
    )));

    // The AS picks bob's shard and says so; the client goes there.
    assert!(text.contains(&format!("the AS keeps bob's data on {friends} and says so in \"resource\"")));
    assert!(text.contains(&format!("GET {friends}/ → 200 {{\"sub\":\"bob\",\"client_id\":\"bob-app\"")));

    // The refresh for the second resource, then rotation.
    assert!(text.contains(&format!("GET {friends}/friends with the refreshed token → 200")));
    assert!(text.contains("the spent refresh token again → 400 \"invalid_grant\""));

    // Refusals.
    assert!(text.contains("wrong client secret → 401 \"invalid_client\", WWW-Authenticate: Basic"));
    assert!(text.contains("resource=https://evil.example → 400 \"unauthorized_client\""));
    assert!(text.contains("scope=admin → 400 \"invalid_scope\""));

    // DPoP: the token is bound to the key that proved itself at the token endpoint, and the RS
    // takes it only with a fresh proof by that key.
    let thumbprint = text
        .lines()
        .find_map(|l| l.strip_prefix("dpop-app, acting for carol, is registered with dpop_bound_access_tokens; its P-256 key's thumbprint is "))
        .expect("the DPoP key's thumbprint");
    assert_eq!(thumbprint.len(), 43, "a SHA-256 thumbprint in base64url: {thumbprint}");
    assert!(text.contains("token request without a DPoP proof → 400 \"invalid_dpop_proof\""));
    assert!(text.contains(
        "with a proof (htm POST, htu the token endpoint, signed by the key) → 200 token_type DPoP"
    ));
    assert!(text.contains(&format!(
        "GET {photos}/photos, Authorization: DPoP and a proof (htm, htu, ath = the token's hash) → 200 {{\"owner\":\"carol\",\"photos\":[\"beach.jpg\",\"mountain.jpg\"],\"dpop_jkt\":\"{thumbprint}\"}}"
    )));
    assert!(text.contains("the same proof again → 401  WWW-Authenticate: DPoP error=\"invalid_dpop_proof\""));
    assert!(text.contains("the token as a Bearer token (a thief without the key) → 401"));
    assert!(text.contains("a fresh proof signed by another key → 401"));
    assert!(text.contains("stopped the AS and both RSs (their ports now refuse connections)"));
    // Tokens are shortened for display, never printed whole.
    assert!(text.lines().all(|l| l.len() < 400), "a whole token was printed");
}

/// The demo's output is for a person: with stdout closed (reopened read-write on `/dev/null`, as
/// a supervisor's discarded stdout looks) it still runs the whole scenario over HTTP, exit 0.
#[cfg(unix)]
#[test]
fn demo_http_runs_with_stdout_closed() {
    run_stdout_closed(&["demo", "--http"], b"").ok();
}
