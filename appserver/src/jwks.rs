//! The verifier's published keys, fetched over HTTPS and cached: [`JwksSource`], and
//! [`JwksTokenVerifier`], which checks tokens with them. This is the crate's only I/O.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use payseal_protocol::verdict::{Jwk, VerdictPublicKey};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

use crate::delivery::DeliveryGuard;
use crate::policy::{Grant, Policy, TokenError};
use crate::replay::ReplayGuard;
use crate::verifier::TokenVerifier;

/// Why the keys could not be fetched or used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwksError {
    /// The URL is not an `https://` URL.
    #[error("JWKS URL {0:?} is not an https:// URL")]
    Url(String),
    /// An extra root certificate is not PEM, or the TLS configuration failed.
    #[error("TLS configuration: {0}")]
    Tls(String),
    /// The request failed (connect, TLS handshake, timeout, ...).
    #[error("fetching the JWKS failed: {0}")]
    Transport(String),
    /// The verifier answered with a status other than 200.
    #[error("the JWKS endpoint answered HTTP {0}")]
    Status(u16),
    /// The document is larger than the configured limit.
    #[error("the JWKS document is larger than {0} bytes")]
    TooLarge(usize),
    /// The document is not a JWK Set.
    #[error("not a JWK Set: {0}")]
    Parse(String),
    /// The set holds no Ed25519 verdict key this crate can use.
    #[error("the JWK Set holds no usable Ed25519 verdict key")]
    NoUsableKeys,
    /// No fetch has succeeded yet and the next attempt is rate-limited.
    #[error("no keys fetched yet; last attempt failed: {0}")]
    NotYetFetched(String),
}

/// Where and how to fetch the keys.
#[derive(Debug, Clone)]
pub struct JwksOptions {
    /// The verifier's `https://HOST[:PORT]/v1/keys`.
    pub url: String,
    /// Extra trusted root certificates (PEM), for private deployments and self-signed dev
    /// verifiers.
    pub extra_roots_pem: Vec<Vec<u8>>,
    /// Also trust the Mozilla roots (`webpki-roots`). Default true.
    pub builtin_roots: bool,
    /// How long a fetched set is fresh. Default 5 minutes.
    pub ttl: Duration,
    /// Minimum time between two fetch attempts (TTL refresh or unknown `kid`). Default 30 s.
    pub min_refetch_interval: Duration,
    /// Connect + request timeout. Default 10 s.
    pub timeout: Duration,
    /// Largest accepted document. Default 64 KiB.
    pub max_body_bytes: usize,
}

impl JwksOptions {
    /// Defaults for `url` (see the field docs).
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            extra_roots_pem: Vec::new(),
            builtin_roots: true,
            ttl: Duration::from_secs(300),
            min_refetch_interval: Duration::from_secs(30),
            timeout: Duration::from_secs(10),
            max_body_bytes: 64 * 1024,
        }
    }
    /// Add a trusted root certificate (PEM).
    pub fn with_extra_root_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.extra_roots_pem.push(pem.into());
        self
    }
    /// Set the TTL.
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }
    /// Set the minimum time between fetch attempts.
    pub fn with_min_refetch_interval(mut self, interval: Duration) -> Self {
        self.min_refetch_interval = interval;
        self
    }
}

/// When to fetch: the pure rules behind [`JwksSource`], on a monotonic clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshSchedule {
    ttl: Duration,
    min_interval: Duration,
    fetched_at: Option<Instant>,
    attempted_at: Option<Instant>,
    kid_refetch_at: Option<Instant>,
}

