//! The service's TOML configuration (`ageband verifier serve --config FILE`).
//!
//! ```toml
//! public_url = "https://verifier.example"   # optional; default http://<listen address>
//! api_key = "…"                              # optional; AGEBAND_VERIFIER_API_KEY overrides
//! session_ttl_secs = 300                     # optional
//! max_sessions = 10000                       # optional
//!
//! [[issuers]]
//! id = "https://issuer.example"              # keys fetched from <id>/.well-known/jwt-vc-issuer
//! min_assurance = "basic"                    # optional, default "asserted"
//! sources = ["official_id", "third_party_check"]  # optional, default all
//! blind = true                               # optional: also trust its blind tokens, directory
//!                                            # fetched from <id>/.well-known/private-token-issuer-directory
//! # or: blind_directory_file = "issuer.dir.json"  (a pinned directory, relative to the config file;
//! #     not together with `blind = true` or `blind = false`)
//!
//! [[issuers]]
//! id = "https://other.example"
//! jwks = { keys = [{ kty = "EC", crv = "P-256", x = "…", y = "…" }] }  # pinned keys
//! # or: jwks_file = "other.jwks.json"  (one JWK or a JWKS, relative to the config file)
//! ```

use std::path::{Path, PathBuf};

use serde::Deserialize;

use ageband_blind::profile::{Directory, DirectoryError};
use ageband_core::age::{AssuranceLevel, Source};
use ageband_core::jwk::{JwkError, parse_jwk_or_set};

use crate::trust::{TrustError, TrustList, TrustedIssuer};

/// Why the configuration could not be used.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Not valid TOML of the expected shape. Only the parser's message and the line are kept:
    /// `toml`'s own error quotes the offending line, which may hold the API key.
    #[error("invalid configuration (line {line}): {message}")]
    Toml {
        /// 1-based line of the error (0 when unknown).
        line: usize,
        /// What is wrong, without the quoted source line.
        message: String,
    },
    /// An issuer's pinned keys are not a JWK or JWKS of EC P-256 keys.
    #[error("issuer {issuer}: bad keys")]
    Keys {
        /// The issuer.
        issuer: String,
        /// The cause.
        #[source]
        source: JwkError,
    },
    /// An issuer has both `jwks` and `jwks_file`.
    #[error("issuer {0}: give jwks or jwks_file, not both")]
    BothKeySources(String),
    /// An issuer has both `blind = true` and `blind_directory_file`.
    #[error("issuer {0}: give blind = true or blind_directory_file, not both")]
    BothDirectorySources(String),
    /// An issuer has `blind = false` and a `blind_directory_file`: the file would turn blind
    /// tokens on against the explicit `false`.
    #[error("issuer {0}: blind = false contradicts blind_directory_file; drop one of them")]
    BlindOffWithDirectory(String),
    /// A pinned blind directory is refused (blind-profile.md §4.2–§4.3).
    #[error("issuer {issuer}: blind directory refused ({})", .source.kind())]
    Directory {
        /// The issuer.
        issuer: String,
        /// The cause.
        #[source]
        source: DirectoryError,
    },
    /// The trust list is invalid.
    #[error(transparent)]
    Trust(#[from] TrustError),
}

/// The parsed configuration file.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifierConfig {
    /// Base URL wallets reach the service at.
    pub public_url: Option<String>,
    /// Platform API key.
    pub api_key: Option<String>,
    /// Session lifetime, seconds.
    pub session_ttl_secs: Option<u64>,
    /// Bound on live sessions.
    pub max_sessions: Option<usize>,
    /// Trusted issuers.
    #[serde(default)]
    pub issuers: Vec<IssuerConfig>,
}

/// One `[[issuers]]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerConfig {
    /// The issuer identifier.
    pub id: String,
    /// Pinned keys, inline (one JWK or a JWKS).
    pub jwks: Option<toml::Value>,
    /// Pinned keys from a file (one JWK or a JWKS), relative to the configuration file.
    pub jwks_file: Option<PathBuf>,
    /// Lowest accepted assurance level.
    pub min_assurance: Option<AssuranceLevel>,
    /// Accepted sources.
    pub sources: Option<Vec<Source>>,
    /// Also trust the issuer's blind tokens, with the directory fetched from
    /// `<id>/.well-known/private-token-issuer-directory`.
    pub blind: Option<bool>,
    /// Also trust the issuer's blind tokens under this pinned directory (RFC 9578 §4 JSON,
    /// blind-profile.md §4.1), relative to the configuration file.
    pub blind_directory_file: Option<PathBuf>,
}

