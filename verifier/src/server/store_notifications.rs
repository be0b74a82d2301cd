//! The store notification routes: `POST /v1/stores/google-play/rtdn` (Google Play real-time
//! developer notifications by Pub/Sub push; served only when `[google_play.rtdn]` is
//! configured) and `POST /v1/stores/huawei/notifications` (Huawei IAP server notifications v2;
//! served when an app has `[apps."ID".huawei.notifications]`). The decisions are
//! [`crate::notifications::google_play::RtdnEndpoint::handle`] and
//! [`crate::notifications::huawei::HuaweiEndpoint::handle`]; this maps their answers to HTTP
//! and counts them in `payseal_store_notifications_total`.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::problem::Problem;
use super::AppState;
use crate::notifications::STORE_GOOGLE_PLAY;

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
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            state
                .metrics
                .store_notification(STORE_GOOGLE_PLAY, "unknown", "malformed");
            return Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Request too large",
                "too_large",
            )
            .into_response();
        }
        Err(_) => {
            return Problem::new(StatusCode::BAD_REQUEST, "Bad request", "body").into_response();
        }
    };
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let answer = endpoint
        .handle(
            state.verifier.settings(),
            state.verifier.ledger().as_ref(),
            authorization,
            &body,
            crate::service::now_ms(),
        )
        .await;
    state
        .metrics
        .store_notification(STORE_GOOGLE_PLAY, answer.kind, answer.result);
    match answer.status {
        200 => json_result(answer.result),
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
    let Ok(body) = body else {
        state
            .metrics
            .store_notification(STORE_LABEL, "unknown", "malformed");
        return Problem::new(StatusCode::BAD_REQUEST, "Bad request", "body").into_response();
    };
    let answer = endpoint
        .handle(
            state.verifier.settings(),
            state.verifier.ledger().as_ref(),
            &body,
            crate::service::now_ms(),
        )
        .await;
    state
        .metrics
        .store_notification(STORE_LABEL, answer.kind, answer.result);
    match answer.status {
        200 => json_result(answer.result),
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

/// `200` with `{"result": …}`.
fn json_result(result: &str) -> Response {
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        serde_json::json!({ "result": result }).to_string(),
    )
        .into_response()
}
