//! Revocation: an App Store transaction re-submitted with a `revocationDate` after it was
//! redeemed is recorded as revoked and sends a `purchase.revoked` webhook; a revoked
//! transaction is `not_paid / revoked` for everyone afterwards, the owner included. The same for
//! Huawei (`purchaseState` 2) and sandbox (`refunded`) refunds; Google Play (whose purchase JSON
//! cannot say it) through `payseal-verifier revoke`. A real verifier over TLS and a real receiver on 127.0.0.1.

mod common;
mod webhook_support;

use std::process::Command;
use std::time::Duration;

use common::{bin, play_order_id, StateDir, TestServer, APP};
use payseal_protocol::{Outcome, Reason, Redemption, Store};
use payseal_sandbox::{Order, PurchaseState};
use payseal_verifier::webhook::{PURCHASE_PAID, PURCHASE_REVOKED};
use webhook_support::{configure, RunningReceiver};

async fn server_with_receiver() -> (TestServer, RunningReceiver) {
    let receiver = RunningReceiver::start(0).await;
    let state = StateDir::new();
    configure(&state.paths.config, &receiver.url());
    (TestServer::start_on(state, |_| {}).await, receiver)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_store_revocation_date_on_a_redeemed_transaction_revokes_it_for_everyone() {
    let (mut server, receiver) = server_with_receiver().await;
    let transaction = format!("2000000{}", &uuid::Uuid::new_v4().simple().to_string()[..9]);
    let mut order = Order::new(Store::AppStore, APP, "coins_100");
    order.transaction_id = Some(transaction.clone());
    let genuine = server.state.store.issue(&order).unwrap();
    let mut cancelled = order.clone();
    cancelled.state = PurchaseState::Cancelled;
    let revoked = server.state.store.issue(&cancelled).unwrap();

    let v = server.verify("alice", &genuine).await;
    assert_eq!(
        (v.outcome, v.redemption),
        (Outcome::Paid, Some(Redemption::First))
    );
    let paid_jti = v.jti.clone();

    // The store now says it was refunded.
    let v = server.verify("alice", &revoked).await;
    assert_eq!(
        (v.outcome, v.reason),
        (Outcome::NotPaid, Some(Reason::Revoked))
    );
    let row = server
        .state
        .ledger()
        .lookup(Store::AppStore, APP, &transaction)
        .unwrap()
        .unwrap();
    assert!(row.revoked_at_ms.is_some(), "{row:?}");
    assert_eq!(row.account_id, "alice");

    // Never paid again: the owner with the old genuine receipt, anyone else, the cancelled one.
    for (account, receipt) in [("alice", &genuine), ("bob", &genuine), ("alice", &revoked)] {
        let v = server.verify(account, receipt).await;
        assert_eq!(
            (v.outcome, v.reason),
            (Outcome::NotPaid, Some(Reason::Revoked)),
            "{account}"
        );
    }

    receiver
        .wait_for(Duration::from_secs(20), "paid + revoked", |s| {
            s.events.len() >= 2
        })
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let events = receiver.events();
    assert_eq!(
        events.len(),
        2,
        "one paid, one revoked (not one per re-submission)"
    );
    let paid = events
        .iter()
        .find(|e| e.event_type == PURCHASE_PAID)
        .unwrap();
    assert_eq!(paid.id, paid_jti);
    let gone = events
        .iter()
        .find(|e| e.event_type == PURCHASE_REVOKED)
        .unwrap();
    assert_ne!(gone.id, paid_jti);
    assert_eq!(gone.data["transaction_id"], transaction.as_str());
    assert_eq!(gone.data["sub"], "alice");
    assert_eq!(gone.data["store"], "app_store");
    assert_eq!(gone.data["first_verdict_id"], paid_jti.as_str());
    assert!(gone.data["reason"]
        .as_str()
        .unwrap()
        .contains("revocationDate"));

    // A revoked transaction that was never redeemed records nothing and sends nothing.
    let mut never = Order::new(Store::AppStore, APP, "coins_100");
    never.state = PurchaseState::Cancelled;
    never.transaction_id = Some(format!("{transaction}9"));
    let v = server
        .verify("carol", &server.state.store.issue(&never).unwrap())
        .await;
    assert_eq!(v.reason, Some(Reason::Revoked));
    assert!(server
        .state
        .ledger()
        .lookup(Store::AppStore, APP, &format!("{transaction}9"))
        .unwrap()
        .is_none());
    server.stop().await.unwrap();
    assert_eq!(receiver.events().len(), 2);
}

/// Huawei (`purchaseState` 2) and the sandbox store (`refunded`) sign refunds into the purchase
/// data itself: the same order re-submitted refunded after it was redeemed is recorded as
/// revoked, with its `purchase.revoked` event, and is never paid again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huawei_and_sandbox_refunds_on_redeemed_orders_revoke_them_for_everyone() {
    let (mut server, receiver) = server_with_receiver().await;
    let mut expected_events = 0;
    for (store, key, why) in [
        (
            Store::Huawei,
            format!(
                "2026112512000{}.5791344",
                &uuid::Uuid::new_v4().simple().to_string()[..8]
            ),
            "purchaseState 2",
        ),
        (
            Store::Sandbox,
            format!("sbx_refund_{}", uuid::Uuid::new_v4().simple()),
            "refunded",
        ),
    ] {
        let mut order = Order::new(store, APP, "coins_100");
        order.transaction_id = Some(key.clone());
        let genuine = server.state.store.issue(&order).unwrap();
        let mut refunded_order = order.clone();
        refunded_order.state = PurchaseState::Refunded;
        let refunded = server.state.store.issue(&refunded_order).unwrap();

        let v = server.verify("alice", &genuine).await;
        assert_eq!(
            (v.outcome, v.redemption),
            (Outcome::Paid, Some(Redemption::First)),
            "{store:?}"
        );
        let paid_jti = v.jti.clone();

        let v = server.verify("alice", &refunded).await;
        assert_eq!(
            (v.outcome, v.reason),
            (Outcome::NotPaid, Some(Reason::Revoked)),
            "{store:?}"
        );
        let row = server
            .state
            .ledger()
            .lookup(store, APP, &key)
            .unwrap()
            .unwrap_or_else(|| panic!("{store:?}: no row for {key}"));
        assert!(row.revoked_at_ms.is_some(), "{store:?}: {row:?}");
        for (account, receipt) in [("alice", &genuine), ("bob", &genuine)] {
            let v = server.verify(account, receipt).await;
            assert_eq!(
                (v.outcome, v.reason),
                (Outcome::NotPaid, Some(Reason::Revoked)),
                "{store:?} {account}"
            );
        }

        expected_events += 2;
        receiver
            .wait_for(Duration::from_secs(20), "paid + revoked", |s| {
                s.events.len() >= expected_events
            })
            .await;
        let events = receiver.events();
        let gone = events
            .iter()
            .find(|e| e.event_type == PURCHASE_REVOKED && e.data["transaction_id"] == key.as_str())
            .unwrap_or_else(|| panic!("{store:?}: no purchase.revoked event in {events:?}"));
        assert_eq!(gone.data["store"], store.as_str());
        assert_eq!(gone.data["first_verdict_id"], paid_jti.as_str());
        assert!(
            gone.data["reason"].as_str().unwrap().contains(why),
            "{store:?}: {}",
            gone.data["reason"]
        );
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        receiver.events().len(),
        4,
        "one paid and one revoked per order"
    );
    server.stop().await.unwrap();
}

