//! Google Play acknowledgements after the first redemption, run on any ledger backend (the
//! state directory's configured ledger: SQLite, or PostgreSQL after `use_postgres`), against
//! the fake Play Developer API.

use std::time::{Duration, Instant};

use payseal_protocol::{Outcome, Reason, Receipt, Redemption, Store};
use payseal_sandbox::{Order, ProductType, PurchaseState};
use payseal_verifier::ledger::outbox::{DeliveryState, OutboxFilter};

use super::voided_scenario::purchase_token;
use super::{keys, FakeGoogle, API_ACCOUNT};
use crate::common::{play_order_id, StateDir, TestServer, APP};

/// Append `[apps."APP".google_play.api]` naming the fake, with `consumables`, and a key file
/// for the API service account beside the config.
pub fn configure_api(state: &StateDir, google: &FakeGoogle, consumables: &[&str]) {
    configure_api_with(state, google, consumables, "");
}

/// [`configure_api`] with `extra` lines in the table (`live_check = true`, ...).
pub fn configure_api_with(
    state: &StateDir,
    google: &FakeGoogle,
    consumables: &[&str],
    extra: &str,
) {
    let dir = state.paths.config.parent().unwrap();
    let key_path = dir.join("play-api-account.json");
    std::fs::write(&key_path, google.key_file(API_ACCOUNT, &keys()[3])).unwrap();
    let list: Vec<String> = consumables.iter().map(|c| format!("{c:?}")).collect();
    let mut text = std::fs::read_to_string(&state.paths.config).unwrap();
    text.push_str(&format!(
        "\n[apps.\"{APP}\".google_play.api]\nservice_account_key = \"play-api-account.json\"\n\
         api_base = \"{}\"\nrequest_timeout_ms = 2000\nretry_base_ms = 100\nretry_max_ms = 400\n\
         max_attempts = 2\nconsumable_products = [{}]\n{extra}\n",
        google.url(""),
        list.join(", ")
    ));
    std::fs::write(&state.paths.config, text).unwrap();
}

/// A Play one-time purchase of `product`, also held by the fake as purchased.
pub fn buy(state: &StateDir, google: &FakeGoogle, product: &str) -> Receipt {
    let r = state
        .store
        .issue(&Order::new(Store::GooglePlay, APP, product))
        .unwrap();
    google.add_product(APP, product, &purchase_token(&r), &play_order_id(&r), 0);
    r
}

