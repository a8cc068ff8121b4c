//! The blind-token profile in the issuer (blind-profile.md §12.1): the directory and its
//! one-key rule, issuance over the router (evidence → token → blind-token-request → finalize
//! and verify against the directory), every refusal, access-token uses, and the store.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

mod common;

use std::sync::Arc;

use ageband_blind::profile::{
    BlindFact, BlindToken, Directory, DirectoryKey, Floor, HolderTokenRequest, Month, TokenChallenge,
};
use ageband_blind::{SystemRng, TokenResponse};
use ageband_core::b64;
use ageband_issuer::{Issuer, IssuerConfig};
use axum::http::StatusCode;
use common::*;
use serde_json::{Value, json};

/// A small schedule: three facts, two floors, this month and the next (12 keys).
fn small(c: &mut IssuerConfig) {
    c.blind.facts = vec!["age_over_13".into(), "age_over_18".into(), "age_under_16".into()];
    c.blind.months_ahead = 1;
    c.blind.batch_size = 4;
    c.blind.tokens_per_month = 3;
    c.quota.batches = 100;
}

fn m(s: &str) -> Month {
    Month::parse(s).unwrap()
}

async fn directory(issuer: &Arc<Issuer>) -> Directory {
    let res = tower::ServiceExt::oneshot(
        ageband_issuer::app(issuer.clone()),
        axum::http::Request::get("/.well-known/private-token-issuer-directory")
            .body(axum::body::Body::empty())
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.headers()["content-type"],
        "application/private-token-issuer-directory"
    );
    assert_eq!(res.headers()["cache-control"], "max-age=3600");
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 20).await.unwrap();
    Directory::parse(&bytes).unwrap()
}

/// Evidence → code → access token over the router.
async fn access_token(h: &Harness, evidence: Value) -> String {
    let (s, offer, _) = call(&h.issuer, "POST", "/evidence", &[JSON], evidence.to_string()).await;
    assert_eq!(s, StatusCode::OK, "{offer}");
    let code = offer["pre_authorized_code"].as_str().unwrap();
    let form = format!(
        "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Apre-authorized_code&pre-authorized_code={code}"
    );
    let (s, tok, _) = call(&h.issuer, "POST", "/token", &[FORM], form).await;
    assert_eq!(s, StatusCode::OK, "{tok}");
    tok["access_token"].as_str().unwrap().to_owned()
}

fn oidc(h: &Harness, birthdate: &str) -> Value {
    let token = h.id_token(json!({"birthdate": birthdate, "nonce": h.nonce()}));
    json!({"type": "oidc_id_token", "id_token": token})
}

fn challenge() -> TokenChallenge {
    TokenChallenge::ageband("issuer.example").unwrap()
}

/// Builds holder requests for `slots` and their JSON body.
fn requests(dir: &Directory, slots: &[(&str, u8, &str)]) -> (Vec<HolderTokenRequest>, Value) {
    let mut holders = Vec::new();
    let mut list = Vec::new();
    for (fact, floor, month) in slots {
        let key = dir
            .key_for(
                BlindFact::from_name(fact).unwrap(),
                Floor::from_number(u64::from(*floor)).unwrap(),
                m(month),
            )
            .unwrap();
        let r = HolderTokenRequest::new(&mut SystemRng, key, &challenge()).unwrap();
        list.push(json!({
            "fact": fact, "floor": floor, "month": month,
            "token_request": b64::encode(r.request().to_bytes()),
        }));
        holders.push(r);
    }
    (holders, json!({ "requests": list }))
}

async fn blind_call(h: &Harness, token: &str, body: impl Into<axum::body::Body>) -> (StatusCode, Value) {
    let auth = format!("Bearer {token}");
    let (s, v, _) = call(
        &h.issuer,
        "POST",
        "/blind-token-request",
        &[JSON, ("authorization", auth.as_str())],
        body,
    )
    .await;
    (s, v)
}

