//! JWKs and JWK sets: strict JSON → `PublicJwk::from_json` → `to_json` → parse gives the same
//! key and thumbprint; `parse_jwk_or_set` returns keys that round-trip the same way.
#![no_main]

use ageband_core::json::parse_value;
use ageband_core::jwk::{PublicJwk, jwk_set, parse_jwk_or_set};
use ageband_fuzz::jwk_round_trip;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // A raw point also goes through the SEC1 constructor.
    if let Ok(k) = PublicJwk::from_uncompressed(data) {
        assert_eq!(k.uncompressed().as_slice(), data);
        jwk_round_trip(&k);
    }
    let Ok(value) = parse_value(data, 64 * 1024) else {
        return;
    };
    if let Ok(k) = PublicJwk::from_json(&value) {
        jwk_round_trip(&k);
        assert_eq!(PublicJwk::from_uncompressed(&k.uncompressed()).as_ref(), Ok(&k));
        assert_eq!(&k.compressed()[1..], &k.uncompressed()[1..33]);
    }
    if let Ok(keys) = parse_jwk_or_set(&value) {
        assert!(!keys.is_empty());
        keys.iter().for_each(jwk_round_trip);
        assert_eq!(parse_jwk_or_set(&jwk_set(&keys)).as_ref(), Ok(&keys));
    }
});
