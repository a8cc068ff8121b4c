//! The presentation: token, holder key and holder-binding signature, the message the binding
//! signs, and the two transport encodings (blind-profile.md §5.2, §7, §8).

use ageband_core::b64;
use ring::digest::{SHA256, digest};

use super::{LABEL_NONCE, LABEL_PRESENTATION};
use crate::token::{TOKEN_LEN, Token};

/// Length of a compressed SEC1 P-256 public key.
pub const HOLDER_KEY_LEN: usize = 33;
/// Shortest accepted verifier nonce, bytes.
pub const MIN_VERIFIER_NONCE: usize = 16;
/// Longest accepted verifier nonce, bytes.
pub const MAX_VERIFIER_NONCE: usize = 64;
/// Longest accepted audience, bytes (at least 1).
pub const MAX_AUDIENCE: usize = 512;
/// Longest compact presentation accepted before any decoding, characters. A well-formed one is
/// exactly 604 (472 + 1 + 44 + 1 + 86).
pub const MAX_PRESENTATION: usize = 1024;
/// Longest `Authorization` header value accepted before any parsing, characters.
pub const MAX_PRIVATE_TOKEN_HEADER: usize = 2048;
/// Largest token accepted by the decoder before the type and length checks, bytes.
const MAX_TOKEN_DECODE: usize = 512;
/// Most auth-params in a `PrivateToken` credential.
const MAX_PARAMS: usize = 8;

const TOKEN_B64: usize = b64::encoded_len(TOKEN_LEN);
const KEY_B64: usize = b64::encoded_len(HOLDER_KEY_LEN);
const SIG_B64: usize = b64::encoded_len(64);

/// Why a presentation encoding was refused.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PresentationError {
    /// Too long, not three base64url parts, a holder key or signature of the wrong length, or
    /// (for the header form) not a `PrivateToken` credential with one `token` and one `binding`.
    #[error("malformed presentation")]
    Malformed,
    /// The token's type is not 0x0002.
    #[error("token type is not 0x0002")]
    WrongTokenType,
    /// The token is not 354 bytes.
    #[error("token is not 354 bytes")]
    WrongTokenLength,
}

/// A presentation (blind-profile.md §7): an unused token, the holder key whose hash is its nonce,
/// and the holder-binding signature over the verifier's nonce and audience. `Debug` prints only
/// the token's (public) key id: the nonce and holder key link presentations of one holder.
#[derive(Clone, PartialEq, Eq)]
pub struct BlindPresentation {
    /// The RFC 9578 token.
    pub token: Token,
    /// The holder's public key, compressed SEC1 (33 bytes).
    pub holder_key: [u8; HOLDER_KEY_LEN],
    /// ES256 signature r ‖ s over [`binding_message`].
    pub binding_sig: [u8; 64],
}

impl std::fmt::Debug for BlindPresentation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlindPresentation")
            .field("token", &self.token)
            .finish_non_exhaustive()
    }
}

impl BlindPresentation {
    /// Compact form (blind-profile.md §8.1): `b64(token) "." b64(holder_key) "." b64(sig)`,
    /// unpadded base64url, 604 characters.
    #[must_use]
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(TOKEN_B64 + KEY_B64 + SIG_B64 + 2);
        out.push_str(&b64::encode(self.token.to_bytes()));
        out.push('.');
        out.push_str(&b64::encode(self.holder_key));
        out.push('.');
        out.push_str(&b64::encode(self.binding_sig));
        out
    }

    /// Parses the compact form: size cap, three parts, strict base64url, then token type 0x0002,
    /// then 354 bytes, then a 33-byte key and a 64-byte signature. Verifies nothing.
    ///
    /// # Errors
    /// [`PresentationError`].
    pub fn parse(s: &str) -> Result<Self, PresentationError> {
        if s.len() > MAX_PRESENTATION {
            return Err(PresentationError::Malformed);
        }
        let mut parts = s.split('.');
        let (Some(t), Some(k), Some(sig), None) = (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(PresentationError::Malformed);
        };
        let token = parse_token_b64(t)?;
        let (holder_key, binding_sig) = parse_binding_parts(k, sig)?;
        Ok(BlindPresentation {
            token,
            holder_key,
            binding_sig,
        })
    }

    /// The RFC 9577 `Authorization` header value (blind-profile.md §8.2):
    /// `PrivateToken token="<b64(token)>", binding="<b64(holder_key)>.<b64(sig)>"`.
    /// The token's base64url needs no padding (354 = 3 × 118), so it is the RFC's padded form too.
    #[must_use]
    pub fn to_private_token_header(&self) -> String {
        format!(
            "PrivateToken token=\"{}\", binding=\"{}.{}\"",
            b64::encode(self.token.to_bytes()),
            b64::encode(self.holder_key),
            b64::encode(self.binding_sig)
        )
    }

    /// Parses a `PrivateToken` credential (blind-profile.md §8.2): scheme `PrivateToken`
    /// (case-insensitive), then comma-separated auth-params; `token` and `binding` exactly once
    /// each (names case-insensitive, values as token or quoted-string without escapes); other
    /// parameters are ignored as RFC 9577 §2.2 requires, at most 8 parameters in all.
    ///
    /// # Errors
    /// [`PresentationError`].
    pub fn parse_private_token_header(value: &str) -> Result<Self, PresentationError> {
        if value.len() > MAX_PRIVATE_TOKEN_HEADER {
            return Err(PresentationError::Malformed);
        }
        let (scheme, rest) = value.split_once(' ').ok_or(PresentationError::Malformed)?;
        if !scheme.eq_ignore_ascii_case("PrivateToken") {
            return Err(PresentationError::Malformed);
        }
        let mut token = None;
        let mut binding = None;
        let params: Vec<&str> = rest.split(',').collect();
        if params.len() > MAX_PARAMS {
            return Err(PresentationError::Malformed);
        }
        for param in params {
            let (name, raw) = param
                .trim_matches([' ', '\t'])
                .split_once('=')
                .ok_or(PresentationError::Malformed)?;
            let name = name.trim_end_matches([' ', '\t']);
            let raw = raw.trim_start_matches([' ', '\t']);
            if name.is_empty() || !name.bytes().all(is_tchar) {
                return Err(PresentationError::Malformed);
            }
            let val = unquote(raw)?;
            let slot = if name.eq_ignore_ascii_case("token") {
                &mut token
            } else if name.eq_ignore_ascii_case("binding") {
                &mut binding
            } else {
                continue;
            };
            if slot.replace(val).is_some() {
                return Err(PresentationError::Malformed);
            }
        }
        let (Some(t), Some(b)) = (token, binding) else {
            return Err(PresentationError::Malformed);
        };
        let token = parse_token_b64(t)?;
        let (k, sig) = b.split_once('.').ok_or(PresentationError::Malformed)?;
        let (holder_key, binding_sig) = parse_binding_parts(k, sig)?;
        Ok(BlindPresentation {
            token,
            holder_key,
            binding_sig,
        })
    }
}

