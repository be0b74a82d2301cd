//! Upgrade in place: ledgers made by the verifier before the `payseal-ledger` crate (main at
//! 70e3fa7) open with this crate, keep every row, and the rows work.
//!
//! The old schemas are not re-derived from this crate's migration files: they are the old SQL,
//! copied verbatim into `tests/fixtures/` (SQLite: the `user_version` steps and the cursor table
//! of the old `sqlite.rs`; PostgreSQL: the five migration files and the migrations table of the
//! old `postgres.rs`, recorded with their SHA-256 as the old runner recorded them). Each test
//! builds a database the old way, fills every table, opens it with the ledger and uses it.
//! PostgreSQL cases are built with the `postgres-tests` feature (a real server, see
//! `tests/suite/pg.rs`).

mod suite;

use std::path::Path;
use std::sync::Arc;

use payseal_ledger::event::{EventKeys, Revoker};
use payseal_ledger::migrate::SQLITE;
use payseal_ledger::notifications::{
    Effect, NewNotification, NotificationResult, Target, TargetApp,
};
use payseal_ledger::outbox::{AttemptResult, DeliveryState, OutboxFilter};
use payseal_ledger::{Ledger, RedeemOutcome, RedemptionRequest};
use payseal_protocol::Store;

const APP: &str = "dev.payseal.demo";

/// The old SQLite steps, verbatim (`tests/fixtures/sqlite_70e3fa7/`).
const SQLITE_STEPS: [&str; 4] = [
    include_str!("fixtures/sqlite_70e3fa7/1_SCHEMA.sql"),
    include_str!("fixtures/sqlite_70e3fa7/2_UPGRADE_TO_2.sql"),
    include_str!("fixtures/sqlite_70e3fa7/3_UPGRADE_TO_3.sql"),
    include_str!("fixtures/sqlite_70e3fa7/4_UPGRADE_TO_4.sql"),
];
const SQLITE_VOIDED_CURSORS: &str = include_str!("fixtures/sqlite_70e3fa7/VOIDED_CURSORS.sql");

/// Rows in every table of a version-4 ledger; `{p}` is the table prefix of the backend that
/// made it (SQLite: none; PostgreSQL: `payseal_`).
const ROWS: &str = "
INSERT INTO {p}redemptions (store, app_id, transaction_key, account_id, product_id,
    receipt_sha256, first_verdict_id, first_seen_ms, last_seen_ms, revoked_at_ms, revoke_reason,
    expires_at_ms)
VALUES
    ('google_play', 'dev.payseal.demo', 'GPA.1', 'alice', 'coins_100', 'aa', 'jti-1', 1000, 2000,
     NULL, NULL, NULL),
    ('app_store', 'dev.payseal.demo', 'CHAIN.1', 'bob', 'pro_monthly', 'bb', 'jti-2', 1000, 3000,
     NULL, NULL, 50000),
    ('google_play', 'dev.payseal.demo', 'GPA.REV', 'carol', 'coins_100', 'cc', 'jti-3', 1000,
     1000, 4000, 'refunded', NULL),
    ('app_store', 'dev.payseal.demo', 'REFUSED.1', '', 'coins_100', '', '', 5000, 5000, 5000,
     'app_store: revoked by REFUND notification n-1', NULL);
INSERT INTO {p}outbox (id, app_id, event_type, body, created_ms, age_from_ms, attempts,
    next_attempt_ms, state, last_error, finished_ms)
VALUES
    ('ev-pending', 'dev.payseal.demo', 'purchase.paid', '{\"id\":\"ev-pending\"}', 1000, 1000, 0,
     1000, 'pending', NULL, NULL),
    ('ev-delivered', 'dev.payseal.demo', 'purchase.paid', '{\"id\":\"ev-delivered\"}', 900, 900,
     1, 950, 'delivered', NULL, 960),
    ('ev-failed', 'dev.payseal.demo', 'purchase.revoked', '{\"id\":\"ev-failed\"}', 800, 800, 7,
     850, 'failed', 'HTTP 500', 870);
INSERT INTO {p}store_notifications (store, notification_id, notification_type, subtype,
    environment, app_id, transaction_key, signed_ms, received_ms, result)
VALUES ('app_store', 'n-1', 'REFUND', NULL, 'sandbox', 'dev.payseal.demo', 'REFUSED.1', 4995,
        5000, 'revoked_before_redemption');
INSERT INTO {p}google_voided_cursor (package_name, start_time_ms, updated_ms)
VALUES ('dev.payseal.demo', 123000, 124000);
";

fn rows(prefix: &str) -> String {
    ROWS.replace("{p}", prefix)
}

