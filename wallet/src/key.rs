//! Holder keys: one P-256 key per credential (DESIGN §3), on the pure-Rust `p256` crate.

use ageband_core::jwk::PublicJwk;
use ageband_core::jws::{SignError, Signer};
use p256::ecdsa::SigningKey;
use p256::ecdsa::signature::Signer as _;
use ring::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

/// A holder's private key. The scalar is zeroized on drop (by `p256`), reachable only through
/// [`HolderKey::expose_secret`], and never printed by `Debug`.
pub struct HolderKey {
    secret: SigningKey,
    public: PublicJwk,
}

impl HolderKey {
    /// A fresh key from the operating system's RNG.
    pub fn generate() -> Result<Self, SignError> {
        let rng = SystemRandom::new();
        // A random 32-byte string is a valid scalar except with probability ~2^-32; retry then.
        for _ in 0..8 {
            let mut bytes = Zeroizing::new([0u8; 32]);
            rng.fill(bytes.as_mut()).map_err(|_| SignError::Unavailable)?;
            if let Ok(key) = Self::from_secret_bytes(bytes.as_ref()) {
                return Ok(key);
            }
        }
        Err(SignError::Unavailable)
    }

    /// Loads a key from its 32-byte big-endian scalar.
    pub fn from_secret_bytes(bytes: &[u8]) -> Result<Self, SignError> {
        let secret = SigningKey::from_slice(bytes).map_err(|_| SignError::BadKey)?;
        let point = secret.verifying_key().to_encoded_point(false);
        let public = PublicJwk::from_uncompressed(point.as_bytes()).map_err(|_| SignError::BadKey)?;
        Ok(HolderKey { secret, public })
    }

    /// The 32-byte scalar, for the encrypted wallet file only.
    pub fn expose_secret(&self) -> Zeroizing<[u8; 32]> {
        let mut out = Zeroizing::new([0u8; 32]);
        let bytes = Zeroizing::new(self.secret.to_bytes());
        out.copy_from_slice(&bytes[..]);
        out
    }
}

impl Signer for HolderKey {
    fn public_jwk(&self) -> &PublicJwk {
        &self.public
    }

    fn sign(&self, msg: &[u8]) -> Result<[u8; 64], SignError> {
        // RFC 6979 deterministic ECDSA: no RNG needed at signing time.
        let sig: p256::ecdsa::Signature = self.secret.try_sign(msg).map_err(|_| SignError::Unavailable)?;
        let mut out = [0u8; 64];
        out.copy_from_slice(&sig.to_bytes());
        Ok(out)
    }
}

impl std::fmt::Debug for HolderKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HolderKey")
            .field("thumbprint", &self.public.thumbprint())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ageband_core::b64;
    use ageband_core::jws::verify_es256;

    #[test]
    fn signs_verifiably_and_round_trips() {
        let k = HolderKey::generate().unwrap();
        let sig = k.sign(b"msg").unwrap();
        verify_es256(k.public_jwk(), b"msg", &sig).unwrap();
        assert!(verify_es256(k.public_jwk(), b"other", &sig).is_err());
        let again = HolderKey::from_secret_bytes(k.expose_secret().as_ref()).unwrap();
        assert_eq!(again.public_jwk(), k.public_jwk());
        assert_ne!(HolderKey::generate().unwrap().public_jwk(), k.public_jwk());
        assert!(HolderKey::from_secret_bytes(&[0u8; 32]).is_err());
    }

    #[test]
    fn debug_prints_no_secret() {
        let k = HolderKey::generate().unwrap();
        let secret = k.expose_secret();
        let dbg = format!("{k:?} {k:#?}");
        assert!(dbg.contains("HolderKey") && dbg.contains(&k.public_jwk().thumbprint()));
        let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
        for needle in [b64::encode(secret.as_ref()), hex, format!("{:?}", &secret[..4])] {
            assert!(!dbg.contains(&needle), "Debug leaks {needle}");
        }
    }
}
