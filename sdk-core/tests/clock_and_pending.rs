//! Issue 14, against a real verifier over pinned TLS: a wrong device clock loses no paid
//! purchase (the verdict echoes the nonce, its skew is reported), an answer that does not
//! check out keeps the receipt pending, and `retry_pending` sends pending files only for the
//! client's own app id, refusing truncated, edited and other apps' files without sending them.

mod common;

use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use common::{files_in, Relay, RelayMode, TestVerifier, APP};
use payseal_protocol::{Receipt, Store};
use payseal_sdk_core::ffi::Redemption;
use payseal_sdk_core::PendingStore;
use payseal_sdk_core::{
    set_logger, Client, ClientError, LogLevel, OffsetClock, Options, PaySeal, PaySealError,
    PaySealErrorKind, PaySealLogger, PendingOutcome, Refusal,
};

const MINUTE: i64 = 60;
const HOUR: i64 = 3_600;
const DAY: i64 = 86_400;

/// A measured skew is the offset give or take the test's own latency.
fn assert_skew(measured: i64, offset: i64) {
    assert!(
        (measured - offset).abs() <= 5,
        "skew {measured} s for a clock offset of {offset} s"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_device_clocks_lose_no_paid_purchase() {
    let verifier = TestVerifier::start().await;
    for offset in [-2 * MINUTE, HOUR, DAY] {
        let pending = tempfile::tempdir().unwrap();
        let sdk = PaySeal::new_with_clock_offset(
            verifier.profile_json.clone(),
            verifier.options(Some(pending.path())),
            offset,
        )
        .unwrap();
        let receipt = verifier.issue(Store::GooglePlay);
        let verdict = sdk
            .verify(receipt.clone(), "alice".into())
            .await
            .unwrap_or_else(|e| panic!("clock {offset:+} s: {e}"));
        assert!(verdict.paid, "clock {offset:+} s: {verdict:?}");
        assert_eq!(verdict.redemption, Some(Redemption::First));
        assert_eq!(verdict.receipt_sha256, receipt.sha256_hex());
        assert_skew(verdict.device_clock_skew_secs, offset);
        // Not lost, and nothing left to retry.
        assert_eq!(sdk.pending_count().unwrap(), 0, "clock {offset:+} s");
        assert!(files_in(pending.path()).is_empty());
    }
}

/// Collects log events (the logger is process-wide: only presence is asserted).
#[derive(Default)]
struct Collect(Mutex<Vec<(LogLevel, String)>>);

impl PaySealLogger for Collect {
    fn log(&self, level: LogLevel, message: String) {
        self.0.lock().unwrap().push((level, message));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rust_client_takes_an_injected_clock_and_logs_the_skew() {
    let logs = Arc::new(Collect::default());
    set_logger(logs.clone());
    let verifier = TestVerifier::start().await;
    let mut options = Options::new(APP);
    options.extra_roots_pem = vec![verifier.ca.pem.clone()];
    let client = Client::new(&verifier.profile_json, options)
        .unwrap()
        .with_clock(Arc::new(OffsetClock { offset_secs: -DAY }));
    let verdict = client
        .verify(&verifier.issue(Store::Sandbox), "bob")
        .await
        .unwrap();
    assert!(verdict.is_paid());
    assert_skew(verdict.device_clock_skew_secs, -DAY);
    let warned = logs.0.lock().unwrap().iter().any(|(level, m)| {
        *level == LogLevel::Warn && m.contains("device clock skew -86") && m.contains("accepted")
    });
    assert!(warned, "{:#?}", logs.0.lock().unwrap());
}

/// A fresh receipt verified for alice through a relay in `mode`: the error, how many
/// requests the relay received, the pending folder and the receipt.
async fn through_relay(
    verifier: &TestVerifier,
    mode: RelayMode,
) -> (PaySealError, usize, tempfile::TempDir, Receipt) {
    let relay = Relay::start(verifier, mode).await;
    let pending = tempfile::tempdir().unwrap();
    let sdk = verifier.sdk_via(relay.addr, Some(pending.path()));
    let receipt = verifier.issue(Store::GooglePlay);
    let err = sdk
        .verify(receipt.clone(), "alice".into())
        .await
        .unwrap_err();
    assert!(err.message().contains("kept pending"), "{err}");
    assert_eq!(read_entry(pending.path(), &receipt)["account_id"], "alice");
    (err, relay.requests.load(Ordering::SeqCst), pending, receipt)
}

/// `retry_pending` over the direct connection gets the verdict the verifier recorded when
/// the first answer was lost: paid, a repeat, and nothing left pending.
async fn retry_gets_the_recorded_verdict(
    verifier: &TestVerifier,
    pending: &Path,
    receipt: &Receipt,
) {
    let direct = verifier.sdk(Some(pending));
    let results = direct.retry_pending().await.unwrap();
    assert_eq!(results.len(), 1);
    match &results[0].outcome {
        PendingOutcome::Verified { verdict } => {
            assert!(verdict.paid);
            assert_eq!(verdict.account_id, "alice");
            assert_eq!(verdict.receipt_sha256, receipt.sha256_hex());
            assert_eq!(verdict.redemption, Some(Redemption::Repeat));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(direct.pending_count().unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_that_does_not_check_out_keeps_the_receipt_pending_for_the_real_verdict() {
    // A relay with the verifier's key flips a bit in the sealed answer: the verifier has
    // recorded the redemption, the SDK cannot open the answer.
    let verifier = TestVerifier::start().await;
    let (err, requests, pending, receipt) = through_relay(&verifier, RelayMode::FlipBit).await;
    assert_eq!(err.kind(), PaySealErrorKind::Tampered, "{err}");
    assert_eq!(requests, 1, "not retried");
    assert_eq!(
        read_entry(pending.path(), &receipt)["last_error"],
        "tampered"
    );
    retry_gets_the_recorded_verdict(&verifier, pending.path(), &receipt).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_lost_after_sending_keeps_the_receipt_pending_for_the_real_verdict() {
    let verifier = TestVerifier::start().await;
    let (err, requests, pending, receipt) = through_relay(&verifier, RelayMode::CutAnswer).await;
    assert_eq!(err.kind(), PaySealErrorKind::Network, "{err}");
    // Retried within the call (each attempt reached the verifier), then kept.
    assert_eq!(requests, 4);
    assert_eq!(
        read_entry(pending.path(), &receipt)["last_error"],
        "network"
    );
    retry_gets_the_recorded_verdict(&verifier, pending.path(), &receipt).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_verdict_keeps_the_receipt_pending() {
    // The relay answers every request with the first answer it forwarded: a genuine verdict
    // for another request (its nonce and receipt differ). Refused, and the second receipt,
    // which the verifier recorded, is kept for retry.
    let verifier = TestVerifier::start().await;
    let relay = Relay::start(&verifier, RelayMode::ReplayFirst).await;
    let pending = tempfile::tempdir().unwrap();
    let sdk = verifier.sdk_via(relay.addr, Some(pending.path()));
    let first = sdk
        .verify(verifier.issue(Store::GooglePlay), "alice".into())
        .await
        .unwrap();
    assert!(first.paid);
    let second = verifier.issue(Store::GooglePlay);
    let err = sdk
        .verify(second.clone(), "alice".into())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), PaySealErrorKind::Tampered, "{err}");
    assert_eq!(sdk.pending_count().unwrap(), 1);
    retry_gets_the_recorded_verdict(&verifier, pending.path(), &second).await;
}

fn read_entry(dir: &Path, receipt: &Receipt) -> serde_json::Value {
    let file = dir.join(format!("{}.json", receipt.sha256_hex()));
    serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap()
}

fn file_of(dir: &Path, receipt: &Receipt) -> std::path::PathBuf {
    dir.join(format!("{}.json", receipt.sha256_hex()))
}

/// A pending file for `receipt`, as the SDK writes it after a network failure.
fn keep(dir: &Path, receipt: &Receipt, account: &str, app: &str) {
    PendingStore::open(dir)
        .unwrap()
        .record_failure(receipt, account, app, 1, PaySealErrorKind::Network, 1)
        .unwrap();
}

/// Whether the verifier never saw `receipt`: a new account's verify is its first redemption.
async fn never_redeemed(verifier: &TestVerifier, receipt: &Receipt) -> bool {
    let v = verifier
        .sdk(None)
        .verify(receipt.clone(), "control-account".into())
        .await
        .unwrap();
    v.paid && v.redemption == Some(Redemption::First)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_apps_pending_file_is_refused_reported_and_never_sent() {
    let verifier = TestVerifier::start().await;
    let pending = tempfile::tempdir().unwrap();
    let sdk = verifier.sdk(Some(pending.path()));
    // A genuine receipt of this app, in a file edited to name another app (or another app's
    // file dropped into this folder), next to a normal pending file.
    let foreign = verifier.issue(Store::GooglePlay);
    keep(pending.path(), &foreign, "alice", "com.other.game");
    let own = verifier.issue(Store::GooglePlay);
    keep(pending.path(), &own, "alice", APP);
    let before = std::fs::read(file_of(pending.path(), &foreign)).unwrap();

    let results = sdk.retry_pending().await.unwrap();
    assert_eq!(results.len(), 2);
    let of = |r: &Receipt| {
        results
            .iter()
            .find(|x| x.receipt_sha256 == r.sha256_hex())
            .unwrap()
    };
    match &of(&foreign).outcome {
        PendingOutcome::Refused { kind, message } => {
            assert_eq!(*kind, PaySealErrorKind::InvalidReceipt);
            assert!(message.contains("com.other.game"), "{message}");
            assert!(message.contains("not sent"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(of(&foreign).app_id, "com.other.game");
    assert!(
        matches!(&of(&own).outcome, PendingOutcome::Verified { verdict } if verdict.paid && verdict.app_id == APP)
    );
    // The refused file is left as it was; the verified one is gone.
    assert_eq!(
        std::fs::read(file_of(pending.path(), &foreign)).unwrap(),
        before
    );
    assert!(!file_of(pending.path(), &own).exists());
    assert_eq!(sdk.pending_count().unwrap(), 1);
    // And it was never sent: the verifier has not recorded it for anyone.
    assert!(never_redeemed(&verifier, &foreign).await);

    // The Rust API says the same, with a typed refusal.
    let client = sdk.client();
    let reports = client.retry_pending().await.unwrap();
    assert_eq!(reports.len(), 1);
    assert!(reports[0].is_refused());
    assert!(matches!(
        &reports[0].result,
        Err(ClientError::PendingRefused(Refusal::OtherApp { file_app, client_app }))
            if file_app == "com.other.game" && client_app == APP
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_and_edited_pending_files_are_reported_never_sent() {
    let verifier = TestVerifier::start().await;
    let pending = tempfile::tempdir().unwrap();
    let sdk = verifier.sdk(Some(pending.path()));

    // Truncated mid-write by something other than the SDK (whose writes are atomic).
    let truncated = verifier.issue(Store::GooglePlay);
    keep(pending.path(), &truncated, "alice", APP);
    let path = file_of(pending.path(), &truncated);
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();

    // The receipt edited in place (product changed), the file not renamed: its name is no
    // longer its receipt's hash.
    let edited = verifier.issue(Store::GooglePlay);
    keep(pending.path(), &edited, "alice", APP);
    let path = file_of(pending.path(), &edited);
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace("coins_100", "coins_999")).unwrap();

    // An account id edited to nothing.
    let no_account = verifier.issue(Store::GooglePlay);
    keep(pending.path(), &no_account, "alice", APP);
    let path = file_of(pending.path(), &no_account);
    let mut entry: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    entry["account_id"] = serde_json::json!("   ");
    std::fs::write(&path, serde_json::to_vec(&entry).unwrap()).unwrap();

    // Not JSON at all.
    let garbage = pending.path().join(format!("{}.json", "ab".repeat(32)));
    std::fs::write(&garbage, [0xff, 0x00, 0x7b]).unwrap();

    let results = sdk.retry_pending().await.unwrap();
    assert_eq!(results.len(), 4, "{results:#?}");
    for r in &results {
        match &r.outcome {
            PendingOutcome::Refused { kind, message } => {
                assert_eq!(*kind, PaySealErrorKind::InvalidReceipt, "{message}");
                assert!(message.contains("not sent"), "{message}");
                // Never quotes the receipt.
                assert!(!message.contains("purchaseToken"), "{message}");
            }
            other => panic!("{}: {other:?}", r.receipt_sha256),
        }
    }
    let message_of = |r: &Receipt| match &results
        .iter()
        .find(|x| x.receipt_sha256 == r.sha256_hex())
        .unwrap()
        .outcome
    {
        PendingOutcome::Refused { message, .. } => message.clone(),
        other => panic!("{other:?}"),
    };
    assert!(message_of(&truncated).contains("truncated"));
    assert!(message_of(&edited).contains("does not match the file name"));
    assert!(message_of(&no_account).contains("account id is empty or blank"));
    // All four left on disk, none sent.
    assert_eq!(sdk.pending_count().unwrap(), 4);
    for r in [&truncated, &edited, &no_account] {
        assert!(never_redeemed(&verifier, r).await);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_files_account_is_used_and_the_clients_app_id_wins() {
    // A file edited on a rooted device to another account: sent for that account (the file
    // can only re-target its own receipt), and always for the client's own app id.
    let verifier = TestVerifier::start().await;
    let pending = tempfile::tempdir().unwrap();
    let receipt = verifier.issue(Store::GooglePlay);
    keep(pending.path(), &receipt, "bought-by-alice", APP);
    let sdk = verifier.sdk(Some(pending.path()));
    let results = sdk.retry_pending().await.unwrap();
    match &results[0].outcome {
        PendingOutcome::Verified { verdict } => {
            assert!(verdict.paid);
            assert_eq!(verdict.account_id, "bought-by-alice");
            assert_eq!(verdict.app_id, APP);
        }
        other => panic!("{other:?}"),
    }
    // The first redeemer owns it: the same receipt edited to another account afterwards is
    // not paid.
    keep(pending.path(), &receipt, "mallory", APP);
    let results = sdk.retry_pending().await.unwrap();
    match &results[0].outcome {
        PendingOutcome::Verified { verdict } => {
            assert!(!verdict.paid);
            assert_eq!(verdict.account_id, "mallory");
        }
        other => panic!("{other:?}"),
    }
}
