//! The wallet's side (blind-profile.md §6, §7): a fresh holder key per token, the token request,
//! finalization with verification, and the presentation with the holder binding.

use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};
use rsa::rand_core::TryCryptoRng;
use zeroize::Zeroizing;

use super::presentation::{BlindPresentation, HOLDER_KEY_LEN, binding_message, token_nonce_for};
use super::{BlindFact, DirectoryKey, Floor, Month, TokenChallenge};
use crate::token::{self, PendingToken, Token, TokenRequest, TokenResponse};

/// Why a wallet-side step failed. Messages carry no secret.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProfileError {
    /// A blind-RSA step failed (blinding, or finalize: the issuer's response does not verify).
    #[error("blind signature step failed: {0}")]
    Blind(#[from] crate::Error),
    /// The random number generator failed.
    #[error("random number generator failure")]
    Rng,
    /// The challenge is not ageband's (token type 0x0002, empty context and origin info).
    #[error("not an ageband TokenChallenge")]
    Challenge,
    /// The response is finalized against another key than the request's.
    #[error("the directory key is not the request's")]
    WrongKey,
    /// The verifier nonce is not 16..=64 bytes or the audience not 1..=512 bytes.
    #[error("verifier nonce or audience out of range")]
    Request,
    /// A stored token does not belong to the stored holder key, or the key is invalid.
    #[error("holder key does not match the token")]
    HolderKey,
    /// The signer failed.
    #[error("holder signature failed")]
    Sign,
}

impl ProfileError {
    /// A stable snake_case name for logs and metrics.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            ProfileError::Blind(_) => "blind_failure",
            ProfileError::Rng => "rng_failure",
            ProfileError::Challenge => "bad_challenge",
            ProfileError::WrongKey => "wrong_key",
            ProfileError::Request => "bad_request",
            ProfileError::HolderKey => "bad_holder_key",
            ProfileError::Sign => "sign_failure",
        }
    }
}

fn fresh_holder_key<R: TryCryptoRng + ?Sized>(rng: &mut R) -> Result<SigningKey, ProfileError> {
    // A uniformly random 32-byte string is a valid scalar except with probability ~2^-32.
    for _ in 0..8 {
        let mut bytes = Zeroizing::new([0u8; 32]);
        rng.try_fill_bytes(bytes.as_mut())
            .map_err(|_| ProfileError::Rng)?;
        if let Ok(key) = SigningKey::from_slice(bytes.as_ref()) {
            return Ok(key);
        }
    }
    Err(ProfileError::Rng)
}

fn compressed(key: &SigningKey) -> [u8; HOLDER_KEY_LEN] {
    let point = key.verifying_key().to_encoded_point(true);
    let mut out = [0u8; HOLDER_KEY_LEN];
    out.copy_from_slice(point.as_bytes());
    out
}

/// One token being issued: the fresh holder key, the blinded request to send, and the state to
/// finalize the issuer's response (blind-profile.md §6). `Debug` prints no key or blinding bytes.
pub struct HolderTokenRequest {
    fact: BlindFact,
    floor: Floor,
    month: Month,
    holder: SigningKey,
    request: TokenRequest,
    pending: PendingToken,
}

impl HolderTokenRequest {
    /// Draws a fresh P-256 holder key, sets `nonce = SHA-256("ageband/kb/v1" ‖ compressed key)`,
    /// and blinds the token input under `challenge` and `key`.
    ///
    /// # Errors
    /// [`ProfileError::Challenge`] unless `challenge` is ageband's form, [`ProfileError::Rng`],
    /// [`ProfileError::Blind`].
    pub fn new<R: TryCryptoRng + ?Sized>(
        rng: &mut R,
        key: &DirectoryKey,
        challenge: &TokenChallenge,
    ) -> Result<Self, ProfileError> {
        if !challenge.is_ageband_form() {
            return Err(ProfileError::Challenge);
        }
        let holder = fresh_holder_key(rng)?;
        let nonce = token_nonce_for(&compressed(&holder));
        let (request, pending) = token::token_request(key.public_key(), rng, nonce, challenge.digest())?;
        Ok(HolderTokenRequest {
            fact: key.fact(),
            floor: key.floor(),
            month: key.month(),
            holder,
            request,
            pending,
        })
    }

    /// The request to send (259 bytes with [`TokenRequest::to_bytes`]).
    #[must_use]
    pub fn request(&self) -> &TokenRequest {
        &self.request
    }

    /// The slot the request is for.
    #[must_use]
    pub fn slot(&self) -> (BlindFact, Floor, Month) {
        (self.fact, self.floor, self.month)
    }

