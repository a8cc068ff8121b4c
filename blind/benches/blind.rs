//! Costs of the blind-token profile on RSA-2048 (RFC 9578 type 0x0002): the wallet's blind and
//! finalize, the issuer's blind-sign (hardened private operation + fault check, per token and per
//! batch of 30), and verification of a 354-byte token on ring next to a raw ring RSA-PSS verify.
#![allow(missing_docs, clippy::unwrap_used)] // criterion's macros generate undocumented functions.

use ageband_blind::rsabssa::{self, Variant};
use ageband_blind::token::{self, Token};
use ageband_blind::{SecretKey, SystemRng};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use ring::signature::{RSA_PSS_2048_8192_SHA384, UnparsedPublicKey};
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let rng = &mut SystemRng;
    let sk = SecretKey::generate(rng, 2048).unwrap();
    let pk = sk.public_key().clone();
    let variant = Variant::Sha384PssDeterministic;
    let input = token::token_input(&[1; 32], &[2; 32], &pk.token_key_id());

    c.bench_function("blind (wallet, PSS-Deterministic, RSA-2048)", |b| {
        b.iter(|| rsabssa::blind(&pk, variant, &mut SystemRng, black_box(&input)).unwrap());
    });

    let blinded = rsabssa::blind(&pk, variant, rng, &input).unwrap();
    c.bench_function("blind_sign (issuer, blinded CRT + fault check)", |b| {
        b.iter(|| rsabssa::blind_sign(&sk, &mut SystemRng, black_box(&blinded.blinded_msg)).unwrap());
    });

    let batch: Vec<_> = (0..30u8)
        .map(|i| {
            let input = token::token_input(&[i; 32], &[2; 32], &pk.token_key_id());
            rsabssa::blind(&pk, variant, rng, &input).unwrap().blinded_msg
        })
        .collect();
    let mut group = c.benchmark_group("issuer batch");
    group.sample_size(10);
    group.bench_function("blind_sign x30", |b| {
        b.iter(|| {
            for m in &batch {
                black_box(rsabssa::blind_sign(&sk, &mut SystemRng, m).unwrap());
            }
        });
    });
    group.finish();

    let blind_sig = rsabssa::blind_sign(&sk, rng, &blinded.blinded_msg).unwrap();
    c.bench_function("finalize (wallet, unblind + ring verify)", |b| {
        b.iter(|| rsabssa::finalize(&pk, variant, black_box(&input), &blind_sig, &blinded.inv).unwrap());
    });

    let (request, pending) = token::token_request(&pk, rng, [9; 32], [8; 32]).unwrap();
    let response = token::sign_token_request(&sk, rng, &request).unwrap();
    let token_bytes = pending.finalize(&pk, &response).unwrap().to_bytes();

    c.bench_function("token parse + verify (354 bytes, ring)", |b| {
        b.iter(|| {
            Token::from_bytes(black_box(&token_bytes))
                .unwrap()
                .verify(&pk)
                .unwrap()
        });
    });

    let der = pk.pkcs1_der().to_vec();
    let (msg, sig) = token_bytes.split_at(98);
    c.bench_function("raw ring RSA-PSS-SHA384 verify (same key and message)", |b| {
        b.iter(|| {
            UnparsedPublicKey::new(&RSA_PSS_2048_8192_SHA384, &der)
                .verify(black_box(msg), black_box(sig))
                .unwrap();
        });
    });

    // PSSZERO variants verify outside ring (rsa 0.10 RSAVP1 + own EMSA-PSS-VERIFY).
    let zero = Variant::Sha384PssZeroDeterministic;
    let bz = rsabssa::blind(&pk, zero, rng, &input).unwrap();
    let sz = rsabssa::finalize(
        &pk,
        zero,
        &input,
        &rsabssa::blind_sign(&sk, rng, &bz.blinded_msg).unwrap(),
        &bz.inv,
    )
    .unwrap();
    c.bench_function("verify PSSZERO (rsa 0.10 RSAVP1, not ring)", |b| {
        b.iter(|| rsabssa::verify(&pk, zero, black_box(&input), &sz).unwrap());
    });

    c.bench_function("key generation RSA-2048", |b| {
        b.iter_batched(
            || (),
            |()| SecretKey::generate(&mut SystemRng, 2048).unwrap(),
            BatchSize::PerIteration,
        );
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench
}
criterion_main!(benches);
