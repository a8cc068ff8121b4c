//! The trust list: which issuers a verifier believes, with which keys, for which evidence
//! sources and from which assurance level (protocol.md §6 inputs, DESIGN §1).
//!
//! Profile-neutral: an issuer is an identifier, a set of public keys and a policy. The
//! SD-JWT profile resolves keys by `kid` (RFC 7638 thumbprint) through [`IssuerKeys`].

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, RwLock};

use ageband_core::age::{AssuranceLevel, Source};
use ageband_core::jwk::PublicJwk;
use ageband_core::sdjwt::IssuerKeys;

/// Most keys accepted for one fetched issuer (protocol.md §7.7): a larger set could hold a
/// per-user key that tags users.
pub const MAX_FETCHED_KEYS: usize = 4;

/// Why a trust list could not be built.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrustError {
    /// An issuer identifier is empty or longer than 2048 bytes.
    #[error("issuer identifier empty or too long")]
    BadIdentifier,
    /// An issuer whose keys are fetched must be an `https` URL (or `http` on loopback) with
    /// no query or fragment.
    #[error("issuer identifier must be an https URL (http only on loopback), without query or fragment")]
    NotHttps,
    /// The same issuer is listed twice.
    #[error("issuer listed twice")]
    DuplicateIssuer,
    /// One key is trusted for two issuers (each key belongs to exactly one, protocol.md §6).
    #[error("a key is trusted for two issuers")]
    SharedKey,
    /// An issuer accepts no evidence source at all.
    #[error("issuer accepts no evidence source")]
    NoSources,
    /// The named issuer is not in the list.
    #[error("issuer not in the trust list")]
    UnknownIssuer,
    /// More keys than [`MAX_FETCHED_KEYS`] for a fetched issuer.
    #[error("too many keys for one issuer")]
    TooManyKeys,
}

/// One trusted issuer: identifier, keys and policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustedIssuer {
    id: String,
    keys: Vec<PublicJwk>,
    fetched: bool,
    sources: BTreeSet<Source>,
    min_assurance: AssuranceLevel,
}

impl TrustedIssuer {
    /// Trusts `keys` (pinned, never refreshed) for the issuer `id`, accepting every source
    /// and level.
    pub fn pinned(id: impl Into<String>, keys: Vec<PublicJwk>) -> Self {
        TrustedIssuer {
            id: id.into(),
            keys,
            fetched: false,
            sources: Source::ALL.iter().copied().collect(),
            min_assurance: AssuranceLevel::Asserted,
        }
    }

    /// Trusts the issuer `id` with the keys it publishes at `<id>/.well-known/jwt-vc-issuer`
    /// (fetched in bulk and cached by [`TrustStore::refresh`]; none until the first fetch).
    pub fn fetched(id: impl Into<String>) -> Self {
        TrustedIssuer {
            fetched: true,
            ..TrustedIssuer::pinned(id, Vec::new())
        }
    }

    /// Accepts only facts from these sources.
    pub fn accept_sources(mut self, sources: impl IntoIterator<Item = Source>) -> Self {
        self.sources = sources.into_iter().collect();
        self
    }

    /// Accepts only credentials of at least this assurance level.
    pub fn min_assurance(mut self, level: AssuranceLevel) -> Self {
        self.min_assurance = level;
        self
    }

    /// The issuer identifier (`iss`).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The keys currently trusted.
    pub fn keys(&self) -> &[PublicJwk] {
        &self.keys
    }

    /// Whether the keys come from the issuer's metadata rather than configuration.
    pub fn is_fetched(&self) -> bool {
        self.fetched
    }

    /// Whether facts from `source` are accepted.
    pub fn accepts(&self, source: Source) -> bool {
        self.sources.contains(&source)
    }

    /// The lowest accepted assurance level.
    pub fn minimum(&self) -> AssuranceLevel {
        self.min_assurance
    }
}

