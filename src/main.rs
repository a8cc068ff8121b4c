//! `ageband`: the command-line program over the issuer, wallet and verifier crates.

#![forbid(unsafe_code)]

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
    /// Run the whole system with embedded defaults and narrate what each party learned.
    Demo(demo::DemoArgs),
    /// Decode a credential or presentation without trusting it (prints JSON).
    Inspect(inspect::InspectArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.cmd {
        Cmd::Demo(args) => runtime().and_then(|rt| rt.block_on(demo::run(args))),
        Cmd::Inspect(args) => inspect::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}
