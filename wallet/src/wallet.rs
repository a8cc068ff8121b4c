//! The wallet: its credentials with their holder keys, kept in the encrypted file of
//! [`crate::store`], and their lifecycle (status, expiry, purge).

use std::collections::BTreeMap;
use std::fmt;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ageband_blind::Token;
use ageband_blind::profile::{BlindFact, BlindToken, Directory, Floor, Month};
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
/// of the header (version 1: credentials; version 2: also blind tokens and pinned directories).
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
            predicates: self
                .predicates
                .iter()
                .filter_map(|(t, v)| Threshold::new(*t).ok().map(|t| (t, *v)))
                .collect(),
        }
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

/// An issuer's directory as the wallet pinned it (blind-profile.md §4.4), with the issuer
/// identifier. `Debug` prints the issuer and the number of keys only.
#[derive(Clone)]
pub(crate) struct PinnedDirectory {
    pub issuer: String,
    pub directory: Directory,
}

impl fmt::Debug for PinnedDirectory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PinnedDirectory")
            .field("issuer", &self.issuer)
            .field("keys", &self.directory.keys().len())
            .finish()
    }
}

#[derive(Serialize)]
struct PinOut {
    issuer: String,
    directory: String,
}

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
    directories: Vec<PinOut>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ContentsIn {
    version: u32,
    credentials: Vec<StoredCredential>,
    blind_tokens: Option<Vec<StoredBlindToken>>,
    directories: Option<Vec<PinIn>>,
}

/// Most pinned directories (one per issuer) a wallet file may hold.
const MAX_PINS: usize = 64;

/// An open wallet. It holds the folder's lock until dropped, so only one process writes it.
pub struct Wallet {
    dir: PathBuf,
    key: FileKey,
    creds: Vec<StoredCredential>,
    blind: Vec<StoredBlindToken>,
    pins: Vec<PinnedDirectory>,
    clock: Arc<dyn Clock>,
    _lock: File,
}

impl fmt::Debug for Wallet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wallet")
            .field("dir", &self.dir)
            .field("credentials", &self.creds.len())
            .field("blind_tokens", &self.blind.len())
            .field("pinned_directories", &self.pins.len())
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
        let (blind, pins) = match (contents.version, contents.blind_tokens, contents.directories) {
            // Version 1 (credentials only) migrates: it is written as version 2 on the next save.
            (1, None, None) if version == 1 => (Vec::new(), Vec::new()),
            (CONTENTS_VERSION, Some(b), Some(d)) if u32::from(version) == CONTENTS_VERSION => (b, d),
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
        if pins.len() > MAX_PINS {
            return Err(StoreError::Corrupted {
                reason: "too many pinned directories",
            });
        }
        let pins = pins
            .into_iter()
            .map(|p| {
                Directory::parse(p.directory.as_bytes())
                    .map(|directory| PinnedDirectory {
                        issuer: p.issuer,
                        directory,
                    })
                    .map_err(|_| StoreError::Corrupted {
                        reason: "a pinned directory is invalid",
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
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
            2048 * self.creds.len() + 800 * self.blind.len() + 20_000 * self.pins.len() + store::PAD,
        );
        let contents = ContentsOut {
            version: CONTENTS_VERSION,
            credentials: &self.creds,
            blind_tokens: &self.blind,
            directories: self
                .pins
                .iter()
                .map(|p| PinOut {
                    issuer: p.issuer.clone(),
                    directory: p.directory.to_json(),
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

    /// The directory pinned for `issuer`, if any.
    pub(crate) fn pinned(&self, issuer: &str) -> Option<&Directory> {
        self.pins
            .iter()
            .find(|p| same_issuer(&p.issuer, issuer))
            .map(|p| &p.directory)
    }

    /// Adds a finalized blind batch and pins `directory` for `issuer`, then saves; on a failed
    /// save nothing is added and the old pin stays.
    pub(crate) fn add_blind_batch(
        &mut self,
        issuer: &str,
        batch: Vec<StoredBlindToken>,
        directory: Directory,
    ) -> Result<(), StoreError> {
        let before = self.blind.len();
        let old_pins = self.pins.clone();
        self.blind.extend(batch);
        self.pins.retain(|p| !same_issuer(&p.issuer, issuer));
        if self.pins.len() >= MAX_PINS {
            self.pins.remove(0);
        }
        self.pins.push(PinnedDirectory {
            issuer: issuer.to_owned(),
            directory,
        });
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
            directories: Vec::new(),
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
            directories: Vec::new(),
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
}
