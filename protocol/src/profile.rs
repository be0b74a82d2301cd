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
//! [`Profile::parse`] validates everything, returns it decoded ([`Profile`]: the URL's pieces,
//! the pins as digests, the HPKE key configuration, the verdict keys) and refuses what it
//! cannot fully understand:
//! an unknown `version`; unknown fields; a `verifier_url` that is not `https://host[:port][/]`;
//! fewer than two distinct pins or a pin that is not `sha256/` + standard base64 of 32 bytes;
//! an HPKE configuration that does not decode or whose key id differs from `hpke.key_id`;
//! no verdict key, an invalid JWK, or a repeated `kid`. [`ProfileDocument`] is the JSON shape
//! itself; [`Profile::to_json`] writes it.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::envelope::KeyConfig;
use crate::url::VerifierUrl;
use crate::verdict::{Jwk, VerdictPublicKey};

use crate::pin::{parse_pin, pin_string};

/// The only profile version this crate understands.
pub const PROFILE_VERSION: u32 = 1;

/// Minimum number of distinct TLS pins (current and backup).
pub const MIN_PINS: usize = 2;

/// Why a profile was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
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

/// The HPKE part of a profile document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileHpke {
    /// Key id, equal to the config's first byte.
    pub key_id: u8,
    /// base64url (no padding) of the RFC 9458 key configuration.
    pub config: String,
}

/// The profile document exactly as JSON carries it (not yet validated).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileDocument {
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

/// A validated profile, decoded: what an SDK or application server uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// The verifier's URL and its pieces.
    pub verifier_url: VerifierUrl,
    /// SPKI SHA-256 pins as digests: at least [`MIN_PINS`], all distinct, in document order.
    pub tls_pins: Vec<[u8; 32]>,
    /// The verifier's HPKE key configuration.
    pub key_config: KeyConfig,
    /// Verdict public keys: at least one, distinct `kid`s.
    pub verdict_keys: Vec<VerdictPublicKey>,
}

impl Profile {
    /// Parse and fully validate a profile (version, URL, pins, key config, keys).
    pub fn parse(json: &str) -> Result<Self, ProfileError> {
        // The version first, so that a newer document is reported as such and not as a
        // shape error caused by fields this version does not know.
        let value: serde_json::Value =
            serde_json::from_str(json).map_err(|e| ProfileError::Json(e.to_string()))?;
        if let Some(version) = value.get("version").and_then(serde_json::Value::as_u64) {
            if version != u64::from(PROFILE_VERSION) {
                return Err(ProfileError::Version(
                    u32::try_from(version).unwrap_or(u32::MAX),
                ));
            }
        }
        let document: ProfileDocument =
            serde_json::from_value(value).map_err(|e| ProfileError::Json(e.to_string()))?;
        document.decode()
    }

    /// Build (and validate) the profile of a verifier, as `payseal-verifier profile` prints it.
    pub fn new<S: Into<String>>(
        verifier_url: impl Into<String>,
        pins: impl IntoIterator<Item = S>,
        key_config: &KeyConfig,
        verdict_keys: &[VerdictPublicKey],
    ) -> Result<Profile, ProfileError> {
        ProfileDocument {
            version: PROFILE_VERSION,
            verifier_url: verifier_url.into(),
            tls_pins: pins.into_iter().map(Into::into).collect(),
            hpke: ProfileHpke {
                key_id: key_config.key_id,
                config: URL_SAFE_NO_PAD.encode(key_config.encode()),
            },
            verdict_keys: verdict_keys.iter().map(VerdictPublicKey::to_jwk).collect(),
        }
        .decode()
    }

    /// The same profile pointing at another verifier URL (same pins and keys).
    pub fn with_verifier_url(mut self, url: &str) -> Result<Profile, ProfileError> {
        self.verifier_url =
            VerifierUrl::parse(url).map_err(|e| field("verifier_url", e.to_string()))?;
        Ok(self)
    }

