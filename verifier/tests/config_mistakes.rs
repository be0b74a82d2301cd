//! Mistakes a newcomer makes with the production configuration, and what they are told: each
//! refused at `profile` and `serve` (before an app meets it) with the key and a reason that says
//! what to do, never accepted silently and never a raw library error.

mod common;
mod newcomer;

use std::path::PathBuf;

use newcomer::{edit_once, edited_example, example_config, free_port, printed, verifier};

/// `/etc/payseal` after `keygen`, `tls --host localhost` and the documented edits.
struct Etc {
    dir: tempfile::TempDir,
    port: u16,
    /// The `pin:` line of `payseal-verifier tls` (the served key).
    pin: String,
    /// The `backup pin:` line.
    backup_pin: String,
    /// The documented configuration text (runs as is).
    text: String,
}

impl Etc {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let etc = dir.path();
        let (code, _, err) = verifier(&["keygen", "--out", etc.join("keys").to_str().unwrap()]);
        assert_eq!(code, 0, "{err}");
        let (code, out, err) = verifier(&[
            "tls",
            "--out",
            etc.join("tls").to_str().unwrap(),
            "--host",
            "localhost",
        ]);
        assert_eq!(code, 0, "{err}");
        let (pin, backup_pin) = (printed(&out, "pin:"), printed(&out, "backup pin:"));
        let port = free_port();
        let store = newcomer::sandbox_store_in(&etc.join("stand-in-stores"));
        let text = edited_example(etc, port, &backup_pin, &store);
        Self {
            dir,
            port,
            pin,
            backup_pin,
            text,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Write `text` as the configuration and run `command --config FILE` (profile or serve).
    /// A `serve` that accepted the file and is still serving after 20 s is stopped and
    /// reported as exit code -1.
    fn run(&self, command: &str, text: &str) -> (i32, String) {
        let config = self.path("verifier.toml");
        std::fs::write(&config, text).unwrap();
        let stderr = self.path("stderr.txt");
        let mut child = std::process::Command::new(newcomer::verifier_bin())
            .args([command, "--config", config.to_str().unwrap()])
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let code = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status.code().unwrap_or(-1);
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                break -1;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        };
        (code, std::fs::read_to_string(&stderr).unwrap_or_default())
    }

    /// `profile` and `serve` both refuse `text` with exit 2; returns serve's stderr after
    /// checking that both name the same key.
    fn refused(&self, text: &str, key: &str) -> String {
        let (code, profile_err) = self.run("profile", text);
        assert_eq!(code, 2, "profile accepted it: {profile_err}");
        assert!(profile_err.contains(key), "{key} not named: {profile_err}");
        let (code, serve_err) = self.run("serve", text);
        assert_eq!(code, 2, "serve accepted it: {serve_err}");
        assert!(serve_err.contains(key), "{key} not named: {serve_err}");
        serve_err
    }
}

#[test]
fn the_documented_configuration_runs_profile() {
    // The baseline the other tests change one thing of.
    let etc = Etc::new();
    let (code, err) = etc.run("profile", &etc.text);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn the_examples_placeholder_backup_pin_is_refused_naming_the_key() {
    let etc = Etc::new();
    let text = edit_once(
        &etc.text,
        &format!("backup_pins = [\"{}\"]", etc.backup_pin),
        "backup_pins = [\"sha256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"]",
    );
    let err = etc.refused(&text, "server.backup_pins[0]");
    assert!(err.contains("placeholder"), "{err}");
    assert!(
        err.contains("backup pin:"),
        "says where a real one comes from: {err}"
    );
    // Any one-character digest is a placeholder too.
    let text = edit_once(
        &etc.text,
        &format!("backup_pins = [\"{}\"]", etc.backup_pin),
        &format!(
            "backup_pins = [\"{}\", \"sha256/{}=\"]",
            etc.backup_pin,
            "E".repeat(43)
        ),
    );
    let err = etc.refused(&text, "server.backup_pins[1]");
    assert!(err.contains("placeholder"), "{err}");
}

#[test]
fn the_served_pin_given_as_backup_says_the_backup_must_differ() {
    let etc = Etc::new();
    let text = edit_once(
        &etc.text,
        &format!("backup_pins = [\"{}\"]", etc.backup_pin),
        &format!("backup_pins = [\"{}\"]", etc.pin),
    );
    let err = etc.refused(&text, "server.backup_pins[0]");
    assert!(err.contains("pin of the served key"), "{err}");
    assert!(err.contains("another key's"), "{err}");
    assert!(
        err.contains("privkey.pem"),
        "names the served key's file: {err}"
    );
    assert!(!err.contains("at least 2 pins"), "{err}");
}

#[test]
fn a_public_url_host_the_certificate_does_not_name_is_refused() {
    let etc = Etc::new();
    let local = format!("public_url = \"https://localhost:{}\"", etc.port);
    let text = edit_once(
        &etc.text,
        &local,
        &format!("public_url = \"https://verify.mygame.com:{}\"", etc.port),
    );
    let err = etc.refused(&text, "server.public_url");
    for part in [
        "does not name \"verify.mygame.com\"",
        "selfsigned.pem",
        "it names: localhost",
        "payseal-verifier tls --host verify.mygame.com",
    ] {
        assert!(err.contains(part), "{part:?} missing: {err}");
    }

    // The environment override is checked the same way, and named.
    let config = etc.path("verifier.toml");
    std::fs::write(&config, &etc.text).unwrap();
    let out = std::process::Command::new(newcomer::verifier_bin())
        .args(["profile", "--config", config.to_str().unwrap()])
        .env("PAYSEAL_PUBLIC_URL", "https://10.1.2.3:8443")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("PAYSEAL_PUBLIC_URL (server.public_url)"),
        "{err}"
    );
    assert!(err.contains("does not name \"10.1.2.3\""), "{err}");

    // An address the certificate does name passes.
    let text = edit_once(
        &etc.text,
        &local,
        &format!("public_url = \"https://localhost:{}/\"", etc.port),
    );
    assert_eq!(etc.run("profile", &text).0, 0);
}

