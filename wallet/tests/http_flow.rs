//! The wallet's HTTP client logic against small in-process fakes of an issuer and a verifier
//! on loopback. The fakes follow protocol.md §7–§8 closely enough to exercise the client;
//! end-to-end tests against the real services live in the workspace's `tests/`.

// A test fake: a panic is the right answer to a broken invariant here.
#![allow(clippy::unwrap_used)]

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use ageband_core::age::{
    AgeFacts, AgeQuestion, AssuranceLevel, BirthDate, Date, Predicate, Source, Threshold, ThresholdSet,
    facts_from_birth_date,
};
use ageband_core::b64;
use ageband_core::jwk::jwk_set;
use ageband_core::jws::{HeaderRules, RingSigner, Signer, UnverifiedJws};
use ageband_core::profile::{self, AgeVerifyOptions, CredentialTemplate, SingleIssuer};
use ageband_core::rng::{OsRng, random_b64};
use ageband_wallet::{EnrolError, Evidence, KdfParams, PresentError, RequestError, SystemClock, Wallet};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use serde_json::{Value, json};

type Shared = Arc<Fake>;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Misbehave {
    None,
    /// Gives credential 1 of each batch another expiry (a per-user tag).
    TagOne,
    /// Binds credential 0 to a key of its own.
    SwapKey,
}

struct Fake {
    base: String,
    key: RingSigner,
    misbehave: Mutex<Misbehave>,
    codes: Mutex<HashMap<String, (AgeFacts, AssuranceLevel, Source)>>,
    tokens: Mutex<HashMap<String, (AgeFacts, AssuranceLevel, Source)>>,
    nonces: Mutex<HashSet<String>>,
    sessions: Mutex<HashMap<String, Session>>,
    /// Issuer-signed JWTs of every presentation received.
    presented: Mutex<Vec<String>>,
}

#[derive(Clone, Debug)]
struct Session {
    nonce: String,
    state: String,
    sets: Vec<Vec<Predicate>>,
    result: Option<Result<Vec<Predicate>, String>>,
}

fn oauth_error(status: StatusCode, code: &str) -> Response {
    (
        status,
        Json(json!({"error": code, "error_description": "fake says no"})),
    )
        .into_response()
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn random() -> String {
    random_b64(&mut OsRng::new(), 16).unwrap()
}

async fn metadata(State(f): State<Shared>) -> Json<Value> {
    Json(json!({
        "credential_issuer": f.base,
        "credential_endpoint": format!("{}/credential", f.base),
        "nonce_endpoint": format!("{}/nonce", f.base),
        "batch_credential_issuance": {"batch_size": 30},
        "credential_configurations_supported": {"ageband_age_v1": {
            "format": "dc+sd-jwt", "vct": "urn:ageband:age:1",
            "cryptographic_binding_methods_supported": ["jwk"],
            "credential_signing_alg_values_supported": ["ES256"],
            "proof_types_supported": {"jwt": {"proof_signing_alg_values_supported": ["ES256"]}}
        }}
    }))
}

async fn as_metadata(State(f): State<Shared>) -> Json<Value> {
    Json(
        json!({"issuer": f.base, "token_endpoint": format!("{}/token", f.base),
        "grant_types_supported": ["urn:ietf:params:oauth:grant-type:pre-authorized_code"]}),
    )
}

async fn jwt_vc_issuer(State(f): State<Shared>) -> Json<Value> {
    Json(json!({"issuer": f.base, "jwks": jwk_set(&[f.key.public_jwk().clone()])}))
}

async fn evidence(State(f): State<Shared>, Json(body): Json<Value>) -> Response {
    let today = Date::from_unix_seconds(now());
    let set = ThresholdSet::default_set();
    let (birth, level, source) = match body["type"].as_str() {
        Some("self") => (
            body["birthdate"].as_str().unwrap_or(""),
            AssuranceLevel::Asserted,
            Source::SelfDeclared,
        ),
        Some("guardian") => {
            let nonce = body["nonce"].as_str().unwrap_or("");
            if !f.nonces.lock().unwrap().remove(nonce) {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_nonce");
            }
            let keys = SingleIssuer::new(&f.base, f.key.public_jwk().clone());
            let vp = body["presentation"].as_str().unwrap_or("");
            match profile::verify(vp, &keys, &AgeVerifyOptions::new(now(), &f.base, nonce)) {
                Ok(c) if c.predicates == [(Threshold::new(18).unwrap(), true)] => {}
                _ => return oauth_error(StatusCode::BAD_REQUEST, "invalid_evidence"),
            }
            (
                body["child_birthdate"].as_str().unwrap_or(""),
                AssuranceLevel::Basic,
                Source::GuardianDeclared,
            )
        }
        _ => return oauth_error(StatusCode::BAD_REQUEST, "invalid_request"),
    };
    let Ok(b) = BirthDate::parse(birth) else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_evidence");
    };
    let Ok(facts) = facts_from_birth_date(&b, today, &set, 90) else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_evidence");
    };
    let code = random();
    f.codes
        .lock()
        .unwrap()
        .insert(code.clone(), (facts, level, source));
    Json(json!({"pre_authorized_code": code, "expires_in": 300})).into_response()
}

