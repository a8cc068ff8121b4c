//! `ageband wallet --wallet DIR …`: the holder's command line over `ageband-wallet`.

use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};

use ageband_wallet::{BirthDate, EnrolOptions, Evidence, PresentError, PrivateTokenError, Wallet, Zeroizing};
use anyhow::{Context as _, bail};

/// Environment variable holding the wallet passphrase (otherwise it is asked for).
pub const PASSPHRASE_ENV: &str = "AGEBAND_PASSPHRASE";
/// Environment variable holding the guardian wallet's passphrase for `enrol --guardian`.
pub const GUARDIAN_PASSPHRASE_ENV: &str = "AGEBAND_GUARDIAN_PASSPHRASE";

/// `ageband wallet`: a holder's encrypted wallet of single-use age attestations.
///
/// The passphrase comes from AGEBAND_PASSPHRASE or is asked for on the terminal (without echo).
#[derive(clap::Args, Debug)]
pub struct WalletArgs {
    /// The wallet folder (holds wallet.ageband, encrypted, and wallet.lock).
    #[arg(long, value_name = "DIR")]
    wallet: PathBuf,
    #[command(subcommand)]
    cmd: Command,
}

/// `ageband wallet` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Create an empty wallet (asks for a new passphrase twice unless AGEBAND_PASSPHRASE is set).
    Init,
    /// Get a batch of credentials from an issuer with one piece of evidence.
    ///
    /// Exactly one of --self-birthdate, --id-token, --assertion or --guardian. With
    /// --guardian ADULT_WALLET_DIR --child-birthdate YYYY-MM-DD, a parent or guardian vouches
    /// for a child: the adult's wallet presents one of its own "18 or over" credentials to the
    /// issuer (that credential is used up) together with the child's birth date, and the child's
    /// credentials go into this wallet. The adult's passphrase comes from
    /// AGEBAND_GUARDIAN_PASSPHRASE or is asked for.
    #[command(group(clap::ArgGroup::new("evidence").required(true).multiple(false)
        .args(["self_birthdate", "id_token", "assertion", "guardian"])))]
    Enrol {
        /// The issuer identifier (https URL; http only on loopback).
        #[arg(long, value_name = "URL")]
        issuer: String,
        /// Declare your own birth date (level `asserted`).
        #[arg(long, value_name = "YYYY-MM-DD", value_parser = secret_arg)]
        self_birthdate: Option<SecretArg>,
        /// File with an OpenID Connect id_token from an identity provider the issuer trusts. If the
        /// provider's tokens must carry a nonce, it is a fresh c_nonce of this issuer
        /// (`POST <issuer>/nonce`).
        #[arg(long, value_name = "FILE")]
        id_token: Option<PathBuf>,
        /// File with a JWT assertion from an age-check provider the issuer trusts.
        #[arg(long, value_name = "FILE")]
        assertion: Option<PathBuf>,
        /// The guardian's (adult's) wallet folder; needs --child-birthdate.
        #[arg(long, value_name = "ADULT_WALLET_DIR", requires = "child_birthdate")]
        guardian: Option<PathBuf>,
        /// The child's birth date, with --guardian.
        #[arg(
            long,
            value_name = "YYYY-MM-DD",
            requires = "guardian",
            conflicts_with_all = ["self_birthdate", "id_token", "assertion"],
            value_parser = secret_arg
        )]
        child_birthdate: Option<SecretArg>,
        /// How many single-use credentials to ask for (at most the issuer's batch size).
        #[arg(long, value_name = "N", default_value_t = 30)]
        count: usize,
        /// Do not fetch blind tokens (by default they are fetched with the same evidence when the
        /// issuer offers them and the evidence allows; self-declared evidence gets none).
        #[arg(long)]
        no_blind: bool,
        /// How many blind tokens to ask for (default: the issuer's blind batch size).
        #[arg(long, value_name = "N", conflicts_with = "no_blind")]
        blind_count: Option<usize>,
    },
    /// Show unused credentials per issuer and level, unused blind tokens per fact, floor and
    /// month, the earliest expiry, and warnings.
    Status,
    /// Answer a verifier's openid4vp:// link: shows what would be shared and with whom, asks,
    /// then sends one credential, which is deleted from the wallet.
    Present {
        /// Share without asking.
        #[arg(long)]
        yes: bool,
        /// The openid4vp:// link (request by value or by request_uri).
        #[arg(value_name = "LINK")]
        link: String,
    },
    /// Delete expired credentials and blind tokens of ended months.
    Purge,
    /// Answer a platform's `WWW-Authenticate: PrivateToken` challenge with one blind token:
    /// prints the `Authorization` header value (and nothing else) on standard output; what is
    /// shared goes to standard error. The token is deleted from the wallet first.
    PrivateToken {
        /// The challenge value (`PrivateToken challenge="…", token-key="…", ageband-fact="…",
        /// ageband-min-floor="…", nonce="…"`).
        #[arg(long, value_name = "VALUE")]
        challenge: String,
        /// The platform's origin (e.g. https://platform.example), the binding's audience.
        #[arg(long, value_name = "ORIGIN")]
        audience: String,
        /// Share without asking.
        #[arg(long)]
        yes: bool,
    },
}

