//! PostgreSQL ledger backend: one database shared by any number of verifier instances.
//!
//! **The database decides who is first.** `payseal_redemptions` has the primary key `(store,
//! app_id, transaction_key)`; a redemption is one autocommit `INSERT … ON CONFLICT (…) DO NOTHING`:
//! one inserted row means [`RedeemOutcome::First`] (committed, so durable under the server's
//! `synchronous_commit`, before the verdict leaves). When the key exists, PostgreSQL has waited for
//! the inserting transaction to finish; a primary-key `SELECT` reads the committed row and
//! [`super::classify`] decides (the same function SQLite calls): [`RedeemOutcome::Repeat`] then
//! moves `last_seen_ms` forward with an `UPDATE … SET last_seen_ms = GREATEST(…)` guarded by owner
//! and not revoked. A revocation reads its row `SELECT … FOR UPDATE` in one transaction and
//! [`super::classify_revocation`] decides whether to mark it and enqueue its notice. No process
//! lock and no advisory lock takes part, so any number of instances (or pools) can race on one
//! receipt: exactly one `INSERT` inserts.
//!
//! **Plain SQL.** `TEXT`/`BIGINT` columns, a composite primary key, `ON CONFLICT DO NOTHING`,
//! `UPDATE … WHERE`, `GREATEST`, `SELECT … FOR UPDATE`: nothing PostgreSQL-only in the hot path, so
//! the same statements run on Postgres-wire distributed databases (CockroachDB, YugabyteDB).
//! Serialization failures (`40001`, which those report under contention) and deadlocks (`40P01`)
//! are retried up to [`MAX_RETRIES`] times; every step is idempotent.
//!
//! **Migrations** are the embedded files of `verifier/migrations/postgres/` ([`MIGRATIONS`]),
//! recorded in `payseal_schema_migrations` (version, name, SHA-256 of the file). They are
//! applied at start (`[ledger] auto_migrate`, default on) or by `payseal-verifier migrate`, each
//! in its own transaction that first inserts its version row, so two instances migrating at
//! once cannot both apply one migration (the second waits on the key, fails, re-reads). A
//! session advisory lock (`pg_try_advisory_lock`) is taken around the whole run when the
//! database has one, only to keep concurrent starts quiet; correctness never depends on it. An
//! applied migration whose file changed, or a database migrated by a newer verifier, stops the
//! start with [`LedgerError::Schema`].
//!
//! **Connections** come from a `deadpool-postgres` pool (`[ledger] max_connections`, default 16 per
//! instance). A connection found closed is dropped and a new one is made on demand, so after a
//! PostgreSQL restart or outage the verifier recovers by itself; while the database is unreachable,
//! [`Redemptions::redeem`] and [`Redemptions::ready`] fail fast (or after `query_timeout`), which
//! the server turns into `503` + `Retry-After` and a not-ready `/readyz`.
//!
//! **TLS**: this build connects with `tokio_postgres::NoTls` (loopback, a private network, or a
//! local TLS-terminating proxy); `sslmode=require` is refused rather than silently downgraded.
//! To add TLS, depend on `tokio-postgres-rustls` (rustls is already in the tree), build a
//! `MakeRustlsConnect` from a `rustls::ClientConfig` with the database's CA, and pass it where
//! [`PostgresLedger::new`] and the migration connection pass `NoTls`.

use std::error::Error as _;
use std::str::FromStr;
use std::time::{Duration, Instant};

use deadpool_postgres::{Manager, ManagerConfig, Pool, PoolError, RecyclingMethod, Runtime};
use payseal_protocol::Store;
use sha2::{Digest, Sha256};
use tokio_postgres::config::{Host, SslMode};
use tokio_postgres::error::SqlState;
use tokio_postgres::NoTls;

use super::{
    chain_expiry, classify, classify_reinstatement, classify_revocation, redact_url, BoxFuture,
    LedgerError, LedgerOptions, RedeemOutcome, RedemptionRequest, RedemptionRow, Redemptions,
    ReinstateOutcome, RevocationRequest, RevokeNotice, RevokeOutcome, VoidedCursors,
    UNREDEEMED_ACCOUNT,
};
use crate::notifications::log::{
    store_revoked, Applied, Effect, NewNotification, NotificationLog, NotificationResult,
    NotificationRow, Recorded, RevocationRow, Target, TargetApp,
};
use crate::webhook::outbox::{
    AttemptResult, Delivery, DeliveryState, NewDelivery, Outbox, OutboxFilter,
};

/// One embedded schema migration (`verifier/migrations/postgres/NNNN_NAME.sql`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Migration {
    /// Version (the file's number); applied in increasing order.
    pub version: i64,
    /// Name (the file's name after the number).
    pub name: &'static str,
    /// The SQL, applied in one transaction.
    pub sql: &'static str,
}

impl Migration {
    /// `NNNN_NAME`, the file name without `.sql`.
    pub fn id(&self) -> String {
        format!("{:04}_{}", self.version, self.name)
    }

