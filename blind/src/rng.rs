//! A `rand_core` 0.10 generator over the operating system's CSPRNG (through ring).

use ring::rand::{SecureRandom, SystemRandom};
use rsa::rand_core::{TryCryptoRng, TryRng};

/// The operating system's CSPRNG (ring's `SystemRandom`) as a `rand_core` 0.10 [`TryCryptoRng`],
/// the generator type every randomized function of this crate takes. Stateless.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemRng;

/// The operating system's generator failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the system random number generator failed")]
pub struct RngError;

impl TryRng for SystemRng {
    type Error = RngError;

    fn try_next_u32(&mut self) -> Result<u32, RngError> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    fn try_next_u64(&mut self) -> Result<u64, RngError> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), RngError> {
        SystemRandom::new().fill(dst).map_err(|_| RngError)
    }
}

impl TryCryptoRng for SystemRng {}
