//! Bounded load runs against the verifier and issuer services on loopback (`127.0.0.1`, an
//! ephemeral port, in this process). Every run is limited by a request count and a time limit
//! and stops by itself; none is part of `cargo test`.
//!
//! ```text
//! cargo run --release --example load -- [all|verify|sessions|issuer|memory]...
//!     [--clients 64] [--requests 20000] [--seconds 30] [--sessions 100000] [--cycles 3]
//! ```
//!
//! * `verify`: `POST /v1/verify` with distinct presentations (built before the clock starts).
//! * `sessions`: the whole OpenID4VP round trip per client iteration: create session → fetch
//!   the request object → presentation built with core → `direct_post` → status.
//! * `issuer`: evidence → token → nonce → credential with a batch of 30 proofs.
//! * `memory`: `--sessions` sessions created per cycle on a verifier whose clock is injected,
//!   then left to expire (the clock jumps past their lifetime); the next inserts purge. VmRSS
//!   is read from `/proc/self/status` after each cycle, with the cycle's p99 and maximum create
//!   latency (the stall while expired sessions are purged). Then the same with issuer nonces
//!   (`POST /nonce`, expired, purged).
//!
//! Prints a human-readable summary and one JSON line per run: throughput, p50/p99 latency,
//! errors, CPU time per operation (client and server together: this process), and for
//! `memory` the RSS after each cycle.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ageband_core::age::{AssuranceLevel, Date, Source, Threshold};
use ageband_core::jws::{RingSigner, Signer, sign_compact};
use ageband_core::profile::{self, CredentialTemplate};
use ageband_core::rng::OsRng;
use ageband_issuer::{Issuer, IssuerConfig, Kek, ManualClock, OpenOptions, QuotaConfig};
use ageband_verifier::server::{AppState, ServiceConfig, serve};
use ageband_verifier::{MemoryNonceStore, TrustList, TrustedIssuer, Verifier};
use anyhow::{Context as _, bail, ensure};
use serde_json::{Value, json};

const API_KEY: &str = "load";
const ISS: &str = "https://issuer.example";
const PLATFORM: &str = "https://platform.example";

#[derive(Clone, Debug)]
struct Opts {
    clients: usize,
    requests: usize,
    seconds: u64,
    sessions: usize,
    cycles: usize,
}

fn parse_args() -> anyhow::Result<(Vec<String>, Opts)> {
    let mut scenarios = Vec::new();
    let mut o = Opts {
        clients: 64,
        requests: 20_000,
        seconds: 30,
        sessions: 100_000,
        cycles: 3,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut num = |name: &str| -> anyhow::Result<usize> {
            args.next()
                .with_context(|| format!("{name} needs a value"))?
                .parse()
                .with_context(|| format!("{name} must be a number"))
        };
        match a.as_str() {
            "--clients" => o.clients = num("--clients")?.max(1),
            "--requests" => o.requests = num("--requests")?.max(1),
            "--seconds" => o.seconds = num("--seconds")?.max(1) as u64,
            "--sessions" => o.sessions = num("--sessions")?.max(1),
            "--cycles" => o.cycles = num("--cycles")?.max(1),
            "all" | "verify" | "sessions" | "issuer" | "memory" => scenarios.push(a),
            other => bail!("unknown argument {other}"),
        }
    }
    if scenarios.is_empty() {
        scenarios.push("all".to_owned());
    }
    Ok((scenarios, o))
}

fn main() -> anyhow::Result<()> {
    let (scenarios, o) = parse_args()?;
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    println!(
        "load run on {} CPUs, {} clients, at most {} requests or {} s per run",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        o.clients,
        o.requests,
        o.seconds
    );
    let want = |name: &str| scenarios.iter().any(|s| s == name || s == "all");
    rt.block_on(async {
        if want("verify") {
            verify_run(&o).await?;
        }
        if want("sessions") {
            sessions_run(&o).await?;
        }
        if want("issuer") {
            issuer_run(&o).await?;
        }
        if want("memory") {
            memory_run(&o).await?;
        }
        Ok(())
    })
}

/// The credential a wallet holds, and the verifier's view of its issuer.
struct World {
    issuer: RingSigner,
    holder: RingSigner,
    credential: String,
    now: u64,
}

