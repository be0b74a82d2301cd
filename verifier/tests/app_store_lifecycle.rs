//! The App Store subscription lifecycle on SQLite (`tests/apple_lifecycle`: notifications V2
//! with their signed renewal info, billing grace, Get All Subscription Statuses at a first
//! redemption against the fake Apple API), and what a first redemption does when Apple cannot
//! be asked (`on_store_unavailable`).

mod apple_lifecycle;
mod apple_support;
mod common;
mod webhook_support;

use apple_lifecycle::{answer, new_id, start, sub_order, DAY};
use common::{StateDir, TestServer, APP};
use payseal_protocol::{Outcome, Reason, Redemption, SubscriptionState};
use payseal_sandbox::RenewalSpec;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_and_apples_answers_drive_the_chain() {
    apple_lifecycle::run(StateDir::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apple_unreachable_decides_by_signature_or_asks_to_retry() {
    // "signature" (the default): a current period pays, store_checked false; a lapsed one is
    // expired (only Apple's word could extend it).
    let (fake, _receiver, mut server) = start(StateDir::new()).await;
    let now = payseal_verifier::now_ms();
    fake.fail_with.lock().unwrap().extend([503; 6]);
    let current = sub_order(&new_id(), None, now + 3 * DAY);
    let v = server
        .verify("alice", &server.state.store.issue(&current).unwrap())
        .await;
    assert_eq!(
        (
            v.outcome,
            v.redemption,
            v.store_checked,
            v.subscription_state
        ),
        (Outcome::Paid, Some(Redemption::First), Some(false), None)
    );
    let lapsed = sub_order(&new_id(), None, now - DAY);
    let v = server
        .verify("alice", &server.state.store.issue(&lapsed).unwrap())
        .await;
    assert_eq!(
        (v.outcome, v.reason),
        (Outcome::NotPaid, Some(Reason::Expired))
    );
    server.stop().await.unwrap();

    // "retry": 503 with Retry-After, nothing recorded; once Apple answers, paid.
    let state = StateDir::new();
    let (fake, _receiver, mut server) = {
        let s = state;
        let receiver = webhook_support::RunningReceiver::start(0).await;
        webhook_support::configure(&s.paths.config, &receiver.url());
        let fake = apple_support::fake_for(&s).await;
        let mut text = std::fs::read_to_string(&s.paths.config).unwrap();
        text = text.replace(
            &format!("[apps.\"{APP}\".app_store.server_api]\n"),
            &format!("[apps.\"{APP}\".app_store.server_api]\non_store_unavailable = \"retry\"\n"),
        );
        std::fs::write(&s.paths.config, text).unwrap();
        (fake, receiver, TestServer::start_on(s, |_| {}).await)
    };
    fake.fail_with.lock().unwrap().extend([503; 3]);
    let id = new_id();
    let order = sub_order(&id, None, now + 3 * DAY);
    let receipt = server.state.store.issue(&order).unwrap();
    let request = common::request(APP, "alice", &receipt);
    let (body, _) = server.seal(&request);
    let response = server.post(body).await;
    assert_eq!(response.status().as_u16(), 503);
    assert!(response.headers().contains_key("retry-after"));
    assert!(apple_lifecycle::row(&server, &id).await.is_none());
    answer(&server, &fake, &[&id], &order, RenewalSpec::default());
    let v = server.verify("alice", &receipt).await;
    assert_eq!(
        (v.outcome, v.subscription_state, v.store_checked),
        (Outcome::Paid, Some(SubscriptionState::Active), Some(true))
    );
    server.stop().await.unwrap();
}
