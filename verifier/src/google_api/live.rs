//! The live check at verification (`live_check = true` in `[apps."ID".google_play.api]`): a
//! first presentation of a Play purchase is confirmed with Google before it is redeemed
//! (`purchases.products.get` for a one-time product, `purchases.subscriptionsv2.get` for a
//! subscription). A repeat presentation (the ledger already has the row) asks Google nothing.
//!
//! [`decide_product`] and [`decide_subscription`] turn Google's answer into what the verdict
//! says (pure); the subscription states are mapped once, by
//! `payseal_rules::subscription_state::from_google_play`.
//!
//! When Google cannot be asked (down, overloaded, timing out, the app's budget spent),
//! `on_store_unavailable` decides: `"signature"` (the default) pays on the signature alone
//! with `store_checked: false`; `"retry"` answers `503` with `Retry-After`, and the SDK keeps
//! the receipt pending. The default is `"signature"` because that is what PaySeal decided
//! before the live check existed (a genuine signature, checked against the app's Play key):
//! a Google outage then costs the extra certainty, not every sale, and the verdict says so;
//! refunds that the live check would have caught still arrive through RTDN and the Voided
//! Purchases API and revoke the redemption then.

use payseal_protocol::{Reason, SubscriptionState};

use super::resources::{
    ProductPurchase, SubscriptionPurchaseV2, PURCHASE_STATE_CANCELED, PURCHASE_STATE_PENDING,
    PURCHASE_STATE_PURCHASED,
};
use crate::rules::subscription_state::{from_google_play, UnknownStoreState};

pub use crate::settings::OnStoreUnavailable;

/// What Google's answer means for the verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveAnswer {
    /// `None`: pays (until `expires_at` for a subscription); else the `not_paid` reason.
    pub refusal: Option<Reason>,
    /// Google says the purchase was refunded or cancelled: recorded as a store event.
    pub refunded: bool,
    /// A subscription's state.
    pub subscription_state: Option<SubscriptionState>,
    /// A subscription's period end (the latest line item's `expiryTime`), Unix milliseconds.
    pub expires_at: Option<i64>,
    /// Whether a subscription renews, when Google said
    /// ([`SubscriptionPurchaseV2::will_renew`]).
    pub will_renew: Option<bool>,
    /// Why, for logs and the store event.
    pub detail: String,
}

