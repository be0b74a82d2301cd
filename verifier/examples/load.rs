//! Load client for `scripts/bench-verifier.sh`: many keep-alive HTTPS connections posting sealed
//! requests to `/v1/verify` for a fixed time, then requests/s, latency percentiles and errors.
//!
//! Receipts are real Google Play purchases from the sandbox store (SHA1withRSA), each sent first by
//! one account (a `first` redemption: a durable ledger insert) and then again (a `repeat`).
//! Requests are sealed before the clock starts so the client spends its CPU on TLS and HTTP only;
//! the first response to each request is opened and its verdict checked, later ones are checked
//! for status 200 and a non-empty sealed body. With `--raw` no response is opened (for the
//! `transport` example, which answers with bytes the size of a sealed verdict). The report gives
//! the sizes of a request body and of the last response body.
//!
//! ```text
//! cargo run --release -p payseal-verifier --example load -- --profile STATE/profile.json \
//!     --ca STATE/tls/cert.pem --store STATE/sandbox-store --connections 64 --seconds 30 --unique 2000
//! ```

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use payseal_protocol::envelope::{seal_request, ClientContext};
use payseal_protocol::profile::Profile;
use payseal_protocol::verdict::VerdictVerifier;
use payseal_protocol::{Outcome, SdkInfo, Store, VerifyRequest, VerifyResponse, PROTOCOL_VERSION};
use payseal_sandbox::{Order, SandboxStore};
use rand::RngCore;

mod common;
use common::arg;

struct Prepared {
    body: Vec<u8>,
    context: Mutex<Option<ClientContext>>,
    nonce: String,
}

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("load: {e}");
        std::process::exit(2);
    }
}

async fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    let profile = Profile::parse(
        &std::fs::read_to_string(arg(&args, "--profile")?).map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;
    let ca_pem = std::fs::read(arg(&args, "--ca")?).map_err(|e| e.to_string())?;
    let store_dir = arg(&args, "--store")?;
    let connections: usize = arg(&args, "--connections")
        .unwrap_or_else(|_| "64".into())
        .parse()
        .map_err(|_| "--connections")?;
    let seconds: u64 = arg(&args, "--seconds")
        .unwrap_or_else(|_| "30".into())
        .parse()
        .map_err(|_| "--seconds")?;
    let unique: usize = arg(&args, "--unique")
        .unwrap_or_else(|_| "2000".into())
        .parse()
        .map_err(|_| "--unique")?;
    let app = arg(&args, "--app").unwrap_or_else(|_| "dev.payseal.demo".into());
    let raw = args.iter().any(|a| a == "--raw");

    let store = SandboxStore::open_or_create(std::path::Path::new(&store_dir))
        .map_err(|e| e.to_string())?;
    let key_config = profile.key_config.clone();
    eprintln!("preparing {unique} receipts and sealed requests...");
    let mut prepared = Vec::with_capacity(unique);
    for i in 0..unique {
        let receipt = store
            .issue(&Order::new(Store::GooglePlay, app.clone(), "gems_100"))
            .map_err(|e| e.to_string())?;
        let mut nonce = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut nonce);
        let nonce = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(nonce);
        let request = VerifyRequest {
            v: PROTOCOL_VERSION,
            nonce: nonce.clone(),
            app_id: app.clone(),
            account_id: format!("load-account-{i}"),
            receipt,
            sdk: SdkInfo {
                name: "payseal-load".into(),
                version: env!("CARGO_PKG_VERSION").into(),
            },
            expected_product_id: None,
        };
        let plaintext = serde_json::to_vec(&request).map_err(|e| e.to_string())?;
        let (body, context) = seal_request(&key_config, &plaintext).map_err(|e| e.to_string())?;
        prepared.push(Prepared {
            body,
            context: Mutex::new(Some(context)),
            nonce,
        });
    }
    let prepared = Arc::new(prepared);

    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&ca_pem).map_err(|e| e.to_string())?)
        .pool_max_idle_per_host(connections)
        .http1_only()
        .build()
        .map_err(|e| e.to_string())?;
    let url = profile.verifier_url.verify_url();
    let verifier = Arc::new(VerdictVerifier::new(profile.verdict_keys.clone()));

    let request_bytes = prepared.first().map_or(0, |p| p.body.len());
    let response_bytes = Arc::new(AtomicUsize::new(0));
    let next = Arc::new(AtomicUsize::new(0));
    let errors = Arc::new(AtomicUsize::new(0));
    let paid_checked = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let deadline = start + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let response_bytes = response_bytes.clone();
        let (client, url, prepared, next, errors, paid_checked, verifier) = (
            client.clone(),
            url.clone(),
            prepared.clone(),
            next.clone(),
            errors.clone(),
            paid_checked.clone(),
            verifier.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let item = &prepared[next.fetch_add(1, Ordering::Relaxed) % prepared.len()];
                let t0 = Instant::now();
                let result = client
                    .post(&url)
                    .header("content-type", "application/payseal-request")
                    .body(item.body.clone())
                    .send()
                    .await;
                let body = match result {
                    Ok(r) if r.status().is_success() => r.bytes().await.ok(),
                    _ => None,
                };
                latencies.push(t0.elapsed().as_micros() as u64);
                let Some(body) = body.filter(|b| !b.is_empty()) else {
                    errors.fetch_add(1, Ordering::Relaxed);
                    continue;
                };
                response_bytes.store(body.len(), Ordering::Relaxed);
                if raw {
                    continue;
                }
                let context = item.context.lock().ok().and_then(|mut c| c.take());
                if let Some(context) = context {
                    let now = payseal_protocol::time::now_s();
                    let ok = context
                        .open_response(&body)
                        .ok()
                        .and_then(|plain| serde_json::from_slice::<VerifyResponse>(&plain).ok())
                        .and_then(|answer| verifier.verify(&answer.verdict, now).ok())
                        .is_some_and(|claims| {
                            claims.outcome == Outcome::Paid && claims.nonce == item.nonce
                        });
                    if ok {
                        paid_checked.fetch_add(1, Ordering::Relaxed);
                    } else {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.map_err(|e| e.to_string())?);
    }
    let elapsed = start.elapsed().as_secs_f64();
    all.sort_unstable();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0) as f64
            / 1000.0
    };
    let report = serde_json::json!({
        "connections": connections,
        "seconds": elapsed,
        "requests": all.len(),
        "requests_per_second": all.len() as f64 / elapsed,
        "p50_ms": pct(0.50),
        "p90_ms": pct(0.90),
        "p99_ms": pct(0.99),
        "max_ms": all.last().copied().unwrap_or(0) as f64 / 1000.0,
        "errors": errors.load(Ordering::Relaxed),
        "first_redemptions_checked": paid_checked.load(Ordering::Relaxed),
        "request_bytes": request_bytes,
        "response_bytes": response_bytes.load(Ordering::Relaxed),
    });
    println!(
        "{}",
        serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?
    );
    Ok(())
}
