//! Google Play real-time developer notifications end to end: a real verifier over TLS with
//! `[google_play.rtdn]` configured, a local "Google" serving its OIDC keys as a JWKS, and a real
//! webhook receiver. A Play purchase from the sandbox store is verified paid; then Pub/Sub push
//! requests (the real envelope, `message.data` = Base64 of a `DeveloperNotification`, a
//! Google-shaped RS256 OIDC token in `Authorization: Bearer`) are posted to
//! `/v1/stores/google-play/rtdn`:
//!
//! - forged or misdirected tokens (none, wrong audience, issuer, service account, unverified
//!   email, expired, unknown kid, attacker's key under Google's kid, `alg: none`, HS256 keyed
//!   with Google's public key) get 401/403 and change nothing;
//! - the genuine `voidedPurchaseNotification` gets 200, revokes the redemption (a new verify is
//!   `not_paid / revoked`) and the receiver gets `purchase.revoked`; the same message again is
//!   200 and sends nothing new;
//! - a purchase without an orderId is revoked by its purchaseToken; a key rotation is followed;
//!   unknown packages, test notifications and partial refunds are acknowledged and change
//!   nothing; an authenticated body that does not decode gets 400;
//! - `payseal_store_notifications_total` counts each;
//! - Google's key URL is fetched at most once per `MIN_REFETCH` whatever an attacker sends: 100
//!   pushes with random `kid`s while it answers 503, from a cold cache and after a successful
//!   fetch; a push whose `kid` is known is answered while a slow fetch is still in flight; a
//!   stale set answers while it is refreshed in the background, then the refreshed one rules.

mod common;
mod google_support;
mod webhook_support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use common::{play_order_id, StateDir, TestServer, APP};
use google_support::voided_scenario::purchase_token;
use google_support::{keys, push_claims, rs256, FakeGoogle};
use payseal_protocol::{Outcome, Reason, Redemption, Store};
use payseal_sandbox::Order;
use payseal_verifier::notifications::jwks::MIN_REFETCH;
use payseal_verifier::webhook::{PURCHASE_PAID, PURCHASE_REVOKED};
use serde_json::{json, Value};
use tokio::sync::Semaphore;
use webhook_support::{configure, RunningReceiver};

const RTDN: &str = "/v1/stores/google-play/rtdn";

/// The Pub/Sub push body of `notification`, as Pub/Sub sends it.
fn push_body(message_id: &str, notification: &Value) -> String {
    json!({
        "message": {
            "attributes": {},
            "data": STANDARD.encode(notification.to_string()),
            "messageId": message_id,
            "message_id": message_id,
            "publishTime": "2026-12-06T12:00:00.000Z",
            "publish_time": "2026-12-06T12:00:00.000Z"
        },
        "subscription": "projects/payseal-test/subscriptions/play-rtdn-push"
    })
    .to_string()
}

fn voided(package: &str, order_id: Option<&str>, token: &str, refund_type: i64) -> Value {
    let mut v = json!({
        "version": "1.0",
        "packageName": package,
        "eventTimeMillis": payseal_verifier::now_ms().to_string(),
        "voidedPurchaseNotification": {
            "purchaseToken": token,
            "productType": 2,
            "refundType": refund_type
        }
    });
    if let Some(o) = order_id {
        v["voidedPurchaseNotification"]["orderId"] = json!(o);
    }
    v
}