    /// The JSON document of this profile.
    pub fn document(&self) -> ProfileDocument {
        ProfileDocument {
            version: PROFILE_VERSION,
            verifier_url: self.verifier_url.as_str().to_owned(),
            tls_pins: self.tls_pins.iter().map(pin_string).collect(),
            hpke: ProfileHpke {
                key_id: self.key_config.key_id,
                config: URL_SAFE_NO_PAD.encode(self.key_config.encode()),
            },
            verdict_keys: self
                .verdict_keys
                .iter()
                .map(VerdictPublicKey::to_jwk)
                .collect(),
        }
    }

    /// Pretty JSON.
    pub fn to_json(&self) -> String {
        self.document().to_json()
    }
}

impl ProfileDocument {
    /// Pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("profile serializes")
    }

    /// Check every field (the shape is already known to be right) and decode it.
    pub fn decode(&self) -> Result<Profile, ProfileError> {
        if self.version != PROFILE_VERSION {
            return Err(ProfileError::Version(self.version));
        }
        let verifier_url = VerifierUrl::parse(&self.verifier_url)
            .map_err(|e| field("verifier_url", e.to_string()))?;
        Ok(Profile {
            verifier_url,
            tls_pins: self.pin_digests()?,
            key_config: self.key_config()?,
            verdict_keys: self.verdict_public_keys()?,
        })
    }

    fn key_config(&self) -> Result<KeyConfig, ProfileError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(self.hpke.config.as_bytes())
            .map_err(|_| field("hpke.config", "not base64url without padding"))?;
        let config = KeyConfig::decode(&bytes).map_err(|e| field("hpke.config", e.to_string()))?;
        if config.key_id != self.hpke.key_id {
            return Err(field(
                "hpke.key_id",
                format!(
                    "{} differs from the configuration's key id {}",
                    self.hpke.key_id, config.key_id
                ),
            ));
        }
        Ok(config)
    }

    fn verdict_public_keys(&self) -> Result<Vec<VerdictPublicKey>, ProfileError> {
        if self.verdict_keys.is_empty() {
            return Err(field("verdict_keys", "at least one key is required"));
        }
        let mut keys: Vec<VerdictPublicKey> = Vec::with_capacity(self.verdict_keys.len());
        for jwk in &self.verdict_keys {
            let key = VerdictPublicKey::from_jwk(jwk)
                .map_err(|e| field("verdict_keys", e.to_string()))?;
            if keys.iter().any(|k| k.kid == key.kid) {
                return Err(field(
                    "verdict_keys",
                    format!("kid {:?} appears twice", key.kid),
                ));
            }
            keys.push(key);
        }
        Ok(keys)
    }

    fn pin_digests(&self) -> Result<Vec<[u8; 32]>, ProfileError> {
        if self.tls_pins.len() < MIN_PINS {
            return Err(field(
                "tls_pins",
                format!("at least {MIN_PINS} pins are required (current and backup)"),
            ));
        }
        let mut digests: Vec<[u8; 32]> = Vec::with_capacity(self.tls_pins.len());
        for pin in &self.tls_pins {
            let digest = parse_pin(pin).map_err(|e| field("tls_pins", e.to_string()))?;
            if digests.contains(&digest) {
                return Err(field("tls_pins", format!("pin {pin:?} appears twice")));
            }
            digests.push(digest);
        }
        Ok(digests)
    }
}

