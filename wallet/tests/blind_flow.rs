//! The wallet's blind-token side (blind-profile.md §12.3–§12.5) against the REAL issuer
//! (`ageband-issuer`, served on 127.0.0.1:0 with a small schedule: two facts, both floors, this
//! month and the next) and a small in-test verifier endpoint that checks answers with
//! `ageband_blind::profile::verify_presentation`: both profiles from one evidence step, the
//! issuer's slots honoured, directory pinning, storage across reopen, status counts, purge,
//! presentation in a session, single use when sending fails, the ambiguity refusal, and the
//! `PrivateToken` header form.

// Test code: a panic is the right answer to a broken invariant here.
#![allow(clippy::unwrap_used, missing_docs)]

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use ageband_blind::profile::{
    BlindFact, BlindIssuer, BlindPresentation, BlindQuery, BlindVerifyError, Directory, Floor,
    MemorySpentSet, Month, TokenChallenge, issuer_name_of, verify_presentation,
};
use ageband_core::b64;
use ageband_core::jws::{RingSigner, Signer, sign_compact};
use ageband_core::rng::{OsRng, random_b64};
use ageband_issuer::{CheckProvider, Issuer, IssuerConfig, JwksSource, Kek, OpenOptions};
use ageband_wallet::{
    BirthDate, BlindEnrolError, BlindEnrolment, EnrolOptions, Evidence, KdfParams, ManualClock, PresentError,
    PrivateTokenError, RequestError, Shared, Wallet, Zeroizing,
};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Form, Json, Router};
use serde_json::{Value, json};

const CHECK: &str = "https://check.example";

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn random() -> String {
    random_b64(&mut OsRng::new(), 16).unwrap()
}

fn fact(name: &str) -> BlindFact {
    BlindFact::from_name(name).unwrap()
}

/// The real issuer on loopback.
struct TestIssuer {
    base: String,
    check: RingSigner,
    _dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl TestIssuer {
    /// Serves a fresh issuer on `listener` (its data folder and keys are new).
    async fn start_on(listener: tokio::net::TcpListener, batch: usize) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let check = RingSigner::generate().unwrap();
        let mut jwk = check.public_jwk().to_json();
        jwk["kid"] = "chk-1".into();
        let mut c = IssuerConfig::default();
        c.check_providers.push(CheckProvider::new(
            CHECK,
            JwksSource::Inline(json!({"keys": [jwk]})),
        ));
        c.blind.facts = vec!["age_over_13".into(), "age_under_16".into()];
        c.blind.months_ahead = 1;
        c.blind.batch_size = batch;
        c.quota.batches = 100;
        let base = format!("http://{}", listener.local_addr().unwrap());
        c.public_url = Some(base.clone());
        let opts = OpenOptions {
            kek: Some(Kek::from_bytes([7; 32])),
            ..OpenOptions::default()
        };
        let issuer = Arc::new(Issuer::open_with(dir.path(), c, opts).unwrap());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(ageband_issuer::serve(listener, issuer, async move {
            let _ = rx.await;
        }));
        TestIssuer {
            base,
            check,
            _dir: dir,
            stop: Some(tx),
            task,
        }
    }

    async fn start(batch: usize) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::start_on(listener, batch).await
    }

    async fn stop(mut self) -> std::net::SocketAddr {
        let addr: std::net::SocketAddr = self.base.trim_start_matches("http://").parse().unwrap();
        let _ = self.stop.take().unwrap().send(());
        let _ = (&mut self.task).await;
        addr
    }

    /// A check assertion for someone born on `birthdate` (a fresh subject each time, so that
    /// quotas never interfere between tests).
    fn assertion(&self, birthdate: &str) -> Evidence<'static> {
        let now = unix_now();
        let jwt = sign_compact(
            &self.check,
            &json!({"alg": "ES256", "typ": "JWT", "kid": "chk-1"}),
            &json!({"iss": CHECK, "aud": self.base, "iat": now, "exp": now + 600,
                    "jti": random(), "sub": random(), "birthdate": birthdate}),
        )
        .unwrap();
        Evidence::Assertion {
            assertion: Zeroizing::new(jwt),
        }
    }

    async fn directory(&self) -> Directory {
        let bytes = reqwest::get(format!(
            "{}/.well-known/private-token-issuer-directory",
            self.base
        ))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
        Directory::parse(&bytes).unwrap()
    }

    fn name(&self) -> String {
        issuer_name_of(&self.base).unwrap()
    }
}

