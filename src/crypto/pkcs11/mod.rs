//! Private keys inside a PKCS#11 token (feature `pkcs11`, through `cryptoki`).
//!
//! A [`TokenKey`] is a handle: the private key never leaves the token. Signing hashes on the host
//! and lets the token sign the digest (CKM_ECDSA, CKM_RSA_PKCS_PSS) or the message (CKM_EDDSA,
//! CKM_SHA256_RSA_PKCS); ECDH-ES derives Z inside the token (CKM_ECDH1_DERIVE, CKD_NULL) into a
//! short-lived session object that is read and destroyed, and the Concat KDF and key unwrap run on
//! the host as for in-memory keys; RSA-OAEP decrypts inside the token (CKM_RSA_PKCS_OAEP).
//!
//! One loaded module per library path for the whole process (PKCS#11 v2.40 §5.4: C_Initialize
//! once), a pool of sessions per key shared by all threads (a `Session` is used by one thread at a
//! time), and a lost session (token re-inserted, session closed, login state lost) is reopened
//! once before an error is reported. Sessions are opened and closed through the module's book of
//! held handles ([`session`]), because a module may give a lost session's number to a new one.
//! See ARCHITECTURE.md, "Keys in an HSM".

mod session;
pub(crate) mod uri;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Function, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
use cryptoki::mechanism::elliptic_curve::{EcKdf, Ecdh1DeriveParams};
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsOaepParams, PkcsOaepSource, PkcsPssParams};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, SessionState, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use zeroize::Zeroizing;

use super::keys::{KeyError, KeyResult, MIN_RSA_BITS};
use super::{CryptoProvider, EcCurve, Provider as P, RsaSignature, Sha};
use crate::error::{Error, Result};
use session::{HeldSession, Module};
pub(crate) use uri::Pkcs11Uri;

/// Sessions kept idle per key; more are opened under load and closed when returned.
const MAX_IDLE_SESSIONS: usize = 16;

/// The module search path when neither the URI nor the caller names one: the Debian/Ubuntu
/// SoftHSM2 location, then `PKCS11_MODULE` from the environment wins over it.
const DEFAULT_MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";

/// `CKA_EC_PARAMS` (DER) of the curves a token key may use.
const OID_P256: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const OID_P384: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];
const OID_P521: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23];
/// Ed25519 as the OID 1.3.101.112 (RFC 8410) …
const OID_ED25519: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x70];
/// … or as the PrintableString `edwards25519` (PKCS#11 3.0 §2.3.5; what SoftHSM 2.6 expects).
const NAME_ED25519: &[u8] = b"\x13\x0cedwards25519";

fn ec_params(curve: EcCurve) -> &'static [u8] {
    match curve {
        EcCurve::P256 => OID_P256,
        EcCurve::P384 => OID_P384,
        EcCurve::P521 => OID_P521,
    }
}

/// What a token key is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenKeyKind {
    /// P-256/384/521 (ECDSA and ECDH).
    Ec(EcCurve),
    /// Ed25519 (EdDSA).
    Ed25519,
    /// RSA (PS256/RS256 and RSA-OAEP).
    Rsa,
}

/// The public half read from the token, for the public JWK and its thumbprint.
pub(crate) enum TokenPublic {
    /// EC affine coordinates, each `field_len` bytes.
    Ec(EcCurve, Vec<u8>, Vec<u8>),
    /// The 32-byte Ed25519 public key.
    Ed25519(Vec<u8>),
    /// RSA modulus and public exponent, big-endian.
    Rsa(Vec<u8>, Vec<u8>),
}

/// One loaded module per library path for the whole process.
fn module(path: &Path) -> Result<Arc<Module>> {
    static MODULES: OnceLock<Mutex<HashMap<PathBuf, Arc<Module>>>> = OnceLock::new();
    let mut map = MODULES.get_or_init(Default::default).lock().unwrap_or_else(|p| p.into_inner());
    if let Some(ctx) = map.get(path) {
        return Ok(ctx.clone());
    }
    let ctx = Pkcs11::new(path)
        .map_err(|e| Error::Pkcs11(format!("cannot load the PKCS#11 module {}: {e}", path.display())))?;
    match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(e) => {
            return Err(Error::Pkcs11(format!(
                "cannot initialise the PKCS#11 module {}: {e}",
                path.display()
            )))
        }
    }
    let module = Arc::new(Module::new(ctx));
    map.insert(path.to_owned(), module.clone());
    Ok(module)
}

