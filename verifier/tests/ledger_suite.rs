//! The generic ledger suite (`tests/common/ledger_suite.rs`, and the store-notification cases of
//! `tests/common/notification_suite.rs`) on every backend:
//! - `sqlite::*`: a temp file; always runs.
//! - `postgres::*`: a fresh database on a REAL PostgreSQL server; built with the
//!   `postgres-tests` feature, and then failing loudly without `PAYSEAL_TEST_POSTGRES_URL`
//!   (`eval "$(scripts/postgres.sh start)"` provides it; `scripts/test.sh` does it all).
//!
//! Plus, always: a PostgreSQL ledger whose server is unreachable fails fast and the server
//! answers `503` + `Retry-After` and a not-ready `/readyz`, with no password in errors or logs.

mod common;

use std::io::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::ledger_suite::TestLedger;
use common::{request, StateDir, TestServer, APP};
use payseal_protocol::Store;
use payseal_verifier::ledger::postgres::PostgresLedger;
use payseal_verifier::ledger::{self, LedgerOptions};

async fn sqlite_ledger() -> TestLedger {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("ledger.db").display());
    TestLedger {
        ledger: ledger::connect(&url, &LedgerOptions::default())
            .await
            .unwrap(),
        _keep: Box::new(dir),
    }
}

mod sqlite {
    crate::ledger_suite!(super::sqlite_ledger);
    crate::notification_suite!(super::sqlite_ledger);
}

#[cfg(feature = "postgres-tests")]
async fn postgres_ledger() -> TestLedger {
    let (ledger, _url) = common::pg::fresh_dyn_ledger().await;
    TestLedger {
        ledger,
        _keep: Box::new(()),
    }
}

#[cfg(feature = "postgres-tests")]
mod postgres {
    crate::ledger_suite!(super::postgres_ledger);
    crate::notification_suite!(super::postgres_ledger);
}

/// Everything logged by this test binary (a global subscriber; only the test below reads it).
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_postgres_fails_fast_503_not_ready_and_never_shows_the_password() {
    let logs = Captured::default();
    let writer = logs.clone();
    tracing::subscriber::set_global_default(
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish(),
    )
    .unwrap();

    // A loopback port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("postgres://payseal:hunter2@127.0.0.1:{port}/payseal");
    let options = LedgerOptions {
        connect_timeout: Duration::from_secs(2),
        query_timeout: Duration::from_secs(2),
        ..LedgerOptions::default()
    };

    // Start-up (migrations) cannot reach it: an error, quickly, without the password.
    let started = Instant::now();
    let err = ledger::connect(&url, &options)
        .await
        .unwrap_err()
        .to_string();
    assert!(started.elapsed() < Duration::from_secs(10), "{err}");
    assert!(err.contains("PostgreSQL"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");

    // A server whose pool cannot connect: 503 + Retry-After, /readyz not ready.
    let pool_only: Arc<dyn ledger::Ledger> = Arc::new(PostgresLedger::new(&url, &options).unwrap());
    assert!(!format!("{pool_only:?}").contains("hunter2"));
    let err = pool_only.ready().await.unwrap_err().to_string();
    assert!(!err.contains("hunter2"), "{err}");
    let state = StateDir::new();
    let settings = state.settings();
    let mut server = TestServer::start_with_ledger(state, settings, pool_only).await;

    let ready = server
        .client
        .get(server.url("/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);
    assert_eq!(ready.headers()["retry-after"], "1");
    assert_eq!(ready.headers()["content-type"], "application/problem+json");

    let receipt = server.state.issue(Store::GooglePlay);
    let (body, _) = server.seal(&request(APP, "alice", &receipt));
    let response = server.post(body).await;
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "1");
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let problem: serde_json::Value = response.json().await.unwrap();
    assert_eq!(problem["status"], 503);
    assert!(
        problem["detail"].as_str().unwrap_or("").contains("ledger"),
        "{problem}"
    );
    server.stop().await.unwrap();

    let _ = std::io::stderr().flush();
    let text = String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned();
    assert!(
        text.contains("ledger unavailable"),
        "the 503 was logged: {text}"
    );
    assert!(!text.contains("hunter2"), "password in the logs: {text}");
}
