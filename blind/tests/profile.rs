//! The blind-token profile end to end (blind-profile.md): directory round trip and every
//! rejection, issuance with fresh RSA-2048 keys, presentation, verification and every rejection
//! of §9.1, the two transport encodings.

#![allow(clippy::unwrap_used)]

use std::sync::OnceLock;

use ageband_blind::profile::{
    BlindFact, BlindIssuer, BlindPresentation, BlindQuery, BlindToken, BlindVerifyError, ChallengeError,
    Directory, DirectoryError, DirectoryKey, Floor, HolderTokenRequest, MAX_DIRECTORY_BYTES, MemorySpentSet,
    Month, PresentationError, ProfileError, SpentSet, TokenChallenge, binding_message, token_nonce_for,
};
use ageband_blind::token::{self, Token, TokenResponse};
use ageband_blind::{PublicKey, SecretKey, SystemRng};
use ageband_core::json::JsonError;
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};
use ring::digest::{SHA256, digest};
use serde_json::{Value, json};

const ISSUER: &str = "issuer.example";
const AUDIENCE: &str = "https://platform.example";
const NONCE: &[u8] = b"verifier-nonce-0123456789";

/// Two fresh RSA-2048 issuer keys per test binary.
fn issuer_keys() -> &'static [SecretKey; 2] {
    static KEYS: OnceLock<[SecretKey; 2]> = OnceLock::new();
    KEYS.get_or_init(|| {
        [
            SecretKey::generate(&mut SystemRng, 2048).unwrap(),
            SecretKey::generate(&mut SystemRng, 2048).unwrap(),
        ]
    })
}

/// A third key outside the directory: the RFC 9578 vector key.
fn foreign_key() -> SecretKey {
    let v: Value = serde_json::from_str(include_str!(
        "../../specs/vectors/external/rfc9578_type2_token_vectors.json"
    ))
    .unwrap();
    let hex = v[0]["skS"].as_str().unwrap();
    let pem: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    SecretKey::from_pkcs8_pem(core::str::from_utf8(&pem).unwrap()).unwrap()
}

/// A well-formed RSA public key of `bits` bits that nobody can sign for: a pseudo-random odd
/// modulus (SHA-256 in counter mode over `seed`).
fn filler_key(seed: u32, bits: usize) -> PublicKey {
    let mut n = Vec::new();
    let mut ctr = 0u32;
    while n.len() < bits / 8 {
        let mut input = seed.to_be_bytes().to_vec();
        input.extend_from_slice(&ctr.to_be_bytes());
        n.extend_from_slice(digest(&SHA256, &input).as_ref());
        ctr += 1;
    }
    n.truncate(bits / 8);
    n[0] |= 0xc0;
    *n.last_mut().unwrap() |= 1;
    PublicKey::from_components(&n, &[1, 0, 1]).unwrap()
}

fn month() -> Month {
    Month::parse("2026-12").unwrap()
}

/// Ten days into the month.
fn now() -> u64 {
    month().not_before() + 10 * 86_400
}

fn over(n: u8) -> BlindFact {
    BlindFact::over(n).unwrap()
}

fn under(n: u8) -> BlindFact {
    BlindFact::under(n).unwrap()
}

/// Key 0: (over_16, level 3, 2026-12); key 1: (over_13, level 2, 2026-12); fillers elsewhere.
fn directory() -> Directory {
    let [a, b] = issuer_keys();
    let mut keys = vec![
        DirectoryKey::new(over(16), Floor::Level3, month(), a.public_key().clone()).unwrap(),
        DirectoryKey::new(over(13), Floor::Level2, month(), b.public_key().clone()).unwrap(),
    ];
    let mut seed = 0;
    for m in 0..3 {
        for fact in BlindFact::all() {
            for floor in Floor::ALL {
                let slot = (fact, floor, month().plus(m).unwrap());
                if (m == 0 && slot.0 == over(16) && floor == Floor::Level3)
                    || (m == 0 && slot.0 == over(13) && floor == Floor::Level2)
                {
                    continue;
                }
                seed += 1;
                keys.push(DirectoryKey::new(slot.0, slot.1, slot.2, filler_key(seed, 2048)).unwrap());
            }
        }
    }
    Directory::new("https://issuer.example/token-request", keys).unwrap()
}

fn issuer() -> BlindIssuer {
    BlindIssuer::new(ISSUER, directory()).unwrap()
}

fn query(fact: BlindFact, min_floor: Floor) -> BlindQuery<'static> {
    BlindQuery {
        fact,
        min_floor,
        verifier_nonce: NONCE,
        audience: AUDIENCE,
    }
}

