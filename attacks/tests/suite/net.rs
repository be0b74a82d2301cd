//! Network pieces of the attacks: a fake verifier behind a TCP tap that records every byte
//! the client sends, and raw TLS connections for slow-loris clients. 127.0.0.1 only.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

/// What a fake verifier saw.
#[derive(Default)]
pub struct Seen {
    /// TCP connections accepted by the tap.
    pub connections: AtomicUsize,
    /// TLS handshakes the fake verifier completed.
    pub handshakes: AtomicUsize,
    /// Decrypted application bytes it read (a request would be here).
    pub plaintext_bytes: AtomicUsize,
    /// Every byte the client sent, at the TCP level.
    pub client_bytes: Mutex<Vec<u8>>,
}

impl Seen {
    /// TLS records the client sent: (content type, payload length).
    pub fn client_records(&self) -> Vec<(u8, usize)> {
        let bytes = self.client_bytes.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = Vec::new();
        let mut i = 0;
        while i + 5 <= bytes.len() {
            let len = usize::from(u16::from_be_bytes([bytes[i + 3], bytes[i + 4]]));
            out.push((bytes[i], len));
            i += 5 + len;
        }
        out
    }
}

/// A TLS server presenting `cert_pem`/`key_pem` that never answers HTTP, behind a TCP tap.
/// Returns the tap's address.
pub async fn fake_verifier(cert_pem: &str, key_pem: &str) -> (SocketAddr, Arc<Seen>) {
    let certs = rustls_pemfile::certs(&mut cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .expect("certs");
    let key = rustls_pemfile::private_key(&mut key_pem.as_bytes())
        .expect("key")
        .expect("key block");
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let inner = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let inner_addr = inner.local_addr().expect("addr");
    let seen = Arc::new(Seen::default());
    let s = seen.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = inner.accept().await {
            let acceptor = acceptor.clone();
            let s = s.clone();
            tokio::spawn(async move {
                if let Ok(mut tls) = acceptor.accept(tcp).await {
                    s.handshakes.fetch_add(1, Ordering::SeqCst);
                    let mut buf = [0u8; 4096];
                    while let Ok(n) = tls.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                        s.plaintext_bytes.fetch_add(n, Ordering::SeqCst);
                    }
                }
            });
        }
    });
    let tap = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let tap_addr = tap.local_addr().expect("addr");
    let s = seen.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = tap.accept().await {
            s.connections.fetch_add(1, Ordering::SeqCst);
            let s = s.clone();
            tokio::spawn(async move {
                let Ok(server) = TcpStream::connect(inner_addr).await else {
                    return;
                };
                let (mut cr, mut cw) = client.into_split();
                let (mut sr, mut sw) = server.into_split();
                let up = async {
                    let mut buf = [0u8; 4096];
                    while let Ok(n) = cr.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                        s.client_bytes
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .extend_from_slice(&buf[..n]);
                        if sw.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                    let _ = sw.shutdown().await;
                };
                let down = async {
                    let _ = tokio::io::copy(&mut sr, &mut cw).await;
                    let _ = cw.shutdown().await;
                };
                tokio::join!(up, down);
            });
        }
    });
    (tap_addr, seen)
}

/// A raw TLS client connection (HTTP/1.1 by ALPN) trusting `ca_pem`.
pub async fn tls_connect(
    ca_pem: &str,
    addr: SocketAddr,
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pemfile::certs(&mut ca_pem.as_bytes()) {
        roots.add(c?).map_err(std::io::Error::other)?;
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(std::io::Error::other)?
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let tcp = TcpStream::connect(addr).await?;
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect("localhost".try_into().map_err(std::io::Error::other)?, tcp)
        .await
}

/// A slow-loris client: open a TLS connection and send a request head one byte every
/// `every`, never finishing it. Returns how long until the server closed it, or `None` if
/// it was still open after `limit`.
pub async fn slow_loris(
    ca_pem: String,
    addr: SocketAddr,
    every: Duration,
    limit: Duration,
) -> std::io::Result<Option<Duration>> {
    let mut tls = tls_connect(&ca_pem, addr).await?;
    let start = Instant::now();
    let head: &[u8] = b"POST /v1/verify HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/payseal-request\r\nX-Slow: ";
    let mut i = 0usize;
    while start.elapsed() < limit {
        let byte = head.get(i).copied().unwrap_or(b'a');
        if tls.write_all(&[byte]).await.is_err() || tls.flush().await.is_err() {
            return Ok(Some(start.elapsed()));
        }
        i += 1;
        let mut buf = [0u8; 512];
        match tokio::time::timeout(every, tls.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Ok(Some(start.elapsed())),
            Ok(Ok(_)) | Err(_) => {}
        }
    }
    Ok(None)
}

/// POST a `declared`-byte body of which `sent` bytes are written, then read the status line.
pub async fn oversized_post(
    ca_pem: &str,
    addr: SocketAddr,
    declared: usize,
    sent: usize,
) -> std::io::Result<String> {
    let mut tls = tls_connect(ca_pem, addr).await?;
    let head = format!(
        "POST /v1/verify HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/payseal-request\r\nContent-Length: {declared}\r\n\r\n"
    );
    tls.write_all(head.as_bytes()).await?;
    // The server may answer and close before everything is written: that is fine.
    let _ = tls.write_all(&vec![0x42; sent]).await;
    let _ = tls.flush().await;
    let mut out = Vec::new();
    let mut buf = [0u8; 1024];
    let read = async {
        while !out.windows(2).any(|w| w == b"\r\n") {
            match tls.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(15), read)
        .await
        .map_err(|_| std::io::Error::other("no answer within 15 s"))?;
    let text = String::from_utf8_lossy(&out);
    Ok(text.lines().next().unwrap_or_default().to_string())
}

/// Whether `needle` occurs in `haystack`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}
