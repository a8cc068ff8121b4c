//! Verification of tokens made by outside parties (OIDC id_tokens, check assertions) with
//! `jwt-simple`: RS256, ES256 or EdDSA against a JWK set pinned in the configuration. Never on
//! the presentation path (DESIGN §3).

use std::collections::HashSet;

use ageband_core::b64;
use jwt_simple::JWTError;
use jwt_simple::prelude::{
    Duration, ECDSAP256PublicKeyLike, ES256PublicKey, Ed25519PublicKey, EdDSAPublicKeyLike, JWTClaims,
    RS256PublicKey, RSAPublicKeyLike, Token, VerificationOptions,
};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Largest outside token accepted (protocol.md §2.3).
pub const MAX_TOKEN: usize = 8 * 1024;
/// Clock skew tolerated on `exp`, `iat`, `nbf`.
pub const TOKEN_SKEW: u64 = 60;

/// Why an outside token was refused. Carries no token content.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenProblem {
    /// Not a compact JWT, too large, or its claims are not what they should be.
    #[error("token is malformed")]
    Malformed,
    /// Its `iss` is not a configured provider.
    #[error("token issuer is not a configured provider")]
    UntrustedProvider,
    /// Its `alg` is not one the provider's keys support (RS256, ES256, EdDSA).
    #[error("token algorithm not accepted for this provider")]
    Algorithm,
    /// The token's `kid` names none of the provider's pinned keys.
    #[error("token key is not one of the provider's keys")]
    UnknownKey,
    /// No provider key verifies the signature.
    #[error("token signature does not verify")]
    BadSignature,
    /// `aud` missing or not this issuer.
    #[error("token audience is not this issuer")]
    WrongAudience,
    /// `iss` missing or not the provider.
    #[error("token issuer mismatch")]
    WrongIssuer,
    /// `exp` passed.
    #[error("token has expired")]
    Expired,
    /// `iat` or `nbf` in the future.
    #[error("token is not yet valid")]
    NotYetValid,
    /// A required claim is absent.
    #[error("token lacks the `{0}` claim")]
    MissingClaim(&'static str),
}

enum Key {
    Rs256(Box<RS256PublicKey>),
    Es256(ES256PublicKey),
    EdDsa(Ed25519PublicKey),
}

impl Key {
    fn alg(&self) -> &'static str {
        match self {
            Key::Rs256(_) => "RS256",
            Key::Es256(_) => "ES256",
            Key::EdDsa(_) => "EdDSA",
        }
    }
}

/// A provider's pinned keys.
pub struct ProviderKeys {
    keys: Vec<(Option<String>, Key)>,
}

impl std::fmt::Debug for ProviderKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let algs: Vec<_> = self.keys.iter().map(|(_, k)| k.alg()).collect();
        f.debug_struct("ProviderKeys").field("algs", &algs).finish()
    }
}

