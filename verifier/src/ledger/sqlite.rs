//! SQLite ledger backend: one real file, WAL journal, `synchronous=FULL`, so a redemption is
//! on disk before [`Redemptions::redeem`] resolves (and so before the verdict leaves the server).
//!
//! Writes go through one writer thread with **group commit**: it takes every redemption that is
//! waiting (up to [`MAX_BATCH`]), runs each in its own savepoint inside one `BEGIN IMMEDIATE`
//! transaction (`INSERT … ON CONFLICT DO NOTHING`, then read the row and let [`super::classify`]
//! decide), commits once (one fsync for the batch), and only then answers each caller. Requests are
//! applied one after another, so two presentations of one receipt in a batch still see each other.
//! Reads (`ready`, `lookup`, `count`) use a second connection, which WAL lets run beside the
//! writer.
//!
//! **Webhook outbox** (schema version 2): a `paid / first` redemption and its `outbox` row are
//! written in the same savepoint, so they commit together or not at all. Revocations and
//! outbox updates (claims, attempt results, retries) also go through the writer thread, each in
//! its own `BEGIN IMMEDIATE` transaction (a revocation reads its row there and lets
//! [`super::classify_revocation`] decide). A version-1 file is upgraded in place when opened
//! (`revoked_at_ms`, `revoke_reason` columns and the `outbox` table).
//!
//! **Subscriptions** (schema version 3, numbered like the PostgreSQL migration
//! `0003_subscriptions.sql`): an `expires_at_ms` column, the newest period end of a renewal
//! chain ([`super::chain_expiry`]).
//!
//! **Store notifications** (schema version 4, numbered like the PostgreSQL migration
//! `0004_store_notifications.sql`; 3 is the subscriptions step): the `store_notifications`
//! table, one row per `(store, notification_id)`. A notification is inserted and its effect
//! applied in one `BEGIN IMMEDIATE` transaction on the writer thread
//! ([`crate::notifications::log`]). Files are upgraded step by step from whatever version they
//! have ([`STEPS`]).

use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension};
use tokio::sync::oneshot;

use super::{
    chain_expiry, classify, classify_reinstatement, classify_revocation, BoxFuture, LedgerError,
    RedeemOutcome, RedemptionRequest, Redemptions, ReinstateOutcome, RevocationRequest,
    RevokeNotice, RevokeOutcome, VoidedCursors, UNREDEEMED_ACCOUNT,
};
use crate::notifications::log::{
    store_revoked, Applied, Effect, NewNotification, NotificationLog, NotificationResult,
    NotificationRow, Recorded, RevocationRow, Target, TargetApp,
};
use crate::webhook::outbox::{
    AttemptResult, Delivery, DeliveryState, NewDelivery, Outbox, OutboxFilter,
};
use payseal_protocol::Store;

const SCHEMA_VERSION: i64 = 4;

/// Most redemptions committed together.
pub const MAX_BATCH: usize = 256;

/// How long a writer waits for another process's lock before failing the batch.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS redemptions (
    store            TEXT    NOT NULL,
    app_id           TEXT    NOT NULL,
    transaction_key  TEXT    NOT NULL,
    account_id       TEXT    NOT NULL,
    product_id       TEXT    NOT NULL,
    receipt_sha256   TEXT    NOT NULL,
    first_verdict_id TEXT    NOT NULL,
    first_seen_ms    INTEGER NOT NULL,
    last_seen_ms     INTEGER NOT NULL,
    PRIMARY KEY (store, app_id, transaction_key)
) WITHOUT ROWID;
";

/// Version 1 → 2: revocation columns and the webhook outbox.
const UPGRADE_TO_2: &str = "
ALTER TABLE redemptions ADD COLUMN revoked_at_ms INTEGER;
ALTER TABLE redemptions ADD COLUMN revoke_reason TEXT;
CREATE TABLE outbox (
    id              TEXT    PRIMARY KEY,
    app_id          TEXT    NOT NULL,
    event_type      TEXT    NOT NULL,
    body            TEXT    NOT NULL,
    created_ms      INTEGER NOT NULL,
    age_from_ms     INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms INTEGER NOT NULL,
    state           TEXT    NOT NULL,
    last_error      TEXT,
    finished_ms     INTEGER
);
CREATE INDEX outbox_due ON outbox (state, next_attempt_ms);
";

/// Version 3: a subscription chain's newest period end (see `0003_subscriptions.sql`).
const UPGRADE_TO_3: &str = "
ALTER TABLE redemptions ADD COLUMN expires_at_ms INTEGER;
";

/// Version 4: the record of store notifications (see `0004_store_notifications.sql`).
const UPGRADE_TO_4: &str = "
CREATE TABLE store_notifications (
    store             TEXT    NOT NULL,
    notification_id   TEXT    NOT NULL,
    notification_type TEXT    NOT NULL,
    subtype           TEXT,
    environment       TEXT,
    app_id            TEXT,
    transaction_key   TEXT,
    signed_ms         INTEGER NOT NULL,
    received_ms       INTEGER NOT NULL,
    result            TEXT    NOT NULL,
    PRIMARY KEY (store, notification_id)
) WITHOUT ROWID;
CREATE INDEX store_notifications_received ON store_notifications (received_ms);
CREATE INDEX store_notifications_transaction ON store_notifications (store, transaction_key);
CREATE INDEX redemptions_revoked ON redemptions (revoked_at_ms) WHERE revoked_at_ms IS NOT NULL;
";

