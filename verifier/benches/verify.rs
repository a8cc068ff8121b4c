//! Library verification against its raw floor (the two ES256 verifications it cannot avoid,
//! on the same ring primitives), then the throughput of `POST /v1/verify` on loopback from a
//! bounded load loop. Run: `cargo bench -p ageband-verifier --all-features --bench verify`.
#![allow(missing_docs, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ageband_core::age::{AgeQuestion, AssuranceLevel, Date, Source, Threshold, ThresholdSet};
use ageband_core::jws::{RingSigner, Signer};
use ageband_core::profile::{self, CredentialTemplate};
use ageband_core::rng::OsRng;
use ageband_verifier::{AgeRequest, ManualClock, NonceError, NonceStore, TrustList, TrustedIssuer, Verifier};
use criterion::{Criterion, criterion_group, criterion_main};
use ring::signature::{ECDSA_P256_SHA256_FIXED, UnparsedPublicKey};

const ISS: &str = "https://issuer.example";
const AUD: &str = "redirect_uri:https://platform.example/v1/sessions/x/response";

/// Lets one presentation be verified repeatedly: the bench measures the checks, not replay
/// refusal. (The in-memory store's cost is measured separately.)
struct Forgetful;

impl NonceStore for Forgetful {
    fn consume(&self, _: &str, _: u64) -> Result<(), NonceError> {
        Ok(())
    }
}

struct Fixture {
    issuer: RingSigner,
    holder: RingSigner,
    credential: String,
    now: u64,
}

fn fixture() -> Fixture {
    let issuer = RingSigner::generate().unwrap();
    let holder = RingSigner::generate().unwrap();
    let today = Date::parse("2026-11-29").unwrap();
    let t = |y| Threshold::new(y).unwrap();
    let template = CredentialTemplate {
        issuer: ISS.into(),
        iat: today,
        exp: today.add_days(90),
        assurance: AssuranceLevel::Enhanced,
        source: Source::OfficialId,
        predicates: BTreeMap::from([(t(13), true), (t(16), true), (t(18), false)]),
        pad_to: 3,
    };
    let credential = profile::issue(&template, holder.public_jwk(), &issuer, &mut OsRng::new()).unwrap();
    Fixture {
        issuer,
        holder,
        credential,
        now: today.unix_seconds() + 3600,
    }
}

impl Fixture {
    fn verifier(&self, nonces: Arc<dyn NonceStore>) -> Verifier {
        let trust = TrustList::new(vec![TrustedIssuer::pinned(
            ISS,
            vec![self.issuer.public_jwk().clone()],
        )])
        .unwrap();
        Verifier::from_trust_list(trust)
            .with_clock(Arc::new(ManualClock::new(self.now)))
            .with_nonce_store(nonces)
    }

    /// A band answer {16 true, 18 false}: two disclosures and a KB-JWT.
    fn present(&self, aud: &str, nonce: &str) -> String {
        let t = |y| Threshold::new(y).unwrap();
        profile::present(
            &self.credential,
            &[t(16), t(18)],
            &self.holder,
            aud,
            nonce,
            self.now,
        )
        .unwrap()
    }
}

/// The two signatures of `vp` with their keys and signing inputs.
fn raw_parts(f: &Fixture, vp: &str) -> Vec<([u8; 65], Vec<u8>, Vec<u8>)> {
    let split = |jws: &str| {
        let (input, sig) = jws.rsplit_once('.').unwrap();
        (
            input.as_bytes().to_vec(),
            ageband_core::b64::decode(sig, 64).unwrap(),
        )
    };
    let (i1, s1) = split(&vp[..vp.find('~').unwrap()]);
    let (i2, s2) = split(&vp[vp.rfind('~').unwrap() + 1..]);
    vec![
        (f.issuer.public_jwk().uncompressed(), i1, s1),
        (f.holder.public_jwk().uncompressed(), i2, s2),
    ]
}

fn raw_floor(raw: &[([u8; 65], Vec<u8>, Vec<u8>)]) {
    for (key, input, sig) in raw {
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, key)
            .verify(black_box(input), black_box(sig))
            .unwrap();
    }
}

