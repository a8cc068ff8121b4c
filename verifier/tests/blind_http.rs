//! The service with blind tokens (blind-profile.md §12.4–§12.5, protocol.md §8.6): sessions
//! offering both profiles (`"profiles"`), `direct_post` with `age_blind`, `POST /v1/verify` with
//! `"tokens"`, every refusal of §12.4 over HTTP, nothing of a token in logs or answers; and the
//! `PrivateToken` gate on a real axum route on 127.0.0.1:0.
#![cfg(feature = "server")]
#![allow(missing_docs, clippy::unwrap_used)]

mod blind_common;

use std::sync::Arc;

use ageband_core::age::{AgeQuestion, Threshold};
use ageband_verifier::AgeOutcome;
use ageband_verifier::openid4vp::blind_vp_token;
use ageband_verifier::private_token::{Gate, require_private_token};
use ageband_verifier::server::{AppState, ServiceConfig, app};
use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::Extension;
use axum::http::{Request, StatusCode, header};
use axum::routing::get;
use blind_common::*;
use serde_json::{Value, json};
use tower::ServiceExt;

const BASE: &str = "https://verifier.example";

fn state() -> AppState {
    AppState::new(verifier(), ServiceConfig::new(BASE)).unwrap()
}

async fn call(state: &AppState, req: Request<Body>) -> (StatusCode, Value) {
    let resp = app(state.clone()).oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = to_bytes(resp.into_body(), 1 << 20).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

fn post_json(uri: &str, body: &Value) -> Request<Body> {
    Request::post(uri)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

fn get_req(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap()
}

fn form(uri: &str, pairs: &[(&str, &str)]) -> Request<Body> {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    Request::post(uri)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(s.finish()))
        .unwrap()
}

/// Creates a session; returns its id, the 201 body and the request object.
async fn session(st: &AppState, question: Value) -> (String, Value, Value) {
    let (status, created) = call(st, post_json("/v1/sessions", &question)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    let (status, request) = call(st, get_req(&format!("/v1/sessions/{id}/request"))).await;
    assert_eq!(status, StatusCode::OK);
    (id, created, request)
}

/// The wallet's blind answer to a session request: tokens of `slots` bound to its nonce and
/// client_id.
fn blind_answer(request: &Value, slots: &[usize]) -> Vec<String> {
    let nonce = request["nonce"].as_str().unwrap();
    let aud = request["client_id"].as_str().unwrap();
    slots.iter().map(|&s| present(s, nonce, aud)).collect()
}

async fn respond(st: &AppState, id: &str, request: &Value, vp_token: &str) -> (StatusCode, Value) {
    let state_param = request["state"].as_str().unwrap();
    call(
        st,
        form(
            &format!("/v1/sessions/{id}/response"),
            &[("vp_token", vp_token), ("state", state_param)],
        ),
    )
    .await
}

async fn status(st: &AppState, id: &str) -> Value {
    call(st, get_req(&format!("/v1/sessions/{id}"))).await.1
}

#[tokio::test]
async fn sessions_offer_both_profiles_and_accept_age_blind() {
    let st = state();
    let (id, created, request) = session(&st, json!({"band": [13, 16, 18]})).await;
    assert_eq!(created["profiles"], json!(["sd_jwt", "blind_token"]));
    let q = &request["dcql_query"];
    assert_eq!(q["credentials"][0]["id"], "age");
    assert_eq!(q["credentials"][1]["id"], "age_blind");
    assert_eq!(
        q["credentials"][1]["meta"],
        json!({"token_type": 2, "issuers": [ISSUER], "min_floor": 2})
    );
    assert_eq!(
        q["credential_sets"],
        json!([{"options": [["age_blind"], ["age"]]}])
    );
    // The link carries the same query.
    let link = url::Url::parse(created["link"].as_str().unwrap()).unwrap();
    let dcql: Value =
        serde_json::from_str(&link.query_pairs().find(|(k, _)| k == "dcql_query").unwrap().1).unwrap();
    assert_eq!(&dcql, q);

    let tokens = blind_answer(&request, &[OVER13_L2, UNDER16_L2]);
    let (code, reply) = respond(&st, &id, &request, &blind_vp_token(&tokens)).await;
    assert_eq!((code, reply), (StatusCode::OK, json!({})));
    let s = status(&st, &id).await;
    assert_eq!(
        s,
        json!({"status": "verified", "error": null, "outcome": {
            "at_least": 13, "under": 16, "assurance": "basic", "source": null,
            "issuer": ISSUER, "profile": "blind_token", "band": "13-15"}})
    );
    // Nothing of the tokens in the status.
    for t in &tokens {
        for part in t.split('.') {
            assert!(!s.to_string().contains(&part[..20.min(part.len())]));
        }
    }
}

#[tokio::test]
async fn profiles_member_chooses_the_offer() {
    let st = state();
    // Blind only.
    let (_, created, request) = session(&st, json!({"at_least": 18, "profiles": ["blind_token"]})).await;
    assert_eq!(created["profiles"], json!(["blind_token"]));
    let creds = request["dcql_query"]["credentials"].as_array().unwrap();
    assert_eq!(creds.len(), 1);
    assert_eq!(creds[0]["id"], "age_blind");
    assert!(request["dcql_query"].get("credential_sets").is_none());
    // SD-JWT only.
    let (_, created, request) = session(&st, json!({"at_least": 18, "profiles": ["sd_jwt"]})).await;
    assert_eq!(created["profiles"], json!(["sd_jwt"]));
    assert_eq!(request["dcql_query"]["credentials"].as_array().unwrap().len(), 1);
    // min_assurance standard: floor 3.
    let (_, _, request) = session(&st, json!({"at_least": 18, "min_assurance": "standard"})).await;
    assert_eq!(request["dcql_query"]["credentials"][1]["meta"]["min_floor"], 3);
    // Not possible for blind: falls back to SD-JWT by default, refused when asked for.
    for q in [
        json!({"at_least": 21}),
        json!({"at_least": 18, "min_assurance": "enhanced"}),
    ] {
        let (_, created, request) = session(&st, q.clone()).await;
        assert_eq!(created["profiles"], json!(["sd_jwt"]), "{q}");
        assert!(request["dcql_query"].get("credential_sets").is_none());
        let mut only = q.clone();
        only["profiles"] = json!(["blind_token"]);
        let (code, e) = call(&st, post_json("/v1/sessions", &only)).await;
        assert_eq!(code, StatusCode::BAD_REQUEST, "{only}");
        assert_eq!(e["error"], "invalid_request");
    }
    for bad in [
        json!([]),
        json!(["sd_jwt", "sd_jwt"]),
        json!(["mdoc"]),
        json!("sd_jwt"),
    ] {
        let (code, _) = call(
            &st,
            post_json("/v1/sessions", &json!({"at_least": 18, "profiles": bad})),
        )
        .await;
        assert_eq!(code, StatusCode::BAD_REQUEST, "{bad}");
    }
}

#[tokio::test]
async fn session_refusals() {
    let st = state();
    // age_blind to a session that offered SD-JWT only.
    let (id, _, request) = session(&st, json!({"at_least": 18, "profiles": ["sd_jwt"]})).await;
    let vp = blind_vp_token(&blind_answer(&request, &[OVER18_L2]));
    let (code, e) = respond(&st, &id, &request, &vp).await;
    assert_eq!(
        (code, e["error_description"].as_str()),
        (StatusCode::BAD_REQUEST, Some("malformed"))
    );
    assert_eq!(status(&st, &id).await["error"], "malformed");
    // age to a session that offered blind only.
    let (id, _, request) = session(&st, json!({"at_least": 18, "profiles": ["blind_token"]})).await;
    let (code, e) = respond(&st, &id, &request, r#"{"age":["x~y~"]}"#).await;
    assert_eq!(
        (code, e["error_description"].as_str()),
        (StatusCode::BAD_REQUEST, Some("malformed"))
    );
    // One session per refusal kind of §12.4 that a session can reach.
    let cases: Vec<(Value, Vec<usize>, &str)> = vec![
        (
            json!({"at_least": 18}),
            vec![OVER18_L2, OVER18_L3],
            "claim_set_mismatch",
        ),
        (
            json!({"at_least": 13}),
            vec![OVER13_L2, UNDER16_L2],
            "over_disclosure",
        ),
        (json!({"at_least": 18}), vec![UNDER16_L2], "claim_set_mismatch"),
        (
            json!({"band": [13, 16, 18]}),
            vec![OVER13_L2, UNDER16_L2, OVER18_L2],
            "malformed",
        ),
        (
            json!({"at_least": 18, "min_assurance": "standard"}),
            vec![OVER18_L2],
            "floor_too_low",
        ),
    ];
    for (q, slots, want) in cases {
        let (id, _, request) = session(&st, q.clone()).await;
        let vp = blind_vp_token(&blind_answer(&request, &slots));
        let (code, e) = respond(&st, &id, &request, &vp).await;
        assert_eq!(code, StatusCode::BAD_REQUEST, "{q}");
        assert_eq!(e["error_description"], want, "{q}");
        assert_eq!(status(&st, &id).await["status"], "rejected");
    }
    // A presentation answered in one session cannot answer another: its binding names the
    // first session's nonce and audience (the spent set then also refuses it, see the vectors).
    let (id, _, request) = session(&st, json!({"at_least": 18})).await;
    let p = blind_answer(&request, &[OVER18_L2]);
    let (code, _) = respond(&st, &id, &request, &blind_vp_token(&p)).await;
    assert_eq!(code, StatusCode::OK);
    let (id2, _, request2) = session(&st, json!({"at_least": 18})).await;
    let (code, e) = respond(&st, &id2, &request2, &blind_vp_token(&p)).await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    assert_eq!(e["error_description"], "bad_binding");
}

#[tokio::test]
async fn stateless_verify_with_tokens() {
    let st = state();
    let body =
        |tokens: Value| json!({"tokens": tokens, "nonce": NONCE, "audience": AUDIENCE, "band": [13, 16, 18]});
    let tokens = vec![
        present(OVER13_L2, NONCE, AUDIENCE),
        present(UNDER16_L2, NONCE, AUDIENCE),
    ];
    let (code, reply) = call(&st, post_json("/v1/verify", &body(json!(tokens)))).await;
    assert_eq!(code, StatusCode::OK, "{reply}");
    assert_eq!(reply["outcome"]["band"], "13-15");
    assert_eq!(reply["outcome"]["profile"], "blind_token");
    // The nonce is consumed.
    let again = vec![
        present(OVER13_L2, NONCE, AUDIENCE),
        present(UNDER16_L2, NONCE, AUDIENCE),
    ];
    let (code, reply) = call(&st, post_json("/v1/verify", &body(json!(again)))).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reply["kind"], "nonce_replayed");
    assert_eq!(reply["error"], "invalid_presentation");
    // Replayed tokens (another nonce of the platform).
    let (code, reply) = call(
        &st,
        post_json(
            "/v1/verify",
            &json!({"tokens": tokens, "nonce": "YW5vdGhlci1ub25jZS1vZi10aGUtcGxhdGZvcm0", "audience": AUDIENCE, "band": [13, 16, 18]}),
        ),
    )
    .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reply["kind"], "bad_binding");
    // Shapes: both or neither of presentation and tokens; an empty array; not strings.
    let p = present(OVER18_L2, NONCE, AUDIENCE);
    for b in [
        json!({"tokens": [p], "presentation": "x", "nonce": NONCE, "audience": AUDIENCE, "at_least": 18}),
        json!({"nonce": NONCE, "audience": AUDIENCE, "at_least": 18}),
        json!({"tokens": [1], "nonce": NONCE, "audience": AUDIENCE, "at_least": 18}),
    ] {
        let (code, e) = call(&st, post_json("/v1/verify", &b)).await;
        assert_eq!(code, StatusCode::BAD_REQUEST, "{b}");
        assert_eq!(e["error"], "invalid_request");
    }
    let (code, e) = call(&st, post_json("/v1/verify", &body(json!([])))).await;
    assert_eq!(
        (code, e["kind"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("malformed"))
    );
}

/// The per-token refusals of §9.1 reach `POST /v1/verify` with their kinds; a full spent set is
/// a 503.
#[tokio::test]
async fn stateless_per_token_refusals_and_server_faults() {
    let body =
        |tokens: Vec<String>| json!({"tokens": tokens, "nonce": NONCE, "audience": AUDIENCE, "at_least": 18});
    let p = present(OVER18_L2, NONCE, AUDIENCE);
    let parts: Vec<&str> = p.split('.').collect();
    let token = ageband_core::b64::decode(parts[0], 512).unwrap();
    let with_token = |t: &[u8]| format!("{}.{}.{}", ageband_core::b64::encode(t), parts[1], parts[2]);
    let mut wrong_type = token.clone();
    wrong_type[1] = 1;
    let mut forged = token.clone();
    forged[300] ^= 0x80;
    let cases = [
        (with_token(&wrong_type), "wrong_token_type"),
        (with_token(&token[..353]), "wrong_token_length"),
        (with_token(&forged), "bad_token_signature"),
        (
            present(OVER18_L2, NONCE, "https://elsewhere.example"),
            "bad_binding",
        ),
    ];
    for (t, want) in cases {
        let (code, e) = call(&state(), post_json("/v1/verify", &body(vec![t]))).await;
        assert_eq!(
            (code, e["kind"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some(want))
        );
    }
    // The key's month is over.
    let late = verifier().with_clock(Arc::new(ageband_verifier::ManualClock::new(month().not_after())));
    let st = AppState::new(late, ServiceConfig::new(BASE)).unwrap();
    let (code, e) = call(&st, post_json("/v1/verify", &body(vec![p.clone()]))).await;
    assert_eq!(
        (code, e["kind"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("key_not_live"))
    );
    // A full spent set fails closed as a server fault.
    let full = verifier().with_spent_set(Arc::new(std::sync::Mutex::new(
        ageband_blind::profile::MemorySpentSet::new(0, 0),
    )));
    let st = AppState::new(full, ServiceConfig::new(BASE)).unwrap();
    let (code, e) = call(&st, post_json("/v1/verify", &body(vec![p]))).await;
    assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(e["error"], "temporarily_unavailable");
}

#[derive(Clone, Default)]
struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn logs_carry_no_token_or_nonce() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::FULL)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let st = state();
    let (id, _, request) = session(&st, json!({"at_least": 18})).await;
    let tokens = blind_answer(&request, &[OVER18_L2]);
    let (code, _) = respond(&st, &id, &request, &blind_vp_token(&tokens)).await;
    assert_eq!(code, StatusCode::OK);
    let bad = blind_answer(&request, &[UNDER16_L2]);
    let (id2, _, request2) = session(&st, json!({"at_least": 18})).await;
    let (code, _) = respond(&st, &id2, &request2, &blind_vp_token(&bad)).await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(text.contains("/v1/sessions/{id}/response"), "{text}");
    let mut secrets: Vec<&str> = vec![
        request["nonce"].as_str().unwrap(),
        request2["nonce"].as_str().unwrap(),
    ];
    for t in tokens.iter().chain(&bad) {
        secrets.extend(t.split('.').map(|p| &p[..24]));
    }
    for s in secrets {
        assert!(!text.contains(s), "log leaks {s}");
    }
}

/// A platform route gated with the PrivateToken middleware, served on 127.0.0.1:0.
#[tokio::test]
async fn gate_protects_a_real_route() {
    let v = verifier();
    let gate = Arc::new(
        Gate::new(
            v,
            ISSUER,
            AgeQuestion::AtLeast(Threshold::new(18).unwrap()),
            AUDIENCE,
        )
        .unwrap(),
    );
    let app = Router::new()
        .route(
            "/adults",
            get(|Extension(o): Extension<AgeOutcome>| async move { format!("welcome, {}", o.band_label()) }),
        )
        .route_layer(axum::middleware::from_fn_with_state(
            gate.clone(),
            require_private_token,
        ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/adults", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let client = reqwest::Client::new();

    // No header: 401 with the challenge.
    let r = client.get(&url).send().await.unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::UNAUTHORIZED);
    let challenge = r.headers()[header::WWW_AUTHENTICATE].to_str().unwrap().to_owned();
    assert!(challenge.starts_with("PrivateToken challenge="), "{challenge}");
    assert!(challenge.contains("ageband-fact=\"age_over_18\""));
    let nonce = challenge
        .split("nonce=\"")
        .nth(1)
        .unwrap()
        .trim_end_matches('"')
        .to_owned();

    // The client answers with a token bound to the nonce and the platform's origin.
    let p = issue(OVER18_L2).present(nonce.as_bytes(), AUDIENCE).unwrap();
    let authz = format!("{}, nonce=\"{nonce}\"", p.to_private_token_header());
    let r = client
        .get(&url)
        .header(header::AUTHORIZATION, &authz)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::OK);
    assert_eq!(r.text().await.unwrap(), "welcome, 18+");

    // Replay: refused with a fresh challenge.
    let r = client
        .get(&url)
        .header(header::AUTHORIZATION, &authz)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::UNAUTHORIZED);
    let fresh = r.headers()[header::WWW_AUTHENTICATE].to_str().unwrap().to_owned();
    assert_ne!(fresh, challenge);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["kind"], "token_spent");
    assert!(!body.to_string().contains(&nonce));

    // A token of the wrong fact: 403 (the answer, not the token, is refused).
    let nonce = fresh
        .split("nonce=\"")
        .nth(1)
        .unwrap()
        .trim_end_matches('"')
        .to_owned();
    let p = issue(UNDER16_L2).present(nonce.as_bytes(), AUDIENCE).unwrap();
    let r = client
        .get(&url)
        .header(
            header::AUTHORIZATION,
            format!("{}, nonce=\"{nonce}\"", p.to_private_token_header()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::FORBIDDEN);
    assert_eq!(r.json::<Value>().await.unwrap()["kind"], "claim_set_mismatch");

    // A nonce this gate did not issue: 401 invalid_nonce.
    let other = Gate::new(
        verifier(),
        ISSUER,
        AgeQuestion::AtLeast(Threshold::new(18).unwrap()),
        AUDIENCE,
    )
    .unwrap();
    let c = other.challenge().unwrap();
    let nonce = c
        .split("nonce=\"")
        .nth(1)
        .unwrap()
        .trim_end_matches('"')
        .to_owned();
    let p = issue(OVER18_L2).present(nonce.as_bytes(), AUDIENCE).unwrap();
    let r = client
        .get(&url)
        .header(
            header::AUTHORIZATION,
            format!("{}, nonce=\"{nonce}\"", p.to_private_token_header()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::UNAUTHORIZED);
    assert_eq!(r.json::<Value>().await.unwrap()["kind"], "invalid_nonce");

    // Another scheme or garbage: 401.
    for h in ["Bearer abc", "PrivateToken token=\"x\""] {
        let r = client
            .get(&url)
            .header(header::AUTHORIZATION, h)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), reqwest::StatusCode::UNAUTHORIZED, "{h}");
        assert!(r.headers().contains_key(header::WWW_AUTHENTICATE));
    }
}
