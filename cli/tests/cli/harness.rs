//! Shared harness for the tests that drive the `jwe-mint` binary (`tests/cli.rs`,
//! `tests/cli_tokens.rs`): temporary directories, running the binary with stdin, and assertions
//! on its exit code and output.
#![allow(dead_code)] // each test crate uses a different subset

use std::io::Write;
use std::path::PathBuf;
use std::process::{ChildStderr, Command, Stdio};
use std::sync::{Arc, Mutex};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_jwe-mint");

/// Everything a server process writes to `stderr`, collected on a thread of its own so that the
/// process never blocks on a full pipe (as an operator's log collector would read it).
pub fn drain(mut stderr: ChildStderr) -> Arc<Mutex<String>> {
    let text = Arc::new(Mutex::new(String::new()));
    let log = Arc::clone(&text);
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = std::io::Read::read(&mut stderr, &mut buf) {
            if n == 0 {
                break;
            }
            log.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    text
}

/// A temporary directory, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "jwe-mint-{}-{}-{name}",
            env!("CARGO_CRATE_NAME"),
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    pub fn path(&self, name: &str) -> String {
        self.file(name).to_str().unwrap().to_owned()
    }

    /// Writes `text` to `name` and returns its path as a string.
    pub fn write(&self, name: &str, text: &[u8]) -> String {
        let p = self.path(name);
        std::fs::write(&p, text).unwrap();
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What one run of the binary produced.
pub struct Out {
    pub code: i32,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl Out {
    pub fn text(&self) -> String {
        String::from_utf8(self.stdout.clone()).unwrap()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.stdout).unwrap()
    }

    #[track_caller]
    pub fn ok(self) -> Out {
        assert_eq!(self.code, 0, "expected success, stderr: {}", self.stderr);
        self
    }

    /// Exit 1, nothing on stdout, exactly one stderr line (no panic); returns the line.
    #[track_caller]
    pub fn failed(self) -> String {
        assert_eq!(self.code, 1, "expected exit 1, stderr: {}", self.stderr);
        assert!(self.stdout.is_empty(), "nothing on stdout when rejected");
        assert_eq!(self.stderr.lines().count(), 1, "one stderr line: {:?}", self.stderr);
        assert!(self.stderr.ends_with('\n'));
        assert!(!self.stderr.contains("panicked"));
        self.stderr.trim_end().to_owned()
    }

    /// Like [`Out::failed`], and the line is `jwe-mint: …`.
    #[track_caller]
    pub fn rejected(self) -> String {
        let line = self.failed();
        assert!(line.starts_with("jwe-mint: "), "{line:?}");
        line
    }

    #[track_caller]
    pub fn usage_error(self) {
        assert_eq!(self.code, 2, "expected exit 2, stderr: {}", self.stderr);
        assert!(self.stdout.is_empty());
        assert!(!self.stderr.is_empty());
        assert!(!self.stderr.contains("panicked"));
    }
}

/// Runs the binary with `args`, feeding `stdin`.
pub fn run(args: &[&str], stdin: &[u8]) -> Out {
    let mut cmd = Command::new(BIN);
    cmd.args(args);
    run_command(cmd, Stdio::piped(), stdin)
}

/// Runs the binary with stdout closed, as `jwe-mint ARGS >&-` does in a shell (through `sh`:
/// `std::process` cannot start a child with a closed descriptor).
pub fn run_stdout_closed(args: &[&str], stdin: &[u8]) -> Out {
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg("exec \"$0\" \"$@\" >&-").arg(BIN).args(args);
    run_command(cmd, Stdio::piped(), stdin)
}

/// Runs the binary with stdout opened write-only on `path` (e.g. `/dev/full`, `/dev/null`), as
/// `jwe-mint ARGS >PATH` does in a shell.
pub fn run_stdout_to(args: &[&str], stdin: &[u8], path: &str) -> Out {
    let file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    let mut cmd = Command::new(BIN);
    cmd.args(args);
    run_command(cmd, Stdio::from(file), stdin)
}

fn run_command(mut cmd: Command, stdout: Stdio, stdin: &[u8]) -> Out {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(stdout)
        .stderr(Stdio::piped())
        .env("RUST_BACKTRACE", "1")
        .spawn()
        .unwrap();
    let mut pipe = child.stdin.take().unwrap();
    let input = stdin.to_vec();
    // A separate thread so a child that stops reading early cannot deadlock the test.
    let writer = std::thread::spawn(move || {
        let _ = pipe.write_all(&input);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    Out {
        code: out.status.code().expect("exited normally, not by a signal"),
        stdout: out.stdout,
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}
