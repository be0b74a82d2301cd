//! PostgreSQL ledger backend: one database shared by any number of verifier instances.
//!
//! **The database decides who is first.** `payseal_redemptions` has the primary key `(store,
//! app_id, transaction_key)`; a redemption is one autocommit statement (`REDEEM_SQL`, so one round
//! trip) whose `INSERT … ON CONFLICT (…) DO NOTHING` decides: one inserted row means
//! [`crate::RedeemOutcome::First`] (committed, so durable under the server's `synchronous_commit`,
//! before the verdict leaves), its outbox row and its store acknowledgement row inserted with it
//! (so a first redemption of an app with the Play Developer API is one round trip too, not
//! `BEGIN`, three statements and `COMMIT`). When the key exists, the same statement moves
//! `last_seen_ms` forward with an `UPDATE … SET last_seen_ms = GREATEST(…)` guarded by owner and
//! not revoked, only when [`crate::repeat_writes`] (a repeat within a minute of the last one
//! writes nothing, so it commits no WAL record), and returns the row (touched, or as read), on which
//! [`crate::classify`] decides (the same function SQLite calls). When the key's row was
//! committed by another instance after the statement's snapshot (the `INSERT` waited for it, the
//! `UPDATE` and the read could not see it), the statement returns nothing and the operation
//! reads the committed row with a primary-key `SELECT` and touches it as a repeat: two more round
//! trips, in that race only. A revocation reads its row `SELECT … FOR UPDATE` in one transaction
//! and [`crate::classify_revocation`] decides whether to mark it and enqueue its notice. No
//! process lock and no advisory lock takes part, so any number of instances (or pools) can race
//! on one receipt: exactly one `INSERT` inserts.
//!
//! **Plain SQL.** `TEXT`/`BIGINT` columns, a composite primary key, `ON CONFLICT DO NOTHING`,
//! `UPDATE … WHERE`, `GREATEST`, `SELECT … FOR UPDATE`, a data-modifying `WITH`: nothing
//! PostgreSQL-only in the hot path (no `xmax` trick to tell an insert from an update), so the
//! same statements run on Postgres-wire distributed databases (CockroachDB, YugabyteDB).
//! Serialization failures (`40001`, which those report under contention) and deadlocks (`40P01`)
//! are retried up to [`MAX_RETRIES`] times; every step is idempotent.
//!
//! **SQL and connections only**: the operations are `ops.rs`'s, run here through [`PgTx`] in
//! the transaction each asks for ([`Access`]): [`Access::Redeem`], [`Access::Single`] and
//! [`Access::Read`] in autocommit on a pooled connection (no `BEGIN`/`COMMIT` round trips), [`Access::Write`] in
//! `BEGIN … COMMIT`. Every operation is retried on `40001`/`40P01` and on a vanished row.
//!
//! **Migrations** are the embedded files of `ledger/migrations/postgres/` ([`MIGRATIONS`]),
//! recorded in `payseal_schema_migrations` (version, name, SHA-256 of the file) by the runner
//! both backends share ([`crate::migrate`]). They are applied at start (`[ledger] auto_migrate`, default on) or by `payseal-verifier migrate`, each
//! in its own transaction that first inserts its version row, so two instances migrating at
//! once cannot both apply one migration (the second waits on the key, fails, re-reads). A
//! session advisory lock (`pg_try_advisory_lock`) is taken around the whole run when the
//! database has one, only to keep concurrent starts quiet; correctness never depends on it. An
//! applied migration whose file changed, or a database migrated by a newer verifier, stops the
//! start with [`LedgerError::Schema`].
//!
//! **Repeats** of a key this instance has redeemed (or seen redeemed) are sent as `REPEAT_SQL`,
//! the same statement without its inserts (one table-modifying plan for PostgreSQL to start
//! instead of four; still one round trip), and as `REDEEM_SQL` when that finds no row. Which
//! keys were seen is a bounded in-memory hint (`RedeemedKeys`), never a decision.
//!
//! **Connections** come from a `deadpool-postgres` pool (`[ledger] max_connections`, default 16 per
//! instance). Autocommit statements (redemptions, reads, single-statement queue steps) share one
//! of its connections per core, at most half the pool (`SharedConnections`), where
//! tokio-postgres pipelines the statements of concurrent requests; each transaction takes a
//! connection of its own. A connection found closed is dropped and a new one is made on demand,
//! so after a PostgreSQL restart or outage the verifier recovers by itself; while the database is unreachable,
//! [`crate::Redemptions::redeem`] and [`crate::Redemptions::ready`] fail fast (or after `query_timeout`), which
//! the server turns into `503` + `Retry-After` and a not-ready `/readyz`.
//!
//! **TLS**: this build connects with `tokio_postgres::NoTls` (loopback, a private network, or a
//! local TLS-terminating proxy); `sslmode=require` is refused rather than silently downgraded.
//! To add TLS, depend on `tokio-postgres-rustls` (rustls is already in the tree), build a
//! `MakeRustlsConnect` from a `rustls::ClientConfig` with the database's CA, and pass it where
//! [`PostgresLedger::new`] and the migration connection pass `NoTls`.

use payseal_protocol::time::now_ms;
use std::error::Error as _;
use std::str::FromStr;
use std::time::{Duration, Instant};

use deadpool_postgres::{Manager, ManagerConfig, Pool, PoolError, RecyclingMethod, Runtime};
use payseal_protocol::{Environment, PurchaseKind, Store};
use tokio_postgres::config::{Host, SslMode};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::NoTls;

use crate::acks::{AckBacklog, Acknowledgement, NewAck};
use crate::columns::{
    ack_columns, ack_row, delivery_row, notification_columns, notification_row, outbox_columns,
    owned_columns, owned_row, redemption_columns, redemption_row, revocation_columns,
    revocation_row,
};
use crate::consumption::ReportRow;
use crate::event::Cause;
use crate::migrate::{self, AppliedRow, Migration, SchemaStatus, SchemaStore, MIGRATIONS_TABLE};
use crate::notifications::{
    Applied, NewNotification, NotificationRow, RevocationRow, StoredNotification,
    SubscriptionAnswer,
};
use crate::outbox::{Delivery, DeliveryState, NewDelivery};
use crate::refunds::{NewRefundRequest, RefundRequestRow, RefundState};
use crate::tx::{Access, AttemptUpdate, Database, Key, Operation, RedeemStep, Tx};
use crate::{
    redact_url, BoxFuture, LedgerError, LedgerOptions, OwnedPurchase, RedemptionRequest,
    RedemptionRow, UNREDEEMED_ACCOUNT,
};

/// Every PostgreSQL migration this build knows, in order ([`crate::migrate::POSTGRES`]).
pub const MIGRATIONS: &[Migration] = migrate::POSTGRES;

/// Key of the session advisory lock held while migrating (ASCII "PaySeal1").
pub const MIGRATION_LOCK_KEY: i64 = 0x5061_7953_6561_6c31;

/// How long a starting instance waits for another one's migration lock.
pub const MIGRATION_LOCK_WAIT: Duration = Duration::from_secs(60);

/// Attempts of one redemption on serialization failures and deadlocks.
pub const MAX_RETRIES: usize = 3;

const CREATE_MIGRATIONS_TABLE: &str = "CREATE TABLE IF NOT EXISTS payseal_schema_migrations (
    version       BIGINT PRIMARY KEY,
    name          TEXT   NOT NULL,
    checksum      TEXT   NOT NULL,
    applied_at_ms BIGINT NOT NULL
)";

