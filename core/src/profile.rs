//! The ageband age attestation: an SD-JWT VC with `vct` = `urn:ageband:age:1`
//! (protocol.md §4), its issuance, its presentation and its verification.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::age::{AgeFacts, AssuranceLevel, Date, Predicate, Source, Threshold};
use crate::jwk::PublicJwk;
use crate::jws::{self, SignError, Signer};
use crate::rng::{Rng, RngError};
use crate::sdjwt::{self, Disclosure, FormatError, IssuerKeys, KbRequirements, VerifyError, VerifyOptions};

/// The credential type.
pub const VCT: &str = "urn:ageband:age:1";
/// The `typ` of the issuer-signed JWT.
pub const TYP: &str = "dc+sd-jwt";
/// The always-visible claims of the profile (protocol.md §4.2); any other undisclosed claim
/// is refused, so that an issuer cannot tag a holder with an extra claim.
pub const VISIBLE_CLAIMS: [&str; 7] = ["iss", "vct", "iat", "exp", "cnf", "assurance", "source"];
/// Clock skew tolerated on `iat`, `exp` and `nbf`, seconds.
pub const SKEW: u64 = 60;
/// Oldest accepted KB-JWT `iat`, seconds before now.
pub const KB_MAX_AGE: u64 = 300;
/// Latest accepted KB-JWT `iat`, seconds after now.
pub const KB_MAX_FUTURE: u64 = 60;

/// Everything one credential of a batch says, apart from its holder key and salts.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct CredentialTemplate {
    /// `iss`.
    pub issuer: String,
    /// Issuance day (`iat` is 00:00 UTC of it).
    pub iat: Date,
    /// Expiry day (`exp` is 00:00 UTC of it).
    pub exp: Date,
    /// `assurance`.
    pub assurance: AssuranceLevel,
    /// `source`.
    pub source: Source,
    /// The selectively disclosable `age_over_NN` predicates.
    pub predicates: BTreeMap<Threshold, bool>,
    /// Pad `_sd` with decoys to this many digests: the issuer's configured threshold count,
    /// so that a left-out predicate does not show (privacy.md).
    pub pad_to: usize,
}

impl CredentialTemplate {
    /// The template for derived facts.
    pub fn from_facts(
        issuer: &str,
        facts: &AgeFacts,
        assurance: AssuranceLevel,
        source: Source,
        pad_to: usize,
    ) -> Self {
        CredentialTemplate {
            issuer: issuer.to_owned(),
            iat: facts.iat,
            exp: facts.exp,
            assurance,
            source,
            predicates: facts.predicates.clone(),
            pad_to,
        }
    }
}

