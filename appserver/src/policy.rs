//! What an application server demands of a verified verdict before it delivers: the
//! [`Policy`], the [`Grant`] it yields and every refusal as a [`TokenError`]. Pure functions
//! of (claims, policy, now); no I/O.

use std::time::Duration;

use payseal_protocol::verdict::VerdictError;
use payseal_protocol::{
    Environment, Outcome, PurchaseKind, Reason, Redemption, Store, SubscriptionState, VerdictClaims,
};

/// Why a verdict token was refused. Each variant is a distinct reason not to deliver.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a compact JWS, or its header or claims do not parse.
    #[error("malformed verdict token: {0}")]
    Malformed(String),
    /// The `alg` header is not `EdDSA` (`HS256`, `none`, ... are never accepted).
    #[error("verdict algorithm {0:?} is not accepted")]
    Algorithm(String),
    /// The `typ` header is not `payseal-verdict+jwt`.
    #[error("not a PaySeal verdict (typ header)")]
    Type,
    /// The `kid` is missing or not one of the trusted keys (even after a JWKS refetch).
    #[error("unknown verdict key id {0:?}")]
    UnknownKey(Option<String>),
    /// The signature does not verify with the key named by `kid`.
    #[error("verdict signature does not verify")]
    BadSignature,
    /// `exp` has passed (beyond the allowed clock skew).
    #[error("verdict expired")]
    Expired,
    /// `iat` lies in the future (beyond the allowed clock skew).
    #[error("verdict issued in the future")]
    NotYetValid,
    /// The token was issued for another app.
    #[error("verdict is for app {found:?}, expected {expected:?}")]
    WrongApp {
        /// The app this server serves.
        expected: String,
        /// The token's `app` claim.
        found: String,
    },
    /// The token was issued by another verifier.
    #[error("verdict issued by {found:?}, expected {expected:?}")]
    WrongIssuer {
        /// The configured issuer (the verifier's public URL).
        expected: String,
        /// The token's `iss` claim.
        found: String,
    },
    /// The purchase's environment is not allowed here (a sandbox purchase on a production server).
    #[error("verdict environment {found:?} is not allowed")]
    WrongEnvironment {
        /// The token's `environment` claim, if any.
        found: Option<Environment>,
    },
    /// The token is older than the policy's maximum age (`now - iat`).
    #[error("verdict is {age_secs} s old, more than the allowed {max_secs} s")]
    TooOld {
        /// Age of the token in seconds.
        age_secs: i64,
        /// The policy's maximum.
        max_secs: i64,
    },
    /// The verifier decided `not_paid`; the token is genuine but grants nothing.
    #[error("not paid: {}", reason.map_or("no reason given", |r| r.as_str()))]
    NotPaid {
        /// The verifier's reason (`already_redeemed`, `revoked`, ...).
        reason: Option<Reason>,
    },
    /// A genuine `paid` verdict for another product than the one this purchase is about (a
    /// cheap receipt answering an expensive purchase, when the app did not name the product to
    /// the verifier). Deliver nothing.
    #[error("verdict is for product {found:?}, expected {expected:?}")]
    WrongProduct {
        /// The product this purchase is about.
        expected: String,
        /// The token's `product_id` claim.
        found: String,
    },
    /// A `paid` verdict lacks a claim a grant needs (`product_id`, `transaction_id`, ...).
    #[error("paid verdict lacks the {0} claim")]
    Incomplete(&'static str),
    /// This token (`jti`) was already accepted by this server.
    #[error("verdict {jti:?} was already accepted")]
    Replayed {
        /// The token's id.
        jti: String,
    },
    /// The replay guard's storage failed; nothing was granted.
    #[error("replay guard unavailable: {0}")]
    ReplayStore(String),
    /// A genuine `paid` token (usually `redemption: repeat`, with a fresh `jti`) for a purchase
    /// this server has already delivered: deliver nothing. Not an attack; the app can be told
    /// that the item is already there.
    #[error("purchase {transaction_id:?} was already delivered (by verdict {verdict_id:?})")]
    AlreadyDelivered {
        /// The store's transaction id of the purchase.
        transaction_id: String,
        /// The `jti` of the token that delivered it.
        verdict_id: String,
    },
    /// The delivery guard's storage failed; nothing was granted.
    #[error("delivery records unavailable: {0}")]
    DeliveryStore(String),
    /// No keys to check against: the verifier's JWKS has never been fetched successfully.
    #[error("no verdict keys available: {0}")]
    NoKeys(String),
}

