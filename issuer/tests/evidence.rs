//! Each evidence kind: accepted, and each way of being rejected (protocol.md §7.1).
#![allow(
    clippy::unwrap_used,
    clippy::type_complexity,
    clippy::cloned_ref_to_slice_refs,
    missing_docs
)]

mod common;

use ageband_core::age::{AssuranceLevel, Date, Source};
use ageband_core::jws::RingSigner;
use ageband_core::profile;
use ageband_core::sdjwt::VerifyError;
use ageband_issuer::evidence::BirthDateProblem;
use ageband_issuer::external::TokenProblem;
use ageband_issuer::{
    Evidence, EvidenceError, IdentityProvider, IssuerConfig, JwksSource, SecretString, TrustedIssuer,
};
use common::*;
use jwt_simple::prelude::*;
use serde_json::{Value, json};

fn err(h: &Harness, ev: &Evidence) -> EvidenceError {
    h.issuer.accept_evidence(ev).unwrap_err()
}

fn today() -> Date {
    Date::from_unix_seconds(t0())
}

#[test]
fn self_declaration_accepted_and_checked() {
    let h = harness();
    let issued = h.issue(&self_ev("2010-06-15"), 2);
    let c = h.verify(&issued[0].0, &issued[0].1);
    assert_eq!(predicates(&c), vec![(13, true), (16, true), (18, false)]);
    assert_eq!(
        (c.assurance, c.source),
        (AssuranceLevel::Asserted, Source::SelfDeclared)
    );
    assert_eq!(c.issued_at, today().unix_seconds());
    assert_eq!(c.expires_at, today().add_days(90).unix_seconds());
    assert_eq!(c.issuer, ISSUER_URL);

    for (bad, want) in [
        ("2010", BirthDateProblem::Malformed),
        ("2010-06", BirthDateProblem::Malformed),
        ("2010-02-30", BirthDateProblem::Malformed),
        ("0000-06-15", BirthDateProblem::Malformed),
        ("15/06/2010", BirthDateProblem::Malformed),
        ("2026-11-30", BirthDateProblem::Future),
        ("1870-01-01", BirthDateProblem::TooOld),
    ] {
        assert!(
            matches!(err(&h, &self_ev(bad)), EvidenceError::BirthDate(p) if p == want),
            "{bad}"
        );
    }
}

#[test]
fn self_declaration_can_be_switched_off() {
    let h = harness_with(|c| c.self_declaration = false);
    assert!(matches!(
        err(&h, &self_ev("2010-06-15")),
        EvidenceError::Disabled { kind: "self" }
    ));
}

#[test]
fn no_derivable_predicate_is_refused() {
    // The only threshold turns true in 3 days: it is left out, nothing remains (§5.2).
    let h = harness_with(|c| c.thresholds = vec![13]);
    let birth = today().add_days(3);
    let birth = format!("{:04}-{:02}-{:02}", birth.year() - 13, birth.month(), birth.day());
    assert!(matches!(err(&h, &self_ev(&birth)), EvidenceError::NoPredicate));
}

#[test]
fn oidc_id_token_accepted_with_nonce() {
    let h = harness();
    let n = h.nonce();
    let issued = h.issue(
        &oidc_ev(h.id_token(json!({"nonce": n, "birthdate": "2012-03-01"}))),
        1,
    );
    let c = h.verify(&issued[0].0, &issued[0].1);
    assert_eq!(
        (c.assurance, c.source),
        (AssuranceLevel::Enhanced, Source::OfficialId)
    );
    assert_eq!(predicates(&c), vec![(13, true), (16, false), (18, false)]);
    // The same nonce again: consumed.
    let again = oidc_ev(h.id_token(json!({"nonce": n})));
    assert!(matches!(err(&h, &again), EvidenceError::Nonce));
}

