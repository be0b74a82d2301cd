//! `POST /v1/entitlements` through a real verifier over real TLS: an account's signed
//! entitlements from the ledger (non-consumables until revoked, subscriptions while their
//! period runs, consumables never), a restore of several receipts in one sealed request (each
//! judged exactly as `/v1/verify` judges it), and the request's refusals.

mod common;
mod webhook_support;

use common::{nonce, TestServer, APP};
use payseal_protocol::entitlements::{
    self, EntitlementsClaims, EntitlementsRequest, EntitlementsResponse, MAX_RESTORE_RECEIPTS,
};
use payseal_protocol::envelope;
use payseal_protocol::{
    Outcome, PurchaseKind, Reason, Receipt, Redemption, SdkInfo, Store, VerdictClaims,
    PROTOCOL_VERSION,
};
use payseal_sandbox::{Order, ProductType, PurchaseState};
use payseal_verifier::entitlements::{EntitlementRules, TransferPolicy};
use payseal_verifier::server::ENTITLEMENTS_PATH;

/// `premium` from a non-consumable, a subscription and (by mistake) a consumable; `no_ads`
/// from another non-consumable.
async fn server() -> TestServer {
    TestServer::start_with(|s| {
        let mut rules = EntitlementRules::new(TransferPolicy::Never);
        for product in ["lifetime_pro", "pro_monthly", "coins_100"] {
            rules.grant(product, "premium");
        }
        rules.grant("remove_ads", "no_ads");
        s.entitlements.insert(APP.to_string(), rules);
    })
    .await
}

fn request(app: &str, account: &str, restore: Vec<Receipt>) -> EntitlementsRequest {
    EntitlementsRequest {
        v: PROTOCOL_VERSION,
        nonce: nonce(),
        app_id: app.into(),
        account_id: account.into(),
        sdk: SdkInfo {
            name: "payseal-tests".into(),
            version: "0".into(),
        },
        restore,
    }
}

async fn post(
    server: &TestServer,
    request: &EntitlementsRequest,
) -> (reqwest::StatusCode, Option<EntitlementsResponse>) {
    let (body, ctx) =
        envelope::seal_request(&server.key_config, &serde_json::to_vec(request).unwrap()).unwrap();
    let response = server
        .client
        .post(server.url(ENTITLEMENTS_PATH))
        .header(reqwest::header::CONTENT_TYPE, "application/payseal-request")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    if status != 200 {
        return (status, None);
    }
    let sealed = response.bytes().await.unwrap();
    let plain = ctx.open_response(&sealed).unwrap();
    (status, Some(serde_json::from_slice(&plain).unwrap()))
}

/// Ask for `account`'s entitlements (with a restore batch): the checked document (nonce, app,
/// account, issuer) and the checked verdicts (nonce and receipt hash each).
async fn ask(
    server: &TestServer,
    account: &str,
    restore: Vec<Receipt>,
) -> (EntitlementsClaims, Vec<VerdictClaims>) {
    let req = request(APP, account, restore);
    let (status, response) = post(server, &req).await;
    assert_eq!(status, 200);
    let response = response.unwrap();
    let now = payseal_verifier::now_ms() / 1000;
    let doc = entitlements::verify(&server.verdicts, &response.entitlements, now).unwrap();
    assert_eq!(doc.nonce, req.nonce);
    assert_eq!((doc.app.as_str(), doc.sub.as_str()), (APP, account));
    assert_eq!(doc.iss, server.public_url);
    assert_eq!(response.verdicts.len(), req.restore.len());
    let verdicts = response
        .verdicts
        .iter()
        .zip(&req.restore)
        .map(|(token, receipt)| {
            let v = server.verdicts.verify(token, now).unwrap();
            assert_eq!(v.nonce, req.nonce);
            assert_eq!(v.receipt_sha256, receipt.sha256_hex());
            v
        })
        .collect();
    (doc, verdicts)
}

fn names(doc: &EntitlementsClaims) -> Vec<(String, String)> {
    doc.entitlements
        .iter()
        .map(|e| (e.name.clone(), e.product_id.clone()))
        .collect()
}

