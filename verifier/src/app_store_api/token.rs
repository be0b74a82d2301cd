//! The App Store Server API's bearer token: an ES256 JWT signed with the app's In-App Purchase
//! key (header `alg: ES256`, `kid`, `typ: JWT`; claims `iss` (issuer id), `iat`, `exp` (at most
//! [`TOKEN_LIFETIME_S`] later), `aud: appstoreconnect-v1`, `bid` (bundle id)). Signed by
//! `jsonwebtoken` (RustCrypto's P-256), never by hand.

use jsonwebtoken::{Algorithm, Header};
use serde::{Deserialize, Serialize};

use crate::settings::AppStoreApiSettings;

/// A token's lifetime: 5 minutes (Apple refuses more than 60; a fresh one per call).
pub const TOKEN_LIFETIME_S: i64 = 300;
/// The token's `aud`.
pub const AUDIENCE: &str = "appstoreconnect-v1";

/// The token's claims (public, so that a test's fake App Store checks exactly these).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiClaims {
    /// The issuer id.
    pub iss: String,
    /// Issued at, Unix seconds.
    pub iat: i64,
    /// Expires at, Unix seconds.
    pub exp: i64,
    /// `appstoreconnect-v1`.
    pub aud: String,
    /// The bundle id.
    pub bid: String,
}

/// A fresh token for `settings` at `now_s`.
pub fn token(
    settings: &AppStoreApiSettings,
    now_s: i64,
) -> Result<String, jsonwebtoken::errors::Error> {
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(settings.key.key_id.clone());
    header.typ = Some("JWT".into());
    jsonwebtoken::encode(
        &header,
        &ApiClaims {
            iss: settings.key.issuer_id.clone(),
            iat: now_s,
            exp: now_s + TOKEN_LIFETIME_S,
            aud: AUDIENCE.into(),
            bid: settings.bundle_id.clone(),
        },
        &settings.key.key,
    )
}