/// Issues one token under directory key `index` (0 or 1) through the wallet and issuer steps.
fn issue(index: usize) -> BlindToken {
    let dir = directory();
    let key = &dir.keys()[index];
    let challenge = TokenChallenge::ageband(ISSUER).unwrap();
    let req = HolderTokenRequest::new(&mut SystemRng, key, &challenge).unwrap();
    let bytes = req.request().to_bytes();
    // The issuer's side: parse the request and blind-sign with the slot's key.
    let parsed = token::TokenRequest::from_bytes(&bytes).unwrap();
    let resp = token::sign_token_request(&issuer_keys()[index], &mut SystemRng, &parsed).unwrap();
    let resp = TokenResponse::from_bytes(&resp.to_bytes()).unwrap();
    req.finalize(key, &resp).unwrap()
}

fn presentation(index: usize) -> BlindPresentation {
    issue(index).present(NONCE, AUDIENCE).unwrap()
}

fn verify(
    p: &str,
    q: &BlindQuery<'_>,
    at: u64,
) -> Result<ageband_blind::profile::BlindFacts, BlindVerifyError> {
    ageband_blind::profile::verify_blind(p, &issuer(), q, at, &mut MemorySpentSet::default())
}

/// A token correctly signed by directory key 0 for an arbitrary nonce, with a binding signature
/// by `holder` over the default query.
fn token_with_nonce(nonce: [u8; 32], holder: &SigningKey, holder_key: [u8; 33]) -> BlindPresentation {
    let dir = directory();
    let pk = dir.keys()[0].public_key();
    let digest = TokenChallenge::ageband(ISSUER).unwrap().digest();
    let (req, pending) = token::token_request(pk, &mut SystemRng, nonce, digest).unwrap();
    let resp = token::sign_token_request(&issuer_keys()[0], &mut SystemRng, &req).unwrap();
    let token = pending.finalize(pk, &resp).unwrap();
    let msg = binding_message(NONCE, AUDIENCE, &token.to_bytes()).unwrap();
    let sig: Signature = holder.sign(&msg);
    BlindPresentation {
        token,
        holder_key,
        binding_sig: sig.to_bytes().into(),
    }
}

fn other_holder() -> (SigningKey, [u8; 33]) {
    let k = SigningKey::from_slice(&[7u8; 32]).unwrap();
    let point: [u8; 33] = k
        .verifying_key()
        .to_encoded_point(true)
        .as_bytes()
        .try_into()
        .unwrap();
    (k, point)
}

// ---------------------------------------------------------------------------------------------
// Directory

#[test]
fn directory_round_trips_and_finds_keys() {
    let dir = directory();
    assert_eq!(dir.keys().len(), 36);
    let text = dir.to_json();
    assert_eq!(Directory::parse(text.as_bytes()).unwrap(), dir);
    let v: Value = serde_json::from_str(&text).unwrap();
    let k0 = &v["token-keys"][0];
    assert_eq!(k0["token-type"], 2);
    assert_eq!(k0["ageband-fact"], "age_over_16");
    assert_eq!(k0["ageband-floor"], 3);
    assert_eq!(k0["ageband-month"], "2026-12");
    assert_eq!(k0["not-before"], 1_796_083_200u64);
    assert_eq!(k0["ageband-not-after"], 1_798_761_600u64);
    // 342-byte SPKI: 456 base64url characters, no padding needed.
    assert_eq!(k0["token-key"].as_str().unwrap().len(), 456);
    let id = issuer_keys()[0].public_key().token_key_id();
    assert_eq!(dir.key_by_id(&id).unwrap().fact(), over(16));
    assert_eq!(
        dir.key_for(over(13), Floor::Level2, month())
            .unwrap()
            .token_key_id(),
        issuer_keys()[1].public_key().token_key_id()
    );

    // The largest directory: 6 facts × 2 floors × 4 months.
    let mut keys = Vec::new();
    let mut seed = 1000;
    for m in 0..4 {
        for fact in BlindFact::all() {
            for floor in Floor::ALL {
                seed += 1;
                keys.push(
                    DirectoryKey::new(fact, floor, month().plus(m).unwrap(), filler_key(seed, 2048)).unwrap(),
                );
            }
        }
    }
    let full = Directory::new("/request", keys.clone()).unwrap();
    assert_eq!(Directory::parse(full.to_json().as_bytes()).unwrap(), full);
    // A 49th key, or a fifth month.
    let mut more = keys.clone();
    more.push(
        DirectoryKey::new(
            over(18),
            Floor::Level2,
            month().plus(4).unwrap(),
            filler_key(9, 2048),
        )
        .unwrap(),
    );
    assert_eq!(Directory::new("/request", more), Err(DirectoryError::Size));
    let mut fifth = keys[..47].to_vec();
    fifth.push(
        DirectoryKey::new(
            over(18),
            Floor::Level2,
            month().plus(4).unwrap(),
            filler_key(9, 2048),
        )
        .unwrap(),
    );
    assert_eq!(Directory::new("/request", fifth), Err(DirectoryError::Size));
    assert_eq!(Directory::new("/request", Vec::new()), Err(DirectoryError::Size));
}

/// Applies `edit` to the JSON of the test directory and parses the result.
fn parse_edited(edit: impl FnOnce(&mut Value)) -> Result<Directory, DirectoryError> {
    let mut v: Value = serde_json::from_str(&directory().to_json()).unwrap();
    edit(&mut v);
    Directory::parse(v.to_string().as_bytes())
}

