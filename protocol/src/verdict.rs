//! The verdict: a compact JWS (`alg: EdDSA`, `typ: payseal-verdict+jwt`) over [`VerdictClaims`].

use serde::{Deserialize, Serialize};

use crate::receipt::Store;

/// The JWS `typ` header every verdict carries.
pub const VERDICT_TYP: &str = "payseal-verdict+jwt";

/// Whether the purchase was paid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The store signed a completed purchase and this account owns it.
    Paid,
    /// Not paid; see the [`Reason`].
    NotPaid,
}

/// Why a purchase was not paid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The store signature does not verify with the app's store key.
    BadSignature,
    /// The App Store certificate chain does not lead to the configured root.
    UntrustedChain,
    /// The receipt is for another app (package name / bundle id).
    WrongApp,
    /// The app id is not configured on this verifier.
    UnknownApp,
    /// The purchase is pending, cancelled or otherwise not completed.
    NotPurchased,
    /// The store revoked or refunded the purchase.
    Revoked,
    /// Another account already redeemed this receipt.
    AlreadyRedeemed,
    /// The receipt's environment (sandbox/production) is not allowed for this app.
    UntrustedEnvironment,
    /// The receipt cannot be parsed.
    Malformed,
}

impl Reason {
    /// Every reason, for metrics and docs.
    pub const ALL: [Reason; 9] = [
        Reason::BadSignature,
        Reason::UntrustedChain,
        Reason::WrongApp,
        Reason::UnknownApp,
        Reason::NotPurchased,
        Reason::Revoked,
        Reason::AlreadyRedeemed,
        Reason::UntrustedEnvironment,
        Reason::Malformed,
    ];

    /// The stable snake_case name used in claims and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::BadSignature => "bad_signature",
            Reason::UntrustedChain => "untrusted_chain",
            Reason::WrongApp => "wrong_app",
            Reason::UnknownApp => "unknown_app",
            Reason::NotPurchased => "not_purchased",
            Reason::Revoked => "revoked",
            Reason::AlreadyRedeemed => "already_redeemed",
            Reason::UntrustedEnvironment => "untrusted_environment",
            Reason::Malformed => "malformed",
        }
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Store environment of a purchase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Environment {
    /// Real money.
    Production,
    /// Store test purchases (Play license testers, StoreKit sandbox, the PaySeal sandbox store).
    Sandbox,
}

impl Environment {
    /// The stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Environment::Production => "production",
            Environment::Sandbox => "sandbox",
        }
    }
}

/// Whether this account redeemed the receipt for the first time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Redemption {
    /// First redemption: deliver the item.
    First,
    /// The same account presented it again (restore / retry): already delivered once.
    Repeat,
}

/// The claims of a verdict token, exactly as DESIGN.md lists them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerdictClaims {
    /// Issuer: the verifier's URL.
    pub iss: String,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Expires at (Unix seconds).
    pub exp: i64,
    /// Unique verdict id.
    pub jti: String,
    /// The nonce the SDK sent (base64url), echoed.
    pub nonce: String,
    /// The app id.
    pub app: String,
    /// The app's account id (opaque).
    pub sub: String,
    /// The store of the receipt.
    pub store: Store,
    /// Store environment, when known.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub environment: Option<Environment>,
    /// Product id, when the receipt could be parsed.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub product_id: Option<String>,
    /// Store transaction id (Play orderId / purchaseToken, App Store transactionId, ...).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub transaction_id: Option<String>,
    /// The store's original transaction id, when it has one.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub original_transaction_id: Option<String>,
    /// Quantity purchased.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub quantity: Option<u32>,
    /// Purchase time (Unix milliseconds, as the stores give it).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub purchased_at: Option<i64>,
    /// Hex SHA-256 of the receipt's canonical bytes.
    pub receipt_sha256: String,
    /// Paid or not.
    pub outcome: Outcome,
    /// Why not paid (absent when paid).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reason: Option<Reason>,
    /// First or repeat redemption (present when paid).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub redemption: Option<Redemption>,
}

