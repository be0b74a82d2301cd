//! Answers to the stores' refund requests: the policy (pure, [`policy`]) and the worker that
//! sends what it decides from the durable queue (`payseal_ledger::refunds`).
//!
//! An App Store `CONSUMPTION_REQUEST` (for an app with a `refund_policy` and an App Store
//! Server API key) or a Google Play `PendingRefundReviewNotification` (for an app with a
//! `refund_policy` and the Play Developer API) queues its answer in the notification's own
//! ledger transaction ([`Settings::answers_refunds`] decides whether). The worker claims due rows (a
//! lease: one instance per attempt, across instances and restarts), reads the ledger's
//! evidence (`DeliveryReports::evidence`), lets the policy decide, and sends `Send Consumption
//! Information` or `orders.reviewrefund`, retrying with backoff until the store accepts it or
//! the deadline ([`crate::notifications::APPLE_DEADLINE`] after Apple's request,
//! [`crate::notifications::GOOGLE_DEADLINE`] after Google's event) passes. Google counts only the first `orders.reviewrefund` call: an error saying the
//! review was answered already is done, not retried.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use payseal_protocol::{Environment, Store};

use crate::app_store_api::{AppStoreApi, AppStoreApiError};
use crate::background::Task;
use crate::google_api::PlayApi;
use crate::ledger::refunds::{RefundAttempt, RefundRequestRow, RefundState};
use crate::ledger::Ledger;
use crate::metrics::Metrics;
use crate::settings::Settings;

pub mod policy;

/// A pending request this close to its deadline is counted in
/// `payseal_refund_requests_near_deadline` (the alert's input).
pub const NEAR_DEADLINE: Duration = Duration::from_secs(2 * 3600);