fn finalize(dir: &Directory, holders: Vec<HolderTokenRequest>, answer: &Value) -> Vec<BlindToken> {
    let responses = answer["responses"].as_array().unwrap();
    assert_eq!(responses.len(), holders.len());
    holders
        .into_iter()
        .zip(responses)
        .map(|(req, r)| {
            let (fact, floor, month) = req.slot();
            let key: &DirectoryKey = dir.key_for(fact, floor, month).unwrap();
            let bytes = b64::decode(r["token_response"].as_str().unwrap(), 256).unwrap();
            let token = req
                .finalize(key, &TokenResponse::from_bytes(&bytes).unwrap())
                .unwrap();
            token.token().verify(key.public_key()).unwrap();
            assert_eq!(token.token().challenge_digest, challenge().digest());
            token
        })
        .collect()
}

#[tokio::test]
async fn directory_has_one_key_per_published_slot() {
    let h = harness_with(small);
    let dir = directory(&h.issuer).await;
    assert_eq!(
        dir.issuer_request_uri(),
        "https://issuer.example/blind-token-request"
    );
    assert_eq!(dir.keys().len(), 3 * 2 * 2);
    let mut slots: Vec<_> = dir
        .keys()
        .iter()
        .map(|k| (k.fact().name(), k.floor().number(), k.month().to_string()))
        .collect();
    slots.sort();
    slots.dedup();
    assert_eq!(slots.len(), 12, "one key per slot");
    for k in dir.keys() {
        assert!([m("2026-11"), m("2026-12")].contains(&k.month()));
    }
    // Stable across fetches (key pinning holds) and stored once per slot.
    let again = directory(&h.issuer).await;
    again.check_consistent_with(&dir).unwrap();
    assert_eq!(again, dir);
    assert_eq!(h.issuer.store().blind_keys().unwrap().len(), 12);

    // The metadata advertises the profile.
    let (_, meta, _) = call(&h.issuer, "GET", "/.well-known/openid-credential-issuer", &[], "").await;
    let b = &meta["ageband_blind_tokens"];
    assert_eq!(
        b["issuer_directory"],
        "https://issuer.example/.well-known/private-token-issuer-directory"
    );
    assert_eq!(
        b["token_request_endpoint"],
        "https://issuer.example/blind-token-request"
    );
    assert_eq!(b["issuer_name"], "issuer.example");
    assert_eq!(b["batch_size"], 4);

    // Within the last three days of November the maintenance tick prepares January's keys
    // (stored, not listed yet).
    h.issuer.purge().unwrap();
    let stored = h.issuer.store().blind_keys().unwrap();
    assert_eq!(stored.len(), 18);
    let january: Vec<Vec<u8>> = stored
        .iter()
        .filter(|r| r.month == "2027-01")
        .map(|r| r.token_key_id.clone())
        .collect();
    assert_eq!(january.len(), 6);
    assert_eq!(directory(&h.issuer).await, dir);

    // The turn of the month: December becomes current, January is published with the prepared
    // keys; November's keys are retired by the maintenance tick and no longer listed.
    h.clock.set(m("2026-12").not_before() + 60);
    h.issuer.purge().unwrap();
    let dec = directory(&h.issuer).await;
    dec.check_consistent_with(&dir).unwrap();
    for k in dec.keys().iter().filter(|k| k.month() == m("2027-01")) {
        assert!(january.contains(&k.token_key_id().to_vec()));
    }
    let months: std::collections::BTreeSet<Month> = dec.keys().iter().map(DirectoryKey::month).collect();
    assert_eq!(
        months.into_iter().collect::<Vec<_>>(),
        [m("2026-12"), m("2027-01")]
    );
    assert!(
        h.issuer
            .store()
            .blind_keys()
            .unwrap()
            .iter()
            .all(|r| r.month != "2026-11"),
        "retired keys are deleted"
    );
}

