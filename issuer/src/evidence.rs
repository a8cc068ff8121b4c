//! Evidence → age facts (DESIGN §5, protocol.md §5, §7.1).
//!
//! Each of the four evidence kinds is checked, turned into [`IssuanceFacts`] (predicates,
//! `iat`/`exp` days, level, source) and discarded. Birth dates only ever live in zeroizing
//! types ([`SecretString`], then core's `BirthDate`); no error or log line carries them.

use std::collections::BTreeMap;
use std::sync::Arc;

use ageband_blind::profile::{
    BlindFact, FactBasis, FactKind, Month, allowed_months, basis_from_birth_date, basis_from_estimate,
};
use ageband_core::age::{
    AgeError, AgeFacts, AssuranceLevel, BirthDate, Date, Source, Threshold, facts_from_birth_date,
    facts_from_estimate,
};
use ageband_core::clock::ManualClock;
use ageband_core::jwk::PublicJwk;
use ageband_core::jws::{HeaderRules, UnverifiedJws};
use ageband_core::profile;
use ageband_core::sdjwt::VerifyError;
use ageband_verifier::{
    AgeQuestion, AgeRequest, TrustList, TrustedIssuer, Verifier, VerifyError as GuardianCheck,
};
use serde::Deserialize;
use serde_json::{Value, json};
use zeroize::Zeroizing;

use crate::Issuer;
use crate::external::{TokenProblem, peek_issuer};
use crate::keys::KeyError;
use crate::store::StoreError;

/// Provider name of guardian evidence in quota keys (privacy.md §8).
pub const GUARDIAN_PROVIDER: &str = "guardian";

/// A string that is zeroized on drop and never printed: birth dates, tokens, presentations.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretString(Zeroizing<String>);

impl SecretString {
    /// Wraps a string.
    pub fn new(s: impl Into<String>) -> Self {
        SecretString(Zeroizing::new(s.into()))
    }
    /// The value; the name says what the caller is handling.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SecretString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretString(<redacted>)")
    }
}

impl<'de> Deserialize<'de> for SecretString {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(SecretString::new)
    }
}

/// One piece of evidence (protocol.md §7.1).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Evidence {
    /// `{"type":"self","birthdate":"YYYY-MM-DD"}`.
    SelfDeclared {
        /// The declared birth date.
        birthdate: SecretString,
    },
    /// `{"type":"oidc_id_token","id_token":"…"}`.
    OidcIdToken {
        /// The id_token.
        id_token: SecretString,
    },
    /// `{"type":"check_assertion","assertion":"…"}`.
    CheckAssertion {
        /// The assertion JWT.
        assertion: SecretString,
    },
    /// `{"type":"guardian","presentation":"…","nonce":"…","child_birthdate":"YYYY-MM-DD"}`.
    Guardian {
        /// The adult's SD-JWT+KB presentation disclosing `age_over_18`.
        presentation: SecretString,
        /// The c_nonce its KB-JWT signs.
        nonce: String,
        /// The child's birth date.
        child_birthdate: SecretString,
    },
}

/// The flat wire form: every member optional, unknown members and duplicates refused.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire {
    #[serde(rename = "type")]
    kind: String,
    birthdate: Option<SecretString>,
    id_token: Option<SecretString>,
    assertion: Option<SecretString>,
    presentation: Option<SecretString>,
    nonce: Option<String>,
    child_birthdate: Option<SecretString>,
}

