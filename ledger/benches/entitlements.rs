//! An account's entitlements read, p50/p99, with 100,000 accounts and 1,000,000 redemptions
//! (issue 25's performance aim: p99 ≤ 5 ms on SQLite and on PostgreSQL).
//!
//! What is timed: [`Redemptions::owned`] (the one indexed read, `payseal_redemptions_account`)
//! and [`grants`] over its rows, exactly the ledger part of `POST /v1/entitlements` and
//! `GET /v1/app-server/entitlements` (the verifier then names the entitlements and signs the
//! document with Ed25519: see the verdict sign figure in BENCHMARKS.md).
//!
//! The data: one app, 1,000,000 rows over 100,000 accounts (10 each), four stores, five
//! products (a subscription half lapsed and a third with a stored store state, two
//! non-consumables, two consumables), one row in 50 revoked. Bulk-loaded in one statement
//! (`WITH RECURSIVE` on SQLite, `generate_series` on PostgreSQL), then `ANALYZE`.
//!
//! ```sh
//! cargo bench -p payseal-ledger --bench entitlements                 # SQLite
//! eval "$(scripts/postgres.sh start)"
//! cargo bench -p payseal-ledger --bench entitlements -- postgres     # PostgreSQL
//! ```
//! `PAYSEAL_BENCH_READS` (default 20,000) sets how many reads are timed.
//!
//! Then, for an app that names entitlements *and has a webhook*, what a read adds:
//! [`Redemptions::refresh_entitlements`] (the announced set and the rows read and compared;
//! when they differ, the set read again locked, written, its `entitlements.changed` row
//! queued), 2,000 times on accounts never announced (a write for each that holds a name) and
//! again on the same accounts (the set unchanged: the read only).

use std::time::{Duration, Instant};

use std::sync::Arc;

use payseal_ledger::{grants, LedgerOptions, Redemptions};

const APP: &str = "com.example.game";
const ROWS: i64 = 1_000_000;
const ACCOUNTS: i64 = 100_000;
const DAY_MS: i64 = 86_400_000;

/// The row generator's SELECT over `i` (0..ROWS) and `$now`; the SQL both backends share but
/// for booleans (`$true`) and string concatenation, which are the same here.
fn rows_select(now_ms: i64, truth: &str) -> String {
    // Constants computed here: PostgreSQL would multiply them as int4 and overflow.
    let (first, revoked, renews, lapsed, checked) = (
        now_ms - 90 * DAY_MS,
        now_ms - DAY_MS,
        now_ms + 30 * DAY_MS,
        now_ms - 30 * DAY_MS,
        now_ms - DAY_MS,
    );
    format!(
        "SELECT CASE i % 4 WHEN 0 THEN 'google_play' WHEN 1 THEN 'app_store' WHEN 2 THEN 'huawei' ELSE 'sandbox' END,
            '{APP}', 'tx-' || i, 'acct-' || (i % {ACCOUNTS}),
            CASE i % 5 WHEN 0 THEN 'pro_monthly' WHEN 1 THEN 'lifetime_pro' WHEN 2 THEN 'remove_ads'
                       WHEN 3 THEN 'coins_100' ELSE 'coins_500' END,
            'ab', 'jti-' || i, {first} + i, {first} + i,
            CASE WHEN i % 50 = 7 THEN {revoked} END,
            CASE WHEN i % 50 = 7 THEN 'refund' END,
            CASE WHEN i % 5 = 0 THEN CASE WHEN i % 2 = 0 THEN {renews} ELSE {lapsed} END END,
            CASE i % 5 WHEN 0 THEN 'subscription' WHEN 1 THEN 'non_consumable' WHEN 2 THEN 'non_consumable'
                       ELSE 'consumable' END,
            'production',
            CASE WHEN i % 5 = 0 AND i % 3 = 0 THEN 'active' END,
            CASE WHEN i % 5 = 0 AND i % 3 = 0 THEN {checked} END,
            CASE WHEN i % 5 = 0 AND i % 3 = 0 THEN {truth} END"
    )
}

const COLUMNS: &str = "store, app_id, transaction_key, account_id, product_id, receipt_sha256,
    first_verdict_id, first_seen_ms, last_seen_ms, revoked_at_ms, revoke_reason, expires_at_ms,
    kind, environment, subscription_state, state_checked_ms, will_renew";

fn load_avg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// p50/p99/max of `times`, in ms.
fn percentiles(times: &mut [Duration]) -> String {
    times.sort();
    let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    format!(
        "p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        ms(at(0.50)),
        ms(at(0.99)),
        ms(*times.last().unwrap())
    )
}

/// Time `refresh_entitlements` on 2,000 accounts never announced, then on the same again.
async fn measure_announce(backend: &str, ledger: &dyn Redemptions) {
    let mut products = payseal_ledger::entitlements::ProductNames::new();
    for (product, name) in [
        ("pro_monthly", "premium"),
        ("lifetime_pro", "premium"),
        ("remove_ads", "no_ads"),
    ] {
        products.insert(product.into(), vec![name.into()]);
    }
    let products = Arc::new(products);
    let accounts: Vec<String> = (0..2_000)
        .map(|i| format!("acct-{}", i * 37 % ACCOUNTS))
        .collect();
    for pass in [
        "first (set written, webhook row queued)",
        "again (unchanged)",
    ] {
        let now = payseal_protocol::time::now_ms();
        let load = load_avg();
        let mut times = Vec::with_capacity(accounts.len());
        let mut changed = 0;
        for account in &accounts {
            let t = Instant::now();
            changed += usize::from(
                ledger
                    .refresh_entitlements(APP, account, products.clone(), now, "read")
                    .await
                    .unwrap(),
            );
            times.push(t.elapsed());
        }
        println!(
            "{backend}: refresh_entitlements, {pass}: {} accounts, {changed} changed: {}; load average {load}",
            accounts.len(),
            percentiles(&mut times)
        );
    }
}

