//! Huawei AppGallery (HMS IAP) server notifications, version 2, for one-time products:
//! `POST /v1/stores/huawei/notifications` (served when an app has
//! `[apps."ID".huawei.notifications]`).
//!
//! The body Huawei's IAP server sends: `{"version": "v2", "eventType": "ORDER", "notifyTime":
//! <ms>, "applicationId": "<AppGallery app id>", "orderNotification": {"version": "v2",
//! "notificationType": 1 (payment) | 2 (refund), "purchaseToken": "…", "productId": "…"}}`
//! (`eventType` `SUBSCRIPTION` carries a `subNotification` instead).
//!
//! An order notification is **not signed**, so it is only a trigger: for a refund
//! (`notificationType` 2) the verifier asks Huawei's Order service for the purchase
//! ([`HuaweiEndpoint`], [`verify_response`]: `POST
//! {order_service_url}/applications/purchases/tokens/verify` with `{"purchaseToken",
//! "productId"}` and `Authorization: Basic base64("APPAT:" + app-level access
//! token)`, the token from `token_uri` by the OAuth2 client-credentials grant), and acts only
//! on the answer's **signed** purchase data (`purchaseTokenData`, `dataSignature`,
//! `signatureAlgorithm`), checked by the same Huawei rule as a verify request with the app's
//! IAP public key: `purchaseState` 2 (refunded) revokes the redemption of its `orderId` (the
//! Huawei ledger key). A forged notification can therefore change nothing: at worst it makes
//! the verifier ask Huawei about a purchase.
//!
//! Answers: `200 {"result": …}` when the notification was handled or needs nothing
//! (`revoked`, `already_revoked`, `not_redeemed`, `not_refunded`: Huawei's signed data says it
//! is not refunded, `not_found`: the Order service does not know the token, `unknown_app`,
//! `ignored`: payments and subscription events); `400` for a body that is not a v2
//! notification; `503` (Huawei's server retries) when the Order service or the ledger cannot be
//! reached, or when the Order service's data does not verify with the configured key (a
//! configuration error to fix: the notification is kept by Huawei's retries meanwhile).

use std::collections::HashMap;
use std::sync::Arc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use payseal_protocol::{HuaweiAlgorithm, Reason, Receipt, Store};
use serde::Deserialize;

use super::outbound::{CallGuard, Guarded};
use super::StoreAnswer;
use super::{Action as EventAction, Verified};
use crate::ledger::event::{EventKeys, Revoker};
use crate::ledger::NotificationLog;
use crate::rules::PartialPurchase;
use crate::settings::Settings;
use crate::upstream::{read_limited, CachedToken, UpstreamError};

/// The notification endpoint's path.
pub const NOTIFY_PATH: &str = "/v1/stores/huawei/notifications";

/// Huawei's OAuth 2.0 token endpoint (the default `token_uri`).
pub const HUAWEI_TOKEN_URI: &str = "https://oauth-login.cloud.huawei.com/oauth2/v3/token";

/// The store label in `payseal_store_notifications_total`.
pub const STORE_LABEL: &str = "huawei";

/// Largest Order service or token answer accepted, bytes.
const MAX_RESPONSE_BYTES: usize = 256 * 1024;

pub use crate::settings::HuaweiNotifySettings;

// ---------------------------------------------------------------------------------------------
// Pure parts

/// A version 2 notification.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NotificationV2 {
    /// `v2`.
    #[serde(default)]
    pub version: String,
    /// `ORDER` or `SUBSCRIPTION`.
    pub event_type: String,
    /// The AppGallery app id.
    #[serde(deserialize_with = "string_or_number")]
    pub application_id: String,
    /// For `ORDER`.
    #[serde(default)]
    pub order_notification: Option<OrderNotification>,
}

/// `orderNotification`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderNotification {
    /// `1` payment succeeded, `2` refund succeeded.
    pub notification_type: i64,
    /// The purchase token.
    pub purchase_token: String,
    /// The product id.
    pub product_id: String,
}

