//! The real `jwe-mint forward-auth` process behind real nginx and Caddy, each configured from the
//! shipped `examples/forward-auth/` file (only the addresses substituted), on loopback ports:
//! what reaches the upstream, what the client is answered. Then the subrequests of Envoy and
//! Traefik (not packaged in Debian), sent to forward-auth directly the way they send them.
#![cfg(feature = "network")]

use std::io::BufRead as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::gateway_world::*;

// ---------------------------------------------------------------------------------------------
// The processes: forward-auth, nginx, Caddy; each killed and its directory removed on drop.

/// `jwe-mint forward-auth` for RESOURCE, trusting the world's AS from a key file.
struct ForwardAuth {
    child: Child,
    addr: SocketAddr,
    stderr: Arc<Mutex<String>>,
    dir: PathBuf,
}

impl Drop for ForwardAuth {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl ForwardAuth {
    fn start(world: &World, extra: &[&str]) -> ForwardAuth {
        let dir = temp_dir("forward-auth");
        write_keys(&dir.join("rs.json"), &[&world.rs_key]);
        let as_file = dir.join("as.json");
        std::fs::write(&as_file, world.issuer.verification_keys().to_json().unwrap()).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_jwe-mint"))
            .arg("forward-auth")
            .args(["--listen", "127.0.0.1:0", "--resource", RESOURCE, "--issuer", ISSUER])
            .arg("--key")
            .arg(dir.join("rs.json"))
            .arg("--issuer-jwks")
            .arg(&as_file)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = crate::harness::drain(child.stderr.take().unwrap());
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let addr = line
            .trim()
            .strip_prefix("jwe-mint forward-auth: listening on http://")
            .unwrap_or_else(|| panic!("no listening line: {line:?}, stderr: {}", stderr.lock().unwrap()))
            .parse()
            .unwrap();
        ForwardAuth { child, addr, stderr, dir }
    }
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Nginx,
    Caddy,
}

/// nginx or Caddy on a loopback port, configured from the shipped example.
struct Proxy {
    child: Child,
    addr: SocketAddr,
    dir: PathBuf,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The first of `candidates` that is an executable file, or the test fails: CI installs both.
fn program(name: &str, candidates: &[&str]) -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).map(|d| d.join(name)).collect::<Vec<_>>())
        .unwrap_or_default();
    on_path.into_iter().chain(candidates.iter().map(PathBuf::from)).find(|p| p.is_file()).unwrap_or_else(
        || {
            panic!(
                "{name} is not installed: these tests run forward-auth behind a real {name} \
                 (Debian: apt-get install nginx-light caddy)"
            )
        },
    )
}

/// A loopback port nothing listens on (the proxy binds it right after).
fn free_port() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap()
}

/// The shipped example with the placeholders replaced; each must be in the file, so that the
/// file tested is the one shipped.
fn example(name: &str, replace: &[(&str, String)]) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/forward-auth").join(name);
    let mut text = std::fs::read_to_string(&path).unwrap();
    for (from, to) in replace {
        assert!(text.contains(from), "{} has no {from}", path.display());
        text = text.replace(from, to);
    }
    text
}

impl Proxy {
    /// The proxy on a free loopback port. The port is chosen by binding and letting go, so a
    /// concurrent test may take it first: a proxy that exits for it is started again on another.
    fn start(kind: Kind, forward_auth: SocketAddr, upstream: SocketAddr) -> Proxy {
        for _ in 0..4 {
            if let Some(proxy) = Proxy::try_start(kind, forward_auth, upstream) {
                return proxy;
            }
        }
        panic!("{kind:?} could not listen on any of 4 free ports");
    }

