//! App Store Server Notifications V2 signed by the sandbox store (the genuine one, trusted by
//! the anchors) and by an attacker's store (a self-made root with Apple's marker OIDs).

use std::collections::HashMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use payseal_protocol::{Environment, Reason, Store};
use payseal_sandbox::{AppStoreNotification, Order, SandboxStore};

use super::*;
use crate::notifications::Action;
use crate::rules::test_support::{anchors, app, app_with, attacker, genuine, APP};

fn apps(app: AppRules) -> HashMap<String, AppRules> {
    HashMap::from([(app.app_id.clone(), app)])
}

fn now() -> i64 {
    payseal_sandbox::now_ms()
}

fn order(tx: &str) -> Order {
    let mut o = Order::new(Store::AppStore, APP, "gems_100");
    o.transaction_id = Some(tx.into());
    o
}

fn body(store: &SandboxStore, n: &AppStoreNotification) -> String {
    store.app_store_notification(n, now()).unwrap()
}

fn check(body: &str) -> Result<Verified, Refused> {
    verify(body.as_bytes(), &apps(app()), &anchors(), now())
}

/// The decoded `signedPayload` of a body, to re-sign altered copies.
fn payload_of(body: &str) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_str(body).unwrap();
    let p64 = v["signedPayload"]
        .as_str()
        .unwrap()
        .split('.')
        .nth(1)
        .unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p64).unwrap()).unwrap()
}

fn resign(store: &SandboxStore, payload: &serde_json::Value) -> String {
    let jws = store
        .sign_app_store_jws(&store.app_store_header(), &payload.to_string())
        .unwrap();
    SandboxStore::app_store_notification_body(&jws)
}

#[test]
fn a_refund_revokes_by_transaction_id_in_the_matching_app() {
    let n = check(&body(
        genuine(),
        &AppStoreNotification::about("REFUND", &order("2000000111")),
    ))
    .unwrap();
    assert_eq!(n.store, Store::AppStore);
    assert_eq!(n.notification_type, "REFUND");
    assert_eq!(n.type_label, "REFUND");
    assert_eq!(n.environment, Some(Environment::Sandbox));
    assert_eq!(n.apps, [APP]);
    assert_eq!(n.transaction_key.as_deref(), Some("2000000111"));
    assert_eq!(
        n.action,
        Action::Revoke {
            keys: EventKeys::new("2000000111", None::<String>),
            product_id: "gems_100".into(),
            refuse_unredeemed: true
        }
    );
    assert!(!n.notification_id.is_empty());
}

#[test]
fn revoke_reversed_test_and_consumption_request_have_their_actions() {
    let o = order("2000000222");
    let revoke = check(&body(genuine(), &AppStoreNotification::about("REVOKE", &o))).unwrap();
    assert!(matches!(revoke.action, Action::Revoke { .. }));
    let reversed = check(&body(
        genuine(),
        &AppStoreNotification::about("REFUND_REVERSED", &o),
    ))
    .unwrap();
    assert_eq!(
        reversed.action,
        Action::Reinstate {
            keys: EventKeys::new("2000000222", None::<String>),
            product_id: "gems_100".into()
        }
    );
    let consumption = check(&body(
        genuine(),
        &AppStoreNotification::about("CONSUMPTION_REQUEST", &o),
    ))
    .unwrap();
    assert_eq!(
        consumption.action,
        Action::AnswerRefund {
            transaction_key: "2000000222".into(),
            answer_token: None,
        }
    );
    assert_eq!(consumption.transaction_key.as_deref(), Some("2000000222"));
    let test = check(&body(
        genuine(),
        &AppStoreNotification::test(APP, Environment::Sandbox),
    ))
    .unwrap();
    assert_eq!((test.action, test.transaction_key), (Action::Record, None));
    // With renewal info (verified by the same chain rule).
    let mut renewing = AppStoreNotification::about("DID_RENEW", &o);
    renewing.renewal_info = true;
    renewing.subtype = Some("BILLING_RECOVERY".into());
    let renewed = check(&body(genuine(), &renewing)).unwrap();
    assert_eq!(renewed.subtype.as_deref(), Some("BILLING_RECOVERY"));
    assert_eq!(renewed.action, Action::Record);
}

#[test]
fn a_subscription_refund_is_also_tried_by_original_transaction_id() {
    let genuine = genuine();
    let mut payload = payload_of(&body(
        genuine,
        &AppStoreNotification::about("REFUND", &order("2000000333")),
    ));
    let mut tx: serde_json::Value = serde_json::from_str(
        &genuine
            .app_store_payload(&order("2000000334"), now())
            .unwrap(),
    )
    .unwrap();
    tx["originalTransactionId"] = "2000000300".into();
    tx["revocationDate"] = now().into();
    payload["data"]["signedTransactionInfo"] = genuine
        .sign_app_store_jws(&genuine.app_store_header(), &tx.to_string())
        .unwrap()
        .into();
    let n = check(&resign(genuine, &payload)).unwrap();
    assert_eq!(
        n.action,
        Action::Revoke {
            keys: EventKeys::new("2000000334", Some("2000000300")),
            product_id: "gems_100".into(),
            refuse_unredeemed: true
        }
    );
}

