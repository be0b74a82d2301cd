//! The store acknowledgement queue: purchases the verifier must acknowledge or consume at their
//! store after the first redemption (Google Play refunds a purchase that is not acknowledged
//! within three days).
//!
//! A row is inserted in the same transaction as the first redemption
//! ([`Acknowledgements::redeem_and_acknowledge`]): both are committed, or neither, so a crash
//! after the commit leaves the row for the worker of any instance. Never for a refused, repeat
//! or revoked redemption (only a [`crate::RedeemOutcome::First`] inserts it). Afterwards the
//! verifier's acknowledgement worker claims rows like the webhook worker claims outbox rows (a
//! lease, fenced by the claim number; [`crate::outbox::AttemptResult`] and
//! [`crate::outbox::DeliveryState`] mean the same here: `delivered` is done at the store).

use crate::outbox::{AttemptResult, DeliveryState, NewDelivery, OutboxFilter};
use crate::{BoxFuture, LedgerError, RedeemOutcome, RedemptionRequest};

/// What is asked of the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AckAction {
    /// Acknowledge a one-time product (`purchases.products.acknowledge`).
    Acknowledge,
    /// Consume a one-time product (`purchases.products.consume`; also acknowledges it).
    Consume,
    /// Acknowledge a subscription (`purchases.subscriptions.acknowledge`).
    AcknowledgeSubscription,
}

impl AckAction {
    /// `acknowledge`, `consume` or `acknowledge_subscription` (as stored).
    pub fn as_str(self) -> &'static str {
        match self {
            AckAction::Acknowledge => "acknowledge",
            AckAction::Consume => "consume",
            AckAction::AcknowledgeSubscription => "acknowledge_subscription",
        }
    }

    /// The action stored as `text`, or [`LedgerError::Schema`] for text no build stores.
    pub fn stored(text: &str) -> Result<Self, LedgerError> {
        match text {
            "acknowledge" => Ok(AckAction::Acknowledge),
            "consume" => Ok(AckAction::Consume),
            "acknowledge_subscription" => Ok(AckAction::AcknowledgeSubscription),
            _ => Err(LedgerError::Schema(format!(
                "unknown acknowledgement action {text:?}"
            ))),
        }
    }
}

/// An acknowledgement to enqueue with a first redemption.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAck {
    /// Its id (the first verdict's `jti`).
    pub id: String,
    /// The product id.
    pub product_id: String,
    /// The store's purchase token.
    pub purchase_token: String,
    /// What to ask.
    pub action: AckAction,
    /// When the purchase was made, Unix milliseconds (the store's deadline counts from here).
    pub purchased_ms: i64,
}

/// One acknowledgement row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acknowledgement {
    /// Its id.
    pub id: String,
    /// The store (as stored: `google_play`).
    pub store: String,
    /// The app.
    pub app_id: String,
    /// The redemption's transaction key.
    pub transaction_key: String,
    /// The product id.
    pub product_id: String,
    /// The store's purchase token.
    pub purchase_token: String,
    /// What to ask.
    pub action: AckAction,
    /// When the purchase was made, Unix milliseconds.
    pub purchased_ms: i64,
    /// When it was enqueued (the redemption's time), Unix milliseconds.
    pub created_ms: i64,
    /// Attempts (claims) so far.
    pub attempts: i64,
    /// When the next attempt is due (while claimed: when the lease ends).
    pub next_attempt_ms: i64,
    /// `pending`, `delivered` (done at the store) or `failed` (given up).
    pub state: DeliveryState,
    /// The last attempt's error (Google's status and message, or the transport error).
    pub last_error: Option<String>,
    /// When it was done or given up.
    pub finished_ms: Option<i64>,
}

/// The pending acknowledgements at a glance (for `/metrics` and its alert).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AckBacklog {
    /// Pending rows.
    pub pending: u64,
    /// The oldest pending row's purchase time, Unix milliseconds.
    pub oldest_purchased_ms: Option<i64>,
}

/// The acknowledgement queue as stored by a ledger backend.
pub trait Acknowledgements: Send + Sync {
    /// Like [`crate::Redemptions::redeem_and_notify`], and when the outcome is
    /// [`RedeemOutcome::First`], also enqueue `ack` (for the request's store, app and key) in
    /// the same transaction.
    fn redeem_and_acknowledge(
        &self,
        request: RedemptionRequest,
        delivery: Option<NewDelivery>,
        ack: NewAck,
    ) -> BoxFuture<'_, Result<RedeemOutcome, LedgerError>>;

    /// Claim up to `limit` pending rows due at `now_ms` until `lease_until_ms`, oldest
    /// purchase first (skipping rows another instance holds).
    fn claim_acks(
        &self,
        now_ms: i64,
        lease_until_ms: i64,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<Acknowledgement>, LedgerError>>;

    /// Record the result of the attempt under claim number `attempt`; `Ok(false)` when the row
    /// was claimed again since or is finished (nothing changes).
    fn finish_ack<'a>(
        &'a self,
        id: &'a str,
        attempt: i64,
        result: AttemptResult,
    ) -> BoxFuture<'a, Result<bool, LedgerError>>;

    /// Rows, newest first, at most `limit`.
    fn list_acks(
        &self,
        filter: OutboxFilter,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<Acknowledgement>, LedgerError>>;

    /// How many are pending and the oldest pending purchase.
    fn ack_backlog(&self) -> BoxFuture<'_, Result<AckBacklog, LedgerError>>;
}

#[cfg(test)]
mod tests {
    use super::AckAction;

    #[test]
    fn actions_round_trip_through_their_stored_text() {
        for a in [
            AckAction::Acknowledge,
            AckAction::Consume,
            AckAction::AcknowledgeSubscription,
        ] {
            assert_eq!(AckAction::stored(a.as_str()).unwrap(), a);
        }
        assert!(AckAction::stored("Consume").is_err());
    }
}
