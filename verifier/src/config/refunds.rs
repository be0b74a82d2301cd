//! `[apps."ID".refund_policy]`: `decline_consumed_from_milliunits` (0..=100000; absent: never
//! decline), `grant_undelivered` (default false), `sample_content_products` (default none). An
//! app without the table gets no answer to any refund request (the conservative default); with
//! it, answers to the App Store also need `[apps."ID".app_store.server_api]`, answers to Google
//! Play `[apps."ID".google_play.api]`.
//!
//! `[refund_answers]` (optional): the worker's timing, `poll_interval_ms` (default 2000),
//! `lease_ms` (120000), `retry_base_ms` (30000), `retry_max_ms` (1800000).
//!
//! `[apps."ID".refund_history]` (optional): `in_verdict` (default false: the verdict's claims
//! carry the account's refund history only when true), and the threshold: `max_refunds` (absent:
//! no refusal, the default) refuses an account's new first redemptions once it has more than
//! that many refunds in the last `window_days` (1..=3650, default 365), with `refund_limit`.

use serde::Deserialize;

use super::{ConfigError, Resolver};
use crate::settings::{RefundHistoryPolicy, RefundLimit, RefundPolicy, RefundWorkerTiming};

/// `[refund_answers]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRefundAnswers {
    pub(super) poll_interval_ms: Option<u64>,
    pub(super) lease_ms: Option<u64>,
    pub(super) retry_base_ms: Option<u64>,
    pub(super) retry_max_ms: Option<u64>,
}

/// `[apps."ID".refund_history]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRefundHistory {
    #[serde(default)]
    pub(super) in_verdict: bool,
    pub(super) max_refunds: Option<u64>,
    pub(super) window_days: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRefundPolicy {
    pub(super) decline_consumed_from_milliunits: Option<u64>,
    #[serde(default)]
    pub(super) grant_undelivered: bool,
    #[serde(default)]
    pub(super) sample_content_products: Vec<String>,
}

impl Resolver {
    /// `[apps."ID".refund_policy]`.
    pub(super) fn refund_policy(
        &self,
        app_id: &str,
        raw: &RawRefundPolicy,
    ) -> Result<RefundPolicy, ConfigError> {
        let key = format!("apps.{app_id:?}.refund_policy.decline_consumed_from_milliunits");
        let decline = match raw.decline_consumed_from_milliunits {
            None => None,
            Some(n) => Some(self.count(&key, Some(n), 0..=100_000, 0)? as u32),
        };
        Ok(RefundPolicy {
            decline_consumed_from: decline,
            grant_undelivered: raw.grant_undelivered,
            sample_content_products: raw.sample_content_products.iter().cloned().collect(),
        })
    }

    /// `[refund_answers]`: the refund-answer worker's timing.
    pub(super) fn refund_answers(
        &self,
        raw: &RawRefundAnswers,
    ) -> Result<RefundWorkerTiming, ConfigError> {
        let d = RefundWorkerTiming::default();
        let ms = |key: &str, v: Option<u64>, default: std::time::Duration, max: u64| {
            let default = u64::try_from(default.as_millis()).unwrap_or(max);
            self.count(&format!("refund_answers.{key}"), v, 1..=max, default)
                .map(std::time::Duration::from_millis)
        };
        Ok(RefundWorkerTiming {
            poll_interval: ms(
                "poll_interval_ms",
                raw.poll_interval_ms,
                d.poll_interval,
                600_000,
            )?,
            lease: ms("lease_ms", raw.lease_ms, d.lease, 3_600_000)?,
            retry_base: ms("retry_base_ms", raw.retry_base_ms, d.retry_base, 3_600_000)?,
            retry_max: ms("retry_max_ms", raw.retry_max_ms, d.retry_max, 86_400_000)?,
        })
    }

    /// `[apps."ID".refund_history]`.
    pub(super) fn refund_history(
        &self,
        app_id: &str,
        raw: &RawRefundHistory,
    ) -> Result<RefundHistoryPolicy, ConfigError> {
        let key = |k: &str| format!("apps.{app_id:?}.refund_history.{k}");
        let window_days = self.count(&key("window_days"), raw.window_days, 1..=3650, 365)?;
        let limit = match raw.max_refunds {
            None => None,
            Some(n) => Some(RefundLimit {
                max_refunds: self.count(&key("max_refunds"), Some(n), 0..=1_000_000, 0)?,
                window_days: u32::try_from(window_days).unwrap_or(365),
            }),
        };
        Ok(RefundHistoryPolicy {
            in_verdict: raw.in_verdict,
            limit,
        })
    }
}
