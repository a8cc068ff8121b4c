//! The wallet: its credentials with their holder keys, kept in the encrypted file of
//! [`crate::store`], and their lifecycle (status, expiry, purge).

use std::collections::BTreeMap;
use std::fmt;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ageband_blind::Token;
use ageband_blind::profile::{
    BlindFact, BlindToken, Directory, DirectoryKey, Floor, MAX_DIRECTORY_KEYS, Month,
};
use ageband_blind::token::TOKEN_LEN;
use ageband_core::age::{AgeBand, AssuranceLevel, DAY, Date, Source, Threshold, outcome_of};
use ageband_core::b64;
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::key::HolderKey;
use crate::store::{self, FileKey, KdfParams, StoreError};
use ageband_core::clock::{Clock, SystemClock};

/// `status` warns when fewer unused credentials than this remain.
pub const LOW_WATER: usize = 5;
/// `status` warns when the earliest expiry is this many days away or less.
pub const EXPIRY_WARNING_DAYS: u64 = 14;

/// Version of the JSON document inside the encrypted file; equal to the file format version
/// of the header (version 1: credentials; version 2: also blind tokens and pinned issuer keys,
/// stored as `pins`, or in files written before pins had their own list as `directories`).
const CONTENTS_VERSION: u32 = 2;

/// One stored credential with its holder key. Secret fields are zeroized on drop.
#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub(crate) struct StoredCredential {
    /// `iss`.
    pub issuer: String,
    /// `assurance`.
    #[zeroize(skip)]
    pub assurance: AssuranceLevel,
    /// `source`.
    #[zeroize(skip)]
    pub source: Source,
    /// `iat`, Unix seconds.
    pub iat: u64,
    /// `exp`, Unix seconds.
    pub exp: u64,
    /// The predicates, threshold → value.
    #[zeroize(skip)]
    pub predicates: BTreeMap<u8, bool>,
    /// The issued SD-JWT with every disclosure.
    pub sd_jwt: String,
    /// The holder key's scalar, base64url.
    pub key: String,
}

impl fmt::Debug for StoredCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredCredential")
            .field("issuer", &self.issuer)
            .field("exp", &self.exp)
            .finish_non_exhaustive()
    }
}

impl StoredCredential {
    pub(crate) fn new(info: &CredentialInfo, sd_jwt: String, key: &HolderKey) -> Self {
        StoredCredential {
            issuer: info.issuer.clone(),
            assurance: info.assurance,
            source: info.source,
            iat: info.issued_at.unix_seconds(),
            exp: info.expires_at.unix_seconds(),
            predicates: info.predicates.iter().map(|(t, v)| (t.years(), *v)).collect(),
            sd_jwt,
            key: b64::encode(key.expose_secret().as_ref()),
        }
    }

    pub(crate) fn holder_key(&self) -> Result<HolderKey, StoreError> {
        let bytes = Zeroizing::new(b64::decode(&self.key, 32).map_err(|_| StoreError::Corrupted {
            reason: "holder key encoding",
        })?);
        HolderKey::from_secret_bytes(&bytes).map_err(|_| StoreError::Corrupted { reason: "holder key" })
    }

    pub(crate) fn info(&self) -> CredentialInfo {
        CredentialInfo {
            issuer: self.issuer.clone(),
            assurance: self.assurance,
            source: self.source,
            issued_at: Date::from_unix_seconds(self.iat),
            expires_at: Date::from_unix_seconds(self.exp),
            predicates: self.thresholds(),
        }
    }

    /// The predicates keyed by [`Threshold`] (what [`choose_claim_set`] matches against).
    ///
    /// [`choose_claim_set`]: ageband_core::age::choose_claim_set
    pub(crate) fn thresholds(&self) -> BTreeMap<Threshold, bool> {
        self.predicates
            .iter()
            .filter_map(|(t, v)| Threshold::new(*t).ok().map(|t| (t, *v)))
            .collect()
    }
}

/// What one stored credential says (its always-visible claims and its predicates); no key,
/// no token.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct CredentialInfo {
    /// The issuer identifier.
    pub issuer: String,
    /// The assurance level.
    pub assurance: AssuranceLevel,
    /// The evidence source.
    pub source: Source,
    /// Day of issuance.
    pub issued_at: Date,
    /// Day of expiry (the credential is unusable from 00:00 UTC of that day).
    pub expires_at: Date,
    /// The selectively disclosable predicates.
    pub predicates: BTreeMap<Threshold, bool>,
}

impl CredentialInfo {
    /// The age band the predicates put the holder in (for example "13–15").
    pub fn band(&self) -> AgeBand {
        outcome_of(&self.predicates.iter().map(|(t, v)| (*t, *v)).collect::<Vec<_>>())
    }
}

/// One stored blind token (blind-profile.md §12.3): the issuer identifier, the slot of its key,
/// the 354-byte token and the holder's secret scalar. Secret fields are zeroized on drop;
/// `Debug` prints the slot only.
#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
#[serde(deny_unknown_fields)]
pub(crate) struct StoredBlindToken {
    /// The issuer identifier (credential issuer URL) the token was enrolled from.
    pub issuer: String,
    /// The fact's wire name.
    pub fact: String,
    /// The floor, 2 or 3.
    #[zeroize(skip)]
    pub floor: u8,
    /// The key's month, `YYYY-MM`.
    pub month: String,
    /// The token, base64url.
    pub token: String,
    /// The holder key's scalar, base64url.
    pub key: String,
}

impl fmt::Debug for StoredBlindToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredBlindToken")
            .field("issuer", &self.issuer)
            .field("fact", &self.fact)
            .field("floor", &self.floor)
            .field("month", &self.month)
            .finish_non_exhaustive()
    }
}

impl StoredBlindToken {
    pub(crate) fn new(issuer: &str, token: &BlindToken) -> Self {
        StoredBlindToken {
            issuer: issuer.to_owned(),
            fact: token.fact().name(),
            floor: token.floor().number(),
            month: token.month().to_string(),
            token: b64::encode(token.token().to_bytes()),
            key: b64::encode(token.expose_holder_secret().as_ref()),
        }
    }

    /// The slot, checked when the wallet is opened (so `None` never happens afterwards).
    pub(crate) fn slot(&self) -> Option<(BlindFact, Floor, Month)> {
        Some((
            BlindFact::from_name(&self.fact)?,
            Floor::from_number(u64::from(self.floor))?,
            Month::parse(&self.month)?,
        ))
    }

    /// The public description.
    pub(crate) fn info(&self) -> Option<BlindTokenInfo> {
        let (fact, floor, month) = self.slot()?;
        Some(BlindTokenInfo {
            issuer: self.issuer.clone(),
            fact,
            floor,
            month,
        })
    }

