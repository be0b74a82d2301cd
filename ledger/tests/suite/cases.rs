//! The one ledger test suite, generic over `Arc<dyn Ledger>`: every backend must pass every
//! case. `tests/ledger_suite.rs` instantiates it for SQLite (a temp file) and PostgreSQL (a
//! fresh database on a real server) with [`ledger_suite!`].

use std::collections::HashMap;
use std::sync::Arc;

use payseal_ledger::outbox::{AttemptResult, DeliveryState, NewDelivery, OutboxFilter};
use payseal_ledger::{
    Ledger, RedeemOutcome, RedemptionRequest, RevocationRequest, RevokeOutcome,
    LAST_SEEN_RESOLUTION_MS,
};
use payseal_protocol::Store;

use super::revoked_events;

/// A redemption request.
pub fn redemption(account: &str, key: &str, now_ms: i64) -> RedemptionRequest {
    RedemptionRequest {
        store: Store::GooglePlay,
        app_id: "dev.payseal.demo".into(),
        transaction_key: key.into(),
        account_id: account.into(),
        product_id: "coins_100".into(),
        receipt_sha256: "ab".repeat(32),
        verdict_id: uuid::Uuid::new_v4().to_string(),
        now_ms,
        expires_at_ms: None,
        kind: None,
        environment: None,
    }
}

/// First / repeat / other account, separate key spaces, the stored row, the count.
pub async fn first_repeat_other_account(ledger: Arc<dyn Ledger>) {
    assert_eq!(ledger.count_redemptions().await.unwrap(), 0);
    let first = redemption("alice", "GPA.1", 1_000);
    let r = |req: RedemptionRequest| {
        let ledger = Arc::clone(&ledger);
        async move { ledger.redeem(req).await.unwrap() }
    };
    assert_eq!(r(first.clone()).await, RedeemOutcome::First);
    assert_eq!(
        r(redemption("alice", "GPA.1", 2_000)).await,
        RedeemOutcome::Repeat
    );
    assert_eq!(
        r(redemption("bob", "GPA.1", 3_000)).await,
        RedeemOutcome::OtherAccount
    );
    assert_eq!(
        r(redemption("bob", "GPA.2", 4_000)).await,
        RedeemOutcome::First
    );

    // The row: owner, first verdict, first and last seen (last seen moves only for the owner,
    // by `LAST_SEEN_RESOLUTION_MS` or more, and never backwards: the repeat at 2 000 wrote
    // nothing).
    let row = ledger
        .find(Store::GooglePlay, "dev.payseal.demo", "GPA.1")
        .await
        .unwrap()
        .expect("row of GPA.1");
    assert_eq!(row.account_id, "alice");
    assert_eq!(row.product_id, "coins_100");
    assert_eq!(row.receipt_sha256, "ab".repeat(32));
    assert_eq!(row.first_verdict_id, first.verdict_id);
    assert_eq!((row.first_seen_ms, row.last_seen_ms), (1_000, 1_000));
    let later = 1_000 + LAST_SEEN_RESOLUTION_MS;
    assert_eq!(
        r(redemption("alice", "GPA.1", later)).await,
        RedeemOutcome::Repeat
    );
    let row = ledger
        .find(Store::GooglePlay, "dev.payseal.demo", "GPA.1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        row.last_seen_ms, later,
        "a repeat a resolution later moves it"
    );
    for earlier in [1_500, later - 1] {
        assert_eq!(
            r(redemption("alice", "GPA.1", earlier)).await,
            RedeemOutcome::Repeat
        );
    }
    let row = ledger
        .find(Store::GooglePlay, "dev.payseal.demo", "GPA.1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.last_seen_ms, later, "last_seen never goes back");
    assert_eq!(
        ledger
            .find(Store::GooglePlay, "dev.payseal.demo", "GPA.404")
            .await
            .unwrap(),
        None
    );

    // Store and app are part of the key: the same transaction key elsewhere is new.
    let mut other_store = redemption("carol", "GPA.1", 5_000);
    other_store.store = Store::Huawei;
    assert_eq!(r(other_store).await, RedeemOutcome::First);
    let mut other_app = redemption("carol", "GPA.1", 6_000);
    other_app.app_id = "com.other.app".into();
    assert_eq!(r(other_app).await, RedeemOutcome::First);
    assert_eq!(ledger.count_redemptions().await.unwrap(), 4);

    // Ids are opaque text: quotes, unicode and long values round-trip.
    let odd_key = "GPA.'; DROP TABLE x; --\u{1F600}".repeat(8);
    let odd_account = "o'brien \"\u{e9}\" \\ %_".to_string();
    assert_eq!(
        r(redemption(&odd_account, &odd_key, 7_000)).await,
        RedeemOutcome::First
    );
    assert_eq!(
        r(redemption(&odd_account, &odd_key, 8_000)).await,
        RedeemOutcome::Repeat
    );
    let row = ledger
        .find(Store::GooglePlay, "dev.payseal.demo", &odd_key)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.account_id, odd_account);
}

