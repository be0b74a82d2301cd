//! The stores' subscription states in PaySeal's one vocabulary ([`SubscriptionState`]), and
//! whether each pays: the one place these are decided (the Play live check, the App Store
//! status check and the store-event paths all call it; none maps a store value by itself).
//!
//! Pure: the caller passes the store's enum string or number as its server API answered it.
//!
//! | store value | [`SubscriptionState`] | verdict |
//! |---|---|---|
//! | Play `SUBSCRIPTION_STATE_ACTIVE`, App Store status 1 | `active` | paid until `expires_at` |
//! | Play `SUBSCRIPTION_STATE_IN_GRACE_PERIOD`, App Store status 4 | `in_grace_period` | paid until the grace end |
//! | Play `SUBSCRIPTION_STATE_CANCELED` | `canceled` | paid until `expires_at` |
//! | Play `SUBSCRIPTION_STATE_ON_HOLD`, App Store status 3 | `on_hold` | `not_paid / on_hold` |
//! | Play `SUBSCRIPTION_STATE_PAUSED` | `paused` | `not_paid / paused` |
//! | Play `SUBSCRIPTION_STATE_EXPIRED`, App Store status 2 | `expired` | `not_paid / expired` |
//! | App Store status 5 (revoked) | `expired` | `not_paid / revoked` |
//! | Play `SUBSCRIPTION_STATE_PENDING` | `pending` | `not_paid / not_purchased` |
//! | Play `SUBSCRIPTION_STATE_PENDING_PURCHASE_CANCELED` | `expired` | `not_paid / not_purchased` |
//!
//! "Paid until" is the caller's to check against its clock (the period end comes with the
//! state: Play `lineItems[].expiryTime`, Apple `expiresDate` / `gracePeriodExpiresDate`).

use payseal_protocol::{Reason, SubscriptionState};

/// A store's subscription state value that this version does not know (or
/// `SUBSCRIPTION_STATE_UNSPECIFIED`): the caller treats the answer as unusable, never as paid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnknownStoreState {
    /// A Play `subscriptionState` string this version does not map.
    #[error("unknown Google Play subscriptionState {0:?}")]
    GooglePlay(String),
    /// An App Store `status` number this version does not map.
    #[error("unknown App Store subscription status {0}")]
    AppStore(i64),
}

/// A store's subscription state in PaySeal's words: the state and, when it does not pay, why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreSubscriptionState {
    /// The `subscription_state` claim.
    pub state: SubscriptionState,
    /// `None`: pays until the period end; otherwise the `not_paid` reason.
    pub refusal: Option<Reason>,
}

impl StoreSubscriptionState {
    /// A state with the refusal [`refusal`] gives it.
    fn of(state: SubscriptionState) -> Self {
        Self {
            state,
            refusal: refusal(state),
        }
    }
}

/// Whether a state pays (until its period end): `None`; or the `not_paid` reason it gives.
/// `active`, `in_grace_period` and `canceled` pay; `on_hold` → `on_hold`, `paused` → `paused`,
/// `expired` → `expired`, `pending` → `not_purchased`.
pub fn refusal(state: SubscriptionState) -> Option<Reason> {
    state.refusal()
}

/// Google Play's `subscriptionState` (`purchases.subscriptionsv2`, the REST enum string).
pub fn from_google_play(
    subscription_state: &str,
) -> Result<StoreSubscriptionState, UnknownStoreState> {
    let state = match subscription_state {
        "SUBSCRIPTION_STATE_ACTIVE" => SubscriptionState::Active,
        "SUBSCRIPTION_STATE_IN_GRACE_PERIOD" => SubscriptionState::InGracePeriod,
        "SUBSCRIPTION_STATE_ON_HOLD" => SubscriptionState::OnHold,
        "SUBSCRIPTION_STATE_PAUSED" => SubscriptionState::Paused,
        "SUBSCRIPTION_STATE_CANCELED" => SubscriptionState::Canceled,
        "SUBSCRIPTION_STATE_EXPIRED" => SubscriptionState::Expired,
        "SUBSCRIPTION_STATE_PENDING" => SubscriptionState::Pending,
        // The pending first payment was cancelled: over, and never paid.
        "SUBSCRIPTION_STATE_PENDING_PURCHASE_CANCELED" => {
            return Ok(StoreSubscriptionState {
                state: SubscriptionState::Expired,
                refusal: Some(Reason::NotPurchased),
            })
        }
        other => return Err(UnknownStoreState::GooglePlay(other.to_owned())),
    };
    Ok(StoreSubscriptionState::of(state))
}

