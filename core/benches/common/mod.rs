//! Shared bench fixture: one issuer key, one realistic credential (three predicates, padded),
//! presentations of it, the raw floor of a presentation (its two ES256 verifications on the
//! same ring primitive over the same bytes), and an interleaved timer.
//!
//! Included by path from the benches of core, verifier and wallet
//! (`#[path = "../../core/benches/common/mod.rs"] mod common;`), so that every crate measures
//! the same bytes. Not every bench uses every item.
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use ageband_core::age::{AssuranceLevel, Date, Source, Threshold};
use ageband_core::jwk::PublicJwk;
use ageband_core::jws::{RingSigner, Signer};
use ageband_core::profile::{self, CredentialTemplate, SingleIssuer};
use ageband_core::rng::OsRng;
use ring::signature::{ECDSA_P256_SHA256_FIXED, UnparsedPublicKey};

pub const ISS: &str = "https://issuer.example";
pub const AUD: &str = "redirect_uri:https://platform.example/cb";
pub const NONCE: &str = "q1YkFvYfVz4bI6zyWgk8Jw";

pub fn t(years: u8) -> Threshold {
    Threshold::new(years).unwrap()
}

pub struct Fixture {
    pub issuer: RingSigner,
    pub holder: RingSigner,
    /// The issued credential (SD-JWT with every disclosure), bound to `holder`.
    pub credential: String,
    pub today: Date,
    /// One hour after issuance.
    pub now: u64,
}

impl Fixture {
    /// Issued on 2026-11-29 (verifiers get a manual clock).
    pub fn new() -> Self {
        Self::issued_on(Date::parse("2026-11-29").unwrap())
    }

    pub fn issued_on(today: Date) -> Self {
        let issuer = RingSigner::generate().unwrap();
        let holder = RingSigner::generate().unwrap();
        let mut f = Fixture {
            issuer,
            holder,
            credential: String::new(),
            today,
            now: today.unix_seconds() + 3600,
        };
        f.credential = f.issue_for(f.holder.public_jwk());
        f
    }

    /// The ageband credential shape: {13 true, 16 true, 18 false}, 90 days, official ID.
    pub fn template(&self) -> CredentialTemplate {
        CredentialTemplate {
            issuer: ISS.into(),
            iat: self.today,
            exp: self.today.add_days(90),
            assurance: AssuranceLevel::Enhanced,
            source: Source::OfficialId,
            predicates: BTreeMap::from([(t(13), true), (t(16), true), (t(18), false)]),
            pad_to: 3,
        }
    }

    /// A credential of the same shape bound to another holder key.
    pub fn issue_for(&self, holder: &PublicJwk) -> String {
        profile::issue(&self.template(), holder, &self.issuer, &mut OsRng::new()).unwrap()
    }

    /// A presentation of `self.credential` disclosing `thresholds`.
    pub fn present(&self, thresholds: &[Threshold], aud: &str, nonce: &str) -> String {
        profile::present(&self.credential, thresholds, &self.holder, aud, nonce, self.now).unwrap()
    }

    /// One raw holder signature over a KB-JWT-sized input.
    pub fn holder_sign(&self) -> [u8; 64] {
        self.holder.sign(&[b'k'; 180]).unwrap()
    }

    pub fn keys(&self) -> SingleIssuer {
        SingleIssuer::new(ISS, self.issuer.public_jwk().clone())
    }

    pub fn raw_floor(&self, vp: &str) -> RawFloor {
        RawFloor::of(vp, self.issuer.public_jwk(), self.holder.public_jwk())
    }
}

/// The two signatures of a presentation with their keys and signing inputs.
pub struct RawFloor(Vec<([u8; 65], Vec<u8>, Vec<u8>)>);

impl RawFloor {
    pub fn of(vp: &str, issuer: &PublicJwk, holder: &PublicJwk) -> Self {
        let split = |jws: &str| {
            let (input, sig) = jws.rsplit_once('.').unwrap();
            (
                input.as_bytes().to_vec(),
                ageband_core::b64::decode(sig, 64).unwrap(),
            )
        };
        let (i1, s1) = split(&vp[..vp.find('~').unwrap()]);
        let (i2, s2) = split(&vp[vp.rfind('~').unwrap() + 1..]);
        RawFloor(vec![
            (issuer.uncompressed(), i1, s1),
            (holder.uncompressed(), i2, s2),
        ])
    }

    /// Two ring ES256 verifications (the key parsed each time, as a verifier must).
    pub fn run(&self) {
        for (key, input, sig) in &self.0 {
            UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, key)
                .verify(black_box(input), black_box(sig))
                .unwrap();
        }
    }
}

/// Times `a` and `b` interleaved (`rounds` × `per_round` calls of each, alternating which goes
/// first) so that both see the same machine state; returns the total time of each.
pub fn interleaved(
    rounds: u32,
    per_round: u32,
    mut a: impl FnMut(),
    mut b: impl FnMut(),
) -> (Duration, Duration) {
    let (mut ta, mut tb) = (Duration::ZERO, Duration::ZERO);
    for r in 0..rounds {
        let time = |f: &mut dyn FnMut()| {
            let start = Instant::now();
            for _ in 0..per_round {
                f();
            }
            start.elapsed()
        };
        if r.is_multiple_of(2) {
            ta += time(&mut a);
            tb += time(&mut b);
        } else {
            tb += time(&mut b);
            ta += time(&mut a);
        }
    }
    (ta, tb)
}

/// Microseconds per call.
pub fn micros(total: Duration, calls: u32) -> f64 {
    total.as_secs_f64() * 1e6 / f64::from(calls)
}
