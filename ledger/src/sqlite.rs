//! SQLite backend: SQL and connections only (the operations are `ops.rs`'s). One real file, WAL
//! journal, `synchronous=FULL`, so a change is on disk before its operation resolves (and so
//! before the verdict leaves the server).
//!
//! **One writer thread with group commit.** Redemptions ([`Access::Redeem`]) waiting together
//! (up to [`MAX_BATCH`]) run one after another, each in its own savepoint, inside one
//! `BEGIN IMMEDIATE` transaction, committed once (one fsync for the batch); only then is each
//! caller answered. So two presentations of one receipt in a batch still see each other, and a
//! failing one rolls back alone. Other writes ([`Access::Write`], [`Access::Single`]:
//! revocations, notifications, outbox updates, cursors) run alone in their own `BEGIN IMMEDIATE` transaction on the same
//! thread. Reads ([`Access::Read`]) use a second connection, which WAL lets run beside the
//! writer.
//!
//! **A redemption is settled by a read first** ([`Operation::settle`], on one of the settling
//! connections, one per core ([`settling_connections`]), in the caller's thread, never waiting
//! for one): another account's attempt, a revoked row and
//! a repeat that writes nothing ([`crate::settled_by_read`]) are answered from the committed
//! row (committed means synced: WAL readers see a commit only after its fsync), without the
//! writer thread, its transaction or an fsync. Only a first redemption and a repeat that writes
//! (a minute after the last recorded one, or a newer period end) queue for the writer, which
//! reads the row again inside its transaction and decides there.
//!
//! **Driving async operations synchronously.** [`SqliteTx`] runs each statement when its
//! method is called and returns a ready future, so an operation never waits: [`run_now`] polls
//! it once with a no-op waker inside the blocking section.
//!
//! **Schema**: the numbered files of `migrations/sqlite/` ([`crate::migrate::SQLITE`]), applied
//! at open in one `BEGIN IMMEDIATE` transaction by [`crate::migrate::run`] and recorded in
//! `payseal_schema_migrations`. A file made before numbered migrations (its `user_version` 1 to
//! 4, plus the `google_voided_cursor` table those verifiers created outside the steps) is first
//! recorded as having the migrations it has (same SQL), then upgraded like any other. The
//! file's `user_version` is kept at the latest applied number, so an older verifier refuses it.

use payseal_protocol::time::now_ms;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use payseal_protocol::{Environment, PurchaseKind, Store};
use rusqlite::types::Type;
use rusqlite::{params, Connection, OptionalExtension};
use tokio::sync::oneshot;

use crate::acks::{AckBacklog, Acknowledgement, NewAck};
use crate::columns::{
    ack_columns, ack_row, delivery_row, notification_columns, notification_row, outbox_columns,
    owned_columns, owned_row, redemption_columns, redemption_row, revocation_columns,
    revocation_row,
};
use crate::consumption::ReportRow;
use crate::event::Cause;
use crate::migrate::{self, AppliedRow, Migration, SchemaStore, MIGRATIONS_TABLE, SQLITE};
use crate::notifications::{
    Applied, NewNotification, NotificationRow, RevocationRow, StoredNotification,
    SubscriptionAnswer,
};
use crate::outbox::{Delivery, DeliveryState, NewDelivery};
use crate::refunds::{NewRefundRequest, RefundRequestRow, RefundState};
use crate::tx::{Access, AttemptUpdate, Database, Key, Operation, RedeemStep, Tx};
use crate::{
    BoxFuture, LedgerError, OwnedPurchase, RedeemOutcome, RedemptionRequest, RedemptionRow,
    UNREDEEMED_ACCOUNT,
};

/// Most redemptions committed together.
pub const MAX_BATCH: usize = 256;

/// How long a writer waits for another process's lock before failing the batch.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The last `user_version` of files made before numbered SQLite migrations.
const LAST_UNNUMBERED_VERSION: i64 = 4;

/// Poll `future` once: SQLite operations never wait (every [`SqliteTx`] future is ready), so
/// one poll finishes them; one that would wait is reported, never blocked on.
pub fn run_now<F: Future>(future: F) -> Result<F::Output, LedgerError> {
    let mut future = std::pin::pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => Ok(output),
        Poll::Pending => Err(LedgerError::Worker(
            "a SQLite ledger operation waited for something (it must not)".into(),
        )),
    }
}

/// Run `op` on `conn` (already in the transaction it needs).
fn run_op<O: Operation>(op: &O, conn: &mut Connection) -> Result<O::Output, LedgerError> {
    run_now(op.run(&mut SqliteTx { conn }))?
}

/// Run `f` in one `BEGIN IMMEDIATE` transaction: committed when it succeeds, rolled back
/// otherwise.
fn in_transaction<R>(
    conn: &mut Connection,
    f: impl FnOnce(&mut Connection) -> Result<R, LedgerError>,
) -> Result<R, LedgerError> {
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let result = f(conn).and_then(|value| {
        conn.execute_batch("COMMIT")?;
        Ok(value)
    });
    if result.is_err() && !conn.is_autocommit() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    result
}

/// A redemption waiting for the writer's next batch.
trait Batched: Send {
    /// Run inside the batch, in its own savepoint; whether it succeeded (else the savepoint is
    /// rolled back).
    fn run(&mut self, conn: &mut Connection) -> bool;
    /// Answer the caller once the batch is committed (`Err`: it was not).
    fn answer(self: Box<Self>, committed: Result<(), &str>);
}

struct Pending<O: Operation> {
    op: O,
    result: Option<Result<O::Output, LedgerError>>,
    reply: oneshot::Sender<Result<O::Output, LedgerError>>,
}

