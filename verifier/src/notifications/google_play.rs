//! Google Play Real-time developer notifications (RTDN) through a Cloud Pub/Sub **push**
//! subscription: `POST /v1/stores/google-play/rtdn`.
//!
//! The request, as Pub/Sub sends it:
//!
//! - `Authorization: Bearer <JWT>`: an OpenID Connect ID token signed by Google (RS256, `kid`
//!   of a key in `https://www.googleapis.com/oauth2/v3/certs`), with `iss`
//!   `https://accounts.google.com` (or `accounts.google.com`), `aud` = the audience set on the
//!   push subscription, `email` = the subscription's service account with `email_verified`
//!   true, and `iat`/`exp`. [`authenticate`] checks all of it against [`RtdnSettings`].
//! - The body, the push envelope ([`PushEnvelope`]): `{"message": {"data": "<base64>",
//!   "messageId": "…", "publishTime": "…", "attributes": {…}}, "subscription":
//!   "projects/…/subscriptions/…"}`, whose `data` decodes to a [`DeveloperNotification`]:
//!   `{"version": "1.0", "packageName": "…", "eventTimeMillis": "…", and one of
//!   "voidedPurchaseNotification", "oneTimeProductNotification", "subscriptionNotification",
//!   "pendingRefundReviewNotification", "testNotification"}`.
//!
//! What is done ([`decide`]): a `voidedPurchaseNotification` (refund, chargeback or
//! revocation) with a full refund revokes the redemption by `orderId`, then by
//! `purchaseToken` (a store event: [`super::play_void_event`]); a quantity-based partial refund
//! (`refundType` 2) revokes nothing (the buyer keeps the items not refunded; PaySeal's ledger
//! has no partial revocation) and is counted as `partial_refund`. A
//! `pendingRefundReviewNotification` is recorded and, when an app of the package answers
//! refunds, its `orders.reviewrefund` answer is queued in the same ledger transaction
//! ([`super::play_refund_review_event`], answered by `crate::refunds`). The other kinds are
//! acknowledged and counted: PaySeal decides purchases from the signed purchase data, and a
//! cancelled pending purchase was never paid.
//!
//! Answers (Pub/Sub redelivers anything but a success for up to the subscription's retention,
//! seven days by default): `200` with `{"result": …}` for every authenticated, well-formed
//! message, **including a package no app here is configured for** (`unknown_package`: a
//! topic can carry several apps, and retrying would not help; it is logged and counted); `401`
//! (no token, bad signature, unknown key, expired) and `403` (valid Google token for another
//! audience or service account) change nothing; `400` for an authenticated message that does
//! not decode (left to Pub/Sub's retries and dead-letter topic, for an operator to look at);
//! `503` when the ledger cannot record it (Pub/Sub retries: nothing is lost).
//!
//! Pure parts ([`decode_push`], [`decide`], [`check_token_header`], [`check_claims`]) are
//! separate from the I/O ([`RtdnEndpoint::handle`]: JWKS, ledger).

use std::collections::HashMap;
use std::time::Duration;

use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use base64::Engine as _;
use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;

use super::jwks::{JwksCache, JwksError};
use super::StoreAnswer;
use crate::google_api::live::decide_subscription;
use crate::google_api::resources::PURCHASE_STATE_CANCELED;
use crate::google_api::PlayApi;
use crate::ledger::Ledger;
use crate::settings::Settings;

/// The push endpoint's path.
pub const RTDN_PATH: &str = "/v1/stores/google-play/rtdn";

/// Google's OIDC signing keys (the default `jwks_url`).
pub const GOOGLE_JWKS_URL: &str = "https://www.googleapis.com/oauth2/v3/certs";

/// The issuers of Google ID tokens.
pub const GOOGLE_ISSUERS: [&str; 2] = ["https://accounts.google.com", "accounts.google.com"];

/// Default lifetime of the cached JWKS.
pub const DEFAULT_JWKS_TTL: Duration = Duration::from_secs(3600);

/// Clock skew allowed on `exp`, seconds.
pub const LEEWAY_SECONDS: u64 = 60;

pub use crate::settings::RtdnSettings;

// ---------------------------------------------------------------------------------------------
// The envelope and the notification (pure)

/// The Pub/Sub push request body.
#[derive(Debug, Clone, Deserialize)]
pub struct PushEnvelope {
    /// The message.
    pub message: PushMessage,
    /// `projects/PROJECT/subscriptions/NAME`.
    #[serde(default)]
    pub subscription: String,
}

/// A Pub/Sub message as pushed (Pub/Sub sends the ids in camelCase and snake_case both).
#[derive(Debug, Clone, Deserialize)]
pub struct PushMessage {
    /// Base64 of the payload.
    #[serde(default)]
    pub data: Option<String>,
    /// `messageId`.
    #[serde(rename = "messageId", default)]
    pub message_id: Option<String>,
    /// `message_id` (the same value).
    #[serde(rename = "message_id", default)]
    message_id_snake: Option<String>,
    /// `publishTime` (RFC 3339).
    #[serde(rename = "publishTime", default)]
    pub publish_time: Option<String>,
    /// Message attributes.
    #[serde(default)]
    pub attributes: HashMap<String, String>,
}

impl PushMessage {
    /// The message id (either spelling), or `""`.
    pub fn id(&self) -> &str {
        self.message_id
            .as_deref()
            .or(self.message_id_snake.as_deref())
            .unwrap_or("")
    }
}

