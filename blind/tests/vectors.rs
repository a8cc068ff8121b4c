//! The official vectors replay byte for byte: RFC 9474 appendix A (all four variants, 4096-bit
//! keys) and RFC 9578 appendix A.2 (token type 0x0002, five vectors).

#![allow(clippy::unwrap_used)]

use ageband_blind::rsabssa::{self, Variant};
use ageband_blind::token::{self, TOKEN_LEN, Token, TokenRequest, TokenResponse};
use ageband_blind::{PublicKey, SecretKey, SystemRng};
use crypto_bigint::{BoxedUint, NonZero};
use serde::Deserialize;

const RFC9474: &str = include_str!("../../specs/vectors/external/rfc9474_blind_rsa_vectors.json");
const RFC9578: &str = include_str!("../../specs/vectors/external/rfc9578_type2_token_vectors.json");

fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd hex length");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[derive(Deserialize)]
struct BlindRsaVector {
    name: String,
    p: String,
    q: String,
    n: String,
    e: String,
    d: String,
    msg: String,
    msg_prefix: String,
    prepared_msg: String,
    salt: String,
    encoded_msg: String,
    inv: String,
    blinded_msg: String,
    blind_sig: String,
    sig: String,
}

/// r = inv⁻¹ mod n: the RFC 9474 vectors list the inverse, not the blinding factor.
fn blind_from_inverse(n: &[u8], inv: &[u8]) -> Vec<u8> {
    let n = BoxedUint::from_be_slice_vartime(n);
    let bits = n.bits_precision();
    let n = NonZero::new(n).unwrap();
    let inv = BoxedUint::from_be_slice(inv, bits).unwrap();
    let r: BoxedUint = Option::from(inv.invert_mod(&n)).unwrap();
    r.to_be_bytes().to_vec()
}

#[test]
fn rfc9474_all_four_variants_replay() {
    let vectors: Vec<BlindRsaVector> = serde_json::from_str(RFC9474).unwrap();
    assert_eq!(vectors.len(), 4);
    let mut seen = Vec::new();
    for v in &vectors {
        let variant = Variant::from_name(&v.name).unwrap_or_else(|| panic!("unknown variant {}", v.name));
        seen.push(variant);
        let sk = SecretKey::from_components(
            &unhex(&v.n),
            &unhex(&v.e),
            &unhex(&v.d),
            &unhex(&v.p),
            &unhex(&v.q),
        )
        .unwrap();
        let pk = sk.public_key();
        assert_eq!(pk.modulus_bits(), 4096, "{}", v.name);

        // Prepare: prefix ‖ msg for Randomized variants, msg itself otherwise.
        let prepared = [unhex(&v.msg_prefix), unhex(&v.msg)].concat();
        assert_eq!(prepared, unhex(&v.prepared_msg), "{}: prepared_msg", v.name);
        assert_eq!(v.msg_prefix.is_empty(), !variant.is_randomized(), "{}", v.name);
        assert_eq!(unhex(&v.salt).len(), variant.salt_len(), "{}", v.name);

        // EMSA-PSS-ENCODE: blinding with r = 1 leaves the encoded message itself.
        let unblinded =
            rsabssa::blind_with_randomness(pk, variant, &prepared, &unhex(&v.salt), &[1]).unwrap();
        assert_eq!(
            unblinded.blinded_msg,
            unhex(&v.encoded_msg),
            "{}: encoded_msg",
            v.name
        );

        // Blind with the vector's salt and r.
        let r = blind_from_inverse(&unhex(&v.n), &unhex(&v.inv));
        let blinded = rsabssa::blind_with_randomness(pk, variant, &prepared, &unhex(&v.salt), &r).unwrap();
        assert_eq!(
            blinded.blinded_msg,
            unhex(&v.blinded_msg),
            "{}: blinded_msg",
            v.name
        );
        assert_eq!(*blinded.inv.to_bytes(pk), unhex(&v.inv), "{}: inv", v.name);

        // BlindSign is deterministic despite the internal RNG blinding.
        let blind_sig = rsabssa::blind_sign(&sk, &mut SystemRng, &blinded.blinded_msg).unwrap();
        assert_eq!(blind_sig, unhex(&v.blind_sig), "{}: blind_sig", v.name);

        // Finalize from the vector's own blind_sig and inv.
        let inv = rsabssa::BlindInverse::from_bytes(pk, &unhex(&v.inv)).unwrap();
        let sig = rsabssa::finalize(pk, variant, &prepared, &unhex(&v.blind_sig), &inv).unwrap();
        assert_eq!(sig, unhex(&v.sig), "{}: sig", v.name);

        // sig verifies as RSASSA-PSS, and only over the prepared message.
        rsabssa::verify(pk, variant, &unhex(&v.prepared_msg), &unhex(&v.sig)).unwrap();
        let mut other = prepared.clone();
        other[0] ^= 1;
        assert!(rsabssa::verify(pk, variant, &other, &sig).is_err(), "{}", v.name);
        // A signature under one salt length does not verify under the other.
        let twin = match variant {
            Variant::Sha384PssRandomized => Variant::Sha384PssZeroRandomized,
            Variant::Sha384PssZeroRandomized => Variant::Sha384PssRandomized,
            Variant::Sha384PssDeterministic => Variant::Sha384PssZeroDeterministic,
            Variant::Sha384PssZeroDeterministic => Variant::Sha384PssDeterministic,
        };
        assert!(rsabssa::verify(pk, twin, &prepared, &sig).is_err(), "{}", v.name);
    }
    assert_eq!(
        seen,
        Variant::ALL.to_vec(),
        "every variant exactly once, in RFC order"
    );
}

