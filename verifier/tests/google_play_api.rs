//! The Play Developer API client (`payseal_verifier::google_api::PlayApi`) against the local
//! fake Google (`google_support`): the service account's token is fetched once and reused,
//! each endpoint's path and answer, errors typed from Google's body, `429` backoff honouring
//! `Retry-After`, `5xx` until it gives up, request timeouts, the per-app daily budget, and a
//! service account without API access refused.

mod common;
mod google_support;
mod webhook_support;

use std::time::{Duration, Instant};

use google_support::{keys, FakeGoogle, API_ACCOUNT};
use payseal_verifier::google_api::resources::PURCHASE_STATE_PENDING;
use payseal_verifier::google_api::{ApiError, PlayApi};
use payseal_verifier::settings::{PlayApiSettings, ServiceAccountKey};

const PACKAGE: &str = "dev.payseal.test";

fn settings(google: &FakeGoogle, account: &str, key: usize) -> PlayApiSettings {
    let file = google.key_file(account, &keys()[key]);
    let key = ServiceAccountKey::from_json(file.as_bytes()).unwrap();
    PlayApiSettings {
        app_id: PACKAGE.into(),
        package_name: PACKAGE.into(),
        token_uri: key.token_uri.clone(),
        key,
        api_base: google.url(""),
        request_timeout: Duration::from_secs(5),
        retry_base: Duration::from_millis(20),
        retry_max: Duration::from_secs(3),
        max_attempts: 3,
        daily_budget: 1000,
        acknowledge: true,
        consumable_products: Default::default(),
    }
}

async fn fake() -> FakeGoogle {
    let google = FakeGoogle::start().await;
    google.register_account(API_ACCOUNT, &keys()[3]);
    google
}

fn api(google: &FakeGoogle) -> PlayApi {
    PlayApi::new(
        settings(google, API_ACCOUNT, 3),
        payseal_verifier::background::outbound_client().unwrap(),
    )
}

#[tokio::test]
async fn every_endpoint_answers_with_one_cached_token() {
    let google = fake().await;
    google.add_product(PACKAGE, "coins_100", "tok-1", "GPA.1", 0);
    google.add_product(PACKAGE, "gems", "tok-2", "GPA.2", 0);
    let expiry = payseal_verifier::now_ms() + 86_400_000;
    google.add_subscription(
        PACKAGE,
        "gold",
        "sub-1",
        "SUBSCRIPTION_STATE_ACTIVE",
        expiry,
        Some("sub-0"),
    );
    let api = api(&google);

    let p = api.products_get("coins_100", "tok-1").await.unwrap();
    assert_eq!(p.purchase_state, Some(0));
    assert_eq!(p.order_id.as_deref(), Some("GPA.1"));
    assert!(!p.acknowledged());
    api.products_acknowledge("coins_100", "tok-1")
        .await
        .unwrap();
    assert!(api
        .products_get("coins_100", "tok-1")
        .await
        .unwrap()
        .acknowledged());
    api.products_consume("gems", "tok-2").await.unwrap();
    assert_eq!(
        google.product(PACKAGE, "gems", "tok-2").unwrap()["consumptionState"],
        1
    );

    let s = api.subscriptionsv2_get("sub-1").await.unwrap();
    assert_eq!(s.subscription_state, "SUBSCRIPTION_STATE_ACTIVE");
    assert_eq!(s.expires_at_ms().unwrap(), Some(expiry));
    assert_eq!(s.linked_purchase_token.as_deref(), Some("sub-0"));
    api.subscriptions_acknowledge("gold", "sub-1")
        .await
        .unwrap();
    assert!(api
        .subscriptionsv2_get("sub-1")
        .await
        .unwrap()
        .acknowledged());

    assert_eq!(
        google.purchase_calls(),
        [
            "purchases.products.get",
            "purchases.products.acknowledge",
            "purchases.products.get",
            "purchases.products.consume",
            "purchases.subscriptionsv2.get",
            "purchases.subscriptions.acknowledge",
            "purchases.subscriptionsv2.get",
        ]
    );
    assert_eq!(
        google.state.lock().unwrap().issued.len(),
        1,
        "one token for all"
    );
}