/// An immutable set of trusted issuers, indexed by key thumbprint.
#[derive(Clone, Debug, Default)]
pub struct TrustList {
    issuers: Vec<TrustedIssuer>,
    by_kid: HashMap<String, (usize, PublicJwk)>,
}

impl TrustList {
    /// Validates and indexes the issuers.
    pub fn new(issuers: Vec<TrustedIssuer>) -> Result<Self, TrustError> {
        let mut by_kid = HashMap::new();
        for (i, issuer) in issuers.iter().enumerate() {
            if issuer.id.is_empty() || issuer.id.len() > 2048 {
                return Err(TrustError::BadIdentifier);
            }
            if issuer.fetched {
                check_fetchable(&issuer.id)?;
                if issuer.keys.len() > MAX_FETCHED_KEYS {
                    return Err(TrustError::TooManyKeys);
                }
            }
            if issuer.sources.is_empty() {
                return Err(TrustError::NoSources);
            }
            if issuers[..i].iter().any(|o| o.id == issuer.id) {
                return Err(TrustError::DuplicateIssuer);
            }
            for key in &issuer.keys {
                match by_kid.insert(key.thumbprint(), (i, key.clone())) {
                    Some((j, _)) if j != i => return Err(TrustError::SharedKey),
                    _ => {}
                }
            }
        }
        Ok(TrustList { issuers, by_kid })
    }

    /// The policy for `iss`, if trusted.
    pub fn issuer(&self, iss: &str) -> Option<&TrustedIssuer> {
        self.issuers.iter().find(|i| i.id == iss)
    }

    /// Every trusted issuer.
    pub fn issuers(&self) -> &[TrustedIssuer] {
        &self.issuers
    }

    /// A copy of this list in which `iss` trusts exactly `keys`.
    pub fn with_keys(&self, iss: &str, keys: Vec<PublicJwk>) -> Result<TrustList, TrustError> {
        let mut issuers = self.issuers.clone();
        let entry = issuers
            .iter_mut()
            .find(|i| i.id == iss)
            .ok_or(TrustError::UnknownIssuer)?;
        entry.keys = keys;
        TrustList::new(issuers)
    }
}

impl IssuerKeys for TrustList {
    /// Looks the key up by its thumbprint. A header without `kid` is refused (protocol.md
    /// §6.2 step 2): trying every key would make the verifier's work depend on the list.
    fn issuer_key(&self, kid: Option<&str>) -> Option<(&str, &PublicJwk)> {
        let (i, key) = self.by_kid.get(kid?)?;
        Some((self.issuers[*i].id.as_str(), key))
    }
}

/// A shared, refreshable trust list: verifications take a cheap snapshot, key refreshes swap
/// in a new list without blocking them.
#[derive(Debug)]
pub struct TrustStore {
    current: RwLock<Arc<TrustList>>,
    #[cfg(feature = "fetch")]
    pub(crate) next_refresh: std::sync::Mutex<HashMap<String, u64>>,
}

impl TrustStore {
    /// A store holding `list`.
    pub fn new(list: TrustList) -> Self {
        TrustStore {
            current: RwLock::new(Arc::new(list)),
            #[cfg(feature = "fetch")]
            next_refresh: std::sync::Mutex::new(HashMap::new()),
        }
    }

    /// The current list.
    pub fn snapshot(&self) -> Arc<TrustList> {
        // Poisoning needs a panic while swapping an Arc; the old value is still whole.
        self.current.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Replaces the keys of `iss`.
    pub fn set_keys(&self, iss: &str, keys: Vec<PublicJwk>) -> Result<(), TrustError> {
        let mut guard = self.current.write().unwrap_or_else(|e| e.into_inner());
        let next = guard.with_keys(iss, keys)?;
        *guard = Arc::new(next);
        Ok(())
    }
}

impl From<TrustList> for TrustStore {
    fn from(list: TrustList) -> Self {
        TrustStore::new(list)
    }
}

/// An issuer whose keys we fetch must be reachable over TLS; plain http is allowed only to a
/// loopback address (local setups, `ageband demo`, tests).
pub(crate) fn check_fetchable(id: &str) -> Result<url::Url, TrustError> {
    let url = url::Url::parse(id).map_err(|_| TrustError::NotHttps)?;
    if url.query().is_some()
        || url.fragment().is_some()
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return Err(TrustError::NotHttps);
    }
    match url.scheme() {
        "https" if url.host().is_some() => Ok(url),
        "http" if is_loopback(&url) => Ok(url),
        _ => Err(TrustError::NotHttps),
    }
}

fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ageband_core::jws::{RingSigner, Signer};

    fn key() -> PublicJwk {
        RingSigner::generate().unwrap().public_jwk().clone()
    }

    #[test]
    fn looks_up_by_thumbprint_and_refuses_missing_kid() {
        let (k1, k2) = (key(), key());
        let list = TrustList::new(vec![
            TrustedIssuer::pinned("https://a.example", vec![k1.clone()]),
            TrustedIssuer::pinned("https://b.example", vec![k2.clone()])
                .min_assurance(AssuranceLevel::Standard),
        ])
        .unwrap();
        assert_eq!(
            list.issuer_key(Some(&k1.thumbprint())),
            Some(("https://a.example", &k1))
        );
        assert_eq!(
            list.issuer_key(Some(&k2.thumbprint())).map(|(i, _)| i),
            Some("https://b.example")
        );
        assert_eq!(list.issuer_key(None), None);
        assert_eq!(list.issuer_key(Some("nope")), None);
        assert_eq!(
            list.issuer("https://b.example").unwrap().minimum(),
            AssuranceLevel::Standard
        );
        assert!(list.issuer("https://c.example").is_none());
    }

    #[test]
    fn refuses_bad_lists() {
        let k = key();
        let shared = TrustList::new(vec![
            TrustedIssuer::pinned("https://a.example", vec![k.clone()]),
            TrustedIssuer::pinned("https://b.example", vec![k.clone()]),
        ]);
        assert_eq!(shared.unwrap_err(), TrustError::SharedKey);
        let dup = TrustList::new(vec![
            TrustedIssuer::pinned("x", vec![]),
            TrustedIssuer::pinned("x", vec![]),
        ]);
        assert_eq!(dup.unwrap_err(), TrustError::DuplicateIssuer);
        assert_eq!(
            TrustList::new(vec![TrustedIssuer::pinned("", vec![])]).unwrap_err(),
            TrustError::BadIdentifier
        );
        let none = TrustedIssuer::pinned("x", vec![]).accept_sources([]);
        assert_eq!(TrustList::new(vec![none]).unwrap_err(), TrustError::NoSources);
        for bad in [
            "http://issuer.example",
            "ftp://x",
            "https://i.example/?q=1",
            "https://i.example/#f",
            "not a url",
        ] {
            assert_eq!(
                TrustList::new(vec![TrustedIssuer::fetched(bad)]).unwrap_err(),
                TrustError::NotHttps,
                "{bad}"
            );
        }
        for good in [
            "https://i.example",
            "http://127.0.0.1:8080",
            "http://[::1]:1/x",
            "http://localhost:3000",
        ] {
            assert!(
                TrustList::new(vec![TrustedIssuer::fetched(good)]).is_ok(),
                "{good}"
            );
        }
    }

    #[test]
    fn store_swaps_keys() {
        let store =
            TrustStore::new(TrustList::new(vec![TrustedIssuer::fetched("https://i.example")]).unwrap());
        let before = store.snapshot();
        let k = key();
        store.set_keys("https://i.example", vec![k.clone()]).unwrap();
        assert!(before.issuer_key(Some(&k.thumbprint())).is_none());
        assert!(store.snapshot().issuer_key(Some(&k.thumbprint())).is_some());
        assert_eq!(
            store.set_keys("https://other.example", vec![]),
            Err(TrustError::UnknownIssuer)
        );
        let too_many = (0..5).map(|_| key()).collect();
        assert_eq!(
            store.set_keys("https://i.example", too_many),
            Err(TrustError::TooManyKeys)
        );
    }
}