impl World {
    fn new() -> anyhow::Result<Self> {
        let issuer = RingSigner::generate()?;
        let holder = RingSigner::generate()?;
        let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
        let today = Date::from_unix_seconds(now);
        let template = CredentialTemplate {
            issuer: ISS.into(),
            iat: today,
            exp: today.add_days(90),
            assurance: AssuranceLevel::Enhanced,
            source: Source::OfficialId,
            predicates: BTreeMap::from([(t(13)?, true), (t(16)?, true), (t(18)?, false)]),
            pad_to: 3,
        };
        let credential = profile::issue(&template, holder.public_jwk(), &issuer, &mut OsRng::new())?;
        Ok(World {
            issuer,
            holder,
            credential,
            now,
        })
    }

    /// A band answer {16 true, 18 false}.
    fn present(&self, aud: &str, nonce: &str) -> anyhow::Result<String> {
        Ok(profile::present(
            &self.credential,
            &[t(16)?, t(18)?],
            &self.holder,
            aud,
            nonce,
            self.now,
        )?)
    }

    fn verifier(&self, clock: Arc<ManualClock>) -> anyhow::Result<Verifier> {
        let trust = TrustList::new(vec![TrustedIssuer::pinned(
            ISS,
            vec![self.issuer.public_jwk().clone()],
        )])?;
        Ok(Verifier::from_trust_list(trust)
            .with_clock(clock)
            .with_nonce_store(Arc::new(MemoryNonceStore::default())))
    }
}

fn t(years: u8) -> anyhow::Result<Threshold> {
    Ok(Threshold::new(years)?)
}

/// A verifier service on an ephemeral loopback port; send on (or drop) the sender to stop it.
async fn start_verifier(
    verifier: Verifier,
    tune: impl FnOnce(&mut ServiceConfig),
) -> anyhow::Result<(String, AppState, tokio::sync::oneshot::Sender<()>)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let mut config = ServiceConfig::new(base.clone()).with_api_key(API_KEY);
    tune(&mut config);
    let state = AppState::new(verifier, config)?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(serve(listener, state.clone(), async move {
        let _ = stopped.await;
    }));
    Ok((base, state, stop))
}

/// What one run measured.
#[derive(Default)]
struct Tally {
    latencies: Vec<Duration>,
    errors: usize,
    first_error: Option<String>,
}

/// Runs `op(i)` for i = 0, 1, … on `clients` concurrent tasks until `requests` operations have
/// started or `seconds` have passed; prints and returns the summary.
async fn drive<F, Fut>(name: &str, o: &Opts, op: F) -> anyhow::Result<Value>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send,
{
    let op = Arc::new(op);
    let next = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let deadline = Instant::now() + Duration::from_secs(o.seconds);
    let (started, cpu) = (Instant::now(), cpu_seconds());
    let tasks: Vec<_> = (0..o.clients)
        .map(|_| {
            let (op, next, stop, requests) = (op.clone(), next.clone(), stop.clone(), o.requests);
            tokio::spawn(async move {
                let mut tally = Tally::default();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= requests || stop.load(Ordering::Relaxed) || Instant::now() >= deadline {
                        break;
                    }
                    let t0 = Instant::now();
                    match op(i).await {
                        Ok(()) => tally.latencies.push(t0.elapsed()),
                        Err(e) => {
                            tally.errors += 1;
                            tally.first_error.get_or_insert_with(|| format!("{e:#}"));
                        }
                    }
                }
                tally
            })
        })
        .collect();
    let mut all = Tally::default();
    for task in tasks {
        let t = task.await?;
        all.latencies.extend(t.latencies);
        all.errors += t.errors;
        if all.first_error.is_none() {
            all.first_error = t.first_error;
        }
    }
    stop.store(true, Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    let cpu_us = (cpu_seconds() - cpu) * 1e6 / (all.latencies.len() + all.errors).max(1) as f64;
    all.latencies.sort();
    let pct = |p: f64| -> f64 {
        if all.latencies.is_empty() {
            return 0.0;
        }
        let i = ((all.latencies.len() as f64 * p).ceil() as usize).clamp(1, all.latencies.len()) - 1;
        all.latencies[i].as_secs_f64() * 1e3
    };
    let ok = all.latencies.len();
    let summary = json!({
        "run": name,
        "clients": o.clients,
        "ok": ok,
        "errors": all.errors,
        "seconds": (elapsed * 1000.0).round() / 1000.0,
        "per_sec": ((ok as f64 / elapsed) * 10.0).round() / 10.0,
        "p50_ms": (pct(0.50) * 1000.0).round() / 1000.0,
        "p99_ms": (pct(0.99) * 1000.0).round() / 1000.0,
        "max_ms": (pct(1.0) * 1000.0).round() / 1000.0,
        "cpu_us_per_op": cpu_us.round(),
        "rss_kib": rss_kib(),
    });
    println!(
        "{name}: {ok} ok, {} errors in {elapsed:.2} s = {:.0}/s; latency p50 {:.2} ms, p99 {:.2} ms; CPU {cpu_us:.0} µs per operation (client and server)",
        all.errors,
        ok as f64 / elapsed,
        pct(0.5),
        pct(0.99)
    );
    if let Some(e) = all.first_error {
        println!("  first error: {e}");
    }
    println!("{summary}");
    Ok(summary)
}

