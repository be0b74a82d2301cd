//! Criterion benchmarks of the PostgreSQL ledger on a real server (durable commits:
//! `synchronous_commit` as the server has it, `on` by default): a new redemption (one
//! `INSERT … ON CONFLICT DO NOTHING`, committed), a repeat by the owner (insert that conflicts,
//! the primary-key read that `classify` decides on, then the `last_seen` update), and 64 new
//! redemptions at once through the pool.
//!
//! Needs a server: `eval "$(scripts/postgres.sh start)"` (uses `PAYSEAL_TEST_POSTGRES_URL`,
//! or `PAYSEAL_BENCH_POSTGRES_URL` when set), then
//! `cargo bench -p payseal-verifier --bench ledger_postgres`. Without one it says so and
//! measures nothing (a benchmark, not a test).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use payseal_protocol::Store;
use payseal_verifier::ledger::PostgresLedger;
use payseal_verifier::ledger::{LedgerOptions, RedeemOutcome, RedemptionRequest, Redemptions};

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

fn ledger_postgres(c: &mut Criterion) {
    let Some(url) = std::env::var("PAYSEAL_BENCH_POSTGRES_URL")
        .or_else(|_| std::env::var("PAYSEAL_TEST_POSTGRES_URL"))
        .ok()
    else {
        eprintln!(
            "ledger_postgres: no PostgreSQL (set PAYSEAL_BENCH_POSTGRES_URL, or run \
             eval \"$(scripts/postgres.sh start)\"): nothing measured"
        );
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let ledger = Arc::new(
        rt.block_on(PostgresLedger::connect(&url, &LedgerOptions::default()))
            .unwrap(),
    );
    let run = uuid::Uuid::new_v4().simple().to_string();
    let counter = Arc::new(AtomicU64::new(0));

    c.bench_function("ledger/postgres_insert_new_redemption", |b| {
        b.iter(|| {
            let n = counter.fetch_add(1, Ordering::Relaxed);
            let outcome = rt
                .block_on(ledger.redeem(request(format!("PGA.{run}.{n:020}"))))
                .unwrap();
            assert_eq!(outcome, RedeemOutcome::First);
        })
    });

    let existing = request(format!("PGA.{run}.repeat"));
    rt.block_on(ledger.redeem(existing.clone())).unwrap();
    c.bench_function("ledger/postgres_repeat_by_owner", |b| {
        b.iter(|| {
            let outcome = rt.block_on(ledger.redeem(existing.clone())).unwrap();
            assert_eq!(outcome, RedeemOutcome::Repeat);
        })
    });

    let mut group = c.benchmark_group("ledger");
    group.throughput(criterion::Throughput::Elements(64));
    group.bench_function("postgres_64_concurrent_new_redemptions", |b| {
        b.iter(|| {
            rt.block_on(async {
                let mut tasks = Vec::with_capacity(64);
                for _ in 0..64 {
                    let ledger = Arc::clone(&ledger);
                    let n = counter.fetch_add(1, Ordering::Relaxed);
                    let key = format!("PGC.{run}.{n:020}");
                    tasks.push(tokio::spawn(
                        async move { ledger.redeem(request(key)).await },
                    ));
                }
                for t in tasks {
                    assert_eq!(t.await.unwrap().unwrap(), RedeemOutcome::First);
                }
            })
        })
    });
    group.finish();
}

criterion_group!(benches, ledger_postgres);
criterion_main!(benches);
