//! Load and abuse, bounded and on loopback only: while attackers on other loopback sources hold
//! hundreds of silent TCP and TLS connections, idle HTTP/2 connections, HTTP/2 slow-loris
//! connections (a frame trickled byte by byte) and HTTP/2 streams whose bodies trickle, genuine
//! purchases through the real SDK (`payseal-sdk-core`: pinned TLS, sealed request, checked
//! verdict) all come back paid. The latency percentiles of the genuine purchases are printed,
//! never asserted (timing goals live in benchmarks). The counters prove the defences worked:
//! connections were shed and timed out, and the table never grew past its cap. (Refusals by
//! the per-source cap are printed: whether they happen depends on the race between the
//! sources filling up and shedding, which targets the biggest source; `connection_limits.rs`
//! tests that cap deterministically.)

mod common;

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::sdk::{ca_signed_tls, settings_on_free_port};
use common::{StateDir, APP};
use payseal_protocol::Store;
use payseal_sdk_core::ffi::Redemption;
use payseal_sdk_core::{default_options, PaySeal};
use payseal_verifier::server::{ConnectionLimits, Server};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

type Tls = tokio_rustls::client::TlsStream<TcpStream>;

/// How long the attack runs.
const ATTACK: Duration = Duration::from_secs(4);
/// The server's connection cap: the attack holds more than this.
const MAX_CONNECTIONS: usize = 300;
/// The per-source cap.
const PER_SOURCE: usize = 120;
/// Genuine buyers purchasing at once, through one SDK instance.
const BUYERS: usize = 4;

const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0";
/// A HEADERS frame header (stream 1, END_HEADERS) announcing 1000 bytes that never all come.
const H2_HEADERS_1000: &[u8] = b"\0\x03\xe8\x01\x04\0\0\0\x01";

#[derive(Clone)]
struct Target {
    addr: SocketAddr,
    ca_pem: Arc<Vec<u8>>,
    stop: Arc<AtomicBool>,
    /// Attack connections opened (TCP accepted by the kernel).
    opened: Arc<AtomicU64>,
}

impl Target {
    fn running(&self) -> bool {
        !self.stop.load(Ordering::Relaxed)
    }

    async fn tcp(&self, source: IpAddr) -> std::io::Result<TcpStream> {
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.bind(SocketAddr::new(source, 0))?;
        let tcp = socket.connect(self.addr).await?;
        self.opened.fetch_add(1, Ordering::Relaxed);
        Ok(tcp)
    }

    async fn tls(&self, source: IpAddr, alpn: &[u8]) -> std::io::Result<Tls> {
        let config = common::tls_client_config(&self.ca_pem, alpn);
        let tcp = self.tcp(source).await?;
        tokio_rustls::TlsConnector::from(config)
            .connect("localhost".try_into().unwrap(), tcp)
            .await
    }
}

/// Wait until the server closes `stream` or the attack ends, reading and discarding.
async fn until_closed<S: tokio::io::AsyncRead + Unpin>(target: &Target, stream: &mut S) {
    let mut buf = [0u8; 1024];
    while target.running() {
        match tokio::time::timeout(Duration::from_millis(500), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return,
            _ => {}
        }
    }
}

