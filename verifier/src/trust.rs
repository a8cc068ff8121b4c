//! The trust list: which issuers a verifier believes, with which keys, for which evidence
//! sources and from which assurance level (protocol.md §6 inputs, DESIGN §1).
//!
//! Profile-neutral: an issuer is an identifier, a set of public keys and a policy. The
//! SD-JWT profile resolves keys by `kid` (RFC 7638 thumbprint) through [`IssuerKeys`]; the
//! blind-token profile (blind-profile.md §12.4) resolves an issuer by the challenge digest in the
//! token, among the issuers that carry a validated blind directory (pinned, or fetched from
//! `<id>/.well-known/private-token-issuer-directory`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, RwLock};

use ageband_blind::profile::{
    BlindFact, BlindIssuer, Directory, Floor, MAX_DIRECTORY_KEYS, Month, issuer_name_of,
};
use ageband_core::age::{AssuranceLevel, Source};
use ageband_core::clock::{Clock, SystemClock};
use ageband_core::jwk::PublicJwk;
use ageband_core::sdjwt::IssuerKeys;

/// Most keys accepted for one fetched issuer (protocol.md §7.7): a larger set could hold a
/// per-user key that tags users.
pub const MAX_FETCHED_KEYS: usize = 4;

/// Most blind-directory slots pinned for one issuer (blind-profile.md §4.4, §12.4): four
/// directories' worth. An honest issuer has at most four months that have not ended in its
/// directories (§3.2), 48 slots; a directory that would pin more is refused.
pub const MAX_PINNED_SLOTS: usize = 4 * MAX_DIRECTORY_KEYS;

/// Why a trust list could not be built.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrustError {
    /// An issuer identifier is empty or longer than 2048 bytes.
    #[error("issuer identifier empty or too long")]
    BadIdentifier,
    /// An issuer whose keys are fetched must be an `https` URL (or `http` on loopback) with
    /// no query or fragment.
    #[error("issuer identifier must be an https URL (http only on loopback), without query or fragment")]
    NotHttps,
    /// The same issuer is listed twice.
    #[error("issuer listed twice")]
    DuplicateIssuer,
    /// One key is trusted for two issuers (each key belongs to exactly one, protocol.md §6).
    #[error("a key is trusted for two issuers")]
    SharedKey,
    /// An issuer accepts no evidence source at all.
    #[error("issuer accepts no evidence source")]
    NoSources,
    /// The named issuer is not in the list.
    #[error("issuer not in the trust list")]
    UnknownIssuer,
    /// More keys than [`MAX_FETCHED_KEYS`] for a fetched issuer.
    #[error("too many keys for one issuer")]
    TooManyKeys,
    /// An issuer with a blind directory has an identifier that yields no issuer name
    /// (blind-profile.md §5.1: an http(s) URL with a lowercase host name).
    #[error("issuer identifier yields no blind-token issuer name")]
    BlindIssuerName,
    /// Two issuers with blind directories share one issuer name, hence one challenge.
    #[error("two blind-token issuers share one issuer name")]
    DuplicateBlindName,
    /// A new blind directory gives a slot seen in an earlier accepted directory of this issuer
    /// (and whose month has not ended) another key (blind-profile.md §4.4, `slot_key_changed`),
    /// lists such a slot's key for another slot, or would pin more than [`MAX_PINNED_SLOTS`]
    /// slots; the previous directory stays in use.
    #[error("blind directory changes the key of a known slot")]
    InconsistentDirectory,
    /// The issuer does not use a blind directory.
    #[error("issuer has no blind directory")]
    NoBlindDirectory,
}

/// How a trusted issuer's blind-token directory is known (blind-profile.md §12.4).
#[derive(Clone, Debug, Default)]
enum BlindTrust {
    /// The issuer is trusted for SD-JWT credentials only.
    #[default]
    Off,
    /// A directory from configuration, never refreshed.
    Pinned(Arc<BlindIssuer>),
    /// Fetched from `<id>/.well-known/private-token-issuer-directory` (`None` until the first
    /// successful fetch).
    Fetched(Option<Arc<BlindIssuer>>),
}

