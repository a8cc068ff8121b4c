//! The verifier's side (blind-profile.md §9): the checks in order, and the result.

use ageband_core::age::AssuranceLevel;
use ring::signature::{ECDSA_P256_SHA256_FIXED, UnparsedPublicKey};

use super::presentation::{
    BlindPresentation, PresentationError, binding_message, query_in_range, token_nonce_for,
};
use super::{BlindFact, ChallengeError, Directory, Floor, Month, SpentSet, TokenChallenge};

/// Why a blind presentation was refused (blind-profile.md §9.1; the checks run in this order).
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BlindVerifyError {
    /// The verifier's own query is out of range (nonce not 16..=64 bytes, audience not
    /// 1..=512 bytes): a caller bug, not the holder's fault.
    #[error("verifier nonce or audience out of range")]
    InvalidQuery,
    /// Over the size cap, not three base64url parts, or a holder key or signature of the wrong
    /// length (§8).
    #[error("malformed presentation")]
    Malformed,
    /// The token type is not 0x0002.
    #[error("token type is not 0x0002")]
    WrongTokenType,
    /// The token is not 354 bytes.
    #[error("token is not 354 bytes")]
    WrongTokenLength,
    /// The token's challenge digest is not the issuer's challenge.
    #[error("token was issued under another challenge")]
    WrongChallenge,
    /// No key in the directory has the token's `token_key_id`.
    #[error("token key not in the issuer directory")]
    UnknownKey,
    /// The key is in the directory but not live now (its month has not begun or is over).
    #[error("token key is not live")]
    KeyNotLive,
    /// The key attests another fact than the one asked for.
    #[error("token key is for another fact")]
    WrongFact,
    /// The key's floor is below the one asked for.
    #[error("token key's assurance floor is too low")]
    FloorTooLow,
    /// The RSA-PSS authenticator does not verify under the key.
    #[error("token signature does not verify")]
    BadTokenSignature,
    /// The token nonce is not SHA-256("ageband/kb/v1" ‖ holder key).
    #[error("token nonce does not match the holder key")]
    NonceMismatch,
    /// The holder key is not a compressed P-256 point.
    #[error("holder key is not a P-256 point")]
    BadHolderKey,
    /// The holder-binding signature does not verify over this verifier's nonce and audience.
    #[error("holder binding does not verify")]
    BadBinding,
    /// The token was presented before.
    #[error("token already spent")]
    TokenSpent,
    /// The spent set is full and refuses new tokens (fail closed).
    #[error("spent set is full")]
    SpentSetFull,
}

impl BlindVerifyError {
    /// A stable snake_case name for logs, metrics and the vectors' `expect`.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            BlindVerifyError::InvalidQuery => "invalid_query",
            BlindVerifyError::Malformed => "malformed",
            BlindVerifyError::WrongTokenType => "wrong_token_type",
            BlindVerifyError::WrongTokenLength => "wrong_token_length",
            BlindVerifyError::WrongChallenge => "wrong_challenge",
            BlindVerifyError::UnknownKey => "unknown_key",
            BlindVerifyError::KeyNotLive => "key_not_live",
            BlindVerifyError::WrongFact => "wrong_fact",
            BlindVerifyError::FloorTooLow => "floor_too_low",
            BlindVerifyError::BadTokenSignature => "bad_token_signature",
            BlindVerifyError::NonceMismatch => "nonce_mismatch",
            BlindVerifyError::BadHolderKey => "bad_holder_key",
            BlindVerifyError::BadBinding => "bad_binding",
            BlindVerifyError::TokenSpent => "token_spent",
            BlindVerifyError::SpentSetFull => "spent_set_full",
        }
    }
}

impl From<PresentationError> for BlindVerifyError {
    fn from(e: PresentationError) -> Self {
        match e {
            PresentationError::WrongTokenType => BlindVerifyError::WrongTokenType,
            PresentationError::WrongTokenLength => BlindVerifyError::WrongTokenLength,
            PresentationError::Malformed => BlindVerifyError::Malformed,
        }
    }
}

/// An issuer as a verifier knows it: its name (which fixes the challenge) and its validated
/// directory.
#[derive(Clone, Debug)]
pub struct BlindIssuer {
    name: String,
    challenge_digest: [u8; 32],
    directory: Directory,
}

impl BlindIssuer {
    /// The issuer `name` (its host name, blind-profile.md §5.1) with `directory`.
    ///
    /// # Errors
    /// [`ChallengeError::IssuerName`].
    pub fn new(name: &str, directory: Directory) -> Result<Self, ChallengeError> {
        let challenge_digest = TokenChallenge::ageband(name)?.digest();
        Ok(BlindIssuer {
            name: name.to_owned(),
            challenge_digest,
            directory,
        })
    }

