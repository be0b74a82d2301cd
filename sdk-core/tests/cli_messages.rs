//! What `payseal-client` tells a newcomer about the two first mistakes: an untrusted
//! (self-signed development) certificate, and a blank account id.

mod common;

use std::process::Command;

use common::TestVerifier;
use payseal_protocol::Store;

fn write(dir: &std::path::Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

/// Runs `payseal-client args` off the runtime; returns (exit code, stdout JSON, stderr).
async fn client(args: Vec<String>) -> (i32, serde_json::Value, String) {
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_payseal-client"))
            .args(&args)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    (
        out.status.code().unwrap(),
        json,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_certificate_says_to_pass_it_with_ca_and_a_blank_account_says_so() {
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
    let (code, json, stderr) = client(args("alice", false)).await;
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
    assert!(stderr.contains("--ca"), "{stderr}");

    // A blank account id: said to be blank, not a length problem; nothing sent.
    for blank in ["", "   "] {
        let (code, json, _) = client(args(blank, true)).await;
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
    let (code, json, _) = client(args("alice", true)).await;
    assert_eq!(code, 0, "{json}");
    assert_eq!(json["paid"], true);
}
