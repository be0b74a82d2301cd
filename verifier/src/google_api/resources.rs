//! The Play Developer API's resources and error body, decoded (pure): `ProductPurchase`
//! (`purchases.products.get`), `SubscriptionPurchaseV2` (`purchases.subscriptionsv2.get`) and
//! Google's error document `{"error": {"code", "status", "message"}}`. Field names and enum
//! strings are the REST reference's; enum values are kept as Google sends them (integers for
//! `ProductPurchase`, `SUBSCRIPTION_STATE_*` / `ACKNOWLEDGEMENT_STATE_*` strings for
//! `SubscriptionPurchaseV2`) and interpreted by their users.

use serde::{Deserialize, Serialize};

/// `ProductPurchase.purchaseState`: purchased.
pub const PURCHASE_STATE_PURCHASED: i64 = 0;
/// `ProductPurchase.purchaseState`: canceled (refunded or voided).
pub const PURCHASE_STATE_CANCELED: i64 = 1;
/// `ProductPurchase.purchaseState`: pending.
pub const PURCHASE_STATE_PENDING: i64 = 2;
/// `ProductPurchase.acknowledgementState`: acknowledged.
pub const PRODUCT_ACKNOWLEDGED: i64 = 1;
/// `ProductPurchase.consumptionState`: consumed.
pub const PRODUCT_CONSUMED: i64 = 1;
/// `SubscriptionPurchaseV2.acknowledgementState`: acknowledged.
pub const ACKNOWLEDGEMENT_STATE_ACKNOWLEDGED: &str = "ACKNOWLEDGEMENT_STATE_ACKNOWLEDGED";

/// A `ProductPurchase` (one-time product), the fields PaySeal reads.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductPurchase {
    /// `0` purchased, `1` canceled, `2` pending.
    #[serde(default)]
    pub purchase_state: Option<i64>,
    /// `0` yet to be consumed, `1` consumed.
    #[serde(default)]
    pub consumption_state: Option<i64>,
    /// `0` yet to be acknowledged, `1` acknowledged.
    #[serde(default)]
    pub acknowledgement_state: Option<i64>,
    /// The order id.
    #[serde(default)]
    pub order_id: Option<String>,
    /// When it was bought, Unix milliseconds (an int64 string on the wire).
    #[serde(default, deserialize_with = "crate::upstream::opt_int64")]
    pub purchase_time_millis: Option<i64>,
    /// The product id.
    #[serde(default)]
    pub product_id: Option<String>,
    /// Units bought.
    #[serde(default)]
    pub quantity: Option<i64>,
    /// Units that can still be refunded.
    #[serde(default)]
    pub refundable_quantity: Option<i64>,
    /// `0` test (licence tester), `1` promo, `2` rewarded; absent for a real purchase.
    #[serde(default)]
    pub purchase_type: Option<i64>,
}

impl ProductPurchase {
    /// Whether Google says it is acknowledged already.
    pub fn acknowledged(&self) -> bool {
        self.acknowledgement_state == Some(PRODUCT_ACKNOWLEDGED)
    }

    /// Whether Google says it is consumed already.
    pub fn consumed(&self) -> bool {
        self.consumption_state == Some(PRODUCT_CONSUMED)
    }
}

/// One `SubscriptionPurchaseLineItem`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LineItem {
    /// The subscription's product id.
    #[serde(default)]
    pub product_id: String,
    /// When this item's period ends (RFC 3339).
    #[serde(default)]
    pub expiry_time: Option<String>,
    /// The latest successful order of this item.
    #[serde(default)]
    pub latest_successful_order_id: Option<String>,
    /// Present when the item is on an auto-renewing base plan.
    #[serde(default)]
    pub auto_renewing_plan: Option<AutoRenewingPlan>,
    /// Present (an object) when the item is on a prepaid base plan: it never renews by itself.
    #[serde(default)]
    pub prepaid_plan: Option<serde_json::Value>,
}

/// `AutoRenewingPlan`, the field PaySeal reads.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AutoRenewingPlan {
    /// Whether the item renews at its period end (false once the user cancelled). Absent means
    /// false: Google's JSON (proto3) leaves out a boolean that is false.
    #[serde(default)]
    pub auto_renew_enabled: Option<bool>,
}