#[test]
fn directory_rejections() {
    // The one-key rule: a second key for (over_16, 3, 2026-12).
    let err = parse_edited(|v| {
        let mut dup = v["token-keys"][5].clone();
        dup["token-key"] = json!(ageband_core::b64::encode(filler_key(999, 2048).to_spki()));
        dup["ageband-fact"] = json!("age_over_16");
        dup["ageband-floor"] = json!(3);
        dup["ageband-month"] = json!("2026-12");
        dup["not-before"] = v["token-keys"][0]["not-before"].clone();
        dup["ageband-not-after"] = v["token-keys"][0]["ageband-not-after"].clone();
        v["token-keys"].as_array_mut().unwrap().push(dup);
    });
    assert_eq!(err, Err(DirectoryError::DuplicateSlot));
    assert_eq!(err.unwrap_err().kind(), "duplicate_slot");
    // One key listed for two slots.
    let err = parse_edited(|v| {
        let k = v["token-keys"][0]["token-key"].clone();
        v["token-keys"][1]["token-key"] = k;
    });
    assert_eq!(err, Err(DirectoryError::DuplicateKey));
    // Bounds that are not the month's.
    for (member, delta) in [
        ("not-before", 1i64),
        ("not-before", -1),
        ("ageband-not-after", 1),
        ("ageband-not-after", -86_400),
    ] {
        let err = parse_edited(|v| {
            let x = v["token-keys"][0][member].as_i64().unwrap();
            v["token-keys"][0][member] = json!(x + delta);
        });
        assert_eq!(err, Err(DirectoryError::Bounds), "{member} {delta}");
    }
    // The month of another key with this key's bounds.
    let err = parse_edited(|v| v["token-keys"][0]["ageband-month"] = json!("2027-01"));
    assert_eq!(err, Err(DirectoryError::Bounds));
    // Bad SPKI: truncated, rsaEncryption-style garbage, padding, a 3072-bit key, not base64url.
    let spki = issuer_keys()[0].public_key().to_spki();
    let mut rsa_enc = spki.clone();
    rsa_enc[16] ^= 1;
    let big = ageband_core::b64::encode(filler_key(77, 3072).to_spki());
    for bad in [
        ageband_core::b64::encode(&spki[..341]),
        ageband_core::b64::encode(&rsa_enc),
        format!("{}=", ageband_core::b64::encode(&spki)),
        big,
        "MIIB*".to_owned(),
        String::new(),
    ] {
        let err = parse_edited(|v| v["token-keys"][0]["token-key"] = json!(bad));
        assert_eq!(err, Err(DirectoryError::Key), "{bad}");
    }
    // Fields.
    let cases: Vec<(&str, Value, DirectoryError)> = vec![
        ("token-type", json!(1), DirectoryError::TokenType),
        ("token-type", json!(2.0), shape("token-type")),
        ("token-type", json!("2"), shape("token-type")),
        ("ageband-fact", json!("age_over_17"), DirectoryError::Fact),
        ("ageband-fact", json!(16), shape("ageband-fact")),
        ("ageband-floor", json!(1), DirectoryError::Floor),
        ("ageband-floor", json!(4), DirectoryError::Floor),
        ("ageband-floor", json!("3"), shape("ageband-floor")),
        ("ageband-month", json!("2026-13"), DirectoryError::Month),
        ("ageband-month", json!("2026-12-01"), DirectoryError::Month),
        ("not-before", json!(-1), shape("not-before")),
        ("ageband-extra", json!(1), shape("ageband-extra")),
    ];
    for (member, value, expect) in cases {
        let err = parse_edited(|v| v["token-keys"][0][member] = value.clone());
        assert_eq!(err, Err(expect), "{member} = {value}");
    }
    for member in [
        "token-type",
        "token-key",
        "not-before",
        "ageband-fact",
        "ageband-floor",
        "ageband-month",
        "ageband-not-after",
    ] {
        let err = parse_edited(|v| {
            v["token-keys"][0].as_object_mut().unwrap().remove(member);
        });
        assert_eq!(err, Err(shape(member)), "missing {member}");
    }
    // Top level.
    assert_eq!(parse_edited(|v| v["extra"] = json!(1)), Err(shape("extra")));
    assert_eq!(
        parse_edited(|v| v["issuer-request-uri"] = json!("ftp://x")),
        Err(DirectoryError::RequestUri)
    );
    assert_eq!(
        parse_edited(|v| v["issuer-request-uri"] = json!("https://a b")),
        Err(DirectoryError::RequestUri)
    );
    assert_eq!(
        parse_edited(|v| v["token-keys"] = json!([])),
        Err(DirectoryError::Size)
    );
    assert_eq!(
        parse_edited(|v| v["token-keys"] = json!({})),
        Err(shape("token-keys"))
    );
    assert_eq!(
        parse_edited(|v| v["token-keys"][0] = json!(1)),
        Err(shape("token-keys[]"))
    );
    // Duplicate member names, in a key and at the top level.
    let text = directory().to_json();
    let dup_key = text.replacen(
        "\"ageband-floor\":3",
        "\"ageband-floor\":3,\"ageband-floor\":3",
        1,
    );
    assert_ne!(dup_key, text);
    assert_eq!(
        Directory::parse(dup_key.as_bytes()),
        Err(DirectoryError::Json(JsonError::DuplicateMember))
    );
    let dup_top = format!("{{\"issuer-request-uri\":\"/x\",{}", &text[1..]);
    let err = Directory::parse(dup_top.as_bytes()).unwrap_err();
    assert_eq!(err.kind(), "duplicate_member");
    // Oversize: rejected before parsing, even if it is only whitespace.
    let big = format!("{}{}", text, " ".repeat(MAX_DIRECTORY_BYTES));
    assert!(matches!(
        Directory::parse(big.as_bytes()),
        Err(DirectoryError::Json(JsonError::TooLarge { .. }))
    ));
    assert_eq!(Directory::parse(big.as_bytes()).unwrap_err().kind(), "too_large");
    assert_eq!(Directory::parse(b"{").unwrap_err().kind(), "invalid_json");
    // A 3072-bit key cannot be put in a directory from the issuer side either.
    assert_eq!(
        DirectoryKey::new(over(13), Floor::Level2, month(), filler_key(5, 3072)),
        Err(DirectoryError::Key)
    );
}