/// Why a verdict token could not be signed or was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VerdictError {
    /// Not a compact JWS, or the claims do not parse.
    #[error("malformed verdict token: {0}")]
    Malformed(String),
    /// `alg` is not `EdDSA`.
    #[error("verdict algorithm {0:?} is not accepted")]
    Algorithm(String),
    /// `typ` is not `payseal-verdict+jwt`.
    #[error("verdict type is not {VERDICT_TYP}")]
    Type,
    /// `kid` missing or not one of the trusted keys.
    #[error("unknown verdict key id {0:?}")]
    UnknownKey(Option<String>),
    /// The signature does not verify.
    #[error("verdict signature does not verify")]
    Signature,
    /// `exp` has passed (beyond the allowed skew).
    #[error("verdict expired")]
    Expired,
    /// `iat` lies in the future (beyond the allowed skew).
    #[error("verdict issued in the future")]
    NotYetValid,
    /// A key could not be loaded.
    #[error("invalid verdict key: {0}")]
    InvalidKey(String),
}

/// An Ed25519 verdict signing key with its key id. Never printed.
pub struct VerdictSigningKey {
    kid: String,
    key: ed25519_dalek::SigningKey,
}

impl std::fmt::Debug for VerdictSigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerdictSigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl VerdictSigningKey {
    /// A fresh random key.
    pub fn generate(kid: impl Into<String>) -> Self {
        let _ = kid.into();
        todo!()
    }
    /// From a 32-byte Ed25519 seed.
    pub fn from_seed(kid: impl Into<String>, seed: [u8; 32]) -> Self {
        Self {
            kid: kid.into(),
            key: ed25519_dalek::SigningKey::from_bytes(&seed),
        }
    }
    /// The 32-byte seed, for writing the key file.
    pub fn seed(&self) -> [u8; 32] {
        self.key.to_bytes()
    }
    /// The key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }
    /// The public half.
    pub fn public_key(&self) -> VerdictPublicKey {
        VerdictPublicKey {
            kid: self.kid.clone(),
            x: self.key.verifying_key().to_bytes(),
        }
    }
    /// Sign claims as a compact JWS (`alg: EdDSA`, `kid`, `typ: payseal-verdict+jwt`).
    pub fn sign(&self, claims: &VerdictClaims) -> Result<String, VerdictError> {
        let _ = claims;
        todo!()
    }
}

/// An Ed25519 verdict public key with its key id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerdictPublicKey {
    /// Key id (`kid`).
    pub kid: String,
    /// Raw Ed25519 public key.
    pub x: [u8; 32],
}

/// A JSON Web Key for an Ed25519 verdict key (RFC 8037: `kty: OKP`, `crv: Ed25519`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    /// Always `OKP`.
    pub kty: String,
    /// Always `Ed25519`.
    pub crv: String,
    /// Key id.
    pub kid: String,
    /// base64url public key.
    pub x: String,
    /// Always `EdDSA`.
    pub alg: String,
    /// Always `sig`.
    #[serde(rename = "use")]
    pub use_: String,
}

/// A JWK Set as `GET /v1/keys` publishes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwks {
    /// The keys.
    pub keys: Vec<Jwk>,
}

impl VerdictPublicKey {
    /// As a JWK.
    pub fn to_jwk(&self) -> Jwk {
        todo!()
    }
    /// From a JWK; refuses anything but OKP/Ed25519 with a 32-byte `x`.
    pub fn from_jwk(jwk: &Jwk) -> Result<Self, VerdictError> {
        let _ = jwk;
        todo!()
    }
}

/// Strict verdict checking: only `EdDSA`, only known `kid`s, `typ` checked, `exp`/`iat` with skew.
#[derive(Debug, Clone)]
pub struct VerdictVerifier {
    keys: Vec<VerdictPublicKey>,
    skew_secs: i64,
}

impl VerdictVerifier {
    /// Default allowed clock skew, in seconds.
    pub const DEFAULT_SKEW_SECS: i64 = 60;

    /// A verifier trusting `keys`, with the default skew.
    pub fn new(keys: Vec<VerdictPublicKey>) -> Self {
        Self {
            keys,
            skew_secs: Self::DEFAULT_SKEW_SECS,
        }
    }
    /// Change the allowed clock skew.
    pub fn with_skew(mut self, skew_secs: i64) -> Self {
        self.skew_secs = skew_secs;
        self
    }
    /// Verify a token at `now` (Unix seconds) and return its claims.
    pub fn verify(&self, token: &str, now: i64) -> Result<VerdictClaims, VerdictError> {
        let _ = (token, now, &self.keys, self.skew_secs);
        todo!()
    }
}