/// `externalAccountIdentifiers`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExternalAccountIdentifiers {
    /// The obfuscated account id the app set at purchase.
    #[serde(default)]
    pub obfuscated_external_account_id: Option<String>,
    /// The obfuscated profile id the app set at purchase.
    #[serde(default)]
    pub obfuscated_external_profile_id: Option<String>,
}

/// A `SubscriptionPurchaseV2`, the fields PaySeal reads.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionPurchaseV2 {
    /// `SUBSCRIPTION_STATE_ACTIVE`, `..._IN_GRACE_PERIOD`, `..._ON_HOLD`, `..._PAUSED`,
    /// `..._CANCELED`, `..._EXPIRED`, `..._PENDING`, `..._PENDING_PURCHASE_CANCELED`.
    #[serde(default)]
    pub subscription_state: String,
    /// The line items (one per subscribed product).
    #[serde(default)]
    pub line_items: Vec<LineItem>,
    /// The token of the subscription this one replaced (upgrade, downgrade, re-signup).
    #[serde(default)]
    pub linked_purchase_token: Option<String>,
    /// `ACKNOWLEDGEMENT_STATE_PENDING` or `ACKNOWLEDGEMENT_STATE_ACKNOWLEDGED`.
    #[serde(default)]
    pub acknowledgement_state: Option<String>,
    /// Present (an empty object) for a licence tester's purchase.
    #[serde(default)]
    pub test_purchase: Option<serde_json::Value>,
    /// When the subscription was granted (RFC 3339).
    #[serde(default)]
    pub start_time: Option<String>,
    /// The obfuscated account identifiers the app set.
    #[serde(default)]
    pub external_account_identifiers: Option<ExternalAccountIdentifiers>,
}

impl SubscriptionPurchaseV2 {
    /// Whether Google says it is acknowledged already.
    pub fn acknowledged(&self) -> bool {
        self.acknowledgement_state.as_deref() == Some(ACKNOWLEDGEMENT_STATE_ACKNOWLEDGED)
    }

    /// Whether the subscription renews at its period end: `Some(true)` when any line item's
    /// auto-renewing plan has `autoRenewEnabled`, `Some(false)` when its items are on prepaid
    /// plans or auto-renewing plans that do not renew, `None` when no item says which plan it
    /// is on (Google did not say).
    pub fn will_renew(&self) -> Option<bool> {
        let mut said = None;
        for item in &self.line_items {
            if let Some(plan) = &item.auto_renewing_plan {
                if plan.auto_renew_enabled == Some(true) {
                    return Some(true);
                }
                said = Some(false);
            } else if item.prepaid_plan.is_some() {
                said = Some(false);
            }
        }
        said
    }

    /// The latest `expiryTime` of its line items, Unix milliseconds (`None`: no item has one,
    /// e.g. a pending purchase). An unreadable time is an error, not skipped.
    pub fn expires_at_ms(&self) -> Result<Option<i64>, time::error::Parse> {
        let mut latest: Option<i64> = None;
        for item in &self.line_items {
            if let Some(t) = &item.expiry_time {
                let at =
                    time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)?;
                let ms = i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX);
                latest = Some(latest.map_or(ms, |l| l.max(ms)));
            }
        }
        Ok(latest)
    }
}

/// Google's error document, `{"error": {"code", "status", "message"}}`, with the HTTP status
/// it came with. Its `message` names no secret (it is Google's text about the request).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("HTTP {http}: {status} ({code}): {message}")]
pub struct GoogleError {
    /// The HTTP status.
    pub http: u16,
    /// `error.code` (the HTTP status again, as Google writes it; `http` when absent).
    pub code: i64,
    /// `error.status`: `INVALID_ARGUMENT`, `NOT_FOUND`, `PERMISSION_DENIED`,
    /// `RESOURCE_EXHAUSTED`, `UNAUTHENTICATED`, ...; empty when absent.
    pub status: String,
    /// `error.message`, at most 300 characters; empty when absent.
    pub message: String,
}