/// Google Play's `DeveloperNotification` (the decoded `message.data`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeveloperNotification {
    /// `"1.0"`.
    pub version: String,
    /// The app's package name.
    pub package_name: String,
    /// When the event happened, Unix milliseconds (a JSON string in Google's encoding).
    #[serde(deserialize_with = "crate::upstream::int64")]
    pub event_time_millis: i64,
    /// A one-time product was bought or a pending one cancelled.
    pub one_time_product_notification: Option<OneTimeProductNotification>,
    /// A subscription changed.
    pub subscription_notification: Option<SubscriptionNotification>,
    /// A purchase was voided (refund, chargeback, revocation).
    pub voided_purchase_notification: Option<VoidedPurchaseNotification>,
    /// A customer asked for a refund and Google asks the developer (`orders.reviewrefund`
    /// within 24 hours).
    pub pending_refund_review_notification: Option<PendingRefundReviewNotification>,
    /// A test notification from the Play Console.
    pub test_notification: Option<TestNotification>,
}

/// `pendingRefundReviewNotification`: `{"version", "pendingRefundToken", "orderId",
/// "refundReason", "obfuscatedAccountId", "obfuscatedProfileId"}` (the fields read here).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingRefundReviewNotification {
    /// The token `orders.reviewrefund` needs.
    #[serde(default)]
    pub pending_refund_token: String,
    /// The order the customer asked a refund of (a Play purchase's ledger key).
    #[serde(default)]
    pub order_id: String,
}

/// `voidedPurchaseNotification`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VoidedPurchaseNotification {
    /// The voided purchase's token.
    pub purchase_token: String,
    /// Its order id (absent for some test purchases).
    #[serde(default)]
    pub order_id: Option<String>,
    /// `1` subscription, `2` one-time product.
    #[serde(default)]
    pub product_type: Option<i64>,
    /// `1` full refund, `2` quantity-based partial refund.
    #[serde(default)]
    pub refund_type: Option<i64>,
}

/// `oneTimeProductNotification`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OneTimeProductNotification {
    /// `1` purchased, `2` canceled (a pending purchase).
    pub notification_type: i64,
    /// The purchase token.
    #[serde(default)]
    pub purchase_token: String,
    /// The product id.
    #[serde(default)]
    pub sku: String,
}

/// `subscriptionNotification`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionNotification {
    /// The subscription notification type (`1`…`20`).
    pub notification_type: i64,
    /// The purchase token.
    #[serde(default)]
    pub purchase_token: String,
}

/// `testNotification`.
#[derive(Debug, Clone, Deserialize)]
pub struct TestNotification {
    /// `"1.0"`.
    #[serde(default)]
    pub version: String,
}

/// Why a push body is not a Play notification.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The body is not a Pub/Sub push envelope.
    #[error("not a Pub/Sub push envelope: {0}")]
    Envelope(String),
    /// `message.data` is missing or not Base64.
    #[error("message.data is missing or not Base64")]
    Data,
    /// `message.data` is not a DeveloperNotification.
    #[error("message.data is not a Play DeveloperNotification: {0}")]
    Notification(String),
    /// More than one notification kind in one message (they are mutually exclusive).
    #[error("more than one notification kind in one message")]
    Ambiguous,
}

/// Decode a push body into its envelope and Play notification.
pub fn decode_push(body: &[u8]) -> Result<(PushEnvelope, DeveloperNotification), DecodeError> {
    let envelope: PushEnvelope =
        serde_json::from_slice(body).map_err(|e| DecodeError::Envelope(e.to_string()))?;
    let data = envelope.message.data.as_deref().ok_or(DecodeError::Data)?;
    let raw = STANDARD
        .decode(data)
        .or_else(|_| URL_SAFE.decode(data))
        .map_err(|_| DecodeError::Data)?;
    let notification: DeveloperNotification =
        serde_json::from_slice(&raw).map_err(|e| DecodeError::Notification(e.to_string()))?;
    if notification.package_name.is_empty() {
        return Err(DecodeError::Notification("empty packageName".into()));
    }
    let kinds = [
        notification.one_time_product_notification.is_some(),
        notification.subscription_notification.is_some(),
        notification.voided_purchase_notification.is_some(),
        notification.pending_refund_review_notification.is_some(),
        notification.test_notification.is_some(),
    ];
    if kinds.iter().filter(|k| **k).count() > 1 {
        return Err(DecodeError::Ambiguous);
    }
    Ok((envelope, notification))
}

impl DeveloperNotification {
    /// The `type` label: `voided_purchase`, `one_time_product`, `subscription`, `test` or
    /// `other` (a kind this verifier does not know, e.g. a newer one).
    pub fn type_label(&self) -> &'static str {
        if self.voided_purchase_notification.is_some() {
            "voided_purchase"
        } else if self.one_time_product_notification.is_some() {
            "one_time_product"
        } else if self.subscription_notification.is_some() {
            "subscription"
        } else if self.pending_refund_review_notification.is_some() {
            "pending_refund_review"
        } else if self.test_notification.is_some() {
            "test"
        } else {
            "other"
        }
    }
}

/// What to do with a notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action<'a> {
    /// Revoke the purchase's redemption (by `orderId`, then `purchaseToken`).
    Revoke {
        /// The order id, when the notification has one.
        order_id: Option<&'a str>,
        /// The purchase token.
        purchase_token: &'a str,
        /// The reason recorded and sent in the `purchase.revoked` webhook.
        reason: String,
    },
    /// A subscription changed: ask Google (`purchases.subscriptionsv2.get`) and record its
    /// answer, when an app of the package has the Play Developer API; else acknowledged.
    Subscription {
        /// The chain's purchase token.
        purchase_token: &'a str,
        /// The notification type (`SUBSCRIPTION_RENEWED` is `2`, ...).
        notification_type: i64,
    },
    /// Google asks the developer about a customer's refund request: record it and queue the
    /// answer (`orders.reviewrefund`) when an app of the package answers refunds.
    ReviewRefund {
        /// The order.
        order_id: &'a str,
        /// The token of the review.
        pending_refund_token: &'a str,
    },
    /// Acknowledge without changing anything; the word is the `result` label.
    Acknowledge(&'static str),
}

