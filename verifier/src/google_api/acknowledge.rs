//! Acknowledging and consuming Google Play purchases after their first redemption.
//!
//! **What is queued** ([`ack_for`], pure): for an app with `[apps."ID".google_play.api]` and
//! `acknowledge` on (the default), every first redemption of a Play purchase queues one row in
//! the ledger's acknowledgement queue (`payseal_ledger::acks`), in the same transaction as the
//! redemption: a subscription is acknowledged (`purchases.subscriptions.acknowledge`), a
//! one-time product listed in `consumable_products` is consumed (`purchases.products.consume`,
//! which acknowledges it too), every other one-time product is acknowledged
//! (`purchases.products.acknowledge`), never consumed by guess. A refused, repeat or revoked
//! redemption queues nothing.
//!
//! **The worker** ([`AckWorker`], a background task of `serve`) claims due rows (a lease, like
//! the webhook worker: several instances on one PostgreSQL ledger never work on a row at once,
//! and a row left by a crash is taken again when its lease ends), and for each:
//! - an app whose API is no longer configured, or a redemption revoked meanwhile: failed;
//! - Google says yes: done; Google refuses (a `4xx`): the purchase is read back
//!   (`products.get` / `subscriptionsv2.get`) and if its `acknowledgementState` (or
//!   `consumptionState`) says it is done already (the app acknowledged on the device too), done;
//!   a cancelled purchase: failed; otherwise retried;
//! - Google unreachable, overloaded or the budget spent: retried after `retry_base ×
//!   2^(attempts−1)` (at most `retry_max`, the app's API settings);
//! - past Google's 3-day window (counted from the purchase): failed (Google has refunded it).
//!
//! Counted in `/metrics` (`payseal_google_play_acks_total{action,result}`, the pending count
//! and the age of the oldest pending purchase, which the alert rule watches).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use payseal_protocol::time::now_ms;
use payseal_protocol::{PurchaseKind, Store};

use super::resources::PURCHASE_STATE_CANCELED;
use super::{retry_delay, ApiError, PlayApi};
use crate::background::Task;
use crate::ledger::acks::{AckAction, Acknowledgement, NewAck};
use crate::ledger::outbox::AttemptResult;
use crate::ledger::Ledger;
use crate::metrics::Metrics;
use crate::rules::Purchase;
use crate::settings::PlayApiSettings;

/// Google refunds a purchase not acknowledged within three days of it.
pub const ACK_DEADLINE: Duration = Duration::from_secs(3 * 24 * 3600);

