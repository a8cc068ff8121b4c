//! The TokenChallenge of RFC 9577 §2.1 and ageband's one fixed issuer-wide challenge
//! (blind-profile.md §5.1).

use crate::token::{TOKEN_TYPE, challenge_digest};

/// Longest accepted issuer name, bytes.
pub const MAX_ISSUER_NAME: usize = 255;

/// Why a TokenChallenge or an issuer name was refused.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChallengeError {
    /// Not an encoded TokenChallenge of RFC 9577 §2.1 (truncated, trailing bytes, a redemption
    /// context of a length other than 0 or 32, non-ASCII names).
    #[error("malformed TokenChallenge")]
    Malformed,
    /// The issuer name is not a lowercase host name with an optional port (blind-profile.md §5.1).
    #[error("invalid issuer name")]
    IssuerName,
}

/// A TokenChallenge (RFC 9577 §2.1, default structure).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenChallenge {
    /// `token_type`.
    pub token_type: u16,
    /// `issuer_name`, the issuer's server name (ASCII, 1..=65535 bytes on the wire).
    pub issuer_name: String,
    /// `redemption_context`: empty or 32 bytes.
    pub redemption_context: Vec<u8>,
    /// `origin_info`: empty or comma-separated server names.
    pub origin_info: String,
}

impl TokenChallenge {
    /// ageband's challenge for an issuer (blind-profile.md §5.1): token type 0x0002, the issuer's
    /// host name, empty redemption context, empty origin info.
    ///
    /// # Errors
    /// [`ChallengeError::IssuerName`] unless `issuer_name` is a lowercase host name
    /// (`[a-z0-9.-]`, labels non-empty) with an optional `:port`, at most 255 bytes.
    pub fn ageband(issuer_name: &str) -> Result<Self, ChallengeError> {
        check_issuer_name(issuer_name)?;
        Ok(TokenChallenge {
            token_type: TOKEN_TYPE,
            issuer_name: issuer_name.to_owned(),
            redemption_context: Vec::new(),
            origin_info: String::new(),
        })
    }

    /// ageband's challenge for the issuer whose identifier (credential issuer URL) is
    /// `issuer_url`: [`issuer_name_of`] the URL, then [`TokenChallenge::ageband`].
    ///
    /// # Errors
    /// [`ChallengeError::IssuerName`] when the URL yields no valid issuer name.
    pub fn for_issuer_url(issuer_url: &str) -> Result<Self, ChallengeError> {
        Self::ageband(&issuer_name_of(issuer_url).ok_or(ChallengeError::IssuerName)?)
    }

    /// Whether this is the form [`TokenChallenge::ageband`] builds.
    #[must_use]
    pub fn is_ageband_form(&self) -> bool {
        self.token_type == TOKEN_TYPE
            && self.redemption_context.is_empty()
            && self.origin_info.is_empty()
            && check_issuer_name(&self.issuer_name).is_ok()
    }

    /// The encoding: `token_type` (u16) ‖ u16-length ‖ `issuer_name` ‖ u8-length ‖
    /// `redemption_context` ‖ u16-length ‖ `origin_info`, big-endian. Lengths beyond the fields'
    /// limits are truncated to them (a value built by [`Self::parse`] or [`Self::ageband`] never is).
    #[must_use]
    pub fn encode(&self) -> Vec<u8> {
        let name = &self.issuer_name.as_bytes()[..self.issuer_name.len().min(0xffff)];
        let ctx = &self.redemption_context[..self.redemption_context.len().min(32)];
        let origin = &self.origin_info.as_bytes()[..self.origin_info.len().min(0xffff)];
        let mut out = Vec::with_capacity(2 + 2 + name.len() + 1 + ctx.len() + 2 + origin.len());
        out.extend_from_slice(&self.token_type.to_be_bytes());
        push_u16_len(&mut out, name);
        // At most 32: the cast is lossless.
        out.push(ctx.len() as u8);
        out.extend_from_slice(ctx);
        push_u16_len(&mut out, origin);
        out
    }

