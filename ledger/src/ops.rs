//! Every ledger operation, written once over [`Tx`], and the public traits implemented once for
//! every [`Database`] by running them.
//!
//! An operation reads rows, lets `decision.rs` decide on them, and writes what the decision
//! says, all inside the one transaction its backend gives it. Nothing here knows SQL.

use payseal_protocol::{RefundCounts, RefundHistoryClaim, Store};

use crate::acks::{AckBacklog, Acknowledgement, Acknowledgements, NewAck};
use crate::consumption::{
    decide_report, merge_report, DeliveryReport, DeliveryReports, Evidence, RefundHistory,
    ReportOutcome,
};
use crate::entitlements::{self, ProductNames, SharedProductNames};
use crate::event::{
    decide_reversal, decide_revocation, Cause, EventKeys, Reversal, Revocation, Revoker, RowState,
};
use crate::notifications::{
    Applied, Effect, NewNotification, NotificationLog, NotificationResult, NotificationRow,
    Recorded, RevocationRow, SubscriptionAnswer, Target, TargetApp,
};
use crate::outbox::{AttemptResult, Delivery, DeliveryState, NewDelivery, Outbox, OutboxFilter};
use crate::refunds::{RefundAttempt, RefundRequestRow, RefundRequests, RefundState};
use crate::tx::{Access, AttemptUpdate, Database, Key, Operation, RedeemStep, Tx};
use crate::{
    chain_expiry, classify, classify_revocation, classify_transfer, decide_subscription_update,
    notice, repeat_writes, settled_by_read, BoxFuture, LedgerError, OwnedPurchase, RedeemOutcome,
    RedemptionRequest, RedemptionRow, Redemptions, RevocationRequest, RevokeOutcome,
    SubscriptionChange, TransferOutcome, TransferRequest, VoidedCursors,
};

impl RedemptionRequest {
    /// The key of the row this request concerns.
    pub fn key(&self) -> Key<'_> {
        Key {
            store: self.store,
            app_id: &self.app_id,
            transaction_key: &self.transaction_key,
        }
    }
}

impl RevocationRequest {
    /// The key of the row this request concerns.
    pub fn key(&self) -> Key<'_> {
        Key {
            store: self.store,
            app_id: &self.app_id,
            transaction_key: &self.transaction_key,
        }
    }
}

/// Redeem: insert the row if nobody has it (with the `purchase.paid` row and the store
/// acknowledgement row, atomically), else read who has it and let [`classify`] decide; a repeat
/// moves `last_seen_ms` and the chain's expiry forward when [`repeat_writes`] says so.
pub(crate) async fn redeem<T: Tx>(
    tx: &mut T,
    r: &RedemptionRequest,
    delivery: Option<&NewDelivery>,
    ack: Option<&NewAck>,
) -> Result<RedeemOutcome, T::Error> {
    match tx.redeem_row(r, delivery, ack).await? {
        RedeemStep::Inserted => return Ok(RedeemOutcome::First),
        // Read (and, when it is the owner's and not revoked, touched) in the same statement.
        RedeemStep::Read(existing) => return Ok(classify(Some(&existing), &r.account_id)),
        RedeemStep::Exists => {}
    }
    // The key exists (on PostgreSQL: the inserting transaction has committed); its row decides.
    // Only a refusal row is ever deleted (a reversed refund): then the redemption is retried.
    let existing = tx
        .redemption(r.key(), false)
        .await?
        .ok_or(LedgerError::RowVanished)?;
    let outcome = classify(Some(&existing), &r.account_id);
    if outcome == RedeemOutcome::Repeat && repeat_writes(&existing, r.now_ms, r.expires_at_ms) {
        let expires_at_ms = chain_expiry(existing.expires_at_ms, r.expires_at_ms);
        tx.touch_redemption(r, expires_at_ms).await?;
    }
    Ok(outcome)
}

/// Transfer: read the row locked, let [`classify_transfer`] decide, move it and enqueue its
/// `purchase.transferred` row.
async fn transfer<T: Tx>(
    tx: &mut T,
    r: &TransferRequest,
    delivery: Option<&NewDelivery>,
) -> Result<TransferOutcome, T::Error> {
    let key = Key {
        store: r.store,
        app_id: &r.app_id,
        transaction_key: &r.transaction_key,
    };
    let existing = tx.redemption(key, true).await?;
    let outcome = classify_transfer(existing.as_ref(), &r.from_account);
    if outcome == TransferOutcome::Transferred {
        if tx
            .move_redemption(key, &r.from_account, &r.to_account, r.now_ms)
            .await?
            != 1
        {
            return Err(LedgerError::Schema(
                "redemption row changed under its lock during a transfer".into(),
            )
            .into());
        }
        if let Some(d) = delivery {
            tx.insert_delivery(d).await?;
        }
    }
    Ok(outcome)
}

