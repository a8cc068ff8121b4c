//! Property tests of the encode → parse round trips: base64url, strict JSON, JWKs, disclosures
//! and whole presentations (issue with random predicates, present a random subset, verify
//! exactly that subset). The fuzz targets in `fuzz/` cover the same parsers with arbitrary
//! bytes; these run on stable in the normal test suite.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::OnceLock;

use ageband_core::age::{AssuranceLevel, Date, Source, Threshold};
use ageband_core::b64;
use ageband_core::json::{JsonError, parse_object, parse_value};
use ageband_core::jwk::{PublicJwk, jwk_set, parse_jwk_or_set};
use ageband_core::jws::{RingSigner, Signer};
use ageband_core::profile::{self, AgeVerifyOptions, CredentialTemplate, SingleIssuer};
use ageband_core::rng::OsRng;
use ageband_core::sdjwt::{Disclosure, MAX_DISCLOSURE, VerifyError, digest};
use proptest::prelude::*;
use serde_json::{Map, Number, Value};

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        ..ProptestConfig::default()
    }
}

/// JSON values of bounded depth and size; object keys are unique by construction.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| Value::Number(Number::from_f64(f).unwrap())),
        "\\PC{0,12}".prop_map(Value::String),
        "[\"\\\\\\x{0}-\\x{1f}\\[\\]{}]{0,4}".prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("\\PC{0,8}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Equality with floats compared to within 4 ULP: serde_json's default float parser may land a
/// little away from the value it printed (its `float_roundtrip` feature is off), most visibly
/// for subnormals such as 2.44647643270394e-309 (kept in the `.proptest-regressions` file).
fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            // Within a few units in the last place (subnormals included).
            x == y || (x.signum() == y.signum() && x.to_bits().abs_diff(y.to_bits()) <= 4)
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_eq(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn base64url_round_trip(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let enc = b64::encode(&bytes);
        prop_assert!(!enc.contains(['=', '+', '/']));
        prop_assert_eq!(b64::decode(&enc, bytes.len()).unwrap(), bytes.clone());
        // One byte under the cap refuses before decoding.
        if !bytes.is_empty() && b64::encoded_len(bytes.len() - 1) < enc.len() {
            prop_assert!(b64::decode(&enc, bytes.len() - 1).is_err());
        }
        // Padded spellings are refused, whatever the cap.
        if bytes.len() % 3 != 0 {
            let padded = base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE, &bytes);
            prop_assert!(padded.ends_with('='));
            prop_assert!(b64::decode(&padded, 1 << 20).is_err());
        }
    }

    #[test]
    fn base64url_accepts_only_canonical_text(text in "[A-Za-z0-9_=-]{0,24}") {
        if let Ok(bytes) = b64::decode(&text, 64) {
            prop_assert_eq!(b64::encode(bytes), text);
        }
    }

    #[test]
    fn strict_json_round_trip(v in json_value()) {
        let text = v.to_string();
        let parsed = parse_value(text.as_bytes(), 1 << 20).unwrap();
        prop_assert!(json_eq(&parsed, &v), "{} vs {}", parsed, v);
        let pretty = serde_json::to_string_pretty(&v).unwrap();
        prop_assert!(json_eq(&parse_value(pretty.as_bytes(), 1 << 20).unwrap(), &v));
        match parsed {
            Value::Object(m) => prop_assert_eq!(parse_object(text.as_bytes(), 1 << 20), Ok(m)),
            _ => prop_assert_eq!(parse_object(text.as_bytes(), 1 << 20), Err(JsonError::NotAnObject)),
        }
    }

    #[test]
    fn strict_json_refuses_a_repeated_member(v in json_value(), name in "[a-z]{1,6}") {
        let inner = v.to_string();
        let text = format!("{{\"{name}\":{inner},\"{name}\":{inner}}}");
        prop_assert_eq!(parse_value(text.as_bytes(), 1 << 20), Err(JsonError::DuplicateMember));
    }

    #[test]
    fn jwk_round_trip_and_thumbprint_under_reordering(
        x in prop::array::uniform32(any::<u8>()),
        y in prop::array::uniform32(any::<u8>()),
        order in Just(vec![0usize, 1, 2, 3, 4]).prop_shuffle(),
    ) {
        let mut point = vec![4u8];
        point.extend_from_slice(&x);
        point.extend_from_slice(&y);
        let k = PublicJwk::from_uncompressed(&point).unwrap();
        let again = PublicJwk::from_json(&k.to_json()).unwrap();
        prop_assert_eq!(&again, &k);
        prop_assert_eq!(again.uncompressed().to_vec(), point);
        // The members in any order, with an extra one: same key, same thumbprint.
        let members = [
            r#""kty":"EC""#.to_owned(),
            r#""crv":"P-256""#.to_owned(),
            format!(r#""x":"{}""#, b64::encode(x)),
            format!(r#""y":"{}""#, b64::encode(y)),
            r#""kid":"whatever""#.to_owned(),
        ];
        let text = format!("{{{}}}", order.iter().map(|&i| members[i].as_str()).collect::<Vec<_>>().join(","));
        let reordered = PublicJwk::from_json(&parse_value(text.as_bytes(), 4096).unwrap()).unwrap();
        prop_assert_eq!(&reordered, &k);
        prop_assert_eq!(reordered.thumbprint(), k.thumbprint());
        prop_assert_eq!(parse_jwk_or_set(&jwk_set(std::slice::from_ref(&k))).unwrap(), vec![k]);
    }

    #[test]
    fn disclosure_round_trip(name in "\\PC{0,16}", v in json_value(), element in any::<bool>()) {
        let mut rng = OsRng::new();
        let d = if element {
            Disclosure::element(&mut rng, v.clone()).unwrap()
        } else {
            Disclosure::property(&mut rng, &name, v.clone()).unwrap()
        };
        prop_assume!(d.encoded().len() <= MAX_DISCLOSURE);
        let parsed = Disclosure::parse(d.encoded()).unwrap();
        prop_assert_eq!(parsed.encoded(), d.encoded());
        prop_assert_eq!(parsed.name(), if element { None } else { Some(name.as_str()) });
        prop_assert!(json_eq(parsed.value(), &v));
        // The digest is over the exact encoded bytes, so it is the same after parsing.
        prop_assert_eq!(parsed.digest(), d.digest());
        prop_assert_eq!(parsed.digest(), digest(d.encoded()));
        prop_assert_eq!(parsed.digest().len(), 43);
    }
}

const ISSUER: &str = "https://issuer.example";
const AUD: &str = "redirect_uri:https://rp.example/cb";
const NONCE: &str = "n0nce-n0nce-n0nce-n0nce";

fn keys() -> &'static (RingSigner, RingSigner) {
    static K: OnceLock<(RingSigner, RingSigner)> = OnceLock::new();
    K.get_or_init(|| (RingSigner::generate().unwrap(), RingSigner::generate().unwrap()))
}

/// Up to 8 distinct thresholds, each with a value and whether it is presented.
fn predicates() -> impl Strategy<Value = BTreeMap<u8, (bool, bool)>> {
    prop::collection::btree_map(1u8..=99, (any::<bool>(), any::<bool>()), 1..=8)
}

proptest! {
    #![proptest_config(config(48))]

    #[test]
    fn presentation_discloses_exactly_the_chosen_subset(
        preds in predicates(),
        level in prop::sample::select(AssuranceLevel::ALL),
        source in prop::sample::select(Source::ALL),
        pad in 0usize..12,
    ) {
        let (issuer, holder) = keys();
        let iat = Date::parse("2026-07-01").unwrap();
        let t = |y: u8| Threshold::new(y).unwrap();
        let template = CredentialTemplate {
            issuer: ISSUER.into(),
            iat,
            exp: iat.add_days(90),
            assurance: level,
            source,
            predicates: preds.iter().map(|(&y, &(v, _))| (t(y), v)).collect(),
            pad_to: pad,
        };
        let issued = profile::issue(&template, holder.public_jwk(), issuer, &mut OsRng::new()).unwrap();
        prop_assert_eq!(profile::held_predicates(&issued).unwrap(), template.predicates.clone());
        let chosen: Vec<Threshold> = preds.iter().filter(|(_, (_, shown))| *shown).map(|(&y, _)| t(y)).collect();
        let now = iat.unix_seconds() + 3600;
        let vp = profile::present(&issued, &chosen, holder, AUD, NONCE, now).unwrap();
        let trust = SingleIssuer::new(ISSUER, issuer.public_jwk().clone());
        let claims = profile::verify(&vp, &trust, &AgeVerifyOptions::new(now, AUD, NONCE)).unwrap();
        let expected: Vec<(Threshold, bool)> = preds
            .iter()
            .filter(|(_, (_, shown))| *shown)
            .map(|(&y, &(v, _))| (t(y), v))
            .collect();
        prop_assert_eq!(claims.predicates, expected);
        prop_assert_eq!((claims.assurance, claims.source), (level, source));
        prop_assert_eq!(claims.issuer, ISSUER);
        prop_assert_eq!(claims.kid, issuer.public_jwk().thumbprint());
        prop_assert_eq!((claims.issued_at, claims.expires_at), (iat.unix_seconds(), template.exp.unix_seconds()));
        // Another audience or nonce, and the same bytes do not verify.
        prop_assert_eq!(profile::verify(&vp, &trust, &AgeVerifyOptions::new(now, "redirect_uri:https://other.example", NONCE)).unwrap_err(), VerifyError::KbAudience);
        prop_assert_eq!(profile::verify(&vp, &trust, &AgeVerifyOptions::new(now, AUD, "other-nonce-other-nonce")).unwrap_err(), VerifyError::KbNonce);
    }
}
