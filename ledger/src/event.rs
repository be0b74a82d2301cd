//! Store events: the one model of a refund or a revocation, whoever tells of it (App Store
//! Server Notifications, a Google Play push or the Voided Purchases poller, a Huawei refund
//! notification, an operator's `payseal-verifier revoke`), and the pure decisions of what it
//! does to a ledger row. No I/O: the ledger calls these on the rows it read inside the
//! transaction that records the event.
//!
//! - An event is identified by its source's own id (event id: App Store
//!   `notificationUUID`, Pub/Sub `messageId`, a voided purchase's `orderId` + `voidedTime`,
//!   Huawei's `orderId` of the refunded purchase, an operator event id): recording it twice
//!   changes nothing the second time.
//! - It names a transaction by **both** its keys ([`EventKeys`]): the transaction's own id
//!   and, for a subscription, its renewal chain's id (the ledger key of a subscription), so a
//!   refund of a renewal reaches the chain's row and a refund before anyone redeemed it
//!   refuses the first presentation of the transaction *and* of its chain.
//! - A revocation records a [`Cause`] on the row: who revoked it (a store or an operator) and
//!   for which transaction. A row stays revoked while any cause stands
//!   ([`decide_reversal`]): a store's reversal removes only its own cause for that one
//!   transaction; an operator's cause is never removed by a store.
//!
//! ```
//! use payseal_protocol::Store;
//! use payseal_ledger::event::{decide_reversal, Cause, Reversal, Revoker, RowState};
//!
//! // Two refunded renewals of one chain, one of the refunds reversed: the chain stays revoked.
//! let standing = [
//!     Cause::new(Revoker::Store(Store::AppStore), "R2"),
//!     Cause::new(Revoker::Store(Store::AppStore), "R3"),
//! ];
//! let reversed = Cause::new(Revoker::Store(Store::AppStore), "R2");
//! assert_eq!(decide_reversal(RowState::Revoked, &standing, &reversed), Reversal::StillRevoked);
//! ```

use payseal_protocol::Store;

use crate::{LedgerError, RedemptionRow};

/// Who revoked a row: the store that sold the purchase, or an operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Revoker {
    /// The store (a refund, a revocation, a void), told by its notification, its API or its
    /// signed purchase data.
    Store(Store),
    /// An operator (`payseal-verifier revoke`): only an operator undoes it.
    Operator,
}

/// The stored text of [`Revoker::Operator`].
pub const OPERATOR: &str = "operator";

impl Revoker {
    /// The stored text: the store's name, or `operator`.
    pub fn as_str(self) -> &'static str {
        match self {
            Revoker::Store(store) => store.as_str(),
            Revoker::Operator => OPERATOR,
        }
    }

    /// The revoker stored as `text`.
    pub fn parse(text: &str) -> Option<Self> {
        if text == OPERATOR {
            return Some(Revoker::Operator);
        }
        [
            Store::AppStore,
            Store::GooglePlay,
            Store::Huawei,
            Store::Sandbox,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
        .map(Revoker::Store)
    }
}

/// The keys an event names its transaction by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventKeys {
    /// The transaction's own id (App Store `transactionId`, Play and Huawei `orderId`, or the
    /// Play `purchaseToken` of a purchase without an order id).
    pub transaction: String,
    /// The renewal chain's id when it differs (App Store `originalTransactionId`, Play
    /// `purchaseToken`, Huawei `subscriptionId`): a subscription's ledger key.
    pub chain: Option<String>,
}

impl EventKeys {
    /// Keys of a transaction: `chain` is kept only when it is non-empty and differs from
    /// `transaction`.
    pub fn new(transaction: impl Into<String>, chain: Option<impl Into<String>>) -> Self {
        let transaction = transaction.into();
        let chain = chain
            .map(Into::into)
            .filter(|c: &String| !c.is_empty() && *c != transaction);
        Self { transaction, chain }
    }

    /// Every ledger key the event may concern, in lookup order: the transaction, then its
    /// chain. A revocation revokes the first that has a row; a refusal is recorded under all
    /// (so the chain is refused too).
    pub fn all(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.transaction.as_str()).chain(self.chain.as_deref())
    }
}

/// One revocation of a row that stands: who revoked it, for which transaction (a renewal's
/// refund revokes its chain's row: the cause names the renewal).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Cause {
    /// Who revoked.
    pub revoker: Revoker,
    /// The transaction whose refund or revocation it was.
    pub transaction: String,
}

impl Cause {
    /// A cause.
    pub fn new(revoker: Revoker, transaction: impl Into<String>) -> Self {
        Self {
            revoker,
            transaction: transaction.into(),
        }
    }

