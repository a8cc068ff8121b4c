//! The issuer's embedded store: one SQLite file in the data folder, schema versioned by
//! `PRAGMA user_version`.
//!
//! What it holds (and what it never holds): sealed issuer keys and the sealed quota secret;
//! pre-authorized codes and access tokens *as SHA-256 hashes*, each with only the derived facts
//! (predicates, `iat`/`exp` days, level, source); c_nonce hashes; `jti` hashes per provider until
//! the assertion's `exp`; quota entries keyed by an HMAC, one row per batch day; blind-token keys
//! (one per fact, floor and month, sealed, deleted after their month) and blind-token counters
//! keyed by an HMAC of subject, fact and month. Under a code or token the facts include, for the
//! blind-token profile, the allowed months per fact and an HMAC tag of the evidence subject. No
//! birth date, no turning day, no evidence, no subject, no holder key, no credential or token.
//!
//! Single use is enforced by the database, not by the caller: every redemption is a
//! `DELETE … RETURNING`, so of any number of concurrent requests exactly one gets the row.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use rusqlite::{Connection, OptionalExtension, params};

/// Schema migrations; entry `i` moves `user_version` from `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: initial schema.
    "CREATE TABLE meta (name TEXT PRIMARY KEY, value BLOB NOT NULL) STRICT;
     CREATE TABLE keys (
        kid TEXT PRIMARY KEY,
        public_jwk TEXT NOT NULL,
        sealed BLOB NOT NULL,
        created INTEGER NOT NULL,
        not_before INTEGER NOT NULL,
        last_exp INTEGER
     ) STRICT;
     CREATE TABLE codes (hash BLOB PRIMARY KEY, facts TEXT NOT NULL, expires INTEGER NOT NULL) STRICT;
     CREATE TABLE tokens (
        hash BLOB PRIMARY KEY,
        facts TEXT NOT NULL,
        expires INTEGER NOT NULL,
        failures INTEGER NOT NULL DEFAULT 0
     ) STRICT;
     CREATE TABLE nonces (hash BLOB PRIMARY KEY, expires INTEGER NOT NULL) STRICT;
     CREATE TABLE jtis (provider TEXT NOT NULL, hash BLOB NOT NULL, expires INTEGER NOT NULL,
        PRIMARY KEY (provider, hash)) STRICT;
     CREATE TABLE quota (key BLOB NOT NULL, at INTEGER NOT NULL) STRICT;
     CREATE INDEX quota_key ON quota (key, at);",
    // 2: the blind-token profile (blind-profile.md §12.1): one sealed RSA key per slot, the
    // per-subject, per-fact, per-month token counters, and per-profile uses of access tokens.
    "CREATE TABLE blind_keys (
        fact TEXT NOT NULL,
        floor INTEGER NOT NULL,
        month TEXT NOT NULL,
        token_key_id BLOB NOT NULL UNIQUE,
        spki BLOB NOT NULL,
        sealed BLOB NOT NULL,
        created INTEGER NOT NULL,
        not_after INTEGER NOT NULL,
        PRIMARY KEY (fact, floor, month)
     ) STRICT;
     CREATE TABLE blind_quota (key BLOB PRIMARY KEY, used INTEGER NOT NULL, expires INTEGER NOT NULL) STRICT;
     ALTER TABLE tokens ADD COLUMN uses INTEGER NOT NULL DEFAULT 3;",
];

/// Access-token use bit of `POST /credential` (SD-JWT).
pub const USE_CREDENTIAL: i64 = 1;
/// Access-token use bit of `POST /blind-token-request`.
pub const USE_BLIND: i64 = 2;

/// One blind-token key as stored (blind-profile.md §12.1).
#[derive(Clone, PartialEq, Eq)]
pub struct BlindKeyRow {
    /// Fact wire name.
    pub fact: String,
    /// Floor, 2 or 3.
    pub floor: u8,
    /// `YYYY-MM`.
    pub month: String,
    /// SHA-256 of the SPKI.
    pub token_key_id: Vec<u8>,
    /// The RFC 9578 SPKI (public).
    pub spki: Vec<u8>,
    /// PKCS#8 DER sealed under the key-encryption key.
    pub sealed: Vec<u8>,
    /// Creation, Unix seconds.
    pub created: u64,
    /// `not-after` of the month: the key is deleted from then on.
    pub not_after: u64,
}