    /// The token's `token_key_id` (which key of the directory signed it).
    pub(crate) fn token_key_id(&self) -> Result<[u8; 32], StoreError> {
        Ok(self.decode_token()?.token_key_id)
    }

    fn decode_token(&self) -> Result<Token, StoreError> {
        let bytes = b64::decode(&self.token, TOKEN_LEN).map_err(|_| StoreError::Corrupted {
            reason: "blind token encoding",
        })?;
        Token::from_bytes(&bytes).map_err(|_| StoreError::Corrupted {
            reason: "blind token",
        })
    }

    /// Rebuilds the token with its holder key (checking that the key is the token's).
    pub(crate) fn to_token(&self) -> Result<BlindToken, StoreError> {
        let bad = || StoreError::Corrupted {
            reason: "blind token holder key",
        };
        let (fact, floor, month) = self.slot().ok_or(StoreError::Corrupted {
            reason: "blind token slot",
        })?;
        let secret = Zeroizing::new(b64::decode(&self.key, 32).map_err(|_| bad())?);
        BlindToken::from_parts(self.decode_token()?, &secret, fact, floor, month).map_err(|_| bad())
    }

    /// Cheap shape checks at open: a known slot, a 354-byte type-2 token, a 32-byte key.
    fn well_formed(&self) -> bool {
        self.slot().is_some()
            && self.decode_token().is_ok()
            && b64::decode(&self.key, 32).is_ok_and(|k| Zeroizing::new(k).len() == 32)
            && !self.issuer.is_empty()
    }
}

/// What one stored blind token is for: no token bytes, no key.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct BlindTokenInfo {
    /// The issuer identifier.
    pub issuer: String,
    /// The fact the token attests.
    pub fact: BlindFact,
    /// The floor of its key.
    pub floor: Floor,
    /// The month of its key: the token is usable only then.
    pub month: Month,
}

/// One pinned slot of an issuer (blind-profile.md §4.4, §12.3): the key (`token_key_id`) the
/// wallet accepted for (fact, floor, month). Kept until the month ends.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct PinnedKey {
    pub fact: BlindFact,
    pub floor: Floor,
    pub month: Month,
    pub token_key_id: [u8; 32],
}

impl PinnedKey {
    /// The slot and key of a directory key.
    pub(crate) fn of(k: &DirectoryKey) -> Self {
        PinnedKey {
            fact: k.fact(),
            floor: k.floor(),
            month: k.month(),
            token_key_id: k.token_key_id(),
        }
    }

    /// (fact, floor, month).
    pub(crate) fn slot(&self) -> (BlindFact, Floor, Month) {
        (self.fact, self.floor, self.month)
    }

    fn to_json(self) -> PinnedKeyJson {
        PinnedKeyJson {
            fact: self.fact.name(),
            floor: self.floor.number(),
            month: self.month.to_string(),
            token_key_id: b64::encode(self.token_key_id),
        }
    }

    fn from_json(j: &PinnedKeyJson) -> Option<Self> {
        let id = b64::decode(&j.token_key_id, 32).ok()?;
        Some(PinnedKey {
            fact: BlindFact::from_name(&j.fact)?,
            floor: Floor::from_number(u64::from(j.floor))?,
            month: Month::parse(&j.month)?,
            token_key_id: id.try_into().ok()?,
        })
    }
}

impl fmt::Debug for PinnedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PinnedKey")
            .field("fact", &self.fact)
            .field("floor", &self.floor)
            .field("month", &self.month)
            .finish_non_exhaustive()
    }
}

/// The pinned slots of one issuer (blind-profile.md §12.3): not a directory, so not bound by
/// the rules of §4.3 (it may span more months than a directory), but bounded by
/// [`MAX_PINNED_SLOTS`]; no slot and no key twice. `Debug` prints the issuer and the number of
/// slots only.
#[derive(Clone)]
pub(crate) struct IssuerPins {
    pub issuer: String,
    pub keys: Vec<PinnedKey>,
}

impl fmt::Debug for IssuerPins {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuerPins")
            .field("issuer", &self.issuer)
            .field("slots", &self.keys.len())
            .finish()
    }
}

impl IssuerPins {
    /// Whether no slot and no key is listed twice and the list is within bounds.
    fn well_formed(&self) -> bool {
        let mut slots = std::collections::BTreeSet::new();
        let mut ids = std::collections::BTreeSet::new();
        !self.issuer.is_empty()
            && self.keys.len() <= MAX_PINNED_SLOTS
            && self
                .keys
                .iter()
                .all(|k| slots.insert(k.slot()) && ids.insert(k.token_key_id))
    }

    /// Whether every pinned month has ended at `now` (nothing left to protect).
    fn all_ended(&self, now: u64) -> bool {
        self.keys.iter().all(|k| k.month.not_after() <= now)
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PinnedKeyJson {
    fact: String,
    floor: u8,
    month: String,
    token_key_id: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct IssuerPinsJson {
    issuer: String,
    keys: Vec<PinnedKeyJson>,
}

/// A pinned directory as files written before pins had their own list store it (read only,
/// migrated into [`IssuerPins`] at open).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PinIn {
    issuer: String,
    directory: String,
}

#[derive(Serialize)]
struct ContentsOut<'a> {
    version: u32,
    credentials: &'a [StoredCredential],
    blind_tokens: &'a [StoredBlindToken],
    pins: Vec<IssuerPinsJson>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ContentsIn {
    version: u32,
    credentials: Vec<StoredCredential>,
    blind_tokens: Option<Vec<StoredBlindToken>>,
    /// Version-2 files written before `pins`: the pinned directories, migrated at open.
    directories: Option<Vec<PinIn>>,
    pins: Option<Vec<IssuerPinsJson>>,
}

/// Most issuers a wallet file keeps pins for. Pinning a further issuer first drops the issuers
/// whose pinned months have all ended; if that is not enough it is refused
/// ([`PinError::TooManyIssuers`]), never by unpinning live keys.
pub(crate) const MAX_PINS: usize = 64;
/// Most pinned slots per issuer: four full directories (a directory holds at most
/// [`MAX_DIRECTORY_KEYS`]); an honest issuer's live slots fit in one. More is refused
/// ([`PinError::TooManySlots`]), never by unpinning.
pub(crate) const MAX_PINNED_SLOTS: usize = 4 * MAX_DIRECTORY_KEYS;

/// Why new pins cannot be stored (blind-profile.md §12.3). Nothing was unpinned.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum PinError {
    /// The issuer would have more than [`MAX_PINNED_SLOTS`] slots pinned.
    TooManySlots,
    /// [`MAX_PINS`] other issuers have pins whose months have not all ended.
    TooManyIssuers,
}

/// An open wallet. It holds the folder's lock until dropped, so only one process writes it.
pub struct Wallet {
    dir: PathBuf,
    key: FileKey,
    creds: Vec<StoredCredential>,
    blind: Vec<StoredBlindToken>,
    pins: Vec<IssuerPins>,
    clock: Arc<dyn Clock>,
    _lock: File,
}

impl fmt::Debug for Wallet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wallet")
            .field("dir", &self.dir)
            .field("credentials", &self.creds.len())
            .field("blind_tokens", &self.blind.len())
            .field("pinned_issuers", &self.pins.len())
            .finish_non_exhaustive()
    }
}

