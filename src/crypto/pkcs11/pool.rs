//! A key's pool of sessions and how an operation runs on one: a session of the current epoch
//! (else a new one, logged in), the key's object handle for that epoch, and, when the session's
//! state made the operation fail, one recovery on a fresh session before the failure is reported.
//! Which failures are reported (`KeyError::Unavailable`) and which stay opaque is decided here.

use cryptoki::context::Function;
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::object::ObjectHandle;
use cryptoki::session::{Session, SessionState};

use super::key::{only_one, private_template, TokenKey};
use super::login::{login, login_error, Login};
use super::session::HeldSession;
use super::{is_lost, is_session_lost, is_unavailable, rv, rv_name};
use crate::crypto::keys::{KeyError, KeyResult};

/// Sessions kept idle per key; more are opened under load and closed when returned.
const MAX_IDLE_SESSIONS: usize = 16;

/// Why an operation through a session failed.
enum Failure {
    /// The token answered with an error.
    Token(CkError),
    /// The key could not be found again (removed, or made ambiguous).
    Key(KeyError),
}

impl TokenKey {
    pub(super) fn unavailable(&self, op: &str, e: &CkError) -> KeyError {
        KeyError::Unavailable(format!("{}: {op} failed: {}", self.0.uri, rv_name(e)))
    }

    /// A new pool session, logged in. A session lost at once (the module lost its sessions
    /// again, or gave its number a new epoch) is replaced, a few times at most.
    fn open_session(&self) -> KeyResult<HeldSession> {
        for _ in 0..3 {
            let s = self.0.module.open(self.0.slot, false).map_err(|e| {
                KeyError::Unavailable(format!("{}: cannot open a session: {}", self.0.uri, rv_name(&e)))
            })?;
            match self.0.module.call(&s, |session| login(session, &self.0.login)) {
                Some(Ok(())) => return Ok(s),
                Some(Err(e)) if is_lost(&e) => self.0.module.lost(s),
                Some(Err(e)) => {
                    self.0.module.close(s);
                    return Err(KeyError::Unavailable(login_error(&self.0.uri, &e)));
                }
                None => {}
            }
        }
        Err(KeyError::Unavailable(format!("{}: the token keeps losing its sessions", self.0.uri)))
    }

    /// An idle session of the current epoch (stale ones are forgotten on the way), else a new one.
    fn take_session(&self) -> KeyResult<HeldSession> {
        loop {
            let pooled = self.0.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
            match pooled {
                Some(s) if self.0.module.is_current(&s) => return Ok(s),
                Some(_stale) => {}
                None => return self.open_session(),
            }
        }
    }

    fn give_back(&self, s: HeldSession) {
        if !self.0.module.is_current(&s) {
            return;
        }
        let mut idle = self.0.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < MAX_IDLE_SESSIONS {
            idle.push(s);
        } else {
            drop(idle);
            self.0.module.close(s);
        }
    }

    /// Takes a session out of use after its state caused a failure: if the module said it does
    /// not exist, its epoch is over ([`Module::lost`](super::session::Module::lost)); else it is
    /// closed if still ours (an operation may be left active in it).
    fn retire(&self, s: HeldSession, lost: bool) {
        if lost {
            self.0.module.lost(s);
        } else {
            self.0.module.close(s);
        }
    }

    /// Whether the user is still logged in to the token through `s` (a key on a token that
    /// needs no login is never logged in by us, so its login state says nothing).
    fn logged_in(&self, s: &Session) -> bool {
        matches!(self.0.login, Login::None)
            || s.get_session_info()
                .is_ok_and(|i| matches!(i.session_state(), SessionState::RoUser | SessionState::RwUser))
    }

    /// The key's object handle for a session of `epoch`, called within
    /// [`Module::call`](super::session::Module::call) (so the epoch stays current while the
    /// handle is stored): the cached one if it was looked up in that epoch (PKCS#11 v2.40 §2.5:
    /// a token object's handle is the same in every session of the application), else looked up
    /// again through `s`.
    fn handle_in(&self, s: &Session, epoch: u64) -> Result<ObjectHandle, Failure> {
        let mut cached = self.0.handle.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((e, h)) = *cached {
            if e == epoch {
                return Ok(h);
            }
        }
        let uri = &self.0.uri;
        let found = s.find_objects(&private_template(uri)).map_err(Failure::Token)?;
        if found.is_empty() && !self.logged_in(s) {
            // Private objects are invisible without a login (PKCS#11 v2.40 §4.4): the login is
            // what is missing, to be put right like any other loss of it.
            return Err(Failure::Token(CkError::Pkcs11(RvError::UserNotLoggedIn, Function::FindObjects)));
        }
        let h = only_one(uri, found, "private key")
            .map_err(|e| Failure::Key(KeyError::Unavailable(e.to_string())))?;
        *cached = Some((epoch, h));
        Ok(h)
    }