/// The end of [`REDEEM_SQL`] and [`REPEAT_SQL`], written once: the `touched` CTE (the repeat's
/// guarded touch, as [`TOUCH_SQL`], only when [`crate::repeat_writes`]), then the row touched,
/// else as read. Arguments: the parameters of now, of the presented period end and of
/// `now − LAST_SEEN_RESOLUTION_MS`, and the guard that skips both after an insert. `$1…$4`:
/// store, app, key, account.
macro_rules! touch_or_read {
    ($now:literal, $expires:literal, $since:literal, $unless_inserted:literal) => {
        concat!(
            "touched AS (
    UPDATE payseal_redemptions SET last_seen_ms = GREATEST(last_seen_ms, ",
            $now,
            "),
        expires_at_ms = GREATEST(expires_at_ms, ",
            $expires,
            ")
    WHERE store = $1 AND app_id = $2 AND transaction_key = $3 AND account_id = $4
      AND revoked_at_ms IS NULL",
            $unless_inserted,
            "
      AND (last_seen_ms <= ",
            $since,
            "::BIGINT
           OR (",
            $expires,
            "::BIGINT IS NOT NULL
               AND (expires_at_ms IS NULL OR expires_at_ms < ",
            $expires,
            ")))
    RETURNING ",
            redemption_columns!(),
            ")
SELECT ",
            redemption_columns!(),
            ", 'touched' FROM touched
UNION ALL
SELECT ",
            redemption_columns!(),
            ", 'read' FROM payseal_redemptions
    WHERE store = $1 AND app_id = $2 AND transaction_key = $3",
            $unless_inserted,
            "
      AND NOT EXISTS (SELECT 1 FROM touched)"
        )
    };
}

/// A redemption in one statement, so one round trip whatever it finds: the row is inserted
/// unless its key exists (the outbox row `$10…$13` and the store acknowledgement row
/// `$17…$21`, when given, only with it); else the repeat's touch ([`TOUCH_SQL`]'s guard and
/// `GREATEST`s, `GREATEST(stored, presented)` being [`crate::chain_expiry`]) when it writes
/// something ([`crate::repeat_writes`]: `$16` is `now − LAST_SEEN_RESOLUTION_MS`; otherwise the
/// statement writes nothing, so the repeat commits no WAL record), and the row, touched or as
/// the statement's snapshot has it. The last
/// column says which: `inserted` (no row values), `touched` or `read`. No row at all: the key's
/// row was committed by another transaction after this statement's snapshot (the `INSERT`
/// waited for it); the operation then reads it with [`FIND_SQL`].
const REDEEM_SQL: &str = concat!(
    "WITH inserted AS (
    INSERT INTO payseal_redemptions
        (store, app_id, transaction_key, account_id, product_id, receipt_sha256,
         first_verdict_id, first_seen_ms, last_seen_ms, expires_at_ms, kind, environment)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9, $14, $15)
    ON CONFLICT (store, app_id, transaction_key) DO NOTHING
    RETURNING 1),
  notified AS (
    INSERT INTO payseal_outbox (id, app_id, event_type, body, created_ms, age_from_ms, attempts,
                                next_attempt_ms, state)
    SELECT $10::TEXT, $2, $11::TEXT, $12::TEXT, $13::BIGINT, $13::BIGINT, 0, $13::BIGINT,
           'pending'
    FROM inserted WHERE $10::TEXT IS NOT NULL),
  acked AS (
    INSERT INTO payseal_store_acks (id, store, app_id, transaction_key, product_id,
                                    purchase_token, action, purchased_ms, created_ms, attempts,
                                    next_attempt_ms, state)
    SELECT $17::TEXT, $1, $2, $3, $18::TEXT, $19::TEXT, $20::TEXT, $21::BIGINT, $8, 0, $8,
           'pending'
    FROM inserted WHERE $17::TEXT IS NOT NULL),
  ",
    touch_or_read!(
        "$8",
        "$9",
        "$16",
        " AND NOT EXISTS (SELECT 1 FROM inserted)"
    ),
    "
UNION ALL
SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 'inserted' FROM inserted"
);

/// [`REDEEM_SQL`] without its insert: the repeat's guarded touch, else the row as read (no row:
/// the key has none). Sent instead of [`REDEEM_SQL`] for a key this instance has seen redeemed
/// ([`RedeemedKeys`]), still one round trip; PostgreSQL starts one table-modifying plan for it
/// instead of four, a quarter to a third less of its CPU per repeat (BENCHMARKS.md, issue 27).
/// `$1…$4` store, app, key, account; `$5` now; `$6` the presented period end; `$7` is
/// `now − LAST_SEEN_RESOLUTION_MS`.
const REPEAT_SQL: &str = concat!("WITH ", touch_or_read!("$5", "$6", "$7", ""));

/// The column of [`REDEEM_SQL`] that says what it did (after the redemption columns).
const REDEEM_STEP_COLUMN: usize = 11;

/// `$6` is [`crate::chain_expiry`] of the row read and the request; `GREATEST` (which ignores
/// NULL) keeps a newer end that a concurrent renewal wrote meanwhile.
const TOUCH_SQL: &str = "UPDATE payseal_redemptions SET last_seen_ms = GREATEST(last_seen_ms, $5),
        expires_at_ms = GREATEST(expires_at_ms, $6)
    WHERE store = $1 AND app_id = $2 AND transaction_key = $3 AND account_id = $4
      AND revoked_at_ms IS NULL";

const FIND_SQL: &str = concat!(
    "SELECT ",
    redemption_columns!(),
    " FROM payseal_redemptions WHERE store = $1 AND app_id = $2 AND transaction_key = $3"
);

/// [`FIND_SQL`] locking the row until the transaction ends (revocations).
const FIND_FOR_UPDATE_SQL: &str = concat!(
    "SELECT ",
    redemption_columns!(),
    " FROM payseal_redemptions WHERE store = $1 AND app_id = $2 AND transaction_key = $3",
    " FOR UPDATE"
);

/// A transfer: the owner seen, not revoked, becomes the new account.
const MOVE_SQL: &str = "UPDATE payseal_redemptions SET account_id = $5, last_seen_ms = $6
    WHERE store = $1 AND app_id = $2 AND transaction_key = $3 AND account_id = $4
      AND revoked_at_ms IS NULL";

const REVOKE_SQL: &str = "UPDATE payseal_redemptions SET revoked_at_ms = $4, revoke_reason = $5
    WHERE store = $1 AND app_id = $2 AND transaction_key = $3 AND revoked_at_ms IS NULL";

/// [`crate::decide_subscription_update`] decided on the row read under its lock.
const SET_SUBSCRIPTION_SQL: &str = "UPDATE payseal_redemptions SET subscription_state = $4,
        expires_at_ms = COALESCE($5, expires_at_ms), state_checked_ms = $6, will_renew = $7
    WHERE store = $1 AND app_id = $2 AND transaction_key = $3";

const ENQUEUE_SQL: &str = "INSERT INTO payseal_outbox
    (id, app_id, event_type, body, created_ms, age_from_ms, attempts, next_attempt_ms, state)
    VALUES ($1, $2, $3, $4, $5, $5, 0, $5, 'pending')";

const INSERT_NOTIFICATION_SQL: &str = concat!(
    "INSERT INTO payseal_store_notifications (",
    notification_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'pending')
      ON CONFLICT (store, notification_id) DO NOTHING"
);

const STORED_NOTIFICATION_SQL: &str = "SELECT result, app_id, transaction_key
    FROM payseal_store_notifications WHERE store = $1 AND notification_id = $2";

/// A refusal row: revoked, owned by nobody ([`UNREDEEMED_ACCOUNT`]).
const INSERT_REFUSAL_SQL: &str = "INSERT INTO payseal_redemptions
    (store, app_id, transaction_key, account_id, product_id, receipt_sha256, first_verdict_id,
     first_seen_ms, last_seen_ms, revoked_at_ms, revoke_reason)
    VALUES ($1, $2, $3, $4, $5, '', '', $6, $6, $6, $7)
    ON CONFLICT (store, app_id, transaction_key) DO NOTHING";

const READY_SQL: &str = "SELECT 1 FROM payseal_redemptions LIMIT 0";

/// The PostgreSQL ledger.
pub struct PostgresLedger {
    pool: Pool,
    pg_config: tokio_postgres::Config,
    target: String,
    query_timeout: Duration,
    redeemed: RedeemedKeys,
    shared: SharedConnections,
}

/// How many pooled connections the autocommit statements share ([`SharedConnections`]): one per
/// core this process may use (a backend per core keeps up with the verifier's requests), at
/// most half the pool (the rest serve transactions); none in a pool of one.
fn shared_connections(max_connections: usize, cores: usize) -> usize {
    cores.max(1).min(max_connections / 2)
}

/// The pooled connections that every autocommit operation ([`Access::Read`], [`Access::Redeem`],
/// [`Access::Single`]) shares, taken round-robin, instead of one connection each: tokio-postgres
/// pipelines the statements of concurrent requests on one connection (written together,
/// answered in order), so a PostgreSQL backend reads several per wake-up instead of sleeping
/// between each; BENCHMARKS.md (issue 27) has the measurement. Each statement is still its own
/// transaction, as on a connection of its own. Transactions ([`Access::Write`]) take a pooled
/// connection each. A closed connection is replaced at its next use (after an outage, by a new
/// one from the pool). The price: a statement waiting on a row lock delays the ones sent after
/// it on the same connection (the hot path's only wait is two instances inserting one key).
struct SharedConnections {
    slots: Vec<tokio::sync::Mutex<Option<std::sync::Arc<deadpool_postgres::Object>>>>,
    next: std::sync::atomic::AtomicUsize,
}

impl SharedConnections {
    fn new(max_connections: usize) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let n = shared_connections(max_connections, cores);
        Self {
            slots: (0..n).map(|_| tokio::sync::Mutex::new(None)).collect(),
            next: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// The next shared connection, connected now if it is closed or not made yet; `None` when
    /// the pool is too small to share one.
    async fn get(
        &self,
        pool: &Pool,
    ) -> Result<Option<std::sync::Arc<deadpool_postgres::Object>>, PoolError> {
        if self.slots.is_empty() {
            return Ok(None);
        }
        let i = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % self.slots.len();
        let mut slot = self.slots[i].lock().await;
        if let Some(client) = slot.as_ref().filter(|c| !c.is_closed()) {
            return Ok(Some(std::sync::Arc::clone(client)));
        }
        *slot = None;
        let client = std::sync::Arc::new(pool.get().await?);
        *slot = Some(std::sync::Arc::clone(&client));
        Ok(Some(client))
    }
}

/// The keys this instance has redeemed or seen redeemed: a hint of which statement to send,
/// never a decision. A key found here is sent as [`REPEAT_SQL`] (cheaper for PostgreSQL than
/// [`REDEEM_SQL`], same answer for an existing row), and as [`REDEEM_SQL`] when that finds no
/// row; a key missing here (first redemption, or another instance redeemed it) is sent as
/// [`REDEEM_SQL`]. So the hint may be wrong (a hash collision, a row deleted by hand, a database
/// swapped) at the cost of one round trip. Keyed hashes of `(store, app, transaction key)`,
/// the [`REDEEMED_KEYS_MAX`] most recently used (`hashlink`'s LRU, as the App Store chain cache
/// in `payseal-rules`): about 10 MB at most.
struct RedeemedKeys {
    hasher: std::hash::RandomState,
    keys: std::sync::Mutex<hashlink::LruCache<u64, ()>>,
}

/// The most keys [`RedeemedKeys`] holds.
const REDEEMED_KEYS_MAX: usize = 200_000;

impl Default for RedeemedKeys {
    fn default() -> Self {
        Self {
            hasher: std::hash::RandomState::new(),
            keys: std::sync::Mutex::new(hashlink::LruCache::new(REDEEMED_KEYS_MAX)),
        }
    }
}

impl RedeemedKeys {
    fn hash(&self, key: Key<'_>) -> u64 {
        use std::hash::BuildHasher as _;
        self.hasher
            .hash_one((key.store.as_str(), key.app_id, key.transaction_key))
    }

    /// Whether `hash` was seen (and marks it most recently used).
    fn contains(&self, hash: u64) -> bool {
        self.keys
            .lock()
            .is_ok_and(|mut keys| keys.get(&hash).is_some())
    }

    fn insert(&self, hash: u64) {
        if let Ok(mut keys) = self.keys.lock() {
            keys.insert(hash, ());
        }
    }
}

impl std::fmt::Debug for PostgresLedger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresLedger")
            .field("target", &self.target)
            .field("max_connections", &self.pool.status().max_size)
            .finish_non_exhaustive()
    }
}

/// An operation's failure before it is reduced to a [`LedgerError`] (keeps the SQLSTATE for
/// the retry decision): the [`Tx::Error`] of [`PgTx`].
#[derive(Debug)]
pub enum OpError {
    /// No pooled connection.
    Pool(PoolError),
    /// The server or the connection failed.
    Db(tokio_postgres::Error),
    /// The operation failed (a [`LedgerError::RowVanished`] is tried again).
    Ledger(LedgerError),
}

impl From<LedgerError> for OpError {
    fn from(e: LedgerError) -> Self {
        OpError::Ledger(e)
    }
}

impl From<tokio_postgres::Error> for OpError {
    fn from(e: tokio_postgres::Error) -> Self {
        OpError::Db(e)
    }
}

impl From<PoolError> for OpError {
    fn from(e: PoolError) -> Self {
        OpError::Pool(e)
    }
}

impl OpError {
    fn retryable(&self) -> bool {
        match self {
            OpError::Ledger(LedgerError::RowVanished) => true,
            OpError::Db(e) => matches!(
                e.code(),
                Some(c) if *c == SqlState::T_R_SERIALIZATION_FAILURE
                    || *c == SqlState::T_R_DEADLOCK_DETECTED
            ),
            _ => false,
        }
    }

    fn into_ledger(self) -> LedgerError {
        match self {
            OpError::Pool(e) => LedgerError::Postgres(describe_pool(&e)),
            OpError::Db(e) => LedgerError::Postgres(describe(&e)),
            OpError::Ledger(LedgerError::RowVanished) => LedgerError::Postgres(
                "redemption row vanished between insert and read, again and again".into(),
            ),
            OpError::Ledger(e) => e,
        }
    }
}

/// A PostgreSQL error as text: SQLSTATE, severity and message for server errors (never the
/// `DETAIL`, which may quote row values), the cause chain for connection errors.
fn describe(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return format!("{} {}: {}", db.code().code(), db.severity(), db.message());
    }
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

fn describe_pool(e: &PoolError) -> String {
    match e {
        PoolError::Backend(e) => describe(e),
        PoolError::Timeout(kind) => format!("no database connection in time ({kind:?})"),
        other => other.to_string(),
    }
}

fn pg(e: tokio_postgres::Error) -> LedgerError {
    LedgerError::Postgres(describe(&e))
}

/// Parse and check a `postgres://` URL into the driver's configuration (no I/O).
fn pg_config(url: &str, options: &LedgerOptions) -> Result<tokio_postgres::Config, LedgerError> {
    let shown = redact_url(url);
    let scrub = |text: String| -> String {
        match tokio_postgres::Config::from_str(url.trim())
            .ok()
            .and_then(|c| {
                c.get_password()
                    .map(|p| String::from_utf8_lossy(p).into_owned())
            }) {
            Some(pw) if !pw.is_empty() => text.replace(&pw, "***"),
            _ => text,
        }
    };
    let mut config = tokio_postgres::Config::from_str(url.trim()).map_err(|e| {
        let mut text = e.to_string();
        if let Some(source) = e.source() {
            text = format!("{text}: {source}");
        }
        LedgerError::Config(scrub(format!("{shown}: {text}")))
    })?;
    if config.get_hosts().is_empty() {
        return Err(LedgerError::Config(format!(
            "{shown}: no host (postgres://USER@HOST:PORT/DATABASE)"
        )));
    }
    if config.get_user().is_none() {
        return Err(LedgerError::Config(format!(
            "{shown}: no user (postgres://USER@HOST:PORT/DATABASE)"
        )));
    }
    if matches!(config.get_ssl_mode(), SslMode::Require) {
        return Err(LedgerError::Config(format!(
            "{shown}: sslmode=require, but this verifier connects to PostgreSQL without TLS \
             (use a loopback or private-network address with sslmode=disable, or a local \
             TLS-terminating proxy)"
        )));
    }
    if let Some(password) = &options.password {
        config.password(password.expose());
    }
    config.connect_timeout(options.connect_timeout);
    // Dead peers (a partition, a crashed host) are noticed by TCP, not only by a timeout:
    // unacknowledged data closes the connection after the query timeout, idle connections are
    // probed. A closed connection is then replaced by the pool.
    config.tcp_user_timeout(options.query_timeout);
    config.keepalives(true);
    config.keepalives_idle(Duration::from_secs(30));
    config.keepalives_interval(Duration::from_secs(10));
    config.keepalives_retries(3);
    if config.get_application_name().is_none() {
        config.application_name("payseal-verifier");
    }
    Ok(config)
}

fn is_loopback(host: &Host) -> bool {
    match host {
        Host::Tcp(name) => {
            name == "localhost"
                || name
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
        #[cfg(unix)]
        Host::Unix(_) => true,
    }
}

impl PostgresLedger {
    /// Build the pool for `url` without connecting or touching the schema (connections are
    /// made on first use). `options.password`, when set, replaces a password in the URL.
    pub fn new(url: &str, options: &LedgerOptions) -> Result<Self, LedgerError> {
        let config = pg_config(url, options)?;
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(options.max_connections.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(options.query_timeout))
            .create_timeout(Some(options.connect_timeout))
            .recycle_timeout(Some(options.connect_timeout))
            .build()
            .map_err(|e| LedgerError::Config(e.to_string()))?;
        Ok(Self {
            pool,
            pg_config: config,
            target: redact_url(url),
            query_timeout: options.query_timeout,
            redeemed: RedeemedKeys::default(),
            shared: SharedConnections::new(options.max_connections.max(1)),
        })
    }

    /// Check a URL and options as [`PostgresLedger::new`] would, without building anything.
    pub fn check_url(url: &str, options: &LedgerOptions) -> Result<(), LedgerError> {
        pg_config(url, options).map(|_| ())
    }

    /// Build the pool, then apply pending migrations (`options.auto_migrate`) or check that
    /// none is pending. Fails if the database cannot be reached.
    pub async fn connect(url: &str, options: &LedgerOptions) -> Result<Self, LedgerError> {
        let ledger = Self::new(url, options)?;
        if let Some(host) = ledger
            .pg_config
            .get_hosts()
            .iter()
            .find(|h| !is_loopback(h))
        {
            tracing::warn!(
                ?host,
                "the PostgreSQL ledger connection is not encrypted (no TLS in this build): keep \
                 the database on a private network or behind a local TLS proxy"
            );
        }
        if options.auto_migrate {
            let applied = ledger.migrate().await?;
            if !applied.is_empty() {
                tracing::info!(?applied, "ledger migrations applied");
            }
        } else {
            let status = ledger.schema_status().await?;
            if !status.pending.is_empty() {
                let ids: Vec<String> = status.pending.iter().map(Migration::id).collect();
                return Err(LedgerError::Schema(format!(
                    "{} migration(s) pending ({}) and ledger.auto_migrate = false: run \
                     `payseal-verifier migrate --config FILE` first",
                    ids.len(),
                    ids.join(", ")
                )));
            }
        }
        ledger.warn_if_not_durable().await;
        tracing::info!(target = %ledger.target, "PostgreSQL ledger ready");
        Ok(ledger)
    }

    /// The URL with any password redacted.
    pub fn target(&self) -> &str {
        &self.target
    }

    async fn within<T>(
        &self,
        operation: impl std::future::Future<Output = Result<T, LedgerError>>,
    ) -> Result<T, LedgerError> {
        tokio::time::timeout(self.query_timeout, operation)
            .await
            .map_err(|_| LedgerError::Timeout(self.query_timeout))?
    }

    async fn dedicated(&self) -> Result<tokio_postgres::Client, LedgerError> {
        let (client, connection) = self.pg_config.connect(NoTls).await.map_err(pg)?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(client)
    }

    /// Where the schema stands (no changes made).
    pub async fn schema_status(&self) -> Result<SchemaStatus, LedgerError> {
        let mut client = self.dedicated().await?;
        migrate::status(&mut PgSchema(&mut client), MIGRATIONS).await
    }

    /// Apply the pending migrations; returns the versions applied by this call (empty when the
    /// schema was current). Safe to run from several instances at once.
    pub async fn migrate(&self) -> Result<Vec<i64>, LedgerError> {
        let mut client = self.dedicated().await?;
        let locked = acquire_migration_lock(&client).await?;
        let result = migrate::run(&mut PgSchema(&mut client), MIGRATIONS, now_ms()).await;
        if locked {
            // Closing the connection would release it too.
            let _ = client
                .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK_KEY])
                .await;
        }
        result
    }
    async fn warn_if_not_durable(&self) {
        let Ok(client) = self.pool.get().await else {
            return;
        };
        if let Ok(rows) = client.simple_query("SHOW synchronous_commit").await {
            for message in rows {
                if let tokio_postgres::SimpleQueryMessage::Row(row) = message {
                    if row.get(0) == Some("off") {
                        tracing::warn!(
                            "PostgreSQL synchronous_commit is off: a redemption may be lost in a \
                             database crash after its verdict was sent; set it on"
                        );
                    }
                }
            }
        }
    }
}

