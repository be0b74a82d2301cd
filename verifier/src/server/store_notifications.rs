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
//!
//! And `POST /v1/stores/google-play/rtdn` (Google Play real-time developer notifications by
//! Pub/Sub push; served only when `[google_play.rtdn]` is configured) and `POST
//! /v1/stores/huawei/notifications` (Huawei IAP server notifications v2; served when an app has
//! `[apps."ID".huawei.notifications]`): their decisions are
//! [`crate::notifications::google_play::RtdnEndpoint::handle`] and
//! [`crate::notifications::huawei::HuaweiEndpoint::handle`], mapped to HTTP here (answers in the
//! book, docs/src/store-notifications.md) and counted in `payseal_store_notifications_total`.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use payseal_protocol::{Reason, Store};

use super::problem::{Problem, Tag};
use super::AppState;
use crate::notifications::STORE_GOOGLE_PLAY;
use crate::notifications::{self, Refused, Verified};
use payseal_protocol::time::now_ms;

/// Largest notification body accepted (an App Store notification with transaction and renewal
/// info, each with its `x5c` chain, is about 20 KiB), whatever `max_body_bytes` says.
pub(crate) const MAX_NOTIFICATION_BYTES: usize = 256 * 1024;

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

/// `POST /v1/stores/google-play/rtdn`.
pub(super) async fn google_play_rtdn(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let Some(endpoint) = state.rtdn.as_ref() else {
        return Problem::new(StatusCode::NOT_FOUND, "Not found", "not_found").into_response();
    };
    let body = match body {
        Ok(b) => b,
        Err(rejection) => return body_problem(&state, Store::GooglePlay, rejection),
    };
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let answer = endpoint
        .handle(
            state.verifier.settings(),
            state.verifier.ledger().as_ref(),
            state.verifier.play_apis(),
            authorization,
            &body,
            payseal_protocol::time::now_ms(),
        )
        .await;
    state
        .metrics
        .store_notification(STORE_GOOGLE_PLAY, answer.kind, answer.label());
    match answer.status {
        200 => json_result(&answer),
        401 => {
            let mut r = Problem::new(StatusCode::UNAUTHORIZED, "Unauthorized", "unauthorized")
                .detail("a Google-signed Pub/Sub push token is required")
                .into_response();
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer error=\"invalid_token\""),
            );
            r
        }
        403 => Problem::new(StatusCode::FORBIDDEN, "Forbidden", "forbidden")
            .detail("the push token is not for this endpoint's audience and service account")
            .into_response(),
        400 => Problem::new(StatusCode::BAD_REQUEST, "Bad request", "malformed")
            .detail("not a Pub/Sub push of a Google Play developer notification")
            .into_response(),
        _ => Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "Service unavailable",
            "ledger",
        )
        .detail("the redemption ledger is unavailable; retry later")
        .retry_after(1)
        .into_response(),
    }
}

/// `POST /v1/stores/huawei/notifications`.
pub(super) async fn huawei(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    use crate::notifications::huawei::STORE_LABEL;
    let Some(endpoint) = state.huawei.as_ref() else {
        return Problem::new(StatusCode::NOT_FOUND, "Not found", "not_found").into_response();
    };
    let body = match body {
        Ok(b) => b,
        Err(rejection) => return body_problem(&state, Store::Huawei, rejection),
    };
    let answer = endpoint
        .handle(
            state.verifier.settings(),
            state.verifier.ledger().as_ref(),
            &body,
            payseal_protocol::time::now_ms(),
        )
        .await;
    state
        .metrics
        .store_notification(STORE_LABEL, answer.kind, answer.label());
    if let Some(outbound) = answer.outbound {
        state.metrics.store_outbound_call(STORE_LABEL, outbound);
    }
    match answer.status {
        200 => json_result(&answer),
        400 => Problem::new(StatusCode::BAD_REQUEST, "Bad request", "malformed")
            .detail("not a Huawei IAP server notification (version 2)")
            .into_response(),
        _ => Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "Service unavailable",
            "upstream",
        )
        .detail("the notification cannot be handled now; retry later")
        .retry_after(1)
        .into_response(),
    }
}

/// `200` with `{"result": …, "duplicate": …}`.
fn json_result(answer: &notifications::StoreAnswer) -> Response {
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        serde_json::json!({ "result": answer.result, "duplicate": answer.duplicate }).to_string(),
    )
        .into_response()
}