impl PartialEq for BlindTrust {
    fn eq(&self, other: &Self) -> bool {
        let same = |a: &BlindIssuer, b: &BlindIssuer| a.name() == b.name() && a.directory() == b.directory();
        match (self, other) {
            (BlindTrust::Off, BlindTrust::Off) | (BlindTrust::Fetched(None), BlindTrust::Fetched(None)) => {
                true
            }
            (BlindTrust::Pinned(a), BlindTrust::Pinned(b)) => same(a, b),
            (BlindTrust::Fetched(Some(a)), BlindTrust::Fetched(Some(b))) => same(a, b),
            _ => false,
        }
    }
}

impl Eq for BlindTrust {}

/// The slot → `token_key_id` pins of one issuer (blind-profile.md §4.4): every slot of every
/// directory accepted for it, kept until the slot's month ends, whether or not the directory
/// in use still lists the slot.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct SlotPins(BTreeMap<(BlindFact, Floor, Month), Pin>);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Pin {
    token_key_id: [u8; 32],
    not_after: u64,
}

impl SlotPins {
    /// Pins every slot of `directory` (at construction: no clock, nothing dropped).
    fn of(directory: &Directory) -> Self {
        let mut pins = SlotPins::default();
        pins.record(directory, 0);
        pins
    }

    /// Drops the pins of months that have ended at `now`.
    fn expire(&mut self, now: u64) {
        self.0.retain(|_, p| p.not_after > now);
    }

    /// Refuses `directory` if it gives a pinned slot another key, lists a pinned key for
    /// another slot (a key serves one slot, §3.1) or would pin too many slots.
    fn check(&self, directory: &Directory, now: u64) -> Result<(), TrustError> {
        let mut added = 0usize;
        for k in directory.keys() {
            let slot = (k.fact(), k.floor(), k.month());
            if self
                .0
                .iter()
                .any(|(s, p)| p.token_key_id == k.token_key_id() && *s != slot)
            {
                return Err(TrustError::InconsistentDirectory);
            }
            match self.0.get(&slot) {
                Some(p) if p.token_key_id != k.token_key_id() => {
                    return Err(TrustError::InconsistentDirectory);
                }
                Some(_) => {}
                None if k.not_after() > now => added += 1,
                None => {}
            }
        }
        if self.0.len() + added > MAX_PINNED_SLOTS {
            return Err(TrustError::InconsistentDirectory);
        }
        Ok(())
    }

    /// Pins the slots of `directory` whose month has not ended at `now`.
    fn record(&mut self, directory: &Directory, now: u64) {
        for k in directory.keys().iter().filter(|k| k.not_after() > now) {
            self.0.insert(
                (k.fact(), k.floor(), k.month()),
                Pin {
                    token_key_id: k.token_key_id(),
                    not_after: k.not_after(),
                },
            );
        }
    }
}

/// One trusted issuer: identifier, keys and policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustedIssuer {
    id: String,
    keys: Vec<PublicJwk>,
    fetched: bool,
    sources: BTreeSet<Source>,
    min_assurance: AssuranceLevel,
    blind: BlindTrust,
    blind_pins: SlotPins,
}

impl TrustedIssuer {
    /// Trusts `keys` (pinned, never refreshed) for the issuer `id`, accepting every source
    /// and level.
    pub fn pinned(id: impl Into<String>, keys: Vec<PublicJwk>) -> Self {
        TrustedIssuer {
            id: id.into(),
            keys,
            fetched: false,
            sources: Source::ALL.iter().copied().collect(),
            min_assurance: AssuranceLevel::Asserted,
            blind: BlindTrust::Off,
            blind_pins: SlotPins::default(),
        }
    }

    /// Also trusts this issuer's blind tokens (blind-profile.md §12.4) under `directory`, a
    /// validated directory from configuration (pinned, never refreshed). The challenge is
    /// derived from the identifier ([`issuer_name_of`]); [`TrustList::new`] refuses an
    /// identifier without an issuer name.
    ///
    /// Its slots are pinned (blind-profile.md §4.4): a later [`TrustStore::set_blind_directory`]
    /// may only replace it consistently.
    pub fn with_blind_directory(mut self, directory: Directory) -> Self {
        self.blind_pins = SlotPins::of(&directory);
        self.blind = match issuer_name_of(&self.id).and_then(|n| BlindIssuer::new(&n, directory).ok()) {
            Some(b) => BlindTrust::Pinned(Arc::new(b)),
            // Remembered as wanted but unusable; TrustList::new refuses it.
            None => BlindTrust::Fetched(None),
        };
        self
    }

