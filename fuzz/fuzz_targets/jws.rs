//! Compact JWS (issuer JWTs, KB-JWTs, OpenID4VCI proofs): `UnverifiedJws::parse` under each set
//! of header rules; whatever parses re-encodes to a JWS that parses to the same header and
//! payload, and verifying against a fixed key never panics.
#![no_main]

use ageband_core::b64;
use ageband_core::jws::{HeaderRules, UnverifiedJws};
use ageband_core::profile::TYP;
use ageband_core::sdjwt::KB_TYP;
use ageband_fuzz::fixture;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

const RULES: [HeaderRules; 3] = [
    HeaderRules {
        typ: TYP,
        jwk_in_header: false,
    },
    HeaderRules {
        typ: KB_TYP,
        jwk_in_header: false,
    },
    HeaderRules {
        typ: "openid4vci-proof+jwt",
        jwk_in_header: true,
    },
];

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let f = fixture();
    for rules in &RULES {
        let Ok(jws) = UnverifiedJws::parse(text, rules, 4096) else {
            continue;
        };
        let _ = jws.verify(ageband_core::jws::Signer::public_jwk(&f.issuer_key));
        let _ = jws.kid();
        if rules.jwk_in_header {
            let key = jws.header_jwk().expect("the rules demanded a usable header jwk");
            let _ = jws.verify(&key);
        }
        let sig = text.rsplit('.').next().unwrap_or("");
        // Printing may lengthen a member (`1E2` prints as `100.0`): stay under the caps.
        let header = Value::Object(jws.header.clone()).to_string();
        let payload = Value::Object(jws.payload.clone()).to_string();
        let re = format!("{}.{}.{}", b64::encode(&header), b64::encode(&payload), sig);
        if re.len() > ageband_core::jws::MAX_JWS || header.len() > ageband_core::jws::MAX_HEADER {
            continue;
        }
        let again = UnverifiedJws::parse(&re, rules, 4096.max(payload.len())).expect("re-encoded JWS parses");
        assert!(ageband_fuzz::json_eq(
            &Value::Object(again.header),
            &Value::Object(jws.header)
        ));
        assert!(ageband_fuzz::json_eq(
            &Value::Object(again.payload),
            &Value::Object(jws.payload)
        ));
    }
});