fn presented(store: Store, key: &str, account: &str, now_ms: i64) -> RedemptionRequest {
    RedemptionRequest {
        store,
        app_id: APP.into(),
        transaction_key: key.into(),
        account_id: account.into(),
        product_id: "coins_100".into(),
        receipt_sha256: "ab".repeat(32),
        verdict_id: format!("jti-{account}-{now_ms}"),
        now_ms,
        expires_at_ms: None,
        kind: None,
        environment: None,
    }
}

/// Every row of [`ROWS`] is there, as it was, and usable.
async fn rows_are_all_there_and_usable(ledger: &Arc<dyn Ledger>) {
    // Redemptions.
    assert_eq!(ledger.count_redemptions().await.unwrap(), 4);
    let alice = ledger
        .find(Store::GooglePlay, APP, "GPA.1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            alice.account_id.as_str(),
            alice.first_verdict_id.as_str(),
            alice.first_seen_ms,
            alice.last_seen_ms
        ),
        ("alice", "jti-1", 1000, 2000)
    );
    let chain = ledger
        .find(Store::AppStore, APP, "CHAIN.1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(chain.expires_at_ms, Some(50_000));
    let redeem = |r| {
        let ledger = Arc::clone(ledger);
        async move { ledger.redeem(r).await.unwrap() }
    };
    assert_eq!(
        redeem(presented(Store::GooglePlay, "GPA.1", "alice", 9_000)).await,
        RedeemOutcome::Repeat
    );
    assert_eq!(
        redeem(presented(Store::GooglePlay, "GPA.1", "mallory", 9_000)).await,
        RedeemOutcome::OtherAccount
    );
    assert_eq!(
        redeem(presented(Store::GooglePlay, "GPA.REV", "carol", 9_000)).await,
        RedeemOutcome::Revoked
    );
    assert_eq!(
        redeem(presented(Store::AppStore, "REFUSED.1", "dave", 9_000)).await,
        RedeemOutcome::Revoked,
        "a refusal row still refuses"
    );
    let mut renewal = presented(Store::AppStore, "CHAIN.1", "bob", 9_000);
    renewal.expires_at_ms = Some(80_000);
    assert_eq!(redeem(renewal).await, RedeemOutcome::Repeat);
    let chain = ledger
        .find(Store::AppStore, APP, "CHAIN.1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (chain.last_seen_ms, chain.expires_at_ms),
        (9_000, Some(80_000))
    );
    assert_eq!(
        redeem(presented(Store::GooglePlay, "GPA.NEW", "erin", 9_000)).await,
        RedeemOutcome::First
    );
    let revocations = ledger.list_revocations(10).await.unwrap();
    let revoked: Vec<(&str, Option<&str>)> = revocations
        .iter()
        .map(|r| (r.transaction_key.as_str(), r.account_id.as_deref()))
        .collect();
    assert_eq!(revoked, [("REFUSED.1", None), ("GPA.REV", Some("carol"))]);

    // Outbox.
    let all = ledger.list_deliveries(OutboxFilter::All, 10).await.unwrap();
    let states: Vec<(&str, DeliveryState, i64)> = all
        .iter()
        .map(|d| (d.id.as_str(), d.state, d.attempts))
        .collect();
    assert_eq!(
        states,
        [
            ("ev-pending", DeliveryState::Pending, 0),
            ("ev-delivered", DeliveryState::Delivered, 1),
            ("ev-failed", DeliveryState::Failed, 7),
        ]
    );
    assert_eq!(all[2].last_error.as_deref(), Some("HTTP 500"));
    assert_eq!(ledger.count_pending().await.unwrap(), 1);
    let claimed = ledger.claim_due(10_000, 20_000, 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(
        (claimed[0].id.as_str(), claimed[0].attempts),
        ("ev-pending", 1)
    );
    assert!(ledger
        .finish_attempt("ev-pending", 1, AttemptResult::Delivered { at_ms: 10_500 })
        .await
        .unwrap());
    assert_eq!(
        ledger
            .retry_failed(Some("ev-failed"), 11_000)
            .await
            .unwrap(),
        1
    );
    assert_eq!(ledger.count_pending().await.unwrap(), 1);

    // Store notifications: listed, and a redelivery is a duplicate with the stored result.
    let listed = ledger.list_notifications(None, 10).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (
            listed[0].notification_id.as_str(),
            listed[0].result.as_str()
        ),
        ("n-1", "revoked_before_redemption")
    );
    let again = ledger
        .record_notification(
            NewNotification {
                store: Store::AppStore,
                notification_id: "n-1".into(),
                notification_type: "REFUND".into(),
                subtype: None,
                environment: Some("sandbox".into()),
                app_id: Some(APP.into()),
                transaction_key: Some("REFUSED.1".into()),
                signed_ms: 4_995,
                received_ms: 12_000,
            },
            Effect::Record,
        )
        .await
        .unwrap();
    assert!(again.duplicate);
    assert_eq!(again.result, NotificationResult::RevokedBeforeRedemption);

    // Voided-purchases cursor.
    assert_eq!(ledger.voided_cursor(APP).await.unwrap(), Some(123_000));
    ledger
        .set_voided_cursor(APP, 130_000, 13_000)
        .await
        .unwrap();
    assert_eq!(ledger.voided_cursor(APP).await.unwrap(), Some(130_000));

    // The revocation causes of the old rows: the refusal the App Store told of is the App
    // Store's (its reversal removes it, and the transaction can then be redeemed); the other
    // revocation, which no notification told of, is an operator's (migration 0006/0007).
    let back = ledger
        .record_notification(
            NewNotification {
                store: Store::AppStore,
                notification_id: "n-2".into(),
                notification_type: "REFUND_REVERSED".into(),
                subtype: None,
                environment: Some("sandbox".into()),
                app_id: Some(APP.into()),
                transaction_key: Some("REFUSED.1".into()),
                signed_ms: 13_995,
                received_ms: 14_000,
            },
            Effect::Reinstate(Target {
                apps: vec![TargetApp {
                    app_id: APP.into(),
                    notify: false,
                    entitlements: None,
                }],
                keys: EventKeys::new("REFUSED.1", None::<String>),
                by: Revoker::Store(Store::AppStore),
                refuse_unredeemed: true,
                product_id: "coins_100".into(),
                reason: "app_store: reinstated".into(),
            }),
        )
        .await
        .unwrap();
    assert_eq!(back.result, NotificationResult::Reinstated);
    assert_eq!(
        redeem(presented(Store::AppStore, "REFUSED.1", "dave", 15_000)).await,
        RedeemOutcome::First
    );
}

