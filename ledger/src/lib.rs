//! `payseal-ledger`: PaySeal's redemption ledger, the webhook outbox and the record of store
//! notifications, stored together on SQLite or PostgreSQL so that a change, its webhook row and
//! the notification that caused it commit in one transaction.
//!
//! **What it is.** One row per (store, app, transaction key): the first account to present a
//! valid receipt owns it ([`RedeemOutcome::First`]), the same account again is a
//! [`RedeemOutcome::Repeat`], anyone else [`RedeemOutcome::OtherAccount`], and a revoked row is
//! [`RedeemOutcome::Revoked`] for everyone. A subscription's key is its renewal chain's id, so the
//! first account owns the whole chain and a renewal moves the row's `expires_at_ms` forward
//! ([`chain_expiry`]). The rules are pure functions in `decision.rs` ([`classify`],
//! [`classify_revocation`]) and, for refunds and revocations, [`event`] (who revoked a row, for
//! which transaction, and what a reversal undoes). Beside the redemptions: the webhook
//! [`outbox`] (rows enqueued in the same transaction as the change that caused them, then
//! claimed, leased and finished by a worker), the [`notifications`] log (one row per store
//! notification, recorded in the same transaction as its effect) and the Google Play
//! voided-purchases cursors ([`VoidedCursors`]), and the application server's delivery and
//! consumption reports with each account's consent ([`consumption`], [`DeliveryReports`]): the
//! evidence a store's refund request is answered with.
//!
//! **How it is built: each operation once, over a row-level transaction.** Every operation
//! (redeem, redeem-and-notify, revoke, record a store notification with its effect and webhook
//! rows, outbox enqueue/claim/finish/list/retry, cursors, listings) is written once in
//! `ops.rs`, as an [`Operation`] over the small row-level [`Tx`] trait (read a redemption row,
//! insert it if absent, mark it revoked, insert an outbox row, insert a notification row if
//! new, ...). A backend ([`Database`]) holds only SQL and connections: it implements [`Tx`] with
//! its statements and runs an operation in the transaction the operation asks for
//! ([`Access`]). The public traits ([`Redemptions`], [`Outbox`], [`NotificationLog`],
//! [`VoidedCursors`], together [`Ledger`]) are implemented once, for every [`Database`]. A new
//! operation is a struct and an `async` body in `ops.rs` (its `operation!` macro), plus, when
//! it needs a statement no operation made before, one [`Tx`] method with its SQL in each
//! backend.
//!
//! *Why this design (sync SQLite, async PostgreSQL).* [`Tx`] methods return futures (`impl
//! Future + Send`, no boxing): PostgreSQL's are real round trips; SQLite's run their statement
//! at the call and return a ready future, and the SQLite backend drives the whole operation by
//! polling it once on its writer thread (or reader connection) with a no-op waker
//! (`sqlite::run_now`): an operation that would wait there is a bug and reported as
//! [`LedgerError::Worker`], never a block. So the operation's logic is one `async fn`, the
//! SQLite side stays synchronous inside its blocking section (one writer thread, group commit),
//! and the hot redeem path allocates nothing more than before (the operation is a plain struct;
//! the only box is the one future each public call already returned). A "plan" design (pure
//! read → decide → write plans executed by each backend) was set aside: revocations and store
//! notifications read, decide, then read again (the next candidate key, the notification
//! history), so the plans would have grown an interpreter in each backend, which is the
//! duplication this crate removes.
//!
//! *Guarantees kept.* Insert-or-read is atomic (SQLite: the writer's `BEGIN IMMEDIATE`;
//! PostgreSQL: the primary key and `INSERT … ON CONFLICT DO NOTHING`, no process-local lock, so
//! one first redemption across instances); an operation resolves only after its commit
//! (durable before the verdict leaves); a PostgreSQL redemption runs in autocommit
//! ([`Access::Redeem`]; single-statement writes too, [`Access::Single`]) with the same
//! statements as before: 1 round trip for a first
//! redemption (with its outbox row, one statement), 2 for another account or a revoked row, 3
//! for a repeat.
//!
//! **Backends**, chosen by URL:
//! - `sqlite:PATH` ([`SqliteLedger`]): one embedded file, the default; one verifier process. The
//!   folder is created `0700`, the database and its `-wal`/`-shm` files `0600`, and a file that
//!   other local users can open stops the start ([`LedgerError::Permissions`]).
//! - `postgres://USER@HOST:PORT/DB` ([`PostgresLedger`]): one PostgreSQL database shared by any
//!   number of verifier instances behind a load balancer.
//!
//! [`connect`] opens either; [`open`] opens the backends that need no network I/O at start
//! (SQLite) from synchronous code. Both apply their numbered, embedded, checksummed migrations
//! (`migrations/{sqlite,postgres}/NNNN_*.sql`, [`migrate`]) with one runner; existing databases
//! upgrade in place with their rows.
//!
//! Ledger URLs may carry a password (`postgres://user:secret@host/db`): print them only through
//! [`redact_url`], which every error and log line here does.
//!
//! **What it is not.** No HTTP, no store rules, no webhook delivery, no signing: the verifier
//! decides *whether* a receipt is paid and which webhook rows a change makes; this crate only
//! records, atomically and durably, what follows from that.
//!
//! # Example
//!
//! ```
//! use payseal_ledger::{open, RedeemOutcome, RedemptionRequest};
//! use payseal_protocol::Store;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let ledger = open(&format!("sqlite:{}", dir.path().join("ledger.db").display()))?;
//! let request = |account: &str| RedemptionRequest {
//!     store: Store::GooglePlay,
//!     app_id: "com.example".into(),
//!     transaction_key: "GPA.1234".into(),
//!     account_id: account.into(),
//!     product_id: "gems".into(),
//!     receipt_sha256: "ab".repeat(32),
//!     verdict_id: format!("jti-{account}"),
//!     now_ms: 1_700_000_000_000,
//!     expires_at_ms: None,
//!     kind: None,
//!     environment: None,
//! };
//! let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
//! rt.block_on(async {
//!     assert_eq!(ledger.redeem(request("alice")).await?, RedeemOutcome::First);
//!     assert_eq!(ledger.redeem(request("alice")).await?, RedeemOutcome::Repeat);
//!     assert_eq!(ledger.redeem(request("bob")).await?, RedeemOutcome::OtherAccount);
//!     Ok::<_, payseal_ledger::LedgerError>(())
//! })?;
//! # Ok(())
//! # }
//! ```