    fn try_start(kind: Kind, forward_auth: SocketAddr, upstream: SocketAddr) -> Option<Proxy> {
        let addr = free_port();
        let dir = temp_dir("proxy");
        let log = std::fs::File::create(dir.join("proxy.log")).unwrap();
        let mut command = match kind {
            Kind::Nginx => {
                let nginx = program("nginx", &["/usr/sbin/nginx"]);
                let server = example(
                    "nginx.conf",
                    &[
                        ("127.0.0.1:9000", forward_auth.to_string()),
                        ("127.0.0.1:8080", upstream.to_string()),
                        ("127.0.0.1:8000", addr.to_string()),
                    ],
                );
                std::fs::write(dir.join("server.conf"), server).unwrap();
                // The main file around the shipped server block: one process in the foreground,
                // every file in `dir` (the packaged temp paths need root).
                let d = dir.display();
                let main = format!(
                    "daemon off;\nmaster_process off;\npid {d}/nginx.pid;\nerror_log {d}/proxy.log info;\n\
                     events {{ worker_connections 64; }}\n\
                     http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n  \
                     fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n  \
                     include {d}/server.conf;\n}}\n"
                );
                std::fs::write(dir.join("nginx.conf"), main).unwrap();
                let mut c = Command::new(nginx);
                c.arg("-p")
                    .arg(&dir)
                    .arg("-c")
                    .arg(dir.join("nginx.conf"))
                    .arg("-e")
                    .arg(dir.join("proxy.log"));
                c
            }
            Kind::Caddy => {
                let caddy = program("caddy", &["/usr/bin/caddy"]);
                let site = example(
                    "Caddyfile",
                    &[
                        ("127.0.0.1:9000", forward_auth.to_string()),
                        ("127.0.0.1:8080", upstream.to_string()),
                        ("api.example.com {", format!("http://:{} {{", addr.port())),
                    ],
                );
                // Global options before the shipped site block: no admin endpoint, no
                // certificates, loopback only, state in `dir`.
                let global = format!(
                    "{{\n\tadmin off\n\tauto_https off\n\tdefault_bind 127.0.0.1\n\t\
                     storage file_system {}\n}}\n\n",
                    dir.join("storage").display()
                );
                std::fs::write(dir.join("Caddyfile"), global + &site).unwrap();
                let mut c = Command::new(caddy);
                c.args(["run", "--adapter", "caddyfile", "--config"])
                    .arg(dir.join("Caddyfile"))
                    .env("HOME", &dir)
                    .env("XDG_DATA_HOME", dir.join("data"))
                    .env("XDG_CONFIG_HOME", dir.join("config"));
                c
            }
        };
        let child = command
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {kind:?}: {e}"));
        let mut proxy = Proxy { child, addr, dir };
        let deadline = Instant::now() + Duration::from_secs(20);
        let exited = |proxy: &mut Proxy| {
            let status = proxy.child.try_wait().unwrap()?;
            let log = proxy.log();
            assert!(log.contains("in use"), "{kind:?} exited ({status}) before listening:\n{log}");
            eprintln!("{kind:?} found {addr} taken; another port");
            Some(())
        };
        while std::net::TcpStream::connect(addr).is_err() {
            if exited(&mut proxy).is_some() {
                return None;
            }
            assert!(Instant::now() < deadline, "{kind:?} never listened on {addr}:\n{}", proxy.log());
            std::thread::sleep(Duration::from_millis(50));
        }
        // What answered may be another test's server that took the port first: ours then fails
        // to bind and exits, which it does at start, before it loads anything else.
        std::thread::sleep(Duration::from_millis(100));
        if exited(&mut proxy).is_some() {
            return None;
        }
        Some(proxy)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("proxy.log")).unwrap_or_default()
    }
}

/// forward-auth (requiring `photos.read`), the recording upstream and the proxy in front.
struct Setup {
    world: World,
    up: Upstream,
    proxy: Proxy,
    forward_auth: ForwardAuth,
}

impl Setup {
    async fn start(kind: Kind) -> Setup {
        Setup::start_with(kind, &[]).await
    }

    /// [`start`](Setup::start) with more forward-auth arguments.
    async fn start_with(kind: Kind, extra: &[&str]) -> Setup {
        let world = World::new();
        let (up, up_addr) = Upstream::start().await;
        // The one source each proxy sets, as the example README says to run it.
        let source = match kind {
            Kind::Nginx => "x-original",
            Kind::Caddy => "x-forwarded",
        };
        let mut args = vec!["--require-scope", "photos.read", "--original-request", source];
        args.extend_from_slice(extra);
        let forward_auth = ForwardAuth::start(&world, &args);
        let proxy = Proxy::start(kind, forward_auth.addr, up_addr);
        Setup { world, up, proxy, forward_auth }
    }