fn module_path(uri: &Pkcs11Uri) -> PathBuf {
    uri.module_path
        .clone()
        .or_else(|| std::env::var_os("PKCS11_MODULE").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(DEFAULT_MODULE))
}

/// The short name of a PKCS#11 return value (e.g. `CKR_PIN_INCORRECT` as `PinIncorrect`).
fn rv_name(e: &CkError) -> String {
    match e {
        CkError::Pkcs11(rv, f) => format!("{rv:?} in {f:?}"),
        other => other.to_string(),
    }
}

fn rv(e: &CkError) -> Option<RvError> {
    match e {
        CkError::Pkcs11(rv, _) => Some(*rv),
        _ => None,
    }
}

/// Errors that mean "this session (or its login state, or the cached handle) is gone": worth one
/// retry with a fresh session.
fn is_session_lost(e: &CkError) -> bool {
    is_lost(e)
        || matches!(
            rv(e),
            Some(RvError::UserNotLoggedIn | RvError::ObjectHandleInvalid | RvError::KeyHandleInvalid)
        )
}

/// The module says the session does not exist: every session of its epoch is lost.
fn is_lost(e: &CkError) -> bool {
    matches!(rv(e), Some(RvError::SessionHandleInvalid | RvError::SessionClosed))
}

/// Errors about the token or the key's configuration, never about the input. For RSA decryption
/// everything else, CKR_GENERAL_ERROR and CKR_DEVICE_ERROR included, stays opaque: SoftHSM 2.6
/// answers a bad RSA-OAEP padding with CKR_GENERAL_ERROR, so reporting those would be a padding
/// oracle (see `TokenKey::run`).
fn is_unavailable(e: &CkError) -> bool {
    matches!(
        rv(e),
        Some(
            RvError::DeviceRemoved
                | RvError::TokenNotPresent
                | RvError::TokenNotRecognized
                | RvError::SlotIdInvalid
                | RvError::CryptokiNotInitialized
                | RvError::FunctionNotSupported
                | RvError::MechanismInvalid
                | RvError::KeyFunctionNotPermitted
                | RvError::KeyTypeInconsistent
                | RvError::PinExpired
                | RvError::PinLocked
                | RvError::PinIncorrect
        )
    )
}

fn find_slot(ctx: &Pkcs11, uri: &Pkcs11Uri) -> Result<Slot> {
    let unavailable = |e: CkError| Error::Pkcs11(format!("{uri}: cannot list the slots: {}", rv_name(&e)));
    let slots = ctx.get_slots_with_token().map_err(unavailable)?;
    let mut found = Vec::new();
    for slot in slots {
        if uri.slot_id.is_some_and(|id| id != slot.id()) {
            continue;
        }
        if let Some(label) = &uri.token {
            let Ok(info) = ctx.get_token_info(slot) else { continue };
            if info.label().trim_end() != label.as_str() {
                continue;
            }
        }
        found.push(slot);
    }
    match found.as_slice() {
        [one] => Ok(*one),
        [] => Err(Error::Pkcs11(format!("{uri}: no such token is present"))),
        _ => Err(Error::Pkcs11(format!("{uri}: several tokens match; name one with `token=` or `slot-id=`"))),
    }
}

/// How a key's sessions log in to its token.
enum Login {
    /// C_Login with the PIN the URI's `pin-source` gave.
    Pin(AuthPin),
    /// C_Login without a PIN: the token has a protected authentication path (a PIN pad) and
    /// no PIN is configured.
    PinPad,
    /// No login: the token does not require one (no `CKF_LOGIN_REQUIRED`) and no PIN is
    /// configured.
    None,
}

impl Login {
    /// The login a key on `slot` uses, from the URI's `pin-source` and the token's flags. A
    /// token that requires a login, without a PIN pad, needs a PIN: said at once, rather than
    /// failing later on CKR_USER_NOT_LOGGED_IN.
    fn for_token(ctx: &Pkcs11, slot: Slot, uri: &Pkcs11Uri) -> Result<Login> {
        if let Some(pin) = uri.read_pin()? {
            return Ok(Login::Pin(AuthPin::from(pin.as_str())));
        }
        let info = ctx
            .get_token_info(slot)
            .map_err(|e| Error::Pkcs11(format!("{uri}: cannot read the token's flags: {}", rv_name(&e))))?;
        if !info.login_required() {
            Ok(Login::None)
        } else if info.protected_authentication_path() {
            Ok(Login::PinPad)
        } else {
            Err(Error::Pkcs11(format!(
                "{uri}: the token requires a login and no PIN is configured: add \
                 `pin-source=file:PATH` or `pin-source=env:NAME` to the URI's query"
            )))
        }
    }
}

