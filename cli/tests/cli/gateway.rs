//! The real `jwe-mint gateway` process on 127.0.0.1: signals, memory while large bodies stream,
//! the AS keys from a URL while it runs, an https upstream, and its one-line errors.
#![cfg(feature = "network")]

use crate::servers;

use std::io::BufRead as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jwe_mint::issuer::{Grant, Issuer};
use jwe_mint::jwk::{Curve, Jwk, JwkSet};
use jwe_mint::registry::{Registry, ResourceEntry};
use servers::{public_set, Pki, Reply, TestServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::gateway_world::*;

// ---------------------------------------------------------------------------------------------
// The real binary: signals and memory.

struct Binary {
    child: Child,
    addr: SocketAddr,
    stderr: Arc<Mutex<String>>,
    /// The stderr pipe when the test keeps it open without reading it.
    undrained: Option<std::process::ChildStderr>,
    /// The metrics listener's address, with `--metrics-listen`.
    metrics: Option<SocketAddr>,
    dir: PathBuf,
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Binary {
    /// `jwe-mint gateway` for RESOURCE with `rs_keys` in its key file, trusting `world`'s AS from
    /// a key file, forwarding to `upstream`.
    fn start(world: &World, rs_keys: &[&Jwk], upstream: SocketAddr, extra: &[&str]) -> Binary {
        Binary::start_to(world, rs_keys, &format!("http://{upstream}"), extra)
    }

    /// The same, forwarding to the `upstream` URL.
    fn start_to(world: &World, rs_keys: &[&Jwk], upstream: &str, extra: &[&str]) -> Binary {
        let dir = temp_dir("bin");
        let as_file = as_key_file(world, &dir);
        Binary::start_in(dir, rs_keys, upstream, &["--issuer-jwks", &as_file], extra)
    }

    /// The same, with the AS keys fetched from `jwks_url` over HTTPS, trusting `pki`'s CA only
    /// through `--ca-file`.
    fn start_remote(rs_keys: &[&Jwk], upstream: SocketAddr, jwks_url: &str, pki: &Pki) -> Binary {
        let dir = temp_dir("bin");
        let ca = dir.join("ca.pem");
        std::fs::write(&ca, &pki.ca_pem).unwrap();
        let ca = ca.display().to_string();
        let upstream = format!("http://{upstream}");
        Binary::start_in(dir, rs_keys, &upstream, &["--issuer-jwks", jwks_url, "--ca-file", &ca], &[])
    }

    fn start_in(
        dir: PathBuf,
        rs_keys: &[&Jwk],
        upstream: &str,
        issuer_keys: &[&str],
        extra: &[&str],
    ) -> Binary {
        Binary::spawn(dir, rs_keys, upstream, issuer_keys, extra, true)
    }

    /// As `start`, with stderr a pipe that nobody reads until the process has ended.
    fn start_undrained(world: &World, rs_keys: &[&Jwk], upstream: SocketAddr, extra: &[&str]) -> Binary {
        let dir = temp_dir("bin");
        let as_file = as_key_file(world, &dir);
        let upstream = format!("http://{upstream}");
        Binary::spawn(dir, rs_keys, &upstream, &["--issuer-jwks", &as_file], extra, false)
    }

    /// What an undrained stderr holds once the process is killed.
    fn kill_and_read_undrained(&mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let mut text = String::new();
        if let Some(mut pipe) = self.undrained.take() {
            std::io::Read::read_to_string(&mut pipe, &mut text).unwrap();
        }
        text
    }

    fn spawn(
        dir: PathBuf,
        rs_keys: &[&Jwk],
        upstream: &str,
        issuer_keys: &[&str],
        extra: &[&str],
        drain_stderr: bool,
    ) -> Binary {
        write_keys(&dir.join("rs.json"), rs_keys);
        let mut child = Command::new(env!("CARGO_BIN_EXE_jwe-mint"))
            .arg("gateway")
            .args(["--listen", "127.0.0.1:0", "--upstream", upstream, "--resource", RESOURCE])
            .arg("--key")
            .arg(dir.join("rs.json"))
            .args(["--issuer", ISSUER])
            .args(issuer_keys)
            .args(extra)
            // Two workers whatever the machine: a task that blocks a worker shows the same way
            // everywhere.
            .env("TOKIO_WORKER_THREADS", "2")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let err = child.stderr.take().unwrap();
        let (stderr, undrained) =
            if drain_stderr { (crate::harness::drain(err), None) } else { (Arc::default(), Some(err)) };
        let mut line = String::new();
        let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        stdout.read_line(&mut line).unwrap();
        let mut metrics = None;
        if extra.contains(&"--metrics-listen") {
            let mut line = String::new();
            stdout.read_line(&mut line).unwrap();
            let at = line
                .trim()
                .strip_prefix("jwe-mint gateway: metrics on http://")
                .unwrap_or_else(|| panic!("{line:?}"));
            metrics = Some(at.strip_suffix("/metrics").unwrap().parse().unwrap());
        }
        let addr = line
            .trim()
            .strip_prefix("jwe-mint gateway: listening on http://")
            .unwrap_or_else(|| panic!("no listening line: {line:?}, stderr: {}", stderr.lock().unwrap()))
            .parse()
            .unwrap();
        Binary { child, addr, stderr, undrained, metrics, dir }
    }

    fn signal(&self, name: &str) {
        let ok =
            Command::new("kill").args([&format!("-{name}"), &self.child.id().to_string()]).status().unwrap();
        assert!(ok.success());
    }

    fn key_file(&self) -> PathBuf {
        self.dir.join("rs.json")
    }

    /// Peak resident memory (VmHWM) in KiB.
    fn peak_rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }
}

/// `world`'s AS public keys in `dir/as.json`; its path.
fn as_key_file(world: &World, dir: &Path) -> String {
    let as_file = dir.join("as.json");
    std::fs::write(&as_file, world.issuer.verification_keys().to_json().unwrap()).unwrap();
    as_file.display().to_string()
}

/// The largest peak RSS the gateway process may reach while 64 MiB stream through it each way.
const RSS_LIMIT_KIB: u64 = 32 * 1024;

#[tokio::test]
async fn a_large_body_streams_both_ways_in_bounded_memory() {
    bounded(async {
        let world = World::new();
        let (up, up_addr) = Upstream::start().await;
        let gw = Binary::start(&world, &[&world.rs_key], up_addr, &[]);
        let token = world.mint();
        const TOTAL: usize = 64 * 1024 * 1024;
        let stream = TcpStream::connect(gw.addr).await.unwrap();
        let (mut reader, mut writer) = stream.into_split();
        let head = format!(
            "POST /echo HTTP/1.1\r\nHost: api.example.com\r\nAuthorization: Bearer {token}\r\nContent-Length: {TOTAL}\r\n\r\n"
        );
        let upload = tokio::spawn(async move {
            writer.write_all(head.as_bytes()).await.unwrap();
            let chunk = vec![0x5au8; 64 * 1024];
            for _ in 0..TOTAL / chunk.len() {
                writer.write_all(&chunk).await.unwrap();
            }
            writer
        });
        // The echo comes back while the upload is still going: read it concurrently.
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            assert_eq!(reader.read(&mut byte).await.unwrap(), 1);
            head.push(byte[0]);
        }
        let head = String::from_utf8(head).unwrap();
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        let mut received = 0usize;
        let mut buf = vec![0u8; 256 * 1024];
        while received < TOTAL {
            let n = reader.read(&mut buf).await.unwrap();
            assert!(n > 0, "closed after {received} bytes");
            assert!(buf[..n].iter().all(|&b| b == 0x5a));
            received += n;
        }
        upload.await.unwrap();
        assert_eq!(received, TOTAL);
        assert_eq!(up.seen()[0].one("content-length"), Some(TOTAL.to_string().as_str()));
        let peak = gw.peak_rss_kib();
        eprintln!("gateway peak RSS with 64 MiB each way: {peak} KiB (limit {RSS_LIMIT_KIB} KiB)");
        assert!(peak < RSS_LIMIT_KIB, "peak RSS {peak} KiB: the body was buffered");
    })
    .await;
}

