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
        let stderr = Arc::new(Mutex::new(String::new()));
        let (mut err, log) = (child.stderr.take().unwrap(), Arc::clone(&stderr));
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = std::io::Read::read(&mut err, &mut buf) {
                if n == 0 {
                    break;
                }
                log.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let addr = line
            .trim()
            .strip_prefix("jwe-mint gateway: listening on http://")
            .unwrap_or_else(|| panic!("no listening line: {line:?}, stderr: {}", stderr.lock().unwrap()))
            .parse()
            .unwrap();
        Binary { child, addr, stderr, dir }
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
        let dir = temp_dir("devnull");
        write_keys(&dir.join("rs.json"), &[&world.rs_key]);
        let as_file = as_key_file(&world, &dir);
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let devnull = std::fs::OpenOptions::new().read(true).write(true).open("/dev/null").unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_jwe-mint"))
            .arg("gateway")
            .args(["--listen", &addr.to_string(), "--upstream", &format!("http://{up_addr}")])
            .args(["--resource", RESOURCE, "--issuer", ISSUER, "--issuer-jwks", &as_file])
            .arg("--key")
            .arg(dir.join("rs.json"))
            .stdin(Stdio::null())
            .stdout(Stdio::from(devnull))
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let token = world.mint();
        let deadline = Instant::now() + Duration::from_secs(10);
        let answer = loop {
            if TcpStream::connect(addr).await.is_ok() {
                break send(addr, &get("/", Some(&token), "")).await;
            }
            assert!(
                child.try_wait().unwrap().is_none(),
                "the gateway exited: {:?}",
                child.wait_with_output()
            );
            assert!(Instant::now() < deadline, "the gateway never listened");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!(answer.status, 200);
        let ok = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
        assert!(ok.success());
        let deadline = Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "the gateway did not exit");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert!(status.success(), "{status:?}");
    })
    .await;
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
