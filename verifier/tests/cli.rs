//! The `payseal-verifier` binary: keygen, profile, check exit codes, and dev mode reuse.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{bin, StateDir, APP};
use payseal_protocol::profile::Profile;
use payseal_protocol::verdict::VerdictVerifier;
use payseal_protocol::{Outcome, Reason, Receipt, Redemption, Store};

fn run(args: &[&str], extra: &[&Path]) -> std::process::Output {
    let mut cmd = Command::new(bin());
    cmd.args(args);
    for p in extra {
        cmd.arg(p);
    }
    cmd.output().unwrap()
}

#[test]
fn keygen_writes_private_files_and_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("keys");
    let o = Command::new(bin())
        .args(["keygen", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{o:?}");
    let hpke = std::fs::read(out.join("hpke.key")).unwrap();
    payseal_verifier::read_hpke_key(&out.join("hpke.key")).unwrap();
    payseal_verifier::read_verdict_key(&out.join("verdict.key")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for f in ["hpke.key", "verdict.key"] {
            let mode = std::fs::metadata(out.join(f)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{f}");
        }
    }
    // Secrets never go to the terminal.
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        !stdout.contains("secret") && !stdout.contains("seed"),
        "{stdout}"
    );

    let again = Command::new(bin())
        .args(["keygen", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("refusing to overwrite"));
    assert_eq!(std::fs::read(out.join("hpke.key")).unwrap(), hpke);
}

#[test]
fn profile_prints_a_valid_profile_with_leaf_and_backup_pins() {
    let state = StateDir::new();
    let o = run(&["profile", "--config"], &[&state.paths.config]);
    assert!(o.status.success(), "{o:?}");
    let profile = Profile::parse(&String::from_utf8(o.stdout).unwrap()).unwrap();
    let settings = state.settings();
    let leaf = payseal_verifier::leaf_pin(&settings.tls.cert_pem).unwrap();
    assert_eq!(
        profile.document().tls_pins,
        vec![leaf, settings.backup_pins[0].clone()]
    );
    assert_eq!(profile.key_config, settings.hpke_keys[0].config());
    assert_eq!(
        profile.verdict_keys,
        vec![settings.verdict_keys[0].public_key()]
    );
    assert_eq!(profile.verifier_url.as_str(), settings.public_url);
}

/// A reader that went away (`payseal-verifier profile | head -0`) is not a panic: the command
/// finishes and exits as it would have.
#[test]
fn a_closed_output_pipe_is_not_a_panic() {
    let state = StateDir::new();
    let mut child = Command::new(bin())
        .args(["profile", "--config"])
        .arg(&state.paths.config)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Close the read end before the child has loaded its config and written anything.
    drop(child.stdout.take());
    let o = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(o.status.success(), "{o:?}");
}

fn check(state: &StateDir, app: &str, receipt_json: &str) -> (Option<i32>, serde_json::Value) {
    let file = state
        .dir
        .path()
        .join(format!("receipt-{}.json", uuid::Uuid::new_v4()));
    std::fs::write(&file, receipt_json).unwrap();
    let o = run(
        &["check", "--app", app, "--config"],
        &[&state.paths.config, &file],
    );
    let doc = serde_json::from_slice(&o.stdout).unwrap_or(serde_json::Value::Null);
    (o.status.code(), doc)
}

#[test]
fn check_exit_codes_and_reasons() {
    let state = StateDir::new();
    for store in [
        Store::GooglePlay,
        Store::AppStore,
        Store::Huawei,
        Store::Sandbox,
    ] {
        let receipt = state.issue(store);
        let (code, doc) = check(&state, APP, &serde_json::to_string(&receipt).unwrap());
        assert_eq!(code, Some(0), "{store}: {doc}");
        assert_eq!(doc["outcome"], "paid");
        assert_eq!(doc["purchase"]["product_id"], "coins_100");
        assert_eq!(doc["receipt_sha256"], receipt.sha256_hex());
    }

    // Forged: a real signature over altered JSON.
    let Receipt::Huawei {
        purchase_data,
        signature,
        algorithm,
    } = state.issue(Store::Huawei)
    else {
        unreachable!()
    };
    let forged = Receipt::Huawei {
        purchase_data: purchase_data.replace("coins_100", "coins_999"),
        signature,
        algorithm,
    };
    let (code, doc) = check(&state, APP, &serde_json::to_string(&forged).unwrap());
    assert_eq!(code, Some(1), "{doc}");
    assert_eq!(doc["outcome"], "not_paid");
    assert_eq!(doc["reason"], "bad_signature");
    assert!(!doc["detail"].as_str().unwrap().is_empty());

    // Unknown app, and a file that is not receipt JSON.
    let genuine = serde_json::to_string(&state.issue(Store::GooglePlay)).unwrap();
    let (code, doc) = check(&state, "com.nobody", &genuine);
    assert_eq!(
        (code, doc["reason"].as_str()),
        (Some(1), Some("unknown_app"))
    );
    let (code, doc) = check(&state, APP, "{\"store\":\"amazon\"}");
    assert_eq!((code, doc["reason"].as_str()), (Some(1), Some("malformed")));

    // Usage and configuration errors: 2.
    let missing = state.dir.path().join("nope.json");
    let o = run(
        &["check", "--app", APP, "--config"],
        &[&state.paths.config, &missing],
    );
    assert_eq!(o.status.code(), Some(2));
    let receipt_file = state.dir.path().join("r.json");
    std::fs::write(&receipt_file, &genuine).unwrap();
    let o = run(
        &["check", "--app", APP, "--config"],
        &[&state.dir.path().join("missing.toml"), &receipt_file],
    );
    assert_eq!(o.status.code(), Some(2));
    let o = run(&["check", "--config"], &[&state.paths.config]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "missing arguments are usage errors"
    );
}

/// A config with only `[trust]` and `[apps]`, cut from the dev config (same folder, so its
/// relative paths still resolve), plus `extra` TOML appended.
fn offline_config(state: &StateDir, extra: &str) -> std::path::PathBuf {
    let text = std::fs::read_to_string(&state.paths.config).unwrap();
    let mut table: toml::Table = text.parse().unwrap();
    for server_table in ["server", "keys", "verdict", "ledger", "webhooks"] {
        table.remove(server_table);
    }
    let file = state
        .dir
        .path()
        .join(format!("offline-{}.toml", uuid::Uuid::new_v4()));
    std::fs::write(
        &file,
        format!("{}\n{extra}", toml::to_string(&table).unwrap()),
    )
    .unwrap();
    file
}

#[test]
fn check_runs_with_only_the_apps_and_trust_sections() {
    let state = StateDir::new();
    let offline = offline_config(&state, "");
    let text = std::fs::read_to_string(&offline).unwrap();
    assert!(!text.contains("[server]") && !text.contains("[keys]") && !text.contains("[ledger]"));
    assert!(
        text.contains("[trust]") || text.contains("[[trust.apple_roots]]"),
        "{text}"
    );

    let receipt_file = state.dir.path().join("r.json");
    let check_with = |config: &Path, receipt: &Receipt| {
        std::fs::write(&receipt_file, serde_json::to_string(receipt).unwrap()).unwrap();
        let o = run(
            &["check", "--app", APP, "--config"],
            &[config, &receipt_file],
        );
        let doc: serde_json::Value =
            serde_json::from_slice(&o.stdout).unwrap_or(serde_json::Value::Null);
        (
            o.status.code(),
            doc,
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    // Every store, App Store included (its root comes from [trust]).
    for store in [
        Store::GooglePlay,
        Store::AppStore,
        Store::Huawei,
        Store::Sandbox,
    ] {
        let receipt = state.issue(store);
        let (code, doc, stderr) = check_with(&offline, &receipt);
        assert_eq!(code, Some(0), "{store}: {doc} {stderr}");
        assert_eq!(doc["outcome"], "paid");
        assert_eq!(doc["receipt_sha256"], receipt.sha256_hex());
    }
    let Receipt::GooglePlay {
        purchase_data,
        signature,
    } = state.issue(Store::GooglePlay)
    else {
        unreachable!()
    };
    let forged = Receipt::GooglePlay {
        purchase_data: purchase_data.replace("coins_100", "coins_999"),
        signature,
    };
    let (code, doc, _) = check_with(&offline, &forged);
    assert_eq!(
        (code, doc["reason"].as_str()),
        (Some(1), Some("bad_signature"))
    );

    // The server's loader still refuses that file: `check` really takes another path.
    let o = run(&["profile", "--config"], &[&offline]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("server"));

    // Still checked: a misspelt table and a wrong App Store root fingerprint are config errors.
    let genuine = state.issue(Store::GooglePlay);
    let typo = offline_config(&state, "[app]\nx = 1\n");
    let (code, _, stderr) = check_with(&typo, &genuine);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("unknown field `app`"), "{stderr}");
    let text = std::fs::read_to_string(&offline).unwrap();
    let sha = text
        .lines()
        .skip_while(|l| l.trim() != "[[trust.apple_roots]]")
        .find_map(|l| l.trim().strip_prefix("sha256 = \""))
        .map(|rest| rest.trim_end_matches('"').to_string())
        .expect("the dev config names an App Store root with its sha256");
    let flipped = sha.replacen(&sha[..1], if &sha[..1] == "0" { "1" } else { "0" }, 1);
    let bad_root = state.dir.path().join("offline-bad-root.toml");
    std::fs::write(&bad_root, text.replace(&sha, &flipped)).unwrap();
    let (code, _, stderr) = check_with(&bad_root, &genuine);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("trust.apple_roots[0].sha256"), "{stderr}");
}

struct DevProcess {
    child: Child,
    url: String,
}

impl DevProcess {
    fn start(dir: &Path) -> Self {
        let mut child = Command::new(bin())
            .args(["dev", "--listen", "127.0.0.1:0", "--state-dir"])
            .arg(dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut url = None;
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap();
            if let Some(u) = line.strip_prefix("listening on ") {
                url = Some(u.trim().to_string());
                break;
            }
        }
        let url = url.expect("dev printed its URL");
        Self { child, url }
    }

    fn port(&self) -> u16 {
        self.url.rsplit(':').next().unwrap().parse().unwrap()
    }

    fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(status.success());
        for _ in 0..200 {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        panic!("dev did not stop within 10 s of SIGTERM");
    }
}

/// Verify like the SDK would, from `profile.json` alone, against the running dev server.
async fn verify_with_profile(
    dir: &Path,
    port: u16,
    account: &str,
    receipt: &Receipt,
) -> payseal_protocol::VerdictClaims {
    let profile =
        Profile::parse(&std::fs::read_to_string(dir.join("profile.json")).unwrap()).unwrap();
    let client = common::client_for(&dir.join("tls/cert.pem"));
    // Wait until it accepts connections.
    let mut ready = false;
    for _ in 0..100 {
        if let Ok(r) = client
            .get(format!("https://127.0.0.1:{port}/readyz"))
            .send()
            .await
        {
            ready = r.status() == 200;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready);
    let request = common::request(APP, account, receipt);
    let (body, ctx) = payseal_protocol::envelope::seal_request(
        &profile.key_config,
        &serde_json::to_vec(&request).unwrap(),
    )
    .unwrap();
    let response = client
        .post(format!("https://127.0.0.1:{port}/v1/verify"))
        .header("content-type", "application/payseal-request")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let sealed = response.bytes().await.unwrap();
    let verifier = VerdictVerifier::new(profile.verdict_keys.clone());
    let claims = common::open_verdict(&verifier, ctx, &sealed);
    assert_eq!(claims.iss, profile.verifier_url.as_str());
    assert_eq!(claims.nonce, request.nonce);
    claims
}

fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    [
        "keys/hpke.key",
        "keys/verdict.key",
        "tls/cert.pem",
        "tls/key.pem",
        "tls/backup-key.pem",
        "verifier.toml",
        "sandbox-store/google-play.key.pem",
        "sandbox-store/sandbox.key.pem",
    ]
    .iter()
    .map(|f| (f.to_string(), std::fs::read(dir.join(f)).unwrap()))
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_twice_on_one_dir_reuses_everything() {
    let dir = tempfile::tempdir().unwrap();
    // Seed the store from the shared template (RSA key generation is slow in debug builds).
    common::copy_dir(
        common::template_store(),
        &dir.path().join(payseal_sandbox::DEV_STORE_SUBDIR),
    );
    let store =
        payseal_sandbox::SandboxStore::open_or_create(&dir.path().join("sandbox-store")).unwrap();
    let receipt = store
        .issue(&payseal_sandbox::Order::new(
            Store::GooglePlay,
            APP,
            "coins_100",
        ))
        .unwrap();

    let first = DevProcess::start(dir.path());
    assert!(first.url.starts_with("https://localhost:"));
    let v = verify_with_profile(dir.path(), first.port(), "alice", &receipt).await;
    assert_eq!(v.outcome, Outcome::Paid);
    assert_eq!(v.redemption, Some(Redemption::First));
    let profile_1 =
        Profile::parse(&std::fs::read_to_string(dir.path().join("profile.json")).unwrap()).unwrap();
    let files_1 = snapshot(dir.path());
    assert!(first.terminate().success(), "SIGTERM is a clean stop");

    let second = DevProcess::start(dir.path());
    assert_eq!(snapshot(dir.path()), files_1, "a second run rewrote state");
    let profile_2 =
        Profile::parse(&std::fs::read_to_string(dir.path().join("profile.json")).unwrap()).unwrap();
    assert_eq!(profile_2.key_config, profile_1.key_config);
    assert_eq!(profile_2.verdict_keys, profile_1.verdict_keys);
    assert_eq!(profile_2.tls_pins, profile_1.tls_pins);
    // The ledger persisted: the same account again is a repeat, another is refused.
    let v = verify_with_profile(dir.path(), second.port(), "alice", &receipt).await;
    assert_eq!(v.redemption, Some(Redemption::Repeat));
    let v = verify_with_profile(dir.path(), second.port(), "mallory", &receipt).await;
    assert_eq!(v.reason, Some(Reason::AlreadyRedeemed));
    assert!(second.terminate().success());
}