/// Runs `ageband wallet`.
pub async fn run(args: WalletArgs) -> anyhow::Result<()> {
    let dir = args.wallet;
    match args.cmd {
        Command::Init => {
            let pass = new_passphrase()?;
            Wallet::create(&dir, &pass)?;
            println!("created an empty wallet in {}", dir.display());
            println!(
                "next: ageband wallet --wallet {} enrol --issuer URL --self-birthdate YYYY-MM-DD",
                dir.display()
            );
        }
        Command::Enrol {
            issuer,
            self_birthdate,
            id_token,
            assertion,
            guardian,
            child_birthdate,
            count,
            no_blind,
            blind_count,
        } => {
            let mut wallet = open(&dir)?;
            let mut adult;
            let evidence = if let Some(b) = self_birthdate {
                Evidence::SelfDeclared {
                    birthdate: birth_date(&b, "--self-birthdate")?,
                }
            } else if let Some(f) = id_token {
                Evidence::IdToken {
                    id_token: read_secret_file(&f)?,
                }
            } else if let Some(f) = assertion {
                Evidence::Assertion {
                    assertion: read_secret_file(&f)?,
                }
            } else if let (Some(g), Some(b)) = (guardian, child_birthdate) {
                if same_dir(&g, &dir) {
                    bail!("--guardian must name the adult's wallet, not this one");
                }
                let pass = passphrase(GUARDIAN_PASSPHRASE_ENV, "Passphrase of the guardian's wallet: ")?;
                adult = Wallet::open(&g, &pass)
                    .with_context(|| format!("opening the guardian wallet {}", g.display()))?;
                Evidence::Guardian {
                    adult: &mut adult,
                    child_birthdate: birth_date(&b, "--child-birthdate")?,
                }
            } else {
                bail!("give one of --self-birthdate, --id-token, --assertion or --guardian");
            };
            let options = EnrolOptions {
                blind: !no_blind,
                blind_count,
                ..EnrolOptions::new(count)
            };
            let done = ageband_wallet::enrol_with(&mut wallet, &issuer, evidence, options).await?;
            println!(
                "stored {} credential(s) from {}: age {} (level {}, source {}), valid until {}",
                done.count,
                done.info.issuer,
                done.info.band(),
                done.info.assurance,
                done.info.source,
                done.info.expires_at
            );
            println!("{}", done.blind);
        }
        Command::Status => {
            let wallet = open(&dir)?;
            print!("{}", with_dir(&wallet.status().to_string(), &dir));
        }
        Command::Present { yes, link } => {
            let mut wallet = open(&dir)?;
            let consent = |summary: &ageband_wallet::Summary| {
                println!("{summary}");
                if yes {
                    println!("(--yes: sharing without asking)");
                    return true;
                }
                ask_yes_no("Share this? [y/N] ")
            };
            match ageband_wallet::present(&mut wallet, &link, consent).await {
                Ok(done) => {
                    println!("shared with {}: age {}", done.summary.verifier, done.summary.band);
                    if let Some(r) = done.redirect_uri {
                        println!("the verifier continues at {r}");
                    }
                    for w in wallet.status().warnings {
                        println!("warning: {}", with_dir(&w.to_string(), &dir));
                    }
                }
                Err(PresentError::Declined) => println!("nothing was shared"),
                Err(e) => bail!("{}", with_dir(&e.to_string(), &dir)),
            }
        }
        Command::Purge => {
            let mut wallet = open(&dir)?;
            let (n, b) = wallet.purge_expired_counts()?;
            println!(
                "deleted {n} expired credential(s) and {b} blind token(s) of ended months; \
                 {} credential(s) and {} blind token(s) left",
                wallet.len(),
                wallet.blind_len()
            );
        }
        Command::PrivateToken {
            challenge,
            audience,
            yes,
        } => {
            let mut wallet = open(&dir)?;
            let consent = |summary: &ageband_wallet::TokenSummary| {
                eprintln!("{summary}");
                if yes {
                    eprintln!("(--yes: sharing without asking)");
                    return true;
                }
                ask_yes_no_stderr("Share this? [y/N] ")
            };
            match ageband_wallet::private_token_header(&mut wallet, &challenge, &audience, consent) {
                Ok(answer) => println!("{}", answer.header),
                Err(PrivateTokenError::Declined) => eprintln!("nothing was shared"),
                Err(e) => bail!("{}", with_dir(&e.to_string(), &dir)),
            }
        }
    }
    Ok(())
}

