//! Compact JWS with ES256 only (protocol.md §3), on `ring`.
//!
//! `alg` is an allow-list of one. Header members that let the sender choose the key or the
//! processing rules (`crit`, `jku`, `x5u`, `x5c`, and `jwk` where no key is expected in the
//! header) are refused before the signature is looked at.

use ring::signature::{self, EcdsaKeyPair, KeyPair as _, UnparsedPublicKey};
use serde_json::{Map, Value};
use zeroize::Zeroizing;

use crate::jwk::PublicJwk;
use crate::{b64, json};

/// The one accepted `alg`.
pub const ES256: &str = "ES256";
/// Cap on a decoded JWS header.
pub const MAX_HEADER: usize = 1024;
/// Cap on one compact JWS (header, payload and signature, encoded).
pub const MAX_JWS: usize = 8 * 1024;

/// Header members refused in every ageband JWS; `jwk` is refused unless the rules expect it.
const FORBIDDEN: [&str; 4] = ["crit", "jku", "x5u", "x5c"];

/// Why a compact JWS was refused.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwsError {
    /// Longer than [`MAX_JWS`].
    #[error("JWS of {len} bytes exceeds the cap of {max}")]
    TooLarge {
        /// Encoded length.
        len: usize,
        /// Cap.
        max: usize,
    },
    /// Not three dot-separated segments.
    #[error("not a compact JWS")]
    Malformed,
    /// A segment is not canonical base64url.
    #[error("JWS {segment} is not base64url")]
    Base64 {
        /// `header`, `payload` or `signature`.
        segment: &'static str,
    },
    /// The header or payload is not a strict JSON object.
    #[error("JWS {segment} is not a strict JSON object: {source}")]
    Json {
        /// `header` or `payload`.
        segment: &'static str,
        /// The JSON problem.
        #[source]
        source: json::JsonError,
    },
    /// `alg` is missing or not `ES256`.
    #[error("JWS alg {alg:?} is not allowed; only ES256")]
    UnsupportedAlg {
        /// The offered algorithm (at most 16 characters of it).
        alg: String,
    },
    /// `typ` is missing or not the expected one.
    #[error("JWS typ is not `{expected}`")]
    WrongTyp {
        /// The required `typ`.
        expected: &'static str,
    },
    /// A header member that is never accepted here.
    #[error("JWS header member `{name}` is not allowed")]
    ForbiddenHeader {
        /// The member.
        name: &'static str,
    },
    /// A header that must carry the signer's key (`jwk`) has none, or not an EC P-256 one.
    #[error("JWS header lacks a usable EC P-256 `jwk`")]
    HeaderJwk,
    /// The signature is not exactly 64 bytes (r ‖ s).
    #[error("ES256 signature must be 64 bytes, got {len}")]
    SignatureLength {
        /// The decoded length.
        len: usize,
    },
    /// The signature does not verify under the key.
    #[error("JWS signature does not verify")]
    BadSignature,
}

/// What a JWS header must look like.
#[derive(Debug, Clone, Copy)]
pub struct HeaderRules {
    /// The exact `typ`.
    pub typ: &'static str,
    /// Whether the header must carry the signer's key as `jwk` (OpenID4VCI proofs only).
    pub jwk_in_header: bool,
}

/// A parsed, not yet verified compact JWS.
#[derive(Debug, Clone)]
pub struct UnverifiedJws<'a> {
    /// The header.
    pub header: Map<String, Value>,
    /// The payload.
    pub payload: Map<String, Value>,
    signing_input: &'a str,
    signature: [u8; 64],
}

impl<'a> UnverifiedJws<'a> {
    /// Parses and applies the header rules; the payload is at most `max_payload` bytes.
    pub fn parse(compact: &'a str, rules: &HeaderRules, max_payload: usize) -> Result<Self, JwsError> {
        if compact.len() > MAX_JWS {
            return Err(JwsError::TooLarge {
                len: compact.len(),
                max: MAX_JWS,
            });
        }
        let mut parts = compact.split('.');
        let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(JwsError::Malformed);
        };
        let header_bytes = b64::decode(h, MAX_HEADER).map_err(|_| JwsError::Base64 { segment: "header" })?;
        let header = json::parse_object(&header_bytes, MAX_HEADER).map_err(|source| JwsError::Json {
            segment: "header",
            source,
        })?;
        check_header(&header, rules)?;
        let sig = b64::decode(s, 128).map_err(|_| JwsError::Base64 { segment: "signature" })?;
        let signature: [u8; 64] = sig
            .as_slice()
            .try_into()
            .map_err(|_| JwsError::SignatureLength { len: sig.len() })?;
        let payload_bytes =
            b64::decode(p, max_payload).map_err(|_| JwsError::Base64 { segment: "payload" })?;
        let payload = json::parse_object(&payload_bytes, max_payload).map_err(|source| JwsError::Json {
            segment: "payload",
            source,
        })?;
        Ok(UnverifiedJws {
            header,
            payload,
            signing_input: &compact[..h.len() + 1 + p.len()],
            signature,
        })
    }

    /// The header's `kid`, when it is a string.
    pub fn kid(&self) -> Option<&str> {
        self.header.get("kid").and_then(Value::as_str)
    }

    /// The key in the header's `jwk` member (only present when the rules required it).
    pub fn header_jwk(&self) -> Option<PublicJwk> {
        self.header.get("jwk").and_then(|v| PublicJwk::from_json(v).ok())
    }

    /// Checks the signature under `key`.
    pub fn verify(&self, key: &PublicJwk) -> Result<(), JwsError> {
        verify_es256(key, self.signing_input.as_bytes(), &self.signature)
    }
}

