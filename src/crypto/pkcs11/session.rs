//! The sessions this process holds through a module, and whether their handles are still ours.
//!
//! A module numbers sessions itself and may give a number again once the session that had it is
//! gone (SoftHSM 2 numbers sessions and objects with one counter that starts from 1 again after
//! C_Initialize). Sessions can be lost without our knowing:
//! another part of the process calls C_Finalize, the token is removed and re-inserted. A handle
//! we still hold may then come back as another session, ours or someone else's, and closing it,
//! or only asking C_GetSessionInfo about it, would hit that other session (closing the last
//! session of a token also logs it out). So every session is opened and closed through one
//! [`Module`] per library path, which keeps the set of handles this process holds and an epoch:
//!
//! - a session is stamped with the epoch it was opened in;
//! - the epoch moves on when the module says a session we hold does not exist
//!   (CKR_SESSION_HANDLE_INVALID, CKR_SESSION_CLOSED), or hands out a handle we hold: its sessions
//!   are lost together (PKCS#11 v2.40 §5.6: C_CloseAllSessions, C_Finalize, token removal);
//! - a session from an earlier epoch is never used again, never closed and never asked about:
//!   it is forgotten. The epoch is the module's, not a slot's: a loss on one slot also makes the
//!   keys on the module's other slots forget their live sessions (at most the 16 idle ones of
//!   each key, plus those in use, per loss), which stay open until the process ends, rather
//!   than risk closing a stranger's.
//!
//! Opening, closing and ending an epoch take the book's write lock; every call into a session
//! ([`Module::call`]) holds its read lock and checks the session's epoch first. So no session is
//! closed by its old number while the module gives that number to a new one, and no thread calls
//! into a session by a number the module has given to another thread's session since (two threads
//! in one session at once can crash a module: SoftHSM 2 does).

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{RwLock, RwLockWriteGuard};

use cryptoki::context::Pkcs11;
use cryptoki::error::Error as CkError;
use cryptoki::session::Session;
use cryptoki::slot::Slot;
use cryptoki_sys::CK_SESSION_HANDLE;

/// A loaded module and the sessions this process holds through it.
pub(super) struct Module {
    pub(super) ctx: Pkcs11,
    held: RwLock<HashSet<CK_SESSION_HANDLE>>,
    /// Changed only with `held` write-locked; read without the lock to tell a stale session early.
    epoch: AtomicU64,
}

/// A session opened through a [`Module`], stamped with the epoch it was opened in. Dropping it
/// never closes it: [`Module::close`] does, if it is still ours.
pub(super) struct HeldSession {
    session: Session,
    epoch: u64,
}

impl HeldSession {
    /// The epoch the session was opened in.
    pub(super) fn epoch(&self) -> u64 {
        self.epoch
    }
}

impl Module {
    pub(super) fn new(ctx: Pkcs11) -> Module {
        Module { ctx, held: RwLock::new(HashSet::new()), epoch: AtomicU64::new(0) }
    }

    fn write(&self) -> RwLockWriteGuard<'_, HashSet<CK_SESSION_HANDLE>> {
        self.held.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Calls `f` with the session if it is still ours, else `None` (the caller forgets it).
    pub(super) fn call<R>(&self, s: &HeldSession, f: impl FnOnce(&Session) -> R) -> Option<R> {
        let _held = self.held.read().unwrap_or_else(|p| p.into_inner());
        self.is_current(s).then(|| f(&s.session))
    }

    /// Opens a session (read-only unless `rw`). A handle the module gives out while we hold it
    /// means every session we hold is gone: the epoch moves on.
    pub(super) fn open(&self, slot: Slot, rw: bool) -> Result<HeldSession, CkError> {
        let mut held = self.write();
        let session =
            if rw { self.ctx.open_rw_session_no_drop(slot) } else { self.ctx.open_ro_session_no_drop(slot) }?;
        if !held.insert(session.handle()) {
            self.end_epoch(&mut held);
            held.insert(session.handle());
        }
        Ok(HeldSession { session, epoch: self.epoch.load(Ordering::Acquire) })
    }

    /// Whether the session was opened since the last loss the process knows of. A stale one is
    /// to be dropped (never closed: its number may be another session's now).
    pub(super) fn is_current(&self, s: &HeldSession) -> bool {
        s.epoch == self.epoch.load(Ordering::Acquire)
    }

    /// Closes a session that is still ours; forgets one from an earlier epoch.
    pub(super) fn close(&self, s: HeldSession) {
        let mut held = self.write();
        if s.epoch == self.epoch.load(Ordering::Acquire) {
            held.remove(&s.session.handle());
            let _ = s.session.close();
        }
    }

    /// The module answered that this session does not exist: every session of its epoch is
    /// taken as lost (they are lost together), and the session is forgotten.
    pub(super) fn lost(&self, s: HeldSession) {
        let mut held = self.write();
        if s.epoch == self.epoch.load(Ordering::Acquire) {
            self.end_epoch(&mut held);
        }
    }

    /// Every session held so far is taken as lost: none of their numbers is ours any more.
    fn end_epoch(&self, held: &mut HashSet<CK_SESSION_HANDLE>) {
        held.clear();
        self.epoch.fetch_add(1, Ordering::AcqRel);
    }
}