/// Logs the user in (once per token per process: PKCS#11 login state is shared by all sessions).
fn login(session: &Session, how: &Login) -> std::result::Result<(), CkError> {
    let pin = match how {
        Login::Pin(pin) => Some(pin),
        Login::PinPad => None,
        Login::None => return Ok(()),
    };
    match session.login(UserType::User, pin) {
        Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(()),
        Err(e) => Err(e),
    }
}

fn login_error(uri: &Pkcs11Uri, e: &CkError) -> String {
    match rv(e) {
        Some(RvError::PinIncorrect) => format!("{uri}: the token refused the PIN (PIN incorrect)"),
        Some(RvError::PinLocked) => format!("{uri}: the token's user PIN is locked"),
        _ => format!("{uri}: login failed: {}", rv_name(e)),
    }
}

/// The module lost its sessions while a key was being opened or generated.
fn lost_meanwhile(uri: &Pkcs11Uri) -> Error {
    Error::Pkcs11(format!("{uri}: the token lost its sessions meanwhile; try again"))
}

/// The template that finds the private key object.
fn private_template(uri: &Pkcs11Uri) -> Vec<Attribute> {
    let mut t = vec![Attribute::Class(ObjectClass::PRIVATE_KEY)];
    if let Some(label) = &uri.object {
        t.push(Attribute::Label(label.as_bytes().to_vec()));
    }
    if let Some(id) = &uri.id {
        t.push(Attribute::Id(id.clone()));
    }
    t
}

fn find_one(session: &Session, uri: &Pkcs11Uri, template: &[Attribute], what: &str) -> Result<ObjectHandle> {
    let found = session
        .find_objects(template)
        .map_err(|e| Error::Pkcs11(format!("{uri}: cannot search the token: {}", rv_name(&e))))?;
    only_one(uri, found, what)
}

fn only_one(uri: &Pkcs11Uri, found: Vec<ObjectHandle>, what: &str) -> Result<ObjectHandle> {
    match found.as_slice() {
        [one] => Ok(*one),
        [] => Err(Error::Pkcs11(format!("{uri}: no {what} object matches"))),
        _ => Err(Error::Pkcs11(format!("{uri}: several {what} objects match; add `id=`"))),
    }
}

struct Inner {
    uri: Pkcs11Uri,
    module: Arc<Module>,
    slot: Slot,
    login: Login,
    kind: TokenKeyKind,
    /// The key's object handle and the epoch it was looked up in: after a loss a module may
    /// give the same number to another object (SoftHSM 2 numbers sessions and objects from 1
    /// again after C_Initialize), so a handle serves only sessions of its own epoch.
    handle: Mutex<Option<(u64, ObjectHandle)>>,
    idle: Mutex<Vec<HeldSession>>,
}

/// Why an operation through a session failed.
enum Failure {
    /// The token answered with an error.
    Token(CkError),
    /// The key could not be found again (removed, or made ambiguous).
    Key(KeyError),
}

impl Drop for Inner {
    fn drop(&mut self) {
        for s in self.idle.get_mut().unwrap_or_else(|p| p.into_inner()).drain(..) {
            self.module.close(s);
        }
    }
}

/// A private key inside a PKCS#11 token. Cheap to clone; usable from many threads at once.
#[derive(Clone)]
pub(crate) struct TokenKey(Arc<Inner>);

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URI's path attributes only: no PIN is ever part of it.
        write!(f, "TokenKey({}, {:?})", self.0.uri, self.0.kind)
    }
}

