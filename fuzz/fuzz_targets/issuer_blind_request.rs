//! `POST /blind-token-request` bodies (blind-profile.md §12.1): `Issuer::blind_token_request`
//! with a live access token and the input as body, against a temporary issuer with a small
//! blind schedule (`age_over_18` and `age_under_16`, current month, floors 2 and 3: four keys;
//! batches of at most 4; 2 tokens per subject, fact and month, so a batch of three of one fact
//! is over the quota). In the input, `@SLOT<b>@` becomes the `"fact", "floor", "month"`
//! members of directory key `<b>` and `@TR<b>@` a valid base64url TokenRequest for that key,
//! so the slot, floor, fact, month, key-id and quota checks and the signing are reached.
//!
//! The access token: refused requests count towards its five-failure limit and a successful
//! one spends its blind use, so the target keeps one token for at most four refused inputs and
//! mints a new one (check assertion of a new subject, alternately an adult and a 14-year-old)
//! after that or after a success. Every input therefore reaches body parsing.
#![no_main]

use std::sync::Mutex;

use ageband_fuzz::blind::blind_temp_issuer;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

struct Live {
    token: Option<String>,
    failures: u32,
    minted: u64,
}

static LIVE: Mutex<Live> = Mutex::new(Live {
    token: None,
    failures: 0,
    minted: 0,
});

fn expand(data: &[u8]) -> Vec<u8> {
    let f = blind_temp_issuer();
    let n = f.requests.len();
    let mut out = Vec::with_capacity(data.len() + 512);
    let mut i = 0;
    while i < data.len() {
        let rest = &data[i..];
        let pooled = |tag: &[u8]| -> Option<usize> {
            (rest.len() > tag.len() + 1 && rest.starts_with(tag) && rest[tag.len() + 1] == b'@')
                .then(|| usize::from(rest[tag.len()]) % n)
        };
        if let Some(b) = pooled(b"@SLOT") {
            out.extend_from_slice(f.requests[b].0.as_bytes());
            i += 7;
        } else if let Some(b) = pooled(b"@TR") {
            out.extend_from_slice(f.requests[b].1.as_bytes());
            i += 5;
        } else {
            out.push(data[i]);
            i += 1;
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let f = blind_temp_issuer();
    let body = expand(data);
    let mut live = LIVE.lock().unwrap();
    if live.token.is_none() || live.failures >= 4 {
        let adult = live.minted.is_multiple_of(2);
        live.minted += 1;
        live.token = Some(f.mint(adult));
        live.failures = 0;
    }
    let token = live.token.clone().unwrap();
    match f.issuer.blind_token_request(Some(&token), &body) {
        Ok(responses) => {
            let sent: Value = serde_json::from_slice(&body).expect("an accepted body is JSON");
            let n = sent["requests"].as_array().expect("requests").len();
            assert_eq!(responses.len(), n);
            assert!((1..=f.issuer.config().blind.batch_size).contains(&n));
            // The blind use is spent: the same token is refused now.
            assert!(f.issuer.blind_token_request(Some(&token), &body).is_err());
            live.token = None;
        }
        Err(e) => {
            let _ = e.to_string();
            live.failures += 1;
        }
    }
});
