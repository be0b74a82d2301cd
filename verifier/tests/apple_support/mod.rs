//! A local fake of Apple's App Store Server API (paths, bodies, enums, error bodies) on
//! 127.0.0.1, for the API client, refund-answer and subscription-lifecycle tests
//! (`tests/apple_lifecycle`): it checks every request's ES256
//! token with the In-App Purchase key's public half (header `kid`, `typ`; claims `iss`, `aud`,
//! `bid`, `iat`, `exp` at most 5 minutes later) and refuses anything else with `401`, as Apple
//! does.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::Router;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use payseal_verifier::app_store_api::token::{ApiClaims, AUDIENCE, TOKEN_LIFETIME_S};
use payseal_verifier::app_store_api::AppStoreApi;

use crate::common::{StateDir, APP};

pub const KEY_ID: &str = "2X9R4HXF34";
pub const ISSUER: &str = "57246542-96fe-1a63-e053-0824d011072a";
pub const KNOWN: &str = "2000000123456789";

/// What the fake saw and how it should answer.
#[derive(Default)]
pub struct Fake {
    /// Requests to fail first, each with this status (429, 503, ...).
    pub fail_with: Mutex<Vec<u16>>,
    /// Requests with a valid token.
    pub authorized: AtomicUsize,
    /// Requests refused for their token.
    pub refused: AtomicUsize,
    /// Consumption bodies accepted, by transaction id.
    pub consumption: Mutex<Vec<(String, serde_json::Value)>>,
    /// The signedTransactionInfo to return.
    pub signed_transaction: Mutex<String>,
    pub public_pem: Vec<u8>,
    /// Get All Subscription Statuses answers (`StatusResponse` JSON) by any transaction id of
    /// the customer; other ids are `404` `4040010`.
    pub statuses: Mutex<std::collections::HashMap<String, serde_json::Value>>,
    /// Get All Subscription Statuses requests with a valid token (the transaction ids asked).
    pub status_calls: Mutex<Vec<String>>,
}

impl Fake {
    /// Apple's token check: ES256 with the key's public half, kid, typ, iss, aud, bid, iat, exp.
    pub fn authorized(&self, headers: &HeaderMap) -> bool {
        let Some(token) = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
        else {
            return false;
        };
        let Ok(header) = jsonwebtoken::decode_header(token) else {
            return false;
        };
        if header.alg != Algorithm::ES256
            || header.kid.as_deref() != Some(KEY_ID)
            || header.typ.as_deref() != Some("JWT")
        {
            return false;
        }
        let mut validation = Validation::new(Algorithm::ES256);
        validation.set_audience(&[AUDIENCE]);
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud"]);
        let key = DecodingKey::from_ec_pem(&self.public_pem).unwrap();
        let Ok(data) = jsonwebtoken::decode::<ApiClaims>(token, &key, &validation) else {
            return false;
        };
        let now = payseal_protocol::time::now_s();
        let c = data.claims;
        c.bid == APP && c.exp - c.iat <= TOKEN_LIFETIME_S && (c.iat - now).abs() < 60
    }

    /// The common part of every route: token, then the planned failures.
    fn gate(&self, headers: &HeaderMap) -> Option<Response> {
        if !self.authorized(headers) {
            self.refused.fetch_add(1, Ordering::SeqCst);
            return Some(StatusCode::UNAUTHORIZED.into_response());
        }
        self.authorized.fetch_add(1, Ordering::SeqCst);
        let mut fail = self.fail_with.lock().unwrap();
        if !fail.is_empty() {
            let status = StatusCode::from_u16(fail.remove(0)).unwrap();
            return Some((status, [("retry-after", "0")], "").into_response());
        }
        None
    }
}

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        axum::Json(
            serde_json::json!({"errorCode": 4040010, "errorMessage": "Transaction id not found."}),
        ),
    )
        .into_response()
}

/// Any transaction id is known (the end-to-end tests make their own); `KNOWN` only otherwise.
pub static ANY_ID: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

async fn consumption(
    State(fake): State<Arc<Fake>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(r) = fake.gate(&headers) {
        return r;
    }
    if id != KNOWN && !ANY_ID.load(Ordering::SeqCst) {
        return not_found();
    }
    let Ok(body) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(
                serde_json::json!({"errorCode": 4000023, "errorMessage": "Invalid request."}),
            ),
        )
            .into_response();
    };
    fake.consumption.lock().unwrap().push((id, body));
    StatusCode::ACCEPTED.into_response()
}

async fn transaction(
    State(fake): State<Arc<Fake>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = fake.gate(&headers) {
        return r;
    }
    if id != KNOWN {
        return not_found();
    }
    let signed = fake.signed_transaction.lock().unwrap().clone();
    axum::Json(serde_json::json!({"signedTransactionInfo": signed})).into_response()
}

