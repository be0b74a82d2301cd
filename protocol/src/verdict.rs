//! The verdict: a compact JWS (`alg: EdDSA`, `typ: payseal-verdict+jwt`) over [`VerdictClaims`].

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::receipt::Store;

/// The JWS `typ` header every verdict carries.
pub const VERDICT_TYP: &str = "payseal-verdict+jwt";

/// The only JWS `alg` a verdict is signed with and accepted under (Ed25519, RFC 8037).
pub const VERDICT_ALG: &str = "EdDSA";

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
// Deliberately exhaustive: the SDK passes it across the FFI as it is (`#[uniffi::remote]`),
// which needs every variant; a new value is a new protocol and SDK release anyway.
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
    /// The receipt is genuine but for another product than the one the app sold.
    WrongProduct,
    /// The store's account binding (`appAccountToken`, `obfuscatedAccountId`) is not this account's.
    WrongAccount,
    /// The subscription's `expires_at` has passed at the verifier's clock, or the store's
    /// server says it expired (Play `SUBSCRIPTION_STATE_EXPIRED`, App Store status 2).
    Expired,
    /// Protocol v2. The subscription's payment failed and the store holds it without access:
    /// Play `SUBSCRIPTION_STATE_ON_HOLD`, App Store billing retry without grace (status 3).
    /// A v1 client sees `not_purchased` ([`Reason::for_protocol`]).
    OnHold,
    /// Protocol v2. The user paused the subscription (Play `SUBSCRIPTION_STATE_PAUSED`).
    /// A v1 client sees `not_purchased`.
    Paused,
    /// Protocol v2. The account refunded more purchases than the app's configured threshold
    /// allows in its window, so a new first redemption is refused (issue 24; never by default).
    /// A v1 client sees `revoked`.
    RefundLimit,
}

impl Reason {
    /// Every reason, for metrics and docs.
    pub const ALL: [Reason; 15] = [
        Reason::BadSignature,
        Reason::UntrustedChain,
        Reason::WrongApp,
        Reason::UnknownApp,
        Reason::NotPurchased,
        Reason::Revoked,
        Reason::AlreadyRedeemed,
        Reason::UntrustedEnvironment,
        Reason::Malformed,
        Reason::WrongProduct,
        Reason::WrongAccount,
        Reason::Expired,
        Reason::OnHold,
        Reason::Paused,
        Reason::RefundLimit,
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
            Reason::WrongProduct => "wrong_product",
            Reason::WrongAccount => "wrong_account",
            Reason::Expired => "expired",
            Reason::OnHold => "on_hold",
            Reason::Paused => "paused",
            Reason::RefundLimit => "refund_limit",
        }
    }

    /// The first protocol version ([`crate::PROTOCOL_VERSION`]) whose clients know this reason.
    pub fn since_protocol(self) -> u32 {
        match self {
            Reason::OnHold | Reason::Paused | Reason::RefundLimit => 2,
            _ => 1,
        }
    }

    /// The reason a client of protocol version `v` is shown: this one when it knows it,
    /// otherwise the nearest reason of its version. For v1: `on_hold` and `paused` become
    /// `not_purchased` (a subscription not currently paid for, which v1 documents as "pending,
    /// cancelled or otherwise not completed"); `refund_limit` becomes `revoked` (a final
    /// refusal because of refunds: a v1 app handles it as a refunded purchase, never retrying
    /// it as it might a `not_purchased`). Every result is still `not_paid`.
    pub fn for_protocol(self, v: u32) -> Reason {
        if self.since_protocol() <= v {
            return self;
        }
        match self {
            Reason::OnHold | Reason::Paused => Reason::NotPurchased,
            Reason::RefundLimit => Reason::Revoked,
            other => other,
        }
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A subscription's state as the store's server last said it: one vocabulary for every store
/// (protocol v2, the `subscription_state` claim). `rules::subscription_state` maps each store's
/// own values to it; whether a state pays is decided there too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionState {
    /// Paid and renewing. Play `SUBSCRIPTION_STATE_ACTIVE`; App Store status 1.
    Active,
    /// A renewal payment failed and the store keeps access during its grace period (pays until
    /// the grace period's end, the verdict's `expires_at`). Play
    /// `SUBSCRIPTION_STATE_IN_GRACE_PERIOD`; App Store status 4 (billing grace period).
    InGracePeriod,
    /// A renewal payment failed and access is suspended while the store retries. Play
    /// `SUBSCRIPTION_STATE_ON_HOLD`; App Store status 3 (billing retry).
    OnHold,
    /// The user paused it; no access until it resumes. Play `SUBSCRIPTION_STATE_PAUSED` (the App
    /// Store has no pause).
    Paused,
    /// Will not renew, but paid until `expires_at`. Play `SUBSCRIPTION_STATE_CANCELED` (App
    /// Store: status 1 with auto-renew off, told by the renewal info, not the status).
    Canceled,
    /// Ended. Play `SUBSCRIPTION_STATE_EXPIRED`; App Store status 2 (expired) and 5 (revoked:
    /// refunded or removed from Family Sharing, whose verdict's reason is `revoked`).
    Expired,
    /// The first payment has not completed. Play `SUBSCRIPTION_STATE_PENDING`.
    Pending,
}

