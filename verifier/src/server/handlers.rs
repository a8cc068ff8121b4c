//! Request handlers and the OAuth-style error type.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use ageband_blind::profile::BlindVerifyError;
use ageband_core::age::{AgeQuestion, AssuranceLevel, Threshold, ThresholdSet};
use ageband_core::json as strict_json;
use ageband_core::rng::{OsRng, random_b64};

use super::AppState;
use super::sessions::{ID_LEN, PendingSession, SessionError, SessionStatus};
use crate::error::VerifyError;
use crate::openid4vp::{AuthorizationRequest, BlindOffer, VpAnswer, answer_from_vp_token, client_id_for};
use crate::outcome::{AgeOutcome, Profile};
use crate::request::{AgeRequest, NONCE_BYTES, RequestError};

/// An error answer: `{"error","error_description"}` (plus `kind` for rejected presentations)
/// with its status. The description never echoes input.
#[derive(Debug)]
pub struct AppError {
    status: StatusCode,
    error: &'static str,
    description: String,
    kind: Option<&'static str>,
}

impl AppError {
    fn new(status: StatusCode, error: &'static str, description: impl Into<String>) -> Self {
        AppError {
            status,
            error,
            description: description.into(),
            kind: None,
        }
    }

    fn bad_request(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }

    fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "no such session")
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let mut body = json!({"error": self.error, "error_description": self.description});
        if let Some(kind) = self.kind {
            body["kind"] = Value::String(kind.to_owned());
        }
        if self.status.is_server_error() {
            tracing::error!(error = self.error, "request failed");
        } else {
            tracing::debug!(error = self.error, kind = self.kind, "request refused");
        }
        let mut resp = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(r#"Bearer realm="ageband-verifier", error="invalid_token""#),
            );
        }
        no_store(&mut resp);
        resp
    }
}

fn no_store(resp: &mut Response) {
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

fn body_error(rejection: BytesRejection) -> AppError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        AppError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request",
            "request body too large",
        )
    } else {
        AppError::bad_request("request body could not be read")
    }
}

/// Checks `Authorization: Bearer <key>` when a key is configured.
fn authorize(state: &AppState, headers: &HeaderMap) -> Result<(), AppError> {
    let Some(expected) = state.inner.config.api_key.as_ref() else {
        return Ok(());
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
        .unwrap_or("");
    // Compare digests so that the time taken says nothing about the key.
    let d = |s: &str| ring::digest::digest(&ring::digest::SHA256, s.as_bytes());
    let (a, b) = (d(presented), d(expected.as_str()));
    let diff = a
        .as_ref()
        .iter()
        .zip(b.as_ref())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y));
    if presented.is_empty() || diff != 0 {
        return Err(AppError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "missing or wrong API key",
        ));
    }
    Ok(())
}

/// The question fields shared by `POST /v1/sessions` and `POST /v1/verify`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QuestionBody {
    at_least: Option<u8>,
    under: Option<u8>,
    band: Option<Vec<u8>>,
    allow_negative: Option<bool>,
    min_assurance: Option<AssuranceLevel>,
}

/// `POST /v1/sessions`: the question fields plus the profiles to offer.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SessionBody {
    at_least: Option<u8>,
    under: Option<u8>,
    band: Option<Vec<u8>>,
    allow_negative: Option<bool>,
    min_assurance: Option<AssuranceLevel>,
    profiles: Option<Vec<Profile>>,
}

/// `POST /v1/verify`: the question fields plus the presentation (or blind tokens) and its
/// challenge.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VerifyBody {
    presentation: Option<String>,
    tokens: Option<Vec<String>>,
    nonce: String,
    audience: String,
    at_least: Option<u8>,
    under: Option<u8>,
    band: Option<Vec<u8>>,
    allow_negative: Option<bool>,
    min_assurance: Option<AssuranceLevel>,
}

struct Question {
    question: AgeQuestion,
    allow_negative: bool,
    min_assurance: Option<AssuranceLevel>,
}

