//! A real webhook receiver on 127.0.0.1 (axum) for the webhook and revocation tests: it checks
//! every request with the documented `verify_webhook`, deduplicates by event id, and can be told
//! to fail the first N deliveries with 500, or to hold requests (a closed gate) to show which
//! are in flight at the same time.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use payseal_verifier::webhook::signing::{EVENT_HEADER, ID_HEADER, SIGNATURE_HEADER};
use payseal_verifier::webhook::{verify_webhook, WebhookEvent, DEFAULT_TOLERANCE};

/// The secret the tests configure.
pub const SECRET: &str = "whsec_test_0123456789abcdef0123456789";

/// What the receiver saw.
#[derive(Default)]
pub struct Seen {
    /// Accepted events, first delivery of each id only (the receiver's dedup).
    pub events: Vec<WebhookEvent>,
    /// Deliveries per id (duplicates included).
    pub deliveries: HashMap<String, usize>,
    /// Requests refused by `verify_webhook`, with the error.
    pub rejected: Vec<String>,
    /// Requests answered 500 on purpose.
    pub failed_on_purpose: usize,
    /// Requests received in all (failed on purpose, rejected and accepted).
    pub requests: usize,
    /// Requests being handled right now, per `PaySeal-Webhook-Id` header.
    pub in_flight: HashMap<String, usize>,
    /// The most requests for one id ever in flight together (1: never concurrently).
    pub max_in_flight_per_id: usize,
}

/// Shared receiver state.
#[derive(Clone)]
pub struct Receiver {
    /// Deliveries still to fail with 500.
    pub fail_next: Arc<AtomicUsize>,
    /// What was seen.
    pub seen: Arc<Mutex<Seen>>,
    /// The gate: while `false`, requests wait (counted in `Seen::in_flight`). Open by default.
    pub open: Arc<tokio::sync::watch::Sender<bool>>,
    secret: Arc<Vec<u8>>,
}

/// A running receiver.
pub struct RunningReceiver {
    /// Its state.
    pub receiver: Receiver,
    /// Its address.
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for RunningReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn now() -> i64 {
    payseal_verifier::now_ms() / 1000
}

/// One request in flight for `id` (removed from `Seen::in_flight` when dropped, also when the
/// client goes away and the handler is cancelled).
struct InFlight(Arc<Mutex<Seen>>, String);

impl InFlight {
    fn enter(seen: &Arc<Mutex<Seen>>, id: &str) -> Self {
        let mut s = seen.lock().unwrap();
        s.requests += 1;
        let n = s.in_flight.entry(id.to_string()).or_insert(0);
        *n += 1;
        let n = *n;
        s.max_in_flight_per_id = s.max_in_flight_per_id.max(n);
        Self(seen.clone(), id.to_string())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut s = self.0.lock().unwrap();
        if let Some(n) = s.in_flight.get_mut(&self.1) {
            *n -= 1;
            if *n == 0 {
                s.in_flight.remove(&self.1);
            }
        }
    }
}

async fn handle(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let id = headers
        .get(ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let _in_flight = InFlight::enter(&r.seen, id);
    let _ = r.open.subscribe().wait_for(|open| *open).await;
    if r.fail_next
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        r.seen.lock().unwrap().failed_on_purpose += 1;
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    let header = headers
        .get(SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    match verify_webhook(&r.secret, header, &body, now(), DEFAULT_TOLERANCE) {
        Err(e) => {
            r.seen.lock().unwrap().rejected.push(e.to_string());
            StatusCode::BAD_REQUEST
        }
        Ok(event) => {
            let header_id = headers.get(ID_HEADER).and_then(|v| v.to_str().ok());
            let header_type = headers.get(EVENT_HEADER).and_then(|v| v.to_str().ok());
            let mut seen = r.seen.lock().unwrap();
            if header_id != Some(event.id.as_str())
                || header_type != Some(event.event_type.as_str())
            {
                seen.rejected
                    .push("id/type headers differ from the body".into());
                return StatusCode::BAD_REQUEST;
            }
            let n = seen.deliveries.entry(event.id.clone()).or_insert(0);
            *n += 1;
            if *n == 1 {
                seen.events.push(event);
            }
            StatusCode::OK
        }
    }
}

impl RunningReceiver {
    /// Start on 127.0.0.1:0.
    pub async fn start(fail_first: usize) -> Self {
        Self::start_on("127.0.0.1:0".parse().unwrap(), fail_first).await
    }

    /// Start on `addr`.
    pub async fn start_on(addr: SocketAddr, fail_first: usize) -> Self {
        let receiver = Receiver {
            fail_next: Arc::new(AtomicUsize::new(fail_first)),
            seen: Arc::default(),
            open: Arc::new(tokio::sync::watch::channel(true).0),
            secret: Arc::new(SECRET.as_bytes().to_vec()),
        };
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new()
            .route("/hooks/payseal", post(handle))
            .with_state(receiver.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            receiver,
            addr,
            task,
        }
    }

    /// The webhook URL.
    pub fn url(&self) -> String {
        format!("http://{}/hooks/payseal", self.addr)
    }

    /// Hold every request from now on (`open_gate` lets them through).
    pub fn close_gate(&self) {
        self.receiver.open.send_replace(false);
    }

    /// Let held and later requests through.
    pub fn open_gate(&self) {
        self.receiver.open.send_replace(true);
    }

    /// Accepted events (deduplicated).
    pub fn events(&self) -> Vec<WebhookEvent> {
        self.receiver.seen.lock().unwrap().events.clone()
    }

    /// Wait until `pred` holds over the accepted events (panics after `limit`).
    pub async fn wait_for(&self, limit: Duration, what: &str, pred: impl Fn(&Seen) -> bool) {
        let deadline = Instant::now() + limit;
        loop {
            if pred(&self.receiver.seen.lock().unwrap()) {
                return;
            }
            if Instant::now() > deadline {
                let seen = self.receiver.seen.lock().unwrap();
                let message = format!(
                    "{what}: not reached in {limit:?}; accepted {} ids, deliveries {:?}, \
                     rejected {:?}, failed on purpose {}, in flight {:?}",
                    seen.events.len(),
                    seen.deliveries,
                    seen.rejected,
                    seen.failed_on_purpose,
                    seen.in_flight
                );
                drop(seen);
                panic!("{message}");
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

/// Append a webhook for the dev app (URL, a secret file in `dir`) and fast retry timing to the
/// configuration file at `config`.
pub fn configure(config: &Path, url: &str) {
    let dir = config.parent().unwrap();
    let secret = dir.join("webhook-secret.txt");
    std::fs::write(&secret, format!("{SECRET}\n")).unwrap();
    let mut text = std::fs::read_to_string(config).unwrap();
    text.push_str(&format!(
        "\n[apps.\"{}\".webhook]\nurl = \"{url}\"\nsecret_file = \"{}\"\ngive_up_after_hours = 72\n\n\
         [webhooks]\npoll_interval_ms = 50\nretry_base_ms = 50\nretry_max_ms = 200\ntimeout_ms = 2000\n",
        payseal_verifier::dev::DEV_APP_ID,
        secret.display()
    ));
    std::fs::write(config, text).unwrap();
}
