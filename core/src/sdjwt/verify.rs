//! The verification algorithm (RFC 9901 §7.1, §7.3; protocol.md §6).

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};

use super::{Disclosure, FormatError, KB_TYP, Presentation, SD_ALG, digest};
use crate::json::JsonError;
use crate::jwk::PublicJwk;
use crate::jws::{HeaderRules, JwsError, MAX_JWS, UnverifiedJws};

/// Which JWT of a presentation an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The issuer-signed JWT.
    IssuerJwt,
    /// The key binding JWT.
    KbJwt,
}

/// Why a presentation was rejected. Each variant has a failing vector in `specs/vectors/`.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// Larger than [`MAX_PRESENTATION`]; nothing was decoded.
    #[error("presentation of {len} bytes exceeds the cap of {max}")]
    TooLarge {
        /// Length.
        len: usize,
        /// Cap.
        max: usize,
    },
    /// Not an SD-JWT serialization, or a JWT is not three segments.
    #[error("malformed presentation: {reason}")]
    Malformed {
        /// What is wrong.
        reason: &'static str,
    },
    /// A JWT segment is not canonical base64url.
    #[error("{part:?}: not base64url")]
    Base64 {
        /// The JWT.
        part: Part,
    },
    /// A JWT header or payload is not a strict JSON object.
    #[error("{part:?}: {source}")]
    Json {
        /// The JWT.
        part: Part,
        /// The JSON problem.
        #[source]
        source: JsonError,
    },
    /// `alg` is not ES256.
    #[error("{part:?}: alg not allowed")]
    UnsupportedAlg {
        /// The JWT.
        part: Part,
    },
    /// `typ` is not the expected one.
    #[error("{part:?}: wrong typ")]
    WrongTyp {
        /// The JWT.
        part: Part,
    },
    /// A header member that is never accepted (`crit`, `jku`, `x5u`, `x5c`, `jwk`).
    #[error("{part:?}: header member `{name}` not allowed")]
    ForbiddenHeader {
        /// The JWT.
        part: Part,
        /// The member.
        name: &'static str,
    },
    /// The signature is not 64 bytes or does not verify.
    #[error("{part:?}: signature does not verify")]
    BadSignature {
        /// The JWT.
        part: Part,
    },
    /// No trusted key for the header's `kid`.
    #[error("issuer key not trusted")]
    UnknownKey,
    /// `iss` is not the issuer the key is trusted for.
    #[error("issuer not trusted for this key")]
    UntrustedIssuer,
    /// The credential has expired.
    #[error("credential expired")]
    Expired,
    /// `iat` or `nbf` lies in the future.
    #[error("credential not yet valid")]
    NotYetValid,
    /// A required claim is missing.
    #[error("claim `{name}` missing")]
    MissingClaim {
        /// The claim.
        name: &'static str,
    },
    /// A claim has the wrong type or value.
    #[error("claim `{name}` invalid")]
    InvalidClaim {
        /// The claim.
        name: &'static str,
    },
    /// `_sd_alg` is not `sha-256`.
    #[error("unsupported _sd_alg")]
    UnsupportedSdAlg,
    /// A disclosure does not decode, or is of the wrong kind where it is referenced.
    #[error("disclosure {index} malformed")]
    MalformedDisclosure {
        /// Position in the presentation.
        index: usize,
    },
    /// A disclosure whose digest appears nowhere in the payload.
    #[error("disclosure {index} not referenced")]
    UnreferencedDisclosure {
        /// Position in the presentation.
        index: usize,
    },
    /// A digest appears twice in the payload, or a disclosure is presented twice.
    #[error("duplicate digest")]
    DuplicateDigest,
    /// A disclosure names `_sd` or `...`.
    #[error("disclosure uses a reserved claim name")]
    ReservedClaimName,
    /// A disclosed claim name already exists in its object.
    #[error("disclosed claim collides with an existing claim")]
    ClaimNameCollision,
    /// `vct` is not the expected credential type.
    #[error("unexpected vct")]
    WrongVct,
    /// A disclosed claim that the profile does not define.
    #[error("disclosed claim not defined by the profile")]
    UnexpectedDisclosure,
    /// `cnf.jwk` is missing or not an EC P-256 key.
    #[error("no holder key in cnf.jwk")]
    MissingCnf,
    /// No KB-JWT although the policy requires one.
    #[error("key binding JWT missing")]
    KbMissing,
    /// KB-JWT `aud` differs from the request's audience.
    #[error("key binding audience mismatch")]
    KbAudience,
    /// KB-JWT `nonce` differs from the request's nonce.
    #[error("key binding nonce mismatch")]
    KbNonce,
    /// KB-JWT `iat` missing or outside the accepted window.
    #[error("key binding iat outside the window")]
    KbIat,
    /// KB-JWT `sd_hash` missing or not over the presented bytes.
    #[error("key binding sd_hash mismatch")]
    KbSdHash,
}

