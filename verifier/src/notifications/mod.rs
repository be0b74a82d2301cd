//! Store server notifications: what the stores tell the verifier after a purchase (a refund, a
//! revocation, a reversed refund), so that a refunded purchase is revoked without an operator.
//!
//! Each store has a module that turns the store's signed message into a store-neutral
//! [`Verified`] notification, by the store's own signature rule and nothing else (pure: no I/O):
//! [`app_store`] (App Store Server Notifications V2). What is shared lives here and in [`log`]:
//! - [`Refused`]: why a notification was refused (nothing recorded, nothing changed), in the
//!   verdict's reason vocabulary (`malformed`, `bad_signature`, `untrusted_chain`,
//!   `unknown_app`, `wrong_app`, `untrusted_environment`); the HTTP layer answers `4xx`;
//! - [`matching_apps`]: the configured apps a notification concerns, by the store's app binding
//!   and the apps' `environments`;
//! - [`record`]: record a verified notification and apply its [`Action`] in one ledger
//!   transaction ([`log::NotificationLog`]), with the webhook of each app that has one
//!   (`purchase.revoked`, `purchase.reinstated`).
//!
//! Idempotent by the store's notification id: a notification seen before changes nothing and
//! is answered like the first time (stores retry until they get a `2xx`).

pub mod app_store;
pub mod log;

use std::collections::HashMap;

use payseal_protocol::{Environment, Reason, Store};

use crate::ledger::{LedgerError, RedemptionRow, RevocationRequest};
use crate::rules::AppRules;
use crate::settings::Settings;
use crate::webhook::outbox::NewDelivery;
use crate::webhook::EventError;
use log::{Effect, NewNotification, NotificationLog, Recorded, Target, TargetApp};

/// Metrics label of a notification whose type could not be read from verified data.
pub const UNKNOWN_TYPE: &str = "unknown";

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
    /// The purchase was refunded or revoked by the store.
    Revoke {
        /// The ledger keys to try, in order (App Store: `transactionId`, `originalTransactionId`).
        transaction_keys: Vec<String>,
        /// The product.
        product_id: String,
    },
    /// The store reversed a refund.
    Reinstate {
        /// The ledger keys to try, in order.
        transaction_keys: Vec<String>,
        /// The product.
        product_id: String,
    },
}

/// A notification that passed its store's rule, store-neutral.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The store.
    pub store: Store,
    /// The store's notification id (the idempotency key).
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
    /// What it asks for.
    pub action: Action,
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

/// The `purchase.reinstated` outbox row of a reversed refund.
fn reinstated_notice(
    r: &RevocationRequest,
    row: &RedemptionRow,
) -> Result<NewDelivery, EventError> {
    crate::webhook::reinstated_event(
        r.store,
        &r.app_id,
        &r.transaction_key,
        row,
        &r.reason,
        r.now_ms,
    )
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
    let target = |transaction_keys: &[String], product_id: &str, verb: &str, notice| Target {
        apps: n
            .apps
            .iter()
            .map(|app_id| TargetApp {
                app_id: app_id.clone(),
                notify: settings.webhooks.contains_key(app_id),
            })
            .collect(),
        transaction_keys: transaction_keys.to_vec(),
        product_id: product_id.to_string(),
        reason: format!(
            "{}: {} by {} notification {}",
            n.store.as_str(),
            verb,
            n.notification_type,
            n.notification_id
        ),
        notice,
    };
    let effect = match &n.action {
        Action::Record => Effect::Record,
        Action::Revoke {
            transaction_keys,
            product_id,
        } => Effect::Revoke(target(
            transaction_keys,
            product_id,
            "revoked",
            crate::service::revoked_notice as crate::ledger::RevokeNotice,
        )),
        Action::Reinstate {
            transaction_keys,
            product_id,
        } => Effect::Reinstate(target(
            transaction_keys,
            product_id,
            "reinstated",
            reinstated_notice as crate::ledger::RevokeNotice,
        )),
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
