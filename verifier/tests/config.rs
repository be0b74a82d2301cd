//! Configuration loading: good files resolve; bad ones name the file, the key and the reason.

mod common;

use std::path::Path;

use common::{StateDir, APP};
use payseal_verifier::config::{self, ConfigError};

fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{from:?} not in the config");
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
}

fn load_err(state: &StateDir) -> ConfigError {
    config::load_with_env(&state.paths.config, |_| None).unwrap_err()
}

fn assert_names(err: &ConfigError, file: &Path, key: &str, reason: &str) {
    let text = err.to_string();
    assert!(
        text.contains(&file.display().to_string()),
        "no file in {text}"
    );
    assert!(text.contains(key), "no key {key:?} in {text}");
    assert!(text.contains(reason), "no reason {reason:?} in {text}");
}

#[test]
fn dev_config_loads_with_paths_resolved_against_its_folder() {
    let state = StateDir::new();
    let s = state.settings();
    let dir = state.dir.path();
    assert_eq!(
        s.ledger_url,
        format!("sqlite:{}", dir.join("ledger.db").display())
    );
    assert_eq!(s.tls.cert_pem, dir.join("tls/cert.pem"));
    assert_eq!(s.anchors.apple_roots().len(), 1);
    assert_eq!(s.backup_pins.len(), 1);
    assert_eq!(s.hpke_keys.len(), 1);
    assert_eq!(s.verdict_keys.len(), 1);
    assert_eq!(s.verdict_ttl.as_secs(), 600);
    let app = &s.apps[APP];
    assert!(app.google_play.is_some() && app.app_store.is_some());
    assert!(app.huawei.is_some() && app.sandbox.is_some());
    assert_eq!(s.public_url, "https://localhost:8443");

    // Without public_url it defaults to https://localhost:<listen port>; port 0 needs it set.
    edit(
        &state.paths.config,
        "public_url = \"https://localhost:8443\"\n",
        "",
    );
    assert_names(
        &load_err(&state),
        &state.paths.config,
        "server.public_url",
        "invalid port",
    );
    edit(&state.paths.config, "127.0.0.1:0", "127.0.0.1:9444");
    let s = state.settings();
    assert_eq!(s.public_url, "https://localhost:9444");
}

#[test]
fn environment_overrides_apply_and_are_checked() {
    let state = StateDir::new();
    let s = config::load_with_env(&state.paths.config, |name| match name {
        "PAYSEAL_LISTEN" => Some("0.0.0.0:9443".into()),
        "PAYSEAL_PUBLIC_URL" => Some("https://127.0.0.1".into()),
        "PAYSEAL_LEDGER" => Some("sqlite:other/l.db".into()),
        _ => None,
    })
    .unwrap();
    assert_eq!(s.listen.to_string(), "0.0.0.0:9443");
    assert_eq!(s.public_url, "https://127.0.0.1");
    assert_eq!(
        s.ledger_url,
        format!("sqlite:{}", state.dir.path().join("other/l.db").display())
    );

    let err = config::load_with_env(&state.paths.config, |name| {
        (name == "PAYSEAL_LISTEN").then(|| "not-an-address".to_string())
    })
    .unwrap_err();
    assert_names(
        &err,
        &state.paths.config,
        "PAYSEAL_LISTEN",
        "socket address",
    );
    let err = config::load_with_env(&state.paths.config, |name| {
        (name == "PAYSEAL_PUBLIC_URL").then(|| "http://plain".to_string())
    })
    .unwrap_err();
    assert_names(&err, &state.paths.config, "PAYSEAL_PUBLIC_URL", "https://");
    let err = config::load_with_env(&state.paths.config, |name| {
        (name == "PAYSEAL_LEDGER").then(|| "mysql://x".to_string())
    })
    .unwrap_err();
    assert_names(&err, &state.paths.config, "PAYSEAL_LEDGER", "ledger URL");
}

