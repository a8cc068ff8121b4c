//! The key schedule (blind-profile.md §3): calendar months in UTC, the months an issuer publishes,
//! and the months a holder may get tokens for.

use std::fmt;

use ageband_core::age::{Date, MAX_AGE, MAX_MARGIN, Source};

use super::{BlindFact, FactKind, Floor};

/// How many months after the current one an issuer publishes keys for (blind-profile.md §3.2).
pub const PUBLISH_AHEAD: u32 = 2;

/// A calendar month in UTC, `YYYY-MM`, 1970-01 to 9998-12: the validity period of a key.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Month {
    year: u16,
    month: u8,
}

impl Month {
    /// The month, if `year` is in 1970..=9998 and `month` in 1..=12.
    #[must_use]
    pub fn new(year: u16, month: u8) -> Option<Self> {
        ((1970..=9998).contains(&year) && (1..=12).contains(&month)).then_some(Month { year, month })
    }

    /// Parses exactly `YYYY-MM` (ASCII digits).
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        let b = s.as_bytes();
        if b.len() != 7 || b[4] != b'-' {
            return None;
        }
        let num = |r: std::ops::Range<usize>| -> Option<u16> {
            b[r].iter().try_fold(0u16, |acc, &c| {
                c.is_ascii_digit().then(|| acc * 10 + u16::from(c - b'0'))
            })
        };
        let (y, m) = (num(0..4)?, num(5..7)?);
        Month::new(y, u8::try_from(m).ok()?)
    }

    /// The month containing `date`.
    #[must_use]
    pub fn of_date(date: Date) -> Option<Self> {
        Month::new(u16::try_from(date.year()).ok()?, date.month())
    }

    /// The month containing the Unix time `secs`.
    #[must_use]
    pub fn containing(secs: u64) -> Option<Self> {
        Month::of_date(Date::from_unix_seconds(secs))
    }

    /// The year.
    #[must_use]
    pub fn year(self) -> u16 {
        self.year
    }

    /// The month of the year, 1..=12.
    #[must_use]
    pub fn month(self) -> u8 {
        self.month
    }

    /// The first day of the month.
    #[must_use]
    pub fn first_day(self) -> Date {
        // Valid by construction: year 1970..=9998, month 1..=12, day 1.
        Date::new(i32::from(self.year), self.month, 1).unwrap_or_else(|_| Date::from_unix_seconds(0))
    }

    /// The month `n` months later, if it is still representable.
    #[must_use]
    pub fn plus(self, n: u32) -> Option<Month> {
        let index = u32::from(self.year) * 12 + u32::from(self.month - 1) + n;
        Month::new(
            u16::try_from(index / 12).ok()?,
            u8::try_from(index % 12 + 1).ok()?,
        )
    }

    /// `not-before`: 00:00:00 UTC of the first day of the month, Unix seconds.
    #[must_use]
    pub fn not_before(self) -> u64 {
        self.first_day().unix_seconds()
    }

    /// `not-after` (exclusive): 00:00:00 UTC of the first day of the next month, Unix seconds.
    #[must_use]
    pub fn not_after(self) -> u64 {
        let next_first = if self.month == 12 {
            Date::new(i32::from(self.year) + 1, 1, 1)
        } else {
            Date::new(i32::from(self.year), self.month + 1, 1)
        };
        // Year ≤ 9999, so the date exists.
        next_first.map_or(u64::MAX, |d| d.unix_seconds())
    }

    /// Whether `not_before ≤ now < not_after`.
    #[must_use]
    pub fn is_live(self, now: u64) -> bool {
        self.not_before() <= now && now < self.not_after()
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

impl fmt::Debug for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The months an issuer publishes keys for on `today`: the current month and the
/// [`PUBLISH_AHEAD`] following ones (blind-profile.md §3.2).
#[must_use]
pub fn published_months(today: Date) -> Vec<Month> {
    let Some(current) = Month::of_date(today) else {
        return Vec::new();
    };
    (0..=PUBLISH_AHEAD).filter_map(|n| current.plus(n)).collect()
}

/// Why a holder holds a fact today, as the issuer derived it from the evidence
/// (blind-profile.md §3.3). The issuer keeps neither value.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum FactBasis {
    /// An over-fact holds today; it holds for ever after.
    Over,
    /// An under-fact holds today and until (exclusive) this day: the N-th birthday, or for an
    /// estimate the first day on which the estimate's upper bound could reach N.
    UnderUntil(Date),
}

