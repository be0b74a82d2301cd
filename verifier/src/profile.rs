//! The SDK profile of this verifier: URL, TLS pins (served leaf + backups), HPKE key
//! configuration, verdict public keys.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use payseal_protocol::profile::{Profile, ProfileError, ProfileHpke, PROFILE_VERSION};

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

/// Build and strictly re-parse the profile for `settings` (current HPKE key, all verdict keys).
pub fn build(settings: &Settings) -> Result<Profile, ProfileBuildError> {
    let hpke = settings
        .hpke_keys
        .first()
        .ok_or(ProfileBuildError::NoHpkeKey)?
        .config();
    let profile = Profile {
        version: PROFILE_VERSION,
        verifier_url: settings.public_url.clone(),
        tls_pins: pins(settings)?,
        hpke: ProfileHpke {
            key_id: hpke.key_id,
            config: URL_SAFE_NO_PAD.encode(hpke.encode()),
        },
        verdict_keys: settings
            .verdict_keys
            .iter()
            .map(|k| k.public_key().to_jwk())
            .collect(),
    };
    // What the SDK will do with it: refuse anything it cannot fully parse.
    Ok(Profile::parse(&profile.to_json())?)
}
