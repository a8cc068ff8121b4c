//! `ageband verifier …`.

/// `ageband verifier` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {}

/// Runs a `verifier` subcommand.
pub async fn run(cmd: Command) -> anyhow::Result<()> {
    match cmd {}
}
