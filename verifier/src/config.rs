//! The configuration file (TOML) and its environment overrides, resolved into [`Settings`].
//!
//! See `verifier/config.example.toml` for every key. Relative paths are resolved against the
//! folder of the configuration file. Everything is loaded and checked here (key files parsed,
//! store keys decoded, App Store roots fingerprint-checked, TLS files parsed), so a bad
//! configuration is reported with the file, the key and the reason, and the server never starts
//! with it.
//!
//! Environment overrides (applied after the file):
//! - `PAYSEAL_LISTEN` → `server.listen`
//! - `PAYSEAL_PUBLIC_URL` → `server.public_url`
//! - `PAYSEAL_LEDGER` → `ledger.url`
//!
//! The `[ledger]` table: `url` (`sqlite:PATH` or `postgres://USER@HOST:PORT/DATABASE`), and for
//! PostgreSQL `password_file` (instead of a password in the URL), `auto_migrate` (default
//! true), `max_connections` (default 16), `connect_timeout_ms` and `query_timeout_ms` (default
//! 5000). A password found in the URL is moved out of [`Settings::ledger_url`] into
//! [`Settings::ledger`], where it never prints.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use payseal_protocol::{AccountBinding, Environment};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::ledger::{self, Backend, LedgerOptions, Password};
use crate::rules::{
    AccountBindingRules, AppRules, AppStoreRules, GooglePlayRules, HuaweiRules, RsaPublicKey,
    SandboxRules, TrustAnchorError, TrustAnchors,
};
use crate::settings::{Limits, OfflineSettings, Settings, TlsFiles};

/// Environment variable overriding `server.listen`.
pub const ENV_LISTEN: &str = "PAYSEAL_LISTEN";
/// Environment variable overriding `server.public_url`.
pub const ENV_PUBLIC_URL: &str = "PAYSEAL_PUBLIC_URL";
/// Environment variable overriding `ledger.url`.
pub const ENV_LEDGER: &str = "PAYSEAL_LEDGER";

/// Default verdict lifetime in minutes.
pub const DEFAULT_TTL_MINUTES: u64 = 10;

/// A configuration that cannot be used: which file, which key, and why.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("{file}: cannot read: {source}")]
    Read {
        /// The configuration file.
        file: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not TOML of the expected shape (syntax, unknown or missing key, wrong type).
    #[error("{file}: {key}: {reason}")]
    Syntax {
        /// The configuration file.
        file: PathBuf,
        /// The key (dotted path) or line the parser stopped at.
        key: String,
        /// The parser's reason.
        reason: String,
    },
    /// A key has a value that cannot be used.
    #[error("{file}: {key}: {reason}")]
    Invalid {
        /// The configuration file.
        file: PathBuf,
        /// The key, as a dotted path (or the environment variable that set it).
        key: String,
        /// Why.
        reason: String,
    },
}

impl ConfigError {
    /// The key (dotted path) the error is about, if any.
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::Read { .. } => None,
            ConfigError::Syntax { key, .. } | ConfigError::Invalid { key, .. } => Some(key),
        }
    }
}

/// The file as written (before resolution).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    server: RawServer,
    keys: RawKeys,
    #[serde(default)]
    verdict: RawVerdict,
    ledger: RawLedger,
    #[serde(default)]
    trust: RawTrust,
    #[serde(default)]
    apps: BTreeMap<String, RawApp>,
    #[serde(default)]
    webhooks: RawWebhooks,
    #[serde(default)]
    google_play: RawGooglePlay,
}

/// `[google_play]`: store-wide Google Play settings.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGooglePlay {
    rtdn: Option<RawRtdn>,
}

/// `[google_play.rtdn]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRtdn {
    audience: String,
    service_account: String,
    jwks_url: Option<String>,
    jwks_cache_seconds: Option<u64>,
    fetch_timeout_ms: Option<u64>,
}

