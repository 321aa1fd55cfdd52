//! RFC 7512 PKCS#11 URIs: `pkcs11:token=…;object=…;id=…;type=private?module-path=…&pin-source=…`.
//!
//! Path attributes (RFC 7512 §2.3): `token`, `object`, `id`, `type`, `slot-id` (others, such as
//! `manufacturer`, are accepted and ignored). Query attributes: `module-path` (the PKCS#11 library)
//! and `pin-source` (`file:PATH` per RFC 7512 §2.3, or `env:NAME`, an environment variable, this
//! crate's extension). `pin-value` is refused: a PIN must never sit on a command line or in a log.

use std::fmt;
use std::path::PathBuf;

use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// Where the PIN comes from.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum PinSource {
    /// A file whose content (one trailing newline removed) is the PIN.
    File(PathBuf),
    /// An environment variable.
    Env(String),
}

/// A parsed PKCS#11 URI. Holds no secret: the PIN is read from its source when the key is opened.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Pkcs11Uri {
    pub token: Option<String>,
    pub object: Option<String>,
    pub id: Option<Vec<u8>>,
    pub slot_id: Option<u64>,
    pub module_path: Option<PathBuf>,
    pub pin_source: Option<PinSource>,
}

impl fmt::Debug for Pkcs11Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pkcs11Uri({self})")
    }
}

/// The key's address for messages: the path attributes only (never a PIN; none is ever held).
impl fmt::Display for Pkcs11Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("pkcs11:")?;
        let mut parts: Vec<String> = Vec::new();
        if let Some(t) = &self.token {
            parts.push(format!("token={}", pct_encode(t.as_bytes())));
        }
        if let Some(o) = &self.object {
            parts.push(format!("object={}", pct_encode(o.as_bytes())));
        }
        if let Some(id) = &self.id {
            parts.push(format!("id={}", id.iter().map(|b| format!("%{b:02x}")).collect::<String>()));
        }
        if let Some(s) = self.slot_id {
            parts.push(format!("slot-id={s}"));
        }
        f.write_str(&parts.join(";"))
    }
}

fn pct_encode(b: &[u8]) -> String {
    b.iter()
        .map(|&c| {
            if c.is_ascii_alphanumeric() || b"-._~".contains(&c) {
                (c as char).to_string()
            } else {
                format!("%{c:02X}")
            }
        })
        .collect()
}

fn pct_decode(s: &str, what: &str) -> Result<Vec<u8>> {
    let bad = || Error::invalid_key(format!("PKCS#11 URI: bad percent-encoding in `{what}`"));
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b.get(i + 1..i + 3).ok_or_else(bad)?;
            let hex = std::str::from_utf8(hex).map_err(|_| bad())?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| bad())?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Ok(out)
}

fn pct_decode_str(s: &str, what: &str) -> Result<String> {
    String::from_utf8(pct_decode(s, what)?)
        .map_err(|_| Error::invalid_key(format!("PKCS#11 URI: `{what}` is not UTF-8")))
}

impl Pkcs11Uri {
    /// Whether `s` is a PKCS#11 URI (scheme `pkcs11:`, case-insensitive as RFC 3986 §3.1 says).
    pub(crate) fn is_pkcs11_uri(s: &str) -> bool {
        s.get(..7).is_some_and(|p| p.eq_ignore_ascii_case("pkcs11:"))
    }

