//! The App Store subscription lifecycle, run on any ledger backend (the state directory's
//! configured ledger: SQLite, or PostgreSQL after `use_postgres`).
//!
//! A verifier with the app's App Store Server API key (the fake Apple API of `apple_support`,
//! which checks every request's ES256 token) and a webhook. Notifications V2 are signed by the
//! sandbox store's App Store CA in Apple's shapes, with their `signedRenewalInfo`:
//!
//! 1. First redemption: Get All Subscription Statuses is asked (once: never on a repeat); the
//!    verdict says `active`, `expires_at`, `store_checked`; the chain's row stores the state.
//! 2. `DID_RENEW`: the period end moves forward, `subscription.updated` is sent (once: the
//!    retried notification is a duplicate); `DID_CHANGE_RENEWAL_STATUS` off → `canceled`
//!    (still paid), on → `active`; a late notification signed before the stored answer changes
//!    nothing; a forged `signedRenewalInfo` is refused (403) and changes nothing.
//! 3. `DID_FAIL_TO_RENEW` / `GRACE_PERIOD`: a transaction whose period ended pays with
//!    `in_grace_period` until `gracePeriodExpiresDate`, then refuses (`expired`); the ledger's
//!    entitlement rule agrees each time. `GRACE_PERIOD_EXPIRED` → `on_hold`;
//!    `DID_RENEW` (`BILLING_RECOVERY`) → `active`; `DID_FAIL_TO_RENEW` without grace →
//!    `on_hold`; `EXPIRED` → `expired`; `SUBSCRIBED` (`RESUBSCRIBE`) and `OFFER_REDEEMED` →
//!    `active`; `REVOKE` revokes the chain.
//! 4. First redemptions Apple answers otherwise: billing grace (a lapsed transaction pays),
//!    billing retry, expired, revoked, an unknown transaction (`404`, Apple's error body).

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use payseal_protocol::webhook::{EventKind, SubscriptionUpdatedData};
use payseal_protocol::{Outcome, Reason, Receipt, Redemption, Store, SubscriptionState};
use payseal_sandbox::{AppStoreNotification, Order, RenewalSpec, SandboxStore};
use payseal_verifier::ledger::RedemptionRow;
use payseal_verifier::notifications::app_store::ROUTE;
use serde_json::Value;

use crate::apple_support::{fake_for, status_response, Fake};
use crate::common::{StateDir, TestServer, APP};
use crate::webhook_support::{configure, RunningReceiver};

pub const DAY: i64 = 86_400_000;
const PRODUCT: &str = "gold_monthly";

/// A fresh App Store transaction id.
pub fn new_id() -> String {
    format!(
        "2000000{}",
        u64::from_str_radix(&uuid::Uuid::new_v4().simple().to_string()[..8], 16).unwrap()
    )
}

/// A transaction `id` of the chain `chain` (`None`: a new chain, `id` itself) ending at `end`.
pub fn sub_order(id: &str, chain: Option<&str>, end: i64) -> Order {
    let mut o = Order::subscription(
        Store::AppStore,
        APP,
        PRODUCT,
        end,
        chain.map(str::to_string),
    );
    o.transaction_id = Some(id.to_string());
    o
}

/// A verifier with the App Store Server API (the fake) and a webhook on `state`.
pub async fn start(state: StateDir) -> (std::sync::Arc<Fake>, RunningReceiver, TestServer) {
    let receiver = RunningReceiver::start(0).await;
    configure(&state.paths.config, &receiver.url());
    let fake = fake_for(&state).await;
    let server = TestServer::start_on(state, |_| {}).await;
    (fake, receiver, server)
}

/// Apple's answer about the chain of `order` for every transaction id in `ids`.
pub fn answer(server: &TestServer, fake: &Fake, ids: &[&str], order: &Order, spec: RenewalSpec) {
    let body = status_response(
        &server.state.store,
        order,
        &spec,
        payseal_verifier::now_ms(),
    );
    let mut statuses = fake.statuses.lock().unwrap();
    for id in ids {
        statuses.insert(id.to_string(), body.clone());
    }
}

/// Signing times that always increase (each notification is newer than the last).
pub struct Clock(i64);

