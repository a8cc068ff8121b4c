//! The double-blind path end to end (DESIGN §9, blind-profile.md §12): the real issuer (RSA
//! blind-token keys in its SQLite file), wallets that enrol both profiles from one evidence step,
//! verifier services that trust the issuer's fetched directory and offer both profiles in one
//! session, and a platform route gated with the RFC 9577 `PrivateToken` header — all on
//! loopback over HTTP. Bands are built from two tokens; the issuer's records of an issuance and
//! the verifier's records of the presentation are shown to share no value.

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

mod common;

use std::collections::HashSet;
use std::sync::Arc;

use ageband_core::b64;
use ageband_verifier::private_token::{Gate, require_private_token};
use ageband_verifier::{AgeOutcome, AgeQuestion, Threshold, TrustList, TrustedIssuer, Verifier};
use ageband_wallet::{BlindEnrolment, Shared};
use axum::Extension;
use axum::routing::get;
use common::*;
use serde_json::{Value, json};

/// The blind tokens of a `vp_token` form value `{"age_blind":[…]}`.
fn blind_answers(vp_token: &str) -> Vec<String> {
    let v: Value = serde_json::from_str(vp_token).unwrap();
    let obj = v.as_object().unwrap();
    assert_eq!(obj.len(), 1, "{vp_token}");
    obj["age_blind"]
        .as_array()
        .unwrap_or_else(|| panic!("not a blind answer: {vp_token}"))
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect()
}

/// A compact blind presentation's parts (blind-profile.md §8.1).
struct Parts {
    token: Vec<u8>,
    holder_key: Vec<u8>,
    binding_sig: Vec<u8>,
}

impl Parts {
    fn of(compact: &str) -> Parts {
        let p: Vec<&str> = compact.split('.').collect();
        assert_eq!(p.len(), 3);
        let parts = Parts {
            token: b64::decode(p[0], 512).unwrap(),
            holder_key: b64::decode(p[1], 64).unwrap(),
            binding_sig: b64::decode(p[2], 128).unwrap(),
        };
        assert_eq!(
            (parts.token.len(), parts.holder_key.len(), parts.binding_sig.len()),
            (354, 33, 64)
        );
        parts
    }
    fn nonce(&self) -> &[u8] {
        &self.token[2..34]
    }
    fn challenge_digest(&self) -> &[u8] {
        &self.token[34..66]
    }
    fn token_key_id(&self) -> &[u8] {
        &self.token[66..98]
    }
    fn authenticator(&self) -> &[u8] {
        &self.token[98..]
    }
}

fn enrolled_blind(e: &ageband_wallet::Enrolled) -> usize {
    match &e.blind {
        BlindEnrolment::Stored { count, .. } => *count,
        other => panic!("no blind tokens: {other:?}"),
    }
}