impl Wallet {
    /// Creates an empty wallet in `dir` (created if missing) with the default Argon2id cost.
    /// Refuses to overwrite an existing wallet.
    pub fn create(dir: impl AsRef<Path>, passphrase: &str) -> Result<Self, StoreError> {
        Self::create_with(dir, passphrase, KdfParams::DEFAULT, Arc::new(SystemClock))
    }

    /// [`Wallet::create`] with explicit key derivation cost and clock.
    pub fn create_with(
        dir: impl AsRef<Path>,
        passphrase: &str,
        kdf: KdfParams,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, StoreError> {
        let dir = dir.as_ref().to_owned();
        store::create_dir(&dir)?;
        let lock = store::lock(&dir)?;
        if dir.join(store::FILE_NAME).exists() {
            return Err(StoreError::AlreadyExists { dir });
        }
        let key = FileKey::create(passphrase, kdf)?;
        let mut w = Wallet {
            dir,
            key,
            creds: Vec::new(),
            blind: Vec::new(),
            pins: Vec::new(),
            clock,
            _lock: lock,
        };
        w.save()?;
        Ok(w)
    }

    /// Opens the wallet in `dir` with the system clock.
    pub fn open(dir: impl AsRef<Path>, passphrase: &str) -> Result<Self, StoreError> {
        Self::open_with(dir, passphrase, Arc::new(SystemClock))
    }

    /// Opens the wallet in `dir`. A wrong passphrase and a damaged file are distinct errors;
    /// neither changes the file.
    pub fn open_with(
        dir: impl AsRef<Path>,
        passphrase: &str,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, StoreError> {
        let dir = dir.as_ref().to_owned();
        if !dir.join(store::FILE_NAME).exists() {
            return Err(StoreError::NotFound { dir });
        }
        let lock = store::lock(&dir)?;
        let image = store::read(&dir)?;
        let (key, version, plain) = store::open(&image, passphrase)?;
        let contents: ContentsIn = serde_json::from_slice(&plain).map_err(|_| StoreError::Corrupted {
            reason: "contents unreadable",
        })?;
        let v2 = u32::from(version) == CONTENTS_VERSION;
        let (blind, pins) = match (
            contents.version,
            contents.blind_tokens,
            contents.directories,
            contents.pins,
        ) {
            // Version 1 (credentials only) migrates: it is written as version 2 on the next save.
            (1, None, None, None) if version == 1 => (Vec::new(), Vec::new()),
            // Version 2 as first written: pinned directories, migrated into pin lists.
            (CONTENTS_VERSION, Some(b), Some(d), None) if v2 => (b, migrate_directories(d)?),
            (CONTENTS_VERSION, Some(b), None, Some(p)) if v2 => (b, read_pins(p)?),
            _ => {
                return Err(StoreError::Corrupted {
                    reason: "unknown contents version",
                });
            }
        };
        if !blind.iter().all(StoredBlindToken::well_formed) {
            return Err(StoreError::Corrupted {
                reason: "a blind token is malformed",
            });
        }
        let distinct = pins
            .iter()
            .enumerate()
            .all(|(i, p)| pins[..i].iter().all(|q| !same_issuer(&p.issuer, &q.issuer)));
        if pins.len() > MAX_PINS || !distinct || !pins.iter().all(IssuerPins::well_formed) {
            return Err(StoreError::Corrupted {
                reason: "the pinned keys are invalid",
            });
        }
        // A save that crashed before its rename left a temporary file; it may hold credentials
        // that were used since. We hold the lock, so no writer is using it.
        store::remove_stale_temp(&dir)?;
        Ok(Wallet {
            dir,
            key,
            creds: contents.credentials,
            blind,
            pins,
            clock,
            _lock: lock,
        })
    }

    /// Replaces the clock (tests, demos).
    pub fn set_clock(&mut self, clock: Arc<dyn Clock>) {
        self.clock = clock;
    }

    /// The clock's time, Unix seconds.
    pub fn now(&self) -> u64 {
        self.clock.now()
    }

    /// The wallet folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Number of stored credentials, expired ones included.
    pub fn len(&self) -> usize {
        self.creds.len()
    }

    /// Whether the wallet holds no credential at all.
    pub fn is_empty(&self) -> bool {
        self.creds.is_empty()
    }

    /// What each stored credential says, in storage order.
    pub fn credentials(&self) -> Vec<CredentialInfo> {
        self.creds.iter().map(StoredCredential::info).collect()
    }

    /// Counts per issuer, level and band, the earliest expiry, and warnings.
    pub fn status(&self) -> Status {
        let now = self.now();
        let mut groups: BTreeMap<(String, AssuranceLevel, Source, String), GroupStatus> = BTreeMap::new();
        let mut expired = 0;
        for c in &self.creds {
            if c.exp <= now {
                expired += 1;
                continue;
            }
            let info = c.info();
            let band = info.band();
            let g = groups
                .entry((info.issuer.clone(), info.assurance, info.source, band.to_string()))
                .or_insert_with(|| GroupStatus {
                    issuer: info.issuer.clone(),
                    assurance: info.assurance,
                    source: info.source,
                    band,
                    unused: 0,
                    earliest_expiry: info.expires_at,
                });
            g.unused += 1;
            g.earliest_expiry = g.earliest_expiry.min(info.expires_at);
        }
        let groups: Vec<GroupStatus> = groups.into_values().collect();
        let unused = groups.iter().map(|g| g.unused).sum();
        let earliest_expiry = groups.iter().map(|g| g.earliest_expiry).min();
        let mut warnings = Vec::new();
        if unused < LOW_WATER {
            warnings.push(Warning::FewLeft { unused });
        }
        if let Some(day) = earliest_expiry {
            let days = day.unix_seconds().saturating_sub(now) / DAY;
            if days <= EXPIRY_WARNING_DAYS {
                warnings.push(Warning::ExpiresSoon { day, days });
            }
        }
        if expired > 0 {
            warnings.push(Warning::Expired { count: expired });
        }
        let mut blind: BTreeMap<(String, BlindFact, Floor, Month), usize> = BTreeMap::new();
        let mut blind_expired = 0;
        for t in &self.blind {
            match t.slot() {
                Some((fact, floor, month)) if month.not_after() > now => {
                    *blind.entry((t.issuer.clone(), fact, floor, month)).or_default() += 1;
                }
                _ => blind_expired += 1,
            }
        }
        let blind: Vec<BlindGroupStatus> = blind
            .into_iter()
            .map(|((issuer, fact, floor, month), unused)| BlindGroupStatus {
                live: month.is_live(now),
                issuer,
                fact,
                floor,
                month,
                unused,
            })
            .collect();
        if blind_expired > 0 {
            warnings.push(Warning::BlindExpired { count: blind_expired });
        }
        Status {
            unused,
            expired,
            groups,
            earliest_expiry,
            blind_unused: blind.iter().map(|g| g.unused).sum(),
            blind_expired,
            blind,
            warnings,
        }
    }

    /// Number of stored blind tokens, those of ended months included.
    pub fn blind_len(&self) -> usize {
        self.blind.len()
    }

    /// What each stored blind token is for (issuer, fact, floor, month), in storage order.
    pub fn blind_tokens(&self) -> Vec<BlindTokenInfo> {
        self.blind.iter().filter_map(StoredBlindToken::info).collect()
    }

    /// Deletes expired credentials and the blind tokens whose key month has ended, and saves;
    /// returns how many were deleted (credentials and blind tokens together; see
    /// [`Wallet::purge_expired_counts`]).
    pub fn purge_expired(&mut self) -> Result<usize, StoreError> {
        self.purge_expired_counts().map(|(c, b)| c + b)
    }

    /// [`Wallet::purge_expired`], returning (credentials, blind tokens) deleted.
    pub fn purge_expired_counts(&mut self) -> Result<(usize, usize), StoreError> {
        let now = self.now();
        let (keep, gone): (Vec<_>, Vec<_>) = std::mem::take(&mut self.creds)
            .into_iter()
            .partition(|c| c.exp > now);
        self.creds = keep;
        let (keep_b, gone_b): (Vec<_>, Vec<_>) = std::mem::take(&mut self.blind)
            .into_iter()
            .partition(|t| t.slot().is_some_and(|(_, _, m)| m.not_after() > now));
        self.blind = keep_b;
        if gone.is_empty() && gone_b.is_empty() {
            return Ok((0, 0));
        }
        let counts = (gone.len(), gone_b.len());
        if let Err(e) = self.save() {
            self.creds.extend(gone);
            self.blind.extend(gone_b);
            return Err(e);
        }
        Ok(counts)
    }

    /// Writes the wallet atomically with a fresh nonce.
    pub fn save(&mut self) -> Result<(), StoreError> {
        let image = self.image()?;
        store::write_atomic(&self.dir, &image)
    }

    fn image(&self) -> Result<Vec<u8>, StoreError> {
        let mut plain = store::SecretBuf::with_capacity(
            2048 * self.creds.len()
                + 800 * self.blind.len()
                + self.pins.iter().map(|p| 200 + 150 * p.keys.len()).sum::<usize>()
                + store::PAD,
        );
        let contents = ContentsOut {
            version: CONTENTS_VERSION,
            credentials: &self.creds,
            blind_tokens: &self.blind,
            pins: self
                .pins
                .iter()
                .map(|p| IssuerPinsJson {
                    issuer: p.issuer.clone(),
                    keys: p.keys.iter().map(|k| k.to_json()).collect(),
                })
                .collect(),
        };
        serde_json::to_writer(&mut plain, &contents).map_err(|_| StoreError::Corrupted {
            reason: "serialization failed",
        })?;
        let plain = plain.padded();
        self.key.seal(&plain)
    }

    /// Adds a checked batch and saves; on a failed save nothing is added.
    pub(crate) fn add_batch(&mut self, batch: Vec<StoredCredential>) -> Result<(), StoreError> {
        let before = self.creds.len();
        self.creds.extend(batch);
        if let Err(e) = self.save() {
            self.creds.truncate(before);
            return Err(e);
        }
        Ok(())
    }

    /// The stored credentials.
    pub(crate) fn raw(&self) -> &[StoredCredential] {
        &self.creds
    }

    /// Indices and entries of the credentials usable now.
    pub(crate) fn usable(&self) -> impl Iterator<Item = (usize, &StoredCredential)> {
        let now = self.now();
        self.creds.iter().enumerate().filter(move |(_, c)| c.exp > now)
    }

    /// Removes a credential and saves *before* it is used, so that it is never used twice.
    /// If the save fails the credential stays and must not be used.
    pub(crate) fn take(&mut self, index: usize) -> Result<StoredCredential, StoreError> {
        let c = self.creds.remove(index);
        if let Err(e) = self.save() {
            self.creds.insert(index, c);
            return Err(e);
        }
        Ok(c)
    }

    /// The slots pinned for `issuer` (empty if none).
    pub(crate) fn pinned(&self, issuer: &str) -> &[PinnedKey] {
        self.pins
            .iter()
            .find(|p| same_issuer(&p.issuer, issuer))
            .map_or(&[], |p| p.keys.as_slice())
    }

    /// The `token_key_id` pinned for (fact, floor, month) of `issuer`, if any.
    pub(crate) fn pinned_key(
        &self,
        issuer: &str,
        fact: BlindFact,
        floor: Floor,
        month: Month,
    ) -> Option<[u8; 32]> {
        self.pinned(issuer)
            .iter()
            .find(|k| k.slot() == (fact, floor, month))
            .map(|k| k.token_key_id)
    }

    /// All pins as they would be with `keys` pinned for `issuer` (replacing its list): issuers
    /// whose pinned months have all ended are dropped; nothing live is ever dropped.
    ///
    /// # Errors
    /// [`PinError`] when `keys` is too long or [`MAX_PINS`] other issuers still have live pins.
    pub(crate) fn pins_with(&self, issuer: &str, keys: Vec<PinnedKey>) -> Result<Vec<IssuerPins>, PinError> {
        if keys.len() > MAX_PINNED_SLOTS {
            return Err(PinError::TooManySlots);
        }
        let now = self.now();
        let mut pins: Vec<IssuerPins> = self
            .pins
            .iter()
            .filter(|p| !same_issuer(&p.issuer, issuer) && !p.all_ended(now))
            .cloned()
            .collect();
        if pins.len() >= MAX_PINS {
            return Err(PinError::TooManyIssuers);
        }
        pins.push(IssuerPins {
            issuer: issuer.to_owned(),
            keys,
        });
        Ok(pins)
    }

    /// Adds a finalized blind batch and replaces the pins with `pins` (from
    /// [`Wallet::pins_with`]), then saves; on a failed save nothing is added and the old pins
    /// stay.
    pub(crate) fn add_blind_batch(
        &mut self,
        batch: Vec<StoredBlindToken>,
        pins: Vec<IssuerPins>,
    ) -> Result<(), StoreError> {
        let before = self.blind.len();
        let old_pins = std::mem::replace(&mut self.pins, pins);
        self.blind.extend(batch);
        if let Err(e) = self.save() {
            self.blind.truncate(before);
            self.pins = old_pins;
            return Err(e);
        }
        Ok(())
    }

    /// The stored blind tokens.
    pub(crate) fn raw_blind(&self) -> &[StoredBlindToken] {
        &self.blind
    }

    /// Removes blind tokens and saves *before* they are used, so that none is used twice. If
    /// the save fails they stay and must not be used.
    pub(crate) fn take_blind(&mut self, indices: &[usize]) -> Result<Vec<StoredBlindToken>, StoreError> {
        let mut sorted: Vec<usize> = indices.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        if sorted.len() != indices.len() || sorted.last().is_some_and(|&i| i >= self.blind.len()) {
            return Err(StoreError::Corrupted {
                reason: "blind token index out of range",
            });
        }
        let mut taken: Vec<(usize, StoredBlindToken)> = Vec::with_capacity(sorted.len());
        for &i in sorted.iter().rev() {
            taken.push((i, self.blind.remove(i)));
        }
        if let Err(e) = self.save() {
            for (i, t) in taken.into_iter().rev() {
                self.blind.insert(i, t);
            }
            return Err(e);
        }
        // Back in the caller's order.
        let mut out = Vec::with_capacity(indices.len());
        for i in indices {
            if let Some(pos) = taken.iter().position(|(j, _)| j == i) {
                out.push(taken.swap_remove(pos).1);
            }
        }
        Ok(out)
    }

    #[cfg(test)]
    pub(crate) fn image_for_test(&self) -> Vec<u8> {
        self.image().expect("sealing works in tests")
    }
}

/// The pinned directories of a version-2 file written before pins had their own list, as pin
/// lists (every key of each directory; they are pruned when their month has ended on the next
/// pin update).
fn migrate_directories(dirs: Vec<PinIn>) -> Result<Vec<IssuerPins>, StoreError> {
    if dirs.len() > MAX_PINS {
        return Err(StoreError::Corrupted {
            reason: "the pinned keys are invalid",
        });
    }
    dirs.into_iter()
        .map(|p| {
            let directory = Directory::parse(p.directory.as_bytes()).map_err(|_| StoreError::Corrupted {
                reason: "a pinned directory is invalid",
            })?;
            Ok(IssuerPins {
                issuer: p.issuer,
                keys: directory.keys().iter().map(PinnedKey::of).collect(),
            })
        })
        .collect()
}

fn read_pins(pins: Vec<IssuerPinsJson>) -> Result<Vec<IssuerPins>, StoreError> {
    let bad = || StoreError::Corrupted {
        reason: "the pinned keys are invalid",
    };
    if pins.len() > MAX_PINS {
        return Err(bad());
    }
    pins.into_iter()
        .map(|p| {
            if p.keys.len() > MAX_PINNED_SLOTS {
                return Err(bad());
            }
            let keys = p
                .keys
                .iter()
                .map(PinnedKey::from_json)
                .collect::<Option<Vec<_>>>()
                .ok_or_else(bad)?;
            Ok(IssuerPins {
                issuer: p.issuer,
                keys,
            })
        })
        .collect()
}

/// Whether two issuer identifiers name the same issuer (a trailing `/` aside).
pub(crate) fn same_issuer(a: &str, b: &str) -> bool {
    a.trim_end_matches('/') == b.trim_end_matches('/')
}

/// The state of a wallet for `ageband wallet status`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Status {
    /// Unused, unexpired credentials.
    pub unused: usize,
    /// Expired credentials still stored (removed by `purge`).
    pub expired: usize,
    /// Unused credentials grouped by issuer, level, source and band.
    pub groups: Vec<GroupStatus>,
    /// The earliest expiry day among unused credentials.
    pub earliest_expiry: Option<Date>,
    /// Unused blind tokens whose month has not ended (live now or later).
    pub blind_unused: usize,
    /// Blind tokens of ended months still stored (removed by `purge`).
    pub blind_expired: usize,
    /// Unused blind tokens per issuer, fact, floor and month (counts only).
    pub blind: Vec<BlindGroupStatus>,
    /// What the user should do something about.
    pub warnings: Vec<Warning>,
}

/// Unused credentials of one issuer, level, source and band.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct GroupStatus {
    /// The issuer.
    pub issuer: String,
    /// The level.
    pub assurance: AssuranceLevel,
    /// The source.
    pub source: Source,
    /// What the credentials can say.
    pub band: AgeBand,
    /// How many are unused.
    pub unused: usize,
    /// The earliest expiry day in the group.
    pub earliest_expiry: Date,
}

