//! The App Store and Google Play rules on the exact inputs `scripts/bench-peers.sh` hands to
//! Apple's `SignedDataVerifier` and node `in-app-purchase`, for the side-by-side table.
//!
//! `PAYSEAL_PEER_INPUTS=DIR` names a folder holding `app_store.json` and `google_play.json`
//! (receipts from `payseal-sandbox app-store` / `google-play`) and `keys.json` (from
//! `payseal-sandbox keys`), all for the app `PAYSEAL_PEER_APP` (default `com.example.game`).
//! Without it, the bench issues the same kind of inputs from a fresh sandbox store.

use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use payseal_protocol::{Environment, Receipt, Store};
use payseal_rules::{
    check_receipt, AppRules, AppStoreRules, GooglePlayRules, RsaPublicKey, TrustAnchors,
};
use payseal_sandbox::{Order, SandboxStore};

/// The receipts and keys both sides use.
struct Inputs {
    app: String,
    app_store: Receipt,
    google_play: Receipt,
    play_key: String,
    root_der: Vec<u8>,
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn from_dir(dir: &Path, app: String) -> Inputs {
    let receipt = |name: &str| -> Receipt {
        serde_json::from_str(&read(&dir.join(name)))
            .unwrap_or_else(|e| panic!("{name}: not a receipt: {e}"))
    };
    let keys: serde_json::Value = serde_json::from_str(&read(&dir.join("keys.json"))).unwrap();
    let root_pem = read(Path::new(keys["app_store_root_path"].as_str().unwrap()));
    let (_, pem) = x509_parser::pem::parse_x509_pem(root_pem.as_bytes()).unwrap();
    Inputs {
        app,
        app_store: receipt("app_store.json"),
        google_play: receipt("google_play.json"),
        play_key: keys["google_play_public_key"].as_str().unwrap().to_owned(),
        root_der: pem.contents,
    }
}

fn fresh(dir: &Path, app: String) -> Inputs {
    let store = SandboxStore::open_or_create(dir).unwrap();
    Inputs {
        app_store: store
            .issue(&Order::new(Store::AppStore, &app, "gems_100"))
            .unwrap(),
        google_play: store
            .issue(&Order::new(Store::GooglePlay, &app, "gems_100"))
            .unwrap(),
        play_key: store.google_play_public_key(),
        root_der: store.app_store_chain().root,
        app,
    }
}

fn peers(c: &mut Criterion) {
    let app = std::env::var("PAYSEAL_PEER_APP").unwrap_or_else(|_| "com.example.game".into());
    let scratch = tempfile::tempdir().unwrap();
    let inputs = match std::env::var_os("PAYSEAL_PEER_INPUTS") {
        Some(dir) => from_dir(&PathBuf::from(dir), app),
        None => fresh(scratch.path(), app),
    };
    let rules = AppRules {
        app_id: inputs.app.clone(),
        environments: vec![Environment::Production, Environment::Sandbox],
        google_play: Some(GooglePlayRules {
            package_name: inputs.app.clone(),
            public_key: RsaPublicKey::from_spki_der(&STANDARD.decode(&inputs.play_key).unwrap())
                .unwrap(),
        }),
        app_store: Some(AppStoreRules {
            bundle_id: inputs.app.clone(),
        }),
        huawei: None,
        sandbox: None,
        account_binding: None,
    };
    let roots = vec![inputs.root_der.clone()];
    let anchors = TrustAnchors::new(roots.clone()).unwrap();
    let now = payseal_sandbox::now_ms();
    for receipt in [&inputs.app_store, &inputs.google_play] {
        if let Err(e) = check_receipt(receipt, &rules, &anchors, now) {
            panic!("the peer inputs must be paid: {e:?}");
        }
    }

    let mut group = c.benchmark_group("peers");
    group.bench_function("app_store_cached", |b| {
        b.iter(|| {
            check_receipt(
                std::hint::black_box(&inputs.app_store),
                &rules,
                &anchors,
                now,
            )
        })
    });
    group.bench_function("app_store_uncached", |b| {
        b.iter_batched(
            || TrustAnchors::new(roots.clone()).unwrap(),
            |fresh| check_receipt(std::hint::black_box(&inputs.app_store), &rules, &fresh, now),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("google_play", |b| {
        b.iter(|| {
            check_receipt(
                std::hint::black_box(&inputs.google_play),
                &rules,
                &anchors,
                now,
            )
        })
    });
    group.finish();
}

criterion_group!(benches, peers);
criterion_main!(benches);
