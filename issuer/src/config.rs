//! Issuer configuration: embedded defaults (`IssuerConfig::default()`), a TOML file, or values
//! built in code (the demo configures its own identity provider this way).

use std::path::{Path, PathBuf};

use ageband_blind::profile::{BlindFact, PUBLISH_AHEAD};
use ageband_core::age::{AssuranceLevel, ThresholdSet, check_validity};
use serde::Deserialize;
use serde_json::Value;

/// Largest batch an issuer may be configured for (protocol.md §4.5).
pub const MAX_BATCH: usize = 100;
/// Default batch size.
pub const DEFAULT_BATCH: usize = 30;
/// Default credential validity, days.
pub const DEFAULT_VALIDITY_DAYS: u32 = 90;

/// Why a configuration was refused.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read configuration file {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O problem.
        #[source]
        source: std::io::Error,
    },
    /// The TOML is malformed or has unknown fields.
    #[error("configuration is not valid TOML for the issuer")]
    Toml(#[source] toml::de::Error),
    /// A value is out of range.
    #[error("invalid configuration: {reason}")]
    Invalid {
        /// What is wrong.
        reason: &'static str,
    },
    /// A pinned JWKS file could not be read or parsed.
    #[error("cannot load JWKS for provider {provider}")]
    Jwks {
        /// The provider id.
        provider: String,
        /// What went wrong.
        reason: &'static str,
    },
}

/// Everything an issuer is configured with.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IssuerConfig {
    /// The issuer identifier (`credential_issuer`, `iss`); `None`: `http://<listen address>`.
    pub public_url: Option<String>,
    /// The `age_over_NN` thresholds (1 to 8 distinct values in 1..=99).
    pub thresholds: Vec<u8>,
    /// Credential validity V in days: 30, 60, 90, 180 or 365.
    pub validity_days: u32,
    /// Largest number of credentials per Credential Request (1..=100).
    pub batch_size: usize,
    /// Whether `self` evidence is accepted (at level `asserted`).
    pub self_declaration: bool,
    /// Anti-abuse quota per evidence subject.
    pub quota: QuotaConfig,
    /// Identity providers whose OIDC id_tokens are accepted.
    pub identity_providers: Vec<IdentityProvider>,
    /// Check providers whose assertions are accepted.
    pub check_providers: Vec<CheckProvider>,
    /// Guardian evidence.
    pub guardian: GuardianConfig,
    /// The blind-token profile (blind-profile.md §12.1).
    pub blind: BlindConfig,
}

impl Default for IssuerConfig {
    fn default() -> Self {
        IssuerConfig {
            public_url: None,
            thresholds: vec![13, 16, 18],
            validity_days: DEFAULT_VALIDITY_DAYS,
            batch_size: DEFAULT_BATCH,
            self_declaration: true,
            quota: QuotaConfig::default(),
            identity_providers: Vec::new(),
            check_providers: Vec::new(),
            guardian: GuardianConfig::default(),
            blind: BlindConfig::default(),
        }
    }
}

/// The blind-token profile of the issuer (blind-profile.md §12.1): which facts get keys, how
/// far ahead keys are published, batch size and the per-subject, per-fact, per-month quota.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BlindConfig {
    /// Whether the directory and `POST /blind-token-request` are served.
    pub enabled: bool,
    /// The facts keys are made for (wire names of blind-profile.md §2.1; default all six).
    /// Facts whose threshold is not among the issuer's `thresholds` are left out; with none
    /// left, the profile is off.
    pub facts: Vec<String>,
    /// Months published after the current one (0..=2, default 2 = blind-profile.md §3.2).
    pub months_ahead: u32,
    /// Largest number of token requests per `POST /blind-token-request` (1..=100).
    pub batch_size: usize,
    /// Tokens per evidence subject, fact and month (all floors together), ≥ 1.
    pub tokens_per_month: u32,
}

