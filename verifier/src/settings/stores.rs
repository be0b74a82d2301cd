//! The stores' notification settings, resolved: `[google_play.rtdn]` (who may push Play's
//! real-time developer notifications), `[apps."ID".google_play.voided_purchases]` (the Voided
//! Purchases poller, with the service account it signs in with) and
//! `[apps."ID".huawei.notifications]` (the Huawei app credentials the Order service is asked
//! with). Defined here, in the settings, so that the settings import nothing of the code that
//! uses them (`crate::notifications` re-exports them under their old paths).

use std::time::Duration;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};

/// `[google_play.rtdn]`: who may push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtdnSettings {
    /// The `aud` the push subscription puts in its tokens.
    pub audience: String,
    /// The push subscription's service account (`email` claim).
    pub service_account: String,
    /// Where Google's signing keys are published.
    pub jwks_url: String,
    /// How long fetched keys are used before fetching again.
    pub jwks_ttl: Duration,
    /// Timeout of one JWKS fetch.
    pub fetch_timeout: Duration,
}

/// `[apps."ID".huawei.notifications]`, resolved.
#[derive(Clone)]
pub struct HuaweiNotifySettings {
    /// The PaySeal app id.
    pub app_id: String,
    /// The AppGallery app id (the notification's `applicationId`, the OAuth `client_id`).
    pub client_id: String,
    /// The app secret (OAuth `client_secret`), never printed.
    pub client_secret: zeroize::Zeroizing<String>,
    /// Huawei's token endpoint.
    pub token_uri: String,
    /// The Order service root of the app's site (e.g. `https://orders-dre.iap.cloud.huawei.eu`).
    pub order_service_url: String,
    /// Timeout of one request to Huawei.
    pub request_timeout: Duration,
    /// Bounds of the Order-service calls unsigned notifications cause (per minute, at once,
    /// the dedupe window by purchase token).
    pub limits: CallLimits,
}

impl std::fmt::Debug for HuaweiNotifySettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HuaweiNotifySettings")
            .field("app_id", &self.app_id)
            .field("client_id", &self.client_id)
            .field("client_secret", &"***")
            .field("token_uri", &self.token_uri)
            .field("order_service_url", &self.order_service_url)
            .field("limits", &self.limits)
            .finish()
    }
}

/// The OAuth2 scope of the Play Developer API.
pub const ANDROIDPUBLISHER_SCOPE: &str = "https://www.googleapis.com/auth/androidpublisher";

/// Why a service-account key file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// Not the JSON of a service-account key.
    #[error("not a Google service-account key file: {0}")]
    Shape(String),
    /// `type` is not `service_account`.
    #[error("type is {0:?}, expected \"service_account\"")]
    Type(String),
    /// `private_key` is not an RSA private key in PEM.
    #[error("private_key is not an RSA private key (PKCS#8 PEM)")]
    PrivateKey,
}

/// A Google service account's key (from its JSON key file). `Debug` never shows the key.
#[derive(Clone)]
pub struct ServiceAccountKey {
    /// `client_email`: the assertion's `iss`.
    pub client_email: String,
    /// `private_key_id`: the assertion header's `kid`.
    pub private_key_id: String,
    /// `token_uri`: where assertions are exchanged.
    pub token_uri: String,
    key: EncodingKey,
}

impl std::fmt::Debug for ServiceAccountKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAccountKey")
            .field("client_email", &self.client_email)
            .field("private_key_id", &self.private_key_id)
            .field("token_uri", &self.token_uri)
            .field("private_key", &"***")
            .finish()
    }
}