#[test]
fn directory_key_pinning() {
    let dir = directory();
    assert_eq!(dir.check_consistent_with(&dir), Ok(()));
    // A later fetch: 2026-12 retired, 2027-03 published. Consistent.
    let later_keys: Vec<DirectoryKey> = dir
        .keys()
        .iter()
        .filter(|k| k.month() != month())
        .cloned()
        .chain([DirectoryKey::new(
            over(18),
            Floor::Level3,
            month().plus(3).unwrap(),
            filler_key(500, 2048),
        )
        .unwrap()])
        .collect();
    let later = Directory::new(dir.issuer_request_uri(), later_keys.clone()).unwrap();
    assert_eq!(later.check_consistent_with(&dir), Ok(()));
    assert_eq!(dir.check_consistent_with(&later), Ok(()));
    // The same slot with another key: a per-user (or per-time) key swap.
    let mut swapped = later_keys;
    let k = swapped[0].clone();
    swapped[0] = DirectoryKey::new(k.fact(), k.floor(), k.month(), filler_key(501, 2048)).unwrap();
    let swapped = Directory::new(dir.issuer_request_uri(), swapped).unwrap();
    let err = swapped.check_consistent_with(&dir).unwrap_err();
    assert_eq!(
        (err.clone(), err.kind()),
        (DirectoryError::SlotKeyChanged, "slot_key_changed")
    );
}

fn shape(member: &str) -> DirectoryError {
    DirectoryError::Shape {
        member: member.to_owned(),
    }
}

// ---------------------------------------------------------------------------------------------
// Issuance and presentation

/// Whether a `Debug` string shows `bytes`: their first four as a derived array print
/// (`[1, 2, 3, 4, …`) or in hex.
fn shows(debug: &str, bytes: &[u8]) -> bool {
    let list = format!("{:?}", &bytes[..4]);
    let hex: String = bytes[..4].iter().map(|b| format!("{b:02x}")).collect();
    debug.contains(list.trim_end_matches(']')) || debug.contains(&hex)
}

#[test]
fn issue_present_verify() {
    let t = issue(0);
    assert_eq!(
        (t.fact(), t.floor(), t.month()),
        (over(16), Floor::Level3, month())
    );
    assert_eq!(t.token().nonce, token_nonce_for(&t.holder_key()));
    assert_eq!(
        t.token().challenge_digest,
        TokenChallenge::ageband(ISSUER).unwrap().digest()
    );
    let debug = format!("{t:?}");
    assert!(!shows(&debug, &t.expose_holder_secret()[..]), "{debug}");
    assert!(!shows(&debug, &t.token().nonce), "{debug}");
    let token_debug = format!("{:?}", t.token());
    assert!(!shows(&token_debug, &t.token().nonce), "{token_debug}");
    assert!(!shows(&token_debug, &t.token().authenticator), "{token_debug}");
    assert!(
        debug.starts_with("BlindToken { fact: age_over_16, floor: Level3, month: 2026-12"),
        "{debug}"
    );

    assert!(t.is_live(now()));
    assert!(!t.is_live(month().not_after()));
    let p = t.present(NONCE, AUDIENCE).unwrap();
    let debug = format!("{p:?}");
    for secret in [
        &p.token.nonce[..],
        &p.token.authenticator,
        &p.holder_key,
        &p.binding_sig,
    ] {
        assert!(!shows(&debug, secret), "{debug}");
    }
    let compact = p.encode();
    assert_eq!(compact.len(), 604);
    assert_eq!(BlindPresentation::parse(&compact).unwrap(), p);
    let facts = verify(&compact, &query(over(16), Floor::Level3), now()).unwrap();
    assert_eq!(facts.fact, over(16));
    assert_eq!(facts.floor, Floor::Level3);
    assert_eq!(facts.issuer, ISSUER);
    assert_eq!(facts.month, month());
    assert_eq!(facts.assurance(), ageband_core::age::AssuranceLevel::Standard);
    // A level-3 token answers a level-2 question; live on the month's first and last second.
    assert!(verify(&compact, &query(over(16), Floor::Level2), now()).is_ok());
    assert!(verify(&compact, &query(over(16), Floor::Level3), month().not_before()).is_ok());
    assert!(verify(&compact, &query(over(16), Floor::Level3), month().not_after() - 1).is_ok());

    // The header form carries the same presentation.
    let header = p.to_private_token_header();
    assert!(header.starts_with("PrivateToken token=\""));
    assert_eq!(BlindPresentation::parse_private_token_header(&header).unwrap(), p);

    // Level-2 key: over_13.
    let p13 = presentation(1).encode();
    let facts = verify(&p13, &query(over(13), Floor::Level2), now()).unwrap();
    assert_eq!((facts.fact, facts.floor), (over(13), Floor::Level2));
    assert_eq!(facts.assurance(), ageband_core::age::AssuranceLevel::Basic);
}

