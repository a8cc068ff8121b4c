//! Replays `specs/vectors/blind/*.json` (blind-profile.md §14) and checks that regenerating
//! them from their fixed inputs gives the same bytes. `AGEBAND_WRITE_VECTORS=1` rewrites them.
//!
//! Determinism: the issuer key is the RFC 9578 appendix A.2 key; the wallet's holder key, PSS
//! salt and blinding factor come from a SHA-256 counter-mode generator seeded with the vector's
//! name (a test-only generator, never for production); RSA blind signatures with a fixed input are
//! deterministic, and the holder signature is RFC 6979.

#![allow(clippy::unwrap_used)]

use std::convert::Infallible;
use std::path::PathBuf;

use ageband_blind::profile::{
    BlindFact, BlindIssuer, BlindPresentation, BlindQuery, BlindToken, Directory, DirectoryKey, Floor,
    HolderTokenRequest, MemorySpentSet, Month, TokenChallenge, binding_message, token_nonce_for,
    verify_blind,
};
use ageband_blind::rand_core::{TryCryptoRng, TryRng};
use ageband_blind::token::{self, Token};
use ageband_blind::{PublicKey, SecretKey, SystemRng};
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};
use ring::digest::{SHA256, digest};
use serde_json::{Value, json};

const ISSUER: &str = "issuer.example";
const AUDIENCE: &str = "https://platform.example";
const NONCE: &[u8] = b"0123456789abcdef0123456789abcdef";

/// SHA-256(seed ‖ counter) blocks. Test vectors only.
struct Drbg {
    seed: Vec<u8>,
    counter: u64,
    buf: Vec<u8>,
}

