//! Signed webhooks end to end on a real PostgreSQL ledger (`[ledger] url = "postgres://…"`, a
//! fresh database per test): the outbox row written with the redemption, claimed by the
//! delivery worker (`FOR UPDATE SKIP LOCKED` and a lease), POSTed to a real receiver on
//! 127.0.0.1 that checks each request with `verify_webhook` and deduplicates by id.
//!
//! 1. One verifier in process, the receiver failing the first deliveries: every `paid / first`
//!    verdict's event arrives once, and the outbox rows, `/metrics` and the CLI agree.
//! 2. Two `payseal-verifier serve` processes on the same database, both delivering: the receiver
//!    holds requests until each worker is busy with a different row, purchases through both
//!    pile up meanwhile, then both workers claim from the same due rows at once; every event is
//!    delivered once between them, never two requests for one id at the same time, and each
//!    claim of a row (its `attempts`) is exactly one request.
//!
//! Needs the `postgres-tests` feature and `PAYSEAL_TEST_POSTGRES_URL` (scripts/postgres.sh).

mod common;
mod webhook_support;

use std::collections::HashSet;
use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::instance::{Instance, SealingClient};
use common::pg::use_postgres;
use common::{bin, StateDir, TestServer, APP};
use payseal_protocol::{Outcome, Reason, Redemption, Store, VerdictClaims};
use payseal_verifier::ledger::{backend_of, Backend};
use payseal_verifier::webhook::{WebhookEvent, PURCHASE_PAID};
use webhook_support::{configure, RunningReceiver, Seen};

const STORES: [Store; 4] = [
    Store::GooglePlay,
    Store::AppStore,
    Store::Huawei,
    Store::Sandbox,
];

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{name} not in metrics:\n{text}"))
}

const DELIVERED: &str = "payseal_webhook_deliveries_total{result=\"delivered\"}";
const RETRIED: &str = "payseal_webhook_deliveries_total{result=\"retried\"}";
const FAILED: &str = "payseal_webhook_deliveries_total{result=\"failed\"}";
const PENDING: &str = "payseal_webhook_outbox_pending";

async fn get_metrics(http: &reqwest::Client, url: String) -> String {
    http.get(url).send().await.unwrap().text().await.unwrap()
}

