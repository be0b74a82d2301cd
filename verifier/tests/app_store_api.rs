//! The App Store Server API client against a local fake shaped like Apple's API (paths, bodies,
//! enums, error bodies) on 127.0.0.1: the fake checks every request's ES256 token with the
//! In-App Purchase key's public half (header `kid`, `typ`; claims `iss`, `aud`, `bid`, `iat`,
//! `exp` at most 5 minutes later) and refuses anything else with `401`, as Apple does. Signed
//! transactions come from the sandbox store under its App Store test chain.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::Router;
use common::{StateDir, APP};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use payseal_protocol::{Environment, Receipt, Store};
use payseal_sandbox::Order;
use payseal_verifier::app_store_api::token::{ApiClaims, AUDIENCE, TOKEN_LIFETIME_S};
use payseal_verifier::app_store_api::{
    AppStoreApi, AppStoreApiError, ConsumptionRequest, DeliveryStatus, RefundPreference,
};

const KEY_ID: &str = "2X9R4HXF34";
const ISSUER: &str = "57246542-96fe-1a63-e053-0824d011072a";
const KNOWN: &str = "2000000123456789";

/// What the fake saw and how it should answer.
#[derive(Default)]
struct Fake {
    /// Requests to fail first, each with this status (429, 503, ...).
    fail_with: Mutex<Vec<u16>>,
    /// Requests with a valid token.
    authorized: AtomicUsize,
    /// Requests refused for their token.
    refused: AtomicUsize,
    /// Consumption bodies accepted, by transaction id.
    consumption: Mutex<Vec<(String, serde_json::Value)>>,
    /// The signedTransactionInfo to return.
    signed_transaction: Mutex<String>,
    public_pem: Vec<u8>,
}