#[test]
fn forged_and_altered_notifications_are_refused_by_the_transaction_rule() {
    let o = order("2000000444");
    let n = AppStoreNotification::about("REFUND", &o);
    // The attacker's own store: a self-made root with Apple's OIDs.
    let forged = check(&body(attacker(), &n)).unwrap_err();
    assert_eq!(forged.reason, Reason::UntrustedChain);
    assert_eq!(forged.type_label, crate::notifications::UNKNOWN_TYPE);
    // A genuine payload, altered after signing.
    let genuine_body = body(genuine(), &n);
    let v: serde_json::Value = serde_json::from_str(&genuine_body).unwrap();
    let jws = v["signedPayload"].as_str().unwrap();
    let mut parts: Vec<String> = jws.split('.').map(str::to_string).collect();
    let mut payload = payload_of(&genuine_body);
    payload["notificationType"] = "TEST".into();
    parts[1] = URL_SAFE_NO_PAD.encode(payload.to_string());
    let altered = SandboxStore::app_store_notification_body(&parts.join("."));
    assert_eq!(check(&altered).unwrap_err().reason, Reason::BadSignature);
    // alg none.
    let mut header: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts[0]).unwrap()).unwrap();
    header["alg"] = "none".into();
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        jws.split('.').nth(1).unwrap()
    );
    assert_eq!(
        check(&SandboxStore::app_store_notification_body(&none))
            .unwrap_err()
            .reason,
        Reason::BadSignature
    );
    // A genuine envelope around a transaction from the attacker's store.
    let mut payload = payload_of(&genuine_body);
    let fake_tx = attacker()
        .sign_app_store_jws(
            &attacker().app_store_header(),
            &attacker().app_store_payload(&o, now()).unwrap(),
        )
        .unwrap();
    payload["data"]["signedTransactionInfo"] = fake_tx.into();
    let refused = check(&resign(genuine(), &payload)).unwrap_err();
    assert_eq!(refused.reason, Reason::UntrustedChain);
    assert_eq!(refused.type_label, "REFUND", "the envelope was verified");
    assert!(
        refused.detail.starts_with("signedTransactionInfo"),
        "{}",
        refused.detail
    );
}

#[test]
fn apps_environments_and_shapes_are_checked() {
    let o = order("2000000555");
    // Unknown bundle.
    let mut other = o.clone();
    other.app_id = "com.example.other".into();
    let unknown = check(&body(
        genuine(),
        &AppStoreNotification::about("REFUND", &other),
    ));
    assert_eq!(unknown.unwrap_err().reason, Reason::UnknownApp);
    // Production notification to a sandbox-only app.
    let mut prod = o.clone();
    prod.environment = Environment::Production;
    let sandbox_only = apps(app_with(genuine(), &[Environment::Sandbox]));
    let b = body(genuine(), &AppStoreNotification::about("REFUND", &prod));
    let refused = verify(b.as_bytes(), &sandbox_only, &anchors(), now()).unwrap_err();
    assert_eq!(refused.reason, Reason::UntrustedEnvironment);
    assert!(check(&b).is_ok(), "an app accepting production takes it");
    // The nested transaction of another bundle, or environment.
    let mut payload = payload_of(&body(genuine(), &AppStoreNotification::about("REFUND", &o)));
    let foreign = genuine()
        .sign_app_store_jws(
            &genuine().app_store_header(),
            &genuine().app_store_payload(&other, now()).unwrap(),
        )
        .unwrap();
    payload["data"]["signedTransactionInfo"] = foreign.into();
    assert_eq!(
        check(&resign(genuine(), &payload)).unwrap_err().reason,
        Reason::WrongApp
    );
    let mut payload = payload_of(&body(genuine(), &AppStoreNotification::about("REFUND", &o)));
    payload["data"]["environment"] = "Production".into();
    assert_eq!(
        check(&resign(genuine(), &payload)).unwrap_err().reason,
        Reason::UntrustedEnvironment
    );
    payload["data"]["environment"] = "LocalTesting".into();
    assert_eq!(
        check(&resign(genuine(), &payload)).unwrap_err().reason,
        Reason::UntrustedEnvironment
    );
    // Shapes.
    let good = payload_of(&body(genuine(), &AppStoreNotification::about("REFUND", &o)));
    for (field, value) in [
        ("version", serde_json::Value::from("1.0")),
        ("notificationUUID", "".into()),
        ("notificationUUID", "x".repeat(129).into()),
    ] {
        let mut p = good.clone();
        p[field] = value;
        assert_eq!(
            check(&resign(genuine(), &p)).unwrap_err().reason,
            Reason::Malformed,
            "{field}"
        );
    }
    let mut p = good.clone();
    p["data"]
        .as_object_mut()
        .unwrap()
        .remove("signedTransactionInfo");
    assert_eq!(
        check(&resign(genuine(), &p)).unwrap_err().reason,
        Reason::Malformed
    );
    let mut p = good;
    p.as_object_mut().unwrap().remove("data");
    assert_eq!(
        check(&resign(genuine(), &p)).unwrap_err().reason,
        Reason::Malformed
    );
    for junk in [
        "",
        "{}",
        "[]",
        "{\"signedPayload\": 5}",
        "{\"signedPayload\": \"a.b.c\"}",
    ] {
        assert_eq!(check(junk).unwrap_err().reason, Reason::Malformed, "{junk}");
    }
}