/// The App Store's subscription `status` (App Store Server API `Get All Subscription
/// Statuses`, `lastTransactions[].status`): 1 active, 2 expired, 3 billing retry, 4 billing
/// grace period, 5 revoked.
pub fn from_app_store(status: i64) -> Result<StoreSubscriptionState, UnknownStoreState> {
    Ok(match status {
        1 => StoreSubscriptionState::of(SubscriptionState::Active),
        2 => StoreSubscriptionState::of(SubscriptionState::Expired),
        3 => StoreSubscriptionState::of(SubscriptionState::OnHold),
        4 => StoreSubscriptionState::of(SubscriptionState::InGracePeriod),
        5 => StoreSubscriptionState {
            state: SubscriptionState::Expired,
            refusal: Some(Reason::Revoked),
        },
        other => return Err(UnknownStoreState::AppStore(other)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use SubscriptionState as S;

    #[test]
    fn every_google_play_state_maps_as_documented() {
        let cases = [
            ("SUBSCRIPTION_STATE_ACTIVE", S::Active, None),
            ("SUBSCRIPTION_STATE_IN_GRACE_PERIOD", S::InGracePeriod, None),
            (
                "SUBSCRIPTION_STATE_ON_HOLD",
                S::OnHold,
                Some(Reason::OnHold),
            ),
            ("SUBSCRIPTION_STATE_PAUSED", S::Paused, Some(Reason::Paused)),
            ("SUBSCRIPTION_STATE_CANCELED", S::Canceled, None),
            (
                "SUBSCRIPTION_STATE_EXPIRED",
                S::Expired,
                Some(Reason::Expired),
            ),
            (
                "SUBSCRIPTION_STATE_PENDING",
                S::Pending,
                Some(Reason::NotPurchased),
            ),
            (
                "SUBSCRIPTION_STATE_PENDING_PURCHASE_CANCELED",
                S::Expired,
                Some(Reason::NotPurchased),
            ),
        ];
        for (google, state, refusal) in cases {
            assert_eq!(
                from_google_play(google),
                Ok(StoreSubscriptionState { state, refusal }),
                "{google}"
            );
        }
        // Every PaySeal state but none is reachable from Play.
        for s in S::ALL {
            assert!(cases.iter().any(|c| c.1 == s), "{s}");
        }
        for bad in [
            "SUBSCRIPTION_STATE_UNSPECIFIED",
            "ACTIVE",
            "subscription_state_active",
            "",
        ] {
            assert_eq!(
                from_google_play(bad),
                Err(UnknownStoreState::GooglePlay(bad.to_owned()))
            );
        }
    }

    #[test]
    fn every_app_store_status_maps_as_documented() {
        let cases = [
            (1, S::Active, None),
            (2, S::Expired, Some(Reason::Expired)),
            (3, S::OnHold, Some(Reason::OnHold)),
            (4, S::InGracePeriod, None),
            (5, S::Expired, Some(Reason::Revoked)),
        ];
        for (status, state, refusal) in cases {
            assert_eq!(
                from_app_store(status),
                Ok(StoreSubscriptionState { state, refusal }),
                "{status}"
            );
        }
        for bad in [0, 6, -1, i64::MAX] {
            assert_eq!(from_app_store(bad), Err(UnknownStoreState::AppStore(bad)));
        }
    }

    #[test]
    fn only_active_grace_and_canceled_pay() {
        let paying: Vec<_> = S::ALL
            .into_iter()
            .filter(|s| refusal(*s).is_none())
            .collect();
        assert_eq!(paying, [S::Active, S::InGracePeriod, S::Canceled]);
    }
}
