//! HTTP to the verifier: one POST of a sealed request over the pinned connection, the
//! classification of what can go wrong, and the retry schedule (pure, so it is tested
//! without a network).
//!
//! The client is hyper's (`hyper-util`'s pooled HTTP/1.1 client over `hyper-rustls`, with
//! the SDK's own pinned rustls configuration): TLS 1.3 only (the rustls build has no TLS 1.2
//! code at all), HTTPS only, no redirects, no proxy. A full HTTP client library would add
//! redirects, proxies, cookies and TLS 1.2 the SDK must not use, and about 0.2 MB to the
//! mobile library.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::header::{HeaderName, HeaderValue, CONTENT_TYPE, DATE, RETRY_AFTER, USER_AGENT};
use hyper::{Request, StatusCode, Uri};
use hyper_rustls::{HttpsConnector, MaybeHttpsStream};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};

use crate::config::RetryPolicy;
use crate::tls::{is_pin_mismatch, is_unknown_issuer, UNKNOWN_ISSUER_HINT};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

pub(crate) use payseal_protocol::envelope::REQUEST_CONTENT_TYPE;
/// Largest response body read (a sealed verdict is about 1 KiB).
const MAX_RESPONSE_BYTES: usize = 256 * 1024;
/// Longest problem detail kept in an error message.
const MAX_DETAIL_CHARS: usize = 200;

/// What can go wrong in one exchange.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum TransportError {
    /// The certificate chain is valid but carries no pinned key. Never retried.
    #[error("the verifier's certificate matches none of the profile's pins")]
    PinMismatch,
    /// Connection refused or reset, DNS failure, TLS failure other than the pin, ...
    #[error("network error: {0}")]
    Network(String),
    /// The connection or the request timed out.
    #[error("timed out: {0}")]
    Timeout(String),
    /// 5xx: the verifier could not answer now. Retried.
    #[error("the verifier is unavailable (HTTP {status})")]
    Unavailable {
        /// HTTP status.
        status: u16,
        /// `Retry-After`, when the server sent one.
        retry_after: Option<Duration>,
    },
    /// 4xx: the verifier refused this request, and recorded nothing. Not retried.
    #[error("the verifier refused the request (HTTP {status}): {detail}")]
    Rejected {
        /// HTTP status.
        status: u16,
        /// The problem document's title and detail (RFC 9457), shortened.
        detail: String,
    },
    /// An answer that is neither a sealed response nor a refusal (a 200 over the size limit,
    /// a 1xx/2xx/3xx other than 200). Not retried; the request may have been recorded.
    #[error("unexpected answer from the verifier (HTTP {status}): {detail}")]
    Unexpected {
        /// HTTP status.
        status: u16,
        /// What was unexpected, shortened.
        detail: String,
    },
    /// The HTTP client could not be built.
    #[error("HTTP client setup failed: {0}")]
    Setup(String),
}

impl TransportError {
    /// Whether another attempt may succeed (network, timeout, 5xx).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            TransportError::Network(_)
                | TransportError::Timeout(_)
                | TransportError::Unavailable { .. }
        )
    }

    /// The server's `Retry-After`, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            TransportError::Unavailable { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// The delay before attempt `next_attempt` (2 for the first retry): exponential backoff
/// `base * 2^(n-2)` capped at `max_delay`, with "equal jitter" (half fixed, half random from
/// `jitter` in `[0, 1)`); a server's `Retry-After` (capped at `max_delay`) is a floor.
pub(crate) fn backoff_delay(
    policy: &RetryPolicy,
    next_attempt: u32,
    retry_after: Option<Duration>,
    jitter: f64,
) -> Duration {
    let exponent = next_attempt.saturating_sub(2).min(20);
    let raw = policy
        .base_backoff
        .saturating_mul(1u32 << exponent)
        .min(policy.max_delay);
    let jitter = jitter.clamp(0.0, 1.0);
    let delay = raw / 2 + raw.mul_f64(jitter) / 2;
    match retry_after {
        Some(server) => delay.max(server.min(policy.max_delay)),
        None => delay,
    }
}

/// Parse `Retry-After`: delay-seconds or an HTTP date (RFC 9110 §10.2.3).
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// "title: detail" from an RFC 9457 problem document, or a short text body.
fn problem_detail(body: &[u8]) -> String {
    let text = match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(v) => {
            let field = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
            match (field("title"), field("detail")) {
                (Some(t), Some(d)) => format!("{t}: {d}"),
                (Some(t), None) => t,
                (None, Some(d)) => d,
                (None, None) => String::from("no detail"),
            }
        }
        Err(_) => String::from_utf8_lossy(body).trim().to_string(),
    };
    let text: String = text
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_DETAIL_CHARS)
        .collect();
    if text.is_empty() {
        "no detail".into()
    } else {
        text
    }
}

/// A non-200 answer (or a 200 that cannot be read): a refusal when 4xx, else unexpected.
fn answer_error(status: StatusCode, detail: String) -> TransportError {
    if status.is_client_error() {
        TransportError::Rejected {
            status: status.as_u16(),
            detail,
        }
    } else {
        TransportError::Unexpected {
            status: status.as_u16(),
            detail,
        }
    }
}

