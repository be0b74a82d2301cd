//! Entitlements and restore through the real SDK (`Client`) over pinned TLS to a real verifier
//! whose config file names the app's entitlements: restore of several receipts on a new
//! device in one call, the signed answer checked, the offline copy (kept, reused with its age
//! when the verifier is down, refused when edited, never invented), and relayed answers
//! (replayed, altered) refused.

mod common;

use common::{Relay, RelayMode, TestVerifier, APP};
use payseal_protocol::{Outcome, PurchaseKind, Reason, Receipt, Redemption, Store};
use payseal_sandbox::{Order, ProductType};
use payseal_sdk_core::{
    CacheError, Client, ClientError, EntitlementsCache, Options, PaySealErrorKind,
};

const CONFIG: &str = r#"[apps."dev.payseal.demo".entitlements]
premium = ["lifetime_pro", "pro_monthly"]
no_ads = ["remove_ads"]
"#;

fn client(verifier: &TestVerifier, profile: String, cache: Option<&std::path::Path>) -> Client {
    let mut options = Options::try_from(verifier.options(None)).unwrap();
    options.entitlements_dir = cache.map(std::path::Path::to_path_buf);
    Client::new(&profile, options).unwrap()
}

fn owned(verifier: &TestVerifier, store: Store, product: &str) -> Receipt {
    let mut order = Order::new(store, APP, product);
    order.product_type = ProductType::NonConsumable;
    verifier.store.issue(&order).unwrap()
}

