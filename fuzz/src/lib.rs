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
