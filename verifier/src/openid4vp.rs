//! The OpenID4VP 1.0 form of an [`AgeRequest`] (protocol.md §8.1–§8.4, DESIGN §7): the DCQL
//! query with one `claim_sets` entry per answer set, the `redirect_uri:` client identifier, the
//! `openid4vp://` link carrying the request by value, and the `vp_token` of a `direct_post`.
//! This is where the SD-JWT profile shows (`dc+sd-jwt`, `vct_values`), and the blind-token
//! offer beside it (blind-profile.md §12.4: credential query `age_blind` of format
//! `ageband-private-token`, `credential_sets` preferring it).

use serde_json::{Map, Value, json};

use ageband_blind::profile::{BLIND_THRESHOLDS, BlindFact, FactKind, Floor};
use ageband_core::age::Predicate;
use ageband_core::json;
use ageband_core::profile::VCT;

use crate::request::{AgeRequest, RequestError};
use crate::trust::TrustList;

/// The client identifier prefix for verifiers known by their response URI (OpenID4VP §5.9.3).
pub const CLIENT_ID_PREFIX: &str = "redirect_uri:";
/// `response_type`.
pub const RESPONSE_TYPE: &str = "vp_token";
/// `response_mode`.
pub const RESPONSE_MODE: &str = "direct_post";
/// The id of the one DCQL credential query, and the key of the `vp_token` object.
pub const CREDENTIAL_QUERY_ID: &str = "age";
/// The id of the blind-token credential query, and its key in the `vp_token` object
/// (blind-profile.md §12.4).
pub const BLIND_QUERY_ID: &str = "age_blind";
/// The DCQL format of blind tokens (blind-profile.md §12.4).
pub const BLIND_FORMAT: &str = "ageband-private-token";
/// The `aud` of a request addressed to any wallet (OpenID4VP, protocol.md §8.1).
pub const SELF_ISSUED_AUD: &str = "https://self-issued.me/v2";
/// The URL scheme of the by-value link.
pub const LINK_SCHEME: &str = "openid4vp://";
/// Largest `vp_token` accepted (a presentation is at most 16 KiB; JSON adds little).
pub const MAX_VP_TOKEN: usize = 17 * 1024;

/// The `client_id` of a verifier whose responses go to `response_uri`.
pub fn client_id_for(response_uri: &str) -> String {
    format!("{CLIENT_ID_PREFIX}{response_uri}")
}

/// What a verifier offers for blind tokens in one request (blind-profile.md §12.4): the trusted
/// issuers with a directory and the minimum floor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlindOffer {
    /// Identifiers of the trusted issuers with a directory whose policy allows the required
    /// level, sorted.
    pub issuers: Vec<String>,
    /// The lowest floor accepted.
    pub min_floor: Floor,
}

impl BlindOffer {
    /// The blind offer for `request` under `trust`, if any: every threshold of every answer set
    /// is 13, 16 or 18 and at least one trusted issuer with a directory has an effective
    /// minimum floor ([`crate::verify::effective_min_floor`]): a required level (the larger of
    /// the request's `min_assurance` and its policy's minimum) of at most `standard`, and a
    /// source policy that accepts every source of some floor ([`lowest_acceptable_floor`]).
    /// `min_floor` is the largest effective floor among the issuers offered, so that no token
    /// the offer admits is refused for its floor (and none is spent and then refused for the
    /// policy).
    ///
    /// [`lowest_acceptable_floor`]: crate::lowest_acceptable_floor
    pub fn for_request(request: &AgeRequest, trust: &TrustList) -> Option<BlindOffer> {
        let sets = request.answer_sets();
        if sets.is_empty()
            || sets
                .iter()
                .flatten()
                .any(|(t, _)| !BLIND_THRESHOLDS.contains(&t.years()))
        {
            return None;
        }
        let mut issuers = Vec::new();
        let mut min_floor = Floor::Level2;
        for (policy, _) in trust.blind_issuers() {
            if let Some(floor) = crate::verify::effective_min_floor(policy, request.minimum()) {
                issuers.push(policy.id().to_owned());
                min_floor = min_floor.max(floor);
            }
        }
        if issuers.is_empty() {
            return None;
        }
        issuers.sort();
        Some(BlindOffer { issuers, min_floor })
    }
}

/// The blind fact an answer-set pair stands for: (N, true) → `age_over_N`, (N, false) →
/// `age_under_N`.
fn fact_of((t, v): &Predicate) -> Option<BlindFact> {
    BlindFact::new(if *v { FactKind::Over } else { FactKind::Under }, t.years())
}

