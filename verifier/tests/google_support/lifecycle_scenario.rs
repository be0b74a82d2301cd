//! The Play subscription lifecycle from RTDN, run on any ledger backend (the state directory's
//! configured ledger: SQLite, or PostgreSQL after `use_postgres`).
//!
//! A verifier with `[google_play.rtdn]`, the app's Play Developer API (live check on) and a
//! webhook. A subscription is verified paid; then pushes (genuine Pub/Sub tokens) name its
//! purchase token, and each time the fake Play Developer API's `subscriptionsv2` answer is
//! what the chain's row takes:
//!
//! 1. `SUBSCRIPTION_RENEWED` (Google: active, a later `expiryTime`): the row's period end moves
//!    forward and its state is `active`; the app server gets a signed `subscription.updated`;
//!    the next verify carries the new `expires_at`. Its redelivery is a duplicate (applied once).
//!    `SUBSCRIPTION_CANCELED` (Google: canceled, auto-renewal off) keeps `premium` in the signed
//!    entitlements with `will_renew: false`; `SUBSCRIPTION_RESTARTED` turns it back to `true`.
//! 2. A replayed older push (`SUBSCRIPTION_ON_HOLD` with an older event time, Google still
//!    says active) changes nothing and sends nothing.
//! 3. A forged `SUBSCRIPTION_REVOKED` whose claim Google contradicts (still active):
//!    `not_confirmed`, nothing changes.
//! 4. `SUBSCRIPTION_ON_HOLD` (Google: on hold): recorded, and the next verify of the chain is
//!    `not_paid / on_hold`; `SUBSCRIPTION_RECOVERED` pays again; `SUBSCRIPTION_EXPIRED`
//!    (Google: expired) is `not_paid / expired`. The entitlement rule (`grants`) agrees each
//!    time.
//! 5. `SUBSCRIPTION_REVOKED` of another chain, confirmed (Google: expired): revoked, the app
//!    server gets `purchase.revoked`, the owner's next verify is `not_paid / revoked`.
//! 6. A push for a token Google does not know: `not_confirmed`, nothing changes.

use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use payseal_protocol::webhook::{EventKind, SubscriptionUpdatedData};
use payseal_protocol::{Outcome, Reason, Receipt, Redemption, Store, SubscriptionState};
use payseal_sandbox::{Order, ProductType};
use payseal_verifier::entitlements::{EntitlementRules, TransferPolicy};
use payseal_verifier::ledger::RedemptionRow;
use serde_json::{json, Value};

use super::voided_scenario::purchase_token;
use super::{configure_rtdn, keys, push_claims, FakeGoogle, API_ACCOUNT};
use crate::common::{StateDir, TestServer, APP};
use crate::webhook_support::{configure, RunningReceiver};

const RTDN: &str = "/v1/stores/google-play/rtdn";
const DAY: i64 = 86_400_000;