impl QuestionBody {
    fn parse(self) -> Result<Question, AppError> {
        let threshold =
            |y: u8| Threshold::new(y).map_err(|_| AppError::bad_request("thresholds must be in 1..=99"));
        let question = match (self.at_least, self.under, self.band) {
            (Some(n), None, None) => AgeQuestion::AtLeast(threshold(n)?),
            (None, Some(n), None) => AgeQuestion::Under(threshold(n)?),
            (None, None, Some(band)) => {
                if band.len() < 2 || band.len() > ThresholdSet::MAX || !band.windows(2).all(|w| w[0] < w[1]) {
                    return Err(AppError::bad_request(
                        "band must be 2 to 8 strictly ascending thresholds",
                    ));
                }
                if self.allow_negative.is_some() {
                    return Err(AppError::bad_request("allow_negative does not apply to a band"));
                }
                AgeQuestion::Band(
                    ThresholdSet::new(&band)
                        .map_err(|_| AppError::bad_request("thresholds must be in 1..=99"))?,
                )
            }
            _ => {
                return Err(AppError::bad_request(
                    "exactly one of at_least, under or band is required",
                ));
            }
        };
        Ok(Question {
            question,
            allow_negative: self.allow_negative.unwrap_or(false),
            min_assurance: self.min_assurance,
        })
    }
}

fn parse_json<T: for<'de> Deserialize<'de>>(body: &[u8], limit: usize) -> Result<T, AppError> {
    let value = match strict_json::parse_value(body, limit) {
        Ok(v @ Value::Object(_)) => v,
        _ => return Err(AppError::bad_request("body must be a JSON object")),
    };
    serde_json::from_value(value)
        .map_err(|_| AppError::bad_request("body does not match the expected fields"))
}

fn apply(mut request: AgeRequest, q: &Question) -> AgeRequest {
    request = request.accept_negative(q.allow_negative);
    if let Some(level) = q.min_assurance {
        request = request.min_assurance(level);
    }
    request
}

fn outcome_json(o: &AgeOutcome) -> Value {
    let mut v = serde_json::to_value(o).unwrap_or(Value::Null);
    v["band"] = Value::String(o.band_label());
    v
}

fn random_id() -> Result<String, AppError> {
    random_b64(&mut OsRng::new(), NONCE_BYTES).map_err(|_| {
        AppError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "randomness unavailable",
        )
    })
}

/// A session id is [`ID_LEN`] base64url characters; anything else cannot name a session.
fn valid_id(id: &str) -> bool {
    id.len() == ID_LEN
        && id
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
}

/// `POST /v1/sessions`.
pub(super) async fn create_session(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, AppError> {
    authorize(&state, &headers)?;
    let body = body.map_err(body_error)?;
    let b = parse_json::<SessionBody>(&body, state.inner.config.body_limit)?;
    let profiles = b.profiles;
    let q = QuestionBody {
        at_least: b.at_least,
        under: b.under,
        band: b.band,
        allow_negative: b.allow_negative,
        min_assurance: b.min_assurance,
    }
    .parse()?;
    let id = random_id()?;
    let state_param = random_id()?;
    let base = &state.inner.base;
    let response_uri = format!("{base}/v1/sessions/{id}/response");
    let request_uri = format!("{base}/v1/sessions/{id}/request");
    let request = AgeRequest::new(q.question.clone(), client_id_for(&response_uri)).map_err(request_error)?;
    let request = apply(request, &q);
    let offer = BlindOffer::for_request(&request, &state.inner.verifier.trust().snapshot());
    let (sd_jwt, blind) = match profiles {
        None => (true, offer),
        Some(list) => {
            let mut sorted = list.clone();
            sorted.sort_by_key(|p| p.as_str());
            sorted.dedup();
            if list.is_empty() || sorted.len() != list.len() {
                return Err(AppError::bad_request(
                    "profiles must list sd_jwt and/or blind_token, each at most once",
                ));
            }
            let blind = if list.contains(&Profile::BlindToken) {
                Some(offer.ok_or_else(|| {
                    AppError::bad_request(
                        "blind_token cannot answer this question: thresholds other than 13, 16, 18, a level above standard, or no trusted issuer with a blind directory",
                    )
                })?)
            } else {
                None
            };
            (list.contains(&Profile::SdJwt), blind)
        }
    };
    let authz = AuthorizationRequest::with_offers(&request, &response_uri, &state_param, sd_jwt, blind)
        .map_err(request_error)?;
    let offered: Vec<&str> = [
        authz.sd_jwt.then_some(Profile::SdJwt.as_str()),
        authz.blind.is_some().then_some(Profile::BlindToken.as_str()),
    ]
    .into_iter()
    .flatten()
    .collect();
    let link = authz.link();
    let now = state.inner.verifier.clock().now();
    // The session keeps the parts of its request, not the request object (rebuilt when fetched).
    let pending = PendingSession {
        request,
        state: authz.state,
        sd_jwt: authz.sd_jwt,
        blind: authz.blind,
    };
    state
        .inner
        .sessions
        .insert(&id, pending, now)
        .map_err(|e| match e {
            SessionError::Full => AppError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "too many open sessions",
            ),
            // Our own ids are always `ID_LEN` characters.
            _ => AppError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "bad session id",
            ),
        })?;
    let body = json!({
        "id": id,
        "request_uri": request_uri,
        "link": link,
        "expires_in": state.inner.sessions.ttl(),
        "profiles": offered,
    });
    let mut resp = (StatusCode::CREATED, Json(body)).into_response();
    no_store(&mut resp);
    Ok(resp)
}

