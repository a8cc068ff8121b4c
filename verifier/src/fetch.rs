//! Fetching issuer keys from `<iss>/.well-known/jwt-vc-issuer` (protocol.md §7.6), and the
//! blind-token directory from `<iss>/.well-known/private-token-issuer-directory`
//! (blind-profile.md §4, §12.4) for issuers that use it: in bulk,
//! cached for the document's `max-age` (clamped to 1 minute … 1 day), never per presentation
//! (DESIGN §1: no phone-home). HTTPS only, except plain http to a loopback address; no
//! redirects; a size cap and a timeout on every fetch.

use std::sync::Arc;
use std::time::Duration;

use ageband_blind::profile::{Directory, DirectoryError, MAX_DIRECTORY_BYTES};
use ageband_core::json;
use ageband_core::jwk::{JwkError, PublicJwk, parse_jwk_or_set};

use crate::clock::Clock;
use crate::trust::{MAX_FETCHED_KEYS, TrustError, TrustStore, check_fetchable};

/// The well-known path appended to the issuer identifier.
pub const WELL_KNOWN: &str = "/.well-known/jwt-vc-issuer";
/// The well-known path of an issuer's blind-token directory (RFC 9578 §4, blind-profile.md §4).
pub const WELL_KNOWN_DIRECTORY: &str = "/.well-known/private-token-issuer-directory";
/// Default cap on the metadata document.
pub const DEFAULT_MAX_BYTES: usize = 64 * 1024;
/// Default timeout of one fetch.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Shortest cache lifetime honoured.
pub const MIN_CACHE: u64 = 60;
/// Longest cache lifetime honoured: keys are refreshed at least daily.
pub const MAX_CACHE: u64 = 86_400;
/// Retry delay after a failed fetch (the previous keys stay in use).
pub const RETRY_AFTER: u64 = 60;

