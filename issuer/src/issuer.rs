//! The issuer engine behind the HTTP service: evidence → code → access token → credentials
//! (protocol.md §7), with no HTTP types in it, so the demo and tests can drive it directly.

use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use ageband_core::age::Threshold;
use ageband_core::json;
use ageband_core::jwk::{PublicJwk, jwk_set, parse_jwk_or_set};
use ageband_core::jws::{HeaderRules, UnverifiedJws};
use ageband_core::profile::{self, CredentialTemplate};
use ageband_core::rng::{OsRng, random_b64};
use serde_json::{Value, json};
use zeroize::Zeroizing;

use crate::blind::{BLIND_SUBJECT_LABEL, BlindKeys};
use crate::config::{ConfigError, IssuerConfig};
use crate::evidence::{Evidence, EvidenceError, InternalError, IssuanceFacts};
use crate::external::ProviderKeys;
use crate::keys::{Kek, KeyError, KeySource, LocalKeys};
use crate::store::{Store, StoreError, USE_CREDENTIAL};
use crate::{Clock, SystemClock, hash, normalize_issuer_url};

/// The one credential configuration (protocol.md §9).
pub const CREDENTIAL_CONFIGURATION_ID: &str = "ageband_age_v1";
/// The pre-authorized code grant type.
pub const PRE_AUTHORIZED_GRANT: &str = "urn:ietf:params:oauth:grant-type:pre-authorized_code";
/// The `typ` of an OpenID4VCI key proof.
pub const PROOF_TYP: &str = "openid4vci-proof+jwt";
/// Lifetime of codes, the facts under them, access tokens and c_nonces, seconds.
pub const CODE_LIFETIME: u64 = 300;
/// Accepted distance of a proof's `iat` from now, seconds.
pub const PROOF_IAT_WINDOW: u64 = 300;
/// Largest `POST /credential` body (protocol.md §2.3).
pub const MAX_CREDENTIAL_BODY: usize = 128 * 1024;
/// Largest body of the other endpoints.
pub const MAX_BODY: usize = 32 * 1024;
/// Domain separation of quota keys (privacy.md §8).
const QUOTA_LABEL: &[u8] = b"ageband-quota-v1";

/// Why the issuer could not be opened.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The store could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Keys or the KEK failed.
    #[error(transparent)]
    Key(#[from] KeyError),
}

/// Injected parts; `Default` gives the KEK from the environment or key file, the system
/// clock and locally stored keys.
#[derive(Default)]
pub struct OpenOptions {
    /// The key-encryption key (default: [`Kek::load`]).
    pub kek: Option<Kek>,
    /// The clock (default: system time).
    pub clock: Option<Arc<dyn Clock>>,
    /// A replacement key source, e.g. a hardware key (default: [`LocalKeys`]).
    pub key_source: Option<Arc<dyn KeySource>>,
}

/// Answer to `POST /evidence`. `Debug` does not print the code: it is a bearer secret.
#[derive(Clone, PartialEq, Eq, serde::Serialize)]
pub struct CredentialOffer {
    /// The single-use code.
    pub pre_authorized_code: String,
    /// Seconds until it expires.
    pub expires_in: u64,
    /// The OpenID4VCI credential offer.
    pub credential_offer: Value,
}

/// Answer to `POST /token`. `Debug` does not print the token: it is a bearer secret.
#[derive(Clone, PartialEq, Eq, serde::Serialize)]
pub struct TokenResponse {
    /// The single-use access token.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until it expires (the code's deadline).
    pub expires_in: u64,
    /// The blind-token slots this access token may request at `POST /blind-token-request`
    /// (blind-profile.md §12.3); absent when there are none (profile off, self-declared
    /// evidence, no fact).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ageband_blind_slots: Vec<BlindSlot>,
}

/// One (fact, floor, month) a holder may request blind tokens for (blind-profile.md §12.3).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct BlindSlot {
    /// The fact name, e.g. `age_over_13`.
    pub fact: String,
    /// The floor, 2 or 3.
    pub floor: u8,
    /// The key's month, `YYYY-MM`.
    pub month: String,
}

impl std::fmt::Debug for CredentialOffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialOffer")
            .field("pre_authorized_code", &"<redacted>")
            .field("expires_in", &self.expires_in)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenResponse")
            .field("access_token", &"<redacted>")
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .field("ageband_blind_slots", &self.ageband_blind_slots)
            .finish()
    }
}