/// One receipt raced from several accounts on many tasks: exactly one `First`, `Repeat` only
/// for the owner, `OtherAccount` for everyone else.
pub async fn race_one_receipt(ledger: Arc<dyn Ledger>) {
    for round in 0..5 {
        let key = format!("RACE.{round}.{}", uuid::Uuid::new_v4());
        let mut tasks = Vec::new();
        for i in 0..40i64 {
            let ledger = Arc::clone(&ledger);
            let key = key.clone();
            tasks.push(tokio::spawn(async move {
                let account = format!("acct-{}", i % 5);
                let outcome = ledger.redeem(redemption(&account, &key, i)).await.unwrap();
                (account, outcome)
            }));
        }
        let mut results = Vec::new();
        for t in tasks {
            results.push(t.await.unwrap());
        }
        let firsts: Vec<_> = results
            .iter()
            .filter(|(_, o)| *o == RedeemOutcome::First)
            .collect();
        assert_eq!(firsts.len(), 1, "round {round}: {results:?}");
        let owner = firsts[0].0.clone();
        for (account, outcome) in &results {
            match outcome {
                RedeemOutcome::First => {}
                RedeemOutcome::Repeat => assert_eq!(account, &owner),
                RedeemOutcome::OtherAccount => assert_ne!(account, &owner),
                RedeemOutcome::Revoked => panic!("nothing was revoked"),
            }
        }
        let row = ledger
            .find(Store::GooglePlay, "dev.payseal.demo", &key)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.account_id, owner);
        assert_eq!(
            ledger.redeem(redemption(&owner, &key, 99)).await.unwrap(),
            RedeemOutcome::Repeat
        );
        assert_eq!(
            ledger
                .redeem(redemption("newcomer", &key, 100))
                .await
                .unwrap(),
            RedeemOutcome::OtherAccount
        );
    }
}

/// Many receipts raced at once (every task in flight together): one `First` per receipt.
pub async fn race_many_receipts(ledger: Arc<dyn Ledger>) {
    let keys: Vec<String> = (0..25)
        .map(|i| format!("MANY.{i}.{}", uuid::Uuid::new_v4()))
        .collect();
    let mut tasks = Vec::new();
    for (k, key) in keys.iter().enumerate() {
        for a in 0..8 {
            let ledger = Arc::clone(&ledger);
            let key = key.clone();
            tasks.push(tokio::spawn(async move {
                let account = format!("acct-{}", (a + k) % 6);
                let outcome = ledger.redeem(redemption(&account, &key, 1)).await.unwrap();
                (key, account, outcome)
            }));
        }
    }
    let mut owners: HashMap<String, Vec<String>> = HashMap::new();
    for t in tasks {
        let (key, account, outcome) = t.await.unwrap();
        if outcome == RedeemOutcome::First {
            owners.entry(key).or_default().push(account);
        }
    }
    for key in &keys {
        assert_eq!(
            owners.get(key).map(Vec::len),
            Some(1),
            "{key}: firsts {:?}",
            owners.get(key)
        );
    }
    assert_eq!(ledger.count_redemptions().await.unwrap(), keys.len() as u64);
}

/// A working ledger is ready, before and after use.
pub async fn readiness(ledger: Arc<dyn Ledger>) {
    ledger.ready().await.unwrap();
    assert_eq!(
        ledger
            .redeem(redemption("alice", "READY.1", 1))
            .await
            .unwrap(),
        RedeemOutcome::First
    );
    ledger.ready().await.unwrap();
}

