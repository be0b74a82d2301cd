//! The ledger's record of store notifications (store-neutral): its rows, what a notification
//! asks the ledger to change, and the storage trait every ledger backend implements.
//!
//! One row per `(store, notification_id)`. [`NotificationLog::record_notification`] inserts the
//! row and applies the notification's [`Effect`] **in one transaction**: a notification seen
//! before changes nothing and answers the stored result ([`Recorded::duplicate`]), and a
//! notification is never recorded without its effect (nor the effect without the record).
//!
//! A notification is a *store event*: a refund or revocation from any source (a store's
//! notification, the Google Play voided-purchases poller, a Huawei refund checked with the
//! Order service, an operator's `payseal-verifier revoke`), identified by its source's own id.
//! Its effect is decided per row, inside that transaction, by [`crate::event`], on the rows and
//! the revocation causes read there; the row is found by either of the event's keys
//! ([`crate::event::EventKeys`]: the transaction, then its chain):
//! - [`Effect::Revoke`]: for each target app, its row is revoked (its `purchase.revoked` row
//!   enqueued when the app has a webhook, [`TargetApp::notify`]) → [`NotificationResult::Revoked`],
//!   or found revoked → [`NotificationResult::AlreadyRevoked`]; either way the revocation's
//!   [`crate::event::Cause`] (who, for which transaction) is recorded on the row. When no app
//!   has a row, a *refusal row* is recorded under every key of the event for every target app (a
//!   revoked row with no owner, [`crate::UNREDEEMED_ACCOUNT`]), so a later first presentation of
//!   the transaction or of its chain is `not_paid / revoked`
//!   ([`NotificationResult::RevokedBeforeRedemption`]); an operator's revocation of a transaction
//!   nobody redeemed records nothing ([`NotificationResult::NotRedeemed`]). A redemption that
//!   commits first is revoked instead (the primary key decides which comes first).
//! - [`Effect::Reinstate`] (a store reversed its refund of one transaction): the store's cause
//!   for that transaction is removed from the app's rows; a row with no cause left pays again (a
//!   redemption gets its revocation cleared and a `purchase.reinstated` row; this app's refusal
//!   row is deleted, the only rows the ledger ever deletes) → [`NotificationResult::Reinstated`];
//!   one with another cause standing (another refund of the chain, an operator's revocation)
//!   stays revoked → [`NotificationResult::StillRevoked`]; anything else →
//!   [`NotificationResult::NotReinstated`], nothing changed.
//! - [`Effect::Record`]: only the record → [`NotificationResult::Recorded`].
//! - [`Effect::AnswerRefund`]: the record and its refund answer queued
//!   ([`crate::refunds`]) → [`NotificationResult::Recorded`].

use payseal_protocol::Store;

use crate::event::{EventKeys, Revoker};
use crate::{BoxFuture, LedgerError, RevocationRequest, RevokeOutcome};

/// What recording a notification came to (stored as text in the `result` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NotificationResult {
    /// Nothing to change (a test, a consumption request, a type the verifier does not act on).
    Recorded,
    /// A redemption was revoked (and its `purchase.revoked` notice enqueued).
    Revoked,
    /// The redemption was revoked before; nothing changed.
    AlreadyRevoked,
    /// No redemption of the transaction: a refusal row now makes its first presentation
    /// `not_paid / revoked`.
    RevokedBeforeRedemption,
    /// A revocation the store had told of was undone (`purchase.reinstated` for a redemption).
    Reinstated,
    /// Nothing to reinstate (never revoked, or revoked by something other than the store).
    NotReinstated,
    /// The store's refund of this transaction no longer stands, but another revocation of the
    /// row does (another refund of the chain, an operator's): it stays revoked.
    StillRevoked,
    /// An operator's revocation of a transaction nobody redeemed: nothing to revoke.
    NotRedeemed,
    /// A subscription chain's state or period end was set to the store's newer answer (and its
    /// `subscription.updated` notice enqueued).
    SubscriptionUpdated,
    /// The store's answer about a subscription chain changed nothing (the same as stored, or
    /// older than the stored answer).
    SubscriptionUnchanged,
}

impl NotificationResult {
    /// Every result, for metrics.
    pub const ALL: [NotificationResult; 10] = [
        NotificationResult::Recorded,
        NotificationResult::Revoked,
        NotificationResult::AlreadyRevoked,
        NotificationResult::RevokedBeforeRedemption,
        NotificationResult::Reinstated,
        NotificationResult::NotReinstated,
        NotificationResult::StillRevoked,
        NotificationResult::NotRedeemed,
        NotificationResult::SubscriptionUpdated,
        NotificationResult::SubscriptionUnchanged,
    ];

    /// The stored text (also the metrics label and the CLI's `result`).
    pub fn as_str(self) -> &'static str {
        match self {
            NotificationResult::Recorded => "recorded",
            NotificationResult::Revoked => "revoked",
            NotificationResult::AlreadyRevoked => "already_revoked",
            NotificationResult::RevokedBeforeRedemption => "revoked_before_redemption",
            NotificationResult::Reinstated => "reinstated",
            NotificationResult::NotReinstated => "not_reinstated",
            NotificationResult::StillRevoked => "still_revoked",
            NotificationResult::NotRedeemed => "not_redeemed",
            NotificationResult::SubscriptionUpdated => "subscription_updated",
            NotificationResult::SubscriptionUnchanged => "subscription_unchanged",
        }
    }

    /// The result stored as `text`.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == text)
    }
}

