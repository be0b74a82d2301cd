//! The row-level transaction a backend provides ([`Tx`]), the operations written once over it
//! ([`Operation`], in `ops.rs`), and what a backend is ([`Database`]): its SQL ([`Tx`]) and a way
//! to run an operation in a transaction of its [`Access`].
//!
//! A [`Tx`] method is one statement (or, where a backend needs two for one row-level step, the
//! two), never a decision: decisions are made by the operations, on the rows the methods read.
//! Methods return futures (`impl Future + Send`, no boxing). PostgreSQL awaits its round trip;
//! SQLite runs the statement when the method is called and returns a ready future (see the
//! crate docs for why).

use std::future::Future;

use payseal_protocol::Store;

use crate::acks::{AckBacklog, Acknowledgement, NewAck};
use crate::consumption::ReportRow;
use crate::event::Cause;
use crate::notifications::{
    Applied, NewNotification, NotificationRow, RevocationRow, StoredNotification,
    SubscriptionAnswer,
};
use crate::outbox::{Delivery, DeliveryState, NewDelivery};
use crate::refunds::{NewRefundRequest, RefundRequestRow, RefundState};
use crate::{BoxFuture, LedgerError, OwnedPurchase, RedemptionRequest, RedemptionRow};

pub use crate::Key;

/// What [`Tx::redeem_row`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
// A value returned once per redemption and matched at once, never stored: boxing the row would
// cost an allocation on every repeat for nothing.
#[allow(clippy::large_enum_variant)]
pub enum RedeemStep {
    /// The row (and its outbox row) was inserted: a first redemption.
    Inserted,
    /// The key exists; its row as the statement read it, with the repeat's touch applied when
    /// the guard held (the operation only classifies it).
    Read(RedemptionRow),
    /// The key exists and nothing else was done (SQLite; PostgreSQL when the row was committed
    /// after the statement's snapshot): the operation reads the row and touches it itself.
    Exists,
}

/// How an attempt's result is written to its outbox row (decided from an
/// [`crate::outbox::AttemptResult`] by the finish operation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttemptUpdate<'a> {
    /// The row's new state.
    pub state: DeliveryState,
    /// The next attempt's time (`None`: unchanged).
    pub next_attempt_ms: Option<i64>,
    /// When it was finished (`None` while pending).
    pub finished_ms: Option<i64>,
    /// The error to keep (`None` clears it).
    pub last_error: Option<&'a str>,
}

/// One transaction (or, for [`Access::Read`] and [`Access::Redeem`] on PostgreSQL, one
/// connection in autocommit) of a backend, row by row. Every statement a ledger operation
/// makes is one of these.
pub trait Tx: Send {
    /// The backend's error (keeps what its retry decision needs).
    type Error: From<LedgerError> + Send;

    /// Whether the database answers (a statement that reads no row).
    fn ping(&mut self) -> impl Future<Output = Result<(), Self::Error>> + Send;

    // --- redemptions ---

