//! Producing JWEs.

use std::io::Write;

use serde_json::Value;
use zeroize::Zeroizing;

use super::json::{OutParts, OutRecipient};
use super::{compact, json, Header};
use crate::b64;
use crate::crypto::{CryptoProvider, Provider as P};
use crate::error::{Error, Misuse, Result};
use crate::jwa::{content, key_management as km, CekMode, ContentEncryptionAlg, KeyManagementAlg};
use crate::jwk::Jwk;

/// Names that the encryptor sets itself and callers may not override.
const RESERVED: &[&str] = &["alg", "enc", "zip", "epk", "iv", "tag", "p2s", "p2c"];

#[derive(Clone)]
struct Recipient {
    key: Jwk,
    alg: KeyManagementAlg,
    header: Header,
}

/// Builds and encrypts a JWE to one or more recipients.
///
/// One random CEK encrypts the content once; each recipient gets the CEK wrapped with its own key.
/// Compact and flattened output take one recipient; general JSON takes any number (each with a
/// key-wrapping algorithm: `dir` and `ECDH-ES` cannot share a CEK).
///
/// ```
/// use jwe_mint::jwa::{ContentEncryptionAlg as Enc, KeyManagementAlg as Alg};
/// use jwe_mint::jwe::Encryptor;
/// use jwe_mint::jwk::{Curve, Jwk};
///
/// let a = Jwk::generate(Curve::P256).unwrap().to_public().unwrap();
/// let b = Jwk::generate(Curve::X25519).unwrap().to_public().unwrap();
/// let json = Encryptor::new(Enc::A256Gcm)
///     .protected_param("cty", "JWT")
///     .recipient(&a, Alg::EcdhEsA256Kw)
///     .recipient(&b, Alg::EcdhEsA256Kw)
///     .encrypt_general(b"for both")
///     .unwrap();
/// assert!(json.contains("\"recipients\""));
/// ```
#[derive(Clone)]
pub struct Encryptor {
    enc: ContentEncryptionAlg,
    protected: Header,
    unprotected: Header,
    aad: Option<Vec<u8>>,
    zip: bool,
    recipients: Vec<Recipient>,
    fixed: Option<(Zeroizing<Vec<u8>>, Vec<u8>)>,
    pbes2_iterations: Option<u32>,
}

impl std::fmt::Debug for Encryptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encryptor")
            .field("enc", &self.enc)
            .field("recipients", &self.recipients.len())
            .field("zip", &self.zip)
            .finish_non_exhaustive()
    }
}

impl Encryptor {
    /// A new encryptor for content encryption algorithm `enc`.
    pub fn new(enc: ContentEncryptionAlg) -> Encryptor {
        Encryptor {
            enc,
            protected: Header::new(),
            unprotected: Header::new(),
            aad: None,
            zip: false,
            recipients: Vec::new(),
            fixed: None,
            pbes2_iterations: None,
        }
    }

    /// Adds a recipient. Its `kid` (if any) goes into that recipient's header.
    pub fn recipient(self, key: &Jwk, alg: KeyManagementAlg) -> Encryptor {
        self.recipient_with_header(key, alg, Header::new())
    }

    /// Adds a recipient with extra per-recipient header parameters (e.g. `apu`, `apv`, `kid`).
    /// In compact and flattened output they are merged as the serialization requires.
    pub fn recipient_with_header(mut self, key: &Jwk, alg: KeyManagementAlg, header: Header) -> Encryptor {
        self.recipients.push(Recipient { key: key.clone(), alg, header });
        self
    }

    /// Sets an integrity-protected header parameter (e.g. `cty`, `typ`, `aud`).
    pub fn protected_param(mut self, name: &str, value: impl Into<Value>) -> Encryptor {
        self.protected.insert(name.to_owned(), value.into());
        self
    }

    /// Sets a shared unprotected header parameter (JSON serializations only).
    pub fn unprotected_param(mut self, name: &str, value: impl Into<Value>) -> Encryptor {
        self.unprotected.insert(name.to_owned(), value.into());
        self
    }

    /// Sets additional authenticated data (the JSON `aad` member; JSON serializations only).
    pub fn aad(mut self, aad: &[u8]) -> Encryptor {
        self.aad = Some(aad.to_vec());
        self
    }