impl Evidence {
    /// Parses a `POST /evidence` body.
    pub fn from_json(body: &[u8]) -> Result<Self, EvidenceError> {
        let w: Wire = serde_json::from_slice(body).map_err(|_| EvidenceError::Malformed {
            reason: "body must be one evidence object with known members",
        })?;
        let missing = |reason| EvidenceError::Malformed { reason };
        let only = |present: &[bool]| present.iter().filter(|p| **p).count();
        let extra = only(&[
            w.birthdate.is_some(),
            w.id_token.is_some(),
            w.assertion.is_some(),
            w.presentation.is_some(),
            w.nonce.is_some(),
            w.child_birthdate.is_some(),
        ]);
        let ev = match w.kind.as_str() {
            "self" => Evidence::SelfDeclared {
                birthdate: w.birthdate.ok_or(missing("`birthdate` is required"))?,
            },
            "oidc_id_token" => Evidence::OidcIdToken {
                id_token: w.id_token.ok_or(missing("`id_token` is required"))?,
            },
            "check_assertion" => Evidence::CheckAssertion {
                assertion: w.assertion.ok_or(missing("`assertion` is required"))?,
            },
            "guardian" => Evidence::Guardian {
                presentation: w.presentation.ok_or(missing("`presentation` is required"))?,
                nonce: w.nonce.ok_or(missing("`nonce` is required"))?,
                child_birthdate: w
                    .child_birthdate
                    .ok_or(missing("`child_birthdate` is required"))?,
            },
            _ => return Err(EvidenceError::UnknownType),
        };
        let expected = if matches!(ev, Evidence::Guardian { .. }) {
            3
        } else {
            1
        };
        if extra != expected {
            return Err(missing("member not allowed for this evidence type"));
        }
        Ok(ev)
    }

    /// The wire name of the type.
    pub fn kind(&self) -> &'static str {
        match self {
            Evidence::SelfDeclared { .. } => "self",
            Evidence::OidcIdToken { .. } => "oidc_id_token",
            Evidence::CheckAssertion { .. } => "check_assertion",
            Evidence::Guardian { .. } => "guardian",
        }
    }
}

/// What is wrong with a declared or asserted birth date.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BirthDateProblem {
    /// Not a full `YYYY-MM-DD` calendar date (a year alone, `0000-…`, a bad month or day).
    Malformed,
    /// After the evidence day.
    Future,
    /// More than 150 years before the evidence day.
    TooOld,
}

/// Why evidence was refused. No variant carries evidence content.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum EvidenceError {
    /// The body is not one evidence object of the expected shape.
    #[error("malformed evidence: {reason}")]
    Malformed {
        /// What is wrong.
        reason: &'static str,
    },
    /// `type` is none of the four kinds.
    #[error("unknown evidence type")]
    UnknownType,
    /// This evidence type is switched off.
    #[error("evidence type `{kind}` is not accepted by this issuer")]
    Disabled {
        /// The type.
        kind: &'static str,
    },
    /// An outside token (id_token, assertion) failed a check.
    #[error("evidence token rejected: {0}")]
    Token(#[from] TokenProblem),
    /// A required claim is missing or has the wrong type.
    #[error("evidence lacks a valid `{name}` claim")]
    Claim {
        /// The claim.
        name: &'static str,
    },
    /// A birth date is unusable.
    #[error("birth date rejected: {}", match .0 {
        BirthDateProblem::Malformed => "not a full YYYY-MM-DD calendar date",
        BirthDateProblem::Future => "lies in the future",
        BirthDateProblem::TooOld => "implies an age over 150",
    })]
    BirthDate(BirthDateProblem),
    /// An age estimate or margin is out of range.
    #[error("estimated_age must be in 0..=150 and margin in 0..=20")]
    Estimate,
    /// A check assertion must carry exactly one of `birthdate`, `age_over`, `estimated_age`.
    #[error("check assertion must carry exactly one of birthdate, age_over, or estimated_age with margin")]
    AssertionShape,
    /// The assertion's `jti` was seen before.
    #[error("assertion already used")]
    Replayed,
    /// The `nonce` is missing, unknown, expired or consumed.
    #[error("nonce is not a live c_nonce of this issuer")]
    Nonce,
    /// The adult's presentation failed verification.
    #[error("guardian presentation rejected: {}", .0.kind())]
    Presentation(VerifyError),
    /// The adult's presentation does not disclose exactly `age_over_18` = true (it answers
    /// no other question, discloses more, or is not an adult's).
    #[error("guardian presentation must disclose exactly age_over_18 = true")]
    NotAdult,
    /// The adult's credential is below the configured level.
    #[error("guardian credential assurance is below the required level")]
    AdultLevelTooLow,
    /// The declared child is 18 or older.
    #[error("a guardian may only declare a child under 18")]
    ChildNotMinor,
    /// The evidence yields no predicate (protocol.md §5.2).
    #[error("no age predicate can be derived from this evidence")]
    NoPredicate,
    /// The subject used up its quota.
    #[error("issuance quota for this subject is used up for the period")]
    QuotaExceeded,
    /// The issuer has no public URL yet (the server is not started).
    #[error("issuer identifier not configured")]
    NoIssuerUrl,
    /// A server fault.
    #[error("internal error")]
    Internal(#[source] InternalError),
}

