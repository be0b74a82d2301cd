//! App Store Server Notifications V2 end to end: a real verifier over TLS, a real webhook
//! receiver on 127.0.0.1, real SQLite ledger files, and notifications signed by the sandbox
//! store exactly as Apple shapes them (`{"signedPayload": JWS}`, the payload and its nested
//! `signedTransactionInfo` signed ES256 under an `x5c` chain with Apple's marker OIDs). Apple's
//! servers are the part we cannot reach: the test POSTs what they would. With `postgres-tests`,
//! also two instances on one real PostgreSQL database receiving the same refund at once.

mod common;
mod webhook_support;

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use common::{bin, metric_value, StateDir, TestServer, APP};
use payseal_protocol::{Environment, Outcome, Reason, Receipt, Redemption, Store};
use payseal_sandbox::{AppStoreNotification, Order, SandboxStore};
use payseal_verifier::notifications::app_store::ROUTE;
use payseal_verifier::webhook::{PURCHASE_PAID, PURCHASE_REINSTATED, PURCHASE_REVOKED};
use webhook_support::{configure, RunningReceiver};

async fn server_with_receiver() -> (TestServer, RunningReceiver) {
    let receiver = RunningReceiver::start(0).await;
    let state = StateDir::new();
    configure(&state.paths.config, &receiver.url());
    (TestServer::start_on(state, |_| {}).await, receiver)
}

fn new_transaction_id() -> String {
    format!(
        "2000000{}",
        u64::from_str_radix(&uuid::Uuid::new_v4().simple().to_string()[..8], 16).unwrap()
    )
}

fn order(transaction_id: &str) -> Order {
    let mut o = Order::new(Store::AppStore, APP, "coins_100");
    o.transaction_id = Some(transaction_id.into());
    o
}

fn purchase(server: &TestServer, transaction_id: &str) -> Receipt {
    server.state.store.issue(&order(transaction_id)).unwrap()
}

fn notification(store: &SandboxStore, kind: &str, transaction_id: &str) -> String {
    store
        .app_store_notification(
            &AppStoreNotification::about(kind, &order(transaction_id)),
            payseal_sandbox::now_ms(),
        )
        .unwrap()
}

/// POST a notification body; the status and the JSON answer.
async fn post(server: &TestServer, body: String) -> (u16, serde_json::Value) {
    post_to(server.client.clone(), server.url(ROUTE), body).await
}

/// [`post`] with an owned client and URL (for spawned tasks).
async fn post_to(client: reqwest::Client, url: String, body: String) -> (u16, serde_json::Value) {
    let response = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
    )
}

