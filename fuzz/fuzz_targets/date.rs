//! Dates: `Date::parse` → Display → parse round trip, and the age arithmetic on two parsed
//! dates (unix days inverse, birthdays, age, facts from a birth date) never panics and agrees
//! with itself.
#![no_main]

use ageband_core::age::{BirthDate, Date, ThresholdSet, VALIDITY_LADDER, facts_from_birth_date};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut parts = text.splitn(3, ' ');
    let Some(Ok(birth)) = parts.next().map(Date::parse) else {
        return;
    };
    assert_eq!(Date::parse(&birth.to_string()), Ok(birth));
    let days = birth.to_unix_days();
    assert_eq!(Date::from_unix_days(days), Some(birth));
    assert_eq!(
        Date::from_unix_seconds(birth.unix_seconds()),
        birth.max(Date::parse("1970-01-01").unwrap_or(birth))
    );
    let Some(Ok(today)) = parts.next().map(Date::parse) else {
        return;
    };
    assert_eq!(birth.days_until(&today), today.to_unix_days() - days);
    let age = birth.age_on(&today);
    assert_eq!(age.is_none(), today < birth);
    if let Some(age) = age {
        if let Some(b) = birth.nth_birthday(age) {
            assert!(b <= today);
        }
        if let Some(next) = birth.nth_birthday(age + 1) {
            assert!(next > today);
            assert_eq!(birth.age_on(&next), Some(age + 1));
        }
    }
    let thresholds = parts
        .next()
        .map(|s| s.bytes().take(8).map(|b| b % 100).collect::<Vec<u8>>())
        .and_then(|v| ThresholdSet::new(&v).ok())
        .unwrap_or_else(ThresholdSet::default_set);
    for &validity in &VALIDITY_LADDER {
        let Ok(facts) = facts_from_birth_date(&BirthDate::new(birth), today, &thresholds, validity) else {
            continue;
        };
        let age = age.unwrap_or(0);
        assert_eq!(facts.iat, today);
        assert!(facts.exp >= facts.iat);
        let span = today.days_until(&facts.exp);
        // Near year 9999 the ladder is clamped to the last representable day.
        if facts.exp != today {
            assert!(
                VALIDITY_LADDER.contains(&(span as u32)) && span <= i64::from(validity),
                "{span}"
            );
        }
        for &t in thresholds.as_slice() {
            let turns = birth.nth_birthday(u32::from(t.years()));
            match facts.predicates.get(&t) {
                Some(&v) => {
                    assert_eq!(v, age >= u32::from(t.years()));
                    if !v {
                        let turns = turns.expect("a false predicate has a turning day");
                        assert!(
                            facts.exp <= turns,
                            "exp after the day a false predicate turns true"
                        );
                        assert!(today.days_until(&turns) >= 7);
                    }
                }
                None => assert!(age < u32::from(t.years()) && turns.is_none_or(|d| today.days_until(&d) < 7)),
            }
        }
    }
});