/// Why a credential could not be issued.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IssueError {
    /// The template is unusable (expiry not after issuance, no predicate).
    #[error("credential template invalid: {reason}")]
    Template {
        /// What is wrong.
        reason: &'static str,
    },
    /// The signer failed.
    #[error("signing failed")]
    Sign(#[from] SignError),
    /// The RNG failed.
    #[error(transparent)]
    Rng(#[from] RngError),
}

/// Issues one credential bound to `holder`: `<JWT>~<D1>~…~<Dn>~`.
pub fn issue(
    t: &CredentialTemplate,
    holder: &PublicJwk,
    signer: &dyn Signer,
    rng: &mut dyn Rng,
) -> Result<String, IssueError> {
    if t.exp <= t.iat {
        return Err(IssueError::Template {
            reason: "exp not after iat",
        });
    }
    if t.predicates.is_empty() {
        return Err(IssueError::Template {
            reason: "no predicate",
        });
    }
    let header = json!({"alg": jws::ES256, "typ": TYP, "kid": signer.public_jwk().thumbprint()});
    let mut payload = Map::new();
    payload.insert("iss".into(), Value::String(t.issuer.clone()));
    payload.insert("vct".into(), Value::String(VCT.into()));
    payload.insert("iat".into(), t.iat.unix_seconds().into());
    payload.insert("exp".into(), t.exp.unix_seconds().into());
    payload.insert("cnf".into(), json!({ "jwk": holder.to_json() }));
    payload.insert("_sd_alg".into(), Value::String(sdjwt::SD_ALG.into()));
    payload.insert("assurance".into(), Value::String(t.assurance.as_str().into()));
    payload.insert("source".into(), Value::String(t.source.as_str().into()));
    let mut disclosures = Vec::with_capacity(t.predicates.len());
    for (threshold, &value) in &t.predicates {
        let d = Disclosure::property(rng, &threshold.claim_name(), Value::Bool(value))?;
        sdjwt::embed_property(&mut payload, &d);
        disclosures.push(d);
    }
    sdjwt::finish_sd_arrays(&mut payload, t.pad_to, rng)?;
    Ok(sdjwt::issue(
        signer,
        &header,
        &Value::Object(payload),
        &disclosures,
    )?)
}

/// Why a presentation could not be built.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PresentError {
    /// The stored credential is not a well-formed issued SD-JWT.
    #[error("stored credential malformed")]
    Malformed(#[from] FormatError),
    /// The credential has no disclosure for a predicate the answer needs.
    #[error("credential has no age_over_{threshold} disclosure")]
    MissingPredicate {
        /// The threshold.
        threshold: Threshold,
    },
    /// The holder key failed to sign.
    #[error("holder signing failed")]
    Sign(#[from] SignError),
}

/// Builds a presentation disclosing exactly the predicates for `thresholds`, with a KB-JWT
/// for `audience` and `nonce` at time `iat` (protocol.md §8).
pub fn present(
    issued: &str,
    thresholds: &[Threshold],
    holder: &dyn Signer,
    audience: &str,
    nonce: &str,
    iat: u64,
) -> Result<String, PresentError> {
    let mut found = Vec::with_capacity(thresholds.len());
    let sd_jwt = sdjwt::select_disclosures(issued, |d| {
        let keep = d
            .name()
            .and_then(Threshold::from_claim_name)
            .is_some_and(|t| thresholds.contains(&t));
        if keep {
            found.extend(d.name().and_then(Threshold::from_claim_name));
        }
        keep
    })?;
    if let Some(&threshold) = thresholds.iter().find(|t| !found.contains(t)) {
        return Err(PresentError::MissingPredicate { threshold });
    }
    Ok(sdjwt::attach_kb_jwt(&sd_jwt, holder, audience, nonce, iat)?)
}

/// The predicates an issued credential holds (the holder reads its own disclosures).
pub fn held_predicates(issued: &str) -> Result<BTreeMap<Threshold, bool>, FormatError> {
    let p = sdjwt::Presentation::parse(issued)?;
    let mut out = BTreeMap::new();
    for enc in p.disclosures {
        let d = Disclosure::parse(enc).map_err(|_| FormatError::Malformed {
            reason: "bad disclosure",
        })?;
        if let (Some(t), Some(v)) = (d.name().and_then(Threshold::from_claim_name), d.value().as_bool()) {
            out.insert(t, v);
        }
    }
    Ok(out)
}

/// What a verified ageband presentation says.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct AgeClaims {
    /// `iss`.
    pub issuer: String,
    /// `kid` of the issuer key that signed.
    pub kid: String,
    /// `iat`, Unix seconds.
    pub issued_at: u64,
    /// `exp`, Unix seconds.
    pub expires_at: u64,
    /// `assurance`.
    pub assurance: AssuranceLevel,
    /// `source`.
    pub source: Source,
    /// The disclosed predicates, ascending by threshold.
    pub predicates: Vec<Predicate>,
}

/// Verification parameters for the ageband profile.
#[derive(Debug, Clone, Copy)]
pub struct AgeVerifyOptions<'a> {
    /// The clock, Unix seconds.
    pub now: u64,
    /// Expected KB-JWT `aud`.
    pub audience: &'a str,
    /// Expected KB-JWT `nonce`.
    pub nonce: &'a str,
    /// Expected `vct`.
    pub vct: &'a str,
    /// Skew for `iat`/`exp`.
    pub skew: u64,
    /// KB-JWT `iat` window, seconds before now.
    pub kb_max_age: u64,
    /// KB-JWT `iat` window, seconds after now.
    pub kb_max_future: u64,
}

