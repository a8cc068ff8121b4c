//! Test fixtures: an issuer, a holder, a trust list and a verifier with a fixed clock, and
//! helpers to issue, present and hand-craft presentations with ageband-core.
#![allow(dead_code, missing_docs, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::Arc;

use ageband_core::age::{AgeQuestion, AssuranceLevel, Date, Source, Threshold};
use ageband_core::b64;
use ageband_core::jws::{self, RingSigner, Signer};
use ageband_core::profile::{self, CredentialTemplate, VCT};
use ageband_core::rng::OsRng;
use ageband_core::sdjwt::{self, Disclosure};
use ageband_verifier::{AgeRequest, ManualClock, TrustList, TrustedIssuer, Verifier};
use serde_json::{Map, Value, json};

pub const ISS: &str = "https://issuer.example";
pub const AUD: &str = "redirect_uri:https://rp.example/v1/sessions/x/response";

/// The verifier's snake_case wire name of a core error kind as vectors spell it
/// (`KbAudience` → `kb_audience`).
pub fn snake(kind: &str) -> String {
    kind.chars()
        .enumerate()
        .flat_map(|(i, c)| {
            let sep = (c.is_ascii_uppercase() && i > 0).then_some('_');
            sep.into_iter().chain(std::iter::once(c.to_ascii_lowercase()))
        })
        .collect()
}

/// Every `*.json` case in `dir` (relative to the crate), sorted by file name, with its name;
/// at least `min` of them.
pub fn load_cases(dir: &str, min: usize) -> Vec<(String, Value)> {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(
        files.len() >= min,
        "expected at least {min} cases in {}",
        dir.display()
    );
    files
        .into_iter()
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap())
        })
        .collect()
}

/// The verifier a vector's `input` describes: its issuer pinned to `issuer_jwks`, the clock at
/// `now`.
pub fn vector_verifier(input: &Value) -> Verifier {
    let trust = TrustList::new(vec![TrustedIssuer::pinned(
        input["issuer"].as_str().unwrap(),
        ageband_core::jwk::parse_jwk_or_set(&input["issuer_jwks"]).unwrap(),
    )])
    .unwrap();
    Verifier::from_trust_list(trust).with_clock(Arc::new(ManualClock::new(input["now"].as_u64().unwrap())))
}

pub fn t(y: u8) -> Threshold {
    Threshold::new(y).unwrap()
}

pub struct Fx {
    pub issuer: RingSigner,
    pub holder: RingSigner,
    pub today: Date,
    pub now: u64,
    pub clock: Arc<ManualClock>,
    pub verifier: Verifier,
}

impl Fx {
    pub fn new() -> Self {
        Self::with_issuer(|i| i)
    }

    /// A fixture whose one trusted issuer is shaped by `policy`.
    pub fn with_issuer(policy: impl FnOnce(TrustedIssuer) -> TrustedIssuer) -> Self {
        let issuer = RingSigner::generate().unwrap();
        let holder = RingSigner::generate().unwrap();
        let today = Date::parse("2026-11-29").unwrap();
        let now = today.unix_seconds() + 3600;
        let clock = Arc::new(ManualClock::new(now));
        let trust = TrustList::new(vec![policy(TrustedIssuer::pinned(
            ISS,
            vec![issuer.public_jwk().clone()],
        ))])
        .unwrap();
        let verifier = Verifier::from_trust_list(trust).with_clock(clock.clone());
        Fx {
            issuer,
            holder,
            today,
            now,
            clock,
            verifier,
        }
    }

    pub fn template(&self, preds: &[(u8, bool)]) -> CredentialTemplate {
        CredentialTemplate {
            issuer: ISS.into(),
            iat: self.today,
            exp: self.today.add_days(30),
            assurance: AssuranceLevel::Standard,
            source: Source::OfficialId,
            predicates: preds.iter().map(|&(y, v)| (t(y), v)).collect::<BTreeMap<_, _>>(),
            pad_to: 3,
        }
    }

    /// A credential of a holder aged 14: 13 true, 16 false, 18 false.
    pub fn credential(&self) -> String {
        self.credential_from(&self.template(&[(13, true), (16, false), (18, false)]))
    }

