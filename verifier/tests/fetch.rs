//! Fetching issuer keys from a real local HTTP server on 127.0.0.1:0.
#![cfg(feature = "fetch")]
#![allow(missing_docs, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ageband_core::jwk::{PublicJwk, jwk_set};
use ageband_core::jws::{RingSigner, Signer};
use ageband_verifier::fetch::{FetchError, KeyFetcher, MIN_CACHE, RETRY_AFTER};
use ageband_verifier::{TrustList, TrustStore, TrustedIssuer};
use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

/// Serves `handler` at `/.well-known/jwt-vc-issuer` under the issuer path `/iss` and counts
/// requests. Returns the issuer identifier.
async fn issuer_server(
    handler: impl Fn(String) -> Response + Clone + Send + Sync + 'static,
) -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let iss = format!("http://{addr}/iss");
    let hits = Arc::new(AtomicUsize::new(0));
    let (h, i, c) = (handler.clone(), iss.clone(), hits.clone());
    let app = Router::new()
        .route(
            "/iss/.well-known/jwt-vc-issuer",
            get(move || {
                c.fetch_add(1, Ordering::SeqCst);
                let r = h(i.clone());
                async move { r }
            }),
        )
        .route("/iss/moved", get(|| async { "moved" }));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (iss, hits)
}

fn key() -> PublicJwk {
    RingSigner::generate().unwrap().public_jwk().clone()
}

fn doc(iss: &str, keys: &[PublicJwk], max_age: &'static str) -> Response {
    let mut r = axum::Json(json!({"issuer": iss, "jwks": jwk_set(keys)})).into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static(max_age));
    r
}

#[tokio::test]
async fn fetches_caches_and_swaps_keys() {
    let k = key();
    let k2 = k.clone();
    let (iss, hits) = issuer_server(move |iss| doc(&iss, std::slice::from_ref(&k2), "max-age=120")).await;
    let fetcher = KeyFetcher::new().unwrap();
    let fetched = fetcher.fetch(&iss).await.unwrap();
    assert_eq!(fetched.keys, vec![k.clone()]);
    assert_eq!(fetched.max_age, 120);

    let store = TrustStore::new(TrustList::new(vec![TrustedIssuer::fetched(iss.clone())]).unwrap());
    let t0 = 1_000_000;
    let r = store.refresh(&fetcher, t0).await;
    assert!(r.len() == 1 && r[0].1.is_ok());
    let snap = store.snapshot();
    let (who, _) = ageband_core::sdjwt::IssuerKeys::issuer_key(snap.as_ref(), Some(&k.thumbprint())).unwrap();
    assert_eq!(who, iss);
    // Cached: no fetch before max-age runs out, one after.
    assert!(store.refresh(&fetcher, t0 + 119).await.is_empty());
    assert_eq!(store.refresh(&fetcher, t0 + 120).await.len(), 1);
    assert_eq!(hits.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn refuses_bad_documents() {
    let fetcher = KeyFetcher::new().unwrap();
    let (iss, _) = issuer_server(|_| doc("https://someone-else.example", &[key()], "max-age=60")).await;
    assert!(matches!(
        fetcher.fetch(&iss).await,
        Err(FetchError::IssuerMismatch)
    ));

    let (iss, _) = issuer_server(|iss| doc(&iss, &[key(), key(), key(), key(), key()], "max-age=60")).await;
    assert!(matches!(fetcher.fetch(&iss).await, Err(FetchError::TooManyKeys)));

    let (iss, _) =
        issuer_server(|iss| axum::Json(json!({"issuer": iss, "jwks_uri": "https://x"})).into_response())
            .await;
    assert!(matches!(fetcher.fetch(&iss).await, Err(FetchError::Keys(_))));

    let (iss, _) =
        issuer_server(|iss| format!(r#"{{"issuer":"{iss}","issuer":"{iss}"}}"#).into_response()).await;
    assert!(matches!(fetcher.fetch(&iss).await, Err(FetchError::Json(_))));

    let (iss, _) = issuer_server(|_| StatusCode::NOT_FOUND.into_response()).await;
    assert!(matches!(fetcher.fetch(&iss).await, Err(FetchError::Status(404))));

    // Redirects are not followed.
    let (iss, _) =
        issuer_server(|_| (StatusCode::FOUND, [(header::LOCATION, "/iss/moved")]).into_response()).await;
    assert!(matches!(fetcher.fetch(&iss).await, Err(FetchError::Status(302))));

    // Size cap, with and without Content-Length.
    let big = "x".repeat(70 * 1024);
    let (iss, _) = issuer_server(move |_| big.clone().into_response()).await;
    assert!(matches!(
        fetcher.fetch(&iss).await,
        Err(FetchError::TooLarge { .. })
    ));
    let iss = raw_chunked_server(80).await;
    let small = KeyFetcher::with_limits(16 * 1024, Duration::from_secs(5)).unwrap();
    assert!(matches!(
        small.fetch(&iss).await,
        Err(FetchError::TooLarge { .. })
    ));

    // Plain http is only for loopback; https is required elsewhere.
    assert!(matches!(
        fetcher.fetch("http://issuer.example").await,
        Err(FetchError::Trust(_))
    ));
}

/// A raw HTTP server answering with `n` 1 KiB chunks and no Content-Length.
async fn raw_chunked_server(n: usize) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf).await;
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n").await;
            for _ in 0..n {
                let _ = s
                    .write_all(format!("400\r\n{}\r\n", " ".repeat(1024)).as_bytes())
                    .await;
            }
            let _ = s.write_all(b"0\r\n\r\n").await;
        }
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn timeout_and_retry_keep_previous_keys() {
    let k = key();
    let k2 = k.clone();
    let fail = Arc::new(AtomicUsize::new(0));
    let f = fail.clone();
    let (iss, _) = issuer_server(move |iss| {
        if f.load(Ordering::SeqCst) == 1 {
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        } else {
            doc(&iss, std::slice::from_ref(&k2), "max-age=1")
        }
    })
    .await;
    let fetcher = KeyFetcher::new().unwrap();
    let store = TrustStore::new(TrustList::new(vec![TrustedIssuer::fetched(iss.clone())]).unwrap());
    assert!(store.refresh(&fetcher, 0).await[0].1.is_ok());
    fail.store(1, Ordering::SeqCst);
    // max-age=1 is raised to the minimum cache lifetime.
    let r = store.refresh(&fetcher, MIN_CACHE).await;
    assert!(matches!(r[0].1, Err(FetchError::Status(500))));
    assert_eq!(store.snapshot().issuer(&iss).unwrap().keys(), &[k]);
    assert!(
        store
            .refresh(&fetcher, MIN_CACHE + RETRY_AFTER - 1)
            .await
            .is_empty()
    );

    // A server that never answers times out.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        loop {
            let (s, _) = listener.accept().await.unwrap();
            held.push(s);
        }
    });
    let quick = KeyFetcher::with_limits(1024, Duration::from_millis(300)).unwrap();
    let started = std::time::Instant::now();
    assert!(matches!(
        quick.fetch(&format!("http://{addr}")).await,
        Err(FetchError::Transport(_))
    ));
    assert!(started.elapsed() < Duration::from_secs(3));
}
