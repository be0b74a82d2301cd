//! Huawei IAP server notifications (version 2) end to end: a real verifier over TLS with
//! `[apps."ID".huawei.notifications]`, a local "Huawei" (OAuth 2.0 client-credentials token
//! endpoint checking the app id and secret; Order service `POST
//! /applications/purchases/tokens/verify` requiring `Basic base64("APPAT:" + token)` and
//! answering with purchase data signed by the sandbox store in Huawei's format), and a real
//! webhook receiver.
//!
//! A refund notification is unsigned, so it only makes the verifier ask the Order service: the
//! redemption is revoked when, and only when, Huawei's signed data says `purchaseState` 2.

mod common;
mod webhook_support;

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
use common::{StateDir, TestServer, APP};
use payseal_protocol::{Outcome, Reason, Receipt, Redemption, Store};
use payseal_sandbox::{Order, PurchaseState, SandboxStore};
use payseal_verifier::webhook::PURCHASE_REVOKED;
use serde_json::{json, Value};
use webhook_support::{configure, RunningReceiver};

const CLIENT_ID: &str = "107123456";
const CLIENT_SECRET: &str = "huawei-app-secret-0123456789";
const PATH: &str = "/v1/stores/huawei/notifications";

#[derive(Default)]
struct Huawei {
    /// purchaseToken → the signed purchase data the Order service answers with.
    orders: HashMap<String, Receipt>,
    issued: Vec<String>,
    token_requests: usize,
    verify_requests: usize,
}

type Shared = Arc<Mutex<Huawei>>;

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