impl<O: Operation> Batched for Pending<O> {
    fn run(&mut self, conn: &mut Connection) -> bool {
        let result = run_op(&self.op, conn);
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn answer(self: Box<Self>, committed: Result<(), &str>) {
        let answer = match (committed, self.result) {
            (Ok(()), Some(result)) => result,
            (Ok(()), None) => Err(LedgerError::Worker("redemption not run".into())),
            (Err(message), _) => Err(LedgerError::Worker(format!(
                "batch not committed: {message}"
            ))),
        };
        let _ = self.reply.send(answer);
    }
}

/// Work for the writer thread.
enum Job {
    /// A redemption (group-committed with the others waiting).
    Batch(Box<dyn Batched>),
    /// Any other write, run alone in its own transaction; it answers through its own channel.
    Exec(Box<dyn FnOnce(&mut Connection) + Send>),
}

/// The SQLite ledger.
pub struct SqliteLedger {
    path: PathBuf,
    writer: mpsc::Sender<Job>,
    /// The writer thread, joined on drop so the file is closed in a known order.
    thread: Option<std::thread::JoinHandle<()>>,
    /// The connections a redemption is first settled on by a read ([`Operation::settle`]),
    /// without waiting (`try_lock` on each in turn, no busy timeout): a repeat that writes
    /// nothing never queues behind the writer. One per core, so that requests on different
    /// threads do not find them all busy. Declared before `reader` so that `reader` still
    /// closes last.
    settlers: Vec<Mutex<Connection>>,
    /// Where the next settle starts looking, so the threads spread over the settlers.
    next_settler: AtomicUsize,
    reader: Arc<Mutex<Connection>>,
}

impl Drop for SqliteLedger {
    /// Stop the writer (it finishes the jobs already queued) and wait for it, so that the
    /// reader closes last and alone: SQLite then checkpoints and removes the `-wal` file.
    /// Two connections closing at once could each see the other and both skip that.
    fn drop(&mut self) {
        drop(std::mem::replace(&mut self.writer, mpsc::channel().0));
        if let Some(thread) = self.thread.take() {
            if thread.thread().id() != std::thread::current().id() {
                let _ = thread.join();
            }
        }
    }
}

impl std::fmt::Debug for SqliteLedger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteLedger")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

fn connect(path: &Path) -> Result<Connection, LedgerError> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(LedgerError::Schema(format!(
            "journal_mode is {mode}, WAL required"
        )));
    }
    conn.pragma_update(None, "synchronous", "FULL")?;
    Ok(conn)
}

fn worker_gone<E>(_: E) -> LedgerError {
    LedgerError::Worker("ledger writer stopped".into())
}

impl SqliteLedger {
    /// Open (or create) the ledger file, set WAL + `synchronous=FULL`, apply pending
    /// migrations and start the writer thread. A new folder is made `0700` and a new file
    /// `0600`; an existing database, `-wal` or `-shm` file that other local users can open is
    /// refused ([`LedgerError::Permissions`], see [`crate::files`]).
    pub fn open(path: &Path) -> Result<Self, LedgerError> {
        crate::files::prepare(path)?;
        let mut writer_conn = connect(path)?;
        prepare_schema(&mut writer_conn)?;
        let reader = connect(path)?;
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let settlers = (0..settling_connections(cores))
            .map(|_| {
                let settler = connect(path)?;
                // Never waits on a lock: a busy file sends the redemption to the writer instead.
                settler.busy_timeout(Duration::ZERO)?;
                Ok(Mutex::new(settler))
            })
            .collect::<Result<_, LedgerError>>()?;
        let (tx, rx) = mpsc::channel::<Job>();
        let thread = std::thread::Builder::new()
            .name("payseal-ledger".into())
            .spawn(move || writer_loop(writer_conn, rx))?;
        Ok(Self {
            path: path.to_path_buf(),
            writer: tx,
            thread: Some(thread),
            settlers,
            next_settler: AtomicUsize::new(0),
            reader: Arc::new(Mutex::new(reader)),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Queue a redemption for the writer's next batch.
    fn submit<O: Operation>(
        &self,
        op: O,
    ) -> Result<oneshot::Receiver<Result<O::Output, LedgerError>>, LedgerError> {
        let (reply, rx) = oneshot::channel();
        self.writer
            .send(Job::Batch(Box::new(Pending {
                op,
                result: None,
                reply,
            })))
            .map_err(worker_gone)?;
        Ok(rx)
    }

    /// Synchronous redemption, for callers outside an async runtime (benches, tools).
    pub fn redeem_blocking(
        &self,
        request: &RedemptionRequest,
    ) -> Result<RedeemOutcome, LedgerError> {
        let op = crate::ops::Redeem {
            request: request.clone(),
            delivery: None,
            ack: None,
        };
        if let Some(outcome) = self.settle(&op) {
            return Ok(outcome);
        }
        self.submit(op)?.blocking_recv().map_err(worker_gone)?
    }

    /// `op`'s answer from a read on a free settling connection ([`Operation::settle`]), in the
    /// caller's thread: a primary-key read of committed (so durable) rows. `None` when it has
    /// none, when every settling connection is in use, or on any error: the writer then runs
    /// `op`.
    fn settle<O: Operation>(&self, op: &O) -> Option<O::Output> {
        let start = self.next_settler.fetch_add(1, Ordering::Relaxed);
        let n = self.settlers.len();
        let mut conn = (0..n).find_map(|i| self.settlers[(start + i) % n].try_lock().ok())?;
        run_now(op.settle(&mut SqliteTx { conn: &mut conn }))
            .ok()?
            .ok()?
    }

    fn read<O: Operation>(&self, op: &O) -> Result<O::Output, LedgerError> {
        let mut conn = self
            .reader
            .lock()
            .map_err(|_| LedgerError::Worker("ledger reader poisoned".into()))?;
        run_op(op, &mut conn)
    }

    /// Read the row of one transaction (for tests and operators).
    pub fn lookup(
        &self,
        store: Store,
        app_id: &str,
        transaction_key: &str,
    ) -> Result<Option<RedemptionRow>, LedgerError> {
        self.read(&crate::ops::Find {
            store,
            app_id: app_id.to_string(),
            transaction_key: transaction_key.to_string(),
        })
    }

    /// Number of recorded redemptions.
    pub fn count(&self) -> Result<u64, LedgerError> {
        self.read(&crate::ops::CountRedemptions {})
    }
}

impl Database for SqliteLedger {
    fn execute<O: Operation>(&self, op: O) -> BoxFuture<'_, Result<O::Output, LedgerError>> {
        match O::ACCESS {
            Access::Read => {
                let reader = Arc::clone(&self.reader);
                Box::pin(async move {
                    tokio::task::spawn_blocking(move || {
                        let mut conn = reader
                            .lock()
                            .map_err(|_| LedgerError::Worker("ledger reader poisoned".into()))?;
                        run_op(&op, &mut conn)
                    })
                    .await
                    .map_err(|e| LedgerError::Worker(e.to_string()))?
                })
            }
            Access::Redeem => {
                if let Some(output) = self.settle(&op) {
                    return Box::pin(std::future::ready(Ok(output)));
                }
                let submitted = self.submit(op);
                Box::pin(async move { submitted?.await.map_err(worker_gone)? })
            }
            Access::Single | Access::Write => {
                let (reply, rx) = oneshot::channel();
                let job = Job::Exec(Box::new(move |conn: &mut Connection| {
                    let _ = reply.send(in_transaction(conn, |conn| run_op(&op, conn)));
                }));
                let sent = self.writer.send(job).map_err(worker_gone);
                Box::pin(async move {
                    sent?;
                    rx.await.map_err(worker_gone)?
                })
            }
        }
    }
}

/// How many settling connections a ledger opens on a machine with `cores` cores: one per core
/// (each worker thread can settle while the others do), at most 8 (each holds a page cache).
/// With a single one, two threads settling at once sent one of them to the writer: its
/// channel, its transaction and two thread wake-ups, for a repeat that writes nothing.
pub(crate) fn settling_connections(cores: usize) -> usize {
    cores.clamp(1, 8)
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
            Job::Batch(job) => vec![job],
        };
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(Job::Batch(job)) => batch.push(job),
                // Run it after this batch's commit.
                Ok(exec @ Job::Exec(_)) => {
                    next = Some(exec);
                    break;
                }
                Err(_) => break,
            }
        }
        let committed = commit_batch(&mut conn, &mut batch).map_err(|e| e.to_string());
        for job in batch {
            job.answer(committed.as_ref().map(|_| ()).map_err(String::as_str));
        }
    }
}

