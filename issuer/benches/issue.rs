//! Issuance cost of a batch of 30 (30 proof verifications, 30 SD-JWT credentials, the store
//! operations) against the raw crypto floor: 30 ring ES256 signatures plus 30 ring ES256
//! verifications. Prints the ratio (STYLE: report ratios to the raw crypto cost). Goal: within 15%.
//! Run: `cargo bench -p ageband-issuer --bench issue`.
#![allow(missing_docs, clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use ageband_core::jws::{RingSigner, Signer, sign_compact, verify_es256};
use ageband_issuer::{
    Evidence, Issuer, IssuerConfig, Kek, ManualClock, OpenOptions, QuotaConfig, SecretString,
};
use criterion::{BatchSize, Criterion, black_box, criterion_group};
use serde_json::json;

const N: usize = 30;
const ISSUER: &str = "https://issuer.example";

struct Fixture {
    _dir: tempfile::TempDir,
    issuer: Arc<Issuer>,
    holders: Vec<RingSigner>,
    now: u64,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let now = 1_795_000_000;
    let config = IssuerConfig {
        public_url: Some(ISSUER.into()),
        quota: QuotaConfig {
            batches: u32::MAX,
            period_days: 30,
        },
        ..IssuerConfig::default()
    };
    let opts = OpenOptions {
        kek: Some(Kek::from_bytes([3; 32])),
        clock: Some(Arc::new(ManualClock::new(now))),
        key_source: None,
    };
    let issuer = Arc::new(Issuer::open_with(dir.path(), config, opts).unwrap());
    let holders = (0..N).map(|_| RingSigner::generate().unwrap()).collect();
    Fixture {
        _dir: dir,
        issuer,
        holders,
        now,
    }
}

/// Everything the wallet sends: a fresh access token and a body with 30 proofs.
fn request(f: &Fixture) -> (String, String) {
    let ev = Evidence::SelfDeclared {
        birthdate: SecretString::new("2010-06-15"),
    };
    let offer = f.issuer.accept_evidence(&ev).unwrap();
    let token = f
        .issuer
        .redeem_code(&offer.pre_authorized_code)
        .unwrap()
        .access_token;
    let nonce = f.issuer.new_nonce().unwrap();
    let proofs: Vec<String> = f
        .holders
        .iter()
        .map(|h| {
            let header =
                json!({"alg": "ES256", "typ": "openid4vci-proof+jwt", "jwk": h.public_jwk().to_json()});
            sign_compact(h, &header, &json!({"aud": ISSUER, "nonce": nonce, "iat": f.now})).unwrap()
        })
        .collect();
    let body =
        json!({"credential_configuration_id": "ageband_age_v1", "proofs": {"jwt": proofs}}).to_string();
    (token, body)
}

fn issue(f: &Fixture, token: &str, body: &str) -> Vec<String> {
    f.issuer.credential_request(Some(token), body.as_bytes()).unwrap()
}

fn raw(signer: &RingSigner, msgs: &[Vec<u8>]) {
    for m in msgs {
        let sig = signer.sign(m).unwrap();
        verify_es256(signer.public_jwk(), m, &sig).unwrap();
    }
}

fn messages() -> Vec<Vec<u8>> {
    (0..N)
        .map(|i| format!("ageband bench message {i} with some length to it ....").into_bytes())
        .collect()
}

fn benches(c: &mut Criterion) {
    let f = fixture();
    let signer = RingSigner::generate().unwrap();
    let msgs = messages();
    let mut g = c.benchmark_group("issue");
    g.bench_function("credential_request_batch_30", |b| {
        b.iter_batched(
            || request(&f),
            |(t, body)| black_box(issue(&f, &t, &body)),
            BatchSize::PerIteration,
        )
    });
    g.bench_function("raw_ring_30_sign_30_verify", |b| {
        b.iter(|| raw(&signer, black_box(&msgs)))
    });
    g.finish();
}

criterion_group!(group, benches);

/// A direct measurement of the same two operations, interleaved round by round (so that both
/// see the same machine state), to print their ratio.
fn ratio() {
    let f = fixture();
    let signer = RingSigner::generate().unwrap();
    let msgs = messages();
    let rounds = 100;
    let (mut issue_time, mut raw_time) = (Duration::ZERO, Duration::ZERO);
    for _ in 0..rounds {
        let (t, body) = request(&f);
        let start = Instant::now();
        black_box(issue(&f, &t, &body));
        issue_time += start.elapsed();
        let start = Instant::now();
        raw(&signer, black_box(&msgs));
        raw_time += start.elapsed();
    }
    let per = |d: Duration| d.as_secs_f64() * 1e3 / f64::from(rounds);
    println!(
        "issue batch of {N} / raw crypto ({N} ring signs + {N} ring verifies) = {:.3} (issue {:.3} ms, raw {:.3} ms)",
        issue_time.as_secs_f64() / raw_time.as_secs_f64(),
        per(issue_time),
        per(raw_time),
    );
}

fn main() {
    group();
    ratio();
    Criterion::default().configure_from_args().final_summary();
}