/// Verifies a raw ES256 signature (r ‖ s) over `msg`.
pub fn verify_es256(key: &PublicJwk, msg: &[u8], sig: &[u8; 64]) -> Result<(), JwsError> {
    UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, key.uncompressed())
        .verify(msg, sig)
        .map_err(|_| JwsError::BadSignature)
}

fn check_header(header: &Map<String, Value>, rules: &HeaderRules) -> Result<(), JwsError> {
    match header.get("alg").and_then(Value::as_str) {
        Some(ES256) => {}
        other => {
            return Err(JwsError::UnsupportedAlg {
                alg: other.unwrap_or("").chars().take(16).collect(),
            });
        }
    }
    if header.get("typ").and_then(Value::as_str) != Some(rules.typ) {
        return Err(JwsError::WrongTyp { expected: rules.typ });
    }
    if let Some(name) = FORBIDDEN.iter().find(|n| header.contains_key(**n)) {
        return Err(JwsError::ForbiddenHeader { name });
    }
    match (rules.jwk_in_header, header.get("jwk")) {
        (false, Some(_)) => Err(JwsError::ForbiddenHeader { name: "jwk" }),
        (true, None) => Err(JwsError::HeaderJwk),
        (true, Some(jwk)) => {
            if header.contains_key("kid") {
                return Err(JwsError::ForbiddenHeader { name: "kid" });
            }
            PublicJwk::from_json(jwk)
                .map(|_| ())
                .map_err(|_| JwsError::HeaderJwk)
        }
        (false, None) => Ok(()),
    }
}

/// Error from a [`Signer`].
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    /// The key material could not be used.
    #[error("signing key rejected")]
    BadKey,
    /// The signer (a device, a remote service, the OS RNG) failed.
    #[error("signer unavailable")]
    Unavailable,
}

/// Anything that makes ES256 signatures: a local `ring` key, a wallet's `p256` key, or a
/// hardware or cloud key behind the same trait.
pub trait Signer {
    /// The public key that verifies this signer's signatures.
    fn public_jwk(&self) -> &PublicJwk;
    /// Signs `msg` with ECDSA P-256 / SHA-256, returning r ‖ s.
    fn sign(&self, msg: &[u8]) -> Result<[u8; 64], SignError>;
}

/// Builds `header.payload.signature` from JSON objects.
pub fn sign_compact(signer: &dyn Signer, header: &Value, payload: &Value) -> Result<String, SignError> {
    let mut out = String::with_capacity(512);
    out.push_str(&b64::encode(header.to_string()));
    out.push('.');
    out.push_str(&b64::encode(payload.to_string()));
    let sig = signer.sign(out.as_bytes())?;
    out.push('.');
    out.push_str(&b64::encode(sig));
    Ok(out)
}

/// An ES256 key held in memory by `ring`. The PKCS#8 bytes are zeroized on drop and only
/// reachable through [`RingSigner::expose_pkcs8`].
pub struct RingSigner {
    pair: EcdsaKeyPair,
    pkcs8: Zeroizing<Vec<u8>>,
    jwk: PublicJwk,
    rng: ring::rand::SystemRandom,
}

impl RingSigner {
    /// Generates a fresh key from the OS RNG.
    pub fn generate() -> Result<Self, SignError> {
        let rng = ring::rand::SystemRandom::new();
        let doc = EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map_err(|_| SignError::Unavailable)?;
        Self::from_pkcs8(doc.as_ref())
    }

    /// Loads a key from PKCS#8 DER.
    pub fn from_pkcs8(der: &[u8]) -> Result<Self, SignError> {
        let rng = ring::rand::SystemRandom::new();
        let pair = EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, der, &rng)
            .map_err(|_| SignError::BadKey)?;
        let jwk = PublicJwk::from_uncompressed(pair.public_key().as_ref()).map_err(|_| SignError::BadKey)?;
        Ok(RingSigner {
            pair,
            pkcs8: Zeroizing::new(der.to_vec()),
            jwk,
            rng,
        })
    }

    /// The secret key as PKCS#8 DER, for encrypted storage.
    pub fn expose_pkcs8(&self) -> &[u8] {
        &self.pkcs8
    }
}

