//! The Voided Purchases poller scenario, run on any ledger backend (the state directory's
//! configured ledger: SQLite, or PostgreSQL after `use_postgres`).
//!
//! 1. Three Play purchases are verified paid by a verifier without a poller.
//! 2. "Google" voids them (and one purchase this verifier never saw); the verifier restarts with
//!    `[apps."ID".google_play.voided_purchases]`. Its first poll gets a 429, then a 503 (retried
//!    after growing delays), then the voids over two pages (`maxResults` 2, `nextPageToken`),
//!    with an access token obtained by a signed assertion the fake checked. The three
//!    redemptions are revoked, the receiver gets three `purchase.revoked`, new verifies are
//!    `not_paid / revoked`, and the cursor (the window's end) is in the ledger.
//! 3. Restarted again: the first request starts at the stored cursor (the old voids are not
//!    listed again, nothing is sent again), and a purchase voided after that is revoked.

use std::time::{Duration, Instant};

use payseal_protocol::{Outcome, Reason, Receipt, Redemption, Store};
use payseal_verifier::webhook::PURCHASE_REVOKED;
use serde_json::Value;

use super::{keys, FakeGoogle, API_ACCOUNT};
use crate::common::{play_order_id, StateDir, TestServer, APP};
use crate::webhook_support::{configure, RunningReceiver};

const MINUTE: i64 = 60_000;

/// The purchase token of a Play receipt.
pub fn purchase_token(receipt: &Receipt) -> String {
    let Receipt::GooglePlay { purchase_data, .. } = receipt else {
        panic!("not a Play receipt")
    };
    let v: Value = serde_json::from_str(purchase_data).unwrap();
    v["purchaseToken"].as_str().unwrap().to_string()
}

/// Append the poller's table for the dev app, with a key file written beside the config.
pub fn configure_poller(state: &StateDir, google: &FakeGoogle, key_file_text: &str) {
    let dir = state.paths.config.parent().unwrap();
    let key_path = dir.join("play-service-account.json");
    std::fs::write(&key_path, key_file_text).unwrap();
    let mut text = std::fs::read_to_string(&state.paths.config).unwrap();
    text.push_str(&format!(
        "\n[apps.\"{APP}\".google_play.voided_purchases]\nservice_account_key = \
         \"play-service-account.json\"\napi_base = \"{}\"\npoll_interval_ms = 300\n\
         max_results = 2\nretry_base_ms = 100\nretry_max_ms = 400\nmax_attempts = 4\n\
         request_timeout_ms = 5000\n",
        google.url("")
    ));
    std::fs::write(&state.paths.config, text).unwrap();
}

/// The stored cursor of the dev app's package, read through the configured ledger.
pub async fn stored_cursor(state: &StateDir) -> Option<i64> {
    let settings = state.settings();
    let ledger = payseal_verifier::ledger::connect(&settings.ledger_url, &settings.ledger)
        .await
        .unwrap();
    ledger.voided_cursor(APP).await.unwrap()
}

