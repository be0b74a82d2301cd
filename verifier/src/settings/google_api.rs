//! `[apps."ID".google_play.api]`, resolved: the service account the verifier calls the Play
//! Developer API with for one app (acknowledging and consuming purchases after their first
//! redemption), the client's timing and the app's request budget.

use std::collections::BTreeSet;
use std::time::Duration;

use super::ServiceAccountKey;

/// The default `api_base`.
pub const DEFAULT_API_BASE: &str = "https://androidpublisher.googleapis.com";

/// The default [`PlayApiSettings::daily_budget`]: half of a Google Cloud project's default
/// Play Developer API quota (200,000 queries a day), so one app cannot use all of it.
pub const DEFAULT_DAILY_BUDGET: u32 = 100_000;

/// `[apps."ID".google_play.api]`, resolved.
#[derive(Debug, Clone)]
pub struct PlayApiSettings {
    /// The PaySeal app id.
    pub app_id: String,
    /// The Play package name (`packageName` in the API's paths).
    pub package_name: String,
    /// The service account.
    pub key: ServiceAccountKey,
    /// Where assertions are exchanged (the key file's `token_uri` unless configured).
    pub token_uri: String,
    /// `https://androidpublisher.googleapis.com` unless configured.
    pub api_base: String,
    /// Timeout of one HTTP request.
    pub request_timeout: Duration,
    /// First retry delay after a `429`/`5xx`/transport error.
    pub retry_base: Duration,
    /// Longest retry delay (a longer `Retry-After` is cut to it).
    pub retry_max: Duration,
    /// Attempts per request before it fails.
    pub max_attempts: u32,
    /// Requests this app may make per UTC day (per verifier instance); past it a request
    /// fails at once with `ApiError::BudgetExhausted` without reaching Google.
    pub daily_budget: u32,
    /// Whether first redemptions are acknowledged or consumed (default true).
    pub acknowledge: bool,
    /// The one-time products consumed after their first redemption (`purchases.products.
    /// consume`); every other one-time product is acknowledged, never consumed by guess.
    pub consumable_products: BTreeSet<String>,
}
