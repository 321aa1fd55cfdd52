//! The resource server's own key file as a live [`JwkSource`]: reloaded on demand (SIGHUP) and
//! when it changes on disk; a file that cannot be read or parsed keeps the keys in use.
//!
//! While serving, the file is looked at (stat and read) only on one reader thread of its own: a
//! read can block for as long as the file system wants (a FIFO put in the file's place, a hung
//! NFS or FUSE mount), and a tokio worker blocked in it would stop every request, and a
//! `spawn_blocking` per poll would fill the blocking pool that DNS lookups share. Async code only
//! asks that thread (flags under a mutex held for a few assignments) and never waits for it.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError, Weak};
use std::time::{Duration, Instant, SystemTime};

use arc_swap::ArcSwap;

use crate::error::{Error, KeySourceError, Result};
use crate::jwk::{Freshness, JwkSet, JwkSource};
use crate::wire::tracing_targets::KEY_FILE_TRACING_TARGET;

/// Largest key file read, in bytes.
const MAX_KEY_FILE: u64 = 1024 * 1024;

/// How long a look at the file may take before a request that finds it still running says so.
const SLOW_READ: Duration = Duration::from_secs(5);

/// What identifies one version of the file on disk: a rename over it changes the inode, an
/// in-place write the modification time or the length.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
    #[cfg(unix)]
    inode: (u64, u64),
    #[cfg(unix)]
    changed: (i64, i64),
}

fn stamp(path: &Path) -> std::io::Result<Stamp> {
    let m = std::fs::metadata(path)?;
    #[cfg(unix)]
    use std::os::unix::fs::MetadataExt;
    Ok(Stamp {
        modified: m.modified().ok(),
        len: m.len(),
        #[cfg(unix)]
        inode: (m.dev(), m.ino()),
        #[cfg(unix)]
        changed: (m.ctime(), m.ctime_nsec()),
    })
}

/// A JWK or JWK Set file of private decryption keys, as a [`JwkSource`] for
/// [`ResourceServerBuilder::decryption_key_source`](crate::resource_server::ResourceServerBuilder::decryption_key_source).
///
/// [`KeyFile::request_reload`] (what a SIGHUP handler calls) and [`KeyFile::watch`] (a poll of
/// the file's metadata) only ask the key file's reader thread to read it: they never block, so a
/// file that blocks its reader (a FIFO, a hung network mount) never stops a request. A new set
/// replaces the old one atomically (readers never block): a key added opens tokens at once, a key
/// removed stops opening them. A file that cannot be read, is not a regular file (after
/// following symlinks), does not parse, is empty, or holds a public or symmetric key is refused:
/// the keys in use stay, and the reason is logged (`tracing`, target [`KEY_FILE_TRACING_TARGET`];
/// never key material), once per version of the file.
///
/// The reader thread starts at the first request and ends when the `KeyFile` is dropped, or, if
/// it is blocked in a read then, when that read returns: a blocked read cannot be interrupted, so
/// a file that never answers keeps that one thread (and nothing else) until the process ends.
pub struct KeyFile {
    state: Arc<State>,
    reader: OnceLock<Arc<Asks>>,
}

/// What the `KeyFile` and its reader thread share.
struct State {
    path: PathBuf,
    location: String,
    keys: ArcSwap<JwkSet>,
    /// The version last looked at (loaded or refused), so a broken file is reported once.
    seen: Mutex<Option<Stamp>>,
    /// Loads (the first included) and refused reloads, and when the keys in use were read: what
    /// [`JwkSource::freshness`] reports.
    loads: AtomicU64,
    refusals: AtomicU64,
    loaded_at: Mutex<Instant>,
}

/// The requests to the reader thread, and what it is doing.
#[derive(Default)]
struct Asks {
    pending: Mutex<Pending>,
    wake: Condvar,
}

#[derive(Default)]
struct Pending {
    /// Reload if the metadata changed (a poll).
    check: bool,
    /// Reload whatever the metadata says (SIGHUP).
    reload: bool,
    /// The `KeyFile` is gone.
    stop: bool,
    /// Since when the thread has been looking at the file, if it is.
    busy_since: Option<Instant>,
    /// The current look was reported as slow.
    slow_reported: bool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl fmt::Debug for KeyFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyFile")
            .field("path", &self.state.path)
            .field("keys", &self.state.keys.load().keys().len())
            .finish()
    }
}