#![deny(missing_docs)]
#![forbid(unsafe_code)]

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use payseal_protocol::{Environment, PurchaseKind, Store};

pub mod acks;
mod columns;
pub mod consumption;
mod decision;
pub mod entitlements;
pub mod event;
pub mod files;
pub mod migrate;
pub mod notice;
pub mod notifications;
mod ops;
pub mod outbox;
pub mod postgres;
pub mod refunds;
pub mod sqlite;
pub mod tx;

pub use acks::Acknowledgements;
pub use consumption::DeliveryReports;
pub use decision::{
    chain_expiry, classify, classify_revocation, classify_transfer, decide_subscription_update,
    grants, repeat_writes, settled_by_read, subscription_refusal, SubscriptionChange,
    LAST_SEEN_RESOLUTION_MS,
};
pub use migrate::{Migration, SchemaStatus};
pub use notifications::NotificationLog;
pub use outbox::{NewDelivery, Outbox};
pub use postgres::{PostgresLedger, MIGRATIONS};
pub use refunds::RefundRequests;
pub use sqlite::SqliteLedger;
pub use tx::{Access, Database, Operation, RedeemStep, Tx};

/// The `account_id` of a *refusal row*: a revoked row recorded for a transaction the store
/// refunded before anyone redeemed it (a store notification), so that its first presentation
/// is `not_paid / revoked`. Never a real account (the protocol refuses empty account ids).
pub const UNREDEEMED_ACCOUNT: &str = "";

/// A boxed, sendable future, so that the ledger traits stay object-safe.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One valid, paid receipt presented by one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedemptionRequest {
    /// The store.
    pub store: Store,
    /// The app id.
    pub app_id: String,
    /// The store's transaction key (Play orderId, App Store transactionId, ...).
    pub transaction_key: String,
    /// The presenting account (opaque).
    pub account_id: String,
    /// The product id.
    pub product_id: String,
    /// Hex SHA-256 of the receipt's canonical bytes.
    pub receipt_sha256: String,
    /// The `jti` of the verdict that will be sent if this is the first redemption.
    pub verdict_id: String,
    /// Time of presentation, Unix milliseconds.
    pub now_ms: i64,
    /// Subscriptions: end of the presented period, Unix milliseconds (the row keeps the
    /// newest of its chain: [`chain_expiry`]).
    pub expires_at_ms: Option<i64>,
    /// Consumable / non-consumable / subscription, when the store says (kept by the first
    /// redemption; entitlements never come from a consumable).
    pub kind: Option<PurchaseKind>,
    /// Production or sandbox, as the store rule decided (kept by the first redemption).
    pub environment: Option<Environment>,
}

