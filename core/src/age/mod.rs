//! The age domain: thresholds, assurance levels, sources, age facts derived from a birth date
//! or an estimate, the `exp` rule, and which predicates answer a question (protocol.md §5, §8).

mod date;
mod question;

pub use date::{DAY, Date, DateError, is_leap};
pub use question::{AgeBand, AgeQuestion, Predicate, choose_claim_set, outcome_of};

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use zeroize::{Zeroize, ZeroizeOnDrop};

/// Oldest accepted age at issuance.
pub const MAX_AGE: u32 = 150;
/// A predicate that would turn true fewer than this many days after issuance is left out
/// rather than shortening the credential's life to a few days (protocol.md §5).
pub const MIN_PREDICATE_DAYS: i64 = 7;
/// The validity ladder (protocol.md §5.3): `exp` is `iat` plus the largest rung that does not
/// pass the day a false predicate turns true, so that `exp` never tells the birthday.
pub const VALIDITY_LADDER: [u32; 7] = [7, 14, 30, 60, 90, 180, 365];
/// Largest accepted estimation margin, years.
pub const MAX_MARGIN: f64 = 20.0;

/// Why a threshold, level, source or age fact was refused.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AgeError {
    /// A threshold outside 1..=99.
    #[error("age threshold must be in 1..=99")]
    ThresholdRange,
    /// A threshold set that is empty, has more than 8 entries, or repeats one.
    #[error("a threshold set holds 1 to 8 distinct thresholds")]
    ThresholdSet,
    /// Not a known assurance level name.
    #[error("unknown assurance level")]
    UnknownLevel,
    /// Not a known evidence source name.
    #[error("unknown evidence source")]
    UnknownSource,
    /// The birth date lies after the issuance day.
    #[error("birth date lies in the future")]
    FutureBirthDate,
    /// The birth date makes the person older than [`MAX_AGE`].
    #[error("birth date implies an age over {MAX_AGE}")]
    TooOld,
    /// A configured validity that is not a rung of [`VALIDITY_LADDER`] of at least 30 days.
    #[error("validity must be one of 30, 60, 90, 180 or 365 days")]
    Validity,
    /// An age estimate that is negative, not finite, or above [`MAX_AGE`], or a negative margin.
    #[error("age estimate or margin out of range")]
    Estimate,
}

/// An age threshold NN of an `age_over_NN` predicate, 1..=99.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Threshold(u8);

impl Threshold {
    /// A threshold in 1..=99.
    pub const fn new(years: u8) -> Result<Self, AgeError> {
        if years >= 1 && years <= 99 {
            Ok(Threshold(years))
        } else {
            Err(AgeError::ThresholdRange)
        }
    }

    /// The number of years.
    pub fn years(self) -> u8 {
        self.0
    }

    /// The claim name, `age_over_NN` with two digits (ISO/IEC 18013-5 naming).
    pub fn claim_name(self) -> String {
        format!("age_over_{:02}", self.0)
    }

    /// Parses an `age_over_NN` claim name (exactly two digits).
    pub fn from_claim_name(name: &str) -> Option<Self> {
        let digits = name.strip_prefix("age_over_")?;
        let b = digits.as_bytes();
        if b.len() != 2 || !b.iter().all(u8::is_ascii_digit) {
            return None;
        }
        Threshold::new((b[0] - b'0') * 10 + (b[1] - b'0')).ok()
    }
}

impl fmt::Debug for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// 1 to 8 distinct thresholds, ascending.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct ThresholdSet(Vec<Threshold>);

impl ThresholdSet {
    /// Largest number of thresholds.
    pub const MAX: usize = 8;

    /// Validates and sorts.
    pub fn new(years: &[u8]) -> Result<Self, AgeError> {
        let mut v = years
            .iter()
            .map(|&y| Threshold::new(y))
            .collect::<Result<Vec<_>, _>>()?;
        v.sort();
        v.dedup();
        if v.is_empty() || v.len() > Self::MAX || v.len() != years.len() {
            return Err(AgeError::ThresholdSet);
        }
        Ok(ThresholdSet(v))
    }

    /// The default set, 13, 16 and 18.
    pub fn default_set() -> Self {
        ThresholdSet(vec![Threshold(13), Threshold(16), Threshold(18)])
    }

    /// The thresholds, ascending.
    pub fn as_slice(&self) -> &[Threshold] {
        &self.0
    }
}