    /// `request` through the proxy; the logs of both processes in any failure message.
    async fn send(&self, request: &str) -> Answer {
        request_to(self.proxy.addr, request).await
    }

    fn logs(&self) -> String {
        format!(
            "proxy log:\n{}\nforward-auth stderr:\n{}",
            self.proxy.log(),
            self.forward_auth.stderr.lock().unwrap()
        )
    }
}

// ---------------------------------------------------------------------------------------------
// A client that reads the whole answer (proxies may answer chunked).

/// Sends `request` (a head without `Connection`, and maybe a body) with `Connection: close` and
/// reads the answer to the end, de-chunked.
async fn request_to(addr: SocketAddr, request: &str) -> Answer {
    let (head, body) = request.split_once("\r\n\r\n").unwrap();
    let request = format!("{head}\r\nConnection: close\r\n\r\n{body}");
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut raw))
        .await
        .expect("the answer never ended")
        .unwrap();
    let at = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("no answer head");
    let text = String::from_utf8(raw[..at].to_vec()).unwrap();
    let mut lines = text.split("\r\n");
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .map(|l| {
            let (n, v) = l.split_once(':').unwrap();
            (n.trim().to_ascii_lowercase(), v.trim().to_owned())
        })
        .collect();
    let mut answer = Answer { status, headers, body: Vec::new() };
    let rest = &raw[at + 4..];
    answer.body = if answer.header("transfer-encoding").is_some_and(|t| t.contains("chunked")) {
        dechunk(rest)
    } else {
        rest.to_vec()
    };
    answer
}

fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    loop {
        let at = raw.windows(2).position(|w| w == b"\r\n").expect("chunk size line");
        let size = std::str::from_utf8(&raw[..at]).unwrap().split(';').next().unwrap().trim();
        let size = usize::from_str_radix(size, 16).unwrap();
        raw = &raw[at + 2..];
        if size == 0 {
            return body;
        }
        body.extend_from_slice(&raw[..size]);
        raw = &raw[size + 2..];
    }
}

/// The answer's `WWW-Authenticate` lines.
fn challenges(answer: &Answer) -> Vec<&str> {
    answer.headers.iter().filter(|(n, _)| n == "www-authenticate").map(|(_, v)| v.as_str()).collect()
}

/// One RFC 6750 challenge with `error`, pointing at the RFC 9728 metadata (RFC 9728 §5.1).
fn assert_one_challenge(answer: &Answer, error: &str, logs: &str) {
    let lines = challenges(answer);
    assert_eq!(lines.len(), 1, "{answer:?}\n{logs}");
    let challenge = lines[0];
    assert!(challenge.starts_with("Bearer "), "{challenge}");
    assert!(challenge.contains(&format!("error=\"{error}\"")), "{challenge}");
    assert!(
        challenge.contains(&format!("resource_metadata=\"{RESOURCE}/.well-known/oauth-protected-resource\"")),
        "{challenge}"
    );
}

/// Fields the upstream saw whose name folds to `x-auth-*` (`_` and `.` read as `-`, as CGI-style
/// servers do) and whose value is the client's `admin`.
fn spoofed(seen: &Seen) -> Vec<(String, String)> {
    seen.headers
        .iter()
        .filter(|(n, v)| {
            n.to_ascii_lowercase().replace(['_', '.'], "-").starts_with("x-auth-") && v.contains("admin")
        })
        .cloned()
        .collect()
}

/// What a client claims about itself in every spelling a server could read as `X-Auth-*`.
const SPOOFED: &str = "X-Auth-Subject: admin\r\nX_Auth_Subject: admin\r\nX.Auth.Subject: admin\r\n\
     x-auth-scope: admin\r\nX-AUTH-CLIENT-ID: admin\r\nX-Auth_Scope: admin\r\nx_auth-client.id: admin\r\n\
     X-Auth-Claims: admin\r\n";

// ---------------------------------------------------------------------------------------------
// The scenarios, each run behind nginx and behind Caddy.