/// Revoke: read the row locked, let [`classify_revocation`] decide, mark it and (`notify`)
/// enqueue its `purchase.revoked` row.
async fn revoke<T: Tx>(
    tx: &mut T,
    r: &RevocationRequest,
    notify: bool,
) -> Result<RevokeOutcome, T::Error> {
    let existing = tx.redemption(r.key(), true).await?;
    let outcome = classify_revocation(existing.as_ref());
    if let (RevokeOutcome::Revoked, Some(row)) = (outcome, &existing) {
        if tx.mark_revoked(r.key(), r.now_ms, &r.reason).await? != 1 {
            return Err(LedgerError::Schema(
                "redemption row changed under its lock during a revocation".into(),
            )
            .into());
        }
        if notify {
            tx.insert_delivery(&notice::revoked(r, row)?).await?;
        }
    }
    Ok(outcome)
}

/// Compare the names `account_id` of `app_id` holds now with the set last announced (read
/// locked); when they differ, store the new set and enqueue its `entitlements.changed` row.
/// Whether they differed. Never for a refusal row's empty owner.
async fn refresh_set<T: Tx>(
    tx: &mut T,
    app_id: &str,
    account_id: &str,
    products: &ProductNames,
    now_ms: i64,
    cause: &str,
) -> Result<bool, T::Error> {
    if account_id == crate::UNREDEEMED_ACCOUNT {
        return Ok(false);
    }
    let before = entitlements::parse(tx.entitlement_set(app_id, account_id).await?.as_deref());
    let rows = tx.owned(app_id, account_id).await?;
    let after = entitlements::held(products, &rows, now_ms);
    let Some(change) = entitlements::diff(&before, &after) else {
        return Ok(false);
    };
    tx.put_entitlement_set(app_id, account_id, &entitlements::stored(&after), now_ms)
        .await?;
    let row = notice::entitlements_changed(app_id, account_id, &change, cause, now_ms)?;
    tx.insert_delivery(&row).await?;
    Ok(true)
}

/// [`refresh_set`] for the owner of a row a store event changed, when `app` announces changes.
async fn refresh_owner<T: Tx>(
    tx: &mut T,
    app: &TargetApp,
    owner: &str,
    now_ms: i64,
    cause: &str,
) -> Result<(), T::Error> {
    if let Some(products) = &app.entitlements {
        refresh_set(tx, &app.app_id, owner, products, now_ms, cause).await?;
    }
    Ok(())
}

/// The first of `keys` with a row of `app`, locked, in order (the transaction, then its chain).
async fn find_row<'k, T: Tx>(
    tx: &mut T,
    store: Store,
    app: &TargetApp,
    keys: &'k EventKeys,
) -> Result<Option<(&'k str, RedemptionRow)>, T::Error> {
    for key in keys.all() {
        let at = Key {
            store,
            app_id: &app.app_id,
            transaction_key: key,
        };
        if let Some(row) = tx.redemption(at, true).await? {
            return Ok(Some((key, row)));
        }
    }
    Ok(None)
}

/// The result that speaks for several rows: the one that changed most.
fn stronger(a: Applied, b: Applied) -> Applied {
    let rank = |r: NotificationResult| match r {
        NotificationResult::Revoked
        | NotificationResult::Reinstated
        | NotificationResult::SubscriptionUpdated => 4,
        NotificationResult::RevokedBeforeRedemption | NotificationResult::StillRevoked => 3,
        NotificationResult::AlreadyRevoked | NotificationResult::SubscriptionUnchanged => 2,
        _ => 1,
    };
    if rank(b.result) > rank(a.result) {
        b
    } else {
        a
    }
}

/// A revocation by `t.by` of the transaction `t.keys`, app by app ([`decide_revocation`]); the
/// cause is recorded on every row it concerns.
async fn apply_revocation<T: Tx>(
    tx: &mut T,
    n: &NewNotification,
    t: &Target,
) -> Result<Applied, T::Error> {
    let cause = Cause::new(t.by, t.keys.transaction.clone());
    let mut found_any = false;
    let mut applied: Option<Applied> = None;
    let mut unredeemed = Vec::new();
    for app in &t.apps {
        let Some((key, row)) = find_row(tx, n.store, app, &t.keys).await? else {
            unredeemed.push(app);
            continue;
        };
        found_any = true;
        let at = Key {
            store: n.store,
            app_id: &app.app_id,
            transaction_key: key,
        };
        let result = match decide_revocation(RowState::of(Some(&row)), t.refuse_unredeemed) {
            Revocation::Revoke => {
                let outcome = revoke(tx, &t.request(n, app, key), app.notify).await?;
                if outcome == RevokeOutcome::Revoked {
                    refresh_owner(tx, app, &row.account_id, n.received_ms, "revocation").await?;
                }
                Applied::revoked(outcome, app, key)
            }
            _ => Applied::at(NotificationResult::AlreadyRevoked, app, key),
        };
        tx.insert_cause(at, &cause, &n.notification_id, n.received_ms)
            .await?;
        applied = Some(match applied {
            None => result,
            Some(a) => stronger(a, result),
        });
    }
    if found_any {
        // Apps with no row of a transaction another app redeemed: nothing to refuse there.
        return Ok(applied.unwrap_or_else(|| Applied::recorded(n)));
    }
    // Nobody redeemed it.
    let Some((first_app, first_key)) = t.first() else {
        return Ok(Applied::recorded(n));
    };
    if decide_revocation(RowState::Absent, t.refuse_unredeemed) == Revocation::NotRedeemed {
        return Ok(Applied::at(
            NotificationResult::NotRedeemed,
            first_app,
            first_key,
        ));
    }
    // Refusal rows under every key, for every app. A redemption committed meanwhile (racing
    // this refund on PostgreSQL) wins its key, and is then revoked here.
    let mut applied = Applied::at(
        NotificationResult::RevokedBeforeRedemption,
        first_app,
        first_key,
    );
    for app in unredeemed {
        for key in t.keys.all() {
            let at = Key {
                store: n.store,
                app_id: &app.app_id,
                transaction_key: key,
            };
            if !tx
                .insert_refusal(at, &t.product_id, n.received_ms, &t.reason)
                .await?
            {
                let request = t.request(n, app, key);
                if revoke(tx, &request, app.notify).await? == RevokeOutcome::Revoked {
                    applied = Applied::revoked(RevokeOutcome::Revoked, app, key);
                }
            }
            tx.insert_cause(at, &cause, &n.notification_id, n.received_ms)
                .await?;
        }
    }
    Ok(applied)
}

