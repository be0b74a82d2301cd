//! Subscriptions end to end: sandbox-store purchases in the App Store, Huawei and sandbox
//! formats, through the real SDK over pinned TLS to a real verifier with its SQLite ledger.
//! Current → paid/first with `kind` and `subscription_expires_at`; expired → not_paid/expired
//! and nothing recorded; the owner's renewal → paid/repeat with the newer expiry; a renewal
//! presented by another account → already_redeemed; a non-renewing subscription; the token's
//! claims as an application server reads them.

mod common;

use common::{TestVerifier, APP};
use payseal_protocol::verdict::VerdictVerifier;
use payseal_protocol::{PurchaseKind as Kind, Receipt, Store};
use payseal_sandbox::{Order, ProductType};
use payseal_sdk_core::ffi::{NotPaidReason, PurchaseKind, Redemption};
use payseal_verifier::ledger::{self, Ledger};

const DAY: i64 = 24 * 60 * 60 * 1000;

fn subscription(
    verifier: &TestVerifier,
    store: Store,
    expires_at: i64,
    chain: &str,
    transaction_id: &str,
) -> Receipt {
    let mut order = Order::subscription(store, APP, "pro_monthly", expires_at, Some(chain.into()));
    order.transaction_id = Some(transaction_id.into());
    verifier.store.issue(&order).unwrap()
}