#[test]
fn unknown_key_is_named() {
    let state = StateDir::new();
    edit(
        &state.paths.config,
        "[server]\n",
        "[server]\nlisten_adress = \"x\"\n",
    );
    let err = load_err(&state);
    assert!(matches!(err, ConfigError::Syntax { .. }), "{err}");
    assert_names(
        &err,
        &state.paths.config,
        "server.listen_adress",
        "unknown field",
    );
}

#[test]
fn apple_root_fingerprint_is_checked() {
    let state = StateDir::new();
    let real = state.store.app_store_root_sha256();
    edit(&state.paths.config, &real, &"ab".repeat(32));
    let err = load_err(&state);
    assert_names(
        &err,
        &state.paths.config,
        "trust.apple_roots[0].sha256",
        "fingerprint mismatch",
    );
    assert_eq!(err.key(), Some("trust.apple_roots[0].sha256"));
}

#[test]
fn app_receipt_root_fingerprint_is_checked_like_g3() {
    let state = StateDir::new();
    let real = state.store.app_receipt_root_sha256();
    edit(&state.paths.config, &real, &"cd".repeat(32));
    let err = load_err(&state);
    assert_names(
        &err,
        &state.paths.config,
        "trust.apple_receipt_roots[0].sha256",
        "fingerprint mismatch",
    );
}

#[test]
fn apples_real_app_receipt_root_loads_with_its_published_fingerprint() {
    // `../shared/apple/AppleIncRootCertificate.pem` (as the rules' tests read Apple's roots).
    let apple = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/apple/AppleIncRootCertificate.pem"
    );
    let published = "b0b1730ecbc7ff4505142c49f1295e6eda6bcaed7e2c68c5be91b5a11001f024";
    let state = StateDir::new();
    edit(
        &state.paths.config,
        "[[trust.apple_receipt_roots]]\n",
        &format!("[[trust.apple_receipt_roots]]\npath = {apple:?}\nsha256 = \"{published}\"\n\n[[trust.apple_receipt_roots]]\n"),
    );
    let settings = payseal_verifier::config::load_with_env(&state.paths.config, |_| None).unwrap();
    assert_eq!(settings.anchors.apple_receipt_roots().len(), 2);
    // One digit off: refused, by key.
    let state = StateDir::new();
    edit(
        &state.paths.config,
        "[[trust.apple_receipt_roots]]\n",
        &format!("[[trust.apple_receipt_roots]]\npath = {apple:?}\nsha256 = \"{}0\"\n\n[[trust.apple_receipt_roots]]\n", &published[..63]),
    );
    let err = load_err(&state);
    assert_eq!(err.key(), Some("trust.apple_receipt_roots[0].sha256"));
}

#[test]
fn apple_root_that_is_not_a_certificate_is_refused() {
    let state = StateDir::new();
    let root = state.store.app_store_root_path();
    let rel = root
        .strip_prefix(state.dir.path())
        .unwrap()
        .display()
        .to_string();
    edit(&state.paths.config, &rel, "keys/verdict.key");
    let err = load_err(&state);
    assert_names(
        &err,
        &state.paths.config,
        "trust.apple_roots[0].path",
        "CERTIFICATE",
    );
}

#[test]
fn bad_store_keys_are_named() {
    let state = StateDir::new();
    let play = state.store.google_play_public_key();
    edit(&state.paths.config, &play, "bm90IGEga2V5");
    let err = load_err(&state);
    assert_names(
        &err,
        &state.paths.config,
        "apps.\"dev.payseal.demo\".google_play.public_key",
        "SubjectPublicKeyInfo",
    );

    let state = StateDir::new();
    let sb = state.store.sandbox_public_key();
    edit(&state.paths.config, &sb, "AAAA");
    let err = load_err(&state);
    assert_names(
        &err,
        &state.paths.config,
        "apps.\"dev.payseal.demo\".sandbox.public_key",
        "32 bytes",
    );
}

