//! Protocol v1's verdict parsing, frozen as `payseal-protocol` shipped it (PROTOCOL_VERSION 1,
//! commit c2cdf59): the claims with `deny_unknown_fields`, its twelve reasons, and the v1 SDK's
//! response check (`v` must be 1). An SDK or application server already shipped parses
//! exactly like this, so whatever a verifier sends a v1 client must pass here. Never edit it
//! to follow the current protocol: it is the old one on purpose. Shared by the protocol's and
//! the verifier's compatibility tests (`#[path]`).
#![allow(dead_code, clippy::enum_variant_names)]

use serde::Deserialize;

/// The v1 `VerifyResponse`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Response {
    pub v: u32,
    pub verdict: String,
}

/// The v1 SDK's check of the response plaintext: parse, then `v == 1`.
pub fn parse_response(plain: &[u8]) -> Result<Response, String> {
    let r: Response = serde_json::from_slice(plain).map_err(|e| e.to_string())?;
    if r.v != 1 {
        return Err(format!("protocol version {} (expected 1)", r.v));
    }
    Ok(r)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Store {
    GooglePlay,
    AppStore,
    Huawei,
    Sandbox,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Paid,
    NotPaid,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    BadSignature,
    UntrustedChain,
    WrongApp,
    UnknownApp,
    NotPurchased,
    Revoked,
    AlreadyRedeemed,
    UntrustedEnvironment,
    Malformed,
    WrongProduct,
    WrongAccount,
    Expired,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Environment {
    Production,
    Sandbox,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PurchaseKind {
    Consumable,
    NonConsumable,
    Subscription,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Redemption {
    First,
    Repeat,
}

/// The v1 `VerdictClaims`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerdictClaims {
    pub iss: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
    pub nonce: String,
    pub app: String,
    pub sub: String,
    pub store: Store,
    #[serde(default)]
    pub environment: Option<Environment>,
    #[serde(default)]
    pub product_id: Option<String>,
    #[serde(default)]
    pub transaction_id: Option<String>,
    #[serde(default)]
    pub original_transaction_id: Option<String>,
    #[serde(default)]
    pub quantity: Option<u32>,
    #[serde(default)]
    pub purchased_at: Option<i64>,
    #[serde(default)]
    pub kind: Option<PurchaseKind>,
    #[serde(default)]
    pub expires_at: Option<i64>,
    pub receipt_sha256: String,
    pub outcome: Outcome,
    #[serde(default)]
    pub reason: Option<Reason>,
    #[serde(default)]
    pub redemption: Option<Redemption>,
}

/// The claims of a compact JWS, parsed as v1 parses them (the signature is the caller's to
/// check with the current `VerdictVerifier`: v1 and v2 sign alike).
pub fn parse_token_claims(token: &str) -> Result<VerdictClaims, String> {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).ok_or("not a compact JWS")?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|e| e.to_string())?;
    serde_json::from_slice(&bytes).map_err(|e| e.to_string())
}