    /// Parses a URI. Errors never repeat attribute values (one may be a mistyped PIN).
    pub(crate) fn parse(s: &str) -> Result<Pkcs11Uri> {
        if !Self::is_pkcs11_uri(s) {
            return Err(Error::invalid_key("not a PKCS#11 URI (expected `pkcs11:…`)"));
        }
        let rest = &s[7..];
        let (path, query) = match rest.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (rest, None),
        };
        let mut uri = Pkcs11Uri {
            token: None,
            object: None,
            id: None,
            slot_id: None,
            module_path: None,
            pin_source: None,
        };
        for attr in path.split(';').filter(|a| !a.is_empty()) {
            let (name, value) = attr
                .split_once('=')
                .ok_or_else(|| Error::invalid_key("PKCS#11 URI: a path attribute without `=`"))?;
            match name {
                "token" => set_once(&mut uri.token, pct_decode_str(value, name)?, name)?,
                "object" => set_once(&mut uri.object, pct_decode_str(value, name)?, name)?,
                "id" => set_once(&mut uri.id, pct_decode(value, name)?, name)?,
                "slot-id" => {
                    let n = value
                        .parse::<u64>()
                        .map_err(|_| Error::invalid_key("PKCS#11 URI: `slot-id` must be a number"))?;
                    set_once(&mut uri.slot_id, n, name)?;
                }
                "type" if value != "private" => {
                    return Err(Error::invalid_key(
                        "PKCS#11 URI: only `type=private` keys can sign or decrypt here",
                    ))
                }
                "pin-value" => return Err(pin_value_refused()),
                // RFC 7512 §2.3: other attributes narrow the token choice; not needed here.
                _ => {}
            }
        }
        for attr in query.unwrap_or("").split('&').filter(|a| !a.is_empty()) {
            let (name, value) = attr.split_once('=').unwrap_or((attr, ""));
            match name {
                "pin-value" => return Err(pin_value_refused()),
                "module-path" => {
                    set_once(&mut uri.module_path, PathBuf::from(pct_decode_str(value, name)?), name)?
                }
                "pin-source" => {
                    let v = pct_decode_str(value, name)?;
                    let src = if let Some(var) = v.strip_prefix("env:") {
                        PinSource::Env(var.to_owned())
                    } else if let Some(path) = v.strip_prefix("file://") {
                        PinSource::File(PathBuf::from(path))
                    } else if let Some(path) = v.strip_prefix("file:") {
                        PinSource::File(PathBuf::from(path))
                    } else {
                        PinSource::File(PathBuf::from(v))
                    };
                    set_once(&mut uri.pin_source, src, name)?;
                }
                _ => {}
            }
        }
        if uri.object.is_none() && uri.id.is_none() {
            return Err(Error::invalid_key(format!("{uri}: name the key with `object=` or `id=`")));
        }
        Ok(uri)
    }

    /// Reads the PIN from its source (`None`: no PIN, e.g. a token with a protected path).
    pub(crate) fn read_pin(&self) -> Result<Option<Zeroizing<String>>> {
        let pin = match &self.pin_source {
            None => return Ok(None),
            Some(PinSource::Env(var)) => Zeroizing::new(std::env::var(var).map_err(|_| {
                Error::Pkcs11(format!(
                    "{self}: the PIN environment variable `{}` is not set",
                    crate::untrusted::name(var)
                ))
            })?),
            Some(PinSource::File(path)) => {
                let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| {
                    Error::Pkcs11(format!(
                        "{self}: cannot read the PIN file {}: {}",
                        path.display(),
                        e.kind()
                    ))
                })?);
                let trimmed = text.strip_suffix('\n').unwrap_or(&text);
                let trimmed = trimmed.strip_suffix('\r').unwrap_or(trimmed);
                Zeroizing::new(trimmed.to_owned())
            }
        };
        Ok(Some(pin))
    }
}

fn set_once<T>(slot: &mut Option<T>, value: T, name: &str) -> Result<()> {
    match slot.replace(value) {
        None => Ok(()),
        Some(_) => Err(Error::invalid_key(format!("PKCS#11 URI: `{name}` given twice"))),
    }
}

fn pin_value_refused() -> Error {
    Error::invalid_key(
        "PKCS#11 URI: `pin-value` is refused (a PIN must not appear in a URI); \
         use `pin-source=file:PATH` or `pin-source=env:NAME`",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_path_and_query() {
        let u = Pkcs11Uri::parse(
            "pkcs11:token=My%20Token;object=as-key;id=%01%ff;type=private?module-path=/usr/lib/x.so&pin-source=file:/run/pin",
        )
        .unwrap();
        assert_eq!(u.token.as_deref(), Some("My Token"));
        assert_eq!(u.object.as_deref(), Some("as-key"));
        assert_eq!(u.id.as_deref(), Some(&[1u8, 255][..]));
        assert_eq!(u.module_path, Some(PathBuf::from("/usr/lib/x.so")));
        assert!(u.pin_source == Some(PinSource::File(PathBuf::from("/run/pin"))));
        assert_eq!(u.to_string(), "pkcs11:token=My%20Token;object=as-key;id=%01%ff");
        let e = Pkcs11Uri::parse("pkcs11:object=k?pin-source=env:MY_PIN").unwrap();
        assert!(e.pin_source == Some(PinSource::Env("MY_PIN".into())));
    }

    #[test]
    fn refuses_pin_value_without_echoing_it() {
        for s in ["pkcs11:object=k?pin-value=S3cr3t-PIN", "pkcs11:object=k;pin-value=S3cr3t-PIN"] {
            let e = Pkcs11Uri::parse(s).unwrap_err().to_string();
            assert!(e.contains("pin-value"), "{e}");
            assert!(!e.contains("S3cr3t"), "{e}");
        }
    }

    #[test]
    fn refuses_bad_uris() {
        for s in [
            "file:/x",
            "pkcs11:token=t",
            "pkcs11:object=a;object=b",
            "pkcs11:object=%zz",
            "pkcs11:object=%4",
            "pkcs11:object=k;type=public",
            "pkcs11:object=k;slot-id=x",
            "pkcs11:object",
        ] {
            assert!(Pkcs11Uri::parse(s).is_err(), "{s}");
        }
    }
}
