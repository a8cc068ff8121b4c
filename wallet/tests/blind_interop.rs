//! The wallet against the real verifier library (`ageband-verifier`): the extended DCQL its
//! `AuthorizationRequest` builds (both profiles, and the blind query alone), answers checked
//! with `Verifier::verify_blind`, and the `PrivateToken` gate (`private_token::Gate`) round trip.
//! The issuer is the real one on loopback, as in `blind_flow.rs`.

// Test code: a panic is the right answer to a broken invariant here.
#![allow(clippy::unwrap_used, missing_docs)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use ageband_blind::profile::Directory;
use ageband_core::jws::{RingSigner, Signer, sign_compact};
use ageband_core::rng::{OsRng, random_b64};
use ageband_issuer::{CheckProvider, Issuer, IssuerConfig, JwksSource, Kek, OpenOptions};
use ageband_verifier::openid4vp::{AuthorizationRequest, BlindOffer, client_id_for};
use ageband_verifier::private_token::Gate;
use ageband_verifier::{
    AgeQuestion, AgeRequest, Profile, Threshold, ThresholdSet, TrustList, TrustStore, TrustedIssuer, Verifier,
};
use ageband_wallet::{BlindEnrolment, Evidence, KdfParams, Shared, SystemClock, Wallet, Zeroizing};
use axum::extract::{Path, State};
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

type Captured = Arc<Mutex<HashMap<String, HashMap<String, String>>>>;

async fn capture(
    State(c): State<Captured>,
    Path(id): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Json<Value> {
    c.lock().unwrap().insert(id, form);
    Json(json!({}))
}

#[tokio::test]
async fn wallet_answers_the_real_verifier_library() {
    // The issuer.
    let data = tempfile::tempdir().unwrap();
    let check = RingSigner::generate().unwrap();
    let mut jwk = check.public_jwk().to_json();
    jwk["kid"] = "chk-1".into();
    let mut c = IssuerConfig::default();
    c.check_providers.push(CheckProvider::new(
        CHECK,
        JwksSource::Inline(json!({"keys": [jwk]})),
    ));
    c.blind.facts = vec!["age_over_13".into(), "age_under_16".into()];
    c.blind.months_ahead = 0;
    c.blind.batch_size = 10;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    c.public_url = Some(base.clone());
    let opts = OpenOptions {
        kek: Some(Kek::from_bytes([7; 32])),
        ..OpenOptions::default()
    };
    let issuer = Arc::new(Issuer::open_with(data.path(), c, opts).unwrap());
    tokio::spawn(ageband_issuer::serve(listener, issuer, std::future::pending()));

    // The wallet enrols a 14-year-old from a check assertion.
    let dir = tempfile::tempdir().unwrap();
    let mut w =
        Wallet::create_with(dir.path(), "pw", KdfParams::INSECURE_TEST, Arc::new(SystemClock)).unwrap();
    let year = ageband_core::age::Date::from_unix_seconds(unix_now()).year() - 14;
    let now = unix_now();
    let jwt = sign_compact(
        &check,
        &json!({"alg": "ES256", "typ": "JWT", "kid": "chk-1"}),
        &json!({"iss": CHECK, "aud": base, "iat": now, "exp": now + 600, "jti": random(),
                "sub": random(), "birthdate": format!("{year}-06-15")}),
    )
    .unwrap();
    let ev = Evidence::Assertion {
        assertion: Zeroizing::new(jwt),
    };
    let done = ageband_wallet::enrol(&mut w, &base, ev, 2).await.unwrap();
    assert!(
        matches!(done.blind, BlindEnrolment::Stored { count: 10, .. }),
        "{:?}",
        done.blind
    );

    // The verifier trusts the issuer's directory.
    let bytes = reqwest::get(format!("{base}/.well-known/private-token-issuer-directory"))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let directory = Directory::parse(&bytes).unwrap();
    let list = TrustList::new(vec![
        TrustedIssuer::pinned(&base, vec![]).with_blind_directory(directory),
    ])
    .unwrap();
    let verifier = Verifier::new(Arc::new(TrustStore::new(list.clone())));

    // A response endpoint that captures what the wallet sends.
    let captured: Captured = Arc::default();
    let rp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let rp_base = format!("http://{}", rp.local_addr().unwrap());
    let app = Router::new()
        .route("/r/{id}", post(capture))
        .with_state(captured.clone());
    tokio::spawn(async move { axum::serve(rp, app).await.unwrap() });

    let band = AgeQuestion::Band(ThresholdSet::default_set());
    for (name, sd_jwt) in [("both", true), ("blind_only", false)] {
        let uri = format!("{rp_base}/r/{name}");
        let request = AgeRequest::new(band.clone(), client_id_for(&uri)).unwrap();
        let offer = BlindOffer::for_request(&request, &list).unwrap();
        let areq = AuthorizationRequest::with_offers(&request, &uri, "st-1", sd_jwt, Some(offer)).unwrap();
        let out = ageband_wallet::present(&mut w, &areq.link(), |_| true)
            .await
            .unwrap();
        assert!(matches!(out.summary.shared, Shared::BlindTokens { .. }), "{name}");
        let form = captured.lock().unwrap()[name].clone();
        assert_eq!(form["state"], "st-1");
        let vp: Value = serde_json::from_str(&form["vp_token"]).unwrap();
        let list: Vec<&str> = vp["age_blind"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let outcome = verifier.verify_blind(&list, &request).unwrap();
        assert_eq!((outcome.at_least, outcome.under), (Some(13), Some(16)), "{name}");
        assert_eq!(outcome.profile, Profile::BlindToken);
        assert_eq!(outcome.issuer, base);
    }
    assert_eq!(w.blind_len(), 6);

    // The PrivateToken gate.
    let audience = "https://platform.example";
    let gate = Gate::new(
        verifier.clone(),
        &base,
        AgeQuestion::AtLeast(Threshold::new(13).unwrap()),
        audience,
    )
    .unwrap();
    let challenge = gate.challenge().unwrap();
    let answer = ageband_wallet::private_token_header(&mut w, &challenge, audience, |_| true).unwrap();
    let outcome = gate.verify_authorization(&answer.header).unwrap();
    assert_eq!(outcome.at_least, Some(13));
    // Spent: the same header is refused the second time.
    assert!(gate.verify_authorization(&answer.header).is_err());
    assert_eq!(w.blind_len(), 5);
}
