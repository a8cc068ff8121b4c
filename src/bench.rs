//! `ageband bench`: the headline figure without criterion. Verifies one realistic presentation
//! (SD-JWT VC with one disclosed predicate + KB-JWT) with `ageband_core::profile::verify`, and
//! beside it the raw floor — the two ring ES256 verifications over the same signing inputs —
//! interleaved in chunks so that both see the same machine state. Prints one JSON line:
//! `{"verify_per_sec","raw_floor_per_sec","ratio",…}` where `ratio` is
//! `verify_per_sec / raw_floor_per_sec` (1.0 would be no cost beyond the signatures).

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ageband_core::age::{AssuranceLevel, Date, Source, Threshold};
use ageband_core::jws::{RingSigner, Signer};
use ageband_core::profile::{self, AgeVerifyOptions, CredentialTemplate, SingleIssuer};
use ageband_core::rng::OsRng;
use anyhow::{Context as _, anyhow};
use ring::signature::{ECDSA_P256_SHA256_FIXED, UnparsedPublicKey};
use serde_json::{Value, json};

const ISS: &str = "https://issuer.example";
const AUD: &str = "redirect_uri:https://platform.example/cb";
const NONCE: &str = "q1YkFvYfVz4bI6zyWgk8Jw";
/// Iterations of each side per chunk; the sides alternate chunk by chunk.
const CHUNK: u32 = 50;

/// Arguments of `ageband bench`.
#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// Verifications of each side (presentation and raw floor); the default takes about a second.
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u32).range(1..))]
    iterations: u32,
}

/// Runs the comparison and prints its JSON line.
pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    println!("{}", measure(args.iterations)?);
    Ok(())
}

/// One issuer, one holder, one presentation, and the two signatures inside it.
struct Fixture {
    vp: String,
    keys: SingleIssuer,
    now: u64,
    raw: Vec<([u8; 65], Vec<u8>, Vec<u8>)>,
}

fn fixture() -> anyhow::Result<Fixture> {
    let issuer = RingSigner::generate()?;
    let holder = RingSigner::generate()?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let today = Date::from_unix_seconds(now);
    let t = Threshold::new;
    let template = CredentialTemplate {
        issuer: ISS.into(),
        iat: today,
        exp: today.add_days(90),
        assurance: AssuranceLevel::Enhanced,
        source: Source::OfficialId,
        predicates: BTreeMap::from([(t(13)?, true), (t(16)?, true), (t(18)?, false)]),
        pad_to: 3,
    };
    let issued = profile::issue(&template, holder.public_jwk(), &issuer, &mut OsRng::new())?;
    let vp = profile::present(&issued, &[t(16)?], &holder, AUD, NONCE, now)?;
    let split = |jws: &str| -> anyhow::Result<(Vec<u8>, Vec<u8>)> {
        let (input, sig) = jws.rsplit_once('.').context("not a JWS")?;
        Ok((input.as_bytes().to_vec(), ageband_core::b64::decode(sig, 64)?))
    };
    let (i1, s1) = split(&vp[..vp.find('~').context("not an SD-JWT")?])?;
    let (i2, s2) = split(&vp[vp.rfind('~').context("no KB-JWT")? + 1..])?;
    Ok(Fixture {
        raw: vec![
            (issuer.public_jwk().uncompressed(), i1, s1),
            (holder.public_jwk().uncompressed(), i2, s2),
        ],
        keys: SingleIssuer::new(ISS, issuer.public_jwk().clone()),
        vp,
        now,
    })
}

/// The comparison over `iterations` of each side, as the JSON object `run` prints.
pub fn measure(iterations: u32) -> anyhow::Result<Value> {
    let f = fixture()?;
    let opts = AgeVerifyOptions::new(f.now, AUD, NONCE);
    let verify = || -> anyhow::Result<()> {
        black_box(profile::verify(black_box(&f.vp), &f.keys, &opts)?);
        Ok(())
    };
    let raw = || -> anyhow::Result<()> {
        for (key, input, sig) in &f.raw {
            UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, key)
                .verify(black_box(input), black_box(sig))
                .map_err(|_| anyhow!("raw verification failed"))?;
        }
        Ok(())
    };
    // One of each first: both must succeed before anything is timed.
    verify()?;
    raw()?;
    let (mut t_verify, mut t_raw) = (Duration::ZERO, Duration::ZERO);
    let mut done = 0;
    let mut chunk_no = 0u32;
    while done < iterations {
        let n = CHUNK.min(iterations - done);
        let time = |side: &dyn Fn() -> anyhow::Result<()>| -> anyhow::Result<Duration> {
            let start = Instant::now();
            for _ in 0..n {
                side()?;
            }
            Ok(start.elapsed())
        };
        // Alternate which side goes first.
        if chunk_no.is_multiple_of(2) {
            t_verify += time(&verify)?;
            t_raw += time(&raw)?;
        } else {
            t_raw += time(&raw)?;
            t_verify += time(&verify)?;
        }
        done += n;
        chunk_no += 1;
    }
    let per_sec = |d: Duration| f64::from(iterations) / d.as_secs_f64().max(f64::MIN_POSITIVE);
    let (v, r) = (per_sec(t_verify), per_sec(t_raw));
    Ok(json!({
        "verify_per_sec": round(v, 1),
        "raw_floor_per_sec": round(r, 1),
        "ratio": round(v / r, 4),
        "iterations": iterations,
        "verify_us": round(1e6 / v, 2),
        "raw_floor_us": round(1e6 / r, 2),
    }))
}

fn round(x: f64, digits: i32) -> f64 {
    let p = 10f64.powi(digits);
    (x * p).round() / p
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shape of the line, not its timings (no timed assertions).
    #[test]
    fn prints_the_three_figures() {
        let v = measure(3).expect("bench runs");
        let obj = v.as_object().expect("an object");
        for key in [
            "verify_per_sec",
            "raw_floor_per_sec",
            "ratio",
            "verify_us",
            "raw_floor_us",
        ] {
            assert!(
                obj.get(key).and_then(Value::as_f64).is_some_and(f64::is_finite),
                "{key} in {v}"
            );
        }
        assert_eq!(obj["iterations"], 3);
        // One line of JSON text.
        let line = v.to_string();
        assert!(!line.contains('\n'));
        assert_eq!(serde_json::from_str::<Value>(&line).expect("JSON"), v);
    }
}
