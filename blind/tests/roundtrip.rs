//! Round trips with a fresh RSA-2048 key, and the negative paths: wrong key, wrong blind
//! signature, out-of-range and wrong-length inputs.

#![allow(clippy::unwrap_used)]

use std::sync::OnceLock;

use ageband_blind::rsabssa::{self, Variant};
use ageband_blind::token::{self, Token, TokenRequest, TokenResponse};
use ageband_blind::{Error, SecretKey, SystemRng};

/// One fresh key per test binary (generation takes a moment even with optimized dependencies).
fn fresh_key() -> &'static SecretKey {
    static KEY: OnceLock<SecretKey> = OnceLock::new();
    KEY.get_or_init(|| SecretKey::generate(&mut SystemRng, 2048).unwrap())
}

/// A second, different key: the RFC 9578 vector key.
fn other_key() -> SecretKey {
    let v: serde_json::Value = serde_json::from_str(include_str!(
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

#[test]
fn all_variants_round_trip_with_a_fresh_key() {
    let sk = fresh_key();
    let pk = sk.public_key();
    assert_eq!(pk.modulus_bits(), 2048);
    let rng = &mut SystemRng;
    for variant in Variant::ALL {
        let input = rsabssa::prepare(variant, rng, b"age_over_18").unwrap();
        assert_eq!(input.len(), if variant.is_randomized() { 32 + 11 } else { 11 });
        assert!(input.ends_with(b"age_over_18"));
        let blinded = rsabssa::blind(pk, variant, rng, &input).unwrap();
        assert_eq!(blinded.blinded_msg.len(), 256);
        let blind_sig = rsabssa::blind_sign(sk, rng, &blinded.blinded_msg).unwrap();
        let sig = rsabssa::finalize(pk, variant, &input, &blind_sig, &blinded.inv).unwrap();
        rsabssa::verify(pk, variant, &input, &sig).unwrap();

        // Blinding hides the message: two blindings of one input differ.
        let again = rsabssa::blind(pk, variant, rng, &input).unwrap();
        assert_ne!(again.blinded_msg, blinded.blinded_msg, "{}", variant.name());

        // With an empty salt the signature is a function of the prepared message.
        let sig2 = rsabssa::finalize(
            pk,
            variant,
            &input,
            &rsabssa::blind_sign(sk, rng, &again.blinded_msg).unwrap(),
            &again.inv,
        )
        .unwrap();
        assert_eq!(sig2 == sig, variant.salt_len() == 0, "{}", variant.name());
        // PrepareRandomize draws a fresh prefix each time, so only PSSZERO-Deterministic signs the
        // application message deterministically.
        let input2 = rsabssa::prepare(variant, rng, b"age_over_18").unwrap();
        assert_eq!(input2 == input, !variant.is_randomized(), "{}", variant.name());
    }
}

#[test]
fn finalize_rejects_a_wrong_blind_signature() {
    let sk = fresh_key();
    let pk = sk.public_key();
    let rng = &mut SystemRng;
    for variant in Variant::ALL {
        let input = rsabssa::prepare(variant, rng, b"msg").unwrap();
        let blinded = rsabssa::blind(pk, variant, rng, &input).unwrap();
        let mut blind_sig = rsabssa::blind_sign(sk, rng, &blinded.blinded_msg).unwrap();
        blind_sig[100] ^= 0x04;
        assert_eq!(
            rsabssa::finalize(pk, variant, &input, &blind_sig, &blinded.inv),
            Err(Error::InvalidSignature),
            "{}",
            variant.name()
        );
        // Signed by another key.
        let other = other_key();
        let foreign = rsabssa::blind_sign(&other, rng, &blinded.blinded_msg);
        if let Ok(foreign) = foreign {
            assert_eq!(
                rsabssa::finalize(pk, variant, &input, &foreign, &blinded.inv),
                Err(Error::InvalidSignature)
            );
        }
        // Wrong length, and a value not below n.
        assert_eq!(
            rsabssa::finalize(pk, variant, &input, &blind_sig[1..], &blinded.inv),
            Err(Error::UnexpectedInputSize)
        );
        assert_eq!(
            rsabssa::finalize(pk, variant, &input, &[0xff; 256], &blinded.inv),
            Err(Error::InvalidSignature)
        );
    }
}

#[test]
fn blind_sign_rejects_out_of_range_and_wrong_length() {
    let sk = fresh_key();
    let rng = &mut SystemRng;
    assert_eq!(
        rsabssa::blind_sign(sk, rng, &[0xff; 256]),
        Err(Error::MessageRepresentativeOutOfRange)
    );
    assert_eq!(
        rsabssa::blind_sign(sk, rng, &[0x01; 255]),
        Err(Error::UnexpectedInputSize)
    );
    assert_eq!(
        rsabssa::blind_sign(sk, rng, &[0x01; 257]),
        Err(Error::UnexpectedInputSize)
    );
}

#[test]
fn tokens_round_trip_and_bind_to_their_key() {
    let sk = fresh_key();
    let pk = sk.public_key();
    let other = other_key();
    let rng = &mut SystemRng;
    let nonce = [7u8; 32];
    let challenge_digest = token::challenge_digest(b"\x00\x02 an encoded TokenChallenge");

    let (request, pending) = token::token_request(pk, rng, nonce, challenge_digest).unwrap();
    assert_eq!(request.truncated_token_key_id, pk.token_key_id()[31]);
    let request = TokenRequest::from_bytes(&request.to_bytes()).unwrap();

    // The other issuer refuses a request for a key it does not hold (unless the last bytes collide).
    if other.public_key().token_key_id()[31] != pk.token_key_id()[31] {
        assert_eq!(
            token::sign_token_request(&other, rng, &request).unwrap_err(),
            Error::WrongKey
        );
    }

    let response = token::sign_token_request(sk, rng, &request).unwrap();
    let response = TokenResponse::from_bytes(&response.to_bytes()).unwrap();
    // Finalizing against another key fails.
    let token = pending.finalize(pk, &response).unwrap();
    let bytes = token.to_bytes();
    assert_eq!(bytes.len(), 354);
    assert_eq!(&bytes[..2], &[0x00, 0x02]);
    assert_eq!(&bytes[2..34], &nonce);
    assert_eq!(&bytes[34..66], &challenge_digest);
    assert_eq!(&bytes[66..98], &pk.token_key_id());
    let parsed = Token::from_bytes(&bytes).unwrap();
    parsed.verify(pk).unwrap();

    // Wrong key: the token names pk, so another key is refused outright ...
    assert_eq!(parsed.verify(other.public_key()), Err(Error::WrongKey));
    // ... and relabelling it for the other key does not make the signature valid.
    let mut relabelled = parsed.clone();
    relabelled.token_key_id = other.public_key().token_key_id();
    assert_eq!(
        relabelled.verify(other.public_key()),
        Err(Error::InvalidSignature)
    );

    // A flipped bit in the authenticator.
    let mut flipped = parsed.clone();
    flipped.authenticator[255] ^= 1;
    assert_eq!(flipped.verify(pk), Err(Error::InvalidSignature));
    // Another nonce under the same authenticator.
    let mut renonced = parsed;
    renonced.nonce[0] ^= 1;
    assert_eq!(renonced.verify(pk), Err(Error::InvalidSignature));
}

#[test]
fn pending_token_refuses_another_key() {
    let sk = fresh_key();
    let other = other_key();
    let rng = &mut SystemRng;
    let (request, pending) = token::token_request(sk.public_key(), rng, [1; 32], [2; 32]).unwrap();
    let response = token::sign_token_request(sk, rng, &request).unwrap();
    assert_eq!(
        pending.finalize(other.public_key(), &response),
        Err(Error::WrongKey)
    );
}

#[test]
fn tokens_need_rsa_2048() {
    // The RFC 9474 vector keys are 4096-bit: fine for RSABSSA, not for token type 0x0002.
    let v: serde_json::Value = serde_json::from_str(include_str!(
        "../../specs/vectors/external/rfc9474_blind_rsa_vectors.json"
    ))
    .unwrap();
    let h = |k: &str| -> Vec<u8> {
        let s = v[0][k].as_str().unwrap();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    };
    let sk = SecretKey::from_components(&h("n"), &h("e"), &h("d"), &h("p"), &h("q")).unwrap();
    assert_eq!(
        token::token_request(sk.public_key(), &mut SystemRng, [0; 32], [0; 32]).unwrap_err(),
        Error::InvalidKey
    );
}

#[test]
fn pkcs8_round_trip() {
    let sk = fresh_key();
    let der = sk.to_pkcs8_der().unwrap();
    let back = SecretKey::from_pkcs8_der(&der).unwrap();
    assert_eq!(back.public_key(), sk.public_key());
    assert!(SecretKey::generate(&mut SystemRng, 1024).is_err());
}