fn one_time(server: &TestServer, store: Store, product: &str, kind: ProductType) -> Order {
    let _ = server;
    let mut order = Order::new(store, APP, product);
    order.product_type = kind;
    order
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_consumable_and_subscription_grant_consumables_never_refund_removes() {
    let server = server().await;
    let now = payseal_verifier::now_ms();
    let (doc, _) = ask(&server, "alice", vec![]).await;
    assert!(doc.entitlements.is_empty());

    let mut lifetime = one_time(
        &server,
        Store::Sandbox,
        "lifetime_pro",
        ProductType::NonConsumable,
    );
    lifetime.transaction_id = Some(format!("sbx_life_{}", uuid::Uuid::new_v4().simple()));
    let lifetime_receipt = server.state.store.issue(&lifetime).unwrap();
    let sub = Order::subscription(Store::AppStore, APP, "pro_monthly", now + 86_400_000, None);
    let sub_receipt = server.state.store.issue(&sub).unwrap();
    let coins = server
        .state
        .store
        .issue(&Order::new(Store::Sandbox, APP, "coins_100"))
        .unwrap();
    for r in [&lifetime_receipt, &sub_receipt, &coins] {
        let v = server.verify("alice", r).await;
        assert_eq!(v.outcome, Outcome::Paid, "{v:?}");
    }
    let (doc, _) = ask(&server, "alice", vec![]).await;
    assert_eq!(
        names(&doc),
        [
            ("premium".to_string(), "lifetime_pro".to_string()),
            ("premium".into(), "pro_monthly".into())
        ]
    );
    let sub_entry = &doc.entitlements[1];
    assert_eq!(sub_entry.store, Store::AppStore);
    assert_eq!(sub_entry.kind, Some(PurchaseKind::Subscription));
    assert_eq!(sub_entry.expires_at, Some(now + 86_400_000));
    assert_eq!(doc.entitlements[0].kind, Some(PurchaseKind::NonConsumable));
    assert_eq!(doc.entitlements[0].expires_at, None);
    assert!(doc.has("premium") && !doc.has("no_ads"));
    // Nobody else owns them.
    let (bob, _) = ask(&server, "bob", vec![]).await;
    assert!(bob.entitlements.is_empty());

    // The store refunds the lifetime purchase: its signed data says so, the row is revoked.
    let mut refunded = lifetime.clone();
    refunded.state = PurchaseState::Refunded;
    let refunded = server.state.store.issue(&refunded).unwrap();
    let v = server.verify("alice", &refunded).await;
    assert_eq!(v.reason, Some(Reason::Revoked));
    let (doc, _) = ask(&server, "alice", vec![]).await;
    assert_eq!(
        names(&doc),
        [("premium".to_string(), "pro_monthly".to_string())]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_grants_until_its_period_ends() {
    let server = server().await;
    let end = payseal_verifier::now_ms() + 2_500;
    let sub = Order::subscription(Store::Sandbox, APP, "pro_monthly", end, None);
    let receipt = server.state.store.issue(&sub).unwrap();
    assert_eq!(
        server.verify("alice", &receipt).await.outcome,
        Outcome::Paid
    );
    let (doc, _) = ask(&server, "alice", vec![]).await;
    assert_eq!(doc.entitlements[0].expires_at, Some(end));
    let wait = end - payseal_verifier::now_ms() + 200;
    tokio::time::sleep(std::time::Duration::from_millis(wait.max(0) as u64)).await;
    let (doc, _) = ask(&server, "alice", vec![]).await;
    assert!(doc.entitlements.is_empty(), "{doc:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_judges_each_receipt_as_verify_does_then_answers_the_entitlements() {
    let server = server().await;
    let now = payseal_verifier::now_ms();
    let lifetime = server
        .state
        .store
        .issue(&one_time(
            &server,
            Store::Huawei,
            "lifetime_pro",
            ProductType::NonConsumable,
        ))
        .unwrap();
    let ads = server
        .state
        .store
        .issue(&one_time(
            &server,
            Store::AppStore,
            "remove_ads",
            ProductType::NonConsumable,
        ))
        .unwrap();
    let sub = server
        .state
        .store
        .issue(&Order::subscription(
            Store::AppStore,
            APP,
            "pro_monthly",
            now + 3_600_000,
            None,
        ))
        .unwrap();
    let carols = server
        .state
        .store
        .issue(&one_time(
            &server,
            Store::Sandbox,
            "remove_ads",
            ProductType::NonConsumable,
        ))
        .unwrap();
    assert_eq!(server.verify("carol", &carols).await.outcome, Outcome::Paid);
    let forged = match server
        .state
        .store
        .issue(&Order::new(Store::Sandbox, APP, "lifetime_pro"))
        .unwrap()
    {
        Receipt::Sandbox {
            purchase_data,
            signature,
        } => Receipt::Sandbox {
            purchase_data: purchase_data.replace("lifetime_pro", "lifetime_pr0"),
            signature,
        },
        _ => unreachable!(),
    };
    let play_sub = server
        .state
        .store
        .issue(&Order::subscription(
            Store::GooglePlay,
            APP,
            "pro_monthly",
            now + 3_600_000,
            None,
        ))
        .unwrap();
    // A new device: one call restores everything the store handed over.
    let (doc, verdicts) = ask(
        &server,
        "alice",
        vec![
            lifetime.clone(),
            ads.clone(),
            sub.clone(),
            carols.clone(),
            forged,
            play_sub,
        ],
    )
    .await;
    let judged: Vec<_> = verdicts
        .iter()
        .map(|v| (v.outcome, v.reason, v.redemption))
        .collect();
    assert_eq!(
        judged,
        [
            (Outcome::Paid, None, Some(Redemption::First)),
            (Outcome::Paid, None, Some(Redemption::First)),
            (Outcome::Paid, None, Some(Redemption::First)),
            (Outcome::NotPaid, Some(Reason::AlreadyRedeemed), None),
            (Outcome::NotPaid, Some(Reason::BadSignature), None),
            // Genuine, but Play signs no period end: it grants once the chain's state is known.
            (Outcome::Paid, None, Some(Redemption::First)),
        ]
    );
    assert_eq!(
        names(&doc),
        [
            ("no_ads".to_string(), "remove_ads".to_string()),
            ("premium".into(), "lifetime_pro".into()),
            ("premium".into(), "pro_monthly".into()),
        ]
    );
    // The same restore again: repeats, the same set; /v1/verify agrees receipt by receipt.
    let (again, verdicts) = ask(&server, "alice", vec![lifetime.clone(), ads, sub]).await;
    assert!(verdicts
        .iter()
        .all(|v| v.redemption == Some(Redemption::Repeat)));
    assert_eq!(names(&again), names(&doc));
    let v = server.verify("bob", &lifetime).await;
    assert_eq!(v.reason, Some(Reason::AlreadyRedeemed));
    let (carol, _) = ask(&server, "carol", vec![]).await;
    assert_eq!(
        names(&carol),
        [("no_ads".to_string(), "remove_ads".to_string())]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_restores_unknown_apps_and_bad_requests_are_refused_recording_nothing() {
    let server = server().await;
    let receipt = server
        .state
        .store
        .issue(&Order::new(Store::Sandbox, APP, "lifetime_pro"))
        .unwrap();
    let too_many = request(
        APP,
        "alice",
        vec![receipt.clone(); MAX_RESTORE_RECEIPTS + 1],
    );
    assert_eq!(post(&server, &too_many).await.0, 400);
    assert_eq!(
        post(
            &server,
            &request("com.unknown", "alice", vec![receipt.clone()])
        )
        .await
        .0,
        400
    );
    assert_eq!(
        post(&server, &request(APP, " ", vec![receipt])).await.0,
        400
    );
    assert_eq!(server.state.ledger().count().unwrap(), 0);
    // A verify request sent to the entitlements endpoint is not one.
    let verify = common::request(APP, "alice", &server.state.issue(Store::Sandbox));
    let (body, _) = server.seal(&verify);
    let r = server
        .client
        .post(server.url(ENTITLEMENTS_PATH))
        .header(reqwest::header::CONTENT_TYPE, "application/payseal-request")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // A full restore of App Store receipts fits in the endpoint's body limit.
    let big: Vec<_> = (0..MAX_RESTORE_RECEIPTS)
        .map(|_| server.state.issue(Store::AppStore))
        .collect();
    let (doc, verdicts) = ask(&server, "dave", big).await;
    assert_eq!(verdicts.len(), MAX_RESTORE_RECEIPTS);
    assert!(verdicts.iter().all(|v| v.outcome == Outcome::Paid));
    assert!(
        doc.entitlements.is_empty(),
        "coins_100 is consumable: {doc:?}"
    );
}

/// `transfer = "to_latest"`: on a restore, a non-consumable or subscription another account
/// owns moves to the restoring account with a signed `purchase.transferred` webhook naming both;
/// a consumable never moves, a purchase bound to its account never moves, and a plain verify
/// never moves anything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfer_to_latest_moves_on_restore_with_its_webhook() {
    use payseal_protocol::AccountBinding;
    let receiver = webhook_support::RunningReceiver::start(0).await;
    let state = common::StateDir::new();
    webhook_support::configure(&state.paths.config, &receiver.url());
    // The policy as an operator writes it, in the app's table.
    let text = std::fs::read_to_string(&state.paths.config).unwrap();
    let app_table = format!("[apps.\"{APP}\"]\n");
    assert!(text.contains(&app_table));
    let text = text.replacen(
        &app_table,
        &format!("{app_table}transfer = \"to_latest\"\n"),
        1,
    ) + &format!(
        "\n[apps.\"{APP}\".entitlements]\npremium = [\"lifetime_pro\", \"coins_100\"]\n"
    );
    std::fs::write(&state.paths.config, text).unwrap();
    let server = TestServer::start_on(state, |s| {
        assert_eq!(s.entitlements[APP].transfer(), TransferPolicy::ToLatest);
    })
    .await;

    let mut life = Order::new(Store::Sandbox, APP, "lifetime_pro");
    life.product_type = ProductType::NonConsumable;
    let life = server.state.store.issue(&life).unwrap();
    let coins = server.state.issue(Store::Sandbox);
    let binding = AccountBinding::uuid_v5(payseal_verifier::dev::DEV_ACCOUNT_NAMESPACE).unwrap();
    let mut bound = Order::new(Store::AppStore, APP, "lifetime_pro");
    bound.product_type = ProductType::NonConsumable;
    bound.account_token = Some(binding.token("alice"));
    let bound = server.state.store.issue(&bound).unwrap();
    for r in [&life, &coins, &bound] {
        assert_eq!(server.verify("alice", r).await.outcome, Outcome::Paid);
    }
    // A plain verify by another account: already redeemed, nothing moves.
    assert_eq!(
        server.verify("bob", &life).await.reason,
        Some(Reason::AlreadyRedeemed)
    );

    let (bob, verdicts) = ask(
        &server,
        "bob",
        vec![life.clone(), coins.clone(), bound.clone()],
    )
    .await;
    let judged: Vec<_> = verdicts.iter().map(|v| (v.outcome, v.reason)).collect();
    assert_eq!(
        judged,
        [
            (Outcome::Paid, None),
            (Outcome::NotPaid, Some(Reason::AlreadyRedeemed)),
            (Outcome::NotPaid, Some(Reason::WrongAccount)),
        ]
    );
    assert_eq!(verdicts[0].redemption, Some(Redemption::First));
    assert_eq!(
        names(&bob),
        [("premium".to_string(), "lifetime_pro".to_string())]
    );
    let (alice, _) = ask(&server, "alice", vec![]).await;
    assert_eq!(
        names(&alice),
        [("premium".to_string(), "lifetime_pro".to_string())],
        "alice keeps the bound purchase only (coins are consumable)"
    );
    assert_eq!(alice.entitlements[0].store, Store::AppStore);
    assert_eq!(bob.entitlements[0].store, Store::Sandbox);

    receiver
        .wait_for(
            std::time::Duration::from_secs(10),
            "purchase.transferred",
            |seen| {
                seen.events
                    .iter()
                    .any(|e| e.event_type == "purchase.transferred")
            },
        )
        .await;
    let event = receiver
        .events()
        .into_iter()
        .find(|e| e.event_type == "purchase.transferred")
        .unwrap();
    assert_eq!(event.data["from"], "alice");
    assert_eq!(event.data["to"], "bob");
    assert_eq!(event.data["product_id"], "lifetime_pro");
    assert_eq!(event.data["verdict_id"], verdicts[0].jti.as_str());
    assert_eq!(
        receiver
            .events()
            .iter()
            .filter(|e| e.event_type == "purchase.transferred")
            .count(),
        1
    );
    // Alice restoring it back moves it again (the latest restorer holds it).
    let (alice, verdicts) = ask(&server, "alice", vec![life]).await;
    assert_eq!(verdicts[0].outcome, Outcome::Paid);
    assert_eq!(alice.entitlements.len(), 2);
}

/// POST an App Store Server Notification V2 about `order` (signed by the sandbox store exactly
/// as Apple shapes it); the `result` the verifier answered.
async fn app_store_notify(server: &TestServer, kind: &str, order: &Order) -> String {
    let body = server
        .state
        .store
        .app_store_notification(
            &payseal_sandbox::AppStoreNotification::about(kind, order),
            payseal_sandbox::now_ms(),
        )
        .unwrap();
    let response = server
        .client
        .post(server.url(payseal_verifier::notifications::app_store::ROUTE))
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let answer: serde_json::Value = response.json().await.unwrap();
    answer["result"].as_str().unwrap_or_default().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_refund_removes_premium_and_its_reversal_gives_it_back() {
    let server = server().await;
    let mut life = Order::new(Store::AppStore, APP, "lifetime_pro");
    life.product_type = ProductType::NonConsumable;
    life.transaction_id = Some(format!(
        "2000000{}",
        u64::from_str_radix(&uuid::Uuid::new_v4().simple().to_string()[..8], 16).unwrap()
    ));
    let receipt = server.state.store.issue(&life).unwrap();
    assert_eq!(
        server.verify("alice", &receipt).await.outcome,
        Outcome::Paid
    );
    let doc = server.entitlements("alice").await;
    assert_eq!(
        names(&doc),
        [("premium".to_string(), "lifetime_pro".to_string())]
    );

    // Apple's REFUND notification: premium is gone (no receipt presented again).
    assert_eq!(app_store_notify(&server, "REFUND", &life).await, "revoked");
    let doc = server.entitlements("alice").await;
    assert!(!doc.has("premium"), "{doc:?}");

    // Apple's REFUND_REVERSED: premium is back, granted by the same purchase.
    assert_eq!(
        app_store_notify(&server, "REFUND_REVERSED", &life).await,
        "reinstated"
    );
    let doc = server.entitlements("alice").await;
    assert_eq!(
        names(&doc),
        [("premium".to_string(), "lifetime_pro".to_string())]
    );
    assert_eq!(
        doc.entitlements[0].transaction_key,
        life.transaction_id.clone().unwrap()
    );
    // A reversal only undoes the store's own refund: a second one changes nothing.
    assert_eq!(
        app_store_notify(&server, "REFUND_REVERSED", &life).await,
        "not_reinstated"
    );
    assert!(server.entitlements("alice").await.has("premium"));
    assert!(!server.entitlements("bob").await.has("premium"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entitlements_changed_is_sent_when_the_set_of_names_changes_and_only_then() {
    use payseal_protocol::webhook::EntitlementsChangedData;
    let receiver = webhook_support::RunningReceiver::start(0).await;
    let state = common::StateDir::new();
    webhook_support::configure(&state.paths.config, &receiver.url());
    let server = TestServer::start_on(state, |s| {
        let mut rules = EntitlementRules::new(TransferPolicy::Never);
        for product in ["lifetime_pro", "pro_monthly"] {
            rules.grant(product, "premium");
        }
        rules.grant("remove_ads", "no_ads");
        s.entitlements.insert(APP.to_string(), rules);
    })
    .await;
    let changes = || -> Vec<EntitlementsChangedData> {
        receiver
            .events()
            .iter()
            .filter_map(|e| e.entitlements_changed().unwrap())
            .collect()
    };
    let wait_for = |n: usize| {
        let receiver = &receiver;
        async move {
            receiver
                .wait_for(
                    std::time::Duration::from_secs(20),
                    "entitlements.changed",
                    |seen| {
                        seen.events
                            .iter()
                            .filter(|e| e.event_type == "entitlements.changed")
                            .count()
                            >= n
                    },
                )
                .await;
        }
    };
    let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();

    // 1. alice buys lifetime_pro: premium added.
    let mut life = Order::new(Store::AppStore, APP, "lifetime_pro");
    life.product_type = ProductType::NonConsumable;
    life.transaction_id = Some(format!(
        "2000000{}",
        u64::from_str_radix(&uuid::Uuid::new_v4().simple().to_string()[..8], 16).unwrap()
    ));
    let life_receipt = server.state.store.issue(&life).unwrap();
    assert_eq!(
        server.verify("alice", &life_receipt).await.outcome,
        Outcome::Paid
    );
    wait_for(1).await;
    let first = &changes()[0];
    assert_eq!(
        (first.app.as_str(), first.sub.as_str(), first.cause.as_str()),
        (APP, "alice", "purchase")
    );
    assert_eq!(
        (&first.entitlements, &first.added, &first.removed),
        (&names(&["premium"]), &names(&["premium"]), &names(&[]))
    );
    // 2. remove_ads: no_ads added. A repeat and a read change nothing.
    let mut ads = Order::new(Store::Sandbox, APP, "remove_ads");
    ads.product_type = ProductType::NonConsumable;
    ads.transaction_id = Some(format!("sbx_ads_{}", uuid::Uuid::new_v4().simple()));
    let ads = server.state.store.issue(&ads).unwrap();
    assert_eq!(server.verify("alice", &ads).await.outcome, Outcome::Paid);
    assert_eq!(
        server.verify("alice", &life_receipt).await.redemption,
        Some(Redemption::Repeat)
    );
    assert!(server.entitlements("alice").await.has("no_ads"));
    // 3. Apple refunds lifetime_pro: premium removed; 4. reverses it: premium added back.
    assert_eq!(app_store_notify(&server, "REFUND", &life).await, "revoked");
    assert_eq!(
        app_store_notify(&server, "REFUND_REVERSED", &life).await,
        "reinstated"
    );
    // 5. bob's subscription, ending in 2.5 s, with no store event after it.
    let end = payseal_verifier::now_ms() + 2_500;
    let sub = server
        .state
        .store
        .issue(&Order::subscription(
            Store::Sandbox,
            APP,
            "pro_monthly",
            end,
            None,
        ))
        .unwrap();
    assert_eq!(server.verify("bob", &sub).await.outcome, Outcome::Paid);
    wait_for(5).await;
    let wait = end - payseal_verifier::now_ms() + 200;
    tokio::time::sleep(std::time::Duration::from_millis(wait.max(0) as u64)).await;
    // 6. The expiry is noticed when bob's entitlements are next read.
    assert!(!server.entitlements("bob").await.has("premium"));
    assert!(!server.entitlements("bob").await.has("premium"));
    wait_for(6).await;
    // Nothing else arrives (the repeat, the reads and the second read of bob sent nothing).
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    let got: Vec<_> = changes()
        .into_iter()
        .map(|c| (c.sub, c.cause, c.added, c.removed, c.entitlements))
        .collect();
    let want = vec![
        (
            "alice",
            "purchase",
            vec!["premium"],
            vec![],
            vec!["premium"],
        ),
        (
            "alice",
            "purchase",
            vec!["no_ads"],
            vec![],
            vec!["no_ads", "premium"],
        ),
        (
            "alice",
            "revocation",
            vec![],
            vec!["premium"],
            vec!["no_ads"],
        ),
        (
            "alice",
            "reinstatement",
            vec!["premium"],
            vec![],
            vec!["no_ads", "premium"],
        ),
        ("bob", "purchase", vec!["premium"], vec![], vec!["premium"]),
        ("bob", "read", vec![], vec!["premium"], vec![]),
    ];
    let want: Vec<_> = want
        .into_iter()
        .map(|(s, c, a, r, e)| {
            (
                s.to_string(),
                c.to_string(),
                names(&a),
                names(&r),
                names(&e),
            )
        })
        .collect();
    let (mut got_sorted, mut want_sorted) = (got.clone(), want);
    got_sorted.sort();
    want_sorted.sort();
    assert_eq!(got_sorted, want_sorted, "{got:#?}");
}