/// Take the migration advisory lock, waiting up to [`MIGRATION_LOCK_WAIT`]. `Ok(false)` when
/// the database has no advisory locks (migrations stay correct without it).
async fn acquire_migration_lock(client: &tokio_postgres::Client) -> Result<bool, LedgerError> {
    let deadline = Instant::now() + MIGRATION_LOCK_WAIT;
    loop {
        match client
            .query_one("SELECT pg_try_advisory_lock($1)", &[&MIGRATION_LOCK_KEY])
            .await
        {
            Ok(row) => {
                if row.try_get::<_, bool>(0).map_err(pg)? {
                    return Ok(true);
                }
                if Instant::now() >= deadline {
                    return Err(LedgerError::Schema(format!(
                        "another instance held the migration lock for {} s",
                        MIGRATION_LOCK_WAIT.as_secs()
                    )));
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e)
                if e.code() == Some(&SqlState::UNDEFINED_FUNCTION)
                    || e.code() == Some(&SqlState::FEATURE_NOT_SUPPORTED) =>
            {
                tracing::info!("no advisory locks in this database: migrating without one");
                return Ok(false);
            }
            Err(e) => return Err(pg(e)),
        }
    }
}

const SET_NOTIFICATION_RESULT_SQL: &str = "UPDATE payseal_store_notifications
    SET result = $3, app_id = $4, transaction_key = $5
    WHERE store = $1 AND notification_id = $2";

const NOTIFICATIONS_SQL: &str = concat!(
    "SELECT ",
    notification_columns!(),
    " FROM payseal_store_notifications WHERE $1::TEXT IS NULL OR store = $1
      ORDER BY received_ms DESC, notification_id LIMIT $2"
);

const CLEAR_REVOCATION_SQL: &str = "UPDATE payseal_redemptions
    SET revoked_at_ms = NULL, revoke_reason = NULL
    WHERE store = $1 AND app_id = $2 AND transaction_key = $3";

const DELETE_REFUSAL_SQL: &str = "DELETE FROM payseal_redemptions
    WHERE store = $1 AND app_id = $2 AND transaction_key = $3 AND account_id = $4";

/// A [`Cause`] from a row of [`CAUSES_SQL`].
fn cause_row(row: &tokio_postgres::Row) -> Result<Cause, OpError> {
    let revoker: String = row.try_get(0)?;
    Ok(Cause::from_stored(&revoker, row.try_get(1)?)?)
}

const CAUSES_SQL: &str = "SELECT revoker, cause_transaction FROM payseal_revocation_causes
    WHERE store = $1 AND app_id = $2 AND transaction_key = $3";

const INSERT_CAUSE_SQL: &str = "INSERT INTO payseal_revocation_causes (store, app_id,
        transaction_key, revoker, cause_transaction, event_id, revoked_ms)
    VALUES ($1, $2, $3, $4, $5, $6, $7)
    ON CONFLICT DO NOTHING";

