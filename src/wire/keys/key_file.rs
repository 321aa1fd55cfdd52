//! The resource server's own key file as a live [`JwkSource`]: reloaded on demand (SIGHUP) and
//! when it changes on disk; a file that cannot be read or parsed keeps the keys in use.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;

use crate::error::{Error, KeySourceError, Result};
use crate::jwk::{JwkSet, JwkSource};
use crate::wire::tracing_targets::KEY_FILE_TRACING_TARGET;

/// Largest key file read, in bytes.
const MAX_KEY_FILE: u64 = 1024 * 1024;

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
/// [`KeyFile::reload`] reads the file again; [`KeyFile::watch`] polls its metadata and reloads it
/// when it changes. A new set replaces the old one atomically (readers never block): a key added
/// opens tokens at once, a key removed stops opening them. A file that cannot be read, does not
/// parse, is empty, or holds a public or symmetric key is refused: the keys in use stay, and the
/// reason is logged (`tracing`, target [`KEY_FILE_TRACING_TARGET`]; never key material).
pub struct KeyFile {
    path: PathBuf,
    location: String,
    keys: ArcSwap<JwkSet>,
    /// The version last looked at (loaded or refused), so a broken file is reported once.
    seen: Mutex<Option<Stamp>>,
}

impl fmt::Debug for KeyFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyFile")
            .field("path", &self.path)
            .field("keys", &self.keys.load().keys().len())
            .finish()
    }
}

impl KeyFile {
    /// Reads `path` now; an unusable file is an error (nothing to keep yet).
    pub fn open(path: impl Into<PathBuf>) -> Result<KeyFile> {
        let path = path.into();
        let before = stamp(&path).ok();
        let keys = read_keys(&path)?;
        Ok(KeyFile {
            location: path.display().to_string(),
            path,
            keys: ArcSwap::from_pointee(keys),
            seen: Mutex::new(before),
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the file again and, if it is usable, swaps its keys in. On an error the keys in use
    /// stay (and the error says why, naming the file).
    pub fn reload(&self) -> Result<()> {
        let before = stamp(&self.path).ok();
        let result = read_keys(&self.path);
        if let Ok(mut seen) = self.seen.lock() {
            *seen = before;
        }
        match result {
            Ok(keys) => {
                let kids: Vec<String> = keys
                    .keys()
                    .iter()
                    .map(|k| k.kid().map_or_else(|| k.thumbprint(), str::to_owned))
                    .collect();
                self.keys.store(Arc::new(keys));
                tracing::info!(target: KEY_FILE_TRACING_TARGET, file = %self.location, kids = ?kids, "key file reloaded");
                Ok(())
            }
            Err(e) => {
                tracing::warn!(target: KEY_FILE_TRACING_TARGET, file = %self.location, error = %e,
                    "key file refused; the keys in use stay");
                Err(e)
            }
        }
    }

    /// Reloads the file if its metadata changed since it was last read (or refused). `Ok(false)`
    /// when unchanged.
    pub fn reload_if_changed(&self) -> Result<bool> {
        let now = stamp(&self.path).ok();
        let changed = match self.seen.lock() {
            Ok(seen) => *seen != now,
            Err(_) => true,
        };
        if !changed {
            return Ok(false);
        }
        self.reload().map(|()| true)
    }

    /// Polls the file's metadata every `interval` on the current tokio runtime and reloads it
    /// when it changes. The task ends when the last other reference to the `KeyFile` is gone.
    pub fn watch(self: &Arc<Self>, interval: Duration) -> tokio::task::JoinHandle<()> {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(file) = weak.upgrade() else { return };
                // Errors were logged by `reload`.
                let _ = file.reload_if_changed();
            }
        })
    }
}

impl JwkSource for KeyFile {
    fn keys(&self) -> std::result::Result<Arc<JwkSet>, KeySourceError> {
        Ok(self.keys.load_full())
    }

    fn location(&self) -> &str {
        &self.location
    }
}

/// Reads and checks a key file: a JWK or JWK Set, at most 1 MiB, with at least one usable key,
/// every one private and asymmetric.
fn read_keys(path: &Path) -> Result<JwkSet> {
    let shown = path.display();
    let fail = |msg: String| Error::invalid_key(format!("{shown}: {msg}"));
    let file = std::fs::File::open(path).map_err(|e| fail(format!("cannot read: {e}")))?;
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