async fn token(State(f): State<Shared>, Form(form): Form<HashMap<String, String>>) -> Response {
    if form.get("grant_type").map(String::as_str)
        != Some("urn:ietf:params:oauth:grant-type:pre-authorized_code")
    {
        return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type");
    }
    let Some(facts) = form
        .get("pre-authorized_code")
        .and_then(|c| f.codes.lock().unwrap().remove(c))
    else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
    };
    let t = random();
    f.tokens.lock().unwrap().insert(t.clone(), facts);
    Json(json!({"access_token": t, "token_type": "Bearer", "expires_in": 300})).into_response()
}

async fn nonce(State(f): State<Shared>) -> Json<Value> {
    let n = random();
    f.nonces.lock().unwrap().insert(n.clone());
    Json(json!({"c_nonce": n}))
}

async fn credential(State(f): State<Shared>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let Some((facts, level, source)) = bearer.and_then(|t| f.tokens.lock().unwrap().remove(t)) else {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_token");
    };
    if body["credential_configuration_id"] != "ageband_age_v1" {
        return oauth_error(StatusCode::BAD_REQUEST, "unknown_credential_configuration");
    }
    let rules = HeaderRules {
        typ: "openid4vci-proof+jwt",
        jwk_in_header: true,
    };
    let mut used_nonce = None;
    let mut keys = Vec::new();
    for p in body["proofs"]["jwt"].as_array().into_iter().flatten() {
        let Some(jws) = p
            .as_str()
            .and_then(|p| UnverifiedJws::parse(p, &rules, 4096).ok())
        else {
            return oauth_error(StatusCode::BAD_REQUEST, "invalid_proof");
        };
        let key = jws.header_jwk().expect("rules require jwk");
        if jws.verify(&key).is_err() || jws.payload["aud"] != f.base.as_str() {
            return oauth_error(StatusCode::BAD_REQUEST, "invalid_proof");
        }
        used_nonce = jws.payload["nonce"].as_str().map(str::to_owned);
        keys.push(key);
    }
    if keys.is_empty() || !used_nonce.is_some_and(|n| f.nonces.lock().unwrap().remove(&n)) {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_nonce");
    }
    let mode = *f.misbehave.lock().unwrap();
    let template = CredentialTemplate::from_facts(&f.base, &facts, level, source, 3);
    let creds: Vec<Value> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let mut t = template.clone();
            let mut k = k.clone();
            if mode == Misbehave::TagOne && i == 1 {
                t.exp = t.iat.add_days(30);
            }
            if mode == Misbehave::SwapKey && i == 0 {
                k = RingSigner::generate().unwrap().public_jwk().clone();
            }
            json!({"credential": profile::issue(&t, &k, &f.key, &mut OsRng::new()).unwrap()})
        })
        .collect();
    Json(json!({"credentials": creds})).into_response()
}

