//! Blind presentations (blind-profile.md §8, §9.1): the input is parsed as the compact form
//! (`BlindPresentation::parse`) and as a `PrivateToken` header value
//! (`parse_private_token_header`), then verified with `verify_blind` / `verify_presentation`
//! against the issuer and directory of `specs/vectors/blind/001_valid.json` at its clock, nonce
//! and audience. A refusal for the fact or floor is retried with the key's own fact at floor 2,
//! so that the later checks (RSA-PSS, token nonce, holder key, binding, spent set) are reached
//! for every key of the directory.
#![no_main]

use ageband_blind::profile::{
    BlindPresentation, BlindQuery, BlindVerifyError, Floor, MemorySpentSet, verify_blind,
    verify_presentation,
};
use ageband_fuzz::blind::vectors;
use libfuzzer_sys::fuzz_target;

fn check(p: &BlindPresentation, compact: Option<&str>) {
    let v = vectors();
    let query = BlindQuery {
        fact: v.fact,
        min_floor: v.min_floor,
        verifier_nonce: &v.nonce,
        audience: &v.audience,
    };
    let mut spent = MemorySpentSet::new(16, 4);
    let first = match compact {
        Some(s) => verify_blind(s, &v.issuer, &query, v.now, &mut spent),
        None => verify_presentation(p, &v.issuer, &query, v.now, &mut spent),
    };
    let (result, query) = match first {
        Err(BlindVerifyError::WrongFact | BlindVerifyError::FloorTooLow) => {
            let key = v.directory.key_by_id(&p.token.token_key_id).expect("the key was found");
            let q = BlindQuery {
                fact: key.fact(),
                min_floor: Floor::Level2,
                ..query
            };
            (verify_presentation(p, &v.issuer, &q, v.now, &mut spent), q)
        }
        r => (r, query),
    };
    if let Ok(facts) = result {
        assert_eq!(facts.fact, query.fact);
        assert!(facts.floor >= query.min_floor);
        assert!(facts.month.is_live(v.now));
        assert_eq!(facts.issuer, v.issuer.name());
        // Spent once: the same presentation is now refused.
        assert_eq!(
            verify_presentation(p, &v.issuer, &query, v.now, &mut spent),
            Err(BlindVerifyError::TokenSpent)
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match BlindPresentation::parse(text) {
        Ok(p) => {
            // Strict base64url: the accepted text is the canonical encoding.
            assert_eq!(p.encode(), text);
            let header = p.to_private_token_header();
            assert_eq!(BlindPresentation::parse_private_token_header(&header).as_ref(), Ok(&p));
            check(&p, Some(text));
        }
        Err(e) => {
            // verify_blind reports the parser's refusal.
            let v = vectors();
            let query = BlindQuery {
                fact: v.fact,
                min_floor: v.min_floor,
                verifier_nonce: &v.nonce,
                audience: &v.audience,
            };
            let mut spent = MemorySpentSet::new(16, 4);
            assert_eq!(
                verify_blind(text, &v.issuer, &query, v.now, &mut spent),
                Err(BlindVerifyError::from(e))
            );
        }
    }
    if let Ok(p) = BlindPresentation::parse_private_token_header(text) {
        assert_eq!(BlindPresentation::parse(&p.encode()).as_ref(), Ok(&p));
        check(&p, None);
    }
});