impl From<VerdictError> for TokenError {
    fn from(e: VerdictError) -> Self {
        match e {
            VerdictError::Malformed(why) => TokenError::Malformed(why),
            VerdictError::Algorithm(alg) => TokenError::Algorithm(alg),
            VerdictError::Type => TokenError::Type,
            VerdictError::UnknownKey(kid) => TokenError::UnknownKey(kid),
            VerdictError::Signature => TokenError::BadSignature,
            VerdictError::Expired => TokenError::Expired,
            VerdictError::NotYetValid => TokenError::NotYetValid,
            // A key that cannot be turned into a verifying key cannot vouch for the token.
            VerdictError::InvalidKey(_) => TokenError::BadSignature,
            // `VerdictError` is non-exhaustive: any newer refusal is still a refusal.
            other => TokenError::Malformed(other.to_string()),
        }
    }
}

/// What this application server accepts. Build with [`Policy::new`] and the `with_*` methods.
///
/// The app id is required: a token for another app of the same verifier must never grant here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    app: String,
    issuer: Option<String>,
    max_age: Option<Duration>,
    environments: Option<Vec<Environment>>,
    skew_secs: i64,
    product: Option<String>,
}

impl Policy {
    /// Default maximum token age: 10 minutes (the verifier's default `exp` is shorter still).
    pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(600);

    /// Accept tokens for `app` only; no issuer check, [`Self::DEFAULT_MAX_AGE`], any
    /// environment, the protocol's default clock skew (60 s).
    pub fn new(app: impl Into<String>) -> Self {
        Self {
            app: app.into(),
            issuer: None,
            max_age: Some(Self::DEFAULT_MAX_AGE),
            environments: None,
            skew_secs: payseal_protocol::verdict::VerdictVerifier::DEFAULT_SKEW_SECS,
            product: None,
        }
    }
    /// Also require `iss` to equal `issuer` (the verifier's public URL). Recommended.
    pub fn with_issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }
    /// Refuse tokens issued more than `max_age` (plus the clock skew) ago (`None`: rely on
    /// `exp` only).
    pub fn with_max_age(mut self, max_age: Option<Duration>) -> Self {
        self.max_age = max_age;
        self
    }
    /// Accept only purchases from these environments (e.g. `[Production]` on a live server).
    pub fn with_environments(mut self, environments: &[Environment]) -> Self {
        self.environments = Some(environments.to_vec());
        self
    }
    /// The allowed clock skew for `exp` and `iat`, in seconds.
    pub fn with_skew_secs(mut self, skew_secs: i64) -> Self {
        self.skew_secs = skew_secs.max(0);
        self
    }
    /// Accept only `paid` verdicts for `product_id` ([`TokenError::WrongProduct`] otherwise):
    /// for a server that checks one purchase of a known product. Per call, see
    /// `TokenVerifier::accept_product`.
    pub fn with_product(mut self, product_id: impl Into<String>) -> Self {
        self.product = Some(product_id.into());
        self
    }
    /// The app id tokens must carry.
    pub fn app(&self) -> &str {
        &self.app
    }
    /// The allowed clock skew in seconds.
    pub fn skew_secs(&self) -> i64 {
        self.skew_secs
    }

    /// Check verified claims against the policy at `now` (Unix seconds): app, issuer,
    /// environment, age, then outcome (a `paid` subscription whose `expires_at` has passed at
    /// `now` is refused as `NotPaid { reason: Some(Expired) }`, like the verifier's own
    /// `not_paid / expired`), then the product when the policy names one. Signature, `exp` and `iat` in the future are the
    /// caller's (the protocol's `VerdictVerifier`) to check first. Pure; no replay check.
    pub fn evaluate(&self, claims: &VerdictClaims, now: i64) -> Result<Grant, TokenError> {
        if claims.app != self.app {
            return Err(TokenError::WrongApp {
                expected: self.app.clone(),
                found: claims.app.clone(),
            });
        }
        if let Some(issuer) = &self.issuer {
            if &claims.iss != issuer {
                return Err(TokenError::WrongIssuer {
                    expected: issuer.clone(),
                    found: claims.iss.clone(),
                });
            }
        }
        if let Some(allowed) = &self.environments {
            if !claims.environment.is_some_and(|e| allowed.contains(&e)) {
                return Err(TokenError::WrongEnvironment {
                    found: claims.environment,
                });
            }
        }
        if let Some(max_age) = self.max_age {
            let max_secs = i64::try_from(max_age.as_secs()).unwrap_or(i64::MAX);
            let age_secs = now.saturating_sub(claims.iat);
            if age_secs > max_secs.saturating_add(self.skew_secs) {
                return Err(TokenError::TooOld { age_secs, max_secs });
            }
        }
        if claims.outcome == Outcome::Paid
            && claims
                .expires_at
                .is_some_and(|end| end <= now.saturating_mul(1000))
        {
            return Err(TokenError::NotPaid {
                reason: Some(Reason::Expired),
            });
        }
        let grant = Grant::from_claims(claims)?;
        if let Some(product) = &self.product {
            grant.require_product(product)?;
        }
        Ok(grant)
    }
}

