//! What the application server reports about a purchase (its delivery and consumption) and
//! each account's consent to share consumption data with the store: the ledger's evidence when
//! a store asks the developer about a refund request.
//!
//! A report is accepted only for a purchase the ledger has redeemed, for the app that
//! redeemed it and the account that owns it ([`decide_report`]): an app never reports on
//! another app's purchase, and a report naming another account is refused. The first
//! delivery time is kept; consumption is the latest reported.

use payseal_protocol::{RefundCounts, RefundHistoryClaim, Store};

use crate::{BoxFuture, Key, LedgerError, RedemptionRow};

pub use payseal_protocol::app_server::FULL_CONSUMPTION_MILLIUNITS;

/// One report from the application server about one purchase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryReport {
    /// The store.
    pub store: Store,
    /// The app (the authenticated one, never taken from the request body).
    pub app_id: String,
    /// The purchase's transaction key (the verdict's `transaction_id`).
    pub transaction_key: String,
    /// The account the app server delivered to.
    pub account_id: String,
    /// Whether this report confirms the delivery (`false`: only consumption).
    pub delivered: bool,
    /// How much of it was consumed, `0..=100_000` milliunits, when reported.
    pub consumed_milliunits: Option<u32>,
    /// How many usage events the app server counted for it, when reported.
    pub usage_events: Option<u32>,
    /// When it was reported, Unix milliseconds.
    pub now_ms: i64,
}

impl DeliveryReport {
    /// The key of the redemption row it is about.
    pub fn key(&self) -> Key<'_> {
        Key {
            store: self.store,
            app_id: &self.app_id,
            transaction_key: &self.transaction_key,
        }
    }
}

/// What the ledger holds from the application server about one purchase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportRow {
    /// The account delivered to.
    pub account_id: String,
    /// When the delivery was first confirmed, Unix milliseconds (`None`: never confirmed).
    pub delivered_at_ms: Option<i64>,
    /// The latest consumption reported, milliunits.
    pub consumed_milliunits: Option<u32>,
    /// The latest usage event count reported.
    pub usage_events: Option<u32>,
    /// The latest report, Unix milliseconds.
    pub updated_ms: i64,
}

/// What became of a [`DeliveryReport`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportOutcome {
    /// Recorded.
    Recorded,
    /// This app has no redemption of that transaction (never redeemed, or another app's).
    NotFound,
    /// The transaction was refused before anyone redeemed it (a refusal row): nothing delivered.
    NotRedeemed,
    /// Another account owns the purchase.
    WrongAccount,
    /// Consumption above [`FULL_CONSUMPTION_MILLIUNITS`].
    BadConsumption,
}

/// Whether a report is accepted, from the redemption row it is about (pure).
pub fn decide_report(row: Option<&RedemptionRow>, report: &DeliveryReport) -> ReportOutcome {
    if report
        .consumed_milliunits
        .is_some_and(|m| m > FULL_CONSUMPTION_MILLIUNITS)
    {
        return ReportOutcome::BadConsumption;
    }
    match row {
        None => ReportOutcome::NotFound,
        Some(r) if r.is_refusal() => ReportOutcome::NotRedeemed,
        Some(r) if r.account_id != report.account_id => ReportOutcome::WrongAccount,
        Some(_) => ReportOutcome::Recorded,
    }
}

/// The row after `report` (pure): the first delivery time kept, consumption the latest given.
pub fn merge_report(old: Option<&ReportRow>, report: &DeliveryReport) -> ReportRow {
    let delivered_now = report.delivered.then_some(report.now_ms);
    ReportRow {
        account_id: report.account_id.clone(),
        delivered_at_ms: old.and_then(|o| o.delivered_at_ms).or(delivered_now),
        consumed_milliunits: report
            .consumed_milliunits
            .or(old.and_then(|o| o.consumed_milliunits)),
        usage_events: report.usage_events.or(old.and_then(|o| o.usage_events)),
        updated_ms: report.now_ms,
    }
}

/// Everything the ledger knows about one purchase when a store asks about its refund.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evidence {
    /// The redemption row (who redeemed it, when; revoked or not).
    pub redemption: RedemptionRow,
    /// The application server's reports, if any.
    pub report: Option<ReportRow>,
    /// The owning account's consent to share consumption data (`None`: never reported, which
    /// counts as no consent).
    pub consent: Option<bool>,
}

impl Evidence {
    /// Whether the account consented (never reported: no).
    pub fn consented(&self) -> bool {
        self.consent == Some(true)
    }
}

/// An account's refunds (revoked redemptions) since a time, by store.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RefundHistory {
    /// Revoked redemptions of the account, per store, revoked at or after the period's start.
    pub by_store: Vec<(Store, u64)>,
}

impl RefundHistory {
    /// All stores together.
    pub fn total(&self) -> u64 {
        self.by_store.iter().map(|(_, n)| n).sum()
    }
}

