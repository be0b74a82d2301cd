//! `[server]`: the listen address, the public URL, the TLS files and backup pins (checked
//! against the served certificate), the request and connection limits and `metrics_listen`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::{ConfigError, Resolver, ValueError, ENV_LISTEN, ENV_PUBLIC_URL};
use crate::settings::{ConnectionLimits, Limits, TlsFiles};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawServer {
    pub(super) listen: Option<String>,
    pub(super) public_url: Option<String>,
    pub(super) tls_cert: PathBuf,
    pub(super) tls_key: PathBuf,
    #[serde(default)]
    pub(super) backup_pins: Vec<String>,
    pub(super) max_body_bytes: Option<u64>,
    pub(super) request_timeout_ms: Option<u64>,
    pub(super) shutdown_grace_ms: Option<u64>,
    pub(super) header_read_timeout_ms: Option<u64>,
    pub(super) max_connections: Option<u64>,
    pub(super) handshake_timeout_ms: Option<u64>,
    pub(super) idle_timeout_ms: Option<u64>,
    pub(super) max_connections_per_ip: Option<u64>,
    pub(super) per_ip_exempt_loopback: Option<bool>,
    pub(super) http2_max_concurrent_streams: Option<u64>,
    pub(super) http2_max_header_list_bytes: Option<u64>,
    pub(super) http2_keepalive_interval_ms: Option<u64>,
    pub(super) metrics_listen: Option<String>,
}

/// `[server]`'s part every command that serves or describes the server needs.
pub(super) struct ServerIdentity {
    pub(super) listen: SocketAddr,
    pub(super) public_url: String,
    pub(super) tls: TlsFiles,
    pub(super) backup_pins: Vec<String>,
}

/// The public URL by the protocol's one rule ([`payseal_protocol::url::VerifierUrl`]),
/// surrounding whitespace ignored; returned without a trailing `/`.
pub(super) fn check_public_url(
    url: &str,
) -> Result<payseal_protocol::url::VerifierUrl, ValueError> {
    let url = url.trim();
    payseal_protocol::url::VerifierUrl::parse(url).map_err(|source| ValueError::PublicUrl {
        url: url.to_string(),
        source,
    })
}

/// A backup pin by the protocol's rule (`sha256/<standard base64 of 32 bytes>`, not a
/// placeholder).
pub(super) fn check_pin(pin: &str) -> Result<(), ValueError> {
    payseal_protocol::pin::parse_pin(pin).map(|_| ())?;
    Ok(())
}

