//! Blind-token fixtures shared by the verifier's blind tests: four RSA-2048 issuer keys (the RFC
//! 9578 appendix A.2 key and three test-only keys stored in
//! `specs/vectors/blind-session/keys.json`), a directory of month 2026-12 with one key per
//! fixture slot, token issuance through the wallet and issuer steps, and a verifier with its
//! clock inside that month.
#![allow(dead_code, missing_docs, clippy::unwrap_used)]

use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use ageband_blind::profile::{
    BlindFact, BlindToken, Directory, DirectoryKey, Floor, HolderTokenRequest, Month, TokenChallenge,
};
use ageband_blind::rand_core::{TryCryptoRng, TryRng};
use ageband_blind::token;
use ageband_blind::{SecretKey, SystemRng};
use ageband_verifier::{ManualClock, TrustList, TrustedIssuer, Verifier};
use ring::digest::{SHA256, digest};
use serde_json::Value;

pub const ISSUER: &str = "https://issuer.example";
pub const ISSUER2: &str = "https://other-issuer.example";
pub const AUDIENCE: &str = "https://platform.example";
/// A 128-bit nonce in base64url, as a platform makes them.
pub const NONCE: &str = "bm9uY2Utb2YtdGhlLXBsYXRmb3Jt";

pub fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../specs/vectors/blind-session")
}

pub fn month() -> Month {
    Month::parse("2026-12").unwrap()
}

/// 2026-12-10 01:00 UTC: inside the directory's month.
pub fn now() -> u64 {
    month().not_before() + 9 * 86_400 + 3600
}

pub fn over(n: u8) -> BlindFact {
    BlindFact::over(n).unwrap()
}

pub fn under(n: u8) -> BlindFact {
    BlindFact::under(n).unwrap()
}

/// The fixture slots, one per key: `keys()[i]` signs `SLOTS[i]`.
pub fn slots() -> [(BlindFact, Floor); 4] {
    [
        (over(18), Floor::Level2),
        (over(18), Floor::Level3),
        (over(13), Floor::Level2),
        (under(16), Floor::Level2),
    ]
}

pub const OVER18_L2: usize = 0;
pub const OVER18_L3: usize = 1;
pub const OVER13_L2: usize = 2;
pub const UNDER16_L2: usize = 3;

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// The four issuer keys (loaded once per test binary).
pub fn keys() -> &'static [SecretKey; 4] {
    static KEYS: OnceLock<[SecretKey; 4]> = OnceLock::new();
    KEYS.get_or_init(|| {
        let rfc: Value = serde_json::from_str(include_str!(
            "../../../specs/vectors/external/rfc9578_type2_token_vectors.json"
        ))
        .unwrap();
        let pem = String::from_utf8(unhex(rfc[0]["skS"].as_str().unwrap())).unwrap();
        let file: Value =
            serde_json::from_slice(&std::fs::read(vectors_dir().join("keys.json")).unwrap()).unwrap();
        let extra: Vec<SecretKey> = file["pkcs8_der_hex"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| SecretKey::from_pkcs8_der(&unhex(h.as_str().unwrap())).unwrap())
            .collect();
        let [a, b, c]: [SecretKey; 3] = extra.try_into().ok().unwrap();
        [SecretKey::from_pkcs8_pem(&pem).unwrap(), a, b, c]
    })
}

/// The directory of month 2026-12 with the fixture slots (`skip` leaves slots out).
pub fn directory_without(skip: &[usize]) -> Directory {
    let keys = slots()
        .iter()
        .enumerate()
        .filter(|(i, _)| !skip.contains(i))
        .map(|(i, (fact, floor))| {
            DirectoryKey::new(*fact, *floor, month(), keys()[i].public_key().clone()).unwrap()
        })
        .collect();
    Directory::new("https://issuer.example/blind-token-request", keys).unwrap()
}

pub fn directory() -> Directory {
    directory_without(&[])
}

/// Issues one token of fixture slot `index` for the issuer `issuer_url` through the wallet and
/// issuer steps, drawing the wallet's randomness from `rng`.
pub fn issue_with<R: TryCryptoRng + ?Sized>(rng: &mut R, index: usize, issuer_url: &str) -> BlindToken {
    let (fact, floor) = slots()[index];
    let key = DirectoryKey::new(fact, floor, month(), keys()[index].public_key().clone()).unwrap();
    let challenge = TokenChallenge::for_issuer_url(issuer_url).unwrap();
    let req = HolderTokenRequest::new(rng, &key, &challenge).unwrap();
    let resp = token::sign_token_request(&keys()[index], &mut SystemRng, req.request()).unwrap();
    req.finalize(&key, &resp).unwrap()
}

pub fn issue(index: usize) -> BlindToken {
    issue_with(&mut SystemRng, index, ISSUER)
}

/// A compact presentation of a fresh token of slot `index` bound to `nonce` and `audience`.
pub fn present(index: usize, nonce: &str, audience: &str) -> String {
    issue(index).present(nonce.as_bytes(), audience).unwrap().encode()
}

/// The issuer trusted for blind tokens under the fixture directory (no SD-JWT keys).
pub fn blind_issuer(id: &str) -> TrustedIssuer {
    TrustedIssuer::pinned(id, vec![]).with_blind_directory(directory())
}

pub fn verifier_with(issuers: Vec<TrustedIssuer>) -> Verifier {
    Verifier::from_trust_list(TrustList::new(issuers).unwrap()).with_clock(Arc::new(ManualClock::new(now())))
}

pub fn verifier() -> Verifier {
    verifier_with(vec![blind_issuer(ISSUER)])
}

/// SHA-256(seed ‖ counter) blocks: a deterministic generator for vectors only.
pub struct Drbg {
    seed: Vec<u8>,
    counter: u64,
    buf: Vec<u8>,
}

impl Drbg {
    pub fn new(seed: &str) -> Self {
        Drbg {
            seed: seed.as_bytes().to_vec(),
            counter: 0,
            buf: Vec::new(),
        }
    }
}

impl TryRng for Drbg {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        while self.buf.len() < dst.len() {
            let mut input = self.seed.clone();
            input.extend_from_slice(&self.counter.to_be_bytes());
            self.counter += 1;
            self.buf.extend_from_slice(digest(&SHA256, &input).as_ref());
        }
        let rest = self.buf.split_off(dst.len());
        dst.copy_from_slice(&self.buf);
        self.buf = rest;
        Ok(())
    }
}

impl TryCryptoRng for Drbg {}