/// A store's reversal of its refund of the transaction `t.keys`, app by app, row by row
/// ([`decide_reversal`]): never another app's row, never another cause.
async fn apply_reversal<T: Tx>(
    tx: &mut T,
    n: &NewNotification,
    t: &Target,
) -> Result<Applied, T::Error> {
    let reversed = Cause::new(Revoker::Store(n.store), t.keys.transaction.clone());
    let mut applied: Option<Applied> = None;
    for app in &t.apps {
        for key in t.keys.all() {
            let at = Key {
                store: n.store,
                app_id: &app.app_id,
                transaction_key: key,
            };
            let Some(row) = tx.redemption(at, true).await? else {
                continue;
            };
            let standing = tx.causes(at).await?;
            let decision = decide_reversal(RowState::of(Some(&row)), &standing, &reversed);
            if decision.removes_cause() {
                tx.delete_cause(at, &reversed).await?;
            }
            let result = match decision {
                Reversal::Reinstate => {
                    let request = t.request(n, app, key);
                    tx.clear_revocation(at).await?;
                    if app.notify {
                        tx.insert_delivery(&notice::reinstated(&request, &row)?)
                            .await?;
                    }
                    refresh_owner(tx, app, &row.account_id, n.received_ms, "reinstatement").await?;
                    NotificationResult::Reinstated
                }
                Reversal::RemoveRefusal => {
                    tx.delete_refusal(at).await?;
                    NotificationResult::Reinstated
                }
                Reversal::StillRevoked => NotificationResult::StillRevoked,
                Reversal::Nothing => NotificationResult::NotReinstated,
            };
            let result = Applied::at(result, app, key);
            applied = Some(match applied {
                None => result,
                Some(a) => stronger(a, result),
            });
        }
    }
    match applied {
        Some(a) => Ok(a),
        None => Ok(match t.first() {
            Some((app, key)) => Applied::at(NotificationResult::NotReinstated, app, key),
            None => Applied::recorded(n),
        }),
    }
}

/// A store's answer about a subscription chain, app by app: the chain's row (under its lock)
/// takes it when [`decide_subscription_update`] says it is newer, and a change enqueues its
/// `subscription.updated` row. A chain nobody redeemed here changes nothing (`recorded`).
async fn apply_subscription<T: Tx>(
    tx: &mut T,
    n: &NewNotification,
    target: &Target,
    answer: &SubscriptionAnswer,
) -> Result<Applied, T::Error> {
    let mut applied = Applied::recorded(n);
    for app in &target.apps {
        let Some((key, row)) = find_row(tx, n.store, app, &target.keys).await? else {
            continue;
        };
        if row.is_refusal() {
            continue;
        }
        let at = Key {
            store: n.store,
            app_id: &app.app_id,
            transaction_key: key,
        };
        let result = match decide_subscription_update(&row, answer) {
            SubscriptionChange::Stale => NotificationResult::SubscriptionUnchanged,
            SubscriptionChange::Same => {
                tx.set_subscription(at, answer).await?;
                NotificationResult::SubscriptionUnchanged
            }
            SubscriptionChange::Changed => {
                tx.set_subscription(at, answer).await?;
                if app.notify {
                    let cause = n.notification_type.as_str();
                    let row_notice = notice::subscription_updated(
                        n.store,
                        &app.app_id,
                        key,
                        &row,
                        answer,
                        cause,
                    )?;
                    tx.insert_delivery(&row_notice).await?;
                }
                refresh_owner(tx, app, &row.account_id, answer.checked_ms, "subscription").await?;
                NotificationResult::SubscriptionUpdated
            }
        };
        applied = stronger(applied, Applied::at(result, app, key));
    }
    Ok(applied)
}