/// `subscriptionNotification.notificationType`, by Google's name (the RTDN reference).
pub const SUBSCRIPTION_NOTIFICATION_TYPES: [(i64, &str); 15] = [
    (1, "SUBSCRIPTION_RECOVERED"),
    (2, "SUBSCRIPTION_RENEWED"),
    (3, "SUBSCRIPTION_CANCELED"),
    (4, "SUBSCRIPTION_PURCHASED"),
    (5, "SUBSCRIPTION_ON_HOLD"),
    (6, "SUBSCRIPTION_IN_GRACE_PERIOD"),
    (7, "SUBSCRIPTION_RESTARTED"),
    (8, "SUBSCRIPTION_PRICE_CHANGE_CONFIRMED"),
    (9, "SUBSCRIPTION_DEFERRED"),
    (10, "SUBSCRIPTION_PAUSED"),
    (11, "SUBSCRIPTION_PAUSE_SCHEDULE_CHANGED"),
    (12, "SUBSCRIPTION_REVOKED"),
    (13, "SUBSCRIPTION_EXPIRED"),
    (19, "SUBSCRIPTION_PRICE_CHANGE_UPDATED"),
    (20, "SUBSCRIPTION_PENDING_PURCHASE_CANCELED"),
];

/// `SUBSCRIPTION_REVOKED`: the purchase was revoked before its expiry (a refund).
pub const SUBSCRIPTION_REVOKED: i64 = 12;

/// The name of a subscription notification type, as recorded (`subscriptionNotification:N`
/// for a number this version does not know).
pub fn subscription_type_name(notification_type: i64) -> String {
    SUBSCRIPTION_NOTIFICATION_TYPES
        .iter()
        .find(|(n, _)| *n == notification_type)
        .map(|(_, name)| (*name).to_string())
        .unwrap_or_else(|| format!("subscriptionNotification:{notification_type}"))
}

/// The decision for a notification (pure).
pub fn decide(n: &DeveloperNotification) -> Action<'_> {
    if let Some(v) = &n.voided_purchase_notification {
        if v.refund_type == Some(2) {
            return Action::Acknowledge("partial_refund");
        }
        let product = match v.product_type {
            Some(1) => "subscription",
            Some(2) => "one-time product",
            _ => "purchase",
        };
        return Action::Revoke {
            order_id: v.order_id.as_deref().filter(|o| !o.is_empty()),
            purchase_token: &v.purchase_token,
            reason: format!(
                "google_play: voided {product} (real-time developer notification; refund, \
                 chargeback or revocation)"
            ),
        };
    }
    if let Some(sub) = &n.subscription_notification {
        if !sub.purchase_token.is_empty() {
            return Action::Subscription {
                purchase_token: &sub.purchase_token,
                notification_type: sub.notification_type,
            };
        }
    }
    if let Some(r) = &n.pending_refund_review_notification {
        if r.order_id.is_empty() || r.pending_refund_token.is_empty() {
            return Action::Acknowledge("malformed");
        }
        return Action::ReviewRefund {
            order_id: &r.order_id,
            pending_refund_token: &r.pending_refund_token,
        };
    }
    if n.test_notification.is_some() {
        return Action::Acknowledge("test");
    }
    Action::Acknowledge("ignored")
}

// ---------------------------------------------------------------------------------------------
// The push token (pure checks)

/// Why a push request is not authenticated ([`AuthError::status`]: 401 or 403).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization: Bearer` header.
    #[error("no bearer token")]
    Missing,
    /// The token is not a JWT with a usable header.
    #[error("malformed token: {0}")]
    Malformed(String),
    /// The header's `alg` is not RS256 (`none`, HS256 …).
    #[error("token algorithm {0} refused (RS256 only)")]
    Algorithm(String),
    /// The header has no `kid`, or no key with it is published.
    #[error("unknown signing key: {0}")]
    UnknownKey(String),
    /// Google's keys could not be fetched.
    #[error("signing keys unavailable: {0}")]
    KeysUnavailable(String),
    /// Bad signature, expired, or claims of the wrong shape.
    #[error("invalid token: {0}")]
    Invalid(String),
    /// `iss` is not Google.
    #[error("issuer {0:?} is not Google")]
    Issuer(String),
    /// `aud` is not the configured audience.
    #[error("audience {0:?} is not the configured one")]
    Audience(String),
    /// `email` is not the configured push service account.
    #[error("service account {0:?} is not the configured one")]
    Email(String),
    /// `email_verified` is not true.
    #[error("email not verified")]
    EmailNotVerified,
}

impl AuthError {
    /// `401` when the token itself is missing or invalid, `403` when a valid Google token is
    /// not for this endpoint. A `503` is never given: a request that cannot be checked is
    /// refused, and Pub/Sub retries it.
    pub fn status(&self) -> u16 {
        match self {
            AuthError::Issuer(_)
            | AuthError::Audience(_)
            | AuthError::Email(_)
            | AuthError::EmailNotVerified => 403,
            _ => 401,
        }
    }

    /// The `result` label.
    pub fn result(&self) -> &'static str {
        if self.status() == 403 {
            "forbidden"
        } else {
            "unauthorized"
        }
    }
}

