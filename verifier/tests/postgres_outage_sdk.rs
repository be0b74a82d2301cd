//! The app's view of a PostgreSQL outage, through the real SDK (`payseal-sdk-core`, the object
//! Kotlin and Swift call) over pinned TLS: while the ledger's database is down the verifier
//! answers 503 + Retry-After, the SDK keeps the receipt pending; once PostgreSQL is back,
//! `retry_pending` gets a paid `first` verdict from the same, never restarted, verifier.
//!
//! Stops and starts the REAL test server through `PAYSEAL_TEST_PG_CTL` (one test per binary).

mod common;

use std::time::{Duration, Instant};

use common::pg::Outage;
use common::sdk::{ca_signed_tls, settings_on_free_port};
use common::{StateDir, APP};
use payseal_protocol::Store;
use payseal_sdk_core::ffi::{PendingOutcome, Redemption};
use payseal_sdk_core::{default_options, PaySeal};
use payseal_verifier::server::Server;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_keeps_the_receipt_pending_during_a_postgres_outage_then_gets_paid() {
    let state = StateDir::new();
    let ca_pem = ca_signed_tls(&state);
    let settings = settings_on_free_port(&state);
    let profile = payseal_verifier::profile::build(&settings)
        .unwrap()
        .to_json();

    let (ledger, _url) = common::pg::fresh_dyn_ledger().await;
    let server = Server::bind_with_ledger(settings, ledger.clone()).unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server.run(async move {
        let _ = stopped.await;
    }));

    let pending = tempfile::tempdir().unwrap();
    let mut options = default_options(APP.into());
    options.extra_roots_pem = vec![ca_pem];
    options.pending_dir = Some(pending.path().to_string_lossy().into_owned());
    options.connect_timeout_ms = 2_000;
    options.request_timeout_ms = 5_000;
    options.deadline_ms = 8_000;
    options.max_attempts = 2;
    options.base_backoff_ms = 20;
    let sdk = PaySeal::new(profile, options).unwrap();

    let receipt = state.issue(Store::GooglePlay);
    let mut outage = Outage::begin();
    let err = sdk
        .verify(receipt.clone(), "alice".into())
        .await
        .unwrap_err();
    assert!(err.message().contains("kept pending"), "{err}");
    assert!(err.message().contains("503"), "the verifier's 503: {err}");
    assert_eq!(sdk.pending_count().unwrap(), 1);
    let results = sdk.retry_pending().await.unwrap();
    assert!(
        matches!(results[0].outcome, PendingOutcome::StillPending { .. }),
        "{results:?}"
    );
    assert_eq!(sdk.pending_count().unwrap(), 1);

    outage.end();
    let deadline = Instant::now() + Duration::from_secs(30);
    let verdict = loop {
        let results = sdk.retry_pending().await.unwrap();
        assert_eq!(results.len(), 1);
        match &results[0].outcome {
            PendingOutcome::Verified { verdict } => break verdict.clone(),
            other => assert!(
                Instant::now() < deadline,
                "still pending 30 s after PostgreSQL came back: {other:?}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(verdict.paid);
    assert_eq!(verdict.redemption, Some(Redemption::First));
    assert_eq!(sdk.pending_count().unwrap(), 0);
    assert_eq!(ledger.count_redemptions().await.unwrap(), 1);

    let _ = stop.send(());
    task.await.unwrap().unwrap();
}