/// Finds the private key the URI names through a logged-in session and reads its type and
/// public half.
fn look_up(session: &Session, uri: &Pkcs11Uri) -> Result<(ObjectHandle, TokenKeyKind, TokenPublic)> {
    let handle = find_one(session, uri, &private_template(uri), "private key")?;
    let attr_err =
        |e: CkError| Error::Pkcs11(format!("{uri}: cannot read the key's attributes: {}", rv_name(&e)));
    let attrs = session.get_attributes(handle, &[AttributeType::KeyType]).map_err(attr_err)?;
    let key_type = attrs.iter().find_map(|a| match a {
        Attribute::KeyType(t) => Some(*t),
        _ => None,
    });
    let (kind, public) = match key_type {
        Some(t) if t == KeyType::RSA => {
            let a = session
                .get_attributes(handle, &[AttributeType::Modulus, AttributeType::PublicExponent])
                .map_err(attr_err)?;
            let (mut n, mut e) = (None, None);
            for x in a {
                match x {
                    Attribute::Modulus(v) => n = Some(v),
                    Attribute::PublicExponent(v) => e = Some(v),
                    _ => {}
                }
            }
            match (n, e) {
                (Some(n), Some(e)) => (TokenKeyKind::Rsa, TokenPublic::Rsa(n, e)),
                _ => return Err(Error::Pkcs11(format!("{uri}: the RSA key has no readable modulus"))),
            }
        }
        Some(t) if t == KeyType::EC || t == KeyType::EC_EDWARDS => {
            // CKA_EC_POINT sits on the public key object (same id/label).
            let mut template = private_template(uri);
            template[0] = Attribute::Class(ObjectClass::PUBLIC_KEY);
            let public = find_one(session, uri, &template, "public key")?;
            let a = session
                .get_attributes(public, &[AttributeType::EcParams, AttributeType::EcPoint])
                .map_err(attr_err)?;
            let (mut params, mut point) = (None, None);
            for x in a {
                match x {
                    Attribute::EcParams(v) => params = Some(v),
                    Attribute::EcPoint(v) => point = Some(v),
                    _ => {}
                }
            }
            let (Some(params), Some(point)) = (params, point) else {
                return Err(Error::Pkcs11(format!("{uri}: the EC public key has no readable point")));
            };
            parse_ec_public(uri, &params, &point)?
        }
        _ => {
            return Err(Error::Pkcs11(format!("{uri}: the object is not an EC, Ed25519 or RSA private key")))
        }
    };
    Ok((handle, kind, public))
}

impl TokenKey {
    /// Opens the private key the URI names and reads its public half.
    pub(crate) fn open(uri_text: &str) -> Result<(TokenKey, TokenPublic)> {
        let uri = Pkcs11Uri::parse(uri_text)?;
        let module = module(&module_path(&uri))?;
        let slot = find_slot(&module.ctx, &uri)?;
        let how = Login::for_token(&module.ctx, slot, &uri)?;
        let session = module
            .open(slot, false)
            .map_err(|e| Error::Pkcs11(format!("{uri}: cannot open a session: {}", rv_name(&e))))?;
        let found = module
            .call(&session, |s| {
                login(s, &how)
                    .map_err(|e| Error::Pkcs11(login_error(&uri, &e)))
                    .and_then(|()| look_up(s, &uri))
            })
            .unwrap_or_else(|| Err(lost_meanwhile(&uri)));
        let (handle, kind, public) = match found {
            Ok(found) => found,
            Err(e) => {
                module.close(session);
                return Err(e);
            }
        };
        // The lookup session is the pool's first: closing it could end the login (a token logs
        // out with its last session).
        let key = TokenKey(Arc::new(Inner {
            uri,
            module,
            slot,
            login: how,
            kind,
            handle: Mutex::new(Some((session.epoch(), handle))),
            idle: Mutex::new(vec![session]),
        }));
        Ok((key, public))
    }

    /// The key's URI as errors show it (path attributes only: never a PIN).
    pub(crate) fn uri(&self) -> String {
        self.0.uri.to_string()
    }

