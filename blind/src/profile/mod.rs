//! The blind-token profile of ageband (DESIGN §9): pure logic, no I/O. Wire format and rules:
//! `specs/blind-profile.md` (cited as "blind-profile.md §N").
//!
//! - Facts and floors ([`BlindFact`], [`Floor`]): what a key attests (§2).
//! - The key schedule ([`Month`], [`published_months`], [`allowed_months`]): one issuer key per
//!   (fact, floor, month); an `under_N` token only under keys whose month ends on or before the
//!   N-th birthday (§3).
//! - The issuer directory ([`Directory`], [`DirectoryKey`]): RFC 9578 §4 JSON with ageband's
//!   per-key members, parsed with caps and validated (one key per slot, month bounds, key ids
//!   unique) by wallets and verifiers (§4).
//! - The fixed issuer-wide [`TokenChallenge`] (RFC 9577 §2.1, empty redemption context and origin
//!   info) and the token nonce derived from the holder key ([`token_nonce_for`]) (§5).
//! - Wallet: [`HolderTokenRequest`] → [`BlindToken`] → [`BlindPresentation`] with the holder
//!   binding (§6, §7), its compact and `PrivateToken` header encodings (§8).
//! - Verifier: [`verify_blind`] with a [`SpentSet`] ([`MemorySpentSet`]) (§9).

mod challenge;
mod directory;
mod holder;
mod presentation;
mod schedule;
mod spent;
mod verify;

use std::fmt;

use ageband_core::age::{AssuranceLevel, Source, Threshold};

pub use challenge::{ChallengeError, MAX_ISSUER_NAME, TokenChallenge, issuer_name_of};
pub use directory::{
    Directory, DirectoryError, DirectoryKey, MAX_DIRECTORY_BYTES, MAX_DIRECTORY_KEYS, MAX_DIRECTORY_MONTHS,
    MAX_REQUEST_URI,
};
pub use holder::{BlindToken, HolderTokenRequest, ProfileError};
pub use presentation::{
    BlindPresentation, HOLDER_KEY_LEN, MAX_AUDIENCE, MAX_PRESENTATION, MAX_PRIVATE_TOKEN_HEADER,
    MAX_VERIFIER_NONCE, MIN_VERIFIER_NONCE, PresentationError, binding_message, token_nonce_for,
};
pub use schedule::{
    FactBasis, Month, PUBLISH_AHEAD, allowed_months, basis_from_birth_date, basis_from_estimate, may_issue,
    published_months,
};
pub use spent::{MemorySpentSet, SpentSet};
pub use verify::{BlindFacts, BlindIssuer, BlindQuery, BlindVerifyError, verify_blind, verify_presentation};

/// Domain label of the token nonce: `nonce = SHA-256(LABEL_NONCE ‖ compressed holder key)`
/// (blind-profile.md §5.2).
pub const LABEL_NONCE: &[u8] = b"ageband/kb/v1";
/// Domain label of the holder-binding message (blind-profile.md §7.1).
pub const LABEL_PRESENTATION: &[u8] = b"ageband/blind-presentation/v1";

/// Whether a fact says "at least N" or "younger than N".
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum FactKind {
    /// `age_over_N`: the holder is at least N years old.
    Over,
    /// `age_under_N`: the holder is younger than N.
    Under,
}

/// One of the six facts of the profile: `age_over_13/16/18`, `age_under_13/16/18`
/// (blind-profile.md §2.1).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BlindFact {
    kind: FactKind,
    threshold: Threshold,
}

/// The thresholds the profile issues keys for.
pub const BLIND_THRESHOLDS: [u8; 3] = [13, 16, 18];

impl BlindFact {
    /// The fact, if `years` is one of [`BLIND_THRESHOLDS`].
    #[must_use]
    pub fn new(kind: FactKind, years: u8) -> Option<Self> {
        if !BLIND_THRESHOLDS.contains(&years) {
            return None;
        }
        Threshold::new(years)
            .ok()
            .map(|threshold| BlindFact { kind, threshold })
    }

    /// `age_over_N`.
    #[must_use]
    pub fn over(years: u8) -> Option<Self> {
        Self::new(FactKind::Over, years)
    }

    /// `age_under_N`.
    #[must_use]
    pub fn under(years: u8) -> Option<Self> {
        Self::new(FactKind::Under, years)
    }

    /// All six facts: the over-facts ascending, then the under-facts ascending.
    #[must_use]
    pub fn all() -> Vec<BlindFact> {
        [FactKind::Over, FactKind::Under]
            .into_iter()
            .flat_map(|k| {
                BLIND_THRESHOLDS
                    .into_iter()
                    .filter_map(move |y| BlindFact::new(k, y))
            })
            .collect()
    }

    /// Over or under.
    #[must_use]
    pub fn kind(self) -> FactKind {
        self.kind
    }

