//! Shared fixtures of the PaySeal fuzz targets.
//!
//! `fuzz/fixtures/` is a `payseal-verifier dev` state directory (test keys only: HPKE, verdict,
//! self-signed TLS, the sandbox store with its Play/Huawei RSA keys, Ed25519 key and App Store
//! test CA) written once by `cargo run --example seeds` (in `fuzz/`), which also writes the seed
//! corpora in `fuzz/corpus/<target>/` from those keys. The targets load it read-only, so a
//! seed receipt is genuine for the app the targets check it against.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use payseal_protocol::envelope::{self, ClientContext};
use payseal_protocol::verdict::VerdictVerifier;
use payseal_protocol::Receipt;
use payseal_sandbox::SandboxStore;
use payseal_rules::{self as rules, AppRules, Purchase, Rejection};
use payseal_verifier::settings::Settings;

/// The app id the fixture configuration (dev mode) defines, with all four stores.
pub const APP: &str = payseal_verifier::dev::DEV_APP_ID;

/// The plaintext of the request whose client context `envelope_open_response` uses.
pub const RESPONSE_REQUEST: &[u8] = b"{\"payseal fuzz\":\"request\"}";
/// The ephemeral key material of that request (deterministic, so the seed response opens).
pub const RESPONSE_IKM: [u8; 32] = [7; 32];
/// The transaction id of the `rule_app_receipt` seeds (and what raw-DER inputs name).
pub const APP_RECEIPT_TRANSACTION: &str = "1000000424242424";
/// "Now" for `verdict_verify`, Unix seconds: seed tokens are issued at this time.
pub const VERDICT_NOW: i64 = 1_750_000_000;

/// `fuzz/fixtures/`.
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// `fuzz/fixtures/verifier.toml`.
pub fn config_path() -> PathBuf {
    fixtures_dir().join(payseal_verifier::dev::CONFIG_FILE)
}

/// Everything the targets check input against.
pub struct Fixtures {
    /// The resolved fixture configuration.
    pub settings: Settings,
    /// The sandbox store (private keys too: to tell a genuine signature from an accepted forgery).
    pub store: SandboxStore,
}

impl Fixtures {
    /// The rules of [`APP`].
    pub fn app(&self) -> &AppRules {
        &self.settings.apps[APP]
    }

    /// `rules::check_receipt` for [`APP`] now.
    pub fn check(&self, receipt: &Receipt) -> Result<Purchase, Rejection> {
        rules::check_receipt(
            receipt,
            self.app(),
            &self.settings.anchors,
            payseal_sandbox::now_ms(),
        )
    }

    /// A verdict verifier with the fixture's verdict keys.
    pub fn verdict_verifier(&self) -> VerdictVerifier {
        VerdictVerifier::new(
            self.settings
                .verdict_keys
                .iter()
                .map(|k| k.public_key())
                .collect(),
        )
    }

    /// A client context for [`RESPONSE_REQUEST`] (fresh each call: opening consumes it).
    pub fn client_context(&self) -> (Vec<u8>, ClientContext) {
        envelope::seal_request_deterministic(
            &self.settings.hpke_keys[0].config(),
            RESPONSE_REQUEST,
            &RESPONSE_IKM,
        )
        .expect("deterministic seal with the fixture key")
    }
}

/// The fixtures, loaded once per process. Panics (loudly, once) when they are missing.
pub fn fixtures() -> &'static Fixtures {
    static CELL: OnceLock<Fixtures> = OnceLock::new();
    CELL.get_or_init(|| {
        let path = config_path();
        let settings =
            payseal_verifier::config::load_with_env(&path, |_| None).unwrap_or_else(|e| {
                panic!("fuzz fixtures do not load ({e}); run `cargo run --example seeds` in fuzz/")
            });
        let store =
            SandboxStore::open_or_create(&fixtures_dir().join(payseal_sandbox::DEV_STORE_SUBDIR))
                .unwrap_or_else(|e| panic!("fuzz fixture sandbox store: {e}"));
        Fixtures { settings, store }
    })
}

/// Split `data` at its first NUL byte into two UTF-8 strings (the framing of two-part receipts:
/// `purchase_data \0 signature`).
pub fn two_parts(data: &[u8]) -> Option<(String, String)> {
    let at = data.iter().position(|&b| b == 0)?;
    let a = std::str::from_utf8(&data[..at]).ok()?;
    let b = std::str::from_utf8(&data[at + 1..]).ok()?;
    Some((a.to_string(), b.to_string()))
}
