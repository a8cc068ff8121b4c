//! Issuer signing keys: generated on first start, sealed at rest with AES-256-GCM under a
//! key-encryption key (KEK), named by their RFC 7638 thumbprint, rotated through the command
//! line only (protocol.md §7.7).
//!
//! Signing goes through [`KeySource`], which hands out a core [`Signer`]; the local
//! implementation ([`LocalKeys`]) keeps `ring` keys, and a hardware or cloud key replaces it by
//! implementing the same trait.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use ageband_core::jwk::PublicJwk;
use ageband_core::jws::{RingSigner, Signer};
use ageband_core::{b64, rng};
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use zeroize::Zeroizing;

use crate::store::{KeyRow, Store, StoreError};

/// Environment variable holding the KEK: base64url of 32 bytes.
pub const KEK_ENV: &str = "AGEBAND_ISSUER_KEK";
/// The KEK file created (mode 0600) in the data folder when [`KEK_ENV`] is unset.
pub const KEK_FILE: &str = "issuer.kek";
/// Most keys published at once (protocol.md §7.7).
pub const MAX_PUBLISHED: usize = 4;
/// Delay between publishing a rotated key and signing with it: twice the metadata `max-age`.
pub const ROTATION_DELAY: u64 = 2 * 3600;
/// Domain separation for sealed values.
const AAD_PREFIX: &[u8] = b"ageband-issuer-sealed-v1:";