/// Why `POST /token` failed (protocol.md §7.2).
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Missing or repeated parameter, `tx_code`, wrong content.
    #[error("invalid token request: {reason}")]
    InvalidRequest {
        /// What is wrong.
        reason: &'static str,
    },
    /// Not the pre-authorized code grant.
    #[error("only the pre-authorized code grant is supported")]
    UnsupportedGrantType,
    /// Unknown, used or expired code.
    #[error("pre-authorized code is unknown, used or expired")]
    InvalidGrant,
    /// A server fault.
    #[error("internal error")]
    Internal(#[source] InternalError),
}

/// Why `POST /credential` failed (protocol.md §7.4).
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    /// Missing, expired or used access token.
    #[error("access token is missing, expired or used")]
    InvalidToken,
    /// The body is malformed.
    #[error("invalid credential request: {reason}")]
    InvalidRequest {
        /// What is wrong.
        reason: &'static str,
    },
    /// Not `ageband_age_v1`.
    #[error("unknown credential configuration")]
    UnknownConfiguration,
    /// A proof is missing or invalid, too many proofs, or a repeated key.
    #[error("invalid proof: {reason}")]
    InvalidProof {
        /// What is wrong.
        reason: &'static str,
    },
    /// A proof's nonce is missing, unknown, expired or consumed.
    #[error("proof nonce is not a live c_nonce")]
    InvalidNonce,
    /// Issuance refused by policy.
    #[error("credential request denied: {reason}")]
    Denied {
        /// Why.
        reason: &'static str,
    },
    /// A server fault.
    #[error("internal error")]
    Internal(#[source] InternalError),
}

impl From<StoreError> for CredentialError {
    fn from(e: StoreError) -> Self {
        CredentialError::Internal(e.into())
    }
}

impl From<KeyError> for CredentialError {
    fn from(e: KeyError) -> Self {
        CredentialError::Internal(e.into())
    }
}

/// The issuer: configuration, pinned provider keys, store, signing keys and clock.
pub struct Issuer {
    pub(crate) config: IssuerConfig,
    pub(crate) identity: Vec<(crate::config::IdentityProvider, ProviderKeys)>,
    pub(crate) checks: Vec<(crate::config::CheckProvider, ProviderKeys)>,
    pub(crate) guardian_trust: Vec<(String, PublicJwk)>,
    pub(crate) store: Arc<Store>,
    pub(crate) keys: Arc<dyn KeySource>,
    clock: Arc<dyn Clock>,
    quota_key: ring::hmac::Key,
    public_url: OnceLock<String>,
    pub(crate) blind: BlindKeys,
}

impl std::fmt::Debug for Issuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issuer")
            .field("credential_issuer", &self.public_url.get())
            .field("store", &self.store.path())
            .finish_non_exhaustive()
    }
}

impl Issuer {
    /// Opens the issuer on `data_dir` (created if needed) with the KEK from
    /// `AGEBAND_ISSUER_KEK` or `<data_dir>/issuer.kek`, the system clock and local keys; the
    /// first start generates the signing key.
    pub fn open(data_dir: &Path, config: IssuerConfig) -> Result<Self, OpenError> {
        Self::open_with(data_dir, config, OpenOptions::default())
    }

    /// [`Issuer::open`] with injected KEK, clock or key source.
    pub fn open_with(data_dir: &Path, config: IssuerConfig, opts: OpenOptions) -> Result<Self, OpenError> {
        config.validate()?;
        let clock = opts.clock.unwrap_or_else(|| Arc::new(SystemClock));
        let now = clock.now();
        let mut identity = Vec::new();
        for p in &config.identity_providers {
            identity.push((p.clone(), provider_keys(&p.id, &p.jwks.load(&p.id)?)?));
        }
        let mut checks = Vec::new();
        for p in &config.check_providers {
            checks.push((p.clone(), provider_keys(&p.id, &p.jwks.load(&p.id)?)?));
        }
        let mut guardian_trust = Vec::new();
        for t in &config.guardian.trusted_issuers {
            let set = t.jwks.load(&t.issuer)?;
            let keys = parse_jwk_or_set(&set).map_err(|_| ConfigError::Jwks {
                provider: t.issuer.clone(),
                reason: "not a JWK set of ES256 keys",
            })?;
            guardian_trust.extend(keys.into_iter().map(|k| (t.issuer.clone(), k)));
        }
        std::fs::create_dir_all(data_dir).map_err(StoreError::Io)?;
        #[cfg(unix)]
        std::fs::set_permissions(data_dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .map_err(StoreError::Io)?;
        let store = Arc::new(Store::open(data_dir)?);
        let kek = match opts.kek {
            Some(k) => k,
            None => Kek::load(data_dir)?,
        };
        let secret = quota_secret(&store, &kek)?;
        let quota_key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &secret);
        let blind = BlindKeys::new(store.clone(), kek.duplicate());
        let keys: Arc<dyn KeySource> = match opts.key_source {
            Some(k) => k,
            None => Arc::new(LocalKeys::open(store.clone(), kek, now)?),
        };
        let issuer = Issuer {
            public_url: OnceLock::new(),
            config,
            identity,
            checks,
            guardian_trust,
            store,
            keys,
            clock,
            quota_key,
            blind,
        };
        if let Some(url) = issuer.config.public_url.clone() {
            issuer.set_public_url(&url)?;
        }
        Ok(issuer)
    }

