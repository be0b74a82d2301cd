//! The accept loop: TCP accept, admission by the connection table, TLS handshake under a
//! timeout, then hyper (HTTP/1.1 or HTTP/2) with the idle timeout, shedding and graceful
//! shutdown applied to each connection.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::Request;
use axum::response::Response;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt as _;

use super::limits;
use super::metrics::Metrics;
use super::table::{Activity, Admitted, Table};
use crate::settings::ConnectionLimits;
use crate::tls::ReloadableTls;

/// Pause after an accept error (file descriptors exhausted and the like) before the next try.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(20);

/// What every connection task shares.
pub(crate) struct Shared {
    pub(crate) router: Router,
    pub(crate) tls: Arc<ReloadableTls>,
    pub(crate) limits: ConnectionLimits,
    pub(crate) builder: Builder<TokioExecutor>,
    pub(crate) metrics: Arc<Metrics>,
    /// Cancelled when the server stops accepting: connections finish their requests and close.
    pub(crate) draining: CancellationToken,
    /// Cancelled when the shutdown grace is over: connections close at once.
    pub(crate) stop_now: CancellationToken,
}

impl Shared {
    /// The shared state of connections served with `limits`.
    pub(crate) fn new(
        router: Router,
        tls: Arc<ReloadableTls>,
        limits: ConnectionLimits,
        metrics: Arc<Metrics>,
    ) -> Arc<Self> {
        Arc::new(Self {
            router,
            tls,
            builder: limits::http_builder(&limits),
            limits,
            metrics,
            draining: CancellationToken::new(),
            stop_now: CancellationToken::new(),
        })
    }
}

/// Accept connections until `shutdown` resolves, then drain them within `grace`.
pub(crate) async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    grace: Duration,
    shutdown: impl Future<Output = ()>,
) {
    let table = Table::new(shared.limits);
    let tracker = TaskTracker::new();
    let mut accept_errors = ErrorLog::default();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => match table.admit(peer.ip()) {
                    Ok(admitted) => {
                        if admitted.shed_another {
                            shared.metrics.connection_shed();
                        }
                        shared.metrics.connection_opened(table.len());
                        let _ = tcp.set_nodelay(true);
                        tracker.spawn(connection(tcp, peer, admitted, Arc::clone(&table), Arc::clone(&shared)));
                    }
                    Err(refused) => {
                        tracing::debug!(%peer, reason = refused.as_str(), "connection refused");
                        shared.metrics.connection_refused(refused.as_str());
                    }
                },
                Err(e) => {
                    // EMFILE/ENFILE/ENOMEM or a connection reset before accept: never fatal.
                    // Make room by shedding an idle connection, then try again shortly.
                    accept_errors.warn(&e);
                    if table.shed_one() {
                        shared.metrics.connection_shed();
                        shared.metrics.set_connections_open(table.len());
                    }
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                }
            },
            () = &mut shutdown => break,
        }
    }
    // Stop accepting: new connections are refused from here on.
    drop(listener);
    tracing::info!(
        grace_ms = grace.as_millis() as u64,
        open = table.len(),
        "shutting down: draining in-flight requests"
    );
    shared.draining.cancel();
    tracker.close();
    if tokio::time::timeout(grace, tracker.wait()).await.is_err() {
        tracing::warn!(
            open = table.len(),
            "shutdown grace over: closing connections"
        );
        shared.stop_now.cancel();
        tracker.wait().await;
    }
}

/// Accept errors logged at most once a second (with the count since the last line), so a
/// descriptor shortage under a flood does not flood the log too.
#[derive(Default)]
struct ErrorLog {
    last: Option<Instant>,
    suppressed: u64,
}

impl ErrorLog {
    fn warn(&mut self, e: &std::io::Error) {
        let now = Instant::now();
        if self
            .last
            .is_some_and(|t| now.duration_since(t) < Duration::from_secs(1))
        {
            self.suppressed += 1;
            return;
        }
        tracing::warn!(error = %e, more = self.suppressed, "accept failed; shedding an idle connection");
        self.last = Some(now);
        self.suppressed = 0;
    }
}

/// How a connection ended, for the metrics.
enum End {
    Closed,
    Shed,
    TimedOut(&'static str),
}

async fn connection(
    tcp: TcpStream,
    peer: SocketAddr,
    admitted: Admitted,
    table: Arc<Table>,
    shared: Arc<Shared>,
) {
    let end = serve_connection(tcp, peer, &admitted, &shared).await;
    match end {
        End::Closed => {}
        End::Shed => tracing::debug!(%peer, "idle connection shed for a new one"),
        End::TimedOut(phase) => {
            tracing::debug!(%peer, phase, "connection timed out");
            shared.metrics.connection_timed_out(phase);
        }
    }
    drop(admitted);
    shared.metrics.set_connections_open(table.len());
}

async fn serve_connection(
    tcp: TcpStream,
    peer: SocketAddr,
    admitted: &Admitted,
    shared: &Shared,
) -> End {
    let acceptor = shared.tls.acceptor();
    let handshake = tokio::time::timeout(shared.limits.handshake_timeout, acceptor.accept(tcp));
    let tls = tokio::select! {
        done = handshake => match done {
            Ok(Ok(tls)) => tls,
            Ok(Err(e)) => {
                tracing::debug!(%peer, error = %e, "TLS handshake failed");
                return End::Closed;
            }
            Err(_) => return End::TimedOut("handshake"),
        },
        () = admitted.shed.notified() => return End::Shed,
        () = shared.draining.cancelled() => return End::Closed,
    };
    let service = ConnService {
        router: shared.router.clone(),
        activity: Arc::clone(&admitted.activity),
    };
    let conn = shared
        .builder
        .serve_connection_with_upgrades(TokioIo::new(tls), service);
    tokio::pin!(conn);
    let idle = shared.limits.idle_timeout;
    let mut draining = false;
    loop {
        let deadline = admitted.activity.idle_deadline(idle, Instant::now());
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(%peer, error = %e, "connection error");
                }
                return End::Closed;
            }
            () = admitted.shed.notified() => return End::Shed,
            () = tokio::time::sleep_until(deadline.into()) => {
                if admitted.activity.is_idle()
                    && admitted.activity.idle_since() + idle <= Instant::now()
                {
                    return End::TimedOut("idle");
                }
            }
            () = shared.draining.cancelled(), if !draining => {
                // Finish the requests in progress (and write their responses), then close:
                // HTTP/1 at once when idle, HTTP/2 with GOAWAY. The idle timeout still applies.
                conn.as_mut().graceful_shutdown();
                draining = true;
            }
            () = shared.stop_now.cancelled() => return End::Closed,
        }
    }
}

/// The router as a hyper service that marks its connection busy while a request runs.
#[derive(Clone)]
struct ConnService {
    router: Router,
    activity: Arc<Activity>,
}

impl hyper::service::Service<Request<Incoming>> for ConnService {
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        let busy = self.activity.begin();
        let router = self.router.clone();
        Box::pin(async move {
            let response = router.oneshot(request.map(axum::body::Body::new)).await;
            drop(busy);
            response
        })
    }
}