/// A SQLite file as a verifier at 70e3fa7 left it: the old steps up to `version`, its
/// `user_version`, and (`cursors`) the cursor table it created at every open.
fn old_sqlite_file(dir: &Path, version: usize, cursors: bool) -> std::path::PathBuf {
    let path = dir.join("ledger.db");
    // Made private first, as an operator upgrading a file must (a wider file is refused).
    payseal_ledger::files::prepare(&path).unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    let _: String = conn
        .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
        .unwrap();
    for step in &SQLITE_STEPS[..version] {
        conn.execute_batch(step).unwrap();
    }
    if cursors {
        conn.execute_batch(SQLITE_VOIDED_CURSORS).unwrap();
    }
    conn.pragma_update(None, "user_version", version as i64)
        .unwrap();
    path
}

fn sqlite_tables(path: &Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(path).unwrap();
    let mut tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    tables.sort();
    tables
}

fn sqlite_recorded(path: &Path) -> (i64, Vec<(i64, String)>) {
    let conn = rusqlite::Connection::open(path).unwrap();
    let version = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    let rows = conn
        .prepare("SELECT version, checksum FROM payseal_schema_migrations ORDER BY version")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    (version, rows)
}

fn sqlite_url(path: &Path) -> String {
    format!("sqlite:{}", path.display())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_ledger_of_70e3fa7_upgrades_in_place_with_all_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = old_sqlite_file(dir.path(), 4, true);
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch(&rows(""))
        .unwrap();

    let ledger = payseal_ledger::open(&sqlite_url(&path)).unwrap();
    rows_are_all_there_and_usable(&ledger).await;
    drop(ledger);

    assert_eq!(
        sqlite_tables(&path),
        [
            "payseal_account_consent",
            "payseal_delivery_reports",
            "payseal_entitlement_sets",
            "payseal_google_voided_cursor",
            "payseal_outbox",
            "payseal_redemptions",
            "payseal_refund_requests",
            "payseal_revocation_causes",
            "payseal_schema_migrations",
            "payseal_store_acks",
            "payseal_store_notifications",
        ],
        "the PostgreSQL names, nothing left under the old ones"
    );
    let expected: Vec<(i64, String)> = SQLITE.iter().map(|m| (m.version, m.checksum())).collect();
    assert_eq!(
        sqlite_recorded(&path),
        (SQLITE.last().unwrap().version, expected)
    );
    // Opening again applies nothing and keeps everything.
    let again = payseal_ledger::open(&sqlite_url(&path)).unwrap();
    assert_eq!(again.count_redemptions().await.unwrap(), 5);
    assert_eq!(again.voided_cursor(APP).await.unwrap(), Some(130_000));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn older_sqlite_files_upgrade_from_their_user_version() {
    for (version, cursors) in [(1, false), (2, false), (3, false), (4, false)] {
        let dir = tempfile::tempdir().unwrap();
        let path = old_sqlite_file(dir.path(), version, cursors);
        // A redemption row with the columns of that version.
        rusqlite::Connection::open(&path)
            .unwrap()
            .execute(
                "INSERT INTO redemptions (store, app_id, transaction_key, account_id, product_id,
                     receipt_sha256, first_verdict_id, first_seen_ms, last_seen_ms)
                 VALUES ('google_play', ?1, 'GPA.9', 'alice', 'gems', 'ab', 'jti-9', 1, 2)",
                [APP],
            )
            .unwrap();
        let ledger = payseal_ledger::open(&sqlite_url(&path)).unwrap();
        let row = ledger
            .find(Store::GooglePlay, APP, "GPA.9")
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("version {version}: the row is gone"));
        assert_eq!(
            (
                row.account_id.as_str(),
                row.revoked_at_ms,
                row.expires_at_ms
            ),
            ("alice", None, None),
            "version {version}"
        );
        assert_eq!(
            ledger
                .redeem(presented(Store::GooglePlay, "GPA.9", "alice", 3))
                .await
                .unwrap(),
            RedeemOutcome::Repeat,
            "version {version}"
        );
        // The tables later versions added work: outbox, notifications, cursors.
        assert_eq!(ledger.count_pending().await.unwrap(), 0);
        assert!(ledger.list_notifications(None, 5).await.unwrap().is_empty());
        ledger.set_voided_cursor(APP, 5, 6).await.unwrap();
        assert_eq!(ledger.voided_cursor(APP).await.unwrap(), Some(5));
        drop(ledger);
        assert_eq!(
            sqlite_recorded(&path).0,
            SQLITE.last().unwrap().version,
            "version {version}"
        );
    }
}