    /// Sets the issuer identifier once (the server sets `http://<bound address>` when none is
    /// configured). A trailing `/` is dropped.
    pub fn set_public_url(&self, url: &str) -> Result<(), ConfigError> {
        let url = normalize_issuer_url(url).ok_or(ConfigError::Invalid {
            reason: "public_url: an http(s) URL without query or fragment",
        })?;
        match self.public_url.get() {
            Some(existing) if *existing == url => Ok(()),
            Some(_) => Err(ConfigError::Invalid {
                reason: "public_url is already set",
            }),
            None => {
                let _ = self.public_url.set(url);
                Ok(())
            }
        }
    }

    /// The issuer identifier (`credential_issuer`, `iss`), once set.
    pub fn credential_issuer(&self) -> Option<&str> {
        self.public_url.get().map(String::as_str)
    }

    /// The configuration.
    pub fn config(&self) -> &IssuerConfig {
        &self.config
    }

    /// The store (tests inspect it; the server purges it).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The clock's current time.
    pub fn now(&self) -> u64 {
        self.clock.now()
    }

    /// `POST /evidence`: checks the evidence, applies the quota, stores only the derived facts
    /// under a fresh code for 5 minutes (protocol.md §7.1).
    pub fn accept_evidence(&self, evidence: &Evidence) -> Result<CredentialOffer, EvidenceError> {
        let me = self
            .credential_issuer()
            .ok_or(EvidenceError::NoIssuerUrl)?
            .to_owned();
        let now = self.now();
        let mut derived = self.derive(evidence, now)?;
        if let Some(q) = &derived.quota {
            // The blind-token quota's subject tag: an HMAC under the quota secret, distinct
            // from the evidence quota key (blind-profile.md §12.1).
            let tag = self.hmac_parts(
                BLIND_SUBJECT_LABEL,
                &[q.provider.as_bytes(), q.subject.as_bytes()],
            );
            derived.facts.blind_subject = tag.as_slice().try_into().ok();
            let key = self.quota_key(&q.provider, &q.subject);
            let since = now.saturating_sub(u64::from(self.config.quota.period_days) * 86_400);
            if !self.store.charge_quota(&key, now, since, q.limit)? {
                return Err(EvidenceError::QuotaExceeded);
            }
        }
        let code =
            random_b64(&mut OsRng::new(), 16).map_err(|_| EvidenceError::Internal(InternalError::Rng))?;
        self.store
            .insert_code(&hash(&code), &derived.facts.to_stored(), now + CODE_LIFETIME)?;
        tracing::info!(
            evidence = evidence.kind(),
            assurance = derived.facts.assurance.as_str(),
            source = derived.facts.source.as_str(),
            "evidence accepted"
        );
        Ok(CredentialOffer {
            credential_offer: json!({
                "credential_issuer": me,
                "credential_configuration_ids": [CREDENTIAL_CONFIGURATION_ID],
                "grants": {PRE_AUTHORIZED_GRANT: {"pre-authorized_code": code}},
            }),
            pre_authorized_code: code,
            expires_in: CODE_LIFETIME,
        })
    }

