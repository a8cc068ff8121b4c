//! The verifier's `vp_token` handling: `presentation_from_vp_token`, then `Verifier::verify`
//! with a pinned trust list (the seeded vectors' issuer), the vectors' audience, nonce and
//! clock, for a band question and for an any-answer request.
#![no_main]

use std::sync::Arc;

use ageband_core::age::{AgeQuestion, ThresholdSet};
use ageband_fuzz::fixture;
use ageband_verifier::openid4vp::{presentation_from_vp_token, vp_token};
use ageband_verifier::{AgeRequest, ManualClock, NonceError, NonceStore, TrustList, TrustedIssuer, Verifier};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

/// Accepts every nonce, so that runs do not depend on what earlier inputs consumed.
struct Forgetful;

impl NonceStore for Forgetful {
    fn consume(&self, _nonce: &str, _now: u64) -> Result<(), NonceError> {
        Ok(())
    }
}

fn verifier() -> &'static (Verifier, AgeRequest, AgeRequest) {
    static V: OnceLock<(Verifier, AgeRequest, AgeRequest)> = OnceLock::new();
    V.get_or_init(|| {
        let f = fixture();
        let key = ageband_core::jws::Signer::public_jwk(&f.issuer_key).clone();
        let list = TrustList::new(vec![TrustedIssuer::pinned(f.issuer.clone(), vec![key])]).unwrap();
        let v = Verifier::from_trust_list(list)
            .with_nonce_store(Arc::new(Forgetful))
            .with_clock(Arc::new(ManualClock::new(f.now)));
        let band = AgeRequest::with_nonce(
            AgeQuestion::Band(ThresholdSet::default_set()),
            f.aud.clone(),
            f.nonce.clone(),
        )
        .unwrap();
        let any = AgeRequest::any(f.aud.clone(), f.nonce.clone()).unwrap();
        (v, band, any)
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (v, band, any) = verifier();
    // A bare presentation (the seed corpus) is wrapped; anything else is taken as the token.
    let token = if text.starts_with('{') {
        text.to_owned()
    } else {
        vp_token(text)
    };
    let Some(p) = presentation_from_vp_token(&token) else {
        return;
    };
    assert_eq!(
        presentation_from_vp_token(&vp_token(&p)).as_deref(),
        Some(p.as_str())
    );
    let a = v.verify(&p, band);
    let b = v.verify(&p, any);
    if let Ok(outcome) = a {
        assert!(b.is_ok(), "a band answer is a consistent answer");
        if let (Some(lo), Some(hi)) = (outcome.at_least, outcome.under) {
            assert!(lo < hi);
        }
    }
});
