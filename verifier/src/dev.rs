//! Development mode: make (once) and reuse a complete local setup in one state directory.
//!
//! `payseal-verifier dev --listen ADDR --state-dir DIR` creates on its first run:
//! - `DIR` itself with mode 0700 when it does not exist yet;
//! - `DIR/keys/hpke.key`, `DIR/keys/verdict.key` (mode 0600);
//! - `DIR/tls/cert.pem` + `DIR/tls/key.pem` (self-signed for `localhost`, `127.0.0.1`, `::1`)
//!   and `DIR/tls/backup-key.pem` (a spare TLS key whose pin the profile carries);
//! - `DIR/sandbox-store/` (the sandbox store's keys and App Store test CA);
//! - `DIR/verifier.toml` with one app, `dev.payseal.demo`, for all four stores, binding
//!   purchases to accounts with UUIDv5 tokens in [`DEV_ACCOUNT_NAMESPACE`] (not required:
//!   purchases without a token still pay);
//! - `DIR/ledger.db` (with its `-wal` and `-shm` files) mode 0600, when the server opens it;
//!
//! and on every run writes `DIR/profile.json`. A later run reuses all of it (including any
//! edits to `verifier.toml`); `--listen` overrides the configured address.

use std::fs;
use std::path::{Path, PathBuf};

use payseal_sandbox::{SandboxStore, DEV_STORE_SUBDIR};

use crate::config::{self, ConfigError};
use crate::keys::{self, KeyError};
use crate::settings::Settings;
use crate::tls::{self, TlsError};

/// The app id dev mode configures.
pub const DEV_APP_ID: &str = "dev.payseal.demo";
/// The account binding namespace of the dev app (`uuid_v5`): a Play `obfuscatedAccountId` or
/// App Store `appAccountToken` set to the UUIDv5 of an account id in it binds the purchase to
/// that account. Development only; pick your own for a real app.
pub const DEV_ACCOUNT_NAMESPACE: &str = "5d0e6c1a-8f3b-4e27-9a64-2c71b0f4d9e8";
/// The configuration file dev mode writes into the state directory.
pub const CONFIG_FILE: &str = "verifier.toml";
/// The profile file dev mode writes into the state directory.
pub const PROFILE_FILE: &str = "profile.json";

