//! Property tests of the verifier's answer check (protocol.md §6.6) end to end: for any band
//! question and any age, the holder's one fitting claim set verifies to a band that brackets
//! the age, and any other selection of the same credential's predicates is refused.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use ageband_core::age::{
    AgeQuestion, AssuranceLevel, Date, Source, Threshold, ThresholdSet, choose_claim_set,
};
use ageband_core::jws::{RingSigner, Signer};
use ageband_core::profile::{self, CredentialTemplate};
use ageband_core::rng::OsRng;
use ageband_verifier::{AgeRequest, ManualClock, TrustList, TrustedIssuer, Verifier};
use proptest::prelude::*;

const ISSUER: &str = "https://issuer.example";
const AUD: &str = "redirect_uri:https://rp.example/cb";

fn keys() -> &'static (RingSigner, RingSigner) {
    static K: OnceLock<(RingSigner, RingSigner)> = OnceLock::new();
    K.get_or_init(|| (RingSigner::generate().unwrap(), RingSigner::generate().unwrap()))
}

/// A fresh request nonce per case: the verifier spends each one.
fn nonce() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    format!("proptest-nonce-{:016}", N.fetch_add(1, Ordering::Relaxed))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    #[test]
    fn the_fitting_answer_verifies_and_no_other_selection_does(
        years in prop::collection::btree_set(1u8..=99, 1..=4),
        age in 0u32..=120,
        other in prop::collection::vec(any::<bool>(), 4),
    ) {
        let (issuer, holder) = keys();
        let set = ThresholdSet::new(&years.iter().copied().collect::<Vec<_>>()).unwrap();
        let held: BTreeMap<Threshold, bool> =
            set.as_slice().iter().map(|&t| (t, age >= u32::from(t.years()))).collect();
        let iat = Date::parse("2026-07-01").unwrap();
        let template = CredentialTemplate {
            issuer: ISSUER.into(),
            iat,
            exp: iat.add_days(30),
            assurance: AssuranceLevel::Standard,
            source: Source::ThirdPartyCheck,
            predicates: held.clone(),
            pad_to: set.as_slice().len(),
        };
        let cred = profile::issue(&template, holder.public_jwk(), issuer, &mut OsRng::new()).unwrap();
        let now = iat.unix_seconds() + 600;
        let list = TrustList::new(vec![TrustedIssuer::pinned(ISSUER, vec![issuer.public_jwk().clone()])]).unwrap();
        let verifier = Verifier::from_trust_list(list).with_clock(Arc::new(ManualClock::new(now)));
        let question = AgeQuestion::Band(set.clone());

        let request = AgeRequest::with_nonce(question.clone(), AUD, nonce()).unwrap();
        let sets = request.answer_sets();
        let chosen = choose_claim_set(&sets, &held).unwrap();
        let shown: Vec<Threshold> = chosen.iter().map(|(t, _)| *t).collect();
        let vp = profile::present(&cred, &shown, holder, AUD, request.nonce(), now).unwrap();
        let outcome = verifier.verify(&vp, &request).unwrap();
        prop_assert!(outcome.at_least.is_none_or(|lo| u32::from(lo) <= age));
        prop_assert!(outcome.under.is_none_or(|hi| age < u32::from(hi)));
        // The same presentation again: the nonce is spent.
        prop_assert!(verifier.verify(&vp, &request).is_err());

        // Any other selection of the held predicates is refused.
        let mut pick: Vec<Threshold> = set
            .as_slice()
            .iter()
            .zip(&other)
            .filter(|(_, keep)| **keep)
            .map(|(t, _)| *t)
            .collect();
        pick.sort();
        let mut fitting = shown.clone();
        fitting.sort();
        if !pick.is_empty() && pick != fitting {
            let request = AgeRequest::with_nonce(question, AUD, nonce()).unwrap();
            let vp = profile::present(&cred, &pick, holder, AUD, request.nonce(), now).unwrap();
            prop_assert!(verifier.verify(&vp, &request).is_err(), "{:?} accepted for {:?}", pick, fitting);
        }
    }
}
