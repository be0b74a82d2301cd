//! One revocation path (issue 22): every refund or revocation, from any store or an operator,
//! is a store event recorded with its effect. Each case below is a consequence found on the
//! code before that path existed, tried from outside: a real verifier over TLS, store
//! notifications POSTed to its real endpoints exactly as the stores shape them (signed by the
//! sandbox store), Huawei's Order service and Google's OIDC keys served by local fakes, the
//! operator's `payseal-verifier revoke` run as the real binary, verdicts opened and checked.
//!
//! Every case runs on the dev SQLite file and, with `postgres-tests`, on a fresh database of
//! the real PostgreSQL server (`eval "$(scripts/postgres.sh start)"`): `CASE::sqlite`,
//! `CASE::postgres`.

mod common;
mod google_support;
mod huawei_support;
mod webhook_support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use common::{bin, play_order_id, request, StateDir, TestServer, APP};
use google_support::voided_scenario::purchase_token;
use google_support::{push_claims, FakeGoogle};
use payseal_protocol::{Outcome, Reason, Receipt, Redemption, Store, VerdictClaims};
use payseal_sandbox::{AppStoreNotification, Order, PurchaseState, SandboxStore};
use serde_json::{json, Value};

/// The ledger backend a case runs on.
#[derive(Debug, Clone, Copy)]
enum Backend {
    Sqlite,
    #[cfg_attr(not(feature = "postgres-tests"), allow(dead_code))]
    Postgres,
}

/// A dev state directory whose configured ledger is `backend` (PostgreSQL: a fresh database).
async fn state_on(backend: Backend) -> StateDir {
    let state = StateDir::new();
    if let Backend::Postgres = backend {
        let url = common::pg::fresh_database().await;
        common::pg::use_postgres(&state.paths.config, &url);
    }
    state
}

/// `CASE::sqlite` and, with `postgres-tests`, `CASE::postgres`, each running `CASE(backend)`.
macro_rules! on_both_backends {
    ($($case:ident),* $(,)?) => {$(
        mod $case {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$case(super::Backend::Sqlite).await;
            }

            #[cfg(feature = "postgres-tests")]
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$case(super::Backend::Postgres).await;
            }
        }
    )*};
}

on_both_backends!(
    a_play_purchase_refunded_before_redemption_is_refused,
    a_huawei_purchase_refunded_before_redemption_is_refused,
    an_operator_revocation_survives_an_app_store_refund_reversal,
    a_chain_stays_revoked_while_any_refund_of_it_stands,
    a_refund_reversal_never_touches_another_app_s_row,
    a_huawei_subscription_refund_revokes_its_chain,
    unsigned_huawei_notifications_make_bounded_deduplicated_order_calls,
);

// ---------------------------------------------------------------------------------------------
// Helpers

/// `(outcome, redemption, reason)` of a verdict.
fn said(v: &VerdictClaims) -> (Outcome, Option<Redemption>, Option<Reason>) {
    (v.outcome, v.redemption, v.reason)
}

const REFUSED: (Outcome, Option<Redemption>, Option<Reason>) =
    (Outcome::NotPaid, None, Some(Reason::Revoked));
const FIRST: (Outcome, Option<Redemption>, Option<Reason>) =
    (Outcome::Paid, Some(Redemption::First), None);
const REPEAT: (Outcome, Option<Redemption>, Option<Reason>) =
    (Outcome::Paid, Some(Redemption::Repeat), None);

/// `payseal-verifier ARGS --config CONFIG ...`: its exit code and stdout.
fn cli(config: &Path, args: &[&str]) -> (i32, String) {
    let out = Command::new(bin())
        .arg(args[0])
        .arg("--config")
        .arg(config)
        .args(&args[1..])
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
    )
}