/// The claims of a Pub/Sub push token that are checked.
#[derive(Debug, Clone, Deserialize)]
pub struct PushClaims {
    /// Issuer.
    pub iss: String,
    /// Audience (one string for Pub/Sub).
    pub aud: String,
    /// The push service account.
    #[serde(default)]
    pub email: Option<String>,
    /// Whether Google verified the email.
    #[serde(default)]
    pub email_verified: Option<bool>,
    /// Expiry, Unix seconds.
    pub exp: i64,
    /// Issued at, Unix seconds.
    pub iat: i64,
}

/// The token of an `Authorization` header value (`Bearer <token>`, scheme case-insensitive).
pub fn bearer(header: Option<&str>) -> Result<&str, AuthError> {
    let value = header.ok_or(AuthError::Missing)?.trim();
    let (scheme, token) = value.split_once(' ').ok_or(AuthError::Missing)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(AuthError::Missing);
    }
    Ok(token)
}

/// The `kid` of a token whose header says RS256; anything else (`none`, HS256, …) is refused
/// before any key is looked up.
pub fn check_token_header(token: &str) -> Result<String, AuthError> {
    // The alg is read from the raw header first, so `none` (which jsonwebtoken does not parse)
    // and HS256 are named in the error.
    let head = token
        .split('.')
        .next()
        .ok_or_else(|| AuthError::Malformed("not a JWT".into()))?;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(head.trim_end_matches('='))
        .map_err(|_| AuthError::Malformed("header is not base64url".into()))?;
    let header: serde_json::Value = serde_json::from_slice(&raw)
        .map_err(|_| AuthError::Malformed("header is not JSON".into()))?;
    let alg = header.get("alg").and_then(|a| a.as_str()).unwrap_or("");
    if alg != "RS256" {
        return Err(AuthError::Algorithm(format!("{alg:?}")));
    }
    let parsed =
        jsonwebtoken::decode_header(token).map_err(|e| AuthError::Malformed(e.to_string()))?;
    parsed
        .kid
        .filter(|k| !k.is_empty())
        .ok_or_else(|| AuthError::UnknownKey("no kid in the token header".into()))
}

/// The claim checks after the signature and expiry: issuer, audience, service account.
pub fn check_claims(claims: &PushClaims, settings: &RtdnSettings) -> Result<(), AuthError> {
    if !GOOGLE_ISSUERS.contains(&claims.iss.as_str()) {
        return Err(AuthError::Issuer(claims.iss.clone()));
    }
    if claims.aud != settings.audience {
        return Err(AuthError::Audience(claims.aud.clone()));
    }
    match &claims.email {
        Some(e) if e.eq_ignore_ascii_case(&settings.service_account) => {}
        other => return Err(AuthError::Email(other.clone().unwrap_or_default())),
    }
    if claims.email_verified != Some(true) {
        return Err(AuthError::EmailNotVerified);
    }
    Ok(())
}

/// Check a push request's `Authorization` header: an RS256 token signed by a key of the
/// configured JWKS, not expired (60 s leeway), for this audience and service account.
pub async fn authenticate(
    authorization: Option<&str>,
    settings: &RtdnSettings,
    jwks: &JwksCache,
) -> Result<PushClaims, AuthError> {
    let token = bearer(authorization)?;
    let kid = check_token_header(token)?;
    let key = jwks.key(&kid).await.map_err(|e| match e {
        JwksError::UnknownKid(k) => AuthError::UnknownKey(k),
        JwksError::Unavailable(why) => AuthError::KeysUnavailable(why.to_string()),
    })?;
    let mut validation = Validation::new(Algorithm::RS256);
    validation.leeway = LEEWAY_SECONDS;
    validation.validate_exp = true;
    validation.validate_aud = false; // checked below (403, not 401)
    validation.set_required_spec_claims(&["exp"]);
    let data = jsonwebtoken::decode::<PushClaims>(token, &key, &validation)
        .map_err(|e| AuthError::Invalid(e.to_string()))?;
    check_claims(&data.claims, settings)?;
    Ok(data.claims)
}

// ---------------------------------------------------------------------------------------------
// The endpoint (I/O)

/// The push endpoint: its settings and the cached Google keys.
#[derive(Debug)]
pub struct RtdnEndpoint {
    settings: RtdnSettings,
    jwks: JwksCache,
}

impl RtdnEndpoint {
    /// An endpoint for `settings`, fetching Google's keys with `client` (the verifier's
    /// outbound client).
    pub fn new(settings: RtdnSettings, client: reqwest::Client) -> Self {
        let jwks = JwksCache::new(
            settings.jwks_url.clone(),
            settings.jwks_ttl,
            client,
            settings.fetch_timeout,
        );
        Self { settings, jwks }
    }

