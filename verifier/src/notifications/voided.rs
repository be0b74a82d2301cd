//! The Google Play Voided Purchases API poller (optional, per app: `[apps."ID".google_play.
//! voided_purchases]`), a background task of `serve`.
//!
//! **OAuth2** ([`AccessTokens`]): the service account's JSON key file (`type`
//! `service_account`, `client_email`, `private_key` PKCS#8 PEM, `private_key_id`, `token_uri`)
//! signs an RS256 assertion `{iss: client_email, scope: androidpublisher, aud: token_uri, iat,
//! exp: iat + 1 h}` ([`assertion`]), exchanged at `token_uri` by the JWT bearer grant
//! (`grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=…`) for an access token,
//! cached until a minute before its `expires_in` and fetched again after a `401`.
//!
//! **Polling** (`Poller::poll_once`): `GET {api_base}/androidpublisher/v3/applications/
//! {packageName}/purchases/voidedpurchases?startTime=…&endTime=…&maxResults=…&type=1[&token=…]`
//! (`type=1`: subscriptions too, told apart by `orderId`) with
//! `Authorization: Bearer`, following `tokenPagination.nextPageToken` to the last page. The
//! window is `[cursor, now − 60 s]` ([`window`]: the end lags a minute so that a clock ahead of
//! Google's never asks for the future, which the API refuses); the first poll of a package
//! starts `initial_lookback_days` back (at most 30, the API's limit). Each voided purchase
//! is a store event ([`void_of`], [`super::play_void_event`]) keyed by its `orderId` and its
//! `purchaseToken`, idempotent by `orderId` (or token) and `voidedTimeMillis`. Only when every page was read and acted on is the cursor
//! (the window's end) stored in the ledger ([`crate::ledger::VoidedCursors`]), so a restart
//! continues where the last complete poll ended and a failed poll is repeated whole (revoking
//! twice changes nothing and sends no second webhook).
//!
//! **Backoff**: a `429`, a `5xx` or a transport error is retried after `retry_base × 2^(n−1)`
//! (at most `retry_max`; a `Retry-After` in seconds is honoured up to `retry_max`), at most
//! `max_attempts` times per request; then the poll fails (counted, logged) and the next one
//! runs after `poll_interval`. Other `4xx` answers fail the poll at once (a misconfiguration:
//! wrong package, API not enabled, service account without access).
//!
//! Several verifier instances on one PostgreSQL ledger may all poll: revocations are
//! idempotent and the stored cursor only moves forward.

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

pub use crate::settings::{
    assertion, KeyFileError, ServiceAccountKey, VoidedSettings, ANDROIDPUBLISHER_SCOPE,
};

pub use crate::google_api::auth::{
    parse_token_response, AccessTokens, TokenError, TokenResponseError, JWT_BEARER_GRANT,
};
pub use crate::google_api::retry_delay;

use super::{PlayVoid, StoreAnswer};
use crate::background::Task;
use crate::ledger::notifications::NotificationResult;
use crate::ledger::Ledger;
use crate::metrics::Metrics;
use crate::settings::Settings;
use crate::upstream::{read_limited, UpstreamError};

pub use crate::settings::DEFAULT_API_BASE;

/// The oldest `startTime` the API accepts is 30 days back.
pub const MAX_LOOKBACK: Duration = Duration::from_secs(30 * 24 * 3600);

/// How far behind now a window ends.
pub const END_LAG: Duration = Duration::from_secs(60);

/// Most pages read in one poll (a guard against a server that never ends its pagination).
pub const MAX_PAGES: u32 = 10_000;

/// Largest API or token response accepted, bytes.
pub const MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;

/// The `type` label of voided purchases found by the poller.
pub const TYPE_LABEL: &str = "voided_purchases_api";

// ---------------------------------------------------------------------------------------------
// Pure parts