impl SubscriptionState {
    /// Every state, for metrics and docs.
    pub const ALL: [SubscriptionState; 7] = [
        SubscriptionState::Active,
        SubscriptionState::InGracePeriod,
        SubscriptionState::OnHold,
        SubscriptionState::Paused,
        SubscriptionState::Canceled,
        SubscriptionState::Expired,
        SubscriptionState::Pending,
    ];

    /// The stable snake_case name used in claims, webhooks and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            SubscriptionState::Active => "active",
            SubscriptionState::InGracePeriod => "in_grace_period",
            SubscriptionState::OnHold => "on_hold",
            SubscriptionState::Paused => "paused",
            SubscriptionState::Canceled => "canceled",
            SubscriptionState::Expired => "expired",
            SubscriptionState::Pending => "pending",
        }
    }
}

impl std::fmt::Display for SubscriptionState {
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

/// What kind of purchase a receipt is, as the store says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PurchaseKind {
    /// Used up once delivered (coins, gems).
    Consumable,
    /// Bought once, kept forever (a level pack, "remove ads").
    NonConsumable,
    /// Access for a period, until `expires_at` (auto-renewable or not).
    Subscription,
}

impl PurchaseKind {
    /// The stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            PurchaseKind::Consumable => "consumable",
            PurchaseKind::NonConsumable => "non_consumable",
            PurchaseKind::Subscription => "subscription",
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
    /// Purchase kind, when the store says it.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub kind: Option<PurchaseKind>,
    /// Subscriptions: end of the paid period (Unix milliseconds, as the stores give it).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub expires_at: Option<i64>,
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
    /// Protocol v2. Subscriptions: the state the store's server last gave (a live check at
    /// verification, or a store event); absent when the store was not asked.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub subscription_state: Option<SubscriptionState>,
    /// Protocol v2. `true`: the store's server API confirmed the purchase live; `false`: paid
    /// on the store's signature alone because the store's API could not be reached; absent: no
    /// live check is configured for the app.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub store_checked: Option<bool>,
    /// Protocol v2, on request (`[apps."ID".refund_history] in_verdict = true`): the account's
    /// refunds in this app, by store and period; absent when the app did not ask (a parser
    /// refusing unknown claims, e.g. an SDK older than the claim, never sees it unasked).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub refund_history: Option<RefundHistoryClaim>,
}

/// Refunds counted over the periods PaySeal reports: the last 30 days, the last 365 days, and
/// all time (each period includes the shorter ones).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefundCounts {
    /// Refunds (revocations) in the 30 days before the verdict.
    pub last_30_days: u64,
    /// In the 365 days before it.
    pub last_365_days: u64,
    /// Ever.
    pub all_time: u64,
}

impl RefundCounts {
    /// The periods' lengths, days (the all-time period has none).
    pub const PERIOD_DAYS: [u32; 2] = [30, 365];

    /// The sum of two counts.
    pub fn plus(self, other: RefundCounts) -> RefundCounts {
        RefundCounts {
            last_30_days: self.last_30_days + other.last_30_days,
            last_365_days: self.last_365_days + other.last_365_days,
            all_time: self.all_time + other.all_time,
        }
    }
}

/// An account's refund history in one app (the `refund_history` claim, also in the
/// `purchase.paid` webhook): revoked redemptions of its purchases, all stores together and by
/// store (the store's name, e.g. `google_play`; stores without refunds are left out).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefundHistoryClaim {
    /// All stores together.
    pub total: RefundCounts,
    /// By store.
    pub by_store: std::collections::BTreeMap<String, RefundCounts>,
}

