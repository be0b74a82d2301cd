//! The redemption rule, decided once: pure functions of the stored row (if any) that every
//! backend calls inside its transaction, after its atomic insert-or-read.

use payseal_protocol::{Reason, SubscriptionState};

use super::{OwnedPurchase, RedeemOutcome, RedemptionRow, RevokeOutcome, TransferOutcome};

/// A store server's answer about a subscription chain (e.g. Google's
/// `purchases.subscriptionsv2.get`), as [`crate::notifications::Effect::UpdateSubscription`] applies it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubscriptionAnswer {
    /// The chain's state.
    pub state: payseal_protocol::SubscriptionState,
    /// The period end (or grace end), Unix milliseconds; `None` keeps the stored one.
    pub expires_at_ms: Option<i64>,
    /// When the verifier got the answer, Unix milliseconds: only an answer newer than the
    /// stored one is applied.
    pub checked_ms: i64,
    /// Whether the chain renews at its period end, when the store's answer says (Play
    /// `autoRenewingPlan.autoRenewEnabled`, App Store `autoRenewStatus`): written with the
    /// state, replacing the stored value (`None`: this answer does not say, stored as unknown).
    pub will_renew: Option<bool>,
}

/// What presenting a valid receipt means for `account_id`, given the transaction's row before
/// this presentation (`None`: nobody redeemed it, so this presentation is the first).
///
/// A revoked row is [`RedeemOutcome::Revoked`] for every account, its owner included; otherwise
/// the owner gets [`RedeemOutcome::Repeat`] and anyone else [`RedeemOutcome::OtherAccount`].
/// On [`RedeemOutcome::Repeat`] the backend moves `last_seen_ms` forward when
/// [`repeat_writes`] says so; on anything but
/// [`RedeemOutcome::First`] it records nothing new.
pub fn classify(existing: Option<&RedemptionRow>, account_id: &str) -> RedeemOutcome {
    match existing {
        None => RedeemOutcome::First,
        Some(row) if row.revoked_at_ms.is_some() => RedeemOutcome::Revoked,
        Some(row) if row.account_id == account_id => RedeemOutcome::Repeat,
        Some(_) => RedeemOutcome::OtherAccount,
    }
}

