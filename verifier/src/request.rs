//! What a platform asks: an age question, what counts as an answer, the minimum assurance,
//! and the challenge (audience and single-use nonce) a presentation must be bound to.
//! Profile-neutral: nothing here is specific to SD-JWT.

use ageband_core::age::{AgeQuestion, AssuranceLevel, Predicate};
use ageband_core::rng::{OsRng, Rng, random_b64};

/// Bytes of randomness in a generated nonce (128 bits, protocol.md §8.1).
pub const NONCE_BYTES: usize = 16;
/// Shortest nonce accepted from a caller: 22 characters, i.e. 128 bits in base64url.
pub const MIN_NONCE_LEN: usize = 22;
/// Longest nonce or audience accepted.
pub const MAX_CHALLENGE_LEN: usize = 1024;

/// Why a request could not be built.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// The audience is empty, too long or not printable ASCII.
    #[error("audience must be 1 to 1024 printable ASCII characters")]
    Audience,
    /// The nonce is shorter than 22 characters, too long, or uses characters outside
    /// `A–Z a–z 0–9 - . _ ~`.
    #[error("nonce must be 22 to 1024 URL-unreserved characters (at least 128 bits)")]
    Nonce,
    /// The random number generator failed.
    #[error("random number generator failed")]
    Rng,
    /// The request has no question (an offline check), so it has no OpenID4VP form.
    #[error("request has no age question")]
    NoQuestion,
    /// The response URI is not an absolute http(s) URL.
    #[error("response_uri must be an absolute http(s) URL")]
    ResponseUri,
}

/// A question with its answer policy and challenge. Build with [`AgeRequest::new`] (fresh
/// nonce) or [`AgeRequest::with_nonce`] (the platform's own nonce), then refine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgeRequest {
    question: Option<AgeQuestion>,
    accept_negative: bool,
    min_assurance: Option<AssuranceLevel>,
    audience: String,
    nonce: String,
}

impl AgeRequest {
    /// Asks `question` of a holder who binds the answer to `audience`, with a fresh 128-bit
    /// nonce from the OS RNG.
    pub fn new(question: AgeQuestion, audience: impl Into<String>) -> Result<Self, RequestError> {
        Self::new_with_rng(question, audience, &mut OsRng::new())
    }

    /// As [`AgeRequest::new`] with the nonce drawn from `rng`.
    pub fn new_with_rng(
        question: AgeQuestion,
        audience: impl Into<String>,
        rng: &mut dyn Rng,
    ) -> Result<Self, RequestError> {
        let nonce = random_b64(rng, NONCE_BYTES).map_err(|_| RequestError::Rng)?;
        Self::build(Some(question), audience.into(), nonce)
    }

    /// Asks `question` with a nonce the caller generated and keeps (stateless verification):
    /// at least 22 URL-unreserved characters.
    pub fn with_nonce(
        question: AgeQuestion,
        audience: impl Into<String>,
        nonce: impl Into<String>,
    ) -> Result<Self, RequestError> {
        Self::build(Some(question), audience.into(), nonce.into())
    }

    /// A request without a question, for offline checking (`ageband verify`): any disclosed
    /// predicates are accepted if they are consistent (no threshold disclosed false is at or
    /// below one disclosed true) and there is at least one. Any nonce is accepted, since the
    /// caller vouches for it.
    pub fn any(audience: impl Into<String>, nonce: impl Into<String>) -> Result<Self, RequestError> {
        let nonce = nonce.into();
        if nonce.is_empty() || nonce.len() > MAX_CHALLENGE_LEN || !printable(&nonce) {
            return Err(RequestError::Nonce);
        }
        let audience = checked_audience(audience.into())?;
        Ok(AgeRequest {
            question: None,
            accept_negative: true,
            min_assurance: None,
            audience,
            nonce,
        })
    }

    /// Whether the opposite answer also counts (protocol.md §8.2 `allow_negative`): with it,
    /// "at least 16" answered by `age_over_16: false` is a valid, verified "under 16". Bands
    /// always accept every band.
    pub fn accept_negative(mut self, yes: bool) -> Self {
        self.accept_negative = yes;
        self
    }

