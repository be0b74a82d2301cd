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
//! [`classify_revocation`], [`classify_reinstatement`]). Beside the redemptions: the webhook
//! [`outbox`] (rows enqueued in the same transaction as the change that caused them, then
//! claimed, leased and finished by a worker), the [`notifications`] log (one row per store
//! notification, recorded in the same transaction as its effect) and the Google Play
//! voided-purchases cursors ([`VoidedCursors`]).
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

use std::sync::Arc;

mod columns;
mod decision;
pub mod error;
pub mod files;
pub mod migrate;
pub mod notice;
pub mod notifications;
mod ops;
pub mod options;
pub mod outbox;
pub mod postgres;
pub mod redemption;
pub mod sqlite;
pub mod tx;

pub use decision::{chain_expiry, classify, classify_reinstatement, classify_revocation};
pub use error::{BoxFuture, LedgerError};
pub use migrate::{Migration, SchemaStatus};
pub use notifications::NotificationLog;
pub use options::{
    backend_of, redact_url, strip_password, Backend, LedgerOptions, Password,
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_CONNECTIONS, DEFAULT_QUERY_TIMEOUT,
};
pub use outbox::{NewDelivery, Outbox};
pub use postgres::{PostgresLedger, MIGRATIONS};
pub use redemption::{
    RedeemOutcome, RedemptionRequest, RedemptionRow, Redemptions, ReinstateOutcome,
    RevocationRequest, RevokeOutcome, VoidedCursors, UNREDEEMED_ACCOUNT,
};
pub use sqlite::SqliteLedger;
pub use tx::{Access, Database, Key, Operation, Tx};

/// A complete ledger backend: its redemptions, the webhook outbox and the record of store
/// notifications stored beside them (so a redemption, its delivery, and the notification that
/// revoked it commit together), and the Google Play voided-purchases cursors. Every type
/// implementing all four is one.
pub trait Ledger: Redemptions + Outbox + NotificationLog + VoidedCursors {}

impl<T: Redemptions + Outbox + NotificationLog + VoidedCursors + ?Sized> Ledger for T {}

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
}