/// The Pub/Sub push body of a `subscriptionNotification`, as Pub/Sub sends it.
pub fn subscription_push(message_id: &str, kind: i64, token: &str, event_ms: i64) -> String {
    let notification = json!({
        "version": "1.0",
        "packageName": APP,
        "eventTimeMillis": event_ms.to_string(),
        "subscriptionNotification": {
            "version": "1.0", "notificationType": kind,
            "purchaseToken": token, "subscriptionId": "gold"
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

/// POST a push with a genuine token; the status and the `result`.
pub async fn push(server: &TestServer, google: &FakeGoogle, body: String) -> (u16, String) {
    let response = server
        .client
        .post(server.url(RTDN))
        .bearer_auth(google.push_token("k1", &push_claims()))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let v: Value = response.json().await.unwrap_or(Value::Null);
    let result = v["result"].as_str().unwrap_or("").to_string();
    let duplicate = v["duplicate"].as_bool().unwrap_or(false);
    (
        status,
        if duplicate {
            format!("{result} (duplicate)")
        } else {
            result
        },
    )
}

/// A verifier with RTDN, the Play Developer API (live check) and a webhook on `state`.
pub async fn start(state: StateDir) -> (FakeGoogle, RunningReceiver, TestServer) {
    let google = FakeGoogle::start().await;
    google.register_account(API_ACCOUNT, &keys()[3]);
    let receiver = RunningReceiver::start(0).await;
    configure(&state.paths.config, &receiver.url());
    configure_rtdn(&state.paths.config, &google);
    super::ack_scenario::configure_api_with(
        &state,
        &google,
        &[],
        "live_check = true\nacknowledge = false",
    );
    let server = TestServer::start_on(state, |s| {
        let mut rules = EntitlementRules::new(TransferPolicy::Never);
        rules.grant("gold", "premium");
        s.entitlements.insert(APP.to_string(), rules);
    })
    .await;
    (google, receiver, server)
}

/// A Play subscription receipt of `gold`, held by the fake in `state` until `end`.
fn subscribe(server: &TestServer, google: &FakeGoogle, state: &str, end: i64) -> Receipt {
    let r = server
        .state
        .store
        .issue(&Order {
            product_type: ProductType::AutoRenewableSubscription,
            ..Order::new(Store::GooglePlay, APP, "gold")
        })
        .unwrap();
    google.add_subscription(APP, "gold", &purchase_token(&r), state, end, None);
    r
}

/// The chain's row, read through the configured ledger.
async fn row(server: &TestServer, token: &str) -> RedemptionRow {
    server
        .state
        .find_row(Store::GooglePlay, token)
        .await
        .expect("the chain's row")
}

/// Whether the ledger's entitlement rule (`grants`) grants alice's chain `token` now.
async fn grants(server: &TestServer, token: &str) -> bool {
    server.state.grants_now("alice", token).await
}

fn updates(receiver: &RunningReceiver) -> Vec<SubscriptionUpdatedData> {
    receiver
        .events()
        .iter()
        .filter_map(|e| e.subscription_updated().unwrap())
        .collect()
}

/// The scenario (module docs).
pub async fn run(state: StateDir) {
    let (google, receiver, mut server) = start(state).await;
    let now = payseal_verifier::now_ms();
    let (end1, end2, end3) = (now + 3 * DAY, now + 33 * DAY, now + 63 * DAY);
    let r = subscribe(&server, &google, "SUBSCRIPTION_STATE_ACTIVE", end1);
    let token = purchase_token(&r);
    let v = server.verify("alice", &r).await;
    assert_eq!(
        (v.outcome, v.redemption, v.expires_at),
        (Outcome::Paid, Some(Redemption::First), Some(end1))
    );
    // Before any store event the ledger has no renewal status: the document leaves it out.
    let doc = server.entitlements("alice").await;
    assert_eq!(doc.entitlements.len(), 1, "{doc:?}");
    assert_eq!(doc.entitlements[0].will_renew, None);

    // 1. Renewed: the period end moves forward, the app server is told.
    google.add_subscription(APP, "gold", &token, "SUBSCRIPTION_STATE_ACTIVE", end2, None);
    let renewed = subscription_push("4002", 2, &token, now);
    assert_eq!(
        push(&server, &google, renewed.clone()).await,
        (200, "subscription_updated".into())
    );
    let stored = row(&server, &token).await;
    assert_eq!(stored.expires_at_ms, Some(end2));
    assert_eq!(stored.subscription_state.as_deref(), Some("active"));
    // Google says the plan auto-renews: the signed document says so.
    let doc = server.entitlements("alice").await;
    assert_eq!(
        (
            doc.entitlements[0].name.as_str(),
            doc.entitlements[0].will_renew
        ),
        ("premium", Some(true))
    );
    assert_eq!(doc.entitlements[0].expires_at, Some(end2));
    receiver
        .wait_for(Duration::from_secs(20), "subscription.updated", |s| {
            s.events
                .iter()
                .any(|e| e.kind() == Some(EventKind::SubscriptionUpdated))
        })
        .await;
    let sent = updates(&receiver);
    assert_eq!(sent.len(), 1);
    let u = &sent[0];
    assert_eq!(
        (
            u.store,
            u.app.as_str(),
            u.transaction_id.as_str(),
            u.sub.as_str()
        ),
        (Store::GooglePlay, APP, token.as_str(), "alice")
    );
    assert_eq!(
        (u.product_id.as_str(), u.state, u.expires_at),
        (
            "gold",
            SubscriptionState::Active,
            Some(end2.div_euclid(1000))
        )
    );
    assert_eq!(
        (u.cause.as_str(), u.first_verdict_id.as_str()),
        ("SUBSCRIPTION_RENEWED", v.jti.as_str())
    );
    let again = server.verify("alice", &r).await;
    assert_eq!(
        (again.outcome, again.redemption, again.expires_at),
        (Outcome::Paid, Some(Redemption::Repeat), Some(end2))
    );
    assert_eq!(again.subscription_state, Some(SubscriptionState::Active));
    // Pub/Sub redelivers the same message: a duplicate (Google is asked again, and its
    // answer is not applied twice: no second webhook).
    assert_eq!(
        push(&server, &google, renewed).await,
        (200, "subscription_updated (duplicate)".into())
    );

    // 1b. The user turns auto-renewal off (SUBSCRIPTION_CANCELED; Google: canceled, no
    // `autoRenewEnabled`): still premium until the period ends, and it will not renew.
    google.add_subscription(
        APP,
        "gold",
        &token,
        "SUBSCRIPTION_STATE_CANCELED",
        end2,
        None,
    );
    google.set_auto_renew(APP, &token, false);
    assert_eq!(
        push(&server, &google, subscription_push("4010", 3, &token, now)).await,
        (200, "subscription_updated".into())
    );
    let doc = server.entitlements("alice").await;
    assert_eq!(doc.entitlements.len(), 1, "{doc:?}");
    assert_eq!(doc.entitlements[0].will_renew, Some(false));
    // It is turned back on (SUBSCRIPTION_RESTARTED; Google: active, renewing).
    google.add_subscription(APP, "gold", &token, "SUBSCRIPTION_STATE_ACTIVE", end2, None);
    assert_eq!(
        push(&server, &google, subscription_push("4011", 7, &token, now)).await,
        (200, "subscription_updated".into())
    );
    assert_eq!(
        server.entitlements("alice").await.entitlements[0].will_renew,
        Some(true)
    );

    // 2. A late older push (on hold, an hour before): Google says active; nothing changes.
    let late = subscription_push("4001", 5, &token, now - 3_600_000);
    assert_eq!(
        push(&server, &google, late).await,
        (200, "subscription_unchanged".into())
    );
    let after = row(&server, &token).await;
    assert_eq!(
        (after.subscription_state.as_deref(), after.expires_at_ms),
        (Some("active"), Some(end2))
    );

    // 3. A forged revocation (a captured token, a body naming this chain): Google says active.
    let forged = subscription_push("4003", 12, &token, now);
    assert_eq!(
        push(&server, &google, forged).await,
        (200, "not_confirmed".into())
    );
    assert!(row(&server, &token).await.revoked_at_ms.is_none());
    assert_eq!(server.verify("alice", &r).await.outcome, Outcome::Paid);

    // 4. On hold, recovered, expired: each recorded, each decides the next verify.
    for (id, kind, state, end, want_state, reason) in [
        (
            "4004",
            5,
            "SUBSCRIPTION_STATE_ON_HOLD",
            end2,
            "on_hold",
            Some(Reason::OnHold),
        ),
        ("4005", 1, "SUBSCRIPTION_STATE_ACTIVE", end3, "active", None),
        (
            "4006",
            13,
            "SUBSCRIPTION_STATE_EXPIRED",
            end3,
            "expired",
            Some(Reason::Expired),
        ),
    ] {
        google.add_subscription(APP, "gold", &token, state, end, None);
        assert_eq!(
            push(&server, &google, subscription_push(id, kind, &token, now)).await,
            (200, "subscription_updated".into()),
            "{state}"
        );
        let stored = row(&server, &token).await;
        assert_eq!(stored.subscription_state.as_deref(), Some(want_state));
        assert_eq!(stored.expires_at_ms, Some(end));
        assert_eq!(grants(&server, &token).await, reason.is_none(), "{state}");
        // The signed document agrees: premium leaves on hold and comes back on recovery.
        let doc = server.entitlements("alice").await;
        assert_eq!(doc.has("premium"), reason.is_none(), "{state}");
        let v = server.verify("alice", &r).await;
        assert_eq!(v.reason, reason, "{state}");
        assert_eq!(v.outcome == Outcome::Paid, reason.is_none(), "{state}");
        assert_eq!(v.expires_at, Some(end), "{state}");
    }
    receiver
        .wait_for(Duration::from_secs(20), "six subscription.updated", |s| {
            s.events
                .iter()
                .filter(|e| e.kind() == Some(EventKind::SubscriptionUpdated))
                .count()
                == 6
        })
        .await;
    // One per change: the duplicate, the late push and the forged one sent nothing. (Rows
    // claimed in one batch are delivered concurrently: compared in any order.)
    let mut states: Vec<_> = updates(&receiver)
        .iter()
        .map(|u| u.state.as_str())
        .collect();
    states.sort_unstable();
    let mut want = [
        SubscriptionState::Active,
        SubscriptionState::Canceled,
        SubscriptionState::Active,
        SubscriptionState::OnHold,
        SubscriptionState::Active,
        SubscriptionState::Expired,
    ]
    .map(SubscriptionState::as_str);
    want.sort_unstable();
    assert_eq!(states, want);

    // alice's set of names changed four times, each announced once, in the change's
    // transaction: bought; on hold; recovered; expired (the renewal, the cancellation that
    // still pays, the reads and the duplicate changed no name).
    receiver
        .wait_for(Duration::from_secs(20), "four entitlements.changed", |s| {
            s.events
                .iter()
                .filter(|e| e.kind() == Some(EventKind::EntitlementsChanged))
                .count()
                >= 4
        })
        .await;
    let mut changes: Vec<_> = receiver
        .events()
        .iter()
        .filter_map(|e| e.entitlements_changed().unwrap())
        .map(|c| (c.sub, c.cause, c.added.len(), c.removed.len()))
        .collect();
    changes.sort();
    let alice =
        |cause: &str, added, removed| ("alice".to_string(), cause.to_string(), added, removed);
    assert_eq!(
        changes,
        [
            alice("purchase", 1, 0),
            alice("subscription", 0, 1),
            alice("subscription", 0, 1),
            alice("subscription", 1, 0),
        ]
    );

    // 5. A confirmed revocation of another chain revokes it.
    let r2 = subscribe(&server, &google, "SUBSCRIPTION_STATE_ACTIVE", end1);
    let token2 = purchase_token(&r2);
    assert_eq!(server.verify("bob", &r2).await.outcome, Outcome::Paid);
    google.add_subscription(
        APP,
        "gold",
        &token2,
        "SUBSCRIPTION_STATE_EXPIRED",
        now,
        None,
    );
    assert_eq!(
        push(
            &server,
            &google,
            subscription_push("4007", 12, &token2, now)
        )
        .await,
        (200, "revoked".into())
    );
    assert!(row(&server, &token2).await.revoked_at_ms.is_some());
    assert_eq!(
        server.verify("bob", &r2).await.reason,
        Some(Reason::Revoked)
    );
    receiver
        .wait_for(Duration::from_secs(20), "purchase.revoked", |s| {
            s.events
                .iter()
                .any(|e| e.kind() == Some(EventKind::Revoked))
        })
        .await;

    // 6. A token Google does not know: nothing to change.
    assert_eq!(
        push(
            &server,
            &google,
            subscription_push("4008", 2, "no-such-token", now)
        )
        .await,
        (200, "not_confirmed".into())
    );
    server.stop().await.unwrap();
}
