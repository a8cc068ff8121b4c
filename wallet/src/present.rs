//! Presentation: OpenID4VP 1.0 requests with DCQL and `direct_post` (protocol.md §8), the
//! choice of the minimal disclosure (§8.3), consent, and single use.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use ageband_core::age::{
    AgeBand, AssuranceLevel, Date, Predicate, Source, Threshold, choose_claim_set, outcome_of,
};
use ageband_core::profile::{self, PresentError as BuildError, TYP, VCT};
use ageband_core::{b64, json};
use serde_json::{Map, Value, json};
use url::Url;

use ageband_blind::profile::{
    BlindFact, FactKind, Floor, MAX_AUDIENCE, MAX_VERIFIER_NONCE, MIN_VERIFIER_NONCE, Month, issuer_name_of,
};

use crate::blind::{BLIND_FORMAT, issuer_listed};
use crate::http::{self, HttpError, MAX_BODY};
use crate::store::StoreError;
use crate::wallet::{Wallet, same_issuer};

/// The link scheme of OpenID4VP.
pub const SCHEME: &str = "openid4vp";
/// The client identifier prefix ageband verifiers use (OpenID4VP §5.9.3).
pub const REDIRECT_URI_PREFIX: &str = "redirect_uri:";
/// Most predicates an answer set may ask for (protocol.md §8.3).
pub const MAX_SET: usize = 2;
/// Longest accepted `nonce` or `state`.
const MAX_PARAM: usize = 512;
/// Most issuers a blind credential query may list.
const MAX_BLIND_ISSUERS: usize = 16;
/// Most claim sets a credential query may hold.
const MAX_CLAIM_SETS: usize = 16;
/// Longest issuer identifier in a blind query.
const MAX_ISSUER_ID: usize = 2048;

/// A verified-in-shape OpenID4VP authorization request for an ageband credential.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct AuthorizationRequest {
    /// `client_id`, `redirect_uri:` + `response_uri`; the KB-JWT audience.
    pub client_id: String,
    /// Where the response goes.
    pub response_uri: Url,
    /// The verifier's nonce.
    pub nonce: String,
    /// `state`, echoed in the response.
    pub state: Option<String>,
    /// The DCQL credential query id (the key of `vp_token`).
    pub query_id: String,
    /// The answer sets, in the request's order.
    pub answer_sets: Vec<Vec<Predicate>>,
    /// The blind-token option (blind-profile.md §12.4), when the verifier offers it.
    pub blind: Option<BlindRequest>,
    /// Whether the SD-JWT query is offered (false for a request with the blind query alone;
    /// `query_id` and `answer_sets` then describe the blind query).
    pub sd_jwt: bool,
}

/// The blind-token credential query of an extended DCQL request (blind-profile.md §12.4).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct BlindRequest {
    /// The credential query id (the key of `vp_token`), e.g. `age_blind`.
    pub query_id: String,
    /// `meta.issuers`: the issuer identifiers the verifier trusts for blind tokens.
    pub issuers: Vec<String>,
    /// `meta.min_floor`.
    pub min_floor: Floor,
    /// The claim sets, each one or two facts, in the request's order.
    pub claim_sets: Vec<Vec<BlindFact>>,
}

/// What an `openid4vp://` link carries.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Link {
    /// The request is in the link.
    ByValue(AuthorizationRequest),
    /// The request is fetched from `request_uri`.
    ByReference {
        /// `client_id` of the link, which the request object must repeat.
        client_id: String,
        /// Where to fetch the request object.
        request_uri: Url,
    },
}

/// Why a request was refused before anything was shared.
#[non_exhaustive]
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum RequestError {
    /// Not an `openid4vp://` link.
    #[error("not an openid4vp:// link")]
    NotAnOpenid4vpLink,
    /// A parameter appears twice.
    #[error("parameter `{name}` appears more than once")]
    DuplicateParameter {
        /// The parameter.
        name: String,
    },
    /// A required parameter is missing or empty.
    #[error("parameter `{name}` is missing")]
    Missing {
        /// The parameter.
        name: &'static str,
    },
    /// A parameter has a value this wallet does not accept.
    #[error("parameter `{name}` is invalid: {reason}")]
    Invalid {
        /// The parameter.
        name: &'static str,
        /// Why.
        reason: &'static str,
    },
    /// `response_uri` (or `request_uri`) is not https, nor http on loopback.
    #[error("{name} must be https (http only on loopback)")]
    InsecureUri {
        /// Which URI.
        name: &'static str,
    },
    /// `client_id` is not `redirect_uri:` + `response_uri`, or differs between link and
    /// request object.
    #[error("client_id does not match the response_uri (or the link)")]
    ClientIdMismatch,
    /// `request_uri` and `response_uri` have different origins.
    #[error("request_uri and response_uri have different origins")]
    OriginMismatch,
    /// The request asks for a credential type this wallet does not hold.
    #[error("the request does not ask for urn:ageband:age:1 in dc+sd-jwt format")]
    UnknownCredentialType,
    /// The request asks for a claim that is not an `age_over_NN` predicate.
    #[error("the request asks for a claim that is not an age_over_NN predicate: {path}")]
    NonAgeClaim {
        /// The claim path, as JSON.
        path: String,
    },
    /// An answer set asks for more than two predicates.
    #[error("an answer set asks for more than two predicates")]
    TooManyPredicates,
    /// More than one answer set fits a held credential (protocol.md §8.3 step 1).
    #[error("more than one answer set fits; the request is ambiguous")]
    Ambiguous,
    /// A DCQL feature this wallet does not implement.
    #[error("unsupported request: {what}")]
    Unsupported {
        /// The feature.
        what: &'static str,
    },
}

/// Why a presentation did not happen (or was not accepted).
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum PresentError {
    /// The request was refused; nothing was shared.
    #[error("request refused: {0}")]
    Request(#[from] RequestError),
    /// Fetching the request (`step` = `request`; nothing was shared) or sending the response
    /// (`response`; the credential is used up) failed.
    #[error("{step}")]
    Http {
        /// `request` or `response`.
        step: &'static str,
        /// The cause.
        #[source]
        source: HttpError,
    },
    /// No unused, unexpired credential answers the request.
    #[error(
        "no unused credential in this wallet answers the request (it asks for {asked}); \
         enrol again: ageband wallet --wallet DIR enrol --issuer URL …"
    )]
    NoCredential {
        /// The answers the verifier accepts, for the message.
        asked: String,
    },
    /// The user said no; nothing was shared.
    #[error("declined; nothing was shared")]
    Declined,
    /// Building the presentation failed.
    #[error("could not build the presentation")]
    Build(#[source] BuildError),
    /// Building a blind-token presentation failed (`ProfileError::kind`); nothing was sent.
    #[error("could not build the blind-token presentation ({kind})")]
    BlindBuild {
        /// What failed.
        kind: &'static str,
    },
    /// The presentation was sent and the verifier refused it; the credential is used up.
    #[error("the verifier refused the presentation: {source}")]
    Refused {
        /// The verifier's answer.
        #[source]
        source: HttpError,
    },
    /// The wallet could not be read or written; nothing was sent.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What the user is asked to agree to: exactly what will be shared, and with whom.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Summary {
    /// The host (and port) of `response_uri`.
    pub verifier: String,
    /// The full response URI.
    pub response_uri: String,
    /// The predicates to be disclosed (for blind tokens: what their facts say, `age_over_N`
    /// as (N, true) and `age_under_N` as (N, false)).
    pub disclosed: Vec<Predicate>,
    /// What they say.
    pub band: AgeBand,
    /// The credential's issuer (visible to the verifier).
    pub issuer: String,
    /// The level (visible; for blind tokens the lowest floor's level).
    pub assurance: AssuranceLevel,
    /// Which profile answers and what else it shows.
    pub shared: Shared,
    /// Unused credentials (or, for blind tokens, answers of this kind) left after this one.
    pub remaining: usize,
}

