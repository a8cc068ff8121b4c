//! Why a presentation was rejected (protocol.md §6.7, blind-profile.md §9.1 and §12.4).

use ageband_blind::profile::BlindVerifyError;
use ageband_core::age::{AssuranceLevel, Source};
use ageband_core::sdjwt;
#[cfg(test)]
use ageband_core::sdjwt::Part;

/// Why [`crate::Verifier::verify`] rejected a presentation. The wire name of each case is
/// [`VerifyError::kind`].
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The credential itself failed a check of the credential profile (size caps, encoding,
    /// signatures, trust in the key and `iss`, validity, disclosures, key binding; protocol.md
    /// §6.1–§6.4). The cause says which.
    #[error("presentation rejected: {0}")]
    Credential(#[source] sdjwt::VerifyError),
    /// A disclosed claim that no answer set of the request names (protocol.md §6.6 step 3):
    /// the holder revealed more than was asked.
    #[error("presentation discloses a claim the request did not ask for")]
    OverDisclosure,
    /// The disclosed predicates match no answer set of the request, or contradict each other
    /// (protocol.md §6.6 step 4).
    #[error("disclosed predicates match no answer set of the request")]
    ClaimSetMismatch,
    /// The issuer's assurance level is below the request's or the trust list's minimum.
    #[error("assurance {presented} below the required {required}")]
    AssuranceTooLow {
        /// The minimum.
        required: AssuranceLevel,
        /// The level in the credential.
        presented: AssuranceLevel,
    },
    /// The trust list does not accept facts from this source for this issuer.
    #[error("source {presented} not accepted for this issuer")]
    SourceNotAccepted {
        /// The credential's source.
        presented: Source,
    },
    /// The nonce was consumed before, or does not belong to a pending session.
    #[error("nonce already used")]
    NonceReplayed,
    /// The nonce store is full and fails closed; retry later (a server fault, not the
    /// holder's).
    #[error("nonce store full")]
    NonceStoreFull,
    /// A blind-token answer failed a check of blind-profile.md §9.1 or §12.4 (parsing, the
    /// challenge of a trusted issuer, a key of its directory, liveness, fact, floor, the
    /// signatures, the spent set). The kind is the blind check's ([`BlindVerifyError::kind`]).
    #[error("blind presentation rejected: {0}")]
    Blind(#[source] BlindVerifyError),
    /// The trust list does not accept every evidence source that can stand behind a blind
    /// token of this floor (tokens carry no source, blind-profile.md §12.4 check 8).
    #[error("a source that reaches floor {floor} is not accepted for this issuer")]
    FloorSourceNotAccepted {
        /// The token's floor, 2 or 3.
        floor: u8,
    },
    /// A `PrivateToken` gate nonce that this gate did not issue, or whose 5 minutes are over
    /// (blind-profile.md §12.5).
    #[error("gate nonce invalid or expired")]
    InvalidGateNonce,
}

impl VerifyError {
    /// The stable snake_case wire name (protocol.md §6.7), e.g. `kb_nonce`, `over_disclosure`.
    pub fn kind(&self) -> &'static str {
        match self {
            VerifyError::Credential(e) => credential_kind(e),
            VerifyError::OverDisclosure => "over_disclosure",
            VerifyError::ClaimSetMismatch => "claim_set_mismatch",
            VerifyError::AssuranceTooLow { .. } => "assurance_too_low",
            VerifyError::SourceNotAccepted { .. } => "source_not_accepted",
            VerifyError::NonceReplayed => "nonce_replayed",
            VerifyError::NonceStoreFull => "nonce_store_full",
            VerifyError::Blind(e) => e.kind(),
            VerifyError::FloorSourceNotAccepted { .. } => "source_not_accepted",
            VerifyError::InvalidGateNonce => "invalid_nonce",
        }
    }

    /// Whether the fault lies with the verifier rather than the presentation.
    pub fn is_server_fault(&self) -> bool {
        matches!(
            self,
            VerifyError::NonceStoreFull | VerifyError::Blind(BlindVerifyError::SpentSetFull)
        )
    }
}

impl From<BlindVerifyError> for VerifyError {
    fn from(e: BlindVerifyError) -> Self {
        VerifyError::Blind(e)
    }
}

impl From<sdjwt::VerifyError> for VerifyError {
    fn from(e: sdjwt::VerifyError) -> Self {
        VerifyError::Credential(e)
    }
}

/// The protocol.md §6.7 wire name of a core error: the snake_case form of core's kind. (For
/// `wrong_typ`, `bad_signature` and the other header failures the cause names the JWT, issuer
/// or KB, in its `Display`.)
fn credential_kind(e: &sdjwt::VerifyError) -> &'static str {
    snake_kind(e.kind())
}

/// Core's kinds in snake_case; a kind core adds later falls back to `invalid_presentation`.
fn snake_kind(kind: &str) -> &'static str {
    const MAP: &[(&str, &str)] = &[
        ("TooLarge", "too_large"),
        ("Malformed", "malformed"),
        ("Base64", "base64"),
        ("Json", "json"),
        ("UnsupportedAlg", "unsupported_alg"),
        ("WrongTyp", "wrong_typ"),
        ("ForbiddenHeader", "forbidden_header"),
        ("BadSignature", "bad_signature"),
        ("UnknownKey", "unknown_key"),
        ("UntrustedIssuer", "untrusted_issuer"),
        ("Expired", "expired"),
        ("NotYetValid", "not_yet_valid"),
        ("MissingClaim", "missing_claim"),
        ("InvalidClaim", "invalid_claim"),
        ("UnsupportedSdAlg", "unsupported_sd_alg"),
        ("MalformedDisclosure", "malformed_disclosure"),
        ("UnreferencedDisclosure", "unreferenced_disclosure"),
        ("DuplicateDigest", "duplicate_digest"),
        ("ReservedClaimName", "reserved_claim_name"),
        ("ClaimNameCollision", "claim_name_collision"),
        ("WrongVct", "wrong_vct"),
        ("UnexpectedDisclosure", "unexpected_disclosure"),
        ("MissingCnf", "missing_cnf"),
        ("KbMissing", "kb_missing"),
        ("KbAudience", "kb_audience"),
        ("KbNonce", "kb_nonce"),
        ("KbIat", "kb_iat"),
        ("KbSdHash", "kb_sd_hash"),
    ];
    MAP.iter()
        .find(|(k, _)| *k == kind)
        .map_or("invalid_presentation", |(_, s)| s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_core_kind_has_a_snake_case_name() {
        for kind in sdjwt::VerifyError::KINDS {
            let snake = snake_kind(kind);
            assert_ne!(snake, "invalid_presentation", "{kind}");
            assert_eq!(snake.replace('_', ""), kind.to_ascii_lowercase());
        }
    }

    #[test]
    fn wire_names_and_causes() {
        let e = VerifyError::from(sdjwt::VerifyError::BadSignature { part: Part::KbJwt });
        assert_eq!(e.kind(), "bad_signature");
        assert!(e.to_string().contains("KbJwt"), "{e}");
        let e = VerifyError::from(sdjwt::VerifyError::WrongTyp {
            part: Part::IssuerJwt,
        });
        assert_eq!(e.kind(), "wrong_typ");
        assert_eq!(
            VerifyError::from(sdjwt::VerifyError::UnexpectedDisclosure).kind(),
            "unexpected_disclosure"
        );
        assert_eq!(VerifyError::OverDisclosure.kind(), "over_disclosure");
        // The cause stays reachable for logs.
        let e = VerifyError::from(sdjwt::VerifyError::KbNonce);
        assert!(std::error::Error::source(&e).is_some());
    }
}
