//! Store server notifications: what the stores tell the verifier after a purchase (refunds,
//! chargebacks, revocations), so that a refunded purchase is revoked without an operator.
//!
//! - [`google_play`]: Google Play Real-time developer notifications, delivered by a Cloud
//!   Pub/Sub push subscription to `POST /v1/stores/google-play/rtdn` and authenticated by the
//!   Google-signed OIDC token Pub/Sub puts in `Authorization: Bearer` (keys from [`jwks`]).
//! - [`voided`]: the Google Play Voided Purchases API poller (optional per app), a background
//!   task of `serve` with a service-account OAuth2 client and a cursor persisted in the ledger.
//!
//! Both end in [`revoke_play_purchase`]: the redemption is revoked through
//! [`crate::service::revoke`] (same transaction as its `purchase.revoked` webhook row; a second
//! revocation is `AlreadyRevoked` and enqueues nothing, so redeliveries are harmless). What came
//! in is counted in `payseal_store_notifications_total{store,type,result}` and logged with the
//! Pub/Sub `messageId` (never the purchase token).
//!
//! - [`huawei`]: Huawei AppGallery IAP server notifications (version 2, one-time products):
//!   an unsigned refund notification makes the verifier ask Huawei's Order service, and only
//!   its signed purchase data (`purchaseState` 2) revokes.

use std::time::{Duration, Instant};

use payseal_protocol::Store;
use serde::Deserialize;
use tokio::sync::Mutex;

use crate::ledger::{Redemptions, RevokeOutcome};
use crate::service::ServiceError;
use crate::settings::Settings;

pub mod google_play;
pub mod huawei;
pub mod jwks;
pub mod voided;

/// The store label of Google Play in `payseal_store_notifications_total`.
pub const STORE_GOOGLE_PLAY: &str = "google_play";

/// What a Play void did to the ledger, over every app configured with its package name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlayVoidOutcome {
    /// A redemption was revoked now (and its webhook row enqueued, if the app has a webhook).
    Revoked,
    /// Its redemption had been revoked before: nothing changed.
    AlreadyRevoked,
    /// No redemption of this purchase exists (never presented to this verifier): nothing
    /// recorded.
    NotRedeemed,
    /// No configured app has this Play package name: nothing recorded.
    UnknownPackage,
}

impl PlayVoidOutcome {
    /// The `result` label and JSON answer word.
    pub fn as_str(self) -> &'static str {
        match self {
            PlayVoidOutcome::Revoked => "revoked",
            PlayVoidOutcome::AlreadyRevoked => "already_revoked",
            PlayVoidOutcome::NotRedeemed => "not_redeemed",
            PlayVoidOutcome::UnknownPackage => "unknown_package",
        }
    }
}

/// The ids of apps whose `google_play.package_name` is `package_name` (sorted).
pub fn apps_with_package<'a>(settings: &'a Settings, package_name: &str) -> Vec<&'a str> {
    let mut ids: Vec<&str> = settings
        .apps
        .values()
        .filter(|a| {
            a.google_play
                .as_ref()
                .is_some_and(|g| g.package_name == package_name)
        })
        .map(|a| a.app_id.as_str())
        .collect();
    ids.sort_unstable();
    ids
}

/// Revoke the redemption of a voided Play purchase in every app with `package_name`. The ledger
/// key of a Play purchase is its `orderId`, or its `purchaseToken` when it has no order id:
/// so `order_id` is tried first, then `purchase_token`.
pub async fn revoke_play_purchase(
    settings: &Settings,
    ledger: &dyn Redemptions,
    package_name: &str,
    order_id: Option<&str>,
    purchase_token: Option<&str>,
    reason: &str,
    now_ms: i64,
) -> Result<PlayVoidOutcome, ServiceError> {
    let apps = apps_with_package(settings, package_name);
    if apps.is_empty() {
        return Ok(PlayVoidOutcome::UnknownPackage);
    }
    let keys: Vec<&str> = [order_id, purchase_token]
        .into_iter()
        .flatten()
        .filter(|k| !k.is_empty())
        .collect();
    let mut overall = PlayVoidOutcome::NotRedeemed;
    for app_id in apps {
        for key in &keys {
            let outcome = crate::service::revoke(
                settings,
                ledger,
                Store::GooglePlay,
                app_id,
                key,
                reason,
                now_ms,
            )
            .await?;
            match outcome {
                RevokeOutcome::Revoked => {
                    overall = PlayVoidOutcome::Revoked;
                    break;
                }
                RevokeOutcome::AlreadyRevoked => {
                    if overall != PlayVoidOutcome::Revoked {
                        overall = PlayVoidOutcome::AlreadyRevoked;
                    }
                    break;
                }
                RevokeOutcome::NotFound => {}
            }
        }
    }
    Ok(overall)
}

/// An HTTPS client for the stores' servers: Mozilla roots, no redirects, `timeout` per request.
pub(crate) fn store_client(timeout: std::time::Duration) -> Result<reqwest::Client, String> {
    crate::webhook::worker::http_client(timeout).map_err(|e| e.to_string())
}

/// Read a response body of at most `max` bytes (a larger one is an error, not truncated).
pub(crate) async fn read_limited(
    mut response: reqwest::Response,
    max: usize,
) -> Result<Vec<u8>, String> {
    if response
        .content_length()
        .is_some_and(|n| n > u64::try_from(max).unwrap_or(u64::MAX))
    {
        return Err(format!("response larger than {max} bytes"));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| format!("reading the response: {}", e.without_url()))?
    {
        if body.len() + chunk.len() > max {
            return Err(format!("response larger than {max} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// An int64 that Google and Huawei send as a JSON string (`"1503349566168"`) or a number.
#[derive(Deserialize)]
#[serde(untagged)]
enum Int64 {
    Text(String),
    Number(i64),
}

/// Deserialize an [`Int64`] field.
pub(crate) fn int64<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    match Int64::deserialize(d)? {
        Int64::Number(n) => Ok(n),
        Int64::Text(s) => s
            .parse()
            .map_err(|_| serde::de::Error::custom("not an int64")),
    }
}

/// Deserialize an optional [`Int64`] field.
pub(crate) fn opt_int64<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    #[derive(Deserialize)]
    struct Wrap(#[serde(deserialize_with = "int64")] i64);
    Ok(Option::<Wrap>::deserialize(d)?.map(|w| w.0))
}

/// An OAuth2 access token, kept until a minute before it expires. Never printed.
#[derive(Default)]
pub(crate) struct CachedToken(Mutex<Option<(zeroize::Zeroizing<String>, Instant)>>);

impl std::fmt::Debug for CachedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CachedToken(***)")
    }
}

impl CachedToken {
    /// The cached token, or a new one from `fetch` (its token and lifetime), cached.
    pub(crate) async fn get_or_fetch<E, F>(
        &self,
        fetch: impl FnOnce() -> F,
    ) -> Result<zeroize::Zeroizing<String>, E>
    where
        F: std::future::Future<Output = Result<(String, Duration), E>>,
    {
        let mut cached = self.0.lock().await;
        if let Some((token, until)) = cached.as_ref() {
            if Instant::now() < *until {
                return Ok(token.clone());
            }
        }
        let (token, lifetime) = fetch().await?;
        let token = zeroize::Zeroizing::new(token);
        let until = Instant::now() + lifetime.saturating_sub(Duration::from_secs(60));
        *cached = Some((token.clone(), until));
        Ok(token)
    }

    /// Drop the cached token (after the server refused it).
    pub(crate) async fn forget(&self) {
        *self.0.lock().await = None;
    }
}