/// Why an issuer's keys could not be fetched.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The identifier is not a fetchable URL, or the keys cannot join the trust list (a key
    /// already trusted for another issuer).
    #[error(transparent)]
    Trust(#[from] TrustError),
    /// The connection failed or timed out.
    #[error("fetching issuer metadata failed")]
    Transport(#[source] reqwest::Error),
    /// The server answered with a status other than 200 (redirects are not followed).
    #[error("issuer metadata answered HTTP {0}")]
    Status(u16),
    /// The document exceeds the size cap.
    #[error("issuer metadata larger than {max} bytes")]
    TooLarge {
        /// The cap.
        max: usize,
    },
    /// The document is not a strict JSON object.
    #[error("issuer metadata is not a JSON object")]
    Json(#[source] json::JsonError),
    /// `issuer` is missing or differs from the identifier the document was fetched for.
    #[error("issuer metadata names another issuer")]
    IssuerMismatch,
    /// `jwks` is missing or holds no usable key (`jwks_uri` is not followed).
    #[error("issuer metadata has no usable jwks")]
    Keys(#[source] JwkError),
    /// More than [`MAX_FETCHED_KEYS`] keys.
    #[error("issuer publishes more than {MAX_FETCHED_KEYS} keys")]
    TooManyKeys,
    /// The blind-token directory is refused (blind-profile.md §4.2–§4.3).
    #[error("issuer blind directory refused: {}", .0.kind())]
    Directory(#[source] DirectoryError),
}

/// A blind-token directory fetched for an issuer, with how long it may be cached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchedDirectory {
    /// The parsed and validated directory.
    pub directory: Directory,
    /// Seconds the document may be cached (clamped `Cache-Control: max-age`).
    pub max_age: u64,
}

/// Keys fetched for an issuer, with how long they may be cached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchedKeys {
    /// The published keys.
    pub keys: Vec<PublicJwk>,
    /// Seconds the document may be cached (clamped `Cache-Control: max-age`).
    pub max_age: u64,
}

/// An HTTP client for issuer metadata.
#[derive(Clone, Debug)]
pub struct KeyFetcher {
    client: reqwest::Client,
    max_bytes: usize,
}

impl KeyFetcher {
    /// A fetcher with the default size cap and timeout.
    pub fn new() -> Result<Self, FetchError> {
        Self::with_limits(DEFAULT_MAX_BYTES, DEFAULT_TIMEOUT)
    }

    /// A fetcher with the given size cap and timeout.
    pub fn with_limits(max_bytes: usize, timeout: Duration) -> Result<Self, FetchError> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!("ageband-verifier/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(FetchError::Transport)?;
        Ok(KeyFetcher { client, max_bytes })
    }

    /// GETs `<iss><path>` with the size cap `max`: the body and its cache lifetime.
    async fn get(&self, iss: &str, path: &str, max: usize) -> Result<(Vec<u8>, u64), FetchError> {
        check_fetchable(iss)?;
        let url = format!("{}{path}", iss.trim_end_matches('/'));
        let mut resp = self.client.get(url).send().await.map_err(FetchError::Transport)?;
        if resp.status() != reqwest::StatusCode::OK {
            return Err(FetchError::Status(resp.status().as_u16()));
        }
        if resp.content_length().is_some_and(|n| n > max as u64) {
            return Err(FetchError::TooLarge { max });
        }
        let max_age = cache_lifetime(resp.headers().get(reqwest::header::CACHE_CONTROL));
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(FetchError::Transport)? {
            if body.len() + chunk.len() > max {
                return Err(FetchError::TooLarge { max });
            }
            body.extend_from_slice(&chunk);
        }
        Ok((body, max_age))
    }

    /// Fetches, parses and validates `<iss>/.well-known/private-token-issuer-directory`
    /// (blind-profile.md §4.2–§4.3), capped at the smaller of this fetcher's cap and
    /// [`MAX_DIRECTORY_BYTES`]. Pinning against an earlier directory is the trust store's
    /// ([`TrustStore::set_blind_directory`]).
    pub async fn fetch_directory(&self, iss: &str) -> Result<FetchedDirectory, FetchError> {
        let max = self.max_bytes.min(MAX_DIRECTORY_BYTES);
        let (body, max_age) = self.get(iss, WELL_KNOWN_DIRECTORY, max).await?;
        let directory = Directory::parse(&body).map_err(FetchError::Directory)?;
        Ok(FetchedDirectory { directory, max_age })
    }

    /// Fetches and checks `<iss>/.well-known/jwt-vc-issuer`.
    pub async fn fetch(&self, iss: &str) -> Result<FetchedKeys, FetchError> {
        let (body, max_age) = self.get(iss, WELL_KNOWN, self.max_bytes).await?;
        let doc = json::parse_object(&body, self.max_bytes).map_err(FetchError::Json)?;
        if doc.get("issuer").and_then(|v| v.as_str()) != Some(iss) {
            return Err(FetchError::IssuerMismatch);
        }
        let jwks = doc
            .get("jwks")
            .filter(|j| j.get("keys").is_some())
            .ok_or(FetchError::Keys(JwkError::EmptySet))?;
        let keys = parse_jwk_or_set(jwks).map_err(FetchError::Keys)?;
        if keys.len() > MAX_FETCHED_KEYS {
            return Err(FetchError::TooManyKeys);
        }
        Ok(FetchedKeys { keys, max_age })
    }
}

impl TrustStore {
    /// Fetches the keys of every fetched issuer whose cache has run out at `now`, and swaps
    /// them in. A failed fetch keeps the previous keys and is retried after
    /// [`RETRY_AFTER`] seconds. Returns the issuers attempted with their result.
    ///
    /// Issuers that fetch a blind-token directory have it refreshed on the same terms (its own
    /// cache lifetime); a directory that changes the key of a known slot is refused and the
    /// previous one kept (blind-profile.md §4.4). Those results are listed as `"<iss> (blind
    /// directory)"`.
    pub async fn refresh(&self, fetcher: &KeyFetcher, now: u64) -> Vec<(String, Result<(), FetchError>)> {
        let (due, due_blind): (Vec<String>, Vec<String>) = {
            let next = self.next_refresh.lock().unwrap_or_else(|e| e.into_inner());
            let list = self.snapshot();
            let is_due = |k: &str| next.get(k).is_none_or(|&t| t <= now);
            (
                list.issuers()
                    .iter()
                    .filter(|i| i.is_fetched() && is_due(i.id()))
                    .map(|i| i.id().to_owned())
                    .collect(),
                list.issuers()
                    .iter()
                    .filter(|i| i.fetches_blind_directory() && is_due(&blind_key(i.id())))
                    .map(|i| i.id().to_owned())
                    .collect(),
            )
        };
        let mut results = Vec::with_capacity(due.len() + due_blind.len());
        for iss in due {
            let result = match fetcher.fetch(&iss).await {
                Ok(f) => self
                    .set_keys(&iss, f.keys)
                    .map(|()| f.max_age)
                    .map_err(FetchError::Trust),
                Err(e) => Err(e),
            };
            self.schedule(iss.clone(), now, &result);
            results.push((iss, result.map(|_| ())));
        }
        for iss in due_blind {
            let result = match fetcher.fetch_directory(&iss).await {
                Ok(f) => self
                    .set_blind_directory_at(&iss, f.directory, now)
                    .map(|()| f.max_age)
                    .map_err(FetchError::Trust),
                Err(e) => Err(e),
            };
            self.schedule(blind_key(&iss), now, &result);
            results.push((format!("{iss} (blind directory)"), result.map(|_| ())));
        }
        results
    }

    fn schedule(&self, key: String, now: u64, result: &Result<u64, FetchError>) {
        let next_at = now + result.as_ref().map_or(RETRY_AFTER, |&age| age);
        self.next_refresh
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, next_at);
    }

    /// Runs [`TrustStore::refresh`] now and then every `tick` (the cache lifetimes decide
    /// which issuers are fetched), logging failures without personal data.
    pub fn spawn_refresh(
        self: Arc<Self>,
        fetcher: KeyFetcher,
        clock: Arc<dyn Clock>,
        tick: Duration,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            loop {
                for (iss, r) in self.refresh(&fetcher, clock.now()).await {
                    match r {
                        Ok(()) => tracing::info!(issuer = %iss, "issuer keys refreshed"),
                        Err(e) => {
                            tracing::warn!(issuer = %iss, error = %e, "issuer keys not refreshed; keeping previous keys")
                        }
                    }
                }
                tokio::time::sleep(tick).await;
            }
        })
    }
}

/// The refresh-schedule key of an issuer's blind directory (an identifier never contains a
/// space).
fn blind_key(iss: &str) -> String {
    format!("blind {iss}")
}

fn cache_lifetime(header: Option<&reqwest::header::HeaderValue>) -> u64 {
    let secs = header
        .and_then(|h| h.to_str().ok())
        .and_then(|s| {
            s.split(',')
                .filter_map(|d| d.trim().strip_prefix("max-age="))
                .find_map(|v| v.trim_matches('"').parse::<u64>().ok())
        })
        .unwrap_or(3600);
    secs.clamp(MIN_CACHE, MAX_CACHE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn cache_lifetime_is_clamped() {
        assert_eq!(cache_lifetime(None), 3600);
        assert_eq!(
            cache_lifetime(Some(&HeaderValue::from_static("public, max-age=7200"))),
            7200
        );
        assert_eq!(
            cache_lifetime(Some(&HeaderValue::from_static("max-age=1"))),
            MIN_CACHE
        );
        assert_eq!(
            cache_lifetime(Some(&HeaderValue::from_static("max-age=9999999"))),
            MAX_CACHE
        );
        assert_eq!(cache_lifetime(Some(&HeaderValue::from_static("no-cache"))), 3600);
    }
}