fn names(e: &payseal_sdk_core::CheckedEntitlements) -> Vec<(&str, &str)> {
    e.claims
        .entitlements
        .iter()
        .map(|e| (e.name.as_str(), e.product_id.as_str()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_on_a_new_device_then_entitlements_each_checked() {
    let verifier = TestVerifier::start_with_config(CONFIG).await;
    let sdk = client(&verifier, verifier.profile_json.clone(), None);
    let now = payseal_sandbox::now_ms();
    let lifetime = owned(&verifier, Store::Huawei, "lifetime_pro");
    let ads = owned(&verifier, Store::Sandbox, "remove_ads");
    let sub = verifier
        .store
        .issue(&Order::subscription(
            Store::AppStore,
            APP,
            "pro_monthly",
            now + 86_400_000,
            None,
        ))
        .unwrap();
    let coins = verifier.issue(Store::GooglePlay);
    let mut forged = owned(&verifier, Store::Sandbox, "remove_ads");
    if let Receipt::Sandbox { purchase_data, .. } = &mut forged {
        *purchase_data = purchase_data.replace("remove_ads", "remove_adz");
    }
    // Bought on the old device by alice; bob's device tries the same receipt first.
    assert!(sdk.verify(&lifetime, "alice").await.unwrap().is_paid());

    let restored = sdk
        .restore(
            &[lifetime.clone(), ads.clone(), sub.clone(), coins, forged],
            "alice",
        )
        .await
        .unwrap();
    let judged: Vec<_> = restored
        .verdicts
        .iter()
        .map(|v| (v.claims.outcome, v.claims.reason, v.claims.redemption))
        .collect();
    assert_eq!(
        judged,
        [
            (Outcome::Paid, None, Some(Redemption::Repeat)),
            (Outcome::Paid, None, Some(Redemption::First)),
            (Outcome::Paid, None, Some(Redemption::First)),
            (Outcome::Paid, None, Some(Redemption::First)),
            (Outcome::NotPaid, Some(Reason::BadSignature), None),
        ]
    );
    let e = &restored.entitlements;
    assert_eq!(
        names(e),
        [
            ("no_ads", "remove_ads"),
            ("premium", "lifetime_pro"),
            ("premium", "pro_monthly")
        ]
    );
    assert!(!e.from_cache && e.age_ms.abs() < 5_000, "{e:?}");
    let sub_entry = &e.claims.entitlements[2];
    assert_eq!(sub_entry.kind, Some(PurchaseKind::Subscription));
    assert_eq!(sub_entry.expires_at, Some(now + 86_400_000));

    // Later, a plain question: the same set. Bob owns nothing, and restoring alice's receipts
    // on bob's account gets already_redeemed (transfer = never), and still nothing.
    assert_eq!(names(&sdk.entitlements("alice").await.unwrap()), names(e));
    let bob = sdk.restore(&[lifetime, ads], "bob").await.unwrap();
    assert!(bob
        .verdicts
        .iter()
        .all(|v| v.claims.reason == Some(Reason::AlreadyRedeemed)));
    assert!(bob.entitlements.claims.entitlements.is_empty());

    // More than a batch: refused before anything is sent.
    let many = vec![sub; payseal_protocol::entitlements::MAX_RESTORE_RECEIPTS + 1];
    let err = sdk.restore(&many, "alice").await.unwrap_err();
    assert_eq!(err.kind(), PaySealErrorKind::InvalidReceipt, "{err}");
    let err = sdk.entitlements(" ").await.unwrap_err();
    assert_eq!(err.kind(), PaySealErrorKind::InvalidReceipt, "{err}");
    let err = sdk.cached_entitlements(" ").unwrap_err();
    assert_eq!(err.kind(), PaySealErrorKind::InvalidReceipt, "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_the_kept_answer_is_used_with_its_age_and_refused_when_edited() {
    let mut verifier = TestVerifier::start_with_config(CONFIG).await;
    let cache_dir = tempfile::tempdir().unwrap();
    let sdk = client(
        &verifier,
        verifier.profile_json.clone(),
        Some(cache_dir.path()),
    );
    let lifetime = owned(&verifier, Store::Sandbox, "lifetime_pro");
    assert!(sdk.verify(&lifetime, "alice").await.unwrap().is_paid());
    let online = sdk.entitlements("alice").await.unwrap();
    assert!(online.has("premium") && !online.from_cache);
    // Bob asked too: his (empty) answer is kept as well.
    assert!(sdk
        .entitlements("bob")
        .await
        .unwrap()
        .claims
        .entitlements
        .is_empty());

    verifier.stop().await;
    tokio::time::sleep(std::time::Duration::from_millis(2_100)).await;
    let offline = sdk.entitlements("alice").await.unwrap();
    assert!(offline.from_cache);
    assert!(offline.has("premium"));
    assert_eq!(offline.token, online.token);
    assert!(offline.age_ms >= 1_000, "{}", offline.age_ms);
    assert_eq!(
        sdk.cached_entitlements("alice").unwrap().unwrap().token,
        online.token
    );
    // Nobody asked for carol while online: no answer, none invented.
    let err = sdk.entitlements("carol").await.unwrap_err();
    assert!(matches!(err, ClientError::NoEntitlements { .. }), "{err}");
    assert_eq!(err.kind(), PaySealErrorKind::Network);

    // Edited on disk (bob's empty answer copied over alice's; then a changed byte): refused.
    let file = |account: &str| {
        cache_dir
            .path()
            .join(EntitlementsCache::file_name(APP, account))
    };
    std::fs::copy(file("bob"), file("alice")).unwrap();
    let err = sdk.entitlements("alice").await.unwrap_err();
    assert!(
        matches!(err, ClientError::CachedEntitlements(CacheError::Refused(_))),
        "{err}"
    );
    assert_eq!(err.kind(), PaySealErrorKind::Tampered);
    let mut bytes = online.token.clone().into_bytes();
    let at = online.token.find('.').unwrap() + 10;
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    std::fs::write(file("alice"), bytes).unwrap();
    let err = sdk.entitlements("alice").await.unwrap_err();
    assert_eq!(err.kind(), PaySealErrorKind::Tampered, "{err}");
    assert!(sdk.cached_entitlements("alice").is_err());

    // Back online: a fresh answer replaces the edited copy.
    verifier.restart().await;
    let fresh = sdk.entitlements("alice").await.unwrap();
    assert!(fresh.has("premium") && !fresh.from_cache);
    assert!(!sdk
        .cached_entitlements("alice")
        .unwrap()
        .unwrap()
        .token
        .is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_and_altered_answers_are_refused() {
    let verifier = TestVerifier::start_with_config(CONFIG).await;
    let lifetime = owned(&verifier, Store::Sandbox, "lifetime_pro");
    let direct = client(&verifier, verifier.profile_json.clone(), None);
    assert!(direct.verify(&lifetime, "alice").await.unwrap().is_paid());

    // A relay holding the verifier's key replays its first answer to the next request.
    let relay = Relay::start(&verifier, RelayMode::ReplayFirst).await;
    let sdk = client(&verifier, verifier.profile_pointing_to(relay.addr), None);
    assert!(sdk.entitlements("alice").await.unwrap().has("premium"));
    let err = sdk.entitlements("alice").await.unwrap_err();
    assert_eq!(err.kind(), PaySealErrorKind::Tampered, "{err}");

    let relay = Relay::start(&verifier, RelayMode::FlipBit).await;
    let sdk = client(&verifier, verifier.profile_pointing_to(relay.addr), None);
    let err = sdk.entitlements("alice").await.unwrap_err();
    assert_eq!(err.kind(), PaySealErrorKind::Tampered, "{err}");
    let err = sdk.restore(&[lifetime], "alice").await.unwrap_err();
    assert_eq!(err.kind(), PaySealErrorKind::Tampered, "{err}");
}
