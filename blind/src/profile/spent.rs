//! The verifier's spent set (blind-profile.md §9.2): token nonces partitioned by key, each
//! partition dropped once its key's not-after passes, bounded, failing closed.

use std::collections::{HashMap, HashSet};

use super::BlindVerifyError;

/// Where a verifier records spent tokens. [`super::verify_blind`] calls [`SpentSet::expire`] and
/// then [`SpentSet::spend_all`] (one entry) only after every other check passed, so forged
/// tokens never fill it.
pub trait SpentSet {
    /// Records the token `(token_key_id, nonce)` whose key stops being live at `not_after`.
    /// Returns `true` if it was not spent before and is now recorded; `false` if it was spent,
    /// or cannot be recorded (the set is full) — the verifier refuses the token either way.
    fn spend(&mut self, token_key_id: [u8; 32], nonce: [u8; 32], not_after: u64) -> bool;

    /// Forgets every partition whose key's `not_after ≤ now`: tokens under those keys no longer
    /// verify, so they can no longer be replayed. The default keeps everything.
    fn expire(&mut self, now: u64) {
        let _ = now;
    }

    /// Whether the set refuses new entries for lack of room (reported as `spent_set_full`).
    fn is_full(&self) -> bool {
        false
    }

    /// Records the tokens `(token_key_id, nonce, not_after)` of one answer all together or not
    /// at all (blind-profile.md §9.2): if any of them was spent before, or appears twice in
    /// `entries`, nothing is recorded and the result is [`BlindVerifyError::TokenSpent`]; if
    /// there is no room for all of them, nothing is recorded and the result is
    /// [`BlindVerifyError::SpentSetFull`].
    ///
    /// The provided method refuses duplicates within `entries` and then calls
    /// [`SpentSet::spend`] in order: it cannot take back an entry, so when a later entry fails
    /// the earlier ones stay recorded. Implementations SHOULD override it with a check of every
    /// entry and of the room before recording any (as [`MemorySpentSet`] does; a database can
    /// use one transaction).
    ///
    /// # Errors
    /// [`BlindVerifyError::TokenSpent`] or [`BlindVerifyError::SpentSetFull`]; nothing else.
    fn spend_all(&mut self, entries: &[([u8; 32], [u8; 32], u64)]) -> Result<(), BlindVerifyError> {
        if has_duplicate(entries) {
            return Err(BlindVerifyError::TokenSpent);
        }
        for &(token_key_id, nonce, not_after) in entries {
            if !self.spend(token_key_id, nonce, not_after) {
                return Err(if self.is_full() {
                    BlindVerifyError::SpentSetFull
                } else {
                    BlindVerifyError::TokenSpent
                });
            }
        }
        Ok(())
    }
}

/// Whether one `(token_key_id, nonce)` appears twice.
fn has_duplicate(entries: &[([u8; 32], [u8; 32], u64)]) -> bool {
    entries
        .iter()
        .enumerate()
        .any(|(i, (k, n, _))| entries[..i].iter().any(|(k2, n2, _)| k == k2 && n == n2))
}

struct Partition {
    not_after: u64,
    nonces: HashSet<[u8; 32]>,
}

/// A bounded in-memory [`SpentSet`] for one verifier process: at most `max_entries` nonces over
/// at most `max_partitions` keys. With one month per key and the directory's 12 slots per month,
/// memory is bounded by the tokens presented under keys still live.
pub struct MemorySpentSet {
    partitions: HashMap<[u8; 32], Partition>,
    entries: usize,
    max_entries: usize,
    max_partitions: usize,
}

impl MemorySpentSet {
    /// Default bound on recorded nonces (some tens of MB).
    pub const DEFAULT_MAX_ENTRIES: usize = 1_000_000;
    /// Default bound on partitions: four directories' worth of keys.
    pub const DEFAULT_MAX_PARTITIONS: usize = 4 * super::MAX_DIRECTORY_KEYS;