    /// `POST /token` with a form-encoded body (protocol.md §7.2).
    pub fn token_request(&self, form: &[u8]) -> Result<TokenResponse, TokenError> {
        let mut grant = None;
        let mut code: Option<Zeroizing<String>> = None;
        for (name, value) in url::form_urlencoded::parse(form) {
            let slot_taken = match name.as_ref() {
                "grant_type" => grant.replace(value.into_owned()).is_some(),
                "pre-authorized_code" => code.replace(Zeroizing::new(value.into_owned())).is_some(),
                "tx_code" | "user_pin" => {
                    return Err(TokenError::InvalidRequest {
                        reason: "tx_code is not used by this issuer",
                    });
                }
                _ => false,
            };
            if slot_taken {
                return Err(TokenError::InvalidRequest {
                    reason: "repeated parameter",
                });
            }
        }
        match grant.as_deref() {
            None => {
                return Err(TokenError::InvalidRequest {
                    reason: "grant_type is required",
                });
            }
            Some(PRE_AUTHORIZED_GRANT) => {}
            Some(_) => return Err(TokenError::UnsupportedGrantType),
        }
        let code = code.ok_or(TokenError::InvalidRequest {
            reason: "pre-authorized_code is required",
        })?;
        self.redeem_code(&code)
    }

    /// Redeems a pre-authorized code for an access token running to the code's deadline.
    pub fn redeem_code(&self, code: &str) -> Result<TokenResponse, TokenError> {
        let now = self.now();
        let internal = |e: StoreError| TokenError::Internal(e.into());
        let (facts, deadline) = self
            .store
            .take_code(&hash(code), now)
            .map_err(internal)?
            .ok_or(TokenError::InvalidGrant)?;
        let token =
            random_b64(&mut OsRng::new(), 16).map_err(|_| TokenError::Internal(InternalError::Rng))?;
        self.store
            .insert_token(&hash(&token), &facts, deadline)
            .map_err(internal)?;
        Ok(TokenResponse {
            access_token: token,
            token_type: "Bearer",
            expires_in: deadline - now,
            ageband_blind_slots: self.blind_slots_for(&facts, now),
        })
    }

    /// `POST /nonce`: a fresh c_nonce, live for 5 minutes, consumed by its first use.
    pub fn new_nonce(&self) -> Result<String, InternalError> {
        let nonce = random_b64(&mut OsRng::new(), 16).map_err(|_| InternalError::Rng)?;
        self.store
            .insert_nonce(&hash(&nonce), self.now() + CODE_LIFETIME)?;
        Ok(nonce)
    }

    /// `POST /credential`: checks the access token and the proofs, then issues one credential
    /// per proof, in proof order (protocol.md §7.4, §7.5).
    pub fn credential_request(
        &self,
        access_token: Option<&str>,
        body: &[u8],
    ) -> Result<Vec<String>, CredentialError> {
        let now = self.now();
        let token_hash = hash(access_token.ok_or(CredentialError::InvalidToken)?);
        if self
            .store
            .token_facts(&token_hash, now, USE_CREDENTIAL)?
            .is_none()
        {
            return Err(CredentialError::InvalidToken);
        }
        match self.check_request(body, now) {
            Ok(holders) => self.issue_batch(&token_hash, &holders, now),
            Err(e) => {
                self.store.token_failed(&token_hash)?;
                Err(e)
            }
        }
    }

