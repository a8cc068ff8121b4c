//! The whole system on loopback for end-to-end tests: the demo identity provider (also a
//! check provider), the issuer service with a real SQLite file, the verifier service behind a
//! recording proxy (so that tests can scan the exact bytes a wallet sent), and wallets. Every
//! component is the real one; only the clocks are manual, one per party.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ageband::demo_idp::{DEMO_AUDIENCE, DemoIdp};
use ageband_core::age::{BirthDate, Date};
use ageband_core::clock::{Clock, ManualClock};
use ageband_issuer::{CheckProvider, IdentityProvider, Issuer, IssuerConfig, JwksSource, Kek, OpenOptions};
use ageband_verifier::fetch::KeyFetcher;
use ageband_verifier::server::{AppState, ServiceConfig};
use ageband_verifier::{TrustList, TrustedIssuer, Verifier};
use ageband_wallet::{Evidence, KdfParams, Wallet, Zeroizing};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// 2026-07-01 12:00 UTC.
pub const T0: u64 = 1_782_907_200;
pub const DAY: u64 = 86_400;
pub const API_KEY: &str = "test-platform-key";
/// The issuer's key-encryption key in tests.
pub const KEK: [u8; 32] = [7; 32];

/// One clock per party, so that a test can let them drift apart.
pub struct Clocks {
    pub issuer: Arc<ManualClock>,
    pub wallet: Arc<ManualClock>,
    pub verifier: Arc<ManualClock>,
}

impl Clocks {
    pub fn set_all(&self, t: u64) {
        self.issuer.set(t);
        self.wallet.set(t);
        self.verifier.set(t);
    }
    pub fn today(&self) -> Date {
        Date::from_unix_seconds(self.issuer.now())
    }
}

/// A verifier service behind a recording proxy.
pub struct VerifierSvc {
    /// The URL wallets and platforms use (the proxy).
    pub url: String,
    pub state: AppState,
    /// Every form body posted to a `/response` endpoint, as sent by the wallet.
    pub seen: Arc<Mutex<Vec<String>>>,
}

pub struct System {
    pub clocks: Clocks,
    pub idp: Arc<DemoIdp>,
    pub issuer: Arc<Issuer>,
    /// The URL wallets and verifiers use: a recording proxy in front of the issuer, which is
    /// also the issuer's public identifier.
    pub issuer_url: String,
    /// Every exchange with the issuer through its proxy: (path, request body, response body).
    pub issuer_traffic: Arc<Mutex<Vec<Exchange>>>,
    pub issuer_dir: tempfile::TempDir,
    pub verifiers: Vec<VerifierSvc>,
    pub wallets_dir: tempfile::TempDir,
    pub http: reqwest::Client,
    stop: watch::Sender<bool>,
    next_subject: std::sync::atomic::AtomicU32,
    refreshes: std::sync::atomic::AtomicU32,
}

/// Which credential profiles the system offers.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Profiles {
    /// SD-JWT only: the issuer's blind-token profile is off (no RSA key generation), so the
    /// SD-JWT suites stay fast.
    SdJwt,
    /// Both: the issuer publishes blind-token keys for all six facts for the current month,
    /// and every verifier trusts its fetched directory.
    Both,
}

/// One request through a recording proxy: path, request body, response body.
pub type Exchange = (String, Vec<u8>, Vec<u8>);

impl System {
    /// Starts the IdP, the issuer and `n_verifiers` verifier services, all at [`T0`], SD-JWT
    /// only.
    pub async fn start(n_verifiers: usize) -> System {
        Self::start_at(n_verifiers, T0).await
    }

    /// Starts the SD-JWT system with every clock at `t`.
    pub async fn start_at(n_verifiers: usize, t: u64) -> System {
        Self::start_with(n_verifiers, t, Profiles::SdJwt).await
    }

