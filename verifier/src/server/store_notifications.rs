//! The stores' server notification routes: `POST /v1/stores/app-store/notifications` (App Store
//! Server Notifications V2).
//!
//! The answer is what the stores' retry rules need (they retry anything but a `2xx`):
//! - `200` `{"result": "...", "duplicate": false}`: verified, recorded and applied; the same
//!   notification again is `200` with `"duplicate": true` and the first result, changing nothing;
//! - `400` (`malformed`: not the store's body shape, a payload that does not parse, a missing
//!   transaction), `403` (`bad_signature`, `untrusted_chain`), `422` (`unknown_app`, `wrong_app`,
//!   `untrusted_environment`): refused, nothing recorded (a store's retries then get the same
//!   answer, until the configuration names the app);
//! - `413` for a body over [`MAX_NOTIFICATION_BYTES`];
//! - `503` + `Retry-After` when the ledger cannot record it: the store retries later.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use payseal_protocol::{Reason, Store};

use super::problem::{Problem, Tag};
use super::AppState;
use crate::notifications::{self, Refused, Verified};
use crate::service::now_ms;

/// Largest notification body accepted (an App Store notification with transaction and renewal
/// info, each with its `x5c` chain, is about 20 KiB), whatever `max_body_bytes` says.
pub const MAX_NOTIFICATION_BYTES: usize = 256 * 1024;

/// `POST /v1/stores/app-store/notifications`.
pub(super) async fn app_store(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(b) => b,
        Err(rejection) => return body_problem(&state, Store::AppStore, rejection),
    };
    let now = now_ms();
    let settings = state.verifier.settings();
    let verified = notifications::app_store::verify(&body, &settings.apps, &settings.anchors, now);
    answer(&state, Store::AppStore, verified, now).await
}

fn body_problem(state: &AppState, store: Store, rejection: BytesRejection) -> Response {
    let too_large = rejection.status() == StatusCode::PAYLOAD_TOO_LARGE;
    state.metrics.store_notification(
        store.as_str(),
        notifications::UNKNOWN_TYPE,
        if too_large { "too_large" } else { "malformed" },
    );
    if too_large {
        Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Request too large",
            "too_large",
        )
        .into_response()
    } else {
        Problem::new(StatusCode::BAD_REQUEST, "Bad request", "body").into_response()
    }
}

/// Record a verified notification (or refuse it) and answer the store.
async fn answer(
    state: &AppState,
    store: Store,
    verified: Result<Verified, Refused>,
    received_ms: i64,
) -> Response {
    let n = match verified {
        Ok(n) => n,
        Err(refused) => {
            state.metrics.store_notification(
                store.as_str(),
                refused.type_label,
                refused.reason.as_str(),
            );
            tracing::warn!(
                store = store.as_str(),
                r#type = refused.type_label,
                reason = refused.reason.as_str(),
                detail = %refused.detail,
                "store notification refused"
            );
            return refusal(refused.reason);
        }
    };
    let settings = state.verifier.settings();
    match notifications::record(settings, state.verifier.ledger().as_ref(), &n, received_ms).await {
        Ok(recorded) => {
            let result = if recorded.duplicate {
                "duplicate"
            } else {
                recorded.result.as_str()
            };
            state
                .metrics
                .store_notification(store.as_str(), n.type_label, result);
            tracing::info!(
                store = store.as_str(),
                r#type = %n.notification_type,
                id = %n.notification_id,
                app = recorded.app_id.as_deref().unwrap_or(""),
                transaction = recorded.transaction_key.as_deref().unwrap_or(""),
                result = recorded.result.as_str(),
                duplicate = recorded.duplicate,
                "store notification"
            );
            let body = serde_json::json!({
                "result": recorded.result.as_str(),
                "duplicate": recorded.duplicate,
            });
            let mut response = (
                StatusCode::OK,
                [
                    (
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("application/json"),
                    ),
                    (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
                ],
                body.to_string(),
            )
                .into_response();
            response.extensions_mut().insert(Tag {
                outcome: "none",
                reason: result,
            });
            response
        }
        Err(e) => {
            state
                .metrics
                .store_notification(store.as_str(), n.type_label, "ledger_unavailable");
            tracing::error!(error = %e, store = store.as_str(), "ledger unavailable for a store notification");
            Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "Service unavailable",
                "ledger",
            )
            .detail("the ledger is unavailable; the notification was not recorded, retry later")
            .retry_after(1)
            .into_response()
        }
    }
}

/// The `4xx` of a refused notification.
fn refusal(reason: Reason) -> Response {
    let (status, title, detail) = match reason {
        Reason::BadSignature | Reason::UntrustedChain => (
            StatusCode::FORBIDDEN,
            "Signature refused",
            "the notification is not signed by a trusted store chain",
        ),
        Reason::UnknownApp => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "Unknown app",
            "no configured app matches the notification",
        ),
        Reason::WrongApp => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "Wrong app",
            "the signed transaction belongs to another app than the notification",
        ),
        Reason::UntrustedEnvironment => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "Environment not accepted",
            "the notification's environment is not one the app accepts",
        ),
        _ => (
            StatusCode::BAD_REQUEST,
            "Bad request",
            "not a store notification this verifier can read",
        ),
    };
    Problem::new(status, title, reason.as_str())
        .detail(detail)
        .into_response()
}