/// Server-side failures behind 500 responses.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum InternalError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Keys failed.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// Randomness failed.
    #[error("random number generator failed")]
    Rng,
}

impl From<StoreError> for EvidenceError {
    fn from(e: StoreError) -> Self {
        EvidenceError::Internal(e.into())
    }
}

impl From<KeyError> for EvidenceError {
    fn from(e: KeyError) -> Self {
        EvidenceError::Internal(e.into())
    }
}

/// The blind-token months a holder may get per fact, computed at evidence time
/// (blind-profile.md §3.3, §12.1): only months, never the birth date or the turning day.
pub type BlindMonths = BTreeMap<BlindFact, Vec<Month>>;

/// The facts a pre-authorized code carries; all the issuer keeps of the evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuanceFacts {
    /// Predicates, `iat` and `exp`.
    pub facts: AgeFacts,
    /// `assurance`.
    pub assurance: AssuranceLevel,
    /// `source`.
    pub source: Source,
    /// Blind-token facts and the published months each may be issued for.
    pub blind: BlindMonths,
    /// HMAC tag of the evidence subject for the blind-token quota (never the subject itself);
    /// `None` when the evidence names no subject.
    pub blind_subject: Option<[u8; 32]>,
}

impl IssuanceFacts {
    /// The stored form (JSON): thresholds → bool, `iat`/`exp` as Unix days, level, source.
    pub fn to_stored(&self) -> String {
        let p: BTreeMap<String, bool> = self
            .facts
            .predicates
            .iter()
            .map(|(t, v)| (t.years().to_string(), *v))
            .collect();
        let blind: BTreeMap<String, Vec<String>> = self
            .blind
            .iter()
            .map(|(f, ms)| (f.name(), ms.iter().map(Month::to_string).collect()))
            .collect();
        let mut v = json!({
            "predicates": p,
            "iat": self.facts.iat.to_unix_days(),
            "exp": self.facts.exp.to_unix_days(),
            "assurance": self.assurance,
            "source": self.source,
            "blind": blind,
        });
        if let Some(tag) = &self.blind_subject {
            v["blind_subject"] = ageband_core::b64::encode(tag).into();
        }
        v.to_string()
    }

    /// Reads the stored form.
    pub fn from_stored(s: &str) -> Option<Self> {
        let v: Value = serde_json::from_str(s).ok()?;
        let mut predicates = BTreeMap::new();
        for (k, b) in v.get("predicates")?.as_object()? {
            predicates.insert(Threshold::new(k.parse().ok()?).ok()?, b.as_bool()?);
        }
        let day = |n: &str| v.get(n).and_then(Value::as_i64).and_then(Date::from_unix_days);
        // Rows written before the blind-token profile have neither member: no blind tokens.
        let mut blind = BlindMonths::new();
        if let Some(b) = v.get("blind") {
            for (f, ms) in b.as_object()? {
                let months = ms
                    .as_array()?
                    .iter()
                    .map(|m| m.as_str().and_then(Month::parse))
                    .collect::<Option<Vec<_>>>()?;
                blind.insert(BlindFact::from_name(f)?, months);
            }
        }
        let blind_subject = match v.get("blind_subject") {
            None => None,
            Some(t) => Some(ageband_core::b64::decode_array::<32>(t.as_str()?).ok()?),
        };
        Some(IssuanceFacts {
            blind,
            blind_subject,
            facts: AgeFacts {
                predicates,
                iat: day("iat")?,
                exp: day("exp")?,
            },
            assurance: v.get("assurance")?.as_str()?.parse().ok()?,
            source: v.get("source")?.as_str()?.parse().ok()?,
        })
    }
}

/// Who the evidence is about, for the quota: provider id and subject (never stored raw).
pub(crate) struct QuotaSubject {
    pub provider: String,
    pub subject: Zeroizing<String>,
    pub limit: u32,
}

pub(crate) struct Derived {
    /// `blind_subject` is filled in by `accept_evidence` from `quota`.
    pub facts: IssuanceFacts,
    pub quota: Option<QuotaSubject>,
}