async fn a_good_token_reaches_the_upstream_with_forward_auths_identity(kind: Kind) {
    let s = Setup::start(kind).await;
    let token = s.world.mint();
    let a = s.send(&get("/photos/1?size=big", Some(&token), "")).await;
    assert_eq!((a.status, a.body.as_slice()), (200, &b"ok"[..]), "{a:?}\n{}", s.logs());
    let seen = s.up.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].path, "/photos/1");
    assert_eq!(seen[0].one("x-auth-subject"), Some("alice"), "{seen:?}");
    assert_eq!(seen[0].one("x-auth-client-id"), Some(CLIENT), "{seen:?}");
    assert_eq!(seen[0].one("x-auth-scope"), Some("photos.read"), "{seen:?}");
    assert_eq!(seen[0].one("x-auth-claims"), None, "{seen:?}");
}

async fn no_token_is_401_with_the_challenge_and_never_reaches_the_upstream(kind: Kind) {
    let s = Setup::start(kind).await;
    let a = s.send(&get("/photos/1", None, "")).await;
    assert_eq!(a.status, 401, "{a:?}\n{}", s.logs());
    // No error code without credentials (RFC 6750 §3.1), but the metadata pointer all the same.
    let lines = challenges(&a);
    assert_eq!(lines.len(), 1, "{a:?}");
    assert!(lines[0].starts_with("Bearer "), "{}", lines[0]);
    assert!(lines[0].contains("resource_metadata=\""), "{}", lines[0]);
    // A token that does not open is 401 invalid_token.
    let a = s.send(&get("/photos/1", Some("eyJhbGciOiJub25lIn0.e30."), "")).await;
    assert_eq!(a.status, 401, "{a:?}");
    assert_one_challenge(&a, "invalid_token", &s.logs());
    assert!(s.up.seen().is_empty(), "{:?}", s.up.seen());
}

async fn a_token_without_the_required_scope_is_403_with_the_challenge(kind: Kind) {
    let s = Setup::start(kind).await;
    let token = s.world.mint_for(RESOURCE, "admin");
    let a = s.send(&get("/photos/1", Some(&token), "")).await;
    assert_eq!(a.status, 403, "{a:?}\n{}", s.logs());
    assert_one_challenge(&a, "insufficient_scope", &s.logs());
    assert!(s.up.seen().is_empty(), "{:?}", s.up.seen());
}

async fn client_sent_identity_fields_never_reach_the_upstream(kind: Kind) {
    let s = Setup::start(kind).await;
    let token = s.world.mint();
    let a = s.send(&get("/photos/1", Some(&token), SPOOFED)).await;
    assert_eq!(a.status, 200, "{a:?}\n{}", s.logs());
    let seen = s.up.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(spoofed(&seen[0]), vec![], "the client's identity reached the upstream: {seen:?}");
    assert_eq!(seen[0].one("x-auth-subject"), Some("alice"), "{seen:?}");
    assert_eq!(seen[0].one("x-auth-client-id"), Some(CLIENT), "{seen:?}");
    assert_eq!(seen[0].one("x-auth-scope"), Some("photos.read"), "{seen:?}");
    // Without a token the same fields get nowhere either.
    let a = s.send(&get("/photos/1", None, SPOOFED)).await;
    assert_eq!(a.status, 401, "{a:?}");
    assert_eq!(s.up.seen().len(), 1);
}

async fn a_query_token_is_401_invalid_request_however_the_client_names_the_request(kind: Kind) {
    let s = Setup::start(kind).await;
    let token = s.world.mint();
    // A header token and a query token: two methods (RFC 6750 §3.1), 400 at the gateway, which a
    // proxy would turn into a 500: 401 invalid_request here.
    let a = s.send(&get(&format!("/photos/1?access_token={token}"), Some(&token), "")).await;
    assert_eq!(a.status, 401, "{a:?}\n{}", s.logs());
    assert_one_challenge(&a, "invalid_request", &s.logs());
    // The client's own X-Original-* (which forward-auth reads first) cannot make it judge a
    // request without the query the proxy forwards.
    let spoof = "X-Original-URI: /photos/1\r\nX-Original-Method: GET\r\nX-Forwarded-Uri: /photos/1\r\n";
    let a = s.send(&get(&format!("/photos/1?access_token={token}"), Some(&token), spoof)).await;
    assert_eq!(a.status, 401, "{a:?}\n{}", s.logs());
    assert_one_challenge(&a, "invalid_request", &s.logs());
    assert!(s.up.seen().is_empty(), "{:?}", s.up.seen());
}