/// Why a key operation failed.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The KEK is not base64url of 32 bytes.
    #[error("the key-encryption key must be base64url of 32 bytes")]
    KekFormat,
    /// The KEK file is readable by group or others.
    #[error("the key-encryption key file must have mode 0600")]
    KekPermissions,
    /// The KEK file could not be read or created.
    #[error("cannot read or create the key-encryption key file")]
    KekIo(#[source] std::io::Error),
    /// A sealed value does not open: wrong KEK or corrupted data.
    #[error("sealed data does not open under this key-encryption key")]
    Unseal,
    /// Randomness or key generation failed.
    #[error("key generation failed")]
    Generate,
    /// A stored key is unusable.
    #[error("stored key {kid} is unusable")]
    BadKey {
        /// Its `kid`.
        kid: String,
    },
    /// No such key.
    #[error("no key with kid {kid}")]
    UnknownKey {
        /// The `kid` asked for.
        kid: String,
    },
    /// Rotation would publish more than [`MAX_PUBLISHED`] keys.
    #[error("at most {MAX_PUBLISHED} keys may be published; remove an expired one first")]
    TooManyKeys,
    /// Removal refused: the key still signs, or credentials it signed have not expired.
    #[error("key {kid} is still needed ({reason}); use --force only if it is compromised")]
    StillNeeded {
        /// Its `kid`.
        kid: String,
        /// Why.
        reason: &'static str,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The key-encryption key. Zeroized on drop; its `Debug` prints no bytes.
pub struct Kek(Zeroizing<[u8; 32]>);

impl Kek {
    /// A KEK from raw bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Kek(Zeroizing::new(bytes))
    }

    /// A second handle on the same key (the blind-token keys are sealed under it too).
    pub(crate) fn duplicate(&self) -> Kek {
        Kek::from_bytes(*self.0)
    }

    /// Parses base64url of 32 bytes.
    pub fn from_b64(text: &str) -> Result<Self, KeyError> {
        let bytes = b64::decode_array::<32>(text.trim()).map_err(|_| KeyError::KekFormat)?;
        Ok(Self::from_bytes(bytes))
    }

    /// A fresh random KEK.
    pub fn generate() -> Result<Self, KeyError> {
        let mut k = Zeroizing::new([0u8; 32]);
        rng::Rng::fill(&mut rng::OsRng::new(), &mut *k).map_err(|_| KeyError::Generate)?;
        Ok(Kek(k))
    }

    /// The KEK from [`KEK_ENV`], else from `<data_dir>/issuer.kek`, which is created (0600)
    /// on first start and refused if group or others can read it.
    pub fn load(data_dir: &Path) -> Result<Self, KeyError> {
        if let Ok(v) = std::env::var(KEK_ENV) {
            return Self::from_b64(&v);
        }
        Self::load_file(&data_dir.join(KEK_FILE))
    }

    /// The KEK from a key file, created if absent.
    pub fn load_file(path: &Path) -> Result<Self, KeyError> {
        match std::fs::metadata(path) {
            Ok(meta) => {
                #[cfg(unix)]
                if std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o077 != 0 {
                    return Err(KeyError::KekPermissions);
                }
                let _ = meta;
                let text = Zeroizing::new(std::fs::read_to_string(path).map_err(KeyError::KekIo)?);
                Self::from_b64(&text)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).map_err(KeyError::KekIo)?;
                }
                let kek = Self::generate()?;
                let mut opts = std::fs::OpenOptions::new();
                opts.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
                let mut f = opts.open(path).map_err(KeyError::KekIo)?;
                let text = Zeroizing::new(b64::encode(*kek.0));
                std::io::Write::write_all(&mut f, text.as_bytes()).map_err(KeyError::KekIo)?;
                f.sync_all().map_err(KeyError::KekIo)?;
                Ok(kek)
            }
            Err(e) => Err(KeyError::KekIo(e)),
        }
    }

    /// Seals `plain` (AES-256-GCM, random 96-bit nonce) bound to `label`: `nonce ‖ ct ‖ tag`.
    pub fn seal(&self, label: &str, plain: &[u8]) -> Result<Vec<u8>, KeyError> {
        let mut nonce = [0u8; NONCE_LEN];
        rng::Rng::fill(&mut rng::OsRng::new(), &mut nonce).map_err(|_| KeyError::Generate)?;
        let mut buf = Zeroizing::new(plain.to_vec());
        self.aead()?
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), aad(label), &mut *buf)
            .map_err(|_| KeyError::Generate)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buf);
        Ok(out)
    }

    /// Opens what [`Kek::seal`] sealed under the same `label`.
    pub fn open(&self, label: &str, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        if sealed.len() < NONCE_LEN {
            return Err(KeyError::Unseal);
        }
        let (nonce, ct) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| KeyError::Unseal)?;
        let mut buf = Zeroizing::new(ct.to_vec());
        let n = self
            .aead()?
            .open_in_place(nonce, aad(label), &mut buf)
            .map_err(|_| KeyError::Unseal)?
            .len();
        buf.truncate(n);
        Ok(buf)
    }

    fn aead(&self) -> Result<LessSafeKey, KeyError> {
        UnboundKey::new(&AES_256_GCM, &*self.0)
            .map(LessSafeKey::new)
            .map_err(|_| KeyError::KekFormat)
    }
}

fn aad(label: &str) -> Aad<Vec<u8>> {
    let mut v = AAD_PREFIX.to_vec();
    v.extend_from_slice(label.as_bytes());
    Aad::from(v)
}

impl std::fmt::Debug for Kek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kek").finish_non_exhaustive()
    }
}

/// A signer that can be shared between request handlers.
pub type SharedSigner = Arc<dyn Signer + Send + Sync>;

/// Where the issuer's signing keys live. Implement it to sign with a hardware or cloud key.
pub trait KeySource: Send + Sync {
    /// The key that signs now.
    fn signer(&self, now: u64) -> Result<SharedSigner, KeyError>;
    /// The keys to publish now (signing, pending and retired but still needed).
    fn published(&self, now: u64) -> Result<Vec<PublicJwk>, KeyError>;
    /// Records that `kid` signed a credential expiring at `exp` (keeps it published until then).
    fn note_signed(&self, kid: &str, exp: u64) -> Result<(), KeyError>;
    /// Unpublishes retired keys whose credentials have all expired; returns their `kid`s.
    fn prune_expired(&self, _now: u64) -> Result<Vec<String>, KeyError> {
        Ok(Vec::new())
    }
}

