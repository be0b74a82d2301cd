//! The SDK profile of this verifier: URL, TLS pins (served leaf + backups), HPKE key
//! configuration, verdict public keys.

use payseal_protocol::profile::{Profile, ProfileError};

use crate::settings::Settings;
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

/// The pins the profile carries: the served leaf certificate's SPKI pin, then the backup pins.
pub fn pins(settings: &Settings) -> Result<Vec<String>, TlsError> {
    let mut pins = vec![crate::tls::leaf_pin(&settings.tls.cert_pem)?];
    for p in &settings.backup_pins {
        if !pins.contains(p) {
            pins.push(p.clone());
        }
    }
    Ok(pins)
}

/// Build and validate the profile for `settings` (current HPKE key, all verdict keys).
pub fn build(settings: &Settings) -> Result<Profile, ProfileBuildError> {
    let hpke = settings
        .hpke_keys
        .first()
        .ok_or(ProfileBuildError::NoHpkeKey)?
        .config();
    let verdict_keys: Vec<_> = settings
        .verdict_keys
        .iter()
        .map(|k| k.public_key())
        .collect();
    Ok(Profile::new(
        settings.public_url.clone(),
        pins(settings)?,
        &hpke,
        &verdict_keys,
    )?)
}
