//! The Google Play Developer API client ([`PlayApi`], one per app with an
//! `[apps."ID".google_play.api]` table): what the verifier asks Google about a purchase that
//! its signed data cannot say, and what it tells Google back.
//!
//! - **OAuth** ([`auth::AccessTokens`], shared with the Voided Purchases poller): the service
//!   account's RS256 assertion for the `androidpublisher` scope, exchanged for an access token
//!   cached until a minute before it expires, and fetched again after a `401`.
//! - **One HTTP client**: the verifier's one outbound client (`crate::background::
//!   outbound_client`, one connection pool, keep-alive), each request with the app's
//!   `request_timeout`.
//! - **Retries**: a `429`, a `5xx` or a transport error is retried after `retry_base ×
//!   2^(n−1)` (at most `retry_max`), or after the server's `Retry-After` (seconds or an HTTP
//!   date, cut to `retry_max`), at most `max_attempts` times; then [`ApiError::GaveUp`].
//! - **Budget** ([`DailyBudget`]): each attempt counts against the app's `daily_budget` for
//!   the UTC day (per verifier instance); past it a call fails at once with
//!   [`ApiError::BudgetExhausted`], so one app cannot spend the Cloud project's daily quota.
//! - **Errors** are typed from Google's body ([`resources::GoogleError`]); no error carries a
//!   token, a URL or a secret.
//!
//! One typed function per endpoint, each a method of [`PlayApi`] that builds the path and
//! decodes the answer; the request loop ([`PlayApi::call`]) is shared. Endpoints here:
//! `purchases.products.get`, `.acknowledge`, `.consume`, `purchases.subscriptions.acknowledge`,
//! `purchases.subscriptionsv2.get`. Another endpoint (e.g. `orders.*` for refund requests) is
//! one more method in its own file of this module, calling [`PlayApi::call`].

pub mod acknowledge;
pub mod auth;
pub mod live;
pub mod resources;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::Method;

use crate::settings::PlayApiSettings;
use crate::upstream::{read_limited, UpstreamError};
use auth::{AccessTokens, TokenError};
use resources::{GoogleError, ProductPurchase, SubscriptionPurchaseV2};

/// Largest API response accepted, bytes.
pub const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// The delay before retry `attempt` (1-based): `base × 2^(attempt−1)` capped at `max`, or the
/// server's `Retry-After` when it says so (also capped at `max`). Pure.
pub fn retry_delay(
    base: Duration,
    max: Duration,
    attempt: u32,
    retry_after: Option<Duration>,
) -> Duration {
    if let Some(after) = retry_after {
        return after.min(max);
    }
    base.saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1).min(30)))
        .min(max)
}

