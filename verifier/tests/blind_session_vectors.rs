//! Replays `specs/vectors/blind-session/*.json` (blind-profile.md §14.2): blind-token answers to
//! a verifier session or `POST /v1/verify`, each with the outcome or the refusal kind the
//! verifier's checks (blind-profile.md §12.4) give. Each vector is replayed through the library
//! (`answer_from_vp_token` + `Verifier::verify_blind`, as the session's `direct_post` does) and,
//! when its `vp_token` holds an `age_blind` array, through the real router's `POST /v1/verify`.
//! The test also regenerates every vector from its fixed inputs and fails when a file is stale;
//! `AGEBAND_WRITE_VECTORS=1` rewrites them.
//!
//! Determinism: the issuer keys are fixed (the RFC 9578 appendix A.2 key and the test-only keys
//! of `keys.json`); the wallet's holder keys, salts and blinding factors come from a SHA-256
//! counter generator seeded with the vector and token names; RSA blind signatures of a fixed
//! input are deterministic and holder signatures are RFC 6979.
#![cfg(feature = "server")]
#![allow(missing_docs, clippy::unwrap_used)]

mod blind_common;

use std::sync::Arc;

use ageband_blind::profile::Directory;
use ageband_core::age::{AgeQuestion, AssuranceLevel, Source, Threshold, ThresholdSet};
use ageband_verifier::openid4vp::{VpAnswer, answer_from_vp_token, blind_vp_token};
use ageband_verifier::server::{AppState, ServiceConfig, app};
use ageband_verifier::{AgeRequest, ManualClock, MemoryNonceStore, TrustList, TrustedIssuer, Verifier};
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use blind_common::*;
use serde_json::{Value, json};
use tower::ServiceExt;

/// One token of a vector: fixture slot and issuer.
struct Tok {
    slot: usize,
    issuer: &'static str,
}

fn tok(slot: usize) -> Tok {
    Tok { slot, issuer: ISSUER }
}

