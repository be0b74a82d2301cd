//! `[apps."ID".refund_policy]`, resolved: whether and how the verifier answers the stores'
//! refund requests for the app (the pure decision: `crate::refunds::policy`).

use std::collections::HashSet;

/// One app's refund-answer policy. Absent (the default): no answer is ever sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundPolicy {
    /// Prefer `DECLINE` when the purchase was delivered and at least this much (milliunits) of
    /// it was consumed; `None`: never decline.
    pub decline_consumed_from: Option<u32>,
    /// Prefer a full refund when the purchase was never confirmed delivered.
    pub grant_undelivered: bool,
    /// Products that offered a free sample or trial (`sampleContentProvided`).
    pub sample_content_products: HashSet<String>,
}

/// `[apps."ID".refund_history]`: what an app does with an account's refund history.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RefundHistoryPolicy {
    /// Put the account's refund history in the verdict's claims.
    pub in_verdict: bool,
    /// Refuse new first redemptions of an account past this many refunds (`None`: never).
    pub limit: Option<RefundLimit>,
}

/// The optional refund threshold of an app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefundLimit {
    /// An account with more refunds than this in the window gets no new first redemption.
    pub max_refunds: u64,
    /// The window, days before now.
    pub window_days: u32,
}

impl RefundLimit {
    /// Whether an account with `refunds` in the window is refused (pure).
    pub fn refuses(&self, refunds: u64) -> bool {
        refunds > self.max_refunds
    }
}

/// The refund-answer worker's timing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefundWorkerTiming {
    /// Pause between polls.
    pub poll_interval: std::time::Duration,
    /// How long a claimed row is held by its claimer.
    pub lease: std::time::Duration,
    /// Delay before the second attempt of a row; doubled per attempt.
    pub retry_base: std::time::Duration,
    /// Longest delay between attempts.
    pub retry_max: std::time::Duration,
}

impl Default for RefundWorkerTiming {
    fn default() -> Self {
        use std::time::Duration;
        Self {
            poll_interval: Duration::from_secs(2),
            lease: Duration::from_secs(120),
            retry_base: Duration::from_secs(30),
            retry_max: Duration::from_secs(1800),
        }
    }
}
