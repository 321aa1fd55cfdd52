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
//! See `docs/decisions.md`, "Keys in an HSM".
//!
//! The files, by concept: [`login`] finds the token and logs in to it; [`key`] finds the key
//! object and opens a [`TokenKey`]; [`pool`] keeps the key's sessions and runs an operation on
//! one (recovery from a lost session, login or handle; which failures are reported); [`ops`] the
//! signatures, ECDH and RSA-OAEP; [`der`] the curves' `CKA_EC_PARAMS` and the EC point's DER;
//! [`keygen`] generates key pairs in a token; [`session`] the book of held sessions; [`uri`] the
//! RFC 7512 URIs. This file loads the module and sorts the token's return values.

mod der;
mod key;
mod keygen;
mod login;
mod ops;
mod pool;
mod session;
pub(crate) mod uri;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};

use crate::crypto::EcCurve;
use crate::error::{Error, Result};
pub(crate) use key::TokenKey;
pub(crate) use keygen::{generate, TokenKeySpec};
use session::Module;
pub(crate) use uri::Pkcs11Uri;

/// The module search path when neither the URI nor the caller names one: the Debian/Ubuntu
/// SoftHSM2 location, then `PKCS11_MODULE` from the environment wins over it.
const DEFAULT_MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";

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