fn open(dir: &Path) -> anyhow::Result<Wallet> {
    let pass = passphrase(PASSPHRASE_ENV, "Wallet passphrase: ")?;
    Ok(Wallet::open(dir, &pass)?)
}

fn new_passphrase() -> anyhow::Result<Zeroizing<String>> {
    if let Ok(p) = std::env::var(PASSPHRASE_ENV) {
        return Ok(Zeroizing::new(p));
    }
    let a = prompt_hidden("New wallet passphrase: ")?;
    let b = prompt_hidden("Repeat the passphrase: ")?;
    if a != b {
        bail!("the passphrases differ");
    }
    Ok(a)
}

fn passphrase(env: &str, prompt: &str) -> anyhow::Result<Zeroizing<String>> {
    match std::env::var(env) {
        Ok(p) => Ok(Zeroizing::new(p)),
        Err(_) => prompt_hidden(prompt),
    }
}

/// Reads a line without echo when stdin is a terminal (through `stty`, so no terminal library
/// is needed); from a pipe, reads a line as is.
fn prompt_hidden(prompt: &str) -> anyhow::Result<Zeroizing<String>> {
    let tty = std::io::stdin().is_terminal();
    eprint!("{prompt}");
    std::io::stderr().flush().ok();
    let stty = |arg: &str| {
        std::process::Command::new("stty")
            .arg(arg)
            .stdin(std::process::Stdio::inherit())
            .status()
            .is_ok_and(|s| s.success())
    };
    let hidden = tty && stty("-echo");
    let mut line = Zeroizing::new(String::new());
    let read = std::io::stdin().lock().read_line(&mut line);
    if hidden {
        stty("echo");
        eprintln!();
    }
    read.context("reading the passphrase")?;
    let trimmed = Zeroizing::new(line.trim_end_matches(['\r', '\n']).to_owned());
    if trimmed.is_empty() {
        bail!("empty passphrase (set {PASSPHRASE_ENV} or type one)");
    }
    Ok(trimmed)
}

fn ask_yes_no(prompt: &str) -> bool {
    print!("{prompt}");
    std::io::stdout().flush().ok();
    read_yes()
}

/// [`ask_yes_no`] with the prompt on standard error (standard output carries the answer).
fn ask_yes_no_stderr(prompt: &str) -> bool {
    eprint!("{prompt}");
    std::io::stderr().flush().ok();
    read_yes()
}

fn read_yes() -> bool {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).is_ok()
        && matches!(line.trim(), "y" | "Y" | "yes" | "YES" | "Yes")
}

