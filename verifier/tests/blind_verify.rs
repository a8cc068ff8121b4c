//! `Verifier::verify_blind` (blind-profile.md §12.4): every check of the table in order, the
//! outcome, the shared spent set, the trust list's blind directories, the DCQL offer and the
//! `vp_token` forms; and the `PrivateToken` gate's library side (§12.5).
#![allow(missing_docs, clippy::unwrap_used)]

mod blind_common;

use std::sync::{Arc, Mutex};

use ageband_blind::profile::{BlindPresentation, Floor, MemorySpentSet};
use ageband_core::age::{AgeQuestion, AssuranceLevel, Source, Threshold, ThresholdSet};
use ageband_core::b64;
use ageband_verifier::openid4vp::{
    AuthorizationRequest, BlindOffer, VpAnswer, answer_from_vp_token, blind_vp_token, client_id_for,
};
use ageband_verifier::private_token::{GATE_NONCE_LIFETIME, Gate, GateError};
use ageband_verifier::{
    AgeRequest, ManualClock, Profile, TrustError, TrustList, TrustStore, TrustedIssuer, Verifier,
};
use blind_common::*;
use serde_json::json;

fn t(n: u8) -> Threshold {
    Threshold::new(n).unwrap()
}

fn req(q: AgeQuestion) -> AgeRequest {
    AgeRequest::with_nonce(q, AUDIENCE, NONCE).unwrap()
}

fn at_least(n: u8) -> AgeRequest {
    req(AgeQuestion::AtLeast(t(n)))
}

fn band() -> AgeRequest {
    req(AgeQuestion::Band(ThresholdSet::default_set()))
}

fn kind(v: &Verifier, tokens: &[&str], r: &AgeRequest) -> &'static str {
    v.verify_blind(tokens, r).unwrap_err().kind()
}

#[test]
fn one_token_and_a_band_verify() {
    let v = verifier();
    let o = v
        .verify_blind(&[&present(OVER18_L2, NONCE, AUDIENCE)], &at_least(18))
        .unwrap();
    assert_eq!((o.at_least, o.under), (Some(18), None));
    assert_eq!(o.assurance, AssuranceLevel::Basic);
    assert_eq!(o.source, None);
    assert_eq!(o.issuer, ISSUER);
    assert_eq!(o.profile, Profile::BlindToken);
    assert_eq!(o.band_label(), "18+");

    // A band in either order; the assurance is the lowest floor's.
    let nonce2 = "c2Vjb25kLW5vbmNlLW9mLXRoZS1wbGF0Zm9ybQ";
    let r = AgeRequest::with_nonce(AgeQuestion::Band(ThresholdSet::default_set()), AUDIENCE, nonce2).unwrap();
    let o = v
        .verify_blind(
            &[
                &present(UNDER16_L2, nonce2, AUDIENCE),
                &present(OVER13_L2, nonce2, AUDIENCE),
            ],
            &r,
        )
        .unwrap();
    assert_eq!(
        (o.at_least, o.under, o.band_label().as_str()),
        (Some(13), Some(16), "13-15")
    );
    let json = serde_json::to_value(&o).unwrap();
    assert_eq!(json["source"], serde_json::Value::Null);
    assert_eq!(json["profile"], "blind_token");

    // A floor-3 token answers a standard question and reports standard.
    let v = verifier();
    let o = v
        .verify_blind(
            &[&present(OVER18_L3, NONCE, AUDIENCE)],
            &at_least(18).min_assurance(AssuranceLevel::Standard),
        )
        .unwrap();
    assert_eq!(o.assurance, AssuranceLevel::Standard);
    // Under N with one token.
    let v = verifier();
    let o = v
        .verify_blind(
            &[&present(UNDER16_L2, NONCE, AUDIENCE)],
            &req(AgeQuestion::Under(t(16))),
        )
        .unwrap();
    assert_eq!(o.band_label(), "0-15");
}

#[test]
fn check_1_and_2_count_size_and_parsing() {
    let v = verifier();
    let p = present(OVER18_L2, NONCE, AUDIENCE);
    assert_eq!(kind(&v, &[], &at_least(18)), "malformed");
    assert_eq!(kind(&v, &[&p, &p, &p], &at_least(18)), "malformed");
    assert_eq!(kind(&v, &[&"a".repeat(1025)], &at_least(18)), "malformed");
    assert_eq!(kind(&v, &["not.a.presentation"], &at_least(18)), "malformed");
    // Token type 0x0001 and a short token, re-encoded.
    let parts: Vec<&str> = p.split('.').collect();
    let mut token = b64::decode(parts[0], 512).unwrap();
    token[1] = 1;
    let wrong_type = format!("{}.{}.{}", b64::encode(&token), parts[1], parts[2]);
    assert_eq!(kind(&v, &[&wrong_type], &at_least(18)), "wrong_token_type");
    token[1] = 2;
    token.pop();
    let short = format!("{}.{}.{}", b64::encode(&token), parts[1], parts[2]);
    assert_eq!(kind(&v, &[&short], &at_least(18)), "wrong_token_length");
    // None of these spent the nonce: the valid answer still verifies.
    v.verify_blind(&[&p], &at_least(18)).unwrap();
}