    /// Opt-in: compress the plaintext with DEFLATE (`zip: "DEF"`) before encryption.
    ///
    /// Compressing attacker-influenced data next to secrets can leak the secrets through the
    /// ciphertext length (CRIME/BREACH); only use it for data you fully control.
    pub fn compress_deflate(mut self) -> Encryptor {
        self.zip = true;
        self
    }

    /// PBKDF2 iteration count (`p2c`) for PBES2 recipients (default
    /// [`crate::jwa::PBES2_DEFAULT_ITERATIONS`]). Decryptors cap it, 10,000 by default.
    pub fn pbes2_iterations(mut self, p2c: u32) -> Encryptor {
        self.pbes2_iterations = Some(p2c);
        self
    }

    /// Known-answer tests only: use this CEK and IV instead of fresh random ones. Reusing an IV
    /// with AES-GCM destroys confidentiality and authenticity; never use this outside tests.
    pub fn dangerous_fixed_cek_and_iv(mut self, cek: &[u8], iv: &[u8]) -> Encryptor {
        self.fixed = Some((Zeroizing::new(cek.to_vec()), iv.to_vec()));
        self
    }

    /// Encrypts to the single recipient in the compact serialization (all headers protected).
    pub fn encrypt_compact(&self, plaintext: &[u8]) -> Result<String> {
        if !self.unprotected.is_empty() || self.aad.is_some() {
            return Err(Error::Misuse(Misuse::UnprotectedInCompact));
        }
        let [r] = self.recipients.as_slice() else {
            return Err(Error::Misuse(Misuse::OneRecipientOnly("compact")));
        };
        let mut protected = self.base_protected(Some(r))?;
        let (cek, encrypted_key) = self.key_for(r, &mut protected, None)?;
        let protected_b64 = b64::encode(Value::Object(protected).to_string().as_bytes());
        let (iv, sealed) = self.seal(&cek, protected_b64.as_bytes(), plaintext)?;
        Ok(compact::serialize(&protected_b64, &encrypted_key, &iv, &sealed.ciphertext, &sealed.tag))
    }

    /// Encrypts to the single recipient in the flattened JSON serialization. `alg`, `kid` and
    /// key-management parameters go in the per-recipient `header`.
    pub fn encrypt_flattened(&self, plaintext: &[u8]) -> Result<String> {
        if self.recipients.len() != 1 {
            return Err(Error::Misuse(Misuse::OneRecipientOnly("flattened")));
        }
        self.encrypt_json(plaintext, true)
    }

    /// Encrypts to every recipient in the general JSON serialization.
    pub fn encrypt_general(&self, plaintext: &[u8]) -> Result<String> {
        if self.recipients.is_empty() {
            return Err(Error::Misuse(Misuse::NoRecipient));
        }
        if self.recipients.len() > 1 {
            if let Some(r) = self.recipients.iter().find(|r| !r.alg.wraps_cek()) {
                return Err(Error::Misuse(Misuse::SingleRecipientAlgorithm { alg: r.alg.to_string() }));
            }
        }
        self.encrypt_json(plaintext, false)
    }

    fn encrypt_json(&self, plaintext: &[u8], flattened: bool) -> Result<String> {
        let protected = self.base_protected(None)?;
        let protected_b64 = b64::encode(Value::Object(protected.clone()).to_string().as_bytes());
        for name in self.unprotected.keys() {
            if protected.contains_key(name) || RESERVED.contains(&name.as_str()) {
                return Err(Error::Misuse(Misuse::DuplicateHeader(name.to_string())));
            }
        }
        let shared_cek = match self.recipients.first().map(|r| r.alg.cek_mode()) {
            Some(CekMode::Wrapped) => Some(self.fresh_cek()?),
            _ => None,
        };
        let mut cek_used = None;
        let mut out = Vec::with_capacity(self.recipients.len());
        for r in &self.recipients {
            let mut header = Header::new();
            header.insert("alg".into(), r.alg.name().into());
            if let Some(kid) = r.key.kid() {
                header.insert("kid".into(), kid.into());
            }
            for (k, v) in &r.header {
                if RESERVED.contains(&k.as_str())
                    || protected.contains_key(k)
                    || self.unprotected.contains_key(k)
                {
                    return Err(Error::Misuse(Misuse::DuplicateHeader(k.to_string())));
                }
                header.insert(k.clone(), v.clone());
            }
            let (cek, encrypted_key) =
                self.key_for(r, &mut header, shared_cek.as_deref().map(|c| c.as_slice()))?;
            cek_used = Some(cek);
            out.push(OutRecipient { header, encrypted_key });
        }
        let cek = cek_used.ok_or(Error::Misuse(Misuse::NoRecipient))?;
        let aad_b64 = self.aad.as_deref().map(b64::encode);
        let mut aad = protected_b64.clone().into_bytes();
        if let Some(a) = &aad_b64 {
            aad.push(b'.');
            aad.extend_from_slice(a.as_bytes());
        }
        let (iv, sealed) = self.seal(&cek, &aad, plaintext)?;
        let parts = OutParts {
            protected_b64: &protected_b64,
            unprotected: Some(&self.unprotected),
            recipients: out,
            aad_b64: aad_b64.as_deref(),
            iv: &iv,
            ciphertext: &sealed.ciphertext,
            tag: &sealed.tag,
        };
        json::serialize(parts, flattened)
    }

