//! RSABSSA (RFC 9474 §4): Prepare, Blind, BlindSign, Finalize and verification.

use crypto_bigint::ctutils::{CtEq, CtLt};
use crypto_bigint::modular::BoxedMontyForm;
use crypto_bigint::{Gcd, NonZero, RandomMod};
use ring::signature::{RSA_PSS_2048_8192_SHA384, UnparsedPublicKey};
use rsa::BoxedUint;
use rsa::hazmat::{rsa_decrypt, rsa_encrypt};
use rsa::rand_core::TryCryptoRng;
use rsa::traits::PublicKeyParts;
use zeroize::{Zeroize, Zeroizing};

use crate::pss::{self, HASH_LEN};
use crate::{Error, PublicKey, SecretKey};

/// Length of the random prefix that `PrepareRandomize` puts before the message.
pub const MSG_PREFIX_LEN: usize = 32;

/// The four named variants of RFC 9474 §5. All use SHA-384 and MGF1-SHA-384.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Variant {
    /// RSABSSA-SHA384-PSS-Randomized: 48-byte salt, randomized preparation (recommended by RFC 9474).
    Sha384PssRandomized,
    /// RSABSSA-SHA384-PSSZERO-Randomized: empty salt, randomized preparation.
    Sha384PssZeroRandomized,
    /// RSABSSA-SHA384-PSS-Deterministic: 48-byte salt, identity preparation (RFC 9578 type 0x0002).
    Sha384PssDeterministic,
    /// RSABSSA-SHA384-PSSZERO-Deterministic: empty salt, identity preparation.
    Sha384PssZeroDeterministic,
}

impl Variant {
    /// All four variants.
    pub const ALL: [Variant; 4] = [
        Variant::Sha384PssRandomized,
        Variant::Sha384PssZeroRandomized,
        Variant::Sha384PssDeterministic,
        Variant::Sha384PssZeroDeterministic,
    ];

    /// The name of RFC 9474 §5, e.g. `RSABSSA-SHA384-PSS-Deterministic`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Variant::Sha384PssRandomized => "RSABSSA-SHA384-PSS-Randomized",
            Variant::Sha384PssZeroRandomized => "RSABSSA-SHA384-PSSZERO-Randomized",
            Variant::Sha384PssDeterministic => "RSABSSA-SHA384-PSS-Deterministic",
            Variant::Sha384PssZeroDeterministic => "RSABSSA-SHA384-PSSZERO-Deterministic",
        }
    }

    /// The variant named `name` (RFC 9474 §5 spelling).
    #[must_use]
    pub fn from_name(name: &str) -> Option<Variant> {
        Variant::ALL.into_iter().find(|v| v.name() == name)
    }

    /// The PSS salt length `sLen`: 48 or 0.
    #[must_use]
    pub fn salt_len(self) -> usize {
        match self {
            Variant::Sha384PssRandomized | Variant::Sha384PssDeterministic => HASH_LEN,
            Variant::Sha384PssZeroRandomized | Variant::Sha384PssZeroDeterministic => 0,
        }
    }

    /// Whether `Prepare` is `PrepareRandomize` (a 32-byte random prefix) rather than the identity.
    #[must_use]
    pub fn is_randomized(self) -> bool {
        matches!(
            self,
            Variant::Sha384PssRandomized | Variant::Sha384PssZeroRandomized
        )
    }
}

/// `Prepare` (RFC 9474 §4.1): for Randomized variants a fresh 32-byte prefix followed by `msg`,
/// otherwise `msg` itself. The result is `input_msg`, the message that is blinded, signed and
/// verified; applications of Randomized variants consume `input_msg[32..]`.
///
/// # Errors
/// [`Error::Rng`] if the generator fails.
pub fn prepare<R: TryCryptoRng + ?Sized>(
    variant: Variant,
    rng: &mut R,
    msg: &[u8],
) -> Result<Vec<u8>, Error> {
    if !variant.is_randomized() {
        return Ok(msg.to_vec());
    }
    let mut input = vec![0u8; MSG_PREFIX_LEN + msg.len()];
    rng.try_fill_bytes(&mut input[..MSG_PREFIX_LEN])
        .map_err(|_| Error::Rng)?;
    input[MSG_PREFIX_LEN..].copy_from_slice(msg);
    Ok(input)
}

