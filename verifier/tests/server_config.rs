//! The `[server]` connection-protection keys and `metrics_listen`: defaults, values taken from
//! the file into `Settings` and `ConnectionLimits`, and out-of-range values refused with the
//! file, the key and the reason.

mod common;

use std::time::Duration;

use common::StateDir;
use payseal_verifier::config::{self, ConfigError};
use payseal_verifier::server::ConnectionLimits;
use payseal_verifier::settings::Limits;

fn with_server_keys(
    keys: &str,
) -> (
    StateDir,
    Result<payseal_verifier::settings::Settings, ConfigError>,
) {
    let state = StateDir::new();
    // The dev configuration's own metrics_listen is taken out: these tests set or default it.
    let text: String = std::fs::read_to_string(&state.paths.config)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("metrics_listen"))
        .map(|l| format!("{l}\n"))
        .collect();
    let anchor = "request_timeout_ms = 10000";
    assert!(text.contains(anchor), "{anchor:?} not in the dev config");
    std::fs::write(
        &state.paths.config,
        text.replacen(anchor, &format!("{anchor}\n{keys}"), 1),
    )
    .unwrap();
    let loaded = config::load_with_env(&state.paths.config, |_| None);
    (state, loaded)
}

fn refused(keys: &str, key: &str, reason: &str) {
    let (state, loaded) = with_server_keys(keys);
    let text = loaded.expect_err(keys).to_string();
    assert!(
        text.contains(&state.paths.config.display().to_string()),
        "{text}"
    );
    assert!(text.contains(key), "no {key:?} in {text}");
    assert!(text.contains(reason), "no {reason:?} in {text}");
}

#[test]
fn defaults_protect_a_public_server() {
    let (_state, loaded) = with_server_keys("");
    let s = loaded.unwrap();
    let d = Limits::default();
    let c = s.limits.connection;
    assert_eq!(c.handshake_timeout, Duration::from_secs(5));
    assert_eq!(c.idle_timeout, Duration::from_secs(15));
    assert_eq!(c.max_connections_per_ip, 256);
    assert!(!c.per_ip_exempt_loopback);
    assert_eq!(c.http2_max_concurrent_streams, 32);
    assert_eq!(c.http2_max_header_list_bytes, 16 * 1024);
    assert_eq!(c.http2_keepalive_interval, Duration::from_secs(20));
    // /metrics is private by default: loopback only, the Prometheus exporter port.
    assert_eq!(s.metrics_listen, Some("127.0.0.1:9464".parse().unwrap()));
    // One type: the settings' connection limits are what the server applies by default.
    assert_eq!(c, d.connection);
    assert_eq!(c, ConnectionLimits::default());
}

#[test]
fn every_connection_key_is_read() {
    let (_state, loaded) = with_server_keys(
        "handshake_timeout_ms = 1234\nidle_timeout_ms = 2345\nmax_connections = 77\n\
         max_connections_per_ip = 0\nper_ip_exempt_loopback = true\n\
         http2_max_concurrent_streams = 5\nhttp2_max_header_list_bytes = 4096\n\
         http2_keepalive_interval_ms = 3456\nmetrics_listen = \"127.0.0.1:9464\"",
    );
    let s = loaded.unwrap();
    let c = s.limits.connection;
    assert_eq!(c.handshake_timeout, Duration::from_millis(1234));
    assert_eq!(c.idle_timeout, Duration::from_millis(2345));
    assert_eq!(c.max_connections, 77);
    assert_eq!(c.max_connections_per_ip, 0);
    assert!(c.per_ip_exempt_loopback);
    assert_eq!(c.http2_max_concurrent_streams, 5);
    assert_eq!(c.http2_max_header_list_bytes, 4096);
    assert_eq!(c.http2_keepalive_interval, Duration::from_millis(3456));
    assert_eq!(s.metrics_listen, Some("127.0.0.1:9464".parse().unwrap()));
}

#[test]
fn metrics_listen_off_serves_no_metrics() {
    let (_state, loaded) = with_server_keys("metrics_listen = \"off\"");
    assert_eq!(loaded.unwrap().metrics_listen, None);
    let (_state, loaded) = with_server_keys("metrics_listen = \"[::1]:0\"");
    assert_eq!(
        loaded.unwrap().metrics_listen,
        Some("[::1]:0".parse().unwrap())
    );
}

#[test]
fn bad_values_name_the_key() {
    refused("idle_timeout_ms = 0", "server.idle_timeout_ms", "outside");
    refused(
        "handshake_timeout_ms = 700000",
        "server.handshake_timeout_ms",
        "outside",
    );
    refused(
        "max_connections_per_ip = 2000000",
        "server.max_connections_per_ip",
        "outside 0..=1000000",
    );
    refused(
        "http2_max_concurrent_streams = 0",
        "server.http2_max_concurrent_streams",
        "outside 1..=1000",
    );
    refused(
        "http2_max_header_list_bytes = 10",
        "server.http2_max_header_list_bytes",
        "outside",
    );
    refused(
        "metrics_listen = \"localhost\"",
        "server.metrics_listen",
        "not a socket address",
    );
    refused(
        "per_ip_exempt_loopback = \"yes\"",
        "per_ip_exempt_loopback",
        "invalid type",
    );
}