fn request_object(f: &Fake, id: &str) -> Option<Value> {
    let s = f.sessions.lock().unwrap().get(id)?.clone();
    if s.result.is_some() {
        return None;
    }
    let response_uri = format!("{}/v/{id}/response", f.base);
    let mut claims = Vec::new();
    let mut ids: Vec<String> = Vec::new();
    let cid = |(t, v): &Predicate| format!("age_over_{}_{v}", t.years());
    for p in s.sets.iter().flatten() {
        if !ids.contains(&cid(p)) {
            claims.push(json!({"id": cid(p), "path": [p.0.claim_name()], "values": [p.1]}));
            ids.push(cid(p));
        }
    }
    let claim_sets: Vec<Vec<String>> = s.sets.iter().map(|set| set.iter().map(cid).collect()).collect();
    Some(json!({
        "aud": "https://self-issued.me/v2",
        "client_id": format!("redirect_uri:{response_uri}"),
        "response_type": "vp_token",
        "response_mode": "direct_post",
        "response_uri": response_uri,
        "nonce": s.nonce,
        "state": s.state,
        "dcql_query": {"credentials": [{"id": "age", "format": "dc+sd-jwt",
            "meta": {"vct_values": ["urn:ageband:age:1"]}, "claims": claims, "claim_sets": claim_sets}]}
    }))
}