    /// A cause as stored (`revoker` text, transaction); an unknown revoker is a schema error.
    pub fn from_stored(revoker: &str, transaction: String) -> Result<Self, LedgerError> {
        let revoker = Revoker::parse(revoker)
            .ok_or_else(|| LedgerError::Schema(format!("unknown revoker {revoker:?}")))?;
        Ok(Self::new(revoker, transaction))
    }
}

/// A ledger row as a revocation sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowState {
    /// No row: nobody redeemed the transaction.
    Absent,
    /// Redeemed, not revoked.
    Redeemed,
    /// Redeemed, then revoked.
    Revoked,
    /// A refusal row: revoked before anyone redeemed it.
    Refusal,
}

impl RowState {
    /// The state of `row` (`None`: absent).
    pub fn of(row: Option<&RedemptionRow>) -> Self {
        match row {
            None => RowState::Absent,
            Some(r) if r.is_refusal() => RowState::Refusal,
            Some(r) if r.revoked_at_ms.is_some() => RowState::Revoked,
            Some(_) => RowState::Redeemed,
        }
    }
}

/// What a revocation does to one row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revocation {
    /// Nobody redeemed it and the event does not refuse in advance (an operator's revocation, a
    /// revoked receipt presented): nothing to revoke, nothing recorded but the event.
    NotRedeemed,
    /// Mark the redemption revoked (and enqueue its `purchase.revoked`), add the cause.
    Revoke,
    /// Revoked already (or a refusal row): add the cause only.
    AlreadyRevoked,
    /// Nobody redeemed it: record a refusal row (and the cause) so that its first
    /// presentation is `not_paid / revoked`.
    Refuse,
}

/// What revoking the transaction whose row is `row` does; `refuse_unredeemed`: whether the
/// event refuses a transaction nobody redeemed yet (a store's refund notification, from any
/// store: yes; an operator's revocation or a revoked receipt presented: no). Every outcome but
/// [`Revocation::NotRedeemed`] records the cause: a refund that finds the row revoked by
/// someone else still stands on its own.
pub fn decide_revocation(row: RowState, refuse_unredeemed: bool) -> Revocation {
    match row {
        RowState::Absent if refuse_unredeemed => Revocation::Refuse,
        RowState::Absent => Revocation::NotRedeemed,
        RowState::Redeemed => Revocation::Revoke,
        RowState::Revoked | RowState::Refusal => Revocation::AlreadyRevoked,
    }
}

/// What a reversal does to one row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reversal {
    /// The reversed cause was the last: the redemption pays again (`purchase.reinstated`).
    Reinstate,
    /// The reversed cause was the last of a refusal row: the row is deleted (this app's only)
    /// and the transaction can be redeemed for the first time.
    RemoveRefusal,
    /// The reversed cause is removed but another stands (another refund of the chain, an
    /// operator's revocation): the row stays revoked.
    StillRevoked,
    /// This store never revoked this transaction here: nothing changes.
    Nothing,
}

impl Reversal {
    /// Whether the reversed cause is removed from the row.
    pub fn removes_cause(self) -> bool {
        !matches!(self, Reversal::Nothing)
    }
}