/// `[apps."ID".google_play.voided_purchases]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVoided {
    service_account_key: PathBuf,
    token_uri: Option<String>,
    api_base: Option<String>,
    poll_interval_ms: Option<u64>,
    max_results: Option<u64>,
    initial_lookback_days: Option<u64>,
    retry_base_ms: Option<u64>,
    retry_max_ms: Option<u64>,
    max_attempts: Option<u64>,
    request_timeout_ms: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWebhooks {
    poll_interval_ms: Option<u64>,
    retry_base_ms: Option<u64>,
    retry_max_ms: Option<u64>,
    timeout_ms: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWebhook {
    url: String,
    secret_file: PathBuf,
    give_up_after_hours: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServer {
    listen: Option<String>,
    public_url: Option<String>,
    tls_cert: PathBuf,
    tls_key: PathBuf,
    #[serde(default)]
    backup_pins: Vec<String>,
    max_body_bytes: Option<u64>,
    request_timeout_ms: Option<u64>,
    shutdown_grace_ms: Option<u64>,
    header_read_timeout_ms: Option<u64>,
    max_connections: Option<u64>,
    handshake_timeout_ms: Option<u64>,
    idle_timeout_ms: Option<u64>,
    max_connections_per_ip: Option<u64>,
    per_ip_exempt_loopback: Option<bool>,
    http2_max_concurrent_streams: Option<u64>,
    http2_max_header_list_bytes: Option<u64>,
    http2_keepalive_interval_ms: Option<u64>,
    metrics_listen: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKeys {
    hpke: Vec<PathBuf>,
    verdict: Vec<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVerdict {
    ttl_minutes: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLedger {
    url: String,
    password_file: Option<PathBuf>,
    auto_migrate: Option<bool>,
    max_connections: Option<u64>,
    connect_timeout_ms: Option<u64>,
    query_timeout_ms: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTrust {
    #[serde(default)]
    apple_roots: Vec<RawRoot>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoot {
    path: PathBuf,
    sha256: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApp {
    environments: Vec<Environment>,
    google_play: Option<RawGooglePlayApp>,
    app_store: Option<RawAppStore>,
    huawei: Option<RawHuaweiApp>,
    sandbox: Option<RawSandbox>,
    webhook: Option<RawWebhook>,
    account_binding: Option<RawAccountBinding>,
}

/// `[apps."ID".account_binding]`: how the app derives its store account tokens.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAccountBinding {
    scheme: RawBindingScheme,
    namespace: Option<String>,
    #[serde(default)]
    required: bool,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum RawBindingScheme {
    UuidV5,
    Sha256Hex,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGooglePlayApp {
    package_name: String,
    public_key: String,
    voided_purchases: Option<RawVoided>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHuaweiApp {
    package_name: String,
    public_key: String,
    notifications: Option<RawHuaweiNotify>,
}

/// `[apps."ID".huawei.notifications]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHuaweiNotify {
    client_id: String,
    client_secret_file: PathBuf,
    order_service_url: String,
    token_uri: Option<String>,
    request_timeout_ms: Option<u64>,
    max_order_calls_per_minute: Option<u64>,
    max_concurrent_order_calls: Option<u64>,
    order_dedupe_window_ms: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAppStore {
    bundle_id: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSandbox {
    public_key: String,
}

/// Load the configuration file with the process environment's overrides.
pub fn load(path: &Path) -> Result<Settings, ConfigError> {
    load_with_env(path, |name| std::env::var(name).ok())
}

/// Load the configuration file with overrides looked up by `env` (tests pass their own).
pub fn load_with_env(
    path: &Path,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Settings, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        file: path.to_path_buf(),
        source,
    })?;
    load_from_str(&text, path, env)
}

/// Resolve configuration `text` as if it had been read from `path` (relative paths resolve
/// against `path`'s folder; errors name `path`). The entry point of [`load_with_env`] after
/// the read, public for the fuzz targets and property tests.
pub fn load_from_str(
    text: &str,
    path: &Path,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Settings, ConfigError> {
    let raw: RawConfig = parse_toml(text, path)?;
    Resolver::for_file(path).resolve(raw, &env)
}

/// The offline `check`'s part of a configuration file: only `[trust]` and `[apps]` are read and
/// checked, so a file with just those runs `payseal-verifier check`. The server's tables
/// (`[server]`, `[keys]`, `[verdict]`, `[ledger]`, `[webhooks]`, an app's `webhook`) may be
/// present (the same file as `serve`) but are not resolved; any other table is an error.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOffline {
    #[serde(default)]
    trust: RawTrust,
    #[serde(default)]
    apps: BTreeMap<String, RawApp>,
    #[serde(rename = "server")]
    _server: Option<serde::de::IgnoredAny>,
    #[serde(rename = "keys")]
    _keys: Option<serde::de::IgnoredAny>,
    #[serde(rename = "verdict")]
    _verdict: Option<serde::de::IgnoredAny>,
    #[serde(rename = "ledger")]
    _ledger: Option<serde::de::IgnoredAny>,
    #[serde(rename = "webhooks")]
    _webhooks: Option<serde::de::IgnoredAny>,
    #[serde(rename = "google_play")]
    _google_play: Option<serde::de::IgnoredAny>,
}

/// What `payseal-verifier profile` reads: `[server]` and `[keys]`, the only tables the profile
/// is made of. The other tables may be present (the same file as `serve`, store keys still
/// placeholders) but are not resolved; an unknown table is an error.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProfileConfig {
    server: RawServer,
    keys: RawKeys,
    #[serde(rename = "verdict")]
    _verdict: Option<serde::de::IgnoredAny>,
    #[serde(rename = "ledger")]
    _ledger: Option<serde::de::IgnoredAny>,
    #[serde(rename = "trust")]
    _trust: Option<serde::de::IgnoredAny>,
    #[serde(rename = "apps")]
    _apps: Option<serde::de::IgnoredAny>,
    #[serde(rename = "webhooks")]
    _webhooks: Option<serde::de::IgnoredAny>,
    #[serde(rename = "google_play")]
    _google_play: Option<serde::de::IgnoredAny>,
}

/// `[server]`'s part every command that serves or describes the server needs.
struct ServerIdentity {
    listen: SocketAddr,
    public_url: String,
    tls: TlsFiles,
    backup_pins: Vec<String>,
}

/// Load what the profile is made of (URL, TLS certificate and pins, HPKE and verdict keys) with
/// the process environment's overrides: `[server]` and `[keys]` are checked as `serve` checks
/// them (the certificate names the URL's host, the backup pins are real and not the served
/// key's); store keys, trust roots and the ledger are not read.
pub fn load_profile(path: &Path) -> Result<crate::profile::ProfileSettings, ConfigError> {
    load_profile_with_env(path, |name| std::env::var(name).ok())
}

/// [`load_profile`] with overrides looked up by `env`.
pub fn load_profile_with_env(
    path: &Path,
    env: impl Fn(&str) -> Option<String>,
) -> Result<crate::profile::ProfileSettings, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        file: path.to_path_buf(),
        source,
    })?;
    let raw: RawProfileConfig = parse_toml(&text, path)?;
    let resolver = Resolver::for_file(path);
    let identity = resolver.server_identity(&raw.server, &env)?;
    let (hpke_keys, verdict_keys) = resolver.keys(&raw.keys)?;
    Ok(crate::profile::ProfileSettings {
        public_url: identity.public_url,
        tls: identity.tls,
        backup_pins: identity.backup_pins,
        hpke_keys,
        verdict_keys,
    })
}

/// Load what the offline `check` needs (apps and trust anchors) from the file at `path`. No
/// environment override applies (none names an app or a root).
pub fn load_offline(path: &Path) -> Result<OfflineSettings, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        file: path.to_path_buf(),
        source,
    })?;
    load_offline_from_str(&text, path)
}

/// [`load_offline`] after the read: resolve `text` as if read from `path`.
pub fn load_offline_from_str(text: &str, path: &Path) -> Result<OfflineSettings, ConfigError> {
    let raw: RawOffline = parse_toml(text, path)?;
    let resolver = Resolver::for_file(path);
    let anchors = resolver.anchors(&raw.trust)?;
    let mut apps = HashMap::new();
    for (app_id, app) in &raw.apps {
        apps.insert(app_id.clone(), resolver.app(app_id, app, &anchors)?);
    }
    Ok(OfflineSettings { apps, anchors })
}

/// Parse TOML `text` read from `path` into `T`; a syntax or shape error names the key.
fn parse_toml<T: serde::de::DeserializeOwned>(text: &str, path: &Path) -> Result<T, ConfigError> {
    toml::from_str(text).map_err(|e| ConfigError::Syntax {
        file: path.to_path_buf(),
        key: e
            .span()
            .map(|s| key_at(text, s.start))
            .unwrap_or_else(|| "(file)".into()),
        reason: e.message().to_string(),
    })
}

/// The dotted key at byte `offset` of a TOML text: the table header above it plus the key on its line.
fn key_at(text: &str, offset: usize) -> String {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or("");
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[line_start..]
        .find('\n')
        .map_or(text.len(), |i| line_start + i);
    let line = text[line_start..line_end].trim();
    let line_no = before.matches('\n').count() + 1;
    let header = text[..line_start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_string());
    let own_key = if line.starts_with('[') {
        Some(
            line.trim_matches(|c| c == '[' || c == ']')
                .trim()
                .to_string(),
        )
    } else {
        line.split_once('=')
            .map(|(k, _)| k.trim().to_string())
            .map(|k| match &header {
                Some(h) => format!("{h}.{k}"),
                None => k,
            })
    };
    match own_key.or(header) {
        Some(k) => format!("{k} (line {line_no})"),
        None => format!("line {line_no}"),
    }
}

struct Resolver {
    file: PathBuf,
    base: PathBuf,
}

impl Resolver {
    /// A resolver for the file at `path`: relative paths resolve against its folder.
    fn for_file(path: &Path) -> Self {
        let base = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or_else(|| Path::new("."));
        Resolver {
            file: path.to_path_buf(),
            base: base.to_path_buf(),
        }
    }

    /// `[trust]`: the App Store roots, each fingerprint-checked.
    fn anchors(&self, trust: &RawTrust) -> Result<TrustAnchors, ConfigError> {
        let mut apple_roots = Vec::with_capacity(trust.apple_roots.len());
        for (i, root) in trust.apple_roots.iter().enumerate() {
            let key = format!("trust.apple_roots[{i}]");
            apple_roots.push(self.load_root(&key, root)?);
        }
        TrustAnchors::new(apple_roots).map_err(|e| match e {
            TrustAnchorError::NotCertificate { index } => self.invalid(
                format!("trust.apple_roots[{index}].path"),
                format!(
                    "{}: not an X.509 certificate",
                    self.path(&trust.apple_roots[index].path).display()
                ),
            ),
        })
    }

    fn invalid(&self, key: impl Into<String>, reason: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            file: self.file.clone(),
            key: key.into(),
            reason: reason.into(),
        }
    }

    /// An integer key within `range`, or `default` when absent.
    fn count(
        &self,
        key: &str,
        value: Option<u64>,
        range: std::ops::RangeInclusive<u64>,
        default: u64,
    ) -> Result<u64, ConfigError> {
        match value {
            None => Ok(default),
            Some(n) if range.contains(&n) => Ok(n),
            Some(n) => Err(self.invalid(
                key,
                format!("{n} is outside {}..={}", range.start(), range.end()),
            )),
        }
    }

    fn path(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base.join(p)
        }
    }

    /// `[server]`'s identity: the listen address, the public URL, the TLS files and the backup
    /// pins, with the environment overrides; the certificate must name the URL's host and the
    /// backup pins must be real and differ from the served key's.
    fn server_identity(
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

    /// `[keys]`: the HPKE key pairs (current first) and the verdict signing keys.
    fn keys(
        &self,
        keys: &RawKeys,
    ) -> Result<
        (
            Vec<payseal_protocol::envelope::ServerKeyPair>,
            Vec<payseal_protocol::verdict::VerdictSigningKey>,
        ),
        ConfigError,
    > {
        if keys.hpke.is_empty() {
            return Err(self.invalid("keys.hpke", "at least one HPKE key file is required"));
        }
        let mut hpke_keys = Vec::new();
        for (i, p) in keys.hpke.iter().enumerate() {
            let key = crate::keys::read_hpke_key(&self.path(p))
                .map_err(|e| self.invalid(format!("keys.hpke[{i}]"), e.to_string()))?;
            if hpke_keys
                .iter()
                .any(|k: &payseal_protocol::envelope::ServerKeyPair| k.key_id() == key.key_id())
            {
                return Err(self.invalid(
                    format!("keys.hpke[{i}]"),
                    format!("duplicate HPKE key id {}", key.key_id()),
                ));
            }
            hpke_keys.push(key);
        }
        if keys.verdict.is_empty() {
            return Err(self.invalid("keys.verdict", "at least one verdict key file is required"));
        }
        let mut verdict_keys = Vec::new();
        for (i, p) in keys.verdict.iter().enumerate() {
            let key = crate::keys::read_verdict_key(&self.path(p))
                .map_err(|e| self.invalid(format!("keys.verdict[{i}]"), e.to_string()))?;
            if verdict_keys
                .iter()
                .any(|k: &payseal_protocol::verdict::VerdictSigningKey| k.kid() == key.kid())
            {
                return Err(self.invalid(
                    format!("keys.verdict[{i}]"),
                    format!("duplicate verdict kid {:?}", key.kid()),
                ));
            }
            verdict_keys.push(key);
        }
        Ok((hpke_keys, verdict_keys))
    }

    fn resolve(
        &self,
        raw: RawConfig,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Settings, ConfigError> {
        let ServerIdentity {
            listen,
            public_url,
            tls,
            backup_pins,
        } = self.server_identity(&raw.server, env)?;

        // limits
        let defaults = Limits::default();
        let max_body_bytes = match raw.server.max_body_bytes {
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
                raw.server.request_timeout_ms,
                defaults.request_timeout,
            )?,
            shutdown_grace: ms(
                "server.shutdown_grace_ms",
                raw.server.shutdown_grace_ms,
                defaults.shutdown_grace,
            )?,
            header_read_timeout: ms(
                "server.header_read_timeout_ms",
                raw.server.header_read_timeout_ms,
                defaults.header_read_timeout,
            )?,
            max_connections: self.count(
                "server.max_connections",
                raw.server.max_connections,
                1..=1_000_000,
                defaults.max_connections as u64,
            )? as usize,
            handshake_timeout: ms(
                "server.handshake_timeout_ms",
                raw.server.handshake_timeout_ms,
                defaults.handshake_timeout,
            )?,
            idle_timeout: ms(
                "server.idle_timeout_ms",
                raw.server.idle_timeout_ms,
                defaults.idle_timeout,
            )?,
            max_connections_per_ip: self.count(
                "server.max_connections_per_ip",
                raw.server.max_connections_per_ip,
                0..=1_000_000,
                defaults.max_connections_per_ip as u64,
            )? as usize,
            per_ip_exempt_loopback: raw
                .server
                .per_ip_exempt_loopback
                .unwrap_or(defaults.per_ip_exempt_loopback),
            http2_max_concurrent_streams: self.count(
                "server.http2_max_concurrent_streams",
                raw.server.http2_max_concurrent_streams,
                1..=1000,
                defaults.http2_max_concurrent_streams.into(),
            )? as u32,
            http2_max_header_list_bytes: self.count(
                "server.http2_max_header_list_bytes",
                raw.server.http2_max_header_list_bytes,
                1024..=1024 * 1024,
                defaults.http2_max_header_list_bytes.into(),
            )? as u32,
            http2_keepalive_interval: ms(
                "server.http2_keepalive_interval_ms",
                raw.server.http2_keepalive_interval_ms,
                defaults.http2_keepalive_interval,
            )?,
        };
        let metrics_listen = match raw.server.metrics_listen.as_deref().map(str::trim) {
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

        // keys
        let (hpke_keys, verdict_keys) = self.keys(&raw.keys)?;

        // verdict ttl
        let ttl_minutes = raw.verdict.ttl_minutes.unwrap_or(DEFAULT_TTL_MINUTES);
        if !(1..=24 * 60).contains(&ttl_minutes) {
            return Err(self.invalid(
                "verdict.ttl_minutes",
                format!("{ttl_minutes} is outside 1..=1440"),
            ));
        }

        // ledger
        let (ledger_key, ledger_url) = match env(ENV_LEDGER) {
            Some(v) => (format!("{ENV_LEDGER} (ledger.url)"), v),
            None => ("ledger.url".to_string(), raw.ledger.url.clone()),
        };
        let (ledger_url, ledger) = self.ledger(&ledger_key, &ledger_url, &raw.ledger)?;

        // trust anchors
        let anchors = self.anchors(&raw.trust)?;

        // apps
        let mut apps = HashMap::new();
        let mut webhooks = HashMap::new();
        for (app_id, app) in &raw.apps {
            let rules = self.app(app_id, app, &anchors)?;
            apps.insert(app_id.clone(), rules);
            if let Some(hook) = &app.webhook {
                webhooks.insert(app_id.clone(), self.webhook(app_id, hook)?);
            }
        }
        let webhook_worker = self.webhook_worker(&raw.webhooks)?;
        let google_play_rtdn = match &raw.google_play.rtdn {
            None => None,
            Some(r) => Some(self.rtdn(r)?),
        };
        let mut google_play_voided = Vec::new();
        let mut huawei_notifications = Vec::new();
        for (app_id, app) in &raw.apps {
            if let Some(n) = app.huawei.as_ref().and_then(|h| h.notifications.as_ref()) {
                huawei_notifications.push(self.huawei_notify(app_id, n)?);
            }
            if let Some(g) = &app.google_play {
                if let Some(v) = &g.voided_purchases {
                    google_play_voided.push(self.voided(app_id, &g.package_name, v)?);
                }
            }
        }

        Ok(Settings {
            listen,
            public_url,
            tls,
            backup_pins,
            hpke_keys,
            verdict_keys,
            verdict_ttl: Duration::from_secs(ttl_minutes * 60),
            ledger_url,
            ledger,
            apps,
            anchors,
            limits,
            metrics_listen,
            webhooks,
            webhook_worker,
            google_play_rtdn,
            google_play_voided,
            huawei_notifications,
        })
    }

    /// `[apps."ID".huawei.notifications]`: the AppGallery app id and secret (for the Order
    /// service), and the site's Order service URL.
    fn huawei_notify(
        &self,
        app_id: &str,
        raw: &RawHuaweiNotify,
    ) -> Result<crate::notifications::huawei::HuaweiNotifySettings, ConfigError> {
        use crate::notifications::huawei::{HuaweiNotifySettings, HUAWEI_TOKEN_URI};
        use crate::notifications::outbound::{self, CallLimits};
        let key = |k: &str| format!("apps.{app_id:?}.huawei.notifications.{k}");
        let client_id = non_empty(&raw.client_id).map_err(|r| self.invalid(key("client_id"), r))?;
        let path = self.path(&raw.client_secret_file);
        let text = zeroize::Zeroizing::new(std::fs::read_to_string(&path).map_err(|e| {
            self.invalid(
                key("client_secret_file"),
                format!("{}: {e}", path.display()),
            )
        })?);
        let secret = text.trim_end_matches(['\n', '\r']).to_string();
        if secret.is_empty() {
            return Err(self.invalid(
                key("client_secret_file"),
                format!("{} is empty", path.display()),
            ));
        }
        let order_service_url = raw
            .order_service_url
            .trim()
            .trim_end_matches('/')
            .to_string();
        check_outbound_url(&order_service_url)
            .map_err(|r| self.invalid(key("order_service_url"), r))?;
        let token_uri = raw
            .token_uri
            .as_deref()
            .unwrap_or(HUAWEI_TOKEN_URI)
            .trim()
            .to_string();
        check_outbound_url(&token_uri).map_err(|r| self.invalid(key("token_uri"), r))?;
        Ok(HuaweiNotifySettings {
            app_id: app_id.to_string(),
            client_id,
            client_secret: zeroize::Zeroizing::new(secret),
            token_uri,
            order_service_url,
            request_timeout: Duration::from_millis(self.count(
                &key("request_timeout_ms"),
                raw.request_timeout_ms,
                1..=120_000,
                10_000,
            )?),
            limits: CallLimits {
                per_minute: u32::try_from(self.count(
                    &key("max_order_calls_per_minute"),
                    raw.max_order_calls_per_minute,
                    1..=10_000,
                    u64::from(outbound::DEFAULT_PER_MINUTE),
                )?)
                .unwrap_or(outbound::DEFAULT_PER_MINUTE),
                concurrent: usize::try_from(self.count(
                    &key("max_concurrent_order_calls"),
                    raw.max_concurrent_order_calls,
                    1..=256,
                    outbound::DEFAULT_CONCURRENT as u64,
                )?)
                .unwrap_or(outbound::DEFAULT_CONCURRENT),
                dedupe_window: Duration::from_millis(self.count(
                    &key("order_dedupe_window_ms"),
                    raw.order_dedupe_window_ms,
                    0..=86_400_000,
                    outbound::DEFAULT_DEDUPE_WINDOW.as_millis() as u64,
                )?),
            },
        })
    }

    /// `[google_play.rtdn]`: the push subscription's audience and service account, and where
    /// Google's keys are.
    fn rtdn(
        &self,
        raw: &RawRtdn,
    ) -> Result<crate::notifications::google_play::RtdnSettings, ConfigError> {
        use crate::notifications::google_play::{DEFAULT_JWKS_TTL, GOOGLE_JWKS_URL};
        let audience = non_empty(&raw.audience)
            .and_then(|a| check_not_example(&a).map(|()| a))
            .map_err(|r| self.invalid("google_play.rtdn.audience", r))?;
        let service_account = non_empty(&raw.service_account)
            .and_then(|a| check_not_example(&a).map(|()| a))
            .map_err(|r| self.invalid("google_play.rtdn.service_account", r))?;
        if !service_account.contains('@') {
            return Err(self.invalid(
                "google_play.rtdn.service_account",
                format!("{service_account:?} is not a service account email"),
            ));
        }
        let jwks_url = raw
            .jwks_url
            .as_deref()
            .unwrap_or(GOOGLE_JWKS_URL)
            .trim()
            .to_string();
        check_outbound_url(&jwks_url).map_err(|r| self.invalid("google_play.rtdn.jwks_url", r))?;
        let jwks_ttl = match raw.jwks_cache_seconds {
            None => DEFAULT_JWKS_TTL,
            Some(n) if (1..=86_400).contains(&n) => Duration::from_secs(n),
            Some(n) => {
                return Err(self.invalid(
                    "google_play.rtdn.jwks_cache_seconds",
                    format!("{n} is outside 1..=86400"),
                ))
            }
        };
        let fetch_timeout = Duration::from_millis(self.count(
            "google_play.rtdn.fetch_timeout_ms",
            raw.fetch_timeout_ms,
            1..=60_000,
            5_000,
        )?);
        Ok(crate::notifications::google_play::RtdnSettings {
            audience,
            service_account,
            jwks_url,
            jwks_ttl,
            fetch_timeout,
        })
    }

    /// `[apps."ID".google_play.voided_purchases]`: the service account key file and the
    /// poller's timing.
    fn voided(
        &self,
        app_id: &str,
        package_name: &str,
        raw: &RawVoided,
    ) -> Result<crate::notifications::voided::VoidedSettings, ConfigError> {
        use crate::notifications::voided::{ServiceAccountKey, DEFAULT_API_BASE};
        let key = |k: &str| format!("apps.{app_id:?}.google_play.voided_purchases.{k}");
        let path = self.path(&raw.service_account_key);
        let bytes = zeroize::Zeroizing::new(std::fs::read(&path).map_err(|e| {
            self.invalid(
                key("service_account_key"),
                format!("{}: {e}", path.display()),
            )
        })?);
        let account = ServiceAccountKey::from_json(&bytes).map_err(|e| {
            self.invalid(
                key("service_account_key"),
                format!("{}: {e}", path.display()),
            )
        })?;
        let token_uri = raw
            .token_uri
            .clone()
            .unwrap_or_else(|| account.token_uri.clone())
            .trim()
            .to_string();
        check_outbound_url(&token_uri).map_err(|r| self.invalid(key("token_uri"), r))?;
        let api_base = raw
            .api_base
            .as_deref()
            .unwrap_or(DEFAULT_API_BASE)
            .trim()
            .trim_end_matches('/')
            .to_string();
        check_outbound_url(&api_base).map_err(|r| self.invalid(key("api_base"), r))?;
        let ms = |k: &str, v: Option<u64>, range: std::ops::RangeInclusive<u64>, default: u64| {
            self.count(&key(k), v, range, default)
                .map(Duration::from_millis)
        };
        let retry_base = ms("retry_base_ms", raw.retry_base_ms, 1..=600_000, 1_000)?;
        let retry_max = ms("retry_max_ms", raw.retry_max_ms, 1..=3_600_000, 60_000)?;
        if retry_max < retry_base {
            return Err(self.invalid(key("retry_max_ms"), "must be at least retry_base_ms"));
        }
        Ok(crate::notifications::voided::VoidedSettings {
            app_id: app_id.to_string(),
            package_name: package_name.to_string(),
            key: account,
            token_uri,
            api_base,
            poll_interval: ms(
                "poll_interval_ms",
                raw.poll_interval_ms,
                100..=86_400_000,
                15 * 60 * 1000,
            )?,
            max_results: self.count(&key("max_results"), raw.max_results, 1..=1000, 1000)? as u32,
            initial_lookback: Duration::from_secs(
                self.count(
                    &key("initial_lookback_days"),
                    raw.initial_lookback_days,
                    1..=30,
                    30,
                )? * 24
                    * 3600,
            ),
            retry_base,
            retry_max,
            max_attempts: self.count(&key("max_attempts"), raw.max_attempts, 1..=20, 6)? as u32,
            request_timeout: ms(
                "request_timeout_ms",
                raw.request_timeout_ms,
                1..=120_000,
                30_000,
            )?,
        })
    }

    /// `[apps."ID".webhook]`: the URL (https, or http to a loopback address), the secret file
    /// (at least 16 bytes; a trailing newline is not part of the secret), the give-up age.
    fn webhook(
        &self,
        app_id: &str,
        raw: &RawWebhook,
    ) -> Result<crate::webhook::WebhookSettings, ConfigError> {
        let key = |k: &str| format!("apps.{app_id:?}.webhook.{k}");
        let url = raw.url.trim();
        check_outbound_url(url).map_err(|r| self.invalid(key("url"), r))?;
        let path = self.path(&raw.secret_file);
        let bytes = std::fs::read(&path)
            .map_err(|e| self.invalid(key("secret_file"), format!("{}: {e}", path.display())))?;
        let mut secret = zeroize::Zeroizing::new(bytes);
        while matches!(secret.last(), Some(b'\n' | b'\r')) {
            secret.pop();
        }
        if secret.len() < crate::webhook::MIN_SECRET_BYTES {
            return Err(self.invalid(
                key("secret_file"),
                format!(
                    "{}: the secret must be at least {} bytes (e.g. `openssl rand -hex 32`)",
                    path.display(),
                    crate::webhook::MIN_SECRET_BYTES
                ),
            ));
        }
        let hours = raw.give_up_after_hours.unwrap_or(72);
        if !(1..=24 * 30).contains(&hours) {
            return Err(self.invalid(
                key("give_up_after_hours"),
                format!("{hours} is outside 1..=720"),
            ));
        }
        Ok(crate::webhook::WebhookSettings {
            url: url.to_string(),
            secret: crate::webhook::WebhookSecret::new(secret.to_vec()),
            give_up_after: Duration::from_secs(hours * 3600),
        })
    }

    /// `[webhooks]`: the delivery worker's timing.
    fn webhook_worker(
        &self,
        raw: &RawWebhooks,
    ) -> Result<crate::webhook::WorkerSettings, ConfigError> {
        let defaults = crate::webhook::WorkerSettings::default();
        let ms = |key: &str, v: Option<u64>, default: Duration, max: u64| match v {
            None => Ok(default),
            Some(n) if (1..=max).contains(&n) => Ok(Duration::from_millis(n)),
            Some(n) => Err(self.invalid(
                format!("webhooks.{key}"),
                format!("{n} is outside 1..={max} milliseconds"),
            )),
        };
        let settings = crate::webhook::WorkerSettings {
            poll_interval: ms(
                "poll_interval_ms",
                raw.poll_interval_ms,
                defaults.poll_interval,
                600_000,
            )?,
            retry_base: ms(
                "retry_base_ms",
                raw.retry_base_ms,
                defaults.retry_base,
                3_600_000,
            )?,
            retry_max: ms(
                "retry_max_ms",
                raw.retry_max_ms,
                defaults.retry_max,
                86_400_000,
            )?,
            request_timeout: ms(
                "timeout_ms",
                raw.timeout_ms,
                defaults.request_timeout,
                120_000,
            )?,
            batch: defaults.batch,
        };
        if settings.retry_max < settings.retry_base {
            return Err(self.invalid(
                "webhooks.retry_max_ms",
                "must be at least webhooks.retry_base_ms",
            ));
        }
        Ok(settings)
    }

    /// The ledger URL (password taken out) and its connection options.
    fn ledger(
        &self,
        url_key: &str,
        url: &str,
        raw: &RawLedger,
    ) -> Result<(String, LedgerOptions), ConfigError> {
        let url = url.trim();
        let ms = |key: &str, v: Option<u64>, default: Duration| match v {
            None => Ok(default),
            Some(n) if (1..=600_000).contains(&n) => Ok(Duration::from_millis(n)),
            Some(n) => Err(self.invalid(
                format!("ledger.{key}"),
                format!("{n} is outside 1..=600000 milliseconds"),
            )),
        };
        let mut options = LedgerOptions {
            auto_migrate: raw.auto_migrate.unwrap_or(true),
            max_connections: match raw.max_connections {
                None => crate::ledger::DEFAULT_MAX_CONNECTIONS,
                Some(n) if (1..=1024).contains(&n) => n as usize,
                Some(n) => {
                    return Err(
                        self.invalid("ledger.max_connections", format!("{n} is outside 1..=1024"))
                    )
                }
            },
            connect_timeout: ms(
                "connect_timeout_ms",
                raw.connect_timeout_ms,
                crate::ledger::DEFAULT_CONNECT_TIMEOUT,
            )?,
            query_timeout: ms(
                "query_timeout_ms",
                raw.query_timeout_ms,
                crate::ledger::DEFAULT_QUERY_TIMEOUT,
            )?,
            password: None,
        };
        match ledger::backend_of(url) {
            Some(Backend::Sqlite) => {
                if raw.password_file.is_some() {
                    return Err(self.invalid(
                        "ledger.password_file",
                        "only a postgres:// ledger takes a password",
                    ));
                }
                let path = url.trim_start_matches("sqlite:").trim();
                Ok((
                    format!("sqlite:{}", self.path(Path::new(path)).display()),
                    options,
                ))
            }
            Some(Backend::Postgres) => {
                let (stripped, had_password) = ledger::strip_password(url);
                // Parse it now (no connection) so a bad URL stops the start here; the stripped
                // form, so the reason can never quote the password.
                crate::ledger::postgres::PostgresLedger::check_url(&stripped, &options)
                    .map_err(|e| self.invalid(url_key, e.to_string()))?;
                if had_password {
                    let parsed = tokio_postgres::Config::from_str(url).map_err(|_| {
                        self.invalid(
                            url_key,
                            format!(
                                "{:?} is not a valid PostgreSQL URL",
                                ledger::redact_url(url)
                            ),
                        )
                    })?;
                    if let Some(pw) = parsed.get_password() {
                        options.password = Some(Password::new(String::from_utf8_lossy(pw)));
                    }
                }
                if let Some(file) = &raw.password_file {
                    if had_password {
                        return Err(self.invalid(
                            "ledger.password_file",
                            "the URL has a password too: keep it in one place (the file)",
                        ));
                    }
                    let path = self.path(file);
                    let text = std::fs::read_to_string(&path).map_err(|e| {
                        self.invalid("ledger.password_file", format!("{}: {e}", path.display()))
                    })?;
                    let password = text.trim_end_matches(['\n', '\r']);
                    if password.is_empty() {
                        return Err(self.invalid(
                            "ledger.password_file",
                            format!("{} is empty", path.display()),
                        ));
                    }
                    options.password = Some(Password::new(password));
                }
                Ok((stripped, options))
            }
            None => Err(self.invalid(
                url_key,
                format!(
                    "{:?} is not a supported ledger URL (expected sqlite:PATH or \
                     postgres://USER@HOST:PORT/DATABASE)",
                    ledger::redact_url(url)
                ),
            )),
        }
    }

    fn load_root(&self, key: &str, root: &RawRoot) -> Result<Vec<u8>, ConfigError> {
        let path = self.path(&root.path);
        let pem = std::fs::read(&path)
            .map_err(|e| self.invalid(format!("{key}.path"), format!("{}: {e}", path.display())))?;
        let certs: Vec<_> = rustls_pemfile::certs(&mut pem.as_slice())
            .collect::<Result<_, _>>()
            .map_err(|e| {
                self.invalid(
                    format!("{key}.path"),
                    format!("{}: not PEM: {e}", path.display()),
                )
            })?;
        let [cert] = certs.as_slice() else {
            return Err(self.invalid(
                format!("{key}.path"),
                format!(
                    "{}: expected exactly one CERTIFICATE, found {}",
                    path.display(),
                    certs.len()
                ),
            ));
        };
        let want = root.sha256.replace(':', "").to_ascii_lowercase();
        if want.len() != 64 || !want.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(self.invalid(
                format!("{key}.sha256"),
                "must be the 64 hex digits of the root's SHA-256 fingerprint",
            ));
        }
        let got = hex::encode(Sha256::digest(cert.as_ref()));
        if got != want {
            return Err(self.invalid(
                format!("{key}.sha256"),
                format!(
                    "fingerprint mismatch: {} has SHA-256 {got}, the configuration says {want}",
                    path.display()
                ),
            ));
        }
        Ok(cert.as_ref().to_vec())
    }

    fn app(
        &self,
        app_id: &str,
        app: &RawApp,
        anchors: &TrustAnchors,
    ) -> Result<AppRules, ConfigError> {
        let k = |sub: &str| format!("apps.\"{app_id}\".{sub}");
        if app_id.trim().is_empty() {
            return Err(self.invalid("apps", "an app id must not be empty"));
        }
        if app.environments.is_empty() {
            return Err(self.invalid(
                k("environments"),
                "list at least one of \"production\", \"sandbox\"",
            ));
        }
        if app.google_play.is_none()
            && app.app_store.is_none()
            && app.huawei.is_none()
            && app.sandbox.is_none()
        {
            return Err(self.invalid(
                format!("apps.\"{app_id}\""),
                "configure at least one store (google_play, app_store, huawei, sandbox)",
            ));
        }
        let google_play = match &app.google_play {
            None => None,
            Some(g) => Some(GooglePlayRules {
                package_name: non_empty(&g.package_name)
                    .map_err(|r| self.invalid(k("google_play.package_name"), r))?,
                public_key: rsa_spki(&g.public_key)
                    .map_err(|r| self.invalid(k("google_play.public_key"), r))?,
            }),
        };
        let app_store = match &app.app_store {
            None => None,
            Some(a) => {
                if anchors.apple_roots().is_empty() {
                    return Err(self.invalid(
                        k("app_store"),
                        "App Store receipts need at least one [[trust.apple_roots]] entry",
                    ));
                }
                Some(AppStoreRules {
                    bundle_id: non_empty(&a.bundle_id)
                        .map_err(|r| self.invalid(k("app_store.bundle_id"), r))?,
                })
            }
        };
        let huawei = match &app.huawei {
            None => None,
            Some(h) => Some(HuaweiRules {
                package_name: non_empty(&h.package_name)
                    .map_err(|r| self.invalid(k("huawei.package_name"), r))?,
                public_key: rsa_spki(&h.public_key)
                    .map_err(|r| self.invalid(k("huawei.public_key"), r))?,
            }),
        };
        let sandbox = match &app.sandbox {
            None => None,
            Some(s) => {
                if !app.environments.contains(&Environment::Sandbox) {
                    return Err(self.invalid(
                        k("sandbox"),
                        "the sandbox store is only accepted by apps whose environments include \"sandbox\"",
                    ));
                }
                Some(SandboxRules {
                    public_key: ed25519_raw(&s.public_key)
                        .map_err(|r| self.invalid(k("sandbox.public_key"), r))?,
                })
            }
        };
        let account_binding = match &app.account_binding {
            None => None,
            Some(b) => Some(AccountBindingRules {
                scheme: binding_scheme(b, app_store.is_some())
                    .map_err(|(key, r)| self.invalid(k(&format!("account_binding.{key}")), r))?,
                required: b.required,
            }),
        };
        Ok(AppRules {
            app_id: app_id.to_string(),
            environments: app.environments.clone(),
            google_play,
            app_store,
            huawei,
            sandbox,
            account_binding,
        })
    }
}

/// The account binding scheme of `[apps."ID".account_binding]` (the failing key and why).
fn binding_scheme(
    b: &RawAccountBinding,
    sells_on_app_store: bool,
) -> Result<AccountBinding, (&'static str, String)> {
    match (b.scheme, &b.namespace) {
        (RawBindingScheme::UuidV5, Some(ns)) => {
            AccountBinding::uuid_v5(ns).map_err(|e| ("namespace", e.to_string()))
        }
        (RawBindingScheme::UuidV5, None) => Err((
            "namespace",
            "uuid_v5 needs the app's namespace UUID (the one its apps derive tokens in)".into(),
        )),
        (RawBindingScheme::Sha256Hex, Some(_)) => Err((
            "namespace",
            "sha256_hex takes no namespace (it is the plain SHA-256 of the account id)".into(),
        )),
        (RawBindingScheme::Sha256Hex, None) if sells_on_app_store => Err((
            "scheme",
            "the App Store's appAccountToken is a UUID: use \"uuid_v5\" for an app that sells there"
                .into(),
        )),
        (RawBindingScheme::Sha256Hex, None) => Ok(AccountBinding::Sha256Hex),
    }
}

fn non_empty(s: &str) -> Result<String, String> {
    if s.trim().is_empty() {
        Err("must not be empty".into())
    } else {
        Ok(s.to_string())
    }
}

fn b64(s: &str) -> Result<Vec<u8>, String> {
    let compact: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    STANDARD
        .decode(compact.as_bytes())
        .map_err(|_| "not Base64".to_string())
}

/// Decode a Base64 X.509 SubjectPublicKeyInfo holding an RSA key (the Play Console / AppGallery
/// form), once, into the form the rules verify with.
pub fn rsa_spki(s: &str) -> Result<RsaPublicKey, String> {
    RsaPublicKey::from_spki_der(&b64(s)?).map_err(|e| e.to_string())
}

/// Decode a Base64 raw 32-byte Ed25519 public key (the sandbox store's form).
pub fn ed25519_raw(s: &str) -> Result<ed25519_dalek::VerifyingKey, String> {
    let raw = b64(s)?;
    let bytes: [u8; 32] = raw
        .as_slice()
        .try_into()
        .map_err(|_| format!("expected 32 bytes, got {}", raw.len()))?;
    ed25519_dalek::VerifyingKey::from_bytes(&bytes)
        .map_err(|_| "not a valid Ed25519 public key".to_string())
}

/// The public URL by the protocol's one rule ([`payseal_protocol::url::VerifierUrl`]),
/// surrounding whitespace ignored; returned without a trailing `/`.
fn check_public_url(url: &str) -> Result<payseal_protocol::url::VerifierUrl, String> {
    let url = url.trim();
    payseal_protocol::url::VerifierUrl::parse(url).map_err(|e| format!("{url:?} {e}"))
}

/// A backup pin by the protocol's rule (`sha256/<standard base64 of 32 bytes>`, not a
/// placeholder).
fn check_pin(pin: &str) -> Result<(), String> {
    payseal_protocol::pin::parse_pin(pin)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// A URL the verifier calls (a webhook, Google's keys, token and API endpoints) must be
/// `https://HOST…`, or `http://` to a loopback address (127.0.0.1, `[::1]`, `localhost`) for
/// development and tests.
fn check_outbound_url(url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("{url:?} is not a URL: {e}"))?;
    let host = parsed
        .host_str()
        .ok_or_else(|| format!("{url:?} has no host"))?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("credentials do not belong in the URL".into());
    }
    match parsed.scheme() {
        "https" if is_example_host(host) => Err(example_host_reason(url, host)),
        "https" => Ok(()),
        "http" => {
            let loopback = host == "localhost"
                || host
                    .trim_matches(|c| c == '[' || c == ']')
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback());
            if loopback {
                Ok(())
            } else {
                Err(format!(
                    "{url:?}: plain http is allowed only to a loopback address; use https://"
                ))
            }
        }
        other => Err(format!("{url:?}: scheme {other:?}, expected https")),
    }
}

