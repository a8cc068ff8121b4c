//! # ageband-core
//!
//! Wire formats and primitives of ageband, privacy-preserving age assurance: strict base64url
//! and JSON, compact JWS with ES256 only (on `ring`), EC P-256 JWKs and RFC 7638 thumbprints,
//! SD-JWT (RFC 9901) issuance, presentation and verification, the age domain (thresholds,
//! levels, sources, facts from a birth date or an estimate, the `exp` rule, claim sets), and
//! the ageband credential profile (`urn:ageband:age:1`) on top.
//!
//! Non-goals: no I/O, no async, no clock and no global RNG — time and randomness are
//! parameters. Trust decisions beyond "which key signs for which issuer" (levels, sources,
//! nonces, requests) belong to `ageband-verifier`.
//!
//! ```
//! use ageband_core::age::{AgeQuestion, AssuranceLevel, Date, Source, ThresholdSet, Threshold};
//! use ageband_core::jws::{RingSigner, Signer};
//! use ageband_core::profile::{self, CredentialTemplate, AgeVerifyOptions};
//! use ageband_core::rng::OsRng;
//! use std::collections::BTreeMap;
//!
//! let issuer = RingSigner::generate().unwrap();
//! let holder = RingSigner::generate().unwrap();
//! let today = Date::parse("2026-11-29").unwrap();
//! let t = |y| Threshold::new(y).unwrap();
//! let template = CredentialTemplate {
//!     issuer: "https://issuer.example".into(),
//!     iat: today,
//!     exp: today.add_days(90),
//!     assurance: AssuranceLevel::Enhanced,
//!     source: Source::OfficialId,
//!     predicates: BTreeMap::from([(t(13), true), (t(16), false), (t(18), false)]),
//!     pad_to: 3,
//! };
//! let issued = profile::issue(&template, holder.public_jwk(), &issuer, &mut OsRng::new()).unwrap();
//! // The holder answers "at least 13?" with one predicate.
//! let now = today.unix_seconds() + 3600;
//! let vp = profile::present(&issued, &[t(13)], &holder, "redirect_uri:https://rp.example/cb", "n-0S6", now).unwrap();
//! let keys = profile::SingleIssuer::new("https://issuer.example", issuer.public_jwk().clone());
//! let opts = AgeVerifyOptions::new(now, "redirect_uri:https://rp.example/cb", "n-0S6");
//! let claims = profile::verify(&vp, &keys, &opts).unwrap();
//! assert_eq!(claims.predicates, vec![(t(13), true)]);
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod age;
pub mod b64;
pub mod clock;
pub mod json;
pub mod jwk;
pub mod jws;
pub mod profile;
pub mod rng;
pub mod sdjwt;
