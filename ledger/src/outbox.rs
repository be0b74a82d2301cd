//! The webhook outbox: its rows and the storage trait every ledger backend implements.
//!
//! A delivery is enqueued in the same transaction as the ledger change that caused it (see
//! [`crate::Redemptions::redeem_and_notify`] and [`crate::Redemptions::revoke`]);
//! afterwards only the verifier's delivery worker and the operator commands touch it, through
//! [`Outbox`]. On PostgreSQL several instances share the rows: a claim is a lease, and results
//! are fenced by the claim number, so a row is never worked on by two workers at once.

use crate::{BoxFuture, LedgerError};

/// A webhook delivery to enqueue in the outbox, in the same transaction as the ledger change
/// that caused it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDelivery {
    /// The event id (the idempotency id receivers deduplicate by; for `purchase.paid`, the
    /// verdict `jti`). Primary key of the outbox.
    pub id: String,
    /// The app whose webhook endpoint receives it.
    pub app_id: String,
    /// The event type (`purchase.paid`, `purchase.revoked`).
    pub event_type: String,
    /// The exact JSON body that will be signed and sent.
    pub body: String,
    /// Creation time, Unix milliseconds (the give-up age counts from here).
    pub created_ms: i64,
}

/// The state of one outbox row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryState {
    /// Not acknowledged yet; attempted when `next_attempt_ms` is due.
    Pending,
    /// Acknowledged by a 2xx.
    Delivered,
    /// Given up (older than the app's give-up age, or no endpoint configured any more).
    Failed,
}

impl DeliveryState {
    /// `pending`, `delivered` or `failed` (as stored).
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
        }
    }

    /// The state stored as `text`, or [`LedgerError::Schema`] for text no build stores.
    pub fn stored(text: &str) -> Result<Self, LedgerError> {
        Self::parse(text)
            .ok_or_else(|| LedgerError::Schema(format!("unknown outbox state {text:?}")))
    }

    /// The state stored as `text`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "pending" => Some(DeliveryState::Pending),
            "delivered" => Some(DeliveryState::Delivered),
            "failed" => Some(DeliveryState::Failed),
            _ => None,
        }
    }
}

/// One outbox row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Event id (idempotency id).
    pub id: String,
    /// The app.
    pub app_id: String,
    /// Event type.
    pub event_type: String,
    /// The JSON body.
    pub body: String,
    /// Creation time, Unix milliseconds.
    pub created_ms: i64,
    /// The give-up age counts from here: `created_ms`, or the time of a manual retry.
    pub age_from_ms: i64,
    /// Attempts made so far.
    pub attempts: i64,
    /// When the next attempt is due (while a worker holds the row: when its lease ends).
    pub next_attempt_ms: i64,
    /// Pending, delivered or failed.
    pub state: DeliveryState,
    /// The last attempt's error (status code or transport error), if any.
    pub last_error: Option<String>,
    /// When it was delivered or given up, Unix milliseconds.
    pub finished_ms: Option<i64>,
}

/// What one delivery attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptResult {
    /// The endpoint answered 2xx.
    Delivered {
        /// When.
        at_ms: i64,
    },
    /// Not acknowledged; try again at `next_attempt_ms`.
    Retry {
        /// When the next attempt is due.
        next_attempt_ms: i64,
        /// What went wrong (never the secret or the body).
        error: String,
    },
    /// Not acknowledged and given up.
    Failed {
        /// When.
        at_ms: i64,
        /// What went wrong last.
        error: String,
    },
}

/// Which outbox rows to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxFilter {
    /// Every row.
    All,
    /// Rows in one state.
    State(DeliveryState),
}

/// The webhook outbox as stored by a ledger backend (the same database and transactions as its
/// redemptions).
pub trait Outbox: Send + Sync + std::fmt::Debug {
    /// Take up to `limit` pending deliveries due at `now_ms` for one worker: each is leased
    /// until `lease_until_ms` (its `next_attempt_ms` moves there and `attempts` goes up by one),
    /// so no other worker or instance takes it meanwhile; a worker that dies leaves it to be
    /// taken again when the lease ends.
    fn claim_due(
        &self,
        now_ms: i64,
        lease_until_ms: i64,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<Delivery>, LedgerError>>;

    /// Record the result of the attempt made under claim number `attempt` (the claimed row's
    /// `attempts`). Fenced: when the row is no longer pending, or its lease ran out and another
    /// claim took it since (`attempts` moved on), nothing changes and `Ok(false)` says so.
    fn finish_attempt<'a>(
        &'a self,
        id: &'a str,
        attempt: i64,
        result: AttemptResult,
    ) -> BoxFuture<'a, Result<bool, LedgerError>>;

    /// Outbox rows, newest first, at most `limit`.
    fn list_deliveries(
        &self,
        filter: OutboxFilter,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<Delivery>, LedgerError>>;

    /// Put failed rows back to pending, due at `now_ms` (one row by id, or all failed rows);
    /// returns how many. Their give-up age counts again from `now_ms`.
    fn retry_failed<'a>(
        &'a self,
        id: Option<&'a str>,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<u64, LedgerError>>;

    /// Number of pending deliveries.
    fn count_pending(&self) -> BoxFuture<'_, Result<u64, LedgerError>>;
}

#[cfg(test)]
mod tests {
    use super::DeliveryState;

    #[test]
    fn states_round_trip_through_their_stored_text() {
        for state in [
            DeliveryState::Pending,
            DeliveryState::Delivered,
            DeliveryState::Failed,
        ] {
            assert_eq!(DeliveryState::parse(state.as_str()), Some(state));
        }
        assert_eq!(DeliveryState::parse("Pending"), None);
        assert_eq!(DeliveryState::parse(""), None);
    }
}