impl VerdictClaims {
    /// The claims as a client of protocol version `v` may receive them (pure). v2 and later:
    /// unchanged. v1 (whose parsers refuse unknown claims and reasons): without
    /// `subscription_state`, `store_checked` and `refund_history`, and with a v2 reason replaced by its nearest
    /// v1 reason ([`Reason::for_protocol`]); the outcome never changes. The verifier applies
    /// it to every verdict it signs, with the request's version.
    pub fn for_protocol(mut self, v: u32) -> Self {
        if v < 2 {
            self.subscription_state = None;
            self.store_checked = None;
            self.refund_history = None;
        }
        self.reason = self.reason.map(|r| r.for_protocol(v));
        self
    }
}

/// Why a verdict token could not be signed or was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
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
    /// A fresh random key (panics only if the operating system's RNG fails).
    pub fn generate(kid: impl Into<String>) -> Self {
        Self {
            kid: kid.into(),
            key: ed25519_dalek::SigningKey::generate(&mut rand_core::OsRng),
        }
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
    ///
    /// The header is `{"typ":"payseal-verdict+jwt","alg":"EdDSA","kid":"<kid>"}` and the
    /// payload the claims' compact JSON; Ed25519 is deterministic, so the token is a pure
    /// function of the key, the kid and the claims.
    pub fn sign(&self, claims: &VerdictClaims) -> Result<String, VerdictError> {
        self.sign_typed(VERDICT_TYP, claims)
    }

    /// Sign any claims as a compact JWS of type `typ` (the verdict's and the other signed
    /// documents' one signing path, e.g. [`crate::entitlements`]).
    pub(crate) fn sign_typed<C: Serialize>(
        &self,
        typ: &'static str,
        claims: &C,
    ) -> Result<String, VerdictError> {
        use ed25519_dalek::Signer as _;
        let header = serde_json::to_vec(&SignedHeader {
            typ,
            alg: VERDICT_ALG,
            kid: &self.kid,
        })
        .map_err(|e| VerdictError::Malformed(e.to_string()))?;
        let payload =
            serde_json::to_vec(claims).map_err(|e| VerdictError::Malformed(e.to_string()))?;
        let mut token = String::with_capacity(
            (header.len() + payload.len() + ed25519_dalek::SIGNATURE_LENGTH) * 4 / 3 + 8,
        );
        URL_SAFE_NO_PAD.encode_string(&header, &mut token);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(&payload, &mut token);
        let signature = self.key.sign(token.as_bytes());
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(signature.to_bytes(), &mut token);
        Ok(token)
    }
}

/// The header a verdict is signed with, in this field order.
#[derive(Serialize)]
struct SignedHeader<'a> {
    typ: &'a str,
    alg: &'a str,
    kid: &'a str,
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
#[serde(deny_unknown_fields)]
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

impl Jwks {
    /// The JWK Set of these public keys.
    pub fn from_keys(keys: &[VerdictPublicKey]) -> Self {
        Self {
            keys: keys.iter().map(VerdictPublicKey::to_jwk).collect(),
        }
    }
    /// Every key of the set, each checked as [`VerdictPublicKey::from_jwk`] does.
    pub fn public_keys(&self) -> Result<Vec<VerdictPublicKey>, VerdictError> {
        self.keys.iter().map(VerdictPublicKey::from_jwk).collect()
    }
}

impl VerdictPublicKey {
    /// As a JWK.
    pub fn to_jwk(&self) -> Jwk {
        Jwk {
            kty: "OKP".to_owned(),
            crv: "Ed25519".to_owned(),
            kid: self.kid.clone(),
            x: URL_SAFE_NO_PAD.encode(self.x),
            alg: VERDICT_ALG.to_owned(),
            use_: "sig".to_owned(),
        }
    }
    /// From a JWK; refuses anything but OKP/Ed25519 with a 32-byte `x`.
    pub fn from_jwk(jwk: &Jwk) -> Result<Self, VerdictError> {
        let bad = |why: &str| VerdictError::InvalidKey(why.to_owned());
        if jwk.kty != "OKP" {
            return Err(bad("kty must be OKP"));
        }
        if jwk.crv != "Ed25519" {
            return Err(bad("crv must be Ed25519"));
        }
        if jwk.alg != VERDICT_ALG {
            return Err(bad("alg must be EdDSA"));
        }
        if jwk.use_ != "sig" {
            return Err(bad("use must be sig"));
        }
        if jwk.kid.is_empty() {
            return Err(bad("kid is empty"));
        }
        let x: [u8; 32] = URL_SAFE_NO_PAD
            .decode(jwk.x.as_bytes())
            .ok()
            .and_then(|x| x.try_into().ok())
            .ok_or_else(|| bad("x must be 32 bytes of base64url without padding"))?;
        let point = ed25519_dalek::VerifyingKey::from_bytes(&x)
            .map_err(|_| bad("x is not an Ed25519 point"))?;
        if point.is_weak() {
            return Err(bad("x is a weak (small-order) Ed25519 point"));
        }
        Ok(Self {
            kid: jwk.kid.clone(),
            x,
        })
    }
}