#[derive(Deserialize)]
#[allow(non_snake_case)]
struct TokenVector {
    skS: String,
    pkS: String,
    token_challenge: String,
    nonce: String,
    blind: String,
    salt: String,
    token_request: String,
    token_response: String,
    token: String,
}

fn token_vectors() -> Vec<TokenVector> {
    serde_json::from_str(RFC9578).unwrap()
}

fn vector_key(v: &TokenVector) -> SecretKey {
    SecretKey::from_pkcs8_pem(core::str::from_utf8(&unhex(&v.skS)).unwrap()).unwrap()
}

#[test]
fn rfc9578_type2_vectors_replay() {
    let vectors = token_vectors();
    assert_eq!(vectors.len(), 5);
    for (i, v) in vectors.iter().enumerate() {
        let sk = vector_key(v);
        let pk = sk.public_key();

        // pkS is the SPKI with id-RSASSA-PSS, byte for byte, both ways.
        assert_eq!(pk.to_spki(), unhex(&v.pkS), "vector {i}: pkS");
        assert_eq!(&PublicKey::from_spki(&unhex(&v.pkS)).unwrap(), pk, "vector {i}");

        let nonce: [u8; 32] = unhex(&v.nonce).try_into().unwrap();
        let challenge_digest = token::challenge_digest(&unhex(&v.token_challenge));
        let (request, pending) = token::token_request_with_randomness(
            pk,
            nonce,
            challenge_digest,
            &unhex(&v.salt),
            &unhex(&v.blind),
        )
        .unwrap();
        assert_eq!(
            request.to_bytes().to_vec(),
            unhex(&v.token_request),
            "vector {i}: token_request"
        );
        assert_eq!(
            TokenRequest::from_bytes(&unhex(&v.token_request)).unwrap(),
            request
        );

        let response = token::sign_token_request(&sk, &mut SystemRng, &request).unwrap();
        assert_eq!(
            response.to_bytes().to_vec(),
            unhex(&v.token_response),
            "vector {i}: token_response"
        );
        assert_eq!(
            TokenResponse::from_bytes(&unhex(&v.token_response)).unwrap(),
            response
        );

        let token = pending.finalize(pk, &response).unwrap();
        let bytes = token.to_bytes();
        assert_eq!(bytes.len(), TOKEN_LEN);
        assert_eq!(bytes.to_vec(), unhex(&v.token), "vector {i}: token");

        let parsed = Token::from_bytes(&unhex(&v.token)).unwrap();
        assert_eq!(parsed, token);
        assert_eq!(parsed.token_key_id, pk.token_key_id());
        parsed.verify(pk).unwrap();
        // The public key alone (as a verifier holds it) suffices.
        parsed
            .verify(&PublicKey::from_spki(&unhex(&v.pkS)).unwrap())
            .unwrap();
    }
}

#[test]
fn flipped_bytes_in_vector_tokens_are_rejected() {
    let v = &token_vectors()[0];
    let pk = PublicKey::from_spki(&unhex(&v.pkS)).unwrap();
    let good = unhex(&v.token);
    // Every byte of the token: type, nonce, challenge digest, key id and authenticator.
    for i in 0..good.len() {
        for bit in [0x01u8, 0x80] {
            let mut bad = good.clone();
            bad[i] ^= bit;
            let verdict = Token::from_bytes(&bad).and_then(|t| t.verify(&pk));
            assert!(verdict.is_err(), "byte {i} bit {bit:#x} accepted");
        }
    }
}