#[derive(Deserialize)]
struct OidcClaims {
    birthdate: Option<SecretString>,
}

#[derive(Deserialize)]
struct CheckClaims {
    birthdate: Option<SecretString>,
    age_over: Option<BTreeMap<String, bool>>,
    estimated_age: Option<f64>,
    margin: Option<f64>,
}

impl Issuer {
    /// Checks evidence and derives its facts on the day of `now` (protocol.md §7.1).
    pub(crate) fn derive(&self, ev: &Evidence, now: u64) -> Result<Derived, EvidenceError> {
        let today = Date::from_unix_seconds(now);
        match ev {
            Evidence::SelfDeclared { birthdate } => {
                if !self.config.self_declaration {
                    return Err(EvidenceError::Disabled { kind: "self" });
                }
                let facts = self.facts_from_declared(birthdate, today)?;
                // Self-declaration gets no blind tokens (blind-profile.md §2.2).
                self.finish(
                    facts,
                    BlindMonths::new(),
                    AssuranceLevel::Asserted,
                    Source::SelfDeclared,
                    None,
                )
            }
            Evidence::OidcIdToken { id_token } => self.oidc(id_token.expose_secret(), now, today),
            Evidence::CheckAssertion { assertion } => self.check(assertion.expose_secret(), now, today),
            Evidence::Guardian {
                presentation,
                nonce,
                child_birthdate,
            } => self.guardian(presentation.expose_secret(), nonce, child_birthdate, now, today),
        }
    }

    fn oidc(&self, token: &str, now: u64, today: Date) -> Result<Derived, EvidenceError> {
        let iss = peek_issuer(token)?;
        let (p, keys) = self
            .identity
            .iter()
            .find(|(p, _)| p.issuer == iss)
            .ok_or(TokenProblem::UntrustedProvider)?;
        let claims = keys.verify::<OidcClaims>(token, &p.issuer, &p.audience, now)?;
        // The nonce is consumed by the first request that uses it, successful or not.
        match &claims.nonce {
            Some(n) => self.consume_nonce(n, now)?,
            None if p.require_nonce => return Err(EvidenceError::Nonce),
            None => {}
        }
        let subject = claims.subject.ok_or(EvidenceError::Claim { name: "sub" })?;
        let birth = claims
            .custom
            .birthdate
            .ok_or(EvidenceError::Claim { name: "birthdate" })?;
        let (facts, blind) = self.facts_and_blind_from_declared(&birth, today)?;
        let quota = QuotaSubject {
            provider: p.id.clone(),
            subject: Zeroizing::new(subject),
            limit: self.config.quota.batches,
        };
        self.finish(facts, blind, p.level, Source::OfficialId, Some(quota))
    }

