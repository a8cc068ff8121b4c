//! The RFC 9577 `PrivateToken` gate for plain HTTP routes (blind-profile.md §12.5).
//!
//! A platform that gates a route on "at least N" or "under N" answers an unauthenticated
//! request with `401` and the [`Gate::challenge`] value in `WWW-Authenticate`:
//!
//! ```text
//! PrivateToken challenge="<b64url(TokenChallenge)>", token-key="<b64url(SPKI)>",
//!     ageband-fact="age_over_13", ageband-min-floor="2", nonce="<gate nonce>"
//! ```
//!
//! The client answers with `Authorization: PrivateToken token="…", binding="…", nonce="…"`
//! (blind-profile.md §8.2 plus the `nonce` it was given, so that the gate stays stateless), bound
//! to that nonce (its UTF-8 bytes) and to the gate's audience (the platform's origin).
//! [`Gate::verify_authorization`] checks the nonce (issued by this gate, not older than
//! [`GATE_NONCE_LIFETIME`]), then runs [`Verifier::verify_parsed_blind`] (blind-profile.md §12.4
//! checks 3–8), which spends the token and consumes the nonce through the verifier's stores.
//!
//! The gate nonce is self-authenticating: `b64url(random(16) ‖ u64 expiry ‖ HMAC-SHA-256(secret,
//! "ageband-gate-nonce-v1" ‖ random ‖ expiry)[..16])`, 54 characters. The gate secret is 32
//! random bytes held in a [`Zeroizing`] buffer.
//!
//! With feature `server`, [`require_private_token`] is an axum middleware that gates a route
//! and hands the [`AgeOutcome`] to the handler as a request extension.

use ageband_blind::profile::{BlindFact, BlindPresentation, FactKind, Month, TokenChallenge};
use ageband_core::age::{AgeQuestion, AssuranceLevel};
use ageband_core::b64;
use ageband_core::rng::{OsRng, Rng};
use zeroize::Zeroizing;

use crate::error::VerifyError;
use crate::outcome::AgeOutcome;
use crate::request::AgeRequest;
use crate::verify::{Verifier, lowest_acceptable_floor, min_floor_for, required_level};

/// How long a gate nonce is accepted, seconds (blind-profile.md §12.5).
pub const GATE_NONCE_LIFETIME: u64 = 300;
/// Domain label of the gate nonce's MAC.
const NONCE_LABEL: &[u8] = b"ageband-gate-nonce-v1";
/// Random bytes, expiry and MAC of a gate nonce.
const NONCE_LEN: usize = 16 + 8 + 16;

/// Why a gate could not be built or could not issue a challenge.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GateError {
    /// The question is not one fact of the profile ("at least N" or "under N" with N 13, 16 or
    /// 18); bands need two tokens, hence a session.
    #[error("the PrivateToken gate answers one-fact questions (at least / under 13, 16 or 18)")]
    NotOneFact,
    /// The issuer is not trusted, or not for blind tokens: also when its source policy accepts
    /// no floor (`lowest_acceptable_floor` is `None`, blind-profile.md §12.4 "Policy").
    #[error("issuer not trusted for blind tokens")]
    UntrustedIssuer,
    /// The issuer's directory is not known yet (fetched directories: before the first fetch).
    #[error("issuer blind directory not available yet")]
    NoDirectory,
    /// The directory has no live key for the fact at the floor.
    #[error("no live key for the fact at the required floor")]
    NoLiveKey,
    /// The required level is above what a blind token stands for (`standard`).
    #[error("the required assurance is above what a blind token attests")]
    LevelUnreachable,
    /// The audience is empty or longer than 512 bytes.
    #[error("audience must be 1 to 512 bytes")]
    Audience,
    /// The random number generator failed.
    #[error("random number generator failed")]
    Rng,
}

/// A `PrivateToken` gate for one question, issuer and audience.
pub struct Gate {
    verifier: Verifier,
    issuer: String,
    question: AgeQuestion,
    fact: BlindFact,
    min_assurance: Option<AssuranceLevel>,
    audience: String,
    secret: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gate")
            .field("issuer", &self.issuer)
            .field("fact", &self.fact)
            .field("min_assurance", &self.min_assurance)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

impl Gate {
    /// A gate asking `question` (`AtLeast(N)` or `Under(N)`, N ∈ {13, 16, 18}) of tokens of the
    /// trusted blind issuer `issuer` (its identifier), bound to `audience` (the platform's
    /// origin), with a fresh random gate secret. The issuer names the key in the challenge; a
    /// token of any trusted blind issuer is accepted.
    pub fn new(
        verifier: Verifier,
        issuer: impl Into<String>,
        question: AgeQuestion,
        audience: impl Into<String>,
    ) -> Result<Self, GateError> {
        let mut secret = Zeroizing::new([0u8; 32]);
        OsRng::new().fill(secret.as_mut()).map_err(|_| GateError::Rng)?;
        Self::with_secret(verifier, issuer, question, audience, secret)
    }