/// The acknowledgement a first redemption of `purchase` queues, if any (`id`: the verdict's
/// `jti`). Pure.
pub fn ack_for(api: &PlayApiSettings, purchase: &Purchase, id: &str) -> Option<NewAck> {
    if !api.acknowledge || purchase.store != Store::GooglePlay {
        return None;
    }
    let token = purchase.purchase_token.as_ref().filter(|t| !t.is_empty())?;
    let action = if purchase.kind == Some(PurchaseKind::Subscription) {
        AckAction::AcknowledgeSubscription
    } else if api.consumable_products.contains(&purchase.product_id) {
        AckAction::Consume
    } else {
        AckAction::Acknowledge
    };
    Some(NewAck {
        id: id.to_string(),
        product_id: purchase.product_id.clone(),
        purchase_token: token.clone(),
        action,
        purchased_ms: purchase.purchased_at,
    })
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// What one attempt came to before the deadline is applied.
#[derive(Debug)]
enum Step {
    Done,
    Retry(String),
    Fail(String),
}

/// The acknowledgement worker (not running yet: [`AckWorker::spawn`]).
#[derive(Debug, Clone)]
pub(crate) struct AckWorker {
    ledger: Arc<dyn Ledger>,
    apis: Arc<HashMap<String, Arc<PlayApi>>>,
    metrics: Arc<Metrics>,
    poll_interval: Duration,
    batch: u32,
}

impl AckWorker {
    /// A worker acknowledging the rows of `ledger` with each app's client in `apis`, polling
    /// every `poll_interval` for up to `batch` rows.
    pub(crate) fn new(
        ledger: Arc<dyn Ledger>,
        apis: Arc<HashMap<String, Arc<PlayApi>>>,
        metrics: Arc<Metrics>,
        poll_interval: Duration,
        batch: u32,
    ) -> Self {
        Self {
            ledger,
            apis,
            metrics,
            poll_interval,
            batch: batch.max(1),
        }
    }

    /// Start polling. Stopping lets the poll in flight finish within the stop's grace; past it
    /// the attempt is abandoned: its lease ends and it is made again (acknowledging twice is
    /// harmless: the second is answered from Google's state).
    pub(crate) fn spawn(self) -> Task {
        Task::spawn(|stop| async move {
            loop {
                // A poll in flight is finished (within the stop's grace), so its results
                // are recorded.
                let full = self.poll_once().await;
                if stop.is_cancelled() {
                    return;
                }
                if !full {
                    tokio::select! {
                        () = stop.cancelled() => return,
                        () = tokio::time::sleep(self.poll_interval) => {}
                    }
                }
            }
        })
    }

    /// The longest a claimed row is held: every attempt of one call and a read-back.
    fn lease(&self) -> Duration {
        let longest = self
            .apis
            .values()
            .map(|a| {
                let s = a.settings();
                (s.request_timeout + s.retry_max) * s.max_attempts * 2
            })
            .max()
            .unwrap_or(Duration::from_secs(60));
        longest + Duration::from_secs(5)
    }

    /// One poll: claim due rows, attempt each, record the results, refresh the gauges.
    /// Whether the batch was full.
    pub(crate) async fn poll_once(&self) -> bool {
        let now = now_ms();
        let rows = match self
            .ledger
            .claim_acks(now, now.saturating_add(ms(self.lease())), self.batch)
            .await
        {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!(error = %e, "Play acknowledgements: cannot claim due rows");
                return false;
            }
        };
        let full = rows.len() >= self.batch as usize;
        let mut set = tokio::task::JoinSet::new();
        for row in rows {
            let worker = self.clone();
            set.spawn(async move { worker.attempt(row).await });
        }
        while set.join_next().await.is_some() {}
        match self.ledger.ack_backlog().await {
            Ok(b) => {
                let age = b
                    .oldest_purchased_ms
                    .map_or(0, |p| (now_ms() - p).div_euclid(1000));
                self.metrics.set_acks_pending(b.pending, age);
            }
            Err(e) => tracing::warn!(error = %e, "Play acknowledgements: cannot count pending"),
        }
        full
    }

    async fn attempt(&self, row: Acknowledgement) {
        let step = self.step(&row).await;
        let now = now_ms();
        let deadline = row.purchased_ms.saturating_add(ms(ACK_DEADLINE));
        let result = match step {
            Step::Done => AttemptResult::Delivered { at_ms: now },
            Step::Fail(error) => AttemptResult::Failed { at_ms: now, error },
            Step::Retry(error) if now >= deadline => AttemptResult::Failed {
                at_ms: now,
                error: format!("past Google's 3-day acknowledgement window; last: {error}"),
            },
            Step::Retry(error) => {
                let delay = match self.apis.get(&row.app_id) {
                    Some(api) => {
                        let s = api.settings();
                        let n = u32::try_from(row.attempts).unwrap_or(u32::MAX);
                        retry_delay(s.retry_base, s.retry_max, n, None)
                    }
                    None => Duration::from_secs(60),
                };
                AttemptResult::Retry {
                    next_attempt_ms: now.saturating_add(ms(delay)).min(deadline),
                    error,
                }
            }
        };
        let label = match &result {
            AttemptResult::Delivered { .. } => "done",
            AttemptResult::Retry { .. } => "retried",
            AttemptResult::Failed { .. } => "failed",
        };
        match &result {
            AttemptResult::Failed { error, .. } => {
                tracing::warn!(id = %row.id, app = %row.app_id, action = row.action.as_str(),
                    attempt = row.attempts, error, "Play acknowledgement given up")
            }
            AttemptResult::Retry { error, .. } => {
                tracing::info!(id = %row.id, app = %row.app_id, action = row.action.as_str(),
                    attempt = row.attempts, error, "Play acknowledgement retried later")
            }
            AttemptResult::Delivered { .. } => {
                tracing::info!(id = %row.id, app = %row.app_id, action = row.action.as_str(),
                    attempt = row.attempts, "Play acknowledgement done")
            }
        }
        match self.ledger.finish_ack(&row.id, row.attempts, result).await {
            Ok(true) => self.metrics.google_play_ack(row.action.as_str(), label),
            Ok(false) => tracing::info!(id = %row.id,
                "Play acknowledgement: the row was claimed again meanwhile; its result counts"),
            Err(e) => tracing::warn!(id = %row.id, error = %e,
                "Play acknowledgement: cannot record the result; the row is attempted again"),
        }
    }

    async fn step(&self, row: &Acknowledgement) -> Step {
        let Some(api) = self.apis.get(&row.app_id) else {
            return Step::Fail("no [apps.\"ID\".google_play.api] configured for this app".into());
        };
        match self
            .ledger
            .find(Store::GooglePlay, &row.app_id, &row.transaction_key)
            .await
        {
            Ok(Some(r)) if r.revoked_at_ms.is_some() => {
                return Step::Fail("the redemption was revoked".into())
            }
            Ok(_) => {}
            Err(e) => return Step::Retry(format!("ledger: {e}")),
        }
        let (product, token) = (row.product_id.as_str(), row.purchase_token.as_str());
        let sent = match row.action {
            AckAction::Acknowledge => api.products_acknowledge(product, token).await,
            AckAction::Consume => api.products_consume(product, token).await,
            AckAction::AcknowledgeSubscription => {
                api.subscriptions_acknowledge(product, token).await
            }
        };
        match sent {
            Ok(()) => Step::Done,
            Err(e @ ApiError::Google { .. }) => self.read_back(api, row, e).await,
            Err(e) => Step::Retry(e.to_string()),
        }
    }

    /// After Google refused: whether its state says the work is done already.
    async fn read_back(&self, api: &PlayApi, row: &Acknowledgement, refused: ApiError) -> Step {
        let (product, token) = (row.product_id.as_str(), row.purchase_token.as_str());
        match row.action {
            AckAction::AcknowledgeSubscription => match api.subscriptionsv2_get(token).await {
                Ok(s) if s.acknowledged() => Step::Done,
                Ok(_) => Step::Retry(refused.to_string()),
                Err(e) => Step::Retry(format!("{refused}; then {e}")),
            },
            AckAction::Acknowledge | AckAction::Consume => {
                match api.products_get(product, token).await {
                    Ok(p) if p.purchase_state == Some(PURCHASE_STATE_CANCELED) => {
                        Step::Fail("the purchase is cancelled at Google".into())
                    }
                    Ok(p) if row.action == AckAction::Consume && p.consumed() => Step::Done,
                    Ok(p) if row.action == AckAction::Acknowledge && p.acknowledged() => Step::Done,
                    Ok(_) => Step::Retry(refused.to_string()),
                    Err(e) => Step::Retry(format!("{refused}; then {e}")),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use payseal_protocol::Environment;

    fn api(consumables: &[&str], acknowledge: bool) -> PlayApiSettings {
        let pem = rsa_pem();
        let key = crate::settings::ServiceAccountKey::from_json(
            serde_json::json!({"type": "service_account", "client_email": "a@b",
                "private_key": pem, "token_uri": "https://oauth2.googleapis.com/token"})
            .to_string()
            .as_bytes(),
        )
        .unwrap();
        PlayApiSettings {
            app_id: "app".into(),
            package_name: "app".into(),
            token_uri: key.token_uri.clone(),
            key,
            api_base: crate::settings::DEFAULT_API_BASE.into(),
            request_timeout: Duration::from_secs(1),
            retry_base: Duration::from_secs(1),
            retry_max: Duration::from_secs(1),
            max_attempts: 1,
            daily_budget: 1,
            acknowledge,
            consumable_products: consumables.iter().map(|c| c.to_string()).collect(),
        }
    }

    fn rsa_pem() -> String {
        use rsa::pkcs8::EncodePrivateKey;
        rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 1024)
            .unwrap()
            .to_pkcs8_pem(rsa::pkcs8::LineEnding::LF)
            .unwrap()
            .to_string()
    }

    fn purchase(product: &str, kind: Option<PurchaseKind>) -> Purchase {
        Purchase {
            store: Store::GooglePlay,
            environment: Environment::Production,
            product_id: product.into(),
            transaction_key: "GPA.1".into(),
            transaction_id: "GPA.1".into(),
            original_transaction_id: None,
            quantity: 1,
            purchased_at: 1_000,
            account_token: None,
            kind,
            expires_at: None,
            purchase_token: Some("tok".into()),
        }
    }

    #[test]
    fn listed_consumables_are_consumed_and_nothing_else_is() {
        let s = api(&["coins"], true);
        let ack = |p: &Purchase| ack_for(&s, p, "jti").map(|a| a.action);
        assert_eq!(ack(&purchase("coins", None)), Some(AckAction::Consume));
        assert_eq!(ack(&purchase("sword", None)), Some(AckAction::Acknowledge));
        assert_eq!(
            ack(&purchase("coins", Some(PurchaseKind::Subscription))),
            Some(AckAction::AcknowledgeSubscription)
        );
        let full = ack_for(&s, &purchase("coins", None), "jti").unwrap();
        assert_eq!(
            (
                full.id.as_str(),
                full.purchase_token.as_str(),
                full.purchased_ms
            ),
            ("jti", "tok", 1_000)
        );
        let mut other_store = purchase("coins", None);
        other_store.store = Store::AppStore;
        assert_eq!(ack(&other_store), None);
        let mut no_token = purchase("coins", None);
        no_token.purchase_token = None;
        assert_eq!(ack(&no_token), None);
        assert_eq!(
            ack_for(&api(&["coins"], false), &purchase("coins", None), "j"),
            None
        );
    }
}
