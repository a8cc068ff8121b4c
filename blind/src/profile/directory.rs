//! The issuer directory (RFC 9578 §4 with ageband's per-key members), its serialization for the
//! issuer and its parsing and validation for wallets and verifiers (blind-profile.md §4).

use std::collections::{BTreeSet, HashSet};

use ageband_core::{b64, json};
use serde_json::{Map, Value, json};

use super::{BlindFact, Floor, Month};
use crate::PublicKey;
use crate::token::{NK, TOKEN_TYPE};

/// Largest accepted directory, bytes (checked before parsing).
pub const MAX_DIRECTORY_BYTES: usize = 256 * 1024;
/// Most distinct months in one directory: the published window of three plus one (§4.3).
pub const MAX_DIRECTORY_MONTHS: usize = 4;
/// Most keys in one directory: 6 facts × 2 floors × [`MAX_DIRECTORY_MONTHS`].
pub const MAX_DIRECTORY_KEYS: usize = 6 * 2 * MAX_DIRECTORY_MONTHS;
/// Longest accepted `issuer-request-uri`, bytes.
pub const MAX_REQUEST_URI: usize = 2048;
/// Largest decoded `token-key` accepted before SPKI parsing, bytes.
const MAX_SPKI: usize = 1024;

const KEY_MEMBERS: [&str; 7] = [
    "token-type",
    "token-key",
    "not-before",
    "ageband-fact",
    "ageband-floor",
    "ageband-month",
    "ageband-not-after",
];

/// Why a directory was refused. Each names the rule of blind-profile.md §4 it breaks.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DirectoryError {
    /// Not strict JSON within the size cap (duplicate member names included).
    #[error("directory is not strict JSON within the cap: {0}")]
    Json(#[from] json::JsonError),
    /// A member is missing, has the wrong JSON type, or is not allowed (§4.1).
    #[error("directory member `{member}` is missing, of the wrong type, or not allowed")]
    Shape {
        /// The member (or `"token-keys[]"` for an entry that is not an object).
        member: String,
    },
    /// `issuer-request-uri` is empty, too long, or neither an http(s) URL nor a path (§4.1).
    #[error("invalid issuer-request-uri")]
    RequestUri,
    /// No keys, more than [`MAX_DIRECTORY_KEYS`] keys, or more than [`MAX_DIRECTORY_MONTHS`]
    /// months (§4.3).
    #[error("directory has no keys, or too many keys or months")]
    Size,
    /// `token-type` is not 2.
    #[error("token-type is not 2")]
    TokenType,
    /// `token-key` is not the base64url of an RFC 9578 §6.5 SPKI of an RSA-2048 key.
    #[error("token-key is not an RSA-2048 id-RSASSA-PSS SubjectPublicKeyInfo")]
    Key,
    /// `ageband-fact` is not one of the six facts.
    #[error("unknown ageband-fact")]
    Fact,
    /// `ageband-floor` is not 2 or 3.
    #[error("ageband-floor is not 2 or 3")]
    Floor,
    /// `ageband-month` is not `YYYY-MM`.
    #[error("ageband-month is not YYYY-MM")]
    Month,
    /// `not-before` or `ageband-not-after` is not exactly the bounds of `ageband-month` (§3.1).
    #[error("not-before / ageband-not-after are not the bounds of ageband-month")]
    Bounds,
    /// Two keys for the same (fact, floor, month): the one-key rule (§4.3).
    #[error("two keys for one (fact, floor, month)")]
    DuplicateSlot,
    /// One key listed twice (the same `token_key_id`).
    #[error("a key is listed twice")]
    DuplicateKey,
    /// A slot's key differs from the one an earlier fetch of the directory showed (§4.4).
    #[error("a (fact, floor, month) slot changed its key")]
    SlotKeyChanged,
}

impl DirectoryError {
    /// A stable snake_case name for logs and metrics.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            DirectoryError::Json(json::JsonError::TooLarge { .. }) => "too_large",
            DirectoryError::Json(json::JsonError::DuplicateMember) => "duplicate_member",
            DirectoryError::Json(_) => "invalid_json",
            DirectoryError::Shape { .. } => "bad_shape",
            DirectoryError::RequestUri => "bad_request_uri",
            DirectoryError::Size => "bad_size",
            DirectoryError::TokenType => "bad_token_type",
            DirectoryError::Key => "bad_key",
            DirectoryError::Fact => "bad_fact",
            DirectoryError::Floor => "bad_floor",
            DirectoryError::Month => "bad_month",
            DirectoryError::Bounds => "bad_bounds",
            DirectoryError::DuplicateSlot => "duplicate_slot",
            DirectoryError::DuplicateKey => "duplicate_key",
            DirectoryError::SlotKeyChanged => "slot_key_changed",
        }
    }
}

