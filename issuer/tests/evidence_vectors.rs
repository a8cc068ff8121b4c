//! Runs `specs/vectors/evidence/`: accepted evidence and hostile evidence tokens (untrusted
//! providers, impersonation, `alg` none, expiry, audience, malformed birth dates, shapes), each
//! against a real issuer with a fixed clock and the vector's pinned provider keys.

use std::path::Path;
use std::sync::Arc;

use ageband_issuer::{
    CheckProvider, Evidence, IdentityProvider, Issuer, IssuerConfig, JwksSource, Kek, ManualClock,
    OpenOptions,
};
use serde_json::Value;

/// The variant of an evidence error as vectors spell it: `Token(UntrustedProvider)`,
/// `BirthDate(Malformed)`, `Malformed` (struct fields dropped).
fn kind(e: &impl std::fmt::Debug) -> String {
    let d = format!("{e:?}");
    d.split(" {").next().unwrap_or_default().to_owned()
}

#[test]
fn evidence_vectors() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../specs/vectors/evidence");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 15);
    for path in files {
        let case: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let input = &case["input"];
        let idp = &input["identity_provider"];
        let mut oidc = IdentityProvider::new(
            idp["issuer"].as_str().unwrap(),
            idp["audience"].as_str().unwrap(),
            JwksSource::Inline(idp["jwks"].clone()),
        );
        oidc.require_nonce = false;
        let cp = &input["check_provider"];
        let check = CheckProvider::new(
            cp["issuer"].as_str().unwrap(),
            JwksSource::Inline(cp["jwks"].clone()),
        );
        let config = IssuerConfig {
            identity_providers: vec![oidc],
            check_providers: vec![check],
            ..IssuerConfig::default()
        };
        let data = tempfile::tempdir().unwrap();
        let opts = OpenOptions {
            kek: Some(Kek::generate().unwrap()),
            clock: Some(Arc::new(ManualClock::new(input["now"].as_u64().unwrap()))),
            ..OpenOptions::default()
        };
        let issuer = Issuer::open_with(data.path(), config, opts).unwrap();
        issuer.set_public_url(input["issuer"].as_str().unwrap()).unwrap();
        let got = Evidence::from_json(input["body"].to_string().as_bytes())
            .and_then(|ev| issuer.accept_evidence(&ev));
        match (case["expect"].as_str().unwrap(), got) {
            ("ok", Ok(offer)) => assert!(!offer.pre_authorized_code.is_empty(), "{name}"),
            ("ok", Err(e)) => panic!("{name}: expected ok, got {e:?}"),
            (want, Ok(_)) => panic!("{name}: expected {want}, accepted"),
            (want, Err(e)) => assert_eq!(kind(&e), want, "{name}: {e}"),
        }
    }
}
