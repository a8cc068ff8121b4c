//! The vector generator: a seeded RNG, a fixed clock and deterministic (RFC 6979) ES256
//! keys, so that `cargo run -p ageband-core --example gen_vectors` rewrites
//! `specs/vectors/{issue,present,verify}/` byte for byte, and `tests/vectors.rs` fails when
//! a file is stale.

#![allow(dead_code, clippy::unwrap_used)]

use std::collections::BTreeMap;

use ageband_core::age::{AssuranceLevel, Date, Source, Threshold};
use ageband_core::b64;
use ageband_core::jwk::{PublicJwk, jwk_set};
use ageband_core::jws::{SignError, Signer, sign_compact};
use ageband_core::profile::{self, CredentialTemplate};
use ageband_core::rng::{Rng, RngError};
use ageband_core::sdjwt::{self, Disclosure};
use p256::ecdsa::signature::Signer as _;
use serde_json::{Map, Value, json};

pub const ISSUER: &str = "https://issuer.ageband.example";
pub const AUD: &str = "redirect_uri:https://platform.example/ageband/response";
pub const NONCE: &str = "ZqFn3xkV0m1Ew0x6yYQZbA";
/// Issuance day 2026-07-01; the presentation happens an hour later.
pub const IAT_DAY: &str = "2026-07-01";
pub const NOW: u64 = 1_782_867_600;

/// SHA-256 in counter mode over a seed: deterministic bytes for vectors only.
pub struct SeededRng {
    seed: Vec<u8>,
    counter: u64,
}

impl SeededRng {
    pub fn new(seed: &str) -> Self {
        SeededRng {
            seed: seed.as_bytes().to_vec(),
            counter: 0,
        }
    }
}

impl Rng for SeededRng {
    fn fill(&mut self, dest: &mut [u8]) -> Result<(), RngError> {
        for chunk in dest.chunks_mut(32) {
            let mut input = self.seed.clone();
            input.extend_from_slice(&self.counter.to_be_bytes());
            self.counter += 1;
            let d = ring::digest::digest(&ring::digest::SHA256, &input);
            chunk.copy_from_slice(&d.as_ref()[..chunk.len()]);
        }
        Ok(())
    }
}

/// A deterministic ES256 key (RFC 6979 nonces) derived from a label.
pub struct DetKey {
    key: p256::ecdsa::SigningKey,
    jwk: PublicJwk,
}

impl DetKey {
    pub fn new(label: &str) -> Self {
        let scalar = ring::digest::digest(&ring::digest::SHA256, label.as_bytes());
        let key = p256::ecdsa::SigningKey::from_slice(scalar.as_ref()).unwrap();
        let point = key.verifying_key().to_encoded_point(false);
        let jwk = PublicJwk::from_uncompressed(point.as_bytes()).unwrap();
        DetKey { key, jwk }
    }
    /// The private scalar as base64url, for vectors that re-run signing.
    pub fn d(&self) -> String {
        b64::encode(self.key.to_bytes())
    }
}

impl Signer for DetKey {
    fn public_jwk(&self) -> &PublicJwk {
        &self.jwk
    }
    fn sign(&self, msg: &[u8]) -> Result<[u8; 64], SignError> {
        let sig: p256::ecdsa::Signature = self.key.sign(msg);
        Ok(sig.to_bytes().into())
    }
}

fn t(y: u8) -> Threshold {
    Threshold::new(y).unwrap()
}

pub fn template(predicates: &[(u8, bool)]) -> CredentialTemplate {
    let iat = Date::parse(IAT_DAY).unwrap();
    CredentialTemplate {
        issuer: ISSUER.into(),
        iat,
        exp: iat.add_days(90),
        assurance: AssuranceLevel::Enhanced,
        source: Source::OfficialId,
        predicates: predicates
            .iter()
            .map(|&(y, v)| (t(y), v))
            .collect::<BTreeMap<_, _>>(),
        pad_to: 3,
    }
}

const TEEN: &[(u8, bool)] = &[(13, true), (16, false), (18, false)];