/// What a genuine, fresh, `paid` verdict for this app grants: deliver `quantity` of
/// `product_id` to `account`, once per purchase.
///
/// Deliver by the purchase ([`crate::PurchaseKey`]: app, store, [`Grant::transaction_id`]),
/// never by the token: the same account may have the same purchase verified again and gets a
/// new token each time (fresh `jti`, `redemption: repeat`), which the replay guard does not
/// stop. `TokenVerifier::accept` does this with a [`crate::DeliveryGuard`]; a grant from
/// `check` alone has not been claimed.
///
/// **Subscriptions** (`kind == Some(Subscription)`): grant access until [`Grant::expires_at`]
/// (Unix ms). Each renewal is a purchase of its own (its own `transaction_id`, the chain's
/// `original_transaction_id`), so deliver each renewal once and keep the newest `expires_at`
/// per account. A subscription without `expires_at` (Google Play, App Store non-renewing) is
/// genuine and owned by this account, but the verdict does not say until when: take the period
/// from your product catalogue (non-renewing) or from the Play Developer API (Play).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The app's account id the verifier bound the purchase to (`sub`).
    pub account: String,
    /// The store product id.
    pub product_id: String,
    /// Quantity bought (1 when the store does not say).
    pub quantity: u32,
    /// The store's transaction id: with the app and the store, the key to deliver once by.
    pub transaction_id: String,
    /// The store's original transaction id, when it has one (App Store subscriptions: shared
    /// by the renewals, each of which is a purchase of its own; not part of the delivery key).
    pub original_transaction_id: Option<String>,
    /// `First`: the verifier saw this purchase for the first time; `Repeat`: the same account
    /// again, so it was probably delivered already: deliver only if your records say not.
    pub redemption: Redemption,
    /// The store.
    pub store: Store,
    /// Production or sandbox, when the verifier knew it.
    pub environment: Option<Environment>,
    /// Purchase time (Unix milliseconds), when the store gave one.
    pub purchased_at: Option<i64>,
    /// Consumable / non-consumable / subscription, when the store says.
    pub kind: Option<PurchaseKind>,
    /// Subscriptions: end of the paid period (Unix **milliseconds**), when the store signed
    /// one: grant access until then. Not the token's `exp`.
    pub expires_at: Option<i64>,
    /// Subscriptions, protocol v2: the state the store's server last gave (`active`,
    /// `in_grace_period`, `canceled`: a paid verdict is in one of these), when the verifier
    /// asked the store; `None` from a v1 verdict or when no live check is configured.
    pub subscription_state: Option<SubscriptionState>,
    /// Protocol v2: `Some(true)` the store's server confirmed the purchase live; `Some(false)`
    /// paid on the store's signature alone (the store's API could not be reached); `None` no
    /// live check configured (or a v1 verdict).
    pub store_checked: Option<bool>,
    /// The verdict's id (`jti`).
    pub verdict_id: String,
    /// When the verdict was issued (Unix seconds).
    pub issued_at: i64,
    /// All claims, for logging or anything the fields above leave out.
    pub claims: VerdictClaims,
}

