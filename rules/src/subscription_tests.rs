//! Subscriptions through every store rule: kind, expiry decided once in `run` with the
//! verifier's clock, and the renewal chain as the ledger key.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use payseal_protocol::{HuaweiAlgorithm, PurchaseKind, Reason, Receipt, Store};
use payseal_sandbox::{Order, ProductType, PurchaseState};

use super::test_support::*;
use super::{check_receipt, Purchase, Rejection};

const DAY: i64 = 24 * 60 * 60 * 1000;

fn now() -> i64 {
    payseal_sandbox::now_ms()
}

fn check_at(receipt: &Receipt, now_ms: i64) -> Result<Purchase, Rejection> {
    check_receipt(receipt, &app(), &anchors(), now_ms)
}

fn sub(store: Store, expires_at: i64, chain: &str, tx: &str) -> Receipt {
    let mut o = Order::subscription(store, APP, "pro_monthly", expires_at, Some(chain.into()));
    o.transaction_id = Some(tx.into());
    genuine().issue(&o).unwrap()
}

/// The App Store payload of a JWS, to re-sign it changed.
fn app_store_payload(receipt: &Receipt) -> serde_json::Value {
    let Receipt::AppStore { jws } = receipt else {
        panic!("not an App Store receipt")
    };
    let p64 = jws.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p64).unwrap()).unwrap()
}

fn resign_app_store(payload: &serde_json::Value) -> Receipt {
    Receipt::AppStore {
        jws: genuine()
            .sign_app_store_jws(&genuine().app_store_header(), &payload.to_string())
            .unwrap(),
    }
}

#[test]
fn a_current_subscription_pays_with_kind_expiry_and_the_chain_as_key() {
    let t = now();
    for store in [Store::AppStore, Store::Huawei, Store::Sandbox] {
        let end = t + 30 * DAY;
        let first = check_at(&sub(store, end, "1000000001", "1000000001"), t).unwrap();
        assert_eq!(first.kind, Some(PurchaseKind::Subscription), "{store}");
        assert_eq!(first.expires_at, Some(end), "{store}");
        assert_eq!(first.transaction_key, "1000000001", "{store}");
        // A renewal: a new transaction of the same chain, the same ledger key.
        let renewal = check_at(&sub(store, end + 30 * DAY, "1000000001", "1000000777"), t).unwrap();
        assert_eq!(renewal.transaction_id, "1000000777", "{store}");
        assert_eq!(renewal.transaction_key, "1000000001", "{store}");
        assert_eq!(renewal.expires_at, Some(end + 30 * DAY), "{store}");
    }
}

#[test]
fn an_expired_subscription_is_expired_at_the_verifiers_clock() {
    let t = now();
    for store in [Store::AppStore, Store::Huawei, Store::Sandbox] {
        let end = t - 365 * DAY;
        let rej = check_at(&sub(store, end, "2000000001", "2000000009"), t).unwrap_err();
        assert_eq!(rej.reason, Reason::Expired, "{store}: {}", rej.detail);
        assert_eq!(rej.partial.expires_at, Some(end), "{store}");
        assert_eq!(
            rej.partial.kind,
            Some(PurchaseKind::Subscription),
            "{store}"
        );
        assert_eq!(rej.partial.transaction_key.as_deref(), Some("2000000001"));
    }
    // The boundary, with the store's own date: paid one millisecond before its end, expired at it.
    let end = t + DAY;
    let r = sub(Store::Sandbox, end, "3", "3");
    assert!(check_at(&r, end - 1).is_ok());
    assert_eq!(reason(check_at(&r, end)), Reason::Expired);
    let r = sub(Store::AppStore, end, "4", "4");
    assert!(check_at(&r, end - 1).is_ok());
    assert_eq!(reason(check_at(&r, end)), Reason::Expired);
}

#[test]
fn app_store_upgraded_non_renewing_and_unknown_types() {
    let t = now();
    let current = sub(Store::AppStore, t + DAY, "5000", "5001");
    let mut upgraded = app_store_payload(&current);
    upgraded["isUpgraded"] = true.into();
    let rej = check_at(&resign_app_store(&upgraded), t).unwrap_err();
    assert_eq!(rej.reason, Reason::Expired, "{}", rej.detail);
    assert!(rej.detail.contains("isUpgraded"), "{}", rej.detail);

    // Offers change nothing: a free trial grants until its expiresDate.
    let mut trial = app_store_payload(&current);
    trial["offerType"] = 1.into();
    trial["price"] = 0.into();
    assert!(check_at(&resign_app_store(&trial), t).is_ok());

    let mut no_expiry = app_store_payload(&current);
    no_expiry.as_object_mut().unwrap().remove("expiresDate");
    assert_eq!(
        reason(check_at(&resign_app_store(&no_expiry), t)),
        Reason::Malformed
    );
    let mut unknown = app_store_payload(&current);
    unknown["type"] = "Lifetime Pass".into();
    assert_eq!(
        reason(check_at(&resign_app_store(&unknown), t)),
        Reason::Malformed
    );

    // Non-renewing: Apple signs no expiry; keyed by its own transaction.
    let mut o = order(Store::AppStore);
    o.product_type = ProductType::NonRenewingSubscription;
    o.transaction_id = Some("6001".into());
    let p = check_at(&genuine().issue(&o).unwrap(), t).unwrap();
    assert_eq!(p.kind, Some(PurchaseKind::Subscription));
    assert_eq!(p.expires_at, None);
    assert_eq!(p.transaction_key, "6001");

    // Consumables and non-consumables: their kind, no expiry, their own transaction.
    for (product_type, kind) in [
        (ProductType::Consumable, PurchaseKind::Consumable),
        (ProductType::NonConsumable, PurchaseKind::NonConsumable),
    ] {
        for store in [Store::AppStore, Store::Huawei, Store::Sandbox] {
            let mut o = order(store);
            o.product_type = product_type;
            o.transaction_id = Some("7001".into());
            let p = check_at(&genuine().issue(&o).unwrap(), t).unwrap();
            assert_eq!((p.kind, p.expires_at), (Some(kind), None), "{store}");
            assert_eq!(p.transaction_key, "7001");
        }
    }
}

