//! A local "Google" on 127.0.0.1 (axum), shaped like the real services the verifier talks to
//! or hears from:
//!
//! - `GET /oauth2/v3/certs`: a JWKS of Google's OIDC signing keys (test RSA keys; rotatable),
//!   used by the Pub/Sub push tokens this module signs ([`FakeGoogle::push_token`]); counts
//!   its requests, and can answer a scripted status (an outage) or answer late (a slow server);
//! - `POST /token`: the OAuth2 token endpoint, JWT bearer grant. It checks the assertion as
//!   Google does: RS256 signature by the service account's key (the public half registered
//!   here), `iss` = its client_email, `scope` = androidpublisher, `aud` = this token URI,
//!   `exp` at most one hour after `iat` and not passed; then answers `{"access_token",
//!   "expires_in", "token_type": "Bearer"}`, else `400 {"error": "invalid_grant"}`;
//! - `GET /androidpublisher/v3/applications/{packageName}/purchases/voidedpurchases`: needs
//!   `Authorization: Bearer` with a token it issued (else 401), serves the voided purchases
//!   whose "seen voided" time is within `[startTime, endTime]` in pages of `maxResults`,
//!   `tokenPagination.nextPageToken` to the next (the token alone then selects the page, as
//!   Google ignores `startTime` with a token), and answers scripted statuses first (429, 503);
//! - the Play Developer API's purchase endpoints, shaped like the REST reference (paths, field
//!   names, enum strings, `{"error": {"code", "status", "message"}}` bodies):
//!   `GET|POST …/purchases/products/{productId}/tokens/{token}` (`get`; `:acknowledge`,
//!   `:consume`), `POST …/purchases/subscriptions/{subscriptionId}/tokens/{token}:acknowledge`,
//!   `GET …/purchases/subscriptionsv2/tokens/{token}`, `POST …/orders/{orderId}:reviewrefund`
//!   (the pending refund reviews it holds, [`FakeGoogle::add_refund_review`]: the body checked
//!   field by field as the REST reference defines `OrdersReviewRefundRequest`, only the first
//!   answer taken, a second one `400 FAILED_PRECONDITION`). They accept only a bearer token this
//!   fake issued to an account granted API access ([`GoogleState::api_access`], by default
//!   [`API_ACCOUNT`]), answer scripted statuses first (with `Retry-After` when scripted), and
//!   wait [`GoogleState::api_delay`] before answering (injected latency).
#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};

pub mod ack_scenario;
pub mod lifecycle_scenario;
pub mod voided_scenario;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use rsa::traits::PublicKeyParts;
use rsa::RsaPrivateKey;
use serde_json::{json, Value};

/// The push audience the tests configure.
pub const AUDIENCE: &str = "https://verifier.test/v1/stores/google-play/rtdn";
/// The push service account the tests configure.
pub const PUSH_ACCOUNT: &str = "play-rtdn-push@payseal-test.iam.gserviceaccount.com";
/// The Play API service account.
pub const API_ACCOUNT: &str = "play-voided@payseal-test.iam.gserviceaccount.com";

/// RSA-2048 test keys, made once per test binary: [0], [1] Google's OIDC keys (current, next),
/// [2] an attacker's, [3] the Play API service account's, [4] another service account's.
pub fn keys() -> &'static [RsaPrivateKey] {
    static KEYS: OnceLock<Vec<RsaPrivateKey>> = OnceLock::new();
    KEYS.get_or_init(|| {
        (0..5)
            .map(|_| RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).unwrap())
            .collect()
    })
}

/// The PKCS#8 PEM of a key.
pub fn pkcs8_pem(key: &RsaPrivateKey) -> String {
    key.to_pkcs8_pem(LineEnding::LF).unwrap().to_string()
}

/// The JWK of a key's public half.
pub fn jwk(kid: &str, key: &RsaPrivateKey) -> Value {
    json!({
        "kty": "RSA", "alg": "RS256", "use": "sig", "kid": kid,
        "n": URL_SAFE_NO_PAD.encode(key.n().to_bytes_be()),
        "e": URL_SAFE_NO_PAD.encode(key.e().to_bytes_be()),
    })
}

/// Sign `claims` with `key` as RS256 with `kid`.
pub fn rs256(kid: &str, key: &RsaPrivateKey, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.into());
    let pem = pkcs8_pem(key);
    jsonwebtoken::encode(
        &header,
        claims,
        &EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap(),
    )
    .unwrap()
}