    /// Starts the system with both profiles at [`T0`].
    pub async fn start_blind(n_verifiers: usize) -> System {
        Self::start_with(n_verifiers, T0, Profiles::Both).await
    }

    /// Starts the system with every clock at `t` and the given profiles.
    pub async fn start_with(n_verifiers: usize, t: u64, profiles: Profiles) -> System {
        let clocks = Clocks {
            issuer: Arc::new(ManualClock::new(t)),
            wallet: Arc::new(ManualClock::new(t)),
            verifier: Arc::new(ManualClock::new(t)),
        };
        let (stop, rx) = watch::channel(false);
        let shutdown = move || {
            let mut rx = rx.clone();
            async move {
                let _ = rx.wait_for(|s| *s).await;
            }
        };

        let idp_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let idp = Arc::new(DemoIdp::new(&format!("http://{}", idp_listener.local_addr().unwrap())).unwrap());
        let app = idp.clone().app();
        let sd = shutdown();
        tokio::spawn(async move { axum::serve(idp_listener, app).with_graceful_shutdown(sd).await });

        let mut oidc = IdentityProvider::new(idp.issuer(), DEMO_AUDIENCE, JwksSource::Inline(idp.jwks()));
        oidc.require_nonce = false;
        let mut check = CheckProvider::new(idp.issuer(), JwksSource::Inline(idp.jwks()));
        check.id = "demo-check".into();
        let mut config = IssuerConfig {
            identity_providers: vec![oidc],
            check_providers: vec![check],
            ..IssuerConfig::default()
        };
        config.guardian.batches_per_adult_credential = 100;
        match profiles {
            Profiles::SdJwt => config.blind.enabled = false,
            Profiles::Both => {
                // All six facts, both floors, this month only: 12 RSA keys.
                config.blind.months_ahead = 0;
            }
        }
        let issuer_dir = tempfile::tempdir().unwrap();
        let opts = OpenOptions {
            kek: Some(Kek::from_bytes(KEK)),
            clock: Some(clocks.issuer.clone()),
            ..OpenOptions::default()
        };
        let issuer = Arc::new(Issuer::open_with(issuer_dir.path(), config, opts).unwrap());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let real_url = format!("http://{}", listener.local_addr().unwrap());
        let proxy = start_proxy(real_url).await;
        let issuer_url = proxy.url.clone();
        issuer.set_public_url(&issuer_url).unwrap();
        let (i, sd) = (issuer.clone(), shutdown());
        tokio::spawn(async move { ageband_issuer::serve(listener, i, sd).await });

        let mut verifiers = Vec::new();
        for _ in 0..n_verifiers {
            verifiers.push(
                start_verifier(
                    &issuer_url,
                    profiles == Profiles::Both,
                    clocks.verifier.clone(),
                    shutdown(),
                )
                .await,
            );
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        System {
            clocks,
            idp,
            issuer,
            issuer_url,
            issuer_traffic: proxy.traffic,
            issuer_dir,
            verifiers,
            wallets_dir: tempfile::tempdir().unwrap(),
            http,
            stop,
            next_subject: Default::default(),
            refreshes: Default::default(),
        }
    }

    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }

    /// A birth date such that the person is `age` today and not near a birthday.
    pub fn born(&self, age: i64) -> Date {
        let today = self.clocks.today();
        let d = Date::new(today.year() - age as i32, today.month(), 1).unwrap();
        d.add_days(-100)
    }

    /// A fresh, empty wallet (cheap key derivation for tests).
    pub fn wallet(&self, name: &str) -> Wallet {
        Wallet::create_with(
            self.wallets_dir.path().join(name),
            "pass",
            KdfParams::INSECURE_TEST,
            self.clocks.wallet.clone(),
        )
        .unwrap()
    }

    fn subject(&self) -> String {
        format!(
            "person-{}",
            self.next_subject
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
        )
    }