impl ProviderKeys {
    /// Reads a JWK set `{"keys":[…]}` (or one JWK). RSA (≥ 2048 bits), EC P-256 and OKP
    /// Ed25519 signature keys are kept; others are skipped. Errors if none is left.
    pub fn from_jwks(value: &Value) -> Result<Self, &'static str> {
        let list: Vec<&Value> = match value.get("keys") {
            Some(Value::Array(a)) => a.iter().collect(),
            Some(_) => return Err("`keys` is not an array"),
            None => vec![value],
        };
        let mut keys = Vec::new();
        for jwk in list {
            if jwk.get("d").is_some() {
                return Err("a pinned key carries private material");
            }
            if jwk.get("use").and_then(Value::as_str).is_some_and(|u| u != "sig") {
                continue;
            }
            let field = |n: &str| jwk.get(n).and_then(Value::as_str);
            let bytes = |n: &str| field(n).and_then(|s| b64::decode(s, 1024).ok());
            let alg = field("alg");
            let key = match (field("kty"), field("crv")) {
                (Some("RSA"), _) if alg.is_none_or(|a| a == "RS256") => {
                    let (Some(n), Some(e)) = (bytes("n"), bytes("e")) else {
                        return Err("RSA key lacks n or e");
                    };
                    Key::Rs256(Box::new(
                        RS256PublicKey::from_components(&n, &e).map_err(|_| "unusable RSA key")?,
                    ))
                }
                (Some("EC"), Some("P-256")) if alg.is_none_or(|a| a == "ES256") => {
                    let (Some(x), Some(y)) = (bytes("x"), bytes("y")) else {
                        return Err("EC key lacks x or y");
                    };
                    if x.len() != 32 || y.len() != 32 {
                        return Err("EC key coordinates are not 32 bytes");
                    }
                    let mut point = vec![4u8];
                    point.extend_from_slice(&x);
                    point.extend_from_slice(&y);
                    Key::Es256(ES256PublicKey::from_bytes(&point).map_err(|_| "EC key not on the curve")?)
                }
                (Some("OKP"), Some("Ed25519")) if alg.is_none_or(|a| a == "EdDSA" || a == "Ed25519") => {
                    let x = bytes("x").ok_or("Ed25519 key lacks x")?;
                    Key::EdDsa(Ed25519PublicKey::from_bytes(&x).map_err(|_| "unusable Ed25519 key")?)
                }
                _ => continue,
            };
            keys.push((field("kid").map(str::to_owned), key));
        }
        if keys.is_empty() {
            return Err("no RS256, ES256 or EdDSA signature key");
        }
        Ok(ProviderKeys { keys })
    }

    /// Verifies `token`'s signature with a key of matching `alg` (and `kid`, when both carry
    /// one), then `iss` = `issuer`, `aud` ∋ `audience`, and `exp` (required), `iat`, `nbf`
    /// against `now` with [`TOKEN_SKEW`].
    pub fn verify<C: DeserializeOwned>(
        &self,
        token: &str,
        issuer: &str,
        audience: &str,
        now: u64,
    ) -> Result<JWTClaims<C>, TokenProblem> {
        if token.len() > MAX_TOKEN {
            return Err(TokenProblem::Malformed);
        }
        let meta = Token::decode_metadata(token).map_err(|_| TokenProblem::Malformed)?;
        let alg = meta.algorithm();
        let same_alg: Vec<&(Option<String>, Key)> =
            self.keys.iter().filter(|(_, k)| k.alg() == alg).collect();
        if same_alg.is_empty() {
            return Err(TokenProblem::Algorithm);
        }
        let candidates: Vec<&Key> = same_alg
            .into_iter()
            .filter(|(kid, _)| kid.is_none() || meta.key_id().is_none() || kid.as_deref() == meta.key_id())
            .map(|(_, k)| k)
            .collect();
        if candidates.is_empty() {
            // The provider is known, the key named by `kid` is not: a forgery or a rotation
            // the pinned configuration has not caught up with.
            return Err(TokenProblem::UnknownKey);
        }
        let mut last = TokenProblem::BadSignature;
        for key in candidates {
            let opts = VerificationOptions {
                allowed_issuers: Some(HashSet::from([issuer.to_owned()])),
                allowed_audiences: Some(HashSet::from([audience.to_owned()])),
                time_tolerance: Some(Duration::from_secs(TOKEN_SKEW)),
                artificial_time: Some(Duration::from_secs(now)),
                max_token_length: Some(MAX_TOKEN),
                ..VerificationOptions::default()
            };
            let result = match key {
                Key::Rs256(k) => k.verify_token::<C>(token, Some(opts)),
                Key::Es256(k) => k.verify_token::<C>(token, Some(opts)),
                Key::EdDsa(k) => k.verify_token::<C>(token, Some(opts)),
            };
            match result {
                Ok(claims) => {
                    if claims.expires_at.is_none() {
                        return Err(TokenProblem::MissingClaim("exp"));
                    }
                    return Ok(claims);
                }
                Err(e) => {
                    last = classify(&e);
                    if last != TokenProblem::BadSignature {
                        // The signature verified; the claims are wrong.
                        return Err(last);
                    }
                }
            }
        }
        Err(last)
    }
}