async fn post(server: &TestServer, auth: Option<&str>, body: &str) -> (u16, Value) {
    let mut request = server
        .client
        .post(server.url(RTDN))
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(token) = auth {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    if status == 401 {
        assert!(response.headers().contains_key("www-authenticate"));
    }
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn metric(text: &str, kind: &str, result: &str) -> f64 {
    let name = format!(
        "payseal_store_notifications_total{{store=\"google_play\",type=\"{kind}\",result=\"{result}\"}}"
    );
    text.lines()
        .find_map(|l| {
            l.strip_prefix(name.as_str())
                .and_then(|v| v.strip_prefix(' '))
        })
        .map(|v| v.trim().parse().unwrap())
        .unwrap_or(0.0)
}

fn set_claim(claim: &str, value: Value) -> Value {
    let mut c = push_claims();
    c[claim] = value;
    c
}

/// A fake Google, a webhook receiver, and a verifier whose configuration has the
/// `[google_play.rtdn]` table as an operator writes it.
async fn rtdn_server(webhook: bool) -> (FakeGoogle, RunningReceiver, TestServer) {
    let google = FakeGoogle::start().await;
    let receiver = RunningReceiver::start(0).await;
    let state = StateDir::new();
    if webhook {
        configure(&state.paths.config, &receiver.url());
    }
    google_support::configure_rtdn(&state.paths.config, &google);
    let server = TestServer::start_on(state, |_| {}).await;
    (google, receiver, server)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn play_voided_purchase_push_revokes_once_and_forged_pushes_change_nothing() {
    let (google, receiver, mut server) = rtdn_server(true).await;

    let receipt = server.state.issue(Store::GooglePlay);
    let order_id = play_order_id(&receipt);
    let token = purchase_token(&receipt);
    let v = server.verify("alice", &receipt).await;
    assert_eq!(
        (v.outcome, v.redemption),
        (Outcome::Paid, Some(Redemption::First))
    );
    let genuine = push_body("1001", &voided(APP, Some(&order_id), &token, 1));
    let not_revoked = |server: &TestServer| {
        let row = server
            .state
            .ledger()
            .lookup(Store::GooglePlay, APP, &order_id)
            .unwrap()
            .unwrap();
        row.revoked_at_ms.is_none()
    };

    // Forged, misdirected and malformed authentication: refused, nothing changes.
    let now = google_support::now_s();
    let k1 = |claims: &Value| google.push_token("k1", claims);
    let mut alg_none = push_claims().to_string();
    alg_none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","kid":"k1","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(alg_none)
    );
    // HS256 keyed with the JWKS's public key (the RS/HS confusion attack).
    let public_pem = {
        use rsa::pkcs8::{EncodePublicKey, LineEnding};
        keys()[0]
            .to_public_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap()
    };
    let mut hs_header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    hs_header.kid = Some("k1".into());
    let hs256 = jsonwebtoken::encode(
        &hs_header,
        &push_claims(),
        &jsonwebtoken::EncodingKey::from_secret(public_pem.as_bytes()),
    )
    .unwrap();
    let cases: Vec<(&str, Option<String>, u16)> = vec![
        ("no token", None, 401),
        ("not a JWT", Some("hello".into()), 401),
        (
            "wrong audience",
            Some(k1(&set_claim("aud", json!("https://elsewhere.test/push")))),
            403,
        ),
        (
            "wrong issuer",
            Some(k1(&set_claim("iss", json!("https://accounts.evil.test")))),
            403,
        ),
        (
            "another service account",
            Some(k1(&set_claim(
                "email",
                json!("someone@payseal-test.iam.gserviceaccount.com"),
            ))),
            403,
        ),
        (
            "email not verified",
            Some(k1(&set_claim("email_verified", json!(false)))),
            403,
        ),
        (
            "expired",
            Some(k1(&{
                let mut c = push_claims();
                c["iat"] = json!(now - 7200);
                c["exp"] = json!(now - 3600);
                c
            })),
            401,
        ),
        (
            "unknown kid",
            Some(rs256("k-unknown", &keys()[0], &push_claims())),
            401,
        ),
        (
            "attacker's key under Google's kid",
            Some(rs256("k1", &keys()[2], &push_claims())),
            401,
        ),
        ("alg none", Some(alg_none), 401),
        ("HS256 with the public key", Some(hs256), 401),
    ];
    for (what, auth, want) in &cases {
        let (status, _) = post(&server, auth.as_deref(), &genuine).await;
        assert_eq!(status, *want, "{what}");
        assert!(not_revoked(&server), "{what} revoked the purchase");
    }
    let v = server.verify("alice", &receipt).await;
    assert_eq!(v.redemption, Some(Redemption::Repeat), "still paid");

    // The genuine push: revoked, once.
    let auth = google.push_token("k1", &push_claims());
    let (status, answer) = post(&server, Some(&auth), &genuine).await;
    assert_eq!((status, answer["result"].as_str()), (200, Some("revoked")));
    assert!(!not_revoked(&server));
    for account in ["alice", "bob"] {
        let v = server.verify(account, &receipt).await;
        assert_eq!(
            (v.outcome, v.reason),
            (Outcome::NotPaid, Some(Reason::Revoked)),
            "{account}"
        );
    }
    // Pub/Sub redelivers the same message: a duplicate of the recorded event, answered with
    // its result, nothing new.
    let (status, answer) = post(&server, Some(&auth), &genuine).await;
    assert_eq!(
        (
            status,
            answer["result"].as_str(),
            answer["duplicate"].as_bool()
        ),
        (200, Some("revoked"), Some(true))
    );
    receiver
        .wait_for(Duration::from_secs(20), "paid + revoked", |s| {
            s.events.len() >= 2
        })
        .await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let events = receiver.events();
    assert_eq!(events.len(), 2, "{events:?}");
    let paid = events
        .iter()
        .find(|e| e.event_type == PURCHASE_PAID)
        .unwrap();
    let gone = events
        .iter()
        .find(|e| e.event_type == PURCHASE_REVOKED)
        .unwrap();
    assert_eq!(gone.data["transaction_id"], order_id.as_str());
    assert_eq!(gone.data["store"], "google_play");
    assert_eq!(gone.data["sub"], "alice");
    assert_eq!(gone.data["first_verdict_id"], paid.id.as_str());
    assert!(
        gone.data["reason"]
            .as_str()
            .unwrap()
            .contains("voided one-time product"),
        "{}",
        gone.data["reason"]
    );

    // A purchase with no orderId (its ledger key is the purchaseToken), announced with a new
    // Google key: the JWKS is fetched again for the unknown kid, the purchase revoked by token.
    let mut order = Order::new(Store::GooglePlay, APP, "coins_100");
    order.transaction_id = Some(String::new());
    let no_order = server.state.store.issue(&order).unwrap();
    let no_order_token = purchase_token(&no_order);
    assert_eq!(
        server.verify("carol", &no_order).await.redemption,
        Some(Redemption::First)
    );
    google
        .state
        .lock()
        .unwrap()
        .oidc_keys
        .push(("k2".into(), keys()[1].clone()));
    let fetches = google.state.lock().unwrap().jwks_fetches;
    // A refetch for an unknown kid happens at most every 2 s (the unknown-kid case above
    // fetched last).
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let auth2 = google.push_token("k2", &push_claims());
    let (status, answer) = post(
        &server,
        Some(&auth2),
        &push_body("1002", &voided(APP, None, &no_order_token, 1)),
    )
    .await;
    assert_eq!((status, answer["result"].as_str()), (200, Some("revoked")));
    assert_eq!(google.state.lock().unwrap().jwks_fetches, fetches + 1);
    let v = server.verify("carol", &no_order).await;
    assert_eq!(v.reason, Some(Reason::Revoked));

    // Acknowledged, nothing changed: another package, a partial refund, a test notification, a
    // pending purchase cancelled; a purchase never presented is refused before its first
    // presentation (a refusal row).
    let other = server.state.issue(Store::GooglePlay);
    let other_order = play_order_id(&other);
    assert_eq!(
        server.verify("dave", &other).await.redemption,
        Some(Redemption::First)
    );
    let now_ms = payseal_verifier::now_ms().to_string();
    for (body, result) in [
        (
            voided("com.not.configured", Some(&other_order), "t", 1),
            "unknown_package",
        ),
        (
            voided(APP, Some("GPA.0000-0000-0000-00000"), "never-seen", 1),
            "revoked_before_redemption",
        ),
        (
            voided(APP, Some(&other_order), &purchase_token(&other), 2),
            "partial_refund",
        ),
        (
            json!({"version": "1.0", "packageName": APP, "eventTimeMillis": now_ms,
                   "testNotification": {"version": "1.0"}}),
            "test",
        ),
        (
            json!({"version": "1.0", "packageName": APP, "eventTimeMillis": now_ms,
                   "oneTimeProductNotification": {"version": "1.0", "notificationType": 2,
                       "purchaseToken": purchase_token(&other), "sku": "coins_100"}}),
            "ignored",
        ),
    ] {
        let (status, answer) = post(&server, Some(&auth), &push_body("1003", &body)).await;
        assert_eq!((status, answer["result"].as_str()), (200, Some(result)));
    }
    assert_eq!(
        server.verify("dave", &other).await.redemption,
        Some(Redemption::Repeat),
        "the partial refund and the others left it paid"
    );

    // Authenticated but not a Play notification: 400 (Pub/Sub retries, then dead-letters).
    for body in [
        "not json".to_string(),
        json!({"message": {"data": "***", "messageId": "9"}}).to_string(),
        push_body("1004", &json!({"hello": "world"})),
    ] {
        let (status, _) = post(&server, Some(&auth), &body).await;
        assert_eq!(status, 400, "{body}");
    }

    let text = server.metrics_text().await;
    for (kind, result, n) in [
        ("voided_purchase", "revoked", 2.0),
        ("voided_purchase", "duplicate", 1.0),
        ("voided_purchase", "already_revoked", 0.0),
        ("voided_purchase", "unknown_package", 1.0),
        ("voided_purchase", "revoked_before_redemption", 1.0),
        ("voided_purchase", "partial_refund", 1.0),
        ("test", "test", 1.0),
        ("one_time_product", "ignored", 1.0),
        ("unknown", "unauthorized", 7.0),
        ("unknown", "forbidden", 4.0),
        ("unknown", "malformed", 3.0),
    ] {
        assert_eq!(metric(&text, kind, result), n, "{kind} {result}\n{text}");
    }
    server.stop().await.unwrap();
    assert_eq!(
        receiver
            .events()
            .iter()
            .filter(|e| e.event_type == PURCHASE_REVOKED)
            .count(),
        2
    );
}

/// Without `[google_play.rtdn]` the route does not exist.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_push_route_is_served_only_when_configured() {
    let mut server = TestServer::start().await;
    let (status, _) = post(&server, Some("x"), "{}").await;
    assert_eq!(status, 404);
    server.stop().await.unwrap();
}

/// The ledger cannot record the revocation (another writer holds the SQLite write lock): `503`
/// with `Retry-After`, nothing changed; Pub/Sub's redelivery then revokes it. (No webhook here:
/// its delivery worker would queue its own writes behind the lock too, and the request could
/// then end by the request timeout instead, its revocation still queued.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_the_ledger_cannot_record_gets_503_and_its_redelivery_revokes() {
    let (google, _receiver, mut server) = rtdn_server(false).await;
    let receipt = server.state.issue(Store::GooglePlay);
    let order_id = play_order_id(&receipt);
    assert_eq!(
        server.verify("alice", &receipt).await.redemption,
        Some(Redemption::First)
    );
    let body = push_body(
        "2001",
        &voided(APP, Some(&order_id), &purchase_token(&receipt), 1),
    );
    let auth = google.push_token("k1", &push_claims());
    {
        let blocker = rusqlite::Connection::open(&server.state.paths.ledger).unwrap();
        blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
        let response = server
            .client
            .post(server.url(RTDN))
            .bearer_auth(&auth)
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 503);
        assert!(response.headers().contains_key("retry-after"));
        let text = response.text().await.unwrap();
        assert!(
            text.contains("ledger"),
            "the ledger's 503, not a timeout: {text}"
        );
        blocker.execute_batch("ROLLBACK").unwrap();
    }
    let row = server
        .state
        .ledger()
        .lookup(Store::GooglePlay, APP, &order_id)
        .unwrap()
        .unwrap();
    assert!(row.revoked_at_ms.is_none());
    let (status, answer) = post(&server, Some(&auth), &body).await;
    assert_eq!((status, answer["result"].as_str()), (200, Some("revoked")));
    assert_eq!(
        metric(&server.metrics_text().await, "voided_purchase", "error"),
        1.0
    );
    server.stop().await.unwrap();
}