/// The connection (TCP and TLS) was not open within the connect timeout.
#[derive(Debug, thiserror::Error)]
#[error("connection not established within {0} ms")]
struct ConnectTimeout(u128);

/// Whether `err` or one of its sources is a [`ConnectTimeout`].
fn is_connect_timeout(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(err);
    while let Some(e) = next {
        if e.is::<ConnectTimeout>() {
            return true;
        }
        next = e.source();
    }
    false
}

/// Map a client error to the transport's terms.
fn classify(err: &(dyn std::error::Error + 'static)) -> TransportError {
    if is_pin_mismatch(err) {
        return TransportError::PinMismatch;
    }
    let mut text = error_chain(err);
    if is_unknown_issuer(err) {
        text = format!("{text} ({UNKNOWN_ISSUER_HINT})");
    }
    if is_connect_timeout(err) {
        TransportError::Timeout(text)
    } else {
        TransportError::Network(text)
    }
}

/// The error and its sources on one line (no request data is part of these messages).
fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut next = err.source();
    while let Some(e) = next {
        let s = e.to_string();
        if !out.contains(&s) {
            out.push_str(": ");
            out.push_str(&s);
        }
        next = e.source();
    }
    out
}

/// The TLS connector with one timeout over TCP connect and TLS handshake together.
#[derive(Clone)]
struct TimedConnector {
    inner: HttpsConnector<HttpConnector>,
    timeout: Duration,
}

type Stream = MaybeHttpsStream<TokioIo<tokio::net::TcpStream>>;

impl tower_service::Service<Uri> for TimedConnector {
    type Response = Stream;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Stream, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let connecting = self.inner.call(uri);
        let timeout = self.timeout;
        Box::pin(async move {
            match tokio::time::timeout(timeout, connecting).await {
                Ok(result) => result,
                Err(_) => Err(Box::new(ConnectTimeout(timeout.as_millis())) as BoxError),
            }
        })
    }
}

/// The HTTP client bound to one verifier endpoint.
#[derive(Clone)]
pub(crate) struct Transport {
    http: HyperClient<TimedConnector, Full<Bytes>>,
    endpoint: Uri,
    entitlements: Uri,
    request_timeout: Duration,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("endpoint", &self.endpoint)
            .field("request_timeout", &self.request_timeout)
            .finish_non_exhaustive()
    }
}

/// The `User-Agent` of the SDK's requests.
const USER_AGENT_VALUE: &str = concat!("payseal-sdk-core/", env!("CARGO_PKG_VERSION"));

impl Transport {
    /// A client over `tls`, with connect and per-request timeouts, HTTPS only, no redirects,
    /// no proxy. Needs a tokio runtime context only when a request is made.
    pub(crate) fn new(
        tls: rustls::ClientConfig,
        endpoint: &str,
        connect_timeout: Duration,
        request_timeout: Duration,
    ) -> Result<Self, TransportError> {
        let endpoint: Uri = endpoint
            .parse()
            .map_err(|e: hyper::http::uri::InvalidUri| TransportError::Setup(e.to_string()))?;
        if endpoint.scheme_str() != Some("https") {
            return Err(TransportError::Setup(
                "the verifier endpoint must be https".into(),
            ));
        }
        let mut tcp = HttpConnector::new();
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        // From the config as it is (its ALPN `http/1.1` kept; hyper-rustls's builder refuses a
        // config with ALPN set, by panicking). HTTPS only: the endpoint is checked above.
        let https = HttpsConnector::from((tcp, tls));
        let connector = TimedConnector {
            inner: https,
            timeout: connect_timeout,
        };
        let http = HyperClient::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            // One buffer, so one TLS record and one segment per request: with head and body
            // written apart, a new connection waited ~40 ms on delayed ACKs (measured by
            // `examples/roundtrip.rs`: cold p50 43.8 ms vectored, 1.40 ms flattened).
            .http1_writev(false)
            .pool_timer(TokioTimer::new())
            .build(connector);
        // The entitlements endpoint: the verify endpoint's origin with its own path.
        let entitlements: Uri = match endpoint.authority() {
            Some(authority) => format!(
                "https://{authority}{}",
                payseal_protocol::entitlements::ENTITLEMENTS_PATH
            )
            .parse()
            .map_err(|e: hyper::http::uri::InvalidUri| TransportError::Setup(e.to_string()))?,
            None => {
                return Err(TransportError::Setup(
                    "the verifier endpoint has no host".into(),
                ))
            }
        };
        Ok(Self {
            http,
            endpoint,
            entitlements,
            request_timeout,
        })
    }

    /// POST one sealed request; the sealed response body on 200.
    pub(crate) async fn post(&self, sealed: Vec<u8>) -> Result<Vec<u8>, TransportError> {
        self.post_to(&self.endpoint, sealed).await
    }