const DELETE_CAUSE_SQL: &str = "DELETE FROM payseal_revocation_causes
    WHERE store = $1 AND app_id = $2 AND transaction_key = $3 AND revoker = $4
      AND cause_transaction = $5";

const COUNT_REDEMPTIONS_SQL: &str = "SELECT COUNT(*) FROM payseal_redemptions";

/// Every row an account owns in an app (index `payseal_redemptions_account`).
const OWNED_SQL: &str = concat!(
    "SELECT ",
    owned_columns!(),
    " FROM payseal_redemptions WHERE app_id = $1 AND account_id = $2
      ORDER BY first_seen_ms, store, transaction_key"
);

const REVOCATIONS_SQL: &str = concat!(
    "SELECT ",
    revocation_columns!(),
    " FROM payseal_redemptions WHERE revoked_at_ms IS NOT NULL
      ORDER BY revoked_at_ms DESC, transaction_key LIMIT $1"
);

/// SKIP LOCKED: concurrent workers (other instances) take other rows instead of waiting; the
/// lease (`next_attempt_ms`) keeps a taken row from being taken again until this worker
/// reports or dies.
const CLAIM_SQL: &str = concat!(
    "UPDATE payseal_outbox o SET next_attempt_ms = $2, attempts = o.attempts + 1
     FROM (SELECT id AS due_id FROM payseal_outbox
           WHERE state = 'pending' AND next_attempt_ms <= $1
           ORDER BY next_attempt_ms LIMIT $3
           FOR UPDATE SKIP LOCKED) due
     WHERE o.id = due.due_id
     RETURNING ",
    outbox_columns!()
);

/// Fenced by `attempts`: a result that comes back after its lease ran out and the row was
/// claimed again is not recorded over the newer claim.
const FINISH_SQL: &str = "UPDATE payseal_outbox SET state = $3,
        next_attempt_ms = COALESCE($4, next_attempt_ms), finished_ms = $5, last_error = $6
    WHERE id = $1 AND state = 'pending' AND attempts = $2";

const DELIVERIES_SQL: &str = concat!(
    "SELECT ",
    outbox_columns!(),
    " FROM payseal_outbox WHERE $1::TEXT IS NULL OR state = $1
      ORDER BY created_ms DESC, id LIMIT $2"
);

const RETRY_SQL: &str = "UPDATE payseal_outbox SET state = 'pending', next_attempt_ms = $2,
        age_from_ms = $2, finished_ms = NULL
    WHERE state = 'failed' AND ($1::TEXT IS NULL OR id = $1)";

const COUNT_PENDING_SQL: &str = "SELECT COUNT(*) FROM payseal_outbox WHERE state = 'pending'";

const CLAIM_ACKS_SQL: &str = concat!(
    "UPDATE payseal_store_acks a SET next_attempt_ms = $2, attempts = a.attempts + 1
     FROM (SELECT id AS due_id FROM payseal_store_acks
           WHERE state = 'pending' AND next_attempt_ms <= $1
           ORDER BY next_attempt_ms LIMIT $3
           FOR UPDATE SKIP LOCKED) due
     WHERE a.id = due.due_id
     RETURNING ",
    ack_columns!()
);

/// Fenced by `attempts`, like [`FINISH_SQL`].
const FINISH_ACK_SQL: &str = "UPDATE payseal_store_acks SET state = $3,
        next_attempt_ms = COALESCE($4, next_attempt_ms), finished_ms = $5, last_error = $6
    WHERE id = $1 AND state = 'pending' AND attempts = $2";