/// The effect of one notification, inside its transaction (see [`crate::notifications`]).
async fn apply_effect<T: Tx>(
    tx: &mut T,
    n: &NewNotification,
    effect: &Effect,
) -> Result<Applied, T::Error> {
    if let Effect::UpdateSubscription(target, answer) = effect {
        return apply_subscription(tx, n, target, answer).await;
    }
    if let Effect::AnswerRefund(r) = effect {
        tx.insert_refund_request(n, r).await?;
        return Ok(Applied::recorded(n));
    }
    match effect.work(n) {
        Err(done) => Ok(done),
        Ok(work) if work.revoke => apply_revocation(tx, n, work.target).await,
        Ok(work) => apply_reversal(tx, n, work.target).await,
    }
}

/// Record a notification unless seen (then answer the stored result), apply its effect, store
/// what it came to.
async fn record_notification<T: Tx>(
    tx: &mut T,
    n: &NewNotification,
    effect: &Effect,
) -> Result<Recorded, T::Error> {
    // On PostgreSQL a second instance recording the same notification waits here for the
    // first one's commit, then inserts nothing and reads what the first one stored.
    if !tx.insert_notification(n).await? {
        let stored = tx.stored_notification(n.store, &n.notification_id).await?;
        return Ok(stored.into_duplicate()?);
    }
    let applied = apply_effect(tx, n, effect).await?;
    tx.set_notification_result(n.store, &n.notification_id, &applied)
        .await?;
    Ok(applied.into_recorded())
}

/// How an attempt's result is written ([`Tx::finish_delivery`]).
fn attempt_update(result: &AttemptResult) -> AttemptUpdate<'_> {
    match result {
        AttemptResult::Delivered { at_ms } => AttemptUpdate {
            state: DeliveryState::Delivered,
            next_attempt_ms: None,
            finished_ms: Some(*at_ms),
            last_error: None,
        },
        AttemptResult::Retry {
            next_attempt_ms,
            error,
        } => AttemptUpdate {
            state: DeliveryState::Pending,
            next_attempt_ms: Some(*next_attempt_ms),
            finished_ms: None,
            last_error: Some(error),
        },
        AttemptResult::Failed { at_ms, error } => AttemptUpdate {
            state: DeliveryState::Failed,
            next_attempt_ms: None,
            finished_ms: Some(*at_ms),
            last_error: Some(error),
        },
    }
}