#[tokio::test]
async fn sigterm_lets_the_request_in_flight_finish_and_refuses_new_connections() {
    bounded(async {
        let world = World::new();
        let (up, up_addr) = Upstream::start().await;
        let mut gw = Binary::start(&world, &[&world.rs_key], up_addr, &[]);
        let token = world.mint();
        let addr = gw.addr;
        let in_flight = tokio::spawn(async move { send(addr, &get("/slow", Some(&token), "")).await });
        eventually("the slow request reached the upstream", async || up.started.load(Ordering::SeqCst) == 1)
            .await;
        gw.signal("TERM");
        eventually("new connections are refused", async || TcpStream::connect(addr).await.is_err()).await;
        assert!(!in_flight.is_finished(), "the slow request should still be in flight");
        let answer = in_flight.await.unwrap();
        assert_eq!((answer.status, answer.body.as_slice()), (200, &b"ok"[..]));
        let deadline = Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(status) = gw.child.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "the gateway did not exit");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert!(status.success(), "{status:?}: {}", gw.stderr());
    })
    .await;
}

#[tokio::test]
async fn sighup_and_file_changes_reload_the_rs_keys_and_a_broken_file_keeps_them() {
    bounded(async {
        let old = Jwk::generate(Curve::P256).unwrap();
        let new = Jwk::generate(Curve::P256).unwrap();
        let old_world = World::with_rs_keys(&[&old]);
        let new_world = World {
            issuer: reissue(&old_world, &new),
            as_key: old_world.as_key.clone(),
            rs_key: new.clone(),
        };
        let (_up, up_addr) = Upstream::start().await;
        let (old_token, new_token) = (old_world.mint(), new_world.mint());

        // SIGHUP alone (polling off).
        let gw = Binary::start(&old_world, &[&old], up_addr, &["--key-poll-ms", "0"]);
        let mut conn = TcpStream::connect(gw.addr).await.unwrap();
        assert_eq!(exchange(&mut conn, &get("/", Some(&old_token), "")).await.status, 200);
        write_keys(&gw.key_file(), &[&new]);
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(
            exchange(&mut conn, &get("/", Some(&new_token), "")).await.status,
            401,
            "reloaded without SIGHUP"
        );
        gw.signal("HUP");
        eventually("SIGHUP loads the new key", async || {
            send(gw.addr, &get("/", Some(&new_token), "")).await.status == 200
        })
        .await;
        assert_eq!(
            exchange(&mut conn, &get("/", Some(&old_token), "")).await.status,
            401,
            "the removed key still opens"
        );
        // A broken file and SIGHUP: the keys stay, the reason is logged.
        write_text(&gw.key_file(), "{ not a key");
        gw.signal("HUP");
        eventually("the refusal is logged", async || gw.stderr().contains("key file refused")).await;
        assert_eq!(
            exchange(&mut conn, &get("/", Some(&new_token), "")).await.status,
            200,
            "kept-alive connection"
        );
        drop(gw);

        // On change (default polling, no signal).
        let gw = Binary::start(&old_world, &[&old], up_addr, &[]);
        let mut conn = TcpStream::connect(gw.addr).await.unwrap();
        assert_eq!(exchange(&mut conn, &get("/", Some(&old_token), "")).await.status, 200);
        write_keys(&gw.key_file(), &[&new]);
        eventually("the changed file is loaded", async || {
            send(gw.addr, &get("/", Some(&new_token), "")).await.status == 200
        })
        .await;
        assert_eq!(exchange(&mut conn, &get("/", Some(&old_token), "")).await.status, 401);
        write_text(&gw.key_file(), "");
        eventually("the refusal is logged", async || gw.stderr().contains("key file refused")).await;
        assert_eq!(exchange(&mut conn, &get("/", Some(&new_token), "")).await.status, 200);
    })
    .await;
}

