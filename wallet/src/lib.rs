//! # ageband-wallet
//!
//! The holder side of ageband, privacy-preserving age assurance: an encrypted wallet file
//! (Argon2id → AES-256-GCM, written atomically, locked against concurrent writers), one P-256
//! holder key per credential, enrolment against an ageband issuer (OpenID4VCI 1.0,
//! pre-authorized code flow, protocol.md §7) with every holder check of protocol.md §4.6 before
//! anything is stored, and single-use presentations to any OpenID4VP 1.0 verifier that asks for
//! `urn:ageband:age:1` with DCQL and `direct_post` (protocol.md §8): the wallet discloses the
//! one fitting answer set — at most two `age_over_NN` predicates — after the user agrees, and
//! deletes the credential before the presentation leaves the device.
//!
//! The blind-token profile (DESIGN §9, `specs/blind-profile.md` §12.3–§12.5) rides along: where
//! the issuer offers it and the evidence allows, [`enrol`] also fetches one batch of RFC 9578
//! tokens with the same access token (the issuer's directory validated and pinned per issuer,
//! every token finalized and verified, all stored or none); [`present`] prefers them when the
//! verifier's DCQL offers the `ageband-private-token` option and one claim set fits; and
//! [`private_token_header`] answers an RFC 9577 `PrivateToken` gate. Each token is deleted and
//! the file saved before it leaves the device.
//!
//! Non-goals: no signed requests (`x509_san_dns`), no encrypted responses (`direct_post.jwt`),
//! no credential offers by link, no sync or backup. The wallet trusts the issuer it enrols with
//! for the facts it attests, and nothing else.
//!
//! ```
//! use std::sync::Arc;
//! use ageband_wallet::{ManualClock, KdfParams, Wallet, WalletError};
//!
//! let dir = std::env::temp_dir().join(format!("ageband-doc-{}", std::process::id()));
//! # let _ = std::fs::remove_dir_all(&dir);
//! let clock = Arc::new(ManualClock::new(1_790_000_000));
//! // Tests use cheap Argon2 parameters; `Wallet::create` uses `KdfParams::DEFAULT`.
//! let wallet = Wallet::create_with(&dir, "correct horse battery", KdfParams::INSECURE_TEST, clock.clone()).unwrap();
//! assert!(wallet.is_empty());
//! drop(wallet);
//! assert!(matches!(Wallet::open(&dir, "wrong"), Err(WalletError::WrongPassphrase)));
//! let wallet = Wallet::open_with(&dir, "correct horse battery", clock).unwrap();
//! assert_eq!(wallet.status().unused, 0); // and a warning to enrol
//! # drop(wallet); std::fs::remove_dir_all(&dir).unwrap();
//! ```
//!
//! Enrolment and presentation are `async` (they talk HTTP):
//! `enrol(&mut wallet, "https://issuer.example", Evidence::SelfDeclared { birthdate }, 30).await`
//! and `present(&mut wallet, "openid4vp://?…", |summary| ask_user(summary)).await`.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod blind;
mod enrol;
mod http;
mod key;
mod present;
mod store;
#[cfg(test)]
mod testutil;
mod wallet;

pub use ageband_core::clock::{Clock, ManualClock, SystemClock};
pub use blind::{
    BLIND_FORMAT, BlindEnrolError, BlindEnrolment, EnrolOptions, MAX_BLIND_BATCH,
    MAX_PRIVATE_TOKEN_CHALLENGE, PrivateTokenAnswer, PrivateTokenChallenge, PrivateTokenError, Slot,
    TokenSummary, allocate, parse_private_token_challenge, private_token_header,
};
pub use enrol::{
    CONFIGURATION_ID, EnrolError, Enrolled, Evidence, MAX_COUNT, enrol, enrol_with, issuer_nonce,
};
pub use http::HttpError;
pub use key::HolderKey;
pub use present::{
    AuthorizationRequest, BlindRequest, Link, PresentError, Presented, RequestError, Shared, Summary,
    parse_link, present, resolve,
};
pub use store::{
    FILE_NAME, FORMAT_VERSION, KdfParams, LOCK_NAME, StoreError, StoreError as WalletError, TMP_NAME,
};
pub use wallet::{
    BlindGroupStatus, BlindTokenInfo, CredentialInfo, EXPIRY_WARNING_DAYS, GroupStatus, LOW_WATER, Status,
    Wallet, Warning,
};

/// Re-exported: the facts, floors and months blind tokens are for (blind-profile.md §2, §3).
pub use ageband_blind::profile::{BlindFact, Floor, Month};

/// Re-exported so callers can build [`Evidence`] without naming `ageband-core` or `zeroize`.
pub use ageband_core::age::BirthDate;
/// Re-exported: secret strings in [`Evidence`] are `Zeroizing<String>`.
pub use zeroize::Zeroizing;