/// Whether `host` is one of the names reserved for documentation (RFC 2606 / RFC 6761):
/// `example.com`, `example.net`, `example.org` and their subdomains, anything under the
/// `.example` or `.invalid` top-level domains. Nothing real answers there: such a value was
/// copied from an example and never replaced.
fn is_example_host(host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    ["example.com", "example.net", "example.org"]
        .iter()
        .any(|d| host == *d || host.ends_with(&format!(".{d}")))
        || ["example", "invalid"]
            .iter()
            .any(|tld| host == *tld || host.ends_with(&format!(".{tld}")))
}

fn example_host_reason(value: &str, host: &str) -> String {
    format!(
        "{value:?}: {host:?} is a documentation example (reserved, nothing answers there): \
         put your own value, or comment the table out if you do not use it"
    )
}

/// A setting compared with what a store sends (an audience, a service account): refused when
/// it names an example host (see [`is_example_host`]), as a URL or an email address.
fn check_not_example(value: &str) -> Result<(), String> {
    let host = match reqwest::Url::parse(value) {
        Ok(url) => url.host_str().map(str::to_owned),
        Err(_) => value.rsplit_once('@').map(|(_, domain)| domain.to_owned()),
    };
    match host {
        Some(h) if is_example_host(&h) => Err(example_host_reason(value, &h)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_config_has_the_documented_shape() {
        let raw: RawConfig = toml::from_str(include_str!("../config.example.toml")).unwrap();
        assert_eq!(raw.trust.apple_roots.len(), 1);
        assert!(raw.apps.contains_key("com.example.game"));
        assert_eq!(raw.keys.hpke.len(), 1);
    }

    #[test]
    fn key_at_names_the_table_and_key() {
        let text = "[server]\nlisten = 1\n\n[apps.\"x\".google_play]\npublic_kye = \"a\"\n";
        let off = text.find("public_kye").unwrap();
        assert_eq!(
            key_at(text, off),
            "apps.\"x\".google_play.public_kye (line 5)"
        );
        assert_eq!(
            key_at(text, text.find("listen").unwrap()),
            "server.listen (line 2)"
        );
        assert_eq!(key_at(text, 0), "server (line 1)");
    }

    #[test]
    fn public_url_and_pins_are_checked() {
        assert_eq!(
            check_public_url("https://v.example.com:8443/")
                .unwrap()
                .as_str(),
            "https://v.example.com:8443"
        );
        assert!(check_public_url("http://v.example.com").is_err());
        assert!(check_public_url("https://v.example.com/path").is_err());
        assert!(check_public_url("https://").is_err());
        assert!(check_public_url("https://localhost:0").is_err());
        assert!(check_public_url("https://localhost:x").is_err());
        assert!(check_public_url("https://[::1]:8443").is_ok());
        assert!(check_public_url("https://under_score.example").is_err());
        let good = format!("sha256/{}", STANDARD.encode([7u8; 32]));
        assert!(check_pin(&good).is_ok());
        assert!(check_pin("sha1/abcd").is_err());
        assert!(check_pin(&format!("sha256/{}", STANDARD.encode([7u8; 20]))).is_err());
    }

    #[test]
    fn documentation_example_hosts_are_refused_where_the_verifier_calls_or_compares() {
        for host in [
            "example.com",
            "verify.example.com",
            "EXAMPLE.ORG.",
            "x.example.net",
            "v.example",
            "keys.example.invalid",
        ] {
            assert!(is_example_host(host), "{host}");
            let url = format!("https://{host}/x");
            assert!(check_outbound_url(&url).is_err(), "{url}");
            assert!(check_not_example(&url).is_err(), "{url}");
        }
        for host in [
            "mygame.com",
            "example.community",
            "notexample.com",
            "v.test",
        ] {
            assert!(!is_example_host(host), "{host}");
            assert!(check_outbound_url(&format!("https://{host}/x")).is_ok());
        }
        assert!(check_not_example("push@my-project.iam.gserviceaccount.com").is_ok());
        assert!(check_not_example("push@example.com").is_err());
        assert!(check_not_example("my-audience").is_ok());
        // Loopback development URLs are untouched.
        assert!(check_outbound_url("http://127.0.0.1:9/hook").is_ok());
    }

    #[test]
    fn store_keys_are_decoded_strictly() {
        assert!(ed25519_raw(&STANDARD.encode([9u8; 31])).is_err());
        assert!(ed25519_raw("***").is_err());
        let vk = ed25519_dalek::SigningKey::from_bytes(&[3u8; 32]).verifying_key();
        assert_eq!(ed25519_raw(&STANDARD.encode(vk.to_bytes())).unwrap(), vk);
        assert!(rsa_spki(&STANDARD.encode(b"not der")).is_err());
    }
}