/// One transaction for the whole batch; each job in its own savepoint.
fn commit_batch(conn: &mut Connection, batch: &mut [Box<dyn Batched>]) -> Result<(), LedgerError> {
    in_transaction(conn, |conn| {
        for job in batch.iter_mut() {
            conn.prepare_cached("SAVEPOINT redeem")?.execute([])?;
            if job.run(conn) {
                conn.prepare_cached("RELEASE redeem")?.execute([])?;
            } else {
                // This request is rolled back; the others stand.
                conn.prepare_cached("ROLLBACK TO redeem")?.execute([])?;
                conn.prepare_cached("RELEASE redeem")?.execute([])?;
            }
        }
        Ok(())
    })
}

/// One SQLite transaction, row by row (see [`Tx`]).
pub struct SqliteTx<'c> {
    conn: &'c mut Connection,
}

fn redemption_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RedemptionRow> {
    Ok(redemption_row!(r, get))
}

fn delivery_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Delivery> {
    Ok(delivery_row!(r, get, |state: String| {
        DeliveryState::stored(&state)
            .map_err(|e| rusqlite::Error::FromSqlConversionFailure(8, Type::Text, Box::new(e)))
    }))
}

fn ack_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Acknowledgement> {
    fn parse<T>(x: Result<T, LedgerError>) -> rusqlite::Result<T> {
        x.map_err(|e| rusqlite::Error::FromSqlConversionFailure(0, Type::Text, Box::new(e)))
    }
    Ok(ack_row!(r, get, parse))
}

fn notification_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<NotificationRow> {
    Ok(notification_row!(r, get))
}

