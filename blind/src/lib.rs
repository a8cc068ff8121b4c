//! RSA blind signatures for ageband's double-blind profile (DESIGN §9).
//!
//! - [`rsabssa`]: RSABSSA of RFC 9474, all four SHA-384 variants: [`prepare`], [`blind`] (client),
//!   [`blind_sign`] (server, side-channel-hardened private operation plus the fault check of
//!   RFC 9474 §7.1), [`finalize`] (client, verifies before returning) and [`verify`].
//! - [`token`]: RFC 9578 token type 0x0002 (`TokenRequest`, `TokenResponse`, the 354-byte
//!   `Token`) and the key encoding (`SubjectPublicKeyInfo` with id-RSASSA-PSS) behind
//!   `token_key_id`.
//! - [`profile`]: ageband's blind-token profile on top of them (DESIGN §9, wire format in
//!   `specs/blind-profile.md`): the six facts and two assurance floors, the monthly key schedule
//!   (one key per fact, floor and month; under-facts never outlive the birthday), the RFC 9578 §4
//!   issuer directory with ageband's per-key members and its validation, the fixed issuer-wide
//!   `TokenChallenge`, the holder key whose hash is the token nonce, the holder-binding
//!   presentation (compact and RFC 9577 `PrivateToken` header forms), and the verifier's checks
//!   with a bounded spent set partitioned by key. Pure logic: transport, storage and quotas
//!   belong to the services and the wallet.
//!
//! The issuer's private-key operation runs on `rsa` 0.10 (stable) with its blinding; verification of
//! PSS signatures (sLen 48, hence every token) runs on ring. See `specs/blind-rsa.md` for the
//! choice and its limits.
//!
//! No I/O. Every randomized function takes the generator as a `rand_core` 0.10 [`TryCryptoRng`]
//! (re-exported as [`rand_core`]); [`SystemRng`] is the operating system's generator.
//!
//! Test hooks: [`rsabssa::blind_with_randomness`] and [`token::token_request_with_randomness`]
//! take the salt and the blinding factor from the caller so that the RFC vectors replay. They are
//! `#[doc(hidden)]` and must not be used outside tests.
//!
//! [`TryCryptoRng`]: rand_core::TryCryptoRng
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod key;
pub mod profile;
mod pss;
mod rng;
pub mod rsabssa;
pub mod token;

#[cfg(test)]
mod test_support;

pub use key::{MAX_MODULUS_BITS, MIN_MODULUS_BITS, PublicKey, SecretKey};
pub use rng::{RngError, SystemRng};
pub use rsa::rand_core;
pub use rsabssa::{BlindInverse, Blinded, Variant, blind, blind_sign, finalize, prepare, verify};
pub use token::{PendingToken, Token, TokenRequest, TokenResponse};

/// Errors of RFC 9474 §4 and RFC 9578, plus key and generator failures. Messages carry no secret.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// EMSA-PSS-ENCODE failed: the modulus is too short for the hash and salt ("encoding error").
    #[error("encoding error")]
    Encoding,
    /// The encoded message is not coprime with n, or an integer is not below n ("invalid input").
    #[error("invalid input")]
    InvalidInput,
    /// The blinding factor has no inverse modulo n ("blinding error").
    #[error("blinding error")]
    Blinding,
    /// The private operation failed or its result did not pass the fault check ("signing failure").
    #[error("signing failure")]
    SigningFailure,
    /// The blinded message is not below n ("message representative out of range").
    #[error("message representative out of range")]
    MessageRepresentativeOutOfRange,
    /// The signature does not verify ("invalid signature").
    #[error("invalid signature")]
    InvalidSignature,
    /// A byte string has the wrong length ("unexpected input size").
    #[error("unexpected input size")]
    UnexpectedInputSize,
    /// The token type is not 0x0002.
    #[error("token type is not 0x0002")]
    WrongTokenType,
    /// The token, request or pending state names another key.
    #[error("the token key id does not match the key")]
    WrongKey,
    /// The key is malformed, of an unsupported size, or not in the required encoding.
    #[error("invalid or unsupported key")]
    InvalidKey,
    /// The random number generator failed.
    #[error("random number generator failure")]
    Rng,
}
