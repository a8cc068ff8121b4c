//! Presentation sessions (protocol.md §8.6): 128-bit random ids, single use, a 5-minute life,
//! bounded memory. A session keeps what its request is made of (question, nonce, state, the
//! profiles offered) while pending and only the outcome or the error kind once finished — never
//! a token, disclosure, key or salt. The OpenID4VP request object is rebuilt from those parts
//! when a wallet fetches it, so the DCQL query is not held per session.
//!
//! Expiry is incremental: beside the table, every session has one entry in an index ordered by
//! the time it may be forgotten. Each operation first removes at most [`PURGE_PER_OP`] sessions
//! from the head of that index, so no request holds the lock for more than a bounded amount of
//! work however many sessions expire at once, and a lookup treats a session past that time as
//! gone whether or not it was removed yet.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use crate::openid4vp::{BlindOffer, Profiles};
use crate::outcome::AgeOutcome;
use crate::request::AgeRequest;

/// Default session lifetime, seconds.
pub const DEFAULT_TTL: u64 = 300;
/// Default bound on live sessions.
pub const DEFAULT_MAX_SESSIONS: usize = 10_000;
/// Most sessions removed by one operation on the table (insert, lookup, finish). Each insert
/// adds one session and can remove up to this many, so a backlog of expired sessions drains
/// while new ones arrive; an insert into a full table always removes one if any has expired.
pub(crate) const PURGE_PER_OP: usize = 32;
/// A session id: 22 base64url characters (128 random bits).
pub(crate) const ID_LEN: usize = 22;

type Id = [u8; ID_LEN];

fn key(id: &str) -> Option<Id> {
    id.as_bytes().try_into().ok()
}

/// What a platform sees of a session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionStatus {
    /// Waiting for the wallet.
    Pending,
    /// Answered and verified.
    Verified(AgeOutcome),
    /// Answered and rejected: the error kind, or the wallet's error code.
    Rejected(String),
    /// Not answered in time.
    Expired,
}

impl SessionStatus {
    /// The wire name.
    pub fn as_str(&self) -> &'static str {
        match self {
            SessionStatus::Pending => "pending",
            SessionStatus::Verified(_) => "verified",
            SessionStatus::Rejected(_) => "rejected",
            SessionStatus::Expired => "expired",
        }
    }
}

/// Why a session operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionError {
    /// No such session (never existed, or past the time it is remembered).
    Unknown,
    /// The session was answered already, is being answered, or expired.
    NotPending,
    /// The `state` does not match; the session stays pending.
    WrongState,
    /// Too many live sessions.
    Full,
}

/// What a pending session needs: the request it answers (question, policy, audience, nonce),
/// the `state` the wallet must echo and the profiles offered. The OpenID4VP request object is
/// a function of these and the session's `response_uri`.
#[derive(Clone, Debug)]
pub(crate) struct PendingSession {
    pub(crate) request: AgeRequest,
    pub(crate) state: String,
    pub(crate) sd_jwt: bool,
    pub(crate) blind: Option<BlindOffer>,
}

impl PendingSession {
    fn profiles(&self) -> Profiles {
        Profiles {
            sd_jwt: self.sd_jwt,
            blind: self.blind.is_some(),
        }
    }
}

enum State {
    Pending(Box<PendingSession>),
    /// A response is being verified; a second response is refused.
    InFlight,
    Verified(AgeOutcome),
    Rejected(String),
}

struct Session {
    created: u64,
    finished: Option<u64>,
    state: State,
}

impl Session {
    /// When the session may be forgotten: a lifetime after it finished, or a lifetime after it
    /// expired unanswered.
    fn forget_at(&self, ttl: u64) -> u64 {
        match self.finished {
            Some(f) => f.saturating_add(ttl),
            None => self.created.saturating_add(ttl.saturating_mul(2)),
        }
    }

    fn expired(&self, now: u64, ttl: u64) -> bool {
        now >= self.created.saturating_add(ttl)
    }
}

/// The table and its expiry index. Invariant: `expiry` holds `(forget_at, id)` exactly once for
/// each session in `sessions`, and nothing else.
#[derive(Default)]
struct Table {
    sessions: HashMap<Id, Session>,
    expiry: BTreeSet<(u64, Id)>,
}

impl Table {
    /// Removes up to `max` sessions whose time to be forgotten has come, earliest first;
    /// returns how many.
    fn purge(&mut self, now: u64, max: usize) -> usize {
        let mut removed = 0;
        while removed < max {
            match self.expiry.first() {
                Some(&(at, id)) if at <= now => {
                    self.expiry.pop_first();
                    self.sessions.remove(&id);
                    removed += 1;
                }
                _ => break,
            }
        }
        removed
    }

