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
