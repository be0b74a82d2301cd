//! The documented first hour, run as written with the real programs: the production sequence
//! (`keygen` → `tls` → edit a copy of `config.example.toml` → `profile` → `serve` → a
//! `payseal-client verify` that is paid), and `dev`'s printed commands pasted as printed.
//! The text of the sequence is in the docs (production quickstart); change both together.

mod common;
mod newcomer;

use newcomer::{
    client_bin, companions, edit_once, edited_example, example_config, free_port, play_purchase,
    printed, verifier, Served, EXAMPLE_APP,
};

#[test]
fn production_quickstart_runs_as_documented_and_a_client_gets_paid() {
    companions();
    let etc = tempfile::tempdir().unwrap(); // stands for /etc/payseal
    let etc = etc.path();
    let (keys, tls) = (etc.join("keys"), etc.join("tls"));
    let config = etc.join("verifier.toml");
    let config_arg = config.to_str().unwrap();

    // 1. payseal-verifier keygen --out /etc/payseal/keys
    let (code, out, err) = verifier(&["keygen", "--out", keys.to_str().unwrap()]);
    assert_eq!(code, 0, "keygen: {out}{err}");

    // 2. payseal-verifier tls --out /etc/payseal/tls --host <the verifier's host name>
    let (code, out, err) =
        verifier(&["tls", "--out", tls.to_str().unwrap(), "--host", "localhost"]);
    assert_eq!(code, 0, "tls: {out}{err}");
    let backup_pin = printed(&out, "backup pin:");

    // 3. cp config.example.toml /etc/payseal/verifier.toml, then edit the lines marked EDIT.
    let port = free_port();
    let store = newcomer::sandbox_store_in(&etc.join("stand-in-stores"));
    std::fs::write(&config, edited_example(etc, port, &backup_pin, &store)).unwrap();

    // 4. payseal-verifier profile --config /etc/payseal/verifier.toml > profile.json
    let (code, profile_json, err) = verifier(&["profile", "--config", config_arg]);
    assert_eq!(code, 0, "profile: {err}");
    let profile_path = etc.join("profile.json");
    std::fs::write(&profile_path, &profile_json).unwrap();
    let profile = payseal_protocol::profile::Profile::parse(&profile_json).unwrap();
    assert_eq!(
        profile.verifier_url.as_str(),
        format!("https://localhost:{port}")
    );
    assert_eq!(profile.tls_pins.len(), 2, "served key + backup key");

    // 5. payseal-verifier serve --config /etc/payseal/verifier.toml
    let self_signed = tls.join("selfsigned.pem");
    let served = Served::start(&["serve", "--config", config_arg], port, &self_signed);

    // 6. The app's check, from the command line: a genuine purchase is paid.
    let receipt = etc.join("receipt.json");
    play_purchase(&store, &receipt);
    let (code, out, err) = newcomer::run(
        &client_bin(),
        &[
            "verify",
            "--profile",
            profile_path.to_str().unwrap(),
            "--app",
            EXAMPLE_APP,
            "--ca",
            self_signed.to_str().unwrap(),
            "--receipt",
            receipt.to_str().unwrap(),
            "--account",
            "player-1",
        ],
    );
    assert_eq!(code, 0, "payseal-client verify: {out}{err}");
    let verdict: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(verdict["paid"], true, "{out}");
    assert!(served.stop().success(), "SIGTERM stops serve cleanly");
}

#[test]
fn profile_reads_only_what_the_profile_holds() {
    // Right after keygen and tls, with only [server] edited: the store keys are still the
    // example's placeholders and the Apple root file does not exist. The profile holds none
    // of them, so `profile` runs; `serve` needs them and names the first one missing.
    let etc = tempfile::tempdir().unwrap();
    let etc = etc.path();
    let config = etc.join("verifier.toml");
    assert_eq!(
        verifier(&["keygen", "--out", etc.join("keys").to_str().unwrap()]).0,
        0
    );
    let (code, out, _) = verifier(&[
        "tls",
        "--out",
        etc.join("tls").to_str().unwrap(),
        "--host",
        "localhost",
    ]);
    assert_eq!(code, 0);
    let text = example_config();
    let text = edit_once(
        &text,
        "public_url = \"https://verify.example.com:8443\"",
        "public_url = \"https://localhost:8443\"",
    );
    let text = edit_once(
        &text,
        "backup_pins = [\"sha256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"]",
        &format!("backup_pins = [\"{}\"]", printed(&out, "backup pin:")),
    );
    std::fs::write(&config, text).unwrap();

    let (code, profile, err) = verifier(&["profile", "--config", config.to_str().unwrap()]);
    assert_eq!(code, 0, "profile: {err}");
    payseal_protocol::profile::Profile::parse(&profile).unwrap();

    let (code, _, err) = verifier(&["serve", "--config", config.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("trust.apple_roots[0].path"), "{err}");
}

#[test]
fn dev_prints_commands_that_run_as_pasted_and_pay() {
    let bins = companions();
    let state = tempfile::tempdir().unwrap();
    // The sandbox store from the shared template (RSA key generation is slow in debug builds).
    newcomer::sandbox_store_in(&state.path().join(payseal_sandbox::DEV_STORE_SUBDIR));
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let served = Served::start(
        &[
            "dev",
            "--listen",
            &listen,
            "--state-dir",
            state.path().to_str().unwrap(),
        ],
        port,
        &state.path().join("tls/cert.pem"),
    );
    let printed_text = served.stdout_text();
    let command = |program: &str| -> String {
        printed_text
            .lines()
            .map(str::trim)
            .find(|l| l.contains(program) && !l.starts_with("try it"))
            .unwrap_or_else(|| panic!("dev printed no {program} line:\n{printed_text}"))
            .to_string()
    };
    let purchase = command("payseal-sandbox google-play");
    let verify = command("payseal-client verify");
    for part in [
        "--profile",
        "--app dev.payseal.demo",
        "--ca",
        "tls/cert.pem",
        "--receipt receipt.json",
        "--account",
    ] {
        assert!(verify.contains(part), "{part:?} missing from: {verify}");
    }
    // The programs are named by their path in the build folder: pasted, they run.
    assert!(
        verify.starts_with(bins.join("payseal-client").to_str().unwrap()),
        "{verify}"
    );

    // Paste both lines into a shell in an empty folder, as printed.
    let cwd = tempfile::tempdir().unwrap();
    let shell = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{purchase} && {verify}"))
        .current_dir(cwd.path())
        .output()
        .unwrap();
    let (out, err) = (
        String::from_utf8_lossy(&shell.stdout),
        String::from_utf8_lossy(&shell.stderr),
    );
    assert!(shell.status.success(), "{purchase}\n{verify}\n{out}{err}");
    let verdict: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(verdict["paid"], true, "{out}");

    // Without the --ca the line carries, the SDK's error says to pass it.
    let without_ca: String = {
        let mut words: Vec<&str> = verify.split_whitespace().collect();
        let at = words.iter().position(|w| *w == "--ca").unwrap();
        words.drain(at..at + 2);
        words.join(" ")
    };
    let shell = std::process::Command::new("sh")
        .arg("-c")
        .arg(&without_ca)
        .current_dir(cwd.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&shell.stderr);
    assert_eq!(shell.status.code(), Some(2), "{err}");
    assert!(err.contains("UnknownIssuer"), "{err}");
    assert!(err.contains("--ca"), "{err}");
    assert!(err.contains("extraRootsPem"), "{err}");

    assert!(served.stop().success(), "dev stops cleanly on SIGTERM");
}