/// An outbox delivery for `app` with id `id`.
pub fn delivery(id: &str, created_ms: i64) -> NewDelivery {
    NewDelivery {
        id: id.into(),
        app_id: "dev.payseal.demo".into(),
        event_type: "purchase.paid".into(),
        body: format!(r#"{{"id":"{id}"}}"#),
        created_ms,
    }
}

/// A `paid / first` redemption and its outbox row commit together: `First` enqueues, `Repeat`
/// and `OtherAccount` do not, and when the outbox row cannot be written (its id is taken) the
/// redemption is not recorded either.
pub async fn outbox_row_commits_with_the_first_redemption(ledger: Arc<dyn Ledger>) {
    assert_eq!(ledger.count_pending().await.unwrap(), 0);
    let first = redemption("alice", "OUT.1", 1_000);
    assert_eq!(
        ledger
            .redeem_and_notify(first.clone(), Some(delivery(&first.verdict_id, 1_000)))
            .await
            .unwrap(),
        RedeemOutcome::First
    );
    let rows = ledger
        .list_deliveries(OutboxFilter::State(DeliveryState::Pending), 10)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].id, first.verdict_id);
    assert_eq!(rows[0].body, format!(r#"{{"id":"{}"}}"#, first.verdict_id));
    assert_eq!((rows[0].attempts, rows[0].next_attempt_ms), (0, 1_000));
    assert_eq!(rows[0].age_from_ms, 1_000);

    // Repeat and other account: nothing enqueued.
    let again = redemption("alice", "OUT.1", 2_000);
    assert_eq!(
        ledger
            .redeem_and_notify(again.clone(), Some(delivery(&again.verdict_id, 2_000)))
            .await
            .unwrap(),
        RedeemOutcome::Repeat
    );
    let other = redemption("bob", "OUT.1", 3_000);
    assert_eq!(
        ledger
            .redeem_and_notify(other.clone(), Some(delivery(&other.verdict_id, 3_000)))
            .await
            .unwrap(),
        RedeemOutcome::OtherAccount
    );
    assert_eq!(ledger.count_pending().await.unwrap(), 1);

    // The outbox insert fails (duplicate id) → the redemption is rolled back with it.
    let doomed = redemption("carol", "OUT.2", 4_000);
    let err = ledger
        .redeem_and_notify(doomed, Some(delivery(&first.verdict_id, 4_000)))
        .await;
    assert!(err.is_err(), "a duplicate outbox id must fail: {err:?}");
    assert_eq!(
        ledger
            .find(Store::GooglePlay, "dev.payseal.demo", "OUT.2")
            .await
            .unwrap(),
        None,
        "redemption committed without its outbox row"
    );
    assert_eq!(ledger.count_pending().await.unwrap(), 1);
    // And the ledger still works afterwards (other requests were not rolled back).
    let later = redemption("carol", "OUT.2", 5_000);
    assert_eq!(
        ledger
            .redeem_and_notify(later.clone(), Some(delivery(&later.verdict_id, 5_000)))
            .await
            .unwrap(),
        RedeemOutcome::First
    );
    assert_eq!(ledger.count_pending().await.unwrap(), 2);
    assert_eq!(ledger.count_redemptions().await.unwrap(), 2);
}

/// Claims lease rows (a leased row is not claimed again until the lease ends), attempts are
/// recorded (fenced: a result from a claim whose lease ran out is not), failed rows can be
/// retried, and concurrent claimers never share a row.
pub async fn outbox_claims_leases_and_results(ledger: Arc<dyn Ledger>) {
    for i in 0..3 {
        let r = redemption("alice", &format!("CLAIM.{i}"), 100 + i);
        ledger
            .redeem_and_notify(r, Some(delivery(&format!("ev-{i}"), 100 + i)))
            .await
            .unwrap();
    }
    // Not due before their time.
    assert!(ledger.claim_due(50, 1_000, 10).await.unwrap().is_empty());
    let claimed = ledger.claim_due(200, 10_000, 2).await.unwrap();
    let ids: Vec<_> = claimed.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(ids, ["ev-0", "ev-1"], "oldest first, limit respected");
    assert!(claimed
        .iter()
        .all(|d| d.attempts == 1 && d.next_attempt_ms == 10_000));
    // Leased: only ev-2 is left before the lease ends.
    let rest = ledger.claim_due(300, 10_000, 10).await.unwrap();
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].id, "ev-2");
    // A worker that died: its rows come back after the lease.
    let again = ledger.claim_due(10_000, 20_000, 10).await.unwrap();
    assert_eq!(again.len(), 3);
    assert!(again.iter().all(|d| d.attempts == 2));

    // The first claim's lease ran out and the rows were claimed again (attempts 2): a result
    // from the first claim comes too late and is not recorded over the second.
    let stale = ledger
        .finish_attempt("ev-0", 1, AttemptResult::Delivered { at_ms: 10_000 })
        .await
        .unwrap();
    assert!(
        !stale,
        "a result from an expired claim must not be recorded"
    );
    let stale = ledger
        .finish_attempt(
            "ev-1",
            1,
            AttemptResult::Retry {
                next_attempt_ms: 99_000,
                error: "late".into(),
            },
        )
        .await
        .unwrap();
    assert!(!stale);

    assert!(ledger
        .finish_attempt("ev-0", 2, AttemptResult::Delivered { at_ms: 10_001 })
        .await
        .unwrap());
    assert!(ledger
        .finish_attempt(
            "ev-1",
            2,
            AttemptResult::Retry {
                next_attempt_ms: 15_000,
                error: "HTTP 500".into(),
            },
        )
        .await
        .unwrap());
    assert!(ledger
        .finish_attempt(
            "ev-2",
            2,
            AttemptResult::Failed {
                at_ms: 10_002,
                error: "HTTP 503".into(),
            },
        )
        .await
        .unwrap());
    // A late result for a row no longer pending changes nothing.
    let late = ledger
        .finish_attempt(
            "ev-0",
            2,
            AttemptResult::Failed {
                at_ms: 10_003,
                error: "late".into(),
            },
        )
        .await
        .unwrap();
    assert!(!late);
    let all = ledger.list_deliveries(OutboxFilter::All, 10).await.unwrap();
    let by_id = |id: &str| all.iter().find(|d| d.id == id).unwrap().clone();
    assert_eq!(by_id("ev-0").state, DeliveryState::Delivered);
    assert_eq!(by_id("ev-0").finished_ms, Some(10_001));
    assert_eq!(by_id("ev-1").state, DeliveryState::Pending);
    assert_eq!(by_id("ev-1").next_attempt_ms, 15_000);
    assert_eq!(by_id("ev-1").last_error.as_deref(), Some("HTTP 500"));
    assert_eq!(by_id("ev-2").state, DeliveryState::Failed);
    assert_eq!(ledger.count_pending().await.unwrap(), 1);
    let failed = ledger
        .list_deliveries(OutboxFilter::State(DeliveryState::Failed), 10)
        .await
        .unwrap();
    assert_eq!(failed.len(), 1);

    // Retry: one by id (an unknown or non-failed id changes nothing), then all.
    assert_eq!(ledger.retry_failed(Some("ev-0"), 30_000).await.unwrap(), 0);
    assert_eq!(ledger.retry_failed(Some("nope"), 30_000).await.unwrap(), 0);
    assert_eq!(ledger.retry_failed(Some("ev-2"), 30_000).await.unwrap(), 1);
    let ev2 = ledger
        .list_deliveries(OutboxFilter::State(DeliveryState::Pending), 10)
        .await
        .unwrap()
        .into_iter()
        .find(|d| d.id == "ev-2")
        .unwrap();
    assert_eq!((ev2.next_attempt_ms, ev2.age_from_ms), (30_000, 30_000));
    assert_eq!(ledger.retry_failed(None, 30_000).await.unwrap(), 0);

    // Concurrent claimers: every due row is claimed by exactly one.
    for i in 0..30 {
        let r = redemption("bob", &format!("CONC.{i}"), 40_000);
        ledger
            .redeem_and_notify(r, Some(delivery(&format!("conc-{i}"), 40_000)))
            .await
            .unwrap();
    }
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let ledger = Arc::clone(&ledger);
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            for _ in 0..10 {
                let got = ledger.claim_due(50_000, 90_000, 4).await.unwrap();
                mine.extend(got.into_iter().map(|d| d.id));
            }
            mine
        }));
    }
    let mut seen = HashMap::new();
    for t in tasks {
        for id in t.await.unwrap() {
            *seen.entry(id).or_insert(0) += 1;
        }
    }
    // ev-1 (due 15 000) and ev-2 (due 30 000) are due too.
    assert_eq!(seen.len(), 32, "{seen:?}");
    assert!(
        seen.values().all(|n| *n == 1),
        "a row was claimed twice: {seen:?}"
    );
}