    /// Authenticate, decode and act on one push request.
    pub async fn handle(
        &self,
        verifier: &Settings,
        ledger: &dyn Ledger,
        apis: &HashMap<String, std::sync::Arc<PlayApi>>,
        authorization: Option<&str>,
        body: &[u8],
        now_ms: i64,
    ) -> StoreAnswer {
        if let Err(e) = authenticate(authorization, &self.settings, &self.jwks).await {
            tracing::warn!(error = %e, "Play RTDN push refused");
            return StoreAnswer::new(e.status(), "unknown", e.result());
        }
        let (envelope, notification) = match decode_push(body) {
            Ok(decoded) => decoded,
            Err(e) => {
                tracing::warn!(error = %e, "Play RTDN push not decodable");
                return StoreAnswer::new(400, "unknown", "malformed");
            }
        };
        let message_id = envelope.message.id();
        let kind = notification.type_label();
        let package = notification.package_name.as_str();
        let (order_id, purchase_token, reason) = match decide(&notification) {
            Action::Acknowledge(result) => {
                if super::apps_with_package(verifier, package).is_empty() {
                    return unknown_package(message_id, package, kind);
                }
                tracing::info!(message_id, package, kind, result, "Play RTDN");
                return StoreAnswer::new(200, kind, result);
            }
            Action::Revoke {
                order_id,
                purchase_token,
                reason,
            } => (order_id, purchase_token, reason),
            Action::Subscription {
                purchase_token,
                notification_type,
            } => {
                let push = SubscriptionPush {
                    message_id,
                    package,
                    purchase_token,
                    notification_type,
                    event_time_ms: notification.event_time_millis,
                };
                return subscription_push(verifier, ledger, apis, push, now_ms).await;
            }
            Action::ReviewRefund {
                order_id,
                pending_refund_token,
            } => {
                let review = super::PlayRefundReview {
                    message_id,
                    package_name: package,
                    order_id,
                    pending_refund_token,
                    at_ms: notification.event_time_millis,
                };
                let Some(event) = super::play_refund_review_event(verifier, review) else {
                    return unknown_package(message_id, package, kind);
                };
                return match super::record(verifier, ledger, &event, now_ms).await {
                    Ok(recorded) => {
                        let answer = StoreAnswer::recorded(kind, &recorded);
                        tracing::info!(
                            message_id,
                            package,
                            kind,
                            order_id,
                            result = answer.result,
                            duplicate = answer.duplicate,
                            "Play RTDN"
                        );
                        answer
                    }
                    Err(e) => {
                        tracing::error!(message_id, error = %e,
                            "Play RTDN: ledger unavailable; Pub/Sub will redeliver");
                        StoreAnswer::new(503, kind, "error")
                    }
                };
            }
        };
        // A push is a hint: with the app's Play Developer API, Google confirms the claim first.
        let claim = VoidClaim {
            package,
            order_id,
            purchase_token,
            event_time_ms: notification.event_time_millis,
            now_ms,
        };
        match confirm_void(verifier, ledger, apis, claim).await {
            Confirmation::Confirmed | Confirmation::NotAsked => {}
            Confirmation::NotListed => {
                tracing::warn!(
                    message_id,
                    package,
                    kind,
                    "Play RTDN: the void is not in Google's voided purchases (yet); nothing \
                     changed, Pub/Sub will redeliver"
                );
                return StoreAnswer::new(503, kind, "not_confirmed");
            }
            Confirmation::Denied => {
                tracing::warn!(
                    message_id,
                    package,
                    kind,
                    "Play RTDN: Google does not confirm the void; nothing changed"
                );
                return StoreAnswer::new(200, kind, "not_confirmed");
            }
            Confirmation::Unavailable(e) => {
                tracing::warn!(message_id, package, error = %e,
                    "Play RTDN: Google could not confirm the void; Pub/Sub will redeliver");
                return StoreAnswer::new(503, kind, "error");
            }
        }
        let void = super::PlayVoid {
            event_id: message_id.to_string(),
            event_type: "voidedPurchaseNotification",
            type_label: kind,
            package_name: package,
            order_id,
            purchase_token,
            reason,
            at_ms: notification.event_time_millis,
        };
        let Some(event) = super::play_void_event(verifier, void) else {
            return unknown_package(message_id, package, kind);
        };
        match super::record(verifier, ledger, &event, now_ms).await {
            Ok(recorded) => {
                let answer = StoreAnswer::recorded(kind, &recorded);
                tracing::info!(
                    message_id,
                    package,
                    kind,
                    result = answer.result,
                    duplicate = answer.duplicate,
                    "Play RTDN"
                );
                answer
            }
            Err(e) => {
                tracing::error!(message_id, error = %e,
                    "Play RTDN: ledger unavailable; Pub/Sub will redeliver");
                StoreAnswer::new(503, kind, "error")
            }
        }
    }
}

/// A pushed `subscriptionNotification`, as [`subscription_push`] handles it.
#[derive(Debug, Clone, Copy)]
struct SubscriptionPush<'a> {
    message_id: &'a str,
    package: &'a str,
    purchase_token: &'a str,
    notification_type: i64,
    event_time_ms: i64,
}