#[tokio::test]
async fn bands_from_two_blind_tokens_over_http() {
    let sys = System::start_blind(1).await;
    let mut parent = sys.wallet("parent");
    sys.enrol(&mut parent, Kind::IdToken, sys.born(40), None, 3).await;

    // (age, evidence, expected band, tokens in the answer)
    let people = [
        (10, Kind::Guardian, "0-12", 1),
        (14, Kind::IdToken, "13-15", 2),
        (17, Kind::Check, "16-17", 2),
        (30, Kind::IdToken, "18+", 1),
    ];
    for (age, kind, band, n_tokens) in people {
        let mut w = sys.wallet(&format!("p{age}"));
        let guardian = (kind == Kind::Guardian).then_some(&mut parent);
        let got = sys.enrol(&mut w, kind, sys.born(age), guardian, 2).await;
        assert_eq!(got.count, 2, "the SD-JWT batch comes with the blind one");
        let blind = enrolled_blind(&got);
        assert!(blind > 0);
        assert_eq!(w.status().blind_unused, blind);

        let (status, presented) = sys.ask(0, json!({"band": [13, 16, 18]}), &mut w).await;
        assert_eq!(status["status"], "verified", "age {age}: {status}");
        let o = &status["outcome"];
        assert_eq!(o["band"], band, "age {age}: {o}");
        assert_eq!(o["profile"], "blind_token", "{o}");
        assert_eq!(o["source"], Value::Null, "a token carries no source: {o}");
        // The wallet picks the lowest sufficient floor (the larger anonymity set).
        assert_eq!(o["assurance"], "basic", "{o}");
        assert_eq!(o["issuer"], sys.issuer_url.as_str());
        let Shared::BlindTokens { tokens } = &presented.unwrap().summary.shared else {
            panic!("age {age}: the wallet answered with SD-JWT although it holds tokens");
        };
        assert_eq!(tokens.len(), n_tokens);
        let sent = blind_answers(sys.seen(0).last().unwrap());
        assert_eq!(sent.len(), n_tokens, "a band is two tokens, an open bound one");
        assert_eq!(
            w.status().blind_unused,
            blind - n_tokens,
            "each token is used once"
        );
    }

    // A platform that needs `standard` gets floor-3 tokens from an official-id holder …
    let mut w = sys.wallet("std14");
    sys.enrol(&mut w, Kind::IdToken, sys.born(14), None, 1).await;
    let (status, _) = sys
        .ask(
            0,
            json!({"band": [13, 16, 18], "min_assurance": "standard"}),
            &mut w,
        )
        .await;
    assert_eq!(
        (&status["outcome"]["assurance"], &status["outcome"]["band"]),
        (&json!("standard"), &json!("13-15")),
        "{status}"
    );
    // … and the one-sided questions take one token each, the negative answer included.
    let (status, _) = sys
        .ask(0, json!({"at_least": 18, "allow_negative": true}), &mut w)
        .await;
    assert_eq!(status["outcome"]["band"], "0-17", "{status}");
    assert_eq!(blind_answers(sys.seen(0).last().unwrap()).len(), 1);

    // Self-declared evidence gets no tokens: the same two-profile session is answered with
    // SD-JWT, and the outcome says so.
    let mut w = sys.wallet("self15");
    let got = sys.enrol(&mut w, Kind::SelfDeclared, sys.born(15), None, 1).await;
    assert!(
        matches!(got.blind, BlindEnrolment::NotOffered { .. }),
        "{:?}",
        got.blind
    );
    let (status, _) = sys.ask(0, json!({"band": [13, 16, 18]}), &mut w).await;
    assert_eq!(status["outcome"]["profile"], "sd_jwt", "{status}");
    assert_eq!(status["outcome"]["source"], "self_declared");
    assert_eq!(status["outcome"]["band"], "13-15");
}

