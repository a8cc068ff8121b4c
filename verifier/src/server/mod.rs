//! The verifier HTTP service (protocol.md §8.6, DESIGN §7), a thin shell around
//! [`Verifier`]. Build the state with [`AppState::new`], get the router with
//! [`app`] (tests drive it with `tower::ServiceExt::oneshot`), and run it on a bound listener
//! with [`serve`].
//!
//! | endpoint | who | body → answer |
//! |---|---|---|
//! | `POST /v1/sessions` | platform (API key) | `{"at_least":16}` \| `{"under":13}` \| `{"band":[13,16,18]}`, optional `"allow_negative":bool` (not with `band`), `"min_assurance":"<level>"`, `"profiles":["sd_jwt","blind_token"]` (default: both where possible) → 201 `{"id","request_uri","link","expires_in","profiles"}` |
//! | `GET /v1/sessions/{id}/request` | wallet | → 200 the OpenID4VP request as a JSON object; 404 once not pending |
//! | `POST /v1/sessions/{id}/response` | wallet | form `vp_token={"age":["<SD-JWT+KB>"]}&state=…`, `vp_token={"age_blind":["<compact>",…]}&state=…` or `error=…&state=…` → 200 `{}` or 400 `{"error":"invalid_request","error_description":"<kind>"}` |
//! | `GET /v1/sessions/{id}` | platform (API key) | → 200 `{"status":"pending|verified|rejected|expired","outcome":{…}|null,"error":"<kind>"|null}` |
//! | `POST /v1/verify` | platform (API key) | `{"presentation","nonce","audience"}` or `{"tokens":[…],"nonce","audience"}` plus the question fields → 200 `{"outcome":{…}}` or 422 `{"error":"invalid_presentation","error_description","kind"}` |
//!
//! An outcome is `{"at_least":N|null,"under":N|null,"assurance","source"|null,"issuer","profile","band"}`.
//! Errors are `{"error","error_description"}` with 4xx for client faults. Request bodies are
//! capped (413), requests time out (408), and traces carry the matched route only — never
//! URIs, bodies, tokens or personal data.

pub mod config;
mod handlers;
mod sessions;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath};
use axum::http::Request;
use axum::routing::{get, post};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use zeroize::Zeroizing;

use crate::fetch::KeyFetcher;
use crate::verify::Verifier;

pub use handlers::AppError;
pub use sessions::{DEFAULT_MAX_SESSIONS, DEFAULT_TTL, SessionStatus};

/// Default request body cap (protocol.md §2.3).
pub const DEFAULT_BODY_LIMIT: usize = 32 * 1024;
/// Default request timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Most sessions the background purge removes per hold of the table lock.
const PURGE_STEP: usize = 256;

/// Settings of the service.
#[derive(Clone)]
pub struct ServiceConfig {
    /// The base URL wallets reach this service at (`https://verifier.example`, or
    /// `http://127.0.0.1:PORT` locally); `response_uri` and `request_uri` are built from it.
    pub public_url: String,
    /// Bearer API key for the platform-facing endpoints; `None` leaves them open (and
    /// [`serve`] warns).
    pub api_key: Option<Zeroizing<String>>,
    /// Session lifetime, seconds.
    pub session_ttl: u64,
    /// Bound on live sessions.
    pub max_sessions: usize,
    /// Request body cap, bytes.
    pub body_limit: usize,
    /// Request timeout.
    pub request_timeout: Duration,
}

impl ServiceConfig {
    /// Defaults for a service reachable at `public_url`.
    pub fn new(public_url: impl Into<String>) -> Self {
        ServiceConfig {
            public_url: public_url.into(),
            api_key: None,
            session_ttl: DEFAULT_TTL,
            max_sessions: DEFAULT_MAX_SESSIONS,
            body_limit: DEFAULT_BODY_LIMIT,
            request_timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Requires `Authorization: Bearer <key>` on the platform-facing endpoints.
    pub fn with_api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(Zeroizing::new(key.into()));
        self
    }
}

impl std::fmt::Debug for ServiceConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceConfig")
            .field("public_url", &self.public_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("session_ttl", &self.session_ttl)
            .field("max_sessions", &self.max_sessions)
            .field("body_limit", &self.body_limit)
            .field("request_timeout", &self.request_timeout)
            .finish()
    }
}

