//! Privacy Pass publicly verifiable tokens, RFC 9578 token type 0x0002 (Blind RSA, 2048-bit,
//! RSABSSA-SHA384-PSS-Deterministic): `TokenRequest`, `TokenResponse`, `Token` and the issuance
//! steps around them. Transport, directories and key schedules are not here.

use ring::digest::{SHA256, digest};
use rsa::rand_core::TryCryptoRng;

use crate::rsabssa::{self, BlindInverse, Variant};
use crate::{Error, PublicKey, SecretKey};

/// `token_type` of Blind RSA (2048-bit) tokens.
pub const TOKEN_TYPE: u16 = 0x0002;
/// `Nk`: length of `blinded_msg`, `blind_sig` and `authenticator` (RSA-2048).
pub const NK: usize = 256;
/// Length of an encoded [`Token`]: 2 + 32 + 32 + 32 + 256.
pub const TOKEN_LEN: usize = 2 + 32 + 32 + 32 + NK;
/// Length of the token input (`token_authenticator_input`): 2 + 32 + 32 + 32.
pub const TOKEN_INPUT_LEN: usize = 2 + 32 + 32 + 32;
/// Length of an encoded [`TokenRequest`]: 2 + 1 + 256.
pub const TOKEN_REQUEST_LEN: usize = 2 + 1 + NK;
/// Length of an encoded [`TokenResponse`].
pub const TOKEN_RESPONSE_LEN: usize = NK;
/// The RFC 9474 variant of token type 0x0002.
pub const VARIANT: Variant = Variant::Sha384PssDeterministic;

/// `challenge_digest = SHA-256(TokenChallenge)` (the encoded challenge of RFC 9577 §2.1).
#[must_use]
pub fn challenge_digest(token_challenge: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest(&SHA256, token_challenge).as_ref());
    out
}

/// `token_input = token_type ‖ nonce ‖ challenge_digest ‖ token_key_id` (RFC 9578 §6.1), the
/// message that the authenticator signs.
#[must_use]
pub fn token_input(
    nonce: &[u8; 32],
    challenge_digest: &[u8; 32],
    token_key_id: &[u8; 32],
) -> [u8; TOKEN_INPUT_LEN] {
    let mut out = [0u8; TOKEN_INPUT_LEN];
    out[..2].copy_from_slice(&TOKEN_TYPE.to_be_bytes());
    out[2..34].copy_from_slice(nonce);
    out[34..66].copy_from_slice(challenge_digest);
    out[66..98].copy_from_slice(token_key_id);
    out
}

fn check_token_key(pk: &PublicKey) -> Result<(), Error> {
    if pk.modulus_len() != NK || pk.modulus_bits() != 8 * NK {
        return Err(Error::InvalidKey);
    }
    Ok(())
}

fn check_token_type(bytes: &[u8]) -> Result<(), Error> {
    match bytes {
        [a, b, ..] if u16::from_be_bytes([*a, *b]) == TOKEN_TYPE => Ok(()),
        [_, _, ..] => Err(Error::WrongTokenType),
        _ => Err(Error::UnexpectedInputSize),
    }
}

/// A token (RFC 9577 §2.2 with the fields of RFC 9578 §6.3), type 0x0002 only. `Debug` prints
/// only the (public) `token_key_id`: the nonce names the holder key and the authenticator makes
/// the token spendable, so neither reaches a log line.
#[derive(Clone, PartialEq, Eq)]
pub struct Token {
    /// Client nonce (ageband derives it from the holder key, DESIGN §9).
    pub nonce: [u8; 32],
    /// SHA-256 of the TokenChallenge.
    pub challenge_digest: [u8; 32],
    /// SHA-256 of the issuer key's SPKI ([`PublicKey::token_key_id`]).
    pub token_key_id: [u8; 32],
    /// The RSASSA-PSS signature over [`Token::input`].
    pub authenticator: [u8; NK],
}

impl core::fmt::Debug for Token {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Token")
            .field("token_key_id", &HexId(&self.token_key_id))
            .finish_non_exhaustive()
    }
}

impl core::fmt::Debug for PendingToken {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PendingToken")
            .field("token_key_id", &HexId(&self.token_key_id))
            .finish_non_exhaustive()
    }
}

/// A public key id in lowercase hex, for `Debug`.
pub(crate) struct HexId<'a>(pub(crate) &'a [u8; 32]);