async fn the_metadata_and_jwks_are_served_through_the_proxy_without_a_token(kind: Kind) {
    let s = Setup::start(kind).await;
    // A client's X-Original-URI would make forward-auth take it for a subrequest.
    for extra in ["", "X-Original-URI: /photos\r\nX-Forwarded-Uri: /photos\r\n"] {
        let a = s.send(&get("/.well-known/oauth-protected-resource", None, extra)).await;
        assert_eq!(a.status, 200, "{a:?}\n{}", s.logs());
        let doc: serde_json::Value = serde_json::from_slice(&a.body).unwrap();
        assert_eq!(doc["resource"], RESOURCE, "{doc}");
        let a = s.send(&get("/.well-known/jwks.json", None, extra)).await;
        assert_eq!(a.status, 200, "{a:?}\n{}", s.logs());
        let set: serde_json::Value = serde_json::from_slice(&a.body).unwrap();
        assert!(set["keys"].as_array().is_some_and(|k| !k.is_empty()), "{set}");
        // Only public halves.
        assert!(set["keys"].as_array().unwrap().iter().all(|k| k.get("d").is_none()), "{set}");
    }
    assert!(s.up.seen().is_empty(), "{:?}", s.up.seen());
}

/// A DPoP-bound token with its proof for the client's URI (forward-auth reads it from the
/// proxy's original-request field, not from the subrequest's own path): 200 and the key to the
/// upstream; a proof for another path is 401 with the DPoP challenge on the one line the proxy
/// passes; a client's `X-Auth-Dpop-Jkt` never reaches the upstream.
async fn a_dpop_bound_token_is_checked_against_the_original_uri(kind: Kind) {
    let s = Setup::start(kind).await;
    let key = jwe_mint::dpop::DpopKey::generate().unwrap();
    let token = s.world.mint_bound(key.thumbprint());
    let proof =
        |path: &str| key.proof("GET", &format!("{RESOURCE}{path}")).access_token(&token).sign().unwrap();
    let spoof = "X-Auth-Dpop-Jkt: admin\r\nX_Auth_Dpop_Jkt: admin\r\n";
    let a = s.send(&dpop_get("/photos/1?size=big", &token, &[&proof("/photos/1")], spoof)).await;
    assert_eq!(a.status, 200, "{a:?}\n{}", s.logs());
    let seen = s.up.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].one("x-auth-dpop-jkt"), Some(key.thumbprint()), "{seen:?}");
    assert_eq!(spoofed(&seen[0]), vec![], "{seen:?}");
    let a = s.send(&dpop_get("/photos/1", &token, &[&proof("/_jwe_mint_auth")], "")).await;
    assert_eq!(a.status, 401, "{a:?}\n{}", s.logs());
    let lines = challenges(&a);
    assert_eq!(lines.len(), 1, "{a:?}");
    assert!(lines[0].starts_with("DPoP error=\"invalid_dpop_proof\""), "{}", lines[0]);
    assert!(lines[0].contains(", Bearer resource_metadata="), "{}", lines[0]);
    assert_eq!(s.up.seen().len(), 1);
}

