//! Enrolment: the issuance flow of protocol.md §7 (OpenID4VCI 1.0, pre-authorized code) and
//! the holder checks on receipt (protocol.md §4.6).

use std::collections::BTreeMap;
use std::fmt;

use ageband_core::age::{BirthDate, DAY, Date, Threshold, VALIDITY_LADDER};
use ageband_core::jwk::{PublicJwk, parse_jwk_or_set};
use ageband_core::jws::{self, HeaderRules, JwsError, MAX_JWS, SignError, Signer, UnverifiedJws};
use ageband_core::profile::{self, AgeVerifyOptions, PresentError as BuildError, SingleIssuer, TYP, VCT};
use ageband_core::sdjwt::{self, FormatError, Presentation, VerifyError};
use ageband_core::{b64, json};
use serde_json::{Map, Value, json};
use url::Url;
use zeroize::Zeroizing;

use crate::blind::{self, BlindEndpoints, BlindEnrolError, BlindEnrolment, EnrolOptions};
use crate::http::{self, HttpError, MAX_BODY, MAX_CREDENTIAL_RESPONSE};
use crate::key::HolderKey;
use crate::store::StoreError;
use crate::wallet::{CredentialInfo, StoredCredential, Wallet, same_issuer};

/// The credential configuration ageband issues (protocol.md §7.4).
pub const CONFIGURATION_ID: &str = "ageband_age_v1";
/// The `typ` of an OpenID4VCI key proof.
pub const PROOF_TYP: &str = "openid4vci-proof+jwt";
/// The OAuth grant type of the pre-authorized code flow.
pub const PRE_AUTHORIZED_GRANT: &str = "urn:ietf:params:oauth:grant-type:pre-authorized_code";
/// Most credentials one enrolment asks for (protocol.md §4.5).
pub const MAX_COUNT: usize = 100;
/// Most issuer keys a wallet accepts in `jwt-vc-issuer` (protocol.md §7.7).
pub const MAX_ISSUER_KEYS: usize = 4;

/// KB-JWT audience and nonce of the wallet's own receipt check: the wallet binds each new
/// credential to itself once, so that the full verification algorithm runs on it.
const RECEIPT_AUDIENCE: &str = "urn:ageband:wallet:receipt";
const RECEIPT_NONCE: &str = "receipt";

/// One piece of evidence for `POST /evidence` (protocol.md §7.1). `Debug` prints no personal
/// data.
pub enum Evidence<'a> {
    /// A self-declared birth date (`asserted`, `self_declared`).
    SelfDeclared {
        /// The birth date.
        birthdate: BirthDate,
    },
    /// An OpenID Connect id_token from an identity provider the issuer trusts.
    IdToken {
        /// The compact JWT.
        id_token: Zeroizing<String>,
    },
    /// A JWT assertion from a check provider the issuer trusts.
    Assertion {
        /// The compact JWT.
        assertion: Zeroizing<String>,
    },
    /// A guardian's declaration: the adult's wallet presents one of its own `age_over_18`
    /// credentials to the issuer (that credential is used up), with the child's birth date.
    Guardian {
        /// The adult's open wallet.
        adult: &'a mut Wallet,
        /// The child's birth date.
        child_birthdate: BirthDate,
    },
}

impl fmt::Debug for Evidence<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Evidence::SelfDeclared { .. } => "Evidence::SelfDeclared(<redacted>)",
            Evidence::IdToken { .. } => "Evidence::IdToken(<redacted>)",
            Evidence::Assertion { .. } => "Evidence::Assertion(<redacted>)",
            Evidence::Guardian { .. } => "Evidence::Guardian(<redacted>)",
        })
    }
}

