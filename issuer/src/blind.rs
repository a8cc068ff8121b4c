//! The blind-token profile in the issuer (DESIGN §9, blind-profile.md §12.1): the key schedule
//! (one sealed RSA-2048 key per fact, floor and month, generated when first needed, retired after
//! its month), the RFC 9578 §4 directory, and batch issuance of RFC 9578 type 0x0002 token
//! responses after the same evidence step as the SD-JWT profile.
//!
//! The issuer never sees a token, its nonce or the final signature: it checks that the slot
//! (fact, floor, month) is allowed for the evidence behind the access token, that the request
//! names the slot's key, the quota per evidence subject, fact and month, and blind-signs.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use ageband_blind::profile::{BlindFact, Directory, DirectoryKey, Floor, Month, TokenChallenge};
use ageband_blind::token::{TOKEN_REQUEST_LEN, sign_token_request};
use ageband_blind::{PublicKey, SecretKey, SystemRng, TokenRequest, TokenResponse};
use ageband_core::age::Date;
use ageband_core::{b64, json};
use serde_json::{Value, json};

use crate::evidence::{InternalError, IssuanceFacts};
use crate::keys::{Kek, KeyError};
use crate::store::{BlindKeyRow, BlindRedeem, Store, StoreError, USE_BLIND};
use crate::{Issuer, hash};

/// The token request endpoint's path.
pub const BLIND_TOKEN_REQUEST_PATH: &str = "/blind-token-request";
/// The directory's path (RFC 9578 §4).
pub const DIRECTORY_PATH: &str = "/.well-known/private-token-issuer-directory";
/// The directory's media type (RFC 9578 §4).
pub const DIRECTORY_MEDIA_TYPE: &str = "application/private-token-issuer-directory";
/// Largest `POST /blind-token-request` body: 100 requests of about 420 bytes.
pub const MAX_BLIND_BODY: usize = 64 * 1024;
/// Days before the end of a month from which the maintenance tick prepares (generates, without
/// publishing) the keys of the month that will be published next.
pub const PREPARE_DAYS: u64 = 3;
/// RSA modulus size of token type 0x0002.
const KEY_BITS: usize = 2048;
/// Domain separation of the blind-token quota tags (privacy.md §8 style).
pub(crate) const BLIND_SUBJECT_LABEL: &[u8] = b"ageband-blind-subject-v1";
const BLIND_QUOTA_LABEL: &[u8] = b"ageband-blind-quota-v1";

/// A slot of the schedule.
pub type Slot = (BlindFact, Floor, Month);

/// Why `POST /blind-token-request` (or the directory) failed. No variant carries request content.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum BlindError {
    /// The profile is switched off.
    #[error("the blind-token profile is not offered by this issuer")]
    Disabled,
    /// Missing, expired or used access token (for this profile).
    #[error("access token is missing, expired or used")]
    InvalidToken,
    /// The body is malformed or the batch too large.
    #[error("invalid blind token request: {reason}")]
    InvalidRequest {
        /// What is wrong.
        reason: &'static str,
    },
    /// No published key for the (fact, floor, month) named.
    #[error("no published key for this fact, floor and month")]
    UnknownSlot,
    /// The RFC 9578 TokenRequest is malformed or names another key.
    #[error("invalid token_request: {reason}")]
    InvalidTokenRequest {
        /// What is wrong.
        reason: &'static str,
    },
    /// The evidence behind the access token does not allow the slot.
    #[error("blind tokens denied: {reason}")]
    Denied {
        /// Why.
        reason: &'static str,
    },
    /// The quota per evidence subject, fact and month is used up.
    #[error("blind-token quota for this subject, fact and month is used up")]
    QuotaExceeded,
    /// A server fault.
    #[error("internal error")]
    Internal(#[source] InternalError),
}

impl From<StoreError> for BlindError {
    fn from(e: StoreError) -> Self {
        BlindError::Internal(e.into())
    }
}

impl From<KeyError> for BlindError {
    fn from(e: KeyError) -> Self {
        BlindError::Internal(e.into())
    }
}

/// The blind-token keys: sealed in the store under the KEK, unsealed into a cache on first use.
pub(crate) struct BlindKeys {
    store: Arc<Store>,
    kek: Kek,
    cache: Mutex<HashMap<Slot, Arc<SecretKey>>>,
    generating: Mutex<()>,
}

