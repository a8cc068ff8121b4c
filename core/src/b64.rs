//! base64url without padding (RFC 4648 §5), strict: no padding, no line breaks, no
//! non-canonical trailing bits. Sizes are checked before any decoding (protocol.md §2).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Why a base64url string was refused.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Base64Error {
    /// The encoded text is longer than the cap allows; nothing was decoded.
    #[error("base64url input of {len} characters exceeds the cap of {max}")]
    TooLong {
        /// Length of the encoded input.
        len: usize,
        /// Largest accepted length of the encoded input.
        max: usize,
    },
    /// Not canonical unpadded base64url.
    #[error("invalid base64url")]
    Invalid,
}

/// Encodes bytes as base64url without padding.
pub fn encode(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes unpadded base64url whose decoded form may be at most `max_decoded` bytes.
pub fn decode(input: &str, max_decoded: usize) -> Result<Vec<u8>, Base64Error> {
    let max = encoded_len(max_decoded);
    if input.len() > max {
        return Err(Base64Error::TooLong {
            len: input.len(),
            max,
        });
    }
    URL_SAFE_NO_PAD.decode(input).map_err(|_| Base64Error::Invalid)
}

/// Decodes into a fixed-size array; any other length is `Invalid`.
pub fn decode_array<const N: usize>(input: &str) -> Result<[u8; N], Base64Error> {
    let bytes = decode(input, N)?;
    bytes.try_into().map_err(|_| Base64Error::Invalid)
}

/// Length of the unpadded encoding of `n` bytes.
pub const fn encoded_len(n: usize) -> usize {
    (n * 4).div_ceil(3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_strictness() {
        assert_eq!(encode(b"\xfb\xff"), "-_8");
        assert_eq!(decode("-_8", 2).unwrap(), b"\xfb\xff");
        assert_eq!(decode("-_8=", 2), Err(Base64Error::TooLong { len: 4, max: 3 }));
        assert_eq!(decode("-_8=", 10), Err(Base64Error::Invalid));
        assert_eq!(decode("+/8", 10), Err(Base64Error::Invalid));
        // "-_9" has non-zero trailing bits: a second spelling of the same bytes.
        assert_eq!(decode("-_9", 10), Err(Base64Error::Invalid));
        assert_eq!(decode("YWJj", 2), Err(Base64Error::TooLong { len: 4, max: 3 }));
        assert_eq!(decode_array::<2>("-_8"), Ok([0xfb, 0xff]));
        assert_eq!(decode_array::<3>("-_8"), Err(Base64Error::Invalid));
    }
}
