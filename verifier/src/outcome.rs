//! The whole answer a platform gets (protocol.md §6.6 step 6, §8.5; blind-profile.md §12.4):
//! the age facts it asked for, how sure the issuer was, where the facts came from (SD-JWT only)
//! and who vouched, and which profile answered. No raw claims, no holder key, no token, no
//! timestamps.

use ageband_core::age::{AgeBand, AssuranceLevel, Source};

/// Which presentation profile answered (protocol.md §8.5 `profile`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Profile {
    /// An SD-JWT VC with key binding (protocol.md §6): `"sd_jwt"`.
    SdJwt,
    /// One or two blind tokens with holder binding (blind-profile.md §12.4): `"blind_token"`.
    BlindToken,
}

impl Profile {
    /// The wire name, `sd_jwt` or `blind_token`.
    pub fn as_str(self) -> &'static str {
        match self {
            Profile::SdJwt => "sd_jwt",
            Profile::BlindToken => "blind_token",
        }
    }
}

/// A verified answer to an age question.
#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize)]
pub struct AgeOutcome {
    /// The user is at least this old (the largest threshold disclosed true).
    pub at_least: Option<u8>,
    /// The user is younger than this (the smallest threshold disclosed false).
    pub under: Option<u8>,
    /// The issuer's assurance level.
    pub assurance: AssuranceLevel,
    /// Where the issuer's age facts came from; `None` for a blind-token answer (tokens carry
    /// no source, blind-profile.md §2.3).
    pub source: Option<Source>,
    /// The issuer identifier (`iss`, or the credential issuer URL of a blind issuer).
    pub issuer: String,
    /// Which profile answered.
    pub profile: Profile,
}

impl AgeOutcome {
    /// The age band: `at_least ≤ age < under`, either bound open.
    pub fn band(&self) -> AgeBand {
        AgeBand {
            at_least: self.at_least,
            under: self.under,
        }
    }

    /// The band as protocol.md §8.5 spells it on the wire: `"16-17"`, `"18+"`, `"0-12"`.
    pub fn band_label(&self) -> String {
        self.band().label()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(at_least: Option<u8>, under: Option<u8>) -> AgeOutcome {
        AgeOutcome {
            at_least,
            under,
            assurance: AssuranceLevel::Standard,
            source: Some(Source::OfficialId),
            issuer: "https://issuer.example".into(),
            profile: Profile::SdJwt,
        }
    }

    #[test]
    fn band_labels_follow_the_spec() {
        assert_eq!(outcome(Some(16), Some(18)).band_label(), "16-17");
        assert_eq!(outcome(Some(18), None).band_label(), "18+");
        assert_eq!(outcome(None, Some(13)).band_label(), "0-12");
        assert_eq!(outcome(Some(16), Some(18)).band().to_string(), "16–17");
        let json = serde_json::to_value(outcome(None, Some(13))).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"at_least":null,"under":13,"assurance":"standard","source":"official_id","issuer":"https://issuer.example","profile":"sd_jwt"})
        );
        let blind = AgeOutcome {
            source: None,
            profile: Profile::BlindToken,
            ..outcome(Some(18), None)
        };
        let json = serde_json::to_value(blind).unwrap();
        assert_eq!(json["source"], serde_json::Value::Null);
        assert_eq!(json["profile"], "blind_token");
    }
}
