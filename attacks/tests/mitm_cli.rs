//! The `payseal-mitm` binary, as the Kotlin and Swift suites run it: a real process in front
//! of a real verifier (in process, 127.0.0.1, TLS), the real SDK through it, and its
//! `--report` file.

#[allow(dead_code)]
mod suite;

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use payseal_protocol::Store;
use suite::world::{outcome, World, APP};

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_mitm(w: &World, mode: &str, report: &std::path::Path, watch: &str) -> (Proc, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_payseal-mitm"))
        .args(["--listen", "127.0.0.1:0", "--upstream"])
        .arg(format!("https://localhost:{}", w.addr.port()))
        .arg("--cert")
        .arg(&w.paths.tls_cert)
        .arg("--key")
        .arg(&w.tls_key)
        .arg("--upstream-ca")
        .arg(&w.ca.pem_path)
        .args(["--mode", mode, "--watch", watch, "--report"])
        .arg(report)
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn payseal-mitm");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("read the listening line");
    let addr = line
        .trim()
        .strip_prefix("listening on https://")
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    (Proc(child), addr)
}

/// `payseal-mitm --mode resign` with the verifier's keys, merging `claims` into each verdict.
fn start_resign(w: &World, report: &std::path::Path, claims: &str) -> (Proc, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_payseal-mitm"))
        .args(["--listen", "127.0.0.1:0", "--upstream"])
        .arg(format!("https://localhost:{}", w.addr.port()))
        .arg("--cert")
        .arg(&w.paths.tls_cert)
        .arg("--key")
        .arg(&w.tls_key)
        .arg("--upstream-ca")
        .arg(&w.ca.pem_path)
        .args(["--mode", "resign", "--claims", claims, "--report"])
        .arg(report)
        .arg("--state-dir")
        .arg(&w.paths.dir)
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn payseal-mitm");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("read the listening line");
    let addr = line
        .trim()
        .strip_prefix("listening on https://")
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    (Proc(child), addr)
}

fn report(path: &std::path::Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).expect("report file")).expect("report JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_first_response_process_refuses_the_second_answer_and_reports_ciphertext_only() {
    let w = World::start().await.expect("world");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("report.json");
    let first = w.genuine(Store::GooglePlay);
    let payseal_protocol::Receipt::GooglePlay { signature, .. } = &first else {
        unreachable!()
    };
    let (_mitm, addr) = start_mitm(&w, "replay-first-response", &path, signature);
    let sdk = w.sdk_via(APP, addr);
    assert_eq!(outcome(&sdk, &first, "alice").await, "paid first");
    let second = w.genuine(Store::GooglePlay);
    assert_eq!(outcome(&sdk, &second, "bob").await, "error tampered");
    let r = report(&path);
    assert_eq!(r["mode"], "replay-first-response");
    assert_eq!(r["requests"], 2);
    assert_eq!(r["responses_altered"], 1);
    assert!(r["client_to_upstream_bytes"].as_u64().unwrap() > 1000);
    assert!(r["upstream_to_client_bytes"].as_u64().unwrap() > 500);
    assert_eq!(r["plaintext_seen"], false, "{r}");
    assert_eq!(r["watch_hits"], serde_json::json!([]));
    // The verifier answered the second request for real: bob owns his receipt.
    assert_eq!(w.owner(APP, &second).as_deref(), Some("bob"));
    w.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pass_mode_relays_faithfully_and_flags_plaintext() {
    let w = World::start().await.expect("world");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("report.json");
    let (_mitm, addr) = start_mitm(&w, "pass", &path, "GPA.");
    let sdk = w.sdk_via(APP, addr);
    let r = w.genuine(Store::GooglePlay);
    assert_eq!(outcome(&sdk, &r, "alice").await, "paid first");
    assert_eq!(report(&path)["plaintext_seen"], false);
    // A plaintext body through the relay is flagged in the report.
    let payseal_protocol::Receipt::GooglePlay { purchase_data, .. } = &r else {
        unreachable!()
    };
    let status = w
        .http
        .post(format!("https://localhost:{}/v1/verify", addr.port()))
        .header("content-type", "application/payseal-request")
        .body(purchase_data.clone())
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 400);
    let rep = report(&path);
    assert_eq!(rep["plaintext_seen"], true, "{rep}");
    assert_eq!(rep["watch_hits"], serde_json::json!(["GPA."]));
    assert_eq!(rep["responses_altered"], 0);
    w.stop();
}

/// Protocol v2 through the SDK: a verdict carrying `subscription_state` and `store_checked`
/// (signed with the verifier's own key by `--mode resign`, as a live-checking verifier would
/// sign it) reaches the app's `Verdict`; so do the v2 reasons.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resign_mode_carries_the_v2_claims_and_reasons_to_the_sdk_verdict() {
    use payseal_sdk_core::ffi::{NotPaidReason, SubscriptionState};
    use payseal_sdk_core::Verdict;

    let w = World::start().await.expect("world");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("report.json");
    let (mitm, addr) = start_resign(
        &w,
        &path,
        r#"{"subscription_state":"in_grace_period","store_checked":false}"#,
    );
    let sdk = w.sdk_via(APP, addr);
    let receipt = w.genuine(Store::GooglePlay);
    let v = Verdict::from(sdk.verify(&receipt, "alice").await.expect("verdict"));
    assert!(v.paid, "{v:?}");
    assert_eq!(v.subscription_state, Some(SubscriptionState::InGracePeriod));
    assert_eq!(v.store_checked, Some(false));
    let r = report(&path);
    assert_eq!(
        (r["mode"].clone(), r["responses_altered"].clone()),
        ("resign".into(), 1.into()),
        "{r}"
    );
    assert_eq!(r["plaintext_seen"], false, "{r}");
    drop(mitm);

    for (reason, wire) in [
        (NotPaidReason::OnHold, "on_hold"),
        (NotPaidReason::Paused, "paused"),
        (NotPaidReason::RefundLimit, "refund_limit"),
    ] {
        let claims = format!(
            r#"{{"outcome":"not_paid","reason":"{wire}","redemption":null,"subscription_state":"on_hold","store_checked":true}}"#
        );
        let (_mitm, addr) = start_resign(&w, &path, &claims);
        let sdk = w.sdk_via(APP, addr);
        let receipt = w.genuine(Store::GooglePlay);
        let v = Verdict::from(sdk.verify(&receipt, "alice").await.expect("verdict"));
        assert!(!v.paid);
        assert_eq!(v.reason, Some(reason));
        assert_eq!(v.subscription_state, Some(SubscriptionState::OnHold));
        assert_eq!(v.store_checked, Some(true));
    }
    w.stop();
}

#[test]
fn resign_mode_needs_the_keys_and_a_claims_object() {
    let out = Command::new(env!("CARGO_BIN_EXE_payseal-mitm"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            "https://localhost:1",
            "--cert",
            "c",
            "--key",
            "k",
            "--upstream-ca",
            "c",
            "--mode",
            "resign",
            "--claims",
            "[]",
            "--state-dir",
            "/nonexistent",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("hpke.key"), "{err}");
    let out = Command::new(env!("CARGO_BIN_EXE_payseal-mitm"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            "https://localhost:1",
            "--cert",
            "c",
            "--key",
            "k",
            "--upstream-ca",
            "c",
            "--mode",
            "resign",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--mode resign needs"), "{err}");
}