/// The profile of an answer and what it shows beside the facts.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Shared {
    /// One SD-JWT credential (protocol.md §8).
    SdJwt {
        /// The source (visible).
        source: Source,
        /// Day of issuance (visible).
        issued_at: Date,
        /// Day of expiry (visible).
        expires_at: Date,
    },
    /// One blind token per fact (blind-profile.md §12.4): the verifier sees each key's fact,
    /// floor and month, and the issuer; no source, no dates.
    BlindTokens {
        /// (fact, floor, month) of each token, in the order sent.
        tokens: Vec<(BlindFact, Floor, Month)>,
    },
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.shared {
            Shared::SdJwt {
                source,
                issued_at,
                expires_at,
            } => {
                let facts: Vec<String> = self
                    .disclosed
                    .iter()
                    .map(|(t, v)| format!("{}: {v}", t.claim_name()))
                    .collect();
                write!(
                    f,
                    "{} asks how old you are. If you agree, it will learn that your age is {} ({}), \
                     as attested by {} (level {}, source {}, issued {}, expires {}). \
                     It will not learn your name, your birth date, any other age fact, or anything that \
                     links this answer to another one. The answer goes to {} and uses up one credential \
                     ({} left afterwards).",
                    self.verifier,
                    band_words(&self.band),
                    facts.join(", "),
                    self.issuer,
                    self.assurance,
                    source,
                    issued_at,
                    expires_at,
                    self.response_uri,
                    self.remaining
                )
            }
            Shared::BlindTokens { tokens } => {
                let facts: Vec<String> = tokens.iter().map(|(fact, _, _)| fact.name()).collect();
                write!(
                    f,
                    "{} asks how old you are. If you agree, it will learn that your age is {} ({}), \
                     as attested by {} (level {} or higher). It will not learn your name, your birth \
                     date or any other age fact, and neither it nor the issuer can link this answer to \
                     your enrolment or to another answer. The answer goes to {} and uses up {} blind \
                     token(s) ({} such answer(s) left afterwards).",
                    self.verifier,
                    band_words(&self.band),
                    facts.join(" and "),
                    self.issuer,
                    self.assurance,
                    self.response_uri,
                    tokens.len(),
                    self.remaining
                )
            }
        }
    }
}

/// What happened after a presentation was sent.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Presented {
    /// What was shared.
    pub summary: Summary,
    /// The verifier's `redirect_uri`, if its answer had one.
    pub redirect_uri: Option<String>,
}

/// Parses an `openid4vp://` link (OpenID4VP §5): the request by value in the query, or a
/// `request_uri` (or an unsigned `request` object in the link).
pub fn parse_link(link: &str) -> Result<Link, RequestError> {
    let url = Url::parse(link.trim()).map_err(|_| RequestError::NotAnOpenid4vpLink)?;
    if url.scheme() != SCHEME {
        return Err(RequestError::NotAnOpenid4vpLink);
    }
    let mut params: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in url.query_pairs() {
        if params.insert(k.to_string(), v.to_string()).is_some() {
            return Err(RequestError::DuplicateParameter {
                name: k.chars().take(64).collect(),
            });
        }
    }
    let client_id = params
        .get("client_id")
        .filter(|s| !s.is_empty())
        .ok_or(RequestError::Missing { name: "client_id" })?;
    if let Some(uri) = params.get("request_uri") {
        if params.get("request_uri_method").is_some_and(|m| m != "get") {
            return Err(RequestError::Unsupported {
                what: "request_uri_method post",
            });
        }
        let request_uri =
            http::checked_url(uri).map_err(|_| RequestError::InsecureUri { name: "request_uri" })?;
        return Ok(Link::ByReference {
            client_id: client_id.clone(),
            request_uri,
        });
    }
    if let Some(jwt) = params.get("request") {
        let obj = request_object(jwt)?;
        if obj.get("client_id").and_then(Value::as_str) != Some(client_id) {
            return Err(RequestError::ClientIdMismatch);
        }
        return request_from(&obj).map(Link::ByValue);
    }
    let mut obj = Map::new();
    for (k, v) in params {
        let value = if k == "dcql_query" || k == "client_metadata" {
            json::parse_value(v.as_bytes(), MAX_BODY).map_err(|_| RequestError::Invalid {
                name: "dcql_query",
                reason: "not JSON",
            })?
        } else {
            Value::String(v)
        };
        obj.insert(k, value);
    }
    request_from(&obj).map(Link::ByValue)
}

/// Resolves a link to its request, fetching `request_uri` when needed (a JSON object or an
/// unsigned request-object JWT, protocol.md §8.1).
pub async fn resolve(link: &str) -> Result<AuthorizationRequest, PresentError> {
    match parse_link(link)? {
        Link::ByValue(r) => Ok(r),
        Link::ByReference {
            client_id,
            request_uri,
        } => fetch_request(&client()?, &client_id, &request_uri).await,
    }
}

/// The HTTP client of one presentation (its failure is reported as the `request` step:
/// nothing was shared yet).
fn client() -> Result<reqwest::Client, PresentError> {
    http::client().map_err(|source| PresentError::Http {
        step: "request",
        source,
    })
}

/// Fetches and checks the request behind a `request_uri` link (see [`resolve`]).
async fn fetch_request(
    client: &reqwest::Client,
    client_id: &str,
    request_uri: &Url,
) -> Result<AuthorizationRequest, PresentError> {
    let req = client.get(request_uri.clone()).header(
        reqwest::header::ACCEPT,
        "application/oauth-authz-req+jwt, application/json",
    );
    let (status, body) = http::send(req, MAX_BODY)
        .await
        .map_err(|source| PresentError::Http {
            step: "request",
            source,
        })?;
    if !status.is_success() {
        return Err(PresentError::Http {
            step: "request",
            source: http::status_error(status, &body),
        });
    }
    let text = std::str::from_utf8(&body)
        .map_err(|_| RequestError::Invalid {
            name: "request",
            reason: "not UTF-8",
        })?
        .trim();
    let obj = if text.starts_with('{') {
        json::parse_object(text.as_bytes(), MAX_BODY).map_err(|_| RequestError::Invalid {
            name: "request",
            reason: "not a JSON object",
        })?
    } else {
        request_object(text)?
    };
    if obj.get("client_id").and_then(Value::as_str) != Some(client_id) {
        return Err(RequestError::ClientIdMismatch.into());
    }
    let request = request_from(&obj)?;
    if request.response_uri.origin() != request_uri.origin() {
        return Err(RequestError::OriginMismatch.into());
    }
    Ok(request)
}

/// Answers the request behind `link` from `wallet`: checks it, picks the credential and the one
/// fitting answer set, asks `consent` with a [`Summary`], deletes the credential and saves the
/// wallet, and only then posts the response. A credential is never presented twice, even when
/// sending fails. When no credential fits, or the user declines, the verifier is told
/// `access_denied` (best effort).
pub async fn present(
    wallet: &mut Wallet,
    link: &str,
    consent: impl FnOnce(&Summary) -> bool,
) -> Result<Presented, PresentError> {
    // One client for fetching the request and posting the response (same origin).
    let link = parse_link(link)?;
    let client = client()?;
    let request = match link {
        Link::ByValue(r) => r,
        Link::ByReference {
            client_id,
            request_uri,
        } => fetch_request(&client, &client_id, &request_uri).await?,
    };
    if let Some(b) = &request.blind
        && let Some(choice) = select_blind(wallet, b)?
    {
        return present_blind(wallet, &request, b, choice, &client, consent).await;
    }
    let picked = if request.sd_jwt {
        select(wallet, &request)?
    } else {
        None
    };
    let Some((index, set)) = picked else {
        deny(&client, &request).await;
        return Err(PresentError::NoCredential {
            asked: describe_sets(&request.answer_sets),
        });
    };
    let usable = wallet.usable().count();
    let c = &wallet.raw()[index];
    let summary = Summary {
        verifier: host_of(&request.response_uri),
        response_uri: request.response_uri.to_string(),
        band: outcome_of(&set),
        disclosed: set.clone(),
        issuer: c.issuer.clone(),
        assurance: c.assurance,
        shared: Shared::SdJwt {
            source: c.source,
            issued_at: Date::from_unix_seconds(c.iat),
            expires_at: Date::from_unix_seconds(c.exp),
        },
        remaining: usable - 1,
    };
    if !consent(&summary) {
        deny(&client, &request).await;
        return Err(PresentError::Declined);
    }
    let thresholds: Vec<Threshold> = set.iter().map(|(t, _)| *t).collect();
    let vp = {
        let key = c.holder_key()?;
        profile::present(
            &c.sd_jwt,
            &thresholds,
            &key,
            &request.client_id,
            &request.nonce,
            wallet.now(),
        )
        .map_err(PresentError::Build)?
    };
    // Single use: the credential leaves the wallet file before the presentation leaves the
    // device.
    drop(wallet.take(index)?);
    let vp_token = json!({ request.query_id.as_str(): [vp] }).to_string();
    send_response(&client, &request, &vp_token, summary).await
}