/// One redemption row an account owns, as [`Redemptions::owned`] reads it for the account's
/// entitlements ([`grants`] decides whether it grants now).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedPurchase {
    /// The store's name ([`Store::as_str`]).
    pub store: String,
    /// The ledger key: the transaction, or a subscription's renewal chain.
    pub transaction_key: String,
    /// The product id.
    pub product_id: String,
    /// `consumable`, `non_consumable` or `subscription`, when the store said.
    pub kind: Option<String>,
    /// `production` or `sandbox` (absent for rows recorded before the ledger kept it).
    pub environment: Option<String>,
    /// First presentation, Unix milliseconds.
    pub first_seen_ms: i64,
    /// Subscriptions: the chain's newest period end, Unix milliseconds.
    pub expires_at_ms: Option<i64>,
    /// When it was revoked, Unix milliseconds.
    pub revoked_at_ms: Option<i64>,
    /// Subscriptions: the chain's state as the store's server last answered it
    /// ([`payseal_protocol::SubscriptionState::as_str`]), when a store event updated it.
    pub subscription_state: Option<String>,
    /// Subscriptions: whether the chain renews, when the store's last answer said
    /// ([`notifications::SubscriptionAnswer::will_renew`]).
    pub will_renew: Option<bool>,
}

/// What the ledger decided, durably, for one [`RedemptionRequest`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RedeemOutcome {
    /// First redemption: this account now owns the transaction.
    First,
    /// The same account presented it again.
    Repeat,
    /// Another account owns it.
    OtherAccount,
    /// The transaction was revoked (refunded) after it was redeemed: never `paid` again, for
    /// any account, the owner included.
    Revoked,
}

/// One stored redemption row, as [`Redemptions::find`] reads it.
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
    /// When the purchase was recorded as revoked (refunded), Unix milliseconds.
    pub revoked_at_ms: Option<i64>,
    /// Why it was revoked (operator text or the store rule's finding).
    pub revoke_reason: Option<String>,
    /// Subscriptions: the newest period end the owner presented for the renewal chain, Unix
    /// milliseconds (never moved back by an older transaction of the chain; set to the
    /// store's answer by a subscription update).
    pub expires_at_ms: Option<i64>,
    /// Subscriptions: the chain's state as the store's server last answered it
    /// ([`payseal_protocol::SubscriptionState::as_str`]); `None` until a store event updated it.
    pub subscription_state: Option<String>,
    /// When the verifier got that answer, Unix milliseconds (only a newer answer replaces it).
    pub state_checked_ms: Option<i64>,
}

impl RedemptionRow {
    /// Whether this is a refusal row (revoked before anyone redeemed it; see
    /// [`UNREDEEMED_ACCOUNT`]).
    pub fn is_refusal(&self) -> bool {
        self.account_id == UNREDEEMED_ACCOUNT
    }
}

/// Move one owned purchase to another account (an app's `transfer = "to_latest"` policy, on a
/// restore by that account).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferRequest {
    /// The store.
    pub store: Store,
    /// The app id.
    pub app_id: String,
    /// The transaction key (as recorded).
    pub transaction_key: String,
    /// The owner the caller saw (moved only if it still owns it).
    pub from_account: String,
    /// The account it moves to.
    pub to_account: String,
    /// Time of the transfer, Unix milliseconds.
    pub now_ms: i64,
}

/// What [`Redemptions::transfer`] did (decided by [`classify_transfer`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferOutcome {
    /// The row now belongs to the new account (and the webhook row, if any, is enqueued).
    Transferred,
    /// The row is owned by another account than `from_account` now (or already by
    /// `to_account`); nothing changed.
    OwnerChanged,
    /// The row is revoked: a revoked purchase never moves.
    Revoked,
    /// No such row.
    NotFound,
}