/// The JOSE header fields a verdict verifier looks at.
#[derive(Deserialize)]
struct VerdictHeader {
    alg: Option<serde_json::Value>,
    typ: Option<String>,
    kid: Option<String>,
    crit: Option<serde_json::Value>,
}

/// A trusted key and its Ed25519 point, decompressed once when the verifier is built.
#[derive(Debug, Clone)]
struct TrustedKey {
    public: VerdictPublicKey,
    /// `None` when `x` is not a valid point: every token under its kid is refused.
    point: Option<ed25519_dalek::VerifyingKey>,
}

/// Strict verdict checking: only `EdDSA`, only known `kid`s, `typ` checked, `exp`/`iat` with skew.
#[derive(Debug, Clone)]
pub struct VerdictVerifier {
    keys: Vec<VerdictPublicKey>,
    trusted: Vec<TrustedKey>,
    skew_secs: i64,
}

impl VerdictVerifier {
    /// Default allowed clock skew, in seconds.
    pub const DEFAULT_SKEW_SECS: i64 = 60;

    /// A verifier trusting `keys`, with the default skew.
    pub fn new(keys: Vec<VerdictPublicKey>) -> Self {
        let trusted = keys
            .iter()
            .map(|k| TrustedKey {
                public: k.clone(),
                point: ed25519_dalek::VerifyingKey::from_bytes(&k.x).ok(),
            })
            .collect();
        Self {
            keys,
            trusted,
            skew_secs: Self::DEFAULT_SKEW_SECS,
        }
    }
    /// Change the allowed clock skew.
    pub fn with_skew(mut self, skew_secs: i64) -> Self {
        self.skew_secs = skew_secs;
        self
    }
    /// The trusted keys.
    pub fn keys(&self) -> &[VerdictPublicKey] {
        &self.keys
    }

    /// The one header check: `alg` is `EdDSA`, `typ` is `payseal-verdict+jwt`, `kid` names a
    /// trusted key, no `crit`. Returns the key to verify with.
    fn trusted_key(&self, header_b64: &str, typ: &str) -> Result<&TrustedKey, VerdictError> {
        let malformed = |why: &str| VerdictError::Malformed(why.to_owned());
        let header_json = URL_SAFE_NO_PAD
            .decode(header_b64.as_bytes())
            .map_err(|_| malformed("header is not base64url"))?;
        let header: VerdictHeader = serde_json::from_slice(&header_json)
            .map_err(|_| malformed("header is not a JOSE header"))?;
        match &header.alg {
            Some(serde_json::Value::String(alg)) if alg == VERDICT_ALG => {}
            Some(serde_json::Value::String(alg)) => {
                return Err(VerdictError::Algorithm(alg.clone()))
            }
            Some(other) => return Err(VerdictError::Algorithm(other.to_string())),
            None => return Err(VerdictError::Algorithm(String::new())),
        }
        if header.typ.as_deref() != Some(typ) {
            return Err(VerdictError::Type);
        }
        let Some(key) = header
            .kid
            .as_deref()
            .and_then(|kid| self.trusted.iter().find(|k| k.public.kid == kid))
        else {
            return Err(VerdictError::UnknownKey(header.kid));
        };
        if header.crit.is_some() {
            return Err(malformed("critical header extensions are not supported"));
        }
        Ok(key)
    }

    /// Verify a token at `now` (Unix seconds) and return its claims.
    ///
    /// Order: header decodes → `alg` is `EdDSA` → `typ` matches → `kid` is trusted → signature
    /// verifies (Ed25519 `verify_strict`: no small-order keys or non-canonical signatures) →
    /// claims parse strictly → `exp` not passed and `iat` not in the future, both with the
    /// allowed skew against `now` (never the machine's clock).
    pub fn verify(&self, token: &str, now: i64) -> Result<VerdictClaims, VerdictError> {
        self.verify_typed(token, VERDICT_TYP, now, |c: &VerdictClaims| (c.iat, c.exp))
    }

