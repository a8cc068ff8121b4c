//! Costs of the blind-token profile's own steps (blind-profile.md): the wallet's request (fresh
//! P-256 key + blind), finalize and presentation, and the verifier's whole check (§9.1) on one
//! core, with its parts: holder-key decompression, ES256 verify, spent-set insert.
#![allow(missing_docs, clippy::unwrap_used)] // criterion's macros generate undocumented functions.

use ageband_blind::profile::{
    BlindFact, BlindIssuer, BlindQuery, Directory, DirectoryKey, Floor, HolderTokenRequest, MemorySpentSet,
    Month, SpentSet, TokenChallenge, verify_blind,
};
use ageband_blind::token;
use ageband_blind::{SecretKey, SystemRng};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use std::hint::black_box;

/// A spent set that accepts everything: measures the checks without the set's growth.
struct AcceptAll;
impl SpentSet for AcceptAll {
    fn spend(&mut self, _: [u8; 32], _: [u8; 32], _: u64) -> bool {
        true
    }
}

fn bench(c: &mut Criterion) {
    let sk = SecretKey::generate(&mut SystemRng, 2048).unwrap();
    let month = Month::parse("2026-12").unwrap();
    let fact = BlindFact::over(18).unwrap();
    let key = DirectoryKey::new(fact, Floor::Level3, month, sk.public_key().clone()).unwrap();
    let dir = Directory::new("https://issuer.example/request", vec![key.clone()]).unwrap();
    let issuer = BlindIssuer::new("issuer.example", dir).unwrap();
    let challenge = TokenChallenge::ageband("issuer.example").unwrap();
    let now = month.not_before() + 86_400;
    let nonce = [7u8; 32];
    let query = BlindQuery {
        fact,
        min_floor: Floor::Level3,
        verifier_nonce: &nonce,
        audience: "https://platform.example",
    };

    c.bench_function("profile: wallet request (fresh P-256 key + nonce + blind)", |b| {
        b.iter(|| HolderTokenRequest::new(&mut SystemRng, black_box(&key), &challenge).unwrap());
    });

    c.bench_function("profile: wallet finalize (unblind + 2 ring verifies)", |b| {
        b.iter_batched(
            || {
                let req = HolderTokenRequest::new(&mut SystemRng, &key, &challenge).unwrap();
                let resp = token::sign_token_request(&sk, &mut SystemRng, req.request()).unwrap();
                (req, resp)
            },
            |(req, resp)| req.finalize(&key, &resp).unwrap(),
            BatchSize::SmallInput,
        );
    });

    let issue = || {
        let req = HolderTokenRequest::new(&mut SystemRng, &key, &challenge).unwrap();
        let resp = token::sign_token_request(&sk, &mut SystemRng, req.request()).unwrap();
        req.finalize(&key, &resp).unwrap()
    };

    c.bench_function("profile: wallet present (ES256 binding, RFC 6979)", |b| {
        b.iter_batched(
            issue,
            |t| t.present(&nonce, "https://platform.example").unwrap(),
            BatchSize::SmallInput,
        );
    });

    let compact = issue()
        .present(&nonce, "https://platform.example")
        .unwrap()
        .encode();
    c.bench_function("profile: verify_blind, all checks, accept-all spent set", |b| {
        b.iter(|| verify_blind(black_box(&compact), &issuer, &query, now, &mut AcceptAll).unwrap());
    });

    let p = ageband_blind::profile::BlindPresentation::parse(&compact).unwrap();
    c.bench_function("profile: part: P-256 point decompression (p256)", |b| {
        b.iter(|| p256::PublicKey::from_sec1_bytes(black_box(&p.holder_key)).unwrap());
    });

    let mut set = MemorySpentSet::default();
    let mut i = 0u64;
    c.bench_function("profile: part: MemorySpentSet insert", |b| {
        b.iter(|| {
            i += 1;
            let mut n = [0u8; 32];
            n[..8].copy_from_slice(&i.to_le_bytes());
            if set.len() >= 500_000 {
                set = MemorySpentSet::default();
            }
            black_box(set.spend([1; 32], n, u64::MAX))
        });
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
