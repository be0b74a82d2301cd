//! Store rules (the "predefined rule" of each store): pure functions of
//! (receipt, app rules, trust anchors, now) → purchase or rejection. No I/O.
//!
//! STUB: types fixed by the lead; each store's rule lives in its own module.

use payseal_protocol::{Environment, Reason, Receipt, Store};

/// What the verifier knows about one app: its store keys and allowed environments.
#[derive(Debug, Clone)]
pub struct AppRules {
    /// The app id the SDK sends (`app_id`).
    pub app_id: String,
    /// Environments this app accepts (a production-only app refuses sandbox purchases).
    pub environments: Vec<Environment>,
    /// Google Play settings, if the app sells through Play.
    pub google_play: Option<GooglePlayRules>,
    /// App Store settings, if the app sells through the App Store.
    pub app_store: Option<AppStoreRules>,
    /// Huawei AppGallery settings, if the app sells through AppGallery.
    pub huawei: Option<HuaweiRules>,
    /// Sandbox store settings: only apps marked sandbox accept sandbox-store receipts.
    pub sandbox: Option<SandboxRules>,
}

/// Google Play: the package name and the app's licensing public key.
#[derive(Debug, Clone)]
pub struct GooglePlayRules {
    /// `packageName` the purchase must carry.
    pub package_name: String,
    /// The RSA public key from the Play Console (Base64 X.509 SubjectPublicKeyInfo, decoded).
    pub public_key: rsa::RsaPublicKey,
}

/// App Store: the bundle id (the chain's root comes from [`TrustAnchors`]).
#[derive(Debug, Clone)]
pub struct AppStoreRules {
    /// `bundleId` the transaction must carry.
    pub bundle_id: String,
}

/// Huawei AppGallery: the package name and the app's IAP public key.
#[derive(Debug, Clone)]
pub struct HuaweiRules {
    /// `packageName` the purchase must carry.
    pub package_name: String,
    /// The RSA public key from AppGallery Connect (Base64 X.509 SubjectPublicKeyInfo, decoded).
    pub public_key: rsa::RsaPublicKey,
}

/// Sandbox store: the sandbox store's Ed25519 public key.
#[derive(Debug, Clone)]
pub struct SandboxRules {
    /// The key the sandbox store signs purchases with.
    pub public_key: ed25519_dalek::VerifyingKey,
}

/// Roots the verifier trusts for chained store signatures.
#[derive(Debug, Clone, Default)]
pub struct TrustAnchors {
    /// DER certificates of the App Store roots (Apple Root CA - G3 in production), fingerprint-checked at load.
    pub apple_roots: Vec<Vec<u8>>,
}

/// A verified purchase, extracted from a receipt that passed its store's rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Purchase {
    /// The store.
    pub store: Store,
    /// Production or sandbox.
    pub environment: Environment,
    /// Product id.
    pub product_id: String,
    /// The ledger key: Play `orderId` (or `purchaseToken`), App Store `transactionId`, Huawei `orderId`, ...
    pub transaction_key: String,
    /// The store's transaction id as the verdict reports it.
    pub transaction_id: String,
    /// The original transaction id, when the store has one.
    pub original_transaction_id: Option<String>,
    /// Quantity.
    pub quantity: u32,
    /// Purchase time, Unix milliseconds.
    pub purchased_at: i64,
}

/// Whatever could be read from a refused receipt, to fill the `not_paid` verdict.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartialPurchase {
    /// Environment, if read.
    pub environment: Option<Environment>,
    /// Product id, if read.
    pub product_id: Option<String>,
    /// Transaction id, if read.
    pub transaction_id: Option<String>,
}

/// A refused receipt: the verdict reason, a human detail for operators (`check` CLI), and what was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// The reason that goes into the verdict.
    pub reason: Reason,
    /// Operator-facing explanation (never key material; no more receipt content than ids).
    pub detail: String,
    /// Fields read before the rule refused it (only from signature-verified data).
    pub partial: PartialPurchase,
}

/// One store's rule: parse → verify signature → check app binding and state → extract the purchase.
pub trait StoreRule {
    /// Check `receipt` for `app` at `now_ms` (Unix milliseconds).
    fn check(
        &self,
        receipt: &Receipt,
        app: &AppRules,
        anchors: &TrustAnchors,
        now_ms: i64,
    ) -> Result<Purchase, Rejection>;
}

/// Check a receipt with the rule of the store it names.
pub fn check_receipt(
    receipt: &Receipt,
    app: &AppRules,
    anchors: &TrustAnchors,
    now_ms: i64,
) -> Result<Purchase, Rejection> {
    let _ = (receipt, app, anchors, now_ms);
    todo!("dispatch to google_play / app_store / huawei / sandbox rules")
}
