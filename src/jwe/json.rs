//! JWE JSON Serialization: general (RFC 7516 §7.2.1) and flattened (§7.2.2).

use serde_json::{Map, Value};

use super::{parse_header_b64, Header, ParsedJwe, ParsedRecipient, Serialization};
use crate::b64;
use crate::error::{Error, LimitExceeded, Misuse, Result};
use crate::json;

/// Parses a general or flattened JSON JWE.
pub(crate) fn parse(text: &str, max_header: usize, max_recipients: usize) -> Result<ParsedJwe> {
    let obj = json::parse_object(text.as_bytes(), "JWE JSON")?;
    let protected_b64 = json::opt_str(&obj, "protected")?.unwrap_or("").to_owned();
    let protected = if protected_b64.is_empty() {
        if obj.contains_key("protected") {
            return Err(Error::malformed("empty `protected` member"));
        }
        Header::new()
    } else {
        parse_header_b64(&protected_b64, max_header)?
    };
    let unprotected = opt_header(&obj, "unprotected", max_header)?;
    let (serialization, recipients) = match obj.get("recipients") {
        Some(Value::Array(list)) => {
            if obj.contains_key("header") || obj.contains_key("encrypted_key") {
                return Err(Error::malformed(
                    "general JSON JWE must not have top-level `header`/`encrypted_key`",
                ));
            }
            if list.is_empty() {
                return Err(Error::malformed("`recipients` is empty"));
            }
            if list.len() > max_recipients {
                return Err(
                    LimitExceeded::TooManyRecipients { found: list.len(), max: max_recipients }.into()
                );
            }
            let recipients = list
                .iter()
                .map(|r| match r {
                    Value::Object(r) => recipient(r, max_header),
                    _ => Err(Error::malformed("each recipient must be an object")),
                })
                .collect::<Result<Vec<_>>>()?;
            (Serialization::General, recipients)
        }
        Some(_) => return Err(Error::malformed("`recipients` must be an array")),
        None => (Serialization::Flattened, vec![recipient(&obj, max_header)?]),
    };
    let aad_b64 = json::opt_str(&obj, "aad")?.map(str::to_owned);
    if let Some(a) = &aad_b64 {
        b64::decode(a, "aad")?;
    }
    Ok(ParsedJwe {
        serialization,
        protected_b64,
        protected,
        unprotected,
        recipients,
        aad_b64,
        iv: b64::decode(json::opt_str(&obj, "iv")?.unwrap_or(""), "iv")?,
        ciphertext: b64::decode(json::req_str(&obj, "ciphertext")?, "ciphertext")?,
        tag: b64::decode(json::opt_str(&obj, "tag")?.unwrap_or(""), "tag")?,
    })
}

fn recipient(obj: &Map<String, Value>, max_header: usize) -> Result<ParsedRecipient> {
    Ok(ParsedRecipient {
        header: opt_header(obj, "header", max_header)?,
        encrypted_key: b64::decode(json::opt_str(obj, "encrypted_key")?.unwrap_or(""), "encrypted_key")?,
    })
}

fn opt_header(obj: &Map<String, Value>, name: &str, max_header: usize) -> Result<Option<Header>> {
    match obj.get(name) {
        None => Ok(None),
        Some(Value::Object(h)) => {
            // Unprotected headers are measured as compact JSON.
            if serde_json::to_string(h).map_or(usize::MAX, |t| t.len()) > max_header {
                return Err(LimitExceeded::HeaderTooLarge { max: max_header }.into());
            }
            Ok(Some(h.clone()))
        }
        Some(_) => Err(Error::malformed(format!("`{name}` must be an object"))),
    }
}

/// One recipient as produced by the encryptor.
pub(crate) struct OutRecipient {
    pub header: Header,
    pub encrypted_key: Vec<u8>,
}

/// The parts of a JSON JWE to serialize.
pub(crate) struct OutParts<'a> {
    pub protected_b64: &'a str,
    pub unprotected: Option<&'a Header>,
    pub recipients: Vec<OutRecipient>,
    pub aad_b64: Option<&'a str>,
    pub iv: &'a [u8],
    pub ciphertext: &'a [u8],
    pub tag: &'a [u8],
}

/// Serializes as general (`flattened == false`) or flattened JSON.
pub(crate) fn serialize(parts: OutParts<'_>, flattened: bool) -> Result<String> {
    let mut out = Map::new();
    if !parts.protected_b64.is_empty() {
        out.insert("protected".into(), parts.protected_b64.into());
    }
    if let Some(u) = parts.unprotected.filter(|u| !u.is_empty()) {
        out.insert("unprotected".into(), Value::Object(u.clone()));
    }
    let recipient_value = |r: OutRecipient| {
        let mut m = Map::new();
        if !r.header.is_empty() {
            m.insert("header".into(), Value::Object(r.header));
        }
        if !r.encrypted_key.is_empty() {
            m.insert("encrypted_key".into(), b64::encode(&r.encrypted_key).into());
        }
        m
    };
    if flattened {
        let mut recipients = parts.recipients;
        let (Some(r), true) = (recipients.pop(), recipients.is_empty()) else {
            return Err(Error::Misuse(Misuse::OneRecipientOnly("flattened")));
        };
        out.extend(recipient_value(r));
    } else {
        let list = parts.recipients.into_iter().map(|r| Value::Object(recipient_value(r))).collect();
        out.insert("recipients".into(), Value::Array(list));
    }
    if let Some(a) = parts.aad_b64 {
        out.insert("aad".into(), a.into());
    }
    out.insert("iv".into(), b64::encode(parts.iv).into());
    out.insert("ciphertext".into(), b64::encode(parts.ciphertext).into());
    out.insert("tag".into(), b64::encode(parts.tag).into());
    Ok(Value::Object(out).to_string())
}