/// Posts `vp_token` (and `state`) to `response_uri` (protocol.md §8.4).
async fn send_response(
    client: &reqwest::Client,
    request: &AuthorizationRequest,
    vp_token: &str,
    summary: Summary,
) -> Result<Presented, PresentError> {
    let mut form = vec![("vp_token", vp_token)];
    if let Some(state) = &request.state {
        form.push(("state", state));
    }
    let sent = http::send(client.post(request.response_uri.clone()).form(&form), MAX_BODY).await;
    let (status, body) = sent.map_err(|source| PresentError::Http {
        step: "response",
        source,
    })?;
    if !status.is_success() {
        return Err(PresentError::Refused {
            source: http::status_error(status, &body),
        });
    }
    let redirect_uri = json::parse_object(&body, MAX_BODY)
        .ok()
        .and_then(|o| o.get("redirect_uri").and_then(Value::as_str).map(str::to_owned));
    Ok(Presented {
        summary,
        redirect_uri,
    })
}

/// The blind tokens chosen for one claim set (blind-profile.md §12.4 "Wallet choice").
#[derive(Clone, PartialEq, Eq, Debug)]
pub(crate) struct BlindChoice {
    /// The issuer all tokens are from.
    pub issuer: String,
    /// Per fact of the set: the token's index in the wallet and its slot.
    pub picks: Vec<(usize, BlindFact, Floor, Month)>,
    /// Answers of this kind left afterwards.
    pub remaining: usize,
}

/// The blind choice (blind-profile.md §12.4): a claim set fits if, for each of its facts, the
/// wallet holds an unused token of that fact, live by its clock, of an issuer in `issuers` and of
/// floor ≥ `min_floor`, all from one issuer. More than one fitting set is refused as ambiguous.
/// Per fact the lowest sufficient floor, then the earliest month; among issuers that fit, the
/// one whose highest chosen floor is lowest, then the first in `issuers`.
pub(crate) fn select_blind(wallet: &Wallet, b: &BlindRequest) -> Result<Option<BlindChoice>, RequestError> {
    let now = wallet.now();
    let usable: Vec<(usize, &str, BlindFact, Floor, Month)> = wallet
        .raw_blind()
        .iter()
        .enumerate()
        .filter(|(_, t)| issuer_listed(&t.issuer, &b.issuers))
        .filter_map(|(i, t)| t.slot().map(|(f, fl, m)| (i, t.issuer.as_str(), f, fl, m)))
        .filter(|&(_, _, _, fl, m)| fl >= b.min_floor && m.is_live(now))
        .collect();
    let mut fitting: Vec<BlindChoice> = Vec::new();
    for set in &b.claim_sets {
        let mut best: Option<(BlindChoice, (Floor, usize))> = None;
        for (rank, issuer) in b.issuers.iter().enumerate() {
            let mut picks = Vec::with_capacity(set.len());
            let mut remaining = usize::MAX;
            // The issuer identifier as the wallet stored it (the request may spell it otherwise).
            let mut stored_as = issuer.as_str();
            for fact in set {
                let of_fact = || {
                    usable
                        .iter()
                        .filter(|(_, iss, f, _, _)| same_issuer(iss, issuer) && f == fact)
                };
                let Some(&(i, iss, f, fl, m)) = of_fact().min_by_key(|(i, _, _, fl, m)| (*fl, *m, *i)) else {
                    break;
                };
                remaining = remaining.min(of_fact().count() - 1);
                if picks.is_empty() {
                    stored_as = iss;
                }
                picks.push((i, f, fl, m));
            }
            if picks.len() != set.len() {
                continue;
            }
            let key = (picks.iter().map(|p| p.2).max().unwrap_or(Floor::Level2), rank);
            if best.as_ref().is_none_or(|(_, k)| key < *k) {
                best = Some((
                    BlindChoice {
                        issuer: stored_as.to_owned(),
                        picks,
                        remaining,
                    },
                    key,
                ));
            }
        }
        if let Some((c, _)) = best {
            fitting.push(c);
        }
    }
    if fitting.len() > 1 {
        return Err(RequestError::Ambiguous);
    }
    Ok(fitting.pop())
}

/// Answers with blind tokens (blind-profile.md §12.4 "Response"): consent naming the facts,
/// the presentations bound to the request's nonce (UTF-8 bytes) and `client_id`, the tokens
/// deleted and the wallet saved, then `vp_token={"<query id>":["<compact>",…]}`.
async fn present_blind(
    wallet: &mut Wallet,
    request: &AuthorizationRequest,
    b: &BlindRequest,
    choice: BlindChoice,
    client: &reqwest::Client,
    consent: impl FnOnce(&Summary) -> bool,
) -> Result<Presented, PresentError> {
    let disclosed: Vec<Predicate> = choice
        .picks
        .iter()
        .map(|(_, f, _, _)| (f.threshold(), f.kind() == FactKind::Over))
        .collect();
    let lowest = choice.picks.iter().map(|p| p.2).min().unwrap_or(Floor::Level2);
    let summary = Summary {
        verifier: host_of(&request.response_uri),
        response_uri: request.response_uri.to_string(),
        band: outcome_of(&disclosed),
        disclosed,
        issuer: choice.issuer.clone(),
        assurance: lowest.assurance(),
        shared: Shared::BlindTokens {
            tokens: choice.picks.iter().map(|&(_, f, fl, m)| (f, fl, m)).collect(),
        },
        remaining: choice.remaining,
    };
    if !consent(&summary) {
        deny(client, request).await;
        return Err(PresentError::Declined);
    }
    let mut compact = Vec::with_capacity(choice.picks.len());
    for (i, _, _, _) in &choice.picks {
        let token = wallet.raw_blind()[*i].to_token()?;
        let p = token
            .present(request.nonce.as_bytes(), &request.client_id)
            .map_err(|e| PresentError::BlindBuild { kind: e.kind() })?;
        compact.push(p.encode());
    }
    // Single use: the tokens leave the wallet file before the presentation leaves the device.
    let indices: Vec<usize> = choice.picks.iter().map(|p| p.0).collect();
    drop(wallet.take_blind(&indices)?);
    let vp_token = json!({ b.query_id.as_str(): compact }).to_string();
    send_response(client, request, &vp_token, summary).await
}

/// The credential to use and the one answer set it fits (protocol.md §8.3): among the usable
/// credentials with exactly one fitting set, the highest level, then the earliest expiry.
pub(crate) fn select(
    wallet: &Wallet,
    request: &AuthorizationRequest,
) -> Result<Option<(usize, Vec<Predicate>)>, RequestError> {
    type Rank = (AssuranceLevel, std::cmp::Reverse<u64>);
    let mut best: Option<(usize, Vec<Predicate>, Rank)> = None;
    for (index, c) in wallet.usable() {
        let held = c.thresholds();
        let fitting = request
            .answer_sets
            .iter()
            .filter(|s| s.iter().all(|(t, v)| held.get(t) == Some(v)))
            .count();
        if fitting > 1 {
            return Err(RequestError::Ambiguous);
        }
        let Some(set) = choose_claim_set(&request.answer_sets, &held) else {
            continue;
        };
        let rank = (c.assurance, std::cmp::Reverse(c.exp));
        if best.as_ref().is_none_or(|(_, _, r)| rank > *r) {
            best = Some((index, set.to_vec(), rank));
        }
    }
    Ok(best.map(|(i, s, _)| (i, s)))
}