impl Grant {
    /// The grant of a `paid` verdict; [`TokenError::NotPaid`] for `not_paid`.
    pub fn from_claims(claims: &VerdictClaims) -> Result<Self, TokenError> {
        if claims.outcome != Outcome::Paid {
            return Err(TokenError::NotPaid {
                reason: claims.reason,
            });
        }
        let need = |v: &Option<String>, name: &'static str| {
            v.clone()
                .filter(|s| !s.is_empty())
                .ok_or(TokenError::Incomplete(name))
        };
        Ok(Self {
            account: claims.sub.clone(),
            product_id: need(&claims.product_id, "product_id")?,
            quantity: claims.quantity.unwrap_or(1),
            transaction_id: need(&claims.transaction_id, "transaction_id")?,
            original_transaction_id: claims.original_transaction_id.clone(),
            redemption: claims
                .redemption
                .ok_or(TokenError::Incomplete("redemption"))?,
            store: claims.store,
            environment: claims.environment,
            purchased_at: claims.purchased_at,
            kind: claims.kind,
            expires_at: claims.expires_at,
            subscription_state: claims.subscription_state,
            store_checked: claims.store_checked,
            verdict_id: claims.jti.clone(),
            issued_at: claims.iat,
            claims: claims.clone(),
        })
    }
    /// [`TokenError::WrongProduct`] unless the grant is for `product_id` (compared exactly).
    pub fn require_product(&self, product_id: &str) -> Result<(), TokenError> {
        if self.product_id == product_id {
            Ok(())
        } else {
            Err(TokenError::WrongProduct {
                expected: product_id.to_string(),
                found: self.product_id.clone(),
            })
        }
    }
    /// Whether this is the account's first redemption of the purchase.
    pub fn is_first(&self) -> bool {
        self.redemption == Redemption::First
    }
    /// Whether this is a subscription.
    pub fn is_subscription(&self) -> bool {
        self.kind == Some(PurchaseKind::Subscription)
    }
}

