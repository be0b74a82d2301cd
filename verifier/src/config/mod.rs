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
//!
//! One submodule per TOML table, each parsing and checking only its own table into its part
//! of [`Settings`]: `server` (`[server]`), `keys` (`[keys]`, `[verdict]`), `ledger`
//! (`[ledger]`), `trust` (`[trust]`), `apps` (`[apps."ID"]`), `webhooks` (`[webhooks]`, an
//! app's `webhook`), `app_server` (an app's `app_server` API key) and `stores` (`[google_play.rtdn]`, an app's `voided_purchases` and Huawei
//! `notifications`). This module holds the loaders, [`ConfigError`], the resolver that puts the
//! tables together, and the value checks several tables share (outbound URLs, placeholder
//! hosts).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use crate::settings::{OfflineSettings, Settings};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::Deserialize;

mod app_server;
mod app_store_api;
mod apps;
mod entitlements;
mod google_api;
mod keys;
mod ledger;
mod refunds;
mod server;
mod stores;
mod trust;
mod webhooks;

use apps::RawApp;
pub use apps::{ed25519_raw, rsa_spki};
pub use keys::DEFAULT_TTL_MINUTES;
use keys::{RawKeys, RawVerdict};
use ledger::RawLedger;
use server::{RawServer, ServerIdentity};
use stores::RawGooglePlay;
use trust::RawTrust;
use webhooks::RawWebhooks;

/// Environment variable overriding `server.listen`.
pub const ENV_LISTEN: &str = "PAYSEAL_LISTEN";
/// Environment variable overriding `server.public_url`.
pub const ENV_PUBLIC_URL: &str = "PAYSEAL_PUBLIC_URL";
/// Environment variable overriding `ledger.url`.
pub const ENV_LEDGER: &str = "PAYSEAL_LEDGER";

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
    #[serde(default)]
    refund_answers: refunds::RawRefundAnswers,
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
    #[serde(rename = "refund_answers")]
    _refund_answers: Option<serde::de::IgnoredAny>,
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
    #[serde(rename = "refund_answers")]
    _refund_answers: Option<serde::de::IgnoredAny>,
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

    fn invalid(&self, key: impl Into<String>, reason: impl std::fmt::Display) -> ConfigError {
        ConfigError::Invalid {
            file: self.file.clone(),
            key: key.into(),
            reason: reason.to_string(),
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

    /// The bytes of a secret file (`key` names it in errors): on Unix a file readable by group
    /// or others is refused, so a key anyone on the host can read never starts a server.
    fn secret_file(
        &self,
        key: &str,
        file: &Path,
    ) -> Result<zeroize::Zeroizing<Vec<u8>>, ConfigError> {
        let path = self.path(file);
        let meta = std::fs::metadata(&path)
            .map_err(|e| self.invalid(key, format!("{}: {e}", path.display())))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(self.invalid(
                    key,
                    format!(
                        "{}: readable by group or others (mode {mode:04o}); `chmod 600` it",
                        path.display()
                    ),
                ));
            }
        }
        #[cfg(not(unix))]
        let _ = meta;
        std::fs::read(&path)
            .map(zeroize::Zeroizing::new)
            .map_err(|e| self.invalid(key, format!("{}: {e}", path.display())))
    }

    fn path(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base.join(p)
        }
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

        let limits = self.limits(&raw.server)?;
        let metrics_listen = self.metrics_listen(&raw.server, listen)?;

        // keys
        let (hpke_keys, verdict_keys) = self.keys(&raw.keys)?;

        let verdict_ttl = self.verdict_ttl(&raw.verdict)?;

        let (ledger_url, ledger) = self.ledger_table(&raw.ledger, env)?;

        // trust anchors
        let anchors = self.anchors(&raw.trust)?;

        // apps
        let mut apps = HashMap::new();
        let mut webhooks = HashMap::new();
        let mut app_server_keys = HashMap::new();
        let mut app_store_api = HashMap::new();
        let mut refund_policies = HashMap::new();
        let mut refund_history = HashMap::new();
        let mut entitlements = HashMap::new();
        for (app_id, app) in &raw.apps {
            let rules = self.app(app_id, app, &anchors)?;
            apps.insert(app_id.clone(), rules);
            entitlements.insert(
                app_id.clone(),
                self.entitlements(app_id, app.entitlements.as_ref(), app.transfer)?,
            );
            if let Some(hook) = &app.webhook {
                webhooks.insert(app_id.clone(), self.webhook(app_id, hook)?);
            }
            if let Some(api) = app.app_store.as_ref().and_then(|a| a.server_api.as_ref()) {
                let bundle_id = app.app_store.as_ref().map_or("", |a| a.bundle_id.as_str());
                app_store_api.insert(app_id.clone(), self.app_store_api(app_id, bundle_id, api)?);
            }
            if let Some(p) = &app.refund_policy {
                refund_policies.insert(app_id.clone(), self.refund_policy(app_id, p)?);
            }
            if let Some(h) = &app.refund_history {
                refund_history.insert(app_id.clone(), self.refund_history(app_id, h)?);
            }
            if let Some(a) = &app.app_server {
                app_server_keys.insert(app_id.clone(), self.app_server_key(app_id, a)?);
            }
        }
        let webhook_worker = self.webhook_worker(&raw.webhooks)?;
        let google_play_rtdn = match &raw.google_play.rtdn {
            None => None,
            Some(r) => Some(self.rtdn(r)?),
        };
        let mut google_play_voided = Vec::new();
        let mut google_play_api = HashMap::new();
        let mut huawei_notifications = Vec::new();
        for (app_id, app) in &raw.apps {
            if let Some(n) = app.huawei.as_ref().and_then(|h| h.notifications.as_ref()) {
                huawei_notifications.push(self.huawei_notify(app_id, n)?);
            }
            if let Some(g) = &app.google_play {
                if let Some(v) = &g.voided_purchases {
                    google_play_voided.push(self.voided(app_id, &g.package_name, v)?);
                }
                if let Some(a) = &g.api {
                    google_play_api
                        .insert(app_id.clone(), self.play_api(app_id, &g.package_name, a)?);
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
            verdict_ttl,
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
            google_play_api,
            huawei_notifications,
            app_server_keys,
            app_store_api,
            refund_policies,
            refund_worker: self.refund_answers(&raw.refund_answers)?,
            refund_history,
            entitlements,
        })
    }
}

