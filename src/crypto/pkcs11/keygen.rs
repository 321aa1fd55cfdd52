//! Key pairs generated inside a token: EC (P-256/384/521), Ed25519 and RSA, the private half
//! sensitive and not extractable, then opened like any other token key.

use cryptoki::mechanism::Mechanism;
use cryptoki::object::Attribute;
use cryptoki::session::Session;

use super::der::{ec_params, NAME_ED25519};
use super::key::{private_template, TokenKey};
use super::login::{find_slot, login, login_error, lost_meanwhile, Login};
use super::{module, module_path, rv_name, Pkcs11Uri, TokenPublic};
use crate::crypto::keys::MIN_RSA_BITS;
use crate::crypto::EcCurve;
use crate::error::{Error, Result};

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