impl core::fmt::Debug for HexId<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl Token {
    /// The 354-byte encoding.
    #[must_use]
    pub fn to_bytes(&self) -> [u8; TOKEN_LEN] {
        let mut out = [0u8; TOKEN_LEN];
        out[..TOKEN_INPUT_LEN].copy_from_slice(&self.input());
        out[TOKEN_INPUT_LEN..].copy_from_slice(&self.authenticator);
        out
    }

    /// Parses exactly [`TOKEN_LEN`] bytes with token type 0x0002. Does not verify.
    ///
    /// # Errors
    /// [`Error::UnexpectedInputSize`] for any other length, [`Error::WrongTokenType`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        check_token_type(bytes)?;
        if bytes.len() != TOKEN_LEN {
            return Err(Error::UnexpectedInputSize);
        }
        let mut t = Token {
            nonce: [0; 32],
            challenge_digest: [0; 32],
            token_key_id: [0; 32],
            authenticator: [0; NK],
        };
        t.nonce.copy_from_slice(&bytes[2..34]);
        t.challenge_digest.copy_from_slice(&bytes[34..66]);
        t.token_key_id.copy_from_slice(&bytes[66..98]);
        t.authenticator.copy_from_slice(&bytes[TOKEN_INPUT_LEN..]);
        Ok(t)
    }

    /// The token input (`token_type ‖ nonce ‖ challenge_digest ‖ token_key_id`).
    #[must_use]
    pub fn input(&self) -> [u8; TOKEN_INPUT_LEN] {
        token_input(&self.nonce, &self.challenge_digest, &self.token_key_id)
    }

    /// RFC 9578 §6.4: `token_key_id` names `pk`, and the authenticator is a valid RSASSA-PSS
    /// (SHA-384, MGF1-SHA-384, sLen 48) signature over the token input, checked on ring.
    /// The challenge digest, the key's validity and double spending are the caller's checks.
    ///
    /// # Errors
    /// [`Error::WrongKey`] if `token_key_id` is not `pk`'s, [`Error::InvalidKey`] if `pk` is not
    /// RSA-2048, [`Error::InvalidSignature`].
    pub fn verify(&self, pk: &PublicKey) -> Result<(), Error> {
        check_token_key(pk)?;
        if self.token_key_id != pk.token_key_id() {
            return Err(Error::WrongKey);
        }
        rsabssa::verify_pss_ring(pk, &self.input(), &self.authenticator)
    }
}

/// `TokenRequest` of RFC 9578 §6.1 (type 0x0002).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRequest {
    /// Last byte of the issuer's `token_key_id`.
    pub truncated_token_key_id: u8,
    /// The blinded message.
    pub blinded_msg: [u8; NK],
}

impl TokenRequest {
    /// The 259-byte encoding.
    #[must_use]
    pub fn to_bytes(&self) -> [u8; TOKEN_REQUEST_LEN] {
        let mut out = [0u8; TOKEN_REQUEST_LEN];
        out[..2].copy_from_slice(&TOKEN_TYPE.to_be_bytes());
        out[2] = self.truncated_token_key_id;
        out[3..].copy_from_slice(&self.blinded_msg);
        out
    }

    /// Parses exactly [`TOKEN_REQUEST_LEN`] bytes with token type 0x0002.
    ///
    /// # Errors
    /// [`Error::UnexpectedInputSize`], [`Error::WrongTokenType`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        check_token_type(bytes)?;
        if bytes.len() != TOKEN_REQUEST_LEN {
            return Err(Error::UnexpectedInputSize);
        }
        let mut blinded_msg = [0u8; NK];
        blinded_msg.copy_from_slice(&bytes[3..]);
        Ok(TokenRequest {
            truncated_token_key_id: bytes[2],
            blinded_msg,
        })
    }
}

/// `TokenResponse` of RFC 9578 §6.2 (type 0x0002).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenResponse {
    /// The blind signature.
    pub blind_sig: [u8; NK],
}

impl TokenResponse {
    /// The 256-byte encoding.
    #[must_use]
    pub fn to_bytes(&self) -> [u8; TOKEN_RESPONSE_LEN] {
        self.blind_sig
    }

    /// Parses exactly [`TOKEN_RESPONSE_LEN`] bytes.
    ///
    /// # Errors
    /// [`Error::UnexpectedInputSize`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        let blind_sig = bytes.try_into().map_err(|_| Error::UnexpectedInputSize)?;
        Ok(TokenResponse { blind_sig })
    }
}

