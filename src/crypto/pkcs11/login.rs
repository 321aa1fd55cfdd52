//! Finding the token a URI names and logging in to it: the slot, how the key's sessions log in
//! (a PIN from the URI's `pin-source`, a PIN pad, or no login), and the errors that name the URI.

use cryptoki::context::Pkcs11;
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;

use super::{rv, rv_name, Pkcs11Uri};
use crate::error::{Error, Result};

pub(super) fn find_slot(ctx: &Pkcs11, uri: &Pkcs11Uri) -> Result<Slot> {
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
pub(super) enum Login {
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
    pub(super) fn for_token(ctx: &Pkcs11, slot: Slot, uri: &Pkcs11Uri) -> Result<Login> {
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
pub(super) fn login(session: &Session, how: &Login) -> std::result::Result<(), CkError> {
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

pub(super) fn login_error(uri: &Pkcs11Uri, e: &CkError) -> String {
    match rv(e) {
        Some(RvError::PinIncorrect) => format!("{uri}: the token refused the PIN (PIN incorrect)"),
        Some(RvError::PinLocked) => format!("{uri}: the token's user PIN is locked"),
        _ => format!("{uri}: login failed: {}", rv_name(e)),
    }
}

/// The module lost its sessions while a key was being opened or generated.
pub(super) fn lost_meanwhile(uri: &Pkcs11Uri) -> Error {
    Error::Pkcs11(format!("{uri}: the token lost its sessions meanwhile; try again"))
}
