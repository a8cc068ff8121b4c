//! The verifier's blind answers (blind-profile.md §12.4): `answer_from_vp_token` on the input,
//! then `Verifier::verify_blind` for an `age_blind` answer, with a verifier that pins the
//! session vectors' directory for both of their issuers (`specs/vectors/blind-session/`), at
//! their clock, nonce and audience, for three fixed requests: the band 13/16/18, "at least 18"
//! and "at least 18" at `standard`. Input that is not a JSON object is taken as one compact
//! presentation (or several, `~`-separated) and wrapped with `blind_vp_token`. Nonce store and
//! spent set forget, so accepted seeds stay accepted from run to run.
#![no_main]

use std::sync::OnceLock;

use ageband_core::age::{AgeQuestion, AssuranceLevel, Threshold, ThresholdSet};
use ageband_fuzz::blind::{AUDIENCE, NONCE, session_verifier};
use ageband_verifier::openid4vp::{VpAnswer, answer_from_vp_token, blind_vp_token, presentation_from_vp_token};
use ageband_verifier::{AgeRequest, Profile, Verifier};
use libfuzzer_sys::fuzz_target;

fn fixture() -> &'static (Verifier, Vec<AgeRequest>) {
    static F: OnceLock<(Verifier, Vec<AgeRequest>)> = OnceLock::new();
    F.get_or_init(|| {
        let t = |n| Threshold::new(n).unwrap();
        let req = |q| AgeRequest::with_nonce(q, AUDIENCE, NONCE).unwrap();
        let requests = vec![
            req(AgeQuestion::Band(ThresholdSet::new(&[13, 16, 18]).unwrap())),
            req(AgeQuestion::AtLeast(t(18))),
            req(AgeQuestion::AtLeast(t(18))).min_assurance(AssuranceLevel::Standard),
        ];
        (session_verifier(), requests)
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (verifier, requests) = fixture();
    let token = if text.starts_with('{') {
        text.to_owned()
    } else {
        let parts: Vec<String> = text.split('~').map(str::to_owned).collect();
        blind_vp_token(&parts)
    };
    match answer_from_vp_token(&token) {
        None => {}
        Some(VpAnswer::SdJwt(p)) => {
            assert_eq!(presentation_from_vp_token(&token).as_deref(), Some(p.as_str()));
        }
        Some(VpAnswer::Blind(items)) => {
            assert!(!items.is_empty());
            // The wallet's encoding of the same items parses back to them.
            assert!(
                matches!(answer_from_vp_token(&blind_vp_token(&items)), Some(VpAnswer::Blind(again)) if again == items)
            );
            let refs: Vec<&str> = items.iter().map(String::as_str).collect();
            for r in requests {
                if let Ok(o) = verifier.verify_blind(&refs, r) {
                    assert_eq!(o.profile, Profile::BlindToken);
                    assert!(o.source.is_none());
                    assert!(refs.len() <= 2);
                    assert!(o.at_least.is_some() || o.under.is_some());
                    if let (Some(lo), Some(hi)) = (o.at_least, o.under) {
                        assert!(lo < hi);
                    }
                    assert!(o.assurance <= AssuranceLevel::Standard);
                }
            }
        }
    }
});
