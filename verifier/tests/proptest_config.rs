//! Property tests: configuration loading answers arbitrary TOML text and environment overrides
//! with a `ConfigError` naming the file (and the key), never a panic.

mod common;

use std::path::Path;
use std::sync::OnceLock;

use common::StateDir;
use payseal_verifier::config::{self, ConfigError, ENV_LEDGER, ENV_LISTEN, ENV_PUBLIC_URL};
use proptest::prelude::*;

/// One dev state directory for every case (its key, TLS and root files are what the config
/// text names).
fn state() -> &'static StateDir {
    static STATE: OnceLock<StateDir> = OnceLock::new();
    STATE.get_or_init(StateDir::new)
}

fn dev_text() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| std::fs::read_to_string(&state().paths.config).unwrap())
}

fn assert_typed(
    result: Result<payseal_verifier::settings::Settings, ConfigError>,
    file: &Path,
) -> Result<(), TestCaseError> {
    if let Err(e) = result {
        let text = e.to_string();
        prop_assert!(
            text.starts_with(&file.display().to_string()),
            "error does not name the file: {}",
            text
        );
        prop_assert!(
            text.len() > file.display().to_string().len() + 2,
            "no reason: {}",
            text
        );
    }
    Ok(())
}

fn load(text: &str) -> Result<(), TestCaseError> {
    let path = &state().paths.config;
    assert_typed(config::load_from_str(text, path, |_| None), path)
}

/// TOML-ish lines: keys of the real schema, values of every TOML type, table headers.
fn toml_line() -> impl Strategy<Value = String> {
    let key = prop::sample::select(vec![
        "listen",
        "public_url",
        "tls_cert",
        "tls_key",
        "backup_pins",
        "max_body_bytes",
        "request_timeout_ms",
        "shutdown_grace_ms",
        "hpke",
        "verdict",
        "ttl_minutes",
        "url",
        "password_file",
        "auto_migrate",
        "max_connections",
        "connect_timeout_ms",
        "query_timeout_ms",
        "path",
        "sha256",
        "environments",
        "package_name",
        "public_key",
        "bundle_id",
        "x",
    ]);
    let value = prop_oneof![
        "\"[ -~]{0,30}\"".prop_map(|s| s.replace('\\', "")),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<bool>().prop_map(|b| b.to_string()),
        Just("[]".to_string()),
        Just("[\"sandbox\", \"production\"]".to_string()),
        Just("\"keys/hpke.key\"".to_string()),
        Just("\"sqlite:ledger.db\"".to_string()),
        Just("\"postgres://u:p@127.0.0.1:1/db\"".to_string()),
        Just("1e400".to_string()),
        Just("{}".to_string()),
    ];
    let header = prop::sample::select(vec![
        "[server]",
        "[keys]",
        "[verdict]",
        "[ledger]",
        "[[trust.apple_roots]]",
        "[trust]",
        "[apps.\"a\"]",
        "[apps.\"a\".google_play]",
        "[apps.\"a\".app_store]",
        "[apps.\"a\".huawei]",
        "[apps.\"a\".sandbox]",
        "[apps]",
        "[[apps]]",
    ]);
    prop_oneof![
        (key, value).prop_map(|(k, v)| format!("{k} = {v}")),
        header.prop_map(str::to_string),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_text_is_a_typed_error(text in any::<String>()) {
        load(&text)?;
    }

    #[test]
    fn toml_shaped_text_is_typed(lines in prop::collection::vec(toml_line(), 0..24)) {
        load(&lines.join("\n"))?;
    }

    #[test]
    fn mutated_dev_config_is_typed(
        index in any::<prop::sample::Index>(),
        c in any::<char>(),
        op in 0u8..3,
    ) {
        let mut chars: Vec<char> = dev_text().chars().collect();
        let i = index.index(chars.len());
        match op {
            0 => chars[i] = c,
            1 => chars.insert(i, c),
            _ => { chars.remove(i); }
        }
        let text: String = chars.into_iter().collect();
        load(&text)?;
    }

    #[test]
    fn dev_config_with_lines_dropped_or_replaced(
        drop in prop::collection::vec(any::<bool>(), 64),
        extra in prop::collection::vec(toml_line(), 0..3),
    ) {
        let mut lines: Vec<String> = dev_text()
            .lines()
            .zip(drop.iter().cycle())
            .filter(|(_, d)| !**d)
            .map(|(l, _)| l.to_string())
            .collect();
        lines.extend(extra);
        load(&lines.join("\n"))?;
    }

    #[test]
    fn arbitrary_environment_overrides_are_typed(
        listen in prop::option::of(any::<String>()),
        url in prop::option::of(any::<String>()),
        ledger in prop::option::of(any::<String>()),
    ) {
        let path = &state().paths.config;
        let env = |name: &str| match name {
            n if n == ENV_LISTEN => listen.clone(),
            n if n == ENV_PUBLIC_URL => url.clone(),
            n if n == ENV_LEDGER => ledger.clone(),
            _ => None,
        };
        let result = config::load_from_str(dev_text(), path, env);
        if let Err(e) = &result {
            let key = e.key().unwrap_or_default().to_string();
            prop_assert!(key.starts_with("PAYSEAL_"), "error not about an override: {}", e);
        }
        assert_typed(result, path)?;
    }
}

#[test]
fn the_unmutated_dev_config_loads() {
    // The properties above are not vacuous: the text they mutate is a working configuration.
    config::load_from_str(dev_text(), &state().paths.config, |_| None).unwrap();
}
