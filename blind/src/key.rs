//! RSA keys: the issuer's secret key (private operation on `rsa` 0.10) and the public key in the
//! encodings RFC 9578 and ring need.

use ring::digest::{SHA256, digest};
use rsa::BoxedUint;
use rsa::pkcs1::{DecodeRsaPublicKey, EncodeRsaPublicKey};
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use rsa::rand_core::TryCryptoRng;
use rsa::traits::{PrivateKeyParts, PublicKeyParts};
use zeroize::Zeroizing;

use crate::Error;

/// Smallest modulus accepted, in bits (ring's RSA-PSS verification starts at 2048).
pub const MIN_MODULUS_BITS: usize = 2048;
/// Largest modulus accepted, in bits (ring's limit and rsa's default limit).
pub const MAX_MODULUS_BITS: usize = 8192;

/// DER `AlgorithmIdentifier` of RFC 9578 §6.5: id-RSASSA-PSS with RSASSA-PSS-params
/// {hashAlgorithm sha384, maskGenAlgorithm mgf1(sha384), saltLength 48}.
const RSASSA_PSS_SHA384_ALGORITHM_ID: [u8; 63] = [
    0x30, 0x3d, // SEQUENCE (61)
    0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a, // id-RSASSA-PSS
    0x30, 0x30, // RSASSA-PSS-params SEQUENCE (48)
    0xa0, 0x0d, 0x30, 0x0b, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
    0x02, // [0] hashAlgorithm sha384
    0xa1, 0x1a, 0x30, 0x18, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x08, 0x30, 0x0b,
    0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, // [1] mgf1(sha384)
    0xa2, 0x03, 0x02, 0x01, 0x30, // [2] saltLength 48
];

/// An RSA public key accepted for blind signatures (2048 to 8192 bits).
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    pub(crate) inner: rsa::PublicKey,
    /// `k`, the modulus length in bytes.
    modulus_len: usize,
    /// `modBits`.
    modulus_bits: usize,
    /// DER `RSAPublicKey` (RFC 8017 §A.1.1), the form ring takes.
    pkcs1_der: Vec<u8>,
    /// SHA-256 of the RFC 9578 SPKI.
    token_key_id: [u8; 32],
}

impl core::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PublicKey")
            .field("modulus_bits", &self.modulus_bits)
            .finish_non_exhaustive()
    }
}

impl PublicKey {
    fn from_rsa(inner: rsa::PublicKey) -> Result<Self, Error> {
        let modulus_bits = inner.n().bit_width_vartime() as usize;
        if !(MIN_MODULUS_BITS..=MAX_MODULUS_BITS).contains(&modulus_bits) {
            return Err(Error::InvalidKey);
        }
        let pkcs1_der = inner.to_pkcs1_der().map_err(|_| Error::InvalidKey)?.into_vec();
        let mut token_key_id = [0u8; 32];
        token_key_id.copy_from_slice(digest(&SHA256, &spki_of(&pkcs1_der)).as_ref());
        Ok(Self {
            modulus_len: modulus_bits.div_ceil(8),
            modulus_bits,
            pkcs1_der,
            token_key_id,
            inner,
        })
    }

    /// The key from its big-endian modulus `n` and public exponent `e`.
    ///
    /// # Errors
    /// [`Error::InvalidKey`] for an even or out-of-range modulus or exponent.
    pub fn from_components(n: &[u8], e: &[u8]) -> Result<Self, Error> {
        let n = BoxedUint::from_be_slice_vartime(n);
        let e = BoxedUint::from_be_slice_vartime(e);
        Self::from_rsa(rsa::PublicKey::new(n, e).map_err(|_| Error::InvalidKey)?)
    }

    /// The key from a DER `RSAPublicKey` (PKCS #1).
    ///
    /// # Errors
    /// [`Error::InvalidKey`] when the encoding or the key is invalid.
    pub fn from_pkcs1_der(der: &[u8]) -> Result<Self, Error> {
        let key = Self::from_rsa(rsa::PublicKey::from_pkcs1_der(der).map_err(|_| Error::InvalidKey)?)?;
        if key.pkcs1_der != der {
            return Err(Error::InvalidKey);
        }
        Ok(key)
    }