/// The period end a row keeps after its owner presented a period ending at `presented`: the
/// newest of the two, so an older transaction of the renewal chain presented later never
/// shortens it (`None` only when neither is known). Backends apply it on
/// [`RedeemOutcome::Repeat`].
pub fn chain_expiry(stored: Option<i64>, presented: Option<i64>) -> Option<i64> {
    match (stored, presented) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// How far behind `last_seen_ms` may stay: a repeat by the owner within this of the stored
/// `last_seen_ms` (and not moving its period end forward) writes nothing, so that a repeat is a
/// read ([`repeat_writes`]). `last_seen_ms` is an operator's figure, never an input of a decision.
pub const LAST_SEEN_RESOLUTION_MS: i64 = 60_000;

/// Whether the owner's repeat at `now_ms`, presenting a period ending at `presented`, must
/// write its row: when it moves `last_seen_ms` forward by [`LAST_SEEN_RESOLUTION_MS`] or more,
/// or the period end forward ([`chain_expiry`]). Otherwise the row stays as it is.
pub fn repeat_writes(existing: &RedemptionRow, now_ms: i64, presented: Option<i64>) -> bool {
    now_ms.saturating_sub(existing.last_seen_ms) >= LAST_SEEN_RESOLUTION_MS
        || chain_expiry(existing.expires_at_ms, presented) != existing.expires_at_ms
}

/// What the row as read (`existing`) decides for a presentation by `account_id` at `now_ms`
/// (period end `presented`) when nothing needs writing: every outcome but a first redemption
/// and a repeat that [`repeat_writes`]. `None`: the redemption must run as a write.
pub fn settled_by_read(
    existing: Option<&RedemptionRow>,
    account_id: &str,
    now_ms: i64,
    presented: Option<i64>,
) -> Option<RedeemOutcome> {
    let row = existing?;
    match classify(Some(row), account_id) {
        RedeemOutcome::First => None,
        RedeemOutcome::Repeat if repeat_writes(row, now_ms, presented) => None,
        outcome => Some(outcome),
    }
}

/// What revoking the transaction whose row is `existing` does: [`RevokeOutcome::Revoked`] means
/// the backend marks it revoked now (and enqueues its notice); the other outcomes change nothing.
pub fn classify_revocation(existing: Option<&RedemptionRow>) -> RevokeOutcome {
    match existing {
        None => RevokeOutcome::NotFound,
        Some(row) if row.revoked_at_ms.is_some() => RevokeOutcome::AlreadyRevoked,
        Some(_) => RevokeOutcome::Revoked,
    }
}

/// What moving the row `existing` from `from_account` does: [`TransferOutcome::Transferred`]
/// means the backend moves it now; a revoked row never moves, and a row whose owner changed
/// since the caller read it stays.
pub fn classify_transfer(existing: Option<&RedemptionRow>, from_account: &str) -> TransferOutcome {
    match existing {
        None => TransferOutcome::NotFound,
        Some(row) if row.revoked_at_ms.is_some() => TransferOutcome::Revoked,
        Some(row) if row.account_id != from_account || row.is_refusal() => {
            TransferOutcome::OwnerChanged
        }
        Some(_) => TransferOutcome::Transferred,
    }
}

/// Whether the purchase an account owns grants its entitlements at `now_ms`: the one place the
/// rule lives (the verifier maps the product to entitlement names).
///
/// Never when revoked (refunded, revoked by an operator or a store; a reinstatement clears the
/// revocation and it grants again), never a consumable (delivered once). A subscription (a row
/// with a period end) grants while its chain's stored period end is in the future; a
/// subscription whose period end is unknown does not. Anything else (a non-consumable, or a
/// purchase whose store does not say its kind) grants until revoked.
///
/// A subscription chain whose store state the ledger keeps (a store event updated it) grants
/// only while that state pays and its period end is ahead: [`subscription_refusal`].
pub fn grants(p: &OwnedPurchase, now_ms: i64) -> bool {
    if p.revoked_at_ms.is_some() {
        return false;
    }
    if p.kind.as_deref() == Some("consumable") {
        return false;
    }
    if let Some(state) = p.subscription_state.as_deref() {
        return subscription_refusal(state, p.expires_at_ms, now_ms).is_none();
    }
    match (p.kind.as_deref(), p.expires_at_ms) {
        (Some("consumable"), _) => false,
        (_, Some(end)) => end > now_ms,
        (Some("subscription"), None) => false,
        _ => true,
    }
}

/// Why a subscription chain whose stored state is `state` (the text of a
/// [`SubscriptionState`]) and period end `expires_at_ms` does not pay at `now_ms`, or `None`
/// when it pays: the state's own refusal ([`SubscriptionState::refusal`]), else `expired` when
/// the period (or grace period) has ended or is unknown. A stored text this version does not
/// know refuses (`expired`): never paid by guess.
pub fn subscription_refusal(
    state: &str,
    expires_at_ms: Option<i64>,
    now_ms: i64,
) -> Option<Reason> {
    let Some(state) = SubscriptionState::parse(state) else {
        return Some(Reason::Expired);
    };
    state.refusal().or_else(|| {
        expires_at_ms
            .is_none_or(|end| end <= now_ms)
            .then_some(Reason::Expired)
    })
}

/// What a store's answer about a subscription chain does to its row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscriptionChange {
    /// The stored answer is as new or newer: nothing is written (a late or replayed push's
    /// fetch never overwrites a newer one).
    Stale,
    /// Newer, but the same state and period end: only the answer's time is written.
    Same,
    /// Newer and different: the row takes it, and the change is notified.
    Changed,
}