/// What the issuer sees of an issuance (the request and its response) and what the verifier
/// sees of the presentation share no value: no 8-byte window of the presentation occurs in the
/// issuer's view. (Only per-key values — the key id's last byte, the key itself — are common.)
#[test]
fn issuer_and_verifier_views_share_no_value() {
    let dir = directory();
    let key = &dir.keys()[0];
    let challenge = TokenChallenge::ageband(ISSUER).unwrap();
    let req = HolderTokenRequest::new(&mut SystemRng, key, &challenge).unwrap();
    let request_bytes = req.request().to_bytes();
    let resp = token::sign_token_request(&issuer_keys()[0], &mut SystemRng, req.request()).unwrap();
    let mut issuer_view = request_bytes.to_vec();
    issuer_view.extend_from_slice(&resp.to_bytes());
    let p = req
        .finalize(key, &resp)
        .unwrap()
        .present(NONCE, AUDIENCE)
        .unwrap();
    let mut verifier_view = p.token.to_bytes().to_vec();
    verifier_view.extend_from_slice(&p.holder_key);
    verifier_view.extend_from_slice(&p.binding_sig);
    let windows: std::collections::HashSet<&[u8]> = issuer_view.windows(8).collect();
    for w in verifier_view.windows(8) {
        assert!(!windows.contains(w), "shared value {w:02x?}");
    }
    // The check can fail: the unblinded token input is in the verifier's view, and would be
    // found if the issuer saw it.
    let unblinded: std::collections::HashSet<&[u8]> = verifier_view.windows(8).collect();
    assert!(p.token.input().windows(8).all(|w| unblinded.contains(w)));
}

#[test]
fn spent_twice_is_refused() {
    let compact = presentation(0).encode();
    let issuer = issuer();
    let q = query(over(16), Floor::Level3);
    let mut spent = MemorySpentSet::default();
    assert!(ageband_blind::profile::verify_blind(&compact, &issuer, &q, now(), &mut spent).is_ok());
    let err = ageband_blind::profile::verify_blind(&compact, &issuer, &q, now() + 1, &mut spent).unwrap_err();
    assert_eq!(err, BlindVerifyError::TokenSpent);
    assert_eq!(err.kind(), "token_spent");
    // Re-bound to another nonce, it is still the same token.
    assert_eq!(spent.len(), 1);
    // A full set fails closed.
    let mut tiny = MemorySpentSet::new(1, 4);
    assert!(tiny.spend([0; 32], [0; 32], u64::MAX));
    let other = presentation(0).encode();
    let err = ageband_blind::profile::verify_blind(&other, &issuer, &q, now(), &mut tiny).unwrap_err();
    assert_eq!(err.kind(), "spent_set_full");
    // A replay into a full set is still reported as a replay.
    let mut one = MemorySpentSet::new(1, 1);
    assert!(ageband_blind::profile::verify_blind(&compact, &issuer, &q, now(), &mut one).is_ok());
    let err = ageband_blind::profile::verify_blind(&compact, &issuer, &q, now(), &mut one).unwrap_err();
    assert_eq!(err, BlindVerifyError::TokenSpent);
    // Partitions go when their key's month is over.
    spent.expire(month().not_after());
    assert!(spent.is_empty());
}