impl GoogleError {
    /// The error of an answer with HTTP status `http` and `body`; a body that is not Google's
    /// error document still gives an error (of its status alone). Pure.
    pub fn parse(http: u16, body: &[u8]) -> Self {
        #[derive(Deserialize)]
        struct Inner {
            #[serde(default)]
            code: Option<i64>,
            #[serde(default)]
            status: Option<String>,
            #[serde(default)]
            message: Option<String>,
        }
        #[derive(Deserialize)]
        struct Doc {
            error: Inner,
        }
        let inner = serde_json::from_slice::<Doc>(body).ok().map(|d| d.error);
        let (code, status, message) = match inner {
            Some(i) => (i.code, i.status, i.message),
            None => (None, None, None),
        };
        Self {
            http,
            code: code.unwrap_or(i64::from(http)),
            status: status.unwrap_or_default(),
            message: message.unwrap_or_default().chars().take(300).collect(),
        }
    }

    /// Whether Google says the purchase (token) is unknown: `404`, or `400` with
    /// `INVALID_ARGUMENT` about the token ("The purchase token is no longer valid").
    pub fn not_found(&self) -> bool {
        self.http == 404 || self.http == 410
    }

    /// Whether Google says the refund review was answered already (only the first
    /// `orders.reviewrefund` call counts): `409`, `ALREADY_EXISTS`, or `FAILED_PRECONDITION`
    /// saying "already". The answer that counts was given: done.
    pub fn already_answered(&self) -> bool {
        self.http == 409
            || self.status == "ALREADY_EXISTS"
            || (self.status == "FAILED_PRECONDITION"
                && self.message.to_ascii_lowercase().contains("already"))
    }
}

/// `orders.reviewrefund`'s `refundPreference`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReviewRefundPreference {
    /// The developer prefers Play to decline the refund.
    Decline,
    /// The developer prefers Play to approve the full refund.
    Approve,
    /// No preference.
    Neutral,
}

/// One `ConsumptionUsageEvent` (the fields PaySeal can say truthfully: when, and what).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsumptionUsageEvent {
    /// When the customer used the item (RFC 3339, `Z`).
    pub consumption_time: String,
    /// Free text about it (at most 5000 characters).
    pub consumption_item_description: String,
}

/// The `orders.reviewrefund` request body (`OrdersReviewRefundRequest`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReviewRefundRequest {
    /// The notification's `pendingRefundToken`.
    pub pending_refund_token: String,
    /// Whether a free sample, trial or information about the functionality was provided.
    pub sample_content_provided: bool,
    /// The developer's preference.
    pub refund_preference: ReviewRefundPreference,
    /// How much was consumed, `0..=100_000` milliunits (omitted without consent).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub consumption_percentage_milliunits: Option<u32>,
    /// Usage events (omitted when none; at most 1000; none without consent).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub consumption_usage_events: Vec<ConsumptionUsageEvent>,
}

impl super::PlayApi {
    /// `orders.reviewrefund`: `POST …/orders/{orderId}:reviewrefund` with `request`; Google
    /// answers an empty body. Only the first call for a pending refund counts.
    pub async fn orders_reviewrefund(
        &self,
        order_id: &str,
        request: &ReviewRefundRequest,
    ) -> Result<(), super::ApiError> {
        const WHAT: &str = "orders.reviewrefund";
        let last = format!("{order_id}:reviewrefund");
        let url = self.url(&["orders", &last])?;
        let body = serde_json::to_value(request)
            .map_err(|e| crate::upstream::UpstreamError::decode(WHAT, e))?;
        self.call(WHAT, reqwest::Method::POST, url, Some(&body))
            .await
            .map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn product_purchases_decode_in_google_s_encoding() {
        let p: ProductPurchase = serde_json::from_slice(
            br#"{"kind": "androidpublisher#productPurchase", "purchaseTimeMillis": "1700000000000",
                "purchaseState": 0, "consumptionState": 0, "developerPayload": "",
                "orderId": "GPA.1234-5678-9012-34567", "purchaseType": 0,
                "acknowledgementState": 1, "productId": "coins_100", "quantity": 1,
                "regionCode": "DE", "refundableQuantity": 1}"#,
        )
        .unwrap();
        assert_eq!(p.purchase_state, Some(PURCHASE_STATE_PURCHASED));
        assert_eq!(p.purchase_time_millis, Some(1_700_000_000_000));
        assert!(p.acknowledged());
        assert!(!p.consumed());
        assert_eq!(p.purchase_type, Some(0));
    }

