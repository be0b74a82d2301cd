//! Store server notifications and every other source of a refund or revocation: each becomes a
//! **store event** ([`Verified`]) recorded by the ledger in one transaction with its effect and
//! webhook rows (`payseal_ledger::event` decides what it does to each row), so there is one
//! revocation path.
//!
//! Each source has a pure builder (no I/O) that turns what it was told into a [`Verified`]
//! event, by the store's own signature rule where there is one:
//! - [`app_store`] (App Store Server Notifications V2, [`app_store::verify`]);
//! - [`google_play`] (real-time developer notifications by Cloud Pub/Sub push, `POST
//!   /v1/stores/google-play/rtdn`, authenticated by the Google-signed OIDC token, keys from
//!   [`jwks`]) and [`voided`] (the Voided Purchases API poller, a background task of `serve`
//!   with a cursor in the ledger), both through [`play_void_event`];
//! - [`huawei`] (IAP server notifications v2: an unsigned refund notification makes the verifier
//!   ask Huawei's Order service, through a bounded, deduplicating [`outbound::CallGuard`], and
//!   only its signed purchase data makes the event, [`huawei::refund_event`]);
//! - [`signed_revocation`] (a receipt presented with store-signed revocation data) and
//!   [`operator_revocation`] (`payseal-verifier revoke`).
//!
//! What is shared lives here and in [`log`]:
//! - [`Refused`]: why a notification was refused (nothing recorded, nothing changed), in the
//!   verdict's reason vocabulary (`malformed`, `bad_signature`, `untrusted_chain`,
//!   `unknown_app`, `wrong_app`, `untrusted_environment`); the HTTP layer answers `4xx`;
//! - [`matching_apps`]: the configured apps a notification concerns, by the store's app binding
//!   and the apps' `environments`;
//! - [`record`]: record an event and apply its [`Action`] in one ledger transaction
//!   ([`log::NotificationLog`]), with the webhook of each app that has one (`purchase.revoked`,
//!   `purchase.reinstated`);
//! - [`StoreAnswer`]: what the Play and Huawei endpoints answer; [`crate::upstream`]: calling a
//!   store's server (typed errors, bounded bodies, cached tokens).
//!
//! Idempotent by the source's own event id: an event seen before changes nothing and is
//! answered with its recorded result (stores retry until they get a `2xx`).

pub mod app_store;
pub mod google_play;
pub mod huawei;
pub mod jwks;
/// The record of store notifications (rows and trait: `payseal_ledger::notifications`).
pub use payseal_ledger::notifications as log;
pub mod outbound;
pub mod voided;

use std::collections::HashMap;
use std::time::Duration;

use payseal_protocol::{Environment, Reason, Store};

use crate::ledger::LedgerError;
use crate::rules::AppRules;
use crate::settings::Settings;
use log::{Effect, NewNotification, NotificationLog, Recorded, Target, TargetApp};
use payseal_ledger::event::{EventKeys, Revoker};

/// Metrics label of a notification whose type could not be read from verified data.
pub const UNKNOWN_TYPE: &str = "unknown";

/// How long Apple waits for the answer to a `CONSUMPTION_REQUEST`: 12 hours.
pub const APPLE_DEADLINE: Duration = Duration::from_secs(12 * 3600);
/// How long Google waits for `orders.reviewrefund` after a `PendingRefundReviewNotification`:
/// 24 hours.
pub const GOOGLE_DEADLINE: Duration = Duration::from_secs(24 * 3600);

/// The store's deadline for the answer to a request the store signed (or sent) at `signed_ms`
/// and the verifier received at `received_ms`, Unix milliseconds (pure): Apple 12 hours after
/// receipt; Google 24 hours after its event time (never later than 24 hours after receipt).
pub fn deadline_ms(store: Store, signed_ms: i64, received_ms: i64) -> i64 {
    let ms = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
    match store {
        Store::GooglePlay => signed_ms
            .min(received_ms)
            .saturating_add(ms(GOOGLE_DEADLINE)),
        _ => received_ms.saturating_add(ms(APPLE_DEADLINE)),
    }
}