    /// The issuer name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }
    /// SHA-256 of the issuer's TokenChallenge.
    #[must_use]
    pub fn challenge_digest(&self) -> [u8; 32] {
        self.challenge_digest
    }
    /// The directory.
    #[must_use]
    pub fn directory(&self) -> &Directory {
        &self.directory
    }
}

/// What the verifier asks: a fact at a minimum floor, with its fresh nonce and its audience.
#[derive(Clone, Copy, Debug)]
pub struct BlindQuery<'a> {
    /// The fact asked for.
    pub fact: BlindFact,
    /// The lowest acceptable floor.
    pub min_floor: Floor,
    /// The verifier's fresh nonce for this session, 16..=64 bytes.
    pub verifier_nonce: &'a [u8],
    /// The verifier's audience (its origin or client identifier), 1..=512 bytes.
    pub audience: &'a str,
}

/// A verified blind presentation: what the platform may rely on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlindFacts {
    /// The fact of the key.
    pub fact: BlindFact,
    /// The key's floor (at least the one asked for).
    pub floor: Floor,
    /// The issuer name.
    pub issuer: String,
    /// The key's month.
    pub month: Month,
}

impl BlindFacts {
    /// The minimal assurance level the floor stands for.
    #[must_use]
    pub fn assurance(&self) -> AssuranceLevel {
        self.floor.assurance()
    }
}

/// Verifies a compact presentation (blind-profile.md §8.1, §9.1) at Unix time `now` and records
/// it as spent. See [`verify_presentation`] for the checks after parsing.
///
/// # Errors
/// [`BlindVerifyError`], the first check that fails.
pub fn verify_blind(
    presentation: &str,
    issuer: &BlindIssuer,
    query: &BlindQuery<'_>,
    now: u64,
    spent: &mut (impl SpentSet + ?Sized),
) -> Result<BlindFacts, BlindVerifyError> {
    check_query(query)?;
    let p = BlindPresentation::parse(presentation)?;
    verify_presentation(&p, issuer, query, now, spent)
}

fn check_query(query: &BlindQuery<'_>) -> Result<(), BlindVerifyError> {
    if query_in_range(query.verifier_nonce, query.audience) {
        Ok(())
    } else {
        Err(BlindVerifyError::InvalidQuery)
    }
}

/// The checks of blind-profile.md §9.1 on a parsed presentation (for instance from
/// [`BlindPresentation::parse_private_token_header`]), in order: challenge digest; key in the
/// directory, live at `now`, for the fact and at least the floor; RSA-PSS on ring; token nonce
/// from the holder key; holder key and binding signature (ring, ES256) over this verifier's nonce
/// and audience; then the spent set.
///
/// # Errors
/// [`BlindVerifyError`], the first check that fails.
pub fn verify_presentation(
    p: &BlindPresentation,
    issuer: &BlindIssuer,
    query: &BlindQuery<'_>,
    now: u64,
    spent: &mut (impl SpentSet + ?Sized),
) -> Result<BlindFacts, BlindVerifyError> {
    let token_bytes = p.token.to_bytes();
    let msg = binding_message(query.verifier_nonce, query.audience, &token_bytes)
        .ok_or(BlindVerifyError::InvalidQuery)?;
    if p.token.challenge_digest != issuer.challenge_digest {
        return Err(BlindVerifyError::WrongChallenge);
    }
    let key = issuer
        .directory
        .key_by_id(&p.token.token_key_id)
        .ok_or(BlindVerifyError::UnknownKey)?;
    if !key.is_live(now) {
        return Err(BlindVerifyError::KeyNotLive);
    }
    if key.fact() != query.fact {
        return Err(BlindVerifyError::WrongFact);
    }
    if key.floor() < query.min_floor {
        return Err(BlindVerifyError::FloorTooLow);
    }
    p.token
        .verify(key.public_key())
        .map_err(|_| BlindVerifyError::BadTokenSignature)?;
    if token_nonce_for(&p.holder_key) != p.token.nonce {
        return Err(BlindVerifyError::NonceMismatch);
    }
    let point =
        p256::PublicKey::from_sec1_bytes(&p.holder_key).map_err(|_| BlindVerifyError::BadHolderKey)?;
    let uncompressed = p256::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(&point, false);
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, uncompressed.as_bytes())
        .verify(&msg, &p.binding_sig)
        .map_err(|_| BlindVerifyError::BadBinding)?;
    spent.expire(now);
    // spend_all tells a replay from a full set; `spend` alone cannot (a replay into a full set
    // would read as full).
    spent.spend_all(&[(p.token.token_key_id, p.token.nonce, key.not_after())])?;
    Ok(BlindFacts {
        fact: key.fact(),
        floor: key.floor(),
        issuer: issuer.name.clone(),
        month: key.month(),
    })
}