/// A `Retry-After` value (delay-seconds or an HTTP date, RFC 9110 §10.2.3) as a delay from
/// `now`; `None` when unreadable. Pure.
pub fn parse_retry_after(value: &str, now: std::time::SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(s) = value.parse::<u64>() {
        return Some(Duration::from_secs(s));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Requests one app may make per UTC day, counted per attempt.
#[derive(Debug)]
pub struct DailyBudget {
    per_day: u32,
    /// (UTC day number, requests made that day)
    used: Mutex<(i64, u32)>,
}

impl DailyBudget {
    /// A budget of `per_day` requests.
    pub fn new(per_day: u32) -> Self {
        Self {
            per_day,
            used: Mutex::new((0, 0)),
        }
    }

    /// Take one request at `now_ms` from the budget; `false` when the day's is spent.
    pub fn take(&self, now_ms: i64) -> bool {
        let day = now_ms.div_euclid(86_400_000);
        // A panic while holding this lock leaves consistent data (two integers).
        let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        if used.0 != day {
            *used = (day, 0);
        }
        if used.1 >= self.per_day {
            return false;
        }
        used.1 += 1;
        true
    }
}

/// Why a Play Developer API call has no answer.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No access token could be had.
    #[error("{0}")]
    Token(#[from] TokenError),
    /// The app's daily request budget is spent (no request was sent).
    #[error("{what}: the app's daily Play Developer API budget ({per_day} requests) is spent")]
    BudgetExhausted {
        /// The endpoint.
        what: &'static str,
        /// The budget.
        per_day: u32,
    },
    /// Google answered with an error that retrying does not fix (`4xx` but `429`).
    #[error("{what}: {error}")]
    Google {
        /// The endpoint.
        what: &'static str,
        /// Google's error.
        error: GoogleError,
    },
    /// Still `429`/`5xx`/unreachable after every attempt.
    #[error("{what} still failing after {attempts} attempts: {last}")]
    GaveUp {
        /// The endpoint.
        what: &'static str,
        /// Attempts made.
        attempts: u32,
        /// The last failure (Google's error, or the transport error without URL).
        last: String,
    },
    /// The answer could not be read or decoded.
    #[error("{0}")]
    Upstream(#[from] UpstreamError),
}

impl ApiError {
    /// Whether Google could not be asked or did not answer (down, overloaded, out of budget,
    /// no token): the caller may retry later. `false` for Google's definite refusals and
    /// undecodable answers.
    pub fn unavailable(&self) -> bool {
        match self {
            ApiError::Token(_) | ApiError::BudgetExhausted { .. } | ApiError::GaveUp { .. } => true,
            ApiError::Upstream(UpstreamError::Transport { .. }) => true,
            ApiError::Google { .. } | ApiError::Upstream(_) => false,
        }
    }

    /// Google's error, when it answered with one.
    pub fn google(&self) -> Option<&GoogleError> {
        match self {
            ApiError::Google { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// An `api_base` that cannot take a path (config refuses it; kept typed all the same).
#[derive(Debug, thiserror::Error)]
#[error("api_base cannot take a path")]
struct NotABase;

/// The Play Developer API client of one app.
#[derive(Debug)]
pub struct PlayApi {
    settings: Arc<PlayApiSettings>,
    client: reqwest::Client,
    tokens: AccessTokens,
    budget: DailyBudget,
}

impl PlayApi {
    /// The client of the app of `settings`, sending with `client` (the verifier's one
    /// outbound client).
    pub fn new(settings: PlayApiSettings, client: reqwest::Client) -> Self {
        let tokens = AccessTokens::new(
            settings.key.clone(),
            settings.token_uri.clone(),
            client.clone(),
            settings.request_timeout,
        );
        Self {
            budget: DailyBudget::new(settings.daily_budget),
            settings: Arc::new(settings),
            client,
            tokens,
        }
    }

    /// The app's settings.
    pub fn settings(&self) -> &PlayApiSettings {
        &self.settings
    }

    /// `{api_base}/androidpublisher/v3/applications/{packageName}/{segments…}`, each segment
    /// percent-encoded as a path segment.
    fn url(&self, segments: &[&str]) -> Result<reqwest::Url, UpstreamError> {
        let mut url = reqwest::Url::parse(&self.settings.api_base)
            .map_err(|e| UpstreamError::decode("api_base", e))?;
        {
            let mut path = url
                .path_segments_mut()
                .map_err(|()| UpstreamError::decode("api_base", NotABase))?;
            path.pop_if_empty()
                .extend(["androidpublisher", "v3", "applications"])
                .push(&self.settings.package_name)
                .extend(segments);
        }
        Ok(url)
    }

    /// Send one request to `url` (`what`: the endpoint's name), with retries, the budget and
    /// one token refresh after a `401`; the success answer's body.
    pub async fn call(
        &self,
        what: &'static str,
        method: Method,
        url: reqwest::Url,
        body: Option<&serde_json::Value>,
    ) -> Result<Vec<u8>, ApiError> {
        let s = &self.settings;
        let mut refreshed = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            if !self.budget.take(payseal_protocol::time::now_ms()) {
                return Err(ApiError::BudgetExhausted {
                    what,
                    per_day: s.daily_budget,
                });
            }
            let token = self.tokens.get().await?;
            let mut request = self
                .client
                .request(method.clone(), url.clone())
                .timeout(s.request_timeout)
                .bearer_auth(token.as_str());
            request = match body {
                Some(b) => request.json(b),
                // Google wants a length on a bodiless POST (else 411).
                None if method == Method::POST => {
                    request.header(reqwest::header::CONTENT_LENGTH, "0")
                }
                None => request,
            };
            let (last, retry_after) = match request.send().await {
                Err(e) => (format!("transport: {}", e.without_url()), None),
                Ok(r) if r.status().is_success() => {
                    return Ok(read_limited(what, r, MAX_RESPONSE_BYTES).await?);
                }
                Ok(r) if r.status().as_u16() == 401 && !refreshed => {
                    refreshed = true;
                    self.tokens.forget().await;
                    continue;
                }
                Ok(r) => {
                    let status = r.status().as_u16();
                    let after = r
                        .headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| parse_retry_after(v, std::time::SystemTime::now()));
                    let body = read_limited(what, r, MAX_RESPONSE_BYTES)
                        .await
                        .unwrap_or_default();
                    let error = GoogleError::parse(status, &body);
                    if status != 429 && !(500..=599).contains(&status) {
                        return Err(ApiError::Google { what, error });
                    }
                    (error.to_string(), after)
                }
            };
            if attempt >= s.max_attempts {
                return Err(ApiError::GaveUp {
                    what,
                    attempts: attempt,
                    last,
                });
            }
            let delay = retry_delay(s.retry_base, s.retry_max, attempt, retry_after);
            tracing::debug!(what, attempt, ?delay, last, "Play Developer API: retrying");
            tokio::time::sleep(delay).await;
        }
    }

    /// `purchases.products.get`: the state of a one-time purchase.
    pub async fn products_get(
        &self,
        product_id: &str,
        token: &str,
    ) -> Result<ProductPurchase, ApiError> {
        const WHAT: &str = "purchases.products.get";
        let url = self.url(&["purchases", "products", product_id, "tokens", token])?;
        let body = self.call(WHAT, Method::GET, url, None).await?;
        serde_json::from_slice(&body).map_err(|e| UpstreamError::decode(WHAT, e).into())
    }

    /// `purchases.products.acknowledge`.
    pub async fn products_acknowledge(
        &self,
        product_id: &str,
        token: &str,
    ) -> Result<(), ApiError> {
        const WHAT: &str = "purchases.products.acknowledge";
        let last = format!("{token}:acknowledge");
        let url = self.url(&["purchases", "products", product_id, "tokens", &last])?;
        self.call(WHAT, Method::POST, url, Some(&serde_json::json!({})))
            .await
            .map(drop)
    }

    /// `purchases.products.consume`.
    pub async fn products_consume(&self, product_id: &str, token: &str) -> Result<(), ApiError> {
        const WHAT: &str = "purchases.products.consume";
        let last = format!("{token}:consume");
        let url = self.url(&["purchases", "products", product_id, "tokens", &last])?;
        self.call(WHAT, Method::POST, url, None).await.map(drop)
    }

    /// `purchases.subscriptions.acknowledge`.
    pub async fn subscriptions_acknowledge(
        &self,
        subscription_id: &str,
        token: &str,
    ) -> Result<(), ApiError> {
        const WHAT: &str = "purchases.subscriptions.acknowledge";
        let last = format!("{token}:acknowledge");
        let url = self.url(&[
            "purchases",
            "subscriptions",
            subscription_id,
            "tokens",
            &last,
        ])?;
        self.call(WHAT, Method::POST, url, Some(&serde_json::json!({})))
            .await
            .map(drop)
    }

    /// `purchases.subscriptionsv2.get`: the state of a subscription.
    pub async fn subscriptionsv2_get(
        &self,
        token: &str,
    ) -> Result<SubscriptionPurchaseV2, ApiError> {
        const WHAT: &str = "purchases.subscriptionsv2.get";
        let url = self.url(&["purchases", "subscriptionsv2", "tokens", token])?;
        let body = self.call(WHAT, Method::GET, url, None).await?;
        serde_json::from_slice(&body).map_err(|e| UpstreamError::decode(WHAT, e).into())
    }

    /// `purchases.voidedpurchases.list`: one page of the purchases (subscriptions included,
    /// `type=1`) voided between `start_ms` and `end_ms`, as Google sends it (a
    /// `VoidedPurchasesListResponse`, read by the voided-purchases poller's `parse_page`).
    pub async fn voidedpurchases_list(
        &self,
        start_ms: i64,
        end_ms: i64,
        page_token: Option<&str>,
    ) -> Result<Vec<u8>, ApiError> {
        const WHAT: &str = "voidedpurchases.list";
        let mut url = self.url(&["purchases", "voidedpurchases"])?;
        {
            let mut query = url.query_pairs_mut();
            query.append_pair("startTime", &start_ms.to_string());
            query.append_pair("endTime", &end_ms.to_string());
            query.append_pair("type", "1");
            if let Some(t) = page_token {
                query.append_pair("token", t);
            }
        }
        self.call(WHAT, Method::GET, url, None).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delays_double_and_honour_retry_after() {
        let (b, m) = (Duration::from_millis(100), Duration::from_secs(1));
        assert_eq!(retry_delay(b, m, 1, None), Duration::from_millis(100));
        assert_eq!(retry_delay(b, m, 3, None), Duration::from_millis(400));
        assert_eq!(retry_delay(b, m, 30, None), m);
        assert_eq!(
            retry_delay(b, m, 1, Some(Duration::from_millis(700))),
            Duration::from_millis(700)
        );
        assert_eq!(retry_delay(b, m, 1, Some(Duration::from_secs(60))), m);
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = std::time::UNIX_EPOCH + Duration::from_secs(1_445_412_480);
        assert_eq!(parse_retry_after(" 7 ", now), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:27:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn the_budget_is_spent_per_utc_day() {
        let b = DailyBudget::new(2);
        let day = 86_400_000;
        assert!(b.take(5 * day + 1));
        assert!(b.take(5 * day + 2));
        assert!(!b.take(6 * day - 1));
        assert!(b.take(6 * day), "a new day");
    }
}