    /// As [`Gate::new`] with a given secret (several processes behind one origin share it).
    pub fn with_secret(
        verifier: Verifier,
        issuer: impl Into<String>,
        question: AgeQuestion,
        audience: impl Into<String>,
        secret: Zeroizing<[u8; 32]>,
    ) -> Result<Self, GateError> {
        let fact = match &question {
            AgeQuestion::AtLeast(t) => BlindFact::new(FactKind::Over, t.years()),
            AgeQuestion::Under(t) => BlindFact::new(FactKind::Under, t.years()),
            _ => None,
        }
        .ok_or(GateError::NotOneFact)?;
        let audience = audience.into();
        if audience.is_empty() || audience.len() > ageband_blind::profile::MAX_AUDIENCE {
            return Err(GateError::Audience);
        }
        let issuer = issuer.into();
        let trust = verifier.trust().snapshot();
        if !trust.issuer(&issuer).is_some_and(|i| i.uses_blind()) {
            return Err(GateError::UntrustedIssuer);
        }
        Ok(Gate {
            verifier,
            issuer,
            question,
            fact,
            min_assurance: None,
            audience,
            secret,
        })
    }

    /// Refuses tokens below the floor of `level` (`basic` → 2, `standard` → 3).
    pub fn min_assurance(mut self, level: AssuranceLevel) -> Self {
        self.min_assurance = Some(level);
        self
    }

    /// The fact the gate asks for.
    pub fn fact(&self) -> BlindFact {
        self.fact
    }

    /// The audience tokens must be bound to.
    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// A `WWW-Authenticate` value with a fresh nonce (blind-profile.md §12.5): the issuer's
    /// challenge, the live key of the fact at the required floor, the fact, the floor and the
    /// nonce.
    pub fn challenge(&self) -> Result<String, GateError> {
        let now = self.verifier.clock().now();
        let trust = self.verifier.trust().snapshot();
        let policy = trust.issuer(&self.issuer).ok_or(GateError::UntrustedIssuer)?;
        let blind = policy.blind_issuer().ok_or(GateError::NoDirectory)?;
        // The floor of the level, raised to the lowest one whose sources the policy all
        // accepts; no such floor: the issuer's tokens cannot pass, no challenge. (As
        // `effective_min_floor`, but saying which of the two failed.)
        let floor = min_floor_for(required_level(policy, self.min_assurance))
            .ok_or(GateError::LevelUnreachable)?
            .max(lowest_acceptable_floor(policy).ok_or(GateError::UntrustedIssuer)?);
        let month = Month::containing(now).ok_or(GateError::NoLiveKey)?;
        let key = blind
            .directory()
            .key_for(self.fact, floor, month)
            .filter(|k| k.is_live(now))
            .ok_or(GateError::NoLiveKey)?;
        let challenge = TokenChallenge::ageband(blind.name()).map_err(|_| GateError::UntrustedIssuer)?;
        let nonce = self.fresh_nonce(now)?;
        Ok(format!(
            "PrivateToken challenge=\"{}\", token-key=\"{}\", ageband-fact=\"{}\", ageband-min-floor=\"{}\", nonce=\"{}\"",
            b64::encode(challenge.encode()),
            b64::encode(key.public_key().to_spki()),
            self.fact.name(),
            floor.number(),
            nonce
        ))
    }