impl VerifyError {
    /// The variant name, as vectors spell it in `expect`.
    pub fn kind(&self) -> &'static str {
        match self {
            VerifyError::TooLarge { .. } => "TooLarge",
            VerifyError::Malformed { .. } => "Malformed",
            VerifyError::Base64 { .. } => "Base64",
            VerifyError::Json { .. } => "Json",
            VerifyError::UnsupportedAlg { .. } => "UnsupportedAlg",
            VerifyError::WrongTyp { .. } => "WrongTyp",
            VerifyError::ForbiddenHeader { .. } => "ForbiddenHeader",
            VerifyError::BadSignature { .. } => "BadSignature",
            VerifyError::UnknownKey => "UnknownKey",
            VerifyError::UntrustedIssuer => "UntrustedIssuer",
            VerifyError::Expired => "Expired",
            VerifyError::NotYetValid => "NotYetValid",
            VerifyError::MissingClaim { .. } => "MissingClaim",
            VerifyError::InvalidClaim { .. } => "InvalidClaim",
            VerifyError::UnsupportedSdAlg => "UnsupportedSdAlg",
            VerifyError::MalformedDisclosure { .. } => "MalformedDisclosure",
            VerifyError::UnreferencedDisclosure { .. } => "UnreferencedDisclosure",
            VerifyError::DuplicateDigest => "DuplicateDigest",
            VerifyError::ReservedClaimName => "ReservedClaimName",
            VerifyError::ClaimNameCollision => "ClaimNameCollision",
            VerifyError::WrongVct => "WrongVct",
            VerifyError::UnexpectedDisclosure => "UnexpectedDisclosure",
            VerifyError::MissingCnf => "MissingCnf",
            VerifyError::KbMissing => "KbMissing",
            VerifyError::KbAudience => "KbAudience",
            VerifyError::KbNonce => "KbNonce",
            VerifyError::KbIat => "KbIat",
            VerifyError::KbSdHash => "KbSdHash",
        }
    }

    /// Every kind, for coverage checks.
    pub const KINDS: &'static [&'static str] = &[
        "TooLarge",
        "Malformed",
        "Base64",
        "Json",
        "UnsupportedAlg",
        "WrongTyp",
        "ForbiddenHeader",
        "BadSignature",
        "UnknownKey",
        "UntrustedIssuer",
        "Expired",
        "NotYetValid",
        "MissingClaim",
        "InvalidClaim",
        "UnsupportedSdAlg",
        "MalformedDisclosure",
        "UnreferencedDisclosure",
        "DuplicateDigest",
        "ReservedClaimName",
        "ClaimNameCollision",
        "WrongVct",
        "UnexpectedDisclosure",
        "MissingCnf",
        "KbMissing",
        "KbAudience",
        "KbNonce",
        "KbIat",
        "KbSdHash",
    ];

    fn from_jws(part: Part, e: JwsError) -> Self {
        match e {
            JwsError::TooLarge { len, max } => VerifyError::TooLarge { len, max },
            JwsError::Malformed => VerifyError::Malformed {
                reason: "JWT is not three segments",
            },
            JwsError::Base64 { .. } => VerifyError::Base64 { part },
            JwsError::Json { source, .. } => VerifyError::Json { part, source },
            JwsError::UnsupportedAlg { .. } => VerifyError::UnsupportedAlg { part },
            JwsError::WrongTyp { .. } => VerifyError::WrongTyp { part },
            JwsError::ForbiddenHeader { name } => VerifyError::ForbiddenHeader { part, name },
            JwsError::HeaderJwk => VerifyError::ForbiddenHeader { part, name: "jwk" },
            JwsError::SignatureLength { .. } | JwsError::BadSignature => VerifyError::BadSignature { part },
        }
    }
}

impl From<FormatError> for VerifyError {
    fn from(e: FormatError) -> Self {
        match e {
            FormatError::TooLarge { len, max } => VerifyError::TooLarge { len, max },
            FormatError::Malformed { reason } => VerifyError::Malformed { reason },
        }
    }
}

/// Resolves the issuer's key from the header's `kid`.
pub trait IssuerKeys {
    /// The trusted key for `kid` and the issuer identifier (`iss`) it is trusted for.
    /// `kid` is `None` when the header has none; resolvers for the ageband profile refuse that.
    fn issuer_key(&self, kid: Option<&str>) -> Option<(&str, &PublicJwk)>;
}

