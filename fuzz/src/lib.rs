//! Shared fixtures of the fuzz targets: the keys, issuer, audience, nonce and clock of the
//! seeded vectors in `specs/vectors/`, so that the seed corpus (copied from those vectors by
//! `fuzz/seed.sh`) verifies under the targets' fixed trust, and a temporary issuer.
//!
//! Everything here is built once per process; a target only reads it.

#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, OnceLock};

use ageband_core::age::AssuranceLevel;
use ageband_core::b64;
use ageband_core::jwk::{PublicJwk, parse_jwk_or_set};
use ageband_core::jws::{Signer, sign_compact};
use ageband_core::profile::SingleIssuer;
use ageband_issuer::{
    CheckProvider, IdentityProvider, Issuer, IssuerConfig, JwksSource, Kek, ManualClock, OpenOptions,
};
use ageband_wallet::HolderKey;
use serde_json::{Value, json};

const ISSUE: &str = include_str!("../../specs/vectors/issue/001_teen_14.json");
const PRESENT: &str = include_str!("../../specs/vectors/present/001_teen_band.json");
const VERIFY: &str = include_str!("../../specs/vectors/verify/001_ok_teen_band.json");

/// What the seeded vectors share: issuer key pair, holder key pair, audience, nonce, clock.
pub struct Fixture {
    /// The vectors' issuer identifier.
    pub issuer: String,
    /// The vectors' issuer key (it signs every issuer JWT of the seed corpus).
    pub issuer_key: HolderKey,
    /// The holder key of the present/verify vectors (`cnf.jwk`).
    pub holder_key: HolderKey,
    /// Trust in exactly the issuer key, for `profile::verify`.
    pub trust: SingleIssuer,
    /// KB-JWT `aud`.
    pub aud: String,
    /// KB-JWT `nonce`.
    pub nonce: String,
    /// The verify vectors' clock.
    pub now: u64,
}

/// The fixture, parsed from the vector files on first use.
pub fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let issue: Value = serde_json::from_str(ISSUE).unwrap();
        let present: Value = serde_json::from_str(PRESENT).unwrap();
        let verify: Value = serde_json::from_str(VERIFY).unwrap();
        let key = |v: &Value| {
            let d = b64::decode_array::<32>(v.as_str().unwrap()).unwrap();
            HolderKey::from_secret_bytes(&d).unwrap()
        };
        let issuer_key = key(&issue["input"]["issuer_d"]);
        let issuer = issue["input"]["issuer"].as_str().unwrap().to_owned();
        let jwks = parse_jwk_or_set(&verify["input"]["issuer_jwks"]).unwrap();
        assert_eq!(&jwks[0], issuer_key.public_jwk(), "vectors share one issuer key");
        Fixture {
            trust: SingleIssuer::new(&issuer, issuer_key.public_jwk().clone()),
            issuer,
            issuer_key,
            holder_key: key(&present["input"]["holder_d"]),
            aud: verify["input"]["aud"].as_str().unwrap().to_owned(),
            nonce: verify["input"]["nonce"].as_str().unwrap().to_owned(),
            now: verify["input"]["now"].as_u64().unwrap(),
        }
    })
}

/// The issuer URL of [`TempIssuer`].
pub const ISSUER_URL: &str = "https://issuer.fuzz.example";
/// Identity provider of [`TempIssuer`].
pub const IDP: &str = "https://eid.fuzz.example";
/// `aud` the identity provider puts in id_tokens.
pub const IDP_AUD: &str = "ageband-issuer";
/// Check provider of [`TempIssuer`].
pub const CHECK: &str = "https://check.fuzz.example";

/// An issuer on a temporary folder with a manual clock, one identity provider and one check
/// provider whose keys the targets hold, so they can sign evidence the issuer accepts.
pub struct TempIssuer {
    /// Kept alive for the process: the issuer's store lives in it.
    pub dir: tempfile::TempDir,
    /// The issuer's clock (2026-11-29 12:00 UTC at start).
    pub clock: Arc<ManualClock>,
    /// The issuer.
    pub issuer: Issuer,
    /// The identity provider's key (kid `idp-1`).
    pub idp: HolderKey,
    /// The check provider's key (kid `chk-1`).
    pub check: HolderKey,
}