    /// Hex SHA-256 of the SQL, recorded when applied and checked at every start.
    pub fn checksum(&self) -> String {
        hex::encode(Sha256::digest(self.sql.as_bytes()))
    }
}

/// Every migration this verifier knows, in order.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "redemptions",
        sql: include_str!("../../migrations/postgres/0001_redemptions.sql"),
    },
    Migration {
        version: 2,
        name: "outbox_revocation",
        sql: include_str!("../../migrations/postgres/0002_outbox_revocation.sql"),
    },
    Migration {
        version: 3,
        name: "subscriptions",
        sql: include_str!("../../migrations/postgres/0003_subscriptions.sql"),
    },
    Migration {
        version: 4,
        name: "store_notifications",
        sql: include_str!("../../migrations/postgres/0004_store_notifications.sql"),
    },
    Migration {
        version: 5,
        name: "google_voided",
        sql: include_str!("../../migrations/postgres/0005_google_voided.sql"),
    },
];

/// The table recording applied migrations.
pub const MIGRATIONS_TABLE: &str = "payseal_schema_migrations";

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

const INSERT_SQL: &str = "INSERT INTO payseal_redemptions
    (store, app_id, transaction_key, account_id, product_id, receipt_sha256,
     first_verdict_id, first_seen_ms, last_seen_ms, expires_at_ms)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9)
    ON CONFLICT (store, app_id, transaction_key) DO NOTHING";

/// The first redemption and its outbox row in one statement (so in one transaction): the
/// outbox row is inserted only when the redemption row was.
const INSERT_NOTIFY_SQL: &str = "WITH redeemed AS (
    INSERT INTO payseal_redemptions
        (store, app_id, transaction_key, account_id, product_id, receipt_sha256,
         first_verdict_id, first_seen_ms, last_seen_ms, expires_at_ms)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $13)
    ON CONFLICT (store, app_id, transaction_key) DO NOTHING
    RETURNING 1)
  INSERT INTO payseal_outbox (id, app_id, event_type, body, created_ms, age_from_ms, attempts,
                              next_attempt_ms, state)
  SELECT $9, $2, $10, $11, $12, $12, 0, $12, 'pending' FROM redeemed";

/// `$6` is [`super::chain_expiry`] of the row read and the request; `GREATEST` (which ignores
/// NULL) keeps a newer end that a concurrent renewal wrote meanwhile.
const TOUCH_SQL: &str = "UPDATE payseal_redemptions SET last_seen_ms = GREATEST(last_seen_ms, $5),
        expires_at_ms = GREATEST(expires_at_ms, $6)
    WHERE store = $1 AND app_id = $2 AND transaction_key = $3 AND account_id = $4
      AND revoked_at_ms IS NULL";

const FIND_SQL: &str = "SELECT account_id, product_id, receipt_sha256, first_verdict_id,
    first_seen_ms, last_seen_ms, revoked_at_ms, revoke_reason, expires_at_ms
    FROM payseal_redemptions
    WHERE store = $1 AND app_id = $2 AND transaction_key = $3";

/// [`FIND_SQL`] locking the row until the transaction ends (revocations).
const FIND_FOR_UPDATE_SQL: &str = "SELECT account_id, product_id, receipt_sha256,
    first_verdict_id, first_seen_ms, last_seen_ms, revoked_at_ms, revoke_reason, expires_at_ms
    FROM payseal_redemptions
    WHERE store = $1 AND app_id = $2 AND transaction_key = $3 FOR UPDATE";

const REVOKE_SQL: &str = "UPDATE payseal_redemptions SET revoked_at_ms = $4, revoke_reason = $5
    WHERE store = $1 AND app_id = $2 AND transaction_key = $3 AND revoked_at_ms IS NULL";

const ENQUEUE_SQL: &str = "INSERT INTO payseal_outbox
    (id, app_id, event_type, body, created_ms, age_from_ms, attempts, next_attempt_ms, state)
    VALUES ($1, $2, $3, $4, $5, $5, 0, $5, 'pending')";

const OUTBOX_COLUMNS: &str = "id, app_id, event_type, body, created_ms, age_from_ms, attempts, \
    next_attempt_ms, state, last_error, finished_ms";

const NOTIFICATION_COLUMNS: &str = "store, notification_id, notification_type, subtype, \
    environment, app_id, transaction_key, signed_ms, received_ms, result";

const INSERT_NOTIFICATION_SQL: &str = "INSERT INTO payseal_store_notifications
    (store, notification_id, notification_type, subtype, environment, app_id, transaction_key,
     signed_ms, received_ms, result)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'pending')
    ON CONFLICT (store, notification_id) DO NOTHING";

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
}

impl std::fmt::Debug for PostgresLedger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresLedger")
            .field("target", &self.target)
            .field("max_connections", &self.pool.status().max_size)
            .finish_non_exhaustive()
    }
}

/// Where the schema of a database stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaStatus {
    /// Versions recorded as applied.
    pub applied: Vec<i64>,
    /// Known migrations not applied yet, in order.
    pub pending: Vec<Migration>,
}

