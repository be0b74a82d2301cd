//! What the Play live check (`live_check = true`) costs a `/v1/verify` request (issue 23):
//! p50/p99 over real TLS with keep-alive, against the fake Play Developer API of the tests
//! (`tests/google_support`, shared here with `#[path]`, not copied) answering its purchase
//! endpoints after an injected latency (30 ms by default), access token cached.
//!
//! One process runs the fake, two verifiers (the same dev setup with the Play API configured,
//! one with `live_check = true`, one with `live_check = false`) and one keep-alive HTTPS
//! client per verifier, then sends, interleaved in rotating order, per round:
//!
//! - (a) a first verification with the live check (one `purchases.products.get`);
//! - (b) a repeat of an earlier (a) receipt by the same account (asks Google nothing);
//! - (c) a first verification with the live check off;
//! - (d) the API's own latency: `purchases.products.get` straight to the fake from a
//!   keep-alive client with the verifier's cached access token.
//!
//! Each request is sealed before its clock starts; every verdict is opened and checked after
//! (first/repeat, paid, `store_checked`), and the fake's call count must match: (a) asked
//! Google once each, (b) and (c) never. Overhead = p(a) − p(c) − the injected latency, and
//! p(a) − p(c) − p(d) (the API's latency as measured, which includes the timer's rounding).
//!
//! ```text
//! scripts/bench-play-live.sh            # = cargo bench -p payseal-verifier --bench play_live
//! cargo bench -p payseal-verifier --bench play_live -- --requests 400 --latency-ms 30
//! ```

// The shared test support (the fake Google, the test verifier and its HTTPS client); the
// scenario modules of google_support refer to `crate::common` and `crate::webhook_support`.
#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../tests/google_support/mod.rs"]
mod google_support;
#[path = "../tests/webhook_support/mod.rs"]
mod webhook_support;

use std::time::{Duration, Instant};

use common::{open_verdict, request, StateDir, TestServer, APP};
use google_support::ack_scenario::{buy, configure_api_with, wait_calls};
use google_support::voided_scenario::purchase_token;
use google_support::{keys, FakeGoogle, API_ACCOUNT};
use payseal_protocol::{Outcome, Receipt, Redemption, VerdictClaims};
use payseal_verifier::server::REQUEST_CONTENT_TYPE;

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name}: not a number: {v}"))
        })
        .unwrap_or(default)
}

/// Post one sealed request; the time from sending to the whole body, and the checked claims.
async fn timed_verify(
    server: &TestServer,
    account: &str,
    receipt: &Receipt,
) -> (Duration, VerdictClaims) {
    let req = request(APP, account, receipt);
    let (body, ctx) = server.seal(&req);
    let started = Instant::now();
    let response = server
        .client
        .post(server.url("/v1/verify"))
        .header(reqwest::header::CONTENT_TYPE, REQUEST_CONTENT_TYPE)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let sealed = response.bytes().await.unwrap();
    let took = started.elapsed();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&sealed));
    let claims = open_verdict(&server.verdicts, ctx, &sealed);
    assert_eq!(claims.nonce, req.nonce);
    (took, claims)
}

/// `purchases.products.get` straight to the fake with `bearer` (the API's own latency).
async fn timed_api(
    client: &reqwest::Client,
    google: &FakeGoogle,
    bearer: &str,
    receipt: &Receipt,
    product: &str,
) -> Duration {
    let url = google.url(&format!(
        "/androidpublisher/v3/applications/{APP}/purchases/products/{product}/tokens/{}",
        purchase_token(receipt)
    ));
    let started = Instant::now();
    let response = client.get(url).bearer_auth(bearer).send().await.unwrap();
    let status = response.status();
    let body = response.bytes().await.unwrap();
    let took = started.elapsed();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    took
}

fn gets(google: &FakeGoogle) -> usize {
    google
        .purchase_calls()
        .iter()
        .filter(|c| c.as_str() == "purchases.products.get")
        .count()
}

/// Nearest-rank percentile (`p` in 0..=100) of sorted samples, in milliseconds.
fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1].as_secs_f64() * 1000.0
}

struct Summary {
    p50: f64,
    p99: f64,
    min: f64,
    max: f64,
}

fn summarize(samples: &mut [Duration]) -> Summary {
    samples.sort();
    Summary {
        p50: percentile(samples, 50.0),
        p99: percentile(samples, 99.0),
        min: samples[0].as_secs_f64() * 1000.0,
        max: samples[samples.len() - 1].as_secs_f64() * 1000.0,
    }
}

/// A verifier on a fresh dev state directory with the Play API (the fake) configured.
async fn verifier(google: &FakeGoogle, live_check: bool) -> TestServer {
    let state = StateDir::new();
    configure_api_with(&state, google, &[], &format!("live_check = {live_check}"));
    TestServer::start_on(state, |_| {}).await
}

fn main() {
    let requests = arg("--requests", 400) as usize;
    let latency_ms = arg("--latency-ms", 30);
    let warmup = (arg("--warmup", 20) as usize).max(1);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run(requests, latency_ms, warmup));
}