/// Why the service could not be set up.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// `public_url` is not an absolute http(s) URL without query or fragment.
    #[error("public URL must be an absolute http(s) URL without query or fragment")]
    PublicUrl,
    /// The configured API key is empty.
    #[error("API key must not be empty")]
    EmptyApiKey,
    /// The listener failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// The shared state of the service: the verifier, the sessions and the settings.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    verifier: Verifier,
    sessions: sessions::SessionStore,
    base: String,
    config: ServiceConfig,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// The state for `verifier` with `config`.
    pub fn new(verifier: Verifier, config: ServiceConfig) -> Result<Self, ServerError> {
        let url = url::Url::parse(&config.public_url).map_err(|_| ServerError::PublicUrl)?;
        if !matches!(url.scheme(), "http" | "https") || url.query().is_some() || url.fragment().is_some() {
            return Err(ServerError::PublicUrl);
        }
        if config.api_key.as_ref().is_some_and(|k| k.is_empty()) {
            return Err(ServerError::EmptyApiKey);
        }
        Ok(AppState {
            inner: Arc::new(Inner {
                verifier,
                sessions: sessions::SessionStore::new(config.max_sessions, config.session_ttl),
                base: config.public_url.trim_end_matches('/').to_owned(),
                config,
            }),
        })
    }

    /// The verifier.
    pub fn verifier(&self) -> &Verifier {
        &self.inner.verifier
    }

    /// The settings.
    pub fn config(&self) -> &ServiceConfig {
        &self.inner.config
    }

    /// Number of sessions currently held (pending, finished or expired, not yet purged).
    pub fn session_count(&self) -> usize {
        self.inner.sessions.len()
    }
}

/// The router with every endpoint and middleware (body limit, timeout, tracing).
pub fn app(state: AppState) -> Router {
    let limit = state.inner.config.body_limit;
    let timeout = state.inner.config.request_timeout;
    Router::new()
        .route("/v1/sessions", post(handlers::create_session))
        .route("/v1/sessions/{id}", get(handlers::session_status))
        .route("/v1/sessions/{id}/request", get(handlers::request_object))
        .route("/v1/sessions/{id}/response", post(handlers::direct_post))
        .route("/v1/verify", post(handlers::verify))
        .fallback(handlers::not_found)
        .layer(DefaultBodyLimit::max(limit))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
            // The matched route only: raw paths carry session ids, queries and bodies could
            // carry tokens.
            let route = req
                .extensions()
                .get::<MatchedPath>()
                .map_or("unmatched", MatchedPath::as_str);
            tracing::info_span!("http", method = %req.method(), route = %route)
        }))
        .with_state(state)
}

/// Serves [`app`] on `listener` until `shutdown` resolves, then drains in-flight requests.
/// Before accepting, fetches the keys (and blind directories) of issuers whose keys (or
/// directories) are fetched, and keeps them fresh in the background; purges finished sessions
/// every 30 seconds (in steps of at most 256 under the table lock, on top of the few each
/// request removes). Warns when no API key is configured. The caller learns the bound address
/// from `listener.local_addr()` before.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let addr: Option<SocketAddr> = listener.local_addr().ok();
    if state.inner.config.api_key.is_none() {
        tracing::warn!(
            "no API key configured: POST /v1/sessions, GET /v1/sessions/{{id}} and POST /v1/verify are open to anyone who can reach this service"
        );
    }
    let verifier = state.verifier().clone();
    let mut tasks = Vec::new();
    if verifier
        .trust()
        .snapshot()
        .issuers()
        .iter()
        .any(|i| i.is_fetched() || i.fetches_blind_directory())
    {
        let fetcher = KeyFetcher::new().map_err(|e| ServerError::Io(std::io::Error::other(e.to_string())))?;
        for (iss, r) in verifier.trust().refresh(&fetcher, verifier.clock().now()).await {
            if let Err(e) = r {
                tracing::warn!(issuer = %iss, error = %e, "issuer keys not available yet; retrying in the background");
            }
        }
        let trust = verifier.trust().clone();
        tasks.push(trust.spawn_refresh(fetcher, verifier.clock().clone(), Duration::from_secs(60)));
    }
    let purger = state.clone();
    tasks.push(tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(30)).await;
            // In bounded steps, letting requests take the table lock in between.
            let now = purger.inner.verifier.clock().now();
            while purger.inner.sessions.purge(now, PURGE_STEP) == PURGE_STEP {
                tokio::task::yield_now().await;
            }
        }
    }));
    tracing::info!(addr = ?addr, "verifier listening");
    let result = axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown)
        .await;
    for t in tasks {
        t.abort();
    }
    Ok(result?)
}