fn request_error(e: RequestError) -> AppError {
    match e {
        RequestError::Rng => AppError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "randomness unavailable",
        ),
        // The response URI comes from our own configuration.
        RequestError::ResponseUri => AppError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "bad public URL",
        ),
        e => AppError::bad_request(e.to_string()),
    }
}

/// `GET /v1/sessions/{id}/request`.
pub(super) async fn request_object(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    if !valid_id(&id) {
        return Err(AppError::not_found());
    }
    let now = state.inner.verifier.clock().now();
    let p = state
        .inner
        .sessions
        .pending(&id, now)
        .map_err(|_| AppError::not_found())?;
    // The same request object as at creation: built from the same parts (its `link` carries it).
    let response_uri = format!("{}/v1/sessions/{id}/response", state.inner.base);
    let authz = AuthorizationRequest::with_offers(&p.request, &response_uri, &p.state, p.sd_jwt, p.blind)
        .map_err(request_error)?;
    let mut resp = Json(authz.to_json()).into_response();
    no_store(&mut resp);
    Ok(resp)
}

/// `GET /v1/sessions/{id}`.
pub(super) async fn session_status(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    authorize(&state, &headers)?;
    if !valid_id(&id) {
        return Err(AppError::not_found());
    }
    let now = state.inner.verifier.clock().now();
    let status = state
        .inner
        .sessions
        .status(&id, now)
        .map_err(|_| AppError::not_found())?;
    let (outcome, error) = match &status {
        SessionStatus::Verified(o) => (outcome_json(o), Value::Null),
        SessionStatus::Rejected(kind) => (Value::Null, Value::String(kind.clone())),
        SessionStatus::Expired | SessionStatus::Pending => (Value::Null, Value::Null),
    };
    let mut resp =
        Json(json!({"status": status.as_str(), "outcome": outcome, "error": error})).into_response();
    no_store(&mut resp);
    Ok(resp)
}

