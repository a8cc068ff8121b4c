//! Fetching blind-token directories from a real local HTTP server on 127.0.0.1:0
//! (blind-profile.md §4.4, §12.4): parsed and validated, cached by max-age, pinned across
//! refetches (a changed slot key is refused and the previous directory kept), size-capped.
#![cfg(feature = "fetch")]
#![allow(missing_docs, clippy::unwrap_used)]

mod blind_common;

use std::sync::{Arc, Mutex};

use ageband_blind::profile::{Directory, DirectoryKey};
use ageband_core::age::{AgeQuestion, Threshold};
use ageband_verifier::fetch::{FetchError, KeyFetcher, RETRY_AFTER, WELL_KNOWN_DIRECTORY};
use ageband_verifier::{AgeRequest, ManualClock, TrustError, TrustList, TrustStore, TrustedIssuer, Verifier};
use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use blind_common::*;

/// Serves whatever `body` holds at `/iss/.well-known/private-token-issuer-directory`.
async fn directory_server(body: Arc<Mutex<String>>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let iss = format!("http://{}/iss", listener.local_addr().unwrap());
    let app = Router::new().route(
        &format!("/iss{WELL_KNOWN_DIRECTORY}"),
        get(move || {
            let text = body.lock().unwrap().clone();
            async move {
                let mut r: Response = text.into_response();
                r.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/private-token-issuer-directory"),
                );
                r.headers_mut()
                    .insert(header::CACHE_CONTROL, HeaderValue::from_static("max-age=120"));
                r
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    iss
}

/// The fixture directory with slot 0's key swapped for another fixture key.
fn swapped() -> Directory {
    let mut ks: Vec<DirectoryKey> = directory().keys().to_vec();
    let (f, fl) = (ks[0].fact(), ks[0].floor());
    ks[0] = DirectoryKey::new(f, fl, month(), keys()[OVER13_L2].public_key().clone()).unwrap();
    ks.remove(OVER13_L2);
    Directory::new("/blind-token-request", ks).unwrap()
}

#[tokio::test]
async fn fetches_pins_and_verifies() {
    let body = Arc::new(Mutex::new(directory_without(&[OVER13_L2]).to_json()));
    let iss = directory_server(body.clone()).await;
    let fetcher = KeyFetcher::new().unwrap();
    let got = fetcher.fetch_directory(&iss).await.unwrap();
    assert_eq!(got.directory, directory_without(&[OVER13_L2]));
    assert_eq!(got.max_age, 120);

    // An issuer trusted for blind tokens only through its fetched directory (its SD-JWT keys
    // are pinned empty here).
    let store = Arc::new(TrustStore::new(
        TrustList::new(vec![
            TrustedIssuer::pinned(iss.clone(), vec![]).fetch_blind_directory(),
        ])
        .unwrap(),
    ));
    let t0 = now();
    let results = store.refresh(&fetcher, t0).await;
    assert_eq!(results.len(), 1);
    assert!(results[0].0.ends_with("(blind directory)"));
    assert!(results[0].1.is_ok());
    let v = Verifier::new(store.clone()).with_clock(Arc::new(ManualClock::new(t0)));
    let token = issue_with(&mut ageband_blind::SystemRng, OVER18_L2, &iss)
        .present(NONCE.as_bytes(), AUDIENCE)
        .unwrap()
        .encode();
    let r =
        AgeRequest::with_nonce(AgeQuestion::AtLeast(Threshold::new(18).unwrap()), AUDIENCE, NONCE).unwrap();
    let o = v.verify_blind(&[&token], &r).unwrap();
    assert_eq!(o.issuer, iss);

    // Cached: nothing due before max-age.
    assert!(store.refresh(&fetcher, t0 + 119).await.is_empty());
    // A new slot appears: accepted.
    *body.lock().unwrap() = directory().to_json();
    let results = store.refresh(&fetcher, t0 + 120).await;
    assert!(results[0].1.is_ok());
    assert_eq!(
        store
            .snapshot()
            .issuer(&iss)
            .unwrap()
            .blind_issuer()
            .unwrap()
            .directory(),
        &directory()
    );
    // A slot's key changes: refused, the previous directory kept, retried after RETRY_AFTER.
    *body.lock().unwrap() = swapped().to_json();
    let results = store.refresh(&fetcher, t0 + 240).await;
    assert!(matches!(
        results[0].1,
        Err(FetchError::Trust(TrustError::InconsistentDirectory))
    ));
    assert_eq!(
        store
            .snapshot()
            .issuer(&iss)
            .unwrap()
            .blind_issuer()
            .unwrap()
            .directory(),
        &directory()
    );
    assert!(
        store
            .refresh(&fetcher, t0 + 240 + RETRY_AFTER - 1)
            .await
            .is_empty()
    );
    assert_eq!(store.refresh(&fetcher, t0 + 240 + RETRY_AFTER).await.len(), 1);
}

#[tokio::test]
async fn refuses_bad_directories() {
    let body = Arc::new(Mutex::new(
        "{\"issuer-request-uri\":\"/x\",\"token-keys\":[]}".to_owned(),
    ));
    let iss = directory_server(body.clone()).await;
    let fetcher = KeyFetcher::new().unwrap();
    match fetcher.fetch_directory(&iss).await {
        Err(FetchError::Directory(e)) => assert_eq!(e.kind(), "bad_size"),
        other => panic!("{other:?}"),
    }
    *body.lock().unwrap() = "not json".into();
    assert!(matches!(
        fetcher.fetch_directory(&iss).await,
        Err(FetchError::Directory(_))
    ));
    // The fetcher's size cap applies.
    *body.lock().unwrap() = directory().to_json();
    let small = KeyFetcher::with_limits(1024, std::time::Duration::from_secs(5)).unwrap();
    assert!(matches!(
        small.fetch_directory(&iss).await,
        Err(FetchError::TooLarge { max: 1024 })
    ));
    // Only https or loopback http.
    assert!(matches!(
        fetcher.fetch_directory("http://issuer.example").await,
        Err(FetchError::Trust(TrustError::NotHttps))
    ));
}