/// The inverse `inv` of the blinding factor, kept by the client between [`blind`] and [`finalize`].
/// Wiped on drop.
#[derive(Clone)]
pub struct BlindInverse(BoxedUint);

impl core::fmt::Debug for BlindInverse {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("BlindInverse(..)")
    }
}

impl Drop for BlindInverse {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl BlindInverse {
    /// `inv` as `modulus_len` big-endian bytes (for a client that must keep it across a restart;
    /// it is as secret as the unlinkability of the token it unblinds).
    #[must_use]
    pub fn to_bytes(&self, pk: &PublicKey) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(i2osp(&self.0, pk.modulus_len()))
    }

    /// `inv` from [`Self::to_bytes`].
    ///
    /// # Errors
    /// [`Error::UnexpectedInputSize`] for a wrong length, [`Error::InvalidInput`] if not below n.
    pub fn from_bytes(pk: &PublicKey, bytes: &[u8]) -> Result<Self, Error> {
        Ok(Self(os2ip(pk, bytes)?))
    }
}

/// The output of [`blind`]: the message to send to the signer and the inverse to keep.
#[derive(Clone, Debug)]
pub struct Blinded {
    /// `blinded_msg`, `modulus_len` bytes, sent to the server.
    pub blinded_msg: Vec<u8>,
    /// `inv`, kept by the client for [`finalize`].
    pub inv: BlindInverse,
}

/// `Blind` (RFC 9474 §4.2): EMSA-PSS-ENCODE of `input_msg` with a fresh salt of the variant's
/// length, then `m · r^e mod n` for a uniformly random `r` in `[1, n)`.
///
/// # Errors
/// [`Error::Encoding`] (key too small for the encoding), [`Error::InvalidInput`] (m not coprime
/// with n), [`Error::Rng`].
pub fn blind<R: TryCryptoRng + ?Sized>(
    pk: &PublicKey,
    variant: Variant,
    rng: &mut R,
    input_msg: &[u8],
) -> Result<Blinded, Error> {
    let mut salt = Zeroizing::new(vec![0u8; variant.salt_len()]);
    rng.try_fill_bytes(&mut salt).map_err(|_| Error::Rng)?;
    let n = pk.inner.n();
    loop {
        let r = Zeroizing::new(BoxedUint::try_random_mod_vartime(rng, n).map_err(|_| Error::Rng)?);
        match blind_inner(pk, input_msg, &salt, &r) {
            // r = 0 or r sharing a factor with n (negligible): draw again (RFC 9474 §4.2 "SHOULD retry").
            Err(Error::Blinding) => continue,
            other => return other,
        }
    }
}

/// `Blind` with the salt and the blinding factor `r` (big-endian, `1 ≤ r < n`) given by the caller.
///
/// **Test hook, not API**: it exists only to replay the RFC 9474 and RFC 9578 vectors, which fix
/// both values. A reused or predictable `r` or salt links the signer's view to the token. Hidden
/// from the documentation; production code calls [`blind`].
///
/// # Errors
/// As [`blind`]; [`Error::UnexpectedInputSize`] if the salt length does not match the variant,
/// [`Error::Blinding`] if `r` is 0 or not invertible, [`Error::InvalidInput`] if `r ≥ n`.
#[doc(hidden)]
pub fn blind_with_randomness(
    pk: &PublicKey,
    variant: Variant,
    input_msg: &[u8],
    salt: &[u8],
    r: &[u8],
) -> Result<Blinded, Error> {
    if salt.len() != variant.salt_len() {
        return Err(Error::UnexpectedInputSize);
    }
    let r = Zeroizing::new(int_below_n(pk, r)?);
    blind_inner(pk, input_msg, salt, &r)
}