    /// Puts things right after an operation failed because of the session's state rather than
    /// the input: a fresh session, logged in (login state is per token, so one login serves
    /// every session of the key), takes the place of the old one, and the key's object handle is
    /// looked up again on next use (it changes when the token is re-inserted). A live old
    /// session is closed after the fresh one is open, so that closing it never ends the login;
    /// a lost one is forgotten.
    fn recover(&self, old: HeldSession, lost: bool) -> KeyResult<HeldSession> {
        *self.0.handle.lock().unwrap_or_else(|p| p.into_inner()) = None;
        if lost {
            self.0.module.lost(old);
            return self.open_session();
        }
        let fresh = self.open_session();
        self.0.module.close(old);
        fresh
    }

    /// Runs `f` with a pooled session and the key's object handle ([`TokenKey::handle_in`]),
    /// within [`Module::call`](super::session::Module::call). An error caused by the session's
    /// state (lost session, lost login, stale handle, an operation left active) is put right once
    /// ([`TokenKey::recover`]) and `f` retried; if it happens again it is reported.
    ///
    /// `input_free`: the token's answer cannot depend on an attacker's input (signing, and ECDH
    /// with a peer point validated on the host), so any failure is retried once and then
    /// reported with the return value's name. Otherwise (RSA decryption) a failure while the
    /// session is fine stays opaque and is never retried: a retry, or a message, would tell bad
    /// padding apart. `classify` picks out errors that get a message of their own.
    pub(super) fn run<T>(
        &self,
        op: &str,
        input_free: bool,
        f: impl Fn(&Session, ObjectHandle) -> Result<T, CkError>,
        classify: impl Fn(&CkError) -> Option<KeyError>,
    ) -> KeyResult<T> {
        let mut session = self.take_session()?;
        let mut recovered = false;
        // Sessions found stale at the call: each was forgotten unused (its number may be another
        // session's by now). Bounded, for a module that keeps losing sessions.
        let mut skipped = 0;
        loop {
            let epoch = session.epoch();
            let attempt = self.0.module.call(&session, |s| {
                let handle = self.handle_in(s, epoch)?;
                f(s, handle).map_err(Failure::Token)
            });
            let e = match attempt {
                Some(Ok(v)) => {
                    self.give_back(session);
                    return Ok(v);
                }
                Some(Err(Failure::Token(e))) => e,
                Some(Err(Failure::Key(k))) => {
                    self.give_back(session);
                    return Err(k);
                }
                None if skipped < 3 => {
                    skipped += 1;
                    session = self.take_session()?;
                    continue;
                }
                None => {
                    return Err(KeyError::Unavailable(format!(
                        "{}: {op} failed: the token keeps losing its sessions",
                        self.0.uri
                    )))
                }
            };
            // SoftHSM answers CKR_GENERAL_ERROR when the login goes while it uses the key, and
            // may leave an operation active after a failed call: the session's state, not the
            // input's. The login check runs on every failure alike. An opaque failure (a
            // decryption that fails on its input) ends its operation (PKCS#11 v2.40 §5.2) and
            // leaves the session as good as before: it goes back to the pool, so that bad
            // tokens never cost a new session or a login.
            let configured = is_unavailable(&e) || classify(&e).is_some();
            let lost = is_lost(&e);
            // `is_session_lost` includes `is_lost`.
            let state = rv(&e) == Some(RvError::OperationActive) || is_session_lost(&e);
            let logged_in = self.0.module.call(&session, |s| self.logged_in(s));
            if logged_in.is_none() && !input_free && !state && !configured {
                // The session's epoch ended after the decryption failed: it is forgotten, and
                // the failure, which may be the input's, is not retried.
                return Err(KeyError::Opaque);
            }
            let stale = state || (input_free && !configured) || logged_in != Some(true);
            if stale && !recovered {
                recovered = true;
                session = self.recover(session, lost)?;
                continue;
            }
            if stale {
                self.retire(session, lost);
                return Err(self.unavailable(op, &e));
            }
            // The token refused the request itself (C_*Init): no operation is left active.
            if let Some(k) = classify(&e) {
                self.give_back(session);
                return Err(k);
            }
            if configured {
                self.give_back(session);
                return Err(self.unavailable(op, &e));
            }
            self.give_back(session);
            return Err(KeyError::Opaque);
        }
    }
}
