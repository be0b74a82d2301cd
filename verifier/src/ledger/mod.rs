//! The redemption ledger: who redeemed which store transaction first.
//!
//! One row per (store, app, transaction key). The first account to present a valid receipt
//! owns it; the same account again is a [`RedeemOutcome::Repeat`]; any other account gets
//! [`RedeemOutcome::OtherAccount`]. Backends sit behind [`Ledger`] and are chosen by URL
//! ([`open`]): `sqlite:PATH` now; PostgreSQL comes later behind the same trait.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use payseal_protocol::Store;

pub mod sqlite;

/// A boxed, sendable future, so that [`Ledger`] stays object-safe.
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
}

/// Why the ledger could not answer. The server maps every variant to `503` + `Retry-After`.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// The ledger URL names no supported backend or is malformed.
    #[error("unsupported ledger URL {0:?} (expected sqlite:PATH)")]
    UnsupportedUrl(String),
    /// The database reported an error.
    #[error("ledger database error: {0}")]
    Database(#[from] rusqlite::Error),
    /// The database file's folder could not be created.
    #[error("ledger storage error: {0}")]
    Io(#[from] std::io::Error),
    /// The blocking worker could not run (runtime shutting down) or panicked.
    #[error("ledger worker failed: {0}")]
    Worker(String),
}

/// A redemption ledger backend.
pub trait Ledger: Send + Sync + std::fmt::Debug {
    /// Atomically record the redemption if it is the first, or read who owns it.
    /// When this resolves, the outcome is durable.
    fn redeem(
        &self,
        request: RedemptionRequest,
    ) -> BoxFuture<'_, Result<RedeemOutcome, LedgerError>>;
    /// Whether the backend can serve requests now (for `/readyz`).
    fn ready(&self) -> BoxFuture<'_, Result<(), LedgerError>>;
}

/// Open the backend a ledger URL names: `sqlite:PATH` (the file is created if missing).
pub fn open(url: &str) -> Result<Arc<dyn Ledger>, LedgerError> {
    match url.split_once(':') {
        Some(("sqlite", path)) if !path.is_empty() => Ok(Arc::new(sqlite::SqliteLedger::open(
            std::path::Path::new(path),
        )?)),
        _ => Err(LedgerError::UnsupportedUrl(url.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsupported_urls_are_refused() {
        for url in ["postgres://x/y", "sqlite:", "ledger.db", ""] {
            assert!(
                matches!(open(url), Err(LedgerError::UnsupportedUrl(_))),
                "{url}"
            );
        }
    }
}
