//! A [`TokenKey`]: the private key object a URI names, found through a logged-in session, with
//! its type and public half read from the token, and the state its sessions share.

use std::sync::{Arc, Mutex};

use cryptoki::error::Error as CkError;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use cryptoki::slot::Slot;

use super::der::parse_ec_public;
use super::login::{find_slot, login, login_error, lost_meanwhile, Login};
use super::session::{HeldSession, Module};
use super::{module, module_path, rv_name, Pkcs11Uri, TokenKeyKind, TokenPublic};
use crate::error::{Error, Result};

/// The template that finds the private key object.
pub(super) fn private_template(uri: &Pkcs11Uri) -> Vec<Attribute> {
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

pub(super) fn only_one(uri: &Pkcs11Uri, found: Vec<ObjectHandle>, what: &str) -> Result<ObjectHandle> {
    match found.as_slice() {
        [one] => Ok(*one),
        [] => Err(Error::Pkcs11(format!("{uri}: no {what} object matches"))),
        _ => Err(Error::Pkcs11(format!("{uri}: several {what} objects match; add `id=`"))),
    }
}

/// What the clones of a [`TokenKey`] share: where the key is, how its sessions log in, its
/// object handle and its idle sessions.
pub(super) struct Inner {
    pub(super) uri: Pkcs11Uri,
    pub(super) module: Arc<Module>,
    pub(super) slot: Slot,
    pub(super) login: Login,
    pub(super) kind: TokenKeyKind,
    /// The key's object handle and the epoch it was looked up in: after a loss a module may
    /// give the same number to another object (SoftHSM 2 numbers sessions and objects from 1
    /// again after C_Initialize), so a handle serves only sessions of its own epoch.
    pub(super) handle: Mutex<Option<(u64, ObjectHandle)>>,
    pub(super) idle: Mutex<Vec<HeldSession>>,
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
pub(crate) struct TokenKey(pub(super) Arc<Inner>);

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
}
