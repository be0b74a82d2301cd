//! The Play live check (`live_check = true`): a first presentation is confirmed with the fake
//! Play Developer API (`purchases.products.get`, `purchases.subscriptionsv2.get`), a repeat
//! asks Google nothing; every `purchaseState` and `subscriptionState` gets its verdict (a
//! cancelled one is recorded and refused from then on, a grace period pays, on hold / paused /
//! expired / pending do not, with their reason); Google down under both
//! `on_store_unavailable` settings.

mod common;
mod google_support;
#[path = "../../protocol/tests/v1/mod.rs"]
mod v1;
mod webhook_support;

use common::{request, StateDir, TestServer, APP};
use google_support::ack_scenario::{buy, configure_api_with};
use google_support::voided_scenario::purchase_token;
use google_support::{keys, FakeGoogle, API_ACCOUNT};
use payseal_protocol::{Outcome, Reason, Redemption, Store, SubscriptionState};
use payseal_sandbox::{Order, ProductType};

async fn start(extra: &str) -> (FakeGoogle, TestServer) {
    let google = FakeGoogle::start().await;
    google.register_account(API_ACCOUNT, &keys()[3]);
    let state = StateDir::new();
    configure_api_with(&state, &google, &[], &format!("live_check = true\n{extra}"));
    let server = TestServer::start_on(state, |_| {}).await;
    (google, server)
}