/// An operation's failure before it is reduced to a [`LedgerError`] (keeps the SQLSTATE for
/// the retry decision).
enum OpError {
    Pool(PoolError),
    Db(tokio_postgres::Error),
    Ledger(LedgerError),
    /// The row a conflicting insert saw was deleted before it could be read (a refusal row
    /// removed by a reversed refund): the operation is tried again.
    Vanished,
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
            OpError::Vanished => true,
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
            OpError::Ledger(e) => e,
            OpError::Vanished => LedgerError::Postgres(
                "redemption row vanished between insert and read, again and again".into(),
            ),
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

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
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

    async fn redeem_once(
        &self,
        r: &RedemptionRequest,
        delivery: Option<&NewDelivery>,
    ) -> Result<RedeemOutcome, OpError> {
        let client = self.pool.get().await?;
        let store = r.store.as_str();
        let inserted = match delivery {
            None => {
                let insert = client.prepare_cached(INSERT_SQL).await?;
                client
                    .execute(
                        &insert,
                        &[
                            &store,
                            &r.app_id,
                            &r.transaction_key,
                            &r.account_id,
                            &r.product_id,
                            &r.receipt_sha256,
                            &r.verdict_id,
                            &r.now_ms,
                            &r.expires_at_ms,
                        ],
                    )
                    .await?
            }
            Some(d) => {
                let insert = client.prepare_cached(INSERT_NOTIFY_SQL).await?;
                client
                    .execute(
                        &insert,
                        &[
                            &store,
                            &r.app_id,
                            &r.transaction_key,
                            &r.account_id,
                            &r.product_id,
                            &r.receipt_sha256,
                            &r.verdict_id,
                            &r.now_ms,
                            &d.id,
                            &d.event_type,
                            &d.body,
                            &d.created_ms,
                            &r.expires_at_ms,
                        ],
                    )
                    .await?
            }
        };
        // Inserted: nobody had it. Otherwise PostgreSQL waited for the inserting transaction,
        // and the committed row decides.
        let existing = if inserted == 1 {
            None
        } else {
            let find = client.prepare_cached(FIND_SQL).await?;
            match client
                .query_opt(&find, &[&store, &r.app_id, &r.transaction_key])
                .await?
            {
                Some(row) => Some(redemption_row(&row)?),
                // Only a refusal row is ever deleted (a reversed refund): insert again.
                None => return Err(OpError::Vanished),
            }
        };
        let outcome = classify(existing.as_ref(), &r.account_id);
        if let (RedeemOutcome::Repeat, Some(row)) = (outcome, &existing) {
            let expires_at_ms = chain_expiry(row.expires_at_ms, r.expires_at_ms);
            // Guarded like the decision: a revocation committed since leaves the row as it is.
            let touch = client.prepare_cached(TOUCH_SQL).await?;
            client
                .execute(
                    &touch,
                    &[
                        &store,
                        &r.app_id,
                        &r.transaction_key,
                        &r.account_id,
                        &r.now_ms,
                        &expires_at_ms,
                    ],
                )
                .await?;
        }
        Ok(outcome)
    }

    async fn redeem_retrying(
        &self,
        r: RedemptionRequest,
        delivery: Option<NewDelivery>,
    ) -> Result<RedeemOutcome, LedgerError> {
        let mut attempt = 1;
        loop {
            match self.redeem_once(&r, delivery.as_ref()).await {
                Ok(outcome) => return Ok(outcome),
                Err(e) if e.retryable() && attempt < MAX_RETRIES => {
                    tokio::time::sleep(Duration::from_millis(5 * attempt as u64)).await;
                    attempt += 1;
                }
                Err(e) => return Err(e.into_ledger()),
            }
        }
    }

    async fn pooled(&self) -> Result<deadpool_postgres::Object, LedgerError> {
        self.pool
            .get()
            .await
            .map_err(|e| OpError::from(e).into_ledger())
    }