const ACKS_SQL: &str = concat!(
    "SELECT ",
    ack_columns!(),
    " FROM payseal_store_acks WHERE $1::TEXT IS NULL OR state = $1
      ORDER BY created_ms DESC, id LIMIT $2"
);

const ACK_BACKLOG_SQL: &str = "SELECT COUNT(*), MIN(purchased_ms) FROM payseal_store_acks
    WHERE state = 'pending'";

const CURSOR_SQL: &str = "SELECT start_time_ms FROM payseal_google_voided_cursor
    WHERE package_name = $1";

const SET_CURSOR_SQL: &str = "INSERT INTO payseal_google_voided_cursor
        (package_name, start_time_ms, updated_ms)
    VALUES ($1, $2, $3)
    ON CONFLICT (package_name) DO UPDATE
    SET start_time_ms = GREATEST(payseal_google_voided_cursor.start_time_ms,
                                 EXCLUDED.start_time_ms),
        updated_ms = EXCLUDED.updated_ms";

const INSERT_REFUND_SQL: &str = "INSERT INTO payseal_refund_requests (store, notification_id,
        app_id, transaction_key, environment, deadline_ms, state, attempts, next_attempt_ms,
        created_ms, answer_token)
    VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, $7, $7, $8)
    ON CONFLICT (store, notification_id) DO NOTHING";

const CLAIM_REFUNDS_SQL: &str = "UPDATE payseal_refund_requests r
    SET next_attempt_ms = $2, attempts = r.attempts + 1
    FROM (SELECT store AS due_store, notification_id AS due_id FROM payseal_refund_requests
          WHERE state = 'pending' AND next_attempt_ms <= $1
          ORDER BY deadline_ms LIMIT $3
          FOR UPDATE SKIP LOCKED) due
    WHERE r.store = due.due_store AND r.notification_id = due.due_id
    RETURNING r.store, r.notification_id, r.app_id, r.transaction_key, r.environment,
        r.deadline_ms, r.state, r.attempts, r.next_attempt_ms, r.created_ms, r.finished_ms,
        r.detail, r.answer_token";

const FINISH_REFUND_SQL: &str = "UPDATE payseal_refund_requests SET state = $4,
        next_attempt_ms = COALESCE($5, next_attempt_ms), finished_ms = $6, detail = $7
    WHERE store = $1 AND notification_id = $2 AND attempts = $3 AND state = 'pending'";

const LIST_REFUNDS_SQL: &str = "SELECT store, notification_id, app_id, transaction_key,
        environment, deadline_ms, state, attempts, next_attempt_ms, created_ms, finished_ms,
        detail, answer_token
    FROM payseal_refund_requests
    WHERE $1::TEXT IS NULL OR state = $1
    ORDER BY created_ms DESC, notification_id LIMIT $2";

/// A `payseal_refund_requests` row (its columns in table order).
fn pg_refund_row(r: &tokio_postgres::Row) -> Result<RefundRequestRow, OpError> {
    let store: String = r.try_get(0)?;
    let state: String = r.try_get(6)?;
    Ok(RefundRequestRow {
        store: crate::refunds::store_named(&store)
            .ok_or_else(|| LedgerError::Schema(format!("unknown store {store:?}")))?,
        notification_id: r.try_get(1)?,
        app_id: r.try_get(2)?,
        transaction_key: r.try_get(3)?,
        environment: r.try_get(4)?,
        deadline_ms: r.try_get(5)?,
        state: RefundState::parse(&state)
            .ok_or_else(|| LedgerError::Schema(format!("unknown refund state {state:?}")))?,
        attempts: r.try_get(7)?,
        next_attempt_ms: r.try_get(8)?,
        created_ms: r.try_get(9)?,
        finished_ms: r.try_get(10)?,
        detail: r.try_get(11)?,
        answer_token: r.try_get(12)?,
    })
}

const REPORT_SQL: &str = "SELECT account_id, delivered_at_ms, consumed_milliunits,
        usage_events, updated_ms
    FROM payseal_delivery_reports
    WHERE store = $1 AND app_id = $2 AND transaction_key = $3";

const PUT_REPORT_SQL: &str = "INSERT INTO payseal_delivery_reports (store, app_id,
        transaction_key, account_id, delivered_at_ms, consumed_milliunits, usage_events,
        updated_ms)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
    ON CONFLICT (store, app_id, transaction_key) DO UPDATE
    SET account_id = EXCLUDED.account_id, delivered_at_ms = EXCLUDED.delivered_at_ms,
        consumed_milliunits = EXCLUDED.consumed_milliunits,
        usage_events = EXCLUDED.usage_events, updated_ms = EXCLUDED.updated_ms";

const ACCOUNT_REFUNDS_SQL: &str = "SELECT store, COUNT(*) FROM payseal_redemptions
    WHERE app_id = $1 AND account_id = $2 AND revoked_at_ms >= $3 AND revoked_at_ms <= $4
    GROUP BY store";

const ENSURE_ENTITLEMENT_SET_SQL: &str = "INSERT INTO payseal_entitlement_sets
    (app_id, account_id, names, changed_ms) VALUES ($1, $2, NULL, 0)
    ON CONFLICT (app_id, account_id) DO NOTHING";

const LOCK_ENTITLEMENT_SET_SQL: &str = "SELECT names FROM payseal_entitlement_sets
    WHERE app_id = $1 AND account_id = $2 FOR UPDATE";

const PEEK_ENTITLEMENT_SET_SQL: &str = "SELECT names FROM payseal_entitlement_sets
    WHERE app_id = $1 AND account_id = $2";

const PUT_ENTITLEMENT_SET_SQL: &str = "UPDATE payseal_entitlement_sets
    SET names = $3, changed_ms = $4 WHERE app_id = $1 AND account_id = $2";

const CONSENT_SQL: &str = "SELECT consented FROM payseal_account_consent
    WHERE app_id = $1 AND account_id = $2";

const PUT_CONSENT_SQL: &str = "INSERT INTO payseal_account_consent
        (app_id, account_id, consented, updated_ms)
    VALUES ($1, $2, $3, $4)
    ON CONFLICT (app_id, account_id) DO UPDATE
    SET consented = EXCLUDED.consented, updated_ms = EXCLUDED.updated_ms";

impl Database for PostgresLedger {
    fn execute<O: Operation>(&self, op: O) -> BoxFuture<'_, Result<O::Output, LedgerError>> {
        Box::pin(self.within(async move {
            let mut attempt = 1;
            loop {
                match self.run_once(&op).await {
                    Ok(output) => return Ok(output),
                    Err(e) if e.retryable() && attempt < MAX_RETRIES => {
                        tokio::time::sleep(Duration::from_millis(5 * attempt as u64)).await;
                        attempt += 1;
                    }
                    Err(e) => return Err(e.into_ledger()),
                }
            }
        }))
    }
}

impl PostgresLedger {
    /// One try of `op` on a pooled connection, in the transaction its [`Access`] asks for.
    async fn run_once<O: Operation>(&self, op: &O) -> Result<O::Output, OpError> {
        match O::ACCESS {
            // Each statement atomic by itself: no BEGIN/COMMIT round trips, and on a shared
            // connection, pipelined with other requests' statements.
            Access::Read | Access::Redeem | Access::Single => {
                let client = match self.shared.get(&self.pool).await? {
                    Some(shared) => shared,
                    None => std::sync::Arc::new(self.pool.get().await?),
                };
                op.run(&mut PgTx {
                    conn: Conn::Auto(&client),
                    redeemed: &self.redeemed,
                })
                .await
            }
            Access::Write => {
                let mut client = self.pool.get().await?;
                let tx = client.transaction().await?;
                let output = op
                    .run(&mut PgTx {
                        conn: Conn::Tx(&tx),
                        redeemed: &self.redeemed,
                    })
                    .await?;
                tx.commit().await?;
                Ok(output)
            }
        }
    }
}

/// Where a [`PgTx`] sends its statements.
enum Conn<'a> {
    /// A pooled connection in autocommit.
    Auto(&'a deadpool_postgres::Client),
    /// An open transaction.
    Tx(&'a deadpool_postgres::Transaction<'a>),
}

/// One PostgreSQL transaction (or autocommit connection), row by row (see [`Tx`]). Every
/// statement is prepared once per connection (`prepare_cached`), so each costs one round trip.
pub struct PgTx<'a> {
    conn: Conn<'a>,
    redeemed: &'a RedeemedKeys,
}