/// Unix seconds now.
pub fn now_s() -> i64 {
    payseal_protocol::time::now_s()
}

/// The claims of a genuine push token (Google's shape).
pub fn push_claims() -> Value {
    let now = now_s();
    json!({
        "aud": AUDIENCE,
        "azp": "113774264463038321964",
        "email": PUSH_ACCOUNT,
        "email_verified": true,
        "exp": now + 3600,
        "iat": now,
        "iss": "https://accounts.google.com",
        "sub": "113774264463038321964",
    })
}

/// One voided purchase held by the fake API, with the time Google "saw" it voided.
#[derive(Clone, Debug)]
pub struct Voided {
    /// Filter time (what startTime/endTime select on).
    pub seen_ms: i64,
    /// The `VoidedPurchase` resource served.
    pub resource: Value,
}

/// One request to the voided-purchases API, as received.
#[derive(Clone, Debug)]
pub struct ApiRequest {
    /// Package in the path.
    pub package: String,
    /// Query parameters.
    pub query: HashMap<String, String>,
    /// The endpoint (`voidedpurchases.list`, `purchases.products.acknowledge`, ...).
    pub endpoint: String,
    /// Status answered.
    pub status: u16,
    /// When it arrived.
    pub at: std::time::Instant,
}

/// What the fake holds and saw.
#[derive(Default)]
pub struct GoogleState {
    /// The JWKS served: (kid, key).
    pub oidc_keys: Vec<(String, RsaPrivateKey)>,
    /// JWKS fetches (counted when the request arrives).
    pub jwks_fetches: usize,
    /// JWKS fetches answered (counted when the answer leaves, after `jwks_gate` opens).
    pub jwks_answered: usize,
    /// When set, the JWKS URL answers this status (a `503` outage) instead of the set.
    pub jwks_status: Option<u16>,
    /// When set, each JWKS answer waits for a permit of this gate (a slow key server the
    /// test releases with `add_permits`, so no timing decides the outcome).
    pub jwks_gate: Option<std::sync::Arc<tokio::sync::Semaphore>>,
    /// Registered service accounts: client_email → public key PEM.
    pub accounts: HashMap<String, String>,
    /// Access tokens issued.
    pub issued: Vec<String>,
    /// Token requests refused, with the reason.
    pub refused_assertions: Vec<String>,
    /// Voided purchases by package.
    pub voided: HashMap<String, Vec<Voided>>,
    /// Statuses to answer to the next API requests, in order.
    pub fail_next: VecDeque<u16>,
    /// API requests received.
    pub api_requests: Vec<ApiRequest>,
    /// Which account each issued access token belongs to.
    pub issued_to: HashMap<String, String>,
    /// Accounts granted access to the Play Developer API's purchase endpoints (the Play
    /// Console's "users and permissions").
    pub api_access: std::collections::HashSet<String>,
    /// `ProductPurchase` resources by (package, productId, token).
    pub products: HashMap<(String, String, String), Value>,
    /// `SubscriptionPurchaseV2` resources by (package, token), and the subscription's product.
    pub subscriptions: HashMap<(String, String), Value>,
    /// The `Retry-After` value sent with scripted `429`/`503` answers, if any.
    pub retry_after: Option<String>,
    /// Latency added before each purchase-endpoint answer.
    pub api_delay: std::time::Duration,
    /// Pending refund reviews by (package, orderId): their `pendingRefundToken`.
    pub refund_reviews: HashMap<(String, String), String>,
    /// `orders.reviewrefund` answers taken (the first per review): (orderId, body).
    pub review_answers: Vec<(String, Value)>,
}

/// The running fake.
#[derive(Clone)]
pub struct FakeGoogle {
    /// Its state.
    pub state: Arc<Mutex<GoogleState>>,
    /// Its address.
    pub addr: SocketAddr,
}