fn revoke_cli(config: &std::path::Path, store: &str, key: &str) -> (i32, String, String) {
    let out = Command::new(bin())
        .args(["revoke", "--config"])
        .arg(config)
        .args([
            "--store",
            store,
            "--app",
            APP,
            "--transaction",
            key,
            "--reason",
            "chargeback",
        ])
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoke_command_for_a_play_purchase() {
    let (mut server, receiver) = server_with_receiver().await;
    let config = server.state.paths.config.clone();
    let receipt = server.state.issue(Store::GooglePlay);
    let key = play_order_id(&receipt);
    let v = server.verify("alice", &receipt).await;
    assert_eq!(v.redemption, Some(Redemption::First));

    let (code, out, err) = revoke_cli(&config, "google_play", &key);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("purchase.revoked webhook queued"), "{out}");
    let (code, out, _) = revoke_cli(&config, "google_play", &key);
    assert_eq!(code, 0);
    assert!(out.contains("already revoked"), "{out}");
    let (code, _, err) = revoke_cli(&config, "google_play", "GPA.no-such-order");
    assert_eq!(code, 1, "{err}");
    let (code, _, err) = revoke_cli(&config, "blockbuster", &key);
    assert_eq!(code, 2, "{err}");

    for account in ["alice", "bob"] {
        let v = server.verify(account, &receipt).await;
        assert_eq!(
            (v.outcome, v.reason),
            (Outcome::NotPaid, Some(Reason::Revoked)),
            "{account}"
        );
    }
    receiver
        .wait_for(Duration::from_secs(20), "paid + revoked", |s| {
            s.events.len() >= 2
        })
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let events = receiver.events();
    assert_eq!(events.len(), 2);
    let gone = events
        .iter()
        .find(|e| e.event_type == PURCHASE_REVOKED)
        .unwrap();
    assert_eq!(gone.data["reason"], "chargeback");
    assert_eq!(gone.data["transaction_id"], key.as_str());
    assert_eq!(gone.data["first_verdict_id"], v_jti(&events));
    server.stop().await.unwrap();
}

fn v_jti(events: &[payseal_verifier::webhook::WebhookEvent]) -> &str {
    &events
        .iter()
        .find(|e| e.event_type == PURCHASE_PAID)
        .unwrap()
        .id
}
