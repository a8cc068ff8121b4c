//! Which predicates answer a question (protocol.md §8): the claim sets of a request, the
//! holder's choice of the one set that fits, and the answer a verifier reads from it.

use std::collections::BTreeMap;
use std::fmt;

use super::{Threshold, ThresholdSet};

/// One disclosed fact: `age_over_NN` is `true` or `false`.
pub type Predicate = (Threshold, bool);

/// A platform's question about age.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum AgeQuestion {
    /// "Is the user at least N?"
    AtLeast(Threshold),
    /// "Is the user under N?"
    Under(Threshold),
    /// "Which band of these thresholds is the user in?"
    Band(ThresholdSet),
}

impl AgeQuestion {
    /// The thresholds the question touches, ascending.
    pub fn thresholds(&self) -> Vec<Threshold> {
        match self {
            AgeQuestion::AtLeast(t) | AgeQuestion::Under(t) => vec![*t],
            AgeQuestion::Band(set) => set.as_slice().to_vec(),
        }
    }

    /// The claim sets, one per possible answer. For at-least and under questions the
    /// opposite answer is included only when `accept_negative` is set; a band always has
    /// one set per band: {t1 false}, {t1 true, t2 false}, …, {tk true}.
    pub fn claim_sets(&self, accept_negative: bool) -> Vec<Vec<Predicate>> {
        match self {
            AgeQuestion::AtLeast(t) => {
                let mut sets = vec![vec![(*t, true)]];
                if accept_negative {
                    sets.push(vec![(*t, false)]);
                }
                sets
            }
            AgeQuestion::Under(t) => {
                let mut sets = vec![vec![(*t, false)]];
                if accept_negative {
                    sets.push(vec![(*t, true)]);
                }
                sets
            }
            AgeQuestion::Band(set) => {
                let ts = set.as_slice();
                let mut sets = Vec::with_capacity(ts.len() + 1);
                sets.push(vec![(ts[0], false)]);
                for w in ts.windows(2) {
                    sets.push(vec![(w[0], true), (w[1], false)]);
                }
                sets.push(vec![(ts[ts.len() - 1], true)]);
                sets
            }
        }
    }
}

/// The holder's choice: the first claim set all of whose predicates the holder can disclose
/// with exactly that value. With complete, consistent predicates exactly one set fits.
pub fn choose_claim_set<'a>(
    sets: &'a [Vec<Predicate>],
    held: &BTreeMap<Threshold, bool>,
) -> Option<&'a [Predicate]> {
    sets.iter()
        .find(|set| set.iter().all(|(t, v)| held.get(t) == Some(v)))
        .map(Vec::as_slice)
}

/// What disclosed predicates say: the largest true threshold and the smallest false one.
pub fn outcome_of(predicates: &[Predicate]) -> AgeBand {
    AgeBand {
        at_least: predicates
            .iter()
            .filter(|(_, v)| *v)
            .map(|(t, _)| t.years())
            .max(),
        under: predicates
            .iter()
            .filter(|(_, v)| !*v)
            .map(|(t, _)| t.years())
            .min(),
    }
}

/// An age band: at least `at_least` and under `under`, either bound open.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash, serde::Serialize, serde::Deserialize)]
pub struct AgeBand {
    /// The user is at least this old.
    pub at_least: Option<u8>,
    /// The user is younger than this.
    pub under: Option<u8>,
}

impl AgeBand {
    /// The wire label of protocol.md §8.5: `"13-15"`, `"18+"`, `"0-12"` (and `"0+"` when
    /// neither bound is known).
    pub fn label(&self) -> String {
        match (self.at_least, self.under) {
            (Some(lo), Some(hi)) => format!("{lo}-{}", hi.saturating_sub(1)),
            (Some(lo), None) => format!("{lo}+"),
            (None, Some(hi)) => format!("0-{}", hi.saturating_sub(1)),
            (None, None) => "0+".to_owned(),
        }
    }
}

impl fmt::Display for AgeBand {
    /// "under 13", "13–15", "18+", or "unknown".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.at_least, self.under) {
            (Some(lo), Some(hi)) if hi == lo + 1 => write!(f, "{lo}"),
            (Some(lo), Some(hi)) => write!(f, "{lo}–{}", hi - 1),
            (Some(lo), None) => write!(f, "{lo}+"),
            (None, Some(hi)) => write!(f, "under {hi}"),
            (None, None) => f.write_str("unknown"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(y: u8) -> Threshold {
        Threshold::new(y).unwrap()
    }

    fn held_at(age: u8) -> BTreeMap<Threshold, bool> {
        [13, 16, 18].into_iter().map(|y| (t(y), age >= y)).collect()
    }

    #[test]
    fn band_sets_fit_exactly_once() {
        let q = AgeQuestion::Band(ThresholdSet::default_set());
        let sets = q.claim_sets(false);
        assert_eq!(sets.len(), 4);
        for age in [5, 12, 13, 15, 16, 17, 18, 40] {
            let fitting = sets
                .iter()
                .filter(|s| s.iter().all(|(t, v)| held_at(age).get(t) == Some(v)))
                .count();
            assert_eq!(fitting, 1, "age {age}");
        }
        let answer = choose_claim_set(&sets, &held_at(14)).unwrap();
        assert_eq!(answer, &[(t(13), true), (t(16), false)]);
        assert_eq!(outcome_of(answer).to_string(), "13–15");
        assert_eq!(
            outcome_of(choose_claim_set(&sets, &held_at(10)).unwrap()).to_string(),
            "under 13"
        );
        assert_eq!(
            outcome_of(choose_claim_set(&sets, &held_at(17)).unwrap()).to_string(),
            "16–17"
        );
        assert_eq!(
            outcome_of(choose_claim_set(&sets, &held_at(30)).unwrap()).to_string(),
            "18+"
        );
    }

    #[test]
    fn at_least_and_under() {
        let q = AgeQuestion::AtLeast(t(16));
        assert_eq!(choose_claim_set(&q.claim_sets(false), &held_at(15)), None);
        let sets = q.claim_sets(true);
        assert_eq!(choose_claim_set(&sets, &held_at(15)).unwrap(), &[(t(16), false)]);
        let q = AgeQuestion::Under(t(13));
        assert_eq!(
            choose_claim_set(&q.claim_sets(false), &held_at(12)).unwrap(),
            &[(t(13), false)]
        );
        assert_eq!(choose_claim_set(&q.claim_sets(false), &held_at(19)), None);
        // A holder missing the predicate cannot answer.
        assert_eq!(choose_claim_set(&q.claim_sets(true), &BTreeMap::new()), None);
        assert_eq!(
            AgeBand {
                at_least: Some(15),
                under: Some(16)
            }
            .to_string(),
            "15"
        );
    }

    #[test]
    fn band_labels_are_the_wire_form() {
        let band = |at_least, under| AgeBand { at_least, under }.label();
        // protocol.md §8.5: "<a>-<u−1>", "<a>+", "0-<u−1>".
        assert_eq!(band(Some(16), Some(18)), "16-17");
        assert_eq!(band(Some(15), Some(16)), "15-15");
        assert_eq!(band(Some(18), None), "18+");
        assert_eq!(band(None, Some(13)), "0-12");
        assert_eq!(band(None, None), "0+");
    }
}
