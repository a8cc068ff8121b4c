//! The blind-token profile over the real server on 127.0.0.1:0 with reqwest and the system
//! clock: directory (media type, one key per slot), evidence → token → blind-token-request →
//! finalized tokens verified against the directory; then no birth date in the data folder or the
//! logs, and log lines naming the matched route only.
#![allow(missing_docs, clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use ageband_blind::profile::{BlindFact, Directory, Floor, HolderTokenRequest, Month, TokenChallenge};
use ageband_blind::{SystemRng, TokenResponse};
use ageband_core::b64;
use ageband_core::jws::sign_compact;
use ageband_issuer::{Issuer, Kek, OpenOptions};
use common::*;
use serde_json::{Value, json};

#[tokio::test]
async fn blind_issuance_over_loopback() {
    let logs = Capture::default();
    let writer = logs.clone();
    let _ = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::TRACE)
        .try_init();

    let dir = tempfile::tempdir().unwrap();
    let check = ageband_core::jws::RingSigner::generate().unwrap();
    let idp = ageband_core::jws::RingSigner::generate().unwrap();
    let mut config = config_with(&idp, &check);
    config.blind.facts = vec!["age_over_18".into(), "age_under_18".into()];
    config.blind.months_ahead = 0;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let base = format!("http://{addr}");
    let opts = OpenOptions {
        kek: Some(Kek::from_bytes(KEK)),
        ..OpenOptions::default()
    };
    let issuer = Arc::new(Issuer::open_with(dir.path(), config, opts).unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(ageband_issuer::serve(listener, issuer.clone(), async move {
        let _ = rx.await;
    }));
    let client = reqwest::Client::new();

    // Metadata → directory.
    let meta: Value = client
        .get(format!("{base}/.well-known/openid-credential-issuer"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let b = &meta["ageband_blind_tokens"];
    let issuer_name = b["issuer_name"].as_str().unwrap().to_owned();
    assert_eq!(issuer_name, addr.to_string());
    let res = client
        .get(b["issuer_directory"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["content-type"],
        "application/private-token-issuer-directory"
    );
    let directory = Directory::parse(&res.bytes().await.unwrap()).unwrap();
    assert_eq!(directory.keys().len(), 2 * 2);
    let month = Month::containing(unix_now()).unwrap();

    // A 15-year-old whose 18th birthday is years away: under 18 at both floors.
    let birth = "2011-06-15";
    let assertion = sign_compact(
        &check,
        &json!({"alg": "ES256", "typ": "JWT", "kid": "chk-1"}),
        &json!({"iss": CHECK, "aud": base, "iat": unix_now(), "exp": unix_now() + 600,
                "jti": b64::encode(rand16()), "sub": "teen-1", "birthdate": birth}),
    )
    .unwrap();
    let offer: Value = client
        .post(format!("{base}/evidence"))
        .json(&json!({"type": "check_assertion", "assertion": assertion}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let code = offer["pre_authorized_code"].as_str().unwrap();
    let tok: Value = client
        .post(format!("{base}/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Apre-authorized_code&pre-authorized_code={code}"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access = tok["access_token"].as_str().unwrap();

    let challenge = TokenChallenge::ageband(&issuer_name).unwrap();
    let fact = BlindFact::under(18).unwrap();
    let mut holders = Vec::new();
    let mut list = Vec::new();
    for floor in [Floor::Level3, Floor::Level2] {
        let key = directory.key_for(fact, floor, month).unwrap();
        let r = HolderTokenRequest::new(&mut SystemRng, key, &challenge).unwrap();
        list.push(
            json!({"fact": "age_under_18", "floor": floor.number(), "month": month.to_string(),
                         "token_request": b64::encode(r.request().to_bytes())}),
        );
        holders.push(r);
    }
    let res = client
        .post(b["token_request_endpoint"].as_str().unwrap())
        .bearer_auth(access)
        .json(&json!({ "requests": list }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let answer: Value = res.json().await.unwrap();
    let responses = answer["responses"].as_array().unwrap();
    assert_eq!(responses.len(), holders.len(), "{answer}");
    for (r, resp) in holders.into_iter().zip(responses) {
        let (f, floor, m) = r.slot();
        let key = directory.key_for(f, floor, m).unwrap();
        let bytes = b64::decode(resp["token_response"].as_str().unwrap(), 256).unwrap();
        let token = r
            .finalize(key, &TokenResponse::from_bytes(&bytes).unwrap())
            .unwrap();
        token.token().verify(key.public_key()).unwrap();
        assert_eq!(token.token().challenge_digest, challenge.digest());
    }

    tx.send(()).unwrap();
    task.await.unwrap().unwrap();
    drop(issuer);
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        for s in [birth, "20110615", "2029-06-15"] {
            assert!(!bytes.windows(s.len()).any(|w| w == s.as_bytes()), "{s}");
        }
    }
    let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("route=/blind-token-request") || logs.contains("route=\"/blind-token-request\""),
        "{logs}"
    );
    assert!(logs.contains("blind tokens issued"), "{logs}");
    for s in [birth, access, code] {
        assert!(!logs.contains(s), "{s} in logs");
    }
}
