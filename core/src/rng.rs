//! Randomness is injected (STYLE: inject the world): issuance takes any [`Rng`], the OS one in
//! production and a seeded one in the vector generator.

/// The randomness source failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("random number generator failed")]
pub struct RngError;

/// A source of random bytes.
pub trait Rng {
    /// Fills `dest` with random bytes.
    fn fill(&mut self, dest: &mut [u8]) -> Result<(), RngError>;
}

/// The operating system's CSPRNG (through `ring`).
#[derive(Debug)]
pub struct OsRng(ring::rand::SystemRandom);

impl OsRng {
    /// The OS RNG.
    pub fn new() -> Self {
        OsRng(ring::rand::SystemRandom::new())
    }
}

impl Default for OsRng {
    fn default() -> Self {
        Self::new()
    }
}

impl Rng for OsRng {
    fn fill(&mut self, dest: &mut [u8]) -> Result<(), RngError> {
        ring::rand::SecureRandom::fill(&self.0, dest).map_err(|_| RngError)
    }
}

/// `n` random bytes from `rng`, base64url-encoded (salts, nonces, codes).
pub fn random_b64(rng: &mut dyn Rng, n: usize) -> Result<String, RngError> {
    let mut buf = vec![0u8; n];
    rng.fill(&mut buf)?;
    Ok(crate::b64::encode(&buf))
}
