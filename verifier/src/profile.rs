//! The SDK profile of this verifier: URL, TLS pins (served leaf + backups), HPKE key
//! configuration, verdict public keys.

use std::path::Path;

use payseal_protocol::envelope::ServerKeyPair;
use payseal_protocol::profile::{Profile, ProfileError};
use payseal_protocol::verdict::VerdictSigningKey;

use crate::settings::{Settings, TlsFiles};
use crate::tls::TlsError;

/// Why the profile could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ProfileBuildError {
    /// The served certificate could not be read.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The settings do not make a valid profile (e.g. fewer than two pins).
    #[error("profile: {0}")]
    Invalid(#[from] ProfileError),
    /// No HPKE key is configured.
    #[error("profile: no HPKE key configured")]
    NoHpkeKey,
}

/// What a profile is made of, and all `payseal-verifier profile` loads
/// ([`crate::config::load_profile`]): no store key, trust root or ledger.
#[derive(Debug)]
pub struct ProfileSettings {
    /// Public `https://` URL (the profile's `verifier_url`).
    pub public_url: String,
    /// TLS certificate chain and key (the served leaf's pin is the profile's first).
    pub tls: TlsFiles,
    /// Backup SPKI pins, `sha256/<base64>`.
    pub backup_pins: Vec<String>,
    /// HPKE key pairs; the first is the profile's.
    pub hpke_keys: Vec<ServerKeyPair>,
    /// Verdict signing keys; all are published in the profile.
    pub verdict_keys: Vec<VerdictSigningKey>,
}

/// The pins the profile carries: the served leaf certificate's SPKI pin, then the backup pins.
pub fn pins(settings: &Settings) -> Result<Vec<String>, TlsError> {
    pins_of(&settings.tls.cert_pem, &settings.backup_pins)
}

fn pins_of(cert_pem: &Path, backup_pins: &[String]) -> Result<Vec<String>, TlsError> {
    let mut pins = vec![crate::tls::leaf_pin(cert_pem)?];
    for p in backup_pins {
        if !pins.contains(p) {
            pins.push(p.clone());
        }
    }
    Ok(pins)
}

/// Build and validate the profile for `settings` (current HPKE key, all verdict keys).
pub fn build(settings: &Settings) -> Result<Profile, ProfileBuildError> {
    build_of(
        &settings.public_url,
        &settings.tls.cert_pem,
        &settings.backup_pins,
        &settings.hpke_keys,
        &settings.verdict_keys,
    )
}

/// Build and validate the profile from what [`crate::config::load_profile`] loaded.
pub fn build_from(settings: &ProfileSettings) -> Result<Profile, ProfileBuildError> {
    build_of(
        &settings.public_url,
        &settings.tls.cert_pem,
        &settings.backup_pins,
        &settings.hpke_keys,
        &settings.verdict_keys,
    )
}

fn build_of(
    public_url: &str,
    cert_pem: &Path,
    backup_pins: &[String],
    hpke_keys: &[ServerKeyPair],
    verdict_keys: &[VerdictSigningKey],
) -> Result<Profile, ProfileBuildError> {
    let hpke = hpke_keys
        .first()
        .ok_or(ProfileBuildError::NoHpkeKey)?
        .config();
    let verdict_keys: Vec<_> = verdict_keys.iter().map(|k| k.public_key()).collect();
    Ok(Profile::new(
        public_url.to_owned(),
        pins_of(cert_pem, backup_pins)?,
        &hpke,
        &verdict_keys,
    )?)
}
