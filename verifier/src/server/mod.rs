//! The HTTPS server: axum routes served by our own accept loop (`server/listener.rs`: rustls (ring),
//! hyper HTTP/1.1 + HTTP/2, the connection table with shedding and per-source caps, handshake
//! and idle timeouts), body limit, request timeout, metrics, logs, TLS reload on SIGHUP, and
//! graceful shutdown.
//!
//! Routes: `POST /v1/verify`, `POST /v1/entitlements` (sealed like verify: an account's signed
//! entitlements, optionally after a restore batch), `GET /v1/keys`, `GET /healthz`,
//! `GET /readyz`, the app-server API (`server/app_auth.rs`: its credential;
//! `GET /v1/app-server/identity`; `server/app_server.rs`: `POST /v1/app-server/deliveries` and
//! `/consent`), and the
//! stores' server notifications (`server/store_notifications.rs`: `POST
//! /v1/stores/app-store/notifications`; `POST /v1/stores/google-play/rtdn` when
//! `[google_play.rtdn]` is configured; `POST /v1/stores/huawei/notifications` when an app has
//! `[apps."ID".huawei.notifications]`). `run` also starts the webhook worker and the Google Play
//! Voided Purchases pollers, and stops them at shutdown. `GET /metrics` is never on the public
//! listener: it is served on the private plain-HTTP `[server] metrics_listen` listener
//! (default `127.0.0.1:9464`; `"off"`: nowhere).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use payseal_protocol::{Outcome, Reason};
use serde::Serialize;

use crate::ledger::{self, Ledger, LedgerError};
use crate::service::{ServiceError, Verifier};
use crate::settings::Settings;
use crate::tls::{ReloadableTls, TlsError};

pub mod app_auth;
mod app_server;
mod body;
mod entitlements_api;
pub(crate) mod limits;
mod listener;
/// The Prometheus metrics (a top-level module, so that the webhook worker and the store
/// pollers record into it without importing the server); the old path keeps working.
pub(crate) use crate::metrics;
pub(crate) mod problem;
pub(crate) mod store_notifications;
mod table;

pub use crate::settings::ConnectionLimits;

use metrics::{Metrics, RequestLabels};
use problem::{Problem, Tag};

pub use payseal_protocol::envelope::{REQUEST_CONTENT_TYPE, RESPONSE_CONTENT_TYPE};

/// The sealed entitlements (and restore) endpoint.
pub use payseal_protocol::entitlements::ENTITLEMENTS_PATH;