impl Resolver {
    /// `[server]`'s identity: the listen address, the public URL, the TLS files and the backup
    /// pins, with the environment overrides; the certificate must name the URL's host and the
    /// backup pins must be real and differ from the served key's.
    pub(super) fn server_identity(
        &self,
        server: &RawServer,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<ServerIdentity, ConfigError> {
        // server.listen
        let (listen_key, listen_text) = match env(ENV_LISTEN) {
            Some(v) => (format!("{ENV_LISTEN} (server.listen)"), v),
            None => (
                "server.listen".to_string(),
                server
                    .listen
                    .clone()
                    .unwrap_or_else(|| "127.0.0.1:8443".into()),
            ),
        };
        let listen: SocketAddr = listen_text.trim().parse().map_err(|_| {
            self.invalid(
                listen_key,
                format!("{listen_text:?} is not a socket address like 0.0.0.0:8443"),
            )
        })?;

        // server.public_url
        let (url_key, public_url) = match env(ENV_PUBLIC_URL) {
            Some(v) => (format!("{ENV_PUBLIC_URL} (server.public_url)"), v),
            None => (
                "server.public_url".to_string(),
                server
                    .public_url
                    .clone()
                    .unwrap_or_else(|| format!("https://localhost:{}", listen.port())),
            ),
        };
        let public_url = check_public_url(&public_url).map_err(|r| {
            let hint = if listen.port() == 0 {
                "; with listen port 0 set server.public_url explicitly"
            } else {
                ""
            };
            self.invalid(url_key.clone(), format!("{r}{hint}"))
        })?;

        // TLS
        let tls = TlsFiles {
            cert_pem: self.path(&server.tls_cert),
            key_pem: self.path(&server.tls_key),
        };
        crate::tls::server_config(&tls).map_err(|e| {
            let key = match e {
                crate::tls::TlsError::Key { .. } | crate::tls::TlsError::KeyMismatch { .. } => {
                    "server.tls_key"
                }
                _ => "server.tls_cert",
            };
            self.invalid(key, e.to_string())
        })?;
        // The SDK checks the URL's host against the certificate: so does the start.
        crate::tls::check_names_url(&tls.cert_pem, &public_url)
            .map_err(|e| self.invalid(url_key, e.to_string()))?;
        let public_url = public_url.to_string();

        // backup pins
        let served = crate::tls::leaf_pin(&tls.cert_pem)
            .map_err(|e| self.invalid("server.tls_cert", e.to_string()))?;
        for (i, pin) in server.backup_pins.iter().enumerate() {
            let key = format!("server.backup_pins[{i}]");
            check_pin(pin).map_err(|r| self.invalid(key.clone(), r))?;
            if *pin == served {
                return Err(self.invalid(
                    key,
                    format!(
                        "{pin:?} is the pin of the served key ({}): a backup pin must be another \
                         key's, the one you would move to (the `backup pin:` line \
                         `payseal-verifier tls` prints)",
                        tls.key_pem.display()
                    ),
                ));
            }
        }
        if server.backup_pins.is_empty() {
            return Err(self.invalid(
                "server.backup_pins",
                "at least one backup SPKI pin is required (the profile carries the current and a backup pin)",
            ));
        }
        Ok(ServerIdentity {
            listen,
            public_url,
            tls,
            backup_pins: server.backup_pins.clone(),
        })
    }

    /// `[server]`'s request and connection limits (defaults for the keys not set).
    pub(super) fn limits(&self, server: &RawServer) -> Result<Limits, ConfigError> {
        let defaults = Limits::default();
        let dc = defaults.connection;
        let max_body_bytes = match server.max_body_bytes {
            None => defaults.max_body_bytes,
            Some(n) if (1024..=16 * 1024 * 1024).contains(&n) => n as usize,
            Some(n) => {
                return Err(self.invalid(
                    "server.max_body_bytes",
                    format!("{n} is outside 1024..=16777216"),
                ))
            }
        };
        let ms = |key: &str, v: Option<u64>, default: Duration| match v {
            None => Ok(default),
            Some(n) if (1..=600_000).contains(&n) => Ok(Duration::from_millis(n)),
            Some(n) => Err(self.invalid(key, format!("{n} is outside 1..=600000 milliseconds"))),
        };
        let limits = Limits {
            max_body_bytes,
            request_timeout: ms(
                "server.request_timeout_ms",
                server.request_timeout_ms,
                defaults.request_timeout,
            )?,
            shutdown_grace: ms(
                "server.shutdown_grace_ms",
                server.shutdown_grace_ms,
                defaults.shutdown_grace,
            )?,
            connection: ConnectionLimits {
                header_read_timeout: ms(
                    "server.header_read_timeout_ms",
                    server.header_read_timeout_ms,
                    dc.header_read_timeout,
                )?,
                max_connections: self.count(
                    "server.max_connections",
                    server.max_connections,
                    1..=1_000_000,
                    dc.max_connections as u64,
                )? as usize,
                handshake_timeout: ms(
                    "server.handshake_timeout_ms",
                    server.handshake_timeout_ms,
                    dc.handshake_timeout,
                )?,
                idle_timeout: ms(
                    "server.idle_timeout_ms",
                    server.idle_timeout_ms,
                    dc.idle_timeout,
                )?,
                max_connections_per_ip: self.count(
                    "server.max_connections_per_ip",
                    server.max_connections_per_ip,
                    0..=1_000_000,
                    dc.max_connections_per_ip as u64,
                )? as usize,
                per_ip_exempt_loopback: server
                    .per_ip_exempt_loopback
                    .unwrap_or(dc.per_ip_exempt_loopback),
                http2_max_concurrent_streams: self.count(
                    "server.http2_max_concurrent_streams",
                    server.http2_max_concurrent_streams,
                    1..=1000,
                    dc.http2_max_concurrent_streams.into(),
                )? as u32,
                http2_max_header_list_bytes: self.count(
                    "server.http2_max_header_list_bytes",
                    server.http2_max_header_list_bytes,
                    1024..=1024 * 1024,
                    dc.http2_max_header_list_bytes.into(),
                )? as u32,
                http2_keepalive_interval: ms(
                    "server.http2_keepalive_interval_ms",
                    server.http2_keepalive_interval_ms,
                    dc.http2_keepalive_interval,
                )?,
            },
        };
        Ok(limits)
    }

    /// `server.metrics_listen`: where `GET /metrics` is served instead (not `server.listen`).
    pub(super) fn metrics_listen(
        &self,
        server: &RawServer,
        listen: SocketAddr,
    ) -> Result<Option<SocketAddr>, ConfigError> {
        let metrics_listen = match server.metrics_listen.as_deref().map(str::trim) {
            None => Some(crate::settings::DEFAULT_METRICS_LISTEN),
            Some(crate::settings::METRICS_OFF) => None,
            Some(text) => Some(text.parse::<SocketAddr>().map_err(|_| {
                self.invalid(
                    "server.metrics_listen",
                    format!("{text:?} is not a socket address like 127.0.0.1:9464, or \"off\""),
                )
            })?),
        };
        if metrics_listen.is_some_and(|m| m.port() != 0 && m == listen) {
            return Err(self.invalid("server.metrics_listen", "must differ from server.listen"));
        }
        Ok(metrics_listen)
    }
}
