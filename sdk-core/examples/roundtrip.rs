//! Benchmark (not a test): SDK round trip to a local verifier in dev mode (self-signed
//! certificate trusted as an extra root and pinned, SQLite ledger), through the same
//! `PaySeal` object the apps use.
//!
//! - cold: a new `PaySeal` per call, so a new TCP + TLS 1.3 handshake each time;
//! - warm: one `PaySeal`, the pooled connection reused (repeat redemptions by the same account).
//!
//! ```text
//! cargo run --release -p payseal-sdk-core --example roundtrip -- [WARM_N] [COLD_N]
//! ```

use std::time::{Duration, Instant};

use payseal_protocol::Store;
use payseal_sandbox::{Order, SandboxStore};
use payseal_sdk_core::{default_options, PaySeal};
use payseal_verifier::dev::DEV_APP_ID;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{name:5} n={:4}  p50={:7.3} ms  p99={:7.3} ms  min={:7.3} ms  max={:7.3} ms",
        samples.len(),
        ms(percentile(&samples, 0.50)),
        ms(percentile(&samples, 0.99)),
        ms(samples[0]),
        ms(samples[samples.len() - 1]),
    );
}

fn main() {
    let mut args = std::env::args().skip(1);
    let warm_n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(500);
    let cold_n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100);

    let dir = tempfile::tempdir().expect("temp dir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let listen = format!("127.0.0.1:{port}").parse().expect("address");
    let paths = payseal_verifier::dev::prepare(dir.path(), listen).expect("dev state");
    let settings = payseal_verifier::dev::load(&paths, listen).expect("dev config");
    let profile = payseal_verifier::profile::build(&settings)
        .expect("profile")
        .to_json();
    let server = payseal_verifier::server::Server::bind(settings).expect("bind");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("server runtime");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = rt.spawn(server.run(async move {
        let _ = stopped.await;
    }));

    let store = SandboxStore::open_or_create(&paths.sandbox_store).expect("sandbox store");
    let mut options = default_options(DEV_APP_ID.into());
    options.extra_roots_pem = vec![std::fs::read_to_string(&paths.tls_cert).expect("cert")];
    let receipt = store
        .issue(&Order::new(Store::GooglePlay, DEV_APP_ID, "coins_100"))
        .expect("purchase");

    let sdk = PaySeal::new(profile.clone(), options.clone()).expect("sdk");
    let first = sdk
        .verify_blocking(receipt.clone(), "bench".into())
        .expect("first verify");
    assert!(first.paid, "the genuine purchase must be paid");

    let mut warm = Vec::with_capacity(warm_n);
    for _ in 0..warm_n {
        let t = Instant::now();
        let v = sdk
            .verify_blocking(receipt.clone(), "bench".into())
            .expect("warm verify");
        warm.push(t.elapsed());
        assert!(v.paid);
    }

    let mut cold = Vec::with_capacity(cold_n);
    for _ in 0..cold_n {
        let fresh = PaySeal::new(profile.clone(), options.clone()).expect("sdk");
        let t = Instant::now();
        let v = fresh
            .verify_blocking(receipt.clone(), "bench".into())
            .expect("cold verify");
        cold.push(t.elapsed());
        assert!(v.paid);
    }

    println!("SDK round trip to a local verifier (loopback, TLS 1.3 + pins, HPKE, Ed25519 verdict, SQLite)");
    report("warm", warm);
    report("cold", cold);
    let _ = stop.send(());
    let _ = rt.block_on(serving);
}
