//! The shared verification vectors (`specs/vectors/verify/*.json`) through `Verifier::verify`:
//! every case fails with the snake_case form of its expected kind, and the accepted ones give
//! the expected outcome when asked the matching question.
#![allow(missing_docs, clippy::unwrap_used)]

mod common;

use ageband_core::age::{AgeQuestion, Threshold, ThresholdSet};
use ageband_verifier::AgeRequest;
use serde_json::Value;

use common::{load_cases, snake, vector_verifier};

#[test]
fn shared_verify_vectors() {
    for (name, case) in load_cases("../specs/vectors/verify", 40) {
        let input = &case["input"];
        let verifier = vector_verifier(input);
        let (aud, nonce) = (input["aud"].as_str().unwrap(), input["nonce"].as_str().unwrap());
        let presentation = input["presentation"].as_str().unwrap();
        let expect = case["expect"].as_str().unwrap();
        if expect != "ok" {
            let got = verifier.verify(presentation, &AgeRequest::any(aud, nonce).unwrap());
            assert_eq!(
                got.map_err(|e| e.kind()).err(),
                Some(snake(expect).as_str()),
                "{name}"
            );
            continue;
        }
        let want = &case["outcome"];
        let t = |v: &Value| v.as_u64().map(|n| Threshold::new(n as u8).unwrap());
        let question = match (t(&want["at_least"]), t(&want["under"])) {
            (Some(a), Some(u)) => Some(AgeQuestion::Band(
                ThresholdSet::new(&[a.years(), u.years()]).unwrap(),
            )),
            (Some(a), None) => Some(AgeQuestion::AtLeast(a)),
            (None, Some(u)) => Some(AgeQuestion::Under(u)),
            (None, None) => None,
        };
        let Some(question) = question else {
            // Nothing disclosed answers no question.
            let got = verifier.verify(presentation, &AgeRequest::any(aud, nonce).unwrap());
            assert_eq!(got.unwrap_err().kind(), "claim_set_mismatch", "{name}");
            continue;
        };
        let request = AgeRequest::with_nonce(question, aud, nonce).unwrap();
        let o = verifier
            .verify(presentation, &request)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        // The shared vectors' outcomes predate the `profile` member (protocol.md §8.5).
        let mut got = serde_json::to_value(&o).unwrap();
        assert_eq!(got["profile"], "sd_jwt", "{name}");
        got.as_object_mut().unwrap().remove("profile");
        assert_eq!(got, *want, "{name}");
    }
}
