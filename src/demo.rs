//! `ageband demo`: the whole system on loopback, narrated.
//!
//! It starts the issuer service, a built-in **demo identity provider** (a test provider that
//! signs id_tokens for fictional people) and the verifier service on 127.0.0.1 with temporary
//! storage; creates wallets for a 10-year-old, a 14-year-old, a 19-year-old and a parent;
//! enrols them (id_tokens for the 14- and 19-year-old and the parent, a guardian declaration by
//! the parent for the 10-year-old), each enrolment fetching both profiles from one evidence
//! step: SD-JWT credentials and blind tokens. Then three platforms ask their questions over HTTP
//! with SD-JWT, the same band question is answered on the double-blind path (RFC 9578 tokens
//! the issuer signed without seeing), and an adults-only page gated by the RFC 9577
//! `PrivateToken` header admits the adult; the demo prints exactly what each platform learned,
//! and what it did not.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ageband_core::age::{BirthDate, Date};
use ageband_issuer::{IdentityProvider, Issuer, IssuerConfig, JwksSource};
use ageband_verifier::private_token::{Gate, require_private_token};
use ageband_verifier::server::{AppState, ServiceConfig};
use ageband_verifier::{AgeOutcome, AgeQuestion, Threshold, TrustList, TrustedIssuer, Verifier};
use ageband_wallet::{BlindEnrolment, Evidence, KdfParams, Shared, SystemClock, Wallet, Zeroizing};
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
    /// The demo identity provider; its URL is its `iss`.
    idp: Arc<DemoIdp>,
    issuer_url: String,
    verifier_url: String,
    /// The origin of a platform whose adults-only page, [`GATED_PATH`], is gated by the
    /// `PrivateToken` header (the verifier library embedded); the tokens' audience.
    gated_origin: String,
    /// The platforms' bearer key for the verifier service (random per run).
    api_key: String,
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// The path of the demo platform's adults-only page.
const GATED_PATH: &str = "/adults";

impl Services {
    /// The adults-only page's URL.
    fn gated_url(&self) -> String {
        format!("{}{GATED_PATH}", self.gated_origin)
    }
}

/// Runs the demo.
pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    let tmp = tempfile::Builder::new().prefix("ageband-demo-").tempdir()?;
    let services = start(tmp.path()).await?;
    println!("ageband demo — every party a real component on loopback, storage in a temporary folder\n");
    println!(
        "  demo identity provider (TEST PROVIDER, fictional people only)  {}",
        services.idp.issuer()
    );
    println!(
        "  issuer (OpenID4VCI, SQLite store)                              {}",
        services.issuer_url
    );
    println!(
        "  verifier service (OpenID4VP, sessions, both profiles)          {}",
        services.verifier_url
    );
    println!(
        "  a platform page gated by `Authorization: PrivateToken`         {}\n",
        services.gated_url()
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

    // The verifier fetches the issuer's keys in bulk from /.well-known/jwt-vc-issuer, and its
    // blind-token directory from /.well-known/private-token-issuer-directory (the issuer makes
    // its monthly RSA keys on that first request).
    let trusted = || {
        TrustList::new(vec![
            TrustedIssuer::fetched(issuer_url.clone()).fetch_blind_directory(),
        ])
    };
    let verifier_listener = TcpListener::bind("127.0.0.1:0").await?;
    let verifier_url = format!("http://{}", verifier_listener.local_addr()?);
    let api_key = ageband_core::rng::random_b64(&mut ageband_core::rng::OsRng::new(), 16)?;
    let config = ServiceConfig::new(verifier_url.clone()).with_api_key(api_key.clone());
    let state = AppState::new(Verifier::from_trust_list(trusted()?), config)?;
    let sd = shutdown();
    tasks.push(tokio::spawn(async move {
        if let Err(e) = ageband_verifier::server::serve(verifier_listener, state, sd).await {
            eprintln!("verifier stopped: {e}");
        }
    }));

    // A platform that embeds the verifier library and gates a plain HTTP route.
    let verifier = Verifier::from_trust_list(trusted()?);
    let fetcher = ageband_verifier::fetch::KeyFetcher::new()?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    for (issuer, r) in verifier.trust().refresh(&fetcher, now).await {
        r.with_context(|| format!("fetching the keys of {issuer}"))?;
    }
    let gated_listener = TcpListener::bind("127.0.0.1:0").await?;
    let gated_origin = format!("http://{}", gated_listener.local_addr()?);
    let gate = Gate::new(
        verifier,
        issuer_url.clone(),
        AgeQuestion::AtLeast(Threshold::new(18)?),
        gated_origin.clone(),
    )?;
    let app = axum::Router::new()
        .route(
            GATED_PATH,
            axum::routing::get(|axum::Extension(o): axum::Extension<AgeOutcome>| async move {
                format!("welcome to the adults-only page (band {})", o.band_label())
            }),
        )
        .route_layer(axum::middleware::from_fn_with_state(
            Arc::new(gate),
            require_private_token,
        ));
    let sd = shutdown();
    tasks.push(tokio::spawn(async move {
        let _ = axum::serve(gated_listener, app).with_graceful_shutdown(sd).await;
    }));
    Ok(Services {
        idp,
        issuer_url,
        verifier_url,
        gated_origin,
        api_key,
        stop,
        tasks,
    })
}

