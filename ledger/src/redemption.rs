//! Redemptions: the requests, rows and outcomes of the redemption ledger, and its traits
//! ([`Redemptions`], [`VoidedCursors`]).

use payseal_protocol::Store;

use crate::error::{BoxFuture, LedgerError};
use crate::outbox::NewDelivery;

/// The `account_id` of a *refusal row*: a revoked row recorded for a transaction the store
/// refunded before anyone redeemed it (a store notification), so that its first presentation
/// is `not_paid / revoked`. Never a real account (the protocol refuses empty account ids).
pub const UNREDEEMED_ACCOUNT: &str = "";

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
    /// newest of its chain: [`crate::chain_expiry`]).
    pub expires_at_ms: Option<i64>,
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
    /// milliseconds (never moved back by an older transaction of the chain).
    pub expires_at_ms: Option<i64>,
}

impl RedemptionRow {
    /// Whether this is a refusal row (revoked before anyone redeemed it; see
    /// [`UNREDEEMED_ACCOUNT`]).
    pub fn is_refusal(&self) -> bool {
        self.account_id == UNREDEEMED_ACCOUNT
    }
}

/// What a reversed refund does ([`crate::classify_reinstatement`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReinstateOutcome {
    /// The redemption is no longer revoked (and its notice enqueued).
    Reinstate,
    /// The refusal row is removed: the transaction can be redeemed for the first time.
    RemoveRefusal,
    /// Nothing changes.
    Nothing,
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

/// What [`Redemptions::revoke`] did (and, from [`crate::classify_revocation`], what it will do).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevokeOutcome {
    /// The row is now revoked (and the delivery, if any, enqueued in the same transaction).
    Revoked,
    /// It was revoked before; nothing changed, nothing enqueued.
    AlreadyRevoked,
    /// No redemption of that transaction exists; nothing recorded.
    NotFound,
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

    /// Read the row under a lock, decide with [`crate::classify_revocation`], and when that says
    /// [`RevokeOutcome::Revoked`], mark it revoked and (when `notify`: the app has a webhook)
    /// enqueue its `purchase.revoked` outbox row ([`crate::notice::revoked`]), all in one transaction.
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
