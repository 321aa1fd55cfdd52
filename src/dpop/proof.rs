//! Making DPoP proofs (RFC 9449 §4.2): the client's key and the builder of one proof.

use std::fmt;

use serde_json::{Map, Value};

use crate::b64;
use crate::error::{Error, Misuse, Result};
use crate::jwa::SigningAlg;
use crate::jwk::{Curve, Jwk};
use crate::jws::{Header, Signer};

/// The `typ` of every DPoP proof (RFC 9449 §4.2).
pub const PROOF_TYPE: &str = "dpop+jwt";

/// Random bytes in a `jti`: 128 bits, so two proofs never share one by chance (RFC 9449 §4.2
/// asks for at least 96 bits).
const JTI_BYTES: usize = 16;

/// The public members of each key type (RFC 7638 §3.2): the proof's header carries the key and
/// nothing else about it.
const PUBLIC_MEMBERS: [&str; 6] = ["kty", "crv", "x", "y", "n", "e"];

/// A client's DPoP key: a private asymmetric signing key (EC P-256/384/521, Ed25519, RSA ≥ 2048
/// bits, in memory or, with feature `pkcs11`, in a token) and the algorithm it signs with.
///
/// Cloning is cheap (the parsed key is shared). `Debug` shows the algorithm and the thumbprint,
/// never key material; the private key zeroizes on drop like every [`Jwk`].
///
/// ```
/// use jwe_mint::dpop::DpopKey;
/// let key = DpopKey::generate().unwrap();
/// let proof = key.proof("POST", "https://as.example.com/token").issued_at(1_700_000_000).sign().unwrap();
/// assert_eq!(proof.split('.').count(), 3);
/// assert_eq!(key.thumbprint().len(), 43);
/// ```
#[derive(Clone)]
pub struct DpopKey {
    signer: Signer,
    jkt: String,
    public: Jwk,
}

impl fmt::Debug for DpopKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DpopKey")
            .field("alg", &self.signer.alg())
            .field("jkt", &self.jkt)
            .finish_non_exhaustive()
    }
}

impl DpopKey {
    /// A fresh P-256 key (`ES256`), the algorithm every DPoP server supports.
    pub fn generate() -> Result<DpopKey> {
        DpopKey::from_jwk(&Jwk::generate(Curve::P256)?)
    }

    /// `key` (private), signing with its own `alg` if it has one, else `ES256` / `ES384` /
    /// `ES512` / `EdDSA` by curve and `PS256` for RSA ([`SigningAlg::default_for`]).
    pub fn from_jwk(key: &Jwk) -> Result<DpopKey> {
        DpopKey::from_jwk_with_alg(key, SigningAlg::default_for(key)?)
    }

    /// `key` (private), signing with `alg`. A public, symmetric or X25519 key, or one that cannot
    /// make `alg` signatures, is an error.
    pub fn from_jwk_with_alg(key: &Jwk, alg: SigningAlg) -> Result<DpopKey> {
        if !key.is_private() || key.is_symmetric() {
            return Err(Error::invalid_key("a DPoP key is a private asymmetric signing key"));
        }
        let public = key.to_public()?;
        let mut jwk = Map::new();
        if let Value::Object(members) = public.to_value()? {
            for (name, value) in members {
                if PUBLIC_MEMBERS.contains(&name.as_str()) {
                    jwk.insert(name, value);
                }
            }
        }
        let mut header = Header::new();
        header.insert("typ".into(), PROOF_TYPE.into());
        header.insert("jwk".into(), Value::Object(jwk));
        // RFC 9449 §4.2: the key travels by value in `jwk`; a `kid` would only add bytes.
        let signer = Signer::new(&key.clone().without_kid(), alg, header)?;
        Ok(DpopKey { signer, jkt: key.thumbprint(), public })
    }

    /// The RFC 7638 SHA-256 thumbprint of the public key: the `jkt` an authorization server binds
    /// tokens to (`cnf.jkt`, RFC 9449 §6.1) and the `dpop_jkt` of an authorization request.
    pub fn thumbprint(&self) -> &str {
        &self.jkt
    }

