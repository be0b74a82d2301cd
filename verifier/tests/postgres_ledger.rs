//! PostgreSQL-only behaviour on a REAL server: migrations (concurrent starts, manual mode,
//! edited or newer schemas), `payseal-verifier migrate`, and passwords kept out of errors and
//! output. The shared behaviour is in the generic suite (`tests/ledger_suite.rs`).
//!
//! Needs the `postgres-tests` feature and `PAYSEAL_TEST_POSTGRES_URL` (scripts/postgres.sh).

mod common;

use std::process::Command;

use common::pg::{client, fresh_database, test_options};
use common::StateDir;
use payseal_verifier::ledger::{LedgerError, LedgerOptions, Redemptions};
use payseal_verifier::ledger::{PostgresLedger, MIGRATIONS};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn instances_starting_together_migrate_once() {
    let url = fresh_database().await;
    let mut starts = Vec::new();
    for _ in 0..6 {
        let url = url.clone();
        starts.push(tokio::spawn(async move {
            PostgresLedger::connect(&url, &test_options()).await
        }));
    }
    let mut ledgers = Vec::new();
    for s in starts {
        ledgers.push(s.await.unwrap().expect("every instance starts"));
    }
    let pg = client(&url).await;
    let rows = pg
        .query(
            "SELECT version, name, checksum FROM payseal_schema_migrations ORDER BY version",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), MIGRATIONS.len());
    for (row, m) in rows.iter().zip(MIGRATIONS) {
        assert_eq!(row.get::<_, i64>(0), m.version);
        assert_eq!(row.get::<_, String>(1), m.name);
        assert_eq!(row.get::<_, String>(2), m.checksum());
    }
    // Current: nothing more to apply; every instance serves.
    assert!(ledgers[0].migrate().await.unwrap().is_empty());
    for l in &ledgers {
        l.ready().await.unwrap();
    }
    let status = ledgers[0].schema_status().await.unwrap();
    assert_eq!(
        status.applied,
        payseal_verifier::ledger::MIGRATIONS
            .iter()
            .map(|m| m.version)
            .collect::<Vec<_>>()
    );
    assert!(status.pending.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_auto_migrate_the_start_fails_until_migrations_are_applied() {
    let url = fresh_database().await;
    let manual = LedgerOptions {
        auto_migrate: false,
        ..test_options()
    };
    let err = PostgresLedger::connect(&url, &manual).await.unwrap_err();
    assert!(matches!(err, LedgerError::Schema(_)), "{err}");
    let text = err.to_string();
    assert!(text.contains("0001_redemptions"), "{text}");
    assert!(text.contains("payseal-verifier migrate"), "{text}");

    let ledger = PostgresLedger::new(&url, &manual).unwrap();
    assert_eq!(
        ledger.schema_status().await.unwrap().pending.len(),
        payseal_verifier::ledger::MIGRATIONS.len()
    );
    // Not migrated: not ready (the table is missing).
    assert!(ledger.ready().await.is_err());
    assert_eq!(
        ledger.migrate().await.unwrap(),
        payseal_verifier::ledger::MIGRATIONS
            .iter()
            .map(|m| m.version)
            .collect::<Vec<_>>()
    );
    let ledger = PostgresLedger::connect(&url, &manual).await.unwrap();
    ledger.ready().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_migration_or_a_newer_schema_stops_the_start() {
    let url = fresh_database().await;
    PostgresLedger::connect(&url, &test_options())
        .await
        .unwrap();
    let pg = client(&url).await;

    pg.execute(
        "UPDATE payseal_schema_migrations SET checksum = 'edited' WHERE version = 1",
        &[],
    )
    .await
    .unwrap();
    let err = PostgresLedger::connect(&url, &test_options())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("must never be edited"), "{err}");
    pg.execute(
        "UPDATE payseal_schema_migrations SET checksum = $1 WHERE version = 1",
        &[&MIGRATIONS[0].checksum()],
    )
    .await
    .unwrap();

    pg.execute(
        "INSERT INTO payseal_schema_migrations VALUES (999, 'from_the_future', 'x', 0)",
        &[],
    )
    .await
    .unwrap();
    let err = PostgresLedger::connect(&url, &test_options())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("0999_from_the_future"), "{err}");
    assert!(err.contains("newer verifier"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_never_show_the_password() {
    let base = common::pg::base_url();
    // Trust authentication ignores the password, so a wrong database makes the error.
    let url = common::pg::with_database(&base, "no_such_database").replacen(
        "://payseal@",
        "://payseal:hunter2@",
        1,
    );
    assert!(url.contains("hunter2"), "{url}");
    let err = PostgresLedger::connect(&url, &test_options())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("3D000"),
        "SQLSTATE invalid_catalog_name: {err}"
    );
    assert!(!err.contains("hunter2"), "{err}");
}

fn migrate_cli(state: &StateDir, ledger_url: &str, args: &[&str]) -> (i32, String) {
    let out = Command::new(common::bin())
        .arg("migrate")
        .arg("--config")
        .arg(&state.paths.config)
        .args(args)
        .env("PAYSEAL_LEDGER", ledger_url)
        .env("RUST_LOG", "debug")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_command_checks_applies_and_reports() {
    let state = StateDir::new();
    let url = fresh_database()
        .await
        .replacen("://payseal@", "://payseal:hunter2@", 1);

    let (code, text) = migrate_cli(&state, &url, &["--check"]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("pending 0001_redemptions"), "{text}");
    assert!(
        text.contains(&format!(
            "0 migration(s) applied, {} pending",
            payseal_verifier::ledger::MIGRATIONS.len()
        )),
        "{text}"
    );

    let (code, text) = migrate_cli(&state, &url, &[]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("applied 0001_redemptions"), "{text}");
    assert!(
        text.contains(&format!(
            "{} migration(s) applied, 0 pending",
            payseal_verifier::ledger::MIGRATIONS.len()
        )),
        "{text}"
    );

    let (code, text) = migrate_cli(&state, &url, &["--check"]);
    assert_eq!(code, 0, "{text}");
    assert!(!text.contains("hunter2"), "password in the output: {text}");
    assert!(
        text.contains("payseal:***@") || !text.contains("payseal:"),
        "{text}"
    );

    // An unreachable server: failure exit, no password.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (code, text) = migrate_cli(
        &state,
        &format!("postgres://payseal:hunter2@127.0.0.1:{port}/x"),
        &[],
    );
    assert_eq!(code, 1, "{text}");
    assert!(!text.contains("hunter2"), "{text}");
}
