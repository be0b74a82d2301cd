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
//! | Play `SUBSCRIPTION_STATE_CANCELED`, App Store status 1 with `autoRenewStatus` 0 | `canceled` | paid until `expires_at` |
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

/// What Apple signed about one auto-renewable subscription chain, read from a
/// `signedTransactionInfo` (the chain's latest transaction) and its `signedRenewalInfo`
/// (`JWSRenewalInfoDecodedPayload`), both checked before they get here.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AppStoreSigned {
    /// The transaction's `expiresDate`, Unix milliseconds.
    pub expires_date: Option<i64>,
    /// The renewal info's `autoRenewStatus`: `1` renews, `0` the customer turned it off.
    pub auto_renew_status: Option<i64>,
    /// The renewal info's `gracePeriodExpiresDate`, Unix milliseconds (billing grace only).
    pub grace_period_expires_date: Option<i64>,
}

/// An App Store chain's state in PaySeal's words and its period end (the grace end in billing
/// grace): what the ledger stores for the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppStoreChainState {
    /// The state and whether it pays.
    pub state: StoreSubscriptionState,
    /// Until when it pays (a paying state), Unix milliseconds: `expiresDate`, or
    /// `gracePeriodExpiresDate` in billing grace; `None` when Apple signed none.
    pub expires_at_ms: Option<i64>,
}

/// An App Store chain's `status` (Get All Subscription Statuses) with what Apple signed about
/// it: [`from_app_store`]'s state, except that an active chain whose `autoRenewStatus` is `0`
/// is `canceled` (it pays until `expiresDate`, then ends, as Play's `canceled`); the period end
/// is `gracePeriodExpiresDate` in billing grace (status 4), `expiresDate` otherwise.
pub fn from_app_store_chain(
    status: i64,
    signed: &AppStoreSigned,
) -> Result<AppStoreChainState, UnknownStoreState> {
    let mut state = from_app_store(status)?;
    if state.state == SubscriptionState::Active && signed.auto_renew_status == Some(0) {
        state = StoreSubscriptionState::of(SubscriptionState::Canceled);
    }
    let expires_at_ms = match state.state {
        SubscriptionState::InGracePeriod => signed.grace_period_expires_date,
        _ => signed.expires_date,
    };
    Ok(AppStoreChainState {
        state,
        expires_at_ms,
    })
}

/// The subscription `status` an App Store Server Notification V2 tells of (the numbers of
/// [`from_app_store`]), by `notificationType` and `subtype`; `None` for a notification that
/// says nothing of a chain's state (`CONSUMPTION_REQUEST`, `PRICE_INCREASE`, `TEST`, ...):
///
/// | notification | status |
/// |---|---|
/// | `SUBSCRIBED`, `DID_RENEW`, `OFFER_REDEEMED`, `RENEWAL_EXTENDED`, `DID_CHANGE_RENEWAL_STATUS` | 1 (active; `canceled` when `autoRenewStatus` is 0) |
/// | `DID_FAIL_TO_RENEW` with subtype `GRACE_PERIOD` | 4 (billing grace) |
/// | `DID_FAIL_TO_RENEW` without it, `GRACE_PERIOD_EXPIRED` | 3 (billing retry) |
/// | `EXPIRED` (any subtype) | 2 |
/// | `REFUND`, `REVOKE` | 5 (revoked) |
pub fn app_store_notification_status(
    notification_type: &str,
    subtype: Option<&str>,
) -> Option<i64> {
    Some(match (notification_type, subtype) {
        ("SUBSCRIBED" | "DID_RENEW" | "OFFER_REDEEMED" | "RENEWAL_EXTENDED", _)
        | ("DID_CHANGE_RENEWAL_STATUS", _) => 1,
        ("DID_FAIL_TO_RENEW", Some("GRACE_PERIOD")) => 4,
        ("DID_FAIL_TO_RENEW", _) | ("GRACE_PERIOD_EXPIRED", _) => 3,
        ("EXPIRED", _) => 2,
        ("REFUND" | "REVOKE", _) => 5,
        _ => return None,
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
    fn an_app_store_chain_takes_its_period_end_from_what_apple_signed() {
        let signed = AppStoreSigned {
            expires_date: Some(100),
            auto_renew_status: Some(1),
            grace_period_expires_date: Some(200),
        };
        let chain = |status, signed: &AppStoreSigned| {
            let c = from_app_store_chain(status, signed).unwrap();
            (c.state.state, c.state.refusal, c.expires_at_ms)
        };
        assert_eq!(chain(1, &signed), (S::Active, None, Some(100)));
        // Billing grace pays until the grace end, not the ended period.
        assert_eq!(chain(4, &signed), (S::InGracePeriod, None, Some(200)));
        assert_eq!(
            chain(3, &signed),
            (S::OnHold, Some(Reason::OnHold), Some(100))
        );
        assert_eq!(
            chain(2, &signed),
            (S::Expired, Some(Reason::Expired), Some(100))
        );
        assert_eq!(
            chain(5, &signed),
            (S::Expired, Some(Reason::Revoked), Some(100))
        );
        // Auto-renew off: pays until the period end, then ends (Play's `canceled`).
        let off = AppStoreSigned {
            auto_renew_status: Some(0),
            ..signed
        };
        assert_eq!(chain(1, &off), (S::Canceled, None, Some(100)));
        assert_eq!(
            chain(2, &off),
            (S::Expired, Some(Reason::Expired), Some(100))
        );
        // Grace without its end signed: no period end (the ledger keeps the stored one).
        let no_grace_end = AppStoreSigned {
            grace_period_expires_date: None,
            ..signed
        };
        assert_eq!(chain(4, &no_grace_end), (S::InGracePeriod, None, None));
        assert_eq!(
            from_app_store_chain(9, &signed),
            Err(UnknownStoreState::AppStore(9))
        );
    }

    #[test]
    fn every_app_store_lifecycle_notification_names_its_status() {
        for (kind, subtype, status) in [
            ("SUBSCRIBED", Some("INITIAL_BUY"), Some(1)),
            ("SUBSCRIBED", Some("RESUBSCRIBE"), Some(1)),
            ("DID_RENEW", None, Some(1)),
            ("DID_RENEW", Some("BILLING_RECOVERY"), Some(1)),
            ("OFFER_REDEEMED", Some("UPGRADE"), Some(1)),
            ("RENEWAL_EXTENDED", None, Some(1)),
            (
                "DID_CHANGE_RENEWAL_STATUS",
                Some("AUTO_RENEW_DISABLED"),
                Some(1),
            ),
            (
                "DID_CHANGE_RENEWAL_STATUS",
                Some("AUTO_RENEW_ENABLED"),
                Some(1),
            ),
            ("DID_FAIL_TO_RENEW", Some("GRACE_PERIOD"), Some(4)),
            ("DID_FAIL_TO_RENEW", None, Some(3)),
            ("GRACE_PERIOD_EXPIRED", None, Some(3)),
            ("EXPIRED", Some("VOLUNTARY"), Some(2)),
            ("EXPIRED", Some("BILLING_RETRY"), Some(2)),
            ("REFUND", None, Some(5)),
            ("REVOKE", None, Some(5)),
            ("CONSUMPTION_REQUEST", None, None),
            ("PRICE_INCREASE", Some("PENDING"), None),
            ("TEST", None, None),
            ("did_renew", None, None),
        ] {
            assert_eq!(
                app_store_notification_status(kind, subtype),
                status,
                "{kind} {subtype:?}"
            );
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
