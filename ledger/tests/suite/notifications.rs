//! The store-notification half of the ledger suite, generic over `Arc<dyn Ledger>`: every
//! backend must pass every case (`tests/ledger_suite.rs` runs it on SQLite and, with
//! `postgres-tests`, on a real PostgreSQL through [`notification_suite!`]).

use std::sync::Arc;

use payseal_ledger::event::{EventKeys, Revoker};
use payseal_ledger::notifications::{
    Effect, NewNotification, NotificationResult, Recorded, Target, TargetApp,
};
use payseal_ledger::outbox::{DeliveryState, OutboxFilter};
use payseal_ledger::{Ledger, RedeemOutcome, RedemptionRequest, RevocationRequest};
use payseal_protocol::Store;

use super::cases::redemption;

const APP: &str = "dev.payseal.demo";

fn redeem_request(account: &str, key: &str, now_ms: i64) -> RedemptionRequest {
    let mut r = redemption(account, key, now_ms);
    r.store = Store::AppStore;
    r
}

async fn redeem(ledger: &Arc<dyn Ledger>, account: &str, key: &str, now_ms: i64) -> RedeemOutcome {
    ledger
        .redeem(redeem_request(account, key, now_ms))
        .await
        .unwrap()
}

fn notification(id: &str, kind: &str, key: &str, now_ms: i64) -> NewNotification {
    NewNotification {
        store: Store::AppStore,
        notification_id: id.into(),
        notification_type: kind.into(),
        subtype: None,
        environment: Some("sandbox".into()),
        app_id: Some(APP.into()),
        transaction_key: Some(key.into()),
        signed_ms: now_ms - 5,
        received_ms: now_ms,
    }
}

fn target(keys: &[&str]) -> Target {
    Target {
        apps: vec![TargetApp {
            app_id: APP.into(),
            notify: true,
            entitlements: None,
        }],
        keys: EventKeys::new(keys[0], keys.get(1).copied()),
        by: Revoker::Store(Store::AppStore),
        refuse_unredeemed: true,
        product_id: "coins_100".into(),
        reason: "app_store: by notification".into(),
    }
}

fn refund(keys: &[&str]) -> Effect {
    Effect::Revoke(target(keys))
}

fn reversal(keys: &[&str]) -> Effect {
    Effect::Reinstate(target(keys))
}

async fn record(ledger: &Arc<dyn Ledger>, n: NewNotification, effect: Effect) -> Recorded {
    ledger.record_notification(n, effect).await.unwrap()
}

/// The pending webhook rows, each as `KIND-TRANSACTION-CREATED_MS` read from its real body
/// (`purchase.revoked` → `revoked-N.1-2000`), sorted; each body's `sub` is checked to be the
/// owner the ledger read.
async fn pending(ledger: &Arc<dyn Ledger>) -> Vec<String> {
    let rows = ledger
        .list_deliveries(OutboxFilter::State(DeliveryState::Pending), 100)
        .await
        .unwrap();
    let mut ids: Vec<String> = rows
        .iter()
        .map(|d| {
            let body: serde_json::Value = serde_json::from_str(&d.body).unwrap();
            assert_eq!(body["id"], d.id.as_str(), "{body}");
            assert_eq!(body["type"], d.event_type.as_str(), "{body}");
            let data = &body["data"];
            let key = data["transaction_id"].as_str().unwrap();
            let owner = data["sub"].as_str().unwrap();
            assert!(
                !owner.is_empty(),
                "a refusal row has no one to tell: {body}"
            );
            let kind = d.event_type.strip_prefix("purchase.").unwrap();
            format!("{kind}-{key}-{}", d.created_ms)
        })
        .collect();
    ids.sort();
    ids
}

