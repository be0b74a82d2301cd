//! [`TokenVerifier`]: fixed keys (from the profile, a JWKS document or a list) plus a
//! [`Policy`]. Synchronous and pure; the signature check is
//! `payseal_protocol::verdict::VerdictVerifier`'s.

use payseal_protocol::profile::{Profile, ProfileError};
use payseal_protocol::verdict::{Jwks, VerdictError, VerdictPublicKey, VerdictVerifier};
use payseal_protocol::VerdictClaims;

use crate::delivery::{DeliveryError, DeliveryGuard};
use crate::policy::{Grant, Policy, TokenError};
use crate::replay::{ReplayError, ReplayGuard};

/// Checks verdict tokens against a fixed set of verdict keys and a [`Policy`].
///
/// For keys that follow the verifier's rotation, use [`crate::JwksTokenVerifier`].
#[derive(Debug, Clone)]
pub struct TokenVerifier {
    verdicts: VerdictVerifier,
    policy: Policy,
}

impl TokenVerifier {
    /// Trust `keys`; accept what `policy` allows.
    pub fn new(keys: Vec<VerdictPublicKey>, policy: Policy) -> Self {
        let verdicts = VerdictVerifier::new(keys).with_skew(policy.skew_secs());
        Self { verdicts, policy }
    }
    /// Trust the verdict keys of a parsed profile (the file `payseal-verifier profile` prints).
    pub fn from_profile(profile: &Profile, policy: Policy) -> Result<Self, ProfileError> {
        Ok(Self::new(profile.verdict_keys.clone(), policy))
    }
    /// Trust the verdict keys of a profile given as JSON.
    pub fn from_profile_json(json: &str, policy: Policy) -> Result<Self, ProfileError> {
        Self::from_profile(&Profile::parse(json)?, policy)
    }
    /// Trust every key of a JWK Set (e.g. a saved copy of `GET /v1/keys`); refuses a set
    /// with a key that is not an Ed25519 verdict key.
    pub fn from_jwks(jwks: &Jwks, policy: Policy) -> Result<Self, VerdictError> {
        Ok(Self::new(jwks.public_keys()?, policy))
    }
    /// The policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }
    /// The trusted keys.
    pub fn keys(&self) -> &[VerdictPublicKey] {
        self.verdicts.keys()
    }

    /// The claims of a genuine, unexpired token, whatever its app or outcome (for logging a
    /// `not_paid` reason or another app's token). Grants nothing.
    pub fn verified_claims(&self, token: &str, now: i64) -> Result<VerdictClaims, TokenError> {
        self.verdicts.verify(token, now).map_err(TokenError::from)
    }

    /// Signature, `exp`/`iat`, then the policy (app, issuer, environment, age, outcome), at
    /// `now` (Unix seconds; [`crate::unix_now`]). No replay check: use this when the replay
    /// record is written in the same database transaction as the delivery.
    pub fn check(&self, token: &str, now: i64) -> Result<Grant, TokenError> {
        let claims = self.verified_claims(token, now)?;
        self.policy.evaluate(&claims, now)
    }

    /// [`Self::check`], then claim the token's `jti` in `replay` (a token is accepted once),
    /// then the purchase in `delivery` (a purchase is delivered once, whichever of its tokens
    /// comes first): the returned grant is to be delivered now. Another token of a delivered
    /// purchase is [`TokenError::AlreadyDelivered`]. If the delivery then fails, call
    /// [`DeliveryGuard::release`] with the grant so a later token delivers it.
    pub fn accept(
        &self,
        token: &str,
        now: i64,
        replay: &dyn ReplayGuard,
        delivery: &dyn DeliveryGuard,
    ) -> Result<Grant, TokenError> {
        let grant = self.check(token, now)?;
        claim(&grant, &self.policy, now, replay, delivery)?;
        Ok(grant)
    }

