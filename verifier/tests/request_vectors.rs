//! `specs/vectors/request/`: valid credentials whose answer does not fit the platform's
//! question — over-disclosure, half a claim set, a negative answer where none is accepted, a
//! level below the platform's minimum — and the answers that do fit.
#![allow(missing_docs, clippy::unwrap_used)]

mod common;

use ageband_core::age::{AgeQuestion, Threshold, ThresholdSet};
use ageband_verifier::AgeRequest;
use serde_json::Value;

use common::{load_cases, snake, vector_verifier};

/// The request the vector's `question` describes, in the service's JSON shape.
fn request(q: &Value, aud: &str, nonce: &str) -> AgeRequest {
    let t = |v: &Value| Threshold::new(v.as_u64().unwrap() as u8).unwrap();
    let question = if let Some(n) = q.get("at_least") {
        AgeQuestion::AtLeast(t(n))
    } else if let Some(n) = q.get("under") {
        AgeQuestion::Under(t(n))
    } else {
        let band: Vec<u8> = q["band"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u8)
            .collect();
        AgeQuestion::Band(ThresholdSet::new(&band).unwrap())
    };
    let mut r = AgeRequest::with_nonce(question, aud, nonce)
        .unwrap()
        .accept_negative(q["allow_negative"].as_bool().unwrap_or(false));
    if let Some(level) = q["min_assurance"].as_str() {
        r = r.min_assurance(level.parse().unwrap());
    }
    r
}

#[test]
fn request_vectors() {
    for (name, case) in load_cases("../specs/vectors/request", 8) {
        let input = &case["input"];
        let verifier = vector_verifier(input);
        let req = request(
            &input["question"],
            input["aud"].as_str().unwrap(),
            input["nonce"].as_str().unwrap(),
        );
        let got = verifier.verify(input["presentation"].as_str().unwrap(), &req);
        match case["expect"].as_str().unwrap() {
            "ok" => {
                got.unwrap_or_else(|e| panic!("{name}: {e}"));
            }
            kind => assert_eq!(
                got.map(|_| ()).map_err(|e| e.kind()),
                Err(snake(kind).as_str()),
                "{name}"
            ),
        }
    }
}
