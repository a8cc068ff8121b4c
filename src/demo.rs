//! `ageband demo`: the whole system on loopback, narrated.
//!
//! It starts the issuer service, a built-in **demo identity provider** (a test provider that
//! signs id_tokens for fictional people) and the verifier service on 127.0.0.1 with temporary
//! storage; creates wallets for a 10-year-old, a 14-year-old, a 19-year-old and a parent;
//! enrols them (id_tokens for the 14- and 19-year-old and the parent, a guardian declaration by
//! the parent for the 10-year-old); then three platforms ask their questions over HTTP and the
//! demo prints exactly what each platform learned, and what it did not.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ageband_core::age::{BirthDate, Date};
use ageband_issuer::{IdentityProvider, Issuer, IssuerConfig, JwksSource};
use ageband_verifier::server::{AppState, ServiceConfig};
use ageband_verifier::{TrustList, TrustedIssuer, Verifier};
use ageband_wallet::{Evidence, KdfParams, SystemClock, Wallet, Zeroizing};
use anyhow::{Context as _, bail};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::watch;

use ageband::demo_idp::{DEMO_AUDIENCE, DemoIdp};

/// Arguments of `ageband demo`.
#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Leave the services running and print their URLs, for trying `ageband wallet` by hand.
    #[arg(long)]
    keep_running: bool,
    /// Credentials per enrolment.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u16).range(1..=30))]
    count: u16,
}

/// A fictional person of the demo.
struct Person {
    name: &'static str,
    age: i64,
    wallet: Wallet,
}

/// The running services.
struct Services {
    idp: Arc<DemoIdp>,
    idp_url: String,
    issuer_url: String,
    verifier_url: String,
    /// The platforms' bearer key for the verifier service (random per run).
    api_key: String,
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// Runs the demo.
pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    let tmp = tempfile::Builder::new().prefix("ageband-demo-").tempdir()?;
    let services = start(tmp.path()).await?;
    println!("ageband demo — every party a real component on loopback, storage in a temporary folder\n");
    println!(
        "  demo identity provider (TEST PROVIDER, fictional people only)  {}",
        services.idp_url
    );
    println!(
        "  issuer (OpenID4VCI, SQLite store)                              {}",
        services.issuer_url
    );
    println!(
        "  verifier service (OpenID4VP, sessions)                         {}\n",
        services.verifier_url
    );

    let result = story(&services, tmp.path(), usize::from(args.count)).await;
    if let Err(e) = &result {
        eprintln!("demo failed: {e:#}");
    }
    if args.keep_running && result.is_ok() {
        println!("\nservices stay up; press Ctrl-C to stop. Try:");
        println!("  export AGEBAND_PASSPHRASE=demo");
        println!("  ageband wallet --wallet /tmp/w init");
        println!(
            "  ageband wallet --wallet /tmp/w enrol --issuer {} --self-birthdate 2011-05-04",
            services.issuer_url
        );
        println!(
            "  curl -s -X POST {}/v1/sessions -H 'authorization: Bearer {}' -H 'content-type: application/json' -d '{{\"band\":[13,16,18]}}'",
            services.verifier_url, services.api_key
        );
        println!("  ageband wallet --wallet /tmp/w present '<link from the answer>'");
        crate::cli::shutdown_signal().await;
    }
    stop(services).await;
    result
}

async fn start(dir: &std::path::Path) -> anyhow::Result<Services> {
    let (stop, rx) = watch::channel(false);
    let shutdown = move || {
        let mut rx = rx.clone();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    };
    let mut tasks = Vec::new();

    let idp_listener = TcpListener::bind("127.0.0.1:0").await?;
    let idp_url = format!("http://{}", idp_listener.local_addr()?);
    let idp = Arc::new(DemoIdp::new(&idp_url)?);
    let idp_app = idp.clone().app();
    let sd = shutdown();
    tasks.push(tokio::spawn(async move {
        let _ = axum::serve(idp_listener, idp_app)
            .with_graceful_shutdown(sd)
            .await;
    }));

    let mut provider = IdentityProvider::new(idp.issuer(), DEMO_AUDIENCE, JwksSource::Inline(idp.jwks()));
    provider.require_nonce = false;
    let config = IssuerConfig {
        identity_providers: vec![provider],
        ..IssuerConfig::default()
    };
    let issuer_listener = TcpListener::bind("127.0.0.1:0").await?;
    let issuer_url = format!("http://{}", issuer_listener.local_addr()?);
    let data = dir.join("issuer");
    std::fs::create_dir_all(&data)?;
    let issuer = Arc::new(Issuer::open(&data, config).context("opening the issuer store")?);
    issuer.set_public_url(&issuer_url)?;
    let sd = shutdown();
    tasks.push(tokio::spawn(async move {
        if let Err(e) = ageband_issuer::serve(issuer_listener, issuer, sd).await {
            eprintln!("issuer stopped: {e}");
        }
    }));

    // The verifier fetches the issuer's keys in bulk from /.well-known/jwt-vc-issuer.
    let trust = TrustList::new(vec![TrustedIssuer::fetched(issuer_url.clone())])?;
    let verifier_listener = TcpListener::bind("127.0.0.1:0").await?;
    let verifier_url = format!("http://{}", verifier_listener.local_addr()?);
    let api_key = ageband_core::rng::random_b64(&mut ageband_core::rng::OsRng::new(), 16)?;
    let config = ServiceConfig::new(verifier_url.clone()).with_api_key(api_key.clone());
    let state = AppState::new(Verifier::from_trust_list(trust), config)?;
    let sd = shutdown();
    tasks.push(tokio::spawn(async move {
        if let Err(e) = ageband_verifier::server::serve(verifier_listener, state, sd).await {
            eprintln!("verifier stopped: {e}");
        }
    }));
    Ok(Services {
        idp,
        idp_url,
        issuer_url,
        verifier_url,
        api_key,
        stop,
        tasks,
    })
}