/// The life stage of a stored key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    /// Published, signs from `not_before` on.
    Pending,
    /// Signs now.
    Active,
    /// Signs nothing more; published while credentials it signed are unexpired.
    Retired,
}

impl KeyState {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Pending => "pending",
            KeyState::Active => "active",
            KeyState::Retired => "retired",
        }
    }
}

/// A stored key as `keys list` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    /// RFC 7638 thumbprint.
    pub kid: String,
    /// Its stage.
    pub state: KeyState,
    /// Creation, Unix seconds.
    pub created: u64,
    /// Signs from, Unix seconds.
    pub not_before: u64,
    /// When it stopped signing (the next key's `not_before`).
    pub retired_at: Option<u64>,
    /// Latest `exp` it signed.
    pub last_exp: Option<u64>,
    /// Whether every credential it signed has expired and it no longer signs.
    pub removable: bool,
}

/// Keys sealed in the SQLite store, decrypted into `ring` keys on first use.
pub struct LocalKeys {
    store: Arc<Store>,
    kek: Kek,
    cache: Mutex<HashMap<String, Arc<RingSigner>>>,
}

impl std::fmt::Debug for LocalKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalKeys")
            .field("store", &self.store.path())
            .finish_non_exhaustive()
    }
}

impl LocalKeys {
    /// Keys in `store` sealed under `kek`; generates the first key if there is none.
    pub fn open(store: Arc<Store>, kek: Kek, now: u64) -> Result<Self, KeyError> {
        let keys = LocalKeys {
            store,
            kek,
            cache: Mutex::new(HashMap::new()),
        };
        if keys.store.keys()?.is_empty() {
            keys.generate(now, now)?;
        }
        Ok(keys)
    }

    /// Adds a new key that signs from `now + delay`; before that it is only published. Keys that
    /// are no longer needed are removed first.
    pub fn rotate(&self, now: u64, delay: u64) -> Result<KeyInfo, KeyError> {
        self.prune(now)?;
        if self.store.keys()?.len() >= MAX_PUBLISHED {
            return Err(KeyError::TooManyKeys);
        }
        let kid = self.generate(now, now + delay)?;
        self.list(now)?
            .into_iter()
            .find(|k| k.kid == kid)
            .ok_or(KeyError::UnknownKey { kid })
    }

    /// Every stored key with its stage.
    pub fn list(&self, now: u64) -> Result<Vec<KeyInfo>, KeyError> {
        Ok(describe(&self.store.keys()?, now))
    }

    /// Removes a key. Without `force` only a key that signs nothing more and whose credentials
    /// have all expired (or a pending key, which signed nothing). With `force` (compromise) any
    /// key; removing the signing key generates a new one that signs at once.
    pub fn remove(&self, kid: &str, now: u64, force: bool) -> Result<(), KeyError> {
        let info = self
            .list(now)?
            .into_iter()
            .find(|k| k.kid == kid)
            .ok_or_else(|| KeyError::UnknownKey { kid: kid.to_owned() })?;
        if !force && info.state == KeyState::Active {
            return Err(KeyError::StillNeeded {
                kid: kid.to_owned(),
                reason: "it is the signing key",
            });
        }
        if !force && info.state == KeyState::Retired && !info.removable {
            return Err(KeyError::StillNeeded {
                kid: kid.to_owned(),
                reason: "credentials it signed are unexpired",
            });
        }
        self.store.delete_key(kid)?;
        self.cache.lock().map_err(|_| StoreError::Poisoned)?.remove(kid);
        // A retired key never signs again: a removed signing key is replaced by a new one.
        if info.state == KeyState::Active {
            self.generate(now, now)?;
        }
        Ok(())
    }

