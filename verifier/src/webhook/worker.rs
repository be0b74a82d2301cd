//! The delivery worker: polls the outbox, signs and POSTs due events, records each attempt.
//!
//! Each poll claims up to [`WorkerSettings::batch`] due rows ([`Outbox::claim_due`], a lease of
//! twice the request timeout plus a margin), sends them concurrently, and records the result:
//! `2xx` → delivered; anything else → retried after `retry_base × 2^(attempts−1)` (at most
//! `retry_max`), with jitter drawn uniformly from the upper half of that delay, or failed once
//! the app's give-up age has passed. Rows of an app without a webhook any more are failed. The
//! worker never logs the secret or the body: only the event id, type, app, attempt, and the
//! status code or transport error.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use rand::Rng as _;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use super::outbox::{AttemptResult, Delivery, Outbox};
use super::signing::{signature_header, EVENT_HEADER, ID_HEADER, SIGNATURE_HEADER};
use super::{WebhookSettings, WorkerSettings};
use crate::server::metrics::Metrics;

/// Why the worker could not be built.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// The HTTP client could not be built (TLS configuration).
    #[error("webhook HTTP client: {0}")]
    Client(String),
}

/// The delivery worker (not running yet: [`Worker::spawn`]).
#[derive(Debug, Clone)]
pub struct Worker {
    outbox: Arc<dyn Outbox>,
    webhooks: Arc<HashMap<String, WebhookSettings>>,
    settings: WorkerSettings,
    metrics: Arc<Metrics>,
    client: reqwest::Client,
}

/// A running worker; [`WorkerHandle::stop`] ends it (an attempt in flight is abandoned: its
/// row's lease ends and it is sent again, which receivers deduplicate).
#[derive(Debug)]
pub struct WorkerHandle {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl WorkerHandle {
    /// Stop the worker and wait for it (at most `grace`, then it is aborted).
    pub async fn stop(self, grace: Duration) {
        let _ = self.stop.send(true);
        let mut task = self.task;
        if tokio::time::timeout(grace, &mut task).await.is_err() {
            task.abort();
        }
    }
}

/// An HTTPS client trusting the Mozilla roots (`webpki-roots`), no redirects.
pub(crate) fn http_client(timeout: Duration) -> Result<reqwest::Client, WorkerError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| WorkerError::Client(e.to_string()))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("payseal-verifier/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| WorkerError::Client(e.to_string()))
}

fn now_ms() -> i64 {
    crate::service::now_ms()
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The delay before attempt `attempts + 1`: `base × 2^(attempts−1)` capped at `max`, then a
/// uniformly random point in its upper half.
pub fn backoff(settings: &WorkerSettings, attempts: i64) -> Duration {
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
    pub fn new(
        outbox: Arc<dyn Outbox>,
        webhooks: Arc<HashMap<String, WebhookSettings>>,
        settings: WorkerSettings,
        metrics: Arc<Metrics>,
    ) -> Result<Self, WorkerError> {
        let client = http_client(settings.request_timeout)?;
        Ok(Self {
            outbox,
            webhooks,
            settings,
            metrics,
            client,
        })
    }

    /// Start polling on the current tokio runtime.
    pub fn spawn(self) -> WorkerHandle {
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            loop {
                let full = self.poll_once().await;
                if *stopped.borrow() {
                    return;
                }
                if !full {
                    tokio::select! {
                        _ = stopped.changed() => return,
                        () = tokio::time::sleep(self.settings.poll_interval) => {}
                    }
                }
            }
        });
        WorkerHandle { stop, task }
    }

    /// One poll: claim due rows, attempt each, record the results, refresh the pending gauge.
    /// Returns whether the batch was full (more may be due).
    pub async fn poll_once(&self) -> bool {
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

    /// POST one event; `Ok` on 2xx, else a short error (status or transport error kind).
    async fn post(&self, hook: &WebhookSettings, row: &Delivery) -> Result<(), String> {
        let t = now_ms().div_euclid(1000);
        let signature = signature_header(hook.secret.expose(), t, row.body.as_bytes());
        let response = self
            .client
            .post(&hook.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, signature)
            .header(ID_HEADER, &row.id)
            .header(EVENT_HEADER, &row.event_type)
            .body(row.body.clone())
            .send()
            .await
            .map_err(|e| {
                let kind = if e.is_timeout() {
                    "timeout"
                } else if e.is_connect() {
                    "connect"
                } else {
                    "transport"
                };
                format!("{kind} error")
            })?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("HTTP {}", status.as_u16()))
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
