//! Whether a [`SubscriptionState`] pays, decided once for every caller: the rules' store
//! mappings (`payseal_rules::subscription_state`), the verifier's repeat check of a stored
//! chain and the ledger's entitlement rule (`payseal_ledger::grants`) all use
//! [`SubscriptionState::refusal`]; the stored text is read back with
//! [`SubscriptionState::parse`].

use crate::{Reason, SubscriptionState};

impl SubscriptionState {
    /// `None` when the state pays (until its period end): `active`, `in_grace_period`,
    /// `canceled`; otherwise the `not_paid` reason: `on_hold` → `on_hold`, `paused` →
    /// `paused`, `expired` → `expired`, `pending` → `not_purchased`.
    pub fn refusal(self) -> Option<Reason> {
        match self {
            SubscriptionState::Active
            | SubscriptionState::InGracePeriod
            | SubscriptionState::Canceled => None,
            SubscriptionState::OnHold => Some(Reason::OnHold),
            SubscriptionState::Paused => Some(Reason::Paused),
            SubscriptionState::Expired => Some(Reason::Expired),
            SubscriptionState::Pending => Some(Reason::NotPurchased),
        }
    }

    /// The state named by its [`SubscriptionState::as_str`] text; `None` for any other text.
    pub fn parse(text: &str) -> Option<SubscriptionState> {
        SubscriptionState::ALL
            .into_iter()
            .find(|s| s.as_str() == text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip_and_only_three_pay() {
        for s in SubscriptionState::ALL {
            assert_eq!(SubscriptionState::parse(s.as_str()), Some(s));
        }
        assert_eq!(SubscriptionState::parse("ACTIVE"), None);
        let paying: Vec<_> = SubscriptionState::ALL
            .into_iter()
            .filter(|s| s.refusal().is_none())
            .collect();
        assert_eq!(
            paying,
            [
                SubscriptionState::Active,
                SubscriptionState::InGracePeriod,
                SubscriptionState::Canceled
            ]
        );
        assert_eq!(
            SubscriptionState::Pending.refusal(),
            Some(Reason::NotPurchased)
        );
    }
}