/// A command-line value that must not reach a `Debug` print (a birth date): zeroized on drop,
/// printed as `<redacted>`, parsed later without echoing it.
#[derive(Clone)]
pub struct SecretArg(Zeroizing<String>);

impl std::fmt::Debug for SecretArg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

fn secret_arg(s: &str) -> Result<SecretArg, std::convert::Infallible> {
    Ok(SecretArg(Zeroizing::new(s.to_owned())))
}

fn birth_date(s: &SecretArg, flag: &str) -> anyhow::Result<BirthDate> {
    BirthDate::parse(s.0.trim()).map_err(|_| anyhow::anyhow!("{flag} must be a date YYYY-MM-DD"))
}

fn read_secret_file(path: &Path) -> anyhow::Result<Zeroizing<String>> {
    let bytes = Zeroizing::new(std::fs::read(path).with_context(|| format!("reading {}", path.display()))?);
    let text = std::str::from_utf8(&bytes).with_context(|| format!("{} is not text", path.display()))?;
    Ok(Zeroizing::new(text.trim().to_owned()))
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// Puts the real folder into messages that say `--wallet DIR`.
fn with_dir(msg: &str, dir: &Path) -> String {
    msg.replace("--wallet DIR", &format!("--wallet {}", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser as _;

    #[derive(clap::Parser, Debug)]
    struct Top {
        #[command(subcommand)]
        cmd: Sub,
    }

    #[derive(clap::Subcommand, Debug)]
    enum Sub {
        Wallet(WalletArgs),
    }

    fn parse(args: &str) -> Result<WalletArgs, clap::Error> {
        let argv = std::iter::once("ageband").chain(args.split_whitespace());
        Top::try_parse_from(argv).map(|Top { cmd: Sub::Wallet(w) }| w)
    }

    #[test]
    fn command_line_shapes() {
        let w = parse("wallet --wallet /tmp/w init").expect("init");
        assert!(matches!(w.cmd, Command::Init) && w.wallet == Path::new("/tmp/w"));
        let w = parse("wallet --wallet d enrol --issuer https://i.example --self-birthdate 2011-05-04")
            .expect("enrol");
        assert!(matches!(w.cmd, Command::Enrol { count: 30, .. }));
        let printed = format!("{w:?}");
        assert!(
            !printed.contains("2011") && printed.contains("<redacted>"),
            "{printed}"
        );
        let w =
            parse("wallet --wallet d enrol --issuer u --guardian p --child-birthdate 2016-02-29 --count 5")
                .expect("guardian");
        assert!(matches!(
            w.cmd,
            Command::Enrol {
                count: 5,
                guardian: Some(_),
                ..
            }
        ));
        let w = parse("wallet --wallet d present --yes openid4vp://?x=1").expect("present");
        assert!(matches!(w.cmd, Command::Present { yes: true, .. }));
        let w = parse("wallet --wallet d enrol --issuer u --assertion f --no-blind").expect("no blind");
        assert!(matches!(w.cmd, Command::Enrol { no_blind: true, .. }));
        let w = parse("wallet --wallet d private-token --challenge x --audience https://p.example --yes")
            .expect("private-token");
        assert!(matches!(w.cmd, Command::PrivateToken { yes: true, .. }));
        for ok in [
            "wallet --wallet d status",
            "wallet --wallet d purge",
            "wallet --wallet d enrol --issuer u --id-token f",
            "wallet --wallet d enrol --issuer u --id-token f --blind-count 10",
        ] {
            assert!(parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "wallet init",
            "wallet --wallet d enrol --issuer u",
            "wallet --wallet d enrol --issuer u --self-birthdate 2000-01-01 --assertion f",
            "wallet --wallet d enrol --issuer u --guardian p",
            "wallet --wallet d enrol --issuer u --self-birthdate 2000-01-01 --child-birthdate 2016-01-01",
            "wallet --wallet d present",
            "wallet --wallet d enrol --issuer u --id-token f --no-blind --blind-count 3",
            "wallet --wallet d private-token --challenge x",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            with_dir("enrol again: ageband wallet --wallet DIR enrol", Path::new("/w")),
            "enrol again: ageband wallet --wallet /w enrol"
        );
    }
}