impl Clock {
    pub fn new() -> Self {
        Self(payseal_verifier::now_ms())
    }
    pub fn next(&mut self) -> i64 {
        self.0 = (self.0 + 1).max(payseal_verifier::now_ms());
        self.0
    }
}

/// A notification about `order` with renewal info `spec`, signed at `at_ms` by `store`.
pub fn notification(
    store: &SandboxStore,
    kind: &str,
    subtype: Option<&str>,
    order: &Order,
    spec: RenewalSpec,
    at_ms: i64,
) -> String {
    let mut n = AppStoreNotification::about(kind, order);
    n.subtype = subtype.map(str::to_string);
    n.renewal_info = true;
    n.renewal = spec;
    store.app_store_notification(&n, at_ms).unwrap()
}

/// POST a notification body; the status and `result` (`… (duplicate)` for a duplicate).
pub async fn post(server: &TestServer, body: String) -> (u16, String) {
    let response = server
        .client
        .post(server.url(ROUTE))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let v: Value = response.json().await.unwrap_or(Value::Null);
    let result = v["result"]
        .as_str()
        .or(v["reason"].as_str())
        .unwrap_or("")
        .to_string();
    if v["duplicate"].as_bool() == Some(true) {
        (status, format!("{result} (duplicate)"))
    } else {
        (status, result)
    }
}

/// The chain's row, read through the configured ledger.
pub async fn row(server: &TestServer, chain: &str) -> Option<RedemptionRow> {
    server.state.find_row(Store::AppStore, chain).await
}

/// Whether the ledger's entitlement rule (`grants`) grants `account`'s chain now.
pub async fn grants(server: &TestServer, account: &str, chain: &str) -> bool {
    server.state.grants_now(account, chain).await
}

fn updates(receiver: &RunningReceiver) -> Vec<SubscriptionUpdatedData> {
    receiver
        .events()
        .iter()
        .filter_map(|e| e.subscription_updated().unwrap())
        .collect()
}

/// `body`'s notification with its `signedRenewalInfo` replaced by one signed by `attacker`,
/// the outer payload re-signed by the genuine `store` (so only the renewal info is forged).
fn with_forged_renewal(store: &SandboxStore, attacker: &SandboxStore, body: &str) -> String {
    let outer: Value = serde_json::from_str(body).unwrap();
    let jws = outer["signedPayload"].as_str().unwrap();
    let p64 = jws.split('.').nth(1).unwrap();
    let mut payload: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p64).unwrap()).unwrap();
    let genuine = payload["data"]["signedRenewalInfo"].as_str().unwrap();
    let r64 = genuine.split('.').nth(1).unwrap();
    let renewal = String::from_utf8(URL_SAFE_NO_PAD.decode(r64).unwrap()).unwrap();
    let forged = attacker
        .sign_app_store_jws(&attacker.app_store_header(), &renewal)
        .unwrap();
    payload["data"]["signedRenewalInfo"] = Value::String(forged);
    let resigned = store
        .sign_app_store_jws(&store.app_store_header(), &payload.to_string())
        .unwrap();
    SandboxStore::app_store_notification_body(&resigned)
}

fn receipt(server: &TestServer, order: &Order) -> Receipt {
    server.state.store.issue(order).unwrap()
}