/// One `VoidedPurchase` resource.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VoidedPurchase {
    /// The purchase token.
    #[serde(default)]
    pub purchase_token: String,
    /// The order id.
    #[serde(default)]
    pub order_id: Option<String>,
    /// When it was voided, Unix milliseconds.
    #[serde(default, deserialize_with = "crate::upstream::opt_int64")]
    pub voided_time_millis: Option<i64>,
    /// When it was bought, Unix milliseconds.
    #[serde(default, deserialize_with = "crate::upstream::opt_int64")]
    pub purchase_time_millis: Option<i64>,
    /// `0` user, `1` developer, `2` Google.
    #[serde(default)]
    pub voided_source: Option<i64>,
    /// `0` other, `1` remorse, `2` not received, `3` defective, `4` accidental purchase,
    /// `5` fraud, `6` friendly fraud, `7` chargeback, `8` unacknowledged purchase.
    #[serde(default)]
    pub voided_reason: Option<i64>,
    /// Units refunded by a quantity-based partial refund.
    #[serde(default)]
    pub voided_quantity: Option<i64>,
}

/// One page of `voidedpurchases.list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoidedPage {
    /// The voided purchases.
    pub purchases: Vec<VoidedPurchase>,
    /// The next page's token, if there is one.
    pub next_page_token: Option<String>,
}