/// A verified notification to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewNotification {
    /// The store that sent it.
    pub store: Store,
    /// The store's id of this notification (App Store `notificationUUID`): the idempotency key.
    pub notification_id: String,
    /// The store's type (`REFUND`, ...), as sent.
    pub notification_type: String,
    /// The store's subtype, if any.
    pub subtype: Option<String>,
    /// `production` or `sandbox`, when the notification says.
    pub environment: Option<String>,
    /// The app it concerns (the first configured app it matched).
    pub app_id: Option<String>,
    /// The transaction it concerns (App Store `transactionId`), if any.
    pub transaction_key: Option<String>,
    /// When the store signed it, Unix milliseconds.
    pub signed_ms: i64,
    /// When the verifier received it, Unix milliseconds (also the time of any change it makes).
    pub received_ms: i64,
}

/// An app a notification may concern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetApp {
    /// The app id.
    pub app_id: String,
    /// Whether the app has a webhook (then a change to its row enqueues the change's webhook
    /// row: [`crate::notice`]).
    pub notify: bool,
    /// The app's product → entitlement names, when changes of an account's names are announced
    /// (the app has entitlements and a webhook): a row this event changes then has its owner's
    /// set compared, and an `entitlements.changed` row enqueued, in the same transaction
    /// ([`crate::entitlements`]).
    pub entitlements: Option<crate::entitlements::SharedProductNames>,
}

/// The redemptions a notification may concern: every target app, every key, in order.
#[derive(Debug, Clone)]
pub struct Target {
    /// The apps (all configured apps the notification matched, in a stable order).
    pub apps: Vec<TargetApp>,
    /// The transaction's keys (its own id, its chain's): a row is looked up under each, a
    /// refusal row recorded under all.
    pub keys: EventKeys,
    /// Who revokes (a store, or an operator); a reversal is always its store's.
    pub by: Revoker,
    /// A revocation of a transaction nobody redeemed records refusal rows (a store's refund
    /// notification); otherwise it records nothing but the event (`not_redeemed`).
    pub refuse_unredeemed: bool,
    /// The product, for a refusal row.
    pub product_id: String,
    /// Why (stored with a revocation and sent in the webhook).
    pub reason: String,
}

/// What a notification asks the ledger to change.
#[derive(Debug, Clone)]
pub enum Effect {
    /// Nothing: record it.
    Record,
    /// The store refunded or revoked the purchase.
    Revoke(Target),
    /// The store reversed a refund.
    Reinstate(Target),
    /// The store's server answered about a subscription chain (its state and period end):
    /// the chain's row takes the answer when it is newer than the stored one
    /// ([`crate::decide_subscription_update`]).
    UpdateSubscription(Target, SubscriptionAnswer),
    /// The store asks the developer about a refund request: queue its answer
    /// ([`crate::refunds`]) with the record.
    AnswerRefund(crate::refunds::NewRefundRequest),
}

pub use crate::decision::SubscriptionAnswer;

/// The redemptions an effect looks at, once it is known there are some.
#[derive(Debug, Clone, Copy)]
pub struct Work<'t> {
    /// Revoke (else reinstate).
    pub revoke: bool,
    /// The target.
    pub target: &'t Target,
}

impl Effect {
    /// The work of this effect for `n`, or what it came to when there is nothing to read
    /// ([`Effect::Record`], or a target without an app or a key).
    pub fn work(&self, n: &NewNotification) -> Result<Work<'_>, Applied> {
        let (revoke, target) = match self {
            Effect::Revoke(t) => (true, t),
            Effect::Reinstate(t) => (false, t),
            Effect::Record | Effect::AnswerRefund(_) => return Err(Applied::recorded(n)),
            // Applied by its own operation (`ops::apply_subscription`), never as a revocation.
            Effect::UpdateSubscription(..) => return Err(Applied::recorded(n)),
        };
        if target.apps.is_empty() || target.keys.transaction.is_empty() {
            return Err(Applied::recorded(n));
        }
        Ok(Work { revoke, target })
    }
}

impl Target {
    /// The first app and key (where a refusal row or a miss is reported); `None` when empty.
    pub fn first(&self) -> Option<(&TargetApp, &str)> {
        self.apps
            .first()
            .map(|app| (app, self.keys.transaction.as_str()))
    }

    /// The revocation (or reinstatement) request for `(app, key)` made by `n`.
    pub fn request(&self, n: &NewNotification, app: &TargetApp, key: &str) -> RevocationRequest {
        RevocationRequest {
            store: n.store,
            app_id: app.app_id.clone(),
            transaction_key: key.to_string(),
            reason: self.reason.clone(),
            now_ms: n.received_ms,
        }
    }
}