/// A 14-year-old (13–15) far from a birthday: `age_over_13` and `age_under_16` hold now and for
/// the published months.
fn fourteen() -> String {
    let year = ageband_core::age::Date::from_unix_seconds(unix_now()).year() - 14;
    format!("{year}-06-15")
}

fn wallet(dir: &std::path::Path) -> (Wallet, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(unix_now()));
    let w = Wallet::create_with(dir, "pw", KdfParams::INSECURE_TEST, clock.clone()).unwrap();
    (w, clock)
}

// ---------------------------------------------------------------------------------------------
// A small verifier endpoint: sessions offering both profiles; answers checked with
// `verify_presentation`.

#[derive(Clone, Debug)]
struct Session {
    nonce: String,
    state: String,
    claim_sets: Vec<Vec<&'static str>>,
    min_floor: u8,
    /// `Some(Ok(facts with floors))`, `Some(Err(kind))`.
    result: Option<Result<Vec<(String, u8)>, String>>,
    /// Refuse whatever comes (as after a finished session).
    refuse: bool,
}

struct Verifier {
    base: String,
    issuer: BlindIssuer,
    issuer_url: String,
    spent: Mutex<MemorySpentSet>,
    sessions: Mutex<HashMap<String, Session>>,
}

impl Verifier {
    async fn start(issuer: &TestIssuer) -> Arc<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let v = Arc::new(Verifier {
            base,
            issuer: BlindIssuer::new(&issuer.name(), issuer.directory().await).unwrap(),
            issuer_url: issuer.base.clone(),
            spent: Mutex::new(MemorySpentSet::new(1000, 16)),
            sessions: Mutex::default(),
        });
        let app = Router::new()
            .route("/v/{id}/response", post(response))
            .with_state(v.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        v
    }

    /// A band session 13/16/18 offering blind tokens (min floor `min_floor`) and SD-JWT; the
    /// blind claim sets are `claim_sets`. Returns (id, link).
    fn session(&self, claim_sets: Vec<Vec<&'static str>>, min_floor: u8) -> (String, String) {
        let id = random();
        let s = Session {
            nonce: random(),
            state: random(),
            claim_sets: claim_sets.clone(),
            min_floor,
            result: None,
            refuse: false,
        };
        let response_uri = format!("{}/v/{id}/response", self.base);
        let mut facts: Vec<&str> = Vec::new();
        for f in claim_sets.iter().flatten() {
            if !facts.contains(f) {
                facts.push(f);
            }
        }
        let dcql = json!({
            "credentials": [
                {"id": "age", "format": "dc+sd-jwt", "meta": {"vct_values": ["urn:ageband:age:1"]},
                 "claims": [
                    {"id": "age_over_13_false", "path": ["age_over_13"], "values": [false]},
                    {"id": "age_over_13_true", "path": ["age_over_13"], "values": [true]},
                    {"id": "age_over_16_false", "path": ["age_over_16"], "values": [false]},
                    {"id": "age_over_16_true", "path": ["age_over_16"], "values": [true]},
                    {"id": "age_over_18_false", "path": ["age_over_18"], "values": [false]},
                    {"id": "age_over_18_true", "path": ["age_over_18"], "values": [true]}],
                 "claim_sets": [["age_over_13_false"], ["age_over_13_true", "age_over_16_false"],
                                ["age_over_16_true", "age_over_18_false"], ["age_over_18_true"]]},
                {"id": "age_blind", "format": "ageband-private-token", "multiple": true,
                 "meta": {"token_type": 2, "issuers": [self.issuer_url], "min_floor": min_floor},
                 "claims": facts.iter().map(|f| json!({"id": f, "path": [f]})).collect::<Vec<_>>(),
                 "claim_sets": claim_sets}
            ],
            "credential_sets": [{"options": [["age_blind"], ["age"]]}]
        });
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        q.append_pair("client_id", &format!("redirect_uri:{response_uri}"));
        q.append_pair("response_type", "vp_token");
        q.append_pair("response_mode", "direct_post");
        q.append_pair("response_uri", &response_uri);
        q.append_pair("nonce", &s.nonce);
        q.append_pair("state", &s.state);
        q.append_pair("dcql_query", &dcql.to_string());
        self.sessions.lock().unwrap().insert(id.clone(), s);
        (id, format!("openid4vp://?{}", q.finish()))
    }