    fn check(&self, token: &str, now: u64, today: Date) -> Result<Derived, EvidenceError> {
        let iss = peek_issuer(token)?;
        let (p, keys) = self
            .checks
            .iter()
            .find(|(p, _)| p.issuer == iss)
            .ok_or(TokenProblem::UntrustedProvider)?;
        let me = self.credential_issuer().ok_or(EvidenceError::NoIssuerUrl)?;
        let claims = keys.verify::<CheckClaims>(token, &p.issuer, me, now)?;
        let jti = claims
            .jwt_id
            .as_deref()
            .ok_or(EvidenceError::Claim { name: "jti" })?;
        let exp = claims.expires_at.map_or(now, |e| e.as_secs());
        if !self
            .store
            .record_jti(&p.id, &crate::hash(jti), exp.max(now + 1), now)?
        {
            return Err(EvidenceError::Replayed);
        }
        let c = claims.custom;
        let forms = [
            c.birthdate.is_some(),
            c.age_over.is_some(),
            c.estimated_age.is_some() || c.margin.is_some(),
        ];
        if forms.iter().filter(|f| **f).count() != 1 {
            return Err(EvidenceError::AssertionShape);
        }
        let thresholds = self.config.threshold_set();
        let validity = self.config.validity_days;
        let (facts, blind, source) = if let Some(b) = &c.birthdate {
            let (facts, blind) = self.facts_and_blind_from_declared(b, today)?;
            (facts, blind, Source::ThirdPartyCheck)
        } else if let Some(results) = &c.age_over {
            // protocol.md §5.4: true results for configured thresholds; false ones are left
            // out (their turning day is unknown); unreported thresholds are left out.
            let mut predicates = BTreeMap::new();
            for (k, &v) in results {
                let years: u8 = decimal(k).ok_or(EvidenceError::Claim { name: "age_over" })?;
                let t = Threshold::new(years).map_err(|_| EvidenceError::Claim { name: "age_over" })?;
                if v && thresholds.as_slice().contains(&t) {
                    predicates.insert(t, true);
                }
            }
            let facts = AgeFacts {
                predicates,
                iat: today,
                exp: today.add_days(i64::from(validity)),
            };
            // Only true results: over-facts only (no turning day is known).
            let blind = self.blind_months(&facts, today, |f| {
                (f.kind() == FactKind::Over).then_some(FactBasis::Over)
            });
            (facts, blind, Source::ThirdPartyCheck)
        } else {
            let (Some(a), Some(m)) = (c.estimated_age, c.margin) else {
                return Err(EvidenceError::AssertionShape);
            };
            let facts = facts_from_estimate(a, m, today, &thresholds, validity).map_err(|e| match e {
                AgeError::Estimate => EvidenceError::Estimate,
                _ => EvidenceError::Internal(InternalError::Rng),
            })?;
            let blind = self.blind_months(&facts, today, |f| basis_from_estimate(a, m, today, f));
            (facts, blind, Source::AgeEstimation)
        };
        let quota = claims.subject.map(|s| QuotaSubject {
            provider: p.id.clone(),
            subject: Zeroizing::new(s),
            limit: self.config.quota.batches,
        });
        self.finish(facts, blind, p.level, source, quota)
    }

    fn guardian(
        &self,
        presentation: &str,
        nonce: &str,
        child: &SecretString,
        now: u64,
        today: Date,
    ) -> Result<Derived, EvidenceError> {
        if !self.config.guardian.enabled {
            return Err(EvidenceError::Disabled { kind: "guardian" });
        }
        let me = self.credential_issuer().ok_or(EvidenceError::NoIssuerUrl)?;
        self.consume_nonce(nonce, now)?;
        // The adult's presentation is checked by the verifier library, as any platform would:
        // "at least 18?" with this issuer's c_nonce and identifier as nonce and audience, at the
        // configured minimum level, against this issuer's own keys and the trusted issuers.
        let mut by_issuer: BTreeMap<&str, Vec<PublicJwk>> = BTreeMap::new();
        if self.config.guardian.trust_self {
            by_issuer.entry(me).or_default().extend(self.keys.published(now)?);
        }
        for (iss, k) in &self.guardian_trust {
            by_issuer.entry(iss.as_str()).or_default().push(k.clone());
        }
        let min = self.config.guardian.min_adult_level;
        let trust = TrustList::new(
            by_issuer
                .into_iter()
                .map(|(iss, keys)| TrustedIssuer::pinned(iss, keys).min_assurance(min))
                .collect(),
        )
        .map_err(|_| EvidenceError::Presentation(VerifyError::UnknownKey))?;
        let verifier = Verifier::from_trust_list(trust).with_clock(Arc::new(ManualClock::new(now)));
        let eighteen = Threshold::new(18).map_err(|_| EvidenceError::NotAdult)?;
        let request = AgeRequest::with_nonce(AgeQuestion::AtLeast(eighteen), me, nonce)
            .map_err(|_| EvidenceError::Nonce)?
            .min_assurance(min);
        match verifier.verify(presentation, &request) {
            Ok(outcome) if outcome.at_least == Some(18) => {}
            Ok(_) => return Err(EvidenceError::NotAdult),
            Err(GuardianCheck::Credential(e)) => return Err(EvidenceError::Presentation(e)),
            Err(GuardianCheck::AssuranceTooLow { .. }) => return Err(EvidenceError::AdultLevelTooLow),
            Err(_) => return Err(EvidenceError::NotAdult),
        }
        // The quota subject is the adult credential's holder key (privacy.md §8).
        let holder = holder_thumbprint(presentation).ok_or(EvidenceError::NotAdult)?;
        let birth = parse_birth_date(child)?;
        let age = birth
            .expose_secret()
            .age_on(&today)
            .ok_or(EvidenceError::BirthDate(BirthDateProblem::Future))?;
        if age >= 18 {
            return Err(EvidenceError::ChildNotMinor);
        }
        let facts = self.facts_of(&birth, today)?;
        let blind = self.blind_months(&facts, today, |f| {
            basis_from_birth_date(birth.expose_secret(), today, f)
        });
        let quota = QuotaSubject {
            provider: GUARDIAN_PROVIDER.to_owned(),
            subject: Zeroizing::new(holder),
            limit: self.config.guardian.batches_per_adult_credential,
        };
        self.finish(
            facts,
            blind,
            AssuranceLevel::Basic,
            Source::GuardianDeclared,
            Some(quota),
        )
    }