/// Why a notification was refused: nothing was recorded and nothing changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {detail}", reason.as_str())]
pub struct Refused {
    /// `malformed`, `bad_signature`, `untrusted_chain`, `unknown_app`, `wrong_app` or
    /// `untrusted_environment`.
    pub reason: Reason,
    /// Operator-facing detail (ids only, never key material).
    pub detail: String,
    /// The notification type for metrics, when read from verified data ([`UNKNOWN_TYPE`]
    /// otherwise).
    pub type_label: &'static str,
}

impl Refused {
    /// A refusal for `reason` before the type was known.
    pub fn new(reason: Reason, detail: impl Into<String>) -> Refused {
        Refused {
            reason,
            detail: detail.into(),
            type_label: UNKNOWN_TYPE,
        }
    }

    /// The same refusal, labelled with the (verified) notification type.
    pub fn typed(mut self, type_label: &'static str) -> Refused {
        self.type_label = type_label;
        self
    }
}

/// What a verified notification asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Record it; change nothing.
    Record,
    /// The purchase was refunded or revoked (by the store, or an operator).
    Revoke {
        /// The transaction's keys (App Store: `transactionId`, `originalTransactionId`).
        keys: EventKeys,
        /// The product (for a refusal row; empty when the source does not say).
        product_id: String,
        /// Refuse the transaction when nobody redeemed it yet: a store's refund notification
        /// (every store); not an operator's revocation nor a revoked receipt presented.
        refuse_unredeemed: bool,
    },
    /// The store asks the developer about a customer's refund request of one transaction
    /// (App Store `CONSUMPTION_REQUEST`, Google Play `PendingRefundReviewNotification`):
    /// answered when the app has a refund policy and the store's API.
    AnswerRefund {
        /// The transaction (App Store `transactionId`, Google Play `orderId`).
        transaction_key: String,
        /// What the store needs beside it (Google Play's `pendingRefundToken`).
        answer_token: Option<String>,
    },
    /// The store reversed its refund of one transaction.
    Reinstate {
        /// The transaction's keys.
        keys: EventKeys,
        /// The product.
        product_id: String,
    },
    /// The store's server answered about a subscription chain: its row takes the answer when
    /// it is newer than the stored one.
    UpdateSubscription {
        /// The chain's keys.
        keys: EventKeys,
        /// The answer.
        answer: log::SubscriptionAnswer,
    },
}

/// A store event, store-neutral: a notification that passed its store's rule, a void the
/// Voided Purchases API listed, a Huawei refund its Order service confirmed, a refunded receipt
/// presented, or an operator's revocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The store of the transaction.
    pub store: Store,
    /// Who tells of it: the store, or an operator.
    pub revoker: Revoker,
    /// The source's own id of this event (App Store `notificationUUID`, Pub/Sub `messageId`,
    /// ...): the idempotency key.
    pub notification_id: String,
    /// The store's type, as sent.
    pub notification_type: String,
    /// The store's subtype, if any.
    pub subtype: Option<String>,
    /// The type for metrics: one of a fixed set per store, or `other`.
    pub type_label: &'static str,
    /// Production or sandbox, when the notification says.
    pub environment: Option<Environment>,
    /// When the store signed it, Unix milliseconds.
    pub signed_ms: i64,
    /// The configured apps it concerns (at least one), sorted.
    pub apps: Vec<String>,
    /// The transaction it names, if any.
    pub transaction_key: Option<String>,
    /// Why, in the source's words, when it says more than its type (stored with a revocation
    /// and sent in the webhook); `None`: the type and id say it.
    pub reason: Option<String>,
    /// What it asks for.
    pub action: Action,
}