#[test]
fn a_sqlite_file_that_is_not_a_ledger_of_ours_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = old_sqlite_file(dir.path(), 4, true);
    rusqlite::Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", 5)
        .unwrap();
    let err = payseal_ledger::open(&sqlite_url(&path))
        .unwrap_err()
        .to_string();
    assert!(err.contains("schema version 5"), "{err}");
}

#[cfg(feature = "postgres-tests")]
mod postgres {
    use sha2::{Digest, Sha256};

    use super::*;
    use crate::suite::pg;

    /// The five files of 70e3fa7, verbatim, with the names the old runner recorded.
    const FILES: [(i64, &str, &str); 5] = [
        (
            1,
            "redemptions",
            include_str!("fixtures/postgres_70e3fa7/0001_redemptions.sql"),
        ),
        (
            2,
            "outbox_revocation",
            include_str!("fixtures/postgres_70e3fa7/0002_outbox_revocation.sql"),
        ),
        (
            3,
            "subscriptions",
            include_str!("fixtures/postgres_70e3fa7/0003_subscriptions.sql"),
        ),
        (
            4,
            "store_notifications",
            include_str!("fixtures/postgres_70e3fa7/0004_store_notifications.sql"),
        ),
        (
            5,
            "google_voided",
            include_str!("fixtures/postgres_70e3fa7/0005_google_voided.sql"),
        ),
    ];

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_postgres_ledger_of_70e3fa7_upgrades_in_place_with_all_its_rows() {
        let url = pg::fresh_database().await;
        let mut client = pg::client(&url).await;
        // Migrated as the old runner did: version row (SHA-256 of the file), then the file.
        client
            .batch_execute(include_str!(
                "fixtures/postgres_70e3fa7/CREATE_MIGRATIONS_TABLE.sql"
            ))
            .await
            .unwrap();
        for (version, name, sql) in FILES {
            let tx = client.transaction().await.unwrap();
            tx.execute(
                "INSERT INTO payseal_schema_migrations (version, name, checksum, applied_at_ms)
                 VALUES ($1, $2, $3, 0)",
                &[
                    &version,
                    &name,
                    &hex::encode(Sha256::digest(sql.as_bytes())),
                ],
            )
            .await
            .unwrap();
            tx.batch_execute(sql).await.unwrap();
            tx.commit().await.unwrap();
        }
        client.batch_execute(&rows("payseal_")).await.unwrap();

        let postgres = payseal_ledger::PostgresLedger::connect(&url, &pg::test_options())
            .await
            .unwrap();
        // Connecting applied what 70e3fa7 did not have (auto_migrate).
        assert!(
            postgres.schema_status().await.unwrap().pending.is_empty(),
            "nothing left to apply"
        );
        assert!(postgres.migrate().await.unwrap().is_empty());
        let ledger: Arc<dyn Ledger> = Arc::new(postgres);
        rows_are_all_there_and_usable(&ledger).await;
        let recorded: i64 = client
            .query_one("SELECT COUNT(*) FROM payseal_schema_migrations", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(recorded, payseal_ledger::migrate::POSTGRES.len() as i64);
    }
}