/// The months of [`published_months`]`(today)` under whose key a token for `fact` may be issued
/// (blind-profile.md §3.3): for an over-fact every published month; for an under-fact only the
/// months whose `not-after` is on or before 00:00 UTC of the `UnderUntil` day, so that no token
/// outlives the fact. Empty when `basis` does not match the kind of `fact`, or the under-fact no
/// longer holds on `today`.
#[must_use]
pub fn allowed_months(fact: BlindFact, basis: FactBasis, today: Date) -> Vec<Month> {
    let months = published_months(today);
    match (fact.kind(), basis) {
        (FactKind::Over, FactBasis::Over) => months,
        (FactKind::Under, FactBasis::UnderUntil(until)) if today < until => {
            let limit = until.unix_seconds();
            months.into_iter().filter(|m| m.not_after() <= limit).collect()
        }
        _ => Vec::new(),
    }
}

/// The issuer's whole slot check for one token request (blind-profile.md §3.3, §6): the evidence
/// `source` reaches `floor` (§2.2: self-declaration reaches none; level 3 also gets level 2) and
/// `month` is in [`allowed_months`]`(fact, basis, today)`.
#[must_use]
pub fn may_issue(
    source: Source,
    fact: BlindFact,
    basis: FactBasis,
    floor: Floor,
    month: Month,
    today: Date,
) -> bool {
    Floor::floors_for(source).contains(&floor) && allowed_months(fact, basis, today).contains(&month)
}

/// The basis of `fact` for someone born on `birth`, on `today`; `None` if the fact is false (or
/// the birth date lies after `today`). For the issuer's transient use: the birth date is not kept.
#[must_use]
pub fn basis_from_birth_date(birth: &Date, today: Date, fact: BlindFact) -> Option<FactBasis> {
    let age = birth.age_on(&today)?;
    let n = u32::from(fact.years());
    match fact.kind() {
        FactKind::Over => (age >= n).then_some(FactBasis::Over),
        FactKind::Under => {
            if age >= n {
                return None;
            }
            birth.nth_birthday(n).map(FactBasis::UnderUntil)
        }
    }
}

