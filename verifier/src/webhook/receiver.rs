//! The receiver's check: what an application server runs on every webhook it gets.
//!
//! A webhook is an HTTP `POST` with a JSON body and these headers:
//!
//! - `PaySeal-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`: the MAC
//!   is over the decimal timestamp, a `.`, and the **exact raw body bytes** (check before
//!   parsing; never re-serialize). Several `v1=` entries may appear (secret rotation): one
//!   matching is enough.
//! - `PaySeal-Webhook-Id`: the event id, equal to the body's `id`.
//! - `PaySeal-Event`: `purchase.paid` or `purchase.revoked`, equal to the body's `type`.
//!
//! The body: `{"id": "...", "type": "purchase.paid", "created": <unix seconds>, "app": "...",
//! "data": {...}}`. For `purchase.paid`, `data` is the claims of the `paid / first` verdict
//! (`id` is its `jti`); for `purchase.revoked`, `data` names the store, transaction, owning
//! account, product, `first_verdict_id`, `revoked_at` and `reason`.
//!
//! Receivers must:
//! 1. verify the signature with a constant-time comparison ([`verify_webhook`] does);
//! 2. reject timestamps further than a tolerance from their clock (default
//!    [`DEFAULT_TOLERANCE`], 5 minutes), which bounds replays;
//! 3. **deduplicate by `id`**: delivery is at least once (a retry after a lost `2xx`, or a
//!    verifier that crashed after sending), so store the ids already handled (e.g. a unique
//!    key in the table that grants the item) and answer `2xx` to a duplicate without granting
//!    again;
//! 4. answer `2xx` only once the event is durably handled; anything else is retried with
//!    exponential backoff until the app's give-up age.

use std::time::Duration;

use hmac::Mac;
use serde::{Deserialize, Serialize};

use super::signing::mac;

/// Default tolerance between the signature's timestamp and the receiver's clock.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);

/// Event type of a first paid redemption.
pub const PURCHASE_PAID: &str = "purchase.paid";
/// Event type of a revocation (refund, chargeback, store revocation).
pub const PURCHASE_REVOKED: &str = "purchase.revoked";

/// A webhook whose signature and timestamp were verified.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookEvent {
    /// The idempotency id: deduplicate by it.
    pub id: String,
    /// `purchase.paid` or `purchase.revoked` (ignore types you do not know).
    #[serde(rename = "type")]
    pub event_type: String,
    /// When the event was created (unix seconds); retries keep it.
    pub created: i64,
    /// The app id.
    pub app: String,
    /// The event's data (the verdict claims for `purchase.paid`).
    pub data: serde_json::Value,
}

/// Why a webhook was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// The signature header is missing a `t=` or `v1=` part, or they do not parse.
    #[error("malformed PaySeal-Signature header")]
    MalformedHeader,
    /// The timestamp is too far from the receiver's clock (a replay or a skewed clock).
    #[error("timestamp outside the tolerance ({age_secs} s from now)")]
    Stale {
        /// Signed timestamp minus now, in seconds (negative: in the past).
        age_secs: i64,
    },
    /// No `v1` signature matches (wrong secret, or the body or timestamp was altered).
    #[error("signature does not match")]
    BadSignature,
    /// The signature is good but the body is not a PaySeal event.
    #[error("body is not a PaySeal webhook event")]
    MalformedBody,
}

