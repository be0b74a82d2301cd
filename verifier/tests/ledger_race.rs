//! Two SQLite ledgers on one file (as two verifier processes would have) race safely. The
//! one-receipt, many-tasks race on one ledger is in the generic suite (`tests/common/ledger_suite.rs`).

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
        expires_at_ms: None,
        kind: None,
        environment: None,
    }
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