#[test]
fn check_3_issuer_by_challenge() {
    // A token of an issuer that is not trusted for blind tokens.
    let other = issue_with(&mut ageband_blind::SystemRng, OVER18_L2, ISSUER2)
        .present(NONCE.as_bytes(), AUDIENCE)
        .unwrap()
        .encode();
    assert_eq!(kind(&verifier(), &[&other], &at_least(18)), "wrong_challenge");
    // Trusted for SD-JWT only: still no blind trust.
    let sd_only = verifier_with(vec![TrustedIssuer::pinned(ISSUER, vec![])]);
    assert_eq!(
        kind(&sd_only, &[&present(OVER18_L2, NONCE, AUDIENCE)], &at_least(18)),
        "wrong_challenge"
    );
    // Two trusted issuers, one token each.
    let both = verifier_with(vec![blind_issuer(ISSUER), blind_issuer(ISSUER2)]);
    let o = both.verify_blind(&[&other], &at_least(18)).unwrap();
    assert_eq!(o.issuer, ISSUER2);
    let under = issue_with(&mut ageband_blind::SystemRng, UNDER16_L2, ISSUER2)
        .present(NONCE.as_bytes(), AUDIENCE)
        .unwrap()
        .encode();
    let both = verifier_with(vec![blind_issuer(ISSUER), blind_issuer(ISSUER2)]);
    assert_eq!(
        kind(&both, &[&present(OVER13_L2, NONCE, AUDIENCE), &under], &band()),
        "wrong_challenge"
    );
}

#[test]
fn check_4_keys_and_distinct_facts() {
    let v = verifier_with(vec![
        TrustedIssuer::pinned(ISSUER, vec![]).with_blind_directory(directory_without(&[OVER18_L2])),
    ]);
    assert_eq!(
        kind(&v, &[&present(OVER18_L2, NONCE, AUDIENCE)], &at_least(18)),
        "unknown_key"
    );
    let v = verifier();
    let a = present(OVER18_L2, NONCE, AUDIENCE);
    let b = present(OVER18_L3, NONCE, AUDIENCE);
    assert_eq!(kind(&v, &[&a, &b], &at_least(18)), "claim_set_mismatch");
    // The same token twice is the same fact twice.
    assert_eq!(kind(&v, &[&a, &a], &at_least(18)), "claim_set_mismatch");
}

#[test]
fn check_5_claim_sets() {
    let v = verifier();
    let o13 = present(OVER13_L2, NONCE, AUDIENCE);
    let u16 = present(UNDER16_L2, NONCE, AUDIENCE);
    assert_eq!(kind(&v, &[&o13, &u16], &at_least(13)), "over_disclosure");
    assert_eq!(kind(&v, &[&u16], &at_least(18)), "claim_set_mismatch");
    // One token of a two-fact set is not the set.
    assert_eq!(kind(&v, &[&o13], &band()), "claim_set_mismatch");
    // allow_negative: under 16 answers "at least 16?" with no.
    let neg = req(AgeQuestion::AtLeast(t(16))).accept_negative(true);
    let o = v.verify_blind(&[&u16], &neg).unwrap();
    assert_eq!(o.under, Some(16));
    // Levels above what a token stands for.
    let v = verifier();
    let p = present(OVER18_L3, NONCE, AUDIENCE);
    assert_eq!(
        kind(&v, &[&p], &at_least(18).min_assurance(AssuranceLevel::Enhanced)),
        "assurance_too_low"
    );
    let strict = verifier_with(vec![blind_issuer(ISSUER).min_assurance(AssuranceLevel::Enhanced)]);
    assert_eq!(kind(&strict, &[&p], &at_least(18)), "assurance_too_low");
    // Nothing was spent: the token still verifies.
    v.verify_blind(&[&p], &at_least(18)).unwrap();
}

#[test]
fn check_6_per_token_checks() {
    let v = verifier();
    let p = present(OVER18_L2, NONCE, AUDIENCE);
    assert_eq!(
        kind(&v, &[&p], &at_least(18).min_assurance(AssuranceLevel::Standard)),
        "floor_too_low"
    );
    let policy = verifier_with(vec![blind_issuer(ISSUER).min_assurance(AssuranceLevel::Standard)]);
    assert_eq!(kind(&policy, &[&p], &at_least(18)), "floor_too_low");
    let other_aud = present(OVER18_L2, NONCE, "https://elsewhere.example");
    assert_eq!(kind(&v, &[&other_aud], &at_least(18)), "bad_binding");
    let other_nonce = present(OVER18_L2, "b3RoZXItbm9uY2Utb2YtdGhlLXBsYXRmb3Jt", AUDIENCE);
    assert_eq!(kind(&v, &[&other_nonce], &at_least(18)), "bad_binding");
    // The key's month: before and after.
    for at in [month().not_before() - 1, month().not_after()] {
        let v = verifier().with_clock(Arc::new(ManualClock::new(at)));
        assert_eq!(kind(&v, &[&p], &at_least(18)), "key_not_live");
    }
    // Tampered authenticator.
    let parts: Vec<&str> = p.split('.').collect();
    let mut token = b64::decode(parts[0], 512).unwrap();
    token[200] ^= 1;
    let forged = format!("{}.{}.{}", b64::encode(&token), parts[1], parts[2]);
    assert_eq!(kind(&v, &[&forged], &at_least(18)), "bad_token_signature");
    // The verifier's own nonce out of the binding's range (over 64 bytes).
    let long = "n".repeat(65);
    let r = AgeRequest::with_nonce(AgeQuestion::AtLeast(t(18)), AUDIENCE, long.clone()).unwrap();
    assert_eq!(
        kind(&v, &[&present(OVER18_L2, NONCE, AUDIENCE)], &r),
        "invalid_query"
    );
    // After all that, the honest answer verifies once.
    v.verify_blind(&[&p], &at_least(18)).unwrap();
}