impl Default for BlindConfig {
    fn default() -> Self {
        BlindConfig {
            enabled: true,
            facts: BlindFact::all().iter().map(|f| f.name()).collect(),
            months_ahead: PUBLISH_AHEAD,
            batch_size: DEFAULT_BATCH,
            tokens_per_month: DEFAULT_BATCH as u32,
        }
    }
}

impl BlindConfig {
    /// The configured facts that parse (all of them once validated), in configuration order.
    pub fn blind_facts(&self) -> Vec<BlindFact> {
        self.facts
            .iter()
            .filter_map(|f| BlindFact::from_name(f))
            .collect()
    }
}

/// At most `batches` issuances per `period_days` per evidence subject (privacy.md §8).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QuotaConfig {
    /// Batches per period.
    pub batches: u32,
    /// The period, days.
    pub period_days: u32,
}

impl Default for QuotaConfig {
    fn default() -> Self {
        QuotaConfig {
            batches: 3,
            period_days: 30,
        }
    }
}

/// A pinned JWK set: inline JSON, or a JSON file (relative paths are relative to the
/// configuration file).
#[derive(Debug, Clone, PartialEq)]
pub enum JwksSource {
    /// `{"keys":[…]}` given inline.
    Inline(Value),
    /// A file holding `{"keys":[…]}`.
    File(PathBuf),
}

/// An OpenID Connect identity provider (eID, bank ID): its id_tokens are `oidc_id_token`
/// evidence with source `official_id`.
#[derive(Debug, Clone, PartialEq)]
pub struct IdentityProvider {
    /// Name used in quota keys; defaults to `issuer`.
    pub id: String,
    /// The provider's `iss`.
    pub issuer: String,
    /// The `aud` it puts in tokens for this issuer (this issuer's client id there).
    pub audience: String,
    /// The provider's keys (RS256, ES256 or EdDSA), pinned.
    pub jwks: JwksSource,
    /// Assurance level of its evidence (default `enhanced`).
    pub level: AssuranceLevel,
    /// Whether the token must carry a live `c_nonce` of this issuer (default true).
    pub require_nonce: bool,
}

impl IdentityProvider {
    /// A provider with the defaults: level `enhanced`, nonce required, `id` = `issuer`.
    pub fn new(issuer: &str, audience: &str, jwks: JwksSource) -> Self {
        IdentityProvider {
            id: issuer.to_owned(),
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            jwks,
            level: AssuranceLevel::Enhanced,
            require_nonce: true,
        }
    }
}

/// A third-party check provider (document scan, bank, operator, age estimation): its JWTs are
/// `check_assertion` evidence with `aud` = this issuer's `credential_issuer`.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckProvider {
    /// Name used in quota and `jti` records; defaults to `issuer`.
    pub id: String,
    /// The provider's `iss`.
    pub issuer: String,
    /// The provider's keys, pinned.
    pub jwks: JwksSource,
    /// Assurance level of its evidence (default `standard`).
    pub level: AssuranceLevel,
}

impl CheckProvider {
    /// A provider at level `standard`, `id` = `issuer`.
    pub fn new(issuer: &str, jwks: JwksSource) -> Self {
        CheckProvider {
            id: issuer.to_owned(),
            issuer: issuer.to_owned(),
            jwks,
            level: AssuranceLevel::Standard,
        }
    }
}

/// Guardian evidence: an adult's ageband presentation vouching for a child's birth date.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GuardianConfig {
    /// Whether `guardian` evidence is accepted.
    pub enabled: bool,
    /// Lowest accepted `assurance` of the adult's credential (default `standard`).
    pub min_adult_level: AssuranceLevel,
    /// Whether this issuer's own credentials count as adult credentials (default true).
    pub trust_self: bool,
    /// Child batches per adult credential (holder key) and quota period (default 1).
    pub batches_per_adult_credential: u32,
    /// Other ageband issuers whose adult credentials are accepted.
    pub trusted_issuers: Vec<TrustedIssuer>,
}

