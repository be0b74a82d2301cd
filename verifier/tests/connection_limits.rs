//! Per-connection limits of the HTTPS server (`server::ConnectionLimits`), over real TLS on
//! loopback: a slow-loris client that sends its request head byte by byte is closed after the
//! header-read timeout while good requests are still answered; silent TCP connections are
//! closed after the handshake timeout, silent TLS and idle HTTP/1 keep-alive and HTTP/2
//! connections after the idle timeout; at the global cap the longest-idle connection is shed
//! for a new one and only busy connections make the server refuse; at the per-source cap a
//! source's own longest-idle connection is shed (a flood from one address does not lock out a
//! genuine SDK purchase from the same address) and only when all its connections are busy is
//! its excess refused (loopback included unless exempted); HTTP/2 advertises its stream
//! limit and refuses an oversized header list; the metrics count all of it.

mod common;

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::{Duration, Instant};

use common::StateDir;
use payseal_verifier::server::{ConnectionLimits, Server};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

type Tls = tokio_rustls::client::TlsStream<TcpStream>;

struct Running {
    state: StateDir,
    addr: SocketAddr,
    /// The private metrics listener.
    metrics: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

fn start(limits: ConnectionLimits) -> Running {
    let state = StateDir::new();
    let server = Server::bind(state.settings())
        .unwrap()
        .with_connection_limits(limits);
    let addr = server.local_addr();
    let metrics = server.metrics_addr().expect("a metrics listener");
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(server.run(async move {
        let _ = rx.await;
    }));
    Running {
        state,
        addr,
        metrics,
        stop: Some(tx),
    }
}

async fn connect(cert: &Path, addr: SocketAddr) -> std::io::Result<Tls> {
    connect_from(cert, addr, None, b"http/1.1").await
}

/// A TLS connection from `source` (a loopback address; any when `None`) offering `alpn`.
async fn connect_from(
    cert: &Path,
    addr: SocketAddr,
    source: Option<IpAddr>,
    alpn: &[u8],
) -> std::io::Result<Tls> {
    let config = common::tls_client_config(&std::fs::read(cert).unwrap(), alpn);
    let tcp = tcp_from(addr, source).await?;
    tokio_rustls::TlsConnector::from(config)
        .connect("localhost".try_into().unwrap(), tcp)
        .await
}

/// `GET /healthz` on a fresh connection; the status line.
async fn healthz(cert: &Path, addr: SocketAddr) -> std::io::Result<String> {
    let mut tls = connect(cert, addr).await?;
    tls.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await?;
    let mut out = Vec::new();
    tls.read_to_end(&mut out).await?;
    let text = String::from_utf8_lossy(&out);
    Ok(text.lines().next().unwrap_or_default().to_string())
}

/// Whether the server closed `tls` (EOF, reset or write failure) while we trickle `head`
/// one byte every `every`, never finishing it; gives up after `limit`.
async fn trickle_until_closed(
    tls: &mut Tls,
    head: &[u8],
    every: Duration,
    limit: Duration,
) -> Option<Duration> {
    let start = Instant::now();
    let mut i = 0;
    while start.elapsed() < limit {
        if tls.write_all(&head[i % head.len()..][..1]).await.is_err() || tls.flush().await.is_err()
        {
            return Some(start.elapsed());
        }
        i += 1;
        let mut buf = [0u8; 256];
        match tokio::time::timeout(every, tls.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Some(start.elapsed()),
            Ok(Ok(_)) => {} // a 408 or similar before closing: keep reading
            Err(_) => {}    // nothing yet
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_loris_clients_are_closed_after_the_header_timeout() {
    let server = start(ConnectionLimits {
        header_read_timeout: Duration::from_secs(1),
        max_connections: 256,
        ..ConnectionLimits::default()
    });
    let cert = server.state.paths.tls_cert.clone();
    assert_eq!(
        healthz(&cert, server.addr).await.unwrap(),
        "HTTP/1.1 200 OK"
    );
    let head = b"POST /v1/verify HTTP/1.1\r\nHost: localhost\r\nX-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let cert = cert.clone();
        let addr = server.addr;
        tasks.push(tokio::spawn(async move {
            let mut tls = connect(&cert, addr).await.unwrap();
            trickle_until_closed(
                &mut tls,
                head,
                Duration::from_millis(100),
                Duration::from_secs(8),
            )
            .await
        }));
    }
    // While they trickle, good requests are answered.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        healthz(&cert, server.addr).await.unwrap(),
        "HTTP/1.1 200 OK"
    );
    for t in tasks {
        let closed_after = t.await.unwrap().expect("slow client never closed");
        assert!(
            closed_after >= Duration::from_millis(900) && closed_after < Duration::from_secs(5),
            "closed after {closed_after:?}"
        );
    }
    assert_eq!(
        healthz(&cert, server.addr).await.unwrap(),
        "HTTP/1.1 200 OK"
    );
}

/// A TCP connection from `source` (any when `None`).
async fn tcp_from(addr: SocketAddr, source: Option<IpAddr>) -> std::io::Result<TcpStream> {
    match source {
        None => TcpStream::connect(addr).await,
        Some(ip) => {
            let socket = tokio::net::TcpSocket::new_v4()?;
            socket.bind(SocketAddr::new(ip, 0))?;
            socket.connect(addr).await
        }
    }
}

/// How long until the peer closes `stream` (EOF or error), reading and discarding; `None`
/// if still open after `limit`.
async fn closed_within<S: AsyncRead + Unpin>(stream: &mut S, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        let left = limit.checked_sub(start.elapsed())?;
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(start.elapsed()),
            Ok(Ok(_)) => {}
        }
    }
}