impl FakeGoogle {
    /// Start on 127.0.0.1:0 serving OIDC key "k1" (keys()[0]).
    pub async fn start() -> Self {
        let state = Arc::new(Mutex::new(GoogleState {
            oidc_keys: vec![("k1".into(), keys()[0].clone())],
            api_access: [API_ACCOUNT.to_string()].into(),
            ..GoogleState::default()
        }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let fake = Self { state, addr };
        let app = Router::new()
            .route("/oauth2/v3/certs", get(certs))
            .route("/token", post(token))
            .route(
                "/androidpublisher/v3/applications/{package}/purchases/voidedpurchases",
                get(voided),
            )
            .route(
                "/androidpublisher/v3/applications/{package}/purchases/products/{product}/tokens/{token}",
                get(products_get).post(products_post),
            )
            .route(
                "/androidpublisher/v3/applications/{package}/purchases/subscriptions/{product}/tokens/{token}",
                post(subscriptions_post),
            )
            .route(
                "/androidpublisher/v3/applications/{package}/purchases/subscriptionsv2/tokens/{token}",
                get(subscriptionsv2_get),
            )
            .route(
                "/androidpublisher/v3/applications/{package}/orders/{order}",
                post(orders_post),
            )
            .with_state(fake.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        fake
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// A push token signed by the served key `kid` (panics if not served).
    pub fn push_token(&self, kid: &str, claims: &Value) -> String {
        let key = {
            let s = self.state.lock().unwrap();
            s.oidc_keys
                .iter()
                .find(|(k, _)| k == kid)
                .map(|(_, key)| key.clone())
                .unwrap()
        };
        rs256(kid, &key, claims)
    }

    /// Register a service account's public key.
    pub fn register_account(&self, email: &str, key: &RsaPrivateKey) {
        let pem = key
            .to_public_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap();
        self.state
            .lock()
            .unwrap()
            .accounts
            .insert(email.into(), pem);
    }

    /// A service-account JSON key file's text for `email` and `key` (token_uri: this fake).
    pub fn key_file(&self, email: &str, key: &RsaPrivateKey) -> String {
        json!({
            "type": "service_account",
            "project_id": "payseal-test",
            "private_key_id": "0123456789abcdef0123456789abcdef01234567",
            "private_key": pkcs8_pem(key),
            "client_email": email,
            "client_id": "100000000000000000001",
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": self.url("/token"),
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "client_x509_cert_url": "https://www.googleapis.com/robot/v1/metadata/x509/x",
            "universe_domain": "googleapis.com"
        })
        .to_string()
    }

    /// Add a voided purchase of `package`.
    pub fn add_voided(&self, package: &str, seen_ms: i64, order_id: &str, token: &str) {
        let resource = json!({
            "kind": "androidpublisher#voidedPurchase",
            "purchaseToken": token,
            "purchaseTimeMillis": (seen_ms - 3_600_000).to_string(),
            "voidedTimeMillis": seen_ms.to_string(),
            "orderId": order_id,
            "voidedSource": 0,
            "voidedReason": 1,
        });
        self.state
            .lock()
            .unwrap()
            .voided
            .entry(package.into())
            .or_default()
            .push(Voided { seen_ms, resource });
    }

    /// The API requests so far.
    pub fn api_requests(&self) -> Vec<ApiRequest> {
        self.state.lock().unwrap().api_requests.clone()
    }
}

async fn certs(State(g): State<FakeGoogle>) -> Response {
    let gate = {
        let mut s = g.state.lock().unwrap();
        s.jwks_fetches += 1;
        s.jwks_gate.clone()
    };
    if let Some(gate) = gate {
        gate.acquire().await.unwrap().forget();
    }
    let mut s = g.state.lock().unwrap();
    s.jwks_answered += 1;
    if let Some(status) = s.jwks_status {
        return (
            StatusCode::from_u16(status).unwrap(),
            "The service is currently unavailable.",
        )
            .into_response();
    }
    let keys: Vec<Value> = s.oidc_keys.iter().map(|(kid, k)| jwk(kid, k)).collect();
    (
        [(
            "cache-control",
            "public, max-age=19666, must-revalidate, no-transform",
        )],
        Json(json!({ "keys": keys })),
    )
        .into_response()
}

fn refuse(s: &mut GoogleState, why: String) -> Response {
    s.refused_assertions.push(why);
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"error": "invalid_grant", "error_description": "Invalid JWT Signature."})),
    )
        .into_response()
}

