//! Calendar dates (proleptic Gregorian, UTC) without a time-zone library: the only arithmetic
//! ageband needs is day counts, day rounding and birthdays (protocol.md §5).

use zeroize::Zeroize;

/// Why a date was refused.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DateError {
    /// Not `YYYY-MM-DD` with a real month and day (a year alone, `1990-13-01`, `2023-02-29`).
    #[error("not a calendar date of the form YYYY-MM-DD")]
    Malformed,
}

/// Seconds in a day.
pub const DAY: u64 = 86_400;

/// A calendar day.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Zeroize)]
pub struct Date {
    year: i32,
    month: u8,
    day: u8,
}

impl Date {
    /// A date from its parts, if it exists (years 1..=9999).
    pub fn new(year: i32, month: u8, day: u8) -> Result<Self, DateError> {
        if !(1..=9999).contains(&year) || !(1..=12).contains(&month) || day == 0 {
            return Err(DateError::Malformed);
        }
        if day > days_in_month(year, month) {
            return Err(DateError::Malformed);
        }
        Ok(Date { year, month, day })
    }

    /// Parses exactly `YYYY-MM-DD` (ASCII digits, the full-date of RFC 3339).
    pub fn parse(s: &str) -> Result<Self, DateError> {
        let b = s.as_bytes();
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return Err(DateError::Malformed);
        }
        let num = |r: std::ops::Range<usize>| -> Result<u32, DateError> {
            b[r].iter().try_fold(0u32, |acc, &c| {
                c.is_ascii_digit()
                    .then(|| acc * 10 + u32::from(c - b'0'))
                    .ok_or(DateError::Malformed)
            })
        };
        let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
        // The casts are lossless: at most four and two digits.
        Date::new(y as i32, m as u8, d as u8)
    }

    /// The year.
    pub fn year(&self) -> i32 {
        self.year
    }
    /// The month, 1..=12.
    pub fn month(&self) -> u8 {
        self.month
    }
    /// The day of the month.
    pub fn day(&self) -> u8 {
        self.day
    }

    /// Days since 1970-01-01 (negative before).
    pub fn to_unix_days(&self) -> i64 {
        // Howard Hinnant's days_from_civil.
        let y = i64::from(self.year) - i64::from(self.month <= 2);
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let m = i64::from(self.month);
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(self.day) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    /// The date `days` after 1970-01-01, if it lies in years 1..=9999.
    pub fn from_unix_days(days: i64) -> Option<Self> {
        let z = days.checked_add(719_468)?;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
        let year = yoe + era * 400 + i64::from(month <= 2);
        Date::new(i32::try_from(year).ok()?, month, day).ok()
    }

    /// The UTC day that contains the Unix time `secs`.
    pub fn from_unix_seconds(secs: u64) -> Self {
        // In range for any u64 second count below year 9999; clamp beyond.
        Date::from_unix_days((secs / DAY) as i64).unwrap_or(Date {
            year: 9999,
            month: 12,
            day: 31,
        })
    }

    /// 00:00:00 UTC of this day as Unix seconds (0 for days before 1970).
    pub fn unix_seconds(&self) -> u64 {
        u64::try_from(self.to_unix_days()).map_or(0, |d| d * DAY)
    }

    /// This date moved by `days` (clamped to the supported range).
    pub fn add_days(&self, days: i64) -> Self {
        Date::from_unix_days(self.to_unix_days().saturating_add(days)).unwrap_or(*self)
    }

    /// Days from `self` to `later` (negative if `later` is earlier).
    pub fn days_until(&self, later: &Date) -> i64 {
        later.to_unix_days() - self.to_unix_days()
    }

    /// The day on which someone born on `self` turns `years` old. Someone born on 29 February
    /// turns a year older on 1 March in common years: the later of the two candidate days, so
    /// that an "over" predicate never turns true early (protocol.md §5).
    pub fn nth_birthday(&self, years: u32) -> Option<Self> {
        let year = self.year.checked_add(i32::try_from(years).ok()?)?;
        if self.month == 2 && self.day == 29 && !is_leap(year) {
            return Date::new(year, 3, 1).ok();
        }
        Date::new(year, self.month, self.day).ok()
    }

    /// Full years of someone born on `self` at the date `on` (None if `on` is before `self`).
    pub fn age_on(&self, on: &Date) -> Option<u32> {
        if on < self {
            return None;
        }
        let mut years = u32::try_from(on.year - self.year).ok()?;
        if years > 0 && self.nth_birthday(years).is_some_and(|b| b > *on) {
            years -= 1;
        }
        Some(years)
    }
}

impl std::fmt::Display for Date {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl std::fmt::Debug for Date {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

/// Whether `year` has a 29 February.
pub fn is_leap(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i32, month: u8) -> u8 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Date {
        Date::parse(s).unwrap()
    }

    #[test]
    fn parse_is_strict() {
        assert_eq!(d("2010-02-28").to_string(), "2010-02-28");
        for bad in [
            "2010",
            "2010-2-28",
            "2010-02-29",
            "2010-13-01",
            "2010-00-10",
            "2010-01-32",
            "+010-01-01",
            "2010/01/01",
            "2010-01-01T00",
            "０２０１-01-01",
            "0000-01-01",
        ] {
            assert_eq!(Date::parse(bad), Err(DateError::Malformed), "{bad}");
        }
        assert!(Date::parse("2000-02-29").is_ok());
        assert!(Date::parse("1900-02-29").is_err());
    }

    #[test]
    fn unix_days_round_trip() {
        assert_eq!(d("1970-01-01").to_unix_days(), 0);
        assert_eq!(d("2000-03-01").to_unix_days(), 11_017);
        assert_eq!(Date::from_unix_seconds(1_683_000_000), d("2023-05-02"));
        for n in (-700_000..2_900_000).step_by(997) {
            assert_eq!(Date::from_unix_days(n).unwrap().to_unix_days(), n);
        }
        assert_eq!(d("2024-02-28").add_days(1), d("2024-02-29"));
        assert_eq!(d("2023-02-28").add_days(1), d("2023-03-01"));
        assert_eq!(d("2023-12-31").days_until(&d("2024-12-31")), 366);
    }

    #[test]
    fn ages_and_leap_day_birthdays() {
        let b = d("2010-06-15");
        assert_eq!(b.age_on(&d("2023-06-14")), Some(12));
        assert_eq!(b.age_on(&d("2023-06-15")), Some(13));
        assert_eq!(b.age_on(&d("2010-06-14")), None);
        assert_eq!(b.age_on(&b), Some(0));
        let leap = d("2008-02-29");
        assert_eq!(leap.nth_birthday(13), Some(d("2021-03-01")));
        assert_eq!(leap.nth_birthday(16), Some(d("2024-02-29")));
        assert_eq!(leap.age_on(&d("2021-02-28")), Some(12));
        assert_eq!(leap.age_on(&d("2021-03-01")), Some(13));
        assert_eq!(leap.age_on(&d("2024-02-28")), Some(15));
        assert_eq!(leap.age_on(&d("2024-02-29")), Some(16));
    }
}