/// Whether verified claims say `paid` (the `outcome == paid` helper).
pub fn is_paid(claims: &VerdictClaims) -> bool {
    claims.outcome == Outcome::Paid
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000;

    pub(crate) fn claims() -> VerdictClaims {
        VerdictClaims {
            iss: "https://verify.example.com".into(),
            iat: NOW,
            exp: NOW + 300,
            jti: "jti-1".into(),
            nonce: "bm9uY2Vub25jZW5vbmNl".into(),
            app: "dev.payseal.demo".into(),
            sub: "account-1".into(),
            store: Store::GooglePlay,
            environment: Some(Environment::Sandbox),
            product_id: Some("coins_100".into()),
            transaction_id: Some("GPA.1".into()),
            original_transaction_id: None,
            quantity: Some(2),
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

    fn policy() -> Policy {
        Policy::new("dev.payseal.demo").with_issuer("https://verify.example.com")
    }

    #[test]
    fn paid_claims_grant() {
        let grant = policy().evaluate(&claims(), NOW).unwrap();
        assert_eq!(grant.account, "account-1");
        assert_eq!(grant.product_id, "coins_100");
        assert_eq!(grant.quantity, 2);
        assert_eq!(grant.transaction_id, "GPA.1");
        assert!(grant.is_first());
        assert_eq!(grant.verdict_id, "jti-1");
        assert!(is_paid(&claims()));
    }

    #[test]
    fn a_subscription_grants_until_its_end_and_an_expired_one_is_refused() {
        let mut c = claims();
        c.kind = Some(PurchaseKind::Subscription);
        c.expires_at = Some((NOW + 30 * 86_400) * 1000);
        let grant = policy().evaluate(&c, NOW).unwrap();
        assert!(grant.is_subscription());
        assert_eq!(grant.kind, Some(PurchaseKind::Subscription));
        assert_eq!(grant.expires_at, Some((NOW + 30 * 86_400) * 1000));
        // A paid subscription token checked after the period's end grants nothing.
        c.expires_at = Some(NOW * 1000);
        assert_eq!(
            policy().evaluate(&c, NOW),
            Err(TokenError::NotPaid {
                reason: Some(Reason::Expired)
            })
        );
        // The verifier's own `not_paid / expired`.
        let mut c = claims();
        c.outcome = Outcome::NotPaid;
        c.reason = Some(Reason::Expired);
        c.redemption = None;
        c.kind = Some(PurchaseKind::Subscription);
        c.expires_at = Some((NOW - 365 * 86_400) * 1000);
        let err = policy().evaluate(&c, NOW).unwrap_err();
        assert_eq!(
            err,
            TokenError::NotPaid {
                reason: Some(Reason::Expired)
            }
        );
        assert_eq!(err.to_string(), "not paid: expired");
        // Consumables carry no end and are unaffected.
        assert_eq!(policy().evaluate(&claims(), NOW).unwrap().expires_at, None);
    }

    #[test]
    fn wrong_app_refused() {
        let mut c = claims();
        c.app = "com.other.game".into();
        assert!(matches!(
            policy().evaluate(&c, NOW),
            Err(TokenError::WrongApp { found, .. }) if found == "com.other.game"
        ));
    }

    #[test]
    fn wrong_issuer_refused() {
        let mut c = claims();
        c.iss = "https://evil.example".into();
        assert!(matches!(
            policy().evaluate(&c, NOW),
            Err(TokenError::WrongIssuer { .. })
        ));
        // Without an issuer in the policy, any issuer whose key is trusted passes.
        assert!(Policy::new("dev.payseal.demo").evaluate(&c, NOW).is_ok());
    }

    #[test]
    fn environment_restricted() {
        let live = policy().with_environments(&[Environment::Production]);
        assert!(matches!(
            live.evaluate(&claims(), NOW),
            Err(TokenError::WrongEnvironment {
                found: Some(Environment::Sandbox)
            })
        ));
        let mut c = claims();
        c.environment = None;
        assert!(matches!(
            live.evaluate(&c, NOW),
            Err(TokenError::WrongEnvironment { found: None })
        ));
        c.environment = Some(Environment::Production);
        assert!(live.evaluate(&c, NOW).is_ok());
    }

    #[test]
    fn too_old_refused_at_the_boundary() {
        let p = policy()
            .with_max_age(Some(Duration::from_secs(120)))
            .with_skew_secs(0);
        assert!(p.evaluate(&claims(), NOW + 120).is_ok());
        assert_eq!(
            p.evaluate(&claims(), NOW + 121).unwrap_err(),
            TokenError::TooOld {
                age_secs: 121,
                max_secs: 120
            }
        );
        // No maximum: only exp (checked by the protocol verifier) limits the age.
        assert!(policy()
            .with_max_age(None)
            .evaluate(&claims(), NOW + 100_000)
            .is_ok());
    }

    #[test]
    fn not_paid_refused_with_reason() {
        let mut c = claims();
        c.outcome = Outcome::NotPaid;
        c.reason = Some(Reason::AlreadyRedeemed);
        c.redemption = None;
        assert_eq!(
            policy().evaluate(&c, NOW).unwrap_err(),
            TokenError::NotPaid {
                reason: Some(Reason::AlreadyRedeemed)
            }
        );
        assert!(!is_paid(&c));
        assert_eq!(
            policy().evaluate(&c, NOW).unwrap_err().to_string(),
            "not paid: already_redeemed"
        );
    }

    #[test]
    fn another_product_refused() {
        let p = policy().with_product("coins_10000");
        assert_eq!(
            p.evaluate(&claims(), NOW).unwrap_err(),
            TokenError::WrongProduct {
                expected: "coins_10000".into(),
                found: "coins_100".into()
            }
        );
        assert!(policy()
            .with_product("coins_100")
            .evaluate(&claims(), NOW)
            .is_ok());
        // A not_paid token keeps the verifier's reason, wrong_product included.
        let mut c = claims();
        c.outcome = Outcome::NotPaid;
        c.reason = Some(Reason::WrongProduct);
        c.redemption = None;
        assert_eq!(
            p.evaluate(&c, NOW).unwrap_err().to_string(),
            "not paid: wrong_product"
        );
        c.reason = Some(Reason::WrongAccount);
        assert_eq!(
            policy().evaluate(&c, NOW).unwrap_err(),
            TokenError::NotPaid {
                reason: Some(Reason::WrongAccount)
            }
        );
    }

    #[test]
    fn incomplete_paid_refused() {
        for (field, strip) in [
            (
                "product_id",
                (|c: &mut VerdictClaims| c.product_id = None) as fn(&mut _),
            ),
            ("transaction_id", |c| c.transaction_id = Some(String::new())),
            ("redemption", |c| c.redemption = None),
        ] {
            let mut c = claims();
            strip(&mut c);
            assert_eq!(
                policy().evaluate(&c, NOW).unwrap_err(),
                TokenError::Incomplete(field)
            );
        }
    }

    #[test]
    fn verdict_errors_map_one_to_one() {
        assert_eq!(
            TokenError::from(VerdictError::Signature),
            TokenError::BadSignature
        );
        assert_eq!(TokenError::from(VerdictError::Expired), TokenError::Expired);
        assert_eq!(
            TokenError::from(VerdictError::UnknownKey(Some("x".into()))),
            TokenError::UnknownKey(Some("x".into()))
        );
    }
}