/// Largest `POST /v1/entitlements` body, in `server.max_body_bytes` (a restore batch).
pub const RESTORE_BODY_FACTOR: usize = 16;

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// TLS material unusable.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The ledger could not be opened.
    #[error("ledger: {0}")]
    Ledger(#[from] LedgerError),
    /// Binding or serving failed.
    #[error("listener {addr}: {source}")]
    Io {
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The settings are unusable for serving.
    #[error("settings: {0}")]
    Settings(&'static str),
    /// The outbound HTTP client (webhooks, store servers) could not be built.
    #[error(transparent)]
    Client(#[from] crate::background::ClientError),
}

/// The `GET /v1/keys` document: a JWKS (`keys`) plus the HPKE key configurations.
#[derive(Debug, Clone, Serialize)]
pub struct KeysDocument {
    /// Verdict public keys as JWKs (a JWK Set any JOSE library reads).
    pub keys: Vec<payseal_protocol::verdict::Jwk>,
    /// base64url (no padding) RFC 9458 key configurations, current first.
    pub hpke_configs: Vec<String>,
}

impl KeysDocument {
    /// The public keys of `settings`.
    pub fn from_settings(settings: &Settings) -> Self {
        Self {
            keys: settings
                .verdict_keys
                .iter()
                .map(|k| k.public_key().to_jwk())
                .collect(),
            hpke_configs: settings
                .hpke_keys
                .iter()
                .map(|k| URL_SAFE_NO_PAD.encode(k.config().encode()))
                .collect(),
        }
    }
}

#[derive(Clone)]
struct AppState {
    verifier: Verifier,
    metrics: Arc<Metrics>,
    keys_json: Arc<Vec<u8>>,
    timeout: Duration,
    /// Largest `POST /v1/verify` body.
    max_body_bytes: usize,
    rtdn: Option<Arc<crate::notifications::google_play::RtdnEndpoint>>,
    huawei: Option<Arc<crate::notifications::huawei::HuaweiEndpoint>>,
}

/// A bound, not yet running server.
pub struct Server {
    listener: std::net::TcpListener,
    addr: SocketAddr,
    tls: Arc<ReloadableTls>,
    router: Router,
    metrics_listener: Option<(std::net::TcpListener, Router)>,
    metrics: Arc<Metrics>,
    grace: Duration,
    ledger: Arc<dyn Ledger>,
    connections: ConnectionLimits,
    webhooks: Option<crate::webhook::worker::Worker>,
    voided: Vec<crate::notifications::voided::Poller>,
    refunds: Option<crate::refunds::RefundWorker>,
    acks: Option<crate::google_api::acknowledge::AckWorker>,
}

fn bind_std(addr: SocketAddr) -> Result<(std::net::TcpListener, SocketAddr), ServerError> {
    let listener =
        std::net::TcpListener::bind(addr).map_err(|source| ServerError::Io { addr, source })?;
    let local = listener
        .local_addr()
        .map_err(|source| ServerError::Io { addr, source })?;
    listener
        .set_nonblocking(true)
        .map_err(|source| ServerError::Io { addr, source })?;
    Ok((listener, local))
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Load TLS, open the ledger named by `settings.ledger_url`, and bind the listener.
    pub fn bind(settings: Settings) -> Result<Self, ServerError> {
        let ledger = ledger::open(&settings.ledger_url)?;
        Self::bind_with_ledger(settings, ledger)
    }

    /// Like [`Server::bind`] with an already open ledger.
    pub fn bind_with_ledger(
        settings: Settings,
        ledger: Arc<dyn Ledger>,
    ) -> Result<Self, ServerError> {
        crate::tls::install_crypto_provider();
        if settings.hpke_keys.is_empty() || settings.verdict_keys.is_empty() {
            return Err(ServerError::Settings(
                "at least one HPKE key and one verdict key are required",
            ));
        }
        let tls = Arc::new(ReloadableTls::load(settings.tls.clone())?);
        let (listener, addr) = bind_std(settings.listen)?;
        let metrics_listen = settings.metrics_listen;
        let keys_json = serde_json::to_vec(&KeysDocument::from_settings(&settings))
            .map_err(|_| ServerError::Settings("keys document does not serialize"))?;
        let limits = settings.limits.clone();
        let metrics = Metrics::new();
        // One outbound client for the webhooks and the stores' servers.
        let client = crate::background::outbound_client()?;
        // The webhook delivery worker, when any app has a webhook (started by `run`).
        let webhooks = (!settings.webhooks.is_empty()).then(|| {
            crate::webhook::worker::Worker::new(
                ledger.clone(),
                Arc::new(settings.webhooks.clone()),
                settings.webhook_worker.clone(),
                Arc::clone(&metrics),
                client.clone(),
            )
        });
        let rtdn = settings.google_play_rtdn.as_ref().map(|r| {
            Arc::new(crate::notifications::google_play::RtdnEndpoint::new(
                r.clone(),
                client.clone(),
            ))
        });
        let huawei = (!settings.huawei_notifications.is_empty()).then(|| {
            Arc::new(crate::notifications::huawei::HuaweiEndpoint::new(
                settings.huawei_notifications.clone(),
                client.clone(),
            ))
        });
        // The Play Developer API clients and their acknowledgement worker.
        let play_apis: std::collections::HashMap<_, _> = settings
            .google_play_api
            .iter()
            .map(|(app, s)| {
                (
                    app.clone(),
                    Arc::new(crate::google_api::PlayApi::new(s.clone(), client.clone())),
                )
            })
            .collect();
        let play_apis = Arc::new(play_apis);
        let acks = (!play_apis.is_empty()).then(|| {
            crate::google_api::acknowledge::AckWorker::new(
                ledger.clone(),
                Arc::clone(&play_apis),
                Arc::clone(&metrics),
                settings.webhook_worker.poll_interval,
                settings.webhook_worker.batch,
            )
        });
        let settings = Arc::new(settings);
        let voided = settings
            .google_play_voided
            .iter()
            .map(|v| {
                crate::notifications::voided::Poller::new(
                    v.clone(),
                    Arc::clone(&settings),
                    Arc::clone(&ledger),
                    Arc::clone(&metrics),
                    client.clone(),
                )
            })
            .collect();
        let refunds = Some(crate::refunds::RefundWorker::new(
            Arc::clone(&ledger),
            Arc::clone(&settings),
            Arc::clone(&metrics),
            client.clone(),
            Arc::clone(&play_apis),
        ))
        .filter(crate::refunds::RefundWorker::is_needed);
        // The App Store Server API clients (Get All Subscription Statuses at a subscription's
        // first redemption).
        let app_store_apis: std::collections::HashMap<_, _> = settings
            .app_store_api
            .iter()
            .map(|(app, s)| {
                (
                    app.clone(),
                    Arc::new(crate::app_store_api::AppStoreApi::new(
                        client.clone(),
                        s.clone(),
                    )),
                )
            })
            .collect();
        let verifier = Verifier::new(settings, Arc::clone(&ledger))
            .with_play_apis(play_apis)
            .with_app_store_apis(Arc::new(app_store_apis));
        let state = AppState {
            verifier,
            metrics: Arc::clone(&metrics),
            keys_json: Arc::new(keys_json),
            timeout: limits.request_timeout,
            max_body_bytes: limits.max_body_bytes,
            rtdn,
            huawei,
        };
        // A taken address (another verifier on the host) stops the start; the CLI names
        // server.metrics_listen in the message.
        let metrics_listener = match metrics_listen {
            Some(at) => Some((bind_std(at)?.0, metrics_router(state.clone()))),
            None => None,
        };
        Ok(Self {
            listener,
            addr,
            tls,
            router: router(state, limits.max_body_bytes),
            metrics_listener,
            metrics,
            grace: limits.shutdown_grace,
            ledger,
            connections: limits.connection,
            webhooks,
            voided,
            refunds,
            acks,
        })
    }

    /// Replace the per-connection limits (timeouts, connection caps, HTTP/2 limits).
    pub fn with_connection_limits(mut self, limits: ConnectionLimits) -> Self {
        self.connections = limits;
        self
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The address of the private `/metrics` listener (`None` when `metrics_listen = "off"`).
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener
            .as_ref()
            .and_then(|(l, _)| l.local_addr().ok())
    }

    /// The served TLS configuration (reload it with [`ReloadableTls::reload`]).
    pub fn tls(&self) -> &Arc<ReloadableTls> {
        &self.tls
    }

    /// The ledger the server records into.
    pub fn ledger(&self) -> &Arc<dyn Ledger> {
        &self.ledger
    }

    /// Serve until `shutdown` resolves, then stop accepting and let in-flight requests finish
    /// within the shutdown grace. SIGHUP (Unix) reloads the TLS certificate and key.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) -> Result<(), ServerError> {
        let addr = self.addr;
        let listener = tokio::net::TcpListener::from_std(self.listener)
            .map_err(|source| ServerError::Io { addr, source })?;
        let metrics_server = match self.metrics_listener {
            Some((std_listener, router)) => {
                let at = std_listener.local_addr().unwrap_or(addr);
                let l = tokio::net::TcpListener::from_std(std_listener)
                    .map_err(|source| ServerError::Io { addr: at, source })?;
                tracing::info!(addr = %at, "metrics listening (plain HTTP)");
                Some(tokio::spawn(async move {
                    if let Err(e) = axum::serve(l, router).await {
                        tracing::error!(error = %e, "metrics listener stopped");
                    }
                }))
            }
            None => None,
        };
        let reload = tokio::spawn(reload_on_sighup(Arc::clone(&self.tls)));
        let shared = listener::Shared::new(
            self.router,
            Arc::clone(&self.tls),
            self.connections,
            self.metrics,
        );
        let worker = self.webhooks.map(crate::webhook::worker::Worker::spawn);
        let refunds = self.refunds.map(crate::refunds::RefundWorker::spawn);
        let pollers: Vec<_> = self
            .voided
            .into_iter()
            .map(crate::notifications::voided::Poller::spawn)
            .collect();
        let acks = self
            .acks
            .map(crate::google_api::acknowledge::AckWorker::spawn);
        tracing::info!(%addr, webhooks = worker.is_some(), voided_pollers = pollers.len(),
            play_acknowledgements = acks.is_some(), "verifier listening");
        listener::serve(listener, shared, self.grace, shutdown).await;
        reload.abort();
        if let Some(m) = metrics_server {
            m.abort();
        }
        for poller in pollers {
            // A poll cut short leaves its cursor: the window is polled again at the next start.
            poller.stop(Duration::from_secs(2)).await;
        }
        if let Some(refunds) = refunds {
            // Unanswered rows stay queued (an attempt cut short is claimed again after its lease).
            refunds.stop(Duration::from_secs(2)).await;
        }
        if let Some(worker) = worker {
            // Undelivered rows stay in the outbox for the next start.
            worker.stop(Duration::from_secs(2)).await;
        }
        if let Some(acks) = acks {
            // Pending acknowledgements stay queued for the next start (or another instance).
            acks.stop(Duration::from_secs(2)).await;
        }
        tracing::info!("verifier stopped");
        Ok(())
    }
}

/// Reload the TLS files on every SIGHUP; a failed reload keeps the certificate in use.
async fn reload_on_sighup(tls: Arc<ReloadableTls>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let Ok(mut hup) = signal(SignalKind::hangup()) else {
            tracing::warn!("SIGHUP handler unavailable: TLS reload disabled");
            return;
        };
        while hup.recv().await.is_some() {
            match tls.reload() {
                Ok(()) => tracing::info!(
                    cert = %tls.files().cert_pem.display(),
                    "TLS certificate reloaded"
                ),
                Err(e) => tracing::error!(
                    error = %e,
                    "TLS reload failed; still serving the previous certificate"
                ),
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tls;
        std::future::pending::<()>().await;
    }
}

/// Bind and serve `settings` until `shutdown` resolves.
pub async fn serve(
    settings: Settings,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServerError> {
    Server::bind(settings)?.run(shutdown).await
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

fn router(state: AppState, max_body_bytes: usize) -> Router {
    let mut router = Router::new()
        .route("/v1/verify", post(verify))
        .route(ENTITLEMENTS_PATH, post(entitlements))
        .route(
            crate::notifications::app_store::ROUTE,
            post(store_notifications::app_store).layer(DefaultBodyLimit::max(
                store_notifications::MAX_NOTIFICATION_BYTES,
            )),
        )
        .route("/v1/keys", get(keys))
        .route(app_auth::IDENTITY_ROUTE, get(app_auth::identity))
        .route(
            payseal_protocol::entitlements::APP_SERVER_ENTITLEMENTS_PATH,
            get(entitlements_api::get),
        )
        .route(
            payseal_protocol::app_server::DELIVERIES_PATH,
            post(app_server::deliveries),
        )
        .route(
            payseal_protocol::app_server::CONSENT_PATH,
            post(app_server::consent),
        )
        .route(
            payseal_protocol::app_server::REFUND_HISTORY_PATH,
            get(app_server::refund_history),
        )
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz));
    if state.huawei.is_some() {
        router = router.route(
            crate::notifications::huawei::NOTIFY_PATH,
            post(store_notifications::huawei).layer(DefaultBodyLimit::max(max_body_bytes)),
        );
    }
    if state.rtdn.is_some() {
        router = router.route(
            crate::notifications::google_play::RTDN_PATH,
            post(store_notifications::google_play_rtdn)
                .layer(DefaultBodyLimit::max(max_body_bytes)),
        );
    }
    router
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

/// The separate metrics listener's routes: `/metrics` only.
fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics_text))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

/// Timeout, metrics and logs around every request.
async fn observe(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let start = Instant::now();
    let route = match request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str())
    {
        Some("/v1/verify") => "/v1/verify",
        Some(ENTITLEMENTS_PATH) => ENTITLEMENTS_PATH,
        Some("/v1/keys") => "/v1/keys",
        Some("/healthz") => "/healthz",
        Some("/readyz") => "/readyz",
        Some("/metrics") => "/metrics",
        Some(app_auth::IDENTITY_ROUTE) => app_auth::IDENTITY_ROUTE,
        Some(payseal_protocol::entitlements::APP_SERVER_ENTITLEMENTS_PATH) => {
            payseal_protocol::entitlements::APP_SERVER_ENTITLEMENTS_PATH
        }
        Some(payseal_protocol::app_server::DELIVERIES_PATH) => {
            payseal_protocol::app_server::DELIVERIES_PATH
        }
        Some(payseal_protocol::app_server::CONSENT_PATH) => {
            payseal_protocol::app_server::CONSENT_PATH
        }
        Some(payseal_protocol::app_server::REFUND_HISTORY_PATH) => {
            payseal_protocol::app_server::REFUND_HISTORY_PATH
        }
        Some(crate::notifications::app_store::ROUTE) => crate::notifications::app_store::ROUTE,
        Some(crate::notifications::google_play::RTDN_PATH) => {
            crate::notifications::google_play::RTDN_PATH
        }
        Some(crate::notifications::huawei::NOTIFY_PATH) => {
            crate::notifications::huawei::NOTIFY_PATH
        }
        _ => "other",
    };
    let response = match tokio::time::timeout(state.timeout, next.run(request)).await {
        Ok(r) => r,
        Err(_) => Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "Request timed out",
            "timeout",
        )
        .retry_after(1)
        .into_response(),
    };
    let elapsed = start.elapsed();
    let tag = response.extensions().get::<Tag>().copied().unwrap_or(Tag {
        outcome: "none",
        reason: "none",
    });
    let status = response.status().as_u16();
    state.metrics.observe(
        RequestLabels {
            route,
            status,
            outcome: tag.outcome,
            reason: tag.reason,
        },
        elapsed.as_secs_f64(),
    );
    let latency_us = elapsed.as_micros() as u64;
    if status >= 500 {
        tracing::warn!(
            route,
            status,
            outcome = tag.outcome,
            reason = tag.reason,
            latency_us,
            "request"
        );
    } else {
        tracing::info!(
            route,
            status,
            outcome = tag.outcome,
            reason = tag.reason,
            latency_us,
            "request"
        );
    }
    response
}

