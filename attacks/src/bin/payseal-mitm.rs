//! `payseal-mitm`: a TLS-terminating relay that tampers with PaySeal verifier traffic, for
//! attack tests (see `attacks/README.md`). Prints `listening on https://ADDR` once ready,
//! runs until SIGINT/SIGTERM, and keeps `--report FILE` up to date after every exchange.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use payseal_attacks::{Mitm, MitmConfig, Mode, Resign};

/// A TLS-terminating man-in-the-middle relay for PaySeal attack tests (loopback only).
#[derive(Debug, Parser)]
#[command(name = "payseal-mitm", version)]
struct Args {
    /// Loopback address to listen on, e.g. 127.0.0.1:9443 (port 0 picks one).
    #[arg(long)]
    listen: SocketAddr,
    /// The verifier's base URL, e.g. https://localhost:8443.
    #[arg(long)]
    upstream: String,
    /// Certificate chain the relay presents (PEM, leaf first): the verifier's own to match the pin.
    #[arg(long)]
    cert: PathBuf,
    /// Private key of that certificate (PEM).
    #[arg(long)]
    key: PathBuf,
    /// CA certificate (PEM) that issued the upstream verifier's certificate.
    #[arg(long)]
    upstream_ca: PathBuf,
    /// What to do to sealed /v1/verify answers.
    #[arg(long, value_enum, default_value = "pass")]
    mode: Mode,
    /// A string to look for in the relayed bytes (repeatable), e.g. a receipt's signature.
    #[arg(long)]
    watch: Vec<String>,
    /// Write a JSON report (bytes per direction, plaintext seen) here after every exchange.
    #[arg(long)]
    report: Option<PathBuf>,
    /// `--mode resign`: the verifier's state directory, whose `keys/hpke.key` and
    /// `keys/verdict.key` it opens and signs with.
    #[arg(long)]
    state_dir: Option<PathBuf>,
    /// `--mode resign`: a JSON object merged into every verdict's claims (`null` removes one),
    /// e.g. '{"subscription_state":"in_grace_period","store_checked":true}'.
    #[arg(long)]
    claims: Option<String>,
}

/// The keys and claims of `--mode resign`, when both options are given.
fn resign(args: &Args) -> Result<Option<Arc<Resign>>, String> {
    let (dir, claims) = match (&args.state_dir, &args.claims) {
        (None, None) => return Ok(None),
        (Some(dir), Some(claims)) => (dir, claims),
        _ => return Err("--state-dir and --claims go together".into()),
    };
    let keys = dir.join("keys");
    let hpke =
        payseal_verifier::read_hpke_key(&keys.join("hpke.key")).map_err(|e| e.to_string())?;
    let verdict_key =
        payseal_verifier::read_verdict_key(&keys.join("verdict.key")).map_err(|e| e.to_string())?;
    let claims = match serde_json::from_str(claims) {
        Ok(serde_json::Value::Object(map)) => map,
        _ => return Err("--claims must be a JSON object".into()),
    };
    Ok(Some(Arc::new(Resign {
        hpke,
        verdict_key,
        claims,
    })))
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("payseal-mitm: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let resign = match resign(&args) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("payseal-mitm: {e}");
            return ExitCode::from(2);
        }
    };
    runtime.block_on(async move {
        let config = MitmConfig {
            listen: args.listen,
            upstream: args.upstream,
            cert_pem: args.cert,
            key_pem: args.key,
            upstream_ca_pem: args.upstream_ca,
            mode: args.mode,
            watch: args.watch,
            report_path: args.report,
            resign,
        };
        let mitm = match Mitm::start(config).await {
            Ok(m) => m,
            Err(e) => {
                eprintln!("payseal-mitm: {e}");
                return ExitCode::from(2);
            }
        };
        println!("listening on https://{}", mitm.local_addr());
        shutdown_signal().await;
        mitm.shutdown();
        match serde_json::to_string(&mitm.report()) {
            Ok(json) => eprintln!("payseal-mitm: {json}"),
            Err(e) => eprintln!("payseal-mitm: report: {e}"),
        }
        ExitCode::SUCCESS
    })
}
