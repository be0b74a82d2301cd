//! The App Store Server API client against a local fake shaped like Apple's API (paths, bodies,
//! enums, error bodies) on 127.0.0.1: the fake checks every request's ES256 token with the
//! In-App Purchase key's public half (header `kid`, `typ`; claims `iss`, `aud`, `bid`, `iat`,
//! `exp` at most 5 minutes later) and refuses anything else with `401`, as Apple does. Signed
//! transactions come from the sandbox store under its App Store test chain.

mod apple_support;
mod common;

use std::sync::atomic::Ordering;

use apple_support::{configure, setup, start_fake, write_p8, KNOWN};
use common::{StateDir, APP};
use payseal_protocol::{Environment, Receipt, Store};
use payseal_sandbox::Order;
use payseal_verifier::app_store_api::{
    AppStoreApi, AppStoreApiError, ConsumptionRequest, DeliveryStatus, RefundPreference,
};

fn request() -> ConsumptionRequest {
    ConsumptionRequest {
        customer_consented: true,
        consumption_percentage: Some(100_000),
        delivery_status: DeliveryStatus::Delivered,
        sample_content_provided: false,
        refund_preference: Some(RefundPreference::Decline),
    }
}

#[tokio::test]
async fn consumption_is_sent_with_a_valid_es256_token_through_429_and_503() {
    let (_state, fake, api) = setup().await;
    fake.fail_with.lock().unwrap().extend([429, 503]);
    api.send_consumption(Environment::Sandbox, KNOWN, &request())
        .await
        .unwrap();
    assert_eq!(
        fake.authorized.load(Ordering::SeqCst),
        3,
        "two retried, one accepted"
    );
    assert_eq!(fake.refused.load(Ordering::SeqCst), 0);
    let sent = fake.consumption.lock().unwrap().clone();
    assert_eq!(
        sent,
        vec![(
            KNOWN.to_string(),
            serde_json::json!({"customerConsented": true, "consumptionPercentage": 100000,
                "deliveryStatus": "DELIVERED", "sampleContentProvided": false,
                "refundPreference": "DECLINE"})
        )]
    );
}

#[tokio::test]
async fn apples_error_bodies_and_exhausted_retries_are_typed_errors() {
    let (_state, fake, api) = setup().await;
    match api
        .send_consumption(Environment::Production, "2000000999", &request())
        .await
    {
        Err(AppStoreApiError::Api {
            status: 404,
            code: Some(4040010),
            message: Some(m),
        }) => assert_eq!(m, "Transaction id not found."),
        other => panic!("{other:?}"),
    }
    fake.fail_with.lock().unwrap().extend([500, 502, 503, 504]);
    let err = api
        .send_consumption(Environment::Sandbox, KNOWN, &request())
        .await
        .unwrap_err();
    assert!(
        matches!(err, AppStoreApiError::GaveUp { attempts: 3, .. }),
        "{err:?}"
    );
    assert!(err.retryable());
    // Without consent nothing is sent at all.
    let before = fake.authorized.load(Ordering::SeqCst);
    let mut no_consent = request();
    no_consent.customer_consented = false;
    assert!(matches!(
        api.send_consumption(Environment::Sandbox, KNOWN, &no_consent)
            .await,
        Err(AppStoreApiError::Request(_))
    ));
    assert_eq!(fake.authorized.load(Ordering::SeqCst), before);
}

#[tokio::test]
async fn a_token_from_another_key_is_refused_with_401() {
    let (state, fake, _api) = setup().await;
    // The same configuration with another .p8: the fake checks the first key's public half.
    let other = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let p8 = state
        .paths
        .config
        .parent()
        .unwrap()
        .join("SubscriptionKey_2X9R4HXF34.p8");
    write_p8(&p8, &other.serialize_pem(), 0o600);
    let api = AppStoreApi::new(
        payseal_verifier::background::outbound_client().unwrap(),
        state.settings().app_store_api.get(APP).unwrap().clone(),
    );
    assert!(matches!(
        api.send_consumption(Environment::Sandbox, KNOWN, &request())
            .await,
        Err(AppStoreApiError::Unauthorized)
    ));
    assert_eq!(fake.refused.load(Ordering::SeqCst), 1);
    assert!(fake.consumption.lock().unwrap().is_empty());
}

#[tokio::test]
async fn signed_transactions_from_the_api_go_through_the_storekit2_check() {
    let (state, fake, api) = setup().await;
    let anchors = &state.settings().anchors;
    let mut order = Order::new(Store::AppStore, APP, "coins_100");
    order.transaction_id = Some(KNOWN.into());
    let Receipt::AppStore { jws } = state.store.issue(&order).unwrap() else {
        panic!("not an App Store receipt")
    };
    *fake.signed_transaction.lock().unwrap() = jws;
    let tx = api
        .transaction_info(
            Environment::Sandbox,
            KNOWN,
            anchors,
            payseal_verifier::now_ms(),
        )
        .await
        .unwrap();
    assert_eq!(
        (tx.transaction_id.as_str(), tx.bundle_id.as_str()),
        (KNOWN, APP)
    );

    // Signed by an attacker's own chain: refused by the rule, not used.
    let Receipt::AppStore { jws } = payseal_rules::test_support::attacker()
        .issue(&order)
        .unwrap()
    else {
        panic!("not an App Store receipt")
    };
    *fake.signed_transaction.lock().unwrap() = jws;
    let err = api
        .transaction_info(
            Environment::Sandbox,
            KNOWN,
            anchors,
            payseal_verifier::now_ms(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, AppStoreApiError::Signature(_)), "{err:?}");

    // Genuinely signed, for another bundle: refused too.
    let other = Order::new(Store::AppStore, "com.example.other", "coins_100");
    let Receipt::AppStore { jws } = state.store.issue(&other).unwrap() else {
        panic!("not an App Store receipt")
    };
    *fake.signed_transaction.lock().unwrap() = jws;
    let err = api
        .transaction_info(
            Environment::Sandbox,
            KNOWN,
            anchors,
            payseal_verifier::now_ms(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, AppStoreApiError::Signature(_)), "{err:?}");
}

#[tokio::test]
async fn a_key_file_readable_by_others_or_not_a_key_stops_the_configuration() {
    let (_fake, addr) = start_fake(Vec::new()).await;
    let state = StateDir::new();
    configure(&state, addr, 0o644);
    let err = payseal_verifier::config::load_with_env(&state.paths.config, |_| None).unwrap_err();
    assert_eq!(
        err.key(),
        Some(format!("apps.{APP:?}.app_store.server_api.key_file").as_str())
    );
    assert!(
        err.to_string().contains("readable by group or others"),
        "{err}"
    );
    assert!(!err.to_string().contains("PRIVATE KEY"), "{err}");

    let p8 = state
        .paths
        .config
        .parent()
        .unwrap()
        .join("SubscriptionKey_2X9R4HXF34.p8");
    write_p8(
        &p8,
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        0o600,
    );
    let err = payseal_verifier::config::load_with_env(&state.paths.config, |_| None).unwrap_err();
    assert!(
        err.to_string().contains("not an In-App Purchase key"),
        "{err}"
    );
}