/// The Google Play voided-purchases cursors ([`VoidedCursors`]). Created when missing at every
/// open, outside the numbered steps, so that it merges with any other schema step (PostgreSQL:
/// migration 0005).
const VOIDED_CURSORS: &str = "
CREATE TABLE IF NOT EXISTS google_voided_cursor (
    package_name  TEXT    PRIMARY KEY,
    start_time_ms INTEGER NOT NULL,
    updated_ms    INTEGER NOT NULL
);
";

/// The schema, step by step: the version each step reaches and its SQL. A file is brought from
/// its `user_version` to [`SCHEMA_VERSION`] by the steps above its version, in one transaction.
const STEPS: &[(i64, &str)] = &[
    (1, SCHEMA),
    (2, UPGRADE_TO_2),
    (3, UPGRADE_TO_3),
    (4, UPGRADE_TO_4),
];

const NOTIFICATION_COLUMNS: &str = "store, notification_id, notification_type, subtype, \
     environment, app_id, transaction_key, signed_ms, received_ms, result";

const OUTBOX_COLUMNS: &str = "id, app_id, event_type, body, created_ms, age_from_ms, attempts, \
     next_attempt_ms, state, last_error, finished_ms";

type Reply = oneshot::Sender<Result<RedeemOutcome, LedgerError>>;

/// One redemption waiting for the writer.
struct RedeemJob {
    request: RedemptionRequest,
    delivery: Option<NewDelivery>,
    reply: Reply,
}

/// Work for the writer thread.
enum Job {
    /// A redemption (group-committed with the others waiting).
    Redeem(Box<RedeemJob>),
    /// Any other write, run alone; it answers through its own channel.
    Exec(Box<dyn FnOnce(&mut Connection) + Send>),
}

/// The SQLite ledger.
pub struct SqliteLedger {
    path: PathBuf,
    writer: mpsc::Sender<Job>,
    reader: Arc<Mutex<Connection>>,
}

impl std::fmt::Debug for SqliteLedger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteLedger")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

pub use super::RedemptionRow;

fn schema_error(message: String) -> LedgerError {
    LedgerError::Database(rusqlite::Error::InvalidParameterName(message))
}

fn connect(path: &Path) -> Result<Connection, LedgerError> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(schema_error(format!(
            "journal_mode is {mode}, WAL required"
        )));
    }
    conn.pragma_update(None, "synchronous", "FULL")?;
    Ok(conn)
}

impl SqliteLedger {
    /// Open (or create) the ledger file, set WAL + `synchronous=FULL`, create the schema and
    /// start the writer thread. A new folder is made `0700` and a new file `0600`; an existing
    /// database, `-wal` or `-shm` file that other local users can open is refused
    /// ([`LedgerError::Permissions`], see [`super::files`]).
    pub fn open(path: &Path) -> Result<Self, LedgerError> {
        super::files::prepare(path)?;
        let mut writer_conn = connect(path)?;
        prepare_schema(&mut writer_conn)?;
        let reader = connect(path)?;
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("payseal-ledger".into())
            .spawn(move || writer_loop(writer_conn, rx))?;
        Ok(Self {
            path: path.to_path_buf(),
            writer: tx,
            reader: Arc::new(Mutex::new(reader)),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn submit(
        &self,
        request: RedemptionRequest,
        delivery: Option<NewDelivery>,
    ) -> Result<oneshot::Receiver<Result<RedeemOutcome, LedgerError>>, LedgerError> {
        let (reply, rx) = oneshot::channel();
        self.writer
            .send(Job::Redeem(Box::new(RedeemJob {
                request,
                delivery,
                reply,
            })))
            .map_err(|_| LedgerError::Worker("ledger writer stopped".into()))?;
        Ok(rx)
    }

    /// Run `f` on the writer thread inside one `BEGIN IMMEDIATE` transaction (committed when
    /// `f` succeeds, rolled back otherwise).
    fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T, LedgerError> + Send + 'static,
    ) -> BoxFuture<'static, Result<T, LedgerError>> {
        let (tx, rx) = oneshot::channel();
        let job = Job::Exec(Box::new(move |conn: &mut Connection| {
            let result = (|| {
                let t = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                let value = f(&t)?;
                t.commit()?;
                Ok(value)
            })();
            let _ = tx.send(result);
        }));
        let sent = self
            .writer
            .send(job)
            .map_err(|_| LedgerError::Worker("ledger writer stopped".into()));
        Box::pin(async move {
            sent?;
            rx.await
                .map_err(|_| LedgerError::Worker("ledger writer dropped the request".into()))?
        })
    }

    /// Run `f` on the reader connection off the async threads.
    fn read_async<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, LedgerError> + Send + 'static,
    ) -> BoxFuture<'static, Result<T, LedgerError>> {
        let reader = Arc::clone(&self.reader);
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                let conn = reader
                    .lock()
                    .map_err(|_| LedgerError::Worker("ledger reader poisoned".into()))?;
                f(&conn)
            })
            .await
            .map_err(|e| LedgerError::Worker(e.to_string()))?
        })
    }

    /// Synchronous redemption, for callers outside an async runtime (benches, tools).
    pub fn redeem_blocking(
        &self,
        request: &RedemptionRequest,
    ) -> Result<RedeemOutcome, LedgerError> {
        self.submit(request.clone(), None)?
            .blocking_recv()
            .map_err(|_| LedgerError::Worker("ledger writer dropped the request".into()))?
    }

    fn read<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, LedgerError>,
    ) -> Result<T, LedgerError> {
        let conn = self
            .reader
            .lock()
            .map_err(|_| LedgerError::Worker("ledger reader poisoned".into()))?;
        f(&conn)
    }

    /// Read the row of one transaction (for tests and operators).
    pub fn lookup(
        &self,
        store: Store,
        app_id: &str,
        transaction_key: &str,
    ) -> Result<Option<RedemptionRow>, LedgerError> {
        self.read(|conn| lookup_on(conn, store, app_id, transaction_key))
    }

    /// Number of recorded redemptions.
    pub fn count(&self) -> Result<u64, LedgerError> {
        self.read(count_on)
    }
}

