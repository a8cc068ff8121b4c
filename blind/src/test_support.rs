//! Keys for unit tests, taken from the RFC 9578 vectors in `specs/vectors/external/`.

use crate::SecretKey;

const RFC9578_VECTORS: &str = include_str!("../../specs/vectors/external/rfc9578_type2_token_vectors.json");

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// The 2048-bit issuer key of RFC 9578 appendix A.2, vector 1.
pub(crate) fn rfc9578_secret_key() -> SecretKey {
    let v: serde_json::Value = serde_json::from_str(RFC9578_VECTORS).unwrap();
    let pem = String::from_utf8(unhex(v[0]["skS"].as_str().unwrap())).unwrap();
    SecretKey::from_pkcs8_pem(&pem).unwrap()
}