/// The answer to one store notification request (Google Play push, Huawei): the HTTP status
/// and the metrics labels; the HTTP layer maps it to a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreAnswer {
    /// HTTP status.
    pub status: u16,
    /// The `type` label (`unknown` when the body was not read).
    pub kind: &'static str,
    /// The `result` label, also the JSON answer's `result`.
    pub result: &'static str,
    /// The `result` label of `payseal_store_outbound_calls_total` when handling it asked a
    /// store's server (`called`, `deduplicated`, `rate_limited`).
    pub outbound: Option<&'static str>,
    /// The event was recorded before: `result` is the stored one.
    pub duplicate: bool,
}

impl StoreAnswer {
    /// An answer with no outbound call.
    pub fn new(status: u16, kind: &'static str, result: &'static str) -> Self {
        Self {
            status,
            kind,
            result,
            outbound: None,
            duplicate: false,
        }
    }

    /// The answer of a recorded store event (a duplicate answers the stored result).
    pub fn recorded(kind: &'static str, recorded: &Recorded) -> Self {
        Self {
            duplicate: recorded.duplicate,
            ..Self::new(200, kind, recorded.result.as_str())
        }
    }

    /// The metrics `result` label: `duplicate` for a duplicate.
    pub fn label(&self) -> &'static str {
        if self.duplicate {
            "duplicate"
        } else {
            self.result
        }
    }

    /// The same answer, noting what the outbound call guard did.
    pub fn with_outbound(mut self, label: &'static str) -> Self {
        self.outbound = Some(label);
        self
    }
}

/// The configured apps a notification concerns: those `belongs` says are bound to it (the
/// store's app id: App Store `bundleId`, Play `packageName`), then, of those, the ones whose
/// `environments` accept `environment`. Sorted by app id. `unknown_app` when no app is bound
/// (`what` names the store's id in the detail), `untrusted_environment` when none accepts it.
pub fn matching_apps(
    apps: &HashMap<String, AppRules>,
    belongs: impl Fn(&AppRules) -> bool,
    environment: Option<Environment>,
    what: &str,
) -> Result<Vec<String>, Refused> {
    let mut bound: Vec<&AppRules> = apps.values().filter(|a| belongs(a)).collect();
    if bound.is_empty() {
        return Err(Refused::new(
            Reason::UnknownApp,
            format!("no configured app has {what}"),
        ));
    }
    if let Some(env) = environment {
        bound.retain(|a| a.environments.contains(&env));
        if bound.is_empty() {
            return Err(Refused::new(
                Reason::UntrustedEnvironment,
                format!(
                    "{} notification, but no app with {what} accepts it",
                    env.as_str()
                ),
            ));
        }
    }
    let mut ids: Vec<String> = bound.into_iter().map(|a| a.app_id.clone()).collect();
    ids.sort();
    Ok(ids)
}

/// The ledger record and effect of `n`, received at `received_ms`: the apps with a webhook get
/// its notice.
pub fn ledger_change(
    settings: &Settings,
    n: &Verified,
    received_ms: i64,
) -> (NewNotification, Effect) {
    let record = NewNotification {
        store: n.store,
        notification_id: n.notification_id.clone(),
        notification_type: n.notification_type.clone(),
        subtype: n.subtype.clone(),
        environment: n.environment.map(|e| e.as_str().to_string()),
        app_id: n.apps.first().cloned(),
        transaction_key: n.transaction_key.clone(),
        signed_ms: n.signed_ms,
        received_ms,
    };
    let target = |keys: &EventKeys, product_id: &str, refuse: bool, verb: &str| Target {
        apps: n
            .apps
            .iter()
            .map(|app_id| TargetApp {
                app_id: app_id.clone(),
                notify: settings.webhooks.contains_key(app_id),
                entitlements: settings.announced_entitlements(app_id),
            })
            .collect(),
        keys: keys.clone(),
        by: n.revoker,
        refuse_unredeemed: refuse,
        product_id: product_id.to_string(),
        reason: n.reason.clone().unwrap_or_else(|| {
            format!(
                "{}: {} by {} {}",
                n.revoker.as_str(),
                verb,
                n.notification_type,
                n.notification_id
            )
        }),
    };
    let effect = match &n.action {
        Action::Record => Effect::Record,
        Action::Revoke {
            keys,
            product_id,
            refuse_unredeemed,
        } => Effect::Revoke(target(keys, product_id, *refuse_unredeemed, "revoked")),
        Action::Reinstate { keys, product_id } => {
            Effect::Reinstate(target(keys, product_id, false, "reinstated"))
        }
        Action::UpdateSubscription { keys, answer } => {
            Effect::UpdateSubscription(target(keys, "", false, "updated"), *answer)
        }
        Action::AnswerRefund {
            transaction_key,
            answer_token,
        } => match n
            .apps
            .iter()
            .find(|app| settings.answers_refunds(n.store, app))
        {
            Some(app_id) => Effect::AnswerRefund(crate::ledger::refunds::NewRefundRequest {
                app_id: app_id.clone(),
                transaction_key: transaction_key.clone(),
                environment: n
                    .environment
                    .unwrap_or(payseal_protocol::Environment::Production)
                    .as_str()
                    .to_string(),
                deadline_ms: deadline_ms(n.store, n.signed_ms, received_ms),
                answer_token: answer_token.clone(),
            }),
            None => Effect::Record,
        },
    };
    (record, effect)
}

