//! The webhook check an application server gets from this crate alone, on an event body the
//! verifier builds and a header the verifier's delivery worker computes.

use payseal_appserver::webhook::PURCHASE_PAID;
use payseal_appserver::{verify_webhook, WebhookError};
use payseal_protocol::{Environment, Outcome, Redemption, Store, VerdictClaims};

const NOW: i64 = 1_767_225_600;

fn claims() -> VerdictClaims {
    VerdictClaims {
        iss: "https://verify.example.com".into(),
        iat: NOW,
        exp: NOW + 600,
        jti: "jti-1".into(),
        nonce: "q83vEjRWeJCrze8SNFZ4kA".into(),
        app: "dev.payseal.demo".into(),
        sub: "alice".into(),
        store: Store::Sandbox,
        environment: Some(Environment::Sandbox),
        product_id: Some("coins_100".into()),
        transaction_id: Some("sbx-1".into()),
        original_transaction_id: None,
        quantity: Some(1),
        purchased_at: Some(NOW * 1000),
        kind: None,
        expires_at: None,
        receipt_sha256: "00".repeat(32),
        outcome: Outcome::Paid,
        reason: None,
        redemption: Some(Redemption::First),
        subscription_state: None,
        store_checked: None,
        refund_history: None,
    }
}

#[test]
fn a_verifier_signed_event_verifies_and_a_forged_one_does_not() {
    let delivery = payseal_verifier::webhook::paid_event(&claims(), NOW * 1000).unwrap();
    let header = payseal_verifier::webhook::signing::signature_header(
        b"per-app secret 0123456789",
        NOW,
        delivery.body.as_bytes(),
    );
    let event = verify_webhook(
        b"per-app secret 0123456789",
        &header,
        delivery.body.as_bytes(),
        NOW + 5,
        payseal_appserver::webhook::DEFAULT_TOLERANCE,
    )
    .unwrap();
    assert_eq!(event.id, "jti-1");
    assert_eq!(event.event_type, PURCHASE_PAID);
    assert_eq!(event.app, "dev.payseal.demo");
    assert_eq!(event.data["sub"], "alice");

    assert_eq!(
        verify_webhook(
            b"another secret 0123456789",
            &header,
            delivery.body.as_bytes(),
            NOW,
            payseal_appserver::webhook::DEFAULT_TOLERANCE,
        ),
        Err(WebhookError::BadSignature)
    );
    let tampered = delivery.body.replace("alice", "mallory");
    assert_eq!(
        verify_webhook(
            b"per-app secret 0123456789",
            &header,
            tampered.as_bytes(),
            NOW,
            payseal_appserver::webhook::DEFAULT_TOLERANCE,
        ),
        Err(WebhookError::BadSignature)
    );
}

