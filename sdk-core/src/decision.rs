//! S180, the decision: is this verdict token the verifier's answer to *this* request?
//!
//! Pure (no I/O, the clock is an argument): the token's header (`EdDSA`, `typ`), its `kid`
//! (a profile key) and its signature are checked by [`VerdictVerifier`]; then `nonce`,
//! `receipt_sha256`, `app` and `sub` must equal what was sent, and the outcome must be
//! consistent. Any mismatch is a [`DecisionError`], which the SDK reports as `Tampered`.
//!
//! The device clock decides nothing (issue 14): the nonce is fresh for this request, so a
//! verdict that echoes it, signed by a profile key, *is* the verifier's answer to it, however
//! wrong the device's clock. Refusing it for its `iat`/`exp` would lose a purchase the
//! verifier has already recorded. `exp` is for the application server, whose clock is good.
//! The skew between the device clock and the verdict's `iat` is measured and returned
//! ([`CheckedVerdict::device_clock_skew_secs`]).
//!
//! The product (issue 11): when the app named the product it sold, a `paid` verdict for
//! another product is never `paid` to the app. The verifier refuses such a receipt itself
//! (`not_paid / wrong_product`, nothing recorded); a verifier that ignored the field (a bug,
//! or a deployment older than it, which refuses the request instead) would still have signed
//! an answer to *this* request, so it is not tampering: the checked verdict's claims say
//! `not_paid / wrong_product` (redemption removed) and [`CheckedVerdict::product_overridden`]
//! is set. The token stays the verifier's, as signed; an application server that checks the
//! product too refuses it for the same reason.

use payseal_protocol::verdict::{VerdictError, VerdictVerifier};
use payseal_protocol::{Outcome, Reason, VerdictClaims};

/// What the SDK sent, which the verdict must echo.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    /// The request's nonce (base64url).
    pub nonce: &'a str,
    /// `receipt.sha256_hex()` of the receipt sent.
    pub receipt_sha256: &'a str,
    /// The app id sent.
    pub app_id: &'a str,
    /// The account id sent.
    pub account_id: &'a str,
    /// The product the app sold, when it named one.
    pub product_id: Option<&'a str>,
}

/// Why a verdict is not an answer to the request.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecisionError {
    /// Bad signature, unknown key, wrong algorithm or type, malformed.
    #[error("verdict token refused: {0}")]
    Token(#[from] VerdictError),
    /// The nonce is not the one sent (an old verdict replayed, or another request's).
    #[error("verdict nonce does not match the request (replayed or relayed verdict)")]
    Nonce,
    /// The verdict is about another receipt.
    #[error("verdict is for another receipt")]
    Receipt,
    /// The verdict is for another app.
    #[error("verdict is for another app")]
    App,
    /// The verdict is for another account.
    #[error("verdict is for another account")]
    Account,
    /// Outcome and reason disagree (paid with a reason, or not paid without one).
    #[error("verdict is inconsistent: {0}")]
    Inconsistent(&'static str),
}

/// A verdict that passed every check, with its token for the application server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedVerdict {
    /// The verified claims.
    pub claims: VerdictClaims,
    /// The compact JWS, to forward as is.
    pub token: String,
    /// The device clock minus the verdict's `iat`, in seconds, when it was checked: positive
    /// when the device clock is ahead of the verifier's, negative when behind (it includes
    /// the answer's travel time, usually well under a second).
    pub device_clock_skew_secs: i64,
    /// Whether the SDK turned a `paid` verdict for another product than the expected one into
    /// `not_paid / wrong_product` (the token itself still says `paid`).
    pub product_overridden: bool,
}

impl CheckedVerdict {
    /// Whether the purchase is paid.
    pub fn is_paid(&self) -> bool {
        self.claims.outcome == Outcome::Paid
    }
}