#[test]
fn wrong_lengths_and_types_are_rejected() {
    use ageband_blind::Error;
    let v = &token_vectors()[0];
    let good = unhex(&v.token);
    for len in [0, 1, 2, 98, TOKEN_LEN - 1, TOKEN_LEN + 1, 2 * TOKEN_LEN] {
        let mut bytes = good.clone();
        bytes.resize(len, 0);
        assert_eq!(
            Token::from_bytes(&bytes),
            Err(Error::UnexpectedInputSize),
            "length {len}"
        );
    }
    for token_type in [0x0000u16, 0x0001, 0x0003, 0x0200, 0xffff] {
        let mut bytes = good.clone();
        bytes[..2].copy_from_slice(&token_type.to_be_bytes());
        assert_eq!(
            Token::from_bytes(&bytes),
            Err(Error::WrongTokenType),
            "type {token_type:#06x}"
        );
    }
    let request = unhex(&v.token_request);
    assert_eq!(
        TokenRequest::from_bytes(&request[..258]),
        Err(Error::UnexpectedInputSize)
    );
    assert_eq!(
        TokenRequest::from_bytes(&[request.clone(), vec![0]].concat()),
        Err(Error::UnexpectedInputSize)
    );
    let mut typed = request.clone();
    typed[1] = 1;
    assert_eq!(TokenRequest::from_bytes(&typed), Err(Error::WrongTokenType));
    let response = unhex(&v.token_response);
    assert_eq!(
        TokenResponse::from_bytes(&response[1..]),
        Err(Error::UnexpectedInputSize)
    );
    assert_eq!(
        TokenResponse::from_bytes(&[response.clone(), vec![0]].concat()),
        Err(Error::UnexpectedInputSize)
    );
}

#[test]
fn spki_other_than_rfc9578_form_is_rejected() {
    use ageband_blind::Error;
    let v = &token_vectors()[0];
    let spki = unhex(&v.pkS);
    // rsaEncryption SPKI of the same key (RFC 9474 §6.2: MUST NOT be used).
    let pk = PublicKey::from_spki(&spki).unwrap();
    let mut rsa_encryption = vec![
        0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
    ];
    rsa_encryption.extend_from_slice(&[0x03, 0x82, 0x01, 0x0f, 0x00]);
    rsa_encryption.extend_from_slice(pk.pkcs1_der());
    let mut wrapped = vec![0x30, 0x82, 0x01, 0x22];
    wrapped.extend_from_slice(&rsa_encryption);
    assert_eq!(PublicKey::from_spki(&wrapped), Err(Error::InvalidKey));
    // Salt length 32 instead of 48.
    let mut salt32 = spki.clone();
    assert_eq!(salt32[66], 0x30);
    salt32[66] = 0x20;
    assert_eq!(PublicKey::from_spki(&salt32), Err(Error::InvalidKey));
    // Truncated, extended.
    assert_eq!(
        PublicKey::from_spki(&spki[..spki.len() - 1]),
        Err(Error::InvalidKey)
    );
    assert_eq!(
        PublicKey::from_spki(&[spki.clone(), vec![0]].concat()),
        Err(Error::InvalidKey)
    );
    // The DER RSAPublicKey inside round-trips.
    assert_eq!(&PublicKey::from_pkcs1_der(pk.pkcs1_der()).unwrap(), &pk);
}

#[test]
fn blinding_factor_must_be_a_unit_below_n() {
    use ageband_blind::Error;
    let v: Vec<BlindRsaVector> = serde_json::from_str(RFC9474).unwrap();
    let v = &v[2]; // PSS-Deterministic
    let sk = SecretKey::from_components(
        &unhex(&v.n),
        &unhex(&v.e),
        &unhex(&v.d),
        &unhex(&v.p),
        &unhex(&v.q),
    )
    .unwrap();
    let pk = sk.public_key();
    let variant = Variant::Sha384PssDeterministic;
    let msg = unhex(&v.msg);
    let salt = unhex(&v.salt);
    // r = 0, r = p (shares a factor with n): "blinding error".
    assert_eq!(
        rsabssa::blind_with_randomness(pk, variant, &msg, &salt, &[0]).unwrap_err(),
        Error::Blinding
    );
    assert_eq!(
        rsabssa::blind_with_randomness(pk, variant, &msg, &salt, &unhex(&v.p)).unwrap_err(),
        Error::Blinding
    );
    // r = n is out of range; a salt of the wrong length is refused.
    assert_eq!(
        rsabssa::blind_with_randomness(pk, variant, &msg, &salt, &unhex(&v.n)).unwrap_err(),
        Error::InvalidInput
    );
    assert_eq!(
        rsabssa::blind_with_randomness(pk, variant, &msg, &salt[1..], &[3]).unwrap_err(),
        Error::UnexpectedInputSize
    );
    // r = 1 is a valid (if useless) factor: the blinded message is the encoded message itself.
    let b = rsabssa::blind_with_randomness(pk, variant, &msg, &salt, &[1]).unwrap();
    assert_eq!(
        *b.inv.to_bytes(pk),
        [vec![0; pk.modulus_len() - 1], vec![1]].concat()
    );
}