fn field(field: &'static str, reason: impl Into<String>) -> ProfileError {
    ProfileError::Field {
        field,
        reason: reason.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::ServerKeyPair;
    use crate::pin::spki_pin;
    use crate::verdict::VerdictSigningKey;
    use base64::engine::general_purpose::STANDARD;
    use sha2::{Digest, Sha256};

    fn pins() -> Vec<String> {
        vec![spki_pin(b"current spki"), spki_pin(b"backup spki")]
    }

    fn profile() -> Profile {
        let hpke = ServerKeyPair::from_secret(1, [3; 32]).unwrap();
        let keys = [
            VerdictSigningKey::from_seed("v1", [4; 32]).public_key(),
            VerdictSigningKey::from_seed("v2", [5; 32]).public_key(),
        ];
        Profile::new(
            "https://verify.example.com:8443",
            pins(),
            &hpke.config(),
            &keys,
        )
        .unwrap()
    }

    fn json_with(edit: impl FnOnce(&mut serde_json::Value)) -> String {
        let mut value = serde_json::to_value(profile().document()).unwrap();
        edit(&mut value);
        value.to_string()
    }

    fn field_of(result: Result<Profile, ProfileError>) -> &'static str {
        match result {
            Err(ProfileError::Field { field, .. }) => field,
            other => panic!("expected a field error, got {other:?}"),
        }
    }

    #[test]
    fn round_trip_through_json() {
        let p = profile();
        let back = Profile::parse(&p.to_json()).unwrap();
        assert_eq!(back, p);
        assert_eq!(back.key_config.key_id, 1);
        assert_eq!(
            back.key_config,
            ServerKeyPair::from_secret(1, [3; 32]).unwrap().config()
        );
        let kids: Vec<&str> = back.verdict_keys.iter().map(|k| k.kid.as_str()).collect();
        assert_eq!(kids, ["v1", "v2"]);
        assert_eq!(
            back.tls_pins[0],
            <[u8; 32]>::from(Sha256::digest(b"current spki"))
        );
        assert_eq!(
            back.verifier_url.as_str(),
            "https://verify.example.com:8443"
        );
        assert_eq!(back.verifier_url.port(), 8443);
        let moved = back.with_verifier_url("https://127.0.0.1:9/").unwrap();
        assert_eq!(moved.verifier_url.as_str(), "https://127.0.0.1:9");
        assert_eq!(moved.tls_pins, p.tls_pins);
        assert!(p.clone().with_verifier_url("http://x").is_err());
    }

    #[test]
    fn unknown_version_is_refused_even_with_new_fields() {
        let j = json_with(|v| v["version"] = 2.into());
        assert_eq!(Profile::parse(&j), Err(ProfileError::Version(2)));
        let j = json_with(|v| {
            v["version"] = 3.into();
            v["future_field"] = true.into();
        });
        assert_eq!(Profile::parse(&j), Err(ProfileError::Version(3)));
        let j = json_with(|v| v["version"] = 0.into());
        assert_eq!(Profile::parse(&j), Err(ProfileError::Version(0)));
    }

    #[test]
    fn shape_errors_are_json_errors() {
        for j in [
            "".to_owned(),
            "[]".to_owned(),
            "{}".to_owned(),
            json_with(|v| v["extra"] = 1.into()),
            json_with(|v| v["hpke"]["extra"] = 1.into()),
            json_with(|v| v["verdict_keys"][0]["d"] = "secret".into()),
            json_with(|v| v["version"] = "1".into()),
            json_with(|v| {
                v.as_object_mut().unwrap().remove("tls_pins");
            }),
        ] {
            assert!(
                matches!(Profile::parse(&j), Err(ProfileError::Json(_))),
                "{j}"
            );
        }
    }

    #[test]
    fn url_refusals() {
        for url in [
            "http://verify.example.com",
            "https://",
            "https:///",
            "verify.example.com",
            "https://user@verify.example.com",
            "https://verify.example.com/v1",
            "https://verify.example.com?x=1",
            "https://verify.example.com#f",
            "https://verify.example.com:0",
            "https://verify.example.com:65536",
            "https://verify.example.com:",
            "https://verify.example.com:+443",
            "https://verify..example.com",
            "https://-bad.example.com",
            "https://exa mple.com",
            "https://[::1",
            "https://[nope]",
            "https://[::1]x",
            "HTTPS://verify.example.com",
        ] {
            let j = json_with(|v| v["verifier_url"] = url.into());
            assert_eq!(field_of(Profile::parse(&j)), "verifier_url", "{url}");
        }
        for url in [
            "https://verify.example.com",
            "https://verify.example.com/",
            "https://127.0.0.1:8443",
            "https://[::1]:8443/",
            "https://localhost",
        ] {
            let j = json_with(|v| v["verifier_url"] = url.into());
            assert!(Profile::parse(&j).is_ok(), "{url}");
        }
    }

    #[test]
    fn pin_refusals() {
        let one = spki_pin(b"one");
        let cases: Vec<Vec<String>> = vec![
            vec![],
            vec![one.clone()],
            vec![one.clone(), one.clone()],
            vec![one.clone(), "sha1/AAAAAAAAAAAAAAAAAAAAAAAAAAA=".into()],
            vec![one.clone(), "sha256/not base64".into()],
            vec![
                one.clone(),
                format!("sha256/{}", STANDARD.encode([1u8; 31])),
            ],
            vec![
                one.clone(),
                format!("sha256/{}", URL_SAFE_NO_PAD.encode([0xfb; 32])),
            ],
            vec![one.clone(), one.replace("sha256/", "SHA256/")],
        ];
        for pins in cases {
            let j = json_with(|v| v["tls_pins"] = serde_json::json!(pins));
            assert_eq!(field_of(Profile::parse(&j)), "tls_pins", "{pins:?}");
        }
    }

    #[test]
    fn hpke_refusals() {
        let j = json_with(|v| v["hpke"]["key_id"] = 2.into());
        assert_eq!(field_of(Profile::parse(&j)), "hpke.key_id");
        let j = json_with(|v| v["hpke"]["config"] = "!!!".into());
        assert_eq!(field_of(Profile::parse(&j)), "hpke.config");
        let padded = format!("{}=", profile().document().hpke.config);
        let j = json_with(|v| v["hpke"]["config"] = padded.into());
        assert_eq!(field_of(Profile::parse(&j)), "hpke.config");
        let truncated = URL_SAFE_NO_PAD.encode(&profile().key_config.encode()[..20]);
        let j = json_with(|v| v["hpke"]["config"] = truncated.into());
        assert_eq!(field_of(Profile::parse(&j)), "hpke.config");
        let j = json_with(|v| v["hpke"]["key_id"] = 300.into());
        assert!(matches!(Profile::parse(&j), Err(ProfileError::Json(_))));
    }

    #[test]
    fn verdict_key_refusals() {
        let j = json_with(|v| v["verdict_keys"] = serde_json::json!([]));
        assert_eq!(field_of(Profile::parse(&j)), "verdict_keys");
        let j = json_with(|v| v["verdict_keys"][1]["kid"] = "v1".into());
        assert_eq!(field_of(Profile::parse(&j)), "verdict_keys");
        let j = json_with(|v| v["verdict_keys"][0]["crv"] = "X25519".into());
        assert_eq!(field_of(Profile::parse(&j)), "verdict_keys");
        let j = json_with(|v| v["verdict_keys"][0]["x"] = "AAAA".into());
        assert_eq!(field_of(Profile::parse(&j)), "verdict_keys");
    }

    #[test]
    fn new_validates_its_inputs() {
        let hpke = ServerKeyPair::from_secret(1, [3; 32]).unwrap().config();
        let key = VerdictSigningKey::from_seed("v1", [4; 32]).public_key();
        let keys = std::slice::from_ref(&key);
        assert_eq!(
            field_of(Profile::new("http://x", pins(), &hpke, keys)),
            "verifier_url"
        );
        assert_eq!(
            field_of(Profile::new("https://x", &pins()[..1], &hpke, keys)),
            "tls_pins"
        );
        assert_eq!(
            field_of(Profile::new("https://x", pins(), &hpke, &[])),
            "verdict_keys"
        );
        let ok = Profile::new(
            "https://x",
            [
                "sha256/".to_owned() + &STANDARD.encode([1; 32]),
                spki_pin(b"b"),
            ],
            &hpke,
            keys,
        )
        .unwrap();
        assert_eq!(ok.document().version, PROFILE_VERSION);
        assert_eq!(ok.document().hpke.key_id, 1);
    }
}