async fn verify(State(h): State<Shared>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    let mut h = h.lock().unwrap();
    h.verify_requests += 1;
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

async fn start_huawei() -> (Shared, String) {
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

fn notification(application_id: &str, kind: i64, token: &str) -> String {
    json!({
        "version": "v2",
        "eventType": "ORDER",
        "notifyTime": payseal_verifier::service::now_ms(),
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

async fn post(server: &TestServer, body: &str) -> (u16, Option<String>) {
    let r = server
        .client
        .post(server.url(PATH))
        .header("content-type", "application/json; charset=UTF-8")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let v: Value = serde_json::from_str(&r.text().await.unwrap()).unwrap_or(Value::Null);
    (status, v["result"].as_str().map(str::to_owned))
}

fn issue(store: &SandboxStore, order_id: &str, state: PurchaseState) -> Receipt {
    let mut order = Order::new(Store::Huawei, APP, "coins_100");
    order.transaction_id = Some(order_id.into());
    order.state = state;
    store.issue(&order).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huawei_refund_is_revoked_only_on_huawei_s_signed_word() {
    let (huawei, url) = start_huawei().await;
    let receiver = RunningReceiver::start(0).await;
    let state = StateDir::new();
    configure(&state.paths.config, &receiver.url());
    let dir = state.paths.config.parent().unwrap().to_path_buf();
    std::fs::write(dir.join("huawei-secret.txt"), format!("{CLIENT_SECRET}\n")).unwrap();
    let mut text = std::fs::read_to_string(&state.paths.config).unwrap();
    text.push_str(&format!(
        "\n[apps.\"{APP}\".huawei.notifications]\nclient_id = \"{CLIENT_ID}\"\n\
         client_secret_file = \"huawei-secret.txt\"\norder_service_url = \"{url}\"\n\
         token_uri = \"{url}/oauth2/v3/token\"\n"
    ));
    std::fs::write(&state.paths.config, text).unwrap();
    let mut server = TestServer::start_on(state, |s| {
        assert!(!format!("{:?}", s.huawei_notifications).contains(CLIENT_SECRET));
    })
    .await;

    let suffix = &uuid::Uuid::new_v4().simple().to_string()[..8];
    let refunded_order = format!("20261206120000{suffix}.1");
    let kept_order = format!("20261206120000{suffix}.2");
    let genuine = issue(
        &server.state.store,
        &refunded_order,
        PurchaseState::Purchased,
    );
    let kept = issue(&server.state.store, &kept_order, PurchaseState::Purchased);
    for r in [&genuine, &kept] {
        assert_eq!(
            server.verify("alice", r).await.redemption,
            Some(Redemption::First)
        );
    }
    // What Huawei's Order service will say, signed: the first order refunded, the second not;
    // a third token answered with data signed by someone else's key.
    let attacker = tempfile::tempdir().unwrap();
    let attacker = SandboxStore::open_or_create(attacker.path()).unwrap();
    {
        let mut h = huawei.lock().unwrap();
        h.orders.insert(
            "tok-refunded".into(),
            issue(
                &server.state.store,
                &refunded_order,
                PurchaseState::Refunded,
            ),
        );
        h.orders.insert("tok-kept".into(), kept.clone());
        h.orders.insert(
            "tok-forged".into(),
            issue(&attacker, &kept_order, PurchaseState::Refunded),
        );
    }

    // Refund of a purchase Huawei still calls purchased: nothing changes.
    assert_eq!(
        post(&server, &notification(CLIENT_ID, 2, "tok-kept")).await,
        (200, Some("not_refunded".into()))
    );
    // Order data not signed by the app's Huawei key: refused with 503 (Huawei retries).
    assert_eq!(
        post(&server, &notification(CLIENT_ID, 2, "tok-forged")).await,
        (503, None)
    );
    // A token the Order service does not know.
    assert_eq!(
        post(&server, &notification(CLIENT_ID, 2, "tok-unknown")).await,
        (200, Some("not_found".into()))
    );
    assert_eq!(
        server.verify("alice", &kept).await.redemption,
        Some(Redemption::Repeat)
    );

    // The real refund: revoked once.
    assert_eq!(
        post(&server, &notification(CLIENT_ID, 2, "tok-refunded")).await,
        (200, Some("revoked".into()))
    );
    assert_eq!(
        post(&server, &notification(CLIENT_ID, 2, "tok-refunded")).await,
        (200, Some("already_revoked".into()))
    );
    for account in ["alice", "bob"] {
        let v = server.verify(account, &genuine).await;
        assert_eq!(
            (v.outcome, v.reason),
            (Outcome::NotPaid, Some(Reason::Revoked)),
            "{account}"
        );
    }

    // Acknowledged without asking Huawei: a payment, another app, a subscription event.
    let asked = huawei.lock().unwrap().verify_requests;
    assert_eq!(
        post(&server, &notification(CLIENT_ID, 1, "tok-kept")).await,
        (200, Some("ignored".into()))
    );
    assert_eq!(
        post(&server, &notification("999999", 2, "tok-kept")).await,
        (200, Some("unknown_app".into()))
    );
    let sub = json!({"version": "v2", "eventType": "SUBSCRIPTION", "applicationId": CLIENT_ID,
        "subNotification": {"version": "v2", "statusUpdateNotification": "{}",
            "notificationSignature": "x", "signatureAlgorithm": "SHA256WithRSA"}});
    assert_eq!(
        post(&server, &sub.to_string()).await,
        (200, Some("ignored".into()))
    );
    assert_eq!(huawei.lock().unwrap().verify_requests, asked);
    assert_eq!(post(&server, "{\"hello\": 1}").await.0, 400);
    assert_eq!(
        huawei.lock().unwrap().token_requests,
        1,
        "one access token, cached"
    );

    receiver
        .wait_for(Duration::from_secs(20), "two paid + one revoked", |s| {
            s.events.len() >= 3
        })
        .await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let events = receiver.events();
    let revoked: Vec<_> = events
        .iter()
        .filter(|e| e.event_type == PURCHASE_REVOKED)
        .collect();
    assert_eq!(revoked.len(), 1, "{events:?}");
    assert_eq!(revoked[0].data["transaction_id"], refunded_order.as_str());
    assert_eq!(revoked[0].data["store"], "huawei");
    assert!(revoked[0].data["reason"]
        .as_str()
        .unwrap()
        .contains("purchaseState 2"));
    let text = server.metrics_text().await;
    for (line, n) in [
        ("payseal_store_notifications_total{store=\"huawei\",type=\"order_refund\",result=\"revoked\"}", 1.0),
        ("payseal_store_notifications_total{store=\"huawei\",type=\"order_refund\",result=\"bad_signature\"}", 1.0),
        ("payseal_store_notifications_total{store=\"huawei\",type=\"order_refund\",result=\"not_refunded\"}", 1.0),
    ] {
        assert_eq!(common::metric_value(&text, line), n, "{text}");
    }
    server.stop().await.unwrap();
}