type Params<'p> = &'p [&'p (dyn ToSql + Sync)];

/// `$e` on whichever connection `$tx` holds (`$c`: the client or the transaction).
macro_rules! on_conn {
    ($tx:expr, $c:ident => $e:expr) => {
        match &$tx.conn {
            Conn::Auto($c) => $e,
            Conn::Tx($c) => $e,
        }
    };
}

impl PgTx<'_> {
    async fn statement(&self, sql: &str) -> Result<tokio_postgres::Statement, OpError> {
        Ok(on_conn!(self, c => c.prepare_cached(sql).await?))
    }

    async fn execute(&self, sql: &str, params: Params<'_>) -> Result<u64, OpError> {
        let st = self.statement(sql).await?;
        Ok(on_conn!(self, c => c.execute(&st, params).await?))
    }

    async fn query(
        &self,
        sql: &str,
        params: Params<'_>,
    ) -> Result<Vec<tokio_postgres::Row>, OpError> {
        let st = self.statement(sql).await?;
        Ok(on_conn!(self, c => c.query(&st, params).await?))
    }

    /// The rows of `sql`, each made into a `T` by `convert`.
    async fn rows<T, E>(
        &self,
        sql: &str,
        params: Params<'_>,
        convert: fn(&tokio_postgres::Row) -> Result<T, E>,
    ) -> Result<Vec<T>, OpError>
    where
        OpError: From<E>,
    {
        let rows = self.query(sql, params).await?;
        Ok(rows.iter().map(convert).collect::<Result<_, _>>()?)
    }

    async fn query_opt(
        &self,
        sql: &str,
        params: Params<'_>,
    ) -> Result<Option<tokio_postgres::Row>, OpError> {
        let st = self.statement(sql).await?;
        Ok(on_conn!(self, c => c.query_opt(&st, params).await?))
    }

    async fn count(&self, sql: &str) -> Result<u64, OpError> {
        let rows = self.query(sql, &[]).await?;
        let n: i64 = match rows.first() {
            Some(row) => row.try_get(0)?,
            None => 0,
        };
        Ok(u64::try_from(n).unwrap_or(0))
    }
}