    /// [`Self::accept`] for a purchase of `product_id`: a `paid` token for another product is
    /// [`TokenError::WrongProduct`], refused before its `jti` or its purchase is claimed (so
    /// the purchase can still be delivered as what it is).
    pub fn accept_product(
        &self,
        token: &str,
        product_id: &str,
        now: i64,
        replay: &dyn ReplayGuard,
        delivery: &dyn DeliveryGuard,
    ) -> Result<Grant, TokenError> {
        let grant = self.check(token, now)?;
        grant.require_product(product_id)?;
        claim(&grant, &self.policy, now, replay, delivery)?;
        Ok(grant)
    }
}

/// Record the grant's verdict id until it can no longer pass the `exp` check, then its purchase
/// as delivered. A replayed token never reaches the delivery records.
pub(crate) fn claim(
    grant: &Grant,
    policy: &Policy,
    now: i64,
    replay: &dyn ReplayGuard,
    delivery: &dyn DeliveryGuard,
) -> Result<(), TokenError> {
    let keep_until = grant.claims.exp.saturating_add(policy.skew_secs());
    replay
        .claim(&grant.verdict_id, keep_until, now)
        .map_err(|e| match e {
            ReplayError::Seen => TokenError::Replayed {
                jti: grant.verdict_id.clone(),
            },
            ReplayError::Storage(why) => TokenError::ReplayStore(why),
        })?;
    delivery.claim(grant, now).map_err(|e| match e {
        DeliveryError::AlreadyDelivered { verdict_id, .. } => TokenError::AlreadyDelivered {
            transaction_id: grant.transaction_id.clone(),
            verdict_id,
        },
        DeliveryError::Storage(why) => TokenError::DeliveryStore(why),
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::delivery::MemoryDeliveryGuard;
    use crate::replay::MemoryReplayGuard;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    use payseal_protocol::verdict::VerdictSigningKey;
    use payseal_protocol::{Environment, Outcome, Reason, Redemption, Store};

    pub(crate) const NOW: i64 = 1_700_000_000;
    pub(crate) const APP: &str = "dev.payseal.demo";
    pub(crate) const ISS: &str = "https://verify.example.com";

    pub(crate) fn claims() -> VerdictClaims {
        VerdictClaims {
            iss: ISS.into(),
            iat: NOW,
            exp: NOW + 300,
            jti: "jti-1".into(),
            nonce: "bm9uY2Vub25jZW5vbmNl".into(),
            app: APP.into(),
            sub: "account-1".into(),
            store: Store::Sandbox,
            environment: Some(Environment::Sandbox),
            product_id: Some("coins_100".into()),
            transaction_id: Some("tx-1".into()),
            original_transaction_id: None,
            quantity: Some(1),
            purchased_at: Some(1_699_999_000_000),
            kind: None,
            expires_at: None,
            receipt_sha256: "ab".repeat(32),
            outcome: Outcome::Paid,
            reason: None,
            redemption: Some(Redemption::First),
            subscription_state: None,
            store_checked: None,
            refund_history: None,
        }
    }

    pub(crate) fn key(kid: &str) -> VerdictSigningKey {
        VerdictSigningKey::from_seed(kid, [kid.len() as u8; 32])
    }

    fn verifier() -> TokenVerifier {
        TokenVerifier::new(
            vec![key("v1").public_key()],
            Policy::new(APP).with_issuer(ISS),
        )
    }

    fn sign(c: &VerdictClaims) -> String {
        key("v1").sign(c).unwrap()
    }

    fn reheader(token: &str, header: &str) -> String {
        let (_, rest) = token.split_once('.').unwrap();
        format!("{}.{rest}", URL_SAFE_NO_PAD.encode(header))
    }

    #[test]
    fn genuine_token_granted_once() {
        let (guard, delivered) = (MemoryReplayGuard::new(), MemoryDeliveryGuard::new());
        let token = sign(&claims());
        let grant = verifier()
            .accept(&token, NOW + 1, &guard, &delivered)
            .unwrap();
        assert_eq!(grant.account, "account-1");
        assert_eq!(grant.transaction_id, "tx-1");
        assert_eq!(
            verifier()
                .accept(&token, NOW + 2, &guard, &delivered)
                .unwrap_err(),
            TokenError::Replayed {
                jti: "jti-1".into()
            }
        );
        // check() alone does not consult the guard.
        assert!(verifier().check(&token, NOW + 2).is_ok());
    }

    #[test]
    fn v1_and_v2_verdicts_are_both_accepted_and_v2_claims_reach_the_grant() {
        // A v1 verdict (what a v1 SDK's request gets): no new claims.
        let grant = verifier().check(&sign(&claims()), NOW).unwrap();
        assert_eq!(
            (grant.subscription_state, grant.store_checked),
            (None, None)
        );
        // A v2 verdict of a live-checked subscription in its grace period.
        let mut v2 = claims();
        v2.kind = Some(payseal_protocol::PurchaseKind::Subscription);
        v2.expires_at = Some((NOW + 3600) * 1000);
        v2.subscription_state = Some(payseal_protocol::SubscriptionState::InGracePeriod);
        v2.store_checked = Some(true);
        let grant = verifier().check(&sign(&v2), NOW).unwrap();
        assert_eq!(
            grant.subscription_state,
            Some(payseal_protocol::SubscriptionState::InGracePeriod)
        );
        assert_eq!(grant.store_checked, Some(true));
        // Paid on the signature alone: said so.
        v2.store_checked = Some(false);
        assert_eq!(
            verifier().check(&sign(&v2), NOW).unwrap().store_checked,
            Some(false)
        );
        // The v2 reasons refuse like any other.
        for reason in [Reason::OnHold, Reason::Paused, Reason::RefundLimit] {
            let mut c = claims();
            c.outcome = Outcome::NotPaid;
            c.reason = Some(reason);
            c.redemption = None;
            assert_eq!(
                verifier().check(&sign(&c), NOW).unwrap_err(),
                TokenError::NotPaid {
                    reason: Some(reason)
                }
            );
        }
    }

    #[test]
    fn refused_tokens_do_not_consume_the_jti() {
        let (guard, delivered) = (MemoryReplayGuard::new(), MemoryDeliveryGuard::new());
        let mut other_app = claims();
        other_app.app = "com.other".into();
        assert!(matches!(
            verifier().accept(&sign(&other_app), NOW, &guard, &delivered),
            Err(TokenError::WrongApp { .. })
        ));
        assert!(guard.is_empty(NOW));
        assert!(delivered.is_empty());
    }

    #[test]
    fn a_token_for_another_product_claims_nothing_and_its_own_product_delivers() {
        let (guard, delivered) = (MemoryReplayGuard::new(), MemoryDeliveryGuard::new());
        let token = sign(&claims()); // paid, coins_100
        assert_eq!(
            verifier()
                .accept_product(&token, "coins_10000", NOW, &guard, &delivered)
                .unwrap_err(),
            TokenError::WrongProduct {
                expected: "coins_10000".into(),
                found: "coins_100".into()
            }
        );
        assert!(guard.is_empty(NOW));
        assert!(delivered.is_empty());
        let grant = verifier()
            .accept_product(&token, "coins_100", NOW, &guard, &delivered)
            .unwrap();
        assert_eq!(grant.product_id, "coins_100");
    }

    /// A token of purchase `tx` with its own `jti`, as each verification of it gives.
    fn token_of(tx: &str, jti: &str, redemption: Redemption) -> String {
        let mut c = claims();
        c.transaction_id = Some(tx.into());
        c.jti = jti.into();
        c.redemption = Some(redemption);
        sign(&c)
    }

    /// An app server's guards, presented tokens of purchases.
    #[derive(Default)]
    struct Guards {
        seen: MemoryReplayGuard,
        delivered: MemoryDeliveryGuard,
    }

    impl Guards {
        /// `accept` of a fresh token of purchase `tx` with the id `jti`.
        fn present(
            &self,
            tx: &str,
            jti: &str,
            redemption: Redemption,
        ) -> Result<Grant, TokenError> {
            let token = token_of(tx, jti, redemption);
            verifier().accept(&token, NOW, &self.seen, &self.delivered)
        }
    }

    #[test]
    fn re_verified_tokens_of_one_purchase_deliver_once() {
        let server = Guards::default();
        let first = server.present("tx-1", "j1", Redemption::First).unwrap();
        assert_eq!(first.verdict_id, "j1");
        // Five more verifications of the same purchase: five fresh jtis, none delivers.
        for i in 2..7 {
            assert_eq!(
                server
                    .present("tx-1", &format!("j{i}"), Redemption::Repeat)
                    .unwrap_err(),
                TokenError::AlreadyDelivered {
                    transaction_id: "tx-1".into(),
                    verdict_id: "j1".into()
                }
            );
        }
        // Each of those tokens is spent too: replaying one is a replay, not a delivery.
        assert!(matches!(
            server.present("tx-1", "j2", Redemption::Repeat),
            Err(TokenError::Replayed { .. })
        ));
        // Another purchase of the same product by the same account is delivered.
        let second = server.present("tx-2", "j9", Redemption::First).unwrap();
        assert_eq!(second.transaction_id, "tx-2");
        assert_eq!(server.delivered.len(), 2);
    }

    #[test]
    fn a_repeat_of_an_undelivered_purchase_delivers() {
        // The verifier said `first` before, but this server has no record (its delivery failed
        // and was released, or the token never arrived): `repeat` delivers then.
        let server = Guards::default();
        let lost = server.present("tx-1", "j1", Redemption::First).unwrap();
        server.delivered.release(&lost).unwrap();
        let grant = server.present("tx-1", "j2", Redemption::Repeat).unwrap();
        assert_eq!(grant.redemption, Redemption::Repeat);
        assert!(server.present("tx-1", "j3", Redemption::Repeat).is_err());
    }

    #[test]
    fn concurrent_tokens_of_one_purchase_deliver_once() {
        let (guard, delivered) = (
            std::sync::Arc::new(MemoryReplayGuard::new()),
            std::sync::Arc::new(MemoryDeliveryGuard::new()),
        );
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(8));
        let results: Vec<Result<Grant, TokenError>> = (0..8)
            .map(|i| {
                let (guard, delivered, barrier) =
                    (guard.clone(), delivered.clone(), barrier.clone());
                let token = token_of("tx-1", &format!("j{i}"), Redemption::Repeat);
                std::thread::spawn(move || {
                    barrier.wait();
                    verifier().accept(&token, NOW, &*guard, &*delivered)
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| h.join().unwrap())
            .collect();
        assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1);
        assert!(results
            .iter()
            .all(|r| matches!(r, Ok(_) | Err(TokenError::AlreadyDelivered { .. }))));
        assert_eq!(guard.len(NOW), 8, "every token is spent");
    }

    #[test]
    fn expired_refused() {
        assert_eq!(
            verifier().check(&sign(&claims()), NOW + 300 + 61),
            Err(TokenError::Expired)
        );
    }

    #[test]
    fn issued_in_future_refused() {
        assert_eq!(
            verifier().check(&sign(&claims()), NOW - 120),
            Err(TokenError::NotYetValid)
        );
    }

    #[test]
    fn too_old_refused() {
        let mut c = claims();
        c.exp = NOW + 3600;
        let v = TokenVerifier::new(
            vec![key("v1").public_key()],
            Policy::new(APP).with_max_age(Some(std::time::Duration::from_secs(60))),
        );
        assert!(matches!(
            v.check(&sign(&c), NOW + 200),
            Err(TokenError::TooOld { .. })
        ));
    }

    #[test]
    fn unknown_key_refused() {
        let token = key("other").sign(&claims()).unwrap();
        assert_eq!(
            verifier().check(&token, NOW),
            Err(TokenError::UnknownKey(Some("other".into())))
        );
    }

    #[test]
    fn forged_signature_refused() {
        // Signed by another key under the trusted kid.
        let forged = VerdictSigningKey::from_seed("v1", [9; 32])
            .sign(&claims())
            .unwrap();
        assert_eq!(
            verifier().check(&forged, NOW),
            Err(TokenError::BadSignature)
        );
        // Payload altered after signing.
        let token = sign(&claims());
        let parts: Vec<&str> = token.split('.').collect();
        let mut c = claims();
        c.quantity = Some(100);
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&c).unwrap());
        let altered = format!("{}.{payload}.{}", parts[0], parts[2]);
        assert_eq!(
            verifier().check(&altered, NOW),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn algorithm_and_type_confusion_refused() {
        let token = sign(&claims());
        let hs = reheader(
            &token,
            r#"{"alg":"HS256","typ":"payseal-verdict+jwt","kid":"v1"}"#,
        );
        assert_eq!(
            verifier().check(&hs, NOW),
            Err(TokenError::Algorithm("HS256".into()))
        );
        let none = reheader(
            &token,
            r#"{"alg":"none","typ":"payseal-verdict+jwt","kid":"v1"}"#,
        );
        assert!(matches!(
            verifier().check(&none, NOW),
            Err(TokenError::Algorithm(_))
        ));
        let jwt = reheader(&token, r#"{"alg":"EdDSA","typ":"JWT","kid":"v1"}"#);
        assert_eq!(verifier().check(&jwt, NOW), Err(TokenError::Type));
        assert!(matches!(
            verifier().check("not.a-token", NOW),
            Err(TokenError::Malformed(_))
        ));
    }

    #[test]
    fn wrong_issuer_and_not_paid_refused() {
        let mut c = claims();
        c.iss = "https://other-verifier.example".into();
        assert!(matches!(
            verifier().check(&sign(&c), NOW),
            Err(TokenError::WrongIssuer { .. })
        ));
        let mut c = claims();
        c.outcome = Outcome::NotPaid;
        c.reason = Some(Reason::Revoked);
        c.redemption = None;
        let token = sign(&c);
        assert_eq!(
            verifier().check(&token, NOW),
            Err(TokenError::NotPaid {
                reason: Some(Reason::Revoked)
            })
        );
        // The claims are still readable for logging.
        assert_eq!(
            verifier().verified_claims(&token, NOW).unwrap().reason,
            Some(Reason::Revoked)
        );
    }

    #[test]
    fn replay_store_failure_refuses() {
        struct Down;
        impl ReplayGuard for Down {
            fn claim(&self, _: &str, _: i64, _: i64) -> Result<(), ReplayError> {
                Err(ReplayError::Storage("database down".into()))
            }
        }
        let delivered = MemoryDeliveryGuard::new();
        assert_eq!(
            verifier().accept(&sign(&claims()), NOW, &Down, &delivered),
            Err(TokenError::ReplayStore("database down".into()))
        );
        assert!(delivered.is_empty(), "a refused token claims no purchase");
    }

    #[test]
    fn delivery_store_failure_refuses() {
        struct Down;
        impl DeliveryGuard for Down {
            fn claim(&self, _: &Grant, _: i64) -> Result<(), DeliveryError> {
                Err(DeliveryError::Storage("database down".into()))
            }
            fn release(&self, _: &Grant) -> Result<(), DeliveryError> {
                Err(DeliveryError::Storage("database down".into()))
            }
        }
        assert_eq!(
            verifier().accept(&sign(&claims()), NOW, &MemoryReplayGuard::new(), &Down),
            Err(TokenError::DeliveryStore("database down".into()))
        );
    }

    #[test]
    fn replay_guard_keeps_until_exp_plus_skew() {
        let guard = MemoryReplayGuard::new();
        verifier()
            .accept(&sign(&claims()), NOW, &guard, &MemoryDeliveryGuard::new())
            .unwrap();
        assert_eq!(guard.len(NOW + 300 + 60), 1);
        assert_eq!(guard.len(NOW + 300 + 61), 0);
    }

    #[test]
    fn keys_from_profile_and_jwks() {
        let jwks = Jwks::from_keys(&[key("v1").public_key(), key("v22").public_key()]);
        let v = TokenVerifier::from_jwks(&jwks, Policy::new(APP)).unwrap();
        assert_eq!(v.keys().len(), 2);
        assert!(v.check(&sign(&claims()), NOW).is_ok());
        assert!(TokenVerifier::from_profile_json("{}", Policy::new(APP)).is_err());
    }
}
