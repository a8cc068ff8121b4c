//! Peer comparison in one run: the same ageband presentations (SD-JWT VC, ES256, one disclosed
//! predicate + KB-JWT) verified by `ageband_core::profile::verify` and by `sd-jwt-rs`
//! (`SDJWTVerifier` with expected audience and nonce, so it checks the KB-JWT and `sd_hash`
//! too), interleaved, beside the raw floor (two ring ES256 verifications over the same bytes).
//!
//! Run: `cargo run --release --manifest-path bench-peer/Cargo.toml [-- ROUNDS]`.
//! Prints human-readable lines, then one JSON line.
//!
//! This crate is its own workspace: sd-jwt-rs enables serde_json's `preserve_order`, which here
//! also applies to ageband-core (feature unification) — so ageband is measured with the peer's
//! JSON map, never the other way round, and the product's builds never see the feature.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use ageband_core::age::{AssuranceLevel, Date, Source, Threshold};
use ageband_core::clock::{Clock, SystemClock};
use ageband_core::jws::{RingSigner, Signer};
use ageband_core::profile::{self, AgeVerifyOptions, CredentialTemplate, SingleIssuer};
use ageband_core::rng::OsRng;
use jsonwebtoken::DecodingKey;
use jsonwebtoken::jwk::Jwk;
use ring::signature::{ECDSA_P256_SHA256_FIXED, UnparsedPublicKey};
use sd_jwt_rs::{SDJWTSerializationFormat, SDJWTVerifier};

const ISS: &str = "https://issuer.example";
const AUD: &str = "redirect_uri:https://platform.example/cb";
/// Distinct presentations (one nonce each), verified round-robin by both sides.
const DISTINCT: usize = 64;

struct Case {
    vp: String,
    nonce: String,
    raw: [([u8; 65], Vec<u8>, Vec<u8>); 2],
}

fn main() {
    let rounds: u32 = std::env::args()
        .nth(1)
        .map(|a| a.parse().expect("ROUNDS must be a number"))
        .unwrap_or(40);
    let per_round = DISTINCT as u32 * 2;

    // Issued today by the system clock: the peer checks `exp` against the system time.
    let now = SystemClock.now();
    let today = Date::from_unix_seconds(now);
    let issuer = RingSigner::generate().expect("key");
    let holder = RingSigner::generate().expect("key");
    let t = |y| Threshold::new(y).expect("threshold");
    let template = CredentialTemplate {
        issuer: ISS.into(),
        iat: today,
        exp: today.add_days(90),
        assurance: AssuranceLevel::Enhanced,
        source: Source::OfficialId,
        predicates: BTreeMap::from([(t(13), true), (t(16), true), (t(18), false)]),
        pad_to: 3,
    };
    let credential =
        profile::issue(&template, holder.public_jwk(), &issuer, &mut OsRng::new()).expect("issue");
    let split = |jws: &str| {
        let (input, sig) = jws.rsplit_once('.').expect("jws");
        (
            input.as_bytes().to_vec(),
            ageband_core::b64::decode(sig, 64).expect("sig"),
        )
    };
    let cases: Vec<Case> = (0..DISTINCT)
        .map(|i| {
            let nonce = format!("peer-bench-nonce-{i:08}-abcdef");
            let vp = profile::present(&credential, &[t(16)], &holder, AUD, &nonce, now).expect("present");
            let (i1, s1) = split(&vp[..vp.find('~').expect("sd-jwt")]);
            let (i2, s2) = split(&vp[vp.rfind('~').expect("kb") + 1..]);
            Case {
                raw: [
                    (issuer.public_jwk().uncompressed(), i1, s1),
                    (holder.public_jwk().uncompressed(), i2, s2),
                ],
                vp,
                nonce,
            }
        })
        .collect();

    let keys = SingleIssuer::new(ISS, issuer.public_jwk().clone());
    let jwk: Jwk = serde_json::from_value(issuer.public_jwk().to_json()).expect("jwk");
    let decoding = DecodingKey::from_jwk(&jwk).expect("decoding key");

    let ageband = |c: &Case| {
        let opts = AgeVerifyOptions::new(now, AUD, &c.nonce);
        let claims = profile::verify(black_box(&c.vp), &keys, &opts).expect("ageband verify");
        black_box(claims);
    };
    let peer = |c: &Case| {
        let key = decoding.clone();
        let v = SDJWTVerifier::new(
            black_box(c.vp.clone()),
            Box::new(move |_iss, _header| key.clone()),
            Some(AUD.to_owned()),
            Some(c.nonce.clone()),
            SDJWTSerializationFormat::Compact,
        )
        .expect("sd-jwt-rs verify");
        // The same answer ageband extracts: the disclosed predicate.
        assert_eq!(v.verified_claims["age_over_16"], serde_json::Value::Bool(true));
        black_box(v);
    };
    let raw = |c: &Case| {
        for (key, input, sig) in &c.raw {
            UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, key)
                .verify(black_box(input), black_box(sig))
                .expect("raw verify");
        }
    };

    // Warm up, and check both accept every case.
    for c in &cases {
        ageband(c);
        peer(c);
        raw(c);
    }
    let sides: [&dyn Fn(&Case); 3] = [&ageband, &peer, &raw];
    let mut totals = [Duration::ZERO; 3];
    for r in 0..rounds {
        for k in 0..3 {
            // Rotate which side goes first.
            let s = (k + r as usize) % 3;
            let start = Instant::now();
            for i in 0..per_round as usize {
                sides[s](&cases[i % DISTINCT]);
            }
            totals[s] += start.elapsed();
        }
    }
    let n = f64::from(rounds * per_round);
    let us = |d: Duration| d.as_secs_f64() * 1e6 / n;
    let (a, p, f) = (us(totals[0]), us(totals[1]), us(totals[2]));
    println!("ageband-core verify: {a:.1} µs ({:.3} × raw floor)", a / f);
    println!("sd-jwt-rs 0.7.1 verify: {p:.1} µs ({:.3} × raw floor)", p / f);
    println!("raw floor (2 × ring ES256): {f:.1} µs");
    println!("ageband is {:.2}× faster than sd-jwt-rs", p / a);
    println!(
        "{{\"verifications\":{},\"ageband_us\":{a:.2},\"sd_jwt_rs_us\":{p:.2},\"raw_floor_us\":{f:.2},\"ageband_over_floor\":{:.4},\"sd_jwt_rs_over_floor\":{:.4},\"speedup\":{:.4}}}",
        rounds * per_round,
        a / f,
        p / f,
        p / a
    );
}