    /// Verifies an `Authorization` header value (`PrivateToken token="…", binding="…",
    /// nonce="…"`): the header form (`malformed` …), the gate nonce (`invalid_nonce`), then
    /// blind-profile.md §12.4 checks 3–8 for the gate's question and audience.
    pub fn verify_authorization(&self, value: &str) -> Result<AgeOutcome, VerifyError> {
        let presentation =
            BlindPresentation::parse_private_token_header(value).map_err(|e| VerifyError::Blind(e.into()))?;
        let nonce = auth_param(value, "nonce").ok_or(VerifyError::InvalidGateNonce)?;
        let now = self.verifier.clock().now();
        if !self.nonce_is_ours(&nonce, now) {
            return Err(VerifyError::InvalidGateNonce);
        }
        let mut request = AgeRequest::with_nonce(self.question.clone(), self.audience.clone(), nonce)
            .map_err(|_| VerifyError::InvalidGateNonce)?;
        if let Some(level) = self.min_assurance {
            request = request.min_assurance(level);
        }
        self.verifier
            .verify_parsed_blind(std::slice::from_ref(&presentation), &request)
    }

    fn mac(&self, random: &[u8], expiry: &[u8]) -> [u8; 16] {
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, self.secret.as_ref());
        let mut ctx = ring::hmac::Context::with_key(&key);
        ctx.update(NONCE_LABEL);
        ctx.update(random);
        ctx.update(expiry);
        let tag = ctx.sign();
        let mut out = [0u8; 16];
        out.copy_from_slice(&tag.as_ref()[..16]);
        out
    }

    fn fresh_nonce(&self, now: u64) -> Result<String, GateError> {
        let mut random = [0u8; 16];
        OsRng::new().fill(&mut random).map_err(|_| GateError::Rng)?;
        let expiry = now.saturating_add(GATE_NONCE_LIFETIME).to_be_bytes();
        let mut raw = Vec::with_capacity(NONCE_LEN);
        raw.extend_from_slice(&random);
        raw.extend_from_slice(&expiry);
        raw.extend_from_slice(&self.mac(&random, &expiry));
        Ok(b64::encode(raw))
    }

    fn nonce_is_ours(&self, nonce: &str, now: u64) -> bool {
        let Ok(raw) = b64::decode_array::<NONCE_LEN>(nonce) else {
            return false;
        };
        let (random, rest) = raw.split_at(16);
        let (expiry, tag) = rest.split_at(8);
        let want = self.mac(random, expiry);
        // Constant time: the MAC must not leak through timing.
        let diff = want.iter().zip(tag).fold(0u8, |acc, (a, b)| acc | (a ^ b));
        let mut e = [0u8; 8];
        e.copy_from_slice(expiry);
        let expiry = u64::from_be_bytes(e);
        diff == 0 && now < expiry && expiry <= now.saturating_add(GATE_NONCE_LIFETIME)
    }
}

/// Whether a refusal is about the token or its nonce (the client may retry with a fresh token:
/// `401` with a new challenge) rather than the answer or the policy (`403`).
pub fn is_retryable(e: &VerifyError) -> bool {
    !matches!(
        e,
        VerifyError::ClaimSetMismatch
            | VerifyError::OverDisclosure
            | VerifyError::AssuranceTooLow { .. }
            | VerifyError::FloorSourceNotAccepted { .. }
            | VerifyError::SourceNotAccepted { .. }
            | VerifyError::Blind(ageband_blind::profile::BlindVerifyError::FloorTooLow)
            | VerifyError::Blind(ageband_blind::profile::BlindVerifyError::WrongFact)
    )
}

/// The value of the auth-param `name` (case-insensitive) of a `PrivateToken` credentials value
/// already accepted by [`BlindPresentation::parse_private_token_header`]: a token or a quoted
/// string without escapes.
fn auth_param(value: &str, name: &str) -> Option<String> {
    let rest = value.get("PrivateToken".len()..)?.trim_start_matches(' ');
    let mut found = None;
    let mut s = rest;
    loop {
        s = s.trim_start_matches([' ', '\t', ',']);
        if s.is_empty() {
            break;
        }
        let eq = s.find('=')?;
        let key = s[..eq].trim_matches([' ', '\t']);
        s = s[eq + 1..].trim_start_matches([' ', '\t']);
        let val = if let Some(q) = s.strip_prefix('"') {
            let end = q.find('"')?;
            let v = &q[..end];
            s = &q[end + 1..];
            v
        } else {
            let end = s.find([',', ' ', '\t']).unwrap_or(s.len());
            let v = &s[..end];
            s = &s[end..];
            v
        };
        if key.eq_ignore_ascii_case(name) {
            if found.is_some() {
                return None;
            }
            found = Some(val.to_owned());
        }
    }
    found
}

#[cfg(feature = "server")]
mod axum_gate {
    use std::sync::Arc;

    use axum::extract::{Request, State};
    use axum::http::{HeaderValue, StatusCode, header};
    use axum::middleware::Next;
    use axum::response::{IntoResponse, Response};
    use serde_json::json;

