//! Protocol v2 next to v1: a verdict downgraded for a v1 client ([`VerdictClaims::for_protocol`])
//! passes v1's frozen parser (`v1/mod.rs`), and the same verdict undowngraded does not, so an
//! SDK or application server already shipped keeps working against a v2 verifier.

#[path = "v1/mod.rs"]
mod v1;

use payseal_protocol::verdict::{VerdictSigningKey, VerdictVerifier};
use payseal_protocol::{
    Environment, Outcome, PurchaseKind, Reason, Redemption, Store, SubscriptionState,
    VerdictClaims, MIN_PROTOCOL_VERSION, PROTOCOL_VERSION,
};

const NOW: i64 = 1_760_000_000;

/// A v2 `paid` subscription verdict carrying every new claim.
fn v2_paid() -> VerdictClaims {
    VerdictClaims {
        iss: "https://verify.example.com".into(),
        iat: NOW,
        exp: NOW + 300,
        jti: "j-1".into(),
        nonce: "bm9uY2Vub25jZW5vbmNl".into(),
        app: "dev.payseal.demo".into(),
        sub: "account-1".into(),
        store: Store::GooglePlay,
        environment: Some(Environment::Production),
        product_id: Some("premium_monthly".into()),
        transaction_id: Some("GPA.1".into()),
        original_transaction_id: None,
        quantity: Some(1),
        purchased_at: Some(1_759_999_000_000),
        kind: Some(PurchaseKind::Subscription),
        expires_at: Some(1_762_000_000_000),
        receipt_sha256: "ab".repeat(32),
        outcome: Outcome::Paid,
        reason: None,
        redemption: Some(Redemption::First),
        subscription_state: Some(SubscriptionState::InGracePeriod),
        store_checked: Some(true),
        refund_history: Some(payseal_protocol::verdict::RefundHistoryClaim {
            total: payseal_protocol::verdict::RefundCounts {
                last_30_days: 1,
                last_365_days: 2,
                all_time: 3,
            },
            by_store: [(
                "google_play".to_string(),
                payseal_protocol::verdict::RefundCounts {
                    last_30_days: 1,
                    last_365_days: 2,
                    all_time: 3,
                },
            )]
            .into(),
        }),
    }
}

fn not_paid(reason: Reason) -> VerdictClaims {
    let mut c = v2_paid();
    c.outcome = Outcome::NotPaid;
    c.reason = Some(reason);
    c.redemption = None;
    c.subscription_state = Some(SubscriptionState::OnHold);
    c.store_checked = Some(false);
    c
}

fn key() -> VerdictSigningKey {
    VerdictSigningKey::from_seed("k1", [3; 32])
}

/// Sign, verify with the current verifier, and parse the token's claims as v1 does.
fn through_v1(claims: &VerdictClaims) -> Result<v1::VerdictClaims, String> {
    let token = key().sign(claims).unwrap();
    let verified = VerdictVerifier::new(vec![key().public_key()])
        .verify(&token, NOW)
        .unwrap();
    assert_eq!(&verified, claims, "v2 reads back what it signed");
    v1::parse_token_claims(&token)
}

#[test]
fn versions() {
    assert_eq!((MIN_PROTOCOL_VERSION, PROTOCOL_VERSION), (1, 2));
}

#[test]
fn a_v2_verdict_is_refused_by_v1_and_its_downgrade_is_accepted() {
    let full = v2_paid();
    let err = through_v1(&full).unwrap_err();
    assert!(err.contains("unknown field"), "{err}");

    let old = full.clone().for_protocol(1);
    assert_eq!(old.subscription_state, None);
    assert_eq!(old.store_checked, None);
    assert_eq!(old.refund_history, None);
    let parsed = through_v1(&old).unwrap();
    // Everything v1 knows is kept as it was.
    assert_eq!(parsed.outcome, v1::Outcome::Paid);
    assert_eq!(parsed.redemption, Some(v1::Redemption::First));
    assert_eq!(parsed.expires_at, full.expires_at);
    assert_eq!(parsed.kind, Some(v1::PurchaseKind::Subscription));
    assert_eq!(parsed.product_id, full.product_id);
    assert_eq!(parsed.jti, full.jti);
}

