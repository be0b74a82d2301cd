//! What every ledger call returns: [`LedgerError`] and the boxed future of the object-safe
//! traits ([`BoxFuture`]).

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// A boxed, sendable future, so that the ledger traits stay object-safe.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why the ledger could not answer. The server maps every variant to `503` + `Retry-After`.
///
/// No variant carries a password: URLs are redacted ([`crate::redact_url`]) and PostgreSQL errors are
/// reduced to their SQLSTATE, severity and message (never the `DETAIL`, which can quote row
/// values).
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// The ledger URL names no supported backend or is malformed (the URL is redacted).
    #[error(
        "unsupported ledger URL {0:?} (expected sqlite:PATH or postgres://USER@HOST:PORT/DATABASE)"
    )]
    UnsupportedUrl(String),
    /// The backend needs network I/O to open: use [`crate::connect`] (async) instead of [`crate::open`].
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
