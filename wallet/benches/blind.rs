//! The wallet's cost of blind-token enrolment (blind-profile.md §6, §12.3): per token,
//! `HolderTokenRequest::new` (fresh P-256 holder key, nonce, RSABSSA blind) and `finalize`
//! (unblind, RFC 9474 verify, token verify on ring); and one batch of 30 (requests built, the
//! issuer's blind signatures made outside the timing, then finalized).
//! Run: `cargo bench -p ageband-wallet --bench blind`.
#![allow(missing_docs, clippy::unwrap_used)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use ageband_blind::profile::{BlindFact, DirectoryKey, Floor, HolderTokenRequest, Month, TokenChallenge};
use ageband_blind::token::sign_token_request;
use ageband_blind::{SecretKey, SystemRng, TokenResponse};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};

struct Fixture {
    secret: SecretKey,
    key: DirectoryKey,
    challenge: TokenChallenge,
}

impl Fixture {
    fn new() -> Self {
        let secret = SecretKey::generate(&mut SystemRng, 2048).unwrap();
        let key = DirectoryKey::new(
            BlindFact::over(16).unwrap(),
            Floor::Level2,
            Month::parse("2026-11").unwrap(),
            secret.public_key().clone(),
        )
        .unwrap();
        Fixture {
            secret,
            key,
            challenge: TokenChallenge::ageband("issuer.example").unwrap(),
        }
    }

    fn request(&self) -> HolderTokenRequest {
        HolderTokenRequest::new(&mut SystemRng, &self.key, &self.challenge).unwrap()
    }

    fn sign(&self, r: &HolderTokenRequest) -> TokenResponse {
        sign_token_request(&self.secret, &mut SystemRng, r.request()).unwrap()
    }
}

fn bench(c: &mut Criterion) {
    let f = Fixture::new();
    let mut g = c.benchmark_group("wallet_blind");
    g.bench_function("request_new", |b| b.iter(|| black_box(f.request())));
    g.bench_function("finalize", |b| {
        b.iter_batched(
            || {
                let r = f.request();
                let resp = f.sign(&r);
                (r, resp)
            },
            |(r, resp)| black_box(r.finalize(&f.key, &resp).unwrap()),
            BatchSize::SmallInput,
        );
    });
    g.sample_size(10);
    g.bench_function("batch_of_30_new_and_finalize", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let t = Instant::now();
                let reqs: Vec<HolderTokenRequest> = (0..30).map(|_| f.request()).collect();
                total += t.elapsed();
                let resps: Vec<TokenResponse> = reqs.iter().map(|r| f.sign(r)).collect();
                let t = Instant::now();
                for (r, resp) in reqs.into_iter().zip(&resps) {
                    black_box(r.finalize(&f.key, resp).unwrap());
                }
                total += t.elapsed();
            }
            total
        });
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