/// The `age_blind` credential query of blind-profile.md §12.4: one claim query per fact in order
/// of first use, one claim set per answer set.
pub fn blind_credential_query(answer_sets: &[Vec<Predicate>], offer: &BlindOffer) -> Value {
    let mut claims: Vec<Value> = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    let mut claim_sets: Vec<Vec<String>> = Vec::new();
    for set in answer_sets {
        let mut names = Vec::new();
        for p in set {
            let name = fact_of(p).map_or_else(|| p.0.claim_name(), BlindFact::name);
            if !seen.contains(&name) {
                claims.push(json!({"id": name, "path": [name]}));
                seen.push(name.clone());
            }
            names.push(name);
        }
        claim_sets.push(names);
    }
    json!({
        "id": BLIND_QUERY_ID,
        "format": BLIND_FORMAT,
        "multiple": true,
        "meta": {"token_type": 2, "issuers": offer.issuers, "min_floor": offer.min_floor.number()},
        "claims": claims,
        "claim_sets": claim_sets,
    })
}

/// Which profiles a request offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Profiles {
    /// The SD-JWT credential query `age`.
    pub sd_jwt: bool,
    /// The blind-token credential query `age_blind`.
    pub blind: bool,
}

/// An OpenID4VP authorization request for an age question.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthorizationRequest {
    /// `redirect_uri:<response_uri>`; also the KB-JWT audience.
    pub client_id: String,
    /// Where the wallet posts its response.
    pub response_uri: String,
    /// The request's nonce.
    pub nonce: String,
    /// Opaque value the wallet echoes; distinct from the nonce and the session id.
    pub state: String,
    /// The DCQL query.
    pub dcql_query: Value,
    /// The blind-token offer, when the query holds `age_blind`.
    pub blind: Option<BlindOffer>,
    /// Whether the query holds the SD-JWT query `age`.
    pub sd_jwt: bool,
}

impl AuthorizationRequest {
    /// The OpenID4VP form of `request`, whose audience must be `client_id_for(response_uri)`:
    /// the SD-JWT query only (protocol.md §8.1).
    pub fn new(request: &AgeRequest, response_uri: &str, state: &str) -> Result<Self, RequestError> {
        Self::with_offers(request, response_uri, state, true, None)
    }

    /// As [`AuthorizationRequest::new`], offering the SD-JWT query when `sd_jwt` and the blind
    /// query when `blind` is given (blind-profile.md §12.4): with both, `credential_sets`
    /// lists `[["age_blind"], ["age"]]`, blind first. At least one must be offered.
    pub fn with_offers(
        request: &AgeRequest,
        response_uri: &str,
        state: &str,
        sd_jwt: bool,
        blind: Option<BlindOffer>,
    ) -> Result<Self, RequestError> {
        let url = url::Url::parse(response_uri).map_err(|_| RequestError::ResponseUri)?;
        if !matches!(url.scheme(), "https" | "http") || request.audience() != client_id_for(response_uri) {
            return Err(RequestError::ResponseUri);
        }
        if request.question().is_none() {
            return Err(RequestError::NoQuestion);
        }
        Ok(AuthorizationRequest {
            client_id: client_id_for(response_uri),
            response_uri: response_uri.to_owned(),
            nonce: request.nonce().to_owned(),
            state: state.to_owned(),
            dcql_query: dcql_query_with(&request.answer_sets(), VCT, sd_jwt, blind.as_ref())
                .ok_or(RequestError::NoQuestion)?,
            blind,
            sd_jwt,
        })
    }

    /// The profiles this request offers.
    pub fn profiles(&self) -> Profiles {
        Profiles {
            sd_jwt: self.sd_jwt,
            blind: self.blind.is_some(),
        }
    }

    /// The request as a JSON object (served at `GET /v1/sessions/{id}/request`).
    pub fn to_json(&self) -> Value {
        json!({
            "aud": SELF_ISSUED_AUD,
            "client_id": self.client_id,
            "response_type": RESPONSE_TYPE,
            "response_mode": RESPONSE_MODE,
            "response_uri": self.response_uri,
            "nonce": self.nonce,
            "state": self.state,
            "client_metadata": client_metadata(),
            "dcql_query": self.dcql_query,
        })
    }

    /// `openid4vp://?client_id=…&response_type=vp_token&response_mode=direct_post&response_uri=…&nonce=…&state=…&dcql_query=…&client_metadata=…&aud=…`:
    /// the whole request by value (protocol.md §8.1), `dcql_query` and `client_metadata` as
    /// JSON text, every value percent-encoded.
    pub fn link(&self) -> String {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        q.append_pair("client_id", &self.client_id)
            .append_pair("response_type", RESPONSE_TYPE)
            .append_pair("response_mode", RESPONSE_MODE)
            .append_pair("response_uri", &self.response_uri)
            .append_pair("nonce", &self.nonce)
            .append_pair("state", &self.state)
            .append_pair("dcql_query", &self.dcql_query.to_string())
            .append_pair("client_metadata", &client_metadata().to_string())
            .append_pair("aud", SELF_ISSUED_AUD);
        format!("{LINK_SCHEME}?{}", q.finish())
    }
}

