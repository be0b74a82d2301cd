//! App Store Server Notifications V2: `POST /v1/stores/app-store/notifications` with
//! `{"signedPayload": JWS}` (Apple's `responseBodyV2`).
//!
//! Verified by the same rule as StoreKit 2 transactions, with the same function
//! (`rules::app_store::verify_jws`: `alg` ES256, the `x5c` chain to a configured Apple
//! root with the marker OIDs, every certificate valid at the payload's `signedDate`), first on
//! `signedPayload` (`responseBodyV2DecodedPayload`), then on the nested `signedTransactionInfo`
//! and, when present, `signedRenewalInfo`. Then, in this order:
//! 1. `version` is `"2.0"`, `notificationUUID` is 1..=128 bytes (`malformed`);
//! 2. the app: `data.bundleId` (or `appData`/`summary`) names a configured app's
//!    `[apps."ID".app_store] bundle_id` (`unknown_app`), and `environment` (`Sandbox` or
//!    `Production`) is one of that app's `environments` (`untrusted_environment`; anything
//!    else, such as Xcode's `LocalTesting`, too);
//! 3. the nested JWS say the same bundle (`wrong_app`) and environment
//!    (`untrusted_environment`), and a transaction has a `transactionId` (`malformed`).
//!
//! The action, by `notificationType`:
//! - `REFUND`, `REVOKE`: revoke the transaction, by `transactionId`, else by
//!   `originalTransactionId` (the key of an App Store subscription);
//! - `REFUND_REVERSED`: reinstate it (see [`super::log`]);
//! - the lifecycle of an auto-renewable subscription (`SUBSCRIBED`, `DID_RENEW`,
//!   `OFFER_REDEEMED`, `RENEWAL_EXTENDED`, `DID_CHANGE_RENEWAL_STATUS`, `DID_FAIL_TO_RENEW` with
//!   or without subtype `GRACE_PERIOD`, `GRACE_PERIOD_EXPIRED`, `EXPIRED`): the chain's row
//!   (`originalTransactionId`) takes the state and period end the rules map from the signed
//!   transaction and renewal info (`payseal_rules::subscription_state::
//!   app_store_notification_status`, `from_app_store_chain`; billing grace pays until
//!   `gracePeriodExpiresDate`), when Apple signed it after the stored answer; a change sends
//!   `subscription.updated`. The renewal info must name the transaction's chain (`malformed`);
//! - `CONSUMPTION_REQUEST` (its answer queued when the app has a refund policy: `crate::refunds`), `TEST`,
//!   `REFUND_DECLINED` and every other type: record only.

use std::collections::HashMap;

use payseal_ledger::event::{EventKeys, Revoker};
use payseal_protocol::{Environment, Reason, Store};
use serde::Deserialize;

use super::{matching_apps, Action, Refused, Verified};
use crate::rules::app_store::{verify_jws, AppleSigned, Transaction};
use crate::rules::{AppRules, Rejection, TrustAnchors};

/// The route Apple is configured to call (App Store Connect → App Information → App Store
/// Server Notifications, Version 2).
pub const ROUTE: &str = "/v1/stores/app-store/notifications";

/// The `notificationType` values Apple documents (metrics label them; others are `other`).
pub const KNOWN_TYPES: &[&str] = &[
    "CONSUMPTION_REQUEST",
    "DID_CHANGE_RENEWAL_PREF",
    "DID_CHANGE_RENEWAL_STATUS",
    "DID_FAIL_TO_RENEW",
    "DID_RENEW",
    "EXPIRED",
    "EXTERNAL_PURCHASE_TOKEN",
    "GRACE_PERIOD_EXPIRED",
    "METADATA_UPDATE",
    "MIGRATION",
    "OFFER_REDEEMED",
    "ONE_TIME_CHARGE",
    "PRICE_CHANGE",
    "PRICE_INCREASE",
    "REFUND",
    "REFUND_DECLINED",
    "REFUND_REVERSED",
    "RENEWAL_EXTENDED",
    "RENEWAL_EXTENSION",
    "RESCIND_CONSENT",
    "REVOKE",
    "SUBSCRIBED",
    "TEST",
];

