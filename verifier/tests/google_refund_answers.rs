//! Google Play refund reviews end to end: a real verifier over TLS with a real SQLite ledger
//! file (or PostgreSQL), the application server's reports through the authenticated
//! app-server API, `pendingRefundReviewNotification`s pushed by "Pub/Sub" with Google-signed
//! OIDC tokens, and the fake Play Developer API (`orders.reviewrefund`: bearer token checked,
//! Google's body and error shapes, only the first answer taken). The answer follows the same
//! policy as Apple's in Google's enum; without consent no consumption data is sent; duplicates
//! are answered once; failures are retried until the 24-hour deadline; a crash between the
//! record and the answer is answered after the restart; two PostgreSQL instances answer once.

mod common;
mod google_support;
mod webhook_support;

use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use common::{play_order_id, StateDir, TestServer, APP};
use google_support::ack_scenario::{buy, configure_api, wait_calls};
use google_support::{configure_rtdn, keys, push_claims, FakeGoogle, API_ACCOUNT};
use payseal_protocol::Outcome;
use payseal_verifier::ledger::refunds::{RefundRequestRow, RefundState};
use serde_json::{json, Value};

const APP_KEY: &str = "3f1c0e2a9b8d7c6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e";
const RTDN: &str = "/v1/stores/google-play/rtdn";
const DAY_MS: i64 = 24 * 3_600_000;

/// The RTDN table, the Play Developer API, the app-server key, the refund policy and a fast
/// refund-answer worker, as an operator writes them.
fn configure(state: &StateDir, google: &FakeGoogle) {
    google.register_account(API_ACCOUNT, &keys()[3]);
    configure_rtdn(&state.paths.config, google);
    configure_api(state, google, &[]);
    let dir = state.paths.config.parent().unwrap();
    let key = dir.join("app-server.key");
    std::fs::write(&key, APP_KEY).unwrap();
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let mut text = std::fs::read_to_string(&state.paths.config).unwrap();
    text.push_str(&format!(
        "\n[apps.\"{APP}\".app_server]\napi_key_file = \"{}\"\n\n\
         [apps.\"{APP}\".refund_policy]\ndecline_consumed_from_milliunits = 50000\n\
         grant_undelivered = true\nsample_content_products = [\"trial_pack\"]\n\n\
         [refund_answers]\npoll_interval_ms = 50\nlease_ms = 1500\nretry_base_ms = 50\n\
         retry_max_ms = 200\n",
        key.display()
    ));
    std::fs::write(&state.paths.config, text).unwrap();
}

/// The Pub/Sub push body of a `pendingRefundReviewNotification` about `order_id`.
fn review_push(message_id: &str, order_id: &str, token: &str, event_ms: i64) -> String {
    let notification = json!({
        "version": "1.0",
        "packageName": APP,
        "eventTimeMillis": event_ms.to_string(),
        "pendingRefundReviewNotification": {
            "version": "1.0",
            "pendingRefundToken": token,
            "orderId": order_id,
            "refundReason": 1,
            "obfuscatedAccountId": "obf-account",
        }
    });
    json!({
        "message": {
            "attributes": {},
            "data": STANDARD.encode(notification.to_string()),
            "messageId": message_id,
            "message_id": message_id,
            "publishTime": "2026-12-07T12:00:00.000Z",
            "publish_time": "2026-12-07T12:00:00.000Z"
        },
        "subscription": "projects/payseal-test/subscriptions/play-rtdn-push"
    })
    .to_string()
}