/// An authenticated-looking test notification (acknowledged, changes nothing).
fn test_push() -> String {
    push_body(
        "3001",
        &json!({"version": "1.0", "packageName": APP,
                "eventTimeMillis": payseal_verifier::now_ms().to_string(),
                "testNotification": {"version": "1.0"}}),
    )
}

/// A push token naming a random `kid` Google never published, as an attacker sends them (the
/// signature is junk: the key is looked up by `kid` before any signature is checked).
fn random_kid_token() -> String {
    let kid = format!("forged-{:016x}", rand::random::<u64>());
    let header = json!({"alg": "RS256", "typ": "JWT", "kid": kid});
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(push_claims().to_string()),
        URL_SAFE_NO_PAD.encode([7u8; 256])
    )
}

/// 100 pushes with random `kid`s, four at a time: every one refused with `401`.
async fn random_kid_storm(server: &TestServer) {
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let (client, url, body) = (server.client.clone(), server.url(RTDN), test_push());
        workers.spawn(async move {
            for _ in 0..25 {
                let response = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .bearer_auth(random_kid_token())
                    .body(body.clone())
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status().as_u16(), 401);
            }
        });
    }
    while let Some(done) = workers.join_next().await {
        done.unwrap();
    }
}

/// The key fetches allowed in `elapsed`: one, and one more per whole `MIN_REFETCH`.
fn allowed_fetches(elapsed: Duration) -> usize {
    1 + (elapsed.as_millis() / MIN_REFETCH.as_millis()) as usize
}