#[test]
fn the_examples_optional_tables_ship_commented_and_example_values_are_refused() {
    let example = example_config();
    let parsed: toml::Table = toml::from_str(&example).unwrap();
    for table in ["google_play", "webhooks"] {
        assert!(
            !parsed.contains_key(table),
            "[{table}] is optional: the example ships it commented out"
        );
    }
    // A user who uncomments the RTDN table without changing its example values is stopped.
    let commented = example
        .lines()
        .skip_while(|l| *l != "# [google_play.rtdn]")
        .take_while(|l| l.starts_with('#'))
        .map(|l| l.strip_prefix("# ").unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(commented.starts_with("[google_play.rtdn]"), "{commented}");
    let etc = Etc::new();
    let text = format!("{}\n{commented}\n", etc.text);
    let (code, err) = etc.run("serve", &text);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("google_play.rtdn.audience"), "{err}");
    assert!(err.contains("documentation example"), "{err}");
    // A service account at an example domain, and an outbound URL at one, are refused too.
    let text = format!(
        "{}\n[google_play.rtdn]\naudience = \"https://verify.mygame.com/v1/stores/google-play/rtdn\"\n\
         service_account = \"push@example.com\"\n",
        etc.text
    );
    let (code, err) = etc.run("serve", &text);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("google_play.rtdn.service_account"), "{err}");
    let text = format!(
        "{}\n[google_play.rtdn]\naudience = \"https://verify.mygame.com/v1/stores/google-play/rtdn\"\n\
         service_account = \"push@mygame.iam.gserviceaccount.com\"\n\
         jwks_url = \"https://keys.example.invalid/certs\"\n",
        etc.text
    );
    let (code, err) = etc.run("serve", &text);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("google_play.rtdn.jwks_url"), "{err}");
    assert!(err.contains("documentation example"), "{err}");
}

#[test]
fn a_key_that_does_not_match_the_certificate_names_both_files() {
    let etc = Etc::new();
    // The backup key is a real key, but not the one the certificate was made for.
    let text = edit_once(
        &etc.text,
        "tls_key = \"tls/privkey.pem\"",
        "tls_key = \"tls/backup-key.pem\"",
    );
    let err = etc.refused(&text, "server.tls_key");
    for part in [
        "backup-key.pem",
        "does not match the certificate",
        "selfsigned.pem",
    ] {
        assert!(err.contains(part), "{part:?} missing: {err}");
    }
    assert!(!err.contains("KeyMismatch"), "a raw rustls name: {err}");
}

/// Start `payseal-verifier args` on an address already taken; returns its exit code and stderr.
fn on_a_taken_port(args: &[&str], env: Option<(&str, &str)>) -> (i32, String) {
    let mut cmd = std::process::Command::new(newcomer::verifier_bin());
    cmd.args(args);
    if let Some((k, v)) = env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_port_in_use_names_the_setting_that_chose_it() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let etc = Etc::new();
    let config = etc.path("verifier.toml");
    std::fs::write(&config, &etc.text).unwrap();
    let config = config.to_str().unwrap();

    let (code, err) = on_a_taken_port(
        &["serve", "--config", config],
        Some(("PAYSEAL_LISTEN", addr.as_str())),
    );
    assert_eq!(code, 1, "{err}");
    for part in [
        format!("cannot listen on {addr}"),
        "in use".to_string(),
        "server.listen".to_string(),
        "PAYSEAL_LISTEN".to_string(),
    ] {
        assert!(err.contains(&part), "{part:?} missing: {err}");
    }

    // `dev` says which flag to change.
    let state = tempfile::tempdir().unwrap();
    newcomer::sandbox_store_in(&state.path().join(payseal_sandbox::DEV_STORE_SUBDIR));
    let (code, err) = on_a_taken_port(
        &[
            "dev",
            "--listen",
            &addr,
            "--state-dir",
            state.path().to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains(&format!("cannot listen on {addr}")), "{err}");
    assert!(err.contains("--listen"), "{err}");
    drop(taken);
}

#[test]
fn a_metrics_port_in_use_names_metrics_listen() {
    // Two verifiers on one host with the default metrics address: the second cannot start.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let etc = Etc::new();
    let config = etc.path("verifier.toml");
    let text = etc.text.replacen(
        "metrics_listen = \"127.0.0.1:0\"",
        &format!("metrics_listen = \"{addr}\""),
        1,
    );
    assert_ne!(text, etc.text, "no metrics_listen line to edit");
    std::fs::write(&config, text).unwrap();
    let (code, err) = on_a_taken_port(&["serve", "--config", config.to_str().unwrap()], None);
    assert_eq!(code, 1, "{err}");
    for part in [
        format!("cannot listen on {addr}"),
        "in use".to_string(),
        "server.metrics_listen".to_string(),
        "\"off\"".to_string(),
    ] {
        assert!(err.contains(&part), "{part:?} missing: {err}");
    }
    drop(taken);
}
