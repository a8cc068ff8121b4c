//! The HTTP service: every endpoint's answers and error paths through `app(state)` with
//! `tower::ServiceExt::oneshot`, and the real server on 127.0.0.1:0 driven with reqwest.
#![cfg(feature = "server")]
#![allow(missing_docs, clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;

use ageband_core::age::{Predicate, Threshold, choose_claim_set};
use ageband_core::jwk::jwk_set;
use ageband_core::jws::Signer;
use ageband_core::profile;
use ageband_verifier::openid4vp::vp_token;
use ageband_verifier::server::{AppState, ServiceConfig, app, serve};
use ageband_verifier::{TrustList, TrustedIssuer, Verifier};
use axum::body::{Body, to_bytes};
use axum::http::{Request, StatusCode, header};
use common::*;
use serde_json::{Value, json};
use tower::ServiceExt;

const KEY: &str = "platform-secret";
const BASE: &str = "https://verifier.example";

fn state(fx: &Fx, api_key: bool) -> AppState {
    let mut cfg = ServiceConfig::new(BASE);
    if api_key {
        cfg = cfg.with_api_key(KEY);
    }
    AppState::new(fx.verifier.clone(), cfg).unwrap()
}

async fn call(state: &AppState, req: Request<Body>) -> (StatusCode, Value) {
    let resp = app(state.clone()).oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = to_bytes(resp.into_body(), 1 << 20).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

fn json_req(method: &str, uri: &str, body: &str, key: Option<&str>) -> Request<Body> {
    let mut b = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::CONTENT_TYPE, "application/json");
    if let Some(k) = key {
        b = b.header(header::AUTHORIZATION, format!("Bearer {k}"));
    }
    b.body(Body::from(body.to_owned())).unwrap()
}

fn get(uri: &str, key: Option<&str>) -> Request<Body> {
    json_req("GET", uri, "", key)
}

fn form(uri: &str, body: &str) -> Request<Body> {
    Request::builder()
        .method("POST")
        .uri(uri)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body.to_owned()))
        .unwrap()
}

fn form_body(pairs: &[(&str, &str)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

/// Creates a session and fetches its request object.
async fn session(state: &AppState, question: &str) -> (String, Value) {
    let (status, created) = call(state, json_req("POST", "/v1/sessions", question, Some(KEY))).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    let (status, request) = call(state, get(&format!("/v1/sessions/{id}/request"), None)).await;
    assert_eq!(status, StatusCode::OK);
    (id, request)
}

/// The wallet side: picks the one fitting claim set of the DCQL query and presents it.
fn answer(fx: &Fx, credential: &str, request: &Value) -> String {
    let q = &request["dcql_query"]["credentials"][0];
    let claims: BTreeMap<&str, Predicate> = q["claims"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let t = Threshold::from_claim_name(c["path"][0].as_str().unwrap()).unwrap();
            (c["id"].as_str().unwrap(), (t, c["values"][0].as_bool().unwrap()))
        })
        .collect();
    let sets: Vec<Vec<Predicate>> = q["claim_sets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            s.as_array()
                .unwrap()
                .iter()
                .map(|id| claims[id.as_str().unwrap()])
                .collect()
        })
        .collect();
    let held = profile::held_predicates(credential).unwrap();
    let set = choose_claim_set(&sets, &held).expect("a fitting set");
    let ts: Vec<Threshold> = set.iter().map(|p| p.0).collect();
    let nonce = request["nonce"].as_str().unwrap();
    let aud = request["client_id"].as_str().unwrap();
    profile::present(credential, &ts, &fx.holder, aud, nonce, fx.now).unwrap()
}