impl Default for GuardianConfig {
    fn default() -> Self {
        GuardianConfig {
            enabled: true,
            min_adult_level: AssuranceLevel::Standard,
            trust_self: true,
            batches_per_adult_credential: 1,
            trusted_issuers: Vec::new(),
        }
    }
}

/// Another ageband issuer and its pinned ES256 keys.
#[derive(Debug, Clone, PartialEq)]
pub struct TrustedIssuer {
    /// Its `iss`.
    pub issuer: String,
    /// Its keys.
    pub jwks: JwksSource,
}

impl IssuerConfig {
    /// Parses a TOML configuration; relative JWKS paths are resolved against `base`.
    pub fn from_toml(text: &str, base: &Path) -> Result<Self, ConfigError> {
        let mut c: IssuerConfig = toml::from_str(text).map_err(ConfigError::Toml)?;
        for p in &mut c.identity_providers {
            resolve(&mut p.jwks, base);
        }
        for p in &mut c.check_providers {
            resolve(&mut p.jwks, base);
        }
        for t in &mut c.guardian.trusted_issuers {
            resolve(&mut t.jwks, base);
        }
        c.validate()?;
        Ok(c)
    }

    /// Reads and parses a TOML configuration file.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_toml(&text, path.parent().unwrap_or(Path::new(".")))
    }

    /// Checks ranges (thresholds, validity, batch size, quota, URLs).
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |reason| Err(ConfigError::Invalid { reason });
        if ThresholdSet::new(&self.thresholds).is_err() {
            return invalid("thresholds: 1 to 8 distinct values in 1..=99");
        }
        if check_validity(self.validity_days).is_err() {
            return invalid("validity_days: one of 30, 60, 90, 180, 365");
        }
        if !(1..=MAX_BATCH).contains(&self.batch_size) {
            return invalid("batch_size: 1..=100");
        }
        if self.quota.batches == 0 || self.quota.period_days == 0 {
            return invalid("quota: batches and period_days must be positive");
        }
        if let Some(url) = &self.public_url
            && crate::normalize_issuer_url(url).is_none()
        {
            return invalid("public_url: an http(s) URL without query or fragment");
        }
        let b = &self.blind;
        let facts = b.blind_facts();
        let distinct: std::collections::HashSet<_> = facts.iter().collect();
        if facts.is_empty() || facts.len() != b.facts.len() || distinct.len() != facts.len() {
            return invalid("blind.facts: 1 to 6 distinct fact names (age_over_13 … age_under_18)");
        }
        if b.months_ahead > PUBLISH_AHEAD {
            return invalid("blind.months_ahead: 0..=2");
        }
        if !(1..=MAX_BATCH).contains(&b.batch_size) {
            return invalid("blind.batch_size: 1..=100");
        }
        if b.tokens_per_month == 0 {
            return invalid("blind.tokens_per_month must be positive");
        }
        let mut ids = std::collections::HashSet::new();
        for (id, iss) in self
            .identity_providers
            .iter()
            .map(|p| (&p.id, &p.issuer))
            .chain(self.check_providers.iter().map(|p| (&p.id, &p.issuer)))
        {
            if id.is_empty() || iss.is_empty() || id == crate::evidence::GUARDIAN_PROVIDER {
                return invalid("providers: non-empty id and issuer; `guardian` is reserved");
            }
            if !ids.insert(id) {
                return invalid("providers: ids must be distinct");
            }
        }
        Ok(())
    }

    /// The validated threshold set.
    pub fn threshold_set(&self) -> ThresholdSet {
        ThresholdSet::new(&self.thresholds).unwrap_or_else(|_| ThresholdSet::default_set())
    }
}

