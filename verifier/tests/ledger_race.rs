//! The ledger's first redemption is atomic: one receipt raced from several accounts on many
//! tasks has exactly one `First`.

use std::sync::Arc;

use payseal_protocol::Store;
use payseal_verifier::ledger::{self, RedeemOutcome, RedemptionRequest};

fn request(account: &str, key: &str, i: i64) -> RedemptionRequest {
    RedemptionRequest {
        store: Store::AppStore,
        app_id: "dev.payseal.demo".into(),
        transaction_key: key.into(),
        account_id: account.into(),
        product_id: "coins_100".into(),
        receipt_sha256: "00".repeat(32),
        verdict_id: format!("jti-{i}"),
        now_ms: 1_700_000_000_000 + i,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn same_receipt_from_several_accounts_on_many_tasks_has_one_first() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("ledger.db").display());
    let ledger = ledger::open(&url).unwrap();
    ledger.ready().await.unwrap();

    for round in 0..5 {
        let key = format!("2000000{round}");
        let mut tasks = Vec::new();
        for i in 0..40i64 {
            let ledger = Arc::clone(&ledger);
            let key = key.clone();
            tasks.push(tokio::spawn(async move {
                let account = format!("acct-{}", i % 5);
                let outcome = ledger.redeem(request(&account, &key, i)).await.unwrap();
                (account, outcome)
            }));
        }
        let mut results = Vec::new();
        for t in tasks {
            results.push(t.await.unwrap());
        }
        let firsts: Vec<_> = results
            .iter()
            .filter(|(_, o)| *o == RedeemOutcome::First)
            .collect();
        assert_eq!(firsts.len(), 1, "round {round}: {results:?}");
        let owner = firsts[0].0.clone();
        for (account, outcome) in &results {
            match outcome {
                RedeemOutcome::First => {}
                RedeemOutcome::Repeat => assert_eq!(account, &owner),
                RedeemOutcome::OtherAccount => assert_ne!(account, &owner),
                RedeemOutcome::Revoked => panic!("nothing was revoked"),
            }
        }
        // The owner again: Repeat; anyone else: OtherAccount.
        assert_eq!(
            ledger.redeem(request(&owner, &key, 99)).await.unwrap(),
            RedeemOutcome::Repeat
        );
        assert_eq!(
            ledger.redeem(request("newcomer", &key, 100)).await.unwrap(),
            RedeemOutcome::OtherAccount
        );
    }

    // A second handle on the same file (another process would do the same) sees the rows.
    drop(ledger);
    let reopened =
        payseal_verifier::ledger::sqlite::SqliteLedger::open(&dir.path().join("ledger.db"))
            .unwrap();
    assert_eq!(reopened.count().unwrap(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_connections_to_one_file_race_safely() {
    // Two independent ledgers on the same file (as two verifier processes would have).
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("ledger.db").display());
    let a = ledger::open(&url).unwrap();
    let b = ledger::open(&url).unwrap();
    let mut tasks = Vec::new();
    for i in 0..30i64 {
        let l = if i % 2 == 0 {
            Arc::clone(&a)
        } else {
            Arc::clone(&b)
        };
        tasks.push(tokio::spawn(async move {
            l.redeem(request(&format!("acct-{}", i % 3), "shared-1", i))
                .await
                .unwrap()
        }));
    }
    let mut firsts = 0;
    for t in tasks {
        if t.await.unwrap() == RedeemOutcome::First {
            firsts += 1;
        }
    }
    assert_eq!(firsts, 1);
}