/// One attacker slot: run `attempt` again and again until the attack ends, pausing a little
/// between attempts (bounded load).
async fn slot<F, Fut>(target: Target, attempt: F)
where
    F: Fn(Target) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    while target.running() {
        attempt(target.clone()).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn silent_tcp(target: Target, source: IpAddr) {
    if let Ok(mut tcp) = target.tcp(source).await {
        until_closed(&target, &mut tcp).await;
    }
}

async fn silent_tls(target: Target, source: IpAddr) {
    if let Ok(mut tls) = target.tls(source, b"http/1.1").await {
        until_closed(&target, &mut tls).await;
    }
}

async fn idle_h2(target: Target, source: IpAddr) {
    if let Ok(mut tls) = target.tls(source, b"h2").await {
        if tls.write_all(H2_PREFACE).await.is_ok() {
            until_closed(&target, &mut tls).await;
        }
    }
}

/// HTTP/2 slow-loris: a HEADERS frame sent one byte every 100 ms.
async fn h2_slow_loris(target: Target, source: IpAddr) {
    let Ok(mut tls) = target.tls(source, b"h2").await else {
        return;
    };
    if tls.write_all(H2_PREFACE).await.is_err() || tls.write_all(H2_HEADERS_1000).await.is_err() {
        return;
    }
    let mut buf = [0u8; 1024];
    while target.running() {
        if tls.write_all(b"a").await.is_err() || tls.flush().await.is_err() {
            return;
        }
        if let Ok(Ok(0) | Err(_)) =
            tokio::time::timeout(Duration::from_millis(100), tls.read(&mut buf)).await
        {
            return;
        }
    }
}

/// HTTP/2 streams whose declared 1000-byte bodies trickle one byte every 200 ms (each is
/// answered 503 when the request timeout hits), as many at once as the server allows.
async fn h2_slow_bodies(target: Target, source: IpAddr) {
    let Ok(tls) = target.tls(source, b"h2").await else {
        return;
    };
    let Ok((client, connection)) = h2::client::handshake(tls).await else {
        return;
    };
    let driver = tokio::spawn(connection);
    let mut streams = Vec::new();
    for _ in 0..8 {
        let client = client.clone();
        let target = target.clone();
        streams.push(tokio::spawn(async move {
            let Ok(mut client) = client.ready().await else {
                return;
            };
            let request = http::Request::post("https://localhost/v1/verify")
                .header("content-type", "application/payseal-request")
                .header("content-length", "1000")
                .body(())
                .unwrap();
            let Ok((response, mut body)) = client.send_request(request, false) else {
                return;
            };
            let trickle = async {
                while target.running() {
                    if body
                        .send_data(bytes::Bytes::from_static(b"a"), false)
                        .is_err()
                    {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            };
            tokio::select! {
                _ = response => {}
                () = trickle => {}
            }
        }));
    }
    for s in streams {
        let _ = s.await;
    }
    driver.abort();
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn genuine_sdk_purchases_succeed_during_a_connection_flood() {
    let state = StateDir::new();
    let ca_pem = ca_signed_tls(&state);
    let mut settings = settings_on_free_port(&state);
    settings.limits.request_timeout = Duration::from_secs(2);
    let profile = payseal_verifier::profile::build(&settings)
        .unwrap()
        .to_json();
    let ledger = payseal_verifier::ledger::connect(&settings.ledger_url, &settings.ledger)
        .await
        .unwrap();
    let server = Server::bind_with_ledger(settings, ledger)
        .unwrap()
        .with_connection_limits(ConnectionLimits {
            handshake_timeout: Duration::from_millis(1500),
            idle_timeout: Duration::from_millis(1500),
            header_read_timeout: Duration::from_secs(2),
            max_connections: MAX_CONNECTIONS,
            max_connections_per_ip: PER_SOURCE,
            per_ip_exempt_loopback: false,
            http2_max_concurrent_streams: 8,
            ..ConnectionLimits::default()
        });
    let addr = server.local_addr();
    let metrics_addr = server.metrics_addr().expect("a metrics listener");
    let (stop_server, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server.run(async move {
        let _ = stopped.await;
    }));

    let mut options = default_options(APP.into());
    options.extra_roots_pem = vec![ca_pem.clone()];
    options.connect_timeout_ms = 3_000;
    options.request_timeout_ms = 5_000;
    options.deadline_ms = 10_000;
    options.max_attempts = 3;
    options.base_backoff_ms = 20;
    let sdk = PaySeal::new(profile, options).unwrap();
    // The same purchases with no attack, for reference.
    let mut unloaded = Vec::new();
    for i in 0..5 {
        let t = Instant::now();
        let v = sdk
            .verify(state.issue(Store::GooglePlay), format!("calm-{i}"))
            .await
            .unwrap();
        assert!(v.paid);
        unloaded.push(t.elapsed());
    }
    unloaded.sort();

    let target = Target {
        addr,
        ca_pem: Arc::new(ca_pem.clone().into_bytes()),
        stop: Arc::new(AtomicBool::new(false)),
        opened: Arc::new(AtomicU64::new(0)),
    };
    let ip = |last: u8| IpAddr::from([127, 0, 0, last]);
    let mut attackers = Vec::new();
    // 2 sources x 150 silent TLS slots (over the per-source cap of 120), 100 silent TCP,
    // 60 idle HTTP/2, 20 HTTP/2 slow-loris, 10 HTTP/2 connections of trickling streams:
    // 490 slots against a cap of 300.
    for (source, slots, kind) in [
        (ip(2), 150, "silent_tls"),
        (ip(3), 150, "silent_tls"),
        (ip(4), 100, "silent_tcp"),
        (ip(5), 60, "idle_h2"),
        (ip(6), 20, "h2_slow_loris"),
        (ip(7), 10, "h2_slow_bodies"),
    ] {
        for _ in 0..slots {
            let target = target.clone();
            attackers.push(tokio::spawn(async move {
                match kind {
                    "silent_tls" => slot(target, |t| silent_tls(t, source)).await,
                    "silent_tcp" => slot(target, |t| silent_tcp(t, source)).await,
                    "idle_h2" => slot(target, |t| idle_h2(t, source)).await,
                    "h2_slow_loris" => slot(target, |t| h2_slow_loris(t, source)).await,
                    _ => slot(target, |t| h2_slow_bodies(t, source)).await,
                }
            }));
        }
    }
    // Let the flood build up before the first purchase.
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Genuine buyers, each buying one purchase after another while the attack lasts.
    let state = Arc::new(state);
    let started = Instant::now();
    let mut buyers = Vec::new();
    for buyer in 0..BUYERS {
        let (sdk, state) = (Arc::clone(&sdk), Arc::clone(&state));
        buyers.push(tokio::spawn(async move {
            let (mut latencies, mut failures) = (Vec::new(), Vec::new());
            while started.elapsed() < ATTACK {
                let receipt = state.issue(Store::GooglePlay);
                let account = format!("player-{buyer}-{}", latencies.len() + failures.len());
                let t = Instant::now();
                match sdk.verify(receipt, account.clone()).await {
                    Ok(v) if v.paid && v.redemption == Some(Redemption::First) => {
                        latencies.push(t.elapsed())
                    }
                    Ok(v) => failures.push(format!("{account}: not paid first: {v:?}")),
                    Err(e) => failures.push(format!("{account}: {e}")),
                }
            }
            (latencies, failures)
        }));
    }
    let (mut latencies, mut failures) = (Vec::new(), Vec::new());
    for b in buyers {
        let (l, f) = b.await.unwrap();
        latencies.extend(l);
        failures.extend(f);
    }

    // The attack's effect, read while it still runs.
    let http = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&target.ca_pem).unwrap())
        .build()
        .unwrap();
    let metrics = http
        .get(format!("http://{metrics_addr}/metrics"))
        .send()
        .await
        .expect("/metrics during the flood")
        .text()
        .await
        .unwrap();
    target.stop.store(true, Ordering::Relaxed);
    for a in attackers {
        a.await.unwrap();
    }

    latencies.sort();
    let n = latencies.len();
    assert!(n > 0, "no genuine purchase succeeded: {failures:?}");
    println!(
        "genuine SDK purchases without attack: p50 {:?}, max {:?}",
        percentile(&unloaded, 0.5),
        unloaded[unloaded.len() - 1]
    );
    println!(
        "genuine SDK purchases during the flood ({BUYERS} buyers): {n} paid, {} failed; latency p50 {:?}, p90 {:?}, p99 {:?}, max {:?}; attack connections opened: {}",
        failures.len(),
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.90),
        percentile(&latencies, 0.99),
        latencies[n - 1],
        target.opened.load(Ordering::Relaxed),
    );
    let shed = common::metric_value(&metrics, "payseal_connections_shed_total");
    let handshake = common::metric_value(
        &metrics,
        "payseal_connections_timed_out_total{phase=\"handshake\"}",
    );
    let idle = common::metric_value(
        &metrics,
        "payseal_connections_timed_out_total{phase=\"idle\"}",
    );
    let per_ip = common::metric_value(
        &metrics,
        "payseal_connections_refused_total{reason=\"per_ip\"}",
    );
    let open = common::metric_value(&metrics, "payseal_connections_open");
    println!(
        "server: shed {shed}, timed out (handshake {handshake}, idle {idle}), refused per source {per_ip}, open at the end {open}"
    );
    assert!(
        failures.is_empty(),
        "genuine purchases failed: {failures:?}"
    );
    assert!(shed > 0.0, "the cap was never reached: no connection shed");
    assert!(handshake > 0.0 && idle > 0.0, "no timeout fired");
    assert!(open <= MAX_CONNECTIONS as f64, "{open} open over the cap");

    let _ = stop_server.send(());
    tokio::time::timeout(Duration::from_secs(30), task)
        .await
        .expect("server stops after the attack")
        .unwrap()
        .unwrap();
}
