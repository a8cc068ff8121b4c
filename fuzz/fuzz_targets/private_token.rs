//! The `PrivateToken` header forms (blind-profile.md §8.2, §12.5). The first input byte picks
//! the side:
//! - even: the wallet's `parse_private_token_challenge` on the rest (a `WWW-Authenticate`
//!   value); `@CHALLENGE@` becomes the challenge of the gate below;
//! - odd: `Gate::verify_authorization` on the rest (an `Authorization` value) for one of three
//!   fixed gates (`(byte >> 1) % 3`: "at least 18", "at least 18" at `standard`, "under 16") of
//!   a verifier that pins the session vectors' directory. `@NONCE@` becomes a valid gate nonce of that gate,
//!   `@TOKEN<b>@` the base64url token of pool token `<b>` (one per directory slot) and
//!   `@BINDING<b>@` its binding (holder key and signature) over that nonce and the gate's
//!   audience, so that the nonce check and the verifier's checks behind it are reached.
#![no_main]

use std::sync::OnceLock;

use ageband_core::age::{AgeQuestion, AssuranceLevel, Threshold};
use ageband_core::b64;
use ageband_fuzz::blind::{AUDIENCE, ISSUER, session, session_verifier};
use ageband_verifier::private_token::Gate;
use ageband_verifier::Profile;
use ageband_wallet::parse_private_token_challenge;
use libfuzzer_sys::fuzz_target;
use zeroize::Zeroizing;

struct G {
    gate: Gate,
    challenge: String,
    nonce: String,
    /// Per pool token: token and binding, both base64url, bound to `nonce`.
    parts: Vec<(String, String)>,
}

fn gates() -> &'static [G; 3] {
    static F: OnceLock<[G; 3]> = OnceLock::new();
    F.get_or_init(|| {
        let make = |question, level: Option<AssuranceLevel>| {
            let mut gate =
                Gate::with_secret(session_verifier(), ISSUER, question, AUDIENCE, Zeroizing::new([4; 32]))
                    .unwrap();
            if let Some(l) = level {
                gate = gate.min_assurance(l);
            }
            let challenge = gate.challenge().unwrap();
            let nonce = challenge
                .split("nonce=\"")
                .nth(1)
                .and_then(|r| r.split('"').next())
                .unwrap()
                .to_owned();
            let parts = session()
                .tokens
                .iter()
                .map(|t| {
                    let p = t.present(nonce.as_bytes(), AUDIENCE);
                    (
                        b64::encode(p.token.to_bytes()),
                        format!("{}.{}", b64::encode(p.holder_key), b64::encode(p.binding_sig)),
                    )
                })
                .collect();
            G {
                gate,
                challenge,
                nonce,
                parts,
            }
        };
        let t = |n| Threshold::new(n).unwrap();
        [
            make(AgeQuestion::AtLeast(t(18)), None),
            make(AgeQuestion::AtLeast(t(18)), Some(AssuranceLevel::Standard)),
            make(AgeQuestion::Under(t(16)), None),
        ]
    })
}

fn expand(g: &G, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 1024);
    let mut i = 0;
    while i < data.len() {
        let rest = &data[i..];
        let pooled = |tag: &[u8]| -> Option<usize> {
            (rest.len() > tag.len() + 1 && rest.starts_with(tag) && rest[tag.len() + 1] == b'@')
                .then(|| usize::from(rest[tag.len()]) % g.parts.len())
        };
        if rest.starts_with(b"@NONCE@") {
            out.extend_from_slice(g.nonce.as_bytes());
            i += 7;
        } else if rest.starts_with(b"@CHALLENGE@") {
            out.extend_from_slice(g.challenge.as_bytes());
            i += 11;
        } else if let Some(b) = pooled(b"@TOKEN") {
            out.extend_from_slice(g.parts[b].0.as_bytes());
            i += 8;
        } else if let Some(b) = pooled(b"@BINDING") {
            out.extend_from_slice(g.parts[b].1.as_bytes());
            i += 10;
        } else {
            out.push(data[i]);
            i += 1;
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let g = &gates()[usize::from(mode >> 1) % 3];
    let expanded = expand(g, rest);
    let Ok(text) = std::str::from_utf8(&expanded) else {
        return;
    };
    if mode & 1 == 0 {
        if let Ok(c) = parse_private_token_challenge(text) {
            assert!(c.challenge.is_ageband_form());
            assert!((16..=64).contains(&c.nonce.len()));
        }
        return;
    }
    match g.gate.verify_authorization(text) {
        Ok(o) => {
            assert_eq!(o.profile, Profile::BlindToken);
            assert!(o.source.is_none());
            // A gate answers its one fact.
            assert!(o.at_least.is_some() != o.under.is_some());
        }
        Err(e) => {
            let _ = e.kind();
            let _ = ageband_verifier::private_token::is_retryable(&e);
        }
    }
});