    /// Unblinds the issuer's response, verifies the token on ring, and returns it with its
    /// holder key.
    ///
    /// # Errors
    /// [`ProfileError::WrongKey`] if `key` is not the request's slot and key,
    /// [`ProfileError::Blind`] if the response does not verify.
    pub fn finalize(self, key: &DirectoryKey, response: &TokenResponse) -> Result<BlindToken, ProfileError> {
        if (key.fact(), key.floor(), key.month()) != (self.fact, self.floor, self.month) {
            return Err(ProfileError::WrongKey);
        }
        let token = self
            .pending
            .finalize(key.public_key(), response)
            .map_err(|e| match e {
                crate::Error::WrongKey => ProfileError::WrongKey,
                e => ProfileError::Blind(e),
            })?;
        // PendingToken::finalize verified the authenticator over the token input on ring
        // (rsabssa::finalize → verify_pss_ring), the check Token::verify makes: not repeated.
        Ok(BlindToken {
            token,
            holder: self.holder,
            fact: self.fact,
            floor: self.floor,
            month: self.month,
        })
    }
}

impl std::fmt::Debug for HolderTokenRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HolderTokenRequest")
            .field("fact", &self.fact)
            .field("floor", &self.floor)
            .field("month", &self.month)
            .finish_non_exhaustive()
    }
}

/// A finalized token and its holder key, as the wallet stores it (encrypted). Single use:
/// [`BlindToken::present`] consumes it. `Debug` prints no key or token bytes.
pub struct BlindToken {
    token: Token,
    holder: SigningKey,
    fact: BlindFact,
    floor: Floor,
    month: Month,
}

impl BlindToken {
    /// Rebuilds a stored token from its parts, checking that `holder_secret` is the key whose hash
    /// is the token's nonce.
    ///
    /// # Errors
    /// [`ProfileError::HolderKey`].
    pub fn from_parts(
        token: Token,
        holder_secret: &[u8],
        fact: BlindFact,
        floor: Floor,
        month: Month,
    ) -> Result<Self, ProfileError> {
        let holder = SigningKey::from_slice(holder_secret).map_err(|_| ProfileError::HolderKey)?;
        if token_nonce_for(&compressed(&holder)) != token.nonce {
            return Err(ProfileError::HolderKey);
        }
        Ok(BlindToken {
            token,
            holder,
            fact,
            floor,
            month,
        })
    }

    /// The token.
    #[must_use]
    pub fn token(&self) -> &Token {
        &self.token
    }
    /// The fact of the token's key.
    #[must_use]
    pub fn fact(&self) -> BlindFact {
        self.fact
    }
    /// The floor of the token's key.
    #[must_use]
    pub fn floor(&self) -> Floor {
        self.floor
    }
    /// The month of the token's key: the token is usable only then.
    #[must_use]
    pub fn month(&self) -> Month {
        self.month
    }
    /// Whether the token's key is live at `now` (the only time a verifier accepts it).
    #[must_use]
    pub fn is_live(&self, now: u64) -> bool {
        self.month.is_live(now)
    }
    /// The compressed holder public key.
    #[must_use]
    pub fn holder_key(&self) -> [u8; HOLDER_KEY_LEN] {
        compressed(&self.holder)
    }
    /// The holder's 32-byte secret scalar, for the encrypted wallet file only.
    #[must_use]
    pub fn expose_holder_secret(&self) -> Zeroizing<[u8; 32]> {
        let mut out = Zeroizing::new([0u8; 32]);
        let bytes = Zeroizing::new(self.holder.to_bytes());
        out.copy_from_slice(&bytes[..]);
        out
    }

    /// Presents the token to a verifier (blind-profile.md §7): signs [`binding_message`] for the
    /// verifier's nonce and audience with the holder key (ES256, RFC 6979). Consumes the token:
    /// a second presentation would link the two and be refused as spent.
    ///
    /// # Errors
    /// [`ProfileError::Request`] if the nonce is not 16..=64 bytes or the audience not 1..=512
    /// bytes, [`ProfileError::Sign`].
    pub fn present(self, verifier_nonce: &[u8], audience: &str) -> Result<BlindPresentation, ProfileError> {
        let msg =
            binding_message(verifier_nonce, audience, &self.token.to_bytes()).ok_or(ProfileError::Request)?;
        let sig: Signature = self.holder.try_sign(&msg).map_err(|_| ProfileError::Sign)?;
        let mut binding_sig = [0u8; 64];
        binding_sig.copy_from_slice(&sig.to_bytes());
        Ok(BlindPresentation {
            holder_key: compressed(&self.holder),
            token: self.token,
            binding_sig,
        })
    }
}

impl std::fmt::Debug for BlindToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlindToken")
            .field("fact", &self.fact)
            .field("floor", &self.floor)
            .field("month", &self.month)
            .finish_non_exhaustive()
    }
}