/// What reversing `reversed` (a store's refund of one transaction) does to a row in state
/// `row` whose standing causes are `standing` (read in the same transaction). Only the store
/// that revoked can reverse, only its own cause, one transaction at a time; the row pays
/// again only when no cause is left.
pub fn decide_reversal(row: RowState, standing: &[Cause], reversed: &Cause) -> Reversal {
    let Revoker::Store(_) = reversed.revoker else {
        return Reversal::Nothing;
    };
    if !matches!(row, RowState::Revoked | RowState::Refusal) || !standing.contains(reversed) {
        return Reversal::Nothing;
    }
    if standing.iter().any(|c| c != reversed) {
        return Reversal::StillRevoked;
    }
    match row {
        RowState::Refusal => Reversal::RemoveRefusal,
        _ => Reversal::Reinstate,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const APPLE: Revoker = Revoker::Store(Store::AppStore);

    #[test]
    fn revokers_round_trip_through_their_stored_text() {
        for r in [
            Revoker::Operator,
            APPLE,
            Revoker::Store(Store::GooglePlay),
            Revoker::Store(Store::Huawei),
            Revoker::Store(Store::Sandbox),
        ] {
            assert_eq!(Revoker::parse(r.as_str()), Some(r));
        }
        assert_eq!(Revoker::parse("Operator"), None);
        assert_eq!(Revoker::parse(""), None);
    }

    #[test]
    fn keys_name_the_transaction_then_its_chain() {
        let renewal = EventKeys::new("R2", Some("ORIG"));
        assert_eq!(renewal.all().collect::<Vec<_>>(), ["R2", "ORIG"]);
        let one_time = EventKeys::new("T1", Some("T1"));
        assert_eq!(one_time.chain, None);
        assert_eq!(one_time.all().collect::<Vec<_>>(), ["T1"]);
        assert_eq!(EventKeys::new("T1", Some("")).chain, None);
        assert_eq!(EventKeys::new("T1", None::<String>).chain, None);
    }

    fn row(owner: &str, revoked_at_ms: Option<i64>) -> RedemptionRow {
        RedemptionRow {
            account_id: owner.into(),
            product_id: "coins_100".into(),
            receipt_sha256: String::new(),
            first_verdict_id: String::new(),
            first_seen_ms: 1,
            last_seen_ms: 1,
            revoked_at_ms,
            revoke_reason: None,
            expires_at_ms: None,
            subscription_state: None,
            state_checked_ms: None,
        }
    }

    #[test]
    fn a_revocation_revokes_a_redemption_and_refuses_an_unredeemed_transaction() {
        assert_eq!(RowState::of(None), RowState::Absent);
        assert_eq!(RowState::of(Some(&row("alice", None))), RowState::Redeemed);
        assert_eq!(
            RowState::of(Some(&row("alice", Some(5)))),
            RowState::Revoked
        );
        assert_eq!(
            RowState::of(Some(&row(crate::UNREDEEMED_ACCOUNT, Some(5)))),
            RowState::Refusal
        );
        for refuse in [true, false] {
            assert_eq!(
                decide_revocation(RowState::Redeemed, refuse),
                Revocation::Revoke
            );
            assert_eq!(
                decide_revocation(RowState::Revoked, refuse),
                Revocation::AlreadyRevoked
            );
            assert_eq!(
                decide_revocation(RowState::Refusal, refuse),
                Revocation::AlreadyRevoked
            );
        }
        // A refund notification refuses an unredeemed transaction; an operator does not.
        assert_eq!(
            decide_revocation(RowState::Absent, true),
            Revocation::Refuse
        );
        assert_eq!(
            decide_revocation(RowState::Absent, false),
            Revocation::NotRedeemed
        );
    }

    #[test]
    fn a_reversal_reinstates_only_when_its_cause_was_the_last() {
        let r1 = Cause::new(APPLE, "R1");
        assert_eq!(
            decide_reversal(RowState::Revoked, std::slice::from_ref(&r1), &r1),
            Reversal::Reinstate
        );
        assert_eq!(
            decide_reversal(RowState::Refusal, std::slice::from_ref(&r1), &r1),
            Reversal::RemoveRefusal
        );
        // Another refund of the chain stands.
        let both = [r1.clone(), Cause::new(APPLE, "R2")];
        let outcome = decide_reversal(RowState::Revoked, &both, &r1);
        assert_eq!(outcome, Reversal::StillRevoked);
        assert!(outcome.removes_cause());
        // An operator's revocation stands.
        let with_operator = [Cause::new(Revoker::Operator, "R1"), r1.clone()];
        assert_eq!(
            decide_reversal(RowState::Revoked, &with_operator, &r1),
            Reversal::StillRevoked
        );
    }

    #[test]
    fn a_reversal_undoes_nothing_it_did_not_revoke() {
        let r1 = Cause::new(APPLE, "R1");
        // Only the operator revoked it.
        let operator = [Cause::new(Revoker::Operator, "R1")];
        let outcome = decide_reversal(RowState::Revoked, &operator, &r1);
        assert_eq!(outcome, Reversal::Nothing);
        assert!(!outcome.removes_cause());
        // Another transaction's refund, another store's.
        assert_eq!(
            decide_reversal(RowState::Revoked, &[Cause::new(APPLE, "R2")], &r1),
            Reversal::Nothing
        );
        let play = Cause::new(Revoker::Store(Store::GooglePlay), "R1");
        assert_eq!(
            decide_reversal(RowState::Revoked, std::slice::from_ref(&play), &r1),
            Reversal::Nothing
        );
        // Not revoked, or no row.
        for row in [RowState::Redeemed, RowState::Absent] {
            assert_eq!(
                decide_reversal(row, std::slice::from_ref(&r1), &r1),
                Reversal::Nothing
            );
        }
        // An operator's "reversal" is not a store's: nothing.
        let by_operator = Cause::new(Revoker::Operator, "R1");
        assert_eq!(
            decide_reversal(
                RowState::Revoked,
                std::slice::from_ref(&by_operator),
                &by_operator
            ),
            Reversal::Nothing
        );
    }
}
