//! `[apps."ID".app_store.server_api]`, resolved: the app's In-App Purchase key for the App
//! Store Server API (the `.p8` private key, its key id, the issuer id) and where the API is.

use std::sync::Arc;
use std::time::Duration;

/// The App Store Server API, production.
pub const APP_STORE_PRODUCTION_URL: &str = "https://api.storekit.itunes.apple.com";
/// The App Store Server API, sandbox.
pub const APP_STORE_SANDBOX_URL: &str = "https://api.storekit-sandbox.itunes.apple.com";

/// An In-App Purchase key (`Debug` shows the ids only; the private key never prints).
#[derive(Clone)]
pub struct AppStoreApiKey {
    /// The ES256 signing key, from the `.p8` file.
    pub key: Arc<jsonwebtoken::EncodingKey>,
    /// The key id (the token header's `kid`).
    pub key_id: String,
    /// The issuer id of the App Store Connect team (the token's `iss`).
    pub issuer_id: String,
}

impl std::fmt::Debug for AppStoreApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppStoreApiKey")
            .field("key", &"***")
            .field("key_id", &self.key_id)
            .field("issuer_id", &self.issuer_id)
            .finish()
    }
}

/// Retries of one App Store Server API call on `429` and `5xx` (and transport errors).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiRetry {
    /// Most attempts of one call.
    pub attempts: u32,
    /// The delay before the second attempt; doubled each time (a `Retry-After` is honoured up
    /// to `max_delay`).
    pub base_delay: Duration,
    /// The longest delay.
    pub max_delay: Duration,
    /// The timeout of one attempt.
    pub timeout: Duration,
}

impl Default for ApiRetry {
    fn default() -> Self {
        Self {
            attempts: 4,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(8),
            timeout: Duration::from_secs(15),
        }
    }
}

/// One app's App Store Server API access.
#[derive(Debug, Clone)]
pub struct AppStoreApiSettings {
    /// The app id in this configuration.
    pub app_id: String,
    /// The app's bundle id (the token's `bid`).
    pub bundle_id: String,
    /// The In-App Purchase key.
    pub key: AppStoreApiKey,
    /// Base URL for production transactions ([`APP_STORE_PRODUCTION_URL`] unless configured).
    pub production_url: String,
    /// Base URL for sandbox transactions ([`APP_STORE_SANDBOX_URL`] unless configured).
    pub sandbox_url: String,
    /// Retries on `429`/`5xx`.
    pub retry: ApiRetry,
    /// What a subscription's first redemption does when Apple cannot be asked (Get All
    /// Subscription Statuses): the same rule as Play's live check.
    pub on_store_unavailable: super::OnStoreUnavailable,
}