fn jwks_fetches(google: &FakeGoogle) -> usize {
    google.state.lock().unwrap().jwks_fetches
}

/// Cold cache, Google's key URL down: a storm of random `kid`s makes at most one fetch per
/// interval (it made one per push), and once the URL is back a genuine push is accepted
/// after the interval with one fetch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_kids_while_the_key_url_fails_fetch_at_most_once_per_interval() {
    let (google, _receiver, mut server) = rtdn_server(false).await;
    google.state.lock().unwrap().jwks_status = Some(503);
    let started = Instant::now();
    random_kid_storm(&server).await;
    let elapsed = started.elapsed();
    let fetches = jwks_fetches(&google);
    let allowed = allowed_fetches(elapsed);
    assert!(
        (1..=allowed).contains(&fetches),
        "{fetches} key fetches for 100 pushes in {elapsed:?}; at most {allowed} allowed"
    );

    google.state.lock().unwrap().jwks_status = None;
    tokio::time::sleep(MIN_REFETCH + Duration::from_millis(100)).await;
    let auth = google.push_token("k1", &push_claims());
    let (status, answer) = post(&server, Some(&auth), &test_push()).await;
    assert_eq!((status, answer["result"].as_str()), (200, Some("test")));
    assert_eq!(jwks_fetches(&google), fetches + 1);
    server.stop().await.unwrap();
}