impl Tx for PgTx<'_> {
    type Error = OpError;

    async fn ping(&mut self) -> Result<(), OpError> {
        self.query(READY_SQL, &[]).await.map(|_| ())
    }

    async fn redemption(
        &mut self,
        key: Key<'_>,
        lock: bool,
    ) -> Result<Option<RedemptionRow>, OpError> {
        // FOR UPDATE: the row stays locked until commit; a concurrent revocation waits, then
        // reads it revoked.
        let sql = if lock { FIND_FOR_UPDATE_SQL } else { FIND_SQL };
        let row = self
            .query_opt(
                sql,
                &[&key.store.as_str(), &key.app_id, &key.transaction_key],
            )
            .await?;
        Ok(row.map(|row| redemption_row(&row)).transpose()?)
    }

    async fn redeem_row(
        &mut self,
        r: &RedemptionRequest,
        delivery: Option<&NewDelivery>,
        ack: Option<&NewAck>,
    ) -> Result<RedeemStep, OpError> {
        let hash = self.redeemed.hash(r.key());
        if self.redeemed.contains(hash) {
            let row = self
                .query_opt(
                    REPEAT_SQL,
                    &[
                        &r.store.as_str(),
                        &r.app_id,
                        &r.transaction_key,
                        &r.account_id,
                        &r.now_ms,
                        &r.expires_at_ms,
                        &r.now_ms.saturating_sub(crate::LAST_SEEN_RESOLUTION_MS),
                    ],
                )
                .await?;
            if let Some(row) = row {
                return Ok(RedeemStep::Read(redemption_row(&row)?));
            }
        }
        let row = self
            .query_opt(
                REDEEM_SQL,
                &[
                    &r.store.as_str(),
                    &r.app_id,
                    &r.transaction_key,
                    &r.account_id,
                    &r.product_id,
                    &r.receipt_sha256,
                    &r.verdict_id,
                    &r.now_ms,
                    &r.expires_at_ms,
                    &delivery.map(|d| d.id.as_str()),
                    &delivery.map(|d| d.event_type.as_str()),
                    &delivery.map(|d| d.body.as_str()),
                    &delivery.map(|d| d.created_ms),
                    &r.kind.map(PurchaseKind::as_str),
                    &r.environment.map(Environment::as_str),
                    &r.now_ms.saturating_sub(crate::LAST_SEEN_RESOLUTION_MS),
                    &ack.map(|a| a.id.as_str()),
                    &ack.map(|a| a.product_id.as_str()),
                    &ack.map(|a| a.purchase_token.as_str()),
                    &ack.map(|a| a.action.as_str()),
                    &ack.map(|a| a.purchased_ms),
                ],
            )
            .await?;
        // Inserted or found: from now on a repeat of this key is sent as `REPEAT_SQL`.
        self.redeemed.insert(hash);
        let Some(row) = row else {
            return Ok(RedeemStep::Exists);
        };
        let step: &str = row.try_get(REDEEM_STEP_COLUMN)?;
        Ok(match step {
            "inserted" => RedeemStep::Inserted,
            _ => RedeemStep::Read(redemption_row(&row)?),
        })
    }

    async fn touch_redemption(
        &mut self,
        r: &RedemptionRequest,
        expires_at_ms: Option<i64>,
    ) -> Result<(), OpError> {
        // Guarded like the decision: a revocation committed since leaves the row as it is.
        self.execute(
            TOUCH_SQL,
            &[
                &r.store.as_str(),
                &r.app_id,
                &r.transaction_key,
                &r.account_id,
                &r.now_ms,
                &expires_at_ms,
            ],
        )
        .await
        .map(|_| ())
    }

    async fn move_redemption(
        &mut self,
        key: Key<'_>,
        from: &str,
        to: &str,
        now_ms: i64,
    ) -> Result<u64, OpError> {
        self.execute(
            MOVE_SQL,
            &[
                &key.store.as_str(),
                &key.app_id,
                &key.transaction_key,
                &from,
                &to,
                &now_ms,
            ],
        )
        .await
    }

    async fn mark_revoked(
        &mut self,
        key: Key<'_>,
        now_ms: i64,
        reason: &str,
    ) -> Result<u64, OpError> {
        self.execute(
            REVOKE_SQL,
            &[
                &key.store.as_str(),
                &key.app_id,
                &key.transaction_key,
                &now_ms,
                &reason,
            ],
        )
        .await
    }

    async fn set_subscription(
        &mut self,
        key: Key<'_>,
        answer: &SubscriptionAnswer,
    ) -> Result<(), OpError> {
        self.execute(
            SET_SUBSCRIPTION_SQL,
            &[
                &key.store.as_str(),
                &key.app_id,
                &key.transaction_key,
                &answer.state.as_str(),
                &answer.expires_at_ms,
                &answer.checked_ms,
                &answer.will_renew,
            ],
        )
        .await
        .map(|_| ())
    }

    async fn clear_revocation(&mut self, key: Key<'_>) -> Result<(), OpError> {
        self.execute(
            CLEAR_REVOCATION_SQL,
            &[&key.store.as_str(), &key.app_id, &key.transaction_key],
        )
        .await
        .map(|_| ())
    }

    async fn insert_refusal(
        &mut self,
        key: Key<'_>,
        product_id: &str,
        now_ms: i64,
        reason: &str,
    ) -> Result<bool, OpError> {
        let inserted = self
            .execute(
                INSERT_REFUSAL_SQL,
                &[
                    &key.store.as_str(),
                    &key.app_id,
                    &key.transaction_key,
                    &UNREDEEMED_ACCOUNT,
                    &product_id,
                    &now_ms,
                    &reason,
                ],
            )
            .await?;
        Ok(inserted == 1)
    }

    async fn delete_refusal(&mut self, key: Key<'_>) -> Result<(), OpError> {
        self.execute(
            DELETE_REFUSAL_SQL,
            &[
                &key.store.as_str(),
                &key.app_id,
                &key.transaction_key,
                &UNREDEEMED_ACCOUNT,
            ],
        )
        .await
        .map(|_| ())
    }

    async fn causes(&mut self, key: Key<'_>) -> Result<Vec<Cause>, OpError> {
        self.rows(
            CAUSES_SQL,
            &[&key.store.as_str(), &key.app_id, &key.transaction_key],
            cause_row,
        )
        .await
    }

    async fn insert_cause(
        &mut self,
        key: Key<'_>,
        cause: &Cause,
        event_id: &str,
        now_ms: i64,
    ) -> Result<(), OpError> {
        self.execute(
            INSERT_CAUSE_SQL,
            &[
                &key.store.as_str(),
                &key.app_id,
                &key.transaction_key,
                &cause.revoker.as_str(),
                &cause.transaction,
                &event_id,
                &now_ms,
            ],
        )
        .await
        .map(|_| ())
    }

    async fn delete_cause(&mut self, key: Key<'_>, cause: &Cause) -> Result<(), OpError> {
        self.execute(
            DELETE_CAUSE_SQL,
            &[
                &key.store.as_str(),
                &key.app_id,
                &key.transaction_key,
                &cause.revoker.as_str(),
                &cause.transaction,
            ],
        )
        .await
        .map(|_| ())
    }

    async fn entitlement_set(
        &mut self,
        app_id: &str,
        account_id: &str,
    ) -> Result<Option<String>, OpError> {
        self.execute(ENSURE_ENTITLEMENT_SET_SQL, &[&app_id, &account_id])
            .await?;
        let row = self
            .query_opt(LOCK_ENTITLEMENT_SET_SQL, &[&app_id, &account_id])
            .await?;
        Ok(row
            .map(|r| r.try_get::<_, Option<String>>(0))
            .transpose()?
            .flatten())
    }

    async fn peek_entitlement_set(
        &mut self,
        app_id: &str,
        account_id: &str,
    ) -> Result<Option<String>, OpError> {
        let row = self
            .query_opt(PEEK_ENTITLEMENT_SET_SQL, &[&app_id, &account_id])
            .await?;
        Ok(row
            .map(|r| r.try_get::<_, Option<String>>(0))
            .transpose()?
            .flatten())
    }

    async fn put_entitlement_set(
        &mut self,
        app_id: &str,
        account_id: &str,
        names: &str,
        now_ms: i64,
    ) -> Result<(), OpError> {
        self.execute(
            PUT_ENTITLEMENT_SET_SQL,
            &[&app_id, &account_id, &names, &now_ms],
        )
        .await
        .map(|_| ())
    }

    async fn count_redemptions(&mut self) -> Result<u64, OpError> {
        self.count(COUNT_REDEMPTIONS_SQL).await
    }

    async fn owned(
        &mut self,
        app_id: &str,
        account_id: &str,
    ) -> Result<Vec<OwnedPurchase>, OpError> {
        self.rows(OWNED_SQL, &[&app_id, &account_id], |row| {
            Ok::<_, tokio_postgres::Error>(owned_row!(row, try_get))
        })
        .await
    }

    async fn revocations(&mut self, limit: u32) -> Result<Vec<RevocationRow>, OpError> {
        self.rows(REVOCATIONS_SQL, &[&i64::from(limit)], revocation_row)
            .await
    }

    async fn insert_delivery(&mut self, d: &NewDelivery) -> Result<(), OpError> {
        self.execute(
            ENQUEUE_SQL,
            &[&d.id, &d.app_id, &d.event_type, &d.body, &d.created_ms],
        )
        .await
        .map(|_| ())
    }

    async fn claim_deliveries(
        &mut self,
        now_ms: i64,
        lease_until_ms: i64,
        limit: u32,
    ) -> Result<Vec<Delivery>, OpError> {
        self.rows(
            CLAIM_SQL,
            &[&now_ms, &lease_until_ms, &i64::from(limit)],
            delivery_from_row,
        )
        .await
    }

    async fn finish_delivery(
        &mut self,
        id: &str,
        attempt: i64,
        u: AttemptUpdate<'_>,
    ) -> Result<u64, OpError> {
        self.execute(
            FINISH_SQL,
            &[
                &id,
                &attempt,
                &u.state.as_str(),
                &u.next_attempt_ms,
                &u.finished_ms,
                &u.last_error,
            ],
        )
        .await
    }

    async fn deliveries(
        &mut self,
        state: Option<DeliveryState>,
        limit: u32,
    ) -> Result<Vec<Delivery>, OpError> {
        self.rows(
            DELIVERIES_SQL,
            &[&state.map(DeliveryState::as_str), &i64::from(limit)],
            delivery_from_row,
        )
        .await
    }

    async fn retry_deliveries(&mut self, id: Option<&str>, now_ms: i64) -> Result<u64, OpError> {
        self.execute(RETRY_SQL, &[&id, &now_ms]).await
    }

    async fn count_pending(&mut self) -> Result<u64, OpError> {
        self.count(COUNT_PENDING_SQL).await
    }

    async fn claim_acks(
        &mut self,
        now_ms: i64,
        lease_until_ms: i64,
        limit: u32,
    ) -> Result<Vec<Acknowledgement>, OpError> {
        self.rows(
            CLAIM_ACKS_SQL,
            &[&now_ms, &lease_until_ms, &i64::from(limit)],
            ack_from_row,
        )
        .await
    }

    async fn finish_ack(
        &mut self,
        id: &str,
        attempt: i64,
        u: AttemptUpdate<'_>,
    ) -> Result<u64, OpError> {
        self.execute(
            FINISH_ACK_SQL,
            &[
                &id,
                &attempt,
                &u.state.as_str(),
                &u.next_attempt_ms,
                &u.finished_ms,
                &u.last_error,
            ],
        )
        .await
    }

    async fn acks(
        &mut self,
        state: Option<DeliveryState>,
        limit: u32,
    ) -> Result<Vec<Acknowledgement>, OpError> {
        self.rows(
            ACKS_SQL,
            &[&state.map(DeliveryState::as_str), &i64::from(limit)],
            ack_from_row,
        )
        .await
    }

    async fn ack_backlog(&mut self) -> Result<AckBacklog, OpError> {
        let rows = self.query(ACK_BACKLOG_SQL, &[]).await?;
        let Some(row) = rows.first() else {
            return Ok(AckBacklog::default());
        };
        let pending: i64 = row.try_get(0)?;
        Ok(AckBacklog {
            pending: u64::try_from(pending).unwrap_or(0),
            oldest_purchased_ms: row.try_get(1)?,
        })
    }

    async fn insert_notification(&mut self, n: &NewNotification) -> Result<bool, OpError> {
        let inserted = self
            .execute(
                INSERT_NOTIFICATION_SQL,
                &[
                    &n.store.as_str(),
                    &n.notification_id,
                    &n.notification_type,
                    &n.subtype,
                    &n.environment,
                    &n.app_id,
                    &n.transaction_key,
                    &n.signed_ms,
                    &n.received_ms,
                ],
            )
            .await?;
        Ok(inserted == 1)
    }

    async fn stored_notification(
        &mut self,
        store: Store,
        notification_id: &str,
    ) -> Result<StoredNotification, OpError> {
        let row = self
            .query_opt(
                STORED_NOTIFICATION_SQL,
                &[&store.as_str(), &notification_id],
            )
            .await?
            .ok_or_else(|| {
                OpError::Ledger(LedgerError::Schema(
                    "a recorded notification vanished".into(),
                ))
            })?;
        Ok(StoredNotification {
            result: row.try_get(0)?,
            app_id: row.try_get(1)?,
            transaction_key: row.try_get(2)?,
        })
    }

    async fn set_notification_result(
        &mut self,
        store: Store,
        notification_id: &str,
        applied: &Applied,
    ) -> Result<(), OpError> {
        self.execute(
            SET_NOTIFICATION_RESULT_SQL,
            &[
                &store.as_str(),
                &notification_id,
                &applied.result.as_str(),
                &applied.app_id,
                &applied.transaction_key,
            ],
        )
        .await
        .map(|_| ())
    }

    async fn notifications(
        &mut self,
        store: Option<Store>,
        limit: u32,
    ) -> Result<Vec<NotificationRow>, OpError> {
        self.rows(
            NOTIFICATIONS_SQL,
            &[&store.map(Store::as_str), &i64::from(limit)],
            notification_row,
        )
        .await
    }

    async fn voided_cursor(&mut self, package_name: &str) -> Result<Option<i64>, OpError> {
        let row = self.query_opt(CURSOR_SQL, &[&package_name]).await?;
        Ok(row.map(|r| r.try_get::<_, i64>(0)).transpose()?)
    }

    async fn insert_refund_request(
        &mut self,
        n: &NewNotification,
        r: &NewRefundRequest,
    ) -> Result<(), OpError> {
        self.execute(
            INSERT_REFUND_SQL,
            &[
                &n.store.as_str(),
                &n.notification_id,
                &r.app_id,
                &r.transaction_key,
                &r.environment,
                &r.deadline_ms,
                &n.received_ms,
                &r.answer_token,
            ],
        )
        .await
        .map(|_| ())
    }

    async fn claim_refund_requests(
        &mut self,
        now_ms: i64,
        lease_until_ms: i64,
        limit: u32,
    ) -> Result<Vec<RefundRequestRow>, OpError> {
        let rows = self
            .query(
                CLAIM_REFUNDS_SQL,
                &[&now_ms, &lease_until_ms, &i64::from(limit)],
            )
            .await?;
        rows.iter().map(pg_refund_row).collect()
    }

    async fn finish_refund_request(
        &mut self,
        store: Store,
        notification_id: &str,
        attempt: i64,
        state: RefundState,
        next_attempt_ms: Option<i64>,
        finished_ms: Option<i64>,
        detail: &str,
    ) -> Result<u64, OpError> {
        self.execute(
            FINISH_REFUND_SQL,
            &[
                &store.as_str(),
                &notification_id,
                &attempt,
                &state.as_str(),
                &next_attempt_ms,
                &finished_ms,
                &detail,
            ],
        )
        .await
    }

    async fn refund_requests(
        &mut self,
        state: Option<RefundState>,
        limit: u32,
    ) -> Result<Vec<RefundRequestRow>, OpError> {
        let state = state.map(RefundState::as_str);
        let rows = self
            .query(LIST_REFUNDS_SQL, &[&state, &i64::from(limit)])
            .await?;
        rows.iter().map(pg_refund_row).collect()
    }

    async fn delivery_report(&mut self, key: Key<'_>) -> Result<Option<ReportRow>, OpError> {
        let row = self
            .query_opt(
                REPORT_SQL,
                &[&key.store.as_str(), &key.app_id, &key.transaction_key],
            )
            .await?;
        let Some(r) = row else { return Ok(None) };
        let milli: Option<i32> = r.try_get(2)?;
        let events: Option<i32> = r.try_get(3)?;
        Ok(Some(ReportRow {
            account_id: r.try_get(0)?,
            delivered_at_ms: r.try_get(1)?,
            consumed_milliunits: milli.map(|m| m.max(0) as u32),
            usage_events: events.map(|e| e.max(0) as u32),
            updated_ms: r.try_get(4)?,
        }))
    }

    async fn put_delivery_report(&mut self, key: Key<'_>, row: &ReportRow) -> Result<(), OpError> {
        let milli = row
            .consumed_milliunits
            .map(|m| m.min(i32::MAX as u32) as i32);
        let events = row.usage_events.map(|e| e.min(i32::MAX as u32) as i32);
        self.execute(
            PUT_REPORT_SQL,
            &[
                &key.store.as_str(),
                &key.app_id,
                &key.transaction_key,
                &row.account_id,
                &row.delivered_at_ms,
                &milli,
                &events,
                &row.updated_ms,
            ],
        )
        .await
        .map(|_| ())
    }

    async fn account_refunds(
        &mut self,
        app_id: &str,
        account_id: &str,
        since_ms: i64,
        until_ms: i64,
    ) -> Result<Vec<(String, i64)>, OpError> {
        let rows = self
            .query(
                ACCOUNT_REFUNDS_SQL,
                &[&app_id, &account_id, &since_ms, &until_ms],
            )
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    async fn consent(&mut self, app_id: &str, account_id: &str) -> Result<Option<bool>, OpError> {
        let row = self.query_opt(CONSENT_SQL, &[&app_id, &account_id]).await?;
        Ok(row.map(|r| r.try_get::<_, bool>(0)).transpose()?)
    }

    async fn put_consent(
        &mut self,
        app_id: &str,
        account_id: &str,
        consented: bool,
        now_ms: i64,
    ) -> Result<(), OpError> {
        self.execute(
            PUT_CONSENT_SQL,
            &[&app_id, &account_id, &consented, &now_ms],
        )
        .await
        .map(|_| ())
    }

    async fn set_voided_cursor(
        &mut self,
        package_name: &str,
        start_time_ms: i64,
        now_ms: i64,
    ) -> Result<(), OpError> {
        self.execute(SET_CURSOR_SQL, &[&package_name, &start_time_ms, &now_ms])
            .await
            .map(|_| ())
    }
}