#[test]
fn spent_set_is_shared_and_staged() {
    let v = verifier();
    let p = present(OVER18_L2, NONCE, AUDIENCE);
    v.verify_blind(&[&p], &at_least(18)).unwrap();
    // A clone shares the spent set; a fresh nonce store does not help.
    let twin = v
        .clone()
        .with_nonce_store(Arc::new(ageband_verifier::MemoryNonceStore::default()));
    let e = twin.verify_blind(&[&p], &at_least(18)).unwrap_err();
    assert_eq!(e.kind(), "token_spent");
    assert!(!e.is_server_fault());

    // A band whose second token fails spends neither.
    let v = verifier();
    let o13 = present(OVER13_L2, NONCE, AUDIENCE);
    let bad = present(UNDER16_L2, NONCE, "https://elsewhere.example");
    assert_eq!(kind(&v, &[&o13, &bad], &band()), "bad_binding");
    let good = present(UNDER16_L2, NONCE, AUDIENCE);
    v.verify_blind(&[&o13, &good], &band()).unwrap();

    // A full spent set fails closed, as a server fault.
    let full = verifier().with_spent_set(Arc::new(Mutex::new(MemorySpentSet::new(0, 0))));
    let e = full
        .verify_blind(&[&present(OVER18_L2, NONCE, AUDIENCE)], &at_least(18))
        .unwrap_err();
    assert_eq!(e.kind(), "spent_set_full");
    assert!(e.is_server_fault());
}

#[test]
fn check_7_nonce_once() {
    let v = verifier();
    v.verify_blind(&[&present(OVER18_L2, NONCE, AUDIENCE)], &at_least(18))
        .unwrap();
    // A second answer (fresh token) to the same request.
    assert_eq!(
        kind(&v, &[&present(OVER18_L2, NONCE, AUDIENCE)], &at_least(18)),
        "nonce_replayed"
    );
}

#[test]
fn check_8_source_policy_by_floor() {
    let strict = || {
        verifier_with(vec![
            blind_issuer(ISSUER).accept_sources([Source::OfficialId, Source::ThirdPartyCheck]),
        ])
    };
    // Floor 3 stands for official_id or third_party_check only: accepted.
    strict()
        .verify_blind(&[&present(OVER18_L3, NONCE, AUDIENCE)], &at_least(18))
        .unwrap();
    // Floor 2 may stand for estimation or a guardian: the policy raises the floor asked for to
    // 3, so check 6 refuses it (before spending).
    let e = strict()
        .verify_blind(&[&present(OVER18_L2, NONCE, AUDIENCE)], &at_least(18))
        .unwrap_err();
    assert_eq!(e.kind(), "floor_too_low");
    // Without official_id even floor 3 is refused: no floor is acceptable.
    let v = verifier_with(vec![
        blind_issuer(ISSUER).accept_sources([Source::ThirdPartyCheck]),
    ]);
    assert_eq!(
        kind(&v, &[&present(OVER18_L3, NONCE, AUDIENCE)], &at_least(18)),
        "source_not_accepted"
    );
}

#[test]
fn lowest_acceptable_floor_by_policy() {
    use Source::{
        AgeEstimation as E, GuardianDeclared as G, OfficialId as O, SelfDeclared as S, ThirdPartyCheck as T,
    };
    let floor = |sources: &[Source]| {
        ageband_verifier::lowest_acceptable_floor(
            &blind_issuer(ISSUER).accept_sources(sources.iter().copied()),
        )
    };
    for (sources, want) in [
        (Source::ALL, Some(Floor::Level2)),
        (&[G, E, T, O][..], Some(Floor::Level2)),
        (&[E, T, O][..], Some(Floor::Level3)),
        (&[O, T][..], Some(Floor::Level3)),
        (&[S, O, T][..], Some(Floor::Level3)),
        (&[O][..], None),
        (&[T][..], None),
        (&[G, E][..], None),
        (&[S][..], None),
    ] {
        assert_eq!(floor(sources), want, "{sources:?}");
    }
    // The effective floor is the larger of the level's and the policy's.
    let strict = blind_issuer(ISSUER).accept_sources([O, T]);
    assert_eq!(
        ageband_verifier::effective_min_floor(&strict, Some(AssuranceLevel::Basic)),
        Some(Floor::Level3)
    );
    assert_eq!(
        ageband_verifier::effective_min_floor(&blind_issuer(ISSUER), Some(AssuranceLevel::Standard)),
        Some(Floor::Level3)
    );
    assert_eq!(
        ageband_verifier::effective_min_floor(&blind_issuer(ISSUER), None),
        Some(Floor::Level2)
    );
    assert_eq!(
        ageband_verifier::effective_min_floor(&strict, Some(AssuranceLevel::Enhanced)),
        None
    );
}

