//! Verifying a realistic presentation (one disclosed predicate + KB-JWT) against its raw
//! floor: the two ES256 verifications it cannot avoid, on the same ring primitives over the
//! same bytes. Goal: within 5% of the floor.
//! Run: `cargo bench -p ageband-core --bench verify`.

#![allow(missing_docs, clippy::unwrap_used)] // criterion's macros generate undocumented functions.

#[path = "common/mod.rs"]
mod common;

use std::hint::black_box;

use ageband_core::profile::{self, AgeVerifyOptions};
use common::{AUD, Fixture, NONCE, interleaved, micros, t};
use criterion::{Criterion, criterion_group, criterion_main};

fn bench(c: &mut Criterion) {
    let f = Fixture::new();
    let vp = f.present(&[t(16)], AUD, NONCE);
    let keys = f.keys();
    let raw = f.raw_floor(&vp);
    let opts = AgeVerifyOptions::new(f.now, AUD, NONCE);
    let verify = || {
        black_box(profile::verify(black_box(&vp), &keys, &opts).unwrap());
    };

    let mut g = c.benchmark_group("presentation");
    g.bench_function("raw_floor_two_es256", |b| b.iter(|| raw.run()));
    g.bench_function("verify_presentation", |b| b.iter(verify));
    g.finish();

    // The headline ratio, measured interleaved so that both sides see the same machine state.
    let (raw_t, full_t) = interleaved(40, 100, || raw.run(), verify);
    println!(
        "presentation verify / raw floor = {:.3} (raw {:.1} µs, verify {:.1} µs; floor/verify {:.3})",
        full_t.as_secs_f64() / raw_t.as_secs_f64(),
        micros(raw_t, 4000),
        micros(full_t, 4000),
        raw_t.as_secs_f64() / full_t.as_secs_f64(),
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
