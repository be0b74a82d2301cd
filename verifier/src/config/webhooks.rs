//! `[webhooks]` (the delivery worker's timing) and `[apps."ID".webhook]` (each app's endpoint
//! and secret).

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::{check_outbound_url, ConfigError, Resolver};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWebhooks {
    pub(super) poll_interval_ms: Option<u64>,
    pub(super) retry_base_ms: Option<u64>,
    pub(super) retry_max_ms: Option<u64>,
    pub(super) timeout_ms: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWebhook {
    pub(super) url: String,
    pub(super) secret_file: PathBuf,
    pub(super) give_up_after_hours: Option<u64>,
}

impl Resolver {
    /// `[apps."ID".webhook]`: the URL (https, or http to a loopback address), the secret file
    /// (at least 16 bytes; a trailing newline is not part of the secret), the give-up age.
    pub(super) fn webhook(
        &self,
        app_id: &str,
        raw: &RawWebhook,
    ) -> Result<crate::webhook::WebhookSettings, ConfigError> {
        let key = |k: &str| format!("apps.{app_id:?}.webhook.{k}");
        let url = raw.url.trim();
        check_outbound_url(url).map_err(|r| self.invalid(key("url"), r))?;
        let path = self.path(&raw.secret_file);
        let bytes = std::fs::read(&path)
            .map_err(|e| self.invalid(key("secret_file"), format!("{}: {e}", path.display())))?;
        let mut secret = zeroize::Zeroizing::new(bytes);
        while matches!(secret.last(), Some(b'\n' | b'\r')) {
            secret.pop();
        }
        if secret.len() < crate::webhook::MIN_SECRET_BYTES {
            return Err(self.invalid(
                key("secret_file"),
                format!(
                    "{}: the secret must be at least {} bytes (e.g. `openssl rand -hex 32`)",
                    path.display(),
                    crate::webhook::MIN_SECRET_BYTES
                ),
            ));
        }
        let hours = raw.give_up_after_hours.unwrap_or(72);
        if !(1..=24 * 30).contains(&hours) {
            return Err(self.invalid(
                key("give_up_after_hours"),
                format!("{hours} is outside 1..=720"),
            ));
        }
        Ok(crate::webhook::WebhookSettings {
            url: url.to_string(),
            secret: crate::webhook::WebhookSecret::new(secret.to_vec()),
            give_up_after: Duration::from_secs(hours * 3600),
        })
    }

    /// `[webhooks]`: the delivery worker's timing.
    pub(super) fn webhook_worker(
        &self,
        raw: &RawWebhooks,
    ) -> Result<crate::webhook::WorkerSettings, ConfigError> {
        let defaults = crate::webhook::WorkerSettings::default();
        let ms = |key: &str, v: Option<u64>, default: Duration, max: u64| match v {
            None => Ok(default),
            Some(n) if (1..=max).contains(&n) => Ok(Duration::from_millis(n)),
            Some(n) => Err(self.invalid(
                format!("webhooks.{key}"),
                format!("{n} is outside 1..={max} milliseconds"),
            )),
        };
        let settings = crate::webhook::WorkerSettings {
            poll_interval: ms(
                "poll_interval_ms",
                raw.poll_interval_ms,
                defaults.poll_interval,
                600_000,
            )?,
            retry_base: ms(
                "retry_base_ms",
                raw.retry_base_ms,
                defaults.retry_base,
                3_600_000,
            )?,
            retry_max: ms(
                "retry_max_ms",
                raw.retry_max_ms,
                defaults.retry_max,
                86_400_000,
            )?,
            request_timeout: ms(
                "timeout_ms",
                raw.timeout_ms,
                defaults.request_timeout,
                120_000,
            )?,
            batch: defaults.batch,
        };
        if settings.retry_max < settings.retry_base {
            return Err(self.invalid(
                "webhooks.retry_max_ms",
                "must be at least webhooks.retry_base_ms",
            ));
        }
        Ok(settings)
    }
}