fn bench(c: &mut Criterion) {
    let f = fixture();
    let request = AgeRequest::new(AgeQuestion::Band(ThresholdSet::default_set()), AUD).unwrap();
    let vp = f.present(AUD, request.nonce());
    let verifier = f.verifier(Arc::new(Forgetful));
    let raw = raw_parts(&f, &vp);
    let verify = || {
        black_box(verifier.verify(black_box(&vp), &request).unwrap());
    };

    let mut g = c.benchmark_group("verifier");
    g.bench_function("raw_floor_two_es256", |b| b.iter(|| raw_floor(&raw)));
    g.bench_function("verifier_verify", |b| b.iter(verify));
    let store = ageband_verifier::MemoryNonceStore::new(1 << 20, 360);
    let mut i = 0u64;
    g.bench_function("memory_nonce_store_consume", |b| {
        b.iter(|| {
            // The clock advances a second per 1000 nonces, so the store purges as it goes and
            // holds about 360k live nonces: the steady state of a busy verifier.
            i += 1;
            store.consume(&format!("nonce-{i:020}"), i / 1000).unwrap();
        })
    });
    g.finish();

    // The headline ratio, measured interleaved so that both sides see the same machine state.
    let (mut raw_t, mut full_t) = (Duration::ZERO, Duration::ZERO);
    for _ in 0..20 {
        let t = Instant::now();
        for _ in 0..100 {
            raw_floor(&raw);
        }
        raw_t += t.elapsed();
        let t = Instant::now();
        for _ in 0..100 {
            verify();
        }
        full_t += t.elapsed();
    }
    println!(
        "ratio verifier_verify / raw_floor = {:.3} (raw {:.1} µs, verify {:.1} µs, {:.0} verifications/s on one core)",
        full_t.as_secs_f64() / raw_t.as_secs_f64(),
        raw_t.as_secs_f64() * 1e6 / 2000.0,
        full_t.as_secs_f64() * 1e6 / 2000.0,
        2000.0 / full_t.as_secs_f64()
    );

    #[cfg(feature = "server")]
    http_throughput(&f);
}

/// `POST /v1/verify` on loopback: 2000 distinct presentations (one nonce each), 16 requests in
/// flight, through the real server and the real in-memory nonce store.
#[cfg(feature = "server")]
fn http_throughput(f: &Fixture) {
    use ageband_verifier::server::{AppState, ServiceConfig, serve};

    const N: usize = 2000;
    const IN_FLIGHT: usize = 16;
    let aud = "https://platform.example";
    let bodies: Vec<String> = (0..N)
        .map(|i| {
            let nonce = format!("bench-nonce-{i:012}-0123456789");
            serde_json::json!({"presentation": f.present(aud, &nonce), "nonce": nonce, "audience": aud, "band": [13, 16, 18]})
                .to_string()
        })
        .collect();
    let verifier = f.verifier(Arc::new(ageband_verifier::MemoryNonceStore::default()));
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let state = AppState::new(verifier, ServiceConfig::new(base.clone()).with_api_key("bench")).unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, state, async move {
            let _ = stopped.await;
        }));
        let client = reqwest::Client::new();
        let url = format!("{base}/v1/verify");
        let bodies = Arc::new(bodies);
        let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let started = Instant::now();
        let workers: Vec<_> = (0..IN_FLIGHT)
            .map(|_| {
                let (client, url, bodies, next) = (client.clone(), url.clone(), bodies.clone(), next.clone());
                tokio::spawn(async move {
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if i >= bodies.len() {
                            break;
                        }
                        let resp = client
                            .post(&url)
                            .bearer_auth("bench")
                            .header("content-type", "application/json")
                            .body(bodies[i].clone())
                            .send()
                            .await
                            .unwrap();
                        assert_eq!(resp.status(), 200);
                        resp.bytes().await.unwrap();
                    }
                })
            })
            .collect();
        for w in workers {
            w.await.unwrap();
        }
        let elapsed = started.elapsed();
        println!(
            "POST /v1/verify on loopback: {N} requests, {IN_FLIGHT} in flight, {:.0} requests/s ({:.2} s)",
            N as f64 / elapsed.as_secs_f64(),
            elapsed.as_secs_f64()
        );
        stop.send(()).unwrap();
        server.await.unwrap().unwrap();
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
