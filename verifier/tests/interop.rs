//! Presentations made by another SD-JWT implementation (the reference Python `sd-jwt`, see
//! `tests/interop/generate.py`): the well-formed ones verify; inputs that library accepts but
//! ageband must refuse fail with their specific kind (issue 3 §4).
#![allow(missing_docs, clippy::unwrap_used)]

mod common;

use ageband_core::age::{AgeQuestion, Threshold, ThresholdSet};
use ageband_verifier::AgeRequest;
use serde_json::Value;

use common::{load_cases, snake, vector_verifier};

fn question(q: &Value) -> AgeQuestion {
    let t = |v: &Value| Threshold::new(u8::try_from(v.as_u64().unwrap()).unwrap()).unwrap();
    if let Some(band) = q.get("band") {
        let years: Vec<u8> = band.as_array().unwrap().iter().map(|v| t(v).years()).collect();
        AgeQuestion::Band(ThresholdSet::new(&years).unwrap())
    } else if let Some(n) = q.get("at_least") {
        AgeQuestion::AtLeast(t(n))
    } else {
        AgeQuestion::Under(t(&q["under"]))
    }
}

#[test]
fn python_sd_jwt_fixtures() {
    let (mut accepted, mut refused_though_python_accepts) = (0, 0);
    for (name, case) in load_cases("tests/interop", 14) {
        let input = &case["input"];
        let verifier = vector_verifier(input);
        let request = AgeRequest::with_nonce(
            question(&case["question"]),
            input["aud"].as_str().unwrap(),
            input["nonce"].as_str().unwrap(),
        )
        .unwrap();
        let got = verifier.verify(input["presentation"].as_str().unwrap(), &request);
        match (case["expect"].as_str().unwrap(), got) {
            ("ok", Ok(o)) => {
                // The fixtures predate the `profile` member (protocol.md §8.5); every one is SD-JWT.
                let mut got = serde_json::to_value(&o).unwrap();
                assert_eq!(got["profile"], "sd_jwt", "{name}");
                got.as_object_mut().unwrap().remove("profile");
                assert_eq!(got, case["outcome"], "{name}");
                accepted += 1;
            }
            ("ok", Err(e)) => panic!("{name}: rejected: {e}"),
            (kind, Err(e)) => {
                assert_eq!(e.kind(), snake(kind), "{name}: {e}");
                if case["python_sd_jwt_accepts"] == true {
                    refused_though_python_accepts += 1;
                }
            }
            (kind, Ok(o)) => panic!("{name}: expected {kind}, verified {o:?}"),
        }
    }
    assert!(accepted >= 3);
    assert!(
        refused_though_python_accepts >= 5,
        "the fixtures should include inputs the library accepts"
    );
}