#[test]
fn verifier_rejections() {
    let issuer = issuer();
    let q = query(over(16), Floor::Level3);
    let p = presentation(0);
    let compact = p.encode();
    let check = |s: &str, q: &BlindQuery<'_>, at: u64| {
        ageband_blind::profile::verify_blind(s, &issuer, q, at, &mut MemorySpentSet::default())
    };
    let kind = |s: &str, q: &BlindQuery<'_>, at: u64| check(s, q, at).unwrap_err().kind();

    // Binding over another nonce or audience.
    let other_nonce = BlindQuery {
        verifier_nonce: b"another-verifier-nonce",
        ..q
    };
    assert_eq!(kind(&compact, &other_nonce, now()), "bad_binding");
    let other_aud = BlindQuery {
        audience: "https://other.example",
        ..q
    };
    assert_eq!(kind(&compact, &other_aud, now()), "bad_binding");
    // The verifier's own query out of range.
    let short = BlindQuery {
        verifier_nonce: &NONCE[..15],
        ..q
    };
    assert_eq!(kind(&compact, &short, now()), "invalid_query");
    let no_aud = BlindQuery { audience: "", ..q };
    assert_eq!(kind(&compact, &no_aud, now()), "invalid_query");
    let long = [7u8; 65];
    let long_nonce = BlindQuery {
        verifier_nonce: &long,
        ..q
    };
    assert_eq!(kind(&compact, &long_nonce, now()), "invalid_query");
    let long_aud = "a".repeat(513);
    let long_aud = BlindQuery {
        audience: &long_aud,
        ..q
    };
    assert_eq!(kind(&compact, &long_aud, now()), "invalid_query");
    // The query is checked before the presentation is parsed.
    assert_eq!(kind("", &short, now()), "invalid_query");

    // Binding signature by another key, for the same message: the token's key stays.
    let (other, other_point) = other_holder();
    let msg = binding_message(NONCE, AUDIENCE, &p.token.to_bytes()).unwrap();
    let sig: Signature = other.sign(&msg);
    let mut forged = p.clone();
    forged.binding_sig = sig.to_bytes().into();
    assert_eq!(kind(&forged.encode(), &q, now()), "bad_binding");
    // ... and with the other key named as holder key: its hash is not the token nonce.
    forged.holder_key = other_point;
    assert_eq!(kind(&forged.encode(), &q, now()), "nonce_mismatch");

    // A token for a nonce that is not the hash of the holder key presented.
    let unbound = token_with_nonce([0x42; 32], &other, other_point);
    assert_eq!(kind(&unbound.encode(), &q, now()), "nonce_mismatch");
    // A correctly derived nonce for bytes that are not a P-256 point.
    let mut not_a_point = [0xffu8; 33];
    not_a_point[0] = 0x02;
    let bad_point = token_with_nonce(token_nonce_for(&not_a_point), &other, not_a_point);
    assert_eq!(kind(&bad_point.encode(), &q, now()), "bad_holder_key");
    let mut bad_prefix = other_point;
    bad_prefix[0] = 0x04;
    let bad_point = token_with_nonce(token_nonce_for(&bad_prefix), &other, bad_prefix);
    assert_eq!(kind(&bad_point.encode(), &q, now()), "bad_holder_key");

    // Key not live: before and after its month.
    assert_eq!(kind(&compact, &q, month().not_before() - 1), "key_not_live");
    assert_eq!(kind(&compact, &q, month().not_after()), "key_not_live");
    // Wrong fact, floor too low.
    assert_eq!(
        kind(&compact, &query(over(18), Floor::Level2), now()),
        "wrong_fact"
    );
    assert_eq!(
        kind(&compact, &query(under(16), Floor::Level2), now()),
        "wrong_fact"
    );
    let p13 = presentation(1).encode();
    assert_eq!(kind(&p13, &query(over(16), Floor::Level2), now()), "wrong_fact");
    assert_eq!(
        kind(&p13, &query(over(13), Floor::Level3), now()),
        "floor_too_low"
    );

    // A token from a key that is not in the directory (the RFC 9578 vector key).
    let foreign = foreign_key();
    let digest = TokenChallenge::ageband(ISSUER).unwrap().digest();
    let holder = issue(0);
    let (req, pending) =
        token::token_request(foreign.public_key(), &mut SystemRng, holder.token().nonce, digest).unwrap();
    let resp = token::sign_token_request(&foreign, &mut SystemRng, &req).unwrap();
    let foreign_token = pending.finalize(foreign.public_key(), &resp).unwrap();
    // Same nonce as the holder's own token, so only the key differs; the lookup fails first.
    let mut fp = holder.present(NONCE, AUDIENCE).unwrap();
    fp.token = foreign_token;
    assert_eq!(kind(&fp.encode(), &q, now()), "unknown_key");

    // A token under another issuer's challenge.
    let other_challenge = TokenChallenge::ageband("other.example").unwrap();
    let dir = directory();
    let req = HolderTokenRequest::new(&mut SystemRng, &dir.keys()[0], &other_challenge).unwrap();
    let resp = token::sign_token_request(&issuer_keys()[0], &mut SystemRng, req.request()).unwrap();
    let t = req.finalize(&dir.keys()[0], &resp).unwrap();
    assert_eq!(
        kind(&t.present(NONCE, AUDIENCE).unwrap().encode(), &q, now()),
        "wrong_challenge"
    );

    // Tampering with each field of the token.
    let bytes = p.token.to_bytes();
    for (at, expect) in [
        (2, "bad_token_signature"),   // nonce
        (40, "wrong_challenge"),      // challenge digest
        (70, "unknown_key"),          // token key id
        (200, "bad_token_signature"), // authenticator
        (353, "bad_token_signature"),
    ] {
        let mut b = bytes;
        b[at] ^= 0x01;
        let mut t = p.clone();
        t.token = Token::from_bytes(&b).unwrap();
        assert_eq!(kind(&t.encode(), &q, now()), expect, "byte {at}");
    }
    // Tampering with the binding signature and the holder key.
    let mut t = p.clone();
    t.binding_sig[10] ^= 0x80;
    assert_eq!(kind(&t.encode(), &q, now()), "bad_binding");
    let mut t = p.clone();
    t.holder_key[20] ^= 0x01;
    assert_eq!(kind(&t.encode(), &q, now()), "nonce_mismatch");

    // The untouched presentation still verifies.
    assert!(check(&compact, &q, now()).is_ok());
}