    /// The row of `key`, if any; `lock`: keep it locked until the transaction ends
    /// (PostgreSQL `FOR UPDATE`; SQLite's writer holds the whole database already).
    fn redemption(
        &mut self,
        key: Key<'_>,
        lock: bool,
    ) -> impl Future<Output = Result<Option<RedemptionRow>, Self::Error>> + Send;
    /// Insert the row of `r` unless its key exists; when it was inserted, also insert the outbox
    /// row `delivery` and the acknowledgement row `ack` (due at `r.now_ms`), atomically with it.
    /// When the key exists, a backend may, in the same statement, apply the repeat's
    /// [`Tx::touch_redemption`] (guarded the same way: owner `r.account_id`, not revoked, and
    /// only when [`crate::repeat_writes`]; the period end by [`crate::chain_expiry`]) and read
    /// the row ([`RedeemStep::Read`]), so that a redemption costs one round trip.
    fn redeem_row(
        &mut self,
        r: &RedemptionRequest,
        delivery: Option<&NewDelivery>,
        ack: Option<&NewAck>,
    ) -> impl Future<Output = Result<RedeemStep, Self::Error>> + Send;
    /// Move `last_seen_ms` forward to `r.now_ms` and set `expires_at_ms` on the row of `r`,
    /// when its owner is still `r.account_id` and it is not revoked.
    fn touch_redemption(
        &mut self,
        r: &RedemptionRequest,
        expires_at_ms: Option<i64>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;
    /// Mark the row of `key` revoked unless it is; how many rows changed.
    fn mark_revoked(
        &mut self,
        key: Key<'_>,
        now_ms: i64,
        reason: &str,
    ) -> impl Future<Output = Result<u64, Self::Error>> + Send;
    /// Set the subscription state, period end (when `answer` has one) and answer time of the
    /// row of `key`.
    fn set_subscription(
        &mut self,
        key: Key<'_>,
        answer: &SubscriptionAnswer,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;
    /// Give the row of `key` to `to` (its owner `from`, not revoked), `last_seen_ms` at
    /// `now_ms`; how many rows changed.
    fn move_redemption(
        &mut self,
        key: Key<'_>,
        from: &str,
        to: &str,
        now_ms: i64,
    ) -> impl Future<Output = Result<u64, Self::Error>> + Send;
    /// Clear the revocation of the row of `key`.
    fn clear_revocation(
        &mut self,
        key: Key<'_>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;
    /// Insert a refusal row (revoked, owned by [`crate::UNREDEEMED_ACCOUNT`]) at `key` unless the
    /// key exists; whether it was inserted.
    fn insert_refusal(
        &mut self,
        key: Key<'_>,
        product_id: &str,
        now_ms: i64,
        reason: &str,
    ) -> impl Future<Output = Result<bool, Self::Error>> + Send;
    /// Delete the refusal row at `key` (that app's only; a redemption is never deleted).
    fn delete_refusal(
        &mut self,
        key: Key<'_>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;
    /// The revocation causes standing on the row at `key`.
    fn causes(
        &mut self,
        key: Key<'_>,
    ) -> impl Future<Output = Result<Vec<Cause>, Self::Error>> + Send;
    /// Record `cause` on the row at `key` (by store event `event_id`, at `now_ms`) unless it is
    /// recorded.
    fn insert_cause(
        &mut self,
        key: Key<'_>,
        cause: &Cause,
        event_id: &str,
        now_ms: i64,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;
    /// Remove `cause` from the row at `key`.
    fn delete_cause(
        &mut self,
        key: Key<'_>,
        cause: &Cause,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;
    /// Every row `account_id` owns in `app_id`, oldest first (one indexed read).
    fn owned(
        &mut self,
        app_id: &str,
        account_id: &str,
    ) -> impl Future<Output = Result<Vec<OwnedPurchase>, Self::Error>> + Send;
    /// The entitlement names last announced for `account_id` of `app_id`
    /// ([`crate::entitlements::stored`] text; `None`: never), its row created if absent and
    /// locked until the transaction ends (PostgreSQL `FOR UPDATE`), so that two changes of one
    /// account announce one after the other.
    fn entitlement_set(
        &mut self,
        app_id: &str,
        account_id: &str,
    ) -> impl Future<Output = Result<Option<String>, Self::Error>> + Send;
    /// The entitlement names last announced for `account_id` of `app_id`, read without a lock
    /// and without creating its row (`None`: never announced).
    fn peek_entitlement_set(
        &mut self,
        app_id: &str,
        account_id: &str,
    ) -> impl Future<Output = Result<Option<String>, Self::Error>> + Send;
    /// Store `names` as announced for `account_id` of `app_id` at `now_ms`.
    fn put_entitlement_set(
        &mut self,
        app_id: &str,
        account_id: &str,
        names: &str,
        now_ms: i64,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;
    /// Number of redemption rows.
    fn count_redemptions(&mut self) -> impl Future<Output = Result<u64, Self::Error>> + Send;
    /// Revoked rows, most recently revoked first, at most `limit`.
    fn revocations(
        &mut self,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<RevocationRow>, Self::Error>> + Send;

    // --- outbox ---

    /// Insert a pending outbox row, due at its creation.
    fn insert_delivery(
        &mut self,
        d: &NewDelivery,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;
    /// Lease up to `limit` pending rows due at `now_ms` until `lease_until_ms` (`attempts` + 1),
    /// skipping rows another transaction holds; the rows as leased.
    fn claim_deliveries(
        &mut self,
        now_ms: i64,
        lease_until_ms: i64,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Delivery>, Self::Error>> + Send;
    /// Write `update` to row `id` if it is pending under claim number `attempt`; rows changed.
    fn finish_delivery(
        &mut self,
        id: &str,
        attempt: i64,
        update: AttemptUpdate<'_>,
    ) -> impl Future<Output = Result<u64, Self::Error>> + Send;
    /// Outbox rows (in `state`, or all), newest first, at most `limit`.
    fn deliveries(
        &mut self,
        state: Option<DeliveryState>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Delivery>, Self::Error>> + Send;
    /// Failed rows (row `id`, or all) back to pending, due and aged from `now_ms`; how many.
    fn retry_deliveries(
        &mut self,
        id: Option<&str>,
        now_ms: i64,
    ) -> impl Future<Output = Result<u64, Self::Error>> + Send;
    /// Number of pending rows.
    fn count_pending(&mut self) -> impl Future<Output = Result<u64, Self::Error>> + Send;

    // --- store notifications ---

    /// Insert `n` with result `pending` unless `(store, notification_id)` exists; whether it
    /// was inserted.
    fn insert_notification(
        &mut self,
        n: &NewNotification,
    ) -> impl Future<Output = Result<bool, Self::Error>> + Send;
    /// The stored result, app and key of a recorded notification.
    fn stored_notification(
        &mut self,
        store: Store,
        notification_id: &str,
    ) -> impl Future<Output = Result<StoredNotification, Self::Error>> + Send;
    /// Store what recording `(store, notification_id)` came to.
    fn set_notification_result(
        &mut self,
        store: Store,
        notification_id: &str,
        applied: &Applied,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;
    /// Recorded notifications (of `store`, or all), newest first, at most `limit`.
    fn notifications(
        &mut self,
        store: Option<Store>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<NotificationRow>, Self::Error>> + Send;

    // --- store acknowledgements ---

    /// Lease up to `limit` pending rows due at `now_ms` until `lease_until_ms` (`attempts` + 1),
    /// skipping rows another transaction holds; the rows as leased.
    fn claim_acks(
        &mut self,
        now_ms: i64,
        lease_until_ms: i64,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Acknowledgement>, Self::Error>> + Send;
    /// Write `update` to row `id` if it is pending under claim number `attempt`; rows changed.
    fn finish_ack(
        &mut self,
        id: &str,
        attempt: i64,
        update: AttemptUpdate<'_>,
    ) -> impl Future<Output = Result<u64, Self::Error>> + Send;
    /// Acknowledgement rows (in `state`, or all), newest first, at most `limit`.
    fn acks(
        &mut self,
        state: Option<DeliveryState>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Acknowledgement>, Self::Error>> + Send;
    /// The pending rows' count and oldest purchase time.
    fn ack_backlog(&mut self) -> impl Future<Output = Result<AckBacklog, Self::Error>> + Send;
    // --- delivery reports and consent ---

    /// The application server's report row at `key`, if any.
    fn delivery_report(
        &mut self,
        key: Key<'_>,
    ) -> impl Future<Output = Result<Option<ReportRow>, Self::Error>> + Send;
    /// Write `row` as the report at `key` (insert or replace).
    fn put_delivery_report(
        &mut self,
        key: Key<'_>,
        row: &ReportRow,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;
    /// Revoked redemptions of `account_id` in `app_id` revoked from `since_ms` to `until_ms`
    /// (both included): (store name, count) per store.
    fn account_refunds(
        &mut self,
        app_id: &str,
        account_id: &str,
        since_ms: i64,
        until_ms: i64,
    ) -> impl Future<Output = Result<Vec<(String, i64)>, Self::Error>> + Send;
    /// The consent of `account_id` of `app_id`, if ever reported.
    fn consent(
        &mut self,
        app_id: &str,
        account_id: &str,
    ) -> impl Future<Output = Result<Option<bool>, Self::Error>> + Send;
    /// Store the consent of `account_id` of `app_id` (insert or replace).
    fn put_consent(
        &mut self,
        app_id: &str,
        account_id: &str,
        consented: bool,
        now_ms: i64,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    // --- refund answers ---

    /// Queue the answer to `n`'s refund request (pending, due now) unless queued.
    fn insert_refund_request(
        &mut self,
        n: &NewNotification,
        r: &NewRefundRequest,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;
    /// Lease up to `limit` pending rows due at `now_ms` until `lease_until_ms` (`attempts` + 1),
    /// skipping rows another transaction holds; the rows as leased.
    fn claim_refund_requests(
        &mut self,
        now_ms: i64,
        lease_until_ms: i64,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<RefundRequestRow>, Self::Error>> + Send;
    /// Write `state`/`next_attempt_ms`/`finished_ms`/`detail` to a pending row under claim
    /// `attempt`; rows changed.
    #[allow(clippy::too_many_arguments)]
    fn finish_refund_request(
        &mut self,
        store: Store,
        notification_id: &str,
        attempt: i64,
        state: RefundState,
        next_attempt_ms: Option<i64>,
        finished_ms: Option<i64>,
        detail: &str,
    ) -> impl Future<Output = Result<u64, Self::Error>> + Send;
    /// Rows (in `state`, or all), newest first, at most `limit`.
    fn refund_requests(
        &mut self,
        state: Option<RefundState>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<RefundRequestRow>, Self::Error>> + Send;

    // --- voided-purchases cursors ---

    /// The cursor of `package_name`.
    fn voided_cursor(
        &mut self,
        package_name: &str,
    ) -> impl Future<Output = Result<Option<i64>, Self::Error>> + Send;
    /// Store the cursor of `package_name`, never moving it backwards.
    fn set_voided_cursor(
        &mut self,
        package_name: &str,
        start_time_ms: i64,
        now_ms: i64,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;
}

/// The transaction an [`Operation`] needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Reads only (SQLite: the reader connection; PostgreSQL: autocommit).
    Read,
    /// A redemption: SQLite group-commits it with the others waiting (one savepoint each);
    /// PostgreSQL runs it in autocommit, each statement atomic by itself, so it costs no
    /// `BEGIN`/`COMMIT` round trips.
    Redeem,
    /// One write statement, atomic by itself (SQLite: its own `BEGIN IMMEDIATE` on the writer
    /// thread; PostgreSQL: autocommit, no `BEGIN`/`COMMIT` round trips).
    Single,
    /// A read-decide-write transaction (SQLite: `BEGIN IMMEDIATE` on the writer thread;
    /// PostgreSQL: `BEGIN … COMMIT`).
    Write,
}

/// One ledger operation, written once over [`Tx`]; run by a [`Database`] in a transaction of
/// [`Operation::ACCESS`], possibly more than once (PostgreSQL retries serialization failures),
/// so [`Operation::run`] takes `&self`.
pub trait Operation: Send + Sync + 'static {
    /// What it answers.
    type Output: Send + 'static;
    /// The transaction it needs.
    const ACCESS: Access;
    /// Run it inside `tx`.
    fn run<T: Tx>(&self, tx: &mut T)
        -> impl Future<Output = Result<Self::Output, T::Error>> + Send;
    /// Its answer from reads alone, when the rows read show that running it would write
    /// nothing (`None`: run it). A backend whose writes queue behind one writer (SQLite) may
    /// call this first, outside any write transaction. By default there is no such answer.
    fn settle<T: Tx>(
        &self,
        _tx: &mut T,
    ) -> impl Future<Output = Result<Option<Self::Output>, T::Error>> + Send {
        std::future::ready(Ok(None))
    }
}

/// A ledger backend: SQL ([`Tx`]) and connections. Everything else (the public traits) is
/// implemented once for every backend.
pub trait Database: Send + Sync + std::fmt::Debug {
    /// Run `op` in one transaction of its [`Access`]; resolves after the commit.
    fn execute<O: Operation>(&self, op: O) -> BoxFuture<'_, Result<O::Output, LedgerError>>;
}