#[test]
fn missing_or_wrong_key_files_are_named() {
    let state = StateDir::new();
    edit(&state.paths.config, "keys/hpke.key", "keys/missing.key");
    let err = load_err(&state);
    assert_names(&err, &state.paths.config, "keys.hpke[0]", "missing.key");

    let state = StateDir::new();
    edit(
        &state.paths.config,
        "verdict = [\"keys/verdict.key\"]",
        "verdict = [\"keys/hpke.key\"]",
    );
    let err = load_err(&state);
    assert_names(
        &err,
        &state.paths.config,
        "keys.verdict[0]",
        "payseal-verdict-ed25519",
    );
}

#[test]
fn app_rules_are_checked() {
    // App Store without any trusted root (neither StoreKit 2's nor app receipts').
    let state = StateDir::new();
    let mut text = std::fs::read_to_string(&state.paths.config).unwrap();
    for table in ["[[trust.apple_roots]]", "[[trust.apple_receipt_roots]]"] {
        let start = text.find(table).unwrap();
        let end = start + text[start..].find("\n\n").unwrap();
        text = format!("{}{}", &text[..start], &text[end..]);
    }
    std::fs::write(&state.paths.config, text).unwrap();
    let err = load_err(&state);
    assert_names(
        &err,
        &state.paths.config,
        "apps.\"dev.payseal.demo\".app_store",
        "trust.apple_roots",
    );

    // The sandbox store in a production-only app.
    let state = StateDir::new();
    edit(
        &state.paths.config,
        "environments = [\"sandbox\", \"production\"]",
        "environments = [\"production\"]",
    );
    let err = load_err(&state);
    assert_names(
        &err,
        &state.paths.config,
        "apps.\"dev.payseal.demo\".sandbox",
        "sandbox",
    );

    // An unknown environment name.
    let state = StateDir::new();
    edit(
        &state.paths.config,
        "environments = [\"sandbox\", \"production\"]",
        "environments = [\"staging\"]",
    );
    let err = load_err(&state);
    assert_names(&err, &state.paths.config, "environments", "staging");
}

#[test]
fn limits_and_tls_are_checked() {
    let state = StateDir::new();
    edit(
        &state.paths.config,
        "max_body_bytes = 65536",
        "max_body_bytes = 10",
    );
    assert_names(
        &load_err(&state),
        &state.paths.config,
        "server.max_body_bytes",
        "outside",
    );

    let state = StateDir::new();
    edit(&state.paths.config, "ttl_minutes = 10", "ttl_minutes = 0");
    assert_names(
        &load_err(&state),
        &state.paths.config,
        "verdict.ttl_minutes",
        "outside",
    );

    let state = StateDir::new();
    edit(
        &state.paths.config,
        "tls_key = \"tls/key.pem\"",
        "tls_key = \"tls/backup-key.pem\"",
    );
    assert_names(
        &load_err(&state),
        &state.paths.config,
        "server.tls_key",
        "does not match the certificate",
    );

    let state = StateDir::new();
    edit(
        &state.paths.config,
        "backup_pins = [",
        "backup_pins = [\"sha256/short\", ",
    );
    assert_names(
        &load_err(&state),
        &state.paths.config,
        "server.backup_pins[0]",
        "sha256/",
    );
}

#[test]
fn serve_with_a_bad_config_exits_2_naming_file_and_key() {
    let state = StateDir::new();
    edit(
        &state.paths.config,
        "ttl_minutes = 10",
        "ttl_minutes = \"ten\"",
    );
    let out = std::process::Command::new(common::bin())
        .args(["serve", "--config"])
        .arg(&state.paths.config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("verdict.ttl_minutes"), "{stderr}");
    assert!(
        stderr.contains(&state.paths.config.display().to_string()),
        "{stderr}"
    );
}

