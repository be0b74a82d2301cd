//! The `payseal-verifier` command line: `serve`, `keygen`, `tls`, `profile`, `check`, `dev`, `migrate`,
//! `webhooks` (list / retry outbox deliveries), `revoke` (record a refund or revocation),
//! `notifications list` (store server notifications received), `revocations list` (revoked
//! transactions) and `google-play poll` (run the Voided Purchases poll once now).
//!
//! Exit codes: 0 success (for `check`: paid), 1 failure (for `check`: not paid), 2 usage or
//! configuration error.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use payseal_protocol::{Outcome, Receipt};

use crate::service::{self, CheckReport};

/// `println!` for command output that a closed pipe does not turn into a panic: a reader that
/// went away (`payseal-verifier check | head -1`) loses the rest of the output, and the
/// command still finishes what it was doing (a revocation is recorded either way).
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout(), $($arg)*) {
            if e.kind() != std::io::ErrorKind::BrokenPipe {
                eprintln!("payseal-verifier: cannot write the output: {e}");
            }
        }
    }};
}

/// PaySeal verifier: checks store purchases sealed by the PaySeal SDK and signs verdicts.
#[derive(Debug, Parser)]
#[command(name = "payseal-verifier", version, about)]
pub struct Cli {
    /// Log lines of serve, dev and migrate: text, or one JSON object per line (journald, log
    /// shippers). On stderr; colour only on a terminal.
    #[arg(
        long,
        global = true,
        value_enum,
        env = "PAYSEAL_LOG_FORMAT",
        default_value = "text"
    )]
    pub log_format: crate::logging::LogFormat,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve HTTPS with a configuration file (stops gracefully on SIGTERM / Ctrl-C).
    Serve {
        /// The TOML configuration file.
        #[arg(long)]
        config: PathBuf,
    },
    /// Make a new HPKE key (id 1) and verdict signing key in DIR (mode 0600; never overwrites).
    Keygen {
        /// Output folder (created if missing).
        #[arg(long)]
        out: PathBuf,
    },
    /// Make the production TLS material in DIR: the serving key (made once, then reused so its
    /// pin survives renewals), a CSR for a CA, a self-signed leaf, and a backup key; prints both
    /// pins. Every certificate is a leaf (CA:FALSE, serverAuth, the hosts as subjectAltName).
    Tls {
        /// Output folder (created if missing), e.g. /etc/payseal/tls.
        #[arg(long)]
        out: PathBuf,
        /// A DNS name or IP address the certificate names (repeatable; the first is the CN).
        #[arg(long = "host", required = true)]
        hosts: Vec<String>,
        /// Validity of the self-signed leaf, in days (1..=3650).
        #[arg(long, default_value_t = 90)]
        days: u32,
    },
    /// Print the SDK profile (URL, TLS pins, HPKE key configuration, verdict keys) as JSON.
    Profile {
        /// The TOML configuration file.
        #[arg(long)]
        config: PathBuf,
    },
    /// Run the store rule for one receipt offline and print the decision as JSON
    /// (exit 0 paid, 1 not paid, 2 usage or configuration error).
    Check {
        /// The TOML configuration file.
        #[arg(long)]
        config: PathBuf,
        /// The app id to check against.
        #[arg(long)]
        app: String,
        /// The receipt JSON file (`{"store":"google_play",...}`).
        receipt: PathBuf,
    },
    /// Apply the ledger's pending schema migrations (PostgreSQL) and print the schema status;
    /// with --check, change nothing and exit 1 if a migration is pending. For operators who run
    /// migrations by hand (`[ledger] auto_migrate = false`); safe while verifiers run.
    Migrate {
        /// The TOML configuration file (its `[ledger]` table; `PAYSEAL_LEDGER` overrides the URL).
        #[arg(long)]
        config: PathBuf,
        /// Only report: exit 0 if the schema is current, 1 if a migration is pending.
        #[arg(long)]
        check: bool,
    },
    /// The webhook outbox: list deliveries, or put failed ones back in the queue.
    Webhooks {
        /// The TOML configuration file (its `[ledger]`).
        #[arg(long)]
        config: PathBuf,
        /// What to do.
        #[command(subcommand)]
        action: WebhooksAction,
    },
    /// Record that a redeemed purchase was refunded or revoked: it is never `paid` again (no
    /// store's refund reversal undoes an operator's revocation), the app's webhook (if any) gets
    /// a `purchase.revoked` event, and the revocation is listed by `notifications list`. Exit 0
    /// revoked (or already revoked), 1 no such redemption, 2 usage or configuration error.
    Revoke {
        /// The TOML configuration file.
        #[arg(long)]
        config: PathBuf,
        /// The store: google_play, app_store, huawei or sandbox.
        #[arg(long)]
        store: String,
        /// The app id.
        #[arg(long)]
        app: String,
        /// The transaction key as recorded (Play/Huawei orderId, App Store transactionId).
        #[arg(long)]
        transaction: String,
        /// Why (stored and sent in the webhook).
        #[arg(long, default_value = "revoked by an operator")]
        reason: String,
        /// The revocation's id (recorded in `notifications list` as `operator:ID`): running the
        /// same revocation again with the same id changes nothing. A new UUID by default.
        #[arg(long)]
        event_id: Option<String>,
    },
    /// Store server notifications received (App Store Server Notifications V2, ...).
    Notifications {
        /// The TOML configuration file (its `[ledger]`).
        #[arg(long)]
        config: PathBuf,
        /// What to do.
        #[command(subcommand)]
        action: NotificationsAction,
    },
    /// The stores' refund requests and their answers (the durable queue).
    RefundRequests {
        /// The TOML configuration file (its `[ledger]`).
        #[arg(long)]
        config: PathBuf,
        /// What to do.
        #[command(subcommand)]
        action: RefundRequestsAction,
    },
    /// Revoked transactions (refunds, revocations; also those refunded before anyone redeemed
    /// them).
    Revocations {
        /// The TOML configuration file (its `[ledger]`).
        #[arg(long)]
        config: PathBuf,
        /// What to do.
        #[command(subcommand)]
        action: RevocationsAction,
    },
    /// Google Play store notifications, by hand.
    GooglePlay {
        /// The TOML configuration file.
        #[arg(long)]
        config: PathBuf,
        /// What to do.
        #[command(subcommand)]
        action: GooglePlayAction,
    },
    /// Development mode: create (once) keys, a self-signed certificate, the sandbox store and a
    /// config in DIR, write DIR/profile.json, and serve. Only in a build with the `dev`
    /// feature (cargo build -p payseal-verifier --features dev).
    Dev {
        /// Address to listen on (port 0 picks a free port).
        #[arg(long, default_value = "127.0.0.1:8443")]
        listen: SocketAddr,
        /// State folder (created if missing; reused on later runs).
        #[arg(long)]
        state_dir: PathBuf,
    },
}