fn string_or_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) => Ok(s),
        serde_json::Value::Number(n) => Ok(n.to_string()),
        _ => Err(serde::de::Error::custom("expected a string or a number")),
    }
}

/// Why a body is not a Huawei v2 notification.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// Not the JSON of a v2 notification.
    #[error("not a Huawei v2 notification: {0}")]
    Json(#[from] serde_json::Error),
    /// `eventType` `ORDER` without its `orderNotification`.
    #[error("eventType ORDER without orderNotification")]
    OrderWithoutNotification,
}

/// Decode a notification body. Pure.
pub fn decode(body: &[u8]) -> Result<NotificationV2, DecodeError> {
    let n: NotificationV2 = serde_json::from_slice(body)?;
    if n.event_type == "ORDER" && n.order_notification.is_none() {
        return Err(DecodeError::OrderWithoutNotification);
    }
    Ok(n)
}

/// What to do with a notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action<'a> {
    /// Ask the Order service about this purchase (a refund was announced).
    Check {
        /// The purchase token.
        purchase_token: &'a str,
        /// The product id.
        product_id: &'a str,
    },
    /// Nothing to do; the word is the `result` label.
    Acknowledge(&'static str),
}

/// The decision for a notification (pure).
pub fn decide(n: &NotificationV2) -> Action<'_> {
    match (&n.order_notification, n.event_type.as_str()) {
        (Some(o), "ORDER") if o.notification_type == 2 => Action::Check {
            purchase_token: &o.purchase_token,
            product_id: &o.product_id,
        },
        _ => Action::Acknowledge("ignored"),
    }
}

/// The `type` label of a notification.
pub fn type_label(n: &NotificationV2) -> &'static str {
    match (&n.order_notification, n.event_type.as_str()) {
        (Some(o), "ORDER") if o.notification_type == 2 => "order_refund",
        (Some(_), "ORDER") => "order_payment",
        (_, "SUBSCRIPTION") => "subscription",
        _ => "other",
    }
}

/// The store event of a refund Huawei's signed purchase data confirmed (`partial`: what the
/// Huawei rule read from it), for `app_id`: idempotent by the order id, keyed by the order and,
/// for an auto-renewable subscription, its chain (`subscriptionId`, the row's key). `None`
/// when the data names no order. Pure.
pub fn refund_event(
    app_id: &str,
    type_label: &'static str,
    partial: &PartialPurchase,
    at_ms: i64,
) -> Option<Verified> {
    let order_id = partial
        .transaction_id
        .as_deref()
        .filter(|o| !o.is_empty())?;
    let keys = EventKeys::new(order_id, partial.transaction_key.clone());
    Some(Verified {
        store: Store::Huawei,
        revoker: Revoker::Store(Store::Huawei),
        notification_id: format!("{order_id}:refund"),
        notification_type: "ORDER_REFUND".into(),
        subtype: None,
        type_label,
        environment: partial.environment,
        signed_ms: at_ms,
        apps: vec![app_id.to_string()],
        transaction_key: Some(order_id.to_string()),
        reason: Some(
            "huawei: refund notification; the Order service's signed data says purchaseState 2 \
             (refunded)"
                .into(),
        ),
        action: EventAction::Revoke {
            keys,
            product_id: partial.product_id.clone().unwrap_or_default(),
            refuse_unredeemed: true,
        },
    })
}

/// `Authorization` for the Order service: `Basic base64("APPAT:" + token)`.
pub fn app_at_authorization(access_token: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("APPAT:{access_token}")))
}

