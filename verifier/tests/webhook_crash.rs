//! No webhook is lost across a crash: the real `payseal-verifier serve` binary signs `paid /
//! first` verdicts while the app's receiver is down, is killed with SIGKILL before any delivery
//! succeeds, and is started again on the same SQLite file once the receiver is up: every
//! verdict's `purchase.paid` event arrives (deduplicated by id, exactly the set of verdicts).

mod common;
mod webhook_support;

use std::collections::HashSet;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{bin, client_for, free_port, open_verdict, request, StateDir, APP};
use payseal_protocol::envelope;
use payseal_protocol::verdict::VerdictVerifier;
use payseal_protocol::{Outcome, Redemption, Store};
use payseal_verifier::server::REQUEST_CONTENT_TYPE;
use webhook_support::{configure, RunningReceiver};

struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn serve(state: &StateDir, port: u16, log: &str) -> Serve {
    let log = state.dir.path().join(log);
    let mut child = Serve(
        Command::new(bin())
            .args(["serve", "--config"])
            .arg(&state.paths.config)
            .env("PAYSEAL_LISTEN", format!("127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    let client = client_for(&state.paths.tls_cert);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            panic!(
                "verifier exited ({status}): {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        let ready = client
            .get(format!("https://127.0.0.1:{port}/readyz"))
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200);
        if ready {
            return child;
        }
        assert!(Instant::now() < deadline, "verifier not ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_before_delivery_then_restart_delivers_every_paid_first() {
    let state = StateDir::new();
    // The receiver's port, reserved but closed: deliveries are refused until it starts.
    let receiver_port = free_port();
    let receiver_url = format!("http://127.0.0.1:{receiver_port}/hooks/payseal");
    configure(&state.paths.config, &receiver_url);
    let settings = state.settings();
    let key_config = settings.hpke_keys[0].config();
    let verdicts = VerdictVerifier::new(
        settings
            .verdict_keys
            .iter()
            .map(|k| k.public_key())
            .collect(),
    );
    let port = free_port();
    let client = client_for(&state.paths.tls_cert);

    let mut first = serve(&state, port, "run-1.log").await;
    let mut jtis = HashSet::new();
    for i in 0..8 {
        let receipt = state.issue(Store::GooglePlay);
        let req = request(APP, &format!("acct-{i}"), &receipt);
        let (body, ctx) =
            envelope::seal_request(&key_config, &serde_json::to_vec(&req).unwrap()).unwrap();
        let response = client
            .post(format!("https://127.0.0.1:{port}/v1/verify"))
            .header(reqwest::header::CONTENT_TYPE, REQUEST_CONTENT_TYPE)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let v = open_verdict(&verdicts, ctx, &response.bytes().await.unwrap());
        assert_eq!(
            (v.outcome, v.redemption),
            (Outcome::Paid, Some(Redemption::First))
        );
        jtis.insert(v.jti);
    }
    // Let the worker fail a few attempts, then kill -9.
    tokio::time::sleep(Duration::from_millis(300)).await;
    first.0.kill().unwrap();
    first.0.wait().unwrap();
    drop(first);

    // Nothing was delivered: the rows are in the file, pending.
    let ledger = payseal_verifier::ledger::open(&settings.ledger_url).unwrap();
    assert_eq!(ledger.count_pending().await.unwrap(), 8);
    drop(ledger);

    let receiver =
        RunningReceiver::start_on(format!("127.0.0.1:{receiver_port}").parse().unwrap(), 0).await;
    let _second = serve(&state, port, "run-2.log").await;
    receiver
        .wait_for(Duration::from_secs(30), "all 8 events", |s| {
            s.events.len() >= 8
        })
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let got: HashSet<String> = receiver.events().into_iter().map(|e| e.id).collect();
    assert_eq!(got, jtis, "exactly the verdicts' events, none lost");
    assert!(receiver.receiver.seen.lock().unwrap().rejected.is_empty());
}