impl Drop for KeyFile {
    fn drop(&mut self) {
        if let Some(asks) = self.reader.get() {
            lock(&asks.pending).stop = true;
            asks.wake.notify_all();
        }
    }
}

impl KeyFile {
    /// Reads `path` now, on the calling thread; an unusable file (not a regular file after
    /// following symlinks, unreadable, unparsable, no usable private key) is an error (nothing to
    /// keep yet).
    pub fn open(path: impl Into<PathBuf>) -> Result<KeyFile> {
        let path = path.into();
        let before = stamp(&path).ok();
        let keys = read_keys(&path)?;
        Ok(KeyFile {
            state: Arc::new(State {
                location: path.display().to_string(),
                path,
                keys: ArcSwap::from_pointee(keys),
                seen: Mutex::new(before),
                loads: AtomicU64::new(1),
                refusals: AtomicU64::new(0),
                loaded_at: Mutex::new(Instant::now()),
            }),
            reader: OnceLock::new(),
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.state.path
    }

    /// Reads the file again, on the calling thread, and, if it is usable, swaps its keys in. On an
    /// error the keys in use stay (and the error says why, naming the file).
    ///
    /// This waits for the file system; from async code (a signal handler task) call
    /// [`KeyFile::request_reload`], which never blocks.
    pub fn reload(&self) -> Result<()> {
        self.state.reload()
    }

    /// Reloads the file, on the calling thread, if its metadata changed since it was last read
    /// (or refused). `Ok(false)` when unchanged. Waits for the file system, as
    /// [`KeyFile::reload`] does.
    pub fn reload_if_changed(&self) -> Result<bool> {
        self.state.reload_if_changed()
    }

    /// Asks the reader thread to read the file again, as [`KeyFile::reload`] does, and returns
    /// at once: what a SIGHUP handler calls. The outcome is logged; requests made while a read is
    /// running are merged into one read after it.
    pub fn request_reload(&self) {
        self.ask(|p| p.reload = true);
    }

    /// Asks the reader thread to reload the file if its metadata changed; returns at once.
    fn request_check(&self) {
        self.ask(|p| p.check = true);
    }

    fn ask(&self, set: impl FnOnce(&mut Pending)) {
        let Some(asks) = self.reader() else { return };
        let mut pending = lock(&asks.pending);
        set(&mut pending);
        if let Some(since) = pending.busy_since {
            let busy = since.elapsed();
            if busy >= SLOW_READ && !pending.slow_reported {
                pending.slow_reported = true;
                tracing::warn!(target: KEY_FILE_TRACING_TARGET, file = %self.state.location, busy_s = busy.as_secs(),
                    "key file read still blocked; the keys in use stay");
            }
        }
        drop(pending);
        asks.wake.notify_one();
    }

    /// The reader thread's requests, the thread started on first use. `None` (logged) when no
    /// thread can be started: the keys in use stay, and the next request tries again.
    fn reader(&self) -> Option<&Arc<Asks>> {
        if let Some(asks) = self.reader.get() {
            return Some(asks);
        }
        let asks = Arc::new(Asks::default());
        let (thread_asks, state) = (Arc::clone(&asks), Arc::downgrade(&self.state));
        let spawned = std::thread::Builder::new()
            .name("jwe-mint key file".into())
            .spawn(move || read_on_request(&thread_asks, &state));
        if let Err(e) = spawned {
            tracing::error!(target: KEY_FILE_TRACING_TARGET, file = %self.state.location, error = %e,
                "cannot start the key file's reader thread; the keys in use stay");
            return None;
        }
        // Two callers may race to start it: the loser stops the thread it started.
        if self.reader.set(Arc::clone(&asks)).is_err() {
            lock(&asks.pending).stop = true;
            asks.wake.notify_all();
        }
        self.reader.get()
    }

    /// Polls the file's metadata every `interval` on the current tokio runtime and reloads it
    /// when it changes; the look at the file is the reader thread's, never the runtime's. The
    /// task ends when the last other reference to the `KeyFile` is gone.
    pub fn watch(self: &Arc<Self>, interval: Duration) -> tokio::task::JoinHandle<()> {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(file) = weak.upgrade() else { return };
                file.request_check();
            }
        })
    }
}

