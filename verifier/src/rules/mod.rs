//! Store rules (the "predefined rule" of each store): pure functions of
//! (receipt, app rules, trust anchors, now) → purchase or rejection. No I/O.
//!
//! Every rule runs in the same order:
//! 1. the app must have rules for the receipt's store (`unknown_app`; for the sandbox store,
//!    `untrusted_environment`: only apps marked sandbox accept it);
//! 2. the signature is verified over the exact bytes the store signed, before anything in them
//!    is read (`bad_signature`; App Store: the chain, `untrusted_chain`);
//! 3. only then is the signed content parsed (`malformed` if it does not parse);
//! 4. app binding (`wrong_app`), state (`not_purchased` / `revoked`), environment
//!    (`untrusted_environment`: not in the app's `environments`).
//!
//! Unparseable *signatures* (bad Base64, wrong length) are `bad_signature`: they are refused
//! signatures, not refused purchases. An App Store JWS that is not three Base64url parts with a
//! JSON header is `malformed`; an `alg` other than `ES256` is `bad_signature`; an `x5c` that is
//! missing, too short, unparseable or in the wrong order is `untrusted_chain`.
//! [`Rejection::partial`] is filled only from data whose signature (and chain) verified.

pub mod app_store;
pub mod google_play;
pub mod huawei;
pub mod sandbox;

use payseal_protocol::{Environment, Reason, Receipt, Store};

pub use app_store::AppStoreRule;
pub use google_play::GooglePlayRule;
pub use huawei::HuaweiRule;
pub use sandbox::SandboxRule;

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
    match receipt.store() {
        Store::GooglePlay => GooglePlayRule.check(receipt, app, anchors, now_ms),
        Store::AppStore => AppStoreRule.check(receipt, app, anchors, now_ms),
        Store::Huawei => HuaweiRule.check(receipt, app, anchors, now_ms),
        Store::Sandbox => SandboxRule.check(receipt, app, anchors, now_ms),
        // `Store` is non-exhaustive: a store this verifier has no rule for.
        other => Err(Rejection::new(
            Reason::Malformed,
            format!("no store rule for {other} receipts"),
        )),
    }
}

impl Rejection {
    /// A rejection with nothing read from the receipt.
    pub fn new(reason: Reason, detail: impl Into<String>) -> Rejection {
        Rejection {
            reason,
            detail: detail.into(),
            partial: PartialPurchase::default(),
        }
    }

    /// A rejection carrying fields read from signature-verified data.
    pub fn with_partial(
        reason: Reason,
        detail: impl Into<String>,
        partial: PartialPurchase,
    ) -> Rejection {
        Rejection {
            reason,
            detail: detail.into(),
            partial,
        }
    }
}

/// The receipt named another store than the rule it was given to (a caller bug, not an attack).
fn wrong_rule(rule: Store, receipt: &Receipt) -> Rejection {
    Rejection::new(
        Reason::Malformed,
        format!("a {} receipt was given to the {rule} rule", receipt.store()),
    )
}

/// The app has no rules for `store`.
fn no_store_rules(app: &AppRules, store: Store) -> Rejection {
    Rejection::new(
        Reason::UnknownApp,
        format!(
            "app {} has no {store} settings on this verifier",
            app.app_id
        ),
    )
}

/// Refuse a purchase whose environment the app does not accept.
fn check_environment(
    app: &AppRules,
    environment: Environment,
    partial: &PartialPurchase,
) -> Result<(), Rejection> {
    if app.environments.contains(&environment) {
        Ok(())
    } else {
        Err(Rejection::with_partial(
            Reason::UntrustedEnvironment,
            format!(
                "{} purchase, but app {} accepts only {}",
                environment.as_str(),
                app.app_id,
                app.environments
                    .iter()
                    .map(|e| e.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            partial.clone(),
        ))
    }
}

/// Decode a standard-Base64 store signature (`bad_signature` when it is not Base64).
fn decode_signature(signature: &str) -> Result<Vec<u8>, Rejection> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(signature.trim())
        .map_err(|_| Rejection::new(Reason::BadSignature, "signature is not Base64"))
}

/// Refuse a quantity of zero; absent means one.
fn quantity(q: Option<u32>, partial: &PartialPurchase) -> Result<u32, Rejection> {
    match q.unwrap_or(1) {
        0 => Err(Rejection::with_partial(
            Reason::Malformed,
            "quantity is 0",
            partial.clone(),
        )),
        n => Ok(n),
    }
}

#[cfg(test)]
mod robustness;
#[cfg(test)]
pub(crate) mod test_support;

/// RSA signature check with `ring` (several times faster than the `rsa` crate for public-key
/// operations): `params` names the padding and hash, e.g. PKCS#1 v1.5 SHA-1 for Google Play.
/// Keys under 2048 bits are refused by `ring`, as the stores issue 2048-bit keys or larger.
pub(crate) fn rsa_signature_verifies(
    key: &rsa::RsaPublicKey,
    params: &'static ring::signature::RsaParameters,
    data: &[u8],
    signature: &[u8],
) -> bool {
    use rsa::traits::PublicKeyParts;
    let (n, e) = (key.n().to_bytes_be(), key.e().to_bytes_be());
    ring::signature::RsaPublicKeyComponents { n: &n, e: &e }
        .verify(params, data, signature)
        .is_ok()
}