/// All vector files: (path relative to `specs/vectors/`, pretty JSON).
pub fn generate() -> Vec<(String, String)> {
    let issuer = DetKey::new("ageband vectors: issuer");
    let holder = DetKey::new("ageband vectors: holder");
    let mut out = Vec::new();

    // Issuance: a template, the holder key and the seed determine the credential exactly.
    let mut issued = BTreeMap::new();
    for (name, preds) in [
        ("teen_14", TEEN),
        ("adult_30", &[(13, true), (16, true), (18, true)][..]),
        ("child_10_left_out_16", &[(13, false), (18, false)][..]),
    ] {
        let tpl = template(preds);
        let seed = format!("issue/{name}");
        let cred = profile::issue(&tpl, holder.public_jwk(), &issuer, &mut SeededRng::new(&seed)).unwrap();
        issued.insert(name, cred.clone());
        out.push((format!("issue/{:03}_{name}.json", out.len() + 1), pretty(json!({
            "description": format!("issue one credential ({name}) with a seeded RNG and RFC 6979 signatures"),
            "input": {
                "issuer": ISSUER, "issuer_d": issuer.d(), "issuer_jwk": issuer.public_jwk().to_json(),
                "holder_jwk": holder.public_jwk().to_json(), "rng_seed": seed,
                "iat_day": IAT_DAY, "exp_day": tpl.exp.to_string(), "assurance": "enhanced", "source": "official_id",
                "predicates": preds.iter().map(|(y, v)| (t(*y).claim_name(), Value::Bool(*v))).collect::<Map<_, _>>(),
                "pad_to": 3,
            },
            "expect": "ok",
            "output": cred,
        }))));
    }

    // Presentation: which disclosures are kept and the KB-JWT are determined too.
    let n = out.len();
    for (i, (name, cred, shown)) in [
        ("teen_band", &issued["teen_14"], vec![13u8, 16]),
        ("adult_at_least_18", &issued["adult_30"], vec![18]),
    ]
    .into_iter()
    .enumerate()
    {
        let ts: Vec<Threshold> = shown.iter().map(|&y| t(y)).collect();
        let vp = profile::present(cred, &ts, &holder, AUD, NONCE, NOW).unwrap();
        out.push((format!("present/{:03}_{name}.json", n + i + 1 - n), pretty(json!({
            "description": format!("present {name}: disclose exactly the chosen predicates"),
            "input": {"credential": cred, "holder_d": holder.d(), "thresholds": shown, "aud": AUD, "nonce": NONCE, "iat": NOW},
            "expect": "ok",
            "output": vp,
        }))));
    }

    // Verification: valid cases and at least one failing case per error kind.
    let mut cases = verify_cases(&issuer, &holder, &issued["teen_14"], &issued["adult_30"]);
    for (i, (name, description, presentation, expect, overrides)) in cases.drain(..).enumerate() {
        let mut input = json!({
            "presentation": presentation,
            "issuer": ISSUER,
            "issuer_jwks": jwk_set(&[issuer.public_jwk().clone()]),
            "now": NOW, "aud": AUD, "nonce": NONCE,
        });
        if let (Value::Object(m), Value::Object(o)) = (&mut input, overrides) {
            m.extend(o);
        }
        let mut v = json!({"description": description, "input": input});
        match expect {
            Expect::Ok(at_least, under) => {
                v["expect"] = "ok".into();
                v["outcome"] = json!({"at_least": at_least, "under": under, "assurance": "enhanced", "source": "official_id", "issuer": ISSUER});
            }
            Expect::Err(kind) => v["expect"] = kind.into(),
        }
        out.push((format!("verify/{:03}_{name}.json", i + 1), pretty(v)));
    }
    out.extend(evidence_vectors());
    out.extend(request_vectors(
        &issuer,
        &holder,
        &issued["teen_14"],
        &issued["adult_30"],
    ));
    out
}

/// Answers checked against the platform's question (`verifier/tests/request_vectors.rs`):
/// valid credentials that disclose more than asked, or not one of the request's claim sets.
fn request_vectors(issuer: &DetKey, holder: &DetKey, teen: &str, adult: &str) -> Vec<(String, String)> {
    let vp = |c: &str, ts: &[u8]| {
        let ts: Vec<Threshold> = ts.iter().map(|&y| t(y)).collect();
        profile::present(c, &ts, holder, AUD, NONCE, NOW).unwrap()
    };
    let cases: Vec<(&str, &str, String, Value, &str)> = vec![
        (
            "ok_band",
            "the band question answered with its one fitting set",
            vp(teen, &[13, 16]),
            json!({"band": [13, 16, 18]}),
            "ok",
        ),
        (
            "ok_negative_allowed",
            "'at least 18?' answered 'no' where the platform accepts that",
            vp(teen, &[18]),
            json!({"at_least": 18, "allow_negative": true}),
            "ok",
        ),
        (
            "ok_under",
            "'under 13?' answered by an adult where 'no' is accepted",
            vp(adult, &[13]),
            json!({"under": 13, "allow_negative": true}),
            "ok",
        ),
        (
            "over_disclosure_extra_predicate",
            "'at least 13?' answered with age_over_13 and age_over_16",
            vp(teen, &[13, 16]),
            json!({"at_least": 13}),
            "OverDisclosure",
        ),
        (
            "over_disclosure_other_threshold",
            "'at least 13?' answered with age_over_18",
            vp(teen, &[18]),
            json!({"at_least": 13}),
            "OverDisclosure",
        ),
        (
            "over_disclosure_all",
            "a band question answered with every predicate",
            vp(teen, &[13, 16, 18]),
            json!({"band": [13, 16, 18]}),
            "ClaimSetMismatch",
        ),
        (
            "claim_set_partial",
            "a band question answered with half a set (age_over_16 false alone)",
            vp(teen, &[16]),
            json!({"band": [13, 16, 18]}),
            "ClaimSetMismatch",
        ),
        (
            "negative_not_accepted",
            "'at least 18?' answered 'no' where only 'yes' counts",
            vp(teen, &[18]),
            json!({"at_least": 18}),
            "ClaimSetMismatch",
        ),
        (
            "nothing_disclosed",
            "a question answered with no predicate",
            vp(teen, &[]),
            json!({"under": 13}),
            "ClaimSetMismatch",
        ),
        (
            "assurance_too_low",
            "an enhanced credential where the platform requires strict",
            vp(adult, &[18]),
            json!({"at_least": 18, "min_assurance": "strict"}),
            "AssuranceTooLow",
        ),
    ];
    cases
        .into_iter()
        .enumerate()
        .map(|(i, (name, description, presentation, question, expect))| {
            let v = json!({
                "description": description,
                "input": {
                    "presentation": presentation,
                    "issuer": ISSUER,
                    "issuer_jwks": jwk_set(&[issuer.public_jwk().clone()]),
                    "now": NOW, "aud": AUD, "nonce": NONCE,
                    "question": question,
                },
                "expect": expect,
            });
            (format!("request/{:03}_{name}.json", i + 1), pretty(v))
        })
        .collect()
}