fn revocation(key: &str, now: i64) -> RevocationRequest {
    RevocationRequest {
        store: Store::GooglePlay,
        app_id: "dev.payseal.demo".into(),
        transaction_key: key.into(),
        reason: "refunded".into(),
        now_ms: now,
    }
}

/// Revocation: recorded once with its outbox row; afterwards the transaction is `Revoked` for
/// everyone (the owner included) and a second revocation changes nothing.
pub async fn revocation_is_recorded_once_and_final(ledger: Arc<dyn Ledger>) {
    let notice = true;
    assert_eq!(
        ledger
            .revoke(revocation("REV.404", 1), notice)
            .await
            .unwrap(),
        RevokeOutcome::NotFound
    );
    assert_eq!(ledger.count_redemptions().await.unwrap(), 0);
    assert_eq!(ledger.count_pending().await.unwrap(), 0);

    assert_eq!(
        ledger
            .redeem(redemption("alice", "REV.1", 1_000))
            .await
            .unwrap(),
        RedeemOutcome::First
    );
    assert_eq!(
        ledger
            .revoke(revocation("REV.1", 5_000), notice)
            .await
            .unwrap(),
        RevokeOutcome::Revoked
    );
    let row = ledger
        .find(Store::GooglePlay, "dev.payseal.demo", "REV.1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.revoked_at_ms, Some(5_000));
    assert_eq!(row.revoke_reason.as_deref(), Some("refunded"));
    let pending = ledger
        .list_deliveries(OutboxFilter::State(DeliveryState::Pending), 10)
        .await
        .unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].event_type, "purchase.revoked");
    assert_eq!(pending[0].created_ms, 5_000);
    let events = revoked_events(&pending);
    assert_eq!(
        events[0]["data"]["sub"], "alice",
        "the notice is made from the row being revoked: {events:?}"
    );
    assert_eq!(events[0]["data"]["reason"], "refunded");
    assert_eq!(events[0]["data"]["transaction_id"], "REV.1");
    assert_eq!(events[0]["data"]["revoked_at"], 5);

    for account in ["alice", "bob"] {
        assert_eq!(
            ledger
                // Later than a repeat that writes: a revoked row is still not touched.
                .redeem(redemption(
                    account,
                    "REV.1",
                    6_000 + LAST_SEEN_RESOLUTION_MS
                ))
                .await
                .unwrap(),
            RedeemOutcome::Revoked,
            "{account}"
        );
    }
    assert_eq!(
        ledger
            .revoke(revocation("REV.1", 7_000), notice)
            .await
            .unwrap(),
        RevokeOutcome::AlreadyRevoked
    );
    assert_eq!(ledger.count_pending().await.unwrap(), 1);
    let row = ledger
        .find(Store::GooglePlay, "dev.payseal.demo", "REV.1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        row.revoked_at_ms,
        Some(5_000),
        "the first revocation stands"
    );
    assert_eq!(row.last_seen_ms, 1_000, "a revoked row is not touched");
    // Other transactions are unaffected.
    assert_eq!(
        ledger
            .redeem(redemption("alice", "REV.2", 8_000))
            .await
            .unwrap(),
        RedeemOutcome::First
    );
    // Without a notice the revocation is recorded and nothing is enqueued.
    assert_eq!(
        ledger
            .revoke(revocation("REV.2", 9_000), false)
            .await
            .unwrap(),
        RevokeOutcome::Revoked
    );
    assert_eq!(ledger.count_pending().await.unwrap(), 1);
}

