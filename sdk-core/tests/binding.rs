//! Issue 11 through the SDK, against a real verifier over pinned TLS with sealed envelopes and
//! store-format purchases from the sandbox store: the cheap-receipt substitution (a genuine
//! cheap receipt answering an expensive purchase) is `WrongProduct` and consumes nothing; a
//! receipt whose store account token is another account's is `WrongAccount`; a pending
//! receipt is retried for the product it was bought as.

mod common;

use common::{Relay, RelayMode, TestVerifier, APP};
use payseal_protocol::{Receipt, Store};
use payseal_sandbox::Order;
use payseal_sdk_core::ffi::{NotPaidReason, Redemption};
use payseal_sdk_core::{account_token_uuid_v5, PaySealErrorKind, PendingOutcome};
use payseal_verifier::dev::DEV_ACCOUNT_NAMESPACE;

const CHEAP: &str = "gems_100";
const EXPENSIVE: &str = "gems_10000";

fn issue(verifier: &TestVerifier, store: Store, product: &str, token: Option<String>) -> Receipt {
    let mut order = Order::new(store, APP, product);
    order.account_token = token;
    verifier.store.issue(&order).unwrap()
}

fn token(account: &str) -> String {
    account_token_uuid_v5(DEV_ACCOUNT_NAMESPACE.into(), account.into()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cheap_receipt_answering_an_expensive_purchase_is_wrong_product_and_not_consumed() {
    let verifier = TestVerifier::start().await;
    let sdk = verifier.sdk(None);
    for store in [Store::GooglePlay, Store::AppStore] {
        // The attacker bought the cheap item earlier and kept its receipt unredeemed; a
        // Freedom-style tool answers the expensive purchase with it.
        let cheap = issue(&verifier, store, CHEAP, None);
        let v = sdk
            .verify_product(cheap.clone(), "alice".into(), Some(EXPENSIVE.into()))
            .await
            .unwrap();
        assert!(!v.paid, "{store}: {v:?}");
        assert_eq!(v.reason, Some(NotPaidReason::WrongProduct), "{store}");
        assert_eq!(v.redemption, None);
        assert_eq!(v.product_id.as_deref(), Some(CHEAP));
        // The token says the same to the application server.
        assert!(
            token_claims(&v.token).contains("\"reason\":\"wrong_product\""),
            "{store}"
        );

        // Not consumed: the same receipt, for its own product, is paid, first.
        let v = sdk
            .verify_product(cheap.clone(), "alice".into(), Some(CHEAP.into()))
            .await
            .unwrap();
        assert!(v.paid, "{store}: {v:?}");
        assert_eq!(v.redemption, Some(Redemption::First));
        // Presented again for the expensive product: still wrong_product, not a repeat.
        let v = sdk
            .verify_product(cheap.clone(), "alice".into(), Some(EXPENSIVE.into()))
            .await
            .unwrap();
        assert_eq!(v.reason, Some(NotPaidReason::WrongProduct), "{store}");
        // The Rust client's form says the same.
        let checked = sdk
            .client()
            .verify_product(&cheap, "alice", Some(EXPENSIVE))
            .await
            .unwrap();
        assert!(!checked.is_paid() && !checked.product_overridden);
        let checked = sdk.client().verify(&cheap, "alice").await.unwrap();
        assert!(checked.is_paid());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receipt_bound_to_another_account_is_wrong_account() {
    let verifier = TestVerifier::start().await;
    let sdk = verifier.sdk(None);
    for store in [Store::GooglePlay, Store::AppStore] {
        let receipt = issue(&verifier, store, CHEAP, Some(token("alice")));
        // Replayed from another account before alice redeemed it: the ledger alone would pay
        // the first presenter; the store-signed binding says it is alice's.
        let v = sdk.verify(receipt.clone(), "mallory".into()).await.unwrap();
        assert!(!v.paid, "{store}: {v:?}");
        assert_eq!(v.reason, Some(NotPaidReason::WrongAccount), "{store}");
        let v = verify_blocking(&sdk, receipt.clone(), "alice", Some(CHEAP)).await;
        assert!(v.paid, "{store}: {v:?}");
        assert_eq!(v.redemption, Some(Redemption::First));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_receipt_is_retried_for_the_product_it_was_bought_as() {
    let verifier = TestVerifier::start().await;
    let pending = tempfile::tempdir().unwrap();
    let relay = Relay::start(&verifier, RelayMode::Unavailable(usize::MAX)).await;
    let sdk = verifier.sdk_via(relay.addr, Some(pending.path()));
    let cheap = issue(&verifier, Store::GooglePlay, CHEAP, None);
    let err = sdk
        .verify_product(cheap.clone(), "alice".into(), Some(EXPENSIVE.into()))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), PaySealErrorKind::ServerRejected);
    assert!(err.message().contains("kept pending"), "{err}");
    let file = pending.path().join(format!("{}.json", cheap.sha256_hex()));
    let entry: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    assert_eq!(entry["expected_product_id"], EXPENSIVE);
    assert_eq!(entry["format"], 1);

    // Retried directly: the verifier is asked for the expensive product again, and refuses.
    let direct = verifier.sdk(Some(pending.path()));
    let results = direct.retry_pending().await.unwrap();
    assert_eq!(results.len(), 1);
    match &results[0].outcome {
        PendingOutcome::Verified { verdict } => {
            assert!(!verdict.paid);
            assert_eq!(verdict.reason, Some(NotPaidReason::WrongProduct));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(direct.pending_count().unwrap(), 0);
    // Nothing was consumed: its own product pays, first.
    let v = direct
        .verify_product(cheap, "alice".into(), Some(CHEAP.into()))
        .await
        .unwrap();
    assert_eq!(v.redemption, Some(Redemption::First));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsendable_expected_product_is_invalid_receipt_and_nothing_is_sent_or_kept() {
    let verifier = TestVerifier::start().await;
    let pending = tempfile::tempdir().unwrap();
    let relay = Relay::start(&verifier, RelayMode::Forward).await;
    let sdk = verifier.sdk_via(relay.addr, Some(pending.path()));
    let receipt = issue(&verifier, Store::GooglePlay, CHEAP, None);
    for bad in ["".to_string(), "  ".into(), "p".repeat(257)] {
        let err = sdk
            .verify_product(receipt.clone(), "alice".into(), Some(bad))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), PaySealErrorKind::InvalidReceipt, "{err}");
    }
    assert_eq!(relay.requests.load(std::sync::atomic::Ordering::SeqCst), 0);
    assert_eq!(sdk.pending_count().unwrap(), 0);
}

fn token_claims(token: &str) -> String {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).unwrap();
    String::from_utf8(
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

/// The blocking form with a product, from a blocking thread (as Java callers use it).
async fn verify_blocking(
    sdk: &std::sync::Arc<payseal_sdk_core::PaySeal>,
    receipt: Receipt,
    account: &str,
    product: Option<&str>,
) -> payseal_sdk_core::Verdict {
    let sdk = sdk.clone();
    let (account, product) = (account.to_string(), product.map(str::to_string));
    tokio::task::spawn_blocking(move || sdk.verify_product_blocking(receipt, account, product))
        .await
        .unwrap()
        .unwrap()
}
