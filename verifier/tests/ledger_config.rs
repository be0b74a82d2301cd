//! The `[ledger]` table: backends by URL, PostgreSQL connection options, passwords moved out of
//! the URL (and out of every error and `Debug`), `password_file`. No server needed.

mod common;

use std::path::Path;

use common::StateDir;
use payseal_verifier::config::{self, ConfigError};
use payseal_verifier::settings::Settings;

fn with_ledger(state: &StateDir, table: &str) -> Result<Settings, ConfigError> {
    let text = std::fs::read_to_string(&state.paths.config).unwrap();
    let start = text.find("[ledger]").unwrap();
    let end = text[start + 1..]
        .find("\n[")
        .map_or(text.len(), |i| start + 1 + i + 1);
    let edited = format!("{}{}\n{}", &text[..start], table, &text[end..]);
    std::fs::write(&state.paths.config, edited).unwrap();
    config::load_with_env(&state.paths.config, |_| None)
}

fn err_text(r: Result<Settings, ConfigError>) -> String {
    r.unwrap_err().to_string()
}

#[test]
fn postgres_url_password_is_moved_out_of_the_url_and_never_printed() {
    let state = StateDir::new();
    let s = with_ledger(
        &state,
        "[ledger]\nurl = \"postgres://payseal:hunter2@db.internal:5432/ledger\"\nmax_connections = 32\nconnect_timeout_ms = 1500\nquery_timeout_ms = 2500\nauto_migrate = false\n",
    )
    .unwrap();
    assert_eq!(s.ledger_url, "postgres://payseal@db.internal:5432/ledger");
    assert_eq!(
        s.ledger.password.as_ref().map(|p| p.expose()),
        Some("hunter2")
    );
    assert_eq!(s.ledger.max_connections, 32);
    assert_eq!(s.ledger.connect_timeout.as_millis(), 1500);
    assert_eq!(s.ledger.query_timeout.as_millis(), 2500);
    assert!(!s.ledger.auto_migrate);
    assert!(!format!("{s:?}").contains("hunter2"));
}

#[test]
fn defaults_and_environment_override() {
    let state = StateDir::new();
    let s = config::load_with_env(&state.paths.config, |name| {
        (name == "PAYSEAL_LEDGER").then(|| "postgresql://v@127.0.0.1/l?password=pw2".to_string())
    })
    .unwrap();
    assert_eq!(s.ledger_url, "postgresql://v@127.0.0.1/l");
    assert_eq!(s.ledger.password.as_ref().map(|p| p.expose()), Some("pw2"));
    assert!(s.ledger.auto_migrate);
    assert_eq!(s.ledger.max_connections, 16);
    assert_eq!(s.ledger.query_timeout.as_secs(), 5);
}

#[test]
fn password_file_is_read_relative_to_the_config() {
    let state = StateDir::new();
    let dir = state.paths.config.parent().unwrap().to_path_buf();
    std::fs::write(dir.join("db-password"), "from-file\n").unwrap();
    let s = with_ledger(
        &state,
        "[ledger]\nurl = \"postgres://payseal@127.0.0.1/ledger\"\npassword_file = \"db-password\"\n",
    )
    .unwrap();
    assert_eq!(
        s.ledger.password.as_ref().map(|p| p.expose()),
        Some("from-file")
    );

    let both = with_ledger(
        &state,
        "[ledger]\nurl = \"postgres://payseal:x@127.0.0.1/ledger\"\npassword_file = \"db-password\"\n",
    );
    assert!(err_text(both).contains("one place"));
    let missing = with_ledger(
        &state,
        "[ledger]\nurl = \"postgres://payseal@127.0.0.1/ledger\"\npassword_file = \"nope\"\n",
    );
    let text = err_text(missing);
    assert!(text.contains("ledger.password_file"), "{text}");
    std::fs::write(dir.join("empty"), "\n").unwrap();
    let empty = with_ledger(
        &state,
        "[ledger]\nurl = \"postgres://payseal@127.0.0.1/ledger\"\npassword_file = \"empty\"\n",
    );
    assert!(err_text(empty).contains("empty"));
    let sqlite = with_ledger(
        &state,
        "[ledger]\nurl = \"sqlite:l.db\"\npassword_file = \"db-password\"\n",
    );
    assert!(err_text(sqlite).contains("only a postgres"));
}

#[test]
fn bad_values_name_the_key_and_never_echo_the_password() {
    let state = StateDir::new();
    let file = state.paths.config.clone();
    for (table, key, reason) in [
        (
            "[ledger]\nurl = \"postgres://u:hunter2@db/l?sslmode=require\"\n",
            "ledger.url",
            "sslmode=require",
        ),
        (
            "[ledger]\nurl = \"postgres://u:hunter2@db/l?sslmode=bogus\"\n",
            "ledger.url",
            "invalid",
        ),
        (
            "[ledger]\nurl = \"postgres://u:hunter2@/l\"\n",
            "ledger.url",
            "no host",
        ),
        (
            "[ledger]\nurl = \"mysql://u:hunter2@db/l\"\n",
            "ledger.url",
            "not a supported ledger URL",
        ),
        (
            "[ledger]\nurl = \"postgres://u@db/l\"\nmax_connections = 0\n",
            "ledger.max_connections",
            "outside",
        ),
        (
            "[ledger]\nurl = \"postgres://u@db/l\"\nquery_timeout_ms = 0\n",
            "ledger.query_timeout_ms",
            "outside",
        ),
        (
            "[ledger]\nurl = \"postgres://u@db/l\"\nconect_timeout_ms = 5\n",
            "conect_timeout_ms",
            "unknown field",
        ),
    ] {
        let text = err_text(with_ledger(&state, table));
        assert!(text.contains(&file.display().to_string()), "{text}");
        assert!(text.contains(key), "{key} in {text}");
        assert!(text.contains(reason), "{reason} in {text}");
        assert!(!text.contains("hunter2"), "{text}");
    }
    assert!(Path::new(&file).exists());
}