/// forward-auth with a nonce key: a DPoP proof without a nonce is 401 `use_dpop_nonce`, and the
/// proxy gives the client forward-auth's `DPoP-Nonce` with it (RFC 9449 §9), which a proxy drops
/// unless configured to pass it; the retry with that nonce reaches the upstream.
async fn a_dpop_nonce_asked_by_forward_auth_reaches_the_client(kind: Kind) {
    let dir = temp_dir("nonce");
    let secret = dir.join("nonce.key");
    std::fs::write(&secret, [42u8; 32]).unwrap();
    let secret = secret.display().to_string();
    let s = Setup::start_with(kind, &["--dpop-nonce-key", &secret]).await;
    let key = jwe_mint::dpop::DpopKey::generate().unwrap();
    let token = s.world.mint_bound(key.thumbprint());
    let htu = format!("{RESOURCE}/photos/1");
    let proof = |nonce: Option<&str>| {
        let proof = key.proof("GET", &htu).access_token(&token);
        match nonce {
            Some(n) => proof.nonce(n).sign().unwrap(),
            None => proof.sign().unwrap(),
        }
    };
    let a = s.send(&dpop_get("/photos/1", &token, &[&proof(None)], "")).await;
    assert_eq!(a.status, 401, "{a:?}\n{}", s.logs());
    let lines = challenges(&a);
    assert_eq!(lines.len(), 1, "{a:?}");
    assert!(lines[0].starts_with("DPoP error=\"use_dpop_nonce\""), "{}", lines[0]);
    let nonces: Vec<_> =
        a.headers.iter().filter(|(n, _)| n == "dpop-nonce").map(|(_, v)| v.clone()).collect();
    assert_eq!(nonces.len(), 1, "no DPoP-Nonce reached the client: {a:?}\n{}", s.logs());
    assert!(s.up.seen().is_empty(), "{:?}", s.up.seen());
    let a = s.send(&dpop_get("/photos/1", &token, &[&proof(Some(&nonces[0]))], "")).await;
    assert_eq!((a.status, a.body.as_slice()), (200, &b"ok"[..]), "{a:?}\n{}", s.logs());
    // The next nonce rides on the success too (§8.2): nginx passes it; Caddy's forward_auth
    // gives the client nothing of a 2xx auth answer (the client learns it on its next 401).
    if let Kind::Nginx = kind {
        assert!(a.header("dpop-nonce").is_some_and(|n| !n.is_empty()), "{a:?}");
    }
    let seen = s.up.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].one("x-auth-dpop-jkt"), Some(key.thumbprint()), "{seen:?}");
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}

macro_rules! behind {
    ($proxy:ident, $kind:expr) => {
        mod $proxy {
            use super::*;

            #[tokio::test]
            async fn a_good_token_reaches_the_upstream_with_forward_auths_identity() {
                bounded(super::a_good_token_reaches_the_upstream_with_forward_auths_identity($kind)).await;
            }

            #[tokio::test]
            async fn no_token_is_401_with_the_challenge_and_never_reaches_the_upstream() {
                bounded(super::no_token_is_401_with_the_challenge_and_never_reaches_the_upstream($kind))
                    .await;
            }

            #[tokio::test]
            async fn a_token_without_the_required_scope_is_403_with_the_challenge() {
                bounded(super::a_token_without_the_required_scope_is_403_with_the_challenge($kind)).await;
            }

            #[tokio::test]
            async fn client_sent_identity_fields_never_reach_the_upstream() {
                bounded(super::client_sent_identity_fields_never_reach_the_upstream($kind)).await;
            }

            #[tokio::test]
            async fn a_query_token_is_401_invalid_request_however_the_client_names_the_request() {
                bounded(super::a_query_token_is_401_invalid_request_however_the_client_names_the_request(
                    $kind,
                ))
                .await;
            }

            #[tokio::test]
            async fn a_dpop_bound_token_is_checked_against_the_original_uri() {
                bounded(super::a_dpop_bound_token_is_checked_against_the_original_uri($kind)).await;
            }

            #[tokio::test]
            async fn a_dpop_nonce_asked_by_forward_auth_reaches_the_client() {
                bounded(super::a_dpop_nonce_asked_by_forward_auth_reaches_the_client($kind)).await;
            }

            #[tokio::test]
            async fn the_metadata_and_jwks_are_served_through_the_proxy_without_a_token() {
                bounded(super::the_metadata_and_jwks_are_served_through_the_proxy_without_a_token($kind))
                    .await;
            }
        }
    };
}

behind!(nginx, Kind::Nginx);
behind!(caddy, Kind::Caddy);

// ---------------------------------------------------------------------------------------------
// Envoy and Traefik: their subrequests, sent directly.

