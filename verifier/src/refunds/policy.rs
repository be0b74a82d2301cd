//! The refund answer, decided from the ledger's evidence by the app's policy (pure: no I/O).
//!
//! App Store (`Send Consumption Information`): nothing is sent without the account's consent
//! (Apple requires `customerConsented: true`), nor for a purchase this app never redeemed (no
//! account, so no consent), nor for one already revoked. Otherwise:
//! - delivered (confirmed by the application server) and consumed at least
//!   `decline_consumed_from` → `DELIVERED`, the consumption, `DECLINE`;
//! - delivered, consumed less (or no threshold) → `DELIVERED`, the consumption, no preference;
//! - never confirmed delivered → `UNDELIVERED_OTHER`, consumption `0`, `GRANT_FULL` when
//!   `grant_undelivered`, else no preference.

use crate::app_store_api::{ConsumptionRequest, DeliveryStatus, RefundPreference};
use crate::ledger::consumption::Evidence;
use crate::settings::RefundPolicy;

/// What to do with one App Store refund request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppleAnswer {
    /// Send this.
    Send(ConsumptionRequest),
    /// Send nothing, for this reason (stored as the row's detail).
    Skip(&'static str),
}

/// The App Store answer for `evidence` (`None`: this app never redeemed the transaction).
pub fn apple_answer(policy: &RefundPolicy, evidence: Option<&Evidence>) -> AppleAnswer {
    let Some(e) = evidence else {
        return AppleAnswer::Skip("not redeemed by this app: no account, no consent");
    };
    if e.redemption.is_refusal() || e.redemption.revoked_at_ms.is_some() {
        return AppleAnswer::Skip("already revoked");
    }
    if !e.consented() {
        return AppleAnswer::Skip("no consent: Apple gets no consumption data");
    }
    let sample = policy
        .sample_content_products
        .contains(&e.redemption.product_id);
    let delivered = e
        .report
        .as_ref()
        .is_some_and(|r| r.delivered_at_ms.is_some());
    let request = if delivered {
        let consumed = e
            .report
            .as_ref()
            .and_then(|r| r.consumed_milliunits)
            .unwrap_or(0);
        let decline = policy.decline_consumed_from.is_some_and(|t| consumed >= t);
        ConsumptionRequest {
            customer_consented: true,
            consumption_percentage: Some(consumed),
            delivery_status: DeliveryStatus::Delivered,
            sample_content_provided: sample,
            refund_preference: decline.then_some(RefundPreference::Decline),
        }
    } else {
        ConsumptionRequest {
            customer_consented: true,
            consumption_percentage: Some(0),
            delivery_status: DeliveryStatus::UndeliveredOther,
            sample_content_provided: sample,
            refund_preference: policy
                .grant_undelivered
                .then_some(RefundPreference::GrantFull),
        }
    };
    AppleAnswer::Send(request)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::consumption::ReportRow;
    use crate::ledger::RedemptionRow;

    fn policy() -> RefundPolicy {
        RefundPolicy {
            decline_consumed_from: Some(50_000),
            grant_undelivered: true,
            sample_content_products: ["trial_pack".to_string()].into(),
        }
    }

    fn evidence(consent: Option<bool>, delivered: bool, consumed: Option<u32>) -> Evidence {
        Evidence {
            redemption: RedemptionRow {
                account_id: "alice".into(),
                product_id: "coins_100".into(),
                receipt_sha256: "00".into(),
                first_verdict_id: "j".into(),
                first_seen_ms: 1,
                last_seen_ms: 1,
                revoked_at_ms: None,
                revoke_reason: None,
                expires_at_ms: None,
            },
            report: (delivered || consumed.is_some()).then(|| ReportRow {
                account_id: "alice".into(),
                delivered_at_ms: delivered.then_some(5),
                consumed_milliunits: consumed,
                usage_events: None,
                updated_ms: 5,
            }),
            consent,
        }
    }

    fn sent(a: AppleAnswer) -> ConsumptionRequest {
        match a {
            AppleAnswer::Send(r) => {
                r.check().unwrap();
                r
            }
            AppleAnswer::Skip(why) => panic!("skipped: {why}"),
        }
    }

    #[test]
    fn every_branch() {
        let p = policy();
        // Delivered and consumed past the threshold: decline.
        let r = sent(apple_answer(
            &p,
            Some(&evidence(Some(true), true, Some(80_000))),
        ));
        assert_eq!(
            (
                r.delivery_status,
                r.consumption_percentage,
                r.refund_preference
            ),
            (
                DeliveryStatus::Delivered,
                Some(80_000),
                Some(RefundPreference::Decline)
            )
        );
        // Delivered, consumed less: no preference.
        let r = sent(apple_answer(
            &p,
            Some(&evidence(Some(true), true, Some(10_000))),
        ));
        assert_eq!(
            (r.consumption_percentage, r.refund_preference),
            (Some(10_000), None)
        );
        // Never confirmed delivered: grant.
        let r = sent(apple_answer(&p, Some(&evidence(Some(true), false, None))));
        assert_eq!(
            (
                r.delivery_status,
                r.consumption_percentage,
                r.refund_preference
            ),
            (
                DeliveryStatus::UndeliveredOther,
                Some(0),
                Some(RefundPreference::GrantFull)
            )
        );
        // Without the grant option: no preference.
        let mut neutral = p.clone();
        neutral.grant_undelivered = false;
        neutral.decline_consumed_from = None;
        assert_eq!(
            sent(apple_answer(
                &neutral,
                Some(&evidence(Some(true), false, None))
            ))
            .refund_preference,
            None
        );
        assert_eq!(
            sent(apple_answer(
                &neutral,
                Some(&evidence(Some(true), true, Some(100_000)))
            ))
            .refund_preference,
            None
        );
        // Consent absent or refused, never redeemed, revoked: nothing sent.
        for e in [
            evidence(None, true, Some(90_000)),
            evidence(Some(false), true, Some(90_000)),
        ] {
            assert!(matches!(apple_answer(&p, Some(&e)), AppleAnswer::Skip(_)));
        }
        assert!(matches!(apple_answer(&p, None), AppleAnswer::Skip(_)));
        let mut revoked = evidence(Some(true), true, Some(90_000));
        revoked.redemption.revoked_at_ms = Some(9);
        assert!(matches!(
            apple_answer(&p, Some(&revoked)),
            AppleAnswer::Skip(_)
        ));
        // Sample content by product.
        let mut trial = evidence(Some(true), true, Some(0));
        trial.redemption.product_id = "trial_pack".into();
        assert!(sent(apple_answer(&p, Some(&trial))).sample_content_provided);
    }
}