/// The shared temporary issuer.
pub fn temp_issuer() -> &'static TempIssuer {
    static I: OnceLock<TempIssuer> = OnceLock::new();
    I.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let idp = HolderKey::from_secret_bytes(&[7; 32]).unwrap();
        let check = HolderKey::from_secret_bytes(&[8; 32]).unwrap();
        let jwks = |k: &HolderKey, kid: &str| {
            let mut j = k.public_jwk().to_json();
            j["kid"] = kid.into();
            j["alg"] = "ES256".into();
            json!({ "keys": [j] })
        };
        let mut config = IssuerConfig {
            public_url: Some(ISSUER_URL.into()),
            ..IssuerConfig::default()
        };
        config.quota.batches = 1_000_000;
        config.guardian.batches_per_adult_credential = 1_000_000;
        // The targets' adult credentials come from self-declarations.
        config.guardian.min_adult_level = AssuranceLevel::Asserted;
        config.identity_providers.push(IdentityProvider::new(
            IDP,
            IDP_AUD,
            JwksSource::Inline(jwks(&idp, "idp-1")),
        ));
        config.check_providers.push(CheckProvider::new(
            CHECK,
            JwksSource::Inline(jwks(&check, "chk-1")),
        ));
        // 2026-11-29 12:00 UTC.
        let clock = Arc::new(ManualClock::new(1_795_953_600));
        let opts = OpenOptions {
            kek: Some(Kek::from_bytes([9; 32])),
            clock: Some(clock.clone()),
            key_source: None,
        };
        let issuer = Issuer::open_with(dir.path(), config, opts).unwrap();
        TempIssuer {
            dir,
            clock,
            issuer,
            idp,
            check,
        }
    })
}

/// A compact ES256 JWS over `payload` with `header`, signed by `key`.
pub fn sign(key: &dyn Signer, header: &Value, payload: &Value) -> String {
    sign_compact(key, header, payload).unwrap()
}

/// An OpenID4VCI key proof by `holder` for `aud`, `nonce` at `iat`.
pub fn proof(holder: &HolderKey, aud: &str, nonce: &str, iat: u64) -> String {
    sign(
        holder,
        &json!({"alg": "ES256", "typ": "openid4vci-proof+jwt", "jwk": holder.public_jwk().to_json()}),
        &json!({"aud": aud, "iat": iat, "nonce": nonce}),
    )
}

/// A key the fuzzer can name by one byte (never zero, so always a valid scalar).
pub fn key_from_byte(b: u8) -> HolderKey {
    let mut bytes = [0x11u8; 32];
    bytes[31] = b.max(1);
    HolderKey::from_secret_bytes(&bytes).unwrap()
}