impl Drbg {
    fn new(seed: &str) -> Self {
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

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn issuer_key() -> SecretKey {
    let v: Value = serde_json::from_str(include_str!(
        "../../specs/vectors/external/rfc9578_type2_token_vectors.json"
    ))
    .unwrap();
    let pem = String::from_utf8(unhex(v[0]["skS"].as_str().unwrap())).unwrap();
    SecretKey::from_pkcs8_pem(&pem).unwrap()
}

/// A well-formed RSA-2048 public key nobody can sign for (SHA-256 counter mode over `seed`).
fn filler_key(seed: u32) -> PublicKey {
    let mut n = Vec::new();
    let mut ctr = 0u32;
    while n.len() < 256 {
        let mut input = b"ageband filler".to_vec();
        input.extend_from_slice(&seed.to_be_bytes());
        input.extend_from_slice(&ctr.to_be_bytes());
        n.extend_from_slice(digest(&SHA256, &input).as_ref());
        ctr += 1;
    }
    n.truncate(256);
    n[0] |= 0xc0;
    n[255] |= 1;
    PublicKey::from_components(&n, &[1, 0, 1]).unwrap()
}

fn month() -> Month {
    Month::parse("2026-12").unwrap()
}

fn over(n: u8) -> BlindFact {
    BlindFact::over(n).unwrap()
}

/// All 12 slots of 2026-12; the RFC key sits in `slot` (or nowhere if `None`), fillers elsewhere.
fn directory(slot: Option<(BlindFact, Floor)>) -> Directory {
    let sk = issuer_key();
    let mut keys = Vec::new();
    let mut seed = 0;
    for fact in BlindFact::all() {
        for floor in Floor::ALL {
            seed += 1;
            let key = if slot == Some((fact, floor)) {
                sk.public_key().clone()
            } else {
                filler_key(seed)
            };
            keys.push(DirectoryKey::new(fact, floor, month(), key).unwrap());
        }
    }
    Directory::new("https://issuer.example/token-request", keys).unwrap()
}

fn issue(name: &str, dir: &Directory, slot: (BlindFact, Floor), issuer_name: &str) -> BlindToken {
    let key = dir.key_for(slot.0, slot.1, month()).unwrap();
    let challenge = TokenChallenge::ageband(issuer_name).unwrap();
    let req = HolderTokenRequest::new(&mut Drbg::new(name), key, &challenge).unwrap();
    let resp = token::sign_token_request(&issuer_key(), &mut SystemRng, req.request()).unwrap();
    req.finalize(key, &resp).unwrap()
}

/// A token signed under the directory's RFC key for an arbitrary nonce, bound by `holder`.
fn unbound_token(
    name: &str,
    dir: &Directory,
    nonce: [u8; 32],
    holder: &SigningKey,
    holder_key: [u8; 33],
) -> String {
    let pk = dir
        .key_for(over(18), Floor::Level3, month())
        .unwrap()
        .public_key();
    let digest = TokenChallenge::ageband(ISSUER).unwrap().digest();
    let (req, pending) = token::token_request(pk, &mut Drbg::new(name), nonce, digest).unwrap();
    let resp = token::sign_token_request(&issuer_key(), &mut SystemRng, &req).unwrap();
    let token = pending.finalize(pk, &resp).unwrap();
    let msg = binding_message(NONCE, AUDIENCE, &token.to_bytes()).unwrap();
    let sig: Signature = holder.sign(&msg);
    BlindPresentation {
        token,
        holder_key,
        binding_sig: sig.to_bytes().into(),
    }
    .encode()
}

fn other_holder() -> (SigningKey, [u8; 33]) {
    let k = SigningKey::from_slice(&[7u8; 32]).unwrap();
    let p: [u8; 33] = k
        .verifying_key()
        .to_encoded_point(true)
        .as_bytes()
        .try_into()
        .unwrap();
    (k, p)
}

struct Case {
    name: &'static str,
    description: &'static str,
    directory: String,
    fact: BlindFact,
    min_floor: Floor,
    verifier_nonce: Vec<u8>,
    audience: &'static str,
    now: u64,
    presentation: String,
    spent_before: bool,
    expect: &'static str,
}

#[allow(clippy::too_many_lines)]
fn cases() -> Vec<Case> {
    let l3 = (over(18), Floor::Level3);
    let dir = directory(Some(l3));
    let dir_json = dir.to_json();
    let now = month().not_before() + 15 * 86_400 + 12 * 3600;
    let present = |name: &str| issue(name, &dir, l3, ISSUER).present(NONCE, AUDIENCE).unwrap();
    let base =
        |name: &'static str, description: &'static str, presentation: String, expect: &'static str| Case {
            name,
            description,
            directory: dir_json.clone(),
            fact: over(18),
            min_floor: Floor::Level3,
            verifier_nonce: NONCE.to_vec(),
            audience: AUDIENCE,
            now,
            presentation,
            spent_before: false,
            expect,
        };
    let replace_token = |p: &BlindPresentation, bytes: &[u8]| {
        let enc = p.encode();
        let (_, rest) = enc.split_once('.').unwrap();
        format!("{}.{rest}", ageband_core::b64::encode(bytes))
    };
    let mut out = Vec::new();

    out.push(base(
        "001_valid",
        "age_over_18 at floor 3, live key, correct binding: accepted",
        present("001").encode(),
        "ok",
    ));
    let mut c = base(
        "002_valid_floor3_for_floor2",
        "a floor-3 token answers a floor-2 question",
        present("002").encode(),
        "ok",
    );
    c.min_floor = Floor::Level2;
    out.push(c);

    let p = present("003");
    let mut b = p.token.to_bytes().to_vec();
    b[1] = 0x01;
    out.push(base(
        "003_wrong_token_type",
        "token type 0x0001 instead of 0x0002",
        replace_token(&p, &b),
        "wrong_token_type",
    ));
    let p = present("004");
    let b = &p.token.to_bytes()[..353];
    out.push(base(
        "004_wrong_token_length",
        "token truncated to 353 bytes",
        replace_token(&p, b),
        "wrong_token_length",
    ));

    // The RFC key is not in this directory: its slot holds a filler.
    let mut c = base(
        "005_unknown_key",
        "the token's key is not in the directory",
        present("005").encode(),
        "unknown_key",
    );
    c.directory = directory(None).to_json();
    out.push(c);
    let mut c = base(
        "006_retired_key",
        "presented at the first second after the key's month (not-after is exclusive)",
        present("006").encode(),
        "key_not_live",
    );
    c.now = month().not_after();
    out.push(c);
    let mut c = base(
        "007_key_not_yet_live",
        "presented one second before the key's month",
        present("007").encode(),
        "key_not_live",
    );
    c.now = month().not_before() - 1;
    out.push(c);
    let mut c = base(
        "008_wrong_fact",
        "asked age_over_16, token is age_over_18",
        present("008").encode(),
        "wrong_fact",
    );
    c.fact = over(16);
    out.push(c);
    let l2 = (over(18), Floor::Level2);
    let dir2 = directory(Some(l2));
    let mut c = base(
        "009_floor_too_low",
        "asked floor 3, the token's key is floor 2",
        issue("009", &dir2, l2, ISSUER)
            .present(NONCE, AUDIENCE)
            .unwrap()
            .encode(),
        "floor_too_low",
    );
    c.directory = dir2.to_json();
    out.push(c);

    let p = present("010");
    let mut b = p.token.to_bytes();
    b[300] ^= 0x01;
    out.push(base(
        "010_bad_token_signature",
        "one bit of the authenticator flipped",
        replace_token(&p, &b),
        "bad_token_signature",
    ));
    out.push(base(
        "011_wrong_challenge",
        "token issued under another issuer name's challenge",
        issue("011", &dir, l3, "other.example")
            .present(NONCE, AUDIENCE)
            .unwrap()
            .encode(),
        "wrong_challenge",
    ));
    let enc = present("012").encode();
    let (t, rest) = enc.split_once('.').unwrap();
    let (k, _) = rest.split_once('.').unwrap();
    out.push(base(
        "012_missing_binding",
        "no binding signature",
        format!("{t}.{k}"),
        "malformed",
    ));
    let mut c = base(
        "013_wrong_verifier_nonce",
        "binding over another verifier nonce",
        present("013").encode(),
        "bad_binding",
    );
    c.verifier_nonce = b"another-nonce-0123456789".to_vec();
    out.push(c);
    let mut c = base(
        "014_wrong_audience",
        "binding for another audience",
        present("014").encode(),
        "bad_binding",
    );
    c.audience = "https://other.example";
    out.push(c);

    // Binding by another key: the other key's signature over the right message, with the
    // token's holder key kept (bad_binding) or replaced by the other key (nonce_mismatch).
    let p = present("015");
    let (other, other_point) = other_holder();
    let sig: Signature = other.sign(&binding_message(NONCE, AUDIENCE, &p.token.to_bytes()).unwrap());
    let mut q = p.clone();
    q.binding_sig = sig.to_bytes().into();
    out.push(base(
        "015_binding_by_other_key",
        "binding signed by a key that is not the token's holder key",
        q.encode(),
        "bad_binding",
    ));
    q.holder_key = other_point;
    out.push(base(
        "016_other_holder_key",
        "another holder key and its valid binding: its hash is not the token nonce",
        q.encode(),
        "nonce_mismatch",
    ));
    out.push(base(
        "017_nonce_not_from_holder_key",
        "a validly signed token whose nonce is not derived from any holder key",
        unbound_token("017", &dir, [0x42; 32], &other, other_point),
        "nonce_mismatch",
    ));
    let mut not_a_point = [0xffu8; 33];
    not_a_point[0] = 0x02;
    out.push(base(
        "018_holder_key_not_a_point",
        "the token nonce is derived from 33 bytes that are not a P-256 point",
        unbound_token("018", &dir, token_nonce_for(&not_a_point), &other, not_a_point),
        "bad_holder_key",
    ));
    let mut c = base(
        "019_replayed_token",
        "the same presentation a second time",
        present("019").encode(),
        "token_spent",
    );
    c.spent_before = true;
    out.push(c);

    // Directory rejections.
    let edited = |edit: &dyn Fn(&mut Value)| {
        let mut v: Value = serde_json::from_str(&dir_json).unwrap();
        edit(&mut v);
        v.to_string()
    };
    let mut c = base(
        "020_directory_two_keys_one_slot",
        "the directory lists a second key for (age_over_18, 3, 2026-12): refused before any token",
        present("020").encode(),
        "duplicate_slot",
    );
    c.directory = edited(&|v| {
        let keys = v["token-keys"].as_array_mut().unwrap();
        let mut dup = keys[0].clone();
        dup["token-key"] = json!(ageband_core::b64::encode(filler_key(999).to_spki()));
        dup["ageband-fact"] = json!("age_over_18");
        dup["ageband-floor"] = json!(3);
        keys.push(dup);
    });
    out.push(c);
    let mut c = base(
        "021_directory_wrong_bounds",
        "a key's ageband-not-after is one second past its month",
        present("021").encode(),
        "bad_bounds",
    );
    c.directory = edited(&|v| {
        let x = v["token-keys"][0]["ageband-not-after"].as_u64().unwrap();
        v["token-keys"][0]["ageband-not-after"] = json!(x + 1);
    });
    out.push(c);
    let mut c = base(
        "022_directory_key_twice",
        "one key listed for two slots",
        present("022").encode(),
        "duplicate_key",
    );
    c.directory = edited(&|v| {
        let k = v["token-keys"][0]["token-key"].clone();
        v["token-keys"][1]["token-key"] = k;
    });
    out.push(c);
    out
}

fn to_json(c: &Case) -> String {
    let v = json!({
        "description": c.description,
        "issuer_name": ISSUER,
        "directory": c.directory,
        "query": {
            "fact": c.fact.name(),
            "min_floor": c.min_floor.number(),
            "verifier_nonce": hex(&c.verifier_nonce),
            "audience": c.audience,
        },
        "now": c.now,
        "presentation": c.presentation,
        "spent_before": c.spent_before,
        "expect": c.expect,
    });
    let mut s = serde_json::to_string_pretty(&v).unwrap();
    s.push('\n');
    s
}

/// Runs one vector file; returns the outcome kind.
fn replay(text: &str) -> String {
    let v: Value = serde_json::from_str(text).unwrap();
    let dir = match Directory::parse(v["directory"].as_str().unwrap().as_bytes()) {
        Ok(d) => d,
        Err(e) => return e.kind().to_owned(),
    };
    let issuer = BlindIssuer::new(v["issuer_name"].as_str().unwrap(), dir).unwrap();
    let q = &v["query"];
    let nonce = unhex(q["verifier_nonce"].as_str().unwrap());
    let query = BlindQuery {
        fact: BlindFact::from_name(q["fact"].as_str().unwrap()).unwrap(),
        min_floor: Floor::from_number(q["min_floor"].as_u64().unwrap()).unwrap(),
        verifier_nonce: &nonce,
        audience: q["audience"].as_str().unwrap(),
    };
    let now = v["now"].as_u64().unwrap();
    let p = v["presentation"].as_str().unwrap();
    let mut spent = MemorySpentSet::default();
    if v["spent_before"].as_bool().unwrap() {
        verify_blind(p, &issuer, &query, now, &mut spent).unwrap();
    }
    match verify_blind(p, &issuer, &query, now, &mut spent) {
        Ok(facts) => {
            assert_eq!(facts.fact, query.fact);
            assert_eq!(facts.issuer, ISSUER);
            "ok".to_owned()
        }
        Err(e) => e.kind().to_owned(),
    }
}

fn normalized(text: &str) -> Value {
    let mut v: Value = serde_json::from_str(text).unwrap();
    let d: Value = serde_json::from_str(v["directory"].as_str().unwrap()).unwrap();
    v["directory"] = d;
    v
}

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../specs/vectors/blind")
}

