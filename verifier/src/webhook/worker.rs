//! The delivery worker: polls the outbox, signs and POSTs due events, records each attempt.
//!
//! Each poll claims up to [`WorkerSettings::batch`] due rows ([`Outbox::claim_due`], a lease of
//! twice the request timeout plus a margin), sends them concurrently, and records the result:
//! `2xx` → delivered; anything else → retried after `retry_base × 2^(attempts−1)` (at most
//! `retry_max`), with jitter drawn uniformly from the upper half of that delay, or failed once
//! the app's give-up age has passed. Rows of an app without a webhook any more are failed. The
//! worker never logs the secret or the body: only the event id, type, app, attempt, and the
//! status code or transport error.

use payseal_protocol::time::now_ms;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use rand::Rng as _;
use tokio::task::JoinSet;

use super::outbox::{AttemptResult, Delivery};
use super::signing::{signature_header, EVENT_HEADER, ID_HEADER, SIGNATURE_HEADER};
use super::{WebhookSettings, WorkerSettings};
use crate::background::Task;
use crate::ledger::Ledger;
use crate::metrics::Metrics;

/// Why one delivery attempt failed (stored with the attempt: a kind or a status, never the
/// body, the secret or the URL).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum DeliveryError {
    /// The receiver did not answer in time.
    #[error("timeout error")]
    Timeout,
    /// The receiver could not be reached.
    #[error("connect error")]
    Connect,
    /// The request or its answer broke off.
    #[error("transport error")]
    Transport,
    /// The receiver answered with a status that is not `2xx`.
    #[error("HTTP {0}")]
    Status(u16),
    /// The account's refund history (part of a `purchase.paid` body) could not be read.
    #[error("refund history unavailable")]
    History,
}

impl From<reqwest::Error> for DeliveryError {
    fn from(e: reqwest::Error) -> Self {
        if e.is_timeout() {
            DeliveryError::Timeout
        } else if e.is_connect() {
            DeliveryError::Connect
        } else {
            DeliveryError::Transport
        }
    }
}

