//! The `payseal-sandbox` binary, run as a user would.

use std::process::Command;

use payseal_protocol::Receipt;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_payseal-sandbox");

fn run(args: &[&str]) -> std::process::Output {
    Command::new(BIN).args(args).output().unwrap()
}

#[test]
fn issues_each_store_and_reuses_a_dev_state_dir() {
    let state = tempfile::tempdir().unwrap();
    // A `payseal-verifier dev` state dir: the store lives in `sandbox-store/`.
    let store_dir = state.path().join(payseal_sandbox::DEV_STORE_SUBDIR);
    std::fs::create_dir(&store_dir).unwrap();
    let dir = state.path().to_str().unwrap();

    let keys = run(&["keys", "--dir", dir]);
    assert!(keys.status.success(), "{keys:?}");
    let keys: Value = serde_json::from_slice(&keys.stdout).unwrap();
    assert!(keys["app_store_root_path"]
        .as_str()
        .unwrap()
        .starts_with(store_dir.to_str().unwrap()));
    let store = payseal_sandbox::SandboxStore::open_or_create(&store_dir).unwrap();
    assert_eq!(
        keys["google_play_public_key"],
        store.google_play_public_key()
    );
    assert_eq!(keys["app_store_root_sha256"], store.app_store_root_sha256());
    assert_eq!(keys["sandbox_public_key"], store.sandbox_public_key());

    for (cmd, tag) in [
        ("google-play", "google_play"),
        ("app-store", "app_store"),
        ("huawei", "huawei"),
        ("sandbox", "sandbox"),
    ] {
        let out = run(&[
            cmd,
            "--dir",
            dir,
            "--app",
            "dev.payseal.demo",
            "--product",
            "coins_100",
            "--environment",
            "production",
            "--quantity",
            "2",
            "--transaction-id",
            "tx-42",
        ]);
        assert!(out.status.success(), "{cmd}: {out:?}");
        let json: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(json["store"], tag);
        let receipt: Receipt = serde_json::from_value(json).unwrap();
        assert_eq!(receipt.store().as_str(), tag);
    }
    let out = run(&[
        "huawei",
        "--dir",
        dir,
        "--app",
        "a.b",
        "--product",
        "p",
        "--pss",
    ]);
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["algorithm"], "SHA256WithRSA/PSS");
    // Nothing was created next to `sandbox-store/`.
    let entries: Vec<_> = std::fs::read_dir(state.path()).unwrap().collect();
    assert_eq!(entries.len(), 1);
}

#[test]
fn account_token_flag_reaches_the_purchase() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let token = "7e3fb20b-4cdb-47cc-936d-99d65f608138";
    let base = [
        "--dir",
        d,
        "--app",
        "a",
        "--product",
        "p",
        "--account-token",
        token,
    ];
    let out = run(&[&["google-play"][..], &base].concat());
    assert!(out.status.success(), "{out:?}");
    let r: payseal_protocol::Receipt = serde_json::from_slice(&out.stdout).unwrap();
    let payseal_protocol::Receipt::GooglePlay { purchase_data, .. } = r else {
        panic!("not a Play receipt")
    };
    assert!(purchase_data.contains(&format!("\"obfuscatedAccountId\":\"{token}\"")));
    // Huawei has no account field: a usage error naming the fields that exist.
    let out = run(&[&["huawei"][..], &base].concat());
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("obfuscatedAccountId"));
}

#[test]
fn usage_errors_exit_2_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let out = run(&["google-play", "--dir", d, "--app", "a"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--product"));
    let out = run(&[
        "sandbox",
        "--dir",
        d,
        "--app",
        "a",
        "--product",
        "p",
        "--state",
        "lost",
    ]);
    assert_eq!(out.status.code(), Some(2));
    // A state the store's format cannot express: Play has no refunded purchase JSON.
    let out = run(&[
        "google-play",
        "--dir",
        d,
        "--app",
        "a",
        "--product",
        "p",
        "--state",
        "refunded",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Voided Purchases"));
    let out = run(&[
        "sandbox",
        "--dir",
        d,
        "--app",
        "a",
        "--product",
        "p",
        "--quantity",
        "0",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let out = run(&[
        "app-store",
        "--dir",
        d,
        "--app",
        "a",
        "--product",
        "p",
        "--state",
        "pending",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no pending transactions"), "{err}");
    assert!(out.stdout.is_empty());
}