#[test]
fn each_new_reason_reaches_v1_as_its_nearest_v1_reason_and_stays_not_paid() {
    for (reason, v1_reason) in [
        (Reason::OnHold, v1::Reason::NotPurchased),
        (Reason::Paused, v1::Reason::NotPurchased),
        (Reason::RefundLimit, v1::Reason::Revoked),
    ] {
        assert!(through_v1(&not_paid(reason)).is_err(), "{reason} is not v1");
        let parsed = through_v1(&not_paid(reason).for_protocol(1)).unwrap();
        assert_eq!(parsed.outcome, v1::Outcome::NotPaid, "{reason}");
        assert_eq!(parsed.reason, Some(v1_reason), "{reason}");
        assert_eq!(parsed.redemption, None);
    }
}

#[test]
fn every_reason_downgraded_for_v1_parses_as_v1_and_v1_reasons_are_unchanged() {
    for reason in Reason::ALL {
        let claims = not_paid(reason).for_protocol(1);
        let parsed = through_v1(&claims).unwrap_or_else(|e| panic!("{reason}: {e}"));
        let expected: v1::Reason =
            serde_json::from_value(serde_json::json!(claims.reason.unwrap().as_str())).unwrap();
        assert_eq!(parsed.reason, Some(expected));
        if reason.since_protocol() == 1 {
            assert_eq!(claims.reason, Some(reason), "a v1 reason is never changed");
        } else {
            assert_ne!(claims.reason, Some(reason));
        }
        // A v2 client sees every reason as it is.
        assert_eq!(reason.for_protocol(2), reason);
        assert_eq!(not_paid(reason).for_protocol(2), not_paid(reason));
    }
}

#[test]
fn a_v2_verdict_keeps_the_new_claims_on_the_wire() {
    let claims = v2_paid().for_protocol(PROTOCOL_VERSION);
    let json = serde_json::to_value(&claims).unwrap();
    assert_eq!(json["subscription_state"], "in_grace_period");
    assert_eq!(json["store_checked"], true);
    let not_checked = not_paid(Reason::OnHold).for_protocol(2);
    let json = serde_json::to_value(&not_checked).unwrap();
    assert_eq!(json["reason"], "on_hold");
    assert_eq!(json["subscription_state"], "on_hold");
    assert_eq!(json["store_checked"], false);
}

#[test]
fn a_verdict_without_the_new_claims_is_byte_for_byte_v1() {
    // Absent claims are not serialized: a verifier that asks no store sends v1 bytes to v2
    // clients too, and a v2 client parses a v1 verdict.
    let mut c = v2_paid();
    c.subscription_state = None;
    c.store_checked = None;
    c.refund_history = None;
    let token = key().sign(&c).unwrap();
    assert_eq!(token, key().sign(&c.clone().for_protocol(1)).unwrap());
    assert!(v1::parse_token_claims(&token).is_ok());
}

#[test]
fn subscription_states_are_snake_case_on_the_wire() {
    for s in SubscriptionState::ALL {
        assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        let back: SubscriptionState = serde_json::from_value(s.as_str().into()).unwrap();
        assert_eq!(back, s);
        assert_eq!(s.to_string(), s.as_str());
    }
    let names: Vec<_> = SubscriptionState::ALL.iter().map(|s| s.as_str()).collect();
    assert_eq!(
        names,
        [
            "active",
            "in_grace_period",
            "on_hold",
            "paused",
            "canceled",
            "expired",
            "pending"
        ]
    );
    assert!(serde_json::from_str::<SubscriptionState>(r#""ACTIVE""#).is_err());
}

#[test]
fn the_v1_response_check_accepts_only_v1() {
    assert!(v1::parse_response(br#"{"v":1,"verdict":"a.b.c"}"#).is_ok());
    assert!(v1::parse_response(br#"{"v":2,"verdict":"a.b.c"}"#).is_err());
}
