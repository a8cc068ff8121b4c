//! Issuer directories (blind-profile.md §4): `Directory::parse` on the input bytes; an accepted
//! directory round-trips through `to_json`, satisfies the one-key rules as seen from outside
//! (1..=48 keys, at most 4 months, one key per slot, no key twice, bounds of each month), finds
//! each of its keys by id and by slot, and is checked for consistency (§4.4) both ways against
//! the fixed valid directory of `specs/vectors/blind/001_valid.json`.
#![no_main]

use std::collections::BTreeSet;

use ageband_blind::profile::{Directory, MAX_DIRECTORY_KEYS, MAX_DIRECTORY_MONTHS};
use ageband_fuzz::blind::vectors;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(d) = Directory::parse(data) else {
        return;
    };
    let again = Directory::parse(d.to_json().as_bytes()).expect("to_json output parses");
    assert_eq!(again, d);
    let keys = d.keys();
    assert!(!keys.is_empty() && keys.len() <= MAX_DIRECTORY_KEYS);
    let months: BTreeSet<_> = keys.iter().map(|k| k.month()).collect();
    assert!(months.len() <= MAX_DIRECTORY_MONTHS);
    let mut ids = BTreeSet::new();
    let mut slots = BTreeSet::new();
    for k in keys {
        assert!(ids.insert(k.token_key_id()), "a key listed twice");
        assert!(slots.insert((k.fact().name(), k.floor().number(), k.month())), "two keys for a slot");
        assert_eq!(k.not_before(), k.month().not_before());
        assert_eq!(k.not_after(), k.month().not_after());
        assert!(k.not_before() < k.not_after());
        assert_eq!(d.key_by_id(&k.token_key_id()), Some(k));
        assert_eq!(d.key_for(k.fact(), k.floor(), k.month()), Some(k));
        assert_eq!(k.public_key().modulus_bits(), 2048);
    }
    assert!(d.check_consistent_with(&d).is_ok());
    let fixed = &vectors().directory;
    let a = d.check_consistent_with(fixed);
    let b = fixed.check_consistent_with(&d);
    // Consistency is symmetric: a slot with another key is a change either way.
    assert_eq!(a.is_ok(), b.is_ok());
});
