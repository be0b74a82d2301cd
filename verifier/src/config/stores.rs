//! The stores' notification tables: `[google_play.rtdn]`, `[apps."ID".google_play.
//! voided_purchases]` and `[apps."ID".huawei.notifications]`.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::{check_not_example, check_outbound_url, non_empty, ConfigError, Resolver};

/// `[google_play]`: store-wide Google Play settings.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawGooglePlay {
    pub(super) rtdn: Option<RawRtdn>,
}

/// `[google_play.rtdn]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRtdn {
    pub(super) audience: String,
    pub(super) service_account: String,
    pub(super) jwks_url: Option<String>,
    pub(super) jwks_cache_seconds: Option<u64>,
    pub(super) fetch_timeout_ms: Option<u64>,
}

/// `[apps."ID".google_play.voided_purchases]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawVoided {
    pub(super) service_account_key: PathBuf,
    pub(super) token_uri: Option<String>,
    pub(super) api_base: Option<String>,
    pub(super) poll_interval_ms: Option<u64>,
    pub(super) max_results: Option<u64>,
    pub(super) initial_lookback_days: Option<u64>,
    pub(super) retry_base_ms: Option<u64>,
    pub(super) retry_max_ms: Option<u64>,
    pub(super) max_attempts: Option<u64>,
    pub(super) request_timeout_ms: Option<u64>,
}

/// `[apps."ID".huawei.notifications]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHuaweiNotify {
    pub(super) client_id: String,
    pub(super) client_secret_file: PathBuf,
    pub(super) order_service_url: String,
    pub(super) token_uri: Option<String>,
    pub(super) request_timeout_ms: Option<u64>,
    pub(super) max_order_calls_per_minute: Option<u64>,
    pub(super) max_concurrent_order_calls: Option<u64>,
    pub(super) order_dedupe_window_ms: Option<u64>,
}

impl Resolver {
    /// `[apps."ID".huawei.notifications]`: the AppGallery app id and secret (for the Order
    /// service), and the site's Order service URL.
    pub(super) fn huawei_notify(
        &self,
        app_id: &str,
        raw: &RawHuaweiNotify,
    ) -> Result<crate::notifications::huawei::HuaweiNotifySettings, ConfigError> {
        use crate::notifications::huawei::{HuaweiNotifySettings, HUAWEI_TOKEN_URI};
        use crate::notifications::outbound::{self, CallLimits};
        let key = |k: &str| format!("apps.{app_id:?}.huawei.notifications.{k}");
        let client_id = non_empty(&raw.client_id).map_err(|r| self.invalid(key("client_id"), r))?;
        let path = self.path(&raw.client_secret_file);
        let text = zeroize::Zeroizing::new(std::fs::read_to_string(&path).map_err(|e| {
            self.invalid(
                key("client_secret_file"),
                format!("{}: {e}", path.display()),
            )
        })?);
        let secret = text.trim_end_matches(['\n', '\r']).to_string();
        if secret.is_empty() {
            return Err(self.invalid(
                key("client_secret_file"),
                format!("{} is empty", path.display()),
            ));
        }
        let order_service_url = raw
            .order_service_url
            .trim()
            .trim_end_matches('/')
            .to_string();
        check_outbound_url(&order_service_url)
            .map_err(|r| self.invalid(key("order_service_url"), r))?;
        let token_uri = raw
            .token_uri
            .as_deref()
            .unwrap_or(HUAWEI_TOKEN_URI)
            .trim()
            .to_string();
        check_outbound_url(&token_uri).map_err(|r| self.invalid(key("token_uri"), r))?;
        Ok(HuaweiNotifySettings {
            app_id: app_id.to_string(),
            client_id,
            client_secret: zeroize::Zeroizing::new(secret),
            token_uri,
            order_service_url,
            request_timeout: Duration::from_millis(self.count(
                &key("request_timeout_ms"),
                raw.request_timeout_ms,
                1..=120_000,
                10_000,
            )?),
            limits: CallLimits {
                per_minute: u32::try_from(self.count(
                    &key("max_order_calls_per_minute"),
                    raw.max_order_calls_per_minute,
                    1..=10_000,
                    u64::from(outbound::DEFAULT_PER_MINUTE),
                )?)
                .unwrap_or(outbound::DEFAULT_PER_MINUTE),
                concurrent: usize::try_from(self.count(
                    &key("max_concurrent_order_calls"),
                    raw.max_concurrent_order_calls,
                    1..=256,
                    outbound::DEFAULT_CONCURRENT as u64,
                )?)
                .unwrap_or(outbound::DEFAULT_CONCURRENT),
                dedupe_window: Duration::from_millis(self.count(
                    &key("order_dedupe_window_ms"),
                    raw.order_dedupe_window_ms,
                    0..=86_400_000,
                    outbound::DEFAULT_DEDUPE_WINDOW.as_millis() as u64,
                )?),
            },
        })
    }

