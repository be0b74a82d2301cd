//! Failure paths: a busy ledger answers 503 + Retry-After and records nothing; a stalled
//! request times out with 503.

mod common;

use std::time::Duration;

use common::{request, TestServer, APP};
use payseal_protocol::{Outcome, Redemption, Store};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ledger_unavailable_is_503_with_retry_after_and_the_retry_is_first() {
    let mut server = TestServer::start().await;
    let receipt = server.state.issue(Store::GooglePlay);

    // Another writer holds the database's write lock past the ledger's busy timeout.
    let blocker = rusqlite::Connection::open(&server.state.paths.ledger).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();

    let (body, _) = server.seal(&request(APP, "alice", &receipt));
    let response = server.post(body).await;
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "1");
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    // Ready-check reads still work under a write lock (WAL).
    let r = server
        .client
        .get(server.url("/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    blocker.execute_batch("ROLLBACK").unwrap();
    drop(blocker);
    assert_eq!(server.state.ledger().count().unwrap(), 0);
    let v = server.verify("alice", &receipt).await;
    assert_eq!(v.outcome, Outcome::Paid);
    assert_eq!(v.redemption, Some(Redemption::First));
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_request_times_out_with_503() {
    let mut server =
        TestServer::start_with(|s| s.limits.request_timeout = Duration::from_millis(400)).await;
    let mut tls = common::tls_connect(&server).await.unwrap();
    tls.write_all(
        b"POST /v1/verify HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/payseal-request\r\nContent-Length: 1000\r\n\r\nabc",
    )
    .await
    .unwrap();
    tls.flush().await.unwrap();
    let mut raw = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), tls.read_to_end(&mut raw)).await;
    let text = String::from_utf8_lossy(&raw);
    assert!(text.starts_with("HTTP/1.1 503"), "{text}");
    assert!(
        text.to_ascii_lowercase().contains("retry-after: 1"),
        "{text}"
    );
    assert_eq!(server.state.ledger().count().unwrap(), 0);
    server.stop().await.unwrap();
}