/// Record a verified notification and apply its action, in one ledger transaction.
pub async fn record(
    settings: &Settings,
    ledger: &dyn NotificationLog,
    n: &Verified,
    received_ms: i64,
) -> Result<Recorded, LedgerError> {
    let (record, effect) = ledger_change(settings, n, received_ms);
    ledger.record_notification(record, effect).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::test_support::{app_with, genuine, APP};

    #[test]
    fn apps_are_matched_by_binding_then_environment() {
        let mut apps = HashMap::new();
        let mut sandbox_only = app_with(genuine(), &[Environment::Sandbox]);
        sandbox_only.app_id = "b.sandbox".into();
        let mut both = app_with(genuine(), &[Environment::Sandbox, Environment::Production]);
        both.app_id = "a.both".into();
        apps.insert(sandbox_only.app_id.clone(), sandbox_only);
        apps.insert(both.app_id.clone(), both);
        let bundle = |a: &AppRules| a.app_store.as_ref().is_some_and(|s| s.bundle_id == APP);
        assert_eq!(
            matching_apps(&apps, bundle, Some(Environment::Sandbox), "bundleId x").unwrap(),
            ["a.both", "b.sandbox"]
        );
        assert_eq!(
            matching_apps(&apps, bundle, Some(Environment::Production), "bundleId x").unwrap(),
            ["a.both"]
        );
        apps.remove("a.both");
        let err =
            matching_apps(&apps, bundle, Some(Environment::Production), "bundleId x").unwrap_err();
        assert_eq!(err.reason, Reason::UntrustedEnvironment);
        let err = matching_apps(&apps, |_| false, None, "bundleId y").unwrap_err();
        assert_eq!(err.reason, Reason::UnknownApp);
        assert_eq!(err.type_label, UNKNOWN_TYPE);
    }
}

// ---------------------------------------------------------------------------------------------
// Google Play and Huawei: shared steps.

/// The store label of Google Play in `payseal_store_notifications_total`.
pub const STORE_GOOGLE_PLAY: &str = "google_play";

/// A Google Play void: a pushed `voidedPurchaseNotification` or an entry of the Voided
/// Purchases API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlayVoid<'a> {
    /// The event's id: the Pub/Sub `messageId`, or `voided:{orderId or token}:{voidedTime}`.
    pub event_id: String,
    /// The event's type as recorded (`voidedPurchaseNotification`, `voidedPurchasesApi`).
    pub event_type: &'static str,
    /// The metrics type label.
    pub type_label: &'static str,
    /// The Play package name.
    pub package_name: &'a str,
    /// The order id, when Google gives one (a Play purchase's ledger key).
    pub order_id: Option<&'a str>,
    /// The purchase token (the key of a purchase without an order id, and of a subscription's
    /// chain).
    pub purchase_token: &'a str,
    /// Why, in Google's words (stored and sent in the webhook).
    pub reason: String,
    /// When Google says it happened, Unix milliseconds.
    pub at_ms: i64,
}