/// One value of the server's `/metrics` (`name` with its labels, as printed), read on its
/// private listener (so reading never takes a slot of the public connection table).
async fn metric(server: &Running, name: &str) -> f64 {
    let mut tcp = TcpStream::connect(server.metrics).await.unwrap();
    tcp.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut out = Vec::new();
    tcp.read_to_end(&mut out).await.unwrap();
    common::metric_value(&String::from_utf8_lossy(&out), name)
}

/// [`metric`] once it reaches `want` (the server counts a close just after making it); the
/// last value read if it does not within 3 s.
async fn metric_settles(server: &Running, name: &str, want: f64) -> f64 {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let v = metric(server, name).await;
        if v == want || Instant::now() > deadline {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The HTTP/2 client preface and an empty SETTINGS frame.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0";

fn short(limits: ConnectionLimits) -> ConnectionLimits {
    ConnectionLimits {
        handshake_timeout: Duration::from_millis(700),
        idle_timeout: Duration::from_millis(700),
        header_read_timeout: Duration::from_secs(5),
        ..limits
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_tcp_is_closed_after_the_handshake_timeout() {
    let server = start(short(ConnectionLimits::default()));
    let mut silent = Vec::new();
    for _ in 0..10 {
        silent.push(TcpStream::connect(server.addr).await.unwrap());
    }
    for tcp in &mut silent {
        let after = closed_within(tcp, Duration::from_secs(5))
            .await
            .expect("a silent TCP connection stayed open");
        assert!(after < Duration::from_secs(3), "closed after {after:?}");
    }
    let timed_out = metric_settles(
        &server,
        "payseal_connections_timed_out_total{phase=\"handshake\"}",
        10.0,
    )
    .await;
    assert_eq!(timed_out, 10.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_tls_idle_keep_alive_and_idle_http2_are_closed_after_the_idle_timeout() {
    let server = start(short(ConnectionLimits::default()));
    let cert = server.state.paths.tls_cert.clone();
    // Handshake done, then nothing.
    let mut silent = connect(&cert, server.addr).await.unwrap();
    // One request answered, then an idle keep-alive connection.
    let mut kept = connect(&cert, server.addr).await.unwrap();
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 512];
    let n = kept.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    // HTTP/2: the preface and SETTINGS, then nothing (the server's SETTINGS are read away).
    let mut h2 = connect_from(&cert, server.addr, None, b"h2").await.unwrap();
    assert_eq!(h2.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    h2.write_all(H2_PREFACE).await.unwrap();
    h2.flush().await.unwrap();
    for (name, stream) in [("silent TLS", &mut silent), ("keep-alive", &mut kept)] {
        let after = closed_within(stream, Duration::from_secs(5))
            .await
            .unwrap_or_else(|| panic!("{name} connection stayed open"));
        assert!(
            after < Duration::from_secs(3),
            "{name} closed after {after:?}"
        );
    }
    let after = closed_within(&mut h2, Duration::from_secs(5))
        .await
        .expect("idle HTTP/2 connection stayed open");
    assert!(
        after < Duration::from_secs(3),
        "HTTP/2 closed after {after:?}"
    );
    let idle = metric_settles(
        &server,
        "payseal_connections_timed_out_total{phase=\"idle\"}",
        3.0,
    )
    .await;
    assert_eq!(idle, 3.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_cap_the_longest_idle_is_shed_and_only_busy_connections_refuse() {
    let server = start(ConnectionLimits {
        max_connections: 3,
        idle_timeout: Duration::from_secs(30),
        ..ConnectionLimits::default()
    });
    let cert = server.state.paths.tls_cert.clone();
    // Two connections busy with a request whose body never comes (the request timeout is 10 s).
    let mut busy = Vec::new();
    for _ in 0..2 {
        let mut tls = connect(&cert, server.addr).await.unwrap();
        tls.write_all(
            b"POST /v1/verify HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/payseal-request\r\nContent-Length: 100\r\n\r\nab",
        )
        .await
        .unwrap();
        tls.flush().await.unwrap();
        busy.push(tls);
    }
    // One silent connection: it is shed for the next one, which is served.
    let mut idle = connect(&cert, server.addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        healthz(&cert, server.addr).await.unwrap(),
        "HTTP/1.1 200 OK"
    );
    let after = closed_within(&mut idle, Duration::from_secs(3))
        .await
        .expect("the idle connection was not shed");
    assert!(after < Duration::from_secs(2));
    // With a third busy connection every slot is busy: the next connection is refused.
    let mut third = connect(&cert, server.addr).await.unwrap();
    third
        .write_all(b"POST /v1/verify HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/payseal-request\r\nContent-Length: 100\r\n\r\nab")
        .await
        .unwrap();
    third.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let refused = tokio::time::timeout(Duration::from_secs(5), connect(&cert, server.addr))
        .await
        .expect("neither refused nor accepted");
    assert!(
        refused.is_err(),
        "a connection was served with every slot busy"
    );
    // The busy ones keep their connections (closed only when their request times out).
    for tls in &mut busy {
        assert!(closed_within(tls, Duration::from_millis(200))
            .await
            .is_none());
    }
    drop(busy);
    let start = Instant::now();
    let status = loop {
        match healthz(&cert, server.addr).await {
            Ok(s) => break s,
            Err(_) if start.elapsed() < Duration::from_secs(5) => {
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            Err(e) => panic!("no connection after busy ones closed: {e}"),
        }
    };
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(metric(&server, "payseal_connections_shed_total").await >= 1.0);
    assert!(
        metric(
            &server,
            "payseal_connections_refused_total{reason=\"capacity\"}"
        )
        .await
            >= 1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_per_source_cap_refuses_a_busy_sources_excess_loopback_included_unless_exempt() {
    let attacker: IpAddr = "127.0.0.2".parse().unwrap();
    let server = start(ConnectionLimits {
        max_connections_per_ip: 3,
        ..ConnectionLimits::default()
    });
    let cert = server.state.paths.tls_cert.clone();
    // Three connections, each busy with a request whose body never comes (an idle one would
    // be shed for the fourth: see the flood test below).
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut tls = connect_from(&cert, server.addr, Some(attacker), b"http/1.1")
            .await
            .unwrap();
        tls.write_all(
            b"POST /v1/verify HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/payseal-request\r\nContent-Length: 100\r\n\r\nab",
        )
        .await
        .unwrap();
        tls.flush().await.unwrap();
        held.push(tls);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let fourth = connect_from(&cert, server.addr, Some(attacker), b"http/1.1").await;
    assert!(
        fourth.is_err(),
        "a fourth connection from one source was served"
    );
    // Another source is served.
    assert_eq!(
        healthz(&cert, server.addr).await.unwrap(),
        "HTTP/1.1 200 OK"
    );
    assert_eq!(
        metric(
            &server,
            "payseal_connections_refused_total{reason=\"per_ip\"}"
        )
        .await,
        1.0
    );
    drop(held);

    let exempt = start(ConnectionLimits {
        max_connections_per_ip: 3,
        per_ip_exempt_loopback: true,
        ..ConnectionLimits::default()
    });
    let mut held = Vec::new();
    for _ in 0..5 {
        held.push(
            connect_from(
                &exempt.state.paths.tls_cert,
                exempt.addr,
                Some(attacker),
                b"http/1.1",
            )
            .await
            .expect("loopback is exempt"),
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_stream_and_header_limits_are_advertised_and_enforced() {
    let server = start(ConnectionLimits {
        http2_max_concurrent_streams: 5,
        http2_max_header_list_bytes: 4096,
        ..ConnectionLimits::default()
    });
    let cert = server.state.paths.tls_cert.clone();
    let tls = connect_from(&cert, server.addr, None, b"h2").await.unwrap();
    let (mut client, mut connection) = h2::client::handshake(tls).await.unwrap();
    let get = |headers: &[(&str, String)]| {
        let mut request = http::Request::get("https://localhost/healthz");
        for (k, v) in headers {
            request = request.header(*k, v.as_str());
        }
        request.body(()).unwrap()
    };
    let (response, _) = client.send_request(get(&[]), true).unwrap();
    let response = tokio::select! {
        r = response => r.unwrap(),
        _ = &mut connection => panic!("connection ended"),
    };
    assert_eq!(response.status(), 200);
    assert_eq!(connection.max_concurrent_send_streams(), 5);
    // A header list over 4096 bytes is refused, and the connection serves on.
    let (response, _) = client
        .send_request(get(&[("x-big", "a".repeat(6000))]), true)
        .unwrap();
    let refused = tokio::select! {
        r = response => r,
        _ = &mut connection => panic!("connection ended"),
    };
    match refused {
        Ok(r) => assert_eq!(r.status(), 431, "an oversized header list was served"),
        Err(e) => assert!(e.is_reset() || e.is_remote(), "{e}"),
    }
    let (response, _) = client.send_request(get(&[]), true).unwrap();
    let response = tokio::select! {
        r = response => r.unwrap(),
        _ = &mut connection => panic!("connection ended"),
    };
    assert_eq!(response.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_from_one_address_sheds_its_own_idle_connections_for_a_genuine_purchase() {
    // Carrier-grade NAT: the cheater and the genuine player share 127.0.0.1.
    const PER_SOURCE: usize = 64;
    let shared_ip: IpAddr = "127.0.0.1".parse().unwrap();
    let state = StateDir::new();
    let ca_pem = common::sdk::ca_signed_tls(&state);
    let settings = common::sdk::settings_on_free_port(&state);
    let profile = payseal_verifier::profile::build(&settings)
        .unwrap()
        .to_json();
    let server = Server::bind(settings)
        .unwrap()
        .with_connection_limits(ConnectionLimits {
            max_connections_per_ip: PER_SOURCE,
            per_ip_exempt_loopback: false,
            idle_timeout: Duration::from_secs(60),
            ..ConnectionLimits::default()
        });
    let addr = server.local_addr();
    let metrics = server.metrics_addr().expect("a metrics listener");
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(server.run(async move {
        let _ = rx.await;
    }));
    let running = Running {
        state,
        addr,
        metrics,
        stop: Some(tx),
    };
    let roots = ca_pem.clone().into_bytes();
    let config = common::tls_client_config(&roots, b"http/1.1");
    // The flood: silent TLS connections filling the per-source cap.
    let mut flood = Vec::new();
    for _ in 0..PER_SOURCE {
        let tcp = tcp_from(addr, Some(shared_ip)).await.unwrap();
        let tls = tokio_rustls::TlsConnector::from(config.clone())
            .connect("localhost".try_into().unwrap(), tcp)
            .await
            .expect("a flood connection under the cap was refused");
        flood.push(tls);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;

    // A genuine purchase through the real SDK from the same address.
    let mut options = payseal_sdk_core::default_options(common::APP.into());
    options.extra_roots_pem = vec![ca_pem];
    options.connect_timeout_ms = 1_000;
    options.request_timeout_ms = 1_000;
    options.deadline_ms = 1_000;
    options.max_attempts = 1;
    let sdk = payseal_sdk_core::PaySeal::new(profile, options).unwrap();
    let receipt = running.state.issue(payseal_protocol::Store::GooglePlay);
    let started = Instant::now();
    let verdict = sdk
        .verify(receipt, "player-behind-cgnat".into())
        .await
        .expect("the genuine purchase behind the flooded address failed");
    let took = started.elapsed();
    assert!(verdict.paid, "{verdict:?}");
    assert!(took < Duration::from_secs(1), "the purchase took {took:?}");

    // What made room were the flood's own connections: as many closed as were shed, none
    // refused.
    let mut closed = 0;
    for tls in &mut flood {
        if closed_within(tls, Duration::from_millis(20))
            .await
            .is_some()
        {
            closed += 1;
        }
    }
    assert!(closed >= 1, "no flood connection was shed");
    let shed = metric(&running, "payseal_connections_shed_total").await;
    assert_eq!(
        shed, closed as f64,
        "shed {shed}, flood connections closed {closed}"
    );
    assert_eq!(
        metric(
            &running,
            "payseal_connections_refused_total{reason=\"per_ip\"}"
        )
        .await,
        0.0
    );
}