/// Why Google's answer cannot be used (treated like an unavailable Google).
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    /// A subscription state this version does not know.
    #[error(transparent)]
    UnknownState(#[from] UnknownStoreState),
    /// An `expiryTime` that is not RFC 3339.
    #[error("subscriptionsv2: unreadable expiryTime: {0}")]
    ExpiryTime(#[from] time::error::Parse),
    /// A `purchaseState` this version does not know.
    #[error("products.get: unknown purchaseState {0:?}")]
    PurchaseState(Option<i64>),
}

/// A one-time purchase's `ProductPurchase`: purchased pays; cancelled (refunded, voided) is
/// `revoked` and recorded; pending is `not_purchased`. Pure.
pub fn decide_product(p: &ProductPurchase) -> Result<LiveAnswer, LiveError> {
    let answer = |refusal, refunded, detail: &str| LiveAnswer {
        refusal,
        refunded,
        subscription_state: None,
        expires_at: None,
        will_renew: None,
        detail: detail.to_string(),
    };
    match p.purchase_state {
        Some(PURCHASE_STATE_PURCHASED) => Ok(answer(None, false, "purchased")),
        Some(PURCHASE_STATE_CANCELED) => Ok(answer(
            Some(Reason::Revoked),
            true,
            "google_play: purchaseState 1 (cancelled) at products.get",
        )),
        Some(PURCHASE_STATE_PENDING) => Ok(answer(
            Some(Reason::NotPurchased),
            false,
            "purchaseState 2 (pending) at products.get",
        )),
        other => Err(LiveError::PurchaseState(other)),
    }
}

/// A subscription's `SubscriptionPurchaseV2` at `now_ms`: its state (mapped once, by the
/// rules), its period end, and whether it pays now (a paying state whose period has ended is
/// `expired`). Pure.
pub fn decide_subscription(
    s: &SubscriptionPurchaseV2,
    now_ms: i64,
) -> Result<LiveAnswer, LiveError> {
    let mapped = from_google_play(&s.subscription_state)?;
    let expires_at = s.expires_at_ms()?;
    let lapsed = mapped.refusal.is_none() && expires_at.is_none_or(|e| e <= now_ms);
    let refusal = if lapsed {
        Some(Reason::Expired)
    } else {
        mapped.refusal
    };
    Ok(LiveAnswer {
        refusal,
        refunded: false,
        subscription_state: Some(mapped.state),
        expires_at,
        will_renew: s.will_renew(),
        detail: format!("subscriptionState {}", s.subscription_state),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn product(state: i64) -> ProductPurchase {
        serde_json::from_value(serde_json::json!({"purchaseState": state})).unwrap()
    }

    #[test]
    fn every_purchase_state_has_its_verdict() {
        let paid = decide_product(&product(0)).unwrap();
        assert_eq!((paid.refusal, paid.refunded), (None, false));
        let cancelled = decide_product(&product(1)).unwrap();
        assert_eq!(
            (cancelled.refusal, cancelled.refunded),
            (Some(Reason::Revoked), true)
        );
        let pending = decide_product(&product(2)).unwrap();
        assert_eq!(
            (pending.refusal, pending.refunded),
            (Some(Reason::NotPurchased), false)
        );
        assert!(decide_product(&product(7)).is_err());
    }

    fn sub(state: &str, expiry: &str) -> SubscriptionPurchaseV2 {
        serde_json::from_value(serde_json::json!({
            "subscriptionState": state,
            "lineItems": [{"productId": "gold", "expiryTime": expiry},
                          {"productId": "gold", "expiryTime": "2026-01-01T00:00:00Z"}]}))
        .unwrap()
    }

    #[test]
    fn every_subscription_state_has_its_verdict() {
        let future = "2030-01-01T00:00:00Z";
        let end = 1_893_456_000_000;
        let now = 1_800_000_000_000;
        let s = SubscriptionState::Active;
        for (state, claim, refusal) in [
            ("SUBSCRIPTION_STATE_ACTIVE", s, None),
            (
                "SUBSCRIPTION_STATE_IN_GRACE_PERIOD",
                SubscriptionState::InGracePeriod,
                None,
            ),
            (
                "SUBSCRIPTION_STATE_CANCELED",
                SubscriptionState::Canceled,
                None,
            ),
            (
                "SUBSCRIPTION_STATE_ON_HOLD",
                SubscriptionState::OnHold,
                Some(Reason::OnHold),
            ),
            (
                "SUBSCRIPTION_STATE_PAUSED",
                SubscriptionState::Paused,
                Some(Reason::Paused),
            ),
            (
                "SUBSCRIPTION_STATE_EXPIRED",
                SubscriptionState::Expired,
                Some(Reason::Expired),
            ),
            (
                "SUBSCRIPTION_STATE_PENDING",
                SubscriptionState::Pending,
                Some(Reason::NotPurchased),
            ),
        ] {
            let a = decide_subscription(&sub(state, future), now).unwrap();
            assert_eq!(a.subscription_state, Some(claim), "{state}");
            assert_eq!(a.refusal, refusal, "{state}");
            assert_eq!(a.expires_at, Some(end), "the latest line item: {state}");
        }
        // A grace period (or any paying state) whose end has passed does not pay.
        let lapsed =
            decide_subscription(&sub("SUBSCRIPTION_STATE_IN_GRACE_PERIOD", future), end).unwrap();
        assert_eq!(lapsed.refusal, Some(Reason::Expired));
        assert!(decide_subscription(&sub("SUBSCRIPTION_STATE_UNSPECIFIED", future), now).is_err());
    }

    #[test]
    fn will_renew_is_what_the_line_items_plans_say() {
        let with_items = |items: serde_json::Value| -> Option<bool> {
            let s: SubscriptionPurchaseV2 = serde_json::from_value(serde_json::json!({
                "subscriptionState": "SUBSCRIPTION_STATE_ACTIVE",
                "lineItems": items}))
            .unwrap();
            decide_subscription(&s, 0).unwrap().will_renew
        };
        let item = |plan: serde_json::Value| {
            let mut i =
                serde_json::json!({"productId": "gold", "expiryTime": "2030-01-01T00:00:00Z"});
            i.as_object_mut()
                .unwrap()
                .extend(plan.as_object().unwrap().clone());
            i
        };
        let renews = item(serde_json::json!({"autoRenewingPlan": {"autoRenewEnabled": true}}));
        let cancelled = item(serde_json::json!({"autoRenewingPlan": {"autoRenewEnabled": false}}));
        // proto3 JSON leaves a false boolean out.
        let cancelled_omitted = item(serde_json::json!({"autoRenewingPlan": {}}));
        let prepaid = item(serde_json::json!({"prepaidPlan": {}}));
        let silent = item(serde_json::json!({}));
        assert_eq!(with_items(serde_json::json!([renews.clone()])), Some(true));
        assert_eq!(with_items(serde_json::json!([cancelled])), Some(false));
        assert_eq!(
            with_items(serde_json::json!([cancelled_omitted])),
            Some(false)
        );
        assert_eq!(
            with_items(serde_json::json!([prepaid.clone()])),
            Some(false)
        );
        assert_eq!(with_items(serde_json::json!([prepaid, renews])), Some(true));
        assert_eq!(with_items(serde_json::json!([silent])), None);
        assert_eq!(with_items(serde_json::json!([])), None);
    }
}