/// One key of the directory: what it attests and when it is live.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirectoryKey {
    fact: BlindFact,
    floor: Floor,
    month: Month,
    key: PublicKey,
}

impl DirectoryKey {
    /// A key for the slot (fact, floor, month).
    ///
    /// # Errors
    /// [`DirectoryError::Key`] unless `key` is RSA-2048.
    pub fn new(fact: BlindFact, floor: Floor, month: Month, key: PublicKey) -> Result<Self, DirectoryError> {
        if key.modulus_len() != NK || key.modulus_bits() != 8 * NK {
            return Err(DirectoryError::Key);
        }
        Ok(DirectoryKey {
            fact,
            floor,
            month,
            key,
        })
    }

    /// The fact.
    #[must_use]
    pub fn fact(&self) -> BlindFact {
        self.fact
    }
    /// The floor.
    #[must_use]
    pub fn floor(&self) -> Floor {
        self.floor
    }
    /// The month.
    #[must_use]
    pub fn month(&self) -> Month {
        self.month
    }
    /// The RSA public key.
    #[must_use]
    pub fn public_key(&self) -> &PublicKey {
        &self.key
    }
    /// `token_key_id`, SHA-256 of the SPKI.
    #[must_use]
    pub fn token_key_id(&self) -> [u8; 32] {
        self.key.token_key_id()
    }
    /// `not-before`, Unix seconds.
    #[must_use]
    pub fn not_before(&self) -> u64 {
        self.month.not_before()
    }
    /// `ageband-not-after` (exclusive), Unix seconds.
    #[must_use]
    pub fn not_after(&self) -> u64 {
        self.month.not_after()
    }
    /// Whether the key is live at `now`: `not-before ≤ now < not-after`.
    #[must_use]
    pub fn is_live(&self, now: u64) -> bool {
        self.month.is_live(now)
    }

    fn to_json(&self) -> Value {
        json!({
            "token-type": TOKEN_TYPE,
            "token-key": b64::encode(self.key.to_spki()),
            "not-before": self.not_before(),
            "ageband-fact": self.fact.name(),
            "ageband-floor": self.floor.number(),
            "ageband-month": self.month.to_string(),
            "ageband-not-after": self.not_after(),
        })
    }

    fn from_json(value: &Value) -> Result<Self, DirectoryError> {
        let obj = value.as_object().ok_or_else(|| shape("token-keys[]"))?;
        if let Some(extra) = obj.keys().find(|k| !KEY_MEMBERS.contains(&k.as_str())) {
            return Err(shape(extra));
        }
        let uint = |m: &str| obj.get(m).and_then(Value::as_u64).ok_or_else(|| shape(m));
        let string = |m: &str| obj.get(m).and_then(Value::as_str).ok_or_else(|| shape(m));
        if uint("token-type")? != u64::from(TOKEN_TYPE) {
            return Err(DirectoryError::TokenType);
        }
        let spki = b64::decode(string("token-key")?, MAX_SPKI).map_err(|_| DirectoryError::Key)?;
        let key = PublicKey::from_spki(&spki).map_err(|_| DirectoryError::Key)?;
        let fact = BlindFact::from_name(string("ageband-fact")?).ok_or(DirectoryError::Fact)?;
        let floor = Floor::from_number(uint("ageband-floor")?).ok_or(DirectoryError::Floor)?;
        let month = Month::parse(string("ageband-month")?).ok_or(DirectoryError::Month)?;
        if uint("not-before")? != month.not_before() || uint("ageband-not-after")? != month.not_after() {
            return Err(DirectoryError::Bounds);
        }
        DirectoryKey::new(fact, floor, month, key)
    }
}

fn shape(member: &str) -> DirectoryError {
    DirectoryError::Shape {
        member: member.chars().take(64).collect(),
    }
}

/// A validated issuer directory (blind-profile.md §4): every key well-formed and bounded by its
/// month, at most one key per (fact, floor, month), no key listed twice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Directory {
    issuer_request_uri: String,
    keys: Vec<DirectoryKey>,
}

