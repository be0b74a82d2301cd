//! The App Store Server API client: one app's calls, authenticated by a fresh ES256 token per
//! call ([`token`]), to the production or sandbox base URL by the transaction's environment,
//! over the verifier's one outbound client (`crate::background::outbound_client`).
//!
//! - `429` and `5xx` (and transport failures) are retried with exponential backoff, a
//!   `Retry-After` honoured up to the configured maximum ([`crate::settings::ApiRetry`]); then
//!   [`AppStoreApiError::GaveUp`].
//! - Apple's error bodies (`{"errorCode": 4040010, "errorMessage": "..."}`) become
//!   [`AppStoreApiError::Api`]; a `401` (a bad token: wrong key, key id or issuer) is
//!   [`AppStoreApiError::Unauthorized`].
//! - Every signed value Apple returns is checked by the StoreKit 2 rule's one JWS function
//!   (`payseal_rules::app_store::verify_jws`: `x5c` chain to the configured Apple root, marker
//!   OIDs, validity at `signedDate`) and its `bundleId` against the app before anything uses
//!   it: nothing from the API is trusted unsigned.
//!
//! Requests: [`AppStoreApi::send_consumption`] (`PUT
//! /inApps/v2/transactions/consumption/{transactionId}`, [`consumption::ConsumptionRequest`]),
//! [`AppStoreApi::transaction_info`] (`GET /inApps/v1/transactions/{transactionId}`) and
//! [`AppStoreApi::subscription_status`] (`GET /inApps/v1/subscriptions/{transactionId}`, Get
//! All Subscription Statuses: asked at a subscription's first redemption, `crate::service`).

use std::time::Duration;

use payseal_protocol::Environment;
use serde::Deserialize;

use crate::rules::app_store::Transaction;
use crate::rules::{Rejection, TrustAnchors};
use crate::settings::AppStoreApiSettings;

pub mod consumption;
pub mod status;
pub mod token;

pub use consumption::{ConsumptionError, ConsumptionRequest, DeliveryStatus, RefundPreference};

/// Why an App Store Server API call did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum AppStoreApiError {
    /// The token could not be signed (the key is unusable).
    #[error("App Store Server API token: {0}")]
    Token(String),
    /// The request body breaks Apple's constraints (nothing was sent).
    #[error(transparent)]
    Request(#[from] ConsumptionError),
    /// `401`: Apple refused the token (key, key id, issuer id or bundle id wrong).
    #[error("App Store Server API refused the token (401): check key_id, issuer_id and the key")]
    Unauthorized,
    /// Apple answered an error (`4xx` but 401/429) with its body, when it had one.
    #[error("App Store Server API {status}: {code:?} {message:?}")]
    Api {
        /// The HTTP status.
        status: u16,
        /// `errorCode`.
        code: Option<i64>,
        /// `errorMessage`.
        message: Option<String>,
    },
    /// `429`, `5xx` or transport failures on every attempt.
    #[error("App Store Server API: gave up after {attempts} attempts (last: {last})")]
    GaveUp {
        /// Attempts made.
        attempts: u32,
        /// The last failure (status or transport error).
        last: String,
    },
    /// A signed value failed the StoreKit 2 check (or names another app).
    #[error("App Store Server API answer refused: {0}")]
    Signature(String),
    /// The answer is not the documented JSON.
    #[error("App Store Server API answer does not parse: {0}")]
    Decode(String),
}

impl AppStoreApiError {
    /// Whether a later try may succeed (the durable queue retries these).
    pub fn retryable(&self) -> bool {
        matches!(self, AppStoreApiError::GaveUp { .. })
    }

    /// Apple does not know the transaction (`404`, e.g. `errorCode` 4040010
    /// `TransactionIdNotFoundError`).
    pub fn not_found(&self) -> bool {
        matches!(self, AppStoreApiError::Api { status: 404, .. })
    }
}

impl From<Rejection> for AppStoreApiError {
    fn from(r: Rejection) -> Self {
        AppStoreApiError::Signature(format!("{}: {}", r.reason.as_str(), r.detail))
    }
}

/// Apple's error body.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ErrorBody {
    error_code: Option<i64>,
    error_message: Option<String>,
}

