//! `[apps."ID".google_play.api]`: the Play Developer API client of one app (service account,
//! timing, daily request budget) and what it does after a first redemption (acknowledge, or
//! consume the listed consumables).

use std::time::Duration;

use serde::Deserialize;

use super::{check_outbound_url, ConfigError, Resolver};
use crate::settings::{
    OnStoreUnavailable, PlayApiSettings, ServiceAccountKey, DEFAULT_API_BASE, DEFAULT_DAILY_BUDGET,
};

/// `[apps."ID".google_play.api]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPlayApi {
    pub(super) service_account_key: std::path::PathBuf,
    pub(super) token_uri: Option<String>,
    pub(super) api_base: Option<String>,
    pub(super) request_timeout_ms: Option<u64>,
    pub(super) retry_base_ms: Option<u64>,
    pub(super) retry_max_ms: Option<u64>,
    pub(super) max_attempts: Option<u64>,
    pub(super) daily_budget: Option<u64>,
    pub(super) acknowledge: Option<bool>,
    #[serde(default)]
    pub(super) consumable_products: Vec<String>,
    pub(super) live_check: Option<bool>,
    pub(super) on_store_unavailable: Option<String>,
}

/// A Google service account and the endpoints it is used with, as both Play tables that call
/// Google configure them (`[apps."ID".google_play.api]`, `.voided_purchases`).
pub(super) struct GoogleAccount {
    /// The parsed service-account key file.
    pub(super) account: ServiceAccountKey,
    /// `token_uri`, else the key file's; checked.
    pub(super) token_uri: String,
    /// `api_base`, else Google's; checked, without a trailing `/`.
    pub(super) api_base: String,
}

impl Resolver {
    /// `retry_base_ms` (1..=600000) and `retry_max_ms` (1..=3600000, not below the base) of a
    /// Google API client, with their `defaults` in milliseconds; errors named by `key(field)`.
    pub(super) fn retry_window(
        &self,
        key: &dyn Fn(&str) -> String,
        retry_base_ms: Option<u64>,
        retry_max_ms: Option<u64>,
        defaults: (u64, u64),
    ) -> Result<(Duration, Duration), ConfigError> {
        let base = self.count(
            &key("retry_base_ms"),
            retry_base_ms,
            1..=600_000,
            defaults.0,
        )?;
        let max = self.count(
            &key("retry_max_ms"),
            retry_max_ms,
            1..=3_600_000,
            defaults.1,
        )?;
        if max < base {
            return Err(self.invalid(key("retry_max_ms"), "must be at least retry_base_ms"));
        }
        Ok((Duration::from_millis(base), Duration::from_millis(max)))
    }

    /// Read and parse the `service_account_key` file and check `token_uri` and `api_base`;
    /// errors named by `key(field)`.
    pub(super) fn google_account(
        &self,
        key: &dyn Fn(&str) -> String,
        service_account_key: &std::path::Path,
        token_uri: Option<&str>,
        api_base: Option<&str>,
    ) -> Result<GoogleAccount, ConfigError> {
        let path = self.path(service_account_key);
        let bytes = zeroize::Zeroizing::new(std::fs::read(&path).map_err(|e| {
            self.invalid(
                key("service_account_key"),
                format!("{}: {e}", path.display()),
            )
        })?);
        let account = ServiceAccountKey::from_json(&bytes).map_err(|e| {
            self.invalid(
                key("service_account_key"),
                format!("{}: {e}", path.display()),
            )
        })?;
        let token_uri = token_uri.unwrap_or(&account.token_uri).trim().to_string();
        check_outbound_url(&token_uri).map_err(|r| self.invalid(key("token_uri"), r))?;
        let api_base = api_base
            .unwrap_or(DEFAULT_API_BASE)
            .trim()
            .trim_end_matches('/')
            .to_string();
        check_outbound_url(&api_base).map_err(|r| self.invalid(key("api_base"), r))?;
        Ok(GoogleAccount {
            account,
            token_uri,
            api_base,
        })
    }
    /// `[apps."ID".google_play.api]`, resolved.
    pub(super) fn play_api(
        &self,
        app_id: &str,
        package_name: &str,
        raw: &RawPlayApi,
    ) -> Result<PlayApiSettings, ConfigError> {
        let key = |k: &str| format!("apps.{app_id:?}.google_play.api.{k}");
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
            self.retry_window(&key, raw.retry_base_ms, raw.retry_max_ms, (500, 30_000))?;
        let mut consumable_products = std::collections::BTreeSet::new();
        for p in &raw.consumable_products {
            let p = p.trim();
            if p.is_empty() {
                return Err(self.invalid(key("consumable_products"), "a product id is empty"));
            }
            consumable_products.insert(p.to_string());
        }
        let on_store_unavailable = self.on_store_unavailable(
            key("on_store_unavailable"),
            raw.on_store_unavailable.as_deref(),
        )?;
        Ok(PlayApiSettings {
            app_id: app_id.to_string(),
            package_name: package_name.to_string(),
            key: account,
            token_uri,
            api_base,
            request_timeout: ms(
                "request_timeout_ms",
                raw.request_timeout_ms,
                1..=120_000,
                10_000,
            )?,
            retry_base,
            retry_max,
            max_attempts: self.count(&key("max_attempts"), raw.max_attempts, 1..=20, 4)? as u32,
            daily_budget: self.count(
                &key("daily_budget"),
                raw.daily_budget,
                1..=10_000_000,
                u64::from(DEFAULT_DAILY_BUDGET),
            )? as u32,
            acknowledge: raw.acknowledge.unwrap_or(true),
            consumable_products,
            live_check: raw.live_check.unwrap_or(false),
            on_store_unavailable,
        })
    }

    /// `on_store_unavailable` of a store API (Play's `google_play.api`, the App Store's
    /// `app_store.server_api`): `"signature"` (the default) or `"retry"`.
    pub(super) fn on_store_unavailable(
        &self,
        key: String,
        raw: Option<&str>,
    ) -> Result<OnStoreUnavailable, ConfigError> {
        match raw {
            None | Some("signature") => Ok(OnStoreUnavailable::Signature),
            Some("retry") => Ok(OnStoreUnavailable::Retry),
            Some(other) => Err(self.invalid(
                key,
                format!("{other:?} is neither \"signature\" nor \"retry\""),
            )),
        }
    }
}