    /// N.
    #[must_use]
    pub fn threshold(self) -> Threshold {
        self.threshold
    }

    /// N in years.
    #[must_use]
    pub fn years(self) -> u8 {
        self.threshold.years()
    }

    /// The wire name, `age_over_16` or `age_under_16`.
    #[must_use]
    pub fn name(self) -> String {
        match self.kind {
            FactKind::Over => format!("age_over_{}", self.years()),
            FactKind::Under => format!("age_under_{}", self.years()),
        }
    }

    /// Parses exactly one of the six wire names.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        BlindFact::all().into_iter().find(|f| f.name() == name)
    }

    /// The band bounds this fact gives: `(at_least, under)`.
    #[must_use]
    pub fn bounds(self) -> (Option<u8>, Option<u8>) {
        match self.kind {
            FactKind::Over => (Some(self.years()), None),
            FactKind::Under => (None, Some(self.years())),
        }
    }
}

impl fmt::Debug for BlindFact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

impl fmt::Display for BlindFact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// The assurance floor of a key (blind-profile.md §2.2), ordered weakest first.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum Floor {
    /// Level 2: age estimation or a guardian's declaration.
    Level2,
    /// Level 3: an official identity or a document-based third-party check.
    Level3,
}

impl Floor {
    /// Both floors, weakest first.
    pub const ALL: [Floor; 2] = [Floor::Level2, Floor::Level3];

    /// The wire number, 2 or 3.
    #[must_use]
    pub fn number(self) -> u8 {
        match self {
            Floor::Level2 => 2,
            Floor::Level3 => 3,
        }
    }

    /// Parses the wire number.
    #[must_use]
    pub fn from_number(n: u64) -> Option<Self> {
        match n {
            2 => Some(Floor::Level2),
            3 => Some(Floor::Level3),
            _ => None,
        }
    }

    /// The floor an evidence source reaches; `None` for self-declaration, which gets no blind
    /// tokens (blind-profile.md §2.2).
    #[must_use]
    pub fn of_source(source: Source) -> Option<Self> {
        match source {
            Source::GuardianDeclared | Source::AgeEstimation => Some(Floor::Level2),
            Source::OfficialId | Source::ThirdPartyCheck => Some(Floor::Level3),
            Source::SelfDeclared => None,
        }
    }

    /// Every floor a holder with evidence from `source` may get tokens for: a level-3 holder
    /// also gets level-2 tokens.
    #[must_use]
    pub fn floors_for(source: Source) -> &'static [Floor] {
        match Floor::of_source(source) {
            Some(Floor::Level3) => &Floor::ALL,
            Some(Floor::Level2) => &Floor::ALL[..1],
            None => &[],
        }
    }

    /// The minimal assurance level a platform is shown for a token of this floor
    /// (2 → `basic`, 3 → `standard`).
    #[must_use]
    pub fn assurance(self) -> AssuranceLevel {
        match self {
            Floor::Level2 => AssuranceLevel::Basic,
            Floor::Level3 => AssuranceLevel::Standard,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_names_and_floors() {
        let all = BlindFact::all();
        let names: Vec<String> = all.iter().map(|f| f.name()).collect();
        assert_eq!(
            names,
            [
                "age_over_13",
                "age_over_16",
                "age_over_18",
                "age_under_13",
                "age_under_16",
                "age_under_18"
            ]
        );
        for f in &all {
            assert_eq!(BlindFact::from_name(&f.name()), Some(*f));
        }
        for bad in [
            "age_over_17",
            "age_over_013",
            "AGE_OVER_13",
            "age_under_",
            "age_over_18 ",
        ] {
            assert_eq!(BlindFact::from_name(bad), None, "{bad}");
        }
        assert_eq!(BlindFact::over(15), None);
        assert_eq!(BlindFact::under(16).unwrap().bounds(), (None, Some(16)));
        assert_eq!(Floor::of_source(Source::SelfDeclared), None);
        assert_eq!(Floor::of_source(Source::AgeEstimation), Some(Floor::Level2));
        assert_eq!(Floor::of_source(Source::GuardianDeclared), Some(Floor::Level2));
        assert_eq!(Floor::of_source(Source::OfficialId), Some(Floor::Level3));
        assert_eq!(Floor::of_source(Source::ThirdPartyCheck), Some(Floor::Level3));
        assert_eq!(
            Floor::floors_for(Source::OfficialId),
            &[Floor::Level2, Floor::Level3]
        );
        assert_eq!(Floor::floors_for(Source::AgeEstimation), &[Floor::Level2]);
        assert!(Floor::floors_for(Source::SelfDeclared).is_empty());
        assert_eq!(Floor::Level2.assurance(), AssuranceLevel::Basic);
        assert_eq!(Floor::Level3.assurance(), AssuranceLevel::Standard);
        assert!(Floor::Level2 < Floor::Level3);
        assert_eq!(Floor::from_number(1), None);
    }
}