enum Shape {
    /// `{"age_blind": [tokens]}`.
    Blind,
    /// `{"<id>": [tokens]}` with another id.
    Id(&'static str),
    /// `{"age_blind": "<first token>"}`.
    NotArray,
    /// `{"age_blind": [tokens], "age": ["x"]}`.
    BothMembers,
}

struct Case {
    name: &'static str,
    description: &'static str,
    question: Value,
    tokens: Vec<Tok>,
    shape: Shape,
    /// The issuer's policy: accepted sources (default all).
    sources: Option<Vec<Source>>,
    /// The issuer directory leaves these fixture slots out.
    skip_slots: Vec<usize>,
    /// The nonce was consumed before (another answer to the same request).
    nonce_used_before: bool,
    /// The tokens were presented once before (to another request of the same verifier).
    spent_before: bool,
    expect: &'static str,
}

fn case(
    name: &'static str,
    description: &'static str,
    question: Value,
    tokens: Vec<Tok>,
    expect: &'static str,
) -> Case {
    Case {
        name,
        description,
        question,
        tokens,
        shape: Shape::Blind,
        sources: None,
        skip_slots: vec![],
        nonce_used_before: false,
        spent_before: false,
        expect,
    }
}

fn cases() -> Vec<Case> {
    let at_least = |n: u8| json!({"at_least": n});
    vec![
        case(
            "001_ok_at_least_18",
            "one token, age_over_18 floor 2, answers at least 18",
            at_least(18),
            vec![tok(OVER18_L2)],
            "ok",
        ),
        case(
            "002_ok_band_13_15",
            "two tokens, age_over_13 and age_under_16, answer the band 13/16/18 with 13-15",
            json!({"band": [13, 16, 18]}),
            vec![tok(UNDER16_L2), tok(OVER13_L2)],
            "ok",
        ),
        case(
            "003_ok_floor3_for_standard",
            "a floor-3 token answers a question with min_assurance standard",
            json!({"at_least": 18, "min_assurance": "standard"}),
            vec![tok(OVER18_L3)],
            "ok",
        ),
        Case {
            shape: Shape::Id("age_blinded"),
            ..case(
                "004_wrong_query_id",
                "vp_token member is not age_blind",
                at_least(18),
                vec![tok(OVER18_L2)],
                "malformed",
            )
        },
        Case {
            shape: Shape::NotArray,
            ..case(
                "005_not_an_array",
                "age_blind is a string, not an array",
                at_least(18),
                vec![tok(OVER18_L2)],
                "malformed",
            )
        },
        Case {
            shape: Shape::BothMembers,
            ..case(
                "006_both_members",
                "vp_token holds both age and age_blind",
                at_least(18),
                vec![tok(OVER18_L2)],
                "malformed",
            )
        },
        case(
            "007_three_tokens",
            "three tokens: more than any claim set has",
            json!({"band": [13, 16, 18]}),
            vec![tok(OVER13_L2), tok(UNDER16_L2), tok(OVER18_L2)],
            "malformed",
        ),
        case(
            "008_two_tokens_one_fact",
            "two tokens of age_over_18 (floors 2 and 3)",
            at_least(18),
            vec![tok(OVER18_L2), tok(OVER18_L3)],
            "claim_set_mismatch",
        ),
        case(
            "009_tokens_of_two_issuers",
            "age_over_13 of one trusted issuer and age_under_16 of another",
            json!({"band": [13, 16, 18]}),
            vec![
                tok(OVER13_L2),
                Tok {
                    slot: UNDER16_L2,
                    issuer: ISSUER2,
                },
            ],
            "wrong_challenge",
        ),
        case(
            "010_superset_of_a_claim_set",
            "age_over_13 and age_under_16 answer at least 13: the second fact was not asked",
            at_least(13),
            vec![tok(OVER13_L2), tok(UNDER16_L2)],
            "over_disclosure",
        ),
        case(
            "011_not_a_claim_set",
            "age_under_16 answers at least 18 (without allow_negative)",
            at_least(18),
            vec![tok(UNDER16_L2)],
            "claim_set_mismatch",
        ),
        Case {
            nonce_used_before: true,
            ..case(
                "012_replayed_nonce",
                "the request nonce was consumed by an earlier answer",
                at_least(18),
                vec![tok(OVER18_L2)],
                "nonce_replayed",
            )
        },
        case(
            "013_floor_too_low",
            "a floor-2 token for min_assurance standard",
            json!({"at_least": 18, "min_assurance": "standard"}),
            vec![tok(OVER18_L2)],
            "floor_too_low",
        ),
        case(
            "014_level_above_tokens",
            "min_assurance enhanced: more than any token attests",
            json!({"at_least": 18, "min_assurance": "enhanced"}),
            vec![tok(OVER18_L3)],
            "assurance_too_low",
        ),
        Case {
            sources: Some(vec![Source::OfficialId, Source::ThirdPartyCheck]),
            ..case(
                "015_source_policy",
                "the issuer policy accepts official_id and third_party_check only; a floor-2 token may stand for age_estimation, so the policy raises the floor asked for to 3 and the token is refused before it is spent",
                at_least(18),
                vec![tok(OVER18_L2)],
                "floor_too_low",
            )
        },
        Case {
            spent_before: true,
            ..case(
                "016_replayed_token",
                "the token was presented before",
                at_least(18),
                vec![tok(OVER18_L2)],
                "token_spent",
            )
        },
        Case {
            skip_slots: vec![OVER18_L2],
            ..case(
                "017_key_not_in_directory",
                "the token's key is not in the trusted directory",
                at_least(18),
                vec![tok(OVER18_L2)],
                "unknown_key",
            )
        },
    ]
}

fn question_of(q: &Value) -> (AgeQuestion, Option<AssuranceLevel>) {
    let t = |v: &Value| Threshold::new(v.as_u64().unwrap() as u8).unwrap();
    let question = if let Some(n) = q.get("at_least") {
        AgeQuestion::AtLeast(t(n))
    } else if let Some(n) = q.get("under") {
        AgeQuestion::Under(t(n))
    } else {
        let band: Vec<u8> = q["band"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u8)
            .collect();
        AgeQuestion::Band(ThresholdSet::new(&band).unwrap())
    };
    let level = q
        .get("min_assurance")
        .map(|v| serde_json::from_value(v.clone()).unwrap());
    (question, level)
}

fn generate(c: &Case) -> Value {
    let presentations: Vec<String> = c
        .tokens
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let mut rng = Drbg::new(&format!("{}/{i}", c.name));
            issue_with(&mut rng, t.slot, t.issuer)
                .present(NONCE.as_bytes(), AUDIENCE)
                .unwrap()
                .encode()
        })
        .collect();
    let vp_token = match c.shape {
        Shape::Blind => blind_vp_token(&presentations),
        Shape::Id(id) => json!({ id: presentations }).to_string(),
        Shape::NotArray => json!({"age_blind": presentations[0]}).to_string(),
        Shape::BothMembers => json!({"age_blind": presentations, "age": ["x"]}).to_string(),
    };
    let dir = directory_without(&c.skip_slots).to_json();
    let sources = c.sources.clone().unwrap_or_else(|| Source::ALL.to_vec());
    let issuers: Vec<Value> = [ISSUER, ISSUER2]
        .iter()
        .map(|id| json!({"id": id, "directory": dir, "sources": sources}))
        .collect();
    json!({
        "description": c.description,
        "now": now(),
        "issuers": issuers,
        "request": {"question": c.question, "nonce": NONCE, "audience": AUDIENCE},
        "nonce_used_before": c.nonce_used_before,
        "spent_before": c.spent_before,
        "vp_token": vp_token,
        "expect": c.expect,
    })
}

