//! Cross-check of the verdict JWS against `jsonwebtoken`, a JOSE library PaySeal did not write
//! (a dev-dependency only): a token signed by `payseal_protocol` verifies there, a token signed
//! there verifies here, byte for byte the same token, and a wrong key is refused both ways.
//! The interop suites (`tests/interop/`) do the same with node, Python, Go and the JVM.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ed25519_dalek::pkcs8::EncodePrivateKey;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use payseal_protocol::verdict::{
    VerdictError, VerdictSigningKey, VerdictVerifier, VERDICT_ALG, VERDICT_TYP,
};
use payseal_protocol::{Environment, Outcome, Reason, Store, VerdictClaims};

const NOW: i64 = 1_767_225_600;

fn claims(outcome: Outcome) -> VerdictClaims {
    VerdictClaims {
        iss: "https://verify.example.com".into(),
        iat: NOW,
        exp: NOW + 600,
        jti: "b3f0c9a2-1d4e-4f5a-8b6c-7d8e9f0a1b2c".into(),
        nonce: "q83vEjRWeJCrze8SNFZ4kA".into(),
        app: "dev.payseal.demo".into(),
        sub: "account \"quoted\" é".into(),
        store: Store::AppStore,
        environment: Some(Environment::Sandbox),
        product_id: Some("coins_100".into()),
        transaction_id: Some("2000000123456789".into()),
        original_transaction_id: Some("2000000123456700".into()),
        quantity: Some(3),
        purchased_at: Some(1_767_225_540_000),
        kind: None,
        expires_at: None,
        receipt_sha256: "cd".repeat(32),
        outcome,
        reason: (outcome == Outcome::NotPaid).then_some(Reason::AlreadyRedeemed),
        redemption: None,
        subscription_state: None,
        store_checked: None,
        refund_history: None,
    }
}

fn their_signing_key(key: &VerdictSigningKey) -> EncodingKey {
    let der = ed25519_dalek::SigningKey::from_bytes(&key.seed())
        .to_pkcs8_der()
        .unwrap();
    EncodingKey::from_ed_der(der.as_bytes())
}

fn their_verifying_key(key: &VerdictSigningKey) -> DecodingKey {
    DecodingKey::from_ed_components(&URL_SAFE_NO_PAD.encode(key.public_key().x)).unwrap()
}

fn their_validation() -> Validation {
    let mut v = Validation::new(Algorithm::EdDSA);
    v.validate_exp = false; // fixed test time; expiry is checked against NOW below
    v.required_spec_claims.clear();
    v
}

fn their_header(kid: &str) -> Header {
    let mut h = Header::new(Algorithm::EdDSA);
    h.typ = Some(VERDICT_TYP.to_owned());
    h.kid = Some(kid.to_owned());
    h
}

#[test]
fn our_tokens_verify_with_jsonwebtoken() {
    let key = VerdictSigningKey::from_seed("verdict-2026-01", [21; 32]);
    for outcome in [Outcome::Paid, Outcome::NotPaid] {
        let token = key.sign(&claims(outcome)).unwrap();
        let data = jsonwebtoken::decode::<VerdictClaims>(
            &token,
            &their_verifying_key(&key),
            &their_validation(),
        )
        .expect("jsonwebtoken accepts a PaySeal verdict");
        assert_eq!(data.claims, claims(outcome));
        assert_eq!(data.header.alg, Algorithm::EdDSA);
        assert_eq!(format!("{:?}", data.header.alg), VERDICT_ALG);
        assert_eq!(data.header.typ.as_deref(), Some(VERDICT_TYP));
        assert_eq!(data.header.kid.as_deref(), Some("verdict-2026-01"));
    }
}

#[test]
fn jsonwebtoken_tokens_verify_here_and_are_the_same_bytes() {
    let key = VerdictSigningKey::from_seed("v7", [22; 32]);
    let verifier = VerdictVerifier::new(vec![key.public_key()]);
    for outcome in [Outcome::Paid, Outcome::NotPaid] {
        let theirs = jsonwebtoken::encode(
            &their_header("v7"),
            &claims(outcome),
            &their_signing_key(&key),
        )
        .unwrap();
        assert_eq!(verifier.verify(&theirs, NOW).unwrap(), claims(outcome));
        // Ed25519 is deterministic and both write the same header and JSON.
        assert_eq!(theirs, key.sign(&claims(outcome)).unwrap());
    }
}

#[test]
fn a_wrong_key_is_refused_both_ways() {
    let key = VerdictSigningKey::from_seed("v1", [23; 32]);
    let other = VerdictSigningKey::from_seed("v1", [24; 32]);
    let ours_by_other = other.sign(&claims(Outcome::Paid)).unwrap();
    let err = jsonwebtoken::decode::<VerdictClaims>(
        &ours_by_other,
        &their_verifying_key(&key),
        &their_validation(),
    )
    .unwrap_err();
    assert_eq!(
        err.kind(),
        &jsonwebtoken::errors::ErrorKind::InvalidSignature
    );
    let theirs_by_other = jsonwebtoken::encode(
        &their_header("v1"),
        &claims(Outcome::Paid),
        &their_signing_key(&other),
    )
    .unwrap();
    assert_eq!(
        VerdictVerifier::new(vec![key.public_key()]).verify(&theirs_by_other, NOW),
        Err(VerdictError::Signature)
    );
}

#[test]
fn a_jsonwebtoken_token_without_our_typ_is_refused() {
    let key = VerdictSigningKey::from_seed("v1", [25; 32]);
    let mut header = their_header("v1");
    header.typ = Some("JWT".into());
    let token =
        jsonwebtoken::encode(&header, &claims(Outcome::Paid), &their_signing_key(&key)).unwrap();
    assert_eq!(
        VerdictVerifier::new(vec![key.public_key()]).verify(&token, NOW),
        Err(VerdictError::Type)
    );
}
