//! `POST /evidence` bodies and the evidence tokens inside them: `Evidence::from_json`, then
//! `Issuer::accept_evidence` on a temporary issuer. To get past signatures, the input is
//! rewritten before parsing when it is JSON:
//! - an `id_token` or `assertion` that is an object becomes a compact ES256 JWT with those
//!   claims, signed by the configured identity or check provider (header `kid` from a `kid`
//!   claim, if any, which is then dropped);
//! - `presentation` = `"@ADULT@"` becomes a presentation of an adult credential of this issuer
//!   bound to the body's `nonce`;
//! - any string `"@NONCE@"` becomes a fresh c_nonce (the same one throughout the body).
#![no_main]

use std::sync::OnceLock;

use ageband_core::age::Threshold;
use ageband_core::jws::Signer;
use ageband_core::profile;
use ageband_fuzz::{ISSUER_URL, key_from_byte, proof, sign, temp_issuer};
use ageband_issuer::{Evidence, SecretString};
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};

/// An adult credential of the temporary issuer and its holder key byte.
fn adult() -> &'static String {
    static A: OnceLock<String> = OnceLock::new();
    A.get_or_init(|| {
        let t = temp_issuer();
        let ev = Evidence::SelfDeclared {
            birthdate: SecretString::new("1990-01-01"),
        };
        let code = t.issuer.accept_evidence(&ev).unwrap().pre_authorized_code;
        let token = t.issuer.redeem_code(&code).unwrap().access_token;
        let nonce = t.issuer.new_nonce().unwrap();
        let p = proof(&key_from_byte(200), ISSUER_URL, &nonce, t.issuer.now());
        let body = json!({"credential_configuration_id": "ageband_age_v1", "proofs": {"jwt": [p]}});
        t.issuer
            .credential_request(Some(&token), body.to_string().as_bytes())
            .unwrap()
            .remove(0)
    })
}

fn rewrite(v: &mut Value, nonce: &mut Option<String>) {
    let t = temp_issuer();
    match v {
        Value::String(s) if s == "@NONCE@" => {
            *s = nonce.get_or_insert_with(|| t.issuer.new_nonce().unwrap()).clone();
        }
        Value::Array(a) => a.iter_mut().for_each(|x| rewrite(x, nonce)),
        Value::Object(o) => {
            for (_, x) in o.iter_mut() {
                rewrite(x, nonce);
            }
            for (member, key, kid) in [("id_token", &t.idp, "idp-1"), ("assertion", &t.check, "chk-1")] {
                if let Some(Value::Object(claims)) = o.get_mut(member) {
                    let kid = claims.remove("kid").unwrap_or_else(|| kid.into());
                    let header = json!({"alg": "ES256", "typ": "JWT", "kid": kid});
                    let jwt = sign(key as &dyn Signer, &header, &Value::Object(claims.clone()));
                    o.insert(member.into(), Value::String(jwt));
                }
            }
            if o.get("presentation").and_then(Value::as_str) == Some("@ADULT@") {
                let n = o.get("nonce").and_then(Value::as_str).unwrap_or("").to_owned();
                let eighteen = [Threshold::new(18).unwrap()];
                let p = profile::present(
                    adult(),
                    &eighteen,
                    &key_from_byte(200),
                    ISSUER_URL,
                    &n,
                    t.issuer.now(),
                )
                .unwrap();
                o.insert("presentation".into(), Value::String(p));
            }
        }
        _ => {}
    }
}

fuzz_target!(|data: &[u8]| {
    let t = temp_issuer();
    let body = match serde_json::from_slice::<Value>(data) {
        Ok(mut v) => {
            let mut nonce = None;
            rewrite(&mut v, &mut nonce);
            v.to_string().into_bytes()
        }
        Err(_) => data.to_vec(),
    };
    let Ok(ev) = Evidence::from_json(&body) else {
        return;
    };
    if let Ok(offer) = t.issuer.accept_evidence(&ev) {
        assert!(!offer.pre_authorized_code.is_empty());
        let token = t
            .issuer
            .redeem_code(&offer.pre_authorized_code)
            .expect("a fresh code redeems");
        assert!(token.expires_in > 0);
    }
});
