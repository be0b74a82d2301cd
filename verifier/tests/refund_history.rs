//! An account's refund history, end to end: a real verifier over TLS on a real SQLite ledger,
//! Play receipts from the sandbox store, refunds recorded in the ledger as the stores' events
//! record them, and a real webhook receiver. The history (by store, last 30 / 365 days / all
//! time) is in every `purchase.paid` webhook and, when the app asks, in the verdict; the
//! optional threshold refuses new first redemptions of an account past N refunds, and nothing
//! else.

mod common;
mod webhook_support;

use std::sync::Arc;
use std::time::Duration;

use common::{play_order_id, StateDir, TestServer, APP};
use payseal_protocol::{Outcome, Reason, Receipt, Redemption, RefundCounts, Store};
use payseal_verifier::ledger::{Ledger, RevocationRequest};
use webhook_support::{configure, RunningReceiver};

fn add(state: &StateDir, table: &str) {
    let mut text = std::fs::read_to_string(&state.paths.config).unwrap();
    text.push_str(&format!("\n[apps.\"{APP}\".refund_history]\n{table}\n"));
    std::fs::write(&state.paths.config, text).unwrap();
}

/// Record the store's refund of `receipt` (a revocation of its redemption), `days_ago`.
async fn refund(ledger: &Arc<dyn Ledger>, receipt: &Receipt, days_ago: i64) {
    ledger
        .revoke(
            RevocationRequest {
                store: Store::GooglePlay,
                app_id: APP.into(),
                transaction_key: play_order_id(receipt),
                reason: "google_play: refund".into(),
                now_ms: payseal_verifier::now_ms() - days_ago * 86_400_000,
            },
            false,
        )
        .await
        .unwrap();
}

async fn ledger_of(state: &StateDir) -> Arc<dyn Ledger> {
    let settings = state.settings();
    payseal_verifier::ledger::connect(&settings.ledger_url, &settings.ledger)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_refund_history_is_in_the_paid_webhook_and_in_the_verdict_on_request() {
    let receiver = RunningReceiver::start(0).await;
    let state = StateDir::new();
    configure(&state.paths.config, &receiver.url());
    add(&state, "in_verdict = true");
    let server = TestServer::start_on(state, |_| {}).await;
    let ledger = ledger_of(&server.state).await;

    let receipts: Vec<Receipt> = (0..4)
        .map(|_| server.state.issue(Store::GooglePlay))
        .collect();
    for r in &receipts[..3] {
        let v = server.verify("alice", r).await;
        assert_eq!(v.outcome, Outcome::Paid);
        let h = v.refund_history.expect("asked for: in the verdict");
        assert_eq!(h.total, RefundCounts::default());
    }
    refund(&ledger, &receipts[0], 3).await;
    refund(&ledger, &receipts[1], 200).await;
    // No threshold configured: a refunding account is still served.
    let v = server.verify("alice", &receipts[3]).await;
    assert_eq!(
        (v.outcome, v.redemption),
        (Outcome::Paid, Some(Redemption::First))
    );
    let expected = RefundCounts {
        last_30_days: 1,
        last_365_days: 2,
        all_time: 2,
    };
    let h = v.refund_history.clone().unwrap();
    assert_eq!(h.total, expected);
    assert_eq!(h.by_store["google_play"], expected);
    assert_eq!(h.by_store.len(), 1);
    // Another account has its own history.
    let bob = server
        .verify("bob", &server.state.issue(Store::GooglePlay))
        .await;
    assert_eq!(bob.refund_history.unwrap().total, RefundCounts::default());

    // The purchase.paid webhook of that verdict carries the same history.
    receiver
        .wait_for(Duration::from_secs(20), "five purchase.paid", |s| {
            s.events.len() == 5
        })
        .await;
    let event = receiver
        .events()
        .into_iter()
        .find(|e| e.id == v.jti)
        .unwrap();
    assert_eq!(event.event_type, "purchase.paid");
    assert_eq!(
        event.data["refund_history"],
        serde_json::json!({"total": {"last_30_days": 1, "last_365_days": 2, "all_time": 2},
            "by_store": {"google_play": {"last_30_days": 1, "last_365_days": 2, "all_time": 2}}})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_refund_limit_refuses_new_first_redemptions_only_past_the_threshold() {
    let receiver = RunningReceiver::start(0).await;
    let state = StateDir::new();
    configure(&state.paths.config, &receiver.url());
    add(&state, "max_refunds = 1\nwindow_days = 30");
    let server = TestServer::start_on(state, |_| {}).await;
    let ledger = ledger_of(&server.state).await;
    let r: Vec<Receipt> = (0..6)
        .map(|_| server.state.issue(Store::GooglePlay))
        .collect();
    for receipt in &r[..3] {
        assert_eq!(server.verify("alice", receipt).await.outcome, Outcome::Paid);
    }
    // One refund in the window, another before it: at the threshold, not past it.
    refund(&ledger, &r[0], 1).await;
    refund(&ledger, &r[1], 40).await;
    let v = server.verify("alice", &r[3]).await;
    assert_eq!(
        (v.outcome, v.redemption),
        (Outcome::Paid, Some(Redemption::First))
    );
    assert_eq!(v.refund_history, None, "not asked for in the verdict");

    // A second refund in the window: past the threshold.
    refund(&ledger, &r[3], 2).await;
    let refused = server.verify("alice", &r[4]).await;
    assert_eq!(
        (refused.outcome, refused.reason),
        (Outcome::NotPaid, Some(Reason::RefundLimit))
    );
    assert!(
        ledger
            .find(Store::GooglePlay, APP, &play_order_id(&r[4]))
            .await
            .unwrap()
            .is_none(),
        "a refusal records nothing"
    );
    // A purchase alice already redeemed is unaffected (repeat).
    let repeat = server.verify("alice", &r[2]).await;
    assert_eq!(
        (repeat.outcome, repeat.redemption),
        (Outcome::Paid, Some(Redemption::Repeat))
    );
    // Another account is unaffected, and then owns the purchase alice was refused.
    let bob = server.verify("bob", &r[4]).await;
    assert_eq!(
        (bob.outcome, bob.redemption),
        (Outcome::Paid, Some(Redemption::First))
    );
    let again = server.verify("alice", &r[4]).await;
    assert_eq!(again.reason, Some(Reason::AlreadyRedeemed));
    // Its webhook has the history even though the verdict does not.
    receiver
        .wait_for(Duration::from_secs(20), "bob's purchase.paid", |s| {
            s.events.iter().any(|e| e.id == bob.jti)
        })
        .await;
    let event = receiver
        .events()
        .into_iter()
        .find(|e| e.id == bob.jti)
        .unwrap();
    assert_eq!(event.data["refund_history"]["total"]["all_time"], 0);
    let last = receiver
        .events()
        .into_iter()
        .find(|e| e.id == v.jti)
        .unwrap();
    assert_eq!(last.data["refund_history"]["total"]["last_30_days"], 1);
}
