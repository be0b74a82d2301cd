//! SQLite ledger backend: one real file, WAL journal, `synchronous=FULL`, so a redemption is
//! on disk before [`Ledger::redeem`] resolves (and so before the verdict leaves the server).
//!
//! Calls run on tokio's blocking pool over one connection; each redemption is one
//! `BEGIN IMMEDIATE` transaction: `INSERT … ON CONFLICT DO NOTHING`, then read the owner.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use super::{BoxFuture, Ledger, LedgerError, RedeemOutcome, RedemptionRequest};

const SCHEMA_VERSION: i64 = 1;

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

/// The SQLite ledger.
pub struct SqliteLedger {
    path: PathBuf,
    conn: Arc<Mutex<Connection>>,
}

impl std::fmt::Debug for SqliteLedger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteLedger")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// One stored redemption row, as [`SqliteLedger::lookup`] reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedemptionRow {
    /// The owning account.
    pub account_id: String,
    /// The product id.
    pub product_id: String,
    /// Hex SHA-256 of the first receipt.
    pub receipt_sha256: String,
    /// The `jti` of the first verdict.
    pub first_verdict_id: String,
    /// First presentation, Unix milliseconds.
    pub first_seen_ms: i64,
    /// Latest presentation by the owner, Unix milliseconds.
    pub last_seen_ms: i64,
}

impl SqliteLedger {
    /// Open (or create) the ledger file, set WAL + `synchronous=FULL` and create the schema.
    pub fn open(path: &Path) -> Result<Self, LedgerError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        let conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(5))?;
        let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(LedgerError::Database(
                rusqlite::Error::InvalidParameterName(format!(
                    "journal_mode is {mode}, WAL required"
                )),
            ));
        }
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.execute_batch(SCHEMA)?;
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version == 0 {
            conn.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        } else if version != SCHEMA_VERSION {
            return Err(LedgerError::Database(
                rusqlite::Error::InvalidParameterName(format!(
                    "ledger schema version {version}, expected {SCHEMA_VERSION}"
                )),
            ));
        }
        Ok(Self {
            path: path.to_path_buf(),
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Synchronous redemption (what [`Ledger::redeem`] runs on the blocking pool).
    pub fn redeem_blocking(
        &self,
        request: &RedemptionRequest,
    ) -> Result<RedeemOutcome, LedgerError> {
        let mut conn = self
            .conn
            .lock()
            .map_err(|_| LedgerError::Worker("ledger connection poisoned".into()))?;
        redeem_on(&mut conn, request)
    }

    /// Read the row of one transaction (for tests and operators).
    pub fn lookup(
        &self,
        store: payseal_protocol::Store,
        app_id: &str,
        transaction_key: &str,
    ) -> Result<Option<RedemptionRow>, LedgerError> {
        let conn = self
            .conn
            .lock()
            .map_err(|_| LedgerError::Worker("ledger connection poisoned".into()))?;
        let row = conn
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
            .optional()?;
        Ok(row)
    }

    /// Number of recorded redemptions.
    pub fn count(&self) -> Result<u64, LedgerError> {
        let conn = self
            .conn
            .lock()
            .map_err(|_| LedgerError::Worker("ledger connection poisoned".into()))?;
        let n: i64 = conn.query_row("SELECT COUNT(*) FROM redemptions", [], |r| r.get(0))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}

fn redeem_on(conn: &mut Connection, r: &RedemptionRequest) -> Result<RedeemOutcome, LedgerError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let inserted = tx.execute(
        "INSERT INTO redemptions (store, app_id, transaction_key, account_id, product_id,
                                  receipt_sha256, first_verdict_id, first_seen_ms, last_seen_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)
         ON CONFLICT (store, app_id, transaction_key) DO NOTHING",
        params![
            r.store.as_str(),
            r.app_id,
            r.transaction_key,
            r.account_id,
            r.product_id,
            r.receipt_sha256,
            r.verdict_id,
            r.now_ms
        ],
    )?;
    let outcome = if inserted == 1 {
        RedeemOutcome::First
    } else {
        let owner: String = tx.query_row(
            "SELECT account_id FROM redemptions WHERE store = ?1 AND app_id = ?2 AND transaction_key = ?3",
            params![r.store.as_str(), r.app_id, r.transaction_key],
            |row| row.get(0),
        )?;
        if owner == r.account_id {
            tx.execute(
                "UPDATE redemptions SET last_seen_ms = max(last_seen_ms, ?4)
                 WHERE store = ?1 AND app_id = ?2 AND transaction_key = ?3",
                params![r.store.as_str(), r.app_id, r.transaction_key, r.now_ms],
            )?;
            RedeemOutcome::Repeat
        } else {
            RedeemOutcome::OtherAccount
        }
    };
    tx.commit()?;
    Ok(outcome)
}

impl SqliteLedger {
    fn clone_handle(&self) -> Self {
        Self {
            path: self.path.clone(),
            conn: Arc::clone(&self.conn),
        }
    }
}

impl Ledger for SqliteLedger {
    fn redeem(
        &self,
        request: RedemptionRequest,
    ) -> BoxFuture<'_, Result<RedeemOutcome, LedgerError>> {
        let this = self.clone_handle();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || this.redeem_blocking(&request))
                .await
                .map_err(|e| LedgerError::Worker(e.to_string()))?
        })
    }

    fn ready(&self) -> BoxFuture<'_, Result<(), LedgerError>> {
        let this = self.clone_handle();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                let conn = this
                    .conn
                    .lock()
                    .map_err(|_| LedgerError::Worker("ledger connection poisoned".into()))?;
                conn.query_row("SELECT COUNT(*) FROM redemptions WHERE 0", [], |r| {
                    r.get::<_, i64>(0)
                })?;
                Ok(())
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
            assert_eq!(
                l.redeem_blocking(&req("alice", "GPA.1", 10)).unwrap(),
                RedeemOutcome::First
            );
            assert_eq!(
                l.redeem_blocking(&req("alice", "GPA.1", 20)).unwrap(),
                RedeemOutcome::Repeat
            );
            assert_eq!(
                l.redeem_blocking(&req("bob", "GPA.1", 30)).unwrap(),
                RedeemOutcome::OtherAccount
            );
            assert_eq!(
                l.redeem_blocking(&req("bob", "GPA.2", 40)).unwrap(),
                RedeemOutcome::First
            );
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
        let conn = l.conn.lock().unwrap();
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        let sync: i64 = conn
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .unwrap();
        assert_eq!(sync, 2, "synchronous=FULL");
    }
}