    /// Also trusts this issuer's blind tokens under the directory it publishes at
    /// `<id>/.well-known/private-token-issuer-directory` (feature `fetch`; fetched and cached by
    /// [`TrustStore::refresh`] with the same rules as the keys; none until the first fetch).
    /// The identifier must then be fetchable (https, or http on loopback).
    pub fn fetch_blind_directory(mut self) -> Self {
        self.blind = BlindTrust::Fetched(None);
        self.blind_pins = SlotPins::default();
        self
    }

    /// Trusts the issuer `id` with the keys it publishes at `<id>/.well-known/jwt-vc-issuer`
    /// (fetched in bulk and cached by [`TrustStore::refresh`]; none until the first fetch).
    pub fn fetched(id: impl Into<String>) -> Self {
        TrustedIssuer {
            fetched: true,
            ..TrustedIssuer::pinned(id, Vec::new())
        }
    }

    /// Accepts only facts from these sources.
    pub fn accept_sources(mut self, sources: impl IntoIterator<Item = Source>) -> Self {
        self.sources = sources.into_iter().collect();
        self
    }

    /// Accepts only credentials of at least this assurance level.
    pub fn min_assurance(mut self, level: AssuranceLevel) -> Self {
        self.min_assurance = level;
        self
    }

    /// The issuer identifier (`iss`).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The keys currently trusted.
    pub fn keys(&self) -> &[PublicJwk] {
        &self.keys
    }

    /// Whether the keys come from the issuer's metadata rather than configuration.
    pub fn is_fetched(&self) -> bool {
        self.fetched
    }

    /// Whether facts from `source` are accepted.
    pub fn accepts(&self, source: Source) -> bool {
        self.sources.contains(&source)
    }

    /// Whether this issuer's blind tokens are trusted at all (a directory pinned or fetched).
    pub fn uses_blind(&self) -> bool {
        !matches!(self.blind, BlindTrust::Off)
    }

    /// Whether the blind directory is fetched rather than pinned.
    pub fn fetches_blind_directory(&self) -> bool {
        matches!(self.blind, BlindTrust::Fetched(_))
    }

    /// The blind issuer (name, challenge digest, validated directory), once a directory is
    /// known.
    pub fn blind_issuer(&self) -> Option<&BlindIssuer> {
        match &self.blind {
            BlindTrust::Pinned(b) | BlindTrust::Fetched(Some(b)) => Some(b),
            _ => None,
        }
    }

    /// The lowest accepted assurance level.
    pub fn minimum(&self) -> AssuranceLevel {
        self.min_assurance
    }
}

/// An immutable set of trusted issuers, indexed by key thumbprint.
#[derive(Clone, Debug, Default)]
pub struct TrustList {
    issuers: Vec<TrustedIssuer>,
    by_kid: HashMap<String, (usize, PublicJwk)>,
}

impl TrustList {
    /// Validates and indexes the issuers.
    pub fn new(issuers: Vec<TrustedIssuer>) -> Result<Self, TrustError> {
        let mut by_kid = HashMap::new();
        for (i, issuer) in issuers.iter().enumerate() {
            if issuer.id.is_empty() || issuer.id.len() > 2048 {
                return Err(TrustError::BadIdentifier);
            }
            if issuer.uses_blind() {
                let name = issuer_name_of(&issuer.id).ok_or(TrustError::BlindIssuerName)?;
                ageband_blind::profile::TokenChallenge::ageband(&name)
                    .map_err(|_| TrustError::BlindIssuerName)?;
                if issuer.fetches_blind_directory() {
                    check_fetchable(&issuer.id)?;
                }
                let clash = issuers[..i]
                    .iter()
                    .any(|o| o.uses_blind() && issuer_name_of(&o.id).as_deref() == Some(name.as_str()));
                if clash {
                    return Err(TrustError::DuplicateBlindName);
                }
            }
            if issuer.fetched {
                check_fetchable(&issuer.id)?;
                if issuer.keys.len() > MAX_FETCHED_KEYS {
                    return Err(TrustError::TooManyKeys);
                }
            }
            if issuer.sources.is_empty() {
                return Err(TrustError::NoSources);
            }
            if issuers[..i].iter().any(|o| o.id == issuer.id) {
                return Err(TrustError::DuplicateIssuer);
            }
            for key in &issuer.keys {
                match by_kid.insert(key.thumbprint(), (i, key.clone())) {
                    Some((j, _)) if j != i => return Err(TrustError::SharedKey),
                    _ => {}
                }
            }
        }
        Ok(TrustList { issuers, by_kid })
    }