impl<'a> AgeVerifyOptions<'a> {
    /// The profile's defaults at `now` for a request's audience and nonce.
    pub fn new(now: u64, audience: &'a str, nonce: &'a str) -> Self {
        AgeVerifyOptions {
            now,
            audience,
            nonce,
            vct: VCT,
            skew: SKEW,
            kb_max_age: KB_MAX_AGE,
            kb_max_future: KB_MAX_FUTURE,
        }
    }
}

/// Verifies an ageband presentation: every check of RFC 9901 §7 (see
/// [`sdjwt::verify_presentation`]) plus the profile's claims (protocol.md §6).
pub fn verify(
    input: &str,
    keys: &dyn IssuerKeys,
    opts: &AgeVerifyOptions<'_>,
) -> Result<AgeClaims, VerifyError> {
    let v = sdjwt::verify_presentation(
        input,
        keys,
        &VerifyOptions {
            typ: TYP,
            now: opts.now,
            skew: opts.skew,
            kb: KbRequirements {
                audience: opts.audience,
                nonce: opts.nonce,
                max_age: opts.kb_max_age,
                max_future: opts.kb_max_future,
            },
        },
    )?;
    let c = &v.claims;
    match c.get("vct").and_then(Value::as_str) {
        None => return Err(VerifyError::MissingClaim { name: "vct" }),
        Some(vct) if vct != opts.vct => return Err(VerifyError::WrongVct),
        Some(_) => {}
    }
    let num = |name: &'static str| {
        c.get(name)
            .and_then(Value::as_u64)
            .ok_or(VerifyError::MissingClaim { name })
    };
    let (issued_at, expires_at) = (num("iat")?, num("exp")?);
    if expires_at <= issued_at {
        return Err(VerifyError::InvalidClaim { name: "exp" });
    }
    if c.keys()
        .any(|k| !VISIBLE_CLAIMS.contains(&k.as_str()) && !v.disclosed.contains(k))
    {
        return Err(VerifyError::InvalidClaim {
            name: "unknown claim",
        });
    }
    let text = |name: &'static str| {
        c.get(name)
            .and_then(Value::as_str)
            .ok_or(VerifyError::MissingClaim { name })
    };
    let assurance = text("assurance")?
        .parse()
        .map_err(|_| VerifyError::InvalidClaim { name: "assurance" })?;
    let source = text("source")?
        .parse()
        .map_err(|_| VerifyError::InvalidClaim { name: "source" })?;
    let mut predicates = Vec::with_capacity(v.disclosed.len());
    for name in &v.disclosed {
        let t = Threshold::from_claim_name(name).ok_or(VerifyError::UnexpectedDisclosure)?;
        let value = c[name.as_str()]
            .as_bool()
            .ok_or(VerifyError::InvalidClaim { name: "age_over_NN" })?;
        predicates.push((t, value));
    }
    predicates.sort();
    Ok(AgeClaims {
        issuer: c["iss"].as_str().unwrap_or_default().to_owned(),
        kid: v
            .header
            .get("kid")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        issued_at,
        expires_at,
        assurance,
        source,
        predicates,
    })
}

/// A resolver for one issuer and its keys, each looked up by its thumbprint `kid`.
#[derive(Clone, Debug)]
pub struct SingleIssuer {
    issuer: String,
    keys: Vec<(String, PublicJwk)>,
}

impl SingleIssuer {
    /// Trusts `key` for `issuer`.
    pub fn new(issuer: &str, key: PublicJwk) -> Self {
        Self::with_keys(issuer, vec![key])
    }

    /// Trusts every key of `keys` (a published JWK set) for `issuer`.
    pub fn with_keys(issuer: &str, keys: Vec<PublicJwk>) -> Self {
        SingleIssuer {
            issuer: issuer.to_owned(),
            keys: keys.into_iter().map(|k| (k.thumbprint(), k)).collect(),
        }
    }
}

impl IssuerKeys for SingleIssuer {
    fn issuer_key(&self, kid: Option<&str>) -> Option<(&str, &PublicJwk)> {
        let kid = kid?;
        self.keys
            .iter()
            .find(|(k, _)| k == kid)
            .map(|(_, key)| (self.issuer.as_str(), key))
    }
}