#[test]
fn malformed_encodings() {
    let p = presentation(0);
    let compact = p.encode();
    let (t, rest) = compact.split_once('.').unwrap();
    let (k, s) = rest.split_once('.').unwrap();
    let b64 = |b: &[u8]| ageband_core::b64::encode(b);
    let mut wrong_type = p.token.to_bytes().to_vec();
    wrong_type[1] = 0x01;
    let mut long = p.token.to_bytes().to_vec();
    long.push(0);
    let cases: Vec<(String, &str)> = vec![
        (String::new(), "malformed"),
        (format!("{t}.{k}"), "malformed"),
        (format!("{compact}.{s}"), "malformed"),
        (format!("{t}.{k}.{s}="), "malformed"),
        (format!("{t}.{k}={s}"), "malformed"),
        (format!("{t}..{s}"), "malformed"),
        (format!("{t}.{}.{s}", &k[..43]), "malformed"),
        (format!("{t}.{k}.{}", &s[..85]), "malformed"),
        (format!("{t}.{k}.{}", b64(&[0u8; 65])), "malformed"),
        (format!("{t}.{}.{s}", b64(&[2u8; 32])), "malformed"),
        (format!("{}+.{k}.{s}", &t[..471]), "malformed"),
        (format!("{t}.{k}.{s}{}", " ".repeat(500)), "malformed"),
        (format!("{}.{k}.{s}", b64(&wrong_type)), "wrong_token_type"),
        (format!("{}.{k}.{s}", b64(&long)), "wrong_token_length"),
        (
            format!("{}.{k}.{s}", b64(&p.token.to_bytes()[..353])),
            "wrong_token_length",
        ),
        (format!("{}.{k}.{s}", b64(&[0u8, 2])), "wrong_token_length"),
        (format!("{}.{k}.{s}", b64(&[0u8; 400])), "wrong_token_type"),
    ];
    for (input, expect) in cases {
        let err = verify(&input, &query(over(16), Floor::Level3), now()).unwrap_err();
        assert_eq!(err.kind(), expect, "{input}");
    }
    assert_eq!(
        BlindPresentation::parse(&format!("{}.{k}.{s}", b64(&[0u8; 600]))),
        Err(PresentationError::Malformed),
        "over the decode cap"
    );
}

#[test]
fn private_token_header() {
    let p = presentation(0);
    let h = p.to_private_token_header();
    let token = ageband_core::b64::encode(p.token.to_bytes());
    let key = ageband_core::b64::encode(p.holder_key);
    let sig = ageband_core::b64::encode(p.binding_sig);
    assert_eq!(
        h,
        format!("PrivateToken token=\"{token}\", binding=\"{key}.{sig}\"")
    );
    let ok = [
        format!("privatetoken binding=\"{key}.{sig}\",token={token}"),
        format!("PrivateToken token=\"{token}\" , binding=\"{key}.{sig}\", ext=\"x\""),
        format!("PrivateToken TOKEN=\"{token}\",Binding=\"{key}.{sig}\""),
    ];
    for h in ok {
        assert_eq!(
            BlindPresentation::parse_private_token_header(&h).unwrap(),
            p,
            "{h}"
        );
    }
    let bad = [
        format!("Bearer token=\"{token}\", binding=\"{key}.{sig}\""),
        format!("PrivateToken token=\"{token}\""),
        format!("PrivateToken binding=\"{key}.{sig}\""),
        format!("PrivateToken token=\"{token}\", token=\"{token}\", binding=\"{key}.{sig}\""),
        format!("PrivateToken token=\"{token}\", binding=\"{key}{sig}\""),
        format!("PrivateToken token=\"{token}, binding=\"{key}.{sig}\""),
        format!("PrivateToken token=\"{token}\", binding=\"{key}.{sig}\\\"\""),
        format!("PrivateToken token=\"{token}\", binding=\"{key}.{sig}\", a=1, b=2, c=3, d=4, e=5, f=6, g=7"),
        format!(
            "PrivateToken token=\"{token}\", binding=\"{key}.{sig}\", x=\"{}\"",
            "a".repeat(2000)
        ),
        format!("PrivateToken token=\"{token}\", =\"{key}.{sig}\""),
        format!("PrivateToken token=\"{token}\", binding=\"{key}.{sig}=\""),
        "PrivateToken".to_owned(),
    ];
    for h in bad {
        assert_eq!(
            BlindPresentation::parse_private_token_header(&h),
            Err(PresentationError::Malformed),
            "{h}"
        );
    }
    // The header form verifies like the compact form.
    let parsed = BlindPresentation::parse_private_token_header(&h).unwrap();
    let facts = ageband_blind::profile::verify_presentation(
        &parsed,
        &issuer(),
        &query(over(16), Floor::Level3),
        now(),
        &mut MemorySpentSet::default(),
    )
    .unwrap();
    assert_eq!(facts.fact, over(16));
}