impl RefreshSchedule {
    /// Nothing fetched or attempted yet.
    pub fn new(ttl: Duration, min_interval: Duration) -> Self {
        Self {
            ttl,
            min_interval,
            fetched_at: None,
            attempted_at: None,
            kid_refetch_at: None,
        }
    }
    /// Whether the cached set is older than the TTL (or absent) at `now`.
    pub fn is_stale(&self, now: Instant) -> bool {
        self.fetched_at
            .is_none_or(|at| now.saturating_duration_since(at) >= self.ttl)
    }
    /// Whether a TTL refresh may be attempted at `now`: the first one always, later ones at
    /// most one per minimum interval.
    pub fn may_attempt(&self, now: Instant) -> bool {
        self.attempted_at
            .is_none_or(|at| now.saturating_duration_since(at) >= self.min_interval)
    }
    /// Whether to fetch before answering at `now`: stale and allowed.
    pub fn should_refresh(&self, now: Instant) -> bool {
        self.is_stale(now) && self.may_attempt(now)
    }
    /// Whether an unknown `kid` may trigger a fetch at `now`: at most one such fetch per
    /// minimum interval, whatever the TTL refreshes did.
    pub fn should_refetch_for_unknown_kid(&self, now: Instant) -> bool {
        self.kid_refetch_at
            .is_none_or(|at| now.saturating_duration_since(at) >= self.min_interval)
    }
    /// Record an attempt at `now` and whether it succeeded.
    pub fn record(&mut self, now: Instant, succeeded: bool) {
        self.attempted_at = Some(now);
        if succeeded {
            self.fetched_at = Some(now);
        }
    }
    /// Record that an unknown `kid` triggered an attempt at `now` (call [`Self::record`] too).
    pub fn record_unknown_kid(&mut self, now: Instant) {
        self.kid_refetch_at = Some(now);
    }
}

/// Counters for monitoring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JwksStats {
    /// Fetch attempts made.
    pub attempts: u64,
    /// Attempts that failed (the last good keys were kept).
    pub failures: u64,
    /// Keys in the current set.
    pub keys: usize,
    /// Keys of the last document that were skipped (not Ed25519 verdict keys).
    pub skipped: usize,
}

#[derive(Debug)]
struct Cache {
    schedule: RefreshSchedule,
    keys: Option<Arc<Vec<VerdictPublicKey>>>,
    skipped: usize,
    last_error: Option<JwksError>,
}

/// The verifier's `GET /v1/keys`, fetched with reqwest over rustls and cached by the rules
/// below. Cheap to share: put it in an `Arc` or use one per process.
///
/// Caching rules (the pure part is [`RefreshSchedule`]):
/// - the keys are refetched when older than the TTL (default 5 minutes, as the verifier's
///   `Cache-Control: max-age=300` says);
/// - a token whose `kid` is not in the cached set triggers one refetch (key rotation: the
///   verifier publishes a new key before it signs with it, but this server may have cached
///   the set before that);
/// - refetches for unknown `kid`s are at most one per `min_refetch_interval` (default 30 s),
///   counted from the last such refetch (so a rotation right after a TTL fetch is still
///   picked up at once), and tokens with made-up `kid`s cannot make this server hammer the
///   verifier: at most one fetch per interval plus one per TTL;
/// - after a failed attempt, TTL refreshes also wait `min_refetch_interval`;
/// - when a refetch fails, the last good set is kept and used.
#[derive(Debug)]
pub struct JwksSource {
    http: reqwest::Client,
    url: reqwest::Url,
    max_body_bytes: usize,
    cache: RwLock<Cache>,
    fetch_lock: tokio::sync::Mutex<()>,
    attempts: AtomicU64,
    failures: AtomicU64,
}