/// Check `token` against the profile's keys and against `expected`; `device_now` (Unix
/// seconds, the device clock) only measures the skew, it refuses nothing.
pub fn check(
    verifier: &VerdictVerifier,
    token: &str,
    expected: &Expected<'_>,
    device_now: i64,
) -> Result<CheckedVerdict, DecisionError> {
    // Header, kid and signature as the verifier checks them, with no clock: any `iat`/`exp`
    // passes at `now = 0` with an unbounded skew.
    let mut claims = verifier.clone().with_skew(i64::MAX).verify(token, 0)?;
    if claims.nonce != expected.nonce {
        return Err(DecisionError::Nonce);
    }
    if !claims
        .receipt_sha256
        .eq_ignore_ascii_case(expected.receipt_sha256)
    {
        return Err(DecisionError::Receipt);
    }
    if claims.app != expected.app_id {
        return Err(DecisionError::App);
    }
    if claims.sub != expected.account_id {
        return Err(DecisionError::Account);
    }
    match (claims.outcome, claims.reason) {
        (Outcome::Paid, Some(_)) => return Err(DecisionError::Inconsistent("paid with a reason")),
        (Outcome::NotPaid, None) => {
            return Err(DecisionError::Inconsistent("not paid without a reason"))
        }
        _ => {}
    }
    let product_overridden = match expected.product_id {
        Some(product) => {
            claims.outcome == Outcome::Paid && claims.product_id.as_deref() != Some(product)
        }
        None => false,
    };
    if product_overridden {
        claims.outcome = Outcome::NotPaid;
        claims.reason = Some(Reason::WrongProduct);
        claims.redemption = None;
    }
    let device_clock_skew_secs = device_now.saturating_sub(claims.iat);
    Ok(CheckedVerdict {
        claims,
        token: token.to_string(),
        device_clock_skew_secs,
        product_overridden,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use payseal_protocol::verdict::VerdictSigningKey;
    use payseal_protocol::{Environment, Redemption, Store};

    const NOW: i64 = 1_760_000_000;

    fn claims() -> VerdictClaims {
        VerdictClaims {
            iss: "https://localhost:8443".into(),
            iat: NOW,
            exp: NOW + 300,
            jti: "v-1".into(),
            nonce: "bm9uY2Utbm9uY2Utbm9uY2U".into(),
            app: "dev.payseal.demo".into(),
            sub: "alice".into(),
            store: Store::GooglePlay,
            environment: Some(Environment::Sandbox),
            product_id: Some("gems_100".into()),
            transaction_id: Some("GPA.1".into()),
            original_transaction_id: None,
            quantity: Some(1),
            purchased_at: Some(NOW * 1000),
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

    fn expected(c: &VerdictClaims) -> Expected<'_> {
        Expected {
            nonce: &c.nonce,
            receipt_sha256: &c.receipt_sha256,
            app_id: &c.app,
            account_id: &c.sub,
            product_id: None,
        }
    }

    fn key() -> VerdictSigningKey {
        VerdictSigningKey::from_seed("k1", [7u8; 32])
    }

    #[test]
    fn genuine_verdict_passes() {
        let key = key();
        let verifier = VerdictVerifier::new(vec![key.public_key()]);
        let c = claims();
        let token = key.sign(&c).unwrap();
        let checked = check(&verifier, &token, &expected(&c), NOW + 1).unwrap();
        assert!(checked.is_paid());
        assert_eq!(checked.claims, c);
        assert_eq!(checked.token, token);
        assert_eq!(checked.device_clock_skew_secs, 1);
    }

    #[test]
    fn old_verdict_replayed_to_a_new_request_is_refused() {
        // A genuine, unexpired `paid` verdict from an earlier request, relayed as the answer
        // to a new request with a fresh nonce.
        let key = key();
        let verifier = VerdictVerifier::new(vec![key.public_key()]);
        let old = claims();
        let token = key.sign(&old).unwrap();
        let mut new_request = expected(&old);
        new_request.nonce = "ZnJlc2gtbm9uY2UtZnJlc2gtbm9uY2U";
        assert_eq!(
            check(&verifier, &token, &new_request, NOW + 1),
            Err(DecisionError::Nonce)
        );
    }

    #[test]
    fn altered_verdict_is_refused() {
        // A relayed `not_paid` verdict edited to `paid` in transit: the signature breaks.
        let key = key();
        let verifier = VerdictVerifier::new(vec![key.public_key()]);
        let mut c = claims();
        c.outcome = Outcome::NotPaid;
        c.reason = Some(Reason::AlreadyRedeemed);
        c.redemption = None;
        let token = key.sign(&c).unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        let mut paid = c.clone();
        paid.outcome = Outcome::Paid;
        paid.reason = None;
        use base64::Engine as _;
        let forged_payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(serde_json::to_vec(&paid).unwrap());
        let forged = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);
        assert!(matches!(
            check(&verifier, &forged, &expected(&c), NOW + 1),
            Err(DecisionError::Token(_))
        ));
    }

    #[test]
    fn verdict_signed_by_an_unknown_key_is_refused() {
        let attacker = VerdictSigningKey::from_seed("k1", [9u8; 32]);
        let verifier = VerdictVerifier::new(vec![key().public_key()]);
        let c = claims();
        let token = attacker.sign(&c).unwrap();
        assert!(matches!(
            check(&verifier, &token, &expected(&c), NOW + 1),
            Err(DecisionError::Token(_))
        ));
    }

    #[test]
    fn the_device_clock_refuses_nothing_and_its_skew_is_measured() {
        // A device 2 minutes behind, 1 hour ahead, 1 day ahead, 10 years ahead, at epoch 0:
        // the verdict echoes the nonce, so it is this request's answer.
        let key = key();
        let verifier = VerdictVerifier::new(vec![key.public_key()]).with_skew(60);
        let c = claims();
        let token = key.sign(&c).unwrap();
        for offset in [-120, 3_600, 86_400, 10 * 365 * 86_400, -NOW] {
            let checked = check(&verifier, &token, &expected(&c), NOW + offset).unwrap();
            assert_eq!(checked.device_clock_skew_secs, offset);
            assert!(checked.is_paid());
        }
        // Long past its `exp` or long before its `iat`: still accepted (the app server checks
        // `exp` with its own clock).
        assert!(check(&verifier, &token, &expected(&c), c.exp + 86_400).is_ok());
        let mut early = c.clone();
        early.iat = NOW + 86_400;
        early.exp = NOW + 86_400 + 300;
        let token = key.sign(&early).unwrap();
        let checked = check(&verifier, &token, &expected(&early), NOW).unwrap();
        assert_eq!(checked.device_clock_skew_secs, -86_400);
        // Extreme values neither panic nor overflow.
        assert_eq!(
            check(&verifier, &token, &expected(&early), i64::MIN)
                .unwrap()
                .device_clock_skew_secs,
            i64::MIN
        );
    }

    #[test]
    fn verdict_for_another_receipt_app_or_account_is_refused() {
        let key = key();
        let verifier = VerdictVerifier::new(vec![key.public_key()]);
        let c = claims();
        let token = key.sign(&c).unwrap();
        let other_hash = "cd".repeat(32);
        let mut e = expected(&c);
        e.receipt_sha256 = &other_hash;
        assert_eq!(
            check(&verifier, &token, &e, NOW),
            Err(DecisionError::Receipt)
        );
        let mut e = expected(&c);
        e.app_id = "com.other.app";
        assert_eq!(check(&verifier, &token, &e, NOW), Err(DecisionError::App));
        let mut e = expected(&c);
        e.account_id = "mallory";
        assert_eq!(
            check(&verifier, &token, &e, NOW),
            Err(DecisionError::Account)
        );
    }

    #[test]
    fn inconsistent_outcome_is_refused() {
        let key = key();
        let verifier = VerdictVerifier::new(vec![key.public_key()]);
        let mut c = claims();
        c.outcome = Outcome::NotPaid;
        c.reason = None;
        let token = key.sign(&c).unwrap();
        assert!(matches!(
            check(&verifier, &token, &expected(&c), NOW),
            Err(DecisionError::Inconsistent(_))
        ));
    }

    #[test]
    fn a_paid_verdict_for_another_product_is_not_paid_to_the_app() {
        let key = key();
        let verifier = VerdictVerifier::new(vec![key.public_key()]);
        let c = claims(); // paid, gems_100
        let token = key.sign(&c).unwrap();
        // Asked for the same product: paid, untouched.
        let mut e = expected(&c);
        e.product_id = Some("gems_100");
        let checked = check(&verifier, &token, &e, NOW).unwrap();
        assert!(checked.is_paid() && !checked.product_overridden);
        assert_eq!(checked.claims, c);
        // Asked for another: a typed not_paid, not an error; the token is the verifier's.
        e.product_id = Some("gems_10000");
        let checked = check(&verifier, &token, &e, NOW).unwrap();
        assert!(!checked.is_paid());
        assert!(checked.product_overridden);
        assert_eq!(checked.claims.reason, Some(Reason::WrongProduct));
        assert_eq!(checked.claims.redemption, None);
        assert_eq!(checked.claims.product_id.as_deref(), Some("gems_100"));
        assert_eq!(checked.token, token);
        // A paid verdict without a product id is not the expected product either.
        let mut bare = claims();
        bare.product_id = None;
        let token = key.sign(&bare).unwrap();
        let checked = check(&verifier, &token, &e, NOW).unwrap();
        assert_eq!(checked.claims.reason, Some(Reason::WrongProduct));
        // A not_paid verdict keeps the verifier's reason, whatever its product.
        let mut refused = claims();
        refused.outcome = Outcome::NotPaid;
        refused.reason = Some(Reason::AlreadyRedeemed);
        refused.redemption = None;
        let token = key.sign(&refused).unwrap();
        let checked = check(&verifier, &token, &e, NOW).unwrap();
        assert_eq!(checked.claims.reason, Some(Reason::AlreadyRedeemed));
        assert!(!checked.product_overridden);
    }
}