/// The outbox as stored: (id, state, attempts), and the sum of attempts (= claims).
async fn outbox(pg: &tokio_postgres::Client) -> (Vec<(String, String, i64)>, i64) {
    let rows: Vec<(String, String, i64)> = pg
        .query(
            "SELECT id, state, attempts FROM payseal_outbox ORDER BY id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    let claims = rows.iter().map(|r| r.2).sum();
    (rows, claims)
}

/// Wait until no outbox row is pending any more (panics after `limit`).
async fn wait_outbox_settled(pg: &tokio_postgres::Client, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        let (rows, _) = outbox(pg).await;
        if rows.iter().all(|r| r.1 != "pending") {
            return;
        }
        assert!(Instant::now() < deadline, "outbox still pending: {rows:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The receiver's view, checked against the `paid / first` verdicts `firsts` and the outbox:
/// each id accepted once, validly signed (the receiver ran `verify_webhook` on every request),
/// never two requests for one id at once, and one request per claim of a row.
async fn assert_delivered_once(seen: &Seen, firsts: &[VerdictClaims], pg: &tokio_postgres::Client) {
    assert!(seen.rejected.is_empty(), "{:?}", seen.rejected);
    let want: HashSet<&str> = firsts.iter().map(|v| v.jti.as_str()).collect();
    assert_eq!(want.len(), firsts.len());
    let got: HashSet<&str> = seen.events.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(got, want, "exactly the paid/first verdicts, by jti");
    assert_eq!(seen.events.len(), firsts.len());
    assert!(
        seen.deliveries.values().all(|n| *n == 1),
        "each id accepted once: {:?}",
        seen.deliveries
    );
    assert_eq!(
        seen.max_in_flight_per_id, 1,
        "two requests for one id at the same time"
    );
    assert!(seen.in_flight.is_empty(), "{:?}", seen.in_flight);
    for event in &seen.events {
        assert_paid_event(event, firsts);
    }
    let (rows, claims) = outbox(pg).await;
    let ids: HashSet<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(ids, want, "one outbox row per paid/first verdict");
    assert!(rows.iter().all(|r| r.1 == "delivered"), "{rows:?}");
    assert_eq!(
        claims as usize, seen.requests,
        "each claim of a row (attempts) is exactly one request: {rows:?}"
    );
    assert_eq!(seen.requests, firsts.len() + seen.failed_on_purpose);
}

fn assert_paid_event(event: &WebhookEvent, firsts: &[VerdictClaims]) {
    let claims = firsts.iter().find(|v| v.jti == event.id).unwrap();
    assert_eq!(event.event_type, PURCHASE_PAID);
    assert_eq!(event.app, APP);
    assert_eq!(event.data["jti"], claims.jti.as_str());
    assert_eq!(event.data["sub"], claims.sub.as_str());
    assert_eq!(event.data["outcome"], "paid");
    assert_eq!(event.data["redemption"], "first");
    assert_eq!(
        event.data["transaction_id"].as_str(),
        claims.transaction_id.as_deref()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_receiver_failing_first_deliveries_gets_every_paid_first_exactly_once() {
    let db = common::pg::fresh_database().await;
    let receiver = RunningReceiver::start(3).await;
    let state = StateDir::new();
    configure(&state.paths.config, &receiver.url());
    use_postgres(&state.paths.config, &db);
    let config = state.paths.config.clone();
    let mut server = TestServer::start_on(state, |s| {
        assert_eq!(backend_of(&s.ledger_url), Some(Backend::Postgres));
    })
    .await;
    let pg = common::pg::client(&db).await;

    // Five paid/first verdicts, plus a repeat and an already_redeemed (no events for those).
    let mut firsts = Vec::new();
    let mut receipts = Vec::new();
    for i in 0..5 {
        let receipt = server.state.issue(STORES[i % STORES.len()]);
        let v = server.verify(&format!("acct-{i}"), &receipt).await;
        assert_eq!(
            (v.outcome, v.redemption),
            (Outcome::Paid, Some(Redemption::First))
        );
        firsts.push(v);
        receipts.push(receipt);
    }
    let v = server.verify("acct-0", &receipts[0]).await;
    assert_eq!(v.redemption, Some(Redemption::Repeat));
    let v = server.verify("mallory", &receipts[1]).await;
    assert_eq!(v.reason, Some(Reason::AlreadyRedeemed));

    receiver
        .wait_for(Duration::from_secs(20), "5 events", |s| s.events.len() >= 5)
        .await;
    wait_outbox_settled(&pg, Duration::from_secs(10)).await;
    let seen = std::mem::take(&mut *receiver.receiver.seen.lock().unwrap());
    assert_eq!(seen.failed_on_purpose, 3);
    assert_delivered_once(&seen, &firsts, &pg).await;

    // /metrics: 5 delivered, 3 retried, nothing failed, nothing pending (the counters follow
    // the outbox update, so give them a moment).
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut text;
    loop {
        text = get_metrics(&server.client, server.metrics_url()).await;
        if metric(&text, DELIVERED) >= 5.0 && metric(&text, PENDING) == 0.0 {
            break;
        }
        assert!(Instant::now() < deadline, "{text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(metric(&text, DELIVERED), 5.0);
    assert_eq!(metric(&text, RETRIED), 3.0);
    assert_eq!(metric(&text, FAILED), 0.0);

    // The operator's view through the CLI, on the same database.
    let out = Command::new(bin())
        .args(["webhooks", "--config"])
        .arg(&config)
        .arg("list")
        .env_remove("PAYSEAL_LEDGER")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(listed.len(), 5, "{listed:?}");
    assert!(
        listed.iter().all(|r| r["state"] == "delivered"),
        "{listed:?}"
    );
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_on_one_postgres_deliver_every_event_once_between_them() {
    let db = common::pg::fresh_database().await;
    let receiver = RunningReceiver::start(0).await;
    let state = StateDir::new();
    configure(&state.paths.config, &receiver.url());
    use_postgres(&state.paths.config, &db);
    // A request held at the receiver's gate must not time out (and be sent again) meanwhile;
    // idle workers poll often, so their claims of the same due rows overlap.
    let text = std::fs::read_to_string(&state.paths.config).unwrap();
    std::fs::write(
        &state.paths.config,
        text.replacen("timeout_ms = 2000", "timeout_ms = 10000", 1)
            .replacen("poll_interval_ms = 50", "poll_interval_ms = 5", 1),
    )
    .unwrap();
    let settings = state.settings();
    assert_eq!(
        settings.webhook_worker.request_timeout,
        Duration::from_secs(10)
    );
    assert_eq!(
        settings.webhook_worker.poll_interval,
        Duration::from_millis(5)
    );
    let client = SealingClient::new(&state);
    let mut a = Instance::spawn("a", &state, None);
    let mut b = Instance::spawn("b", &state, None);
    a.wait_ready(&client.http).await;
    b.wait_ready(&client.http).await;
    let bases = [a.url(""), b.url("")];
    let pg = common::pg::client(&db).await;

    let burst = |range: std::ops::Range<usize>| {
        let mut tasks = Vec::new();
        for i in range {
            let (client, base) = (client.clone(), bases[i % 2].clone());
            let receipt = state.issue(STORES[i % STORES.len()]);
            tasks.push(tokio::spawn(async move {
                let v = client.first(&base, &format!("acct-{i}"), &receipt).await;
                (v, receipt)
            }));
        }
        tasks
    };
    let mut firsts = Vec::new();
    let mut receipts = Vec::new();
    for round in 0..2 {
        // Both workers busy at once, on different rows: the receiver holds every request; the
        // first event is taken by one worker, which then waits on it, so the second event can
        // only be taken by the other instance's worker.
        receiver.close_gate();
        let mut held = Vec::new();
        for (i, base) in bases.iter().enumerate() {
            let receipt = state.issue(STORES[i]);
            let v = client
                .first(base, &format!("held-{round}-{i}"), &receipt)
                .await;
            held.push(v.jti.clone());
            let ids = held.clone();
            receiver
                .wait_for(Duration::from_secs(15), "events held together", move |s| {
                    s.max_in_flight_per_id > 1 || ids.iter().all(|id| s.in_flight.contains_key(id))
                })
                .await;
            {
                let seen = receiver.receiver.seen.lock().unwrap();
                assert_eq!(
                    seen.max_in_flight_per_id, 1,
                    "one id sent by both workers at once: {:?}",
                    seen.in_flight
                );
            }
            firsts.push(v);
            receipts.push(receipt);
        }

        // While both workers wait, a burst through both instances at once: its rows stay due,
        // so when the receiver lets go, both workers claim from the same due rows at the same
        // moment (SKIP LOCKED must split them, and the lease keep them split).
        for t in burst(round * 8..round * 8 + 8) {
            let (v, receipt) = t.await.unwrap();
            firsts.push(v);
            receipts.push(receipt);
        }
        let (rows, _) = outbox(&pg).await;
        assert_eq!(rows.len(), firsts.len());
        assert_eq!(
            rows.iter().filter(|r| r.2 == 0).count(),
            8,
            "the burst's rows are not claimed while both workers wait: {rows:?}"
        );
        assert_eq!(receiver.receiver.seen.lock().unwrap().in_flight.len(), 2);
        receiver.open_gate();
        let n = firsts.len();
        receiver
            .wait_for(Duration::from_secs(20), "the held and burst events", |s| {
                s.events.len() >= n
            })
            .await;
    }

    // Then the receiver fails 3 deliveries: retried by either instance.
    receiver.receiver.fail_next.store(3, Ordering::SeqCst);
    for t in burst(16..20) {
        let (v, receipt) = t.await.unwrap();
        firsts.push(v);
        receipts.push(receipt);
    }
    // No event for a repeat through the other instance, nor for an already_redeemed.
    let v = client.verify(&bases[1], "held-0-0", &receipts[0]).await;
    assert_eq!(v.redemption, Some(Redemption::Repeat));
    let v = client.verify(&bases[0], "mallory", &receipts[1]).await;
    assert_eq!(v.reason, Some(Reason::AlreadyRedeemed));

    let n = firsts.len();
    receiver
        .wait_for(Duration::from_secs(20), "every event", |s| {
            s.events.len() >= n
        })
        .await;
    wait_outbox_settled(&pg, Duration::from_secs(10)).await;
    let seen = std::mem::take(&mut *receiver.receiver.seen.lock().unwrap());
    assert_eq!(seen.failed_on_purpose, 3);
    assert_delivered_once(&seen, &firsts, &pg).await;

    // Each instance delivered some (one of the two held events at least), none twice.
    let deadline = Instant::now() + Duration::from_secs(5);
    let (mut ma, mut mb);
    loop {
        ma = get_metrics(&client.http, a.metrics_url()).await;
        mb = get_metrics(&client.http, b.metrics_url()).await;
        if metric(&ma, DELIVERED) + metric(&mb, DELIVERED) >= n as f64 {
            break;
        }
        assert!(Instant::now() < deadline, "{ma}\n{mb}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let delivered = [metric(&ma, DELIVERED), metric(&mb, DELIVERED)];
    assert_eq!(delivered[0] + delivered[1], n as f64, "{delivered:?}");
    assert!(delivered.iter().all(|d| *d >= 1.0), "{delivered:?}");
    assert_eq!(metric(&ma, RETRIED) + metric(&mb, RETRIED), 3.0);
    assert_eq!(metric(&ma, FAILED) + metric(&mb, FAILED), 0.0);

    a.stop();
    b.stop();
}
