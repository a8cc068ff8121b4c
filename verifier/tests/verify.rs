//! Every rejection path of `Verifier::verify` (protocol.md §6), each with a presentation built
//! by ageband-core and then broken in exactly one way, plus the accepted answers.
#![allow(missing_docs, clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use ageband_core::age::{AgeQuestion, AssuranceLevel, Source, ThresholdSet};
use ageband_core::jws::{RingSigner, Signer};
use ageband_core::profile::VCT;
use ageband_verifier::{AgeRequest, MemoryNonceStore, VerifyError};
use common::*;
use serde_json::{Value, json};

fn band() -> AgeQuestion {
    AgeQuestion::Band(ThresholdSet::default_set())
}

#[track_caller]
fn rejects(fx: &Fx, presentation: &str, req: &AgeRequest, kind: &str) {
    match fx.verifier.verify(presentation, req) {
        Ok(o) => panic!("accepted ({o:?}), expected {kind}"),
        Err(e) => assert_eq!(e.kind(), kind, "{e}"),
    }
}

#[test]
fn accepts_the_fitting_answer_sets() {
    let fx = Fx::new();
    let cred = fx.credential(); // aged 14
    let req = fx.request(band());
    let o = fx
        .verifier
        .verify(&fx.present(&cred, &[13, 16], &req), &req)
        .unwrap();
    assert_eq!(
        (o.at_least, o.under, o.band_label().as_str()),
        (Some(13), Some(16), "13-15")
    );
    assert_eq!(
        (o.assurance, o.source, o.issuer.as_str()),
        (AssuranceLevel::Standard, Some(Source::OfficialId), ISS)
    );

    let req = fx.request(AgeQuestion::AtLeast(t(13)));
    let o = fx.verifier.verify(&fx.present(&cred, &[13], &req), &req).unwrap();
    assert_eq!((o.at_least, o.under), (Some(13), None));

    let req = fx.request(AgeQuestion::Under(t(16)));
    let o = fx.verifier.verify(&fx.present(&cred, &[16], &req), &req).unwrap();
    assert_eq!((o.at_least, o.under), (None, Some(16)));

    // The policy knob: "at least 16?" answered with age_over_16 = false is a verified "under 16".
    let req = fx.request(AgeQuestion::AtLeast(t(16))).accept_negative(true);
    let o = fx.verifier.verify(&fx.present(&cred, &[16], &req), &req).unwrap();
    assert_eq!((o.at_least, o.under), (None, Some(16)));
}

#[test]
fn negative_answer_without_the_knob_is_a_mismatch() {
    let fx = Fx::new();
    let req = fx.request(AgeQuestion::AtLeast(t(16)));
    rejects(
        &fx,
        &fx.present(&fx.credential(), &[16], &req),
        &req,
        "claim_set_mismatch",
    );
}

#[test]
fn partial_and_extra_answers() {
    let fx = Fx::new();
    let cred = fx.credential();
    let req = fx.request(band());
    // Half of the fitting set.
    rejects(&fx, &fx.present(&cred, &[13], &req), &req, "claim_set_mismatch");
    // All three predicates: a superset of the fitting set.
    let req = fx.request(band());
    rejects(
        &fx,
        &fx.present(&cred, &[13, 16, 18], &req),
        &req,
        "claim_set_mismatch",
    );
    // A predicate no answer set names.
    let req = fx.request(AgeQuestion::AtLeast(t(13)));
    rejects(&fx, &fx.present(&cred, &[13, 18], &req), &req, "over_disclosure");
    // An empty answer.
    let req = fx.request(AgeQuestion::AtLeast(t(13)));
    rejects(&fx, &fx.present(&cred, &[], &req), &req, "claim_set_mismatch");
}

#[test]
fn non_predicate_disclosure_is_unexpected() {
    let fx = Fx::new();
    let d1 = fx.disclosure("age_over_13", json!(true));
    let d2 = fx.disclosure("nickname", json!("kid"));
    let sd = fx.craft(&fx.header(), fx.payload(&[d1.clone(), d2.clone()]), &[d1, d2]);
    let req = fx.request(AgeQuestion::AtLeast(t(13)));
    rejects(&fx, &fx.bind(&sd, &req), &req, "unexpected_disclosure");
}