/// Revoke one redeemed transaction (refund, chargeback, store revocation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevocationRequest {
    /// The store.
    pub store: Store,
    /// The app id.
    pub app_id: String,
    /// The transaction key (as recorded).
    pub transaction_key: String,
    /// Why (stored; shown to operators and sent in the webhook).
    pub reason: String,
    /// Time of the revocation, Unix milliseconds.
    pub now_ms: i64,
}

/// What [`Redemptions::revoke`] did (and, from [`classify_revocation`], what it will do).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevokeOutcome {
    /// The row is now revoked (and the delivery, if any, enqueued in the same transaction).
    Revoked,
    /// It was revoked before; nothing changed, nothing enqueued.
    AlreadyRevoked,
    /// No redemption of that transaction exists; nothing recorded.
    NotFound,
}

/// Why the ledger could not answer. The server maps every variant to `503` + `Retry-After`.
///
/// No variant carries a password: URLs are redacted ([`redact_url`]) and PostgreSQL errors are
/// reduced to their SQLSTATE, severity and message (never the `DETAIL`, which can quote row
/// values).
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// The ledger URL names no supported backend or is malformed (the URL is redacted).
    #[error(
        "unsupported ledger URL {0:?} (expected sqlite:PATH or postgres://USER@HOST:PORT/DATABASE)"
    )]
    UnsupportedUrl(String),
    /// The backend needs network I/O to open: use [`connect`] (async) instead of [`open`].
    #[error("ledger URL {0:?} is opened with ledger::connect (async), not ledger::open")]
    NeedsConnect(String),
    /// The connection settings cannot be used (bad PostgreSQL URL, TLS asked for, ...).
    #[error("ledger configuration: {0}")]
    Config(String),
    /// The SQLite database reported an error.
    #[error("ledger database error: {0}")]
    Database(#[from] rusqlite::Error),
    /// The PostgreSQL server could not be reached or reported an error.
    #[error("ledger database error (PostgreSQL): {0}")]
    Postgres(String),
    /// The ledger did not answer within the configured time.
    #[error("ledger did not answer within {} ms", .0.as_millis())]
    Timeout(Duration),
    /// The database schema is not the one this verifier expects (migrations missing, unknown
    /// or edited).
    #[error("ledger schema: {0}")]
    Schema(String),
    /// The database file's folder could not be created.
    #[error("ledger storage error: {0}")]
    Io(#[from] std::io::Error),
    /// The blocking worker could not run (runtime shutting down) or panicked.
    #[error("ledger worker failed: {0}")]
    Worker(String),
    /// A ledger file or its folder is readable or writable by other local users (it holds
    /// every buyer's account id): the verifier refuses to start until it is `chmod 600`.
    #[error(
        "ledger file {path} has mode {mode:04o}: other local users can open it, and it holds \
         every buyer's account id; run `chmod 600` on the ledger database and its -wal and \
         -shm files (and `chmod 700` on its folder), then start again"
    )]
    Permissions {
        /// The file.
        path: String,
        /// Its permission bits.
        mode: u32,
    },
    /// The webhook row of a change could not be made (its body does not serialize: a bug,
    /// not an input problem).
    #[error("ledger: webhook event does not serialize: {0}")]
    Notice(String),
    /// A redemption row seen by a conflicting insert was gone when read (a refusal row removed
    /// by a reversed refund meanwhile); PostgreSQL tries the redemption again.
    #[error("redemption row vanished between insert and read")]
    RowVanished,
}

