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

use crate::http::{self, HttpError, MAX_BODY};
use crate::store::StoreError;
use crate::wallet::Wallet;

/// The link scheme of OpenID4VP.
pub const SCHEME: &str = "openid4vp";
/// The client identifier prefix ageband verifiers use (OpenID4VP §5.9.3).
pub const REDIRECT_URI_PREFIX: &str = "redirect_uri:";
/// Most predicates an answer set may ask for (protocol.md §8.3).
pub const MAX_SET: usize = 2;
/// Longest accepted `nonce` or `state`.
const MAX_PARAM: usize = 512;

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
    /// The predicates to be disclosed.
    pub disclosed: Vec<Predicate>,
    /// What they say.
    pub band: AgeBand,
    /// The credential's issuer (visible to the verifier).
    pub issuer: String,
    /// The level (visible).
    pub assurance: AssuranceLevel,
    /// The source (visible).
    pub source: Source,
    /// Day of issuance (visible).
    pub issued_at: Date,
    /// Day of expiry (visible).
    pub expires_at: Date,
    /// Unused credentials left after this one.
    pub remaining: usize,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
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
            self.source,
            self.issued_at,
            self.expires_at,
            self.response_uri,
            self.remaining
        )
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
    let (client_id, request_uri) = match parse_link(link)? {
        Link::ByValue(r) => return Ok(r),
        Link::ByReference {
            client_id,
            request_uri,
        } => (client_id, request_uri),
    };
    let client = http::client().map_err(|source| PresentError::Http {
        step: "request",
        source,
    })?;
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
    if obj.get("client_id").and_then(Value::as_str) != Some(client_id.as_str()) {
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
    let request = resolve(link).await?;
    let client = http::client().map_err(|source| PresentError::Http {
        step: "response",
        source,
    })?;
    let Some((index, set)) = select(wallet, &request)? else {
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
        source: c.source,
        issued_at: Date::from_unix_seconds(c.iat),
        expires_at: Date::from_unix_seconds(c.exp),
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
    let mut form = vec![("vp_token", vp_token.as_str())];
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

/// The credential to use and the one answer set it fits (protocol.md §8.3): among the usable
/// credentials with exactly one fitting set, the highest level, then the earliest expiry.
pub(crate) fn select(
    wallet: &Wallet,
    request: &AuthorizationRequest,
) -> Result<Option<(usize, Vec<Predicate>)>, RequestError> {
    type Rank = (AssuranceLevel, std::cmp::Reverse<u64>);
    let mut best: Option<(usize, Vec<Predicate>, Rank)> = None;
    for (index, c) in wallet.usable() {
        let held: BTreeMap<Threshold, bool> = c
            .predicates
            .iter()
            .filter_map(|(t, v)| Threshold::new(*t).ok().map(|t| (t, *v)))
            .collect();
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
    let (query_id, answer_sets) = dcql_sets(dcql)?;
    Ok(AuthorizationRequest {
        client_id: client_id.to_owned(),
        response_uri,
        nonce: nonce.to_owned(),
        state,
        query_id,
        answer_sets,
    })
}

/// Turns a DCQL query into answer sets (protocol.md §8.2).
fn dcql_sets(dcql: &Value) -> Result<(String, Vec<Vec<Predicate>>), RequestError> {
    let invalid = |reason| RequestError::Invalid {
        name: "dcql_query",
        reason,
    };
    if dcql.get("credential_sets").is_some() {
        return Err(RequestError::Unsupported {
            what: "credential_sets",
        });
    }
    let creds = dcql
        .get("credentials")
        .and_then(Value::as_array)
        .ok_or(invalid("no credentials array"))?;
    let [q] = creds.as_slice() else {
        return Err(RequestError::Unsupported {
            what: "more than one credential query",
        });
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
        let path = claim.get("path").ok_or(invalid("claim without path"))?;
        let threshold = match path.as_array().map(Vec::as_slice) {
            Some([Value::String(name)]) => Threshold::from_claim_name(name),
            _ => None,
        }
        .ok_or_else(|| RequestError::NonAgeClaim {
            path: path.to_string().chars().take(100).collect(),
        })?;
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
    Ok((id.to_owned(), sets))
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
            source: Source::ThirdPartyCheck,
            issued_at: Date::parse("2026-11-29").unwrap(),
            expires_at: Date::parse("2026-12-29").unwrap(),
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