/// The schema steps on PostgreSQL, on a dedicated connection ([`migrate::SchemaStore`]).
struct PgSchema<'c>(&'c mut tokio_postgres::Client);

impl SchemaStore for PgSchema<'_> {
    async fn create_table(&mut self) -> Result<(), LedgerError> {
        // Two instances without an advisory lock may both create the table; the loser's error
        // is a lost race, not a failure.
        match self.0.batch_execute(CREATE_MIGRATIONS_TABLE).await {
            Err(e) if !lost_race(&e) => Err(pg(e)),
            _ => Ok(()),
        }
    }

    async fn applied_rows(&mut self) -> Result<Vec<AppliedRow>, LedgerError> {
        let rows = match self
            .0
            .query(
                &format!("SELECT version, name, checksum FROM {MIGRATIONS_TABLE} ORDER BY version"),
                &[],
            )
            .await
        {
            Ok(rows) => rows,
            Err(e) if e.code() == Some(&SqlState::UNDEFINED_TABLE) => return Ok(Vec::new()),
            Err(e) => return Err(pg(e)),
        };
        rows.iter()
            .map(|row| {
                Ok(AppliedRow {
                    version: row.try_get(0).map_err(pg)?,
                    name: row.try_get(1).map_err(pg)?,
                    checksum: row.try_get(2).map_err(pg)?,
                })
            })
            .collect()
    }

    async fn apply(&mut self, m: &Migration, now_ms: i64) -> Result<migrate::Applied, LedgerError> {
        match apply_one(self.0, m, now_ms).await {
            Ok(()) => Ok(migrate::Applied::Now),
            Err(e) if lost_race(&e) => Ok(migrate::Applied::LostRace),
            Err(e) => Err(LedgerError::Schema(format!(
                "migration {} failed: {}",
                m.id(),
                describe(&e)
            ))),
        }
    }
}

async fn apply_one(
    client: &mut tokio_postgres::Client,
    migration: &Migration,
    now_ms: i64,
) -> Result<(), tokio_postgres::Error> {
    let tx = client.transaction().await?;
    // The version row first: a second instance blocks here until this one commits, then
    // fails on the key instead of applying the migration twice.
    tx.execute(
        "INSERT INTO payseal_schema_migrations (version, name, checksum, applied_at_ms)
         VALUES ($1, $2, $3, $4)",
        &[
            &migration.version,
            &migration.name,
            &migration.checksum(),
            &now_ms,
        ],
    )
    .await?;
    tx.batch_execute(migration.sql).await?;
    tx.commit().await
}

fn notification_row(row: &tokio_postgres::Row) -> Result<NotificationRow, tokio_postgres::Error> {
    Ok(notification_row!(row, try_get))
}

fn revocation_row(row: &tokio_postgres::Row) -> Result<RevocationRow, tokio_postgres::Error> {
    Ok(revocation_row!(row, try_get))
}

fn lost_race(e: &tokio_postgres::Error) -> bool {
    matches!(
        e.code(),
        Some(c) if *c == SqlState::UNIQUE_VIOLATION
            || *c == SqlState::DUPLICATE_TABLE
            || *c == SqlState::T_R_SERIALIZATION_FAILURE
    )
}

/// A row of [`FIND_SQL`] (or [`FIND_FOR_UPDATE_SQL`]).
fn redemption_row(row: &tokio_postgres::Row) -> Result<RedemptionRow, tokio_postgres::Error> {
    Ok(redemption_row!(row, try_get))
}

fn ack_from_row(row: &tokio_postgres::Row) -> Result<Acknowledgement, OpError> {
    fn parse<T>(x: Result<T, LedgerError>) -> Result<T, OpError> {
        x.map_err(OpError::Ledger)
    }
    Ok(ack_row!(row, try_get, parse))
}

fn delivery_from_row(row: &tokio_postgres::Row) -> Result<Delivery, OpError> {
    Ok(delivery_row!(row, try_get, |state: String| {
        DeliveryState::stored(&state).map_err(OpError::Ledger)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Password;

    #[test]
    fn autocommit_statements_share_a_connection_per_core_at_most_half_the_pool() {
        // (max_connections, cores) -> shared
        for ((max, cores), shared) in [
            ((16, 2), 2),
            ((16, 32), 8),
            ((4, 2), 2),
            ((3, 2), 1),
            ((2, 8), 1),
            ((1, 8), 0),
            ((16, 0), 1),
        ] {
            assert_eq!(
                shared_connections(max, cores),
                shared,
                "max_connections {max}, {cores} cores"
            );
        }
    }

    #[test]
    fn urls_are_checked_without_io_and_never_echo_the_password() {
        let options = LedgerOptions::default();
        let ok = PostgresLedger::new("postgres://payseal:hunter2@127.0.0.1:5432/ledger", &options)
            .unwrap();
        assert_eq!(ok.target(), "postgres://payseal:***@127.0.0.1:5432/ledger");
        assert!(!format!("{ok:?}").contains("hunter2"));

        for (url, why) in [
            ("postgres://u:hunter2@/ledger", "no host"),
            ("postgres://127.0.0.1/ledger", "no user"),
            (
                "postgres://u:hunter2@db.example/ledger?sslmode=require",
                "sslmode=require",
            ),
            ("postgres://u:hunter2@db/ledger?sslmode=bogus", "invalid"),
        ] {
            let err = PostgresLedger::new(url, &options).unwrap_err().to_string();
            assert!(err.contains(why), "{url}: {err}");
            assert!(!err.contains("hunter2"), "{err}");
        }

        // A password from the options replaces the URL's.
        let with = LedgerOptions {
            password: Some(Password::new("from-file")),
            ..LedgerOptions::default()
        };
        let l = PostgresLedger::new("postgres://u@127.0.0.1/l", &with).unwrap();
        assert_eq!(l.pg_config.get_password(), Some(&b"from-file"[..]));
        assert!(!format!("{l:?}").contains("from-file"));
    }
}