/// The redemption side of a ledger backend: who owns which store transaction, and revocations.
pub trait Redemptions: Send + Sync + std::fmt::Debug {
    /// Atomically record the redemption if it is the first, or read who owns it.
    /// When this resolves, the outcome is durable.
    fn redeem(
        &self,
        request: RedemptionRequest,
    ) -> BoxFuture<'_, Result<RedeemOutcome, LedgerError>>;
    /// Whether the backend can serve requests now (for `/readyz`).
    fn ready(&self) -> BoxFuture<'_, Result<(), LedgerError>>;
    /// The row of one transaction, if it was ever redeemed (for operators and tests).
    fn find<'a>(
        &'a self,
        store: Store,
        app_id: &'a str,
        transaction_key: &'a str,
    ) -> BoxFuture<'a, Result<Option<RedemptionRow>, LedgerError>>;
    /// Every row `account_id` owns in `app_id` (revoked ones included: [`grants`] decides), in
    /// one indexed read (`payseal_redemptions_account`), ordered by first presentation.
    fn owned<'a>(
        &'a self,
        app_id: &'a str,
        account_id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<OwnedPurchase>, LedgerError>>;
    /// Move the row of `request` from `from_account` to `to_account` when
    /// [`classify_transfer`] says so, with `delivery` (its `purchase.transferred` row) in the
    /// same transaction.
    fn transfer(
        &self,
        request: TransferRequest,
        delivery: Option<NewDelivery>,
    ) -> BoxFuture<'_, Result<TransferOutcome, LedgerError>>;
    /// Compare the entitlement names `account_id` of `app_id` holds now (named by `products`,
    /// decided by [`grants`]) with the set last announced, and when they differ, store the new
    /// set and enqueue its `entitlements.changed` row, in one transaction (the set's row locked,
    /// so changes of one account are announced one after the other, each once). Whether the
    /// set changed. `cause` names what made the caller look.
    fn refresh_entitlements<'a>(
        &'a self,
        app_id: &'a str,
        account_id: &'a str,
        products: entitlements::SharedProductNames,
        now_ms: i64,
        cause: &'a str,
    ) -> BoxFuture<'a, Result<bool, LedgerError>>;
    /// Number of recorded redemptions (a full count: for operators and tests, not hot paths;
    /// refusal rows, see [`UNREDEEMED_ACCOUNT`], included).
    fn count_redemptions(&self) -> BoxFuture<'_, Result<u64, LedgerError>>;

    /// Like [`Redemptions::redeem`], and when the outcome is [`RedeemOutcome::First`], also
    /// enqueue `delivery` in the outbox in the same transaction: both are committed, or neither.
    fn redeem_and_notify(
        &self,
        request: RedemptionRequest,
        delivery: Option<NewDelivery>,
    ) -> BoxFuture<'_, Result<RedeemOutcome, LedgerError>>;

    /// Read the row under a lock, decide with [`classify_revocation`], and when that says
    /// [`RevokeOutcome::Revoked`], mark it revoked and (when `notify`: the app has a webhook)
    /// enqueue its `purchase.revoked` outbox row ([`notice::revoked`]), all in one transaction.
    fn revoke(
        &self,
        request: RevocationRequest,
        notify: bool,
    ) -> BoxFuture<'_, Result<RevokeOutcome, LedgerError>>;
}

/// The Google Play Voided Purchases poller's persisted cursor, one per package name
/// (the verifier's voided-purchases poller): the `startTime` (Unix milliseconds) of the next poll.
/// Stored in the ledger so it survives restarts and is shared by every instance on one
/// PostgreSQL database.
pub trait VoidedCursors: Send + Sync {
    /// The stored cursor of `package_name`, if any poll finished for it.
    fn voided_cursor<'a>(
        &'a self,
        package_name: &'a str,
    ) -> BoxFuture<'a, Result<Option<i64>, LedgerError>>;
    /// Store `start_time_ms` as the cursor of `package_name` (never moves it backwards).
    fn set_voided_cursor<'a>(
        &'a self,
        package_name: &'a str,
        start_time_ms: i64,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<(), LedgerError>>;
}

/// The primary key of a redemption row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key<'a> {
    /// The store.
    pub store: Store,
    /// The app id.
    pub app_id: &'a str,
    /// The transaction key.
    pub transaction_key: &'a str,
}

/// A complete ledger backend: its redemptions, the webhook outbox and the record of store
/// notifications stored beside them (so a redemption, its delivery, and the notification that
/// revoked it commit together), the Google Play voided-purchases cursors, the store
/// acknowledgement queue ([`acks`]), the application server's delivery reports
/// ([`consumption`]) and the refund-answer queue ([`refunds`]). Every type implementing all
/// seven is one.
pub trait Ledger:
    Redemptions
    + Outbox
    + NotificationLog
    + VoidedCursors
    + Acknowledgements
    + DeliveryReports
    + RefundRequests
{
}

impl<
        T: Redemptions
            + Outbox
            + NotificationLog
            + VoidedCursors
            + Acknowledgements
            + DeliveryReports
            + RefundRequests
            + ?Sized,
    > Ledger for T
{
}

/// A password that never prints (`Debug` shows `***`) and is wiped from memory on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(zeroize::Zeroizing<String>);

impl Password {
    /// Wrap a password.
    pub fn new(password: impl Into<String>) -> Self {
        Self(zeroize::Zeroizing::new(password.into()))
    }