    async fn revoke_once(
        &self,
        r: &RevocationRequest,
        notice: Option<RevokeNotice>,
    ) -> Result<RevokeOutcome, OpError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let outcome = revoke_in(&tx, r, notice).await?;
        tx.commit().await?;
        Ok(outcome)
    }

    async fn record_notification_once(
        &self,
        n: &NewNotification,
        effect: &Effect,
    ) -> Result<Recorded, OpError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let store = n.store.as_str();
        // A second instance recording the same notification waits here for the first one's
        // commit, then inserts nothing and reads what the first one stored.
        let inserted = tx
            .execute(
                INSERT_NOTIFICATION_SQL,
                &[
                    &store,
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
        if inserted == 0 {
            let row = tx
                .query_one(STORED_NOTIFICATION_SQL, &[&store, &n.notification_id])
                .await?;
            tx.commit().await?;
            let result: String = row.try_get(0)?;
            return Ok(Recorded {
                duplicate: true,
                result: NotificationResult::parse(&result).ok_or_else(|| {
                    OpError::Ledger(LedgerError::Schema(format!(
                        "unknown notification result {result:?}"
                    )))
                })?,
                app_id: row.try_get(1)?,
                transaction_key: row.try_get(2)?,
            });
        }
        let applied = apply_effect(&tx, n, effect).await?;
        tx.execute(
            "UPDATE payseal_store_notifications SET result = $3, app_id = $4, transaction_key = $5
             WHERE store = $1 AND notification_id = $2",
            &[
                &store,
                &n.notification_id,
                &applied.result.as_str(),
                &applied.app_id,
                &applied.transaction_key,
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(applied.into_recorded())
    }

    async fn dedicated(&self) -> Result<tokio_postgres::Client, LedgerError> {
        let (client, connection) = self.pg_config.connect(NoTls).await.map_err(pg)?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(client)
    }

    /// Read the applied versions (none when the migrations table does not exist yet) and check
    /// them against [`MIGRATIONS`].
    async fn applied(client: &tokio_postgres::Client) -> Result<Vec<i64>, LedgerError> {
        let rows = match client
            .query(
                "SELECT version, name, checksum FROM payseal_schema_migrations ORDER BY version",
                &[],
            )
            .await
        {
            Ok(rows) => rows,
            Err(e) if e.code() == Some(&SqlState::UNDEFINED_TABLE) => return Ok(Vec::new()),
            Err(e) => return Err(pg(e)),
        };
        let mut applied = Vec::with_capacity(rows.len());
        for row in rows {
            let version: i64 = row.try_get(0).map_err(pg)?;
            let name: String = row.try_get(1).map_err(pg)?;
            let checksum: String = row.try_get(2).map_err(pg)?;
            let Some(known) = MIGRATIONS.iter().find(|m| m.version == version) else {
                return Err(LedgerError::Schema(format!(
                    "the database has migration {version:04}_{name}, which this verifier does \
                     not know (a newer verifier migrated it): run the newer verifier"
                )));
            };
            if known.checksum() != checksum {
                return Err(LedgerError::Schema(format!(
                    "migration {} was applied with SHA-256 {checksum}, but this verifier's file \
                     has {}: applied migrations must never be edited",
                    known.id(),
                    known.checksum()
                )));
            }
            applied.push(version);
        }
        Ok(applied)
    }

    /// Where the schema stands (no changes made).
    pub async fn schema_status(&self) -> Result<SchemaStatus, LedgerError> {
        let client = self.dedicated().await?;
        let applied = Self::applied(&client).await?;
        let pending = MIGRATIONS
            .iter()
            .filter(|m| !applied.contains(&m.version))
            .copied()
            .collect();
        Ok(SchemaStatus { applied, pending })
    }

    /// Apply the pending migrations; returns the versions applied by this call (empty when the
    /// schema was current). Safe to run from several instances at once.
    pub async fn migrate(&self) -> Result<Vec<i64>, LedgerError> {
        let mut client = self.dedicated().await?;
        let locked = acquire_migration_lock(&client).await?;
        let result = apply_pending(&mut client).await;
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

/// Revoke inside `tx`: read the row `FOR UPDATE`, let [`classify_revocation`] decide, mark it
/// and enqueue its notice.
async fn revoke_in(
    tx: &deadpool_postgres::Transaction<'_>,
    r: &RevocationRequest,
    notice: Option<RevokeNotice>,
) -> Result<RevokeOutcome, OpError> {
    let store = r.store.as_str();
    // The row stays locked until commit: a concurrent revocation waits, then reads it
    // revoked.
    let existing = match tx
        .query_opt(
            FIND_FOR_UPDATE_SQL,
            &[&store, &r.app_id, &r.transaction_key],
        )
        .await?
    {
        Some(row) => Some(redemption_row(&row)?),
        None => None,
    };
    let outcome = classify_revocation(existing.as_ref());
    if let (RevokeOutcome::Revoked, Some(row)) = (outcome, &existing) {
        let updated = tx
            .execute(
                REVOKE_SQL,
                &[&store, &r.app_id, &r.transaction_key, &r.now_ms, &r.reason],
            )
            .await?;
        if updated != 1 {
            return Err(OpError::Ledger(LedgerError::Postgres(
                "redemption row changed under its lock during a revocation".into(),
            )));
        }
        if let Some(notice) = notice {
            let d = notice(r, row).map_err(|e| OpError::Ledger(e.into()))?;
            tx.execute(
                ENQUEUE_SQL,
                &[&d.id, &d.app_id, &d.event_type, &d.body, &d.created_ms],
            )
            .await?;
        }
    }
    Ok(outcome)
}

/// The first `(app, key)` of `target` with a row, locked `FOR UPDATE`, in order.
async fn find_target_in<'t>(
    tx: &deadpool_postgres::Transaction<'_>,
    store: Store,
    target: &'t Target,
) -> Result<Option<(&'t TargetApp, &'t str, RedemptionRow)>, OpError> {
    for (app, key) in target.candidates() {
        if let Some(row) = tx
            .query_opt(FIND_FOR_UPDATE_SQL, &[&store.as_str(), &app.app_id, &key])
            .await?
        {
            return Ok(Some((app, key, redemption_row(&row)?)));
        }
    }
    Ok(None)
}

/// The effect of one notification inside its transaction.
async fn apply_effect(
    tx: &deadpool_postgres::Transaction<'_>,
    n: &NewNotification,
    effect: &Effect,
) -> Result<Applied, OpError> {
    let work = match effect.work(n) {
        Ok(work) => work,
        Err(done) => return Ok(done),
    };
    let (t, store) = (work.target, n.store.as_str());
    let Some((first_app, first_key)) = t.first() else {
        return Ok(Applied::recorded(n));
    };
    let found = find_target_in(tx, n.store, t).await?;
    if work.revoke {
        if let Some((app, key, _)) = found {
            let outcome = revoke_in(tx, &t.request(n, app, key), t.notice_for(app)).await?;
            return Ok(Applied::revoked(outcome, app, key));
        }
        // Nobody redeemed it: refusal rows. A redemption committed meanwhile (racing this
        // refund) wins the key, and is then revoked here.
        let mut applied = Applied::at(
            NotificationResult::RevokedBeforeRedemption,
            first_app,
            first_key,
        );
        for app in &t.apps {
            let inserted = tx
                .execute(
                    INSERT_REFUSAL_SQL,
                    &[
                        &store,
                        &app.app_id,
                        &first_key,
                        &UNREDEEMED_ACCOUNT,
                        &t.product_id,
                        &n.received_ms,
                        &t.reason,
                    ],
                )
                .await?;
            if inserted == 0 {
                let request = t.request(n, app, first_key);
                if revoke_in(tx, &request, t.notice_for(app)).await? == RevokeOutcome::Revoked {
                    applied = Applied::revoked(RevokeOutcome::Revoked, app, first_key);
                }
            }
        }
        return Ok(applied);
    }
    let Some((app, key, row)) = found else {
        return Ok(Applied::at(
            NotificationResult::NotReinstated,
            first_app,
            first_key,
        ));
    };
    let told: Vec<String> = tx
        .query(
            "SELECT DISTINCT result FROM payseal_store_notifications
             WHERE store = $1 AND transaction_key = $2",
            &[&store, &key],
        )
        .await?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?;
    let outcome =
        classify_reinstatement(Some(&row), store_revoked(told.iter().map(String::as_str)));
    match outcome {
        ReinstateOutcome::Reinstate => {
            tx.execute(
                "UPDATE payseal_redemptions SET revoked_at_ms = NULL, revoke_reason = NULL
                 WHERE store = $1 AND app_id = $2 AND transaction_key = $3",
                &[&store, &app.app_id, &key],
            )
            .await?;
            if let Some(notice) = t.notice_for(app) {
                let d =
                    notice(&t.request(n, app, key), &row).map_err(|e| OpError::Ledger(e.into()))?;
                tx.execute(
                    ENQUEUE_SQL,
                    &[&d.id, &d.app_id, &d.event_type, &d.body, &d.created_ms],
                )
                .await?;
            }
        }
        ReinstateOutcome::RemoveRefusal => {
            tx.execute(
                "DELETE FROM payseal_redemptions
                 WHERE store = $1 AND transaction_key = $2 AND account_id = $3",
                &[&store, &key, &UNREDEEMED_ACCOUNT],
            )
            .await?;
        }
        ReinstateOutcome::Nothing => {}
    }
    Ok(Applied::at(outcome.into(), app, key))
}

fn notification_row(row: &tokio_postgres::Row) -> Result<NotificationRow, tokio_postgres::Error> {
    Ok(NotificationRow {
        store: row.try_get(0)?,
        notification_id: row.try_get(1)?,
        notification_type: row.try_get(2)?,
        subtype: row.try_get(3)?,
        environment: row.try_get(4)?,
        app_id: row.try_get(5)?,
        transaction_key: row.try_get(6)?,
        signed_ms: row.try_get(7)?,
        received_ms: row.try_get(8)?,
        result: row.try_get(9)?,
    })
}

fn revocation_row(row: &tokio_postgres::Row) -> Result<RevocationRow, tokio_postgres::Error> {
    let account: String = row.try_get(3)?;
    Ok(RevocationRow {
        store: row.try_get(0)?,
        app_id: row.try_get(1)?,
        transaction_key: row.try_get(2)?,
        account_id: (account != UNREDEEMED_ACCOUNT).then_some(account),
        product_id: row.try_get(4)?,
        revoked_at_ms: row.try_get(5)?,
        reason: row.try_get(6)?,
    })
}
fn lost_race(e: &tokio_postgres::Error) -> bool {
    matches!(
        e.code(),
        Some(c) if *c == SqlState::UNIQUE_VIOLATION
            || *c == SqlState::DUPLICATE_TABLE
            || *c == SqlState::T_R_SERIALIZATION_FAILURE
    )
}

async fn apply_pending(client: &mut tokio_postgres::Client) -> Result<Vec<i64>, LedgerError> {
    // Two instances without an advisory lock may both create the table; the loser's error is
    // a lost race, not a failure.
    if let Err(e) = client.batch_execute(CREATE_MIGRATIONS_TABLE).await {
        if !lost_race(&e) {
            return Err(pg(e));
        }
    }
    let mut done = Vec::new();
    for migration in MIGRATIONS {
        if PostgresLedger::applied(client)
            .await?
            .contains(&migration.version)
        {
            continue;
        }
        match apply_one(client, migration).await {
            Ok(()) => done.push(migration.version),
            // Another instance applied it meanwhile: its version row won; check it did.
            Err(e) if lost_race(&e) => {
                if !PostgresLedger::applied(client)
                    .await?
                    .contains(&migration.version)
                {
                    return Err(pg(e));
                }
            }
            Err(e) => {
                return Err(LedgerError::Schema(format!(
                    "migration {} failed: {}",
                    migration.id(),
                    describe(&e)
                )))
            }
        }
    }
    Ok(done)
}

async fn apply_one(
    client: &mut tokio_postgres::Client,
    migration: &Migration,
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
            &now_ms(),
        ],
    )
    .await?;
    tx.batch_execute(migration.sql).await?;
    tx.commit().await
}

/// A row of [`FIND_SQL`] (or [`FIND_FOR_UPDATE_SQL`]).
fn redemption_row(row: &tokio_postgres::Row) -> Result<RedemptionRow, tokio_postgres::Error> {
    Ok(RedemptionRow {
        account_id: row.try_get(0)?,
        product_id: row.try_get(1)?,
        receipt_sha256: row.try_get(2)?,
        first_verdict_id: row.try_get(3)?,
        first_seen_ms: row.try_get(4)?,
        last_seen_ms: row.try_get(5)?,
        revoked_at_ms: row.try_get(6)?,
        revoke_reason: row.try_get(7)?,
        expires_at_ms: row.try_get(8)?,
    })
}

fn delivery_from_row(row: &tokio_postgres::Row) -> Result<Delivery, LedgerError> {
    let state: String = row.try_get(8).map_err(pg)?;
    Ok(Delivery {
        id: row.try_get(0).map_err(pg)?,
        app_id: row.try_get(1).map_err(pg)?,
        event_type: row.try_get(2).map_err(pg)?,
        body: row.try_get(3).map_err(pg)?,
        created_ms: row.try_get(4).map_err(pg)?,
        age_from_ms: row.try_get(5).map_err(pg)?,
        attempts: row.try_get(6).map_err(pg)?,
        next_attempt_ms: row.try_get(7).map_err(pg)?,
        state: DeliveryState::parse(&state)
            .ok_or_else(|| LedgerError::Schema(format!("unknown outbox state {state:?}")))?,
        last_error: row.try_get(9).map_err(pg)?,
        finished_ms: row.try_get(10).map_err(pg)?,
    })
}

impl Redemptions for PostgresLedger {
    fn redeem(
        &self,
        request: RedemptionRequest,
    ) -> BoxFuture<'_, Result<RedeemOutcome, LedgerError>> {
        Box::pin(self.within(self.redeem_retrying(request, None)))
    }

    fn redeem_and_notify(
        &self,
        request: RedemptionRequest,
        delivery: Option<NewDelivery>,
    ) -> BoxFuture<'_, Result<RedeemOutcome, LedgerError>> {
        Box::pin(self.within(self.redeem_retrying(request, delivery)))
    }

    fn revoke(
        &self,
        request: RevocationRequest,
        notice: Option<RevokeNotice>,
    ) -> BoxFuture<'_, Result<RevokeOutcome, LedgerError>> {
        Box::pin(self.within(async move {
            let mut attempt = 1;
            loop {
                match self.revoke_once(&request, notice).await {
                    Ok(outcome) => return Ok(outcome),
                    Err(e) if e.retryable() && attempt < MAX_RETRIES => {
                        tokio::time::sleep(Duration::from_millis(5 * attempt as u64)).await;
                        attempt += 1;
                    }
                    Err(e) => return Err(e.into_ledger()),
                }
            }
        }))
    }

    fn ready(&self) -> BoxFuture<'_, Result<(), LedgerError>> {
        Box::pin(self.within(async {
            let client = self.pooled().await?;
            client.simple_query(READY_SQL).await.map_err(pg)?;
            Ok(())
        }))
    }

    fn find<'a>(
        &'a self,
        store: Store,
        app_id: &'a str,
        transaction_key: &'a str,
    ) -> BoxFuture<'a, Result<Option<RedemptionRow>, LedgerError>> {
        Box::pin(self.within(async move {
            let client = self.pooled().await?;
            let statement = client.prepare_cached(FIND_SQL).await.map_err(pg)?;
            let row = client
                .query_opt(&statement, &[&store.as_str(), &app_id, &transaction_key])
                .await
                .map_err(pg)?;
            row.map(|row| redemption_row(&row).map_err(pg)).transpose()
        }))
    }

    fn count_redemptions(&self) -> BoxFuture<'_, Result<u64, LedgerError>> {
        Box::pin(self.within(async {
            let client = self.pooled().await?;
            let row = client
                .query_one("SELECT COUNT(*) FROM payseal_redemptions", &[])
                .await
                .map_err(pg)?;
            let n: i64 = row.try_get(0).map_err(pg)?;
            Ok(u64::try_from(n).unwrap_or(0))
        }))
    }
}

