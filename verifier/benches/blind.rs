//! Blind-token verification (blind-profile.md §12.4) against its raw floor: `Verifier::verify_blind`
//! for one token and for two (a band) next to the ring primitives it cannot avoid per token (one
//! RSA-PSS-SHA384 verify of the token, one ECDSA P-256 verify of the holder binding, over the
//! same bytes); then single-thread library throughput with the real spent set and nonce store
//! (distinct tokens and nonces).
//! Run: `cargo bench -p ageband-verifier --all-features --bench blind`.
#![allow(missing_docs, clippy::unwrap_used)]

#[path = "../tests/blind_common/mod.rs"]
mod blind_common;

use std::hint::black_box;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use ageband_blind::profile::{BlindPresentation, SpentSet, binding_message};
use ageband_core::age::{AgeQuestion, Threshold, ThresholdSet};
use ageband_verifier::{AgeRequest, NonceError, NonceStore, Verifier};
use blind_common::*;
use criterion::{Criterion, criterion_group};
use ring::signature::{ECDSA_P256_SHA256_FIXED, RSA_PSS_2048_8192_SHA384, UnparsedPublicKey};

/// Lets one answer be verified repeatedly: the ratio bench measures the checks.
struct Forgetful;

impl NonceStore for Forgetful {
    fn consume(&self, _: &str, _: u64) -> Result<(), NonceError> {
        Ok(())
    }
}

struct NoSpent;

impl SpentSet for NoSpent {
    fn spend(&mut self, _: [u8; 32], _: [u8; 32], _: u64) -> bool {
        true
    }
}

fn repeatable(v: Verifier) -> Verifier {
    v.with_nonce_store(Arc::new(Forgetful))
        .with_spent_set(Arc::new(Mutex::new(NoSpent)))
}

fn at_least_18(nonce: &str) -> AgeRequest {
    AgeRequest::with_nonce(AgeQuestion::AtLeast(Threshold::new(18).unwrap()), AUDIENCE, nonce).unwrap()
}

fn band(nonce: &str) -> AgeRequest {
    AgeRequest::with_nonce(AgeQuestion::Band(ThresholdSet::default_set()), AUDIENCE, nonce).unwrap()
}

/// The raw per-token floor: ring RSA-PSS over the token input and ring ECDSA over the binding,
/// with the holder key already uncompressed.
fn raw(p: &BlindPresentation, uncompressed: &[u8]) {
    let key = &keys()[OVER18_L2];
    UnparsedPublicKey::new(&RSA_PSS_2048_8192_SHA384, key.public_key().pkcs1_der())
        .verify(&p.token.input(), &p.token.authenticator)
        .unwrap();
    let msg = binding_message(NONCE.as_bytes(), AUDIENCE, &p.token.to_bytes()).unwrap();
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, uncompressed)
        .verify(&msg, &p.binding_sig)
        .unwrap();
}

fn uncompressed(holder_key: &[u8; 33]) -> Vec<u8> {
    let point = p256::PublicKey::from_sec1_bytes(holder_key).unwrap();
    p256::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(&point, false)
        .as_bytes()
        .to_vec()
}

fn bench(c: &mut Criterion) {
    let v = repeatable(verifier());
    let one = present(OVER18_L2, NONCE, AUDIENCE);
    let two = [
        present(OVER13_L2, NONCE, AUDIENCE),
        present(UNDER16_L2, NONCE, AUDIENCE),
    ];
    let req1 = at_least_18(NONCE);
    let req2 = band(NONCE);
    v.verify_blind(&[&one], &req1).unwrap();
    v.verify_blind(&[&two[0], &two[1]], &req2).unwrap();
    let p = BlindPresentation::parse(&one).unwrap();
    let unc = uncompressed(&p.holder_key);
    let mut g = c.benchmark_group("blind");
    g.bench_function("verify_blind_1_token", |b| {
        b.iter(|| black_box(v.verify_blind(&[black_box(&one)], &req1).unwrap()))
    });
    g.bench_function("verify_blind_2_tokens", |b| {
        b.iter(|| black_box(v.verify_blind(&[&two[0], &two[1]], &req2).unwrap()))
    });
    g.bench_function("raw_ring_rsa_pss_plus_ecdsa_1_token", |b| {
        b.iter(|| raw(black_box(&p), &unc))
    });
    g.bench_function("p256_decompress", |b| {
        b.iter(|| black_box(uncompressed(&p.holder_key)))
    });
    g.finish();
}

/// Times `a` and `b` interleaved (`rounds` × `per_round` calls of each, alternating which goes
/// first) so that both see the same machine state; returns microseconds per call of each.
fn interleaved(rounds: u32, per_round: u32, mut a: impl FnMut(), mut b: impl FnMut()) -> (f64, f64) {
    let (mut ta, mut tb) = (0f64, 0f64);
    for r in 0..rounds {
        let time = |f: &mut dyn FnMut()| {
            let start = Instant::now();
            for _ in 0..per_round {
                f();
            }
            start.elapsed().as_secs_f64()
        };
        if r % 2 == 0 {
            ta += time(&mut a);
            tb += time(&mut b);
        } else {
            tb += time(&mut b);
            ta += time(&mut a);
        }
    }
    let n = f64::from(rounds * per_round);
    (ta * 1e6 / n, tb * 1e6 / n)
}

/// `verify_blind` against its raw floor, interleaved: one token vs one (RSA-PSS + ECDSA), two
/// tokens vs two.
fn ratios() {
    let v = repeatable(verifier());
    let one = present(OVER18_L2, NONCE, AUDIENCE);
    let two = [
        present(OVER13_L2, NONCE, AUDIENCE),
        present(UNDER16_L2, NONCE, AUDIENCE),
    ];
    let (req1, req2) = (at_least_18(NONCE), band(NONCE));
    let p = BlindPresentation::parse(&one).unwrap();
    let unc = uncompressed(&p.holder_key);
    let (lib, floor) = interleaved(
        40,
        100,
        || {
            black_box(v.verify_blind(&[black_box(&one)], &req1).unwrap());
        },
        || raw(black_box(&p), &unc),
    );
    println!(
        "interleaved, 1 token: verify_blind {lib:.1} µs, raw floor (ring RSA-PSS + ring ECDSA) {floor:.1} µs, ratio {:.2}",
        lib / floor
    );
    let (lib2, floor2) = interleaved(
        40,
        50,
        || {
            black_box(v.verify_blind(&[&two[0], &two[1]], &req2).unwrap());
        },
        || {
            raw(black_box(&p), &unc);
            raw(black_box(&p), &unc);
        },
    );
    println!(
        "interleaved, 2 tokens: verify_blind {lib2:.1} µs, raw floor {floor2:.1} µs, ratio {:.2}",
        lib2 / floor2
    );
}

/// Presentations per second on one thread with the real stores: distinct tokens, one nonce each.
fn throughput() {
    const N: usize = 2000;
    let v = verifier();
    let work: Vec<(String, String)> = (0..N)
        .map(|i| {
            let nonce = format!("throughput-nonce-{i:08}-abcdef");
            (present(OVER18_L2, &nonce, AUDIENCE), nonce)
        })
        .collect();
    let start = Instant::now();
    for (p, n) in &work {
        v.verify_blind(&[p], &at_least_18(n)).unwrap();
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "verify_blind throughput, one thread, real spent set and nonce store: {:.0} presentations/s ({:.1} µs each, {N} distinct)",
        N as f64 / secs,
        secs * 1e6 / N as f64
    );
}

criterion_group!(benches, bench);

fn main() {
    benches();
    ratios();
    throughput();
    Criterion::default().configure_from_args().final_summary();
}