    /// The signing algorithm.
    pub fn alg(&self) -> SigningAlg {
        self.signer.alg()
    }

    /// The public key, as the proofs' headers carry it.
    pub fn public_key(&self) -> &Jwk {
        &self.public
    }

    /// Starts a proof for a request with `method` (e.g. `"POST"`) to `uri` (absolute `http(s)`;
    /// its query and fragment are left out of `htu`, RFC 9449 §4.2).
    pub fn proof<'a>(&'a self, method: &'a str, uri: &'a str) -> ProofBuilder<'a> {
        ProofBuilder { key: self, method, uri, access_token: None, nonce: None, issued_at: None }
    }
}

/// One DPoP proof being made: [`DpopKey::proof`], then the optional parts, then
/// [`sign`](ProofBuilder::sign).
#[derive(Clone)]
#[must_use = "a proof builder does nothing until `sign` is called"]
pub struct ProofBuilder<'a> {
    key: &'a DpopKey,
    method: &'a str,
    uri: &'a str,
    access_token: Option<&'a str>,
    nonce: Option<&'a str>,
    issued_at: Option<i64>,
}

/// Shows neither the access token nor the nonce.
impl fmt::Debug for ProofBuilder<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProofBuilder")
            .field("key", &self.key.thumbprint())
            .field("method", &self.method)
            .field("uri", &crate::untrusted::value(self.uri))
            .field("access_token", &self.access_token.map(|_| "[redacted]"))
            .field("nonce", &self.nonce.map(|_| "[redacted]"))
            .field("issued_at", &self.issued_at)
            .finish()
    }
}

impl<'a> ProofBuilder<'a> {
    /// The access token the request presents: the proof carries its hash, `ath` (RFC 9449 §4.2).
    pub fn access_token(mut self, token: &'a str) -> Self {
        self.access_token = Some(token);
        self
    }

    /// The nonce the server gave in its `DPoP-Nonce` field (RFC 9449 §8, §9).
    pub fn nonce(mut self, nonce: &'a str) -> Self {
        self.nonce = Some(nonce);
        self
    }

    /// The creation time, `iat`, in seconds since the Unix epoch; by default the clock's.
    pub fn issued_at(mut self, unix_seconds: i64) -> Self {
        self.issued_at = Some(unix_seconds);
        self
    }

    /// The proof, a compact JWS for the request's `DPoP` header field. A method that is not an
    /// HTTP token ([`Misuse::NotHttpMethod`]) or a URI that is not an absolute `http(s)` URI
    /// ([`Misuse::NotAbsoluteUri`]) is an error.
    pub fn sign(self) -> Result<String> {
        if !is_method(self.method) {
            return Err(Error::Misuse(Misuse::NotHttpMethod));
        }
        // Sent normalised, so a server that compares `htu` without normalising still matches.
        let htu = super::htu::normalise(self.uri).ok_or(Error::Misuse(Misuse::NotAbsoluteUri("htu")))?;
        let mut jti = [0u8; JTI_BYTES];
        crate::crypto::random(&mut jti)?;
        let mut claims = Map::new();
        claims.insert("jti".into(), b64::encode(&jti).into());
        claims.insert("htm".into(), self.method.into());
        claims.insert("htu".into(), htu.into());
        claims.insert("iat".into(), self.issued_at.unwrap_or_else(crate::token::now).into());
        if let Some(token) = self.access_token {
            claims.insert("ath".into(), access_token_hash(token).into());
        }
        if let Some(nonce) = self.nonce {
            claims.insert("nonce".into(), nonce.into());
        }
        self.key.signer.sign(Value::Object(claims).to_string().as_bytes())
    }
}

/// `ath`: base64url of the SHA-256 of the access token's ASCII bytes (RFC 9449 §4.2).
pub(crate) fn access_token_hash(token: &str) -> String {
    b64::encode(&crate::crypto::sha256(token.as_bytes()))
}

/// An HTTP method: a non-empty `token` (RFC 9110 §9.1, §5.6.2).
pub(crate) fn is_method(method: &str) -> bool {
    !method.is_empty() && method.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}