impl VoidedCursors for PostgresLedger {
    fn voided_cursor<'a>(
        &'a self,
        package_name: &'a str,
    ) -> BoxFuture<'a, Result<Option<i64>, LedgerError>> {
        Box::pin(self.within(async move {
            let client = self.pooled().await?;
            let row = client
                .query_opt(
                    "SELECT start_time_ms FROM payseal_google_voided_cursor
                     WHERE package_name = $1",
                    &[&package_name],
                )
                .await
                .map_err(pg)?;
            row.map(|r| r.try_get::<_, i64>(0).map_err(pg)).transpose()
        }))
    }

    fn set_voided_cursor<'a>(
        &'a self,
        package_name: &'a str,
        start_time_ms: i64,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<(), LedgerError>> {
        Box::pin(self.within(async move {
            let client = self.pooled().await?;
            client
                .execute(
                    "INSERT INTO payseal_google_voided_cursor (package_name, start_time_ms, updated_ms)
                     VALUES ($1, $2, $3)
                     ON CONFLICT (package_name) DO UPDATE
                     SET start_time_ms = GREATEST(payseal_google_voided_cursor.start_time_ms,
                                                  EXCLUDED.start_time_ms),
                         updated_ms = EXCLUDED.updated_ms",
                    &[&package_name, &start_time_ms, &now_ms],
                )
                .await
                .map_err(pg)?;
            Ok(())
        }))
    }
}

