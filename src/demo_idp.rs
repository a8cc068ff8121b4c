//! A built-in **demo identity provider — a test provider, not a real one**. It signs OIDC
//! id_tokens (ES256) carrying a `birthdate` for fictional people, and, acting as a demo check
//! provider, check assertions (`birthdate`, `age_over` or `estimated_age` ± `margin`), so that
//! the demo and the end-to-end tests exercise the `oidc_id_token` and `check_assertion`
//! evidence paths exactly as real providers would drive them. Never configure it in production.

use std::sync::Arc;

use ageband_core::age::Date;
use ageband_core::jwk::jwk_set;
use ageband_core::jws::{self, RingSigner, SignError, Signer};
use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

/// The `aud` the demo provider puts in tokens for the ageband issuer (its client id there).
pub const DEMO_AUDIENCE: &str = "ageband-issuer";

/// The demo identity provider.
pub struct DemoIdp {
    issuer: String,
    key: RingSigner,
}

impl std::fmt::Debug for DemoIdp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DemoIdp")
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

impl DemoIdp {
    /// A provider with a fresh key, identified by `issuer` (its URL).
    pub fn new(issuer: &str) -> Result<Self, SignError> {
        Ok(DemoIdp {
            issuer: issuer.trim_end_matches('/').to_owned(),
            key: RingSigner::generate()?,
        })
    }

    /// Its `iss`.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Its public keys, to pin in the issuer's configuration.
    pub fn jwks(&self) -> Value {
        jwk_set(&[self.key.public_jwk().clone()])
    }

    /// An id_token for `sub` born on `birthdate`, valid five minutes from `now`.
    pub fn id_token(
        &self,
        sub: &str,
        birthdate: Date,
        nonce: Option<&str>,
        now: u64,
    ) -> Result<String, SignError> {
        let header = json!({"alg": jws::ES256, "typ": "JWT", "kid": self.key.public_jwk().thumbprint()});
        let mut claims = json!({
            "iss": self.issuer, "sub": sub, "aud": DEMO_AUDIENCE,
            "iat": now, "exp": now + 300, "birthdate": birthdate.to_string(),
        });
        if let Some(n) = nonce {
            claims["nonce"] = Value::String(n.to_owned());
        }
        jws::sign_compact(&self.key, &header, &claims)
    }

    /// A check assertion for this issuer's `aud` with the given result claims
    /// (`{"birthdate":…}`, `{"age_over":{"18":true}}` or `{"estimated_age":…,"margin":…}`).
    pub fn check_assertion(
        &self,
        aud: &str,
        jti: &str,
        result: Value,
        now: u64,
    ) -> Result<String, SignError> {
        let header = json!({"alg": jws::ES256, "typ": "JWT", "kid": self.key.public_jwk().thumbprint()});
        let mut claims =
            json!({"iss": self.issuer, "sub": jti, "aud": aud, "jti": jti, "iat": now, "exp": now + 300});
        if let (Value::Object(c), Value::Object(r)) = (&mut claims, result) {
            c.extend(r);
        }
        jws::sign_compact(&self.key, &header, &claims)
    }

    /// The provider's HTTP face: `/.well-known/openid-configuration`, `/jwks`, and
    /// `POST /demo/id-token` with `{"sub":"…","birthdate":"YYYY-MM-DD","nonce":"…"?}` for trying the
    /// wallet by hand.
    pub fn app(self: Arc<Self>) -> Router {
        Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route(
                "/jwks",
                get(|State(idp): State<Arc<DemoIdp>>| async move { Json(idp.jwks()) }),
            )
            .route("/demo/id-token", post(issue_token))
            .with_state(self)
    }
}

async fn discovery(State(idp): State<Arc<DemoIdp>>) -> Json<Value> {
    Json(json!({
        "issuer": idp.issuer,
        "jwks_uri": format!("{}/jwks", idp.issuer),
        "id_token_signing_alg_values_supported": ["ES256"],
        "claims_supported": ["sub", "birthdate"],
        "description": "ageband DEMO identity provider: fictional people only, not for production",
    }))
}

#[derive(Deserialize)]
struct TokenRequest {
    sub: String,
    birthdate: String,
    nonce: Option<String>,
}

async fn issue_token(
    State(idp): State<Arc<DemoIdp>>,
    body: Result<Json<TokenRequest>, axum::extract::rejection::JsonRejection>,
) -> (axum::http::StatusCode, Json<Value>) {
    use axum::http::StatusCode;
    let bad = |d: &str| {
        (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "invalid_request", "error_description": d})),
        )
    };
    let Ok(Json(req)) = body else {
        return bad("expected JSON {sub, birthdate, nonce?}");
    };
    if req.sub.is_empty() || req.sub.len() > 64 {
        return bad("sub must be 1 to 64 characters");
    }
    let Ok(birthdate) = Date::parse(&req.birthdate) else {
        return bad("birthdate must be YYYY-MM-DD");
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    match idp.id_token(&req.sub, birthdate, req.nonce.as_deref(), now) {
        Ok(t) => (StatusCode::OK, Json(json!({"id_token": t}))),
        Err(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({"error": "server_error"})),
        ),
    }
}
