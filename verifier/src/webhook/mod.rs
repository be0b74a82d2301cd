//! Signed webhooks from the verifier to the app's server, through a persistent outbox.
//!
//! For each `paid / first` verdict of an app with `[apps."ID".webhook]`, the service enqueues a
//! `purchase.paid` event in the ledger's outbox **in the same transaction as the redemption**
//! ([`crate::ledger::Redemptions::redeem_and_notify`]); a revocation enqueues
//! `purchase.revoked` in the same transaction as the revocation, and a store's reversed refund
//! (`crate::notifications`) `purchase.reinstated` in the same transaction as the
//! reinstatement. So no event is lost when the verifier crashes: a committed redemption always has its outbox row. The rows are stored by
//! the ledger backend behind [`outbox::Outbox`].
//!
//! The delivery worker (`webhook/worker.rs`, started by [`crate::server::Server::run`]) polls due rows (on PostgreSQL several instances share the work: rows are
//! claimed with `FOR UPDATE SKIP LOCKED` and leased), signs each body
//! ([`signing::signature_header`]: `PaySeal-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret,
//! "<t>.<body>")>`) and POSTs it, retrying with exponential backoff and jitter until a `2xx`
//! or the app's give-up age, then marks it failed (`payseal-verifier webhooks list --failed`,
//! `retry`). Delivery is at least once: receivers deduplicate by the event `id`
//! ([`receiver::verify_webhook`] is the receiver's check). The event format, the signature and
//! the receiver's check live in [`payseal_protocol::webhook`].

use std::time::Duration;

use payseal_protocol::VerdictClaims;
use serde::Serialize;

use outbox::NewDelivery;

/// The webhook outbox's rows and trait (`payseal_ledger::outbox`).
pub use payseal_ledger::outbox;
pub(crate) mod receiver;
pub mod signing;
pub(crate) mod worker;

pub use payseal_protocol::webhook::{
    Event, EventKind, ReinstatedData, RevokedData, PURCHASE_REINSTATED,
};
pub use receiver::{
    verify_webhook, WebhookError, WebhookEvent, DEFAULT_TOLERANCE, PURCHASE_PAID, PURCHASE_REVOKED,
};

/// Default give-up age of a delivery (`give_up_after_hours`).
pub const DEFAULT_GIVE_UP_AFTER: Duration = Duration::from_secs(72 * 3600);

/// Shortest accepted webhook secret, in bytes.
pub const MIN_SECRET_BYTES: usize = 16;

pub use crate::settings::{WebhookSecret, WebhookSettings, WorkerSettings};

/// Why an event body could not be made (a serialization bug, not an input problem).
#[derive(Debug, thiserror::Error)]
#[error("webhook event does not serialize: {0}")]
pub struct EventError(String);

fn event<T: Serialize>(
    id: &str,
    event_type: &str,
    app: &str,
    created_ms: i64,
    data: T,
) -> Result<NewDelivery, EventError> {
    let body = Event {
        id: id.to_string(),
        event_type: event_type.to_string(),
        created: created_ms.div_euclid(1000),
        app: app.to_string(),
        data,
    }
    .to_body()
    .map_err(|e| EventError(e.to_string()))?;
    Ok(NewDelivery {
        id: id.to_string(),
        app_id: app.to_string(),
        event_type: event_type.to_string(),
        body,
        created_ms,
    })
}

/// The `purchase.transferred` delivery of moving the purchase of `claims` (the restore's
/// verdict, for the new account) away from `from` (a fresh random id).
pub fn transferred_event(
    claims: &VerdictClaims,
    transaction_key: &str,
    from: &str,
    created_ms: i64,
) -> Result<NewDelivery, EventError> {
    let data = payseal_protocol::webhook::TransferredData {
        store: claims.store,
        app: &claims.app,
        transaction_id: transaction_key,
        product_id: claims.product_id.as_deref().unwrap_or_default(),
        from,
        to: &claims.sub,
        verdict_id: &claims.jti,
        transferred_at: created_ms.div_euclid(1000),
    };
    let id = uuid::Uuid::new_v4().to_string();
    event(
        &id,
        payseal_protocol::webhook::PURCHASE_TRANSFERRED,
        &claims.app,
        created_ms,
        data,
    )
}

/// The `purchase.paid` delivery of a `paid / first` verdict: `id` = the verdict `jti`, `data` =
/// the verdict claims.
pub fn paid_event(claims: &VerdictClaims, created_ms: i64) -> Result<NewDelivery, EventError> {
    event(&claims.jti, PURCHASE_PAID, &claims.app, created_ms, claims)
}
