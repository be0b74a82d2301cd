//! The app-server API's reports (authenticated by [`super::app_auth::AuthenticatedApp`]):
//! `POST /v1/app-server/deliveries` (a purchase delivered, and/or how much of it was consumed)
//! and `POST /v1/app-server/consent` (an account's consent to share its consumption data with
//! the store), and `GET /v1/app-server/refund-history` (an account's refunds by store over the
//! last days). Bodies and answers: `payseal_protocol::app_server`.
//!
//! The app is always the authenticated one: a report about a purchase this app never redeemed
//! (another app's included) is `404 not_found` and changes nothing; one naming another account
//! than the purchase's owner is `409 wrong_account`. What is kept is the ledger's evidence when
//! a store asks about a refund (`payseal_ledger::consumption`).

use axum::extract::rejection::JsonRejection;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use payseal_protocol::app_server::{
    ConsentBody, DeliveryReportBody, RefundHistoryAnswer, ReportAnswer, ReportResult,
    MAX_HISTORY_DAYS,
};
use payseal_protocol::time::now_ms;

use super::app_auth::AuthenticatedApp;
use super::problem::Problem;
use super::AppState;
use crate::ledger::consumption::{DeliveryReport, ReportOutcome};
use crate::ledger::LedgerError;

/// The answer's status and body for a ledger outcome.
fn answer(outcome: ReportOutcome) -> Response {
    let (status, result) = match outcome {
        ReportOutcome::Recorded => (StatusCode::OK, ReportResult::Recorded),
        ReportOutcome::NotFound => (StatusCode::NOT_FOUND, ReportResult::NotFound),
        ReportOutcome::NotRedeemed => (StatusCode::CONFLICT, ReportResult::NotRedeemed),
        ReportOutcome::WrongAccount => (StatusCode::CONFLICT, ReportResult::WrongAccount),
        ReportOutcome::BadConsumption => (StatusCode::UNPROCESSABLE_ENTITY, ReportResult::Invalid),
    };
    (status, Json(ReportAnswer { result })).into_response()
}

fn invalid() -> Response {
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        Json(ReportAnswer {
            result: ReportResult::Invalid,
        }),
    )
        .into_response()
}

fn bad_body(rejection: &JsonRejection) -> Response {
    tracing::debug!(error = %rejection.body_text(), "app-server API: bad body");
    Problem::new(StatusCode::BAD_REQUEST, "Bad request", "body")
        .detail("the body is not the documented JSON (payseal_protocol::app_server)")
        .into_response()
}

fn ledger_down(e: &LedgerError) -> Response {
    tracing::error!(error = %e, "app-server API: ledger unavailable");
    Problem::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "Service unavailable",
        "ledger",
    )
    .retry_after(1)
    .into_response()
}

/// `POST /v1/app-server/deliveries`.
pub(super) async fn deliveries(
    State(state): State<AppState>,
    app: AuthenticatedApp,
    body: Result<Json<DeliveryReportBody>, JsonRejection>,
) -> Response {
    let body = match body {
        Ok(Json(b)) => b,
        Err(r) => return bad_body(&r),
    };
    if body.transaction_id.trim().is_empty() || body.account.is_empty() {
        return invalid();
    }
    let report = DeliveryReport {
        store: body.store,
        app_id: app.0,
        transaction_key: body.transaction_id,
        account_id: body.account,
        delivered: body.delivered,
        consumed_milliunits: body.consumed_milliunits,
        usage_events: body.usage_events,
        now_ms: now_ms(),
    };
    match state.verifier.ledger().report_delivery(report).await {
        Ok(outcome) => answer(outcome),
        Err(e) => ledger_down(&e),
    }
}

/// `POST /v1/app-server/consent`.
pub(super) async fn consent(
    State(state): State<AppState>,
    app: AuthenticatedApp,
    body: Result<Json<ConsentBody>, JsonRejection>,
) -> Response {
    let body = match body {
        Ok(Json(b)) => b,
        Err(r) => return bad_body(&r),
    };
    if body.account.is_empty() {
        return invalid();
    }
    match state
        .verifier
        .ledger()
        .set_consent(app.id(), &body.account, body.consented, now_ms())
        .await
    {
        Ok(()) => answer(ReportOutcome::Recorded),
        Err(e) => ledger_down(&e),
    }
}

/// The query of `GET /v1/app-server/refund-history`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct HistoryQuery {
    account: String,
    days: Option<u32>,
}

/// `GET /v1/app-server/refund-history?account=ID&days=N` (default 90 days, at most 3650).
pub(super) async fn refund_history(
    State(state): State<AppState>,
    app: AuthenticatedApp,
    query: Result<Query<HistoryQuery>, QueryRejection>,
) -> Response {
    let Ok(Query(q)) = query else {
        return Problem::new(StatusCode::BAD_REQUEST, "Bad request", "query")
            .detail("expected ?account=ID&days=N")
            .into_response();
    };
    let days = q.days.unwrap_or(90);
    if q.account.is_empty() || !(1..=MAX_HISTORY_DAYS).contains(&days) {
        return invalid();
    }
    let since_ms = now_ms() - i64::from(days) * 86_400_000;
    match state
        .verifier
        .ledger()
        .refund_history(app.id(), &q.account, since_ms)
        .await
    {
        Ok(h) => Json(RefundHistoryAnswer {
            account: q.account,
            days,
            total: h.total(),
            refunds: h
                .by_store
                .iter()
                .map(|(s, n)| (s.as_str().to_string(), *n))
                .collect(),
        })
        .into_response(),
        Err(e) => ledger_down(&e),
    }
}