/// Defines an [`Operation`]: its struct (the inputs), output, access and body (`$tx`, `$op`).
macro_rules! operation {
    ($(#[$doc:meta])* $name:ident { $($field:ident: $ty:ty),* $(,)? } -> $out:ty, $access:expr,
     |$op:ident, $tx:ident| $body:expr) => {
        $(#[$doc])*
        pub(crate) struct $name { $(pub(crate) $field: $ty),* }

        impl Operation for $name {
            type Output = $out;
            const ACCESS: Access = $access;
            #[allow(clippy::manual_async_fn)]
            fn run<T: Tx>(
                &self,
                $tx: &mut T,
            ) -> impl std::future::Future<Output = Result<$out, T::Error>> + Send {
                let $op = self;
                async move { $body }
            }
        }
    };
}

/// [`Redemptions::redeem_and_notify`] and [`Acknowledgements::redeem_and_acknowledge`]: one
/// redemption, its outbox row and its store acknowledgement row inserted together (on
/// PostgreSQL in the one statement of the redemption, so one round trip). Settled by a read
/// alone ([`settled_by_read`]) when the row exists and the presentation writes nothing.
pub(crate) struct Redeem {
    pub(crate) request: RedemptionRequest,
    pub(crate) delivery: Option<NewDelivery>,
    pub(crate) ack: Option<NewAck>,
}

impl Operation for Redeem {
    type Output = RedeemOutcome;
    const ACCESS: Access = Access::Redeem;

    #[allow(clippy::manual_async_fn)]
    fn run<T: Tx>(
        &self,
        tx: &mut T,
    ) -> impl std::future::Future<Output = Result<RedeemOutcome, T::Error>> + Send {
        async move { redeem(tx, &self.request, self.delivery.as_ref(), self.ack.as_ref()).await }
    }

    #[allow(clippy::manual_async_fn)]
    fn settle<T: Tx>(
        &self,
        tx: &mut T,
    ) -> impl std::future::Future<Output = Result<Option<RedeemOutcome>, T::Error>> + Send {
        async move {
            let r = &self.request;
            let existing = tx.redemption(r.key(), false).await?;
            Ok(settled_by_read(
                existing.as_ref(),
                &r.account_id,
                r.now_ms,
                r.expires_at_ms,
            ))
        }
    }
}

operation!(
    /// [`Acknowledgements::claim_acks`]: oldest purchase first.
    ClaimAcks { now_ms: i64, lease_until_ms: i64, limit: u32 } -> Vec<Acknowledgement>,
    Access::Single,
    |op, tx| {
        let mut rows = tx.claim_acks(op.now_ms, op.lease_until_ms, op.limit).await?;
        rows.sort_by(|a, b| (a.purchased_ms, &a.id).cmp(&(b.purchased_ms, &b.id)));
        Ok(rows)
    }
);
operation!(
    /// [`Acknowledgements::finish_ack`]: fenced by the claim number.
    FinishAck { id: String, attempt: i64, result: AttemptResult } -> bool, Access::Single,
    |op, tx| Ok(tx.finish_ack(&op.id, op.attempt, attempt_update(&op.result)).await? == 1)
);
operation!(
    /// [`Acknowledgements::list_acks`].
    ListAcks { filter: OutboxFilter, limit: u32 } -> Vec<Acknowledgement>, Access::Read,
    |op, tx| {
        let state = match op.filter {
            OutboxFilter::All => None,
            OutboxFilter::State(state) => Some(state),
        };
        tx.acks(state, op.limit).await
    }
);
operation!(
    /// [`Acknowledgements::ack_backlog`].
    GetAckBacklog {} -> AckBacklog, Access::Read, |_op, tx| tx.ack_backlog().await
);
operation!(
    /// [`Redemptions::revoke`].
    Revoke { request: RevocationRequest, notify: bool } -> RevokeOutcome, Access::Write,
    |op, tx| revoke(tx, &op.request, op.notify).await
);
operation!(
    /// [`Redemptions::ready`].
    Ping {} -> (), Access::Read, |_op, tx| tx.ping().await
);
operation!(
    /// [`Redemptions::find`].
    Find { store: Store, app_id: String, transaction_key: String } -> Option<RedemptionRow>,
    Access::Read,
    |op, tx| {
        let key = Key { store: op.store, app_id: &op.app_id, transaction_key: &op.transaction_key };
        tx.redemption(key, false).await
    }
);
operation!(
    /// [`Redemptions::transfer`].
    Transfer { request: TransferRequest, delivery: Option<NewDelivery> } -> TransferOutcome,
    Access::Write,
    |op, tx| transfer(tx, &op.request, op.delivery.as_ref()).await
);
operation!(
    /// [`Redemptions::owned`].
    Owned { app_id: String, account_id: String } -> Vec<OwnedPurchase>, Access::Read,
    |op, tx| tx.owned(&op.app_id, &op.account_id).await
);
operation!(
    /// [`Redemptions::refresh_entitlements`]'s first look, without a lock or a write: whether
    /// the names held now are the set last announced (then nothing is to be done).
    EntitlementsUnchanged {
        app_id: String, account_id: String, products: SharedProductNames, now_ms: i64
    } -> bool,
    Access::Read,
    |op, tx| {
        let stored = tx.peek_entitlement_set(&op.app_id, &op.account_id).await?;
        let rows = tx.owned(&op.app_id, &op.account_id).await?;
        let held = entitlements::held(&op.products, &rows, op.now_ms);
        Ok(entitlements::diff(&entitlements::parse(stored.as_deref()), &held).is_none())
    }
);
operation!(
    /// [`Redemptions::refresh_entitlements`].
    RefreshEntitlements {
        app_id: String, account_id: String, products: SharedProductNames, now_ms: i64, cause: String
    } -> bool,
    Access::Write,
    |op, tx| refresh_set(tx, &op.app_id, &op.account_id, &op.products, op.now_ms, &op.cause).await
);
operation!(
    /// [`Redemptions::count_redemptions`].
    CountRedemptions {} -> u64, Access::Read, |_op, tx| tx.count_redemptions().await
);
operation!(
    /// [`NotificationLog::record_notification`].
    RecordNotification { notification: NewNotification, effect: Effect } -> Recorded,
    Access::Write,
    |op, tx| record_notification(tx, &op.notification, &op.effect).await
);
operation!(
    /// [`NotificationLog::list_notifications`].
    ListNotifications { store: Option<Store>, limit: u32 } -> Vec<NotificationRow>, Access::Read,
    |op, tx| tx.notifications(op.store, op.limit).await
);
operation!(
    /// [`NotificationLog::list_revocations`].
    ListRevocations { limit: u32 } -> Vec<RevocationRow>, Access::Read,
    |op, tx| tx.revocations(op.limit).await
);
operation!(
    /// [`Outbox::claim_due`]: oldest first (sorted here: an `UPDATE … RETURNING` has no order).
    ClaimDue { now_ms: i64, lease_until_ms: i64, limit: u32 } -> Vec<Delivery>, Access::Single,
    |op, tx| {
        let mut rows = tx.claim_deliveries(op.now_ms, op.lease_until_ms, op.limit).await?;
        rows.sort_by(|a, b| (a.created_ms, &a.id).cmp(&(b.created_ms, &b.id)));
        Ok(rows)
    }
);
operation!(
    /// [`Outbox::finish_attempt`]: fenced by the claim number.
    FinishAttempt { id: String, attempt: i64, result: AttemptResult } -> bool, Access::Single,
    |op, tx| Ok(tx.finish_delivery(&op.id, op.attempt, attempt_update(&op.result)).await? == 1)
);
operation!(
    /// [`Outbox::list_deliveries`].
    ListDeliveries { filter: OutboxFilter, limit: u32 } -> Vec<Delivery>, Access::Read,
    |op, tx| {
        let state = match op.filter {
            OutboxFilter::All => None,
            OutboxFilter::State(state) => Some(state),
        };
        tx.deliveries(state, op.limit).await
    }
);
operation!(
    /// [`Outbox::retry_failed`].
    RetryFailed { id: Option<String>, now_ms: i64 } -> u64, Access::Single,
    |op, tx| tx.retry_deliveries(op.id.as_deref(), op.now_ms).await
);
operation!(
    /// [`Outbox::count_pending`].
    CountPending {} -> u64, Access::Read, |_op, tx| tx.count_pending().await
);
operation!(
    /// [`VoidedCursors::voided_cursor`].
    GetCursor { package_name: String } -> Option<i64>, Access::Read,
    |op, tx| tx.voided_cursor(&op.package_name).await
);
operation!(
    /// [`VoidedCursors::set_voided_cursor`].
    SetCursor { package_name: String, start_time_ms: i64, now_ms: i64 } -> (), Access::Single,
    |op, tx| tx.set_voided_cursor(&op.package_name, op.start_time_ms, op.now_ms).await
);

operation!(
    /// [`DeliveryReports::report_delivery`]: the redemption row read locked, the report decided
    /// on it ([`decide_report`]) and merged with the stored one ([`merge_report`]).
    ReportDelivery { report: DeliveryReport } -> ReportOutcome, Access::Write,
    |op, tx| {
        let r = &op.report;
        let row = tx.redemption(r.key(), true).await?;
        let outcome = decide_report(row.as_ref(), r);
        if outcome == ReportOutcome::Recorded {
            let old = tx.delivery_report(r.key()).await?;
            tx.put_delivery_report(r.key(), &merge_report(old.as_ref(), r)).await?;
        }
        Ok(outcome)
    }
);
operation!(
    /// [`DeliveryReports::set_consent`].
    SetConsent { app_id: String, account_id: String, consented: bool, now_ms: i64 } -> (),
    Access::Single,
    |op, tx| tx.put_consent(&op.app_id, &op.account_id, op.consented, op.now_ms).await
);
operation!(
    /// [`DeliveryReports::evidence`].
    ReadEvidence { store: Store, app_id: String, transaction_key: String } -> Option<Evidence>,
    Access::Read,
    |op, tx| {
        let key = Key { store: op.store, app_id: &op.app_id, transaction_key: &op.transaction_key };
        let Some(redemption) = tx.redemption(key, false).await? else {
            return Ok(None);
        };
        let report = tx.delivery_report(key).await?;
        let consent = tx.consent(&op.app_id, &redemption.account_id).await?;
        Ok(Some(Evidence { redemption, report, consent }))
    }
);

operation!(
    /// [`RefundRequests::claim_refund_requests`]: oldest deadline first.
    ClaimRefunds { now_ms: i64, lease_until_ms: i64, limit: u32 } -> Vec<RefundRequestRow>,
    Access::Single,
    |op, tx| {
        let mut rows = tx.claim_refund_requests(op.now_ms, op.lease_until_ms, op.limit).await?;
        rows.sort_by(|a, b| (a.deadline_ms, &a.notification_id).cmp(&(b.deadline_ms, &b.notification_id)));
        Ok(rows)
    }
);
operation!(
    /// [`RefundRequests::finish_refund_request`]: fenced by the claim number.
    FinishRefund { store: Store, notification_id: String, attempt: i64, result: RefundAttempt } -> bool,
    Access::Single,
    |op, tx| {
        let (state, next, finished, detail) = match &op.result {
            RefundAttempt::Done { state, at_ms, detail } => (*state, None, Some(*at_ms), detail.as_str()),
            RefundAttempt::Retry { next_attempt_ms, error } => {
                (RefundState::Pending, Some(*next_attempt_ms), None, error.as_str())
            }
        };
        Ok(tx
            .finish_refund_request(op.store, &op.notification_id, op.attempt, state, next, finished, detail)
            .await?
            == 1)
    }
);
operation!(
    /// [`RefundRequests::list_refund_requests`].
    ListRefunds { state: Option<RefundState>, limit: u32 } -> Vec<RefundRequestRow>, Access::Read,
    |op, tx| tx.refund_requests(op.state, op.limit).await
);

impl<B: Database> RefundRequests for B {
    fn claim_refund_requests(
        &self,
        now_ms: i64,
        lease_until_ms: i64,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<RefundRequestRow>, LedgerError>> {
        self.execute(ClaimRefunds {
            now_ms,
            lease_until_ms,
            limit,
        })
    }

    fn finish_refund_request<'a>(
        &'a self,
        store: Store,
        notification_id: &'a str,
        attempt: i64,
        result: RefundAttempt,
    ) -> BoxFuture<'a, Result<bool, LedgerError>> {
        self.execute(FinishRefund {
            store,
            notification_id: notification_id.to_string(),
            attempt,
            result,
        })
    }

    fn list_refund_requests(
        &self,
        state: Option<RefundState>,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<RefundRequestRow>, LedgerError>> {
        self.execute(ListRefunds { state, limit })
    }
}

operation!(
    /// [`DeliveryReports::refund_history`].
    ReadRefundHistory { app_id: String, account_id: String, since_ms: i64 } -> RefundHistory,
    Access::Read,
    |op, tx| {
        let rows = tx.account_refunds(&op.app_id, &op.account_id, op.since_ms, i64::MAX).await?;
        let mut by_store = Vec::new();
        for (store, n) in rows {
            let store = crate::refunds::store_named(&store)
                .ok_or_else(|| LedgerError::Schema(format!("unknown store {store:?}")))?;
            by_store.push((store, u64::try_from(n).unwrap_or(0)));
        }
        by_store.sort_by_key(|(s, _)| s.as_str());
        Ok(RefundHistory { by_store })
    }
);

operation!(
    /// [`DeliveryReports::account_refund_history`]: one indexed count per period (the partial
    /// index `payseal_redemptions_account_refunds`), in one read transaction.
    ReadAccountRefundHistory { app_id: String, account_id: String, now_ms: i64 } -> RefundHistoryClaim,
    Access::Read,
    |op, tx| {
        let day = 86_400_000i64;
        let [short, long] = RefundCounts::PERIOD_DAYS.map(|d| op.now_ms - i64::from(d) * day);
        let mut periods: Vec<Vec<(String, i64)>> = Vec::new();
        for since in [short, long, i64::MIN] {
            let rows = tx.account_refunds(&op.app_id, &op.account_id, since, op.now_ms).await?;
            periods.push(rows);
        }
        Ok(crate::consumption::refund_history_claim(&periods)?)
    }
);

impl<B: Database> DeliveryReports for B {
    fn account_refund_history<'a>(
        &'a self,
        app_id: &'a str,
        account_id: &'a str,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<RefundHistoryClaim, LedgerError>> {
        self.execute(ReadAccountRefundHistory {
            app_id: app_id.to_string(),
            account_id: account_id.to_string(),
            now_ms,
        })
    }

    fn refund_history<'a>(
        &'a self,
        app_id: &'a str,
        account_id: &'a str,
        since_ms: i64,
    ) -> BoxFuture<'a, Result<RefundHistory, LedgerError>> {
        self.execute(ReadRefundHistory {
            app_id: app_id.to_string(),
            account_id: account_id.to_string(),
            since_ms,
        })
    }

    fn report_delivery(
        &self,
        report: DeliveryReport,
    ) -> BoxFuture<'_, Result<ReportOutcome, LedgerError>> {
        self.execute(ReportDelivery { report })
    }

    fn set_consent<'a>(
        &'a self,
        app_id: &'a str,
        account_id: &'a str,
        consented: bool,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<(), LedgerError>> {
        self.execute(SetConsent {
            app_id: app_id.to_string(),
            account_id: account_id.to_string(),
            consented,
            now_ms,
        })
    }

    fn evidence<'a>(
        &'a self,
        store: Store,
        app_id: &'a str,
        transaction_key: &'a str,
    ) -> BoxFuture<'a, Result<Option<Evidence>, LedgerError>> {
        self.execute(ReadEvidence {
            store,
            app_id: app_id.to_string(),
            transaction_key: transaction_key.to_string(),
        })
    }
}