/// Evidence tokens for the issuer (`issuer/tests/evidence_vectors.rs`): accepted forms and
/// hostile ones, each with the issuer's expected error.
fn evidence_vectors() -> Vec<(String, String)> {
    const IDP: &str = "https://eid.ageband.example";
    const CHECK: &str = "https://agecheck.ageband.example";
    const IDP_AUD: &str = "ageband-issuer";
    let idp = DetKey::new("ageband vectors: identity provider");
    let check = DetKey::new("ageband vectors: check provider");
    let stranger = DetKey::new("ageband vectors: stranger provider");
    let jwt = |key: &DetKey, header: Value, claims: Value| sign_compact(key, &header, &claims).unwrap();
    let es256 = |key: &DetKey| json!({"alg": "ES256", "typ": "JWT", "kid": key.public_jwk().thumbprint()});
    let id_claims = |f: &dyn Fn(&mut Value)| {
        let mut c = json!({"iss": IDP, "sub": "citizen-1", "aud": IDP_AUD, "iat": NOW - 60, "exp": NOW + 240, "birthdate": "2012-03-04"});
        f(&mut c);
        c
    };
    let check_claims = |f: &dyn Fn(&mut Value)| {
        let mut c = json!({"iss": CHECK, "sub": "check-1", "aud": ISSUER, "jti": "check-1", "iat": NOW - 60, "exp": NOW + 240, "birthdate": "2000-01-01"});
        f(&mut c);
        c
    };
    let id_token = |c: Value| json!({"type": "oidc_id_token", "id_token": jwt(&idp, es256(&idp), c)});
    let assertion = |c: Value| json!({"type": "check_assertion", "assertion": jwt(&check, es256(&check), c)});
    let unsigned = |c: &Value| {
        format!(
            "{}.{}.",
            b64::encode(json!({"alg": "none", "typ": "JWT"}).to_string()),
            b64::encode(c.to_string())
        )
    };
    let cases: Vec<(&str, &str, Value, &str)> = vec![
        (
            "ok_id_token",
            "an id_token from the configured identity provider",
            id_token(id_claims(&|_| {})),
            "ok",
        ),
        (
            "ok_check_birthdate",
            "a check assertion with a birth date",
            assertion(check_claims(&|_| {})),
            "ok",
        ),
        (
            "ok_check_estimate",
            "a check assertion with an age estimate",
            assertion(check_claims(&|c| {
                c.as_object_mut().unwrap().remove("birthdate");
                c["estimated_age"] = json!(25);
                c["margin"] = json!(3);
            })),
            "ok",
        ),
        (
            "ok_self",
            "a self-declared birth date",
            json!({"type": "self", "birthdate": "2011-05-04"}),
            "ok",
        ),
        (
            "untrusted_provider",
            "an id_token from a provider the issuer does not know",
            json!({"type": "oidc_id_token", "id_token": jwt(&stranger, es256(&stranger), id_claims(&|c| c["iss"] = "https://evil-idp.example".into()))}),
            "Token(UntrustedProvider)",
        ),
        (
            "untrusted_check_provider",
            "a check assertion from an unknown provider",
            json!({"type": "check_assertion", "assertion": jwt(&stranger, es256(&stranger), check_claims(&|c| c["iss"] = "https://evil-check.example".into()))}),
            "Token(UntrustedProvider)",
        ),
        (
            "provider_impersonated",
            "a known provider's iss signed with another key (its own kid)",
            json!({"type": "oidc_id_token", "id_token": jwt(&stranger, es256(&stranger), id_claims(&|_| {}))}),
            "Token(UnknownKey)",
        ),
        (
            "provider_impersonated_kid",
            "a known provider's iss and kid, signed with another key",
            json!({"type": "oidc_id_token", "id_token": jwt(&stranger, es256(&idp), id_claims(&|_| {}))}),
            "Token(BadSignature)",
        ),
        (
            "id_token_alg_none",
            "an unsigned id_token",
            json!({"type": "oidc_id_token", "id_token": unsigned(&id_claims(&|_| {}))}),
            "Token(Algorithm)",
        ),
        (
            "id_token_expired",
            "an id_token past its exp",
            id_token(id_claims(&|c| {
                c["iat"] = json!(NOW - 4000);
                c["exp"] = json!(NOW - 3000);
            })),
            "Token(Expired)",
        ),
        (
            "id_token_wrong_audience",
            "an id_token for another client",
            id_token(id_claims(&|c| c["aud"] = "another-client".into())),
            "Token(WrongAudience)",
        ),
        (
            "birthdate_year_only",
            "an OIDC birthdate of a year alone",
            id_token(id_claims(&|c| c["birthdate"] = "2012".into())),
            "BirthDate(Malformed)",
        ),
        (
            "birthdate_missing",
            "an id_token without birthdate",
            id_token(id_claims(&|c| {
                c.as_object_mut().unwrap().remove("birthdate");
            })),
            "Claim",
        ),
        (
            "birthdate_future",
            "a birth date after today",
            id_token(id_claims(&|c| c["birthdate"] = "2030-01-01".into())),
            "BirthDate(Future)",
        ),
        (
            "birthdate_too_old",
            "a birth date more than 150 years ago",
            json!({"type": "self", "birthdate": "1850-01-01"}),
            "BirthDate(TooOld)",
        ),
        (
            "self_not_a_date",
            "30 February",
            json!({"type": "self", "birthdate": "2012-02-30"}),
            "BirthDate(Malformed)",
        ),
        (
            "check_two_results",
            "a check assertion with a birth date and an estimate",
            assertion(check_claims(&|c| {
                c["estimated_age"] = json!(25);
                c["margin"] = json!(3);
            })),
            "AssertionShape",
        ),
        (
            "unknown_type",
            "an evidence type the issuer does not define",
            json!({"type": "passport_scan"}),
            "UnknownType",
        ),
        (
            "extra_member",
            "evidence with an extra member",
            json!({"type": "self", "birthdate": "2011-05-04", "name": "Alice"}),
            "Malformed",
        ),
    ];
    cases
        .into_iter()
        .enumerate()
        .map(|(i, (name, description, body, expect))| {
            let v = json!({
                "description": description,
                "input": {
                    "now": NOW,
                    "issuer": ISSUER,
                    "identity_provider": {"issuer": IDP, "audience": IDP_AUD, "jwks": jwk_set(&[idp.public_jwk().clone()])},
                    "check_provider": {"issuer": CHECK, "jwks": jwk_set(&[check.public_jwk().clone()])},
                    "body": body,
                },
                "expect": expect,
            });
            (format!("evidence/{:03}_{name}.json", i + 1), pretty(v))
        })
        .collect()
}