    fn facts_from_declared(&self, s: &SecretString, today: Date) -> Result<AgeFacts, EvidenceError> {
        let birth = parse_birth_date(s)?;
        self.facts_of(&birth, today)
    }

    fn facts_and_blind_from_declared(
        &self,
        s: &SecretString,
        today: Date,
    ) -> Result<(AgeFacts, BlindMonths), EvidenceError> {
        let birth = parse_birth_date(s)?;
        let facts = self.facts_of(&birth, today)?;
        let blind = self.blind_months(&facts, today, |f| {
            basis_from_birth_date(birth.expose_secret(), today, f)
        });
        Ok((facts, blind))
    }

    /// The blind-token months per configured fact (blind-profile.md §3.3): a fact only where the
    /// predicate agrees (over ↔ true, under ↔ false), its months from `basis` (computed here
    /// from the birth date or estimate, which are then dropped), limited to the months this
    /// issuer publishes today. Facts without a month are left out.
    fn blind_months(
        &self,
        facts: &AgeFacts,
        today: Date,
        basis: impl Fn(BlindFact) -> Option<FactBasis>,
    ) -> BlindMonths {
        let mut out = BlindMonths::new();
        if !self.blind_enabled() {
            return out;
        }
        let published = self.blind_published_months(today);
        for fact in self.blind_facts() {
            let agrees = matches!(
                (fact.kind(), facts.predicates.get(&fact.threshold())),
                (FactKind::Over, Some(true)) | (FactKind::Under, Some(false))
            );
            let Some(b) = basis(fact).filter(|_| agrees) else {
                continue;
            };
            let months: Vec<Month> = allowed_months(fact, b, today)
                .into_iter()
                .filter(|m| published.contains(m))
                .collect();
            if !months.is_empty() {
                out.insert(fact, months);
            }
        }
        out
    }

    fn facts_of(&self, birth: &BirthDate, today: Date) -> Result<AgeFacts, EvidenceError> {
        facts_from_birth_date(
            birth,
            today,
            &self.config.threshold_set(),
            self.config.validity_days,
        )
        .map_err(|e| match e {
            AgeError::FutureBirthDate => EvidenceError::BirthDate(BirthDateProblem::Future),
            AgeError::TooOld => EvidenceError::BirthDate(BirthDateProblem::TooOld),
            _ => EvidenceError::BirthDate(BirthDateProblem::Malformed),
        })
    }

    fn finish(
        &self,
        facts: AgeFacts,
        blind: BlindMonths,
        assurance: AssuranceLevel,
        source: Source,
        quota: Option<QuotaSubject>,
    ) -> Result<Derived, EvidenceError> {
        if facts.predicates.is_empty() {
            return Err(EvidenceError::NoPredicate);
        }
        Ok(Derived {
            facts: IssuanceFacts {
                facts,
                assurance,
                source,
                blind,
                blind_subject: None,
            },
            quota,
        })
    }

    pub(crate) fn consume_nonce(&self, nonce: &str, now: u64) -> Result<(), EvidenceError> {
        if self.store.take_nonce(&crate::hash(nonce), now)? {
            Ok(())
        } else {
            Err(EvidenceError::Nonce)
        }
    }
}

/// Parses a birth date strictly: exactly `YYYY-MM-DD`, a real calendar day, year ≥ 1 (OIDC's
/// `0000-MM-DD` "year withheld" form and year-only values are refused).
fn parse_birth_date(s: &SecretString) -> Result<BirthDate, EvidenceError> {
    BirthDate::parse(s.expose_secret()).map_err(|_| EvidenceError::BirthDate(BirthDateProblem::Malformed))
}