    fn result(&self, id: &str) -> Option<Result<Vec<(String, u8)>, String>> {
        self.sessions.lock().unwrap()[id].result.clone()
    }
}

fn oauth_error(kind: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"error": "invalid_request", "error_description": kind})),
    )
        .into_response()
}

async fn response(
    State(v): State<Arc<Verifier>>,
    Path(id): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let mut sessions = v.sessions.lock().unwrap();
    let Some(s) = sessions.get_mut(&id) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if s.refuse || s.result.is_some() || form.get("state") != Some(&s.state) {
        return oauth_error("session_done");
    }
    if let Some(e) = form.get("error") {
        s.result = Some(Err(e.clone()));
        return Json(json!({})).into_response();
    }
    let vp: Value = serde_json::from_str(form.get("vp_token").map_or("", String::as_str)).unwrap_or_default();
    let client_id = format!("redirect_uri:{}/v/{id}/response", v.base);
    let result = (|| {
        let obj = vp.as_object().ok_or("malformed")?;
        // An SD-JWT answer (checked by the SD-JWT tests, not here).
        if obj.len() == 1 && obj.contains_key("age") {
            return Ok(vec![("sd_jwt".to_owned(), 0)]);
        }
        let list = match (obj.len(), obj.get("age_blind")) {
            (1, Some(Value::Array(a))) if (1..=2).contains(&a.len()) => a,
            _ => return Err("malformed".to_owned()),
        };
        let mut got = Vec::new();
        let mut spent = v.spent.lock().unwrap();
        for p in list {
            let p = BlindPresentation::parse(p.as_str().ok_or("malformed")?).map_err(|e| e.to_string())?;
            let key = v
                .issuer
                .directory()
                .key_by_id(&p.token.token_key_id)
                .ok_or("unknown_key")?;
            let q = BlindQuery {
                fact: key.fact(),
                min_floor: Floor::from_number(u64::from(s.min_floor)).unwrap(),
                verifier_nonce: s.nonce.as_bytes(),
                audience: &client_id,
            };
            let facts = verify_presentation(&p, &v.issuer, &q, unix_now(), &mut *spent)
                .map_err(|e| e.kind().to_owned())?;
            got.push((facts.fact.name(), facts.floor.number()));
        }
        let names: BTreeSet<&str> = got.iter().map(|(f, _)| f.as_str()).collect();
        if !s
            .claim_sets
            .iter()
            .any(|set| set.iter().copied().collect::<BTreeSet<_>>() == names)
        {
            return Err("claim_set_mismatch".to_owned());
        }
        Ok(got)
    })();
    let ok = result.is_ok();
    s.result = Some(result);
    if ok {
        Json(json!({})).into_response()
    } else {
        oauth_error("rejected")
    }
}

fn band_sets() -> Vec<Vec<&'static str>> {
    vec![
        vec!["age_under_13"],
        vec!["age_over_13", "age_under_16"],
        vec!["age_over_16", "age_under_18"],
        vec!["age_over_18"],
    ]
}

