//! The SDK against a real verifier over pinned TLS with sealed envelopes, through the same
//! `PaySeal` object Kotlin and Swift call.

mod common;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::{
    eventually, files_in, impostor, silent_server, tls12_only, Relay, RelayMode, TestVerifier, APP,
};
use payseal_protocol::verdict::VerdictVerifier;
use payseal_protocol::{Receipt, Store};
use payseal_sdk_core::ffi::{NotPaidReason, Redemption};
use payseal_sdk_core::{PaySeal, PaySealErrorKind, PendingOutcome};

fn forge(receipt: &Receipt) -> Receipt {
    match receipt {
        Receipt::GooglePlay {
            purchase_data,
            signature,
        } => Receipt::GooglePlay {
            // A real signature over altered JSON: the product id is changed.
            purchase_data: purchase_data.replace("coins_100", "coins_999"),
            signature: signature.clone(),
        },
        other => panic!("not a Play receipt: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn genuine_forged_replayed_and_repeated_play_purchases() {
    let verifier = TestVerifier::start().await;
    let sdk = verifier.sdk(None);
    let receipt = verifier.issue(Store::GooglePlay);
    assert!(receipt.sha256_hex().len() == 64);

    // Genuine purchase: paid, first redemption, with a token any JOSE library can check.
    let first = sdk.verify(receipt.clone(), "alice".into()).await.unwrap();
    assert!(first.paid, "{first:?}");
    assert_eq!(first.reason, None);
    assert_eq!(first.redemption, Some(Redemption::First));
    assert_eq!(first.product_id.as_deref(), Some("coins_100"));
    assert_eq!(first.account_id, "alice");
    assert_eq!(first.app_id, APP);
    assert_eq!(first.receipt_sha256, receipt.sha256_hex());
    assert!(first.transaction_id.is_some());
    let profile = payseal_protocol::profile::Profile::parse(&verifier.profile_json).unwrap();
    let claims = VerdictVerifier::new(profile.verdict_keys)
        .verify(&first.token, first.issued_at)
        .unwrap();
    assert_eq!(claims.jti, first.verdict_id);

    // The same account again: paid, repeat (restore / retry).
    let again = sdk.verify(receipt.clone(), "alice".into()).await.unwrap();
    assert!(again.paid);
    assert_eq!(again.redemption, Some(Redemption::Repeat));
    assert_ne!(again.verdict_id, first.verdict_id);

    // Replayed from another account: not paid, already redeemed.
    let replay = sdk.verify(receipt.clone(), "mallory".into()).await.unwrap();
    assert!(!replay.paid);
    assert_eq!(replay.reason, Some(NotPaidReason::AlreadyRedeemed));
    assert_eq!(replay.account_id, "mallory");

    // Forged (real signature over altered JSON): not paid, bad signature.
    let forged = sdk.verify(forge(&receipt), "mallory".into()).await.unwrap();
    assert!(!forged.paid);
    assert_eq!(forged.reason, Some(NotPaidReason::BadSignature));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocking_call_gives_the_same_answer() {
    let verifier = TestVerifier::start().await;
    let sdk = verifier.sdk(None);
    let receipt = verifier.issue(Store::Sandbox);
    let verdict = tokio::task::spawn_blocking(move || sdk.verify_blocking(receipt, "bob".into()))
        .await
        .unwrap()
        .unwrap();
    assert!(verdict.paid);
    assert_eq!(verdict.redemption, Some(Redemption::First));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unpinned_key_from_the_trusted_ca_is_pin_mismatch_and_never_retried() {
    let verifier = TestVerifier::start().await;
    // An impostor for `localhost` whose certificate the same trusted CA issued, new key.
    let dir = tempfile::tempdir().unwrap();
    let files = verifier.ca.issue(&["localhost"]).write_to(dir.path());
    let (addr, seen) = impostor(&files).await;
    let pending = tempfile::tempdir().unwrap();
    let sdk = PaySeal::new(
        verifier.profile_pointing_to(addr),
        verifier.options(Some(pending.path())), // 4 attempts allowed
    )
    .unwrap();

    let started = Instant::now();
    let err = sdk
        .verify(verifier.issue(Store::GooglePlay), "alice".into())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), PaySealErrorKind::PinMismatch, "{err}");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(
        eventually(Duration::from_secs(1), || seen
            .connections
            .load(Ordering::SeqCst)
            == 1)
        .await
    );
    // One connection only (no retry), and no request byte ever reached the impostor.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(seen.connections.load(Ordering::SeqCst), 1);
    assert_eq!(seen.app_bytes.load(Ordering::SeqCst), 0);
    // A pin mismatch is not a receipt without a verdict to retry later.
    assert_eq!(sdk.pending_count().unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pinned_key_on_a_certificate_for_another_name_is_refused() {
    // The verifier's own (pinned) key in a certificate the trusted CA issued for another
    // host name: the hostname check still applies.
    let verifier = TestVerifier::start().await;
    let key_pem = std::fs::read_to_string(verifier.tls_files().key_pem).unwrap();
    let key = rcgen::KeyPair::from_pem(&key_pem).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let files = verifier
        .ca
        .issue_with_key(&["verify.example.com"], key)
        .write_to(dir.path());
    let (addr, seen) = impostor(&files).await;
    let mut options = verifier.options(None);
    options.max_attempts = 1;
    let sdk = PaySeal::new(verifier.profile_pointing_to(addr), options).unwrap();
    let err = sdk
        .verify(verifier.issue(Store::GooglePlay), "alice".into())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), PaySealErrorKind::Network, "{err}");
    assert!(err.message().contains("not valid for name"), "{err}");
    assert_eq!(seen.app_bytes.load(Ordering::SeqCst), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_1_2_is_refused_even_with_the_pinned_certificate() {
    let verifier = TestVerifier::start().await;
    let (addr, seen) = tls12_only(&verifier.tls_files()).await;
    let mut options = verifier.options(None);
    options.max_attempts = 1;
    let sdk = PaySeal::new(verifier.profile_pointing_to(addr), options).unwrap();
    let err = sdk
        .verify(verifier.issue(Store::GooglePlay), "alice".into())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), PaySealErrorKind::Network, "{err}");
    assert_eq!(seen.connections.load(Ordering::SeqCst), 1);
    assert_eq!(seen.handshakes.load(Ordering::SeqCst), 0);
    assert_eq!(seen.app_bytes.load(Ordering::SeqCst), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pinned_key_without_a_trusted_chain_is_refused_and_the_receipt_kept_pending() {
    // The genuine verifier, but the app does not trust its CA: pinning never replaces
    // validation. As behind a captive portal, the receipt is kept for a later retry.
    let verifier = TestVerifier::start().await;
    let pending = tempfile::tempdir().unwrap();
    let mut options = verifier.options(Some(pending.path()));
    options.extra_roots_pem.clear();
    options.max_attempts = 1;
    let sdk = PaySeal::new(verifier.profile_json.clone(), options).unwrap();
    let err = sdk
        .verify(verifier.issue(Store::GooglePlay), "alice".into())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), PaySealErrorKind::Network, "{err}");
    assert!(err.message().contains("certificate"), "{err}");
    assert_eq!(sdk.pending_count().unwrap(), 1);

    // Once the connection can be trusted (here: the app's roots; in the field: the portal
    // is gone), retry_pending gets the verdict.
    let trusted = verifier.sdk(Some(pending.path()));
    let results = trusted.retry_pending().await.unwrap();
    assert_eq!(results.len(), 1);
    assert!(
        matches!(&results[0].outcome, PendingOutcome::Verified { verdict } if verdict.paid),
        "{:?}",
        results[0].outcome
    );
    assert_eq!(trusted.pending_count().unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verifier_down_keeps_the_receipt_pending_until_retry_after_restart() {
    let mut verifier = TestVerifier::start().await;
    let pending = tempfile::tempdir().unwrap();
    let sdk = verifier.sdk(Some(pending.path()));
    let receipt = verifier.issue(Store::GooglePlay);

    verifier.stop().await;
    let err = sdk
        .verify(receipt.clone(), "alice".into())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), PaySealErrorKind::Network, "{err}");
    assert!(err.message().contains("kept pending"), "{err}");
    assert_eq!(sdk.pending_count().unwrap(), 1);
    let file = pending
        .path()
        .join(format!("{}.json", receipt.sha256_hex()));
    let entry: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(entry["account_id"], "alice");
    assert_eq!(entry["attempts"], 4);
    assert_eq!(entry["last_error"], "network");

    // Still down: retry keeps it.
    let results = sdk.retry_pending().await.unwrap();
    assert_eq!(results.len(), 1);
    assert!(matches!(
        results[0].outcome,
        PendingOutcome::StillPending {
            kind: PaySealErrorKind::Network,
            ..
        }
    ));
    assert_eq!(sdk.pending_count().unwrap(), 1);

    // Back on the same state: the purchase is verified and leaves the pending store.
    verifier.restart().await;
    let results = sdk.retry_pending().await.unwrap();
    assert_eq!(results.len(), 1);
    assert_eq!(results[0].receipt_sha256, receipt.sha256_hex());
    assert_eq!(results[0].account_id, "alice");
    match &results[0].outcome {
        PendingOutcome::Verified { verdict } => {
            assert!(verdict.paid);
            assert_eq!(verdict.redemption, Some(Redemption::First));
        }
        other => panic!("expected a verdict, got {other:?}"),
    }
    assert_eq!(sdk.pending_count().unwrap(), 0);
    assert!(files_in(pending.path()).is_empty());
    assert!(sdk.retry_pending().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_verify_mid_flight_leaves_nothing_behind() {
    let verifier = TestVerifier::start().await;
    let (addr, accepted, closed) = silent_server().await;
    let pending = tempfile::tempdir().unwrap();
    let mut options = verifier.options(Some(pending.path()));
    options.connect_timeout_ms = 10_000;
    let sdk = PaySeal::new(verifier.profile_pointing_to(addr), options).unwrap();

    // The caller gives up (coroutine / task cancelled) while the SDK waits for the server.
    let call = sdk.verify(verifier.issue(Store::GooglePlay), "alice".into());
    assert!(tokio::time::timeout(Duration::from_millis(300), call)
        .await
        .is_err());
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
    // The SDK's task was aborted: the connection is closed, not left running.
    assert!(eventually(Duration::from_secs(2), || closed.load(Ordering::SeqCst)).await);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        1,
        "no retry after cancellation"
    );
    assert!(
        files_in(pending.path()).is_empty(),
        "no pending or temporary file"
    );

    // The SDK is still fine afterwards.
    let sdk = verifier.sdk(Some(pending.path()));
    let verdict = sdk
        .verify(verifier.issue(Store::GooglePlay), "alice".into())
        .await
        .unwrap();
    assert!(verdict.paid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn altered_response_in_transit_is_tampered() {
    let verifier = TestVerifier::start().await;
    let relay = Relay::start(&verifier, RelayMode::FlipBit).await;
    let pending = tempfile::tempdir().unwrap();
    let sdk = verifier.sdk_via(relay.addr, Some(pending.path()));
    let err = sdk
        .verify(verifier.issue(Store::GooglePlay), "alice".into())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), PaySealErrorKind::Tampered, "{err}");
    assert_eq!(
        relay.requests.load(Ordering::SeqCst),
        1,
        "tampering is not retried"
    );
    // The verifier may have recorded it (here it did): kept for retry_pending (issue 14).
    assert_eq!(sdk.pending_count().unwrap(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_paid_answer_replayed_to_a_new_request_is_tampered() {
    let verifier = TestVerifier::start().await;
    let relay = Relay::start(&verifier, RelayMode::ReplayFirst).await;
    let sdk = verifier.sdk_via(relay.addr, None);
    let bought = verifier.issue(Store::GooglePlay);
    let first = sdk.verify(bought, "alice".into()).await.unwrap();
    assert!(first.paid);
    // A forged receipt; the relay answers with the earlier `paid` response.
    let forged = forge(&verifier.issue(Store::GooglePlay));
    let err = sdk.verify(forged, "alice".into()).await.unwrap_err();
    assert_eq!(err.kind(), PaySealErrorKind::Tampered, "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unavailable_verifier_is_retried_after_retry_after() {
    let verifier = TestVerifier::start().await;
    let relay = Relay::start(&verifier, RelayMode::Unavailable(2)).await;
    let sdk = verifier.sdk_via(relay.addr, None);
    let started = Instant::now();
    let verdict = sdk
        .verify(verifier.issue(Store::GooglePlay), "alice".into())
        .await
        .unwrap();
    assert!(verdict.paid);
    assert_eq!(relay.requests.load(Ordering::SeqCst), 3);
    // Two `Retry-After: 1` honoured (the backoff alone would be ~60 ms).
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_request_is_server_rejected_and_not_retried() {
    let verifier = TestVerifier::start().await;
    let relay = Relay::start(&verifier, RelayMode::Reject).await;
    let pending = tempfile::tempdir().unwrap();
    let sdk = verifier.sdk_via(relay.addr, Some(pending.path()));
    let err = sdk
        .verify(verifier.issue(Store::GooglePlay), "alice".into())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), PaySealErrorKind::ServerRejected, "{err}");
    assert!(err.message().contains("request refused"), "{err}");
    assert_eq!(relay.requests.load(Ordering::SeqCst), 1);
    assert_eq!(sdk.pending_count().unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_5xx_keeps_the_receipt_pending() {
    let verifier = TestVerifier::start().await;
    let relay = Relay::start(&verifier, RelayMode::Unavailable(usize::MAX)).await;
    let pending = tempfile::tempdir().unwrap();
    let mut options = verifier.options(Some(pending.path()));
    options.max_attempts = 2;
    let sdk = PaySeal::new(verifier.profile_pointing_to(relay.addr), options).unwrap();
    let err = sdk
        .verify(verifier.issue(Store::GooglePlay), "alice".into())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), PaySealErrorKind::ServerRejected, "{err}");
    assert_eq!(relay.requests.load(Ordering::SeqCst), 2);
    assert_eq!(sdk.pending_count().unwrap(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadline_bounds_a_verification() {
    let verifier = TestVerifier::start().await;
    let (addr, _accepted, _closed) = silent_server().await;
    let pending = tempfile::tempdir().unwrap();
    let mut options = verifier.options(Some(pending.path()));
    options.connect_timeout_ms = 10_000;
    options.request_timeout_ms = 10_000;
    options.deadline_ms = 400;
    let sdk = PaySeal::new(verifier.profile_pointing_to(addr), options).unwrap();
    let started = Instant::now();
    let err = sdk
        .verify(verifier.issue(Store::GooglePlay), "alice".into())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), PaySealErrorKind::Timeout, "{err}");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(
        sdk.pending_count().unwrap(),
        1,
        "a timed-out receipt is kept"
    );
}

#[test]
fn bad_profiles_and_options_fail_at_construction() {
    let ca = common::TestCa::new();
    let mut options = payseal_sdk_core::default_options(APP.into());
    options.extra_roots_pem = vec![ca.pem.clone()];
    for profile in ["", "{}", r#"{"version":2}"#, "not json"] {
        let err = PaySeal::new(profile.into(), options.clone()).unwrap_err();
        assert_eq!(
            err.kind(),
            PaySealErrorKind::InvalidProfile,
            "{profile}: {err}"
        );
    }
    let mut bad_root = options.clone();
    bad_root.extra_roots_pem = vec!["-----BEGIN NOTHING-----".into()];
    let err = PaySeal::new("{}".into(), bad_root).unwrap_err();
    assert_eq!(err.kind(), PaySealErrorKind::InvalidProfile);
}

/// POST a sealed request straight to the verifier (no SDK): the HTTP status it answers.
async fn status_of_direct_request(verifier: &TestVerifier, account_id: &str) -> u16 {
    use payseal_protocol::request::{SdkInfo, VerifyRequest, PROTOCOL_VERSION};
    let profile = payseal_protocol::profile::Profile::parse(&verifier.profile_json).unwrap();
    let request = VerifyRequest {
        v: PROTOCOL_VERSION,
        nonce: "q83vEjRWeJCrze8SNFZ4kA".into(),
        app_id: APP.into(),
        account_id: account_id.into(),
        receipt: verifier.issue(Store::GooglePlay),
        sdk: SdkInfo {
            name: "direct".into(),
            version: "0".into(),
        },
        expected_product_id: None,
    };
    let (sealed, _) = payseal_protocol::envelope::seal_request(
        &profile.key_config,
        &serde_json::to_vec(&request).unwrap(),
    )
    .unwrap();
    let client = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(verifier.ca.pem.as_bytes()).unwrap())
        .build()
        .unwrap();
    client
        .post(format!(
            "https://localhost:{}/v1/verify",
            verifier.addr.port()
        ))
        .header(
            "content-type",
            payseal_protocol::envelope::REQUEST_CONTENT_TYPE,
        )
        .body(sealed)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_id_at_the_protocol_limit_is_verified_and_one_byte_more_never_leaves_the_sdk() {
    use payseal_protocol::request::MAX_ID_BYTES;
    let verifier = TestVerifier::start().await;
    let relay = Relay::start(&verifier, RelayMode::Forward).await;
    let pending = tempfile::tempdir().unwrap();
    let sdk = PaySeal::new(
        verifier.profile_pointing_to(relay.addr),
        verifier.options(Some(pending.path())),
    )
    .unwrap();

    // Exactly the limit, in bytes: 128 two-byte characters.
    let at_limit = "é".repeat(MAX_ID_BYTES / 2);
    assert_eq!(at_limit.len(), MAX_ID_BYTES);
    let receipt = verifier.issue(Store::GooglePlay);
    let verdict = sdk.verify(receipt.clone(), at_limit.clone()).await.unwrap();
    assert!(verdict.paid, "{verdict:?}");
    assert_eq!(verdict.redemption, Some(Redemption::First));
    assert_eq!(verdict.account_id, at_limit);
    let profile = payseal_protocol::profile::Profile::parse(&verifier.profile_json).unwrap();
    let claims = VerdictVerifier::new(profile.verdict_keys)
        .verify(&verdict.token, verdict.issued_at)
        .unwrap();
    assert_eq!(claims.sub, at_limit);
    assert_eq!(relay.requests.load(Ordering::SeqCst), 1);

    // One byte more (129 characters: far below the SDK's old 1024-character limit): refused
    // by the SDK as invalid input, nothing sent, nothing kept pending.
    let over = format!("{at_limit}a");
    assert_eq!(over.len(), MAX_ID_BYTES + 1);
    let err = sdk
        .verify(verifier.issue(Store::GooglePlay), over.clone())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), PaySealErrorKind::InvalidReceipt, "{err}");
    assert!(err.to_string().contains("account id"), "{err}");
    assert_eq!(
        relay.requests.load(Ordering::SeqCst),
        1,
        "the over-long account id reached the relay"
    );
    assert!(files_in(pending.path()).is_empty(), "kept pending");

    // The verifier's own rule is the same one: sent around the SDK, the same ids get a
    // sealed verdict (200) and a 400 respectively.
    assert_eq!(status_of_direct_request(&verifier, &at_limit).await, 200);
    assert_eq!(status_of_direct_request(&verifier, &over).await, 400);
}
