//! `ageband issuer …`: run the issuer service and administer its keys (rotation happens here,
//! never over HTTP — protocol.md §7.7).

use std::path::PathBuf;
use std::sync::Arc;

use ageband_issuer::keys::{KeySource as _, ROTATION_DELAY};
use ageband_issuer::store::Store;
use ageband_issuer::{Clock as _, Issuer, IssuerConfig, Kek, LocalKeys, SystemClock};
use anyhow::Context as _;

/// `ageband issuer` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Serve the issuance protocol (protocol.md §7) over HTTP.
    Serve {
        /// Address to listen on, e.g. 127.0.0.1:8443.
        #[arg(long, env = "AGEBAND_ISSUER_LISTEN")]
        listen: String,
        /// Folder for the SQLite store and (without AGEBAND_ISSUER_KEK) the key file.
        #[arg(long, env = "AGEBAND_ISSUER_DATA_DIR")]
        data_dir: PathBuf,
        /// The issuer identifier; default `http://<listen address>`.
        #[arg(long, env = "AGEBAND_ISSUER_PUBLIC_URL")]
        public_url: Option<String>,
        /// TOML configuration; default: embedded defaults.
        #[arg(long, env = "AGEBAND_ISSUER_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Manage the issuer's signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
}

/// `ageband issuer keys` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum KeysCommand {
    /// Add a new signing key: published now, signing after two hours (or at once with
    /// --immediate); the previous key then retires and stays published until its credentials
    /// expire.
    Rotate {
        /// The issuer's data folder.
        #[arg(long, env = "AGEBAND_ISSUER_DATA_DIR")]
        data_dir: PathBuf,
        /// Sign with the new key at once instead of after the publication delay.
        #[arg(long)]
        immediate: bool,
    },
    /// List the keys with their stage and the latest expiry they signed.
    List {
        /// The issuer's data folder.
        #[arg(long, env = "AGEBAND_ISSUER_DATA_DIR")]
        data_dir: PathBuf,
    },
    /// Remove a key whose credentials have all expired (or any key with --force, after a
    /// compromise).
    Remove {
        /// The key's `kid` (RFC 7638 thumbprint).
        kid: String,
        /// The issuer's data folder.
        #[arg(long, env = "AGEBAND_ISSUER_DATA_DIR")]
        data_dir: PathBuf,
        /// Remove even if it signs or credentials it signed are unexpired.
        #[arg(long)]
        force: bool,
    },
    /// List the blind-token keys (one RSA key per fact, floor and month, blind-profile.md §12.1):
    /// slot, RFC 9578 token key id, and whether its month is live, ahead or ended.
    Blind {
        /// The issuer's data folder.
        #[arg(long, env = "AGEBAND_ISSUER_DATA_DIR")]
        data_dir: PathBuf,
    },
}

/// Runs a `issuer` subcommand.
pub async fn run(cmd: Command) -> anyhow::Result<()> {
    match cmd {
        Command::Serve {
            listen,
            data_dir,
            public_url,
            config,
        } => {
            let mut cfg = match &config {
                Some(path) => {
                    IssuerConfig::from_file(path).with_context(|| format!("loading {}", path.display()))?
                }
                None => IssuerConfig::default(),
            };
            if public_url.is_some() {
                cfg.public_url = public_url;
            }
            let listener = tokio::net::TcpListener::bind(&listen)
                .await
                .with_context(|| format!("binding {listen}"))?;
            let issuer = Arc::new(Issuer::open(&data_dir, cfg).context("opening the issuer")?);
            let bound = listener.local_addr()?;
            // Without --public-url the identifier is the bound address (port 0 resolved).
            if issuer.credential_issuer().is_none() {
                issuer.set_public_url(&format!("http://{bound}"))?;
            }
            println!(
                "ageband issuer on {bound} (credential_issuer: {})",
                issuer.credential_issuer().unwrap_or_default()
            );
            ageband_issuer::serve(listener, issuer, super::shutdown_signal()).await?;
            Ok(())
        }
        Command::Keys(k) => keys(k),
    }
}

fn open_keys(data_dir: &std::path::Path, now: u64) -> anyhow::Result<LocalKeys> {
    let store = Arc::new(Store::open(data_dir).context("opening the issuer store")?);
    let kek = Kek::load(data_dir).context("loading the key-encryption key")?;
    Ok(LocalKeys::open(store, kek, now)?)
}

fn keys(cmd: KeysCommand) -> anyhow::Result<()> {
    let now = SystemClock.now();
    match cmd {
        KeysCommand::Rotate { data_dir, immediate } => {
            let keys = open_keys(&data_dir, now)?;
            let k = keys.rotate(now, if immediate { 0 } else { ROTATION_DELAY })?;
            println!(
                "new key {} ({}, signs from {})",
                k.kid,
                k.state.as_str(),
                k.not_before
            );
            Ok(())
        }
        KeysCommand::List { data_dir } => {
            let keys = open_keys(&data_dir, now)?;
            keys.prune(now)?;
            // Check that every key opens under this KEK before listing.
            keys.signer(now)
                .context("the signing key does not open under this key-encryption key")?;
            println!(
                "{:<43}  {:<8}  {:>10}  {:>10}  {:>10}  removable",
                "kid", "state", "created", "signs_from", "last_exp"
            );
            for k in keys.list(now)? {
                println!(
                    "{:<43}  {:<8}  {:>10}  {:>10}  {:>10}  {}",
                    k.kid,
                    k.state.as_str(),
                    k.created,
                    k.not_before,
                    k.last_exp.map_or_else(|| "-".to_owned(), |e| e.to_string()),
                    if k.removable { "yes" } else { "no" }
                );
            }
            Ok(())
        }
        KeysCommand::Remove { kid, data_dir, force } => {
            let keys = open_keys(&data_dir, now)?;
            keys.remove(&kid, now, force)?;
            println!("removed key {kid}");
            Ok(())
        }
        KeysCommand::Blind { data_dir } => {
            let store = Store::open(&data_dir).context("opening the issuer store")?;
            let rows = store.blind_keys()?;
            if rows.is_empty() {
                println!("no blind-token keys yet (they are made when the directory is first fetched)");
                return Ok(());
            }
            println!(
                "{:<13}  {:>5}  {:<7}  {:<43}  {:>10}  state",
                "fact", "floor", "month", "token_key_id", "not_after"
            );
            for k in rows {
                let starts = ageband_verifier::blind::Month::parse(&k.month).map_or(0, |m| m.not_before());
                let state = if k.not_after <= now {
                    "ended"
                } else if starts > now {
                    "ahead"
                } else {
                    "live"
                };
                println!(
                    "{:<13}  {:>5}  {:<7}  {:<43}  {:>10}  {state}",
                    k.fact,
                    k.floor,
                    k.month,
                    ageband_core::b64::encode(&k.token_key_id),
                    k.not_after,
                );
            }
            Ok(())
        }
    }
}