#[test]
fn oidc_id_token_rejections() {
    let h = harness();
    let other = RingSigner::generate().unwrap();
    let forged = {
        let claims = json!({"iss": IDP, "aud": IDP_AUD, "sub": "u", "iat": h.now(), "exp": h.now() + 600,
                            "nonce": h.nonce(), "birthdate": "1990-01-01"});
        ageband_core::jws::sign_compact(
            &other,
            &json!({"alg": "ES256", "typ": "JWT", "kid": "idp-1"}),
            &claims,
        )
        .unwrap()
    };
    let cases: Vec<(Value, fn(&EvidenceError) -> bool)> = vec![
        (json!({"iss": "https://evil.example"}), |e| {
            matches!(e, EvidenceError::Token(TokenProblem::UntrustedProvider))
        }),
        (json!({"aud": "someone-else"}), |e| {
            matches!(e, EvidenceError::Token(TokenProblem::WrongAudience))
        }),
        (json!({"exp": t0() - 120}), |e| {
            matches!(e, EvidenceError::Token(TokenProblem::Expired))
        }),
        (json!({"exp": null}), |e| {
            matches!(e, EvidenceError::Token(TokenProblem::MissingClaim("exp")))
        }),
        (json!({"iat": t0() + 3600}), |e| {
            matches!(e, EvidenceError::Token(TokenProblem::NotYetValid))
        }),
        (json!({"nonce": "never-issued"}), |e| {
            matches!(e, EvidenceError::Nonce)
        }),
        (json!({}), |e| matches!(e, EvidenceError::Nonce)), // required nonce missing
        (json!({"birthdate": "1990"}), |e| {
            matches!(e, EvidenceError::BirthDate(BirthDateProblem::Malformed))
        }),
        (json!({"birthdate": "0000-01-01"}), |e| {
            matches!(e, EvidenceError::BirthDate(BirthDateProblem::Malformed))
        }),
        (json!({"birthdate": "1990-1-1"}), |e| {
            matches!(e, EvidenceError::BirthDate(BirthDateProblem::Malformed))
        }),
        (json!({"birthdate": "2027-01-01"}), |e| {
            matches!(e, EvidenceError::BirthDate(BirthDateProblem::Future))
        }),
        (json!({"birthdate": "1850-01-01"}), |e| {
            matches!(e, EvidenceError::BirthDate(BirthDateProblem::TooOld))
        }),
        (json!({"birthdate": null}), |e| {
            matches!(e, EvidenceError::Claim { name: "birthdate" })
        }),
        (json!({"sub": null}), |e| {
            matches!(e, EvidenceError::Claim { name: "sub" })
        }),
    ];
    for (extra, want) in cases {
        let mut claims = extra.clone();
        if extra.as_object().unwrap().is_empty() {
            claims = json!({"nonce": null}); // the required nonce is missing
        } else if claims.get("nonce").is_none() {
            claims["nonce"] = h.nonce().into();
        }
        let e = h
            .issuer
            .accept_evidence(&oidc_ev(h.id_token(claims)))
            .map(|_| ())
            .expect_err(&extra.to_string());
        assert!(want(&e), "{extra}: {e:?}");
    }
    assert!(matches!(
        err(&h, &oidc_ev(forged)),
        EvidenceError::Token(TokenProblem::BadSignature)
    ));
    let none_alg = format!(
        "{}.{}.",
        ageband_core::b64::encode(r#"{"alg":"none"}"#),
        ageband_core::b64::encode(json!({"iss": IDP}).to_string())
    );
    assert!(matches!(
        err(&h, &oidc_ev(none_alg)),
        EvidenceError::Token(TokenProblem::Algorithm | TokenProblem::Malformed)
    ));
    assert!(matches!(
        err(&h, &oidc_ev("not.a.jwt".into())),
        EvidenceError::Token(TokenProblem::Malformed)
    ));
}

#[test]
fn oidc_rs256_and_eddsa_providers() {
    let rsa = RS256KeyPair::generate(2048).unwrap();
    let ed = Ed25519KeyPair::generate();
    let comps = rsa.public_key().to_components();
    let rsa_jwks = json!({"keys": [{"kty": "RSA", "n": ageband_core::b64::encode(&comps.n), "e": ageband_core::b64::encode(&comps.e), "alg": "RS256"}]});
    let ed_jwks = json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": ageband_core::b64::encode(ed.public_key().to_bytes())}]});
    let h = harness_with(|c| {
        let mut p = IdentityProvider::new("https://bank.example", "ageband", JwksSource::Inline(rsa_jwks));
        p.require_nonce = false;
        p.level = AssuranceLevel::Strict;
        c.identity_providers.push(p);
        let mut p = IdentityProvider::new("https://ed.example", "ageband", JwksSource::Inline(ed_jwks));
        p.require_nonce = false;
        c.identity_providers.push(p);
    });
    let claims = |iss: &str| {
        let mut c = Claims::with_custom_claims(json!({"birthdate": "2000-02-29"}), Duration::from_secs(600))
            .with_issuer(iss)
            .with_audience("ageband")
            .with_subject("s");
        c.issued_at = Some(Duration::from_secs(t0()));
        c.expires_at = Some(Duration::from_secs(t0() + 600));
        c.invalid_before = None;
        c
    };
    let rs = rsa.sign(claims("https://bank.example")).unwrap();
    let offer = h.issuer.accept_evidence(&oidc_ev(rs)).unwrap();
    assert_eq!(offer.expires_in, 300);
    let eds = ed.sign(claims("https://ed.example")).unwrap();
    h.issuer.accept_evidence(&oidc_ev(eds)).unwrap();
    // An RSA token presented as coming from the Ed25519 provider: wrong algorithm.
    let wrong = rsa.sign(claims("https://ed.example")).unwrap();
    assert!(matches!(
        err(&h, &oidc_ev(wrong)),
        EvidenceError::Token(TokenProblem::Algorithm)
    ));
    // A nonce the issuer never handed out is refused even where none is required.
    let mut c = claims("https://bank.example");
    c.nonce = Some("made-up".into());
    assert!(matches!(
        err(&h, &oidc_ev(rsa.sign(c).unwrap())),
        EvidenceError::Nonce
    ));
}

#[test]
fn quota_per_subject() {
    let h = harness();
    for _ in 0..3 {
        h.issuer
            .accept_evidence(&oidc_ev(h.id_token(json!({"nonce": h.nonce()}))))
            .unwrap();
    }
    let fourth = oidc_ev(h.id_token(json!({"nonce": h.nonce()})));
    assert!(matches!(err(&h, &fourth), EvidenceError::QuotaExceeded));
    // Another subject is unaffected; the period ends after 30 days.
    h.issuer
        .accept_evidence(&oidc_ev(h.id_token(json!({"nonce": h.nonce(), "sub": "user-2"}))))
        .unwrap();
    h.clock.advance(30 * 86_400 + 1);
    h.issuer
        .accept_evidence(&oidc_ev(h.id_token(json!({"nonce": h.nonce()}))))
        .unwrap();
}

#[test]
fn check_assertion_forms() {
    let h = harness();
    // birthdate form
    let issued = h.issue(&check_ev(h.assertion(json!({"birthdate": "2009-01-10"}))), 1);
    let c = h.verify(&issued[0].0, &issued[0].1);
    assert_eq!(
        (c.assurance, c.source),
        (AssuranceLevel::Standard, Source::ThirdPartyCheck)
    );
    assert_eq!(predicates(&c), vec![(13, true), (16, true), (18, false)]);
    // 18 on 2027-01-10, 42 days away: the largest rung that fits is 30 days.
    assert_eq!(c.expires_at, today().add_days(30).unix_seconds());
    // age_over: true results for configured thresholds only; false ones left out.
    let issued = h.issue(
        &check_ev(h.assertion(json!({"age_over": {"18": true, "16": false, "21": true}}))),
        1,
    );
    let c = h.verify(&issued[0].0, &issued[0].1);
    assert_eq!(predicates(&c), vec![(18, true)]);
    assert_eq!(c.expires_at, today().add_days(90).unix_seconds());
    assert_eq!(profile::held_predicates(&issued[0].0).unwrap().len(), 1);
    // estimation: conservative
    let issued = h.issue(
        &check_ev(h.assertion(json!({"estimated_age": 17.0, "margin": 2.0}))),
        1,
    );
    let c = h.verify(&issued[0].0, &issued[0].1);
    assert_eq!(c.source, Source::AgeEstimation);
    assert_eq!(predicates(&c), vec![(13, true)]);
}

#[test]
fn check_assertion_rejections() {
    let h = harness();
    let cases: Vec<(Value, fn(&EvidenceError) -> bool)> = vec![
        (json!({"age_over": {"18": false}}), |e| {
            matches!(e, EvidenceError::NoPredicate)
        }),
        (json!({"age_over": {"018": true}}), |e| {
            matches!(e, EvidenceError::Claim { name: "age_over" })
        }),
        (json!({"estimated_age": 200.0, "margin": 1.0}), |e| {
            matches!(e, EvidenceError::Estimate)
        }),
        (json!({"estimated_age": 20.0, "margin": 25.0}), |e| {
            matches!(e, EvidenceError::Estimate)
        }),
        (json!({"estimated_age": 20.0}), |e| {
            matches!(e, EvidenceError::AssertionShape)
        }),
        (
            json!({"birthdate": "2008-01-10", "age_over": {"13": true}}),
            |e| matches!(e, EvidenceError::AssertionShape),
        ),
        (json!({}), |e| matches!(e, EvidenceError::AssertionShape)),
        (json!({"birthdate": "2008"}), |e| {
            matches!(e, EvidenceError::BirthDate(BirthDateProblem::Malformed))
        }),
        (json!({"birthdate": "2030-01-01"}), |e| {
            matches!(e, EvidenceError::BirthDate(BirthDateProblem::Future))
        }),
        (
            json!({"aud": "https://other-issuer.example", "birthdate": "2008-01-10"}),
            |e| matches!(e, EvidenceError::Token(TokenProblem::WrongAudience)),
        ),
        (
            json!({"iss": "https://unknown.example", "birthdate": "2008-01-10"}),
            |e| matches!(e, EvidenceError::Token(TokenProblem::UntrustedProvider)),
        ),
        (json!({"jti": null, "birthdate": "2008-01-10"}), |e| {
            matches!(e, EvidenceError::Claim { name: "jti" })
        }),
        (json!({"exp": t0() - 61, "birthdate": "2008-01-10"}), |e| {
            matches!(e, EvidenceError::Token(TokenProblem::Expired))
        }),
    ];
    for (extra, want) in cases {
        let e = err(&h, &check_ev(h.assertion(extra.clone())));
        assert!(want(&e), "{extra}: {e:?}");
    }
    // jti accepted once.
    let a = h.assertion(json!({"birthdate": "2008-01-10", "jti": "once"}));
    h.issuer.accept_evidence(&check_ev(a.clone())).unwrap();
    assert!(matches!(err(&h, &check_ev(a)), EvidenceError::Replayed));
    // A far-future exp keeps the replay record through purges.
    let a = h.assertion(json!({"birthdate": "2008-01-10", "jti": "far", "exp": 1u64 << 62}));
    h.issuer.accept_evidence(&check_ev(a.clone())).unwrap();
    h.issuer.purge().unwrap();
    assert!(matches!(err(&h, &check_ev(a)), EvidenceError::Replayed));
    // A check assertion signed by the identity provider's key is not the check provider's.
    let claims =
        json!({"iss": CHECK, "aud": ISSUER_URL, "exp": t0() + 60, "jti": "x", "birthdate": "2008-01-10"});
    let forged =
        ageband_core::jws::sign_compact(&h.idp, &json!({"alg": "ES256", "kid": "chk-1"}), &claims).unwrap();
    assert!(matches!(
        err(&h, &check_ev(forged)),
        EvidenceError::Token(TokenProblem::BadSignature)
    ));
}

fn guardian(presentation: String, nonce: String, child: &str) -> Evidence {
    Evidence::Guardian {
        presentation: SecretString::new(presentation),
        nonce,
        child_birthdate: SecretString::new(child),
    }
}

#[test]
fn guardian_evidence() {
    let h = harness();
    // The adult holds enhanced credentials from this issuer.
    let adult = h.issue(&oidc_ev(h.id_token(json!({"nonce": h.nonce()}))), 3);
    let present = |i: usize, thresholds: &[u8], nonce: &str, aud: &str| {
        let ts: Vec<_> = thresholds.iter().map(|&y| t(y)).collect();
        profile::present(&adult[i].0, &ts, &adult[i].1, aud, nonce, h.now()).unwrap()
    };
    let n = h.nonce();
    let issued = h.issue(&guardian(present(0, &[18], &n, ISSUER_URL), n, "2016-02-29"), 2);
    let c = h.verify(&issued[1].0, &issued[1].1);
    assert_eq!(
        (c.assurance, c.source),
        (AssuranceLevel::Basic, Source::GuardianDeclared)
    );
    assert_eq!(predicates(&c), vec![(13, false), (16, false), (18, false)]);

    // One child batch per adult credential; another credential of the batch may vouch again.
    let n = h.nonce();
    assert!(matches!(
        err(&h, &guardian(present(0, &[18], &n, ISSUER_URL), n, "2015-01-01")),
        EvidenceError::QuotaExceeded
    ));
    let n = h.nonce();
    h.issuer
        .accept_evidence(&guardian(present(1, &[18], &n, ISSUER_URL), n, "2015-01-01"))
        .unwrap();

    // Rejections.
    let n = h.nonce();
    assert!(matches!(
        err(&h, &guardian(present(2, &[18], &n, ISSUER_URL), n, "2008-11-29")),
        EvidenceError::ChildNotMinor
    ));
    let n = h.nonce();
    assert!(matches!(
        err(&h, &guardian(present(2, &[13], &n, ISSUER_URL), n, "2015-01-01")),
        EvidenceError::NotAdult
    ));
    let n = h.nonce();
    assert!(matches!(
        err(
            &h,
            &guardian(present(2, &[16, 18], &n, ISSUER_URL), n, "2015-01-01")
        ),
        EvidenceError::NotAdult
    ));
    let n = h.nonce();
    let e = err(
        &h,
        &guardian(present(2, &[18], &n, "https://rp.example"), n, "2015-01-01"),
    );
    assert!(
        matches!(&e, EvidenceError::Presentation(VerifyError::KbAudience)),
        "{e:?}"
    );
    let n = h.nonce();
    assert!(matches!(
        err(
            &h,
            &guardian(present(2, &[18], &n, ISSUER_URL), h.nonce(), "2015-01-01")
        ),
        EvidenceError::Presentation(VerifyError::KbNonce)
    ));
    assert!(matches!(
        err(
            &h,
            &guardian(
                present(2, &[18], "made-up", ISSUER_URL),
                "made-up".into(),
                "2015-01-01"
            )
        ),
        EvidenceError::Nonce
    ));
    let n = h.nonce();
    assert!(matches!(
        err(&h, &guardian(present(2, &[18], &n, ISSUER_URL), n, "2016-13-01")),
        EvidenceError::BirthDate(BirthDateProblem::Malformed)
    ));
    let n = h.nonce();
    assert!(matches!(
        err(&h, &guardian(present(2, &[18], &n, ISSUER_URL), n, "2027-01-01")),
        EvidenceError::BirthDate(BirthDateProblem::Future)
    ));

    // A self-declared adult (level asserted) is below the default minimum `standard`.
    let weak = h.issue(&self_ev("1980-01-01"), 1);
    let n = h.nonce();
    let vp = profile::present(&weak[0].0, &[t(18)], &weak[0].1, ISSUER_URL, &n, h.now()).unwrap();
    assert!(matches!(
        err(&h, &guardian(vp, n, "2015-01-01")),
        EvidenceError::AdultLevelTooLow
    ));
}

#[test]
fn guardian_from_other_issuers() {
    let other = harness();
    let adult = other.issue(&oidc_ev(other.id_token(json!({"nonce": other.nonce()}))), 2);
    // Not trusted: the other issuer's key is unknown here. (Same URL, different keys.)
    let h = harness();
    let n = h.nonce();
    let vp = profile::present(&adult[0].0, &[t(18)], &adult[0].1, ISSUER_URL, &n, h.now()).unwrap();
    let e = err(&h, &guardian(vp, n, "2015-01-01"));
    assert!(
        matches!(&e, EvidenceError::Presentation(VerifyError::UnknownKey)),
        "{e:?}"
    );
    // Trusted through configuration (own credentials switched off to prove which path works).
    let jwks = other.issuer.jwt_vc_issuer_metadata().unwrap()["jwks"].clone();
    let h = harness_with(|c: &mut IssuerConfig| {
        c.guardian.trust_self = false;
        c.guardian.trusted_issuers.push(TrustedIssuer {
            issuer: ISSUER_URL.into(),
            jwks: JwksSource::Inline(jwks),
        });
    });
    let n = h.nonce();
    let vp = profile::present(&adult[1].0, &[t(18)], &adult[1].1, ISSUER_URL, &n, h.now()).unwrap();
    h.issuer.accept_evidence(&guardian(vp, n, "2015-01-01")).unwrap();
    // Guardian evidence switched off.
    let h = harness_with(|c| c.guardian.enabled = false);
    assert!(matches!(
        err(&h, &guardian("x".into(), "n".into(), "2015-01-01")),
        EvidenceError::Disabled { kind: "guardian" }
    ));
}

#[test]
fn codes_and_access_tokens_never_print() {
    let h = harness();
    let offer = h.issuer.accept_evidence(&self_ev("2010-06-15")).unwrap();
    let shown = format!("{offer:?}");
    assert!(!shown.contains(&offer.pre_authorized_code), "{shown}");
    let token = h.issuer.redeem_code(&offer.pre_authorized_code).unwrap();
    let shown = format!("{token:?}");
    assert!(!shown.contains(&token.access_token), "{shown}");
    assert!(shown.contains("Bearer"), "the rest still prints: {shown}");
}
