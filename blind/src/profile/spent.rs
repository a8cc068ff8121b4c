//! The verifier's spent set (blind-profile.md §9.2): token nonces partitioned by key, each
//! partition dropped once its key's not-after passes, bounded, failing closed.

use std::collections::{HashMap, HashSet};

/// Where a verifier records spent tokens. [`super::verify_blind`] calls [`SpentSet::expire`] and
/// then [`SpentSet::spend`] only after every other check passed, so forged tokens never fill it.
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
}