async fn metrics(server: &TestServer) -> String {
    server
        .client
        .get(server.metrics_url())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

fn counted(text: &str, kind: &str, result: &str) -> f64 {
    let name = format!(
        "payseal_store_notifications_total{{store=\"app_store\",type=\"{kind}\",result=\"{result}\"}}"
    );
    if text.contains(&name) {
        metric_value(text, &name)
    } else {
        0.0
    }
}

/// `payseal-verifier SUBCOMMAND --config FILE list`: its JSON lines.
fn cli_list(config: &std::path::Path, subcommand: &str) -> Vec<serde_json::Value> {
    let out = Command::new(bin())
        .arg(subcommand)
        .arg("--config")
        .arg(config)
        .arg("list")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{subcommand} list: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refund_revokes_a_paid_purchase_without_an_operator_and_tells_the_app_server() {
    let (mut server, receiver) = server_with_receiver().await;
    let tx = new_transaction_id();
    let receipt = purchase(&server, &tx);
    let paid = server.verify("alice", &receipt).await;
    assert_eq!(
        (paid.outcome, paid.redemption),
        (Outcome::Paid, Some(Redemption::First))
    );

    // Apple's REFUND notification.
    let refund = notification(&server.state.store, "REFUND", &tx);
    let (status, answer) = post(&server, refund.clone()).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["result"], "revoked");
    assert_eq!(answer["duplicate"], false);

    receiver
        .wait_for(Duration::from_secs(20), "paid + revoked", |s| {
            s.events.len() >= 2
        })
        .await;
    let events = receiver.events();
    let gone = events
        .iter()
        .find(|e| e.event_type == PURCHASE_REVOKED)
        .expect("purchase.revoked");
    assert_eq!(gone.data["transaction_id"], tx.as_str());
    assert_eq!(gone.data["sub"], "alice");
    assert_eq!(gone.data["store"], "app_store");
    assert_eq!(gone.data["first_verdict_id"], paid.jti.as_str());
    assert!(
        gone.data["reason"].as_str().unwrap().contains("REFUND"),
        "{}",
        gone.data["reason"]
    );

    // The same receipt, presented again by its owner or anyone: not paid.
    for account in ["alice", "bob"] {
        let v = server.verify(account, &receipt).await;
        assert_eq!(
            (v.outcome, v.reason),
            (Outcome::NotPaid, Some(Reason::Revoked)),
            "{account}"
        );
    }

    // Apple retries (it did not see our 200): 200 again, nothing new.
    let (status, answer) = post(&server, refund).await;
    assert_eq!(status, 200);
    assert_eq!(
        (answer["result"].as_str(), answer["duplicate"].as_bool()),
        (Some("revoked"), Some(true))
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.events().len(), 2, "{:?}", receiver.events());
    assert_eq!(
        receiver
            .events()
            .iter()
            .filter(|e| e.event_type == PURCHASE_PAID)
            .count(),
        1
    );

    let text = metrics(&server).await;
    assert_eq!(counted(&text, "REFUND", "revoked"), 1.0, "{text}");
    assert_eq!(counted(&text, "REFUND", "duplicate"), 1.0);
    assert!(
        text.contains(&format!("route=\"{ROUTE}\",status=\"200\"")),
        "requests counted by route"
    );

    // The operator's views of what came in.
    let config = server.state.paths.config.clone();
    let listed = cli_list(&config, "notifications");
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["store"], "app_store");
    assert_eq!(listed[0]["type"], "REFUND");
    assert_eq!(listed[0]["app"], APP);
    assert_eq!(listed[0]["transaction"], tx.as_str());
    assert_eq!(listed[0]["environment"], "sandbox");
    assert_eq!(listed[0]["result"], "revoked");
    let revoked = cli_list(&config, "revocations");
    assert_eq!(revoked.len(), 1, "{revoked:?}");
    assert_eq!(revoked[0]["transaction"], tx.as_str());
    assert_eq!(revoked[0]["account"], "alice");
    assert_eq!(revoked[0]["redeemed"], true);
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_notifications_answer_4xx_and_change_nothing() {
    let receiver = RunningReceiver::start(0).await;
    let state = StateDir::new();
    configure(&state.paths.config, &receiver.url());
    // The dev app, accepting sandbox purchases only.
    let mut server = TestServer::start_on(state, |s| {
        s.apps.get_mut(APP).unwrap().environments = vec![Environment::Sandbox];
    })
    .await;
    let tx = new_transaction_id();
    let receipt = purchase(&server, &tx);
    assert_eq!(
        server.verify("alice", &receipt).await.outcome,
        Outcome::Paid
    );

    // The attacker's own store: a self-made root carrying Apple's marker OIDs.
    let attacker_dir = tempfile::tempdir().unwrap();
    let attacker = SandboxStore::open_or_create(attacker_dir.path()).unwrap();
    let forged = notification(&attacker, "REFUND", &tx);
    // A genuine notification with its signature broken.
    let genuine = notification(&server.state.store, "REFUND", &tx);
    let v: serde_json::Value = serde_json::from_str(&genuine).unwrap();
    let jws = v["signedPayload"].as_str().unwrap();
    let flipped = format!(
        "{}{}",
        &jws[..jws.len() - 2],
        if jws.ends_with("AA") { "BA" } else { "AA" }
    );
    let bad_signature = SandboxStore::app_store_notification_body(&flipped);
    // Another app's bundle.
    let mut other = order(&tx);
    other.app_id = "com.example.not-configured".into();
    let unknown_bundle = server
        .state
        .store
        .app_store_notification(
            &AppStoreNotification::about("REFUND", &other),
            payseal_sandbox::now_ms(),
        )
        .unwrap();
    // A production notification to this sandbox-only app.
    let mut production = order(&tx);
    production.environment = Environment::Production;
    let production = server
        .state
        .store
        .app_store_notification(
            &AppStoreNotification::about("REFUND", &production),
            payseal_sandbox::now_ms(),
        )
        .unwrap();

    let mut expected = std::collections::HashMap::new();
    for (what, body, status, reason) in [
        ("self-made root", forged, 403, "untrusted_chain"),
        ("bad signature", bad_signature, 403, "bad_signature"),
        ("unknown bundle", unknown_bundle, 422, "unknown_app"),
        (
            "production to sandbox-only",
            production,
            422,
            "untrusted_environment",
        ),
        ("not JSON", "signedPayload=x".to_string(), 400, "malformed"),
        (
            "no JWS",
            r#"{"signedPayload":"a.b"}"#.to_string(),
            400,
            "malformed",
        ),
    ] {
        let (got, answer) = post(&server, body).await;
        assert_eq!(got, status, "{what}: {answer}");
        assert_eq!(answer["status"], status, "{what}: a problem document");
        let text = metrics(&server).await;
        let kind = if reason == "unknown_app" || reason == "untrusted_environment" {
            "REFUND"
        } else {
            "unknown"
        };
        let n = expected.entry((kind, reason)).or_insert(0.0);
        *n += 1.0;
        assert_eq!(counted(&text, kind, reason), *n, "{what}: {text}");
    }

    // Nothing changed: still paid for its owner, nothing recorded, nothing sent but the paid.
    let v = server.verify("alice", &receipt).await;
    assert_eq!(
        (v.outcome, v.redemption),
        (Outcome::Paid, Some(Redemption::Repeat))
    );
    let ledger = server.state.ledger();
    use payseal_verifier::notifications::log::NotificationLog as _;
    assert!(ledger
        .list_notifications(None, 10)
        .await
        .unwrap()
        .is_empty());
    assert!(ledger.list_revocations(10).await.unwrap().is_empty());
    receiver
        .wait_for(Duration::from_secs(20), "paid", |s| !s.events.is_empty())
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let events = receiver.events();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].event_type, PURCHASE_PAID);
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_consumption_request_refund_before_redemption_and_reversed_refunds() {
    let (mut server, receiver) = server_with_receiver().await;
    let store = &server.state.store;

    // TEST (App Store Connect's "Request a Test Notification") and CONSUMPTION_REQUEST: recorded.
    let test = store
        .app_store_notification(
            &AppStoreNotification::test(APP, Environment::Sandbox),
            payseal_sandbox::now_ms(),
        )
        .unwrap();
    let (status, answer) = post(&server, test).await;
    assert_eq!((status, answer["result"].as_str()), (200, Some("recorded")));
    let consumed = new_transaction_id();
    let (status, answer) = post(
        &server,
        notification(store, "CONSUMPTION_REQUEST", &consumed),
    )
    .await;
    assert_eq!((status, answer["result"].as_str()), (200, Some("recorded")));

    // A refund of a purchase nobody presented yet: its first presentation is refused.
    let early = new_transaction_id();
    let (status, answer) = post(&server, notification(store, "REFUND", &early)).await;
    assert_eq!(
        (status, answer["result"].as_str()),
        (200, Some("revoked_before_redemption"))
    );
    let early_receipt = purchase(&server, &early);
    let v = server.verify("carol", &early_receipt).await;
    assert_eq!(
        (v.outcome, v.reason),
        (Outcome::NotPaid, Some(Reason::Revoked))
    );
    let revocations = cli_list(&server.state.paths.config, "revocations");
    assert_eq!(revocations.len(), 1, "{revocations:?}");
    assert_eq!(revocations[0]["account"], serde_json::Value::Null);
    assert_eq!(revocations[0]["redeemed"], false);
    // Apple reverses it: the purchase can be redeemed after all.
    let (status, answer) = post(&server, notification(store, "REFUND_REVERSED", &early)).await;
    assert_eq!(
        (status, answer["result"].as_str()),
        (200, Some("reinstated"))
    );
    let v = server.verify("carol", &early_receipt).await;
    assert_eq!(
        (v.outcome, v.redemption),
        (Outcome::Paid, Some(Redemption::First))
    );

    // A redeemed purchase refunded, then the refund reversed: paid again for its owner, and the
    // app server hears both.
    let tx = new_transaction_id();
    let receipt = purchase(&server, &tx);
    assert_eq!(
        server.verify("alice", &receipt).await.outcome,
        Outcome::Paid
    );
    let (_, answer) = post(&server, notification(store, "REFUND", &tx)).await;
    assert_eq!(answer["result"], "revoked");
    assert_eq!(
        server.verify("alice", &receipt).await.reason,
        Some(Reason::Revoked)
    );
    let (status, answer) = post(&server, notification(store, "REFUND_REVERSED", &tx)).await;
    assert_eq!(
        (status, answer["result"].as_str()),
        (200, Some("reinstated"))
    );
    let v = server.verify("alice", &receipt).await;
    assert_eq!(
        (v.outcome, v.redemption),
        (Outcome::Paid, Some(Redemption::Repeat))
    );
    assert_eq!(
        server.verify("bob", &receipt).await.reason,
        Some(Reason::AlreadyRedeemed)
    );
    // A reversal for a purchase the store never refunded changes nothing.
    let (_, answer) = post(&server, notification(store, "REFUND_REVERSED", &consumed)).await;
    assert_eq!(answer["result"], "not_reinstated");

    // paid (carol), paid (alice), revoked, reinstated.
    receiver
        .wait_for(Duration::from_secs(20), "4 events", |s| s.events.len() >= 4)
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let events = receiver.events();
    let kinds: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(events.len(), 4, "{kinds:?}");
    let back = events
        .iter()
        .find(|e| e.event_type == PURCHASE_REINSTATED)
        .expect("purchase.reinstated");
    assert_eq!(back.data["transaction_id"], tx.as_str());
    assert_eq!(back.data["sub"], "alice");
    assert!(back.data["reinstated_at"].as_i64().unwrap() > 0);

    let listed = cli_list(&server.state.paths.config, "notifications");
    let results: Vec<(&str, &str)> = listed
        .iter()
        .map(|n| (n["type"].as_str().unwrap(), n["result"].as_str().unwrap()))
        .collect();
    assert_eq!(
        results,
        [
            ("REFUND_REVERSED", "not_reinstated"),
            ("REFUND_REVERSED", "reinstated"),
            ("REFUND", "revoked"),
            ("REFUND_REVERSED", "reinstated"),
            ("REFUND", "revoked_before_redemption"),
            ("CONSUMPTION_REQUEST", "recorded"),
            ("TEST", "recorded"),
        ]
    );
    let text = metrics(&server).await;
    assert_eq!(counted(&text, "TEST", "recorded"), 1.0);
    assert_eq!(counted(&text, "CONSUMPTION_REQUEST", "recorded"), 1.0);
    assert_eq!(counted(&text, "REFUND_REVERSED", "reinstated"), 2.0);
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ledger_that_cannot_record_it_answers_503_so_apple_retries() {
    let port = common::free_port();
    let url = format!("postgres://payseal@127.0.0.1:{port}/payseal");
    let options = payseal_verifier::ledger::LedgerOptions {
        connect_timeout: Duration::from_secs(2),
        query_timeout: Duration::from_secs(2),
        ..Default::default()
    };
    let down: Arc<dyn payseal_verifier::ledger::Ledger> =
        Arc::new(payseal_verifier::ledger::PostgresLedger::new(&url, &options).unwrap());
    let state = StateDir::new();
    let settings = state.settings();
    let mut server = TestServer::start_with_ledger(state, settings, down).await;
    let body = notification(&server.state.store, "REFUND", &new_transaction_id());
    let response = server
        .client
        .post(server.url(ROUTE))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "1");
    let text = metrics(&server).await;
    assert_eq!(
        counted(&text, "REFUND", "ledger_unavailable"),
        1.0,
        "{text}"
    );
    server.stop().await.unwrap();
}