/// The verifier a vector describes.
fn vector_verifier(v: &Value) -> Verifier {
    let issuers = v["issuers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            let dir = Directory::parse(i["directory"].as_str().unwrap().as_bytes()).unwrap();
            let sources: Vec<Source> = serde_json::from_value(i["sources"].clone()).unwrap();
            TrustedIssuer::pinned(i["id"].as_str().unwrap(), vec![])
                .with_blind_directory(dir)
                .accept_sources(sources)
        })
        .collect();
    Verifier::from_trust_list(TrustList::new(issuers).unwrap())
        .with_clock(Arc::new(ManualClock::new(v["now"].as_u64().unwrap())))
}

fn vector_request(v: &Value) -> AgeRequest {
    let r = &v["request"];
    let (question, level) = question_of(&r["question"]);
    let mut req = AgeRequest::with_nonce(
        question,
        r["audience"].as_str().unwrap(),
        r["nonce"].as_str().unwrap(),
    )
    .unwrap();
    if let Some(level) = level {
        req = req.min_assurance(level);
    }
    req
}

/// An earlier answer consumed the vector's nonce.
fn consume_nonce_before(v: &Value, verifier: &Verifier) {
    verifier
        .nonce_store()
        .consume(
            v["request"]["nonce"].as_str().unwrap(),
            v["now"].as_u64().unwrap(),
        )
        .unwrap();
}

/// An earlier answer to another session spent the tokens (the spent set is shared; the nonce
/// store of that answer is not this request's).
fn spend_before(v: &Value, verifier: &Verifier, tokens: &[String]) {
    let refs: Vec<&str> = tokens.iter().map(String::as_str).collect();
    let spender = verifier
        .clone()
        .with_nonce_store(Arc::new(MemoryNonceStore::default()));
    spender.verify_blind(&refs, &vector_request(v)).unwrap();
}

/// The verifier of the vector with its preconditions applied.
fn prepared(v: &Value, tokens: &[String]) -> Verifier {
    let verifier = vector_verifier(v);
    if v["spent_before"] == true {
        spend_before(v, &verifier, tokens);
    }
    if v["nonce_used_before"] == true {
        consume_nonce_before(v, &verifier);
    }
    verifier
}

fn library_result(v: &Value) -> Result<Value, String> {
    let tokens = match answer_from_vp_token(v["vp_token"].as_str().unwrap()) {
        Some(VpAnswer::Blind(t)) => t,
        _ => return Err("malformed".into()),
    };
    let verifier = prepared(v, &tokens);
    let refs: Vec<&str> = tokens.iter().map(String::as_str).collect();
    verifier
        .verify_blind(&refs, &vector_request(v))
        .map(|o| {
            let mut j = serde_json::to_value(&o).unwrap();
            j["band"] = Value::String(o.band_label());
            j
        })
        .map_err(|e| e.kind().to_owned())
}