#[test]
fn a_revoked_renewal_names_its_chain() {
    let mut o = Order::subscription(
        Store::AppStore,
        APP,
        "pro_monthly",
        now() + DAY,
        Some("8000".into()),
    );
    o.transaction_id = Some("8002".into());
    o.state = PurchaseState::Refunded;
    let rej = check_at(&genuine().issue(&o).unwrap(), now()).unwrap_err();
    assert_eq!(rej.reason, Reason::Revoked);
    assert_eq!(rej.partial.transaction_key.as_deref(), Some("8000"));
    assert_eq!(rej.partial.transaction_id.as_deref(), Some("8002"));
}

#[test]
fn play_subscriptions_have_no_signed_expiry_and_are_keyed_by_purchase_token() {
    let t = now();
    let mut o = Order::subscription(
        Store::GooglePlay,
        APP,
        "pro_monthly",
        t - 365 * DAY,
        Some("GPA.1111-2222-3333-44444".into()),
    );
    let first = check_at(&genuine().issue(&o).unwrap(), t).unwrap();
    o.transaction_id = Some("GPA.1111-2222-3333-44444..0".into());
    let renewal = check_at(&genuine().issue(&o).unwrap(), t).unwrap();
    for p in [&first, &renewal] {
        // Play signs no expiry: never `expired`, no `expires_at` (docs/src/subscriptions.md).
        assert_eq!(
            (p.kind, p.expires_at),
            (Some(PurchaseKind::Subscription), None)
        );
    }
    assert_eq!(first.transaction_key, renewal.transaction_key);
    assert_ne!(first.transaction_id, renewal.transaction_id);
    assert!(first.transaction_key.contains(".AO-J1O"), "purchaseToken");
    assert_eq!(
        first.original_transaction_id.as_ref(),
        Some(&first.transaction_key)
    );
    // One-time products: no kind (Play does not say), keyed by orderId.
    let mut one_time = order(Store::GooglePlay);
    one_time.transaction_id = Some("GPA.9".into());
    let p = check_at(&genuine().issue(&one_time).unwrap(), t).unwrap();
    assert_eq!((p.kind, p.transaction_key.as_str()), (None, "GPA.9"));
}

#[test]
fn huawei_validity_flag_and_unknown_kinds() {
    let t = now();
    let (data, _) = parts(&sub(Store::Huawei, t + DAY, "9000", "9001"));
    assert!(data.contains("\"subIsvalid\":true"), "{data}");
    let resign = |data: String| Receipt::Huawei {
        signature: genuine().sign_huawei(&data, HuaweiAlgorithm::Sha256WithRsa),
        purchase_data: data,
        algorithm: HuaweiAlgorithm::Sha256WithRsa,
    };
    let invalid = data.replace("\"subIsvalid\":true", "\"subIsvalid\":false");
    let rej = check_at(&resign(invalid), t).unwrap_err();
    assert_eq!(rej.reason, Reason::Expired);
    assert!(rej.detail.contains("subIsvalid"), "{}", rej.detail);
    let odd = data.replace("\"kind\":2", "\"kind\":9");
    assert_ne!(odd, data);
    assert_eq!(reason(check_at(&resign(odd), t)), Reason::Malformed);
    // The chain key is the subscriptionId.
    let p = check_at(&resign(data), t).unwrap();
    assert_eq!(p.transaction_key, "9000");
    assert_eq!(p.original_transaction_id.as_deref(), Some("9000"));
    assert_eq!(p.transaction_id, "9001");
}

#[test]
fn an_expired_period_carries_its_purchase_only_when_the_date_alone_ended_it() {
    let t = now();
    let lapsed = check_at(
        &sub(Store::AppStore, t - DAY, "1000000050", "1000000051"),
        t,
    )
    .unwrap_err();
    assert_eq!(lapsed.reason, Reason::Expired);
    let p = lapsed.lapsed.expect("the purchase as signed");
    assert_eq!(
        (
            p.transaction_key.as_str(),
            p.transaction_id.as_str(),
            p.expires_at
        ),
        ("1000000050", "1000000051", Some(t - DAY))
    );
    // isUpgraded: Apple ended the period whatever the date; nothing can extend it.
    let mut payload = app_store_payload(&sub(Store::AppStore, t + DAY, "1000000060", "1000000061"));
    payload["isUpgraded"] = true.into();
    let upgraded = check_at(&resign_app_store(&payload), t).unwrap_err();
    assert_eq!((upgraded.reason, upgraded.lapsed), (Reason::Expired, None));
    // Any other refusal carries nothing.
    let mut payload = app_store_payload(&sub(Store::AppStore, t - DAY, "1000000070", "1000000071"));
    payload["bundleId"] = "com.other.app".into();
    assert_eq!(
        check_at(&resign_app_store(&payload), t).unwrap_err().lapsed,
        None
    );
}