impl Directory {
    /// Builds and validates a directory (the issuer's side). Keys keep their order.
    ///
    /// # Errors
    /// [`DirectoryError::RequestUri`], [`DirectoryError::Size`], [`DirectoryError::DuplicateSlot`],
    /// [`DirectoryError::DuplicateKey`].
    pub fn new(issuer_request_uri: &str, keys: Vec<DirectoryKey>) -> Result<Self, DirectoryError> {
        check_request_uri(issuer_request_uri)?;
        if keys.is_empty() || keys.len() > MAX_DIRECTORY_KEYS {
            return Err(DirectoryError::Size);
        }
        let months: BTreeSet<Month> = keys.iter().map(|k| k.month).collect();
        if months.len() > MAX_DIRECTORY_MONTHS {
            return Err(DirectoryError::Size);
        }
        let mut slots = HashSet::new();
        let mut ids = HashSet::new();
        for k in &keys {
            if !ids.insert(k.token_key_id()) {
                return Err(DirectoryError::DuplicateKey);
            }
            if !slots.insert((k.fact, k.floor, k.month)) {
                return Err(DirectoryError::DuplicateSlot);
            }
        }
        Ok(Directory {
            issuer_request_uri: issuer_request_uri.to_owned(),
            keys,
        })
    }

    /// Parses and validates a directory (wallets and verifiers): at most
    /// [`MAX_DIRECTORY_BYTES`], strict JSON (no duplicate member names), exactly the members of
    /// blind-profile.md §4.1, then the rules of [`Directory::new`].
    ///
    /// # Errors
    /// Any [`DirectoryError`].
    pub fn parse(bytes: &[u8]) -> Result<Self, DirectoryError> {
        let obj: Map<String, Value> = json::parse_object(bytes, MAX_DIRECTORY_BYTES)?;
        if let Some(extra) = obj
            .keys()
            .find(|k| !["issuer-request-uri", "token-keys"].contains(&k.as_str()))
        {
            return Err(shape(extra));
        }
        let uri = obj
            .get("issuer-request-uri")
            .and_then(Value::as_str)
            .ok_or_else(|| shape("issuer-request-uri"))?;
        let list = obj
            .get("token-keys")
            .and_then(Value::as_array)
            .ok_or_else(|| shape("token-keys"))?;
        if list.is_empty() || list.len() > MAX_DIRECTORY_KEYS {
            return Err(DirectoryError::Size);
        }
        let keys = list
            .iter()
            .map(DirectoryKey::from_json)
            .collect::<Result<Vec<_>, _>>()?;
        Directory::new(uri, keys)
    }

    /// The JSON text (RFC 9578 §4 plus blind-profile.md §4.1), for
    /// `/.well-known/private-token-issuer-directory`. [`Directory::parse`] reads it back equal.
    #[must_use]
    pub fn to_json(&self) -> String {
        json!({
            "issuer-request-uri": self.issuer_request_uri,
            "token-keys": self.keys.iter().map(DirectoryKey::to_json).collect::<Vec<_>>(),
        })
        .to_string()
    }

    /// `issuer-request-uri`.
    #[must_use]
    pub fn issuer_request_uri(&self) -> &str {
        &self.issuer_request_uri
    }

    /// The keys, in directory order.
    #[must_use]
    pub fn keys(&self) -> &[DirectoryKey] {
        &self.keys
    }

    /// The key with this `token_key_id`.
    #[must_use]
    pub fn key_by_id(&self, token_key_id: &[u8; 32]) -> Option<&DirectoryKey> {
        self.keys.iter().find(|k| &k.token_key_id() == token_key_id)
    }

    /// Key pinning (blind-profile.md §4.4): every slot that both `self` and an `earlier` fetch of
    /// the same issuer's directory list has the same key in both. Slots may appear (months
    /// published ahead) and disappear (months retired), never change.
    ///
    /// # Errors
    /// [`DirectoryError::SlotKeyChanged`].
    pub fn check_consistent_with(&self, earlier: &Directory) -> Result<(), DirectoryError> {
        for k in &self.keys {
            let changed = earlier
                .key_for(k.fact, k.floor, k.month)
                .is_some_and(|old| old.token_key_id() != k.token_key_id());
            if changed {
                return Err(DirectoryError::SlotKeyChanged);
            }
        }
        Ok(())
    }

    /// The key of a slot.
    #[must_use]
    pub fn key_for(&self, fact: BlindFact, floor: Floor, month: Month) -> Option<&DirectoryKey> {
        self.keys
            .iter()
            .find(|k| k.fact == fact && k.floor == floor && k.month == month)
    }
}

/// §4.1: printable ASCII, at most [`MAX_REQUEST_URI`] bytes, either an absolute `https://` or
/// `http://` URL (plain HTTP is for loopback; whether to use it is the wallet's policy) or a path
/// relative to the directory (starting with `/`).
fn check_request_uri(uri: &str) -> Result<(), DirectoryError> {
    let absolute = ["https://", "http://"]
        .iter()
        .any(|p| uri.len() > p.len() && uri.starts_with(p));
    let ok = uri.len() <= MAX_REQUEST_URI
        && (absolute || uri.starts_with('/'))
        && uri.bytes().all(|c| c.is_ascii_graphic());
    if ok {
        Ok(())
    } else {
        Err(DirectoryError::RequestUri)
    }
}
