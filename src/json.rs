//! Strict JSON parsing for untrusted input: duplicate member names are an error at every depth
//! (RFC 7515 §5.2 / RFC 7516 §5.2 allow rejecting them; we always do), and nesting is bounded.

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::fmt;

use crate::error::{Error, LimitExceeded, Result};

/// Maximum nesting depth of arrays/objects accepted in a header or claims document.
pub(crate) const MAX_DEPTH: usize = 32;

/// The message of the depth error, recognised again in [`describe`].
const TOO_DEEP: &str = "JSON nested too deeply";

/// A JSON object parsed strictly.
pub(crate) type Object = Map<String, Value>;

struct StrictValue(Value);

struct DepthSeed(usize);

impl<'de> de::DeserializeSeed<'de> for DepthSeed {
    type Value = StrictValue;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<StrictValue, D::Error> {
        d.deserialize_any(StrictVisitor(self.0))
    }
}

impl<'de> Deserialize<'de> for StrictValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor(0))
    }
}

struct StrictVisitor(usize);

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = StrictValue;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> std::result::Result<StrictValue, E> {
        Ok(StrictValue(Value::Bool(v)))
    }
    fn visit_i64<E>(self, v: i64) -> std::result::Result<StrictValue, E> {
        Ok(StrictValue(Value::from(v)))
    }
    fn visit_u64<E>(self, v: u64) -> std::result::Result<StrictValue, E> {
        Ok(StrictValue(Value::from(v)))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> std::result::Result<StrictValue, E> {
        serde_json::Number::from_f64(v)
            .map(|n| StrictValue(Value::Number(n)))
            .ok_or_else(|| E::custom("number out of range"))
    }
    fn visit_str<E>(self, v: &str) -> std::result::Result<StrictValue, E> {
        Ok(StrictValue(Value::String(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> std::result::Result<StrictValue, E> {
        Ok(StrictValue(Value::String(v)))
    }
    fn visit_unit<E>(self) -> std::result::Result<StrictValue, E> {
        Ok(StrictValue(Value::Null))
    }
    fn visit_none<E>(self) -> std::result::Result<StrictValue, E> {
        Ok(StrictValue(Value::Null))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<StrictValue, A::Error> {
        if self.0 >= MAX_DEPTH {
            return Err(de::Error::custom(TOO_DEEP));
        }
        let mut out = Vec::new();
        while let Some(StrictValue(v)) = seq.next_element_seed(DepthSeed(self.0 + 1))? {
            out.push(v);
        }
        Ok(StrictValue(Value::Array(out)))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<StrictValue, A::Error> {
        if self.0 >= MAX_DEPTH {
            return Err(de::Error::custom(TOO_DEEP));
        }
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                return Err(de::Error::custom("duplicate member name"));
            }
            let StrictValue(v) = map.next_value_seed(DepthSeed(self.0 + 1))?;
            out.insert(key, v);
        }
        Ok(StrictValue(Value::Object(out)))
    }
}

/// Deserializes any JSON value strictly from a serde deserializer (for `Deserialize` impls of
/// types that hold untrusted JSON, such as `Jwk`).
pub(crate) fn deserialize_strict<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Value, D::Error> {
    StrictValue::deserialize(d).map(|v| v.0)
}

/// Parses any JSON value strictly.
pub(crate) fn parse_value(bytes: &[u8], what: &str) -> Result<Value> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let v = StrictValue::deserialize(&mut de).and_then(|v| de.end().map(|_| v)).map_err(|e| {
        let text = describe(&e);
        if text == TOO_DEEP {
            Error::Limit(LimitExceeded::JsonTooDeep { max: MAX_DEPTH })
        } else {
            Error::malformed(format!("{what}: {text}"))
        }
    })?;
    Ok(v.0)
}

/// Parses a JSON object strictly.
pub(crate) fn parse_object(bytes: &[u8], what: &str) -> Result<Object> {
    match parse_value(bytes, what)? {
        Value::Object(m) => Ok(m),
        _ => Err(Error::malformed(format!("{what}: not a JSON object"))),
    }
}

/// Error text without echoing input (serde_json messages quote at most a token type and position).
fn describe(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    match e.classify() {
        Category::Syntax | Category::Eof => {
            format!("invalid JSON at line {} column {}", e.line(), e.column())
        }
        Category::Data => {
            let msg = e.to_string();
            if msg.contains("duplicate member") {
                "duplicate member name".into()
            } else if msg.contains(TOO_DEEP) || msg.contains("recursion limit") {
                TOO_DEEP.into()
            } else {
                "invalid JSON value".into()
            }
        }
        Category::Io => "I/O error".into(),
    }
}

/// Reads an optional string member; a member of another type is an error.
pub(crate) fn opt_str<'a>(obj: &'a Object, name: &str) -> Result<Option<&'a str>> {
    match obj.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(Error::malformed(format!("`{name}` must be a string"))),
    }
}

/// Reads a required string member.
pub(crate) fn req_str<'a>(obj: &'a Object, name: &str) -> Result<&'a str> {
    opt_str(obj, name)?.ok_or_else(|| Error::malformed(format!("missing `{name}`")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_members_are_rejected_at_any_depth() {
        assert!(parse_object(br#"{"a":1,"a":2}"#, "t").is_err());
        assert!(parse_object(br#"{"a":{"b":1,"b":1}}"#, "t").is_err());
        assert!(parse_object(br#"{"a":1,"b":2}"#, "t").is_ok());
    }

    #[test]
    fn depth_is_bounded() {
        let deep = "[".repeat(100) + &"]".repeat(100);
        assert_eq!(
            parse_value(deep.as_bytes(), "t"),
            Err(Error::Limit(LimitExceeded::JsonTooDeep { max: MAX_DEPTH }))
        );
        let just_over = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        assert!(matches!(parse_value(just_over.as_bytes(), "t"), Err(Error::Limit(_))));
        let at_limit = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        assert!(parse_value(at_limit.as_bytes(), "t").is_ok());
        let ok = "[".repeat(10) + &"]".repeat(10);
        assert!(parse_value(ok.as_bytes(), "t").is_ok());
    }

    #[test]
    fn trailing_data_is_rejected() {
        assert!(parse_object(br#"{"a":1} x"#, "t").is_err());
    }
}