/// A subscription push is a hint: with the Play Developer API of an app of the package,
/// `purchases.subscriptionsv2.get` says what is true, and the chain's row takes that answer
/// when it is newer than the stored one (a store event; `subscription.updated` when it
/// changed). `SUBSCRIPTION_REVOKED` revokes the chain only when Google's answer confirms it
/// (`SUBSCRIPTION_STATE_EXPIRED`). Without the API it is acknowledged (`ignored`), as before.
async fn subscription_push(
    verifier: &Settings,
    ledger: &dyn Ledger,
    apis: &HashMap<String, std::sync::Arc<PlayApi>>,
    push: SubscriptionPush<'_>,
    now_ms: i64,
) -> StoreAnswer {
    const KIND: &str = "subscription";
    let SubscriptionPush {
        message_id,
        package,
        purchase_token,
        notification_type,
        event_time_ms,
    } = push;
    let apps = super::apps_with_package(verifier, package);
    if apps.is_empty() {
        return unknown_package(message_id, package, KIND);
    }
    let Some(api) = apps.iter().find_map(|app| apis.get(*app)) else {
        tracing::info!(
            message_id,
            package,
            "Play RTDN subscription: no Play Developer API; acknowledged"
        );
        return StoreAnswer::new(200, KIND, "ignored");
    };
    let type_name = subscription_type_name(notification_type);
    let fetched = api.subscriptionsv2_get(purchase_token).await;
    let checked_ms = crate::now_ms().max(now_ms);
    let answer = match fetched {
        Ok(s) => match decide_subscription(&s, checked_ms) {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(message_id, package, error = %e,
                    "Play RTDN subscription: Google's answer is unusable; Pub/Sub will redeliver");
                return StoreAnswer::new(503, KIND, "error");
            }
        },
        Err(e) if e.google().is_some_and(|g| g.not_found()) => {
            tracing::warn!(message_id, package, kind = %type_name,
                "Play RTDN subscription: Google knows no such subscription; nothing changed");
            return StoreAnswer::new(200, KIND, "not_confirmed");
        }
        Err(e) => {
            tracing::warn!(message_id, package, error = %e,
                "Play RTDN subscription: Google could not be asked; Pub/Sub will redeliver");
            return StoreAnswer::new(503, KIND, "error");
        }
    };
    let Some(state) = answer.subscription_state else {
        return StoreAnswer::new(503, KIND, "error");
    };
    let event = if notification_type == SUBSCRIPTION_REVOKED {
        if state != payseal_protocol::SubscriptionState::Expired {
            tracing::warn!(
                message_id,
                package,
                state = state.as_str(),
                "Play RTDN: Google does not confirm the subscription's revocation; nothing changed"
            );
            return StoreAnswer::new(200, KIND, "not_confirmed");
        }
        super::play_void_event(
            verifier,
            super::PlayVoid {
                event_id: message_id.to_string(),
                event_type: "SUBSCRIPTION_REVOKED",
                type_label: KIND,
                package_name: package,
                order_id: None,
                purchase_token,
                reason: format!(
                    "google_play: subscription revoked (SUBSCRIPTION_REVOKED, confirmed by \
                     subscriptionsv2.get: {})",
                    answer.detail
                ),
                at_ms: event_time_ms,
            },
        )
    } else {
        let stored = super::log::SubscriptionAnswer {
            state,
            expires_at_ms: answer.expires_at,
            checked_ms,
            will_renew: answer.will_renew,
        };
        super::play_subscription_event(
            verifier,
            message_id,
            type_name,
            package,
            purchase_token,
            event_time_ms,
            stored,
        )
    };
    let Some(event) = event else {
        return unknown_package(message_id, package, KIND);
    };
    match super::record(verifier, ledger, &event, now_ms).await {
        Ok(recorded) => {
            let answer = StoreAnswer::recorded(KIND, &recorded);
            tracing::info!(
                message_id,
                package,
                kind = KIND,
                result = answer.result,
                duplicate = answer.duplicate,
                state = state.as_str(),
                "Play RTDN subscription"
            );
            answer
        }
        Err(e) => {
            tracing::error!(message_id, error = %e,
                "Play RTDN: ledger unavailable; Pub/Sub will redeliver");
            StoreAnswer::new(503, KIND, "error")
        }
    }
}

/// What Google said of a pushed void.
#[derive(Debug)]
enum Confirmation {
    /// Google says the purchase is cancelled.
    Confirmed,
    /// Google says it is not.
    Denied,
    /// Not asked: no app of the package has the API.
    NotAsked,
    /// Not in Google's list of voided purchases (yet): Pub/Sub redelivers a genuine push.
    NotListed,
    /// Google could not be asked.
    Unavailable(crate::google_api::ApiError),
}

/// Confirm a pushed void with Google, for the first app of `package` that has the Play
/// Developer API: a redeemed one-time purchase with `purchases.products.get` (its product id is
/// the ledger row's); a purchase never redeemed here, or a subscription, by finding its token in
/// `voidedpurchases.list` from an hour before the push's event time to now.
async fn confirm_void(
    verifier: &Settings,
    ledger: &dyn Ledger,
    apis: &HashMap<String, std::sync::Arc<PlayApi>>,
    void: VoidClaim<'_>,
) -> Confirmation {
    for app in super::apps_with_package(verifier, void.package) {
        let Some(api) = apis.get(app) else {
            continue;
        };
        let key = void.order_id.unwrap_or(void.purchase_token);
        let one_time = match ledger
            .find(payseal_protocol::Store::GooglePlay, app, key)
            .await
        {
            Ok(Some(row))
                if row.account_id != crate::ledger::UNREDEEMED_ACCOUNT
                    && row.expires_at_ms.is_none() =>
            {
                Some(row)
            }
            _ => None,
        };
        return match one_time {
            Some(row) => match api.products_get(&row.product_id, void.purchase_token).await {
                Ok(p) if p.purchase_state == Some(PURCHASE_STATE_CANCELED) => {
                    Confirmation::Confirmed
                }
                Ok(_) => Confirmation::Denied,
                Err(e) if e.google().is_some_and(|g| g.not_found()) => Confirmation::Denied,
                Err(e) => Confirmation::Unavailable(e),
            },
            None => listed_as_voided(api, &void).await,
        };
    }
    Confirmation::NotAsked
}

/// What a pushed void claims: the package, the order id (when Google gave one), the token and
/// the push's event time.
struct VoidClaim<'a> {
    package: &'a str,
    order_id: Option<&'a str>,
    purchase_token: &'a str,
    event_time_ms: i64,
    now_ms: i64,
}

/// Most `voidedpurchases.list` pages read to confirm one push.
const MAX_CONFIRM_PAGES: u32 = 20;

