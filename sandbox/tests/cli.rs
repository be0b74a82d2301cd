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

/// The payload of a compact JWS (not verified: the verifier's tests verify these).
fn jws_payload(jws: &str) -> Value {
    use base64::Engine as _;
    let p64 = jws.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(p64)
            .unwrap(),
    )
    .unwrap()
}

#[test]
fn app_store_notifications_are_v2_bodies_with_signed_transactions() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path().to_str().unwrap();
    let notify = |extra: &[&str]| -> Value {
        let mut args = vec![
            "app-store-notification",
            "--dir",
            dir,
            "--app",
            "com.example.game",
        ];
        args.extend_from_slice(extra);
        let out = run(&args);
        assert!(out.status.success(), "{out:?}");
        let body: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(body.as_object().unwrap().len(), 1, "only signedPayload");
        jws_payload(body["signedPayload"].as_str().unwrap())
    };

    let refund = notify(&[
        "--type",
        "REFUND",
        "--transaction-id",
        "2000000777",
        "--uuid",
        "u-1",
    ]);
    assert_eq!(refund["notificationType"], "REFUND");
    assert_eq!(refund["notificationUUID"], "u-1");
    assert_eq!(refund["version"], "2.0");
    assert!(refund["signedDate"].as_i64().unwrap() > 0);
    assert!(refund.get("subtype").is_none());
    let data = &refund["data"];
    assert_eq!(data["bundleId"], "com.example.game");
    assert_eq!(data["environment"], "Sandbox");
    assert!(
        data.get("appAppleId").is_none(),
        "Apple omits it in the sandbox"
    );
    let tx = jws_payload(data["signedTransactionInfo"].as_str().unwrap());
    assert_eq!(tx["transactionId"], "2000000777");
    assert_eq!(tx["bundleId"], "com.example.game");
    assert_eq!(tx["productId"], "coins_100");
    assert!(
        tx["revocationDate"].as_i64().is_some(),
        "a refunded transaction"
    );
    assert!(data.get("signedRenewalInfo").is_none());

    let reversed = notify(&[
        "--type",
        "REFUND_REVERSED",
        "--transaction-id",
        "2000000777",
        "--environment",
        "production",
        "--renewal-info",
        "--subtype",
        "X",
    ]);
    assert_ne!(reversed["notificationUUID"], "u-1", "random when not given");
    assert_eq!(reversed["subtype"], "X");
    assert_eq!(reversed["data"]["environment"], "Production");
    assert!(reversed["data"]["appAppleId"].as_u64().is_some());
    let tx = jws_payload(reversed["data"]["signedTransactionInfo"].as_str().unwrap());
    assert!(tx.get("revocationDate").is_none());
    let renewal = jws_payload(reversed["data"]["signedRenewalInfo"].as_str().unwrap());
    assert_eq!(renewal["originalTransactionId"], "2000000777");
    assert_eq!(renewal["environment"], "Production");

    let test = notify(&["--type", "TEST"]);
    assert_eq!(test["notificationType"], "TEST");
    assert!(test["data"].get("signedTransactionInfo").is_none());
    let consumption = notify(&["--type", "CONSUMPTION_REQUEST"]);
    assert_eq!(
        consumption["data"]["consumptionRequestReason"],
        "UNINTENDED_PURCHASE"
    );

    // --type is required.
    let out = run(&["app-store-notification", "--dir", dir, "--app", "a"]);
    assert_eq!(out.status.code(), Some(2));
}