    /// The key from the SubjectPublicKeyInfo of RFC 9578 §6.5 (id-RSASSA-PSS, SHA-384, MGF1-SHA-384,
    /// salt length 48). Any other algorithm identifier, including rsaEncryption, and any non-canonical
    /// encoding is rejected, so that [`Self::token_key_id`] is a function of the key.
    ///
    /// # Errors
    /// [`Error::InvalidKey`].
    pub fn from_spki(der: &[u8]) -> Result<Self, Error> {
        let (outer, rest) = der_tlv(der, 0x30)?;
        if !rest.is_empty() {
            return Err(Error::InvalidKey);
        }
        let after_alg = outer
            .strip_prefix(&RSASSA_PSS_SHA384_ALGORITHM_ID[..])
            .ok_or(Error::InvalidKey)?;
        let (bits, rest) = der_tlv(after_alg, 0x03)?;
        if !rest.is_empty() {
            return Err(Error::InvalidKey);
        }
        let pkcs1 = bits.strip_prefix(&[0u8][..]).ok_or(Error::InvalidKey)?;
        let key = Self::from_pkcs1_der(pkcs1)?;
        if key.to_spki() != der {
            return Err(Error::InvalidKey);
        }
        Ok(key)
    }

    /// The DER SubjectPublicKeyInfo of RFC 9578 §6.5: id-RSASSA-PSS with SHA-384, MGF1-SHA-384 and
    /// salt length 48, the `RSAPublicKey` in the BIT STRING. This is `pkS`/`pkI` of RFC 9578 and the
    /// input of [`Self::token_key_id`].
    #[must_use]
    pub fn to_spki(&self) -> Vec<u8> {
        spki_of(&self.pkcs1_der)
    }

    /// `token_key_id` of RFC 9578: SHA-256 of [`Self::to_spki`] (computed once, at construction).
    #[must_use]
    pub fn token_key_id(&self) -> [u8; 32] {
        self.token_key_id
    }

    /// The DER `RSAPublicKey` (PKCS #1), as ring's `UnparsedPublicKey` takes it.
    #[must_use]
    pub fn pkcs1_der(&self) -> &[u8] {
        &self.pkcs1_der
    }

    /// `modulus_len` (`k`): the length in bytes of the modulus, of blinded messages and signatures.
    #[must_use]
    pub fn modulus_len(&self) -> usize {
        self.modulus_len
    }

    /// `modBits`: the bit length of the modulus.
    #[must_use]
    pub fn modulus_bits(&self) -> usize {
        self.modulus_bits
    }
}

/// The issuer's RSA secret key. Its private operation runs on `rsa` 0.10's blinded
/// implementation; see [`crate::blind_sign`].
#[derive(Clone)]
pub struct SecretKey {
    pub(crate) inner: rsa::PrivateKey,
    public: PublicKey,
}

impl core::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SecretKey")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

impl SecretKey {
    fn from_rsa(inner: rsa::PrivateKey) -> Result<Self, Error> {
        if inner.primes().len() != 2 {
            // Two-prime keys only: the private operation then takes the blinded CRT path.
            return Err(Error::InvalidKey);
        }
        let public = PublicKey::from_rsa(inner.to_public_key())?;
        Ok(Self { inner, public })
    }

    /// A fresh key of `bits` bits (2048 for RFC 9578 token type 0x0002) with e = 65537.
    ///
    /// # Errors
    /// [`Error::Rng`] if the generator fails, [`Error::InvalidKey`] for an unsupported size.
    pub fn generate<R: TryCryptoRng + ?Sized>(rng: &mut R, bits: usize) -> Result<Self, Error> {
        if !(MIN_MODULUS_BITS..=MAX_MODULUS_BITS).contains(&bits) {
            return Err(Error::InvalidKey);
        }
        Self::from_rsa(rsa::PrivateKey::new(rng, bits).map_err(|_| Error::Rng)?)
    }