#[tokio::test]
async fn adult_gets_tokens_and_sd_jwt_from_one_access_token() {
    let h = harness_with(small);
    let dir = directory(&h.issuer).await;
    let token = access_token(&h, oidc(&h, "1990-01-01")).await;
    let slots = [
        ("age_over_18", 3, "2026-11"),
        ("age_over_18", 2, "2026-12"),
        ("age_over_13", 2, "2026-11"),
    ];
    let (holders, body) = requests(&dir, &slots);
    let (s, answer) = blind_call(&h, &token, body.to_string()).await;
    assert_eq!(s, StatusCode::OK, "{answer}");
    let tokens = finalize(&dir, holders, &answer);
    assert_eq!(tokens.len(), 3);
    assert_eq!(tokens[0].fact().name(), "age_over_18");
    assert_eq!(tokens[1].month(), m("2026-12"));

    // The blind use is spent; the SD-JWT use of the same access token is not.
    let (again, body) = requests(&dir, &slots[..1]);
    drop(again);
    let (s, e) = blind_call(&h, &token, body.to_string()).await;
    assert_eq!(
        (s, e["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_token"))
    );
    let holder = ageband_core::jws::RingSigner::generate().unwrap();
    let proofs = [proof(&holder, ISSUER_URL, &h.nonce(), h.now())];
    let creds = h
        .issuer
        .credential_request(Some(&token), credential_body(&proofs).as_bytes())
        .unwrap();
    assert_eq!(creds.len(), 1);
    // Now both uses are spent: the row is gone.
    assert_eq!(h.issuer.store().live_counts().unwrap().1, 0);

    // No birth date in the database files after a blind issuance.
    drop(tokens);
    for entry in std::fs::read_dir(h.dir.path()).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        for s in ["1990-01-01", "19900101", "2008-01-01"] {
            assert!(!bytes.windows(s.len()).any(|w| w == s.as_bytes()), "{s}");
        }
    }
}

#[tokio::test]
async fn sd_jwt_first_then_blind() {
    let h = harness_with(small);
    let dir = directory(&h.issuer).await;
    let token = access_token(&h, oidc(&h, "1990-01-01")).await;
    let holder = ageband_core::jws::RingSigner::generate().unwrap();
    let proofs = [proof(&holder, ISSUER_URL, &h.nonce(), h.now())];
    let body = credential_body(&proofs);
    h.issuer
        .credential_request(Some(&token), body.as_bytes())
        .unwrap();
    // A second SD-JWT request is refused as before …
    let proofs = [proof(&holder, ISSUER_URL, &h.nonce(), h.now())];
    assert!(
        h.issuer
            .credential_request(Some(&token), credential_body(&proofs).as_bytes())
            .is_err()
    );
    // … and the blind use is still there.
    let (holders, body) = requests(&dir, &[("age_over_13", 3, "2026-12")]);
    let (s, answer) = blind_call(&h, &token, body.to_string()).await;
    assert_eq!(s, StatusCode::OK, "{answer}");
    assert_eq!(finalize(&dir, holders, &answer).len(), 1);
}

