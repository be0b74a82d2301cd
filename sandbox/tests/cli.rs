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
    assert_eq!(
        keys["app_receipt_root_sha256"],
        store.app_receipt_root_sha256()
    );

    for (cmd, tag) in [
        ("google-play", "google_play"),
        ("app-store", "app_store"),
        ("app-store-receipt", "app_store_receipt"),
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
        assert_eq!(receipt.kind(), tag);
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

/// The signed purchase JSON of a receipt (App Store: the JWS payload).
fn signed_json(receipt: &Value) -> Value {
    match receipt["store"].as_str().unwrap() {
        "app_store" => jws_payload(receipt["jws"].as_str().unwrap()),
        _ => serde_json::from_str(receipt["purchase_data"].as_str().unwrap()).unwrap(),
    }
}

#[test]
fn issues_current_expired_and_renewed_subscriptions_in_each_format() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let issue = |cmd: &str, extra: &[&str]| {
        let mut args = vec![
            cmd,
            "--dir",
            d,
            "--app",
            "dev.payseal.demo",
            "--product",
            "pro",
        ];
        args.extend_from_slice(extra);
        let out = run(&args);
        assert!(out.status.success(), "{cmd} {extra:?}: {out:?}");
        let receipt: Value = serde_json::from_slice(&out.stdout).unwrap();
        signed_json(&receipt)
    };
    let now = payseal_sandbox::now_ms();
    let day = 24 * 60 * 60 * 1000_i64;
    let near = |v: &Value, want: i64| {
        let got = v.as_i64().unwrap_or_else(|| panic!("no expiry in {v}"));
        assert!((got - want).abs() < 60_000, "{got} vs {want}");
    };

    let a = issue(
        "app-store",
        &["--type", "subscription", "--expires-in", "30d"],
    );
    assert_eq!(a["type"], "Auto-Renewable Subscription");
    near(&a["expiresDate"], now + 30 * day);
    assert_eq!(a["originalTransactionId"], a["transactionId"]);
    let a = issue(
        "app-store",
        &[
            "--type",
            "subscription",
            "--expires-in",
            "-1d",
            "--original-transaction-id",
            "2000000001",
        ],
    );
    near(&a["expiresDate"], now - day);
    assert_eq!(a["originalTransactionId"], "2000000001");
    assert_ne!(a["transactionId"], "2000000001");
    assert_eq!(a["transactionReason"], "RENEWAL");
    let a = issue("app-store", &["--type", "non-renewing-subscription"]);
    assert_eq!(a["type"], "Non-Renewing Subscription");
    assert!(a.get("expiresDate").is_none(), "Apple signs no expiry: {a}");

    let h = issue(
        "huawei",
        &[
            "--type",
            "subscription",
            "--expired",
            "--original-transaction-id",
            "77",
        ],
    );
    assert_eq!(
        (h["kind"].as_i64(), h["subscriptionId"].as_str()),
        (Some(2), Some("77"))
    );
    near(&h["expirationDate"], now - day);
    assert_eq!(h["subIsvalid"], false);
    let h2 = issue(
        "huawei",
        &["--type", "subscription", "--original-transaction-id", "77"],
    );
    assert_eq!(h2["subIsvalid"], true);
    near(&h2["expirationDate"], now + 30 * day);
    assert_eq!(
        h["purchaseToken"], h2["purchaseToken"],
        "kept across renewals"
    );
    assert_ne!(h["orderId"], h2["orderId"]);

    let s = issue(
        "sandbox",
        &["--type", "subscription", "--expires-in", "12h"],
    );
    assert_eq!(s["kind"], "subscription");
    near(&s["expires_at"], now + 12 * 60 * 60 * 1000);
    assert_eq!(s["original_transaction_id"], s["transaction_id"]);
    assert!(issue("sandbox", &[]).get("kind").is_none(), "consumable");

    let p1 = issue(
        "google-play",
        &[
            "--type",
            "subscription",
            "--original-transaction-id",
            "GPA.1-2-3-4",
        ],
    );
    let p2 = issue(
        "google-play",
        &[
            "--type",
            "subscription",
            "--original-transaction-id",
            "GPA.1-2-3-4",
        ],
    );
    assert_eq!(p1["autoRenewing"], true);
    assert_eq!(p1["purchaseToken"], p2["purchaseToken"]);
    assert!(p1["orderId"].as_str().unwrap().starts_with("GPA.1-2-3-4.."));
    assert!(issue("google-play", &[]).get("autoRenewing").is_none());

    // Expiry options need a subscription, and a duration must be one.
    for extra in [
        &["--expires-in", "30d"][..],
        &["--expired"],
        &["--original-transaction-id", "1"],
    ] {
        let mut args = vec!["app-store", "--dir", d, "--app", "a", "--product", "p"];
        args.extend_from_slice(extra);
        let out = run(&args);
        assert_eq!(out.status.code(), Some(2), "{extra:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("--type subscription"));
    }
    let out = run(&[
        "sandbox",
        "--dir",
        d,
        "--app",
        "a",
        "--product",
        "p",
        "--type",
        "subscription",
        "--expires-in",
        "soon",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a duration"));
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