/// Time `reads` reads of pseudo-random accounts (after a warm-up) and print the percentiles.
async fn measure(backend: &str, ledger: &dyn Redemptions, reads: usize) {
    let now = payseal_protocol::time::now_ms();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next_account = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        format!("acct-{}", x % ACCOUNTS as u64)
    };
    let mut granted = 0usize;
    let mut rows = 0usize;
    for _ in 0..1_000 {
        let owned = ledger.owned(APP, &next_account()).await.unwrap();
        granted += owned.iter().filter(|p| grants(p, now)).count();
    }
    let load_before = load_avg();
    let mut times = Vec::with_capacity(reads);
    let started = Instant::now();
    for _ in 0..reads {
        let account = next_account();
        let t = Instant::now();
        let owned = ledger.owned(APP, &account).await.unwrap();
        granted += owned.iter().filter(|p| grants(p, now)).count();
        times.push(t.elapsed());
        rows += owned.len();
    }
    let total = started.elapsed();
    times.sort();
    let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{backend}: {reads} reads of one account's entitlements ({:.1} rows each, {granted} grants): \
         p50 {:.3} ms, p90 {:.3} ms, p99 {:.3} ms, max {:.3} ms; {:.0} reads/s; load average {load_before} -> {}",
        rows as f64 / reads as f64,
        ms(at(0.50)),
        ms(at(0.90)),
        ms(at(0.99)),
        ms(*times.last().unwrap()),
        reads as f64 / total.as_secs_f64(),
        load_avg()
    );
}

fn sqlite(rt: &tokio::runtime::Runtime, reads: usize) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.db");
    drop(payseal_ledger::SqliteLedger::open(&path).unwrap()); // migrated, then closed
    let now = payseal_protocol::time::now_ms();
    let started = Instant::now();
    let conn = rusqlite::Connection::open(&path).unwrap();
    let sql = format!(
        "WITH RECURSIVE g(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM g WHERE i < {})
         INSERT INTO payseal_redemptions ({COLUMNS}) {} FROM g",
        ROWS - 1,
        rows_select(now, "1")
    );
    conn.execute_batch(&format!("BEGIN; {sql}; COMMIT; ANALYZE;"))
        .unwrap();
    drop(conn);
    println!(
        "sqlite: {ROWS} rows over {ACCOUNTS} accounts loaded in {:.1} s (one statement, one transaction)",
        started.elapsed().as_secs_f64()
    );
    let ledger = payseal_ledger::SqliteLedger::open(&path).unwrap();
    rt.block_on(measure("sqlite", &ledger, reads));
    rt.block_on(measure_announce("sqlite", &ledger));
}

fn postgres(rt: &tokio::runtime::Runtime, reads: usize) {
    let url = std::env::var("PAYSEAL_TEST_POSTGRES_URL").expect(
        "PAYSEAL_TEST_POSTGRES_URL is not set: run `eval \"$(scripts/postgres.sh start)\"` first",
    );
    rt.block_on(async {
        let (admin, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        let db = format!("payseal_bench_{}", std::process::id());
        admin
            .batch_execute(&format!("CREATE DATABASE {db}"))
            .await
            .unwrap();
        let (base, _) = url.rsplit_once('/').unwrap();
        let bench_url = format!("{base}/{db}");
        let ledger = payseal_ledger::PostgresLedger::connect(&bench_url, &LedgerOptions::default())
            .await
            .unwrap();
        let (client, conn) = tokio_postgres::connect(&bench_url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        let now = payseal_protocol::time::now_ms();
        let started = Instant::now();
        let sql = format!(
            "INSERT INTO payseal_redemptions ({COLUMNS}) {} FROM generate_series(0, {}) AS i",
            rows_select(now, "true"),
            ROWS - 1
        );
        client.batch_execute(&sql).await.unwrap();
        client
            .batch_execute("VACUUM ANALYZE payseal_redemptions")
            .await
            .unwrap();
        println!(
            "postgres: {ROWS} rows over {ACCOUNTS} accounts loaded in {:.1} s (one INSERT … SELECT generate_series, then VACUUM ANALYZE)",
            started.elapsed().as_secs_f64()
        );
        measure("postgres", &ledger, reads).await;
        measure_announce("postgres", &ledger).await;
        drop(ledger);
        drop(client);
        // Other sessions (the pool) may linger a moment after the drop.
        for _ in 0..50 {
            if admin
                .batch_execute(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
                .await
                .is_ok()
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
}

fn main() {
    let reads = std::env::var("PAYSEAL_BENCH_READS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // `cargo bench` passes `--bench`; the backend is the first other argument.
    let backend = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with("--"))
        .unwrap_or_else(|| "sqlite".into());
    match backend.as_str() {
        "sqlite" => sqlite(&rt, reads),
        "postgres" => postgres(&rt, reads),
        other => panic!("unknown backend {other:?}: sqlite or postgres"),
    }
}