/// `GET /inApps/v1/subscriptions/{transactionId}` (Get All Subscription Statuses): the
/// registered `StatusResponse`; a transaction id that is not digits is `400` `4000006`
/// (InvalidTransactionIdError), an unknown one `404` `4040010` (TransactionIdNotFoundError),
/// as Apple answers.
async fn statuses(
    State(fake): State<Arc<Fake>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = fake.gate(&headers) {
        return r;
    }
    fake.status_calls.lock().unwrap().push(id.clone());
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(
                serde_json::json!({"errorCode": 4000006, "errorMessage": "Invalid transaction id."}),
            ),
        )
            .into_response();
    }
    match fake.statuses.lock().unwrap().get(&id) {
        Some(body) => axum::Json(body.clone()).into_response(),
        None => not_found(),
    }
}

fn routes(fake: &Arc<Fake>) -> Router {
    Router::new()
        .route("/inApps/v2/transactions/consumption/{id}", put(consumption))
        .route("/inApps/v1/transactions/{id}", get(transaction))
        .route("/inApps/v1/subscriptions/{id}", get(statuses))
        .with_state(Arc::clone(fake))
}

/// Apple's `StatusResponse` of one chain in one subscription group, its latest transaction
/// and renewal info signed by `store` (the sandbox store's App Store CA): `order` (with its
/// `transaction_id`) is the chain's latest transaction, `spec` its renewal info and status.
pub fn status_response(
    store: &payseal_sandbox::SandboxStore,
    order: &payseal_sandbox::Order,
    spec: &payseal_sandbox::RenewalSpec,
    at_ms: i64,
) -> serde_json::Value {
    let header = store.app_store_header();
    let tx_id = order
        .transaction_id
        .clone()
        .expect("the order's transaction id");
    let chain = order
        .original_transaction_id
        .clone()
        .unwrap_or(tx_id.clone());
    let tx = store
        .sign_app_store_jws(&header, &store.app_store_payload(order, at_ms).unwrap())
        .unwrap();
    let renewal = store
        .sign_app_store_jws(
            &header,
            &payseal_sandbox::renewal_info_json(order, &tx_id, spec, at_ms).unwrap(),
        )
        .unwrap();
    serde_json::json!({
        "environment": match order.environment {
            payseal_protocol::Environment::Production => "Production",
            payseal_protocol::Environment::Sandbox => "Sandbox",
        },
        "bundleId": order.app_id,
        "data": [{
            "subscriptionGroupIdentifier": "21482456",
            "lastTransactions": [{
                "originalTransactionId": chain,
                "status": spec.status,
                "signedTransactionInfo": tx,
                "signedRenewalInfo": renewal
            }]
        }]
    })
}

pub async fn start_fake(public_pem: Vec<u8>) -> (Arc<Fake>, SocketAddr) {
    let fake = Arc::new(Fake {
        public_pem,
        ..Fake::default()
    });
    let app = routes(&fake);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (fake, addr)
}

pub fn write_p8(path: &std::path::Path, pem: &str, mode: u32) {
    std::fs::write(path, pem).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }
}

/// A state dir whose app has an App Store Server API key pointing at `addr` (both
/// environments), and the key's public half.
pub fn configure(state: &StateDir, addr: SocketAddr, key_mode: u32) -> Vec<u8> {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let dir = state.paths.config.parent().unwrap();
    let p8 = dir.join("SubscriptionKey_2X9R4HXF34.p8");
    write_p8(&p8, &key.serialize_pem(), key_mode);
    let mut text = std::fs::read_to_string(&state.paths.config).unwrap();
    text.push_str(&format!(
        "\n[apps.\"{APP}\".app_store.server_api]\nkey_file = \"{}\"\nkey_id = \"{KEY_ID}\"\n\
         issuer_id = \"{ISSUER}\"\nproduction_url = \"http://{addr}\"\nsandbox_url = \"http://{addr}\"\n\
         retry_attempts = 3\nretry_base_ms = 5\n",
        p8.display()
    ));
    std::fs::write(&state.paths.config, text).unwrap();
    key.public_key_pem().into_bytes()
}

/// A fake App Store Server API serving `state`'s app, configured in its file.
pub async fn fake_for(state: &StateDir) -> Arc<Fake> {
    // The fake needs the public key, the config needs the fake's address: bind first.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let public = configure(state, addr, 0o600);
    let fake = Arc::new(Fake {
        public_pem: public,
        ..Fake::default()
    });
    let app = routes(&fake);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    fake
}

/// A state dir, its fake API, and the client configured for it.
pub async fn setup() -> (StateDir, Arc<Fake>, AppStoreApi) {
    let state = StateDir::new();
    let fake = fake_for(&state).await;
    let settings = state.settings();
    let api = AppStoreApi::new(
        payseal_verifier::background::outbound_client().unwrap(),
        settings.app_store_api.get(APP).unwrap().clone(),
    );
    (state, fake, api)
}