    fn unavailable(&self, op: &str, e: &CkError) -> KeyError {
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
    /// not exist, its epoch is over ([`Module::lost`]); else it is closed if still ours (an
    /// operation may be left active in it).
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

    /// The key's object handle for a session of `epoch`, called within [`Module::call`] (so
    /// the epoch stays current while the handle is stored): the cached one if it was looked up
    /// in that epoch (PKCS#11 v2.40 §2.5: a token object's handle is the same in every session of
    /// the application), else looked up again through `s`.
    fn handle_in(&self, s: &Session, epoch: u64) -> std::result::Result<ObjectHandle, Failure> {
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
    /// within [`Module::call`]. An error caused by the session's state (lost session, lost
    /// login, stale handle, an operation left active) is put right once
    /// ([`TokenKey::recover`]) and `f` retried; if it happens again it is reported.
    ///
    /// `input_free`: the token's answer cannot depend on an attacker's input (signing, and ECDH
    /// with a peer point validated on the host), so any failure is retried once and then
    /// reported with the return value's name. Otherwise (RSA decryption) a failure while the
    /// session is fine stays opaque and is never retried: a retry, or a message, would tell bad
    /// padding apart. `classify` picks out errors that get a message of their own.
    fn run<T>(
        &self,
        op: &str,
        input_free: bool,
        f: impl Fn(&Session, ObjectHandle) -> std::result::Result<T, CkError>,
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

    /// ECDSA over the host-computed digest with the curve's JOSE hash (RFC 7518 §3.4): CKM_ECDSA
    /// returns the raw `r || s` JOSE wants.
    pub(crate) fn ecdsa_sign(&self, message: &[u8]) -> KeyResult<Vec<u8>> {
        let TokenKeyKind::Ec(curve) = self.0.kind else { return Err(KeyError::Opaque) };
        let sha = match curve {
            EcCurve::P256 => Sha::Sha256,
            EcCurve::P384 => Sha::Sha384,
            EcCurve::P521 => Sha::Sha512,
        };
        let digest = P::digest(sha, message);
        let sig = self.run("ECDSA signing", true, |s, h| s.sign(&Mechanism::Ecdsa, h, &digest), |_| None)?;
        if sig.len() != 2 * curve.field_len() {
            return Err(KeyError::Opaque);
        }
        Ok(sig)
    }

    /// Pure Ed25519 (CKM_EDDSA without parameters).
    pub(crate) fn ed25519_sign(&self, message: &[u8]) -> KeyResult<Vec<u8>> {
        if self.0.kind != TokenKeyKind::Ed25519 {
            return Err(KeyError::Opaque);
        }
        let mech = Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Pure));
        let sig = self.run("EdDSA signing", true, |s, h| s.sign(&mech, h, message), |_| None)?;
        if sig.len() != 64 {
            return Err(KeyError::Opaque);
        }
        Ok(sig)
    }

    /// PS256: CKM_RSA_PKCS_PSS over the SHA-256 digest with MGF1-SHA-256 and a 32-byte salt
    /// (RFC 7518 §3.5); RS256: CKM_SHA256_RSA_PKCS (the token hashes).
    pub(crate) fn rsa_sign(&self, scheme: RsaSignature, message: &[u8]) -> KeyResult<Vec<u8>> {
        if self.0.kind != TokenKeyKind::Rsa {
            return Err(KeyError::Opaque);
        }
        match scheme {
            RsaSignature::PssSha256 => {
                let digest = P::digest(Sha::Sha256, message);
                let mech = Mechanism::RsaPkcsPss(PkcsPssParams {
                    hash_alg: MechanismType::SHA256,
                    mgf: PkcsMgfType::MGF1_SHA256,
                    s_len: 32u64.into(),
                });
                self.run("RSA-PSS signing", true, |s, h| s.sign(&mech, h, &digest), |_| None)
            }
            RsaSignature::Pkcs1Sha256 => {
                self.run("RSA signing", true, |s, h| s.sign(&Mechanism::Sha256RsaPkcs, h, message), |_| None)
            }
        }
    }

    /// ECDH inside the token (CKM_ECDH1_DERIVE, CKD_NULL, the peer point raw `04 || x || y`): Z
    /// comes out as a session object (not on the token, extractable, not sensitive) that is read
    /// and destroyed at once. The peer point was validated on the host by the caller.
    pub(crate) fn ecdh(&self, curve: EcCurve, x: &[u8], y: &[u8]) -> KeyResult<Zeroizing<Vec<u8>>> {
        if self.0.kind != TokenKeyKind::Ec(curve) {
            return Err(KeyError::Opaque);
        }
        let mut point = Vec::with_capacity(1 + x.len() + y.len());
        point.push(0x04);
        point.extend_from_slice(x);
        point.extend_from_slice(y);
        let n = curve.field_len();
        let template = [
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::GENERIC_SECRET),
            Attribute::Token(false),
            Attribute::Sensitive(false),
            Attribute::Extractable(true),
            Attribute::ValueLen((n as u64).into()),
        ];
        let z = self.run(
            "ECDH key derivation",
            true,
            |s, h| {
                let mech = Mechanism::Ecdh1Derive(Ecdh1DeriveParams::new(EcKdf::null(), &point));
                let secret = s.derive_key(&mech, h, &template)?;
                let read = s.get_attributes(secret, &[AttributeType::Value]);
                // Destroyed whatever the read gave; a destroy failure still leaves only a
                // session object, which the token drops with the session.
                let destroyed = s.destroy_object(secret);
                let value = read?.into_iter().find_map(|a| match a {
                    Attribute::Value(v) => Some(Zeroizing::new(v)),
                    _ => None,
                });
                destroyed?;
                Ok(value)
            },
            |e| {
                // An HSM that refuses extractable derived keys (FIPS mode) says so here.
                matches!(rv(e), Some(RvError::TemplateInconsistent | RvError::AttributeValueInvalid)).then(
                    || {
                        KeyError::Unavailable(format!(
                            "{}: the token refuses to derive an extractable ECDH secret (needed for the \
                         host-side Concat KDF): {}",
                            self.0.uri,
                            rv_name(e)
                        ))
                    },
                )
            },
        )?;
        match z {
            Some(z) if z.len() == n => Ok(z),
            _ => Err(KeyError::Opaque),
        }
    }