/// Many revocations of one transaction at once (the store's refund seen by several requests,
/// an operator's `revoke` beside them): exactly one revokes and enqueues, every other one reads
/// it revoked; the owner's repeat presentations racing them are `Repeat` before and `Revoked`
/// after, never anything else.
pub async fn concurrent_revocations_revoke_once(ledger: Arc<dyn Ledger>) {
    assert_eq!(
        ledger
            .redeem(redemption("alice", "REV.RACE", 1_000))
            .await
            .unwrap(),
        RedeemOutcome::First
    );
    let mut tasks = Vec::new();
    for i in 0..16 {
        let ledger = Arc::clone(&ledger);
        tasks.push(tokio::spawn(async move {
            if i % 2 == 0 {
                let outcome = ledger
                    .revoke(revocation("REV.RACE", 2_000 + i), true)
                    .await
                    .unwrap();
                (true, format!("{outcome:?}"))
            } else {
                let outcome = ledger
                    .redeem(redemption("alice", "REV.RACE", 2_000 + i))
                    .await
                    .unwrap();
                (false, format!("{outcome:?}"))
            }
        }));
    }
    let mut revoked = 0;
    for t in tasks {
        let (is_revoke, outcome) = t.await.unwrap();
        match (is_revoke, outcome.as_str()) {
            (true, "Revoked") => revoked += 1,
            (true, "AlreadyRevoked") | (false, "Repeat") | (false, "Revoked") => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(revoked, 1, "exactly one revocation revokes");
    let pending = ledger
        .list_deliveries(OutboxFilter::State(DeliveryState::Pending), 10)
        .await
        .unwrap();
    assert_eq!(pending.len(), 1, "one notice: {pending:?}");
    let row = ledger
        .find(Store::GooglePlay, "dev.payseal.demo", "REV.RACE")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        row.revoked_at_ms,
        Some(pending[0].created_ms),
        "the notice belongs to the revocation that is recorded"
    );
    assert_eq!(
        ledger
            .redeem(redemption("alice", "REV.RACE", 9_000))
            .await
            .unwrap(),
        RedeemOutcome::Revoked
    );
}

/// A subscription's period ending at `expires_at_ms`, presented by `account`, under its renewal
/// chain's key.
pub fn renewal(account: &str, chain: &str, now_ms: i64, expires_at_ms: i64) -> RedemptionRequest {
    RedemptionRequest {
        store: Store::AppStore,
        expires_at_ms: Some(expires_at_ms),
        kind: None,
        environment: None,
        product_id: "pro_monthly".into(),
        ..redemption(account, chain, now_ms)
    }
}

/// A subscription's renewal chain: the first account owns it, a renewal by the owner is
/// `Repeat` and moves the row's expiry to the newest end (never back, also when renewals race),
/// another account's renewal is `OtherAccount` and changes nothing, with or without an outbox
/// row; a revoked chain is `Revoked` for its renewals and keeps its expiry.
pub async fn subscription_chain_keeps_owner_and_newest_expiry(ledger: Arc<dyn Ledger>) {
    let expiry = |key: &'static str| {
        let ledger = Arc::clone(&ledger);
        async move {
            let row = ledger
                .find(Store::AppStore, "dev.payseal.demo", key)
                .await
                .unwrap()
                .expect("row of the chain");
            (row.account_id, row.expires_at_ms)
        }
    };
    let r = |req: RedemptionRequest| {
        let ledger = Arc::clone(&ledger);
        async move { ledger.redeem(req).await.unwrap() }
    };
    assert_eq!(
        r(renewal("alice", "CHAIN.1", 1_000, 10_000)).await,
        RedeemOutcome::First
    );
    assert_eq!(expiry("CHAIN.1").await, ("alice".into(), Some(10_000)));
    assert_eq!(
        r(renewal("alice", "CHAIN.1", 2_000, 20_000)).await,
        RedeemOutcome::Repeat
    );
    assert_eq!(expiry("CHAIN.1").await, ("alice".into(), Some(20_000)));
    // An older transaction of the chain, presented later, does not shorten it.
    assert_eq!(
        r(renewal("alice", "CHAIN.1", 3_000, 10_000)).await,
        RedeemOutcome::Repeat
    );
    let mut no_expiry = renewal("alice", "CHAIN.1", 3_500, 0);
    no_expiry.expires_at_ms = None;
    assert_eq!(r(no_expiry).await, RedeemOutcome::Repeat);
    assert_eq!(expiry("CHAIN.1").await, ("alice".into(), Some(20_000)));
    // Another account's renewal of the chain: refused, nothing changes.
    assert_eq!(
        r(renewal("bob", "CHAIN.1", 4_000, 30_000)).await,
        RedeemOutcome::OtherAccount
    );
    assert_eq!(expiry("CHAIN.1").await, ("alice".into(), Some(20_000)));

    // Renewals racing: the row ends at the newest of them.
    let tasks: Vec<_> = (0..24_i64)
        .map(|i| {
            let ledger = Arc::clone(&ledger);
            tokio::spawn(async move {
                ledger
                    .redeem(renewal(
                        "alice",
                        "CHAIN.1",
                        5_000 + i,
                        100_000 + (i * 7919) % 24_000,
                    ))
                    .await
                    .unwrap()
            })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), RedeemOutcome::Repeat);
    }
    let newest = (0..24_i64).map(|i| 100_000 + (i * 7919) % 24_000).max();
    assert_eq!(expiry("CHAIN.1").await, ("alice".into(), newest));

    // The first redemption with its outbox row records the expiry too.
    assert_eq!(
        ledger
            .redeem_and_notify(
                renewal("carol", "CHAIN.2", 6_000, 60_000),
                Some(delivery("sub-1", 6_000))
            )
            .await
            .unwrap(),
        RedeemOutcome::First
    );
    assert_eq!(expiry("CHAIN.2").await, ("carol".into(), Some(60_000)));

    // Revoked by the chain's key: every renewal of it is refused, the expiry stays.
    let mut revoke = revocation("CHAIN.2", 7_000);
    revoke.store = Store::AppStore;
    assert_eq!(
        ledger.revoke(revoke, false).await.unwrap(),
        RevokeOutcome::Revoked
    );
    assert_eq!(
        r(renewal("carol", "CHAIN.2", 8_000, 90_000)).await,
        RedeemOutcome::Revoked
    );
    assert_eq!(expiry("CHAIN.2").await, ("carol".into(), Some(60_000)));
    assert_eq!(ledger.count_redemptions().await.unwrap(), 2);
}

