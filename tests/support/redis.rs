//! A `redis-server` of one test: loopback, a free port, persistence off, its own directory;
//! killed on drop. Shared by the library's Redis tests and the binary's fleet tests.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// A `redis-server` of this test: loopback, no persistence, its own directory; killed on drop.
pub struct Redis {
    port: u16,
    /// With TLS: the port of its TLS listener (`port` stays plain, for the start-up check).
    tls_port: Option<u16>,
    dir: PathBuf,
    child: Option<Child>,
}

impl Redis {
    pub fn start() -> Redis {
        Redis::start_with(None)
    }

    /// A server that also listens with TLS (`tls_url`), presenting `cert_pem` / `key_pem`
    /// (client certificates not asked for).
    pub fn start_tls(cert_pem: &str, key_pem: &str) -> Redis {
        Redis::start_with(Some((cert_pem, key_pem)))
    }

    fn start_with(tls: Option<(&str, &str)>) -> Redis {
        static N: AtomicUsize = AtomicUsize::new(0);
        // A free port is chosen by binding and letting go, so a concurrent test can take it in
        // between: then this server cannot bind, and another port is tried.
        for _ in 0..5 {
            let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            let dir = std::env::temp_dir().join(format!(
                "jwe-mint-redis-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::SeqCst)
            ));
            std::fs::create_dir_all(&dir).unwrap();
            let tls_port = tls.map(|(cert, key)| {
                std::fs::write(dir.join("cert.pem"), cert).unwrap();
                std::fs::write(dir.join("key.pem"), key).unwrap();
                // redis-server wants a CA file even when it asks no client for a certificate.
                std::fs::write(dir.join("ca.pem"), cert).unwrap();
                std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
            });
            let mut redis = Redis { port, tls_port, dir, child: None };
            if redis.try_run() {
                return redis;
            }
        }
        panic!("redis-server could not listen on any of 5 free ports");
    }

    /// Starts (again) on the same port, and waits until it accepts connections.
    pub fn run(&mut self) {
        assert!(self.try_run(), "redis-server did not start on port {}", self.port);
    }

    /// Starts on this port; whether this server (and not another process) answers there (its
    /// TLS port, if any, is bound before the plain one answers).
    fn try_run(&mut self) -> bool {
        let mut command = Command::new("redis-server");
        if let Some(tls_port) = self.tls_port {
            command.args(["--tls-port", &tls_port.to_string(), "--tls-auth-clients", "no"]);
            for (option, file) in [
                ("--tls-cert-file", "cert.pem"),
                ("--tls-key-file", "key.pem"),
                ("--tls-ca-cert-file", "ca.pem"),
            ] {
                command.arg(option).arg(self.dir.join(file));
            }
        }
        let child = command
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start redis-server ({e}): install it (apt-get install redis-server); CI does")
            });
        let pid = child.id();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Some(answered) = process_id_at(self.port) {
                return answered == pid;
            }
            if self.child.as_mut().unwrap().try_wait().unwrap().is_some() {
                return false; // it could not bind (the port was taken)
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops answering without closing connections (SIGSTOP), or resumes (SIGCONT).
    pub fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().unwrap().id().to_string();
        assert!(Command::new("kill").args([signal, &pid]).status().unwrap().success());
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The TLS listener's URL, for a server started with [`start_tls`](Redis::start_tls).
    pub fn tls_url(&self) -> String {
        format!("rediss://127.0.0.1:{}", self.tls_port.expect("started with TLS"))
    }
}

/// The `process_id` of the Redis server answering on `port` (`INFO server`), if one answers.
fn process_id_at(port: u16) -> Option<u32> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    stream.write_all(b"INFO server\r\n").ok()?;
    let mut text = Vec::new();
    let mut buf = [0u8; 4096];
    // The bulk reply is a few hundred bytes; read until its process_id line is in.
    while let Ok(n) = stream.read(&mut buf) {
        if n == 0 {
            break;
        }
        text.extend_from_slice(&buf[..n]);
        let reply = String::from_utf8_lossy(&text);
        if let Some(line) = reply.lines().find_map(|l| l.strip_prefix("process_id:")) {
            if reply.contains("run_id:") {
                return line.trim().parse().ok();
            }
        }
    }
    None
}

impl Drop for Redis {
    fn drop(&mut self) {
        if let Some(child) = &self.child {
            let _ = Command::new("kill").args(["-CONT", &child.id().to_string()]).status();
        }
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
