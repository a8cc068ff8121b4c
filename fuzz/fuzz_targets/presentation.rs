//! Presentations as a verifier receives them: split, both JWTs, disclosures, the payload walk,
//! key binding and the profile's claims, under the seeded vectors' trust, audience, nonce and
//! clock (so the seed corpus from `specs/vectors/verify/` verifies and mutations stay close).
#![no_main]

use ageband_core::profile::{self, AgeVerifyOptions, TYP};
use ageband_core::sdjwt::{KbRequirements, Presentation, VerifyOptions, verify_presentation};
use ageband_fuzz::fixture;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let f = fixture();
    if let Ok(p) = Presentation::parse(text) {
        // The split keeps the exact bytes: re-joining the parts gives the input back.
        let mut again = String::from(p.issuer_jwt);
        again.push('~');
        for d in &p.disclosures {
            again.push_str(d);
            again.push('~');
        }
        assert_eq!(again, p.sd_jwt);
        again.push_str(p.kb_jwt.unwrap_or(""));
        assert_eq!(again, text);
    }
    let opts = AgeVerifyOptions::new(f.now, &f.aud, &f.nonce);
    let profiled = profile::verify(text, &f.trust, &opts);
    let generic = verify_presentation(
        text,
        &f.trust,
        &VerifyOptions {
            typ: TYP,
            now: f.now,
            skew: opts.skew,
            kb: KbRequirements {
                audience: &f.aud,
                nonce: &f.nonce,
                max_age: opts.kb_max_age,
                max_future: opts.kb_max_future,
            },
        },
    );
    // The profile only adds checks to RFC 9901's algorithm.
    if profiled.is_ok() {
        let v = generic.expect("profile accepted what the SD-JWT layer refused");
        assert_eq!(&v.holder, ageband_core::jws::Signer::public_jwk(&f.holder_key));
    }
});