/// `notifications list` as JSON values.
fn listed_notifications(config: &Path) -> Vec<Value> {
    let (code, out) = cli(config, &["notifications", "list"]);
    assert_eq!(code, 0, "notifications list: {out}");
    out.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// `receipt` is `not_paid / revoked` for its buyer and anyone else (`what`: the case).
async fn refused_for_everyone(server: &TestServer, receipt: &Receipt, what: &str) {
    for account in ["alice", "bob"] {
        assert_eq!(
            said(&server.verify(account, receipt).await),
            REFUSED,
            "{account}: {what} was paid"
        );
    }
}

/// `notifications list` has an event `pick` chooses, with `result`.
fn listed_with(server: &TestServer, pick: impl Fn(&Value) -> bool, result: &str) {
    let listed = listed_notifications(&server.state.paths.config);
    assert!(
        listed.iter().any(|n| pick(n) && n["result"] == result),
        "no such {result} event in `notifications list`: {listed:?}"
    );
}

/// A fresh App Store transaction id.
fn new_transaction_id() -> String {
    format!(
        "2000000{}",
        u64::from_str_radix(&uuid::Uuid::new_v4().simple().to_string()[..8], 16).unwrap()
    )
}

fn app_store_order(app: &str, transaction_id: &str) -> Order {
    let mut o = Order::new(Store::AppStore, app, "coins_100");
    o.transaction_id = Some(transaction_id.into());
    o
}

/// An App Store subscription transaction `transaction_id` of the chain `chain`.
fn app_store_renewal(chain: &str, transaction_id: &str) -> Order {
    let end = payseal_verifier::now_ms() + 30 * 24 * 3600 * 1000;
    let mut o = Order::subscription(Store::AppStore, APP, "pro_monthly", end, Some(chain.into()));
    o.transaction_id = Some(transaction_id.into());
    o
}

/// POST an App Store Server Notification V2 of `kind` about `order`, signed by `store`; the
/// answer's `result`.
async fn app_store_notify(
    server: &TestServer,
    store: &SandboxStore,
    kind: &str,
    order: &Order,
) -> String {
    let body = store
        .app_store_notification(
            &AppStoreNotification::about(kind, order),
            payseal_sandbox::now_ms(),
        )
        .unwrap();
    let response = server
        .client
        .post(server.url(payseal_verifier::notifications::app_store::ROUTE))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let answer: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    assert_eq!(status, 200, "{kind}: {answer}");
    answer["result"].as_str().unwrap().to_string()
}

// ---------------------------------------------------------------------------------------------
// a. A purchase refunded before anyone redeemed it (bought, the SDK kept the receipt pending
//    while offline, refunded, then presented): refused, on every store.

/// Google Play: the `voidedPurchaseNotification` pushed by Pub/Sub for a purchase nobody
/// presented yet; then the purchase is presented.
async fn a_play_purchase_refunded_before_redemption_is_refused(backend: Backend) {
    let google = FakeGoogle::start().await;
    let state = state_on(backend).await;
    google_support::configure_rtdn(&state.paths.config, &google);
    let mut server = TestServer::start_on(state, |_| {}).await;

    let receipt = server.state.issue(Store::GooglePlay);
    let order_id = play_order_id(&receipt);
    let notification = json!({
        "version": "1.0",
        "packageName": APP,
        "eventTimeMillis": payseal_verifier::now_ms().to_string(),
        "voidedPurchaseNotification": {
            "purchaseToken": purchase_token(&receipt),
            "orderId": order_id,
            "productType": 2,
            "refundType": 1
        }
    });
    let message_id = format!("{}", payseal_verifier::now_ms());
    let push = json!({
        "message": {
            "attributes": {},
            "data": STANDARD.encode(notification.to_string()),
            "messageId": message_id,
            "publishTime": "2026-12-06T12:00:00.000Z"
        },
        "subscription": "projects/payseal-test/subscriptions/play-rtdn-push"
    });
    let response = server
        .client
        .post(server.url("/v1/stores/google-play/rtdn"))
        .bearer_auth(google.push_token("k1", &push_claims()))
        .header("content-type", "application/json")
        .body(push.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);

    refused_for_everyone(
        &server,
        &receipt,
        "a Play purchase refunded before redemption",
    )
    .await;
    listed_with(
        &server,
        |n| n["store"] == "google_play" && n["id"] == message_id.as_str(),
        "revoked_before_redemption",
    );
    server.stop().await.unwrap();
}

/// Huawei: the refund notification of a purchase nobody presented yet (the Order service's
/// signed data says refunded); then the purchase is presented.
async fn a_huawei_purchase_refunded_before_redemption_is_refused(backend: Backend) {
    let (huawei, url) = huawei_support::start_huawei().await;
    let state = state_on(backend).await;
    huawei_support::configure_huawei(&state, &url);
    let mut server = TestServer::start_on(state, |_| {}).await;

    let order_id = huawei_support::new_order_id();
    let receipt = huawei_support::issue(&server.state.store, &order_id, PurchaseState::Purchased);
    huawei.lock().unwrap().orders.insert(
        "tok-early".into(),
        huawei_support::issue(&server.state.store, &order_id, PurchaseState::Refunded),
    );
    let (status, _) = huawei_support::post(
        &server,
        &huawei_support::notification(huawei_support::CLIENT_ID, 2, "tok-early"),
    )
    .await;
    assert_eq!(status, 200);

    refused_for_everyone(
        &server,
        &receipt,
        "a Huawei purchase refunded before redemption",
    )
    .await;
    listed_with(
        &server,
        |n| n["store"] == "huawei" && n["transaction"] == order_id.as_str(),
        "revoked_before_redemption",
    );
    server.stop().await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// b. An operator's revocation stays, whatever the store says afterwards.

async fn an_operator_revocation_survives_an_app_store_refund_reversal(backend: Backend) {
    let state = state_on(backend).await;
    let mut server = TestServer::start_on(state, |_| {}).await;
    let store = &server.state.store;
    let tx = new_transaction_id();
    let order = app_store_order(APP, &tx);
    let receipt = store.issue(&order).unwrap();
    assert_eq!(said(&server.verify("alice", &receipt).await), FIRST);

    // The operator revokes it for fraud.
    let config = server.state.paths.config.clone();
    let (code, out) = cli(
        &config,
        &[
            "revoke",
            "--store",
            "app_store",
            "--app",
            APP,
            "--transaction",
            &tx,
            "--reason",
            "fraud",
            "--event-id",
            "fraud-1",
        ],
    );
    assert_eq!(code, 0, "revoke: {out}");
    assert!(out.starts_with("revoked"), "{out}");
    // The same revocation again (a script re-run): recorded once.
    let (code, again) = cli(
        &config,
        &[
            "revoke",
            "--store",
            "app_store",
            "--app",
            APP,
            "--transaction",
            &tx,
            "--event-id",
            "fraud-1",
        ],
    );
    assert_eq!(code, 0, "revoke again: {again}");
    assert!(again.contains("recorded before"), "{again}");
    // Apple refunds it too, then reverses its refund.
    assert_eq!(
        app_store_notify(&server, store, "REFUND", &order).await,
        "already_revoked"
    );
    let reversal = app_store_notify(&server, store, "REFUND_REVERSED", &order).await;

    refused_for_everyone(
        &server,
        &receipt,
        &format!("after Apple's reversal (answered {reversal}), an operator-revoked purchase"),
    )
    .await;
    assert_ne!(reversal, "reinstated");
    listed_with(
        &server,
        |n| {
            n["type"] == "operator_revoke"
                && n["id"] == "operator:fraud-1"
                && n["transaction"] == tx.as_str()
        },
        "revoked",
    );
    server.stop().await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// c. A renewal chain is revoked while any refund of it stands.

async fn a_chain_stays_revoked_while_any_refund_of_it_stands(backend: Backend) {
    let state = state_on(backend).await;
    let mut server = TestServer::start_on(state, |_| {}).await;
    let store = &server.state.store;
    let chain = new_transaction_id();
    let first = app_store_renewal(&chain, &chain);
    let second = app_store_renewal(&chain, &new_transaction_id());
    let third = app_store_renewal(&chain, &new_transaction_id());
    let receipts: Vec<Receipt> = [&first, &second, &third]
        .iter()
        .map(|o| store.issue(o).unwrap())
        .collect();
    assert_eq!(said(&server.verify("alice", &receipts[0]).await), FIRST);
    assert_eq!(said(&server.verify("alice", &receipts[1]).await), REPEAT);

    // Two renewals refunded; one of the refunds reversed.
    assert_eq!(
        app_store_notify(&server, store, "REFUND", &second).await,
        "revoked"
    );
    app_store_notify(&server, store, "REFUND", &third).await;
    let reversal = app_store_notify(&server, store, "REFUND_REVERSED", &second).await;
    assert_eq!(
        said(&server.verify("alice", &receipts[2]).await),
        REFUSED,
        "the chain pays again although the third renewal's refund stands (reversal: {reversal})"
    );

    // The other refund reversed too: nothing stands, the chain pays its owner again.
    app_store_notify(&server, store, "REFUND_REVERSED", &third).await;
    assert_eq!(said(&server.verify("alice", &receipts[2]).await), REPEAT);
    server.stop().await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// d. A reversal concerns its own app's rows only.

const OTHER_APP: &str = "dev.payseal.other";

async fn a_refund_reversal_never_touches_another_app_s_row(backend: Backend) {
    let state = state_on(backend).await;
    let mut text = std::fs::read_to_string(&state.paths.config).unwrap();
    text.push_str(&format!(
        "\n[apps.\"{OTHER_APP}\"]\nenvironments = [\"sandbox\", \"production\"]\n\n\
         [apps.\"{OTHER_APP}\".app_store]\nbundle_id = \"{OTHER_APP}\"\n"
    ));
    std::fs::write(&state.paths.config, text).unwrap();
    let mut server = TestServer::start_on(state, |_| {}).await;
    let store = &server.state.store;

    // One transaction id in two apps (two bundles), each refunded before anyone redeemed it.
    let tx = new_transaction_id();
    let mine = app_store_order(APP, &tx);
    let theirs = app_store_order(OTHER_APP, &tx);
    assert_eq!(
        app_store_notify(&server, store, "REFUND", &theirs).await,
        "revoked_before_redemption"
    );
    assert_eq!(
        app_store_notify(&server, store, "REFUND", &mine).await,
        "revoked_before_redemption"
    );
    // Apple reverses the refund in this app only.
    assert_eq!(
        app_store_notify(&server, store, "REFUND_REVERSED", &mine).await,
        "reinstated"
    );

    let other_receipt = store.issue(&theirs).unwrap();
    let v = server
        .verify_request(&request(OTHER_APP, "bob", &other_receipt))
        .await;
    assert_eq!(
        said(&v),
        REFUSED,
        "a reversal in {APP} removed {OTHER_APP}'s refusal"
    );
    let my_receipt = store.issue(&mine).unwrap();
    assert_eq!(said(&server.verify("alice", &my_receipt).await), FIRST);
    server.stop().await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// e. A Huawei refund of an auto-renewable subscription revokes the chain's row.

async fn a_huawei_subscription_refund_revokes_its_chain(backend: Backend) {
    let (huawei, url) = huawei_support::start_huawei().await;
    let state = state_on(backend).await;
    huawei_support::configure_huawei(&state, &url);
    let mut server = TestServer::start_on(state, |_| {}).await;

    let subscription_id = format!("{}", 1_000_000_000_000_000 + payseal_verifier::now_ms());
    let end = payseal_verifier::now_ms() + 30 * 24 * 3600 * 1000;
    let mut order = Order::subscription(
        Store::Huawei,
        APP,
        "pro_monthly",
        end,
        Some(subscription_id.clone()),
    );
    order.transaction_id = Some(huawei_support::new_order_id());
    let receipt = server.state.store.issue(&order).unwrap();
    assert_eq!(said(&server.verify("alice", &receipt).await), FIRST);

    let mut refunded = order.clone();
    refunded.state = PurchaseState::Refunded;
    huawei.lock().unwrap().orders.insert(
        "tok-sub".into(),
        server.state.store.issue(&refunded).unwrap(),
    );
    let (status, result) = huawei_support::post(
        &server,
        &huawei_support::notification(huawei_support::CLIENT_ID, 2, "tok-sub"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        said(&server.verify("alice", &receipt).await),
        REFUSED,
        "the refunded subscription still pays (the notification answered {result:?})"
    );
    assert_eq!(result.as_deref(), Some("revoked"));
    server.stop().await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// f. Unsigned notifications cannot make the verifier call Huawei at will.

/// The Order-service calls one app may make per minute by default, and at once.
const ORDER_CALLS_PER_MINUTE: usize = 20;
const CONCURRENT_ORDER_CALLS: usize = 4;

async fn unsigned_huawei_notifications_make_bounded_deduplicated_order_calls(backend: Backend) {
    let (huawei, url) = huawei_support::start_huawei().await;
    huawei.lock().unwrap().delay = Duration::from_millis(100);
    let state = state_on(backend).await;
    huawei_support::configure_huawei(&state, &url);
    let mut server = TestServer::start_on(state, |_| {}).await;

    let post_all = |bodies: Vec<String>| {
        let tasks: Vec<_> = bodies
            .into_iter()
            .map(|body| {
                tokio::spawn(huawei_support::post_to(
                    server.client.clone(),
                    server.url(huawei_support::PATH),
                    body,
                ))
            })
            .collect();
        async move {
            let mut answers = Vec::new();
            for t in tasks {
                answers.push(t.await.unwrap());
            }
            answers
        }
    };

    // Forty copies of one refund notification (anyone can send them: they are not signed).
    let same = huawei_support::notification(huawei_support::CLIENT_ID, 2, "tok-flood");
    let answers = post_all(vec![same; 40]).await;
    let calls = huawei.lock().unwrap().verify_requests;
    assert_eq!(
        calls, 1,
        "forty copies of one notification made {calls} Order-service calls"
    );
    assert!(
        answers
            .iter()
            .all(|a| *a == (200, Some("not_found".to_string()))),
        "{answers:?}"
    );

    // Forty notifications of forty different tokens: bounded per minute and at once; the rest
    // are answered 503 (Huawei notifies again later).
    let bodies = (0..40)
        .map(|i| {
            huawei_support::notification(huawei_support::CLIENT_ID, 2, &format!("tok-many-{i}"))
        })
        .collect();
    let answers = post_all(bodies).await;
    let (calls, max_in_flight) = {
        let h = huawei.lock().unwrap();
        (h.verify_requests, h.max_in_flight)
    };
    assert!(
        calls <= ORDER_CALLS_PER_MINUTE,
        "{calls} Order-service calls within a minute"
    );
    assert!(
        max_in_flight <= CONCURRENT_ORDER_CALLS,
        "{max_in_flight} Order-service calls at once"
    );
    let deferred = answers.iter().filter(|a| a.0 == 503).count();
    assert_eq!(deferred, 40 - (calls - 1), "{answers:?}");

    let text = server.metrics_text().await;
    let metric = |result: &str| {
        common::metric_value(
            &text,
            &format!("payseal_store_outbound_calls_total{{store=\"huawei\",result=\"{result}\"}}"),
        )
    };
    assert_eq!(metric("called") as usize, calls, "{text}");
    assert_eq!(metric("deduplicated"), 39.0, "{text}");
    assert_eq!(metric("rate_limited") as usize, deferred, "{text}");
    server.stop().await.unwrap();
}