/// A FIFO nobody writes in place of `--key`, through file polls and SIGHUP: every request is
/// still answered at once with the keys in use (the reads wait on the key file's own thread, never
/// on the runtime); a good file back in place is loaded.
#[test]
fn a_fifo_in_place_of_the_key_file_and_sighup_never_stop_serving() {
    const WITHIN: Duration = Duration::from_secs(2);
    let old = Jwk::generate(Curve::P256).unwrap();
    let new = Jwk::generate(Curve::P256).unwrap();
    let old_world = World::with_rs_keys(&[&old]);
    let new_world =
        World { issuer: reissue(&old_world, &new), as_key: old_world.as_key.clone(), rs_key: new.clone() };
    let (old_token, new_token) = (old_world.mint(), new_world.mint());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (_up, up_addr) = runtime.block_on(Upstream::start());
    let gw = Binary::start(&old_world, &[&old], up_addr, &["--key-poll-ms", "50"]);
    assert_eq!(ask_within(gw.addr, "/", Some(&old_token), WITHIN).0, 200);

    fifo_in_place_of(&gw.key_file());
    let serves_with_the_old_key = || {
        let until = Instant::now() + Duration::from_millis(500);
        while Instant::now() < until {
            assert_eq!(ask_within(gw.addr, "/", Some(&old_token), WITHIN).0, 200);
            assert_eq!(ask_within(gw.addr, "/", Some(&new_token), WITHIN).0, 401);
            assert_eq!(ask_within(gw.addr, "/.well-known/oauth-protected-resource", None, WITHIN).0, 200);
            assert_eq!(published_x(gw.addr, WITHIN), [public_x(&old)]);
        }
    };
    serves_with_the_old_key();
    gw.signal("HUP");
    serves_with_the_old_key();
    gw.signal("HUP");
    serves_with_the_old_key();
    let deadline = Instant::now() + LIMIT;
    while !gw.stderr().contains("a FIFO is not a key file") {
        assert!(Instant::now() < deadline, "the refusal is never logged: {}", gw.stderr());
        std::thread::sleep(Duration::from_millis(20));
    }

    std::fs::remove_file(gw.key_file()).unwrap();
    write_keys(&gw.key_file(), &[&new]);
    gw.signal("HUP");
    let deadline = Instant::now() + LIMIT;
    while ask_within(gw.addr, "/", Some(&new_token), WITHIN).0 != 200 {
        assert!(Instant::now() < deadline, "the new key file is never loaded: {}", gw.stderr());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(ask_within(gw.addr, "/", Some(&old_token), WITHIN).0, 401);
    assert_eq!(published_x(gw.addr, WITHIN), [public_x(&new)]);
}

// ---------------------------------------------------------------------------------------------
// The AS keys from a URL while the gateway runs (the real binary, `--issuer-jwks https://…` and
// `--ca-file`): rotation, and the JWK Set server going down.

/// An issuer with RESOURCE registered to `rs_key`, signing with `as_key` (its `kid` = thumbprint).
fn issuer_signing_with(as_key: &Jwk, rs_key: &Jwk) -> Issuer {
    let mut registry = Registry::default();
    let public = JwkSet::new(vec![rs_key.to_public().unwrap()]);
    registry.insert(ResourceEntry::new(RESOURCE, ["photos.read"], public).unwrap()).unwrap();
    Issuer::builder(ISSUER, as_key)
        .registry(registry)
        .allow_client(CLIENT, &[RESOURCE])
        .unwrap()
        .build()
        .unwrap()
}

fn mint_with(issuer: &Issuer) -> String {
    let grant = Grant::new("alice", CLIENT, "photos.read", &[RESOURCE]).unwrap();
    issuer.mint(&grant, RESOURCE).unwrap().access_token
}

/// The AS's JWK Set over HTTPS at `/jwks.json`: whatever `set` holds when asked.
async fn jwks_server(pki: &Pki, set: &Arc<Mutex<String>>) -> TestServer {
    let set = Arc::clone(set);
    TestServer::https(pki, move |path| match path {
        "/jwks.json" => Reply::json(set.lock().unwrap().clone()),
        _ => Reply::status(404),
    })
    .await
}

// Multi-threaded: the JWK Set server answers while `Binary::start_remote` blocks on the
// binary's first line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_as_keys_rotate_while_the_gateway_runs() {
    bounded(async {
        let rs_key = Jwk::generate(Curve::P256).unwrap();
        let (key1, key2) = (Jwk::generate(Curve::P256).unwrap(), Jwk::generate(Curve::P256).unwrap());
        let (as1, as2) = (issuer_signing_with(&key1, &rs_key), issuer_signing_with(&key2, &rs_key));
        let pki = Pki::new();
        let set = Arc::new(Mutex::new(public_set(&[&key1])));
        let jwks = jwks_server(&pki, &set).await;
        let (up, up_addr) = Upstream::start().await;
        let gw = Binary::start_remote(&[&rs_key], up_addr, &jwks.url("/jwks.json"), &pki);
        assert_eq!(jwks.requests(), 1, "fetched once at start");

        let old_token = mint_with(&as1);
        assert_eq!(send(gw.addr, &get("/", Some(&old_token), "")).await.status, 200);
        assert_eq!(jwks.requests(), 1);

        // The AS rotates: it publishes key 2 only (a new kid) and signs with it.
        *set.lock().unwrap() = public_set(&[&key2]);
        let a = send(gw.addr, &get("/", Some(&mint_with(&as2)), "")).await;
        assert_eq!(a.status, 200, "the new kid is fetched on its first token: {a:?} {}", gw.stderr());
        assert_eq!(jwks.requests(), 2, "one refetch for the new kid");
        for _ in 0..5 {
            assert_eq!(send(gw.addr, &get("/", Some(&mint_with(&as2)), "")).await.status, 200);
        }
        // Key 1 is gone from the set: its token (cached before) no longer opens.
        let a = send(gw.addr, &get("/", Some(&old_token), "")).await;
        assert_eq!(a.status, 401, "{a:?}");
        assert!(a.header("www-authenticate").unwrap().contains("error=\"invalid_token\""));
        // Unknown kids (attacker-chosen) within the cooldown fetch nothing more.
        for _ in 0..5 {
            let stranger = issuer_signing_with(&Jwk::generate(Curve::P256).unwrap(), &rs_key);
            assert_eq!(send(gw.addr, &get("/", Some(&mint_with(&stranger)), "")).await.status, 401);
        }
        assert_eq!(jwks.requests(), 2, "kid refetches are rate limited");
        assert_eq!(up.started.load(Ordering::SeqCst), 7);
    })
    .await;
}

// Multi-threaded: the JWK Set server answers while `Binary::start_remote` blocks on the
// binary's first line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_as_keys_keep_serving_while_the_jwks_server_is_down() {
    bounded(async {
        let rs_key = Jwk::generate(Curve::P256).unwrap();
        let key1 = Jwk::generate(Curve::P256).unwrap();
        let as1 = issuer_signing_with(&key1, &rs_key);
        let pki = Pki::new();
        let set = Arc::new(Mutex::new(public_set(&[&key1])));
        let jwks = jwks_server(&pki, &set).await;
        let (up, up_addr) = Upstream::start().await;
        let gw = Binary::start_remote(&[&rs_key], up_addr, &jwks.url("/jwks.json"), &pki);
        assert_eq!(send(gw.addr, &get("/", Some(&mint_with(&as1)), "")).await.status, 200);
        assert_eq!(jwks.requests(), 1);
        jwks.stop().await;

        // New tokens (not in the token cache) signed with the cached key keep passing.
        for _ in 0..3 {
            assert_eq!(send(gw.addr, &get("/", Some(&mint_with(&as1)), "")).await.status, 200);
        }
        // A token with an unknown kid: the refetch fails at once, the token is refused as
        // invalid (the keys in hand are current), neither 5xx nor a hang.
        for _ in 0..2 {
            let stranger = issuer_signing_with(&Jwk::generate(Curve::P256).unwrap(), &rs_key);
            let started = Instant::now();
            let a = send(gw.addr, &get("/", Some(&mint_with(&stranger)), "")).await;
            assert_eq!(a.status, 401, "{a:?} {}", gw.stderr());
            assert!(a.header("www-authenticate").unwrap().contains("error=\"invalid_token\""), "{a:?}");
            assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
        }
        // And the cached key still serves after the failed refetch.
        assert_eq!(send(gw.addr, &get("/", Some(&mint_with(&as1)), "")).await.status, 200);
        assert_eq!(up.started.load(Ordering::SeqCst), 5);
    })
    .await;
}

#[tokio::test]
async fn the_binary_forwards_to_an_https_upstream_with_upstream_ca_file() {
    bounded(async {
        let world = World::new();
        let pki = Pki::new();
        let (up, up_addr) = Upstream::start_tls(pki.server_config()).await;
        let ca = temp_dir("ca").join("ca.pem");
        std::fs::write(&ca, &pki.ca_pem).unwrap();
        let ca = ca.display().to_string();
        let url = format!("https://{up_addr}");
        let gw =
            Binary::start_to(&world, &[&world.rs_key], &url, &["--upstream-ca-file", &ca, "--forward-token"]);
        let token = world.mint();
        let a = send(gw.addr, &post_body("/upload", &token, "from the binary")).await;
        assert_eq!((a.status, a.body.as_slice()), (200, &b"ok"[..]), "{a:?}: {}", gw.stderr());
        let seen = &up.seen()[0];
        assert_eq!(seen.one("x-auth-subject"), Some("alice"));
        assert_eq!(seen.body_len, "from the binary".len());
        assert_eq!(seen.one("authorization"), Some(format!("Bearer {token}").as_str()));
        drop(gw);
        // Without the CA the same upstream is 502, logged under the gateway's target without the token.
        let gw = Binary::start_to(&world, &[&world.rs_key], &url, &[]);
        assert_eq!(send(gw.addr, &get("/", Some(&token), "")).await.status, 502);
        assert_eq!(send(gw.addr, &get("/", Some(&token), "")).await.status, 502);
        eventually("the upstream failure is logged", async || {
            gw.stderr().contains("upstream request failed")
        })
        .await;
        let log = gw.stderr();
        assert!(log.contains("jwe_mint::gateway") && log.contains("certificate"), "{log}");
        assert!(!log.contains(&token), "{log}");
        assert_eq!(up.seen().len(), 1);
    })
    .await;
}