/// The formats and algorithms this verifier accepts.
fn client_metadata() -> Value {
    json!({"vp_formats_supported": {"dc+sd-jwt":
        {"sd-jwt_alg_values": ["ES256"], "kb-jwt_alg_values": ["ES256"]}}})
}

/// The DCQL query (protocol.md §8.2): one credential query `age` of format `dc+sd-jwt`, one
/// claim query per (threshold, value) pair in order of first use, one claim set per answer set.
pub fn dcql_query(answer_sets: &[Vec<Predicate>], vct: &str) -> Value {
    let id = |(t, v): &Predicate| format!("{}_{v}", t.claim_name());
    let mut claims: Vec<Value> = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    for p in answer_sets.iter().flatten() {
        let cid = id(p);
        if !seen.contains(&cid) {
            claims.push(json!({"id": cid, "path": [p.0.claim_name()], "values": [p.1]}));
            seen.push(cid);
        }
    }
    let claim_sets: Vec<Vec<String>> = answer_sets
        .iter()
        .map(|set| set.iter().map(id).collect())
        .collect();
    json!({"credentials": [{
        "id": CREDENTIAL_QUERY_ID,
        "format": "dc+sd-jwt",
        "meta": {"vct_values": [vct]},
        "claims": claims,
        "claim_sets": claim_sets,
    }]})
}

/// The DCQL query offering the SD-JWT query (when `sd_jwt`), the blind query (when `blind` is
/// given), or both with `credential_sets` preferring the blind one (blind-profile.md §12.4).
/// `None` when neither is offered.
pub fn dcql_query_with(
    answer_sets: &[Vec<Predicate>],
    vct: &str,
    sd_jwt: bool,
    blind: Option<&BlindOffer>,
) -> Option<Value> {
    let sd = dcql_query(answer_sets, vct)["credentials"][0].clone();
    match (sd_jwt, blind) {
        (true, None) => Some(json!({"credentials": [sd]})),
        (false, Some(offer)) => Some(json!({"credentials": [blind_credential_query(answer_sets, offer)]})),
        (true, Some(offer)) => Some(json!({
            "credentials": [sd, blind_credential_query(answer_sets, offer)],
            "credential_sets": [{"options": [[BLIND_QUERY_ID], [CREDENTIAL_QUERY_ID]]}],
        })),
        (false, None) => None,
    }
}

/// A wallet's answer inside a `vp_token`: exactly one member, `age` or `age_blind`
/// (blind-profile.md §12.4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VpAnswer {
    /// `{"age": ["<SD-JWT+KB>"]}`.
    SdJwt(String),
    /// `{"age_blind": ["<compact>", …]}`: a non-empty array of strings (the verifier checks
    /// that there are one or two).
    Blind(Vec<String>),
}

/// Parses a `vp_token` holding either `age` (protocol.md §8.4: exactly one string) or
/// `age_blind` (a non-empty array of strings). Anything else is `None` (`malformed`).
pub fn answer_from_vp_token(vp_token: &str) -> Option<VpAnswer> {
    let Ok(Value::Object(mut map)) = json::parse_value(vp_token.as_bytes(), MAX_VP_TOKEN) else {
        return None;
    };
    if map.len() != 1 {
        return None;
    }
    if let Some(v) = map.remove(BLIND_QUERY_ID) {
        let Value::Array(items) = v else { return None };
        if items.is_empty() {
            return None;
        }
        return items
            .into_iter()
            .map(|i| match i {
                Value::String(s) => Some(s),
                _ => None,
            })
            .collect::<Option<Vec<_>>>()
            .map(VpAnswer::Blind);
    }
    presentation_from_vp_token(&Value::Object(map).to_string()).map(VpAnswer::SdJwt)
}

/// The `vp_token` a wallet sends for blind `presentations` (compact form).
pub fn blind_vp_token(presentations: &[String]) -> String {
    let mut m = Map::new();
    m.insert(BLIND_QUERY_ID.into(), json!(presentations));
    Value::Object(m).to_string()
}