/// The delivery worker (not running yet: [`Worker::spawn`]).
#[derive(Debug, Clone)]
pub(crate) struct Worker {
    /// The outbox's rows, and the refund history a `purchase.paid` body carries.
    outbox: Arc<dyn Ledger>,
    webhooks: Arc<HashMap<String, WebhookSettings>>,
    settings: WorkerSettings,
    metrics: Arc<Metrics>,
    client: reqwest::Client,
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The delay before attempt `attempts + 1`: `base × 2^(attempts−1)` capped at `max`, then a
/// uniformly random point in its upper half.
pub(crate) fn backoff(settings: &WorkerSettings, attempts: i64) -> Duration {
    let exponent = u32::try_from(attempts.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
    let full = settings
        .retry_base
        .saturating_mul(2u32.saturating_pow(exponent))
        .min(settings.retry_max);
    let full_ms = u64::try_from(full.as_millis()).unwrap_or(u64::MAX).max(1);
    let half = full_ms / 2;
    Duration::from_millis(half + rand::thread_rng().gen_range(0..=full_ms - half))
}

impl Worker {
    /// A worker delivering `outbox` to the `webhooks` of each app.
    pub(crate) fn new(
        outbox: Arc<dyn Ledger>,
        webhooks: Arc<HashMap<String, WebhookSettings>>,
        settings: WorkerSettings,
        metrics: Arc<Metrics>,
        client: reqwest::Client,
    ) -> Self {
        Self {
            outbox,
            webhooks,
            settings,
            metrics,
            client,
        }
    }

    /// Start polling on the current tokio runtime. Stopping it abandons an attempt in flight:
    /// its row's lease ends and it is sent again, which receivers deduplicate.
    pub(crate) fn spawn(self) -> Task {
        Task::spawn(|stop| async move {
            loop {
                let full = self.poll_once().await;
                if stop.is_cancelled() {
                    return;
                }
                if !full {
                    tokio::select! {
                        () = stop.cancelled() => return,
                        () = tokio::time::sleep(self.settings.poll_interval) => {}
                    }
                }
            }
        })
    }

    /// One poll: claim due rows, attempt each, record the results, refresh the pending gauge.
    /// Returns whether the batch was full (more may be due).
    pub(crate) async fn poll_once(&self) -> bool {
        let now = now_ms();
        let lease = now.saturating_add(ms(self.settings.request_timeout) * 2 + 5_000);
        let rows = match self
            .outbox
            .claim_due(now, lease, self.settings.batch.max(1))
            .await
        {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!(error = %e, "webhook outbox: cannot claim due deliveries");
                return false;
            }
        };
        let full = rows.len() >= self.settings.batch.max(1) as usize;
        let mut attempts = JoinSet::new();
        for row in rows {
            let worker = self.clone();
            attempts.spawn(async move { worker.attempt(row).await });
        }
        while attempts.join_next().await.is_some() {}
        match self.outbox.count_pending().await {
            Ok(n) => self.metrics.set_outbox_pending(n),
            Err(e) => tracing::warn!(error = %e, "webhook outbox: cannot count pending"),
        }
        full
    }

    async fn attempt(&self, row: Delivery) {
        let result = match self.webhooks.get(&row.app_id) {
            None => AttemptResult::Failed {
                at_ms: now_ms(),
                error: "no webhook configured for this app".into(),
            },
            Some(hook) => {
                let outcome = self.post(hook, &row).await;
                let now = now_ms();
                match outcome {
                    Ok(()) => AttemptResult::Delivered { at_ms: now },
                    Err(error) => {
                        let error = error.to_string();
                        let give_up_at = row.age_from_ms.saturating_add(ms(hook.give_up_after));
                        let next = now.saturating_add(ms(backoff(&self.settings, row.attempts)));
                        if now >= give_up_at {
                            AttemptResult::Failed { at_ms: now, error }
                        } else {
                            AttemptResult::Retry {
                                next_attempt_ms: next.min(give_up_at),
                                error,
                            }
                        }
                    }
                }
            }
        };
        let (label, level_warn) = match &result {
            AttemptResult::Delivered { .. } => ("delivered", false),
            AttemptResult::Retry { .. } => ("retried", false),
            AttemptResult::Failed { .. } => ("failed", true),
        };
        let error = match &result {
            AttemptResult::Retry { error, .. } | AttemptResult::Failed { error, .. } => {
                error.as_str()
            }
            AttemptResult::Delivered { .. } => "",
        };
        if level_warn {
            tracing::warn!(id = %row.id, event = %row.event_type, app = %row.app_id,
                attempt = row.attempts, error, "webhook given up");
        } else {
            tracing::info!(id = %row.id, event = %row.event_type, app = %row.app_id,
                attempt = row.attempts, result = label, error, "webhook attempt");
        }
        match self
            .outbox
            .finish_attempt(&row.id, row.attempts, result)
            .await
        {
            Ok(true) => self.metrics.webhook_attempt(label),
            // Our lease ran out and another worker claimed the row since: its result counts.
            Ok(false) => tracing::info!(id = %row.id, attempt = row.attempts,
                "webhook attempt outlived its lease; the newer claim decides"),
            // The lease ends and the row is attempted again: at least once.
            Err(e) => {
                tracing::warn!(id = %row.id, error = %e, "webhook outbox: cannot record attempt")
            }
        }
    }

    /// The body to send: a `purchase.paid` event gets the account's refund history (counts
    /// by store over the last 30 and 365 days and all time, the windows ending at the event's
    /// creation), read here rather than on the verification path, where it would cost every
    /// verification a ledger read. A body that carries it already (the app asked for it in
    /// the verdict) is sent as it is.
    async fn body(&self, row: &Delivery) -> Result<String, DeliveryError> {
        if row.event_type != super::PURCHASE_PAID {
            return Ok(row.body.clone());
        }
        let Ok(mut event) = serde_json::from_str::<serde_json::Value>(&row.body) else {
            return Ok(row.body.clone());
        };
        let Some(data) = event.get_mut("data").and_then(|d| d.as_object_mut()) else {
            return Ok(row.body.clone());
        };
        if data.contains_key("refund_history") {
            return Ok(row.body.clone());
        }
        let Some(account) = data.get("sub").and_then(|s| s.as_str()).map(str::to_owned) else {
            return Ok(row.body.clone());
        };
        let history = self
            .outbox
            .account_refund_history(&row.app_id, &account, row.created_ms)
            .await
            .map_err(|e| {
                tracing::warn!(id = %row.id, error = %e, "webhook: cannot read the refund history");
                DeliveryError::History
            })?;
        let history = serde_json::to_value(history).map_err(|_| DeliveryError::History)?;
        data.insert("refund_history".into(), history);
        serde_json::to_string(&event).map_err(|_| DeliveryError::History)
    }

    /// POST one event; `Ok` on 2xx, else what failed.
    async fn post(&self, hook: &WebhookSettings, row: &Delivery) -> Result<(), DeliveryError> {
        let body = self.body(row).await?;
        let t = now_ms().div_euclid(1000);
        let signature = signature_header(hook.secret.expose(), t, body.as_bytes());
        let response = self
            .client
            .post(&hook.url)
            .timeout(self.settings.request_timeout)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, signature)
            .header(ID_HEADER, &row.id)
            .header(EVENT_HEADER, &row.event_type)
            .body(body)
            .send()
            .await?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(DeliveryError::Status(status.as_u16()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_is_capped_and_jittered_in_the_upper_half() {
        let s = WorkerSettings {
            retry_base: Duration::from_millis(1000),
            retry_max: Duration::from_millis(16_000),
            ..WorkerSettings::default()
        };
        for _ in 0..200 {
            let d1 = backoff(&s, 1).as_millis();
            assert!((500..=1000).contains(&d1), "{d1}");
            let d3 = backoff(&s, 3).as_millis();
            assert!((2000..=4000).contains(&d3), "{d3}");
            let d10 = backoff(&s, 10).as_millis();
            assert!((8000..=16_000).contains(&d10), "{d10}");
            let huge = backoff(&s, i64::MAX).as_millis();
            assert!(huge <= 16_000, "{huge}");
        }
    }
}