pub enum Expect {
    Ok(Option<u8>, Option<u8>),
    Err(&'static str),
}

type Case = (&'static str, &'static str, String, Expect, Value);

/// Signs an arbitrary header and payload with `key` and appends the given disclosures and a
/// fresh KB-JWT by `holder`, for hostile cases the honest issuer code cannot produce.
fn forge(
    key: &dyn Signer,
    header: Value,
    payload: Value,
    disclosures: &[&str],
    holder: &dyn Signer,
) -> String {
    let mut sd = sign_compact(key, &header, &payload).unwrap();
    sd.push('~');
    for d in disclosures {
        sd.push_str(d);
        sd.push('~');
    }
    sdjwt::attach_kb_jwt(&sd, holder, AUD, NONCE, NOW).unwrap()
}

fn verify_cases(issuer: &DetKey, holder: &DetKey, teen: &str, adult: &str) -> Vec<Case> {
    let ok = |c: &str, ts: &[u8]| {
        let ts: Vec<Threshold> = ts.iter().map(|&y| t(y)).collect();
        profile::present(c, &ts, holder, AUD, NONCE, NOW).unwrap()
    };
    let teen_vp = ok(teen, &[13, 16]);
    let (sd_part, kb) = teen_vp
        .rsplit_once('~')
        .map(|(a, b)| (format!("{a}~"), b.to_owned()))
        .unwrap();
    let jwt = sd_part.split('~').next().unwrap().to_owned();
    let (h, rest) = jwt.split_once('.').unwrap();
    let (p, s) = rest.split_once('.').unwrap();
    let payload: Value = serde_json::from_slice(&b64::decode(p, 4096).unwrap()).unwrap();
    let header: Value = serde_json::from_slice(&b64::decode(h, 4096).unwrap()).unwrap();
    let disclosures: Vec<String> = sd_part
        .split('~')
        .skip(1)
        .filter(|d| !d.is_empty())
        .map(str::to_owned)
        .collect();
    let d: Vec<&str> = disclosures.iter().map(String::as_str).collect();
    let with = |f: &dyn Fn(&mut Value)| {
        let mut pl = payload.clone();
        f(&mut pl);
        forge(issuer, header.clone(), pl, &d, holder)
    };
    let with_header = |f: &dyn Fn(&mut Value)| {
        let mut hd = header.clone();
        f(&mut hd);
        forge(issuer, hd, payload.clone(), &d, holder)
    };
    let kb_with = |f: &dyn Fn(&mut Value, &mut Value), signer: &dyn Signer| {
        let mut kh = json!({"alg": "ES256", "typ": "kb+jwt"});
        let mut kp = json!({"iat": NOW, "aud": AUD, "nonce": NONCE, "sd_hash": sdjwt::digest(&sd_part)});
        f(&mut kh, &mut kp);
        format!("{sd_part}{}", sign_compact(signer, &kh, &kp).unwrap())
    };
    let extra = |name: &str, value: Value| {
        let disc = Disclosure::property(&mut SeededRng::new(name), name, value).unwrap();
        let mut pl = payload.clone();
        pl["_sd"].as_array_mut().unwrap().push(disc.digest().into());
        let mut all = d.clone();
        all.push(disc.encoded());
        forge(issuer, header.clone(), pl, &all, holder)
    };
    let other = DetKey::new("ageband vectors: stranger");
    let flip = |s: &str, at: usize| {
        let mut b = s.as_bytes().to_vec();
        b[at] = if b[at] == b'A' { b'B' } else { b'A' };
        String::from_utf8(b).unwrap()
    };
    let no_overrides = json!({});
    let seg = |v: &Value| b64::encode(v.to_string());
    vec![
        (
            "ok_teen_band",
            "a 14-year-old answers the band question 13/16/18 with age_over_13 true and age_over_16 false",
            teen_vp.clone(),
            Expect::Ok(Some(13), Some(16)),
            no_overrides.clone(),
        ),
        (
            "ok_adult_at_least_18",
            "an adult answers 'at least 18' with one predicate",
            ok(adult, &[18]),
            Expect::Ok(Some(18), None),
            no_overrides.clone(),
        ),
        (
            "ok_no_disclosure",
            "a presentation that discloses nothing verifies; the request layer rejects it",
            ok(teen, &[]),
            Expect::Ok(None, None),
            no_overrides.clone(),
        ),
        (
            "too_large",
            "17 KiB of input is refused before any decoding",
            format!("{}~", "A".repeat(17 * 1024)),
            Expect::Err("TooLarge"),
            no_overrides.clone(),
        ),
        (
            "no_separator",
            "a bare JWT is not an SD-JWT presentation",
            jwt.clone(),
            Expect::Err("Malformed"),
            no_overrides.clone(),
        ),
        (
            "jwt_four_segments",
            "trailing data after the issuer signature",
            teen_vp.replacen(&format!(".{s}~"), &format!(".{s}.x~"), 1),
            Expect::Err("Malformed"),
            no_overrides.clone(),
        ),
        (
            "empty_disclosure",
            "two separators in a row",
            teen_vp.replacen("~", "~~", 1),
            Expect::Err("Malformed"),
            no_overrides.clone(),
        ),
        (
            "header_padding",
            "base64 padding in the header",
            teen_vp.replacen(h, &format!("{h}=="), 1),
            Expect::Err("Base64"),
            no_overrides.clone(),
        ),
        (
            "header_not_base64",
            "a character outside the base64url alphabet",
            teen_vp.replacen(h, &format!("*{}", &h[1..]), 1),
            Expect::Err("Base64"),
            no_overrides.clone(),
        ),
        (
            "header_duplicate_member",
            "a header that names alg twice",
            format!(
                "{}.{p}.{s}~{}",
                b64::encode(r#"{"alg":"ES256","alg":"none","typ":"dc+sd-jwt"}"#),
                &teen_vp[jwt.len() + 1..]
            ),
            Expect::Err("Json"),
            no_overrides.clone(),
        ),
        (
            "header_invalid_utf8",
            "a header that is not UTF-8",
            format!(
                "{}.{p}.{s}~{}",
                b64::encode(b"{\"alg\":\"\xff\"}"),
                &teen_vp[jwt.len() + 1..]
            ),
            Expect::Err("Json"),
            no_overrides.clone(),
        ),
        (
            "payload_deeply_nested",
            "a payload nested 40 levels deep",
            forge(
                issuer,
                header.clone(),
                serde_json::from_str(&format!("{{\"x\":{}1{}}}", "[".repeat(40), "]".repeat(40))).unwrap(),
                &d,
                holder,
            ),
            Expect::Err("Json"),
            no_overrides.clone(),
        ),
        (
            "alg_none",
            "alg none with an empty signature",
            format!(
                "{}.{p}.~{}",
                seg(&json!({"alg": "none", "typ": "dc+sd-jwt"})),
                &teen_vp[jwt.len() + 1..]
            ),
            Expect::Err("UnsupportedAlg"),
            no_overrides.clone(),
        ),
        (
            "alg_hs256",
            "alg HS256 keyed with the public key (algorithm confusion)",
            with_header(&|h| h["alg"] = "HS256".into()),
            Expect::Err("UnsupportedAlg"),
            no_overrides.clone(),
        ),
        (
            "typ_jwt",
            "typ JWT instead of dc+sd-jwt",
            with_header(&|h| h["typ"] = "JWT".into()),
            Expect::Err("WrongTyp"),
            no_overrides.clone(),
        ),
        (
            "typ_vc_sd_jwt",
            "the pre-2024 typ vc+sd-jwt is not accepted",
            with_header(&|h| h["typ"] = "vc+sd-jwt".into()),
            Expect::Err("WrongTyp"),
            no_overrides.clone(),
        ),
        (
            "header_jwk",
            "the issuer key supplied in the header",
            forge(
                &other,
                json!({"alg": "ES256", "typ": "dc+sd-jwt", "jwk": other.public_jwk().to_json()}),
                payload.clone(),
                &d,
                holder,
            ),
            Expect::Err("ForbiddenHeader"),
            no_overrides.clone(),
        ),
        (
            "header_jku",
            "a key URL in the header",
            with_header(&|h| h["jku"] = "https://evil.example/jwks".into()),
            Expect::Err("ForbiddenHeader"),
            no_overrides.clone(),
        ),
        (
            "header_crit",
            "a critical extension",
            with_header(&|h| h["crit"] = json!(["exp"])),
            Expect::Err("ForbiddenHeader"),
            no_overrides.clone(),
        ),
        (
            "issuer_signature_flipped",
            "one character of the issuer signature changed",
            teen_vp.replacen(s, &flip(s, 20), 1),
            Expect::Err("BadSignature"),
            no_overrides.clone(),
        ),
        (
            "issuer_signature_der",
            "a 65-byte signature",
            teen_vp.replacen(
                s,
                &b64::encode([b64::decode(s, 64).unwrap(), vec![0]].concat()),
                1,
            ),
            Expect::Err("BadSignature"),
            no_overrides.clone(),
        ),
        (
            "issuer_signature_malleated",
            "(r, n - s): a second valid issuer signature; the KB-JWT binds the exact bytes, so sd_hash fails",
            {
                let m: [u8; 64] = malleate(&b64::decode(s, 64).unwrap()).try_into().unwrap();
                // The malleated signature is itself valid: only the key binding catches it.
                ageband_core::jws::verify_es256(issuer.public_jwk(), format!("{h}.{p}").as_bytes(), &m)
                    .unwrap();
                teen_vp.replacen(s, &b64::encode(m), 1)
            },
            Expect::Err("KbSdHash"),
            no_overrides.clone(),
        ),
        (
            "issuer_signature_zero",
            "r = s = 0",
            teen_vp.replacen(s, &b64::encode([0u8; 64]), 1),
            Expect::Err("BadSignature"),
            no_overrides.clone(),
        ),
        (
            "payload_swapped",
            "a payload from another credential under the original signature",
            teen_vp.replacen(
                p,
                &seg(&{
                    let mut x = payload.clone();
                    x["assurance"] = "strict".into();
                    x
                }),
                1,
            ),
            Expect::Err("BadSignature"),
            no_overrides.clone(),
        ),
        (
            "unknown_kid",
            "signed by a key the verifier does not trust",
            forge(
                &other,
                json!({"alg": "ES256", "typ": "dc+sd-jwt", "kid": other.public_jwk().thumbprint()}),
                payload.clone(),
                &d,
                holder,
            ),
            Expect::Err("UnknownKey"),
            no_overrides.clone(),
        ),
        (
            "missing_kid",
            "no kid in the header",
            with_header(&|h| {
                h.as_object_mut().unwrap().remove("kid");
            }),
            Expect::Err("UnknownKey"),
            no_overrides.clone(),
        ),
        (
            "foreign_issuer",
            "a trusted key signing for another issuer name",
            with(&|pl| pl["iss"] = "https://evil.example".into()),
            Expect::Err("UntrustedIssuer"),
            no_overrides.clone(),
        ),
        (
            "expired",
            "presented a day after exp",
            teen_vp.clone(),
            Expect::Err("Expired"),
            json!({"now": NOW + 91 * 86_400}),
        ),
        (
            "iat_future",
            "issued tomorrow",
            with(&|pl| pl["iat"] = (NOW + 86_400).into()),
            Expect::Err("NotYetValid"),
            no_overrides.clone(),
        ),
        (
            "missing_vct",
            "no vct",
            with(&|pl| {
                pl.as_object_mut().unwrap().remove("vct");
            }),
            Expect::Err("MissingClaim"),
            no_overrides.clone(),
        ),
        (
            "missing_iss",
            "no iss",
            with(&|pl| {
                pl.as_object_mut().unwrap().remove("iss");
            }),
            Expect::Err("MissingClaim"),
            no_overrides.clone(),
        ),
        (
            "bad_assurance",
            "an assurance level outside the list",
            with(&|pl| pl["assurance"] = "supreme".into()),
            Expect::Err("InvalidClaim"),
            no_overrides.clone(),
        ),
        (
            "exp_string",
            "exp as a string",
            with(&|pl| pl["exp"] = "1790000000".into()),
            Expect::Err("InvalidClaim"),
            no_overrides.clone(),
        ),
        (
            "visible_sub",
            "a subject identifier in the credential (per-user tag)",
            with(&|pl| pl["sub"] = "user-4711".into()),
            Expect::Err("InvalidClaim"),
            no_overrides.clone(),
        ),
        (
            "visible_predicate",
            "a predicate put in the clear instead of as a disclosure",
            with(&|pl| pl["age_over_18"] = true.into()),
            Expect::Err("InvalidClaim"),
            no_overrides.clone(),
        ),
        (
            "exp_before_iat",
            "exp before iat, both within the clock skew",
            with(&|pl| {
                pl["iat"] = (NOW + 50).into();
                pl["exp"] = (NOW + 30).into();
            }),
            Expect::Err("InvalidClaim"),
            no_overrides.clone(),
        ),
        (
            "too_many_disclosures",
            "17 disclosures",
            format!("{jwt}~{}{kb}", "WyJhIiwiYiIsMV0~".repeat(17)),
            Expect::Err("TooLarge"),
            no_overrides.clone(),
        ),
        (
            "non_ascii",
            "a non-ASCII character in the input",
            teen_vp.replacen("~", "é~", 1),
            Expect::Err("Malformed"),
            no_overrides.clone(),
        ),
        (
            "sd_alg_sha512",
            "_sd_alg other than sha-256",
            with(&|pl| pl["_sd_alg"] = "sha-512".into()),
            Expect::Err("UnsupportedSdAlg"),
            no_overrides.clone(),
        ),
        (
            "disclosure_not_array",
            "a disclosure that is a JSON object",
            teen_vp.replacen(d[0], &b64::encode(r#"{"age_over_13":true}"#), 1),
            Expect::Err("MalformedDisclosure"),
            no_overrides.clone(),
        ),
        (
            "disclosure_invalid_base64",
            "a disclosure with a character outside base64url",
            teen_vp.replacen(d[0], &format!("{}!", d[0]), 1),
            Expect::Err("MalformedDisclosure"),
            no_overrides.clone(),
        ),
        (
            "disclosure_tampered",
            "age_over_16 false rewritten to true under the same salt",
            teen_vp.replacen(
                d[1],
                &b64::encode(
                    String::from_utf8(b64::decode(d[1], 1024).unwrap())
                        .unwrap()
                        .replace("false", "true"),
                ),
                1,
            ),
            Expect::Err("UnreferencedDisclosure"),
            no_overrides.clone(),
        ),
        (
            "disclosure_unreferenced",
            "a disclosure from another credential appended",
            {
                let foreign = adult.split('~').nth(1).unwrap();
                teen_vp.replacen(&format!("{}~", d[1]), &format!("{}~{foreign}~", d[1]), 1)
            },
            Expect::Err("UnreferencedDisclosure"),
            no_overrides.clone(),
        ),
        (
            "disclosure_duplicated",
            "the same disclosure presented twice",
            teen_vp.replacen(&format!("{}~", d[0]), &format!("{}~{}~", d[0], d[0]), 1),
            Expect::Err("DuplicateDigest"),
            no_overrides.clone(),
        ),
        (
            "digest_twice_in_payload",
            "the issuer payload lists one digest twice",
            with(&|pl| {
                let first = pl["_sd"][0].clone();
                pl["_sd"].as_array_mut().unwrap().push(first);
            }),
            Expect::Err("DuplicateDigest"),
            no_overrides.clone(),
        ),
        (
            "disclosure_named_sd",
            "a disclosure whose claim name is _sd",
            extra("_sd", json!(["x"])),
            Expect::Err("ReservedClaimName"),
            no_overrides.clone(),
        ),
        (
            "disclosure_named_ellipsis",
            "a disclosure whose claim name is ...",
            extra("...", json!("x")),
            Expect::Err("ReservedClaimName"),
            no_overrides.clone(),
        ),
        (
            "disclosure_collides",
            "a disclosure that overrides the visible assurance claim",
            extra("assurance", json!("strict")),
            Expect::Err("ClaimNameCollision"),
            no_overrides.clone(),
        ),
        (
            "wrong_vct",
            "another credential type",
            with(&|pl| pl["vct"] = "urn:eudi:pid:1".into()),
            Expect::Err("WrongVct"),
            no_overrides.clone(),
        ),
        (
            "disclosure_birthdate",
            "a disclosure the profile does not define (a birth date)",
            extra("birthdate", json!("2012-03-04")),
            Expect::Err("UnexpectedDisclosure"),
            no_overrides.clone(),
        ),
        (
            "disclosure_predicate_string",
            "an age_over_21 predicate disclosed as a string",
            extra("age_over_21", json!("yes")),
            Expect::Err("InvalidClaim"),
            no_overrides.clone(),
        ),
        (
            "missing_cnf",
            "no holder key",
            with(&|pl| {
                pl.as_object_mut().unwrap().remove("cnf");
            }),
            Expect::Err("MissingCnf"),
            no_overrides.clone(),
        ),
        (
            "kb_missing",
            "the KB-JWT removed",
            sd_part.clone(),
            Expect::Err("KbMissing"),
            no_overrides.clone(),
        ),
        (
            "kb_resigned_other_key",
            "a KB-JWT signed by a key other than cnf.jwk",
            kb_with(&|_, _| {}, &other),
            Expect::Err("BadSignature"),
            no_overrides.clone(),
        ),
        (
            "kb_signature_flipped",
            "one character of the KB-JWT signature changed",
            format!("{sd_part}{}", flip(&kb, kb.len() - 10)),
            Expect::Err("BadSignature"),
            no_overrides.clone(),
        ),
        (
            "kb_typ_jwt",
            "KB-JWT with typ JWT",
            kb_with(&|h, _| h["typ"] = "JWT".into(), holder),
            Expect::Err("WrongTyp"),
            no_overrides.clone(),
        ),
        (
            "kb_alg_none",
            "KB-JWT with alg none",
            kb_with(&|h, _| h["alg"] = "none".into(), holder),
            Expect::Err("UnsupportedAlg"),
            no_overrides.clone(),
        ),
        (
            "kb_wrong_aud",
            "presented to another verifier",
            teen_vp.clone(),
            Expect::Err("KbAudience"),
            json!({"aud": "redirect_uri:https://other.example/cb"}),
        ),
        (
            "kb_wrong_nonce",
            "a response replayed into another session",
            teen_vp.clone(),
            Expect::Err("KbNonce"),
            json!({"nonce": "AAAAAAAAAAAAAAAAAAAAAA"}),
        ),
        (
            "kb_iat_stale",
            "KB-JWT made 10 minutes ago",
            kb_with(&|_, p| p["iat"] = (NOW - 600).into(), holder),
            Expect::Err("KbIat"),
            no_overrides.clone(),
        ),
        (
            "kb_iat_future",
            "KB-JWT dated 10 minutes ahead",
            kb_with(&|_, p| p["iat"] = (NOW + 600).into(), holder),
            Expect::Err("KbIat"),
            no_overrides.clone(),
        ),
        (
            "kb_sd_hash_wrong",
            "KB-JWT over a different disclosure selection",
            kb_with(&|_, p| p["sd_hash"] = sdjwt::digest("x~").into(), holder),
            Expect::Err("KbSdHash"),
            no_overrides.clone(),
        ),
        (
            "kb_disclosure_dropped",
            "a disclosure removed after the KB-JWT was made",
            teen_vp.replacen(&format!("{}~", d[1]), "", 1),
            Expect::Err("KbSdHash"),
            no_overrides.clone(),
        ),
    ]
}

/// (r, n − s): the other valid ECDSA signature over the same message (P-256 order n).
fn malleate(sig: &[u8]) -> Vec<u8> {
    const N: [u8; 32] = [
        0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xbc,
        0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
    ];
    let mut out = sig.to_vec();
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let d = i16::from(N[i]) - i16::from(sig[32 + i]) - borrow;
        borrow = i16::from(d < 0);
        out[32 + i] = (d + 256 * borrow) as u8;
    }
    out
}

fn pretty(v: Value) -> String {
    let mut s = serde_json::to_string_pretty(&v).unwrap();
    s.push('\n');
    s
}