/// One `#[tokio::test]` per suite case for the backend that `$make` (an async fn returning a
/// [`TestLedger`]) opens.
/// An account's owned rows: one read, its rows only (of that app), with the kind and
/// environment its first redemption recorded, revoked rows included (`grants` decides).
pub async fn owned_rows_of_one_account(ledger: Arc<dyn Ledger>) {
    use payseal_protocol::{Environment, PurchaseKind};
    let with = |account: &str, key: &str, at: i64, kind, env, expires| RedemptionRequest {
        kind,
        environment: env,
        expires_at_ms: expires,
        product_id: format!("p-{key}"),
        ..redemption(account, key, at)
    };
    let life = with(
        "alice",
        "T1",
        10,
        Some(PurchaseKind::NonConsumable),
        Some(Environment::Production),
        None,
    );
    let sub = with(
        "alice",
        "CHAIN",
        20,
        Some(PurchaseKind::Subscription),
        Some(Environment::Sandbox),
        Some(5_000),
    );
    let coins = with(
        "alice",
        "T3",
        30,
        Some(PurchaseKind::Consumable),
        None,
        None,
    );
    let bobs = with("bob", "T4", 5, None, None, None);
    for r in [&life, &sub, &coins, &bobs] {
        assert_eq!(
            ledger.redeem(r.clone()).await.unwrap(),
            RedeemOutcome::First
        );
    }
    let mut other_app = with("alice", "T5", 1, None, None, None);
    other_app.app_id = "other.app".into();
    ledger.redeem(other_app).await.unwrap();
    // Bob presenting alice's key changes nothing of hers.
    assert_eq!(
        ledger
            .redeem(with("bob", "T1", 40, None, None, None))
            .await
            .unwrap(),
        RedeemOutcome::OtherAccount
    );
    let revoked = ledger
        .revoke(
            RevocationRequest {
                store: Store::GooglePlay,
                app_id: "dev.payseal.demo".into(),
                transaction_key: "T3".into(),
                reason: "refund".into(),
                now_ms: 50,
            },
            false,
        )
        .await
        .unwrap();
    assert_eq!(revoked, RevokeOutcome::Revoked);

    let rows = ledger.owned("dev.payseal.demo", "alice").await.unwrap();
    let keys: Vec<_> = rows.iter().map(|r| r.transaction_key.as_str()).collect();
    assert_eq!(keys, ["T1", "CHAIN", "T3"]);
    assert_eq!(rows[0].kind.as_deref(), Some("non_consumable"));
    assert_eq!(rows[0].environment.as_deref(), Some("production"));
    assert_eq!(rows[0].product_id, "p-T1");
    assert_eq!(rows[0].store, "google_play");
    assert_eq!(rows[0].first_seen_ms, 10);
    assert_eq!(rows[1].kind.as_deref(), Some("subscription"));
    assert_eq!(rows[1].environment.as_deref(), Some("sandbox"));
    assert_eq!(rows[1].expires_at_ms, Some(5_000));
    assert_eq!(rows[2].revoked_at_ms, Some(50));
    let granting: Vec<_> = rows
        .iter()
        .filter(|r| payseal_ledger::grants(r, 1_000))
        .map(|r| r.transaction_key.as_str())
        .collect();
    assert_eq!(granting, ["T1", "CHAIN"]);
    assert!(ledger
        .owned("dev.payseal.demo", "carol")
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        ledger.owned("dev.payseal.demo", "bob").await.unwrap().len(),
        1
    );
}