async fn token(State(g): State<FakeGoogle>, Form(form): Form<HashMap<String, String>>) -> Response {
    let token_uri = g.url("/token");
    let mut s = g.state.lock().unwrap();
    if form.get("grant_type").map(String::as_str)
        != Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
    {
        return refuse(&mut s, "grant_type".into());
    }
    let Some(assertion) = form.get("assertion") else {
        return refuse(&mut s, "no assertion".into());
    };
    // The issuer names the account whose key must have signed it.
    let Ok(unverified) = jsonwebtoken::dangerous::insecure_decode::<Value>(assertion) else {
        return refuse(&mut s, "not a JWT".into());
    };
    let iss = unverified.claims["iss"].as_str().unwrap_or("").to_string();
    let Some(pem) = s.accounts.get(&iss).cloned() else {
        return refuse(&mut s, format!("unknown account {iss}"));
    };
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[&token_uri]);
    validation.set_required_spec_claims(&["exp", "iss", "aud"]);
    validation.leeway = 0;
    let verified = match jsonwebtoken::decode::<Value>(
        assertion,
        &DecodingKey::from_rsa_pem(pem.as_bytes()).unwrap(),
        &validation,
    ) {
        Ok(v) => v,
        Err(e) => return refuse(&mut s, format!("assertion: {e}")),
    };
    let c = verified.claims;
    if c["scope"] != "https://www.googleapis.com/auth/androidpublisher" {
        return refuse(&mut s, format!("scope {}", c["scope"]));
    }
    let (iat, exp) = (
        c["iat"].as_i64().unwrap_or(0),
        c["exp"].as_i64().unwrap_or(0),
    );
    if exp - iat > 3600 || iat > now_s() + 60 {
        return refuse(&mut s, "lifetime".into());
    }
    let issued = format!("ya29.fake-{}", s.issued.len() + 1);
    s.issued.push(issued.clone());
    s.issued_to.insert(issued.clone(), iss);
    Json(json!({"access_token": issued, "expires_in": 3599, "token_type": "Bearer"}))
        .into_response()
}

async fn voided(
    State(g): State<FakeGoogle>,
    Path(package): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let mut s = g.state.lock().unwrap();
    let record = |s: &mut GoogleState, status: u16| {
        s.api_requests.push(ApiRequest {
            package: package.clone(),
            query: query.clone(),
            endpoint: "voidedpurchases.list".into(),
            status,
            at: std::time::Instant::now(),
        })
    };
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if !s.issued.iter().any(|t| t == bearer) {
        record(&mut s, 401);
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": {"code": 401, "status": "UNAUTHENTICATED"}})),
        )
            .into_response();
    }
    if let Some(status) = s.fail_next.pop_front() {
        record(&mut s, status);
        return (
            StatusCode::from_u16(status).unwrap(),
            Json(json!({"error": {"code": status, "message": "scripted failure"}})),
        )
            .into_response();
    }
    // The page: a token selects (start, end, offset); else the query's window from 0.
    let (start, end, offset) = match query.get("token") {
        Some(t) => {
            let raw = String::from_utf8(URL_SAFE_NO_PAD.decode(t).unwrap()).unwrap();
            let mut parts = raw.split(':').map(|p| p.parse::<i64>().unwrap());
            (
                parts.next().unwrap(),
                parts.next().unwrap(),
                parts.next().unwrap() as usize,
            )
        }
        None => (
            query["startTime"].parse().unwrap(),
            query
                .get("endTime")
                .map(|e| e.parse().unwrap())
                .unwrap_or(i64::MAX),
            0,
        ),
    };
    let size: usize = query
        .get("maxResults")
        .map(|m| m.parse().unwrap())
        .unwrap_or(1000);
    let mut matching: Vec<Voided> = s
        .voided
        .get(&package)
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|v| v.seen_ms >= start && v.seen_ms <= end)
        .collect();
    matching.sort_by_key(|v| v.seen_ms);
    let page: Vec<Value> = matching
        .iter()
        .skip(offset)
        .take(size)
        .map(|v| v.resource.clone())
        .collect();
    let mut answer = json!({
        "pageInfo": {"totalResults": matching.len(), "resultPerPage": size, "startIndex": offset},
        "voidedPurchases": page,
    });
    if offset + size < matching.len() {
        answer["tokenPagination"] = json!({
            "nextPageToken": URL_SAFE_NO_PAD.encode(format!("{start}:{end}:{}", offset + size))
        });
    }
    record(&mut s, 200);
    Json(answer).into_response()
}

