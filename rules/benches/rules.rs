//! Criterion benchmarks of each store rule on a genuine receipt (signature, chain and content
//! checks); `app_store` runs with the chain cached (every transaction after the first under a
//! leaf), `app_store_uncached` verifies the chain in full.

use criterion::{criterion_group, criterion_main, Criterion};
use payseal_protocol::{Environment, Store};
use payseal_rules::test_support::{app, genuine, APP};
use payseal_rules::{check_receipt, TrustAnchors};
use payseal_sandbox::Order;

fn rules(c: &mut Criterion) {
    // The rules' own test fixtures: the genuine sandbox store and an app with all four stores.
    let store = genuine();
    let app = app();
    let roots = vec![store.app_store_chain().root];
    let anchors = TrustAnchors::new(roots.clone()).unwrap();
    let now = payseal_sandbox::now_ms();
    let mut group = c.benchmark_group("rules");
    for (name, store_kind) in [
        ("google_play", Store::GooglePlay),
        ("app_store", Store::AppStore),
        ("huawei", Store::Huawei),
        ("sandbox", Store::Sandbox),
    ] {
        let receipt = store
            .issue(&Order::new(store_kind, APP, "gems_100"))
            .unwrap();
        assert!(check_receipt(&receipt, &app, &anchors, now).is_ok());
        group.bench_function(name, |b| {
            b.iter(|| check_receipt(std::hint::black_box(&receipt), &app, &anchors, now))
        });
    }
    let mut order = Order::new(Store::Huawei, APP, "gems_100");
    order.environment = Environment::Production;
    let pss = store.issue_huawei_pss(&order).unwrap();
    assert!(check_receipt(&pss, &app, &anchors, now).is_ok());
    group.bench_function("huawei_pss", |b| {
        b.iter(|| check_receipt(std::hint::black_box(&pss), &app, &anchors, now))
    });
    // The App Store rule on a chain it has not seen: fresh anchors (empty chain cache) each time.
    let receipt = store
        .issue(&Order::new(Store::AppStore, APP, "gems_100"))
        .unwrap();
    group.bench_function("app_store_uncached", |b| {
        b.iter_batched(
            || TrustAnchors::new(roots.clone()).unwrap(),
            |fresh| check_receipt(std::hint::black_box(&receipt), &app, &fresh, now),
            criterion::BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, rules);
criterion_main!(benches);
