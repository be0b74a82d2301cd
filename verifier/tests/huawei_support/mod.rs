//! A local "Huawei" for the Huawei notification tests, shaped like Huawei's servers: the OAuth
//! 2.0 client-credentials token endpoint (checks the app id and secret) and the Order service
//! `POST /applications/purchases/tokens/verify` (requires `Basic base64("APPAT:" + token)`,
//! answers with purchase data signed by the sandbox store in Huawei's format). It counts the
//! calls and how many were in flight together, and can hold each Order call a while (so that
//! concurrent notifications overlap).
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing;
use axum::{Form, Json, Router};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use payseal_protocol::{Receipt, Store};
use payseal_sandbox::{Order, PurchaseState, SandboxStore};
use serde_json::{json, Value};

use crate::common::{StateDir, TestServer, APP};

/// The AppGallery app id (OAuth client id) configured for the dev app.
pub const CLIENT_ID: &str = "107123456";
/// Its app secret.
pub const CLIENT_SECRET: &str = "huawei-app-secret-0123456789";
/// The notification route.
pub const PATH: &str = "/v1/stores/huawei/notifications";

/// What the fake knows and saw.
#[derive(Default)]
pub struct Huawei {
    /// purchaseToken → the signed purchase data the Order service answers with.
    pub orders: HashMap<String, Receipt>,
    /// Access tokens issued.
    pub issued: Vec<String>,
    /// Token requests received.
    pub token_requests: usize,
    /// Order service requests received.
    pub verify_requests: usize,
    /// Order service requests being answered now.
    pub in_flight: usize,
    /// The most Order service requests ever in flight together.
    pub max_in_flight: usize,
    /// How long each Order service request is held before its answer.
    pub delay: Duration,
}

/// The fake's shared state.
pub type Shared = Arc<Mutex<Huawei>>;

async fn token(State(h): State<Shared>, Form(form): Form<HashMap<String, String>>) -> Response {
    let mut h = h.lock().unwrap();
    h.token_requests += 1;
    let good = form.get("grant_type").map(String::as_str) == Some("client_credentials")
        && form.get("client_id").map(String::as_str) == Some(CLIENT_ID)
        && form.get("client_secret").map(String::as_str) == Some(CLIENT_SECRET);
    if !good {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": 1101, "sub_error": 20152, "error_description": "invalid client"})),
        )
            .into_response();
    }
    let at = format!("DAEDA{}", h.issued.len() + 1);
    h.issued.push(at.clone());
    Json(json!({"access_token": at, "expires_in": 3600, "token_type": "Bearer"})).into_response()
}

/// Leaves the in-flight count when the request ends (also when the client goes away).
struct InFlight(Shared);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.lock().unwrap().in_flight -= 1;
    }
}

async fn verify(State(h): State<Shared>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    let delay = {
        let mut s = h.lock().unwrap();
        s.verify_requests += 1;
        s.in_flight += 1;
        s.max_in_flight = s.max_in_flight.max(s.in_flight);
        s.delay
    };
    let _guard = InFlight(h.clone());
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let h = h.lock().unwrap();
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let authorized = h
        .issued
        .iter()
        .any(|t| auth == format!("Basic {}", STANDARD.encode(format!("APPAT:{t}"))));
    if !authorized {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"responseCode": "6", "responseMessage": "invalid at"})),
        )
            .into_response();
    }
    let token = body["purchaseToken"].as_str().unwrap_or("");
    match h.orders.get(token) {
        Some(Receipt::Huawei {
            purchase_data,
            signature,
            ..
        }) => Json(json!({
            "responseCode": "0",
            "responseMessage": "success",
            "purchaseTokenData": purchase_data,
            "dataSignature": signature,
            "signatureAlgorithm": "SHA256WithRSA"
        }))
        .into_response(),
        _ => Json(json!({"responseCode": "5", "responseMessage": "purchaseToken invalid"}))
            .into_response(),
    }
}

/// Start the fake on 127.0.0.1; its state and base URL.
pub async fn start_huawei() -> (Shared, String) {
    let state: Shared = Arc::default();
    let app = Router::new()
        .route("/oauth2/v3/token", routing::post(token))
        .route(
            "/applications/purchases/tokens/verify",
            routing::post(verify),
        )
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (state, url)
}

/// Add `[apps."APP".huawei.notifications]` for the fake at `url` to the state's config (the
/// secret in a file beside it).
pub fn configure_huawei(state: &StateDir, url: &str) {
    let dir = state.paths.config.parent().unwrap().to_path_buf();
    std::fs::write(dir.join("huawei-secret.txt"), format!("{CLIENT_SECRET}\n")).unwrap();
    let mut text = std::fs::read_to_string(&state.paths.config).unwrap();
    text.push_str(&format!(
        "\n[apps.\"{APP}\".huawei.notifications]\nclient_id = \"{CLIENT_ID}\"\n\
         client_secret_file = \"huawei-secret.txt\"\norder_service_url = \"{url}\"\n\
         token_uri = \"{url}/oauth2/v3/token\"\n"
    ));
    std::fs::write(&state.paths.config, text).unwrap();
}

/// A version 2 order notification of `kind` (1 payment, 2 refund) for `token`, unsigned as
/// Huawei sends it.
pub fn notification(application_id: &str, kind: i64, token: &str) -> String {
    json!({
        "version": "v2",
        "eventType": "ORDER",
        "notifyTime": payseal_verifier::now_ms(),
        "applicationId": application_id,
        "orderNotification": {
            "version": "v2",
            "notificationType": kind,
            "purchaseToken": token,
            "productId": "coins_100"
        }
    })
    .to_string()
}

/// POST a notification body; the status and the JSON answer's `result`.
pub async fn post(server: &TestServer, body: &str) -> (u16, Option<String>) {
    post_to(server.client.clone(), server.url(PATH), body.to_string()).await
}

/// [`post`] with an owned client and URL (for spawned tasks).
pub async fn post_to(client: reqwest::Client, url: String, body: String) -> (u16, Option<String>) {
    let r = client
        .post(url)
        .header("content-type", "application/json; charset=UTF-8")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let v: Value = serde_json::from_str(&r.text().await.unwrap()).unwrap_or(Value::Null);
    (status, v["result"].as_str().map(str::to_owned))
}

/// A Huawei one-time purchase of `order_id` in `state`, signed by `store`.
pub fn issue(store: &SandboxStore, order_id: &str, state: PurchaseState) -> Receipt {
    let mut order = Order::new(Store::Huawei, APP, "coins_100");
    order.transaction_id = Some(order_id.into());
    order.state = state;
    store.issue(&order).unwrap()
}

/// A fresh Huawei-shaped order id.
pub fn new_order_id() -> String {
    let suffix = &uuid::Uuid::new_v4().simple().to_string()[..8];
    format!("20261206120000{suffix}.1")
}
