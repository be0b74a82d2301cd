//! Product and account binding over real HTTP and TLS, with store-format purchases signed by
//! the sandbox store: a genuine cheap receipt presented for an expensive product
//! (`wrong_product`), a receipt whose store account token is another account's
//! (`wrong_account`). Neither records a redemption or sends a webhook, and the same receipt
//! still pays for its own product and account.

mod common;
mod webhook_support;

use std::time::Duration;

use common::{request, TestServer, APP};
use payseal_protocol::{AccountBinding, Outcome, Reason, Receipt, Redemption, Store};
use payseal_sandbox::Order;
use payseal_verifier::dev::DEV_ACCOUNT_NAMESPACE;
use webhook_support::{configure, RunningReceiver};

const CHEAP: &str = "gems_100";
const EXPENSIVE: &str = "gems_10000";

fn issue(server: &TestServer, store: Store, product: &str, token: Option<String>) -> Receipt {
    let mut order = Order::new(store, APP, product);
    order.account_token = token;
    server.state.store.issue(&order).unwrap()
}

fn dev_binding() -> AccountBinding {
    AccountBinding::uuid_v5(DEV_ACCOUNT_NAMESPACE).unwrap()
}

async fn verify_for(
    server: &TestServer,
    account: &str,
    receipt: &Receipt,
    product: Option<&str>,
) -> payseal_protocol::VerdictClaims {
    let mut r = request(APP, account, receipt);
    r.expected_product_id = product.map(str::to_string);
    server.verify_request(&r).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cheap_receipt_for_an_expensive_product_is_wrong_product_on_every_store() {
    let mut server = TestServer::start().await;
    let ledger = server.state.ledger();
    for (n, store) in [
        Store::GooglePlay,
        Store::AppStore,
        Store::Huawei,
        Store::Sandbox,
    ]
    .into_iter()
    .enumerate()
    {
        let cheap = issue(&server, store, CHEAP, None);
        // The substitution: refused before the ledger, the receipt's own product reported.
        let v = verify_for(&server, "alice", &cheap, Some(EXPENSIVE)).await;
        assert_eq!(v.outcome, Outcome::NotPaid, "{store}: {v:?}");
        assert_eq!(v.reason, Some(Reason::WrongProduct), "{store}");
        assert_eq!(v.redemption, None);
        assert_eq!(v.product_id.as_deref(), Some(CHEAP), "{store}");
        assert!(v.transaction_id.is_some());
        assert_eq!(
            ledger.count().unwrap(),
            n as u64,
            "{store}: nothing recorded"
        );

        // Not consumed: the same receipt pays for its own product, first redemption.
        let v = verify_for(&server, "alice", &cheap, Some(CHEAP)).await;
        assert_eq!(
            (v.outcome, v.redemption),
            (Outcome::Paid, Some(Redemption::First)),
            "{store}: {v:?}"
        );
        let first = v.jti.clone();
        assert_eq!(ledger.count().unwrap(), n as u64 + 1);

        // A repeat presentation for another product: wrong_product, nothing changed.
        let v = verify_for(&server, "alice", &cheap, Some(EXPENSIVE)).await;
        assert_eq!(v.reason, Some(Reason::WrongProduct), "{store}");
        let key = v.transaction_id.clone().unwrap();
        let row = ledger.lookup(store, APP, &key).unwrap().unwrap();
        assert_eq!(
            (row.account_id.as_str(), row.first_verdict_id.as_str()),
            ("alice", first.as_str())
        );
        // ... and for its own product, or without an expected product, a repeat.
        let v = verify_for(&server, "alice", &cheap, Some(CHEAP)).await;
        assert_eq!(v.redemption, Some(Redemption::Repeat), "{store}");
        let v = verify_for(&server, "alice", &cheap, None).await;
        assert_eq!(v.redemption, Some(Redemption::Repeat), "{store}");
        // Another account: already_redeemed for the right product, wrong_product otherwise.
        let v = verify_for(&server, "mallory", &cheap, Some(CHEAP)).await;
        assert_eq!(v.reason, Some(Reason::AlreadyRedeemed), "{store}");
        let v = verify_for(&server, "mallory", &cheap, Some(EXPENSIVE)).await;
        assert_eq!(v.reason, Some(Reason::WrongProduct), "{store}");
    }
    assert_eq!(ledger.count().unwrap(), 4);
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_product_and_wrong_account_send_no_webhook() {
    let receiver = RunningReceiver::start(0).await;
    let state = common::StateDir::new();
    configure(&state.paths.config, &receiver.url());
    let mut server = TestServer::start_on(state, |_| {}).await;

    let cheap = issue(&server, Store::GooglePlay, CHEAP, None);
    let v = verify_for(&server, "alice", &cheap, Some(EXPENSIVE)).await;
    assert_eq!(v.reason, Some(Reason::WrongProduct));
    let bound = issue(
        &server,
        Store::AppStore,
        CHEAP,
        Some(dev_binding().token("alice")),
    );
    let v = verify_for(&server, "mallory", &bound, None).await;
    assert_eq!(v.reason, Some(Reason::WrongAccount));

    // The genuine presentations: exactly their two events arrive, nothing for the refusals.
    let paid = verify_for(&server, "alice", &cheap, Some(CHEAP)).await;
    let owner = verify_for(&server, "alice", &bound, Some(CHEAP)).await;
    assert_eq!(paid.redemption, Some(Redemption::First));
    assert_eq!(owner.redemption, Some(Redemption::First));
    receiver
        .wait_for(Duration::from_secs(30), "2 events", |s| s.events.len() >= 2)
        .await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let mut ids: Vec<String> = receiver.events().into_iter().map(|e| e.id).collect();
    ids.sort();
    let mut want = vec![paid.jti, owner.jti];
    want.sort();
    assert_eq!(ids, want);
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receipt_bound_to_another_account_is_wrong_account() {
    let mut server = TestServer::start().await;
    let ledger = server.state.ledger();
    let binding = dev_binding();
    for store in [Store::GooglePlay, Store::AppStore] {
        let before = ledger.count().unwrap();
        let receipt = issue(&server, store, CHEAP, Some(binding.token("alice")));
        // Replayed from another account: refused by the store's own signed binding, even
        // before any redemption exists (the ledger alone would have paid the first presenter).
        let v = verify_for(&server, "mallory", &receipt, None).await;
        assert_eq!(v.outcome, Outcome::NotPaid, "{store}: {v:?}");
        assert_eq!(v.reason, Some(Reason::WrongAccount), "{store}");
        assert_eq!(v.product_id.as_deref(), Some(CHEAP));
        assert_eq!(ledger.count().unwrap(), before, "{store}: nothing recorded");
        // The account checks before the product.
        let v = verify_for(&server, "mallory", &receipt, Some(EXPENSIVE)).await;
        assert_eq!(v.reason, Some(Reason::WrongAccount), "{store}");
        // Its own account: paid, first.
        let v = verify_for(&server, "alice", &receipt, Some(CHEAP)).await;
        assert_eq!(
            (v.outcome, v.redemption),
            (Outcome::Paid, Some(Redemption::First)),
            "{store}"
        );
        // A token of another derivation (the account id itself) binds nobody.
        let raw = issue(&server, store, CHEAP, Some(binding.token("bob")));
        let v = verify_for(&server, "alice", &raw, None).await;
        assert_eq!(v.reason, Some(Reason::WrongAccount), "{store}");
        // No token (an older purchase, or an app that did not set one): paid by default.
        let untokened = issue(&server, store, CHEAP, None);
        let v = verify_for(&server, "carol", &untokened, None).await;
        assert_eq!(v.outcome, Outcome::Paid, "{store}");
    }
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn required_binding_refuses_untokened_play_and_app_store_receipts_only() {
    let state = common::StateDir::new();
    let text = std::fs::read_to_string(&state.paths.config).unwrap();
    let text = text.replacen("required = false", "required = true", 1);
    std::fs::write(&state.paths.config, text).unwrap();
    let mut server = TestServer::start_on(state, |_| {}).await;
    for store in [Store::GooglePlay, Store::AppStore] {
        let untokened = issue(&server, store, CHEAP, None);
        let v = verify_for(&server, "alice", &untokened, None).await;
        assert_eq!(v.reason, Some(Reason::WrongAccount), "{store}");
        let bound = issue(&server, store, CHEAP, Some(dev_binding().token("alice")));
        let v = verify_for(&server, "alice", &bound, None).await;
        assert_eq!(v.outcome, Outcome::Paid, "{store}");
    }
    // Huawei and the sandbox store have no token field: not bound.
    for store in [Store::Huawei, Store::Sandbox] {
        let receipt = issue(&server, store, CHEAP, None);
        let v = verify_for(&server, "alice", &receipt, None).await;
        assert_eq!(v.outcome, Outcome::Paid, "{store}");
    }
    assert_eq!(server.state.ledger().count().unwrap(), 4);
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_out_of_range_expected_product_is_a_400_that_records_nothing() {
    let mut server = TestServer::start().await;
    let receipt = issue(&server, Store::GooglePlay, CHEAP, None);
    for bad in [String::new(), " ".into(), "p".repeat(257)] {
        let mut r = request(APP, "alice", &receipt);
        r.expected_product_id = Some(bad);
        let (body, _) = server.seal(&r);
        let response = server.post(body).await;
        // A plain problem document that names no rule (nothing that helps an attacker).
        assert_eq!(response.status(), 400);
    }
    assert_eq!(server.state.ledger().count().unwrap(), 0);
    server.stop().await.unwrap();
}
