//! `ageband inspect`: decode an SD-JWT, an SD-JWT presentation or a JWT without verifying
//! anything, for debugging and interoperability work.

use std::io::Read as _;
use std::path::PathBuf;

use ageband_core::sdjwt::{self, Disclosure, Presentation};
use ageband_core::{b64, json};
use anyhow::{Context as _, bail};
use serde_json::{Value, json};

/// Arguments of `ageband inspect`.
#[derive(clap::Args, Debug)]
pub struct InspectArgs {
    /// File holding the token (`-` reads standard input).
    file: PathBuf,
}

/// Prints the decoded parts as one JSON object, labelled as untrusted.
pub fn run(args: InspectArgs) -> anyhow::Result<()> {
    let text = read_capped(&args.file)?;
    let text = text.trim();
    let out = if text.contains('~') {
        let p = Presentation::parse(text).context("not an SD-JWT")?;
        let disclosures: Vec<Value> = p
            .disclosures
            .iter()
            .map(|d| match Disclosure::parse(d) {
                Ok(d) => json!({"digest": d.digest(), "name": d.name(), "value": d.value()}),
                Err(e) => json!({"error": e.to_string()}),
            })
            .collect();
        json!({
            "verified": false,
            "issuer_jwt": decode_jwt(p.issuer_jwt)?,
            "disclosures": disclosures,
            "kb_jwt": p.kb_jwt.map(decode_jwt).transpose()?,
            "sd_hash": sdjwt::digest(p.sd_jwt),
        })
    } else {
        json!({"verified": false, "jwt": decode_jwt(text)?})
    };
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}

/// Reads a file or standard input, refusing more than the presentation cap.
pub fn read_capped(path: &PathBuf) -> anyhow::Result<String> {
    let cap = sdjwt::MAX_PRESENTATION as u64;
    let mut buf = String::new();
    if path.as_os_str() == "-" {
        std::io::stdin().take(cap + 1).read_to_string(&mut buf)?;
    } else {
        std::fs::File::open(path)
            .with_context(|| format!("cannot open {}", path.display()))?
            .take(cap + 1)
            .read_to_string(&mut buf)
            .context("input is not UTF-8 text")?;
    }
    if buf.len() as u64 > cap {
        bail!("input larger than {cap} bytes");
    }
    Ok(buf)
}

fn decode_jwt(jwt: &str) -> anyhow::Result<Value> {
    let parts: Vec<&str> = jwt.split('.').collect();
    if parts.len() != 3 {
        bail!("a JWT has three dot-separated parts");
    }
    let seg = |s: &str, what: &str| -> anyhow::Result<Value> {
        let bytes = b64::decode(s, 8192).with_context(|| format!("{what} is not base64url"))?;
        json::parse_value(&bytes, 8192).with_context(|| format!("{what} is not strict JSON"))
    };
    Ok(json!({"header": seg(parts[0], "header")?, "payload": seg(parts[1], "payload")?}))
}