    /// Parses an encoded TokenChallenge of any token type (RFC 9577 §2.1): a non-empty ASCII
    /// issuer name, a redemption context of 0 or 32 bytes, ASCII origin info, no trailing bytes.
    ///
    /// # Errors
    /// [`ChallengeError::Malformed`].
    pub fn parse(bytes: &[u8]) -> Result<Self, ChallengeError> {
        let mut r = Reader(bytes);
        let token_type = u16::from_be_bytes(r.take_array()?);
        let name_len = usize::from(u16::from_be_bytes(r.take_array()?));
        let name = r.take(name_len)?;
        let [ctx_len] = r.take_array()?;
        let ctx = r.take(usize::from(ctx_len))?;
        let origin_len = usize::from(u16::from_be_bytes(r.take_array()?));
        let origin = r.take(origin_len)?;
        if !r.0.is_empty() || name.is_empty() || !(ctx.is_empty() || ctx.len() == 32) {
            return Err(ChallengeError::Malformed);
        }
        let ascii = |b: &[u8]| -> Result<String, ChallengeError> {
            if b.iter().all(|c| c.is_ascii_graphic()) {
                Ok(String::from_utf8_lossy(b).into_owned())
            } else {
                Err(ChallengeError::Malformed)
            }
        };
        Ok(TokenChallenge {
            token_type,
            issuer_name: ascii(name)?,
            redemption_context: ctx.to_vec(),
            origin_info: ascii(origin)?,
        })
    }

    /// `challenge_digest = SHA-256(encode())`, the value every token under this challenge carries.
    #[must_use]
    pub fn digest(&self) -> [u8; 32] {
        challenge_digest(&self.encode())
    }
}