/// The basis of `fact` from an age estimate `estimated ± margin` years on `today`, with the rules
/// of protocol.md §5 (as `ageband_core::age::facts_from_estimate`): over if
/// `estimated − margin ≥ N`; under if `estimated + margin < N`, until `today` plus the whole days
/// it takes the upper bound to reach N (365 days a year); otherwise `None`.
#[must_use]
pub fn basis_from_estimate(estimated: f64, margin: f64, today: Date, fact: BlindFact) -> Option<FactBasis> {
    let in_range = (0.0..=f64::from(MAX_AGE)).contains(&estimated) && (0.0..=MAX_MARGIN).contains(&margin);
    if !in_range {
        return None;
    }
    let n = f64::from(fact.years());
    match fact.kind() {
        FactKind::Over => (estimated - margin >= n).then_some(FactBasis::Over),
        FactKind::Under => {
            if estimated + margin >= n {
                return None;
            }
            // At most 18 × 365 days: the cast is lossless.
            let days = ((n - estimated - margin) * 365.0).floor() as i64;
            Some(FactBasis::UnderUntil(today.add_days(days)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ageband_core::age::DAY;

    fn d(s: &str) -> Date {
        Date::parse(s).unwrap()
    }
    fn m(s: &str) -> Month {
        Month::parse(s).unwrap()
    }
    fn under(n: u8) -> BlindFact {
        BlindFact::under(n).unwrap()
    }

    #[test]
    fn months_parse_bounds_and_arithmetic() {
        assert_eq!(m("2026-12").to_string(), "2026-12");
        for bad in [
            "2026-13",
            "2026-00",
            "1969-12",
            "2026-1",
            "2026/12",
            "+026-12",
            "2026-12-01",
            "９９９９-01",
        ] {
            assert_eq!(Month::parse(bad), None, "{bad}");
        }
        assert_eq!(m("2026-12").plus(1), Some(m("2027-01")));
        assert_eq!(m("2026-11").plus(14), Some(m("2028-01")));
        assert_eq!(m("9998-12").plus(1), None);
        // 2026-12-01T00:00:00Z and 2027-01-01T00:00:00Z.
        assert_eq!(m("2026-12").not_before(), 1_796_083_200);
        assert_eq!(m("2026-12").not_after(), 1_798_761_600);
        assert_eq!(m("2026-12").not_after(), m("2027-01").not_before());
        assert_eq!(m("2024-02").not_after() - m("2024-02").not_before(), 29 * DAY);
        assert_eq!(m("1970-01").not_before(), 0);
        let nb = m("2026-12").not_before();
        assert!(m("2026-12").is_live(nb));
        assert!(!m("2026-12").is_live(nb - 1));
        assert!(m("2026-12").is_live(m("2026-12").not_after() - 1));
        assert!(!m("2026-12").is_live(m("2026-12").not_after()));
        assert_eq!(Month::containing(nb - 1), Some(m("2026-11")));
        assert_eq!(Month::containing(nb), Some(m("2026-12")));
        assert_eq!(
            published_months(d("2026-11-30")),
            vec![m("2026-11"), m("2026-12"), m("2027-01")]
        );
    }

    #[test]
    fn over_facts_get_every_published_month() {
        let f = BlindFact::over(16).unwrap();
        let today = d("2026-11-29");
        assert_eq!(allowed_months(f, FactBasis::Over, today), published_months(today));
        assert!(allowed_months(f, FactBasis::UnderUntil(d("2030-01-01")), today).is_empty());
        assert!(allowed_months(under(16), FactBasis::Over, today).is_empty());
        assert_eq!(
            basis_from_birth_date(&d("2010-11-29"), today, f),
            Some(FactBasis::Over),
            "on the birthday itself"
        );
        assert_eq!(basis_from_birth_date(&d("2010-11-30"), today, f), None);
    }

    #[test]
    fn under_facts_never_outlive_the_birthday() {
        let today = d("2026-11-10");
        let cases: &[(&str, &[&str])] = &[
            // Birthday on the 1st: the month before ends exactly at the birthday.
            ("2027-01-01", &["2026-11", "2026-12"]),
            ("2026-12-31", &["2026-11"]),
            ("2026-12-01", &["2026-11"]),
            ("2026-11-30", &[]),
            ("2026-11-11", &[]),
            ("2027-02-01", &["2026-11", "2026-12", "2027-01"]),
            ("2030-06-15", &["2026-11", "2026-12", "2027-01"]),
        ];
        for (until, expect) in cases {
            let got = allowed_months(under(16), FactBasis::UnderUntil(d(until)), today);
            let expect: Vec<Month> = expect.iter().map(|s| m(s)).collect();
            assert_eq!(got, expect, "until {until}");
            for month in got {
                assert!(month.not_after() <= d(until).unix_seconds());
            }
        }
        // The fact no longer holds.
        assert!(allowed_months(under(16), FactBasis::UnderUntil(today), today).is_empty());
        assert!(allowed_months(under(16), FactBasis::UnderUntil(d("2026-01-01")), today).is_empty());
    }

    #[test]
    fn under_facts_near_a_birthday_exhaustively() {
        // Every birthday and every issuance day in a two-year window: no allowed month ends after
        // the birthday, and every published month that ends by then is allowed.
        let start = d("2026-01-01");
        for t in 0..400 {
            let today = start.add_days(t);
            for b in 1..120 {
                let sixteenth = today.add_days(b);
                let birth = Date::new(sixteenth.year() - 16, sixteenth.month(), sixteenth.day()).unwrap();
                let Some(FactBasis::UnderUntil(until)) = basis_from_birth_date(&birth, today, under(16))
                else {
                    panic!("{birth} on {today}: under 16 must hold");
                };
                assert_eq!(until, sixteenth);
                let got = allowed_months(under(16), FactBasis::UnderUntil(until), today);
                for month in &published_months(today) {
                    let fits = month.not_after() <= until.unix_seconds();
                    assert_eq!(got.contains(month), fits, "{birth} on {today}, {month}");
                }
            }
        }
    }

    #[test]
    fn leap_day_birthdays() {
        let born = d("2012-02-29");
        // 16th birthday of someone born 2012-02-29 is 2028-02-29 (a leap year).
        let today = d("2027-12-05");
        let basis = basis_from_birth_date(&born, today, under(16)).unwrap();
        assert_eq!(basis, FactBasis::UnderUntil(d("2028-02-29")));
        assert_eq!(
            allowed_months(under(16), basis, today),
            vec![m("2027-12"), m("2028-01")],
            "February 2028 ends after the birthday"
        );
        // 13th birthday of someone born 2008-02-29 is 2021-03-01 (common year): February counts.
        let born = d("2008-02-29");
        let today = d("2020-12-20");
        let basis = basis_from_birth_date(&born, today, under(13)).unwrap();
        assert_eq!(basis, FactBasis::UnderUntil(d("2021-03-01")));
        assert_eq!(
            allowed_months(under(13), basis, today),
            vec![m("2020-12"), m("2021-01"), m("2021-02")]
        );
        // On 2021-02-28 the holder is still 12; on 2021-03-01 13.
        assert!(basis_from_birth_date(&born, d("2021-02-28"), under(13)).is_some());
        assert!(basis_from_birth_date(&born, d("2021-03-01"), under(13)).is_none());
        assert_eq!(
            basis_from_birth_date(&born, d("2021-03-01"), BlindFact::over(13).unwrap()),
            Some(FactBasis::Over)
        );
    }

    #[test]
    fn issuer_slot_check() {
        let today = d("2026-11-10");
        let dec = m("2026-12");
        let basis = FactBasis::UnderUntil(d("2027-01-01"));
        assert!(may_issue(
            Source::OfficialId,
            under(16),
            basis,
            Floor::Level3,
            dec,
            today
        ));
        assert!(may_issue(
            Source::OfficialId,
            under(16),
            basis,
            Floor::Level2,
            dec,
            today
        ));
        assert!(may_issue(
            Source::AgeEstimation,
            under(16),
            basis,
            Floor::Level2,
            dec,
            today
        ));
        assert!(!may_issue(
            Source::AgeEstimation,
            under(16),
            basis,
            Floor::Level3,
            dec,
            today
        ));
        assert!(!may_issue(
            Source::SelfDeclared,
            under(16),
            basis,
            Floor::Level2,
            dec,
            today
        ));
        assert!(!may_issue(
            Source::OfficialId,
            under(16),
            basis,
            Floor::Level3,
            m("2027-01"),
            today
        ));
        assert!(!may_issue(
            Source::OfficialId,
            under(16),
            basis,
            Floor::Level3,
            m("2026-10"),
            today
        ));
        let o = BlindFact::over(13).unwrap();
        assert!(may_issue(
            Source::ThirdPartyCheck,
            o,
            FactBasis::Over,
            Floor::Level3,
            m("2027-01"),
            today
        ));
        assert!(!may_issue(
            Source::ThirdPartyCheck,
            o,
            FactBasis::Over,
            Floor::Level3,
            m("2027-02"),
            today
        ));
        assert!(!may_issue(
            Source::ThirdPartyCheck,
            o,
            basis,
            Floor::Level3,
            dec,
            today
        ));
    }

    #[test]
    fn estimates() {
        let today = d("2026-11-29");
        let over18 = BlindFact::over(18).unwrap();
        assert_eq!(
            basis_from_estimate(25.0, 3.0, today, over18),
            Some(FactBasis::Over)
        );
        assert_eq!(basis_from_estimate(20.0, 3.0, today, over18), None);
        assert_eq!(basis_from_estimate(20.0, 3.0, today, under(18)), None);
        assert_eq!(
            basis_from_estimate(10.0, 2.0, today, under(13)),
            Some(FactBasis::UnderUntil(today.add_days(365)))
        );
        assert_eq!(basis_from_estimate(f64::NAN, 2.0, today, under(13)), None);
        assert_eq!(basis_from_estimate(10.0, -1.0, today, under(13)), None);
    }
}