impl ServiceAccountKey {
    /// Parse a service-account JSON key file.
    pub fn from_json(bytes: &[u8]) -> Result<Self, KeyFileError> {
        #[derive(Deserialize)]
        struct File {
            #[serde(rename = "type")]
            kind: String,
            client_email: String,
            private_key: String,
            #[serde(default)]
            private_key_id: String,
            token_uri: String,
        }
        let file: File =
            serde_json::from_slice(bytes).map_err(|e| KeyFileError::Shape(e.to_string()))?;
        if file.kind != "service_account" {
            return Err(KeyFileError::Type(file.kind));
        }
        if file.client_email.is_empty() || file.token_uri.is_empty() {
            return Err(KeyFileError::Shape(
                "client_email and token_uri must not be empty".into(),
            ));
        }
        let pem = zeroize::Zeroizing::new(file.private_key);
        let key =
            EncodingKey::from_rsa_pem(pem.as_bytes()).map_err(|_| KeyFileError::PrivateKey)?;
        let key = Self {
            client_email: file.client_email,
            private_key_id: file.private_key_id,
            token_uri: file.token_uri,
            key,
        };
        // Sign once now, so a key the RSA signer cannot use stops the start, not the first poll.
        assertion(&key, &key.token_uri, 0).map_err(|_| KeyFileError::PrivateKey)?;
        Ok(key)
    }
}

/// `[apps."ID".google_play.voided_purchases]`, resolved.
#[derive(Debug, Clone)]
pub struct VoidedSettings {
    /// The app id (whose `google_play.package_name` is polled).
    pub app_id: String,
    /// The Play package name.
    pub package_name: String,
    /// The service account.
    pub key: ServiceAccountKey,
    /// Where assertions are exchanged (the key file's `token_uri` unless configured).
    pub token_uri: String,
    /// `https://androidpublisher.googleapis.com` unless configured.
    pub api_base: String,
    /// Time between the end of one poll and the start of the next.
    pub poll_interval: Duration,
    /// `maxResults` per page.
    pub max_results: u32,
    /// How far back the first poll of a package looks.
    pub initial_lookback: Duration,
    /// First retry delay after a `429`/`5xx`.
    pub retry_base: Duration,
    /// Longest retry delay.
    pub retry_max: Duration,
    /// Attempts per request before the poll fails.
    pub max_attempts: u32,
    /// Timeout of one HTTP request.
    pub request_timeout: Duration,
}

#[derive(Serialize)]
struct AssertionClaims<'a> {
    iss: &'a str,
    scope: &'a str,
    aud: &'a str,
    iat: i64,
    exp: i64,
}

/// The RS256 JWT-bearer assertion for `token_uri` at `now_s` (valid one hour).
pub fn assertion(
    key: &ServiceAccountKey,
    token_uri: &str,
    now_s: i64,
) -> Result<String, jsonwebtoken::errors::Error> {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(key.private_key_id.clone()).filter(|k| !k.is_empty());
    jsonwebtoken::encode(
        &header,
        &AssertionClaims {
            iss: &key.client_email,
            scope: ANDROIDPUBLISHER_SCOPE,
            aud: token_uri,
            iat: now_s,
            exp: now_s + 3600,
        },
        &key.key,
    )
}

/// The bounds of the outbound calls one endpoint may make on behalf of unsigned input
/// (`crate::notifications::outbound::CallGuard` enforces them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallLimits {
    /// Most calls started in any 60 s.
    pub per_minute: u32,
    /// Most calls in flight at once.
    pub concurrent: usize,
    /// How long a call's answer is reused for the same key.
    pub dedupe_window: Duration,
}

/// Default [`CallLimits::per_minute`].
pub const DEFAULT_PER_MINUTE: u32 = 20;
/// Default [`CallLimits::concurrent`].
pub const DEFAULT_CONCURRENT: usize = 4;
/// Default [`CallLimits::dedupe_window`].
pub const DEFAULT_DEDUPE_WINDOW: Duration = Duration::from_secs(600);

impl Default for CallLimits {
    fn default() -> Self {
        Self {
            per_minute: DEFAULT_PER_MINUTE,
            concurrent: DEFAULT_CONCURRENT,
            dedupe_window: DEFAULT_DEDUPE_WINDOW,
        }
    }
}