impl JwksSource {
    /// The JWK set as JSON.
    pub fn load(&self, provider: &str) -> Result<Value, ConfigError> {
        let err = |reason| ConfigError::Jwks {
            provider: provider.to_owned(),
            reason,
        };
        match self {
            JwksSource::Inline(v) => Ok(v.clone()),
            JwksSource::File(path) => {
                let bytes = std::fs::read(path).map_err(|_| err("file unreadable"))?;
                serde_json::from_slice(&bytes).map_err(|_| err("file is not JSON"))
            }
        }
    }
}

fn resolve(src: &mut JwksSource, base: &Path) {
    if let JwksSource::File(p) = src
        && p.is_relative()
    {
        *p = base.join(&*p);
    }
}

// TOML shapes: `jwks = { keys = [...] }` inline, or `jwks_file = "path"`.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIdentityProvider {
    id: Option<String>,
    issuer: String,
    audience: String,
    jwks: Option<Value>,
    jwks_file: Option<PathBuf>,
    level: Option<AssuranceLevel>,
    require_nonce: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCheckProvider {
    id: Option<String>,
    issuer: String,
    jwks: Option<Value>,
    jwks_file: Option<PathBuf>,
    level: Option<AssuranceLevel>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTrustedIssuer {
    issuer: String,
    jwks: Option<Value>,
    jwks_file: Option<PathBuf>,
}

fn jwks_source<E: serde::de::Error>(inline: Option<Value>, file: Option<PathBuf>) -> Result<JwksSource, E> {
    match (inline, file) {
        (Some(v), None) => Ok(JwksSource::Inline(v)),
        (None, Some(p)) => Ok(JwksSource::File(p)),
        _ => Err(E::custom("exactly one of `jwks` and `jwks_file` is required")),
    }
}

impl<'de> Deserialize<'de> for IdentityProvider {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let r = RawIdentityProvider::deserialize(d)?;
        Ok(IdentityProvider {
            id: r.id.unwrap_or_else(|| r.issuer.clone()),
            jwks: jwks_source(r.jwks, r.jwks_file)?,
            issuer: r.issuer,
            audience: r.audience,
            level: r.level.unwrap_or(AssuranceLevel::Enhanced),
            require_nonce: r.require_nonce.unwrap_or(true),
        })
    }
}

impl<'de> Deserialize<'de> for CheckProvider {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let r = RawCheckProvider::deserialize(d)?;
        Ok(CheckProvider {
            id: r.id.unwrap_or_else(|| r.issuer.clone()),
            jwks: jwks_source(r.jwks, r.jwks_file)?,
            issuer: r.issuer,
            level: r.level.unwrap_or(AssuranceLevel::Standard),
        })
    }
}

