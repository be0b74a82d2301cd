//! The real PostgreSQL server the PostgreSQL tests run against (never a mock).
//!
//! `scripts/postgres.sh start` starts one from Debian's package on a free loopback port and
//! exports `PAYSEAL_TEST_POSTGRES_URL`. These tests are built only with the `postgres-tests`
//! feature, and then they FAIL when the variable is missing: asking for it and skipping would
//! pass without testing anything.

use std::sync::Arc;
use std::time::Duration;

use payseal_ledger::{Ledger, LedgerOptions, PostgresLedger};

/// The server's URL (superuser, trust authentication on 127.0.0.1).
pub const URL_VAR: &str = "PAYSEAL_TEST_POSTGRES_URL";

/// `PAYSEAL_TEST_POSTGRES_URL`, or a loud failure saying how to get it.
pub fn base_url() -> String {
    match std::env::var(URL_VAR) {
        Ok(v) if !v.trim().is_empty() => v,
        _ => panic!(
            "\n\n{URL_VAR} is not set: the PostgreSQL ledger tests need a real PostgreSQL \
             server.\nStart one (Debian's postgresql package, temporary, 127.0.0.1 only) and run \
             again:\n\n    eval \"$(scripts/postgres.sh start)\"\n    \
             cargo test -p payseal-ledger --features postgres-tests\n    \
             scripts/postgres.sh stop\n"
        ),
    }
}

/// `base` with its database name replaced by `db`.
pub fn with_database(base: &str, db: &str) -> String {
    let (main, query) = match base.split_once('?') {
        Some((m, q)) => (m, Some(q)),
        None => (base, None),
    };
    let scheme_end = main.find("://").map_or(0, |i| i + 3);
    let prefix = match main[scheme_end..].find('/') {
        Some(slash) => &main[..scheme_end + slash],
        None => main,
    };
    match query {
        Some(q) => format!("{prefix}/{db}?{q}"),
        None => format!("{prefix}/{db}"),
    }
}

/// A plain client on `url` (for making or looking at tables directly).
pub async fn client(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to {url}: {e}"));
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
}

/// A new, empty database on the test server; returns its URL. Each test gets its own, so tests
/// run in parallel and from a clean schema.
pub async fn fresh_database() -> String {
    let base = base_url();
    let name = format!("payseal_lt_{}", uuid::Uuid::new_v4().simple());
    client(&base)
        .await
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    with_database(&base, &name)
}

/// Options for tests: short timeouts, so an outage shows quickly.
pub fn test_options() -> LedgerOptions {
    LedgerOptions {
        connect_timeout: Duration::from_secs(3),
        query_timeout: Duration::from_secs(3),
        ..LedgerOptions::default()
    }
}

/// A migrated PostgreSQL ledger on a fresh database, and that database's URL.
pub async fn fresh_ledger() -> (Arc<dyn Ledger>, String) {
    let url = fresh_database().await;
    let ledger = PostgresLedger::connect(&url, &test_options())
        .await
        .unwrap();
    (Arc::new(ledger), url)
}