/// The client's state between [`TokenRequest`] and [`TokenResponse`]. `Debug` prints only the
/// `token_key_id` (the nonce is the future token's, the inverse unblinds it).
pub struct PendingToken {
    nonce: [u8; 32],
    challenge_digest: [u8; 32],
    token_key_id: [u8; 32],
    inv: BlindInverse,
}

/// Client, RFC 9578 §6.1: builds the token input from `nonce` and `challenge_digest` under `pk`,
/// blinds it (RSABSSA-SHA384-PSS-Deterministic) and returns the request and the pending state.
///
/// # Errors
/// [`Error::InvalidKey`] if `pk` is not RSA-2048, and the errors of [`rsabssa::blind`].
pub fn token_request<R: TryCryptoRng + ?Sized>(
    pk: &PublicKey,
    rng: &mut R,
    nonce: [u8; 32],
    challenge_digest: [u8; 32],
) -> Result<(TokenRequest, PendingToken), Error> {
    check_token_key(pk)?;
    let token_key_id = pk.token_key_id();
    let input = token_input(&nonce, &challenge_digest, &token_key_id);
    let blinded = rsabssa::blind(pk, VARIANT, rng, &input)?;
    Ok(request_and_state(blinded, nonce, challenge_digest, token_key_id))
}

/// [`token_request`] with the PSS salt and the blinding factor `r` given. **Test hook, not API**
/// (see [`rsabssa::blind_with_randomness`]); for replaying the RFC 9578 vectors.
///
/// # Errors
/// As [`token_request`].
#[doc(hidden)]
pub fn token_request_with_randomness(
    pk: &PublicKey,
    nonce: [u8; 32],
    challenge_digest: [u8; 32],
    salt: &[u8],
    r: &[u8],
) -> Result<(TokenRequest, PendingToken), Error> {
    check_token_key(pk)?;
    let token_key_id = pk.token_key_id();
    let input = token_input(&nonce, &challenge_digest, &token_key_id);
    let blinded = rsabssa::blind_with_randomness(pk, VARIANT, &input, salt, r)?;
    Ok(request_and_state(blinded, nonce, challenge_digest, token_key_id))
}

fn request_and_state(
    blinded: rsabssa::Blinded,
    nonce: [u8; 32],
    challenge_digest: [u8; 32],
    token_key_id: [u8; 32],
) -> (TokenRequest, PendingToken) {
    let mut blinded_msg = [0u8; NK];
    blinded_msg.copy_from_slice(&blinded.blinded_msg);
    let request = TokenRequest {
        truncated_token_key_id: token_key_id[31],
        blinded_msg,
    };
    (
        request,
        PendingToken {
            nonce,
            challenge_digest,
            token_key_id,
            inv: blinded.inv,
        },
    )
}

/// Issuer, RFC 9578 §6.2: checks the request is for `sk` (type, truncated key id) and answers with
/// [`rsabssa::blind_sign`] (blinded private operation and fault check).
///
/// # Errors
/// [`Error::WrongKey`] if the truncated key id is not `sk`'s, [`Error::InvalidKey`] if `sk` is
/// not RSA-2048, and the errors of [`rsabssa::blind_sign`].
pub fn sign_token_request<R: TryCryptoRng + ?Sized>(
    sk: &SecretKey,
    rng: &mut R,
    request: &TokenRequest,
) -> Result<TokenResponse, Error> {
    let pk = sk.public_key();
    check_token_key(pk)?;
    if request.truncated_token_key_id != pk.token_key_id()[31] {
        return Err(Error::WrongKey);
    }
    let sig = rsabssa::blind_sign(sk, rng, &request.blinded_msg)?;
    TokenResponse::from_bytes(&sig)
}

impl PendingToken {
    /// Client, RFC 9578 §6.3: unblinds, verifies (RFC 9474 Finalize) and builds the token.
    ///
    /// # Errors
    /// [`Error::WrongKey`] if `pk` is not the key of the request, [`Error::InvalidSignature`].
    pub fn finalize(self, pk: &PublicKey, response: &TokenResponse) -> Result<Token, Error> {
        if pk.token_key_id() != self.token_key_id {
            return Err(Error::WrongKey);
        }
        let input = token_input(&self.nonce, &self.challenge_digest, &self.token_key_id);
        let sig = rsabssa::finalize(pk, VARIANT, &input, &response.blind_sig, &self.inv)?;
        let mut authenticator = [0u8; NK];
        authenticator.copy_from_slice(&sig);
        Ok(Token {
            nonce: self.nonce,
            challenge_digest: self.challenge_digest,
            token_key_id: self.token_key_id,
            authenticator,
        })
    }
}