/// `Get Transaction Info`'s body.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TransactionInfoBody {
    signed_transaction_info: String,
}

/// `Get All Subscription Statuses`' body (`StatusResponse`), the fields read here.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StatusResponse {
    #[serde(default)]
    data: Vec<SubscriptionGroupItem>,
}

/// `SubscriptionGroupIdentifierItem`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SubscriptionGroupItem {
    #[serde(default)]
    last_transactions: Vec<LastTransactionsItem>,
}

/// `lastTransactionsItem`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct LastTransactionsItem {
    original_transaction_id: String,
    status: i64,
    signed_transaction_info: String,
    signed_renewal_info: String,
}

/// One chain's status as Apple answered it, its signed values checked.
#[derive(Debug)]
pub struct ChainStatus {
    /// `status`: 1 active, 2 expired, 3 billing retry, 4 billing grace, 5 revoked.
    pub status: i64,
    /// The chain's latest transaction (`signedTransactionInfo`, checked).
    pub transaction: Transaction,
    /// Its renewal info (`signedRenewalInfo`, checked).
    pub renewal: crate::notifications::app_store::RenewalInfo,
}

/// One app's App Store Server API.
#[derive(Debug, Clone)]
pub struct AppStoreApi {
    client: reqwest::Client,
    settings: AppStoreApiSettings,
}

impl AppStoreApi {
    /// Calls for `settings` over `client` (the verifier's outbound client).
    pub fn new(client: reqwest::Client, settings: AppStoreApiSettings) -> Self {
        Self { client, settings }
    }

    /// The app's settings.
    pub fn settings(&self) -> &AppStoreApiSettings {
        &self.settings
    }

    fn base(&self, environment: Environment) -> &str {
        match environment {
            Environment::Production => &self.settings.production_url,
            Environment::Sandbox => &self.settings.sandbox_url,
        }
    }

    /// `PUT /inApps/v2/transactions/consumption/{transactionId}`: `request` checked against
    /// Apple's constraints first; `202` is success.
    pub async fn send_consumption(
        &self,
        environment: Environment,
        transaction_id: &str,
        request: &ConsumptionRequest,
    ) -> Result<(), AppStoreApiError> {
        request.check()?;
        let body =
            serde_json::to_vec(request).map_err(|e| AppStoreApiError::Decode(e.to_string()))?;
        let path = format!(
            "/inApps/v2/transactions/consumption/{}",
            path_segment(transaction_id)
        );
        self.call(reqwest::Method::PUT, environment, &path, Some(body))
            .await
            .map(|_| ())
    }

    /// `GET /inApps/v1/transactions/{transactionId}`: the transaction, its
    /// `signedTransactionInfo` checked by the StoreKit 2 rule's JWS function under `anchors`
    /// and bound to this app's bundle id.
    pub async fn transaction_info(
        &self,
        environment: Environment,
        transaction_id: &str,
        anchors: &TrustAnchors,
        now_ms: i64,
    ) -> Result<Transaction, AppStoreApiError> {
        let path = format!("/inApps/v1/transactions/{}", path_segment(transaction_id));
        let body = self
            .call(reqwest::Method::GET, environment, &path, None)
            .await?;
        let body: TransactionInfoBody =
            serde_json::from_slice(&body).map_err(|e| AppStoreApiError::Decode(e.to_string()))?;
        let tx: Transaction =
            crate::rules::app_store::verify_jws(&body.signed_transaction_info, anchors, now_ms)?;
        if tx.bundle_id != self.settings.bundle_id {
            return Err(AppStoreApiError::Signature(format!(
                "signed for bundle {:?}, not {:?}",
                tx.bundle_id, self.settings.bundle_id
            )));
        }
        Ok(tx)
    }

