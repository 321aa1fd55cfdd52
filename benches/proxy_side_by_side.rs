//! The gateway next to nginx's own `proxy_pass`, in one run, on real sockets on 127.0.0.1: what
//! each adds to a request's latency, how many requests each carries, and what each costs in CPU.
//!
//! Processes, each started by the bench and killed when it ends (also on a panic or when the run
//! overruns its time bound):
//!
//! - the upstream: an nginx instance answering `200 ok` itself (`return 200 "ok";`);
//! - nginx as a reverse proxy to it: a second instance (so its CPU is its own), keep-alive
//!   upstream connections (`keepalive 32`, `proxy_http_version 1.1`, `Connection ""`);
//! - the real `jwe-mint gateway` in front of the same upstream, as an operator runs it: a key
//!   file, the AS's keys from a file, `--log-format json` with stderr to a file (an access-log
//!   line per request), `--metrics-listen` on, the token cache at its default size.
//!
//! Both nginx instances run one process (`master_process off`) so the process started is the one
//! that serves, and keep their default access log (to a file in the run's temp directory).
//!
//! Every request carries the same valid token (minted here, as `gateway_load` does), so the
//! gateway answers from its cache after the first: the steady state of a client reusing its
//! token. Three scenarios, each run three times over the three paths in turn; the median is
//! reported:
//!
//! - (a) one connection, sequential requests: p50 latency, and the p50 each proxy adds over
//!   talking to the upstream directly;
//! - (b) 32 keep-alive connections: requests per second;
//! - (c) during (b), the CPU time (`utime + stime` of `/proc/PID/stat`) of the process doing the
//!   proxying, per request: the nginx proxy instance, the gateway process (all its threads,
//!   including the log writer). The proxy and the upstream are separate nginx instances, so the
//!   proxy's CPU is already only the proxying (no need to subtract the cost of serving).
//!
//! Every request must be answered `200`, or the run fails (exit 1). Without nginx the bench
//! prints `skipped: nginx not found` and exits 0. The load generator shares the machine's cores
//! with the servers, so the figures are a floor for a dedicated host, and noisy on a shared one.
//!
//! Run (the gateway is the release build of the CLI; build it first):
//!
//! ```sh
//! cargo build --release -p jwe-mint-cli
//! cargo bench --bench proxy_side_by_side --features gateway
//! ```
//!
//! `JWE_MINT_BIN` names another `jwe-mint` binary (default: `jwe-mint` in the target directory's
//! `release/`, next to this bench); `JWE_MINT_NGINX` another nginx. `JWE_MINT_SBS_SEQUENTIAL`
//! (5,000), `JWE_MINT_SBS_REQUESTS` (20,000) and `JWE_MINT_SBS_CONNECTIONS` (32) change the sizes.
#![allow(clippy::unwrap_used, unreachable_pub)] // bench set-up: a failed unwrap stops the run

#[path = "support/load.rs"]
mod load;