fn outcome_str(o: Outcome) -> &'static str {
    match o {
        Outcome::Paid => "paid",
        Outcome::NotPaid => "not_paid",
    }
}

fn has_content_type(headers: &HeaderMap, expected: &str) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(expected))
}

/// The sealed body of a `POST` of an envelope, or the problem answer to send instead.
async fn sealed_body(
    state: &AppState,
    request: Request,
    limit: usize,
) -> Result<axum::body::Bytes, Response> {
    let (parts, body) = request.into_parts();
    if !has_content_type(&parts.headers, REQUEST_CONTENT_TYPE) {
        body::discard_rest(body, state.timeout);
        return Err(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Unsupported media type",
            "content_type",
        )
        .detail("expected application/payseal-request")
        .into_response());
    }
    match body::read(body, limit).await {
        Ok(b) => Ok(b),
        Err(body::BodyError::TooLarge(rest)) => {
            body::discard_rest(rest, state.timeout);
            Err(Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Request too large",
                "too_large",
            )
            .into_response())
        }
        Err(body::BodyError::Broken) => {
            Err(Problem::new(StatusCode::BAD_REQUEST, "Bad request", "body").into_response())
        }
    }
}

/// A sealed answer (`200`, the PaySeal response type, never cached).
fn sealed_answer(sealed: Vec<u8>) -> Response {
    (
        StatusCode::OK,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(RESPONSE_CONTENT_TYPE),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        sealed,
    )
        .into_response()
}