#[test]
fn nonce_is_single_use() {
    let fx = Fx::new();
    let req = fx.request(AgeQuestion::AtLeast(t(13)));
    let vp = fx.present(&fx.credential(), &[13], &req);
    assert!(fx.verifier.verify(&vp, &req).is_ok());
    rejects(&fx, &vp, &req, "nonce_replayed");
    // A fresh presentation for the same nonce is refused too.
    rejects(
        &fx,
        &fx.present(&fx.credential(), &[13], &req),
        &req,
        "nonce_replayed",
    );
    // The nonce is spent even when the answer set is wrong (protocol.md §6.5).
    let req = fx.request(AgeQuestion::AtLeast(t(16)));
    let vp = fx.present(&fx.credential(), &[16], &req);
    rejects(&fx, &vp, &req, "claim_set_mismatch");
    let ok_req = req.clone().accept_negative(true);
    rejects(&fx, &vp, &ok_req, "nonce_replayed");
}

#[test]
fn full_nonce_store_fails_closed() {
    let fx = Fx::new();
    let verifier = fx
        .verifier
        .clone()
        .with_nonce_store(Arc::new(MemoryNonceStore::new(1, 0)));
    let req = fx.request(AgeQuestion::AtLeast(t(13)));
    assert!(
        verifier
            .verify(&fx.present(&fx.credential(), &[13], &req), &req)
            .is_ok()
    );
    let req = fx.request(AgeQuestion::AtLeast(t(13)));
    let e = verifier
        .verify(&fx.present(&fx.credential(), &[13], &req), &req)
        .unwrap_err();
    assert_eq!(e, VerifyError::NonceStoreFull);
    assert!(e.is_server_fault());
}

#[test]
fn issuer_policy_and_request_minimum() {
    let fx = Fx::with_issuer(|i| i.min_assurance(AssuranceLevel::Enhanced));
    let req = fx.request(AgeQuestion::AtLeast(t(13)));
    let vp = fx.present(&fx.credential(), &[13], &req);
    let e = fx.verifier.verify(&vp, &req).unwrap_err();
    assert_eq!(
        e,
        VerifyError::AssuranceTooLow {
            required: AssuranceLevel::Enhanced,
            presented: AssuranceLevel::Standard
        }
    );

    let fx = Fx::new();
    let req = fx
        .request(AgeQuestion::AtLeast(t(13)))
        .min_assurance(AssuranceLevel::Strict);
    rejects(
        &fx,
        &fx.present(&fx.credential(), &[13], &req),
        &req,
        "assurance_too_low",
    );
    let req = fx
        .request(AgeQuestion::AtLeast(t(13)))
        .min_assurance(AssuranceLevel::Standard);
    assert!(
        fx.verifier
            .verify(&fx.present(&fx.credential(), &[13], &req), &req)
            .is_ok()
    );

    let fx = Fx::with_issuer(|i| i.accept_sources([Source::ThirdPartyCheck]));
    let req = fx.request(AgeQuestion::AtLeast(t(13)));
    let e = fx
        .verifier
        .verify(&fx.present(&fx.credential(), &[13], &req), &req)
        .unwrap_err();
    assert_eq!(
        e,
        VerifyError::SourceNotAccepted {
            presented: Source::OfficialId
        }
    );
    assert_eq!(e.kind(), "source_not_accepted");
}

#[test]
fn size_and_structure() {
    let fx = Fx::new();
    let req = fx.request(AgeQuestion::AtLeast(t(13)));
    let vp = fx.present(&fx.credential(), &[13], &req);
    rejects(&fx, &"a".repeat(16 * 1024 + 1), &req, "too_large");
    rejects(&fx, &vp.replace('~', "."), &req, "malformed");
    rejects(&fx, &vp.replacen('~', "~~", 1), &req, "malformed");
    rejects(&fx, &replace_segment(&vp, 0, "eyJ=+"), &req, "base64");
    rejects(
        &fx,
        &replace_segment(&vp, 0, &ageband_core::b64::encode("{not json")),
        &req,
        "json",
    );
    // A JWT of four segments.
    let (jwt, rest) = vp.split_once('~').unwrap();
    rejects(&fx, &format!("{jwt}.x~{rest}"), &req, "malformed");
}