    /// An empty set with the given bounds.
    #[must_use]
    pub fn new(max_entries: usize, max_partitions: usize) -> Self {
        MemorySpentSet {
            partitions: HashMap::new(),
            entries: 0,
            max_entries,
            max_partitions,
        }
    }

    /// Recorded nonces.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries
    }

    /// Whether nothing is recorded.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }

    /// Partitions (keys) currently held.
    #[must_use]
    pub fn partitions(&self) -> usize {
        self.partitions.len()
    }
}

impl Default for MemorySpentSet {
    fn default() -> Self {
        MemorySpentSet::new(Self::DEFAULT_MAX_ENTRIES, Self::DEFAULT_MAX_PARTITIONS)
    }
}

impl std::fmt::Debug for MemorySpentSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemorySpentSet")
            .field("entries", &self.entries)
            .field("partitions", &self.partitions.len())
            .finish_non_exhaustive()
    }
}

impl SpentSet for MemorySpentSet {
    fn spend(&mut self, token_key_id: [u8; 32], nonce: [u8; 32], not_after: u64) -> bool {
        if self
            .partitions
            .get(&token_key_id)
            .is_some_and(|p| p.nonces.contains(&nonce))
        {
            return false;
        }
        if self.entries >= self.max_entries {
            return false;
        }
        if !self.partitions.contains_key(&token_key_id) && self.partitions.len() >= self.max_partitions {
            return false;
        }
        let p = self.partitions.entry(token_key_id).or_insert_with(|| Partition {
            not_after,
            nonces: HashSet::new(),
        });
        // One key has one not-after; keep the later one if callers ever disagree.
        p.not_after = p.not_after.max(not_after);
        p.nonces.insert(nonce);
        self.entries += 1;
        true
    }

    fn spend_all(&mut self, entries: &[([u8; 32], [u8; 32], u64)]) -> Result<(), BlindVerifyError> {
        // Every entry new (also within `entries`), then room for all of them, then record.
        let spent = |(k, n, _): &([u8; 32], [u8; 32], u64)| {
            self.partitions.get(k).is_some_and(|p| p.nonces.contains(n))
        };
        if entries.iter().any(spent) || has_duplicate(entries) {
            return Err(BlindVerifyError::TokenSpent);
        }
        let new_partitions = entries
            .iter()
            .enumerate()
            .filter(|(i, (k, _, _))| {
                !self.partitions.contains_key(k) && !entries[..*i].iter().any(|(k2, _, _)| k2 == k)
            })
            .count();
        let room = self
            .entries
            .checked_add(entries.len())
            .is_some_and(|n| n <= self.max_entries)
            && self.partitions.len() + new_partitions <= self.max_partitions;
        if !room {
            return Err(BlindVerifyError::SpentSetFull);
        }
        for &(token_key_id, nonce, not_after) in entries {
            let recorded = self.spend(token_key_id, nonce, not_after);
            debug_assert!(recorded, "checked above");
        }
        Ok(())
    }

    fn expire(&mut self, now: u64) {
        self.partitions.retain(|_, p| p.not_after > now);
        self.entries = self.partitions.values().map(|p| p.nonces.len()).sum();
    }