/// Why an Order service answer carries no usable purchase data.
#[derive(Debug, thiserror::Error)]
pub enum OrderAnswerError {
    /// Not the JSON of an Order service answer.
    #[error("not an Order service answer: {0}")]
    Json(#[from] serde_json::Error),
    /// `responseCode` 0 without the signed data.
    #[error("responseCode 0 without purchaseTokenData and dataSignature")]
    MissingData,
    /// A signature algorithm Huawei does not document.
    #[error("unknown signatureAlgorithm {0:?}")]
    UnknownAlgorithm(String),
}

/// The signed purchase data in an Order service answer, as a receipt for the Huawei rule;
/// `Ok(None)` when the service answered with a non-zero `responseCode` (unknown or invalid
/// token). Pure.
pub fn verify_response(json: &[u8]) -> Result<Option<Receipt>, OrderAnswerError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Answer {
        response_code: String,
        #[serde(default)]
        purchase_token_data: Option<String>,
        #[serde(default)]
        data_signature: Option<String>,
        #[serde(default)]
        signature_algorithm: Option<String>,
    }
    let a: Answer = serde_json::from_slice(json)?;
    if a.response_code != "0" {
        return Ok(None);
    }
    let (Some(purchase_data), Some(signature)) = (a.purchase_token_data, a.data_signature) else {
        return Err(OrderAnswerError::MissingData);
    };
    let algorithm = match a.signature_algorithm.as_deref() {
        None | Some("") | Some("SHA256WithRSA") => HuaweiAlgorithm::Sha256WithRsa,
        Some("SHA256WithRSA/PSS") => HuaweiAlgorithm::Sha256WithRsaPss,
        Some(other) => return Err(OrderAnswerError::UnknownAlgorithm(other.to_string())),
    };
    Ok(Some(Receipt::Huawei {
        purchase_data,
        signature,
        algorithm,
    }))
}

// ---------------------------------------------------------------------------------------------
// I/O

/// What the Order service said about a purchase token: its signed purchase data, `None` when
/// it does not know the token, or why it could not be asked.
type OrderLookup = Result<Option<Receipt>, Arc<UpstreamError>>;

struct App {
    settings: HuaweiNotifySettings,
    token: CachedToken,
    /// Dedupes and bounds the Order-service calls of this app.
    guard: CallGuard<OrderLookup>,
}

/// The notification endpoint: the apps by AppGallery app id, and their cached access tokens.
pub struct HuaweiEndpoint {
    apps: HashMap<String, App>,
    client: reqwest::Client,
}

impl std::fmt::Debug for HuaweiEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HuaweiEndpoint")
            .field("apps", &self.apps.len())
            .finish_non_exhaustive()
    }
}

impl HuaweiEndpoint {
    /// An endpoint for these apps, calling Huawei with `client` (the verifier's outbound
    /// client).
    pub fn new(apps: Vec<HuaweiNotifySettings>, client: reqwest::Client) -> Self {
        let apps = apps
            .into_iter()
            .map(|s| {
                (
                    s.client_id.clone(),
                    App {
                        guard: CallGuard::new(s.limits),
                        settings: s,
                        token: CachedToken::default(),
                    },
                )
            })
            .collect();
        Self { apps, client }
    }

