//! `[ledger]`: the ledger URL (a password in it moved out of sight) and the connection options
//! of a networked ledger, with the `PAYSEAL_LEDGER` override.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use serde::Deserialize;

use super::{ConfigError, Resolver, ENV_LEDGER};
use crate::ledger::{self, Backend, LedgerOptions, Password};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLedger {
    pub(super) url: String,
    pub(super) password_file: Option<PathBuf>,
    pub(super) auto_migrate: Option<bool>,
    pub(super) max_connections: Option<u64>,
    pub(super) connect_timeout_ms: Option<u64>,
    pub(super) query_timeout_ms: Option<u64>,
}

impl Resolver {
    /// The ledger URL (password taken out) and its connection options.
    pub(super) fn ledger(
        &self,
        url_key: &str,
        url: &str,
        raw: &RawLedger,
    ) -> Result<(String, LedgerOptions), ConfigError> {
        let url = url.trim();
        let ms = |key: &str, v: Option<u64>, default: Duration| match v {
            None => Ok(default),
            Some(n) if (1..=600_000).contains(&n) => Ok(Duration::from_millis(n)),
            Some(n) => Err(self.invalid(
                format!("ledger.{key}"),
                format!("{n} is outside 1..=600000 milliseconds"),
            )),
        };
        let mut options = LedgerOptions {
            auto_migrate: raw.auto_migrate.unwrap_or(true),
            max_connections: match raw.max_connections {
                None => crate::ledger::DEFAULT_MAX_CONNECTIONS,
                Some(n) if (1..=1024).contains(&n) => n as usize,
                Some(n) => {
                    return Err(
                        self.invalid("ledger.max_connections", format!("{n} is outside 1..=1024"))
                    )
                }
            },
            connect_timeout: ms(
                "connect_timeout_ms",
                raw.connect_timeout_ms,
                crate::ledger::DEFAULT_CONNECT_TIMEOUT,
            )?,
            query_timeout: ms(
                "query_timeout_ms",
                raw.query_timeout_ms,
                crate::ledger::DEFAULT_QUERY_TIMEOUT,
            )?,
            password: None,
        };
        match ledger::backend_of(url) {
            Some(Backend::Sqlite) => {
                if raw.password_file.is_some() {
                    return Err(self.invalid(
                        "ledger.password_file",
                        "only a postgres:// ledger takes a password",
                    ));
                }
                let path = url.trim_start_matches("sqlite:").trim();
                Ok((
                    format!("sqlite:{}", self.path(Path::new(path)).display()),
                    options,
                ))
            }
            Some(Backend::Postgres) => {
                let (stripped, had_password) = ledger::strip_password(url);
                // Parse it now (no connection) so a bad URL stops the start here; the stripped
                // form, so the reason can never quote the password.
                crate::ledger::postgres::PostgresLedger::check_url(&stripped, &options)
                    .map_err(|e| self.invalid(url_key, e.to_string()))?;
                if had_password {
                    let parsed = tokio_postgres::Config::from_str(url).map_err(|_| {
                        self.invalid(
                            url_key,
                            format!(
                                "{:?} is not a valid PostgreSQL URL",
                                ledger::redact_url(url)
                            ),
                        )
                    })?;
                    if let Some(pw) = parsed.get_password() {
                        options.password = Some(Password::new(String::from_utf8_lossy(pw)));
                    }
                }
                if let Some(file) = &raw.password_file {
                    if had_password {
                        return Err(self.invalid(
                            "ledger.password_file",
                            "the URL has a password too: keep it in one place (the file)",
                        ));
                    }
                    let path = self.path(file);
                    let text = std::fs::read_to_string(&path).map_err(|e| {
                        self.invalid("ledger.password_file", format!("{}: {e}", path.display()))
                    })?;
                    let password = text.trim_end_matches(['\n', '\r']);
                    if password.is_empty() {
                        return Err(self.invalid(
                            "ledger.password_file",
                            format!("{} is empty", path.display()),
                        ));
                    }
                    options.password = Some(Password::new(password));
                }
                Ok((stripped, options))
            }
            None => Err(self.invalid(
                url_key,
                format!(
                    "{:?} is not a supported ledger URL (expected sqlite:PATH or \
                     postgres://USER@HOST:PORT/DATABASE)",
                    ledger::redact_url(url)
                ),
            )),
        }
    }

    /// `[ledger]` with the `PAYSEAL_LEDGER` override of `ledger.url`.
    pub(super) fn ledger_table(
        &self,
        raw: &RawLedger,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<(String, LedgerOptions), ConfigError> {
        let (ledger_key, ledger_url) = match env(ENV_LEDGER) {
            Some(v) => (format!("{ENV_LEDGER} (ledger.url)"), v),
            None => ("ledger.url".to_string(), raw.url.clone()),
        };
        self.ledger(&ledger_key, &ledger_url, raw)
    }
}
