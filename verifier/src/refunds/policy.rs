//! The refund answer, decided from the ledger's evidence by the app's policy (pure: no I/O).
//!
//! One decision for both stores ([`decide`]), mapped once to each store's vocabulary:
//! - delivered (confirmed by the application server) and consumed at least
//!   `decline_consumed_from` → [`Preference::Decline`] (Apple `DECLINE`, Google `DECLINE`);
//! - delivered, consumed less (or no threshold) → [`Preference::Neutral`] (Apple: no
//!   preference, Google `NEUTRAL`);
//! - never confirmed delivered → [`Preference::Grant`] when `grant_undelivered` (Apple
//!   `GRANT_FULL`, Google `APPROVE`), else neutral.
//!
//! Nothing is sent for a purchase this app never redeemed (no account, no evidence) nor for one
//! already revoked. **Consent** ([`shares_consumption`], the one rule for both stores): without
//! the account's consent no consumption data leaves the verifier. Apple requires
//! `customerConsented: true` for any answer, so Apple gets nothing; Google's answer is the
//! preference and `sampleContentProvided` alone (its consumption fields are optional), without
//! `consumptionPercentageMilliunits` nor `consumptionUsageEvents`.

use crate::app_store_api::{ConsumptionRequest, DeliveryStatus, RefundPreference};
use crate::google_api::resources::{
    ConsumptionUsageEvent, ReviewRefundPreference, ReviewRefundRequest,
};
use crate::ledger::consumption::Evidence;
use crate::settings::RefundPolicy;

/// The developer's preference, store-neutral.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preference {
    /// Refund it.
    Grant,
    /// Do not refund it.
    Decline,
    /// No preference.
    Neutral,
}

/// What the ledger says, decided by the policy: send this, with these facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The preference.
    pub preference: Preference,
    /// Whether the application server confirmed the delivery.
    pub delivered: bool,
    /// When it did, Unix milliseconds.
    pub delivered_at_ms: Option<i64>,
    /// Consumed, milliunits (`0` when not delivered).
    pub consumed: u32,
    /// Usage events the application server counted, when reported.
    pub usage_events: Option<u32>,
    /// `sampleContentProvided` of the product.
    pub sample: bool,
    /// Whether consumption data may be shared ([`shares_consumption`]).
    pub share_consumption: bool,
}

/// Whether the account consented to sharing consumption data with the store (never reported
/// counts as no): the one consent rule of both stores.
pub fn shares_consumption(e: &Evidence) -> bool {
    e.consented()
}

/// The store-neutral decision for `evidence` (`Err`: send nothing, and why).
pub fn decide(
    policy: &RefundPolicy,
    evidence: Option<&Evidence>,
) -> Result<Decision, &'static str> {
    let Some(e) = evidence else {
        return Err("not redeemed by this app: no account, no evidence");
    };
    if e.redemption.is_refusal() || e.redemption.revoked_at_ms.is_some() {
        return Err("already revoked");
    }
    let sample = policy
        .sample_content_products
        .contains(&e.redemption.product_id);
    let delivered_at_ms = e.report.as_ref().and_then(|r| r.delivered_at_ms);
    let delivered = delivered_at_ms.is_some();
    let consumed = if delivered {
        e.report
            .as_ref()
            .and_then(|r| r.consumed_milliunits)
            .unwrap_or(0)
    } else {
        0
    };
    let preference = if delivered {
        if policy.decline_consumed_from.is_some_and(|t| consumed >= t) {
            Preference::Decline
        } else {
            Preference::Neutral
        }
    } else if policy.grant_undelivered {
        Preference::Grant
    } else {
        Preference::Neutral
    };
    Ok(Decision {
        preference,
        delivered,
        delivered_at_ms,
        consumed,
        usage_events: e.report.as_ref().and_then(|r| r.usage_events),
        sample,
        share_consumption: shares_consumption(e),
    })
}

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
    let d = match decide(policy, evidence) {
        Ok(d) => d,
        Err(why) => return AppleAnswer::Skip(why),
    };
    if !d.share_consumption {
        return AppleAnswer::Skip("no consent: Apple gets no consumption data");
    }
    AppleAnswer::Send(ConsumptionRequest {
        customer_consented: true,
        consumption_percentage: Some(d.consumed),
        delivery_status: if d.delivered {
            DeliveryStatus::Delivered
        } else {
            DeliveryStatus::UndeliveredOther
        },
        sample_content_provided: d.sample,
        refund_preference: match d.preference {
            Preference::Decline => Some(RefundPreference::Decline),
            Preference::Grant => Some(RefundPreference::GrantFull),
            Preference::Neutral => None,
        },
    })
}