    /// The policy for `iss`, if trusted.
    pub fn issuer(&self, iss: &str) -> Option<&TrustedIssuer> {
        self.issuers.iter().find(|i| i.id == iss)
    }

    /// Every trusted issuer.
    pub fn issuers(&self) -> &[TrustedIssuer] {
        &self.issuers
    }

    /// The issuers with a known blind directory, in list order.
    pub fn blind_issuers(&self) -> impl Iterator<Item = (&TrustedIssuer, &BlindIssuer)> {
        self.issuers
            .iter()
            .filter_map(|i| i.blind_issuer().map(|b| (i, b)))
    }

    /// The trusted issuer whose blind challenge has this digest (blind-profile.md §12.4 check
    /// 3).
    pub fn blind_issuer_by_digest(&self, digest: &[u8; 32]) -> Option<(&TrustedIssuer, &BlindIssuer)> {
        self.blind_issuers()
            .find(|(_, b)| &b.challenge_digest() == digest)
    }

    /// A copy of this list in which `iss` uses `directory` for blind tokens, at the system
    /// time: [`TrustList::with_blind_directory_at`].
    pub fn with_blind_directory(&self, iss: &str, directory: Directory) -> Result<TrustList, TrustError> {
        self.with_blind_directory_at(iss, directory, SystemClock.now())
    }

    /// A copy of this list in which `iss` uses `directory` for blind tokens (pinned or fetched
    /// alike). Key pinning (blind-profile.md §4.4): the issuer keeps a slot → `token_key_id` pin
    /// for every slot of every directory accepted for it (the configured one included) until
    /// the slot's month has ended at `now`, also after the directory in use dropped the slot.
    /// A directory that gives a pinned slot another key, lists a pinned key for another slot,
    /// changes a slot of the directory in use, or would pin more than [`MAX_PINNED_SLOTS`]
    /// slots is refused
    /// ([`TrustError::InconsistentDirectory`]); the list is then unchanged.
    pub fn with_blind_directory_at(
        &self,
        iss: &str,
        directory: Directory,
        now: u64,
    ) -> Result<TrustList, TrustError> {
        let mut issuers = self.issuers.clone();
        let entry = issuers
            .iter_mut()
            .find(|i| i.id == iss)
            .ok_or(TrustError::UnknownIssuer)?;
        let name = issuer_name_of(iss).ok_or(TrustError::BlindIssuerName)?;
        let (pinned, previous) = match &entry.blind {
            BlindTrust::Off => return Err(TrustError::NoBlindDirectory),
            BlindTrust::Pinned(previous) => (true, Some(previous)),
            BlindTrust::Fetched(previous) => (false, previous.as_ref()),
        };
        if let Some(previous) = previous {
            directory
                .check_consistent_with(previous.directory())
                .map_err(|_| TrustError::InconsistentDirectory)?;
        }
        let mut pins = entry.blind_pins.clone();
        pins.expire(now);
        pins.check(&directory, now)?;
        pins.record(&directory, now);
        let blind = Arc::new(BlindIssuer::new(&name, directory).map_err(|_| TrustError::BlindIssuerName)?);
        entry.blind = if pinned {
            BlindTrust::Pinned(blind)
        } else {
            BlindTrust::Fetched(Some(blind))
        };
        entry.blind_pins = pins;
        TrustList::new(issuers)
    }

    /// A copy of this list in which `iss` trusts exactly `keys`.
    pub fn with_keys(&self, iss: &str, keys: Vec<PublicJwk>) -> Result<TrustList, TrustError> {
        let mut issuers = self.issuers.clone();
        let entry = issuers
            .iter_mut()
            .find(|i| i.id == iss)
            .ok_or(TrustError::UnknownIssuer)?;
        entry.keys = keys;
        TrustList::new(issuers)
    }
}

impl IssuerKeys for TrustList {
    /// Looks the key up by its thumbprint. A header without `kid` is refused (protocol.md
    /// §6.2 step 2): trying every key would make the verifier's work depend on the list.
    fn issuer_key(&self, kid: Option<&str>) -> Option<(&str, &PublicJwk)> {
        let (i, key) = self.by_kid.get(kid?)?;
        Some((self.issuers[*i].id.as_str(), key))
    }
}