fn is_tchar(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

/// A token68-like bare value or a quoted-string without backslash escapes.
fn unquote(raw: &str) -> Result<&str, PresentationError> {
    let inner = match raw.strip_prefix('"') {
        Some(r) => r.strip_suffix('"').ok_or(PresentationError::Malformed)?,
        None => raw,
    };
    if inner.bytes().all(|c| is_tchar(c) || c == b'=' || c == b'/') {
        Ok(inner)
    } else {
        Err(PresentationError::Malformed)
    }
}

fn parse_token_b64(t: &str) -> Result<Token, PresentationError> {
    let bytes = b64::decode(t, MAX_TOKEN_DECODE).map_err(|_| PresentationError::Malformed)?;
    // Token::from_bytes checks the type first, then the length (UnexpectedInputSize).
    Token::from_bytes(&bytes).map_err(|e| match e {
        crate::Error::WrongTokenType => PresentationError::WrongTokenType,
        _ => PresentationError::WrongTokenLength,
    })
}

fn parse_binding_parts(k: &str, sig: &str) -> Result<([u8; HOLDER_KEY_LEN], [u8; 64]), PresentationError> {
    if k.len() != KEY_B64 || sig.len() != SIG_B64 {
        return Err(PresentationError::Malformed);
    }
    let key = b64::decode_array::<HOLDER_KEY_LEN>(k).map_err(|_| PresentationError::Malformed)?;
    let sig = b64::decode_array::<64>(sig).map_err(|_| PresentationError::Malformed)?;
    Ok((key, sig))
}

/// The token nonce for a holder key (blind-profile.md §5.2):
/// `SHA-256("ageband/kb/v1" ‖ compressed SEC1 key)`.
#[must_use]
pub fn token_nonce_for(holder_key: &[u8; HOLDER_KEY_LEN]) -> [u8; 32] {
    let mut input = Vec::with_capacity(LABEL_NONCE.len() + HOLDER_KEY_LEN);
    input.extend_from_slice(LABEL_NONCE);
    input.extend_from_slice(holder_key);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest(&SHA256, &input).as_ref());
    out
}

/// Whether the verifier nonce is 16..=64 bytes and the audience 1..=512 bytes (the bounds of
/// [`binding_message`]).
pub(crate) fn query_in_range(verifier_nonce: &[u8], audience: &str) -> bool {
    (MIN_VERIFIER_NONCE..=MAX_VERIFIER_NONCE).contains(&verifier_nonce.len())
        && (1..=MAX_AUDIENCE).contains(&audience.len())
}

/// The message the holder binding signs (blind-profile.md §7.1):
/// `"ageband/blind-presentation/v1" ‖ u16(len nonce) ‖ nonce ‖ u16(len audience) ‖ audience ‖
/// SHA-256(token)`. `None` if the nonce is not 16..=64 bytes or the audience not 1..=512 bytes.
#[must_use]
pub fn binding_message(verifier_nonce: &[u8], audience: &str, token: &[u8; TOKEN_LEN]) -> Option<Vec<u8>> {
    if !query_in_range(verifier_nonce, audience) {
        return None;
    }
    let mut msg =
        Vec::with_capacity(LABEL_PRESENTATION.len() + 4 + verifier_nonce.len() + audience.len() + 32);
    msg.extend_from_slice(LABEL_PRESENTATION);
    // Both lengths are bounded above by 512: the casts are lossless.
    msg.extend_from_slice(&(verifier_nonce.len() as u16).to_be_bytes());
    msg.extend_from_slice(verifier_nonce);
    msg.extend_from_slice(&(audience.len() as u16).to_be_bytes());
    msg.extend_from_slice(audience.as_bytes());
    msg.extend_from_slice(digest(&SHA256, token).as_ref());
    Some(msg)
}