/// No run of 40 or more base64url characters: no token, key or directory bytes.
fn no_long_base64(text: &str) -> bool {
    let mut run = 0;
    for c in text.chars() {
        if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
            run += 1;
            if run >= 40 {
                return false;
            }
        } else {
            run = 0;
        }
    }
    true
}

// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn both_profiles_from_one_evidence_step_stored_presented_and_purged() {
    let issuer = TestIssuer::start(30).await;
    let dir = tempfile::tempdir().unwrap();
    let (mut w, clock) = wallet(dir.path());
    let month = Month::containing(unix_now()).unwrap();
    let next = month.plus(1).unwrap();

    let t = Instant::now();
    let done = ageband_wallet::enrol(&mut w, &issuer.base, issuer.assertion(&fourteen()), 3)
        .await
        .unwrap();
    eprintln!(
        "enrolment (3 SD-JWT + 30 blind, debug build, key generation included): {:?}",
        t.elapsed()
    );
    assert_eq!(done.count, 3);
    assert_eq!(done.info.band().to_string(), "13–15");
    let BlindEnrolment::Stored { count, slots } = &done.blind else {
        panic!("{:?}", done.blind)
    };
    assert_eq!(*count, 30);
    // The allocation: 30 over 8 slots, the current month and floor 2 first.
    let (o13, u16) = (fact("age_over_13"), fact("age_under_16"));
    let want = vec![
        (o13, Floor::Level2, month, 4),
        (u16, Floor::Level2, month, 4),
        (o13, Floor::Level3, month, 4),
        (u16, Floor::Level3, month, 4),
        (o13, Floor::Level2, next, 4),
        (u16, Floor::Level2, next, 4),
        (o13, Floor::Level3, next, 3),
        (u16, Floor::Level3, next, 3),
    ];
    let mut got = slots.clone();
    got.sort_by_key(|(f, fl, m, _)| (*m, *fl, *f));
    let mut want_sorted = want.clone();
    want_sorted.sort_by_key(|(f, fl, m, _)| (*m, *fl, *f));
    assert_eq!(got, want_sorted);
    assert!(done.blind.to_string().starts_with("stored 30 blind token(s)"));
    assert_eq!((w.len(), w.blind_len()), (3, 30));

    // Status: counts per fact, floor and month.
    let s = w.status();
    assert_eq!((s.unused, s.blind_unused, s.blind_expired), (3, 30, 0));
    assert_eq!(s.blind.len(), 8);
    for g in &s.blind {
        let n = want
            .iter()
            .find(|x| (x.0, x.1, x.2) == (g.fact, g.floor, g.month))
            .unwrap()
            .3;
        assert_eq!(g.unused, n, "{g:?}");
        assert_eq!(g.live, g.month == month);
        assert_eq!(g.issuer, issuer.base);
    }
    let text = s.to_string();
    assert!(text.contains("30 unused blind token(s)"), "{text}");
    assert!(
        text.contains(&format!("  4 × age_over_13  floor 2 for {month} from")),
        "{text}"
    );

    // Nothing secret in Debug output.
    for dbg in [
        format!("{w:?}"),
        format!("{done:?}"),
        format!("{s:?}"),
        format!("{:?}", w.blind_tokens()),
    ] {
        assert!(no_long_base64(&dbg), "{dbg}");
    }

    // Storage round trip across reopen, and the file size with 30 tokens.
    let before = w.blind_tokens();
    drop(w);
    let size = std::fs::metadata(dir.path().join(ageband_wallet::FILE_NAME))
        .unwrap()
        .len();
    eprintln!(
        "wallet file with 3 SD-JWT credentials, 30 blind tokens and the pinned keys of 8 slots: {size} bytes"
    );
    let mut w = Wallet::open_with(dir.path(), "pw", clock.clone()).unwrap();
    assert_eq!(w.blind_tokens(), before);
    assert_eq!(w.status(), s);

    // A session offering both profiles: the blind one answers with the 13–15 claim set, one
    // token per fact at the lowest floor.
    let v = Verifier::start(&issuer).await;
    let (id, link) = v.session(band_sets(), 2);
    let mut shown = None;
    let out = ageband_wallet::present(&mut w, &link, |summary| {
        shown = Some(summary.clone());
        true
    })
    .await
    .unwrap();
    let shown = shown.unwrap();
    assert_eq!(shown, out.summary);
    assert_eq!(shown.band.to_string(), "13–15");
    assert_eq!(shown.issuer, issuer.base);
    let Shared::BlindTokens { tokens } = &shown.shared else {
        panic!("{shown:?}")
    };
    assert_eq!(
        tokens.iter().map(|t| (t.0, t.1)).collect::<Vec<_>>(),
        [(o13, Floor::Level2), (u16, Floor::Level2)]
    );
    let consent = shown.to_string();
    assert!(consent.contains("age_over_13 and age_under_16"), "{consent}");
    assert_eq!(shown.remaining, 7);
    let mut result = v.result(&id).unwrap().unwrap();
    result.sort();
    assert_eq!(
        result,
        vec![("age_over_13".to_owned(), 2), ("age_under_16".to_owned(), 2)]
    );
    assert_eq!(
        (w.len(), w.blind_len()),
        (3, 28),
        "the SD-JWT credentials are untouched"
    );

    // Floor 3 asked: floor-3 tokens answer.
    let (id, link) = v.session(band_sets(), 3);
    ageband_wallet::present(&mut w, &link, |_| true).await.unwrap();
    assert!(v.result(&id).unwrap().unwrap().iter().all(|(_, fl)| *fl == 3));
    assert_eq!(w.blind_len(), 26);

    // Purge: at the turn of the month this month's tokens are dropped, next month's stay.
    drop(w);
    let mut w = Wallet::open_with(dir.path(), "pw", clock.clone()).unwrap();
    assert_eq!(w.blind_len(), 26);
    assert_eq!(w.purge_expired().unwrap(), 0);
    clock.set(month.not_after());
    let s = w.status();
    assert_eq!((s.blind_unused, s.blind_expired), (14, 12));
    assert!(s.blind.iter().all(|g| g.live && g.month == next));
    assert!(s.to_string().contains("12 blind token(s) of ended months stored"));
    assert_eq!(w.purge_expired_counts().unwrap(), (0, 12));
    drop(w);
    let w = Wallet::open_with(dir.path(), "pw", clock.clone()).unwrap();
    assert_eq!(w.blind_len(), 14);
    assert!(w.blind_tokens().iter().all(|t| t.month == next));
    issuer.stop().await;
}

