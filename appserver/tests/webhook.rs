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