/// Why an enrolment failed. Nothing was stored in the wallet (a guardian's credential that
/// was already presented to the issuer stays used).
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum EnrolError {
    /// An HTTP exchange failed or the issuer answered with an error.
    #[error("{step}")]
    Http {
        /// The protocol step (`metadata`, `evidence`, `token`, `nonce`, `credential`, `keys`).
        step: &'static str,
        /// The cause.
        #[source]
        source: HttpError,
    },
    /// The issuer's metadata or an answer lacks what the protocol requires.
    #[error("issuer {step} unusable: {reason}")]
    Protocol {
        /// The protocol step.
        step: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
    /// The metadata names another issuer than the one asked for.
    #[error("metadata names issuer {found}, expected {expected}")]
    IssuerMismatch {
        /// The URL the user gave.
        expected: String,
        /// `credential_issuer` in the metadata.
        found: String,
    },
    /// The requested number of credentials is not in 1..=the issuer's batch size.
    #[error("cannot ask for {requested} credentials; this issuer issues 1 to {max} at once")]
    Count {
        /// Requested.
        requested: usize,
        /// Allowed.
        max: usize,
    },
    /// A token for the evidence is not a compact JWT.
    #[error("the {what} is not a compact JWT")]
    BadToken {
        /// `id_token` or `assertion`.
        what: &'static str,
    },
    /// The guardian's wallet holds no unused, unexpired `age_over_18: true` credential.
    #[error("the guardian wallet holds no unused adult (age_over_18) credential")]
    NoGuardianCredential,
    /// The guardian's presentation could not be built.
    #[error("guardian presentation failed")]
    GuardianPresentation(#[source] BuildError),
    /// A received credential failed a holder check (protocol.md §4.6); the whole batch was
    /// discarded.
    #[error("credential {index} of the batch refused: {reason}")]
    BadCredential {
        /// Position in the batch.
        index: usize,
        /// Which check failed.
        reason: &'static str,
    },
    /// A received credential failed verification (protocol.md §6.2–6.3); the batch was
    /// discarded.
    #[error("credential {index} of the batch does not verify")]
    Verify {
        /// Position in the batch.
        index: usize,
        /// The failed check.
        #[source]
        source: VerifyError,
    },
    /// Making a holder key or a proof failed.
    #[error("holder key failure")]
    Key(#[source] SignError),
    /// The wallet could not be written (or the guardian's).
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What an enrolment stored.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Enrolled {
    /// How many credentials were stored.
    pub count: usize,
    /// What they say (identical across the batch).
    pub info: CredentialInfo,
    /// What the blind-token part did (blind-profile.md §12.3); its failure is a warning, the
    /// credentials above are stored regardless.
    pub blind: BlindEnrolment,
}

/// The issuer endpoints from its metadata.
#[derive(Clone, Debug)]
struct IssuerEndpoints {
    credential_issuer: String,
    evidence: Url,
    token: Url,
    nonce: Url,
    credential: Url,
    jwt_vc_issuer: Url,
    batch_size: usize,
    /// `ageband_blind_tokens`, if the issuer offers the blind profile.
    blind: Option<Result<BlindEndpoints, BlindEnrolError>>,
}

/// Runs the issuance flow against `issuer` with one piece of evidence and stores `count`
/// credentials after checking every one of them (protocol.md §4.6, §7). Either the whole batch
/// is stored or nothing. Where the issuer offers blind tokens and the evidence allows, one batch
/// of them is fetched with the same access token too ([`enrol_with`] with
/// [`EnrolOptions::new`]).
pub async fn enrol(
    wallet: &mut Wallet,
    issuer: &str,
    evidence: Evidence<'_>,
    count: usize,
) -> Result<Enrolled, EnrolError> {
    enrol_with(wallet, issuer, evidence, EnrolOptions::new(count)).await
}

/// [`enrol`] with options: the SD-JWT batch (protocol.md §7) and, unless `options.blind` is
/// false, the blind tokens (blind-profile.md §12.3) when the issuer's metadata has
/// `ageband_blind_tokens` and the token response lists slots. The blind part runs after the
/// SD-JWT batch is stored; its outcome is [`Enrolled::blind`] (a refusal there — a directory
/// that breaks the one-key rule or changed a pinned key, a token that does not verify — stores
/// no blind token and is reported, not returned as an error).
pub async fn enrol_with(
    wallet: &mut Wallet,
    issuer: &str,
    evidence: Evidence<'_>,
    options: EnrolOptions,
) -> Result<Enrolled, EnrolError> {
    let count = options.count;
    let client = http::client().map_err(|source| EnrolError::Http {
        step: "client",
        source,
    })?;
    let ep = discover(&client, issuer).await?;
    if count == 0 || count > ep.batch_size.min(MAX_COUNT) {
        return Err(EnrolError::Count {
            requested: count,
            max: ep.batch_size.min(MAX_COUNT),
        });
    }

    let body = evidence_body(&client, &ep, evidence).await?;
    let answer = post_json(&client, ep.evidence.clone(), &body, "evidence").await?;
    let code = Zeroizing::new(text(&answer, "pre_authorized_code", "evidence")?.to_owned());

    let form = [
        ("grant_type", PRE_AUTHORIZED_GRANT),
        ("pre-authorized_code", code.as_str()),
    ];
    let token = http::json_object(client.post(ep.token.clone()).form(&form), MAX_BODY)
        .await
        .map_err(|source| EnrolError::Http {
            step: "token",
            source,
        })?;
    let access_token = Zeroizing::new(text(&token, "access_token", "token")?.to_owned());
    if !text(&token, "token_type", "token")?.eq_ignore_ascii_case("bearer") {
        return Err(EnrolError::Protocol {
            step: "token",
            reason: "token_type is not Bearer",
        });
    }
    let slots = blind::parse_slots(token.get("ageband_blind_slots"));

    let c_nonce = fresh_nonce(&client, &ep).await?;
    let keys = (0..count)
        .map(|_| HolderKey::generate())
        .collect::<Result<Vec<_>, _>>()
        .map_err(EnrolError::Key)?;
    let now = wallet.now();
    let proofs = keys
        .iter()
        .map(|k| proof(k, &ep.credential_issuer, &c_nonce, now))
        .collect::<Result<Vec<_>, _>>()
        .map_err(EnrolError::Key)?;
    let request = json!({"credential_configuration_id": CONFIGURATION_ID, "proofs": {"jwt": proofs}});
    let answer = http::json_object(
        client
            .post(ep.credential.clone())
            .bearer_auth(access_token.as_str())
            .json(&request),
        MAX_CREDENTIAL_RESPONSE,
    )
    .await
    .map_err(|source| EnrolError::Http {
        step: "credential",
        source,
    })?;
    let credentials = answer
        .get("credentials")
        .and_then(Value::as_array)
        .ok_or(EnrolError::Protocol {
            step: "credential",
            reason: "no credentials array",
        })?
        .iter()
        .map(|c| c.get("credential").and_then(Value::as_str).map(str::to_owned))
        .collect::<Option<Vec<String>>>()
        .ok_or(EnrolError::Protocol {
            step: "credential",
            reason: "a credential is not a string",
        })?;
    if credentials.len() != count {
        return Err(EnrolError::Protocol {
            step: "credential",
            reason: "not one credential per proof",
        });
    }

    let issuer_keys = fetch_issuer_keys(&client, &ep).await?;
    let batch = check_batch(
        &ep.credential_issuer,
        &issuer_keys,
        &credentials,
        &keys,
        wallet.now(),
    )?;
    // `count` ≥ 1 was checked first and the batch holds one entry per credential.
    let info = batch[0].info();
    wallet.add_batch(batch)?;

    let no_slots =
        "the issuer lists no blind-token slot for this evidence (self-declared evidence gets none)";
    let blind = if !options.blind || options.blind_count == Some(0) {
        BlindEnrolment::Skipped
    } else {
        match (ep.blind.as_ref(), slots) {
            (None, _) => BlindEnrolment::NotOffered {
                reason: "the issuer does not offer blind tokens",
            },
            (Some(Err(e)), _) => BlindEnrolment::Failed(e.clone()),
            (Some(Ok(_)), Some(Err(e))) => BlindEnrolment::Failed(e),
            (Some(Ok(_)), None) => BlindEnrolment::NotOffered { reason: no_slots },
            (Some(Ok(_)), Some(Ok(list))) if list.is_empty() => {
                BlindEnrolment::NotOffered { reason: no_slots }
            }
            (Some(Ok(bep)), Some(Ok(list))) => {
                blind::enrol_blind(
                    &client,
                    wallet,
                    &ep.credential_issuer,
                    bep,
                    &access_token,
                    list,
                    options.blind_count,
                )
                .await
            }
        }
    };
    Ok(Enrolled { count, info, blind })
}

/// `GET /.well-known/openid-credential-issuer` (and the authorization server's metadata for
/// the token endpoint).
async fn discover(client: &reqwest::Client, issuer: &str) -> Result<IssuerEndpoints, EnrolError> {
    let base = http::checked_url(issuer).map_err(|source| EnrolError::Http {
        step: "metadata",
        source,
    })?;
    let meta = get_json(client, well_known(&base, "openid-credential-issuer"), "metadata").await?;
    let credential_issuer = text(&meta, "credential_issuer", "metadata")?.to_owned();
    if !same_issuer(&credential_issuer, issuer) {
        return Err(EnrolError::IssuerMismatch {
            expected: issuer.to_owned(),
            found: credential_issuer,
        });
    }
    let id_url = url_of(&credential_issuer, "metadata")?;
    let config = meta
        .get("credential_configurations_supported")
        .and_then(|c| c.get(CONFIGURATION_ID))
        .ok_or(EnrolError::Protocol {
            step: "metadata",
            reason: "no ageband_age_v1 configuration",
        })?;
    if config.get("format").and_then(Value::as_str) != Some(TYP)
        || config.get("vct").and_then(Value::as_str) != Some(VCT)
    {
        return Err(EnrolError::Protocol {
            step: "metadata",
            reason: "ageband_age_v1 is not dc+sd-jwt of urn:ageband:age:1",
        });
    }
    let batch_size = match meta.get("batch_credential_issuance") {
        None => 1,
        Some(b) => b
            .get("batch_size")
            .and_then(Value::as_u64)
            .and_then(|n| usize::try_from(n).ok())
            .ok_or(EnrolError::Protocol {
                step: "metadata",
                reason: "batch_size is not a number",
            })?,
    };
    let as_base = match meta
        .get("authorization_servers")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
    {
        Some(Value::String(s)) => url_of(s, "metadata")?,
        _ => id_url.clone(),
    };
    // The token endpoint comes from RFC 8414 metadata; an issuer without it serves `/token`.
    let token = match get_json(
        client,
        well_known(&as_base, "oauth-authorization-server"),
        "metadata",
    )
    .await
    {
        Ok(m) => url_of(text(&m, "token_endpoint", "metadata")?, "metadata")?,
        Err(_) => join(&as_base, "token", "metadata")?,
    };
    let blind = blind::metadata_member(&meta).map(|m| blind::parse_metadata(m, &credential_issuer));
    Ok(IssuerEndpoints {
        blind,
        evidence: join(&id_url, "evidence", "metadata")?,
        token,
        nonce: url_of(text(&meta, "nonce_endpoint", "metadata")?, "metadata")?,
        credential: url_of(text(&meta, "credential_endpoint", "metadata")?, "metadata")?,
        jwt_vc_issuer: well_known(&id_url, "jwt-vc-issuer"),
        credential_issuer,
        batch_size,
    })
}

/// The JSON body of `POST /evidence`. Built as text so that the birth date lives only in
/// zeroized buffers on our side.
async fn evidence_body(
    client: &reqwest::Client,
    ep: &IssuerEndpoints,
    evidence: Evidence<'_>,
) -> Result<Zeroizing<String>, EnrolError> {
    Ok(match evidence {
        Evidence::SelfDeclared { birthdate } => Zeroizing::new(format!(
            r#"{{"type":"self","birthdate":"{}"}}"#,
            birthdate.expose_secret()
        )),
        Evidence::IdToken { id_token } => {
            let t = compact_jwt(&id_token, "id_token")?;
            Zeroizing::new(format!(r#"{{"type":"oidc_id_token","id_token":"{t}"}}"#))
        }
        Evidence::Assertion { assertion } => {
            let t = compact_jwt(&assertion, "assertion")?;
            Zeroizing::new(format!(r#"{{"type":"check_assertion","assertion":"{t}"}}"#))
        }
        Evidence::Guardian {
            adult,
            child_birthdate,
        } => {
            let nonce = fresh_nonce(client, ep).await?;
            let presentation = guardian_presentation(adult, &ep.credential_issuer, &nonce)?;
            Zeroizing::new(format!(
                r#"{{"type":"guardian","presentation":"{presentation}","nonce":{},"child_birthdate":"{}"}}"#,
                Value::String(nonce.clone()),
                child_birthdate.expose_secret()
            ))
        }
    })
}

/// The adult presents `age_over_18: true` to the issuer (audience `credential_issuer`, the
/// issuer's c_nonce). The credential is deleted from the adult's wallet before it leaves.
fn guardian_presentation(adult: &mut Wallet, issuer: &str, nonce: &str) -> Result<String, EnrolError> {
    // Threshold 18 is in 1..=99.
    let eighteen = Threshold::new(18).map_err(|_| EnrolError::NoGuardianCredential)?;
    let best = adult
        .usable()
        .filter(|(_, c)| c.predicates.get(&18) == Some(&true))
        .max_by_key(|(_, c)| (c.issuer == issuer, c.assurance, std::cmp::Reverse(c.exp)))
        .map(|(i, _)| i)
        .ok_or(EnrolError::NoGuardianCredential)?;
    let now = adult.now();
    let vp = {
        let c = &adult.raw()[best];
        let key = c.holder_key()?;
        profile::present(&c.sd_jwt, &[eighteen], &key, issuer, nonce, now)
            .map_err(EnrolError::GuardianPresentation)?
    };
    adult.take(best)?;
    Ok(vp)
}

/// Fetches a fresh `c_nonce` from the issuer (protocol.md §7.3), for evidence that must be
/// bound to it: an identity provider's id_token whose `nonce` the issuer checks.
pub async fn issuer_nonce(issuer: &str) -> Result<String, EnrolError> {
    let client = http::client().map_err(|source| EnrolError::Http {
        step: "client",
        source,
    })?;
    let ep = discover(&client, issuer).await?;
    fresh_nonce(&client, &ep).await
}

async fn fresh_nonce(client: &reqwest::Client, ep: &IssuerEndpoints) -> Result<String, EnrolError> {
    let answer = http::json_object(client.post(ep.nonce.clone()), MAX_BODY)
        .await
        .map_err(|source| EnrolError::Http {
            step: "nonce",
            source,
        })?;
    Ok(text(&answer, "c_nonce", "nonce")?.to_owned())
}

/// An `openid4vci-proof+jwt` for `key` (protocol.md §7.4).
fn proof(key: &HolderKey, issuer: &str, nonce: &str, iat: u64) -> Result<String, SignError> {
    let header = json!({"alg": jws::ES256, "typ": PROOF_TYP, "jwk": key.public_jwk().to_json()});
    let claims = json!({"aud": issuer, "nonce": nonce, "iat": iat});
    jws::sign_compact(key, &header, &claims)
}

/// `GET /.well-known/jwt-vc-issuer`: the issuer's keys, checked against its identifier.
async fn fetch_issuer_keys(
    client: &reqwest::Client,
    ep: &IssuerEndpoints,
) -> Result<Vec<PublicJwk>, EnrolError> {
    let doc = get_json(client, ep.jwt_vc_issuer.clone(), "keys").await?;
    if doc.get("issuer").and_then(Value::as_str) != Some(ep.credential_issuer.as_str()) {
        return Err(EnrolError::Protocol {
            step: "keys",
            reason: "jwt-vc-issuer names another issuer",
        });
    }
    let jwks = doc.get("jwks").ok_or(EnrolError::Protocol {
        step: "keys",
        reason: "no jwks",
    })?;
    if jwks.get("keys").is_none() {
        return Err(EnrolError::Protocol {
            step: "keys",
            reason: "jwks is not a key set",
        });
    }
    let keys = parse_jwk_or_set(jwks).map_err(|_| EnrolError::Protocol {
        step: "keys",
        reason: "no usable EC P-256 key",
    })?;
    if keys.len() > MAX_ISSUER_KEYS {
        return Err(EnrolError::Protocol {
            step: "keys",
            reason: "more than 4 issuer keys (per-user keys would tag users)",
        });
    }
    Ok(keys)
}

/// The holder checks of protocol.md §4.6 over a whole batch; returns what to store.
pub(crate) fn check_batch(
    issuer: &str,
    keys: &[PublicJwk],
    credentials: &[String],
    holders: &[HolderKey],
    now: u64,
) -> Result<Vec<StoredCredential>, EnrolError> {
    let trust = SingleIssuer::with_keys(issuer, keys.to_vec());
    let mut out = Vec::with_capacity(credentials.len());
    let mut first: Option<(BatchValues, usize)> = None;
    for (index, (cred, holder)) in credentials.iter().zip(holders).enumerate() {
        let (values, sd_len) = check_one(&trust, cred, holder, now, index)?;
        match &first {
            None => first = Some((values.clone(), sd_len)),
            Some((v, n)) if *v == values && *n == sd_len => {}
            Some(_) => {
                return Err(EnrolError::BadCredential {
                    index,
                    reason: "batch-wide values differ",
                });
            }
        }
        out.push(StoredCredential::new(&values.info, cred.clone(), holder));
    }
    Ok(out)
}

/// What must be identical across a batch (protocol.md §4.5).
#[derive(Clone, PartialEq, Eq, Debug)]
struct BatchValues {
    kid: String,
    info: CredentialInfo,
}

const CLAIMS: [&str; 9] = [
    "iss",
    "vct",
    "iat",
    "exp",
    "cnf",
    "_sd_alg",
    "_sd",
    "assurance",
    "source",
];

fn check_one(
    trust: &SingleIssuer,
    cred: &str,
    holder: &HolderKey,
    now: u64,
    index: usize,
) -> Result<(BatchValues, usize), EnrolError> {
    let bad = |reason: &'static str| EnrolError::BadCredential { index, reason };
    let p = Presentation::parse(cred).map_err(|e: FormatError| match e {
        FormatError::TooLarge { .. } => bad("too large"),
        _ => bad("not an SD-JWT"),
    })?;
    if p.kb_jwt.is_some() {
        return Err(bad("carries a key binding JWT"));
    }
    let jwt = UnverifiedJws::parse(
        p.issuer_jwt,
        &HeaderRules {
            typ: TYP,
            jwk_in_header: false,
        },
        MAX_JWS,
    )
    .map_err(|e: JwsError| match e {
        JwsError::WrongTyp { .. } => bad("typ is not dc+sd-jwt"),
        _ => bad("issuer JWT malformed"),
    })?;
    let mut header: Vec<&str> = jwt.header.keys().map(String::as_str).collect();
    header.sort_unstable();
    if header != ["alg", "kid", "typ"] {
        return Err(bad("header is not exactly alg, typ, kid"));
    }
    let c = &jwt.payload;
    if c.len() != CLAIMS.len() || CLAIMS.iter().any(|n| !c.contains_key(*n)) {
        return Err(bad("claims are not exactly those of the profile"));
    }
    let cnf = c["cnf"]
        .as_object()
        .filter(|o| o.len() == 1)
        .and_then(|o| o.get("jwk"));
    let cnf_ok = cnf
        .and_then(Value::as_object)
        .is_some_and(|j| j.len() == 4 && ["kty", "crv", "x", "y"].iter().all(|m| j.contains_key(*m)));
    if !cnf_ok || cnf.and_then(|j| PublicJwk::from_json(j).ok()).as_ref() != Some(holder.public_jwk()) {
        return Err(bad("cnf.jwk is not the key we proved"));
    }
    let (iat, exp) = match (c["iat"].as_u64(), c["exp"].as_u64()) {
        (Some(i), Some(e)) if i % DAY == 0 && e % DAY == 0 && e > i => (i, e),
        _ => return Err(bad("iat and exp are not days")),
    };
    if !u32::try_from((exp - iat) / DAY).is_ok_and(|d| VALIDITY_LADDER.contains(&d)) {
        return Err(bad("validity is not a rung of the ladder"));
    }
    let sd = c["_sd"].as_array().ok_or(bad("_sd is not an array"))?;
    let digests: Vec<&str> = sd.iter().filter_map(Value::as_str).collect();
    if digests.len() != sd.len() || !digests.is_sorted() {
        return Err(bad("_sd is not a sorted array of digests"));
    }
    for d in &p.disclosures {
        let raw = b64::decode(d, sdjwt::MAX_DISCLOSURE).map_err(|_| bad("disclosure not base64url"))?;
        let arr = json::parse_value(&raw, sdjwt::MAX_DISCLOSURE).map_err(|_| bad("disclosure not JSON"))?;
        let ok = arr.as_array().is_some_and(|a| {
            a.len() == 3
                && a[0].as_str().is_some_and(|s| s.len() == 22)
                && a[1].as_str().and_then(Threshold::from_claim_name).is_some()
                && a[2].is_boolean()
        });
        if !ok {
            return Err(bad(
                "a disclosure is not an age_over_NN boolean with a 128-bit salt",
            ));
        }
    }
    // The full verification algorithm, with a KB-JWT the wallet makes for itself.
    let bound =
        sdjwt::attach_kb_jwt(cred, holder, RECEIPT_AUDIENCE, RECEIPT_NONCE, now).map_err(EnrolError::Key)?;
    let claims = profile::verify(
        &bound,
        trust,
        &AgeVerifyOptions::new(now, RECEIPT_AUDIENCE, RECEIPT_NONCE),
    )
    .map_err(|source| EnrolError::Verify { index, source })?;
    if claims.predicates.is_empty() {
        return Err(bad("no predicate"));
    }
    let predicates: BTreeMap<Threshold, bool> = claims.predicates.iter().copied().collect();
    if predicates.len() != claims.predicates.len() {
        return Err(bad("a predicate is disclosed twice"));
    }
    let info = CredentialInfo {
        issuer: claims.issuer,
        assurance: claims.assurance,
        source: claims.source,
        issued_at: Date::from_unix_seconds(iat),
        expires_at: Date::from_unix_seconds(exp),
        predicates,
    };
    Ok((
        BatchValues {
            kid: claims.kid,
            info,
        },
        sd.len(),
    ))
}

/// `https://host/.well-known/<name>` followed by the identifier's path, per OpenID4VCI §12.2.2
/// and SD-JWT VC.
fn well_known(base: &Url, name: &str) -> Url {
    let mut u = base.clone();
    let path = base.path().trim_end_matches('/').to_owned();
    u.set_path(&format!("/.well-known/{name}{path}"));
    u.set_query(None);
    u
}

fn join(base: &Url, segment: &str, step: &'static str) -> Result<Url, EnrolError> {
    url_of(
        &format!("{}/{segment}", base.as_str().trim_end_matches('/')),
        step,
    )
}

fn url_of(raw: &str, step: &'static str) -> Result<Url, EnrolError> {
    http::checked_url(raw).map_err(|source| EnrolError::Http { step, source })
}

fn text<'m>(obj: &'m Map<String, Value>, name: &str, step: &'static str) -> Result<&'m str, EnrolError> {
    obj.get(name)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or(EnrolError::Protocol {
            step,
            reason: "a required string member is missing",
        })
}

async fn get_json(
    client: &reqwest::Client,
    url: Url,
    step: &'static str,
) -> Result<Map<String, Value>, EnrolError> {
    http::json_object(client.get(url), MAX_BODY)
        .await
        .map_err(|source| EnrolError::Http { step, source })
}

async fn post_json(
    client: &reqwest::Client,
    url: Url,
    body: &str,
    step: &'static str,
) -> Result<Map<String, Value>, EnrolError> {
    let req = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body.to_owned());
    http::json_object(req, MAX_BODY)
        .await
        .map_err(|source| EnrolError::Http { step, source })
}

/// Accepts a compact JWS (three base64url segments) and returns it trimmed.
fn compact_jwt<'t>(token: &'t str, what: &'static str) -> Result<&'t str, EnrolError> {
    let t = token.trim();
    let ok = t.len() <= MAX_JWS
        && t.split('.').count() == 3
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    if ok {
        Ok(t)
    } else {
        Err(EnrolError::BadToken { what })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{ISSUER, at_age, mint};
    use ageband_core::jws::RingSigner;

    fn today() -> Date {
        Date::parse("2026-11-29").unwrap()
    }

    fn now() -> u64 {
        today().unix_seconds() + 3600
    }

    type Tweak = fn(usize, &mut Value, &mut Map<String, Value>);

    fn check(tweak: Tweak) -> Result<usize, EnrolError> {
        let issuer = RingSigner::generate().unwrap();
        let (creds, holders) = mint(&issuer, 3, &at_age(16), today(), 30, tweak);
        check_batch(ISSUER, &[issuer.public_jwk().clone()], &creds, &holders, now()).map(|b| b.len())
    }

    #[test]
    fn a_good_batch_passes() {
        assert_eq!(check(|_, _, _| {}).unwrap(), 3);
    }

    #[test]
    fn every_holder_check_can_fail() {
        let cases: Vec<(&str, Tweak)> = vec![
            ("extra header", |_, h, _| h["x5c"] = json!(["x"])),
            ("extra header member", |_, h, _| h["cty"] = json!("x")),
            ("wrong typ", |_, h, _| h["typ"] = json!("vc+sd-jwt")),
            ("extra claim", |_, _, p| {
                drop(p.insert("sub".into(), json!("user-1")))
            }),
            ("jti", |_, _, p| drop(p.insert("jti".into(), json!("t-1")))),
            ("missing source", |_, _, p| drop(p.remove("source"))),
            ("wrong vct", |_, _, p| {
                drop(p.insert("vct".into(), json!("urn:other:1")))
            }),
            ("wrong iss", |_, _, p| {
                drop(p.insert("iss".into(), json!("https://evil.example")))
            }),
            ("iat not a day", |_, _, p| {
                let iat = p["iat"].as_u64().unwrap() + 5;
                p.insert("iat".into(), json!(iat));
            }),
            ("validity not a rung", |_, _, p| {
                let exp = p["exp"].as_u64().unwrap() + DAY;
                p.insert("exp".into(), json!(exp));
            }),
            ("cnf of another key", |_, _, p| {
                let other = HolderKey::generate().unwrap();
                p.insert("cnf".into(), json!({"jwk": other.public_jwk().to_json()}));
            }),
            ("cnf with extra member", |_, _, p| {
                p["cnf"]["jwk"]["kid"] = json!("k");
            }),
            ("batch-wide level differs", |i, _, p| {
                if i == 2 {
                    p.insert("assurance".into(), json!("basic"));
                }
            }),
            ("batch-wide expiry differs (a tag)", |i, _, p| {
                if i == 1 {
                    let exp = p["iat"].as_u64().unwrap() + 60 * DAY;
                    p.insert("exp".into(), json!(exp));
                }
            }),
            ("_sd unsorted", |_, _, p| {
                if let Some(Value::Array(a)) = p.get_mut("_sd") {
                    a.sort_by(|x, y| y.as_str().cmp(&x.as_str()));
                }
            }),
            ("_sd length differs", |i, _, p| {
                if let (1, Some(Value::Array(a))) = (i, p.get_mut("_sd")) {
                    a.push(json!("zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz"));
                }
            }),
            ("expired", |_, _, p| {
                p.insert("iat".into(), json!(1_700_006_400u64));
                p.insert("exp".into(), json!(1_700_006_400u64 + 30 * DAY));
            }),
        ];
        for (name, tweak) in cases {
            let err = check(tweak).expect_err(name);
            assert!(
                matches!(err, EnrolError::BadCredential { .. } | EnrolError::Verify { .. }),
                "{name}: {err:?}"
            );
        }
    }

    #[test]
    fn signature_key_and_disclosures_are_checked() {
        let issuer = RingSigner::generate().unwrap();
        let other = RingSigner::generate().unwrap();
        let (creds, holders) = mint(&issuer, 2, &at_age(20), today(), 90, |_, _, _| {});
        // Not signed by a published key.
        let err = check_batch(ISSUER, &[other.public_jwk().clone()], &creds, &holders, now()).unwrap_err();
        assert!(
            matches!(
                err,
                EnrolError::Verify {
                    source: VerifyError::UnknownKey,
                    ..
                }
            ),
            "{err:?}"
        );
        // Keys swapped between credentials.
        let swapped = [holders[1].expose_secret(), holders[0].expose_secret()]
            .map(|s| HolderKey::from_secret_bytes(s.as_ref()).unwrap());
        let err = check_batch(ISSUER, &[issuer.public_jwk().clone()], &creds, &swapped, now()).unwrap_err();
        assert!(
            matches!(err, EnrolError::BadCredential { index: 0, .. }),
            "{err:?}"
        );
        // A disclosure that is not a predicate, or a dropped disclosure.
        let mut rng = ageband_core::rng::OsRng::new();
        let extra = ageband_core::sdjwt::Disclosure::property(&mut rng, "name", json!("Alice")).unwrap();
        let bad = vec![format!("{}{}~", creds[0], extra.encoded()), creds[1].clone()];
        assert!(check_batch(ISSUER, &[issuer.public_jwk().clone()], &bad, &holders, now()).is_err());
        let p = Presentation::parse(&creds[0]).unwrap();
        let dropped = format!("{}~{}~", p.issuer_jwt, p.disclosures[0]);
        let bad = vec![dropped, creds[1].clone()];
        let err = check_batch(ISSUER, &[issuer.public_jwk().clone()], &bad, &holders, now()).unwrap_err();
        assert!(
            matches!(err, EnrolError::BadCredential { index: 1, .. }),
            "batch-wide predicates: {err:?}"
        );
    }

    #[test]
    fn proofs_have_the_openid4vci_shape() {
        let k = HolderKey::generate().unwrap();
        let p = proof(&k, ISSUER, "n-1", 1_800_000_000).unwrap();
        let jws = UnverifiedJws::parse(
            &p,
            &HeaderRules {
                typ: PROOF_TYP,
                jwk_in_header: true,
            },
            1024,
        )
        .unwrap();
        jws.verify(k.public_jwk()).unwrap();
        assert_eq!(jws.header_jwk().as_ref(), Some(k.public_jwk()));
        assert_eq!(
            Value::Object(jws.payload),
            json!({"aud": ISSUER, "nonce": "n-1", "iat": 1_800_000_000u64})
        );
    }

    #[test]
    fn well_known_urls() {
        let u = |s| Url::parse(s).unwrap();
        assert_eq!(
            well_known(&u("https://i.example"), "jwt-vc-issuer").as_str(),
            "https://i.example/.well-known/jwt-vc-issuer"
        );
        assert_eq!(
            well_known(&u("https://i.example/tenant/"), "openid-credential-issuer").as_str(),
            "https://i.example/.well-known/openid-credential-issuer/tenant"
        );
        assert!(compact_jwt(" a.b.c\n", "id_token").is_ok());
        assert!(compact_jwt("a.b", "id_token").is_err());
        assert!(compact_jwt("a.b.c\"}", "id_token").is_err());
        let d = BirthDate::parse("2010-01-01").unwrap();
        assert_eq!(
            format!("{:?}", Evidence::SelfDeclared { birthdate: d }),
            "Evidence::SelfDeclared(<redacted>)"
        );
    }
}