    /// Removes retired keys whose credentials have all expired and that stopped signing at
    /// least a day ago (so a request that picked the key just before rotation still finds it).
    pub fn prune(&self, now: u64) -> Result<Vec<String>, KeyError> {
        let mut removed = Vec::new();
        for k in self.list(now)? {
            if k.removable && k.retired_at.is_some_and(|r| r + 86_400 <= now) {
                self.store.delete_key(&k.kid)?;
                removed.push(k.kid);
            }
        }
        Ok(removed)
    }

    fn generate(&self, now: u64, not_before: u64) -> Result<String, KeyError> {
        let signer = RingSigner::generate().map_err(|_| KeyError::Generate)?;
        let kid = signer.public_jwk().thumbprint();
        let row = KeyRow {
            kid: kid.clone(),
            public_jwk: signer.public_jwk().to_json().to_string(),
            sealed: self.kek.seal(&kid, signer.expose_pkcs8())?,
            created: now,
            not_before,
            last_exp: None,
        };
        self.store.insert_key(&row)?;
        self.cache
            .lock()
            .map_err(|_| StoreError::Poisoned)?
            .insert(kid.clone(), Arc::new(signer));
        Ok(kid)
    }

    fn unseal(&self, row: &KeyRow) -> Result<Arc<RingSigner>, KeyError> {
        let mut cache = self.cache.lock().map_err(|_| StoreError::Poisoned)?;
        if let Some(s) = cache.get(&row.kid) {
            return Ok(s.clone());
        }
        let der = self.kek.open(&row.kid, &row.sealed)?;
        let signer = RingSigner::from_pkcs8(&der).map_err(|_| KeyError::BadKey { kid: row.kid.clone() })?;
        if signer.public_jwk().thumbprint() != row.kid {
            return Err(KeyError::BadKey { kid: row.kid.clone() });
        }
        let signer = Arc::new(signer);
        cache.insert(row.kid.clone(), signer.clone());
        Ok(signer)
    }
}

impl KeySource for LocalKeys {
    fn signer(&self, now: u64) -> Result<SharedSigner, KeyError> {
        let rows = self.store.keys()?;
        // Rows are ordered by not_before: the signing key is the last one already due.
        match rows.iter().rev().find(|r| r.not_before <= now) {
            Some(row) => Ok(self.unseal(row)?),
            None => {
                self.generate(now, now)?;
                self.signer(now)
            }
        }
    }

    fn published(&self, _now: u64) -> Result<Vec<PublicJwk>, KeyError> {
        self.store
            .keys()?
            .iter()
            .map(|r| {
                serde_json::from_str(&r.public_jwk)
                    .ok()
                    .and_then(|v| PublicJwk::from_json(&v).ok())
                    .ok_or_else(|| KeyError::BadKey { kid: r.kid.clone() })
            })
            .collect()
    }

    fn note_signed(&self, kid: &str, exp: u64) -> Result<(), KeyError> {
        Ok(self.store.note_signed(kid, exp)?)
    }

    fn prune_expired(&self, now: u64) -> Result<Vec<String>, KeyError> {
        self.prune(now)
    }
}

