//! The HTTP client side shared by enrolment and presentation: endpoint policy (https, or
//! http on loopback), size-capped reads, strict JSON, OAuth-style error bodies.

use std::net::IpAddr;
use std::time::Duration;

use ageband_core::json;
use reqwest::StatusCode;
use serde_json::{Map, Value};
use url::{Host, Url};

/// Cap on a JSON response body (metadata, token, nonce, request objects).
pub const MAX_BODY: usize = 64 * 1024;
/// Cap on a Credential Response (up to 100 credentials of a few KiB).
pub const MAX_CREDENTIAL_RESPONSE: usize = 1024 * 1024;

/// Why an HTTP exchange failed.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The URL is not `https`, nor `http` on a loopback address, or carries credentials or a
    /// fragment.
    #[error("refusing URL {url}: it must be https (http only on loopback) without user info or fragment")]
    InsecureUrl {
        /// The URL.
        url: String,
    },
    /// Connecting, sending or receiving failed.
    #[error("HTTP request failed")]
    Transport(#[source] reqwest::Error),
    /// The body exceeded its cap.
    #[error("response body larger than {max} bytes")]
    TooLarge {
        /// The cap.
        max: usize,
    },
    /// The body is not strict JSON of the expected shape.
    #[error("response is not a JSON object")]
    Json(#[source] json::JsonError),
    /// The server answered with an error status.
    #[error("server answered {status}{}", error.as_ref().map(|e| format!(": {e}{}", description.as_ref().map(|d| format!(" ({d})")).unwrap_or_default())).unwrap_or_default())]
    Status {
        /// The HTTP status.
        status: u16,
        /// The OAuth `error` code, if the body had one.
        error: Option<String>,
        /// The `error_description`, if any (ASCII, at most 200 characters kept).
        description: Option<String>,
    },
}

/// A client that follows no redirects (an endpoint must not send evidence elsewhere) and
/// gives up after 30 seconds.
pub(crate) fn client() -> Result<reqwest::Client, HttpError> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .user_agent(concat!("ageband-wallet/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(HttpError::Transport)
}

/// Parses a URL and applies the transport policy.
pub(crate) fn checked_url(raw: &str) -> Result<Url, HttpError> {
    let insecure = || HttpError::InsecureUrl {
        url: raw.chars().take(200).collect(),
    };
    let url = Url::parse(raw).map_err(|_| insecure())?;
    if url.fragment().is_some() || !url.username().is_empty() || url.password().is_some() {
        return Err(insecure());
    }
    match url.scheme() {
        "https" if url.host().is_some() => Ok(url),
        "http" if is_loopback(&url) => Ok(url),
        _ => Err(insecure()),
    }
}

/// Whether the URL's host is a loopback address (or `localhost`).
pub(crate) fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// Reads at most `max` bytes of a body; more is an error (the rest is not read).
pub(crate) async fn read_capped(mut resp: reqwest::Response, max: usize) -> Result<Vec<u8>, HttpError> {
    if resp.content_length().is_some_and(|n| n > max as u64) {
        return Err(HttpError::TooLarge { max });
    }
    let mut out = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(HttpError::Transport)? {
        if out.len() + chunk.len() > max {
            return Err(HttpError::TooLarge { max });
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// Sends a request and returns the JSON object of a 2xx answer; an error status becomes
/// [`HttpError::Status`] with the OAuth error fields when the body has them.
pub(crate) async fn json_object(
    req: reqwest::RequestBuilder,
    max: usize,
) -> Result<Map<String, Value>, HttpError> {
    let (status, body) = send(req, max).await?;
    if !status.is_success() {
        return Err(status_error(status, &body));
    }
    json::parse_object(&body, max).map_err(HttpError::Json)
}

/// Sends a request and returns status and body (capped).
pub(crate) async fn send(
    req: reqwest::RequestBuilder,
    max: usize,
) -> Result<(StatusCode, Vec<u8>), HttpError> {
    let resp = req.send().await.map_err(HttpError::Transport)?;
    let status = resp.status();
    Ok((status, read_capped(resp, max).await?))
}

/// The error for a non-2xx answer.
pub(crate) fn status_error(status: StatusCode, body: &[u8]) -> HttpError {
    let obj = json::parse_object(body, MAX_BODY).ok();
    let field = |name: &str| {
        obj.as_ref()
            .and_then(|o| o.get(name))
            .and_then(Value::as_str)
            .map(|s| {
                s.chars()
                    .filter(|c| c.is_ascii() && !c.is_ascii_control())
                    .take(200)
                    .collect()
            })
    };
    HttpError::Status {
        status: status.as_u16(),
        error: field("error"),
        description: field("error_description"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transport_policy() {
        for ok in [
            "https://issuer.example/x",
            "http://127.0.0.1:8080/",
            "http://[::1]:1/",
            "http://localhost/a",
        ] {
            assert!(checked_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://issuer.example/",
            "http://10.0.0.1/",
            "ftp://127.0.0.1/",
            "https://user:pw@issuer.example/",
            "https://issuer.example/#frag",
            "not a url",
            "javascript:alert(1)",
        ] {
            assert!(
                matches!(checked_url(bad), Err(HttpError::InsecureUrl { .. })),
                "{bad}"
            );
        }
    }
}
