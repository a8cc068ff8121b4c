//! The HTTP service (axum): a thin shell over [`Issuer`] with OAuth-style JSON errors, body
//! limits, a request timeout, graceful shutdown and tracing that names only the matched route.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, MatchedPath, State};
use axum::http::{HeaderMap, HeaderValue, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::blind::{
    BLIND_TOKEN_REQUEST_PATH, BlindError, DIRECTORY_MEDIA_TYPE, DIRECTORY_PATH, MAX_BLIND_BODY,
};
use crate::evidence::{Evidence, EvidenceError, InternalError};
use crate::issuer::{CredentialError, MAX_BODY, MAX_CREDENTIAL_BODY, TokenError};
use crate::{Issuer, keys::KeyError};

/// Time allowed for one request.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How often expired codes, tokens, nonces and quota entries are deleted: facts outlive their
/// 5-minute deadline (protocol.md §7.1) by at most this long, and are unusable meanwhile.
pub const PURGE_INTERVAL: Duration = Duration::from_secs(10);

/// An OAuth-style error response: `{"error","error_description"}` (protocol.md §7.8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppError {
    /// HTTP status.
    pub status: StatusCode,
    /// The `error` code.
    pub code: &'static str,
    /// The `error_description`: fixed text, never echoing input.
    pub description: String,
}

impl AppError {
    fn new(status: StatusCode, code: &'static str, description: impl ToString) -> Self {
        AppError {
            status,
            code,
            description: description.to_string(),
        }
    }

    fn internal(e: &dyn std::error::Error) -> Self {
        // Internal errors name stores and keys, never request content.
        tracing::error!(error = %e, "internal error");
        AppError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "internal error",
        )
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        if self.status.is_client_error() {
            tracing::info!(
                error = self.code,
                status = self.status.as_u16(),
                "request refused"
            );
        }
        let body = json!({"error": self.code, "error_description": self.description});
        let mut res = (self.status, no_store(), axum::Json(body)).into_response();
        if self.code == "invalid_token" {
            res.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(r#"Bearer error="invalid_token""#),
            );
        }
        res
    }
}

impl From<EvidenceError> for AppError {
    fn from(e: EvidenceError) -> Self {
        use EvidenceError as E;
        let s = StatusCode::BAD_REQUEST;
        match &e {
            E::Malformed { .. } | E::UnknownType => AppError::new(s, "invalid_request", &e),
            E::Disabled { .. } => AppError::new(StatusCode::FORBIDDEN, "access_denied", &e),
            E::Nonce => AppError::new(s, "invalid_nonce", &e),
            E::QuotaExceeded => AppError::new(StatusCode::TOO_MANY_REQUESTS, "quota_exceeded", &e),
            E::Internal(inner) => AppError::internal(inner),
            E::NoIssuerUrl => AppError::internal(&e),
            _ => AppError::new(s, "invalid_evidence", &e),
        }
    }
}

impl From<TokenError> for AppError {
    fn from(e: TokenError) -> Self {
        let s = StatusCode::BAD_REQUEST;
        match &e {
            TokenError::InvalidRequest { .. } => AppError::new(s, "invalid_request", &e),
            TokenError::UnsupportedGrantType => AppError::new(s, "unsupported_grant_type", &e),
            TokenError::InvalidGrant => AppError::new(s, "invalid_grant", &e),
            TokenError::Internal(inner) => AppError::internal(inner),
        }
    }
}

impl From<CredentialError> for AppError {
    fn from(e: CredentialError) -> Self {
        let s = StatusCode::BAD_REQUEST;
        match &e {
            CredentialError::InvalidToken => AppError::new(StatusCode::UNAUTHORIZED, "invalid_token", &e),
            CredentialError::InvalidRequest { .. } => AppError::new(s, "invalid_credential_request", &e),
            CredentialError::UnknownConfiguration => AppError::new(s, "unknown_credential_configuration", &e),
            CredentialError::InvalidProof { .. } => AppError::new(s, "invalid_proof", &e),
            CredentialError::InvalidNonce => AppError::new(s, "invalid_nonce", &e),
            CredentialError::Denied { .. } => {
                AppError::new(StatusCode::FORBIDDEN, "credential_request_denied", &e)
            }
            CredentialError::Internal(inner) => AppError::internal(inner),
        }
    }
}