    /// RSAES-OAEP inside the token with MGF1 over the same hash and an empty label.
    pub(crate) fn rsa_oaep_decrypt(&self, hash: Sha, ciphertext: &[u8]) -> KeyResult<Zeroizing<Vec<u8>>> {
        if self.0.kind != TokenKeyKind::Rsa {
            return Err(KeyError::Opaque);
        }
        let (h, mgf, name) = match hash {
            Sha::Sha1 => (MechanismType::SHA1, PkcsMgfType::MGF1_SHA1, "RSA-OAEP"),
            Sha::Sha256 => (MechanismType::SHA256, PkcsMgfType::MGF1_SHA256, "RSA-OAEP-256"),
            _ => return Err(KeyError::Opaque),
        };
        let mech = Mechanism::RsaPkcsOaep(PkcsOaepParams::new(h, mgf, PkcsOaepSource::empty()));
        self.run(
            "RSA-OAEP decryption",
            false,
            |s, k| s.decrypt(&mech, k, ciphertext).map(Zeroizing::new),
            |e| {
                // Refusing the OAEP parameters does not depend on the ciphertext (SoftHSM 2.6
                // does SHA-1 only).
                let refused = matches!(
                    rv(e),
                    Some(RvError::MechanismParamInvalid | RvError::MechanismInvalid | RvError::ArgumentsBad)
                );
                (refused && hash != Sha::Sha1).then(|| {
                    KeyError::Unavailable(format!(
                        "{}: {name} (OAEP with {h}) is not supported by this token",
                        self.0.uri
                    ))
                })
            },
        )
    }
}

/// Parses `CKA_EC_PARAMS` and `CKA_EC_POINT` (a DER OCTET STRING around the point, or the raw
/// point from tokens that skip the wrapping).
fn parse_ec_public(uri: &Pkcs11Uri, params: &[u8], point: &[u8]) -> Result<(TokenKeyKind, TokenPublic)> {
    let bad = || Error::Pkcs11(format!("{uri}: unreadable CKA_EC_POINT"));
    let point = unwrap_octet_string(point).unwrap_or(point);
    if params == OID_ED25519 || params == NAME_ED25519 {
        if point.len() != 32 {
            return Err(bad());
        }
        return Ok((TokenKeyKind::Ed25519, TokenPublic::Ed25519(point.to_vec())));
    }
    let curve = [EcCurve::P256, EcCurve::P384, EcCurve::P521]
        .into_iter()
        .find(|c| ec_params(*c) == params)
        .ok_or_else(|| {
        Error::Pkcs11(format!("{uri}: the key's curve is not P-256, P-384, P-521 or Ed25519"))
    })?;
    let n = curve.field_len();
    if point.len() != 1 + 2 * n || point[0] != 0x04 {
        return Err(bad());
    }
    Ok((TokenKeyKind::Ec(curve), TokenPublic::Ec(curve, point[1..=n].to_vec(), point[n + 1..].to_vec())))
}

/// The content of a DER OCTET STRING that spans all of `der`.
fn unwrap_octet_string(der: &[u8]) -> Option<&[u8]> {
    let (&tag, rest) = der.split_first()?;
    if tag != 0x04 {
        return None;
    }
    let (&first, rest) = rest.split_first()?;
    let (len, body) = match first {
        l @ 0..=0x7f => (usize::from(l), rest),
        0x81 => (usize::from(*rest.first()?), rest.get(1..)?),
        0x82 => (usize::from(*rest.first()?) << 8 | usize::from(*rest.get(1)?), rest.get(2..)?),
        _ => return None,
    };
    (body.len() == len).then_some(body)
}