#[test]
fn issuer_jwt_header() {
    let fx = Fx::new();
    let d = fx.disclosure("age_over_13", json!(true));
    let req = fx.request(AgeQuestion::AtLeast(t(13)));
    let with = |edit: &dyn Fn(&mut Value)| {
        let mut h = fx.header();
        edit(&mut h);
        fx.bind(
            &fx.craft(&h, fx.payload(std::slice::from_ref(&d)), std::slice::from_ref(&d)),
            &req,
        )
    };
    rejects(
        &fx,
        &with(&|h| h["alg"] = "ES384".into()),
        &req,
        "unsupported_alg",
    );
    rejects(&fx, &with(&|h| h["alg"] = "none".into()), &req, "unsupported_alg");
    rejects(
        &fx,
        &with(&|h| h["typ"] = "application/dc+sd-jwt".into()),
        &req,
        "wrong_typ",
    );
    rejects(&fx, &with(&|h| h["typ"] = "vc+sd-jwt".into()), &req, "wrong_typ");
    rejects(
        &fx,
        &with(&|h| h["jku"] = "https://evil.example/jwks".into()),
        &req,
        "forbidden_header",
    );
    rejects(
        &fx,
        &with(&|h| h["crit"] = json!(["x"])),
        &req,
        "forbidden_header",
    );
    let holder_jwk = fx.holder.public_jwk().to_json();
    rejects(
        &fx,
        &with(&|h| h["jwk"] = holder_jwk.clone()),
        &req,
        "forbidden_header",
    );
    rejects(&fx, &with(&|h| h["kid"] = "unknown".into()), &req, "unknown_key");
    rejects(
        &fx,
        &with(&|h| drop(h.as_object_mut().unwrap().remove("kid"))),
        &req,
        "unknown_key",
    );
}

#[test]
fn issuer_signature_and_trust() {
    let fx = Fx::new();
    let d = fx.disclosure("age_over_13", json!(true));
    let ds = std::slice::from_ref(&d);
    let req = fx.request(AgeQuestion::AtLeast(t(13)));
    // Signed by another key that claims the trusted kid.
    let rogue = RingSigner::generate().unwrap();
    rejects(
        &fx,
        &fx.bind(&fx.craft_with(&rogue, &fx.header(), fx.payload(ds), ds), &req),
        &req,
        "bad_signature",
    );
    // A payload changed after signing.
    let vp = fx.bind(&fx.craft(&fx.header(), fx.payload(ds), ds), &req);
    let mut p = fx.payload(ds);
    p.insert("assurance".into(), "strict".into());
    rejects(
        &fx,
        &replace_segment(&vp, 1, &enc(&Value::Object(p))),
        &req,
        "bad_signature",
    );
    // A signature of the wrong length.
    rejects(&fx, &replace_segment(&vp, 2, "AAAA"), &req, "bad_signature");
    // The trusted key signing for another issuer.
    let mut p = fx.payload(ds);
    p.insert("iss".into(), "https://other.example".into());
    rejects(
        &fx,
        &fx.bind(&fx.craft(&fx.header(), p, ds), &req),
        &req,
        "untrusted_issuer",
    );
}

#[test]
fn issuer_jwt_claims() {
    let fx = Fx::new();
    let d = fx.disclosure("age_over_13", json!(true));
    let ds = std::slice::from_ref(&d);
    let with = |edit: &dyn Fn(&mut serde_json::Map<String, Value>)| {
        let req = fx.request(AgeQuestion::AtLeast(t(13)));
        let mut p = fx.payload(ds);
        edit(&mut p);
        (fx.bind(&fx.craft(&fx.header(), p, ds), &req), req)
    };
    type Edit = Box<dyn Fn(&mut serde_json::Map<String, Value>)>;
    let cases: Vec<(&str, Edit)> = vec![
        (
            "wrong_vct",
            Box::new(|p| drop(p.insert("vct".into(), "urn:other:1".into()))),
        ),
        ("missing_claim", Box::new(|p| drop(p.remove("vct")))),
        ("missing_claim", Box::new(|p| drop(p.remove("iss")))),
        ("missing_claim", Box::new(|p| drop(p.remove("assurance")))),
        ("missing_claim", Box::new(|p| drop(p.remove("source")))),
        ("missing_claim", Box::new(|p| drop(p.remove("exp")))),
        (
            "invalid_claim",
            Box::new(|p| drop(p.insert("source".into(), "rumour".into()))),
        ),
        (
            "invalid_claim",
            Box::new(|p| drop(p.insert("assurance".into(), "total".into()))),
        ),
        (
            "invalid_claim",
            Box::new(|p| drop(p.insert("exp".into(), "tomorrow".into()))),
        ),
        (
            "invalid_claim",
            Box::new(|p| drop(p.insert("_sd".into(), json!("x")))),
        ),
        (
            "expired",
            Box::new(|p| drop(p.insert("exp".into(), json!(1_700_000_000u64)))),
        ),
        (
            "not_yet_valid",
            Box::new(|p| drop(p.insert("iat".into(), json!(4_000_000_000u64)))),
        ),
        (
            "unsupported_sd_alg",
            Box::new(|p| drop(p.insert("_sd_alg".into(), "sha-512".into()))),
        ),
        ("missing_cnf", Box::new(|p| drop(p.remove("cnf")))),
        (
            "missing_cnf",
            Box::new(|p| drop(p.insert("cnf".into(), json!({"jwk": {"kty": "OKP"}})))),
        ),
    ];
    for (kind, edit) in cases {
        let (vp, req) = with(&*edit);
        rejects(&fx, &vp, &req, kind);
    }
}