/// Two verifier instances on one PostgreSQL database get the same `REFUND` at once (Apple's
/// retries land on both behind a load balancer): one of the eight deliveries records it, every
/// one is answered `200 revoked`, one `purchase.revoked` row is enqueued and the purchase is
/// refused by both instances afterwards.
#[cfg(feature = "postgres-tests")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_on_postgresql_record_one_refund_once() {
    let url = common::pg::fresh_database().await;
    let receiver = RunningReceiver::start(0).await;
    let mut servers = Vec::new();
    for _ in 0..2 {
        let state = StateDir::new();
        configure(&state.paths.config, &receiver.url());
        let settings = state.settings();
        let ledger = payseal_verifier::ledger::connect(&url, &common::pg::test_options())
            .await
            .unwrap();
        servers.push(TestServer::start_with_ledger(state, settings, ledger).await);
    }
    let tx = new_transaction_id();
    let receipt = purchase(&servers[0], &tx);
    assert_eq!(
        servers[0].verify("alice", &receipt).await.redemption,
        Some(Redemption::First)
    );
    let refund = notification(&servers[1].state.store, "REFUND", &tx);
    let answers = futures_join(
        (0..8)
            .map(|i| {
                let server = &servers[i % 2];
                post_to(server.client.clone(), server.url(ROUTE), refund.clone())
            })
            .collect(),
    )
    .await;
    assert!(
        answers
            .iter()
            .all(|(s, a)| *s == 200 && a["result"] == "revoked"),
        "{answers:?}"
    );
    assert_eq!(
        answers
            .iter()
            .filter(|(_, a)| a["duplicate"] == false)
            .count(),
        1,
        "{answers:?}"
    );
    for server in &servers {
        assert_eq!(
            server.verify("alice", &receipt).await.reason,
            Some(Reason::Revoked)
        );
    }
    let pg = common::pg::client(&url).await;
    let revoked: i64 = pg
        .query_one(
            "SELECT COUNT(*) FROM payseal_outbox WHERE event_type = 'purchase.revoked'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(revoked, 1);
    let recorded: i64 = pg
        .query_one("SELECT COUNT(*) FROM payseal_store_notifications", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(recorded, 1);
    receiver
        .wait_for(Duration::from_secs(20), "paid + revoked", |s| {
            s.events.len() >= 2
        })
        .await;
    let ids: std::collections::HashSet<String> = receiver
        .events()
        .iter()
        .filter(|e| e.event_type == PURCHASE_REVOKED)
        .map(|e| e.id.clone())
        .collect();
    assert_eq!(ids.len(), 1, "one revocation event (deduplicated by id)");
    for server in &mut servers {
        server.stop().await.unwrap();
    }
}

/// Run the futures concurrently and collect their outputs in order.
#[cfg(feature = "postgres-tests")]
async fn futures_join<F>(futures: Vec<F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}
