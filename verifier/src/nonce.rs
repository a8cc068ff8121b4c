//! Single-use nonces (protocol.md §6.5): a nonce is consumed exactly once, atomically; a second
//! use is `NonceReplayed`. Consumed nonces are remembered for at least the KB-JWT `iat` window
//! plus skew (360 s), after which a replay fails on the KB-JWT `iat` check anyway.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// How long consumed nonces are remembered by default: the KB-JWT window (300 s) plus the
/// allowed skew (60 s).
pub const DEFAULT_RETENTION: u64 = 360;
/// Default number of nonces a [`MemoryNonceStore`] remembers at once.
pub const DEFAULT_CAPACITY: usize = 100_000;

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
    /// Insertion order, for purging; expiry times are non-decreasing in it.
    order: VecDeque<([u8; 32], u64)>,
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
        while let Some(&(d, until)) = inner.order.front() {
            if until > now {
                break;
            }
            inner.order.pop_front();
            inner.live.remove(&d);
        }
        if inner.live.contains_key(&digest) {
            return Err(NonceError::Replayed);
        }
        if inner.live.len() >= self.capacity {
            return Err(NonceError::Full);
        }
        let until = now.saturating_add(self.retention);
        // Keep `order` sorted by expiry even if the clock steps back.
        let until = inner.order.back().map_or(until, |&(_, last)| until.max(last));
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
