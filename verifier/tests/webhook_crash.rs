//! No webhook is lost across a crash: the real `payseal-verifier serve` binary signs `paid /
//! first` verdicts while the app's receiver is down, is killed with SIGKILL before any delivery
//! succeeds, and is started again on the same SQLite file once the receiver is up: every
//! verdict's `purchase.paid` event arrives (deduplicated by id, exactly the set of verdicts).

mod common;
mod webhook_support;

use std::collections::HashSet;
use std::time::Duration;

use common::process::{serve, verify_at};
use common::{free_port, StateDir};
use payseal_protocol::{Outcome, Redemption, Store};
use webhook_support::{configure, RunningReceiver};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_before_delivery_then_restart_delivers_every_paid_first() {
    let state = StateDir::new();
    // The receiver's port, reserved but closed: deliveries are refused until it starts.
    let receiver_port = free_port();
    let receiver_url = format!("http://127.0.0.1:{receiver_port}/hooks/payseal");
    configure(&state.paths.config, &receiver_url);
    let settings = state.settings();
    let port = free_port();

    let mut first = serve(&state, port, "run-1.log").await;
    let mut jtis = HashSet::new();
    for i in 0..8 {
        let receipt = state.issue(Store::GooglePlay);
        let v = verify_at(&state, port, &format!("acct-{i}"), &receipt).await;
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