/// After a successful fetch, the same storm (the URL down again) makes at most one more fetch
/// per interval, and the keys in hand still accept genuine pushes without fetching.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_kids_after_a_successful_fetch_fetch_at_most_once_more_per_interval() {
    let (google, _receiver, mut server) = rtdn_server(false).await;
    let auth = google.push_token("k1", &push_claims());
    let (status, _) = post(&server, Some(&auth), &test_push()).await;
    assert_eq!(status, 200);
    assert_eq!(jwks_fetches(&google), 1);

    google.state.lock().unwrap().jwks_status = Some(503);
    // Past the interval, so the storm may fetch (once).
    tokio::time::sleep(MIN_REFETCH + Duration::from_millis(100)).await;
    let started = Instant::now();
    random_kid_storm(&server).await;
    let elapsed = started.elapsed();
    let more = jwks_fetches(&google) - 1;
    let allowed = allowed_fetches(elapsed);
    assert!(
        (1..=allowed).contains(&more),
        "{more} more key fetches for 100 pushes in {elapsed:?}; at most {allowed} allowed"
    );

    let (status, answer) = post(&server, Some(&auth), &test_push()).await;
    assert_eq!((status, answer["result"].as_str()), (200, Some("test")));
    assert_eq!(jwks_fetches(&google), 1 + more, "a known kid fetched");
    server.stop().await.unwrap();
}

