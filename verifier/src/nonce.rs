//! Single-use nonces (protocol.md §6.5): a nonce is consumed exactly once, atomically; a second
//! use is `NonceReplayed`. Consumed nonces are remembered for at least the KB-JWT `iat` window
//! plus skew (360 s), after which a replay fails on the KB-JWT `iat` check anyway.
//!
//! [`MemoryNonceStore`] forgets expired nonces incrementally: each call looks at no more than a
//! few expired entries, so no call holds the lock for long however many expire at once.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// How long consumed nonces are remembered by default: the KB-JWT window (300 s) plus the
/// allowed skew (60 s).
pub const DEFAULT_RETENTION: u64 = 360;
/// Default number of nonces a [`MemoryNonceStore`] remembers at once.
pub const DEFAULT_CAPACITY: usize = 100_000;
/// Most expired entries one [`MemoryNonceStore::consume`] call forgets (beyond the one it may
/// need to make room in a full store).
const PURGE_PER_CALL: usize = 32;

/// Why a nonce could not be consumed.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NonceError {
    /// The nonce was consumed before (within the retention period).
    #[error("nonce already used")]
    Replayed,
    /// The store is full of live nonces. It fails closed: evicting a live nonce would let
    /// its presentation be replayed.
    #[error("nonce store is full")]
    Full,
}

/// Where consumed nonces are remembered. Implementations must make [`NonceStore::consume`]
/// atomic: of two concurrent calls with the same nonce, exactly one succeeds.
pub trait NonceStore: Send + Sync {
    /// Marks `nonce` as used at time `now` (Unix seconds); fails if it was used before.
    fn consume(&self, nonce: &str, now: u64) -> Result<(), NonceError>;
}

/// A bounded in-memory nonce store for one process. Nonces are kept as SHA-256 digests, so
/// memory per entry is fixed whatever the nonce length.
#[derive(Debug)]
pub struct MemoryNonceStore {
    inner: Mutex<Inner>,
    capacity: usize,
    retention: u64,
}

#[derive(Debug, Default)]
struct Inner {
    /// digest → time after which it may be forgotten.
    live: HashMap<[u8; 32], u64>,
    /// Insertion order, for purging; expiry times are non-decreasing in it. Holds every entry
    /// of `live` with its time, plus stale entries of nonces since remembered afresh.
    order: VecDeque<([u8; 32], u64)>,
}

impl Inner {
    /// Forgets nonces past their retention, earliest first, looking at no more than `max`
    /// entries of `order`: the work under the lock is bounded however many expire at once, and
    /// each call can forget more than one nonce consumes, so a backlog drains.
    fn purge(&mut self, now: u64, max: usize) {
        for _ in 0..max {
            if !self.pop_expired(now) {
                break;
            }
        }
    }

    /// Pops the head of `order` if it is past its retention, forgetting its nonce unless that
    /// was remembered afresh since; whether it popped.
    fn pop_expired(&mut self, now: u64) -> bool {
        match self.order.front() {
            Some(&(d, until)) if until <= now => {
                self.order.pop_front();
                if self.live.get(&d) == Some(&until) {
                    self.live.remove(&d);
                }
                true
            }
            _ => false,
        }
    }

    /// Pops expired heads until one nonce is forgotten; whether one was. Entries left behind by
    /// nonces remembered afresh are skipped on the way (each was pushed by an earlier
    /// `consume`, so this work is amortised over those calls).
    fn purge_one(&mut self, now: u64) -> bool {
        let before = self.live.len();
        while self.live.len() == before {
            if !self.pop_expired(now) {
                return false;
            }
        }
        true
    }
}

impl MemoryNonceStore {
    /// A store for at most `capacity` live nonces, each remembered for `retention` seconds
    /// (raised to [`DEFAULT_RETENTION`] if lower, which would open a replay window).
    pub fn new(capacity: usize, retention: u64) -> Self {
        MemoryNonceStore {
            inner: Mutex::new(Inner::default()),
            capacity: capacity.max(1),
            retention: retention.max(DEFAULT_RETENTION),
        }
    }

    /// Number of nonces currently remembered (including ones due to be purged).
    pub fn len(&self) -> usize {
        self.lock().live.len()
    }

    /// Whether no nonce is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A poisoned lock only means another thread panicked mid-update of plain maps; the
        // data stays consistent enough to keep refusing replays.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Default for MemoryNonceStore {
    fn default() -> Self {
        MemoryNonceStore::new(DEFAULT_CAPACITY, DEFAULT_RETENTION)
    }
}

