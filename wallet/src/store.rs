//! The wallet file: a versioned header, AES-256-GCM under a key derived with Argon2id from the
//! passphrase, and a checksum, written atomically (DESIGN §8).
//!
//! Layout (all integers little-endian):
//!
//! ```text
//! magic "AGEBANDW" (8) ‖ version (1) ‖ kdf id (1, 1 = Argon2id v0x13)
//! ‖ m_cost KiB (4) ‖ t_cost (4) ‖ p_cost (4) ‖ salt (16) ‖ key check (16) ‖ nonce (12)
//! ‖ ciphertext ‖ GCM tag (16) ‖ SHA-256 of everything before (32)
//! ```
//!
//! The header (everything up to and including the nonce) is the AEAD's associated data, so
//! neither the parameters nor the salt can be swapped. The key check (a hash of the derived
//! key, domain-separated from the encryption key) tells a wrong passphrase from damage; the
//! trailing checksum tells damage (truncation, flipped bits) from a wrong passphrase without
//! running Argon2 first. The plaintext is padded to a multiple of [`PAD`] bytes so the file
//! size tells little about how many credentials it holds.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use ring::digest::{Context, SHA256};
use ring::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

/// Name of the encrypted wallet file inside the wallet folder.
pub const FILE_NAME: &str = "wallet.ageband";
/// Name of the temporary file a save writes before renaming it over [`FILE_NAME`].
pub const TMP_NAME: &str = "wallet.ageband.tmp";
/// Name of the lock file that keeps two processes from writing the same wallet.
pub const LOCK_NAME: &str = "wallet.lock";
/// The current file format version: 2 (credentials, blind tokens and pinned issuer keys;
/// version-2 files that stored the pins as issuer directories open and are written with pin
/// lists). Version 1 files (credentials only) still open and are written as version 2 on the
/// next save.
pub const FORMAT_VERSION: u8 = 2;
/// The oldest file format version this build opens.
pub const MIN_FORMAT_VERSION: u8 = 1;
/// Plaintext is padded with JSON whitespace to a multiple of this many bytes.
pub const PAD: usize = 4096;

const MAGIC: &[u8; 8] = b"AGEBANDW";
const KDF_ARGON2ID: u8 = 1;
const SALT_LEN: usize = 16;
const CHECK_LEN: usize = 16;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
const DIGEST_LEN: usize = 32;
const HEADER_LEN: usize = 8 + 1 + 1 + 4 + 4 + 4 + SALT_LEN + CHECK_LEN + NONCE_LEN;
const MIN_FILE: usize = HEADER_LEN + TAG_LEN + DIGEST_LEN;
const ENC_LABEL: &[u8] = b"ageband/wallet/v1/enc";
const CHECK_LABEL: &[u8] = b"ageband/wallet/v1/check";

/// Argon2id cost parameters, stored in the file header.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct KdfParams {
    /// Memory in KiB.
    pub m_kib: u32,
    /// Passes.
    pub t: u32,
    /// Lanes.
    pub p: u32,
}

impl KdfParams {
    /// The production default: 64 MiB, 3 passes, 1 lane (about half a second on a laptop).
    pub const DEFAULT: KdfParams = KdfParams {
        m_kib: 64 * 1024,
        t: 3,
        p: 1,
    };

    /// The cheapest accepted parameters: for tests only, they protect nothing.
    pub const INSECURE_TEST: KdfParams = KdfParams { m_kib: 8, t: 1, p: 1 };

    /// The most memory a wallet file may ask for: 256 MiB, four times [`KdfParams::DEFAULT`].
    pub const MAX_M_KIB: u32 = 256 * 1024;
    /// The most passes: 8.
    pub const MAX_T: u32 = 8;
    /// The most lanes: 8.
    pub const MAX_P: u32 = 8;

    /// Bounds accepted when creating and when opening. A crafted header must not make `open`
    /// allocate gigabytes or run for minutes: the largest accepted cost is about 10× the
    /// default's (256 MiB × 8 passes against 64 MiB × 3), a few seconds on a laptop.
    fn in_bounds(&self) -> bool {
        (1..=Self::MAX_P).contains(&self.p)
            && (8 * self.p..=Self::MAX_M_KIB).contains(&self.m_kib)
            && (1..=Self::MAX_T).contains(&self.t)
    }
}