/// The scenario (module docs).
pub async fn run(state: StateDir) {
    let (fake, receiver, mut server) = start(state).await;
    let store = &server.state.store;
    let mut clock = Clock::new();
    let now = payseal_verifier::now_ms();
    let (end1, end2) = (now + 3 * DAY, now + 33 * DAY);

    // 1. First redemption: Apple is asked once.
    let chain = new_id();
    let first = sub_order(&chain, None, end1);
    answer(&server, &fake, &[&chain], &first, RenewalSpec::default());
    let r1 = receipt(&server, &first);
    let v = server.verify("alice", &r1).await;
    assert_eq!(
        (v.outcome, v.redemption, v.expires_at),
        (Outcome::Paid, Some(Redemption::First), Some(end1))
    );
    assert_eq!(
        (v.subscription_state, v.store_checked),
        (Some(SubscriptionState::Active), Some(true))
    );
    assert_eq!(
        *fake.status_calls.lock().unwrap(),
        std::slice::from_ref(&chain)
    );
    let stored = row(&server, &chain).await.unwrap();
    assert_eq!(
        (stored.subscription_state.as_deref(), stored.expires_at_ms),
        (Some("active"), Some(end1))
    );
    let again = server.verify("alice", &r1).await;
    assert_eq!(again.redemption, Some(Redemption::Repeat));
    assert_eq!(again.subscription_state, Some(SubscriptionState::Active));
    assert_eq!(
        fake.status_calls.lock().unwrap().len(),
        1,
        "never on a repeat"
    );
    // Another account presenting the chain: already redeemed, Apple not asked.
    assert_eq!(
        server.verify("mallory", &r1).await.reason,
        Some(Reason::AlreadyRedeemed)
    );
    assert_eq!(fake.status_calls.lock().unwrap().len(), 1);

    // 2. Renewed.
    let renewal = sub_order(&new_id(), Some(&chain), end2);
    let renewed = notification(
        store,
        "DID_RENEW",
        None,
        &renewal,
        RenewalSpec::default(),
        clock.next(),
    );
    assert_eq!(
        post(&server, renewed.clone()).await,
        (200, "subscription_updated".into())
    );
    assert_eq!(
        post(&server, renewed).await,
        (200, "subscription_updated (duplicate)".into())
    );
    let stored = row(&server, &chain).await.unwrap();
    assert_eq!(
        (stored.subscription_state.as_deref(), stored.expires_at_ms),
        (Some("active"), Some(end2))
    );
    let v = server.verify("alice", &r1).await;
    assert_eq!((v.outcome, v.expires_at), (Outcome::Paid, Some(end2)));
    receiver
        .wait_for(Duration::from_secs(20), "subscription.updated", |s| {
            s.events
                .iter()
                .any(|e| e.kind() == Some(EventKind::SubscriptionUpdated))
        })
        .await;
    let u = &updates(&receiver)[0];
    assert_eq!(
        (
            u.store,
            u.transaction_id.as_str(),
            u.sub.as_str(),
            u.product_id.as_str()
        ),
        (Store::AppStore, chain.as_str(), "alice", PRODUCT)
    );
    assert_eq!(
        (u.state, u.expires_at, u.cause.as_str()),
        (
            SubscriptionState::Active,
            Some(end2.div_euclid(1000)),
            "DID_RENEW"
        )
    );

    // Auto-renew turned off: canceled, still paid until the period end; then on again.
    let off = RenewalSpec {
        auto_renew_status: 0,
        ..RenewalSpec::default()
    };
    let n = notification(
        store,
        "DID_CHANGE_RENEWAL_STATUS",
        Some("AUTO_RENEW_DISABLED"),
        &renewal,
        off,
        clock.next(),
    );
    assert_eq!(post(&server, n).await, (200, "subscription_updated".into()));
    let v = server.verify("alice", &r1).await;
    assert_eq!(
        (v.outcome, v.subscription_state),
        (Outcome::Paid, Some(SubscriptionState::Canceled))
    );
    assert!(grants(&server, "alice", &chain).await);
    let n = notification(
        store,
        "DID_CHANGE_RENEWAL_STATUS",
        Some("AUTO_RENEW_ENABLED"),
        &renewal,
        RenewalSpec::default(),
        clock.next(),
    );
    assert_eq!(post(&server, n).await, (200, "subscription_updated".into()));

    // A late notification, signed an hour before the stored answer: nothing changes.
    let expired_spec = RenewalSpec {
        status: 2,
        expiration_intent: Some(1),
        auto_renew_status: 0,
        ..RenewalSpec::default()
    };
    let late = notification(
        store,
        "EXPIRED",
        Some("VOLUNTARY"),
        &renewal,
        expired_spec,
        now - 3_600_000,
    );
    assert_eq!(
        post(&server, late).await,
        (200, "subscription_unchanged".into())
    );
    assert_eq!(
        row(&server, &chain)
            .await
            .unwrap()
            .subscription_state
            .as_deref(),
        Some("active")
    );

    // A forged signedRenewalInfo (the attacker's own CA) in a genuinely signed notification.
    let attacker_dir = tempfile::tempdir().unwrap();
    let attacker = SandboxStore::open_or_create(attacker_dir.path()).unwrap();
    let lapsed = sub_order(&new_id(), Some(&chain), now - DAY);
    let far_grace = RenewalSpec {
        status: 4,
        grace_period_expires_date: Some(now + 300 * DAY),
        ..RenewalSpec::default()
    };
    let genuine = notification(
        store,
        "DID_FAIL_TO_RENEW",
        Some("GRACE_PERIOD"),
        &lapsed,
        far_grace,
        clock.next(),
    );
    let forged = with_forged_renewal(store, &attacker, &genuine);
    assert_eq!(post(&server, forged).await.0, 403, "untrusted_chain");
    let after = row(&server, &chain).await.unwrap();
    assert_eq!(
        (after.subscription_state.as_deref(), after.expires_at_ms),
        (Some("active"), Some(end2)),
        "a forged renewal info changes nothing"
    );

    // 3. Billing grace: a transaction whose period ended pays until the grace end.
    let grace_end = payseal_verifier::now_ms() + 4_000;
    let grace = RenewalSpec {
        status: 4,
        grace_period_expires_date: Some(grace_end),
        is_in_billing_retry_period: Some(true),
        ..RenewalSpec::default()
    };
    let n = notification(
        store,
        "DID_FAIL_TO_RENEW",
        Some("GRACE_PERIOD"),
        &lapsed,
        grace,
        clock.next(),
    );
    assert_eq!(post(&server, n).await, (200, "subscription_updated".into()));
    let r_lapsed = receipt(&server, &lapsed);
    let v = server.verify("alice", &r_lapsed).await;
    assert_eq!(
        (v.outcome, v.redemption, v.subscription_state, v.expires_at),
        (
            Outcome::Paid,
            Some(Redemption::Repeat),
            Some(SubscriptionState::InGracePeriod),
            Some(grace_end)
        )
    );
    assert!(grants(&server, "alice", &chain).await);
    // Another account presenting the lapsed transaction: expired (the grace is the owner's).
    assert_eq!(
        server.verify("mallory", &r_lapsed).await.reason,
        Some(Reason::Expired)
    );
    let wait = grace_end - payseal_verifier::now_ms() + 200;
    tokio::time::sleep(Duration::from_millis(wait.max(0) as u64)).await;
    let v = server.verify("alice", &r_lapsed).await;
    assert_eq!(
        (v.outcome, v.reason),
        (Outcome::NotPaid, Some(Reason::Expired)),
        "the grace ended"
    );
    assert!(!grants(&server, "alice", &chain).await);

    // The rest of the lifecycle, each deciding the next verify of the lapsed transaction.
    let retry = RenewalSpec {
        status: 3,
        is_in_billing_retry_period: Some(true),
        ..RenewalSpec::default()
    };
    let recovered_order = sub_order(&new_id(), Some(&chain), now + 60 * DAY);
    let upgraded = sub_order(&new_id(), Some(&chain), now + 90 * DAY);
    for (kind, subtype, order, spec, want, reason) in [
        (
            "GRACE_PERIOD_EXPIRED",
            None,
            &lapsed,
            retry,
            "on_hold",
            Some(Reason::OnHold),
        ),
        (
            "DID_RENEW",
            Some("BILLING_RECOVERY"),
            &recovered_order,
            RenewalSpec::default(),
            "active",
            None,
        ),
        (
            "DID_FAIL_TO_RENEW",
            None,
            &lapsed,
            retry,
            "on_hold",
            Some(Reason::OnHold),
        ),
        (
            "EXPIRED",
            Some("BILLING_RETRY"),
            &lapsed,
            RenewalSpec {
                status: 2,
                expiration_intent: Some(2),
                auto_renew_status: 0,
                ..RenewalSpec::default()
            },
            "expired",
            Some(Reason::Expired),
        ),
        (
            "SUBSCRIBED",
            Some("RESUBSCRIBE"),
            &recovered_order,
            RenewalSpec::default(),
            "active",
            None,
        ),
        (
            "OFFER_REDEEMED",
            Some("UPGRADE"),
            &upgraded,
            RenewalSpec::default(),
            "active",
            None,
        ),
    ] {
        let n = notification(store, kind, subtype, order, spec, clock.next());
        let (status, result) = post(&server, n).await;
        assert_eq!(status, 200, "{kind}");
        assert!(result.starts_with("subscription_"), "{kind}: {result}");
        let stored = row(&server, &chain).await.unwrap();
        assert_eq!(stored.subscription_state.as_deref(), Some(want), "{kind}");
        assert_eq!(
            grants(&server, "alice", &chain).await,
            reason.is_none(),
            "{kind}"
        );
        let v = server.verify("alice", &r_lapsed).await;
        assert_eq!(v.reason, reason, "{kind}");
    }

    // REVOKE (Family Sharing ended) revokes the chain.
    let n = notification(
        store,
        "REVOKE",
        None,
        &recovered_order,
        RenewalSpec {
            status: 5,
            ..RenewalSpec::default()
        },
        clock.next(),
    );
    assert_eq!(post(&server, n).await, (200, "revoked".into()));
    assert_eq!(
        server.verify("alice", &r1).await.reason,
        Some(Reason::Revoked)
    );

    // Every change told the app server once: renew, off, on, grace, then the loop's six.
    receiver
        .wait_for(Duration::from_secs(20), "ten subscription.updated", |s| {
            s.events
                .iter()
                .filter(|e| e.kind() == Some(EventKind::SubscriptionUpdated))
                .count()
                >= 10
        })
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let states: Vec<_> = updates(&receiver).iter().map(|u| u.state).collect();
    use SubscriptionState as S;
    assert_eq!(
        states,
        [
            S::Active,
            S::Canceled,
            S::Active,
            S::InGracePeriod,
            S::OnHold,
            S::Active,
            S::OnHold,
            S::Expired,
            S::Active,
            S::Active
        ]
    );

    // 4. First redemptions Apple answers otherwise.
    let lapsed_first = |id: &str| sub_order(id, None, now - DAY);
    // Billing grace: the lapsed transaction pays, first, until the grace end.
    let g = new_id();
    let grace_end = now + 5 * DAY;
    answer(
        &server,
        &fake,
        &[&g],
        &lapsed_first(&g),
        RenewalSpec {
            status: 4,
            grace_period_expires_date: Some(grace_end),
            ..RenewalSpec::default()
        },
    );
    let v = server
        .verify("bob", &receipt(&server, &lapsed_first(&g)))
        .await;
    assert_eq!(
        (
            v.outcome,
            v.redemption,
            v.subscription_state,
            v.expires_at,
            v.store_checked
        ),
        (
            Outcome::Paid,
            Some(Redemption::First),
            Some(SubscriptionState::InGracePeriod),
            Some(grace_end),
            Some(true)
        )
    );
    assert_eq!(
        row(&server, &g)
            .await
            .unwrap()
            .subscription_state
            .as_deref(),
        Some("in_grace_period")
    );
    assert!(grants(&server, "bob", &g).await);
    // Billing retry, expired, revoked: refused, nothing recorded.
    for (status, reason) in [
        (3, Reason::OnHold),
        (2, Reason::Expired),
        (5, Reason::Revoked),
    ] {
        let id = new_id();
        answer(
            &server,
            &fake,
            &[&id],
            &lapsed_first(&id),
            RenewalSpec {
                status,
                ..RenewalSpec::default()
            },
        );
        let v = server
            .verify("bob", &receipt(&server, &lapsed_first(&id)))
            .await;
        assert_eq!(
            (v.outcome, v.reason, v.store_checked),
            (Outcome::NotPaid, Some(reason), Some(true)),
            "status {status}"
        );
        assert!(row(&server, &id).await.is_none(), "status {status}");
    }
    // A transaction Apple does not know (404, errorCode 4040010): not purchased, nothing kept.
    let unknown = sub_order(&new_id(), None, end1);
    let v = server.verify("bob", &receipt(&server, &unknown)).await;
    assert_eq!(
        (v.outcome, v.reason),
        (Outcome::NotPaid, Some(Reason::NotPurchased))
    );
    assert!(row(&server, unknown.transaction_id.as_deref().unwrap())
        .await
        .is_none());
    // Every call carried a valid ES256 token.
    assert_eq!(fake.refused.load(std::sync::atomic::Ordering::SeqCst), 0);

    server.stop().await.unwrap();
}