impl NotificationLog for PostgresLedger {
    fn record_notification(
        &self,
        notification: NewNotification,
        effect: Effect,
    ) -> BoxFuture<'_, Result<Recorded, LedgerError>> {
        Box::pin(self.within(async move {
            let mut attempt = 1;
            loop {
                match self.record_notification_once(&notification, &effect).await {
                    Ok(recorded) => return Ok(recorded),
                    Err(e) if e.retryable() && attempt < MAX_RETRIES => {
                        tokio::time::sleep(Duration::from_millis(5 * attempt as u64)).await;
                        attempt += 1;
                    }
                    Err(e) => return Err(e.into_ledger()),
                }
            }
        }))
    }

    fn list_notifications(
        &self,
        store: Option<Store>,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<NotificationRow>, LedgerError>> {
        Box::pin(self.within(async move {
            let client = self.pooled().await?;
            let rows = client
                .query(
                    &format!(
                        "SELECT {NOTIFICATION_COLUMNS} FROM payseal_store_notifications
                         WHERE $1::TEXT IS NULL OR store = $1
                         ORDER BY received_ms DESC, notification_id LIMIT $2"
                    ),
                    &[&store.map(Store::as_str), &i64::from(limit)],
                )
                .await
                .map_err(pg)?;
            rows.iter()
                .map(|r| notification_row(r).map_err(pg))
                .collect()
        }))
    }

    fn list_revocations(
        &self,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<RevocationRow>, LedgerError>> {
        Box::pin(self.within(async move {
            let client = self.pooled().await?;
            let rows = client
                .query(
                    "SELECT store, app_id, transaction_key, account_id, product_id,
                            revoked_at_ms, revoke_reason
                     FROM payseal_redemptions WHERE revoked_at_ms IS NOT NULL
                     ORDER BY revoked_at_ms DESC, transaction_key LIMIT $1",
                    &[&i64::from(limit)],
                )
                .await
                .map_err(pg)?;
            rows.iter().map(|r| revocation_row(r).map_err(pg)).collect()
        }))
    }
}

impl Outbox for PostgresLedger {
    fn claim_due(
        &self,
        now_ms: i64,
        lease_until_ms: i64,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<Delivery>, LedgerError>> {
        Box::pin(self.within(async move {
            let client = self.pooled().await?;
            // SKIP LOCKED: concurrent workers (other instances) take other rows instead of
            // waiting; the lease (next_attempt_ms) keeps a taken row from being taken again
            // until this worker reports or dies.
            let sql = format!(
                "UPDATE payseal_outbox o SET next_attempt_ms = $2, attempts = o.attempts + 1
                 FROM (SELECT id FROM payseal_outbox
                       WHERE state = 'pending' AND next_attempt_ms <= $1
                       ORDER BY next_attempt_ms LIMIT $3
                       FOR UPDATE SKIP LOCKED) due
                 WHERE o.id = due.id
                 RETURNING {}",
                OUTBOX_COLUMNS
                    .split(", ")
                    .map(|c| format!("o.{}", c.trim()))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            let rows = client
                .query(&sql, &[&now_ms, &lease_until_ms, &i64::from(limit)])
                .await
                .map_err(pg)?;
            rows.iter().map(delivery_from_row).collect()
        }))
    }

    fn finish_attempt<'a>(
        &'a self,
        id: &'a str,
        attempt: i64,
        result: AttemptResult,
    ) -> BoxFuture<'a, Result<bool, LedgerError>> {
        Box::pin(self.within(async move {
            let client = self.pooled().await?;
            // Fenced by `attempts`: a result that comes back after its lease ran out and the
            // row was claimed again is not recorded over the newer claim.
            let changed = match &result {
                AttemptResult::Delivered { at_ms } => client
                    .execute(
                        "UPDATE payseal_outbox SET state = 'delivered', finished_ms = $2,
                                last_error = NULL
                         WHERE id = $1 AND state = 'pending' AND attempts = $3",
                        &[&id, at_ms, &attempt],
                    )
                    .await
                    .map_err(pg)?,
                AttemptResult::Retry {
                    next_attempt_ms,
                    error,
                } => client
                    .execute(
                        "UPDATE payseal_outbox SET next_attempt_ms = $2, last_error = $3
                         WHERE id = $1 AND state = 'pending' AND attempts = $4",
                        &[&id, next_attempt_ms, error, &attempt],
                    )
                    .await
                    .map_err(pg)?,
                AttemptResult::Failed { at_ms, error } => client
                    .execute(
                        "UPDATE payseal_outbox SET state = 'failed', finished_ms = $2,
                                last_error = $3
                         WHERE id = $1 AND state = 'pending' AND attempts = $4",
                        &[&id, at_ms, error, &attempt],
                    )
                    .await
                    .map_err(pg)?,
            };
            Ok(changed == 1)
        }))
    }

    fn list_deliveries(
        &self,
        filter: OutboxFilter,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<Delivery>, LedgerError>> {
        Box::pin(self.within(async move {
            let client = self.pooled().await?;
            let limit = i64::from(limit);
            let rows = match filter {
                OutboxFilter::All => client
                    .query(
                        &format!(
                            "SELECT {OUTBOX_COLUMNS} FROM payseal_outbox
                             ORDER BY created_ms DESC, id LIMIT $1"
                        ),
                        &[&limit],
                    )
                    .await
                    .map_err(pg)?,
                OutboxFilter::State(state) => client
                    .query(
                        &format!(
                            "SELECT {OUTBOX_COLUMNS} FROM payseal_outbox WHERE state = $1
                             ORDER BY created_ms DESC, id LIMIT $2"
                        ),
                        &[&state.as_str(), &limit],
                    )
                    .await
                    .map_err(pg)?,
            };
            rows.iter().map(delivery_from_row).collect()
        }))
    }

    fn retry_failed<'a>(
        &'a self,
        id: Option<&'a str>,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<u64, LedgerError>> {
        Box::pin(self.within(async move {
            let client = self.pooled().await?;
            let n = match id {
                Some(id) => client
                    .execute(
                        "UPDATE payseal_outbox SET state = 'pending', next_attempt_ms = $2,
                                age_from_ms = $2, finished_ms = NULL
                         WHERE id = $1 AND state = 'failed'",
                        &[&id, &now_ms],
                    )
                    .await
                    .map_err(pg)?,
                None => client
                    .execute(
                        "UPDATE payseal_outbox SET state = 'pending', next_attempt_ms = $1,
                                age_from_ms = $1, finished_ms = NULL
                         WHERE state = 'failed'",
                        &[&now_ms],
                    )
                    .await
                    .map_err(pg)?,
            };
            Ok(n)
        }))
    }

    fn count_pending(&self) -> BoxFuture<'_, Result<u64, LedgerError>> {
        Box::pin(self.within(async move {
            let client = self.pooled().await?;
            let row = client
                .query_one(
                    "SELECT COUNT(*) FROM payseal_outbox WHERE state = 'pending'",
                    &[],
                )
                .await
                .map_err(pg)?;
            let n: i64 = row.try_get(0).map_err(pg)?;
            Ok(u64::try_from(n).unwrap_or(0))
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::Password;

    #[test]
    fn migration_files_and_the_embedded_list_agree() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/postgres");
        let mut files: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".sql"))
            .collect();
        files.sort();
        let listed: Vec<String> = MIGRATIONS
            .iter()
            .map(|m| format!("{}.sql", m.id()))
            .collect();
        assert_eq!(
            files,
            listed,
            "every file in {} is listed in MIGRATIONS",
            dir.display()
        );
        for (i, m) in MIGRATIONS.iter().enumerate() {
            // Increasing; a number may be left out while another change that owns it is not
            // merged yet (3: subscriptions), never reused.
            assert!(
                i == 0 && m.version == 1 || i > 0 && m.version > MIGRATIONS[i - 1].version,
                "versions increase from 1: {:?}",
                MIGRATIONS.iter().map(|m| m.version).collect::<Vec<_>>()
            );
            let on_disk = std::fs::read_to_string(dir.join(format!("{}.sql", m.id()))).unwrap();
            assert_eq!(on_disk, m.sql);
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
