//! `[apps."ID".refund_policy]`: `decline_consumed_from_milliunits` (0..=100000; absent: never
//! decline), `grant_undelivered` (default false), `sample_content_products` (default none). An
//! app without the table gets no answer to any refund request (the conservative default); with
//! it, answers to the App Store also need `[apps."ID".app_store.server_api]`.

use serde::Deserialize;

use super::{ConfigError, Resolver};
use crate::settings::RefundPolicy;

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
}
