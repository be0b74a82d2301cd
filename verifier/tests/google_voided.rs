//! The Google Play Voided Purchases API poller against a local fake Google (token endpoint
//! checking the service account's RS256 assertion; voided-purchases endpoint requiring the
//! bearer token, paging, failing with 429 then 503 first) on the SQLite ledger: voided purchases
//! revoke their redemptions and send `purchase.revoked`, the cursor persists across restarts.
//! The same scenario on PostgreSQL: `tests/postgres_google_voided.rs`.

mod common;
mod google_support;
mod webhook_support;

use std::time::{Duration, Instant};

use common::{StateDir, TestServer};
use google_support::voided_scenario::{configure_poller, stored_cursor};
use google_support::{keys, FakeGoogle, API_ACCOUNT};
use payseal_protocol::{Redemption, Store};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn voided_purchases_are_revoked_and_the_cursor_survives_restarts_sqlite() {
    google_support::voided_scenario::run(StateDir::new()).await;
}

/// An assertion signed by another key than the account's: the fake token endpoint refuses it,
/// the API is never called, nothing is revoked, the cursor is not stored, polls count as errors.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_assertion_signed_by_the_wrong_key_gets_no_token_and_changes_nothing() {
    let google = FakeGoogle::start().await;
    google.register_account(API_ACCOUNT, &keys()[3]);
    let state = StateDir::new();
    let receipt = state.issue(Store::GooglePlay);
    google.add_voided(
        common::APP,
        payseal_verifier::service::now_ms() - 5 * 60_000,
        &common::play_order_id(&receipt),
        &google_support::voided_scenario::purchase_token(&receipt),
    );
    configure_poller(&state, &google, &google.key_file(API_ACCOUNT, &keys()[4]));
    let mut server = TestServer::start_on(state, |_| {}).await;
    assert_eq!(
        server.verify("alice", &receipt).await.redemption,
        Some(Redemption::First)
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while google.state.lock().unwrap().refused_assertions.len() < 2 {
        assert!(Instant::now() < deadline, "no token request");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let refused = google.state.lock().unwrap().refused_assertions.clone();
    assert!(refused[0].contains("assertion"), "{refused:?}");
    assert!(google.api_requests().is_empty());
    assert_eq!(
        server.verify("alice", &receipt).await.redemption,
        Some(Redemption::Repeat)
    );
    let text = server
        .client
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        common::metric_value(&text, "payseal_google_voided_polls_total{result=\"error\"}") >= 1.0
    );
    server.stop().await.unwrap();
    assert_eq!(stored_cursor(&server.state).await, None);
}