#[test]
fn wallet_side_checks() {
    let dir = directory();
    let challenge = TokenChallenge::ageband(ISSUER).unwrap();
    // Only ageband's challenge form.
    let mut with_origin = challenge.clone();
    with_origin.origin_info = "origin.example".into();
    assert_eq!(
        HolderTokenRequest::new(&mut SystemRng, &dir.keys()[0], &with_origin).unwrap_err(),
        ProfileError::Challenge
    );
    // Fresh holder key per request: different nonces, different blinded messages.
    let r1 = HolderTokenRequest::new(&mut SystemRng, &dir.keys()[0], &challenge).unwrap();
    let r2 = HolderTokenRequest::new(&mut SystemRng, &dir.keys()[0], &challenge).unwrap();
    assert_ne!(r1.request(), r2.request());
    assert_eq!(r1.slot(), (over(16), Floor::Level3, month()));
    let debug = format!("{r1:?}");
    assert_eq!(
        debug,
        "HolderTokenRequest { fact: age_over_16, floor: Level3, month: 2026-12, .. }"
    );
    // Finalize against another slot's key, or with a corrupted response.
    let resp = token::sign_token_request(&issuer_keys()[0], &mut SystemRng, r1.request()).unwrap();
    assert_eq!(
        r1.finalize(&dir.keys()[1], &resp).unwrap_err(),
        ProfileError::WrongKey
    );
    let mut bad = resp.clone();
    bad.blind_sig[17] ^= 1;
    let err = r2.finalize(&dir.keys()[0], &bad).unwrap_err();
    assert_eq!(err.kind(), "blind_failure");
    // A response by the right slot but another key (issuer misconfiguration) does not verify.
    // (A blinded message under key 0 is at or above key 1's modulus about as often as not: draw
    // requests until key 1 signs one.)
    let (r3, other) = (0..64)
        .find_map(|_| {
            let r3 = HolderTokenRequest::new(&mut SystemRng, &dir.keys()[0], &challenge).unwrap();
            let other = token::sign_token_request(
                &issuer_keys()[1],
                &mut SystemRng,
                &token::TokenRequest {
                    truncated_token_key_id: issuer_keys()[1].public_key().token_key_id()[31],
                    blinded_msg: r3.request().blinded_msg,
                },
            )
            .ok()?;
            Some((r3, other))
        })
        .unwrap();
    assert_eq!(
        r3.finalize(&dir.keys()[0], &other).unwrap_err().kind(),
        "blind_failure"
    );

    // Storage round trip: the token and its holder secret.
    let t = issue(0);
    let secret = t.expose_holder_secret();
    let restored =
        BlindToken::from_parts(t.token().clone(), secret.as_ref(), t.fact(), t.floor(), t.month()).unwrap();
    assert_eq!(restored.holder_key(), t.holder_key());
    let other_secret = [9u8; 32];
    assert_eq!(
        BlindToken::from_parts(t.token().clone(), &other_secret, t.fact(), t.floor(), t.month()).unwrap_err(),
        ProfileError::HolderKey
    );
    assert_eq!(
        BlindToken::from_parts(t.token().clone(), &[0u8; 32], t.fact(), t.floor(), t.month()).unwrap_err(),
        ProfileError::HolderKey
    );
    // Presentation bounds.
    assert_eq!(
        restored.present(&[0; 15], AUDIENCE).unwrap_err(),
        ProfileError::Request
    );
    assert_eq!(
        t.present(NONCE, &"a".repeat(513)).unwrap_err(),
        ProfileError::Request
    );
}

#[test]
fn challenge_digest_binds_the_issuer_name() {
    let a = TokenChallenge::ageband("issuer.example").unwrap();
    let b = TokenChallenge::ageband("issuer.example:8443").unwrap();
    assert_ne!(a.digest(), b.digest());
    assert_eq!(
        BlindIssuer::new(ISSUER, directory()).unwrap().challenge_digest(),
        a.digest()
    );
    assert_eq!(
        BlindIssuer::new("Issuer.Example", directory()).unwrap_err(),
        ChallengeError::IssuerName
    );
}