/// The reader thread: waits for a request, looks at the file, again, until the `KeyFile` is
/// gone. One look at a time, so a file that blocks holds this thread and nothing more.
fn read_on_request(asks: &Asks, state: &Weak<State>) {
    loop {
        let (check, reload) = {
            let mut pending = lock(&asks.pending);
            pending.busy_since = None;
            pending.slow_reported = false;
            while !(pending.stop || pending.check || pending.reload) {
                pending = asks.wake.wait(pending).unwrap_or_else(PoisonError::into_inner);
            }
            if pending.stop {
                return;
            }
            pending.busy_since = Some(Instant::now());
            (std::mem::take(&mut pending.check), std::mem::take(&mut pending.reload))
        };
        let Some(state) = state.upgrade() else { return };
        // Both outcomes are logged by `State::reload`.
        if reload {
            let _ = state.reload();
        } else if check {
            let _ = state.reload_if_changed();
        }
    }
}

impl State {
    fn reload(&self) -> Result<()> {
        let before = stamp(&self.path).ok();
        let result = read_keys(&self.path);
        *lock(&self.seen) = before;
        match result {
            Ok(keys) => {
                let kids: Vec<String> = keys
                    .keys()
                    .iter()
                    .map(|k| k.kid().map_or_else(|| k.thumbprint(), str::to_owned))
                    .collect();
                self.keys.store(Arc::new(keys));
                *lock(&self.loaded_at) = Instant::now();
                self.loads.fetch_add(1, Ordering::Relaxed);
                tracing::info!(target: KEY_FILE_TRACING_TARGET, file = %self.location, kids = ?kids, "key file reloaded");
                Ok(())
            }
            Err(e) => {
                self.refusals.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(target: KEY_FILE_TRACING_TARGET, file = %self.location, error = %e,
                    "key file refused; the keys in use stay");
                Err(e)
            }
        }
    }

    fn reload_if_changed(&self) -> Result<bool> {
        let now = stamp(&self.path).ok();
        if *lock(&self.seen) == now {
            return Ok(false);
        }
        self.reload().map(|()| true)
    }
}

impl JwkSource for KeyFile {
    fn keys(&self) -> std::result::Result<Arc<JwkSet>, KeySourceError> {
        Ok(self.state.keys.load_full())
    }

    fn location(&self) -> &str {
        &self.state.location
    }

    /// Loads (the first included) and refused reloads; the age of the keys in use is the time
    /// since they were read (a file that did not change is not read again).
    fn freshness(&self) -> Option<Freshness> {
        let age = lock(&self.state.loaded_at).elapsed();
        let state = &self.state;
        Some(Freshness::new(age, state.loads.load(Ordering::Relaxed), state.refusals.load(Ordering::Relaxed)))
    }
}

/// What a file that is not a regular one is, for the error.
fn kind(file_type: std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if file_type.is_fifo() {
            return "a FIFO";
        }
        if file_type.is_socket() {
            return "a socket";
        }
        if file_type.is_block_device() || file_type.is_char_device() {
            return "a device";
        }
    }
    if file_type.is_dir() {
        "a directory"
    } else {
        "not a regular file"
    }
}