fn describe(rows: &[KeyRow], now: u64) -> Vec<KeyInfo> {
    let active = rows.iter().rposition(|r| r.not_before <= now);
    rows.iter()
        .enumerate()
        .map(|(i, r)| {
            let state = match active {
                Some(a) if i == a => KeyState::Active,
                Some(a) if i < a => KeyState::Retired,
                _ => KeyState::Pending,
            };
            let retired_at = (state == KeyState::Retired).then(|| rows[i + 1].not_before);
            KeyInfo {
                kid: r.kid.clone(),
                state,
                created: r.created,
                not_before: r.not_before,
                retired_at,
                last_exp: r.last_exp,
                removable: state == KeyState::Pending
                    || (state == KeyState::Retired && r.last_exp.is_none_or(|e| e <= now)),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_and_debug() {
        let kek = Kek::generate().unwrap();
        let sealed = kek.seal("kid-1", b"secret bytes").unwrap();
        assert_eq!(&kek.open("kid-1", &sealed).unwrap()[..], b"secret bytes");
        assert!(
            matches!(kek.open("kid-2", &sealed), Err(KeyError::Unseal)),
            "label is bound"
        );
        assert!(matches!(
            Kek::generate().unwrap().open("kid-1", &sealed),
            Err(KeyError::Unseal)
        ));
        let raw = [7u8; 32];
        let k = Kek::from_bytes(raw);
        let dbg = format!("{k:?}");
        assert_eq!(dbg, "Kek { .. }");
        assert!(!dbg.contains(&b64::encode(raw)) && !dbg.contains("7, 7"));
        assert!(matches!(Kek::from_b64("AAAA"), Err(KeyError::KekFormat)));
    }

    #[test]
    fn kek_file_is_private_and_stable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(KEK_FILE);
        let a = Kek::load_file(&path).unwrap();
        let b = Kek::load_file(&path).unwrap();
        assert_eq!(*a.0, *b.0);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            assert!(matches!(Kek::load_file(&path), Err(KeyError::KekPermissions)));
        }
    }

    #[test]
    fn keys_are_sealed_and_rotate() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(dir.path()).unwrap());
        let keys = LocalKeys::open(store.clone(), Kek::from_bytes([1; 32]), 1000).unwrap();
        let first = keys.signer(1000).unwrap().public_jwk().thumbprint();
        let row = &store.keys().unwrap()[0];
        assert_eq!(row.kid, first);
        let signer = keys.unseal(row).unwrap();
        assert!(
            !row.sealed
                .windows(16)
                .any(|w| signer.expose_pkcs8().windows(16).any(|p| p == w))
        );

        // Reopened with the wrong KEK: the key does not open.
        let wrong = LocalKeys::open(store.clone(), Kek::from_bytes([2; 32]), 1000).unwrap();
        assert!(matches!(wrong.signer(1000), Err(KeyError::Unseal)));

        // Rotation with delay: published at once, signs later.
        let next = keys.rotate(2000, ROTATION_DELAY).unwrap();
        assert_eq!(next.state, KeyState::Pending);
        assert_eq!(keys.published(2000).unwrap().len(), 2);
        assert_eq!(keys.signer(2000).unwrap().public_jwk().thumbprint(), first);
        let later = 2000 + ROTATION_DELAY;
        assert_eq!(keys.signer(later).unwrap().public_jwk().thumbprint(), next.kid);

        // The retired key signed a credential expiring at `later + 500`: it stays until then.
        keys.note_signed(&first, later + 500).unwrap();
        assert!(matches!(
            keys.remove(&first, later, false),
            Err(KeyError::StillNeeded { .. })
        ));
        assert!(matches!(
            keys.remove(&next.kid, later, false),
            Err(KeyError::StillNeeded { .. })
        ));
        assert!(keys.prune(later + 400).unwrap().is_empty());
        assert_eq!(keys.prune(later + 86_400).unwrap(), vec![first.clone()]);
        assert_eq!(keys.published(later + 86_400).unwrap().len(), 1);

        // At most four published keys.
        for t in 1..=3 {
            keys.rotate(later + 86_400 + t, 0).unwrap();
        }
        assert!(matches!(
            keys.rotate(later + 86_400 + 5, 0),
            Err(KeyError::TooManyKeys)
        ));

        // Forced removal of the signing key (compromise) leaves a fresh signing key.
        let now = later + 86_400 + 10;
        let active = keys.signer(now).unwrap().public_jwk().thumbprint();
        keys.remove(&active, now, true).unwrap();
        let replacement = keys.signer(now).unwrap().public_jwk().thumbprint();
        assert_ne!(replacement, active);
        assert!(keys.list(now).unwrap().iter().all(|k| k.kid != active));
    }
}
