//! The HTTP endpoints through the router (no socket): shapes, every error, single use,
//! expiry, concurrent redemption, key rotation.
#![allow(
    clippy::unwrap_used,
    clippy::type_complexity,
    clippy::cloned_ref_to_slice_refs,
    missing_docs
)]

mod common;

use std::sync::Arc;

use ageband_core::jws::{RingSigner, Signer};
use ageband_issuer::keys::KeySource;
use ageband_issuer::store::Store;
use ageband_issuer::{Kek, LocalKeys, TokenError};
use axum::http::StatusCode;
use common::*;
use serde_json::{Value, json};

const GRANT: &str = "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Apre-authorized_code";

async fn code(h: &Harness) -> String {
    let (s, v, hdr) = call(
        &h.issuer,
        "POST",
        "/evidence",
        &[JSON],
        r#"{"type":"self","birthdate":"2010-06-15"}"#,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(hdr["cache-control"], "no-store");
    v["pre_authorized_code"].as_str().unwrap().to_owned()
}

async fn token(h: &Harness) -> String {
    let c = code(h).await;
    let (s, v, _) = call(
        &h.issuer,
        "POST",
        "/token",
        &[FORM],
        format!("{GRANT}&pre-authorized_code={c}"),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v["access_token"].as_str().unwrap().to_owned()
}

async fn nonce(h: &Harness) -> String {
    let (s, v, hdr) = call(&h.issuer, "POST", "/nonce", &[], "").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(hdr["cache-control"], "no-store");
    v["c_nonce"].as_str().unwrap().to_owned()
}

fn assert_error(got: (StatusCode, Value, axum::http::HeaderMap), status: StatusCode, code: &str) {
    assert_eq!(
        (got.0, got.1["error"].as_str()),
        (status, Some(code)),
        "{}",
        got.1
    );
    assert!(got.1["error_description"].is_string());
}

#[tokio::test]
async fn evidence_endpoint() {
    let h = harness();
    let (s, v, _) = call(
        &h.issuer,
        "POST",
        "/evidence",
        &[JSON],
        r#"{"type":"self","birthdate":"2010-06-15"}"#,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let c = v["pre_authorized_code"].as_str().unwrap();
    assert_eq!(c.len(), 22);
    assert_eq!(v["expires_in"], 300);
    assert_eq!(
        v["credential_offer"],
        json!({"credential_issuer": ISSUER_URL, "credential_configuration_ids": ["ageband_age_v1"],
               "grants": {"urn:ietf:params:oauth:grant-type:pre-authorized_code": {"pre-authorized_code": c}}})
    );
    let e = |body: &'static str| call(&h.issuer, "POST", "/evidence", &[JSON], body);
    assert_error(
        call(&h.issuer, "POST", "/evidence", &[FORM], "type=self").await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    );
    assert_error(
        e(r#"{"type":"passport"}"#).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    );
    assert_error(
        e(r#"{"type":"self"}"#).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    );
    assert_error(e("[]").await, StatusCode::BAD_REQUEST, "invalid_request");
    let bad = e(r#"{"type":"self","birthdate":"2010"}"#).await;
    assert!(
        !bad.1.to_string().contains("2010"),
        "descriptions never echo evidence: {}",
        bad.1
    );
    assert_error(bad, StatusCode::BAD_REQUEST, "invalid_evidence");
    assert_error(
        e(r#"{"type":"oidc_id_token","id_token":"a.b.c"}"#).await,
        StatusCode::BAD_REQUEST,
        "invalid_evidence",
    );
    let tok = h.id_token(json!({"nonce": "never-issued"}));
    let body = json!({"type": "oidc_id_token", "id_token": tok}).to_string();
    assert_error(
        call(&h.issuer, "POST", "/evidence", &[JSON], body).await,
        StatusCode::BAD_REQUEST,
        "invalid_nonce",
    );
    let big = format!(
        r#"{{"type":"self","birthdate":"2010-06-15","x":"{}"}}"#,
        "a".repeat(40 * 1024)
    );
    assert_error(
        call(&h.issuer, "POST", "/evidence", &[JSON], big).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "invalid_request",
    );
    // Quota exhaustion is 429.
    for i in 0..4 {
        let body =
            json!({"type": "oidc_id_token", "id_token": h.id_token(json!({"nonce": nonce(&h).await}))})
                .to_string();
        let got = call(&h.issuer, "POST", "/evidence", &[JSON], body).await;
        if i < 3 {
            assert_eq!(got.0, StatusCode::OK);
        } else {
            assert_error(got, StatusCode::TOO_MANY_REQUESTS, "quota_exceeded");
        }
    }
    let off = harness_with(|c| c.self_declaration = false);
    assert_error(
        call(
            &off.issuer,
            "POST",
            "/evidence",
            &[JSON],
            r#"{"type":"self","birthdate":"2010-06-15"}"#,
        )
        .await,
        StatusCode::FORBIDDEN,
        "access_denied",
    );
}

#[tokio::test]
async fn token_endpoint() {
    let h = harness();
    let c = code(&h).await;
    let t = |body: String| call(&h.issuer, "POST", "/token", &[FORM], body);
    assert_error(
        call(
            &h.issuer,
            "POST",
            "/token",
            &[JSON],
            format!("{GRANT}&pre-authorized_code={c}"),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    );
    assert_error(
        t(format!("pre-authorized_code={c}")).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    );
    assert_error(
        t(GRANT.to_owned()).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    );
    assert_error(
        t(format!("{GRANT}&pre-authorized_code={c}&pre-authorized_code={c}")).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    );
    assert_error(
        t(format!("{GRANT}&{GRANT}&pre-authorized_code={c}")).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    );
    assert_error(
        t(format!("{GRANT}&pre-authorized_code={c}&tx_code=1234")).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    );
    assert_error(
        t(format!("grant_type=authorization_code&code={c}")).await,
        StatusCode::BAD_REQUEST,
        "unsupported_grant_type",
    );
    assert_error(
        t(format!("{GRANT}&pre-authorized_code=unknown")).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    );
    // None of the refusals above used the code up.
    let (s, v, hdr) = t(format!("{GRANT}&pre-authorized_code={c}")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        (v["token_type"].as_str(), v["expires_in"].as_u64()),
        (Some("Bearer"), Some(300))
    );
    assert_eq!(hdr["cache-control"], "no-store");
    // Replay.
    assert_error(
        t(format!("{GRANT}&pre-authorized_code={c}")).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    );
    // Expiry: a code older than 5 minutes is dead; the token runs to the code's deadline.
    let c = code(&h).await;
    h.clock.advance(200);
    let (_, v, _) = t(format!("{GRANT}&pre-authorized_code={c}")).await;
    assert_eq!(v["expires_in"], 100);
    let c = code(&h).await;
    h.clock.advance(300);
    assert_error(
        t(format!("{GRANT}&pre-authorized_code={c}")).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    );
}

#[tokio::test]
async fn nonce_and_metadata_endpoints() {
    let h = harness();
    let a = nonce(&h).await;
    assert_eq!(a.len(), 22);
    assert_ne!(a, nonce(&h).await);

    let (s, m, _) = call(&h.issuer, "GET", "/.well-known/openid-credential-issuer", &[], "").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(m["credential_issuer"], ISSUER_URL);
    assert_eq!(m["credential_endpoint"], format!("{ISSUER_URL}/credential"));
    assert_eq!(m["nonce_endpoint"], format!("{ISSUER_URL}/nonce"));
    assert_eq!(m["batch_credential_issuance"]["batch_size"], 30);
    let conf = &m["credential_configurations_supported"]["ageband_age_v1"];
    assert_eq!(conf["format"], "dc+sd-jwt");
    assert_eq!(conf["vct"], "urn:ageband:age:1");
    assert_eq!(
        conf["proof_types_supported"]["jwt"]["proof_signing_alg_values_supported"],
        json!(["ES256"])
    );
    assert_eq!(
        conf["credential_metadata"]["claims"],
        json!([{"path": ["age_over_13"]}, {"path": ["age_over_16"]}, {"path": ["age_over_18"]}])
    );
    let (_, as_meta, _) = call(
        &h.issuer,
        "GET",
        "/.well-known/oauth-authorization-server",
        &[],
        "",
    )
    .await;
    assert_eq!(as_meta["token_endpoint"], format!("{ISSUER_URL}/token"));
    assert_eq!(as_meta["pre-authorized_grant_anonymous_access_supported"], true);

    let (s, doc, hdr) = call(&h.issuer, "GET", "/.well-known/jwt-vc-issuer", &[], "").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(hdr["cache-control"], "max-age=3600");
    assert_eq!(doc["issuer"], ISSUER_URL);
    let key = &doc["jwks"]["keys"][0];
    assert_eq!(
        (key["kty"].as_str(), key["use"].as_str(), key["alg"].as_str()),
        (Some("EC"), Some("sig"), Some("ES256"))
    );
    assert_eq!(key["kid"].as_str().unwrap().len(), 43);
    assert!(key.get("d").is_none());

    assert_error(
        call(&h.issuer, "GET", "/admin/keys", &[], "").await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
}

#[tokio::test]
async fn credential_endpoint_errors() {
    let h = harness();
    let tok = token(&h).await;
    let auth = format!("Bearer {tok}");
    let holder = RingSigner::generate().unwrap();
    let n = nonce(&h).await;
    let good = proof(&holder, ISSUER_URL, &n, h.now());
    let post = |auth: Option<&str>, body: String| {
        let issuer = h.issuer.clone();
        let auth = auth.map(str::to_owned);
        async move {
            let mut hdrs = vec![JSON];
            let a;
            if let Some(x) = &auth {
                a = x.clone();
                hdrs.push(("authorization", a.as_str()));
            }
            call(&issuer, "POST", "/credential", &hdrs, body).await
        }
    };

    // Access token problems: 401 with WWW-Authenticate.
    let got = post(None, credential_body(&[good.clone()])).await;
    assert_eq!(got.2["www-authenticate"], r#"Bearer error="invalid_token""#);
    assert_error(got, StatusCode::UNAUTHORIZED, "invalid_token");
    assert_error(
        post(Some("Bearer nope"), credential_body(&[good.clone()])).await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
    );
    assert_error(
        post(Some(&format!("Basic {tok}")), credential_body(&[good.clone()])).await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
    );

    // A bearer token with a body that is not declared JSON: refused before the engine.
    assert_error(
        call(
            &h.issuer,
            "POST",
            "/credential",
            &[("authorization", auth.as_str())],
            credential_body(&[good.clone()]),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_credential_request",
    );

    let a = Some(auth.as_str());
    assert_error(
        post(a, "{".into()).await,
        StatusCode::BAD_REQUEST,
        "invalid_credential_request",
    );
    assert_error(
        post(
            a,
            json!({"credential_identifier": "x", "proofs": {"jwt": [good]}}).to_string(),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_credential_request",
    );
    assert_error(
        post(a, r#"{"credential_configuration_id":"ageband_age_v1","credential_configuration_id":"x","proofs":{"jwt":[]}}"#.into()).await,
        StatusCode::BAD_REQUEST,
        "invalid_credential_request",
    );
    // Five refused requests drop the token: use a second one for the rest.
    assert_error(
        post(
            a,
            json!({"credential_configuration_id": "other_v1", "proofs": {"jwt": [good]}}).to_string(),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "unknown_credential_configuration",
    );
    assert_error(
        post(
            a,
            json!({"credential_configuration_id": "ageband_age_v1"}).to_string(),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_proof",
    );
    assert_error(
        post(a, credential_body(&[good.clone()])).await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
    );

    let tok = token(&h).await;
    let auth = format!("Bearer {tok}");
    let a = Some(auth.as_str());
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"credential_configuration_id": "ageband_age_v1", "proofs": {"ldp_vp": [good]}}),
            "invalid_proof",
        ),
        (
            json!({"credential_configuration_id": "ageband_age_v1", "proofs": {"jwt": []}}),
            "invalid_proof",
        ),
        (
            serde_json::from_str(&credential_body(&vec![good.clone(); 31])).unwrap(),
            "invalid_proof",
        ),
        (
            serde_json::from_str(&credential_body(&[good.clone(), good.clone()])).unwrap(),
            "invalid_proof",
        ),
    ];
    for (body, code) in cases {
        assert_error(post(a, body.to_string()).await, StatusCode::BAD_REQUEST, code);
    }
    // The token survives four refusals and then still works.
    let n = nonce(&h).await;
    let got = post(a, credential_body(&[proof(&holder, ISSUER_URL, &n, h.now())])).await;
    assert_eq!(got.0, StatusCode::OK, "{}", got.1);
    assert_eq!(got.2["cache-control"], "no-store");
    // Single use.
    let n = nonce(&h).await;
    assert_error(
        post(a, credential_body(&[proof(&holder, ISSUER_URL, &n, h.now())])).await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
    );

    // Proof checks, each with a fresh token.
    let other = RingSigner::generate().unwrap();
    let hdr = |s: &RingSigner| json!({"alg": "ES256", "typ": "openid4vci-proof+jwt", "jwk": s.public_jwk().to_json()});
    let mut cases: Vec<(Box<dyn Fn(&str) -> String>, &str)> = vec![
        (
            Box::new(|n| proof(&holder, "https://other.example", n, h.now())),
            "invalid_proof",
        ),
        (
            Box::new(|n| proof(&holder, ISSUER_URL, n, h.now() - 301)),
            "invalid_proof",
        ),
        (
            Box::new(|n| proof(&holder, ISSUER_URL, n, h.now() + 301)),
            "invalid_proof",
        ),
        (
            Box::new(|_| proof(&holder, ISSUER_URL, "never-issued", h.now())),
            "invalid_nonce",
        ),
        (
            Box::new(|n| {
                proof_with(
                    &holder,
                    json!({"alg": "ES256", "typ": "JWT", "jwk": holder.public_jwk().to_json()}),
                    json!({"aud": ISSUER_URL, "nonce": n, "iat": h.now()}),
                )
            }),
            "invalid_proof",
        ),
        (
            Box::new(|n| {
                proof_with(
                    &holder,
                    json!({"alg": "ES256", "typ": "openid4vci-proof+jwt"}),
                    json!({"aud": ISSUER_URL, "nonce": n, "iat": h.now()}),
                )
            }),
            "invalid_proof",
        ),
        (
            Box::new(|n| {
                proof_with(
                    &holder,
                    json!({"alg": "ES256", "typ": "openid4vci-proof+jwt", "jwk": holder.public_jwk().to_json(), "kid": "k"}),
                    json!({"aud": ISSUER_URL, "nonce": n, "iat": h.now()}),
                )
            }),
            "invalid_proof",
        ),
        (
            Box::new(|n| {
                proof_with(
                    &holder,
                    json!({"alg": "ES256", "typ": "openid4vci-proof+jwt", "jwk": holder.public_jwk().to_json(), "key_attestation": "x"}),
                    json!({"aud": ISSUER_URL, "nonce": n, "iat": h.now()}),
                )
            }),
            "invalid_proof",
        ),
        // Signed by another key than the header's.
        (
            Box::new(|n| {
                proof_with(
                    &other,
                    hdr(&holder),
                    json!({"aud": ISSUER_URL, "nonce": n, "iat": h.now()}),
                )
            }),
            "invalid_proof",
        ),
        (
            Box::new(|_| proof_with(&holder, hdr(&holder), json!({"aud": ISSUER_URL, "iat": h.now()}))),
            "invalid_nonce",
        ),
    ];
    for (i, (make, code)) in cases.drain(..).enumerate() {
        let tok = token(&h).await;
        let auth = format!("Bearer {tok}");
        let n = nonce(&h).await;
        let got = post(Some(&auth), credential_body(&[make(&n)])).await;
        assert_eq!(got.1["error"], code, "case {i}: {}", got.1);
    }

    // A c_nonce is consumed by the first request using it, even a refused one.
    let tok = token(&h).await;
    let auth = format!("Bearer {tok}");
    let n = nonce(&h).await;
    let bad_aud = proof(&holder, "https://other.example", &n, h.now());
    assert_error(
        post(Some(&auth), credential_body(&[bad_aud])).await,
        StatusCode::BAD_REQUEST,
        "invalid_proof",
    );
    assert_error(
        post(
            Some(&auth),
            credential_body(&[proof(&holder, ISSUER_URL, &n, h.now())]),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_nonce",
    );
    // Expired nonce and expired token.
    let n = nonce(&h).await;
    h.clock.advance(301);
    let tok2 = token(&h).await;
    assert_error(
        post(
            Some(&format!("Bearer {tok2}")),
            credential_body(&[proof(&holder, ISSUER_URL, &n, h.now())]),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_nonce",
    );
    let n = nonce(&h).await;
    assert_error(
        post(
            Some(&auth),
            credential_body(&[proof(&holder, ISSUER_URL, &n, h.now())]),
        )
        .await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
    );
}

#[tokio::test]
async fn batch_sizes() {
    let h = harness_with(|c| c.batch_size = 100);
    let tok = token(&h).await;
    let n = nonce(&h).await;
    let holders: Vec<RingSigner> = (0..100).map(|_| RingSigner::generate().unwrap()).collect();
    let proofs: Vec<String> = holders
        .iter()
        .map(|k| proof(k, ISSUER_URL, &n, h.now()))
        .collect();
    let (s, v, _) = call(
        &h.issuer,
        "POST",
        "/credential",
        &[JSON, ("authorization", &format!("Bearer {tok}"))],
        credential_body(&proofs),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let creds = v["credentials"].as_array().unwrap();
    assert_eq!(creds.len(), 100);
    // One credential per proof, in proof order, bound to that proof's key.
    for (c, k) in creds.iter().zip(&holders) {
        let claims = h.verify(c["credential"].as_str().unwrap(), k);
        assert_eq!(predicates(&claims), vec![(13, true), (16, true), (18, false)]);
    }
}

#[test]
fn concurrent_redemption_of_one_code() {
    let h = harness();
    // A second issuer instance on the same data folder: another connection, as another process.
    let twin = open(h.dir.path(), h.issuer.config().clone(), &h.clock);
    for _round in 0..5 {
        let offer = h.issuer.accept_evidence(&self_ev("2010-06-15")).unwrap();
        let code = Arc::new(offer.pre_authorized_code);
        let threads: Vec<_> = (0..16)
            .map(|i| {
                let issuer = if i % 2 == 0 {
                    h.issuer.clone()
                } else {
                    twin.clone()
                };
                let code = code.clone();
                std::thread::spawn(move || issuer.redeem_code(&code))
            })
            .collect();
        let results: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1);
        assert!(
            results
                .iter()
                .filter(|r| r.is_err())
                .all(|r| matches!(r, Err(TokenError::InvalidGrant)))
        );
    }
}

#[tokio::test]
async fn concurrent_credential_requests_with_one_token() {
    let h = harness();
    let tok = token(&h).await;
    let mut tasks = Vec::new();
    for _ in 0..12 {
        let issuer = h.issuer.clone();
        let n = nonce(&h).await;
        let holder = RingSigner::generate().unwrap();
        let body = credential_body(&[proof(&holder, ISSUER_URL, &n, h.now())]);
        let auth = format!("Bearer {tok}");
        tasks.push(tokio::spawn(async move {
            call(
                &issuer,
                "POST",
                "/credential",
                &[JSON, ("authorization", auth.as_str())],
                body,
            )
            .await
            .0
        }));
    }
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            StatusCode::OK => ok += 1,
            s => assert_eq!(s, StatusCode::UNAUTHORIZED),
        }
    }
    assert_eq!(ok, 1);
}

#[tokio::test]
async fn key_rotation_keeps_old_credentials_verifiable() {
    let h = harness();
    let old = h.issue(&self_ev("2010-06-15"), 1);
    let doc0 = h.issuer.jwt_vc_issuer_metadata().unwrap();
    let old_kid = doc0["jwks"]["keys"][0]["kid"].as_str().unwrap().to_owned();

    // `ageband issuer keys rotate --immediate` from another process on the same folder.
    let admin = LocalKeys::open(
        Arc::new(Store::open(h.dir.path()).unwrap()),
        Kek::from_bytes(KEK),
        h.now(),
    )
    .unwrap();
    let rotated = admin.rotate(h.now(), 0).unwrap();
    assert_ne!(rotated.kid, old_kid);

    let new = h.issue(&self_ev("2010-06-15"), 1);
    let (_, doc, _) = call(&h.issuer, "GET", "/.well-known/jwt-vc-issuer", &[], "").await;
    let kids: Vec<&str> = doc["jwks"]["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids.len(), 2);
    assert!(kids.contains(&old_kid.as_str()) && kids.contains(&rotated.kid.as_str()));
    let c_old = verify_with_jwks(&old[0].0, &old[0].1, &doc, h.now());
    let c_new = verify_with_jwks(&new[0].0, &new[0].1, &doc, h.now());
    assert_eq!(
        (c_old.kid.as_str(), c_new.kid.as_str()),
        (old_kid.as_str(), rotated.kid.as_str())
    );
    // The old key set alone does not verify the new credential.
    let keys = JwksResolver::from_doc(&doc0);
    let vp = ageband_core::profile::present(&new[0].0, &[t(13)], &new[0].1, "a", "n", h.now()).unwrap();
    assert!(
        ageband_core::profile::verify(
            &vp,
            &keys,
            &ageband_core::profile::AgeVerifyOptions::new(h.now(), "a", "n")
        )
        .is_err()
    );

    // The retired key cannot be removed while its credentials live...
    assert!(admin.remove(&old_kid, h.now(), false).is_err());
    assert!(admin.prune(h.now() + 86_400).unwrap().is_empty());
    // ...and leaves the key set once they all expired (90 days).
    let later = c_old.expires_at + 1;
    h.clock.set(later);
    h.issuer.purge().unwrap(); // the server's periodic purge
    let listed = admin.list(later).unwrap();
    assert!(listed.iter().all(|k| k.kid != old_kid), "{listed:?} {later}");
    let doc = h.issuer.jwt_vc_issuer_metadata().unwrap();
    assert_eq!(doc["jwks"]["keys"].as_array().unwrap().len(), 1);
    assert_eq!(h.issuer_signer_kid(), rotated.kid);
}

trait SignerKid {
    fn issuer_signer_kid(&self) -> String;
}

impl SignerKid for Harness {
    fn issuer_signer_kid(&self) -> String {
        let admin = LocalKeys::open(
            Arc::new(Store::open(self.dir.path()).unwrap()),
            Kek::from_bytes(KEK),
            self.now(),
        )
        .unwrap();
        admin.signer(self.now()).unwrap().public_jwk().thumbprint()
    }
}

#[test]
fn keys_persist_sealed_across_restarts() {
    let h = harness();
    let kid = h.issuer_signer_kid();
    let config = h.issuer.config().clone();
    drop(h.issuer);
    let again = open(h.dir.path(), config.clone(), &h.clock);
    let doc = again.jwt_vc_issuer_metadata().unwrap();
    assert_eq!(doc["jwks"]["keys"][0]["kid"], kid.as_str());
    // A wrong key-encryption key is refused at start.
    let opts = ageband_issuer::OpenOptions {
        kek: Some(Kek::from_bytes([1; 32])),
        ..Default::default()
    };
    assert!(ageband_issuer::Issuer::open_with(h.dir.path(), config, opts).is_err());
}