/// Push `body` to the verifier at `base` with a genuine push token; the status.
async fn push(client: &reqwest::Client, base: &str, google: &FakeGoogle, body: &str) -> u16 {
    client
        .post(format!("{base}{RTDN}"))
        .bearer_auth(google.push_token("k1", &push_claims()))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn report(client: &reqwest::Client, base: &str, path: &str, body: Value) {
    let response = client
        .post(format!("{base}{path}"))
        .basic_auth(APP, Some(APP_KEY))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{path} {body}");
}

async fn rows(state: &StateDir) -> Vec<RefundRequestRow> {
    let settings = state.settings();
    let ledger = payseal_verifier::ledger::connect(&settings.ledger_url, &settings.ledger)
        .await
        .unwrap();
    ledger.list_refund_requests(None, 100).await.unwrap()
}

/// Wait until `n` rows exist and none is pending; them.
async fn finished(state: &StateDir, n: usize) -> Vec<RefundRequestRow> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let rows = rows(state).await;
        if rows.len() == n && rows.iter().all(|r| r.state != RefundState::Pending) {
            return rows;
        }
        assert!(Instant::now() < deadline, "not finished: {rows:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|v| v.strip_prefix(' ')))
        .map(|v| v.trim().parse().unwrap())
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_refund_reviews_are_answered_by_the_policy_once() {
    let google = FakeGoogle::start().await;
    let state = StateDir::new();
    configure(&state, &google);
    let server = TestServer::start_on(state, |_| {}).await;
    let base = server.url("");

    // alice: delivered, 80% consumed, consented → DECLINE with the consumption.
    // bob: redeemed, never confirmed delivered, consented → APPROVE, 0.
    // carol: delivered, 80% consumed, no consent → DECLINE, no consumption data.
    // dave: a trial pack, delivered, 10% consumed, consented → NEUTRAL, sample content.
    // erin: Google already has an answer (the first call counts) → done, not sent again.
    let people = ["alice", "bob", "carol", "dave", "erin"];
    let mut orders = Vec::new();
    for account in people {
        let product = if account == "dave" {
            "trial_pack"
        } else {
            "coins_100"
        };
        let receipt = buy(&server.state, &google, product);
        assert_eq!(
            server.verify(account, &receipt).await.outcome,
            Outcome::Paid
        );
        orders.push(play_order_id(&receipt));
    }
    // A review of an order nobody redeemed here: nothing to say.
    let stranger = format!("GPA.9999-{}", payseal_sandbox::now_ms() % 100_000);
    orders.push(stranger.clone());
    wait_calls(&google, "acknowledgements", |c| {
        c.iter()
            .filter(|e| e.as_str() == "purchases.products.acknowledge")
            .count()
            == 5
    })
    .await;
    for (account, i, consumed) in [
        ("alice", 0, 80_000),
        ("carol", 2, 80_000),
        ("dave", 3, 10_000),
    ] {
        report(
            &server.client,
            &base,
            "/v1/app-server/deliveries",
            json!({"store": "google_play", "transaction_id": orders[i], "account": account,
                "delivered": true, "consumed_milliunits": consumed, "usage_events": 3}),
        )
        .await;
    }
    for account in ["alice", "bob", "dave"] {
        report(
            &server.client,
            &base,
            "/v1/app-server/consent",
            json!({"account": account, "consented": true}),
        )
        .await;
    }
    for (i, order) in orders.iter().enumerate() {
        google.add_refund_review(APP, order, &format!("prt-{i}-{order}"));
    }
    google
        .state
        .lock()
        .unwrap()
        .review_answers
        .push((orders[4].clone(), json!({"answeredBy": "another tool"})));
    // Google is down for the first attempt (both of its tries): retried by the worker.
    google.state.lock().unwrap().fail_next.extend([503, 503]);

    let now = payseal_verifier::now_ms();
    for (i, order) in orders.iter().enumerate() {
        let body = review_push(&format!("7000{i}"), order, &format!("prt-{i}-{order}"), now);
        // Pub/Sub redelivers the same message: recorded and answered once.
        for _ in 0..2 {
            assert_eq!(push(&server.client, &base, &google, &body).await, 200);
        }
    }
    // The same review in another message: still one row, one answer.
    let again = review_push(
        "7000-again",
        &orders[0],
        &format!("prt-0-{}", orders[0]),
        now,
    );
    assert_eq!(push(&server.client, &base, &google, &again).await, 200);

    let rows = finished(&server.state, 6).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let answers = google.review_answers();
    let body = |i: usize| -> Vec<Value> {
        answers
            .iter()
            .filter(|(o, _)| *o == orders[i])
            .map(|(_, b)| b.clone())
            .collect()
    };
    let alice = body(0);
    assert_eq!(alice.len(), 1, "{answers:#?}");
    assert_eq!(alice[0]["refundPreference"], "DECLINE");
    assert_eq!(
        alice[0]["pendingRefundToken"],
        format!("prt-0-{}", orders[0])
    );
    assert_eq!(alice[0]["sampleContentProvided"], false);
    assert_eq!(alice[0]["consumptionPercentageMilliunits"], 80_000);
    let events = alice[0]["consumptionUsageEvents"].as_array().unwrap();
    assert_eq!(events.len(), 1);
    assert!(events[0]["consumptionItemDescription"]
        .as_str()
        .unwrap()
        .contains("3 usage events"));
    assert_eq!(
        body(1),
        vec![json!({"pendingRefundToken": format!("prt-1-{}", orders[1]),
            "sampleContentProvided": false, "refundPreference": "APPROVE",
            "consumptionPercentageMilliunits": 0})]
    );
    assert_eq!(
        body(2),
        vec![json!({"pendingRefundToken": format!("prt-2-{}", orders[2]),
            "sampleContentProvided": false, "refundPreference": "DECLINE"})],
        "no consent: no consumption data"
    );
    let dave = body(3);
    assert_eq!(dave.len(), 1);
    assert_eq!(
        (
            &dave[0]["refundPreference"],
            &dave[0]["sampleContentProvided"],
            &dave[0]["consumptionPercentageMilliunits"]
        ),
        (&json!("NEUTRAL"), &json!(true), &json!(10_000))
    );
    assert_eq!(body(4), vec![json!({"answeredBy": "another tool"})]);
    assert!(body(5).is_empty(), "never redeemed here: nothing sent");

    let state_of = |i: usize| {
        rows.iter()
            .find(|r| r.transaction_key == orders[i])
            .unwrap()
    };
    for i in 0..5 {
        assert_eq!(
            state_of(i).state,
            RefundState::Answered,
            "{:?}",
            state_of(i)
        );
        assert_eq!(state_of(i).store, payseal_protocol::Store::GooglePlay);
        assert!(state_of(i).deadline_ms <= now + DAY_MS);
    }
    assert!(state_of(4)
        .detail
        .as_deref()
        .unwrap()
        .contains("already answered"));
    assert!(
        !state_of(0).detail.as_deref().unwrap().contains("prt-"),
        "the token is not in the detail"
    );
    assert_eq!(state_of(5).state, RefundState::Skipped);
    assert!(
        rows.iter().any(|r| r.attempts >= 2),
        "the 503s were retried"
    );

    let text = server.metrics_text().await;
    assert_eq!(
        metric(
            &text,
            "payseal_refund_answers_total{store=\"google_play\",result=\"answered\"}"
        ),
        5.0,
        "{text}"
    );
    assert_eq!(
        metric(
            &text,
            "payseal_refund_answers_total{store=\"google_play\",result=\"skipped\"}"
        ),
        1.0
    );
    assert!(
        metric(
            &text,
            "payseal_refund_answers_total{store=\"google_play\",result=\"retried\"}"
        ) >= 1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_review_google_keeps_refusing_is_retried_until_its_deadline() {
    let google = FakeGoogle::start().await;
    let state = StateDir::new();
    configure(&state, &google);
    let server = TestServer::start_on(state, |_| {}).await;
    let base = server.url("");
    let receipt = buy(&server.state, &google, "coins_100");
    assert_eq!(
        server.verify("alice", &receipt).await.outcome,
        Outcome::Paid
    );
    let order = play_order_id(&receipt);
    wait_calls(&google, "acknowledgement", |c| {
        c.contains(&"purchases.products.acknowledge".to_string())
    })
    .await;
    google.add_refund_review(APP, &order, "prt-late");
    google
        .state
        .lock()
        .unwrap()
        .fail_next
        .extend(std::iter::repeat_n(503, 10_000));

    // Google's event was 24 hours minus 2 seconds ago: 2 seconds of retries, then expired.
    let event_ms = payseal_verifier::now_ms() - DAY_MS + 2_000;
    let body = review_push("8000", &order, "prt-late", event_ms);
    assert_eq!(push(&server.client, &base, &google, &body).await, 200);
    // One already past its deadline: expired without a call.
    let other = buy(&server.state, &google, "coins_100");
    assert_eq!(server.verify("bob", &other).await.outcome, Outcome::Paid);
    let old = review_push(
        "8001",
        &play_order_id(&other),
        "prt-old",
        payseal_verifier::now_ms() - DAY_MS - 1,
    );
    assert_eq!(push(&server.client, &base, &google, &old).await, 200);

    let rows = finished(&server.state, 2).await;
    let late = rows.iter().find(|r| r.transaction_key == order).unwrap();
    assert_eq!(late.state, RefundState::Expired, "{late:?}");
    assert!(late.attempts >= 3, "retried with backoff: {late:?}");
    assert!(late.finished_ms.unwrap() <= late.deadline_ms + 1_000);
    assert!(
        late.detail.as_deref().unwrap().contains("deadline"),
        "{late:?}"
    );
    assert!(google.review_answers().is_empty());
    let expired = rows.iter().find(|r| r.transaction_key != order).unwrap();
    assert_eq!((expired.state, expired.attempts), (RefundState::Expired, 1));
    let review_calls = google
        .purchase_calls()
        .iter()
        .filter(|c| c.as_str() == "orders.reviewrefund")
        .count();
    assert!(review_calls >= 3, "{review_calls}");
}

/// The verifier binary is killed (SIGKILL) after the review is recorded and while its answer is
/// in flight; the next start answers it, and Google takes exactly one answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_the_record_and_the_answer_is_answered_after_the_restart() {
    let google = FakeGoogle::start().await;
    let state = StateDir::new();
    configure(&state, &google);
    let port = common::free_port();
    let base = format!("https://127.0.0.1:{port}");
    let client = common::client_for(&state.paths.tls_cert);
    let receipt = buy(&state, &google, "coins_100");
    let order = play_order_id(&receipt);
    google.add_refund_review(APP, &order, "prt-crash");
    {
        let _first = common::process::serve(&state, port, "first.log").await;
        let v = common::process::verify_at(&state, port, "alice", &receipt).await;
        assert_eq!(v.outcome, Outcome::Paid);
        wait_calls(&google, "acknowledgement", |c| {
            c.contains(&"purchases.products.acknowledge".to_string())
        })
        .await;
        report(
            &client,
            &base,
            "/v1/app-server/deliveries",
            json!({"store": "google_play", "transaction_id": order, "account": "alice",
                "delivered": true, "consumed_milliunits": 90_000}),
        )
        .await;
        // Google hangs: the answer is in flight when the process dies.
        google.state.lock().unwrap().api_delay = Duration::from_secs(20);
        let body = review_push("9000", &order, "prt-crash", payseal_verifier::now_ms());
        assert_eq!(push(&client, &base, &google, &body).await, 200);
        wait_calls(&google, "the answer in flight", |c| {
            c.contains(&"orders.reviewrefund".to_string())
        })
        .await;
        // `_first` is dropped here: SIGKILL.
    }
    let pending = rows(&state).await;
    assert_eq!(pending.len(), 1);
    assert_eq!(
        (pending[0].state, pending[0].attempts),
        (RefundState::Pending, 1),
        "recorded with its notification, not answered"
    );
    google.state.lock().unwrap().api_delay = Duration::ZERO;
    let _second = common::process::serve(&state, port, "second.log").await;
    let rows = finished(&state, 1).await;
    assert_eq!(rows[0].state, RefundState::Answered, "{:?}", rows[0]);
    assert!(rows[0].attempts >= 2);
    // Give a hung first request time to land if the fake still holds it: never two answers.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let answers = google.review_answers();
    assert_eq!(answers.len(), 1, "{answers:?}");
    assert_eq!(answers[0].1["refundPreference"], "DECLINE");
    // Without consent: no consumption data.
    assert!(answers[0]
        .1
        .get("consumptionPercentageMilliunits")
        .is_none());
}

/// Two verifier instances on one PostgreSQL database: the same review pushed to both (and
/// again to the second in another message), both workers polling; Google gets one answer.
#[cfg(feature = "postgres-tests")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_on_postgresql_answer_a_review_once() {
    let url = common::pg::fresh_database().await;
    let google = FakeGoogle::start().await;
    let mut servers = Vec::new();
    for _ in 0..2 {
        let state = StateDir::new();
        configure(&state, &google);
        common::pg::use_postgres(&state.paths.config, &url);
        servers.push(TestServer::start_on(state, |_| {}).await);
    }
    let receipt = buy(&servers[0].state, &google, "coins_100");
    assert_eq!(
        servers[0].verify("alice", &receipt).await.outcome,
        Outcome::Paid
    );
    let order = play_order_id(&receipt);
    let base1 = servers[1].url("");
    report(
        &servers[1].client,
        &base1,
        "/v1/app-server/deliveries",
        json!({"store": "google_play", "transaction_id": order, "account": "alice",
            "delivered": true, "consumed_milliunits": 90_000}),
    )
    .await;
    google.add_refund_review(APP, &order, "prt-pg");
    let now = payseal_verifier::now_ms();
    let body = review_push("9100", &order, "prt-pg", now);
    let other = review_push("9101", &order, "prt-pg", now);
    let (b0, b1) = (servers[0].url(""), servers[1].url(""));
    let (a, b, c) = tokio::join!(
        push(&servers[0].client, &b0, &google, &body),
        push(&servers[1].client, &b1, &google, &body),
        push(&servers[1].client, &b1, &google, &other),
    );
    assert_eq!((a, b, c), (200, 200, 200));

    let pg = common::pg::client(&url).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
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
        assert!(Instant::now() < deadline, "not answered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rows: i64 = pg
        .query_one("SELECT COUNT(*) FROM payseal_refund_requests", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(rows, 1, "one queued answer for one review");
    let calls = google
        .purchase_calls()
        .iter()
        .filter(|c| c.as_str() == "orders.reviewrefund")
        .count();
    assert_eq!(calls, 1, "one call: the first is the one that counts");
    let answers = google.review_answers();
    assert_eq!(answers.len(), 1, "{answers:?}");
    assert_eq!(answers[0].1["refundPreference"], "DECLINE");
    for server in &mut servers {
        server.stop().await.unwrap();
    }
}
