//! `GET /v1/app-server/entitlements?account=ID&nonce=N`: an application server reads an
//! account's signed entitlements document directly, authenticated as its app
//! ([`super::app_auth::AuthenticatedApp`]: only its own app's accounts). The nonce (the
//! request's wire rule) binds the answer to this request; the document is the SDK's, signed with
//! the verdict keys.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use payseal_protocol::entitlements::AppServerEntitlements;
use payseal_protocol::request::{validate_account_id, validate_nonce};
use payseal_protocol::time::now_ms;
use serde::Deserialize;

use super::app_auth::AuthenticatedApp;
use super::problem::Problem;
use super::AppState;

/// The query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct EntitlementsQuery {
    account: String,
    nonce: String,
}

/// `GET /v1/app-server/entitlements`.
pub(super) async fn get(
    State(state): State<AppState>,
    app: AuthenticatedApp,
    query: Result<Query<EntitlementsQuery>, QueryRejection>,
) -> Response {
    let Ok(Query(q)) = query else {
        return bad("expected ?account=ID&nonce=NONCE");
    };
    if let Err(e) = validate_account_id(&q.account).and_then(|()| validate_nonce(&q.nonce)) {
        return bad(e.as_str());
    }
    match state
        .verifier
        .entitlements_document(app.id(), &q.account, &q.nonce, now_ms())
        .await
    {
        Ok(token) => (
            [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
            Json(AppServerEntitlements {
                entitlements: token,
            }),
        )
            .into_response(),
        Err(e) => super::service_problem(e),
    }
}

fn bad(why: &'static str) -> Response {
    Problem::new(StatusCode::BAD_REQUEST, "Bad request", "request")
        .detail(why)
        .into_response()
}