    /// The session `id` if it is still to be remembered at `now`; one past that is removed.
    fn live(&mut self, id: &str, now: u64, ttl: u64) -> Option<&mut Session> {
        let id = key(id)?;
        let at = self.sessions.get(&id)?.forget_at(ttl);
        if at <= now {
            self.sessions.remove(&id);
            self.expiry.remove(&(at, id));
            return None;
        }
        self.sessions.get_mut(&id)
    }
}

/// The in-memory session table.
pub(crate) struct SessionStore {
    table: Mutex<Table>,
    capacity: usize,
    ttl: u64,
}

impl SessionStore {
    pub(crate) fn new(capacity: usize, ttl: u64) -> Self {
        SessionStore {
            table: Mutex::new(Table::default()),
            capacity: capacity.max(1),
            ttl,
        }
    }

    /// The table, after removing at most [`PURGE_PER_OP`] sessions due to be forgotten.
    fn lock(&self, now: u64) -> std::sync::MutexGuard<'_, Table> {
        let mut table = self.lock_only();
        table.purge(now, PURGE_PER_OP);
        table
    }

    fn lock_only(&self) -> std::sync::MutexGuard<'_, Table> {
        // Poisoning needs a panic between two map operations; the maps themselves stay valid.
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn ttl(&self) -> u64 {
        self.ttl
    }

    /// Stores a new pending session under `id` (22 characters); `Full` when the table holds
    /// `capacity` sessions none of which may be forgotten yet.
    pub(crate) fn insert(&self, id: &str, pending: PendingSession, now: u64) -> Result<(), SessionError> {
        let id = key(id).ok_or(SessionError::Unknown)?;
        let mut table = self.lock(now);
        // The purge above removed every session due if there were at most PURGE_PER_OP of them,
        // and at least one otherwise: the table is full only of sessions still remembered.
        if table.sessions.len() >= self.capacity && !table.sessions.contains_key(&id) {
            return Err(SessionError::Full);
        }
        let session = Session {
            created: now,
            finished: None,
            state: State::Pending(Box::new(pending)),
        };
        let at = session.forget_at(self.ttl);
        // A repeated id (2^-128) replaces the session, as a map insert would.
        if let Some(old) = table.sessions.insert(id, session) {
            table.expiry.remove(&(old.forget_at(self.ttl), id));
        }
        table.expiry.insert((at, id));
        Ok(())
    }

    /// Removes at most `max` sessions past their use — pending ones a lifetime after they
    /// expired, finished ones a lifetime after they finished — earliest first, and returns how
    /// many. Call again while it returns `max` to remove all of them in bounded steps.
    pub(crate) fn purge(&self, now: u64, max: usize) -> usize {
        self.lock_only().purge(now, max)
    }

    /// The number of sessions held (including ones due to be forgotten, not removed yet).
    pub(crate) fn len(&self) -> usize {
        self.lock_only().sessions.len()
    }

    /// What the OpenID4VP request of a pending session is built from.
    pub(crate) fn pending(&self, id: &str, now: u64) -> Result<PendingSession, SessionError> {
        let mut table = self.lock(now);
        let s = table.live(id, now, self.ttl).ok_or(SessionError::Unknown)?;
        match &s.state {
            State::Pending(p) if !s.expired(now, self.ttl) => Ok(PendingSession::clone(p)),
            _ => Err(SessionError::NotPending),
        }
    }

    /// Claims a pending session for its one response if `state` matches: its request and the
    /// profiles it offered.
    pub(crate) fn begin_response(
        &self,
        id: &str,
        state: &str,
        now: u64,
    ) -> Result<(AgeRequest, Profiles), SessionError> {
        let mut table = self.lock(now);
        let ttl = self.ttl;
        let s = table.live(id, now, ttl).ok_or(SessionError::Unknown)?;
        if s.expired(now, ttl) {
            return Err(SessionError::NotPending);
        }
        match &s.state {
            State::Pending(p) if p.state.as_bytes() == state.as_bytes() => {}
            State::Pending(_) => return Err(SessionError::WrongState),
            _ => return Err(SessionError::NotPending),
        }
        match std::mem::replace(&mut s.state, State::InFlight) {
            State::Pending(p) => {
                let profiles = p.profiles();
                Ok((p.request, profiles))
            }
            // Checked just above under the same lock.
            _ => Err(SessionError::NotPending),
        }
    }

    /// Records the result of the response claimed by [`SessionStore::begin_response`]; the
    /// session is then remembered for a lifetime from `now`.
    pub(crate) fn finish(&self, id: &str, result: Result<AgeOutcome, String>, now: u64) {
        let Some(id) = key(id) else { return };
        let mut table = self.lock(now);
        let ttl = self.ttl;
        let Some(s) = table.sessions.get_mut(&id) else {
            return;
        };
        let before = s.forget_at(ttl);
        s.finished = Some(now);
        s.state = match result {
            Ok(o) => State::Verified(o),
            Err(kind) => State::Rejected(kind),
        };
        let after = s.forget_at(ttl);
        table.expiry.remove(&(before, id));
        table.expiry.insert((after, id));
    }

    /// The status at `now`.
    pub(crate) fn status(&self, id: &str, now: u64) -> Result<SessionStatus, SessionError> {
        let mut table = self.lock(now);
        let s = table.live(id, now, self.ttl).ok_or(SessionError::Unknown)?;
        Ok(match &s.state {
            State::Pending(_) | State::InFlight if s.expired(now, self.ttl) => SessionStatus::Expired,
            State::Pending(_) | State::InFlight => SessionStatus::Pending,
            State::Verified(o) => SessionStatus::Verified(o.clone()),
            State::Rejected(k) => SessionStatus::Rejected(k.clone()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::Profile;
    use ageband_core::age::{AgeQuestion, AssuranceLevel, Threshold};

    const TTL: u64 = 300;
    const STATE: &str = "ssssssssssssssssssssss";

    fn pending() -> PendingSession {
        let q = AgeQuestion::AtLeast(Threshold::new(18).unwrap());
        PendingSession {
            request: AgeRequest::new(q, "redirect_uri:https://verifier.example/v1/sessions/x/response")
                .unwrap(),
            state: STATE.to_owned(),
            sd_jwt: true,
            blind: None,
        }
    }

    fn id(i: usize) -> String {
        format!("{i:022}")
    }

    fn outcome() -> AgeOutcome {
        AgeOutcome {
            at_least: Some(18),
            under: None,
            assurance: AssuranceLevel::Basic,
            source: None,
            issuer: "https://issuer.example".to_owned(),
            profile: Profile::SdJwt,
        }
    }

    /// The index names every session once, and nothing else.
    fn consistent(store: &SessionStore) -> bool {
        let t = store.lock_only();
        t.expiry.len() == t.sessions.len()
            && t.expiry
                .iter()
                .all(|(at, id)| t.sessions.get(id).is_some_and(|s| s.forget_at(store.ttl) == *at))
    }

    fn filled(n: usize, capacity: usize) -> SessionStore {
        let store = SessionStore::new(capacity, TTL);
        for i in 0..n {
            store.insert(&id(i), pending(), 0).unwrap();
        }
        store
    }

    #[test]
    fn each_operation_purges_a_bounded_number() {
        let store = filled(1000, 2000);
        // Every session may be forgotten from 600 on; one insert removes PURGE_PER_OP of them.
        store.insert(&id(5000), pending(), 2 * TTL).unwrap();
        assert_eq!(store.len(), 1000 - PURGE_PER_OP + 1);
        // So does a lookup, whatever it looks up.
        assert_eq!(store.status(&id(9999), 2 * TTL), Err(SessionError::Unknown));
        assert_eq!(store.len(), 1000 - 2 * PURGE_PER_OP + 1);
        assert!(consistent(&store));
        // Enough operations remove them all; the live one stays.
        for _ in 0..1000 / PURGE_PER_OP {
            let _ = store.status(&id(9999), 2 * TTL);
        }
        assert_eq!(store.len(), 1);
        assert_eq!(store.status(&id(5000), 2 * TTL), Ok(SessionStatus::Pending));
        assert!(consistent(&store));
    }

    #[test]
    fn a_session_due_to_be_forgotten_is_gone_at_lookup() {
        let store = filled(1000, 2000);
        let last = id(999);
        assert_eq!(store.status(&last, 2 * TTL - 1), Ok(SessionStatus::Expired));
        // Not purged yet (it is behind 999 others), but unknown to every lookup from 600 on.
        assert_eq!(store.status(&last, 2 * TTL), Err(SessionError::Unknown));
        assert_eq!(
            store.begin_response(&id(998), STATE, 2 * TTL).err(),
            Some(SessionError::Unknown)
        );
        assert_eq!(
            store.pending(&id(997), 2 * TTL).err(),
            Some(SessionError::Unknown)
        );
        assert_eq!(store.len(), 1000 - 3 * PURGE_PER_OP - 3);
        assert!(consistent(&store));
    }

    #[test]
    fn background_purge_goes_in_bounded_steps() {
        let store = filled(1000, 1000);
        assert_eq!(store.purge(2 * TTL - 1, 256), 0);
        let steps: Vec<usize> = std::iter::from_fn(|| Some(store.purge(2 * TTL, 256)))
            .take(5)
            .collect();
        assert_eq!(steps, [256, 256, 256, 232, 0]);
        assert_eq!(store.len(), 0);
        assert!(consistent(&store));
    }

    #[test]
    fn full_only_of_sessions_still_remembered() {
        let store = filled(2, 2);
        assert_eq!(store.insert(&id(2), pending(), 0), Err(SessionError::Full));
        // Expired but still reported as expired: they count.
        assert_eq!(
            store.insert(&id(2), pending(), 2 * TTL - 1),
            Err(SessionError::Full)
        );
        assert_eq!(store.insert(&id(2), pending(), 2 * TTL), Ok(()));
        assert_eq!(store.len(), 1);

        // A backlog larger than one operation purges: every insert into the full table still
        // finds room, the table never grows past its bound, and then it is full of live ones.
        let store = filled(1000, 1000);
        for i in 1000..2000 {
            assert_eq!(store.insert(&id(i), pending(), 2 * TTL), Ok(()));
            assert!(store.len() <= 1000);
        }
        assert_eq!(
            store.insert(&id(2000), pending(), 2 * TTL),
            Err(SessionError::Full)
        );
        assert_eq!(store.status(&id(0), 2 * TTL), Err(SessionError::Unknown));
        assert_eq!(store.status(&id(1999), 2 * TTL), Ok(SessionStatus::Pending));
        assert!(consistent(&store));
    }

    #[test]
    fn finishing_moves_the_time_to_forget() {
        let store = filled(3, 3);
        // Finished early: forgotten a lifetime after finishing, before the pending ones.
        store.begin_response(&id(0), STATE, 100).unwrap();
        store.finish(&id(0), Ok(outcome()), 100);
        // Finished late: remembered past the pending ones' 600.
        store.begin_response(&id(1), STATE, 299).unwrap();
        store.finish(&id(1), Err("nonce_replayed".to_owned()), 350);
        assert!(consistent(&store));
        assert_eq!(store.status(&id(0), 399), Ok(SessionStatus::Verified(outcome())));
        assert_eq!(store.insert(&id(3), pending(), 399), Err(SessionError::Full));
        assert_eq!(store.insert(&id(3), pending(), 400), Ok(()));
        assert_eq!(store.status(&id(0), 400), Err(SessionError::Unknown));
        assert_eq!(store.status(&id(2), 600), Err(SessionError::Unknown));
        assert_eq!(
            store.status(&id(1), 649),
            Ok(SessionStatus::Rejected("nonce_replayed".to_owned()))
        );
        assert_eq!(store.status(&id(1), 650), Err(SessionError::Unknown));
        assert_eq!(store.len(), 1);
        assert!(consistent(&store));
    }

    #[test]
    fn single_use_and_state_checked() {
        let store = filled(1, 1);
        let p = store.pending(&id(0), 10).unwrap();
        assert_eq!(
            (p.state.as_str(), p.sd_jwt, p.blind.is_none()),
            (STATE, true, true)
        );
        assert_eq!(
            store.begin_response(&id(0), "other", 10).err(),
            Some(SessionError::WrongState)
        );
        let (request, profiles) = store.begin_response(&id(0), STATE, 10).unwrap();
        assert_eq!(request, p.request);
        assert_eq!(
            profiles,
            Profiles {
                sd_jwt: true,
                blind: false
            }
        );
        assert_eq!(
            store.begin_response(&id(0), STATE, 10).err(),
            Some(SessionError::NotPending)
        );
        assert_eq!(store.pending(&id(0), 10).err(), Some(SessionError::NotPending));
        assert_eq!(store.status(&id(0), 10), Ok(SessionStatus::Pending));
        assert_eq!(store.status(&id(0), TTL), Ok(SessionStatus::Expired));
        assert_eq!(store.insert("short", pending(), 0), Err(SessionError::Unknown));
        assert_eq!(store.status("short", 0), Err(SessionError::Unknown));
    }
}