impl std::fmt::Debug for VerifierConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifierConfig")
            .field("public_url", &self.public_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("session_ttl_secs", &self.session_ttl_secs)
            .field("max_sessions", &self.max_sessions)
            .field("issuers", &self.issuers)
            .finish()
    }
}

impl VerifierConfig {
    /// Reads and parses `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text)
    }

    /// Parses TOML text.
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Toml {
            line: e
                .span()
                .and_then(|r| text.get(..r.start))
                .map_or(0, |before| before.lines().count().max(1)),
            message: e.message().to_owned(),
        })
    }

    /// The trusted issuers; `jwks_file` paths are relative to `base_dir`.
    pub fn trusted_issuers(&self, base_dir: &Path) -> Result<Vec<TrustedIssuer>, ConfigError> {
        self.issuers.iter().map(|i| i.trusted_issuer(base_dir)).collect()
    }

    /// The trust list of this configuration plus `extra` issuers (e.g. `--trust-issuer`).
    pub fn trust_list(&self, base_dir: &Path, extra: Vec<TrustedIssuer>) -> Result<TrustList, ConfigError> {
        let mut issuers = self.trusted_issuers(base_dir)?;
        issuers.extend(extra);
        Ok(TrustList::new(issuers)?)
    }
}

impl IssuerConfig {
    fn trusted_issuer(&self, base_dir: &Path) -> Result<TrustedIssuer, ConfigError> {
        let keys_err = |source| ConfigError::Keys {
            issuer: self.id.clone(),
            source,
        };
        let pinned = match (&self.jwks, &self.jwks_file) {
            (Some(_), Some(_)) => return Err(ConfigError::BothKeySources(self.id.clone())),
            (Some(v), None) => {
                let json = serde_json::to_value(v).map_err(|_| keys_err(JwkError::EmptySet))?;
                Some(parse_jwk_or_set(&json).map_err(keys_err)?)
            }
            (None, Some(file)) => {
                let path = base_dir.join(file);
                let text = std::fs::read(&path).map_err(|source| ConfigError::Read {
                    path: path.clone(),
                    source,
                })?;
                let json = ageband_core::json::parse_value(&text, 64 * 1024)
                    .map_err(|_| keys_err(JwkError::EmptySet))?;
                Some(parse_jwk_or_set(&json).map_err(keys_err)?)
            }
            (None, None) => None,
        };
        let mut issuer = match pinned {
            Some(keys) => TrustedIssuer::pinned(self.id.clone(), keys),
            None => TrustedIssuer::fetched(self.id.clone()),
        };
        if let Some(level) = self.min_assurance {
            issuer = issuer.min_assurance(level);
        }
        if let Some(sources) = &self.sources {
            issuer = issuer.accept_sources(sources.iter().copied());
        }
        match (self.blind, &self.blind_directory_file) {
            (Some(true), Some(_)) => return Err(ConfigError::BothDirectorySources(self.id.clone())),
            (Some(false), Some(_)) => return Err(ConfigError::BlindOffWithDirectory(self.id.clone())),
            (None, Some(file)) => {
                let path = base_dir.join(file);
                let bytes = std::fs::read(&path).map_err(|source| ConfigError::Read {
                    path: path.clone(),
                    source,
                })?;
                let directory = Directory::parse(&bytes).map_err(|source| ConfigError::Directory {
                    issuer: self.id.clone(),
                    source,
                })?;
                issuer = issuer.with_blind_directory(directory);
            }
            (Some(true), None) => issuer = issuer.fetch_blind_directory(),
            _ => {}
        }
        Ok(issuer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ageband_core::jwk::jwk_set;
    use ageband_core::jws::{RingSigner, Signer};

    #[test]
    fn debug_hides_the_api_key() {
        let cfg =
            VerifierConfig::parse("api_key = \"s3cr3t-key\"\npublic_url = \"https://v.example\"\n").unwrap();
        let shown = format!("{cfg:?}");
        assert!(!shown.contains("s3cr3t-key"), "{shown}");
        assert!(
            shown.contains("<redacted>") && shown.contains("https://v.example"),
            "{shown}"
        );
    }

    #[test]
    fn parses_pinned_fetched_and_policies() {
        let key = RingSigner::generate().unwrap().public_jwk().clone();
        let k = key.to_json();
        let text = format!(
            r#"
public_url = "https://verifier.example"
api_key = "k"
[[issuers]]
id = "https://issuer.example"
min_assurance = "standard"
sources = ["official_id"]
[[issuers]]
id = "https://pinned.example"
jwks = {{ keys = [{{ kty = "EC", crv = "P-256", x = "{}", y = "{}" }}] }}
[[issuers]]
id = "https://file.example"
jwks_file = "keys.json"
"#,
            k["x"].as_str().unwrap(),
            k["y"].as_str().unwrap()
        );
        let cfg = VerifierConfig::parse(&text).unwrap();
        assert_eq!(cfg.api_key.as_deref(), Some("k"));
        let dir = std::env::temp_dir().join(format!("ageband-verifier-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let other = RingSigner::generate().unwrap().public_jwk().clone();
        std::fs::write(
            dir.join("keys.json"),
            jwk_set(std::slice::from_ref(&other)).to_string(),
        )
        .unwrap();
        let list = cfg.trust_list(&dir, vec![]).unwrap();
        let a = list.issuer("https://issuer.example").unwrap();
        assert!(a.is_fetched() && a.minimum() == AssuranceLevel::Standard);
        assert!(a.accepts(Source::OfficialId) && !a.accepts(Source::SelfDeclared));
        assert_eq!(list.issuer("https://pinned.example").unwrap().keys(), &[key]);
        assert_eq!(list.issuer("https://file.example").unwrap().keys(), &[other]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn blind_directories_fetched_or_pinned() {
        let vector: serde_json::Value = serde_json::from_str(include_str!(
            "../../../specs/vectors/blind-session/001_ok_at_least_18.json"
        ))
        .unwrap();
        let dir_text = vector["issuers"][0]["directory"].as_str().unwrap();
        let dir = std::env::temp_dir().join(format!("ageband-verifier-blind-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("issuer.dir.json"), dir_text).unwrap();
        std::fs::write(dir.join("bad.dir.json"), "{}").unwrap();
        let cfg = VerifierConfig::parse(
            r#"
[[issuers]]
id = "https://issuer.example"
blind = true
[[issuers]]
id = "https://pinned.example"
blind_directory_file = "issuer.dir.json"
[[issuers]]
id = "https://sdjwt.example"
blind = false
"#,
        )
        .unwrap();
        let list = cfg.trust_list(&dir, vec![]).unwrap();
        let fetched = list.issuer("https://issuer.example").unwrap();
        assert!(fetched.fetches_blind_directory() && fetched.blind_issuer().is_none());
        let pinned = list.issuer("https://pinned.example").unwrap();
        assert!(!pinned.fetches_blind_directory());
        assert_eq!(pinned.blind_issuer().unwrap().name(), "pinned.example");
        assert!(!list.issuer("https://sdjwt.example").unwrap().uses_blind());
        let both = VerifierConfig::parse(
            "[[issuers]]\nid = \"https://i.example\"\nblind = true\nblind_directory_file = \"issuer.dir.json\"",
        )
        .unwrap();
        assert!(matches!(
            both.trust_list(&dir, vec![]),
            Err(ConfigError::BothDirectorySources(_))
        ));
        // blind = false with a directory file would turn blind tokens on: refused.
        let off = VerifierConfig::parse(
            "[[issuers]]\nid = \"https://i.example\"\nblind = false\nblind_directory_file = \"issuer.dir.json\"",
        )
        .unwrap();
        assert!(matches!(
            off.trust_list(&dir, vec![]),
            Err(ConfigError::BlindOffWithDirectory(_))
        ));
        let bad = VerifierConfig::parse(
            "[[issuers]]\nid = \"https://i.example\"\nblind_directory_file = \"bad.dir.json\"",
        )
        .unwrap();
        assert!(matches!(
            bad.trust_list(&dir, vec![]),
            Err(ConfigError::Directory { .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn refuses_bad_configs() {
        assert!(matches!(
            VerifierConfig::parse("unknown = 1"),
            Err(ConfigError::Toml { line: 1, .. })
        ));
        assert!(matches!(
            VerifierConfig::parse("[[issuers]]\nid = \"x\"\nmin_assurance = \"super\""),
            Err(ConfigError::Toml { .. })
        ));
        // A malformed line holding the API key: the error names the line, never the key.
        let e = VerifierConfig::parse("public_url = \"https://v.example\"\napi_key = \"s3cret-key-1234")
            .unwrap_err();
        let shown = format!("{e} {e:?}");
        assert!(matches!(e, ConfigError::Toml { line: 2, .. }), "{shown}");
        assert!(!shown.contains("s3cret"), "{shown}");
        let http = VerifierConfig::parse("[[issuers]]\nid = \"http://issuer.example\"").unwrap();
        assert!(matches!(
            http.trust_list(Path::new("."), vec![]),
            Err(ConfigError::Trust(TrustError::NotHttps))
        ));
        let bad_key =
            VerifierConfig::parse("[[issuers]]\nid = \"https://i.example\"\njwks = { kty = \"EC\" }")
                .unwrap();
        assert!(matches!(
            bad_key.trust_list(Path::new("."), vec![]),
            Err(ConfigError::Keys { .. })
        ));
    }
}
