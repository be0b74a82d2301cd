//! The webhook rows a ledger change enqueues in its own transaction: `purchase.revoked` when a
//! row is revoked, `purchase.reinstated` when a store's reversed refund undoes it, `subscription.updated` when a
//! store's newer answer changes a subscription chain's state or period end, `entitlements.changed`
//! when the names an account holds changed. Their bodies
//! are made from the row as it was (its owner, product and first verdict), which only the
//! transaction knows, so the ledger makes them; callers only say whether the app has a webhook
//! (data: `notify`, [`crate::notifications::TargetApp::notify`]), never how to make them. The
//! event formats are [`payseal_protocol::webhook`]'s. (`purchase.paid` rows are the caller's:
//! their body is the verdict, known before the redemption.)

use payseal_protocol::webhook::{
    EntitlementsChangedData, Event, ReinstatedData, RevokedData, SubscriptionUpdatedData,
    ENTITLEMENTS_CHANGED, PURCHASE_REINSTATED, PURCHASE_REVOKED, SUBSCRIPTION_UPDATED,
};
use payseal_protocol::Store;
use serde::Serialize;

use crate::entitlements::SetChange;
use crate::notifications::SubscriptionAnswer;
use crate::outbox::NewDelivery;
use crate::{LedgerError, RedemptionRow, RevocationRequest};

/// An outbox row with a fresh random id (receivers deduplicate by it).
fn delivery<T: Serialize>(
    id: String,
    event_type: &str,
    app: &str,
    created_ms: i64,
    data: T,
) -> Result<NewDelivery, LedgerError> {
    let body = Event {
        id: id.clone(),
        event_type: event_type.to_string(),
        created: created_ms.div_euclid(1000),
        app: app.to_string(),
        data,
    }
    .to_body()
    .map_err(|e| LedgerError::Notice(e.to_string()))?;
    Ok(NewDelivery {
        id,
        app_id: app.to_string(),
        event_type: event_type.to_string(),
        body,
        created_ms,
    })
}

/// The `purchase.revoked` row of revoking `row` as `r` asks (a fresh random id).
pub fn revoked(r: &RevocationRequest, row: &RedemptionRow) -> Result<NewDelivery, LedgerError> {
    delivery(
        uuid::Uuid::new_v4().to_string(),
        PURCHASE_REVOKED,
        &r.app_id,
        r.now_ms,
        RevokedData {
            store: r.store,
            app: &r.app_id,
            transaction_id: &r.transaction_key,
            sub: &row.account_id,
            product_id: &row.product_id,
            first_verdict_id: &row.first_verdict_id,
            revoked_at: r.now_ms.div_euclid(1000),
            reason: &r.reason,
        },
    )
}

/// The `purchase.reinstated` row of reinstating `row` as `r` asks (a fresh random id).
pub fn reinstated(r: &RevocationRequest, row: &RedemptionRow) -> Result<NewDelivery, LedgerError> {
    delivery(
        uuid::Uuid::new_v4().to_string(),
        PURCHASE_REINSTATED,
        &r.app_id,
        r.now_ms,
        ReinstatedData {
            store: r.store,
            app: &r.app_id,
            transaction_id: &r.transaction_key,
            sub: &row.account_id,
            product_id: &row.product_id,
            first_verdict_id: &row.first_verdict_id,
            reinstated_at: r.now_ms.div_euclid(1000),
            reason: &r.reason,
        },
    )
}

/// The `subscription.updated` row of `answer` changing the chain `transaction_key` of `app`,
/// whose row was `row`; `cause` names the store event that prompted it (a fresh random id).
pub fn subscription_updated(
    store: Store,
    app: &str,
    transaction_key: &str,
    row: &RedemptionRow,
    answer: &SubscriptionAnswer,
    cause: &str,
) -> Result<NewDelivery, LedgerError> {
    delivery(
        uuid::Uuid::new_v4().to_string(),
        SUBSCRIPTION_UPDATED,
        app,
        answer.checked_ms,
        SubscriptionUpdatedData {
            store,
            app: app.to_string(),
            transaction_id: transaction_key.to_string(),
            sub: row.account_id.clone(),
            product_id: row.product_id.clone(),
            first_verdict_id: row.first_verdict_id.clone(),
            state: answer.state,
            expires_at: answer
                .expires_at_ms
                .or(row.expires_at_ms)
                .map(|ms| ms.div_euclid(1000)),
            updated_at: answer.checked_ms.div_euclid(1000),
            cause: cause.to_string(),
        },
    )
}

/// The `entitlements.changed` row of `change` to the names `account` of `app` holds, noticed
/// because of `cause` (a fresh random id).
pub fn entitlements_changed(
    app: &str,
    account: &str,
    change: &SetChange,
    cause: &str,
    now_ms: i64,
) -> Result<NewDelivery, LedgerError> {
    delivery(
        uuid::Uuid::new_v4().to_string(),
        ENTITLEMENTS_CHANGED,
        app,
        now_ms,
        EntitlementsChangedData {
            app: app.to_string(),
            sub: account.to_string(),
            entitlements: change.now.clone(),
            added: change.added.clone(),
            removed: change.removed.clone(),
            cause: cause.to_string(),
            changed_at: now_ms,
        },
    )
}