/// A slow key fetch (started by an unknown `kid`) is in flight: a push whose `kid` is known is
/// answered before Google answers that fetch, not after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_known_kid_is_answered_while_a_slow_key_fetch_is_in_flight() {
    let (google, _receiver, mut server) = rtdn_server(false).await;
    let auth = google.push_token("k1", &push_claims());
    let (status, _) = post(&server, Some(&auth), &test_push()).await;
    assert_eq!(status, 200);

    let gate = Arc::new(Semaphore::new(0));
    google.state.lock().unwrap().jwks_gate = Some(gate.clone());
    tokio::time::sleep(MIN_REFETCH + Duration::from_millis(100)).await;
    let unknown = {
        let (client, url, body) = (server.client.clone(), server.url(RTDN), test_push());
        tokio::spawn(async move {
            let response = client
                .post(&url)
                .bearer_auth(random_kid_token())
                .body(body)
                .send()
                .await
                .unwrap();
            response.status().as_u16()
        })
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while jwks_fetches(&google) < 2 {
        assert!(Instant::now() < deadline, "the unknown kid fetched no keys");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let (status, answer) = post(&server, Some(&auth), &test_push()).await;
    assert_eq!((status, answer["result"].as_str()), (200, Some("test")));
    assert_eq!(
        google.state.lock().unwrap().jwks_answered,
        1,
        "the known-kid push was answered only after the slow fetch"
    );
    assert!(!unknown.is_finished());
    gate.add_permits(1);
    assert_eq!(unknown.await.unwrap(), 401);
    assert_eq!(google.state.lock().unwrap().jwks_answered, 2);
    server.stop().await.unwrap();
}

/// The set is older than `jwks_cache_seconds`: a push whose `kid` is in hand is answered from
/// it at once while one refresh runs in the background (slow here), and the refreshed set is
/// used afterwards (a key Google withdrew is refused).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_key_set_is_refreshed_in_the_background_while_its_keys_answer() {
    let google = FakeGoogle::start().await;
    let state = StateDir::new();
    google_support::configure_rtdn(&state.paths.config, &google);
    let config = std::fs::read_to_string(&state.paths.config).unwrap();
    std::fs::write(
        &state.paths.config,
        config.replace("jwks_cache_seconds = 3600", "jwks_cache_seconds = 1"),
    )
    .unwrap();
    let mut server = TestServer::start_on(state, |_| {}).await;
    let auth = google.push_token("k1", &push_claims());
    let (status, _) = post(&server, Some(&auth), &test_push()).await;
    assert_eq!(status, 200);
    assert_eq!(jwks_fetches(&google), 1);

    // Google withdraws k1 for k2, and answers only when released; the set in hand goes stale.
    let gate = Arc::new(Semaphore::new(0));
    {
        let mut g = google.state.lock().unwrap();
        g.oidc_keys = vec![("k2".into(), keys()[1].clone())];
        g.jwks_gate = Some(gate.clone());
    }
    tokio::time::sleep(MIN_REFETCH + Duration::from_millis(100)).await;
    for _ in 0..3 {
        let (status, answer) = post(&server, Some(&auth), &test_push()).await;
        assert_eq!((status, answer["result"].as_str()), (200, Some("test")));
    }
    let g = || {
        let s = google.state.lock().unwrap();
        (s.jwks_fetches, s.jwks_answered)
    };
    assert_eq!(g(), (2, 1), "one refresh, not yet answered");
    gate.add_permits(1);
    let deadline = Instant::now() + Duration::from_secs(10);
    while g().1 < 2 {
        assert!(Instant::now() < deadline, "the refresh never ended");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (status, _) = post(&server, Some(&auth), &test_push()).await;
    assert_eq!(status, 401, "k1 is withdrawn in the refreshed set");
    let auth2 = google.push_token("k2", &push_claims());
    let (status, _) = post(&server, Some(&auth2), &test_push()).await;
    assert_eq!(status, 200);
    server.stop().await.unwrap();
}

/// With the app's Play Developer API, a push is a hint: a genuine push token re-sent with a
/// body naming another redeemed order (one Google says is still purchased) changes nothing;
/// the real void, confirmed by `products.get`, revokes; Google down gives `503`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_api_a_pushed_void_is_confirmed_with_google_first() {
    let google = FakeGoogle::start().await;
    google.register_account(google_support::API_ACCOUNT, &keys()[3]);
    let state = StateDir::new();
    google_support::configure_rtdn(&state.paths.config, &google);
    google_support::ack_scenario::configure_api_with(&state, &google, &[], "acknowledge = false");
    let mut server = TestServer::start_on(state, |_| {}).await;
    let victim = google_support::ack_scenario::buy(&server.state, &google, "coins_100");
    let refunded = google_support::ack_scenario::buy(&server.state, &google, "coins_100");
    for r in [&victim, &refunded] {
        assert_eq!(
            server.verify("alice", r).await.redemption,
            Some(Redemption::First)
        );
    }
    {
        let mut s = google.state.lock().unwrap();
        let key = (
            APP.to_string(),
            "coins_100".to_string(),
            purchase_token(&refunded),
        );
        s.products.get_mut(&key).unwrap()["purchaseState"] = 1.into();
    }
    let auth = google.push_token("k1", &push_claims());
    let row = |r: &payseal_protocol::Receipt| {
        server
            .state
            .ledger()
            .lookup(Store::GooglePlay, APP, &play_order_id(r))
            .unwrap()
            .unwrap()
    };

    // The captured token with a body naming the victim's order: Google says purchased.
    let forged = push_body(
        "2001",
        &voided(
            APP,
            Some(&play_order_id(&victim)),
            &purchase_token(&victim),
            1,
        ),
    );
    let (status, answer) = post(&server, Some(&auth), &forged).await;
    assert_eq!(
        (status, answer["result"].as_str()),
        (200, Some("not_confirmed"))
    );
    assert!(row(&victim).revoked_at_ms.is_none());

    // Google unreachable: 503, nothing changed, Pub/Sub redelivers.
    google.state.lock().unwrap().fail_next.extend([503; 10]);
    let genuine = push_body(
        "2002",
        &voided(
            APP,
            Some(&play_order_id(&refunded)),
            &purchase_token(&refunded),
            1,
        ),
    );
    let (status, _) = post(&server, Some(&auth), &genuine).await;
    assert_eq!(status, 503);
    assert!(row(&refunded).revoked_at_ms.is_none());
    google.state.lock().unwrap().fail_next.clear();

    // The real void, confirmed: revoked.
    let (status, answer) = post(&server, Some(&auth), &genuine).await;
    assert_eq!((status, answer["result"].as_str()), (200, Some("revoked")));
    assert!(row(&refunded).revoked_at_ms.is_some());
    let v = server.verify("alice", &refunded).await;
    assert_eq!(v.reason, Some(Reason::Revoked));
    server.stop().await.unwrap();
}

