//! The wallet: its credentials with their holder keys, kept in the encrypted file of
//! [`crate::store`], and their lifecycle (status, expiry, purge).

use std::collections::BTreeMap;
use std::fmt;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

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

/// Version of the JSON document inside the encrypted file.
const CONTENTS_VERSION: u32 = 1;

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

#[derive(Serialize)]
struct ContentsOut<'a> {
    version: u32,
    credentials: &'a [StoredCredential],
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ContentsIn {
    version: u32,
    credentials: Vec<StoredCredential>,
}

/// An open wallet. It holds the folder's lock until dropped, so only one process writes it.
pub struct Wallet {
    dir: PathBuf,
    key: FileKey,
    creds: Vec<StoredCredential>,
    clock: Arc<dyn Clock>,
    _lock: File,
}

impl fmt::Debug for Wallet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wallet")
            .field("dir", &self.dir)
            .field("credentials", &self.creds.len())
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
        let (key, plain) = store::open(&image, passphrase)?;
        let contents: ContentsIn = serde_json::from_slice(&plain).map_err(|_| StoreError::Corrupted {
            reason: "contents unreadable",
        })?;
        if contents.version != CONTENTS_VERSION {
            return Err(StoreError::Corrupted {
                reason: "unknown contents version",
            });
        }
        // A save that crashed before its rename left a temporary file; it may hold credentials
        // that were used since. We hold the lock, so no writer is using it.
        store::remove_stale_temp(&dir)?;
        Ok(Wallet {
            dir,
            key,
            creds: contents.credentials,
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
        Status {
            unused,
            expired,
            groups,
            earliest_expiry,
            warnings,
        }
    }

    /// Deletes expired credentials and saves; returns how many were deleted.
    pub fn purge_expired(&mut self) -> Result<usize, StoreError> {
        let now = self.now();
        let before = self.creds.len();
        let (keep, gone): (Vec<_>, Vec<_>) = std::mem::take(&mut self.creds)
            .into_iter()
            .partition(|c| c.exp > now);
        self.creds = keep;
        if gone.is_empty() {
            return Ok(0);
        }
        if let Err(e) = self.save() {
            self.creds.extend(gone);
            return Err(e);
        }
        Ok(before - self.creds.len())
    }

    /// Writes the wallet atomically with a fresh nonce.
    pub fn save(&mut self) -> Result<(), StoreError> {
        let image = self.image()?;
        store::write_atomic(&self.dir, &image)
    }

    fn image(&self) -> Result<Vec<u8>, StoreError> {
        let mut plain = store::SecretBuf::with_capacity(2048 * self.creds.len() + store::PAD);
        let contents = ContentsOut {
            version: CONTENTS_VERSION,
            credentials: &self.creds,
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

    #[cfg(test)]
    pub(crate) fn image_for_test(&self) -> Vec<u8> {
        self.image().expect("sealing works in tests")
    }
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