/// Whether `answer` replaces what `row` stores: only a newer answer (by the time the verifier
/// got it), and it counts as a change when the state or the period end differs.
pub fn decide_subscription_update(
    row: &RedemptionRow,
    answer: &SubscriptionAnswer,
) -> SubscriptionChange {
    if row
        .state_checked_ms
        .is_some_and(|stored| stored >= answer.checked_ms)
    {
        return SubscriptionChange::Stale;
    }
    let expires = answer.expires_at_ms.or(row.expires_at_ms);
    if row.subscription_state.as_deref() == Some(answer.state.as_str())
        && row.expires_at_ms == expires
    {
        SubscriptionChange::Same
    } else {
        SubscriptionChange::Changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owned(kind: Option<&str>, expires: Option<i64>, revoked: Option<i64>) -> OwnedPurchase {
        OwnedPurchase {
            store: "sandbox".into(),
            transaction_key: "t".into(),
            product_id: "p".into(),
            kind: kind.map(Into::into),
            environment: None,
            first_seen_ms: 1,
            expires_at_ms: expires,
            revoked_at_ms: revoked,
            subscription_state: None,
            will_renew: None,
        }
    }

    #[test]
    fn transfers_move_only_an_unrevoked_row_of_the_owner_seen() {
        assert_eq!(classify_transfer(None, "a"), TransferOutcome::NotFound);
        assert_eq!(
            classify_transfer(Some(&row("a", None)), "a"),
            TransferOutcome::Transferred
        );
        assert_eq!(
            classify_transfer(Some(&row("b", None)), "a"),
            TransferOutcome::OwnerChanged
        );
        assert_eq!(
            classify_transfer(Some(&row("a", Some(3))), "a"),
            TransferOutcome::Revoked
        );
    }

    #[test]
    fn grants_by_kind_period_and_revocation() {
        let now = 1_000;
        assert!(grants(&owned(Some("non_consumable"), None, None), now));
        assert!(grants(&owned(None, None, None), now));
        assert!(!grants(&owned(Some("non_consumable"), None, Some(5)), now));
        assert!(!grants(&owned(Some("consumable"), None, None), now));
        assert!(!grants(
            &owned(Some("consumable"), Some(now + 1), None),
            now
        ));
        assert!(grants(
            &owned(Some("subscription"), Some(now + 1), None),
            now
        ));
        assert!(!grants(&owned(Some("subscription"), Some(now), None), now));
        assert!(!grants(
            &owned(Some("subscription"), Some(now - 1), None),
            now
        ));
        assert!(!grants(
            &owned(Some("subscription"), Some(now + 9), Some(2)),
            now
        ));
        assert!(!grants(&owned(Some("subscription"), None, None), now));
        // A Play subscription (kind unknown) with a period end is judged by it.
        assert!(grants(&owned(None, Some(now + 1), None), now));
        assert!(!grants(&owned(None, Some(now - 1), None), now));
    }

    fn row(owner: &str, revoked_at_ms: Option<i64>) -> RedemptionRow {
        RedemptionRow {
            account_id: owner.into(),
            product_id: "coins_100".into(),
            receipt_sha256: "ab".repeat(32),
            first_verdict_id: "jti-1".into(),
            first_seen_ms: 1,
            last_seen_ms: 2,
            revoked_at_ms,
            revoke_reason: revoked_at_ms.map(|_| "refunded".into()),
            expires_at_ms: None,
            subscription_state: None,
            state_checked_ms: None,
        }
    }

    #[test]
    fn a_chain_keeps_its_newest_period_end() {
        assert_eq!(chain_expiry(None, None), None);
        assert_eq!(chain_expiry(None, Some(10)), Some(10));
        assert_eq!(chain_expiry(Some(10), None), Some(10));
        assert_eq!(chain_expiry(Some(10), Some(20)), Some(20));
        // An older transaction of the chain presented later does not shorten it.
        assert_eq!(chain_expiry(Some(20), Some(10)), Some(20));
        assert_eq!(chain_expiry(Some(-5), Some(-7)), Some(-5));
    }

    #[test]
    fn nobody_before_means_first() {
        assert_eq!(classify(None, "alice"), RedeemOutcome::First);
    }

    #[test]
    fn the_owner_repeats_and_everyone_else_is_another_account() {
        let alice = row("alice", None);
        assert_eq!(classify(Some(&alice), "alice"), RedeemOutcome::Repeat);
        assert_eq!(classify(Some(&alice), "bob"), RedeemOutcome::OtherAccount);
        // Account ids are opaque and compared exactly.
        assert_eq!(classify(Some(&alice), "Alice"), RedeemOutcome::OtherAccount);
        assert_eq!(
            classify(Some(&alice), "alice "),
            RedeemOutcome::OtherAccount
        );
        assert_eq!(classify(Some(&alice), ""), RedeemOutcome::OtherAccount);
    }

    #[test]
    fn a_revoked_row_is_revoked_for_everyone_the_owner_included() {
        let revoked = row("alice", Some(5));
        assert_eq!(classify(Some(&revoked), "alice"), RedeemOutcome::Revoked);
        assert_eq!(classify(Some(&revoked), "bob"), RedeemOutcome::Revoked);
        // Revoked at the epoch is still revoked.
        assert_eq!(
            classify(Some(&row("alice", Some(0))), "alice"),
            RedeemOutcome::Revoked
        );
    }

    #[test]
    fn revocation_happens_once_and_only_to_a_redeemed_row() {
        assert_eq!(classify_revocation(None), RevokeOutcome::NotFound);
        assert_eq!(
            classify_revocation(Some(&row("alice", None))),
            RevokeOutcome::Revoked
        );
        assert_eq!(
            classify_revocation(Some(&row("alice", Some(5)))),
            RevokeOutcome::AlreadyRevoked
        );
    }

    #[test]
    fn a_stored_subscription_state_grants_only_while_it_pays_and_its_period_runs() {
        let now = 1_000;
        let with_state = |state: &str, expires| OwnedPurchase {
            subscription_state: Some(state.into()),
            ..owned(Some("subscription"), expires, None)
        };
        for state in ["active", "in_grace_period", "canceled"] {
            assert!(grants(&with_state(state, Some(now + 1)), now), "{state}");
            assert!(!grants(&with_state(state, Some(now)), now), "{state}");
            assert!(!grants(&with_state(state, None), now), "{state}");
        }
        for (state, reason) in [
            ("on_hold", Reason::OnHold),
            ("paused", Reason::Paused),
            ("expired", Reason::Expired),
            ("pending", Reason::NotPurchased),
        ] {
            assert!(!grants(&with_state(state, Some(now + 9)), now), "{state}");
            assert_eq!(
                subscription_refusal(state, Some(now + 9), now),
                Some(reason)
            );
        }
        // A state this version does not know never pays.
        assert!(!grants(&with_state("frozen", Some(now + 9)), now));
        let mut revoked = with_state("active", Some(now + 9));
        revoked.revoked_at_ms = Some(1);
        assert!(!grants(&revoked, now));
    }

    #[test]
    fn only_a_newer_answer_replaces_the_stored_one() {
        let answer = |state, expires, checked_ms| SubscriptionAnswer {
            state,
            expires_at_ms: expires,
            checked_ms,
            will_renew: None,
        };
        let mut r = row("alice", None);
        // Nothing stored yet: any answer changes the row.
        assert_eq!(
            decide_subscription_update(&r, &answer(SubscriptionState::Active, Some(50), 10)),
            SubscriptionChange::Changed
        );
        r.subscription_state = Some("active".into());
        r.expires_at_ms = Some(50);
        r.state_checked_ms = Some(10);
        for (a, want) in [
            // As old or older than the stored answer: never applied, whatever it says.
            (
                answer(SubscriptionState::OnHold, Some(5), 10),
                SubscriptionChange::Stale,
            ),
            (
                answer(SubscriptionState::Expired, Some(5), 9),
                SubscriptionChange::Stale,
            ),
            // Newer and the same; newer with no period end keeps the stored one.
            (
                answer(SubscriptionState::Active, Some(50), 11),
                SubscriptionChange::Same,
            ),
            (
                answer(SubscriptionState::Active, None, 11),
                SubscriptionChange::Same,
            ),
            (
                answer(SubscriptionState::Active, Some(80), 11),
                SubscriptionChange::Changed,
            ),
            (
                answer(SubscriptionState::OnHold, Some(50), 11),
                SubscriptionChange::Changed,
            ),
        ] {
            assert_eq!(decide_subscription_update(&r, &a), want, "{a:?}");
        }
    }
}