macro_rules! named_enum {
    ($(#[$m:meta])* $name:ident, $err:expr, { $($(#[$vm:meta])* $v:ident => $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
        pub enum $name { $($(#[$vm])* $v),+ }

        impl $name {
            /// All values, in order.
            pub const ALL: &'static [$name] = &[$($name::$v),+];
            /// The wire name.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$v => $s),+ }
            }
        }
        impl FromStr for $name {
            type Err = AgeError;
            fn from_str(s: &str) -> Result<Self, AgeError> {
                match s { $($s => Ok($name::$v),)+ _ => Err($err) }
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { f.write_str(self.as_str()) }
        }
        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

named_enum!(
    /// How sure the issuer is of the age facts, ordered weakest first (after IEEE 2089.1).
    AssuranceLevel, AgeError::UnknownLevel, {
        /// The user said so.
        Asserted => "asserted",
        /// A responsible adult said so, or a weak check.
        Basic => "basic",
        /// A third-party check of moderate strength.
        Standard => "standard",
        /// An official identity or strong document check.
        Enhanced => "enhanced",
        /// The strongest checks, in person or with chip-read documents.
        Strict => "strict",
    }
);

named_enum!(
    /// Where the age facts came from.
    Source, AgeError::UnknownSource, {
        /// A self-declared birth date.
        SelfDeclared => "self_declared",
        /// A guardian's declaration, backed by the guardian's own adult credential.
        GuardianDeclared => "guardian_declared",
        /// An age estimate (for example facial age estimation).
        AgeEstimation => "age_estimation",
        /// A third-party check (document scan, bank, mobile operator).
        ThirdPartyCheck => "third_party_check",
        /// An official identity (eID, bank ID) through OpenID Connect.
        OfficialId => "official_id",
    }
);

/// A birth date in transit: read once, used to derive facts, zeroized on drop, never printed.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct BirthDate(Date);

impl BirthDate {
    /// Parses `YYYY-MM-DD`.
    pub fn parse(s: &str) -> Result<Self, DateError> {
        Date::parse(s).map(BirthDate)
    }

    /// Wraps a date.
    pub fn new(date: Date) -> Self {
        BirthDate(date)
    }

    /// The date itself; the name says what the caller is handling.
    pub fn expose_secret(&self) -> &Date {
        &self.0
    }
}

impl fmt::Debug for BirthDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BirthDate(<redacted>)")
    }
}

/// What an issuer may attest: the predicates and the credential's days of issue and expiry.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct AgeFacts {
    /// `age_over_NN` → true or false; thresholds that could not be decided are absent.
    pub predicates: BTreeMap<Threshold, bool>,
    /// The issuance day (`iat`, rounded down).
    pub iat: Date,
    /// The expiry day (`exp`, 00:00 UTC of that day).
    pub exp: Date,
}

/// Derives facts from a birth date on `today` (protocol.md §5): `exp` follows the validity
/// ladder up to the first day a false predicate turns true; a false predicate that would turn
/// true within [`MIN_PREDICATE_DAYS`] is left out instead.
pub fn facts_from_birth_date(
    birth: &BirthDate,
    today: Date,
    thresholds: &ThresholdSet,
    validity_days: u32,
) -> Result<AgeFacts, AgeError> {
    check_validity(validity_days)?;
    let b = birth.expose_secret();
    let age = b.age_on(&today).ok_or(AgeError::FutureBirthDate)?;
    if age > MAX_AGE {
        return Err(AgeError::TooOld);
    }
    let mut turning: Option<Date> = None;
    let mut predicates = BTreeMap::new();
    for &t in thresholds.as_slice() {
        let over = age >= u32::from(t.years());
        if !over {
            // nth_birthday exists: the age is at most 150 and t at most 99.
            let Some(turns) = b.nth_birthday(u32::from(t.years())) else {
                continue;
            };
            if today.days_until(&turns) < MIN_PREDICATE_DAYS {
                continue;
            }
            turning = Some(turning.map_or(turns, |d| d.min(turns)));
        }
        predicates.insert(t, over);
    }
    Ok(AgeFacts {
        predicates,
        iat: today,
        exp: ladder_exp(today, turning, validity_days),
    })
}

/// Derives facts from an age estimate `estimated ± margin` in years (protocol.md §5):
/// `age_over_NN` is true only if `estimated - margin >= NN`, false only if
/// `estimated + margin < NN` (and then `exp` is bounded by the earliest day the upper bound
/// could reach NN), otherwise left out.
pub fn facts_from_estimate(
    estimated: f64,
    margin: f64,
    today: Date,
    thresholds: &ThresholdSet,
    validity_days: u32,
) -> Result<AgeFacts, AgeError> {
    check_validity(validity_days)?;
    // Ranges exclude NaN; infinities fall outside them.
    let in_range = (0.0..=f64::from(MAX_AGE)).contains(&estimated) && (0.0..=MAX_MARGIN).contains(&margin);
    if !in_range {
        return Err(AgeError::Estimate);
    }
    let mut turning: Option<Date> = None;
    let mut predicates = BTreeMap::new();
    for &t in thresholds.as_slice() {
        let nn = f64::from(t.years());
        if estimated - margin >= nn {
            predicates.insert(t, true);
        } else if estimated + margin < nn {
            // Whole days until the upper bound of the estimate could reach NN (at most
            // 99 × 365, so the cast is lossless).
            let days = ((nn - estimated - margin) * 365.0).floor() as i64;
            if days < MIN_PREDICATE_DAYS {
                continue;
            }
            let turns = today.add_days(days);
            turning = Some(turning.map_or(turns, |d| d.min(turns)));
            predicates.insert(t, false);
        }
    }
    Ok(AgeFacts {
        predicates,
        iat: today,
        exp: ladder_exp(today, turning, validity_days),
    })
}

/// Checks a configured validity: a rung of the ladder of at least 30 days.
pub fn check_validity(days: u32) -> Result<(), AgeError> {
    if days >= 30 && VALIDITY_LADDER.contains(&days) {
        Ok(())
    } else {
        Err(AgeError::Validity)
    }
}

/// `iat` plus the largest rung ≤ `validity` that does not pass `turning` (protocol.md §5.3).
/// The 7-day rule guarantees that the smallest rung fits.
fn ladder_exp(iat: Date, turning: Option<Date>, validity: u32) -> Date {
    let rung = VALIDITY_LADDER
        .iter()
        .rev()
        .filter(|&&r| r <= validity)
        .map(|&r| iat.add_days(i64::from(r)))
        .find(|exp| turning.is_none_or(|t| *exp <= t));
    rung.unwrap_or_else(|| iat.add_days(i64::from(VALIDITY_LADDER[0])))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Date {
        Date::parse(s).unwrap()
    }
    fn t(y: u8) -> Threshold {
        Threshold::new(y).unwrap()
    }
    fn facts(birth: &str, today: &str) -> AgeFacts {
        facts_from_birth_date(
            &BirthDate::parse(birth).unwrap(),
            d(today),
            &ThresholdSet::default_set(),
            90,
        )
        .unwrap()
    }

    #[test]
    fn thresholds_and_names() {
        assert_eq!(Threshold::new(0), Err(AgeError::ThresholdRange));
        assert_eq!(Threshold::new(100), Err(AgeError::ThresholdRange));
        assert_eq!(t(5).claim_name(), "age_over_05");
        assert_eq!(Threshold::from_claim_name("age_over_18"), Some(t(18)));
        for bad in [
            "age_over_5",
            "age_over_100",
            "age_over_00",
            "age_over_1a",
            "age_under_18",
            "age_over_+1",
        ] {
            assert_eq!(Threshold::from_claim_name(bad), None, "{bad}");
        }
        assert_eq!(ThresholdSet::new(&[18, 13]).unwrap().as_slice(), &[t(13), t(18)]);
        assert_eq!(ThresholdSet::new(&[13, 13]), Err(AgeError::ThresholdSet));
        assert_eq!(ThresholdSet::new(&[]), Err(AgeError::ThresholdSet));
        assert_eq!(
            ThresholdSet::new(&[1, 2, 3, 4, 5, 6, 7, 8, 9]),
            Err(AgeError::ThresholdSet)
        );
        assert!(AssuranceLevel::Asserted < AssuranceLevel::Strict);
        assert_eq!("third_party_check".parse::<Source>(), Ok(Source::ThirdPartyCheck));
        assert_eq!("High".parse::<AssuranceLevel>(), Err(AgeError::UnknownLevel));
    }

    #[test]
    fn birth_date_facts_and_exp_rule() {
        // 15 years old, 16th birthday in 60 days: exp is the 60-day rung, that very day.
        let f = facts("2010-08-30", "2026-07-01");
        assert_eq!(
            f.predicates,
            BTreeMap::from([(t(13), true), (t(16), false), (t(18), false)])
        );
        assert_eq!(f.exp, d("2026-08-30"));
        // Birthday in 59 days: the 30-day rung, so exp does not tell the birthday.
        assert_eq!(facts("2010-08-29", "2026-07-01").exp, d("2026-07-31"));
        // 16th birthday in 3 days: age_over_16 left out, exp bound by the 18th or validity.
        let f = facts("2010-07-04", "2026-07-01");
        assert_eq!(f.predicates, BTreeMap::from([(t(13), true), (t(18), false)]));
        assert_eq!(f.exp, d("2026-09-29"));
        // On the birthday itself the predicate is true.
        let f = facts("2010-07-01", "2026-07-01");
        assert!(f.predicates[&t(16)]);
        // Adult: all true, full validity.
        let f = facts("1990-01-01", "2026-07-01");
        assert!(f.predicates.values().all(|&v| v));
        assert_eq!(f.exp, d("2026-09-29"));
        // Exactly 7 days before the birthday: kept, on the 7-day rung.
        let f = facts("2010-07-08", "2026-07-01");
        assert_eq!(f.predicates.get(&t(16)), Some(&false));
        assert_eq!(f.exp, d("2026-07-08"));
        // 13 days before: still the 7-day rung.
        assert_eq!(facts("2010-07-14", "2026-07-01").exp, d("2026-07-08"));
    }

    #[test]
    fn leap_day_child() {
        // Born 29 Feb 2012: turns 13 on 1 March 2025, 59 days after 1 January.
        let f = facts("2012-02-29", "2025-01-01");
        assert!(!f.predicates[&t(13)]);
        assert_eq!(f.exp, d("2025-01-31"));
        assert_eq!(facts("2012-02-29", "2024-12-31").exp, d("2025-03-01"));
        assert!(facts("2012-02-29", "2025-03-01").predicates[&t(13)]);
        assert_eq!(facts("2012-02-29", "2025-02-28").predicates.get(&t(13)), None);
    }

    #[test]
    fn birth_date_refusals() {
        let set = ThresholdSet::default_set();
        let future = BirthDate::parse("2030-01-01").unwrap();
        assert_eq!(
            facts_from_birth_date(&future, d("2026-01-01"), &set, 90),
            Err(AgeError::FutureBirthDate)
        );
        let old = BirthDate::parse("1870-01-01").unwrap();
        assert_eq!(
            facts_from_birth_date(&old, d("2026-01-01"), &set, 90),
            Err(AgeError::TooOld)
        );
        let ok = BirthDate::parse("2000-01-01").unwrap();
        assert_eq!(
            facts_from_birth_date(&ok, d("2026-01-01"), &set, 0),
            Err(AgeError::Validity)
        );
        assert_eq!(
            facts_from_birth_date(&ok, d("2026-01-01"), &set, 14),
            Err(AgeError::Validity)
        );
        assert_eq!(
            facts_from_birth_date(&ok, d("2026-01-01"), &set, 100),
            Err(AgeError::Validity)
        );
        assert_eq!(format!("{ok:?}"), "BirthDate(<redacted>)");
    }

    #[test]
    fn estimates_are_conservative() {
        let set = ThresholdSet::default_set();
        let f = facts_from_estimate(25.0, 3.0, d("2026-01-01"), &set, 90).unwrap();
        assert!(f.predicates.values().all(|&v| v));
        // 17 ± 2: over 13 true, 16 and 18 undecided.
        let f = facts_from_estimate(17.0, 2.0, d("2026-01-01"), &set, 90).unwrap();
        assert_eq!(f.predicates, BTreeMap::from([(t(13), true)]));
        // 10 ± 1: 13 false (at most 11, two years away), 16 and 18 false; full validity.
        let f = facts_from_estimate(10.0, 1.0, d("2026-01-01"), &set, 90).unwrap();
        assert_eq!(
            f.predicates,
            BTreeMap::from([(t(13), false), (t(16), false), (t(18), false)])
        );
        assert_eq!(f.exp, d("2026-04-01"));
        // 11.9 ± 1: 13 turns at most 36 days away: the 30-day rung.
        let f = facts_from_estimate(11.9, 1.0, d("2026-01-01"), &set, 90).unwrap();
        assert_eq!(f.exp, d("2026-01-31"));
        // 11.99 ± 1 < 13 but within days of it: left out.
        let f = facts_from_estimate(11.995, 1.0, d("2026-01-01"), &set, 90).unwrap();
        assert_eq!(f.predicates.get(&t(13)), None);
        assert_eq!(
            facts_from_estimate(f64::NAN, 1.0, d("2026-01-01"), &set, 90),
            Err(AgeError::Estimate)
        );
        assert_eq!(
            facts_from_estimate(10.0, -1.0, d("2026-01-01"), &set, 90),
            Err(AgeError::Estimate)
        );
        assert_eq!(
            facts_from_estimate(10.0, 21.0, d("2026-01-01"), &set, 90),
            Err(AgeError::Estimate)
        );
    }
}
