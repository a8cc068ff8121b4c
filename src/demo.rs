//! `ageband demo`: the whole flow in one process, narrated.
//!
//! An issuer turns one (fictional) birth date into a batch of credentials, a holder answers a
//! teen community's band question with one of them, and the verifier learns the band and
//! nothing else.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use ageband_core::age::{
    AgeQuestion, AssuranceLevel, BirthDate, Date, Source, ThresholdSet, choose_claim_set,
    facts_from_birth_date, outcome_of,
};
use ageband_core::jws::{RingSigner, Signer};
use ageband_core::profile::{self, AgeVerifyOptions, CredentialTemplate, SingleIssuer};
use ageband_core::rng::{OsRng, random_b64};
use anyhow::Context as _;

/// Arguments of `ageband demo`.
#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Credentials per batch.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u8).range(1..=100))]
    count: u8,
}

const ISSUER: &str = "https://issuer.ageband.example";
const RESPONSE_URI: &str = "https://teen-community.example/ageband/response";

/// Runs the demo.
pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let today = Date::from_unix_seconds(now);
    let thresholds = ThresholdSet::default_set();
    let mut rng = OsRng::new();

    println!("ageband demo — issuer, wallet and verifier in one process\n");
    // A fictional 14-year-old.
    let birth = BirthDate::new(today.add_days(-(14 * 365 + 100)));
    let facts = facts_from_birth_date(&birth, today, &thresholds, 90).context("deriving facts")?;
    drop(birth);
    println!(
        "issuer:   read one birth date (official id), derived {} predicates, discarded the date",
        facts.predicates.len()
    );

    let issuer_key = RingSigner::generate()?;
    let template = CredentialTemplate::from_facts(
        ISSUER,
        &facts,
        AssuranceLevel::Enhanced,
        Source::OfficialId,
        thresholds.as_slice().len(),
    );
    let mut batch = Vec::new();
    for _ in 0..args.count {
        let holder = RingSigner::generate()?;
        let credential = profile::issue(&template, holder.public_jwk(), &issuer_key, &mut rng)?;
        batch.push((holder, credential));
    }
    println!(
        "issuer:   signed a batch of {} credentials (each its own holder key and salts), valid {} → {}",
        batch.len(),
        facts.iat,
        facts.exp
    );

    let question = AgeQuestion::Band(thresholds.clone());
    let sets = question.claim_sets(false);
    let nonce = random_b64(&mut rng, 16)?;
    let client_id = format!("redirect_uri:{RESPONSE_URI}");
    println!("platform: a teen community asks for the band over 13/16/18 (nonce {nonce})");

    let (holder, credential) = batch.pop().context("empty batch")?;
    let held: BTreeMap<_, _> = profile::held_predicates(&credential)?;
    let answer = choose_claim_set(&sets, &held).context("no claim set fits")?;
    let thresholds_shown: Vec<_> = answer.iter().map(|(t, _)| *t).collect();
    let vp = profile::present(&credential, &thresholds_shown, &holder, &client_id, &nonce, now)?;
    println!(
        "wallet:   discloses {} of {} predicates, binds them to the platform's nonce, deletes the credential ({} left)",
        answer.len(),
        held.len(),
        batch.len()
    );

    let keys = SingleIssuer::new(ISSUER, issuer_key.public_jwk().clone());
    let claims = profile::verify(&vp, &keys, &AgeVerifyOptions::new(now, &client_id, &nonce))?;
    let band = outcome_of(&claims.predicates);
    println!("verifier: presentation verified ({} bytes)\n", vp.len());
    println!("what the platform learned:");
    println!("  band:       {band}");
    println!("  at_least:   {:?}", band.at_least);
    println!("  under:      {:?}", band.under);
    println!("  assurance:  {}", claims.assurance);
    println!("  source:     {}", claims.source);
    println!("  issuer:     {}", claims.issuer);
    println!("what it did not learn: name, birth date, any predicate it did not ask for,");
    println!(
        "  and any link to another presentation from the same batch (fresh key, salts, signature each)."
    );
    Ok(())
}