/// Longest accepted `notificationUUID`.
pub const MAX_NOTIFICATION_ID_BYTES: usize = 128;

/// `responseBodyV2`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Body {
    signed_payload: String,
}

/// The fields of `responseBodyV2DecodedPayload` read here.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DecodedPayload {
    notification_type: String,
    subtype: Option<String>,
    #[serde(rename = "notificationUUID")]
    notification_uuid: String,
    version: Option<String>,
    signed_date: i64,
    data: Option<Data>,
    app_data: Option<AppRef>,
    summary: Option<AppRef>,
}

impl AppleSigned for DecodedPayload {
    const WHAT: &'static str = "notification payload";
    fn signed_date(&self) -> i64 {
        self.signed_date
    }
}

/// `data`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Data {
    bundle_id: String,
    environment: String,
    signed_transaction_info: Option<String>,
    signed_renewal_info: Option<String>,
}

/// `appData` / `summary`: the app and environment only.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AppRef {
    bundle_id: String,
    environment: String,
}

/// The fields of `JWSRenewalInfoDecodedPayload` read here (the notification's and Get All
/// Subscription Statuses' alike), once its signature and chain verified.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RenewalInfo {
    /// `signedDate`, Unix milliseconds.
    pub signed_date: i64,
    /// `Production` or `Sandbox`.
    pub environment: Option<String>,
    /// `originalTransactionId`: the chain.
    pub original_transaction_id: Option<String>,
    /// `autoRenewStatus`: `1` renews, `0` turned off.
    pub auto_renew_status: Option<i64>,
    /// `gracePeriodExpiresDate`, Unix milliseconds (billing grace only).
    pub grace_period_expires_date: Option<i64>,
}

impl AppleSigned for RenewalInfo {
    const WHAT: &'static str = "signed renewal info";
    fn signed_date(&self) -> i64 {
        self.signed_date
    }
}

fn refused(rejection: Rejection, what: &str) -> Refused {
    Refused::new(rejection.reason, format!("{what}: {}", rejection.detail))
}

fn malformed(detail: impl Into<String>) -> Refused {
    Refused::new(Reason::Malformed, detail)
}

/// The metrics label of a `notificationType`.
pub fn type_label(notification_type: &str) -> &'static str {
    KNOWN_TYPES
        .iter()
        .find(|t| **t == notification_type)
        .copied()
        .unwrap_or("other")
}

/// Apple's environment name → ours (`None` for anything else, e.g. `LocalTesting`).
fn environment(name: &str) -> Option<Environment> {
    match name {
        "Production" => Some(Environment::Production),
        "Sandbox" => Some(Environment::Sandbox),
        _ => None,
    }
}

/// Verify one `responseBodyV2` body against the configured apps and Apple roots at `now_ms`.
pub fn verify(
    body: &[u8],
    apps: &HashMap<String, AppRules>,
    anchors: &TrustAnchors,
    now_ms: i64,
) -> Result<Verified, Refused> {
    let body: Body = serde_json::from_slice(body)
        .map_err(|_| malformed("body is not {\"signedPayload\": \"<JWS>\"}"))?;
    let payload: DecodedPayload = verify_jws(&body.signed_payload, anchors, now_ms)
        .map_err(|r| refused(r, "signedPayload"))?;
    let label = type_label(&payload.notification_type);
    verify_payload(payload, apps, anchors, now_ms).map_err(|e| e.typed(label))
}

