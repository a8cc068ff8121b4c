//! Strict JSON (protocol.md §2): UTF-8, no duplicate member names, bounded nesting, and the
//! size cap applied before any parsing.

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// Deepest nesting of arrays and objects accepted anywhere.
pub const MAX_DEPTH: usize = 32;

/// Why a JSON text was refused.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum JsonError {
    /// Longer than the cap; nothing was parsed.
    #[error("JSON text of {len} bytes exceeds the cap of {max}")]
    TooLarge {
        /// Length of the input.
        len: usize,
        /// Cap that applied.
        max: usize,
    },
    /// Not valid UTF-8.
    #[error("JSON text is not valid UTF-8")]
    InvalidUtf8,
    /// Arrays and objects nested deeper than [`MAX_DEPTH`].
    #[error("JSON nesting deeper than {max}")]
    TooDeep {
        /// The depth limit.
        max: usize,
    },
    /// An object names the same member twice.
    #[error("JSON object has a duplicate member name")]
    DuplicateMember,
    /// Not JSON (includes trailing data after the value).
    #[error("invalid JSON")]
    Syntax,
    /// Valid JSON, but not an object where one was required.
    #[error("JSON value is not an object")]
    NotAnObject,
}

/// Parses a strict JSON object of at most `max_len` bytes.
pub fn parse_object(bytes: &[u8], max_len: usize) -> Result<Map<String, Value>, JsonError> {
    match parse_value(bytes, max_len)? {
        Value::Object(map) => Ok(map),
        _ => Err(JsonError::NotAnObject),
    }
}

/// Parses any strict JSON value of at most `max_len` bytes.
pub fn parse_value(bytes: &[u8], max_len: usize) -> Result<Value, JsonError> {
    if bytes.len() > max_len {
        return Err(JsonError::TooLarge {
            len: bytes.len(),
            max: max_len,
        });
    }
    let text = std::str::from_utf8(bytes).map_err(|_| JsonError::InvalidUtf8)?;
    check_depth(text.as_bytes())?;
    let mut de = serde_json::Deserializer::from_str(text);
    let value = match Strict::deserialize(&mut de) {
        Ok(Strict(v)) => v,
        Err(e) if e.to_string().starts_with(DUPLICATE) => return Err(JsonError::DuplicateMember),
        Err(_) => return Err(JsonError::Syntax),
    };
    de.end().map_err(|_| JsonError::Syntax)?;
    Ok(value)
}

const DUPLICATE: &str = "ageband:duplicate-member";

/// Counts bracket depth outside strings, so that a deeply nested input is refused before the
/// recursive parser sees it.
fn check_depth(bytes: &[u8]) -> Result<(), JsonError> {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &b in bytes {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(JsonError::TooDeep { max: MAX_DEPTH });
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// A `Value` whose objects must not repeat a member name.
struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(Strict(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let Strict(v) = map.next_value()?;
            if out.insert(key, v).is_some() {
                return Err(de::Error::custom(DUPLICATE));
            }
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_rules() {
        assert!(parse_object(br#"{"a":1,"b":[true,null,"x"]}"#, 100).is_ok());
        assert_eq!(
            parse_object(br#"{"a":1,"a":2}"#, 100),
            Err(JsonError::DuplicateMember)
        );
        assert_eq!(
            parse_object(br#"{"a":{"b":1,"b":1}}"#, 100),
            Err(JsonError::DuplicateMember)
        );
        assert_eq!(parse_object(br#"{"a":1} x"#, 100), Err(JsonError::Syntax));
        assert_eq!(parse_object(b"[1]", 100), Err(JsonError::NotAnObject));
        assert_eq!(
            parse_object(b"{\"a\":\"\xff\"}", 100),
            Err(JsonError::InvalidUtf8)
        );
        assert_eq!(
            parse_object(b"{}", 1),
            Err(JsonError::TooLarge { len: 2, max: 1 })
        );
        let deep = format!("{}{}", "[".repeat(33), "]".repeat(33));
        assert_eq!(
            parse_value(deep.as_bytes(), 1000),
            Err(JsonError::TooDeep { max: 32 })
        );
        let ok = format!("{}{}", "[".repeat(32), "]".repeat(32));
        assert!(parse_value(ok.as_bytes(), 1000).is_ok());
        // Brackets inside strings do not count.
        let s = format!("[\"{}\\\"\"]", "[".repeat(40));
        assert!(parse_value(s.as_bytes(), 1000).is_ok());
    }
}