/// The refund-answer worker (started by the server when any app answers refunds).
pub struct RefundWorker {
    ledger: Arc<dyn Ledger>,
    settings: Arc<Settings>,
    apis: HashMap<String, AppStoreApi>,
    play_apis: Arc<HashMap<String, Arc<PlayApi>>>,
    timing: crate::settings::RefundWorkerTiming,
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for RefundWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefundWorker")
            .field("app_store_apps", &self.apis.keys().collect::<Vec<_>>())
            .field("play_apps", &self.play_apis.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl RefundWorker {
    /// A worker for every app that answers refunds, over the outbound `client` (App Store)
    /// and the shared Play Developer API clients.
    pub(crate) fn new(
        ledger: Arc<dyn Ledger>,
        settings: Arc<Settings>,
        metrics: Arc<Metrics>,
        client: reqwest::Client,
        play_apis: Arc<HashMap<String, Arc<PlayApi>>>,
    ) -> Self {
        let apis = settings
            .app_store_api
            .iter()
            .filter(|(app, _)| settings.refund_policies.contains_key(*app))
            .map(|(app, api)| (app.clone(), AppStoreApi::new(client.clone(), api.clone())))
            .collect();
        let timing = settings.refund_worker;
        Self {
            ledger,
            settings,
            apis,
            play_apis,
            timing,
            metrics,
        }
    }

    /// Whether there is anything to run.
    pub(crate) fn is_needed(&self) -> bool {
        !self.apis.is_empty()
            || self
                .play_apis
                .keys()
                .any(|app| self.settings.refund_policies.contains_key(app))
    }

    /// Run until stopped.
    pub(crate) fn spawn(self) -> Task {
        Task::spawn(|cancel| async move {
            loop {
                let worked = self.poll_once().await;
                if worked == 0 {
                    tokio::select! {
                        () = cancel.cancelled() => return,
                        () = tokio::time::sleep(self.timing.poll_interval) => {}
                    }
                } else if cancel.is_cancelled() {
                    return;
                }
            }
        })
    }

    /// One poll: claim due rows and handle each; how many were claimed.
    pub async fn poll_once(&self) -> usize {
        let now = payseal_protocol::time::now_ms();
        let near = now + self.timing_ms(NEAR_DEADLINE);
        if let Ok(pending) = self
            .ledger
            .list_refund_requests(Some(RefundState::Pending), 10_000)
            .await
        {
            self.metrics.set_refunds_near_deadline(
                pending.iter().filter(|r| r.deadline_ms <= near).count(),
            );
        }
        let lease_until = now + self.timing_ms(self.timing.lease);
        let rows = match self
            .ledger
            .claim_refund_requests(now, lease_until, 16)
            .await
        {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!(error = %e, "refund answers: cannot claim");
                return 0;
            }
        };
        for row in &rows {
            let result = self.attempt(row).await;
            let label = match &result {
                RefundAttempt::Done { state, .. } => state.as_str(),
                RefundAttempt::Retry { .. } => "retried",
            };
            self.metrics.refund_answer(row.store.as_str(), label);
            tracing::info!(app = %row.app_id, transaction = %row.transaction_key,
                notification = %row.notification_id, result = label, "refund answer");
            if let Err(e) = self
                .ledger
                .finish_refund_request(row.store, &row.notification_id, row.attempts, result)
                .await
            {
                // The lease runs out and the row is claimed again.
                tracing::warn!(error = %e, "refund answers: result not recorded");
            }
        }
        rows.len()
    }

    fn timing_ms(&self, d: Duration) -> i64 {
        i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
    }

    /// One attempt at one row.
    async fn attempt(&self, row: &RefundRequestRow) -> RefundAttempt {
        let now = payseal_protocol::time::now_ms();
        let done = |state, detail: String| RefundAttempt::Done {
            state,
            at_ms: now,
            detail,
        };
        if now >= row.deadline_ms {
            return done(RefundState::Expired, "the store's deadline passed".into());
        }
        let Some(policy) = self.settings.refund_policies.get(&row.app_id) else {
            return done(RefundState::Skipped, "no refund policy for this app".into());
        };
        match row.store {
            Store::AppStore => self.attempt_apple(row, policy, now).await,
            Store::GooglePlay => self.attempt_google(row, policy, now).await,
            _ => done(
                RefundState::Skipped,
                "this store asks no refund answers".into(),
            ),
        }
    }

    /// The evidence of `row`'s purchase, or the attempt's retry.
    async fn evidence(
        &self,
        row: &RefundRequestRow,
        now: i64,
    ) -> Result<Option<crate::ledger::consumption::Evidence>, RefundAttempt> {
        self.ledger
            .evidence(row.store, &row.app_id, &row.transaction_key)
            .await
            .map_err(|e| self.retry(row, now, e.to_string()))
    }

    /// One `Send Consumption Information` attempt.
    async fn attempt_apple(
        &self,
        row: &RefundRequestRow,
        policy: &crate::settings::RefundPolicy,
        now: i64,
    ) -> RefundAttempt {
        let done = |state, detail: String| RefundAttempt::Done {
            state,
            at_ms: now,
            detail,
        };
        let Some(api) = self.apis.get(&row.app_id) else {
            return done(RefundState::Skipped, "no App Store Server API key".into());
        };
        let evidence = match self.evidence(row, now).await {
            Ok(e) => e,
            Err(retry) => return retry,
        };
        let request = match policy::apple_answer(policy, evidence.as_ref()) {
            policy::AppleAnswer::Skip(why) => return done(RefundState::Skipped, why.into()),
            policy::AppleAnswer::Send(r) => r,
        };
        let environment = if row.environment == "sandbox" {
            Environment::Sandbox
        } else {
            Environment::Production
        };
        let sent = serde_json::to_string(&request).unwrap_or_default();
        match api
            .send_consumption(environment, &row.transaction_key, &request)
            .await
        {
            Ok(()) => done(RefundState::Answered, sent),
            Err(e) if e.retryable() => self.retry(row, now, e.to_string()),
            Err(e @ AppStoreApiError::Unauthorized) => self.retry(row, now, e.to_string()),
            Err(e) => done(RefundState::Skipped, format!("refused by the store: {e}")),
        }
    }

    /// One `orders.reviewrefund` attempt. Only Google's first call counts: an error saying the
    /// review was answered already means an earlier attempt (whose result was not recorded)
    /// got through, so the row is done.
    async fn attempt_google(
        &self,
        row: &RefundRequestRow,
        policy: &crate::settings::RefundPolicy,
        now: i64,
    ) -> RefundAttempt {
        let done = |state, detail: String| RefundAttempt::Done {
            state,
            at_ms: now,
            detail,
        };
        let Some(api) = self.play_apis.get(&row.app_id) else {
            return done(RefundState::Skipped, "no Play Developer API".into());
        };
        let Some(token) = row.answer_token.as_deref() else {
            return done(RefundState::Skipped, "no pendingRefundToken".into());
        };
        let evidence = match self.evidence(row, now).await {
            Ok(e) => e,
            Err(retry) => return retry,
        };
        let request = match policy::google_answer(policy, evidence.as_ref(), token) {
            policy::GoogleAnswer::Skip(why) => return done(RefundState::Skipped, why.into()),
            policy::GoogleAnswer::Send(r) => r,
        };
        // The detail shows what was sent, without the token.
        let sent = serde_json::to_value(&request)
            .map(|mut v| {
                v["pendingRefundToken"] = serde_json::json!("(stored)");
                v.to_string()
            })
            .unwrap_or_default();
        match api
            .orders_reviewrefund(&row.transaction_key, &request)
            .await
        {
            Ok(()) => done(RefundState::Answered, sent),
            Err(e) if e.google().is_some_and(|g| g.already_answered()) => done(
                RefundState::Answered,
                format!("already answered (Google counts the first call only): {e}"),
            ),
            Err(e) if e.unavailable() => self.retry(row, now, e.to_string()),
            Err(e) if e.google().is_some_and(|g| matches!(g.http, 401 | 403)) => {
                self.retry(row, now, e.to_string())
            }
            Err(e) => done(RefundState::Skipped, format!("refused by the store: {e}")),
        }
    }

    /// Try again later, or expire when the next attempt would be past the deadline.
    fn retry(&self, row: &RefundRequestRow, now: i64, error: String) -> RefundAttempt {
        let shift = u32::try_from(row.attempts.clamp(1, 16) - 1).unwrap_or(0);
        let delay = self
            .timing
            .retry_base
            .saturating_mul(1 << shift)
            .min(self.timing.retry_max);
        let next = now + self.timing_ms(delay);
        if next >= row.deadline_ms {
            return RefundAttempt::Done {
                state: RefundState::Expired,
                at_ms: now,
                detail: format!("deadline passes before the next attempt; last error: {error}"),
            };
        }
        RefundAttempt::Retry {
            next_attempt_ms: next,
            error,
        }
    }
}