#[test]
fn expiry_follows_the_clock() {
    let fx = Fx::new();
    let cred = fx.credential(); // exp = today + 30 days
    let exp = fx.today.add_days(30).unix_seconds();
    // Within the 60 s skew it is still valid; the KB-JWT must be fresh at the new time.
    for (now, ok) in [(exp + 59, true), (exp + 60, false)] {
        fx.clock.set(now);
        let req = fx.request(AgeQuestion::AtLeast(t(13)));
        let vp =
            ageband_core::profile::present(&cred, &[t(13)], &fx.holder, req.audience(), req.nonce(), now)
                .unwrap();
        match fx.verifier.verify(&vp, &req) {
            Ok(_) => assert!(ok),
            Err(e) => assert!(!ok && e.kind() == "expired", "{e}"),
        }
    }
}

#[test]
fn disclosures() {
    let fx = Fx::new();
    let req = || fx.request(AgeQuestion::AtLeast(t(13)));
    let d13 = fx.disclosure("age_over_13", json!(true));
    let p = fx.payload(std::slice::from_ref(&d13));

    // Presented twice.
    let r = req();
    let sd = fx.craft(&fx.header(), p.clone(), &[d13.clone(), d13.clone()]);
    rejects(&fx, &fx.bind(&sd, &r), &r, "duplicate_digest");
    // A digest listed twice in _sd.
    let r = req();
    let mut dup = p.clone();
    dup["_sd"].as_array_mut().unwrap().push(json!(d13.digest()));
    rejects(
        &fx,
        &fx.bind(&fx.craft(&fx.header(), dup, std::slice::from_ref(&d13)), &r),
        &r,
        "duplicate_digest",
    );
    // Not referenced by the payload.
    let r = req();
    let stray = fx.disclosure("age_over_16", json!(false));
    rejects(
        &fx,
        &fx.bind(&fx.craft(&fx.header(), p.clone(), &[d13.clone(), stray]), &r),
        &r,
        "unreferenced_disclosure",
    );
    // Not a JSON array of the right shape.
    let r = req();
    let sd = fx.craft(&fx.header(), p.clone(), std::slice::from_ref(&d13));
    let bad = format!("{sd}{}~", ageband_core::b64::encode(r#"{"a":1}"#));
    rejects(&fx, &fx.bind(&bad, &r), &r, "malformed_disclosure");
    // A 2-element (array element) disclosure referenced from _sd.
    let r = req();
    let elem =
        ageband_core::sdjwt::Disclosure::element(&mut ageband_core::rng::OsRng::new(), json!(true)).unwrap();
    let sd = fx.craft_one(&elem);
    rejects(&fx, &fx.bind(&sd, &r), &r, "malformed_disclosure");
    // Reserved names and collisions.
    let r = req();
    let reserved = fx.disclosure("_sd", json!(["x"]));
    let sd = fx.craft_one(&reserved);
    rejects(&fx, &fx.bind(&sd, &r), &r, "reserved_claim_name");
    let r = req();
    let collide = fx.disclosure("assurance", json!("strict"));
    let sd = fx.craft_one(&collide);
    rejects(&fx, &fx.bind(&sd, &r), &r, "claim_name_collision");
    // A predicate with a non-boolean value.
    let r = req();
    let text = fx.disclosure("age_over_13", json!("yes"));
    let sd = fx.craft_one(&text);
    rejects(&fx, &fx.bind(&sd, &r), &r, "invalid_claim");
}

#[test]
fn key_binding() {
    let fx = Fx::new();
    let cred = fx.credential();
    let req = fx.request(AgeQuestion::AtLeast(t(13)));
    let sd = ageband_core::sdjwt::select_disclosures(&cred, |d| d.name() == Some("age_over_13")).unwrap();
    let kb_header = json!({"alg": "ES256", "typ": "kb+jwt"});
    let payload = fx.kb_payload(&sd, &req);
    let with = |edit: &dyn Fn(&mut Value, &mut Value)| {
        let (mut h, mut p) = (kb_header.clone(), payload.clone());
        edit(&mut h, &mut p);
        fx.bind_raw(&sd, &fx.holder, &h, &p)
    };
    // Sanity: the unmodified KB-JWT verifies, so each case below fails for its one change.
    let fresh = fx.request(AgeQuestion::AtLeast(t(13)));
    let ok = fx.bind_raw(&sd, &fx.holder, &kb_header, &fx.kb_payload(&sd, &fresh));
    assert!(fx.verifier.verify(&ok, &fresh).is_ok());

    rejects(&fx, &sd, &req, "kb_missing");
    rejects(&fx, &with(&|h, _| h["typ"] = "jwt".into()), &req, "wrong_typ");
    rejects(
        &fx,
        &with(&|h, _| h["alg"] = "ES512".into()),
        &req,
        "unsupported_alg",
    );
    rejects(
        &fx,
        &with(&|h, _| h["x5u"] = "https://x".into()),
        &req,
        "forbidden_header",
    );
    let other = RingSigner::generate().unwrap();
    rejects(
        &fx,
        &fx.bind_raw(&sd, &other, &kb_header, &payload),
        &req,
        "bad_signature",
    );
    rejects(
        &fx,
        &with(&|_, p| p["aud"] = "redirect_uri:https://evil.example/cb".into()),
        &req,
        "kb_audience",
    );
    rejects(&fx, &with(&|_, p| p["aud"] = json!([AUD])), &req, "kb_audience");
    rejects(
        &fx,
        &with(&|_, p| p["nonce"] = "another-nonce-0123456789".into()),
        &req,
        "kb_nonce",
    );
    rejects(&fx, &with(&|_, p| p["iat"] = json!(fx.now - 301)), &req, "kb_iat");
    rejects(&fx, &with(&|_, p| p["iat"] = json!(fx.now + 61)), &req, "kb_iat");
    rejects(
        &fx,
        &with(&|_, p| drop(p.as_object_mut().unwrap().remove("iat"))),
        &req,
        "kb_iat",
    );
    // sd_hash over other disclosures: the KB-JWT was made for {13}, then 16 is added.
    let vp = fx.present(&cred, &[13], &req);
    let d16 = cred
        .split('~')
        .find(|d| ageband_core::sdjwt::Disclosure::parse(d).is_ok_and(|d| d.name() == Some("age_over_16")));
    let (sd_part, kb) = vp.rsplit_once('~').unwrap();
    rejects(
        &fx,
        &format!("{sd_part}~{}~{kb}", d16.unwrap()),
        &req,
        "kb_sd_hash",
    );
    // None of the failures above spent the nonce: the holder never answered it.
    assert!(fx.verifier.verify(&fx.present(&cred, &[13], &req), &req).is_ok());
}

#[test]
fn other_vct_can_be_configured() {
    let fx = Fx::new();
    let verifier = fx.verifier.clone().with_vct("urn:example:age:2");
    let req = fx.request(AgeQuestion::AtLeast(t(13)));
    let e = verifier
        .verify(&fx.present(&fx.credential(), &[13], &req), &req)
        .unwrap_err();
    assert_eq!(e.kind(), "wrong_vct");
    assert_eq!(VCT, "urn:ageband:age:1");
}

#[test]
fn offline_request_accepts_any_consistent_answer() {
    let fx = Fx::new();
    let cred = fx.credential();
    let req = AgeRequest::any(AUD, "n").unwrap();
    let o = fx
        .verifier
        .verify(&fx.present(&cred, &[13, 16, 18], &req), &req)
        .unwrap();
    assert_eq!((o.at_least, o.under), (Some(13), Some(16)));
    let req = AgeRequest::any(AUD, "n2").unwrap();
    rejects(&fx, &fx.present(&cred, &[], &req), &req, "claim_set_mismatch");
    // Contradicting predicates (13 false but 16 true) cannot come from one honest issuer.
    let odd = fx.credential_from(&fx.template(&[(13, false), (16, true)]));
    let req = AgeRequest::any(AUD, "n3").unwrap();
    rejects(
        &fx,
        &fx.present(&odd, &[13, 16], &req),
        &req,
        "claim_set_mismatch",
    );
}