impl From<BlindError> for AppError {
    fn from(e: BlindError) -> Self {
        let s = StatusCode::BAD_REQUEST;
        match &e {
            BlindError::Disabled => AppError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint"),
            BlindError::InvalidToken => AppError::new(StatusCode::UNAUTHORIZED, "invalid_token", &e),
            BlindError::InvalidRequest { .. } => AppError::new(s, "invalid_request", &e),
            BlindError::UnknownSlot => AppError::new(s, "unknown_slot", &e),
            BlindError::InvalidTokenRequest { .. } => AppError::new(s, "invalid_token_request", &e),
            BlindError::Denied { .. } => AppError::new(StatusCode::FORBIDDEN, "access_denied", &e),
            BlindError::QuotaExceeded => AppError::new(StatusCode::TOO_MANY_REQUESTS, "quota_exceeded", &e),
            BlindError::Internal(inner) => AppError::internal(inner),
        }
    }
}

impl From<InternalError> for AppError {
    fn from(e: InternalError) -> Self {
        AppError::internal(&e)
    }
}

impl From<KeyError> for AppError {
    fn from(e: KeyError) -> Self {
        AppError::internal(&e)
    }
}

/// The routes of protocol.md §7 over `issuer`; call it with `tower::ServiceExt::oneshot` in
/// tests, or serve it with [`serve`].
pub fn app(issuer: Arc<Issuer>) -> Router {
    let small = Router::new()
        .route("/evidence", post(evidence))
        .route("/token", post(token))
        .route("/nonce", post(nonce))
        .layer(RequestBodyLimitLayer::new(MAX_BODY));
    let large = Router::new()
        .route("/credential", post(credential))
        .layer(RequestBodyLimitLayer::new(MAX_CREDENTIAL_BODY));
    let blind = Router::new()
        .route(BLIND_TOKEN_REQUEST_PATH, post(blind_token_request))
        .layer(RequestBodyLimitLayer::new(MAX_BLIND_BODY));
    Router::new()
        .merge(small)
        .merge(large)
        .merge(blind)
        .route(DIRECTORY_PATH, get(blind_directory))
        .route("/.well-known/openid-credential-issuer", get(issuer_metadata))
        .route("/.well-known/oauth-authorization-server", get(as_metadata))
        .route("/.well-known/jwt-vc-issuer", get(jwt_vc_issuer))
        .fallback(not_found)
        .layer(DefaultBodyLimit::disable())
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .layer(axum::middleware::map_response(json_limit_errors))
        .layer(
            // The span names the matched route only: no URI, query, header or body.
            TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
                let route = req
                    .extensions()
                    .get::<MatchedPath>()
                    .map_or("unmatched", |m| m.as_str());
                tracing::info_span!("http", method = %req.method(), route)
            }),
        )
        .with_state(issuer)
}

/// Serves `issuer` on an already bound listener until `shutdown` completes, then finishes the
/// requests in flight. When the issuer has no identifier yet it becomes
/// `http://<bound address>`, so a caller can bind `127.0.0.1:0` first and learn the address.
pub async fn serve(
    listener: tokio::net::TcpListener,
    issuer: Arc<Issuer>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let addr = listener.local_addr()?;
    if issuer.credential_issuer().is_none() {
        issuer
            .set_public_url(&format!("http://{addr}"))
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    }
    tracing::info!(
        credential_issuer = issuer.credential_issuer().unwrap_or_default(),
        "issuer listening"
    );
    let purger = {
        let issuer = issuer.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(PURGE_INTERVAL);
            loop {
                tick.tick().await;
                let i = issuer.clone();
                if let Ok(Err(e)) = tokio::task::spawn_blocking(move || i.purge()).await {
                    tracing::error!(error = %e, "purge failed");
                }
            }
        })
    };
    let result = axum::serve(listener, app(issuer))
        .with_graceful_shutdown(shutdown)
        .await;
    purger.abort();
    result
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, AppError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| AppError::internal(&e))
}

fn no_store() -> [(header::HeaderName, HeaderValue); 1] {
    [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))]
}

fn has_type(headers: &HeaderMap, expected: &str) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(expected))
}

async fn evidence(
    State(issuer): State<Arc<Issuer>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    if !has_type(&headers, "application/json") {
        return Err(EvidenceError::Malformed {
            reason: "content type must be application/json",
        }
        .into());
    }
    let offer = blocking(move || {
        let ev = Evidence::from_json(&body)?;
        issuer.accept_evidence(&ev)
    })
    .await??;
    Ok((no_store(), axum::Json(offer)).into_response())
}

