//! `ageband`: the command-line program over the issuer, wallet and verifier crates.

#![forbid(unsafe_code)]

mod bench;
mod cli;
mod demo;
mod inspect;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Privacy-preserving age assurance: prove an age band, and nothing else.
#[derive(Parser, Debug)]
#[command(name = "ageband", version, about)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Run the whole system on loopback with embedded defaults and narrate what each party learned.
    Demo(demo::DemoArgs),
    /// The issuer: `serve`, and key administration (`keys rotate|list|remove|blind`).
    #[command(subcommand)]
    Issuer(cli::issuer::Command),
    /// The verifier service: `serve`.
    #[command(subcommand)]
    Verifier(cli::verifier::Command),
    /// The wallet: `init`, `enrol`, `status`, `present`, `purge`, `private-token`.
    Wallet(cli::wallet::WalletArgs),
    /// Check a presentation offline against given issuer keys; prints the outcome as JSON.
    Verify(cli::verifier::VerifyArgs),
    /// Decode a credential or presentation without trusting it (prints JSON).
    Inspect(inspect::InspectArgs),
    /// Time presentation verification against its raw floor (two ES256 verifications); prints one JSON line.
    Bench(bench::BenchArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Services say what they do at `info`; the other commands only warn.
    let serving = matches!(
        cli.cmd,
        Cmd::Issuer(cli::issuer::Command::Serve { .. }) | Cmd::Verifier(cli::verifier::Command::Serve(_))
    );
    init_tracing(if serving { "info" } else { "warn" });
    let result = match cli.cmd {
        Cmd::Verify(args) => return cli::verifier::verify(args),
        Cmd::Inspect(args) => inspect::run(args),
        Cmd::Bench(args) => bench::run(args),
        Cmd::Demo(args) => runtime().and_then(|rt| rt.block_on(demo::run(args))),
        Cmd::Issuer(cmd) => runtime().and_then(|rt| rt.block_on(cli::issuer::run(cmd))),
        Cmd::Verifier(cmd) => runtime().and_then(|rt| rt.block_on(cli::verifier::run(cmd))),
        Cmd::Wallet(args) => runtime().and_then(|rt| rt.block_on(cli::wallet::run(args))),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Logs go to standard error, filtered by `RUST_LOG` (default `level`). Spans name matched
/// routes only; no handler logs tokens, credentials, birth dates or subject identifiers.
fn init_tracing(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}