/// Create or upgrade the schema to [`SCHEMA_VERSION`] (one transaction; safe when another
/// process opens the same file at the same time).
fn prepare_schema(conn: &mut Connection) -> Result<(), LedgerError> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version == SCHEMA_VERSION {
        tx.execute_batch(VOIDED_CURSORS)?;
        tx.commit()?;
        return Ok(());
    }
    if !(0..SCHEMA_VERSION).contains(&version) {
        return Err(schema_error(format!(
            "ledger schema version {version}, expected {SCHEMA_VERSION}"
        )));
    }
    for (_, sql) in STEPS.iter().filter(|(to, _)| *to > version) {
        tx.execute_batch(sql)?;
    }
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    tx.execute_batch(VOIDED_CURSORS)?;
    tx.commit()?;
    Ok(())
}

fn delivery_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Delivery> {
    let state: String = r.get(8)?;
    Ok(Delivery {
        id: r.get(0)?,
        app_id: r.get(1)?,
        event_type: r.get(2)?,
        body: r.get(3)?,
        created_ms: r.get(4)?,
        age_from_ms: r.get(5)?,
        attempts: r.get(6)?,
        next_attempt_ms: r.get(7)?,
        state: DeliveryState::parse(&state).ok_or_else(|| {
            rusqlite::Error::InvalidColumnType(8, "state".into(), rusqlite::types::Type::Text)
        })?,
        last_error: r.get(9)?,
        finished_ms: r.get(10)?,
    })
}

fn enqueue_on(conn: &Connection, d: &NewDelivery) -> Result<(), LedgerError> {
    conn.prepare_cached(
        "INSERT INTO outbox (id, app_id, event_type, body, created_ms, age_from_ms, attempts,
                             next_attempt_ms, state)
         VALUES (?1, ?2, ?3, ?4, ?5, ?5, 0, ?5, 'pending')",
    )?
    .execute(params![d.id, d.app_id, d.event_type, d.body, d.created_ms])?;
    Ok(())
}

fn revoke_on(
    conn: &Connection,
    r: &RevocationRequest,
    notice: Option<RevokeNotice>,
) -> Result<RevokeOutcome, LedgerError> {
    // The writer's `BEGIN IMMEDIATE` holds the write lock: the row cannot change meanwhile.
    let existing = lookup_on(conn, r.store, &r.app_id, &r.transaction_key)?;
    let outcome = classify_revocation(existing.as_ref());
    if let (RevokeOutcome::Revoked, Some(row)) = (outcome, &existing) {
        conn.execute(
            "UPDATE redemptions SET revoked_at_ms = ?4, revoke_reason = ?5
             WHERE store = ?1 AND app_id = ?2 AND transaction_key = ?3",
            params![
                r.store.as_str(),
                r.app_id,
                r.transaction_key,
                r.now_ms,
                r.reason
            ],
        )?;
        if let Some(notice) = notice {
            enqueue_on(conn, &notice(r, row)?)?;
        }
    }
    Ok(outcome)
}

