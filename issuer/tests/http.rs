//! The real server on 127.0.0.1:0 with reqwest: the whole issuance flow, proofs made with core
//! `RingSigner` keys, credentials verified with core against the published JWKS; then a check
//! that no birth date reached the SQLite files or the logs.
#![allow(
    clippy::unwrap_used,
    clippy::type_complexity,
    clippy::cloned_ref_to_slice_refs,
    missing_docs
)]

mod common;

use std::sync::Arc;

use ageband_core::jws::{RingSigner, Signer};
use ageband_core::profile;
use ageband_issuer::{Issuer, IssuerConfig, Kek, OpenOptions};
use common::*;
use serde_json::{Value, json};

struct Server {
    base: String,
    client: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn start(dir: &std::path::Path, config: IssuerConfig) -> (Server, Arc<Issuer>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let opts = OpenOptions {
        kek: Some(Kek::from_bytes(KEK)),
        ..OpenOptions::default()
    };
    let issuer = Arc::new(Issuer::open_with(dir, config, opts).unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(ageband_issuer::serve(listener, issuer.clone(), async move {
        let _ = rx.await;
    }));
    let server = Server {
        base: format!("http://{addr}"),
        client: reqwest::Client::new(),
        stop: Some(tx),
        task,
    };
    (server, issuer)
}

impl Server {
    async fn post_json(&self, path: &str, body: Value, bearer: Option<&str>) -> (u16, Value) {
        let mut req = self.client.post(format!("{}{path}", self.base)).json(&body);
        if let Some(t) = bearer {
            req = req.bearer_auth(t);
        }
        let res = req.send().await.unwrap();
        (res.status().as_u16(), res.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> Value {
        self.client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    async fn offer(&self, evidence: Value) -> String {
        let (s, v) = self.post_json("/evidence", evidence, None).await;
        assert_eq!(s, 200, "{v}");
        v["pre_authorized_code"].as_str().unwrap().to_owned()
    }

    async fn token(&self, code: &str) -> String {
        let res = self
            .client
            .post(format!("{}/token", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!(
                "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Apre-authorized_code&pre-authorized_code={code}"
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let v: Value = res.json().await.unwrap();
        v["access_token"].as_str().unwrap().to_owned()
    }

    async fn nonce(&self) -> String {
        let res = self
            .client
            .post(format!("{}/nonce", self.base))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let v: Value = res.json().await.unwrap();
        v["c_nonce"].as_str().unwrap().to_owned()
    }

    /// Evidence → token → nonce → a batch of `n` credentials for fresh holder keys.
    async fn issue(&self, evidence: Value, n: usize) -> Vec<(String, RingSigner)> {
        let meta = self.get("/.well-known/openid-credential-issuer").await;
        let aud = meta["credential_issuer"].as_str().unwrap().to_owned();
        let code = self.offer(evidence).await;
        let token = self.token(&code).await;
        let nonce = self.nonce().await;
        let now = unix_now();
        let holders: Vec<RingSigner> = (0..n).map(|_| RingSigner::generate().unwrap()).collect();
        let proofs: Vec<String> = holders.iter().map(|h| proof(h, &aud, &nonce, now)).collect();
        let (s, v) = self
            .post_json(
                "/credential",
                serde_json::from_str(&credential_body(&proofs)).unwrap(),
                Some(&token),
            )
            .await;
        assert_eq!(s, 200, "{v}");
        let creds = v["credentials"].as_array().unwrap();
        assert_eq!(creds.len(), n);
        creds
            .iter()
            .map(|c| c["credential"].as_str().unwrap().to_owned())
            .zip(holders)
            .collect()
    }

    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.task.await.unwrap().unwrap();
    }
}

const SPELLINGS: [&str; 6] = [
    "2010-06-15",
    "20100615",
    "15/06/2010",
    "1276560000",
    "2010-6-15",
    "14775",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whole_flow_over_http_and_no_birth_date_left_behind() {
    let logs = Capture::default();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();

    let dir = tempfile::tempdir().unwrap();
    let idp = RingSigner::generate().unwrap();
    let check = RingSigner::generate().unwrap();
    let mut config = config_with(&idp, &check);
    config.identity_providers[0].require_nonce = true;
    let (server, issuer) = start(dir.path(), config).await;

    // The identifier is the bound address, learned from the pre-bound listener.
    let meta = server.get("/.well-known/openid-credential-issuer").await;
    assert_eq!(meta["credential_issuer"], server.base.as_str());
    assert_eq!(issuer.credential_issuer(), Some(server.base.as_str()));

    // self: a batch of 30, each credential verified with core against the published JWKS.
    let batch = server
        .issue(json!({"type": "self", "birthdate": "2010-06-15"}), 30)
        .await;
    let jwks_doc = server.get("/.well-known/jwt-vc-issuer").await;
    assert_eq!(jwks_doc["issuer"], server.base.as_str());
    let now = unix_now();
    let mut salts = std::collections::HashSet::new();
    for (cred, holder) in &batch {
        let claims = verify_with_jwks(cred, holder, &jwks_doc, now);
        assert_eq!(predicates(&claims), vec![(13, true), (16, true), (18, false)]);
        assert_eq!(claims.issuer, server.base);
        let jwt = cred.split('~').next().unwrap();
        let payload: Value =
            serde_json::from_slice(&ageband_core::b64::decode(jwt.split('.').nth(1).unwrap(), 4096).unwrap())
                .unwrap();
        assert_eq!(payload["cnf"]["jwk"], holder.public_jwk().to_json());
        assert_eq!(payload["_sd"].as_array().unwrap().len(), 3);
        for d in cred.split('~').skip(1).filter(|d| !d.is_empty()) {
            assert!(
                salts.insert(d.to_owned()),
                "no disclosure repeats across the batch"
            );
        }
    }

    // oidc_id_token with a c_nonce from POST /nonce.
    let n = server.nonce().await;
    let mut claims = json!({"iss": IDP, "aud": IDP_AUD, "sub": "user-9", "iat": now, "exp": now + 600,
                            "nonce": n, "birthdate": "2010-06-15"});
    let id_token = ageband_core::jws::sign_compact(
        &idp,
        &json!({"alg": "ES256", "typ": "JWT", "kid": "idp-1"}),
        &claims,
    )
    .unwrap();
    let adult_child = server
        .issue(json!({"type": "oidc_id_token", "id_token": id_token}), 1)
        .await;
    assert_eq!(
        verify_with_jwks(&adult_child[0].0, &adult_child[0].1, &jwks_doc, now)
            .source
            .as_str(),
        "official_id"
    );

    // An adult from the identity provider vouches for a child born 2010-06-15.
    claims["birthdate"] = "1980-01-01".into();
    claims["nonce"] = server.nonce().await.into();
    let id_token = ageband_core::jws::sign_compact(
        &idp,
        &json!({"alg": "ES256", "typ": "JWT", "kid": "idp-1"}),
        &claims,
    )
    .unwrap();
    let adult = server
        .issue(json!({"type": "oidc_id_token", "id_token": id_token}), 1)
        .await;
    let n = server.nonce().await;
    let vp = profile::present(&adult[0].0, &[t(18)], &adult[0].1, &server.base, &n, unix_now()).unwrap();
    let child = server
        .issue(
            json!({"type": "guardian", "presentation": vp, "nonce": n, "child_birthdate": "2010-06-15"}),
            2,
        )
        .await;
    let c = verify_with_jwks(&child[1].0, &child[1].1, &jwks_doc, now);
    assert_eq!(
        (c.source.as_str(), c.assurance.as_str()),
        ("guardian_declared", "basic")
    );

    // A check assertion with the birth date, and refusals that carried it.
    let a =
        json!({"iss": CHECK, "aud": server.base, "exp": now + 600, "jti": "j-1", "birthdate": "2010-06-15"});
    let assertion =
        ageband_core::jws::sign_compact(&check, &json!({"alg": "ES256", "typ": "JWT"}), &a).unwrap();
    server
        .issue(json!({"type": "check_assertion", "assertion": assertion}), 1)
        .await;
    let (s, v) = server
        .post_json(
            "/evidence",
            json!({"type": "check_assertion", "assertion": assertion}),
            None,
        )
        .await;
    assert_eq!(
        (s, v["error"].as_str()),
        (400, Some("invalid_evidence")),
        "jti replay"
    );
    for bad in ["2010-06-15x", "15/06/2010", "20100615"] {
        let (s, v) = server
            .post_json("/evidence", json!({"type": "self", "birthdate": bad}), None)
            .await;
        assert_eq!(s, 400);
        assert!(!v.to_string().contains(bad));
    }
    let (s, _) = server
        .post_json(
            "/evidence",
            json!({"type": "self", "birthdate": "2010-06-15", "name": "x"}),
            None,
        )
        .await;
    assert_eq!(s, 400);

    server.stop().await;
    // Nothing in the data folder holds the date: searched while the database is open (with its
    // WAL and shared-memory files) and again after it was closed and checkpointed.
    let search = |expect_wal: bool| {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(dir.path()).unwrap() {
            let path = entry.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            names.push(path.file_name().unwrap().to_string_lossy().into_owned());
            for s in SPELLINGS {
                assert!(
                    !bytes.windows(s.len()).any(|w| w == s.as_bytes()),
                    "{s} found in {}",
                    path.display()
                );
            }
        }
        assert_eq!(names.iter().any(|n| n.ends_with("-wal")), expect_wal, "{names:?}");
        assert!(names.iter().any(|n| n == "issuer.sqlite3"));
    };
    search(true);
    drop(issuer);
    search(false);

    let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("evidence accepted") && logs.contains("route=\"/credential\""),
        "logs were captured: {}",
        &logs[..logs.len().min(3000)]
    );
    assert!(logs.contains("request refused"));
    for s in SPELLINGS {
        assert!(!logs.contains(s), "{s} found in the logs");
    }
    for secret in [batch[0].0.split('.').next().unwrap(), "user-9"] {
        assert!(
            !logs.contains(secret),
            "credentials and subjects stay out of the logs"
        );
    }
}
