//! `payseal-client`: the SDK's exact verification path from the command line, for the demo
//! and scripts. Prints JSON on stdout.
//!
//! ```text
//! payseal-client verify --profile profile.json --app com.example.game --receipt receipt.json \
//!     --account alice [--product gems_100] [--ca ca.pem]... [--pending-dir DIR]
//! payseal-client retry-pending --profile profile.json --app com.example.game --pending-dir DIR \
//!     [--ca ca.pem]...
//! ```
//!
//! `--app` is required: the verdict is checked against it, so a silent default would check
//! another app's purchases. A missing argument is a usage error (clap's message, exit 2).
//!
//! `verify` exits 0 when paid, 1 when not paid, 2 on an error (printed as
//! `{"error":{"kind":"pin_mismatch","message":"..."}}`). `retry-pending` exits 0 when no
//! receipt is left pending, 1 when some are (still pending, or refused: unreadable or another
//! app's), 2 on an error. Built with the `cli` feature (clap):
//! `cargo build -p payseal-sdk-core --features cli --bin payseal-client`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};
use payseal_sdk_core::{
    default_options, receipt_from_json, PaySeal, PaySealError, PaySealOptions, PendingOutcome,
};

#[derive(Parser)]
#[command(
    name = "payseal-client",
    version,
    about = "Verify store purchases through the PaySeal SDK path"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Verify one receipt and print the verdict.
    Verify {
        #[command(flatten)]
        common: Common,
        /// Directory for receipts that got no verdict (none: a failed verification is not kept).
        #[arg(long)]
        pending_dir: Option<PathBuf>,
        /// The receipt JSON file (the stable form `payseal-sandbox` prints).
        #[arg(long)]
        receipt: PathBuf,
        /// The app's account id.
        #[arg(long)]
        account: String,
        /// The product the app sold: a genuine receipt for another one is `wrong_product`.
        #[arg(long)]
        product: Option<String>,
    },
    /// Verify the receipts kept pending and print what became of each.
    RetryPending {
        #[command(flatten)]
        common: Common,
        /// Directory of the receipts kept pending.
        #[arg(long)]
        pending_dir: PathBuf,
    },
}

#[derive(Args)]
struct Common {
    /// The verifier profile JSON file.
    #[arg(long)]
    profile: PathBuf,
    /// The app id the verdicts must name (`dev.payseal.demo` for `payseal-verifier dev`).
    #[arg(long = "app")]
    app: String,
    /// Extra trust root (PEM file) for a private or dev verifier; repeatable.
    #[arg(long = "ca")]
    ca: Vec<PathBuf>,
    /// Overall deadline of one verification, in milliseconds.
    #[arg(long)]
    deadline_ms: Option<i64>,
    /// Attempts per verification (1 = no retry).
    #[arg(long)]
    max_attempts: Option<i32>,
}

fn read(path: &PathBuf, what: &str) -> Result<String, PaySealError> {
    std::fs::read_to_string(path).map_err(|e| PaySealError::InvalidProfile {
        message: format!("cannot read {what} {}: {e}", path.display()),
    })
}

fn sdk(common: &Common, pending_dir: Option<&PathBuf>) -> Result<Arc<PaySeal>, PaySealError> {
    let profile = read(&common.profile, "profile")?;
    let mut options: PaySealOptions = default_options(common.app.clone());
    for ca in &common.ca {
        options.extra_roots_pem.push(read(ca, "CA file")?);
    }
    options.pending_dir = pending_dir.map(|p| p.to_string_lossy().into_owned());
    if let Some(ms) = common.deadline_ms {
        options.deadline_ms = ms;
    }
    if let Some(n) = common.max_attempts {
        options.max_attempts = n;
    }
    PaySeal::new(profile, options)
}

fn print_json(value: &impl serde::Serialize) {
    match serde_json::to_string_pretty(value) {
        Ok(text) => println!("{text}"),
        Err(e) => eprintln!("payseal-client: cannot print JSON: {e}"),
    }
}

fn run(cli: Cli) -> Result<ExitCode, PaySealError> {
    match cli.command {
        Command::Verify {
            common,
            pending_dir,
            receipt,
            account,
            product,
        } => {
            let receipt = receipt_from_json(read(&receipt, "receipt").map_err(|e| {
                PaySealError::InvalidReceipt {
                    message: e.message().to_string(),
                }
            })?)?;
            let verdict = sdk(&common, pending_dir.as_ref())?
                .verify_product_blocking(receipt, account, product)?;
            print_json(&verdict);
            Ok(if verdict.paid {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::RetryPending {
            common,
            pending_dir,
        } => {
            let results = sdk(&common, Some(&pending_dir))?.retry_pending_blocking()?;
            let left = results
                .iter()
                .filter(|r| !matches!(r.outcome, PendingOutcome::Verified { .. }))
                .count();
            print_json(&results);
            Ok(if left == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            print_json(&serde_json::json!({
                "error": { "kind": e.kind().as_str(), "message": e.message() }
            }));
            eprintln!("payseal-client: {}: {}", e.kind().as_str(), e.message());
            ExitCode::from(2)
        }
    }
}
