//! The plaintexts inside the envelope: what the SDK asks and what the verifier answers.

use serde::{Deserialize, Serialize};

use crate::receipt::Receipt;

/// Protocol version of [`VerifyRequest`] and [`VerifyResponse`].
pub const PROTOCOL_VERSION: u32 = 1;

/// Minimum nonce length in bytes (before base64url).
pub const MIN_NONCE_BYTES: usize = 16;

/// The SDK that sent a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SdkInfo {
    /// SDK name, e.g. `payseal-kotlin`.
    pub name: String,
    /// SDK version.
    pub version: String,
}

/// The sealed request's plaintext (JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    /// Protocol version, [`PROTOCOL_VERSION`].
    pub v: u32,
    /// Fresh random nonce, base64url without padding, at least [`MIN_NONCE_BYTES`] bytes.
    pub nonce: String,
    /// The app id as configured on the verifier.
    pub app_id: String,
    /// The app's account id (opaque to PaySeal).
    pub account_id: String,
    /// The store's payment response.
    pub receipt: Receipt,
    /// Who sent it.
    pub sdk: SdkInfo,
}

/// The sealed response's plaintext (JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyResponse {
    /// Protocol version, [`PROTOCOL_VERSION`].
    pub v: u32,
    /// The verdict token (compact JWS).
    pub verdict: String,
}