use std::io::{BufRead, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jwe_mint::jwk::{Jwk, JwkSet};
use load::{load, micros, Run};
use one_resource::{OneResource, AS, RS, SCOPE};

#[path = "support/one_resource.rs"]
mod one_resource;
/// Each scenario runs this many times per path; the median is reported.
const REPEATS: usize = 3;
/// The whole bench, start to end: past it every child is killed and the run fails.
const DEADLINE: Duration = Duration::from_secs(600);
/// A server that has not accepted a connection by then has failed to start.
const START_LIMIT: Duration = Duration::from_secs(15);

const COMMAND: &str =
    "cargo build --release -p jwe-mint-cli && cargo bench --bench proxy_side_by_side --features gateway";

// ---------------------------------------------------------------------------------------------
// Child processes: all registered here, all killed by `kill_all`, which runs when `Reaper` drops
// (the end of `main`, or a panic unwinding it) and when the deadline passes.

static CHILDREN: Mutex<Vec<(String, Child)>> = Mutex::new(Vec::new());

fn children() -> std::sync::MutexGuard<'static, Vec<(String, Child)>> {
    // A panic while the lock was held leaves the list itself intact.
    CHILDREN.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Starts `command` as `name`; its process id.
fn spawn(name: &str, command: &mut Command) -> Result<(u32, Child), String> {
    let child = command.spawn().map_err(|e| format!("cannot start {name}: {e}"))?;
    let pid = child.id();
    Ok((pid, child))
}

fn register(name: &str, child: Child) {
    children().push((name.to_owned(), child));
}

/// `Some(status)` when the child `pid` has exited.
fn exited(pid: u32) -> Option<String> {
    let mut list = children();
    let (_, child) = list.iter_mut().find(|(_, c)| c.id() == pid)?;
    child.try_wait().ok().flatten().map(|s| s.to_string())
}

fn kill_all() {
    for (_, mut child) in children().drain(..) {
        let _ = child.kill();
        let _ = child.wait();
    }
}

struct Reaper;

impl Drop for Reaper {
    fn drop(&mut self) {
        kill_all();
    }
}

/// The run's temporary directory, removed when the run succeeded and kept (and named) when not.
struct TempDir {
    path: PathBuf,
    keep: bool,
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if self.keep {
            eprintln!("proxy_side_by_side: logs and configurations kept in {}", self.path.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Servers.

/// A port free on 127.0.0.1 a moment ago (nginx needs the number in its configuration).
fn free_port() -> Result<u16, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| format!("bind 127.0.0.1: {e}"))?;
    Ok(listener.local_addr().map_err(|e| e.to_string())?.port())
}

/// Waits until `addr` accepts a connection, failing when child `pid` exits first or after
/// `START_LIMIT`.
fn wait_ready(name: &str, pid: u32, addr: SocketAddr, log: &Path) -> Result<(), String> {
    let started = Instant::now();
    loop {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        if let Some(status) = exited(pid) {
            let log = std::fs::read_to_string(log).unwrap_or_default();
            return Err(format!("{name} exited ({status}) before listening on {addr}:\n{log}"));
        }
        if started.elapsed() > START_LIMIT {
            return Err(format!("{name} did not listen on {addr} within {START_LIMIT:?}"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The nginx binary: `JWE_MINT_NGINX`, else `nginx` on the `PATH` or in the usual sbin directories.
fn find_nginx() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("JWE_MINT_NGINX") {
        return Some(PathBuf::from(path)).filter(|p| p.is_file());
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/local/sbin", "/usr/local/nginx/sbin"].map(PathBuf::from))
        .map(|dir| dir.join("nginx"))
        .find(|p| p.is_file())
}

/// One nginx instance of the run: a single process (`master_process off`), so its pid is the
/// process that serves.
struct Nginx {
    pid: u32,
    addr: SocketAddr,
    access_log: PathBuf,
}

/// The configuration of instance `name` listening on `port`: `http` holds what goes in `http {}`
/// before the server (an `upstream` block), `server` the server block's body. Everything the
/// instance writes stays in `dir`. Both client-side and upstream keep-alive connections serve up
/// to 100,000 requests (nginx's default of 1,000 would close the load generator's connections
/// mid-run, which neither the direct nor the gateway path does).
fn nginx_conf(dir: &Path, name: &str, port: u16, http: &str, server: &str) -> String {
    let d = dir.display();
    format!(
        "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/{name}.pid;\n\
         error_log {d}/{name}-error.log warn;\n\
         events {{ worker_connections 1024; }}\n\
         http {{\n  default_type text/plain;\n  access_log {d}/{name}-access.log;\n\
         \x20 keepalive_requests 100000;\n\
         \x20 client_body_temp_path {d}/{name}-tmp/body;\n  proxy_temp_path {d}/{name}-tmp/proxy;\n\
         {http}\n  server {{\n    listen 127.0.0.1:{port};\n{server}\n  }}\n}}\n"
    )
}

/// Starts nginx instance `name` with `nginx_conf(..)`; a port taken between choosing it and
/// nginx binding it is retried.
fn start_nginx(nginx: &Path, dir: &Path, name: &str, http: &str, server: &str) -> Result<Nginx, String> {
    let mut last = String::new();
    for _ in 0..3 {
        let port = free_port()?;
        let conf = dir.join(format!("{name}.conf"));
        std::fs::create_dir_all(dir.join(format!("{name}-tmp"))).map_err(|e| e.to_string())?;
        std::fs::write(&conf, nginx_conf(dir, name, port, http, server)).map_err(|e| e.to_string())?;
        let error_log = dir.join(format!("{name}-error.log"));
        let (pid, child) = spawn(
            name,
            Command::new(nginx)
                .arg("-p")
                .arg(dir)
                .arg("-e")
                .arg(&error_log)
                .arg("-c")
                .arg(&conf)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        )?;
        register(name, child);
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        match wait_ready(name, pid, addr, &error_log) {
            Ok(()) => return Ok(Nginx { pid, addr, access_log: dir.join(format!("{name}-access.log")) }),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// The `jwe-mint gateway` process.
struct GatewayProcess {
    pid: u32,
    addr: SocketAddr,
    metrics: SocketAddr,
    log: PathBuf,
}

/// The `jwe-mint` binary: `JWE_MINT_BIN`, else `release/jwe-mint` of the target directory this
/// bench was built in (the bench runs from `release/deps/`).
fn gateway_binary() -> Result<PathBuf, String> {
    let path = match std::env::var_os("JWE_MINT_BIN") {
        Some(path) => PathBuf::from(path),
        None => {
            let exe = std::env::current_exe().map_err(|e| e.to_string())?;
            let release = exe.parent().and_then(Path::parent).ok_or("no target directory above the bench")?;
            release.join("jwe-mint")
        }
    };
    if !path.is_file() {
        return Err(format!(
            "the gateway binary {} is missing: run `cargo build --release -p jwe-mint-cli` first \
             (or set JWE_MINT_BIN to a jwe-mint binary)",
            path.display()
        ));
    }
    Ok(path)
}

/// Starts `jwe-mint <command>` (`gateway` with `extra` naming its upstream, or `forward-auth`)
/// with the RS key in a key file, the AS's keys in another, JSON logs on stderr to a file, and
/// metrics on a port of their own.
fn start_gateway(
    binary: &Path,
    dir: &Path,
    command: &str,
    extra: &[String],
    rs_key: &Jwk,
    as_keys: &JwkSet,
) -> Result<GatewayProcess, String> {
    let dir = &dir.join(command);
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let name = format!("jwe-mint {command}");
    let key = dir.join("rs.json");
    std::fs::write(&key, JwkSet::new(vec![rs_key.clone()]).to_private_json()).map_err(|e| e.to_string())?;
    let as_file = dir.join("as.json");
    std::fs::write(&as_file, as_keys.to_json().map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
    let log = dir.join("gateway.log");
    let stderr = std::fs::File::create(&log).map_err(|e| e.to_string())?;
    let (pid, mut child) = spawn(
        &name,
        Command::new(binary)
            .arg(command)
            .args(["--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"])
            .args(extra)
            .args(["--resource", RS, "--issuer", AS])
            .arg("--key")
            .arg(&key)
            .arg("--issuer-jwks")
            .arg(&as_file)
            .args(["--require-scope", SCOPE, "--log-format", "json"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr),
    )?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    register(&name, child);
    // The banner names both addresses; read it on a thread so a silent gateway cannot hang the
    // run, and keep reading there so the pipe stays open.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = std::io::BufReader::new(stdout).lines();
        for line in lines.by_ref().take(2) {
            let _ = tx.send(line.unwrap_or_default());
        }
        for _ in lines {}
    });
    let mut addr = None;
    let mut metrics = None;
    for _ in 0..2 {
        let line = rx.recv_timeout(START_LIMIT).map_err(|_| {
            let log = std::fs::read_to_string(&log).unwrap_or_default();
            format!("{name} printed no banner within {START_LIMIT:?}:\n{log}")
        })?;
        if let Some(at) = line.strip_prefix(&format!("{name}: listening on http://")) {
            addr = at.trim().parse().ok();
        } else if let Some(at) = line.strip_prefix(&format!("{name}: metrics on http://")) {
            metrics = at.trim().trim_end_matches("/metrics").parse().ok();
        }
    }
    let (Some(addr), Some(metrics)) = (addr, metrics) else {
        return Err(format!("{name}'s banner named no listening or metrics address"));
    };
    wait_ready(&name, pid, addr, &log)?;
    Ok(GatewayProcess { pid, addr, metrics, log })
}

/// The status line of `GET path` on a fresh connection (bounded in time).
fn get_status(addr: SocketAddr, path: &str) -> Result<String, String> {
    let mut stream = TcpStream::connect_timeout(&addr, START_LIMIT).map_err(|e| e.to_string())?;
    stream.set_read_timeout(Some(START_LIMIT)).map_err(|e| e.to_string())?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut response = String::new();
    stream.read_to_string(&mut response).map_err(|e| e.to_string())?;
    Ok(response.lines().next().unwrap_or_default().to_owned())
}

// ---------------------------------------------------------------------------------------------
// CPU time.

/// Clock ticks per second of `/proc/PID/stat`'s times (`getconf CLK_TCK`; 100 when it cannot say).
fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|&t| t > 0.0)
        .unwrap_or(100.0)
}

/// `utime + stime` of process `pid` (all its threads), in clock ticks.
fn cpu_ticks(pid: u32) -> Result<u64, String> {
    let stat =
        std::fs::read_to_string(format!("/proc/{pid}/stat")).map_err(|e| format!("/proc/{pid}/stat: {e}"))?;
    // The command name (field 2) is in parentheses and may hold spaces: count from the last ')'.
    // What follows starts at field 3 (state); utime and stime are fields 14 and 15 (proc(5)).
    let rest = stat.rsplit_once(')').ok_or("unexpected /proc/PID/stat")?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field =
        |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).ok_or("unexpected /proc/PID/stat");
    Ok(field(11)? + field(12)?)
}

// ---------------------------------------------------------------------------------------------
// The paths compared.

/// One way to the upstream. A later forward-auth path (nginx `auth_request` → `jwe-mint
/// forward-auth`, then nginx → the upstream) is one more `Path` in `main`: an nginx instance from
/// `start_nginx` with an `auth_request` location, the subcommand started as `start_gateway`
/// starts the gateway, and `cpu` naming both processes (the path's CPU is their sum); it is
/// reported against nginx's proxy the same way as the gateway.
struct Route {
    /// The table's row.
    name: &'static str,
    /// Where the load generator connects.
    addr: SocketAddr,
    /// The processes whose CPU time is this path's cost, and what the table calls them.
    cpu: Vec<u32>,
    cpu_of: &'static str,
}

/// What the three scenarios measured on one path, one entry per repeat.
#[derive(Default)]
struct Measured {
    p50_us: Vec<f64>,
    p99_us: Vec<f64>,
    per_second: Vec<f64>,
    cpu_us: Vec<f64>,
}

fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).filter(|&n| n > 0).unwrap_or(default)
}

fn count_lines(path: &Path) -> usize {
    std::fs::read(path).map(|b| b.iter().filter(|&&c| c == b'\n').count()).unwrap_or(0)
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument that does not match skips the bench.
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    if filter.as_deref().is_some_and(|f| !"proxy_side_by_side".contains(f)) {
        return;
    }
    let Some(nginx) = find_nginx() else {
        println!("proxy_side_by_side: skipped: nginx not found");
        return;
    };
    let binary = match gateway_binary() {
        Ok(binary) => binary,
        Err(e) => {
            eprintln!("proxy_side_by_side: {e}");
            std::process::exit(1);
        }
    };
    // Past the deadline nothing is measured any more: kill every child and fail.
    std::thread::spawn(|| {
        std::thread::sleep(DEADLINE);
        eprintln!("proxy_side_by_side: still running after {DEADLINE:?}; stopping");
        kill_all();
        std::process::exit(1);
    });
    let dir = std::env::temp_dir().join(format!("jwe-mint-side-by-side-{}", std::process::id()));
    let mut dir = TempDir { path: dir, keep: true };
    let outcome = {
        let _reaper = Reaper;
        std::fs::create_dir_all(&dir.path).unwrap();
        run(&nginx, &binary, &dir.path)
    };
    // Every child has been killed (the reaper dropped) before the directory goes.
    match outcome {
        Ok(()) => dir.keep = false,
        Err(e) => {
            eprintln!("proxy_side_by_side: {e}");
            drop(dir);
            std::process::exit(1);
        }
    }
}

fn run(nginx: &Path, binary: &Path, dir: &Path) -> Result<(), String> {
    let sequential = env_or("JWE_MINT_SBS_SEQUENTIAL", 5_000);
    let requests = env_or("JWE_MINT_SBS_REQUESTS", 20_000);
    let connections = env_or("JWE_MINT_SBS_CONNECTIONS", 32);
    let ticks = clock_ticks();

    // Keys, one issuer, one token: the gateway's cache answers after the first request.
    let world = OneResource::new();
    let (issuer, rs_key) = (&world.issuer, &world.rs_key);
    let token = format!("Bearer {}", world.token());
    // Every path gets the same request, token included (the upstream ignores it).
    let bearers = Arc::new(vec![token]);

    let upstream = start_nginx(nginx, dir, "upstream", "", "    location / { return 200 \"ok\"; }")?;
    let proxy = start_nginx(
        nginx,
        dir,
        "proxy",
        &format!(
            "  upstream backend {{ server {}; keepalive 32; keepalive_requests 100000; }}",
            upstream.addr
        ),
        "    location / {\n      proxy_pass http://backend;\n      proxy_http_version 1.1;\n      \
         proxy_set_header Connection \"\";\n    }",
    )?;
    let upstream_url = vec!["--upstream".to_owned(), format!("http://{}", upstream.addr)];
    let gateway = start_gateway(binary, dir, "gateway", &upstream_url, rs_key, issuer.verification_keys())?;
    // nginx in front, asking forward-auth about each request (`auth_request`), as the shipped
    // example configures it.
    let forward_auth = start_gateway(binary, dir, "forward-auth", &[], rs_key, issuer.verification_keys())?;
    let auth_proxy = start_nginx(
        nginx,
        dir,
        "auth-proxy",
        &format!(
            "  upstream backend {{ server {}; keepalive 32; keepalive_requests 100000; }}\n  \
             upstream auth {{ server {}; keepalive 32; keepalive_requests 100000; }}",
            upstream.addr, forward_auth.addr
        ),
        "    location / {\n      auth_request /_jwe_mint_auth;\n      \
         auth_request_set $auth_subject $upstream_http_x_auth_subject;\n      \
         proxy_set_header X-Auth-Subject $auth_subject;\n      proxy_pass http://backend;\n      \
         proxy_http_version 1.1;\n      proxy_set_header Connection \"\";\n    }\n    \
         location = /_jwe_mint_auth {\n      internal;\n      proxy_pass http://auth;\n      \
         proxy_http_version 1.1;\n      proxy_set_header Connection \"\";\n      \
         proxy_pass_request_body off;\n      proxy_set_header Content-Length \"\";\n      \
         proxy_set_header X-Original-URI $request_uri;\n      \
         proxy_set_header X-Original-Method $request_method;\n    }",
    )?;

    let paths = [
        Route {
            name: "direct to the upstream (nginx `return 200`)",
            addr: upstream.addr,
            cpu: vec![upstream.pid],
            cpu_of: "upstream nginx",
        },
        Route { name: "nginx `proxy_pass`", addr: proxy.addr, cpu: vec![proxy.pid], cpu_of: "proxy nginx" },
        Route {
            name: "`jwe-mint gateway`",
            addr: gateway.addr,
            cpu: vec![gateway.pid],
            cpu_of: "gateway process",
        },
        Route {
            name: "nginx `auth_request` → `jwe-mint forward-auth`",
            addr: auth_proxy.addr,
            cpu: vec![auth_proxy.pid, forward_auth.pid],
            cpu_of: "that nginx + forward-auth",
        },
    ];
    let (direct, via_nginx, via_gateway, via_forward_auth) = (0, 1, 2, 3);

    let client = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let check = |what: &str, path: &Route, run: &Run| -> Result<(), String> {
        if run.all_ok() {
            Ok(())
        } else {
            Err(format!(
                "{what} via {}: {} of {} requests not answered 200",
                path.name,
                run.requests - run.latencies.len(),
                run.requests
            ))
        }
    };
    let cpu_total =
        |path: &Route| -> Result<u64, String> { path.cpu.iter().map(|&pid| cpu_ticks(pid)).sum() };

    // Warm every path: connections to the upstream, the gateway's token cache, allocators.
    for path in &paths {
        let run = client.block_on(load(path.addr, 1_000.min(requests), connections, Arc::clone(&bearers)));
        check("warm-up", path, &run)?;
    }

    let mut measured: Vec<Measured> = paths.iter().map(|_| Measured::default()).collect();
    // The paths take turns within each repeat, so a slow spell of the machine hits them alike.
    for _ in 0..REPEATS {
        for (path, m) in paths.iter().zip(&mut measured) {
            let run = client.block_on(load(path.addr, sequential, 1, Arc::clone(&bearers)));
            check("scenario (a)", path, &run)?;
            m.p50_us.push(micros(run.percentile(50.0)));
            m.p99_us.push(micros(run.percentile(99.0)));
        }
    }
    for _ in 0..REPEATS {
        for (path, m) in paths.iter().zip(&mut measured) {
            let before = cpu_total(path)?;
            let run = client.block_on(load(path.addr, requests, connections, Arc::clone(&bearers)));
            let after = cpu_total(path)?;
            check("scenario (b)", path, &run)?;
            m.per_second.push(run.per_second());
            m.cpu_us.push((after - before) as f64 / ticks / requests as f64 * 1e6);
        }
    }
    let metrics = get_status(gateway.metrics, "/metrics")?;
    if !metrics.starts_with("HTTP/1.1 200") {
        return Err(format!("the gateway's /metrics answered {metrics:?}"));
    }
    drop(client);

    // The report.
    let p50: Vec<f64> = measured.iter().map(|m| median(&m.p50_us)).collect();
    let p99: Vec<f64> = measured.iter().map(|m| median(&m.p99_us)).collect();
    let rps: Vec<f64> = measured.iter().map(|m| median(&m.per_second)).collect();
    let cpu: Vec<f64> = measured.iter().map(|m| median(&m.cpu_us)).collect();
    let added = |i: usize| p50[i] - p50[direct];
    println!();
    println!("## proxy_side_by_side: the gateway next to nginx `proxy_pass`, 127.0.0.1");
    println!();
    println!(
        "(a) 1 connection, {sequential} sequential requests; (b) {connections} keep-alive connections, \
         {requests} requests; (c) CPU of the process named, during (b), at {ticks} ticks/s. \
         Median of {REPEATS} runs each; the paths take turns."
    );
    println!();
    println!("| path | (a) p50 | (a) p99 | (a) added p50 | (b) req/s | (c) CPU per request | CPU of |");
    println!("|---|---:|---:|---:|---:|---:|---|");
    for (i, path) in paths.iter().enumerate() {
        let added = if i == direct { "—".to_owned() } else { format!("{:.0} µs", added(i)) };
        println!(
            "| {} | {:.0} µs | {:.0} µs | {added} | {:.0} | {:.1} µs | {} |",
            path.name, p50[i], p99[i], rps[i], cpu[i], path.cpu_of
        );
    }
    println!();
    let difference = added(via_gateway) - added(via_nginx);
    let cpu_ratio = cpu[via_gateway] / cpu[via_nginx];
    println!(
        "- added p50, gateway − nginx: {difference:+.0} µs (target ≤ +60 µs: {})",
        if difference <= 60.0 { "met" } else { "not met" }
    );
    println!(
        "- forward-auth behind nginx: added p50 {:+.0} µs, CPU per request {:.1} µs ({:.2}× nginx `proxy_pass` \
         alone; nginx's share included)",
        added(via_forward_auth),
        cpu[via_forward_auth],
        cpu[via_forward_auth] / cpu[via_nginx]
    );
    println!(
        "- req/s at {connections} connections, gateway / nginx: {:.2}×",
        rps[via_gateway] / rps[via_nginx]
    );
    println!(
        "- CPU per request, gateway / nginx: {cpu_ratio:.2}× (target ≤ 2×: {})",
        if cpu_ratio <= 2.0 { "met" } else { "not met" }
    );
    println!();
    println!("Runs, in order (p50 µs | req/s | CPU µs per request):");
    for (path, m) in paths.iter().zip(&measured) {
        let list = |v: &[f64]| v.iter().map(|x| format!("{x:.1}")).collect::<Vec<_>>().join(", ");
        println!("- {}: {} | {} | {}", path.name, list(&m.p50_us), list(&m.per_second), list(&m.cpu_us));
    }
    println!();
    println!(
        "Logging on: the gateway wrote {} JSON lines to its stderr file (one access-log line per \
         request); nginx's default access log wrote {} lines (proxy) and {} (upstream) to files. \
         The gateway's /metrics answered `{metrics}`. The proxy nginx and the upstream nginx are \
         separate instances: the proxy's CPU is only the proxying. The load generator shares the \
         cores with the servers; on a shared machine the figures are noisy.",
        count_lines(&gateway.log),
        count_lines(&proxy.access_log),
        count_lines(&upstream.access_log),
    );
    println!("gateway binary: {}; nginx: {}", binary.display(), nginx.display());
    println!("Command: {COMMAND}");
    Ok(())
}