/// The presentation inside a `vp_token` (protocol.md §8.4): a JSON object with exactly the
/// member `age`, an array of exactly one string. Anything else is `None` (`Malformed`).
pub fn presentation_from_vp_token(vp_token: &str) -> Option<String> {
    let Ok(Value::Object(mut map)) = json::parse_value(vp_token.as_bytes(), MAX_VP_TOKEN) else {
        return None;
    };
    if map.len() != 1 {
        return None;
    }
    match map.remove(CREDENTIAL_QUERY_ID)? {
        Value::Array(mut items) if items.len() == 1 => match items.pop() {
            Some(Value::String(p)) => Some(p),
            _ => None,
        },
        _ => None,
    }
}

/// The `vp_token` a wallet sends for `presentation`.
pub fn vp_token(presentation: &str) -> String {
    let mut m = Map::new();
    m.insert(CREDENTIAL_QUERY_ID.into(), json!([presentation]));
    Value::Object(m).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ageband_core::age::{AgeQuestion, Threshold, ThresholdSet};

    const URI: &str = "https://verifier.example/v1/sessions/abc/response";

    #[test]
    fn band_query_matches_the_spec_example() {
        let req =
            AgeRequest::new(AgeQuestion::Band(ThresholdSet::default_set()), client_id_for(URI)).unwrap();
        let ar = AuthorizationRequest::new(&req, URI, "st4te").unwrap();
        let q = &ar.dcql_query["credentials"][0];
        let ids: Vec<&str> = q["claims"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap())
            .collect();
        assert_eq!(
            ids,
            [
                "age_over_13_false",
                "age_over_13_true",
                "age_over_16_false",
                "age_over_16_true",
                "age_over_18_false",
                "age_over_18_true"
            ]
        );
        assert_eq!(
            q["claim_sets"],
            json!([
                ["age_over_13_false"],
                ["age_over_13_true", "age_over_16_false"],
                ["age_over_16_true", "age_over_18_false"],
                ["age_over_18_true"]
            ])
        );
        assert_eq!(
            q["claims"][1],
            json!({"id": "age_over_13_true", "path": ["age_over_13"], "values": [true]})
        );
        assert_eq!(q["meta"]["vct_values"], json!(["urn:ageband:age:1"]));
        let obj = ar.to_json();
        assert_eq!(obj["client_id"], format!("redirect_uri:{URI}"));
        assert_eq!(obj["response_mode"], "direct_post");
        assert_eq!(obj["nonce"], req.nonce());
    }

    #[test]
    fn link_carries_the_request_by_value() {
        let t16 = Threshold::new(16).unwrap();
        let req = AgeRequest::new(AgeQuestion::AtLeast(t16), client_id_for(URI))
            .unwrap()
            .accept_negative(true);
        let ar = AuthorizationRequest::new(&req, URI, "st4te").unwrap();
        let link = ar.link();
        assert!(link.starts_with("openid4vp://?client_id=redirect_uri%3Ahttps%3A%2F%2F"));
        let parsed = url::Url::parse(&link).unwrap();
        let pairs: std::collections::HashMap<_, _> = parsed.query_pairs().into_owned().collect();
        assert_eq!(pairs["response_uri"], URI);
        assert_eq!(pairs["nonce"], req.nonce());
        assert_eq!(pairs["response_type"], "vp_token");
        let dcql: Value = serde_json::from_str(&pairs["dcql_query"]).unwrap();
        assert_eq!(
            dcql["credentials"][0]["claim_sets"],
            json!([["age_over_16_true"], ["age_over_16_false"]])
        );
    }

    #[test]
    fn refuses_mismatched_audience_and_offline_requests() {
        let t16 = Threshold::new(16).unwrap();
        let req =
            AgeRequest::new(AgeQuestion::AtLeast(t16), "redirect_uri:https://other.example/cb").unwrap();
        assert_eq!(
            AuthorizationRequest::new(&req, URI, "s").unwrap_err(),
            RequestError::ResponseUri
        );
        let any = AgeRequest::any(client_id_for(URI), "n").unwrap();
        assert_eq!(
            AuthorizationRequest::new(&any, URI, "s").unwrap_err(),
            RequestError::NoQuestion
        );
    }

    #[test]
    fn vp_token_shape_is_strict() {
        assert_eq!(
            presentation_from_vp_token(&vp_token("a~b~c")),
            Some("a~b~c".into())
        );
        for bad in [
            r#"{"age":["a","b"]}"#,
            r#"{"age":[]}"#,
            r#"{"age":"a"}"#,
            r#"{"age":[1]}"#,
            r#"{"age":["a"],"x":1}"#,
            r#"{"age":["a"],"age":["b"]}"#,
            r#"["a"]"#,
            "not json",
        ] {
            assert_eq!(presentation_from_vp_token(bad), None, "{bad}");
        }
    }
}