impl Default for KdfParams {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Why the wallet file could not be created, opened or written.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// There is no wallet file in the folder.
    #[error("no wallet in {}; create one with `ageband wallet --wallet {} init`", dir.display(), dir.display())]
    NotFound {
        /// The wallet folder.
        dir: PathBuf,
    },
    /// `create` found a wallet file already there (it is left untouched).
    #[error("a wallet already exists in {}", dir.display())]
    AlreadyExists {
        /// The wallet folder.
        dir: PathBuf,
    },
    /// Another process holds the wallet's lock.
    #[error("the wallet is in use by another process")]
    Locked,
    /// The file does not start with the wallet magic: not a wallet file.
    #[error("not an ageband wallet file")]
    NotAWallet,
    /// A format version this build does not know.
    #[error(
        "wallet file format version {version} is not supported (this build reads versions {MIN_FORMAT_VERSION} to {FORMAT_VERSION})"
    )]
    UnsupportedVersion {
        /// The version in the file.
        version: u8,
    },
    /// The file is damaged (truncated, bits flipped, bad contents). Nothing was changed.
    #[error("wallet file is corrupted ({reason}); it was not modified")]
    Corrupted {
        /// What is wrong.
        reason: &'static str,
    },
    /// The passphrase does not open this wallet. Nothing was changed.
    #[error("wrong passphrase")]
    WrongPassphrase,
    /// The key derivation parameters are out of bounds, or the passphrase is empty.
    #[error("invalid key derivation input: {reason}")]
    Kdf {
        /// What is wrong.
        reason: &'static str,
    },
    /// The operating system's random number generator failed.
    #[error("random number generator failed")]
    Rng,
    /// A file operation failed.
    #[error("could not {op} {}", path.display())]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

impl StoreError {
    fn io<'p>(op: &'static str, path: &'p Path) -> impl FnOnce(io::Error) -> StoreError + 'p {
        move |source| StoreError::Io {
            op,
            path: path.to_owned(),
            source,
        }
    }
}

/// The key of one wallet file: derived once per open, reused for every save with a fresh nonce.
pub(crate) struct FileKey {
    params: KdfParams,
    salt: [u8; SALT_LEN],
    check: [u8; CHECK_LEN],
    enc: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for FileKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileKey")
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

impl FileKey {
    /// A key for a new wallet: a fresh salt, then Argon2id.
    pub(crate) fn create(passphrase: &str, params: KdfParams) -> Result<Self, StoreError> {
        let mut salt = [0u8; SALT_LEN];
        SystemRandom::new().fill(&mut salt).map_err(|_| StoreError::Rng)?;
        Self::derive(passphrase, params, salt)
    }

    fn derive(passphrase: &str, params: KdfParams, salt: [u8; SALT_LEN]) -> Result<Self, StoreError> {
        if passphrase.is_empty() {
            return Err(StoreError::Kdf {
                reason: "empty passphrase",
            });
        }
        if !params.in_bounds() {
            return Err(StoreError::Kdf {
                reason: "Argon2id parameters out of bounds",
            });
        }
        let p =
            argon2::Params::new(params.m_kib, params.t, params.p, Some(32)).map_err(|_| StoreError::Kdf {
                reason: "Argon2id parameters rejected",
            })?;
        let block_count = p.block_count();
        let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, p);
        let mut master = Zeroizing::new([0u8; 32]);
        // Argon2's working memory is derived from the passphrase: wipe it, not just free it.
        let mut blocks = Zeroizing::new(vec![argon2::Block::default(); block_count]);
        argon
            .hash_password_into_with_memory(
                passphrase.as_bytes(),
                &salt,
                master.as_mut(),
                blocks.as_mut_slice(),
            )
            .map_err(|_| StoreError::Kdf {
                reason: "Argon2id failed",
            })?;
        drop(blocks);
        let enc = Zeroizing::new(sub_key(ENC_LABEL, &master));
        let mut check = [0u8; CHECK_LEN];
        check.copy_from_slice(&sub_key(CHECK_LABEL, &master)[..CHECK_LEN]);
        Ok(FileKey {
            params,
            salt,
            check,
            enc,
        })
    }

    /// Encrypts `plaintext` into a complete file image with a fresh nonce.
    pub(crate) fn seal(&self, plaintext: &[u8]) -> Result<Vec<u8>, StoreError> {
        self.seal_version(FORMAT_VERSION, plaintext)
    }

