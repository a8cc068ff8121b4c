//! Structure-aware presentations: the fuzzer writes the *contents* and the target signs them
//! with the seeded vectors' issuer and holder keys, so every input gets past both signatures and
//! exercises the disclosure walk, key binding and profile checks.
//!
//! Input lines (UTF-8):
//! - line 1: the issuer JWT payload. If it is a JSON object, a missing `cnf` becomes the holder
//!   key, a missing `_sd` (or `"_sd":"@ALL@"`) becomes the digests of every disclosure, and any
//!   string `"@D<n>@"` becomes the digest of disclosure n (for `{"...": "@D0@"}` elements);
//! - `H <json>`: the issuer JWT header instead of `{"alg":"ES256","typ":"dc+sd-jwt","kid":…}`;
//! - `K <json>`: the KB-JWT payload instead of the right one; `"@SDHASH@"` becomes the sd_hash;
//! - any other non-empty line: a disclosure, base64url-encoded by the target when it starts
//!   with `[`.
#![no_main]

use ageband_core::b64;
use ageband_core::jws::Signer;
use ageband_core::profile::{self, AgeVerifyOptions};
use ageband_core::sdjwt::digest;
use ageband_fuzz::fixture;
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value, json};

fn fill(v: &mut Value, digests: &[String]) {
    match v {
        Value::String(s) => {
            let n = s.strip_prefix("@D").and_then(|r| r.strip_suffix('@'));
            if let Some(d) = n
                .and_then(|n| n.parse::<usize>().ok())
                .and_then(|n| digests.get(n))
            {
                *s = d.clone();
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| fill(x, digests)),
        Value::Object(o) => o.values_mut().for_each(|x| fill(x, digests)),
        _ => {}
    }
}

fn jws(key: &dyn Signer, header: &[u8], payload: &[u8]) -> String {
    let mut out = format!("{}.{}", b64::encode(header), b64::encode(payload));
    let sig = key.sign(out.as_bytes()).expect("p256 signs");
    out.push('.');
    out.push_str(&b64::encode(sig));
    out
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let f = fixture();
    let mut lines = text.split('\n');
    let payload_line = lines.next().unwrap_or("");
    let (mut header, mut kb, mut disclosures) = (None, None, Vec::new());
    for line in lines {
        if let Some(h) = line.strip_prefix("H ") {
            header = Some(h.to_owned());
        } else if let Some(k) = line.strip_prefix("K ") {
            kb = Some(k.to_owned());
        } else if line.is_empty() {
            // A trailing newline is not an empty disclosure (the `presentation` target has those).
            continue;
        } else if line.starts_with('[') {
            disclosures.push(b64::encode(line));
        } else {
            disclosures.push(line.to_owned());
        }
    }
    let digests: Vec<String> = disclosures.iter().map(|d| digest(d)).collect();
    let payload = match serde_json::from_str::<Value>(payload_line) {
        Ok(Value::Object(mut o)) => {
            o.entry("cnf")
                .or_insert_with(|| json!({"jwk": f.holder_key.public_jwk().to_json()}));
            if o.get("_sd").is_none_or(|s| s == "@ALL@") {
                let mut all = digests.clone();
                all.sort();
                o.insert("_sd".into(), json!(all));
            }
            let mut v = Value::Object(o);
            fill(&mut v, &digests);
            v.to_string()
        }
        _ => payload_line.to_owned(),
    };
    let header = header.unwrap_or_else(|| {
        json!({"alg": "ES256", "typ": profile::TYP, "kid": f.issuer_key.public_jwk().thumbprint()})
            .to_string()
    });
    let mut sd_jwt = jws(&f.issuer_key, header.as_bytes(), payload.as_bytes());
    sd_jwt.push('~');
    for d in &disclosures {
        sd_jwt.push_str(d);
        sd_jwt.push('~');
    }
    let sd_hash = digest(&sd_jwt);
    let kb = match kb {
        Some(k) => match serde_json::from_str::<Value>(&k) {
            Ok(mut v) => {
                if let Value::Object(o) = &mut v {
                    for (_, x) in o.iter_mut() {
                        if x == "@SDHASH@" {
                            *x = Value::String(sd_hash.clone());
                        }
                    }
                }
                v.to_string()
            }
            Err(_) => k,
        },
        None => Value::Object(Map::from_iter([
            ("iat".to_owned(), json!(f.now)),
            ("aud".to_owned(), json!(f.aud)),
            ("nonce".to_owned(), json!(f.nonce)),
            ("sd_hash".to_owned(), json!(sd_hash)),
        ]))
        .to_string(),
    };
    let kb_header = json!({"alg": "ES256", "typ": "kb+jwt"}).to_string();
    let presentation = format!(
        "{sd_jwt}{}",
        jws(&f.holder_key, kb_header.as_bytes(), kb.as_bytes())
    );
    let opts = AgeVerifyOptions::new(f.now, &f.aud, &f.nonce);
    if let Ok(claims) = profile::verify(&presentation, &f.trust, &opts) {
        assert_eq!(claims.issuer, f.issuer);
        assert!(claims.expires_at > claims.issued_at);
        assert!(
            claims.predicates.windows(2).all(|w| w[0].0 < w[1].0),
            "{:?}",
            claims.predicates
        );
        assert!(claims.predicates.len() <= disclosures.len());
    }
});