/// `" + N blind tokens"` for an enrolment's blind part.
fn blind_words(b: &BlindEnrolment) -> String {
    match b {
        BlindEnrolment::Stored { count, .. } => format!(" + {count} blind tokens"),
        BlindEnrolment::NotOffered { reason } => format!(" (no blind tokens: {reason})"),
        BlindEnrolment::Skipped => String::new(),
        BlindEnrolment::Failed(e) => format!(" (blind tokens failed: {e})"),
    }
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

    println!(
        "1. enrolment — one evidence step gives each wallet {count} single-use SD-JWT credentials and a"
    );
    println!("   batch of blind tokens (one per fact, floor and month; the issuer signs them blinded)\n");
    for p in std::iter::once(&mut parent).chain(people.iter_mut().skip(1)) {
        let token = s
            .idp
            .id_token(&format!("demo-{}", p.name.to_lowercase()), born(p.age), None, now)?;
        let evidence = Evidence::IdToken {
            id_token: Zeroizing::new(token),
        };
        let got = ageband_wallet::enrol(&mut p.wallet, &s.issuer_url, evidence, count).await?;
        println!(
            "   {:<6} ({} years): id_token from the demo identity provider → {} credentials{}, {} / {}, band {}",
            p.name,
            p.age,
            got.count,
            blind_words(&got.blind),
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
        "   {:<6} ({} years): guardian declaration backed by the parent's adult credential → {} credentials{}, {} / {}, band {}",
        mia.name,
        mia.age,
        got.count,
        blind_words(&got.blind),
        got.info.assurance,
        got.info.source,
        got.info.band()
    );
    println!("\n   The issuer kept no birth date: it derived age_over_13/16/18 and forgot the date.\n");

    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    let platforms = [
        (
            "a teen community",
            json!({"band": [13, 16, 18], "profiles": ["sd_jwt"]}),
        ),
        (
            "an adults-only service",
            json!({"at_least": 18, "allow_negative": true, "profiles": ["sd_jwt"]}),
        ),
        (
            "a children's space that keeps adults out",
            json!({"under": 13, "allow_negative": true, "profiles": ["sd_jwt"]}),
        ),
        (
            "the teen community again, on the double-blind path,",
            json!({"band": [13, 16, 18], "profiles": ["blind_token"]}),
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
                    let shared: Vec<String> = match &done.summary.shared {
                        Shared::BlindTokens { tokens } => tokens
                            .iter()
                            .map(|(fact, floor, month)| {
                                format!("one {fact} token (floor {}, {month})", floor.number())
                            })
                            .collect(),
                        Shared::SdJwt { .. } => done
                            .summary
                            .disclosed
                            .iter()
                            .map(|(t, v)| format!("{}={v}", t.claim_name()))
                            .collect(),
                    };
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
        if question["profiles"][0] == "blind_token" {
            println!(
                "   what it did not learn: as above, and also the evidence source and issuance day; and even"
            );
            println!(
                "   together with the issuer it cannot tie a token to an issuance: the issuer signed blinded"
            );
            println!(
                "   messages and never saw these tokens, their nonces, holder keys or signatures. All it can"
            );
            println!(
                "   tell is which monthly key signed — shared by everyone with that fact and floor this month.\n"
            );
        } else {
            println!(
                "   what it did not learn: names, birth dates, predicates it did not ask for, and whether"
            );
            println!(
                "   two answers came from the same person (fresh holder key, salts and signature each).\n"
            );
        }
    }

    gated_page(s, &http, &mut people).await?;
    for p in people.iter() {
        let st = p.wallet.status();
        println!(
            "   {}'s wallet: {} unused credentials and {} blind tokens left",
            p.name, st.unused, st.blind_unused
        );
    }
    Ok(())
}

/// An adults-only page behind `Authorization: PrivateToken` (RFC 9577): the platform answers
/// 401 with a challenge; a wallet holding an `age_over_18` token answers it.
async fn gated_page(s: &Services, http: &reqwest::Client, people: &mut [Person]) -> anyhow::Result<()> {
    let (url, origin) = (s.gated_url(), &s.gated_origin);
    println!(
        "{}. an adults-only page gated by the PrivateToken header: {url}",
        6
    );
    for p in people.iter_mut() {
        let first = http.get(&url).send().await?;
        let challenge = first
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .context("no PrivateToken challenge")?
            .to_owned();
        match ageband_wallet::private_token_header(&mut p.wallet, &challenge, origin, |_| true) {
            Ok(answer) => {
                let r = http
                    .get(&url)
                    .header("authorization", &answer.header)
                    .send()
                    .await?;
                let status = r.status();
                let body = r.text().await?;
                println!(
                    "   {:<4} ({:>2}): 401 + challenge → wallet sent one {} token → {} {body}",
                    p.name,
                    p.age,
                    answer.summary.fact,
                    status.as_u16()
                );
                if !status.is_success() {
                    bail!("the gated page refused {}", p.name);
                }
            }
            Err(e) => println!(
                "   {:<4} ({:>2}): 401 + challenge → wallet has no fitting token ({e}) → stays out",
                p.name, p.age
            ),
        }
    }
    println!("   the page learned one fact per visit, bound to its origin and a fresh nonce, usable once.\n");
    Ok(())
}
