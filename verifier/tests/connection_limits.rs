//! Per-connection limits of the HTTPS server (`server::ConnectionLimits`), over real TLS on
//! 127.0.0.1: a slow-loris client that sends its request head byte by byte is closed after
//! the header-read timeout while good requests are still answered; connections over the cap
//! are closed and the server keeps serving.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::StateDir;
use payseal_verifier::server::{ConnectionLimits, Server};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::sync::oneshot;

type Tls = tokio_rustls::client::TlsStream<tokio::net::TcpStream>;

struct Running {
    state: StateDir,
    addr: SocketAddr,
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
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(server.run(async move {
        let _ = rx.await;
    }));
    Running {
        state,
        addr,
        stop: Some(tx),
    }
}

async fn connect(cert: &Path, addr: SocketAddr) -> std::io::Result<Tls> {
    let pem = std::fs::read(cert).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pemfile::certs(&mut pem.as_slice()) {
        roots.add(c.unwrap()).unwrap();
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    tokio_rustls::TlsConnector::from(Arc::new(config))
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_cap_are_closed_and_serving_goes_on() {
    let server = start(ConnectionLimits {
        header_read_timeout: Duration::from_secs(30),
        max_connections: 2,
    });
    let cert = server.state.paths.tls_cert.clone();
    let held_a = connect(&cert, server.addr).await.unwrap();
    let held_b = connect(&cert, server.addr).await.unwrap();
    // The third connection is closed before its handshake completes.
    let third = tokio::time::timeout(Duration::from_secs(5), connect(&cert, server.addr))
        .await
        .expect("third connection neither refused nor accepted");
    assert!(third.is_err(), "a third connection was served");
    drop(held_a);
    // The permit comes back once the server notices the close.
    let start = Instant::now();
    let status = loop {
        match healthz(&cert, server.addr).await {
            Ok(s) => break s,
            Err(_) if start.elapsed() < Duration::from_secs(5) => {
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            Err(e) => panic!("no connection after one closed: {e}"),
        }
    };
    assert_eq!(status, "HTTP/1.1 200 OK");
    drop(held_b);
}
