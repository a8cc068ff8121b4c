//! Strict JSON: `parse_value` on any bytes; whatever parses prints to JSON that parses to the
//! same value, and every accepted input is also accepted by plain serde_json (strictness only
//! removes inputs).
#![no_main]

use ageband_core::json::{JsonError, MAX_DEPTH, parse_object, parse_value};
use ageband_fuzz::json_eq;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fn depth(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        Value::Object(o) => 1 + o.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

fuzz_target!(|data: &[u8]| {
    let max = 64 * 1024;
    let strict = parse_value(data, max);
    match (&strict, parse_object(data, max)) {
        (Ok(Value::Object(a)), Ok(b)) => assert_eq!(a, &b),
        (Ok(_), Err(JsonError::NotAnObject)) => {}
        (Err(a), Err(b)) => assert_eq!(a, &b),
        (a, b) => panic!("parse_value {a:?} but parse_object {b:?}"),
    }
    let Ok(v) = strict else {
        return;
    };
    assert!(depth(&v) <= MAX_DEPTH);
    let plain: Value = serde_json::from_slice(data).expect("strict JSON is JSON");
    assert!(json_eq(&plain, &v));
    let printed = v.to_string();
    let again = parse_value(printed.as_bytes(), usize::MAX).expect("printed JSON parses");
    assert!(json_eq(&again, &v));
});