    use super::{Gate, is_retryable};

    /// axum middleware gating a route with `gate` (blind-profile.md §12.5):
    ///
    /// ```no_run
    /// use std::sync::Arc;
    /// use axum::{Extension, Router, routing::get};
    /// use ageband_verifier::private_token::{Gate, require_private_token};
    /// use ageband_verifier::{AgeOutcome, AgeQuestion, Threshold, TrustList, TrustedIssuer, Verifier};
    ///
    /// # fn app(directory: ageband_verifier::blind::Directory) -> Result<Router, Box<dyn std::error::Error>> {
    /// // Trust the issuer's blind tokens (here under a pinned directory; a service would rather
    /// // use `TrustedIssuer::fetched(id).fetch_blind_directory()` and `TrustStore::refresh`).
    /// let trust = TrustList::new(vec![
    ///     TrustedIssuer::pinned("https://issuer.example", vec![]).with_blind_directory(directory),
    /// ])?;
    /// let verifier = Verifier::from_trust_list(trust);
    /// let question = AgeQuestion::AtLeast(Threshold::new(18)?);
    /// let gate = Arc::new(Gate::new(verifier, "https://issuer.example", question, "https://platform.example")?);
    /// Ok(Router::new()
    ///     .route("/adults", get(|Extension(o): Extension<AgeOutcome>| async move { o.band_label() }))
    ///     .route_layer(axum::middleware::from_fn_with_state(gate, require_private_token)))
    /// # }
    /// ```
    ///
    /// Without `Authorization: PrivateToken …`: `401` with `WWW-Authenticate` = a fresh
    /// challenge. With a header that verifies: the [`crate::AgeOutcome`] is inserted as a
    /// request extension and the route runs. A refused token or nonce (including a replay):
    /// `401` with a fresh challenge; a refused answer or policy: `403`; a server fault: `503`.
    /// Bodies are `{"error","error_description","kind"}`; nothing of the header is logged or
    /// echoed.
    pub async fn require_private_token(
        State(gate): State<Arc<Gate>>,
        mut req: Request,
        next: Next,
    ) -> Response {
        let value = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|h| h.to_str().ok())
            .filter(|v| {
                v.get(..13)
                    .is_some_and(|p| p.eq_ignore_ascii_case("PrivateToken "))
            })
            .map(str::to_owned);
        let Some(value) = value else {
            return refuse(&gate, StatusCode::UNAUTHORIZED, "missing_token");
        };
        match gate.verify_authorization(&value) {
            Ok(outcome) => {
                req.extensions_mut().insert(outcome);
                next.run(req).await
            }
            Err(e) if e.is_server_fault() => refuse(&gate, StatusCode::SERVICE_UNAVAILABLE, e.kind()),
            Err(e) if is_retryable(&e) => refuse(&gate, StatusCode::UNAUTHORIZED, e.kind()),
            Err(e) => refuse(&gate, StatusCode::FORBIDDEN, e.kind()),
        }
    }

    fn refuse(gate: &Gate, status: StatusCode, kind: &'static str) -> Response {
        tracing::debug!(kind, "private token refused");
        let body = json!({"error": "invalid_token", "error_description": kind, "kind": kind});
        let mut resp = (status, axum::Json(body)).into_response();
        resp.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if status == StatusCode::UNAUTHORIZED {
            match gate.challenge().map(HeaderValue::try_from) {
                Ok(Ok(v)) => {
                    resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
                }
                _ => {
                    tracing::error!("private token gate cannot issue a challenge");
                    *resp.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
                }
            }
        }
        resp
    }
}

#[cfg(feature = "server")]
pub use axum_gate::require_private_token;

#[cfg(test)]
mod tests {
    use super::auth_param;

    #[test]
    fn finds_auth_params() {
        let v = r#"PrivateToken token="abc", binding="d.e",nonce="n1""#;
        assert_eq!(auth_param(v, "nonce").as_deref(), Some("n1"));
        assert_eq!(auth_param(v, "TOKEN").as_deref(), Some("abc"));
        assert_eq!(
            auth_param("PrivateToken nonce=x , token=y", "nonce").as_deref(),
            Some("x")
        );
        assert_eq!(auth_param("PrivateToken token=y", "nonce"), None);
        assert_eq!(auth_param("PrivateToken nonce=a, nonce=b", "nonce"), None);
    }
}
