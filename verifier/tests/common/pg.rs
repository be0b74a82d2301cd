//! The real PostgreSQL server the Postgres-backed tests run against (never a mock).
//!
//! `scripts/postgres.sh start` starts one from Debian's package on a free loopback port and
//! exports `PAYSEAL_TEST_POSTGRES_URL` (plus `PAYSEAL_TEST_PG_CTL` for the outage test).
//! These tests are built only with the `postgres-tests` feature, and then they FAIL when the
//! variables are missing: asking for them and skipping would pass without testing anything.

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use payseal_verifier::ledger::postgres::PostgresLedger;
use payseal_verifier::ledger::{Ledger, LedgerOptions};

/// The server's URL (superuser, trust authentication on 127.0.0.1).
pub const URL_VAR: &str = "PAYSEAL_TEST_POSTGRES_URL";
/// A `pg_ctl` for the server's data directory (`stop`, `start`), made by scripts/postgres.sh.
pub const PG_CTL_VAR: &str = "PAYSEAL_TEST_PG_CTL";

fn required(var: &str) -> String {
    match std::env::var(var) {
        Ok(v) if !v.trim().is_empty() => v,
        _ => panic!(
            "\n\n{var} is not set: the PostgreSQL ledger tests need a real PostgreSQL server.\n\
             Start one (Debian's postgresql package, temporary, 127.0.0.1 only) and run again:\n\n    \
             eval \"$(scripts/postgres.sh start)\"\n    \
             cargo test -p payseal-verifier --features postgres-tests --test ledger_suite \
             --test postgres_ledger --test multi_instance --test postgres_outage \
             --test postgres_webhooks\n    \
             scripts/postgres.sh stop\n\n\
             (scripts/test.sh does all of this.)\n"
        ),
    }
}

/// `PAYSEAL_TEST_POSTGRES_URL`, or a loud failure saying how to get it.
pub fn base_url() -> String {
    required(URL_VAR)
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

/// A new, empty database on the test server; returns its URL. Each test gets its own, so tests
/// run in parallel and from a clean schema (the data directory is deleted at the end).
pub async fn fresh_database() -> String {
    let base = base_url();
    let (client, connection) = tokio_postgres::connect(&base, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to {URL_VAR}={base}: {e}"));
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let name = format!("payseal_t_{}", uuid::Uuid::new_v4().simple());
    client
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
pub async fn fresh_ledger() -> (Arc<PostgresLedger>, String) {
    let url = fresh_database().await;
    let ledger = PostgresLedger::connect(&url, &test_options())
        .await
        .unwrap();
    (Arc::new(ledger), url)
}

/// The same, as the trait object the server takes.
pub async fn fresh_dyn_ledger() -> (Arc<dyn Ledger>, String) {
    let (ledger, url) = fresh_ledger().await;
    (ledger, url)
}

/// A plain client on `url` (for looking at tables directly).
pub async fn client(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
}

/// Run the test server's `pg_ctl` with `args` (it waits for the server: `-w`).
pub fn pg_ctl(args: &[&str]) {
    let pg_ctl = required(PG_CTL_VAR);
    let out = Command::new(&pg_ctl)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{pg_ctl}: {e}"));
    assert!(
        out.status.success(),
        "{pg_ctl} {args:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// PostgreSQL stopped for the lifetime of this value: started again on drop, even when the
/// test fails half-way (the other test binaries need the server).
pub struct Outage {
    running: bool,
}

impl Outage {
    /// Stop the server now (fast shutdown: sessions are closed).
    pub fn begin() -> Self {
        pg_ctl(&["stop", "-m", "fast"]);
        Self { running: false }
    }

    /// Start the server again.
    pub fn end(&mut self) {
        if !self.running {
            pg_ctl(&["start"]);
            self.running = true;
        }
    }
}

impl Drop for Outage {
    fn drop(&mut self) {
        if !self.running {
            let _ = Command::new(required(PG_CTL_VAR)).arg("start").output();
        }
    }
}

/// Point the configuration at the PostgreSQL database `url` instead of the dev SQLite file.
pub fn use_postgres(config: &std::path::Path, url: &str) {
    let text = std::fs::read_to_string(config).unwrap();
    let changed = text.replacen("url = \"sqlite:ledger.db\"", &format!("url = \"{url}\""), 1);
    assert_ne!(
        changed,
        text,
        "no SQLite ledger line in {}",
        config.display()
    );
    std::fs::write(config, changed).unwrap();
}