#[test]
fn unknown_types_are_recorded_and_labelled_other() {
    let mut n = AppStoreNotification::about("SOMETHING_NEW", &order("2000000666"));
    n.notification_uuid = Some("6b1e0c9e-0000-4000-8000-000000000001".into());
    let v = check(&body(genuine(), &n)).unwrap();
    assert_eq!((v.type_label, v.action), ("other", Action::Record));
    assert_eq!(v.notification_id, "6b1e0c9e-0000-4000-8000-000000000001");
    assert_eq!(type_label("REFUND"), "REFUND");
}

fn renewing(
    kind: &str,
    subtype: Option<&str>,
    o: &Order,
    spec: payseal_sandbox::RenewalSpec,
) -> String {
    let mut n = AppStoreNotification::about(kind, o);
    n.subtype = subtype.map(str::to_string);
    n.renewal_info = true;
    n.renewal = spec;
    body(genuine(), &n)
}

#[test]
fn a_subscription_lifecycle_notification_updates_its_chain_from_the_signed_renewal_info() {
    let t = now();
    let mut o = Order::subscription(
        Store::AppStore,
        APP,
        "gold",
        t + 1000,
        Some("2000000500".into()),
    );
    o.transaction_id = Some("2000000501".into());
    let renewed = check(&renewing("DID_RENEW", None, &o, Default::default())).unwrap();
    let Action::UpdateSubscription { keys, answer } = renewed.action else {
        panic!("{:?}", renewed.action)
    };
    assert_eq!(keys, EventKeys::new("2000000500", Some("2000000501")));
    assert_eq!(
        (answer.state, answer.expires_at_ms, answer.checked_ms),
        (
            payseal_protocol::SubscriptionState::Active,
            Some(t + 1000),
            renewed.signed_ms
        )
    );
    // Billing grace: the period end is the signed grace end.
    let grace = payseal_sandbox::RenewalSpec {
        status: 4,
        grace_period_expires_date: Some(t + 5000),
        ..Default::default()
    };
    let n = check(&renewing(
        "DID_FAIL_TO_RENEW",
        Some("GRACE_PERIOD"),
        &o,
        grace,
    ))
    .unwrap();
    let Action::UpdateSubscription { answer, .. } = n.action else {
        panic!("{:?}", n.action)
    };
    assert_eq!(
        (answer.state, answer.expires_at_ms),
        (
            payseal_protocol::SubscriptionState::InGracePeriod,
            Some(t + 5000)
        )
    );
    // The same type about a one-time purchase: recorded only.
    let one_time = check(&renewing(
        "DID_RENEW",
        None,
        &order("2000000502"),
        Default::default(),
    ));
    assert_eq!(one_time.unwrap().action, Action::Record);
}

#[test]
fn renewal_info_of_another_chain_is_malformed() {
    let t = now();
    let mut o = Order::subscription(
        Store::AppStore,
        APP,
        "gold",
        t + 1000,
        Some("2000000600".into()),
    );
    o.transaction_id = Some("2000000601".into());
    let mut payload = payload_of(&renewing("DID_RENEW", None, &o, Default::default()));
    let mut other = o.clone();
    other.original_transaction_id = Some("2000000999".into());
    let info =
        payseal_sandbox::renewal_info_json(&other, "2000000601", &Default::default(), t).unwrap();
    payload["data"]["signedRenewalInfo"] = genuine()
        .sign_app_store_jws(&genuine().app_store_header(), &info)
        .unwrap()
        .into();
    let refused = check(&resign(genuine(), &payload)).unwrap_err();
    assert_eq!(refused.reason, Reason::Malformed, "{}", refused.detail);
}
