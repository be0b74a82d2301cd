//! Log output of the long-running commands: human-readable text (the default) or one JSON
//! object per line for journald and log shippers, always on stderr, ANSI colours only when
//! stderr is a terminal and `NO_COLOR` is unset. `RUST_LOG` filters (default `info`).

use std::io::IsTerminal as _;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// `2026-01-01T00:00:00Z  INFO payseal_verifier::server: message key=value`.
    #[default]
    Text,
    /// `{"timestamp":"…","level":"INFO","target":"…","message":"…","key":"value"}` per line.
    Json,
}

/// Whether colour codes may be written to stderr.
fn colour() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

/// Install the process's log subscriber (once; later calls change nothing).
pub(crate) fn init(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.with_ansi(colour()).try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .with_ansi(false)
            .try_init(),
    };
}