/// Every event the verifier sends has a name the application server can match on, the refund
/// reversal (`purchase.reinstated`) included: the body is built and signed as the verifier's
/// worker does (protocol's event and signature), verified with this crate alone.
#[test]
fn every_event_kind_is_named_after_verification() {
    use payseal_appserver::webhook::{
        Event, EventKind, ReinstatedData, RevokedData, EVENT_HEADER, PURCHASE_REINSTATED,
        PURCHASE_REVOKED,
    };
    let secret = b"per-app secret 0123456789";
    let revoked = RevokedData {
        store: Store::AppStore,
        app: "dev.payseal.demo",
        transaction_id: "2000000123",
        sub: "alice",
        product_id: "coins_100",
        first_verdict_id: "jti-1",
        revoked_at: NOW,
        reason: "REFUND",
    };
    let reinstated = ReinstatedData {
        store: Store::AppStore,
        app: "dev.payseal.demo",
        transaction_id: "2000000123",
        sub: "alice",
        product_id: "coins_100",
        first_verdict_id: "jti-1",
        reinstated_at: NOW + 60,
        reason: "REFUND_REVERSED",
    };
    let body = |event_type: &str, data: serde_json::Value| {
        Event {
            id: format!("id-{event_type}"),
            event_type: event_type.to_owned(),
            created: NOW,
            app: "dev.payseal.demo".to_owned(),
            data,
        }
        .to_body()
        .unwrap()
    };
    let bodies = [
        (
            body(
                payseal_appserver::webhook::PURCHASE_PAID,
                serde_json::to_value(claims()).unwrap(),
            ),
            Some(EventKind::Paid),
        ),
        (
            body(PURCHASE_REVOKED, serde_json::to_value(&revoked).unwrap()),
            Some(EventKind::Revoked),
        ),
        (
            body(
                PURCHASE_REINSTATED,
                serde_json::to_value(&reinstated).unwrap(),
            ),
            Some(EventKind::Reinstated),
        ),
        // A type from a newer verifier: verified, and named as unknown (to be ignored).
        (body("purchase.renewed", serde_json::json!({})), None),
    ];
    for (body, kind) in bodies {
        let header = payseal_protocol::webhook::signature_header(secret, NOW, body.as_bytes());
        let event = verify_webhook(
            secret,
            &header,
            body.as_bytes(),
            NOW,
            payseal_appserver::webhook::DEFAULT_TOLERANCE,
        )
        .unwrap();
        assert_eq!(event.kind(), kind, "{body}");
        if let Some(kind) = kind {
            // What the `PaySeal-Event` header carries names the same kind.
            assert_eq!(
                EventKind::from_type(kind.as_str()),
                Some(kind),
                "{EVENT_HEADER}"
            );
        }
    }
    let event: payseal_appserver::WebhookEvent = serde_json::from_str(&body(
        PURCHASE_REINSTATED,
        serde_json::to_value(&reinstated).unwrap(),
    ))
    .unwrap();
    assert_eq!(event.kind(), Some(EventKind::Reinstated));
    assert_eq!(event.data["reinstated_at"], NOW + 60);
    assert_eq!(event.data["sub"], "alice");
}

/// A `subscription.updated` event verifies, is named, and its `data` parses typed; another
/// type is `None`, and a `subscription.updated` whose `data` is not one is a typed error.
#[test]
fn a_subscription_update_parses_typed() {
    use payseal_appserver::webhook::{
        EventKind, SubscriptionUpdatedData, DEFAULT_TOLERANCE, SUBSCRIPTION_UPDATED,
    };
    use payseal_protocol::SubscriptionState;
    let secret = b"whsec_test_secret";
    let now = 1_790_000_000;
    let data = serde_json::json!({
        "store": "google_play", "app": "com.example.game", "transaction_id": "token-1",
        "sub": "alice", "product_id": "gold", "first_verdict_id": "jti-1",
        "state": "on_hold", "expires_at": now + 86_400, "updated_at": now,
        "cause": "SUBSCRIPTION_ON_HOLD"
    });
    let body = |event_type: &str, data: &serde_json::Value| {
        serde_json::json!({"id": "evt-1", "type": event_type, "created": now,
            "app": "com.example.game", "data": data})
        .to_string()
    };
    let check = |body: &str| {
        let header = payseal_protocol::webhook::signature_header(secret, now, body.as_bytes());
        verify_webhook(secret, &header, body.as_bytes(), now, DEFAULT_TOLERANCE).unwrap()
    };
    let event = check(&body(SUBSCRIPTION_UPDATED, &data));
    assert_eq!(event.kind(), Some(EventKind::SubscriptionUpdated));
    let typed: SubscriptionUpdatedData = event.subscription_updated().unwrap().unwrap();
    assert_eq!(
        (typed.state, typed.expires_at, typed.sub.as_str()),
        (SubscriptionState::OnHold, Some(now + 86_400), "alice")
    );
    assert_eq!(typed.store, Store::GooglePlay);
    let other = check(&body(
        PURCHASE_PAID,
        &serde_json::to_value(claims()).unwrap(),
    ));
    assert_eq!(other.subscription_updated(), Ok(None));
    let mut bad = data.clone();
    bad["state"] = serde_json::json!("frozen");
    assert_eq!(
        check(&body(SUBSCRIPTION_UPDATED, &bad)).subscription_updated(),
        Err(WebhookError::MalformedBody)
    );
}
