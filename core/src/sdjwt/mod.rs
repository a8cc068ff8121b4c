//! SD-JWT (RFC 9901): disclosures, `_sd` / `...` embedding, issuance serialization,
//! presentations that keep the exact presented bytes, KB-JWTs, and the verification algorithm
//! of RFC 9901 §7.1 and §7.3 (protocol.md §6).

mod disclosure;
mod verify;

pub use disclosure::{Disclosure, DisclosureError, MAX_DISCLOSURE, SALT_BYTES, digest};
pub use verify::{
    IssuerKeys, KbRequirements, Part, VerifiedSdJwt, VerifyError, VerifyOptions, verify_presentation,
};

use serde_json::{Map, Value, json};

use crate::jws::{self, SignError, Signer};
use crate::rng::{Rng, RngError};

/// Cap on a whole presentation (issuer JWT, disclosures and KB-JWT).
pub const MAX_PRESENTATION: usize = 16 * 1024;
/// Most disclosures accepted in one presentation.
pub const MAX_DISCLOSURES: usize = 16;
/// `typ` of a KB-JWT.
pub const KB_TYP: &str = "kb+jwt";
/// The one `_sd_alg`.
pub const SD_ALG: &str = "sha-256";

/// Why a serialized SD-JWT could not be split.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    /// Longer than [`MAX_PRESENTATION`] bytes, or more than [`MAX_DISCLOSURES`] disclosures.
    #[error("SD-JWT size {len} exceeds the cap of {max}")]
    TooLarge {
        /// The length.
        len: usize,
        /// The cap.
        max: usize,
    },
    /// Not ASCII `<JWT>~<D1>~…~<Dn>~[<KB-JWT>]`.
    #[error("not an SD-JWT serialization: {reason}")]
    Malformed {
        /// What is wrong.
        reason: &'static str,
    },
}

/// A presentation split into its parts, borrowing the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presentation<'a> {
    /// The issuer-signed JWT.
    pub issuer_jwt: &'a str,
    /// The encoded disclosures, in presented order.
    pub disclosures: Vec<&'a str>,
    /// `<JWT>~<D1>~…~<Dn>~` exactly as received: the input of `sd_hash`.
    pub sd_jwt: &'a str,
    /// The KB-JWT, if one follows the last `~`.
    pub kb_jwt: Option<&'a str>,
}

impl<'a> Presentation<'a> {
    /// Splits a serialized SD-JWT (with or without KB-JWT), applying the size caps.
    pub fn parse(input: &'a str) -> Result<Self, FormatError> {
        if input.len() > MAX_PRESENTATION {
            return Err(FormatError::TooLarge {
                len: input.len(),
                max: MAX_PRESENTATION,
            });
        }
        if !input.is_ascii() {
            return Err(FormatError::Malformed {
                reason: "non-ASCII input",
            });
        }
        let last = input.rfind('~').ok_or(FormatError::Malformed {
            reason: "no `~` separator",
        })?;
        let (sd_jwt, kb) = (&input[..=last], &input[last + 1..]);
        let mut parts = input[..last].split('~');
        let issuer_jwt = parts.next().unwrap_or("");
        if issuer_jwt.is_empty() {
            return Err(FormatError::Malformed {
                reason: "empty issuer JWT",
            });
        }
        let disclosures: Vec<&str> = parts.collect();
        if disclosures.iter().any(|d| d.is_empty()) {
            return Err(FormatError::Malformed {
                reason: "empty disclosure",
            });
        }
        if disclosures.len() > MAX_DISCLOSURES {
            return Err(FormatError::TooLarge {
                len: disclosures.len(),
                max: MAX_DISCLOSURES,
            });
        }
        Ok(Presentation {
            issuer_jwt,
            disclosures,
            sd_jwt,
            kb_jwt: (!kb.is_empty()).then_some(kb),
        })
    }
}

/// Adds the digest of `d` to the `_sd` array of `object` (creating it). Call
/// [`finish_sd_arrays`] before signing so that the order reveals nothing.
pub fn embed_property(object: &mut Map<String, Value>, d: &Disclosure) {
    let sd = object.entry("_sd").or_insert_with(|| Value::Array(Vec::new()));
    if let Value::Array(list) = sd {
        list.push(Value::String(d.digest()));
    }
}

/// The array element that stands for the disclosed element `d`: `{"...": digest}`.
pub fn array_placeholder(d: &Disclosure) -> Value {
    json!({ "...": d.digest() })
}