    /// The subject identifier (`sub`) of the latest id_token or check assertion.
    pub fn last_subject(&self) -> String {
        let n = self.next_subject.load(std::sync::atomic::Ordering::SeqCst);
        format!("person-{}", n.checked_sub(1).expect("a subject was issued"))
    }

    /// Enrols `wallet` with evidence of `kind` for someone born on `birth`.
    pub async fn enrol(
        &self,
        wallet: &mut Wallet,
        kind: Kind,
        birth: Date,
        guardian: Option<&mut Wallet>,
        count: usize,
    ) -> ageband_wallet::Enrolled {
        let now = self.clocks.issuer.now();
        let evidence = match kind {
            Kind::SelfDeclared => Evidence::SelfDeclared {
                birthdate: BirthDate::new(birth),
            },
            Kind::IdToken => Evidence::IdToken {
                id_token: Zeroizing::new(self.idp.id_token(&self.subject(), birth, None, now).unwrap()),
            },
            Kind::Check => Evidence::Assertion {
                assertion: Zeroizing::new(
                    self.idp
                        .check_assertion(
                            &self.issuer_url,
                            &self.subject(),
                            json!({"birthdate": birth.to_string()}),
                            now,
                        )
                        .unwrap(),
                ),
            },
            Kind::Guardian => Evidence::Guardian {
                adult: guardian.expect("a guardian wallet"),
                child_birthdate: BirthDate::new(birth),
            },
        };
        ageband_wallet::enrol(wallet, &self.issuer_url, evidence, count)
            .await
            .unwrap()
    }

    /// Creates a session at verifier `v`, lets `wallet` answer it, and returns the final
    /// session status and what the wallet's call returned.
    pub async fn ask(
        &self,
        v: usize,
        question: Value,
        wallet: &mut Wallet,
    ) -> (
        Value,
        Result<ageband_wallet::Presented, ageband_wallet::PresentError>,
    ) {
        let session = self.create_session(v, &question).await;
        let link = session["link"].as_str().unwrap().to_owned();
        let presented = ageband_wallet::present(wallet, &link, |_| true).await;
        (self.status(v, session["id"].as_str().unwrap()).await, presented)
    }

    pub async fn create_session(&self, v: usize, question: &Value) -> Value {
        let r = self
            .http
            .post(format!("{}/v1/sessions", self.verifiers[v].url))
            .bearer_auth(API_KEY)
            .json(question)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED.as_u16(), "create session");
        r.json().await.unwrap()
    }

    pub async fn status(&self, v: usize, id: &str) -> Value {
        let r = self
            .http
            .get(format!("{}/v1/sessions/{id}", self.verifiers[v].url))
            .bearer_auth(API_KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.json().await.unwrap()
    }

    /// Lets every verifier refetch the issuer's keys now, whatever their cache says (the
    /// refresh is told it is a year later each time, past any cache lifetime).
    pub async fn refresh_keys(&self) {
        let fetcher = KeyFetcher::new().unwrap();
        let later =
            T0 + 365 * DAY * u64::from(self.refreshes.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1);
        for v in &self.verifiers {
            let results = v.state.verifier().trust().refresh(&fetcher, later).await;
            assert!(!results.is_empty(), "a refresh happened");
            for (_, r) in results {
                r.unwrap();
            }
        }
    }

    /// The issuer's key administration, as `ageband issuer keys` opens it (a second handle on
    /// the same SQLite file).
    pub fn issuer_keys(&self) -> ageband_issuer::LocalKeys {
        let store = Arc::new(ageband_issuer::store::Store::open(self.issuer_dir.path()).unwrap());
        ageband_issuer::LocalKeys::open(store, Kek::from_bytes(KEK), self.clocks.issuer.now()).unwrap()
    }

    /// The `vp_token` bodies verifier `v` received, in order.
    pub fn seen(&self, v: usize) -> Vec<String> {
        self.verifiers[v].seen.lock().unwrap().clone()
    }
}

impl Drop for System {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Evidence kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    SelfDeclared,
    IdToken,
    Check,
    Guardian,
}