#[test]
fn trust_list_blind_rules_and_pinning() {
    assert_eq!(
        TrustList::new(vec![
            TrustedIssuer::pinned("not a url", vec![]).with_blind_directory(directory())
        ])
        .unwrap_err(),
        TrustError::BlindIssuerName
    );
    assert_eq!(
        TrustList::new(vec![
            blind_issuer("https://issuer.example"),
            blind_issuer("https://ISSUER.example:443/other"),
        ])
        .unwrap_err(),
        TrustError::DuplicateBlindName
    );
    assert_eq!(
        TrustList::new(vec![
            TrustedIssuer::fetched("http://issuer.example").fetch_blind_directory()
        ])
        .unwrap_err(),
        TrustError::NotHttps
    );
    // Fetched: nothing until a directory is set; then pinned across refetches.
    let store = TrustStore::new(
        TrustList::new(vec![
            TrustedIssuer::pinned(ISSUER, vec![]).fetch_blind_directory(),
        ])
        .unwrap(),
    );
    assert!(store.snapshot().issuer(ISSUER).unwrap().blind_issuer().is_none());
    assert!(store.snapshot().issuer(ISSUER).unwrap().fetches_blind_directory());
    store
        .set_blind_directory(ISSUER, directory_without(&[OVER13_L2]))
        .unwrap();
    // A slot appears: fine.
    store.set_blind_directory(ISSUER, directory()).unwrap();
    // A slot changes its key: refused, the old directory stays.
    let swapped = {
        use ageband_blind::profile::{Directory, DirectoryKey};
        let mut ks: Vec<DirectoryKey> = directory().keys().to_vec();
        let (f, fl) = (ks[0].fact(), ks[0].floor());
        ks[0] = DirectoryKey::new(f, fl, month(), keys()[OVER13_L2].public_key().clone()).unwrap();
        ks.remove(OVER13_L2);
        Directory::new("/blind-token-request", ks).unwrap()
    };
    assert_eq!(
        store.set_blind_directory(ISSUER, swapped),
        Err(TrustError::InconsistentDirectory)
    );
    assert_eq!(
        store
            .snapshot()
            .issuer(ISSUER)
            .unwrap()
            .blind_issuer()
            .unwrap()
            .directory(),
        &directory()
    );
    let sd_only = TrustStore::new(TrustList::new(vec![TrustedIssuer::pinned(ISSUER, vec![])]).unwrap());
    assert_eq!(
        sd_only.set_blind_directory(ISSUER, directory()),
        Err(TrustError::NoBlindDirectory)
    );
    // The verifier sees the store's current directory.
    let v = Verifier::new(Arc::new(store)).with_clock(Arc::new(ManualClock::new(now())));
    v.verify_blind(&[&present(OVER13_L2, NONCE, AUDIENCE)], &at_least(13))
        .unwrap();
}

#[test]
fn dcql_offer_follows_the_spec() {
    let trust = TrustList::new(vec![blind_issuer(ISSUER2), blind_issuer(ISSUER)]).unwrap();
    let uri = "https://verifier.example/v1/sessions/abc/response";
    let r = AgeRequest::new(AgeQuestion::Band(ThresholdSet::default_set()), client_id_for(uri)).unwrap();
    let offer = BlindOffer::for_request(&r, &trust).unwrap();
    assert_eq!(offer.issuers, [ISSUER, ISSUER2], "sorted");
    let ar = AuthorizationRequest::with_offers(&r, uri, "st", true, Some(offer)).unwrap();
    let q = &ar.dcql_query;
    assert_eq!(q["credentials"][0]["id"], "age");
    assert_eq!(
        q["credentials"][1],
        json!({ "id": "age_blind",
           "format": "ageband-private-token",
           "multiple": true,
           "meta": {"token_type": 2, "issuers": [ISSUER, ISSUER2], "min_floor": 2},
           "claims": [{"id": "age_under_13", "path": ["age_under_13"]},
                      {"id": "age_over_13",  "path": ["age_over_13"]},
                      {"id": "age_under_16", "path": ["age_under_16"]},
                      {"id": "age_over_16",  "path": ["age_over_16"]},
                      {"id": "age_under_18", "path": ["age_under_18"]},
                      {"id": "age_over_18",  "path": ["age_over_18"]}],
           "claim_sets": [["age_under_13"], ["age_over_13", "age_under_16"],
                          ["age_over_16", "age_under_18"], ["age_over_18"]] })
    );
    assert_eq!(
        q["credential_sets"],
        json!([{"options": [["age_blind"], ["age"]]}])
    );
    // Standard → floor 3; above → no offer; other thresholds → no offer; no blind issuer → none.
    let std = r.clone().min_assurance(AssuranceLevel::Standard);
    assert_eq!(
        BlindOffer::for_request(&std, &trust).unwrap().min_floor,
        Floor::Level3
    );
    let high = r.clone().min_assurance(AssuranceLevel::Enhanced);
    assert!(BlindOffer::for_request(&high, &trust).is_none());
    let t21 = AgeRequest::new(AgeQuestion::AtLeast(t(21)), client_id_for(uri)).unwrap();
    assert!(BlindOffer::for_request(&t21, &trust).is_none());
    let sd = TrustList::new(vec![TrustedIssuer::pinned(ISSUER, vec![])]).unwrap();
    assert!(BlindOffer::for_request(&r, &sd).is_none());
    // An issuer whose policy asks more than standard is left out.
    let mixed = TrustList::new(vec![
        blind_issuer(ISSUER),
        blind_issuer(ISSUER2).min_assurance(AssuranceLevel::Enhanced),
    ])
    .unwrap();
    assert_eq!(BlindOffer::for_request(&r, &mixed).unwrap().issuers, [ISSUER]);
    // Without an offer, the query is the SD-JWT one alone.
    let plain = AuthorizationRequest::new(&r, uri, "st").unwrap();
    assert!(plain.dcql_query.get("credential_sets").is_none());
    assert_eq!(plain.dcql_query["credentials"].as_array().unwrap().len(), 1);
    // Blind only.
    let offer = BlindOffer::for_request(&r, &trust).unwrap();
    let only = AuthorizationRequest::with_offers(&r, uri, "st", false, Some(offer)).unwrap();
    assert_eq!(only.dcql_query["credentials"][0]["id"], "age_blind");
    assert!(only.dcql_query.get("credential_sets").is_none());
}

