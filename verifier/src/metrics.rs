//! Prometheus metrics: requests by route, status, outcome and reason; latency by route;
//! webhook attempts by result (`payseal_webhook_deliveries_total{result="delivered|retried|failed"}`)
//! and the outbox's pending deliveries (`payseal_webhook_outbox_pending`); connections:
//! `payseal_connections_open`, `payseal_connections_accepted_total`,
//! `payseal_connections_refused_total{reason="per_ip|capacity"}`,
//! `payseal_connections_shed_total` (idle ones closed to admit a new one) and
//! `payseal_connections_timed_out_total{phase="handshake|idle"}`; store server notifications:
//! `payseal_store_notifications_total{store,type,result}` (`type`: the store's notification
//! type, `unknown` when it could not be read from verified data, `other` for a type the
//! verifier does not know; `result`: what recording it came to — `recorded`, `revoked`,
//! `already_revoked`, `revoked_before_redemption`, `reinstated`, `not_reinstated`,
//! `duplicate` — or why it was refused — `malformed`, `bad_signature`, `untrusted_chain`,
//! `unknown_app`, `wrong_app`, `untrusted_environment`, `too_large`, `ledger_unavailable`;
//! Google Play and Huawei use their own words, see docs/src/store-notifications.md) and
//! `payseal_google_voided_polls_total{result="ok|error"}` (Google Play Voided Purchases polls),
//! `payseal_store_outbound_calls_total{store,result="called|deduplicated|rate_limited"}` (calls to
//! a store server caused by unsigned notifications: Huawei's Order service);
//! Google Play acknowledgements: `payseal_google_play_acks_total{action,result="done|retried|failed"}`,
//! `payseal_google_play_acks_pending` and `payseal_google_play_ack_oldest_pending_age_seconds`
//! (the age of the oldest pending one's purchase: Google refunds at 3 days).

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// Labels of `payseal_requests_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RequestLabels {
    /// Route template, e.g. `/v1/verify`.
    pub route: &'static str,
    /// HTTP status code.
    pub status: u16,
    /// `paid`, `not_paid`, or `none` when no verdict was sent.
    pub outcome: &'static str,
    /// Verdict reason, or the error class when no verdict was sent, or `none`.
    pub reason: &'static str,
}

/// Labels of `payseal_request_duration_seconds`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RouteLabels {
    /// Route template.
    pub route: &'static str,
}

/// Labels of `payseal_webhook_deliveries_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct WebhookLabels {
    /// `delivered`, `retried` or `failed`.
    pub result: &'static str,
}

/// Labels of `payseal_connections_refused_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RefusedLabels {
    /// `per_ip` or `capacity`.
    pub reason: &'static str,
}

/// Labels of `payseal_connections_timed_out_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct TimeoutLabels {
    /// `handshake` or `idle`.
    pub phase: &'static str,
}

/// Labels of `payseal_google_voided_polls_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct PollLabels {
    /// `ok` or `error`.
    pub result: &'static str,
}

/// Labels of `payseal_store_notifications_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct NotificationLabels {
    /// `app_store`, `google_play`, ...
    pub store: &'static str,
    /// The store's notification type (`REFUND`, ...), `unknown` or `other`.
    pub r#type: &'static str,
    /// The result, or why it was refused.
    pub result: &'static str,
}

/// Labels of `payseal_store_outbound_calls_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct OutboundLabels {
    /// `huawei`.
    pub store: &'static str,
    /// `called`, `deduplicated` or `rate_limited`.
    pub result: &'static str,
}

/// Labels of `payseal_refund_answers_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RefundLabels {
    /// `app_store`, `google_play`.
    pub store: &'static str,
    /// `answered`, `skipped`, `retried` or `expired`.
    pub result: &'static str,
}

/// Labels of `payseal_google_play_acks_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct AckLabels {
    /// `acknowledge`, `consume` or `acknowledge_subscription`.
    pub action: &'static str,
    /// `done`, `retried` or `failed`.
    pub result: &'static str,
}

fn latency_histogram() -> Histogram {
    // 100 µs … ~3.3 s
    Histogram::new(exponential_buckets(0.0001, 2.0, 16))
}