/// `payseal-verifier webhooks` actions.
#[derive(Debug, Subcommand)]
pub enum WebhooksAction {
    /// Print outbox rows as JSON lines, newest first (id, app, type, state, attempts, times,
    /// last error; never the body or a secret).
    List {
        /// Only failed deliveries.
        #[arg(long, conflicts_with = "pending")]
        failed: bool,
        /// Only pending deliveries.
        #[arg(long)]
        pending: bool,
        /// At most this many rows.
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Put a failed delivery (ID) or all of them back to pending, due now.
    Retry {
        /// The event id.
        #[arg(required_unless_present = "all_failed", conflicts_with = "all_failed")]
        id: Option<String>,
        /// Every failed delivery.
        #[arg(long)]
        all_failed: bool,
    },
}

/// `payseal-verifier notifications` actions.
#[derive(Debug, Subcommand)]
pub enum NotificationsAction {
    /// Print received notifications as JSON lines, newest first (store, id, type, subtype,
    /// environment, app, transaction, signed and received times, result).
    List {
        /// Only this store's (google_play, app_store, huawei or sandbox).
        #[arg(long)]
        store: Option<String>,
        /// At most this many rows.
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
}

/// `payseal-verifier refund-requests` actions.
#[derive(Debug, Subcommand)]
pub enum RefundRequestsAction {
    /// Print refund requests as JSON lines, newest first (store, notification, app,
    /// transaction, environment, state, attempts, deadline and times, detail: what was sent or
    /// why not).
    List {
        /// Only rows in this state (pending, answered, skipped, expired).
        #[arg(long)]
        state: Option<String>,
        /// At most this many rows.
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
}

/// `payseal-verifier revocations` actions.
#[derive(Debug, Subcommand)]
pub enum RevocationsAction {
    /// Print revoked transactions as JSON lines, most recently revoked first (store, app,
    /// transaction, account — null when nobody had redeemed it —, product, time, reason).
    List {
        /// At most this many rows.
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
}

/// `payseal-verifier google-play` actions.
#[derive(Debug, Subcommand)]
pub enum GooglePlayAction {
    /// Run the Voided Purchases poll once now for every app with
    /// `[apps."ID".google_play.voided_purchases]` (or only --app): revoke what it lists, store
    /// the cursor, print one JSON line per app (package, window, pages, purchases, revoked, or
    /// the error). Exit 0 every poll complete, 1 a poll failed, 2 usage or configuration error.
    /// Safe beside running verifiers (revocations are idempotent, the cursor only moves forward).
    Poll {
        /// Only this app.
        #[arg(long)]
        app: Option<String>,
    },
    /// Print the acknowledgement queue (purchases acknowledged or consumed at Google after
    /// their first redemption, `[apps."ID".google_play.api]`) as JSON lines, newest first
    /// (id, app, transaction, product, action, state, attempts, purchase and queue times,
    /// deadline, last error; never the purchase token).
    Acks {
        /// Only given-up ones.
        #[arg(long, conflicts_with = "pending")]
        failed: bool,
        /// Only pending ones.
        #[arg(long)]
        pending: bool,
        /// At most this many rows.
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
}

const EXIT_FAIL: u8 = 1;
const EXIT_USAGE: u8 = 2;

/// Parse the process arguments and run; returns the exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    run(cli)
}

/// Run a parsed command line.
pub fn run(cli: Cli) -> ExitCode {
    let init_logging = || crate::logging::init(cli.log_format);
    match cli.command {
        Command::Serve { config } => {
            init_logging();
            let settings = match crate::config::load(&config) {
                Ok(s) => s,
                Err(e) => return usage_error(&format!("configuration error: {e}")),
            };
            serve_blocking(settings, ListenSetting::Config)
        }
        Command::Keygen { out } => match crate::keys::generate_into(&out) {
            Ok(paths) => {
                outln!("HPKE key:    {}", paths.hpke.display());
                outln!("verdict key: {}", paths.verdict.display());
                ExitCode::SUCCESS
            }
            Err(e @ crate::keys::KeyError::Exists(_)) => usage_error(&e.to_string()),
            Err(e) => fail(&e.to_string()),
        },
        Command::Tls { out, hosts, days } => tls(&out, &hosts, days),
        Command::Profile { config } => {
            // Only what the profile holds: store keys may still be placeholders here.
            let settings = match crate::config::load_profile(&config) {
                Ok(s) => s,
                Err(e) => return usage_error(&format!("configuration error: {e}")),
            };
            match crate::profile::build_from(&settings) {
                Ok(p) => {
                    outln!("{}", p.to_json());
                    ExitCode::SUCCESS
                }
                Err(e) => usage_error(&e.to_string()),
            }
        }
        Command::Check {
            config,
            app,
            receipt,
        } => check(&config, &app, &receipt),
        Command::Migrate { config, check } => {
            init_logging();
            let settings = match crate::config::load(&config) {
                Ok(s) => s,
                Err(e) => return usage_error(&format!("configuration error: {e}")),
            };
            migrate(&settings, check)
        }
        Command::Webhooks { config, action } => {
            let settings = match crate::config::load(&config) {
                Ok(s) => s,
                Err(e) => return usage_error(&format!("configuration error: {e}")),
            };
            webhooks(&settings, action)
        }
        Command::Revoke {
            config,
            store,
            app,
            transaction,
            reason,
            event_id,
        } => {
            let settings = match crate::config::load(&config) {
                Ok(s) => s,
                Err(e) => return usage_error(&format!("configuration error: {e}")),
            };
            let store = match parse_store(&store) {
                Ok(s) => s,
                Err(code) => return code,
            };
            revoke(
                &settings,
                store,
                &app,
                &transaction,
                &reason,
                event_id.as_deref(),
            )
        }
        Command::Notifications {
            config,
            action: NotificationsAction::List { store, limit },
        } => {
            let settings = match crate::config::load(&config) {
                Ok(s) => s,
                Err(e) => return usage_error(&format!("configuration error: {e}")),
            };
            let store = match store.as_deref().map(parse_store).transpose() {
                Ok(s) => s,
                Err(code) => return code,
            };
            list_notifications(&settings, store, limit)
        }
        Command::RefundRequests {
            config,
            action: RefundRequestsAction::List { state, limit },
        } => {
            let settings = match crate::config::load(&config) {
                Ok(s) => s,
                Err(e) => return usage_error(&format!("configuration error: {e}")),
            };
            let state = match state.as_deref() {
                None => None,
                Some(s) => match crate::ledger::refunds::RefundState::parse(s) {
                    Some(s) => Some(s),
                    None => {
                        return usage_error(&format!(
                            "--state {s:?}: expected pending, answered, skipped or expired"
                        ))
                    }
                },
            };
            list_refund_requests(&settings, state, limit)
        }
        Command::Revocations {
            config,
            action: RevocationsAction::List { limit },
        } => {
            let settings = match crate::config::load(&config) {
                Ok(s) => s,
                Err(e) => return usage_error(&format!("configuration error: {e}")),
            };
            list_revocations(&settings, limit)
        }
        Command::GooglePlay { config, action } => {
            let settings = match crate::config::load(&config) {
                Ok(s) => s,
                Err(e) => return usage_error(&format!("configuration error: {e}")),
            };
            match action {
                GooglePlayAction::Poll { app } => google_play_poll(settings, app.as_deref()),
                GooglePlayAction::Acks {
                    failed,
                    pending,
                    limit,
                } => google_play_acks(&settings, failed, pending, limit),
            }
        }
        Command::Dev { listen, state_dir } => {
            init_logging();
            dev(listen, &state_dir)
        }
    }
}

/// A `--store` value, or the usage error for it.
fn parse_store(store: &str) -> Result<payseal_protocol::Store, ExitCode> {
    serde_json::from_value::<payseal_protocol::Store>(serde_json::Value::String(store.into()))
        .map_err(|_| {
            usage_error(&format!(
                "--store {store:?}: expected google_play, app_store, huawei or sandbox"
            ))
        })
}

fn google_play_poll(settings: crate::settings::Settings, only: Option<&str>) -> ExitCode {
    use crate::notifications::voided::Poller;
    let pollers: Vec<_> = settings
        .google_play_voided
        .iter()
        .filter(|v| only.is_none_or(|a| a == v.app_id))
        .cloned()
        .collect();
    if pollers.is_empty() {
        return usage_error(&match only {
            Some(app) => {
                format!("app {app:?} has no [apps.\"{app}\".google_play.voided_purchases]")
            }
            None => "no app has [apps.\"ID\".google_play.voided_purchases]".to_string(),
        });
    }
    let (rt, ledger) = match runtime_and_ledger(&settings) {
        Ok(pair) => pair,
        Err(code) => return code,
    };
    let client = match crate::background::outbound_client() {
        Ok(c) => c,
        Err(e) => return fail(&e.to_string()),
    };
    let settings = std::sync::Arc::new(settings);
    let metrics = crate::metrics::Metrics::new();
    let mut failed = false;
    for v in pollers {
        let (app, package) = (v.app_id.clone(), v.package_name.clone());
        let poller = Poller::new(
            v,
            settings.clone(),
            ledger.clone(),
            metrics.clone(),
            client.clone(),
        );
        let line = match rt.block_on(poller.poll_once()) {
            Ok(r) => serde_json::json!({
                "app": app,
                "package": package,
                "start_ms": r.window.map(|w| w.0),
                "end_ms": r.window.map(|w| w.1),
                "pages": r.pages,
                "purchases": r.purchases,
                "revoked": r.revoked,
            }),
            Err(e) => {
                failed = true;
                serde_json::json!({"app": app, "package": package, "error": e.to_string()})
            }
        };
        outln!("{line}");
    }
    if failed {
        ExitCode::from(EXIT_FAIL)
    } else {
        ExitCode::SUCCESS
    }
}

fn usage_error(message: &str) -> ExitCode {
    eprintln!("payseal-verifier: {message}");
    ExitCode::from(EXIT_USAGE)
}

fn fail(message: &str) -> ExitCode {
    eprintln!("payseal-verifier: {message}");
    ExitCode::from(EXIT_FAIL)
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
}

/// Where the listen address came from, for the message when it cannot be bound.
#[derive(Debug, Clone, Copy)]
enum ListenSetting {
    /// `server.listen` in the configuration, or `PAYSEAL_LISTEN`.
    Config,
    /// `dev --listen`.
    #[cfg(feature = "dev")]
    DevFlag,
}

/// The message for a server that could not start: a listener that cannot be bound names the
/// setting that chose its address.
fn serve_error(
    e: &crate::server::ServerError,
    settings_listen: SocketAddr,
    metrics_listen: Option<SocketAddr>,
    from: ListenSetting,
) -> String {
    let crate::server::ServerError::Io { addr, source } = e else {
        return e.to_string();
    };
    let setting = if metrics_listen == Some(*addr) && *addr != settings_listen {
        "server.metrics_listen in the configuration (one per verifier on a host; \"off\": no metrics)"
            .to_string()
    } else {
        match from {
            ListenSetting::Config => format!(
                "server.listen in the configuration, or the {} environment variable",
                crate::config::ENV_LISTEN
            ),
            #[cfg(feature = "dev")]
            ListenSetting::DevFlag => "--listen (port 0 picks a free port)".to_string(),
        }
    };
    let why = if source.kind() == std::io::ErrorKind::AddrInUse {
        "the address is in use (another process listens there, maybe another verifier)".to_string()
    } else {
        source.to_string()
    };
    format!("cannot listen on {addr}: {why}; choose another address with {setting}")
}

fn serve_blocking(settings: crate::settings::Settings, from: ListenSetting) -> ExitCode {
    let (listen, metrics_listen) = (settings.listen, settings.metrics_listen);
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => return fail(&format!("cannot start the runtime: {e}")),
    };
    let result = rt.block_on(async {
        // Any backend: PostgreSQL needs async I/O (pool, migrations) before serving.
        let ledger = crate::ledger::connect(&settings.ledger_url, &settings.ledger)
            .await
            .map_err(crate::server::ServerError::Ledger)?;
        let server = crate::server::Server::bind_with_ledger(settings, ledger)?;
        server.run(crate::server::shutdown_signal()).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&serve_error(&e, listen, metrics_listen, from)),
    }
}

fn migrate(settings: &crate::settings::Settings, check_only: bool) -> ExitCode {
    use crate::ledger::postgres::{PostgresLedger, MIGRATIONS};
    use crate::ledger::{backend_of, Backend};
    let url = &settings.ledger_url;
    match backend_of(url) {
        Some(Backend::Sqlite) => {
            // SQLite applies its pending migrations when opened.
            match crate::ledger::open(url) {
                Ok(_) => {
                    outln!("ledger {url}: SQLite schema current (migrated on open)");
                    ExitCode::SUCCESS
                }
                Err(e) => fail(&e.to_string()),
            }
        }
        Some(Backend::Postgres) => {
            let rt = match runtime() {
                Ok(rt) => rt,
                Err(e) => return fail(&format!("cannot start the runtime: {e}")),
            };
            rt.block_on(async {
                let ledger = match PostgresLedger::new(url, &settings.ledger) {
                    Ok(l) => l,
                    Err(e) => return usage_error(&e.to_string()),
                };
                if !check_only {
                    match ledger.migrate().await {
                        Ok(applied) => {
                            for m in MIGRATIONS.iter().filter(|m| applied.contains(&m.version)) {
                                outln!("applied {}", m.id());
                            }
                        }
                        Err(e) => return fail(&e.to_string()),
                    }
                }
                let status = match ledger.schema_status().await {
                    Ok(s) => s,
                    Err(e) => return fail(&e.to_string()),
                };
                outln!(
                    "ledger {}: {} migration(s) applied, {} pending",
                    ledger.target(),
                    status.applied.len(),
                    status.pending.len()
                );
                for m in &status.pending {
                    outln!("pending {}", m.id());
                }
                if status.pending.is_empty() {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(EXIT_FAIL)
                }
            })
        }
        None => usage_error(&format!("unsupported ledger URL {url:?}")),
    }
}

/// A runtime and the configured ledger (any backend) opened on it, or the exit code of the
/// failure (already reported).
fn runtime_and_ledger(
    settings: &crate::settings::Settings,
) -> Result<
    (
        tokio::runtime::Runtime,
        std::sync::Arc<dyn crate::ledger::Ledger>,
    ),
    ExitCode,
> {
    let rt = runtime().map_err(|e| fail(&format!("cannot start the runtime: {e}")))?;
    let ledger = open_ledger(&rt, settings)?;
    Ok((rt, ledger))
}

/// Open the configured ledger (any backend) on `rt`.
fn open_ledger(
    rt: &tokio::runtime::Runtime,
    settings: &crate::settings::Settings,
) -> Result<std::sync::Arc<dyn crate::ledger::Ledger>, ExitCode> {
    rt.block_on(crate::ledger::connect(
        &settings.ledger_url,
        &settings.ledger,
    ))
    .map_err(|e| fail(&format!("ledger: {e}")))
}

fn webhooks(settings: &crate::settings::Settings, action: WebhooksAction) -> ExitCode {
    use crate::webhook::outbox::{DeliveryState, OutboxFilter};
    let (rt, ledger) = match runtime_and_ledger(settings) {
        Ok(both) => both,
        Err(code) => return code,
    };
    match action {
        WebhooksAction::List {
            failed,
            pending,
            limit,
        } => {
            let filter = if failed {
                OutboxFilter::State(DeliveryState::Failed)
            } else if pending {
                OutboxFilter::State(DeliveryState::Pending)
            } else {
                OutboxFilter::All
            };
            let rows = match rt.block_on(ledger.list_deliveries(filter, limit)) {
                Ok(rows) => rows,
                Err(e) => return fail(&e.to_string()),
            };
            for d in rows {
                let line = serde_json::json!({
                    "id": d.id,
                    "app": d.app_id,
                    "type": d.event_type,
                    "state": d.state.as_str(),
                    "attempts": d.attempts,
                    "created_ms": d.created_ms,
                    "next_attempt_ms": d.next_attempt_ms,
                    "finished_ms": d.finished_ms,
                    "last_error": d.last_error,
                });
                outln!("{line}");
            }
            ExitCode::SUCCESS
        }
        WebhooksAction::Retry { id, all_failed } => {
            let id = if all_failed { None } else { id };
            match rt.block_on(ledger.retry_failed(id.as_deref(), payseal_protocol::time::now_ms()))
            {
                Ok(0) if id.is_some() => fail("no failed delivery with that id"),
                Ok(n) => {
                    outln!(
                        "{n} deliver{} queued again",
                        if n == 1 { "y" } else { "ies" }
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => fail(&e.to_string()),
            }
        }
    }
}

fn google_play_acks(
    settings: &crate::settings::Settings,
    failed: bool,
    pending: bool,
    limit: u32,
) -> ExitCode {
    use crate::google_api::acknowledge::ACK_DEADLINE;
    use crate::webhook::outbox::{DeliveryState, OutboxFilter};
    let (rt, ledger) = match runtime_and_ledger(settings) {
        Ok(both) => both,
        Err(code) => return code,
    };
    let filter = if failed {
        OutboxFilter::State(DeliveryState::Failed)
    } else if pending {
        OutboxFilter::State(DeliveryState::Pending)
    } else {
        OutboxFilter::All
    };
    let rows = match rt.block_on(ledger.list_acks(filter, limit)) {
        Ok(rows) => rows,
        Err(e) => return fail(&e.to_string()),
    };
    let window = i64::try_from(ACK_DEADLINE.as_millis()).unwrap_or(i64::MAX);
    for a in rows {
        let state = match a.state {
            DeliveryState::Delivered => "done",
            other => other.as_str(),
        };
        let line = serde_json::json!({
            "id": a.id,
            "app": a.app_id,
            "transaction": a.transaction_key,
            "product": a.product_id,
            "action": a.action.as_str(),
            "state": state,
            "attempts": a.attempts,
            "purchased_ms": a.purchased_ms,
            "created_ms": a.created_ms,
            "deadline_ms": a.purchased_ms.saturating_add(window),
            "next_attempt_ms": a.next_attempt_ms,
            "finished_ms": a.finished_ms,
            "last_error": a.last_error,
        });
        outln!("{line}");
    }
    ExitCode::SUCCESS
}

fn list_notifications(
    settings: &crate::settings::Settings,
    store: Option<payseal_protocol::Store>,
    limit: u32,
) -> ExitCode {
    let (rt, ledger) = match runtime_and_ledger(settings) {
        Ok(both) => both,
        Err(code) => return code,
    };
    let rows = match rt.block_on(ledger.list_notifications(store, limit)) {
        Ok(rows) => rows,
        Err(e) => return fail(&e.to_string()),
    };
    for n in rows {
        let line = serde_json::json!({
            "store": n.store,
            "id": n.notification_id,
            "type": n.notification_type,
            "subtype": n.subtype,
            "environment": n.environment,
            "app": n.app_id,
            "transaction": n.transaction_key,
            "signed_ms": n.signed_ms,
            "received_ms": n.received_ms,
            "result": n.result,
        });
        outln!("{line}");
    }
    ExitCode::SUCCESS
}

fn list_refund_requests(
    settings: &crate::settings::Settings,
    state: Option<crate::ledger::refunds::RefundState>,
    limit: u32,
) -> ExitCode {
    let (rt, ledger) = match runtime_and_ledger(settings) {
        Ok(both) => both,
        Err(code) => return code,
    };
    let rows = match rt.block_on(ledger.list_refund_requests(state, limit)) {
        Ok(rows) => rows,
        Err(e) => return fail(&e.to_string()),
    };
    for r in rows {
        let line = serde_json::json!({
            "store": r.store.as_str(),
            "notification": r.notification_id,
            "app": r.app_id,
            "transaction": r.transaction_key,
            "environment": r.environment,
            "state": r.state.as_str(),
            "attempts": r.attempts,
            "deadline_ms": r.deadline_ms,
            "next_attempt_ms": r.next_attempt_ms,
            "created_ms": r.created_ms,
            "finished_ms": r.finished_ms,
            "detail": r.detail,
        });
        outln!("{line}");
    }
    ExitCode::SUCCESS
}

fn list_revocations(settings: &crate::settings::Settings, limit: u32) -> ExitCode {
    let (rt, ledger) = match runtime_and_ledger(settings) {
        Ok(both) => both,
        Err(code) => return code,
    };
    let rows = match rt.block_on(ledger.list_revocations(limit)) {
        Ok(rows) => rows,
        Err(e) => return fail(&e.to_string()),
    };
    for r in rows {
        let line = serde_json::json!({
            "store": r.store,
            "app": r.app_id,
            "transaction": r.transaction_key,
            "account": r.account_id,
            "redeemed": r.account_id.is_some(),
            "product": r.product_id,
            "revoked_ms": r.revoked_at_ms,
            "reason": r.reason,
        });
        outln!("{line}");
    }
    ExitCode::SUCCESS
}

fn revoke(
    settings: &crate::settings::Settings,
    store: payseal_protocol::Store,
    app: &str,
    transaction: &str,
    reason: &str,
    event_id: Option<&str>,
) -> ExitCode {
    use crate::ledger::notifications::NotificationResult;
    let (rt, ledger) = match runtime_and_ledger(settings) {
        Ok(both) => both,
        Err(code) => return code,
    };
    let event_id = event_id.map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
    let now = payseal_protocol::time::now_ms();
    let event =
        crate::notifications::operator_revocation(store, app, transaction, reason, &event_id, now);
    let recorded = match rt.block_on(crate::notifications::record(
        settings,
        ledger.as_ref(),
        &event,
        now,
    )) {
        Ok(r) => r,
        Err(e) => return fail(&e.to_string()),
    };
    let again = if recorded.duplicate {
        format!(" (event {event_id} was recorded before; nothing changed now)")
    } else {
        String::new()
    };
    match recorded.result {
        NotificationResult::Revoked => {
            let webhook = if settings.webhooks.contains_key(app) && !recorded.duplicate {
                "; purchase.revoked webhook queued"
            } else {
                ""
            };
            outln!("revoked{webhook}{again}");
            ExitCode::SUCCESS
        }
        NotificationResult::AlreadyRevoked => {
            outln!("already revoked (nothing changed){again}");
            ExitCode::SUCCESS
        }
        _ => fail("no redemption of that transaction in the ledger"),
    }
}

fn tls(out: &Path, hosts: &[String], days: u32) -> ExitCode {
    match crate::certs::generate_into(out, hosts, days) {
        Ok(o) => {
            let reused = if o.key_reused {
                "reused: pin unchanged"
            } else {
                "new"
            };
            outln!("TLS key:      {} ({reused})", o.key.display());
            outln!("CSR:          {}", o.csr.display());
            outln!("self-signed:  {}", o.self_signed.display());
            outln!("backup key:   {}", o.backup_key.display());
            outln!("pin:          {}", o.pin);
            outln!("backup pin:   {}", o.backup_pin);
            ExitCode::SUCCESS
        }
        Err(e @ crate::certs::CertError::Hosts(_)) => usage_error(&e.to_string()),
        Err(e) => fail(&e.to_string()),
    }
}

fn check(config: &Path, app: &str, receipt_path: &Path) -> ExitCode {
    let settings = match crate::config::load_offline(config) {
        Ok(s) => s,
        Err(e) => return usage_error(&format!("configuration error: {e}")),
    };
    let text = match std::fs::read_to_string(receipt_path) {
        Ok(t) => t,
        Err(e) => return usage_error(&format!("{}: {e}", receipt_path.display())),
    };
    let report = match serde_json::from_str::<Receipt>(&text) {
        Ok(receipt) => {
            service::check_offline(&settings, app, &receipt, payseal_protocol::time::now_ms())
        }
        Err(e) => CheckReport::malformed(app, format!("receipt JSON: {e}")),
    };
    match serde_json::to_string_pretty(&report) {
        Ok(json) => outln!("{json}"),
        Err(e) => return fail(&e.to_string()),
    }
    if report.outcome == Outcome::Paid {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FAIL)
    }
}

/// Resolve port 0 to a free port now, so the URL and profile name the real port.
#[cfg(feature = "dev")]
fn concrete_listen(listen: SocketAddr) -> std::io::Result<SocketAddr> {
    if listen.port() != 0 {
        return Ok(listen);
    }
    let probe = std::net::TcpListener::bind(listen)?;
    probe.local_addr()
}

/// `payseal-verifier dev` in a build without development mode: what to build instead.
#[cfg(not(feature = "dev"))]
fn dev(_listen: SocketAddr, _state_dir: &Path) -> ExitCode {
    usage_error(NO_DEV_MODE)
}

/// Why `dev` refuses in a production build, and how to get a build that has it.
#[cfg(not(feature = "dev"))]
const NO_DEV_MODE: &str = "this payseal-verifier was built without development mode: \
     a production build carries no sandbox store (a store that mints receipts). \
     Build one with it: cargo build -p payseal-verifier --features dev \
     (or run scripts/demo.sh, which does)";

#[cfg(feature = "dev")]
fn dev(listen: SocketAddr, state_dir: &Path) -> ExitCode {
    let listen = match concrete_listen(listen) {
        Ok(l) => l,
        Err(e) => return usage_error(&format!("--listen {listen}: {e}")),
    };
    let paths = match crate::dev::prepare(state_dir, listen) {
        Ok(p) => p,
        Err(e) => return usage_error(&e.to_string()),
    };
    let settings = match crate::dev::load(&paths, listen) {
        Ok(s) => s,
        Err(e) => return usage_error(&format!("configuration error: {e}")),
    };
    let profile = match crate::profile::build(&settings) {
        Ok(p) => p,
        Err(e) => return usage_error(&e.to_string()),
    };
    if let Err(e) = std::fs::write(&paths.profile, profile.to_json() + "\n") {
        return fail(&format!("{}: {e}", paths.profile.display()));
    }
    outln!("PaySeal verifier (development mode)");
    outln!("  url:           {}", settings.public_url);
    outln!("  tls pins:      {}", profile.document().tls_pins.join(" "));
    outln!("  tls cert:      {}", paths.tls_cert.display());
    outln!("  config:        {}", paths.config.display());
    outln!("  profile:       {}", paths.profile.display());
    outln!("  ledger:        {}", paths.ledger.display());
    outln!("  sandbox store: {}", paths.sandbox_store.display());
    outln!("  app:           {}", crate::dev::DEV_APP_ID);
    for line in dev_next_steps(&paths) {
        outln!("{line}");
    }
    outln!("listening on {}", settings.public_url);
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
    serve_blocking(settings, ListenSetting::DevFlag)
}

/// A path as one shell word (quoted when it needs to be).
#[cfg(feature = "dev")]
fn shell_word(path: &Path) -> String {
    let text = path.display().to_string();
    shlex::try_quote(&text)
        .map(|q| q.into_owned())
        .unwrap_or(text)
}

/// A sibling program of this one: its path when it was built or installed next to this
/// binary (cargo puts the workspace's binaries in one folder), else the `cargo run` command that
/// builds and runs it from a checkout (`cargo_run`), so a first-time user never gets a bare name
/// that is not on the `PATH`.
#[cfg(feature = "dev")]
fn companion(name: &str, cargo_run: &str) -> String {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join(name)))
        .filter(|path| path.is_file())
        .map_or_else(|| cargo_run.to_string(), |path| shell_word(&path))
}

/// The ready-to-paste commands `dev` prints: make a sandbox purchase, then verify it through
/// the SDK path (`payseal-client`, trusting the self-signed dev certificate with `--ca`).
#[cfg(feature = "dev")]
pub(crate) fn dev_next_steps(paths: &crate::dev::DevPaths) -> Vec<String> {
    let app = crate::dev::DEV_APP_ID;
    vec![
        "try it from another shell (the SDK trusts the self-signed dev certificate only when \
         told: --ca here, extraRootsPem / ExtraRootsPem in an app):"
            .to_string(),
        format!(
            "  {} google-play --dir {} --app {app} --product coins_100 > receipt.json",
            companion("payseal-sandbox", "cargo run -q -p payseal-sandbox --",),
            shell_word(&paths.dir)
        ),
        format!(
            "  {} verify --profile {} --app {app} --ca {} --receipt receipt.json \
             --account player-1",
            companion(
                "payseal-client",
                "cargo run -q -p payseal-sdk-core --features cli --bin payseal-client --",
            ),
            shell_word(&paths.profile),
            shell_word(&paths.tls_cert)
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A user who ran only `cargo run -p payseal-verifier -- dev` has no `payseal-client` next
    /// to the verifier (a unit test's binary sits in `deps/`, where neither companion is): the
    /// printed lines must then be `cargo run` commands that build it, never a bare name.
    #[test]
    fn next_steps_fall_back_to_cargo_run_when_the_companions_are_not_built() {
        let paths = crate::dev::DevPaths::new(std::path::Path::new("/tmp/state dir"));
        let lines = dev_next_steps(&paths).join("\n");
        assert!(
            lines.contains("cargo run -q -p payseal-sandbox -- google-play"),
            "{lines}"
        );
        assert!(
            lines.contains(
                "cargo run -q -p payseal-sdk-core --features cli --bin payseal-client -- verify"
            ),
            "{lines}"
        );
        assert!(
            lines.contains("--ca '/tmp/state dir/tls/cert.pem'"),
            "{lines}"
        );
    }
}
