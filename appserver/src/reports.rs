//! [`VerifierApi`]: the application server's calls to the verifier's app-server API, with its
//! [`AppServerCredential`]: confirm a delivery, report consumption, report an account's
//! consent. What the verifier answers a store's refund request with comes from these reports.
//!
//! [`VerifierApi::accept`] is the delivery guard that confirms by itself: the token checked and
//! the purchase claimed (as [`crate::JwksTokenVerifier::accept`]), then the delivery confirmed
//! to the verifier. A failed confirmation does not undo the grant (the item is the player's);
//! it is returned beside the grant so the caller can log it and confirm again later.

use std::time::Duration;

use payseal_protocol::app_server::{
    ConsentBody, DeliveryReportBody, RefundHistoryAnswer, ReportAnswer, ReportResult, CONSENT_PATH,
    DELIVERIES_PATH, REFUND_HISTORY_PATH,
};

use crate::credential::AppServerCredential;
use crate::delivery::{DeliveryGuard, PurchaseKey};
use crate::jwks::JwksTokenVerifier;
use crate::policy::{Grant, TokenError};
use crate::replay::ReplayGuard;

/// Why a report did not reach the verifier or was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReportError {
    /// The base URL is not `https://HOST[:PORT]`.
    #[error("verifier URL {0:?} is not an https:// URL")]
    Url(String),
    /// The TLS configuration failed (an extra root is not PEM, ...).
    #[error("TLS configuration: {0}")]
    Tls(String),
    /// The request failed (connect, TLS, timeout).
    #[error("request to the verifier failed: {0}")]
    Transport(String),
    /// `401`: the verifier does not know this credential (wrong key, or no `app_server` key
    /// configured for the app).
    #[error("the verifier refused the app-server credential (401)")]
    Unauthorized,
    /// The verifier refused the report itself (`not_found`: this app never redeemed that
    /// purchase; `wrong_account`; `not_redeemed`; `invalid`).
    #[error("the verifier refused the report: {0:?}")]
    Refused(ReportResult),
    /// Any other status (`503`: the verifier's ledger is down; retry later).
    #[error("the verifier answered HTTP {0}")]
    Status(u16),
}

/// Where the verifier is and which roots to trust.
#[derive(Debug, Clone)]
pub struct VerifierApiOptions {
    /// `https://HOST[:PORT]` of the verifier.
    pub base_url: String,
    /// Extra trusted root certificates (PEM).
    pub extra_roots_pem: Vec<Vec<u8>>,
    /// Also trust the Mozilla roots. Default true.
    pub builtin_roots: bool,
    /// Request timeout. Default 10 s.
    pub timeout: Duration,
}

impl VerifierApiOptions {
    /// Defaults for `base_url`.
    pub fn new(base_url: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into(),
            extra_roots_pem: Vec::new(),
            builtin_roots: true,
            timeout: Duration::from_secs(10),
        }
    }

    /// Add a trusted root certificate (PEM).
    pub fn with_extra_root_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.extra_roots_pem.push(pem.into());
        self
    }
}

/// The verifier's app-server API, authenticated as one app.
#[derive(Debug, Clone)]
pub struct VerifierApi {
    pub(crate) http: reqwest::Client,
    pub(crate) base: reqwest::Url,
    pub(crate) credential: AppServerCredential,
}

