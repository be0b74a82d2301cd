//! Graceful shutdown: an in-flight request finishes; new connections are refused.

mod common;

use std::time::Duration;

use common::{request, TestServer, APP};
use payseal_protocol::{Outcome, Redemption, Store};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_flight_request_finishes_after_shutdown_signal() {
    let mut server = TestServer::start().await;
    let receipt = server.state.issue(Store::GooglePlay);
    let req = request(APP, "alice", &receipt);
    let (body, ctx) = server.seal(&req);

    // Headers and half the body, then the shutdown signal, then the rest.
    let mut tls = common::tls_connect(&server).await.unwrap();
    let head = format!(
        "POST /v1/verify HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/payseal-request\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    tls.write_all(head.as_bytes()).await.unwrap();
    let half = body.len() / 2;
    tls.write_all(&body[..half]).await.unwrap();
    tls.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;

    server.trigger_shutdown();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The listener is closed: a new connection cannot complete a TLS handshake.
    let refused = tokio::time::timeout(Duration::from_secs(3), common::tls_connect(&server)).await;
    assert!(
        !matches!(refused, Ok(Ok(_))),
        "a new connection was accepted during shutdown"
    );

    tls.write_all(&body[half..]).await.unwrap();
    tls.flush().await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), tls.read_to_end(&mut raw))
        .await
        .expect("response within the grace")
        .unwrap_or_default();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP response");
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let claims = common::open_verdict(&server.verdicts, ctx, &raw[split + 4..]);
    assert_eq!(claims.outcome, Outcome::Paid);
    assert_eq!(claims.redemption, Some(Redemption::First));

    tokio::time::timeout(Duration::from_secs(10), server.join())
        .await
        .expect("server stops after draining")
        .unwrap();
}