    /// [`FileKey::seal`] with an explicit format version (tests write version-1 files).
    pub(crate) fn seal_version(&self, version: u8, plaintext: &[u8]) -> Result<Vec<u8>, StoreError> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| StoreError::Rng)?;
        let mut out = Vec::with_capacity(HEADER_LEN + plaintext.len() + TAG_LEN + DIGEST_LEN);
        out.extend_from_slice(MAGIC);
        out.push(version);
        out.push(KDF_ARGON2ID);
        out.extend_from_slice(&self.params.m_kib.to_le_bytes());
        out.extend_from_slice(&self.params.t.to_le_bytes());
        out.extend_from_slice(&self.params.p.to_le_bytes());
        out.extend_from_slice(&self.salt);
        out.extend_from_slice(&self.check);
        out.extend_from_slice(&nonce);
        debug_assert_eq!(out.len(), HEADER_LEN);
        let mut body = Zeroizing::new(plaintext.to_vec());
        self.aead()?
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(&out[..HEADER_LEN]),
                &mut *body,
            )
            .map_err(|_| StoreError::Corrupted {
                reason: "encryption failed",
            })?;
        out.extend_from_slice(&body);
        let digest = sha256(&[&out]);
        out.extend_from_slice(&digest);
        Ok(out)
    }

    fn aead(&self) -> Result<LessSafeKey, StoreError> {
        UnboundKey::new(&AES_256_GCM, self.enc.as_ref())
            .map(LessSafeKey::new)
            .map_err(|_| StoreError::Kdf {
                reason: "AES key rejected",
            })
    }
}

/// Checks the structure, derives the key and decrypts a file image; returns the key, the
/// format version of the file and the plaintext.
pub(crate) fn open(bytes: &[u8], passphrase: &str) -> Result<(FileKey, u8, Zeroizing<Vec<u8>>), StoreError> {
    if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
        return Err(if bytes.len() < MAGIC.len() && MAGIC.starts_with(bytes) {
            StoreError::Corrupted { reason: "truncated" }
        } else {
            StoreError::NotAWallet
        });
    }
    if bytes.len() > MAGIC.len() && !(MIN_FORMAT_VERSION..=FORMAT_VERSION).contains(&bytes[MAGIC.len()]) {
        return Err(StoreError::UnsupportedVersion {
            version: bytes[MAGIC.len()],
        });
    }
    if bytes.len() < MIN_FILE {
        return Err(StoreError::Corrupted { reason: "truncated" });
    }
    let (sealed, digest) = bytes.split_at(bytes.len() - DIGEST_LEN);
    if sha256(&[sealed]) != digest {
        return Err(StoreError::Corrupted {
            reason: "checksum mismatch",
        });
    }
    let (header, body) = sealed.split_at(HEADER_LEN);
    if header[9] != KDF_ARGON2ID {
        return Err(StoreError::Corrupted {
            reason: "unknown key derivation",
        });
    }
    let u32_at = |i: usize| u32::from_le_bytes([header[i], header[i + 1], header[i + 2], header[i + 3]]);
    let params = KdfParams {
        m_kib: u32_at(10),
        t: u32_at(14),
        p: u32_at(18),
    };
    if !params.in_bounds() {
        return Err(StoreError::Corrupted {
            reason: "key derivation parameters out of bounds",
        });
    }
    let mut salt = [0u8; SALT_LEN];
    salt.copy_from_slice(&header[22..22 + SALT_LEN]);
    let stored_check = &header[22 + SALT_LEN..22 + SALT_LEN + CHECK_LEN];
    let mut nonce = [0u8; NONCE_LEN];
    nonce.copy_from_slice(&header[HEADER_LEN - NONCE_LEN..]);
    let key = FileKey::derive(passphrase, params, salt)?;
    if !ring_eq(&key.check, stored_check) {
        return Err(StoreError::WrongPassphrase);
    }
    let mut buf = Zeroizing::new(body.to_vec());
    let len = key
        .aead()?
        .open_in_place(Nonce::assume_unique_for_key(nonce), Aad::from(header), &mut buf)
        .map_err(|_| StoreError::Corrupted {
            reason: "authentication failed",
        })?
        .len();
    buf.truncate(len);
    Ok((key, header[MAGIC.len()], buf))
}