impl<B: Database> Redemptions for B {
    fn redeem(
        &self,
        request: RedemptionRequest,
    ) -> BoxFuture<'_, Result<RedeemOutcome, LedgerError>> {
        self.execute(Redeem {
            request,
            delivery: None,
            ack: None,
        })
    }

    fn redeem_and_notify(
        &self,
        request: RedemptionRequest,
        delivery: Option<NewDelivery>,
    ) -> BoxFuture<'_, Result<RedeemOutcome, LedgerError>> {
        self.execute(Redeem {
            request,
            delivery,
            ack: None,
        })
    }

    fn ready(&self) -> BoxFuture<'_, Result<(), LedgerError>> {
        self.execute(Ping {})
    }

    fn find<'a>(
        &'a self,
        store: Store,
        app_id: &'a str,
        transaction_key: &'a str,
    ) -> BoxFuture<'a, Result<Option<RedemptionRow>, LedgerError>> {
        self.execute(Find {
            store,
            app_id: app_id.to_string(),
            transaction_key: transaction_key.to_string(),
        })
    }

    fn transfer(
        &self,
        request: TransferRequest,
        delivery: Option<NewDelivery>,
    ) -> BoxFuture<'_, Result<TransferOutcome, LedgerError>> {
        self.execute(Transfer { request, delivery })
    }

    fn owned<'a>(
        &'a self,
        app_id: &'a str,
        account_id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<OwnedPurchase>, LedgerError>> {
        self.execute(Owned {
            app_id: app_id.to_string(),
            account_id: account_id.to_string(),
        })
    }

    fn count_redemptions(&self) -> BoxFuture<'_, Result<u64, LedgerError>> {
        self.execute(CountRedemptions {})
    }

    fn refresh_entitlements<'a>(
        &'a self,
        app_id: &'a str,
        account_id: &'a str,
        products: SharedProductNames,
        now_ms: i64,
        cause: &'a str,
    ) -> BoxFuture<'a, Result<bool, LedgerError>> {
        Box::pin(async move {
            // Most looks find nothing changed: answered by a read, no lock, no write. A change
            // is then decided again under the set's lock.
            let unchanged = EntitlementsUnchanged {
                app_id: app_id.to_string(),
                account_id: account_id.to_string(),
                products: products.clone(),
                now_ms,
            };
            if self.execute(unchanged).await? {
                return Ok(false);
            }
            self.execute(RefreshEntitlements {
                app_id: app_id.to_string(),
                account_id: account_id.to_string(),
                products,
                now_ms,
                cause: cause.to_string(),
            })
            .await
        })
    }

    fn revoke(
        &self,
        request: RevocationRequest,
        notify: bool,
    ) -> BoxFuture<'_, Result<RevokeOutcome, LedgerError>> {
        self.execute(Revoke { request, notify })
    }
}