impl NonceStore for MemoryNonceStore {
    fn consume(&self, nonce: &str, now: u64) -> Result<(), NonceError> {
        let digest: [u8; 32] = ring::digest::digest(&ring::digest::SHA256, nonce.as_bytes())
            .as_ref()
            .try_into()
            .unwrap_or([0; 32]); // SHA-256 output is always 32 bytes.
        let mut inner = self.lock();
        inner.purge(now, PURGE_PER_CALL);
        let known = match inner.live.get(&digest) {
            Some(&until) if until > now => return Err(NonceError::Replayed),
            // Past its retention but not purged yet: remembered afresh below.
            Some(_) => true,
            None => false,
        };
        if !known && inner.live.len() >= self.capacity {
            // Make room if any nonce is past its retention (the first purge may have spent its
            // budget on entries already forgotten): fail closed only when full of live ones.
            if !inner.purge_one(now) {
                return Err(NonceError::Full);
            }
        }
        let until = now.saturating_add(self.retention);
        // Keep `order` sorted by expiry even if the clock steps back.
        let until = inner.order.back().map_or(until, |&(_, last)| until.max(last));
        // A nonce remembered afresh leaves its old `order` entry behind; purging skips it, as
        // it no longer matches `live`.
        inner.live.insert(digest, until);
        inner.order.push_back((digest, until));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_use_within_retention() {
        let s = MemoryNonceStore::new(10, 360);
        assert_eq!(s.consume("a", 1000), Ok(()));
        assert_eq!(s.consume("a", 1000), Err(NonceError::Replayed));
        assert_eq!(s.consume("a", 1359), Err(NonceError::Replayed));
        assert_eq!(s.consume("b", 1359), Ok(()));
        // After the retention period the entry is purged (the KB-JWT iat check then refuses).
        assert_eq!(s.consume("a", 1360), Ok(()));
        assert_eq!(s.len(), 2);
    }

    #[test]
    fn bounded_and_fails_closed() {
        let s = MemoryNonceStore::new(2, 0);
        assert_eq!(s.consume("a", 0), Ok(()));
        assert_eq!(s.consume("b", 0), Ok(()));
        assert_eq!(s.consume("c", 10), Err(NonceError::Full));
        // Still refuses the replay rather than evicting.
        assert_eq!(s.consume("a", 10), Err(NonceError::Replayed));
        // Retention was raised to the minimum, so purging starts at 360.
        assert_eq!(s.consume("c", DEFAULT_RETENTION), Ok(()));
        assert_eq!(s.len(), 1);
    }

    fn n(i: usize) -> String {
        format!("nonce-{i}")
    }

    #[test]
    fn each_call_purges_a_bounded_number() {
        let s = MemoryNonceStore::new(10_000, 360);
        for i in 0..1000 {
            s.consume(&n(i), 0).unwrap();
        }
        // All 1000 are past their retention at 360; one call forgets PURGE_PER_CALL of them.
        assert_eq!(s.consume("x", 360), Ok(()));
        assert_eq!(s.len(), 1000 - PURGE_PER_CALL + 1);
        // Enough calls forget them all (a replay refused is a call too).
        for _ in 0..1000 / PURGE_PER_CALL {
            assert_eq!(s.consume("x", 361), Err(NonceError::Replayed));
        }
        assert_eq!(s.len(), 1);
        assert_eq!(s.lock().order.len(), 1);
    }

    #[test]
    fn past_retention_but_not_purged_yet() {
        let s = MemoryNonceStore::new(10_000, 360);
        for i in 0..1000 {
            s.consume(&n(i), 0).unwrap();
        }
        // nonce-999 is still held at 360 but past its retention: consumed afresh, as if purged.
        assert_eq!(s.consume(&n(999), 360), Ok(()));
        assert_eq!(s.consume(&n(999), 360), Err(NonceError::Replayed));
        // Its old entry, purged later, does not forget the fresh one.
        for _ in 0..1000 / PURGE_PER_CALL + 1 {
            assert_eq!(s.consume(&n(999), 719), Err(NonceError::Replayed));
        }
        assert_eq!((s.len(), s.lock().order.len()), (1, 1));
        assert_eq!(s.consume(&n(999), 720), Ok(()));
    }

    #[test]
    fn full_store_makes_room_whatever_the_backlog() {
        let s = MemoryNonceStore::new(1000, 360);
        for i in 0..1000 {
            s.consume(&n(i), 0).unwrap();
        }
        assert_eq!(s.consume("x", 359), Err(NonceError::Full));
        // A backlog of 1000 expired: every consume finds room, the bound holds, and then the
        // store is full of live nonces again.
        for i in 1000..2000 {
            assert_eq!(s.consume(&n(i), 360), Ok(()));
            assert!(s.len() <= 1000);
        }
        assert_eq!(s.consume("x", 360), Err(NonceError::Full));
        assert_eq!(s.consume(&n(1500), 700), Err(NonceError::Replayed));
    }

    #[test]
    fn room_is_made_past_entries_already_forgotten() {
        // A full store whose expired head is all stale entries (nonces remembered afresh), more
        // than one call's purge budget: the live expired nonce behind them still makes room.
        let mut inner = Inner::default();
        let stale = [1u8; 32];
        inner.live.insert(stale, 10_000);
        for _ in 0..2 * PURGE_PER_CALL {
            inner.order.push_back((stale, 5));
        }
        inner.live.insert([2; 32], 6);
        inner.order.push_back(([2; 32], 6));
        inner.order.push_back((stale, 10_000));
        let s = MemoryNonceStore {
            inner: Mutex::new(inner),
            capacity: 2,
            retention: DEFAULT_RETENTION,
        };
        assert_eq!(s.consume("new", 6), Ok(()));
        assert_eq!(s.len(), 2);
        assert_eq!(s.consume("newer", 6), Err(NonceError::Full));
    }

    #[test]
    fn concurrent_consumers_one_wins() {
        let s = std::sync::Arc::new(MemoryNonceStore::default());
        let wins: usize = (0..8)
            .map(|_| {
                let s = s.clone();
                std::thread::spawn(move || usize::from(s.consume("same", 5).is_ok()))
            })
            .map(|h| h.join().unwrap_or(0))
            .sum();
        assert_eq!(wins, 1);
    }
}