/// Parses and checks a request given as JSON members (protocol.md §8.1, §8.3 step 1).
fn request_from(obj: &Map<String, Value>) -> Result<AuthorizationRequest, RequestError> {
    let text = |name: &'static str| {
        obj.get(name)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or(RequestError::Missing { name })
    };
    if text("response_type")? != "vp_token" {
        return Err(RequestError::Invalid {
            name: "response_type",
            reason: "only vp_token is supported",
        });
    }
    if text("response_mode")? != "direct_post" {
        return Err(RequestError::Invalid {
            name: "response_mode",
            reason: "only direct_post is supported",
        });
    }
    let raw_uri = text("response_uri")?;
    let response_uri =
        http::checked_url(raw_uri).map_err(|_| RequestError::InsecureUri { name: "response_uri" })?;
    let client_id = text("client_id")?;
    if client_id.strip_prefix(REDIRECT_URI_PREFIX) != Some(raw_uri) {
        return Err(RequestError::ClientIdMismatch);
    }
    let nonce = text("nonce")?;
    if nonce.len() > MAX_PARAM || !nonce.is_ascii() {
        return Err(RequestError::Invalid {
            name: "nonce",
            reason: "too long or not ASCII",
        });
    }
    let state = match obj.get("state") {
        None => None,
        Some(Value::String(s)) if !s.is_empty() && s.len() <= MAX_PARAM => Some(s.clone()),
        Some(_) => {
            return Err(RequestError::Invalid {
                name: "state",
                reason: "not a short string",
            });
        }
    };
    if obj.contains_key("presentation_definition") || obj.contains_key("scope") {
        return Err(RequestError::Unsupported {
            what: "presentation_definition or scope; only dcql_query",
        });
    }
    // A verifier that lists the formats it takes must take ours (OpenID4VP §11.1).
    let formats = obj
        .get("client_metadata")
        .and_then(|m| m.get("vp_formats_supported"));
    if formats.is_some_and(|f| f.get(TYP).is_none()) {
        return Err(RequestError::Invalid {
            name: "client_metadata",
            reason: "the verifier does not take dc+sd-jwt",
        });
    }
    let dcql = obj
        .get("dcql_query")
        .ok_or(RequestError::Missing { name: "dcql_query" })?;
    let (query_id, answer_sets, blind, sd_jwt) = dcql_sets(dcql)?;
    // The holder binding of a blind token signs the nonce's bytes and the client_id
    // (blind-profile.md §7.1, §12.4): a verifier offering blind tokens keeps them in range.
    if blind.is_some()
        && (!(MIN_VERIFIER_NONCE..=MAX_VERIFIER_NONCE).contains(&nonce.len())
            || client_id.len() > MAX_AUDIENCE)
    {
        return Err(RequestError::Invalid {
            name: "nonce",
            reason: "a blind-token request needs a nonce of 16 to 64 bytes and a client_id of at most 512",
        });
    }
    Ok(AuthorizationRequest {
        client_id: client_id.to_owned(),
        response_uri,
        nonce: nonce.to_owned(),
        state,
        query_id,
        answer_sets,
        blind,
        sd_jwt,
    })
}

type DcqlParts = (String, Vec<Vec<Predicate>>, Option<BlindRequest>, bool);

