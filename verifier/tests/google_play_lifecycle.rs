//! The Play subscription lifecycle from RTDN on SQLite (`tests/google_support/
//! lifecycle_scenario.rs`: renewals, holds, expiry and revocation asked of the fake Play
//! Developer API, a replayed older push and a contradicted one changing nothing), and a
//! subscription push without the Play Developer API acknowledged as before.

mod common;
mod google_support;
mod webhook_support;

use common::{StateDir, TestServer};
use google_support::lifecycle_scenario::{push, subscription_push};
use google_support::FakeGoogle;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscription_pushes_update_the_chain_from_googles_answer() {
    google_support::lifecycle_scenario::run(StateDir::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_api_a_subscription_push_is_acknowledged_and_changes_nothing() {
    let google = FakeGoogle::start().await;
    let state = StateDir::new();
    google_support::configure_rtdn(&state.paths.config, &google);
    let mut server = TestServer::start_on(state, |_| {}).await;
    let body = subscription_push("5001", 13, "some-token", payseal_verifier::now_ms());
    assert_eq!(push(&server, &google, body).await, (200, "ignored".into()));
    assert!(google.purchase_calls().is_empty());
    server.stop().await.unwrap();
}