    /// [`VerdictVerifier::verify`] for any signed document of type `typ` whose `(iat, exp)`
    /// `times` reads (the one checking path of verdicts and [`crate::entitlements`]).
    pub(crate) fn verify_typed<C: serde::de::DeserializeOwned>(
        &self,
        token: &str,
        typ: &str,
        now: i64,
        times: impl Fn(&C) -> (i64, i64),
    ) -> Result<C, VerdictError> {
        let malformed = |why: &str| VerdictError::Malformed(why.to_owned());
        let mut parts = token.split('.');
        let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(malformed("not a compact JWS of three parts"));
        };
        let key = self.trusted_key(header_b64, typ)?;

        // A signature that is not 64 bytes of base64url cannot verify.
        let signature: [u8; ed25519_dalek::SIGNATURE_LENGTH] = URL_SAFE_NO_PAD
            .decode(signature_b64.as_bytes())
            .ok()
            .and_then(|sig| sig.try_into().ok())
            .ok_or(VerdictError::Signature)?;
        let point = key.point.as_ref().ok_or_else(|| {
            VerdictError::InvalidKey(format!("kid {:?} is not an Ed25519 point", key.public.kid))
        })?;
        // The signed message is exactly `header.payload` as it appears in the token.
        let message = &token.as_bytes()[..header_b64.len() + 1 + payload_b64.len()];
        point
            .verify_strict(message, &ed25519_dalek::Signature::from_bytes(&signature))
            .map_err(|_| VerdictError::Signature)?;

