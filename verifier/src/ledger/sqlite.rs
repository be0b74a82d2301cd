//! SQLite ledger backend: one real file, WAL journal, `synchronous=FULL`, so a redemption is
//! on disk before [`Ledger::redeem`] resolves (and so before the verdict leaves the server).
//!
//! Writes go through one writer thread with **group commit**: it takes every redemption that
//! is waiting (up to [`MAX_BATCH`]), runs each in its own savepoint inside one
//! `BEGIN IMMEDIATE` transaction (`INSERT … ON CONFLICT DO NOTHING`, then read the owner),
//! commits once (one fsync for the batch), and only then answers each caller. Requests are
//! applied one after another, so two presentations of one receipt in a batch still see each
//! other. Reads (`ready`, `lookup`, `count`) use a second connection, which WAL lets run
//! beside the writer.

use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension};
use tokio::sync::oneshot;

use super::{BoxFuture, Ledger, LedgerError, RedeemOutcome, RedemptionRequest};
use payseal_protocol::Store;

const SCHEMA_VERSION: i64 = 1;

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

type Reply = oneshot::Sender<Result<RedeemOutcome, LedgerError>>;

struct Job {
    request: RedemptionRequest,
    reply: Reply,
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
    /// start the writer thread.
    pub fn open(path: &Path) -> Result<Self, LedgerError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        let writer_conn = connect(path)?;
        writer_conn.execute_batch(SCHEMA)?;
        let version: i64 = writer_conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version == 0 {
            writer_conn.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        } else if version != SCHEMA_VERSION {
            return Err(schema_error(format!(
                "ledger schema version {version}, expected {SCHEMA_VERSION}"
            )));
        }
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
    ) -> Result<oneshot::Receiver<Result<RedeemOutcome, LedgerError>>, LedgerError> {
        let (reply, rx) = oneshot::channel();
        self.writer
            .send(Job { request, reply })
            .map_err(|_| LedgerError::Worker("ledger writer stopped".into()))?;
        Ok(rx)
    }

    /// Synchronous redemption, for callers outside an async runtime (benches, tools).
    pub fn redeem_blocking(
        &self,
        request: &RedemptionRequest,
    ) -> Result<RedeemOutcome, LedgerError> {
        self.submit(request.clone())?
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

fn lookup_on(
    conn: &Connection,
    store: Store,
    app_id: &str,
    transaction_key: &str,
) -> Result<Option<RedemptionRow>, LedgerError> {
    Ok(conn
        .query_row(
            "SELECT account_id, product_id, receipt_sha256, first_verdict_id, first_seen_ms, last_seen_ms
             FROM redemptions WHERE store = ?1 AND app_id = ?2 AND transaction_key = ?3",
            params![store.as_str(), app_id, transaction_key],
            |r| {
                Ok(RedemptionRow {
                    account_id: r.get(0)?,
                    product_id: r.get(1)?,
                    receipt_sha256: r.get(2)?,
                    first_verdict_id: r.get(3)?,
                    first_seen_ms: r.get(4)?,
                    last_seen_ms: r.get(5)?,
                })
            },
        )
        .optional()?)
}

fn count_on(conn: &Connection) -> Result<u64, LedgerError> {
    let n: i64 = conn.query_row("SELECT COUNT(*) FROM redemptions", [], |r| r.get(0))?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// The writer thread: group-commit batches until every sender is gone.
fn writer_loop(mut conn: Connection, rx: mpsc::Receiver<Job>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let requests: Vec<&RedemptionRequest> = batch.iter().map(|j| &j.request).collect();
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

/// One transaction for the whole batch; each request in its own savepoint.
fn commit_batch(
    conn: &mut Connection,
    requests: &[&RedemptionRequest],
) -> Result<Vec<Result<RedeemOutcome, LedgerError>>, LedgerError> {
    let mut tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let mut outcomes = Vec::with_capacity(requests.len());
    for r in requests {
        let sp = tx.savepoint()?;
        match redeem_on(&sp, r) {
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
                                      receipt_sha256, first_verdict_id, first_seen_ms, last_seen_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)
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
            r.now_ms
        ])?;
    if inserted == 1 {
        return Ok(RedeemOutcome::First);
    }
    let owner: String = conn
        .prepare_cached(
            "SELECT account_id FROM redemptions
             WHERE store = ?1 AND app_id = ?2 AND transaction_key = ?3",
        )?
        .query_row(
            params![r.store.as_str(), r.app_id, r.transaction_key],
            |row| row.get(0),
        )?;
    if owner != r.account_id {
        return Ok(RedeemOutcome::OtherAccount);
    }
    conn.prepare_cached(
        "UPDATE redemptions SET last_seen_ms = max(last_seen_ms, ?4)
         WHERE store = ?1 AND app_id = ?2 AND transaction_key = ?3",
    )?
    .execute(params![
        r.store.as_str(),
        r.app_id,
        r.transaction_key,
        r.now_ms
    ])?;
    Ok(RedeemOutcome::Repeat)
}

impl Ledger for SqliteLedger {
    fn redeem(
        &self,
        request: RedemptionRequest,
    ) -> BoxFuture<'_, Result<RedeemOutcome, LedgerError>> {
        let submitted = self.submit(request);
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
        conn.execute_batch(SCHEMA).unwrap();
        let (a1, b1, a2, c1) = (
            req("alice", "K", 1),
            req("bob", "K", 2),
            req("alice", "K", 3),
            req("carol", "L", 4),
        );
        let outcomes = commit_batch(&mut conn, &[&a1, &b1, &a2, &c1]).unwrap();
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
