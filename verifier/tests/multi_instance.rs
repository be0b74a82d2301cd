//! Two verifier PROCESSES (`payseal-verifier serve`) on one real PostgreSQL database, started
//! together on an empty database (so both migrate at once), clients spread across both, the
//! same receipts submitted from different accounts through both at the same moment: exactly one
//! `first` per receipt, and every loser gets `already_redeemed`, from either instance.
//!
//! And the same two processes answer an account's signed entitlements identically, before and
//! after a refund recorded through one of them: the answer is read from the shared ledger only.
//!
//! Needs the `postgres-tests` feature and `PAYSEAL_TEST_POSTGRES_URL` (scripts/postgres.sh).

mod common;

use std::collections::HashMap;
use std::sync::Arc;

use common::instance::{Instance, SealingClient};
use common::{StateDir, APP};
use payseal_protocol::{Outcome, Reason, Receipt, Redemption, Store, VerdictClaims};
use payseal_sandbox::{Order, ProductType, PurchaseState};
use payseal_verifier::ledger::Redemptions as _;

const RECEIPTS: usize = 12;
const ACCOUNTS: usize = 6;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_one_postgres_one_first_per_receipt_losers_already_redeemed_from_either() {
    let db = common::pg::fresh_database().await;
    let state = StateDir::new();
    let client = SealingClient::new(&state);

    // Both start at once on an empty database: both try to migrate.
    let mut a = Instance::spawn("a", &state, Some(&db));
    let mut b = Instance::spawn("b", &state, Some(&db));
    a.wait_ready(&client.http).await;
    b.wait_ready(&client.http).await;
    let bases = [a.url(""), b.url("")];

    let stores = [
        Store::GooglePlay,
        Store::AppStore,
        Store::Huawei,
        Store::Sandbox,
    ];
    let receipts: Vec<Receipt> = (0..RECEIPTS)
        .map(|i| {
            state
                .store
                .issue(&Order::new(stores[i % stores.len()], APP, "coins_100"))
                .unwrap()
        })
        .collect();

    // Every (receipt, account) pair at once, alternating instances, released together.
    let barrier = Arc::new(tokio::sync::Barrier::new(RECEIPTS * ACCOUNTS));
    let mut tasks = Vec::new();
    for (r, receipt) in receipts.iter().enumerate() {
        for acct in 0..ACCOUNTS {
            let (client, barrier, receipt) = (client.clone(), barrier.clone(), receipt.clone());
            let instance = (r + acct) % 2;
            let base = bases[instance].clone();
            tasks.push(tokio::spawn(async move {
                let account = format!("user-{r}-{acct}");
                barrier.wait().await;
                let claims = client.verify(&base, &account, &receipt).await;
                (r, account, instance, claims)
            }));
        }
    }
    let mut by_receipt: HashMap<usize, Vec<(String, usize, VerdictClaims)>> = HashMap::new();
    for t in tasks {
        let (r, account, instance, claims) = t.await.unwrap();
        by_receipt
            .entry(r)
            .or_default()
            .push((account, instance, claims));
    }

    let mut losers_per_instance = [0usize; 2];
    let mut owners = Vec::new();
    for (r, answers) in by_receipt.iter() {
        let firsts: Vec<_> = answers
            .iter()
            .filter(|(_, _, c)| c.outcome == Outcome::Paid)
            .collect();
        assert_eq!(firsts.len(), 1, "receipt {r}: {answers:#?}");
        assert_eq!(firsts[0].2.redemption, Some(Redemption::First));
        for (account, instance, claims) in answers {
            if claims.outcome == Outcome::NotPaid {
                assert_eq!(claims.reason, Some(Reason::AlreadyRedeemed), "{account}");
                losers_per_instance[*instance] += 1;
            }
        }
        owners.push((*r, firsts[0].0.clone(), firsts[0].1));
    }
    assert_eq!(by_receipt.len(), RECEIPTS);
    assert_eq!(
        losers_per_instance.iter().sum::<usize>(),
        RECEIPTS * (ACCOUNTS - 1)
    );
    assert!(
        losers_per_instance.iter().all(|&n| n > 0),
        "already_redeemed answered by both instances: {losers_per_instance:?}"
    );

    // Afterwards: the owner through the OTHER instance is a repeat; a newcomer through either
    // is refused.
    for (r, owner, won_on) in &owners {
        let other = &bases[1 - won_on];
        let v = client.verify(other, owner, &receipts[*r]).await;
        assert_eq!(
            (v.outcome, v.redemption),
            (Outcome::Paid, Some(Redemption::Repeat))
        );
        let v = client
            .verify(&bases[*won_on], "newcomer", &receipts[*r])
            .await;
        assert_eq!(v.reason, Some(Reason::AlreadyRedeemed));
    }

    // The shared table holds one row per receipt, owned by the winner.
    let ledger =
        payseal_verifier::ledger::PostgresLedger::connect(&db, &common::pg::test_options())
            .await
            .unwrap();
    assert_eq!(ledger.count_redemptions().await.unwrap(), RECEIPTS as u64);
    let pg = common::pg::client(&db).await;
    let migrations: i64 = pg
        .query_one("SELECT COUNT(*) FROM payseal_schema_migrations", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        migrations,
        payseal_verifier::ledger::MIGRATIONS.len() as i64,
        "two instances migrated once"
    );
    for (r, owner, _) in &owners {
        let rows = pg
            .query(
                "SELECT account_id FROM payseal_redemptions WHERE receipt_sha256 = $1",
                &[&receipts[*r].sha256_hex()],
            )
            .await
            .unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].get::<_, String>(0), *owner);
    }

    a.stop();
    b.stop();
    for instance in [&a, &b] {
        let log = instance.log_text();
        assert!(log.contains("PostgreSQL ledger ready"), "{log}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_one_postgres_answer_the_same_entitlements() {
    let db = common::pg::fresh_database().await;
    let state = StateDir::new();
    let mut config = std::fs::read_to_string(&state.paths.config).unwrap();
    config.push_str(&format!(
        "\n[apps.\"{APP}\".entitlements]\npremium = [\"lifetime_pro\", \"pro_monthly\"]\n\
         no_ads = [\"remove_ads\"]\n"
    ));
    std::fs::write(&state.paths.config, config).unwrap();
    let client = SealingClient::new(&state);
    let mut a = Instance::spawn("a", &state, Some(&db));
    let mut b = Instance::spawn("b", &state, Some(&db));
    a.wait_ready(&client.http).await;
    b.wait_ready(&client.http).await;
    let bases = [a.url(""), b.url("")];

    let mut life = Order::new(Store::Sandbox, APP, "lifetime_pro");
    life.product_type = ProductType::NonConsumable;
    life.transaction_id = Some(format!("sbx_life_{}", uuid::Uuid::new_v4().simple()));
    let end = payseal_verifier::now_ms() + 86_400_000;
    let sub = Order::subscription(Store::AppStore, APP, "pro_monthly", end, None);
    let mut ads = Order::new(Store::Sandbox, APP, "remove_ads");
    ads.product_type = ProductType::NonConsumable;
    ads.transaction_id = Some(format!("sbx_ads_{}", uuid::Uuid::new_v4().simple()));
    // Bought through different instances.
    client
        .first(&bases[0], "alice", &state.store.issue(&life).unwrap())
        .await;
    client
        .first(&bases[1], "alice", &state.store.issue(&sub).unwrap())
        .await;
    client
        .first(&bases[1], "bob", &state.store.issue(&ads).unwrap())
        .await;

    let both = |account: &'static str| {
        let (client, bases) = (client.clone(), bases.clone());
        async move {
            let x = client.entitlements(&bases[0], account).await;
            let y = client.entitlements(&bases[1], account).await;
            assert_ne!(x.nonce, y.nonce, "each bound to its own request");
            assert_eq!(x.entitlements, y.entitlements, "{account}: {x:?} vs {y:?}");
            x.entitlements
                .iter()
                .map(|e| (e.name.clone(), e.product_id.clone()))
                .collect::<Vec<_>>()
        }
    };
    let pair = |n: &str, p: &str| (n.to_string(), p.to_string());
    assert_eq!(
        both("alice").await,
        [
            pair("premium", "lifetime_pro"),
            pair("premium", "pro_monthly")
        ]
    );
    assert_eq!(both("bob").await, [pair("no_ads", "remove_ads")]);
    assert!(both("carol").await.is_empty());

    // The store's signed data says the lifetime purchase was refunded, presented to B: both
    // instances drop it.
    let mut refunded = life.clone();
    refunded.state = PurchaseState::Refunded;
    let v = client
        .verify(&bases[1], "alice", &state.store.issue(&refunded).unwrap())
        .await;
    assert_eq!(v.reason, Some(Reason::Revoked));
    assert_eq!(both("alice").await, [pair("premium", "pro_monthly")]);

    a.stop();
    b.stop();
}
