//! The profile: the small versioned JSON document an app embeds to trust one verifier.
//!
//! ```json
//! {
//!   "version": 1,
//!   "verifier_url": "https://verify.example.com:8443",
//!   "tls_pins": ["sha256/BASE64...", "sha256/BASE64..."],
//!   "hpke": { "key_id": 1, "config": "BASE64URL of the RFC 9458 key configuration" },
//!   "verdict_keys": [ { "kty": "OKP", "crv": "Ed25519", "kid": "v1", "x": "...", "alg": "EdDSA", "use": "sig" } ]
//! }
//! ```
//!
//! STUB: signatures fixed by the lead; bodies to be implemented.

use serde::{Deserialize, Serialize};

use crate::envelope::KeyConfig;
use crate::verdict::{Jwk, VerdictPublicKey};

/// The only profile version this crate understands.
pub const PROFILE_VERSION: u32 = 1;

/// Why a profile was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProfileError {
    /// Not JSON of the expected shape (unknown fields are refused too).
    #[error("profile is not valid JSON of the expected shape: {0}")]
    Json(String),
    /// A version this SDK does not know.
    #[error("profile version {0} is not supported (expected {PROFILE_VERSION})")]
    Version(u32),
    /// A field has a bad value.
    #[error("profile field `{field}` is invalid: {reason}")]
    Field {
        /// The field.
        field: &'static str,
        /// Why.
        reason: String,
    },
}

/// The HPKE part of a profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileHpke {
    /// Key id, equal to the config's first byte.
    pub key_id: u8,
    /// base64url (no padding) of the RFC 9458 key configuration.
    pub config: String,
}

/// The profile document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Document version, [`PROFILE_VERSION`].
    pub version: u32,
    /// `https://` URL of the verifier (no path beyond `/`).
    pub verifier_url: String,
    /// SPKI SHA-256 pins, `sha256/<base64>` (OkHttp style); at least two (current and backup).
    pub tls_pins: Vec<String>,
    /// The verifier's HPKE key configuration.
    pub hpke: ProfileHpke,
    /// Verdict public keys (at least one).
    pub verdict_keys: Vec<Jwk>,
}

impl Profile {
    /// Parse and fully validate a profile (version, URL, pins, key config, keys).
    pub fn parse(json: &str) -> Result<Self, ProfileError> {
        let _ = json;
        todo!()
    }
    /// Pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("profile serializes")
    }
    /// The decoded HPKE key configuration.
    pub fn key_config(&self) -> Result<KeyConfig, ProfileError> {
        todo!()
    }
    /// The decoded verdict public keys.
    pub fn verdict_public_keys(&self) -> Result<Vec<VerdictPublicKey>, ProfileError> {
        todo!()
    }
    /// The pins as raw 32-byte SPKI SHA-256 digests.
    pub fn pin_digests(&self) -> Result<Vec<[u8; 32]>, ProfileError> {
        todo!()
    }
}

/// The OkHttp-style pin string `sha256/<base64>` for a DER SubjectPublicKeyInfo.
pub fn spki_pin(spki_der: &[u8]) -> String {
    let _ = spki_der;
    todo!()
}
