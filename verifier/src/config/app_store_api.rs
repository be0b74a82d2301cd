//! `[apps."ID".app_store.server_api]`: the app's In-App Purchase key for the App Store Server
//! API (App Store Connect → Users and Access → Integrations → In-App Purchase): `key_file`
//! (the `.p8` file, PKCS#8 PEM; mode `0600`/`0400`), `key_id`, `issuer_id`; optionally
//! `production_url` / `sandbox_url` (another https base URL, or http to loopback: development
//! and tests only), `retry_attempts`, `retry_base_ms` and `on_store_unavailable` (what a
//! subscription's first redemption does when Get All Subscription Statuses cannot be asked:
//! `"signature"` or `"retry"`, as Play's).

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::{check_outbound_url, ConfigError, Resolver};
use crate::settings::{
    ApiRetry, AppStoreApiKey, AppStoreApiSettings, APP_STORE_PRODUCTION_URL, APP_STORE_SANDBOX_URL,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAppStoreApi {
    pub(super) key_file: PathBuf,
    pub(super) key_id: String,
    pub(super) issuer_id: String,
    pub(super) production_url: Option<String>,
    pub(super) sandbox_url: Option<String>,
    pub(super) retry_attempts: Option<u64>,
    pub(super) retry_base_ms: Option<u64>,
    pub(super) on_store_unavailable: Option<String>,
}

impl Resolver {
    /// `[apps."ID".app_store.server_api]`: the key read and checked (it must sign a token).
    pub(super) fn app_store_api(
        &self,
        app_id: &str,
        bundle_id: &str,
        raw: &RawAppStoreApi,
    ) -> Result<AppStoreApiSettings, ConfigError> {
        let k = |sub: &str| format!("apps.{app_id:?}.app_store.server_api.{sub}");
        let pem = self.secret_file(&k("key_file"), &raw.key_file)?;
        let key = jsonwebtoken::EncodingKey::from_ec_pem(&pem).map_err(|_| {
            self.invalid(
                k("key_file"),
                "not an In-App Purchase key (.p8: a PKCS#8 PEM EC P-256 private key)",
            )
        })?;
        let id = |name: &str, v: &str| {
            let v = v.trim();
            if v.is_empty() || !v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                Err(self.invalid(k(name), "must be the id App Store Connect shows"))
            } else {
                Ok(v.to_string())
            }
        };
        let key = AppStoreApiKey {
            key: std::sync::Arc::new(key),
            key_id: id("key_id", &raw.key_id)?,
            issuer_id: id("issuer_id", &raw.issuer_id)?,
        };
        let url = |name: &str, v: &Option<String>, default: &str| match v {
            None => Ok(default.to_string()),
            Some(u) => {
                let u = u.trim().trim_end_matches('/');
                check_outbound_url(u).map_err(|r| self.invalid(k(name), r))?;
                Ok(u.to_string())
            }
        };
        let defaults = ApiRetry::default();
        let retry = ApiRetry {
            attempts: self.count(&k("retry_attempts"), raw.retry_attempts, 1..=10, 4)? as u32,
            base_delay: Duration::from_millis(self.count(
                &k("retry_base_ms"),
                raw.retry_base_ms,
                1..=60_000,
                defaults.base_delay.as_millis() as u64,
            )?),
            ..defaults
        };
        Ok(AppStoreApiSettings {
            app_id: app_id.to_string(),
            bundle_id: bundle_id.to_string(),
            key,
            production_url: url(
                "production_url",
                &raw.production_url,
                APP_STORE_PRODUCTION_URL,
            )?,
            sandbox_url: url("sandbox_url", &raw.sandbox_url, APP_STORE_SANDBOX_URL)?,
            retry,
            on_store_unavailable: self.on_store_unavailable(
                k("on_store_unavailable"),
                raw.on_store_unavailable.as_deref(),
            )?,
        })
    }
}
