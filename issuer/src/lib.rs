//! # ageband-issuer
//!
//! The ageband issuer: it turns one piece of age evidence — an OIDC id_token from a configured
//! identity provider, a third-party check assertion, a guardian's declaration backed by the
//! guardian's own adult credential, or a self-declaration — into age facts (DESIGN §4–5,
//! protocol.md §5), and issues a batch of SD-JWT VC age attestations over the OpenID4VCI-shaped
//! protocol of protocol.md §7: `POST /evidence`, `POST /token`, `POST /nonce`,
//! `POST /credential`, and the metadata under `/.well-known/`.
//!
//! It keeps its signing keys sealed (AES-256-GCM under a key-encryption key) in an embedded
//! SQLite store together with single-use codes, tokens and nonces, `jti` replay records and
//! HMAC-keyed anti-abuse counters. A birth date is read once, held in zeroizing types, turned
//! into facts, and never stored or logged.
//!
//! The blind-token profile (DESIGN §9, blind-profile.md §12.1) rides on the same evidence step:
//! `GET /.well-known/private-token-issuer-directory` (one RSA-2048 key per fact, floor and
//! month) and `POST /blind-token-request` (a batch of RFC 9578 token requests, blind-signed).
//!
//! Non-goals: no key administration over HTTP (rotation is `ageband issuer keys …`), no
//! revocation or status lists, no TLS termination (run it behind a TLS proxy), no fetching of
//! provider keys at run time (they are pinned).
//!
//! The adult's presentation in the guardian path is checked by `ageband-verifier`, as a platform
//! would check it, against this issuer's own published keys and the configured trusted issuers.
//!
//! ```
//! use std::sync::Arc;
//! use ageband_issuer::{Evidence, Issuer, IssuerConfig, Kek, OpenOptions, SecretString};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let opts = OpenOptions { kek: Some(Kek::generate().unwrap()), ..OpenOptions::default() };
//! let issuer = Arc::new(Issuer::open_with(dir.path(), IssuerConfig::default(), opts).unwrap());
//! issuer.set_public_url("https://issuer.example").unwrap();
//!
//! // Evidence → code → access token (the HTTP service does the same per request).
//! let ev = Evidence::SelfDeclared { birthdate: SecretString::new("2010-06-15") };
//! let offer = issuer.accept_evidence(&ev).unwrap();
//! let token = issuer.redeem_code(&offer.pre_authorized_code).unwrap();
//! assert_eq!(token.token_type, "Bearer");
//! assert!(issuer.redeem_code(&offer.pre_authorized_code).is_err(), "codes are single-use");
//!
//! // Serving it: `ageband_issuer::serve(listener, issuer, shutdown)` on a bound listener;
//! // `ageband_issuer::app(issuer)` is the bare axum Router.
//! let _router = ageband_issuer::app(issuer);
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod blind;
pub mod config;
pub mod evidence;
pub mod external;
mod issuer;
pub mod keys;
pub mod service;
pub mod store;

pub use blind::BlindError;
pub use config::{
    BlindConfig, CheckProvider, GuardianConfig, IdentityProvider, IssuerConfig, JwksSource, QuotaConfig,
    TrustedIssuer,
};
pub use evidence::{Evidence, EvidenceError, IssuanceFacts, SecretString};
pub use issuer::{
    BlindSlot, CODE_LIFETIME, CREDENTIAL_CONFIGURATION_ID, CredentialError, CredentialOffer, Issuer,
    OpenError, OpenOptions, PRE_AUTHORIZED_GRANT, PROOF_TYP, TokenError, TokenResponse,
};
pub use keys::{Kek, KeyInfo, KeySource, KeyState, LocalKeys};
pub use service::{AppError, app, serve};

/// Time is injected (STYLE: inject the world); the trait and both clocks live in core so that
/// one clock drives every component in tests and demos.
pub use ageband_core::clock::{Clock, ManualClock, SystemClock};

/// An issuer identifier: `http` or `https`, a host, no query or fragment, no trailing `/`.
pub fn normalize_issuer_url(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    if !matches!(parsed.scheme(), "http" | "https")
        || parsed.host_str().is_none_or(str::is_empty)
        || parsed.query().is_some()
        || parsed.fragment().is_some()
        || !parsed.username().is_empty()
        || parsed.password().is_some()
    {
        return None;
    }
    Some(url.trim_end_matches('/').to_owned())
}

/// SHA-256 of a code, token, nonce or `jti`: what the store keeps instead of the value.
pub(crate) fn hash(value: &str) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, value.as_bytes())
        .as_ref()
        .to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuer_urls() {
        assert_eq!(
            normalize_issuer_url("https://issuer.example/").as_deref(),
            Some("https://issuer.example")
        );
        assert_eq!(
            normalize_issuer_url("http://127.0.0.1:8080").as_deref(),
            Some("http://127.0.0.1:8080")
        );
        for bad in [
            "ftp://x",
            "https://x/?a=1",
            "https://x/#f",
            "https://u:p@x",
            "not a url",
            "https://",
        ] {
            assert_eq!(normalize_issuer_url(bad), None, "{bad}");
        }
    }
}