    fn check_request(&self, body: &[u8], now: u64) -> Result<Vec<PublicJwk>, CredentialError> {
        let me = self.credential_issuer().ok_or(CredentialError::Denied {
            reason: "issuer identifier not set",
        })?;
        let invalid = |reason| CredentialError::InvalidRequest { reason };
        let obj = json::parse_object(body, MAX_CREDENTIAL_BODY)
            .map_err(|_| invalid("body is not a strict JSON object"))?;
        if obj.contains_key("credential_identifier") {
            return Err(invalid("credential_identifier is not supported"));
        }
        if obj
            .keys()
            .any(|k| !matches!(k.as_str(), "credential_configuration_id" | "proofs"))
        {
            return Err(invalid("unknown member"));
        }
        match obj.get("credential_configuration_id") {
            Some(Value::String(id)) if id == CREDENTIAL_CONFIGURATION_ID => {}
            Some(Value::String(_)) => return Err(CredentialError::UnknownConfiguration),
            _ => return Err(invalid("credential_configuration_id is required")),
        }
        let proof = |reason| CredentialError::InvalidProof { reason };
        let proofs = obj.get("proofs").ok_or(proof("proofs is required"))?;
        let proofs = proofs.as_object().ok_or(proof("proofs must be an object"))?;
        if proofs.len() != 1 {
            return Err(proof("proofs must hold exactly the jwt member"));
        }
        let jwts = proofs
            .get("jwt")
            .and_then(Value::as_array)
            .ok_or(proof("only jwt proofs are supported"))?;
        if jwts.is_empty() {
            return Err(proof("at least one proof is required"));
        }
        if jwts.len() > self.config.batch_size {
            return Err(proof("more proofs than the batch size"));
        }
        let mut keys = Vec::with_capacity(jwts.len());
        let mut seen = HashSet::with_capacity(jwts.len());
        let mut nonces: HashSet<String> = HashSet::new();
        let mut first_error = None;
        let rules = HeaderRules {
            typ: PROOF_TYP,
            jwk_in_header: true,
        };
        for jwt in jwts {
            let Some(jwt) = jwt.as_str() else {
                first_error.get_or_insert(proof("a proof is not a string"));
                continue;
            };
            let parsed = match UnverifiedJws::parse(jwt, &rules, 4096) {
                Ok(p) => p,
                Err(_) => {
                    first_error.get_or_insert(proof("a proof is not a valid openid4vci-proof+jwt"));
                    continue;
                }
            };
            match parsed.payload.get("nonce") {
                Some(Value::String(n)) => {
                    nonces.insert(n.clone());
                }
                _ => {
                    first_error.get_or_insert(CredentialError::InvalidNonce);
                }
            }
            if let Err(e) = check_proof(&parsed, me, now) {
                first_error.get_or_insert(e);
                continue;
            }
            let Some(key) = parsed.header_jwk() else {
                first_error.get_or_insert(proof("a proof lacks its key"));
                continue;
            };
            if !seen.insert(key.thumbprint()) {
                first_error.get_or_insert(proof("two proofs use the same key"));
                continue;
            }
            keys.push(key);
        }
        // Every nonce named is consumed by this request, whatever its outcome (§7.3).
        let mut all_live = true;
        for n in nonces {
            all_live &= self.store.take_nonce(&hash(&n), now)?;
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        if !all_live {
            return Err(CredentialError::InvalidNonce);
        }
        Ok(keys)
    }

    fn issue_batch(
        &self,
        token_hash: &[u8],
        holders: &[PublicJwk],
        now: u64,
    ) -> Result<Vec<String>, CredentialError> {
        // Consuming the token is the commit point: of concurrent requests exactly one gets it.
        let (stored, _) = self
            .store
            .take_token_use(token_hash, now, USE_CREDENTIAL)?
            .ok_or(CredentialError::InvalidToken)?;
        let facts = IssuanceFacts::from_stored(&stored).ok_or(CredentialError::Denied {
            reason: "stored facts unreadable",
        })?;
        if facts.facts.exp.unix_seconds() <= now {
            return Err(CredentialError::Denied {
                reason: "the facts have expired",
            });
        }
        let me = self.credential_issuer().ok_or(CredentialError::Denied {
            reason: "issuer identifier not set",
        })?;
        let template = CredentialTemplate::from_facts(
            me,
            &facts.facts,
            facts.assurance,
            facts.source,
            self.config.thresholds.len(),
        );
        let signer = self.keys.signer(now)?;
        let kid = signer.public_jwk().thumbprint();
        // Note the expiry before signing, so the key can never be pruned under a live credential.
        self.keys.note_signed(&kid, template.exp.unix_seconds())?;
        let mut rng = OsRng::new();
        let mut out = Vec::with_capacity(holders.len());
        for holder in holders {
            let c = profile::issue(&template, holder, signer.as_ref(), &mut rng)
                .map_err(|_| CredentialError::Internal(KeyError::Generate.into()))?;
            out.push(c);
        }
        tracing::info!(
            count = out.len(),
            assurance = facts.assurance.as_str(),
            source = facts.source.as_str(),
            "credentials issued"
        );
        Ok(out)
    }

    /// `GET /.well-known/openid-credential-issuer` (protocol.md §7.6).
    pub fn credential_issuer_metadata(&self) -> Value {
        let me = self.credential_issuer().unwrap_or_default();
        let claims: Vec<Value> = self
            .config
            .threshold_set()
            .as_slice()
            .iter()
            .map(|t: &Threshold| json!({"path": [t.claim_name()]}))
            .collect();
        let mut meta = json!({
            "credential_issuer": me,
            "credential_endpoint": format!("{me}/credential"),
            "nonce_endpoint": format!("{me}/nonce"),
            "batch_credential_issuance": {"batch_size": self.config.batch_size},
            "credential_configurations_supported": {
                CREDENTIAL_CONFIGURATION_ID: {
                    "format": "dc+sd-jwt",
                    "vct": profile::VCT,
                    "cryptographic_binding_methods_supported": ["jwk"],
                    "credential_signing_alg_values_supported": ["ES256"],
                    "proof_types_supported": {"jwt": {"proof_signing_alg_values_supported": ["ES256"]}},
                    "credential_metadata": {
                        "display": [{"name": "Age attestation", "locale": "en"}],
                        "claims": claims,
                    }
                }
            }
        });
        if let Some(b) = self.blind_metadata() {
            meta["ageband_blind_tokens"] = b;
        }
        meta
    }

    /// `GET /.well-known/oauth-authorization-server` (RFC 8414).
    pub fn authorization_server_metadata(&self) -> Value {
        let me = self.credential_issuer().unwrap_or_default();
        json!({
            "issuer": me,
            "token_endpoint": format!("{me}/token"),
            "grant_types_supported": [PRE_AUTHORIZED_GRANT],
            "pre-authorized_grant_anonymous_access_supported": true,
        })
    }

    /// `GET /.well-known/jwt-vc-issuer`: every published key (protocol.md §7.6).
    pub fn jwt_vc_issuer_metadata(&self) -> Result<Value, KeyError> {
        let keys = self.keys.published(self.now())?;
        Ok(json!({"issuer": self.credential_issuer().unwrap_or_default(), "jwks": jwk_set(&keys)}))
    }

    /// Deletes expired codes, tokens, nonces, `jti` records and old quota entries,
    /// unpublishes retired keys whose credentials have all expired (protocol.md §7.7), and
    /// maintains the blind-token key schedule ([`Issuer::blind_maintain`]).
    pub fn purge(&self) -> Result<(), InternalError> {
        let now = self.now();
        let quota_since = now.saturating_sub(u64::from(self.config.quota.period_days) * 86_400);
        self.store.purge(now, quota_since)?;
        for kid in self.keys.prune_expired(now)? {
            tracing::info!(kid = kid.as_str(), "retired key unpublished");
        }
        self.blind_maintain()
    }

    /// HMAC under the quota secret over `label ‖ (u16 length ‖ part)*`.
    pub(crate) fn hmac_parts(&self, label: &[u8], parts: &[&[u8]]) -> Vec<u8> {
        let mut ctx = ring::hmac::Context::with_key(&self.quota_key);
        ctx.update(label);
        for part in parts {
            let len = u16::try_from(part.len()).unwrap_or(u16::MAX);
            ctx.update(&len.to_be_bytes());
            ctx.update(&part[..usize::from(len)]);
        }
        ctx.sign().as_ref().to_vec()
    }

    fn quota_key(&self, provider: &str, subject: &str) -> Vec<u8> {
        self.hmac_parts(QUOTA_LABEL, &[provider.as_bytes(), subject.as_bytes()])
    }
}

fn check_proof(p: &UnverifiedJws<'_>, me: &str, now: u64) -> Result<(), CredentialError> {
    let proof = |reason| CredentialError::InvalidProof { reason };
    if p.header.contains_key("key_attestation") || p.header.contains_key("trust_chain") {
        return Err(proof("proof header member not allowed"));
    }
    let key = p.header_jwk().ok_or(proof("a proof lacks its key"))?;
    p.verify(&key)
        .map_err(|_| proof("a proof signature does not verify"))?;
    match p.payload.get("aud") {
        Some(Value::String(aud)) if aud == me => {}
        _ => return Err(proof("proof aud must be the credential_issuer")),
    }
    let iat = p
        .payload
        .get("iat")
        .and_then(Value::as_u64)
        .ok_or(proof("proof iat must be an integer"))?;
    if iat.saturating_add(PROOF_IAT_WINDOW) < now || iat > now + PROOF_IAT_WINDOW {
        return Err(proof("proof iat is not fresh"));
    }
    Ok(())
}

fn provider_keys(id: &str, jwks: &Value) -> Result<ProviderKeys, ConfigError> {
    ProviderKeys::from_jwks(jwks).map_err(|reason| ConfigError::Jwks {
        provider: id.to_owned(),
        reason,
    })
}

fn quota_secret(store: &Store, kek: &Kek) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    const NAME: &str = "quota_secret";
    let sealed = match store.meta(NAME)? {
        Some(s) => s,
        None => {
            let mut secret = Zeroizing::new([0u8; 32]);
            ageband_core::rng::Rng::fill(&mut OsRng::new(), &mut *secret).map_err(|_| KeyError::Generate)?;
            store.meta_insert_once(NAME, &kek.seal(NAME, &*secret)?)?
        }
    };
    kek.open(NAME, &sealed)
}