fn revocation_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RevocationRow> {
    Ok(revocation_row!(r, get))
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// A statement's answer as the ready future of a [`Tx`] method.
fn ready<T>(result: rusqlite::Result<T>) -> std::future::Ready<Result<T, LedgerError>> {
    std::future::ready(result.map_err(LedgerError::from))
}

impl SqliteTx<'_> {
    fn query_vec<T, P: rusqlite::Params>(
        &self,
        sql: &str,
        params: P,
        row: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<Vec<T>> {
        self.conn
            .prepare_cached(sql)?
            .query_map(params, row)?
            .collect()
    }

    fn execute<P: rusqlite::Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize> {
        self.conn.prepare_cached(sql)?.execute(params)
    }
}

impl Tx for SqliteTx<'_> {
    type Error = LedgerError;

    fn ping(&mut self) -> impl Future<Output = Result<(), LedgerError>> + Send {
        ready(
            self.conn
                .query_row(
                    "SELECT COUNT(*) FROM payseal_redemptions WHERE 0",
                    [],
                    |r| r.get::<_, i64>(0),
                )
                .map(|_| ()),
        )
    }

    fn redemption(
        &mut self,
        key: Key<'_>,
        _lock: bool,
    ) -> impl Future<Output = Result<Option<RedemptionRow>, LedgerError>> + Send {
        // `_lock`: the writer's `BEGIN IMMEDIATE` holds the whole database already.
        ready(
            self.conn
                .prepare_cached(concat!(
                    "SELECT ",
                    redemption_columns!(),
                    " FROM payseal_redemptions
                      WHERE store = ?1 AND app_id = ?2 AND transaction_key = ?3"
                ))
                .and_then(|mut s| {
                    s.query_row(
                        params![key.store.as_str(), key.app_id, key.transaction_key],
                        redemption_row,
                    )
                    .optional()
                }),
        )
    }

    fn redeem_row(
        &mut self,
        r: &RedemptionRequest,
        delivery: Option<&NewDelivery>,
        ack: Option<&NewAck>,
    ) -> impl Future<Output = Result<RedeemStep, LedgerError>> + Send {
        let inserted = self.execute(
            "INSERT INTO payseal_redemptions (store, app_id, transaction_key, account_id,
                 product_id, receipt_sha256, first_verdict_id, first_seen_ms, last_seen_ms,
                 expires_at_ms, kind, environment)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9, ?10, ?11)
             ON CONFLICT (store, app_id, transaction_key) DO NOTHING",
            params![
                r.store.as_str(),
                r.app_id,
                r.transaction_key,
                r.account_id,
                r.product_id,
                r.receipt_sha256,
                r.verdict_id,
                r.now_ms,
                r.expires_at_ms,
                r.kind.map(PurchaseKind::as_str),
                r.environment.map(Environment::as_str)
            ],
        );
        // In the same savepoint as the redemption: both are committed, or neither.
        let result = inserted.and_then(|n| {
            if n != 1 {
                // In process, a statement costs no round trip: the operation reads and touches.
                return Ok(RedeemStep::Exists);
            }
            if let Some(d) = delivery {
                self.insert_delivery_now(d)?;
            }
            if let Some(ack) = ack {
                self.insert_ack_now(r, ack)?;
            }
            Ok(RedeemStep::Inserted)
        });
        ready(result)
    }

    fn touch_redemption(
        &mut self,
        r: &RedemptionRequest,
        expires_at_ms: Option<i64>,
    ) -> impl Future<Output = Result<(), LedgerError>> + Send {
        ready(
            self.execute(
                "UPDATE payseal_redemptions
                 SET last_seen_ms = max(last_seen_ms, ?5), expires_at_ms = ?6
                 WHERE store = ?1 AND app_id = ?2 AND transaction_key = ?3 AND account_id = ?4
                   AND revoked_at_ms IS NULL",
                params![
                    r.store.as_str(),
                    r.app_id,
                    r.transaction_key,
                    r.account_id,
                    r.now_ms,
                    expires_at_ms
                ],
            )
            .map(|_| ()),
        )
    }

    fn move_redemption(
        &mut self,
        key: Key<'_>,
        from: &str,
        to: &str,
        now_ms: i64,
    ) -> impl Future<Output = Result<u64, LedgerError>> + Send {
        ready(
            self.execute(
                "UPDATE payseal_redemptions SET account_id = ?5, last_seen_ms = ?6
                 WHERE store = ?1 AND app_id = ?2 AND transaction_key = ?3 AND account_id = ?4
                   AND revoked_at_ms IS NULL",
                params![
                    key.store.as_str(),
                    key.app_id,
                    key.transaction_key,
                    from,
                    to,
                    now_ms
                ],
            )
            .map(|n| n as u64),
        )
    }

    fn mark_revoked(
        &mut self,
        key: Key<'_>,
        now_ms: i64,
        reason: &str,
    ) -> impl Future<Output = Result<u64, LedgerError>> + Send {
        ready(
            self.execute(
                "UPDATE payseal_redemptions SET revoked_at_ms = ?4, revoke_reason = ?5
                 WHERE store = ?1 AND app_id = ?2 AND transaction_key = ?3
                   AND revoked_at_ms IS NULL",
                params![
                    key.store.as_str(),
                    key.app_id,
                    key.transaction_key,
                    now_ms,
                    reason
                ],
            )
            .map(|n| n as u64),
        )
    }

    fn set_subscription(
        &mut self,
        key: Key<'_>,
        answer: &SubscriptionAnswer,
    ) -> impl Future<Output = Result<(), LedgerError>> + Send {
        ready(
            self.execute(
                "UPDATE payseal_redemptions SET subscription_state = ?4,
                        expires_at_ms = coalesce(?5, expires_at_ms), state_checked_ms = ?6,
                        will_renew = ?7
                 WHERE store = ?1 AND app_id = ?2 AND transaction_key = ?3",
                params![
                    key.store.as_str(),
                    key.app_id,
                    key.transaction_key,
                    answer.state.as_str(),
                    answer.expires_at_ms,
                    answer.checked_ms,
                    answer.will_renew
                ],
            )
            .map(|_| ()),
        )
    }

    fn clear_revocation(
        &mut self,
        key: Key<'_>,
    ) -> impl Future<Output = Result<(), LedgerError>> + Send {
        ready(
            self.execute(
                "UPDATE payseal_redemptions SET revoked_at_ms = NULL, revoke_reason = NULL
                 WHERE store = ?1 AND app_id = ?2 AND transaction_key = ?3",
                params![key.store.as_str(), key.app_id, key.transaction_key],
            )
            .map(|_| ()),
        )
    }

    fn insert_refusal(
        &mut self,
        key: Key<'_>,
        product_id: &str,
        now_ms: i64,
        reason: &str,
    ) -> impl Future<Output = Result<bool, LedgerError>> + Send {
        ready(
            self.execute(
                "INSERT INTO payseal_redemptions (store, app_id, transaction_key, account_id,
                     product_id, receipt_sha256, first_verdict_id, first_seen_ms,
                     last_seen_ms, revoked_at_ms, revoke_reason)
                 VALUES (?1, ?2, ?3, ?4, ?5, '', '', ?6, ?6, ?6, ?7)
                 ON CONFLICT (store, app_id, transaction_key) DO NOTHING",
                params![
                    key.store.as_str(),
                    key.app_id,
                    key.transaction_key,
                    UNREDEEMED_ACCOUNT,
                    product_id,
                    now_ms,
                    reason
                ],
            )
            .map(|n| n == 1),
        )
    }

    fn delete_refusal(
        &mut self,
        key: Key<'_>,
    ) -> impl Future<Output = Result<(), LedgerError>> + Send {
        ready(
            self.execute(
                "DELETE FROM payseal_redemptions
                 WHERE store = ?1 AND app_id = ?2 AND transaction_key = ?3 AND account_id = ?4",
                params![
                    key.store.as_str(),
                    key.app_id,
                    key.transaction_key,
                    UNREDEEMED_ACCOUNT
                ],
            )
            .map(|_| ()),
        )
    }

    fn causes(
        &mut self,
        key: Key<'_>,
    ) -> impl Future<Output = Result<Vec<Cause>, LedgerError>> + Send {
        std::future::ready(
            self.query_vec(
                "SELECT revoker, cause_transaction FROM payseal_revocation_causes
                 WHERE store = ?1 AND app_id = ?2 AND transaction_key = ?3",
                params![key.store.as_str(), key.app_id, key.transaction_key],
                |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
            )
            .map_err(LedgerError::from)
            .and_then(|rows| {
                rows.into_iter()
                    .map(|(revoker, t)| Cause::from_stored(&revoker, t))
                    .collect()
            }),
        )
    }

    fn insert_cause(
        &mut self,
        key: Key<'_>,
        cause: &Cause,
        event_id: &str,
        now_ms: i64,
    ) -> impl Future<Output = Result<(), LedgerError>> + Send {
        ready(
            self.execute(
                "INSERT INTO payseal_revocation_causes (store, app_id, transaction_key, revoker,
                     cause_transaction, event_id, revoked_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT DO NOTHING",
                params![
                    key.store.as_str(),
                    key.app_id,
                    key.transaction_key,
                    cause.revoker.as_str(),
                    cause.transaction,
                    event_id,
                    now_ms
                ],
            )
            .map(|_| ()),
        )
    }

    fn delete_cause(
        &mut self,
        key: Key<'_>,
        cause: &Cause,
    ) -> impl Future<Output = Result<(), LedgerError>> + Send {
        ready(
            self.execute(
                "DELETE FROM payseal_revocation_causes
                 WHERE store = ?1 AND app_id = ?2 AND transaction_key = ?3 AND revoker = ?4
                   AND cause_transaction = ?5",
                params![
                    key.store.as_str(),
                    key.app_id,
                    key.transaction_key,
                    cause.revoker.as_str(),
                    cause.transaction
                ],
            )
            .map(|_| ()),
        )
    }

    fn owned(
        &mut self,
        app_id: &str,
        account_id: &str,
    ) -> impl Future<Output = Result<Vec<OwnedPurchase>, LedgerError>> + Send {
        ready(self.query_vec(
            concat!(
                "SELECT ",
                owned_columns!(),
                " FROM payseal_redemptions WHERE app_id = ?1 AND account_id = ?2
                  ORDER BY first_seen_ms, store, transaction_key"
            ),
            params![app_id, account_id],
            |r| Ok(owned_row!(r, get)),
        ))
    }

    fn entitlement_set(
        &mut self,
        app_id: &str,
        account_id: &str,
    ) -> impl Future<Output = Result<Option<String>, LedgerError>> + Send {
        // The writer holds the whole database: no row lock to take.
        ready(
            self.execute(
                "INSERT OR IGNORE INTO payseal_entitlement_sets (app_id, account_id, names, changed_ms)
                 VALUES (?1, ?2, NULL, 0)",
                params![app_id, account_id],
            )
            .and_then(|_| {
                self.conn
                    .query_row(
                        "SELECT names FROM payseal_entitlement_sets
                         WHERE app_id = ?1 AND account_id = ?2",
                        params![app_id, account_id],
                        |r| r.get(0),
                    )
            }),
        )
    }

    fn peek_entitlement_set(
        &mut self,
        app_id: &str,
        account_id: &str,
    ) -> impl Future<Output = Result<Option<String>, LedgerError>> + Send {
        ready(
            self.conn
                .query_row(
                    "SELECT names FROM payseal_entitlement_sets
                     WHERE app_id = ?1 AND account_id = ?2",
                    params![app_id, account_id],
                    |r| r.get::<_, Option<String>>(0),
                )
                .optional()
                .map(Option::flatten),
        )
    }

    fn put_entitlement_set(
        &mut self,
        app_id: &str,
        account_id: &str,
        names: &str,
        now_ms: i64,
    ) -> impl Future<Output = Result<(), LedgerError>> + Send {
        ready(
            self.execute(
                "UPDATE payseal_entitlement_sets SET names = ?3, changed_ms = ?4
                 WHERE app_id = ?1 AND account_id = ?2",
                params![app_id, account_id, names, now_ms],
            )
            .map(|_| ()),
        )
    }

    fn count_redemptions(&mut self) -> impl Future<Output = Result<u64, LedgerError>> + Send {
        ready(
            self.conn
                .query_row("SELECT COUNT(*) FROM payseal_redemptions", [], |r| r.get(0))
                .map(count),
        )
    }

    fn revocations(
        &mut self,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<RevocationRow>, LedgerError>> + Send {
        ready(self.query_vec(
            concat!(
                "SELECT ",
                revocation_columns!(),
                " FROM payseal_redemptions WHERE revoked_at_ms IS NOT NULL
                  ORDER BY revoked_at_ms DESC, transaction_key LIMIT ?1"
            ),
            params![limit],
            revocation_row,
        ))
    }

    fn insert_delivery(
        &mut self,
        d: &NewDelivery,
    ) -> impl Future<Output = Result<(), LedgerError>> + Send {
        ready(self.insert_delivery_now(d))
    }

    fn claim_deliveries(
        &mut self,
        now_ms: i64,
        lease_until_ms: i64,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Delivery>, LedgerError>> + Send {
        ready(self.query_vec(
            concat!(
                "UPDATE payseal_outbox SET next_attempt_ms = ?2, attempts = attempts + 1
                 WHERE id IN (SELECT id FROM payseal_outbox
                              WHERE state = 'pending' AND next_attempt_ms <= ?1
                              ORDER BY next_attempt_ms LIMIT ?3)
                 RETURNING ",
                outbox_columns!()
            ),
            params![now_ms, lease_until_ms, limit],
            delivery_row,
        ))
    }

    fn finish_delivery(
        &mut self,
        id: &str,
        attempt: i64,
        u: AttemptUpdate<'_>,
    ) -> impl Future<Output = Result<u64, LedgerError>> + Send {
        ready(
            self.execute(
                "UPDATE payseal_outbox SET state = ?3,
                        next_attempt_ms = COALESCE(?4, next_attempt_ms), finished_ms = ?5,
                        last_error = ?6
                 WHERE id = ?1 AND state = 'pending' AND attempts = ?2",
                params![
                    id,
                    attempt,
                    u.state.as_str(),
                    u.next_attempt_ms,
                    u.finished_ms,
                    u.last_error
                ],
            )
            .map(|n| n as u64),
        )
    }

    fn deliveries(
        &mut self,
        state: Option<DeliveryState>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Delivery>, LedgerError>> + Send {
        ready(self.query_vec(
            concat!(
                "SELECT ",
                outbox_columns!(),
                " FROM payseal_outbox WHERE ?1 IS NULL OR state = ?1
                  ORDER BY created_ms DESC, id LIMIT ?2"
            ),
            params![state.map(DeliveryState::as_str), limit],
            delivery_row,
        ))
    }

    fn retry_deliveries(
        &mut self,
        id: Option<&str>,
        now_ms: i64,
    ) -> impl Future<Output = Result<u64, LedgerError>> + Send {
        ready(
            self.execute(
                "UPDATE payseal_outbox SET state = 'pending', next_attempt_ms = ?2,
                        age_from_ms = ?2, finished_ms = NULL
                 WHERE state = 'failed' AND (?1 IS NULL OR id = ?1)",
                params![id, now_ms],
            )
            .map(|n| n as u64),
        )
    }

    fn count_pending(&mut self) -> impl Future<Output = Result<u64, LedgerError>> + Send {
        ready(
            self.conn
                .query_row(
                    "SELECT COUNT(*) FROM payseal_outbox WHERE state = 'pending'",
                    [],
                    |r| r.get(0),
                )
                .map(count),
        )
    }

    fn insert_notification(
        &mut self,
        n: &NewNotification,
    ) -> impl Future<Output = Result<bool, LedgerError>> + Send {
        ready(
            self.execute(
                concat!(
                    "INSERT INTO payseal_store_notifications (",
                    notification_columns!(),
                    ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'pending')
                      ON CONFLICT (store, notification_id) DO NOTHING"
                ),
                params![
                    n.store.as_str(),
                    n.notification_id,
                    n.notification_type,
                    n.subtype,
                    n.environment,
                    n.app_id,
                    n.transaction_key,
                    n.signed_ms,
                    n.received_ms
                ],
            )
            .map(|n| n == 1),
        )
    }

    fn stored_notification(
        &mut self,
        store: Store,
        notification_id: &str,
    ) -> impl Future<Output = Result<StoredNotification, LedgerError>> + Send {
        ready(
            self.conn
                .prepare_cached(
                    "SELECT result, app_id, transaction_key FROM payseal_store_notifications
                     WHERE store = ?1 AND notification_id = ?2",
                )
                .and_then(|mut s| {
                    s.query_row(params![store.as_str(), notification_id], |r| {
                        Ok(StoredNotification {
                            result: r.get(0)?,
                            app_id: r.get(1)?,
                            transaction_key: r.get(2)?,
                        })
                    })
                }),
        )
    }

    fn set_notification_result(
        &mut self,
        store: Store,
        notification_id: &str,
        applied: &Applied,
    ) -> impl Future<Output = Result<(), LedgerError>> + Send {
        ready(
            self.execute(
                "UPDATE payseal_store_notifications
                 SET result = ?3, app_id = ?4, transaction_key = ?5
                 WHERE store = ?1 AND notification_id = ?2",
                params![
                    store.as_str(),
                    notification_id,
                    applied.result.as_str(),
                    applied.app_id,
                    applied.transaction_key
                ],
            )
            .map(|_| ()),
        )
    }

    fn notifications(
        &mut self,
        store: Option<Store>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<NotificationRow>, LedgerError>> + Send {
        ready(self.query_vec(
            concat!(
                "SELECT ",
                notification_columns!(),
                " FROM payseal_store_notifications WHERE ?1 IS NULL OR store = ?1
                  ORDER BY received_ms DESC, notification_id LIMIT ?2"
            ),
            params![store.map(Store::as_str), limit],
            notification_row,
        ))
    }

    fn claim_acks(
        &mut self,
        now_ms: i64,
        lease_until_ms: i64,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Acknowledgement>, LedgerError>> + Send {
        ready(self.query_vec(
            concat!(
                "UPDATE payseal_store_acks SET next_attempt_ms = ?2, attempts = attempts + 1
                 WHERE id IN (SELECT id FROM payseal_store_acks
                              WHERE state = 'pending' AND next_attempt_ms <= ?1
                              ORDER BY next_attempt_ms LIMIT ?3)
                 RETURNING ",
                ack_columns!()
            ),
            params![now_ms, lease_until_ms, limit],
            ack_from_row,
        ))
    }

    fn finish_ack(
        &mut self,
        id: &str,
        attempt: i64,
        u: AttemptUpdate<'_>,
    ) -> impl Future<Output = Result<u64, LedgerError>> + Send {
        ready(
            self.execute(
                "UPDATE payseal_store_acks SET state = ?3,
                        next_attempt_ms = COALESCE(?4, next_attempt_ms), finished_ms = ?5,
                        last_error = ?6
                 WHERE id = ?1 AND state = 'pending' AND attempts = ?2",
                params![
                    id,
                    attempt,
                    u.state.as_str(),
                    u.next_attempt_ms,
                    u.finished_ms,
                    u.last_error
                ],
            )
            .map(|n| n as u64),
        )
    }

    fn acks(
        &mut self,
        state: Option<DeliveryState>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Acknowledgement>, LedgerError>> + Send {
        ready(self.query_vec(
            concat!(
                "SELECT ",
                ack_columns!(),
                " FROM payseal_store_acks WHERE ?1 IS NULL OR state = ?1
                  ORDER BY created_ms DESC, id LIMIT ?2"
            ),
            params![state.map(DeliveryState::as_str), limit],
            ack_from_row,
        ))
    }

    fn ack_backlog(&mut self) -> impl Future<Output = Result<AckBacklog, LedgerError>> + Send {
        ready(self.conn.query_row(
            "SELECT COUNT(*), MIN(purchased_ms) FROM payseal_store_acks WHERE state = 'pending'",
            [],
            |r| {
                Ok(AckBacklog {
                    pending: count(r.get(0)?),
                    oldest_purchased_ms: r.get(1)?,
                })
            },
        ))
    }

    fn voided_cursor(
        &mut self,
        package_name: &str,
    ) -> impl Future<Output = Result<Option<i64>, LedgerError>> + Send {
        ready(
            self.conn
                .query_row(
                    "SELECT start_time_ms FROM payseal_google_voided_cursor
                     WHERE package_name = ?1",
                    params![package_name],
                    |r| r.get(0),
                )
                .optional(),
        )
    }

    fn insert_refund_request(
        &mut self,
        n: &NewNotification,
        r: &NewRefundRequest,
    ) -> impl Future<Output = Result<(), LedgerError>> + Send {
        ready(
            self.execute(
                "INSERT INTO payseal_refund_requests (store, notification_id, app_id,
                     transaction_key, environment, deadline_ms, state, attempts, next_attempt_ms,
                     created_ms, answer_token)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', 0, ?7, ?7, ?8)
                 ON CONFLICT (store, notification_id) DO NOTHING",
                params![
                    n.store.as_str(),
                    n.notification_id,
                    r.app_id,
                    r.transaction_key,
                    r.environment,
                    r.deadline_ms,
                    n.received_ms,
                    r.answer_token
                ],
            )
            .map(|_| ()),
        )
    }

    fn claim_refund_requests(
        &mut self,
        now_ms: i64,
        lease_until_ms: i64,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<RefundRequestRow>, LedgerError>> + Send {
        ready(self.query_vec(
            "UPDATE payseal_refund_requests SET next_attempt_ms = ?2, attempts = attempts + 1
             WHERE (store, notification_id) IN (
                 SELECT store, notification_id FROM payseal_refund_requests
                 WHERE state = 'pending' AND next_attempt_ms <= ?1
                 ORDER BY deadline_ms LIMIT ?3)
             RETURNING store, notification_id, app_id, transaction_key, environment, deadline_ms, state, attempts, next_attempt_ms, created_ms, finished_ms, detail, answer_token",
            params![now_ms, lease_until_ms, limit],
            refund_row,
        ))
    }

    fn finish_refund_request(
        &mut self,
        store: Store,
        notification_id: &str,
        attempt: i64,
        state: RefundState,
        next_attempt_ms: Option<i64>,
        finished_ms: Option<i64>,
        detail: &str,
    ) -> impl Future<Output = Result<u64, LedgerError>> + Send {
        ready(
            self.execute(
                "UPDATE payseal_refund_requests SET state = ?4,
                        next_attempt_ms = COALESCE(?5, next_attempt_ms), finished_ms = ?6,
                        detail = ?7
                 WHERE store = ?1 AND notification_id = ?2 AND attempts = ?3
                   AND state = 'pending'",
                params![
                    store.as_str(),
                    notification_id,
                    attempt,
                    state.as_str(),
                    next_attempt_ms,
                    finished_ms,
                    detail
                ],
            )
            .map(|n| n as u64),
        )
    }

    fn refund_requests(
        &mut self,
        state: Option<RefundState>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<RefundRequestRow>, LedgerError>> + Send {
        ready(self.query_vec(
            "SELECT store, notification_id, app_id, transaction_key, environment, deadline_ms, state, attempts, next_attempt_ms, created_ms, finished_ms, detail, answer_token FROM payseal_refund_requests
             WHERE ?1 IS NULL OR state = ?1
             ORDER BY created_ms DESC, notification_id LIMIT ?2",
            params![state.map(RefundState::as_str), limit],
            refund_row,
        ))
    }

    fn delivery_report(
        &mut self,
        key: Key<'_>,
    ) -> impl Future<Output = Result<Option<ReportRow>, LedgerError>> + Send {
        ready(
            self.conn
                .prepare_cached(
                    "SELECT account_id, delivered_at_ms, consumed_milliunits, usage_events,
                            updated_ms
                     FROM payseal_delivery_reports
                     WHERE store = ?1 AND app_id = ?2 AND transaction_key = ?3",
                )
                .and_then(|mut s| {
                    s.query_row(
                        params![key.store.as_str(), key.app_id, key.transaction_key],
                        |r| {
                            Ok(ReportRow {
                                account_id: r.get(0)?,
                                delivered_at_ms: r.get(1)?,
                                consumed_milliunits: r.get(2)?,
                                usage_events: r.get(3)?,
                                updated_ms: r.get(4)?,
                            })
                        },
                    )
                    .optional()
                }),
        )
    }

    fn put_delivery_report(
        &mut self,
        key: Key<'_>,
        row: &ReportRow,
    ) -> impl Future<Output = Result<(), LedgerError>> + Send {
        ready(
            self.execute(
                "INSERT OR REPLACE INTO payseal_delivery_reports (store, app_id, transaction_key,
                     account_id, delivered_at_ms, consumed_milliunits, usage_events, updated_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    key.store.as_str(),
                    key.app_id,
                    key.transaction_key,
                    row.account_id,
                    row.delivered_at_ms,
                    row.consumed_milliunits,
                    row.usage_events,
                    row.updated_ms
                ],
            )
            .map(|_| ()),
        )
    }

    fn account_refunds(
        &mut self,
        app_id: &str,
        account_id: &str,
        since_ms: i64,
        until_ms: i64,
    ) -> impl Future<Output = Result<Vec<(String, i64)>, LedgerError>> + Send {
        ready(self.query_vec(
            ACCOUNT_REFUNDS_SQL,
            params![app_id, account_id, since_ms, until_ms],
            |r| Ok((r.get(0)?, r.get(1)?)),
        ))
    }

    fn consent(
        &mut self,
        app_id: &str,
        account_id: &str,
    ) -> impl Future<Output = Result<Option<bool>, LedgerError>> + Send {
        ready(
            self.conn
                .query_row(
                    "SELECT consented FROM payseal_account_consent
                     WHERE app_id = ?1 AND account_id = ?2",
                    params![app_id, account_id],
                    |r| r.get(0),
                )
                .optional(),
        )
    }

    fn put_consent(
        &mut self,
        app_id: &str,
        account_id: &str,
        consented: bool,
        now_ms: i64,
    ) -> impl Future<Output = Result<(), LedgerError>> + Send {
        ready(
            self.execute(
                "INSERT OR REPLACE INTO payseal_account_consent
                     (app_id, account_id, consented, updated_ms)
                 VALUES (?1, ?2, ?3, ?4)",
                params![app_id, account_id, consented, now_ms],
            )
            .map(|_| ()),
        )
    }

    fn set_voided_cursor(
        &mut self,
        package_name: &str,
        start_time_ms: i64,
        now_ms: i64,
    ) -> impl Future<Output = Result<(), LedgerError>> + Send {
        ready(
            self.execute(
                "INSERT INTO payseal_google_voided_cursor (package_name, start_time_ms, updated_ms)
                 VALUES (?1, ?2, ?3)
                 ON CONFLICT (package_name) DO UPDATE
                 SET start_time_ms = MAX(start_time_ms, excluded.start_time_ms),
                     updated_ms = excluded.updated_ms",
                params![package_name, start_time_ms, now_ms],
            )
            .map(|_| ()),
        )
    }
}

impl SqliteTx<'_> {
    /// Insert the pending acknowledgement row of the redemption `r`, due at `r.now_ms`.
    fn insert_ack_now(&self, r: &RedemptionRequest, ack: &NewAck) -> rusqlite::Result<()> {
        self.execute(
            "INSERT INTO payseal_store_acks (id, store, app_id, transaction_key, product_id,
                 purchase_token, action, purchased_ms, created_ms, attempts, next_attempt_ms,
                 state)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 0, ?9, 'pending')",
            params![
                ack.id,
                r.store.as_str(),
                r.app_id,
                r.transaction_key,
                ack.product_id,
                ack.purchase_token,
                ack.action.as_str(),
                ack.purchased_ms,
                r.now_ms
            ],
        )
        .map(|_| ())
    }

    fn insert_delivery_now(&self, d: &NewDelivery) -> rusqlite::Result<()> {
        self.execute(
            "INSERT INTO payseal_outbox (id, app_id, event_type, body, created_ms, age_from_ms,
                                         attempts, next_attempt_ms, state)
             VALUES (?1, ?2, ?3, ?4, ?5, ?5, 0, ?5, 'pending')",
            params![d.id, d.app_id, d.event_type, d.body, d.created_ms],
        )
        .map(|_| ())
    }
}