#[tokio::test]
async fn google_s_errors_are_typed_and_not_retried() {
    let google = fake().await;
    google.add_product(
        PACKAGE,
        "coins_100",
        "pending",
        "GPA.3",
        PURCHASE_STATE_PENDING,
    );
    let api = api(&google);
    let err = api.products_get("coins_100", "nobody").await.unwrap_err();
    let e = err.google().expect("Google's error");
    assert_eq!((e.http, e.code, e.status.as_str()), (404, 404, "NOT_FOUND"));
    assert!(e.not_found());
    assert!(!err.unavailable());
    let err = api
        .products_acknowledge("coins_100", "pending")
        .await
        .unwrap_err();
    assert_eq!(err.google().unwrap().status, "FAILED_PRECONDITION");
    assert_eq!(google.purchase_calls().len(), 2, "a 4xx is not retried");
}

#[tokio::test]
async fn a_429_waits_for_retry_after_and_5xx_gives_up_after_max_attempts() {
    let google = fake().await;
    google.add_product(PACKAGE, "coins_100", "tok", "GPA.4", 0);
    {
        let mut s = google.state.lock().unwrap();
        s.fail_next.push_back(429);
        s.retry_after = Some("1".into());
    }
    let api = api(&google);
    let started = Instant::now();
    api.products_get("coins_100", "tok").await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After: 1 honoured"
    );
    let statuses: Vec<u16> = google.api_requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [429, 200]);

    {
        let mut s = google.state.lock().unwrap();
        s.retry_after = None;
        s.fail_next.extend([503, 503, 503, 503]);
    }
    let err = api.products_get("coins_100", "tok").await.unwrap_err();
    assert!(
        matches!(err, ApiError::GaveUp { attempts: 3, .. }),
        "{err:?}"
    );
    assert!(err.unavailable());
    assert!(err.to_string().contains("UNAVAILABLE"), "{err}");
    assert_eq!(google.api_requests().len(), 2 + 3);
}

#[tokio::test]
async fn a_slow_google_times_out_and_counts_as_unavailable() {
    let google = fake().await;
    google.add_product(PACKAGE, "coins_100", "tok", "GPA.5", 0);
    google.state.lock().unwrap().api_delay = Duration::from_millis(500);
    let mut s = settings(&google, API_ACCOUNT, 3);
    s.request_timeout = Duration::from_millis(100);
    s.max_attempts = 2;
    let api = PlayApi::new(s, payseal_verifier::background::outbound_client().unwrap());
    let err = api.products_get("coins_100", "tok").await.unwrap_err();
    assert!(
        matches!(err, ApiError::GaveUp { attempts: 2, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("transport"), "{err}");
}

#[tokio::test]
async fn the_daily_budget_stops_calls_before_they_reach_google() {
    let google = fake().await;
    google.add_product(PACKAGE, "coins_100", "tok", "GPA.6", 0);
    let mut s = settings(&google, API_ACCOUNT, 3);
    s.daily_budget = 3;
    let api = PlayApi::new(s, payseal_verifier::background::outbound_client().unwrap());
    // A retried request spends one unit per attempt.
    google.state.lock().unwrap().fail_next.push_back(503);
    api.products_get("coins_100", "tok").await.unwrap();
    api.products_get("coins_100", "tok").await.unwrap();
    let err = api.products_get("coins_100", "tok").await.unwrap_err();
    assert!(
        matches!(err, ApiError::BudgetExhausted { per_day: 3, .. }),
        "{err:?}"
    );
    assert_eq!(google.api_requests().len(), 3);
}

#[tokio::test]
async fn an_account_without_api_access_is_refused_after_one_token_refresh() {
    let google = fake().await;
    google.register_account("other@payseal-test.iam.gserviceaccount.com", &keys()[4]);
    google.add_product(PACKAGE, "coins_100", "tok", "GPA.7", 0);
    let api = PlayApi::new(
        settings(&google, "other@payseal-test.iam.gserviceaccount.com", 4),
        payseal_verifier::background::outbound_client().unwrap(),
    );
    let err = api.products_get("coins_100", "tok").await.unwrap_err();
    assert_eq!(err.google().unwrap().status, "UNAUTHENTICATED");
    assert_eq!(
        google.state.lock().unwrap().issued.len(),
        2,
        "fetched again once"
    );
    // And a key the token endpoint does not know gets no token at all.
    let unknown = PlayApi::new(
        settings(&google, "ghost@payseal-test.iam.gserviceaccount.com", 2),
        payseal_verifier::background::outbound_client().unwrap(),
    );
    let err = unknown.products_get("coins_100", "tok").await.unwrap_err();
    assert!(matches!(err, ApiError::Token(_)), "{err:?}");
}