fn blind_inner(pk: &PublicKey, input_msg: &[u8], salt: &[u8], r: &BoxedUint) -> Result<Blinded, Error> {
    let n = pk.inner.n();
    let encoded = Zeroizing::new(pss::encode(input_msg, pk.modulus_bits() - 1, salt)?);
    let m = Zeroizing::new(int_below_n(pk, &encoded)?);
    // Products mod n in Montgomery form (BoxedUint::mul_mod divides, which is far slower).
    let params = pk.inner.n_params();
    let m_monty = Zeroizing::new(BoxedMontyForm::new((*m).clone(), params));
    let r_monty = Zeroizing::new(BoxedMontyForm::new(r.clone(), params));
    // Steps 4–8 with one constant-time inversion instead of a gcd and an inversion (each costs a
    // safegcd run): m·r is invertible mod n iff both m and r are, and then inv = m · (m·r)⁻¹ = r⁻¹.
    let mr = Zeroizing::new(m_monty.mul(&r_monty));
    let inv_mr = Zeroizing::new(Option::<BoxedMontyForm>::from(mr.invert()).ok_or_else(|| {
        // Only reached if m or r shares a factor with n (or r = 0): tell the two cases apart.
        if bool::from(n.as_ref().gcd(&m).is_one()) {
            Error::Blinding
        } else {
            Error::InvalidInput
        }
    })?);
    let inv = m_monty.mul(&inv_mr).retrieve();
    // x = RSAVP1(pk, r); z = m · x mod n.
    let x = Zeroizing::new(rsa_encrypt(&pk.inner, r).map_err(|_| Error::InvalidKey)?);
    let z = m_monty.mul(&BoxedMontyForm::new((*x).clone(), params)).retrieve();
    Ok(Blinded {
        blinded_msg: i2osp(&z, pk.modulus_len()),
        inv: BlindInverse(inv),
    })
}

/// `BlindSign` (RFC 9474 §4.3), run by the server: `s = RSASP1(sk, m)` on `rsa` 0.10's
/// side-channel-hardened private operation (base blinding with a fresh r, exponent blinding and
/// CRT modulus blinding, all from `rng`, on constant-time crypto-bigint arithmetic), then the
/// fault check of RFC 9474 §4.3 steps 3–4 / §7.1: `s^e mod n` must equal `m`, or nothing is
/// returned.
///
/// # Errors
/// [`Error::UnexpectedInputSize`] if `blinded_msg` is not `modulus_len` bytes,
/// [`Error::MessageRepresentativeOutOfRange`] if it is not below n, [`Error::SigningFailure`] if the
/// private operation fails or the fault check does not hold, [`Error::Rng`].
pub fn blind_sign<R: TryCryptoRng + ?Sized>(
    sk: &SecretKey,
    rng: &mut R,
    blinded_msg: &[u8],
) -> Result<Vec<u8>, Error> {
    blind_sign_inner(sk, rng, blinded_msg, |_| {})
}

/// [`blind_sign`] with a hook applied to `s` between the private operation and the fault check,
/// so the tests can simulate a fault.
pub(crate) fn blind_sign_inner<R: TryCryptoRng + ?Sized>(
    sk: &SecretKey,
    rng: &mut R,
    blinded_msg: &[u8],
    fault: impl FnOnce(&mut BoxedUint),
) -> Result<Vec<u8>, Error> {
    let pk = sk.public_key();
    let m = os2ip(pk, blinded_msg).map_err(|e| match e {
        Error::InvalidInput => Error::MessageRepresentativeOutOfRange,
        other => other,
    })?;
    let mut s = rsa_decrypt(Some(rng), &sk.inner, &m).map_err(|e| match e {
        rsa::Error::Rng => Error::Rng,
        _ => Error::SigningFailure,
    })?;
    fault(&mut s);
    // Fault check: m' = RSAVP1(pk, s); m' must equal m.
    let check = rsa_encrypt(&pk.inner, &s).map_err(|_| Error::SigningFailure)?;
    if !bool::from(check.ct_eq(&m)) {
        s.zeroize();
        return Err(Error::SigningFailure);
    }
    Ok(i2osp(&s, pk.modulus_len()))
}

/// `Finalize` (RFC 9474 §4.4), run by the client: `s = blind_sig · inv mod n`, then RSASSA-PSS
/// verification of `s` over `input_msg` (see [`verify`]); the signature is returned only if it
/// verifies.
///
/// # Errors
/// [`Error::UnexpectedInputSize`] if `blind_sig` is not `modulus_len` bytes,
/// [`Error::InvalidSignature`] if the unblinded signature does not verify.
pub fn finalize(
    pk: &PublicKey,
    variant: Variant,
    input_msg: &[u8],
    blind_sig: &[u8],
    inv: &BlindInverse,
) -> Result<Vec<u8>, Error> {
    let z = os2ip(pk, blind_sig).map_err(|e| match e {
        Error::InvalidInput => Error::InvalidSignature,
        other => other,
    })?;
    let params = pk.inner.n_params();
    let s = BoxedMontyForm::new(z, params)
        .mul(&BoxedMontyForm::new(inv.0.clone(), params))
        .retrieve();
    let sig = i2osp(&s, pk.modulus_len());
    verify(pk, variant, input_msg, &sig)?;
    Ok(sig)
}

