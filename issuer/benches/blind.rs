//! Blind-token issuance (blind-profile.md §12.1): a batch of 30 RFC 9578 token requests through
//! `Issuer::blind_token_request` (access token, body parsing, slot and quota checks in one
//! SQLite transaction, unsealed key from the cache, 30 RSABSSA blind signatures with RNG
//! blinding and the RFC 9474 §7.1 fault check) against the raw crypto floor: 30 `blind_sign`
//! calls on a key of the same size. Prints the ratio and the cost per token.
//! Run: `cargo bench -p ageband-issuer --bench blind`.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use ageband_blind::profile::{BlindFact, Directory, Floor, HolderTokenRequest, Month, TokenChallenge};
use ageband_blind::{SecretKey, SystemRng, TokenRequest, blind_sign};
use ageband_core::age::Date;
use ageband_core::b64;
use ageband_core::jws::{RingSigner, Signer, sign_compact};
use ageband_issuer::{
    CheckProvider, Evidence, Issuer, IssuerConfig, JwksSource, Kek, ManualClock, OpenOptions, QuotaConfig,
    SecretString,
};
use criterion::{BatchSize, Criterion, black_box, criterion_group};
use serde_json::{Value, json};

const N: usize = 30;
const ISSUER: &str = "https://issuer.example";
const CHECK: &str = "https://check.example";

struct Fixture {
    _dir: tempfile::TempDir,
    issuer: Arc<Issuer>,
    check: RingSigner,
    directory: Directory,
    challenge: TokenChallenge,
    month: Month,
    now: u64,
    serial: std::cell::Cell<u64>,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let now = Date::parse("2026-11-29").unwrap().unix_seconds() + 43_200;
    let check = RingSigner::generate().unwrap();
    let mut jwk = check.public_jwk().to_json();
    jwk["kid"] = "chk-1".into();
    let mut config = IssuerConfig {
        public_url: Some(ISSUER.into()),
        quota: QuotaConfig {
            batches: u32::MAX,
            period_days: 30,
        },
        ..IssuerConfig::default()
    };
    config.check_providers.push(CheckProvider::new(
        CHECK,
        JwksSource::Inline(json!({ "keys": [jwk] })),
    ));
    config.blind.facts = vec!["age_over_18".into()];
    config.blind.months_ahead = 0;
    config.blind.batch_size = N;
    config.blind.tokens_per_month = u32::MAX;
    let opts = OpenOptions {
        kek: Some(Kek::from_bytes([3; 32])),
        clock: Some(Arc::new(ManualClock::new(now))),
        key_source: None,
    };
    let issuer = Arc::new(Issuer::open_with(dir.path(), config, opts).unwrap());
    // The first directory request generates the slot keys (not measured).
    let directory = issuer.blind_directory().unwrap();
    Fixture {
        _dir: dir,
        issuer,
        check,
        directory,
        challenge: TokenChallenge::for_issuer_url(ISSUER).unwrap(),
        month: Month::containing(now).unwrap(),
        now,
        serial: std::cell::Cell::new(0),
    }
}

/// Everything the wallet sends: a fresh access token (official-document check, a new subject
/// each time) and a body with 30 blinded requests for `age_over_18` at floor 3.
fn request(f: &Fixture) -> (String, String) {
    let n = f.serial.get() + 1;
    f.serial.set(n);
    let claims = json!({
        "iss": CHECK, "aud": ISSUER, "iat": f.now, "exp": f.now + 600, "jti": format!("bench-{n}"),
        "sub": format!("subject-{n}"), "birthdate": "1990-01-01",
    });
    let assertion = sign_compact(
        &f.check,
        &json!({"alg": "ES256", "typ": "JWT", "kid": "chk-1"}),
        &claims,
    )
    .unwrap();
    let ev = Evidence::CheckAssertion {
        assertion: SecretString::new(&assertion),
    };
    let offer = f.issuer.accept_evidence(&ev).unwrap();
    let token = f
        .issuer
        .redeem_code(&offer.pre_authorized_code)
        .unwrap()
        .access_token;
    let fact = BlindFact::over(18).unwrap();
    let key = f.directory.key_for(fact, Floor::Level3, f.month).unwrap();
    let list: Vec<Value> = (0..N)
        .map(|_| {
            let r = HolderTokenRequest::new(&mut SystemRng, key, &f.challenge).unwrap();
            json!({"fact": "age_over_18", "floor": 3, "month": f.month.to_string(),
                   "token_request": b64::encode(r.request().to_bytes())})
        })
        .collect();
    (token, json!({ "requests": list }).to_string())
}

fn issue(f: &Fixture, token: &str, body: &str) -> usize {
    f.issuer
        .blind_token_request(Some(token), body.as_bytes())
        .unwrap()
        .len()
}

struct Raw {
    sk: SecretKey,
    requests: Vec<TokenRequest>,
}

fn raw_fixture() -> Raw {
    let sk = SecretKey::generate(&mut SystemRng, 2048).unwrap();
    let dir_key = ageband_blind::profile::DirectoryKey::new(
        BlindFact::over(18).unwrap(),
        Floor::Level3,
        Month::parse("2026-11").unwrap(),
        sk.public_key().clone(),
    )
    .unwrap();
    let challenge = TokenChallenge::for_issuer_url(ISSUER).unwrap();
    let requests = (0..N)
        .map(|_| {
            HolderTokenRequest::new(&mut SystemRng, &dir_key, &challenge)
                .unwrap()
                .request()
                .clone()
        })
        .collect();
    Raw { sk, requests }
}

fn raw(r: &Raw) {
    for req in &r.requests {
        black_box(blind_sign(&r.sk, &mut SystemRng, &req.blinded_msg).unwrap());
    }
}

fn benches(c: &mut Criterion) {
    let f = fixture();
    let r = raw_fixture();
    let mut g = c.benchmark_group("blind_issue");
    g.sample_size(20);
    g.bench_function("blind_token_request_batch_30", |b| {
        b.iter_batched(
            || request(&f),
            |(t, body)| black_box(issue(&f, &t, &body)),
            BatchSize::PerIteration,
        )
    });
    g.bench_function("raw_blind_sign_30", |b| b.iter(|| raw(&r)));
    g.finish();
}

criterion_group!(group, benches);

/// The same two operations interleaved round by round, to print their ratio.
fn ratio() {
    let f = fixture();
    let r = raw_fixture();
    let rounds = 20;
    let (mut issue_time, mut raw_time) = (Duration::ZERO, Duration::ZERO);
    for _ in 0..rounds {
        let (t, body) = request(&f);
        let start = Instant::now();
        black_box(issue(&f, &t, &body));
        issue_time += start.elapsed();
        let start = Instant::now();
        raw(&r);
        raw_time += start.elapsed();
    }
    let per = |d: Duration| d.as_secs_f64() * 1e3 / f64::from(rounds);
    println!(
        "blind batch of {N} / raw ({N} blind_sign) = {:.3} (batch {:.1} ms = {:.2} ms per token, raw {:.1} ms)",
        issue_time.as_secs_f64() / raw_time.as_secs_f64(),
        per(issue_time),
        per(issue_time) / N as f64,
        per(raw_time),
    );
}

fn main() {
    group();
    ratio();
    Criterion::default().configure_from_args().final_summary();
}