#[tokio::test]
async fn envoy_style_the_original_method_and_path_after_the_prefix() {
    bounded(async {
        let world = World::new();
        let fa =
            ForwardAuth::start(&world, &["--path-prefix", "/ext_authz", "--require-scope", "photos.read"]);
        let token = world.mint();
        // Envoy's HTTP ext_authz: the original method, path_prefix + the original path, the
        // allowed headers, no body.
        let subrequest = |method: &str, path: &str, token: Option<&str>| {
            let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
            format!(
                "{method} /ext_authz{path} HTTP/1.1\r\nHost: api.example.com\r\n{auth}Content-Length: 0\r\n\
                 x-envoy-internal: true\r\n\r\n"
            )
        };
        let a = request_to(fa.addr, &subrequest("POST", "/photos/1?size=big", Some(&token))).await;
        assert_eq!(a.status, 200, "{a:?}");
        assert_eq!(a.header("x-auth-subject"), Some("alice"));
        assert_eq!(a.header("x-auth-client-id"), Some(CLIENT));
        assert_eq!(a.header("x-auth-scope"), Some("photos.read"));
        assert_eq!(a.header("x-auth-claims"), None);

        let a = request_to(fa.addr, &subrequest("DELETE", "/photos/1", None)).await;
        assert_eq!(a.status, 401, "{a:?}");
        assert_eq!(challenges(&a).len(), 1, "{a:?}");
        assert_eq!(a.header("x-auth-subject"), None);

        let admin = world.mint_for(RESOURCE, "admin");
        let a = request_to(fa.addr, &subrequest("GET", "/photos/1", Some(&admin))).await;
        assert_eq!(a.status, 403, "{a:?}");
        assert_one_challenge(&a, "insufficient_scope", "");

        // The query is the original's: a token there too is two methods.
        let a =
            request_to(fa.addr, &subrequest("GET", &format!("/p?access_token={token}"), Some(&token))).await;
        assert_eq!(a.status, 401, "{a:?}");
        assert_one_challenge(&a, "invalid_request", "");

        // A path outside the prefix names no original request.
        let a = request_to(fa.addr, &get("/photos/1", Some(&token), "")).await;
        assert_eq!(a.status, 401, "{a:?}");
        assert_one_challenge(&a, "invalid_request", "");
    })
    .await;
}

#[tokio::test]
async fn traefik_style_a_get_naming_the_original_in_x_forwarded_fields() {
    bounded(async {
        let world = World::new();
        let fa = ForwardAuth::start(&world, &["--require-scope", "photos.read", "--claims-header"]);
        let token = world.mint();
        // Traefik's ForwardAuth: always GET to the configured address, the original request in
        // X-Forwarded-Method / -Proto / -Host / -Uri / -For.
        let subrequest = |method: &str, uri: &str, token: Option<&str>| {
            let forwarded = format!(
                "X-Forwarded-Method: {method}\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: api.example.com\r\n\
                 X-Forwarded-Uri: {uri}\r\nX-Forwarded-For: 192.0.2.7\r\n"
            );
            get("/", token, &forwarded)
        };
        let a = request_to(fa.addr, &subrequest("PUT", "/photos/1?size=big", Some(&token))).await;
        assert_eq!(a.status, 200, "{a:?}\n{}", fa.stderr.lock().unwrap());
        assert_eq!(a.header("x-auth-subject"), Some("alice"));
        assert_eq!(a.header("x-auth-client-id"), Some(CLIENT));
        assert_eq!(a.header("x-auth-scope"), Some("photos.read"));
        // --claims-header: base64url of the claims JSON.
        use base64::Engine as _;
        let claims = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(a.header("x-auth-claims").expect("X-Auth-Claims"))
            .unwrap();
        let claims: serde_json::Value = serde_json::from_slice(&claims).unwrap();
        assert_eq!(claims["sub"], "alice", "{claims}");

        let a = request_to(fa.addr, &subrequest("GET", "/photos/1", None)).await;
        assert_eq!(a.status, 401, "{a:?}");
        assert_eq!(challenges(&a).len(), 1, "{a:?}");

        let admin = world.mint_for(RESOURCE, "admin");
        let a = request_to(fa.addr, &subrequest("GET", "/photos/1", Some(&admin))).await;
        assert_eq!(a.status, 403, "{a:?}");
        assert_one_challenge(&a, "insufficient_scope", "");

        let a = request_to(fa.addr, &subrequest("GET", &format!("/p?access_token={token}"), Some(&token))).await;
        assert_eq!(a.status, 401, "{a:?}");
        assert_one_challenge(&a, "invalid_request", "");

        // Asked directly (no X-Forwarded-Uri), it serves the metadata itself.
        let a = request_to(fa.addr, &get("/.well-known/oauth-protected-resource", None, "")).await;
        assert_eq!(a.status, 200, "{a:?}");
        let doc: serde_json::Value = serde_json::from_slice(&a.body).unwrap();
        assert_eq!(doc["resource"], RESOURCE);
    })
    .await;
}