impl std::fmt::Debug for BlindKeyRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlindKeyRow")
            .field("fact", &self.fact)
            .field("floor", &self.floor)
            .field("month", &self.month)
            .finish_non_exhaustive()
    }
}

/// Outcome of [`Store::redeem_blind`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlindRedeem {
    /// The token's blind use was consumed and every quota charged.
    Redeemed,
    /// The access token is gone, expired, or its blind use was consumed.
    TokenGone,
    /// A quota would be exceeded; nothing was charged or consumed.
    QuotaExceeded,
}

/// Failed access attempts after which an access token is dropped (protocol.md §7.4).
pub const MAX_TOKEN_FAILURES: i64 = 5;

/// A store failure (I/O, corruption, a poisoned lock). Always a server fault.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite failed.
    #[error("database error")]
    Sqlite(#[from] rusqlite::Error),
    /// The data folder or file could not be prepared.
    #[error("cannot prepare the data folder")]
    Io(#[from] std::io::Error),
    /// The database was written by a newer version of this program.
    #[error("database schema version {found} is newer than this program's {supported}")]
    TooNew {
        /// `user_version` in the file.
        found: i64,
        /// Newest version known here.
        supported: i64,
    },
    /// A thread panicked while holding the connection.
    #[error("database connection poisoned")]
    Poisoned,
}

/// One issuer key as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyRow {
    /// RFC 7638 thumbprint.
    pub kid: String,
    /// The public JWK, JSON.
    pub public_jwk: String,
    /// The PKCS#8 private key sealed with the key-encryption key.
    pub sealed: Vec<u8>,
    /// Creation time, Unix seconds.
    pub created: u64,
    /// From when it signs, Unix seconds (published before that).
    pub not_before: u64,
    /// The latest `exp` of any credential it signed.
    pub last_exp: Option<u64>,
}

impl std::fmt::Debug for KeyRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRow")
            .field("kid", &self.kid)
            .field("not_before", &self.not_before)
            .field("last_exp", &self.last_exp)
            .finish_non_exhaustive()
    }
}

/// The SQLite store.
#[derive(Debug)]
pub struct Store {
    conn: Mutex<Connection>,
    path: PathBuf,
}

impl Store {
    /// The database file name inside the data folder.
    pub const FILE: &'static str = "issuer.sqlite3";

