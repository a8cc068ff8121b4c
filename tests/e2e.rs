//! End to end over real HTTP on loopback: issuer, wallet and verifier services, every
//! evidence kind, every question shape, and the misuse cases (DESIGN §1, §4–§7).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use ageband_core::age::Date;
use common::{DAY, Kind, System, T0, presentation_of, query_param};
use serde_json::{Value, json};

fn level(kind: Kind) -> (&'static str, &'static str) {
    match kind {
        Kind::SelfDeclared => ("asserted", "self_declared"),
        Kind::IdToken => ("enhanced", "official_id"),
        Kind::Check => ("standard", "third_party_check"),
        Kind::Guardian => ("basic", "guardian_declared"),
    }
}

fn band(age: i64) -> (Value, Value) {
    match age {
        ..13 => (Value::Null, json!(13)),
        13..16 => (json!(13), json!(16)),
        16..18 => (json!(16), json!(18)),
        _ => (json!(18), Value::Null),
    }
}

/// The three platform questions and the exact (at_least, under) each age must yield.
fn questions(age: i64) -> Vec<(Value, (Value, Value))> {
    let at_least_16 = if age >= 16 {
        (json!(16), Value::Null)
    } else {
        (Value::Null, json!(16))
    };
    let under_13 = if age < 13 {
        (Value::Null, json!(13))
    } else {
        (json!(13), Value::Null)
    };
    vec![
        (json!({"at_least": 16, "allow_negative": true}), at_least_16),
        (json!({"under": 13, "allow_negative": true}), under_13),
        (json!({"band": [13, 16, 18]}), band(age)),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_evidence_kind_and_age_gets_the_exact_answer() {
    let sys = System::start(1).await;
    let mut parent = sys.wallet("parent");
    sys.enrol(&mut parent, Kind::IdToken, sys.born(40), None, 10)
        .await;
    for kind in [Kind::SelfDeclared, Kind::IdToken, Kind::Check, Kind::Guardian] {
        for age in [10, 12, 13, 15, 16, 17, 18, 30] {
            if kind == Kind::Guardian && age >= 18 {
                continue; // a guardian declares children only
            }
            let mut w = sys.wallet(&format!("{kind:?}-{age}"));
            let guardian = (kind == Kind::Guardian).then_some(&mut parent);
            sys.enrol(&mut w, kind, sys.born(age), guardian, 3).await;
            for (question, (at_least, under)) in questions(age) {
                let (status, presented) = sys.ask(0, question.clone(), &mut w).await;
                presented.unwrap_or_else(|e| panic!("{kind:?} {age} {question}: {e}"));
                assert_eq!(
                    status["status"], "verified",
                    "{kind:?} {age} {question}: {status}"
                );
                let o = &status["outcome"];
                assert_eq!(
                    (&o["at_least"], &o["under"]),
                    (&at_least, &under),
                    "{kind:?} {age} {question}"
                );
                assert_eq!(
                    (o["assurance"].as_str().unwrap(), o["source"].as_str().unwrap()),
                    level(kind)
                );
                assert_eq!(o["issuer"], sys.issuer_url.as_str());
            }
            assert_eq!(w.status().unused, 0, "every credential used once");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn birthdays_on_the_threshold_day_and_on_29_february() {
    let at = |d: &str| Date::parse(d).unwrap().unix_seconds() + 12 * 3600;
    let d = |s: &str| Date::parse(s).unwrap();
    let band = |s: &Value| (s["outcome"]["at_least"].clone(), s["outcome"]["under"].clone());

    // 13 today: age_over_13 is true on the birthday itself.
    let sys = System::start_at(1, at("2026-07-01")).await;
    let mut w = sys.wallet("birthday-today");
    sys.enrol(&mut w, Kind::IdToken, d("2013-07-01"), None, 1).await;
    let (status, _) = sys.ask(0, json!({"at_least": 13}), &mut w).await;
    assert_eq!(status["outcome"]["at_least"], 13, "{status}");

    // 13 tomorrow: the predicate is left out (7-day rule), so "under 13?" cannot be answered.
    let mut w = sys.wallet("birthday-tomorrow");
    sys.enrol(&mut w, Kind::IdToken, d("2013-07-02"), None, 1).await;
    let (status, presented) = sys
        .ask(0, json!({"under": 13, "allow_negative": true}), &mut w)
        .await;
    assert!(presented.is_err(), "no credential can answer");
    assert_ne!(status["status"], "verified");

    // Born 29 February 2012: 13 on 1 March 2025…
    let sys = System::start_at(1, at("2025-03-01")).await;
    let mut w = sys.wallet("leap-13");
    sys.enrol(&mut w, Kind::IdToken, d("2012-02-29"), None, 1).await;
    let (status, _) = sys.ask(0, json!({"band": [13, 16, 18]}), &mut w).await;
    assert_eq!(band(&status), (json!(13), json!(16)), "{status}");
    // …12 nine days before, and that "under 13" expires on the 7-day rung, before 1 March.
    let sys = System::start_at(1, at("2025-02-20")).await;
    let mut w = sys.wallet("leap-12");
    sys.enrol(&mut w, Kind::IdToken, d("2012-02-29"), None, 2).await;
    assert_eq!(w.credentials()[0].expires_at, d("2025-02-27"));
    let (status, _) = sys.ask(0, json!({"band": [13, 16, 18]}), &mut w).await;
    assert_eq!(band(&status), (Value::Null, json!(13)), "{status}");
    // On 28 February 2025 that credential has expired: it never outlives the birthday.
    sys.clocks.set_all(at("2025-02-28"));
    let (status, _) = sys.ask(0, json!({"band": [13, 16, 18]}), &mut w).await;
    assert_ne!(status["status"], "verified", "{status}");
    // In a leap year the birthday is 29 February itself.
    let sys = System::start_at(1, at("2024-02-29")).await;
    let mut w = sys.wallet("leap-16");
    sys.enrol(&mut w, Kind::IdToken, d("2008-02-29"), None, 1).await;
    let (status, _) = sys.ask(0, json!({"at_least": 16}), &mut w).await;
    assert_eq!(status["outcome"]["at_least"], 16, "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replays_wrong_audience_and_expiry_are_rejected() {
    let sys = System::start(2).await;
    let mut w = sys.wallet("teen");
    sys.enrol(&mut w, Kind::IdToken, sys.born(14), None, 5).await;

    // A verified session, then its response replayed into the same session.
    let session = sys.create_session(0, &json!({"band": [13, 16, 18]})).await;
    ageband_wallet::present(&mut w, session["link"].as_str().unwrap(), |_| true)
        .await
        .unwrap();
    let id = session["id"].as_str().unwrap();
    let vp_token = sys.seen(0).pop().unwrap();
    let state = query_param(session["link"].as_str().unwrap(), "state");
    let replay = sys
        .http
        .post(format!("{}/v1/sessions/{id}/response", sys.verifiers[0].url))
        .form(&[("vp_token", vp_token.as_str()), ("state", state.as_str())])
        .send()
        .await
        .unwrap();
    assert!(
        replay.status().is_client_error(),
        "replay into a finished session: {}",
        replay.status()
    );
    assert_eq!(
        sys.status(0, id).await["status"],
        "verified",
        "the first answer stands"
    );

    // The same response replayed into a fresh session at the same verifier: other nonce.
    let fresh = sys.create_session(0, &json!({"band": [13, 16, 18]})).await;
    let status = post_response(&sys, 0, &fresh, &vp_token).await;
    assert_eq!(status["status"], "rejected", "{status}");

    // Reusing a session: the wallet answers a finished session's link again.
    let again = ageband_wallet::present(&mut w, session["link"].as_str().unwrap(), |_| true).await;
    assert!(again.is_err(), "a session is single-use");

    // Presented to the wrong verifier: verifier 1 sees a KB-JWT bound to verifier 0.
    let other = sys.create_session(1, &json!({"band": [13, 16, 18]})).await;
    let status = post_response(&sys, 1, &other, &vp_token).await;
    assert_eq!(status["status"], "rejected");
    assert_eq!(status["error"], "kb_audience", "{status}");

    // An expired credential: the verifier's clock is 91 days on (exp is at most 90 days).
    sys.clocks.verifier.set(T0 + 91 * DAY);
    let (status, _) = sys.ask(0, json!({"band": [13, 16, 18]}), &mut w).await;
    assert_eq!(status["status"], "rejected");
    assert_eq!(status["error"], "expired", "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotated_keys_still_verify_and_removed_keys_do_not() {
    let sys = System::start(1).await;
    let mut old = sys.wallet("old-key");
    sys.enrol(&mut old, Kind::IdToken, sys.born(20), None, 3).await;
    let keys = sys.issuer_keys();
    let first = keys.list(T0).unwrap().into_iter().next().unwrap().kid;
    keys.rotate(T0, 0).unwrap();
    sys.refresh_keys().await;

    let (status, _) = sys.ask(0, json!({"at_least": 18}), &mut old).await;
    assert_eq!(
        status["status"], "verified",
        "a credential of the rotated key: {status}"
    );
    let mut new = sys.wallet("new-key");
    sys.enrol(&mut new, Kind::IdToken, sys.born(20), None, 1).await;
    let (status, _) = sys.ask(0, json!({"at_least": 18}), &mut new).await;
    assert_eq!(
        status["status"], "verified",
        "a credential of the new key: {status}"
    );
    let jwks: Value = sys
        .http
        .get(format!("{}/.well-known/jwt-vc-issuer", sys.issuer_url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        jwks["jwks"]["keys"].as_array().unwrap().len(),
        2,
        "the retired key stays published"
    );

    keys.remove(&first, T0, true).unwrap();
    sys.refresh_keys().await;
    let (status, _) = sys.ask(0, json!({"at_least": 18}), &mut old).await;
    assert_eq!(status["status"], "rejected");
    assert_eq!(status["error"], "unknown_key", "{status}");
}

async fn post_response(sys: &System, v: usize, session: &Value, vp_token: &str) -> Value {
    let link = session["link"].as_str().unwrap();
    let state = query_param(link, "state");
    let response_uri = query_param(link, "response_uri");
    let r = sys
        .http
        .post(response_uri)
        .form(&[("vp_token", vp_token), ("state", state.as_str())])
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error(), "{}", r.status());
    sys.status(v, session["id"].as_str().unwrap()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_presentations_of_one_batch_share_only_what_everyone_shares() {
    let sys = System::start(2).await;
    let mut a = sys.wallet("a");
    let mut c = sys.wallet("c");
    sys.enrol(&mut a, Kind::IdToken, sys.born(14), None, 2).await;
    sys.enrol(&mut c, Kind::IdToken, sys.born(14), None, 1).await;
    let q = json!({"band": [13, 16, 18]});
    for (v, who) in [(0, 'a'), (1, 'a'), (0, 'c')] {
        let w = if who == 'a' { &mut a } else { &mut c };
        let (status, presented) = sys.ask(v, q.clone(), w).await;
        presented.unwrap();
        assert_eq!(status["status"], "verified");
    }
    let seen0 = sys.seen(0);
    let (a0, c0) = (presentation_of(&seen0[0]), presentation_of(&seen0[1]));
    let a1 = presentation_of(&sys.seen(1)[0]);

    let (a0, a1, c0) = (Parts::of(&a0), Parts::of(&a1), Parts::of(&c0));

    // Per-credential values of A's first presentation — issuer signature, holder key, salts,
    // digests (decoys included), KB signature, sd_hash — share no 8-byte substring with
    // anything in A's second presentation, raw or decoded at any level.
    let haystack = a1.haystack();
    for secret in a0.per_credential() {
        for w in secret.windows(8) {
            assert!(
                !haystack.windows(8).any(|h| h == w),
                "A's two presentations share bytes of a per-credential value"
            );
        }
    }
    // What remains is batch-wide: the same for another person issued that day (C).
    assert_eq!(a0.batch_wide(), a1.batch_wide());
    assert_eq!(a0.batch_wide(), c0.batch_wide());
}

/// A presentation taken apart.
struct Parts {
    raw: Vec<u8>,
    header: Value,
    payload: Value,
    signature: Vec<u8>,
    disclosures: Vec<Value>,
    kb_payload: Value,
    kb_signature: Vec<u8>,
}

impl Parts {
    fn of(vp: &str) -> Parts {
        let b = |s: &str| ageband_core::b64::decode(s, 8192).unwrap();
        let j = |s: &str| -> Value { serde_json::from_slice(&b(s)).unwrap() };
        let segs: Vec<&str> = vp.split('~').collect();
        let jwt: Vec<&str> = segs[0].split('.').collect();
        let kb: Vec<&str> = segs[segs.len() - 1].split('.').collect();
        Parts {
            raw: vp.as_bytes().to_vec(),
            header: j(jwt[0]),
            payload: j(jwt[1]),
            signature: b(jwt[2]),
            disclosures: segs[1..segs.len() - 1].iter().map(|d| j(d)).collect(),
            kb_payload: j(kb[1]),
            kb_signature: b(kb[2]),
        }
    }

    /// Values that differ for every credential, decoded to bytes.
    fn per_credential(&self) -> Vec<Vec<u8>> {
        let b = |v: &Value| ageband_core::b64::decode(v.as_str().unwrap(), 64).unwrap();
        let mut out = vec![self.signature.clone(), self.kb_signature.clone()];
        out.push(b(&self.payload["cnf"]["jwk"]["x"]));
        out.push(b(&self.payload["cnf"]["jwk"]["y"]));
        out.push(b(&self.kb_payload["sd_hash"]));
        out.extend(self.payload["_sd"].as_array().unwrap().iter().map(b));
        out.extend(self.disclosures.iter().map(|d| b(&d[0])));
        out
    }

    /// Everything a verifier could compare: the raw bytes, every decoded segment, and every
    /// base64url value inside them.
    fn haystack(&self) -> Vec<u8> {
        let mut h = self.raw.clone();
        for v in [&self.header, &self.payload, &self.kb_payload] {
            h.extend(v.to_string().into_bytes());
        }
        for d in &self.disclosures {
            h.extend(d.to_string().into_bytes());
        }
        for p in self.per_credential() {
            h.extend(p);
        }
        h
    }

    /// The payload without the per-credential members, and the disclosed claims without salts.
    fn batch_wide(&self) -> (Value, Value, Vec<Value>) {
        let mut p = self.payload.clone();
        p.as_object_mut().unwrap().remove("cnf");
        p.as_object_mut().unwrap().remove("_sd");
        let claims = self.disclosures.iter().map(|d| json!([d[1], d[2]])).collect();
        (self.header.clone(), p, claims)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outcome_and_session_carry_nothing_but_the_answer() {
    let logs = common::captured_logs();
    let sys = System::start(1).await;
    let mut w = sys.wallet("minimal");
    let birth = sys.born(15);
    sys.enrol(&mut w, Kind::IdToken, birth, None, 1).await;
    let subject = sys.last_subject();
    let (status, _) = sys.ask(0, json!({"band": [13, 16, 18]}), &mut w).await;
    let outcome = status["outcome"].as_object().unwrap();
    let mut keys: Vec<&str> = outcome.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "assurance",
            "at_least",
            "band",
            "issuer",
            "profile",
            "source",
            "under"
        ]
    );

    // Nothing of the presentation reaches the platform: no token, disclosure, salt or key.
    let vp = presentation_of(&sys.seen(0)[0]);
    let text = status.to_string();
    let mut secrets: Vec<String> = vp
        .split('~')
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect();
    for part in vp.split(['~', '.']).filter(|p| p.len() >= 16) {
        secrets.push(part.to_owned());
    }
    for d in vp
        .split('~')
        .skip(1)
        .filter(|d| !d.is_empty() && !d.contains('.'))
    {
        let disclosure = ageband_core::sdjwt::Disclosure::parse(d).unwrap();
        let raw: Value = serde_json::from_slice(&ageband_core::b64::decode(d, 1024).unwrap()).unwrap();
        secrets.push(raw[0].as_str().unwrap().to_owned()); // the salt
        secrets.push(disclosure.digest());
    }
    let claims = ageband_core::json::parse_object(
        &ageband_core::b64::decode(vp.split('.').nth(1).unwrap(), 8192).unwrap(),
        8192,
    )
    .unwrap();
    secrets.push(claims["cnf"]["jwk"]["x"].as_str().unwrap().to_owned());
    for s in &secrets {
        assert!(!text.contains(s.as_str()), "the session status leaks {s}");
    }

    // The issuer's database holds no birth date, in any spelling, nor the identity provider's
    // subject identifier.
    let spellings = [
        birth.to_string(),
        birth.to_string().replace('-', ""),
        format!("{:02}/{:02}/{}", birth.day(), birth.month(), birth.year()),
        birth.unix_seconds().to_string(),
        subject,
    ];
    for entry in std::fs::read_dir(sys.issuer_dir.path()).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        for s in &spellings {
            assert!(
                !bytes.windows(s.len()).any(|w| w == s.as_bytes()),
                "issuer store holds {s}"
            );
        }
    }
    // Nor does any log line of any component, at TRACE level; nor the presentation itself.
    let logs = logs.lock().unwrap().clone();
    assert!(!logs.is_empty(), "logs were captured");
    for s in spellings.iter().chain(secrets.iter()) {
        assert!(
            !logs.windows(s.len()).any(|w| w == s.as_bytes()),
            "a log line holds {s}"
        );
    }
}
