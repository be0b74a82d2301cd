//! Criterion benchmarks of the SQLite ledger on a real temp file (WAL, synchronous=FULL):
//! a new redemption (insert + durable commit) and a repeat by the owner.

use std::sync::atomic::{AtomicU64, Ordering};

use criterion::{criterion_group, criterion_main, Criterion};
use payseal_protocol::Store;
use payseal_verifier::ledger::SqliteLedger;
use payseal_verifier::ledger::{RedeemOutcome, RedemptionRequest};

fn request(key: String) -> RedemptionRequest {
    RedemptionRequest {
        store: Store::GooglePlay,
        app_id: "dev.payseal.demo".into(),
        transaction_key: key,
        account_id: "account-1".into(),
        product_id: "coins_100".into(),
        receipt_sha256: "ab".repeat(32),
        verdict_id: "00000000-0000-4000-8000-000000000000".into(),
        now_ms: 1_700_000_000_000,
        expires_at_ms: None,
        kind: None,
        environment: None,
    }
}

fn ledger(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let ledger = SqliteLedger::open(&dir.path().join("ledger.db")).unwrap();
    let counter = AtomicU64::new(0);
    c.bench_function("ledger/sqlite_insert_new_redemption", |b| {
        b.iter(|| {
            let n = counter.fetch_add(1, Ordering::Relaxed);
            let outcome = ledger
                .redeem_blocking(&request(format!("GPA.{n:020}")))
                .unwrap();
            assert_eq!(outcome, RedeemOutcome::First);
        })
    });
    let existing = request("GPA.repeat".into());
    ledger.redeem_blocking(&existing).unwrap();
    c.bench_function("ledger/sqlite_repeat_by_owner", |b| {
        b.iter(|| {
            let outcome = ledger.redeem_blocking(&existing).unwrap();
            assert_eq!(outcome, RedeemOutcome::Repeat);
        })
    });
}

/// 64 callers at once, as under load: the writer group-commits them (one fsync per batch).
fn ledger_concurrent(c: &mut Criterion) {
    use payseal_verifier::ledger::Redemptions;
    let dir = tempfile::tempdir().unwrap();
    let ledger = std::sync::Arc::new(SqliteLedger::open(&dir.path().join("ledger.db")).unwrap());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let counter = std::sync::Arc::new(AtomicU64::new(0));
    let mut group = c.benchmark_group("ledger");
    group.throughput(criterion::Throughput::Elements(64));
    group.bench_function("sqlite_64_concurrent_new_redemptions", |b| {
        b.iter(|| {
            rt.block_on(async {
                let mut tasks = Vec::with_capacity(64);
                for _ in 0..64 {
                    let ledger = ledger.clone();
                    let n = counter.fetch_add(1, Ordering::Relaxed);
                    tasks.push(tokio::spawn(async move {
                        ledger.redeem(request(format!("GPC.{n:020}"))).await
                    }));
                }
                for t in tasks {
                    assert_eq!(t.await.unwrap().unwrap(), RedeemOutcome::First);
                }
            })
        })
    });
    group.finish();
}

criterion_group!(benches, ledger, ledger_concurrent);
criterion_main!(benches);