async fn token(
    State(issuer): State<Arc<Issuer>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    if !has_type(&headers, "application/x-www-form-urlencoded") {
        return Err(TokenError::InvalidRequest {
            reason: "content type must be application/x-www-form-urlencoded",
        }
        .into());
    }
    let t = blocking(move || issuer.token_request(&body)).await??;
    Ok((no_store(), axum::Json(t)).into_response())
}

async fn nonce(State(issuer): State<Arc<Issuer>>) -> Result<Response, AppError> {
    let n = blocking(move || issuer.new_nonce()).await??;
    Ok((no_store(), axum::Json(json!({"c_nonce": n}))).into_response())
}

fn bearer(headers: &HeaderMap) -> Option<zeroize::Zeroizing<String>> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, t)| scheme.eq_ignore_ascii_case("bearer") && !t.is_empty())
        .map(|(_, t)| zeroize::Zeroizing::new(t.trim().to_owned()))
}

/// The bearer token of a JSON endpoint; a token sent with another content type is refused
/// with `invalid` (a missing token is left to the engine: `invalid_token`).
fn json_bearer<E: Into<AppError>>(
    headers: &HeaderMap,
    invalid: impl FnOnce(&'static str) -> E,
) -> Result<Option<zeroize::Zeroizing<String>>, AppError> {
    let token = bearer(headers);
    if token.is_some() && !has_type(headers, "application/json") {
        return Err(invalid("content type must be application/json").into());
    }
    Ok(token)
}

async fn credential(
    State(issuer): State<Arc<Issuer>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let token = json_bearer(&headers, |reason| CredentialError::InvalidRequest { reason })?;
    let creds =
        blocking(move || issuer.credential_request(token.as_deref().map(String::as_str), &body)).await??;
    let list: Vec<Value> = creds.into_iter().map(|c| json!({"credential": c})).collect();
    Ok((no_store(), axum::Json(json!({"credentials": list}))).into_response())
}

async fn blind_token_request(
    State(issuer): State<Arc<Issuer>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let token = json_bearer(&headers, |reason| BlindError::InvalidRequest { reason })?;
    let responses =
        blocking(move || issuer.blind_token_request(token.as_deref().map(String::as_str), &body)).await??;
    let list: Vec<Value> = responses
        .iter()
        .map(|r| json!({"token_response": ageband_core::b64::encode(r.to_bytes())}))
        .collect();
    Ok((no_store(), axum::Json(json!({"responses": list}))).into_response())
}

async fn blind_directory(State(issuer): State<Arc<Issuer>>) -> Result<Response, AppError> {
    let dir = blocking(move || issuer.blind_directory()).await??;
    let headers = [
        (
            header::CONTENT_TYPE,
            HeaderValue::from_static(DIRECTORY_MEDIA_TYPE),
        ),
        (header::CACHE_CONTROL, HeaderValue::from_static("max-age=3600")),
    ];
    Ok((headers, dir.to_json()).into_response())
}

async fn issuer_metadata(State(issuer): State<Arc<Issuer>>) -> Response {
    axum::Json(issuer.credential_issuer_metadata()).into_response()
}

async fn as_metadata(State(issuer): State<Arc<Issuer>>) -> Response {
    axum::Json(issuer.authorization_server_metadata()).into_response()
}

async fn jwt_vc_issuer(State(issuer): State<Arc<Issuer>>) -> Result<Response, AppError> {
    let doc = blocking(move || issuer.jwt_vc_issuer_metadata()).await??;
    let cache = [(header::CACHE_CONTROL, HeaderValue::from_static("max-age=3600"))];
    Ok((cache, axum::Json(doc)).into_response())
}

async fn not_found() -> AppError {
    AppError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
}

/// Rewrites the bare 413 of the body limit and the 408 of the timeout as OAuth JSON errors.
async fn json_limit_errors(res: Response) -> Response {
    match res.status() {
        StatusCode::PAYLOAD_TOO_LARGE if !is_json(&res) => AppError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request",
            "request body too large",
        )
        .into_response(),
        StatusCode::REQUEST_TIMEOUT if !is_json(&res) => AppError::new(
            StatusCode::REQUEST_TIMEOUT,
            "invalid_request",
            "request timed out",
        )
        .into_response(),
        _ => res,
    }
}

fn is_json(res: &Response) -> bool {
    res.headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"))
}