/// A shared, refreshable trust list: verifications take a cheap snapshot, key refreshes swap
/// in a new list without blocking them.
#[derive(Debug)]
pub struct TrustStore {
    current: RwLock<Arc<TrustList>>,
    #[cfg(feature = "fetch")]
    pub(crate) next_refresh: std::sync::Mutex<HashMap<String, u64>>,
}

impl TrustStore {
    /// A store holding `list`.
    pub fn new(list: TrustList) -> Self {
        TrustStore {
            current: RwLock::new(Arc::new(list)),
            #[cfg(feature = "fetch")]
            next_refresh: std::sync::Mutex::new(HashMap::new()),
        }
    }

    /// The current list.
    pub fn snapshot(&self) -> Arc<TrustList> {
        // Poisoning needs a panic while swapping an Arc; the old value is still whole.
        self.current.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Replaces the blind directory of `iss` at the system time:
    /// [`TrustStore::set_blind_directory_at`].
    pub fn set_blind_directory(&self, iss: &str, directory: Directory) -> Result<(), TrustError> {
        self.set_blind_directory_at(iss, directory, SystemClock.now())
    }

    /// Replaces the blind directory of `iss`, refusing one that gives a slot pinned for the
    /// issuer (every slot of the directories accepted before whose month has not ended at
    /// `now`) another key; the current directory then stays in use (blind-profile.md §4.4,
    /// [`TrustList::with_blind_directory_at`]).
    pub fn set_blind_directory_at(
        &self,
        iss: &str,
        directory: Directory,
        now: u64,
    ) -> Result<(), TrustError> {
        let mut guard = self.current.write().unwrap_or_else(|e| e.into_inner());
        let next = guard.with_blind_directory_at(iss, directory, now)?;
        *guard = Arc::new(next);
        Ok(())
    }

    /// Replaces the keys of `iss`.
    pub fn set_keys(&self, iss: &str, keys: Vec<PublicJwk>) -> Result<(), TrustError> {
        let mut guard = self.current.write().unwrap_or_else(|e| e.into_inner());
        let next = guard.with_keys(iss, keys)?;
        *guard = Arc::new(next);
        Ok(())
    }
}

impl From<TrustList> for TrustStore {
    fn from(list: TrustList) -> Self {
        TrustStore::new(list)
    }
}

/// An issuer whose keys we fetch must be reachable over TLS; plain http is allowed only to a
/// loopback address (local setups, `ageband demo`, tests).
pub(crate) fn check_fetchable(id: &str) -> Result<url::Url, TrustError> {
    let url = url::Url::parse(id).map_err(|_| TrustError::NotHttps)?;
    if url.query().is_some()
        || url.fragment().is_some()
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return Err(TrustError::NotHttps);
    }
    match url.scheme() {
        "https" if url.host().is_some() => Ok(url),
        "http" if is_loopback(&url) => Ok(url),
        _ => Err(TrustError::NotHttps),
    }
}

fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ageband_core::jws::{RingSigner, Signer};

    fn key() -> PublicJwk {
        RingSigner::generate().unwrap().public_jwk().clone()
    }

    #[test]
    fn looks_up_by_thumbprint_and_refuses_missing_kid() {
        let (k1, k2) = (key(), key());
        let list = TrustList::new(vec![
            TrustedIssuer::pinned("https://a.example", vec![k1.clone()]),
            TrustedIssuer::pinned("https://b.example", vec![k2.clone()])
                .min_assurance(AssuranceLevel::Standard),
        ])
        .unwrap();
        assert_eq!(
            list.issuer_key(Some(&k1.thumbprint())),
            Some(("https://a.example", &k1))
        );
        assert_eq!(
            list.issuer_key(Some(&k2.thumbprint())).map(|(i, _)| i),
            Some("https://b.example")
        );
        assert_eq!(list.issuer_key(None), None);
        assert_eq!(list.issuer_key(Some("nope")), None);
        assert_eq!(
            list.issuer("https://b.example").unwrap().minimum(),
            AssuranceLevel::Standard
        );
        assert!(list.issuer("https://c.example").is_none());
    }

    #[test]
    fn refuses_bad_lists() {
        let k = key();
        let shared = TrustList::new(vec![
            TrustedIssuer::pinned("https://a.example", vec![k.clone()]),
            TrustedIssuer::pinned("https://b.example", vec![k.clone()]),
        ]);
        assert_eq!(shared.unwrap_err(), TrustError::SharedKey);
        let dup = TrustList::new(vec![
            TrustedIssuer::pinned("x", vec![]),
            TrustedIssuer::pinned("x", vec![]),
        ]);
        assert_eq!(dup.unwrap_err(), TrustError::DuplicateIssuer);
        assert_eq!(
            TrustList::new(vec![TrustedIssuer::pinned("", vec![])]).unwrap_err(),
            TrustError::BadIdentifier
        );
        let none = TrustedIssuer::pinned("x", vec![]).accept_sources([]);
        assert_eq!(TrustList::new(vec![none]).unwrap_err(), TrustError::NoSources);
        for bad in [
            "http://issuer.example",
            "ftp://x",
            "https://i.example/?q=1",
            "https://i.example/#f",
            "not a url",
        ] {
            assert_eq!(
                TrustList::new(vec![TrustedIssuer::fetched(bad)]).unwrap_err(),
                TrustError::NotHttps,
                "{bad}"
            );
        }
        for good in [
            "https://i.example",
            "http://127.0.0.1:8080",
            "http://[::1]:1/x",
            "http://localhost:3000",
        ] {
            assert!(
                TrustList::new(vec![TrustedIssuer::fetched(good)]).is_ok(),
                "{good}"
            );
        }
    }

    /// The fixture directory of the blind-session vectors: four keys of month 2026-12.
    fn vector_directory() -> Directory {
        let v: serde_json::Value = serde_json::from_str(include_str!(
            "../../specs/vectors/blind-session/001_ok_at_least_18.json"
        ))
        .unwrap();
        Directory::parse(v["issuers"][0]["directory"].as_str().unwrap().as_bytes()).unwrap()
    }

    #[test]
    fn pins_are_bounded() {
        let dir = vector_directory();
        let now = dir.keys()[0].not_before();
        // `n` pins of other slots (months from 2027-01 on), with keys of their own.
        let filled = |n: usize| {
            let mut pins = SlotPins::default();
            let facts = [13, 16, 18]
                .into_iter()
                .flat_map(|t| [BlindFact::over(t).unwrap(), BlindFact::under(t).unwrap()]);
            let slots = (0..).flat_map(|m: u32| {
                let month = Month::parse(&format!("{:04}-{:02}", 2027 + m / 12, 1 + m % 12)).unwrap();
                facts
                    .clone()
                    .flat_map(move |f| Floor::ALL.into_iter().map(move |fl| (f, fl, month)))
            });
            for (i, slot) in slots.take(n).enumerate() {
                let mut id = [0xee; 32];
                id[..8].copy_from_slice(&(i as u64).to_be_bytes());
                let not_after = slot.2.not_after();
                pins.0.insert(
                    slot,
                    Pin {
                        token_key_id: id,
                        not_after,
                    },
                );
            }
            pins
        };
        let room = MAX_PINNED_SLOTS - dir.keys().len();
        assert_eq!(filled(room).check(&dir, now), Ok(()));
        assert_eq!(
            filled(room + 1).check(&dir, now),
            Err(TrustError::InconsistentDirectory)
        );
        // Slots already pinned with the same key take no room.
        let mut full = filled(room);
        full.record(&dir, now);
        assert_eq!(full.0.len(), MAX_PINNED_SLOTS);
        assert_eq!(full.check(&dir, now), Ok(()));
        // Pins of ended months make room.
        let mut pins = filled(room + 1);
        pins.expire(Month::parse("2027-01").unwrap().not_after());
        assert_eq!(pins.check(&dir, now), Ok(()));
    }

    #[test]
    fn store_swaps_keys() {
        let store =
            TrustStore::new(TrustList::new(vec![TrustedIssuer::fetched("https://i.example")]).unwrap());
        let before = store.snapshot();
        let k = key();
        store.set_keys("https://i.example", vec![k.clone()]).unwrap();
        assert!(before.issuer_key(Some(&k.thumbprint())).is_none());
        assert!(store.snapshot().issuer_key(Some(&k.thumbprint())).is_some());
        assert_eq!(
            store.set_keys("https://other.example", vec![]),
            Err(TrustError::UnknownIssuer)
        );
        let too_many = (0..5).map(|_| key()).collect();
        assert_eq!(
            store.set_keys("https://i.example", too_many),
            Err(TrustError::TooManyKeys)
        );
    }
}