/// What to generate in a token.
#[derive(Debug, Clone, Copy)]
pub(crate) enum TokenKeySpec {
    /// An EC key pair on a NIST curve.
    Ec(EcCurve),
    /// An Ed25519 key pair.
    Ed25519,
    /// An RSA key pair of this many bits (exponent 65537).
    Rsa(usize),
}

/// Generates a key pair inside the token the URI names (private half sensitive, not extractable),
/// labelled with the URI's `object` and `id`. `signing` selects CKA_SIGN, else CKA_DERIVE (EC) or
/// CKA_DECRYPT (RSA). Then opens it like [`TokenKey::open`].
pub(crate) fn generate(uri_text: &str, spec: TokenKeySpec, signing: bool) -> Result<(TokenKey, TokenPublic)> {
    let uri = Pkcs11Uri::parse(uri_text)?;
    let module = module(&module_path(&uri))?;
    let slot = find_slot(&module.ctx, &uri)?;
    let how = Login::for_token(&module.ctx, slot, &uri)?;
    let session = module
        .open(slot, true)
        .map_err(|e| Error::Pkcs11(format!("{uri}: cannot open a read-write session: {}", rv_name(&e))))?;
    let generated = module
        .call(&session, |s| {
            login(s, &how)
                .map_err(|e| Error::Pkcs11(login_error(&uri, &e)))
                .and_then(|()| generate_in(s, &uri, spec, signing))
        })
        .unwrap_or_else(|| Err(lost_meanwhile(&uri)));
    module.close(session);
    generated?;
    TokenKey::open(uri_text)
}

/// Generates the key pair through a logged-in read-write session.
fn generate_in(session: &Session, uri: &Pkcs11Uri, spec: TokenKeySpec, signing: bool) -> Result<()> {
    if !session.find_objects(&private_template(uri)).unwrap_or_default().is_empty() {
        return Err(Error::Pkcs11(format!("{uri}: a private key with this label/id already exists")));
    }
    let mut common = vec![Attribute::Token(true)];
    if let Some(label) = &uri.object {
        common.push(Attribute::Label(label.as_bytes().to_vec()));
    }
    if let Some(id) = &uri.id {
        common.push(Attribute::Id(id.clone()));
    }
    let mut public = common.clone();
    let mut private = common;
    private.extend([
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Sign(signing),
    ]);
    public.push(Attribute::Verify(signing));
    let mech = match spec {
        TokenKeySpec::Ec(curve) => {
            public.push(Attribute::EcParams(ec_params(curve).to_vec()));
            private.push(Attribute::Derive(!signing));
            Mechanism::EccKeyPairGen
        }
        TokenKeySpec::Ed25519 => {
            if !signing {
                return Err(Error::invalid_key("Ed25519 keys only sign"));
            }
            public.push(Attribute::EcParams(NAME_ED25519.to_vec()));
            Mechanism::EccEdwardsKeyPairGen
        }
        TokenKeySpec::Rsa(bits) => {
            if bits < MIN_RSA_BITS {
                return Err(Error::invalid_key(format!("RSA keys must have at least {MIN_RSA_BITS} bits")));
            }
            public.extend([
                Attribute::ModulusBits((bits as u64).into()),
                Attribute::PublicExponent(vec![1, 0, 1]),
                Attribute::Encrypt(!signing),
            ]);
            private.push(Attribute::Decrypt(!signing));
            Mechanism::RsaPkcsKeyPairGen
        }
    };
    session
        .generate_key_pair(&mech, &public, &private)
        .map_err(|e| Error::Pkcs11(format!("{uri}: key generation failed: {}", rv_name(&e))))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn octet_string_lengths() {
        assert_eq!(unwrap_octet_string(&[4, 2, 9, 9]), Some(&[9u8, 9][..]));
        let mut long = vec![4, 0x81, 133];
        long.extend([7u8; 133]);
        assert_eq!(unwrap_octet_string(&long).map(<[u8]>::len), Some(133));
        assert_eq!(unwrap_octet_string(&[4, 3, 9, 9]), None);
        assert_eq!(unwrap_octet_string(&[4]), None);
        assert_eq!(unwrap_octet_string(&[3, 1, 0]), None);
    }
}