impl VerifierApi {
    /// A client for `options` authenticating with `credential`.
    pub fn new(
        options: VerifierApiOptions,
        credential: AppServerCredential,
    ) -> Result<Self, ReportError> {
        let base = reqwest::Url::parse(&options.base_url)
            .ok()
            .filter(|u| u.scheme() == "https" && u.host_str().is_some())
            .ok_or_else(|| ReportError::Url(options.base_url.clone()))?;
        let tls = crate::jwks::client_config(options.builtin_roots, &options.extra_roots_pem)
            .map_err(|e| ReportError::Tls(e.to_string()))?;
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .https_only(true)
            .timeout(options.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("payseal-appserver/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ReportError::Tls(e.to_string()))?;
        Ok(Self {
            http,
            base,
            credential,
        })
    }

    async fn post<B: serde::Serialize>(&self, path: &str, body: &B) -> Result<(), ReportError> {
        let url = self
            .base
            .join(path)
            .map_err(|_| ReportError::Url(self.base.to_string()))?;
        let response = self
            .credential
            .authorize(self.http.post(url).json(body))
            .send()
            .await
            .map_err(|e| ReportError::Transport(e.without_url().to_string()))?;
        let status = response.status().as_u16();
        if status == 401 {
            return Err(ReportError::Unauthorized);
        }
        let answer: Option<ReportAnswer> = response.json().await.ok();
        match (status, answer) {
            (200, Some(a)) if a.result == ReportResult::Recorded => Ok(()),
            (404 | 409 | 422, Some(a)) => Err(ReportError::Refused(a.result)),
            (status, _) => Err(ReportError::Status(status)),
        }
    }

    /// Confirm that `grant`'s purchase was delivered to its account.
    pub async fn confirm_delivery(&self, grant: &Grant) -> Result<(), ReportError> {
        self.post(
            DELIVERIES_PATH,
            &DeliveryReportBody {
                store: grant.store,
                transaction_id: grant.transaction_id.clone(),
                account: grant.account.clone(),
                delivered: true,
                consumed_milliunits: None,
                usage_events: None,
            },
        )
        .await
    }

    /// Report how much of a delivered purchase `account` consumed (`0..=100000` milliunits)
    /// and, when counted, how often it used it.
    pub async fn report_consumption(
        &self,
        purchase: &PurchaseKey,
        account: &str,
        consumed_milliunits: u32,
        usage_events: Option<u32>,
    ) -> Result<(), ReportError> {
        self.post(
            DELIVERIES_PATH,
            &DeliveryReportBody {
                store: purchase.store,
                transaction_id: purchase.transaction_id.clone(),
                account: account.to_string(),
                delivered: false,
                consumed_milliunits: Some(consumed_milliunits),
                usage_events,
            },
        )
        .await
    }

    /// Report whether `account` consents to sharing its consumption data with the store
    /// (without consent the verifier sends Apple no consumption data).
    pub async fn set_consent(&self, account: &str, consented: bool) -> Result<(), ReportError> {
        self.post(
            CONSENT_PATH,
            &ConsentBody {
                account: account.to_string(),
                consented,
            },
        )
        .await
    }

    /// `account`'s refunds of this app over the last `days` (1..=3650), by store: slow down an
    /// account that refunds repeatedly.
    pub async fn refund_history(
        &self,
        account: &str,
        days: u32,
    ) -> Result<RefundHistoryAnswer, ReportError> {
        let mut url = self
            .base
            .join(REFUND_HISTORY_PATH)
            .map_err(|_| ReportError::Url(self.base.to_string()))?;
        url.query_pairs_mut()
            .append_pair("account", account)
            .append_pair("days", &days.to_string());
        let response = self
            .credential
            .authorize(self.http.get(url))
            .send()
            .await
            .map_err(|e| ReportError::Transport(e.without_url().to_string()))?;
        match response.status().as_u16() {
            200 => response
                .json()
                .await
                .map_err(|e| ReportError::Transport(e.without_url().to_string())),
            401 => Err(ReportError::Unauthorized),
            422 => Err(ReportError::Refused(ReportResult::Invalid)),
            status => Err(ReportError::Status(status)),
        }
    }

    /// The delivery guard that confirms by itself: `tokens.accept(..)`, then
    /// [`Self::confirm_delivery`] of the grant. The grant stands whatever the confirmation
    /// did; its result is the second value (log a failure and confirm again later).
    pub async fn accept(
        &self,
        tokens: &JwksTokenVerifier,
        token: &str,
        now: i64,
        replay: &dyn ReplayGuard,
        delivery: &dyn DeliveryGuard,
    ) -> Result<(Grant, Result<(), ReportError>), TokenError> {
        let grant = tokens.accept(token, now, replay, delivery).await?;
        let confirmed = self.confirm_delivery(&grant).await;
        if let Err(e) = &confirmed {
            tracing::warn!(purchase = %PurchaseKey::of(&grant), error = %e,
                "delivery not confirmed to the verifier");
        }
        Ok((grant, confirmed))
    }
}