/// Wait until `pred` holds over the fake's purchase-endpoint calls.
pub async fn wait_calls(google: &FakeGoogle, what: &str, pred: impl Fn(&[String]) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let calls = google.purchase_calls();
        if pred(&calls) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not reached; calls: {calls:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn count(calls: &[String], endpoint: &str) -> usize {
    calls.iter().filter(|c| c.as_str() == endpoint).count()
}

/// Every acknowledgement row of the state's ledger.
pub async fn ack_rows(state: &StateDir) -> Vec<payseal_verifier::ledger::acks::Acknowledgement> {
    let settings = state.settings();
    let ledger = payseal_verifier::ledger::connect(&settings.ledger_url, &settings.ledger)
        .await
        .unwrap();
    ledger.list_acks(OutboxFilter::All, 100).await.unwrap()
}

/// First redemptions are acknowledged once (consumed when listed, read back as done when the
/// app acknowledged on the device already, subscriptions through their own endpoint); repeats,
/// other accounts and refused purchases queue nothing.
pub async fn acknowledged_once(state: StateDir) {
    let google = FakeGoogle::start().await;
    google.register_account(API_ACCOUNT, &keys()[3]);
    configure_api(&state, &google, &["coins_100"]);
    let server = TestServer::start_on(state, |_| {}).await;
    let st = &server.state;

    let coins = buy(st, &google, "coins_100");
    let sword = buy(st, &google, "sword");
    let shield = buy(st, &google, "shield");
    {
        // The app acknowledged this one on the device already.
        let mut s = google.state.lock().unwrap();
        let key = (
            APP.to_string(),
            "shield".to_string(),
            purchase_token(&shield),
        );
        s.products.get_mut(&key).unwrap()["acknowledgementState"] = 1.into();
    }
    let sub = st
        .store
        .issue(&Order {
            product_type: ProductType::AutoRenewableSubscription,
            ..Order::new(Store::GooglePlay, APP, "gold")
        })
        .unwrap();
    google.add_subscription(
        APP,
        "gold",
        &purchase_token(&sub),
        "SUBSCRIPTION_STATE_ACTIVE",
        payseal_verifier::now_ms() + 86_400_000,
        None,
    );
    let pending = st
        .store
        .issue(&Order {
            state: PurchaseState::Pending,
            ..Order::new(Store::GooglePlay, APP, "coins_100")
        })
        .unwrap();

    for r in [&coins, &sword, &shield, &sub] {
        assert_eq!(
            server.verify("alice", r).await.redemption,
            Some(Redemption::First)
        );
    }
    assert_eq!(
        server.verify("alice", &coins).await.redemption,
        Some(Redemption::Repeat)
    );
    let other = server.verify("bob", &coins).await;
    assert_eq!(other.reason, Some(Reason::AlreadyRedeemed));
    let refused = server.verify("alice", &pending).await;
    assert_eq!(
        (refused.outcome, refused.reason),
        (Outcome::NotPaid, Some(Reason::NotPurchased))
    );

    wait_calls(&google, "all four done", |c| {
        count(c, "purchases.products.consume") == 1
            && count(c, "purchases.products.acknowledge") == 2
            && count(c, "purchases.subscriptions.acknowledge") == 1
            && count(c, "purchases.products.get") == 1
    })
    .await;
    // Give a second (wrong) attempt time to show.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let calls = google.purchase_calls();
    assert_eq!(count(&calls, "purchases.products.consume"), 1, "{calls:?}");
    assert_eq!(
        count(&calls, "purchases.products.acknowledge"),
        2,
        "{calls:?}"
    );
    assert_eq!(
        count(&calls, "purchases.subscriptions.acknowledge"),
        1,
        "{calls:?}"
    );
    // Only the already-acknowledged one was read back.
    assert_eq!(count(&calls, "purchases.products.get"), 1, "{calls:?}");
    assert_eq!(calls.len(), 5, "{calls:?}");

    let coins_now = google
        .product(APP, "coins_100", &purchase_token(&coins))
        .unwrap();
    assert_eq!(coins_now["consumptionState"], 1);
    let sword_now = google
        .product(APP, "sword", &purchase_token(&sword))
        .unwrap();
    assert_eq!(
        (
            sword_now["acknowledgementState"].clone(),
            sword_now["consumptionState"].clone()
        ),
        (1.into(), 0.into())
    );
    assert_eq!(
        google.subscription(APP, &purchase_token(&sub)).unwrap()["acknowledgementState"],
        "ACKNOWLEDGEMENT_STATE_ACKNOWLEDGED"
    );

    let mut server = server;
    let text = server.metrics_text().await;
    for (line, n) in [
        (
            "payseal_google_play_acks_total{action=\"consume\",result=\"done\"}",
            1.0,
        ),
        (
            "payseal_google_play_acks_total{action=\"acknowledge\",result=\"done\"}",
            2.0,
        ),
        (
            "payseal_google_play_acks_total{action=\"acknowledge_subscription\",result=\"done\"}",
            1.0,
        ),
        ("payseal_google_play_acks_pending", 0.0),
    ] {
        assert_eq!(
            crate::common::metric_value(&text, line),
            n,
            "{line}\n{text}"
        );
    }
    server.stop().await.unwrap();
    let rows = ack_rows(&server.state).await;
    assert_eq!(rows.len(), 4, "one per first redemption: {rows:?}");
    assert!(
        rows.iter().all(|r| r.state == DeliveryState::Delivered),
        "{rows:?}"
    );
}

/// Google down while the first verifier runs: the row waits in the ledger, retried; a
/// restarted verifier acknowledges it once Google is back.
pub async fn survives_restart(state: StateDir) {
    let google = FakeGoogle::start().await;
    google.register_account(API_ACCOUNT, &keys()[3]);
    configure_api(&state, &google, &[]);
    google.state.lock().unwrap().fail_next.extend([503; 1000]);
    let mut server = TestServer::start_on(state, |_| {}).await;
    let sword = buy(&server.state, &google, "sword");
    assert_eq!(
        server.verify("alice", &sword).await.redemption,
        Some(Redemption::First)
    );
    wait_calls(&google, "retried while Google is down", |c| c.len() >= 2).await;
    // The failed attempt is recorded (the row waits for its next attempt).
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ack_rows(&server.state)
        .await
        .iter()
        .any(|r| r.last_error.is_some())
    {
        assert!(Instant::now() < deadline, "no failed attempt recorded");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.stop().await.unwrap();
    let state = std::mem::replace(&mut server.state, StateDir::new());
    let rows = ack_rows(&state).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].state, DeliveryState::Pending, "{rows:?}");
    assert!(
        rows[0]
            .last_error
            .as_deref()
            .unwrap_or("")
            .contains("UNAVAILABLE"),
        "{rows:?}"
    );

    {
        let mut s = google.state.lock().unwrap();
        s.fail_next.clear();
        s.api_requests.clear();
    }
    let mut server = TestServer::start_on(state, |_| {}).await;
    wait_calls(&google, "acknowledged after restart", |c| {
        count(c, "purchases.products.acknowledge") == 1
    })
    .await;
    server.stop().await.unwrap();
    let rows = ack_rows(&server.state).await;
    assert_eq!(rows[0].state, DeliveryState::Delivered, "{rows:?}");
    assert_eq!(
        google
            .product(APP, "sword", &purchase_token(&sword))
            .unwrap()["acknowledgementState"],
        1
    );
}

/// Two verifier instances on one PostgreSQL ledger, both with the API: every first redemption,
/// whichever instance took it, is acknowledged exactly once.
pub async fn two_instances(state_a: StateDir, state_b: StateDir) {
    let google = FakeGoogle::start().await;
    google.register_account(API_ACCOUNT, &keys()[3]);
    configure_api(&state_a, &google, &["coins_100"]);
    configure_api(&state_b, &google, &["coins_100"]);
    // Both instances' attempts slowed, so their polls overlap.
    google.state.lock().unwrap().api_delay = Duration::from_millis(50);
    let a = TestServer::start_on(state_a, |_| {}).await;
    let b = TestServer::start_on(state_b, |_| {}).await;
    let mut tokens = Vec::new();
    for i in 0..8 {
        let product = if i % 2 == 0 { "coins_100" } else { "sword" };
        let r = buy(&a.state, &google, product);
        let server = if i % 3 == 0 { &a } else { &b };
        assert_eq!(
            server.verify("alice", &r).await.redemption,
            Some(Redemption::First)
        );
        tokens.push(purchase_token(&r));
    }
    wait_calls(&google, "eight done", |c| {
        count(c, "purchases.products.consume") + count(c, "purchases.products.acknowledge") >= 8
    })
    .await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let calls = google.purchase_calls();
    assert_eq!(count(&calls, "purchases.products.consume"), 4, "{calls:?}");
    assert_eq!(
        count(&calls, "purchases.products.acknowledge"),
        4,
        "{calls:?}"
    );
    assert_eq!(calls.len(), 8, "exactly once each: {calls:?}");
    for (mut s, _) in [(a, ()), (b, ())] {
        s.stop().await.unwrap();
    }
}

/// The real `payseal-verifier serve` killed (SIGKILL) while its acknowledgement call is in
/// flight, after the redemption committed: the row stays claimed in the ledger file, and the
/// verifier started again on it takes the row when its lease ends and acknowledges it once.
pub async fn survives_sigkill_mid_attempt(state: StateDir) {
    use crate::common::free_port;
    use crate::common::process::{serve, verify_at};

    let google = FakeGoogle::start().await;
    google.register_account(API_ACCOUNT, &keys()[3]);
    configure_api(&state, &google, &[]);
    // Google answers late: the acknowledgement is in flight when the verifier dies.
    google.state.lock().unwrap().api_delay = Duration::from_secs(30);
    let port = free_port();
    let first = serve(&state, port, "run-1.log").await;
    let sword = buy(&state, &google, "sword");
    assert_eq!(
        verify_at(&state, port, "alice", &sword).await.redemption,
        Some(Redemption::First)
    );
    wait_calls(&google, "the acknowledgement in flight", |c| {
        count(c, "purchases.products.acknowledge") == 1
    })
    .await;
    drop(first); // SIGKILL, mid-call
    let rows = ack_rows(&state).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].state, DeliveryState::Pending, "{rows:?}");
    let product = |google: &FakeGoogle| {
        google
            .product(APP, "sword", &purchase_token(&sword))
            .unwrap()["acknowledgementState"]
            .clone()
    };
    assert_eq!(product(&google), 0, "the killed call never completed");

    {
        let mut s = google.state.lock().unwrap();
        s.api_delay = Duration::ZERO;
        s.api_requests.clear();
    }
    let second = serve(&state, port, "run-2.log").await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while product(&google) != 1 {
        assert!(
            Instant::now() < deadline,
            "not acknowledged after the restart: {:?}",
            google.purchase_calls()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Give a second (wrong) attempt time to show.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let calls = google.purchase_calls();
    assert_eq!(
        calls,
        ["purchases.products.acknowledge"],
        "once after the restart"
    );
    drop(second);
    let rows = ack_rows(&state).await;
    assert_eq!(rows[0].state, DeliveryState::Delivered, "{rows:?}");
}
