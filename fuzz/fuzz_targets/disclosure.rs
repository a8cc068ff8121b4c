//! Disclosures: `Disclosure::parse` on any text; whatever parses re-encodes (from its name and
//! value under a fixed salt) to a disclosure that parses to the same name and value, and the
//! digest is a function of the exact encoded bytes.
#![no_main]

use ageband_core::b64;
use ageband_core::sdjwt::{Disclosure, MAX_DISCLOSURE, digest};
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};

fuzz_target!(|data: &[u8]| {
    // Either the text itself, or (first byte odd) the rest base64url-encoded, so the fuzzer
    // also reaches the JSON shape checks directly.
    let encoded = match data.split_first() {
        Some((b, rest)) if b & 1 == 1 => b64::encode(rest),
        _ => match std::str::from_utf8(data) {
            Ok(s) => s.to_owned(),
            Err(_) => return,
        },
    };
    let Ok(d) = Disclosure::parse(&encoded) else {
        return;
    };
    assert_eq!(d.encoded(), encoded);
    assert_eq!(d.digest(), digest(&encoded));
    assert_eq!(Disclosure::parse(d.encoded()).as_ref(), Ok(&d));
    let array = match d.name() {
        Some(name) => json!(["c2FsdHNhbHRzYWx0c2FsdA", name, d.value()]),
        None => json!(["c2FsdHNhbHRzYWx0c2FsdA", d.value()]),
    };
    let re = b64::encode(array.to_string());
    if re.len() > MAX_DISCLOSURE {
        return;
    }
    let again = Disclosure::parse(&re).expect("a re-encoded disclosure parses");
    assert_eq!(again.name(), d.name());
    assert!(ageband_fuzz::json_eq(again.value(), d.value()));
    assert!(matches!(
        d.value(),
        Value::Null
            | Value::Bool(_)
            | Value::Number(_)
            | Value::String(_)
            | Value::Array(_)
            | Value::Object(_)
    ));
});
