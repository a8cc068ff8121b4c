//! `ageband verifier …` (the HTTP service) and `ageband verify` (the offline checker), thin
//! shells around `ageband-verifier` (issue 3).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use ageband_core::jwk::parse_jwk_or_set;
use ageband_core::profile::VCT;
use ageband_verifier::server::config::VerifierConfig;
use ageband_verifier::server::{self, AppState, ServiceConfig};
use ageband_verifier::{
    AgeRequest, Clock, ManualClock, SystemClock, TrustList, TrustStore, TrustedIssuer, Verifier,
};
use anyhow::Context;

/// Environment variable that overrides the configured platform API key.
pub const API_KEY_ENV: &str = "AGEBAND_VERIFIER_API_KEY";

/// `ageband verifier` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Run the verifier HTTP service (sessions, direct_post, stateless verify).
    Serve(ServeArgs),
}

/// `ageband verifier serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on, e.g. 127.0.0.1:8080 (port 0 picks a free port).
    #[arg(long, value_name = "ADDR")]
    pub listen: String,
    /// Trust an issuer whose keys come from <URL>/.well-known/jwt-vc-issuer (repeatable).
    #[arg(long = "trust-issuer", value_name = "URL")]
    pub trust_issuer: Vec<String>,
    /// Trust an issuer like --trust-issuer and also its blind tokens, with the directory from
    /// <URL>/.well-known/private-token-issuer-directory (repeatable).
    #[arg(long = "trust-blind-issuer", value_name = "URL")]
    pub trust_blind_issuer: Vec<String>,
    /// TOML configuration: trusted issuers (pinned jwks or fetched; blind = true or
    /// blind_directory_file for blind tokens), minimum levels, sources,
    /// API key (overridden by AGEBAND_VERIFIER_API_KEY), public URL.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The base URL wallets reach this service at (default: http://<bound address>).
    #[arg(long = "public-url", value_name = "URL")]
    pub public_url: Option<String>,
}

/// Runs a `verifier` subcommand.
pub async fn run(cmd: Command) -> anyhow::Result<()> {
    match cmd {
        Command::Serve(args) => serve(args).await,
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let (config, base_dir) = match &args.config {
        Some(path) => {
            let cfg = VerifierConfig::load(path).with_context(|| format!("loading {}", path.display()))?;
            (
                cfg,
                path.parent().map_or_else(|| PathBuf::from("."), Path::to_owned),
            )
        }
        None => (VerifierConfig::default(), PathBuf::from(".")),
    };
    let extra = args
        .trust_issuer
        .iter()
        .map(|u| TrustedIssuer::fetched(u.clone()))
        .chain(
            args.trust_blind_issuer
                .iter()
                .map(|u| TrustedIssuer::fetched(u.clone()).fetch_blind_directory()),
        )
        .collect();
    let trust = config
        .trust_list(&base_dir, extra)
        .context("building the trust list")?;
    if trust.issuers().is_empty() {
        anyhow::bail!(
            "no trusted issuer: give --trust-issuer URL, --trust-blind-issuer URL or issuers in --config"
        );
    }
    let api_key = std::env::var(API_KEY_ENV)
        .ok()
        .filter(|k| !k.is_empty())
        .or_else(|| config.api_key.clone());

    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    let addr = listener.local_addr()?;
    let public_url = args
        .public_url
        .clone()
        .or_else(|| config.public_url.clone())
        .unwrap_or_else(|| format!("http://{addr}"));
    let mut service = ServiceConfig::new(public_url.clone());
    if let Some(key) = api_key {
        service = service.with_api_key(key);
    }
    if let Some(ttl) = config.session_ttl_secs {
        service.session_ttl = ttl;
    }
    if let Some(max) = config.max_sessions {
        service.max_sessions = max;
    }
    let verifier = Verifier::new(Arc::new(TrustStore::new(trust)));
    let state = AppState::new(verifier, service)?;
    println!("ageband verifier listening on http://{addr} (public URL {public_url})");
    server::serve(listener, state, super::shutdown_signal()).await?;
    Ok(())
}

/// `ageband verify`: checks one presentation offline against given issuer keys.
///
/// Without `--issuer`, the keys are trusted for whatever `iss` the credential names: the
/// check then proves only that the holder of a key in FILE issued it. With
/// `--blind-directory`, the input is a blind-token answer instead.
#[derive(clap::Args, Debug)]
pub struct VerifyArgs {
    /// The issuer's public key: one JWK or a JWKS (JSON).
    #[arg(
        long = "issuer-jwk",
        value_name = "FILE",
        required_unless_present = "blind_directory"
    )]
    pub issuer_jwk: Option<PathBuf>,
    /// Verify blind tokens (specs/blind-profile.md) against this issuer directory (RFC 9578
    /// JSON) of the `--issuer`: the input holds one or two compact blind presentations separated
    /// by whitespace, bound to `--nonce` (its UTF-8 bytes) and `--aud`. No spent set is kept.
    #[arg(
        long = "blind-directory",
        value_name = "FILE",
        conflicts_with = "issuer_jwk",
        requires = "issuer"
    )]
    pub blind_directory: Option<PathBuf>,
    /// Expected KB-JWT audience (the verifier's client_id).
    #[arg(long, value_name = "AUD")]
    pub aud: String,
    /// Expected KB-JWT nonce.
    #[arg(long, value_name = "NONCE")]
    pub nonce: String,
    /// Expected issuer identifier; default: the credential's own `iss`.
    #[arg(long, value_name = "ISS")]
    pub issuer: Option<String>,
    /// Expected credential type.
    #[arg(long, value_name = "VCT", default_value = VCT)]
    pub vct: String,
    /// Check as of this time (Unix seconds) instead of now.
    #[arg(long, value_name = "UNIX_SECONDS")]
    pub at: Option<u64>,
    /// The presentation (SD-JWT+KB), or `-` for standard input.
    #[arg(value_name = "PRESENTATION_FILE")]
    pub presentation: PathBuf,
}

