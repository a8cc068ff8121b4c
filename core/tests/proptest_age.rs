//! Property tests of the age arithmetic (protocol.md §5, §8): dates, birthdays and ages, the
//! facts derived from a birth date and their `exp` rule, and the claim sets of a question.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use ageband_core::age::{
    AgeQuestion, BirthDate, Date, MIN_PREDICATE_DAYS, Threshold, ThresholdSet, VALIDITY_LADDER,
    choose_claim_set, facts_from_birth_date, outcome_of,
};
use proptest::prelude::*;

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        ..ProptestConfig::default()
    }
}

fn first_day() -> i64 {
    Date::new(1, 1, 1).unwrap().to_unix_days()
}
fn last_day() -> i64 {
    Date::new(9999, 12, 31).unwrap().to_unix_days()
}

/// Any representable date.
fn any_date() -> impl Strategy<Value = Date> {
    (first_day()..=last_day()).prop_map(|n| Date::from_unix_days(n).unwrap())
}

/// Dates of the years people are born and credentials issued in, with extra weight on the
/// leap day and the days around it.
fn civil_date() -> impl Strategy<Value = Date> {
    let lo = Date::new(1850, 1, 1).unwrap().to_unix_days();
    let hi = Date::new(2200, 12, 31).unwrap().to_unix_days();
    prop_oneof![
        3 => (lo..=hi).prop_map(|n| Date::from_unix_days(n).unwrap()),
        1 => (1850i32..2200, prop::sample::select(vec![(2u8, 28u8), (2, 29), (3, 1)]))
            .prop_filter_map("leap day of a common year", |(y, (m, d))| Date::new(y, m, d).ok()),
    ]
}