/// The stored record of a notification seen before.
fn stored_notification_on(
    conn: &Connection,
    store: Store,
    notification_id: &str,
) -> Result<Recorded, LedgerError> {
    let (result, app_id, transaction_key): (String, Option<String>, Option<String>) = conn
        .prepare_cached(
            "SELECT result, app_id, transaction_key FROM store_notifications
             WHERE store = ?1 AND notification_id = ?2",
        )?
        .query_row(params![store.as_str(), notification_id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?;
    Ok(Recorded {
        duplicate: true,
        result: NotificationResult::parse(&result).ok_or_else(|| {
            LedgerError::Schema(format!("unknown notification result {result:?}"))
        })?,
        app_id,
        transaction_key,
    })
}

/// The first `(app, key)` of `target` with a row, in order.
fn find_target_on<'t>(
    conn: &Connection,
    store: Store,
    target: &'t Target,
) -> Result<Option<(&'t TargetApp, &'t str, RedemptionRow)>, LedgerError> {
    for (app, key) in target.candidates() {
        if let Some(row) = lookup_on(conn, store, &app.app_id, key)? {
            return Ok(Some((app, key, row)));
        }
    }
    Ok(None)
}

/// The effect of one notification, inside its transaction (the writer's lock held).
fn apply_effect_on(
    conn: &Connection,
    n: &NewNotification,
    effect: &Effect,
) -> Result<Applied, LedgerError> {
    let work = match effect.work(n) {
        Ok(work) => work,
        Err(done) => return Ok(done),
    };
    let (t, store) = (work.target, n.store.as_str());
    let Some((first_app, first_key)) = t.first() else {
        return Ok(Applied::recorded(n));
    };
    let found = find_target_on(conn, n.store, t)?;
    if work.revoke {
        if let Some((app, key, _)) = found {
            let outcome = revoke_on(conn, &t.request(n, app, key), t.notice_for(app))?;
            return Ok(Applied::revoked(outcome, app, key));
        }
        for app in &t.apps {
            conn.prepare_cached(
                "INSERT INTO redemptions (store, app_id, transaction_key, account_id,
                     product_id, receipt_sha256, first_verdict_id, first_seen_ms,
                     last_seen_ms, revoked_at_ms, revoke_reason)
                 VALUES (?1, ?2, ?3, ?4, ?5, '', '', ?6, ?6, ?6, ?7)
                 ON CONFLICT (store, app_id, transaction_key) DO NOTHING",
            )?
            .execute(params![
                store,
                app.app_id,
                first_key,
                UNREDEEMED_ACCOUNT,
                t.product_id,
                n.received_ms,
                t.reason
            ])?;
        }
        return Ok(Applied::at(
            NotificationResult::RevokedBeforeRedemption,
            first_app,
            first_key,
        ));
    }
    let Some((app, key, row)) = found else {
        return Ok(Applied::at(
            NotificationResult::NotReinstated,
            first_app,
            first_key,
        ));
    };
    let told: Vec<String> = conn
        .prepare_cached(
            "SELECT DISTINCT result FROM store_notifications
             WHERE store = ?1 AND transaction_key = ?2",
        )?
        .query_map(params![store, key], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let outcome =
        classify_reinstatement(Some(&row), store_revoked(told.iter().map(String::as_str)));
    match outcome {
        ReinstateOutcome::Reinstate => {
            conn.execute(
                "UPDATE redemptions SET revoked_at_ms = NULL, revoke_reason = NULL
                 WHERE store = ?1 AND app_id = ?2 AND transaction_key = ?3",
                params![store, app.app_id, key],
            )?;
            if let Some(notice) = t.notice_for(app) {
                enqueue_on(conn, &notice(&t.request(n, app, key), &row)?)?;
            }
        }
        ReinstateOutcome::RemoveRefusal => {
            conn.execute(
                "DELETE FROM redemptions
                 WHERE store = ?1 AND transaction_key = ?2 AND account_id = ?3",
                params![store, key, UNREDEEMED_ACCOUNT],
            )?;
        }
        ReinstateOutcome::Nothing => {}
    }
    Ok(Applied::at(outcome.into(), app, key))
}

/// Insert the notification unless seen, apply its effect, store the result.
fn record_notification_on(
    conn: &Connection,
    n: &NewNotification,
    effect: &Effect,
) -> Result<Recorded, LedgerError> {
    let inserted = conn
        .prepare_cached(&format!(
            "INSERT INTO store_notifications ({NOTIFICATION_COLUMNS})
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'pending')
             ON CONFLICT (store, notification_id) DO NOTHING"
        ))?
        .execute(params![
            n.store.as_str(),
            n.notification_id,
            n.notification_type,
            n.subtype,
            n.environment,
            n.app_id,
            n.transaction_key,
            n.signed_ms,
            n.received_ms
        ])?;
    if inserted == 0 {
        return stored_notification_on(conn, n.store, &n.notification_id);
    }
    let applied = apply_effect_on(conn, n, effect)?;
    conn.prepare_cached(
        "UPDATE store_notifications SET result = ?3, app_id = ?4, transaction_key = ?5
         WHERE store = ?1 AND notification_id = ?2",
    )?
    .execute(params![
        n.store.as_str(),
        n.notification_id,
        applied.result.as_str(),
        applied.app_id,
        applied.transaction_key
    ])?;
    Ok(applied.into_recorded())
}