async fn get_request(
    State(f): State<Shared>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let Some(mut obj) = request_object(&f, &id) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match q.get("as").map(String::as_str) {
        // The request names a response URI on another origin (localhost instead of 127.0.0.1).
        Some("other-origin") => {
            let r = obj["response_uri"]
                .as_str()
                .unwrap()
                .replace("127.0.0.1", "localhost");
            obj["client_id"] = json!(format!("redirect_uri:{r}"));
            obj["response_uri"] = json!(r);
        }
        // The request's client_id differs from the link's.
        Some("other-client") => {
            let r = format!("{}/v/other/response", f.base);
            obj["client_id"] = json!(format!("redirect_uri:{r}"));
            obj["response_uri"] = json!(r);
        }
        _ => {}
    }
    if q.get("as").map(String::as_str) == Some("jwt") {
        let jwt = format!(
            "{}.{}.",
            b64::encode(r#"{"alg":"none","typ":"oauth-authz-req+jwt"}"#),
            b64::encode(obj.to_string())
        );
        ([("content-type", "application/oauth-authz-req+jwt")], jwt).into_response()
    } else {
        Json(obj).into_response()
    }
}

async fn post_response(
    State(f): State<Shared>,
    Path(id): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let mut sessions = f.sessions.lock().unwrap();
    let Some(s) = sessions.get_mut(&id) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if s.result.is_some() || form.get("state") != Some(&s.state) {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
    }
    if let Some(e) = form.get("error") {
        s.result = Some(Err(e.clone()));
        return Json(json!({})).into_response();
    }
    let token: Value =
        serde_json::from_str(form.get("vp_token").map_or("", String::as_str)).unwrap_or(Value::Null);
    let vp = token["age"][0].as_str().unwrap_or("");
    f.presented
        .lock()
        .unwrap()
        .push(vp.split('~').next().unwrap_or("").to_owned());
    let client_id = format!("redirect_uri:{}/v/{id}/response", f.base);
    let keys = SingleIssuer::new(&f.base, f.key.public_jwk().clone());
    let result = match profile::verify(vp, &keys, &AgeVerifyOptions::new(now(), &client_id, &s.nonce)) {
        Ok(c) if s.sets.contains(&c.predicates) => Ok(c.predicates),
        Ok(_) => Err("claim_set_mismatch".to_owned()),
        Err(e) => Err(e.kind().to_owned()),
    };
    let ok = result.is_ok();
    s.result = Some(result);
    if ok {
        Json(json!({})).into_response()
    } else {
        oauth_error(StatusCode::BAD_REQUEST, "invalid_request")
    }
}

async fn start() -> Shared {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let fake = Arc::new(Fake {
        base,
        key: RingSigner::generate().unwrap(),
        misbehave: Mutex::new(Misbehave::None),
        codes: Mutex::default(),
        tokens: Mutex::default(),
        nonces: Mutex::default(),
        sessions: Mutex::default(),
        presented: Mutex::default(),
    });
    let app = Router::new()
        .route("/.well-known/openid-credential-issuer", get(metadata))
        .route("/.well-known/oauth-authorization-server", get(as_metadata))
        .route("/.well-known/jwt-vc-issuer", get(jwt_vc_issuer))
        .route("/evidence", post(evidence))
        .route("/token", post(token))
        .route("/nonce", post(nonce))
        .route("/credential", post(credential))
        .route("/v/{id}/request", get(get_request))
        .route("/v/{id}/response", post(post_response))
        .with_state(fake.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    fake
}

impl Fake {
    /// A session and its by-value link; `by_ref` gives a request_uri link instead
    /// (`Some("json")` or `Some("jwt")`).
    fn session(&self, sets: Vec<Vec<Predicate>>, by_ref: Option<&str>) -> (String, String) {
        let id = random();
        let s = Session {
            nonce: random(),
            state: random(),
            sets,
            result: None,
        };
        self.sessions.lock().unwrap().insert(id.clone(), s);
        let obj = request_object(self, &id).unwrap();
        let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let link = match by_ref {
            Some(kind) => format!(
                "openid4vp://?client_id={}&request_uri={}",
                enc(obj["client_id"].as_str().unwrap()),
                enc(&format!("{}/v/{id}/request?as={kind}", self.base))
            ),
            None => {
                let mut q = url::form_urlencoded::Serializer::new(String::new());
                for k in [
                    "client_id",
                    "response_type",
                    "response_mode",
                    "response_uri",
                    "nonce",
                    "state",
                ] {
                    q.append_pair(k, obj[k].as_str().unwrap());
                }
                q.append_pair("dcql_query", &obj["dcql_query"].to_string());
                format!("openid4vp://?{}", q.finish())
            }
        };
        (id, link)
    }

    fn result(&self, id: &str) -> Option<Result<Vec<Predicate>, String>> {
        self.sessions.lock().unwrap()[id].result.clone()
    }
}

fn t(y: u8) -> Threshold {
    Threshold::new(y).unwrap()
}

fn band() -> Vec<Vec<Predicate>> {
    AgeQuestion::Band(ThresholdSet::default_set()).claim_sets(false)
}

/// A birth date that makes the holder `age` years old today (and not near a birthday).
fn born(age: i32) -> BirthDate {
    let today = Date::from_unix_seconds(now());
    let d = today.add_days(-180);
    BirthDate::new(Date::new(d.year() - age, d.month(), d.day().min(28)).unwrap())
}

fn wallet(dir: &std::path::Path) -> Wallet {
    Wallet::create_with(dir, "pw", KdfParams::INSECURE_TEST, Arc::new(SystemClock)).unwrap()
}

#[tokio::test]
async fn enrol_then_present_each_credential_once() {
    let f = start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut w = wallet(dir.path());
    let done = ageband_wallet::enrol(&mut w, &f.base, Evidence::SelfDeclared { birthdate: born(14) }, 3)
        .await
        .unwrap();
    assert_eq!(done.count, 3);
    assert_eq!(done.info.band().to_string(), "13–15");
    assert_eq!(
        (done.info.assurance, done.info.source),
        (AssuranceLevel::Asserted, Source::SelfDeclared)
    );
    assert_eq!(w.len(), 3);

    for round in 0..3 {
        let (id, link) = f.session(band(), None);
        let start = Instant::now();
        let mut shown = None;
        let out = ageband_wallet::present(&mut w, &link, |s| {
            shown = Some(s.clone());
            true
        })
        .await
        .unwrap();
        eprintln!(
            "presentation {round} end to end on loopback: {:?}",
            start.elapsed()
        );
        let shown = shown.unwrap();
        assert_eq!(shown, out.summary);
        assert_eq!(shown.disclosed, vec![(t(13), true), (t(16), false)]);
        assert_eq!(shown.remaining, 2 - round);
        assert_eq!(f.result(&id), Some(Ok(vec![(t(13), true), (t(16), false)])));
        assert_eq!(w.len(), 2 - round);
    }
    // Each presentation used a different credential (a different issuer signature).
    let presented: HashSet<String> = f.presented.lock().unwrap().iter().cloned().collect();
    assert_eq!(presented.len(), 3);
    // Reopened from disk: empty. The next request says how to enrol again.
    drop(w);
    let mut w = Wallet::open(dir.path(), "pw").unwrap();
    assert!(w.is_empty());
    let (id, link) = f.session(band(), None);
    let err = ageband_wallet::present(&mut w, &link, |_| panic!("no consent asked without a credential"))
        .await
        .unwrap_err();
    assert!(matches!(err, PresentError::NoCredential { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("enrol again: ageband wallet --wallet DIR enrol")
    );
    assert_eq!(f.result(&id), Some(Err("access_denied".into())));
}

#[tokio::test]
async fn requests_by_reference_json_and_jwt() {
    let f = start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut w = wallet(dir.path());
    ageband_wallet::enrol(&mut w, &f.base, Evidence::SelfDeclared { birthdate: born(40) }, 2)
        .await
        .unwrap();
    for kind in ["json", "jwt"] {
        let sets = AgeQuestion::AtLeast(t(18)).claim_sets(false);
        let (id, link) = f.session(sets, Some(kind));
        let out = ageband_wallet::present(&mut w, &link, |_| true).await.unwrap();
        assert_eq!(out.summary.disclosed, vec![(t(18), true)], "{kind}");
        assert_eq!(f.result(&id), Some(Ok(vec![(t(18), true)])), "{kind}");
    }
    assert!(w.is_empty());
}

#[tokio::test]
async fn by_reference_refusals_share_nothing() {
    let f = start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut w = wallet(dir.path());
    ageband_wallet::enrol(&mut w, &f.base, Evidence::SelfDeclared { birthdate: born(40) }, 1)
        .await
        .unwrap();
    type Case = (&'static str, fn(&PresentError) -> bool);
    let cases: [Case; 2] = [
        ("other-origin", |e| {
            matches!(e, PresentError::Request(RequestError::OriginMismatch))
        }),
        ("other-client", |e| {
            matches!(e, PresentError::Request(RequestError::ClientIdMismatch))
        }),
    ];
    for (kind, want) in cases {
        let (id, mut link) = f.session(band(), Some(kind));
        if kind == "other-origin" {
            // The link names the other origin too; only request_uri points at the verifier.
            let (cid, rest) = link.split_once("&request_uri=").unwrap();
            link = format!("{}&request_uri={rest}", cid.replace("127.0.0.1", "localhost"));
        }
        let err = ageband_wallet::present(&mut w, &link, |_| panic!("no consent for a refused request"))
            .await
            .unwrap_err();
        assert!(want(&err), "{kind}: {err:?}");
        assert_eq!(f.result(&id), None, "{kind}: nothing sent");
    }
    // A session that is over: the request is gone (404).
    let (id, link) = f.session(band(), Some("json"));
    f.sessions.lock().unwrap().get_mut(&id).unwrap().result = Some(Err("expired".into()));
    let err = ageband_wallet::present(&mut w, &link, |_| true)
        .await
        .unwrap_err();
    assert!(
        matches!(err, PresentError::Http { step: "request", .. }),
        "{err:?}"
    );
    assert_eq!(w.len(), 1);
}

#[tokio::test]
async fn issuer_nonce_is_a_live_c_nonce() {
    let f = start().await;
    let n = ageband_wallet::issuer_nonce(&f.base).await.unwrap();
    assert!(f.nonces.lock().unwrap().contains(&n));
    let err = ageband_wallet::issuer_nonce("http://example.com")
        .await
        .unwrap_err();
    assert!(
        matches!(err, EnrolError::Http { step: "metadata", .. }),
        "{err:?}"
    );
}

/// The futures can be spawned on a multi-threaded runtime.
#[tokio::test]
async fn futures_are_send() {
    fn send<T: Send>(t: T) -> T {
        t
    }
    let f = start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut w = wallet(dir.path());
    let base = f.base.clone();
    let done = tokio::spawn(async move {
        let ev = Evidence::SelfDeclared { birthdate: born(20) };
        let r = send(ageband_wallet::enrol(&mut w, &base, ev, 1))
            .await
            .map(|e| e.count);
        (r, w)
    });
    let (r, mut w) = done.await.unwrap();
    assert_eq!(r.unwrap(), 1);
    let (_, link) = f.session(band(), None);
    send(ageband_wallet::present(&mut w, &link, |_| true))
        .await
        .unwrap();
}

#[tokio::test]
async fn decline_shares_nothing_and_keeps_the_credential() {
    let f = start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut w = wallet(dir.path());
    ageband_wallet::enrol(&mut w, &f.base, Evidence::SelfDeclared { birthdate: born(17) }, 1)
        .await
        .unwrap();
    let (id, link) = f.session(band(), None);
    let err = ageband_wallet::present(&mut w, &link, |s| {
        assert_eq!(s.band.to_string(), "16–17");
        false
    })
    .await
    .unwrap_err();
    assert!(matches!(err, PresentError::Declined));
    assert_eq!(w.len(), 1);
    assert_eq!(f.result(&id), Some(Err("access_denied".into())));
}

#[tokio::test]
async fn a_credential_is_used_up_even_when_sending_fails() {
    let f = start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut w = wallet(dir.path());
    ageband_wallet::enrol(&mut w, &f.base, Evidence::SelfDeclared { birthdate: born(30) }, 2)
        .await
        .unwrap();
    // The verifier refuses (the session was already answered): the credential is gone anyway.
    let (id, link) = f.session(band(), None);
    f.sessions.lock().unwrap().get_mut(&id).unwrap().result = Some(Err("done".into()));
    let err = ageband_wallet::present(&mut w, &link, |_| true)
        .await
        .unwrap_err();
    assert!(matches!(err, PresentError::Refused { .. }), "{err:?}");
    assert_eq!(w.len(), 1);
    // The verifier is unreachable: same.
    let dead = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = dead.local_addr().unwrap().port();
    drop(dead);
    let (_, link) = f.session(band(), None);
    let link = link.replace(
        &f.base.replace(':', "%3A").replace('/', "%2F"),
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
    assert!(Wallet::open(dir.path(), "pw").unwrap().is_empty());
}

#[tokio::test]
async fn a_bad_batch_stores_nothing() {
    let f = start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut w = wallet(dir.path());
    for mode in [Misbehave::TagOne, Misbehave::SwapKey] {
        *f.misbehave.lock().unwrap() = mode;
        let err = ageband_wallet::enrol(&mut w, &f.base, Evidence::SelfDeclared { birthdate: born(15) }, 3)
            .await
            .unwrap_err();
        assert!(
            matches!(err, EnrolError::BadCredential { .. }),
            "{mode:?}: {err:?}"
        );
        assert!(w.is_empty());
    }
    drop(w);
    assert!(Wallet::open(dir.path(), "pw").unwrap().is_empty());
    // Other refusals: wrong issuer URL, too many, an issuer error.
    let mut w = Wallet::open(dir.path(), "pw").unwrap();
    *f.misbehave.lock().unwrap() = Misbehave::None;
    let other = f.base.replace("127.0.0.1", "localhost");
    let err = ageband_wallet::enrol(&mut w, &other, Evidence::SelfDeclared { birthdate: born(15) }, 3)
        .await
        .unwrap_err();
    assert!(matches!(err, EnrolError::IssuerMismatch { .. }), "{err:?}");
    let err = ageband_wallet::enrol(
        &mut w,
        &f.base,
        Evidence::SelfDeclared { birthdate: born(15) },
        31,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            err,
            EnrolError::Count {
                requested: 31,
                max: 30
            }
        ),
        "{err:?}"
    );
    let future = BirthDate::parse("2999-01-01").unwrap();
    let err = ageband_wallet::enrol(&mut w, &f.base, Evidence::SelfDeclared { birthdate: future }, 3)
        .await
        .unwrap_err();
    let mut chain = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(s) = source {
        chain.push_str(&format!(": {s}"));
        source = s.source();
    }
    assert!(chain.contains("invalid_evidence"), "{chain}");
    assert!(w.is_empty());
}

#[tokio::test]
async fn guardian_enrolment_uses_one_adult_credential() {
    let f = start().await;
    let adult_dir = tempfile::tempdir().unwrap();
    let child_dir = tempfile::tempdir().unwrap();
    let mut adult = wallet(adult_dir.path());
    ageband_wallet::enrol(
        &mut adult,
        &f.base,
        Evidence::SelfDeclared { birthdate: born(41) },
        2,
    )
    .await
    .unwrap();
    let mut child = wallet(child_dir.path());
    let ev = Evidence::Guardian {
        adult: &mut adult,
        child_birthdate: born(9),
    };
    let done = ageband_wallet::enrol(&mut child, &f.base, ev, 5).await.unwrap();
    assert_eq!(
        (done.count, done.info.source, done.info.band().to_string()),
        (5, Source::GuardianDeclared, "under 13".into())
    );
    assert_eq!(adult.len(), 1);
    // A minor's wallet cannot vouch for anyone.
    let other = tempfile::tempdir().unwrap();
    let mut w = wallet(other.path());
    let ev = Evidence::Guardian {
        adult: &mut child,
        child_birthdate: born(5),
    };
    let err = ageband_wallet::enrol(&mut w, &f.base, ev, 1).await.unwrap_err();
    assert!(matches!(err, EnrolError::NoGuardianCredential), "{err:?}");
    assert_eq!(child.len(), 5);
}