/// Why one value of the file is refused: the `reason` of a [`ConfigError::Invalid`], which
/// names the file and the key (the checks below know neither).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValueError {
    /// An empty (or blank) string where a name is needed.
    #[error("must not be empty")]
    Empty,
    /// A store key that is not Base64.
    #[error("not Base64")]
    NotBase64,
    /// A store RSA key that is not one (the rules' reason).
    #[error(transparent)]
    RsaKey(#[from] crate::rules::RsaKeyError),
    /// A raw Ed25519 key of the wrong length.
    #[error("expected 32 bytes, got {0}")]
    Ed25519Length(usize),
    /// 32 bytes that are not an Ed25519 public key.
    #[error("not a valid Ed25519 public key")]
    Ed25519Key,
    /// `server.public_url` against the protocol's URL rule.
    #[error("{url:?} {source}")]
    PublicUrl {
        /// The value.
        url: String,
        /// The protocol's reason.
        source: payseal_protocol::url::UrlError,
    },
    /// A pin against the protocol's pin rule.
    #[error(transparent)]
    Pin(#[from] payseal_protocol::pin::PinError),
    /// An outbound URL that does not parse.
    #[error("{url:?} is not a URL: {reason}")]
    NotUrl {
        /// The value.
        url: String,
        /// The URL parser's reason.
        reason: String,
    },
    /// An outbound URL without a host.
    #[error("{0:?} has no host")]
    NoHost(String),
    /// An outbound URL with a user name or password in it.
    #[error("credentials do not belong in the URL")]
    Credentials,
    /// Plain `http://` to a host that is not loopback.
    #[error("{0:?}: plain http is allowed only to a loopback address; use https://")]
    PlainHttp(String),
    /// A scheme other than `https` (or `http` to loopback).
    #[error("{url:?}: scheme {scheme:?}, expected https")]
    Scheme {
        /// The value.
        url: String,
        /// Its scheme.
        scheme: String,
    },
    /// A host reserved for documentation, copied from an example and never replaced.
    #[error(
        "{value:?}: {host:?} is a documentation example (reserved, nothing answers there): \
         put your own value, or comment the table out if you do not use it"
    )]
    ExampleHost {
        /// The value.
        value: String,
        /// Its example host.
        host: String,
    },
}

