//! Disclosures (RFC 9901 §4.2): `base64url(JSON array [salt, name, value])` for object
//! properties and `[salt, value]` for array elements, and their SHA-256 digests.

use serde_json::{Value, json};

use crate::rng::{Rng, RngError, random_b64};
use crate::{b64, json};

/// Cap on one encoded disclosure.
pub const MAX_DISCLOSURE: usize = 1024;
/// Salt length in bytes (128 bits).
pub const SALT_BYTES: usize = 16;

/// Why a disclosure could not be decoded.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DisclosureError {
    /// Longer than [`MAX_DISCLOSURE`].
    #[error("disclosure too large")]
    TooLarge,
    /// Not base64url.
    #[error("disclosure is not base64url")]
    Base64,
    /// Not a strict JSON array of 2 or 3 elements with a string salt (and string name).
    #[error("disclosure is not a [salt, name, value] or [salt, value] array")]
    Shape,
}

/// A decoded disclosure, keeping its exact encoded form (the digest is over it).
#[derive(Clone, PartialEq, Debug)]
pub struct Disclosure {
    encoded: String,
    name: Option<String>,
    value: Value,
}

impl Disclosure {
    /// A disclosure of the object property `name` with a fresh 128-bit salt.
    pub fn property(rng: &mut dyn Rng, name: &str, value: Value) -> Result<Self, RngError> {
        let salt = random_b64(rng, SALT_BYTES)?;
        Ok(Self::encode(
            json!([salt, name, value.clone()]),
            Some(name.to_owned()),
            value,
        ))
    }

    /// A disclosure of an array element with a fresh 128-bit salt.
    pub fn element(rng: &mut dyn Rng, value: Value) -> Result<Self, RngError> {
        let salt = random_b64(rng, SALT_BYTES)?;
        Ok(Self::encode(json!([salt, value.clone()]), None, value))
    }

    fn encode(array: Value, name: Option<String>, value: Value) -> Self {
        Disclosure {
            encoded: b64::encode(array.to_string()),
            name,
            value,
        }
    }

    /// Decodes an encoded disclosure.
    pub fn parse(encoded: &str) -> Result<Self, DisclosureError> {
        if encoded.len() > MAX_DISCLOSURE {
            return Err(DisclosureError::TooLarge);
        }
        let bytes = b64::decode(encoded, MAX_DISCLOSURE).map_err(|_| DisclosureError::Base64)?;
        let Ok(Value::Array(mut items)) = json::parse_value(&bytes, MAX_DISCLOSURE) else {
            return Err(DisclosureError::Shape);
        };
        if !items.first().is_some_and(Value::is_string) {
            return Err(DisclosureError::Shape);
        }
        let (name, value) = match items.len() {
            2 => (None, items.pop()),
            3 => {
                let value = items.pop();
                match items.pop() {
                    Some(Value::String(name)) => (Some(name), value),
                    _ => return Err(DisclosureError::Shape),
                }
            }
            _ => return Err(DisclosureError::Shape),
        };
        Ok(Disclosure {
            encoded: encoded.to_owned(),
            name,
            value: value.ok_or(DisclosureError::Shape)?,
        })
    }

    /// The encoded form.
    pub fn encoded(&self) -> &str {
        &self.encoded
    }
    /// The property name; `None` for an array element.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }
    /// The disclosed value.
    pub fn value(&self) -> &Value {
        &self.value
    }
    /// The SHA-256 digest of the encoded form, base64url.
    pub fn digest(&self) -> String {
        digest(&self.encoded)
    }
}

/// `base64url(SHA-256(ascii))`: the digest of a disclosure or the `sd_hash` of a presentation.
pub fn digest(ascii: &str) -> String {
    b64::encode(ring::digest::digest(&ring::digest::SHA256, ascii.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_disclosure_digest() {
        // RFC 9901 §4.2.1 example.
        let enc = "WyJfMjZiYzRMVC1hYzZxMktJNmNCVzVlcyIsICJmYW1pbHlfbmFtZSIsICJNw7ZiaXVzIl0";
        let d = Disclosure::parse(enc).unwrap();
        assert_eq!(d.name(), Some("family_name"));
        assert_eq!(d.value(), &json!("Möbius"));
        assert_eq!(d.digest(), "X9yH0Ajrdm1Oij4tWso9UzzKJvPoDxwmuEcO3XAdRC0");
    }

    #[test]
    fn shapes() {
        let bad = |s: &str| Disclosure::parse(&b64::encode(s)).unwrap_err();
        assert_eq!(bad(r#"["s"]"#), DisclosureError::Shape);
        assert_eq!(bad(r#"[1, "n", true]"#), DisclosureError::Shape);
        assert_eq!(bad(r#"["s", 1, true]"#), DisclosureError::Shape);
        assert_eq!(bad(r#"["s", "n", true, 4]"#), DisclosureError::Shape);
        assert_eq!(bad(r#"{"s": 1}"#), DisclosureError::Shape);
        assert_eq!(Disclosure::parse("***").unwrap_err(), DisclosureError::Base64);
        let e = Disclosure::parse(&b64::encode(r#"["s", [1]]"#)).unwrap();
        assert_eq!((e.name(), e.value()), (None, &json!([1])));
    }
}