    pub fn credential_from(&self, template: &CredentialTemplate) -> String {
        profile::issue(
            template,
            self.holder.public_jwk(),
            &self.issuer,
            &mut OsRng::new(),
        )
        .unwrap()
    }

    pub fn request(&self, q: AgeQuestion) -> AgeRequest {
        AgeRequest::new(q, AUD).unwrap()
    }

    pub fn present(&self, credential: &str, thresholds: &[u8], req: &AgeRequest) -> String {
        let ts: Vec<Threshold> = thresholds.iter().map(|&y| t(y)).collect();
        profile::present(
            credential,
            &ts,
            &self.holder,
            req.audience(),
            req.nonce(),
            self.now,
        )
        .unwrap()
    }

    /// The payload `profile::issue` would make, with the given disclosures embedded.
    pub fn payload(&self, disclosures: &[Disclosure]) -> Map<String, Value> {
        let mut p = Map::new();
        p.insert("iss".into(), ISS.into());
        p.insert("vct".into(), VCT.into());
        p.insert("iat".into(), self.today.unix_seconds().into());
        p.insert("exp".into(), self.today.add_days(30).unix_seconds().into());
        p.insert("cnf".into(), json!({"jwk": self.holder.public_jwk().to_json()}));
        p.insert("_sd_alg".into(), "sha-256".into());
        p.insert("assurance".into(), "standard".into());
        p.insert("source".into(), "official_id".into());
        for d in disclosures {
            sdjwt::embed_property(&mut p, d);
        }
        p
    }

    pub fn header(&self) -> Value {
        json!({"alg": "ES256", "typ": "dc+sd-jwt", "kid": self.issuer.public_jwk().thumbprint()})
    }

    pub fn disclosure(&self, name: &str, value: Value) -> Disclosure {
        Disclosure::property(&mut OsRng::new(), name, value).unwrap()
    }

    /// `<JWT>~<D…>~` signed by `signer` from a raw header and payload.
    pub fn craft_with(
        &self,
        signer: &dyn Signer,
        header: &Value,
        payload: Map<String, Value>,
        disclosures: &[Disclosure],
    ) -> String {
        sdjwt::issue(signer, header, &Value::Object(payload), disclosures).unwrap()
    }

    pub fn craft(&self, header: &Value, payload: Map<String, Value>, disclosures: &[Disclosure]) -> String {
        self.craft_with(&self.issuer, header, payload, disclosures)
    }

    /// An issuer-signed SD-JWT with the standard header whose payload references `d` alone,
    /// presenting `d`.
    pub fn craft_one(&self, d: &Disclosure) -> String {
        let ds = std::slice::from_ref(d);
        self.craft(&self.header(), self.payload(ds), ds)
    }

    /// Appends a KB-JWT by the holder for `req` at the fixture's time.
    pub fn bind(&self, sd_jwt: &str, req: &AgeRequest) -> String {
        sdjwt::attach_kb_jwt(sd_jwt, &self.holder, req.audience(), req.nonce(), self.now).unwrap()
    }

    /// Appends a KB-JWT with a raw header and payload, signed by `signer`.
    pub fn bind_raw(&self, sd_jwt: &str, signer: &dyn Signer, header: &Value, payload: &Value) -> String {
        format!("{sd_jwt}{}", jws::sign_compact(signer, header, payload).unwrap())
    }

    pub fn kb_payload(&self, sd_jwt: &str, req: &AgeRequest) -> Value {
        json!({"iat": self.now, "aud": req.audience(), "nonce": req.nonce(), "sd_hash": sdjwt::digest(sd_jwt)})
    }
}

/// Replaces the JWT segment `index` (0 header, 1 payload, 2 signature) of the issuer JWT.
pub fn replace_segment(presentation: &str, index: usize, segment: &str) -> String {
    let (jwt, rest) = presentation.split_once('~').unwrap();
    let mut parts: Vec<&str> = jwt.split('.').collect();
    parts[index] = segment;
    format!("{}~{rest}", parts.join("."))
}

pub fn enc(v: &Value) -> String {
    b64::encode(v.to_string())
}