#[test]
fn vectors_replay_and_regenerate_identically() {
    let cases = cases();
    let write = std::env::var_os("AGEBAND_WRITE_VECTORS").is_some();
    if write {
        std::fs::create_dir_all(dir()).unwrap();
    }
    for c in &cases {
        let path = dir().join(format!("{}.json", c.name));
        let generated = to_json(c);
        assert_eq!(replay(&generated), c.expect, "{}", c.name);
        if write {
            std::fs::write(&path, &generated).unwrap();
        }
        let stored = std::fs::read_to_string(&path).unwrap();
        // Compared as JSON values (the directory text parsed too), so that member order, which
        // serde_json's `preserve_order` feature would change, does not matter.
        assert_eq!(
            normalized(&stored),
            normalized(&generated),
            "{} is not reproducible from its inputs",
            c.name
        );
        assert_eq!(replay(&stored), c.expect, "{}", c.name);
    }
    // No stray files.
    let mut names: Vec<String> = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    let expected: Vec<String> = cases.iter().map(|c| format!("{}.json", c.name)).collect();
    assert_eq!(names, expected);
}

#[test]
fn the_generator_is_deterministic() {
    let a = issue(
        "x",
        &directory(Some((over(18), Floor::Level3))),
        (over(18), Floor::Level3),
        ISSUER,
    );
    let b = issue(
        "x",
        &directory(Some((over(18), Floor::Level3))),
        (over(18), Floor::Level3),
        ISSUER,
    );
    assert_eq!(a.token(), b.token());
    let t: &Token = a.token();
    assert_eq!(t.nonce, token_nonce_for(&a.holder_key()));
}