/// The verifier's metrics registry.
pub(crate) struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram, fn() -> Histogram>,
    webhooks: Family<WebhookLabels, Counter>,
    outbox_pending: Gauge,
    conns_open: Gauge,
    conns_accepted: Counter,
    conns_refused: Family<RefusedLabels, Counter>,
    conns_shed: Counter,
    conns_timed_out: Family<TimeoutLabels, Counter>,
    notifications: Family<NotificationLabels, Counter>,
    voided_polls: Family<PollLabels, Counter>,
    outbound_calls: Family<OutboundLabels, Counter>,
    refund_answers: Family<RefundLabels, Counter>,
    refunds_near_deadline: Gauge,
    acks: Family<AckLabels, Counter>,
    acks_pending: Gauge,
    ack_oldest_age: Gauge,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// A fresh registry with the verifier's metrics.
    pub(crate) fn new() -> Arc<Self> {
        let mut registry = Registry::with_prefix("payseal");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency: Family<RouteLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(latency_histogram);
        registry.register(
            "requests",
            "HTTP requests by route, status, verdict outcome and reason",
            requests.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "HTTP request latency by route",
            latency.clone(),
        );
        let webhooks = Family::<WebhookLabels, Counter>::default();
        let outbox_pending = Gauge::default();
        registry.register(
            "webhook_deliveries",
            "Webhook delivery attempts by result (delivered, retried, failed)",
            webhooks.clone(),
        );
        registry.register(
            "webhook_outbox_pending",
            "Webhook deliveries waiting in the outbox (as of the worker's last poll)",
            outbox_pending.clone(),
        );
        // Every result appears from the start (at 0).
        for result in ["delivered", "retried", "failed"] {
            let _ = webhooks.get_or_create(&WebhookLabels { result });
        }
        let conns_open = Gauge::default();
        let conns_accepted = Counter::default();
        let conns_refused = Family::<RefusedLabels, Counter>::default();
        let conns_shed = Counter::default();
        let conns_timed_out = Family::<TimeoutLabels, Counter>::default();
        registry.register(
            "connections_open",
            "Client connections open, counted against max_connections (handshaking included; shed ones excluded)",
            conns_open.clone(),
        );
        registry.register(
            "connections_accepted",
            "Client connections admitted",
            conns_accepted.clone(),
        );
        registry.register(
            "connections_refused",
            "Client connections refused on accept (per_ip: the source's cap; capacity: full and none idle)",
            conns_refused.clone(),
        );
        registry.register(
            "connections_shed",
            "Idle connections closed to make room for new ones",
            conns_shed.clone(),
        );
        registry.register(
            "connections_timed_out",
            "Connections closed by a timeout (handshake, or idle with no request in progress)",
            conns_timed_out.clone(),
        );
        for reason in ["per_ip", "capacity"] {
            let _ = conns_refused.get_or_create(&RefusedLabels { reason });
        }
        for phase in ["handshake", "idle"] {
            let _ = conns_timed_out.get_or_create(&TimeoutLabels { phase });
        }
        let notifications = Family::<NotificationLabels, Counter>::default();
        registry.register(
            "store_notifications",
            "Store server notifications received, by store, type and result",
            notifications.clone(),
        );
        let voided_polls = Family::<PollLabels, Counter>::default();
        registry.register(
            "google_voided_polls",
            "Google Play Voided Purchases API polls, by result (ok, error)",
            voided_polls.clone(),
        );
        for result in ["ok", "error"] {
            let _ = voided_polls.get_or_create(&PollLabels { result });
        }
        let outbound_calls = Family::<OutboundLabels, Counter>::default();
        registry.register(
            "store_outbound_calls",
            "Calls to a store's server caused by unsigned inbound notifications, by store and \
             result (called; deduplicated: answered by the same token's call; rate_limited: over \
             the per-minute bound, not made)",
            outbound_calls.clone(),
        );
        let refund_answers = Family::<RefundLabels, Counter>::default();
        registry.register(
            "refund_answers",
            "Answers to the stores' refund requests, by store and result (answered: the store \
             accepted it; skipped: nothing to send (no policy answer, no consent); retried; \
             expired: the deadline passed unanswered)",
            refund_answers.clone(),
        );
        for result in ["answered", "skipped", "retried", "expired"] {
            let _ = refund_answers.get_or_create(&RefundLabels {
                store: "app_store",
                result,
            });
        }
        let refunds_near_deadline = Gauge::default();
        registry.register(
            "refund_requests_near_deadline",
            "Refund requests still unanswered with less than 2 hours to their store's deadline",
            refunds_near_deadline.clone(),
        );
        let acks = Family::<AckLabels, Counter>::default();
        registry.register(
            "google_play_acks",
            "Google Play acknowledge/consume attempts after first redemptions, by action and \
             result (done, retried, failed)",
            acks.clone(),
        );
        for action in ["acknowledge", "consume", "acknowledge_subscription"] {
            for result in ["done", "retried", "failed"] {
                let _ = acks.get_or_create(&AckLabels { action, result });
            }
        }
        let acks_pending = Gauge::default();
        registry.register(
            "google_play_acks_pending",
            "Google Play acknowledgements not done yet",
            acks_pending.clone(),
        );
        let ack_oldest_age = Gauge::default();
        registry.register(
            "google_play_ack_oldest_pending_age_seconds",
            "Seconds since the purchase of the oldest pending Google Play acknowledgement \
             (Google refunds a purchase not acknowledged within 3 days); 0 when none is pending",
            ack_oldest_age.clone(),
        );
        Arc::new(Self {
            refund_answers,
            refunds_near_deadline,
            acks,
            acks_pending,
            ack_oldest_age,
            notifications,
            voided_polls,
            outbound_calls,
            registry,
            requests,
            latency,
            webhooks,
            outbox_pending,
            conns_open,
            conns_accepted,
            conns_refused,
            conns_shed,
            conns_timed_out,
        })
    }

    /// Count one request and its latency.
    pub(crate) fn observe(&self, labels: RequestLabels, seconds: f64) {
        self.latency
            .get_or_create(&RouteLabels {
                route: labels.route,
            })
            .observe(seconds);
        self.requests.get_or_create(&labels).inc();
    }

    /// Count one webhook attempt: `delivered`, `retried` or `failed`.
    pub(crate) fn webhook_attempt(&self, result: &'static str) {
        self.webhooks.get_or_create(&WebhookLabels { result }).inc();
    }

    /// Count one Google Play acknowledgement attempt.
    pub(crate) fn google_play_ack(&self, action: &'static str, result: &'static str) {
        self.acks.get_or_create(&AckLabels { action, result }).inc();
    }

    /// Set the pending Google Play acknowledgements and their oldest purchase's age.
    pub(crate) fn set_acks_pending(&self, n: u64, oldest_age_s: i64) {
        self.acks_pending.set(i64::try_from(n).unwrap_or(i64::MAX));
        self.ack_oldest_age.set(oldest_age_s.max(0));
    }

    /// Set the outbox's pending count.
    pub(crate) fn set_outbox_pending(&self, n: u64) {
        self.outbox_pending
            .set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    /// A connection was admitted; `open` are counted against the cap now.
    pub(crate) fn connection_opened(&self, open: usize) {
        self.conns_accepted.inc();
        self.set_connections_open(open);
    }

    /// Connections counted against the cap now.
    pub(crate) fn set_connections_open(&self, open: usize) {
        self.conns_open.set(i64::try_from(open).unwrap_or(i64::MAX));
    }

    /// A connection was refused on accept: `per_ip` or `capacity`.
    pub(crate) fn connection_refused(&self, reason: &'static str) {
        self.conns_refused
            .get_or_create(&RefusedLabels { reason })
            .inc();
    }

    /// An idle connection was shed.
    pub(crate) fn connection_shed(&self) {
        self.conns_shed.inc();
    }

    /// A connection timed out: `handshake` or `idle`.
    pub(crate) fn connection_timed_out(&self, phase: &'static str) {
        self.conns_timed_out
            .get_or_create(&TimeoutLabels { phase })
            .inc();
    }

    /// Count one store notification.
    pub(crate) fn store_notification(
        &self,
        store: &'static str,
        r#type: &'static str,
        result: &'static str,
    ) {
        self.notifications
            .get_or_create(&NotificationLabels {
                store,
                r#type,
                result,
            })
            .inc();
    }

    /// Count one outbound call decision of `store` (`called`, `deduplicated`, `rate_limited`).
    pub(crate) fn store_outbound_call(&self, store: &'static str, result: &'static str) {
        self.outbound_calls
            .get_or_create(&OutboundLabels { store, result })
            .inc();
    }

    /// Count one Voided Purchases API poll: `ok` or `error`.
    pub(crate) fn google_voided_poll(&self, result: &'static str) {
        self.voided_polls
            .get_or_create(&PollLabels { result })
            .inc();
    }

    /// Count one refund answer attempt's result.
    pub(crate) fn refund_answer(&self, store: &'static str, result: &'static str) {
        self.refund_answers
            .get_or_create(&RefundLabels { store, result })
            .inc();
    }

    /// Set the number of unanswered refund requests near their deadline.
    pub(crate) fn set_refunds_near_deadline(&self, n: usize) {
        self.refunds_near_deadline
            .set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    /// The OpenMetrics text exposition.
    pub(crate) fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