impl Fake {
    /// Apple's token check: ES256 with the key's public half, kid, typ, iss, aud, bid, iat, exp.
    fn authorized(&self, headers: &HeaderMap) -> bool {
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

async fn consumption(
    State(fake): State<Arc<Fake>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(r) = fake.gate(&headers) {
        return r;
    }
    if id != KNOWN {
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

async fn start_fake(public_pem: Vec<u8>) -> (Arc<Fake>, SocketAddr) {
    let fake = Arc::new(Fake {
        public_pem,
        ..Fake::default()
    });
    let app = Router::new()
        .route("/inApps/v2/transactions/consumption/{id}", put(consumption))
        .route("/inApps/v1/transactions/{id}", get(transaction))
        .with_state(Arc::clone(&fake));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (fake, addr)
}

fn write_p8(path: &std::path::Path, pem: &str, mode: u32) {
    std::fs::write(path, pem).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }
}

/// A state dir whose app has an App Store Server API key pointing at `addr` (both
/// environments), and the key's public half.
fn configure(state: &StateDir, addr: SocketAddr, key_mode: u32) -> Vec<u8> {
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

async fn setup() -> (StateDir, Arc<Fake>, AppStoreApi) {
    // The fake needs the public key, the config needs the fake's address: bind first.
    let state = StateDir::new();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let public = configure(&state, addr, 0o600);
    let fake = {
        let fake = Arc::new(Fake {
            public_pem: public,
            ..Fake::default()
        });
        let app = Router::new()
            .route("/inApps/v2/transactions/consumption/{id}", put(consumption))
            .route("/inApps/v1/transactions/{id}", get(transaction))
            .with_state(Arc::clone(&fake));
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        fake
    };
    let settings = state.settings();
    let api = AppStoreApi::new(
        payseal_verifier::background::outbound_client().unwrap(),
        settings.app_store_api.get(APP).unwrap().clone(),
    );
    (state, fake, api)
}

fn request() -> ConsumptionRequest {
    ConsumptionRequest {
        customer_consented: true,
        consumption_percentage: Some(100_000),
        delivery_status: DeliveryStatus::Delivered,
        sample_content_provided: false,
        refund_preference: Some(RefundPreference::Decline),
    }
}

#[tokio::test]
async fn consumption_is_sent_with_a_valid_es256_token_through_429_and_503() {
    let (_state, fake, api) = setup().await;
    fake.fail_with.lock().unwrap().extend([429, 503]);
    api.send_consumption(Environment::Sandbox, KNOWN, &request())
        .await
        .unwrap();
    assert_eq!(
        fake.authorized.load(Ordering::SeqCst),
        3,
        "two retried, one accepted"
    );
    assert_eq!(fake.refused.load(Ordering::SeqCst), 0);
    let sent = fake.consumption.lock().unwrap().clone();
    assert_eq!(
        sent,
        vec![(
            KNOWN.to_string(),
            serde_json::json!({"customerConsented": true, "consumptionPercentage": 100000,
                "deliveryStatus": "DELIVERED", "sampleContentProvided": false,
                "refundPreference": "DECLINE"})
        )]
    );
}

#[tokio::test]
async fn apples_error_bodies_and_exhausted_retries_are_typed_errors() {
    let (_state, fake, api) = setup().await;
    match api
        .send_consumption(Environment::Production, "2000000999", &request())
        .await
    {
        Err(AppStoreApiError::Api {
            status: 404,
            code: Some(4040010),
            message: Some(m),
        }) => assert_eq!(m, "Transaction id not found."),
        other => panic!("{other:?}"),
    }
    fake.fail_with.lock().unwrap().extend([500, 502, 503, 504]);
    let err = api
        .send_consumption(Environment::Sandbox, KNOWN, &request())
        .await
        .unwrap_err();
    assert!(
        matches!(err, AppStoreApiError::GaveUp { attempts: 3, .. }),
        "{err:?}"
    );
    assert!(err.retryable());
    // Without consent nothing is sent at all.
    let before = fake.authorized.load(Ordering::SeqCst);
    let mut no_consent = request();
    no_consent.customer_consented = false;
    assert!(matches!(
        api.send_consumption(Environment::Sandbox, KNOWN, &no_consent)
            .await,
        Err(AppStoreApiError::Request(_))
    ));
    assert_eq!(fake.authorized.load(Ordering::SeqCst), before);
}

#[tokio::test]
async fn a_token_from_another_key_is_refused_with_401() {
    let (state, fake, _api) = setup().await;
    // The same configuration with another .p8: the fake checks the first key's public half.
    let other = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let p8 = state
        .paths
        .config
        .parent()
        .unwrap()
        .join("SubscriptionKey_2X9R4HXF34.p8");
    write_p8(&p8, &other.serialize_pem(), 0o600);
    let api = AppStoreApi::new(
        payseal_verifier::background::outbound_client().unwrap(),
        state.settings().app_store_api.get(APP).unwrap().clone(),
    );
    assert!(matches!(
        api.send_consumption(Environment::Sandbox, KNOWN, &request())
            .await,
        Err(AppStoreApiError::Unauthorized)
    ));
    assert_eq!(fake.refused.load(Ordering::SeqCst), 1);
    assert!(fake.consumption.lock().unwrap().is_empty());
}

#[tokio::test]
async fn signed_transactions_from_the_api_go_through_the_storekit2_check() {
    let (state, fake, api) = setup().await;
    let anchors = &state.settings().anchors;
    let mut order = Order::new(Store::AppStore, APP, "coins_100");
    order.transaction_id = Some(KNOWN.into());
    let Receipt::AppStore { jws } = state.store.issue(&order).unwrap() else {
        panic!("not an App Store receipt")
    };
    *fake.signed_transaction.lock().unwrap() = jws;
    let tx = api
        .transaction_info(
            Environment::Sandbox,
            KNOWN,
            anchors,
            payseal_verifier::now_ms(),
        )
        .await
        .unwrap();
    assert_eq!(
        (tx.transaction_id.as_str(), tx.bundle_id.as_str()),
        (KNOWN, APP)
    );

    // Signed by an attacker's own chain: refused by the rule, not used.
    let Receipt::AppStore { jws } = payseal_rules::test_support::attacker()
        .issue(&order)
        .unwrap()
    else {
        panic!("not an App Store receipt")
    };
    *fake.signed_transaction.lock().unwrap() = jws;
    let err = api
        .transaction_info(
            Environment::Sandbox,
            KNOWN,
            anchors,
            payseal_verifier::now_ms(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, AppStoreApiError::Signature(_)), "{err:?}");

    // Genuinely signed, for another bundle: refused too.
    let other = Order::new(Store::AppStore, "com.example.other", "coins_100");
    let Receipt::AppStore { jws } = state.store.issue(&other).unwrap() else {
        panic!("not an App Store receipt")
    };
    *fake.signed_transaction.lock().unwrap() = jws;
    let err = api
        .transaction_info(
            Environment::Sandbox,
            KNOWN,
            anchors,
            payseal_verifier::now_ms(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, AppStoreApiError::Signature(_)), "{err:?}");
}

#[tokio::test]
async fn a_key_file_readable_by_others_or_not_a_key_stops_the_configuration() {
    let (_fake, addr) = start_fake(Vec::new()).await;
    let state = StateDir::new();
    configure(&state, addr, 0o644);
    let err = payseal_verifier::config::load_with_env(&state.paths.config, |_| None).unwrap_err();
    assert_eq!(
        err.key(),
        Some(format!("apps.{APP:?}.app_store.server_api.key_file").as_str())
    );
    assert!(
        err.to_string().contains("readable by group or others"),
        "{err}"
    );
    assert!(!err.to_string().contains("PRIVATE KEY"), "{err}");

    let p8 = state
        .paths
        .config
        .parent()
        .unwrap()
        .join("SubscriptionKey_2X9R4HXF34.p8");
    write_p8(
        &p8,
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        0o600,
    );
    let err = payseal_verifier::config::load_with_env(&state.paths.config, |_| None).unwrap_err();
    assert!(
        err.to_string().contains("not an In-App Purchase key"),
        "{err}"
    );
}
