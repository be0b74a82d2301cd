//! What Apple's `Get All Subscription Statuses` answer means for a verdict (pure): the chain's
//! state and period end mapped once by the rules (`payseal_rules::subscription_state::
//! from_app_store_chain`, through [`crate::notifications::app_store::chain_answer`]: billing grace
//! pays until `gracePeriodExpiresDate`), and whether it pays now (a paying state whose period
//! has ended is `expired`), as Play's `google_api::live::decide_subscription` decides.

use payseal_protocol::{Reason, SubscriptionState};

use super::ChainStatus;
use crate::ledger::notifications::SubscriptionAnswer;
use crate::rules::subscription_state::UnknownStoreState;

/// Apple's answer about a chain, for the verdict and the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusAnswer {
    /// `None`: pays until `expires_at`; else the `not_paid` reason.
    pub refusal: Option<Reason>,
    /// The chain's state (the `subscription_state` claim).
    pub state: SubscriptionState,
    /// Its period end (the grace end in billing grace), Unix milliseconds.
    pub expires_at: Option<i64>,
    /// What the chain's ledger row stores (dated `now_ms`).
    pub stored: SubscriptionAnswer,
}

/// Decide Apple's checked answer `status` at `now_ms`.
pub fn decide_status(status: &ChainStatus, now_ms: i64) -> Result<StatusAnswer, UnknownStoreState> {
    let signed =
        crate::notifications::app_store::signed_chain(&status.transaction, Some(&status.renewal));
    let (chain, stored) =
        crate::notifications::app_store::chain_answer(status.status, &signed, now_ms)?;
    let lapsed = chain.state.refusal.is_none() && chain.expires_at_ms.is_none_or(|e| e <= now_ms);
    Ok(StatusAnswer {
        refusal: if lapsed {
            Some(Reason::Expired)
        } else {
            chain.state.refusal
        },
        state: chain.state.state,
        expires_at: chain.expires_at_ms,
        stored,
    })
}

/// A chain whose state the ledger stores (from Apple's signed notifications or an earlier
/// status answer), presented again by its owner with a transaction whose signed period ends at
/// `presented_end`: the verdict's state claim and period end, and why it does not pay (`None`:
/// pays). A paying state pays until the later of the stored and the presented period ends (a
/// renewal presented before its `DID_RENEW` arrived is Apple's word too); a refusing state
/// refuses only once the presented period has ended as well (the transaction, signed later
/// than the stored answer, may be a resubscription). The ledger's rule decides each
/// (`crate::ledger::subscription_refusal`).
pub fn stored_chain(
    state: &str,
    stored_end: Option<i64>,
    presented_end: Option<i64>,
    now_ms: i64,
) -> (Option<SubscriptionState>, Option<i64>, Option<Reason>) {
    let parsed = SubscriptionState::parse(state);
    let end = crate::ledger::chain_expiry(stored_end, presented_end);
    let refusal = crate::ledger::subscription_refusal(state, end, now_ms);
    if refusal.is_none() {
        return (parsed, end, None);
    }
    if presented_end.is_some_and(|e| e > now_ms) {
        // The presented period runs: Apple's signed transaction pays; the stored state is
        // older news.
        return (None, presented_end, None);
    }
    (parsed, end, refusal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_state_extends_or_refuses_as_the_ledger_rule_says() {
        let now = 1_000;
        // Billing grace: the presented period ended, the grace end stored ahead: pays.
        assert_eq!(
            stored_chain("in_grace_period", Some(now + 50), Some(now - 10), now),
            (Some(SubscriptionState::InGracePeriod), Some(now + 50), None)
        );
        // The grace end passed: expired.
        assert_eq!(
            stored_chain("in_grace_period", Some(now - 1), Some(now - 10), now).2,
            Some(Reason::Expired)
        );
        // Billing retry and expired refuse once the presented period has ended.
        assert_eq!(
            stored_chain("on_hold", Some(now - 10), Some(now - 10), now).2,
            Some(Reason::OnHold)
        );
        assert_eq!(
            stored_chain("expired", Some(now - 10), Some(now - 10), now).2,
            Some(Reason::Expired)
        );
        // A renewal presented before its notification: the later end pays.
        assert_eq!(
            stored_chain("active", Some(now - 10), Some(now + 90), now),
            (Some(SubscriptionState::Active), Some(now + 90), None)
        );
        // A resubscription presented while the stored state is still expired: pays.
        assert_eq!(
            stored_chain("expired", Some(now - 10), Some(now + 90), now),
            (None, Some(now + 90), None)
        );
    }
}