        let payload = URL_SAFE_NO_PAD
            .decode(payload_b64.as_bytes())
            .map_err(|_| malformed("payload is not base64url"))?;
        let claims: C =
            serde_json::from_slice(&payload).map_err(|e| VerdictError::Malformed(e.to_string()))?;
        let (iat, exp) = times(&claims);
        if now > exp.saturating_add(self.skew_secs) {
            return Err(VerdictError::Expired);
        }
        if iat > now.saturating_add(self.skew_secs) {
            return Err(VerdictError::NotYetValid);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000;

    fn claims() -> VerdictClaims {
        VerdictClaims {
            iss: "https://verify.example.com".into(),
            iat: NOW,
            exp: NOW + 300,
            jti: "0f1e2d3c".into(),
            nonce: "bm9uY2Vub25jZW5vbmNl".into(),
            app: "dev.payseal.demo".into(),
            sub: "account-1".into(),
            store: Store::GooglePlay,
            environment: Some(Environment::Production),
            product_id: Some("coins_100".into()),
            transaction_id: Some("GPA.1234".into()),
            original_transaction_id: None,
            quantity: Some(1),
            purchased_at: Some(1_699_999_000_000),
            kind: None,
            expires_at: None,
            receipt_sha256: "ab".repeat(32),
            outcome: Outcome::Paid,
            reason: None,
            redemption: Some(Redemption::First),
            subscription_state: None,
            store_checked: None,
            refund_history: None,
        }
    }

    fn key() -> VerdictSigningKey {
        VerdictSigningKey::from_seed("v1", [7; 32])
    }

    fn verifier() -> VerdictVerifier {
        VerdictVerifier::new(vec![key().public_key()])
    }

    fn b64(bytes: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// A token with the given header JSON, the test claims, signed by the test key.
    fn token_with_header(header: &str) -> String {
        use ed25519_dalek::Signer;
        let payload = serde_json::to_vec(&claims()).unwrap();
        let message = format!("{}.{}", b64(header.as_bytes()), b64(&payload));
        let sig = key().key.sign(message.as_bytes());
        format!("{message}.{}", b64(&sig.to_bytes()))
    }

    /// Re-sign arbitrary payload bytes under the normal header.
    fn token_with_payload(payload: &[u8]) -> String {
        use ed25519_dalek::Signer;
        let header = r#"{"typ":"payseal-verdict+jwt","alg":"EdDSA","kid":"v1"}"#;
        let message = format!("{}.{}", b64(header.as_bytes()), b64(payload));
        let sig = key().key.sign(message.as_bytes());
        format!("{message}.{}", b64(&sig.to_bytes()))
    }

    #[test]
    fn sign_then_verify() {
        let token = key().sign(&claims()).unwrap();
        assert_eq!(verifier().verify(&token, NOW).unwrap(), claims());
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.alg, jsonwebtoken::Algorithm::EdDSA);
        assert_eq!(header.typ.as_deref(), Some(VERDICT_TYP));
        assert_eq!(header.kid.as_deref(), Some("v1"));
    }

    #[test]
    fn not_paid_verdicts_round_trip() {
        let mut c = claims();
        c.outcome = Outcome::NotPaid;
        c.reason = Some(Reason::AlreadyRedeemed);
        c.redemption = None;
        let token = key().sign(&c).unwrap();
        let back = verifier().verify(&token, NOW).unwrap();
        assert_eq!(back.reason, Some(Reason::AlreadyRedeemed));
        assert_eq!(back, c);
    }

    #[test]
    fn reasons_are_snake_case_on_the_wire_and_unique() {
        let mut seen = std::collections::HashSet::new();
        for r in Reason::ALL {
            assert_eq!(serde_json::to_value(r).unwrap(), r.as_str());
            assert_eq!(r.to_string(), r.as_str());
            assert!(seen.insert(r.as_str()), "{r} twice");
        }
        let v2: Vec<_> = Reason::ALL
            .into_iter()
            .filter(|r| r.since_protocol() == 2)
            .map(Reason::as_str)
            .collect();
        assert_eq!(v2, ["on_hold", "paused", "refund_limit"]);
    }

    #[test]
    fn signing_is_deterministic() {
        assert_eq!(
            key().sign(&claims()).unwrap(),
            key().sign(&claims()).unwrap()
        );
        let other = VerdictSigningKey::generate("v1");
        assert_ne!(other.seed(), key().seed());
        assert_ne!(
            other.sign(&claims()).unwrap(),
            key().sign(&claims()).unwrap()
        );
    }

    #[test]
    fn hand_built_token_matches_sign() {
        let header = r#"{"typ":"payseal-verdict+jwt","alg":"EdDSA","kid":"v1"}"#;
        assert_eq!(token_with_header(header), key().sign(&claims()).unwrap());
    }

    #[test]
    fn wrong_alg_is_refused() {
        let t = token_with_header(r#"{"typ":"payseal-verdict+jwt","alg":"HS256","kid":"v1"}"#);
        assert_eq!(
            verifier().verify(&t, NOW),
            Err(VerdictError::Algorithm("HS256".into()))
        );
        let t = token_with_header(r#"{"typ":"payseal-verdict+jwt","alg":"none","kid":"v1"}"#);
        assert_eq!(
            verifier().verify(&t, NOW),
            Err(VerdictError::Algorithm("none".into()))
        );
        let t = token_with_header(r#"{"typ":"payseal-verdict+jwt","kid":"v1"}"#);
        assert_eq!(
            verifier().verify(&t, NOW),
            Err(VerdictError::Algorithm(String::new()))
        );
        let t = token_with_header(r#"{"typ":"payseal-verdict+jwt","alg":7,"kid":"v1"}"#);
        assert_eq!(
            verifier().verify(&t, NOW),
            Err(VerdictError::Algorithm("7".into()))
        );
    }

    #[test]
    fn alg_none_with_empty_signature_is_refused() {
        let header = r#"{"typ":"payseal-verdict+jwt","alg":"none","kid":"v1"}"#;
        let payload = serde_json::to_vec(&claims()).unwrap();
        let t = format!("{}.{}.", b64(header.as_bytes()), b64(&payload));
        assert_eq!(
            verifier().verify(&t, NOW),
            Err(VerdictError::Algorithm("none".into()))
        );
    }

    #[test]
    fn wrong_or_missing_typ_is_refused() {
        let t = token_with_header(r#"{"typ":"JWT","alg":"EdDSA","kid":"v1"}"#);
        assert_eq!(verifier().verify(&t, NOW), Err(VerdictError::Type));
        let t = token_with_header(r#"{"alg":"EdDSA","kid":"v1"}"#);
        assert_eq!(verifier().verify(&t, NOW), Err(VerdictError::Type));
    }

    #[test]
    fn unknown_or_missing_kid_is_refused() {
        let t = token_with_header(r#"{"typ":"payseal-verdict+jwt","alg":"EdDSA","kid":"v2"}"#);
        assert_eq!(
            verifier().verify(&t, NOW),
            Err(VerdictError::UnknownKey(Some("v2".into())))
        );
        let t = token_with_header(r#"{"typ":"payseal-verdict+jwt","alg":"EdDSA"}"#);
        assert_eq!(
            verifier().verify(&t, NOW),
            Err(VerdictError::UnknownKey(None))
        );
    }

    #[test]
    fn key_of_another_signer_under_a_trusted_kid_is_refused() {
        let attacker = VerdictSigningKey::from_seed("v1", [8; 32]);
        let t = attacker.sign(&claims()).unwrap();
        assert_eq!(verifier().verify(&t, NOW), Err(VerdictError::Signature));
    }

    #[test]
    fn small_order_key_and_signature_are_refused_strictly() {
        // Under the identity point, R = identity and s = 0 satisfy the plain Ed25519 equation
        // for every message; `verify_strict` refuses it.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let weak = VerdictVerifier::new(vec![VerdictPublicKey {
            kid: "v1".into(),
            x: identity,
        }]);
        let header = r#"{"typ":"payseal-verdict+jwt","alg":"EdDSA","kid":"v1"}"#;
        let payload = serde_json::to_vec(&claims()).unwrap();
        let mut sig = [0u8; 64];
        sig[..32].copy_from_slice(&identity);
        let t = format!("{}.{}.{}", b64(header.as_bytes()), b64(&payload), b64(&sig));
        let point = ed25519_dalek::VerifyingKey::from_bytes(&identity).unwrap();
        let message = t.rsplit_once('.').unwrap().0;
        let signature = ed25519_dalek::Signature::from_bytes(&sig);
        assert!(
            ed25519_dalek::Verifier::verify(&point, message.as_bytes(), &signature).is_ok(),
            "the non-strict check accepts the forgery"
        );
        assert_eq!(weak.verify(&t, NOW), Err(VerdictError::Signature));
    }

    #[test]
    fn a_trusted_key_that_is_not_a_point_refuses_its_tokens() {
        let token = key().sign(&claims()).unwrap();
        // y = 2 has no x on the curve: not a valid compressed point.
        let mut not_a_point = [0u8; 32];
        not_a_point[0] = 2;
        assert!(ed25519_dalek::VerifyingKey::from_bytes(&not_a_point).is_err());
        let v = VerdictVerifier::new(vec![VerdictPublicKey {
            kid: "v1".into(),
            x: not_a_point,
        }]);
        assert!(matches!(
            v.verify(&token, NOW),
            Err(VerdictError::InvalidKey(_))
        ));
    }

    #[test]
    fn crit_header_is_refused() {
        let t = token_with_header(
            r#"{"typ":"payseal-verdict+jwt","alg":"EdDSA","kid":"v1","crit":["exp"]}"#,
        );
        assert!(matches!(
            verifier().verify(&t, NOW),
            Err(VerdictError::Malformed(_))
        ));
    }

    #[test]
    fn tampered_payload_is_refused() {
        let token = key().sign(&claims()).unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        let mut c = claims();
        c.outcome = Outcome::NotPaid;
        c.sub = "attacker".into();
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            b64(&serde_json::to_vec(&c).unwrap()),
            parts[2]
        );
        assert_eq!(
            verifier().verify(&forged, NOW),
            Err(VerdictError::Signature)
        );
    }

    #[test]
    fn every_changed_character_is_refused() {
        let token = key().sign(&claims()).unwrap();
        let v = verifier();
        let bytes = token.as_bytes();
        for i in 0..bytes.len() {
            if bytes[i] == b'.' {
                continue;
            }
            let mut bad = bytes.to_vec();
            bad[i] = if bad[i] == b'A' { b'B' } else { b'A' };
            let bad = String::from_utf8(bad).unwrap();
            assert!(v.verify(&bad, NOW).is_err(), "position {i}");
        }
    }

    #[test]
    fn bad_signature_encodings_are_refused() {
        let token = key().sign(&claims()).unwrap();
        let (message, _) = token.rsplit_once('.').unwrap();
        for sig in ["", "!!!!", "AAAA", &b64(&[0u8; 64])] {
            let t = format!("{message}.{sig}");
            assert_eq!(
                verifier().verify(&t, NOW),
                Err(VerdictError::Signature),
                "{sig}"
            );
        }
    }

    #[test]
    fn malformed_tokens_are_refused() {
        let token = key().sign(&claims()).unwrap();
        for t in [
            "",
            "a",
            "a.b",
            "a.b.c.d",
            &format!("{token}.x"),
            "!!.e30.AA",
        ] {
            assert!(
                matches!(verifier().verify(t, NOW), Err(VerdictError::Malformed(_))),
                "{t}"
            );
        }
    }

    #[test]
    fn signed_but_unknown_or_missing_claims_are_malformed() {
        let mut value = serde_json::to_value(claims()).unwrap();
        value["extra"] = serde_json::json!(1);
        let t = token_with_payload(&serde_json::to_vec(&value).unwrap());
        assert!(matches!(
            verifier().verify(&t, NOW),
            Err(VerdictError::Malformed(_))
        ));
        let mut value = serde_json::to_value(claims()).unwrap();
        value.as_object_mut().unwrap().remove("exp");
        let t = token_with_payload(&serde_json::to_vec(&value).unwrap());
        assert!(matches!(
            verifier().verify(&t, NOW),
            Err(VerdictError::Malformed(_))
        ));
        let t = token_with_payload(b"not json");
        assert!(matches!(
            verifier().verify(&t, NOW),
            Err(VerdictError::Malformed(_))
        ));
    }

    #[test]
    fn expiry_honours_the_skew_and_the_given_clock() {
        let token = key().sign(&claims()).unwrap();
        let exp = claims().exp;
        let v = verifier();
        assert!(v.verify(&token, exp).is_ok());
        assert!(v.verify(&token, exp + 60).is_ok());
        assert_eq!(v.verify(&token, exp + 61), Err(VerdictError::Expired));
        let strict = verifier().with_skew(0);
        assert_eq!(strict.verify(&token, exp + 1), Err(VerdictError::Expired));
        // No machine clock is used: this token expired in 2023, yet verifies at the `now`
        // given above.
    }

    #[test]
    fn future_iat_is_refused_beyond_the_skew() {
        let token = key().sign(&claims()).unwrap();
        let v = verifier();
        assert!(v.verify(&token, NOW - 60).is_ok());
        assert_eq!(v.verify(&token, NOW - 61), Err(VerdictError::NotYetValid));
    }

    #[test]
    fn extreme_times_do_not_overflow() {
        let mut c = claims();
        c.exp = i64::MAX;
        c.iat = i64::MIN;
        let t = key().sign(&c).unwrap();
        assert!(verifier().verify(&t, i64::MAX).is_ok());
        assert!(verifier().with_skew(i64::MAX).verify(&t, 0).is_ok());
    }

    #[test]
    fn rotation_accepts_each_trusted_kid() {
        let old = key();
        let new = VerdictSigningKey::from_seed("v2", [9; 32]);
        let v = VerdictVerifier::new(vec![old.public_key(), new.public_key()]);
        assert!(v.verify(&old.sign(&claims()).unwrap(), NOW).is_ok());
        assert!(v.verify(&new.sign(&claims()).unwrap(), NOW).is_ok());
        assert_eq!(v.keys().len(), 2);
    }

    #[test]
    fn jwk_round_trip_and_rfc_8037_form() {
        let public = key().public_key();
        let jwk = public.to_jwk();
        let json = serde_json::to_value(&jwk).unwrap();
        assert_eq!(json["kty"], "OKP");
        assert_eq!(json["crv"], "Ed25519");
        assert_eq!(json["use"], "sig");
        assert_eq!(json["alg"], "EdDSA");
        assert_eq!(json["x"].as_str().unwrap().len(), 43);
        assert_eq!(VerdictPublicKey::from_jwk(&jwk).unwrap(), public);
        let jwks = Jwks::from_keys(std::slice::from_ref(&public));
        assert_eq!(jwks.public_keys().unwrap(), vec![public]);
    }

    #[test]
    fn jwk_refusals() {
        let good = key().public_key().to_jwk();
        let refused = |f: &dyn Fn(&mut Jwk)| {
            let mut j = good.clone();
            f(&mut j);
            matches!(
                VerdictPublicKey::from_jwk(&j),
                Err(VerdictError::InvalidKey(_))
            )
        };
        assert!(refused(&|j| j.kty = "EC".into()));
        assert!(refused(&|j| j.crv = "X25519".into()));
        assert!(refused(&|j| j.alg = "ES256".into()));
        assert!(refused(&|j| j.use_ = "enc".into()));
        assert!(refused(&|j| j.kid = String::new()));
        assert!(refused(&|j| j.x = b64(&[1; 31])));
        assert!(refused(&|j| j.x = format!("{}=", j.x)));
        assert!(refused(&|j| j.x = format!("+{}", &j.x[1..])));
        // The identity point is small-order (weak).
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert!(refused(&|j| j.x = b64(&identity)));
        assert!(serde_json::from_str::<Jwk>(
            r#"{"kty":"OKP","crv":"Ed25519","kid":"a","x":"x","alg":"EdDSA","use":"sig","d":"secret"}"#
        )
        .is_err());
    }

    #[test]
    fn debug_hides_the_signing_key() {
        let k = key();
        let dbg = format!("{k:?}");
        assert!(dbg.contains("v1"));
        assert!(!dbg.contains("7, 7"), "{dbg}");
        assert!(!dbg.contains(&hex::encode(k.seed())));
    }
}