/// Wait until `pred` holds over the fake's API requests.
async fn wait_requests(
    google: &FakeGoogle,
    what: &str,
    pred: impl Fn(&[super::ApiRequest]) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let requests = google.api_requests();
        if pred(&requests) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not reached; requests: {requests:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn revoked_events(receiver: &RunningReceiver) -> Vec<String> {
    receiver
        .events()
        .iter()
        .filter(|e| e.event_type == PURCHASE_REVOKED)
        .map(|e| e.data["transaction_id"].as_str().unwrap().to_string())
        .collect()
}

async fn stop(mut server: TestServer) -> StateDir {
    server.stop().await.unwrap();
    server.state
}

/// Run the scenario on `state` (its ledger is whatever its config names).
pub async fn run(state: StateDir) {
    let google = FakeGoogle::start().await;
    google.register_account(API_ACCOUNT, &keys()[3]);
    let receiver = RunningReceiver::start(0).await;
    configure(&state.paths.config, &receiver.url());

    // 1. Three purchases paid, no poller yet.
    let server = TestServer::start_on(state, |_| {}).await;
    let receipts: Vec<Receipt> = (0..3)
        .map(|_| server.state.issue(Store::GooglePlay))
        .collect();
    for r in &receipts {
        let v = server.verify("alice", r).await;
        assert_eq!(v.redemption, Some(Redemption::First));
    }
    let state = stop(server).await;
    assert_eq!(stored_cursor(&state).await, None);

    // 2. Google voids them (and one purchase never presented here); the poller starts.
    let now = payseal_verifier::now_ms();
    for (i, r) in receipts.iter().enumerate() {
        google.add_voided(
            APP,
            now - (10 - 3 * i as i64) * MINUTE,
            &play_order_id(r),
            &purchase_token(r),
        );
    }
    google.add_voided(
        APP,
        now - 2 * MINUTE,
        "GPA.0000-1111-2222-33333",
        "never-seen",
    );
    google.state.lock().unwrap().fail_next = [429, 503].into();
    configure_poller(&state, &google, &google.key_file(API_ACCOUNT, &keys()[3]));
    let server = TestServer::start_on(state, |_| {}).await;
    receiver
        .wait_for(Duration::from_secs(30), "three purchase.revoked", |s| {
            s.events
                .iter()
                .filter(|e| e.event_type == PURCHASE_REVOKED)
                .count()
                >= 3
        })
        .await;
    wait_requests(&google, "first window read", |r| {
        r.iter().filter(|q| q.status == 200).count() >= 2
    })
    .await;
    let requests = google.api_requests();
    let statuses: Vec<u16> = requests.iter().take(4).map(|r| r.status).collect();
    assert_eq!(statuses, [429, 503, 200, 200], "{requests:?}");
    // Backoff: 100 ms, then 200 ms (no Retry-After).
    let gap = |i: usize| requests[i + 1].at.duration_since(requests[i].at);
    assert!(gap(0) >= Duration::from_millis(95), "{:?}", gap(0));
    assert!(gap(1) >= Duration::from_millis(195), "{:?}", gap(1));
    let first = &requests[2];
    assert_eq!(first.package, APP);
    assert!(!first.query.contains_key("token"));
    assert_eq!(first.query["maxResults"], "2");
    assert_eq!(first.query["type"], "1", "subscriptions too");
    let start: i64 = first.query["startTime"].parse().unwrap();
    let end: i64 = first.query["endTime"].parse().unwrap();
    assert!(start <= now - 29 * 24 * 60 * MINUTE && start > now - 30 * 24 * 60 * MINUTE);
    assert!(end <= payseal_verifier::now_ms() - MINUTE && end > now - 2 * MINUTE);
    assert!(
        requests[3].query.contains_key("token"),
        "second page by token"
    );
    let issued = google.state.lock().unwrap().issued.clone();
    assert_eq!(issued.len(), 1, "one access token, cached");
    assert!(google.state.lock().unwrap().refused_assertions.is_empty());

    for r in &receipts {
        for account in ["alice", "bob"] {
            let v = server.verify(account, r).await;
            assert_eq!(
                (v.outcome, v.reason),
                (Outcome::NotPaid, Some(Reason::Revoked)),
                "{account}"
            );
        }
    }
    let mut revoked = revoked_events(&receiver);
    revoked.sort();
    let mut orders: Vec<String> = receipts.iter().map(play_order_id).collect();
    orders.sort();
    assert_eq!(revoked, orders);
    let text = server.metrics_text().await;
    for (line, n) in [
        (
            "payseal_store_notifications_total{store=\"google_play\",type=\"voided_purchases_api\",result=\"revoked\"}",
            3.0,
        ),
        (
            "payseal_store_notifications_total{store=\"google_play\",type=\"voided_purchases_api\",result=\"revoked_before_redemption\"}",
            1.0,
        ),
    ] {
        assert_eq!(crate::common::metric_value(&text, line), n, "{text}");
    }
    assert!(
        crate::common::metric_value(&text, "payseal_google_voided_polls_total{result=\"ok\"}")
            >= 1.0
    );
    let state = stop(server).await;
    let cursor = stored_cursor(&state).await.expect("cursor stored");
    assert!(cursor >= end, "the cursor is the last window's end");

    // 3. Restart: polling resumes at the stored cursor; nothing is listed or sent again.
    let seen_before = google.api_requests().len();
    let server = TestServer::start_on(state, |_| {}).await;
    wait_requests(&google, "first poll after restart", |r| {
        r.len() > seen_before && r.last().unwrap().status == 200
    })
    .await;
    let after = &google.api_requests()[seen_before];
    assert_eq!(after.query["startTime"], cursor.to_string(), "{after:?}");
    assert!(!after.query.contains_key("token"));

    // A purchase voided after the restart is revoked by a later poll.
    let late = server.state.issue(Store::GooglePlay);
    assert_eq!(
        server.verify("erin", &late).await.redemption,
        Some(Redemption::First)
    );
    google.add_voided(
        APP,
        payseal_verifier::now_ms() - MINUTE,
        &play_order_id(&late),
        &purchase_token(&late),
    );
    receiver
        .wait_for(Duration::from_secs(30), "the late purchase revoked", |s| {
            s.events
                .iter()
                .filter(|e| e.event_type == PURCHASE_REVOKED)
                .count()
                >= 4
        })
        .await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    let revoked = revoked_events(&receiver);
    assert_eq!(revoked.len(), 4, "no purchase revoked twice: {revoked:?}");
    assert_eq!(revoked[3], play_order_id(&late));
    assert_eq!(
        server.verify("erin", &late).await.reason,
        Some(Reason::Revoked)
    );
    let state = stop(server).await;
    assert!(stored_cursor(&state).await.unwrap() > cursor);
}