/// The unverified `iss` of a compact JWT, to choose the provider whose keys then verify it.
pub fn peek_issuer(token: &str) -> Result<String, TokenProblem> {
    #[derive(serde::Deserialize)]
    struct Iss {
        iss: Option<String>,
    }
    if token.len() > MAX_TOKEN {
        return Err(TokenProblem::Malformed);
    }
    let mut parts = token.split('.');
    let (Some(_), Some(payload), Some(_), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenProblem::Malformed);
    };
    let bytes =
        zeroize::Zeroizing::new(b64::decode(payload, MAX_TOKEN).map_err(|_| TokenProblem::Malformed)?);
    let iss: Iss = serde_json::from_slice(&bytes).map_err(|_| TokenProblem::Malformed)?;
    iss.iss.ok_or(TokenProblem::MissingClaim("iss"))
}

fn classify(e: &jwt_simple::Error) -> TokenProblem {
    match e.downcast_ref::<JWTError>() {
        Some(JWTError::InvalidSignature) => TokenProblem::BadSignature,
        Some(JWTError::TokenHasExpired) => TokenProblem::Expired,
        Some(JWTError::ClockDrift | JWTError::TokenNotValidYet) => TokenProblem::NotYetValid,
        Some(JWTError::RequiredIssuerMismatch | JWTError::RequiredIssuerMissing) => TokenProblem::WrongIssuer,
        Some(JWTError::RequiredAudienceMismatch | JWTError::RequiredAudienceMissing) => {
            TokenProblem::WrongAudience
        }
        Some(JWTError::AlgorithmMismatch) => TokenProblem::Algorithm,
        _ => TokenProblem::Malformed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pinned_key_sets() {
        let ec = ageband_core::jws::RingSigner::generate().unwrap();
        let ec_jwk = ageband_core::jws::Signer::public_jwk(&ec).to_json();
        let keys =
            ProviderKeys::from_jwks(&json!({"keys": [ec_jwk.clone(), {"kty": "oct", "k": "AAAA"}]})).unwrap();
        assert_eq!(format!("{keys:?}"), r#"ProviderKeys { algs: ["ES256"] }"#);
        assert!(ProviderKeys::from_jwks(&ec_jwk).is_ok(), "a single JWK");
        let mut private = ec_jwk.clone();
        private["d"] = "AAAA".into();
        assert!(ProviderKeys::from_jwks(&json!({"keys": [private]})).is_err());
        assert!(ProviderKeys::from_jwks(&json!({"keys": []})).is_err());
        assert!(ProviderKeys::from_jwks(&json!({"keys": "x"})).is_err());
        let mut enc = ec_jwk.clone();
        enc["use"] = "enc".into();
        assert!(
            ProviderKeys::from_jwks(&json!({"keys": [enc]})).is_err(),
            "encryption keys are skipped"
        );
        let mut bad = ec_jwk;
        bad["x"] = "AAAA".into();
        assert!(ProviderKeys::from_jwks(&json!({"keys": [bad]})).is_err());
    }

    #[test]
    fn peeking_the_issuer() {
        let payload = b64::encode(r#"{"iss":"https://idp.example"}"#);
        assert_eq!(
            peek_issuer(&format!("e30.{payload}.c2ln")).unwrap(),
            "https://idp.example"
        );
        assert_eq!(
            peek_issuer(&format!("e30.{}.c2ln", b64::encode("{}"))),
            Err(TokenProblem::MissingClaim("iss"))
        );
        assert_eq!(peek_issuer("a.b"), Err(TokenProblem::Malformed));
        assert_eq!(
            peek_issuer(&"a".repeat(MAX_TOKEN + 1)),
            Err(TokenProblem::Malformed)
        );
    }
}