impl Signer for RingSigner {
    fn public_jwk(&self) -> &PublicJwk {
        &self.jwk
    }
    fn sign(&self, msg: &[u8]) -> Result<[u8; 64], SignError> {
        let sig = self
            .pair
            .sign(&self.rng, msg)
            .map_err(|_| SignError::Unavailable)?;
        sig.as_ref().try_into().map_err(|_| SignError::Unavailable)
    }
}

impl std::fmt::Debug for RingSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RingSigner")
            .field("kid", &self.jwk.thumbprint())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const RULES: HeaderRules = HeaderRules {
        typ: "test+jwt",
        jwk_in_header: false,
    };

    fn token(signer: &RingSigner, header: Value) -> String {
        sign_compact(signer, &header, &json!({"a": 1})).unwrap()
    }

    #[test]
    fn sign_verify_and_header_rules() {
        let s = RingSigner::generate().unwrap();
        let good = token(&s, json!({"alg": "ES256", "typ": "test+jwt"}));
        let jws = UnverifiedJws::parse(&good, &RULES, 1024).unwrap();
        jws.verify(s.public_jwk()).unwrap();
        let other = RingSigner::generate().unwrap();
        assert_eq!(jws.verify(other.public_jwk()), Err(JwsError::BadSignature));

        let cases = [
            (
                json!({"alg": "none", "typ": "test+jwt"}),
                JwsError::UnsupportedAlg { alg: "none".into() },
            ),
            (
                json!({"alg": "HS256", "typ": "test+jwt"}),
                JwsError::UnsupportedAlg { alg: "HS256".into() },
            ),
            (
                json!({"typ": "test+jwt"}),
                JwsError::UnsupportedAlg { alg: String::new() },
            ),
            (
                json!({"alg": "ES256", "typ": "jwt"}),
                JwsError::WrongTyp { expected: "test+jwt" },
            ),
            (
                json!({"alg": "ES256", "typ": "test+jwt", "crit": ["b64"]}),
                JwsError::ForbiddenHeader { name: "crit" },
            ),
            (
                json!({"alg": "ES256", "typ": "test+jwt", "jku": "https://x"}),
                JwsError::ForbiddenHeader { name: "jku" },
            ),
            (
                json!({"alg": "ES256", "typ": "test+jwt", "jwk": s.public_jwk().to_json()}),
                JwsError::ForbiddenHeader { name: "jwk" },
            ),
        ];
        for (header, want) in cases {
            let t = token(&s, header);
            assert_eq!(UnverifiedJws::parse(&t, &RULES, 1024).unwrap_err(), want);
        }
    }

    #[test]
    fn jwk_header_rules() {
        let s = RingSigner::generate().unwrap();
        let rules = HeaderRules {
            typ: "p+jwt",
            jwk_in_header: true,
        };
        let t = token(
            &s,
            json!({"alg": "ES256", "typ": "p+jwt", "jwk": s.public_jwk().to_json()}),
        );
        let jws = UnverifiedJws::parse(&t, &rules, 1024).unwrap();
        assert_eq!(jws.header_jwk().as_ref(), Some(s.public_jwk()));
        jws.verify(s.public_jwk()).unwrap();
        let t = token(&s, json!({"alg": "ES256", "typ": "p+jwt"}));
        assert_eq!(
            UnverifiedJws::parse(&t, &rules, 1024).unwrap_err(),
            JwsError::HeaderJwk
        );
    }

    #[test]
    fn signature_encoding_is_exact() {
        let s = RingSigner::generate().unwrap();
        let good = token(&s, json!({"alg": "ES256", "typ": "test+jwt"}));
        let (si, sig) = good.rsplit_once('.').unwrap();
        let mut raw = b64::decode(sig, 64).unwrap();
        raw.push(0);
        let long = format!("{si}.{}", b64::encode(&raw));
        assert_eq!(
            UnverifiedJws::parse(&long, &RULES, 1024).unwrap_err(),
            JwsError::SignatureLength { len: 65 }
        );
        assert_eq!(
            UnverifiedJws::parse(&format!("{good}.x"), &RULES, 1024).unwrap_err(),
            JwsError::Malformed
        );
        assert_eq!(
            UnverifiedJws::parse("a.b", &RULES, 1024).unwrap_err(),
            JwsError::Malformed
        );
    }

    #[test]
    fn debug_prints_no_secret() {
        let s = RingSigner::generate().unwrap();
        let dbg = format!("{s:?}");
        assert!(dbg.contains("RingSigner") && dbg.contains(&s.public_jwk().thumbprint()));
        assert!(!dbg.contains(&b64::encode(s.expose_pkcs8())));
        assert!(!dbg.contains(&format!("{:?}", &s.expose_pkcs8()[..8])));
    }
}