fn list_notifications_on(
    conn: &Connection,
    store: Option<Store>,
    limit: u32,
) -> Result<Vec<NotificationRow>, LedgerError> {
    let rows = conn
        .prepare(&format!(
            "SELECT {NOTIFICATION_COLUMNS} FROM store_notifications
             WHERE ?1 IS NULL OR store = ?1
             ORDER BY received_ms DESC, notification_id LIMIT ?2"
        ))?
        .query_map(params![store.map(Store::as_str), limit], |r| {
            Ok(NotificationRow {
                store: r.get(0)?,
                notification_id: r.get(1)?,
                notification_type: r.get(2)?,
                subtype: r.get(3)?,
                environment: r.get(4)?,
                app_id: r.get(5)?,
                transaction_key: r.get(6)?,
                signed_ms: r.get(7)?,
                received_ms: r.get(8)?,
                result: r.get(9)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

fn list_revocations_on(conn: &Connection, limit: u32) -> Result<Vec<RevocationRow>, LedgerError> {
    let rows = conn
        .prepare(
            "SELECT store, app_id, transaction_key, account_id, product_id, revoked_at_ms,
                    revoke_reason
             FROM redemptions WHERE revoked_at_ms IS NOT NULL
             ORDER BY revoked_at_ms DESC, transaction_key LIMIT ?1",
        )?
        .query_map(params![limit], |r| {
            let account: String = r.get(3)?;
            Ok(RevocationRow {
                store: r.get(0)?,
                app_id: r.get(1)?,
                transaction_key: r.get(2)?,
                account_id: (account != UNREDEEMED_ACCOUNT).then_some(account),
                product_id: r.get(4)?,
                revoked_at_ms: r.get(5)?,
                reason: r.get(6)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

fn claim_on(
    conn: &Connection,
    now_ms: i64,
    lease_until_ms: i64,
    limit: u32,
) -> Result<Vec<Delivery>, LedgerError> {
    let mut rows: Vec<Delivery> = conn
        .prepare_cached(&format!(
            "SELECT {OUTBOX_COLUMNS} FROM outbox
             WHERE state = 'pending' AND next_attempt_ms <= ?1
             ORDER BY next_attempt_ms LIMIT ?2"
        ))?
        .query_map(params![now_ms, limit], delivery_from_row)?
        .collect::<Result<_, _>>()?;
    let mut claim = conn.prepare_cached(
        "UPDATE outbox SET next_attempt_ms = ?2, attempts = attempts + 1 WHERE id = ?1",
    )?;
    for row in &mut rows {
        claim.execute(params![row.id, lease_until_ms])?;
        row.next_attempt_ms = lease_until_ms;
        row.attempts += 1;
    }
    Ok(rows)
}

fn finish_on(
    conn: &Connection,
    id: &str,
    attempt: i64,
    result: &AttemptResult,
) -> Result<bool, LedgerError> {
    let changed = match result {
        AttemptResult::Delivered { at_ms } => conn.execute(
            "UPDATE outbox SET state = 'delivered', finished_ms = ?2, last_error = NULL
             WHERE id = ?1 AND state = 'pending' AND attempts = ?3",
            params![id, at_ms, attempt],
        )?,
        AttemptResult::Retry {
            next_attempt_ms,
            error,
        } => conn.execute(
            "UPDATE outbox SET next_attempt_ms = ?2, last_error = ?3
             WHERE id = ?1 AND state = 'pending' AND attempts = ?4",
            params![id, next_attempt_ms, error, attempt],
        )?,
        AttemptResult::Failed { at_ms, error } => conn.execute(
            "UPDATE outbox SET state = 'failed', finished_ms = ?2, last_error = ?3
             WHERE id = ?1 AND state = 'pending' AND attempts = ?4",
            params![id, at_ms, error, attempt],
        )?,
    };
    Ok(changed == 1)
}

fn list_on(
    conn: &Connection,
    filter: OutboxFilter,
    limit: u32,
) -> Result<Vec<Delivery>, LedgerError> {
    let rows = match filter {
        OutboxFilter::All => conn
            .prepare(&format!(
                "SELECT {OUTBOX_COLUMNS} FROM outbox ORDER BY created_ms DESC, id LIMIT ?1"
            ))?
            .query_map(params![limit], delivery_from_row)?
            .collect::<Result<Vec<_>, _>>()?,
        OutboxFilter::State(state) => conn
            .prepare(&format!(
                "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE state = ?1
                 ORDER BY created_ms DESC, id LIMIT ?2"
            ))?
            .query_map(params![state.as_str(), limit], delivery_from_row)?
            .collect::<Result<Vec<_>, _>>()?,
    };
    Ok(rows)
}

fn retry_failed_on(conn: &Connection, id: Option<&str>, now_ms: i64) -> Result<u64, LedgerError> {
    let n = match id {
        Some(id) => conn.execute(
            "UPDATE outbox SET state = 'pending', next_attempt_ms = ?2, age_from_ms = ?2,
                               finished_ms = NULL
             WHERE id = ?1 AND state = 'failed'",
            params![id, now_ms],
        )?,
        None => conn.execute(
            "UPDATE outbox SET state = 'pending', next_attempt_ms = ?1, age_from_ms = ?1,
                               finished_ms = NULL
             WHERE state = 'failed'",
            params![now_ms],
        )?,
    };
    Ok(n as u64)
}

fn count_pending_on(conn: &Connection) -> Result<u64, LedgerError> {
    let n: i64 = conn.query_row(
        "SELECT COUNT(*) FROM outbox WHERE state = 'pending'",
        [],
        |r| r.get(0),
    )?;
    Ok(u64::try_from(n).unwrap_or(0))
}

fn lookup_on(
    conn: &Connection,
    store: Store,
    app_id: &str,
    transaction_key: &str,
) -> Result<Option<RedemptionRow>, LedgerError> {
    Ok(conn
        .prepare_cached(
            "SELECT account_id, product_id, receipt_sha256, first_verdict_id, first_seen_ms,
                    last_seen_ms, revoked_at_ms, revoke_reason, expires_at_ms
             FROM redemptions WHERE store = ?1 AND app_id = ?2 AND transaction_key = ?3",
        )?
        .query_row(params![store.as_str(), app_id, transaction_key], |r| {
            Ok(RedemptionRow {
                account_id: r.get(0)?,
                product_id: r.get(1)?,
                receipt_sha256: r.get(2)?,
                first_verdict_id: r.get(3)?,
                first_seen_ms: r.get(4)?,
                last_seen_ms: r.get(5)?,
                revoked_at_ms: r.get(6)?,
                revoke_reason: r.get(7)?,
                expires_at_ms: r.get(8)?,
            })
        })
        .optional()?)
}

fn count_on(conn: &Connection) -> Result<u64, LedgerError> {
    let n: i64 = conn.query_row("SELECT COUNT(*) FROM redemptions", [], |r| r.get(0))?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// The writer thread: group-commit batches until every sender is gone.
fn writer_loop(mut conn: Connection, rx: mpsc::Receiver<Job>) {
    let mut next: Option<Job> = None;
    loop {
        let first = match next.take() {
            Some(job) => job,
            None => match rx.recv() {
                Ok(job) => job,
                Err(_) => return,
            },
        };
        let mut batch = match first {
            Job::Exec(f) => {
                f(&mut conn);
                continue;
            }
            Job::Redeem(job) => vec![*job],
        };
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(Job::Redeem(job)) => batch.push(*job),
                // Run it after this batch's commit.
                Ok(exec @ Job::Exec(_)) => {
                    next = Some(exec);
                    break;
                }
                Err(_) => break,
            }
        }
        let requests: Vec<(&RedemptionRequest, Option<&NewDelivery>)> = batch
            .iter()
            .map(|j| (&j.request, j.delivery.as_ref()))
            .collect();
        match commit_batch(&mut conn, &requests) {
            Ok(outcomes) => {
                for (job, outcome) in batch.into_iter().zip(outcomes) {
                    let _ = job.reply.send(outcome);
                }
            }
            Err(e) => {
                let message = e.to_string();
                for job in batch {
                    let _ = job.reply.send(Err(LedgerError::Worker(format!(
                        "batch not committed: {message}"
                    ))));
                }
            }
        }
    }
}

/// One transaction for the whole batch; each request (with its outbox row) in its own
/// savepoint.
fn commit_batch(
    conn: &mut Connection,
    requests: &[(&RedemptionRequest, Option<&NewDelivery>)],
) -> Result<Vec<Result<RedeemOutcome, LedgerError>>, LedgerError> {
    let mut tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let mut outcomes = Vec::with_capacity(requests.len());
    for (r, delivery) in requests {
        let sp = tx.savepoint()?;
        let result = redeem_on(&sp, r).and_then(|o| {
            if let (RedeemOutcome::First, Some(d)) = (o, delivery) {
                enqueue_on(&sp, d)?;
            }
            Ok(o)
        });
        match result {
            Ok(o) => {
                sp.commit()?;
                outcomes.push(Ok(o));
            }
            Err(e) => {
                // Dropping the savepoint rolls this request back; the others stand.
                drop(sp);
                outcomes.push(Err(e));
            }
        }
    }
    tx.commit()?;
    Ok(outcomes)
}

fn redeem_on(conn: &Connection, r: &RedemptionRequest) -> Result<RedeemOutcome, LedgerError> {
    let inserted = conn
        .prepare_cached(
            "INSERT INTO redemptions (store, app_id, transaction_key, account_id, product_id,
                                      receipt_sha256, first_verdict_id, first_seen_ms, last_seen_ms,
                                      expires_at_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9)
             ON CONFLICT (store, app_id, transaction_key) DO NOTHING",
        )?
        .execute(params![
            r.store.as_str(),
            r.app_id,
            r.transaction_key,
            r.account_id,
            r.product_id,
            r.receipt_sha256,
            r.verdict_id,
            r.now_ms,
            r.expires_at_ms
        ])?;
    // Inserted: nobody had it. Otherwise the row that was there decides.
    let existing = if inserted == 1 {
        None
    } else {
        Some(
            lookup_on(conn, r.store, &r.app_id, &r.transaction_key)?.ok_or_else(|| {
                LedgerError::Schema(
                    "redemption row vanished between insert and read (rows are never deleted)"
                        .into(),
                )
            })?,
        )
    };
    let outcome = classify(existing.as_ref(), &r.account_id);
    if let (RedeemOutcome::Repeat, Some(row)) = (outcome, &existing) {
        // The writer thread is the only writer: the row read above is still the row.
        conn.prepare_cached(
            "UPDATE redemptions SET last_seen_ms = max(last_seen_ms, ?4), expires_at_ms = ?5
             WHERE store = ?1 AND app_id = ?2 AND transaction_key = ?3",
        )?
        .execute(params![
            r.store.as_str(),
            r.app_id,
            r.transaction_key,
            r.now_ms,
            chain_expiry(row.expires_at_ms, r.expires_at_ms)
        ])?;
    }
    Ok(outcome)
}

impl Redemptions for SqliteLedger {
    fn redeem(
        &self,
        request: RedemptionRequest,
    ) -> BoxFuture<'_, Result<RedeemOutcome, LedgerError>> {
        self.redeem_and_notify(request, None)
    }

    fn redeem_and_notify(
        &self,
        request: RedemptionRequest,
        delivery: Option<NewDelivery>,
    ) -> BoxFuture<'_, Result<RedeemOutcome, LedgerError>> {
        let submitted = self.submit(request, delivery);
        Box::pin(async move {
            submitted?
                .await
                .map_err(|_| LedgerError::Worker("ledger writer dropped the request".into()))?
        })
    }

    fn ready(&self) -> BoxFuture<'_, Result<(), LedgerError>> {
        let reader = Arc::clone(&self.reader);
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                let conn = reader
                    .lock()
                    .map_err(|_| LedgerError::Worker("ledger reader poisoned".into()))?;
                conn.query_row("SELECT COUNT(*) FROM redemptions WHERE 0", [], |r| {
                    r.get::<_, i64>(0)
                })?;
                Ok(())
            })
            .await
            .map_err(|e| LedgerError::Worker(e.to_string()))?
        })
    }

    fn find<'a>(
        &'a self,
        store: Store,
        app_id: &'a str,
        transaction_key: &'a str,
    ) -> BoxFuture<'a, Result<Option<RedemptionRow>, LedgerError>> {
        let reader = Arc::clone(&self.reader);
        let (app_id, transaction_key) = (app_id.to_string(), transaction_key.to_string());
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                let conn = reader
                    .lock()
                    .map_err(|_| LedgerError::Worker("ledger reader poisoned".into()))?;
                lookup_on(&conn, store, &app_id, &transaction_key)
            })
            .await
            .map_err(|e| LedgerError::Worker(e.to_string()))?
        })
    }

    fn count_redemptions(&self) -> BoxFuture<'_, Result<u64, LedgerError>> {
        let reader = Arc::clone(&self.reader);
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                let conn = reader
                    .lock()
                    .map_err(|_| LedgerError::Worker("ledger reader poisoned".into()))?;
                count_on(&conn)
            })
            .await
            .map_err(|e| LedgerError::Worker(e.to_string()))?
        })
    }

    fn revoke(
        &self,
        request: RevocationRequest,
        notice: Option<RevokeNotice>,
    ) -> BoxFuture<'_, Result<RevokeOutcome, LedgerError>> {
        self.write(move |tx| revoke_on(tx, &request, notice))
    }
}

