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
//!
//! Google Play and Huawei (their own modules, counted in the same metric, not yet recorded in
//! the notification log): [`google_play`] (real-time developer notifications by Cloud Pub/Sub
//! push, `POST /v1/stores/google-play/rtdn`, authenticated by the Google-signed OIDC token, keys
//! from [`jwks`]), [`voided`] (the Voided Purchases API poller, a background task of `serve`
//! with a cursor in the ledger) and [`huawei`] (IAP server notifications v2: an unsigned refund
//! notification makes the verifier ask Huawei's Order service, and only its signed purchase
//! data revokes). They revoke through [`revoke_play_purchase`] / `service::revoke`
//! (the `purchase.revoked` row in the same transaction; revoking twice changes nothing).

pub mod app_store;
pub mod event;
pub mod google_play;
pub mod huawei;
pub mod jwks;
/// The record of store notifications (rows and trait: `payseal_ledger::notifications`).
pub use payseal_ledger::notifications as log;
pub mod outbound;
pub mod upstream;
pub mod voided;

use std::collections::HashMap;

use payseal_protocol::{Environment, Reason, Store};

use crate::ledger::LedgerError;
use crate::rules::AppRules;
use crate::settings::Settings;
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
}

impl StoreAnswer {
    /// An answer with no outbound call.
    pub fn new(status: u16, kind: &'static str, result: &'static str) -> Self {
        Self {
            status,
            kind,
            result,
            outbound: None,
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
    let target = |transaction_keys: &[String], product_id: &str, verb: &str| Target {
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
    };
    let effect = match &n.action {
        Action::Record => Effect::Record,
        Action::Revoke {
            transaction_keys,
            product_id,
        } => Effect::Revoke(target(transaction_keys, product_id, "revoked")),
        Action::Reinstate {
            transaction_keys,
            product_id,
        } => Effect::Reinstate(target(transaction_keys, product_id, "reinstated")),
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

use serde::Deserialize;

use crate::ledger::{Redemptions, RevokeOutcome};
use crate::service::ServiceError;

/// The store label of Google Play in `payseal_store_notifications_total`.
pub const STORE_GOOGLE_PLAY: &str = "google_play";

/// What a Play void did to the ledger, over every app configured with its package name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlayVoidOutcome {
    /// A redemption was revoked now (and its webhook row enqueued, if the app has a webhook).
    Revoked,
    /// Its redemption had been revoked before: nothing changed.
    AlreadyRevoked,
    /// No redemption of this purchase exists (never presented to this verifier): nothing
    /// recorded.
    NotRedeemed,
    /// No configured app has this Play package name: nothing recorded.
    UnknownPackage,
}

impl PlayVoidOutcome {
    /// The `result` label and JSON answer word.
    pub fn as_str(self) -> &'static str {
        match self {
            PlayVoidOutcome::Revoked => "revoked",
            PlayVoidOutcome::AlreadyRevoked => "already_revoked",
            PlayVoidOutcome::NotRedeemed => "not_redeemed",
            PlayVoidOutcome::UnknownPackage => "unknown_package",
        }
    }
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

/// Revoke the redemption of a voided Play purchase in every app with `package_name`. The ledger
/// key of a Play purchase is its `orderId`, or its `purchaseToken` when it has no order id:
/// so `order_id` is tried first, then `purchase_token`.
pub async fn revoke_play_purchase(
    settings: &Settings,
    ledger: &dyn Redemptions,
    package_name: &str,
    order_id: Option<&str>,
    purchase_token: Option<&str>,
    reason: &str,
    now_ms: i64,
) -> Result<PlayVoidOutcome, ServiceError> {
    let apps = apps_with_package(settings, package_name);
    if apps.is_empty() {
        return Ok(PlayVoidOutcome::UnknownPackage);
    }
    let keys: Vec<&str> = [order_id, purchase_token]
        .into_iter()
        .flatten()
        .filter(|k| !k.is_empty())
        .collect();
    let mut overall = PlayVoidOutcome::NotRedeemed;
    for app_id in apps {
        for key in &keys {
            let outcome = crate::service::revoke(
                settings,
                ledger,
                Store::GooglePlay,
                app_id,
                key,
                reason,
                now_ms,
            )
            .await?;
            match outcome {
                RevokeOutcome::Revoked => {
                    overall = PlayVoidOutcome::Revoked;
                    break;
                }
                RevokeOutcome::AlreadyRevoked => {
                    if overall != PlayVoidOutcome::Revoked {
                        overall = PlayVoidOutcome::AlreadyRevoked;
                    }
                    break;
                }
                RevokeOutcome::NotFound => {}
            }
        }
    }
    Ok(overall)
}

/// An int64 that Google and Huawei send as a JSON string (`"1503349566168"`) or a number.
#[derive(Deserialize)]
#[serde(untagged)]
enum Int64 {
    Text(String),
    Number(i64),
}

/// Deserialize an [`Int64`] field.
pub(crate) fn int64<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    match Int64::deserialize(d)? {
        Int64::Number(n) => Ok(n),
        Int64::Text(s) => s
            .parse()
            .map_err(|_| serde::de::Error::custom("not an int64")),
    }
}

/// Deserialize an optional [`Int64`] field.
pub(crate) fn opt_int64<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    #[derive(Deserialize)]
    struct Wrap(#[serde(deserialize_with = "int64")] i64);
    Ok(Option::<Wrap>::deserialize(d)?.map(|w| w.0))
}
