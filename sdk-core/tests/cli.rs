//! `payseal-client` runs the SDK path from the command line: JSON out, exit codes 0/1/2.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::TestVerifier;
use payseal_protocol::{Receipt, Store};

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

async fn run(args: Vec<String>) -> (i32, serde_json::Value) {
    let output: Output = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_payseal-client"))
            .args(&args)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let json = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output.status.code().unwrap(), json)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_prints_the_verdict_and_exits_by_outcome() {
    let verifier = TestVerifier::start().await;
    let dir = tempfile::tempdir().unwrap();
    let profile = write(dir.path(), "profile.json", &verifier.profile_json);
    let ca = write(dir.path(), "ca.pem", &verifier.ca.pem);
    let receipt = verifier.issue(Store::GooglePlay);
    let genuine = write(
        dir.path(),
        "genuine.json",
        &serde_json::to_string(&receipt).unwrap(),
    );
    let forged = match &receipt {
        Receipt::GooglePlay {
            purchase_data,
            signature,
        } => Receipt::GooglePlay {
            purchase_data: purchase_data.replace("coins_100", "coins_999"),
            signature: signature.clone(),
        },
        other => panic!("{other:?}"),
    };
    let forged = write(
        dir.path(),
        "forged.json",
        &serde_json::to_string(&forged).unwrap(),
    );
    let pending = dir.path().join("pending").to_string_lossy().into_owned();
    let args = |receipt: &str, account: &str, with_ca: bool| {
        let mut a = vec![
            "verify".to_string(),
            "--profile".into(),
            profile.clone(),
            "--app".into(),
            common::APP.into(),
            "--receipt".into(),
            receipt.to_string(),
            "--account".into(),
            account.to_string(),
            "--pending-dir".into(),
            pending.clone(),
            "--max-attempts".into(),
            "1".into(),
        ];
        if with_ca {
            a.extend(["--ca".to_string(), ca.clone()]);
        }
        a
    };

    // For another product first: not paid (exit 1), wrong_product, and not consumed.
    let mut for_other = args(&genuine, "alice", true);
    for_other.extend(["--product".to_string(), "coins_1000".into()]);
    let (code, json) = run(for_other).await;
    assert_eq!(code, 1, "{json}");
    assert_eq!(json["reason"], "wrong_product");

    let (code, json) = run(args(&genuine, "alice", true)).await;
    assert_eq!(code, 0, "{json}");
    assert_eq!(json["paid"], true);
    assert_eq!(json["redemption"], "first");
    assert_eq!(json["receipt_sha256"], receipt.sha256_hex());
    assert!(json["token"].as_str().unwrap().split('.').count() == 3);

    let (code, json) = run(args(&genuine, "mallory", true)).await;
    assert_eq!(code, 1, "{json}");
    assert_eq!(json["reason"], "already_redeemed");

    let (code, json) = run(args(&forged, "mallory", true)).await;
    assert_eq!(code, 1, "{json}");
    assert_eq!(json["reason"], "bad_signature");

    // Without the CA the verifier's chain is untrusted: an error, kind network, kept pending.
    let (code, json) = run(args(&forged, "mallory", false)).await;
    assert_eq!(code, 2, "{json}");
    assert_eq!(json["error"]["kind"], "network");

    // retry-pending with the CA: the kept receipt gets its verdict and leaves the store.
    let (code, json) = run(vec![
        "retry-pending".into(),
        "--profile".into(),
        profile.clone(),
        "--app".into(),
        common::APP.into(),
        "--pending-dir".into(),
        pending.clone(),
        "--ca".into(),
        ca.clone(),
    ])
    .await;
    assert_eq!(code, 0, "{json}");
    assert_eq!(json.as_array().unwrap().len(), 1);
    assert_eq!(
        json[0]["outcome"]["verified"]["verdict"]["reason"],
        "bad_signature"
    );

    let (code, json) = run(vec![
        "verify".into(),
        "--profile".into(),
        profile,
        "--app".into(),
        common::APP.into(),
        "--receipt".into(),
        write(dir.path(), "bad.json", "{\"store\":\"amazon\"}"),
        "--account".into(),
        "alice".into(),
    ])
    .await;
    assert_eq!(code, 2);
    assert_eq!(json["error"]["kind"], "invalid_receipt");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_certificate_says_to_pass_it_with_ca_and_a_blank_account_says_so() {
    // What payseal-client tells a newcomer about the two first mistakes: an untrusted
    // (self-signed development) certificate, and a blank account id.
    let verifier = TestVerifier::start().await;
    let dir = tempfile::tempdir().unwrap();
    let profile = write(dir.path(), "profile.json", &verifier.profile_json);
    let ca = write(dir.path(), "ca.pem", &verifier.ca.pem);
    let receipt = write(
        dir.path(),
        "receipt.json",
        &serde_json::to_string(&verifier.issue(Store::GooglePlay)).unwrap(),
    );
    let args = |account: &str, with_ca: bool| {
        let mut a: Vec<String> = [
            "verify",
            "--profile",
            &profile,
            "--app",
            common::APP,
            "--receipt",
            &receipt,
            "--account",
            account,
            "--max-attempts",
            "1",
        ]
        .map(String::from)
        .to_vec();
        if with_ca {
            a.extend(["--ca".to_string(), ca.clone()]);
        }
        a
    };

    // No --ca: rustls' UnknownIssuer, and what to do about it.
    let (code, json) = run(args("alice", false)).await;
    assert_eq!(code, 2, "{json}");
    assert_eq!(json["error"]["kind"], "network");
    let message = json["error"]["message"].as_str().unwrap();
    for part in [
        "UnknownIssuer",
        "self-signed development certificate",
        "STATE/tls/cert.pem",
        "--ca",
        "extraRootsPem",
        "ExtraRootsPem",
    ] {
        assert!(message.contains(part), "{part:?} missing: {message}");
    }

    // A blank account id: said to be blank, not a length problem; nothing sent.
    for blank in ["", "   "] {
        let (code, json) = run(args(blank, true)).await;
        assert_eq!(code, 2, "{json}");
        assert_eq!(json["error"]["kind"], "invalid_receipt");
        let message = json["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("account id is empty or blank"),
            "{message}"
        );
        assert!(!message.contains("length out of range"), "{message}");
    }

    // With the CA and an account: paid.
    let (code, json) = run(args("alice", true)).await;
    assert_eq!(code, 0, "{json}");
    assert_eq!(json["paid"], true);
}

/// Runs the client with `args` and returns (exit code, stdout, stderr).
fn run_raw(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_payseal-client"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn app_is_required_and_missing_arguments_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let profile = write(dir.path(), "profile.json", "{}");
    let receipt = write(dir.path(), "receipt.json", "{}");

    // No --app: refused before anything is read, with clap's usage message and exit 2.
    let (code, stdout, stderr) = run_raw(&[
        "verify",
        "--profile",
        &profile,
        "--receipt",
        &receipt,
        "--account",
        "alice",
    ]);
    assert_eq!(code, 2, "stdout {stdout} stderr {stderr}");
    assert!(stderr.contains("--app <APP>"), "{stderr}");
    assert!(stderr.contains("Usage:"), "{stderr}");
    assert!(!stdout.contains("invalid_profile"), "{stdout}");

    // retry-pending without --pending-dir: a usage error naming the argument, not invalid_profile.
    let (code, stdout, stderr) = run_raw(&["retry-pending", "--profile", &profile, "--app", "a.b"]);
    assert_eq!(code, 2, "stdout {stdout} stderr {stderr}");
    assert!(stderr.contains("--pending-dir <PENDING_DIR>"), "{stderr}");
    assert!(stderr.contains("Usage:"), "{stderr}");
    assert!(!stdout.contains("invalid_profile"), "{stdout}");
    assert!(!stderr.contains("invalid_profile"), "{stderr}");

    // With the arguments given, the same bad profile is what is reported (the profile "{}").
    let pending = dir.path().join("pending");
    let (code, stdout, stderr) = run_raw(&[
        "retry-pending",
        "--profile",
        &profile,
        "--app",
        "a.b",
        "--pending-dir",
        pending.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "stdout {stdout} stderr {stderr}");
    assert!(stdout.contains("invalid_profile"), "{stdout}");
}
