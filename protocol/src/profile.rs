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
//! [`Profile::parse`] validates everything and refuses what it cannot fully understand:
//! an unknown `version`; unknown fields; a `verifier_url` that is not `https://host[:port][/]`;
//! fewer than two distinct pins or a pin that is not `sha256/` + standard base64 of 32 bytes;
//! an HPKE configuration that does not decode or whose key id differs from `hpke.key_id`;
//! no verdict key, an invalid JWK, or a repeated `kid`.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

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
        let profile: Profile =
            serde_json::from_value(value).map_err(|e| ProfileError::Json(e.to_string()))?;
        profile.validate()?;
        Ok(profile)
    }

    /// Build (and validate) the profile of a verifier, as `payseal-verifier profile` prints it.
    pub fn new<S: Into<String>>(
        verifier_url: impl Into<String>,
        pins: impl IntoIterator<Item = S>,
        key_config: &KeyConfig,
        verdict_keys: &[VerdictPublicKey],
    ) -> Result<Profile, ProfileError> {
        let profile = Profile {
            version: PROFILE_VERSION,
            verifier_url: verifier_url.into(),
            tls_pins: pins.into_iter().map(Into::into).collect(),
            hpke: ProfileHpke {
                key_id: key_config.key_id,
                config: URL_SAFE_NO_PAD.encode(key_config.encode()),
            },
            verdict_keys: verdict_keys.iter().map(VerdictPublicKey::to_jwk).collect(),
        };
        profile.validate()?;
        Ok(profile)
    }

    /// Check every field (the shape is already known to be right).
    fn validate(&self) -> Result<(), ProfileError> {
        if self.version != PROFILE_VERSION {
            return Err(ProfileError::Version(self.version));
        }
        validate_url(&self.verifier_url).map_err(|reason| field("verifier_url", reason))?;
        self.pin_digests()?;
        self.key_config()?;
        self.verdict_public_keys()?;
        Ok(())
    }

    /// Pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("profile serializes")
    }

    /// The decoded HPKE key configuration.
    pub fn key_config(&self) -> Result<KeyConfig, ProfileError> {
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

    /// The decoded verdict public keys.
    pub fn verdict_public_keys(&self) -> Result<Vec<VerdictPublicKey>, ProfileError> {
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

    /// The pins as raw 32-byte SPKI SHA-256 digests.
    pub fn pin_digests(&self) -> Result<Vec<[u8; 32]>, ProfileError> {
        if self.tls_pins.len() < MIN_PINS {
            return Err(field(
                "tls_pins",
                format!("at least {MIN_PINS} pins are required (current and backup)"),
            ));
        }
        let mut digests: Vec<[u8; 32]> = Vec::with_capacity(self.tls_pins.len());
        for pin in &self.tls_pins {
            let digest = parse_pin(pin).map_err(|reason| field("tls_pins", reason))?;
            if digests.contains(&digest) {
                return Err(field("tls_pins", format!("pin {pin:?} appears twice")));
            }
            digests.push(digest);
        }
        Ok(digests)
    }
}

/// Minimum number of distinct TLS pins (current and backup).
pub const MIN_PINS: usize = 2;

/// The prefix of an OkHttp-style SPKI pin.
pub const PIN_PREFIX: &str = "sha256/";

/// The OkHttp-style pin string `sha256/<base64>` for a DER SubjectPublicKeyInfo.
pub fn spki_pin(spki_der: &[u8]) -> String {
    format!("{PIN_PREFIX}{}", STANDARD.encode(Sha256::digest(spki_der)))
}

/// Parse one `sha256/<standard base64 of 32 bytes>` pin into its digest.
pub fn parse_pin(pin: &str) -> Result<[u8; 32], String> {
    let b64 = pin
        .strip_prefix(PIN_PREFIX)
        .ok_or_else(|| format!("pin {pin:?} does not start with {PIN_PREFIX:?}"))?;
    STANDARD
        .decode(b64.as_bytes())
        .ok()
        .and_then(|d| <[u8; 32]>::try_from(d).ok())
        .ok_or_else(|| format!("pin {pin:?} is not standard base64 of a 32-byte SHA-256 digest"))
}

fn field(field: &'static str, reason: impl Into<String>) -> ProfileError {
    ProfileError::Field {
        field,
        reason: reason.into(),
    }
}

/// Accepts `https://host[:port]` with an optional trailing `/`: no user info, path, query or
/// fragment. The host is a DNS name, an IPv4 address or a bracketed IPv6 address.
fn validate_url(url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("https://")
        .ok_or_else(|| "must start with https://".to_owned())?;
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    if authority.is_empty() {
        return Err("has no host".to_owned());
    }
    if let Some(c) = authority
        .chars()
        .find(|c| matches!(c, '/' | '?' | '#' | '@' | '\\') || c.is_whitespace() || c.is_control())
    {
        return Err(format!(
            "may only hold a scheme, host and port (found {c:?})"
        ));
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (addr, after) = v6
            .split_once(']')
            .ok_or_else(|| "has an unclosed IPv6 bracket".to_owned())?;
        addr.parse::<std::net::Ipv6Addr>()
            .map_err(|_| format!("{addr:?} is not an IPv6 address"))?;
        let port = match after {
            "" => None,
            p => Some(
                p.strip_prefix(':')
                    .ok_or_else(|| "has junk after the IPv6 address".to_owned())?,
            ),
        };
        (None, port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (Some(h), Some(p)),
            None => (Some(authority), None),
        }
    };
    if let Some(port) = port {
        let ok = !port.is_empty()
            && port.len() <= 5
            && port.bytes().all(|b| b.is_ascii_digit())
            && port.parse::<u16>().is_ok_and(|p| p != 0);
        if !ok {
            return Err(format!("port {port:?} is not in 1..=65535"));
        }
    }
    if let Some(host) = host {
        validate_host(host)?;
    }
    Ok(())
}

fn validate_host(host: &str) -> Result<(), String> {
    if host.is_empty() {
        return Err("has no host".to_owned());
    }
    if host.len() > 253 {
        return Err("host name is longer than 253 characters".to_owned());
    }
    let name = host.strip_suffix('.').unwrap_or(host);
    for label in name.split('.') {
        let ok = !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !ok {
            return Err(format!(
                "host {host:?} is not a valid DNS name or IPv4 address"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::ServerKeyPair;
    use crate::verdict::VerdictSigningKey;

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
        let mut value = serde_json::to_value(profile()).unwrap();
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
        assert_eq!(back.key_config().unwrap().key_id, 1);
        assert_eq!(
            back.key_config().unwrap(),
            ServerKeyPair::from_secret(1, [3; 32]).unwrap().config()
        );
        let kids: Vec<String> = back
            .verdict_public_keys()
            .unwrap()
            .into_iter()
            .map(|k| k.kid)
            .collect();
        assert_eq!(kids, ["v1", "v2"]);
        assert_eq!(
            back.pin_digests().unwrap()[0],
            <[u8; 32]>::from(Sha256::digest(b"current spki"))
        );
    }

    #[test]
    fn spki_pin_is_okhttp_style() {
        // SHA-256 of the empty string, in standard base64 with padding.
        assert_eq!(
            spki_pin(b""),
            "sha256/47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
        assert_eq!(
            parse_pin(&spki_pin(b"x")).unwrap(),
            <[u8; 32]>::from(Sha256::digest(b"x"))
        );
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
        let padded = format!("{}=", profile().hpke.config);
        let j = json_with(|v| v["hpke"]["config"] = padded.into());
        assert_eq!(field_of(Profile::parse(&j)), "hpke.config");
        let truncated = URL_SAFE_NO_PAD.encode(&profile().key_config().unwrap().encode()[..20]);
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
        assert_eq!(ok.version, PROFILE_VERSION);
        assert_eq!(ok.hpke.key_id, 1);
    }
}