    /// The password itself (to hand to the database driver only).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(***)")
    }
}

/// Connection settings of a networked ledger (ignored by SQLite). See `[ledger]` in
/// `config.example.toml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerOptions {
    /// Apply pending migrations at start (under a lock, so instances starting together are
    /// safe). When false, start fails unless the schema is already current
    /// (`payseal-verifier migrate` applies it).
    pub auto_migrate: bool,
    /// Most connections one verifier instance keeps open.
    pub max_connections: usize,
    /// Longest wait to open one connection.
    pub connect_timeout: Duration,
    /// Longest wait for one ledger operation (waiting for a pooled connection included).
    /// Past it the request gets `503` + `Retry-After`.
    pub query_timeout: Duration,
    /// The password, when it is not in the URL (`password_file`), or taken out of the URL by
    /// the configuration loader so the URL itself can be shown.
    pub password: Option<Password>,
}

/// Default [`LedgerOptions::max_connections`].
pub const DEFAULT_MAX_CONNECTIONS: usize = 16;
/// Default [`LedgerOptions::connect_timeout`].
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default [`LedgerOptions::query_timeout`].
pub const DEFAULT_QUERY_TIMEOUT: Duration = Duration::from_secs(5);

impl Default for LedgerOptions {
    fn default() -> Self {
        Self {
            auto_migrate: true,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            query_timeout: DEFAULT_QUERY_TIMEOUT,
            password: None,
        }
    }
}

/// Which backend a ledger URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// `sqlite:PATH`.
    Sqlite,
    /// `postgres://…` or `postgresql://…`.
    Postgres,
}

/// The backend a URL names, if any (the URL is not otherwise checked).
pub fn backend_of(url: &str) -> Option<Backend> {
    let url = url.trim();
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Some(Backend::Postgres)
    } else if url.strip_prefix("sqlite:").is_some_and(|p| !p.is_empty()) {
        Some(Backend::Sqlite)
    } else {
        None
    }
}

/// Open a backend that needs no network I/O at start: `sqlite:PATH` (the file is created if
/// missing). PostgreSQL URLs are refused with [`LedgerError::NeedsConnect`]: use [`connect`].
pub fn open(url: &str) -> Result<Arc<dyn Ledger>, LedgerError> {
    match backend_of(url) {
        Some(Backend::Sqlite) => {
            let path = url.trim().trim_start_matches("sqlite:");
            Ok(Arc::new(sqlite::SqliteLedger::open(std::path::Path::new(
                path,
            ))?))
        }
        Some(Backend::Postgres) => Err(LedgerError::NeedsConnect(redact_url(url))),
        None => Err(LedgerError::UnsupportedUrl(redact_url(url))),
    }
}

/// Open the backend a ledger URL names. For PostgreSQL: build the connection pool, then apply
/// pending migrations (`options.auto_migrate`) or check that none is pending.
pub async fn connect(url: &str, options: &LedgerOptions) -> Result<Arc<dyn Ledger>, LedgerError> {
    match backend_of(url) {
        Some(Backend::Sqlite) => open(url),
        Some(Backend::Postgres) => Ok(Arc::new(
            postgres::PostgresLedger::connect(url, options).await?,
        )),
        None => Err(LedgerError::UnsupportedUrl(redact_url(url))),
    }
}

/// `url` with any password replaced by `***`: in the user-info part
/// (`postgres://user:secret@host` → `postgres://user:***@host`) and in a `password=` query
/// parameter. Safe to log.
pub fn redact_url(url: &str) -> String {
    let (without, had_password) = strip_password(url);
    if !had_password {
        return without;
    }
    // Re-insert a visible marker where the password was.
    let (userinfo_pw, query_pw) = password_spans(url);
    let mut out = String::with_capacity(url.len());
    let mut last = 0;
    for (start, end) in [userinfo_pw, query_pw].into_iter().flatten() {
        out.push_str(&url[last..start]);
        out.push_str("***");
        last = end;
    }
    out.push_str(&url[last..]);
    out
}