/// Reads and checks a key file: a regular file (symlinks followed), a JWK or JWK Set, at most
/// 1 MiB, with at least one usable key, every one private and asymmetric.
fn read_keys(path: &Path) -> Result<JwkSet> {
    let shown = path.display();
    let fail = |msg: String| Error::invalid_key(format!("{shown}: {msg}"));
    let not_regular =
        |t: std::fs::FileType| fail(format!("{} is not a key file; a regular file is expected", kind(t)));
    // Looked at before opening: opening a FIFO for reading waits for a writer.
    let meta = std::fs::metadata(path).map_err(|e| fail(format!("cannot read: {e}")))?;
    if !meta.is_file() {
        return Err(not_regular(meta.file_type()));
    }
    let file = std::fs::File::open(path).map_err(|e| fail(format!("cannot read: {e}")))?;
    // Swapped between the look and the open: refused all the same (that open may have waited,
    // on the reader thread or at startup, never on a runtime worker).
    let meta = file.metadata().map_err(|e| fail(format!("cannot read: {e}")))?;
    if !meta.is_file() {
        return Err(not_regular(meta.file_type()));
    }
    let mut bytes = Vec::new();
    file.take(MAX_KEY_FILE + 1).read_to_end(&mut bytes).map_err(|e| fail(format!("cannot read: {e}")))?;
    if bytes.len() as u64 > MAX_KEY_FILE {
        return Err(fail(format!("larger than {MAX_KEY_FILE} bytes")));
    }
    let text = std::str::from_utf8(&bytes).map_err(|_| fail("not UTF-8 text".into()))?;
    let keys = JwkSet::from_json_key_or_set(text).map_err(|e| fail(e.to_string()))?;
    for skipped in keys.skipped() {
        tracing::warn!(target: KEY_FILE_TRACING_TARGET, file = %shown, "skipped: {skipped}");
    }
    if keys.keys().is_empty() {
        return Err(fail("holds no usable key".into()));
    }
    if keys.keys().iter().any(|k| !k.is_private() || k.is_symmetric()) {
        return Err(fail(
            "holds a public or symmetric key; a resource server decrypts with its private keys".into(),
        ));
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwk::{Curve, Jwk};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::mpsc;

    fn temp_dir(name: &str) -> PathBuf {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "jwe-mint-key-file-{name}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn write_key(path: &Path) -> Jwk {
        let key = Jwk::generate(Curve::P256).unwrap();
        std::fs::write(path, JwkSet::new(vec![key.clone()]).to_private_json()).unwrap();
        key
    }

    fn mkfifo(path: &Path) {
        let status = std::process::Command::new("mkfifo").arg(path).status().unwrap();
        assert!(status.success(), "mkfifo failed");
    }

    /// `KeyFile::open(path)` on another thread, bounded: a FIFO must be refused, not waited on.
    fn open_bounded(path: &Path) -> Result<KeyFile> {
        let (tx, rx) = mpsc::channel();
        let path = path.to_path_buf();
        std::thread::spawn(move || {
            let _ = tx.send(KeyFile::open(path));
        });
        rx.recv_timeout(Duration::from_secs(5)).expect("KeyFile::open blocked")
    }

    #[test]
    fn open_refuses_anything_but_a_regular_file() {
        let dir = temp_dir("kinds");
        let e = open_bounded(&dir).unwrap_err().to_string();
        assert!(e.contains("a directory is not a key file"), "{e}");

        let fifo = dir.join("fifo");
        mkfifo(&fifo);
        let e = open_bounded(&fifo).unwrap_err().to_string();
        assert!(e.contains("a FIFO is not a key file"), "{e}");

        // Symlinks are followed: to a FIFO refused, to a regular file read.
        #[cfg(unix)]
        {
            let link = dir.join("link");
            std::os::unix::fs::symlink(&fifo, &link).unwrap();
            let e = open_bounded(&link).unwrap_err().to_string();
            assert!(e.contains("a FIFO is not a key file"), "{e}");
            let real = dir.join("rs.json");
            write_key(&real);
            let good = dir.join("good-link");
            std::os::unix::fs::symlink(&real, &good).unwrap();
            assert_eq!(open_bounded(&good).unwrap().keys().unwrap().keys().len(), 1);
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn reader_threads() -> usize {
        // The kernel keeps 15 bytes of a thread's name.
        let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return 0 };
        tasks
            .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
            .filter(|name| name.starts_with("jwe-mint key fi"))
            .count()
    }

    #[test]
    fn a_reload_request_never_blocks_and_the_reader_thread_ends_with_the_key_file() {
        let dir = temp_dir("reader");
        let path = dir.join("rs.json");
        let first = write_key(&path);
        let file = KeyFile::open(&path).unwrap();
        assert_eq!(file.keys().unwrap().keys()[0].thumbprint(), first.thumbprint());

        // A FIFO in its place: the request returns at once, the keys stay.
        std::fs::remove_file(&path).unwrap();
        mkfifo(&path);
        let asked = Instant::now();
        file.request_reload();
        file.request_check();
        assert!(asked.elapsed() < Duration::from_secs(1));
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(file.keys().unwrap().keys()[0].thumbprint(), first.thumbprint());
        assert!(file.reload().is_err(), "a FIFO is refused");

        // A good file again: the next request loads it.
        std::fs::remove_file(&path).unwrap();
        let second = write_key(&path);
        file.request_reload();
        let deadline = Instant::now() + Duration::from_secs(10);
        while file.keys().unwrap().keys()[0].thumbprint() != second.thumbprint() {
            assert!(Instant::now() < deadline, "the reload request was never served");
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(reader_threads() >= 1);
        drop(file);
        let deadline = Instant::now() + Duration::from_secs(10);
        while reader_threads() > 0 {
            assert!(Instant::now() < deadline, "the reader thread outlived its KeyFile");
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