impl<'de> Deserialize<'de> for TrustedIssuer {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let r = RawTrustedIssuer::deserialize(d)?;
        Ok(TrustedIssuer {
            jwks: jwks_source(r.jwks, r.jwks_file)?,
            issuer: r.issuer,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_toml() {
        let d = IssuerConfig::default();
        d.validate().unwrap();
        assert_eq!(
            (
                d.thresholds.as_slice(),
                d.validity_days,
                d.batch_size,
                d.self_declaration
            ),
            (&[13u8, 16, 18][..], 90, 30, true)
        );
        let text = r#"
            thresholds = [16, 18]
            validity_days = 30
            batch_size = 100
            self_declaration = false
            [quota]
            batches = 5
            period_days = 7
            [[identity_providers]]
            issuer = "https://eid.example"
            audience = "ageband"
            level = "strict"
            require_nonce = false
            jwks_file = "eid.json"
            [[check_providers]]
            id = "scan"
            issuer = "https://scan.example"
            jwks = { keys = [] }
            [guardian]
            min_adult_level = "enhanced"
            [[guardian.trusted_issuers]]
            issuer = "https://other.example"
            jwks_file = "/abs/other.json"
        "#;
        let c = IssuerConfig::from_toml(text, Path::new("/etc/ageband")).unwrap();
        assert_eq!(c.thresholds, vec![16, 18]);
        assert!(!c.self_declaration);
        assert_eq!(
            c.quota,
            QuotaConfig {
                batches: 5,
                period_days: 7
            }
        );
        let p = &c.identity_providers[0];
        assert_eq!(
            (p.id.as_str(), p.level, p.require_nonce),
            ("https://eid.example", AssuranceLevel::Strict, false)
        );
        assert_eq!(p.jwks, JwksSource::File("/etc/ageband/eid.json".into()));
        assert_eq!(c.check_providers[0].level, AssuranceLevel::Standard);
        assert_eq!(
            c.check_providers[0].jwks,
            JwksSource::Inline(serde_json::json!({"keys": []}))
        );
        assert_eq!(c.guardian.min_adult_level, AssuranceLevel::Enhanced);
        assert_eq!(
            c.guardian.trusted_issuers[0].jwks,
            JwksSource::File("/abs/other.json".into())
        );
    }

    #[test]
    fn blind_section() {
        let d = IssuerConfig::default().blind;
        assert!(d.enabled);
        assert_eq!((d.months_ahead, d.batch_size, d.tokens_per_month), (2, 30, 30));
        assert_eq!(d.blind_facts().len(), 6);
        let c = IssuerConfig::from_toml(
            "[blind]\nfacts = [\"age_over_18\", \"age_under_16\"]\nmonths_ahead = 0\nbatch_size = 5\ntokens_per_month = 7\n",
            Path::new("."),
        )
        .unwrap();
        assert_eq!(
            c.blind.blind_facts().iter().map(|f| f.name()).collect::<Vec<_>>(),
            ["age_over_18", "age_under_16"]
        );
        assert_eq!(
            (c.blind.months_ahead, c.blind.batch_size, c.blind.tokens_per_month),
            (0, 5, 7)
        );
    }

    #[test]
    fn jwks_files_relative_to_the_config() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("eid.json"), r#"{"keys":[]}"#).unwrap();
        let cfg = dir.path().join("issuer.toml");
        std::fs::write(
            &cfg,
            "[[identity_providers]]\nissuer = \"https://eid.example\"\naudience = \"a\"\njwks_file = \"eid.json\"\n",
        )
        .unwrap();
        let c = IssuerConfig::from_file(&cfg).unwrap();
        let p = &c.identity_providers[0];
        assert_eq!(p.jwks.load(&p.id).unwrap(), serde_json::json!({"keys": []}));
        assert!(
            JwksSource::File(dir.path().join("missing.json"))
                .load("x")
                .is_err()
        );
        assert!(matches!(
            IssuerConfig::from_file(&dir.path().join("none.toml")),
            Err(ConfigError::Read { .. })
        ));
    }

    #[test]
    fn refusals() {
        let base = Path::new(".");
        for bad in [
            "thresholds = []",
            "thresholds = [13, 13]",
            "thresholds = [100]",
            "validity_days = 91",
            "batch_size = 0",
            "batch_size = 101",
            "unknown = 1",
            "public_url = \"ftp://x\"",
            "public_url = \"https://x/?q=1\"",
            "[[identity_providers]]\nissuer = \"a\"\naudience = \"b\"",
            "[[check_providers]]\nissuer = \"a\"\njwks = {}\njwks_file = \"x\"",
            "[[check_providers]]\nid = \"guardian\"\nissuer = \"a\"\njwks = {}",
            "[[check_providers]]\nid = \"x\"\nissuer = \"a\"\njwks = {}\n[[check_providers]]\nid = \"x\"\nissuer = \"b\"\njwks = {}",
            "[blind]\nfacts = []",
            "[blind]\nfacts = [\"age_over_17\"]",
            "[blind]\nfacts = [\"age_over_18\", \"age_over_18\"]",
            "[blind]\nmonths_ahead = 3",
            "[blind]\nbatch_size = 0",
            "[blind]\ntokens_per_month = 0",
            "[blind]\nunknown = 1",
        ] {
            assert!(IssuerConfig::from_toml(bad, base).is_err(), "{bad}");
        }
    }
}
