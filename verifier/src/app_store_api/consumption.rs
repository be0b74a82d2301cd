//! The body of Apple's `Send Consumption Information` (`PUT
//! /inApps/v2/transactions/consumption/{transactionId}`, App Store Server API 1.19+):
//! `ConsumptionRequest`, with Apple's constraints checked before sending ([`ConsumptionRequest::check`]):
//! `customerConsented` must be `true` (Apple refuses anything else, and without the customer's
//! consent nothing is sent at all); `consumptionPercentage` (milliunits, `0..=100000`) must be
//! `0` unless `deliveryStatus` is `DELIVERED`, and above `0` for `GRANT_PRORATED`.

use serde::{Deserialize, Serialize};

/// `deliveryStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DeliveryStatus {
    /// Delivered and working.
    Delivered,
    /// Not delivered: a quality issue.
    UndeliveredQualityIssue,
    /// The wrong item was delivered.
    UndeliveredWrongItem,
    /// Not delivered: a server outage.
    UndeliveredServerOutage,
    /// Not delivered: another reason.
    UndeliveredOther,
}

/// `refundPreference`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RefundPreference {
    /// Decline the refund.
    Decline,
    /// Grant it in full.
    GrantFull,
    /// Grant it pro rata to what was not consumed.
    GrantProrated,
}

/// `ConsumptionRequest`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsumptionRequest {
    /// Whether the customer consented to sharing consumption data (must be `true`).
    pub customer_consented: bool,
    /// Consumed share, milliunits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consumption_percentage: Option<u32>,
    /// Delivery status.
    pub delivery_status: DeliveryStatus,
    /// Whether the product offered a free sample or trial.
    pub sample_content_provided: bool,
    /// The developer's preference.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refund_preference: Option<RefundPreference>,
}

/// A [`ConsumptionRequest`] Apple would refuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ConsumptionError {
    /// `customerConsented` is not `true`.
    #[error("the customer did not consent: Apple gets no consumption data")]
    NoConsent,
    /// `consumptionPercentage` over 100000.
    #[error("consumptionPercentage {0} is over 100000 milliunits")]
    OverFull(u32),
    /// Not delivered, yet a consumption above 0.
    #[error("consumptionPercentage must be 0 when the purchase was not delivered")]
    ConsumedUndelivered,
    /// `GRANT_PRORATED` without a consumption above 0.
    #[error("GRANT_PRORATED needs a consumptionPercentage above 0")]
    ProratedWithoutConsumption,
}

impl ConsumptionRequest {
    /// Apple's constraints on the fields.
    pub fn check(&self) -> Result<(), ConsumptionError> {
        let consumed = self.consumption_percentage.unwrap_or(0);
        if !self.customer_consented {
            return Err(ConsumptionError::NoConsent);
        }
        if consumed > crate::ledger::consumption::FULL_CONSUMPTION_MILLIUNITS {
            return Err(ConsumptionError::OverFull(consumed));
        }
        if self.delivery_status != DeliveryStatus::Delivered && consumed > 0 {
            return Err(ConsumptionError::ConsumedUndelivered);
        }
        if self.refund_preference == Some(RefundPreference::GrantProrated) && consumed == 0 {
            return Err(ConsumptionError::ProratedWithoutConsumption);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(
        consented: bool,
        consumed: Option<u32>,
        status: DeliveryStatus,
        pref: Option<RefundPreference>,
    ) -> ConsumptionRequest {
        ConsumptionRequest {
            customer_consented: consented,
            consumption_percentage: consumed,
            delivery_status: status,
            sample_content_provided: false,
            refund_preference: pref,
        }
    }

    #[test]
    fn apples_field_names_and_enums() {
        let r = request(
            true,
            Some(25_000),
            DeliveryStatus::Delivered,
            Some(RefundPreference::GrantProrated),
        );
        assert_eq!(
            serde_json::to_value(r).unwrap(),
            serde_json::json!({"customerConsented": true, "consumptionPercentage": 25000,
                "deliveryStatus": "DELIVERED", "sampleContentProvided": false,
                "refundPreference": "GRANT_PRORATED"})
        );
        let r = request(true, None, DeliveryStatus::UndeliveredServerOutage, None);
        assert_eq!(
            serde_json::to_value(r).unwrap(),
            serde_json::json!({"customerConsented": true,
                "deliveryStatus": "UNDELIVERED_SERVER_OUTAGE", "sampleContentProvided": false})
        );
    }

    #[test]
    fn apples_constraints_are_checked_before_sending() {
        use DeliveryStatus::*;
        assert_eq!(
            request(false, None, Delivered, None).check(),
            Err(ConsumptionError::NoConsent)
        );
        assert_eq!(
            request(true, Some(100_001), Delivered, None).check(),
            Err(ConsumptionError::OverFull(100_001))
        );
        assert_eq!(
            request(true, Some(1), UndeliveredOther, None).check(),
            Err(ConsumptionError::ConsumedUndelivered)
        );
        assert_eq!(
            request(
                true,
                Some(0),
                UndeliveredOther,
                Some(RefundPreference::GrantFull)
            )
            .check(),
            Ok(())
        );
        assert_eq!(
            request(
                true,
                Some(0),
                Delivered,
                Some(RefundPreference::GrantProrated)
            )
            .check(),
            Err(ConsumptionError::ProratedWithoutConsumption)
        );
        assert_eq!(
            request(
                true,
                Some(100_000),
                Delivered,
                Some(RefundPreference::Decline)
            )
            .check(),
            Ok(())
        );
    }
}