/// Whether two JSON values are equal, floats compared to within 4 ULP (serde_json without
/// `float_roundtrip` may parse a printed float, subnormals especially, a little off; that is
/// not a bug of ours).
pub fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => {
            let (x, y) = (x.as_f64().unwrap_or(f64::NAN), y.as_f64().unwrap_or(f64::NAN));
            // Within a few units in the last place (subnormals included).
            x == y || (x.signum() == y.signum() && x.to_bits().abs_diff(y.to_bits()) <= 4)
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_eq(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

/// Checks that a public key parses back from its JSON form to itself.
pub fn jwk_round_trip(k: &PublicJwk) {
    let again = PublicJwk::from_json(&k.to_json()).expect("to_json output parses");
    assert_eq!(&again, k);
    assert_eq!(again.thumbprint(), k.thumbprint());
}

/// Fixtures of the blind-token targets (blind-profile.md): the presentation vectors' issuer and
/// query, the session vectors' directory, keys and verifier, a pool of valid tokens, and a
/// temporary issuer with a small blind schedule.
pub mod blind {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Arc, Mutex, OnceLock};

    use ageband_blind::profile::{
        BlindFact, BlindIssuer, BlindPresentation, BlindToken, Directory, DirectoryKey, Floor,
        HolderTokenRequest, Month, SpentSet, TokenChallenge,
    };
    use ageband_blind::token::sign_token_request;
    use ageband_blind::{SecretKey, SystemRng, Token};
    use ageband_core::b64;
    use ageband_core::jws::Signer;
    use ageband_issuer::{
        CheckProvider, Evidence, Issuer, IssuerConfig, JwksSource, Kek, ManualClock, OpenOptions,
        SecretString,
    };
    use ageband_verifier::{NonceError, NonceStore, TrustList, TrustedIssuer, Verifier};
    use ageband_wallet::HolderKey;
    use serde_json::{Value, json};
    use zeroize::Zeroizing;

    const VALID: &str = include_str!("../../specs/vectors/blind/001_valid.json");
    const SESSION: &str = include_str!("../../specs/vectors/blind-session/002_ok_band_13_15.json");
    const SESSION_KEYS: &str = include_str!("../../specs/vectors/blind-session/keys.json");
    const RFC9578: &str = include_str!("../../specs/vectors/external/rfc9578_type2_token_vectors.json");

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// `specs/vectors/blind/001_valid.json`: issuer, directory, query and clock.
    pub struct Vectors {
        /// The issuer name and its validated directory.
        pub issuer: BlindIssuer,
        /// The directory alone (also the fixed "earlier" directory of `blind_directory`).
        pub directory: Directory,
        /// The query's fact.
        pub fact: BlindFact,
        /// The query's floor.
        pub min_floor: Floor,
        /// The verifier nonce (bytes).
        pub nonce: Vec<u8>,
        /// The audience.
        pub audience: String,
        /// The clock.
        pub now: u64,
    }

    /// The presentation vectors' fixture, parsed once.
    pub fn vectors() -> &'static Vectors {
        static V: OnceLock<Vectors> = OnceLock::new();
        V.get_or_init(|| {
            let v: Value = serde_json::from_str(VALID).unwrap();
            let directory = Directory::parse(v["directory"].as_str().unwrap().as_bytes()).unwrap();
            let q = &v["query"];
            Vectors {
                issuer: BlindIssuer::new(v["issuer_name"].as_str().unwrap(), directory.clone()).unwrap(),
                directory,
                fact: BlindFact::from_name(q["fact"].as_str().unwrap()).unwrap(),
                min_floor: Floor::from_number(q["min_floor"].as_u64().unwrap()).unwrap(),
                nonce: unhex(q["verifier_nonce"].as_str().unwrap()),
                audience: q["audience"].as_str().unwrap().to_owned(),
                now: v["now"].as_u64().unwrap(),
            }
        })
    }

    /// The session vectors' trusted issuer (both trusted issuers publish the same directory).
    pub const ISSUER: &str = "https://issuer.example";
    /// The session vectors' second trusted issuer.
    pub const ISSUER2: &str = "https://other-issuer.example";
    /// The session vectors' audience.
    pub const AUDIENCE: &str = "https://platform.example";
    /// The session vectors' request nonce.
    pub const NONCE: &str = "bm9uY2Utb2YtdGhlLXBsYXRmb3Jt";

    /// A token of the pool, kept as parts (a `BlindToken` is consumed by presenting it).
    pub struct PoolToken {
        token: Token,
        secret: Zeroizing<[u8; 32]>,
        fact: BlindFact,
        floor: Floor,
        month: Month,
    }

    impl PoolToken {
        /// The token, presented (bound to `nonce` and `audience`).
        pub fn present(&self, nonce: &[u8], audience: &str) -> BlindPresentation {
            BlindToken::from_parts(self.token.clone(), self.secret.as_ref(), self.fact, self.floor, self.month)
                .unwrap()
                .present(nonce, audience)
                .unwrap()
        }
    }

    /// The session vectors' world: directory of month 2026-12 (`age_over_18` floors 2 and 3,
    /// `age_over_13` and `age_under_16` floor 2), its clock, and one valid token per slot of
    /// [`ISSUER`] (issued once per process with the fixture keys).
    pub struct Session {
        /// The directory both trusted issuers publish.
        pub directory: Directory,
        /// The vectors' clock (inside 2026-12).
        pub now: u64,
        /// One token per slot: over 18 floor 2, over 18 floor 3, over 13 floor 2, under 16 floor 2.
        pub tokens: Vec<PoolToken>,
    }

    /// The session fixture, built once.
    pub fn session() -> &'static Session {
        static S: OnceLock<Session> = OnceLock::new();
        S.get_or_init(|| {
            let v: Value = serde_json::from_str(SESSION).unwrap();
            let directory =
                Directory::parse(v["issuers"][0]["directory"].as_str().unwrap().as_bytes()).unwrap();
            let rfc: Value = serde_json::from_str(RFC9578).unwrap();
            let pem = String::from_utf8(unhex(rfc[0]["skS"].as_str().unwrap())).unwrap();
            let extra: Value = serde_json::from_str(SESSION_KEYS).unwrap();
            let mut keys = vec![SecretKey::from_pkcs8_pem(&pem).unwrap()];
            for h in extra["pkcs8_der_hex"].as_array().unwrap() {
                keys.push(SecretKey::from_pkcs8_der(&unhex(h.as_str().unwrap())).unwrap());
            }
            let month = Month::parse("2026-12").unwrap();
            let slots = [
                (BlindFact::over(18).unwrap(), Floor::Level2),
                (BlindFact::over(18).unwrap(), Floor::Level3),
                (BlindFact::over(13).unwrap(), Floor::Level2),
                (BlindFact::under(16).unwrap(), Floor::Level2),
            ];
            let challenge = TokenChallenge::for_issuer_url(ISSUER).unwrap();
            let tokens = slots
                .iter()
                .zip(&keys)
                .map(|(&(fact, floor), sk)| {
                    let key = DirectoryKey::new(fact, floor, month, sk.public_key().clone()).unwrap();
                    assert!(directory.key_by_id(&key.token_key_id()).is_some(), "fixture key in the directory");
                    let req = HolderTokenRequest::new(&mut SystemRng, &key, &challenge).unwrap();
                    let resp = sign_token_request(sk, &mut SystemRng, req.request()).unwrap();
                    let t = req.finalize(&key, &resp).unwrap();
                    let mut secret = Zeroizing::new([0u8; 32]);
                    secret.copy_from_slice(t.expose_holder_secret().as_ref());
                    PoolToken {
                        token: t.token().clone(),
                        secret,
                        fact,
                        floor,
                        month,
                    }
                })
                .collect();
            Session {
                directory,
                now: v["now"].as_u64().unwrap(),
                tokens,
            }
        })
    }

    /// Accepts every nonce, so that a run does not depend on what earlier inputs consumed.
    pub struct Forgetful;

    impl NonceStore for Forgetful {
        fn consume(&self, _nonce: &str, _now: u64) -> Result<(), NonceError> {
            Ok(())
        }
    }

    impl SpentSet for Forgetful {
        fn spend(&mut self, _token_key_id: [u8; 32], _nonce: [u8; 32], _not_after: u64) -> bool {
            true
        }
    }

    /// A verifier trusting [`ISSUER`] and [`ISSUER2`] for blind tokens under the session
    /// directory (no SD-JWT keys), at the session clock, with forgetful nonce store and spent set
    /// (runs stay independent; the bounded stores have their own unit tests).
    pub fn session_verifier() -> Verifier {
        let s = session();
        let issuers = [ISSUER, ISSUER2]
            .iter()
            .map(|id| TrustedIssuer::pinned(*id, vec![]).with_blind_directory(s.directory.clone()))
            .collect();
        Verifier::from_trust_list(TrustList::new(issuers).unwrap())
            .with_clock(Arc::new(ageband_verifier::ManualClock::new(s.now)))
            .with_nonce_store(Arc::new(Forgetful))
            .with_spent_set(Arc::new(Mutex::new(Forgetful)))
    }

    /// The issuer URL of [`BlindTempIssuer`] (its challenge's issuer name is its host).
    pub const BLIND_ISSUER_URL: &str = "https://blind-issuer.fuzz.example";
    /// Check provider of [`BlindTempIssuer`].
    pub const BLIND_CHECK: &str = "https://check.fuzz.example";

    /// A temporary issuer with a small blind schedule (`age_over_18` and `age_under_16`, the
    /// current month only: four keys, batches of at most 4, 2 tokens per subject, fact and
    /// month) and a check provider whose key the target holds, so it can mint access tokens
    /// with blind uses (each for a new subject).
    pub struct BlindTempIssuer {
        /// Kept alive for the process: the issuer's store lives in it.
        pub dir: tempfile::TempDir,
        /// The issuer (clock fixed at 2026-11-29 12:00 UTC).
        pub issuer: Issuer,
        /// The check provider's key (kid `chk-1`).
        pub check: HolderKey,
        /// The issuer's directory (fetched once: that generates the keys).
        pub directory: Directory,
        /// One valid `token_request` (base64url) per directory key, with the slot's JSON members.
        pub requests: Vec<(String, String)>,
        serial: AtomicU64,
    }

    impl BlindTempIssuer {
        /// A fresh access token from a check assertion of a new subject: an adult (born
        /// 1990-01-01, `age_over_18`) or, with `adult` false, a 14-year-old (`age_under_16`).
        /// Third-party checks reach floors 2 and 3.
        pub fn mint(&self, adult: bool) -> String {
            let n = self.serial.fetch_add(1, Ordering::Relaxed);
            let now = self.issuer.now();
            let claims = json!({
                "iss": BLIND_CHECK, "aud": BLIND_ISSUER_URL, "iat": now, "exp": now + 600,
                "jti": format!("fuzz-{n}"), "sub": format!("subject-{n}"),
                "birthdate": if adult { "1990-01-01" } else { "2012-01-01" },
            });
            let assertion = super::sign(
                &self.check,
                &json!({"alg": "ES256", "typ": "JWT", "kid": "chk-1"}),
                &claims,
            );
            let ev = Evidence::CheckAssertion {
                assertion: SecretString::new(&assertion),
            };
            let offer = self.issuer.accept_evidence(&ev).expect("check assertion accepted");
            self.issuer
                .redeem_code(&offer.pre_authorized_code)
                .expect("fresh code")
                .access_token
        }
    }

    /// The blind issuer, built once (RSA key generation for its four slots takes a moment).
    pub fn blind_temp_issuer() -> &'static BlindTempIssuer {
        static I: OnceLock<BlindTempIssuer> = OnceLock::new();
        I.get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            let check = HolderKey::from_secret_bytes(&[8; 32]).unwrap();
            let mut jwk = check.public_jwk().to_json();
            jwk["kid"] = "chk-1".into();
            jwk["alg"] = "ES256".into();
            let mut config = IssuerConfig {
                public_url: Some(BLIND_ISSUER_URL.into()),
                ..IssuerConfig::default()
            };
            config.quota.batches = 1_000_000;
            config.check_providers.push(CheckProvider::new(
                BLIND_CHECK,
                JwksSource::Inline(json!({ "keys": [jwk] })),
            ));
            config.blind.facts = vec!["age_over_18".into(), "age_under_16".into()];
            config.blind.months_ahead = 0;
            config.blind.batch_size = 4;
            // Small, so that a batch of three or four of one fact is over the quota (429).
            config.blind.tokens_per_month = 2;
            // 2026-11-29 12:00 UTC.
            let clock = Arc::new(ManualClock::new(1_795_953_600));
            let opts = OpenOptions {
                kek: Some(Kek::from_bytes([10; 32])),
                clock: Some(clock),
                key_source: None,
            };
            let issuer = Issuer::open_with(dir.path(), config, opts).unwrap();
            let directory = issuer.blind_directory().expect("blind directory");
            let challenge = TokenChallenge::for_issuer_url(BLIND_ISSUER_URL).unwrap();
            let requests = directory
                .keys()
                .iter()
                .map(|k| {
                    let r = HolderTokenRequest::new(&mut SystemRng, k, &challenge).unwrap();
                    let slot = format!(
                        "\"fact\":\"{}\",\"floor\":{},\"month\":\"{}\"",
                        k.fact().name(),
                        k.floor().number(),
                        k.month()
                    );
                    (slot, b64::encode(r.request().to_bytes()))
                })
                .collect();
            BlindTempIssuer {
                dir,
                issuer,
                check,
                directory,
                requests,
                serial: AtomicU64::new(0),
            }
        })
    }
}