/// A pushed Google Play `pendingRefundReviewNotification`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlayRefundReview<'a> {
    /// The Pub/Sub `messageId`.
    pub message_id: &'a str,
    /// The Play package name.
    pub package_name: &'a str,
    /// The order the customer asked a refund of.
    pub order_id: &'a str,
    /// The review's token (never logged nor put in an id: only in the queued answer).
    pub pending_refund_token: &'a str,
    /// When Google says it happened, Unix milliseconds (the 24-hour deadline runs from it).
    pub at_ms: i64,
}

/// A Play refund review as a store event for the apps of its package (`None`: no app has
/// it). Its id is `pendingRefundReview:{orderId}:{SHA-256 of the token, 16 hex}`, so the
/// same review told twice (a Pub/Sub redelivery, or a second message) is recorded, and
/// answered, once. Pure.
pub fn play_refund_review_event(settings: &Settings, r: PlayRefundReview<'_>) -> Option<Verified> {
    use sha2::Digest as _;
    let apps = apps_with_package(settings, r.package_name);
    if apps.is_empty() {
        return None;
    }
    let digest = hex::encode(sha2::Sha256::digest(r.pending_refund_token.as_bytes()));
    Some(Verified {
        store: Store::GooglePlay,
        revoker: Revoker::Store(Store::GooglePlay),
        notification_id: format!("pendingRefundReview:{}:{}", r.order_id, &digest[..16]),
        notification_type: "pendingRefundReviewNotification".to_string(),
        subtype: None,
        type_label: "pending_refund_review",
        environment: None,
        signed_ms: r.at_ms,
        apps: apps.into_iter().map(str::to_owned).collect(),
        transaction_key: Some(r.order_id.to_string()),
        reason: Some(format!(
            "google_play: pending refund review (Pub/Sub message {})",
            r.message_id
        )),
        action: Action::AnswerRefund {
            transaction_key: r.order_id.to_string(),
            answer_token: Some(r.pending_refund_token.to_string()),
        },
    })
}

/// A Play void as a store event for every app whose `google_play.package_name` is its
/// package, keyed by its order id (or token) and its token (a subscription's chain); `None`
/// when no app has that package. Pure.
pub fn play_void_event(settings: &Settings, v: PlayVoid<'_>) -> Option<Verified> {
    let apps = apps_with_package(settings, v.package_name);
    if apps.is_empty() {
        return None;
    }
    let transaction = v
        .order_id
        .filter(|o| !o.is_empty())
        .unwrap_or(v.purchase_token);
    let keys = EventKeys::new(transaction, Some(v.purchase_token));
    Some(Verified {
        store: Store::GooglePlay,
        revoker: Revoker::Store(Store::GooglePlay),
        notification_id: v.event_id,
        notification_type: v.event_type.to_string(),
        subtype: None,
        type_label: v.type_label,
        environment: None,
        signed_ms: v.at_ms,
        apps: apps.into_iter().map(str::to_owned).collect(),
        transaction_key: Some(keys.transaction.clone()),
        reason: Some(v.reason),
        action: Action::Revoke {
            keys,
            // Google's void does not name the product.
            product_id: String::new(),
            refuse_unredeemed: true,
        },
    })
}

