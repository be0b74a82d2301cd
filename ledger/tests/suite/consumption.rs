//! The delivery-report half of the ledger suite, generic over `Arc<dyn Ledger>`: every backend
//! must pass every case (`tests/ledger_suite.rs` runs it on SQLite and, with `postgres-tests`,
//! on a real PostgreSQL through [`consumption_suite!`]).

use std::sync::Arc;

use payseal_ledger::consumption::{DeliveryReport, ReportOutcome};
use payseal_ledger::{Ledger, RevocationRequest};
use payseal_protocol::Store;

use super::cases::redemption;

const APP: &str = "dev.payseal.demo";

fn report(
    app: &str,
    account: &str,
    key: &str,
    delivered: bool,
    consumed: Option<u32>,
    now_ms: i64,
) -> DeliveryReport {
    DeliveryReport {
        store: Store::GooglePlay,
        app_id: app.into(),
        transaction_key: key.into(),
        account_id: account.into(),
        delivered,
        consumed_milliunits: consumed,
        usage_events: consumed.map(|_| 3),
        now_ms,
    }
}

/// Reports: only the owner of a purchase this app redeemed; first delivery time kept,
/// consumption the latest; another app's or an unknown purchase changes nothing; the evidence
/// reads it all back with the account's consent.
pub async fn reports_are_kept_for_the_owner_of_a_redeemed_purchase_only(ledger: Arc<dyn Ledger>) {
    ledger
        .redeem(redemption("alice", "GPA.1", 1_000))
        .await
        .unwrap();
    assert!(ledger
        .evidence(Store::GooglePlay, APP, "GPA.9")
        .await
        .unwrap()
        .is_none());
    let e = ledger
        .evidence(Store::GooglePlay, APP, "GPA.1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((e.consented(), e.report, e.consent), (false, None, None));

    let r = |app, account, key, delivered, consumed, now| {
        let ledger = Arc::clone(&ledger);
        async move {
            ledger
                .report_delivery(report(app, account, key, delivered, consumed, now))
                .await
                .unwrap()
        }
    };
    assert_eq!(
        r(APP, "alice", "GPA.1", true, None, 2_000).await,
        ReportOutcome::Recorded
    );
    assert_eq!(
        r(APP, "alice", "GPA.1", false, Some(40_000), 3_000).await,
        ReportOutcome::Recorded
    );
    assert_eq!(
        r(APP, "bob", "GPA.1", true, Some(100_000), 4_000).await,
        ReportOutcome::WrongAccount
    );
    assert_eq!(
        r("com.example.other", "alice", "GPA.1", true, Some(0), 4_000).await,
        ReportOutcome::NotFound
    );
    assert_eq!(
        r(APP, "alice", "GPA.2", true, None, 4_000).await,
        ReportOutcome::NotFound
    );
    assert_eq!(
        r(APP, "alice", "GPA.1", true, Some(100_001), 4_000).await,
        ReportOutcome::BadConsumption
    );
    assert!(ledger
        .evidence(Store::GooglePlay, "com.example.other", "GPA.1")
        .await
        .unwrap()
        .is_none());

    ledger.set_consent(APP, "alice", true, 5_000).await.unwrap();
    ledger
        .set_consent("com.example.other", "alice", false, 5_000)
        .await
        .unwrap();
    let e = ledger
        .evidence(Store::GooglePlay, APP, "GPA.1")
        .await
        .unwrap()
        .unwrap();
    let report = e.report.clone().unwrap();
    assert_eq!(
        (
            report.account_id.as_str(),
            report.delivered_at_ms,
            report.consumed_milliunits,
            report.usage_events,
            report.updated_ms
        ),
        ("alice", Some(2_000), Some(40_000), Some(3), 3_000)
    );
    assert!(e.consented());
    ledger
        .set_consent(APP, "alice", false, 6_000)
        .await
        .unwrap();
    let e = ledger
        .evidence(Store::GooglePlay, APP, "GPA.1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(e.consent, Some(false));
}

/// A purchase refused before redemption (a refusal row) takes no report; a revoked one keeps
/// its reports as evidence.
pub async fn refusal_rows_take_no_report_and_revocations_keep_them(ledger: Arc<dyn Ledger>) {
    ledger
        .redeem(redemption("alice", "GPA.3", 1_000))
        .await
        .unwrap();
    assert_eq!(
        ledger
            .report_delivery(report(APP, "alice", "GPA.3", true, Some(100_000), 2_000))
            .await
            .unwrap(),
        ReportOutcome::Recorded
    );
    ledger
        .revoke(
            RevocationRequest {
                store: Store::GooglePlay,
                app_id: APP.into(),
                transaction_key: "GPA.3".into(),
                reason: "refund".into(),
                now_ms: 3_000,
            },
            false,
        )
        .await
        .unwrap();
    let e = ledger
        .evidence(Store::GooglePlay, APP, "GPA.3")
        .await
        .unwrap()
        .unwrap();
    assert!(e.redemption.revoked_at_ms.is_some());
    assert_eq!(e.report.unwrap().consumed_milliunits, Some(100_000));
}

/// A refund request's answer is queued with its notification, once however often the
/// notification comes; claims lease it to one claimer at a time; a result is written only by
/// the claim that made it; after the lease a crashed attempt is claimed again.
pub async fn refund_answers_are_queued_once_and_claimed_once(ledger: Arc<dyn Ledger>) {
    use payseal_ledger::notifications::{Effect, NewNotification};
    use payseal_ledger::refunds::{NewRefundRequest, RefundAttempt, RefundState};
    let n = NewNotification {
        store: Store::AppStore,
        notification_id: "n-consumption-1".into(),
        notification_type: "CONSUMPTION_REQUEST".into(),
        subtype: None,
        environment: Some("sandbox".into()),
        app_id: Some(APP.into()),
        transaction_key: Some("2000001".into()),
        signed_ms: 1_000,
        received_ms: 1_000,
    };
    let effect = || {
        Effect::AnswerRefund(NewRefundRequest {
            app_id: APP.into(),
            transaction_key: "2000001".into(),
            environment: "sandbox".into(),
            deadline_ms: 1_000 + 12 * 3_600_000,
            answer_token: None,
        })
    };
    // The same notification from two instances at once, and again later.
    let (a, b) = tokio::join!(
        ledger.record_notification(n.clone(), effect()),
        ledger.record_notification(n.clone(), effect())
    );
    assert!(a.unwrap().duplicate != b.unwrap().duplicate);
    assert!(
        ledger
            .record_notification(n.clone(), effect())
            .await
            .unwrap()
            .duplicate
    );
    let rows = ledger.list_refund_requests(None, 10).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].state, rows[0].attempts), (RefundState::Pending, 0));

    // Two claimers at once: one row, one claimer.
    let (c1, c2) = tokio::join!(
        ledger.claim_refund_requests(2_000, 32_000, 10),
        ledger.claim_refund_requests(2_000, 32_000, 10)
    );
    let (c1, c2) = (c1.unwrap(), c2.unwrap());
    assert_eq!(c1.len() + c2.len(), 1, "{c1:?} {c2:?}");
    // Leased: nothing due before the lease ends; the crashed attempt is claimed again after.
    assert!(ledger
        .claim_refund_requests(3_000, 33_000, 10)
        .await
        .unwrap()
        .is_empty());
    let again = ledger
        .claim_refund_requests(32_000, 62_000, 10)
        .await
        .unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].attempts, 2);
    // The first claim's late result is not written over the newer claim.
    let done = |at_ms| RefundAttempt::Done {
        state: RefundState::Answered,
        at_ms,
        detail: "DECLINE".into(),
    };
    assert!(!ledger
        .finish_refund_request(Store::AppStore, "n-consumption-1", 1, done(40_000))
        .await
        .unwrap());
    assert!(ledger
        .finish_refund_request(Store::AppStore, "n-consumption-1", 2, done(41_000))
        .await
        .unwrap());
    assert!(ledger
        .claim_refund_requests(100_000_000, 100_030_000, 10)
        .await
        .unwrap()
        .is_empty());
    let rows = ledger
        .list_refund_requests(Some(RefundState::Answered), 10)
        .await
        .unwrap();
    assert_eq!(
        (rows.len(), rows[0].finished_ms, rows[0].detail.as_deref()),
        (1, Some(41_000), Some("DECLINE"))
    );
    assert!(ledger
        .list_refund_requests(Some(RefundState::Pending), 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(rows[0].answer_token, None);

    // A Google Play request keeps its pendingRefundToken with the row, and is keyed apart
    // from the App Store's (same notification id, another store).
    let google = NewNotification {
        store: Store::GooglePlay,
        notification_type: "pendingRefundReviewNotification".into(),
        transaction_key: Some("GPA.9".into()),
        environment: None,
        ..n.clone()
    };
    let queued = ledger
        .record_notification(
            google,
            Effect::AnswerRefund(NewRefundRequest {
                app_id: APP.into(),
                transaction_key: "GPA.9".into(),
                environment: "production".into(),
                deadline_ms: 1_000 + 24 * 3_600_000,
                answer_token: Some("pending-refund-token-9".into()),
            }),
        )
        .await
        .unwrap();
    assert!(!queued.duplicate);
    let claimed = ledger
        .claim_refund_requests(200_000_000, 200_030_000, 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1, "{claimed:?}");
    assert_eq!(
        (
            claimed[0].store,
            claimed[0].transaction_key.as_str(),
            claimed[0].answer_token.as_deref()
        ),
        (Store::GooglePlay, "GPA.9", Some("pending-refund-token-9"))
    );
}

/// The refund history: an account's revoked redemptions in one app, by store, over the last 30
/// days, 365 days and all time; other accounts, other apps and unrevoked rows are not counted.
pub async fn refund_history_counts_by_store_and_period(ledger: Arc<dyn Ledger>) {
    const DAY: i64 = 86_400_000;
    let now = 1_000 * DAY;
    let revoke = |store: Store, key: &str, at: i64| {
        let ledger = Arc::clone(&ledger);
        let key = key.to_string();
        async move {
            ledger
                .revoke(
                    RevocationRequest {
                        store,
                        app_id: APP.into(),
                        transaction_key: key,
                        reason: "refund".into(),
                        now_ms: at,
                    },
                    false,
                )
                .await
                .unwrap();
        }
    };
    // alice: Play refunds 10, 100 and 500 days ago, an App Store refund 2 days ago, and a
    // purchase kept; bob: one refund yesterday; another app's refund of alice.
    for (store, key, days_ago) in [
        (Store::GooglePlay, "GPA.h1", Some(10)),
        (Store::GooglePlay, "GPA.h2", Some(100)),
        (Store::GooglePlay, "GPA.h3", Some(500)),
        (Store::AppStore, "2000h4", Some(2)),
        (Store::GooglePlay, "GPA.h5", None),
    ] {
        let mut r = redemption("alice", key, now - 600 * DAY);
        r.store = store;
        ledger.redeem(r).await.unwrap();
        if let Some(d) = days_ago {
            revoke(store, key, now - d * DAY).await;
        }
    }
    ledger
        .redeem(redemption("bob", "GPA.h6", now - 5 * DAY))
        .await
        .unwrap();
    revoke(Store::GooglePlay, "GPA.h6", now - DAY).await;
    let mut other = redemption("alice", "GPA.h7", now - 5 * DAY);
    other.app_id = "other.app".into();
    ledger.redeem(other).await.unwrap();
    ledger
        .revoke(
            RevocationRequest {
                store: Store::GooglePlay,
                app_id: "other.app".into(),
                transaction_key: "GPA.h7".into(),
                reason: "refund".into(),
                now_ms: now - DAY,
            },
            false,
        )
        .await
        .unwrap();

    let h = ledger
        .account_refund_history(APP, "alice", now)
        .await
        .unwrap();
    let counts = |a, b, c| payseal_protocol::RefundCounts {
        last_30_days: a,
        last_365_days: b,
        all_time: c,
    };
    assert_eq!(h.total, counts(2, 3, 4));
    assert_eq!(h.by_store["google_play"], counts(1, 2, 3));
    assert_eq!(h.by_store["app_store"], counts(1, 1, 1));
    assert_eq!(h.by_store.len(), 2);
    let bob = ledger
        .account_refund_history(APP, "bob", now)
        .await
        .unwrap();
    assert_eq!(bob.total, counts(1, 1, 1));
    let nobody = ledger
        .account_refund_history(APP, "carol", now)
        .await
        .unwrap();
    assert_eq!(nobody, payseal_protocol::RefundHistoryClaim::default());
    // The threshold's window read agrees with the periods.
    let window = ledger
        .refund_history(APP, "alice", now - 365 * DAY)
        .await
        .unwrap();
    assert_eq!(window.total(), 3);
}

/// One `#[tokio::test]` per delivery-report case for the backend `$make` opens.
#[macro_export]
macro_rules! consumption_suite {
    ($make:path) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn reports_are_kept_for_the_owner_of_a_redeemed_purchase_only() {
            let t = $make().await;
            $crate::suite::consumption::reports_are_kept_for_the_owner_of_a_redeemed_purchase_only(
                t.ledger,
            )
            .await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn refund_answers_are_queued_once_and_claimed_once() {
            let t = $make().await;
            $crate::suite::consumption::refund_answers_are_queued_once_and_claimed_once(t.ledger)
                .await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn refund_history_counts_by_store_and_period() {
            let t = $make().await;
            $crate::suite::consumption::refund_history_counts_by_store_and_period(t.ledger).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn refusal_rows_take_no_report_and_revocations_keep_them() {
            let t = $make().await;
            $crate::suite::consumption::refusal_rows_take_no_report_and_revocations_keep_them(
                t.ledger,
            )
            .await;
        }
    };
}