/// The answer to a request that got no sealed answer.
fn service_problem(error: ServiceError) -> Response {
    match error {
        ServiceError::Envelope(_) => {
            Problem::new(StatusCode::BAD_REQUEST, "Bad request", "envelope").into_response()
        }
        ServiceError::BadRequest(what) => {
            tracing::debug!(what, "request refused");
            Problem::new(StatusCode::BAD_REQUEST, "Bad request", "request").into_response()
        }
        ServiceError::Ledger(e) => {
            tracing::error!(error = %e, "ledger unavailable");
            Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "Service unavailable",
                "ledger",
            )
            .detail("the redemption ledger is unavailable; retry later")
            .retry_after(1)
            .into_response()
        }
        ServiceError::StoreUnavailable {
            retry_after_s,
            detail,
        } => {
            tracing::warn!(error = %detail, "store check at verification: the store not asked; answered 503 (on_store_unavailable = \"retry\")");
            Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "Service unavailable",
                "store",
            )
            .detail("the store's server cannot confirm the purchase now; retry later")
            .retry_after(retry_after_s)
            .into_response()
        }
        e @ (ServiceError::Sign(_) | ServiceError::Seal(_) | ServiceError::Webhook(_)) => {
            tracing::error!(error = %e, "cannot answer");
            Problem::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal error",
                "internal",
            )
            .into_response()
        }
    }
}