impl<B: Database> NotificationLog for B {
    fn record_notification(
        &self,
        notification: NewNotification,
        effect: Effect,
    ) -> BoxFuture<'_, Result<Recorded, LedgerError>> {
        self.execute(RecordNotification {
            notification,
            effect,
        })
    }

    fn list_notifications(
        &self,
        store: Option<Store>,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<NotificationRow>, LedgerError>> {
        self.execute(ListNotifications { store, limit })
    }

    fn list_revocations(
        &self,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<RevocationRow>, LedgerError>> {
        self.execute(ListRevocations { limit })
    }
}

impl<B: Database> Outbox for B {
    fn claim_due(
        &self,
        now_ms: i64,
        lease_until_ms: i64,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<Delivery>, LedgerError>> {
        self.execute(ClaimDue {
            now_ms,
            lease_until_ms,
            limit,
        })
    }

    fn finish_attempt<'a>(
        &'a self,
        id: &'a str,
        attempt: i64,
        result: AttemptResult,
    ) -> BoxFuture<'a, Result<bool, LedgerError>> {
        self.execute(FinishAttempt {
            id: id.to_string(),
            attempt,
            result,
        })
    }

    fn list_deliveries(
        &self,
        filter: OutboxFilter,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<Delivery>, LedgerError>> {
        self.execute(ListDeliveries { filter, limit })
    }

    fn retry_failed<'a>(
        &'a self,
        id: Option<&'a str>,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<u64, LedgerError>> {
        self.execute(RetryFailed {
            id: id.map(str::to_string),
            now_ms,
        })
    }

    fn count_pending(&self) -> BoxFuture<'_, Result<u64, LedgerError>> {
        self.execute(CountPending {})
    }
}