async fn start_verifier(
    issuer_url: &str,
    blind: bool,
    clock: Arc<ManualClock>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> VerifierSvc {
    let real = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let real_url = format!("http://{}", real.local_addr().unwrap());
    let proxy = start_proxy(real_url).await;
    let mut trusted = TrustedIssuer::fetched(issuer_url);
    if blind {
        trusted = trusted.fetch_blind_directory();
    }
    let trust = TrustList::new(vec![trusted]).unwrap();
    let verifier = Verifier::from_trust_list(trust).with_clock(clock);
    let state = AppState::new(
        verifier,
        ServiceConfig::new(proxy.url.clone()).with_api_key(API_KEY),
    )
    .unwrap();
    let s = state.clone();
    tokio::spawn(async move { ageband_verifier::server::serve(real, s, shutdown).await });
    VerifierSvc {
        url: proxy.url,
        state,
        seen: proxy.seen,
    }
}

/// A recording proxy on loopback.
struct RecordingProxy {
    url: String,
    seen: Arc<Mutex<Vec<String>>>,
    traffic: Arc<Mutex<Vec<Exchange>>>,
}

async fn start_proxy(to: String) -> RecordingProxy {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let forward = Proxy {
        to,
        seen: Arc::default(),
        traffic: Arc::default(),
        http: reqwest::Client::new(),
    };
    let (seen, traffic) = (forward.seen.clone(), forward.traffic.clone());
    let app = axum::Router::new().fallback(relay).with_state(Arc::new(forward));
    tokio::spawn(async move { axum::serve(listener, app).await });
    RecordingProxy { url, seen, traffic }
}

struct Proxy {
    to: String,
    seen: Arc<Mutex<Vec<String>>>,
    traffic: Arc<Mutex<Vec<Exchange>>>,
    http: reqwest::Client,
}

/// Forwards a request unchanged, records `vp_token` form fields and every exchange.
async fn relay(
    State(p): State<Arc<Proxy>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, HeaderMap, Bytes) {
    if uri.path().ends_with("/response") {
        for (k, v) in url::form_urlencoded::parse(&body) {
            if k == "vp_token" {
                p.seen.lock().unwrap().push(v.into_owned());
            }
        }
    }
    let mut req = p.http.request(
        method,
        format!("{}{}", p.to, uri.path_and_query().map_or("", |q| q.as_str())),
    );
    for (k, v) in &headers {
        if k != "host" && k != "content-length" {
            req = req.header(k, v);
        }
    }
    let resp = req.body(body.clone()).send().await.unwrap();
    let status = StatusCode::from_u16(resp.status().as_u16()).unwrap();
    let mut out = HeaderMap::new();
    for (k, v) in resp.headers() {
        if k != "content-length" && k != "transfer-encoding" {
            out.insert(k, v.clone());
        }
    }
    let answer = resp.bytes().await.unwrap();
    p.traffic
        .lock()
        .unwrap()
        .push((uri.path().to_owned(), body.to_vec(), answer.to_vec()));
    (status, out, answer)
}

/// Every log line of this test process at TRACE level, captured once for all tests.
pub fn captured_logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: std::sync::OnceLock<Arc<Mutex<Vec<u8>>>> = std::sync::OnceLock::new();
    LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let sink = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || Sink(sink.clone()))
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("one global subscriber");
        buf
    })
    .clone()
}

struct Sink(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Sink {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The value of the query parameter `name` of `link` (an `openid4vp://` link or URL).
pub fn query_param(link: &str, name: &str) -> String {
    let url = url::Url::parse(link).unwrap();
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .unwrap()
}

/// The one presentation inside a `vp_token` form value `{"age":["…"]}`.
pub fn presentation_of(vp_token: &str) -> String {
    let v: Value = serde_json::from_str(vp_token).unwrap();
    v["age"][0].as_str().unwrap().to_owned()
}