async fn verify(State(state): State<AppState>, request: Request) -> Response {
    let body = match sealed_body(&state, request, state.max_body_bytes).await {
        Ok(b) => b,
        Err(problem) => return problem,
    };
    match state.verifier.verify(&body).await {
        Ok(decision) => {
            let mut response = sealed_answer(decision.sealed);
            response.extensions_mut().insert(Tag {
                outcome: outcome_str(decision.outcome),
                reason: decision.reason.map_or("none", Reason::as_str),
            });
            response
        }
        Err(e) => service_problem(e),
    }
}

/// `POST /v1/entitlements`: a sealed entitlements request (optionally a restore), answered
/// sealed.
async fn entitlements(State(state): State<AppState>, request: Request) -> Response {
    // A restore carries up to 50 receipts: 16 verify bodies' worth.
    let limit = state.max_body_bytes.saturating_mul(RESTORE_BODY_FACTOR);
    let body = match sealed_body(&state, request, limit).await {
        Ok(b) => b,
        Err(problem) => return problem,
    };
    match state.verifier.entitlements(&body).await {
        Ok(answer) => sealed_answer(answer.sealed),
        Err(e) => service_problem(e),
    }
}

async fn keys(State(state): State<AppState>) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=300"),
            ),
        ],
        state.keys_json.as_ref().clone(),
    )
        .into_response()
}

async fn healthz() -> Response {
    ([(header::CONTENT_TYPE, "text/plain")], "ok\n").into_response()
}

async fn readyz(State(state): State<AppState>) -> Response {
    match state.verifier.ledger().ready().await {
        Ok(()) => ([(header::CONTENT_TYPE, "text/plain")], "ready\n").into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "not ready");
            Problem::new(StatusCode::SERVICE_UNAVAILABLE, "Not ready", "ledger")
                .detail("the redemption ledger is unavailable")
                .retry_after(1)
                .into_response()
        }
    }
}

async fn metrics_text(State(state): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
        .into_response()
}

async fn not_found() -> Response {
    Problem::new(StatusCode::NOT_FOUND, "Not found", "not_found").into_response()
}
