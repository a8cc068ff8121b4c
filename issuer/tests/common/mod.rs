//! Shared test fixtures: an issuer on a temporary folder with a manual clock, a demo identity
//! provider and a demo check provider (ES256 keys signing with core's `RingSigner`), and
//! helpers for proofs, presentations and HTTP calls through `tower::ServiceExt::oneshot`.
#![allow(dead_code, missing_docs, clippy::unwrap_used)]

use std::sync::Arc;

use ageband_core::age::{Date, Threshold};
use ageband_core::b64;
use ageband_core::jws::{RingSigner, Signer, sign_compact};
use ageband_core::profile::{self, AgeClaims, AgeVerifyOptions, SingleIssuer};
use ageband_issuer::{
    CheckProvider, Evidence, IdentityProvider, Issuer, IssuerConfig, JwksSource, Kek, ManualClock,
    OpenOptions, SecretString,
};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt as _;

pub const ISSUER_URL: &str = "https://issuer.example";
pub const IDP: &str = "https://eid.example";
pub const IDP_AUD: &str = "ageband-issuer";
pub const CHECK: &str = "https://check.example";
pub const KEK: [u8; 32] = [9; 32];

/// 2026-11-29 12:00 UTC.
pub fn t0() -> u64 {
    Date::parse("2026-11-29").unwrap().unix_seconds() + 43_200
}

pub fn t(y: u8) -> Threshold {
    Threshold::new(y).unwrap()
}

pub struct Harness {
    pub dir: tempfile::TempDir,
    pub clock: Arc<ManualClock>,
    pub issuer: Arc<Issuer>,
    pub idp: RingSigner,
    pub check: RingSigner,
}

pub fn jwks_of(signer: &RingSigner, kid: &str) -> Value {
    let mut k = signer.public_jwk().to_json();
    k["kid"] = kid.into();
    k["alg"] = "ES256".into();
    k["use"] = "sig".into();
    json!({"keys": [k]})
}

pub fn config_with(idp: &RingSigner, check: &RingSigner) -> IssuerConfig {
    let mut c = IssuerConfig::default();
    c.identity_providers.push(IdentityProvider::new(
        IDP,
        IDP_AUD,
        JwksSource::Inline(jwks_of(idp, "idp-1")),
    ));
    c.check_providers.push(CheckProvider::new(
        CHECK,
        JwksSource::Inline(jwks_of(check, "chk-1")),
    ));
    c
}

pub fn harness() -> Harness {
    harness_with(|_| {})
}

pub fn harness_with(tweak: impl FnOnce(&mut IssuerConfig)) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let idp = RingSigner::generate().unwrap();
    let check = RingSigner::generate().unwrap();
    let mut config = config_with(&idp, &check);
    config.public_url = Some(ISSUER_URL.into());
    tweak(&mut config);
    let clock = Arc::new(ManualClock::new(t0()));
    let issuer = open(dir.path(), config, &clock);
    Harness {
        dir,
        clock,
        issuer,
        idp,
        check,
    }
}

pub fn open(dir: &std::path::Path, config: IssuerConfig, clock: &Arc<ManualClock>) -> Arc<Issuer> {
    let opts = OpenOptions {
        kek: Some(Kek::from_bytes(KEK)),
        clock: Some(clock.clone()),
        key_source: None,
    };
    Arc::new(Issuer::open_with(dir, config, opts).unwrap())
}

impl Harness {
    pub fn now(&self) -> u64 {
        self.issuer.now()
    }

    /// An ES256 id_token from the demo identity provider with the usual claims, then `extra`.
    pub fn id_token(&self, extra: Value) -> String {
        let mut claims = json!({
            "iss": IDP, "aud": IDP_AUD, "sub": "user-1", "iat": self.now(), "exp": self.now() + 600,
            "birthdate": "1990-01-01",
        });
        merge(&mut claims, extra);
        sign_compact(
            &self.idp,
            &json!({"alg": "ES256", "typ": "JWT", "kid": "idp-1"}),
            &claims,
        )
        .unwrap()
    }

    /// A check assertion from the demo check provider with `extra` claims.
    pub fn assertion(&self, extra: Value) -> String {
        let mut claims = json!({
            "iss": CHECK, "aud": ISSUER_URL, "iat": self.now(), "exp": self.now() + 600,
            "jti": b64::encode(rand16()),
        });
        merge(&mut claims, extra);
        sign_compact(
            &self.check,
            &json!({"alg": "ES256", "typ": "JWT", "kid": "chk-1"}),
            &claims,
        )
        .unwrap()
    }

    pub fn nonce(&self) -> String {
        self.issuer.new_nonce().unwrap()
    }