    /// Refuses credentials below `level`.
    pub fn min_assurance(mut self, level: AssuranceLevel) -> Self {
        self.min_assurance = Some(level);
        self
    }

    /// The question, if any.
    pub fn question(&self) -> Option<&AgeQuestion> {
        self.question.as_ref()
    }

    /// Whether the opposite answer counts.
    pub fn accepts_negative(&self) -> bool {
        self.accept_negative
    }

    /// The minimum assurance level, if any.
    pub fn minimum(&self) -> Option<AssuranceLevel> {
        self.min_assurance
    }

    /// The audience the holder binds to (the OpenID4VP `client_id`).
    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// The single-use nonce.
    pub fn nonce(&self) -> &str {
        &self.nonce
    }

    /// The answer sets (protocol.md §8.2), in order; empty for a request without question.
    pub fn answer_sets(&self) -> Vec<Vec<Predicate>> {
        self.question
            .as_ref()
            .map_or_else(Vec::new, |q| q.claim_sets(self.accept_negative))
    }

    fn build(question: Option<AgeQuestion>, audience: String, nonce: String) -> Result<Self, RequestError> {
        let unreserved = |c: u8| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~');
        if nonce.len() < MIN_NONCE_LEN || nonce.len() > MAX_CHALLENGE_LEN || !nonce.bytes().all(unreserved) {
            return Err(RequestError::Nonce);
        }
        let audience = checked_audience(audience)?;
        Ok(AgeRequest {
            question,
            accept_negative: false,
            min_assurance: None,
            audience,
            nonce,
        })
    }
}

fn printable(s: &str) -> bool {
    s.bytes().all(|c| c.is_ascii_graphic() || c == b' ')
}

fn checked_audience(audience: String) -> Result<String, RequestError> {
    if audience.is_empty() || audience.len() > MAX_CHALLENGE_LEN || !printable(&audience) {
        return Err(RequestError::Audience);
    }
    Ok(audience)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ageband_core::age::{Threshold, ThresholdSet};

    fn t(y: u8) -> Threshold {
        Threshold::new(y).unwrap()
    }

    #[test]
    fn fresh_nonces_are_128_bit_and_distinct() {
        let a = AgeRequest::new(AgeQuestion::AtLeast(t(16)), "redirect_uri:https://rp.example/cb").unwrap();
        let b = AgeRequest::new(AgeQuestion::AtLeast(t(16)), "redirect_uri:https://rp.example/cb").unwrap();
        assert_eq!(a.nonce().len(), 22);
        assert_ne!(a.nonce(), b.nonce());
        assert_eq!(a.answer_sets(), vec![vec![(t(16), true)]]);
        let a = a.accept_negative(true).min_assurance(AssuranceLevel::Basic);
        assert_eq!(a.answer_sets(), vec![vec![(t(16), true)], vec![(t(16), false)]]);
        assert_eq!(a.minimum(), Some(AssuranceLevel::Basic));
    }

    #[test]
    fn caller_nonces_and_audiences_are_checked() {
        let q = || AgeQuestion::Band(ThresholdSet::default_set());
        assert_eq!(
            AgeRequest::with_nonce(q(), "aud", "short").unwrap_err(),
            RequestError::Nonce
        );
        assert_eq!(
            AgeRequest::with_nonce(q(), "aud", "a".repeat(21)).unwrap_err(),
            RequestError::Nonce
        );
        assert_eq!(
            AgeRequest::with_nonce(q(), "aud", format!("{}/", "a".repeat(22))).unwrap_err(),
            RequestError::Nonce
        );
        assert_eq!(
            AgeRequest::with_nonce(q(), "", "a".repeat(22)).unwrap_err(),
            RequestError::Audience
        );
        assert_eq!(
            AgeRequest::with_nonce(q(), "a\nb", "a".repeat(22)).unwrap_err(),
            RequestError::Audience
        );
        let r = AgeRequest::with_nonce(q(), "aud", "0123456789abcdef0123456789abcdef").unwrap();
        assert_eq!(r.answer_sets().len(), 4);
        let any = AgeRequest::any("aud", "n").unwrap();
        assert!(any.question().is_none() && any.answer_sets().is_empty());
        assert_eq!(AgeRequest::any("aud", "").unwrap_err(), RequestError::Nonce);
    }
}
