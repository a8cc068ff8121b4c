//! Verifying a realistic presentation (one disclosed predicate + KB-JWT) against its raw
//! floor: the two ES256 verifications it cannot avoid, on the same ring primitives.

#![allow(missing_docs)] // criterion's macros generate undocumented functions.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use ageband_core::age::{AssuranceLevel, Date, Source, Threshold};
use ageband_core::jws::{RingSigner, Signer};
use ageband_core::profile::{self, AgeVerifyOptions, CredentialTemplate, SingleIssuer};
use ageband_core::rng::OsRng;
use criterion::{Criterion, criterion_group, criterion_main};
use ring::signature::{ECDSA_P256_SHA256_FIXED, UnparsedPublicKey};

const AUD: &str = "redirect_uri:https://platform.example/cb";
const NONCE: &str = "q1YkFvYfVz4bI6zyWgk8Jw";

struct Fixture {
    vp: String,
    keys: SingleIssuer,
    now: u64,
    raw: Vec<([u8; 65], Vec<u8>, Vec<u8>)>,
}

fn fixture() -> Fixture {
    let issuer = RingSigner::generate().expect("key");
    let holder = RingSigner::generate().expect("key");
    let today = Date::parse("2026-11-29").expect("date");
    let t = |y| Threshold::new(y).expect("threshold");
    let template = CredentialTemplate {
        issuer: "https://issuer.example".into(),
        iat: today,
        exp: today.add_days(90),
        assurance: AssuranceLevel::Enhanced,
        source: Source::OfficialId,
        predicates: BTreeMap::from([(t(13), true), (t(16), true), (t(18), false)]),
        pad_to: 3,
    };
    let issued = profile::issue(&template, holder.public_jwk(), &issuer, &mut OsRng::new()).expect("issue");
    let now = today.unix_seconds() + 3600;
    let vp = profile::present(&issued, &[t(16)], &holder, AUD, NONCE, now).expect("present");
    // The raw floor verifies the same two signatures over the same signing inputs.
    let jwt_end = vp.find('~').expect("sd-jwt");
    let kb = &vp[vp.rfind('~').expect("kb") + 1..];
    let split = |jws: &str| {
        let (input, sig) = jws.rsplit_once('.').expect("jws");
        (
            input.as_bytes().to_vec(),
            ageband_core::b64::decode(sig, 64).expect("sig"),
        )
    };
    let (i1, s1) = split(&vp[..jwt_end]);
    let (i2, s2) = split(kb);
    Fixture {
        raw: vec![
            (issuer.public_jwk().uncompressed(), i1, s1),
            (holder.public_jwk().uncompressed(), i2, s2),
        ],
        keys: SingleIssuer::new("https://issuer.example", issuer.public_jwk().clone()),
        vp,
        now,
    }
}

fn raw_floor(f: &Fixture) {
    for (key, input, sig) in &f.raw {
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, key)
            .verify(black_box(input), black_box(sig))
            .expect("raw verify");
    }
}

fn verify(f: &Fixture) {
    let opts = AgeVerifyOptions::new(f.now, AUD, NONCE);
    black_box(profile::verify(black_box(&f.vp), &f.keys, &opts).expect("verify"));
}

fn bench(c: &mut Criterion) {
    let f = fixture();
    let mut g = c.benchmark_group("presentation");
    g.bench_function("raw_floor_two_es256", |b| b.iter(|| raw_floor(&f)));
    g.bench_function("verify_presentation", |b| b.iter(|| verify(&f)));
    g.finish();
    // The headline ratio, measured interleaved so that both sides see the same machine state.
    let (mut raw, mut full) = (Duration::ZERO, Duration::ZERO);
    for _ in 0..20 {
        let t = Instant::now();
        for _ in 0..100 {
            raw_floor(&f);
        }
        raw += t.elapsed();
        let t = Instant::now();
        for _ in 0..100 {
            verify(&f);
        }
        full += t.elapsed();
    }
    println!(
        "ratio raw_floor / verify_presentation = {:.3} (raw {:.1} µs, verify {:.1} µs)",
        raw.as_secs_f64() / full.as_secs_f64(),
        raw.as_secs_f64() * 1e6 / 2000.0,
        full.as_secs_f64() * 1e6 / 2000.0
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
