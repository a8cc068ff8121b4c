//! Building a presentation with the wallet's holder key (P-256 on the pure-Rust `p256` crate):
//! `profile::present` (select the disclosures, compute `sd_hash`, sign the KB-JWT) against its
//! floor, one raw signature by the same key over a KB-JWT-sized input.
//! Run: `cargo bench -p ageband-wallet --bench present`.
#![allow(missing_docs, clippy::unwrap_used)]

#[path = "../../core/benches/common/mod.rs"]
mod common;

use std::hint::black_box;

use ageband_core::jws::Signer;
use ageband_core::profile;
use ageband_wallet::HolderKey;
use common::{AUD, Fixture, NONCE, interleaved, micros, t};
use criterion::{Criterion, criterion_group, criterion_main};

fn bench(c: &mut Criterion) {
    let f = Fixture::new();
    let key = HolderKey::generate().unwrap();
    let credential = f.issue_for(key.public_jwk());
    // A KB-JWT signing input is about this long (header + payload, base64url).
    let msg = [b'k'; 180];
    let present = || {
        black_box(profile::present(black_box(&credential), &[t(16)], &key, AUD, NONCE, f.now).unwrap());
    };
    let raw = || {
        black_box(key.sign(black_box(&msg)).unwrap());
    };

    let mut g = c.benchmark_group("wallet");
    g.bench_function("raw_p256_sign", |b| b.iter(raw));
    g.bench_function("present_one_predicate", |b| b.iter(present));
    g.finish();

    let (raw_t, full_t) = interleaved(40, 100, raw, present);
    println!(
        "present / raw p256 signature = {:.3} (raw {:.1} µs, present {:.1} µs)",
        full_t.as_secs_f64() / raw_t.as_secs_f64(),
        micros(raw_t, 4000),
        micros(full_t, 4000),
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