    #[test]
    fn subscriptions_take_the_latest_line_item_expiry() {
        let s: SubscriptionPurchaseV2 = serde_json::from_slice(
            br#"{"kind": "androidpublisher#subscriptionPurchaseV2", "regionCode": "US",
                "startTime": "2026-01-01T00:00:00Z",
                "subscriptionState": "SUBSCRIPTION_STATE_IN_GRACE_PERIOD",
                "linkedPurchaseToken": "old-token",
                "acknowledgementState": "ACKNOWLEDGEMENT_STATE_PENDING",
                "lineItems": [
                  {"productId": "gold", "expiryTime": "2026-02-01T00:00:00.250Z"},
                  {"productId": "addon", "expiryTime": "2026-03-01T00:00:00Z"}]}"#,
        )
        .unwrap();
        assert_eq!(s.subscription_state, "SUBSCRIPTION_STATE_IN_GRACE_PERIOD");
        assert!(!s.acknowledged());
        assert_eq!(s.expires_at_ms().unwrap(), Some(1_772_323_200_000));
        assert_eq!(s.linked_purchase_token.as_deref(), Some("old-token"));
        let bad = SubscriptionPurchaseV2 {
            line_items: vec![LineItem {
                product_id: "gold".into(),
                expiry_time: Some("tomorrow".into()),
                latest_successful_order_id: None,
                auto_renewing_plan: None,
                prepaid_plan: None,
            }],
            ..s.clone()
        };
        assert!(bad.expires_at_ms().is_err());
        let pending = SubscriptionPurchaseV2 {
            line_items: vec![],
            ..s
        };
        assert_eq!(pending.expires_at_ms().unwrap(), None);
    }

    #[test]
    fn google_errors_are_typed_from_their_body() {
        let e = GoogleError::parse(
            404,
            br#"{"error": {"code": 404, "message": "The purchase token was not found.",
                "errors": [{"message": "x", "domain": "global", "reason": "purchaseTokenNotFound"}],
                "status": "NOT_FOUND"}}"#,
        );
        assert_eq!((e.code, e.status.as_str()), (404, "NOT_FOUND"));
        assert!(e.not_found());
        assert_eq!(e.message, "The purchase token was not found.");
        let plain = GoogleError::parse(502, b"<html>Bad Gateway</html>");
        assert_eq!(
            (plain.http, plain.code, plain.status.as_str()),
            (502, 502, "")
        );
        assert!(!plain.not_found());
    }

    #[test]
    fn review_refund_bodies_are_google_s_and_already_answered_is_recognised() {
        let full = ReviewRefundRequest {
            pending_refund_token: "prt".into(),
            sample_content_provided: false,
            refund_preference: ReviewRefundPreference::Decline,
            consumption_percentage_milliunits: Some(45_200),
            consumption_usage_events: vec![ConsumptionUsageEvent {
                consumption_time: "2026-12-07T10:00:00Z".into(),
                consumption_item_description: "delivered".into(),
            }],
        };
        assert_eq!(
            serde_json::to_value(&full).unwrap(),
            serde_json::json!({"pendingRefundToken": "prt", "sampleContentProvided": false,
                "refundPreference": "DECLINE", "consumptionPercentageMilliunits": 45200,
                "consumptionUsageEvents": [{"consumptionTime": "2026-12-07T10:00:00Z",
                    "consumptionItemDescription": "delivered"}]})
        );
        let bare = ReviewRefundRequest {
            refund_preference: ReviewRefundPreference::Neutral,
            consumption_percentage_milliunits: None,
            consumption_usage_events: vec![],
            ..full
        };
        assert_eq!(
            serde_json::to_value(&bare).unwrap(),
            serde_json::json!({"pendingRefundToken": "prt", "sampleContentProvided": false,
                "refundPreference": "NEUTRAL"})
        );
        let answered = GoogleError::parse(
            400,
            br#"{"error": {"code": 400, "status": "FAILED_PRECONDITION",
                "message": "The refund review has already been answered."}}"#,
        );
        assert!(answered.already_answered());
        assert!(GoogleError::parse(409, b"").already_answered());
        let other = GoogleError::parse(
            400,
            br#"{"error": {"code": 400, "status": "INVALID_ARGUMENT", "message": "bad token"}}"#,
        );
        assert!(!other.already_answered());
    }
}