fn decimal(s: &str) -> Option<u8> {
    if s.is_empty() || s.len() > 2 || !s.bytes().all(|b| b.is_ascii_digit()) || s.starts_with('0') {
        return None;
    }
    s.parse().ok()
}

/// The RFC 7638 thumbprint of `cnf.jwk` of an already verified presentation.
fn holder_thumbprint(presentation: &str) -> Option<String> {
    let jwt = presentation.split('~').next()?;
    let parsed = UnverifiedJws::parse(
        jwt,
        &HeaderRules {
            typ: profile::TYP,
            jwk_in_header: false,
        },
        8192,
    )
    .ok()?;
    let jwk = PublicJwk::from_json(parsed.payload.get("cnf")?.get("jwk")?).ok()?;
    Some(jwk.thumbprint())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_shapes() {
        assert!(matches!(
            Evidence::from_json(br#"{"type":"self","birthdate":"2010-06-15"}"#),
            Ok(Evidence::SelfDeclared { .. })
        ));
        assert!(matches!(
            Evidence::from_json(
                br#"{"type":"guardian","presentation":"p","nonce":"n","child_birthdate":"2016-02-29"}"#
            ),
            Ok(Evidence::Guardian { .. })
        ));
        assert!(matches!(
            Evidence::from_json(br#"{"type":"passport"}"#),
            Err(EvidenceError::UnknownType)
        ));
        for bad in [
            &br#"{"type":"self"}"#[..],
            br#"{"type":"self","birthdate":"2010-06-15","id_token":"x"}"#,
            br#"{"type":"self","birthdate":"2010-06-15","extra":1}"#,
            br#"{"type":"self","birthdate":"2010-06-15","birthdate":"2010-06-16"}"#,
            br#"{"type":"self","birthdate":20100615}"#,
            br#"["self"]"#,
            b"not json",
            br#"{"type":"guardian","presentation":"p","child_birthdate":"2016-02-29"}"#,
        ] {
            assert!(
                matches!(Evidence::from_json(bad), Err(EvidenceError::Malformed { .. })),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn secrets_do_not_print() {
        let ev = Evidence::from_json(br#"{"type":"self","birthdate":"2010-06-15"}"#).unwrap();
        let dbg = format!("{ev:?}");
        assert!(!dbg.contains("2010"), "{dbg}");
        assert_eq!(
            format!("{:?}", SecretString::new("eyJhbGciOi")),
            "SecretString(<redacted>)"
        );
    }

    #[test]
    fn stored_facts_round_trip() {
        let t = |y| Threshold::new(y).unwrap();
        let d = Date::parse("2026-11-29").unwrap();
        let f = IssuanceFacts {
            facts: AgeFacts {
                predicates: BTreeMap::from([(t(13), true), (t(16), false)]),
                iat: d,
                exp: d.add_days(30),
            },
            assurance: AssuranceLevel::Basic,
            source: Source::GuardianDeclared,
            blind: BlindMonths::from([(
                BlindFact::under(16).unwrap(),
                vec![Month::parse("2026-11").unwrap(), Month::parse("2026-12").unwrap()],
            )]),
            blind_subject: Some([7; 32]),
        };
        let stored = f.to_stored();
        assert!(
            stored.contains(r#""blind":{"age_under_16":["2026-11","2026-12"]}"#),
            "{stored}"
        );
        assert_eq!(IssuanceFacts::from_stored(&stored), Some(f.clone()));
        // A row written before the blind profile reads with no blind facts.
        let old = r#"{"predicates":{"13":true},"iat":20000,"exp":20030,"assurance":"basic","source":"guardian_declared"}"#;
        let read = IssuanceFacts::from_stored(old).unwrap();
        assert!(read.blind.is_empty() && read.blind_subject.is_none());
        assert_eq!(IssuanceFacts::from_stored("{}"), None);
    }

    #[test]
    fn strict_numbers() {
        assert_eq!(decimal("18"), Some(18));
        for bad in ["", "018", "08", "1a", "+1", "100"] {
            assert_eq!(decimal(bad), None, "{bad}");
        }
    }
}
