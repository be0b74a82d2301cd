//! Refund answers end to end: a real verifier over TLS with real SQLite ledger files, the
//! application server's reports through the authenticated app-server API, App Store
//! `CONSUMPTION_REQUEST` notifications signed by the sandbox store's App Store test chain in
//! Apple's shapes, and a local fake of the App Store Server API that checks every ES256 token.
//! The answer follows the policy from the ledger's evidence; duplicates are answered once;
//! without consent Apple gets nothing; everything is listed and counted.

mod apple_support;
mod common;

use std::time::Duration;

use common::{StateDir, TestServer, APP};
use payseal_protocol::{Environment, Store};
use payseal_sandbox::{AppStoreNotification, Order};
use payseal_verifier::ledger::refunds::RefundState;
use payseal_verifier::notifications::app_store::ROUTE;

const APP_KEY: &str = "3f1c0e2a9b8d7c6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e";

fn configure_policy(state: &StateDir) {
    let dir = state.paths.config.parent().unwrap();
    let key = dir.join("app-server.key");
    apple_support::write_p8(&key, APP_KEY, 0o600);
    let mut text = std::fs::read_to_string(&state.paths.config).unwrap();
    text.push_str(&format!(
        "\n[apps.\"{APP}\".app_server]\napi_key_file = \"{}\"\n\n\
         [apps.\"{APP}\".refund_policy]\ndecline_consumed_from_milliunits = 50000\n\
         grant_undelivered = true\n",
        key.display()
    ));
    std::fs::write(&state.paths.config, text).unwrap();
}

fn order(tx: &str) -> Order {
    let mut o = Order::new(Store::AppStore, APP, "coins_100");
    o.transaction_id = Some(tx.into());
    o.environment = Environment::Sandbox;
    o
}

async fn report(server: &TestServer, path: &str, body: serde_json::Value) {
    let response = server
        .client
        .post(server.url(path))
        .basic_auth(APP, Some(APP_KEY))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{path} {body}");
}

async fn notify(server: &TestServer, tx: &str) {
    post_twice(server, consumption_request(server, tx)).await;
}

/// A signed `CONSUMPTION_REQUEST` about `tx` (a new notificationUUID each call).
fn consumption_request(server: &TestServer, tx: &str) -> String {
    server
        .state
        .store
        .app_store_notification(
            &AppStoreNotification::about("CONSUMPTION_REQUEST", &order(tx)),
            payseal_sandbox::now_ms(),
        )
        .unwrap()
}