/// The refund history claim from the per-store counts of the three periods (30 days, 365 days,
/// all time, in that order), as the backends return them: `(store name, count)` (pure).
pub fn refund_history_claim(
    periods: &[Vec<(String, i64)>],
) -> Result<RefundHistoryClaim, LedgerError> {
    let mut claim = RefundHistoryClaim::default();
    for (period, rows) in periods.iter().enumerate() {
        for (store, n) in rows {
            let name = crate::refunds::store_named(store)
                .ok_or_else(|| LedgerError::Schema(format!("unknown store {store:?}")))?
                .as_str()
                .to_string();
            let n = u64::try_from(*n).unwrap_or(0);
            let mut one = RefundCounts::default();
            match period {
                0 => one.last_30_days = n,
                1 => one.last_365_days = n,
                _ => one.all_time = n,
            }
            let entry = claim.by_store.entry(name).or_default();
            *entry = entry.plus(one);
            claim.total = claim.total.plus(one);
        }
    }
    Ok(claim)
}

/// The application server's reports in the ledger (implemented once for every backend).
pub trait DeliveryReports: Send + Sync {
    /// Record `report` if [`decide_report`] accepts it; what became of it.
    fn report_delivery(
        &self,
        report: DeliveryReport,
    ) -> BoxFuture<'_, Result<ReportOutcome, LedgerError>>;
    /// Record whether `account_id` of `app_id` consents to sharing consumption data.
    fn set_consent<'a>(
        &'a self,
        app_id: &'a str,
        account_id: &'a str,
        consented: bool,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<(), LedgerError>>;
    /// `account_id`'s refunds in `app_id` by store over the last 30 days, 365 days and all
    /// time before `now_ms`.
    fn account_refund_history<'a>(
        &'a self,
        app_id: &'a str,
        account_id: &'a str,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<RefundHistoryClaim, LedgerError>>;
    /// `account_id`'s refunds in `app_id` revoked at or after `since_ms`, by store.
    fn refund_history<'a>(
        &'a self,
        app_id: &'a str,
        account_id: &'a str,
        since_ms: i64,
    ) -> BoxFuture<'a, Result<RefundHistory, LedgerError>>;
    /// The evidence about one purchase (`None`: this app never redeemed it).
    fn evidence<'a>(
        &'a self,
        store: Store,
        app_id: &'a str,
        transaction_key: &'a str,
    ) -> BoxFuture<'a, Result<Option<Evidence>, LedgerError>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(account: &str) -> RedemptionRow {
        RedemptionRow {
            account_id: account.into(),
            product_id: "coins".into(),
            receipt_sha256: "00".into(),
            first_verdict_id: "j".into(),
            first_seen_ms: 1,
            last_seen_ms: 1,
            revoked_at_ms: None,
            revoke_reason: None,
            expires_at_ms: None,
            subscription_state: None,
            state_checked_ms: None,
        }
    }

    fn report(
        account: &str,
        delivered: bool,
        consumed: Option<u32>,
        now_ms: i64,
    ) -> DeliveryReport {
        DeliveryReport {
            store: Store::AppStore,
            app_id: "a".into(),
            transaction_key: "t".into(),
            account_id: account.into(),
            delivered,
            consumed_milliunits: consumed,
            usage_events: None,
            now_ms,
        }
    }

    #[test]
    fn only_the_owner_of_a_redeemed_purchase_reports_on_it() {
        let r = report("alice", true, Some(50_000), 5);
        assert_eq!(
            decide_report(Some(&row("alice")), &r),
            ReportOutcome::Recorded
        );
        assert_eq!(
            decide_report(Some(&row("bob")), &r),
            ReportOutcome::WrongAccount
        );
        assert_eq!(
            decide_report(Some(&row("")), &r),
            ReportOutcome::NotRedeemed
        );
        assert_eq!(decide_report(None, &r), ReportOutcome::NotFound);
        let over = report("alice", true, Some(100_001), 5);
        assert_eq!(
            decide_report(Some(&row("alice")), &over),
            ReportOutcome::BadConsumption
        );
    }

    #[test]
    fn refund_history_adds_periods_and_stores() {
        let periods = vec![
            vec![("google_play".to_string(), 1)],
            vec![("google_play".to_string(), 2), ("app_store".to_string(), 1)],
            vec![("google_play".to_string(), 4), ("app_store".to_string(), 1)],
        ];
        let c = refund_history_claim(&periods).unwrap();
        assert_eq!(
            c.total,
            RefundCounts {
                last_30_days: 1,
                last_365_days: 3,
                all_time: 5
            }
        );
        assert_eq!(
            c.by_store["app_store"],
            RefundCounts {
                last_30_days: 0,
                last_365_days: 1,
                all_time: 1
            }
        );
        assert!(refund_history_claim(&[vec![("nowhere".to_string(), 1)]]).is_err());
    }

    #[test]
    fn the_first_delivery_time_stays_and_consumption_is_the_latest() {
        let first = merge_report(None, &report("alice", true, None, 10));
        assert_eq!(
            (first.delivered_at_ms, first.consumed_milliunits),
            (Some(10), None)
        );
        let second = merge_report(Some(&first), &report("alice", true, Some(30_000), 20));
        assert_eq!(
            (second.delivered_at_ms, second.consumed_milliunits),
            (Some(10), Some(30_000))
        );
        let third = merge_report(Some(&second), &report("alice", false, None, 30));
        assert_eq!(
            (
                third.delivered_at_ms,
                third.consumed_milliunits,
                third.updated_ms
            ),
            (Some(10), Some(30_000), 30)
        );
        let only_consumption = merge_report(None, &report("alice", false, Some(1), 5));
        assert_eq!(only_consumption.delivered_at_ms, None);
    }
}