#[test]
fn connection_limits_come_from_the_config() {
    let state = StateDir::new();
    let defaults = payseal_verifier::settings::Limits::default();
    assert_eq!(
        state.settings().limits.connection.max_connections,
        defaults.connection.max_connections
    );
    edit(
        &state.paths.config,
        "request_timeout_ms = 10000",
        "request_timeout_ms = 10000\nheader_read_timeout_ms = 2500\nmax_connections = 7",
    );
    let s = config::load_with_env(&state.paths.config, |_| None).unwrap();
    assert_eq!(s.limits.connection.header_read_timeout.as_millis(), 2500);
    assert_eq!(s.limits.connection.max_connections, 7);

    let state = StateDir::new();
    edit(
        &state.paths.config,
        "request_timeout_ms = 10000",
        "request_timeout_ms = 10000\nheader_read_timeout_ms = 0",
    );
    assert_names(
        &load_err(&state),
        &state.paths.config,
        "server.header_read_timeout_ms",
        "outside",
    );

    let state = StateDir::new();
    edit(
        &state.paths.config,
        "request_timeout_ms = 10000",
        "request_timeout_ms = 10000\nmax_connections = 0",
    );
    assert_names(
        &load_err(&state),
        &state.paths.config,
        "server.max_connections",
        "outside",
    );
}

#[test]
fn account_binding_is_checked_at_load() {
    use payseal_protocol::AccountBinding;
    // The dev config binds its app with uuid_v5 in the dev namespace, not required.
    let state = StateDir::new();
    let binding = state.settings().apps[APP].account_binding.unwrap();
    assert_eq!(
        binding.scheme,
        AccountBinding::uuid_v5(payseal_verifier::dev::DEV_ACCOUNT_NAMESPACE).unwrap()
    );
    assert!(!binding.required);

    let key = format!("apps.\"{APP}\".account_binding");
    let ns = format!(
        "namespace = \"{}\"\n",
        payseal_verifier::dev::DEV_ACCOUNT_NAMESPACE
    );
    let uuid_scheme = format!("scheme = \"uuid_v5\"\n{ns}");
    let cases: [(&str, String, &str, &str); 6] = [
        // uuid_v5 without a namespace, or with one that is not a UUID.
        (ns.as_str(), String::new(), "namespace", "namespace UUID"),
        (
            ns.as_str(),
            "namespace = \"not-a-uuid\"\n".into(),
            "namespace",
            "not a UUID",
        ),
        // sha256_hex with a namespace, or for an app that sells on the App Store (its
        // appAccountToken is a UUID).
        (
            "scheme = \"uuid_v5\"\n",
            "scheme = \"sha256_hex\"\n".into(),
            "namespace",
            "no namespace",
        ),
        (
            uuid_scheme.as_str(),
            "scheme = \"sha256_hex\"\n".into(),
            "scheme",
            "UUID",
        ),
        // An unknown scheme and an unknown key are syntax errors naming the key.
        (
            "scheme = \"uuid_v5\"\n",
            "scheme = \"md5\"\n".into(),
            "scheme",
            "unknown variant",
        ),
        (
            "required = false",
            "requird = false".into(),
            "requird",
            "unknown field",
        ),
    ];
    for (from, to, sub, reason) in cases {
        let state = StateDir::new();
        edit(&state.paths.config, from, &to);
        assert_names(
            &load_err(&state),
            &state.paths.config,
            &format!("{key}.{sub}"),
            reason,
        );
    }

    // sha256_hex without App Store settings and with required = true loads.
    let state = StateDir::new();
    let text = std::fs::read_to_string(&state.paths.config).unwrap();
    let app_store = format!("[apps.\"{APP}\".app_store]\nbundle_id = \"{APP}\"\n");
    assert!(text.contains(&app_store), "{text}");
    let text = text
        .replacen(&app_store, "", 1)
        .replacen("scheme = \"uuid_v5\"\n", "scheme = \"sha256_hex\"\n", 1)
        .replacen(&ns, "", 1)
        .replacen("required = false", "required = true", 1);
    std::fs::write(&state.paths.config, text).unwrap();
    let binding = state.settings().apps[APP].account_binding.unwrap();
    assert_eq!(binding.scheme, AccountBinding::Sha256Hex);
    assert!(binding.required);
}