#[test]
fn vp_token_forms() {
    let p = vec!["a.b.c".to_owned(), "d.e.f".to_owned()];
    assert_eq!(
        answer_from_vp_token(&blind_vp_token(&p)),
        Some(VpAnswer::Blind(p))
    );
    assert_eq!(
        answer_from_vp_token(r#"{"age":["x~y~"]}"#),
        Some(VpAnswer::SdJwt("x~y~".into()))
    );
    for bad in [
        r#"{"age_blind":[]}"#,
        r#"{"age_blind":"a.b.c"}"#,
        r#"{"age_blind":[1]}"#,
        r#"{"age_blind":["a"],"age":["b"]}"#,
        r#"{"age_blind":["a"],"age_blind":["b"]}"#,
        r#"{"blind":["a"]}"#,
    ] {
        assert_eq!(answer_from_vp_token(bad), None, "{bad}");
    }
}

fn gate(v: Verifier, q: AgeQuestion) -> Gate {
    Gate::new(v, ISSUER, q, AUDIENCE).unwrap()
}

/// The header a client builds from a challenge: the nonce from it, a fresh token of `slot`.
fn answer(challenge: &str, slot: usize) -> String {
    let nonce = challenge
        .split("nonce=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let p: BlindPresentation = issue(slot).present(nonce.as_bytes(), AUDIENCE).unwrap();
    format!("{}, nonce=\"{nonce}\"", p.to_private_token_header())
}

#[test]
fn gate_challenges_and_verifies() {
    let v = verifier();
    let g = gate(v.clone(), AgeQuestion::AtLeast(t(18)));
    let c = g.challenge().unwrap();
    assert!(c.starts_with("PrivateToken challenge=\""), "{c}");
    let challenge = ageband_blind::profile::TokenChallenge::for_issuer_url(ISSUER).unwrap();
    assert!(c.contains(&format!("challenge=\"{}\"", b64::encode(challenge.encode()))));
    let spki = b64::encode(keys()[OVER18_L2].public_key().to_spki());
    assert!(c.contains(&format!("token-key=\"{spki}\"")));
    assert!(c.contains("ageband-fact=\"age_over_18\", ageband-min-floor=\"2\", nonce=\""));
    let nonce = c.split("nonce=\"").nth(1).unwrap().trim_end_matches('"');
    assert_eq!(nonce.len(), 54);
    assert_ne!(g.challenge().unwrap(), c, "fresh nonce per challenge");

    let h = answer(&c, OVER18_L2);
    let o = g.verify_authorization(&h).unwrap();
    assert_eq!((o.at_least, o.profile), (Some(18), Profile::BlindToken));
    // Replay of the same header: the token is spent.
    assert_eq!(g.verify_authorization(&h).unwrap_err().kind(), "token_spent");
    // Another token on a used nonce.
    assert_eq!(
        g.verify_authorization(&answer(&c, OVER18_L2)).unwrap_err().kind(),
        "nonce_replayed"
    );
    // A nonce of another gate (other secret), a tampered one, none at all.
    let other = gate(v.clone(), AgeQuestion::AtLeast(t(18)));
    let foreign = answer(&other.challenge().unwrap(), OVER18_L2);
    assert_eq!(
        g.verify_authorization(&foreign).unwrap_err().kind(),
        "invalid_nonce"
    );
    let no_nonce = issue(OVER18_L2)
        .present(NONCE.as_bytes(), AUDIENCE)
        .unwrap()
        .to_private_token_header();
    assert_eq!(
        g.verify_authorization(&no_nonce).unwrap_err().kind(),
        "invalid_nonce"
    );
    assert_eq!(
        g.verify_authorization("PrivateToken x").unwrap_err().kind(),
        "malformed"
    );
    // Wrong fact for the gate's question.
    let c = g.challenge().unwrap();
    assert_eq!(
        g.verify_authorization(&answer(&c, UNDER16_L2))
            .unwrap_err()
            .kind(),
        "claim_set_mismatch"
    );
}

#[test]
fn gate_nonce_expires_and_gate_rules() {
    let clock = Arc::new(ManualClock::new(now()));
    let v = verifier().with_clock(clock.clone());
    let g = gate(v.clone(), AgeQuestion::Under(t(16)));
    let c = g.challenge().unwrap();
    assert!(c.contains("ageband-fact=\"age_under_16\""));
    let h = answer(&c, UNDER16_L2);
    clock.set(now() + GATE_NONCE_LIFETIME);
    assert_eq!(g.verify_authorization(&h).unwrap_err().kind(), "invalid_nonce");
    clock.set(now() + GATE_NONCE_LIFETIME - 1);
    g.verify_authorization(&h).unwrap();

    assert_eq!(
        Gate::new(
            v.clone(),
            ISSUER,
            AgeQuestion::Band(ThresholdSet::default_set()),
            AUDIENCE
        )
        .unwrap_err(),
        GateError::NotOneFact
    );
    assert_eq!(
        Gate::new(v.clone(), ISSUER, AgeQuestion::AtLeast(t(21)), AUDIENCE).unwrap_err(),
        GateError::NotOneFact
    );
    assert_eq!(
        Gate::new(v.clone(), ISSUER2, AgeQuestion::AtLeast(t(18)), AUDIENCE).unwrap_err(),
        GateError::UntrustedIssuer
    );
    // No floor-3 key for age_over_13 in the fixture directory.
    let g = gate(v.clone(), AgeQuestion::AtLeast(t(13))).min_assurance(AssuranceLevel::Standard);
    assert_eq!(g.challenge().unwrap_err(), GateError::NoLiveKey);
    let g = gate(v, AgeQuestion::AtLeast(t(18))).min_assurance(AssuranceLevel::Enhanced);
    assert_eq!(g.challenge().unwrap_err(), GateError::LevelUnreachable);
}

// Review findings (blind-token verifier): each test below failed before its fix.

const NONCE2: &str = "bm9uY2UtdHdvLXR3by10d28tdHdv";
const NONCE3: &str = "bm9uY2UtdGhyZWUtdGhyZWUtdGhy";

fn req_n(q: AgeQuestion, nonce: &str) -> AgeRequest {
    AgeRequest::with_nonce(q, AUDIENCE, nonce).unwrap()
}

fn shared_spent() -> Arc<Mutex<MemorySpentSet>> {
    Arc::new(Mutex::new(MemorySpentSet::default()))
}

#[test]
fn review_source_policy_raises_the_floor_before_spending() {
    let documents_only =
        || blind_issuer(ISSUER).accept_sources([Source::OfficialId, Source::ThirdPartyCheck]);
    let spent = shared_spent();
    let strict = verifier_with(vec![documents_only()]).with_spent_set(spent.clone());
    let r = at_least(18);
    // The offer asks for floor 3: a floor-2 token may stand for estimation or a guardian.
    assert_eq!(
        BlindOffer::for_request(&r, &strict.trust().snapshot())
            .unwrap()
            .min_floor,
        Floor::Level3
    );
    // With a lax issuer beside it, the offer still asks for the larger floor.
    let mixed = TrustList::new(vec![blind_issuer(ISSUER2), documents_only()]).unwrap();
    let offer = BlindOffer::for_request(&r, &mixed).unwrap();
    assert_eq!(
        (offer.issuers, offer.min_floor),
        (vec![ISSUER.to_owned(), ISSUER2.to_owned()], Floor::Level3)
    );
    // A floor-2 token is refused at check 6: nothing spent, the nonce not consumed.
    let t2 = || issue_with(&mut Drbg::new("review floor 2"), OVER18_L2, ISSUER);
    let p2 = t2().present(NONCE.as_bytes(), AUDIENCE).unwrap().encode();
    assert_eq!(kind(&strict, &[&p2], &r), "floor_too_low");
    assert!(spent.lock().unwrap().is_empty(), "refused token was spent");
    strict
        .verify_blind(&[&present(OVER18_L3, NONCE, AUDIENCE)], &r)
        .unwrap();
    // The floor-2 token is still good where every source is accepted (same spent set).
    let lax = verifier().with_spent_set(spent.clone());
    let p2 = t2().present(NONCE2.as_bytes(), AUDIENCE).unwrap().encode();
    lax.verify_blind(&[&p2], &req_n(AgeQuestion::AtLeast(t(18)), NONCE2))
        .unwrap();
    // The gate asks for floor 3, advertises the floor-3 key and refuses floor 2 as too low
    // without consuming its nonce.
    let g = gate(strict.clone(), AgeQuestion::AtLeast(t(18)));
    let c = g.challenge().unwrap();
    assert!(c.contains("ageband-min-floor=\"3\""), "{c}");
    let spki = b64::encode(keys()[OVER18_L3].public_key().to_spki());
    assert!(c.contains(&format!("token-key=\"{spki}\"")));
    assert_eq!(
        g.verify_authorization(&answer(&c, OVER18_L2)).unwrap_err().kind(),
        "floor_too_low"
    );
    g.verify_authorization(&answer(&c, OVER18_L3)).unwrap();
}

#[test]
fn review_no_acceptable_floor_refuses_before_spending() {
    // Floor 3 may stand for official_id, which this policy refuses: no token is acceptable.
    let spent = shared_spent();
    let v = verifier_with(vec![
        blind_issuer(ISSUER).accept_sources([Source::ThirdPartyCheck]),
        blind_issuer(ISSUER2),
    ])
    .with_spent_set(spent.clone());
    let r = at_least(18);
    assert_eq!(
        BlindOffer::for_request(&r, &v.trust().snapshot())
            .unwrap()
            .issuers,
        [ISSUER2],
        "the issuer is not offered"
    );
    assert_eq!(
        kind(&v, &[&present(OVER18_L3, NONCE, AUDIENCE)], &r),
        "source_not_accepted"
    );
    assert!(spent.lock().unwrap().is_empty(), "refused token was spent");
    // The nonce was not consumed: a token of the other issuer answers the same request.
    let other = issue_with(&mut ageband_blind::SystemRng, OVER18_L2, ISSUER2)
        .present(NONCE.as_bytes(), AUDIENCE)
        .unwrap()
        .encode();
    v.verify_blind(&[&other], &r).unwrap();
    // The gate builds no challenge for that issuer.
    let g = gate(v, AgeQuestion::AtLeast(t(18)));
    assert_eq!(g.challenge().unwrap_err(), GateError::UntrustedIssuer);
}

#[test]
fn review_band_spends_all_or_none() {
    let spent = shared_spent();
    let v = verifier().with_spent_set(spent.clone());
    let a = || issue_with(&mut Drbg::new("review a"), OVER13_L2, ISSUER);
    let b = || issue_with(&mut Drbg::new("review b"), UNDER16_L2, ISSUER);
    let band = |n| req_n(AgeQuestion::Band(ThresholdSet::default_set()), n);
    // B is spent alone.
    let pb = b().present(NONCE.as_bytes(), AUDIENCE).unwrap().encode();
    v.verify_blind(&[&pb], &req_n(AgeQuestion::Under(t(16)), NONCE))
        .unwrap();
    // A + B: B is spent, so the answer is refused and A is not burned.
    let pa = a().present(NONCE2.as_bytes(), AUDIENCE).unwrap().encode();
    let pb = b().present(NONCE2.as_bytes(), AUDIENCE).unwrap().encode();
    assert_eq!(kind(&v, &[&pa, &pb], &band(NONCE2)), "token_spent");
    assert_eq!(spent.lock().unwrap().len(), 1);
    // A + a fresh C: a valid band answer.
    let pa = a().present(NONCE3.as_bytes(), AUDIENCE).unwrap().encode();
    let pc = present(UNDER16_L2, NONCE3, AUDIENCE);
    let o = v.verify_blind(&[&pa, &pc], &band(NONCE3)).unwrap();
    assert_eq!((o.at_least, o.under), (Some(13), Some(16)));

    // Room for one more entry only: a band is refused whole, as a server fault.
    let small = Arc::new(Mutex::new(MemorySpentSet::new(1, 16)));
    let v = verifier().with_spent_set(small.clone());
    let pa = a().present(NONCE.as_bytes(), AUDIENCE).unwrap().encode();
    let e = v
        .verify_blind(&[&pa, &present(UNDER16_L2, NONCE, AUDIENCE)], &band(NONCE))
        .unwrap_err();
    assert_eq!(e.kind(), "spent_set_full");
    assert!(small.lock().unwrap().is_empty(), "first token burned");
    // A alone still fits.
    let pa = a().present(NONCE2.as_bytes(), AUDIENCE).unwrap().encode();
    v.verify_blind(&[&pa], &req_n(AgeQuestion::AtLeast(t(13)), NONCE2))
        .unwrap();
}

/// The fixture directory with slot `OVER18_L2` dropped and, when `key` is given, put back
/// with the key of fixture slot `key` (whose own slot is dropped too: one key per slot).
fn directory_with_over18_l2_key(key: Option<usize>) -> ageband_blind::profile::Directory {
    use ageband_blind::profile::{Directory, DirectoryKey};
    let mut skip = vec![OVER18_L2];
    skip.extend(key);
    let mut ks: Vec<DirectoryKey> = directory_without(&skip).keys().to_vec();
    if let Some(k) = key {
        let (fact, floor) = slots()[OVER18_L2];
        ks.push(DirectoryKey::new(fact, floor, month(), keys()[k].public_key().clone()).unwrap());
    }
    Directory::new("https://issuer.example/blind-token-request", ks).unwrap()
}

#[test]
fn review_pins_outlive_the_directory_in_use() {
    let active = |s: &TrustStore| {
        s.snapshot()
            .issuer(ISSUER)
            .unwrap()
            .blind_issuer()
            .unwrap()
            .directory()
            .clone()
    };
    let set = |s: &TrustStore, d| s.set_blind_directory_at(ISSUER, d, now());
    // Fetched: D1 (slot S: K1) → D2 (no S) → D3 (S: K2) is refused; D2 stays.
    let store = TrustStore::new(
        TrustList::new(vec![TrustedIssuer::fetched(ISSUER).fetch_blind_directory()]).unwrap(),
    );
    set(&store, directory()).unwrap();
    let d2 = directory_with_over18_l2_key(None);
    set(&store, d2.clone()).unwrap();
    assert_eq!(
        set(&store, directory_with_over18_l2_key(Some(UNDER16_L2))),
        Err(TrustError::InconsistentDirectory)
    );
    assert_eq!(active(&store), d2);
    // S may come back with its own key.
    set(&store, directory()).unwrap();
    // The same through the system-time entry point (the fixture month has not ended yet).
    let store = TrustStore::new(
        TrustList::new(vec![TrustedIssuer::fetched(ISSUER).fetch_blind_directory()]).unwrap(),
    );
    store.set_blind_directory(ISSUER, directory()).unwrap();
    store.set_blind_directory(ISSUER, d2.clone()).unwrap();
    if std::time::SystemTime::now()
        < std::time::UNIX_EPOCH + std::time::Duration::from_secs(month().not_after())
    {
        assert_eq!(
            store.set_blind_directory(ISSUER, directory_with_over18_l2_key(Some(UNDER16_L2))),
            Err(TrustError::InconsistentDirectory)
        );
    }

    // A configured directory is replaced only consistently, directly or after a gap.
    let store = TrustStore::new(TrustList::new(vec![blind_issuer(ISSUER)]).unwrap());
    assert_eq!(
        set(&store, directory_with_over18_l2_key(Some(UNDER16_L2))),
        Err(TrustError::InconsistentDirectory)
    );
    assert_eq!(active(&store), directory());
    set(&store, d2.clone()).unwrap();
    assert_eq!(
        set(&store, directory_with_over18_l2_key(Some(UNDER16_L2))),
        Err(TrustError::InconsistentDirectory)
    );
    assert_eq!(active(&store), d2);
    // The same rule through the list itself.
    let list = TrustList::new(vec![blind_issuer(ISSUER)]).unwrap();
    let list = list.with_blind_directory_at(ISSUER, d2, now()).unwrap();
    assert_eq!(
        list.with_blind_directory_at(ISSUER, directory_with_over18_l2_key(Some(UNDER16_L2)), now())
            .unwrap_err(),
        TrustError::InconsistentDirectory
    );
}

/// A directory of the fixture keys: `(slot, month, key)` gives fixture slot `slot`'s fact and
/// floor in `month` the key of fixture slot `key`.
fn directory_of(entries: &[(usize, &str, usize)]) -> ageband_blind::profile::Directory {
    use ageband_blind::profile::{Directory, DirectoryKey, Month};
    let ks = entries
        .iter()
        .map(|&(slot, m, key)| {
            let (fact, floor) = slots()[slot];
            DirectoryKey::new(
                fact,
                floor,
                Month::parse(m).unwrap(),
                keys()[key].public_key().clone(),
            )
            .unwrap()
        })
        .collect();
    Directory::new("https://issuer.example/blind-token-request", ks).unwrap()
}

#[test]
fn review_pins_end_with_their_month_and_keys_serve_one_slot() {
    use ageband_blind::profile::Month;
    let store = TrustStore::new(
        TrustList::new(vec![TrustedIssuer::fetched(ISSUER).fetch_blind_directory()]).unwrap(),
    );
    // D1: S in 2026-12 and T in 2027-01; D2 lists neither.
    store
        .set_blind_directory_at(
            ISSUER,
            directory_of(&[(OVER18_L2, "2026-12", 0), (OVER18_L3, "2027-01", 1)]),
            now(),
        )
        .unwrap();
    store
        .set_blind_directory_at(ISSUER, directory_of(&[(OVER13_L2, "2027-01", 2)]), now())
        .unwrap();
    let december_ends = month().not_after();
    let new_s = || directory_of(&[(OVER18_L2, "2026-12", 3)]);
    let new_t = || directory_of(&[(OVER18_L3, "2027-01", 3)]);
    // Until 2026-12 has ended, S keeps its key.
    assert_eq!(
        store.set_blind_directory_at(ISSUER, new_s(), december_ends - 1),
        Err(TrustError::InconsistentDirectory)
    );
    // Then its pin is dropped; T's stays until 2027-01 ends.
    assert_eq!(
        store.set_blind_directory_at(ISSUER, new_t(), december_ends),
        Err(TrustError::InconsistentDirectory)
    );
    store
        .set_blind_directory_at(ISSUER, new_s(), december_ends)
        .unwrap();
    let january_ends = Month::parse("2027-01").unwrap().not_after();
    store
        .set_blind_directory_at(ISSUER, new_t(), january_ends)
        .unwrap();

    // A pinned key may not come back for another slot, even after its own slot was left out.
    let store = TrustStore::new(
        TrustList::new(vec![TrustedIssuer::fetched(ISSUER).fetch_blind_directory()]).unwrap(),
    );
    let set = |d| store.set_blind_directory_at(ISSUER, d, now());
    set(directory_of(&[(OVER18_L2, "2026-12", 0)])).unwrap();
    set(directory_of(&[(OVER13_L2, "2026-12", 2)])).unwrap();
    assert_eq!(
        set(directory_of(&[(OVER18_L3, "2026-12", 0)])),
        Err(TrustError::InconsistentDirectory)
    );
    assert_eq!(
        set(directory_of(&[(OVER18_L2, "2027-01", 0)])),
        Err(TrustError::InconsistentDirectory),
        "nor for another month"
    );
}