/// What the KB-JWT must say.
#[derive(Debug, Clone, Copy)]
pub struct KbRequirements<'a> {
    /// Expected `aud` (the verifier's `client_id`).
    pub audience: &'a str,
    /// Expected `nonce`.
    pub nonce: &'a str,
    /// Oldest accepted `iat`, in seconds before now.
    pub max_age: u64,
    /// Latest accepted `iat`, in seconds after now.
    pub max_future: u64,
}

/// How to verify.
#[derive(Debug, Clone, Copy)]
pub struct VerifyOptions<'a> {
    /// Exact `typ` of the issuer-signed JWT.
    pub typ: &'static str,
    /// The clock, Unix seconds.
    pub now: u64,
    /// Allowed clock skew for `exp`, `iat`, `nbf`, seconds.
    pub skew: u64,
    /// The key binding, always required.
    pub kb: KbRequirements<'a>,
}

/// A verified SD-JWT: the processed claims with the disclosed values in place.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedSdJwt {
    /// The issuer-signed JWT's header.
    pub header: Map<String, Value>,
    /// The processed payload (`_sd`, `_sd_alg` and undisclosed digests removed).
    pub claims: Map<String, Value>,
    /// Names of the top-level claims that came from disclosures.
    pub disclosed: Vec<String>,
    /// The holder key from `cnf.jwk` that signed the KB-JWT.
    pub holder: PublicJwk,
}

/// Verifies a presentation `<JWT>~<D1>~…~<Dn>~<KB-JWT>` (RFC 9901 §7.1 and §7.3).
pub fn verify_presentation(
    input: &str,
    keys: &dyn IssuerKeys,
    opts: &VerifyOptions<'_>,
) -> Result<VerifiedSdJwt, VerifyError> {
    let p = Presentation::parse(input)?;
    let rules = HeaderRules {
        typ: opts.typ,
        jwk_in_header: false,
    };
    let jwt = UnverifiedJws::parse(p.issuer_jwt, &rules, MAX_JWS)
        .map_err(|e| VerifyError::from_jws(Part::IssuerJwt, e))?;
    let (issuer, key) = keys.issuer_key(jwt.kid()).ok_or(VerifyError::UnknownKey)?;
    jwt.verify(key).map_err(|_| VerifyError::BadSignature {
        part: Part::IssuerJwt,
    })?;
    // The signature is checked: take header and payload apart without copying.
    let UnverifiedJws {
        header, mut payload, ..
    } = jwt;
    match payload.get("iss") {
        None => return Err(VerifyError::MissingClaim { name: "iss" }),
        Some(Value::String(iss)) if iss == issuer => {}
        Some(_) => return Err(VerifyError::UntrustedIssuer),
    }
    check_times(&payload, opts)?;
    match payload.get("_sd_alg") {
        None => {}
        Some(Value::String(alg)) if alg == SD_ALG => {}
        Some(_) => return Err(VerifyError::UnsupportedSdAlg),
    }

    // RFC 9901 §7.1 step 3: disclosures, their digests and the payload walk.
    let mut by_digest: HashMap<String, (usize, Disclosure)> = HashMap::with_capacity(p.disclosures.len());
    for (index, enc) in p.disclosures.iter().enumerate() {
        let d = Disclosure::parse(enc).map_err(|_| VerifyError::MalformedDisclosure { index })?;
        if by_digest.insert(digest(enc), (index, d)).is_some() {
            return Err(VerifyError::DuplicateDigest);
        }
    }
    let mut walk = Walk {
        by_digest,
        seen: HashSet::new(),
    };
    let disclosed = walk.object(&mut payload)?;
    if let Some(index) = walk.by_digest.values().map(|(i, _)| *i).min() {
        return Err(VerifyError::UnreferencedDisclosure { index });
    }
    payload.remove("_sd_alg");

    let holder = payload
        .get("cnf")
        .and_then(|c| c.get("jwk"))
        .and_then(|j| PublicJwk::from_json(j).ok())
        .ok_or(VerifyError::MissingCnf)?;
    check_kb(&p, &holder, opts)?;
    Ok(VerifiedSdJwt {
        header,
        claims: payload,
        disclosed,
        holder,
    })
}