/// Pads the top-level `_sd` array with decoy digests up to `len` entries and sorts every
/// `_sd` array in `object` (recursively), so that neither order nor count tells which
/// claims exist (RFC 9901 §4.2.5, privacy.md).
pub fn finish_sd_arrays(
    object: &mut Map<String, Value>,
    pad_to: usize,
    rng: &mut dyn Rng,
) -> Result<(), RngError> {
    let sd = object.entry("_sd").or_insert_with(|| Value::Array(Vec::new()));
    if let Value::Array(list) = sd {
        while list.len() < pad_to {
            let mut decoy = [0u8; 32];
            rng.fill(&mut decoy)?;
            list.push(Value::String(crate::b64::encode(decoy)));
        }
    }
    sort_sd(object);
    Ok(())
}

fn sort_sd(object: &mut Map<String, Value>) {
    for (k, v) in object.iter_mut() {
        match v {
            Value::Array(list) if k == "_sd" => list.sort_by(|a, b| a.as_str().cmp(&b.as_str())),
            Value::Object(inner) => sort_sd(inner),
            Value::Array(list) => list.iter_mut().filter_map(Value::as_object_mut).for_each(sort_sd),
            _ => {}
        }
    }
}

/// Signs the payload and serializes `<JWT>~<D1>~…~<Dn>~` (RFC 9901 §4).
pub fn issue(
    signer: &dyn Signer,
    header: &Value,
    payload: &Value,
    disclosures: &[Disclosure],
) -> Result<String, SignError> {
    let mut out = jws::sign_compact(signer, header, payload)?;
    out.push('~');
    for d in disclosures {
        out.push_str(d.encoded());
        out.push('~');
    }
    Ok(out)
}

/// Creates a KB-JWT over the exact `sd_jwt` bytes (`<JWT>~<D1>~…~<Dn>~`) and returns the whole
/// presentation `sd_jwt ‖ KB-JWT` (RFC 9901 §4.3).
pub fn attach_kb_jwt(
    sd_jwt: &str,
    holder: &dyn Signer,
    audience: &str,
    nonce: &str,
    iat: u64,
) -> Result<String, SignError> {
    let header = json!({"alg": jws::ES256, "typ": KB_TYP});
    let payload = json!({"iat": iat, "aud": audience, "nonce": nonce, "sd_hash": digest(sd_jwt)});
    let kb = jws::sign_compact(holder, &header, &payload)?;
    Ok(format!("{sd_jwt}{kb}"))
}

/// Keeps only the disclosures for which `keep` holds, returning `<JWT>~<kept…>~` ready for a
/// KB-JWT. The input is an issued SD-JWT without KB-JWT.
pub fn select_disclosures(
    issued: &str,
    mut keep: impl FnMut(&Disclosure) -> bool,
) -> Result<String, FormatError> {
    let p = Presentation::parse(issued)?;
    if p.kb_jwt.is_some() {
        return Err(FormatError::Malformed {
            reason: "issued SD-JWT carries a KB-JWT",
        });
    }
    let mut out = String::with_capacity(issued.len());
    out.push_str(p.issuer_jwt);
    out.push('~');
    for enc in p.disclosures {
        let d = Disclosure::parse(enc).map_err(|_| FormatError::Malformed {
            reason: "bad disclosure",
        })?;
        if keep(&d) {
            out.push_str(enc);
            out.push('~');
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_keeps_exact_bytes() {
        let p = Presentation::parse("h.p.s~d1~d2~k.k.k").unwrap();
        assert_eq!(p.issuer_jwt, "h.p.s");
        assert_eq!(p.disclosures, ["d1", "d2"]);
        assert_eq!(p.sd_jwt, "h.p.s~d1~d2~");
        assert_eq!(p.kb_jwt, Some("k.k.k"));
        let p = Presentation::parse("h.p.s~").unwrap();
        assert_eq!((p.disclosures.len(), p.kb_jwt), (0, None));
        for bad in ["h.p.s", "~d~", "h.p.s~~k", "h.p.s~d~~"] {
            assert!(
                matches!(Presentation::parse(bad), Err(FormatError::Malformed { .. })),
                "{bad}"
            );
        }
        let many = format!("h.p.s~{}", "d~".repeat(17));
        assert_eq!(
            Presentation::parse(&many),
            Err(FormatError::TooLarge { len: 17, max: 16 })
        );
        assert!(matches!(
            Presentation::parse("h.p.s~dé~"),
            Err(FormatError::Malformed { .. })
        ));
        assert!(matches!(
            Presentation::parse(&"~".repeat(MAX_PRESENTATION + 1)),
            Err(FormatError::TooLarge { .. })
        ));
    }
}
