//! The verifier: library verification against its raw floor (the two ES256 verifications it
//! cannot avoid, on the same ring primitives over the same bytes); library throughput on one
//! and on two threads; then, with the `server` feature, `POST /v1/verify` throughput on loopback
//! with both cores busy, and the full session round trip (create session → fetch request →
//! presentation built with core → `direct_post` → status) as a criterion bench.
//! Run: `cargo bench -p ageband-verifier --all-features --bench verify`.
#![allow(missing_docs, clippy::unwrap_used)]

#[path = "../../core/benches/common/mod.rs"]
mod common;

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use ageband_core::age::{AgeQuestion, ThresholdSet};
use ageband_core::jws::Signer;
use ageband_verifier::{
    AgeRequest, ManualClock, MemoryNonceStore, NonceError, NonceStore, TrustList, TrustedIssuer, Verifier,
};
use common::{Fixture, ISS, interleaved, micros, t};
use criterion::{Criterion, criterion_group, criterion_main};

const AUD: &str = "redirect_uri:https://platform.example/v1/sessions/x/response";
/// The audience a platform passes to `POST /v1/verify`.
const PLATFORM: &str = "https://platform.example";
/// Distinct presentations per throughput measurement.
const N: usize = 8000;

/// Lets one presentation be verified repeatedly: the ratio bench measures the checks, not
/// replay refusal. (The in-memory store's cost is measured separately, and the throughput runs
/// use the real store with distinct nonces.)
struct Forgetful;

impl NonceStore for Forgetful {
    fn consume(&self, _: &str, _: u64) -> Result<(), NonceError> {
        Ok(())
    }
}

fn verifier(f: &Fixture, nonces: Arc<dyn NonceStore>) -> Verifier {
    let trust = TrustList::new(vec![TrustedIssuer::pinned(
        ISS,
        vec![f.issuer.public_jwk().clone()],
    )])
    .unwrap();
    Verifier::from_trust_list(trust)
        .with_clock(Arc::new(ManualClock::new(f.now)))
        .with_nonce_store(nonces)
}

fn band() -> AgeQuestion {
    AgeQuestion::Band(ThresholdSet::default_set())
}

/// `n` distinct band answers {16 true, 18 false} to `PLATFORM`, one nonce each.
fn presentations(f: &Fixture, n: usize) -> Vec<(String, String)> {
    (0..n)
        .map(|i| {
            let nonce = format!("bench-nonce-{i:012}-0123456789");
            (f.present(&[t(16), t(18)], PLATFORM, &nonce), nonce)
        })
        .collect()
}

/// CPU time this process has used (user + system), from `/proc/self/stat`; 10 ms resolution.
/// Unlike wall-clock throughput it does not move when other processes share the cores.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // After the parenthesised command name come fields 3, 4, …; utime and stime are 14 and 15.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let field = |i: usize| {
        rest.split_whitespace()
            .nth(i - 3)
            .and_then(|x| x.parse::<f64>().ok())
    };
    field(14).zip(field(15)).map_or(0.0, |(u, s)| (u + s) / 100.0)
}

/// Wall-clock throughput and CPU time per operation, µs.
#[derive(Clone, Copy)]
struct Rate {
    per_sec: f64,
    cpu_us: f64,
}

/// Verifications per second of the library on `threads` threads, real nonce store.
fn library_throughput(f: &Fixture, vps: &[(String, String)], threads: usize) -> Rate {
    let v = verifier(f, Arc::new(MemoryNonceStore::default()));
    let requests: Vec<AgeRequest> = vps
        .iter()
        .map(|(_, nonce)| AgeRequest::with_nonce(band(), PLATFORM, nonce.clone()).unwrap())
        .collect();
    let next = AtomicUsize::new(0);
    let (start, cpu) = (Instant::now(), cpu_seconds());
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= vps.len() {
                        break;
                    }
                    black_box(v.verify(&vps[i].0, &requests[i]).unwrap());
                }
            });
        }
    });
    Rate {
        per_sec: vps.len() as f64 / start.elapsed().as_secs_f64(),
        cpu_us: (cpu_seconds() - cpu) * 1e6 / vps.len() as f64,
    }
}

fn bench(c: &mut Criterion) {
    let f = Fixture::new();
    let request = AgeRequest::new(band(), AUD).unwrap();
    let vp = f.present(&[t(16), t(18)], AUD, request.nonce());
    let v = verifier(&f, Arc::new(Forgetful));
    let raw = f.raw_floor(&vp);
    let verify = || {
        black_box(v.verify(black_box(&vp), &request).unwrap());
    };

    let mut g = c.benchmark_group("verifier");
    g.bench_function("raw_floor_two_es256", |b| b.iter(|| raw.run()));
    g.bench_function("verifier_verify", |b| b.iter(verify));
    let store = MemoryNonceStore::new(1 << 20, 360);
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
    let (raw_t, full_t) = interleaved(40, 100, || raw.run(), verify);
    println!(
        "verifier_verify / raw floor = {:.3} (raw {:.1} µs, verify {:.1} µs)",
        full_t.as_secs_f64() / raw_t.as_secs_f64(),
        micros(raw_t, 4000),
        micros(full_t, 4000),
    );

    let vps = presentations(&f, N);
    let lib1 = library_throughput(&f, &vps, 1);
    let lib2 = library_throughput(&f, &vps, 2);
    println!(
        "library throughput (real nonce store, {N} distinct presentations): 1 thread {:.0}/s, 2 threads {:.0}/s (scaling {:.2}); CPU per verification {:.0} µs / {:.0} µs",
        lib1.per_sec,
        lib2.per_sec,
        lib2.per_sec / lib1.per_sec,
        lib1.cpu_us,
        lib2.cpu_us
    );

    #[cfg(feature = "server")]
    {
        let http = service::verify_throughput(&f, &vps, 16);
        println!(
            "POST /v1/verify on loopback, {N} requests, 16 in flight, client and server on the same 2 cores: {:.0}/s = {:.2} × library 1 thread, {:.2} × library 2 threads",
            http.per_sec,
            http.per_sec / lib1.per_sec,
            http.per_sec / lib2.per_sec
        );
        // Load-independent form: CPU per request (server and the in-process client together)
        // against CPU per library verification; with both cores busy the service reaches this
        // fraction of the library's throughput on the same cores.
        println!(
            "POST /v1/verify CPU per request {:.0} µs (client included) vs library {:.0} µs per verification: service/library = {:.2}",
            http.cpu_us,
            lib1.cpu_us,
            lib1.cpu_us / http.cpu_us
        );
        service::round_trip(c, &f);
    }
}

