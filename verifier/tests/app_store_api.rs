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

#[tokio::test]
async fn on_store_unavailable_is_read_like_plays_and_a_bad_value_is_named() {
    let (_fake, addr) = start_fake(Vec::new()).await;
    let set = |value: Option<&str>| {
        let state = StateDir::new();
        configure(&state, addr, 0o600);
        if let Some(v) = value {
            let mut text = std::fs::read_to_string(&state.paths.config).unwrap();
            text.push_str(&format!("on_store_unavailable = {v:?}\n"));
            std::fs::write(&state.paths.config, text).unwrap();
        }
        payseal_verifier::config::load_with_env(&state.paths.config, |_| None)
    };
    let rule = |value| set(value).unwrap().app_store_api[APP].on_store_unavailable;
    use payseal_verifier::settings::OnStoreUnavailable;
    assert_eq!(rule(None), OnStoreUnavailable::Signature);
    assert_eq!(rule(Some("signature")), OnStoreUnavailable::Signature);
    assert_eq!(rule(Some("retry")), OnStoreUnavailable::Retry);
    let err = set(Some("never")).unwrap_err();
    assert_eq!(
        err.key(),
        Some(format!("apps.{APP:?}.app_store.server_api.on_store_unavailable").as_str())
    );
    assert!(err.to_string().contains("\"never\""), "{err}");
}

#[tokio::test]
async fn subscription_statuses_are_found_by_chain_checked_and_typed() {
    let (state, fake, api) = setup().await;
    let anchors = &state.settings().anchors;
    let now = payseal_verifier::now_ms();
    let ask = |id: &'static str, chain: &'static str| {
        api.subscription_status(Environment::Sandbox, id, chain, anchors, now)
    };
    let mut order = Order::subscription(Store::AppStore, APP, "gold", now + 86_400_000, None);
    order.transaction_id = Some(KNOWN.into());
    let grace = payseal_sandbox::RenewalSpec {
        status: 4,
        grace_period_expires_date: Some(now + 5_000),
        ..Default::default()
    };
    let body = apple_support::status_response(&state.store, &order, &grace, now);
    fake.statuses
        .lock()
        .unwrap()
        .insert(KNOWN.into(), body.clone());
    let status = ask(KNOWN, KNOWN)
        .await
        .unwrap()
        .expect("the chain is listed");
    assert_eq!(status.status, 4);
    assert_eq!(status.transaction.transaction_id, KNOWN);
    assert_eq!(
        (
            status.renewal.grace_period_expires_date,
            status.renewal.auto_renew_status
        ),
        (Some(now + 5_000), Some(1))
    );
    // Another chain of the customer is not this one.
    assert!(ask(KNOWN, "2000000999999999").await.unwrap().is_none());
    // Apple's error bodies, typed.
    let unknown = ask("2000000000000001", "2000000000000001")
        .await
        .unwrap_err();
    assert!(unknown.not_found(), "{unknown}");
    assert!(matches!(
        unknown,
        AppStoreApiError::Api {
            status: 404,
            code: Some(4040010),
            ..
        }
    ));
    let invalid = ask("not-an-id", "not-an-id").await.unwrap_err();
    assert!(
        matches!(
            invalid,
            AppStoreApiError::Api {
                status: 400,
                code: Some(4000006),
                ..
            }
        ),
        "{invalid}"
    );
    // A renewal info signed by an attacker's own chain: refused, not used.
    let attacker_dir = tempfile::tempdir().unwrap();
    let attacker = payseal_sandbox::SandboxStore::open_or_create(attacker_dir.path()).unwrap();
    let forged = apple_support::status_response(&attacker, &order, &grace, now);
    let mut mixed = body;
    mixed["data"][0]["lastTransactions"][0]["signedRenewalInfo"] =
        forged["data"][0]["lastTransactions"][0]["signedRenewalInfo"].clone();
    fake.statuses.lock().unwrap().insert(KNOWN.into(), mixed);
    let refused = ask(KNOWN, KNOWN).await.unwrap_err();
    assert!(
        matches!(refused, AppStoreApiError::Signature(_)),
        "{refused}"
    );
    assert_eq!(fake.refused.load(Ordering::SeqCst), 0);
}