/// A refund revokes the redemption with its notice, once: the same notification again is a
/// duplicate answered with the first result and changes nothing; another notification of the
/// same refund finds it revoked. Other notifications are recorded only. Both lists read back.
pub async fn a_notification_is_recorded_once_with_its_effect(ledger: Arc<dyn Ledger>) {
    assert_eq!(
        redeem(&ledger, "alice", "N.1", 1_000).await,
        RedeemOutcome::First
    );
    let first = record(
        &ledger,
        notification("uuid-1", "REFUND", "N.1", 2_000),
        refund(&["N.1"]),
    )
    .await;
    assert_eq!(
        first,
        Recorded {
            duplicate: false,
            result: NotificationResult::Revoked,
            app_id: Some(APP.into()),
            transaction_key: Some("N.1".into()),
        }
    );
    let row = ledger
        .find(Store::AppStore, APP, "N.1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.revoked_at_ms, Some(2_000));
    assert_eq!(
        row.revoke_reason.as_deref(),
        Some("app_store: by notification")
    );
    assert_eq!(pending(&ledger).await, ["revoked-N.1-2000"]);

    // Apple retries: the same notification later changes nothing and says what it came to.
    let again = record(
        &ledger,
        notification("uuid-1", "REFUND", "N.1", 3_000),
        refund(&["N.1"]),
    )
    .await;
    assert!(again.duplicate);
    assert_eq!(again.result, NotificationResult::Revoked);
    assert_eq!(pending(&ledger).await, ["revoked-N.1-2000"]);
    // The same id of another store is another notification.
    let mut play = notification("uuid-1", "TEST", "N.1", 3_500);
    play.store = Store::GooglePlay;
    assert!(!record(&ledger, play, Effect::Record).await.duplicate);

    let revoke = record(
        &ledger,
        notification("uuid-2", "REVOKE", "N.1", 4_000),
        refund(&["N.1"]),
    )
    .await;
    assert_eq!(
        (revoke.duplicate, revoke.result),
        (false, NotificationResult::AlreadyRevoked)
    );
    for account in ["alice", "bob"] {
        assert_eq!(
            redeem(&ledger, account, "N.1", 5_000).await,
            RedeemOutcome::Revoked
        );
    }
    let test = record(
        &ledger,
        notification("uuid-3", "TEST", "", 6_000),
        Effect::Record,
    )
    .await;
    assert_eq!(test.result, NotificationResult::Recorded);
    assert_eq!(pending(&ledger).await, ["revoked-N.1-2000"]);

    let listed = ledger
        .list_notifications(Some(Store::AppStore), 10)
        .await
        .unwrap();
    let summary: Vec<(&str, &str, &str)> = listed
        .iter()
        .map(|n| {
            (
                n.notification_id.as_str(),
                n.notification_type.as_str(),
                n.result.as_str(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("uuid-3", "TEST", "recorded"),
            ("uuid-2", "REVOKE", "already_revoked"),
            ("uuid-1", "REFUND", "revoked"),
        ],
        "newest first"
    );
    assert_eq!(listed[2].received_ms, 2_000, "the first reception is kept");
    assert_eq!(listed[2].signed_ms, 1_995);
    assert_eq!(listed[2].environment.as_deref(), Some("sandbox"));
    assert_eq!(ledger.list_notifications(None, 10).await.unwrap().len(), 4);
    assert_eq!(ledger.list_notifications(None, 1).await.unwrap().len(), 1);
    assert!(ledger
        .list_notifications(Some(Store::Huawei), 10)
        .await
        .unwrap()
        .is_empty());
    let revocations = ledger.list_revocations(10).await.unwrap();
    assert_eq!(revocations.len(), 1);
    assert_eq!(
        (
            revocations[0].account_id.as_deref(),
            revocations[0].revoked_at_ms
        ),
        (Some("alice"), 2_000)
    );
}

/// A refund of a transaction nobody redeemed records a refusal row: its first presentation is
/// `Revoked`, nothing is enqueued; a reversed refund removes it, and the transaction can then
/// be redeemed for the first time.
pub async fn a_refund_before_redemption_refuses_the_first_presentation(ledger: Arc<dyn Ledger>) {
    let r = record(
        &ledger,
        notification("uuid-10", "REFUND", "N.10", 1_000),
        refund(&["N.10"]),
    )
    .await;
    assert_eq!(r.result, NotificationResult::RevokedBeforeRedemption);
    assert_eq!(
        redeem(&ledger, "bob", "N.10", 2_000).await,
        RedeemOutcome::Revoked
    );
    assert!(pending(&ledger).await.is_empty(), "nobody to tell");
    let revocations = ledger.list_revocations(10).await.unwrap();
    assert_eq!(revocations.len(), 1);
    assert_eq!(revocations[0].account_id, None, "{revocations:?}");
    assert_eq!(revocations[0].transaction_key, "N.10");
    let row = ledger
        .find(Store::AppStore, APP, "N.10")
        .await
        .unwrap()
        .unwrap();
    assert!(row.is_refusal());
    // A second refund notification finds it revoked already.
    let again = record(
        &ledger,
        notification("uuid-11", "REFUND", "N.10", 3_000),
        refund(&["N.10"]),
    )
    .await;
    assert_eq!(again.result, NotificationResult::AlreadyRevoked);

    let back = record(
        &ledger,
        notification("uuid-12", "REFUND_REVERSED", "N.10", 4_000),
        reversal(&["N.10"]),
    )
    .await;
    assert_eq!(back.result, NotificationResult::Reinstated);
    assert!(ledger
        .find(Store::AppStore, APP, "N.10")
        .await
        .unwrap()
        .is_none());
    assert!(pending(&ledger).await.is_empty());
    assert_eq!(
        redeem(&ledger, "bob", "N.10", 5_000).await,
        RedeemOutcome::First
    );
    assert!(ledger.list_revocations(10).await.unwrap().is_empty());
}

/// A reversed refund reinstates a revocation the store told of (with its notice), and only
/// that: an operator's revocation stays, an unknown transaction stays unknown. A subscription
/// refund is found by its original transaction id.
pub async fn a_reversed_refund_reinstates_only_what_the_store_revoked(ledger: Arc<dyn Ledger>) {
    assert_eq!(
        redeem(&ledger, "alice", "N.20", 1_000).await,
        RedeemOutcome::First
    );
    record(
        &ledger,
        notification("uuid-20", "REFUND", "N.20", 2_000),
        refund(&["N.20"]),
    )
    .await;
    let back = record(
        &ledger,
        notification("uuid-21", "REFUND_REVERSED", "N.20", 3_000),
        reversal(&["N.20"]),
    )
    .await;
    assert_eq!(back.result, NotificationResult::Reinstated);
    let row = ledger
        .find(Store::AppStore, APP, "N.20")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((row.revoked_at_ms, row.revoke_reason), (None, None));
    assert_eq!(
        pending(&ledger).await,
        ["reinstated-N.20-3000", "revoked-N.20-2000"]
    );
    assert_eq!(
        redeem(&ledger, "alice", "N.20", 4_000).await,
        RedeemOutcome::Repeat
    );
    assert_eq!(
        redeem(&ledger, "bob", "N.20", 4_000).await,
        RedeemOutcome::OtherAccount
    );
    // Reversed again: nothing revoked now.
    let twice = record(
        &ledger,
        notification("uuid-22", "REFUND_REVERSED", "N.20", 5_000),
        reversal(&["N.20"]),
    )
    .await;
    assert_eq!(twice.result, NotificationResult::NotReinstated);

    // An operator's revocation (no store notification told of it) is not undone.
    assert_eq!(
        redeem(&ledger, "carol", "N.21", 1_000).await,
        RedeemOutcome::First
    );
    ledger
        .revoke(
            RevocationRequest {
                store: Store::AppStore,
                app_id: APP.into(),
                transaction_key: "N.21".into(),
                reason: "fraud".into(),
                now_ms: 2_000,
            },
            false,
        )
        .await
        .unwrap();
    let kept = record(
        &ledger,
        notification("uuid-23", "REFUND_REVERSED", "N.21", 3_000),
        reversal(&["N.21"]),
    )
    .await;
    assert_eq!(kept.result, NotificationResult::NotReinstated);
    assert_eq!(
        redeem(&ledger, "carol", "N.21", 4_000).await,
        RedeemOutcome::Revoked
    );
    let unknown = record(
        &ledger,
        notification("uuid-24", "REFUND_REVERSED", "N.22", 3_000),
        reversal(&["N.22"]),
    )
    .await;
    assert_eq!(unknown.result, NotificationResult::NotReinstated);
    assert!(ledger
        .find(Store::AppStore, APP, "N.22")
        .await
        .unwrap()
        .is_none());

    // Redeemed under the original transaction id (a subscription): found by the second key.
    assert_eq!(
        redeem(&ledger, "dave", "N.ORIG", 1_000).await,
        RedeemOutcome::First
    );
    let sub = record(
        &ledger,
        notification("uuid-25", "REFUND", "N.RENEWAL", 6_000),
        refund(&["N.RENEWAL", "N.ORIG"]),
    )
    .await;
    assert_eq!(
        (sub.result, sub.transaction_key.as_deref()),
        (NotificationResult::Revoked, Some("N.ORIG"))
    );
    assert!(ledger
        .find(Store::AppStore, APP, "N.RENEWAL")
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        redeem(&ledger, "dave", "N.ORIG", 7_000).await,
        RedeemOutcome::Revoked
    );
    assert_eq!(
        pending(&ledger).await,
        [
            "reinstated-N.20-3000",
            "revoked-N.20-2000",
            "revoked-N.ORIG-6000"
        ]
    );
}

/// The same notification delivered many times at once (Apple's retries, several verifier
/// instances) while its transaction is presented for the first time: exactly one recording is
/// not a duplicate, every duplicate reports its result, and whichever of the redemption and the
/// refund comes first, the transaction ends revoked and is never paid again.
pub async fn concurrent_deliveries_and_a_racing_first_redemption(ledger: Arc<dyn Ledger>) {
    let mut tasks = Vec::new();
    for i in 0..16 {
        let ledger = Arc::clone(&ledger);
        tasks.push(tokio::spawn(async move {
            if i % 2 == 0 {
                let r = record(
                    &ledger,
                    notification("uuid-race", "REFUND", "N.RACE", 2_000 + i),
                    refund(&["N.RACE"]),
                )
                .await;
                (Some(r), None)
            } else {
                (
                    None,
                    Some(redeem(&ledger, "alice", "N.RACE", 2_000 + i).await),
                )
            }
        }));
    }
    let mut firsts = 0;
    let mut results = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            (Some(r), None) => results.push(r),
            (None, Some(outcome)) => match outcome {
                RedeemOutcome::First => firsts += 1,
                RedeemOutcome::Repeat | RedeemOutcome::Revoked => {}
                other => panic!("unexpected {other:?}"),
            },
            _ => unreachable!(),
        }
    }
    let originals: Vec<&Recorded> = results.iter().filter(|r| !r.duplicate).collect();
    assert_eq!(originals.len(), 1, "{results:?}");
    let result = originals[0].result;
    assert!(
        results.iter().all(|r| r.result == result),
        "duplicates report the first result: {results:?}"
    );
    assert!(firsts <= 1);
    match result {
        // The redemption came first: it was revoked, with its notice.
        NotificationResult::Revoked => {
            assert_eq!(firsts, 1);
            assert_eq!(pending(&ledger).await.len(), 1);
        }
        // The refund came first: nobody got it.
        NotificationResult::RevokedBeforeRedemption => {
            assert_eq!(firsts, 0);
            assert!(pending(&ledger).await.is_empty());
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(
        redeem(&ledger, "alice", "N.RACE", 9_000).await,
        RedeemOutcome::Revoked
    );
    assert_eq!(ledger.list_notifications(None, 100).await.unwrap().len(), 1);
}

/// Revocations record their causes and a reversal removes only its own: a chain refunded twice
/// stays revoked until both refunds are reversed; an operator's revocation stays; a refusal in
/// another app survives this app's reversal; an operator's revocation of a transaction nobody
/// redeemed records nothing else.
pub async fn a_row_stays_revoked_while_any_cause_stands(ledger: Arc<dyn Ledger>) {
    const OTHER: &str = "dev.payseal.other";
    let by = |who: Revoker, keys: &[&str], apps: &[&str]| Target {
        apps: apps
            .iter()
            .map(|a| TargetApp {
                app_id: a.to_string(),
                notify: false,
                entitlements: None,
            })
            .collect(),
        keys: EventKeys::new(keys[0], keys.get(1).copied()),
        by: who,
        refuse_unredeemed: who != Revoker::Operator,
        product_id: "pro".into(),
        reason: "refunded".into(),
    };
    let apple = Revoker::Store(Store::AppStore);
    let go = |id: &str, kind: &str, key: &str, at: i64, effect: Effect| {
        let ledger = Arc::clone(&ledger);
        let n = notification(id, kind, key, at);
        async move { record(&ledger, n, effect).await.result }
    };

    // A chain (row ORIG) with two refunded renewals.
    assert_eq!(
        redeem(&ledger, "alice", "ORIG", 1_000).await,
        RedeemOutcome::First
    );
    let r2 = by(apple, &["R2", "ORIG"], &[APP]);
    let r3 = by(apple, &["R3", "ORIG"], &[APP]);
    assert_eq!(
        go("c-1", "REFUND", "R2", 2_000, Effect::Revoke(r2.clone())).await,
        NotificationResult::Revoked
    );
    assert_eq!(
        go("c-2", "REFUND", "R3", 3_000, Effect::Revoke(r3.clone())).await,
        NotificationResult::AlreadyRevoked
    );
    assert_eq!(
        go("c-3", "REFUND_REVERSED", "R2", 4_000, Effect::Reinstate(r2)).await,
        NotificationResult::StillRevoked
    );
    assert_eq!(
        redeem(&ledger, "alice", "ORIG", 4_500).await,
        RedeemOutcome::Revoked
    );
    assert_eq!(
        go("c-4", "REFUND_REVERSED", "R3", 5_000, Effect::Reinstate(r3)).await,
        NotificationResult::Reinstated
    );
    assert_eq!(
        redeem(&ledger, "alice", "ORIG", 5_500).await,
        RedeemOutcome::Repeat
    );

    // An operator's revocation, then the store's refund and its reversal: still revoked.
    assert_eq!(
        redeem(&ledger, "bob", "OP.1", 1_000).await,
        RedeemOutcome::First
    );
    assert_eq!(
        go(
            "op-1",
            "operator_revoke",
            "OP.1",
            2_000,
            Effect::Revoke(by(Revoker::Operator, &["OP.1"], &[APP]))
        )
        .await,
        NotificationResult::Revoked
    );
    let store_refund = by(apple, &["OP.1"], &[APP]);
    assert_eq!(
        go(
            "op-2",
            "REFUND",
            "OP.1",
            3_000,
            Effect::Revoke(store_refund.clone())
        )
        .await,
        NotificationResult::AlreadyRevoked
    );
    assert_eq!(
        go(
            "op-3",
            "REFUND_REVERSED",
            "OP.1",
            4_000,
            Effect::Reinstate(store_refund)
        )
        .await,
        NotificationResult::StillRevoked
    );
    assert_eq!(
        redeem(&ledger, "bob", "OP.1", 5_000).await,
        RedeemOutcome::Revoked
    );
    // An operator's revocation of a transaction nobody redeemed: nothing but the record.
    assert_eq!(
        go(
            "op-4",
            "operator_revoke",
            "OP.2",
            6_000,
            Effect::Revoke(by(Revoker::Operator, &["OP.2"], &[APP]))
        )
        .await,
        NotificationResult::NotRedeemed
    );
    assert!(ledger
        .find(Store::AppStore, APP, "OP.2")
        .await
        .unwrap()
        .is_none());

    // One transaction id refunded before redemption in two apps; reversed in one.
    for (id, app) in [("x-1", OTHER), ("x-2", APP)] {
        assert_eq!(
            go(
                id,
                "REFUND",
                "X.1",
                2_000,
                Effect::Revoke(by(apple, &["X.1"], &[app]))
            )
            .await,
            NotificationResult::RevokedBeforeRedemption
        );
    }
    assert_eq!(
        go(
            "x-3",
            "REFUND_REVERSED",
            "X.1",
            3_000,
            Effect::Reinstate(by(apple, &["X.1"], &[APP]))
        )
        .await,
        NotificationResult::Reinstated
    );
    assert!(ledger
        .find(Store::AppStore, APP, "X.1")
        .await
        .unwrap()
        .is_none());
    let theirs = ledger
        .find(Store::AppStore, OTHER, "X.1")
        .await
        .unwrap()
        .expect("the other app's refusal stays");
    assert!(theirs.is_refusal());

    // A renewal refunded before anyone redeemed its chain refuses the chain too.
    assert_eq!(
        go(
            "y-1",
            "REFUND",
            "Y.2",
            2_000,
            Effect::Revoke(by(apple, &["Y.2", "Y.ORIG"], &[APP]))
        )
        .await,
        NotificationResult::RevokedBeforeRedemption
    );
    assert_eq!(
        redeem(&ledger, "carol", "Y.ORIG", 3_000).await,
        RedeemOutcome::Revoked
    );
}

/// One `#[tokio::test]` per notification case for the backend `$make` opens (an async fn
/// returning a `TestLedger`).
#[macro_export]
macro_rules! notification_suite {
    ($make:path) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn a_notification_is_recorded_once_with_its_effect() {
            let t = $make().await;
            $crate::suite::notifications::a_notification_is_recorded_once_with_its_effect(
                t.ledger,
            )
            .await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn a_refund_before_redemption_refuses_the_first_presentation() {
            let t = $make().await;
            $crate::suite::notifications::a_refund_before_redemption_refuses_the_first_presentation(t.ledger).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn a_reversed_refund_reinstates_only_what_the_store_revoked() {
            let t = $make().await;
            $crate::suite::notifications::a_reversed_refund_reinstates_only_what_the_store_revoked(t.ledger).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn a_row_stays_revoked_while_any_cause_stands() {
            let t = $make().await;
            $crate::suite::notifications::a_row_stays_revoked_while_any_cause_stands(t.ledger)
                .await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn concurrent_deliveries_and_a_racing_first_redemption() {
            let t = $make().await;
            $crate::suite::notifications::concurrent_deliveries_and_a_racing_first_redemption(t.ledger).await;
        }
    };
}