fn check_times(payload: &Map<String, Value>, opts: &VerifyOptions<'_>) -> Result<(), VerifyError> {
    let time = |name: &'static str| -> Result<Option<u64>, VerifyError> {
        match payload.get(name) {
            None => Ok(None),
            Some(v) => v.as_u64().map(Some).ok_or(VerifyError::InvalidClaim { name }),
        }
    };
    if let Some(exp) = time("exp")?
        && opts.now >= exp.saturating_add(opts.skew)
    {
        return Err(VerifyError::Expired);
    }
    for name in ["iat", "nbf"] {
        if let Some(t) = time(name)?
            && t > opts.now.saturating_add(opts.skew)
        {
            return Err(VerifyError::NotYetValid);
        }
    }
    Ok(())
}

fn check_kb(p: &Presentation<'_>, holder: &PublicJwk, opts: &VerifyOptions<'_>) -> Result<(), VerifyError> {
    let kb = p.kb_jwt.ok_or(VerifyError::KbMissing)?;
    let rules = HeaderRules {
        typ: KB_TYP,
        jwk_in_header: false,
    };
    let jws = UnverifiedJws::parse(kb, &rules, 1024).map_err(|e| VerifyError::from_jws(Part::KbJwt, e))?;
    jws.verify(holder)
        .map_err(|_| VerifyError::BadSignature { part: Part::KbJwt })?;
    let claim = |name: &str| jws.payload.get(name).and_then(Value::as_str);
    if claim("sd_hash") != Some(digest(p.sd_jwt).as_str()) {
        return Err(VerifyError::KbSdHash);
    }
    if claim("aud") != Some(opts.kb.audience) {
        return Err(VerifyError::KbAudience);
    }
    if claim("nonce") != Some(opts.kb.nonce) {
        return Err(VerifyError::KbNonce);
    }
    let iat = jws
        .payload
        .get("iat")
        .and_then(Value::as_u64)
        .ok_or(VerifyError::KbIat)?;
    let earliest = opts.now.saturating_sub(opts.kb.max_age);
    let latest = opts.now.saturating_add(opts.kb.max_future);
    if iat < earliest || iat > latest {
        return Err(VerifyError::KbIat);
    }
    Ok(())
}

/// The recursive replacement of digests by disclosed values (RFC 9901 §7.1 step 3).
struct Walk {
    by_digest: HashMap<String, (usize, Disclosure)>,
    seen: HashSet<String>,
}

impl Walk {
    /// Processes an object in place; returns the names of properties disclosed into it.
    fn object(&mut self, obj: &mut Map<String, Value>) -> Result<Vec<String>, VerifyError> {
        let mut disclosed = Vec::new();
        let sd = match obj.remove("_sd") {
            None => Vec::new(),
            Some(Value::Array(list)) => list,
            Some(_) => return Err(VerifyError::InvalidClaim { name: "_sd" }),
        };
        for (_, v) in obj.iter_mut() {
            self.value(v)?;
        }
        for entry in sd {
            let Value::String(dg) = entry else {
                return Err(VerifyError::InvalidClaim { name: "_sd" });
            };
            let Some((index, d)) = self.take(dg)? else {
                continue;
            };
            let Some(name) = d.name() else {
                return Err(VerifyError::MalformedDisclosure { index });
            };
            if name == "_sd" || name == "..." {
                return Err(VerifyError::ReservedClaimName);
            }
            if obj.contains_key(name) {
                return Err(VerifyError::ClaimNameCollision);
            }
            let mut value = d.value().clone();
            self.value(&mut value)?;
            disclosed.push(name.to_owned());
            obj.insert(name.to_owned(), value);
        }
        Ok(disclosed)
    }

    fn value(&mut self, v: &mut Value) -> Result<(), VerifyError> {
        match v {
            Value::Object(o) => self.object(o).map(|_| ()),
            Value::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for mut item in std::mem::take(items) {
                    if let Some(dg) = placeholder(&item) {
                        let dg = dg.to_owned();
                        let Some((index, d)) = self.take(dg)? else {
                            continue;
                        };
                        if d.name().is_some() {
                            return Err(VerifyError::MalformedDisclosure { index });
                        }
                        let mut value = d.value().clone();
                        self.value(&mut value)?;
                        out.push(value);
                    } else {
                        self.value(&mut item)?;
                        out.push(item);
                    }
                }
                *items = out;
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Records a digest (each may appear once in the whole payload) and takes its disclosure.
    fn take(&mut self, dg: String) -> Result<Option<(usize, Disclosure)>, VerifyError> {
        let found = self.by_digest.remove(&dg);
        if !self.seen.insert(dg) {
            return Err(VerifyError::DuplicateDigest);
        }
        Ok(found)
    }
}

/// `{"...": digest}` and nothing else marks an array element digest.
fn placeholder(item: &Value) -> Option<&str> {
    let o = item.as_object()?;
    if o.len() != 1 {
        return None;
    }
    o.get("...")?.as_str()
}
