//! `POST /credential` bodies: `Issuer::credential_request` with a live access token and the
//! input as body, against a temporary issuer. In the input, `@PROOF<b>@` becomes a valid
//! OpenID4VCI proof by the holder key named by byte `<b>` over a fresh c_nonce, and `@NONCE@`
//! a fresh c_nonce, so the fuzzer reaches proof checking and issuance.
#![no_main]

use std::sync::atomic::{AtomicU64, Ordering};

use ageband_core::profile;
use ageband_fuzz::{ISSUER_URL, key_from_byte, proof, temp_issuer};
use ageband_issuer::{Evidence, SecretString};
use libfuzzer_sys::fuzz_target;

fn expand(data: &[u8]) -> Vec<u8> {
    let t = temp_issuer();
    let mut out = Vec::with_capacity(data.len() + 256);
    let mut i = 0;
    while i < data.len() {
        let rest = &data[i..];
        if rest.starts_with(b"@NONCE@") {
            out.extend_from_slice(t.issuer.new_nonce().expect("nonce").as_bytes());
            i += 7;
        } else if rest.len() >= 8 && rest.starts_with(b"@PROOF") && rest[7] == b'@' {
            let nonce = t.issuer.new_nonce().expect("nonce");
            let p = proof(&key_from_byte(rest[6]), ISSUER_URL, &nonce, t.issuer.now());
            out.extend_from_slice(p.as_bytes());
            i += 8;
        } else {
            out.push(data[i]);
            i += 1;
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    static RUNS: AtomicU64 = AtomicU64::new(0);
    let t = temp_issuer();
    // Keep the store small: let codes, tokens and nonces expire now and then.
    if RUNS.fetch_add(1, Ordering::Relaxed) % 512 == 511 {
        t.clock.advance(301);
        t.issuer.purge().expect("purge");
    }
    let ev = Evidence::SelfDeclared {
        birthdate: SecretString::new("2010-07-04"),
    };
    let code = t
        .issuer
        .accept_evidence(&ev)
        .expect("self declaration accepted")
        .pre_authorized_code;
    let token = t.issuer.redeem_code(&code).expect("fresh code").access_token;
    let body = expand(data);
    let Ok(creds) = t.issuer.credential_request(Some(&token), &body) else {
        return;
    };
    assert!(!creds.is_empty() && creds.len() <= t.issuer.config().batch_size);
    for c in &creds {
        let held = profile::held_predicates(c).expect("issued credential reads back");
        assert!(!held.is_empty());
    }
    // The token is spent.
    assert!(t.issuer.credential_request(Some(&token), &body).is_err());
});