fn table_exists(conn: &Connection, name: &str) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
        params![name],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n > 0)
}

/// Apply pending migrations in one `BEGIN IMMEDIATE` transaction (safe when another process
/// opens the same file at the same time).
fn prepare_schema(conn: &mut Connection) -> Result<(), LedgerError> {
    let latest = SQLITE.last().map_or(0, |m| m.version);
    in_transaction(conn, |conn| {
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version > latest {
            return Err(LedgerError::Schema(format!(
                "ledger schema version {version} is newer than this verifier's ({latest}): run \
                 the newer verifier"
            )));
        }
        if !table_exists(conn, MIGRATIONS_TABLE)? {
            if version > LAST_UNNUMBERED_VERSION {
                return Err(LedgerError::Schema(format!(
                    "ledger schema version {version} without {MIGRATIONS_TABLE}: not a file this \
                     verifier made"
                )));
            }
            record_unnumbered(conn, version)?;
        }
        run_now(migrate::run(&mut SqliteSchema { conn }, SQLITE, now_ms()))??;
        conn.pragma_update(None, "user_version", latest)?;
        Ok(())
    })
}

/// A file made before numbered SQLite migrations (`user_version` 1 to 4): record the
/// migrations it has (the same SQL: 1 to its version, and 5 when it has the cursor table those
/// verifiers created at every open), so the runner applies only the rest.
fn record_unnumbered(conn: &mut Connection, version: i64) -> Result<(), LedgerError> {
    if version == 0 {
        return Ok(());
    }
    let has_cursors = table_exists(conn, "google_voided_cursor")?;
    let mut schema = SqliteSchema { conn };
    run_now(schema.create_table())??;
    let now = now_ms();
    for m in SQLITE {
        if m.version <= version || (m.version == 5 && has_cursors) {
            schema.record(m, now)?;
        }
    }
    Ok(())
}