impl VoidedCursors for SqliteLedger {
    fn voided_cursor<'a>(
        &'a self,
        package_name: &'a str,
    ) -> BoxFuture<'a, Result<Option<i64>, LedgerError>> {
        let package_name = package_name.to_string();
        self.read_async(move |conn| {
            Ok(conn
                .query_row(
                    "SELECT start_time_ms FROM google_voided_cursor WHERE package_name = ?1",
                    params![package_name],
                    |r| r.get(0),
                )
                .optional()?)
        })
    }

    fn set_voided_cursor<'a>(
        &'a self,
        package_name: &'a str,
        start_time_ms: i64,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<(), LedgerError>> {
        let package_name = package_name.to_string();
        self.write(move |tx| {
            tx.execute(
                "INSERT INTO google_voided_cursor (package_name, start_time_ms, updated_ms)
                 VALUES (?1, ?2, ?3)
                 ON CONFLICT (package_name) DO UPDATE
                 SET start_time_ms = MAX(start_time_ms, excluded.start_time_ms),
                     updated_ms = excluded.updated_ms",
                params![package_name, start_time_ms, now_ms],
            )?;
            Ok(())
        })
    }
}

impl NotificationLog for SqliteLedger {
    fn record_notification(
        &self,
        notification: NewNotification,
        effect: Effect,
    ) -> BoxFuture<'_, Result<Recorded, LedgerError>> {
        self.write(move |tx| record_notification_on(tx, &notification, &effect))
    }

    fn list_notifications(
        &self,
        store: Option<Store>,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<NotificationRow>, LedgerError>> {
        self.read_async(move |conn| list_notifications_on(conn, store, limit))
    }

    fn list_revocations(
        &self,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<RevocationRow>, LedgerError>> {
        self.read_async(move |conn| list_revocations_on(conn, limit))
    }
}

impl Outbox for SqliteLedger {
    fn claim_due(
        &self,
        now_ms: i64,
        lease_until_ms: i64,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<Delivery>, LedgerError>> {
        self.write(move |tx| claim_on(tx, now_ms, lease_until_ms, limit))
    }

    fn finish_attempt<'a>(
        &'a self,
        id: &'a str,
        attempt: i64,
        result: AttemptResult,
    ) -> BoxFuture<'a, Result<bool, LedgerError>> {
        let id = id.to_string();
        self.write(move |tx| finish_on(tx, &id, attempt, &result))
    }

    fn list_deliveries(
        &self,
        filter: OutboxFilter,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<Delivery>, LedgerError>> {
        self.read_async(move |conn| list_on(conn, filter, limit))
    }

    fn retry_failed<'a>(
        &'a self,
        id: Option<&'a str>,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<u64, LedgerError>> {
        let id = id.map(str::to_string);
        self.write(move |tx| retry_failed_on(tx, id.as_deref(), now_ms))
    }

    fn count_pending(&self) -> BoxFuture<'_, Result<u64, LedgerError>> {
        self.read_async(count_pending_on)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use payseal_protocol::Store;

    fn req(account: &str, key: &str, now: i64) -> RedemptionRequest {
        RedemptionRequest {
            store: Store::GooglePlay,
            app_id: "com.example".into(),
            transaction_key: key.into(),
            account_id: account.into(),
            product_id: "gems".into(),
            receipt_sha256: "ab".repeat(32),
            verdict_id: format!("jti-{account}-{now}"),
            now_ms: now,
            expires_at_ms: None,
        }
    }

    #[test]
    fn first_repeat_other_and_durable_across_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/ledger.db");
        {
            let l = SqliteLedger::open(&path).unwrap();
            let r = |a: &str, k: &str, n: i64| l.redeem_blocking(&req(a, k, n)).unwrap();
            assert_eq!(r("alice", "GPA.1", 10), RedeemOutcome::First);
            assert_eq!(r("alice", "GPA.1", 20), RedeemOutcome::Repeat);
            assert_eq!(r("bob", "GPA.1", 30), RedeemOutcome::OtherAccount);
            assert_eq!(r("bob", "GPA.2", 40), RedeemOutcome::First);
        }
        let l = SqliteLedger::open(&path).unwrap();
        let row = l
            .lookup(Store::GooglePlay, "com.example", "GPA.1")
            .unwrap()
            .unwrap();
        assert_eq!(row.account_id, "alice");
        assert_eq!(row.first_verdict_id, "jti-alice-10");
        assert_eq!((row.first_seen_ms, row.last_seen_ms), (10, 20));
        assert_eq!(l.count().unwrap(), 2);
        // Other stores and apps are separate key spaces.
        let mut other = req("carol", "GPA.1", 50);
        other.store = Store::Huawei;
        assert_eq!(l.redeem_blocking(&other).unwrap(), RedeemOutcome::First);
        let conn = l.reader.lock().unwrap();
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        let sync: i64 = conn
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .unwrap();
        assert_eq!(sync, 2, "synchronous=FULL");
    }

    #[test]
    fn one_batch_sees_its_own_earlier_requests() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = connect(&dir.path().join("l.db")).unwrap();
        prepare_schema(&mut conn).unwrap();
        let (a1, b1, a2, c1) = (
            req("alice", "K", 1),
            req("bob", "K", 2),
            req("alice", "K", 3),
            req("carol", "L", 4),
        );
        let outcomes = commit_batch(
            &mut conn,
            &[(&a1, None), (&b1, None), (&a2, None), (&c1, None)],
        )
        .unwrap();
        let outcomes: Vec<_> = outcomes.into_iter().map(Result::unwrap).collect();
        assert_eq!(
            outcomes,
            vec![
                RedeemOutcome::First,
                RedeemOutcome::OtherAccount,
                RedeemOutcome::Repeat,
                RedeemOutcome::First
            ]
        );
        let n: i64 = conn
            .query_row("SELECT COUNT(*) FROM redemptions", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 2);
    }

    /// A ledger file left by an older verifier: `SCHEMA` plus `upgrades`, at `version`, with
    /// one redemption row (`insert`, every column of that version).
    fn older_file(version: i64, upgrades: &[&str], insert: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(format!("v{version}.db"));
        // Made private first, as an operator upgrading a file of an older verifier must (a
        // wider file is refused: see `files`).
        super::super::files::prepare(&path).unwrap();
        let conn = connect(&path).unwrap();
        conn.execute_batch(SCHEMA).unwrap();
        for upgrade in upgrades {
            conn.execute_batch(upgrade).unwrap();
        }
        conn.pragma_update(None, "user_version", version).unwrap();
        conn.execute(insert, []).unwrap();
        (dir, path)
    }

    fn user_version(l: &SqliteLedger) -> i64 {
        l.reader
            .lock()
            .unwrap()
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn a_version_1_file_is_upgraded_in_place() {
        let (_dir, path) = older_file(
            1,
            &[],
            "INSERT INTO redemptions VALUES ('google_play', 'com.example', 'GPA.9', 'alice',
             'gems', 'ab', 'jti-9', 1, 2)",
        );
        let l = SqliteLedger::open(&path).unwrap();
        let row = l
            .lookup(Store::GooglePlay, "com.example", "GPA.9")
            .unwrap()
            .unwrap();
        assert_eq!(
            (
                row.account_id.as_str(),
                row.revoked_at_ms,
                row.expires_at_ms
            ),
            ("alice", None, None)
        );
        assert_eq!(
            l.redeem_blocking(&req("alice", "GPA.9", 3)).unwrap(),
            RedeemOutcome::Repeat
        );
        assert_eq!(user_version(&l), SCHEMA_VERSION);
        drop(l);
        // Opening again is a no-op.
        drop(SqliteLedger::open(&path).unwrap());
    }

    #[test]
    fn a_version_2_file_gains_the_expiry_column() {
        let (_dir, path) = older_file(
            2,
            &[UPGRADE_TO_2],
            "INSERT INTO redemptions VALUES ('app_store', 'com.example', '2000', 'alice',
             'pro', 'ab', 'jti-1', 1, 2, NULL, NULL)",
        );
        let l = SqliteLedger::open(&path).unwrap();
        let mut renewal = req("alice", "2000", 3);
        renewal.store = Store::AppStore;
        renewal.expires_at_ms = Some(99);
        assert_eq!(l.redeem_blocking(&renewal).unwrap(), RedeemOutcome::Repeat);
        let row = l
            .lookup(Store::AppStore, "com.example", "2000")
            .unwrap()
            .unwrap();
        assert_eq!(
            (row.account_id.as_str(), row.expires_at_ms),
            ("alice", Some(99))
        );
        assert_eq!(user_version(&l), SCHEMA_VERSION);
    }

    #[test]
    fn a_version_2_file_gets_the_store_notifications_table_and_keeps_its_rows() {
        let (_dir, path) = older_file(
            2,
            &[UPGRADE_TO_2],
            "INSERT INTO redemptions VALUES ('app_store', 'com.example', '2000000001',
             'alice', 'gems', 'ab', 'jti-1', 1, 2, 5, 'refunded')",
        );
        let l = SqliteLedger::open(&path).unwrap();
        let conn = l.reader.lock().unwrap();
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        let notifications: i64 = conn
            .query_row("SELECT COUNT(*) FROM store_notifications", [], |r| r.get(0))
            .unwrap();
        assert_eq!(notifications, 0);
        let revoked = list_revocations_on(&conn, 10).unwrap();
        assert_eq!(revoked.len(), 1);
        assert_eq!(revoked[0].account_id.as_deref(), Some("alice"));
    }

    #[test]
    fn schema_version_mismatch_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.db");
        drop(SqliteLedger::open(&path).unwrap());
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
        drop(conn);
        let err = SqliteLedger::open(&path).unwrap_err().to_string();
        assert!(err.contains("schema version 99"), "{err}");
    }
}