/// `url` without its password (user-info and `password=` parameter removed), and whether it
/// had one.
pub fn strip_password(url: &str) -> (String, bool) {
    let (userinfo_pw, query_pw) = password_spans(url);
    if userinfo_pw.is_none() && query_pw.is_none() {
        return (url.to_string(), false);
    }
    let mut out = String::with_capacity(url.len());
    let mut last = 0;
    if let Some((start, end)) = userinfo_pw {
        // Drop the ':' before the password too.
        out.push_str(&url[last..start - 1]);
        last = end;
    }
    if let Some((start, end)) = query_pw {
        // Drop the whole `password=...` parameter and one separator.
        let param_start = start - "password=".len();
        let mut cut_start = param_start;
        let mut cut_end = end;
        if url[cut_end..].starts_with('&') {
            cut_end += 1;
        } else if cut_start > 0
            && (url.as_bytes()[cut_start - 1] == b'&'
                || (url.as_bytes()[cut_start - 1] == b'?' && cut_end == url.len()))
        {
            cut_start -= 1;
        }
        out.push_str(&url[last..cut_start]);
        last = cut_end;
    }
    out.push_str(&url[last..]);
    (out, true)
}

/// A byte range `start..end` of a URL.
type Span = (usize, usize);

/// Byte spans of the password in the user-info part and in a `password=` query parameter.
fn password_spans(url: &str) -> (Option<Span>, Option<Span>) {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return (None, None);
    };
    let rest = &url[scheme_end..];
    let authority_len = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..authority_len];
    let userinfo_pw = authority.rfind('@').and_then(|at| {
        let userinfo = &authority[..at];
        userinfo
            .find(':')
            .map(|colon| (scheme_end + colon + 1, scheme_end + at))
    });
    let query_pw = url.find('?').and_then(|q| {
        let query = &url[q + 1..];
        let mut offset = q + 1;
        for param in query.split('&') {
            if let Some(value) = param.strip_prefix("password=") {
                let start = offset + "password=".len();
                return Some((start, start + value.len()));
            }
            offset += param.len() + 1;
        }
        None
    });
    (userinfo_pw, query_pw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsupported_urls_are_refused() {
        for url in ["sqlite:", "ledger.db", "", "mysql://x/y"] {
            assert!(
                matches!(open(url), Err(LedgerError::UnsupportedUrl(_))),
                "{url}"
            );
        }
        let err = open("postgres://u:hunter2@db/x").unwrap_err();
        assert!(matches!(err, LedgerError::NeedsConnect(_)), "{err}");
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    #[test]
    fn backends_are_named_by_scheme() {
        assert_eq!(backend_of("sqlite:/a/b.db"), Some(Backend::Sqlite));
        assert_eq!(backend_of("postgres://h/d"), Some(Backend::Postgres));
        assert_eq!(backend_of("postgresql://h/d"), Some(Backend::Postgres));
        assert_eq!(backend_of("postgres:/h"), None);
        assert_eq!(backend_of("sqlite:"), None);
    }

    #[test]
    fn passwords_are_redacted_and_stripped() {
        let cases = [
            (
                "postgres://payseal:s3cr%40t@db.internal:5432/ledger",
                "postgres://payseal:***@db.internal:5432/ledger",
                "postgres://payseal@db.internal:5432/ledger",
            ),
            (
                "postgres://payseal@db/ledger?password=pw&sslmode=disable",
                "postgres://payseal@db/ledger?password=***&sslmode=disable",
                "postgres://payseal@db/ledger?sslmode=disable",
            ),
            (
                "postgres://db/ledger?sslmode=disable&password=pw",
                "postgres://db/ledger?sslmode=disable&password=***",
                "postgres://db/ledger?sslmode=disable",
            ),
            (
                "postgres://u:a:b@db/l?password=pw",
                "postgres://u:***@db/l?password=***",
                "postgres://u@db/l",
            ),
            (
                "postgres://payseal@127.0.0.1:5432/ledger",
                "postgres://payseal@127.0.0.1:5432/ledger",
                "postgres://payseal@127.0.0.1:5432/ledger",
            ),
            (
                "sqlite:/var/lib/l.db",
                "sqlite:/var/lib/l.db",
                "sqlite:/var/lib/l.db",
            ),
        ];
        for (url, redacted, stripped) in cases {
            assert_eq!(redact_url(url), redacted, "{url}");
            assert_eq!(strip_password(url).0, stripped, "{url}");
            assert_eq!(strip_password(url).1, url != stripped, "{url}");
        }
        assert_eq!(format!("{:?}", Password::new("hunter2")), "Password(***)");
    }
}