/// What to do with one Google Play pending refund review.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GoogleAnswer {
    /// Send this.
    Send(ReviewRefundRequest),
    /// Send nothing, for this reason (stored as the row's detail).
    Skip(&'static str),
}

/// The `orders.reviewrefund` body for `evidence` and the notification's `pendingRefundToken`.
pub fn google_answer(
    policy: &RefundPolicy,
    evidence: Option<&Evidence>,
    pending_refund_token: &str,
) -> GoogleAnswer {
    let d = match decide(policy, evidence) {
        Ok(d) => d,
        Err(why) => return GoogleAnswer::Skip(why),
    };
    let mut events = Vec::new();
    if let (true, Some(at)) = (d.share_consumption, d.delivered_at_ms) {
        let time = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(at) * 1_000_000)
            .ok()
            .and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            });
        if let Some(consumption_time) = time {
            let count = d
                .usage_events
                .map(|n| format!("; {n} usage events reported by the application server"))
                .unwrap_or_default();
            events.push(ConsumptionUsageEvent {
                consumption_time,
                consumption_item_description: format!(
                    "delivered to the purchaser's account (confirmed by the application \
                     server){count}"
                ),
            });
        }
    }
    GoogleAnswer::Send(ReviewRefundRequest {
        pending_refund_token: pending_refund_token.to_string(),
        sample_content_provided: d.sample,
        refund_preference: match d.preference {
            Preference::Decline => ReviewRefundPreference::Decline,
            Preference::Grant => ReviewRefundPreference::Approve,
            Preference::Neutral => ReviewRefundPreference::Neutral,
        },
        consumption_percentage_milliunits: d.share_consumption.then_some(d.consumed),
        consumption_usage_events: events,
    })
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
                subscription_state: None,
                state_checked_ms: None,
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

    fn google(a: GoogleAnswer) -> ReviewRefundRequest {
        match a {
            GoogleAnswer::Send(r) => r,
            GoogleAnswer::Skip(why) => panic!("skipped: {why}"),
        }
    }

    #[test]
    fn google_gets_the_same_decision_in_its_enum_and_no_consumption_without_consent() {
        let p = policy();
        let r = google(google_answer(
            &p,
            Some(&evidence(Some(true), true, Some(80_000))),
            "prt",
        ));
        assert_eq!(
            (
                r.refund_preference,
                r.consumption_percentage_milliunits,
                r.pending_refund_token.as_str()
            ),
            (ReviewRefundPreference::Decline, Some(80_000), "prt")
        );
        assert_eq!(r.consumption_usage_events.len(), 1);
        assert_eq!(
            r.consumption_usage_events[0].consumption_time,
            "1970-01-01T00:00:00.005Z"
        );
        let r = google(google_answer(
            &p,
            Some(&evidence(Some(true), true, Some(10_000))),
            "prt",
        ));
        assert_eq!(r.refund_preference, ReviewRefundPreference::Neutral);
        let r = google(google_answer(
            &p,
            Some(&evidence(Some(true), false, None)),
            "prt",
        ));
        assert_eq!(
            (
                r.refund_preference,
                r.consumption_percentage_milliunits,
                r.consumption_usage_events.len()
            ),
            (ReviewRefundPreference::Approve, Some(0), 0)
        );
        let mut neutral = p.clone();
        neutral.grant_undelivered = false;
        assert_eq!(
            google(google_answer(
                &neutral,
                Some(&evidence(Some(true), false, None)),
                "prt"
            ))
            .refund_preference,
            ReviewRefundPreference::Neutral
        );
        // Without consent: the preference, no consumption data.
        for consent in [None, Some(false)] {
            let r = google(google_answer(
                &p,
                Some(&evidence(consent, true, Some(90_000))),
                "prt",
            ));
            assert_eq!(
                (
                    r.refund_preference,
                    r.consumption_percentage_milliunits,
                    r.consumption_usage_events.len()
                ),
                (ReviewRefundPreference::Decline, None, 0)
            );
        }
        assert!(matches!(
            google_answer(&p, None, "prt"),
            GoogleAnswer::Skip(_)
        ));
        let mut revoked = evidence(Some(true), true, Some(90_000));
        revoked.redemption.revoked_at_ms = Some(9);
        assert!(matches!(
            google_answer(&p, Some(&revoked), "prt"),
            GoogleAnswer::Skip(_)
        ));
    }
}