/// Add `[google_play.rtdn]` for `google`'s keys to the config at `config`, as an operator
/// writes it.
pub fn configure_rtdn(config: &std::path::Path, google: &FakeGoogle) {
    let mut text = std::fs::read_to_string(config).unwrap();
    text.push_str(&format!(
        "\n[google_play.rtdn]\naudience = \"{AUDIENCE}\"\nservice_account = \"{PUSH_ACCOUNT}\"\n\
         jwks_url = \"{}\"\njwks_cache_seconds = 3600\n",
        google.url("/oauth2/v3/certs")
    ));
    std::fs::write(config, text).unwrap();
}

/// Google's error document.
pub fn google_error(status: u16, name: &str, message: &str) -> Response {
    (
        StatusCode::from_u16(status).unwrap(),
        Json(
            json!({"error": {"code": status, "message": message, "status": name,
            "errors": [{"message": message, "domain": "androidpublisher", "reason": name}]}}),
        ),
    )
        .into_response()
}

impl FakeGoogle {
    /// Hold a one-time purchase: a `ProductPurchase` in `purchase_state` (0 purchased,
    /// 1 canceled, 2 pending), not yet acknowledged nor consumed.
    pub fn add_product(
        &self,
        package: &str,
        product: &str,
        token: &str,
        order_id: &str,
        purchase_state: i64,
    ) {
        let resource = json!({
            "kind": "androidpublisher#productPurchase",
            "purchaseTimeMillis": (now_s() * 1000 - 60_000).to_string(),
            "purchaseState": purchase_state,
            "consumptionState": 0,
            "developerPayload": "",
            "orderId": order_id,
            "acknowledgementState": 0,
            "productId": product,
            "quantity": 1,
            "regionCode": "DE",
            "refundableQuantity": 1,
        });
        self.state
            .lock()
            .unwrap()
            .products
            .insert((package.into(), product.into(), token.into()), resource);
    }

    /// The `ProductPurchase` held for a token.
    pub fn product(&self, package: &str, product: &str, token: &str) -> Option<Value> {
        self.state
            .lock()
            .unwrap()
            .products
            .get(&(package.into(), product.into(), token.into()))
            .cloned()
    }

    /// Hold a subscription: a `SubscriptionPurchaseV2` of `product` in `state`
    /// (`SUBSCRIPTION_STATE_*`) whose period ends at `expiry_ms`, optionally replacing `linked`.
    pub fn add_subscription(
        &self,
        package: &str,
        product: &str,
        token: &str,
        state: &str,
        expiry_ms: i64,
        linked: Option<&str>,
    ) {
        let expiry =
            time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(expiry_ms) * 1_000_000)
                .unwrap()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap();
        let mut resource = json!({
            "kind": "androidpublisher#subscriptionPurchaseV2",
            "regionCode": "DE",
            "startTime": "2026-01-01T00:00:00Z",
            "subscriptionState": state,
            "latestOrderId": "GPA.0000-0000-0000-00000",
            "acknowledgementState": "ACKNOWLEDGEMENT_STATE_PENDING",
            "lineItems": [{"productId": product, "expiryTime": expiry,
                           "autoRenewingPlan": {"autoRenewEnabled": true},
                           "latestSuccessfulOrderId": "GPA.0000-0000-0000-00000"}],
        });
        if let Some(l) = linked {
            resource["linkedPurchaseToken"] = json!(l);
        }
        self.state
            .lock()
            .unwrap()
            .subscriptions
            .insert((package.into(), token.into()), resource);
    }

    /// Set the held subscription's `autoRenewingPlan.autoRenewEnabled` (a cancelled renewal
    /// leaves it out, as Google's proto3 JSON leaves out a false boolean).
    pub fn set_auto_renew(&self, package: &str, token: &str, enabled: bool) {
        let mut state = self.state.lock().unwrap();
        let resource = state
            .subscriptions
            .get_mut(&(package.into(), token.into()))
            .expect("a held subscription");
        resource["lineItems"][0]["autoRenewingPlan"] = if enabled {
            json!({"autoRenewEnabled": true})
        } else {
            json!({})
        };
    }

    /// The `SubscriptionPurchaseV2` held for a token.
    pub fn subscription(&self, package: &str, token: &str) -> Option<Value> {
        self.state
            .lock()
            .unwrap()
            .subscriptions
            .get(&(package.into(), token.into()))
            .cloned()
    }

    /// The purchase-endpoint requests so far (`endpoint` names).
    pub fn purchase_calls(&self) -> Vec<String> {
        self.api_requests()
            .into_iter()
            .filter(|r| r.endpoint != "voidedpurchases.list")
            .map(|r| r.endpoint)
            .collect()
    }
}