    fn is_full(&self) -> bool {
        self.entries >= self.max_entries || self.partitions.len() >= self.max_partitions
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_expire_and_bounds_hold() {
        let mut s = MemorySpentSet::new(3, 2);
        assert!(s.spend([1; 32], [9; 32], 100));
        assert!(!s.spend([1; 32], [9; 32], 100), "replay");
        assert!(
            s.spend([2; 32], [9; 32], 200),
            "same nonce, other key: another partition"
        );
        assert!(s.spend([1; 32], [8; 32], 100));
        assert!(s.is_full());
        assert!(!s.spend([1; 32], [7; 32], 100), "full: fail closed");
        assert!(!s.spend([1; 32], [9; 32], 100), "still a replay");
        assert_eq!(s.len(), 3);
        s.expire(99);
        assert_eq!(s.partitions(), 2);
        s.expire(100);
        assert_eq!((s.partitions(), s.len()), (1, 1));
        assert!(!s.is_full());
        assert!(s.spend([1; 32], [7; 32], 100 + 31 * 86_400));
        // Partition bound.
        assert!(s.is_full());
        assert!(!s.spend([3; 32], [1; 32], 500));
        s.expire(u64::MAX);
        assert!(s.is_empty());
        assert!(s.spend([3; 32], [1; 32], 500));
    }

    #[test]
    fn spend_all_records_all_or_none() {
        let mut s = MemorySpentSet::new(4, 2);
        assert_eq!(s.spend_all(&[([1; 32], [1; 32], 100)]), Ok(()));
        // One of two spent before: neither is recorded.
        assert_eq!(
            s.spend_all(&[([2; 32], [2; 32], 100), ([1; 32], [1; 32], 100)]),
            Err(BlindVerifyError::TokenSpent)
        );
        assert_eq!((s.len(), s.partitions()), (1, 1));
        // The same token twice in one call counts as spent.
        assert_eq!(
            s.spend_all(&[([2; 32], [2; 32], 100), ([2; 32], [2; 32], 100)]),
            Err(BlindVerifyError::TokenSpent)
        );
        assert_eq!(s.len(), 1);
        assert_eq!(
            s.spend_all(&[([2; 32], [2; 32], 100), ([1; 32], [3; 32], 100)]),
            Ok(())
        );
        assert_eq!((s.len(), s.partitions()), (3, 2));
        // Room for one more entry, not two; no room for a third partition.
        assert_eq!(
            s.spend_all(&[([1; 32], [4; 32], 100), ([2; 32], [4; 32], 100)]),
            Err(BlindVerifyError::SpentSetFull)
        );
        assert_eq!(
            s.spend_all(&[([3; 32], [4; 32], 100)]),
            Err(BlindVerifyError::SpentSetFull)
        );
        assert_eq!(s.len(), 3);
        // A spent token is reported as spent even when the set is full.
        assert_eq!(
            s.spend_all(&[([1; 32], [1; 32], 100), ([9; 32], [9; 32], 100)]),
            Err(BlindVerifyError::TokenSpent)
        );
        assert_eq!(s.spend_all(&[([1; 32], [4; 32], 100)]), Ok(()));
        assert_eq!(s.len(), 4);
        assert_eq!(s.spend_all(&[]), Ok(()));
    }

    /// A set that implements only `spend`: the provided `spend_all` refuses duplicates and
    /// reports spent and full entries.
    #[test]
    fn provided_spend_all() {
        struct Plain(Vec<([u8; 32], [u8; 32])>, usize);
        impl SpentSet for Plain {
            fn spend(&mut self, k: [u8; 32], n: [u8; 32], _: u64) -> bool {
                if self.0.contains(&(k, n)) || self.0.len() >= self.1 {
                    return false;
                }
                self.0.push((k, n));
                true
            }
            fn is_full(&self) -> bool {
                self.0.len() >= self.1
            }
        }
        let mut s = Plain(Vec::new(), 2);
        let e = ([1; 32], [1; 32], 0);
        assert_eq!(s.spend_all(&[e, e]), Err(BlindVerifyError::TokenSpent));
        assert!(s.0.is_empty());
        assert_eq!(s.spend_all(&[e]), Ok(()));
        assert_eq!(s.spend_all(&[e]), Err(BlindVerifyError::TokenSpent));
        let (f, g) = (([2; 32], [2; 32], 0), ([3; 32], [3; 32], 0));
        assert_eq!(s.spend_all(&[f, g]), Err(BlindVerifyError::SpentSetFull));
        // The provided method cannot take `f` back (hence MemorySpentSet's override).
        assert_eq!(s.0.len(), 2);
    }
}