async fn post_twice(server: &TestServer, body: String) {
    for _ in 0..2 {
        // The same notification twice (Apple retries): answered once.
        let response = server
            .client
            .post(server.url(ROUTE))
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
}

async fn wait_for_state(
    server: &TestServer,
    n: usize,
) -> Vec<payseal_verifier::ledger::refunds::RefundRequestRow> {
    let ledger = server.state.ledger();
    for _ in 0..200 {
        let rows =
            payseal_verifier::ledger::RefundRequests::list_refund_requests(&ledger, None, 10)
                .await
                .unwrap();
        if rows.len() == n && rows.iter().all(|r| r.state != RefundState::Pending) {
            return rows;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("refund requests not all finished");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumption_requests_are_answered_from_the_ledger_by_the_policy_once() {
    apple_support::ANY_ID.store(true, std::sync::atomic::Ordering::SeqCst);
    let state = StateDir::new();
    let fake = apple_support::fake_for(&state).await;
    configure_policy(&state);
    fake.fail_with.lock().unwrap().push(503);
    let server = TestServer::start_on(state, |s| {
        s.refund_worker.poll_interval = Duration::from_millis(50);
        s.refund_worker.retry_base = Duration::from_millis(50);
    })
    .await;

    // alice: delivered, 80% consumed, consented → DECLINE.
    // bob: redeemed, never confirmed delivered, consented → GRANT_FULL.
    // carol: delivered and consumed, no consent → nothing sent.
    let mut ids = Vec::new();
    for (i, account) in ["alice", "bob", "carol"].iter().enumerate() {
        let tx = format!("20000077{i}{}", payseal_sandbox::now_ms() % 100_000);
        let receipt = server.state.store.issue(&order(&tx)).unwrap();
        let v = server.verify(account, &receipt).await;
        assert_eq!(v.outcome, payseal_protocol::Outcome::Paid);
        ids.push(tx);
    }
    for (account, tx, delivered) in [("alice", &ids[0], true), ("carol", &ids[2], true)] {
        report(
            &server,
            "/v1/app-server/deliveries",
            serde_json::json!({"store": "app_store",
            "transaction_id": tx, "account": account, "delivered": delivered,
            "consumed_milliunits": 80000}),
        )
        .await;
    }
    for account in ["alice", "bob"] {
        report(
            &server,
            "/v1/app-server/consent",
            serde_json::json!({"account": account, "consented": true}),
        )
        .await;
    }
    for tx in &ids {
        notify(&server, tx).await;
    }

    let rows = wait_for_state(&server, 3).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let sent = fake.consumption.lock().unwrap().clone();
    assert_eq!(sent.len(), 2, "{sent:?}");
    let body = |tx: &str| sent.iter().find(|(id, _)| id == tx).map(|(_, b)| b.clone());
    assert_eq!(
        body(&ids[0]).unwrap(),
        serde_json::json!({"customerConsented": true, "consumptionPercentage": 80000,
            "deliveryStatus": "DELIVERED", "sampleContentProvided": false,
            "refundPreference": "DECLINE"})
    );
    assert_eq!(
        body(&ids[1]).unwrap(),
        serde_json::json!({"customerConsented": true, "consumptionPercentage": 0,
            "deliveryStatus": "UNDELIVERED_OTHER", "sampleContentProvided": false,
            "refundPreference": "GRANT_FULL"})
    );
    assert!(body(&ids[2]).is_none(), "no consent: nothing sent");
    let state_of = |tx: &str| rows.iter().find(|r| r.transaction_key == tx).unwrap().state;
    assert_eq!(
        [state_of(&ids[0]), state_of(&ids[1]), state_of(&ids[2])],
        [
            RefundState::Answered,
            RefundState::Answered,
            RefundState::Skipped
        ]
    );

    let text = server
        .client
        .get(server.metrics_url())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("payseal_refund_answers_total{store=\"app_store\",result=\"answered\"} 2"),
        "{text}"
    );
    assert!(
        text.contains("payseal_refund_answers_total{store=\"app_store\",result=\"skipped\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("payseal_refund_requests_near_deadline 0"),
        "{text}"
    );

    // The CLI lists them.
    let out = std::process::Command::new(common::bin())
        .args(["refund-requests", "--config"])
        .arg(&server.state.paths.config)
        .arg("list")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert!(lines
        .iter()
        .any(|l| l["state"] == "skipped" && l["transaction"] == ids[2].as_str()));
}

/// Two verifier instances on one PostgreSQL database: the same `CONSUMPTION_REQUEST` delivered
/// to both, both workers polling; Apple gets one answer.
#[cfg(feature = "postgres-tests")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_on_postgresql_answer_once() {
    apple_support::ANY_ID.store(true, std::sync::atomic::Ordering::SeqCst);
    let url = common::pg::fresh_database().await;
    let first = StateDir::new();
    let fake = apple_support::fake_for(&first).await;
    configure_policy(&first);
    // The second instance: the same App Store key, policy and app-server key (absolute paths).
    let text = std::fs::read_to_string(&first.paths.config).unwrap();
    let shared = &text[text
        .find(&format!("[apps.\"{APP}\".app_store.server_api]"))
        .unwrap()..];
    let second = StateDir::new();
    let mut text2 = std::fs::read_to_string(&second.paths.config).unwrap();
    text2.push('\n');
    text2.push_str(shared);
    std::fs::write(&second.paths.config, text2).unwrap();
    let mut servers = Vec::new();
    for state in [first, second] {
        let mut settings = state.settings();
        settings.refund_worker.poll_interval = Duration::from_millis(20);
        let ledger = payseal_verifier::ledger::connect(&url, &common::pg::test_options())
            .await
            .unwrap();
        servers.push(TestServer::start_with_ledger(state, settings, ledger).await);
    }
    let tx = format!("20000088{}", payseal_sandbox::now_ms() % 1_000_000);
    let receipt = servers[0].state.store.issue(&order(&tx)).unwrap();
    assert_eq!(
        servers[0].verify("alice", &receipt).await.outcome,
        payseal_protocol::Outcome::Paid
    );
    report(
        &servers[1],
        "/v1/app-server/deliveries",
        serde_json::json!({"store": "app_store",
        "transaction_id": tx, "account": "alice", "delivered": true, "consumed_milliunits": 90000}),
    )
    .await;
    report(
        &servers[1],
        "/v1/app-server/consent",
        serde_json::json!({"account": "alice", "consented": true}),
    )
    .await;
    // One notification (one notificationUUID), delivered to both instances at once.
    let body = consumption_request(&servers[0], &tx);
    tokio::join!(
        post_twice(&servers[0], body.clone()),
        post_twice(&servers[1], body)
    );

    let pg = common::pg::client(&url).await;
    for _ in 0..200 {
        let answered: i64 = pg
            .query_one(
                "SELECT COUNT(*) FROM payseal_refund_requests WHERE state = 'answered'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        if answered == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rows: i64 = pg
        .query_one("SELECT COUNT(*) FROM payseal_refund_requests", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(rows, 1, "one queued answer for one notification");
    let sent = fake.consumption.lock().unwrap().clone();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].1["refundPreference"], "DECLINE");
    for server in &mut servers {
        server.stop().await.unwrap();
    }
}