    /// The key from its components (big-endian): modulus, public and private exponent, two primes.
    /// The key is validated (d·e ≡ 1, n = p·q) and the CRT values precomputed.
    ///
    /// # Errors
    /// [`Error::InvalidKey`].
    pub fn from_components(n: &[u8], e: &[u8], d: &[u8], p: &[u8], q: &[u8]) -> Result<Self, Error> {
        let n = BoxedUint::from_be_slice_vartime(n);
        let bits = n.bits_precision();
        let secret = |b: &[u8]| BoxedUint::from_be_slice(b, bits).map_err(|_| Error::InvalidKey);
        let key = rsa::PrivateKey::from_components(
            n.clone(),
            BoxedUint::from_be_slice_vartime(e),
            secret(d)?,
            vec![secret(p)?, secret(q)?],
        )
        .map_err(|_| Error::InvalidKey)?;
        Self::from_rsa(key)
    }

    /// The key from a PKCS #8 DER `PrivateKeyInfo` (rsaEncryption).
    ///
    /// # Errors
    /// [`Error::InvalidKey`].
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, Error> {
        Self::from_rsa(rsa::PrivateKey::from_pkcs8_der(der).map_err(|_| Error::InvalidKey)?)
    }

    /// The key from a PEM `PRIVATE KEY` (PKCS #8), as in the RFC 9578 vectors.
    ///
    /// # Errors
    /// [`Error::InvalidKey`].
    pub fn from_pkcs8_pem(pem: &str) -> Result<Self, Error> {
        Self::from_rsa(rsa::PrivateKey::from_pkcs8_pem(pem).map_err(|_| Error::InvalidKey)?)
    }

    /// The key as PKCS #8 DER, in a buffer wiped on drop.
    ///
    /// # Errors
    /// [`Error::InvalidKey`] if encoding fails.
    pub fn to_pkcs8_der(&self) -> Result<Zeroizing<Vec<u8>>, Error> {
        let doc = self.inner.to_pkcs8_der().map_err(|_| Error::InvalidKey)?;
        Ok(Zeroizing::new(doc.as_bytes().to_vec()))
    }

    /// The public half.
    #[must_use]
    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }
}

/// The RFC 9578 SPKI around a DER `RSAPublicKey`.
fn spki_of(pkcs1_der: &[u8]) -> Vec<u8> {
    let mut bit_string = Vec::with_capacity(pkcs1_der.len() + 1);
    bit_string.push(0); // no unused bits
    bit_string.extend_from_slice(pkcs1_der);
    let mut body = RSASSA_PSS_SHA384_ALGORITHM_ID.to_vec();
    der_push_tlv(&mut body, 0x03, &bit_string);
    let mut out = Vec::with_capacity(body.len() + 4);
    der_push_tlv(&mut out, 0x30, &body);
    out
}

/// Reads one DER TLV with the expected tag; returns (contents, rest).
fn der_tlv(input: &[u8], tag: u8) -> Result<(&[u8], &[u8]), Error> {
    let (&t, rest) = input.split_first().ok_or(Error::InvalidKey)?;
    if t != tag {
        return Err(Error::InvalidKey);
    }
    let (&first, mut rest) = rest.split_first().ok_or(Error::InvalidKey)?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 2 || rest.len() < n {
            return Err(Error::InvalidKey);
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        rest = &rest[n..];
        len
    };
    if rest.len() < len {
        return Err(Error::InvalidKey);
    }
    Ok(rest.split_at(len))
}

/// Appends a DER TLV (definite length, minimal form).
fn der_push_tlv(out: &mut Vec<u8>, tag: u8, contents: &[u8]) {
    out.push(tag);
    let len = contents.len();
    debug_assert!(
        len < 0x1_0000,
        "keys up to 8192 bits need at most two length octets"
    );
    if len < 0x80 {
        out.push(len as u8);
    } else if len < 0x100 {
        out.extend_from_slice(&[0x81, len as u8]);
    } else {
        out.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]);
    }
    out.extend_from_slice(contents);
}