fn non_empty(s: &str) -> Result<String, ValueError> {
    if s.trim().is_empty() {
        Err(ValueError::Empty)
    } else {
        Ok(s.to_string())
    }
}

fn b64(s: &str) -> Result<Vec<u8>, ValueError> {
    let compact: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    STANDARD
        .decode(compact.as_bytes())
        .map_err(|_| ValueError::NotBase64)
}

/// A URL the verifier calls (a webhook, Google's keys, token and API endpoints) must be
/// `https://HOST…`, or `http://` to a loopback address (127.0.0.1, `[::1]`, `localhost`) for
/// development and tests.
fn check_outbound_url(url: &str) -> Result<(), ValueError> {
    let parsed = reqwest::Url::parse(url).map_err(|e| ValueError::NotUrl {
        url: url.to_string(),
        reason: e.to_string(),
    })?;
    let host = parsed
        .host_str()
        .ok_or_else(|| ValueError::NoHost(url.to_string()))?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(ValueError::Credentials);
    }
    match parsed.scheme() {
        "https" if is_example_host(host) => Err(example_host(url, host)),
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
                Err(ValueError::PlainHttp(url.to_string()))
            }
        }
        other => Err(ValueError::Scheme {
            url: url.to_string(),
            scheme: other.to_string(),
        }),
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

fn example_host(value: &str, host: &str) -> ValueError {
    ValueError::ExampleHost {
        value: value.to_string(),
        host: host.to_string(),
    }
}

/// A setting compared with what a store sends (an audience, a service account): refused when
/// it names an example host (see [`is_example_host`]), as a URL or an email address.
fn check_not_example(value: &str) -> Result<(), ValueError> {
    let host = match reqwest::Url::parse(value) {
        Ok(url) => url.host_str().map(str::to_owned),
        Err(_) => value.rsplit_once('@').map(|(_, domain)| domain.to_owned()),
    };
    match host {
        Some(h) if is_example_host(&h) => Err(example_host(value, &h)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::apps::{ed25519_raw, rsa_spki};
    use super::server::{check_pin, check_public_url};
    use super::*;

    #[test]
    fn example_config_has_the_documented_shape() {
        let raw: RawConfig = toml::from_str(include_str!("../../config.example.toml")).unwrap();
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
        // Each refusal is typed; the reason the operator reads is its Display.
        let plain = check_outbound_url("http://10.0.0.1/hook").unwrap_err();
        assert_eq!(plain, ValueError::PlainHttp("http://10.0.0.1/hook".into()));
        assert!(
            plain.to_string().contains("only to a loopback address"),
            "{plain}"
        );
        assert!(matches!(
            check_outbound_url("https://user:pw@hooks.mygame.com/"),
            Err(ValueError::Credentials)
        ));
    }

    #[test]
    fn store_keys_are_decoded_strictly() {
        assert_eq!(
            ed25519_raw(&STANDARD.encode([9u8; 31])),
            Err(ValueError::Ed25519Length(31))
        );
        assert_eq!(ed25519_raw("***"), Err(ValueError::NotBase64));
        let vk = ed25519_dalek::SigningKey::from_bytes(&[3u8; 32]).verifying_key();
        assert_eq!(ed25519_raw(&STANDARD.encode(vk.to_bytes())).unwrap(), vk);
        assert!(rsa_spki(&STANDARD.encode(b"not der")).is_err());
    }
}