async fn expect_status(resp: reqwest::Response, want: u16) -> anyhow::Result<Value> {
    let status = resp.status().as_u16();
    let body = resp.bytes().await?;
    ensure!(
        status == want,
        "HTTP {status}, wanted {want}: {}",
        String::from_utf8_lossy(&body[..body.len().min(200)])
    );
    Ok(serde_json::from_slice(&body)?)
}

/// `POST /v1/verify`, each presentation once (distinct nonces, so the real nonce store works).
async fn verify_run(o: &Opts) -> anyhow::Result<Value> {
    let world = World::new()?;
    let clock = Arc::new(ManualClock::new(world.now));
    let (base, _state, _stop) = start_verifier(world.verifier(clock)?, |_| {}).await?;
    let n = o.requests;
    let bodies: Vec<String> = (0..n)
        .map(|i| {
            let nonce = format!("load-nonce-{i:012}-0123456789");
            let vp = world.present(PLATFORM, &nonce)?;
            Ok(
                json!({"presentation": vp, "nonce": nonce, "audience": PLATFORM, "band": [13, 16, 18]})
                    .to_string(),
            )
        })
        .collect::<anyhow::Result<_>>()?;
    let bodies = Arc::new(bodies);
    let client = reqwest::Client::new();
    let url = format!("{base}/v1/verify");
    drive("POST /v1/verify", o, move |i| {
        let (client, url, bodies) = (client.clone(), url.clone(), bodies.clone());
        async move {
            let resp = client
                .post(&url)
                .bearer_auth(API_KEY)
                .header("content-type", "application/json")
                .body(bodies[i].clone())
                .send()
                .await?;
            let v = expect_status(resp, 200).await?;
            ensure!(v["outcome"]["at_least"] == 16, "unexpected outcome {v}");
            Ok(())
        }
    })
    .await
}

/// One OpenID4VP session from both sides.
async fn session(client: &reqwest::Client, base: &str, world: &World) -> anyhow::Result<()> {
    let resp = client
        .post(format!("{base}/v1/sessions"))
        .bearer_auth(API_KEY)
        .json(&json!({"band": [13, 16, 18]}))
        .send()
        .await?;
    let created = expect_status(resp, 201).await?;
    let id = created["id"].as_str().context("id")?;
    let req = expect_status(
        client
            .get(created["request_uri"].as_str().context("request_uri")?)
            .send()
            .await?,
        200,
    )
    .await?;
    let s = |k: &str| req[k].as_str().map(str::to_owned).context("request member");
    let vp = world.present(&s("client_id")?, &s("nonce")?)?;
    let vp_token = json!({"age": [vp]}).to_string();
    let resp = client
        .post(s("response_uri")?)
        .form(&[("vp_token", vp_token.as_str()), ("state", &s("state")?)])
        .send()
        .await?;
    expect_status(resp, 200).await?;
    let status = expect_status(
        client
            .get(format!("{base}/v1/sessions/{id}"))
            .bearer_auth(API_KEY)
            .send()
            .await?,
        200,
    )
    .await?;
    ensure!(status["status"] == "verified", "session ended {status}");
    Ok(())
}