fn seal_label(slot: &Slot) -> String {
    format!("blind-key:{}:{}:{}", slot.0, slot.1.number(), slot.2)
}

fn slot_of(row: &BlindKeyRow) -> Option<Slot> {
    Some((
        BlindFact::from_name(&row.fact)?,
        Floor::from_number(u64::from(row.floor))?,
        Month::parse(&row.month)?,
    ))
}

fn bad_key(slot: &Slot) -> KeyError {
    KeyError::BadKey {
        kid: seal_label(slot),
    }
}

impl BlindKeys {
    pub(crate) fn new(store: Arc<Store>, kek: Kek) -> Self {
        BlindKeys {
            store,
            kek,
            cache: Mutex::new(HashMap::new()),
            generating: Mutex::new(()),
        }
    }

    /// Generates the keys of the slots that have none (in parallel over the available cores;
    /// one key per slot is kept even if another process raced us: the UNIQUE slot constraint).
    /// Returns every stored key row afterwards, read once when nothing was missing.
    pub(crate) fn ensure(&self, slots: &[Slot], now: u64) -> Result<Vec<BlindKeyRow>, KeyError> {
        let _one_generator = self.generating.lock().map_err(|_| StoreError::Poisoned)?;
        let rows = self.store.blind_keys()?;
        let have: Vec<Slot> = rows.iter().filter_map(slot_of).collect();
        let missing: Vec<Slot> = slots.iter().filter(|s| !have.contains(s)).copied().collect();
        if missing.is_empty() {
            return Ok(rows);
        }
        let threads = std::thread::available_parallelism()
            .map_or(1, usize::from)
            .min(missing.len());
        let chunk = missing.len().div_ceil(threads);
        let results: Vec<Result<(), KeyError>> = std::thread::scope(|scope| {
            let handles: Vec<_> = missing
                .chunks(chunk)
                .map(|part| {
                    scope.spawn(move || {
                        for slot in part {
                            self.generate(slot, now)?;
                        }
                        Ok(())
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or(Err(KeyError::Generate)))
                .collect()
        });
        for r in results {
            r?;
        }
        tracing::info!(count = missing.len(), "blind-token keys generated");
        Ok(self.store.blind_keys()?)
    }

    fn generate(&self, slot: &Slot, now: u64) -> Result<(), KeyError> {
        let sk = SecretKey::generate(&mut SystemRng, KEY_BITS).map_err(|_| KeyError::Generate)?;
        let der = sk.to_pkcs8_der().map_err(|_| KeyError::Generate)?;
        let pk = sk.public_key();
        let row = BlindKeyRow {
            fact: slot.0.name(),
            floor: slot.1.number(),
            month: slot.2.to_string(),
            token_key_id: pk.token_key_id().to_vec(),
            spki: pk.to_spki(),
            sealed: self.kek.seal(&seal_label(slot), &der)?,
            created: now,
            not_after: slot.2.not_after(),
        };
        self.store.insert_blind_key_once(&row)?;
        Ok(())
    }

    /// The secret key of a slot, if it has one.
    pub(crate) fn secret(&self, slot: &Slot) -> Result<Option<Arc<SecretKey>>, KeyError> {
        let mut cache = self.cache.lock().map_err(|_| StoreError::Poisoned)?;
        if let Some(k) = cache.get(slot) {
            return Ok(Some(k.clone()));
        }
        let Some(row) = self
            .store
            .blind_key(&slot.0.name(), slot.1.number(), &slot.2.to_string())?
        else {
            return Ok(None);
        };
        let der = self.kek.open(&seal_label(slot), &row.sealed)?;
        let sk = SecretKey::from_pkcs8_der(&der).map_err(|_| bad_key(slot))?;
        if sk.public_key().token_key_id().as_slice() != row.token_key_id.as_slice() {
            return Err(bad_key(slot));
        }
        let sk = Arc::new(sk);
        cache.insert(*slot, sk.clone());
        Ok(Some(sk))
    }

    /// The directory entries of the given slots that have a key in `rows`, in the slots' order.
    fn directory_keys(rows: Vec<BlindKeyRow>, slots: &[Slot]) -> Result<Vec<DirectoryKey>, KeyError> {
        let rows: HashMap<Slot, BlindKeyRow> = rows
            .into_iter()
            .filter_map(|r| slot_of(&r).map(|s| (s, r)))
            .collect();
        let mut out = Vec::with_capacity(slots.len());
        for slot in slots {
            if let Some(row) = rows.get(slot) {
                let pk = PublicKey::from_spki(&row.spki).map_err(|_| bad_key(slot))?;
                out.push(DirectoryKey::new(slot.0, slot.1, slot.2, pk).map_err(|_| bad_key(slot))?);
            }
        }
        Ok(out)
    }

    /// Deletes the keys whose month has ended (their secrets with them).
    pub(crate) fn retire(&self, now: u64) -> Result<usize, KeyError> {
        let n = self.store.retire_blind_keys(now)?;
        if n > 0 {
            self.cache
                .lock()
                .map_err(|_| StoreError::Poisoned)?
                .retain(|s, _| s.2.not_after() > now);
            tracing::info!(count = n, "blind-token keys retired");
        }
        Ok(n)
    }

    fn any(&self) -> Result<bool, KeyError> {
        Ok(self.store.has_blind_keys()?)
    }
}

/// One parsed request of a batch.
struct Planned {
    slot: Slot,
    key: Arc<SecretKey>,
    request: TokenRequest,
}

impl Issuer {
    /// The blind facts offered: the configured ones whose threshold is one of `thresholds`.
    pub fn blind_facts(&self) -> Vec<BlindFact> {
        let thresholds = self.config.threshold_set();
        self.config
            .blind
            .blind_facts()
            .into_iter()
            .filter(|f| thresholds.as_slice().contains(&f.threshold()))
            .collect()
    }

    /// Whether the profile is offered (switched on, with at least one fact).
    pub fn blind_enabled(&self) -> bool {
        self.config.blind.enabled && !self.blind_facts().is_empty()
    }

    /// The months whose keys are published on `today`: the current one and
    /// `blind.months_ahead` more (blind-profile.md §3.2).
    pub(crate) fn blind_published_months(&self, today: Date) -> Vec<Month> {
        let Some(current) = Month::of_date(today) else {
            return Vec::new();
        };
        (0..=self.config.blind.months_ahead)
            .filter_map(|n| current.plus(n))
            .collect()
    }

    /// Every published slot on the day of `now`, facts in configuration order, then floors,
    /// then months.
    pub fn blind_published_slots(&self, now: u64) -> Vec<Slot> {
        let months = self.blind_published_months(Date::from_unix_seconds(now));
        let mut out = Vec::new();
        for fact in self.blind_facts() {
            for floor in Floor::ALL {
                for m in &months {
                    out.push((fact, floor, *m));
                }
            }
        }
        out
    }

    /// The published slots the stored facts of a code allow (blind-profile.md §12.3): each fact
    /// of the stored `blind` map, the floors of the evidence source, the stored months that are
    /// published at `now`. Empty when the profile is off or the facts are unreadable.
    pub(crate) fn blind_slots_for(&self, stored: &str, now: u64) -> Vec<crate::issuer::BlindSlot> {
        if !self.blind_enabled() {
            return Vec::new();
        }
        let Some(facts) = IssuanceFacts::from_stored(stored) else {
            return Vec::new();
        };
        let floors = Floor::floors_for(facts.source);
        self.blind_published_slots(now)
            .into_iter()
            .filter(|(fact, floor, month)| {
                floors.contains(floor) && facts.blind.get(fact).is_some_and(|ms| ms.contains(month))
            })
            .map(|(fact, floor, month)| crate::issuer::BlindSlot {
                fact: fact.name(),
                floor: floor.number(),
                month: month.to_string(),
            })
            .collect()
    }

    /// The issuer's TokenChallenge (blind-profile.md §5.1): its server name (host and any
    /// non-default port of `credential_issuer`, lowercase).
    pub fn blind_challenge(&self) -> Option<TokenChallenge> {
        TokenChallenge::for_issuer_url(self.credential_issuer()?).ok()
    }

    fn blind_request_uri(&self) -> String {
        format!(
            "{}{BLIND_TOKEN_REQUEST_PATH}",
            self.credential_issuer().unwrap_or_default()
        )
    }

    /// `GET /.well-known/private-token-issuer-directory`: one key per published slot, the
    /// missing ones generated first (blind-profile.md §4, §12.1).
    pub fn blind_directory(&self) -> Result<Directory, BlindError> {
        if !self.blind_enabled() {
            return Err(BlindError::Disabled);
        }
        let now = self.now();
        let slots = self.blind_published_slots(now);
        let rows = self.blind.ensure(&slots, now)?;
        let keys = BlindKeys::directory_keys(rows, &slots)?;
        Directory::new(&self.blind_request_uri(), keys)
            .map_err(|_| BlindError::Internal(KeyError::Generate.into()))
    }

    /// Maintenance (run by the server's periodic tick, through [`Issuer::purge`]): deletes keys
    /// whose month ended; once the profile is in use (a key exists), generates the keys of the
    /// published months and, in the last [`PREPARE_DAYS`] days of a month, those of the month
    /// published next, so that the turn of the month never waits for key generation.
    pub fn blind_maintain(&self) -> Result<(), InternalError> {
        if !self.blind_enabled() {
            return Ok(());
        }
        let now = self.now();
        self.blind.retire(now)?;
        if !self.blind.any()? {
            return Ok(());
        }
        let mut slots = self.blind_published_slots(now);
        let current = Month::containing(now);
        if let Some(m) = current.filter(|m| m.not_after().saturating_sub(now) <= PREPARE_DAYS * 86_400) {
            slots.extend(self.blind_published_slots(m.not_after()));
        }
        slots.sort();
        slots.dedup();
        self.blind.ensure(&slots, now)?;
        Ok(())
    }

    /// `POST /blind-token-request` (blind-profile.md §12.1): checks the access token (its blind
    /// use), the batch against the facts stored under it, the keys and the quota, then
    /// blind-signs every request, in request order.
    pub fn blind_token_request(
        &self,
        access_token: Option<&str>,
        body: &[u8],
    ) -> Result<Vec<TokenResponse>, BlindError> {
        if !self.blind_enabled() {
            return Err(BlindError::Disabled);
        }
        let now = self.now();
        let token_hash = hash(access_token.ok_or(BlindError::InvalidToken)?);
        let stored = self
            .store
            .token_facts(&token_hash, now, USE_BLIND)?
            .ok_or(BlindError::InvalidToken)?;
        let (facts, planned) = match self.check_blind_request(&stored, body, now) {
            Ok(p) => p,
            Err(e) => {
                self.store.token_failed(&token_hash)?;
                return Err(e);
            }
        };
        let charges = self.blind_charges(&facts, &token_hash, &planned);
        match self
            .store
            .redeem_blind(&token_hash, now, &charges, self.config.blind.tokens_per_month)?
        {
            BlindRedeem::Redeemed => {}
            BlindRedeem::TokenGone => return Err(BlindError::InvalidToken),
            BlindRedeem::QuotaExceeded => {
                self.store.token_failed(&token_hash)?;
                return Err(BlindError::QuotaExceeded);
            }
        }
        let mut out = Vec::with_capacity(planned.len());
        for p in &planned {
            let r = sign_token_request(&p.key, &mut SystemRng, &p.request)
                .map_err(|_| BlindError::Internal(KeyError::Generate.into()))?;
            out.push(r);
        }
        tracing::info!(count = out.len(), "blind tokens issued");
        Ok(out)
    }

    /// Checks a batch against the facts stored under the access token; returns those facts
    /// (parsed once, for the quota) and the planned requests.
    fn check_blind_request(
        &self,
        stored: &str,
        body: &[u8],
        now: u64,
    ) -> Result<(IssuanceFacts, Vec<Planned>), BlindError> {
        let invalid = |reason| BlindError::InvalidRequest { reason };
        let obj = json::parse_object(body, MAX_BLIND_BODY)
            .map_err(|_| invalid("body is not a strict JSON object"))?;
        if obj.len() != 1 {
            return Err(invalid("the body must hold exactly the requests member"));
        }
        let list = obj
            .get("requests")
            .and_then(Value::as_array)
            .ok_or(invalid("requests must be an array"))?;
        if list.is_empty() {
            return Err(invalid("at least one request is required"));
        }
        if list.len() > self.config.blind.batch_size {
            return Err(invalid("more requests than the batch size"));
        }
        let parsed = list.iter().map(parse_one).collect::<Result<Vec<_>, _>>()?;
        let facts = IssuanceFacts::from_stored(stored).ok_or(BlindError::Denied {
            reason: "stored facts unreadable",
        })?;
        let floors = Floor::floors_for(facts.source);
        if floors.is_empty() {
            return Err(BlindError::Denied {
                reason: "self-declared evidence gets no blind tokens",
            });
        }
        let published = self.blind_published_slots(now);
        let mut out = Vec::with_capacity(parsed.len());
        for (slot, request) in parsed {
            if !published.contains(&slot) {
                return Err(BlindError::UnknownSlot);
            }
            if !floors.contains(&slot.1) {
                return Err(BlindError::Denied {
                    reason: "the evidence does not reach this floor",
                });
            }
            let months = facts.blind.get(&slot.0).ok_or(BlindError::Denied {
                reason: "the evidence does not support this fact",
            })?;
            if !months.contains(&slot.2) {
                return Err(BlindError::Denied {
                    reason: "this fact is not issued for this month (a token must not outlive the fact)",
                });
            }
            let key = self.blind.secret(&slot)?.ok_or(BlindError::UnknownSlot)?;
            if request.truncated_token_key_id != key.public_key().token_key_id()[31] {
                return Err(BlindError::InvalidTokenRequest {
                    reason: "truncated_token_key_id does not name the slot's key",
                });
            }
            out.push(Planned { slot, key, request });
        }
        Ok((facts, out))
    }

    /// `(quota key, count, expires)` per (fact, month) of the batch, all floors together. The
    /// subject is the HMAC tag stored with the facts; evidence without a subject is limited per
    /// access token.
    fn blind_charges(
        &self,
        facts: &IssuanceFacts,
        token_hash: &[u8],
        planned: &[Planned],
    ) -> Vec<(Vec<u8>, u32, u64)> {
        let subject: Vec<u8> = match facts.blind_subject {
            Some(tag) => tag.to_vec(),
            None => token_hash.to_vec(),
        };
        let mut counts: BTreeMap<(BlindFact, Month), u32> = BTreeMap::new();
        for p in planned {
            *counts.entry((p.slot.0, p.slot.2)).or_default() += 1;
        }
        counts
            .into_iter()
            .map(|((fact, month), n)| {
                let key = self.hmac_parts(
                    BLIND_QUOTA_LABEL,
                    &[&subject, fact.name().as_bytes(), month.to_string().as_bytes()],
                );
                (key, n, month.not_after())
            })
            .collect()
    }

    /// The `ageband_blind_tokens` member of the credential issuer metadata
    /// (blind-profile.md §12.1), or `None` when the profile is off.
    pub(crate) fn blind_metadata(&self) -> Option<Value> {
        if !self.blind_enabled() {
            return None;
        }
        let me = self.credential_issuer().unwrap_or_default();
        Some(json!({
            "issuer_directory": format!("{me}{DIRECTORY_PATH}"),
            "token_request_endpoint": self.blind_request_uri(),
            "issuer_name": self.blind_challenge().map(|c| c.issuer_name),
            "token_type": 2,
            "batch_size": self.config.blind.batch_size,
            "facts": self.blind_facts().iter().map(|f| f.name()).collect::<Vec<_>>(),
        }))
    }
}

fn parse_one(v: &Value) -> Result<(Slot, TokenRequest), BlindError> {
    let invalid = |reason| BlindError::InvalidRequest { reason };
    let o = v.as_object().ok_or(invalid("a request is not an object"))?;
    if o.len() != 4 {
        return Err(invalid(
            "a request has exactly fact, floor, month and token_request",
        ));
    }
    let s = |m: &str| o.get(m).and_then(Value::as_str);
    let fact = BlindFact::from_name(s("fact").ok_or(invalid("fact must be a string"))?)
        .ok_or(invalid("fact is not one of the six facts"))?;
    let floor = o
        .get("floor")
        .and_then(Value::as_u64)
        .and_then(Floor::from_number)
        .ok_or(invalid("floor must be the integer 2 or 3"))?;
    let month = Month::parse(s("month").ok_or(invalid("month must be a string"))?)
        .ok_or(invalid("month must be YYYY-MM"))?;
    let tr = s("token_request").ok_or(invalid("token_request must be a string"))?;
    let bytes = b64::decode(tr, TOKEN_REQUEST_LEN).map_err(|_| BlindError::InvalidTokenRequest {
        reason: "token_request is not base64url",
    })?;
    let request = TokenRequest::from_bytes(&bytes).map_err(|_| BlindError::InvalidTokenRequest {
        reason: "token_request is not a 259-byte type 0x0002 TokenRequest",
    })?;
    Ok(((fact, floor, month), request))
}