fn push_u16_len(out: &mut Vec<u8>, bytes: &[u8]) {
    // Callers truncate to 0xffff: the cast is lossless.
    out.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
    out.extend_from_slice(bytes);
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], ChallengeError> {
        if self.0.len() < n {
            return Err(ChallengeError::Malformed);
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn take_array<const N: usize>(&mut self) -> Result<[u8; N], ChallengeError> {
        self.take(N)?.try_into().map_err(|_| ChallengeError::Malformed)
    }
}

/// blind-profile.md §5.1: `host[:port]`, host = lowercase labels of `[a-z0-9-]` joined by dots,
/// port 1..=65535 without leading zeros, at most [`MAX_ISSUER_NAME`] bytes.
fn check_issuer_name(name: &str) -> Result<(), ChallengeError> {
    if name.is_empty() || name.len() > MAX_ISSUER_NAME {
        return Err(ChallengeError::IssuerName);
    }
    let (host, port) = match name.split_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (name, None),
    };
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if !host.split('.').all(label_ok) {
        return Err(ChallengeError::IssuerName);
    }
    if let Some(p) = port {
        let ok = !p.is_empty()
            && p.len() <= 5
            && p.bytes().all(|c| c.is_ascii_digit())
            && !p.starts_with('0')
            && p.parse::<u32>().is_ok_and(|n| (1..=65535).contains(&n));
        if !ok {
            return Err(ChallengeError::IssuerName);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn ageband_challenge_encoding() {
        let c = TokenChallenge::ageband("issuer.example").unwrap();
        assert!(c.is_ageband_form());
        let mut expect = vec![0x00, 0x02, 0x00, 0x0e];
        expect.extend_from_slice(b"issuer.example");
        expect.extend_from_slice(&[0x00, 0x00, 0x00]);
        assert_eq!(c.encode(), expect);
        assert_eq!(TokenChallenge::parse(&c.encode()).unwrap(), c);
        for ok in ["a", "issuer.example:8443", "x-1.y.z", "127.0.0.1:1"] {
            assert!(TokenChallenge::ageband(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "Issuer.example",
            "issuer..example",
            "issuer.example.",
            "user@issuer.example",
            "issuer.example:0",
            "issuer.example:08443",
            "issuer.example:65536",
            "issuer.example:",
            "-issuer.example",
            "https://issuer.example",
            "issuer example",
        ] {
            assert_eq!(
                TokenChallenge::ageband(bad),
                Err(ChallengeError::IssuerName),
                "{bad:?}"
            );
        }
        assert!(TokenChallenge::ageband(&"a".repeat(256)).is_err());
        assert!(TokenChallenge::ageband(&"a".repeat(255)).is_ok());
    }

    #[test]
    fn rfc9578_vector_challenges() {
        let v: serde_json::Value = serde_json::from_str(include_str!(
            "../../../specs/vectors/external/rfc9578_type2_token_vectors.json"
        ))
        .unwrap();
        let mut ageband_forms = 0;
        for (i, vector) in v.as_array().unwrap().iter().enumerate() {
            let bytes = unhex(vector["token_challenge"].as_str().unwrap());
            let c = TokenChallenge::parse(&bytes).unwrap();
            assert_eq!(c.encode(), bytes, "vector {i}");
            assert_eq!(c.issuer_name, "issuer.example");
            // The token's challenge_digest (bytes 34..66) is SHA-256 of the challenge.
            let token = unhex(vector["token"].as_str().unwrap());
            assert_eq!(&token[34..66], &c.digest(), "vector {i}");
            if c.is_ageband_form() {
                ageband_forms += 1;
                assert_eq!(c, TokenChallenge::ageband("issuer.example").unwrap());
            }
        }
        // Vector 4 has an empty redemption context and empty origin info: ageband's form.
        assert_eq!(ageband_forms, 1);
    }

    #[test]
    fn malformed_challenges() {
        let good = TokenChallenge::ageband("issuer.example").unwrap().encode();
        for n in 0..good.len() {
            assert_eq!(
                TokenChallenge::parse(&good[..n]),
                Err(ChallengeError::Malformed),
                "{n}"
            );
        }
        let mut trailing = good.clone();
        trailing.push(0);
        assert_eq!(TokenChallenge::parse(&trailing), Err(ChallengeError::Malformed));
        // Redemption context of 16 bytes.
        let mut ctx16 = good[..good.len() - 3].to_vec();
        ctx16.push(16);
        ctx16.extend_from_slice(&[7; 16]);
        ctx16.extend_from_slice(&[0, 0]);
        assert_eq!(TokenChallenge::parse(&ctx16), Err(ChallengeError::Malformed));
        // Empty issuer name.
        assert_eq!(
            TokenChallenge::parse(&[0, 2, 0, 0, 0, 0, 0]),
            Err(ChallengeError::Malformed)
        );
    }
}

/// The issuer name (blind-profile.md §5.1) of an issuer identifier: the host of an `https://` or
/// `http://` URL, lowercase, with `:port` unless it is the scheme's default (443, 80); `None`
/// for other schemes, userinfo, IP-literal hosts in brackets, or a name §5.1 refuses. Issuers,
/// wallets and verifiers all derive the name this way, so one identifier has one challenge.
#[must_use]
pub fn issuer_name_of(issuer_url: &str) -> Option<String> {
    let lower = issuer_url.get(..8).map(str::to_ascii_lowercase);
    let (rest, default_port) = match lower.as_deref() {
        Some("https://") => (issuer_url.get(8..)?, 443),
        _ if issuer_url
            .get(..7)
            .is_some_and(|p| p.eq_ignore_ascii_case("http://")) =>
        {
            (issuer_url.get(7..)?, 80)
        }
        _ => return None,
    };
    let authority = rest.split(['/', '?', '#']).next()?.to_ascii_lowercase();
    if authority.contains('@') || authority.starts_with('[') {
        return None;
    }
    let name = match authority.split_once(':') {
        Some((host, port)) => {
            let p: u32 = port.parse().ok()?;
            if port.starts_with('0') || !(1..=65535).contains(&p) {
                return None;
            }
            if p == default_port {
                host.to_owned()
            } else {
                format!("{host}:{p}")
            }
        }
        None => authority,
    };
    check_issuer_name(&name).ok()?;
    Some(name)
}

#[cfg(test)]
mod issuer_name_tests {
    use super::*;

    #[test]
    fn names_from_urls() {
        let ok = [
            ("https://issuer.example", "issuer.example"),
            ("https://Issuer.Example/", "issuer.example"),
            ("https://issuer.example:443/path?q", "issuer.example"),
            ("https://issuer.example:8443", "issuer.example:8443"),
            ("http://127.0.0.1:40123", "127.0.0.1:40123"),
            ("HTTP://localhost:80/x", "localhost"),
        ];
        for (url, name) in ok {
            assert_eq!(issuer_name_of(url).as_deref(), Some(name), "{url}");
        }
        for bad in [
            "issuer.example",
            "ftp://issuer.example",
            "https://user@issuer.example",
            "https://[::1]:8080",
            "https://issuer.example:0",
            "https://issuer.example:080",
            "https://issuer.example:70000",
            "https://",
            "https://bad_name.example",
        ] {
            assert_eq!(issuer_name_of(bad), None, "{bad}");
        }
        assert_eq!(
            TokenChallenge::for_issuer_url("https://issuer.example").unwrap(),
            TokenChallenge::ageband("issuer.example").unwrap()
        );
    }
}