/// `POST /v1/verify` with `tokens` on the real router.
async fn http_result(v: &Value, tokens: &[String]) -> Result<Value, String> {
    let verifier = prepared(v, tokens);
    let state = AppState::new(verifier, ServiceConfig::new("https://verifier.example")).unwrap();
    let mut body = v["request"]["question"].clone();
    body["tokens"] = json!(tokens);
    body["nonce"] = v["request"]["nonce"].clone();
    body["audience"] = v["request"]["audience"].clone();
    let req = Request::post("/v1/verify")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let resp = app(state).oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
    let reply: Value = serde_json::from_slice(&bytes).unwrap();
    if status == StatusCode::OK {
        Ok(reply["outcome"].clone())
    } else {
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{reply}");
        assert_eq!(reply["error"], "invalid_presentation");
        // No token bytes in the answer.
        for t in tokens {
            assert!(!reply.to_string().contains(&t[..40]));
        }
        Err(reply["kind"].as_str().unwrap().to_owned())
    }
}

#[tokio::test]
async fn blind_session_vectors_replay_and_are_fresh() {
    let write = std::env::var_os("AGEBAND_WRITE_VECTORS").is_some();
    let dir = vectors_dir();
    let mut seen = 0;
    for c in cases() {
        let mut v = generate(&c);
        let path = dir.join(format!("{}.json", c.name));
        // The expected outcome is what the library computes for the valid cases.
        let got = library_result(&v);
        match (c.expect, &got) {
            ("ok", Ok(o)) => v["outcome"] = o.clone(),
            ("ok", Err(k)) => panic!("{}: refused {k}", c.name),
            (want, Err(k)) => assert_eq!(k, want, "{}", c.name),
            (want, Ok(o)) => panic!("{}: expected {want}, verified {o}", c.name),
        }
        let text = serde_json::to_string_pretty(&v).unwrap() + "\n";
        if write {
            std::fs::write(&path, &text).unwrap();
        } else {
            let stored = std::fs::read_to_string(&path)
                .unwrap_or_else(|_| panic!("{} missing; run with AGEBAND_WRITE_VECTORS=1", path.display()));
            assert_eq!(
                stored, text,
                "{} is stale; run with AGEBAND_WRITE_VECTORS=1",
                c.name
            );
        }
        // Replay the stored file through the library and the service.
        let stored: Value = serde_json::from_str(&text).unwrap();
        let lib = library_result(&stored);
        let expect = stored["expect"].as_str().unwrap();
        match &lib {
            Ok(o) => assert_eq!((expect, o), ("ok", &stored["outcome"]), "{}", c.name),
            Err(k) => assert_eq!(k, expect, "{}", c.name),
        }
        let over_http = if let Some(VpAnswer::Blind(tokens)) =
            answer_from_vp_token(stored["vp_token"].as_str().unwrap())
        {
            let http = http_result(&stored, &tokens).await;
            assert_eq!(http, lib, "{} over HTTP", c.name);
            true
        } else {
            false
        };
        // Every well-formed answer is replayed over HTTP too, not skipped by the shape check.
        assert_eq!(
            over_http,
            matches!(c.shape, Shape::Blind),
            "{}: replayed over HTTP",
            c.name
        );
        seen += 1;
    }
    // No file in the folder that no case generates.
    let files = std::fs::read_dir(&dir)
        .unwrap()
        .filter(|e| {
            let n = e.as_ref().unwrap().file_name();
            let n = n.to_string_lossy();
            n.ends_with(".json") && n != "keys.json"
        })
        .count();
    assert_eq!(files, seen);
}

/// Writes three fresh test-only RSA-2048 keys to `keys.json` (run once, by hand:
/// `cargo test -p ageband-verifier --all-features --test blind_session_vectors -- --ignored`).
#[test]
#[ignore]
fn write_fixture_keys() {
    let keys: Vec<String> = (0..3)
        .map(|_| {
            let k = ageband_blind::SecretKey::generate(&mut ageband_blind::SystemRng, 2048).unwrap();
            k.to_pkcs8_der()
                .unwrap()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect()
        })
        .collect();
    let doc = json!({
        "description": "Test-only RSA-2048 issuer keys for the verifier's blind-token tests and specs/vectors/blind-session (never for production). They are fixture keys 2 to 4; fixture key 1 is the RFC 9578 appendix A.2 key.",
        "pkcs8_der_hex": keys,
    });
    std::fs::write(
        vectors_dir().join("keys.json"),
        serde_json::to_string_pretty(&doc).unwrap() + "\n",
    )
    .unwrap();
}