/// A transfer moves an unrevoked row from the owner seen to the new account, with its webhook
/// row in the same transaction; a stale owner, a revoked row or no row moves nothing.
pub async fn transfer_moves_the_row_and_its_webhook_together(ledger: Arc<dyn Ledger>) {
    use payseal_ledger::{TransferOutcome, TransferRequest};
    ledger.redeem(redemption("alice", "T1", 10)).await.unwrap();
    let request = |from: &str, to: &str, key: &str| TransferRequest {
        store: Store::GooglePlay,
        app_id: "dev.payseal.demo".into(),
        transaction_key: key.into(),
        from_account: from.into(),
        to_account: to.into(),
        now_ms: 20,
    };
    let note = || NewDelivery {
        id: uuid::Uuid::new_v4().to_string(),
        app_id: "dev.payseal.demo".into(),
        event_type: "purchase.transferred".into(),
        body: "{}".into(),
        created_ms: 20,
    };
    assert_eq!(
        ledger
            .transfer(request("bob", "carol", "T1"), Some(note()))
            .await
            .unwrap(),
        TransferOutcome::OwnerChanged
    );
    assert_eq!(
        ledger
            .transfer(request("alice", "bob", "T404"), Some(note()))
            .await
            .unwrap(),
        TransferOutcome::NotFound
    );
    assert_eq!(ledger.count_pending().await.unwrap(), 0);
    assert_eq!(
        ledger
            .transfer(request("alice", "bob", "T1"), Some(note()))
            .await
            .unwrap(),
        TransferOutcome::Transferred
    );
    assert_eq!(ledger.count_pending().await.unwrap(), 1);
    let row = ledger
        .find(Store::GooglePlay, "dev.payseal.demo", "T1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((row.account_id.as_str(), row.last_seen_ms), ("bob", 20));
    assert!(ledger
        .owned("dev.payseal.demo", "alice")
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        ledger.owned("dev.payseal.demo", "bob").await.unwrap().len(),
        1
    );
    assert_eq!(
        ledger.redeem(redemption("bob", "T1", 30)).await.unwrap(),
        RedeemOutcome::Repeat
    );
    assert_eq!(
        ledger.redeem(redemption("alice", "T1", 30)).await.unwrap(),
        RedeemOutcome::OtherAccount
    );
    ledger
        .revoke(
            RevocationRequest {
                store: Store::GooglePlay,
                app_id: "dev.payseal.demo".into(),
                transaction_key: "T1".into(),
                reason: "refund".into(),
                now_ms: 40,
            },
            false,
        )
        .await
        .unwrap();
    assert_eq!(
        ledger
            .transfer(request("bob", "alice", "T1"), Some(note()))
            .await
            .unwrap(),
        TransferOutcome::Revoked
    );
    assert_eq!(ledger.count_pending().await.unwrap(), 1);
}

/// `entitlements.changed`: the names an account holds compared with the set last announced,
/// announced once however many callers look at once (the set's row is locked), never when the
/// names are the same, and again when a revocation removes one.
pub async fn entitlement_changes_are_announced_once(ledger: Arc<dyn Ledger>) {
    use payseal_protocol::PurchaseKind;
    let app = "dev.payseal.demo";
    let mut products = payseal_ledger::entitlements::ProductNames::new();
    products.insert("lifetime_pro".into(), vec!["premium".into()]);
    let products = Arc::new(products);
    let life = RedemptionRequest {
        product_id: "lifetime_pro".into(),
        kind: Some(PurchaseKind::NonConsumable),
        ..redemption("alice", "LIFE.1", 1_000)
    };
    assert_eq!(ledger.redeem(life).await.unwrap(), RedeemOutcome::First);
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (ledger, products) = (ledger.clone(), products.clone());
        tasks.push(tokio::spawn(async move {
            ledger
                .refresh_entitlements(app, "alice", products, 2_000, "purchase")
                .await
                .unwrap()
        }));
    }
    let mut changed = 0;
    for t in tasks {
        changed += usize::from(t.await.unwrap());
    }
    assert_eq!(changed, 1, "announced once");
    let refresh = |now| {
        let (ledger, products) = (ledger.clone(), products.clone());
        async move {
            ledger
                .refresh_entitlements(app, "alice", products, now, "read")
                .await
                .unwrap()
        }
    };
    assert!(!refresh(3_000).await, "the same names: nothing");
    ledger
        .revoke(
            RevocationRequest {
                store: Store::GooglePlay,
                app_id: app.into(),
                transaction_key: "LIFE.1".into(),
                reason: "refund".into(),
                now_ms: 4_000,
            },
            false,
        )
        .await
        .unwrap();
    assert!(refresh(5_000).await, "premium removed");
    let rows = ledger
        .list_deliveries(OutboxFilter::All, 100)
        .await
        .unwrap();
    let mut events: Vec<_> = revoked_events(&rows)
        .into_iter()
        .filter(|e| e["type"] == "entitlements.changed")
        .map(|e| {
            (
                e["data"]["cause"].as_str().unwrap().to_string(),
                e["data"]["added"].clone(),
                e["data"]["removed"].clone(),
                e["data"]["sub"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    events.sort_by(|a, b| a.0.cmp(&b.0));
    let names = |v: &[&str]| serde_json::json!(v);
    assert_eq!(
        events,
        [
            (
                "purchase".into(),
                names(&["premium"]),
                names(&[]),
                "alice".into()
            ),
            (
                "read".into(),
                names(&[]),
                names(&["premium"]),
                "alice".into()
            ),
        ]
    );
}

#[macro_export]
macro_rules! ledger_suite {
    ($make:path) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn entitlement_changes_are_announced_once() {
            let t = $make().await;
            $crate::suite::cases::entitlement_changes_are_announced_once(t.ledger).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn transfer_moves_the_row_and_its_webhook_together() {
            let t = $make().await;
            $crate::suite::cases::transfer_moves_the_row_and_its_webhook_together(t.ledger).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn owned_rows_of_one_account() {
            let t = $make().await;
            $crate::suite::cases::owned_rows_of_one_account(t.ledger).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn first_repeat_other_account() {
            let t = $make().await;
            $crate::suite::cases::first_repeat_other_account(t.ledger).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn race_one_receipt_many_tasks_several_accounts_one_first() {
            let t = $make().await;
            $crate::suite::cases::race_one_receipt(t.ledger).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn race_many_receipts_at_once_one_first_each() {
            let t = $make().await;
            $crate::suite::cases::race_many_receipts(t.ledger).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn outbox_row_commits_with_the_first_redemption() {
            let t = $make().await;
            $crate::suite::cases::outbox_row_commits_with_the_first_redemption(t.ledger).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn outbox_claims_leases_and_results() {
            let t = $make().await;
            $crate::suite::cases::outbox_claims_leases_and_results(t.ledger).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn revocation_is_recorded_once_and_final() {
            let t = $make().await;
            $crate::suite::cases::revocation_is_recorded_once_and_final(t.ledger).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn concurrent_revocations_revoke_once() {
            let t = $make().await;
            $crate::suite::cases::concurrent_revocations_revoke_once(t.ledger).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn subscription_chain_keeps_owner_and_newest_expiry() {
            let t = $make().await;
            $crate::suite::cases::subscription_chain_keeps_owner_and_newest_expiry(t.ledger).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn ready_before_and_after_use() {
            let t = $make().await;
            $crate::suite::cases::readiness(t.ledger).await;
        }
    };
}