/// The schema steps on SQLite, inside the open's transaction ([`migrate::SchemaStore`]).
struct SqliteSchema<'c> {
    conn: &'c mut Connection,
}

impl SqliteSchema<'_> {
    fn record(&self, m: &Migration, now_ms: i64) -> rusqlite::Result<()> {
        self.conn
            .execute(
                &format!(
                    "INSERT INTO {MIGRATIONS_TABLE} (version, name, checksum, applied_at_ms)
                     VALUES (?1, ?2, ?3, ?4)"
                ),
                params![m.version, m.name, m.checksum(), now_ms],
            )
            .map(|_| ())
    }
}

impl SchemaStore for SqliteSchema<'_> {
    fn create_table(&mut self) -> impl Future<Output = Result<(), LedgerError>> + Send {
        ready(self.conn.execute_batch(&format!(
            "CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} (
                 version       INTEGER PRIMARY KEY,
                 name          TEXT    NOT NULL,
                 checksum      TEXT    NOT NULL,
                 applied_at_ms INTEGER NOT NULL
             )"
        )))
    }

    fn applied_rows(
        &mut self,
    ) -> impl Future<Output = Result<Vec<AppliedRow>, LedgerError>> + Send {
        let rows = table_exists(self.conn, MIGRATIONS_TABLE).and_then(|exists| {
            if !exists {
                return Ok(Vec::new());
            }
            self.conn
                .prepare(&format!(
                    "SELECT version, name, checksum FROM {MIGRATIONS_TABLE} ORDER BY version"
                ))?
                .query_map([], |r| {
                    Ok(AppliedRow {
                        version: r.get(0)?,
                        name: r.get(1)?,
                        checksum: r.get(2)?,
                    })
                })?
                .collect()
        });
        ready(rows)
    }

    fn apply(
        &mut self,
        m: &Migration,
        now_ms: i64,
    ) -> impl Future<Output = Result<migrate::Applied, LedgerError>> + Send {
        // The open's `BEGIN IMMEDIATE` makes this the only writer: no race to lose.
        let result = self
            .record(m, now_ms)
            .and_then(|()| self.conn.execute_batch(m.sql))
            .map(|()| migrate::Applied::Now)
            .map_err(|e| LedgerError::Schema(format!("migration {} failed: {e}", m.id())));
        std::future::ready(result)
    }
}