    /// POST one sealed entitlements (or restore) request; the sealed response body on 200.
    pub(crate) async fn post_entitlements(
        &self,
        sealed: Vec<u8>,
    ) -> Result<Vec<u8>, TransportError> {
        self.post_to(&self.entitlements, sealed).await
    }

    async fn post_to(&self, endpoint: &Uri, sealed: Vec<u8>) -> Result<Vec<u8>, TransportError> {
        let exchange = self.exchange(endpoint, sealed);
        match tokio::time::timeout(self.request_timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(TransportError::Timeout(format!(
                "no answer within {} ms",
                self.request_timeout.as_millis()
            ))),
        }
    }

    async fn exchange(&self, endpoint: &Uri, sealed: Vec<u8>) -> Result<Vec<u8>, TransportError> {
        let request = Request::post(endpoint.clone())
            .header(CONTENT_TYPE, HeaderValue::from_static(REQUEST_CONTENT_TYPE))
            .header(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE))
            .body(Full::new(Bytes::from(sealed)))
            .map_err(|e| TransportError::Setup(e.to_string()))?;
        let response = self.http.request(request).await.map_err(|e| classify(&e))?;
        let status = response.status();
        let header = |name: HeaderName| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        // An HTTP-date `Retry-After` is read against the server's `Date`, not the device
        // clock, which may be far off.
        let server_now = header(DATE)
            .and_then(|d| httpdate::parse_http_date(&d).ok())
            .unwrap_or_else(SystemTime::now);
        let retry_after = header(RETRY_AFTER).and_then(|v| parse_retry_after(&v, server_now));
        let mut body = response.into_body();
        let mut bytes = Vec::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| classify(&e))?;
            if let Some(chunk) = frame.data_ref() {
                if bytes.len() + chunk.len() > MAX_RESPONSE_BYTES {
                    return Err(answer_error(status, "response too large".into()));
                }
                bytes.extend_from_slice(chunk);
            }
        }
        if status == StatusCode::OK {
            Ok(bytes)
        } else if status.is_server_error() {
            Err(TransportError::Unavailable {
                status: status.as_u16(),
                retry_after,
            })
        } else {
            Err(answer_error(status, problem_detail(&bytes)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 5,
            base_backoff: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
        }
    }

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let p = policy();
        assert_eq!(backoff_delay(&p, 2, None, 0.0), Duration::from_millis(50));
        assert_eq!(backoff_delay(&p, 2, None, 0.999_999).as_millis(), 99);
        assert_eq!(backoff_delay(&p, 3, None, 0.0), Duration::from_millis(100));
        assert_eq!(backoff_delay(&p, 4, None, 0.0), Duration::from_millis(200));
        // 100 ms * 2^8 is past the 1 s cap.
        assert_eq!(backoff_delay(&p, 10, None, 1.0), Duration::from_secs(1));
        assert_eq!(
            backoff_delay(&p, u32::MAX, None, 1.0),
            Duration::from_secs(1)
        );
    }

    #[test]
    fn retry_after_is_a_floor_but_capped() {
        let p = policy();
        assert_eq!(
            backoff_delay(&p, 2, Some(Duration::from_millis(700)), 0.0),
            Duration::from_millis(700)
        );
        assert_eq!(
            backoff_delay(&p, 2, Some(Duration::from_secs(3600)), 0.0),
            Duration::from_secs(1)
        );
    }

    #[test]
    fn retry_after_parses_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        assert_eq!(parse_retry_after(" 3 ", now), Some(Duration::from_secs(3)));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(5));
        assert_eq!(parse_retry_after(&later, now), Some(Duration::from_secs(5)));
        let earlier = httpdate::fmt_http_date(now - Duration::from_secs(5));
        assert_eq!(parse_retry_after(&earlier, now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn only_network_timeout_and_5xx_are_retried() {
        assert!(TransportError::Network("x".into()).is_retryable());
        assert!(TransportError::Timeout("x".into()).is_retryable());
        assert!(TransportError::Unavailable {
            status: 503,
            retry_after: None
        }
        .is_retryable());
        assert!(!TransportError::PinMismatch.is_retryable());
        assert!(!TransportError::Rejected {
            status: 400,
            detail: "x".into()
        }
        .is_retryable());
    }

    #[test]
    fn only_4xx_is_a_refusal() {
        for status in [StatusCode::BAD_REQUEST, StatusCode::PAYLOAD_TOO_LARGE] {
            assert!(matches!(
                answer_error(status, "x".into()),
                TransportError::Rejected { .. }
            ));
        }
        for status in [StatusCode::OK, StatusCode::NO_CONTENT, StatusCode::FOUND] {
            assert!(matches!(
                answer_error(status, "x".into()),
                TransportError::Unexpected { .. }
            ));
        }
    }

    #[test]
    fn problem_documents_are_summarised() {
        let body = br#"{"type":"about:blank","title":"Bad Request","status":400,"detail":"malformed envelope"}"#;
        assert_eq!(problem_detail(body), "Bad Request: malformed envelope");
        assert_eq!(problem_detail(b""), "no detail");
        assert_eq!(problem_detail(&[b'a'; 1000]).len(), MAX_DETAIL_CHARS);
    }
}
