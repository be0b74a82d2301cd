//! Huawei IAP server notifications (version 2) end to end: a real verifier over TLS with
//! `[apps."ID".huawei.notifications]`, a local "Huawei" (OAuth 2.0 client-credentials token
//! endpoint checking the app id and secret; Order service `POST
//! /applications/purchases/tokens/verify` requiring `Basic base64("APPAT:" + token)` and
//! answering with purchase data signed by the sandbox store in Huawei's format), and a real
//! webhook receiver.
//!
//! A refund notification is unsigned, so it only makes the verifier ask the Order service: the
//! redemption is revoked when, and only when, Huawei's signed data says `purchaseState` 2.

mod common;
mod huawei_support;
mod webhook_support;

use std::time::Duration;

use common::{StateDir, TestServer};
use huawei_support::{configure_huawei, issue, notification, post, start_huawei};
use huawei_support::{CLIENT_ID, CLIENT_SECRET};
use payseal_protocol::{Outcome, Reason, Redemption};
use payseal_sandbox::{PurchaseState, SandboxStore};
use payseal_verifier::webhook::PURCHASE_REVOKED;
use serde_json::json;
use webhook_support::{configure, RunningReceiver};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huawei_refund_is_revoked_only_on_huawei_s_signed_word() {
    let (huawei, url) = start_huawei().await;
    let receiver = RunningReceiver::start(0).await;
    let state = StateDir::new();
    configure(&state.paths.config, &receiver.url());
    configure_huawei(&state, &url);
    let mut server = TestServer::start_on(state, |s| {
        assert!(!format!("{:?}", s.huawei_notifications).contains(CLIENT_SECRET));
    })
    .await;

    let suffix = &uuid::Uuid::new_v4().simple().to_string()[..8];
    let refunded_order = format!("20261206120000{suffix}.1");
    let kept_order = format!("20261206120000{suffix}.2");
    let genuine = issue(
        &server.state.store,
        &refunded_order,
        PurchaseState::Purchased,
    );
    let kept = issue(&server.state.store, &kept_order, PurchaseState::Purchased);
    for r in [&genuine, &kept] {
        assert_eq!(
            server.verify("alice", r).await.redemption,
            Some(Redemption::First)
        );
    }
    // What Huawei's Order service will say, signed: the first order refunded, the second not;
    // a third token answered with data signed by someone else's key.
    let attacker = tempfile::tempdir().unwrap();
    let attacker = SandboxStore::open_or_create(attacker.path()).unwrap();
    {
        let mut h = huawei.lock().unwrap();
        h.orders.insert(
            "tok-refunded".into(),
            issue(
                &server.state.store,
                &refunded_order,
                PurchaseState::Refunded,
            ),
        );
        h.orders.insert("tok-kept".into(), kept.clone());
        h.orders.insert(
            "tok-forged".into(),
            issue(&attacker, &kept_order, PurchaseState::Refunded),
        );
    }

    // Refund of a purchase Huawei still calls purchased: nothing changes.
    assert_eq!(
        post(&server, &notification(CLIENT_ID, 2, "tok-kept")).await,
        (200, Some("not_refunded".into()))
    );
    // Order data not signed by the app's Huawei key: refused with 503 (Huawei retries).
    assert_eq!(
        post(&server, &notification(CLIENT_ID, 2, "tok-forged")).await,
        (503, None)
    );
    // A token the Order service does not know.
    assert_eq!(
        post(&server, &notification(CLIENT_ID, 2, "tok-unknown")).await,
        (200, Some("not_found".into()))
    );
    assert_eq!(
        server.verify("alice", &kept).await.redemption,
        Some(Redemption::Repeat)
    );

    // The real refund: revoked once.
    assert_eq!(
        post(&server, &notification(CLIENT_ID, 2, "tok-refunded")).await,
        (200, Some("revoked".into()))
    );
    // Again: the same store event (the order's refund), answered with its recorded result.
    assert_eq!(
        post(&server, &notification(CLIENT_ID, 2, "tok-refunded")).await,
        (200, Some("revoked".into()))
    );
    for account in ["alice", "bob"] {
        let v = server.verify(account, &genuine).await;
        assert_eq!(
            (v.outcome, v.reason),
            (Outcome::NotPaid, Some(Reason::Revoked)),
            "{account}"
        );
    }

    // Acknowledged without asking Huawei: a payment, another app, a subscription event.
    let asked = huawei.lock().unwrap().verify_requests;
    assert_eq!(
        post(&server, &notification(CLIENT_ID, 1, "tok-kept")).await,
        (200, Some("ignored".into()))
    );
    assert_eq!(
        post(&server, &notification("999999", 2, "tok-kept")).await,
        (200, Some("unknown_app".into()))
    );
    let sub = json!({"version": "v2", "eventType": "SUBSCRIPTION", "applicationId": CLIENT_ID,
        "subNotification": {"version": "v2", "statusUpdateNotification": "{}",
            "notificationSignature": "x", "signatureAlgorithm": "SHA256WithRSA"}});
    assert_eq!(
        post(&server, &sub.to_string()).await,
        (200, Some("ignored".into()))
    );
    assert_eq!(huawei.lock().unwrap().verify_requests, asked);
    assert_eq!(post(&server, "{\"hello\": 1}").await.0, 400);
    assert_eq!(
        huawei.lock().unwrap().token_requests,
        1,
        "one access token, cached"
    );

    receiver
        .wait_for(Duration::from_secs(20), "two paid + one revoked", |s| {
            s.events.len() >= 3
        })
        .await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let events = receiver.events();
    let revoked: Vec<_> = events
        .iter()
        .filter(|e| e.event_type == PURCHASE_REVOKED)
        .collect();
    assert_eq!(revoked.len(), 1, "{events:?}");
    assert_eq!(revoked[0].data["transaction_id"], refunded_order.as_str());
    assert_eq!(revoked[0].data["store"], "huawei");
    assert!(revoked[0].data["reason"]
        .as_str()
        .unwrap()
        .contains("purchaseState 2"));
    let text = server.metrics_text().await;
    for (line, n) in [
        ("payseal_store_notifications_total{store=\"huawei\",type=\"order_refund\",result=\"revoked\"}", 1.0),
        ("payseal_store_notifications_total{store=\"huawei\",type=\"order_refund\",result=\"bad_signature\"}", 1.0),
        ("payseal_store_notifications_total{store=\"huawei\",type=\"order_refund\",result=\"not_refunded\"}", 1.0),
    ] {
        assert_eq!(common::metric_value(&text, line), n, "{text}");
    }
    server.stop().await.unwrap();
}