fn threshold_set() -> impl Strategy<Value = ThresholdSet> {
    prop::collection::btree_set(1u8..=99, 1..=ThresholdSet::MAX)
        .prop_map(|s| ThresholdSet::new(&s.into_iter().collect::<Vec<_>>()).unwrap())
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn date_display_parses_back(d in any_date()) {
        let text = d.to_string();
        prop_assert_eq!(text.len(), 10);
        prop_assert_eq!(Date::parse(&text), Ok(d));
        prop_assert_eq!(Date::new(d.year(), d.month(), d.day()), Ok(d));
    }

    #[test]
    fn unix_days_are_inverse(n in first_day()..=last_day()) {
        let d = Date::from_unix_days(n).unwrap();
        prop_assert_eq!(d.to_unix_days(), n);
        prop_assert_eq!(Date::from_unix_days(d.to_unix_days()), Some(d));
        // Consecutive day numbers are consecutive dates.
        if n < last_day() {
            prop_assert!(Date::from_unix_days(n + 1).unwrap() > d);
            prop_assert_eq!(d.add_days(1).to_unix_days(), n + 1);
        }
    }

    #[test]
    fn out_of_range_day_numbers_are_refused(n in prop_oneof![i64::MIN..first_day(), (last_day() + 1)..=i64::MAX]) {
        prop_assert_eq!(Date::from_unix_days(n), None);
    }

    #[test]
    fn age_is_monotone_in_the_day(birth in civil_date(), a in civil_date(), b in civil_date()) {
        let (early, late) = if a <= b { (a, b) } else { (b, a) };
        prop_assert!(birth.age_on(&early) <= birth.age_on(&late));
        prop_assert_eq!(birth.age_on(&early).is_none(), early < birth);
    }

    #[test]
    fn age_on_the_nth_birthday_is_n(birth in civil_date(), n in 0u32..=150) {
        let Some(day) = birth.nth_birthday(n) else {
            return Ok(());
        };
        prop_assert!(day >= birth);
        prop_assert_eq!(birth.age_on(&day), Some(n));
        if n > 0 {
            // The day before, one year younger: an "over" predicate never turns true early.
            prop_assert_eq!(birth.age_on(&day.add_days(-1)), Some(n - 1));
            let prev = birth.nth_birthday(n - 1).unwrap();
            prop_assert!((365..=366).contains(&prev.days_until(&day)));
        }
    }

    #[test]
    fn facts_from_a_birth_date_keep_the_rules(
        birth in civil_date(),
        today in civil_date(),
        thresholds in threshold_set(),
        validity in prop::sample::select(vec![30u32, 60, 90, 180, 365]),
    ) {
        let Ok(facts) = facts_from_birth_date(&BirthDate::new(birth), today, &thresholds, validity) else {
            let age = birth.age_on(&today);
            prop_assert!(age.is_none() || age.unwrap() > 150);
            return Ok(());
        };
        let age = birth.age_on(&today).unwrap();
        prop_assert_eq!(facts.iat, today);
        // exp - iat is a rung of the ladder, no longer than the configured validity.
        let span = today.days_until(&facts.exp);
        prop_assert!(VALIDITY_LADDER.contains(&u32::try_from(span).unwrap()), "span {}", span);
        prop_assert!(span <= i64::from(validity));
        for &t in thresholds.as_slice() {
            let years = u32::from(t.years());
            let turns = birth.nth_birthday(years).unwrap();
            match facts.predicates.get(&t) {
                // Predicates match the age on the day.
                Some(&v) => {
                    prop_assert_eq!(v, age >= years);
                    if !v {
                        // exp never after the day a false predicate turns true...
                        prop_assert!(facts.exp <= turns);
                        // ...and a false predicate is at least a week from turning.
                        prop_assert!(today.days_until(&turns) >= MIN_PREDICATE_DAYS);
                    }
                }
                // Only a false predicate within the week is left out.
                None => {
                    prop_assert!(age < years);
                    prop_assert!(today.days_until(&turns) < MIN_PREDICATE_DAYS);
                }
            }
        }
        // The largest fitting rung was taken: the next one up would pass a turning day or the
        // configured validity.
        if let Some(&next) = VALIDITY_LADDER.iter().find(|&&r| i64::from(r) > span) {
            let bigger = today.add_days(i64::from(next));
            let passes = facts
                .predicates
                .iter()
                .filter(|(_, v)| !**v)
                .any(|(t, _)| bigger > birth.nth_birthday(u32::from(t.years())).unwrap());
            prop_assert!(passes || next > validity);
        }
    }

    #[test]
    fn exactly_one_band_fits_and_it_brackets_the_age(thresholds in threshold_set(), age in 0u32..=150) {
        let held: BTreeMap<Threshold, bool> =
            thresholds.as_slice().iter().map(|&t| (t, age >= u32::from(t.years()))).collect();
        let sets = AgeQuestion::Band(thresholds.clone()).claim_sets(false);
        prop_assert_eq!(sets.len(), thresholds.as_slice().len() + 1);
        let fitting = sets
            .iter()
            .filter(|s| s.iter().all(|(t, v)| held.get(t) == Some(v)))
            .count();
        prop_assert_eq!(fitting, 1);
        let chosen = choose_claim_set(&sets, &held).unwrap();
        let band = outcome_of(chosen);
        prop_assert!(band.at_least.is_none_or(|lo| u32::from(lo) <= age));
        prop_assert!(band.under.is_none_or(|hi| age < u32::from(hi)));
        prop_assert!(band.at_least.is_some() || band.under.is_some());
        // The band is the tightest the thresholds allow.
        let lo = thresholds.as_slice().iter().map(|t| t.years()).filter(|&y| u32::from(y) <= age).max();
        let hi = thresholds.as_slice().iter().map(|t| t.years()).filter(|&y| u32::from(y) > age).min();
        prop_assert_eq!((band.at_least, band.under), (lo, hi));
    }

    #[test]
    fn yes_no_questions_have_one_answer_with_negatives(t in 1u8..=99, age in 0u32..=150, under in any::<bool>()) {
        let t = Threshold::new(t).unwrap();
        let held = BTreeMap::from([(t, age >= u32::from(t.years()))]);
        let q = if under { AgeQuestion::Under(t) } else { AgeQuestion::AtLeast(t) };
        let sets = q.claim_sets(true);
        let fitting = sets.iter().filter(|s| s.iter().all(|(t, v)| held.get(t) == Some(v))).count();
        prop_assert_eq!(fitting, 1);
        // Without negatives, only the holders the question is about can answer.
        let strict = q.claim_sets(false);
        let yes = if under { age < u32::from(t.years()) } else { age >= u32::from(t.years()) };
        prop_assert_eq!(choose_claim_set(&strict, &held).is_some(), yes);
    }
}
