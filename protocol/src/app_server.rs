//! The verifier's app-server API bodies: what an application server reports about a purchase
//! it delivered (`POST /v1/app-server/deliveries`) and an account's consent to share
//! consumption data with the store (`POST /v1/app-server/consent`), and the verifier's answer.
//! Authenticated by the app's `app_server` key (HTTP Basic, user = the app id); the app is the
//! authenticated one, never a field here.

use serde::{Deserialize, Serialize};

use crate::Store;

/// Path of the delivery/consumption report.
pub const DELIVERIES_PATH: &str = "/v1/app-server/deliveries";
/// Path of the consent report.
pub const CONSENT_PATH: &str = "/v1/app-server/consent";
/// Path of an account's refund history (`GET`, query `account` and `days`).
pub const REFUND_HISTORY_PATH: &str = "/v1/app-server/refund-history";
/// The longest period a refund history covers, in days.
pub const MAX_HISTORY_DAYS: u32 = 3650;
/// Most consumption: 100% in milliunits (the stores' scale).
pub const FULL_CONSUMPTION_MILLIUNITS: u32 = 100_000;

/// A delivery and/or consumption report for one purchase.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryReportBody {
    /// The store of the purchase.
    pub store: Store,
    /// The verdict's `transaction_id`.
    pub transaction_id: String,
    /// The account delivered to (the verdict's `sub`).
    pub account: String,
    /// `true`: the purchase was delivered (the first such report's time is kept).
    #[serde(default)]
    pub delivered: bool,
    /// How much of it the account consumed, `0..=100000` milliunits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consumed_milliunits: Option<u32>,
    /// How many times the account used it, when the app counts that.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage_events: Option<u32>,
}

/// An account's consent to share its consumption data with the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsentBody {
    /// The account (the verdict's `sub`).
    pub account: String,
    /// Whether it consents.
    pub consented: bool,
}

/// The verifier's answer to a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportResult {
    /// Recorded (`200`).
    Recorded,
    /// This app never redeemed that purchase (`404`): unknown, or another app's.
    NotFound,
    /// The purchase was refused before anyone redeemed it (`409`).
    NotRedeemed,
    /// Another account owns the purchase (`409`).
    WrongAccount,
    /// Consumption over 100000 milliunits, or an empty field (`422`).
    Invalid,
}

/// The JSON body of every answer to a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportAnswer {
    /// What became of the report.
    pub result: ReportResult,
}

/// An account's refunds (revoked purchases of this app) over the last `days`, by store: what a
/// game server reads to slow down an account that refunds repeatedly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundHistoryAnswer {
    /// The account.
    pub account: String,
    /// The period, in days back from now.
    pub days: u32,
    /// Refunds per store name (`app_store`, `google_play`, ...) in the period; stores without
    /// any are absent.
    pub refunds: std::collections::BTreeMap<String, u64>,
    /// All stores together.
    pub total: u64,
}
