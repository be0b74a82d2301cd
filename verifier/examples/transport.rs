//! Transport floor for `scripts/bench-verifier.sh`: the verifier's own TLS configuration
//! ([`payseal_verifier::server_config`]: rustls with ring, TLS 1.3) and HTTP stack (hyper's
//! HTTP/1.1 + HTTP/2 server on a multi-threaded tokio runtime, `TCP_NODELAY`), answering every
//! request by reading its body whole and returning a fixed body of the size of a sealed verdict.
//! Nothing else: no envelope, no store rule, no ledger, no routing, no metrics.
//!
//! Its CPU per request under the same load as the verifier is what TLS records, HTTP parsing and
//! the kernel's TCP cost on this machine: the part of the verifier's CPU that no change to
//! PaySeal's own code can remove. With `--busy-us X` each request also makes as many Ed25519
//! signatures as take about X µs alone, so the cores are as busy with crypto as the verifier's
//! and the transport is measured under the verifier's conditions (each request holds a core for
//! a while; the load client waits longer, and the kernel wakes it more often). The CPU time of
//! those signatures is counted apart, on each thread's own CPU clock: `GET /busy` answers the
//! total so far, in microseconds, so that process CPU minus it is the transport's.
//!
//! ```text
//! cargo run --release -p payseal-verifier --example transport -- --listen 127.0.0.1:8443 \
//!     --cert STATE/tls/cert.pem --key STATE/tls/key.pem --response-bytes 872 --busy-us 117
//! ```

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::body::{Body, Bytes};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use payseal_verifier::settings::TlsFiles;

mod common;
use common::arg;

/// This thread's CPU time so far, in nanoseconds.
fn thread_cpu_ns() -> u64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a valid timespec for the call to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

/// What each request does besides the transport: `signatures` Ed25519 signatures, their CPU
/// time added to `busy_ns`.
struct Work {
    key: ed25519_dalek::SigningKey,
    signatures: usize,
    busy_ns: AtomicU64,
}

impl Work {
    fn run(&self, message: &[u8]) {
        if self.signatures == 0 {
            return;
        }
        let start = thread_cpu_ns();
        for _ in 0..self.signatures {
            std::hint::black_box(ed25519_dalek::Signer::sign(&self.key, message));
        }
        self.busy_ns
            .fetch_add(thread_cpu_ns() - start, Ordering::Relaxed);
    }
}

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("transport: {e}");
        std::process::exit(2);
    }
}

async fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    let listen = arg(&args, "--listen")?;
    let files = TlsFiles {
        cert_pem: arg(&args, "--cert")?.into(),
        key_pem: arg(&args, "--key")?.into(),
    };
    let response_bytes: usize = arg(&args, "--response-bytes")?
        .parse()
        .map_err(|_| "--response-bytes: a number")?;
    let busy_us: f64 = arg(&args, "--busy-us")
        .unwrap_or_else(|_| "0".into())
        .parse()
        .map_err(|_| "--busy-us: a number of microseconds")?;
    let key = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
    // What one signature costs alone, to choose how many make `busy_us`.
    let message = vec![0u8; 1009];
    let start = thread_cpu_ns();
    for _ in 0..2000 {
        std::hint::black_box(ed25519_dalek::Signer::sign(&key, &message));
    }
    let per_signature_us = (thread_cpu_ns() - start) as f64 / 2000.0 / 1000.0;
    let work = Arc::new(Work {
        key,
        signatures: (busy_us / per_signature_us).round() as usize,
        busy_ns: AtomicU64::new(0),
    });

    let config = payseal_verifier::server_config(&files).map_err(|e| e.to_string())?;
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .map_err(|e| format!("{listen}: {e}"))?;
    // Not zeros: a body the size of a sealed verdict, as incompressible as one.
    let body = Bytes::from(
        (0..response_bytes)
            .map(|i| (i * 131 % 251) as u8)
            .collect::<Vec<_>>(),
    );
    println!(
        "listening; {} signatures per request, {per_signature_us:.1} µs each alone",
        work.signatures
    );
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let (acceptor, body, work) = (acceptor.clone(), body.clone(), work.clone());
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(tcp).await else {
                return;
            };
            let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                let (body, work) = (body.clone(), work.clone());
                async move {
                    if request.uri().path() == "/busy" {
                        let us = work.busy_ns.load(Ordering::Relaxed) / 1000;
                        return Ok::<_, Infallible>(Response::new(Body::from(us.to_string())));
                    }
                    // Read the request whole, as the verifier does before opening it.
                    let request = axum::body::to_bytes(Body::new(request.into_body()), usize::MAX)
                        .await
                        .unwrap_or_default();
                    work.run(&request);
                    Ok(Response::new(Body::from(body)))
                }
            });
            let _ = Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(tls), service)
                .await;
        });
    }
}