    /// `alg` (compact only), `enc`, `zip`, `kid` (compact only) and the caller's protected params.
    fn base_protected(&self, compact_recipient: Option<&Recipient>) -> Result<Header> {
        let mut h = Header::new();
        if let Some(r) = compact_recipient {
            h.insert("alg".into(), r.alg.name().into());
        }
        h.insert("enc".into(), self.enc.name().into());
        if self.zip {
            h.insert("zip".into(), "DEF".into());
        }
        if let Some(kid) = compact_recipient.and_then(|r| r.key.kid()) {
            h.insert("kid".into(), kid.into());
        }
        for (k, v) in &self.protected {
            if RESERVED.contains(&k.as_str()) {
                return Err(Error::Misuse(Misuse::ReservedHeader(k.to_string())));
            }
            h.insert(k.clone(), v.clone());
        }
        if let Some(r) = compact_recipient {
            for (k, v) in &r.header {
                if RESERVED.contains(&k.as_str()) {
                    return Err(Error::Misuse(Misuse::ReservedHeader(k.to_string())));
                }
                h.insert(k.clone(), v.clone());
            }
        }
        Ok(h)
    }

    /// Returns the CEK and encrypted key for `r`, adding key-management params to `header`.
    fn key_for(
        &self,
        r: &Recipient,
        header: &mut Header,
        shared: Option<&[u8]>,
    ) -> Result<(Zeroizing<Vec<u8>>, Vec<u8>)> {
        km::check_key(r.alg, self.enc, &r.key, false)?;
        let mut params = Header::new();
        let result = match r.alg.cek_mode() {
            CekMode::Direct => {
                let cek = km::derive_direct_cek(r.alg, self.enc, &r.key, header, &mut params)?;
                (cek, Vec::new())
            }
            CekMode::Wrapped => {
                let cek = match shared {
                    Some(c) => Zeroizing::new(c.to_vec()),
                    None => self.fresh_cek()?,
                };
                if let (true, Some(p2c)) = (r.alg.is_pbes2(), self.pbes2_iterations) {
                    header.insert("p2c".into(), p2c.into());
                }
                let encrypted_key = km::wrap_cek(r.alg, &r.key, &cek, header, &mut params)?;
                (cek, encrypted_key)
            }
        };
        header.extend(params);
        Ok(result)
    }

    fn fresh_cek(&self) -> Result<Zeroizing<Vec<u8>>> {
        if let Some((cek, _)) = &self.fixed {
            return Ok(cek.clone());
        }
        let mut cek = Zeroizing::new(vec![0u8; self.enc.key_len()]);
        P::fill_random(&mut cek).map_err(|_| Error::Crypto("random source"))?;
        Ok(cek)
    }

    fn seal(&self, cek: &[u8], aad: &[u8], plaintext: &[u8]) -> Result<(Vec<u8>, content::Sealed)> {
        let iv = match &self.fixed {
            Some((_, iv)) => iv.clone(),
            None => {
                let mut iv = vec![0u8; self.enc.iv_len()];
                P::fill_random(&mut iv).map_err(|_| Error::Crypto("random source"))?;
                iv
            }
        };
        let sealed = if self.zip {
            let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
            z.write_all(plaintext).map_err(|_| Error::Crypto("DEFLATE"))?;
            let compressed = Zeroizing::new(z.finish().map_err(|_| Error::Crypto("DEFLATE"))?);
            content::encrypt(self.enc, cek, &iv, aad, &compressed)?
        } else {
            content::encrypt(self.enc, cek, &iv, aad, plaintext)?
        };
        Ok((iv, sealed))
    }
}