    /// `[google_play.rtdn]`: the push subscription's audience and service account, and where
    /// Google's keys are.
    pub(super) fn rtdn(
        &self,
        raw: &RawRtdn,
    ) -> Result<crate::notifications::google_play::RtdnSettings, ConfigError> {
        use crate::notifications::google_play::{DEFAULT_JWKS_TTL, GOOGLE_JWKS_URL};
        let audience = non_empty(&raw.audience)
            .and_then(|a| check_not_example(&a).map(|()| a))
            .map_err(|r| self.invalid("google_play.rtdn.audience", r))?;
        let service_account = non_empty(&raw.service_account)
            .and_then(|a| check_not_example(&a).map(|()| a))
            .map_err(|r| self.invalid("google_play.rtdn.service_account", r))?;
        if !service_account.contains('@') {
            return Err(self.invalid(
                "google_play.rtdn.service_account",
                format!("{service_account:?} is not a service account email"),
            ));
        }
        let jwks_url = raw
            .jwks_url
            .as_deref()
            .unwrap_or(GOOGLE_JWKS_URL)
            .trim()
            .to_string();
        check_outbound_url(&jwks_url).map_err(|r| self.invalid("google_play.rtdn.jwks_url", r))?;
        let jwks_ttl = match raw.jwks_cache_seconds {
            None => DEFAULT_JWKS_TTL,
            Some(n) if (1..=86_400).contains(&n) => Duration::from_secs(n),
            Some(n) => {
                return Err(self.invalid(
                    "google_play.rtdn.jwks_cache_seconds",
                    format!("{n} is outside 1..=86400"),
                ))
            }
        };
        let fetch_timeout = Duration::from_millis(self.count(
            "google_play.rtdn.fetch_timeout_ms",
            raw.fetch_timeout_ms,
            1..=60_000,
            5_000,
        )?);
        Ok(crate::notifications::google_play::RtdnSettings {
            audience,
            service_account,
            jwks_url,
            jwks_ttl,
            fetch_timeout,
        })
    }

    /// `[apps."ID".google_play.voided_purchases]`: the service account key file and the
    /// poller's timing.
    pub(super) fn voided(
        &self,
        app_id: &str,
        package_name: &str,
        raw: &RawVoided,
    ) -> Result<crate::notifications::voided::VoidedSettings, ConfigError> {
        use super::google_api::GoogleAccount;
        let key = |k: &str| format!("apps.{app_id:?}.google_play.voided_purchases.{k}");
        let GoogleAccount {
            account,
            token_uri,
            api_base,
        } = self.google_account(
            &key,
            &raw.service_account_key,
            raw.token_uri.as_deref(),
            raw.api_base.as_deref(),
        )?;
        let ms = |k: &str, v: Option<u64>, range: std::ops::RangeInclusive<u64>, default: u64| {
            self.count(&key(k), v, range, default)
                .map(Duration::from_millis)
        };
        let (retry_base, retry_max) =
            self.retry_window(&key, raw.retry_base_ms, raw.retry_max_ms, (1_000, 60_000))?;
        Ok(crate::notifications::voided::VoidedSettings {
            app_id: app_id.to_string(),
            package_name: package_name.to_string(),
            key: account,
            token_uri,
            api_base,
            poll_interval: ms(
                "poll_interval_ms",
                raw.poll_interval_ms,
                100..=86_400_000,
                15 * 60 * 1000,
            )?,
            max_results: self.count(&key("max_results"), raw.max_results, 1..=1000, 1000)? as u32,
            initial_lookback: Duration::from_secs(
                self.count(
                    &key("initial_lookback_days"),
                    raw.initial_lookback_days,
                    1..=30,
                    30,
                )? * 24
                    * 3600,
            ),
            retry_base,
            retry_max,
            max_attempts: self.count(&key("max_attempts"), raw.max_attempts, 1..=20, 6)? as u32,
            request_timeout: ms(
                "request_timeout_ms",
                raw.request_timeout_ms,
                1..=120_000,
                30_000,
            )?,
        })
    }
}
