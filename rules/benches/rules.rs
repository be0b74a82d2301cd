//! Criterion benchmarks of each store rule on a genuine receipt (signature, chain and content
//! checks); `app_store` runs with the chain cached (every transaction after the first under a
//! leaf), `app_store_uncached` verifies the chain in full.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use criterion::{criterion_group, criterion_main, Criterion};
use payseal_protocol::{Environment, Store};
use payseal_rules::{
    check_receipt, AppRules, AppStoreRules, GooglePlayRules, HuaweiRules, RsaPublicKey,
    SandboxRules, TrustAnchors,
};
use payseal_sandbox::{Order, SandboxStore};

const APP: &str = "com.example.game";

fn rsa_key(b64: &str) -> RsaPublicKey {
    RsaPublicKey::from_spki_der(&STANDARD.decode(b64).unwrap()).unwrap()
}

fn rules(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let store = SandboxStore::open_or_create(dir.path()).unwrap();
    let ed: [u8; 32] = STANDARD
        .decode(store.sandbox_public_key())
        .unwrap()
        .try_into()
        .unwrap();
    let app = AppRules {
        app_id: APP.into(),
        environments: vec![Environment::Production, Environment::Sandbox],
        google_play: Some(GooglePlayRules {
            package_name: APP.into(),
            public_key: rsa_key(&store.google_play_public_key()),
        }),
        app_store: Some(AppStoreRules {
            bundle_id: APP.into(),
        }),
        huawei: Some(HuaweiRules {
            package_name: APP.into(),
            public_key: rsa_key(&store.huawei_public_key()),
        }),
        sandbox: Some(SandboxRules {
            public_key: ed25519_dalek::VerifyingKey::from_bytes(&ed).unwrap(),
        }),
        account_binding: None,
    };
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