/// Turns a DCQL query into answer sets (protocol.md §8.2) and, when the verifier offers it, the
/// blind-token option (blind-profile.md §12.4: a second credential query of format
/// `ageband-private-token` and one credential set offering either query).
fn dcql_sets(dcql: &Value) -> Result<DcqlParts, RequestError> {
    let invalid = |reason| RequestError::Invalid {
        name: "dcql_query",
        reason,
    };
    let creds = dcql
        .get("credentials")
        .and_then(Value::as_array)
        .ok_or(invalid("no credentials array"))?;
    let is_blind = |q: &Value| q.get("format").and_then(Value::as_str) == Some(BLIND_FORMAT);
    let (q, blind) = match creds.as_slice() {
        // The blind query alone (a verifier that offers only blind tokens).
        [bq] if is_blind(bq) => {
            if dcql.get("credential_sets").is_some() {
                return Err(RequestError::Unsupported {
                    what: "credential_sets with a single credential query",
                });
            }
            let b = blind_query(bq)?;
            let sets = b
                .claim_sets
                .iter()
                .map(|set| {
                    set.iter()
                        .map(|f| (f.threshold(), f.kind() == FactKind::Over))
                        .collect()
                })
                .collect();
            return Ok((b.query_id.clone(), sets, Some(b), false));
        }
        [q] if !is_blind(q) => {
            if dcql.get("credential_sets").is_some() {
                return Err(RequestError::Unsupported {
                    what: "credential_sets",
                });
            }
            (q, None)
        }
        [a, b] if is_blind(a) != is_blind(b) => {
            let (q, bq) = if is_blind(a) { (b, a) } else { (a, b) };
            (q, Some(blind_query(bq)?))
        }
        _ => {
            return Err(RequestError::Unsupported {
                what: "more than one credential query",
            });
        }
    };
    let id = q
        .get("id")
        .and_then(Value::as_str)
        .filter(|s| valid_id(s))
        .ok_or(invalid("bad credential query id"))?;
    let vct_ok = q
        .get("meta")
        .and_then(|m| m.get("vct_values"))
        .and_then(Value::as_array)
        .is_some_and(|v| v.iter().any(|x| x.as_str() == Some(VCT)));
    if q.get("format").and_then(Value::as_str) != Some(TYP) || !vct_ok {
        return Err(RequestError::UnknownCredentialType);
    }
    let claims = q
        .get("claims")
        .and_then(Value::as_array)
        .ok_or(invalid("no claims"))?;
    if claims.is_empty() {
        return Err(invalid("no claims"));
    }
    let mut by_id: BTreeMap<&str, Predicate> = BTreeMap::new();
    let mut in_order = Vec::with_capacity(claims.len());
    for claim in claims {
        let threshold = claim_path(claim, Threshold::from_claim_name)?;
        let value = match claim.get("values").and_then(Value::as_array).map(Vec::as_slice) {
            Some([Value::Bool(b)]) => *b,
            _ => {
                return Err(RequestError::Unsupported {
                    what: "a claim query without exactly one boolean value",
                });
            }
        };
        in_order.push((threshold, value));
        if let Some(cid) = claim.get("id") {
            let cid = cid
                .as_str()
                .filter(|s| valid_id(s))
                .ok_or(invalid("bad claim id"))?;
            if by_id.insert(cid, (threshold, value)).is_some() {
                return Err(invalid("duplicate claim id"));
            }
        }
    }
    let sets: Vec<Vec<Predicate>> = match q.get("claim_sets") {
        None => vec![in_order],
        Some(Value::Array(sets)) if !sets.is_empty() => sets
            .iter()
            .map(|s| {
                let ids = s
                    .as_array()
                    .filter(|a| !a.is_empty())
                    .ok_or(invalid("empty claim set"))?;
                ids.iter()
                    .map(|i| {
                        i.as_str()
                            .and_then(|i| by_id.get(i))
                            .copied()
                            .ok_or(invalid("claim set names an unknown claim"))
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(invalid("claim_sets is not a non-empty array")),
    };
    for s in &sets {
        let distinct: BTreeSet<Threshold> = s.iter().map(|(t, _)| *t).collect();
        if s.len() > MAX_SET || distinct.len() > MAX_SET {
            return Err(RequestError::TooManyPredicates);
        }
    }
    if let Some(b) = &blind {
        if b.query_id == id {
            return Err(invalid("two credential queries with one id"));
        }
        // Exactly one credential set, offering either query (blind-profile.md §12.4).
        let options_ok = dcql
            .get("credential_sets")
            .and_then(Value::as_array)
            .and_then(|sets| match sets.as_slice() {
                [set] => set.as_object(),
                _ => None,
            })
            .filter(|set| {
                set.keys().all(|k| k == "options" || k == "required")
                    && set.get("required").is_none_or(|r| r == &Value::Bool(true))
            })
            .and_then(|set| set.get("options"))
            .is_some_and(|o| {
                let (x, y) = (json!([b.query_id]), json!([id]));
                *o == json!([x, y]) || *o == json!([y, x])
            });
        if !options_ok {
            return Err(RequestError::Unsupported {
                what: "credential_sets other than one choice between the blind and the SD-JWT query",
            });
        }
    } else if dcql.get("credential_sets").is_some() {
        return Err(RequestError::Unsupported {
            what: "credential_sets",
        });
    }
    Ok((id.to_owned(), sets, blind, true))
}

/// A DCQL claim query's `path`, which must be one claim name that `parse` accepts (an
/// `age_over_NN` predicate, or a blind fact).
fn claim_path<T>(claim: &Value, parse: impl FnOnce(&str) -> Option<T>) -> Result<T, RequestError> {
    let path = claim.get("path").ok_or(RequestError::Invalid {
        name: "dcql_query",
        reason: "claim without path",
    })?;
    match path.as_array().map(Vec::as_slice) {
        Some([Value::String(name)]) => parse(name),
        _ => None,
    }
    .ok_or_else(|| RequestError::NonAgeClaim {
        path: path.to_string().chars().take(100).collect(),
    })
}

/// Parses the blind credential query (blind-profile.md §12.4).
fn blind_query(q: &Value) -> Result<BlindRequest, RequestError> {
    let invalid = |reason| RequestError::Invalid {
        name: "dcql_query",
        reason,
    };
    let id = q
        .get("id")
        .and_then(Value::as_str)
        .filter(|s| valid_id(s))
        .ok_or(invalid("bad credential query id"))?;
    if q.get("multiple") != Some(&Value::Bool(true)) {
        return Err(invalid("the blind query must have multiple: true"));
    }
    let meta = q
        .get("meta")
        .and_then(Value::as_object)
        .ok_or(invalid("the blind query has no meta object"))?;
    if meta
        .keys()
        .any(|k| !["token_type", "issuers", "min_floor"].contains(&k.as_str()))
    {
        return Err(RequestError::Unsupported {
            what: "blind query meta other than token_type, issuers and min_floor",
        });
    }
    if meta.get("token_type").and_then(Value::as_u64) != Some(2) {
        return Err(RequestError::UnknownCredentialType);
    }
    let issuers: Vec<String> = meta
        .get("issuers")
        .and_then(Value::as_array)
        .filter(|a| (1..=MAX_BLIND_ISSUERS).contains(&a.len()))
        .ok_or(invalid("meta.issuers is not an array of 1 to 16 issuers"))?
        .iter()
        .map(|v| {
            v.as_str()
                .filter(|s| s.len() <= MAX_ISSUER_ID && issuer_name_of(s).is_some())
                .map(str::to_owned)
                .ok_or(invalid("an issuer in meta.issuers is not an issuer URL"))
        })
        .collect::<Result<_, _>>()?;
    let min_floor = meta
        .get("min_floor")
        .and_then(Value::as_u64)
        .and_then(Floor::from_number)
        .ok_or(invalid("meta.min_floor is not 2 or 3"))?;
    let claims = q
        .get("claims")
        .and_then(Value::as_array)
        .filter(|c| !c.is_empty() && c.len() <= 6)
        .ok_or(invalid("the blind query's claims are not 1 to 6 facts"))?;
    let mut by_id: BTreeMap<&str, BlindFact> = BTreeMap::new();
    for claim in claims {
        let fact = claim_path(claim, BlindFact::from_name)?;
        if claim.get("values").is_some() {
            return Err(RequestError::Unsupported {
                what: "values in a blind-token claim query",
            });
        }
        let cid = claim
            .get("id")
            .and_then(Value::as_str)
            .filter(|c| *c == fact.name())
            .ok_or(invalid("a blind claim's id is not its fact name"))?;
        if by_id.insert(cid, fact).is_some() {
            return Err(invalid("duplicate claim id"));
        }
    }
    let claim_sets = q
        .get("claim_sets")
        .and_then(Value::as_array)
        .filter(|s| !s.is_empty() && s.len() <= MAX_CLAIM_SETS)
        .ok_or(invalid("the blind query's claim_sets are not 1 to 16 sets"))?
        .iter()
        .map(|set| {
            let ids = set
                .as_array()
                .filter(|a| !a.is_empty())
                .ok_or(invalid("empty claim set"))?;
            if ids.len() > MAX_SET {
                return Err(RequestError::TooManyPredicates);
            }
            let facts = ids
                .iter()
                .map(|i| {
                    i.as_str()
                        .and_then(|i| by_id.get(i))
                        .copied()
                        .ok_or(invalid("claim set names an unknown claim"))
                })
                .collect::<Result<Vec<_>, _>>()?;
            if facts.len() == 2 && facts[0] == facts[1] {
                return Err(invalid("a claim set names a fact twice"));
            }
            Ok(facts)
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(BlindRequest {
        query_id: id.to_owned(),
        issuers,
        min_floor,
        claim_sets,
    })
}

/// Decodes an unsecured request object (`alg` `none`, empty signature; protocol.md §8.1).
/// The `redirect_uri` client identifier prefix forbids signed requests.
fn request_object(jwt: &str) -> Result<Map<String, Value>, RequestError> {
    let invalid = |reason| RequestError::Invalid {
        name: "request",
        reason,
    };
    let mut parts = jwt.trim().split('.');
    let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(invalid("not a compact JWT"));
    };
    let header = b64::decode(h, 1024)
        .ok()
        .and_then(|b| json::parse_object(&b, 1024).ok())
        .ok_or(invalid("bad header"))?;
    if header.get("alg").and_then(Value::as_str) != Some("none") || !s.is_empty() {
        return Err(RequestError::Unsupported {
            what: "signed request objects",
        });
    }
    if header
        .get("typ")
        .is_some_and(|t| t.as_str() != Some("oauth-authz-req+jwt"))
    {
        return Err(invalid("typ is not oauth-authz-req+jwt"));
    }
    let payload = b64::decode(p, MAX_BODY).map_err(|_| invalid("payload not base64url"))?;
    let obj = json::parse_object(&payload, MAX_BODY).map_err(|_| invalid("payload not a JSON object"))?;
    if !obj
        .get("client_id")
        .and_then(Value::as_str)
        .is_some_and(|c| c.starts_with(REDIRECT_URI_PREFIX))
    {
        return Err(RequestError::Unsupported {
            what: "unsigned request objects without the redirect_uri prefix",
        });
    }
    Ok(obj)
}

/// Tells the verifier `access_denied` (protocol.md §8.4); failures are ignored, the user's
/// answer stands either way.
async fn deny(client: &reqwest::Client, request: &AuthorizationRequest) {
    let mut form = vec![("error", "access_denied")];
    if let Some(state) = &request.state {
        form.push(("state", state));
    }
    let _ = http::send(client.post(request.response_uri.clone()).form(&form), MAX_BODY).await;
}

fn valid_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn host_of(u: &Url) -> String {
    match (u.host_str(), u.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_owned(),
        _ => u.to_string(),
    }
}

fn band_words(b: &AgeBand) -> String {
    match (b.at_least, b.under) {
        (Some(lo), Some(hi)) => format!("at least {lo} and under {hi}"),
        (Some(lo), None) => format!("at least {lo}"),
        (None, Some(hi)) => format!("under {hi}"),
        (None, None) => "unknown".into(),
    }
}

fn describe_sets(sets: &[Vec<Predicate>]) -> String {
    sets.iter()
        .map(|s| outcome_of(s).to_string())
        .collect::<Vec<_>>()
        .join(" or ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::enrol::check_batch;
    use crate::store::KdfParams;
    use crate::testutil::{ISSUER, at_age, mint};
    use ageband_core::age::{AgeQuestion, ThresholdSet};
    use ageband_core::clock::ManualClock;
    use ageband_core::jws::{RingSigner, Signer as _};
    use std::sync::Arc;

    const RESPONSE_URI: &str = "https://verifier.example/v1/sessions/s1/response";

    fn t(y: u8) -> Threshold {
        Threshold::new(y).unwrap()
    }

    /// The DCQL encoding of protocol.md §8.2.
    pub(crate) fn dcql(sets: &[Vec<Predicate>]) -> Value {
        let mut claims: Vec<Value> = Vec::new();
        let mut ids: Vec<String> = Vec::new();
        let id = |(t, v): &Predicate| format!("age_over_{}_{v}", t.years());
        for (t, v) in sets.iter().flatten() {
            let cid = id(&(*t, *v));
            if !ids.contains(&cid) {
                claims.push(json!({"id": cid, "path": [t.claim_name()], "values": [v]}));
                ids.push(cid);
            }
        }
        let claim_sets: Vec<Vec<String>> = sets.iter().map(|s| s.iter().map(id).collect()).collect();
        json!({"credentials": [{"id": "age", "format": "dc+sd-jwt", "meta": {"vct_values": [VCT]},
            "claims": claims, "claim_sets": claim_sets}]})
    }

    fn params(dcql: &Value) -> Vec<(String, String)> {
        [
            ("client_id", format!("redirect_uri:{RESPONSE_URI}")),
            ("response_type", "vp_token".into()),
            ("response_mode", "direct_post".into()),
            ("response_uri", RESPONSE_URI.into()),
            ("nonce", "n-0S6_WzA2Mj".into()),
            ("state", "st-1".into()),
            ("dcql_query", dcql.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    fn link_of(params: &[(String, String)]) -> String {
        let mut s = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in params {
            s.append_pair(k, v);
        }
        format!("openid4vp://?{}", s.finish())
    }

    fn band() -> Vec<Vec<Predicate>> {
        AgeQuestion::Band(ThresholdSet::default_set()).claim_sets(false)
    }

    fn with(mut p: Vec<(String, String)>, k: &str, v: &str) -> Vec<(String, String)> {
        p.retain(|(key, _)| key != k);
        p.push((k.to_owned(), v.to_owned()));
        p
    }

    fn without(mut p: Vec<(String, String)>, k: &str) -> Vec<(String, String)> {
        p.retain(|(key, _)| key != k);
        p
    }

    #[test]
    fn by_value_link_parses() {
        let Link::ByValue(r) = parse_link(&link_of(&params(&dcql(&band())))).unwrap() else {
            panic!("by value")
        };
        assert_eq!(r.client_id, format!("redirect_uri:{RESPONSE_URI}"));
        assert_eq!(r.response_uri.as_str(), RESPONSE_URI);
        assert_eq!(
            (r.nonce.as_str(), r.state.as_deref(), r.query_id.as_str()),
            ("n-0S6_WzA2Mj", Some("st-1"), "age")
        );
        assert_eq!(r.answer_sets, band());
    }

    #[test]
    fn by_reference_and_inline_request_object() {
        let link = format!(
            "openid4vp://?client_id={}&request_uri={}",
            url::form_urlencoded::byte_serialize(format!("redirect_uri:{RESPONSE_URI}").as_bytes())
                .collect::<String>(),
            url::form_urlencoded::byte_serialize(b"https://verifier.example/v1/sessions/s1/request")
                .collect::<String>()
        );
        assert_eq!(
            parse_link(&link).unwrap(),
            Link::ByReference {
                client_id: format!("redirect_uri:{RESPONSE_URI}"),
                request_uri: Url::parse("https://verifier.example/v1/sessions/s1/request").unwrap()
            }
        );
        let insecure = link.replace("https", "http");
        assert_eq!(
            parse_link(&insecure),
            Err(RequestError::InsecureUri { name: "request_uri" })
        );
        // `request=` with an unsecured request object.
        let obj: Map<String, Value> = params(&dcql(&band()))
            .into_iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    if k == "dcql_query" {
                        serde_json::from_str(&v).unwrap()
                    } else {
                        Value::String(v)
                    },
                )
            })
            .collect();
        let jwt = format!(
            "{}.{}.",
            b64::encode(r#"{"alg":"none","typ":"oauth-authz-req+jwt"}"#),
            b64::encode(Value::Object(obj.clone()).to_string())
        );
        let cid = format!("redirect_uri:{RESPONSE_URI}");
        let link = link_of(&[("client_id".into(), cid.clone()), ("request".into(), jwt)]);
        assert!(matches!(parse_link(&link), Ok(Link::ByValue(_))));
        // A signed request object is refused (the redirect_uri prefix forbids it).
        let signed = format!(
            "{}.{}.c2ln",
            b64::encode(r#"{"alg":"ES256"}"#),
            b64::encode(Value::Object(obj).to_string())
        );
        let link = link_of(&[("client_id".into(), cid), ("request".into(), signed)]);
        assert!(matches!(parse_link(&link), Err(RequestError::Unsupported { .. })));
    }

    #[test]
    fn malformed_and_over_asking_requests_are_refused() {
        let good = params(&dcql(&band()));
        type Case = (&'static str, String, fn(&RequestError) -> bool);
        let cases: Vec<Case> = vec![
            (
                "https scheme",
                link_of(&good).replace("openid4vp://", "https://x/"),
                |e| *e == RequestError::NotAnOpenid4vpLink,
            ),
            ("missing nonce", link_of(&without(good.clone(), "nonce")), |e| {
                *e == RequestError::Missing { name: "nonce" }
            }),
            ("empty nonce", link_of(&with(good.clone(), "nonce", "")), |e| {
                *e == RequestError::Missing { name: "nonce" }
            }),
            ("duplicate nonce", format!("{}&nonce=x", link_of(&good)), |e| {
                matches!(e, RequestError::DuplicateParameter { .. })
            }),
            (
                "http response_uri",
                {
                    let p = with(good.clone(), "response_uri", "http://verifier.example/r");
                    link_of(&with(p, "client_id", "redirect_uri:http://verifier.example/r"))
                },
                |e| *e == RequestError::InsecureUri { name: "response_uri" },
            ),
            (
                "client_id mismatch",
                link_of(&with(
                    good.clone(),
                    "client_id",
                    "redirect_uri:https://evil.example/r",
                )),
                |e| *e == RequestError::ClientIdMismatch,
            ),
            (
                "client_id prefix",
                link_of(&with(good.clone(), "client_id", "verifier.example")),
                |e| *e == RequestError::ClientIdMismatch,
            ),
            (
                "response_mode",
                link_of(&with(good.clone(), "response_mode", "fragment")),
                |e| {
                    matches!(
                        e,
                        RequestError::Invalid {
                            name: "response_mode",
                            ..
                        }
                    )
                },
            ),
            (
                "response_type",
                link_of(&with(good.clone(), "response_type", "vp_token id_token")),
                |e| {
                    matches!(
                        e,
                        RequestError::Invalid {
                            name: "response_type",
                            ..
                        }
                    )
                },
            ),
            ("no dcql", link_of(&without(good.clone(), "dcql_query")), |e| {
                *e == RequestError::Missing { name: "dcql_query" }
            }),
            (
                "unknown vct",
                {
                    let mut q = dcql(&band());
                    q["credentials"][0]["meta"]["vct_values"] = json!(["eu.europa.ec.eudi.pid.1"]);
                    link_of(&with(good.clone(), "dcql_query", &q.to_string()))
                },
                |e| *e == RequestError::UnknownCredentialType,
            ),
            (
                "mdoc format",
                {
                    let mut q = dcql(&band());
                    q["credentials"][0]["format"] = json!("mso_mdoc");
                    link_of(&with(good.clone(), "dcql_query", &q.to_string()))
                },
                |e| *e == RequestError::UnknownCredentialType,
            ),
            (
                "birthdate claim",
                {
                    let mut q = dcql(&band());
                    q["credentials"][0]["claims"][0]["path"] = json!(["birthdate"]);
                    link_of(&with(good.clone(), "dcql_query", &q.to_string()))
                },
                |e| matches!(e, RequestError::NonAgeClaim { .. }),
            ),
            (
                "nested path",
                {
                    let mut q = dcql(&band());
                    q["credentials"][0]["claims"][0]["path"] = json!(["address", "age_over_13"]);
                    link_of(&with(good.clone(), "dcql_query", &q.to_string()))
                },
                |e| matches!(e, RequestError::NonAgeClaim { .. }),
            ),
            (
                "three predicates in a set",
                {
                    let sets = vec![vec![(t(13), true), (t(16), true), (t(18), true)]];
                    link_of(&with(good.clone(), "dcql_query", &dcql(&sets).to_string()))
                },
                |e| *e == RequestError::TooManyPredicates,
            ),
            (
                "claims without values",
                {
                    let mut q = dcql(&band());
                    q["credentials"][0]["claims"][0]
                        .as_object_mut()
                        .unwrap()
                        .remove("values");
                    link_of(&with(good.clone(), "dcql_query", &q.to_string()))
                },
                |e| matches!(e, RequestError::Unsupported { .. }),
            ),
            (
                "two credential queries",
                {
                    let mut q = dcql(&band());
                    let c = q["credentials"][0].clone();
                    q["credentials"].as_array_mut().unwrap().push(c);
                    link_of(&with(good.clone(), "dcql_query", &q.to_string()))
                },
                |e| matches!(e, RequestError::Unsupported { .. }),
            ),
            (
                "verifier takes only mdoc",
                link_of(&with(
                    good.clone(),
                    "client_metadata",
                    r#"{"vp_formats_supported":{"mso_mdoc":{}}}"#,
                )),
                |e| {
                    matches!(
                        e,
                        RequestError::Invalid {
                            name: "client_metadata",
                            ..
                        }
                    )
                },
            ),
            (
                "dcql not JSON",
                link_of(&with(good.clone(), "dcql_query", "{nope")),
                |e| matches!(e, RequestError::Invalid { .. }),
            ),
            (
                "dcql duplicate member",
                link_of(&with(
                    good.clone(),
                    "dcql_query",
                    r#"{"credentials":[],"credentials":[]}"#,
                )),
                |e| matches!(e, RequestError::Invalid { .. }),
            ),
        ];
        for (name, link, want) in cases {
            let err = parse_link(&link).expect_err(name);
            assert!(want(&err), "{name}: {err:?}");
        }
    }

    /// The extended DCQL of blind-profile.md §12.4 (band 13/16/18, min floor 2).
    fn blind_dcql() -> Value {
        let mut q = dcql(&band());
        let facts = [
            "age_under_13",
            "age_over_13",
            "age_under_16",
            "age_over_16",
            "age_under_18",
            "age_over_18",
        ];
        q["credentials"].as_array_mut().unwrap().push(json!({
            "id": "age_blind", "format": "ageband-private-token", "multiple": true,
            "meta": {"token_type": 2, "issuers": [ISSUER], "min_floor": 2},
            "claims": facts.iter().map(|f| json!({"id": f, "path": [f]})).collect::<Vec<_>>(),
            "claim_sets": [["age_under_13"], ["age_over_13", "age_under_16"],
                           ["age_over_16", "age_under_18"], ["age_over_18"]]
        }));
        q["credential_sets"] = json!([{"options": [["age_blind"], ["age"]]}]);
        q
    }

    fn blind_params(q: &Value) -> Vec<(String, String)> {
        with(params(q), "nonce", "0123456789abcdefghijkl")
    }

    #[test]
    fn blind_requests_parse_and_refuse_strictly() {
        let Link::ByValue(r) = parse_link(&link_of(&blind_params(&blind_dcql()))).unwrap() else {
            panic!("by value")
        };
        let b = r.blind.unwrap();
        assert_eq!(r.query_id, "age");
        assert_eq!(r.answer_sets, band());
        assert_eq!((b.query_id.as_str(), b.min_floor), ("age_blind", Floor::Level2));
        assert_eq!(b.issuers, [ISSUER]);
        let f = |n: &str| BlindFact::from_name(n).unwrap();
        assert_eq!(b.claim_sets[1], [f("age_over_13"), f("age_under_16")]);
        // Options in the other order are accepted too; a request without the blind query
        // parses exactly as before.
        let mut q = blind_dcql();
        q["credential_sets"] = json!([{"options": [["age"], ["age_blind"]], "required": true}]);
        assert!(parse_link(&link_of(&blind_params(&q))).is_ok());
        let Link::ByValue(r) = parse_link(&link_of(&params(&dcql(&band())))).unwrap() else {
            panic!()
        };
        assert_eq!(r.blind, None);
        assert!(r.sd_jwt);
        // The blind query alone: its claim sets stand in for the answer sets.
        let mut q = blind_dcql();
        let b = q["credentials"][1].clone();
        q["credentials"] = json!([b]);
        q.as_object_mut().unwrap().remove("credential_sets");
        let Link::ByValue(r) = parse_link(&link_of(&blind_params(&q))).unwrap() else {
            panic!()
        };
        assert!(!r.sd_jwt);
        assert_eq!(
            (r.query_id.as_str(), r.answer_sets.clone()),
            ("age_blind", band())
        );
        q["credential_sets"] = json!([{"options": [["age_blind"]]}]);
        assert!(matches!(
            parse_link(&link_of(&blind_params(&q))),
            Err(RequestError::Unsupported { .. })
        ));

        type Tweak = fn(&mut Value);
        type Want = fn(&RequestError) -> bool;
        let cases: Vec<(&str, Tweak, Want)> = vec![
            (
                "three facts in a set",
                |q| {
                    q["credentials"][1]["claim_sets"][0] =
                        json!(["age_over_13", "age_under_16", "age_under_18"])
                },
                |e| *e == RequestError::TooManyPredicates,
            ),
            (
                "a claim that is not a fact",
                |q| q["credentials"][1]["claims"][0] = json!({"id": "birthdate", "path": ["birthdate"]}),
                |e| matches!(e, RequestError::NonAgeClaim { .. }),
            ),
            (
                "age_over_17",
                |q| q["credentials"][1]["claims"][0] = json!({"id": "age_over_17", "path": ["age_over_17"]}),
                |e| matches!(e, RequestError::NonAgeClaim { .. }),
            ),
            (
                "values",
                |q| q["credentials"][1]["claims"][0]["values"] = json!([true]),
                |e| matches!(e, RequestError::Unsupported { .. }),
            ),
            (
                "id not the fact",
                |q| q["credentials"][1]["claims"][0]["id"] = json!("x"),
                |e| matches!(e, RequestError::Invalid { .. }),
            ),
            (
                "no credential_sets",
                |q| drop(q.as_object_mut().unwrap().remove("credential_sets")),
                |e| matches!(e, RequestError::Unsupported { .. }),
            ),
            (
                "other options",
                |q| q["credential_sets"] = json!([{"options": [["age_blind", "age"]]}]),
                |e| matches!(e, RequestError::Unsupported { .. }),
            ),
            (
                "optional set",
                |q| q["credential_sets"][0]["required"] = json!(false),
                |e| matches!(e, RequestError::Unsupported { .. }),
            ),
            (
                "token type 1",
                |q| q["credentials"][1]["meta"]["token_type"] = json!(1),
                |e| *e == RequestError::UnknownCredentialType,
            ),
            (
                "floor 4",
                |q| q["credentials"][1]["meta"]["min_floor"] = json!(4),
                |e| matches!(e, RequestError::Invalid { .. }),
            ),
            (
                "floor as string",
                |q| q["credentials"][1]["meta"]["min_floor"] = json!("2"),
                |e| matches!(e, RequestError::Invalid { .. }),
            ),
            (
                "no issuers",
                |q| q["credentials"][1]["meta"]["issuers"] = json!([]),
                |e| matches!(e, RequestError::Invalid { .. }),
            ),
            (
                "issuer not a URL",
                |q| q["credentials"][1]["meta"]["issuers"] = json!(["issuer.example"]),
                |e| matches!(e, RequestError::Invalid { .. }),
            ),
            (
                "unknown meta",
                |q| q["credentials"][1]["meta"]["x"] = json!(1),
                |e| matches!(e, RequestError::Unsupported { .. }),
            ),
            (
                "not multiple",
                |q| q["credentials"][1]["multiple"] = json!(false),
                |e| matches!(e, RequestError::Invalid { .. }),
            ),
            (
                "same id",
                |q| q["credentials"][1]["id"] = json!("age"),
                |e| matches!(e, RequestError::Invalid { .. }),
            ),
            (
                "fact twice in a set",
                |q| q["credentials"][1]["claim_sets"][0] = json!(["age_over_13", "age_over_13"]),
                |e| matches!(e, RequestError::Invalid { .. }),
            ),
            (
                "unknown claim in a set",
                |q| q["credentials"][1]["claim_sets"][0] = json!(["age_over_21"]),
                |e| matches!(e, RequestError::Invalid { .. }),
            ),
            (
                "two blind queries",
                |q| {
                    let b = q["credentials"][1].clone();
                    q["credentials"][0] = b;
                },
                |e| matches!(e, RequestError::Unsupported { .. }),
            ),
            (
                "three queries",
                |q| {
                    let b = q["credentials"][1].clone();
                    q["credentials"].as_array_mut().unwrap().push(b);
                },
                |e| matches!(e, RequestError::Unsupported { .. }),
            ),
        ];
        for (name, tweak, want) in cases {
            let mut q = blind_dcql();
            tweak(&mut q);
            let err = parse_link(&link_of(&blind_params(&q))).expect_err(name);
            assert!(want(&err), "{name}: {err:?}");
        }
        // The binding needs a nonce of 16 to 64 bytes.
        let err = parse_link(&link_of(&params(&blind_dcql()))).unwrap_err();
        assert!(
            matches!(err, RequestError::Invalid { name: "nonce", .. }),
            "{err:?}"
        );
        let long = "n".repeat(65);
        let err = parse_link(&link_of(&with(params(&blind_dcql()), "nonce", &long))).unwrap_err();
        assert!(
            matches!(err, RequestError::Invalid { name: "nonce", .. }),
            "{err:?}"
        );
    }

    #[test]
    fn mangled_links_never_panic() {
        let good = link_of(&params(&dcql(&band())));
        let decoded = url::form_urlencoded::parse(good.split_once('?').unwrap().1.as_bytes())
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&");
        for base in [good.as_str(), decoded.as_str()] {
            for i in 0..base.len() {
                if !base.is_char_boundary(i) {
                    continue;
                }
                let _ = parse_link(&base[..i]);
                for c in ['%', '&', '=', '"', '{', ']', '\\', '\u{0}', 'é'] {
                    let mut m = base.to_owned();
                    let end = (i + 1..=m.len())
                        .find(|&j| m.is_char_boundary(j))
                        .unwrap_or(m.len());
                    m.replace_range(i..end, &c.to_string());
                    let _ = parse_link(&m);
                }
            }
        }
        assert!(parse_link(&good).is_ok());
    }

    fn wallet_with(dir: &std::path::Path, ages: &[(u8, &str)]) -> Wallet {
        let now = Date::parse("2026-11-29").unwrap().unix_seconds() + 3600;
        let mut w = Wallet::create_with(
            dir,
            "pw",
            KdfParams::INSECURE_TEST,
            Arc::new(ManualClock::new(now)),
        )
        .unwrap();
        for &(age, level) in ages {
            let issuer = RingSigner::generate().unwrap();
            let (creds, holders) = mint(
                &issuer,
                1,
                &at_age(age),
                Date::parse("2026-11-29").unwrap(),
                30,
                |_, _, p| {
                    p.insert("assurance".into(), json!(level));
                },
            );
            w.add_batch(check_batch(ISSUER, &[issuer.public_jwk().clone()], &creds, &holders, now).unwrap())
                .unwrap();
        }
        w
    }

    fn request(sets: Vec<Vec<Predicate>>) -> AuthorizationRequest {
        let Link::ByValue(r) = parse_link(&link_of(&params(&dcql(&sets)))).unwrap() else {
            panic!()
        };
        r
    }

    #[test]
    fn minimal_selection_band_at_least_under() {
        let dir = tempfile::tempdir().unwrap();
        let w = wallet_with(dir.path(), &[(14, "standard")]);
        let pick = |sets| select(&w, &request(sets)).unwrap().map(|(_, s)| s);
        assert_eq!(pick(band()), Some(vec![(t(13), true), (t(16), false)]));
        let at_least = |n, neg| AgeQuestion::AtLeast(t(n)).claim_sets(neg);
        assert_eq!(pick(at_least(13, false)), Some(vec![(t(13), true)]));
        assert_eq!(pick(at_least(16, false)), None);
        assert_eq!(pick(at_least(16, true)), Some(vec![(t(16), false)]));
        assert_eq!(
            pick(AgeQuestion::Under(t(16)).claim_sets(false)),
            Some(vec![(t(16), false)])
        );
        assert_eq!(pick(AgeQuestion::Under(t(13)).claim_sets(false)), None);
        // A threshold the credential does not carry fits nothing.
        assert_eq!(pick(at_least(21, true)), None);
        // Two sets that both fit: refused as ambiguous.
        let sets = vec![vec![(t(13), true)], vec![(t(16), false)]];
        assert_eq!(select(&w, &request(sets)), Err(RequestError::Ambiguous));
        for (age, want) in [(9, "under 13"), (16, "16–17"), (40, "18+")] {
            let d = tempfile::tempdir().unwrap();
            let w = wallet_with(d.path(), &[(age, "basic")]);
            let (_, set) = select(&w, &request(band())).unwrap().unwrap();
            assert_eq!(outcome_of(&set).to_string(), want);
            assert!(set.len() <= 2);
        }
    }

    #[test]
    fn selection_prefers_the_highest_level() {
        let dir = tempfile::tempdir().unwrap();
        let w = wallet_with(dir.path(), &[(30, "asserted"), (30, "enhanced"), (30, "basic")]);
        let (i, _) = select(&w, &request(band())).unwrap().unwrap();
        assert_eq!(w.raw()[i].assurance, AssuranceLevel::Enhanced);
    }

    #[test]
    fn summary_says_what_and_to_whom() {
        let s = Summary {
            verifier: "verifier.example".into(),
            response_uri: RESPONSE_URI.into(),
            disclosed: vec![(t(13), true), (t(16), false)],
            band: outcome_of(&[(t(13), true), (t(16), false)]),
            issuer: ISSUER.into(),
            assurance: AssuranceLevel::Standard,
            shared: Shared::SdJwt {
                source: Source::ThirdPartyCheck,
                issued_at: Date::parse("2026-11-29").unwrap(),
                expires_at: Date::parse("2026-12-29").unwrap(),
            },
            remaining: 29,
        };
        let text = s.to_string();
        for needle in [
            "verifier.example",
            "at least 13 and under 16",
            "age_over_13: true",
            "age_over_16: false",
            ISSUER,
            "29 left",
        ] {
            assert!(text.contains(needle), "{needle} in {text}");
        }
        assert!(!text.contains('\n'));
    }
}