    /// Decode and act on one notification.
    pub async fn handle(
        &self,
        verifier: &Settings,
        ledger: &dyn NotificationLog,
        body: &[u8],
        now_ms: i64,
    ) -> StoreAnswer {
        let n = match decode(body) {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "Huawei notification not decodable");
                return StoreAnswer::new(400, "unknown", "malformed");
            }
        };
        let kind = type_label(&n);
        let Some(app) = self.apps.get(&n.application_id) else {
            tracing::warn!(application_id = %n.application_id,
                "Huawei notification for an app not configured here: acknowledged, nothing changed");
            return StoreAnswer::new(200, kind, "unknown_app");
        };
        let (purchase_token, product_id) = match decide(&n) {
            Action::Acknowledge(result) => return StoreAnswer::new(200, kind, result),
            Action::Check {
                purchase_token,
                product_id,
            } => (purchase_token, product_id),
        };
        let app_id = app.settings.app_id.as_str();
        let guarded = app
            .guard
            .call(purchase_token, || async {
                let lookup = self
                    .order_data(app, purchase_token, product_id)
                    .await
                    .map_err(Arc::new);
                let keep = lookup.is_ok();
                (lookup, keep)
            })
            .await;
        let outbound = guarded.label();
        let lookup = match guarded {
            Guarded::Called(lookup) | Guarded::Deduplicated(lookup) => lookup,
            Guarded::RateLimited => {
                tracing::warn!(app = app_id,
                    "Huawei notification not handled: Order-service calls over their bound; Huawei will notify again");
                return StoreAnswer::new(503, kind, "rate_limited").with_outbound(outbound);
            }
        };
        self.act(verifier, ledger, app_id, kind, lookup, now_ms)
            .await
            .with_outbound(outbound)
    }

    /// Act on the Order service's answer about a refunded purchase.
    async fn act(
        &self,
        verifier: &Settings,
        ledger: &dyn NotificationLog,
        app_id: &str,
        kind: &'static str,
        lookup: OrderLookup,
        now_ms: i64,
    ) -> StoreAnswer {
        let receipt = match lookup {
            Ok(Some(r)) => r,
            Ok(None) => return StoreAnswer::new(200, kind, "not_found"),
            Err(e) => {
                tracing::error!(app = app_id, error = %e,
                    "Huawei Order service unavailable; Huawei will notify again");
                return StoreAnswer::new(503, kind, "error");
            }
        };
        let Some(rules) = verifier.apps.get(app_id) else {
            return StoreAnswer::new(200, kind, "unknown_app");
        };
        let rejection = match crate::rules::check_receipt(
            &receipt,
            rules,
            &verifier.anchors,
            now_ms,
        ) {
            Ok(_) => return StoreAnswer::new(200, kind, "not_refunded"),
            Err(r) if r.reason == Reason::BadSignature => {
                tracing::error!(app = app_id,
                    "the Order service's purchase data does not verify with [apps.{app_id}.huawei] public_key");
                return StoreAnswer::new(503, kind, "bad_signature");
            }
            Err(r) if r.reason == Reason::Revoked => r,
            Err(_) => return StoreAnswer::new(200, kind, "not_refunded"),
        };
        let Some(event) = refund_event(app_id, kind, &rejection.partial, now_ms) else {
            return StoreAnswer::new(200, kind, "not_refunded");
        };
        match super::record(verifier, ledger, &event, now_ms).await {
            Ok(recorded) => {
                let answer = StoreAnswer::recorded(kind, &recorded);
                tracing::info!(
                    app = app_id,
                    result = answer.result,
                    duplicate = answer.duplicate,
                    "Huawei refund"
                );
                answer
            }
            Err(e) => {
                tracing::error!(app = app_id, error = %e, "ledger unavailable");
                StoreAnswer::new(503, kind, "error")
            }
        }
    }

    /// The Order service's signed data for a token (one token refresh on `401`).
    async fn order_data(
        &self,
        app: &App,
        purchase_token: &str,
        product_id: &str,
    ) -> Result<Option<Receipt>, UpstreamError> {
        const WHAT: &str = "Huawei Order service";
        let url = format!(
            "{}/applications/purchases/tokens/verify",
            app.settings.order_service_url.trim_end_matches('/')
        );
        let body = serde_json::json!({"purchaseToken": purchase_token, "productId": product_id});
        for attempt in 0..2 {
            let token = self.access_token(app).await?;
            let response = self
                .client
                .post(&url)
                .timeout(app.settings.request_timeout)
                .header(reqwest::header::AUTHORIZATION, app_at_authorization(&token))
                .json(&body)
                .send()
                .await
                .map_err(|e| UpstreamError::transport(WHAT, e))?;
            let status = response.status();
            if status.as_u16() == 401 && attempt == 0 {
                app.token.forget().await;
                continue;
            }
            if !status.is_success() {
                return Err(UpstreamError::Status {
                    what: WHAT,
                    status: status.as_u16(),
                });
            }
            let json = read_limited(WHAT, response, MAX_RESPONSE_BYTES).await?;
            return verify_response(&json).map_err(|e| UpstreamError::decode(WHAT, e));
        }
        Err(UpstreamError::Unauthorized { what: WHAT })
    }

    /// The app-level access token (client-credentials grant), cached until a minute before it
    /// expires.
    async fn access_token(&self, app: &App) -> Result<zeroize::Zeroizing<String>, UpstreamError> {
        const WHAT: &str = "Huawei token endpoint";
        app.token
            .get_or_fetch(|| async {
                let s = &app.settings;
                let response = self
                    .client
                    .post(&s.token_uri)
                    .timeout(s.request_timeout)
                    .form(&[
                        ("grant_type", "client_credentials"),
                        ("client_id", s.client_id.as_str()),
                        ("client_secret", s.client_secret.as_str()),
                    ])
                    .send()
                    .await
                    .map_err(|e| UpstreamError::transport(WHAT, e))?;
                let status = response.status();
                let json = read_limited(WHAT, response, MAX_RESPONSE_BYTES).await?;
                if !status.is_success() {
                    return Err(UpstreamError::Status {
                        what: WHAT,
                        status: status.as_u16(),
                    });
                }
                super::voided::parse_token_response(&json)
                    .map_err(|e| UpstreamError::decode(WHAT, e))
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notifications_decode_and_only_refunds_are_checked() {
        let refund = br#"{"version": "v2", "eventType": "ORDER", "notifyTime": 1733486400000,
            "applicationId": "107123456", "orderNotification": {"version": "v2",
            "notificationType": 2, "purchaseToken": "0000017a.1.107123456", "productId": "coins_100"}}"#;
        let n = decode(refund).unwrap();
        assert_eq!(type_label(&n), "order_refund");
        assert_eq!(
            decide(&n),
            Action::Check {
                purchase_token: "0000017a.1.107123456",
                product_id: "coins_100"
            }
        );
        let paid = String::from_utf8_lossy(refund)
            .replace("\"notificationType\": 2", "\"notificationType\": 1");
        let n = decode(paid.as_bytes()).unwrap();
        assert_eq!(
            (type_label(&n), decide(&n)),
            ("order_payment", Action::Acknowledge("ignored"))
        );
        let sub = br#"{"version": "v2", "eventType": "SUBSCRIPTION", "applicationId": 107123456,
            "subNotification": {"statusUpdateNotification": "{}", "notificationSignature": "x"}}"#;
        let n = decode(sub).unwrap();
        assert_eq!(n.application_id, "107123456");
        assert_eq!(
            (type_label(&n), decide(&n)),
            ("subscription", Action::Acknowledge("ignored"))
        );
        assert!(matches!(decode(b"{}"), Err(DecodeError::Json(_))));
        assert!(matches!(
            decode(br#"{"eventType": "ORDER", "applicationId": "1"}"#),
            Err(DecodeError::OrderWithoutNotification)
        ));
    }

    #[test]
    fn order_service_answers_become_huawei_receipts() {
        let ok = br#"{"responseCode": "0", "purchaseTokenData": "{\"orderId\":\"1\"}",
            "dataSignature": "c2ln", "signatureAlgorithm": "SHA256WithRSA/PSS"}"#;
        match verify_response(ok).unwrap() {
            Some(Receipt::Huawei {
                purchase_data,
                signature,
                algorithm,
            }) => {
                assert_eq!(purchase_data, "{\"orderId\":\"1\"}");
                assert_eq!(signature, "c2ln");
                assert_eq!(algorithm, HuaweiAlgorithm::Sha256WithRsaPss);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            verify_response(br#"{"responseCode": "5", "responseMessage": "invalid token"}"#),
            Ok(None)
        ));
        assert!(matches!(
            verify_response(br#"{"responseCode": "0"}"#),
            Err(OrderAnswerError::MissingData)
        ));
        assert!(matches!(
            verify_response(
                br#"{"responseCode": "0", "purchaseTokenData": "{}",
            "dataSignature": "x", "signatureAlgorithm": "MD5"}"#
            ),
            Err(OrderAnswerError::UnknownAlgorithm(a)) if a == "MD5"
        ));
        assert!(matches!(
            verify_response(b"[]"),
            Err(OrderAnswerError::Json(_))
        ));
        assert_eq!(
            app_at_authorization("tok"),
            format!("Basic {}", STANDARD.encode("APPAT:tok"))
        );
    }
}