    /// Opens (creating if needed, mode 0600) `<data_dir>/issuer.sqlite3` and migrates it.
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(data_dir)?;
        let path = data_dir.join(Self::FILE);
        create_private(&path)?;
        let conn = Connection::open(&path)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        // secure_delete overwrites deleted facts instead of leaving them in free pages.
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA secure_delete = ON;",
        )?;
        migrate(&conn)?;
        Ok(Store {
            conn: Mutex::new(conn),
            path,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The schema version.
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        Ok(self.lock()?.query_row("PRAGMA user_version", [], |r| r.get(0))?)
    }

    fn lock(&self) -> Result<MutexGuard<'_, Connection>, StoreError> {
        self.conn.lock().map_err(|_| StoreError::Poisoned)
    }

    /// A value of the `meta` table.
    pub fn meta(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .lock()?
            .query_row("SELECT value FROM meta WHERE name = ?1", [name], |r| r.get(0))
            .optional()?)
    }

    /// Sets a `meta` value unless one exists; returns the value now stored.
    pub fn meta_insert_once(&self, name: &str, value: &[u8]) -> Result<Vec<u8>, StoreError> {
        let conn = self.lock()?;
        conn.execute(
            "INSERT OR IGNORE INTO meta (name, value) VALUES (?1, ?2)",
            params![name, value],
        )?;
        Ok(conn.query_row("SELECT value FROM meta WHERE name = ?1", [name], |r| r.get(0))?)
    }

    /// Every stored key, by `not_before`, ties in insertion order (the later key signs).
    pub fn keys(&self) -> Result<Vec<KeyRow>, StoreError> {
        let conn = self.lock()?;
        let mut stmt = conn.prepare(
            "SELECT kid, public_jwk, sealed, created, not_before, last_exp FROM keys ORDER BY not_before, rowid",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(KeyRow {
                kid: r.get(0)?,
                public_jwk: r.get(1)?,
                sealed: r.get(2)?,
                created: r.get::<_, i64>(3)? as u64,
                not_before: r.get::<_, i64>(4)? as u64,
                last_exp: r.get::<_, Option<i64>>(5)?.map(|v| v as u64),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Adds a key.
    pub fn insert_key(&self, k: &KeyRow) -> Result<(), StoreError> {
        self.lock()?.execute(
            "INSERT INTO keys (kid, public_jwk, sealed, created, not_before, last_exp) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![k.kid, k.public_jwk, k.sealed, sql(k.created), sql(k.not_before), k.last_exp.map(sql)],
        )?;
        Ok(())
    }

    /// Deletes a key (its sealed secret goes with it); whether it existed.
    pub fn delete_key(&self, kid: &str) -> Result<bool, StoreError> {
        Ok(self.lock()?.execute("DELETE FROM keys WHERE kid = ?1", [kid])? == 1)
    }

    /// Records that `kid` signed a credential expiring at `exp`.
    pub fn note_signed(&self, kid: &str, exp: u64) -> Result<(), StoreError> {
        self.lock()?.execute(
            "UPDATE keys SET last_exp = max(coalesce(last_exp, 0), ?2) WHERE kid = ?1",
            params![kid, sql(exp)],
        )?;
        Ok(())
    }

    /// Stores facts under a code hash until `expires`.
    pub fn insert_code(&self, hash: &[u8], facts: &str, expires: u64) -> Result<(), StoreError> {
        self.lock()?.execute(
            "INSERT INTO codes (hash, facts, expires) VALUES (?1, ?2, ?3)",
            params![hash, facts, sql(expires)],
        )?;
        Ok(())
    }

    /// Redeems a code: deletes it and returns its facts and deadline if it was live.
    pub fn take_code(&self, hash: &[u8], now: u64) -> Result<Option<(String, u64)>, StoreError> {
        take(
            &*self.lock()?,
            "DELETE FROM codes WHERE hash = ?1 RETURNING facts, expires",
            hash,
            now,
        )
    }

    /// Stores facts under an access token hash until `expires`.
    pub fn insert_token(&self, hash: &[u8], facts: &str, expires: u64) -> Result<(), StoreError> {
        self.lock()?.execute(
            "INSERT INTO tokens (hash, facts, expires) VALUES (?1, ?2, ?3)",
            params![hash, facts, sql(expires)],
        )?;
        Ok(())
    }

    /// Whether an access token is live (without consuming it).
    pub fn token_live(&self, hash: &[u8], now: u64) -> Result<bool, StoreError> {
        Ok(self
            .lock()?
            .query_row(
                "SELECT 1 FROM tokens WHERE hash = ?1 AND expires > ?2 AND failures < ?3",
                params![hash, sql(now), MAX_TOKEN_FAILURES],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    /// Consumes an access token: deletes it and returns its facts if it was live.
    pub fn take_token(&self, hash: &[u8], now: u64) -> Result<Option<(String, u64)>, StoreError> {
        take(
            &*self.lock()?,
            "DELETE FROM tokens WHERE hash = ?1 RETURNING facts, expires",
            hash,
            now,
        )
    }

    /// The facts of an access token that is live and still has use `bit` (without consuming).
    pub fn token_facts(&self, hash: &[u8], now: u64, bit: i64) -> Result<Option<String>, StoreError> {
        Ok(self
            .lock()?
            .query_row(
                "SELECT facts FROM tokens WHERE hash = ?1 AND expires > ?2 AND failures < ?3 AND (uses & ?4) != 0",
                params![hash, sql(now), MAX_TOKEN_FAILURES, bit],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Consumes use `bit` of an access token (the row goes when no use is left); its facts and
    /// deadline if it was live with that use. Of concurrent requests exactly one gets it.
    pub fn take_token_use(
        &self,
        hash: &[u8],
        now: u64,
        bit: i64,
    ) -> Result<Option<(String, u64)>, StoreError> {
        let conn = self.lock()?;
        let row: Option<(String, i64)> = conn
            .query_row(
                "UPDATE tokens SET uses = uses & ~?2 WHERE hash = ?1 AND (uses & ?2) != 0 AND failures < ?3 RETURNING facts, expires",
                params![hash, bit, MAX_TOKEN_FAILURES],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        conn.execute("DELETE FROM tokens WHERE hash = ?1 AND uses = 0", [hash])?;
        Ok(row.filter(|(_, exp)| *exp > sql(now)).map(|(f, e)| (f, e as u64)))
    }

    /// In one transaction: checks that the access token is live with its blind use, that each
    /// `(quota key, count, expires)` stays within `limit`, then consumes the blind use and
    /// charges the counts. Nothing changes unless everything passes.
    pub fn redeem_blind(
        &self,
        hash: &[u8],
        now: u64,
        charges: &[(Vec<u8>, u32, u64)],
        limit: u32,
    ) -> Result<BlindRedeem, StoreError> {
        let mut conn = self.lock()?;
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let live = tx
            .query_row(
                "SELECT 1 FROM tokens WHERE hash = ?1 AND expires > ?2 AND failures < ?3 AND (uses & ?4) != 0",
                params![hash, sql(now), MAX_TOKEN_FAILURES, USE_BLIND],
                |_| Ok(()),
            )
            .optional()?
            .is_some();
        if !live {
            return Ok(BlindRedeem::TokenGone);
        }
        tx.execute("DELETE FROM blind_quota WHERE expires <= ?1", [sql(now)])?;
        for (key, n, _) in charges {
            let used: i64 = tx
                .query_row("SELECT used FROM blind_quota WHERE key = ?1", [key], |r| r.get(0))
                .optional()?
                .unwrap_or(0);
            if used + i64::from(*n) > i64::from(limit) {
                return Ok(BlindRedeem::QuotaExceeded);
            }
        }
        for (key, n, expires) in charges {
            tx.execute(
                "INSERT INTO blind_quota (key, used, expires) VALUES (?1, ?2, ?3)
                 ON CONFLICT (key) DO UPDATE SET used = used + excluded.used",
                params![key, i64::from(*n), sql(*expires)],
            )?;
        }
        tx.execute(
            "UPDATE tokens SET uses = uses & ~?2 WHERE hash = ?1",
            params![hash, USE_BLIND],
        )?;
        tx.execute("DELETE FROM tokens WHERE hash = ?1 AND uses = 0", [hash])?;
        tx.commit()?;
        Ok(BlindRedeem::Redeemed)
    }

    /// Whether any blind-token key is stored (without reading the sealed secrets).
    pub fn has_blind_keys(&self) -> Result<bool, StoreError> {
        Ok(self
            .lock()?
            .query_row("SELECT EXISTS (SELECT 1 FROM blind_keys)", [], |r| r.get(0))?)
    }

    /// Every stored blind-token key.
    pub fn blind_keys(&self) -> Result<Vec<BlindKeyRow>, StoreError> {
        let conn = self.lock()?;
        let mut stmt = conn.prepare(
            "SELECT fact, floor, month, token_key_id, spki, sealed, created, not_after FROM blind_keys ORDER BY month, fact, floor",
        )?;
        let rows = stmt.query_map([], blind_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The key of one slot.
    pub fn blind_key(&self, fact: &str, floor: u8, month: &str) -> Result<Option<BlindKeyRow>, StoreError> {
        Ok(self
            .lock()?
            .query_row(
                "SELECT fact, floor, month, token_key_id, spki, sealed, created, not_after FROM blind_keys
                 WHERE fact = ?1 AND floor = ?2 AND month = ?3",
                params![fact, floor, month],
                blind_row,
            )
            .optional()?)
    }

    /// Adds a key for its slot unless the slot has one (the UNIQUE slot constraint decides a
    /// race); returns the slot's key as stored.
    pub fn insert_blind_key_once(&self, k: &BlindKeyRow) -> Result<BlindKeyRow, StoreError> {
        {
            let conn = self.lock()?;
            conn.execute(
                "INSERT INTO blind_keys (fact, floor, month, token_key_id, spki, sealed, created, not_after)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (fact, floor, month) DO NOTHING",
                params![
                    k.fact,
                    k.floor,
                    k.month,
                    k.token_key_id,
                    k.spki,
                    k.sealed,
                    sql(k.created),
                    sql(k.not_after)
                ],
            )?;
        }
        self.blind_key(&k.fact, k.floor, &k.month)?
            .ok_or(StoreError::Sqlite(rusqlite::Error::QueryReturnedNoRows))
    }

    /// Deletes (with their sealed secrets) the keys whose month has ended; returns how many.
    pub fn retire_blind_keys(&self, now: u64) -> Result<usize, StoreError> {
        Ok(self
            .lock()?
            .execute("DELETE FROM blind_keys WHERE not_after <= ?1", [sql(now)])?)
    }

    /// Counts a rejected request against an access token; drops it at the limit.
    pub fn token_failed(&self, hash: &[u8]) -> Result<(), StoreError> {
        let conn = self.lock()?;
        conn.execute(
            "UPDATE tokens SET failures = failures + 1 WHERE hash = ?1",
            [hash],
        )?;
        conn.execute(
            "DELETE FROM tokens WHERE hash = ?1 AND failures >= ?2",
            params![hash, MAX_TOKEN_FAILURES],
        )?;
        Ok(())
    }

    /// Stores a c_nonce hash until `expires`.
    pub fn insert_nonce(&self, hash: &[u8], expires: u64) -> Result<(), StoreError> {
        self.lock()?.execute(
            "INSERT INTO nonces (hash, expires) VALUES (?1, ?2)",
            params![hash, sql(expires)],
        )?;
        Ok(())
    }

    /// Consumes a c_nonce; whether it was live.
    pub fn take_nonce(&self, hash: &[u8], now: u64) -> Result<bool, StoreError> {
        let conn = self.lock()?;
        let expires: Option<i64> = conn
            .query_row(
                "DELETE FROM nonces WHERE hash = ?1 RETURNING expires",
                [hash],
                |r| r.get(0),
            )
            .optional()?;
        Ok(expires.is_some_and(|e| e > sql(now)))
    }

    /// Records a `jti` of `provider` until `expires`; false if it was seen before.
    pub fn record_jti(
        &self,
        provider: &str,
        hash: &[u8],
        expires: u64,
        now: u64,
    ) -> Result<bool, StoreError> {
        let conn = self.lock()?;
        conn.execute("DELETE FROM jtis WHERE expires <= ?1", [sql(now)])?;
        let n = conn.execute(
            "INSERT OR IGNORE INTO jtis (provider, hash, expires) VALUES (?1, ?2, ?3)",
            params![provider, hash, sql(expires)],
        )?;
        Ok(n == 1)
    }

    /// Charges one batch to quota `key` at `now` if fewer than `limit` were charged since
    /// `since`; whether it was charged. Entries older than `since` are dropped.
    pub fn charge_quota(&self, key: &[u8], now: u64, since: u64, limit: u32) -> Result<bool, StoreError> {
        let mut conn = self.lock()?;
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.execute(
            "DELETE FROM quota WHERE key = ?1 AND at < ?2",
            params![key, sql(since)],
        )?;
        let used: i64 = tx.query_row("SELECT count(*) FROM quota WHERE key = ?1", [key], |r| r.get(0))?;
        if used >= i64::from(limit) {
            return Ok(false);
        }
        tx.execute(
            "INSERT INTO quota (key, at) VALUES (?1, ?2)",
            params![key, sql(now)],
        )?;
        tx.commit()?;
        Ok(true)
    }

    /// Deletes everything expired: codes, tokens, nonces, `jti` records, and quota entries
    /// before `quota_since`.
    pub fn purge(&self, now: u64, quota_since: u64) -> Result<(), StoreError> {
        let conn = self.lock()?;
        let now = sql(now);
        conn.execute("DELETE FROM codes WHERE expires <= ?1", [now])?;
        conn.execute("DELETE FROM tokens WHERE expires <= ?1", [now])?;
        conn.execute("DELETE FROM nonces WHERE expires <= ?1", [now])?;
        conn.execute("DELETE FROM jtis WHERE expires <= ?1", [now])?;
        conn.execute("DELETE FROM quota WHERE at < ?1", [sql(quota_since)])?;
        conn.execute("DELETE FROM blind_quota WHERE expires <= ?1", [now])?;
        Ok(())
    }

    /// Row counts of the short-lived tables (codes, tokens, nonces), for tests and metrics.
    pub fn live_counts(&self) -> Result<(i64, i64, i64), StoreError> {
        let conn = self.lock()?;
        let count =
            |t: &str| conn.query_row(&format!("SELECT count(*) FROM {t}"), [], |r| r.get::<_, i64>(0));
        Ok((count("codes")?, count("tokens")?, count("nonces")?))
    }
}

fn blind_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<BlindKeyRow> {
    Ok(BlindKeyRow {
        fact: r.get(0)?,
        floor: r.get(1)?,
        month: r.get(2)?,
        token_key_id: r.get(3)?,
        spki: r.get(4)?,
        sealed: r.get(5)?,
        created: r.get::<_, i64>(6)? as u64,
        not_after: r.get::<_, i64>(7)? as u64,
    })
}

fn take(conn: &Connection, query: &str, hash: &[u8], now: u64) -> Result<Option<(String, u64)>, StoreError> {
    let row: Option<(String, i64)> = conn
        .query_row(query, [hash], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    Ok(row.filter(|(_, exp)| *exp > sql(now)).map(|(f, e)| (f, e as u64)))
}

fn migrate(conn: &Connection) -> Result<(), StoreError> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let supported = MIGRATIONS.len() as i64;
    if version > supported {
        return Err(StoreError::TooNew {
            found: version,
            supported,
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        conn.execute_batch(&format!(
            "BEGIN IMMEDIATE; {sql}; PRAGMA user_version = {}; COMMIT;",
            i + 1
        ))?;
    }
    Ok(())
}

/// Creates `path` with mode 0600 if it does not exist, so SQLite never creates it world-readable.
pub(crate) fn create_private(path: &Path) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    opts.open(path).map(drop)
}

/// A time for SQLite: Unix seconds as i64, saturating (a far-future `exp` from outside must not
/// wrap to a negative number and be purged at once).
fn sql(t: u64) -> i64 {
    i64::try_from(t).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_and_single_use() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        assert_eq!(s.schema_version().unwrap(), MIGRATIONS.len() as i64);
        drop(s);
        let s = Store::open(dir.path()).unwrap();
        assert_eq!(s.schema_version().unwrap(), 2);
        s.insert_code(b"c", "{}", 100).unwrap();
        assert_eq!(s.take_code(b"c", 50).unwrap(), Some(("{}".into(), 100)));
        assert_eq!(s.take_code(b"c", 50).unwrap(), None);
        s.insert_code(b"d", "{}", 100).unwrap();
        assert_eq!(s.take_code(b"d", 100).unwrap(), None, "expired");
        s.insert_nonce(b"n", 10).unwrap();
        assert!(s.take_nonce(b"n", 5).unwrap());
        assert!(!s.take_nonce(b"n", 5).unwrap());
        assert!(s.record_jti("p", b"j", 100, 0).unwrap());
        assert!(!s.record_jti("p", b"j", 100, 0).unwrap());
        assert!(s.record_jti("q", b"j", 100, 0).unwrap());
        assert!(
            s.record_jti("p", b"j", 300, 200).unwrap(),
            "expired record dropped"
        );
        s.insert_token(b"t", "{}", 100).unwrap();
        for _ in 0..MAX_TOKEN_FAILURES - 1 {
            s.token_failed(b"t").unwrap();
            assert!(s.token_live(b"t", 0).unwrap());
        }
        s.token_failed(b"t").unwrap();
        assert!(!s.token_live(b"t", 0).unwrap());
        assert_eq!(s.take_token(b"t", 0).unwrap(), None);
    }

    #[test]
    fn quota_window() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        for t in 0..3 {
            assert!(s.charge_quota(b"k", 100 + t, 0, 3).unwrap());
        }
        assert!(!s.charge_quota(b"k", 110, 0, 3).unwrap());
        assert!(s.charge_quota(b"other", 110, 0, 3).unwrap());
        assert!(
            s.charge_quota(b"k", 200, 101, 3).unwrap(),
            "oldest left the window"
        );
    }

    #[test]
    fn version_1_databases_migrate_and_keep_their_rows() {
        let dir = tempfile::tempdir().unwrap();
        let c = Connection::open(dir.path().join(Store::FILE)).unwrap();
        c.execute_batch(&format!("{}; PRAGMA user_version = 1;", MIGRATIONS[0]))
            .unwrap();
        c.execute(
            "INSERT INTO tokens (hash, facts, expires) VALUES (x'01', '{}', 100)",
            [],
        )
        .unwrap();
        drop(c);
        let s = Store::open(dir.path()).unwrap();
        assert_eq!(s.schema_version().unwrap(), 2);
        // An old token keeps both uses, each once.
        assert_eq!(
            s.token_facts(b"\x01", 0, USE_BLIND).unwrap().as_deref(),
            Some("{}")
        );
        assert!(s.take_token_use(b"\x01", 0, USE_CREDENTIAL).unwrap().is_some());
        assert!(s.take_token_use(b"\x01", 0, USE_CREDENTIAL).unwrap().is_none());
        assert_eq!(s.live_counts().unwrap().1, 1);
        assert_eq!(s.redeem_blind(b"\x01", 0, &[], 1).unwrap(), BlindRedeem::Redeemed);
        assert_eq!(s.live_counts().unwrap().1, 0, "no use left: the row is gone");
    }

    #[test]
    fn one_blind_key_per_slot_and_quota() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let row = |id: u8| BlindKeyRow {
            fact: "age_over_18".into(),
            floor: 3,
            month: "2026-12".into(),
            token_key_id: vec![id; 32],
            spki: vec![id],
            sealed: vec![id],
            created: 1,
            not_after: 1_798_761_600,
        };
        assert_eq!(
            s.insert_blind_key_once(&row(1)).unwrap().token_key_id,
            vec![1; 32]
        );
        // A second key for the slot loses: the first stays.
        assert_eq!(
            s.insert_blind_key_once(&row(2)).unwrap().token_key_id,
            vec![1; 32]
        );
        let direct = s.lock().unwrap().execute(
            "INSERT INTO blind_keys (fact, floor, month, token_key_id, spki, sealed, created, not_after)
             VALUES ('age_over_18', 3, '2026-12', x'02', x'02', x'02', 1, 1)",
            [],
        );
        assert!(direct.is_err(), "the UNIQUE slot constraint refuses a second key");
        assert_eq!(s.blind_keys().unwrap().len(), 1);
        assert_eq!(s.retire_blind_keys(1_798_761_599).unwrap(), 0);
        assert!(s.has_blind_keys().unwrap());
        assert_eq!(s.retire_blind_keys(1_798_761_600).unwrap(), 1);
        assert!(!s.has_blind_keys().unwrap());

        s.insert_token(b"t", "{}", 100).unwrap();
        let charge = |n| vec![(b"q".to_vec(), n, 1000)];
        assert_eq!(
            s.redeem_blind(b"t", 0, &charge(3), 2).unwrap(),
            BlindRedeem::QuotaExceeded
        );
        assert_eq!(
            s.redeem_blind(b"t", 0, &charge(2), 2).unwrap(),
            BlindRedeem::Redeemed
        );
        assert_eq!(
            s.redeem_blind(b"t", 0, &charge(0), 2).unwrap(),
            BlindRedeem::TokenGone
        );
        s.insert_token(b"u", "{}", 100).unwrap();
        assert_eq!(
            s.redeem_blind(b"u", 0, &charge(1), 2).unwrap(),
            BlindRedeem::QuotaExceeded
        );
        // An expired token is gone, whatever the quota says …
        assert_eq!(
            s.redeem_blind(b"u", 1000, &charge(1), 2).unwrap(),
            BlindRedeem::TokenGone
        );
        // … and the counter goes with its month: at its expiry the full quota is free again.
        s.insert_token(b"v", "{}", 2000).unwrap();
        assert_eq!(
            s.redeem_blind(b"v", 1000, &charge(2), 2).unwrap(),
            BlindRedeem::Redeemed
        );
    }

    #[test]
    fn refuses_newer_schema() {
        let dir = tempfile::tempdir().unwrap();
        drop(Store::open(dir.path()).unwrap());
        let c = Connection::open(dir.path().join(Store::FILE)).unwrap();
        c.execute_batch("PRAGMA user_version = 99").unwrap();
        drop(c);
        assert!(matches!(
            Store::open(dir.path()),
            Err(StoreError::TooNew { found: 99, .. })
        ));
    }
}
