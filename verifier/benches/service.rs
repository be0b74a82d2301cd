//! Criterion benchmark of the whole decision in-process for a sandbox-store Google Play
//! receipt: open envelope → parse → Play rule → SQLite ledger (durable) → sign verdict → seal.
//! `verify_play_repeat` is what most of `scripts/bench-verifier.sh`'s load is (the owner's
//! repeat, settled by a read); minus the crypto floor of the same run (envelope, verdict sign,
//! Play rule benches) it is PaySeal's own in-process cost per request, without HTTP or TLS.

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use payseal_protocol::{envelope, Outcome, SdkInfo, Store, VerifyRequest, PROTOCOL_VERSION};
use payseal_sandbox::{Order, SandboxStore};
use payseal_verifier::Verifier;

fn service(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let paths =
        payseal_verifier::dev::prepare(dir.path(), "127.0.0.1:8443".parse().unwrap()).unwrap();
    let settings = payseal_verifier::config::load_with_env(&paths.config, |_| None).unwrap();
    let store = SandboxStore::open_or_create(&paths.sandbox_store).unwrap();
    let key_config = settings.hpke_keys[0].config();
    let ledger = payseal_verifier::ledger::open(&settings.ledger_url).unwrap();
    let verifier = Verifier::new(Arc::new(settings), ledger);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let sealed_request = |account: &str| {
        let receipt = store
            .issue(&Order::new(
                Store::GooglePlay,
                payseal_verifier::dev::DEV_APP_ID,
                "coins_100",
            ))
            .unwrap();
        let request = VerifyRequest {
            v: PROTOCOL_VERSION,
            nonce: URL_SAFE_NO_PAD.encode(uuid::Uuid::new_v4().as_bytes()),
            app_id: payseal_verifier::dev::DEV_APP_ID.into(),
            account_id: account.into(),
            receipt,
            sdk: SdkInfo {
                name: "bench".into(),
                version: "0".into(),
            },
            expected_product_id: None,
        };
        envelope::seal_request(&key_config, &serde_json::to_vec(&request).unwrap())
            .unwrap()
            .0
    };
    c.bench_function("service/verify_play_first_redemption", |b| {
        b.iter_batched(
            || sealed_request("alice"),
            |body| {
                let decision = rt.block_on(verifier.verify(&body)).unwrap();
                assert_eq!(decision.outcome, Outcome::Paid);
            },
            BatchSize::SmallInput,
        )
    });
    let body = sealed_request("bob");
    rt.block_on(verifier.verify(&body)).unwrap();
    c.bench_function("service/verify_play_repeat", |b| {
        b.iter(|| {
            let decision = rt.block_on(verifier.verify(&body)).unwrap();
            assert_eq!(decision.outcome, Outcome::Paid);
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30);
    targets = service
}
criterion_main!(benches);