/// Google's answer about a Play subscription chain (`purchases.subscriptionsv2.get`, asked
/// because a push named it) as a store event for every app of `package_name`, keyed by the
/// purchase token (a Play subscription's ledger key); `None` when no app has that package.
/// `event_id` is the Pub/Sub `messageId`, `event_type` Google's notification type name. Pure.
pub fn play_subscription_event(
    settings: &Settings,
    event_id: &str,
    event_type: String,
    package_name: &str,
    purchase_token: &str,
    at_ms: i64,
    answer: log::SubscriptionAnswer,
) -> Option<Verified> {
    let apps = apps_with_package(settings, package_name);
    if apps.is_empty() {
        return None;
    }
    let keys = EventKeys::new(purchase_token, None::<String>);
    Some(Verified {
        store: Store::GooglePlay,
        revoker: Revoker::Store(Store::GooglePlay),
        notification_id: event_id.to_string(),
        notification_type: event_type,
        subtype: None,
        type_label: "subscription",
        environment: None,
        signed_ms: at_ms,
        apps: apps.into_iter().map(str::to_owned).collect(),
        transaction_key: Some(keys.transaction.clone()),
        reason: None,
        action: Action::UpdateSubscription { keys, answer },
    })
}

/// An operator's revocation (`payseal-verifier revoke`) as a store event: idempotent by
/// `event_id`, revoking `transaction_key` of `app_id` (a redemption only: an operator does not
/// refuse in advance), reversible by no store. Pure.
pub fn operator_revocation(
    store: Store,
    app_id: &str,
    transaction_key: &str,
    reason: &str,
    event_id: &str,
    now_ms: i64,
) -> Verified {
    Verified {
        store,
        revoker: Revoker::Operator,
        notification_id: format!("operator:{event_id}"),
        notification_type: OPERATOR_REVOKE.into(),
        subtype: None,
        type_label: OPERATOR_REVOKE,
        environment: None,
        signed_ms: now_ms,
        apps: vec![app_id.to_string()],
        transaction_key: Some(transaction_key.to_string()),
        reason: Some(reason.to_string()),
        action: Action::Revoke {
            keys: EventKeys::new(transaction_key, None::<String>),
            product_id: String::new(),
            // An operator revokes what was redeemed.
            refuse_unredeemed: false,
        },
    }
}

/// The type of an operator's revocation in the notification log.
pub const OPERATOR_REVOKE: &str = "operator_revoke";

/// The type of a revocation read from a presented receipt's signed data.
pub const SIGNED_REVOCATION: &str = "signed_revocation";

/// A receipt presented to `/v1/verify` whose store-signed data says it was refunded or
/// revoked (App Store `revocationDate`, Huawei `purchaseState` 2, sandbox `refunded`), as a
/// store event of that store: idempotent by the receipt's hash, keyed by the transaction and
/// its chain (`partial`: what the rule read from the signed data). `None` when the data names
/// no transaction. Pure.
pub fn signed_revocation(
    store: Store,
    app_id: &str,
    receipt_sha256: &str,
    partial: &crate::rules::PartialPurchase,
    reason: &str,
    now_ms: i64,
) -> Option<Verified> {
    let transaction = [&partial.transaction_id, &partial.transaction_key]
        .into_iter()
        .flatten()
        .find(|k| !k.is_empty())?;
    let keys = EventKeys::new(transaction.clone(), partial.transaction_key.clone());
    Some(Verified {
        store,
        revoker: Revoker::Store(store),
        notification_id: format!("receipt:{receipt_sha256}"),
        notification_type: SIGNED_REVOCATION.into(),
        subtype: None,
        type_label: SIGNED_REVOCATION,
        environment: partial.environment,
        signed_ms: now_ms,
        apps: vec![app_id.to_string()],
        transaction_key: Some(keys.transaction.clone()),
        reason: Some(reason.to_string()),
        action: Action::Revoke {
            keys,
            product_id: partial.product_id.clone().unwrap_or_default(),
            // The receipt itself says revoked: every presentation of it is refused anyway.
            refuse_unredeemed: false,
        },
    })
}

/// The ids of apps whose `google_play.package_name` is `package_name` (sorted).
pub fn apps_with_package<'a>(settings: &'a Settings, package_name: &str) -> Vec<&'a str> {
    let mut ids: Vec<&str> = settings
        .apps
        .values()
        .filter(|a| {
            a.google_play
                .as_ref()
                .is_some_and(|g| g.package_name == package_name)
        })
        .map(|a| a.app_id.as_str())
        .collect();
    ids.sort_unstable();
    ids
}