/// With the Play Developer API, a pushed void of a purchase never redeemed here (no product id
/// for `products.get`) changes nothing until Google lists it in `voidedpurchases.list`: a
/// captured push token naming an unredeemed order cannot make it unredeemable; the genuine push,
/// redelivered once Google lists the void, records it and the purchase is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_api_a_void_of_an_unredeemed_purchase_waits_for_google_s_list() {
    let google = FakeGoogle::start().await;
    google.register_account(google_support::API_ACCOUNT, &keys()[3]);
    let state = StateDir::new();
    google_support::configure_rtdn(&state.paths.config, &google);
    google_support::ack_scenario::configure_api_with(&state, &google, &[], "acknowledge = false");
    let mut server = TestServer::start_on(state, |_| {}).await;
    let unredeemed = google_support::ack_scenario::buy(&server.state, &google, "coins_100");
    let auth = google.push_token("k1", &push_claims());
    let body = push_body(
        "3001",
        &voided(
            APP,
            Some(&play_order_id(&unredeemed)),
            &purchase_token(&unredeemed),
            1,
        ),
    );
    let lookup = |server: &TestServer| {
        server
            .state
            .ledger()
            .lookup(Store::GooglePlay, APP, &play_order_id(&unredeemed))
            .unwrap()
    };

    // Not voided at Google: 503 (a genuine push is redelivered), nothing recorded.
    let (status, answer) = post(&server, Some(&auth), &body).await;
    assert_eq!(status, 503, "{answer}");
    assert!(
        lookup(&server).is_none(),
        "no refusal row from an unconfirmed push"
    );
    assert!(
        google
            .api_requests()
            .iter()
            .any(|r| r.endpoint == "voidedpurchases.list"
                && r.query.get("type").map(String::as_str) == Some("1")),
        "asked Google's voided list"
    );

    // Google lists the void: the redelivered push records it, and the purchase is refused.
    google.add_voided(
        APP,
        payseal_verifier::now_ms(),
        &play_order_id(&unredeemed),
        &purchase_token(&unredeemed),
    );
    let (status, answer) = post(&server, Some(&auth), &body).await;
    assert_eq!(
        (status, answer["result"].as_str()),
        (200, Some("revoked_before_redemption"))
    );
    assert!(lookup(&server).is_some_and(|r| r.revoked_at_ms.is_some()));
    let v = server.verify("alice", &unredeemed).await;
    assert_eq!(v.reason, Some(Reason::Revoked));
    server.stop().await.unwrap();
}