#[tokio::test]
async fn session_flow_and_request_shape() {
    let fx = Fx::new();
    let st = state(&fx, true);
    let (status, created) = call(
        &st,
        json_req("POST", "/v1/sessions", r#"{"band":[13,16,18]}"#, Some(KEY)),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let id = created["id"].as_str().unwrap();
    assert_eq!(id.len(), 22);
    assert_eq!(created["request_uri"], format!("{BASE}/v1/sessions/{id}/request"));
    assert_eq!(created["expires_in"], 300);
    let link = url::Url::parse(created["link"].as_str().unwrap()).unwrap();
    assert_eq!(link.scheme(), "openid4vp");
    let by_value: BTreeMap<String, String> = link.query_pairs().into_owned().collect();

    let (status, request) = call(&st, get(&format!("/v1/sessions/{id}/request"), None)).await;
    assert_eq!(status, StatusCode::OK);
    let response_uri = format!("{BASE}/v1/sessions/{id}/response");
    assert_eq!(request["response_uri"], response_uri);
    assert_eq!(request["client_id"], format!("redirect_uri:{response_uri}"));
    assert_eq!(request["response_type"], "vp_token");
    assert_eq!(request["response_mode"], "direct_post");
    assert_eq!(
        request["dcql_query"]["credentials"][0]["claim_sets"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
    let (nonce, state_param) = (
        request["nonce"].as_str().unwrap(),
        request["state"].as_str().unwrap(),
    );
    assert!(nonce != state_param && nonce != id && state_param != id);
    // The link carries the same request by value.
    for k in [
        "aud",
        "client_id",
        "response_type",
        "response_mode",
        "response_uri",
        "nonce",
        "state",
    ] {
        assert_eq!(by_value[k], request[k].as_str().unwrap(), "{k}");
    }
    for k in ["dcql_query", "client_metadata"] {
        assert_eq!(
            serde_json::from_str::<Value>(&by_value[k]).unwrap(),
            request[k],
            "{k}"
        );
    }
    assert_eq!(by_value.len(), 9);

    let (status, s) = call(&st, get(&format!("/v1/sessions/{id}"), Some(KEY))).await;
    assert_eq!(
        (status, s),
        (
            StatusCode::OK,
            json!({"status": "pending", "outcome": null, "error": null})
        )
    );

    let vp = answer(&fx, &fx.credential(), &request);
    let body = form_body(&[("vp_token", &vp_token(&vp)), ("state", state_param)]);
    let (status, reply) = call(&st, form(&format!("/v1/sessions/{id}/response"), &body)).await;
    assert_eq!((status, reply), (StatusCode::OK, json!({})));

    let (_, s) = call(&st, get(&format!("/v1/sessions/{id}"), Some(KEY))).await;
    assert_eq!(
        s,
        json!({"status": "verified", "error": null, "outcome": {
            "at_least": 13, "under": 16, "assurance": "standard", "source": "official_id",
            "issuer": ISS, "profile": "sd_jwt", "band": "13-15"}})
    );
    // Single use: the request is gone and a second response is refused.
    let (status, _) = call(&st, get(&format!("/v1/sessions/{id}/request"), None)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, e) = call(&st, form(&format!("/v1/sessions/{id}/response"), &body)).await;
    assert_eq!(
        (status, e["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );
    let (_, s) = call(&st, get(&format!("/v1/sessions/{id}"), Some(KEY))).await;
    assert_eq!(s["status"], "verified");
}

#[tokio::test]
async fn rejected_responses_end_the_session() {
    let fx = Fx::new();
    let st = state(&fx, false);
    // A presentation for another audience.
    let (id, request) = session(&st, r#"{"at_least":13}"#).await;
    let mut other = request.clone();
    other["client_id"] = "redirect_uri:https://evil.example/cb".into();
    let vp = answer(&fx, &fx.credential(), &other);
    let body = form_body(&[
        ("vp_token", &vp_token(&vp)),
        ("state", request["state"].as_str().unwrap()),
    ]);
    let (status, e) = call(&st, form(&format!("/v1/sessions/{id}/response"), &body)).await;
    assert_eq!(
        (status, e),
        (
            StatusCode::BAD_REQUEST,
            json!({"error": "invalid_request", "error_description": "kb_audience"})
        )
    );
    let (_, s) = call(&st, get(&format!("/v1/sessions/{id}"), None)).await;
    assert_eq!(
        s,
        json!({"status": "rejected", "outcome": null, "error": "kb_audience"})
    );

    // A vp_token of the wrong shape.
    let (id, request) = session(&st, r#"{"under":16}"#).await;
    let body = form_body(&[
        ("vp_token", r#"{"age":"x~y"}"#),
        ("state", request["state"].as_str().unwrap()),
    ]);
    let (status, e) = call(&st, form(&format!("/v1/sessions/{id}/response"), &body)).await;
    assert_eq!(
        (status, e["error_description"].as_str()),
        (StatusCode::BAD_REQUEST, Some("malformed"))
    );

    // A wallet's refusal.
    let (id, request) = session(&st, r#"{"at_least":18,"min_assurance":"basic"}"#).await;
    let body = form_body(&[
        ("error", "access_denied"),
        ("state", request["state"].as_str().unwrap()),
    ]);
    let (status, _) = call(&st, form(&format!("/v1/sessions/{id}/response"), &body)).await;
    assert_eq!(status, StatusCode::OK);
    let (_, s) = call(&st, get(&format!("/v1/sessions/{id}"), None)).await;
    assert_eq!(
        s,
        json!({"status": "rejected", "outcome": null, "error": "access_denied"})
    );

    // A minimum assurance above the credential's.
    let (id, request) = session(&st, r#"{"at_least":13,"min_assurance":"enhanced"}"#).await;
    let vp = answer(&fx, &fx.credential(), &request);
    let body = form_body(&[
        ("vp_token", &vp_token(&vp)),
        ("state", request["state"].as_str().unwrap()),
    ]);
    let (_, e) = call(&st, form(&format!("/v1/sessions/{id}/response"), &body)).await;
    assert_eq!(e["error_description"], "assurance_too_low");

    // "At least 16" with allow_negative: a 14-year-old's answer is a verified "under 16".
    let (id, request) = session(&st, r#"{"at_least":16,"allow_negative":true}"#).await;
    let vp = answer(&fx, &fx.credential(), &request);
    let body = form_body(&[
        ("vp_token", &vp_token(&vp)),
        ("state", request["state"].as_str().unwrap()),
    ]);
    let (status, _) = call(&st, form(&format!("/v1/sessions/{id}/response"), &body)).await;
    assert_eq!(status, StatusCode::OK);
    let (_, s) = call(&st, get(&format!("/v1/sessions/{id}"), None)).await;
    assert_eq!(
        (s["outcome"]["at_least"].clone(), s["outcome"]["under"].clone()),
        (Value::Null, json!(16))
    );
}

#[tokio::test]
async fn bad_forms_leave_the_session_pending() {
    let fx = Fx::new();
    let st = state(&fx, false);
    let (id, request) = session(&st, r#"{"at_least":13}"#).await;
    let uri = format!("/v1/sessions/{id}/response");
    let state_param = request["state"].as_str().unwrap();
    let vp = vp_token(&answer(&fx, &fx.credential(), &request));
    let cases = [
        form_body(&[("vp_token", &vp), ("state", "wrong")]),
        form_body(&[("vp_token", &vp)]),
        form_body(&[("vp_token", &vp), ("state", state_param), ("state", state_param)]),
        form_body(&[
            ("vp_token", &vp),
            ("error", "access_denied"),
            ("state", state_param),
        ]),
        form_body(&[("state", state_param)]),
    ];
    for body in &cases {
        let (status, e) = call(&st, form(&uri, body)).await;
        assert_eq!(
            (status, e["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_request")),
            "{body}"
        );
    }
    // Not a form.
    let (status, _) = call(
        &st,
        json_req(
            "POST",
            &uri,
            &form_body(&[("vp_token", &vp), ("state", state_param)]),
            None,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (_, s) = call(&st, get(&format!("/v1/sessions/{id}"), None)).await;
    assert_eq!(s["status"], "pending");
    // The right answer still works afterwards.
    let (status, _) = call(
        &st,
        form(&uri, &form_body(&[("vp_token", &vp), ("state", state_param)])),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn unknown_sessions_and_paths() {
    let fx = Fx::new();
    let st = state(&fx, false);
    let unknown = "AAAAAAAAAAAAAAAAAAAAAA";
    for req in [
        get(&format!("/v1/sessions/{unknown}"), None),
        get(&format!("/v1/sessions/{unknown}/request"), None),
        form(&format!("/v1/sessions/{unknown}/response"), "vp_token=x&state=y"),
        get("/v1/sessions/not-an-id/request", None),
        get("/v1/nothing", None),
    ] {
        let (status, e) = call(&st, req).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(
            e["error"].is_string() && e["error_description"].is_string(),
            "{e}"
        );
    }
}

#[tokio::test]
async fn bad_questions() {
    let fx = Fx::new();
    let st = state(&fx, false);
    for body in [
        "{}",
        r#"{"at_least":16,"under":13}"#,
        r#"{"at_least":0}"#,
        r#"{"at_least":100}"#,
        r#"{"at_least":300}"#,
        r#"{"at_least":"16"}"#,
        r#"{"band":[16,13]}"#,
        r#"{"band":[13,13]}"#,
        r#"{"band":[13]}"#,
        r#"{"band":[1,2,3,4,5,6,7,8,9]}"#,
        r#"{"band":[13,16],"allow_negative":true}"#,
        r#"{"at_least":16,"min_assurance":"ultra"}"#,
        r#"{"at_least":16,"extra":1}"#,
        r#"{"at_least":16,"at_least":18}"#,
        "[16]",
        "not json",
    ] {
        let (status, e) = call(&st, json_req("POST", "/v1/sessions", body, None)).await;
        assert_eq!(
            (status, e["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_request")),
            "{body}"
        );
    }
}

#[tokio::test]
async fn api_key_guards_platform_endpoints_only() {
    let fx = Fx::new();
    let st = state(&fx, true);
    let id = {
        let (_, c) = call(
            &st,
            json_req("POST", "/v1/sessions", r#"{"at_least":13}"#, Some(KEY)),
        )
        .await;
        c["id"].as_str().unwrap().to_owned()
    };
    for key in [None, Some("wrong"), Some("")] {
        for req in [
            json_req("POST", "/v1/sessions", r#"{"at_least":13}"#, key),
            get(&format!("/v1/sessions/{id}"), key),
            json_req("POST", "/v1/verify", "{}", key),
        ] {
            let resp = app(st.clone()).oneshot(req).await.unwrap();
            assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
            assert!(
                resp.headers()[header::WWW_AUTHENTICATE]
                    .to_str()
                    .unwrap()
                    .starts_with("Bearer")
            );
        }
    }
    // Wallet-facing endpoints stay public.
    let (status, _) = call(&st, get(&format!("/v1/sessions/{id}/request"), None)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(AppState::new(fx.verifier.clone(), ServiceConfig::new(BASE).with_api_key("")).is_err());
    assert!(AppState::new(fx.verifier.clone(), ServiceConfig::new("ftp://x")).is_err());
}

#[tokio::test]
async fn oversize_bodies_are_refused() {
    let fx = Fx::new();
    let st = state(&fx, false);
    let big = format!(r#"{{"at_least":13,"pad":"{}"}}"#, "x".repeat(40 * 1024));
    let (status, e) = call(&st, json_req("POST", "/v1/sessions", &big, None)).await;
    assert_eq!(
        (status, e["error"].as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, Some("invalid_request"))
    );
    let (status, _) = call(&st, json_req("POST", "/v1/verify", &big, None)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let (id, _) = session(&st, r#"{"at_least":13}"#).await;
    let body = format!("state=x&vp_token={}", "a".repeat(40 * 1024));
    let (status, _) = call(&st, form(&format!("/v1/sessions/{id}/response"), &body)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn sessions_expire_on_the_injected_clock() {
    let fx = Fx::new();
    let st = state(&fx, false);
    let (id, request) = session(&st, r#"{"at_least":13}"#).await;
    let vp = answer(&fx, &fx.credential(), &request);
    fx.clock.advance(299);
    let (_, s) = call(&st, get(&format!("/v1/sessions/{id}"), None)).await;
    assert_eq!(s["status"], "pending");
    fx.clock.advance(1);
    let (_, s) = call(&st, get(&format!("/v1/sessions/{id}"), None)).await;
    assert_eq!(s, json!({"status": "expired", "outcome": null, "error": null}));
    let (status, _) = call(&st, get(&format!("/v1/sessions/{id}/request"), None)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let body = form_body(&[
        ("vp_token", &vp_token(&vp)),
        ("state", request["state"].as_str().unwrap()),
    ]);
    let (status, _) = call(&st, form(&format!("/v1/sessions/{id}/response"), &body)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn session_table_is_bounded() {
    let fx = Fx::new();
    let mut cfg = ServiceConfig::new(BASE);
    cfg.max_sessions = 2;
    let st = AppState::new(fx.verifier.clone(), cfg).unwrap();
    for _ in 0..2 {
        session(&st, r#"{"at_least":13}"#).await;
    }
    let (status, e) = call(&st, json_req("POST", "/v1/sessions", r#"{"at_least":13}"#, None)).await;
    assert_eq!(
        (status, e["error"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("temporarily_unavailable"))
    );
    // Expired sessions are purged after a further lifetime, making room again.
    fx.clock.advance(600);
    session(&st, r#"{"at_least":13}"#).await;
    assert_eq!(st.session_count(), 1);
}

#[tokio::test]
async fn stateless_verify() {
    let fx = Fx::new();
    let st = state(&fx, true);
    let nonce = "n0nce-from-the-platform-0001";
    let aud = "https://platform.example";
    let vp = profile::present(&fx.credential(), &[t(16)], &fx.holder, aud, nonce, fx.now).unwrap();
    let body = json!({"presentation": vp, "nonce": nonce, "audience": aud, "under": 16}).to_string();
    let (status, r) = call(&st, json_req("POST", "/v1/verify", &body, Some(KEY))).await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(r["outcome"]["under"], 16);
    assert_eq!(r["outcome"]["band"], "0-15");
    // The service still consumes the nonce.
    let (status, e) = call(&st, json_req("POST", "/v1/verify", &body, Some(KEY))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        (e["error"].as_str(), e["kind"].as_str()),
        (Some("invalid_presentation"), Some("nonce_replayed"))
    );
    // Wrong question: 422 with its kind.
    let nonce2 = "n0nce-from-the-platform-0002";
    let vp = profile::present(&fx.credential(), &[t(16)], &fx.holder, aud, nonce2, fx.now).unwrap();
    let body = json!({"presentation": vp, "nonce": nonce2, "audience": aud, "at_least": 16}).to_string();
    let (status, e) = call(&st, json_req("POST", "/v1/verify", &body, Some(KEY))).await;
    assert_eq!(
        (status, e["kind"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("claim_set_mismatch"))
    );
    // Malformed calls are 400.
    for body in [
        json!({"presentation": "x", "nonce": "short", "audience": aud, "at_least": 16}),
        json!({"presentation": "x", "nonce": nonce, "audience": aud}),
        json!({"presentation": "x", "nonce": nonce, "at_least": 16}),
        json!({"presentation": 1, "nonce": nonce, "audience": aud, "at_least": 16}),
    ] {
        let (status, e) = call(&st, json_req("POST", "/v1/verify", &body.to_string(), Some(KEY))).await;
        assert_eq!(
            (status, e["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_request")),
            "{body}"
        );
    }
}

/// The real server on 127.0.0.1:0 with an issuer trusted through its well-known metadata
/// (served by a second local server), driven end to end with reqwest, then shut down.
#[tokio::test]
async fn real_server_end_to_end() {
    // The issuer's metadata endpoint.
    let issuer_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let iss = format!("http://{}", issuer_listener.local_addr().unwrap());
    let mut fx = Fx::new();
    let issuer_key = fx.issuer.public_jwk().clone();
    let doc = json!({"issuer": iss, "jwks": jwk_set(&[issuer_key])});
    let metadata = axum::Router::new().route(
        "/.well-known/jwt-vc-issuer",
        axum::routing::get(move || {
            let d = doc.clone();
            async move { axum::Json(d) }
        }),
    );
    tokio::spawn(async move { axum::serve(issuer_listener, metadata).await.unwrap() });

    // The verifier trusts it by URL only, like `--trust-issuer`.
    let trust = TrustList::new(vec![TrustedIssuer::fetched(iss.clone())]).unwrap();
    fx.verifier = Verifier::from_trust_list(trust).with_clock(fx.clock.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let base = format!("http://{addr}");
    let st = AppState::new(
        fx.verifier.clone(),
        ServiceConfig::new(base.clone()).with_api_key(KEY),
    )
    .unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(listener, st, async move {
        let _ = stopped.await;
    }));

    let client = reqwest::Client::new();
    let mut template = fx.template(&[(13, true), (16, true), (18, false)]);
    template.issuer = iss.clone();
    let credential = fx.credential_from(&template);
    let mut outcomes = Vec::new();
    for _ in 0..3 {
        let created: Value = client
            .post(format!("{base}/v1/sessions"))
            .bearer_auth(KEY)
            .json(&json!({"band": [13, 16, 18]}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let request: Value = client
            .get(created["request_uri"].as_str().unwrap())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let vp = answer(&fx, &credential, &request);
        let resp = client
            .post(request["response_uri"].as_str().unwrap())
            .form(&[
                ("vp_token", vp_token(&vp)),
                ("state", request["state"].as_str().unwrap().to_owned()),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        // Replaying the same response is refused.
        let replay = client
            .post(request["response_uri"].as_str().unwrap())
            .form(&[
                ("vp_token", vp_token(&vp)),
                ("state", request["state"].as_str().unwrap().to_owned()),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(replay.status(), 400);
        let status: Value = client
            .get(format!("{base}/v1/sessions/{}", created["id"].as_str().unwrap()))
            .bearer_auth(KEY)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        outcomes.push(status);
    }
    for s in &outcomes {
        assert_eq!(s["status"], "verified", "{s}");
        assert_eq!(s["outcome"]["band"], "16-17");
        assert_eq!(s["outcome"]["issuer"], iss);
    }
    // Without the key the platform endpoints refuse.
    let r = client
        .post(format!("{base}/v1/sessions"))
        .json(&json!({"at_least": 13}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"], "invalid_token");

    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
    assert!(client.get(format!("{base}/v1/nothing")).send().await.is_err());
}

/// A `MakeWriter` that appends to a shared buffer.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

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
async fn traces_name_routes_not_ids_or_tokens() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::FULL)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let fx = Fx::new();
    let st = state(&fx, true);
    let (id, request) = session(&st, r#"{"at_least":13}"#).await;
    let vp = answer(&fx, &fx.credential(), &request);
    let state_param = request["state"].as_str().unwrap();
    let body = form_body(&[("vp_token", &vp_token(&vp)), ("state", state_param)]);
    let (status, _) = call(&st, form(&format!("/v1/sessions/{id}/response"), &body)).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = call(&st, get(&format!("/v1/sessions/{id}"), Some("wrong-key"))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(text.contains("/v1/sessions/{id}/response"), "{text}");
    assert!(text.contains("/v1/sessions/{id}/request"), "{text}");
    // Every part of the presentation (issuer JWT header, payload and signature, each
    // disclosure, the KB-JWT's parts), not only the shared issuer JWT header.
    let parts: Vec<&str> = vp.split(['.', '~']).filter(|p| p.len() >= 16).collect();
    assert!(parts.len() >= 6, "{vp}");
    for secret in [
        id.as_str(),
        state_param,
        request["nonce"].as_str().unwrap(),
        KEY,
        "wrong-key",
    ]
    .into_iter()
    .chain(parts)
    {
        assert!(!text.contains(secret), "log leaks {secret}: {text}");
    }
}

#[test]
fn config_debug_hides_the_api_key() {
    let cfg = ServiceConfig::new(BASE).with_api_key("s3cr3t-key");
    let shown = format!("{cfg:?}");
    assert!(
        !shown.contains("s3cr3t-key") && shown.contains("<redacted>"),
        "{shown}"
    );
    let fx = Fx::new();
    let st = AppState::new(fx.verifier.clone(), cfg).unwrap();
    assert!(!format!("{st:?}").contains("s3cr3t-key"));
}

/// A client that sends headers and then stalls gets 408 when the request timeout runs out.
#[tokio::test]
async fn slow_requests_time_out() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let fx = Fx::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut cfg = ServiceConfig::new(format!("http://{addr}"));
    cfg.request_timeout = std::time::Duration::from_millis(200);
    let st = AppState::new(fx.verifier.clone(), cfg).unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(listener, st, async move {
        let _ = stopped.await;
    }));
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(
        b"POST /v1/sessions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{",
    )
    .await
    .unwrap();
    let started = std::time::Instant::now();
    let mut buf = vec![0u8; 1024];
    let n = tokio::time::timeout(std::time::Duration::from_secs(5), s.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let head = String::from_utf8_lossy(&buf[..n]);
    assert!(head.starts_with("HTTP/1.1 408"), "{head}");
    assert!(started.elapsed() >= std::time::Duration::from_millis(150));
    drop(s);
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}
