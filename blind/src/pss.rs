//! EMSA-PSS-ENCODE and EMSA-PSS-VERIFY (RFC 8017 §9.1) with SHA-384 and MGF1-SHA-384.

use ring::digest::{Context, SHA384, digest};

use crate::Error;

/// Output length of SHA-384 in bytes (`hLen`).
pub(crate) const HASH_LEN: usize = 48;

/// MGF1 (RFC 8017 §B.2.1) with SHA-384, XORed into `out`.
fn mgf1_xor(seed: &[u8], out: &mut [u8]) {
    for (counter, chunk) in out.chunks_mut(HASH_LEN).enumerate() {
        let mut ctx = Context::new(&SHA384);
        ctx.update(seed);
        // `out` is shorter than 2^32 blocks: the modulus is at most a few kilobytes.
        ctx.update(&u32::try_from(counter).unwrap_or(u32::MAX).to_be_bytes());
        let block = ctx.finish();
        for (o, m) in chunk.iter_mut().zip(block.as_ref()) {
            *o ^= m;
        }
    }
}

/// `H = Hash(0x00 * 8 ‖ mHash ‖ salt)`.
fn m_prime_hash(m_hash: &[u8], salt: &[u8]) -> [u8; HASH_LEN] {
    let mut ctx = Context::new(&SHA384);
    ctx.update(&[0u8; 8]);
    ctx.update(m_hash);
    ctx.update(salt);
    let mut h = [0u8; HASH_LEN];
    h.copy_from_slice(ctx.finish().as_ref());
    h
}

/// EMSA-PSS-ENCODE(M, emBits) with the given salt; returns EM of `ceil(em_bits / 8)` bytes.
pub(crate) fn encode(msg: &[u8], em_bits: usize, salt: &[u8]) -> Result<Vec<u8>, Error> {
    let em_len = em_bits.div_ceil(8);
    let m_hash = digest(&SHA384, msg);
    if em_len < HASH_LEN + salt.len() + 2 {
        return Err(Error::Encoding);
    }
    let h = m_prime_hash(m_hash.as_ref(), salt);
    let db_len = em_len - HASH_LEN - 1;
    let mut em = vec![0u8; em_len];
    {
        let db = &mut em[..db_len];
        // DB = PS ‖ 0x01 ‖ salt
        db[db_len - salt.len() - 1] = 0x01;
        db[db_len - salt.len()..].copy_from_slice(salt);
        mgf1_xor(&h, db);
        db[0] &= top_mask(em_len, em_bits);
    }
    em[db_len..em_len - 1].copy_from_slice(&h);
    em[em_len - 1] = 0xbc;
    Ok(em)
}

/// Mask that clears the leftmost `8·emLen − emBits` bits of the first octet.
fn top_mask(em_len: usize, em_bits: usize) -> u8 {
    0xffu8 >> (8 * em_len - em_bits)
}

/// EMSA-PSS-VERIFY(M, EM, emBits) with a fixed salt length `s_len`.
///
/// Runs on public data only (message, signature, public key), so it is not constant time.
pub(crate) fn verify(msg: &[u8], em: &[u8], em_bits: usize, s_len: usize) -> Result<(), Error> {
    let em_len = em_bits.div_ceil(8);
    if em.len() != em_len || em_len < HASH_LEN + s_len + 2 {
        return Err(Error::InvalidSignature);
    }
    if em[em_len - 1] != 0xbc {
        return Err(Error::InvalidSignature);
    }
    let db_len = em_len - HASH_LEN - 1;
    let h = &em[db_len..em_len - 1];
    let mask = top_mask(em_len, em_bits);
    if em[0] & !mask != 0 {
        return Err(Error::InvalidSignature);
    }
    let mut db = em[..db_len].to_vec();
    mgf1_xor(h, &mut db);
    db[0] &= mask;
    let ps_len = db_len - s_len - 1;
    if db[..ps_len].iter().any(|&b| b != 0) || db[ps_len] != 0x01 {
        return Err(Error::InvalidSignature);
    }
    let salt = &db[ps_len + 1..];
    let m_hash = digest(&SHA384, msg);
    if m_prime_hash(m_hash.as_ref(), salt) != h {
        return Err(Error::InvalidSignature);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_then_verify_both_salt_lengths() {
        for salt in [&[][..], &[7u8; HASH_LEN][..]] {
            for em_bits in [2047usize, 2048, 4095] {
                let em = encode(b"hello", em_bits, salt).unwrap();
                assert_eq!(em.len(), em_bits.div_ceil(8));
                verify(b"hello", &em, em_bits, salt.len()).unwrap();
                assert_eq!(
                    verify(b"hellO", &em, em_bits, salt.len()),
                    Err(Error::InvalidSignature)
                );
                let other = if salt.is_empty() { HASH_LEN } else { 0 };
                assert_eq!(
                    verify(b"hello", &em, em_bits, other),
                    Err(Error::InvalidSignature)
                );
            }
        }
    }

    #[test]
    fn too_short_encoding_is_rejected() {
        assert_eq!(
            encode(b"x", 8 * (HASH_LEN + HASH_LEN + 1), &[0; HASH_LEN]),
            Err(Error::Encoding)
        );
    }
}