/// The parameters of a `direct_post` body.
struct DirectPost {
    vp_token: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

fn parse_form(headers: &HeaderMap, body: &[u8]) -> Result<DirectPost, AppError> {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"));
    if !is_form {
        return Err(AppError::bad_request(
            "body must be application/x-www-form-urlencoded",
        ));
    }
    let mut form = DirectPost {
        vp_token: None,
        state: None,
        error: None,
    };
    let mut seen: Vec<String> = Vec::new();
    for (k, v) in url::form_urlencoded::parse(body) {
        if seen.iter().any(|s| *s == k) {
            return Err(AppError::bad_request("repeated parameter"));
        }
        seen.push(k.to_string());
        match k.as_ref() {
            "vp_token" => form.vp_token = Some(v.into_owned()),
            "state" => form.state = Some(v.into_owned()),
            "error" => form.error = Some(v.into_owned()),
            // OpenID4VP allows further parameters (error_description, …); they are not used.
            _ => {}
        }
    }
    Ok(form)
}

/// `POST /v1/sessions/{id}/response` (OpenID4VP `direct_post`).
pub(super) async fn direct_post(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, AppError> {
    let body = body.map_err(body_error)?;
    if !valid_id(&id) {
        return Err(AppError::not_found());
    }
    let form = parse_form(&headers, &body)?;
    let Some(state_param) = form.state.as_deref() else {
        return Err(AppError::bad_request("state missing"));
    };
    let answer = match (form.vp_token, form.error) {
        (Some(vp), None) => Ok(vp),
        (None, Some(err)) => Err(err),
        _ => {
            return Err(AppError::bad_request(
                "exactly one of vp_token or error is required",
            ));
        }
    };
    let sessions = &state.inner.sessions;
    let clock = state.inner.verifier.clock();
    let (request, offered) = sessions
        .begin_response(&id, state_param, clock.now())
        .map_err(|e| match e {
            SessionError::Unknown => AppError::not_found(),
            SessionError::WrongState => AppError::bad_request("state does not match the session"),
            _ => AppError::bad_request("session is not pending"),
        })?;
    let vp_token = match answer {
        Ok(vp) => vp,
        Err(code) => {
            // A wallet's refusal ends the session with its (sanitized) error code.
            let code = if !code.is_empty()
                && code.len() <= 64
                && code.bytes().all(|c| c.is_ascii_lowercase() || c == b'_')
            {
                code
            } else {
                "invalid_request".to_owned()
            };
            sessions.finish(&id, Err(code), clock.now());
            let mut resp = Json(json!({})).into_response();
            no_store(&mut resp);
            return Ok(resp);
        }
    };
    // blind-profile.md §12.4 check 1: the member must be one the session offered.
    let result = match answer_from_vp_token(&vp_token) {
        Some(VpAnswer::SdJwt(p)) if offered.sd_jwt => state.inner.verifier.verify(&p, &request),
        Some(VpAnswer::Blind(tokens)) if offered.blind => {
            let tokens: Vec<&str> = tokens.iter().map(String::as_str).collect();
            state.inner.verifier.verify_blind(&tokens, &request)
        }
        Some(VpAnswer::Blind(_)) => Err(VerifyError::Blind(BlindVerifyError::Malformed)),
        _ => Err(VerifyError::Credential(
            ageband_core::sdjwt::VerifyError::Malformed {
                reason: "vp_token shape",
            },
        )),
    };
    match result {
        Ok(outcome) => {
            sessions.finish(&id, Ok(outcome), clock.now());
            let mut resp = Json(json!({})).into_response();
            no_store(&mut resp);
            Ok(resp)
        }
        Err(e) => {
            let kind = e.kind();
            sessions.finish(&id, Err(kind.to_owned()), clock.now());
            if e.is_server_fault() {
                return Err(AppError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "temporarily_unavailable",
                    kind,
                ));
            }
            Err(AppError::bad_request(kind))
        }
    }
}

/// `POST /v1/verify` (stateless; the platform keeps nonce and audience).
pub(super) async fn verify(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, AppError> {
    authorize(&state, &headers)?;
    let body = body.map_err(body_error)?;
    let b: VerifyBody = parse_json(&body, state.inner.config.body_limit)?;
    let q = QuestionBody {
        at_least: b.at_least,
        under: b.under,
        band: b.band,
        allow_negative: b.allow_negative,
        min_assurance: b.min_assurance,
    }
    .parse()?;
    let request = AgeRequest::with_nonce(q.question.clone(), b.audience, b.nonce).map_err(request_error)?;
    let request = apply(request, &q);
    let result = match (b.presentation, b.tokens) {
        (Some(p), None) => state.inner.verifier.verify(&p, &request),
        (None, Some(tokens)) => {
            let tokens: Vec<&str> = tokens.iter().map(String::as_str).collect();
            state.inner.verifier.verify_blind(&tokens, &request)
        }
        _ => {
            return Err(AppError::bad_request(
                "exactly one of presentation or tokens is required",
            ));
        }
    };
    match result {
        Ok(o) => {
            let mut resp = Json(json!({"outcome": outcome_json(&o)})).into_response();
            no_store(&mut resp);
            Ok(resp)
        }
        Err(e) if e.is_server_fault() => Err(AppError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            e.kind(),
        )),
        Err(e) => Err(AppError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            error: "invalid_presentation",
            description: e.to_string(),
            kind: Some(e.kind()),
        }),
    }
}

/// Any other path.
pub(super) async fn not_found() -> AppError {
    AppError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
}