    /// `GET /inApps/v1/subscriptions/{transactionId}` (Get All Subscription Statuses): the
    /// status of the chain `original_transaction_id`, found in the answer's
    /// `data[].lastTransactions[]`; its `signedTransactionInfo` and `signedRenewalInfo` checked
    /// by the StoreKit 2 rule's JWS function under `anchors`, bound to this app's bundle id
    /// and `environment`, and naming that chain. `None`: Apple lists no such chain.
    pub async fn subscription_status(
        &self,
        environment: Environment,
        transaction_id: &str,
        original_transaction_id: &str,
        anchors: &TrustAnchors,
        now_ms: i64,
    ) -> Result<Option<ChainStatus>, AppStoreApiError> {
        let path = format!("/inApps/v1/subscriptions/{}", path_segment(transaction_id));
        let body = self
            .call(reqwest::Method::GET, environment, &path, None)
            .await?;
        let body: StatusResponse =
            serde_json::from_slice(&body).map_err(|e| AppStoreApiError::Decode(e.to_string()))?;
        let Some(item) = body
            .data
            .into_iter()
            .flat_map(|g| g.last_transactions)
            .find(|t| t.original_transaction_id == original_transaction_id)
        else {
            return Ok(None);
        };
        let tx: Transaction =
            crate::rules::app_store::verify_jws(&item.signed_transaction_info, anchors, now_ms)?;
        let renewal: crate::notifications::app_store::RenewalInfo =
            crate::rules::app_store::verify_jws(&item.signed_renewal_info, anchors, now_ms)?;
        let apple_env = match environment {
            Environment::Production => "Production",
            Environment::Sandbox => "Sandbox",
        };
        let refused = |what: &str| Err(AppStoreApiError::Signature(what.to_string()));
        if tx.bundle_id != self.settings.bundle_id {
            return refused("signedTransactionInfo is another app's");
        }
        if tx.environment != apple_env || renewal.environment.as_deref() != Some(apple_env) {
            return refused("a signed value is of another environment");
        }
        let chain = tx
            .original_transaction_id
            .as_deref()
            .unwrap_or(&tx.transaction_id);
        if chain != original_transaction_id
            || renewal.original_transaction_id.as_deref() != Some(original_transaction_id)
        {
            return refused("a signed value names another originalTransactionId");
        }
        Ok(Some(ChainStatus {
            status: item.status,
            transaction: tx,
            renewal,
        }))
    }

    /// One call with retries: a fresh token per attempt.
    async fn call(
        &self,
        method: reqwest::Method,
        environment: Environment,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Vec<u8>, AppStoreApiError> {
        let retry = self.settings.retry;
        let url = format!("{}{}", self.base(environment), path);
        let mut last = String::new();
        for attempt in 1..=retry.attempts {
            let now_s = payseal_protocol::time::now_s();
            let token = token::token(&self.settings, now_s)
                .map_err(|e| AppStoreApiError::Token(e.to_string()))?;
            let mut request = self
                .client
                .request(method.clone(), &url)
                .bearer_auth(token)
                .timeout(retry.timeout);
            if let Some(b) = &body {
                request = request
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(b.clone());
            }
            let wait = match request.send().await {
                Err(e) => {
                    last = e.without_url().to_string();
                    None
                }
                Ok(response) => {
                    let status = response.status().as_u16();
                    let retry_after = response
                        .headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .map(Duration::from_secs);
                    let bytes = response
                        .bytes()
                        .await
                        .map(|b| b.to_vec())
                        .unwrap_or_default();
                    match status {
                        200..=299 => return Ok(bytes),
                        401 => return Err(AppStoreApiError::Unauthorized),
                        429 | 500..=599 => {
                            last = format!("HTTP {status}");
                            retry_after
                        }
                        _ => {
                            let parsed: Option<ErrorBody> = serde_json::from_slice(&bytes).ok();
                            return Err(AppStoreApiError::Api {
                                status,
                                code: parsed.as_ref().and_then(|b| b.error_code),
                                message: parsed.and_then(|b| b.error_message),
                            });
                        }
                    }
                }
            };
            if attempt < retry.attempts {
                let backoff = retry
                    .base_delay
                    .saturating_mul(1 << (attempt - 1).min(16))
                    .min(retry.max_delay);
                let delay = wait.map_or(backoff, |w| w.min(retry.max_delay));
                tracing::debug!(app = %self.settings.app_id, attempt, last = %last,
                    delay_ms = delay.as_millis() as u64, "App Store Server API: retrying");
                tokio::time::sleep(delay).await;
            }
        }
        Err(AppStoreApiError::GaveUp {
            attempts: retry.attempts,
            last,
        })
    }
}

/// `s` as one URL path segment (transaction ids are digits; anything else is escaped).
fn path_segment(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.' {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