fn verify_payload(
    payload: DecodedPayload,
    configured: &HashMap<String, AppRules>,
    anchors: &TrustAnchors,
    now_ms: i64,
) -> Result<Verified, Refused> {
    if payload.version.as_deref() != Some("2.0") {
        return Err(malformed(format!(
            "notification version {:?} is not \"2.0\"",
            payload.version
        )));
    }
    let id = payload.notification_uuid.trim();
    if id.is_empty() || id.len() > MAX_NOTIFICATION_ID_BYTES {
        return Err(malformed("notificationUUID is empty or too long"));
    }
    let (bundle_id, env_name) = match (&payload.data, &payload.app_data, &payload.summary) {
        (Some(d), _, _) => (&d.bundle_id, &d.environment),
        (None, Some(a), _) | (None, None, Some(a)) => (&a.bundle_id, &a.environment),
        (None, None, None) => {
            return Err(malformed(
                "notification has no data, appData or summary (no app to match)",
            ))
        }
    };
    let env = environment(env_name).ok_or_else(|| {
        Refused::new(
            Reason::UntrustedEnvironment,
            format!("environment {env_name:?} is neither Production nor Sandbox"),
        )
    })?;
    let apps = matching_apps(
        configured,
        |a| {
            a.app_store
                .as_ref()
                .is_some_and(|s| &s.bundle_id == bundle_id)
        },
        Some(env),
        &format!("App Store bundleId {bundle_id}"),
    )?;

    let mut transaction: Option<Transaction> = None;
    let mut renewal: Option<RenewalInfo> = None;
    if let Some(data) = &payload.data {
        if let Some(jws) = &data.signed_transaction_info {
            let tx: Transaction = verify_jws(jws, anchors, now_ms)
                .map_err(|r| refused(r, "signedTransactionInfo"))?;
            if &tx.bundle_id != bundle_id {
                return Err(Refused::new(
                    Reason::WrongApp,
                    format!(
                        "signedTransactionInfo bundleId {} is not the notification's {bundle_id}",
                        tx.bundle_id
                    ),
                ));
            }
            if &tx.environment != env_name {
                return Err(Refused::new(
                    Reason::UntrustedEnvironment,
                    "signedTransactionInfo environment differs from the notification's",
                ));
            }
            if tx.transaction_id.trim().is_empty() {
                return Err(malformed(
                    "signedTransactionInfo has an empty transactionId",
                ));
            }
            transaction = Some(tx);
        }
        if let Some(jws) = &data.signed_renewal_info {
            let info: RenewalInfo =
                verify_jws(jws, anchors, now_ms).map_err(|r| refused(r, "signedRenewalInfo"))?;
            if info.environment.as_deref().is_some_and(|e| e != env_name) {
                return Err(Refused::new(
                    Reason::UntrustedEnvironment,
                    "signedRenewalInfo environment differs from the notification's",
                ));
            }
            renewal = Some(info);
        }
    }
    if let (Some(info), Some(tx)) = (&renewal, &transaction) {
        let chain = tx
            .original_transaction_id
            .as_deref()
            .unwrap_or(&tx.transaction_id);
        if info
            .original_transaction_id
            .as_deref()
            .is_some_and(|o| o != chain)
        {
            return Err(malformed(
                "signedRenewalInfo names another originalTransactionId than signedTransactionInfo",
            ));
        }
    }

    let keys_of = |tx: &Transaction| {
        EventKeys::new(
            tx.transaction_id.clone(),
            tx.original_transaction_id.clone(),
        )
    };
    let action = match (payload.notification_type.as_str(), &transaction) {
        ("REFUND" | "REVOKE", Some(tx)) => Action::Revoke {
            keys: keys_of(tx),
            product_id: tx.product_id.clone(),
            refuse_unredeemed: true,
        },
        ("REFUND_REVERSED", Some(tx)) => Action::Reinstate {
            keys: keys_of(tx),
            product_id: tx.product_id.clone(),
        },
        ("CONSUMPTION_REQUEST", Some(tx)) => Action::AnswerRefund {
            transaction_key: tx.transaction_id.clone(),
            answer_token: None,
        },
        ("REFUND" | "REVOKE" | "REFUND_REVERSED", None) => {
            return Err(malformed(format!(
                "{} notification without signedTransactionInfo",
                payload.notification_type
            )))
        }
        (kind, Some(tx)) => match chain_update(
            kind,
            payload.subtype.as_deref(),
            tx,
            renewal.as_ref(),
            payload.signed_date,
        ) {
            Some(answer) => Action::UpdateSubscription {
                keys: EventKeys::new(
                    tx.original_transaction_id
                        .clone()
                        .unwrap_or_else(|| tx.transaction_id.clone()),
                    Some(tx.transaction_id.clone()),
                ),
                answer,
            },
            None => Action::Record,
        },
        _ => Action::Record,
    };
    Ok(Verified {
        store: Store::AppStore,
        revoker: Revoker::Store(Store::AppStore),
        notification_id: id.to_string(),
        type_label: type_label(&payload.notification_type),
        notification_type: payload.notification_type,
        subtype: payload.subtype,
        environment: Some(env),
        signed_ms: payload.signed_date,
        apps,
        transaction_key: transaction.map(|t| t.transaction_id),
        reason: None,
        action,
    })
}