/// A growable buffer for plaintext that zeroizes every allocation it leaves behind (a plain
/// `Vec` would leave copies of secrets in freed memory when it grows).
pub(crate) struct SecretBuf(Zeroizing<Vec<u8>>);

impl SecretBuf {
    /// An empty buffer with room for `capacity` bytes.
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        SecretBuf(Zeroizing::new(Vec::with_capacity(capacity)))
    }

    fn reserve(&mut self, extra: usize) {
        let needed = self.0.len() + extra;
        if needed > self.0.capacity() {
            let mut bigger = Zeroizing::new(Vec::with_capacity(needed.max(2 * self.0.capacity())));
            bigger.extend_from_slice(&self.0);
            // The old allocation is zeroized when it is dropped here.
            self.0 = bigger;
        }
    }

    /// Pads with spaces (insignificant JSON whitespace) to a multiple of [`PAD`] and returns
    /// the bytes.
    pub(crate) fn padded(mut self) -> Zeroizing<Vec<u8>> {
        let target = self.0.len().div_ceil(PAD).max(1) * PAD;
        self.reserve(target - self.0.len());
        self.0.resize(target, b' ');
        self.0
    }
}

impl io::Write for SecretBuf {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.reserve(buf.len());
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Takes the folder's exclusive lock; it is released when the returned file is dropped
/// (also when the process dies).
pub(crate) fn lock(dir: &Path) -> Result<File, StoreError> {
    let path = dir.join(LOCK_NAME);
    let mut opts = OpenOptions::new();
    opts.create(true).truncate(false).write(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let f = opts
        .open(&path)
        .map_err(StoreError::io("open the lock file", &path))?;
    match f.try_lock() {
        Ok(()) => Ok(f),
        Err(fs::TryLockError::WouldBlock) => Err(StoreError::Locked),
        Err(fs::TryLockError::Error(source)) => Err(StoreError::Io {
            op: "lock",
            path,
            source,
        }),
    }
}

/// Reads the wallet file.
pub(crate) fn read(dir: &Path) -> Result<Vec<u8>, StoreError> {
    let path = dir.join(FILE_NAME);
    fs::read(&path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => StoreError::NotFound { dir: dir.to_owned() },
        _ => StoreError::Io {
            op: "read",
            path,
            source: e,
        },
    })
}

/// Replaces the wallet file atomically: the temporary file is written and synced, renamed over
/// the old file, and the folder is synced, so a crash leaves either the old or the new file.
pub(crate) fn write_atomic(dir: &Path, image: &[u8]) -> Result<(), StoreError> {
    let tmp = write_temp(dir, image)?;
    let path = dir.join(FILE_NAME);
    fs::rename(&tmp, &path).map_err(StoreError::io("rename the temporary file onto", &path))?;
    sync_dir(dir)
}

/// The first half of [`write_atomic`]: the temporary file, written and synced.
pub(crate) fn write_temp(dir: &Path, image: &[u8]) -> Result<PathBuf, StoreError> {
    let tmp = dir.join(TMP_NAME);
    let mut opts = OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(&tmp).map_err(StoreError::io("create", &tmp))?;
    f.write_all(image).map_err(StoreError::io("write", &tmp))?;
    f.sync_all().map_err(StoreError::io("sync", &tmp))?;
    Ok(tmp)
}

/// Deletes a temporary file left by a save that crashed before its rename.
pub(crate) fn remove_stale_temp(dir: &Path) -> Result<(), StoreError> {
    let tmp = dir.join(TMP_NAME);
    match fs::remove_file(&tmp) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(StoreError::Io {
            op: "remove",
            path: tmp,
            source: e,
        }),
        _ => Ok(()),
    }
}

/// Creates the wallet folder (owner-only on Unix).
pub(crate) fn create_dir(dir: &Path) -> Result<(), StoreError> {
    let mut b = fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir).map_err(StoreError::io("create the folder", dir))
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    // Directories can be opened and synced on Unix; elsewhere the rename is what we have.
    #[cfg(unix)]
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(StoreError::io("sync the folder", dir))?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

fn sub_key(label: &[u8], master: &[u8; 32]) -> [u8; 32] {
    sha256(&[label, master])
}

fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut ctx = Context::new(&SHA256);
    for p in parts {
        ctx.update(p);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

fn ring_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_and_errors() {
        let key = FileKey::create("correct horse", KdfParams::INSECURE_TEST).unwrap();
        let image = key.seal(b"{\"x\":1}").unwrap();
        let (_, version, plain) = open(&image, "correct horse").unwrap();
        assert_eq!(&plain[..], b"{\"x\":1}");
        assert_eq!(version, FORMAT_VERSION);
        // A version-1 file still opens.
        let (_, version, _) = open(&key.seal_version(1, b"{}").unwrap(), "correct horse").unwrap();
        assert_eq!(version, 1);
        // Two seals of the same plaintext differ (fresh nonce).
        assert_ne!(key.seal(b"{\"x\":1}").unwrap(), image);
        assert!(matches!(
            open(&image, "wrong horse"),
            Err(StoreError::WrongPassphrase)
        ));
        assert!(matches!(
            open(b"hello world, not a wallet", "p"),
            Err(StoreError::NotAWallet)
        ));
        for v in [0u8, 3, 255] {
            let mut other = image.clone();
            other[8] = v;
            assert!(matches!(
                open(&other, "p"),
                Err(StoreError::UnsupportedVersion { version }) if version == v
            ));
        }
        assert!(matches!(
            FileKey::create("", KdfParams::INSECURE_TEST),
            Err(StoreError::Kdf { .. })
        ));
        let huge = KdfParams {
            m_kib: u32::MAX,
            t: 1,
            p: 1,
        };
        assert!(matches!(FileKey::create("p", huge), Err(StoreError::Kdf { .. })));
    }

    /// A header (with a valid checksum) that asks for more than the bounds is refused before
    /// any key derivation runs; the bounds themselves are accepted.
    #[test]
    fn costly_kdf_parameters_in_a_file_are_refused_up_front() {
        let key = FileKey::create("pw", KdfParams::INSECURE_TEST).unwrap();
        let image = key.seal(b"{}").unwrap();
        let with = |m: u32, t: u32, p: u32| {
            let mut img = image.clone();
            img[10..14].copy_from_slice(&m.to_le_bytes());
            img[14..18].copy_from_slice(&t.to_le_bytes());
            img[18..22].copy_from_slice(&p.to_le_bytes());
            let n = img.len();
            let digest = sha256(&[&img[..n - DIGEST_LEN]]);
            img[n - DIGEST_LEN..].copy_from_slice(&digest);
            img
        };
        let max = KdfParams::MAX_M_KIB;
        for (m, t, p) in [
            (max + 1, 1, 1),
            (1024 * 1024, 16, 1),
            (8 * 1024, KdfParams::MAX_T + 1, 1),
            (8 * 1024, 1, KdfParams::MAX_P + 1),
            (8, 1, 2),
            (8, 0, 1),
        ] {
            let start = std::time::Instant::now();
            assert!(
                matches!(
                    open(&with(m, t, p), "pw"),
                    Err(StoreError::Corrupted {
                        reason: "key derivation parameters out of bounds"
                    })
                ),
                "{m} KiB, {t} passes, {p} lanes"
            );
            assert!(start.elapsed() < std::time::Duration::from_secs(1));
        }
        // In bounds, the parameters are used: they derive another key, whose check fails.
        assert!(matches!(
            open(&with(16, 1, 1), "pw"),
            Err(StoreError::WrongPassphrase)
        ));
    }

    #[test]
    fn header_tampering_with_fixed_checksum_fails_authentication() {
        // Even an attacker who recomputes the checksum cannot change the header: it is AAD.
        let key = FileKey::create("pw", KdfParams::INSECURE_TEST).unwrap();
        let mut image = key.seal(b"secret").unwrap();
        let n = image.len();
        image[HEADER_LEN - 1] ^= 1; // nonce
        let digest = sha256(&[&image[..n - DIGEST_LEN]]);
        image[n - DIGEST_LEN..].copy_from_slice(&digest);
        assert!(matches!(
            open(&image, "pw"),
            Err(StoreError::Corrupted {
                reason: "authentication failed"
            })
        ));
    }

    #[test]
    fn padding() {
        let mut b = SecretBuf::with_capacity(1);
        b.write_all(b"{}").unwrap();
        let p = b.padded();
        assert_eq!(p.len(), PAD);
        let v: serde_json::Value = serde_json::from_slice(&p).unwrap();
        assert_eq!(v, serde_json::json!({}));
    }
}
