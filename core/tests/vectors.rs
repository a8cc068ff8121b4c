//! Runs every vector in `specs/vectors/{issue,present,verify}/` and checks that the files are
//! exactly what the seeded generator writes (`cargo run -p ageband-core --example gen_vectors`).

#![allow(clippy::unwrap_used)]

#[path = "support/gen.rs"]
mod generator;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use ageband_core::age::{AssuranceLevel, Date, Threshold, outcome_of};
use ageband_core::jwk::{PublicJwk, parse_jwk_or_set};
use ageband_core::profile::{self, AgeVerifyOptions, CredentialTemplate, SingleIssuer};
use ageband_core::sdjwt::VerifyError;
use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../specs/vectors")
}

fn load(dir: &str) -> Vec<(String, Value)> {
    let mut files: Vec<_> = std::fs::read_dir(root().join(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap(),
            )
        })
        .collect()
}

#[test]
fn verify_vectors() {
    let cases = load("verify");
    assert!(cases.len() >= 40, "the attack matrix has at least 40 cases");
    let mut failing_kinds = BTreeSet::new();
    for (name, case) in &cases {
        let input = &case["input"];
        let keys = SingleIssuer::with_keys(
            input["issuer"].as_str().unwrap(),
            parse_jwk_or_set(&input["issuer_jwks"]).unwrap(),
        );
        let opts = AgeVerifyOptions::new(
            input["now"].as_u64().unwrap(),
            input["aud"].as_str().unwrap(),
            input["nonce"].as_str().unwrap(),
        );
        let got = profile::verify(input["presentation"].as_str().unwrap(), &keys, &opts);
        match (case["expect"].as_str().unwrap(), got) {
            ("ok", Ok(claims)) => {
                let band = outcome_of(&claims.predicates);
                let want = &case["outcome"];
                assert_eq!(
                    band.at_least.map(Value::from).unwrap_or(Value::Null),
                    want["at_least"],
                    "{name}"
                );
                assert_eq!(
                    band.under.map(Value::from).unwrap_or(Value::Null),
                    want["under"],
                    "{name}"
                );
                assert_eq!(claims.assurance.as_str(), want["assurance"], "{name}");
                assert_eq!(claims.source.as_str(), want["source"], "{name}");
                assert_eq!(claims.issuer, want["issuer"].as_str().unwrap(), "{name}");
            }
            (kind, Err(e)) => {
                assert_eq!(e.kind(), kind, "{name}: {e}");
                failing_kinds.insert(e.kind());
            }
            (kind, Ok(_)) => panic!("{name}: expected {kind}, verified"),
        }
    }
    let all: BTreeSet<&str> = VerifyError::KINDS.iter().copied().collect();
    let missing: Vec<_> = all.difference(&failing_kinds).collect();
    assert!(
        missing.is_empty(),
        "error kinds without a failing vector: {missing:?}"
    );
}

#[test]
fn issue_vectors() {
    for (name, case) in load("issue") {
        let input = &case["input"];
        let issuer = generator::DetKey::new("ageband vectors: issuer");
        assert_eq!(input["issuer_d"], issuer.d(), "{name}");
        let holder = PublicJwk::from_json(&input["holder_jwk"]).unwrap();
        let predicates: BTreeMap<Threshold, bool> = input["predicates"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (Threshold::from_claim_name(k).unwrap(), v.as_bool().unwrap()))
            .collect();
        let tpl = CredentialTemplate {
            issuer: input["issuer"].as_str().unwrap().into(),
            iat: Date::parse(input["iat_day"].as_str().unwrap()).unwrap(),
            exp: Date::parse(input["exp_day"].as_str().unwrap()).unwrap(),
            assurance: input["assurance"]
                .as_str()
                .unwrap()
                .parse::<AssuranceLevel>()
                .unwrap(),
            source: input["source"].as_str().unwrap().parse().unwrap(),
            predicates,
            pad_to: input["pad_to"].as_u64().unwrap() as usize,
        };
        let mut rng = generator::SeededRng::new(input["rng_seed"].as_str().unwrap());
        let cred = profile::issue(&tpl, &holder, &issuer, &mut rng).unwrap();
        assert_eq!(cred, case["output"].as_str().unwrap(), "{name}");
        // Every credential carries exactly pad_to digests, whatever was left out.
        let payload = cred.split('.').nth(1).unwrap();
        let payload: Value =
            serde_json::from_slice(&ageband_core::b64::decode(payload, 4096).unwrap()).unwrap();
        assert_eq!(payload["_sd"].as_array().unwrap().len(), 3, "{name}");
    }
}

#[test]
fn present_vectors() {
    for (name, case) in load("present") {
        let input = &case["input"];
        let holder = generator::DetKey::new("ageband vectors: holder");
        assert_eq!(input["holder_d"], holder.d());
        let ts: Vec<Threshold> = input["thresholds"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| Threshold::new(v.as_u64().unwrap() as u8).unwrap())
            .collect();
        let vp = profile::present(
            input["credential"].as_str().unwrap(),
            &ts,
            &holder,
            input["aud"].as_str().unwrap(),
            input["nonce"].as_str().unwrap(),
            input["iat"].as_u64().unwrap(),
        )
        .unwrap();
        assert_eq!(vp, case["output"].as_str().unwrap(), "{name}");
        assert_eq!(
            vp.matches('~').count(),
            ts.len() + 1,
            "{name}: only the chosen disclosures"
        );
    }
}

#[test]
fn vector_files_match_the_generator() {
    let generated = generator::generate();
    let mut on_disk = BTreeSet::new();
    for dir in ["issue", "present", "verify", "evidence", "request"] {
        for (name, _) in load(dir) {
            on_disk.insert(format!("{dir}/{name}"));
        }
    }
    let expected: BTreeSet<String> = generated.iter().map(|(p, _)| p.clone()).collect();
    assert_eq!(
        on_disk, expected,
        "run `cargo run -p ageband-core --example gen_vectors`"
    );
    for (path, text) in generated {
        let disk = std::fs::read_to_string(root().join(&path)).unwrap();
        assert!(
            disk == text,
            "{path} is stale: run `cargo run -p ageband-core --example gen_vectors`"
        );
    }
}