/// Runs `ageband verify`: prints the outcome as one JSON object and exits 0; prints the reason
/// to stderr and exits 1 on rejection; exits 2 on usage errors (unreadable or invalid inputs).
pub fn verify(args: VerifyArgs) -> ExitCode {
    let presentation = match read_input(&args.presentation) {
        Ok(p) => p,
        Err(e) => return usage(format!("cannot read {}: {e}", args.presentation.display())),
    };
    if let Some(dir) = &args.blind_directory {
        return verify_blind(&args, dir, &presentation);
    }
    let Some(jwk_file) = &args.issuer_jwk else {
        return usage("--issuer-jwk or --blind-directory is required".into());
    };
    let keys = match std::fs::read(jwk_file)
        .map_err(|e| e.to_string())
        .and_then(|b| ageband_core::json::parse_value(&b, 64 * 1024).map_err(|e| e.to_string()))
        .and_then(|v| parse_jwk_or_set(&v).map_err(|e| e.to_string()))
    {
        Ok(k) => k,
        Err(e) => return usage(format!("{}: {e}", jwk_file.display())),
    };
    let presentation = presentation.trim_end();
    let iss = args
        .issuer
        .clone()
        .unwrap_or_else(|| claimed_issuer(presentation).unwrap_or_else(|| "unknown".into()));
    let trust = match TrustList::new(vec![TrustedIssuer::pinned(iss, keys)]) {
        Ok(t) => t,
        Err(e) => return usage(e.to_string()),
    };
    let request = match AgeRequest::any(args.aud.clone(), args.nonce.clone()) {
        Ok(r) => r,
        Err(e) => return usage(e.to_string()),
    };
    let verifier = Verifier::from_trust_list(trust)
        .with_clock(args.clock())
        .with_vct(args.vct.clone());
    report(verifier.verify(presentation, &request))
}

/// A usage error of `ageband verify` (unreadable or invalid input): the message, exit 2.
fn usage(msg: String) -> ExitCode {
    eprintln!("ageband verify: {msg}");
    ExitCode::from(2)
}

impl VerifyArgs {
    /// The clock of the check: `--at` if given, else the system clock.
    fn clock(&self) -> Arc<dyn Clock> {
        match self.at {
            Some(at) => Arc::new(ManualClock::new(at)),
            None => Arc::new(SystemClock),
        }
    }
}

/// Prints the outcome (exit 0) or the reason (exit 1).
fn report(result: Result<ageband_verifier::AgeOutcome, ageband_verifier::VerifyError>) -> ExitCode {
    match result {
        Ok(outcome) => {
            let json = serde_json::json!({
                "issuer": outcome.issuer,
                "assurance": outcome.assurance,
                "source": outcome.source,
                "at_least": outcome.at_least,
                "under": outcome.under,
                "profile": outcome.profile,
            });
            println!("{json}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("rejected: {} ({e})", e.kind());
            ExitCode::from(1)
        }
    }
}

/// `ageband verify --blind-directory FILE --issuer ISS …`: one or two blind presentations.
fn verify_blind(args: &VerifyArgs, dir_file: &Path, input: &str) -> ExitCode {
    use ageband_verifier::blind::{Directory, MAX_DIRECTORY_BYTES};
    let mut bytes = Vec::new();
    let read = std::fs::File::open(dir_file)
        .and_then(|f| f.take(MAX_DIRECTORY_BYTES as u64 + 1).read_to_end(&mut bytes));
    if let Err(e) = read {
        return usage(format!("cannot read {}: {e}", dir_file.display()));
    }
    let directory = match Directory::parse(&bytes) {
        Ok(d) => d,
        Err(e) => return usage(format!("{}: {e}", dir_file.display())),
    };
    let Some(iss) = args.issuer.clone() else {
        return usage("--blind-directory needs --issuer".into());
    };
    let trust = match TrustList::new(vec![
        TrustedIssuer::pinned(iss, Vec::new()).with_blind_directory(directory),
    ]) {
        Ok(t) => t,
        Err(e) => return usage(e.to_string()),
    };
    let request = match AgeRequest::any(args.aud.clone(), args.nonce.clone()) {
        Ok(r) => r,
        Err(e) => return usage(e.to_string()),
    };
    let verifier = Verifier::from_trust_list(trust).with_clock(args.clock());
    let parts: Vec<&str> = input.split_whitespace().collect();
    report(verifier.verify_blind(&parts, &request))
}

fn read_input(path: &Path) -> std::io::Result<String> {
    // A presentation is at most 16 KiB; read a little more so that the cap is reported as
    // `too_large` by the verifier rather than truncated here.
    let mut buf = String::new();
    if path.as_os_str() == "-" {
        std::io::stdin().take(1 << 20).read_to_string(&mut buf)?;
    } else {
        std::fs::File::open(path)?
            .take(1 << 20)
            .read_to_string(&mut buf)?;
    }
    Ok(buf)
}

/// The `iss` the (not yet verified) credential claims, used only to pin FILE's keys to it when
/// `--issuer` is absent; verification then checks everything else.
fn claimed_issuer(presentation: &str) -> Option<String> {
    let jwt = presentation.split('~').next()?;
    let payload = jwt.split('.').nth(1)?;
    let bytes = ageband_core::b64::decode(payload, 8 * 1024).ok()?;
    let claims = ageband_core::json::parse_object(&bytes, 8 * 1024).ok()?;
    claims
        .get("iss")?
        .as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}
