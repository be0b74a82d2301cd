//! PostgreSQL stopped while the verifier runs: `/readyz` is not ready, `/v1/verify` answers
//! `503` with a problem document and `Retry-After`, nothing is recorded; PostgreSQL started
//! again: verification resumes in the same verifier (its pool reconnects), no restart.
//!
//! Stops and starts the REAL test server through `PAYSEAL_TEST_PG_CTL` (scripts/postgres.sh),
//! so this binary holds one test only (cargo runs test binaries one after another).

mod common;

use std::time::{Duration, Instant};

use common::pg::Outage;
use common::{request, StateDir, TestServer, APP};
use payseal_protocol::{Outcome, Reason, Redemption, Store};

async fn readyz(server: &TestServer) -> reqwest::Response {
    server
        .client
        .get(server.url("/readyz"))
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_outage_is_503_and_not_ready_then_verification_resumes_without_restart() {
    let (ledger, _url) = common::pg::fresh_dyn_ledger().await;
    let state = StateDir::new();
    let settings = state.settings();
    let mut server = TestServer::start_with_ledger(state, settings, ledger.clone()).await;

    let before = server.state.issue(Store::GooglePlay);
    let during = server.state.issue(Store::AppStore);
    let v = server.verify("alice", &before).await;
    assert_eq!(
        (v.outcome, v.redemption),
        (Outcome::Paid, Some(Redemption::First))
    );
    assert_eq!(readyz(&server).await.status(), 200);

    let mut outage = Outage::begin();

    let r = readyz(&server).await;
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "1");
    assert_eq!(r.headers()["content-type"], "application/problem+json");

    // Several requests, so that every pooled connection has met the outage.
    for account in ["bob", "alice", "carol"] {
        let receipt = if account == "alice" { &before } else { &during };
        let (body, _) = server.seal(&request(APP, account, receipt));
        let started = Instant::now();
        let response = server.post(body).await;
        assert_eq!(response.status(), 503, "{account}");
        assert_eq!(response.headers()["retry-after"], "1");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        let problem: serde_json::Value = response.json().await.unwrap();
        assert_eq!(problem["status"], 503);
        assert!(
            problem["detail"].as_str().unwrap_or("").contains("ledger"),
            "the ledger's 503, not a request timeout: {problem}"
        );
        // Refused connections fail fast: well before the 10 s request timeout.
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "{:?}",
            started.elapsed()
        );
    }

    outage.end();

    // The same server, same ledger object: ready again once the pool reconnects.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if readyz(&server).await.status() == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not ready 30 s after PostgreSQL came back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Nothing was recorded during the outage: bob is first now.
    assert_eq!(ledger.count_redemptions().await.unwrap(), 1);
    let v = server.verify("bob", &during).await;
    assert_eq!(
        (v.outcome, v.redemption),
        (Outcome::Paid, Some(Redemption::First))
    );
    let v = server.verify("alice", &before).await;
    assert_eq!(
        (v.outcome, v.redemption),
        (Outcome::Paid, Some(Redemption::Repeat))
    );
    let v = server.verify("carol", &during).await;
    assert_eq!(v.reason, Some(Reason::AlreadyRedeemed));
    assert_eq!(ledger.count_redemptions().await.unwrap(), 2);
    server.stop().await.unwrap();
}