async fn run(requests: usize, latency_ms: u64, warmup: usize) {
    let google = FakeGoogle::start().await;
    google.register_account(API_ACCOUNT, &keys()[3]);
    let on = verifier(&google, true).await;
    let off = verifier(&google, false).await;
    let api_client = reqwest::Client::new();

    // Receipts, all distinct, issued (RSA-signed) before any clock starts.
    let issue = |server: &TestServer, n: usize, tag: &str| -> Vec<(Receipt, String)> {
        (0..n)
            .map(|i| {
                let product = format!("{tag}_{i}");
                (buy(&server.state, &google, &product), product)
            })
            .collect()
    };
    let first_on = issue(&on, warmup + requests, "live");
    let first_off = issue(&off, warmup + requests, "off");

    // Warm-up, without the injected latency: TLS sessions and keep-alive connections open,
    // the access token fetched and cached, SQLite and the allocator warm.
    for i in 0..warmup {
        let (_, v) = timed_verify(&on, "alice", &first_on[i].0).await;
        assert_eq!(v.redemption, Some(Redemption::First));
        let (_, v) = timed_verify(&on, "alice", &first_on[i].0).await;
        assert_eq!(v.redemption, Some(Redemption::Repeat));
        let (_, v) = timed_verify(&off, "alice", &first_off[i].0).await;
        assert_eq!(v.redemption, Some(Redemption::First));
    }
    // The warm-up's acknowledgements (queued after each first redemption, sent in the
    // background by both verifiers) are done, so both verifiers hold their access token.
    wait_calls(&google, "warm-up acknowledgements", |calls| {
        calls
            .iter()
            .filter(|c| c.as_str() == "purchases.products.acknowledge")
            .count()
            >= 2 * warmup
    })
    .await;
    // Any token the fake issued is accepted; both verifiers (live check, acknowledgements) hold
    // one. None is fetched again while measuring: the count is checked at the end.
    let (bearer, tokens) = {
        let s = google.state.lock().unwrap();
        (s.issued[0].clone(), s.issued.len())
    };
    timed_api(
        &api_client,
        &google,
        &bearer,
        &first_on[0].0,
        &first_on[0].1,
    )
    .await;
    google.state.lock().unwrap().api_delay = Duration::from_millis(latency_ms);
    let gets_before = gets(&google);

    let (mut a, mut b, mut c, mut d) = (vec![], vec![], vec![], vec![]);
    for round in 0..requests {
        let i = warmup + round;
        // Rotate which kind goes first, so none always follows the same one.
        for k in 0..4 {
            match (round + k) % 4 {
                0 => {
                    let before = gets(&google);
                    let (t, v) = timed_verify(&on, "alice", &first_on[i].0).await;
                    assert_eq!(
                        (v.outcome, v.redemption, v.store_checked),
                        (Outcome::Paid, Some(Redemption::First), Some(true))
                    );
                    assert_eq!(gets(&google), before + 1, "(a) asks Google once");
                    a.push(t);
                }
                1 => {
                    // A repeat of a receipt (a) already redeemed (this round's, if (a) ran).
                    let j = if a.len() > round { i } else { i - 1 };
                    let before = gets(&google);
                    let (t, v) = timed_verify(&on, "alice", &first_on[j].0).await;
                    assert_eq!(
                        (v.outcome, v.redemption),
                        (Outcome::Paid, Some(Redemption::Repeat))
                    );
                    assert_eq!(gets(&google), before, "(b) a repeat asks Google nothing");
                    b.push(t);
                }
                2 => {
                    let before = gets(&google);
                    let (t, v) = timed_verify(&off, "alice", &first_off[i].0).await;
                    assert_eq!(
                        (v.outcome, v.redemption, v.store_checked),
                        (Outcome::Paid, Some(Redemption::First), None)
                    );
                    assert_eq!(gets(&google), before, "(c) live check off asks nothing");
                    c.push(t);
                }
                _ => {
                    let (receipt, product) = &first_off[i];
                    d.push(timed_api(&api_client, &google, &bearer, receipt, product).await);
                }
            }
        }
    }
    // (a) asked once each, (d) once each; nothing else asked products.get.
    assert_eq!(gets(&google) - gets_before, 2 * requests);
    assert_eq!(
        google.state.lock().unwrap().issued.len(),
        tokens,
        "access tokens cached: none fetched while measuring"
    );

    let (a, b, c, d) = (
        summarize(&mut a),
        summarize(&mut b),
        summarize(&mut c),
        summarize(&mut d),
    );
    println!(
        "play_live: {requests} requests of each kind, injected API latency {latency_ms} ms, \
         keep-alive HTTPS, access token cached (milliseconds)"
    );
    println!(
        "{:<44} {:>8} {:>8} {:>8} {:>8}",
        "", "p50", "p99", "min", "max"
    );
    for (name, s) in [
        ("(a) first verification, live check on", &a),
        ("(b) repeat, live check on", &b),
        ("(c) first verification, live check off", &c),
        ("(d) the fake API alone (products.get)", &d),
    ] {
        println!(
            "{name:<44} {:>8.2} {:>8.2} {:>8.2} {:>8.2}",
            s.p50, s.p99, s.min, s.max
        );
    }
    let injected = latency_ms as f64;
    println!(
        "overhead (a) - (c) - {latency_ms} ms:  p50 {:+.2} ms, p99 {:+.2} ms",
        a.p50 - c.p50 - injected,
        a.p99 - c.p99 - injected
    );
    println!(
        "overhead (a) - (c) - (d):      p50 {:+.2} ms, p99 {:+.2} ms",
        a.p50 - c.p50 - d.p50,
        a.p99 - c.p99 - d.p99
    );
    println!(
        "repeat (b) - first off (c):    p50 {:+.2} ms, p99 {:+.2} ms",
        b.p50 - c.p50,
        b.p99 - c.p99
    );
}