#[tokio::test]
async fn blind_answers_cannot_be_replayed_or_reused() {
    let sys = System::start_blind(2).await;
    let mut w = sys.wallet("teen");
    sys.enrol(&mut w, Kind::IdToken, sys.born(14), None, 1).await;
    let session = sys.create_session(0, &json!({"band": [13, 16, 18]})).await;
    let link = session["link"].as_str().unwrap().to_owned();
    let (nonce, client_id) = (query_param(&link, "nonce"), query_param(&link, "client_id"));
    ageband_wallet::present(&mut w, &link, |_| true).await.unwrap();
    let sent = blind_answers(&sys.seen(0)[0]);
    assert_eq!(sent.len(), 2);

    // The same tokens with the same nonce and audience at the stateless endpoint: spent.
    let verify = |v: usize, body: Value| {
        let http = sys.http.clone();
        let url = format!("{}/v1/verify", sys.verifiers[v].url);
        async move {
            let r = http
                .post(url)
                .bearer_auth(API_KEY)
                .json(&body)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (code, err) = verify(
        0,
        json!({"tokens": sent, "nonce": nonce, "audience": client_id, "band": [13, 16, 18]}),
    )
    .await;
    assert_eq!((code, err["kind"].as_str()), (422, Some("token_spent")), "{err}");

    // Into a new session at the other verifier: bound to the first session's nonce.
    let s2 = sys.create_session(1, &json!({"band": [13, 16, 18]})).await;
    let id2 = s2["id"].as_str().unwrap();
    let state2 = query_param(s2["link"].as_str().unwrap(), "state");
    let r = sys
        .http
        .post(format!("{}/v1/sessions/{id2}/response", sys.verifiers[1].url))
        .form(&[
            ("vp_token", json!({"age_blind": sent}).to_string()),
            ("state", state2),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let st = sys.status(1, id2).await;
    assert_eq!(
        (st["status"].as_str(), st["error"].as_str()),
        (Some("rejected"), Some("bad_binding")),
        "{st}"
    );

    // Only one of the two tokens: not an answer set of a band question.
    let (code, err) = verify(
        1,
        json!({"tokens": [sent[0]], "nonce": nonce, "audience": client_id, "band": [13, 16, 18]}),
    )
    .await;
    assert_eq!(
        (code, err["kind"].as_str()),
        (422, Some("claim_set_mismatch")),
        "{err}"
    );
}

/// Every 8-byte window of `bytes`.
fn windows(bytes: &[u8]) -> impl Iterator<Item = [u8; 8]> + '_ {
    bytes.windows(8).map(|w| w.try_into().unwrap())
}

/// Everything the issuer holds of its exchanges: the raw bodies, every base64url run in them
/// decoded, and its data folder's files.
fn issuer_corpus(sys: &System) -> HashSet<[u8; 8]> {
    let mut set = HashSet::new();
    let mut add = |b: &[u8]| set.extend(windows(b));
    for (_, req, resp) in sys.issuer_traffic.lock().unwrap().iter() {
        for body in [req, resp] {
            add(body);
            // Form bodies percent-encode; JSON and JWTs carry base64url runs.
            let text = String::from_utf8_lossy(body)
                .replace("%2B", "+")
                .replace("%3D", "=");
            for run in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_')) {
                if run.len() >= 11
                    && let Ok(bytes) = b64::decode(run, 1 << 20)
                {
                    add(&bytes);
                }
            }
        }
    }
    for entry in std::fs::read_dir(sys.issuer_dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            add(&std::fs::read(path).unwrap());
        }
    }
    set
}

#[tokio::test]
async fn the_issuers_records_and_the_verifiers_records_share_no_value() {
    let sys = System::start_blind(1).await;
    let mut w = sys.wallet("teen");
    let got = sys.enrol(&mut w, Kind::IdToken, sys.born(14), None, 2).await;
    assert!(enrolled_blind(&got) > 0);

    // The double-blind answer: two tokens.
    let (status, _) = sys
        .ask(
            0,
            json!({"band": [13, 16, 18], "profiles": ["blind_token"]}),
            &mut w,
        )
        .await;
    assert_eq!(status["outcome"]["band"], "13-15", "{status}");
    let blind_vp = sys.seen(0).last().unwrap().clone();
    // For contrast, the SD-JWT answer from the same enrolment.
    let (status, _) = sys
        .ask(0, json!({"band": [13, 16, 18], "profiles": ["sd_jwt"]}), &mut w)
        .await;
    assert_eq!(status["outcome"]["profile"], "sd_jwt", "{status}");
    let sd_vp = sys.seen(0).last().unwrap().clone();

    let corpus = issuer_corpus(&sys);
    let seen_by_issuer = |b: &[u8]| windows(b).filter(|w| corpus.contains(w)).count();

    // Control: the scan does find what the issuer knows. The SD-JWT presentation carries the
    // issuer's signature from the credential response (the link RFC 9901 §10.1 warns of) …
    let sd = presentation_of(&sd_vp);
    let jwt = sd.split('~').next().unwrap();
    let sig = b64::decode(jwt.rsplit('.').next().unwrap(), 128).unwrap();
    assert_eq!(
        seen_by_issuer(&sig),
        sig.len() - 7,
        "the issuer saw its SD-JWT signature"
    );
    // … and each blind token names the issuer's key and challenge, which every holder of that
    // key shares (the anonymity set, privacy.md §7.7).
    let tokens: Vec<Parts> = blind_answers(&blind_vp).iter().map(|c| Parts::of(c)).collect();
    assert_eq!(tokens.len(), 2);
    for t in &tokens {
        assert_eq!(
            seen_by_issuer(t.token_key_id()),
            25,
            "the key id is in the issuer's store"
        );
        assert!(seen_by_issuer(t.challenge_digest()) <= 25);
    }
    // Every per-token value the verifier holds is absent from everything the issuer holds:
    // the token nonce, the RSA signature, the holder key and the binding signature.
    for t in &tokens {
        for (what, v) in [
            ("token nonce", t.nonce()),
            ("token signature", t.authenticator()),
            ("holder key", &t.holder_key[..]),
            ("binding signature", &t.binding_sig[..]),
        ] {
            assert_eq!(seen_by_issuer(v), 0, "the issuer's records contain the {what}");
        }
    }
    // And the other way round: the verifier's records of the blind answer (the vp_token it
    // received and the session's outcome) contain nothing of the issuance the issuer could
    // look up — no blinded message, no blind signature, no access token or code.
    let mut verifier_side = HashSet::new();
    for t in &tokens {
        for v in [
            t.nonce(),
            t.authenticator(),
            &t.holder_key[..],
            &t.binding_sig[..],
        ] {
            verifier_side.extend(windows(v));
        }
    }
    verifier_side.extend(windows(blind_vp.as_bytes()));
    verifier_side.extend(windows(status.to_string().as_bytes()));
    let mut blinded_values = 0;
    for (path, req, resp) in sys.issuer_traffic.lock().unwrap().iter() {
        if path != "/blind-token-request" {
            continue;
        }
        for body in [req, resp] {
            let v: Value = serde_json::from_slice(body).unwrap();
            let list = v["requests"].as_array().or(v["responses"].as_array()).unwrap();
            for item in list {
                let field = item
                    .get("token_request")
                    .or(item.get("token_response"))
                    .and_then(Value::as_str)
                    .unwrap();
                let bytes = b64::decode(field, 512).unwrap();
                // The request's first 3 bytes are the token type and the key id's last byte.
                let blinded = if bytes.len() == 259 {
                    &bytes[3..]
                } else {
                    &bytes[..]
                };
                assert_eq!(
                    windows(blinded).filter(|w| verifier_side.contains(w)).count(),
                    0,
                    "{path}"
                );
                blinded_values += 1;
            }
        }
    }
    // One batch: as many blinded requests as signatures, one of each per token stored.
    assert_eq!(blinded_values, 2 * enrolled_blind(&got));
}

#[tokio::test]
async fn a_platform_route_gated_with_the_private_token_header() {
    let sys = System::start_blind(0).await;
    let mut adult = sys.wallet("adult");
    sys.enrol(&mut adult, Kind::IdToken, sys.born(30), None, 1).await;
    let mut teen = sys.wallet("teen");
    sys.enrol(&mut teen, Kind::IdToken, sys.born(14), None, 1).await;

    // The platform embeds the verifier library: it trusts the issuer's fetched directory.
    let trust = TrustList::new(vec![
        TrustedIssuer::fetched(sys.issuer_url.clone()).fetch_blind_directory(),
    ])
    .unwrap();
    let verifier = Verifier::from_trust_list(trust).with_clock(sys.clocks.verifier.clone());
    let fetcher = ageband_verifier::fetch::KeyFetcher::new().unwrap();
    for (_, r) in verifier.trust().refresh(&fetcher, T0).await {
        r.unwrap();
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let gate = Arc::new(
        Gate::new(
            verifier,
            sys.issuer_url.clone(),
            AgeQuestion::AtLeast(Threshold::new(18).unwrap()),
            origin.clone(),
        )
        .unwrap(),
    );
    let app = axum::Router::new()
        .route(
            "/adults",
            get(|Extension(o): Extension<AgeOutcome>| async move { o.band_label() }),
        )
        .route_layer(axum::middleware::from_fn_with_state(gate, require_private_token));
    tokio::spawn(async move { axum::serve(listener, app).await });

    let get_with = |auth: Option<String>| {
        let mut req = sys.http.get(format!("{origin}/adults"));
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        async move {
            let r = req.send().await.unwrap();
            let challenge = r
                .headers()
                .get("www-authenticate")
                .map(|v| v.to_str().unwrap().to_owned());
            (r.status().as_u16(), challenge, r.text().await.unwrap())
        }
    };
    let (code, challenge, _) = get_with(None).await;
    assert_eq!(code, 401);
    let challenge = challenge.expect("a PrivateToken challenge");
    assert!(challenge.starts_with("PrivateToken "), "{challenge}");

    let answer = ageband_wallet::private_token_header(&mut adult, &challenge, &origin, |_| true).unwrap();
    let (code, _, body) = get_with(Some(answer.header.clone())).await;
    assert_eq!((code, body.as_str()), (200, "18+"));
    // The same header again: the token is spent and the nonce consumed.
    let (code, fresh, _) = get_with(Some(answer.header)).await;
    assert_eq!(code, 401);
    let fresh = fresh.expect("a refusal carries a challenge");
    assert!(fresh.starts_with("PrivateToken "), "{fresh}");
    assert_ne!(fresh, challenge, "a refusal carries a fresh challenge");

    // A 14-year-old holds no age_over_18 token: the wallet cannot answer, and spends nothing.
    let before = teen.status().blind_unused;
    let (_, challenge, _) = get_with(None).await;
    let refused = ageband_wallet::private_token_header(&mut teen, &challenge.unwrap(), &origin, |_| true);
    assert!(
        matches!(refused, Err(ageband_wallet::PrivateTokenError::NoToken { .. })),
        "{refused:?}"
    );
    assert_eq!(teen.status().blind_unused, before);
}
