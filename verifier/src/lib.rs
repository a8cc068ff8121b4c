//! # ageband-verifier
//!
//! The library a platform embeds to learn an age band — "13 or over", "under 13", "16–17",
//! "18+" — from an ageband presentation, and nothing else (DESIGN §1, §4, §7). It implements
//! the verifier side of protocol.md §6 and §8:
//!
//! - [`TrustList`] / [`TrustStore`]: trusted issuers with pinned keys or keys fetched in bulk
//!   from `<iss>/.well-known/jwt-vc-issuer` (feature `fetch`), accepted evidence sources and a
//!   minimum assurance level per issuer;
//! - [`AgeRequest`]: at least N, under N, or a band, with the `accept_negative` knob, a
//!   minimum assurance and a single-use 128-bit nonce; [`openid4vp`] turns it into an
//!   OpenID4VP request with a DCQL query;
//! - [`NonceStore`] with a bounded in-memory [`MemoryNonceStore`];
//! - [`Verifier::verify`], which runs every check and returns an [`AgeOutcome`], the whole
//!   answer: `at_least`, `under`, `assurance`, `source`, `issuer`, `profile`. No raw claims,
//!   holder key or token leaves the library;
//! - the blind-token profile (DESIGN §9, `specs/blind-profile.md` §12.4–§12.5): issuers with a
//!   pinned or fetched directory ([`TrustedIssuer::with_blind_directory`],
//!   [`TrustedIssuer::fetch_blind_directory`]), [`Verifier::verify_blind`] for one or two tokens
//!   with a shared spent set, the DCQL offer ([`openid4vp::BlindOffer`]) and the RFC 9577
//!   `PrivateToken` gate for plain HTTP routes ([`private_token::Gate`]).
//!
//! With feature `server`, [`server`] is the HTTP service around it (sessions, `direct_post`,
//! stateless `POST /v1/verify`).
//!
//! Non-goals: issuing or holding credentials, contacting the issuer per presentation,
//! revocation (status lists), signed requests or encrypted responses. `AgeRequest`,
//! `AgeOutcome` and the trust list carry no profile specifics: both profiles answer through
//! the same API.
//!
//! ```
//! use std::collections::BTreeMap;
//! use ageband_core::age::{AgeQuestion, AssuranceLevel, Date, Source, Threshold, ThresholdSet};
//! use ageband_core::jws::{RingSigner, Signer};
//! use ageband_core::profile::{self, CredentialTemplate};
//! use ageband_core::rng::OsRng;
//! use ageband_verifier::{AgeRequest, ManualClock, TrustList, TrustedIssuer, Verifier};
//! use std::sync::Arc;
//!
//! // An issuer and a 14-year-old's credential (normally from the issuer and the wallet).
//! let issuer = RingSigner::generate().unwrap();
//! let holder = RingSigner::generate().unwrap();
//! let today = Date::parse("2026-11-29").unwrap();
//! let t = |y| Threshold::new(y).unwrap();
//! let template = CredentialTemplate {
//!     issuer: "https://issuer.example".into(),
//!     iat: today,
//!     exp: today.add_days(30),
//!     assurance: AssuranceLevel::Enhanced,
//!     source: Source::OfficialId,
//!     predicates: BTreeMap::from([(t(13), true), (t(16), false), (t(18), false)]),
//!     pad_to: 3,
//! };
//! let credential = profile::issue(&template, holder.public_jwk(), &issuer, &mut OsRng::new()).unwrap();
//!
//! // The platform trusts the issuer and asks for the band.
//! let trust = TrustList::new(vec![
//!     TrustedIssuer::pinned("https://issuer.example", vec![issuer.public_jwk().clone()])
//!         .min_assurance(AssuranceLevel::Basic),
//! ]).unwrap();
//! let now = today.unix_seconds() + 3600;
//! let verifier = Verifier::from_trust_list(trust).with_clock(Arc::new(ManualClock::new(now)));
//! let request = AgeRequest::new(AgeQuestion::Band(ThresholdSet::default_set()), "redirect_uri:https://rp.example/cb").unwrap();
//!
//! // The wallet discloses the one fitting answer set: {13 true, 16 false}.
//! let vp = profile::present(&credential, &[t(13), t(16)], &holder, request.audience(), request.nonce(), now).unwrap();
//! let outcome = verifier.verify(&vp, &request).unwrap();
//! assert_eq!((outcome.at_least, outcome.under), (Some(13), Some(16)));
//! assert_eq!(outcome.band_label(), "13-15");
//! // A nonce is good once.
//! assert_eq!(verifier.verify(&vp, &request).unwrap_err().kind(), "nonce_replayed");
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod clock;
mod error;
#[cfg(feature = "fetch")]
pub mod fetch;
mod nonce;
pub mod openid4vp;
mod outcome;
pub mod private_token;
mod request;
#[cfg(feature = "server")]
pub mod server;
mod trust;
mod verify;

pub use clock::{Clock, ManualClock, SystemClock};
pub use error::VerifyError;
pub use nonce::{DEFAULT_CAPACITY, DEFAULT_RETENTION, MemoryNonceStore, NonceError, NonceStore};
pub use outcome::{AgeOutcome, Profile};
pub use request::{AgeRequest, MIN_NONCE_LEN, NONCE_BYTES, RequestError};
pub use trust::{MAX_FETCHED_KEYS, MAX_PINNED_SLOTS, TrustError, TrustList, TrustStore, TrustedIssuer};
pub use verify::{SharedSpentSet, Verifier, effective_min_floor, lowest_acceptable_floor};

/// Re-exported so that callers name blind-token types (`Directory`, `BlindFact`, `Floor`, …)
/// without depending on `ageband-blind` themselves.
pub use ageband_blind::profile as blind;
/// Re-exported so that callers name the age domain without depending on `ageband-core`.
pub use ageband_core::age::{AgeBand, AgeQuestion, AssuranceLevel, Source, Threshold, ThresholdSet};