#[tokio::test]
async fn minors_and_the_month_rule() {
    let h = harness_with(small);
    let dir = directory(&h.issuer).await;
    // 14 years old (born 2012-06-01, turns 16 in 2028): over 13 and under 16, both months.
    let ev = json!({"type": "check_assertion", "assertion": h.assertion(json!({"sub": "kid-1", "birthdate": "2012-06-01"}))});
    let token = access_token(&h, ev).await;
    let (_, body) = requests(&dir, &[("age_over_18", 2, "2026-11")]);
    let (s, e) = blind_call(&h, &token, body.to_string()).await;
    assert_eq!(
        (s, e["error"].as_str()),
        (StatusCode::FORBIDDEN, Some("access_denied"))
    );
    assert!(
        e["error_description"]
            .as_str()
            .unwrap()
            .contains("does not support this fact")
    );
    let (holders, body) = requests(
        &dir,
        &[("age_under_16", 3, "2026-12"), ("age_over_13", 2, "2026-11")],
    );
    let (s, answer) = blind_call(&h, &token, body.to_string()).await;
    assert_eq!(s, StatusCode::OK, "{answer}");
    finalize(&dir, holders, &answer);

    // Turns 16 on 2026-12-15: under 16 only for November (December ends after the birthday).
    let ev = json!({"type": "check_assertion", "assertion": h.assertion(json!({"sub": "kid-2", "birthdate": "2010-12-15"}))});
    let token = access_token(&h, ev).await;
    let (_, body) = requests(&dir, &[("age_under_16", 3, "2026-12")]);
    let (s, e) = blind_call(&h, &token, body.to_string()).await;
    assert_eq!(
        (s, e["error"].as_str()),
        (StatusCode::FORBIDDEN, Some("access_denied"))
    );
    assert!(e["error_description"].as_str().unwrap().contains("month"), "{e}");
    let (holders, body) = requests(&dir, &[("age_under_16", 3, "2026-11")]);
    let (s, answer) = blind_call(&h, &token, body.to_string()).await;
    assert_eq!(s, StatusCode::OK, "{answer}");
    finalize(&dir, holders, &answer);

    // An adult asking for under 16.
    let token = access_token(&h, oidc(&h, "1990-01-01")).await;
    let (_, body) = requests(&dir, &[("age_under_16", 2, "2026-11")]);
    let (s, e) = blind_call(&h, &token, body.to_string()).await;
    assert_eq!(
        (s, e["error"].as_str()),
        (StatusCode::FORBIDDEN, Some("access_denied"))
    );

    // An estimate (level 2) gets floor 2 only.
    let ev = json!({"type": "check_assertion", "assertion": h.assertion(json!({"sub": "face-1", "estimated_age": 30.0, "margin": 3.0}))});
    let token = access_token(&h, ev).await;
    let (_, body) = requests(&dir, &[("age_over_18", 3, "2026-11")]);
    let (s, e) = blind_call(&h, &token, body.to_string()).await;
    assert_eq!(
        (s, e["error"].as_str()),
        (StatusCode::FORBIDDEN, Some("access_denied"))
    );
    assert!(e["error_description"].as_str().unwrap().contains("floor"));
    let (holders, body) = requests(&dir, &[("age_over_18", 2, "2026-11")]);
    let (s, answer) = blind_call(&h, &token, body.to_string()).await;
    assert_eq!(s, StatusCode::OK, "{answer}");
    finalize(&dir, holders, &answer);
}

#[tokio::test]
async fn self_declared_gets_none() {
    let h = harness_with(small);
    let dir = directory(&h.issuer).await;
    let token = access_token(&h, json!({"type": "self", "birthdate": "1990-01-01"})).await;
    let (_, body) = requests(&dir, &[("age_over_18", 2, "2026-11")]);
    let (s, e) = blind_call(&h, &token, body.to_string()).await;
    assert_eq!(
        (s, e["error"].as_str()),
        (StatusCode::FORBIDDEN, Some("access_denied"))
    );
    assert!(
        e["error_description"].as_str().unwrap().contains("self-declared"),
        "{e}"
    );
}

