//! EC P-256 public keys as JWK (RFC 7517/7518) and their RFC 7638 thumbprints, which ageband
//! uses as `kid` (protocol.md §3).

use serde_json::{Map, Value, json};

use crate::b64;

/// Why a JWK or JWK set was refused.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwkError {
    /// Not a JSON object, or a required member is missing or not a string.
    #[error("JWK member `{member}` is missing or not a string")]
    Missing {
        /// The member.
        member: &'static str,
    },
    /// `kty` is not `EC` or `crv` is not `P-256`.
    #[error("only EC P-256 keys are supported")]
    UnsupportedKey,
    /// A coordinate is not 32 bytes of base64url.
    #[error("JWK coordinate `{member}` is not 32 bytes of base64url")]
    BadCoordinate {
        /// `x` or `y`.
        member: &'static str,
    },
    /// The JWK carries private key material (`d`); a public key was expected.
    #[error("JWK carries a private key")]
    PrivateKey,
    /// Not a 65-byte uncompressed SEC1 point. (Whether the point lies on the curve is checked
    /// by `ring` at first use: a key that is not on the curve verifies nothing.)
    #[error("not an uncompressed P-256 point")]
    BadPoint,
    /// A JWK set is not `{"keys":[...]}` or holds no usable key.
    #[error("not a JWK set with at least one EC P-256 key")]
    EmptySet,
}

/// An EC P-256 public key.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PublicJwk {
    x: [u8; 32],
    y: [u8; 32],
}

impl PublicJwk {
    /// Builds a key from the 65-byte uncompressed SEC1 point (`0x04 ‖ x ‖ y`).
    pub fn from_uncompressed(point: &[u8]) -> Result<Self, JwkError> {
        if point.len() != 65 || point[0] != 4 {
            return Err(JwkError::BadPoint);
        }
        let mut x = [0u8; 32];
        let mut y = [0u8; 32];
        x.copy_from_slice(&point[1..33]);
        y.copy_from_slice(&point[33..]);
        Ok(PublicJwk { x, y })
    }

    /// Parses a JSON JWK. Members other than `kty`, `crv`, `x`, `y` are ignored, except `d`.
    pub fn from_json(value: &Value) -> Result<Self, JwkError> {
        let obj = value.as_object().ok_or(JwkError::Missing { member: "kty" })?;
        if obj.contains_key("d") {
            return Err(JwkError::PrivateKey);
        }
        let kty = str_member(obj, "kty")?;
        let crv = str_member(obj, "crv")?;
        if kty != "EC" || crv != "P-256" {
            return Err(JwkError::UnsupportedKey);
        }
        let x = b64::decode_array::<32>(str_member(obj, "x")?)
            .map_err(|_| JwkError::BadCoordinate { member: "x" })?;
        let y = b64::decode_array::<32>(str_member(obj, "y")?)
            .map_err(|_| JwkError::BadCoordinate { member: "y" })?;
        Ok(PublicJwk { x, y })
    }

    /// The JWK as JSON: exactly `kty`, `crv`, `x`, `y`.
    pub fn to_json(&self) -> Value {
        json!({"kty": "EC", "crv": "P-256", "x": b64::encode(self.x), "y": b64::encode(self.y)})
    }

    /// The RFC 7638 thumbprint: base64url(SHA-256 of the canonical members in lexical order).
    pub fn thumbprint(&self) -> String {
        let canonical = format!(
            r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
            b64::encode(self.x),
            b64::encode(self.y)
        );
        b64::encode(ring::digest::digest(&ring::digest::SHA256, canonical.as_bytes()))
    }

    /// The uncompressed SEC1 encoding, as `ring` takes it.
    pub fn uncompressed(&self) -> [u8; 65] {
        let mut out = [0u8; 65];
        out[0] = 4;
        out[1..33].copy_from_slice(&self.x);
        out[33..].copy_from_slice(&self.y);
        out
    }

    /// The compressed SEC1 encoding (33 bytes), used where a short key name is hashed.
    pub fn compressed(&self) -> [u8; 33] {
        let mut out = [0u8; 33];
        out[0] = 2 | (self.y[31] & 1);
        out[1..].copy_from_slice(&self.x);
        out
    }
}

impl std::fmt::Debug for PublicJwk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublicJwk")
            .field("thumbprint", &self.thumbprint())
            .finish()
    }
}