/// RSASSA-PSS-VERIFY (RFC 8017 §8.1.2) of `sig` over `input_msg` with SHA-384, MGF1-SHA-384 and
/// the variant's salt length.
///
/// Variants with a 48-byte salt verify on ring (`RSA_PSS_2048_8192_SHA384`). ring only accepts
/// sLen = hLen, so the PSSZERO variants (sLen = 0) verify here: RSAVP1 on `rsa` 0.10 and
/// EMSA-PSS-VERIFY of this crate.
///
/// # Errors
/// [`Error::InvalidSignature`].
pub fn verify(pk: &PublicKey, variant: Variant, input_msg: &[u8], sig: &[u8]) -> Result<(), Error> {
    if variant.salt_len() == HASH_LEN {
        return verify_pss_ring(pk, input_msg, sig);
    }
    let s = os2ip(pk, sig).map_err(|_| Error::InvalidSignature)?;
    let m = rsa_encrypt(&pk.inner, &s).map_err(|_| Error::InvalidSignature)?;
    let em_bits = pk.modulus_bits() - 1;
    let em_len = em_bits.div_ceil(8);
    let bytes = i2osp(&m, pk.modulus_len());
    // I2OSP(m, emLen) fails if m ≥ 256^emLen.
    let (high, em) = bytes.split_at(pk.modulus_len() - em_len);
    if high.iter().any(|&b| b != 0) {
        return Err(Error::InvalidSignature);
    }
    pss::verify(input_msg, em, em_bits, variant.salt_len())
}

/// RSASSA-PSS-VERIFY with SHA-384 and sLen = 48 on ring.
pub(crate) fn verify_pss_ring(pk: &PublicKey, msg: &[u8], sig: &[u8]) -> Result<(), Error> {
    UnparsedPublicKey::new(&RSA_PSS_2048_8192_SHA384, pk.pkcs1_der())
        .verify(msg, sig)
        .map_err(|_| Error::InvalidSignature)
}

/// OS2IP of exactly `modulus_len` bytes, at the modulus' precision, required below n.
fn os2ip(pk: &PublicKey, bytes: &[u8]) -> Result<BoxedUint, Error> {
    if bytes.len() != pk.modulus_len() {
        return Err(Error::UnexpectedInputSize);
    }
    int_below_n(pk, bytes)
}

/// A big-endian integer of at most `modulus_len` bytes, at the modulus' precision, below n.
fn int_below_n(pk: &PublicKey, bytes: &[u8]) -> Result<BoxedUint, Error> {
    let n: &NonZero<BoxedUint> = pk.inner.n();
    if bytes.len() > pk.modulus_len() {
        return Err(Error::UnexpectedInputSize);
    }
    let x = BoxedUint::from_be_slice(bytes, n.bits_precision()).map_err(|_| Error::UnexpectedInputSize)?;
    if !bool::from(x.ct_lt(n.as_ref())) {
        return Err(Error::InvalidInput);
    }
    Ok(x)
}

/// I2OSP to `len` bytes of a value below n.
fn i2osp(x: &BoxedUint, len: usize) -> Vec<u8> {
    let full = Zeroizing::new(x.to_be_bytes());
    // x < n < 256^len, so the leading bytes beyond `len` are zero.
    full[full.len() - len..].to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SystemRng;
    use crate::test_support::rfc9578_secret_key;

    #[test]
    fn fault_in_private_operation_is_caught() {
        let sk = rfc9578_secret_key();
        let pk = sk.public_key();
        let mut rng = SystemRng;
        let input = b"fault".to_vec();
        let blinded = blind(pk, Variant::Sha384PssDeterministic, &mut rng, &input).unwrap();
        // Unfaulted: succeeds.
        blind_sign_inner(&sk, &mut rng, &blinded.blinded_msg, |_| {}).unwrap();
        // A single flipped bit in s (a fault in one CRT half, say) is never returned.
        let faulted = blind_sign_inner(&sk, &mut rng, &blinded.blinded_msg, |s| {
            let one = BoxedUint::one_with_precision(s.bits_precision());
            *s = s.wrapping_add(&one);
        });
        assert_eq!(faulted, Err(Error::SigningFailure));
    }
}