#[tokio::test]
async fn header_form_round_trip_and_refusals() {
    let issuer = TestIssuer::start(12).await;
    let dir = tempfile::tempdir().unwrap();
    let (mut w, _clock) = wallet(dir.path());
    let done = ageband_wallet::enrol(&mut w, &issuer.base, issuer.assertion(&fourteen()), 1)
        .await
        .unwrap();
    assert!(
        matches!(done.blind, BlindEnrolment::Stored { count: 12, .. }),
        "{:?}",
        done.blind
    );
    let directory = issuer.directory().await;
    let month = Month::containing(unix_now()).unwrap();
    let o13 = fact("age_over_13");
    let key2 = directory.key_for(o13, Floor::Level2, month).unwrap();
    let challenge_b64 = b64::encode(TokenChallenge::ageband(&issuer.name()).unwrap().encode());
    let value = |challenge: &str, key: &str, fact: &str, floor: u8, nonce: &str| {
        format!(
            "PrivateToken challenge=\"{challenge}\", token-key=\"{key}\", ageband-fact=\"{fact}\", \
             ageband-min-floor=\"{floor}\", nonce=\"{nonce}\""
        )
    };
    let spki2 = b64::encode(key2.public_key().to_spki());
    let nonce = random();
    let audience = "https://platform.example";
    let before = w.blind_len();
    let answer = ageband_wallet::private_token_header(
        &mut w,
        &value(&challenge_b64, &spki2, "age_over_13", 2, &nonce),
        audience,
        |s| {
            assert_eq!((s.fact, s.floor), (o13, Floor::Level2));
            assert!(s.to_string().contains("age_over_13"));
            true
        },
    )
    .unwrap();
    assert_eq!(w.blind_len(), before - 1);
    assert!(
        answer.header.ends_with(&format!(", nonce=\"{nonce}\"")),
        "the nonce is echoed"
    );
    assert!(no_long_base64(&format!("{answer:?}")));
    let p = BlindPresentation::parse_private_token_header(&answer.header).unwrap();
    let bi = BlindIssuer::new(&issuer.name(), directory.clone()).unwrap();
    let mut spent = MemorySpentSet::new(100, 16);
    let q = BlindQuery {
        fact: o13,
        min_floor: Floor::Level2,
        verifier_nonce: nonce.as_bytes(),
        audience,
    };
    let facts = verify_presentation(&p, &bi, &q, unix_now(), &mut spent).unwrap();
    assert_eq!(
        (facts.fact, facts.floor, facts.month),
        (o13, Floor::Level2, month)
    );
    assert_eq!(
        verify_presentation(&p, &bi, &q, unix_now(), &mut spent),
        Err(BlindVerifyError::TokenSpent)
    );
    // Padded base64url and odd spacing and case are accepted.
    let padded = format!(
        "privatetoken  challenge={challenge_b64}=,token-key=\"{spki2}\" ,Ageband-Fact=age_over_13,\tageband-min-floor=2, nonce={nonce}, extra=\"x\""
    );
    ageband_wallet::private_token_header(&mut w, &padded, audience, |_| true).unwrap();
    assert_eq!(w.blind_len(), before - 2);

    // Refusals share nothing and keep every token.
    let left = w.blind_len();
    let other_issuer = b64::encode(TokenChallenge::ageband("other.example").unwrap().encode());
    let key3 = b64::encode(
        directory
            .key_for(o13, Floor::Level3, month)
            .unwrap()
            .public_key()
            .to_spki(),
    );
    type Case = (String, &'static str, fn(&PrivateTokenError) -> bool);
    let cases: Vec<Case> = vec![
        (
            value(&other_issuer, &spki2, "age_over_13", 2, &nonce),
            audience,
            |e| matches!(e, PrivateTokenError::UnknownIssuer),
        ),
        (
            value(&challenge_b64, &key3, "age_over_13", 2, &nonce),
            audience,
            |e| matches!(e, PrivateTokenError::KeyMismatch),
        ),
        (
            value(&challenge_b64, &spki2, "age_over_18", 2, &nonce),
            audience,
            |e| matches!(e, PrivateTokenError::NoToken { .. }),
        ),
        (
            value(&challenge_b64, &spki2, "age_over_13", 2, "short"),
            audience,
            |e| matches!(e, PrivateTokenError::Challenge { .. }),
        ),
        (
            value(&challenge_b64, &spki2, "age_over_17", 2, &nonce),
            audience,
            |e| matches!(e, PrivateTokenError::Challenge { .. }),
        ),
        (
            value(&challenge_b64, &spki2, "age_over_13", 4, &nonce),
            audience,
            |e| matches!(e, PrivateTokenError::Challenge { .. }),
        ),
        (
            format!(
                "Bearer realm=\"x\", {}",
                value(&challenge_b64, &spki2, "age_over_13", 2, &nonce)
            ),
            audience,
            |e| matches!(e, PrivateTokenError::Challenge { .. }),
        ),
        (
            value(&challenge_b64, &spki2, "age_over_13", 2, &nonce)
                .replace(", nonce", ", nonce=\"a\", nonce"),
            audience,
            |e| matches!(e, PrivateTokenError::Challenge { .. }),
        ),
        (
            value(&challenge_b64, "AAAA", "age_over_13", 2, &nonce),
            audience,
            |e| matches!(e, PrivateTokenError::Challenge { .. }),
        ),
        (
            format!(
                "{}{}",
                value(&challenge_b64, &spki2, "age_over_13", 2, &nonce),
                " ".repeat(5000)
            ),
            audience,
            |e| matches!(e, PrivateTokenError::Challenge { .. }),
        ),
        (value(&challenge_b64, &spki2, "age_over_13", 2, &nonce), "", |e| {
            matches!(e, PrivateTokenError::Audience)
        }),
    ];
    for (i, (challenge, aud, want)) in cases.iter().enumerate() {
        let err = ageband_wallet::private_token_header(&mut w, challenge, aud, |_| true).unwrap_err();
        assert!(want(&err), "case {i}: {err:?}");
    }
    let err = ageband_wallet::private_token_header(
        &mut w,
        &value(&challenge_b64, &spki2, "age_over_13", 2, &nonce),
        audience,
        |_| false,
    )
    .unwrap_err();
    assert!(matches!(err, PrivateTokenError::Declined));
    assert_eq!(w.blind_len(), left);
    // Mangled challenges never panic.
    let good = value(&challenge_b64, &spki2, "age_over_13", 2, &nonce);
    for i in 0..good.len() {
        let _ = ageband_wallet::parse_private_token_challenge(&good[..i]);
        let mut m = good.clone();
        m.replace_range(i..=i, "\"");
        let _ = ageband_wallet::parse_private_token_challenge(&m);
    }
    issuer.stop().await;
}

#[tokio::test]
async fn self_declared_and_opted_out_get_sd_jwt_only() {
    let issuer = TestIssuer::start(4).await;
    let dir = tempfile::tempdir().unwrap();
    let (mut w, _) = wallet(dir.path());
    let ev = Evidence::SelfDeclared {
        birthdate: BirthDate::parse(&fourteen()).unwrap(),
    };
    let done = ageband_wallet::enrol(&mut w, &issuer.base, ev, 2).await.unwrap();
    assert!(
        matches!(done.blind, BlindEnrolment::NotOffered { .. }),
        "{:?}",
        done.blind
    );
    assert_eq!((w.len(), w.blind_len()), (2, 0));
    let done = ageband_wallet::enrol_with(
        &mut w,
        &issuer.base,
        issuer.assertion(&fourteen()),
        EnrolOptions::sd_jwt_only(1),
    )
    .await
    .unwrap();
    assert_eq!(done.blind, BlindEnrolment::Skipped);
    assert_eq!((w.len(), w.blind_len()), (3, 0));
    // A smaller blind batch than the issuer's.
    let done = ageband_wallet::enrol_with(
        &mut w,
        &issuer.base,
        issuer.assertion(&fourteen()),
        EnrolOptions {
            blind_count: Some(3),
            ..EnrolOptions::new(1)
        },
    )
    .await
    .unwrap();
    assert!(
        matches!(done.blind, BlindEnrolment::Stored { count: 3, .. }),
        "{:?}",
        done.blind
    );
    assert_eq!(w.blind_len(), 3);
    issuer.stop().await;
}

#[tokio::test]
async fn a_changed_directory_is_refused_and_only_the_blind_part_aborts() {
    let a = TestIssuer::start(4).await;
    let dir = tempfile::tempdir().unwrap();
    let (mut w, _) = wallet(dir.path());
    let done = ageband_wallet::enrol(&mut w, &a.base, a.assertion(&fourteen()), 1)
        .await
        .unwrap();
    assert!(matches!(done.blind, BlindEnrolment::Stored { count: 4, .. }));
    let tokens = w.blind_tokens();
    // The same issuer URL now serves other keys for the same slots (a fresh issuer on the same
    // port): a second view of the directory that would tag this wallet.
    let addr = a.stop().await;
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let b = TestIssuer::start_on(listener, 4).await;
    let done = ageband_wallet::enrol(&mut w, &b.base, b.assertion(&fourteen()), 2)
        .await
        .unwrap();
    assert_eq!(done.count, 2, "the SD-JWT part is stored");
    assert_eq!(
        done.blind,
        BlindEnrolment::Failed(BlindEnrolError::DirectoryChanged)
    );
    assert!(done.blind.to_string().contains("slot_key_changed"));
    assert_eq!(w.len(), 3);
    assert_eq!(w.blind_tokens(), tokens, "no blind token stored or lost");
    // The pin survives a reopen.
    drop(w);
    let mut w = Wallet::open(dir.path(), "pw").unwrap();
    let done = ageband_wallet::enrol(&mut w, &b.base, b.assertion(&fourteen()), 1)
        .await
        .unwrap();
    assert_eq!(
        done.blind,
        BlindEnrolment::Failed(BlindEnrolError::DirectoryChanged)
    );
    b.stop().await;
}

#[tokio::test]
async fn tokens_are_used_up_even_when_sending_fails_and_ambiguity_is_refused() {
    let issuer = TestIssuer::start(8).await;
    let dir = tempfile::tempdir().unwrap();
    let (mut w, _) = wallet(dir.path());
    ageband_wallet::enrol(&mut w, &issuer.base, issuer.assertion(&fourteen()), 2)
        .await
        .unwrap();
    assert_eq!(w.blind_len(), 8);
    let v = Verifier::start(&issuer).await;

    // Two claim sets that both fit: refused, nothing shared, nothing used.
    let (id, link) = v.session(vec![vec!["age_over_13"], vec!["age_under_16"]], 2);
    let err = ageband_wallet::present(&mut w, &link, |_| panic!("no consent for an ambiguous request"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, PresentError::Request(RequestError::Ambiguous)),
        "{err:?}"
    );
    assert_eq!(v.result(&id), None);
    assert_eq!((w.len(), w.blind_len()), (2, 8));

    // The verifier refuses the answer: the tokens are gone anyway.
    let (id, link) = v.session(band_sets(), 2);
    v.sessions.lock().unwrap().get_mut(&id).unwrap().refuse = true;
    let err = ageband_wallet::present(&mut w, &link, |_| true)
        .await
        .unwrap_err();
    assert!(matches!(err, PresentError::Refused { .. }), "{err:?}");
    assert_eq!(w.blind_len(), 6);

    // The verifier is unreachable: same, and saved before sending.
    let dead = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = dead.local_addr().unwrap().port();
    drop(dead);
    let (_, link) = v.session(band_sets(), 2);
    let link = link.replace(
        &v.base.replace(':', "%3A").replace('/', "%2F"),
        &format!("http%3A%2F%2F127.0.0.1%3A{port}"),
    );
    let err = ageband_wallet::present(&mut w, &link, |_| true)
        .await
        .unwrap_err();
    assert!(
        matches!(err, PresentError::Http { step: "response", .. }),
        "{err:?}"
    );
    drop(w);
    let mut w = Wallet::open(dir.path(), "pw").unwrap();
    assert_eq!((w.len(), w.blind_len()), (2, 4));

    // Declining keeps the tokens.
    let (id, link) = v.session(band_sets(), 2);
    let err = ageband_wallet::present(&mut w, &link, |_| false)
        .await
        .unwrap_err();
    assert!(matches!(err, PresentError::Declined));
    assert_eq!(v.result(&id), Some(Err("access_denied".into())));
    assert_eq!(w.blind_len(), 4);

    // No blind set fits (a band the holder is not in is asked at floor 3 only for 18+): the
    // SD-JWT option answers exactly as without the blind query.
    let (_, link) = v.session(vec![vec!["age_over_18"]], 3);
    let out = ageband_wallet::present(&mut w, &link, |_| true).await.unwrap();
    assert!(matches!(out.summary.shared, Shared::SdJwt { .. }));
    assert_eq!((w.len(), w.blind_len()), (1, 4));
    issuer.stop().await;
}