    /// Evidence → token → nonce → credentials for fresh holder keys.
    pub fn issue(&self, ev: &Evidence, n: usize) -> Vec<(String, RingSigner)> {
        let offer = self.issuer.accept_evidence(ev).unwrap();
        let token = self.issuer.redeem_code(&offer.pre_authorized_code).unwrap();
        let nonce = self.nonce();
        let holders: Vec<RingSigner> = (0..n).map(|_| RingSigner::generate().unwrap()).collect();
        let proofs: Vec<String> = holders
            .iter()
            .map(|h| proof(h, ISSUER_URL, &nonce, self.now()))
            .collect();
        let body = credential_body(&proofs);
        let creds = self
            .issuer
            .credential_request(Some(&token.access_token), body.as_bytes())
            .unwrap();
        assert_eq!(creds.len(), n, "one credential per proof");
        creds.into_iter().zip(holders).collect()
    }

    /// Verifies a credential against this issuer's published keys (a fresh presentation of
    /// every predicate it holds).
    pub fn verify(&self, cred: &str, holder: &RingSigner) -> AgeClaims {
        let doc = self.issuer.jwt_vc_issuer_metadata().unwrap();
        verify_with_jwks(cred, holder, &doc, self.now())
    }
}

pub fn verify_with_jwks(cred: &str, holder: &RingSigner, doc: &Value, now: u64) -> AgeClaims {
    let keys = JwksResolver::from_doc(doc);
    let held: Vec<Threshold> = profile::held_predicates(cred).unwrap().into_keys().collect();
    let vp = profile::present(
        cred,
        &held,
        holder,
        "redirect_uri:https://rp.example/cb",
        "n-1",
        now,
    )
    .unwrap();
    profile::verify(
        &vp,
        &keys,
        &AgeVerifyOptions::new(now, "redirect_uri:https://rp.example/cb", "n-1"),
    )
    .unwrap()
}

/// Trusts the keys of a `/.well-known/jwt-vc-issuer` document for its `issuer`.
pub struct JwksResolver;

impl JwksResolver {
    pub fn from_doc(doc: &Value) -> SingleIssuer {
        let keys = ageband_core::jwk::parse_jwk_or_set(&doc["jwks"]).unwrap();
        SingleIssuer::with_keys(doc["issuer"].as_str().unwrap(), keys)
    }
}

pub fn proof(holder: &RingSigner, aud: &str, nonce: &str, iat: u64) -> String {
    proof_with(
        holder,
        json!({"alg": "ES256", "typ": "openid4vci-proof+jwt", "jwk": holder.public_jwk().to_json()}),
        json!({"aud": aud, "nonce": nonce, "iat": iat}),
    )
}

pub fn proof_with(holder: &RingSigner, header: Value, claims: Value) -> String {
    sign_compact(holder, &header, &claims).unwrap()
}

pub fn credential_body(proofs: &[String]) -> String {
    json!({"credential_configuration_id": "ageband_age_v1", "proofs": {"jwt": proofs}}).to_string()
}

pub fn self_ev(date: &str) -> Evidence {
    Evidence::SelfDeclared {
        birthdate: SecretString::new(date),
    }
}

pub fn oidc_ev(token: String) -> Evidence {
    Evidence::OidcIdToken {
        id_token: SecretString::new(token),
    }
}

pub fn check_ev(token: String) -> Evidence {
    Evidence::CheckAssertion {
        assertion: SecretString::new(token),
    }
}

pub fn merge(base: &mut Value, extra: Value) {
    if let (Value::Object(b), Value::Object(e)) = (base, extra) {
        for (k, v) in e {
            if v.is_null() {
                b.remove(&k);
            } else {
                b.insert(k, v);
            }
        }
    }
}

pub fn rand16() -> [u8; 16] {
    let mut b = [0u8; 16];
    ageband_core::rng::Rng::fill(&mut ageband_core::rng::OsRng::new(), &mut b).unwrap();
    b
}

/// One request through the router without a socket: (status, JSON body, headers).
pub async fn call(
    issuer: &Arc<Issuer>,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: impl Into<Body>,
) -> (StatusCode, Value, axum::http::HeaderMap) {
    let mut req = Request::builder().method(method).uri(path);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = ageband_issuer::app(issuer.clone())
        .oneshot(req.body(body.into()).unwrap())
        .await
        .unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 20).await.unwrap();
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, json, headers)
}

pub const JSON: (&str, &str) = ("content-type", "application/json");
pub const FORM: (&str, &str) = ("content-type", "application/x-www-form-urlencoded");

pub fn predicates(claims: &AgeClaims) -> Vec<(u8, bool)> {
    claims.predicates.iter().map(|(t, v)| (t.years(), *v)).collect()
}

pub fn holder_of(signer: &RingSigner) -> &dyn Signer {
    signer
}

/// Captured log output (a `tracing_subscriber` writer).
#[derive(Clone, Default)]
pub struct Capture(pub Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The system clock's Unix seconds (for the tests against the real server).
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}
