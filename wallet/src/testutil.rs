//! Test helpers: credentials minted with `ageband-core`, optionally bent out of profile.

use ageband_core::age::{Date, Threshold};
use ageband_core::jws::{ES256, RingSigner, Signer};
use ageband_core::profile::{TYP, VCT};
use ageband_core::rng::OsRng;
use ageband_core::sdjwt::{self, Disclosure};
use serde_json::{Map, Value, json};

use crate::key::HolderKey;

pub(crate) const ISSUER: &str = "https://issuer.example";

/// A batch of `n` credentials for fresh holder keys; `tweak` may bend the header (index 0
/// of the tuple) or payload of credential `i` before signing.
pub(crate) fn mint(
    issuer: &RingSigner,
    n: usize,
    predicates: &[(u8, bool)],
    iat: Date,
    days: i64,
    tweak: impl Fn(usize, &mut Value, &mut Map<String, Value>),
) -> (Vec<String>, Vec<HolderKey>) {
    let mut rng = OsRng::new();
    let holders: Vec<HolderKey> = (0..n).map(|_| HolderKey::generate().unwrap()).collect();
    let creds = holders
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let mut header = json!({"alg": ES256, "typ": TYP, "kid": issuer.public_jwk().thumbprint()});
            let mut p = Map::new();
            p.insert("iss".into(), ISSUER.into());
            p.insert("vct".into(), VCT.into());
            p.insert("iat".into(), iat.unix_seconds().into());
            p.insert("exp".into(), iat.add_days(days).unix_seconds().into());
            p.insert("cnf".into(), json!({"jwk": h.public_jwk().to_json()}));
            p.insert("_sd_alg".into(), "sha-256".into());
            p.insert("assurance".into(), "standard".into());
            p.insert("source".into(), "third_party_check".into());
            let ds: Vec<Disclosure> = predicates
                .iter()
                .map(|&(t, v)| {
                    let name = Threshold::new(t).unwrap().claim_name();
                    Disclosure::property(&mut rng, &name, Value::Bool(v)).unwrap()
                })
                .collect();
            for d in &ds {
                sdjwt::embed_property(&mut p, d);
            }
            sdjwt::finish_sd_arrays(&mut p, 3, &mut rng).unwrap();
            tweak(i, &mut header, &mut p);
            sdjwt::issue(issuer, &header, &Value::Object(p), &ds).unwrap()
        })
        .collect();
    (creds, holders)
}

/// A band predicate map for an age under the default thresholds.
pub(crate) fn at_age(age: u8) -> Vec<(u8, bool)> {
    [13, 16, 18].into_iter().map(|t| (t, age >= t)).collect()
}

/// A distinct RSA-2048 public key per `i`, for directories in pinning tests (no secret: pinning
/// never signs).
pub(crate) fn fake_blind_key(i: u16) -> ageband_blind::PublicKey {
    let mut n = [0x5a_u8; 256];
    n[0] = 0xc1;
    n[1..3].copy_from_slice(&i.to_be_bytes());
    n[255] = 0x03;
    ageband_blind::PublicKey::from_components(&n, &[1, 0, 1]).unwrap()
}

/// A directory of `keys` (slot, [`fake_blind_key`] index).
pub(crate) fn fake_directory(
    keys: &[(
        (
            ageband_blind::profile::BlindFact,
            ageband_blind::profile::Floor,
            ageband_blind::profile::Month,
        ),
        u16,
    )],
) -> ageband_blind::profile::Directory {
    use ageband_blind::profile::{Directory, DirectoryKey};
    let keys = keys
        .iter()
        .map(|&((fa, fl, mo), i)| DirectoryKey::new(fa, fl, mo, fake_blind_key(i)).unwrap())
        .collect();
    Directory::new("https://issuer.example/blind-token-request", keys).unwrap()
}