#[test]
fn a_broken_upstream_ca_file_is_one_clear_error_line() {
    let world = World::new();
    let dir = temp_dir("badca");
    let as_file = as_key_file(&world, &dir);
    write_keys(&dir.join("rs.json"), &[&world.rs_key]);
    let bad = dir.join("bad.pem");
    std::fs::write(&bad, "-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n")
        .unwrap();
    let run = |upstream: &str, ca: &Path| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_jwe-mint"))
            .args(["gateway", "--listen", "127.0.0.1:0", "--upstream", upstream, "--resource", RESOURCE])
            .arg("--key")
            .arg(dir.join("rs.json"))
            .args(["--issuer", ISSUER, "--issuer-jwks", &as_file])
            .arg("--upstream-ca-file")
            .arg(ca)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // It must exit by itself, before listening.
        let deadline = Instant::now() + LIMIT;
        while child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("the gateway did not exit");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        child.wait_with_output().unwrap()
    };
    let out = run("https://127.0.0.1:9", &bad);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(out.stdout.is_empty(), "{}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("jwe-mint: --upstream-ca-file: CA file ") && stderr.contains("bad.pem"),
        "{stderr}"
    );
    let out = run("https://127.0.0.1:9", &dir.join("missing.pem"));
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    // A CA file for a plain http upstream is an inconsistent option: usage error.
    let out = run("http://127.0.0.1:9", &bad);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A supervisor that discards stdout opens `/dev/null` read-write (Python's
/// `subprocess.DEVNULL`, many init systems): the gateway serves all the same, with stderr on a
/// pipe, and still stops cleanly on SIGTERM.
#[tokio::test]
async fn the_gateway_serves_with_stdout_on_a_read_write_dev_null() {
    bounded(async {
        let world = World::new();
        let (_up, up_addr) = Upstream::start().await;
        let token = world.mint();
        let upstream = format!("http://{up_addr}");
        serves_with_stdout_on_dev_null(
            &world,
            &["gateway", "--upstream", &upstream],
            &get("/", Some(&token), ""),
        )
        .await;
        // forward-auth too: nginx's subrequest for the original request.
        let subrequest = get("/_auth", Some(&token), "X-Original-Method: GET\r\nX-Original-URI: /photos\r\n");
        serves_with_stdout_on_dev_null(&world, &["forward-auth"], &subrequest).await;
    })
    .await;
}

/// `jwe-mint <command…>` with stdout on a read-write `/dev/null` answers `request` 200, and exits
/// 0 on SIGTERM.
async fn serves_with_stdout_on_dev_null(world: &World, command: &[&str], request: &str) {
    let dir = temp_dir("devnull");
    write_keys(&dir.join("rs.json"), &[&world.rs_key]);
    let as_file = as_key_file(world, &dir);
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let devnull = std::fs::OpenOptions::new().read(true).write(true).open("/dev/null").unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_jwe-mint"))
        .args(command)
        .args(["--listen", &addr.to_string()])
        .args(["--resource", RESOURCE, "--issuer", ISSUER, "--issuer-jwks", &as_file])
        .arg("--key")
        .arg(dir.join("rs.json"))
        .stdin(Stdio::null())
        .stdout(Stdio::from(devnull))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let answer = loop {
        if TcpStream::connect(addr).await.is_ok() {
            break send(addr, request).await;
        }
        assert!(child.try_wait().unwrap().is_none(), "{command:?} exited: {:?}", child.wait_with_output());
        assert!(Instant::now() < deadline, "{command:?} never listened");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(answer.status, 200, "{command:?}");
    let ok = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(ok.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "{command:?} did not exit");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{command:?}: {status:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------------------------------
// Logging: a stderr nobody reads never stops a request; one access-log line per request.

#[tokio::test]
async fn a_stderr_pipe_nobody_reads_never_stops_a_request() {
    bounded(async {
        let world = World::new();
        let (up, up_addr) = Upstream::start().await;
        let mut gw = Binary::start_undrained(&world, &[&world.rs_key], up_addr, &["--cache", "10"]);
        let token = world.mint();
        // 3,000 access-log lines of 200+ bytes: far more than a pipe holds (64 KiB), and more than
        // the log queue.
        const REQUESTS: usize = 3000;
        const CONNECTIONS: usize = 4;
        let mut clients = Vec::new();
        for c in 0..CONNECTIONS {
            let (addr, token) = (gw.addr, token.clone());
            clients.push(tokio::spawn(async move {
                let mut conn = TcpStream::connect(addr).await.unwrap();
                for i in 0..REQUESTS / CONNECTIONS {
                    let request = get(&format!("/c{c}/r{i}"), Some(&token), "");
                    let answer = tokio::time::timeout(Duration::from_secs(5), exchange(&mut conn, &request))
                        .await
                        .unwrap_or_else(|_| panic!("request {i} on connection {c} stalled"));
                    assert_eq!(answer.status, 200, "request {i} on connection {c}");
                }
            }));
        }
        for client in clients {
            client.await.unwrap();
        }
        assert_eq!(up.seen().len(), REQUESTS);
        // Still serving, the documents it answers itself included.
        let metadata = tokio::time::timeout(
            Duration::from_secs(5),
            send(gw.addr, &get("/.well-known/oauth-protected-resource", None, "")),
        )
        .await
        .expect("the metadata request stalled");
        assert_eq!(metadata.status, 200);
        // The lines that did get through are access-log lines.
        let log = gw.kill_and_read_undrained();
        assert!(log.len() > 32 * 1024, "the pipe was never filled: {} bytes", log.len());
        let first = log.lines().next().unwrap_or_default();
        assert!(first.contains("jwe_mint::access") && first.contains("outcome=\"forwarded\""), "{first}");
        assert!(!log.contains(&token), "the token reached the log");
    })
    .await;
}

/// The JSON access-log lines on `gw`'s stderr, once `count` of them have arrived.
async fn access_lines(gw: &Binary, count: usize) -> Vec<serde_json::Value> {
    let parse = || -> Vec<serde_json::Value> {
        gw.stderr()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
            .filter(|v| v["target"] == "jwe_mint::access")
            .collect()
    };
    eventually("the access-log lines arrive", async || parse().len() >= count).await;
    parse()
}

#[tokio::test]
async fn the_json_access_log_has_one_line_per_request_with_its_outcome_and_never_the_token() {
    bounded(async {
        let world = World::new();
        let (_up, up_addr) = Upstream::start().await;
        let gw = Binary::start(
            &world,
            &[&world.rs_key],
            up_addr,
            &["--log-format", "json", "--require-scope", "photos.read"],
        );
        let good = world.mint();
        let unscoped = world.mint_for(RESOURCE, "admin");
        let foreign = world.mint_for(OTHER, "photos.read");
        let requests: [(String, u16); 6] = [
            (get("/photos/1?size=large", Some(&good), ""), 200),
            (get("/photos/2", None, ""), 401),
            (get("/photos/3", Some(&foreign), ""), 401),
            (get("/photos/4", Some(&unscoped), ""), 403),
            (get("/photos/5?access_token=query-secret", Some(&good), ""), 400),
            (get("/.well-known/oauth-protected-resource", None, ""), 200),
        ];
        for (request, status) in &requests {
            assert_eq!(send(gw.addr, request).await.status, *status, "{request}");
        }
        let lines = access_lines(&gw, requests.len()).await;
        assert_eq!(lines.len(), requests.len(), "{lines:#?}");
        let expect = [
            ("/photos/1", 200, "forwarded", Some("alice")),
            ("/photos/2", 401, "no_token", None),
            ("/photos/3", 401, "invalid_token", None),
            ("/photos/4", 403, "insufficient_scope", Some("alice")),
            ("/photos/5", 400, "bad_request", None),
            ("/.well-known/oauth-protected-resource", 200, "served", None),
        ];
        for (line, (path, status, outcome, subject)) in lines.iter().zip(expect) {
            assert_eq!(line["method"], "GET", "{line}");
            assert_eq!(line["path"], path, "the query is never logged: {line}");
            assert_eq!(line["status"], status, "{line}");
            assert_eq!(line["outcome"], outcome, "{line}");
            assert_eq!(line["subject"].as_str(), subject, "{line}");
            assert_eq!(line["client_id"].as_str(), subject.map(|_| CLIENT), "{line}");
            assert!(line["latency_us"].as_u64().is_some(), "{line}");
            assert_eq!(line["peer"], "127.0.0.1", "{line}");
        }
        // The reason says why, for the operator (the client only gets `invalid_token`).
        assert!(lines[2]["reason"].as_str().is_some_and(|r| r.contains("key")), "{}", lines[2]);
        assert!(lines[4]["reason"].as_str().is_some_and(|r| r.contains("more than once")), "{}", lines[4]);
        assert!(lines[0]["upstream_us"].as_u64().is_some(), "{}", lines[0]);
        // One line per request: the per-token audit events are off.
        let log = gw.stderr();
        assert!(!log.contains("jwe_mint::audit"), "{log}");
        for secret in [good.as_str(), unscoped.as_str(), foreign.as_str(), "query-secret"] {
            assert!(!log.contains(secret), "a credential reached the log");
        }
    })
    .await;
}

#[tokio::test]
async fn an_unreachable_upstream_is_logged_as_upstream_error_and_the_level_filters_lines() {
    bounded(async {
        let world = World::new();
        // A port nobody listens on.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let gw = Binary::start(&world, &[&world.rs_key], closed, &["--log-format", "json"]);
        assert_eq!(send(gw.addr, &get("/x", Some(&world.mint()), "")).await.status, 502);
        let lines = access_lines(&gw, 1).await;
        assert_eq!(lines[0]["outcome"], "upstream_error", "{}", lines[0]);
        assert_eq!(lines[0]["subject"], "alice", "{}", lines[0]);
        assert!(lines[0]["reason"].as_str().is_some_and(|r| r.contains("upstream")), "{}", lines[0]);
        drop(gw);

        // `--log-level warn`: no access lines (info), the upstream failure (warn) still.
        let gw =
            Binary::start(&world, &[&world.rs_key], closed, &["--log-format", "json", "--log-level", "warn"]);
        assert_eq!(send(gw.addr, &get("/x", Some(&world.mint()), "")).await.status, 502);
        eventually("the upstream failure is logged", async || {
            gw.stderr().contains("upstream request failed")
        })
        .await;
        assert!(!gw.stderr().contains("jwe_mint::access"), "{}", gw.stderr());
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// Metrics and health, on their own listener.

/// `GET path` on the metrics listener: status and body.
async fn scrape(gw: &Binary, path: &str) -> (u16, String) {
    let answer = send(gw.metrics.unwrap(), &format!("GET {path} HTTP/1.1\r\nHost: metrics\r\n\r\n")).await;
    (answer.status, String::from_utf8(answer.body).unwrap())
}

/// The value of the sample named exactly `series` (name and labels) in a Prometheus text page.
fn sample(page: &str, series: &str) -> Option<f64> {
    page.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test]
async fn the_metrics_count_exactly_what_was_sent_and_promtool_accepts_them() {
    bounded(async {
        let world = World::new();
        let (_up, up_addr) = Upstream::start().await;
        let gw = Binary::start(
            &world,
            &[&world.rs_key],
            up_addr,
            &["--metrics-listen", "127.0.0.1:0", "--require-scope", "photos.read"],
        );
        assert_ne!(gw.metrics.unwrap().port(), gw.addr.port());
        let (good, unscoped, foreign) =
            (world.mint(), world.mint_for(RESOURCE, "admin"), world.mint_for(OTHER, "photos.read"));
        let sent: Vec<(String, u16)> = vec![
            (get("/a", Some(&good), ""), 200),
            (get("/b", Some(&good), ""), 200),
            (get("/c", Some(&good), ""), 200),
            (get("/d", None, ""), 401),
            (get("/e", None, ""), 401),
            (get("/f", Some(&foreign), ""), 401),
            (get("/g", Some(&unscoped), ""), 403),
            (get("/h?access_token=x", Some(&good), ""), 400),
            (get("/.well-known/oauth-protected-resource", None, ""), 200),
        ];
        for (request, status) in &sent {
            assert_eq!(send(gw.addr, request).await.status, *status, "{request}");
        }
        // The metrics are not on the proxied port.
        assert_eq!(send(gw.addr, &get("/metrics", None, "")).await.status, 401);
        let (status, page) = scrape(&gw, "/metrics").await;
        assert_eq!(status, 200);
        let expected = [
            ("forwarded", 3.0),
            ("no_token", 3.0),
            ("invalid_token", 1.0),
            ("insufficient_scope", 1.0),
            ("bad_request", 1.0),
            ("served", 1.0),
        ];
        for (outcome, n) in expected {
            let series = format!("jwe_mint_gateway_requests_total{{outcome=\"{outcome}\"}}");
            assert_eq!(sample(&page, &series), Some(n), "{series} in\n{page}");
        }
        let count = |part: &str| {
            sample(&page, &format!("jwe_mint_gateway_request_duration_seconds_count{{part=\"{part}\"}}"))
        };
        assert_eq!((count("gateway"), count("upstream")), (Some(10.0), Some(3.0)), "{page}");
        // The first good token and each other token that was opened took the full path.
        assert_eq!(sample(&page, "jwe_mint_token_cache_hits_total"), Some(2.0), "{page}");
        assert_eq!(sample(&page, "jwe_mint_token_cache_misses_total"), Some(3.0), "{page}");
        assert_eq!(sample(&page, "jwe_mint_log_lines_dropped_total"), Some(0.0), "{page}");
        let connections = async || {
            let page = scrape(&gw, "/metrics").await.1;
            sample(&page, "jwe_mint_gateway_connections") == Some(0.0)
        };
        eventually("closed connections are no longer counted", connections).await;
        let mut conn = TcpStream::connect(gw.addr).await.unwrap();
        assert_eq!(exchange(&mut conn, &get("/i", Some(&good), "")).await.status, 200);
        let page = scrape(&gw, "/metrics").await.1;
        assert_eq!(sample(&page, "jwe_mint_gateway_connections"), Some(1.0), "{page}");
        drop(conn);

        let mut promtool = Command::new("promtool")
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("promtool (the prometheus package) is needed to check the metrics format");
        std::io::Write::write_all(&mut promtool.stdin.take().unwrap(), page.as_bytes()).unwrap();
        let checked = promtool.wait_with_output().unwrap();
        assert!(
            checked.status.success(),
            "promtool: {}{}",
            String::from_utf8_lossy(&checked.stdout),
            String::from_utf8_lossy(&checked.stderr)
        );

        // The key file as a key set: loaded once, then a refused reload counted, the keys kept.
        let decryption = |outcome: &str| {
            format!("jwe_mint_key_set_refreshes_total{{keys=\"decryption\",outcome=\"{outcome}\"}}")
        };
        assert_eq!(sample(&page, &decryption("ok")), Some(1.0), "{page}");
        assert_eq!(sample(&page, &decryption("failed")), Some(0.0), "{page}");
        assert!(sample(&page, "jwe_mint_key_set_age_seconds{keys=\"decryption\"}").is_some(), "{page}");
        write_text(&gw.key_file(), "{ not a key");
        gw.signal("HUP");
        let refused = async || sample(&scrape(&gw, "/metrics").await.1, &decryption("failed")) == Some(1.0);
        eventually("the refused reload is counted", refused).await;
        assert_eq!(send(gw.addr, &get("/j", Some(&good), "")).await.status, 200, "the keys in use stay");

        assert_eq!(scrape(&gw, "/healthz").await, (200, "ok\n".into()));
        assert_eq!(scrape(&gw, "/readyz").await, (200, "ready\n".into()));
        assert_eq!(scrape(&gw, "/nothing").await.0, 404);
        assert!(!gw.stderr().contains(&good), "a token reached the log");
    })
    .await;
}

#[test]
fn the_metrics_listener_never_shares_the_proxied_port() {
    let out = Command::new(env!("CARGO_BIN_EXE_jwe-mint"))
        .args(["gateway", "--listen", "127.0.0.1:18999", "--metrics-listen", "127.0.0.1:18999"])
        .args(["--upstream", "http://127.0.0.1:1", "--resource", RESOURCE, "--key", "/nonexistent"])
        .args(["--issuer", ISSUER, "--issuer-jwks", "/nonexistent"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--metrics-listen"));
}

// ---------------------------------------------------------------------------------------------
// Bounds: a flood of never-ending heads, and shutdown with a half-sent request.

/// The soft limit on this process's open files (`/proc/self/limits`).
fn open_file_limit() -> usize {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
    let line = limits.lines().find(|l| l.starts_with("Max open files")).unwrap();
    line.split_whitespace().nth(3).unwrap().parse().unwrap_or(usize::MAX)
}

/// Resident memory now (VmRSS) in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// The most the gateway may hold under the flood.
const FLOOD_RSS_LIMIT_KIB: u64 = 256 * 1024;

/// 3,000 connections (fewer if this process may not open that many files) each send a head that
/// never ends: most of 60 KB (over the head limit: 431 and closed at the limit), the first 500
/// of 15 KB (under it: held until the header timeout, below the connection cap). The gateway's
/// memory stays under 256 MiB, and a good request opened after them is answered within 2 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_never_ending_heads_stays_in_bounded_memory_and_good_requests_are_served() {
    bounded(async {
        let world = World::new();
        let (_up, up_addr) = Upstream::start().await;
        let gw = Binary::start(&world, &[&world.rs_key], up_addr, &[]);
        let token = world.mint();
        const WANTED: usize = 3_000;
        const HELD: usize = 500;
        let fds = open_file_limit();
        let flood = WANTED.min(fds.saturating_sub(100));
        assert!(flood > HELD, "only {fds} open files allowed: raise `ulimit -n` to about {}", WANTED + 100);
        let head = |len: usize| {
            let mut h = b"GET / HTTP/1.1\r\nHost: api.example.com\r\nX-Flood: ".to_vec();
            h.resize(len, b'a');
            Arc::new(h)
        };
        let (held, cut) = (head(15_000), head(60_000));
        let started = Instant::now();
        let slots = Arc::new(tokio::sync::Semaphore::new(256));
        let mut tasks = Vec::with_capacity(flood);
        for i in 0..flood {
            let bytes = Arc::clone(if i < HELD { &held } else { &cut });
            let slot = Arc::clone(&slots).acquire_owned().await.unwrap();
            let addr = gw.addr;
            tasks.push(tokio::spawn(async move {
                let mut stream = TcpStream::connect(addr).await.ok()?;
                // The gateway may answer 431 and close before all of it is sent.
                let _ = stream.write_all(&bytes).await;
                drop(slot);
                Some(stream)
            }));
        }
        let mut open = Vec::with_capacity(flood);
        for t in tasks {
            open.extend(t.await.unwrap());
        }
        let flood_time = started.elapsed();
        assert!(open.len() > flood / 2, "only {} of {flood} connections were made", open.len());
        let during = rss_kib(gw.child.id());
        // A good request, opened after all of them (the held heads are still open).
        let asked = Instant::now();
        let answer = tokio::time::timeout(Duration::from_secs(2), send(gw.addr, &get("/", Some(&token), "")))
            .await
            .expect("a good request waited 2 s behind the flood");
        assert_eq!(answer.status, 200, "{answer:?}");
        let waited = asked.elapsed();
        let peak = gw.peak_rss_kib();
        eprintln!(
            "flood: {} connections (of {flood}; {fds} files allowed) in {flood_time:?}; gateway RSS {during} KiB, \
             peak {peak} KiB; good request answered in {waited:?}",
            open.len()
        );
        assert!(peak < FLOOD_RSS_LIMIT_KIB, "the gateway's peak RSS was {peak} KiB under the flood");
        drop(open);
    })
    .await;
}

/// On SIGTERM, with one request whose body stopped arriving (in flight) and one half-sent head,
/// the gateway waits for the request at most `--shutdown-timeout`, then closes what is left and
/// exits 0.
#[tokio::test]
async fn sigterm_with_a_half_sent_request_exits_zero_within_the_shutdown_timeout() {
    bounded(async {
        let world = World::new();
        let (up, up_addr) = Upstream::start().await;
        let mut gw = Binary::start(&world, &[&world.rs_key], up_addr, &["--shutdown-timeout", "2"]);
        let mut in_flight = TcpStream::connect(gw.addr).await.unwrap();
        let head = format!(
            "POST /upload HTTP/1.1\r\nHost: api.example.com\r\nAuthorization: Bearer {}\r\nContent-Length: 1000\r\n\r\n",
            world.mint()
        );
        in_flight.write_all(head.as_bytes()).await.unwrap();
        in_flight.write_all(&[b'a'; 10]).await.unwrap();
        let mut half_head = TcpStream::connect(gw.addr).await.unwrap();
        half_head.write_all(b"GET / HTTP/1.1\r\nHost: api.example.com\r\n").await.unwrap();
        eventually("the request reached the upstream", async || up.started.load(Ordering::SeqCst) == 1).await;
        let signalled = Instant::now();
        gw.signal("TERM");
        let status = loop {
            if let Some(status) = gw.child.try_wait().unwrap() {
                break status;
            }
            assert!(signalled.elapsed() < Duration::from_secs(10), "the gateway did not exit: {}", gw.stderr());
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let took = signalled.elapsed();
        assert!(status.success(), "{status:?}: {}", gw.stderr());
        assert!(took < Duration::from_millis(3500), "exited {took:?} after SIGTERM, past --shutdown-timeout 2");
        assert!(took >= Duration::from_millis(1500), "the request in flight was not given its time: {took:?}");
    })
    .await;
}

/// Bounds that make no sense are usage errors (exit 2) naming the option.
#[test]
fn bounds_options_that_make_no_sense_are_refused() {
    for (option, value) in [
        ("--max-connections", "0"),
        ("--max-head-size", "1024"),
        ("--max-head-size", "99999999"),
        ("--header-timeout", "0"),
        ("--body-timeout", "0"),
        ("--write-timeout", "0"),
        ("--idle-timeout", "0"),
        ("--idle-timeout", "1.5"),
        ("--shutdown-timeout", "-1"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_jwe-mint"))
            .args(["gateway", "--listen", "127.0.0.1:0", "--upstream", "http://127.0.0.1:1"])
            .args(["--resource", RESOURCE, "--issuer", ISSUER, "--key", "/nonexistent"])
            .arg(format!("{option}={value}"))
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{option} {value}: {stderr}");
        assert!(stderr.contains(option), "{option} {value}: {stderr}");
    }
}

/// A user name and password in a URL option are refused, and never printed: not in the error
/// line, not in a log line before it (the key set's and discovery's failures name the URL).
#[test]
fn credentials_in_a_url_option_never_reach_stderr() {
    const SECRET: &str = "s3cr3t-pw";
    let world = World::new();
    let dir = temp_dir("urlcreds");
    let as_file = as_key_file(&world, &dir);
    write_keys(&dir.join("rs.json"), &[&world.rs_key]);
    let run = |issuer: &str, issuer_jwks: Option<&str>, upstream: &str| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_jwe-mint"));
        cmd.args(["gateway", "--listen", "127.0.0.1:0", "--upstream", upstream, "--resource", RESOURCE])
            .arg("--key")
            .arg(dir.join("rs.json"))
            .args(["--issuer", issuer]);
        if let Some(jwks) = issuer_jwks {
            cmd.args(["--issuer-jwks", jwks]);
        }
        let mut child =
            cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        // It must exit by itself, before listening.
        let deadline = Instant::now() + LIMIT;
        while child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("the gateway did not exit");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        child.wait_with_output().unwrap()
    };
    let with_creds = |path: &str| format!("https://alice:{SECRET}@127.0.0.1:1{path}");
    for (what, out) in [
        ("--issuer-jwks", run(ISSUER, Some(&with_creds("/jwks.json")), "http://127.0.0.1:9")),
        ("--issuer (discovery)", run(&with_creds("/"), None, "http://127.0.0.1:9")),
        ("--upstream", run(ISSUER, Some(&as_file), &format!("http://alice:{SECRET}@127.0.0.1:9"))),
    ] {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(matches!(out.status.code(), Some(1 | 2)), "{what}: {stderr}");
        assert!(!stderr.is_empty(), "{what}: refused without a word");
        assert!(
            !stderr.contains(SECRET) && !stderr.contains("alice"),
            "{what} printed the credentials:\n{stderr}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------------------------------
// DPoP (RFC 9449 §7) through the real binary.

/// A proof for `GET https://api.example.com<path>` with `token` (and `nonce`).
fn dpop_proof(key: &jwe_mint::dpop::DpopKey, path: &str, token: &str, nonce: Option<&str>) -> String {
    let htu = format!("{RESOURCE}{path}");
    let proof = key.proof("GET", &htu).access_token(token);
    match nonce {
        Some(n) => proof.nonce(n).sign().unwrap(),
        None => proof.sign().unwrap(),
    }
}

#[tokio::test]
async fn the_binary_accepts_a_dpop_bound_token_with_its_proof_once_and_never_as_bearer() {
    bounded(async {
        let world = World::new();
        let (up, up_addr) = Upstream::start().await;
        let gw = Binary::start(&world, &[&world.rs_key], up_addr, &[]);
        let key = jwe_mint::dpop::DpopKey::generate().unwrap();
        let token = world.mint_bound(key.thumbprint());
        let proof = dpop_proof(&key, "/photos", &token, None);
        let ok = send(gw.addr, &dpop_get("/photos", &token, &[&proof], "X-Auth-Dpop-Jkt: evil\r\n")).await;
        assert_eq!(ok.status, 200, "{ok:?}\n{}", gw.stderr());
        let seen = up.seen();
        assert_eq!(seen[0].one("x-auth-dpop-jkt"), Some(key.thumbprint()));
        assert_eq!(seen[0].one("dpop"), None);
        // The same proof again: a replay.
        let again = send(gw.addr, &dpop_get("/photos", &token, &[&proof], "")).await;
        assert_eq!(again.status, 401);
        assert!(again.header("www-authenticate").unwrap().starts_with("DPoP error=\"invalid_dpop_proof\""));
        // The bound token as a Bearer token.
        let bearer = send(gw.addr, &get("/photos", Some(&token), "")).await;
        assert_eq!(bearer.status, 401);
        assert!(bearer.header("www-authenticate").unwrap().starts_with("Bearer error=\"invalid_token\""));
        assert_eq!(up.seen().len(), 1);
    })
    .await;
}

#[tokio::test]
async fn require_dpop_and_a_nonce_key_file_shared_by_two_gateways() {
    bounded(async {
        let world = World::new();
        let (up, up_addr) = Upstream::start().await;
        let dir = temp_dir("nonce");
        let secret = dir.join("nonce.key");
        std::fs::write(&secret, [42u8; 32]).unwrap();
        let secret = secret.display().to_string();
        let args = ["--require-dpop", "--dpop-nonce-key", &secret, "--dpop-max-age", "60"];
        let (a, b) = (
            Binary::start(&world, &[&world.rs_key], up_addr, &args),
            Binary::start(&world, &[&world.rs_key], up_addr, &args),
        );
        // An unbound Bearer token: the DPoP challenge alone.
        let bearer = send(a.addr, &get("/p", Some(&world.mint()), "")).await;
        assert_eq!(bearer.status, 401, "{}", a.stderr());
        let lines: Vec<_> = bearer.headers.iter().filter(|(n, _)| n == "www-authenticate").collect();
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(lines[0].1.starts_with("DPoP error=\"invalid_token\""), "{lines:?}");
        let key = jwe_mint::dpop::DpopKey::generate().unwrap();
        let token = world.mint_bound(key.thumbprint());
        // No nonce: 401 use_dpop_nonce with one from the first gateway; the second accepts it.
        let first = send(a.addr, &dpop_get("/p", &token, &[&dpop_proof(&key, "/p", &token, None)], "")).await;
        assert_eq!(first.status, 401);
        assert!(first.header("www-authenticate").unwrap().starts_with("DPoP error=\"use_dpop_nonce\""));
        let nonce = first.header("dpop-nonce").unwrap().to_owned();
        let ok =
            send(b.addr, &dpop_get("/p", &token, &[&dpop_proof(&key, "/p", &token, Some(&nonce))], "")).await;
        assert_eq!(ok.status, 200, "{ok:?}\n{}", b.stderr());
        assert_eq!(up.seen().len(), 1);
        // A proof older than --dpop-max-age.
        let old = key
            .proof("GET", &format!("{RESOURCE}/p"))
            .access_token(&token)
            .nonce(&nonce)
            .issued_at(unix_now() - 120)
            .sign()
            .unwrap();
        assert_eq!(send(b.addr, &dpop_get("/p", &token, &[&old], "")).await.status, 401);
        let doc = send(b.addr, &get("/.well-known/oauth-protected-resource", None, "")).await;
        let doc: serde_json::Value = serde_json::from_slice(&doc.body).unwrap();
        assert_eq!(doc["dpop_bound_access_tokens_required"], serde_json::json!(true), "{doc}");
        assert!(doc["dpop_signing_alg_values_supported"].as_array().unwrap().contains(&"ES256".into()));
        // The secret is never printed.
        for gw in [&a, &b] {
            assert!(!gw.stderr().contains("********"), "{}", gw.stderr());
        }
        let _ = std::fs::remove_dir_all(&dir);
    })
    .await;
}

#[test]
fn a_short_dpop_nonce_key_is_one_clear_error_line() {
    let world = World::new();
    let dir = temp_dir("shortnonce");
    let as_file = as_key_file(&world, &dir);
    write_keys(&dir.join("rs.json"), &[&world.rs_key]);
    let short = dir.join("short.key");
    std::fs::write(&short, "0123456789secret").unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_jwe-mint"))
        .args([
            "gateway",
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            "http://127.0.0.1:9",
            "--resource",
            RESOURCE,
        ])
        .arg("--key")
        .arg(dir.join("rs.json"))
        .args(["--issuer", ISSUER, "--issuer-jwks", &as_file])
        .arg("--dpop-nonce-key")
        .arg(&short)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // It must exit by itself, before listening.
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the gateway started with a short nonce key");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("--dpop-nonce-key") && stderr.contains("at least 32 bytes"), "{stderr}");
    assert!(!stderr.contains("secret"), "the key's bytes are never printed: {stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------------------------------
// A fleet: two gateways remember DPoP proofs in one redis-server.

#[tokio::test]
async fn two_gateways_on_one_redis_refuse_a_proof_used_at_either_and_fail_closed_without_it() {
    bounded(async {
        let world = World::new();
        let (up, up_addr) = Upstream::start().await;
        let mut redis = crate::redis_server::Redis::start();
        let url = redis.url();
        let args = ["--dpop-replay", url.as_str()];
        let (a, b) = (
            Binary::start(&world, &[&world.rs_key], up_addr, &args),
            Binary::start(&world, &[&world.rs_key], up_addr, &args),
        );
        let key = jwe_mint::dpop::DpopKey::generate().unwrap();
        let token = world.mint_bound(key.thumbprint());
        let proof = dpop_proof(&key, "/photos", &token, None);
        assert_eq!(
            send(a.addr, &dpop_get("/photos", &token, &[&proof], "")).await.status,
            200,
            "{}",
            a.stderr()
        );
        // The same proof at the other gateway: a replay, seen through Redis.
        let replayed = send(b.addr, &dpop_get("/photos", &token, &[&proof], "")).await;
        assert_eq!(replayed.status, 401);
        assert!(replayed.header("www-authenticate").unwrap().contains("invalid_dpop_proof"));

        // Redis gone: a fresh proof is never accepted unchecked.
        redis.stop();
        let fresh = dpop_proof(&key, "/photos", &token, None);
        assert_eq!(send(b.addr, &dpop_get("/photos", &token, &[&fresh], "")).await.status, 503);
        // Back on the same port: the gateways recover by themselves.
        redis.run();
        eventually("the gateway uses Redis again", async || {
            let proof = dpop_proof(&key, "/photos", &token, None);
            send(b.addr, &dpop_get("/photos", &token, &[&proof], "")).await.status == 200
        })
        .await;
        assert_eq!(up.seen().len(), 2);
    })
    .await;
}

/// `--dpop-replay rediss://…` with `--dpop-replay-ca-file`: two gateways share proofs over TLS;
/// a gateway trusting another CA cannot reach Redis and refuses DPoP requests (503).
#[tokio::test]
async fn two_gateways_share_proofs_over_tls_and_one_trusting_another_ca_fails_closed() {
    bounded(async {
        let world = World::new();
        let (up, up_addr) = Upstream::start().await;
        let pki = Pki::new();
        let redis = crate::redis_server::Redis::start_tls(&pki.server_cert_pem, &pki.server_key_pem);
        let dir = temp_dir("redis-tls");
        let (ca, other) = (dir.join("ca.pem"), dir.join("other-ca.pem"));
        std::fs::write(&ca, &pki.ca_pem).unwrap();
        std::fs::write(&other, &Pki::new().ca_pem).unwrap();
        let url = redis.tls_url();
        let with_ca = |file: &Path| {
            let args = ["--dpop-replay", url.as_str(), "--dpop-replay-ca-file", file.to_str().unwrap()];
            Binary::start(&world, &[&world.rs_key], up_addr, &args)
        };
        let (a, b, wrong) = (with_ca(&ca), with_ca(&ca), with_ca(&other));
        let key = jwe_mint::dpop::DpopKey::generate().unwrap();
        let token = world.mint_bound(key.thumbprint());
        let proof = dpop_proof(&key, "/photos", &token, None);
        let request = dpop_get("/photos", &token, &[&proof], "");
        assert_eq!(send(a.addr, &request).await.status, 200, "{}", a.stderr());
        assert_eq!(send(b.addr, &request).await.status, 401, "a replay, seen through Redis over TLS");
        let fresh = dpop_proof(&key, "/photos", &token, None);
        assert_eq!(send(wrong.addr, &dpop_get("/photos", &token, &[&fresh], "")).await.status, 503);
        assert_eq!(up.seen().len(), 1);
        let _ = std::fs::remove_dir_all(&dir);
    })
    .await;
}

#[test]
fn a_replay_url_with_credentials_is_refused_on_the_command_line_and_never_printed() {
    let world = World::new();
    let dir = temp_dir("replay-url");
    write_keys(&dir.join("rs.json"), &[&world.rs_key]);
    let as_file = as_key_file(&world, &dir);
    let out = Command::new(env!("CARGO_BIN_EXE_jwe-mint"))
        .args(["gateway", "--listen", "127.0.0.1:0", "--upstream", "http://127.0.0.1:1"])
        .args(["--resource", RESOURCE, "--issuer", ISSUER, "--issuer-jwks", &as_file])
        .arg("--key")
        .arg(dir.join("rs.json"))
        .args(["--dpop-replay", "redis://user:hunter2-secret@127.0.0.1:6379"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--dpop-replay"), "{stderr}");
    assert!(!stderr.contains("hunter2-secret"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}