#[tokio::test]
async fn malformed_and_mismatched_requests() {
    let h = harness_with(small);
    let dir = directory(&h.issuer).await;
    let token = access_token(&h, oidc(&h, "1990-01-01")).await;
    let (_, good) = requests(&dir, &[("age_over_18", 3, "2026-11")]);
    let one = |f: &dyn Fn(&mut Value)| {
        let mut b = good.clone();
        f(&mut b["requests"][0]);
        b.to_string()
    };
    let cases: Vec<(String, StatusCode, &str)> = vec![
        ("not json".into(), StatusCode::BAD_REQUEST, "invalid_request"),
        (
            json!({"requests": []}).to_string(),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            json!({"requests": good["requests"], "x": 1}).to_string(),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            one(&|r| r["fact"] = "age_over_21".into()),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            one(&|r| r["floor"] = 2.0.into()),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            one(&|r| r["extra"] = 1.into()),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            one(&|r| r["token_request"] = "AAAA".into()),
            StatusCode::BAD_REQUEST,
            "invalid_token_request",
        ),
        (
            one(&|r| r["month"] = "2027-06".into()),
            StatusCode::BAD_REQUEST,
            "unknown_slot",
        ),
        (
            one(&|r| r["month"] = "2026-10".into()),
            StatusCode::BAD_REQUEST,
            "unknown_slot",
        ),
        (
            one(&|r| {
                // Another key's truncated id.
                let mut bytes = b64::decode(r["token_request"].as_str().unwrap(), 259).unwrap();
                bytes[2] ^= 1;
                r["token_request"] = b64::encode(bytes).into();
            }),
            StatusCode::BAD_REQUEST,
            "invalid_token_request",
        ),
    ];
    // Five refusals drop an access token (as for /credential): use a fresh one every four.
    let mut token = token;
    for (i, (body, status, code)) in cases.into_iter().enumerate() {
        if i % 4 == 3 {
            token = access_token(&h, oidc(&h, "1990-01-01")).await;
        }
        let (s, e) = blind_call(&h, &token, body.clone()).await;
        assert_eq!((s, e["error"].as_str()), (status, Some(code)), "{body}: {e}");
    }
    // Batch too large (4 allowed).
    let token = access_token(&h, oidc(&h, "1990-01-01")).await;
    let (_, big) = requests(&dir, &[("age_over_18", 3, "2026-11"); 5]);
    let (s, e) = blind_call(&h, &token, big.to_string()).await;
    assert_eq!(
        (s, e["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );
    assert!(e["error_description"].as_str().unwrap().contains("batch size"));
    // No or an unknown access token; wrong content type.
    let (s, _) = blind_call(&h, "nope", good.to_string()).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, e, hdrs) = call(
        &h.issuer,
        "POST",
        "/blind-token-request",
        &[JSON],
        good.to_string(),
    )
    .await;
    assert_eq!(
        (s, e["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_token"))
    );
    assert!(hdrs.contains_key("www-authenticate"));
    let auth = format!("Bearer {token}");
    let (s, e, _) = call(
        &h.issuer,
        "POST",
        "/blind-token-request",
        &[("authorization", auth.as_str())],
        good.to_string(),
    )
    .await;
    assert_eq!(
        (s, e["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );
    // The refusals above consumed nothing: the good request still succeeds.
    let (s, e) = blind_call(&h, &token, good.to_string()).await;
    assert_eq!(s, StatusCode::OK, "{e}");
}

#[tokio::test]
async fn quota_per_subject_fact_and_month() {
    let h = harness_with(small); // 3 tokens per subject, fact and month
    let dir = directory(&h.issuer).await;
    let token = access_token(&h, oidc(&h, "1990-01-01")).await;
    let (_, body) = requests(
        &dir,
        &[
            ("age_over_18", 3, "2026-11"),
            ("age_over_18", 2, "2026-11"),
            ("age_over_13", 2, "2026-11"),
        ],
    );
    let (s, e) = blind_call(&h, &token, body.to_string()).await;
    assert_eq!(s, StatusCode::OK, "{e}");
    // The same subject (sub "user-1") through new evidence: one more over-18 token for November
    // is fine, a second is over the quota (the whole batch is refused, nothing charged) …
    let token = access_token(&h, oidc(&h, "1990-01-01")).await;
    let (_, body) = requests(
        &dir,
        &[("age_over_18", 2, "2026-11"), ("age_over_18", 3, "2026-11")],
    );
    let (s, e) = blind_call(&h, &token, body.to_string()).await;
    assert_eq!(
        (s, e["error"].as_str()),
        (StatusCode::TOO_MANY_REQUESTS, Some("quota_exceeded"))
    );
    // … while another month, another fact, and the remaining one go through.
    let (_, body) = requests(
        &dir,
        &[
            ("age_over_18", 2, "2026-11"),
            ("age_over_18", 2, "2026-12"),
            ("age_over_13", 3, "2026-11"),
        ],
    );
    let (s, e) = blind_call(&h, &token, body.to_string()).await;
    assert_eq!(s, StatusCode::OK, "{e}");
    // Another subject has its own quota.
    let other = h.id_token(json!({"sub": "user-2", "nonce": h.nonce()}));
    let token = access_token(&h, json!({"type": "oidc_id_token", "id_token": other})).await;
    let (_, body) = requests(&dir, &[("age_over_18", 2, "2026-11"); 3]);
    let (s, e) = blind_call(&h, &token, body.to_string()).await;
    assert_eq!(s, StatusCode::OK, "{e}");
}

#[tokio::test]
async fn disabled_profile_is_not_served() {
    let h = harness_with(|c| c.blind.enabled = false);
    let (s, e, _) = call(
        &h.issuer,
        "GET",
        "/.well-known/private-token-issuer-directory",
        &[],
        "",
    )
    .await;
    assert_eq!(
        (s, e["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    let (_, meta, _) = call(&h.issuer, "GET", "/.well-known/openid-credential-issuer", &[], "").await;
    assert!(meta.get("ageband_blind_tokens").is_none());
    // The maintenance tick generates nothing until the directory was served once.
    let h = harness_with(small);
    h.issuer.purge().unwrap();
    assert!(h.issuer.store().blind_keys().unwrap().is_empty());
}

#[tokio::test]
async fn facts_follow_the_configured_thresholds() {
    let h = harness_with(|c| {
        c.thresholds = vec![16, 18];
        c.blind.months_ahead = 0;
    });
    let dir = directory(&h.issuer).await;
    let mut facts: Vec<String> = dir.keys().iter().map(|k| k.fact().name()).collect();
    facts.sort();
    facts.dedup();
    assert_eq!(
        facts,
        ["age_over_16", "age_over_18", "age_under_16", "age_under_18"]
    );
    assert_eq!(dir.keys().len(), 4 * 2);
    assert!(dir.keys().iter().all(|k| k.month() == m("2026-11")));
    let (_, meta, _) = call(&h.issuer, "GET", "/.well-known/openid-credential-issuer", &[], "").await;
    assert_eq!(
        meta["ageband_blind_tokens"]["facts"],
        json!(["age_over_16", "age_over_18", "age_under_16", "age_under_18"])
    );
}

#[tokio::test]
async fn guardian_evidence_gets_floor_two_under_facts() {
    let h = harness_with(small);
    let dir = directory(&h.issuer).await;
    // The adult's own SD-JWT credential, presented to this issuer for the child.
    let adult = h.issue(&oidc_ev(h.id_token(json!({"nonce": h.nonce()}))), 1);
    let n = h.nonce();
    let vp =
        ageband_core::profile::present(&adult[0].0, &[t(18)], &adult[0].1, ISSUER_URL, &n, h.now()).unwrap();
    let ev = ageband_issuer::Evidence::Guardian {
        presentation: ageband_issuer::SecretString::new(vp),
        nonce: n,
        child_birthdate: ageband_issuer::SecretString::new("2016-02-29"),
    };
    let offer = h.issuer.accept_evidence(&ev).unwrap();
    let token = h
        .issuer
        .redeem_code(&offer.pre_authorized_code)
        .unwrap()
        .access_token;
    let (_, body) = requests(&dir, &[("age_under_16", 3, "2026-11")]);
    let e = h
        .issuer
        .blind_token_request(Some(&token), body.to_string().as_bytes())
        .unwrap_err();
    assert!(matches!(e, ageband_issuer::BlindError::Denied { .. }), "{e}");
    let (holders, body) = requests(
        &dir,
        &[("age_under_16", 2, "2026-11"), ("age_under_16", 2, "2026-12")],
    );
    let responses = h
        .issuer
        .blind_token_request(Some(&token), body.to_string().as_bytes())
        .unwrap();
    let answer = json!({"responses": responses
        .iter()
        .map(|r| json!({"token_response": b64::encode(r.to_bytes())}))
        .collect::<Vec<_>>()});
    assert_eq!(finalize(&dir, holders, &answer).len(), 2);
}

/// Evidence → code → the whole `POST /token` answer.
async fn token_answer(h: &Harness, evidence: Value) -> Value {
    let (s, offer, _) = call(&h.issuer, "POST", "/evidence", &[JSON], evidence.to_string()).await;
    assert_eq!(s, StatusCode::OK, "{offer}");
    let code = offer["pre_authorized_code"].as_str().unwrap();
    let form = format!(
        "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Apre-authorized_code&pre-authorized_code={code}"
    );
    let (s, tok, _) = call(&h.issuer, "POST", "/token", &[FORM], form).await;
    assert_eq!(s, StatusCode::OK, "{tok}");
    tok
}

fn slot_list(tok: &Value) -> Vec<(String, u64, String)> {
    tok["ageband_blind_slots"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|s| {
                    assert_eq!(s.as_object().unwrap().len(), 3, "{s}");
                    (
                        s["fact"].as_str().unwrap().to_owned(),
                        s["floor"].as_u64().unwrap(),
                        s["month"].as_str().unwrap().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn the_token_response_lists_exactly_the_slots_the_holder_may_request() {
    let h = harness_with(small);
    let dir = directory(&h.issuer).await;
    let s = |f: &str, fl: u64, mo: &str| (f.to_owned(), fl, mo.to_owned());

    // An adult with an official id: over 13 and over 18, both floors, both published months.
    let tok = token_answer(&h, oidc(&h, "1990-01-01")).await;
    let want = vec![
        s("age_over_13", 2, "2026-11"),
        s("age_over_13", 2, "2026-12"),
        s("age_over_13", 3, "2026-11"),
        s("age_over_13", 3, "2026-12"),
        s("age_over_18", 2, "2026-11"),
        s("age_over_18", 2, "2026-12"),
        s("age_over_18", 3, "2026-11"),
        s("age_over_18", 3, "2026-12"),
    ];
    assert_eq!(slot_list(&tok), want);
    // Every listed slot is accepted by the blind endpoint with that access token.
    let listed = slot_list(&tok);
    let slots: Vec<(&str, u8, &str)> = listed[..4]
        .iter()
        .map(|(f, fl, mo)| (f.as_str(), u8::try_from(*fl).unwrap(), mo.as_str()))
        .collect();
    let (holders, body) = requests(&dir, &slots);
    let token = tok["access_token"].as_str().unwrap();
    let (st, answer) = blind_call(&h, token, body.to_string()).await;
    assert_eq!(st, StatusCode::OK, "{answer}");
    assert_eq!(finalize(&dir, holders, &answer).len(), 4);

    // Turning 16 on 2026-12-10: under 16 only for November (the month ends before the birthday).
    let ev = json!({"type": "check_assertion", "assertion": h.assertion(json!({"sub": "kid-2", "birthdate": "2010-12-10"}))});
    let tok = token_answer(&h, ev).await;
    let listed = slot_list(&tok);
    assert!(listed.contains(&s("age_under_16", 3, "2026-11")), "{listed:?}");
    assert!(
        !listed
            .iter()
            .any(|(f, _, mo)| f == "age_under_16" && mo == "2026-12"),
        "{listed:?}"
    );
    assert!(!listed.iter().any(|(f, _, _)| f == "age_over_18"), "{listed:?}");

    // Self-declaration: no slots, and the member is absent.
    let ev = json!({"type": "self", "birthdate": "1990-01-01"});
    let tok = token_answer(&h, ev).await;
    assert!(tok.get("ageband_blind_slots").is_none(), "{tok}");
}