/// What applying an effect came to, and which row it concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// The result.
    pub result: NotificationResult,
    /// The app whose row it concerned.
    pub app_id: Option<String>,
    /// The key of that row.
    pub transaction_key: Option<String>,
}

impl Applied {
    /// `result` for `(app, key)`.
    pub fn at(result: NotificationResult, app: &TargetApp, key: &str) -> Applied {
        Applied {
            result,
            app_id: Some(app.app_id.clone()),
            transaction_key: Some(key.to_string()),
        }
    }

    /// Recorded only: the notification's own app and transaction.
    pub fn recorded(n: &NewNotification) -> Applied {
        Applied {
            result: NotificationResult::Recorded,
            app_id: n.app_id.clone(),
            transaction_key: n.transaction_key.clone(),
        }
    }

    /// What a revocation of `(app, key)`'s existing row came to.
    pub fn revoked(outcome: RevokeOutcome, app: &TargetApp, key: &str) -> Applied {
        let result = match outcome {
            RevokeOutcome::Revoked => NotificationResult::Revoked,
            // The row was found under the transaction's lock: it exists.
            RevokeOutcome::AlreadyRevoked | RevokeOutcome::NotFound => {
                NotificationResult::AlreadyRevoked
            }
        };
        Applied::at(result, app, key)
    }

    /// The answer of a first recording (`duplicate: false`).
    pub fn into_recorded(self) -> Recorded {
        Recorded {
            duplicate: false,
            result: self.result,
            app_id: self.app_id,
            transaction_key: self.transaction_key,
        }
    }
}

/// A recorded notification's stored outcome, as read back (`result` as stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredNotification {
    /// The stored result text.
    pub result: String,
    /// The app it concerned.
    pub app_id: Option<String>,
    /// The key it concerned.
    pub transaction_key: Option<String>,
}

impl StoredNotification {
    /// The answer to a duplicate: the stored outcome.
    pub fn into_duplicate(self) -> Result<Recorded, LedgerError> {
        Ok(Recorded {
            duplicate: true,
            result: NotificationResult::parse(&self.result).ok_or_else(|| {
                LedgerError::Schema(format!("unknown notification result {:?}", self.result))
            })?,
            app_id: self.app_id,
            transaction_key: self.transaction_key,
        })
    }
}

/// What [`NotificationLog::record_notification`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// The notification was recorded before: nothing changed now, `result` is the stored one.
    pub duplicate: bool,
    /// The result (of this call, or the stored one for a duplicate).
    pub result: NotificationResult,
    /// The app whose row the effect concerned (the stored one for a duplicate).
    pub app_id: Option<String>,
    /// The key whose row the effect concerned (the stored one for a duplicate).
    pub transaction_key: Option<String>,
}

/// One stored notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationRow {
    /// The store.
    pub store: String,
    /// The store's notification id.
    pub notification_id: String,
    /// The store's type.
    pub notification_type: String,
    /// The store's subtype.
    pub subtype: Option<String>,
    /// `production` or `sandbox`.
    pub environment: Option<String>,
    /// The app.
    pub app_id: Option<String>,
    /// The transaction key.
    pub transaction_key: Option<String>,
    /// Signed by the store at, Unix milliseconds.
    pub signed_ms: i64,
    /// Received at, Unix milliseconds.
    pub received_ms: i64,
    /// What it came to (as stored).
    pub result: String,
}

/// One revoked transaction (a revoked redemption, or a refusal row).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevocationRow {
    /// The store.
    pub store: String,
    /// The app.
    pub app_id: String,
    /// The transaction key.
    pub transaction_key: String,
    /// The owning account; `None` for a refusal row (revoked before anyone redeemed it).
    pub account_id: Option<String>,
    /// The product.
    pub product_id: String,
    /// When it was revoked, Unix milliseconds.
    pub revoked_at_ms: i64,
    /// Why.
    pub reason: Option<String>,
}

/// The notification record as stored by a ledger backend, in the same database and
/// transactions as its redemptions and outbox.
pub trait NotificationLog: Send + Sync + std::fmt::Debug {
    /// Insert `notification` unless its `(store, notification_id)` is recorded already, and
    /// apply `effect`, in one transaction (see the module docs).
    fn record_notification(
        &self,
        notification: NewNotification,
        effect: Effect,
    ) -> BoxFuture<'_, Result<Recorded, LedgerError>>;

    /// Recorded notifications, newest first (`store`: only that store's), at most `limit`.
    fn list_notifications(
        &self,
        store: Option<Store>,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<NotificationRow>, LedgerError>>;

    /// Revoked transactions, most recently revoked first, at most `limit`.
    fn list_revocations(
        &self,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<RevocationRow>, LedgerError>>;
}

#[cfg(test)]
mod tests {
    use super::NotificationResult;

    #[test]
    fn results_round_trip_through_their_stored_text() {
        for r in NotificationResult::ALL {
            assert_eq!(NotificationResult::parse(r.as_str()), Some(r));
        }
        assert_eq!(NotificationResult::parse("Revoked"), None);
        assert_eq!(NotificationResult::parse(""), None);
    }
}