/// Whether Google lists the claimed purchase as voided.
async fn listed_as_voided(api: &PlayApi, void: &VoidClaim<'_>) -> Confirmation {
    let start = void
        .event_time_ms
        .min(void.now_ms)
        .saturating_sub(3_600_000);
    let mut page_token: Option<String> = None;
    for _ in 0..MAX_CONFIRM_PAGES {
        let body = match api
            .voidedpurchases_list(start, void.now_ms, page_token.as_deref())
            .await
        {
            Ok(body) => body,
            Err(e) => return Confirmation::Unavailable(e),
        };
        let Ok(page) = super::voided::parse_page(&body) else {
            return Confirmation::NotListed;
        };
        if page.purchases.iter().any(|p| {
            p.purchase_token == void.purchase_token
                && (void.order_id.is_none() || p.order_id.as_deref() == void.order_id)
        }) {
            return Confirmation::Confirmed;
        }
        match page.next_page_token {
            Some(next) => page_token = Some(next),
            None => break,
        }
    }
    Confirmation::NotListed
}

/// A push for a package no app here is configured for: acknowledged, nothing changed.
fn unknown_package(message_id: &str, package: &str, kind: &'static str) -> StoreAnswer {
    tracing::warn!(
        message_id,
        package,
        kind,
        "Play RTDN for a package no app here is configured for: acknowledged, nothing changed"
    );
    StoreAnswer::new(200, kind, "unknown_package")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn push(notification: serde_json::Value) -> Vec<u8> {
        serde_json::json!({
            "message": {
                "attributes": {},
                "data": STANDARD.encode(notification.to_string()),
                "messageId": "136969346945",
                "message_id": "136969346945",
                "publishTime": "2026-12-06T10:00:00.123Z",
                "publish_time": "2026-12-06T10:00:00.123Z"
            },
            "subscription": "projects/myproject/subscriptions/mysubscription"
        })
        .to_string()
        .into_bytes()
    }

    fn voided(refund_type: i64) -> serde_json::Value {
        serde_json::json!({
            "version": "1.0",
            "packageName": "com.example.game",
            "eventTimeMillis": "1503349566168",
            "voidedPurchaseNotification": {
                "purchaseToken": "PURCHASE_TOKEN",
                "orderId": "GPA.3322-5525-2442-04131",
                "productType": 2,
                "refundType": refund_type
            }
        })
    }

    #[test]
    fn a_pending_refund_review_decodes_to_its_order_and_token() {
        let body = serde_json::json!({"version": "1.0", "packageName": "p",
            "eventTimeMillis": "1765000000000", "pendingRefundReviewNotification": {
                "version": "1.0", "pendingRefundToken": "prt-1", "orderId": "GPA.1",
                "refundReason": 7, "obfuscatedAccountId": "acc", "obfuscatedProfileId": "prof"}});
        let (_, n) = decode_push(&push(body)).unwrap();
        assert_eq!(n.type_label(), "pending_refund_review");
        assert_eq!(
            decide(&n),
            Action::ReviewRefund {
                order_id: "GPA.1",
                pending_refund_token: "prt-1"
            }
        );
        let two = serde_json::json!({"version": "1.0", "packageName": "p", "eventTimeMillis": "1",
            "pendingRefundReviewNotification": {"pendingRefundToken": "t", "orderId": "o"},
            "testNotification": {"version": "1.0"}});
        assert!(matches!(
            decode_push(&push(two)),
            Err(DecodeError::Ambiguous)
        ));
    }

    #[test]
    fn a_voided_purchase_push_decodes_and_revokes_by_order_then_token() {
        let (envelope, n) = decode_push(&push(voided(1))).unwrap();
        assert_eq!(envelope.message.id(), "136969346945");
        assert_eq!(
            envelope.subscription,
            "projects/myproject/subscriptions/mysubscription"
        );
        assert_eq!(n.package_name, "com.example.game");
        assert_eq!(n.event_time_millis, 1_503_349_566_168);
        assert_eq!(n.type_label(), "voided_purchase");
        match decide(&n) {
            Action::Revoke {
                order_id,
                purchase_token,
                reason,
            } => {
                assert_eq!(order_id, Some("GPA.3322-5525-2442-04131"));
                assert_eq!(purchase_token, "PURCHASE_TOKEN");
                assert!(reason.contains("one-time product"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        // A partial refund revokes nothing.
        let (_, n) = decode_push(&push(voided(2))).unwrap();
        assert_eq!(decide(&n), Action::Acknowledge("partial_refund"));
        // No orderId (test purchases): by token only.
        let mut v = voided(1);
        v["voidedPurchaseNotification"]
            .as_object_mut()
            .unwrap()
            .remove("orderId");
        v["eventTimeMillis"] = serde_json::json!(1_503_349_566_168_i64);
        let (_, n) = decode_push(&push(v)).unwrap();
        assert!(matches!(
            decide(&n),
            Action::Revoke {
                order_id: None,
                purchase_token: "PURCHASE_TOKEN",
                ..
            }
        ));
    }

    #[test]
    fn other_kinds_are_acknowledged() {
        for (body, kind, result) in [
            (
                serde_json::json!({"version": "1.0", "packageName": "p", "eventTimeMillis": "1",
                    "testNotification": {"version": "1.0"}}),
                "test",
                "test",
            ),
            (
                serde_json::json!({"version": "1.0", "packageName": "p", "eventTimeMillis": "1",
                    "oneTimeProductNotification": {"version": "1.0", "notificationType": 2,
                        "purchaseToken": "t", "sku": "coins_100"}}),
                "one_time_product",
                "ignored",
            ),
            (
                serde_json::json!({"version": "1.0", "packageName": "p", "eventTimeMillis": "1",
                    "pendingRefundReviewNotification": {}}),
                "pending_refund_review",
                "malformed",
            ),
            (
                serde_json::json!({"version": "1.0", "packageName": "p", "eventTimeMillis": "1",
                    "someFutureNotification": {}}),
                "other",
                "ignored",
            ),
        ] {
            let (_, n) = decode_push(&push(body)).unwrap();
            assert_eq!(n.type_label(), kind);
            assert_eq!(decide(&n), Action::Acknowledge(result));
        }
    }

    #[test]
    fn a_subscription_push_asks_google_about_its_token() {
        let body = serde_json::json!({"version": "1.0", "packageName": "p",
            "eventTimeMillis": "1", "subscriptionNotification": {"version": "1.0",
                "notificationType": 2, "purchaseToken": "t", "subscriptionId": "monthly"}});
        let (_, n) = decode_push(&push(body)).unwrap();
        assert_eq!(n.type_label(), "subscription");
        assert_eq!(
            decide(&n),
            Action::Subscription {
                purchase_token: "t",
                notification_type: 2
            }
        );
        assert_eq!(subscription_type_name(2), "SUBSCRIPTION_RENEWED");
        assert_eq!(subscription_type_name(12), "SUBSCRIPTION_REVOKED");
        assert_eq!(
            subscription_type_name(20),
            "SUBSCRIPTION_PENDING_PURCHASE_CANCELED"
        );
        assert_eq!(subscription_type_name(99), "subscriptionNotification:99");
    }

    #[test]
    fn bad_bodies_are_typed_errors() {
        assert!(matches!(
            decode_push(b"not json"),
            Err(DecodeError::Envelope(_))
        ));
        assert!(matches!(
            decode_push(br#"{"message": {"messageId": "1"}}"#),
            Err(DecodeError::Data)
        ));
        assert!(matches!(
            decode_push(br#"{"message": {"data": "***"}}"#),
            Err(DecodeError::Data)
        ));
        let not_play = STANDARD.encode(br#"{"hello": 1}"#);
        assert!(matches!(
            decode_push(format!(r#"{{"message": {{"data": "{not_play}"}}}}"#).as_bytes()),
            Err(DecodeError::Notification(_))
        ));
        let mut two = voided(1);
        two["testNotification"] = serde_json::json!({"version": "1.0"});
        assert_eq!(decode_push(&push(two)).unwrap_err(), DecodeError::Ambiguous);
        let mut bad_time = voided(1);
        bad_time["eventTimeMillis"] = serde_json::json!("soon");
        assert!(matches!(
            decode_push(&push(bad_time)),
            Err(DecodeError::Notification(_))
        ));
    }

    fn settings() -> RtdnSettings {
        RtdnSettings {
            audience: "https://verifier.example/v1/stores/google-play/rtdn".into(),
            service_account: "push@proj.iam.gserviceaccount.com".into(),
            jwks_url: GOOGLE_JWKS_URL.into(),
            jwks_ttl: DEFAULT_JWKS_TTL,
            fetch_timeout: Duration::from_secs(5),
        }
    }

    fn claims() -> PushClaims {
        PushClaims {
            iss: "https://accounts.google.com".into(),
            aud: settings().audience,
            email: Some("push@proj.iam.gserviceaccount.com".into()),
            email_verified: Some(true),
            exp: 2,
            iat: 1,
        }
    }

    #[test]
    fn claims_are_checked_one_by_one() {
        let s = settings();
        assert_eq!(check_claims(&claims(), &s), Ok(()));
        let mut c = claims();
        c.iss = "accounts.google.com".into();
        assert_eq!(check_claims(&c, &s), Ok(()));
        for (mutate, status) in [
            (
                (|c: &mut PushClaims| c.iss = "https://evil.example".into()) as fn(&mut _),
                403,
            ),
            (|c| c.aud = "https://other.example/push".into(), 403),
            (
                |c| c.email = Some("someone@proj.iam.gserviceaccount.com".into()),
                403,
            ),
            (|c| c.email = None, 403),
            (|c| c.email_verified = Some(false), 403),
            (|c| c.email_verified = None, 403),
        ] {
            let mut c = claims();
            mutate(&mut c);
            let err = check_claims(&c, &s).unwrap_err();
            assert_eq!(err.status(), status, "{err}");
            assert_eq!(err.result(), "forbidden");
        }
    }

    fn token(header: serde_json::Value) -> String {
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        format!(
            "{}.{}.c2ln",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode("{}")
        )
    }

    #[test]
    fn only_rs256_headers_with_a_kid_pass() {
        assert_eq!(
            check_token_header(&token(serde_json::json!({"alg": "RS256", "kid": "k1"}))),
            Ok("k1".into())
        );
        for (header, want) in [
            (serde_json::json!({"alg": "none", "kid": "k1"}), "Algorithm"),
            (
                serde_json::json!({"alg": "HS256", "kid": "k1"}),
                "Algorithm",
            ),
            (
                serde_json::json!({"alg": "ES256", "kid": "k1"}),
                "Algorithm",
            ),
            (serde_json::json!({"kid": "k1"}), "Algorithm"),
            (serde_json::json!({"alg": "RS256"}), "UnknownKey"),
        ] {
            let err = check_token_header(&token(header.clone())).unwrap_err();
            assert!(format!("{err:?}").starts_with(want), "{header}: {err:?}");
            assert_eq!(err.status(), 401);
        }
        assert!(matches!(
            check_token_header("%%%.x.y"),
            Err(AuthError::Malformed(_))
        ));
        assert_eq!(bearer(None), Err(AuthError::Missing));
        assert_eq!(bearer(Some("Basic abc")), Err(AuthError::Missing));
        assert_eq!(bearer(Some("Bearer ")), Err(AuthError::Missing));
        assert_eq!(bearer(Some("bearer abc")), Ok("abc"));
    }
}
