//! Presentation sessions (protocol.md §8.6): 128-bit random ids, single use, a 5-minute life,
//! bounded memory. A session keeps the request (question, nonce, state) while pending and only
//! the outcome or the error kind once finished — never a token, disclosure, key or salt.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::openid4vp::{AuthorizationRequest, Profiles};
use crate::outcome::AgeOutcome;
use crate::request::AgeRequest;

/// Default session lifetime, seconds.
pub const DEFAULT_TTL: u64 = 300;
/// Default bound on live sessions.
pub const DEFAULT_MAX_SESSIONS: usize = 10_000;

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
    /// No such session (never existed, or purged).
    Unknown,
    /// The session was answered already, is being answered, or expired.
    NotPending,
    /// The `state` does not match; the session stays pending.
    WrongState,
    /// Too many live sessions.
    Full,
}

pub(crate) struct PendingSession {
    pub(crate) request: AgeRequest,
    pub(crate) authz: AuthorizationRequest,
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

/// The in-memory session table.
pub(crate) struct SessionStore {
    sessions: Mutex<HashMap<String, Session>>,
    capacity: usize,
    ttl: u64,
}

impl SessionStore {
    pub(crate) fn new(capacity: usize, ttl: u64) -> Self {
        SessionStore {
            sessions: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
            ttl,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        // Poisoning needs a panic between two map operations; the map itself stays valid.
        self.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn ttl(&self) -> u64 {
        self.ttl
    }

    /// Stores a new pending session under `id`.
    pub(crate) fn insert(&self, id: String, pending: PendingSession, now: u64) -> Result<(), SessionError> {
        let mut map = self.lock();
        if map.len() >= self.capacity {
            purge(&mut map, now, self.ttl);
        }
        if map.len() >= self.capacity {
            return Err(SessionError::Full);
        }
        map.insert(
            id,
            Session {
                created: now,
                finished: None,
                state: State::Pending(Box::new(pending)),
            },
        );
        Ok(())
    }

    /// Removes sessions past their use: pending ones a lifetime after they expired, finished
    /// ones a lifetime after they finished.
    pub(crate) fn purge(&self, now: u64) {
        purge(&mut self.lock(), now, self.ttl);
    }

    /// The number of sessions held.
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    /// The OpenID4VP request of a pending session.
    pub(crate) fn request_object(&self, id: &str, now: u64) -> Result<AuthorizationRequest, SessionError> {
        let map = self.lock();
        let s = map.get(id).ok_or(SessionError::Unknown)?;
        match &s.state {
            State::Pending(p) if now < s.created + self.ttl => Ok(p.authz.clone()),
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
        let mut map = self.lock();
        let s = map.get_mut(id).ok_or(SessionError::Unknown)?;
        if now >= s.created + self.ttl {
            return Err(SessionError::NotPending);
        }
        match &s.state {
            State::Pending(p) if p.authz.state.as_bytes() == state.as_bytes() => {}
            State::Pending(_) => return Err(SessionError::WrongState),
            _ => return Err(SessionError::NotPending),
        }
        match std::mem::replace(&mut s.state, State::InFlight) {
            State::Pending(p) => {
                let profiles = p.authz.profiles();
                Ok((p.request, profiles))
            }
            // Checked just above under the same lock.
            _ => Err(SessionError::NotPending),
        }
    }

    /// Records the result of the response claimed by [`SessionStore::begin_response`].
    pub(crate) fn finish(&self, id: &str, result: Result<AgeOutcome, String>, now: u64) {
        if let Some(s) = self.lock().get_mut(id) {
            s.finished = Some(now);
            s.state = match result {
                Ok(o) => State::Verified(o),
                Err(kind) => State::Rejected(kind),
            };
        }
    }

    /// The status at `now`.
    pub(crate) fn status(&self, id: &str, now: u64) -> Result<SessionStatus, SessionError> {
        let map = self.lock();
        let s = map.get(id).ok_or(SessionError::Unknown)?;
        Ok(match &s.state {
            State::Pending(_) | State::InFlight if now >= s.created + self.ttl => SessionStatus::Expired,
            State::Pending(_) | State::InFlight => SessionStatus::Pending,
            State::Verified(o) => SessionStatus::Verified(o.clone()),
            State::Rejected(k) => SessionStatus::Rejected(k.clone()),
        })
    }
}

fn purge(map: &mut HashMap<String, Session>, now: u64, ttl: u64) {
    map.retain(|_, s| match s.finished {
        Some(f) => now < f + ttl,
        None => now < s.created + 2 * ttl,
    });
}