/// Check a webhook: `secret` (the app's webhook secret bytes), the `PaySeal-Signature` header
/// value, the raw body, the receiver's clock `now` (unix seconds) and the accepted clock
/// distance `tolerance` (use [`DEFAULT_TOLERANCE`]). Returns the parsed event; deduplicate it
/// by [`WebhookEvent::id`] before acting on it.
pub fn verify_webhook(
    secret: &[u8],
    header: &str,
    body: &[u8],
    now: i64,
    tolerance: Duration,
) -> Result<WebhookEvent, WebhookError> {
    let mut timestamp: Option<i64> = None;
    let mut signatures: Vec<Vec<u8>> = Vec::new();
    for part in header.split(',') {
        let Some((key, value)) = part.trim().split_once('=') else {
            return Err(WebhookError::MalformedHeader);
        };
        match key {
            "t" => {
                if timestamp.is_some() {
                    return Err(WebhookError::MalformedHeader);
                }
                let t = value
                    .parse::<i64>()
                    .map_err(|_| WebhookError::MalformedHeader)?;
                timestamp = Some(t);
            }
            "v1" => {
                let sig = hex::decode(value).map_err(|_| WebhookError::MalformedHeader)?;
                if sig.len() != 32 || signatures.len() >= 8 {
                    return Err(WebhookError::MalformedHeader);
                }
                signatures.push(sig);
            }
            // Other schemes (future versions) are ignored.
            _ => {}
        }
    }
    let t = timestamp.ok_or(WebhookError::MalformedHeader)?;
    if signatures.is_empty() {
        return Err(WebhookError::MalformedHeader);
    }
    let age_secs = t.saturating_sub(now);
    let tolerance = i64::try_from(tolerance.as_secs()).unwrap_or(i64::MAX);
    if age_secs.unsigned_abs() > tolerance.unsigned_abs() {
        return Err(WebhookError::Stale { age_secs });
    }
    // `verify_slice` compares in constant time.
    let matched = signatures
        .iter()
        .any(|sig| mac(secret, t, body).verify_slice(sig).is_ok());
    if !matched {
        return Err(WebhookError::BadSignature);
    }
    serde_json::from_slice(body).map_err(|_| WebhookError::MalformedBody)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhook::signing::signature_header;

    const BODY: &[u8] =
        br#"{"id":"e1","type":"purchase.paid","created":1700000000,"app":"a","data":{}}"#;

    #[test]
    fn good_forged_altered_stale_and_malformed() {
        let now = 1_700_000_000;
        let header = signature_header(b"secret-1", now, BODY);
        let event = verify_webhook(b"secret-1", &header, BODY, now + 10, DEFAULT_TOLERANCE)
            .expect("genuine");
        assert_eq!(event.id, "e1");
        assert_eq!(event.event_type, PURCHASE_PAID);
        assert_eq!(
            verify_webhook(b"secret-2", &header, BODY, now, DEFAULT_TOLERANCE),
            Err(WebhookError::BadSignature)
        );
        let altered = String::from_utf8(BODY.to_vec())
            .unwrap()
            .replace("e1", "e2");
        assert_eq!(
            verify_webhook(
                b"secret-1",
                &header,
                altered.as_bytes(),
                now,
                DEFAULT_TOLERANCE
            ),
            Err(WebhookError::BadSignature)
        );
        // A changed timestamp breaks the MAC.
        let moved = header.replacen(&format!("t={now}"), &format!("t={}", now + 1), 1);
        assert_eq!(
            verify_webhook(b"secret-1", &moved, BODY, now, DEFAULT_TOLERANCE),
            Err(WebhookError::BadSignature)
        );
        assert_eq!(
            verify_webhook(b"secret-1", &header, BODY, now + 301, DEFAULT_TOLERANCE),
            Err(WebhookError::Stale { age_secs: -301 })
        );
        assert!(matches!(
            verify_webhook(b"secret-1", &header, BODY, now - 301, DEFAULT_TOLERANCE),
            Err(WebhookError::Stale { .. })
        ));
        for bad in [
            "",
            "t=1",
            "v1=00",
            "t=x,v1=00",
            "t=1,v1=zz",
            "garbage",
            "t=1,t=1,v1=",
        ] {
            assert_eq!(
                verify_webhook(b"secret-1", bad, BODY, now, DEFAULT_TOLERANCE),
                Err(WebhookError::MalformedHeader),
                "{bad:?}"
            );
        }
        // Rotation: any matching v1 is enough.
        let other = signature_header(b"old", now, BODY);
        let both = format!("{header},{}", other.split_once(',').unwrap().1);
        assert!(verify_webhook(b"old", &both, BODY, now, DEFAULT_TOLERANCE).is_ok());
        // Signed, but not an event.
        let junk = b"[1,2]";
        let h = signature_header(b"secret-1", now, junk);
        assert_eq!(
            verify_webhook(b"secret-1", &h, junk, now, DEFAULT_TOLERANCE),
            Err(WebhookError::MalformedBody)
        );
    }
}