/// Parse a `VoidedPurchasesListResponse`. Pure.
pub fn parse_page(json: &[u8]) -> Result<VoidedPage, serde_json::Error> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Pagination {
        #[serde(default)]
        next_page_token: Option<String>,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Answer {
        #[serde(default)]
        token_pagination: Option<Pagination>,
        #[serde(default)]
        voided_purchases: Vec<VoidedPurchase>,
    }
    let a: Answer = serde_json::from_slice(json)?;
    Ok(VoidedPage {
        purchases: a.voided_purchases,
        next_page_token: a
            .token_pagination
            .and_then(|p| p.next_page_token)
            .filter(|t| !t.is_empty()),
    })
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The `[startTime, endTime]` of the next poll, Unix milliseconds: from the stored cursor (or
/// `initial_lookback` back), never more than 30 days back (less a minute), to `now − 60 s`.
/// `None` when that window is empty (the cursor is already there).
pub fn window(cursor: Option<i64>, now_ms: i64, initial_lookback: Duration) -> Option<(i64, i64)> {
    let end = now_ms - ms(END_LAG);
    let oldest = now_ms - ms(MAX_LOOKBACK) + 60_000;
    let start = cursor.unwrap_or(now_ms - ms(initial_lookback)).max(oldest);
    (start < end).then_some((start, end))
}

/// One voided purchase of `package_name` as a [`PlayVoid`] (its event id: the order id, or the
/// token, and the void time), `None` for a quantity-based partial refund (the buyer keeps the
/// units not refunded). Pure.
pub fn void_of<'a>(package_name: &'a str, p: &'a VoidedPurchase) -> Option<PlayVoid<'a>> {
    let reason = decide(p)?;
    let order_id = p.order_id.as_deref().filter(|o| !o.is_empty());
    let voided_at = p.voided_time_millis.unwrap_or(0);
    Some(PlayVoid {
        event_id: format!(
            "voided:{}:{voided_at}",
            order_id.unwrap_or(p.purchase_token.as_str())
        ),
        event_type: "voidedPurchasesApi",
        type_label: TYPE_LABEL,
        package_name,
        order_id,
        purchase_token: &p.purchase_token,
        reason,
        at_ms: voided_at,
    })
}

/// What to do with one voided purchase: `Some(reason)` to revoke, `None` for a quantity-based
/// partial refund (the buyer keeps the units not refunded).
pub fn decide(p: &VoidedPurchase) -> Option<String> {
    if p.voided_quantity.is_some_and(|q| q > 0) {
        return None;
    }
    let why = match p.voided_reason {
        Some(1) => "remorse",
        Some(2) => "not received",
        Some(3) => "defective",
        Some(4) => "accidental purchase",
        Some(5) => "fraud",
        Some(6) => "friendly fraud",
        Some(7) => "chargeback",
        Some(8) => "unacknowledged purchase",
        _ => "other",
    };
    let by = match p.voided_source {
        Some(0) => "user",
        Some(1) => "developer",
        Some(2) => "Google",
        _ => "unknown",
    };
    Some(format!(
        "google_play: voided purchase (Voided Purchases API; reason: {why}; by: {by})"
    ))
}

// ---------------------------------------------------------------------------------------------
// I/O

/// Why a poll stopped before its end (the cursor did not move).
#[derive(Debug, thiserror::Error)]
pub enum PollError {
    /// No access token could be had.
    #[error("{0}")]
    Token(#[from] TokenError),
    /// The API answered with an error that retrying does not fix.
    #[error("voidedpurchases.list answered HTTP {0}")]
    Status(u16),
    /// Still `429`/`5xx`/unreachable after every attempt.
    #[error("voidedpurchases.list still failing after {attempts} attempts: {last}")]
    GaveUp {
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        last: String,
    },
    /// The API's answer could not be read or is not a voided-purchases page.
    #[error("{0}")]
    Page(UpstreamError),
    /// The pagination does not end.
    #[error("more than {MAX_PAGES} pages in one window")]
    TooManyPages,
    /// The ledger could not record a revocation or the cursor.
    #[error("ledger: {0}")]
    Ledger(#[from] crate::ledger::LedgerError),
}

/// What one complete poll did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PollReport {
    /// The window polled, Unix milliseconds (`None`: nothing to poll yet).
    pub window: Option<(i64, i64)>,
    /// Pages read.
    pub pages: u32,
    /// Voided purchases listed.
    pub purchases: u32,
    /// Redemptions revoked by this poll.
    pub revoked: u32,
}

/// The poller of one app: its settings, the verifier's settings (the apps and webhooks a
/// revocation needs) and the ledger; not the whole service.
#[derive(Debug, Clone)]
pub(crate) struct Poller {
    settings: Arc<VoidedSettings>,
    verifier: Arc<Settings>,
    ledger: Arc<dyn Ledger>,
    metrics: Arc<Metrics>,
    tokens: Arc<AccessTokens>,
    client: reqwest::Client,
}

impl Poller {
    /// A poller for `settings`, revoking in `ledger` for the apps of `verifier`, calling Google
    /// with `client` (the verifier's outbound client).
    pub(crate) fn new(
        settings: VoidedSettings,
        verifier: Arc<Settings>,
        ledger: Arc<dyn Ledger>,
        metrics: Arc<Metrics>,
        client: reqwest::Client,
    ) -> Self {
        let tokens = AccessTokens::new(
            settings.key.clone(),
            settings.token_uri.clone(),
            client.clone(),
            settings.request_timeout,
        );
        Self {
            settings: Arc::new(settings),
            verifier,
            ledger,
            metrics,
            tokens: Arc::new(tokens),
            client,
        }
    }

    /// Poll now, then every `poll_interval` until stopped. Stopping cuts a poll short: its
    /// cursor stays where it was, and the next start repeats that window.
    pub(crate) fn spawn(self) -> Task {
        Task::spawn(|stop| async move {
            loop {
                let result = tokio::select! {
                    () = stop.cancelled() => return,
                    r = self.poll_once() => r,
                };
                let package = self.settings.package_name.as_str();
                match result {
                    Ok(report) => {
                        self.metrics.google_voided_poll("ok");
                        tracing::info!(
                            package,
                            pages = report.pages,
                            purchases = report.purchases,
                            revoked = report.revoked,
                            "Play voided purchases polled"
                        );
                    }
                    Err(e) => {
                        self.metrics.google_voided_poll("error");
                        tracing::warn!(package, error = %e,
                            "Play voided purchases poll failed; the window is polled again next time");
                    }
                }
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(self.settings.poll_interval) => {}
                }
            }
        })
    }

    /// One complete poll: every page of the window, each voided purchase acted on, then the
    /// cursor stored.
    pub(crate) async fn poll_once(&self) -> Result<PollReport, PollError> {
        let s = &self.settings;
        let ledger = &self.ledger;
        let cursor = ledger.voided_cursor(&s.package_name).await?;
        let now = payseal_protocol::time::now_ms();
        let Some((start, end)) = window(cursor, now, s.initial_lookback) else {
            return Ok(PollReport::default());
        };
        if cursor.is_some_and(|c| c < start) {
            tracing::warn!(package = %s.package_name,
                "the stored cursor is older than the API's 30 days: voids before {start} ms are not listed any more");
        }
        let mut report = PollReport {
            window: Some((start, end)),
            ..PollReport::default()
        };
        let mut page_token: Option<String> = None;
        loop {
            let page = self.fetch_page(start, end, page_token.as_deref()).await?;
            report.pages += 1;
            for p in &page.purchases {
                report.purchases += 1;
                let answer = self.act(p).await?;
                if answer.result == NotificationResult::Revoked.as_str() && !answer.duplicate {
                    report.revoked += 1;
                }
                self.metrics.store_notification(
                    super::STORE_GOOGLE_PLAY,
                    TYPE_LABEL,
                    answer.label(),
                );
            }
            match page.next_page_token {
                Some(t) if report.pages < MAX_PAGES => page_token = Some(t),
                Some(_) => return Err(PollError::TooManyPages),
                None => break,
            }
        }
        ledger
            .set_voided_cursor(&s.package_name, end, payseal_protocol::time::now_ms())
            .await?;
        Ok(report)
    }

    /// Record one voided purchase as a store event (idempotent by its order id, or token, and
    /// void time: a window polled again records nothing new).
    async fn act(&self, p: &VoidedPurchase) -> Result<StoreAnswer, PollError> {
        let Some(void) = void_of(&self.settings.package_name, p) else {
            return Ok(StoreAnswer::new(200, TYPE_LABEL, "partial_refund"));
        };
        let now = payseal_protocol::time::now_ms();
        let Some(event) = super::play_void_event(&self.verifier, void) else {
            return Ok(StoreAnswer::new(200, TYPE_LABEL, "unknown_package"));
        };
        let recorded = super::record(&self.verifier, self.ledger.as_ref(), &event, now).await?;
        let answer = StoreAnswer::recorded(TYPE_LABEL, &recorded);
        if answer.result == NotificationResult::Revoked.as_str() && !answer.duplicate {
            tracing::info!(package = %self.settings.package_name,
                order_id = p.order_id.as_deref().unwrap_or(""),
                "Play voided purchase revoked (Voided Purchases API)");
        }
        Ok(answer)
    }

    /// One page, with retries on `429`/`5xx`/transport errors and one token refresh on `401`.
    async fn fetch_page(
        &self,
        start: i64,
        end: i64,
        page_token: Option<&str>,
    ) -> Result<VoidedPage, PollError> {
        const WHAT: &str = "voidedpurchases.list";
        let s = &self.settings;
        let url = format!(
            "{}/androidpublisher/v3/applications/{}/purchases/voidedpurchases",
            s.api_base.trim_end_matches('/'),
            s.package_name
        );
        let mut query: Vec<(&str, String)> = vec![
            ("startTime", start.to_string()),
            ("endTime", end.to_string()),
            ("maxResults", s.max_results.to_string()),
            // 1: voided subscription purchases too (revoked by orderId, which tells renewals
            // apart; the default 0 lists one-time products only).
            ("type", "1".to_string()),
        ];
        if let Some(t) = page_token {
            query.push(("token", t.to_string()));
        }
        let mut refreshed = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let token = self.tokens.get().await?;
            let sent = self
                .client
                .get(&url)
                .timeout(s.request_timeout)
                .query(&query)
                .bearer_auth(token.as_str())
                .send()
                .await;
            let (last, retry_after) = match sent {
                Err(e) => (format!("transport: {}", e.without_url()), None),
                Ok(r) if r.status().is_success() => {
                    let body = read_limited(WHAT, r, MAX_RESPONSE_BYTES)
                        .await
                        .map_err(PollError::Page)?;
                    return parse_page(&body)
                        .map_err(|e| PollError::Page(UpstreamError::decode(WHAT, e)));
                }
                Ok(r) if r.status().as_u16() == 401 && !refreshed => {
                    refreshed = true;
                    self.tokens.forget().await;
                    attempt -= 1;
                    continue;
                }
                Ok(r) if r.status().as_u16() == 429 || r.status().is_server_error() => {
                    let after = r
                        .headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .map(Duration::from_secs);
                    (format!("HTTP {}", r.status().as_u16()), after)
                }
                Ok(r) => return Err(PollError::Status(r.status().as_u16())),
            };
            if attempt >= s.max_attempts {
                return Err(PollError::GaveUp {
                    attempts: attempt,
                    last,
                });
            }
            let delay = retry_delay(s.retry_base, s.retry_max, attempt, retry_after);
            tracing::debug!(attempt, ?delay, last, "voidedpurchases.list: retrying");
            tokio::time::sleep(delay).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_parse_in_google_s_encoding() {
        let page = parse_page(
            br#"{"tokenPagination": {"nextPageToken": "p2"},
                "voidedPurchases": [{"kind": "androidpublisher#voidedPurchase",
                  "purchaseToken": "tok", "purchaseTimeMillis": "1700000000000",
                  "voidedTimeMillis": "1700000100000", "orderId": "GPA.1",
                  "voidedSource": 2, "voidedReason": 7}]}"#,
        )
        .unwrap();
        assert_eq!(page.next_page_token.as_deref(), Some("p2"));
        let p = &page.purchases[0];
        assert_eq!(p.voided_time_millis, Some(1_700_000_100_000));
        assert_eq!(p.order_id.as_deref(), Some("GPA.1"));
        assert!(decide(p).unwrap().contains("chargeback; by: Google"));
        let last = parse_page(br#"{"voidedPurchases": []}"#).unwrap();
        assert_eq!(last.next_page_token, None);
        assert_eq!(parse_page(b"{}").unwrap().purchases, vec![]);
        assert!(parse_page(b"\"page\"").is_err());
        assert!(parse_page(br#"{"voidedPurchases": [{"voidedTimeMillis": "x"}]}"#).is_err());
        let partial = VoidedPurchase {
            voided_quantity: Some(1),
            ..p.clone()
        };
        assert_eq!(decide(&partial), None);
    }

    #[test]
    fn windows_start_at_the_cursor_and_stay_within_30_days() {
        let now = 40 * 24 * 3600 * 1000_i64;
        let day = 24 * 3600 * 1000_i64;
        assert_eq!(
            window(None, now, Duration::from_secs(3 * 24 * 3600)),
            Some((now - 3 * day, now - 60_000))
        );
        assert_eq!(
            window(None, now, MAX_LOOKBACK),
            Some((now - 30 * day + 60_000, now - 60_000))
        );
        assert_eq!(
            window(Some(now - 5 * day), now, MAX_LOOKBACK),
            Some((now - 5 * day, now - 60_000))
        );
        assert_eq!(
            window(Some(now - 35 * day), now, MAX_LOOKBACK),
            Some((now - 30 * day + 60_000, now - 60_000))
        );
        assert_eq!(window(Some(now - 60_000), now, MAX_LOOKBACK), None);
    }

    #[test]
    fn token_responses_and_key_files_are_checked() {
        let (t, life) = parse_token_response(
            br#"{"access_token": "ya29.x", "expires_in": 3599, "token_type": "Bearer"}"#,
        )
        .unwrap();
        assert_eq!((t.as_str(), life), ("ya29.x", Duration::from_secs(3599)));
        assert!(parse_token_response(br#"{"access_token": ""}"#).is_err());
        assert!(parse_token_response(br#"{"access_token": "a", "token_type": "mac"}"#).is_err());
        assert!(parse_token_response(br#"{"error": "invalid_grant"}"#).is_err());
        assert!(matches!(
            ServiceAccountKey::from_json(b"{}"),
            Err(KeyFileError::Shape(_))
        ));
        let user = br#"{"type": "authorized_user", "client_email": "a", "private_key": "x", "token_uri": "t"}"#;
        assert!(matches!(
            ServiceAccountKey::from_json(user),
            Err(KeyFileError::Type(_))
        ));
        let bad_key = br#"{"type": "service_account", "client_email": "a@b", "private_key": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "token_uri": "t"}"#;
        assert!(matches!(
            ServiceAccountKey::from_json(bad_key),
            Err(KeyFileError::PrivateKey)
        ));
    }
}