impl JwksSource {
    /// A source for `options`; fetches nothing yet.
    pub fn new(options: JwksOptions) -> Result<Self, JwksError> {
        let url = reqwest::Url::parse(&options.url)
            .ok()
            .filter(|u| u.scheme() == "https" && u.host_str().is_some())
            .ok_or_else(|| JwksError::Url(options.url.clone()))?;
        let tls = client_config(options.builtin_roots, &options.extra_roots_pem)?;
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .https_only(true)
            .connect_timeout(options.timeout)
            .timeout(options.timeout)
            .redirect(reqwest::redirect::Policy::none())
            // One request every few minutes: a pooled connection would only go stale.
            .pool_max_idle_per_host(0)
            .user_agent(concat!("payseal-appserver/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| JwksError::Tls(e.to_string()))?;
        Ok(Self {
            http,
            url,
            max_body_bytes: options.max_body_bytes,
            cache: RwLock::new(Cache {
                schedule: RefreshSchedule::new(options.ttl, options.min_refetch_interval),
                keys: None,
                skipped: 0,
                last_error: None,
            }),
            fetch_lock: tokio::sync::Mutex::new(()),
            attempts: AtomicU64::new(0),
            failures: AtomicU64::new(0),
        })
    }

    /// The current keys: fetched first if the cache is stale and a fetch is allowed; the last
    /// good set if that fetch fails. Errors only when no fetch has ever succeeded.
    pub async fn keys(&self) -> Result<Arc<Vec<VerdictPublicKey>>, JwksError> {
        if self.read(|c| c.schedule.should_refresh(Instant::now())) {
            let _guard = self.fetch_lock.lock().await;
            // Another task may have fetched while this one waited.
            if self.read(|c| c.schedule.should_refresh(Instant::now())) {
                let _ = self.fetch_now().await;
            }
        }
        self.current()
    }

    /// Fetch now, regardless of the TTL and the rate limit (an operator's "reload keys").
    /// On failure the last good keys stay in use.
    pub async fn refresh(&self) -> Result<(), JwksError> {
        let _guard = self.fetch_lock.lock().await;
        self.fetch_now().await
    }

    /// After a token named `kid` that the cached set lacks: refetch if the rate limit allows,
    /// and say whether the set now holds `kid`.
    pub async fn refetch_for_unknown_kid(&self, kid: &str) -> bool {
        let has = |c: &Cache| {
            c.keys
                .as_ref()
                .is_some_and(|keys| keys.iter().any(|k| k.kid == kid))
        };
        let _guard = self.fetch_lock.lock().await;
        // Another task may have fetched the rotated set while this one waited.
        if self.read(has) {
            return true;
        }
        if !self.read(|c| c.schedule.should_refetch_for_unknown_kid(Instant::now())) {
            return false;
        }
        tracing::info!(kid, "unknown verdict key id: refetching the JWKS");
        self.cache
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .schedule
            .record_unknown_kid(Instant::now());
        let _ = self.fetch_now().await;
        self.read(has)
    }

    /// Counters for monitoring.
    pub fn stats(&self) -> JwksStats {
        let (keys, skipped) = self.read(|c| (c.keys.as_ref().map_or(0, |k| k.len()), c.skipped));
        JwksStats {
            attempts: self.attempts.load(Ordering::Relaxed),
            failures: self.failures.load(Ordering::Relaxed),
            keys,
            skipped,
        }
    }

    fn read<T>(&self, f: impl FnOnce(&Cache) -> T) -> T {
        f(&self.cache.read().unwrap_or_else(|e| e.into_inner()))
    }

    fn current(&self) -> Result<Arc<Vec<VerdictPublicKey>>, JwksError> {
        self.read(|c| match (&c.keys, &c.last_error) {
            (Some(keys), _) => Ok(keys.clone()),
            (None, Some(e)) => Err(JwksError::NotYetFetched(e.to_string())),
            (None, None) => Err(JwksError::NotYetFetched("no attempt yet".into())),
        })
    }

    /// One fetch; the caller holds `fetch_lock`.
    async fn fetch_now(&self) -> Result<(), JwksError> {
        self.attempts.fetch_add(1, Ordering::Relaxed);
        let result = self.fetch_document().await.and_then(|b| parse_jwks(&b));
        let now = Instant::now();
        let mut cache = self.cache.write().unwrap_or_else(|e| e.into_inner());
        cache.schedule.record(now, result.is_ok());
        match result {
            Ok((keys, skipped)) => {
                cache.keys = Some(Arc::new(keys));
                cache.skipped = skipped;
                cache.last_error = None;
                Ok(())
            }
            Err(e) => {
                self.failures.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %e, url = %self.url, "JWKS fetch failed; keeping the last good keys");
                cache.last_error = Some(e.clone());
                Err(e)
            }
        }
    }

    async fn fetch_document(&self) -> Result<Vec<u8>, JwksError> {
        let transport = |e: reqwest::Error| JwksError::Transport(error_chain(&e));
        let mut response = self
            .http
            .get(self.url.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(transport)?;
        if response.status() != reqwest::StatusCode::OK {
            return Err(JwksError::Status(response.status().as_u16()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(transport)? {
            if body.len() + chunk.len() > self.max_body_bytes {
                return Err(JwksError::TooLarge(self.max_body_bytes));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

/// The Ed25519 verdict keys of a JWK Set document, and how many other keys were skipped (a
/// standard JWKS may hold keys of other kinds; a duplicate `kid` is an error).
pub(crate) fn parse_jwks(document: &[u8]) -> Result<(Vec<VerdictPublicKey>, usize), JwksError> {
    #[derive(serde::Deserialize)]
    struct Set {
        keys: Vec<serde_json::Value>,
    }
    let set: Set = serde_json::from_slice(document).map_err(|e| JwksError::Parse(e.to_string()))?;
    let mut keys: Vec<VerdictPublicKey> = Vec::new();
    let mut skipped = 0;
    for value in set.keys {
        let key = serde_json::from_value::<Jwk>(value)
            .ok()
            .and_then(|jwk| VerdictPublicKey::from_jwk(&jwk).ok());
        match key {
            Some(key) if keys.iter().any(|k| k.kid == key.kid) => {
                return Err(JwksError::Parse(format!("kid {:?} appears twice", key.kid)))
            }
            Some(key) => keys.push(key),
            None => skipped += 1,
        }
    }
    if keys.is_empty() {
        return Err(JwksError::NoUsableKeys);
    }
    Ok((keys, skipped))
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// The TLS client configuration of the crate's HTTPS clients (the JWKS fetch, the app-server
/// API): Mozilla's roots when `builtin_roots`, plus `extra_roots_pem`.
pub(crate) fn client_config(
    builtin_roots: bool,
    extra_roots_pem: &[Vec<u8>],
) -> Result<rustls::ClientConfig, JwksError> {
    let mut roots = rustls::RootCertStore::empty();
    if builtin_roots {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    for (index, pem) in extra_roots_pem.iter().enumerate() {
        let mut found = 0usize;
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| JwksError::Tls(format!("extra root #{index}: {e}")))?;
            roots
                .add(cert)
                .map_err(|e| JwksError::Tls(format!("extra root #{index}: {e}")))?;
            found += 1;
        }
        if found == 0 {
            return Err(JwksError::Tls(format!(
                "extra root #{index}: no CERTIFICATE block"
            )));
        }
    }
    if roots.is_empty() {
        return Err(JwksError::Tls("no trusted roots".into()));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| JwksError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// Checks tokens with the keys of a [`JwksSource`] and a [`Policy`]; an unknown `kid` makes it
/// refetch the keys once (rate-limited) and try again.
#[derive(Debug, Clone)]
pub struct JwksTokenVerifier {
    source: Arc<JwksSource>,
    policy: Policy,
}

impl JwksTokenVerifier {
    /// Check tokens with `source`'s keys under `policy`.
    pub fn new(source: Arc<JwksSource>, policy: Policy) -> Self {
        Self { source, policy }
    }
    /// The key source (for [`JwksSource::stats`] or a forced [`JwksSource::refresh`]).
    pub fn source(&self) -> &Arc<JwksSource> {
        &self.source
    }
    /// The policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// A [`TokenVerifier`] over the current keys (fetching them if due).
    pub async fn current(&self) -> Result<TokenVerifier, TokenError> {
        let keys = self
            .source
            .keys()
            .await
            .map_err(|e| TokenError::NoKeys(e.to_string()))?;
        Ok(TokenVerifier::new(keys.to_vec(), self.policy.clone()))
    }

    /// As [`TokenVerifier::check`] (no replay check), with key rotation.
    pub async fn check(&self, token: &str, now: i64) -> Result<Grant, TokenError> {
        match self.current().await?.check(token, now) {
            Err(TokenError::UnknownKey(Some(kid))) => {
                if self.source.refetch_for_unknown_kid(&kid).await {
                    self.current().await?.check(token, now)
                } else {
                    Err(TokenError::UnknownKey(Some(kid)))
                }
            }
            other => other,
        }
    }

    /// As [`TokenVerifier::accept`]: [`Self::check`], then claim the `jti` in `replay` and the
    /// purchase in `delivery`; the grant is to be delivered now.
    pub async fn accept(
        &self,
        token: &str,
        now: i64,
        replay: &dyn ReplayGuard,
        delivery: &dyn DeliveryGuard,
    ) -> Result<Grant, TokenError> {
        let grant = self.check(token, now).await?;
        crate::verifier::claim(&grant, &self.policy, now, replay, delivery)?;
        Ok(grant)
    }

    /// As [`TokenVerifier::accept_product`]: a `paid` token for another product than
    /// `product_id` is refused before anything is claimed.
    pub async fn accept_product(
        &self,
        token: &str,
        product_id: &str,
        now: i64,
        replay: &dyn ReplayGuard,
        delivery: &dyn DeliveryGuard,
    ) -> Result<Grant, TokenError> {
        let grant = self.check(token, now).await?;
        grant.require_product(product_id)?;
        crate::verifier::claim(&grant, &self.policy, now, replay, delivery)?;
        Ok(grant)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use payseal_protocol::verdict::{Jwks, VerdictSigningKey};

    const T: Duration = Duration::from_secs(300);
    const I: Duration = Duration::from_secs(30);

    #[test]
    fn schedule_fresh_then_stale() {
        let t0 = Instant::now();
        let mut s = RefreshSchedule::new(T, I);
        assert!(s.should_refresh(t0), "nothing fetched yet");
        s.record(t0, true);
        assert!(!s.should_refresh(t0 + Duration::from_secs(299)));
        assert!(s.should_refresh(t0 + T));
    }

    #[test]
    fn unknown_kid_refetch_is_rate_limited() {
        let t0 = Instant::now();
        let mut s = RefreshSchedule::new(T, I);
        s.record(t0, true);
        // A rotation just after the TTL fetch is picked up at once...
        let t1 = t0 + Duration::from_secs(1);
        assert!(s.should_refetch_for_unknown_kid(t1));
        s.record_unknown_kid(t1);
        s.record(t1, true);
        // ...but the next unknown kid waits the interval, whatever the TTL fetches do.
        assert!(!s.should_refetch_for_unknown_kid(t1 + Duration::from_secs(29)));
        s.record(t1 + Duration::from_secs(10), true);
        assert!(!s.should_refetch_for_unknown_kid(t1 + Duration::from_secs(29)));
        assert!(s.should_refetch_for_unknown_kid(t1 + I));
    }

    #[test]
    fn failed_attempt_keeps_last_fetch_and_backs_off() {
        let t0 = Instant::now();
        let mut s = RefreshSchedule::new(T, I);
        s.record(t0, true);
        s.record(t0 + T, false);
        // Still stale (the failure did not refresh it), but the next try waits the interval.
        assert!(s.is_stale(t0 + T + Duration::from_secs(1)));
        assert!(!s.should_refresh(t0 + T + Duration::from_secs(1)));
        assert!(s.should_refresh(t0 + T + I));
    }

    #[test]
    fn parse_skips_foreign_keys_and_refuses_duplicates() {
        let a = VerdictSigningKey::from_seed("a", [1; 32]).public_key();
        let doc = serde_json::json!({
            "keys": [
                a.to_jwk(),
                {"kty": "RSA", "kid": "rsa", "n": "AQAB", "e": "AQAB"},
            ],
            "hpke_configs": ["AAAA"],
        });
        let (keys, skipped) = parse_jwks(doc.to_string().as_bytes()).unwrap();
        assert_eq!((keys, skipped), (vec![a.clone()], 1));

        let dup = serde_json::to_vec(&Jwks::from_keys(&[a.clone(), a])).unwrap();
        assert!(matches!(parse_jwks(&dup), Err(JwksError::Parse(_))));
        assert_eq!(parse_jwks(br#"{"keys":[]}"#), Err(JwksError::NoUsableKeys));
        assert!(matches!(parse_jwks(b"[]"), Err(JwksError::Parse(_))));
    }

    #[test]
    fn only_https_urls() {
        assert!(matches!(
            JwksSource::new(JwksOptions::new("http://127.0.0.1/v1/keys")),
            Err(JwksError::Url(_))
        ));
        assert!(matches!(
            JwksSource::new(
                JwksOptions::new("https://127.0.0.1/v1/keys").with_extra_root_pem("nope")
            ),
            Err(JwksError::Tls(_))
        ));
    }

    #[tokio::test]
    async fn unreachable_verifier_is_no_keys() {
        // A port nothing listens on: bind, note it, drop.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let source = Arc::new(
            JwksSource::new(JwksOptions::new(format!(
                "https://127.0.0.1:{port}/v1/keys"
            )))
            .unwrap(),
        );
        let verifier = JwksTokenVerifier::new(source.clone(), Policy::new("app"));
        assert!(matches!(
            verifier.check("a.b.c", 0).await,
            Err(TokenError::NoKeys(_))
        ));
        // The failed attempt rate-limits the next one.
        assert!(verifier.check("a.b.c", 0).await.is_err());
        assert_eq!(source.stats().attempts, 1);
        assert_eq!(source.stats().failures, 1);
    }
}