/// What each demo platform does with the answer: tailor the experience to the band, or let
/// the user in or keep them out.
fn decision(question: &Value, outcome: &Value) -> String {
    let band = outcome["band"].as_str().unwrap_or("?");
    if question.get("band").is_some() {
        return format!("the community shows its {band} experience");
    }
    let admitted = match (question.get("at_least"), question.get("under")) {
        (Some(n), _) => outcome["at_least"].as_u64() >= n.as_u64(),
        (_, Some(n)) => outcome["under"].as_u64().is_some_and(|u| Some(u) <= n.as_u64()),
        _ => false,
    };
    if admitted {
        "admitted".to_owned()
    } else {
        format!("kept out (age {band})")
    }
}

async fn stop(s: Services) {
    let _ = s.stop.send(true);
    for t in s.tasks {
        let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
    }
}

async fn story(s: &Services, dir: &std::path::Path, count: usize) -> anyhow::Result<()> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let today = Date::from_unix_seconds(now);
    // Birth dates a few months past the birthday, so that the ages hold on any day.
    let born = |age: i64| today.add_days(-(age * 365 + age / 4 + 100));
    let kdf = KdfParams::DEFAULT;
    let open = |name: &'static str, age: i64| -> anyhow::Result<Person> {
        let w = Wallet::create_with(dir.join(name), "demo passphrase", kdf, Arc::new(SystemClock))?;
        Ok(Person { name, age, wallet: w })
    };
    let mut parent = open("parent", 41)?;
    let mut people = [open("Mia", 10)?, open("Leo", 14)?, open("Sam", 19)?];

    println!("1. enrolment — each wallet gets a batch of {count} single-use credentials\n");
    for p in std::iter::once(&mut parent).chain(people.iter_mut().skip(1)) {
        let token = s
            .idp
            .id_token(&format!("demo-{}", p.name.to_lowercase()), born(p.age), None, now)?;
        let evidence = Evidence::IdToken {
            id_token: Zeroizing::new(token),
        };
        let got = ageband_wallet::enrol(&mut p.wallet, &s.issuer_url, evidence, count).await?;
        println!(
            "   {:<6} ({} years): id_token from the demo identity provider → {} credentials, {} / {}, band {}",
            p.name,
            p.age,
            got.count,
            got.info.assurance,
            got.info.source,
            got.info.band()
        );
    }
    let mia = &mut people[0];
    let evidence = Evidence::Guardian {
        adult: &mut parent.wallet,
        child_birthdate: BirthDate::new(born(mia.age)),
    };
    let got = ageband_wallet::enrol(&mut mia.wallet, &s.issuer_url, evidence, count).await?;
    println!(
        "   {:<6} ({} years): guardian declaration backed by the parent's adult credential → {} credentials, {} / {}, band {}",
        mia.name,
        mia.age,
        got.count,
        got.info.assurance,
        got.info.source,
        got.info.band()
    );
    println!("\n   The issuer kept no birth date: it derived age_over_13/16/18 and forgot the date.\n");

    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    let platforms = [
        ("a teen community", json!({"band": [13, 16, 18]})),
        (
            "an adults-only service",
            json!({"at_least": 18, "allow_negative": true}),
        ),
        (
            "a children's space that keeps adults out",
            json!({"under": 13, "allow_negative": true}),
        ),
    ];
    for (i, (platform, question)) in platforms.iter().enumerate() {
        println!("{}. {platform} asks {question}", i + 2);
        for p in people.iter_mut() {
            let session: Value = http
                .post(format!("{}/v1/sessions", s.verifier_url))
                .bearer_auth(&s.api_key)
                .json(question)
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
            let link = session["link"].as_str().context("session without link")?;
            let id = session["id"].as_str().context("session without id")?;
            let presented = ageband_wallet::present(&mut p.wallet, link, |_summary| true).await;
            let status: Value = http
                .get(format!("{}/v1/sessions/{id}", s.verifier_url))
                .bearer_auth(&s.api_key)
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
            match presented {
                Ok(done) => {
                    let shared: Vec<String> = done
                        .summary
                        .disclosed
                        .iter()
                        .map(|(t, v)| format!("{}={v}", t.claim_name()))
                        .collect();
                    println!(
                        "   {:<4} ({:>2}): wallet shared {} → platform learned {}",
                        p.name,
                        p.age,
                        shared.join(", "),
                        status["outcome"]
                    );
                    println!("              → {}", decision(question, &status["outcome"]));
                }
                Err(e) => println!("   {:<4} ({:>2}): wallet could not answer: {e}", p.name, p.age),
            }
            if status["status"] != "verified" {
                bail!("session for {} ended {}", p.name, status["status"]);
            }
        }
        println!("   what it did not learn: names, birth dates, predicates it did not ask for, and whether");
        println!("   two answers came from the same person (fresh holder key, salts and signature each).\n");
    }
    for p in people.iter() {
        let st = p.wallet.status();
        println!("   {}'s wallet: {} unused credentials left", p.name, st.unused);
    }
    Ok(())
}
