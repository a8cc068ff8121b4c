//! `POST /token` bodies: `Issuer::token_request` on form-encoded bytes, against a temporary
//! issuer. `@CODE@` in the input is replaced by a live pre-authorized code, so the fuzzer
//! reaches redemption as well as the form checks.
#![no_main]

use ageband_fuzz::temp_issuer;
use ageband_issuer::{Evidence, SecretString};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let t = temp_issuer();
    let mut body = data.to_vec();
    if let Some(at) = data.windows(6).position(|w| w == b"@CODE@") {
        let ev = Evidence::SelfDeclared {
            birthdate: SecretString::new("2000-01-01"),
        };
        let code = t
            .issuer
            .accept_evidence(&ev)
            .expect("self declaration accepted")
            .pre_authorized_code;
        body.splice(at..at + 6, code.bytes());
    }
    if let Ok(r) = t.issuer.token_request(&body) {
        assert_eq!(r.token_type, "Bearer");
        assert!(r.expires_in > 0);
    }
});