impl<B: Database> VoidedCursors for B {
    fn voided_cursor<'a>(
        &'a self,
        package_name: &'a str,
    ) -> BoxFuture<'a, Result<Option<i64>, LedgerError>> {
        self.execute(GetCursor {
            package_name: package_name.to_string(),
        })
    }

    fn set_voided_cursor<'a>(
        &'a self,
        package_name: &'a str,
        start_time_ms: i64,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<(), LedgerError>> {
        self.execute(SetCursor {
            package_name: package_name.to_string(),
            start_time_ms,
            now_ms,
        })
    }
}

impl<B: Database> Acknowledgements for B {
    fn redeem_and_acknowledge(
        &self,
        request: RedemptionRequest,
        delivery: Option<NewDelivery>,
        ack: NewAck,
    ) -> BoxFuture<'_, Result<RedeemOutcome, LedgerError>> {
        self.execute(Redeem {
            request,
            delivery,
            ack: Some(ack),
        })
    }

    fn claim_acks(
        &self,
        now_ms: i64,
        lease_until_ms: i64,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<Acknowledgement>, LedgerError>> {
        self.execute(ClaimAcks {
            now_ms,
            lease_until_ms,
            limit,
        })
    }

    fn finish_ack<'a>(
        &'a self,
        id: &'a str,
        attempt: i64,
        result: AttemptResult,
    ) -> BoxFuture<'a, Result<bool, LedgerError>> {
        self.execute(FinishAck {
            id: id.to_string(),
            attempt,
            result,
        })
    }

    fn list_acks(
        &self,
        filter: OutboxFilter,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<Acknowledgement>, LedgerError>> {
        self.execute(ListAcks { filter, limit })
    }

    fn ack_backlog(&self) -> BoxFuture<'_, Result<AckBacklog, LedgerError>> {
        self.execute(GetAckBacklog {})
    }
}