/// Why dev mode could not prepare its state directory.
#[derive(Debug, thiserror::Error)]
pub enum DevError {
    /// A file or folder could not be written or read.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Key files.
    #[error(transparent)]
    Keys(#[from] KeyError),
    /// TLS material.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The sandbox store.
    #[error("sandbox store: {0}")]
    Sandbox(#[from] payseal_sandbox::SandboxError),
    /// The configuration (written or edited) does not load.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The state directory is half made (e.g. one key file without the other).
    #[error("{0}")]
    Inconsistent(String),
}

/// The files of a dev state directory.
#[derive(Debug, Clone)]
pub struct DevPaths {
    /// The state directory.
    pub dir: PathBuf,
    /// `verifier.toml`.
    pub config: PathBuf,
    /// `profile.json`.
    pub profile: PathBuf,
    /// The TLS certificate (trust it as a root to call the dev server).
    pub tls_cert: PathBuf,
    /// The sandbox store directory.
    pub sandbox_store: PathBuf,
    /// The SQLite ledger.
    pub ledger: PathBuf,
}

impl DevPaths {
    /// The layout under `dir`.
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
            config: dir.join(CONFIG_FILE),
            profile: dir.join(PROFILE_FILE),
            tls_cert: dir.join("tls/cert.pem"),
            sandbox_store: dir.join(DEV_STORE_SUBDIR),
            ledger: dir.join("ledger.db"),
        }
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> DevError + '_ {
    move |source| DevError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Create whatever is missing in `dir` (keys, TLS, sandbox store, config) and return the paths.
pub fn prepare(dir: &Path, listen: std::net::SocketAddr) -> Result<DevPaths, DevError> {
    // It holds private keys and the ledger: a new state folder is for its owner only.
    crate::ledger::files::create_private_dir(dir).map_err(io(dir))?;
    let paths = DevPaths::new(dir);

    // Keys.
    let key_dir = dir.join("keys");
    let (hpke, verdict) = (
        key_dir.join(keys::HPKE_FILE),
        key_dir.join(keys::VERDICT_FILE),
    );
    match (hpke.exists(), verdict.exists()) {
        (false, false) => {
            keys::generate_into(&key_dir)?;
        }
        (true, true) => {}
        _ => {
            return Err(DevError::Inconsistent(format!(
                "{}: only one of {} and {} exists; restore it or remove the folder",
                key_dir.display(),
                keys::HPKE_FILE,
                keys::VERDICT_FILE
            )))
        }
    }

    // TLS.
    let tls_dir = dir.join("tls");
    fs::create_dir_all(&tls_dir).map_err(io(&tls_dir))?;
    let (cert, key, backup) = (
        tls_dir.join("cert.pem"),
        tls_dir.join("key.pem"),
        tls_dir.join("backup-key.pem"),
    );
    match (cert.exists(), key.exists()) {
        (false, false) => {
            let made = tls::self_signed(&["localhost", "127.0.0.1", "::1"])?;
            keys::write_private_file(&key, made.key_pem.as_bytes())?;
            fs::write(&cert, made.cert_pem.as_bytes()).map_err(io(&cert))?;
        }
        (true, true) => {}
        _ => {
            return Err(DevError::Inconsistent(format!(
                "{}: only one of cert.pem and key.pem exists; restore it or remove the folder",
                tls_dir.display()
            )))
        }
    }
    if !backup.exists() {
        let (pem, _pin) = tls::backup_key()?;
        keys::write_private_file(&backup, pem.as_bytes())?;
    }

    // Sandbox store.
    let store = SandboxStore::open_or_create(&paths.sandbox_store)?;

    // Configuration.
    if !paths.config.exists() {
        let backup_pin = backup_pin(&backup)?;
        let text = dev_config(dir, listen, &store, &backup_pin);
        fs::write(&paths.config, text.as_bytes()).map_err(io(&paths.config))?;
    }
    Ok(paths)
}

/// The pin of the backup key in a PEM file.
pub fn backup_pin(pem_path: &Path) -> Result<String, DevError> {
    let pem = zeroize::Zeroizing::new(fs::read_to_string(pem_path).map_err(io(pem_path))?);
    let key = rcgen::KeyPair::from_pem(&pem).map_err(|e| TlsError::Key {
        path: pem_path.to_path_buf(),
        reason: format!("not a private key PEM: {e}"),
    })?;
    Ok(payseal_protocol::pin::spki_pin(&key.public_key_der()))
}

fn relative(dir: &Path, path: &Path) -> String {
    path.strip_prefix(dir).unwrap_or(path).display().to_string()
}

fn toml_str(s: &str) -> String {
    // Basic TOML string with escapes (serde_json's escaping is a valid subset for these values).
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

fn dev_config(
    dir: &Path,
    listen: std::net::SocketAddr,
    store: &SandboxStore,
    backup_pin: &str,
) -> String {
    let root = relative(dir, &store.app_store_root_path());
    let receipt_root = relative(dir, &store.app_receipt_root_path());
    let app = DEV_APP_ID;
    format!(
        r#"# PaySeal verifier configuration written by `payseal-verifier dev`.
# Development only: the store keys below are the local sandbox store's test keys.
# Relative paths are resolved against this file's folder. Edit freely; `dev` reuses it.

[server]
listen = {listen}
# public_url defaults to https://localhost:<listen port>
tls_cert = "tls/cert.pem"
tls_key = "tls/key.pem"
# Pin of tls/backup-key.pem: the profile carries it beside the current certificate's pin.
backup_pins = [{backup_pin}]
max_body_bytes = 65536
request_timeout_ms = 10000
shutdown_grace_ms = 5000
# GET /metrics on a free loopback port (plain HTTP; the address is logged at start), so that
# several dev verifiers on one machine do not clash over the default 127.0.0.1:9464.
metrics_listen = "127.0.0.1:0"

[keys]
hpke = ["keys/hpke.key"]
verdict = ["keys/verdict.key"]

[verdict]
ttl_minutes = 10

[ledger]
url = "sqlite:ledger.db"

# The sandbox store's App Store test root (never trusted unless named here).
[[trust.apple_roots]]
path = {root}
sha256 = {root_sha}

# The sandbox store's app receipt test root (the original StoreKit's receipts; in production
# Apple Inc. Root CA, AppleIncRootCertificate.cer).
[[trust.apple_receipt_roots]]
path = {receipt_root}
sha256 = {receipt_root_sha}

[apps.{app_q}]
environments = ["sandbox", "production"]

[apps.{app_q}.google_play]
package_name = {app_q}
public_key = {gp}

[apps.{app_q}.app_store]
bundle_id = {app_q}

[apps.{app_q}.huawei]
package_name = {app_q}
public_key = {hw}

[apps.{app_q}.sandbox]
public_key = {sb}

# Purchases whose store account token (Play obfuscatedAccountId, App Store appAccountToken) is
# not the UUIDv5 of the request's account id in this namespace are not_paid / wrong_account.
[apps.{app_q}.account_binding]
scheme = "uuid_v5"
namespace = {ns}
required = false
"#,
        listen = toml_str(&listen.to_string()),
        backup_pin = toml_str(backup_pin),
        root = toml_str(&root),
        root_sha = toml_str(&store.app_store_root_sha256()),
        receipt_root = toml_str(&receipt_root),
        receipt_root_sha = toml_str(&store.app_receipt_root_sha256()),
        app_q = toml_str(app),
        gp = toml_str(&store.google_play_public_key()),
        hw = toml_str(&store.huawei_public_key()),
        sb = toml_str(&store.sandbox_public_key()),
        ns = toml_str(DEV_ACCOUNT_NAMESPACE),
    )
}

/// Load the dev configuration, with `listen` overriding the file (and the real environment
/// for the other overrides).
pub fn load(paths: &DevPaths, listen: std::net::SocketAddr) -> Result<Settings, DevError> {
    let listen_text = listen.to_string();
    Ok(config::load_with_env(&paths.config, |name| {
        if name == config::ENV_LISTEN {
            Some(listen_text.clone())
        } else {
            std::env::var(name).ok()
        }
    })?)
}