#[cfg(feature = "server")]
mod service {
    use super::*;
    use ageband_verifier::server::{AppState, ServiceConfig, serve};
    use serde_json::{Value, json};

    const KEY: &str = "bench";

    /// A verifier service on `127.0.0.1:0`; dropping the sender stops it.
    pub(super) async fn start(f: &Fixture) -> (String, tokio::sync::oneshot::Sender<()>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        // The manual clock stands still, so finished sessions are never purged: room for all.
        let mut config = ServiceConfig::new(base.clone()).with_api_key(KEY);
        config.max_sessions = 1 << 20;
        let state = AppState::new(verifier(f, Arc::new(MemoryNonceStore::default())), config).unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(serve(listener, state, async move {
            let _ = stopped.await;
        }));
        (base, stop)
    }

    /// `POST /v1/verify` requests per second: every presentation once, `in_flight` clients.
    pub(super) fn verify_throughput(f: &Fixture, vps: &[(String, String)], in_flight: usize) -> Rate {
        let bodies: Arc<Vec<String>> = Arc::new(
            vps.iter()
                .map(|(vp, nonce)| {
                    json!({"presentation": vp, "nonce": nonce, "audience": PLATFORM, "band": [13, 16, 18]})
                        .to_string()
                })
                .collect(),
        );
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async move {
            let (base, _stop) = start(f).await;
            let client = reqwest::Client::new();
            let url = format!("{base}/v1/verify");
            let next = Arc::new(AtomicUsize::new(0));
            let (started, cpu) = (Instant::now(), cpu_seconds());
            let workers: Vec<_> = (0..in_flight)
                .map(|_| {
                    let (client, url, bodies, next) =
                        (client.clone(), url.clone(), bodies.clone(), next.clone());
                    tokio::spawn(async move {
                        loop {
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            if i >= bodies.len() {
                                break;
                            }
                            let resp = client
                                .post(&url)
                                .bearer_auth(KEY)
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
            Rate {
                per_sec: bodies.len() as f64 / started.elapsed().as_secs_f64(),
                cpu_us: (cpu_seconds() - cpu) * 1e6 / bodies.len() as f64,
            }
        })
    }

    /// One platform + wallet session: create → request object → present → direct_post → status.
    async fn session(client: &reqwest::Client, base: &str, f: &Fixture) {
        let created: Value = client
            .post(format!("{base}/v1/sessions"))
            .bearer_auth(KEY)
            .json(&json!({"band": [13, 16, 18]}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = created["id"].as_str().unwrap();
        let req: Value = client
            .get(created["request_uri"].as_str().unwrap())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let s = |k: &str| req[k].as_str().unwrap().to_owned();
        let vp = f.present(&[t(16), t(18)], &s("client_id"), &s("nonce"));
        let vp_token = json!({"age": [vp]}).to_string();
        let resp = client
            .post(s("response_uri"))
            .form(&[("vp_token", vp_token.as_str()), ("state", &s("state"))])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let status: Value = client
            .get(format!("{base}/v1/sessions/{id}"))
            .bearer_auth(KEY)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(status["status"], "verified");
    }

    pub(super) fn round_trip(c: &mut Criterion, f: &Fixture) {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let (base, stop) = rt.block_on(start(f));
        let client = reqwest::Client::new();
        let mut g = c.benchmark_group("service");
        g.bench_function("session_round_trip", |b| {
            b.iter(|| rt.block_on(session(&client, &base, f)))
        });
        g.finish();
        // Its floor: the crypto a round trip cannot avoid (one holder signature, two
        // verifications), against the same count of sequential round trips.
        let vp = f.present(&[t(16), t(18)], AUD, "q1YkFvYfVz4bI6zyWgk8Jw");
        let raw = f.raw_floor(&vp);
        let floor = || {
            black_box(f.holder_sign());
            raw.run();
        };
        let (rt_t, floor_t) = interleaved(10, 50, || rt.block_on(session(&client, &base, f)), floor);
        println!(
            "session round trip / its crypto floor (1 ES256 sign + 2 verifications) = {:.2} (round trip {:.1} µs, floor {:.1} µs)",
            rt_t.as_secs_f64() / floor_t.as_secs_f64(),
            micros(rt_t, 500),
            micros(floor_t, 500),
        );
        drop(stop);
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