/// The checks every purchase endpoint makes first: the bearer token (issued here, to an
/// account with API access), then the scripted failures; then the injected latency.
async fn admit(
    g: &FakeGoogle,
    package: &str,
    endpoint: &str,
    headers: &HeaderMap,
) -> Result<(), Response> {
    let delay = {
        let mut s = g.state.lock().unwrap();
        let record = |s: &mut GoogleState, status: u16| {
            s.api_requests.push(ApiRequest {
                package: package.into(),
                query: HashMap::new(),
                endpoint: endpoint.into(),
                status,
                at: std::time::Instant::now(),
            })
        };
        let bearer = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        let account = s.issued_to.get(bearer).cloned();
        match account {
            None => {
                record(&mut s, 401);
                return Err(google_error(401, "UNAUTHENTICATED",
                    "Request had invalid authentication credentials. Expected OAuth 2 access token."));
            }
            Some(a) if !s.api_access.contains(&a) => {
                record(&mut s, 401);
                return Err(google_error(401, "UNAUTHENTICATED",
                    "The current user has insufficient permissions to perform the requested operation."));
            }
            Some(_) => {}
        }
        if let Some(status) = s.fail_next.pop_front() {
            record(&mut s, status);
            let name = if status == 429 {
                "RESOURCE_EXHAUSTED"
            } else {
                "UNAVAILABLE"
            };
            let mut r = google_error(status, name, "scripted failure");
            if let Some(after) = &s.retry_after {
                r.headers_mut()
                    .insert("retry-after", after.parse().unwrap());
            }
            return Err(r);
        }
        record(&mut s, 200);
        s.api_delay
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    Ok(())
}

fn not_found() -> Response {
    google_error(404, "NOT_FOUND", "The purchase token was not found.")
}

async fn products_get(
    State(g): State<FakeGoogle>,
    Path((package, product, token)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = admit(&g, &package, "purchases.products.get", &headers).await {
        return r;
    }
    match g.product(&package, &product, &token) {
        Some(p) => Json(p).into_response(),
        None => not_found(),
    }
}

async fn products_post(
    State(g): State<FakeGoogle>,
    Path((package, product, token)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let (token, method) = match token.rsplit_once(':') {
        Some((t, m)) if m == "acknowledge" || m == "consume" => (t.to_string(), m.to_string()),
        _ => return google_error(404, "NOT_FOUND", "Method not found."),
    };
    let endpoint = format!("purchases.products.{method}");
    if let Err(r) = admit(&g, &package, &endpoint, &headers).await {
        return r;
    }
    let mut s = g.state.lock().unwrap();
    let Some(p) = s.products.get_mut(&(package, product, token)) else {
        return not_found();
    };
    if p["purchaseState"] != 0 {
        return google_error(
            400,
            "FAILED_PRECONDITION",
            "The purchase is not in a valid state to perform the desired operation.",
        );
    }
    if method == "consume" {
        if p["consumptionState"] == 1 {
            return google_error(
                400,
                "FAILED_PRECONDITION",
                "The product purchase has already been consumed.",
            );
        }
        p["consumptionState"] = json!(1);
        p["acknowledgementState"] = json!(1);
    } else {
        if p["acknowledgementState"] == 1 {
            return google_error(
                400,
                "FAILED_PRECONDITION",
                "The product purchase has already been acknowledged.",
            );
        }
        p["acknowledgementState"] = json!(1);
    }
    StatusCode::OK.into_response()
}

async fn subscriptions_post(
    State(g): State<FakeGoogle>,
    Path((package, product, token)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let Some(token) = token.strip_suffix(":acknowledge").map(str::to_string) else {
        return google_error(404, "NOT_FOUND", "Method not found.");
    };
    if let Err(r) = admit(
        &g,
        &package,
        "purchases.subscriptions.acknowledge",
        &headers,
    )
    .await
    {
        return r;
    }
    let mut s = g.state.lock().unwrap();
    let Some(sub) = s.subscriptions.get_mut(&(package, token)) else {
        return not_found();
    };
    if sub["lineItems"][0]["productId"] != product.as_str() {
        return google_error(
            400,
            "INVALID_ARGUMENT",
            "The subscription id does not match the purchase token.",
        );
    }
    if sub["acknowledgementState"] == "ACKNOWLEDGEMENT_STATE_ACKNOWLEDGED" {
        return google_error(
            400,
            "FAILED_PRECONDITION",
            "The subscription purchase has already been acknowledged.",
        );
    }
    sub["acknowledgementState"] = json!("ACKNOWLEDGEMENT_STATE_ACKNOWLEDGED");
    StatusCode::OK.into_response()
}

async fn subscriptionsv2_get(
    State(g): State<FakeGoogle>,
    Path((package, token)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = admit(&g, &package, "purchases.subscriptionsv2.get", &headers).await {
        return r;
    }
    match g.subscription(&package, &token) {
        Some(p) => Json(p).into_response(),
        None => not_found(),
    }
}

impl FakeGoogle {
    /// Hold a pending refund review of `order_id` with its `pendingRefundToken`.
    pub fn add_refund_review(&self, package: &str, order_id: &str, token: &str) {
        self.state
            .lock()
            .unwrap()
            .refund_reviews
            .insert((package.into(), order_id.into()), token.into());
    }

    /// The `orders.reviewrefund` answers taken: (orderId, body).
    pub fn review_answers(&self) -> Vec<(String, Value)> {
        self.state.lock().unwrap().review_answers.clone()
    }
}

/// Why an `OrdersReviewRefundRequest` body is not one (Google's `INVALID_ARGUMENT` text), or
/// `None` when it is.
fn review_body_error(body: &Value) -> Option<String> {
    let Some(fields) = body.as_object() else {
        return Some("Invalid JSON payload received.".into());
    };
    for name in fields.keys() {
        if ![
            "pendingRefundToken",
            "sampleContentProvided",
            "refundPreference",
            "consumptionPercentageMilliunits",
            "consumptionUsageEvents",
        ]
        .contains(&name.as_str())
        {
            return Some(format!(
                "Invalid JSON payload received. Unknown name \"{name}\": Cannot find field."
            ));
        }
    }
    if !body["pendingRefundToken"].is_string() {
        return Some("pendingRefundToken is required.".into());
    }
    if !body["sampleContentProvided"].is_boolean() {
        return Some("sampleContentProvided is required.".into());
    }
    if !matches!(
        body["refundPreference"].as_str(),
        Some("DECLINE" | "APPROVE" | "NEUTRAL")
    ) {
        return Some("refundPreference must be DECLINE, APPROVE or NEUTRAL.".into());
    }
    if let Some(m) = fields.get("consumptionPercentageMilliunits") {
        if m.as_u64().is_none_or(|m| m > 100_000) {
            return Some("consumptionPercentageMilliunits must be within [0, 100000].".into());
        }
    }
    if let Some(events) = fields.get("consumptionUsageEvents") {
        let Some(list) = events.as_array() else {
            return Some("consumptionUsageEvents must be a list.".into());
        };
        if list.len() > 1000 {
            return Some("consumptionUsageEvents has over 1000 items.".into());
        }
        for e in list {
            let time = e["consumptionTime"].as_str().unwrap_or("");
            if time::OffsetDateTime::parse(time, &time::format_description::well_known::Rfc3339)
                .is_err()
            {
                return Some(format!("Invalid value at consumptionTime: {time:?}"));
            }
        }
    }
    None
}

async fn orders_post(
    State(g): State<FakeGoogle>,
    Path((package, order)): Path<(String, String)>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let Some(order) = order.strip_suffix(":reviewrefund").map(str::to_string) else {
        return google_error(404, "NOT_FOUND", "Method not found.");
    };
    if let Err(r) = admit(&g, &package, "orders.reviewrefund", &headers).await {
        return r;
    }
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return google_error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.");
    };
    if let Some(why) = review_body_error(&body) {
        return google_error(400, "INVALID_ARGUMENT", &why);
    }
    let mut s = g.state.lock().unwrap();
    let Some(token) = s.refund_reviews.get(&(package, order.clone())).cloned() else {
        return google_error(404, "NOT_FOUND", "The order was not found.");
    };
    if body["pendingRefundToken"] != token.as_str() {
        return google_error(
            400,
            "INVALID_ARGUMENT",
            "The pending refund token is invalid.",
        );
    }
    if s.review_answers.iter().any(|(o, _)| *o == order) {
        return google_error(
            400,
            "FAILED_PRECONDITION",
            "The pending refund review has already been answered.",
        );
    }
    s.review_answers.push((order, body));
    Json(json!({})).into_response()
}