/// Parses either one JWK or a JWK set `{"keys":[…]}`. Keys of other types in a set are
/// skipped (a JWKS may publish several kinds); a malformed EC P-256 key is an error.
pub fn parse_jwk_or_set(value: &Value) -> Result<Vec<PublicJwk>, JwkError> {
    let Some(keys) = value.get("keys") else {
        return Ok(vec![PublicJwk::from_json(value)?]);
    };
    let keys = keys.as_array().ok_or(JwkError::EmptySet)?;
    let mut out = Vec::new();
    for k in keys {
        match PublicJwk::from_json(k) {
            Ok(key) => out.push(key),
            Err(JwkError::UnsupportedKey) => continue,
            Err(e) => return Err(e),
        }
    }
    if out.is_empty() {
        return Err(JwkError::EmptySet);
    }
    Ok(out)
}

/// The JWK set `{"keys":[…]}` with `kid` (the thumbprint), `use` and `alg` on each key.
pub fn jwk_set(keys: &[PublicJwk]) -> Value {
    let keys: Vec<Value> = keys
        .iter()
        .map(|k| {
            let mut v = k.to_json();
            if let Value::Object(m) = &mut v {
                m.insert("kid".into(), Value::String(k.thumbprint()));
                m.insert("use".into(), Value::String("sig".into()));
                m.insert("alg".into(), Value::String("ES256".into()));
            }
            v
        })
        .collect();
    json!({ "keys": keys })
}

fn str_member<'a>(obj: &'a Map<String, Value>, member: &'static str) -> Result<&'a str, JwkError> {
    obj.get(member)
        .and_then(Value::as_str)
        .ok_or(JwkError::Missing { member })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 9901 appendix A.5 issuer key.
    const SPEC_KEY: &str = r#"{"kty":"EC","crv":"P-256","x":"b28d4MwZMjw8-00CG4xfnn9SLMVMM19SlqZpVb_uNtQ","y":"Xv5zWwuoaTgdS6hV43yI6gBwTnjukmFQQnJ_kCxzqk8"}"#;

    #[test]
    fn parse_serialize_thumbprint() {
        let v: Value = serde_json::from_str(SPEC_KEY).unwrap();
        let k = PublicJwk::from_json(&v).unwrap();
        assert_eq!(k.to_json(), v);
        assert_eq!(PublicJwk::from_uncompressed(&k.uncompressed()).unwrap(), k);
        assert_eq!(k.thumbprint().len(), 43);
        // Thumbprint is over the canonical form, whatever the input's member order.
        let reordered: Value = serde_json::from_str(
            r#"{"y":"Xv5zWwuoaTgdS6hV43yI6gBwTnjukmFQQnJ_kCxzqk8","x":"b28d4MwZMjw8-00CG4xfnn9SLMVMM19SlqZpVb_uNtQ","crv":"P-256","kty":"EC","kid":"k"}"#,
        )
        .unwrap();
        assert_eq!(
            PublicJwk::from_json(&reordered).unwrap().thumbprint(),
            k.thumbprint()
        );
    }

    #[test]
    fn refusals() {
        let mut v: Value = serde_json::from_str(SPEC_KEY).unwrap();
        v["crv"] = "P-384".into();
        assert_eq!(PublicJwk::from_json(&v), Err(JwkError::UnsupportedKey));
        let mut v: Value = serde_json::from_str(SPEC_KEY).unwrap();
        v["d"] = "AAAA".into();
        assert_eq!(PublicJwk::from_json(&v), Err(JwkError::PrivateKey));
        assert_eq!(PublicJwk::from_uncompressed(&[4; 64]), Err(JwkError::BadPoint));
        let mut v: Value = serde_json::from_str(SPEC_KEY).unwrap();
        v["x"] = "AAAA".into();
        assert_eq!(
            PublicJwk::from_json(&v),
            Err(JwkError::BadCoordinate { member: "x" })
        );
        assert_eq!(parse_jwk_or_set(&json!({"keys": []})), Err(JwkError::EmptySet));
        let set = jwk_set(&[PublicJwk::from_json(&serde_json::from_str(SPEC_KEY).unwrap()).unwrap()]);
        assert_eq!(parse_jwk_or_set(&set).unwrap().len(), 1);
    }
}