/// Unused blind tokens of one issuer, fact, floor and month.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct BlindGroupStatus {
    /// The issuer identifier.
    pub issuer: String,
    /// The fact.
    pub fact: BlindFact,
    /// The floor.
    pub floor: Floor,
    /// The key's month.
    pub month: Month,
    /// Whether the month is the current one (else it is a later one).
    pub live: bool,
    /// How many are unused.
    pub unused: usize,
}

/// A `status` warning.
#[non_exhaustive]
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Warning {
    /// Fewer than [`LOW_WATER`] unused credentials remain.
    FewLeft {
        /// How many remain.
        unused: usize,
    },
    /// The earliest expiry is within [`EXPIRY_WARNING_DAYS`].
    ExpiresSoon {
        /// The day.
        day: Date,
        /// Whole days from now.
        days: u64,
    },
    /// Expired credentials are still stored.
    Expired {
        /// How many.
        count: usize,
    },
    /// Blind tokens of ended months are still stored.
    BlindExpired {
        /// How many.
        count: usize,
    },
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Warning::FewLeft { unused } => write!(
                f,
                "only {unused} unused credential(s) left; enrol again: ageband wallet --wallet DIR enrol --issuer URL …"
            ),
            Warning::ExpiresSoon { day, days } => {
                write!(
                    f,
                    "credentials expire on {day} (in {days} day(s)); enrol again before then"
                )
            }
            Warning::Expired { count } => {
                write!(
                    f,
                    "{count} expired credential(s) stored; remove them with: ageband wallet --wallet DIR purge"
                )
            }
            Warning::BlindExpired { count } => {
                write!(
                    f,
                    "{count} blind token(s) of ended months stored; remove them with: ageband wallet --wallet DIR purge"
                )
            }
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} unused credential(s), {} expired",
            self.unused, self.expired
        )?;
        for g in &self.groups {
            writeln!(
                f,
                "  {:>3} × age {:<8} from {} (level {}, source {}), earliest expiry {}",
                g.unused,
                g.band.to_string(),
                g.issuer,
                g.assurance,
                g.source,
                g.earliest_expiry
            )?;
        }
        if let Some(d) = self.earliest_expiry {
            writeln!(f, "earliest expiry: {d}")?;
        }
        if self.blind_unused > 0 || self.blind_expired > 0 {
            writeln!(
                f,
                "{} unused blind token(s), {} of ended months",
                self.blind_unused, self.blind_expired
            )?;
            for g in &self.blind {
                writeln!(
                    f,
                    "  {:>3} × {:<12} floor {} for {}{} from {}",
                    g.unused,
                    g.fact.name(),
                    g.floor.number(),
                    g.month,
                    if g.live { "" } else { " (later)" },
                    g.issuer
                )?;
            }
        }
        for w in &self.warnings {
            writeln!(f, "warning: {w}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::enrol::check_batch;
    use crate::testutil::{ISSUER, at_age, mint};
    use ageband_core::clock::ManualClock;
    use ageband_core::jws::{RingSigner, Signer as _};

    const PASS: &str = "correct horse battery staple";

    fn today() -> Date {
        Date::parse("2026-11-29").unwrap()
    }

    fn clock() -> Arc<ManualClock> {
        Arc::new(ManualClock::new(today().unix_seconds() + 3600))
    }

    fn new_wallet(dir: &Path) -> Wallet {
        Wallet::create_with(dir, PASS, KdfParams::INSECURE_TEST, clock()).unwrap()
    }

    /// A wallet holding `n` credentials of a 14-year-old, valid 30 days; returns the issued
    /// strings too.
    fn filled(dir: &Path, n: usize) -> (Wallet, Vec<String>, Vec<[u8; 32]>) {
        let mut w = new_wallet(dir);
        let issuer = RingSigner::generate().unwrap();
        let (creds, holders) = mint(&issuer, n, &at_age(14), today(), 30, |_, _, _| {});
        let secrets = holders.iter().map(|h| *h.expose_secret()).collect();
        let batch = check_batch(ISSUER, &[issuer.public_jwk().clone()], &creds, &holders, w.now()).unwrap();
        w.add_batch(batch).unwrap();
        (w, creds, secrets)
    }

    fn reopen(dir: &Path) -> Result<Wallet, StoreError> {
        Wallet::open_with(dir, PASS, clock())
    }

    #[test]
    fn round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let (w, _, _) = filled(dir.path(), 3);
        let before = w.credentials();
        drop(w);
        let w = reopen(dir.path()).unwrap();
        assert_eq!(w.credentials(), before);
        assert_eq!(w.len(), 3);
        assert_eq!(before[0].band().to_string(), "13–15");
        let stored = &w.raw()[0];
        assert!(stored.holder_key().is_ok());
    }

    #[test]
    fn version_1_files_open_and_are_written_as_version_2() {
        let dir = tempfile::tempdir().unwrap();
        let (w, _, _) = filled(dir.path(), 2);
        let before = w.credentials();
        let v1 = serde_json::json!({"version": 1, "credentials": serde_json::to_value(&w.creds).unwrap()});
        let image = w.key.seal_version(1, v1.to_string().as_bytes()).unwrap();
        // Version-2 contents under a version-1 header are refused.
        let v2 = serde_json::to_vec(&ContentsOut {
            version: 2,
            credentials: &w.creds,
            blind_tokens: &[],
            pins: Vec::new(),
        })
        .unwrap();
        let mixed = w.key.seal_version(1, &v2).unwrap();
        drop(w);
        let path = dir.path().join(store::FILE_NAME);
        std::fs::write(&path, &image).unwrap();
        let mut w = reopen(dir.path()).unwrap();
        assert_eq!(w.credentials(), before);
        assert_eq!((w.blind_len(), w.status().blind_unused), (0, 0));
        w.save().unwrap();
        drop(w);
        assert_eq!(std::fs::read(&path).unwrap()[8], store::FORMAT_VERSION);
        assert_eq!(reopen(dir.path()).unwrap().credentials(), before);
        std::fs::write(&path, &mixed).unwrap();
        assert!(matches!(reopen(dir.path()), Err(StoreError::Corrupted { .. })));
    }

    #[test]
    fn create_refuses_to_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let (w, _, _) = filled(dir.path(), 2);
        drop(w);
        assert!(matches!(
            Wallet::create_with(dir.path(), "other", KdfParams::INSECURE_TEST, clock()),
            Err(StoreError::AlreadyExists { .. })
        ));
        assert_eq!(reopen(dir.path()).unwrap().len(), 2);
    }

    #[test]
    fn wrong_passphrase_is_distinct_and_harmless() {
        let dir = tempfile::tempdir().unwrap();
        let (w, _, _) = filled(dir.path(), 2);
        drop(w);
        let bytes = std::fs::read(dir.path().join(store::FILE_NAME)).unwrap();
        assert!(matches!(
            Wallet::open(dir.path(), "Correct horse battery staple"),
            Err(StoreError::WrongPassphrase)
        ));
        assert_eq!(std::fs::read(dir.path().join(store::FILE_NAME)).unwrap(), bytes);
        assert_eq!(reopen(dir.path()).unwrap().len(), 2);
        assert!(matches!(
            Wallet::open(tempfile::tempdir().unwrap().path(), PASS),
            Err(StoreError::NotFound { .. })
        ));
    }

    #[test]
    fn truncated_and_bit_flipped_files_are_corrupted_not_wrong_passphrase() {
        let dir = tempfile::tempdir().unwrap();
        let (w, _, _) = filled(dir.path(), 2);
        drop(w);
        let path = dir.path().join(store::FILE_NAME);
        let good = std::fs::read(&path).unwrap();
        let mut cases: Vec<Vec<u8>> = vec![
            good[..good.len() - 1].to_vec(),
            good[..good.len() / 2].to_vec(),
            good[..40].to_vec(),
            good[..5].to_vec(),
            Vec::new(),
        ];
        // One flipped bit at every region: header fields, salt, check, nonce, body, tag, digest.
        for pos in [
            9,
            12,
            25,
            40,
            60,
            100,
            good.len() / 2,
            good.len() - 40,
            good.len() - 1,
        ] {
            let mut b = good.clone();
            b[pos] ^= 0x10;
            cases.push(b);
        }
        for (i, bad) in cases.iter().enumerate() {
            std::fs::write(&path, bad).unwrap();
            let err = reopen(dir.path()).unwrap_err();
            assert!(matches!(err, StoreError::Corrupted { .. }), "case {i}: {err:?}");
            // Nothing is overwritten on failure.
            assert_eq!(&std::fs::read(&path).unwrap(), bad);
        }
        std::fs::write(&path, b"PK\x03\x04 a zip file").unwrap();
        assert!(matches!(reopen(dir.path()), Err(StoreError::NotAWallet)));
        std::fs::write(&path, &good).unwrap();
        assert_eq!(reopen(dir.path()).unwrap().len(), 2);
    }

    #[test]
    fn crash_between_temp_write_and_rename_keeps_the_old_wallet() {
        let dir = tempfile::tempdir().unwrap();
        let (mut w, _, _) = filled(dir.path(), 3);
        // A save that dies after writing and syncing the temporary file but before the rename.
        let one_less = w.creds.pop().unwrap();
        let new_image = w.image_for_test();
        store::write_temp(dir.path(), &new_image).unwrap();
        drop(one_less);
        drop(w);
        assert!(dir.path().join(store::TMP_NAME).exists());
        // A wrong passphrase changes nothing, not even the stale temporary file.
        assert!(matches!(
            Wallet::open(dir.path(), "nope"),
            Err(StoreError::WrongPassphrase)
        ));
        assert!(dir.path().join(store::TMP_NAME).exists());
        let mut w = reopen(dir.path()).unwrap();
        assert_eq!(w.len(), 3, "the old wallet is intact");
        assert!(
            !dir.path().join(store::TMP_NAME).exists(),
            "the stale temporary file is gone"
        );
        // A half-written temporary file (crash during the write) is just as harmless,
        // and the next save replaces it.
        std::fs::write(dir.path().join(store::TMP_NAME), &new_image[..100]).unwrap();
        drop(w.take(0).unwrap());
        drop(w);
        assert!(!dir.path().join(store::TMP_NAME).exists());
        assert_eq!(reopen(dir.path()).unwrap().len(), 2);
    }

    #[test]
    fn nothing_secret_is_readable_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let (w, creds, secrets) = filled(dir.path(), 3);
        drop(w);
        let disk = std::fs::read(dir.path().join(store::FILE_NAME)).unwrap();
        let contains = |needle: &[u8]| needle.len() >= 8 && disk.windows(needle.len()).any(|w| w == needle);
        let mut needles: Vec<Vec<u8>> = vec![
            b"age_over".to_vec(),
            ISSUER.as_bytes().to_vec(),
            b"standard".to_vec(),
        ];
        for c in &creds {
            let p = ageband_core::sdjwt::Presentation::parse(c).unwrap();
            needles.push(p.issuer_jwt.as_bytes().to_vec());
            needles.push(p.issuer_jwt.as_bytes()[..32].to_vec());
            needles.extend(p.disclosures.iter().map(|d| d.as_bytes().to_vec()));
        }
        for s in &secrets {
            needles.push(s.to_vec());
            needles.push(b64::encode(s).into_bytes());
        }
        for n in &needles {
            assert!(!contains(n), "found {:?} on disk", String::from_utf8_lossy(n));
        }
        // The same needles are in the plaintext, so the search itself works.
        let w = reopen(dir.path()).unwrap();
        let plain = serde_json::to_vec(&ContentsOut {
            version: 1,
            credentials: &w.creds,
            blind_tokens: &[],
            pins: Vec::new(),
        })
        .unwrap();
        assert!(plain.windows(ISSUER.len()).any(|x| x == ISSUER.as_bytes()));
        assert!(plain.windows(creds[0].len()).any(|x| x == creds[0].as_bytes()));
    }

    #[test]
    fn a_second_process_cannot_open_a_wallet_in_use() {
        let dir = tempfile::tempdir().unwrap();
        let w = new_wallet(dir.path());
        assert!(matches!(reopen(dir.path()), Err(StoreError::Locked)));
        drop(w);
        assert!(reopen(dir.path()).is_ok());
    }

    #[test]
    fn status_warnings_and_purge() {
        let dir = tempfile::tempdir().unwrap();
        let (mut w, _, _) = filled(dir.path(), 6);
        let c = clock();
        w.set_clock(c.clone());
        let s = w.status();
        assert_eq!((s.unused, s.expired, s.groups.len()), (6, 0, 1));
        assert_eq!(s.groups[0].band.to_string(), "13–15");
        assert_eq!(s.earliest_expiry, Some(today().add_days(30)));
        assert!(s.warnings.is_empty(), "{:?}", s.warnings);
        drop(w.take(0).unwrap());
        drop(w.take(0).unwrap());
        assert_eq!(w.status().warnings, vec![Warning::FewLeft { unused: 4 }]);
        // 16 days later: expiry within 14 days.
        c.advance(16 * DAY);
        assert!(
            w.status()
                .warnings
                .iter()
                .any(|x| matches!(x, Warning::ExpiresSoon { days: 13, .. }))
        );
        assert!(
            w.status()
                .to_string()
                .contains("warning: credentials expire on 2026-12-29")
        );
        // After expiry: none usable, purge deletes them and saves.
        c.advance(14 * DAY);
        let s = w.status();
        assert_eq!((s.unused, s.expired), (0, 4));
        assert!(s.warnings.contains(&Warning::Expired { count: 4 }));
        assert_eq!(w.purge_expired().unwrap(), 4);
        drop(w);
        assert!(reopen(dir.path()).unwrap().is_empty());
    }

    #[test]
    fn wallet_of_thirty_credentials_size() {
        let dir = tempfile::tempdir().unwrap();
        let (w, creds, _) = filled(dir.path(), 30);
        drop(w);
        let size = std::fs::metadata(dir.path().join(store::FILE_NAME))
            .unwrap()
            .len();
        let raw: usize = creds.iter().map(String::len).sum();
        eprintln!("30 credentials: {raw} bytes of SD-JWT, wallet file {size} bytes");
        assert!(size as usize > raw && size < 64 * 1024);
        assert_eq!((size as usize - 66 - 16 - 32) % store::PAD, 0);
    }

    fn month(s: &str) -> Month {
        Month::parse(s).unwrap()
    }

    /// The plaintext JSON of the wallet file in `dir`.
    fn contents_on_disk(dir: &Path) -> serde_json::Value {
        let (_, version, plain) = store::open(&store::read(dir).unwrap(), PASS).unwrap();
        assert_eq!(version, store::FORMAT_VERSION);
        let text = std::str::from_utf8(&plain).unwrap().trim_end();
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn version_2_pinned_directories_migrate_into_pin_lists() {
        let dir = tempfile::tempdir().unwrap();
        let w = new_wallet(dir.path());
        let o13 = BlindFact::from_name("age_over_13").unwrap();
        let u16_ = BlindFact::from_name("age_under_16").unwrap();
        let d = crate::testutil::fake_directory(&[
            ((o13, Floor::Level2, month("2026-11")), 1),
            ((o13, Floor::Level3, month("2026-12")), 2),
            ((u16_, Floor::Level2, month("2027-01")), 3),
        ]);
        // Contents as version 2 wrote them before pins had their own list.
        let old = serde_json::json!({
            "version": 2, "credentials": [], "blind_tokens": [],
            "directories": [{"issuer": ISSUER, "directory": d.to_json()}]
        });
        let path = dir.path().join(store::FILE_NAME);
        let seal = |v: &serde_json::Value| w.key.seal_version(2, v.to_string().as_bytes()).unwrap();
        let image = seal(&old);
        // Both lists at once, or a pin list that breaks its rules, are refused.
        let mut both = old.clone();
        both["pins"] = serde_json::json!([]);
        let pin = |fact: &str, m: &str, id: [u8; 32]| serde_json::json!({"fact": fact, "floor": 2, "month": m, "token_key_id": b64::encode(id)});
        let with_pins = |keys: Vec<serde_json::Value>| {
            serde_json::json!({"version": 2, "credentials": [], "blind_tokens": [],
                               "pins": [{"issuer": ISSUER, "keys": keys}]})
        };
        let bad: Vec<Vec<u8>> = vec![
            seal(&both),
            seal(&with_pins(vec![
                pin("age_over_13", "2026-11", [1; 32]),
                pin("age_over_13", "2026-11", [2; 32]),
            ])),
            seal(&with_pins(vec![
                pin("age_over_13", "2026-11", [1; 32]),
                pin("age_over_16", "2026-11", [1; 32]),
            ])),
            seal(&with_pins(vec![pin("age_over_14", "2026-11", [1; 32])])),
            seal(&with_pins(vec![
                serde_json::json!({"fact": "age_over_13", "floor": 2, "month": "2026-11",
                                                     "token_key_id": "AAAA"}),
            ])),
            seal(&with_pins(vec![
                pin("age_over_13", "2026-11", [1; 32]);
                MAX_PINNED_SLOTS + 1
            ])),
            seal(
                &serde_json::json!({"version": 2, "credentials": [], "blind_tokens": [],
                                     "directories": [{"issuer": ISSUER, "directory": "{}"}]}),
            ),
        ];
        drop(w);
        for (i, b) in bad.iter().enumerate() {
            std::fs::write(&path, b).unwrap();
            assert!(
                matches!(reopen(dir.path()), Err(StoreError::Corrupted { .. })),
                "case {i}"
            );
        }
        std::fs::write(&path, &image).unwrap();
        let mut w = reopen(dir.path()).unwrap();
        let expect: Vec<PinnedKey> = d.keys().iter().map(PinnedKey::of).collect();
        assert_eq!(w.pinned(ISSUER), expect.as_slice());
        assert_eq!(
            w.pinned_key(ISSUER, o13, Floor::Level3, month("2026-12")),
            Some(crate::testutil::fake_blind_key(2).token_key_id())
        );
        // Written back as a pin list, which reopens to the same pins.
        w.save().unwrap();
        drop(w);
        let plain = contents_on_disk(dir.path());
        assert!(plain.get("directories").is_none());
        assert_eq!(plain["pins"][0]["keys"].as_array().unwrap().len(), 3);
        assert_eq!(plain["pins"][0]["keys"][0]["fact"], "age_over_13");
        let w = reopen(dir.path()).unwrap();
        assert_eq!(w.pinned(ISSUER), expect.as_slice());
    }

    #[test]
    fn issuers_are_unpinned_only_when_all_their_months_have_ended() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = new_wallet(dir.path());
        let c = clock();
        w.set_clock(c.clone());
        let o13 = BlindFact::from_name("age_over_13").unwrap();
        let key = |m: &str, i: usize| PinnedKey {
            fact: o13,
            floor: Floor::Level2,
            month: month(m),
            token_key_id: [u8::try_from(i).unwrap(); 32],
        };
        let issuer = |i: usize| format!("https://issuer{i}.example");
        // Half of the issuers have a key of next month too.
        for i in 0..MAX_PINS {
            let mut keys = vec![key("2026-11", i)];
            if i % 2 == 0 {
                keys.push(key("2026-12", i + 100));
            }
            let pins = w.pins_with(&issuer(i), keys).unwrap();
            w.add_blind_batch(Vec::new(), pins).unwrap();
        }
        // Full of live pins: a new issuer is refused, a known one is re-pinned.
        assert_eq!(
            w.pins_with(&issuer(MAX_PINS), vec![key("2026-11", 200)])
                .unwrap_err(),
            PinError::TooManyIssuers
        );
        assert_eq!(
            w.pins_with(&issuer(3), vec![key("2026-11", 3)]).unwrap().len(),
            MAX_PINS
        );
        assert_eq!(
            w.pins_with(ISSUER, vec![key("2026-11", 1); MAX_PINNED_SLOTS + 1])
                .unwrap_err(),
            PinError::TooManySlots
        );
        // Once November has ended, only the issuers with nothing live left make room.
        c.advance(2 * DAY);
        let pins = w.pins_with(&issuer(MAX_PINS), vec![key("2026-12", 200)]).unwrap();
        assert_eq!(pins.len(), MAX_PINS / 2 + 1);
        assert!(pins.iter().all(|p| !p.all_ended(w.now())));
        w.add_blind_batch(Vec::new(), pins).unwrap();
        drop(w);
        let w = reopen(dir.path()).unwrap();
        assert_eq!(
            w.pinned(&issuer(0)).len(),
            2,
            "ended slots of live issuers stay until replaced"
        );
        assert!(w.pinned(&issuer(1)).is_empty());
        assert_eq!(w.pinned(&issuer(MAX_PINS)).len(), 1);
    }

    #[test]
    fn stored_entries_debug_print_no_token_and_no_key() {
        let token = StoredBlindToken {
            issuer: ISSUER.into(),
            fact: "age_over_13".into(),
            floor: 2,
            month: "2026-11".into(),
            token: "tokenbytes".repeat(40),
            key: "holderkey".repeat(5),
        };
        let dbg = format!("{token:?} {token:#?}");
        assert!(dbg.contains("age_over_13") && dbg.contains("2026-11"), "{dbg}");
        assert!(!dbg.contains("tokenbytes") && !dbg.contains("holderkey"), "{dbg}");
        let cred = StoredCredential {
            issuer: ISSUER.into(),
            assurance: AssuranceLevel::Asserted,
            source: Source::SelfDeclared,
            iat: 0,
            exp: DAY,
            predicates: BTreeMap::from([(13, true)]),
            sd_jwt: "issuedsdjwt~disclosure~".into(),
            key: "holderkey".repeat(5),
        };
        let dbg = format!("{cred:?} {cred:#?}");
        assert!(dbg.contains(ISSUER), "{dbg}");
        assert!(
            !dbg.contains("issuedsdjwt") && !dbg.contains("disclosure") && !dbg.contains("holderkey"),
            "{dbg}"
        );
        let pin = PinnedKey {
            fact: BlindFact::from_name("age_over_13").unwrap(),
            floor: Floor::Level2,
            month: Month::parse("2026-11").unwrap(),
            token_key_id: [0xab; 32],
        };
        let dbg = format!("{pin:?}");
        assert!(
            !dbg.contains(&b64::encode([0xab; 32])) && !dbg.contains("171"),
            "{dbg}"
        );
    }
}