/// An account's revoked redemptions since a time, by store (served by the partial index
/// `payseal_redemptions_account_refunds`).
const ACCOUNT_REFUNDS_SQL: &str = "SELECT store, COUNT(*) FROM payseal_redemptions
     WHERE app_id = ?1 AND account_id = ?2 AND revoked_at_ms >= ?3 AND revoked_at_ms <= ?4
     GROUP BY store";

/// A `payseal_refund_requests` row (the columns in their table order).
fn refund_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RefundRequestRow> {
    let store: String = r.get(0)?;
    let state: String = r.get(6)?;
    Ok(RefundRequestRow {
        store: crate::refunds::store_named(&store).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(
                0,
                Type::Text,
                format!("store {store:?}").into(),
            )
        })?,
        notification_id: r.get(1)?,
        app_id: r.get(2)?,
        transaction_key: r.get(3)?,
        environment: r.get(4)?,
        deadline_ms: r.get(5)?,
        state: RefundState::parse(&state).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(
                6,
                Type::Text,
                format!("state {state:?}").into(),
            )
        })?,
        attempts: r.get(7)?,
        next_attempt_ms: r.get(8)?,
        created_ms: r.get(9)?,
        finished_ms: r.get(10)?,
        detail: r.get(11)?,
        answer_token: r.get(12)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::Redeem;

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
            kind: None,
            environment: None,
        }
    }

    #[test]
    fn the_refund_history_read_uses_its_index() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.db");
        drop(SqliteLedger::open(&path).unwrap());
        let conn = rusqlite::Connection::open(&path).unwrap();
        let plan: Vec<String> = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {ACCOUNT_REFUNDS_SQL}"))
            .unwrap()
            .query_map(params!["a", "alice", i64::MIN, i64::MAX], |r| {
                r.get::<_, String>(3)
            })
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert!(
            plan.iter()
                .any(|p| p.contains("COVERING INDEX payseal_redemptions_account_refunds")),
            "{plan:?}"
        );
    }

    #[test]
    fn first_repeat_other_and_durable_across_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/ledger.db");
        {
            let l = SqliteLedger::open(&path).unwrap();
            let r = |a: &str, k: &str, n: i64| l.redeem_blocking(&req(a, k, n)).unwrap();
            assert_eq!(r("alice", "GPA.1", 10), RedeemOutcome::First);
            // A repeat a resolution later writes (and must survive the reopen).
            let later = 10 + crate::LAST_SEEN_RESOLUTION_MS;
            assert_eq!(r("alice", "GPA.1", later), RedeemOutcome::Repeat);
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
        assert_eq!(
            (row.first_seen_ms, row.last_seen_ms),
            (10, 10 + crate::LAST_SEEN_RESOLUTION_MS)
        );
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
        let mut receivers = Vec::new();
        let mut batch: Vec<Box<dyn Batched>> = Vec::new();
        for r in [
            req("alice", "K", 1),
            req("bob", "K", 2),
            req("alice", "K", 3),
            req("carol", "L", 4),
        ] {
            let (reply, rx) = oneshot::channel();
            receivers.push(rx);
            batch.push(Box::new(Pending {
                op: Redeem {
                    request: r,
                    delivery: None,
                    ack: None,
                },
                result: None,
                reply,
            }));
        }
        commit_batch(&mut conn, &mut batch).unwrap();
        for job in batch {
            job.answer(Ok(()));
        }
        let outcomes: Vec<_> = receivers
            .into_iter()
            .map(|rx| rx.blocking_recv().unwrap().unwrap())
            .collect();
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
            .query_row("SELECT COUNT(*) FROM payseal_redemptions", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 2);
    }

    #[test]
    fn a_newer_schema_version_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.db");
        drop(SqliteLedger::open(&path).unwrap());
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
        drop(conn);
        let err = SqliteLedger::open(&path).unwrap_err().to_string();
        assert!(err.contains("schema version 99"), "{err}");
    }

    #[test]
    fn one_settling_connection_per_core_up_to_eight() {
        assert_eq!(
            [0, 1, 2, 4, 8, 64].map(settling_connections),
            [1, 1, 2, 4, 8, 8]
        );
    }

    #[test]
    fn a_repeat_is_settled_by_a_read_while_another_settling_connection_is_busy() {
        let dir = tempfile::tempdir().unwrap();
        let mut l = SqliteLedger::open(&dir.path().join("l.db")).unwrap();
        assert_eq!(
            l.redeem_blocking(&req("alice", "K", 1)).unwrap(),
            RedeemOutcome::First
        );
        // Two settlers whatever this machine's cores, the first held by another request.
        while l.settlers.len() < 2 {
            let conn = connect(&l.path).unwrap();
            l.settlers.push(Mutex::new(conn));
        }
        l.settlers.truncate(2);
        let busy = l.settlers[0].lock().unwrap();
        let repeat = Redeem {
            request: req("alice", "K", 2),
            delivery: None,
            ack: None,
        };
        for _ in 0..4 {
            // Whichever settler a call starts at, it finds the free one.
            assert_eq!(l.settle(&repeat), Some(RedeemOutcome::Repeat));
        }
        // Both busy: no answer by read (the writer would run it).
        let other = l.settlers[1].lock().unwrap();
        assert_eq!(l.settle(&repeat), None);
        drop((busy, other));
    }

    #[test]
    fn an_operation_that_would_wait_is_an_error_not_a_hang() {
        let err = run_now(std::future::pending::<()>()).unwrap_err();
        assert!(matches!(err, LedgerError::Worker(_)), "{err}");
        assert_eq!(run_now(async { 7 }).unwrap(), 7);
    }
}