async fn sessions_run(o: &Opts) -> anyhow::Result<Value> {
    let world = Arc::new(World::new()?);
    let clock = Arc::new(ManualClock::new(world.now));
    // The clock stands still, so finished sessions wait a lifetime to be purged: room for all.
    let (base, _state, _stop) =
        start_verifier(world.verifier(clock)?, |c| c.max_sessions = o.requests + 1).await?;
    let client = reqwest::Client::new();
    drive("session round trip", o, move |_| {
        let (client, base, world) = (client.clone(), base.clone(), world.clone());
        async move { session(&client, &base, &world).await }
    })
    .await
}

/// An issuer on an ephemeral loopback port, with the clock given (or the system's).
async fn start_issuer(
    clock: Option<Arc<ManualClock>>,
) -> anyhow::Result<(
    String,
    Arc<Issuer>,
    tempfile::TempDir,
    tokio::sync::oneshot::Sender<()>,
)> {
    let dir = tempfile::tempdir()?;
    let config = IssuerConfig {
        quota: QuotaConfig {
            batches: u32::MAX,
            period_days: 30,
        },
        ..IssuerConfig::default()
    };
    let opts = OpenOptions {
        kek: Some(Kek::generate()?),
        clock: clock.map(|c| c as Arc<dyn ageband_issuer::Clock>),
        key_source: None,
    };
    let issuer = Arc::new(Issuer::open_with(dir.path(), config, opts)?);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(ageband_issuer::serve(listener, issuer.clone(), async move {
        let _ = stopped.await;
    }));
    Ok((base, issuer, dir, stop))
}