/// Whether a transaction is an auto-renewable subscription's (`type`).
pub fn auto_renewable(tx: &Transaction) -> bool {
    tx.kind.as_deref() == Some(AUTO_RENEWABLE)
}

/// Apple's `type` of an auto-renewable subscription's transactions.
pub const AUTO_RENEWABLE: &str = "Auto-Renewable Subscription";

/// What Apple signed about a chain (its latest transaction and renewal info), as the rules'
/// mapping reads it.
pub fn signed_chain(
    tx: &Transaction,
    renewal: Option<&RenewalInfo>,
) -> crate::rules::subscription_state::AppStoreSigned {
    crate::rules::subscription_state::AppStoreSigned {
        expires_date: tx.expires_date,
        auto_renew_status: renewal.and_then(|r| r.auto_renew_status),
        grace_period_expires_date: renewal.and_then(|r| r.grace_period_expires_date),
    }
}

/// The ledger answer one of Apple's signed answers about a chain makes (a notification's, or
/// Get All Subscription Statuses'): state and period end mapped by the rules
/// (`subscription_state::from_app_store_chain`), applied when `checked_ms` is newer than the
/// stored answer's; with the mapped state (its refusal). The one place both build it.
pub fn chain_answer(
    status: i64,
    signed: &crate::rules::subscription_state::AppStoreSigned,
    checked_ms: i64,
) -> Result<
    (
        crate::rules::subscription_state::AppStoreChainState,
        super::log::SubscriptionAnswer,
    ),
    crate::rules::subscription_state::UnknownStoreState,
> {
    let chain = crate::rules::subscription_state::from_app_store_chain(status, signed)?;
    let answer = super::log::SubscriptionAnswer {
        state: chain.state.state,
        expires_at_ms: chain.expires_at_ms,
        checked_ms,
        // Apple's signed `autoRenewStatus`: 1 renews, 0 does not; absent, unknown.
        will_renew: signed.auto_renew_status.map(|s| s == 1),
    };
    Ok((chain, answer))
}

/// The state change a lifecycle notification of an auto-renewable subscription's transaction
/// makes (`subscription_state::app_store_notification_status`), dated by Apple's `signedDate`
/// so that a late or replayed notification never overwrites a newer one; `None` for any other
/// notification, and for `REFUND` / `REVOKE` (they revoke the chain's row).
fn chain_update(
    notification_type: &str,
    subtype: Option<&str>,
    tx: &Transaction,
    renewal: Option<&RenewalInfo>,
    signed_ms: i64,
) -> Option<super::log::SubscriptionAnswer> {
    if !auto_renewable(tx) {
        return None;
    }
    let status = crate::rules::subscription_state::app_store_notification_status(
        notification_type,
        subtype,
    )?;
    if status == 5 {
        return None;
    }
    let mut signed = signed_chain(tx, renewal);
    // The subtype (signed with the payload) says it when the renewal info does not.
    if signed.auto_renew_status.is_none() {
        signed.auto_renew_status = match subtype {
            Some("AUTO_RENEW_DISABLED") => Some(0),
            Some("AUTO_RENEW_ENABLED") => Some(1),
            _ => None,
        };
    }
    chain_answer(status, &signed, signed_ms)
        .ok()
        .map(|(_, answer)| answer)
}

#[cfg(test)]
mod tests;