fn gets(google: &FakeGoogle) -> usize {
    google
        .purchase_calls()
        .iter()
        .filter(|c| c.ends_with(".get"))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_time_purchases_are_confirmed_once_and_refunds_recorded() {
    let (google, mut server) = start("").await;
    let paid = buy(&server.state, &google, "sword");
    let v = server.verify("alice", &paid).await;
    assert_eq!(
        (v.outcome, v.redemption),
        (Outcome::Paid, Some(Redemption::First))
    );
    assert_eq!(v.store_checked, Some(true));
    assert_eq!(gets(&google), 1);
    let again = server.verify("alice", &paid).await;
    assert_eq!(again.redemption, Some(Redemption::Repeat));
    assert_eq!(gets(&google), 1, "a repeat asks Google nothing");

    let refunded = buy(&server.state, &google, "shield");
    {
        let mut s = google.state.lock().unwrap();
        let key = (
            APP.to_string(),
            "shield".to_string(),
            purchase_token(&refunded),
        );
        s.products.get_mut(&key).unwrap()["purchaseState"] = 1.into();
    }
    let v = server.verify("alice", &refunded).await;
    assert_eq!(
        (v.outcome, v.reason),
        (Outcome::NotPaid, Some(Reason::Revoked))
    );
    assert_eq!(v.store_checked, Some(true));
    // Recorded: refused from the ledger now, without asking Google again.
    let before = gets(&google);
    let v = server.verify("bob", &refunded).await;
    assert_eq!(v.reason, Some(Reason::Revoked));
    assert_eq!(gets(&google), before);

    let pending = buy(&server.state, &google, "potion");
    {
        let mut s = google.state.lock().unwrap();
        let key = (
            APP.to_string(),
            "potion".to_string(),
            purchase_token(&pending),
        );
        s.products.get_mut(&key).unwrap()["purchaseState"] = 2.into();
    }
    let v = server.verify("alice", &pending).await;
    assert_eq!(
        (v.outcome, v.reason),
        (Outcome::NotPaid, Some(Reason::NotPurchased))
    );
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_subscription_state_gets_its_verdict() {
    let (google, mut server) = start("").await;
    let end = payseal_verifier::now_ms() + 3 * 86_400_000;
    for (state, claim, reason) in [
        ("SUBSCRIPTION_STATE_ACTIVE", SubscriptionState::Active, None),
        (
            "SUBSCRIPTION_STATE_IN_GRACE_PERIOD",
            SubscriptionState::InGracePeriod,
            None,
        ),
        (
            "SUBSCRIPTION_STATE_CANCELED",
            SubscriptionState::Canceled,
            None,
        ),
        (
            "SUBSCRIPTION_STATE_ON_HOLD",
            SubscriptionState::OnHold,
            Some(Reason::OnHold),
        ),
        (
            "SUBSCRIPTION_STATE_PAUSED",
            SubscriptionState::Paused,
            Some(Reason::Paused),
        ),
        (
            "SUBSCRIPTION_STATE_EXPIRED",
            SubscriptionState::Expired,
            Some(Reason::Expired),
        ),
        (
            "SUBSCRIPTION_STATE_PENDING",
            SubscriptionState::Pending,
            Some(Reason::NotPurchased),
        ),
    ] {
        let r = server
            .state
            .store
            .issue(&Order {
                product_type: ProductType::AutoRenewableSubscription,
                ..Order::new(Store::GooglePlay, APP, "gold")
            })
            .unwrap();
        google.add_subscription(APP, "gold", &purchase_token(&r), state, end, None);
        let v = server.verify("alice", &r).await;
        assert_eq!(v.subscription_state, Some(claim), "{state}");
        assert_eq!(v.store_checked, Some(true), "{state}");
        assert_eq!(v.reason, reason, "{state}");
        assert_eq!(v.outcome == Outcome::Paid, reason.is_none(), "{state}");
        assert_eq!(v.expires_at, Some(end), "the latest expiryTime: {state}");
    }
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn google_down_pays_on_the_signature_by_default_and_says_so() {
    let (google, mut server) = start("").await;
    google.state.lock().unwrap().fail_next.extend([503; 100]);
    let r = buy(&server.state, &google, "sword");
    let v = server.verify("alice", &r).await;
    assert_eq!(
        (v.outcome, v.redemption),
        (Outcome::Paid, Some(Redemption::First))
    );
    assert_eq!(v.store_checked, Some(false));
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn google_down_with_retry_answers_503_and_records_nothing() {
    let (google, mut server) = start("on_store_unavailable = \"retry\"").await;
    google.state.lock().unwrap().fail_next.extend([503; 100]);
    let r = buy(&server.state, &google, "sword");
    let (body, _ctx) = server.seal(&request(APP, "alice", &r));
    let response = server.post(body).await;
    assert_eq!(response.status(), 503);
    assert!(response.headers().get("retry-after").is_some());
    assert_eq!(
        server.state.ledger().count().unwrap(),
        0,
        "nothing recorded"
    );
    // Google back: the SDK's retry is paid and checked.
    google.state.lock().unwrap().fail_next.clear();
    let v = server.verify("alice", &r).await;
    assert_eq!((v.outcome, v.store_checked), (Outcome::Paid, Some(true)));
    server.stop().await.unwrap();
}

/// An upgrade (`linkedPurchaseToken` naming the old chain) stays with the old chain's owner.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upgrade_stays_with_the_owner_of_the_chain_it_replaces() {
    let (google, mut server) = start("").await;
    let end = payseal_verifier::now_ms() + 3 * 86_400_000;
    let sub = |product: &str| {
        server
            .state
            .store
            .issue(&Order {
                product_type: ProductType::AutoRenewableSubscription,
                ..Order::new(Store::GooglePlay, APP, product)
            })
            .unwrap()
    };
    let (silver, gold, other_gold) = (sub("silver"), sub("gold"), sub("gold"));
    let old = purchase_token(&silver);
    google.add_subscription(APP, "silver", &old, "SUBSCRIPTION_STATE_EXPIRED", end, None);
    google.add_subscription(
        APP,
        "gold",
        &purchase_token(&gold),
        "SUBSCRIPTION_STATE_ACTIVE",
        end,
        Some(&old),
    );
    google.add_subscription(
        APP,
        "gold",
        &purchase_token(&other_gold),
        "SUBSCRIPTION_STATE_ACTIVE",
        end,
        Some(&old),
    );
    // alice owned the silver chain (redeemed while it was active).
    google
        .state
        .lock()
        .unwrap()
        .subscriptions
        .get_mut(&(APP.to_string(), old.clone()))
        .unwrap()["subscriptionState"] = "SUBSCRIPTION_STATE_ACTIVE".into();
    assert_eq!(
        server.verify("alice", &silver).await.redemption,
        Some(Redemption::First)
    );
    // bob presenting an upgrade of alice's chain is refused; alice's is paid.
    let v = server.verify("bob", &other_gold).await;
    assert_eq!(
        (v.outcome, v.reason),
        (Outcome::NotPaid, Some(Reason::AlreadyRedeemed))
    );
    let v = server.verify("alice", &gold).await;
    assert_eq!(
        (v.outcome, v.redemption),
        (Outcome::Paid, Some(Redemption::First))
    );
    assert_eq!(v.subscription_state, Some(SubscriptionState::Active));
    server.stop().await.unwrap();
}

/// An SDK already shipped (protocol v1) is answered in v1 also when the live check decided:
/// no `subscription_state` or `store_checked`, and `on_hold` as v1's `not_purchased`; the same
/// subscription to a v2 request says `on_hold`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_v1_sdk_gets_the_live_decision_in_v1_words() {
    let (google, mut server) = start("").await;
    let end = payseal_verifier::now_ms() + 86_400_000;
    let r = server
        .state
        .store
        .issue(&Order {
            product_type: ProductType::AutoRenewableSubscription,
            ..Order::new(Store::GooglePlay, APP, "gold")
        })
        .unwrap();
    google.add_subscription(
        APP,
        "gold",
        &purchase_token(&r),
        "SUBSCRIPTION_STATE_ON_HOLD",
        end,
        None,
    );
    let mut old = request(APP, "alice", &r);
    old.v = 1;
    let (body, ctx) = server.seal(&old);
    let response = server.post(body).await;
    assert_eq!(response.status(), 200);
    let plain = ctx.open_response(&response.bytes().await.unwrap()).unwrap();
    // What an SDK already shipped parses it with (it refuses unknown claims and reasons).
    let v1 = v1::parse_token_claims(&v1::parse_response(&plain).unwrap().verdict).unwrap();
    assert_eq!(
        (v1.outcome, v1.reason),
        (v1::Outcome::NotPaid, Some(v1::Reason::NotPurchased))
    );
    let v2 = server.verify("alice", &r).await;
    assert_eq!(v2.reason, Some(Reason::OnHold));
    assert_eq!(v2.subscription_state, Some(SubscriptionState::OnHold));
    server.stop().await.unwrap();
}