/// evidence → token → nonce → credential (a batch of `keys.len()`), as a wallet does it.
async fn enrol(client: &reqwest::Client, base: &str, keys: &[RingSigner]) -> anyhow::Result<()> {
    let resp = client
        .post(format!("{base}/evidence"))
        .header("content-type", "application/json")
        .body(r#"{"type":"self","birthdate":"2010-06-15"}"#)
        .send()
        .await?;
    let offer = expect_status(resp, 200).await?;
    let code = offer["pre_authorized_code"].as_str().context("code")?;
    let resp = client
        .post(format!("{base}/token"))
        .form(&[
            ("grant_type", ageband_issuer::PRE_AUTHORIZED_GRANT),
            ("pre-authorized_code", code),
        ])
        .send()
        .await?;
    let token = expect_status(resp, 200).await?;
    let token = token["access_token"].as_str().context("access_token")?;
    let nonce = expect_status(client.post(format!("{base}/nonce")).send().await?, 200).await?;
    let nonce = nonce["c_nonce"].as_str().context("c_nonce")?;
    let iat = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let proofs = keys
        .iter()
        .map(|k| {
            let header =
                json!({"alg": "ES256", "typ": ageband_issuer::PROOF_TYP, "jwk": k.public_jwk().to_json()});
            sign_compact(k, &header, &json!({"aud": base, "nonce": nonce, "iat": iat}))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let resp = client
        .post(format!("{base}/credential"))
        .bearer_auth(token)
        .json(&json!({"credential_configuration_id": ageband_issuer::CREDENTIAL_CONFIGURATION_ID, "proofs": {"jwt": proofs}}))
        .send()
        .await?;
    let answer = expect_status(resp, 200).await?;
    let n = answer["credentials"].as_array().map_or(0, Vec::len);
    ensure!(n == keys.len(), "{n} credentials for {} proofs", keys.len());
    Ok(())
}

async fn issuer_run(o: &Opts) -> anyhow::Result<Value> {
    let (base, _issuer, _dir, _stop) = start_issuer(None).await?;
    // Holder keys are made once (the wallet's cost, not the issuer's); each batch signs fresh
    // proofs with them.
    let keys: Arc<Vec<RingSigner>> = Arc::new(
        (0..ageband_issuer::config::DEFAULT_BATCH)
            .map(|_| RingSigner::generate())
            .collect::<Result<_, _>>()?,
    );
    let client = reqwest::Client::new();
    let opts = Opts {
        requests: (o.requests / 30).max(1),
        ..o.clone()
    };
    drive(
        "issuer batch of 30 (evidence, token, nonce, credential)",
        &opts,
        move |_| {
            let (client, base, keys) = (client.clone(), base.clone(), keys.clone());
            async move { enrol(&client, &base, &keys).await }
        },
    )
    .await
}

/// CPU time this process has used (user + system), seconds, from `/proc/self/stat` (10 ms
/// resolution; 0 where /proc is unavailable). Unlike wall-clock figures it does not move when
/// other processes share the cores.
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

/// VmRSS of this process, KiB (0 where /proc is unavailable).
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

async fn memory_run(o: &Opts) -> anyhow::Result<Value> {
    let world = World::new()?;
    let clock = Arc::new(ManualClock::new(world.now));
    let ttl = ageband_verifier::server::DEFAULT_TTL;
    // The bound is the number of sessions one cycle creates (the default is 10 000).
    let (base, state, _stop) =
        start_verifier(world.verifier(clock.clone())?, |c| c.max_sessions = o.sessions).await?;
    let client = reqwest::Client::new();
    let create = {
        let (client, base) = (client.clone(), base.clone());
        move |_| {
            let (client, base) = (client.clone(), base.clone());
            async move {
                let resp = client
                    .post(format!("{base}/v1/sessions"))
                    .bearer_auth(API_KEY)
                    .json(&json!({"at_least": 18}))
                    .send()
                    .await?;
                expect_status(resp, 201).await?;
                Ok(())
            }
        }
    };
    let rss_start = rss_kib();
    let per_cycle = Opts {
        requests: o.sessions,
        seconds: o.seconds.max(120),
        ..o.clone()
    };
    let create = Arc::new(create);
    let mut cycles = Vec::new();
    for cycle in 1..=o.cycles {
        let c = create.clone();
        let run = drive(&format!("sessions cycle {cycle}"), &per_cycle, move |i| c(i)).await?;
        let held = state.session_count();
        let rss = rss_kib();
        println!(
            "  after cycle {cycle}: {held} sessions held, VmRSS {rss} KiB; create latency p99 {} ms, max {} ms",
            run["p99_ms"], run["max_ms"]
        );
        cycles.push(json!({"cycle": cycle, "created": run["ok"], "errors": run["errors"], "per_sec": run["per_sec"], "p99_ms": run["p99_ms"], "max_ms": run["max_ms"], "held": held, "rss_kib": rss}));
        // Every session of this cycle is now past its lifetime and its purge delay.
        clock.advance(2 * ttl + 1);
    }
    // One more insert finds the table full of dead sessions and purges them (all of them, or
    // a bounded number per operation where purging is incremental).
    // Alone, so its latency is the purge's work under the lock plus one loopback round trip.
    let t0 = Instant::now();
    create(0).await?;
    let one_ms = t0.elapsed().as_secs_f64() * 1e3;
    let held_after = state.session_count();
    let rss_after = rss_kib();
    println!(
        "  after expiry and one more session ({one_ms:.2} ms): {held_after} sessions held, VmRSS {rss_after} KiB"
    );

    // Issuer nonces: created, expired, purged, per cycle.
    let iclock = Arc::new(ManualClock::new(world.now));
    let (ibase, issuer, _dir, _istop) = start_issuer(Some(iclock.clone())).await?;
    let mut nonce_cycles = Vec::new();
    for cycle in 1..=o.cycles {
        let (client, ibase) = (client.clone(), ibase.clone());
        let run = drive(&format!("issuer nonces cycle {cycle}"), &per_cycle, move |_| {
            let (client, ibase) = (client.clone(), ibase.clone());
            async move {
                expect_status(client.post(format!("{ibase}/nonce")).send().await?, 200).await?;
                Ok(())
            }
        })
        .await?;
        iclock.advance(2 * ageband_issuer::CODE_LIFETIME + 1);
        let i = issuer.clone();
        tokio::task::spawn_blocking(move || i.purge()).await??;
        let rss = rss_kib();
        println!("  after nonce cycle {cycle} and purge: VmRSS {rss} KiB");
        nonce_cycles.push(json!({"cycle": cycle, "created": run["ok"], "errors": run["errors"], "per_sec": run["per_sec"], "rss_kib": rss}));
    }
    let summary = json!({
        "run": "memory",
        "sessions_per_cycle": o.sessions,
        "max_sessions": o.sessions,
        "session_ttl": ttl,
        "rss_start_kib": rss_start,
        "session_cycles": cycles,
        "held_after_expiry": held_after,
        "insert_after_expiry_ms": (one_ms * 1000.0).round() / 1000.0,
        "rss_after_expiry_kib": rss_after,
        "nonce_cycles": nonce_cycles,
    });
    println!("{summary}");
    Ok(summary)
}