/// The verifier's own ledger file, opened beside it.
fn ledger_of(verifier: &TestVerifier) -> std::sync::Arc<dyn Ledger> {
    ledger::open(&format!("sqlite:{}", verifier.paths.ledger.display())).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn current_expired_renewed_and_another_account_in_every_store_format() {
    let verifier = TestVerifier::start().await;
    let sdk = verifier.sdk(None);
    let profile = payseal_protocol::profile::Profile::parse(&verifier.profile_json).unwrap();
    let tokens = VerdictVerifier::new(profile.verdict_keys);
    let ledger = ledger_of(&verifier);
    let now = payseal_sandbox::now_ms();

    for (store, chain) in [
        (Store::AppStore, "2000000100"),
        (Store::Huawei, "1743920000000001"),
        (Store::Sandbox, "sbx_chain_1"),
    ] {
        // Current: paid, first, with the kind and the period's end, in the SDK and the token.
        let end = now + 30 * DAY;
        let first_tx = format!("{chain}1");
        let first = sdk
            .verify(
                subscription(&verifier, store, end, chain, &first_tx),
                "alice".into(),
            )
            .await
            .unwrap();
        assert!(first.paid, "{store}: {first:?}");
        assert_eq!(first.redemption, Some(Redemption::First), "{store}");
        assert_eq!(first.kind, Some(PurchaseKind::Subscription), "{store}");
        assert_eq!(first.subscription_expires_at, Some(end), "{store}");
        assert!(
            first.expires_at * 1000 < end,
            "{store}: the token's exp is not the subscription's end"
        );
        let claims = tokens.verify(&first.token, first.issued_at).unwrap();
        assert_eq!(
            (claims.kind, claims.expires_at),
            (Some(Kind::Subscription), Some(end))
        );

        // Expired a year ago (a lapsed renewal of the same chain): not paid, expired, with the
        // period's end, and nothing recorded (the chain keeps its current end).
        let lapsed_end = now - 365 * DAY;
        let lapsed = sdk
            .verify(
                subscription(&verifier, store, lapsed_end, chain, &format!("{chain}0")),
                "alice".into(),
            )
            .await
            .unwrap();
        assert!(!lapsed.paid, "{store}");
        assert_eq!(lapsed.reason, Some(NotPaidReason::Expired), "{store}");
        assert_eq!(lapsed.subscription_expires_at, Some(lapsed_end), "{store}");
        assert_eq!(lapsed.redemption, None);

        // The owner's renewal: paid, repeat, with the newer end; the row keeps the newest.
        let renewed_end = end + 30 * DAY;
        let renewed = sdk
            .verify(
                subscription(&verifier, store, renewed_end, chain, &format!("{chain}2")),
                "alice".into(),
            )
            .await
            .unwrap();
        assert!(renewed.paid, "{store}: {renewed:?}");
        assert_eq!(renewed.redemption, Some(Redemption::Repeat), "{store}");
        assert_eq!(renewed.subscription_expires_at, Some(renewed_end));
        assert_eq!(
            renewed.transaction_id.as_deref(),
            Some(&*format!("{chain}2"))
        );
        // The first period again (still current): paid, repeat, its own end; the row is not
        // shortened.
        let older = sdk
            .verify(
                subscription(&verifier, store, end, chain, &first_tx),
                "alice".into(),
            )
            .await
            .unwrap();
        assert_eq!(older.redemption, Some(Redemption::Repeat), "{store}");
        let row = ledger
            .find(store, APP, chain)
            .await
            .unwrap()
            .expect("the chain's row");
        assert_eq!(row.account_id, "alice");
        assert_eq!(row.expires_at_ms, Some(renewed_end), "{store}");

        // A renewal of the chain presented by another account: already redeemed.
        let stolen = sdk
            .verify(
                subscription(
                    &verifier,
                    store,
                    renewed_end + DAY,
                    chain,
                    &format!("{chain}3"),
                ),
                "mallory".into(),
            )
            .await
            .unwrap();
        assert!(!stolen.paid, "{store}");
        assert_eq!(
            stolen.reason,
            Some(NotPaidReason::AlreadyRedeemed),
            "{store}"
        );

        // An expired subscription of a chain nobody redeemed records nothing.
        let fresh_chain = format!("{chain}_lapsed");
        let never = sdk
            .verify(
                subscription(&verifier, store, lapsed_end, &fresh_chain, &fresh_chain),
                "bob".into(),
            )
            .await
            .unwrap();
        assert_eq!(never.reason, Some(NotPaidReason::Expired), "{store}");
        assert_eq!(ledger.find(store, APP, &fresh_chain).await.unwrap(), None);
    }
    // One row per chain: three stores.
    assert_eq!(ledger.count_redemptions().await.unwrap(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_renewing_subscriptions_and_consumables_carry_their_kind() {
    let verifier = TestVerifier::start().await;
    let sdk = verifier.sdk(None);

    // App Store non-renewing: Apple signs no expiry; paid, kind subscription, no end, and each
    // purchase is its own redemption.
    for tx in ["3000000001", "3000000002"] {
        let mut order = Order::new(Store::AppStore, APP, "season_pass");
        order.product_type = ProductType::NonRenewingSubscription;
        order.transaction_id = Some(tx.into());
        let v = sdk
            .verify(verifier.store.issue(&order).unwrap(), "alice".into())
            .await
            .unwrap();
        assert!(v.paid, "{v:?}");
        assert_eq!(v.redemption, Some(Redemption::First));
        assert_eq!(v.kind, Some(PurchaseKind::Subscription));
        assert_eq!(v.subscription_expires_at, None);
    }

    // Huawei non-renewable (kind 3) carries its expirationDate, and expires by it.
    let mut order = Order::new(Store::Huawei, APP, "season_pass");
    order.product_type = ProductType::NonRenewingSubscription;
    order.expires_at = Some(payseal_sandbox::now_ms() - DAY);
    let v = sdk
        .verify(verifier.store.issue(&order).unwrap(), "alice".into())
        .await
        .unwrap();
    assert_eq!(v.reason, Some(NotPaidReason::Expired));

    // A Play subscription: genuine and owned, but Play signs no end (docs/src/subscriptions.md).
    let order = Order::subscription(
        Store::GooglePlay,
        APP,
        "pro_monthly",
        payseal_sandbox::now_ms() - DAY,
        Some("GPA.5555-6666-7777-88888".into()),
    );
    let v = sdk
        .verify(verifier.store.issue(&order).unwrap(), "alice".into())
        .await
        .unwrap();
    assert!(v.paid, "{v:?}");
    assert_eq!(v.kind, Some(PurchaseKind::Subscription));
    assert_eq!(v.subscription_expires_at, None);

    // Consumables: their kind, no end.
    let v = sdk
        .verify(verifier.issue(Store::AppStore), "alice".into())
        .await
        .unwrap();
    assert_eq!(
        (v.paid, v.kind, v.subscription_expires_at),
        (true, Some(PurchaseKind::Consumable), None)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refunded_renewal_revokes_the_whole_chain() {
    let verifier = TestVerifier::start().await;
    let sdk = verifier.sdk(None);
    let ledger = ledger_of(&verifier);
    let now = payseal_sandbox::now_ms();
    let chain = "2000000900";
    let first = sdk
        .verify(
            subscription(&verifier, Store::AppStore, now + 30 * DAY, chain, chain),
            "alice".into(),
        )
        .await
        .unwrap();
    assert_eq!(first.redemption, Some(Redemption::First));

    // A renewal of the chain that Apple refunded (its JWS has a revocationDate).
    let mut refunded = Order::subscription(
        Store::AppStore,
        APP,
        "pro_monthly",
        now + 60 * DAY,
        Some(chain.into()),
    );
    refunded.state = payseal_sandbox::PurchaseState::Refunded;
    let v = sdk
        .verify(verifier.store.issue(&refunded).unwrap(), "alice".into())
        .await
        .unwrap();
    assert_eq!(v.reason, Some(NotPaidReason::Revoked));
    let row = ledger
        .find(Store::AppStore, APP, chain)
        .await
        .unwrap()
        .unwrap();
    assert!(row.revoked_at_ms.is_some(), "the chain's row is revoked");

    // From then on, every transaction of the chain is revoked, the owner's included.
    let again = sdk
        .verify(
            subscription(
                &verifier,
                Store::AppStore,
                now + 90 * DAY,
                chain,
                "2000000903",
            ),
            "alice".into(),
        )
        .await
        .unwrap();
    assert_eq!(again.reason, Some(NotPaidReason::Revoked));
}
